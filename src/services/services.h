/* The table of services (services/list.h holds the one line per service).
 * Walked by the process wiring (app.c); static and read-only. */
#ifndef SF_SERVICES_SERVICES_H
#define SF_SERVICES_SERVICES_H

#include <stddef.h>

#include "services/service.h"

extern const sf_service *const sf_services[];
extern const size_t sf_services_count;

#endif
