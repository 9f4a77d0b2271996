/* The table of services, expanded from services/list.h: its lines declare
 * each descriptor, then list it, so adding a service is one line there. */
#include "services/services.h"

#define SF_SERVICE(name) extern const sf_service sf_##name##_service;
#include "services/list.h"
#undef SF_SERVICE

const sf_service *const sf_services[] = {
#define SF_SERVICE(name) &sf_##name##_service,
#include "services/list.h"
#undef SF_SERVICE
};

const size_t sf_services_count = sizeof sf_services / sizeof sf_services[0];
