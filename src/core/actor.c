#include "core/actor.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const sf_actor sf_actor_system = {NULL, "", "", "", "", "", ""};

const char *const sf_roles[SF_NROLES] = {"customer", "approver", "staff", "admin"};

int sf_role_index(const char *role, size_t len) {
  for (int i = 0; role && i < SF_NROLES; i++)
    if (strlen(sf_roles[i]) == len && strncmp(sf_roles[i], role, len) == 0) return i;
  return -1;
}

void sf_result_json(sf_result *r, int status, json_t *body) {
  if (r->body) json_decref(r->body);
  r->status = status;
  r->body = body;
}

int sf_result_header(sf_result *r, const char *name, const char *value) {
  int i = 0;
  while (i < r->nheaders && strcasecmp(r->headers[i].name, name) != 0) i++;
  if (i == SF_RESULT_MAX_HEADERS) return -1;
  if (i == r->nheaders) r->nheaders++;
  r->headers[i].name = name;
  snprintf(r->headers[i].value, sizeof r->headers[i].value, "%s", value ? value : "");
  return 0;
}

void sf_result_clear(sf_result *r) {
  if (r->body) json_decref(r->body);
  memset(r, 0, sizeof *r);
}
