"""Bearer tokens against the real daemon with api_auth on: tokens made and revoked with
`tlsrptd token`, 401 with WWW-Authenticate without or with a bad token, a read token scoped to
its domains (the JSON API and the CSV exports answer 404 for others), revocation, admin,
/metrics by token, ingest and health left open, last_used written, tokens never logged, and
api_auth off refused off loopback unless forced."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TLSRPTD, Daemon as HarnessDaemon, curl, make_report, report_bytes  # noqa: E402


def Daemon(tmpdir, *args, **kw):
    """The harness daemon without the SMTP listener (its fixed default port would collide
    between tests running at once)."""
    return HarnessDaemon(tmpdir, "--smtp-listen", "off", *args, **kw)

TOKEN_RE = re.compile(r"^tlsrpt_[A-Za-z0-9_-]{43}$")


def tlsrptd(*args, timeout=60):
    return subprocess.run([TLSRPTD] + list(args), capture_output=True, timeout=timeout)


def bearer(tok):
    return ["Authorization: Bearer " + tok]


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.db = os.path.join(cls.tmp.name, "tlsrptd.db")
        cls.tokens = []
        cls.admin = cls.make("--role", "admin", "--name", "ops")
        cls.read_a = cls.make("--role", "read", "--domain", "example.com", "--name", "team a")
        cls.read_all = cls.make("--role", "read", "--all-domains")
        cls.d = Daemon(cls.tmp.name, "--api-auth", "on", "--metrics-auth", "on", db=cls.db).start()
        cls.rid = {}
        for dom in ("example.com", "mail.example.com", "example.net"):
            r = curl(cls.d.url("/tlsrpt"), data=report_bytes(make_report(
                report_id="auth-" + dom, domain=dom, failures=[("certificate-expired", 2)])),
                content_type="application/tlsrpt+json")
            assert r.status == 201, r
            cls.rid[dom] = r.json()["report"]["id"]

    @classmethod
    def make(cls, *args):
        r = tlsrptd("token", "create", "--db", cls.db, *args)
        assert r.returncode == 0, r
        tok = r.stdout.decode().strip()
        assert TOKEN_RE.match(tok), tok
        cls.tokens.append(tok)
        return tok

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        try:
            log = cls.d.logtext()
            for tok in cls.tokens:
                assert tok not in log, "a token was logged"
                assert tok[7:20] not in log, "part of a token was logged"
        finally:
            cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def get(self, path, tok=None, **kw):
        return curl(self.d.url(path), headers=bearer(tok) if tok else (), **kw)

    def assert_401(self, r, invalid):
        self.assertEqual(r.status, 401, r)
        www = r.headers.get("www-authenticate", "")
        self.assertTrue(www.startswith("Bearer "), www)
        self.assertIn('realm="tlsrptd"', www)
        self.assertEqual('error="invalid_token"' in www, invalid, www)
        self.assertEqual(r.json()["error"]["code"], "unauthorized")

    def test_no_token_401(self):
        for p in ("/api/v1/reports", "/api/v1/reports/%d" % self.rid["example.com"],
                  "/api/v1/export/failures.csv", "/api/v1/nothing", "/metrics"):
            self.assert_401(self.get(p), invalid=False)

    def test_bad_tokens_401(self):
        fake = "tlsrpt_" + "A" * 43
        self.assert_401(self.get("/api/v1/reports", fake), invalid=True)
        self.assert_401(self.get("/api/v1/reports", self.admin[:-1]), invalid=True)
        self.assert_401(self.get("/api/v1/reports", self.admin + "x"), invalid=True)
        self.assert_401(self.get("/metrics", fake), invalid=True)
        for h in ("Authorization: Basic " + self.admin, "Authorization: Bearer",
                  "Authorization: Bearer " + "x" * 5000, "Authorization: Bearer a b",
                  "Authorization: " + self.admin):
            r = curl(self.d.url("/api/v1/reports"), headers=[h])
            self.assert_401(r, invalid=True)
        # The scheme is case-insensitive (RFC 7235).
        r = curl(self.d.url("/api/v1/export/reports.csv"),
                 headers=["Authorization: bearer  " + self.admin])
        self.assertEqual(r.status, 200, r)

    def test_ingest_and_health_stay_open(self):
        r = curl(self.d.url("/tlsrpt"), data=report_bytes(make_report(report_id="open-1")),
                 content_type="application/tlsrpt+json")
        self.assertIn(r.status, (200, 201), r)
        self.assertEqual(self.get("/healthz").status, 200)
        self.assertEqual(self.get("/readyz").status, 200)

    def test_read_token_scope_exports(self):
        r = self.get("/api/v1/export/failures.csv", self.read_a)
        self.assertEqual(r.status, 200, r)
        rows = r.body.decode().splitlines()[1:]
        doms = {row.split(",")[6] for row in rows}
        # Its domain and the subdomains of it, nothing else.
        self.assertEqual(doms, {"example.com", "mail.example.com"})
        # Another domain matches nothing, as if unknown.
        r = self.get("/api/v1/export/failures.csv?domain=example.net", self.read_a)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.body.decode().splitlines()), 1)
        self.assertEqual(self.get("/api/v1/export/reports.csv?domain=mail.example.com",
                                  self.read_a).status, 200)
        r = self.get("/api/v1/export/reports.csv", self.read_all)
        self.assertEqual(r.status, 200)
        self.assertIn(b"example.net", r.body)
        r = self.get("/api/v1/export/reports.csv", self.admin)
        self.assertEqual(r.status, 200)
        self.assertIn(b"example.net", r.body)

    def test_read_token_scope_json_api(self):
        a = self.get("/api/v1/reports/%d" % self.rid["example.com"], self.read_a)
        self.assertEqual(a.status, 200, a)
        self.assertEqual(self.get("/api/v1/reports/%d" % self.rid["mail.example.com"],
                                  self.read_a).status, 200)
        b = self.get("/api/v1/reports/%d" % self.rid["example.net"], self.read_a)
        self.assertEqual(b.status, 404, b)
        listed = self.get("/api/v1/reports?limit=500", self.read_a)
        self.assertEqual(listed.status, 200, listed)
        ids = {rep["id"] for rep in listed.json()["reports"]}
        self.assertNotIn(self.rid["example.net"], ids)
        self.assertIn(self.rid["example.com"], ids)

    def test_admin_sees_all(self):
        for dom, rid in self.rid.items():
            r = self.get("/api/v1/reports/%d" % rid, self.admin)
            self.assertEqual(r.status, 200, (dom, r))
            r = self.get("/api/v1/reports/%d" % rid, self.read_all)
            self.assertEqual(r.status, 200, (dom, r))
        r = self.get("/api/v1/export/failures.csv", self.admin)
        self.assertEqual(r.status, 200)
        self.assertIn(b"example.net", r.body)

    def test_metrics_by_token(self):
        self.assert_401(self.get("/metrics"), invalid=False)
        r = self.get("/metrics", self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b'tlsrptd_domain_sessions_total{domain="example.net"', r.body)
        r = self.get("/metrics", self.read_a)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b'tlsrptd_domain_sessions_total{domain="example.com"', r.body)
        self.assertIn(b'tlsrptd_domain_sessions_total{domain="mail.example.com"', r.body)
        self.assertNotIn(b'domain="example.net"', r.body)
        self.assertIn(b"tlsrptd_http_requests_total", r.body)

    def test_revoked_token_401(self):
        tok = self.make("--role", "read", "--domain", "example.net", "--name", "short-lived")
        self.assertEqual(self.get("/api/v1/export/reports.csv", tok).status, 200)
        lst = json.loads(tlsrptd("token", "list", "--json", "--db", self.db).stdout)
        tid = [t["id"] for t in lst if t["name"] == "short-lived"][0]
        r = tlsrptd("token", "revoke", str(tid), "--db", self.db)
        self.assertEqual(r.returncode, 0, r)
        # A running daemon trusts a cached token for a few seconds at most.
        deadline = time.time() + 15
        while time.time() < deadline:
            r = self.get("/api/v1/export/reports.csv", tok)
            if r.status == 401:
                break
            time.sleep(0.5)
        self.assert_401(r, invalid=True)
        lst = json.loads(tlsrptd("token", "list", "--json", "--db", self.db).stdout)
        self.assertIsNotNone([t for t in lst if t["id"] == tid][0]["revoked_at"])
        self.assertEqual(tlsrptd("token", "revoke", str(tid), "--db", self.db).returncode, 0)
        self.assertEqual(tlsrptd("token", "revoke", "999999", "--db", self.db).returncode, 65)
        self.assertEqual(tlsrptd("token", "revoke", "abc", "--db", self.db).returncode, 64)

    def test_last_used_written(self):
        tok = self.make("--role", "read", "--domain", "example.com", "--name", "usage")
        before = time.time()
        self.assertEqual(self.get("/api/v1/export/reports.csv", tok).status, 200)
        lst = json.loads(tlsrptd("token", "list", "--json", "--db", self.db).stdout)
        t = [t for t in lst if t["name"] == "usage"][0]
        self.assertIsNotNone(t["last_used_at"])
        self.assertGreaterEqual(t["last_used_at"], int(before) - 1)
        self.assertEqual(t["role"], "read")
        self.assertEqual(t["domains"], ["example.com"])
        text = tlsrptd("token", "list", "--db", self.db).stdout.decode()
        self.assertIn("usage", text)
        for tok in self.tokens:
            self.assertNotIn(tok, text)

    def test_token_cli_usage(self):
        self.assertEqual(tlsrptd("token", "create", "--db", self.db).returncode, 64)
        self.assertEqual(tlsrptd("token", "create", "--role", "read", "--db", self.db).returncode, 64)
        self.assertEqual(tlsrptd("token", "create", "--role", "admin", "--domain", "example.com",
                                 "--db", self.db).returncode, 64)
        self.assertEqual(tlsrptd("token", "create", "--role", "root", "--db", self.db).returncode, 64)
        self.assertEqual(tlsrptd("token", "create", "--role", "read", "--domain", "not a domain",
                                 "--db", self.db).returncode, 65)
        self.assertEqual(tlsrptd("token", "frobnicate", "--db", self.db).returncode, 64)
        r = tlsrptd("token", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"usage: tlsrptd token", r.stdout)


class AuthOffRefused(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "db")

    def tearDown(self):
        self.tmp.cleanup()

    def test_refused_off_loopback(self):
        r = tlsrptd("serve", "--db", self.db, "--http", "0.0.0.0:0", "--api-auth", "off",
                    "--smtp-listen", "off", timeout=30)
        self.assertEqual(r.returncode, 78, r)
        self.assertIn(b"api_auth off", r.stderr)
        r = tlsrptd("config", "--check", "--http", "[::]:8080", "--api-auth", "off")
        self.assertEqual(r.returncode, 78, r)
        for ok in (["--http", "127.0.0.2:8080", "--api-auth", "off"],
                   ["--http", "[::1]:8080", "--api-auth", "off"],
                   ["--http", "0.0.0.0:8080", "--api-auth", "on"],
                   ["--http", "0.0.0.0:8080", "--api-auth", "off", "--api-auth-force-off", "yes"]):
            r = tlsrptd("config", "--check", *ok)
            self.assertEqual(r.returncode, 0, (ok, r))
        for bad in (["--api-auth", "maybe"], ["--metrics-auth", "1"],
                    ["--api-auth-force-off", "on"]):
            r = tlsrptd("config", "--check", *bad)
            self.assertEqual(r.returncode, 78, (bad, r))

    def test_forced_off_starts_open(self):
        with Daemon(self.tmp.name, "--api-auth", "off", "--api-auth-force-off", "yes",
                    db=self.db) as d:
            self.assertEqual(curl(d.url("/api/v1/export/reports.csv")).status, 200)

    def test_default_is_on(self):
        r = tlsrptd("config", "--check")
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout.decode(), r"(?m)^api_auth on$")
        self.assertRegex(r.stdout.decode(), r"(?m)^metrics_auth on$")
        with Daemon(self.tmp.name, "--api-auth", "on", db=self.db) as d:
            self.assertEqual(curl(d.url("/api/v1/reports")).status, 401)
            # metrics_auth off (the harness default) leaves /metrics open.
            self.assertEqual(curl(d.url("/metrics")).status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
