"""The dashboard (web/dashboard/, served at /) end to end: the real daemon seeded over HTTP with
reports this test makes (several domains and days; Google, Microsoft with sts and tlsa for the
same sessions, Mail.Ru, a Postfix site and a hosting provider's 150 domains; testing and enforce;
DANE; failures of several types; lint; malformed bodies for the quarantine), then
tests/e2e/dashboard.test.js drives Debian's headless Chromium through every view with
playwright-core and compares what is on screen with what the API says.

Three daemons: a fresh one (the empty state with the DNS records), a seeded one with API
authentication off, and the same database with authentication on (token sign-in with read and
admin tokens made by `tlsrptd token create`). Screenshots go to <build>/e2e-screenshots/.

Needs node (>= 18), tests/e2e/node_modules (npm ci; `make test` runs it) and /usr/bin/chromium.
Run alone: python3 tests/integration/test_dashboard.py (TLSRPTD=build/tlsrptd by default).
Seed a daemon by hand for development: python3 tests/integration/test_dashboard.py --seed URL.
"""
import datetime
import gzip
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, TLSRPTD, Daemon, curl  # noqa: E402

E2E_DIR = os.path.join(SOURCE_DIR, "tests", "e2e")
E2E_SCRIPT = os.path.join(E2E_DIR, "dashboard.test.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
E2E_TIMEOUT = 150
TODAY = datetime.datetime.now(datetime.timezone.utc).date()

GOOGLE = ("Google LLC", "smtp-tls-reporting@google.com")
MICROSOFT = ("Microsoft Corporation", "tlsrpt-noreply@microsoft.com")
MAILRU = ("Mail.Ru", "tlsrpt@corp.mail.ru")
POSTFIX = ("mx.sender-site.example", "mailto:postmaster@sender-site.example")
HOSTER = ("Hosting Provider AS", "tlsrpt@hosting-provider.example")
# Report-controlled strings that must reach the page as text, never as markup, links or classes.
HOSTILE = {
    "reporter": "<img src=x onerror=alert(1)>",
    "contact": "javascript:alert(1)",
    "result_type": "<b onmouseover=alert(1)>x</b>",
    "mx": "mx\"'><img src=x onerror=alert(2)>.example.net",
    "policy_mx": "mx\"q'.example.net",
    "mode": "enforce hidden",
    "report_id": "<script>alert(3)</script>",
}
# A 60-character policy domain and 70-character MX names (the 375 px layout must not scroll).
LONG_DOMAIN = "a" * 47 + ".long.example"
LONG_MX = ["mxinbound." + LONG_DOMAIN, "mxbackup1." + LONG_DOMAIN]
assert len(LONG_DOMAIN) == 60 and all(len(m) == 70 for m in LONG_MX)


def day(n_ago):
    return (TODAY - datetime.timedelta(days=n_ago)).isoformat()


def policy(ptype, domain, ok, fails=(), mode="testing", mx=None):
    """One policies[] entry. fails: (result_type, count, receiving_mx, sending_ip) tuples."""
    mx = list(mx) if mx is not None else ["mx1." + domain, "mx2." + domain]
    if ptype == "sts":
        strings = ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx] + ["max_age: 604800"]
    elif ptype == "tlsa":
        strings = ["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"]
    else:
        strings = []
    p = {
        "policy": {"policy-type": ptype, "policy-domain": domain},
        "summary": {"total-successful-session-count": ok,
                    "total-failure-session-count": sum(f[1] for f in fails)},
    }
    if strings:
        p["policy"]["policy-string"] = strings
    if ptype != "no-policy-found":
        p["policy"]["mx-host"] = mx
    if fails:
        p["failure-details"] = [
            {"result-type": rt, "sending-mta-ip": ip, "receiving-mx-hostname": rmx,
             "receiving-ip": "203.0.113.%d" % (10 + i), "failed-session-count": n}
            for i, (rt, n, rmx, ip) in enumerate(fails)]
    return p


_seq = [0]


def report(reporter, n_ago, policies, rid=None):
    _seq[0] += 1
    d = day(n_ago)
    return {
        "organization-name": reporter[0],
        "date-range": {"start-datetime": d + "T00:00:00Z", "end-datetime": d + "T23:59:59Z"},
        "contact-info": reporter[1],
        "report-id": rid or "%s_%s_%04d" % (d, reporter[0].split()[0].lower(), _seq[0]),
        "policies": policies,
    }


