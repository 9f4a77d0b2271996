"""Adding a service is one folder and one line (docs/adding-a-service.md).

Copies the sources to a temporary tree, puts tests/fixtures/hello/ there as
src/services/hello/, adds the one line `SF_SERVICE(hello)` to the table of
services (above its marker line), builds the serviceflow target of that tree
with the project's own CMakeLists.txt (its glob picks the new folder up),
and runs the result: the new route answers, the new permission refuses a
customer (403) and admits the staff role it was given, the new migration made
the service's table and recorded its version, a POST commits a row and an
event, and the service's durable subscriber counts that event. Every existing
route keeps working beside it.

The build compiles the whole program (unoptimised, -O0, 2 jobs: about 30 s
on this 2-core machine, under 3 minutes when it is loaded); set SERVICEFLOW_HELLO_BUILD to a directory to keep and
reuse the build between runs."""
import os, shutil, sqlite3, subprocess, sys, tempfile, time, unittest

import sfharness
from sfharness import Server, req, register, make_user, main

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARKER = "/* SF_SERVICE: add a service above this line */"


def add_service_line(tree):
    """The one line: SF_SERVICE(hello) above the marker of services/list.h."""
    path = os.path.join(tree, "src", "services", "list.h")
    with open(path) as f:
        text = f.read()
    assert text.count(MARKER) == 1, "the marker line of services/list.h is gone"
    with open(path, "w") as f:
        f.write(text.replace(MARKER, "SF_SERVICE(hello)\n" + MARKER))


def build_with_hello(work):
    tree = os.path.join(work, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(tree, "src"))
    shutil.copytree(os.path.join(ROOT, "scripts"), os.path.join(tree, "scripts"))
    shutil.copy(os.path.join(ROOT, "CMakeLists.txt"), tree)
    # the sources CMakeLists.txt names besides src/ (configured, not built here)
    for d in ("tests/unit", "tests/pg", "bench", "examples"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(tree, d), ignore=shutil.ignore_patterns("*.md", "*.sh"))
    # one folder...
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "hello"), os.path.join(tree, "src", "services", "hello"))
    # ...and one line
    add_service_line(tree)
    build = os.path.join(work, "build")
    os.makedirs(build, exist_ok=True)
    run = lambda *cmd: subprocess.run(cmd, cwd=build, capture_output=True, text=True, timeout=900)
    p = run("cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Debug", "-DCMAKE_C_FLAGS_DEBUG=-O0")
    assert p.returncode == 0, p.stdout + p.stderr
    t0 = time.time()
    p = run("nice", "cmake", "--build", build, "--target", "serviceflow", "-j2")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    sys.stderr.write("built serviceflow with the hello service in %.0f s\n" % (time.time() - t0))
    return os.path.join(build, "serviceflow")


class HelloService(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        keep = os.environ.get("SERVICEFLOW_HELLO_BUILD")
        cls.work = keep or tempfile.mkdtemp(prefix="sf-hello-")
        cls.bin = build_with_hello(cls.work)
        sfharness.BIN = cls.bin  # the CLI (migrate, user create) of the same build
        cls.srv = Server(["--rate-login-per-min", "100000", "--rate-login-burst", "100000"], bin=cls.bin)
        cls.staff = make_user(cls.srv, "staff")["access_token"]
        cls.customer = register(cls.srv)["access_token"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        if not os.environ.get("SERVICEFLOW_HELLO_BUILD"):
            shutil.rmtree(cls.work, ignore_errors=True)

    def db(self):
        return sqlite3.connect(os.path.join(self.srv.data_dir, "serviceflow.db"))

    def greetings(self):
        st, _, b = req(self.srv, "GET", "/api/v1/hello")
        self.assertEqual(st, 200, b)
        self.assertEqual(b["message"], "Hello, world")
        return b["greetings"]

    def test_1_route_and_migration(self):
        self.assertEqual(self.greetings(), 0)
        with self.db() as c:
            self.assertEqual(c.execute("SELECT version FROM schema_migrations WHERE service = 'hello'").fetchall(),
                             [(1,)])
            names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertTrue({"hello_greetings", "hello_counts"} <= names, names)
        # documented like every route
        st, _, doc = req(self.srv, "GET", "/api/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertIn("post", doc["paths"]["/api/v1/hello"])

    def test_2_permission(self):
        st, _, b = req(self.srv, "POST", "/api/v1/hello", {"name": "Ada"}, token=self.customer)
        self.assertEqual(st, 403, b)
        st, _, b = req(self.srv, "POST", "/api/v1/hello", {"name": "Ada"})
        self.assertEqual(st, 401, b)
        st, _, b = req(self.srv, "POST", "/api/v1/hello", {"name": ""}, token=self.staff)
        self.assertEqual(st, 422, b)

    def test_3_command_event_and_subscriber(self):
        st, _, b = req(self.srv, "POST", "/api/v1/hello", {"name": "Grace"}, token=self.staff)
        self.assertEqual(st, 201, b)
        self.assertTrue(b["id"].startswith("hlo_"), b)
        self.assertEqual(b["name"], "Grace")
        with self.db() as c:
            self.assertEqual(c.execute("SELECT name FROM hello_greetings WHERE id = ?", (b["id"],)).fetchall(),
                             [("Grace",)])
            ev = c.execute("SELECT type, stream FROM events WHERE stream = ?", ("hello-" + b["id"],)).fetchall()
        self.assertEqual(ev, [("hello.greeted", "hello-" + b["id"])])
        deadline = time.time() + 10  # the dispatcher runs after the commit
        while self.greetings() < 1 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.greetings(), 1)

    def test_4_the_other_services_are_there(self):
        st, _, b = req(self.srv, "GET", "/api/v1/products")
        self.assertEqual(st, 200, b)
        st, _, b = req(self.srv, "GET", "/api/v1/users/me", token=self.customer)
        self.assertEqual(st, 200, b)

    def test_5_restart_keeps_count(self):
        n = self.greetings()
        self.srv.restart()
        self.assertEqual(self.greetings(), n)


if __name__ == "__main__":
    main()
