"""The JSON API (/api/v1) against the real daemon with curl, seeded through its own HTTP ingest
with reports this test makes: several domains, days, reporters (Google Inc., Microsoft
Corporation, ...), result types, testing and enforce modes, an MX outside its policy. Every
endpoint and filter, pagination to the end, ETag / 304, gzip, 400s that name the parameter,
readiness verdicts, quarantine reprocess and delete, and the admin / domain scope of tokens."""
import datetime
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TLSRPTD, Daemon, curl  # noqa: E402

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
NEGOTIATION = ["starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
               "certificate-not-trusted", "validation-failure"]
DAEMON_ARGS = ("--smtp-listen", "off", "--lmtp-listen", "off")


def day(n_ago):
    return (TODAY - datetime.timedelta(days=n_ago)).isoformat()


_seq = [0]


def report(domain, org, n_ago, ok, fails=(), mode="testing", mx=None, also_tlsa=False):
    """One report dict. fails: (result_type, count, receiving_mx, sending_ip) tuples."""
    _seq[0] += 1
    mx = list(mx) if mx is not None else ["mx1." + domain]
    d = day(n_ago)

    def policy(ptype, strings):
        return {
            "policy": {"policy-type": ptype, "policy-string": strings, "policy-domain": domain,
                       "mx-host": mx},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": sum(f[1] for f in fails)},
            "failure-details": [
                {"result-type": rt, "sending-mta-ip": sip, "receiving-mx-hostname": host,
                 "failed-session-count": n} for rt, n, host, sip in fails],
        }

    pols = [policy("sts", ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx] +
                   ["max_age: 604800"])]
    if also_tlsa:
        pols.append(policy("tlsa", ["3 1 1 0123456789abcdef"]))
    return {
        "organization-name": org,
        "date-range": {"start-datetime": d + "T00:00:00Z", "end-datetime": d + "T23:59:59Z"},
        "contact-info": "tlsrpt@" + org.split()[0].lower() + ".example",
        "report-id": "%s-%s-%d" % (d, domain, _seq[0]),
        "policies": pols,
    }


def post(d, rep, expect=201):
    body = json.dumps(rep).encode()
    r = curl(d.url("/tlsrpt"), data=body, content_type="application/tlsrpt+json")
    assert r.status == expect, r
    return r.json(), body


def get(d, path, headers=()):
    return curl(d.url(path), headers=headers)


def codes(doc, key="reasons"):
    return [x["code"] for x in doc[key]]


