/* Internal to core/http.c and core/http_mhd_errors.c: MHD's own
 * MHD_queue_response, which http_mhd_errors.c interposes so that MHD's error
 * pages become problem+json; every answer of ours is queued through this. */
#ifndef SF_CORE_HTTP_MHD_H
#define SF_CORE_HTTP_MHD_H

#include <netinet/in.h> /* before microhttpd.h */
#include <microhttpd.h>

enum MHD_Result sf_http_mhd_queue(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r);

#endif
