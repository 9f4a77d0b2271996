"""The CLI as a new user meets it: `user create` without a password, files
readable by their owner only, and `make run`'s settings taken from the
environment."""
import os, stat, subprocess, unittest

from sfharness import BIN, FAST_HASH, HERE, Server, cli, login, main, unique_email

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def test_user_create_without_a_password_generates_one(self):
        email = unique_email("cli")
        p = subprocess.run([BIN, "user", "create", "--email", email, "--role", "staff", *FAST_HASH,
                            "--data-dir", self.srv.data_dir], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                       if k != "SERVICEFLOW_PASSWORD"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.strip().startswith("usr_"), p.stdout)  # stdout: the id alone
        marker = "generated password: "
        self.assertIn(marker, p.stderr)
        password = p.stderr.split(marker, 1)[1].split()[0]
        self.assertGreaterEqual(len(password), 20)
        st, _, b = login(self.srv, email, password)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["user"]["role"], "staff")

    def test_files_are_the_owners_alone(self):
        d = self.srv.data_dir
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        names = ["serviceflow.db", "serviceflow.db-wal", "serviceflow.db-shm", "jwt.key", "seal.keys",
                 "webhook.key"]
        for name in names:
            path = os.path.join(d, name)
            if os.path.exists(path):
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, name)
        self.assertTrue(os.path.exists(os.path.join(d, "serviceflow.db")))

    def test_make_run_takes_its_settings_from_the_environment(self):
        """`make run` passes its flags from PORT/DATA/BIND, which default to the
        server's own environment variables (a dry run prints the commands)."""
        env = dict(os.environ, SERVICEFLOW_PORT="9191", SERVICEFLOW_DATA_DIR="/tmp/sf-cli-data")
        env.pop("SERVICEFLOW_BIND", None)
        p = subprocess.run(["make", "-n", "-s", "run", "BUILD=build"], cwd=ROOT, capture_output=True, text=True,
                           timeout=60, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        serve = [l for l in p.stdout.splitlines() if " serve " in l]
        self.assertTrue(serve, p.stdout)
        self.assertIn("--port 9191", serve[-1])
        self.assertIn("--data-dir /tmp/sf-cli-data", serve[-1])
        self.assertIn("--bind 127.0.0.1", serve[-1])  # loopback unless told otherwise
        p = subprocess.run(["make", "-n", "-s", "run", "BUILD=build", "PORT=9292", "BIND=0.0.0.0"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60, env=env)
        serve = [l for l in p.stdout.splitlines() if " serve " in l]
        self.assertIn("--port 9292", serve[-1])
        self.assertIn("--bind 0.0.0.0", serve[-1])


if __name__ == "__main__":
    main()
