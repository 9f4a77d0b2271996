/* The names a definition is written in (roles, names) and who may take a
 * transition (`roles` and `by`): validation at publish and the checks the
 * request service asks for (definition.h), on a transition's JSON or its
 * compiled form (compiled.h). What a request type tells the people who open
 * one (`description`, `fields`) is fields.c. definition.c and compiled.c
 * call this file; it calls no other file of flow/. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/actor.h"
#include "flow/compiled.h"
#include "flow/definition.h"

/* ---- names ---- */

int sf_flow_is_role(const char *r) { return sf_role_index(r, strlen(r)) >= 0; }

int sf_flow_is_name(const char *s, size_t max, const char *extra) {
  size_t n = strlen(s);
  if (n == 0 || n > max || !islower((unsigned char)s[0])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr(extra, s[i])) return 0;
  return 1;
}

long long sf_flow_duration_s(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v <= 0 || end[0] == '\0' || end[1] != '\0') return -1;
  long long mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
  if (!mult || v > 366LL * 86400 / mult) return -1;
  return v * mult;
}

/* ---- by: [requester, assignee, role:<role>] ---- */

static int by_entry_valid(const char *e) {
  if (strcmp(e, "requester") == 0 || strcmp(e, "assignee") == 0) return 1;
  return strncmp(e, "role:", 5) == 0 && sf_flow_is_role(e + 5);
}

void sf_flow_check_by(const json_t *by, const char *where, sf_err *err) {
  if (!by) return;
  if (!json_is_array(by) || json_array_size(by) == 0) {
    sf_err_field_add(err, where, "must be a list of requester, assignee or role:<role>");
    return;
  }
  size_t i;
  const json_t *e;
  json_array_foreach(by, i, e) {
    char f[160];
    snprintf(f, sizeof f, "%s[%zu]", where, i);
    if (!json_is_string(e) || !by_entry_valid(json_string_value(e)))
      sf_err_field_add(err, f, "unknown relation %s%s%s: requester, assignee, or role:<customer|staff|approver|admin>",
                       json_is_string(e) ? "'" : "", json_is_string(e) ? json_string_value(e) : "(not text)",
                       json_is_string(e) ? "'" : "");
  }
}

unsigned sf_flow_role_bit(const char *role) {
  int i = role ? sf_role_index(role, strlen(role)) : -1;
  return i < 0 ? 0 : 1u << i;
}

void sf_flow_transition_who(const json_t *tr, sf_flow_transition *x) {
  size_t i;
  const json_t *e;
  const json_t *roles = json_object_get(tr, "roles");
  x->roles_given = roles != NULL;
  json_array_foreach(roles, i, e) x->roles |= sf_flow_role_bit(json_string_value(e));
  const json_t *by = json_object_get(tr, "by");
  x->by_given = by != NULL;
  json_array_foreach(by, i, e) {
    const char *s = json_string_value(e);
    if (!s) continue;
    if (strcmp(s, "requester") == 0) x->by_requester = 1;
    if (strcmp(s, "assignee") == 0) x->by_assignee = 1;
    if (strncmp(s, "role:", 5) == 0) x->by_roles |= sf_flow_role_bit(s + 5);
  }
}

sf_flow_may sf_flow_transition_may(const sf_flow_transition *tr, const sf_flow_actor *who) {
  unsigned role = sf_flow_role_bit(who->role);
  if (tr->roles_given && !(tr->roles & role)) return SF_FLOW_NOT_ROLE;
  if (!tr->by_given)
    return who->requester || who->assignee || strcmp(who->role, "staff") == 0 || strcmp(who->role, "admin") == 0
               ? SF_FLOW_MAY
               : SF_FLOW_NOT_BY;
  if ((tr->by_requester && who->requester) || (tr->by_assignee && who->assignee) || (tr->by_roles & role))
    return SF_FLOW_MAY;
  return SF_FLOW_NOT_BY;
}

sf_flow_may sf_flow_may_take(const json_t *tr, const sf_flow_actor *who) {
  sf_flow_transition x = {0};
  sf_flow_transition_who(tr, &x);
  return sf_flow_transition_may(&x, who);
}