def tlsrptd(*args):
    return subprocess.run([TLSRPTD] + list(args), capture_output=True, timeout=60)


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = Daemon(cls.tmp.name, *DAEMON_ARGS, "--api-auth", "off").start()
        cls.posted = {}   # report id -> the JSON bytes posted
        d = cls.d
        for n in range(1, 11):
            for org in ("Google Inc.", "Microsoft Corporation"):
                cls.keep(post(d, report("ready.example", org, n, 200, mx=["*.mx.ready.example"])))
                fails = ()
                if n == 3 and org == "Google Inc.":
                    fails = (("certificate-expired", 5, "mx1.fail.example", "192.0.2.10"),
                             ("starttls-not-supported", 2, "mx1.fail.example", "192.0.2.11"),
                             ("certificate-expired", 1, "mx1.fail.example", "192.0.2.12"))
                cls.keep(post(d, report("fail.example", org, n, 300, fails)))
                fails = ()
                if n == 2:
                    fails = (("validation-failure", 4, "backup.elsewhere.example", "198.51.100.7"),)
                cls.keep(post(d, report("mxout.example", org, n, 150, fails,
                                        mx=["mx1.mxout.example", "*.mx.mxout.example"])))
            # Microsoft-style: the same sessions under sts and tlsa, enforce mode.
            cls.keep(post(d, report("enf.example", "Microsoft Corporation", n, 50, mode="enforce",
                                    also_tlsa=True)))
        cls.keep(post(d, report("little.example", "Mail.ru", 1, 20)))
        cls.n_reports = len(cls.posted)

    @classmethod
    def keep(cls, res):
        doc, body = res
        cls.posted[doc["report"]["id"]] = body

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def ok(self, path, headers=()):
        r = get(self.d, path, headers)
        self.assertEqual(r.status, 200, (path, r))
        self.assertEqual(r.headers.get("content-type"), "application/json", path)
        return r.json()

    def bad(self, path, param):
        r = get(self.d, path)
        self.assertEqual(r.status, 400, (path, r))
        err = r.json()["error"]
        self.assertEqual(err["code"], "bad-parameter", path)
        self.assertEqual(err.get("parameter"), param, (path, err))
        self.assertTrue(err["reason"], path)
        return err

    # ---- /domains ----

    def test_domains(self):
        doc = self.ok("/api/v1/domains")
        self.assertEqual(doc["window"]["days"], 30)
        names = [x["domain"] for x in doc["domains"]]
        self.assertEqual(names, sorted(names))
        self.assertEqual(set(names), {"ready.example", "fail.example", "mxout.example",
                                      "enf.example", "little.example"})
        by = {x["domain"]: x for x in doc["domains"]}
        ready = by["ready.example"]
        self.assertEqual(ready["sessions"], 10 * 2 * 200)
        self.assertEqual(ready["failures"], 0)
        self.assertEqual(ready["failure_rate"], 0)
        self.assertEqual(ready["reporters"], 2)
        self.assertEqual([m["mode"] for m in ready["policy_modes"]], ["testing"])
        self.assertEqual(ready["previous"]["sessions"], 0)
        self.assertEqual(ready["change"]["sessions"], 4000)
        self.assertIsNone(ready["change"]["sessions_pct"])
        self.assertEqual(ready["data"]["last_day"], day(1))
        self.assertIn("received_at", ready["last_report"])
        fail = by["fail.example"]
        self.assertEqual(fail["failures"], 8)
        self.assertAlmostEqual(fail["failure_rate"], 8 / 6008, places=5)
        # sts and tlsa of the same report are not summed.
        self.assertEqual(by["enf.example"]["sessions"], 10 * 50)
        self.assertEqual([m["mode"] for m in by["enf.example"]["policy_modes"]], ["enforce"])

    def test_domains_window_and_previous(self):
        # Days 5..1 ago against days 10..6 ago.
        doc = self.ok("/api/v1/domains?from=%s&to=%s" % (day(5), day(0)))
        self.assertEqual(doc["window"]["days"], 5)
        self.assertEqual(doc["previous_window"]["to"], doc["window"]["from"])
        by = {x["domain"]: x for x in doc["domains"]}
        self.assertEqual(by["ready.example"]["sessions"], 5 * 400)
        self.assertEqual(by["ready.example"]["previous"]["sessions"], 5 * 400)
        self.assertEqual(by["ready.example"]["change"]["sessions"], 0)
        self.assertEqual(by["ready.example"]["change"]["sessions_pct"], 0)
        self.assertEqual(by["little.example"]["sessions"], 20)
        # RFC 3339 with an offset works too, and a window with no data is all zeros.
        doc = self.ok("/api/v1/domains?from=2001-01-01T00:00:00%2B02:00&to=2001-02-01")
        self.assertTrue(all(x["sessions"] == 0 for x in doc["domains"]))

    # ---- summary ----

    def test_summary(self):
        doc = self.ok("/api/v1/domains/fail.example/summary")
        self.assertEqual(doc["totals"]["sessions"], 6008)
        self.assertEqual(doc["totals"]["failures"], 8)
        bd = doc["breakdowns"]
        self.assertEqual(set(bd), {"result_type", "reporter", "receiving_mx", "receiving_ip",
                                   "sending_ip", "policy_type"})
        rt = {e["key"]: e for e in bd["result_type"]["entries"]}
        self.assertEqual(rt["certificate-expired"]["sessions"], 6)
        self.assertAlmostEqual(rt["certificate-expired"]["share"], 0.75, places=5)
        self.assertEqual(rt["starttls-not-supported"]["sessions"], 2)
        self.assertEqual(bd["result_type"]["measure"], "failed_sessions")
        rep = {e["key"]: e for e in bd["reporter"]["entries"]}
        self.assertEqual(rep["Google Inc."]["sessions"], 3008)
        self.assertEqual(rep["Microsoft Corporation"]["failed"], 0)
        self.assertEqual(bd["reporter"]["measure"], "sessions")
        self.assertEqual([e["key"] for e in bd["receiving_mx"]["entries"]], ["mx1.fail.example"])
        self.assertEqual(bd["receiving_ip"]["entries"][0]["key"], None)  # not reported
        self.assertEqual(len(bd["sending_ip"]["entries"]), 3)
        self.assertEqual(bd["policy_type"]["entries"][0]["key"], "sts")
        for b in bd.values():
            total = sum(e["sessions"] for e in b["entries"]) + (b["other"] or {}).get("sessions", 0)
            self.assertEqual(total, b["total"])
        # top=1: one entry and the rest on the other line.
        doc = self.ok("/api/v1/domains/fail.example/summary?top=1")
        sip = doc["breakdowns"]["sending_ip"]
        self.assertEqual(len(sip["entries"]), 1)
        self.assertEqual(sip["entries"][0]["key"], "192.0.2.10")
        self.assertEqual(sip["other"], {"keys": 2, "sessions": 3, "share": 0.375})
        # A window without the failing day.
        doc = self.ok("/api/v1/domains/fail.example/summary?from=%s" % day(2))
        self.assertEqual(doc["totals"]["failures"], 0)
        self.assertEqual(doc["breakdowns"]["result_type"]["entries"], [])
        # Upper-case and a trailing dot name the same domain.
        doc = self.ok("/api/v1/domains/FAIL.Example./summary")
        self.assertEqual(doc["domain"], "fail.example")

    def test_summary_sts_and_tlsa(self):
        doc = self.ok("/api/v1/domains/enf.example/summary")
        self.assertEqual(doc["totals"]["sessions"], 500)
        pt = {e["key"]: e["sessions"] for e in doc["breakdowns"]["policy_type"]["entries"]}
        self.assertEqual(pt, {"sts": 500, "tlsa": 500})

    # ---- timeseries ----

    def test_timeseries(self):
        doc = self.ok("/api/v1/domains/fail.example/timeseries?from=%s&to=%s" % (day(6), day(0)))
        self.assertEqual(doc["interval"], "day")
        b = doc["buckets"]
        self.assertEqual([x["start"] for x in b], [day(n) for n in range(6, 0, -1)])
        self.assertEqual(set(doc["result_types"]), {"certificate-expired", "starttls-not-supported"})
        for x in b:
            self.assertEqual(set(x["by_result_type"]), set(doc["result_types"]))
            self.assertEqual(x["sessions"], x["successful"] + x["failed"])
        three = b[3]
        self.assertEqual(three["start"], day(3))
        self.assertEqual(three["failed"], 8)
        self.assertEqual(three["by_result_type"], {"certificate-expired": 6, "starttls-not-supported": 2})
        self.assertEqual(b[0]["by_result_type"]["certificate-expired"], 0)
        # Default window: 30 buckets, zeros before the data.
        doc = self.ok("/api/v1/domains/fail.example/timeseries")
        self.assertEqual(len(doc["buckets"]), 30)
        self.assertEqual(doc["buckets"][0]["sessions"], 0)
        self.assertEqual(sum(x["sessions"] for x in doc["buckets"]), 6008)
        # Weeks start on Monday; the first and last are clipped to the window.
        doc = self.ok("/api/v1/domains/fail.example/timeseries?interval=week&from=%s" % day(20))
        w = doc["buckets"]
        self.assertEqual(w[0]["start"], day(20))
        for x in w[1:]:
            self.assertEqual(datetime.date.fromisoformat(x["start"]).weekday(), 0)
        self.assertEqual(sum(x["sessions"] for x in w), 6008)
        self.assertEqual(sum(x["by_result_type"].get("certificate-expired", 0) for x in w), 6)

    # ---- readiness ----

    def test_readiness_ready(self):
        doc = self.ok("/api/v1/domains/ready.example/readiness")
        self.assertEqual(doc["verdict"], "ready", doc)
        self.assertEqual(doc["reasons"], [])
        self.assertEqual(doc["days"], 14)
        self.assertEqual(doc["days_of_data"]["clean_days"], 10)
        self.assertEqual(doc["reporters"]["major"], {"google": True, "microsoft": True})
        self.assertEqual(doc["policy"]["mx_patterns"], ["*.mx.ready.example"])
        self.assertEqual(doc["sessions"]["would_refuse"], 0)

    def test_readiness_not_ready(self):
        doc = self.ok("/api/v1/domains/fail.example/readiness")
        self.assertEqual(doc["verdict"], "not-ready", doc)
        self.assertIn("would-refuse", codes(doc))
        self.assertNotIn("mx-outside-policy", codes(doc))
        self.assertEqual(doc["sessions"]["would_refuse"], 8)
        self.assertEqual(doc["sessions"]["by_result_type"],
                         {"certificate-expired": 6, "starttls-not-supported": 2})
        self.assertEqual(doc["days_of_data"]["clean_days"], 2)
        for r in doc["reasons"]:
            self.assertTrue(r["message"])
        # Two days back the failing day is out of the window.
        doc = self.ok("/api/v1/domains/fail.example/readiness?days=2")
        self.assertEqual(doc["verdict"], "ready", doc)

    def test_readiness_insufficient_data(self):
        doc = self.ok("/api/v1/domains/little.example/readiness")
        self.assertEqual(doc["verdict"], "insufficient-data", doc)
        c = codes(doc)
        for code in ("too-few-sessions", "too-few-reporters", "too-few-clean-days"):
            self.assertIn(code, c)
        self.assertIn("major-reporter-missing", codes(doc, "notes"))

    def test_readiness_mx_outside_policy(self):
        doc = self.ok("/api/v1/domains/mxout.example/readiness")
        self.assertEqual(doc["verdict"], "not-ready", doc)
        self.assertIn("mx-outside-policy", codes(doc))
        mx = {m["host"]: m for m in doc["receiving_mx"]}
        self.assertFalse(mx["backup.elsewhere.example"]["in_policy"])
        self.assertEqual(sorted(doc["policy"]["mx_patterns"]),
                         ["*.mx.mxout.example", "mx1.mxout.example"])

    def test_readiness_enforce(self):
        doc = self.ok("/api/v1/domains/enf.example/readiness")
        self.assertEqual(doc["policy"]["modes"][0]["mode"], "enforce")
        self.assertEqual(doc["verdict"], "insufficient-data", doc)  # one reporter only
        self.assertEqual(codes(doc), ["too-few-reporters"])

    # ---- reports ----

    def page_all(self, query, limit):
        ids, before, pages = [], None, 0
        while True:
            q = "limit=%d" % limit + ("&before=%d" % before if before else "") + query
            doc = self.ok("/api/v1/reports?" + q)
            ids += [x["id"] for x in doc["reports"]]
            pages += 1
            self.assertLess(pages, 500)
            if doc["next_before"] is None:
                return ids
            before = doc["next_before"]

    def test_reports_pagination(self):
        everything = self.page_all("", 500)
        self.assertGreaterEqual(len(everything), self.n_reports)
        self.assertEqual(everything, sorted(everything, reverse=True))
        paged = self.page_all("", 7)
        self.assertEqual(paged, everything)
        first = self.ok("/api/v1/reports?limit=1")
        self.assertEqual(first["next_before"], everything[0])
        item = first["reports"][0]
        for key in ("id", "reporter", "report_id", "window", "domains", "totals", "copies",
                    "conflict_of", "received_at"):
            self.assertIn(key, item)

    def test_reports_filters(self):
        ids = self.page_all("&domain=fail.example", 5)
        self.assertEqual(len(ids), 20)
        ids = self.page_all("&domain=fail.example&reporter=google%20inc.", 5)
        self.assertEqual(len(ids), 10)
        ids = self.page_all("&domain=fail.example&has_failures=true", 5)
        self.assertEqual(len(ids), 1)
        doc = self.ok("/api/v1/reports/%d" % ids[0])
        self.assertEqual(doc["totals"]["failed"], 8)
        ids = self.page_all("&has_failures=1&result_type=validation-failure", 5)
        self.assertEqual(len(ids), 2)
        ids = self.page_all("&result_type=starttls-not-supported", 5)
        self.assertEqual(len(ids), 1)
        ids = self.page_all("&domain=ready.example&has_failures=false", 50)
        self.assertEqual(len(ids), 20)
        # Windows ending after from and starting before to: one day.
        ids = self.page_all("&domain=ready.example&from=%s&to=%s" % (day(4), day(3)), 50)
        self.assertEqual(len(ids), 2)
        for i in ids:
            self.assertTrue(self.ok("/api/v1/reports/%d" % i)["window"]["start"].startswith(day(4)))
        self.assertEqual(self.page_all("&domain=nowhere.example", 5), [])
        self.assertEqual(self.page_all("&reporter=Nobody", 5), [])

    def test_report_and_raw(self):
        rid = max(self.posted)
        doc = self.ok("/api/v1/reports/%d" % rid)
        self.assertEqual(doc["id"], rid)
        self.assertEqual(len(doc["copies"]), 1)
        self.assertEqual(doc["copies"][0]["transport"], "http")
        self.assertEqual(doc["copies"][0]["meta"]["content_type"], "application/tlsrpt+json")
        self.assertEqual(doc["report"]["report_id"], json.loads(self.posted[rid])["report-id"])
        r = get(self.d, "/api/v1/reports/%d/raw" % rid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.body, self.posted[rid])
        self.assertEqual(get(self.d, "/api/v1/reports/999999").status, 404)
        self.assertEqual(get(self.d, "/api/v1/reports/999999/raw").status, 404)
        self.assertEqual(get(self.d, "/api/v1/reports/1/cooked").status, 404)

    # ---- polling: ETag, 304, gzip ----

    def test_etag_304_and_new_data(self):
        path = "/api/v1/domains/little.example/summary"
        r1 = get(self.d, path)
        etag = r1.headers["etag"]
        self.assertTrue(etag.startswith('W/"'), etag)
        self.assertEqual(r1.headers["cache-control"], "private, no-cache")
        self.assertEqual(r1.headers["vary"], "Accept-Encoding")
        r2 = get(self.d, path, ["If-None-Match: " + etag])
        self.assertEqual(r2.status, 304, r2)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.headers["etag"], etag)
        self.assertEqual(get(self.d, path, ['If-None-Match: "x", ' + etag]).status, 304)
        self.assertEqual(get(self.d, path, ["If-None-Match: *"]).status, 304)
        self.assertEqual(get(self.d, path, ['If-None-Match: W/"other"']).status, 200)
        # Another URL (or query) has another ETag.
        self.assertNotEqual(get(self.d, path + "?top=5").headers["etag"], etag)
        self.assertEqual(get(self.d, "/api/v1/stats", ["If-None-Match: " + etag]).status, 200)
        # A new report (about another domain) changes it.
        post(self.d, report("late.example", "Google Inc.", 1, 5))
        r3 = get(self.d, path, ["If-None-Match: " + etag])
        self.assertEqual(r3.status, 200, r3)
        self.assertNotEqual(r3.headers["etag"], etag)
        self.assertEqual(get(self.d, path, ["If-None-Match: " + r3.headers["etag"]]).status, 304)
        # Even a duplicate arrival changes it (a new copy is provenance the API shows).
        rid = min(self.posted)
        e = get(self.d, "/api/v1/reports/%d" % rid).headers["etag"]
        r = curl(self.d.url("/tlsrpt"), data=self.posted[rid], content_type="application/json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(get(self.d, "/api/v1/reports/%d" % rid, ["If-None-Match: " + e]).status, 200)

    def test_gzip(self):
        path = "/api/v1/domains/fail.example/summary"
        plain = get(self.d, path)
        self.assertNotIn("content-encoding", plain.headers)
        self.assertGreater(len(plain.body), 1024)
        z = get(self.d, path, ["Accept-Encoding: gzip"])
        self.assertEqual(z.headers.get("content-encoding"), "gzip")
        self.assertLess(len(z.body), len(plain.body))
        self.assertEqual(json.loads(gzip.decompress(z.body)), plain.json())
        self.assertEqual(z.headers["etag"], plain.headers["etag"])
        for ae in ("br, gzip;q=0", "identity", "gzip;q=0.0"):
            self.assertNotIn("content-encoding", get(self.d, path, ["Accept-Encoding: " + ae]).headers, ae)
        self.assertEqual(get(self.d, path, ["Accept-Encoding: deflate, *;q=0.5"]).headers.get(
            "content-encoding"), "gzip")
        # Small bodies are sent as they are.
        small = get(self.d, "/api/v1/reports?limit=1&domain=nowhere.example", ["Accept-Encoding: gzip"])
        self.assertNotIn("content-encoding", small.headers)
        # The raw report too.
        rid = max(self.posted)
        raw = get(self.d, "/api/v1/reports/%d/raw" % rid, ["Accept-Encoding: gzip"])
        body = gzip.decompress(raw.body) if raw.headers.get("content-encoding") == "gzip" else raw.body
        self.assertEqual(body, self.posted[rid])

    # ---- errors ----

    def test_bad_parameters(self):
        s = "/api/v1/domains/fail.example/summary"
        self.bad(s + "?from=yesterday", "from")
        self.bad(s + "?from=2026-02-30", "from")
        self.bad(s + "?from=2026-11-01T00:00:00", "from")       # no zone
        self.bad(s + "?to=1969-12-31", "to")
        self.bad(s + "?from=2026-11-05&to=2026-11-01", "to")
        err = self.bad(s + "?from=2000-01-01&to=2020-01-01", "from")
        self.assertIn("3660", err["reason"])
        self.bad(s + "?top=0", "top")
        self.bad(s + "?top=1001", "top")
        self.bad(s + "?top=ten", "top")
        self.bad(s + "?color=red", "color")
        self.bad("/api/v1/domains/fail.example/timeseries?interval=month", "interval")
        self.bad("/api/v1/domains/fail.example/readiness?days=0", "days")
        self.bad("/api/v1/domains/fail.example/readiness?days=366", "days")
        self.bad("/api/v1/domains/fail.example/readiness?from=2026-01-01", "from")
        self.bad("/api/v1/domains?from=2026-13-01", "from")
        self.bad("/api/v1/reports?limit=0", "limit")
        self.bad("/api/v1/reports?limit=501", "limit")
        self.bad("/api/v1/reports?before=abc", "before")
        self.bad("/api/v1/reports?has_failures=maybe", "has_failures")
        self.bad("/api/v1/reports?domain=bad..example", "domain")
        self.bad("/api/v1/reports?reporter=" + "x" * 300, "reporter")
        self.bad("/api/v1/reports?from=2026-11-02&to=2026-11-01", "to")
        self.bad("/api/v1/reports/1?verbose=1", "verbose")
        self.bad("/api/v1/domains/bad..example/summary", "domain")
        self.bad("/api/v1/quarantine?status=lost", "status")

    def test_not_found_and_methods(self):
        for path in ("/api/v1/domains/nowhere.example/summary",
                     "/api/v1/domains/nowhere.example/timeseries",
                     "/api/v1/domains/nowhere.example/readiness",
                     "/api/v1/domains/fail.example/nothing", "/api/v1/domains/fail.example",
                     "/api/v1/nothing", "/api/v1/quarantine/99999", "/api/v1/quarantine/abc"):
            r = get(self.d, path)
            self.assertEqual(r.status, 404, (path, r))
            self.assertEqual(r.json()["error"]["code"], "not-found")
        r = curl(self.d.url("/api/v1/domains"), method="DELETE")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD")
        r = curl(self.d.url("/api/v1/quarantine/1/reprocess"))
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "POST")
        r = curl(self.d.url("/api/v1/domains/fail.example/summary"), method="POST", data=b"")
        self.assertEqual(r.status, 405)

    # ---- stats, openapi ----

    def test_stats(self):
        doc = self.ok("/api/v1/stats")
        self.assertGreaterEqual(doc["ingest"]["by_transport"]["http"]["accepted"], self.n_reports)
        self.assertEqual(doc["ingest"]["by_verdict"]["accepted"], doc["reports"]["stored"])
        self.assertGreater(doc["database"]["bytes"], 0)
        self.assertGreaterEqual(doc["reports"]["domains"], 5)
        self.assertEqual(doc["reports"]["oldest_window_start"], day(10) + "T00:00:00Z")
        self.assertEqual(doc["reports"]["newest_window_start"], day(1) + "T00:00:00Z")
        self.assertEqual(doc["quarantine"]["rows"], 0)

    def test_openapi(self):
        doc = self.ok("/api/v1/openapi.json")
        self.assertTrue(doc["openapi"].startswith("3."))
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer")
        for p in ("/api/v1/domains", "/api/v1/domains/{domain}/summary",
                  "/api/v1/domains/{domain}/timeseries", "/api/v1/domains/{domain}/readiness",
                  "/api/v1/reports", "/api/v1/reports/{id}", "/api/v1/reports/{id}/raw",
                  "/api/v1/quarantine", "/api/v1/quarantine/{id}", "/api/v1/quarantine/{id}/raw",
                  "/api/v1/quarantine/{id}/reprocess", "/api/v1/stats", "/api/v1/openapi.json",
                  "/api/v1/export/failures.csv", "/api/v1/export/policies.csv",
                  "/api/v1/export/reports.csv", "/metrics"):
            self.assertIn(p, doc["paths"])
        self.assertIn("delete", doc["paths"]["/api/v1/quarantine/{id}"])
        self.assertIn("post", doc["paths"]["/api/v1/quarantine/{id}/reprocess"])
        # Every $ref resolves.
        text = json.dumps(doc)
        for ref in set(x.split('"')[0] for x in text.split('"$ref": "#/')[1:]):
            node = doc
            for part in ref.split("/"):
                node = node[part]


