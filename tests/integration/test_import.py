"""`tlsrptd import maildir DIR` and `tlsrptd import mbox FILE`: real binary, real SQLite file,
read back through the daemon's API on the same database.

Every mailbox here is built at run time in a temporary folder from report messages the test
writes itself (multipart/report with a base64 gzip report, each with its own report id), plus
a junk message without a report. When the shared corpus is present (TLSRPT_CORPUS, default
<source>/../shared/corpus), its eml files are imported as a maildir and as an mbox written by
Python's own mailbox module (an mboxo writer).
"""
import base64
import gzip
import json
import mailbox
import os
import pty
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, TLSRPTD, Daemon, curl, make_report, report_bytes  # noqa: E402

CORPUS = os.path.normpath(os.environ.get("TLSRPT_CORPUS")
                          or os.path.join(SOURCE_DIR, os.pardir, "shared", "corpus"))
RUN_TIMEOUT = 120
FROM_LINE = b"From tlsrpt-bounces@sender.example Mon Jan  1 00:00:00 2024\n"


def run(*args, stdin=None):
    # Unsigned test mail: DKIM is test_dkim.py's subject.
    return subprocess.run([TLSRPTD, "import", "--dkim", "off"] + list(args), input=stdin,
                          capture_output=True,
                          timeout=RUN_TIMEOUT)


def report_mail(report_id, domain="example.com", text=""):
    """A report email as Google or Microsoft send it: text part + base64 gzip attachment."""
    payload = gzip.compress(report_bytes(make_report(report_id=report_id, domain=domain)))
    b64 = base64.encodebytes(payload).decode()
    return ("From: noreply-tls-reporting@sender.example\n"
            "To: tlsrpt@%(d)s\n"
            "Subject: Report Domain: %(d)s Submitter: sender.example Report-ID: <%(id)s>\n"
            "Date: Tue, 02 Jan 2024 03:04:05 +0000\n"
            "Message-ID: <%(id)s@sender.example>\n"
            "TLS-Report-Domain: %(d)s\n"
            "TLS-Report-Submitter: sender.example\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=tlsrpt; boundary=\"b-%(id)s\"\n"
            "\n"
            "--b-%(id)s\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "\n"
            "This is an aggregate TLS report.\n%(text)s"
            "--b-%(id)s\n"
            "Content-Type: application/tlsrpt+gzip\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"sender.example!%(d)s!1!2!%(id)s.json.gz\"\n"
            "\n"
            "%(b64)s"
            "--b-%(id)s--\n" % {"d": domain, "id": report_id, "text": text, "b64": b64}).encode()


JUNK = (b"From: a.friend@example.org\nTo: tlsrpt@example.com\nSubject: hello\n\n"
        b"Not a report at all.\nFrom the desk of a friend: this line was quoted by the writer.\n"
        b">From this one too, with one more '>'.\n>>From and this one.\n\nFrom: a blank line before\n")


def write_mboxrd(path, messages):
    """mboxrd as a careful writer does it: every ^>*From  line gets one more '>', a blank line
    after each message. Returns the byte offset of each message's From_ line."""
    offsets = []
    with open(path, "wb") as f:
        for m in messages:
            offsets.append(f.tell())
            assert m.endswith(b"\n")
            f.write(FROM_LINE)
            f.write(re.sub(rb"(?m)^(>*From )", rb">\1", m))
            f.write(b"\n")
    return offsets


def table(stdout):
    """The closing table: {"accepted": n, ..., "reasons": {code: n}, "messages": n}."""
    out = {"reasons": {}}
    lines = stdout.decode().splitlines()
    m = re.match(r"^import (maildir|mbox) .*: (\d+) messages$", lines[0])
    assert m, stdout
    out["messages"] = int(m.group(2))
    for line in lines[1:]:
        m = re.match(r"^(  |    )(\S.*?)\s+(\d+)$", line)
        if not m:
            continue
        if m.group(1) == "    ":
            out["reasons"][m.group(2)] = int(m.group(3))
        else:
            out[m.group(2)] = int(m.group(3))
    for k in ("accepted", "duplicate", "conflict", "quarantined", "too-large (skipped)",
              "temporary failure", "unreadable"):
        assert k in out, (k, stdout)
    return out


