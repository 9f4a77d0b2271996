"""Checks real HTTP answers against the server's own OpenAPI 3.1 document.

Contract(doc).check(method, path, status, headers, body) finds the operation
(path templates, the most literal match winning as in any router), and
returns what is wrong: a query parameter or a status the operation does not
declare, a content
type it does not declare for that status, or a body its schema (JSON Schema
2020-12, checked by the jsonschema package with $refs into the document)
refuses. Every answer checked is recorded per operation, so missing() can
name the operations a test never exercised."""
import re
from urllib.parse import urlsplit, parse_qsl

import jsonschema
from jsonschema import Draft202012Validator

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def _media(ctype):
    return (ctype or "").split(";")[0].strip().lower()


class Contract:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.ops = {}  # (method, template) -> operation
        for tpl, item in doc["paths"].items():
            for m in METHODS:
                if m in item:
                    self.ops[(m.upper(), tpl)] = item[m]
        self.seen = {k: set() for k in self.ops}  # (method, template) -> statuses answered

    def find(self, method, path):
        """The (method, template) of the operation a request reaches, or None."""
        segs = urlsplit(path).path.split("/")
        best, best_literals = None, -1
        for (m, tpl) in self.ops:
            if m != method:
                continue
            t = tpl.split("/")
            if len(t) != len(segs):
                continue
            literals = 0
            for a, b in zip(t, segs):
                if re.fullmatch(r"\{[^}]+\}", a):
                    if not b:
                        break
                elif a != b:
                    break
                else:
                    literals += 1
            else:
                if literals > best_literals:
                    best, best_literals = (m, tpl), literals
        return best

    def check(self, method, path, status, headers, body, known_query=True):
        """known_query=False: the request sent unknown query parameters on purpose."""
        key = self.find(method, path)
        where = "%s %s -> %d" % (method, path, status)
        if key is None:
            return ["%s: no operation in the document" % where]
        self.seen[key].add(status)
        declared_query = {p["name"] for p in self.ops[key].get("parameters", []) if p["in"] == "query"}
        problems = ["%s: query parameter %r not declared" % (where, name)
                    for name, _ in parse_qsl(urlsplit(path).query) if known_query and name not in declared_query]
        responses = self.ops[key]["responses"]
        resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100))
        if resp is None:
            return problems + ["%s: status %d not declared by %s %s (declared: %s)" %
                               (where, status, key[0], key[1], " ".join(sorted(responses)))]
        return problems + self._check_content(where, resp, headers, body)

    def _check_content(self, where, resp, headers, body):
        content = resp.get("content")
        ctype = _media(headers.get("content-type"))
        if not content:
            if body not in ("", b"", None):
                return ["%s: body sent where the document declares none" % where]
            return []
        if ctype not in content:
            return ["%s: content type %r not declared (declared: %s)" % (where, ctype, ", ".join(content))]
        schema = content[ctype].get("schema")
        if schema is None:
            return []
        validator = Draft202012Validator(schema, resolver=self.resolver, format_checker=jsonschema.FormatChecker())
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        return ["%s: body does not match the schema at /%s: %s" %
                (where, "/".join(str(p) for p in e.absolute_path), e.message[:300]) for e in errors[:5]]

    def missing(self):
        """Operations never answered with a 2xx, and operations that declare a
        client error of their own (beyond the 400/429 every operation may get)
        but were never answered with one."""
        out = []
        for key, seen in sorted(self.seen.items()):
            declared = self.ops[key]["responses"]
            if not any(200 <= s < 300 for s in seen):
                out.append("%s %s: no success answer exercised" % key)
            own_errors = [c for c in declared if c.startswith("4") and c not in ("400", "429")]
            if own_errors and not any(400 <= s < 500 for s in seen):
                out.append("%s %s: no client error exercised (declares %s)" % (key + (" ".join(own_errors),)))
        return out

    def unobserved(self):
        """Declared statuses no answer showed (for information: 500, 503 and
        507 are not provoked by this test)."""
        out = []
        for key, seen in sorted(self.seen.items()):
            rest = sorted(set(self.ops[key]["responses"]) - {str(s) for s in seen} - {"500", "503", "507", "429"})
            if rest:
                out.append("%s %s: %s" % (key + (" ".join(rest),)))
        return out