def fixtures():
    """(content_type, body) pairs: the seeded data set."""
    out = []

    def add(rep, gz=True):
        data = json.dumps(rep).encode()
        out.append(("application/tlsrpt+gzip", gzip.compress(data)) if gz
                   else ("application/tlsrpt+json", data))

    for n in range(1, 13):
        # example.com: MTA-STS enforce, clean for 12 days, two big reporters: ready.
        add(report(GOOGLE, n, [policy("sts", "example.com", 800 + 37 * n, mode="enforce")]))
        # Microsoft reports the same sessions as sts and as tlsa (the domain counts them once).
        ms = 300 + 11 * n
        add(report(MICROSOFT, n, [policy("sts", "example.com", ms, mode="enforce"),
                                  policy("tlsa", "example.com", ms)]))
        # example.net: testing, failures a switch to enforce would refuse: not-ready.
        fails = [("certificate-expired", 3 + n % 4, "mx2.example.net", "198.51.100.7")]
        if n % 3 == 0:
            fails.append(("starttls-not-supported", 2, "mx1.example.net", "198.51.100.23"))
        if n in (2, 5):
            fails.append(("sts-policy-fetch-error", 5, None, "192.0.2.44"))
        add(report(GOOGLE, n, [policy("sts", "example.net", 420 + 5 * n,
                                      [(rt, c, m, ip) for rt, c, m, ip in fails],
                                      mx=["mx1.example.net", "mx2.example.net"])]))
        if n % 2 == 0:
            add(report(MAILRU, n, [policy("sts", "example.net", 60 + n,
                                          [("certificate-host-mismatch", 1 + n % 3, "mail.example.net",
                                            "217.69.139.%d" % (n + 100))],
                                          mx=["mx1.example.net", "mx2.example.net"])]), gz=False)
        # example.org: DANE only, validation trouble from a Postfix site.
        if n <= 9:
            add(report(POSTFIX, n, [policy("tlsa", "example.org", 40 + n,
                                           [("tlsa-invalid", 1 + n % 2, "mx.example.org", "192.0.2.201")] +
                                           ([("dnssec-invalid", 2, "mx.example.org", "192.0.2.202")]
                                            if n % 4 == 1 else []),
                                           mx=["mx.example.org"])]))
    # example.io: one report three days ago, no policy found.
    add(report(MAILRU, 3, [policy("no-policy-found", "example.io", 12,
                                  [("validation-failure", 1, "mx.example.io", "217.69.139.9")])]))
    # A report with lint: a datetime without a zone and mx-host as a string.
    lint = report(POSTFIX, 4, [policy("sts", "example.net", 25, mode="testing",
                                      mx=["mx1.example.net", "mx2.example.net"])])
    lint["date-range"]["start-datetime"] = day(4) + "T00:00:00"
    lint["policies"][0]["policy"]["mx-host"] = "mx1.example.net"
    add(lint, gz=False)
    # Hostile strings: reporter, contact-info, a result type with HTML, MX names with quotes and a
    # mode that is not a mode; two more sending IPs make example.net's sending-IP table longer
    # than its first 10 rows ("Show all").
    add(report((HOSTILE["reporter"], HOSTILE["contact"]), 2, [
        policy("sts", "example.net", 31,
               [(HOSTILE["result_type"], 2, HOSTILE["mx"], "198.51.100.99"),
                ("certificate-expired", 1, "mx2.example.net", "198.51.100.98")],
               mode=HOSTILE["mode"], mx=["mx1.example.net", HOSTILE["policy_mx"]])],
        rid=HOSTILE["report_id"]), gz=False)
    # Long names.
    add(report(GOOGLE, 3, [policy("sts", LONG_DOMAIN, 90,
                                  [("certificate-host-mismatch", 3, LONG_MX[0], "192.0.2.77")],
                                  mode="testing", mx=LONG_MX)]))
    # A hosting provider's 150 customer domains in one report (the overview must stay usable).
    hosted = []
    for i in range(150):
        fails = [("certificate-not-trusted", 1 + i % 5, "mx.c%03d.hosted.example" % i, "192.0.2.9")] \
            if i % 7 == 0 else []
        hosted.append(policy("sts", "c%03d.hosted.example" % i, 5 + (i * 13) % 90, fails,
                             mode="enforce" if i % 2 else "testing",
                             mx=["mx.c%03d.hosted.example" % i]))
    add(report(HOSTER, 2, hosted))
    return out