def db_rows(db, sql, args=()):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class Import(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.db = os.path.join(self.dir, "import.db")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, rel, data):
        p = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def assertCounts(self, r, **want):
        t = table(r.stdout)
        for k, v in want.items():
            key = {"too_large": "too-large (skipped)", "temporary": "temporary failure"}.get(k, k)
            self.assertEqual(t[key], v, (k, r.stdout.decode(), r.stderr.decode()))
        return t

    def assertNoProgress(self, r):
        self.assertNotIn(b"\r", r.stdout)
        self.assertNotIn(b"\r", r.stderr)
        self.assertNotIn(b"\x1b[", r.stderr)

    def make_maildir(self):
        md = os.path.join(self.dir, "Maildir")
        self.write("Maildir/cur/1700000002.M2P2.host:2,S", report_mail("imp-md-2"))
        self.write("Maildir/cur/1700000001.M1P1.host:2,S", report_mail("imp-md-1"))
        self.write("Maildir/new/1700000003.M3P3.host", report_mail("imp-md-3"))
        self.write("Maildir/cur/.hidden", report_mail("imp-md-hidden"))
        self.write("Maildir/tmp/1700000004.M4P4.host", report_mail("imp-md-tmp"))
        os.makedirs(os.path.join(md, "cur", "subdir"))
        return md

    def test_maildir_import_rerun_and_junk(self):
        md = self.make_maildir()
        r = run("--db", self.db, "maildir", md)
        self.assertEqual(r.returncode, 0, r)
        t = self.assertCounts(r, accepted=3, duplicate=0, conflict=0, quarantined=0, too_large=0,
                              temporary=0, unreadable=0)
        self.assertEqual(t["messages"], 3)
        self.assertNoProgress(r)
        # Safe to run again: everything is a duplicate, nothing new is stored.
        r = run("--db", self.db, "maildir", md)
        self.assertEqual(r.returncode, 0, r)
        self.assertCounts(r, accepted=0, duplicate=3, quarantined=0)
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM reports")[0][0], 3)
        # A junk message: quarantined (counted by reason), exit 65.
        self.write("Maildir/new/1700000005.M5P5.host", JUNK)
        r = run("--db", self.db, "maildir", md)
        self.assertEqual(r.returncode, 65, r)
        t = self.assertCounts(r, accepted=0, duplicate=3, quarantined=1)
        self.assertEqual(t["reasons"], {"no-report-part": 1})
        self.assertIn("quarantined", r.stderr.decode())
        r = run("--db", self.db, "maildir", md)
        self.assertEqual(r.returncode, 65, r)
        self.assertCounts(r, accepted=0, duplicate=3, quarantined=1)
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM reports")[0][0], 3)
        self.assertEqual(db_rows(self.db, "SELECT count(*), max(seen_count) FROM quarantine")[0], (1, 2))
        with Daemon(self.dir, db=self.db) as d:
            lst = curl(d.url("/api/v1/reports")).json()["reports"]
            self.assertEqual(sorted(x["report_id"] for x in lst), ["imp-md-1", "imp-md-2", "imp-md-3"])
            one = [x for x in lst if x["report_id"] == "imp-md-1"][0]
            self.assertEqual(one["copies"], 4)
            det = curl(d.url("/api/v1/reports/%d" % one["id"])).json()
            c = det["copies"][0]
            self.assertEqual(c["transport"], "maildir")
            self.assertEqual(c["peer"], os.path.join(md, "cur", "1700000001.M1P1.host:2,S"))
            meta = c["meta"] if isinstance(c["meta"], dict) else json.loads(c["meta"])
            self.assertEqual(meta["file"], "1700000001.M1P1.host:2,S")
            self.assertEqual(meta["folder"], "cur")
            self.assertEqual(d.stop(), 0)
        # Stored in name order: cur/...1, cur/...2, new/...3.
        ids = db_rows(self.db, "SELECT report_id FROM reports ORDER BY id")
        self.assertEqual([x[0] for x in ids], ["imp-md-1", "imp-md-2", "imp-md-3"])

    def test_plain_folder_of_messages(self):
        self.write("eml/b.eml", report_mail("imp-plain-2"))
        self.write("eml/a.eml", report_mail("imp-plain-1"))
        self.write("eml/.skip.eml", JUNK)
        r = run("--db", self.db, "maildir", os.path.join(self.dir, "eml"))
        self.assertEqual(r.returncode, 0, r)
        self.assertCounts(r, accepted=2, quarantined=0)

    def test_mbox_rd_quoting_offsets_and_rerun(self):
        text = ("From the sender's side all went well.\n>From a quoted line, kept as it is.\n"
                "\n>>From twice.\n")
        msgs = [report_mail("imp-mb-1"), report_mail("imp-mb-2", text=text), report_mail("imp-mb-3")]
        path = os.path.join(self.dir, "reports.mbox")
        offsets = write_mboxrd(path, msgs)
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(b"\n>From the sender", data)
        self.assertIn(b"\n>>From a quoted", data)
        r = run("--db", self.db, "mbox", path)
        self.assertEqual(r.returncode, 0, r)
        t = self.assertCounts(r, accepted=3, duplicate=0, quarantined=0, too_large=0, unreadable=0)
        self.assertEqual(t["messages"], 3)
        self.assertNoProgress(r)
        with Daemon(self.dir, db=self.db) as d:
            lst = curl(d.url("/api/v1/reports")).json()["reports"]
            self.assertEqual(sorted(x["report_id"] for x in lst), ["imp-mb-1", "imp-mb-2", "imp-mb-3"])
            two = [x for x in lst if x["report_id"] == "imp-mb-2"][0]
            c = curl(d.url("/api/v1/reports/%d" % two["id"])).json()["copies"][0]
            self.assertEqual(c["transport"], "mbox")
            self.assertEqual(c["peer"], path + ":2")
            meta = c["meta"] if isinstance(c["meta"], dict) else json.loads(c["meta"])
            self.assertEqual(meta["offset"], offsets[1])
            self.assertEqual(meta["envelope"], FROM_LINE[5:].decode().strip())
            self.assertEqual(d.stop(), 0)
        # Again, with a junk message in the middle: the rest are duplicates, exit 65, and the
        # quarantine holds the junk message exactly as it was before the writer quoted it.
        path2 = os.path.join(self.dir, "more.mbox")
        write_mboxrd(path2, msgs[:2] + [JUNK] + msgs[2:])
        r = run("--db", self.db, "mbox", path2)
        self.assertEqual(r.returncode, 65, r)
        t = self.assertCounts(r, accepted=0, duplicate=3, quarantined=1)
        self.assertEqual(t["reasons"], {"no-report-part": 1})
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM reports")[0][0], 3)
        raw = db_rows(self.db, "SELECT raw_gz, raw_len FROM quarantine")
        self.assertEqual(len(raw), 1)
        self.assertEqual(gzip.decompress(raw[0][0]), JUNK)
        self.assertEqual(raw[0][1], len(JUNK))
        peers = db_rows(self.db, "SELECT peer FROM report_copies WHERE quarantine IS NOT NULL")
        self.assertEqual(peers, [(path2 + ":3",)])
        # From stdin.
        r = run("--db", self.db, "mbox", "-", stdin=data)
        self.assertEqual(r.returncode, 0, r)
        self.assertCounts(r, accepted=0, duplicate=3)
        peers = db_rows(self.db, "SELECT peer FROM report_copies WHERE peer LIKE 'stdin:%' ORDER BY peer")
        self.assertEqual(peers, [("stdin:1",), ("stdin:2",), ("stdin:3",)])

    def test_mbox_without_blank_lines_and_crlf(self):
        # An mbox written without blank lines between messages, with CRLF line ends.
        a = report_mail("imp-crlf-1").replace(b"\n", b"\r\n")
        b = report_mail("imp-crlf-2").replace(b"\n", b"\r\n")
        data = FROM_LINE.replace(b"\n", b"\r\n") + a + FROM_LINE.replace(b"\n", b"\r\n") + b
        path = self.write("crlf.mbox", data)
        r = run("--db", self.db, "mbox", path)
        self.assertEqual(r.returncode, 0, r)
        self.assertCounts(r, accepted=2, quarantined=0)

    def test_too_large_message_is_skipped(self):
        big = JUNK + b"x" * 200000 + b"\n"
        msgs = [report_mail("imp-big-1"), big, report_mail("imp-big-2")]
        path = os.path.join(self.dir, "big.mbox")
        write_mboxrd(path, msgs)
        limits = ["--max-report-size", "64K", "--max-body-size", "16K"]
        r = run("--db", self.db, *limits, "mbox", path)
        self.assertEqual(r.returncode, 65, r)
        self.assertCounts(r, accepted=2, quarantined=0, too_large=1)
        self.assertRegex(r.stderr.decode(), r"big\.mbox:2 .*larger than max_report_size.*skipped")
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM quarantine")[0][0], 0)
        md = os.path.join(self.dir, "bigdir")
        self.write("bigdir/1.eml", big)
        self.write("bigdir/2.eml", report_mail("imp-big-3"))
        r = run("--db", self.db, *limits, "maildir", md)
        self.assertEqual(r.returncode, 65, r)
        self.assertCounts(r, accepted=1, too_large=1)
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM quarantine")[0][0], 0)

    def test_unreadable_paths(self):
        missing = os.path.join(self.dir, "missing")
        self.assertEqual(run("--db", self.db, "maildir", missing).returncode, 66)
        self.assertEqual(run("--db", self.db, "mbox", missing).returncode, 66)
        f = self.write("file.mbox", FROM_LINE + report_mail("imp-u-1"))
        self.assertEqual(run("--db", self.db, "maildir", f).returncode, 66)
        self.assertEqual(run("--db", self.db, "mbox", self.dir).returncode, 66)
        # Nothing was read, so no database was created.
        self.assertFalse(os.path.exists(self.db))
        # One message that cannot be read (a dangling link) among good ones: the rest is stored.
        md = self.make_maildir()
        os.symlink(os.path.join(self.dir, "nowhere"), os.path.join(md, "new", "1700000009.M9P9.host"))
        r = run("--db", self.db, "maildir", md)
        self.assertEqual(r.returncode, 66, r)
        self.assertCounts(r, accepted=3, unreadable=1)
        self.assertIn("1700000009.M9P9.host: unreadable", r.stderr.decode())

    def test_not_an_mbox(self):
        p = self.write("mail.eml", report_mail("imp-notmbox"))
        r = run("--db", self.db, "mbox", p)
        self.assertEqual(r.returncode, 65, r)
        self.assertIn("not an mbox", r.stderr.decode())
        self.assertCounts(r, accepted=0)
        # An empty file is an empty mailbox.
        r = run("--db", self.db, "mbox", self.write("empty.mbox", b""))
        self.assertEqual(r.returncode, 0, r)
        self.assertCounts(r, accepted=0)

    def test_storage_unavailable_stops_at_once(self):
        md = self.make_maildir()
        r = run("--db", os.path.join(self.dir, "no", "such", "dir", "x.db"), "maildir", md)
        self.assertEqual(r.returncode, 75, r)
        t = self.assertCounts(r, accepted=0, temporary=1)
        self.assertEqual(t["messages"], 1)
        self.assertIn("stopped early", r.stdout.decode())

    def test_usage_errors(self):
        for args in ([], ["maildir"], ["tar", "x"], ["maildir", "-"], ["mbox", "a", "b"],
                     ["--no-such-option", "1", "mbox", "a"]):
            r = run(*args)
            self.assertEqual(r.returncode, 64, (args, r))
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: tlsrptd import", r.stdout.decode())
        self.assertIn("maildir DIR", r.stdout.decode())
        r = subprocess.run([TLSRPTD, "--help"], capture_output=True, timeout=RUN_TIMEOUT)
        self.assertIn("import", r.stdout.decode())

    def test_progress_bar_on_a_terminal(self):
        md = self.make_maildir()
        master, slave = pty.openpty()
        p = subprocess.Popen([TLSRPTD, "import", "--dkim", "off", "--db", self.db, "maildir", md],
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            ready, _, _ = select.select([master], [], [], RUN_TIMEOUT)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=RUN_TIMEOUT), 0, out)
        self.assertRegex(out, rb"\rimport maildir \[[#.]+\] \d+/3 messages")
        self.assertIn(b"\r\x1b[K", out)  # the bar is cleared before the table
        self.assertRegex(out, rb"accepted\s+3")


