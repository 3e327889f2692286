"""CSV exports and /metrics against the real daemon: reports seeded through HTTP ingest, each
CSV downloaded with curl and parsed back with Python's csv module; totals checked against
GET /api/v1/reports/{id}; RFC 4180 quoting, formula neutralisation, filters, the command line
export (same bytes), a large export streamed with bounded daemon memory, the export limit, and
the Prometheus text at /metrics (counters move, histogram buckets monotone, labels escaped)."""
import csv
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TLSRPTD, Daemon as HarnessDaemon, curl  # noqa: E402


def Daemon(tmpdir, *args, **kw):
    """The harness daemon without the SMTP listener (its fixed default port would collide
    between tests running at once)."""
    return HarnessDaemon(tmpdir, "--smtp-listen", "off", *args, **kw)

FAILURE_COLS = ["report", "report_id", "organization_name", "contact_info", "window_start",
                "window_end", "policy_domain", "policy_type", "sts_mode", "result_type",
                "sending_mta_ip", "receiving_mx_hostname", "receiving_mx_helo", "receiving_ip",
                "failed_session_count", "failure_reason_code", "additional_information", "counted",
                "report_sha256"]
POLICY_COLS = ["report", "report_id", "organization_name", "contact_info", "window_start",
               "window_end", "policy_index", "policy_type", "policy_domain", "sts_mode",
               "sts_max_age", "successful", "failed", "failure_details", "in_totals", "counted",
               "report_sha256"]
REPORT_COLS = ["report", "report_id", "organization_name", "contact_info", "window_start",
               "window_end", "policy_domains", "successful", "failed", "counted", "conflict_of",
               "copies", "lint", "received_at", "report_sha256"]

FORMULA_ORG = '=HYPERLINK("http://evil.example/","click, here")'


def policy(domain, ptype="sts", success=10, failures=(), mode="testing"):
    """failures: list of dicts of failure-details fields (result-type and failed-session-count
    at least)."""
    strings = ["version: STSv1", "mode: " + mode, "mx: mx1." + domain, "max_age: 86400"]
    if ptype == "tlsa":
        strings = ["3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]
    return {
        "policy": {"policy-type": ptype, "policy-string": strings, "policy-domain": domain,
                   "mx-host": ["mx1." + domain]},
        "summary": {"total-successful-session-count": success,
                    "total-failure-session-count": sum(f["failed-session-count"] for f in failures)},
        "failure-details": list(failures),
    }


def report(rid, org, day, policies, contact="tlsrpt@sender.example", end_day=None):
    return {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z",
                       "end-datetime": (end_day or day) + "T23:59:59Z"},
        "contact-info": contact,
        "report-id": rid,
        "policies": policies,
    }


def fd(rt, n, ip="192.0.2.1", mx="mx1.example.com", reason=None, info=None):
    d = {"result-type": rt, "sending-mta-ip": ip, "receiving-mx-hostname": mx,
         "failed-session-count": n}
    if reason is not None:
        d["failure-reason-code"] = reason
    if info is not None:
        d["additional-information"] = info
    return d


def undo(cell):
    """The exporter's formula neutralisation, undone (see web/export.h)."""
    return cell[1:] if cell.startswith("'") else cell


