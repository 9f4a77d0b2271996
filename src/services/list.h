/* The services of the process, one line each, in the order they are
 * migrated, registered and started (and stopped in reverse, within their
 * phase: services/service.h). SF_SERVICE(x) names the descriptor
 * sf_x_service. A service listed later may use the tables and hooks of those
 * before it. Read by services/services.c only. */
SF_SERVICE(mail) /* first: it uses no other service's tables, identity and notifications queue mail */
SF_SERVICE(identity)
SF_SERVICE(catalog)
SF_SERVICE(inventory)
SF_SERVICE(carts)
SF_SERVICE(orders)
SF_SERVICE(workflows)
SF_SERVICE(requests)
SF_SERVICE(webhooks)
SF_SERVICE(notifications)
SF_SERVICE(audit) /* reads only: the event log and its verification for admins */
/* SF_SERVICE: add a service above this line */
