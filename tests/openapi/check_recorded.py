"""Holds answers recorded by the e2e harness against the OpenAPI document.

  SERVICEFLOW_OPENAPI_RECORD=/tmp/answers.jsonl ctest -L e2e
  python3 tests/openapi/check_recorded.py /tmp/answers.jsonl [build/serviceflow]

Every answer of an operation must be declared by it (status, content type,
schema; see tests/e2e/openapi_contract.py). Requests that reach no operation
(404/405 paths, OPTIONS, the test clock of test builds) are counted apart.
Exit 1 when an answer does not match."""
import collections, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from openapi_contract import Contract  # noqa: E402

IDS = re.compile(r"\b([a-z]{2,4})_[a-z0-9]{8,}")


def main():
    records = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "build", "serviceflow")
    doc = json.loads(subprocess.run([binary, "openapi"], capture_output=True, text=True, check=True).stdout)
    contract = Contract(doc)
    bad, elsewhere, n = collections.Counter(), collections.Counter(), 0
    with open(records) as f:
        for line in f:
            r = json.loads(line)
            n += 1
            body = "" if r["status"] in (204, 304) else r["body"]
            if contract.find(r["method"], r["path"]) is None:
                elsewhere["%s %s -> %d" % (r["method"], IDS.sub(r"\1_…", r["path"]), r["status"])] += 1
                continue
            for p in contract.check(r["method"], r["path"], r["status"], {"content-type": r["content_type"]}, body,
                                    known_query=False):  # tests may send odd parameters on purpose
                bad[IDS.sub(r"\1_…", p)[:400]] += 1
    for k, v in sorted(elsewhere.items()):
        print("no operation (%dx): %s" % (v, k))
    for k, v in sorted(bad.items()):
        print("MISMATCH (%dx): %s" % (v, k))
    print("%d answers, %d mismatches" % (n, sum(bad.values())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
