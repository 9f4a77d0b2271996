"""The dev mailbox, read through the mail service's admin API (no SMTP server
configured: messages are kept, GET /api/v1/mail/messages?status=kept), for
the tests of what the server mails."""
import re
from sfharness import req

# a link of an account mail: <app_url>/<path>?token=<token>
LINK = r"(https?://[^\s\"<>]+/%s\?token=([A-Za-z0-9_-]+))"


def kept_mails(srv, admin, to, kind):
    """The kept messages of kind to the address, oldest first, each with its
    text and HTML (GET /api/v1/mail/messages/{id}); the list is newest first."""
    found, cursor = [], None
    for _ in range(50):
        path = "/api/v1/mail/messages?status=kept&limit=100" + ("&cursor=" + cursor if cursor else "")
        st, _, b = req(srv, "GET", path, token=admin)
        assert st == 200, (st, b)
        found += [m["id"] for m in b["data"] if m["kind"] == kind and m["to"] == to]
        cursor = b.get("next_cursor")
        if not cursor:
            break
    out = []
    for mid in reversed(found):
        st, _, m = req(srv, "GET", "/api/v1/mail/messages/" + mid, token=admin)
        assert st == 200, (st, m)
        out.append(m)
    return out


def link_token(mail, path):
    m = re.search(LINK % re.escape(path), mail["text"])
    assert m, mail
    return m.group(2)