def parse_csv(body):
    text = body.decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def post(d, rep, gz=False):
    data = json.dumps(rep).encode()
    if gz:
        data = gzip.compress(data)
    r = curl(d.url("/tlsrpt"), data=data, content_type="application/tlsrpt+json", timeout=120)
    assert r.status in (200, 201), r
    return r.json()["report"]["id"]


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = Daemon(cls.tmp.name).start()
        cls.ids = {}
        cls.ids["r1"] = post(cls.d, report("r1", FORMULA_ORG, "2026-11-01", [
            policy("example.com", success=100, failures=[
                fd("certificate-expired", 2, reason='line1\nline2 "quoted", end'),
                fd("starttls-not-supported", 3, ip="192.0.2.9", info="+cmd|' /C calc'!A0"),
            ])], contact="ops, tls@sender.example"))
        cls.ids["r2"] = post(cls.d, report("r2", "Google Inc.", "2026-11-02", [
            policy("example.net", success=50, failures=[
                fd("validation-failure", 4, mx="mx1.example.net", reason="@SUM(1+1)"),
                fd("certificate-expired", 1, mx="mx1.example.net")]),
            policy("example.net", ptype="tlsa", success=20, failures=[
                fd("tlsa-invalid", 2, mx="mx1.example.net")]),
        ]))
        cls.ids["r3"] = post(cls.d, report("r3", "Mail.ru", "2026-11-03", [
            policy("example.com", success=10, failures=[])]))
        cls.ids["r4"] = post(cls.d, report("r4", "-2+3", "2026-11-05", [
            policy("example.com", success=7, failures=[fd("sts-policy-invalid", 1, reason="\tTAB")]),
            policy("example.org", success=8, failures=[fd("dnssec-invalid", 5, mx="mx1.example.org",
                                                          reason="'quoted already")]),
        ], contact="@evil"))
        cls.docs = {}
        for k, rid in cls.ids.items():
            r = curl(cls.d.url("/api/v1/reports/%d" % rid))
            assert r.status == 200, r
            cls.docs[rid] = r.json()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def get(self, path, **kw):
        return curl(self.d.url(path), **kw)

    def export(self, kind, query="", cols=None):
        r = self.get("/api/v1/export/%s.csv%s" % (kind, query))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"), r.headers)
        self.assertIn("attachment", r.headers.get("content-disposition", ""))
        rows = parse_csv(r.body)
        self.assertEqual(rows[0], cols, "header row")
        return [dict(zip(cols, row)) for row in rows[1:]], r.body

    def test_reports_totals_equal_json(self):
        rows, body = self.export("reports", cols=REPORT_COLS)
        self.assertEqual(sorted(int(r["report"]) for r in rows), sorted(self.ids.values()))
        for row in rows:
            doc = self.docs[int(row["report"])]
            self.assertEqual(int(row["successful"]), doc["totals"]["successful"], row)
            self.assertEqual(int(row["failed"]), doc["totals"]["failed"], row)
            self.assertEqual(row["report_sha256"], doc["sha256"])
            self.assertEqual(row["report_id"], doc["report_id"])
            self.assertEqual(row["window_start"], doc["window"]["start"])
            self.assertEqual(row["window_end"], doc["window"]["end"])
            self.assertEqual(row["policy_domains"].split(), doc["domains"])
            self.assertEqual(int(row["copies"]), doc["copies"] if isinstance(doc["copies"], int)
                             else len(doc["copies"]))
            self.assertEqual(int(row["lint"]), len(doc["lint"]))
            self.assertEqual(row["counted"], "1")
        # The Microsoft rule: sts + tlsa of one domain are not summed (r2: sts stands).
        r2 = [r for r in rows if int(r["report"]) == self.ids["r2"]][0]
        self.assertEqual((int(r2["successful"]), int(r2["failed"])), (50, 5))
        self.assertTrue(body.endswith(b"\r\n"))

    def test_policies_equal_json(self):
        rows, _ = self.export("policies", cols=POLICY_COLS)
        seen = 0
        for rid, doc in self.docs.items():
            pols = doc["report"]["policies"]
            mine = sorted((r for r in rows if int(r["report"]) == rid), key=lambda r: int(r["policy_index"]))
            self.assertEqual(len(mine), len(pols))
            standing = {}
            for row, p in zip(mine, pols):
                seen += 1
                self.assertEqual(row["policy_type"], p["policy_type"])
                self.assertEqual(row["policy_domain"], p["policy_domain"])
                self.assertEqual(int(row["successful"]), p["successful"])
                self.assertEqual(int(row["failed"]), p["failed"])
                self.assertEqual(int(row["failure_details"]), len(p["failure_details"]))
                if row["in_totals"] == "1":
                    standing[row["policy_domain"]] = (int(row["successful"]), int(row["failed"]))
            # The standing policies add up to the report's totals.
            self.assertEqual(sum(s for s, _ in standing.values()), doc["totals"]["successful"])
            self.assertEqual(sum(f for _, f in standing.values()), doc["totals"]["failed"])
        self.assertEqual(seen, len(rows))
        r2 = {r["policy_type"]: r for r in rows if int(r["report"]) == self.ids["r2"]}
        self.assertEqual((r2["sts"]["in_totals"], r2["tlsa"]["in_totals"]), ("1", "0"))
        self.assertEqual(r2["sts"]["sts_mode"], "testing")
        self.assertEqual(r2["sts"]["sts_max_age"], "86400")

    def test_failures_equal_json(self):
        rows, _ = self.export("failures", cols=FAILURE_COLS)
        total_rows = 0
        for rid, doc in self.docs.items():
            mine = [r for r in rows if int(r["report"]) == rid]
            details = [(p, f) for p in doc["report"]["policies"] for f in p["failure_details"]]
            total_rows += len(details)
            self.assertEqual(len(mine), len(details), rid)
            self.assertEqual(sum(int(r["failed_session_count"]) for r in mine),
                             sum(f["failed_session_count"] for _, f in details))
            for row, (p, f) in zip(mine, details):
                # Every row is self-contained.
                self.assertEqual(undo(row["organization_name"]), doc["reporter"]["organization_name"])
                self.assertEqual(undo(row["contact_info"]), doc["reporter"]["contact_info"])
                self.assertEqual(row["report_id"], doc["report_id"])
                self.assertEqual(row["window_start"], doc["window"]["start"])
                self.assertEqual(row["report_sha256"], doc["sha256"])
                self.assertEqual(row["policy_domain"], p["policy_domain"])
                self.assertEqual(row["policy_type"], p["policy_type"])
                self.assertEqual(row["result_type"], f["result_type"])
                self.assertEqual(row["sending_mta_ip"], f["sending_mta_ip"] or "")
                self.assertEqual(row["receiving_mx_hostname"], f["receiving_mx_hostname"] or "")
                self.assertEqual(undo(row["failure_reason_code"]), f["failure_reason_code"] or "")
                self.assertEqual(undo(row["additional_information"]), f["additional_information"] or "")
                self.assertEqual(row["counted"], "1")
        self.assertEqual(total_rows, len(rows))

    def test_quoting_and_formula_neutralisation(self):
        rows, body = self.export("failures", cols=FAILURE_COLS)
        r1 = [r for r in rows if int(r["report"]) == self.ids["r1"]]
        self.assertEqual(r1[0]["organization_name"], "'" + FORMULA_ORG)
        self.assertEqual(r1[0]["contact_info"], "ops, tls@sender.example")
        self.assertEqual(r1[0]["failure_reason_code"], 'line1\nline2 "quoted", end')
        self.assertEqual(r1[1]["additional_information"], "'+cmd|' /C calc'!A0")
        # The raw bytes: RFC 4180 quoting, quotes doubled, CRLF row ends.
        self.assertIn(b'"\'=HYPERLINK(""http://evil.example/"",""click, here"")"', body)
        self.assertIn(b'"line1\nline2 ""quoted"", end"', body)
        self.assertEqual(body.count(b"\r\n"), len(rows) + 1)
        r2 = [r for r in rows if int(r["report"]) == self.ids["r2"]]
        self.assertEqual(r2[0]["failure_reason_code"], "'@SUM(1+1)")
        r4 = {r["policy_domain"]: r for r in rows if int(r["report"]) == self.ids["r4"]}
        self.assertEqual(r4["example.com"]["organization_name"], "'-2+3")
        self.assertEqual(r4["example.com"]["contact_info"], "'@evil")
        self.assertEqual(r4["example.com"]["failure_reason_code"], "'\tTAB")
        self.assertEqual(r4["example.org"]["failure_reason_code"], "''quoted already")
        # No cell at all begins with a formula character.
        for row in rows:
            for cell in row.values():
                self.assertFalse(cell[:1] in ("=", "+", "-", "@", "\t", "\r"), cell)

    def test_filters(self):
        ids = self.ids

        def reports(q):
            rows, _ = self.export("reports", q, REPORT_COLS)
            return rows

        def rset(q):
            return sorted(int(r["report"]) for r in reports(q))

        self.assertEqual(rset("?domain=example.net"), [ids["r2"]])
        self.assertEqual(rset("?domain=EXAMPLE.NET."), [ids["r2"]])
        self.assertEqual(rset("?domain=example.com"), sorted([ids["r1"], ids["r3"], ids["r4"]]))
        # One domain of a two-domain report: only its numbers.
        only_org = reports("?domain=example.org")
        self.assertEqual(len(only_org), 1)
        self.assertEqual((only_org[0]["policy_domains"], only_org[0]["successful"],
                          only_org[0]["failed"]), ("example.org", "8", "5"))
        self.assertEqual(rset("?reporter=google%20inc."), [ids["r2"]])
        self.assertEqual(rset("?reporter=MAIL.RU"), [ids["r3"]])
        self.assertEqual(rset("?reporter=tlsrpt@sender.example"), [])
        # from inclusive, to exclusive, a date is its midnight (UTC), as in the JSON API.
        self.assertEqual(rset("?from=2026-11-02&to=2026-11-03"), [ids["r2"]])
        self.assertEqual(rset("?from=2026-11-02T00:00:00Z&to=2026-11-04T00:00:00Z"),
                         sorted([ids["r2"], ids["r3"]]))
        self.assertEqual(rset("?from=2026-11-02T02:00:00%2B02:00&to=2026-11-02T12:00:00Z"),
                         [ids["r2"]])
        self.assertEqual(rset("?from=2026-11-04"), [ids["r4"]])
        self.assertEqual(rset("?has_failures=false"), [ids["r3"]])
        self.assertEqual(rset("?has_failures=true"), sorted([ids["r1"], ids["r2"], ids["r4"]]))
        self.assertEqual(rset("?result_type=validation-failure"), [ids["r2"]])
        self.assertEqual(rset("?result_type=tlsa-invalid"), [ids["r2"]])
        self.assertEqual(rset("?domain=example.com&has_failures=true&from=2026-11-04"), [ids["r4"]])

        rows, _ = self.export("failures", "?result_type=certificate-expired", FAILURE_COLS)
        self.assertEqual(sorted(int(r["report"]) for r in rows), sorted([ids["r1"], ids["r2"]]))
        self.assertTrue(all(r["result_type"] == "certificate-expired" for r in rows))
        rows, _ = self.export("failures", "?domain=example.org", FAILURE_COLS)
        self.assertEqual([(r["policy_domain"], r["failed_session_count"]) for r in rows],
                         [("example.org", "5")])
        rows, _ = self.export("policies", "?domain=example.net&result_type=tlsa-invalid", POLICY_COLS)
        self.assertEqual([r["policy_type"] for r in rows], ["tlsa"])
        rows, _ = self.export("policies", "?has_failures=false", POLICY_COLS)
        self.assertEqual([int(r["report"]) for r in rows], [ids["r3"]])
        rows, body = self.export("failures", "?domain=nothing.example", FAILURE_COLS)
        self.assertEqual(rows, [])
        self.assertEqual(body, (",".join(FAILURE_COLS) + "\r\n").encode())

    def test_bad_requests(self):
        for q in ("?from=yesterday", "?to=2026-13-01", "?from=2026-11-01T00:00:00",
                  "?domain=not%20a%20domain", "?has_failures=maybe",
                  "?from=2026-11-05&to=2026-11-01", "?from=2026-11-02&to=2026-11-02",
                  "?from=1969-12-31", "?reporter=" + "x" * 300, "?limit=5", "?domain=a.b&colour=red"):
            r = self.get("/api/v1/export/failures.csv" + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.json()["error"]["code"], "bad-parameter")
        r = self.get("/api/v1/export/reports.csv?colour=red")
        self.assertEqual(r.json()["error"]["parameter"], "colour")
        for p in ("/api/v1/export/foo.csv", "/api/v1/export/failures", "/api/v1/export/failures.json",
                  "/api/v1/export/"):
            self.assertEqual(self.get(p).status, 404, p)
        self.assertEqual(self.get("/api/v1/export/failures.csv", method="DELETE").status, 405)
        head = subprocess.run(["curl", "-sS", "-I", "-o", os.devnull, "-w", "%{http_code}",
                               self.d.url("/api/v1/export/reports.csv")], capture_output=True,
                              timeout=30)
        self.assertEqual(head.stdout, b"200")

    def test_cli_export_same_bytes(self):
        for kind, q, args in (("failures", "", []),
                              ("reports", "?domain=example.com&from=2026-11-02",
                               ["--domain", "example.com", "--from", "2026-11-02"]),
                              ("policies", "?has_failures=true&reporter=Google%20Inc.",
                               ["--has-failures", "yes", "--reporter", "Google Inc."])):
            web = self.get("/api/v1/export/%s.csv%s" % (kind, q))
            self.assertEqual(web.status, 200)
            out = os.path.join(self.tmp.name, "cli-%s.csv" % kind)
            r = subprocess.run([TLSRPTD, "export", kind, "--db", self.d.db, "-o", out] + args,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), web.body, kind)
            r = subprocess.run([TLSRPTD, "export", kind, "--db", self.d.db] + args,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual(r.stdout, web.body)
        self.assertFalse([f for f in os.listdir(self.tmp.name) if ".tmp." in f])
        r = subprocess.run([TLSRPTD, "export", "nonsense", "--db", self.d.db], capture_output=True)
        self.assertEqual(r.returncode, 64)
        r = subprocess.run([TLSRPTD, "export", "failures", "--db", self.d.db, "--from", "soon"],
                           capture_output=True)
        self.assertEqual(r.returncode, 64)
        r = subprocess.run([TLSRPTD, "export", "--help"], capture_output=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"usage: tlsrptd export", r.stdout)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class LargeExport(unittest.TestCase):
    REPORTS = 40
    PER_REPORT = 1500          # 60,000 failure rows

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # Under AddressSanitizer (make asan) freed memory is held in a quarantine, which
        # would show as growth here: keep it small for this daemon (ignored otherwise).
        env_asan = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((env_asan + ":") if env_asan else "") + \
            "quarantine_size_mb=1:thread_local_quarantine_size_kb=64"
        try:
            cls.d = Daemon(cls.tmp.name).start()
        finally:
            if env_asan is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = env_asan
        filler = "https://info.example/" + "x" * 400
        cls.expect_sessions = 0
        for i in range(cls.REPORTS):
            fails = [fd("certificate-host-mismatch", 1 + (j % 3), ip="198.51.100.%d" % (j % 250 + 1),
                        info="%s/%d/%d" % (filler, i, j)) for j in range(cls.PER_REPORT)]
            cls.expect_sessions += sum(f["failed-session-count"] for f in fails)
            post(cls.d, report("big-%d" % i, "Big Sender", "2026-10-%02d" % (i % 28 + 1),
                               [policy("big.example", success=1000, failures=fails)]), gz=True)

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def test_streamed_with_bounded_memory(self):
        pid = self.d.proc.pid
        time.sleep(0.5)
        base = rss_kib(pid)
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.005)

        t = threading.Thread(target=sample)
        t.start()
        out = os.path.join(self.tmp.name, "big.csv")
        try:
            r = subprocess.run(["curl", "-sS", "--fail", "-o", out, "-w", "%{http_code}",
                                self.d.url("/api/v1/export/failures.csv")],
                               capture_output=True, timeout=300)
        finally:
            stop.set()
            t.join()
        self.assertEqual(r.returncode, 0, r)
        size = os.path.getsize(out)
        self.assertGreater(size, 30 * 1024 * 1024)
        growth_mib = (peak[0] - base) / 1024.0
        # The CSV is over 30 MiB; a daemon that held it would grow by that much.
        self.assertLess(growth_mib, 16, "daemon RSS grew by %.1f MiB for a %.1f MiB export"
                        % (growth_mib, size / 1048576.0))
        n = 0
        sessions = 0
        with open(out, newline="") as f:
            rd = csv.reader(f)
            self.assertEqual(next(rd), FAILURE_COLS)
            for row in rd:
                n += 1
                sessions += int(row[14])
        self.assertEqual(n, self.REPORTS * self.PER_REPORT)
        self.assertEqual(sessions, self.expect_sessions)

    def test_concurrent_exports_limited(self):
        # Two slow readers hold both export slots; a third export is told to come back,
        # while other reads still answer.
        slow = [subprocess.Popen(["curl", "-sS", "--limit-rate", "20k", "-o", os.devnull,
                                  self.d.url("/api/v1/export/failures.csv")])
                for _ in range(2)]
        try:
            deadline = time.time() + 10
            third = None
            while time.time() < deadline:
                time.sleep(0.3)
                third = curl(self.d.url("/api/v1/export/reports.csv"))
                if third.status == 503:
                    break
            self.assertEqual(third.status, 503, third)
            self.assertIn("retry-after", third.headers)
            # Reads still get a connection of the pool (the scrape reads the database).
            m = curl(self.d.url("/metrics"))
            self.assertEqual(m.status, 200, m)
            self.assertIn(b"tlsrptd_metrics_database_ok 1", m.body)
        finally:
            for p in slow:
                p.terminate()
                p.wait(timeout=10)
        # The slots come back once those clients are gone.
        deadline = time.time() + 10
        while time.time() < deadline:
            if curl(self.d.url("/api/v1/export/reports.csv")).status == 200:
                break
            time.sleep(0.2)
        else:
            self.fail("export slots not released")
        self.assertIn("kind=failures", self.d.logtext())


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """A strict reader of the Prometheus text format 0.0.4: {(name, frozenset(labels)): value},
    and the TYPE of each family."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        labels = {}
        rest = m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL.match(rest, pos)
            assert lm, "bad labels: %r" % line
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                                         lm.group(2))
            pos = lm.end()
        key = (m.group(1), frozenset(labels.items()))
        assert key not in samples, "duplicate series %r" % (key,)
        samples[key] = float(m.group(4))
    return samples, types


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = Daemon(cls.tmp.name).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def scrape(self):
        r = curl(self.d.url("/metrics"))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers)
        return parse_metrics(r.body.decode("utf-8"))

    def test_counters_move_and_histogram(self):
        before, types = self.scrape()
        self.assertEqual(types["tlsrptd_reports_ingested_total"], "counter")
        self.assertEqual(types["tlsrptd_commit_duration_seconds"], "histogram")
        self.assertEqual(types["tlsrptd_writer_queue_depth"], "gauge")
        self.assertEqual(val(before, "tlsrptd_metrics_database_ok"), 1)
        rid = post(self.d, report("m1", "Metrics Sender", "2026-11-07", [
            policy("metrics.example", success=30, failures=[fd("certificate-expired", 4),
                                                             fd("starttls-not-supported", 2)]),
            policy("metrics.example", ptype="tlsa", success=30, failures=[fd("tlsa-invalid", 6)])]))
        self.assertGreater(rid, 0)
        post(self.d, report("m1", "Metrics Sender", "2026-11-07", [
            policy("metrics.example", success=30, failures=[fd("certificate-expired", 4),
                                                             fd("starttls-not-supported", 2)]),
            policy("metrics.example", ptype="tlsa", success=30, failures=[fd("tlsa-invalid", 6)])]))
        junk = curl(self.d.url("/tlsrpt"), data=b'{"not": "a report"}', content_type="application/json")
        self.assertEqual(junk.status, 400)
        after, _ = self.scrape()

        def delta(name, **lb):
            return val(after, name, **lb) - val(before, name, **lb)

        self.assertEqual(delta("tlsrptd_reports_ingested_total", transport="http", verdict="accepted"), 1)
        self.assertEqual(delta("tlsrptd_reports_ingested_total", transport="http", verdict="duplicate"), 1)
        self.assertEqual(delta("tlsrptd_reports_ingested_total", transport="http", verdict="quarantined"), 1)
        self.assertEqual(delta("tlsrptd_http_requests_total", route="ingest", status="201"), 1)
        self.assertEqual(delta("tlsrptd_http_requests_total", route="ingest", status="400"), 1)
        self.assertGreaterEqual(delta("tlsrptd_http_requests_total", route="metrics", status="200"), 1)
        self.assertEqual(delta("tlsrptd_quarantine_rows"), 1)
        # From the rollups: sts and tlsa have as many sessions, so the first (sts) stands for
        # the domain: its failures count, not the sum with tlsa's.
        self.assertEqual(val(after, "tlsrptd_domain_sessions_total", domain="metrics.example",
                             result="success"), 30)
        self.assertEqual(val(after, "tlsrptd_domain_sessions_total", domain="metrics.example",
                             result="failure"), 6)
        self.assertEqual(val(after, "tlsrptd_domain_failures_total", domain="metrics.example",
                             result_type="certificate-expired"), 4)
        self.assertEqual(val(after, "tlsrptd_domain_failures_total", domain="metrics.example",
                             result_type="starttls-not-supported"), 2)
        last = val(after, "tlsrptd_domain_last_report_timestamp_seconds", domain="metrics.example")
        self.assertLessEqual(abs(last - time.time()), 120)
        self.assertGreaterEqual(val(after, "tlsrptd_domains"), 1)
        # The histogram: cumulative buckets, +Inf equal to the count, which moved.
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in after.items()
                          if k[0] == "tlsrptd_commit_duration_seconds_bucket"), key=lambda x: x[0])
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertTrue(all(b[1] <= c[1] for b, c in zip(buckets, buckets[1:])), buckets)
        count = val(after, "tlsrptd_commit_duration_seconds_count")
        self.assertEqual(buckets[-1][1], count)
        self.assertGreaterEqual(count - val(before, "tlsrptd_commit_duration_seconds_count"), 3)
        self.assertGreater(val(after, "tlsrptd_commit_duration_seconds_sum"), 0)
        self.assertGreaterEqual(val(after, "tlsrptd_writer_queue_depth"), 0)

    def test_label_values_escaped(self):
        # Unknown result types are kept verbatim and become label values.
        odd = 'odd"type\\x\ny'
        post(self.d, report("m2", "Odd", "2026-11-08", [policy("odd.example", success=3, failures=[
            {"result-type": odd, "failed-session-count": 2}])]))
        r = curl(self.d.url("/metrics"))
        text = r.body.decode("utf-8")
        samples, _ = parse_metrics(text)
        types = {dict(k[1]).get("result_type") for k in samples
                 if k[0] == "tlsrptd_domain_failures_total"}
        self.assertIn(odd, types, text)
        self.assertIn('result_type="odd\\"type\\\\x\\ny"', text)
        # A policy-domain that is not a domain name is no domain served: refused, kept.
        r = curl(self.d.url("/tlsrpt"), data=json.dumps(report("m3", "Odd", "2026-11-08", [
            policy('odd"dom\\ain\nx', success=3)])).encode(), content_type="application/tlsrpt+json")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["code"], "domain-not-served")

    def test_method(self):
        self.assertEqual(curl(self.d.url("/metrics"), method="POST", data=b"x").status, 405)


if __name__ == "__main__":
    unittest.main(verbosity=2)