class Quarantine(unittest.TestCase):
    """Not served, quarantined; served after a restart; reprocessed; deleted."""

    def test_reprocess_and_delete(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "q.db")
            d = Daemon(tmp, *DAEMON_ARGS, "--api-auth", "off", "--allowed-domains", "example.org",
                       db=db).start()
            try:
                rep = report("late.example", "Google Inc.", 1, 40,
                             (("certificate-expired", 2, "mx1.late.example", "192.0.2.1"),))
                doc, body = post(d, rep, expect=403)
                qid = doc["quarantine_id"]
                self.assertEqual(doc["error"]["code"], "domain-not-served")
                junk, _ = post(d, {"not": "a report"}, expect=400)
                lst = get(d, "/api/v1/quarantine").json()
                self.assertEqual([x["id"] for x in lst["quarantine"]], [junk["quarantine_id"], qid])
                self.assertIsNone(lst["next_before"])
                page = get(d, "/api/v1/quarantine?limit=1").json()
                self.assertEqual(page["next_before"], junk["quarantine_id"])
                page = get(d, "/api/v1/quarantine?limit=1&before=%d" % page["next_before"]).json()
                self.assertEqual([x["id"] for x in page["quarantine"]], [qid])
                one = get(d, "/api/v1/quarantine/%d" % qid).json()
                self.assertEqual(one["reason_code"], "domain-not-served")
                self.assertEqual(one["status"], "held")
                self.assertEqual(len(one["copies"]), 1)
                raw = get(d, "/api/v1/quarantine/%d/raw" % qid)
                self.assertEqual(raw.status, 200)
                self.assertEqual(raw.body, body)
                self.assertEqual(raw.headers["content-type"], "application/octet-stream")
                self.assertIn("attachment", raw.headers["content-disposition"])
                # Still not served: reprocessing quarantines it again, the row stays held.
                r = curl(d.url("/api/v1/quarantine/%d/reprocess" % qid), method="POST")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["status"], "quarantined")
                self.assertEqual(r.json()["quarantine_status"], "held")
            finally:
                self.assertEqual(d.stop(), 0)

            d = Daemon(tmp, *DAEMON_ARGS, "--api-auth", "off", "--allowed-domains",
                       "example.org late.example", db=db).start()
            try:
                r = curl(d.url("/api/v1/quarantine/%d/reprocess" % qid), method="POST")
                self.assertEqual(r.status, 200, r)
                doc = r.json()
                self.assertEqual(doc["status"], "accepted", doc)
                self.assertEqual(doc["quarantine_status"], "reprocessed")
                rid = doc["report"]["id"]
                self.assertEqual(doc["report"]["url"], "/api/v1/reports/%d" % rid)
                one = get(d, "/api/v1/quarantine/%d" % qid).json()
                self.assertEqual(one["status"], "reprocessed")
                self.assertEqual(one["report"], rid)
                rdoc = get(d, "/api/v1/reports/%d" % rid).json()
                self.assertEqual(rdoc["copies"][0]["transport"], "reprocess")
                self.assertEqual(rdoc["copies"][0]["peer"], "quarantine/%d" % qid)
                summ = get(d, "/api/v1/domains/late.example/summary").json()
                self.assertEqual(summ["totals"]["sessions"], 42)
                # Again: a duplicate, nothing counted twice.
                r = curl(d.url("/api/v1/quarantine/%d/reprocess" % qid), method="POST")
                self.assertEqual(r.json()["status"], "duplicate")
                self.assertEqual(r.json()["report"]["id"], rid)
                self.assertEqual(get(d, "/api/v1/domains/late.example/summary").json()
                                 ["totals"]["sessions"], 42)
                held = get(d, "/api/v1/quarantine?status=held").json()["quarantine"]
                self.assertEqual([x["id"] for x in held], [junk["quarantine_id"]])
                stats = get(d, "/api/v1/stats").json()
                self.assertEqual(stats["ingest"]["by_transport"]["reprocess"]["accepted"], 1)
                self.assertEqual(stats["ingest"]["by_transport"]["reprocess"]["duplicate"], 1)
                self.assertEqual(stats["quarantine"]["by_status"]["reprocessed"]["rows"], 1)
                # Junk stays junk.
                r = curl(d.url("/api/v1/quarantine/%d/reprocess" % junk["quarantine_id"]),
                         method="POST")
                self.assertEqual(r.json()["status"], "quarantined")
                self.assertEqual(r.json()["error"]["code"], "no-policies")
                # Delete: gone with its raw bytes, the ETag of the list changes.
                e = get(d, "/api/v1/quarantine").headers["etag"]
                r = curl(d.url("/api/v1/quarantine/%d" % junk["quarantine_id"]), method="DELETE")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["status"], "deleted")
                self.assertEqual(get(d, "/api/v1/quarantine/%d" % junk["quarantine_id"]).status, 404)
                self.assertEqual(get(d, "/api/v1/quarantine/%d/raw" % junk["quarantine_id"]).status, 404)
                self.assertEqual(curl(d.url("/api/v1/quarantine/%d" % junk["quarantine_id"]),
                                      method="DELETE").status, 404)
                self.assertEqual(get(d, "/api/v1/quarantine", ["If-None-Match: " + e]).status, 200)
                self.assertEqual(d.db_rows("SELECT count(*) FROM report_copies WHERE quarantine = ?",
                                           (junk["quarantine_id"],))[0][0], 0)
                self.assertEqual(curl(d.url("/api/v1/quarantine/999/reprocess"), method="POST").status, 404)
            finally:
                self.assertEqual(d.stop(), 0)


