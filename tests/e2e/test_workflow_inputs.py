"""A request type's input fields: declarations with types and rules checked
when a workflow is published (each problem with its line), the catalog a
form is built from, and a new request's data checked against them (every
field that does not fit named at once, nothing created), defaults filled in
before guards read the data; workflows without fields take any data as
before."""
import json, os, unittest
from sfharness import Server, req, register, make_user, assert_problem, main

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")

FLOW = """\
name: Equipment
type: equipment
description: Ask for equipment
fields:
  - {name: amount, type: number, required: true, min: 0, max: 1000000, label: Amount, description: Total in EUR}
  - name: justification
    type: text
    required: true
    min_length: 10
    max_length: 2000
  - {name: category, type: enum, options: [hardware, software, travel], default: hardware}
  - {name: count, type: integer, min: 1, max: 50, default: 1}
  - {name: urgent, type: boolean, default: false}
  - {name: needed_by, type: date, min: "2026-01-01"}
  - {name: contact, type: email}
  - {name: cost_centre, type: string, pattern: "[A-Z]{2}-[0-9]{3}"}
unknown_fields: reject
initial: draft
states:
  draft: {}
  review: {}
  done: {final: true}
transitions:
  - {action: submit, from: draft, to: review, guard: "data.amount > 1000 and data.category == 'hardware'"}
  - {action: close, from: [draft, review], to: done}
"""

GOOD = {"amount": 1500, "justification": "The old one broke down"}


def publish(srv, token, body, ctype="application/yaml"):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return req(srv, "POST", "/api/v1/workflows", raw=raw, token=token, headers={"Content-Type": ctype})


def line_of(text, needle):
    return [i + 1 for i, l in enumerate(text.splitlines()) if needle in l][0]


class WorkflowInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.admin = make_user(cls.srv, "admin")["access_token"]
        cls.cust = register(cls.srv)["access_token"]
        st, _, w = publish(cls.srv, cls.admin, FLOW)
        assert st == 201, w

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()

    def create(self, data, type_="equipment", token=None):
        return req(self.srv, "POST", "/api/v1/requests", {"type": type_, "title": "a chair", "data": data},
                   token=token or self.cust)

    def test_bad_declarations_are_named_with_their_lines(self):
        bad = FLOW.replace("type: equipment", "type: equipment_bad") + "sla: {}\n"
        edits = [
            ("options: [hardware, software, travel], default: hardware",
             "options: [hardware, software, hardware], default: food"),
            ("min: 1, max: 50", "min: 1.5, max: 50"),
            ("type: date, min: \"2026-01-01\"", "type: date, min: \"2026-02-30\""),
            ("{name: contact, type: email}", "{name: contact, type: email, max: 3, colour: red}"),
            ("pattern: \"[A-Z]{2}-[0-9]{3}\"", "pattern: \"[A-Z\""),
            ("    min_length: 10\n    max_length: 2000", "    min_length: 10\n    max_length: 5"),
            ("{name: urgent, type: boolean, default: false}", "{name: urgent, type: flag}"),
        ]
        for old, new in edits:
            self.assertIn(old, bad)
            bad = bad.replace(old, new)
        st, h, b = publish(self.srv, self.admin, bad)
        assert_problem(self, st, h, b, 422, code="invalid-workflow")
        got = {e["field"]: e.get("line") for e in b["errors"]}
        want = {
            "fields[2].options[2]": line_of(bad, "name: category"),
            "fields[3].min": line_of(bad, "name: count"),
            "fields[5].min": line_of(bad, "name: needed_by"),
            "fields[6].max": line_of(bad, "name: contact"),
            "fields[6].colour": line_of(bad, "name: contact"),
            "fields[7].pattern": line_of(bad, "name: cost_centre"),
            "fields[1].max_length": line_of(bad, "max_length: 5"),
            "fields[4].type": line_of(bad, "name: urgent"),
            "sla.targets": line_of(bad, "sla: {}"),  # a missing key: the line of the mapping that lacks it
        }
        for field, line in want.items():
            self.assertIn(field, got, b)
            self.assertEqual(got[field], line, (field, b))
        msgs = {e["field"]: e["message"] for e in b["errors"]}
        self.assertIn("POSIX extended regular expression", msgs["fields[7].pattern"])
        self.assertIn("does not apply to a field of type email", msgs["fields[6].max"])
        self.assertIn("listed twice", msgs["fields[2].options[2]"])
        # a default is checked against its own field
        st, h, b = publish(self.srv, self.admin, FLOW.replace("type: equipment", "type: equipment_dflt").replace(
            "default: hardware", "default: food"))
        assert_problem(self, st, h, b, 422, field="fields[2].default")
        self.assertEqual(b["errors"][0]["line"], line_of(FLOW, "name: category"))
        self.assertIn("must be one of: hardware, software, travel", b["errors"][0]["message"])
        for old, new, field in (("min: 0, max: 1000000", "min: 10, max: 1", "fields[0].max"),
                                ("type: enum, options: [hardware, software, travel], ", "type: enum, ",
                                 "fields[2].options"),
                                ("unknown_fields: reject", "unknown_fields: drop", "unknown_fields"),
                                ("min: 1, max: 50, default: 1", "min: 1, max: 50, default: 0", "fields[3].default")):
            st, h, b = publish(self.srv, self.admin, FLOW.replace("type: equipment", "type: eq_x").replace(old, new))
            assert_problem(self, st, h, b, 422, field=field)
            self.assertTrue(all(isinstance(e.get("line"), int) for e in b["errors"]), b)
        # nothing was stored
        st, _, _ = req(self.srv, "GET", "/api/v1/workflows/equipment_bad", token=self.admin)
        self.assertEqual(st, 404)

    def test_json_definitions_and_syntax_errors_have_lines_too(self):
        st, _, w = req(self.srv, "GET", "/api/v1/workflows/equipment", token=self.admin)
        d = w["definition"]
        d["type"] = "equipment_json"
        d["fields"][0]["min"] = "zero"
        text = json.dumps(d, indent=2, sort_keys=True)
        st, h, b = publish(self.srv, self.admin, text, ctype="application/json")
        assert_problem(self, st, h, b, 422, field="fields[0].min")
        self.assertEqual(b["errors"][0]["line"], line_of(text, '"min": "zero"'))
        st, h, b = publish(self.srv, self.admin, "name: x\ntype: y\nstates: [a, b\n")
        assert_problem(self, st, h, b, 400, field="definition")
        self.assertEqual(b["errors"][0]["line"], 4)

    def test_bad_data_names_every_field_at_once_and_creates_nothing(self):
        cust = register(self.srv)["access_token"]
        bad = {"amount": "ten", "justification": "short", "category": "food", "count": 2.5, "urgent": "yes",
               "needed_by": "2026-02-30", "contact": "not an address", "cost_centre": "ab-123", "colour": "red"}
        st, h, b = self.create(bad, token=cust)
        assert_problem(self, st, h, b, 422, code="validation")
        msgs = {e["field"]: e["message"] for e in b["errors"]}
        self.assertEqual(msgs, {
            "data.colour": "is not a field of this request type",
            "data.amount": "must be a number",
            "data.justification": "must be at least 10 characters",
            "data.category": "must be one of: hardware, software, travel",
            "data.count": "must be an integer",
            "data.urgent": "must be a boolean",
            "data.needed_by": "must be a date (YYYY-MM-DD)",
            "data.contact": "must be an email address",
            "data.cost_centre": "does not have the expected form",
        })
        for data, field, msg in (
                ({"justification": "The old one broke down"}, "data.amount", "is required (a number)"),
                ({"amount": 5, "justification": ""}, "data.justification", "is required (text)"),
                ({"amount": -1, "justification": "The old one broke down"}, "data.amount", "must be at least 0"),
                (dict(GOOD, amount=1000001), "data.amount", "must be at most 1000000"),
                (dict(GOOD, count=51), "data.count", "must be at most 50"),
                (dict(GOOD, needed_by="2025-12-31"), "data.needed_by", "must be on or after 2026-01-01"),
                (dict(GOOD, justification="x" * 2001), "data.justification", "must be at most 2000 characters"),
                (dict(GOOD, cost_centre="AB-1234"), "data.cost_centre", "does not have the expected form"),
                (dict(GOOD, contact="a@b"), "data.contact", "must be an email address"),
                (dict(GOOD, contact="a b@example.com"), "data.contact", "must be an email address")):
            st, h, b = self.create(data, token=cust)
            assert_problem(self, st, h, b, 422, field=field)
            self.assertEqual([(e["field"], e["message"]) for e in b["errors"]], [(field, msg)])
        st, _, lst = req(self.srv, "GET", "/api/v1/requests", token=cust)
        self.assertEqual(lst["data"], [])

    def test_defaults_are_filled_in_and_guards_read_them(self):
        st, _, r = self.create(dict(GOOD, contact="Ann.O'Neil+desk@example.co.uk", needed_by="2028-02-29",
                                    cost_centre="IT-042", category=""))
        self.assertEqual(st, 201, r)
        self.assertEqual(r["data"], dict(GOOD, contact="Ann.O'Neil+desk@example.co.uk", needed_by="2028-02-29",
                                         cost_centre="IT-042", category="hardware", count=1, urgent=False))
        # the guard reads amount and the defaulted category
        st, _, r = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                       token=self.cust)
        self.assertEqual((st, r.get("state")), (200, "review"), r)
        st, _, r = self.create(dict(GOOD, category="travel", urgent=True, count=3))
        self.assertEqual((st, r["data"]["category"], r["data"]["urgent"], r["data"]["count"]), (201, "travel", True, 3))
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                       token=self.cust)
        assert_problem(self, st, h, b, 409, code="guard-rejected")
        st, _, r = self.create(dict(GOOD, amount=500))
        st, h, b = req(self.srv, "POST", "/api/v1/requests/%s/transitions" % r["id"], {"action": "submit"},
                       token=self.cust)
        assert_problem(self, st, h, b, 409, code="guard-rejected")

    def test_the_catalog_shows_the_fields_to_everyone_signed_in(self):
        st, h, b = req(self.srv, "GET", "/api/v1/request-types")
        assert_problem(self, st, h, b, 401)
        staff = make_user(self.srv, "staff")["access_token"]
        for token in (self.cust, staff):
            st, _, b = req(self.srv, "GET", "/api/v1/request-types", token=token)
            self.assertEqual(st, 200, b)
            t = [x for x in b["data"] if x["type"] == "equipment"][0]
            self.assertEqual((t["name"], t["description"], t["version"], t["unknown_fields"]),
                             ("Equipment", "Ask for equipment", 1, "reject"))
            f = {x["name"]: x for x in t["fields"]}
            self.assertEqual(f["amount"], {"name": "amount", "type": "number", "required": True, "min": 0,
                                           "max": 1000000, "label": "Amount", "description": "Total in EUR"})
            self.assertEqual(f["category"]["options"], ["hardware", "software", "travel"])
            self.assertEqual(f["category"]["default"], "hardware")
            self.assertEqual(f["cost_centre"]["pattern"], "[A-Z]{2}-[0-9]{3}")
            self.assertEqual((f["justification"]["min_length"], f["justification"]["max_length"]), (10, 2000))
        st, _, w = req(self.srv, "GET", "/api/v1/workflows/equipment", token=self.admin)
        self.assertEqual(w["definition"]["fields"][2]["options"], ["hardware", "software", "travel"])
        # one type, for a form's page: the same entry
        st, _, one = req(self.srv, "GET", "/api/v1/request-types/equipment", token=self.cust)
        self.assertEqual((st, one), (200, t))
        for path, token, status in (("/api/v1/request-types/equipment", None, 401),
                                    ("/api/v1/request-types/nope", self.cust, 404)):
            st, h, b = req(self.srv, "GET", path, token=token)
            assert_problem(self, st, h, b, status)

    def test_workflows_without_fields_take_any_data(self):
        plain = FLOW.replace("type: equipment", "type: equipment_free")
        plain = plain[:plain.index("fields:")] + plain[plain.index("initial:"):]
        st, _, w = publish(self.srv, self.admin, plain)
        self.assertEqual(st, 201, w)
        st, _, r = self.create({"anything": [1, {"x": None}], "amount": "ten"}, type_="equipment_free")
        self.assertEqual((st, r["data"]), (201, {"anything": [1, {"x": None}], "amount": "ten"}), r)
        # fields without unknown_fields: reject keep other keys, as before
        st, _, w = publish(self.srv, self.admin, FLOW.replace("type: equipment", "type: equipment_open").replace(
            "unknown_fields: reject\n", ""))
        self.assertEqual(st, 201, w)
        st, _, r = self.create(dict(GOOD, extra={"kept": True}), type_="equipment_open")
        self.assertEqual((st, r["data"]["extra"]), (201, {"kept": True}), r)

    def test_the_examples_declare_their_fields(self):
        for name, type_, good, bad, field in (
                ("purchase.yaml", "purchase", {"amount": 250}, {"amount": 250, "colour": "red"}, "data.colour"),
                ("it_incident.yaml", "incident", {"priority": "P2"}, {"priority": "P5"}, "data.priority")):
            with open(os.path.join(EXAMPLES, name)) as f:
                st, _, w = publish(self.srv, self.admin, f.read())
            self.assertEqual(st, 201, w)
            st, _, r = self.create(good, type_=type_)
            self.assertEqual(st, 201, r)
            st, h, b = self.create(bad, type_=type_)
            assert_problem(self, st, h, b, 422, field=field)
        st, _, r = self.create({}, type_="incident")
        self.assertEqual((st, r["data"]), (201, {"priority": "P4"}))


if __name__ == "__main__":
    main()