BAD_BODIES = [
    # Not JSON: quarantined with the line and column.
    ("application/tlsrpt+json", b'{"organization-name": "Broken Sender", "policies": [\n  {"policy": }\n]}\n'),
    # JSON without a date range.
    ("application/tlsrpt+json", json.dumps({
        "organization-name": "Half Sender", "contact-info": "tlsrpt@half.example",
        "report-id": "half-1", "policies": []}).encode()),
]


def post(url, ctype, body):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def seed(base):
    """POSTs the fixtures and the malformed bodies to base (http://host:port)."""
    for ctype, body in fixtures():
        st, js = post(base + "/tlsrpt", ctype, body)
        assert st == 201, (st, js)
    for ctype, body in BAD_BODIES:
        st, js = post(base + "/tlsrpt", ctype, body)
        assert st == 400 and js["status"] == "quarantined", (st, js)


def mail_report(smtp_port):
    """Mails a gzip report without a DKIM signature: with dkim require it is held in quarantine
    (dkim-none) until an operator releases it. Returns nothing; the caller finds the row."""
    rep = report(GOOGLE, 1, [policy("sts", "example.net", 77,
                                    [("certificate-expired", 2, "mx2.example.net", "198.51.100.7")],
                                    mx=["mx1.example.net", "mx2.example.net"])], rid="mailed-1")
    m = EmailMessage()
    m["From"] = "noreply-smtp-tls-reporting@google.com"
    m["To"] = "tlsrpt@example.net"
    m["Subject"] = "Report Domain: example.net Submitter: google.com Report-ID: <mailed-1>"
    m["TLS-Report-Domain"] = "example.net"
    m["TLS-Report-Submitter"] = "google.com"
    m["Message-ID"] = "<mailed-1@google.com>"
    m.set_content("This is an aggregate TLS report from google.com")
    m.add_attachment(gzip.compress(json.dumps(rep).encode()), maintype="application",
                     subtype="tlsrpt+gzip", filename="google.com!example.net!mailed-1.json.gz")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
        s.ehlo("mail-sor-f41.google.com")
        s.send_message(m, "noreply-smtp-tls-reporting@google.com", ["tlsrpt@example.net"])


