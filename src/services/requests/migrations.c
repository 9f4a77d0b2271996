/* The requests service's tables (store/migrate.h). Append only: never edit
 * a step that has shipped, add one. `legacy`: the step of the old single
 * list of migrations that held it (0 for steps added since). */
#include "store/migrate.h"

const sf_db_step sf_requests_migrations[] = {
    /* service requests, each pinned to the workflow version it started on */
    {"CREATE TABLE service_requests("
     "  id TEXT PRIMARY KEY,"
     "  type TEXT NOT NULL,"
     "  workflow_id TEXT NOT NULL REFERENCES workflows(id),"
     "  title TEXT NOT NULL,"
     "  data TEXT NOT NULL,"
     "  state TEXT NOT NULL,"
     "  assignee_user TEXT,"
     "  assignee_role TEXT,"
     "  created_by TEXT NOT NULL,"
     "  version INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL);"
     "CREATE INDEX service_requests_creator ON service_requests(created_by, created_at, id);"
     "CREATE INDEX service_requests_created ON service_requests(created_at, id);",
     6,
     .pg = "CREATE TABLE service_requests("
           "  id text PRIMARY KEY,"
           "  type text NOT NULL,"
           "  workflow_id text NOT NULL REFERENCES workflows(id),"
           "  title text NOT NULL,"
           "  data text NOT NULL,"
           "  state text NOT NULL,"
           "  assignee_user text,"
           "  assignee_role text,"
           "  created_by text NOT NULL,"
           "  version bigint NOT NULL,"
           "  created_at bigint NOT NULL,"
           "  updated_at bigint NOT NULL);"
           "CREATE INDEX service_requests_creator ON service_requests(created_by, created_at, id);"
           "CREATE INDEX service_requests_created ON service_requests(created_at, id);"},
    /* approval tasks of service requests (a projection of the request's
     * approval events, written with them): one row per assignee of a level
     * (a user, or a role any member of which may decide), plus one row per
     * vote cast through a role row or by a delegate. */
    {"CREATE TABLE request_approvals("
     "  request_id TEXT NOT NULL,"
     "  chain INTEGER NOT NULL,"
     "  level INTEGER NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  level_name TEXT NOT NULL,"
     "  assignee_user TEXT,"
     "  assignee_role TEXT,"
     "  delegated_from TEXT,"
     "  decision TEXT,"
     "  decided_by TEXT,"
     "  decided_at INTEGER,"
     "  comment TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY(request_id, chain, level, seq));"
     "CREATE INDEX request_approvals_user ON request_approvals(assignee_user, created_at) WHERE decision IS NULL;"
     "CREATE INDEX request_approvals_role ON request_approvals(assignee_role, created_at) WHERE decision IS NULL;",
     7,
     .pg =
         "CREATE TABLE request_approvals("
         "  request_id text NOT NULL,"
         "  chain bigint NOT NULL,"
         "  level bigint NOT NULL,"
         "  seq bigint NOT NULL,"
         "  level_name text NOT NULL,"
         "  assignee_user text,"
         "  assignee_role text,"
         "  delegated_from text,"
         "  decision text,"
         "  decided_by text,"
         "  decided_at bigint,"
         "  comment text,"
         "  created_at bigint NOT NULL,"
         "  PRIMARY KEY(request_id, chain, level, seq));"
         "CREATE INDEX request_approvals_user ON request_approvals(assignee_user, created_at) WHERE decision IS NULL;"
         "CREATE INDEX request_approvals_role ON request_approvals(assignee_role, created_at) WHERE decision IS NULL;"},
    /* approval chains of service requests, one row per chain (a
     * projection of request.approval_started / _completed / _cancelled,
     * written with them), so the view shows the latest chain and how it
     * ended even when it has no tasks; filled from those events. */
    {"CREATE TABLE request_chains("
     "  request_id TEXT NOT NULL,"
     "  chain INTEGER NOT NULL,"
     "  state TEXT NOT NULL,"
     "  status TEXT NOT NULL CHECK(status IN ('pending', 'approved', 'rejected', 'cancelled')),"
     "  started_at INTEGER NOT NULL,"
     "  ended_at INTEGER,"
     "  PRIMARY KEY(request_id, chain));"
     "INSERT INTO request_chains(request_id, chain, state, status, started_at, ended_at)"
     " SELECT substr(s.stream, 9), json_extract(s.data, '$.chain'), json_extract(s.data, '$.state'),"
     "  coalesce(e.outcome, 'pending'), s.at, e.at FROM events s LEFT JOIN ("
     "   SELECT stream, json_extract(data, '$.chain') AS chain, max(at) AS at,"
     "    max(CASE type WHEN 'request.approval_cancelled' THEN 'cancelled' ELSE json_extract(data, '$.outcome') END)"
     "    AS outcome FROM events WHERE type IN ('request.approval_completed', 'request.approval_cancelled')"
     "   GROUP BY stream, chain) e ON e.stream = s.stream AND e.chain = json_extract(s.data, '$.chain')"
     " WHERE s.type = 'request.approval_started' AND s.stream LIKE 'request-%'"
     " ON CONFLICT DO NOTHING;",
     10,
     /* PostgreSQL: no backfill (a PostgreSQL database is made empty by these
      * steps: store/migrate.h) */
     .pg = "CREATE TABLE request_chains("
           "  request_id text NOT NULL,"
           "  chain bigint NOT NULL,"
           "  state text NOT NULL,"
           "  status text NOT NULL CHECK(status IN ('pending', 'approved', 'rejected', 'cancelled')),"
           "  started_at bigint NOT NULL,"
           "  ended_at bigint,"
           "  PRIMARY KEY(request_id, chain));"},
    /* an index for every list filter and lookup (tests/unit/query_plan_test.c
     * explains every statement), and full-text search of service requests:
     * title, the values of data, and the comments of its events. The text is
     * kept by triggers, so it changes in the writer transaction that changes
     * the request. request_search gives each request a stable integer rowid
     * for the FTS table (VACUUM may renumber implicit rowids). */
    {"CREATE INDEX IF NOT EXISTS service_requests_state ON service_requests(state, created_at, id);"
     "CREATE INDEX IF NOT EXISTS service_requests_type ON service_requests(type, created_at, id);"
     "CREATE INDEX IF NOT EXISTS service_requests_assignee ON service_requests(assignee_user, created_at, id);"
     "CREATE INDEX IF NOT EXISTS service_requests_queue"
     "  ON service_requests(assignee_role, assignee_user, created_at, id);"
     "CREATE TABLE request_search(seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE);"
     "CREATE VIRTUAL TABLE request_fts USING fts5(title, data, comments);"
     "CREATE TRIGGER request_fts_ai AFTER INSERT ON service_requests BEGIN"
     "  INSERT INTO request_search(request_id) VALUES(new.id);"
     "  INSERT INTO request_fts(rowid, title, data, comments) SELECT seq, new.title,"
     "    (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL), ''"
     "    FROM request_search WHERE request_id = new.id; END;"
     "CREATE TRIGGER request_fts_au AFTER UPDATE OF title, data ON service_requests"
     "  WHEN old.title IS NOT new.title OR old.data IS NOT new.data BEGIN"
     "  UPDATE request_fts SET title = new.title,"
     "    data = (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL)"
     "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = new.id); END;"
     "CREATE TRIGGER request_fts_comment AFTER INSERT ON events"
     "  WHEN new.type IN ('request.commented', 'request.transitioned', 'request.approval_decided',"
     "    'request.approval_delegated')"
     "  AND coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'), '') <> '' BEGIN"
     "  UPDATE request_fts SET comments = comments || char(10) ||"
     "    coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'))"
     "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = substr(new.stream, 9)); END;"
     "INSERT INTO request_search(request_id) SELECT id FROM service_requests ORDER BY created_at, id;"
     "INSERT INTO request_fts(rowid, title, data, comments) SELECT s.seq, r.title,"
     "  (SELECT group_concat(value, ' ') FROM json_tree(r.data) WHERE atom IS NOT NULL),"
     "  coalesce((SELECT group_concat(coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment')),"
     "    char(10)) FROM events e WHERE e.stream = 'request-' || r.id AND e.type IN ('request.commented',"
     "    'request.transitioned', 'request.approval_decided', 'request.approval_delegated')"
     "    AND coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment'), '') <> ''), '')"
     "  FROM request_search s JOIN service_requests r ON r.id = s.request_id;",
     12,
     /* PostgreSQL: one row per request holding its searchable text, kept
      * by triggers as on SQLite, and a generated tsvector of it with a GIN
      * index; request_text gives the scalar values of a request's data (as
      * json_tree's atoms do, booleans as true/false rather than 1/0) */
     .pg = "CREATE INDEX IF NOT EXISTS service_requests_state ON service_requests(state, created_at, id);"
           "CREATE INDEX IF NOT EXISTS service_requests_type ON service_requests(type, created_at, id);"
           "CREATE INDEX IF NOT EXISTS service_requests_assignee ON service_requests(assignee_user, created_at, id);"
           "CREATE INDEX IF NOT EXISTS service_requests_queue"
           "  ON service_requests(assignee_role, assignee_user, created_at, id);"
           "CREATE TABLE request_search("
           "  seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
           "  request_id text NOT NULL UNIQUE,"
           "  title text NOT NULL DEFAULT '',"
           "  data text NOT NULL DEFAULT '',"
           "  comments text NOT NULL DEFAULT '',"
           "  search tsvector GENERATED ALWAYS AS (to_tsvector('simple',"
           "    regexp_replace(title || ' ' || data || ' ' || comments, '[^[:alnum:]]+', ' ', 'g'))) STORED);"
           "CREATE INDEX request_search_fts ON request_search USING gin(search);"
           "CREATE FUNCTION request_text(data text) RETURNS text LANGUAGE sql IMMUTABLE AS $$"
           "  SELECT coalesce(string_agg(v #>> '{}', ' '), '') FROM jsonb_path_query(data::jsonb, 'strict $.**') v"
           "  WHERE jsonb_typeof(v) NOT IN ('object', 'array', 'null') $$;"
           "CREATE FUNCTION request_search_ai() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           "  INSERT INTO request_search(request_id, title, data) VALUES(new.id, new.title, request_text(new.data));"
           "  RETURN NULL; END $$;"
           "CREATE TRIGGER request_search_ai AFTER INSERT ON service_requests"
           "  FOR EACH ROW EXECUTE FUNCTION request_search_ai();"
           "CREATE FUNCTION request_search_au() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           "  UPDATE request_search SET title = new.title, data = request_text(new.data) WHERE request_id = new.id;"
           "  RETURN NULL; END $$;"
           "CREATE TRIGGER request_search_au AFTER UPDATE OF title, data ON service_requests FOR EACH ROW"
           "  WHEN (old.title IS DISTINCT FROM new.title OR old.data IS DISTINCT FROM new.data)"
           "  EXECUTE FUNCTION request_search_au();"
           "CREATE FUNCTION request_search_comment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           "  UPDATE request_search SET comments = comments || chr(10) ||"
           "    coalesce(new.data::jsonb ->> 'body', new.data::jsonb ->> 'comment')"
           "    WHERE request_id = substr(new.stream, 9);"
           "  RETURN NULL; END $$;"
           "CREATE TRIGGER request_search_comment AFTER INSERT ON events FOR EACH ROW"
           "  WHEN (new.type IN ('request.commented', 'request.transitioned', 'request.approval_decided',"
           "    'request.approval_delegated')"
           "  AND coalesce(new.data::jsonb ->> 'body', new.data::jsonb ->> 'comment', '') <> '')"
           "  EXECUTE FUNCTION request_search_comment();"},
    /* internal comments (request.noted, staff only) are searchable by staff
     * alone: the full-text table gets a fourth column, notes, that a
     * requester's search leaves out ({title data comments} : ...). FTS5 has
     * no ADD COLUMN: the table and its triggers are made again and filled
     * from the requests and their events. And the SLA status of each request
     * (none, running, paused, warning, breached, met: repo.h), kept by every
     * save, for GET /requests?sla=; rows of before are given what their
     * recorded SLA events say (their next save makes it exact). */
    {"DROP TRIGGER request_fts_ai;"
     "DROP TRIGGER request_fts_au;"
     "DROP TRIGGER request_fts_comment;"
     "DROP TABLE request_fts;"
     "CREATE VIRTUAL TABLE request_fts USING fts5(title, data, comments, notes);"
     "CREATE TRIGGER request_fts_ai AFTER INSERT ON service_requests BEGIN"
     "  INSERT INTO request_search(request_id) VALUES(new.id);"
     "  INSERT INTO request_fts(rowid, title, data, comments, notes) SELECT seq, new.title,"
     "    (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL), '', ''"
     "    FROM request_search WHERE request_id = new.id; END;"
     "CREATE TRIGGER request_fts_au AFTER UPDATE OF title, data ON service_requests"
     "  WHEN old.title IS NOT new.title OR old.data IS NOT new.data BEGIN"
     "  UPDATE request_fts SET title = new.title,"
     "    data = (SELECT group_concat(value, ' ') FROM json_tree(new.data) WHERE atom IS NOT NULL)"
     "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = new.id); END;"
     "CREATE TRIGGER request_fts_comment AFTER INSERT ON events"
     "  WHEN new.type IN ('request.commented', 'request.transitioned', 'request.approval_decided',"
     "    'request.approval_delegated')"
     "  AND coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'), '') <> '' BEGIN"
     "  UPDATE request_fts SET comments = comments || char(10) ||"
     "    coalesce(json_extract(new.data, '$.body'), json_extract(new.data, '$.comment'))"
     "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = substr(new.stream, 9)); END;"
     "CREATE TRIGGER request_fts_note AFTER INSERT ON events"
     "  WHEN new.type = 'request.noted' AND coalesce(json_extract(new.data, '$.body'), '') <> '' BEGIN"
     "  UPDATE request_fts SET notes = notes || char(10) || json_extract(new.data, '$.body')"
     "    WHERE rowid = (SELECT seq FROM request_search WHERE request_id = substr(new.stream, 9)); END;"
     "INSERT INTO request_fts(rowid, title, data, comments, notes) SELECT s.seq, r.title,"
     "  (SELECT group_concat(value, ' ') FROM json_tree(r.data) WHERE atom IS NOT NULL),"
     "  coalesce((SELECT group_concat(coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment')),"
     "    char(10)) FROM events e WHERE e.stream = 'request-' || r.id AND e.type IN ('request.commented',"
     "    'request.transitioned', 'request.approval_decided', 'request.approval_delegated')"
     "    AND coalesce(json_extract(e.data, '$.body'), json_extract(e.data, '$.comment'), '') <> ''), ''),"
     "  coalesce((SELECT group_concat(json_extract(e.data, '$.body'), char(10)) FROM events e"
     "    WHERE e.stream = 'request-' || r.id AND e.type = 'request.noted'"
     "    AND coalesce(json_extract(e.data, '$.body'), '') <> ''), '')"
     "  FROM request_search s JOIN service_requests r ON r.id = s.request_id;"
     "ALTER TABLE service_requests ADD COLUMN sla_status TEXT NOT NULL DEFAULT 'none';"
     "UPDATE service_requests SET sla_status = CASE"
     "  WHEN EXISTS (SELECT 1 FROM events e WHERE e.stream = 'request-' || service_requests.id"
     "    AND e.type = 'request.sla_breached') THEN 'breached'"
     "  WHEN EXISTS (SELECT 1 FROM events e WHERE e.stream = 'request-' || service_requests.id"
     "    AND e.type = 'request.sla_warning') THEN 'warning'"
     "  WHEN EXISTS (SELECT 1 FROM events e WHERE e.stream = 'request-' || service_requests.id"
     "    AND e.type = 'request.sla_started') THEN 'running' ELSE 'none' END;"
     "CREATE INDEX service_requests_sla ON service_requests(sla_status, created_at, id);",
     0,
     /* PostgreSQL: the notes beside the comments, and a second tsvector with
      * them for staff (search_staff); no rows to fill (made empty) */
     .pg = "ALTER TABLE request_search ADD COLUMN notes text NOT NULL DEFAULT '';"
           "ALTER TABLE request_search ADD COLUMN search_staff tsvector GENERATED ALWAYS AS (to_tsvector('simple',"
           "  regexp_replace(title || ' ' || data || ' ' || comments || ' ' || notes, '[^[:alnum:]]+', ' ', 'g')))"
           "  STORED;"
           "CREATE INDEX request_search_staff_fts ON request_search USING gin(search_staff);"
           "CREATE FUNCTION request_search_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           "  UPDATE request_search SET notes = notes || chr(10) || (new.data::jsonb ->> 'body')"
           "    WHERE request_id = substr(new.stream, 9);"
           "  RETURN NULL; END $$;"
           "CREATE TRIGGER request_search_note AFTER INSERT ON events FOR EACH ROW"
           "  WHEN (new.type = 'request.noted' AND coalesce(new.data::jsonb ->> 'body', '') <> '')"
           "  EXECUTE FUNCTION request_search_note();"
           "ALTER TABLE service_requests ADD COLUMN sla_status text NOT NULL DEFAULT 'none';"
           "CREATE INDEX service_requests_sla ON service_requests(sla_status, created_at, id);"},
    {0},
};