@unittest.skipUnless(os.path.isdir(os.path.join(CORPUS, "eml")), "no corpus at " + CORPUS)
class ImportCorpus(unittest.TestCase):
    """Every real report email of the corpus, as a maildir and as an mbox written by Python's
    mailbox module: every one holds a report (two are the RFC example with the same key and
    different bytes: the second is a conflict, kept but not counted)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.db = os.path.join(self.dir, "corpus.db")
        src = os.path.join(CORPUS, "eml")
        self.files = sorted(f for f in os.listdir(src) if f.endswith(".eml"))
        self.md = os.path.join(self.dir, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.md, sub))
        for f in self.files:
            shutil.copyfile(os.path.join(src, f), os.path.join(self.md, "cur", f))

    def tearDown(self):
        self.tmp.cleanup()

    def test_corpus_as_maildir_then_as_mbox(self):
        n = len(self.files)
        r = run("--db", self.db, "maildir", self.md)
        self.assertEqual(r.returncode, 0, r)
        t = table(r.stdout)
        self.assertEqual(t["messages"], n)
        self.assertEqual(t["quarantined"], 0, r)
        self.assertEqual(t["too-large (skipped)"], 0)
        self.assertEqual(t["accepted"] + t["conflict"], n, r)
        self.assertLessEqual(t["conflict"], 1, r)
        path = os.path.join(self.dir, "corpus.mbox")
        box = mailbox.mbox(path)
        for f in self.files:
            with open(os.path.join(self.md, "cur", f), "rb") as fh:
                box.add(fh.read())
        box.flush()
        box.close()
        r = run("--db", self.db, "mbox", path)
        self.assertEqual(r.returncode, 0, r)
        t = table(r.stdout)
        self.assertEqual(t["messages"], n)
        self.assertEqual(t["quarantined"], 0, r)
        self.assertEqual(t["accepted"], 0, r)  # nothing new: the same reports again
        self.assertEqual(db_rows(self.db, "SELECT count(*) FROM reports")[0][0], n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