def make_token(db, *args):
    r = subprocess.run([TLSRPTD, "token", "create", "--db", db] + list(args), capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r
    return r.stdout.decode().strip()


def node_env():
    """The node binary, or a sentence saying what is missing."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not installed (make e2e-deps installs Debian's nodejs npm)"
    if not os.path.isdir(os.path.join(E2E_DIR, "node_modules", "playwright-core")):
        return None, "tests/e2e/node_modules is missing: run `make e2e-deps` (npm ci in tests/e2e)"
    if not os.access(CHROMIUM, os.X_OK):
        return None, CHROMIUM + " is missing (Debian package chromium; make deps installs it)"
    return node, None


class Dashboard(unittest.TestCase):
    def test_assets_served(self):
        """/ and /assets/... without a token even with api_auth on, strict headers, ETag/304,
        gzip, HEAD, 404 and 405; the API itself still wants a token."""
        with tempfile.TemporaryDirectory() as tmp, Daemon(tmp, "--api-auth", "on") as d:
            r = curl(d.url("/"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
            self.assertIn(b'<script src="/assets/app.js" defer></script>', r.body)
            csp = r.headers["content-security-policy"]
            for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                         "connect-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"):
                self.assertIn(part, csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff")
            self.assertEqual(r.headers["referrer-policy"], "no-referrer")
            self.assertEqual(r.headers["cache-control"], "no-cache")
            self.assertRegex(r.headers["etag"], r'^"[0-9a-f]{24}"$')
            self.assertNotIn(b" style=", r.body)
            self.assertNotIn(b"<script>", r.body)
            r304 = curl(d.url("/"), headers=["If-None-Match: " + r.headers["etag"]])
            self.assertEqual(r304.status, 304, r304)
            self.assertEqual(r304.headers["etag"], r.headers["etag"])
            for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                                ("app.css", "text/css; charset=utf-8"),
                                ("favicon.svg", "image/svg+xml")):
                plain = curl(d.url("/assets/" + name))
                self.assertEqual((plain.status, plain.headers["content-type"]), (200, ctype))
                with open(os.path.join(SOURCE_DIR, "web", "dashboard", name), "rb") as f:
                    self.assertEqual(plain.body, f.read(), name + " is not the embedded file")
                gz = curl(d.url("/assets/" + name), headers=["Accept-Encoding: gzip"])
                self.assertEqual(gz.status, 200)
                if gz.headers.get("content-encoding") == "gzip":
                    self.assertEqual(gzip.decompress(gz.body), plain.body)
                    self.assertNotEqual(gz.headers["etag"], plain.headers["etag"])
            self.assertEqual(curl(d.url("/assets/app.js"), headers=["Accept-Encoding: gzip"])
                             .headers.get("content-encoding"), "gzip")
            head = subprocess.run(["curl", "-sS", "-I", d.url("/assets/app.css")], capture_output=True,
                                  timeout=30)
            self.assertIn(b"200 OK", head.stdout)
            self.assertEqual(curl(d.url("/assets/nope.js")).status, 404)
            self.assertEqual(curl(d.url("/assets/../tlsrptd.db")).status, 404)
            self.assertEqual(curl(d.url("/index.html")).status, 404)
            r405 = curl(d.url("/"), data=b"x", method="POST")
            self.assertEqual(r405.status, 405)
            self.assertEqual(curl(d.url("/api/v1/domains")).status, 401)

    def test_dashboard_e2e(self):
        node, missing = node_env()
        if node is None:
            self.fail(missing)
        shots = os.path.join(os.path.dirname(os.path.abspath(TLSRPTD)), "e2e-screenshots")
        os.makedirs(shots, exist_ok=True)
        for name in os.listdir(shots):
            if name.startswith("FAILED-"):
                os.remove(os.path.join(shots, name))
        with tempfile.TemporaryDirectory() as tmp:
            fresh_dir = os.path.join(tmp, "fresh")
            os.makedirs(fresh_dir)
            db = os.path.join(tmp, "tlsrptd.db")
            # two of each rua kind configured: the page suggests the first of each
            with Daemon(fresh_dir, "--smtp", "127.0.0.1:0", "--smtp-recipients",
                        "tlsrpt@example.com @reports.example.net",
                        "--public-url", "https://tlsrpt.example.com/",
                        "--ingest-paths", "/tlsrpt /tlsrpt-b",
                        "--allowed-domains", "example.com example.net") as fresh, \
                    Daemon(tmp, "--smtp", "127.0.0.1:0", "--dkim", "require", db=db) as d:
                seed(d.url(""))
                m = re.search(r"event=listening proto=smtp addr=\S+ port=(\d+)", d.logtext())
                self.assertIsNotNone(m, d.logtext())
                mail_report(int(m.group(1)))
                with urllib.request.urlopen(d.url("/api/v1/quarantine"), timeout=30) as resp:
                    held = [q for q in json.loads(resp.read())["quarantine"]
                            if q["reason_code"].startswith("dkim")]
                self.assertEqual(len(held), 1, held)
                admin = make_token(db, "--role", "admin", "--name", "e2e admin")
                read = make_token(db, "--role", "read", "--domain", "example.net", "--name", "e2e read")
                with Daemon(tmp, "--api-auth", "on", db=db) as authd:
                    cfg = {
                        "open": d.url(""),
                        "fresh": fresh.url(""),
                        "auth": authd.url(""),
                        "admin_token": admin,
                        "read_token": read,
                        "read_domain": "example.net",
                        "smtp_quarantine": held[0]["id"],
                        "screenshots": shots,
                        "chromium": CHROMIUM,
                        "today": TODAY.isoformat(),
                        "hostile": HOSTILE,
                        "long_domain": LONG_DOMAIN,
                        "long_mx": LONG_MX,
                    }
                    t0 = time.time()
                    r = subprocess.run([node, E2E_SCRIPT, json.dumps(cfg)], cwd=E2E_DIR,
                                       capture_output=True, timeout=E2E_TIMEOUT)
                    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
                    sys.stderr.write(out)
                    sys.stderr.write("e2e: %.1f s\n" % (time.time() - t0))
                    self.assertEqual(r.returncode, 0, "the dashboard e2e test failed:\n" + out[-6000:])
                # authd is the daemon that was sent both tokens (sign-in, every API request):
                # neither may be in its log, nor in the others'.
                self.assertRegex(authd.logtext(), r"event=listening proto=http")
                for dd in (authd, d, fresh):
                    log = dd.logtext()
                    self.assertNotIn("level=error", log, log[-3000:])
                    for tok in (admin, read):
                        self.assertNotIn(tok, log)
                        secret = tok[len("tlsrpt_"):]
                        self.assertNotIn(secret[:16], log)   # no part of the secret either


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed":
        seed(sys.argv[2].rstrip("/"))
        print("seeded %s" % sys.argv[2])
        sys.exit(0)
    unittest.main(verbosity=2)
