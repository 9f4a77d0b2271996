/* Where each place of a definition is written (definition.h,
 * sf_flow_err_lines): a second pass of libyaml over the published text that
 * names every key and list item the way validation names places
 * ("transitions[2].to"), so an editor can show an error on its line.
 * Validation itself stays on the JSON tree, which has no positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "flow/definition.h"

#define LINES_DEPTH 64
#define PATH_MAX_LEN 160

typedef struct line_frame {
  int seq;      /* a sequence (else a mapping) */
  size_t index; /* sequence: the next item's index */
  int has_key;  /* mapping: a key was read, its value comes next */
  char path[PATH_MAX_LEN], child[PATH_MAX_LEN];
} line_frame;

typedef struct line_walk {
  line_frame frames[LINES_DEPTH];
  int depth;
  json_t *lines; /* place -> line (1-based) */
} line_walk;

static void record(line_walk *w, const char *path, const yaml_mark_t *m) {
  if (*path && !json_object_get(w->lines, path))
    json_object_set_new(w->lines, path, json_integer((json_int_t)m->line + 1));
}

/* The place of the node that starts now in the innermost container (its
 * key's place for a mapping's value): into out; a key or an item is recorded. */
static int next_place(line_walk *w, const yaml_event_t *ev, char *out, size_t cap) {
  if (w->depth == 0) return snprintf(out, cap, "%s", ""), 0;
  line_frame *f = &w->frames[w->depth - 1];
  if (f->seq) {
    snprintf(out, cap, "%s[%zu]", f->path, f->index++);
    record(w, out, &ev->start_mark);
    return 0;
  }
  if (!f->has_key) { /* a key (only scalar keys get a place) */
    const char *k = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.value : "?";
    char child[PATH_MAX_LEN];
    int n = snprintf(child, sizeof child, "%s%s%s", f->path, *f->path ? "." : "", k);
    if (n < 0 || (size_t)n >= sizeof child) child[sizeof child - 1] = '\0'; /* a place too deep: cut */
    memcpy(f->child, child, sizeof child);
    record(w, f->child, &ev->start_mark);
    f->has_key = 1;
    return 1; /* a key, not a value */
  }
  f->has_key = 0;
  snprintf(out, cap, "%s", f->child);
  return 0;
}

static void open_frame(line_walk *w, int seq, const char *place) {
  line_frame *f = &w->frames[w->depth++];
  memset(f, 0, sizeof *f);
  f->seq = seq;
  snprintf(f->path, sizeof f->path, "%s", place);
}

/* One event: 1 at the end of the stream, -1 when the walk cannot go on. */
static int line_event(line_walk *w, const yaml_event_t *ev) {
  char place[PATH_MAX_LEN];
  switch (ev->type) {
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_SCALAR_EVENT: next_place(w, ev, place, sizeof place); return 0;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if (w->depth == LINES_DEPTH || next_place(w, ev, place, sizeof place)) return -1;
      open_frame(w, ev->type == YAML_SEQUENCE_START_EVENT, place);
      return 0;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      if (w->depth > 0) w->depth--;
      return 0;
    case YAML_ALIAS_EVENT: return -1;
    default: return 0;
  }
}

json_t *sf_yaml_lines(const char *text, size_t len) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) return NULL;
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  line_walk *w = sf_calloc(1, sizeof *w);
  w->lines = json_object();
  int rc = 0;
  while (rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = -1;
      break;
    }
    rc = line_event(w, &ev);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  json_t *lines = w->lines;
  free(w);
  if (rc < 0) {
    json_decref(lines);
    return NULL;
  }
  return lines;
}

/* The line of place, or of the nearest enclosing place written (a missing
 * key's error goes to its mapping); 0 when none is. */
static int line_of(const json_t *lines, const char *place) {
  char p[sizeof((sf_err_field *)0)->field];
  snprintf(p, sizeof p, "%s", place);
  for (;;) {
    const json_t *l = json_object_get(lines, p);
    if (l) return (int)json_integer_value(l);
    char *dot = strrchr(p, '.'), *bracket = strrchr(p, '[');
    char *cut = dot > bracket ? dot : bracket;
    if (!cut || cut == p) return 0;
    *cut = '\0';
  }
}

void sf_flow_err_lines(sf_err *err, const char *text, size_t len) {
  json_t *lines = err->nfields ? sf_yaml_lines(text, len) : NULL;
  for (int i = 0; lines && i < err->nfields; i++) err->fields[i].line = line_of(lines, err->fields[i].field);
  json_decref(lines);
}