class Tokens(unittest.TestCase):
    """With api_auth on: the quarantine needs admin; a read token sees its domains only."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.db = os.path.join(cls.tmp.name, "t.db")
        cls.d = Daemon(cls.tmp.name, *DAEMON_ARGS, "--api-auth", "on", db=cls.db).start()
        for dom in ("a.example", "b.example"):
            post(cls.d, report(dom, "Google Inc.", 1, 10))
        post(cls.d, {"junk": 1}, expect=400)

        def token(*args):
            r = tlsrptd("token", "create", "--db", cls.db, *args)
            assert r.returncode == 0, r
            return r.stdout.decode().strip()
        cls.admin = token("--role", "admin")
        cls.read_a = token("--role", "read", "--domain", "a.example")
        cls.read_all = token("--role", "read", "--all-domains")

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def as_(self, tok, path, method=None):
        return curl(self.d.url(path), headers=["Authorization: Bearer " + tok], method=method)

    def test_quarantine_needs_admin(self):
        for path in ("/api/v1/quarantine", "/api/v1/quarantine/1", "/api/v1/quarantine/1/raw"):
            self.assertEqual(self.as_(self.read_all, path).status, 403, path)
            self.assertEqual(self.as_(self.admin, path).status, 200, path)
        self.assertEqual(self.as_(self.read_all, "/api/v1/quarantine/1/reprocess", "POST").status, 403)
        self.assertEqual(self.as_(self.read_a, "/api/v1/quarantine/1", "DELETE").status, 403)
        self.assertEqual(get(self.d, "/api/v1/quarantine").status, 401)

    def test_read_token_scope(self):
        doms = self.as_(self.read_a, "/api/v1/domains").json()["domains"]
        self.assertEqual([x["domain"] for x in doms], ["a.example"])
        self.assertEqual(self.as_(self.read_a, "/api/v1/domains/a.example/summary").status, 200)
        for what in ("summary", "timeseries", "readiness"):
            self.assertEqual(self.as_(self.read_a, "/api/v1/domains/b.example/" + what).status, 404)
        reps = self.as_(self.read_a, "/api/v1/reports").json()["reports"]
        self.assertEqual([x["domains"] for x in reps], [["a.example"]])
        self.assertEqual(self.as_(self.read_a, "/api/v1/reports?domain=b.example").json()["reports"], [])
        all_reps = self.as_(self.read_all, "/api/v1/reports").json()["reports"]
        b_id = [x["id"] for x in all_reps if x["domains"] == ["b.example"]][0]
        self.assertEqual(self.as_(self.read_a, "/api/v1/reports/%d" % b_id).status, 404)
        self.assertEqual(self.as_(self.read_a, "/api/v1/reports/%d/raw" % b_id).status, 404)
        self.assertEqual(self.as_(self.read_all, "/api/v1/reports/%d" % b_id).status, 200)
        self.assertEqual(self.as_(self.read_a, "/api/v1/stats").status, 403)
        self.assertEqual(self.as_(self.read_all, "/api/v1/stats").status, 200)
        # Two scopes, two ETags for the same URL.
        e1 = self.as_(self.read_a, "/api/v1/domains").headers["etag"]
        e2 = self.as_(self.read_all, "/api/v1/domains").headers["etag"]
        self.assertNotEqual(e1, e2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
