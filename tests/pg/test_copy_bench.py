"""Throughput of `serviceflow copy-to-postgres` on a larger data set (not a ctest: minutes).

Under scripts/with-postgres.sh: a server on a SQLite data dir gets EVENTS events or more through
the API (threads on keep-alive connections: stock adjustments on 200 products, and a new service
request every fourth call, so events, stock, service_requests and request_search all grow), is
stopped, and the data dir is copied into a fresh database. Prints the copy's report (rows,
seconds, phases, rows_per_second) and checks that a server on the copy finds a request by search.
Usage: scripts/with-postgres.sh python3 tests/pg/test_copy_bench.py [EVENTS] (default 100000)"""
import http.client, json, os, shutil, sqlite3, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, HERE)
from sfharness import Server, req, make_user  # noqa: E402
from test_copy import FAST, FLOW, copy, fresh_database, search_ids  # noqa: E402

THREADS = 6


def load(srv, staff, products, calls, counter):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    for i in range(calls):
        if i % 4 == 0:
            body = {"type": "copydesk", "title": "Bench request %d" % counter[0],
                    "data": {"seat": "S%d" % i, "note": "printer bench"}}
            st, _, b = req(srv, "POST", "/api/v1/requests", body, token=staff, conn=conn)
        else:
            pid = products[(i * 7 + counter[0]) % len(products)]
            st, _, b = req(srv, "POST", "/api/v1/inventory/%s/adjustments" % pid, {"delta": 1, "reason": "bench"},
                           token=staff, conn=conn)
        if st not in (200, 201):
            raise RuntimeError((st, b))
        counter[0] += 1
    conn.close()


def main():
    want = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    srv = Server(FAST)
    try:
        staff = make_user(srv, "staff")["access_token"]
        admin = make_user(srv, "admin")["access_token"]
        st, _, w = req(srv, "POST", "/api/v1/workflows", raw=FLOW.encode(), token=admin,
                       headers={"Content-Type": "application/yaml"})
        assert st == 201, w
        products = []
        for i in range(200):
            st, _, p = req(srv, "POST", "/api/v1/products", {"sku": "BEN-%d" % i, "name": "Bench item %d" % i,
                                                             "price": 100 + i, "currency": "EUR", "status": "active"},
                           token=staff)
            assert st == 201, p
            products.append(p["id"])
        path = os.path.join(srv.data_dir, "serviceflow.db")
        t0 = time.time()
        while True:
            lite = sqlite3.connect(path)
            have = lite.execute("SELECT max(position) FROM events").fetchone()[0]
            lite.close()
            if have >= want:
                break
            counter = [0]
            per = max(1, min(5000, (want - have) // THREADS + 1))
            threads = [threading.Thread(target=load, args=(srv, staff, products, per, counter)) for _ in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        print("load: %d events in %.0f s" % (have, time.time() - t0), flush=True)
        srv.stop()
        size = os.path.getsize(path)
        if os.environ.get("SF_BENCH_KEEP"):  # the data dir's database for runs of its own
            shutil.copyfile(path, os.environ["SF_BENCH_KEEP"])
        url = fresh_database()
        rc, report, err = copy("--to", url, data_dir=srv.data_dir)
        print(json.dumps({k: v for k, v in report.items() if k != "tables"}, indent=2))
        print("sqlite file: %.1f MB; tables: %s" % (size / 1e6, json.dumps(report.get("tables"))))
        sys.stderr.write(err)
        assert rc == 0, err
        pg = Server(FAST, data_dir=srv.data_dir, env={"SERVICEFLOW_DATABASE_URL": url})
        try:
            found = search_ids(pg, "/api/v1/requests?q=printer&limit=5", staff)
            assert len(found) == 5, found
        finally:
            pg.stop()
    finally:
        srv.close()


if __name__ == "__main__":
    main()
