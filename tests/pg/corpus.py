#!/usr/bin/env python3
"""The PostgreSQL dialect, checked without the C backend (docs/storage-backends.md).

Against an empty PostgreSQL database (run it under scripts/with-postgres.sh,
which exports SF_TEST_PG_URL and SF_TEST_PG_BIN):
 1. makes schema_migrations with migrate.c's own PostgreSQL statement, then
    applies every owner's migration steps as PostgreSQL runs them (the
    pg_schema program prints them, owners in sf_app_migrate's order), each
    step with the bump of its version in one transaction, as the runner does;
 2. PREPAREs every SQL statement of src/ (scripts/sql_corpus.py) except the
    SQLite-only ones, with ? and ?N turned into $n as the backend does
    (to_dollars: the numbers a statement uses, made dense), and fails on
    any error. So a statement must give PostgreSQL the type of every
    parameter where it first sees it (`?2 IS NULL OR status = ?2` does not:
    write `CAST(?2 AS TEXT) IS NULL OR status = ?2`), and return no boolean
    column (the backend reads columns as text and int64: write
    CAST(EXISTS(...) AS INTEGER));
 3. EXPLAINs each with the generic plan and enable_seqscan=off: a Seq Scan
    of a table that grows means no index serves the statement (the tables
    and statements that may read whole tables are query_plan_test.c's);
 4. compares the schema with SQLite's at the latest version (pg_schema
    sqlite, applied with Python's sqlite3): the same tables, columns
    (INTEGER as bigint, TEXT as text) and named indexes, but for the
    full-text search of each (EXPECTED_DIFFERENCES);
 5. runs the PostgreSQL full-text searches of the catalog and of requests
    on a few rows: the triggers keep the searched text (title, the values
    of data, comments from events), every word must match, as a prefix;
    and reads the log with no limit (LIMIT of a negative number).
Every failure is listed before the exit status says so.
Usage: corpus.py PG_SCHEMA_BIN SRC_DIR
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'scripts'))
import sql_corpus  # noqa: E402

# as tests/unit/query_plan_test.c: tables that stay small, statements that read whole tables
BOUNDED = {'schema_migrations', 'checkpoints', 'event_type_stats', 'categories', 'workflows'}
WHOLE_READS = [
    ('src/events/store.c', 'SELECT position, stream, version, type, id, data, meta, at, hash FROM events ORDER BY position'),
    ('src/services/identity/repo.c', 'SELECT CAST(EXISTS(SELECT 1 FROM users WHERE totp_secret IS NOT NULL)'),
    ('src/services/identity/repo.c', 'SELECT CAST(EXISTS(SELECT 1 FROM users) OR EXISTS(SELECT 1 FROM refresh_tokens)'),
    ('src/services/orders/repo.c', 'SELECT CAST(EXISTS(SELECT 1 FROM orders WHERE card_sealed IS NOT NULL)'),
    ('src/edge/repo.c', 'SELECT CAST(EXISTS(SELECT 1 FROM idempotency)'),
    ('src/services/webhooks/repo.c', 'SELECT CAST(EXISTS(SELECT 1 FROM webhook_deliveries)'),
    ('src/services/webhooks/repo_subs.c', 'SELECT CAST(EXISTS(SELECT 1 FROM webhook_subscriptions)'),
]
# What only one side has, and why (docs/storage-backends.md)
EXPECTED_DIFFERENCES = {
    # full-text search: FTS5 tables (and their shadow tables) on SQLite; a generated tsvector
    # column with a GIN index on PostgreSQL, request_search holding the searched text itself
    'sqlite': {'table products_fts', 'table request_fts'},
    'pg': {'column products.search', 'index products_search', 'column request_search.title',
           'column request_search.data', 'column request_search.comments', 'column request_search.search',
           'index request_search_fts',
           # internal notes: the notes text and a tsvector with them that only staff search
           'column request_search.notes', 'column request_search.search_staff', 'index request_search_staff_fts',
           # SQLite orders a reservation's lines by rowid; PostgreSQL has no rowid
           'column reservation_lines.seq'},
}


def to_dollars(sql):
    """The statement as the backend sends it to PostgreSQL, and its parameter count.

    ? and ?N (outside quotes) become $n: a bare ? is one more than the
    largest number so far (SQLite's rule). SQLite lets a statement leave
    numbers out (srq_save's UPDATEs use some of the twelve its INSERT does;
    a list statement binds its filters by fixed numbers) but PostgreSQL
    cannot type a parameter no statement text uses, so the numbers used are
    made dense, in order ($1 for the smallest): the backend maps a bind of
    ?N to its $n and ignores a bind of a number the statement does not use."""
    pieces, used, top, i, quote = [], [], 0, 0, None
    while i < len(sql):
        c = sql[i]
        m = re.match(r'\?(\d*)', sql[i:]) if not quote and c == '?' else None
        if m:
            n = int(m.group(1)) if m.group(1) else top + 1
            top = max(top, n)
            used.append(n)
            pieces.append(n)
            i += len(m.group(0))
            continue
        if quote and c == quote:
            quote = None
        elif not quote and c in '\'"':
            quote = c
        pieces.append(c)
        i += 1
    dense = {n: k + 1 for k, n in enumerate(sorted(set(used)))}
    return ''.join('$%d' % dense[x] if isinstance(x, int) else x for x in pieces), len(dense)


def split_statements(sql):
    """The statements of a text run by sf_db_exec (split at ; outside quotes)."""
    out, cur, quote = [], [], None
    for c in sql:
        if quote and c == quote:
            quote = None
        elif not quote and c in '\'"':
            quote = c
        if c == ';' and not quote:
            out.append(''.join(cur).strip())
            cur = []
        else:
            cur.append(c)
    out.append(''.join(cur).strip())
    return [x for x in out if x]


class Pg:
    def __init__(self):
        self.url = os.environ['SF_TEST_PG_URL']
        self.psql = os.path.join(os.environ.get('SF_TEST_PG_BIN', '/usr/bin'), 'psql')

    def run(self, *commands):
        """Runs commands in one session (psql -c each, stops at the first error): (ok, output)."""
        args = [self.psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', self.url]
        for c in commands:
            args += ['-c', c]
        p = subprocess.run(args, capture_output=True, text=True)
        return p.returncode == 0, (p.stdout + p.stderr).strip()

    def script(self, text):
        """Runs a psql script (backslash commands allowed) in one session: (ok, output)."""
        args = [self.psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', self.url, '-f', '-']
        p = subprocess.run(args, input=text, capture_output=True, text=True)
        return p.returncode == 0, (p.stdout + p.stderr).strip()


def migrate(pg, schema_bin, versions_table):
    failures = []
    ok, out = pg.run(versions_table)
    if not ok:
        return ['schema_migrations: ' + out]
    text = subprocess.run([schema_bin], capture_output=True, text=True, check=True).stdout
    steps = 0
    for chunk in text.split('\x1e')[1:]:
        head, _, body = chunk.partition('\n')
        owner, version = head.split()
        bump = ("INSERT INTO schema_migrations(service, version, applied_at) VALUES('%s', %s, 0)"
                " ON CONFLICT(service) DO UPDATE SET version = excluded.version" % (owner, version))
        ok, out = pg.run('BEGIN;' + body + ';' + bump + ';COMMIT;')
        steps += 1
        if not ok:
            failures.append('%s step %s: %s' % (owner, version, out))
    print('pg.corpus: %d migration steps applied, %d failed' % (steps, len(failures)))
    return failures


def seq_scans(plan):
    return [m.group(1) for m in re.finditer(r'Seq Scan on (\w+)', plan) if m.group(1) not in BOUNDED]


def check_script(k, text, n):
    """The psql lines that check statement k (text in $n form, n parameters), its output
    after a line "@@k": "@@error <message>", or its columns (\\gdesc: name|type), "@@plan", its plan."""
    nulls = '(%s)' % ', '.join(['NULL'] * n) if n else ''
    return ('\\echo @@%d\nPREPARE s%d AS %s;\n\\if :ERROR\n\\echo @@error :LAST_ERROR_MESSAGE\n\\else\n'
            '%s \\gdesc\n\\echo @@plan\nEXPLAIN EXECUTE s%d%s;\nDEALLOCATE s%d;\n\\endif\n'
            % (k, k, text, text, k, nulls, k))


def judge(rel, line, sql, text, out):
    """The problems of one statement from its output (empty: fine)."""
    where = '%s:%d' % (rel, line)
    if out.startswith('@@error'):
        return ['%s: does not prepare on PostgreSQL: %s\n  %s' % (where, out[8:].strip(), text)]
    columns, _, plan = out.partition('@@plan')
    types = [c.rpartition('|')[2] for c in columns.strip().split('\n') if c]
    problems = []
    if 'boolean' in types:
        problems.append('%s: returns a boolean column (%s): the backend reads text and int64\n  %s' % (where, types, text))
    # a DELETE without WHERE empties a projection before it is folded again (on purpose)
    whole = re.match(r'DELETE FROM \w+$', sql) or any(rel == f and sql.startswith(s) for f, s in WHOLE_READS)
    if not rel.endswith('verify.c') and not whole:
        for table in seq_scans(plan):
            problems.append('%s: Seq Scan on %s, a table that grows\n  %s\n%s' % (where, table, text, plan))
    return problems


def check_all(pg, todo):
    """Prepares and explains every (rel, line, sql) in one session: the problems."""
    script = ['SET plan_cache_mode = force_generic_plan;\nSET enable_seqscan = off;\n']
    for k, (_, _, sql) in enumerate(todo):
        script.append(check_script(k, *to_dollars(sql)))
    args = [pg.psql, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0', '-d', pg.url, '-f', '-']
    out = subprocess.run(args, input=''.join(script), capture_output=True, text=True).stdout
    parts = {int(m.group(1)): m.group(2) for m in re.finditer(r'^@@(\d+)\n(.*?)(?=^@@\d+\n|\Z)', out, re.S | re.M)}
    problems = []
    for k, (rel, line, sql) in enumerate(todo):
        if k not in parts:
            problems.append('%s:%d: no answer from psql\n  %s' % (rel, line, sql))
        else:
            problems += judge(rel, line, sql, to_dollars(sql)[0], parts[k])
    return problems


def sqlite_shape(schema_bin, versions_table):
    """{'table t', 'column t.c:type', 'index i'} of a fresh SQLite database at the latest version."""
    import sqlite3
    text = subprocess.run([schema_bin, 'sqlite'], capture_output=True, text=True, check=True).stdout
    db = sqlite3.connect(':memory:')
    db.execute(versions_table)
    for chunk in text.split('\x1e')[1:]:
        db.executescript(chunk.partition('\n')[2])
    shape = set()
    for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
                           " AND name NOT LIKE '%_fts_%'"):
        shape.add('table ' + t)
        for _, col, typ, *_ in db.execute('SELECT * FROM pragma_table_info(?)', (t,)):
            shape.add('column %s.%s:%s' % (t, col, {'INTEGER': 'bigint', 'TEXT': 'text'}.get(typ, typ)))
    for (t,) in db.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'"):
        shape.add('table ' + t)
    for (i,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"):
        shape.add('index ' + i)
    return shape


def pg_shape(pg):
    ok, out = pg.run("SELECT 'table ' || table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                     " UNION ALL SELECT 'column ' || table_name || '.' || column_name || ':' || data_type"
                     " FROM information_schema.columns WHERE table_schema = current_schema()"
                     " UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = current_schema()"
                     " AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'")
    return set(out.split('\n')) if ok else {'error ' + out}


def compare_schemas(pg, schema_bin, versions_table):
    """The differences not in EXPECTED_DIFFERENCES, as failures."""
    lite, post = sqlite_shape(schema_bin, versions_table), pg_shape(pg)
    bare = lambda x: x.split(':')[0]  # noqa: E731
    failures = []
    for side, mine, other in (('sqlite', lite, post), ('pg', post, lite)):
        for item in sorted(mine - other):
            if item.startswith('column ') and bare(item) in {bare(o) for o in other}:
                if side == 'sqlite':
                    failures.append('schema: %s on SQLite, %s on PostgreSQL'
                                    % (item, [o for o in other if bare(o) == bare(item)][0]))
            elif bare(item) not in EXPECTED_DIFFERENCES[side]:
                failures.append('schema: %s only on %s' % (item, 'SQLite' if side == 'sqlite' else 'PostgreSQL'))
    print('pg.corpus: schema compared (%d SQLite items, %d PostgreSQL items), %d unexpected differences'
          % (len(lite), len(post), len(failures)))
    return failures


def literal(v):
    return 'NULL' if v is None else str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'"


def run_statement(pg, sql, params, column):
    """A column of the rows of a statement of the corpus, run with params (by ?N)."""
    text, n = to_dollars(sql)
    ok, out = pg.script('PREPARE q AS %s;\nEXECUTE q(%s);\n' % (text, ', '.join(literal(p) for p in params[:n])))
    return [r.split('|')[column] for r in out.split('\n') if r] if ok else ['error: ' + out]


SEARCH_ROWS = """
INSERT INTO products(id, sku, name, description, price, currency, status, version, created_at, updated_at) VALUES
 ('p1', 'TS-BLUE-42', 'Blue shirt', 'Cotton, slim fit', 1500, 'EUR', 'active', 1, 1, 1),
 ('p2', 'TS-RED-7', 'Red shirt', 'Linen', 1700, 'EUR', 'active', 1, 2, 2),
 ('p3', 'MUG-1', 'Mug', 'Blue ceramic mug', 900, 'EUR', 'active', 1, 3, 3);
INSERT INTO workflows(id, type, version, name, definition, source, created_by, created_at)
 VALUES('w1', 'it', 1, 'IT', '{}', '', 'u', 1);
INSERT INTO service_requests(id, type, workflow_id, title, data, state, created_by, version, created_at, updated_at)
 VALUES('r1', 'it', 'w1', 'Printer broken', '{"floor": 3, "contact": {"phone": "555-0199"}, "tags": ["urgent"]}',
        'open', 'u', 1, 10, 10),
        ('r2', 'it', 'w1', 'New laptop', '{"model": "ThinkPad"}', 'open', 'u', 1, 20, 20);
INSERT INTO events(position, stream, version, type, id, data, meta, at, hash)
 VALUES(1, 'request-r1', 2, 'request.commented', 'e1', '{"body": "toner everywhere"}', '{}', 30, 'h'),
       (2, 'request-r2', 2, 'request.transitioned', 'e2', '{"comment": ""}', '{}', 31, 'h');
UPDATE service_requests SET title = 'Printer on fire' WHERE id = 'r1';
"""


def search_checks(pg, stmts):
    def pg_stmt(file, start):
        found = [s for f, _, s, d in stmts if f == file and d == 'pg' and s.startswith(start)]
        return found[0] if found else None
    products = pg_stmt('src/services/catalog/repo.c', 'SELECT seq, id')
    requests = pg_stmt('src/services/requests/repo.c', 'SELECT r.id FROM request_search s JOIN service_requests r ON r.id = s.request_id WHERE s.search @@')
    if not products or not requests:
        return ['search: the PostgreSQL search statements of catalog/repo.c and requests/repo.c are not in the corpus']
    ok, out = pg.script(SEARCH_ROWS)
    if not ok:
        return ['search: the rows do not insert: ' + out]
    top = 2 ** 63 - 1
    cases = [
        (products, '"blue"*', ['p3', 'p1']),  # name or description, newest first
        (products, '"blu"* "shi"*', ['p1']),  # every word, each as a prefix
        (products, '"ts"* "42"*', ['p1']),  # the sku's parts
        (products, '"green"*', []),
        (requests, '"print"* "fire"*', ['r1']),  # the title as updated
        (requests, '"broken"*', []),  # the title before the update is gone
        (requests, '"urg"* "0199"*', ['r1']),  # values of data, nested
        (requests, '"toner"*', ['r1']),  # a comment from the events
        (requests, '"thinkpad"*', ['r2']),
    ]
    failures = []
    for sql, match, want in cases:
        if sql is products:  # ?1 match, ?2 status, ?3 category, ?4/?5 prices, ?6 before seq, ?7 limit
            got = run_statement(pg, sql, [match, None, None, 0, top, top, 10], 1)
        else:  # ?1/?2 cursor, ?3 limit, ?4-?8 filters, ?9 match, ?10 sla
            got = run_statement(pg, sql, [top, None, 10, None, None, None, None, None, match, None], 0)
        if got != want:
            failures.append('search: %s gave %s, not %s' % (match, got, want))
    # a negative limit is none (sf_ev_read_all(..., 0, ...)), as SQLite reads LIMIT -1
    read_all = [s for f, _, s, d in stmts if f == 'src/events/store.c' and 'WHERE position > ?1 ORDER BY position' in s]
    got = run_statement(pg, read_all[0], [0, -1], 0) if read_all else ['no such statement']
    if got != ['1', '2']:
        failures.append('events: reading the log with no limit gave %s, not the 2 events' % got)
    print('pg.corpus: %d full-text searches and a read of the log run, %d wrong' % (len(cases), len(failures)))
    return failures


def main():
    schema_bin, src = sys.argv[1], sys.argv[2]
    srcs = [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith('.c')]
    stmts = list(sql_corpus.corpus(srcs))
    versions = {d: s for _, _, s, d in stmts if s.startswith('CREATE TABLE IF NOT EXISTS schema_migrations')}
    if set(versions) != {'sqlite', 'pg'}:
        print('pg.corpus: migrate.c must make schema_migrations in a literal *_sqlite and one *_pg')
        return 1
    pg = Pg()
    # the integrity check's amcheck functions (store/pg/commit.c) exist once a superuser made the
    # extension, as docs/storage-backends.md tells operators
    admin_db = os.environ['SF_TEST_PG_ADMIN'].rsplit('/', 1)[0] + '/' + pg.url.rsplit('/', 1)[1]
    subprocess.run([pg.psql, '-X', '-q', '-d', admin_db, '-c', 'CREATE EXTENSION IF NOT EXISTS amcheck'], check=True)
    failures = migrate(pg, schema_bin, versions['pg'])
    failures += compare_schemas(pg, schema_bin, versions['sqlite'])
    todo = [(rel, line, one) for rel, line, sql, dialect in stmts if dialect != 'sqlite' and not sql.startswith('CREATE ')
            for one in split_statements(sql)]
    checked, skipped = len(todo), sum(1 for s in stmts if s[3] == 'sqlite' or s[2].startswith('CREATE '))
    failures += check_all(pg, todo)
    failures += search_checks(pg, stmts)
    for f in failures:
        print(f)
    print('pg.corpus: %d statements prepared and explained on PostgreSQL, %d SQLite-only skipped, %d problems'
          % (checked, skipped, len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
