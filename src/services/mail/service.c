/* The mail service's descriptor (services/service.h): e-mail from
 * templates, sent over SMTP or kept in the dev mailbox (mail.h). It needs
 * no other service's tables: callers hand it the address and name. */
#include "services/service.h"

#include "services/mail/internal.h"

/* this folder's migrations.c */
extern const sf_db_step sf_mail_migrations[];

static const sf_edge_grant k_permissions[] = {
    {"mail:admin", "admin"},
    {0},
};

const sf_service sf_mail_service = {
    .name = "mail",
    .routes = mail_routes,
    .permissions = k_permissions,
    .migrations = sf_mail_migrations,
    .timers = mail_timers,
    .configure = mail_configure,
    .start = mail_start,
    .stop = mail_stop,
    .phase = SF_SERVICE_OUTBOUND,
};
