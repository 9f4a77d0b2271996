"""The README's quickstarts work as written: the data set of `make run`
(migrate, seed, scripts/seed_desk.py) on a real server, then every ```sh block
under a "Quickstart" heading run by bash with only the port changed. curl is
wrapped with --fail-with-body, so any HTTP error fails the block."""
import os, re, subprocess, unittest

import sfharness as h

ROOT = os.path.normpath(os.path.join(h.HERE, "..", ".."))


def quickstart_blocks(path):
    """{heading: shell text} of each ```sh block under a Quickstart heading."""
    with open(path) as f:
        text = f.read()
    blocks = {}
    for sec in re.split(r"^## ", text, flags=re.M)[1:]:
        title = sec.split("\n", 1)[0].strip()
        if title.lower().startswith("quickstart"):
            found = re.findall(r"```sh\n(.*?)```", sec, flags=re.S)
            if found:
                blocks[title] = "\n".join(found)
    return blocks


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = h.Server()
        cls.srv.stop()
        rc, out, err = h.cli("seed", *h.FAST_HASH, data_dir=cls.srv.data_dir)
        assert rc == 0, err
        cls.srv.start()
        p = subprocess.run(["python3", os.path.join(ROOT, "scripts", "seed_desk.py"), "--url", cls.srv.url],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        cls.seed_out = p.stdout

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def run_block(self, script):
        script = script.replace("localhost:8080", "127.0.0.1:%d" % self.srv.port)
        prelude = ("set -euo pipefail\n"
                   "curl() { command curl --fail-with-body --max-time 30 \"$@\"; }\n"
                   "export -f curl\n")
        p = subprocess.run(["bash", "-c", prelude + script], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, "block failed:\n%s\n--- stdout\n%s\n--- stderr\n%s" %
                         (script, p.stdout, p.stderr))
        self.assertNotIn("null", p.stdout.split("\n")[-2] if p.stdout.strip() else "null")
        return p.stdout

    def test_blocks_exist(self):
        blocks = quickstart_blocks(os.path.join(ROOT, "README.md"))
        self.assertIn("Quickstart: the shop", blocks)
        self.assertIn("Quickstart: the service desk", blocks)

    def test_seeded_desk(self):
        self.assertIn("published workflows purchase, incident", self.seed_out)
        tok = h.login(self.srv, "approver@serviceflow.local", "approver-password-1")[2]["access_token"]
        st, _, b = h.req(self.srv, "GET", "/api/v1/requests?limit=50", token=tok)
        self.assertEqual(st, 200)
        states = {(r["type"], r["state"]) for r in b["data"]}
        self.assertEqual(len(b["data"]), 8)
        for want in [("purchase", "draft"), ("purchase", "review"), ("purchase", "approved"),
                     ("incident", "new"), ("incident", "in_progress"), ("incident", "resolved")]:
            self.assertIn(want, states)
        self.assertTrue(any(r["assignee"] and r["assignee"].get("user") for r in b["data"]))
        st, _, inbox = h.req(self.srv, "GET", "/api/v1/approvals?assignee=me", token=tok)
        self.assertEqual(st, 200)
        self.assertTrue(inbox["data"], "the approver's inbox is empty")

    def test_shop(self):
        out = self.run_block(quickstart_blocks(os.path.join(ROOT, "README.md"))["Quickstart: the shop"])
        self.assertIn('"paid"', out)

    def test_service_desk(self):
        out = self.run_block(quickstart_blocks(os.path.join(ROOT, "README.md"))["Quickstart: the service desk"])
        self.assertIn('"approved"', out)


if __name__ == "__main__":
    h.main()
