"""HTTP ingest against the real daemon with curl: new, duplicate, conflict, malformed,
oversize, not our domain, unsupported media, storage unavailable, health and the read API."""
import gzip
import json
import os
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, curl, make_report, report_bytes  # noqa: E402


class HttpIngest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = Daemon(cls.tmp.name, "--allowed-domains", "example.com example.net",
                       "--max-body-size", "64K", "--db-busy-timeout", "300", "--retry-after", "7").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def post(self, data, ctype="application/tlsrpt+json", **kw):
        return curl(self.d.url("/tlsrpt"), data=data, content_type=ctype, **kw)

    def test_new_then_duplicates(self):
        rep = make_report(report_id="dup-1", success=40, failures=[("starttls-not-supported", 3)])
        r = self.post(report_bytes(rep))
        self.assertEqual(r.status, 201, r)
        body = r.json()
        self.assertEqual(body["status"], "accepted")
        rid = body["report"]["id"]
        self.assertEqual(body["report"]["url"], "/api/v1/reports/%d" % rid)
        self.assertEqual(body["domains"], ["example.com"])

        # The same report again, as JSON and as gzip under mislabelled types: duplicates.
        r2 = self.post(report_bytes(rep), ctype="application/json")
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json()["status"], "duplicate")
        self.assertEqual(r2.json()["report"]["id"], rid)
        r3 = self.post(report_bytes(rep, gz=True), ctype="application/octet-stream")
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(r3.json()["report"]["id"], rid)
        r4 = self.post(report_bytes(rep, gz=True), ctype="application/tlsrpt+gzip")
        self.assertEqual(r4.status, 200, r4)

        got = curl(self.d.url("/api/v1/reports/%d" % rid))
        self.assertEqual(got.status, 200, got)
        doc = got.json()
        self.assertEqual(len(doc["copies"]), 4)
        self.assertTrue(all(c["transport"] == "http" for c in doc["copies"]))
        self.assertEqual(doc["copies"][0]["peer"], "127.0.0.1")
        self.assertEqual(doc["report"]["report_id"], "dup-1")
        self.assertEqual(doc["report"]["policies"][0]["successful"], 40)
        self.assertEqual(doc["report"]["policies"][0]["failed"], 3)

        # Counted once: the daily rollup has this report's numbers exactly once.
        rows = self.d.db_rows("SELECT COUNT(*) FROM reports WHERE report_id = 'dup-1'")
        self.assertEqual(rows[0][0], 1)

    def test_gzip_with_content_encoding_and_json_is_same_report(self):
        rep = make_report(report_id="enc-1")
        r = self.post(report_bytes(rep, gz=True), ctype="application/json", headers=["Content-Encoding: gzip"])
        self.assertEqual(r.status, 201, r)
        r2 = self.post(report_bytes(rep))
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json()["report"]["id"], r.json()["report"]["id"])

    def test_conflict_same_key_other_content(self):
        a = make_report(report_id="conf-1", success=10)
        b = make_report(report_id="conf-1", success=11)
        ra = self.post(report_bytes(a))
        self.assertEqual(ra.status, 201, ra)
        rb = self.post(report_bytes(b))
        self.assertEqual(rb.status, 201, rb)
        self.assertEqual(rb.json()["status"], "conflict")
        self.assertEqual(rb.json()["conflict_of"], ra.json()["report"]["id"])
        self.assertNotEqual(rb.json()["report"]["id"], ra.json()["report"]["id"])
        # A second copy of the conflicting version is a duplicate of it, not a new conflict.
        rc = self.post(report_bytes(b))
        self.assertEqual(rc.status, 200, rc)
        self.assertEqual(rc.json()["report"]["id"], rb.json()["report"]["id"])

    def test_malformed_json_is_400_with_position_and_quarantined(self):
        body = b'{\n  "organization-name": "X",\n  "policies": [ }\n'
        r = self.post(body)
        self.assertEqual(r.status, 400, r)
        err = r.json()["error"]
        self.assertEqual(err["line"], 3)
        self.assertGreater(err["column"], 0)
        self.assertTrue(err["reason"])
        qid = r.json()["quarantine_id"]
        rows = self.d.db_rows("SELECT reason_code, raw_len, seen_count FROM quarantine WHERE id = ?", (qid,))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1], len(body))
        self.assertEqual(rows[0][2], 1)
        # The same bytes again: the same quarantine row, seen twice.
        r2 = self.post(body)
        self.assertEqual(r2.status, 400, r2)
        self.assertEqual(r2.json()["quarantine_id"], qid)
        rows = self.d.db_rows("SELECT seen_count FROM quarantine WHERE id = ?", (qid,))
        self.assertEqual(rows[0][0], 2)

    def test_semantic_error_names_the_path(self):
        rep = make_report(report_id="neg-1")
        rep["policies"][0]["summary"]["total-successful-session-count"] = -5
        r = self.post(report_bytes(rep))
        self.assertEqual(r.status, 400, r)
        self.assertIn("policies[0].summary.total-successful-session-count", r.json()["error"]["path"])

    def test_truncated_gzip_is_400(self):
        data = report_bytes(make_report(report_id="trunc-1"), gz=True)[:40]
        r = self.post(data, ctype="application/tlsrpt+gzip")
        self.assertEqual(r.status, 400, r)
        self.assertIn("gzip", r.json()["error"]["code"])

    def test_oversize_by_content_length_is_413(self):
        big = b" " * (70 * 1024) + report_bytes(make_report(report_id="big-1"))
        r = self.post(big)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.d.db_rows("SELECT COUNT(*) FROM reports WHERE report_id='big-1'")[0][0], 0)

    def test_oversize_chunked_is_413(self):
        big = b" " * (70 * 1024) + report_bytes(make_report(report_id="big-2"))
        r = self.post(big, chunked=True)
        self.assertEqual(r.status, 413, r)

    def test_not_our_domain_is_403_and_quarantined(self):
        rep = make_report(report_id="other-1", domain="example.org")
        r = self.post(report_bytes(rep))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["code"], "domain-not-served")
        qid = r.json()["quarantine_id"]
        rows = self.d.db_rows("SELECT reason_code FROM quarantine WHERE id = ?", (qid,))
        self.assertEqual(rows, [("domain-not-served",)])

    def test_subdomain_of_served_domain_is_accepted(self):
        rep = make_report(report_id="sub-1", domain="Mail.Example.NET.")
        r = self.post(report_bytes(rep))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["domains"], ["mail.example.net"])

    def test_unsupported_media_is_415(self):
        r = self.post(b"\x89PNG\r\n\x1a\n not a report", ctype="image/png")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(r.json()["status"], "quarantined")

    def test_wrong_method_and_unknown_path(self):
        self.assertEqual(curl(self.d.url("/tlsrpt")).status, 405)
        self.assertEqual(curl(self.d.url("/nope")).status, 404)
        self.assertEqual(curl(self.d.url("/api/v1/reports/999999")).status, 404)
        self.assertEqual(curl(self.d.url("/api/v1/reports?limit=0")).status, 400)

    def test_health_and_list(self):
        self.assertEqual(curl(self.d.url("/healthz")).status, 200)
        self.assertEqual(curl(self.d.url("/readyz")).status, 200)
        for i in range(3):
            self.assertIn(self.post(report_bytes(make_report(report_id="list-%d" % i))).status, (201,))
        page = curl(self.d.url("/api/v1/reports?limit=2")).json()
        self.assertEqual(len(page["reports"]), 2)
        ids = [r["id"] for r in page["reports"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertIsNotNone(page["next_before"])
        nxt = curl(self.d.url("/api/v1/reports?limit=2&before=%d" % page["next_before"])).json()
        self.assertTrue(all(r["id"] < min(ids) for r in nxt["reports"]))
        first = page["reports"][0]
        for key in ("id", "reporter", "report_id", "window", "domains", "totals", "copies"):
            self.assertIn(key, first)

    def test_storage_unavailable_is_503_then_recovers(self):
        # Another process holds the write lock: the daemon must answer 503 + Retry-After, not 2xx.
        con = sqlite3.connect(self.d.db, timeout=10, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            rep = make_report(report_id="busy-1")
            r = self.post(report_bytes(rep))
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.headers.get("retry-after"), "7")
            self.assertEqual(curl(self.d.url("/readyz")).status, 503)
        finally:
            con.execute("ROLLBACK")
            con.close()
        r = self.post(report_bytes(rep))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(curl(self.d.url("/readyz")).status, 200)


class SeveralPaths(unittest.TestCase):
    def test_secret_path_and_no_domain_list(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Daemon(tmp, "--ingest-paths", "/v1/tlsrpt /s3cr3t-path").start()
            try:
                rep = make_report(report_id="path-1", domain="anything.example")
                r = curl(d.url("/s3cr3t-path"), data=report_bytes(rep), content_type="application/tlsrpt+json")
                self.assertEqual(r.status, 201, r)
                self.assertEqual(curl(d.url("/tlsrpt"), data=b"{}", content_type="application/json").status, 404)
            finally:
                self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
