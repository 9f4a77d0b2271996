/* Until the mail service is merged: weak stand-ins for services/mail/mail.h
 * so this branch links (the mail service's definitions replace them). The
 * in-app text is the kind and the variables; no mail is queued. */
#include <stdio.h>
#include <stdlib.h>

#include "services/mail/mail.h"

__attribute__((weak)) int sf_mail_queue(sf_tx *tx, const sf_mail *m, sf_err *err) {
  (void)tx, (void)m, (void)err;
  return 0;
}

__attribute__((weak)) int sf_mail_render_text(const char *kind, const json_t *vars, char *subject, char **text,
                                              sf_err *err) {
  (void)err;
  snprintf(subject, SF_MAIL_SUBJECT_MAX, "%s", kind);
  *text = json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS);
  return 0;
}
