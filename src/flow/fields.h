/* A request type's input fields: the `fields` of a workflow definition,
 * what a form is generated from and what the data of a new request is
 * checked against.
 *
 *   fields:                          # up to 50, each name once
 *     - name: amount                 # [a-z][a-z0-9_]{0,39}: data.amount
 *       type: number                 # string | text | integer | number | boolean
 *                                    #   | date | email | enum | object | list
 *       required: true               # absent, null (or "" for text kinds) is an error
 *       label: Amount                # up to 100 characters
 *       description: Total in EUR    # help text, up to 500 characters
 *       default: 0                   # used when not given; checked like a value
 *       min: 0                       # integer, number (numbers); date (dates)
 *       max: 1000000
 *       min_length: 10               # string, text: characters, 0 to 1,000,000
 *       max_length: 2000
 *       pattern: "[A-Z]{3}-[0-9]+"   # string, text: POSIX extended regex, whole value
 *       options: [hardware, software]  # enum: 1 to 100 distinct texts
 *   unknown_fields: reject           # accept (default): data keys not listed are kept
 *
 * Declarations are validated at publish (sf_flow_check_catalog, definition.h:
 * 422 naming fields[i].<key>), compiled with the workflow (compiled.h keeps
 * an array of sf_flow_field) and applied to a new request's data
 * (sf_flow_prepare_data, compiled.h). Pure functions of their arguments:
 * any thread. */
#ifndef SF_FLOW_FIELDS_H
#define SF_FLOW_FIELDS_H

#include <jansson.h>
#include <regex.h>

#include "core/err.h"

#define SF_FLOW_MAX_FIELDS 50

typedef enum {
  SF_FIELD_STRING,
  SF_FIELD_TEXT,
  SF_FIELD_INTEGER,
  SF_FIELD_NUMBER,
  SF_FIELD_BOOLEAN,
  SF_FIELD_DATE,
  SF_FIELD_EMAIL,
  SF_FIELD_ENUM,
  SF_FIELD_OBJECT,
  SF_FIELD_LIST,
} sf_flow_field_kind;

/* One compiled field. Strings and JSON values point into the definition the
 * field was compiled from (the caller keeps it alive); pattern is owned
 * (sf_flow_fields_free). */
typedef struct sf_flow_field {
  const char *name, *type;
  sf_flow_field_kind kind;
  int required;
  const json_t *min, *max;          /* numbers, or dates as text; NULL: no bound */
  long long min_length, max_length; /* characters; -1: no bound */
  regex_t *pattern;                 /* anchored to the whole value; NULL: none */
  const json_t *options;            /* enum: the allowed texts */
  const json_t *dflt;               /* the default; NULL: none */
} sf_flow_field;

/* A validated `fields` list into out (room for its size): 0, or 500 when it
 * does not compile (a stored definition that no longer validates); out is
 * then freed up to what was built and must not be used. */
int sf_flow_compile_fields(const json_t *list, sf_flow_field *out, sf_err *err);
/* Frees what the n compiled fields own (not the array). */
void sf_flow_fields_clear(sf_flow_field *fields, int n);

/* The data of a request against fields (no defaults applied, data is not
 * changed): 0, or 422 with one data.<name> entry per field that is missing
 * (required without a default) or whose value does not fit. Keys that are
 * not fields are not looked at. */
int sf_flow_check_fields(const sf_flow_field *fields, int n, const json_t *data, sf_err *err);

/* The data of a new request made ready: a field not given (absent, null, or
 * "" for string, text, date, email and enum) gets its default; with
 * reject_unknown every key that is not a field is an error ("data.<key>").
 * 0, or 422 with every problem at once (data may then hold defaults already:
 * the caller drops it). */
int sf_flow_fields_apply(const sf_flow_field *fields, int n, int reject_unknown, json_t *data, sf_err *err);

/* "YYYY-MM-DD", a real calendar date (years 0001-9999). */
int sf_flow_is_date(const char *s);
/* A plausible e-mail address: local@domain.tld, no spaces or brackets,
 * up to 254 characters (the local part up to 64). */
int sf_flow_is_email(const char *s);

#endif
