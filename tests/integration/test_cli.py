"""The command line: check, ingest (files and stdin), config --check, --help/--version on every
subcommand, config errors with file:line, and port 0 logging the real port."""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TLSRPTD, Daemon, curl, make_report, report_bytes  # noqa: E402


def run(*args, stdin=None):
    return subprocess.run([TLSRPTD] + list(args), input=stdin, capture_output=True, timeout=60)


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, data):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_help_and_version_everywhere(self):
        for sub in ([], ["serve"], ["ingest"], ["check"], ["config"]):
            r = run(*(sub + ["--version"]))
            self.assertEqual(r.returncode, 0, (sub, r))
            self.assertRegex(r.stdout.decode(), r"^tlsrptd \d+\.\d+\.\d+")
            r = run(*(sub + ["--help"]))
            self.assertEqual(r.returncode, 0, (sub, r))
            self.assertIn("usage: tlsrptd", r.stdout.decode())
        self.assertEqual(run("frobnicate").returncode, 64)
        self.assertEqual(run("serve", "--no-such-option", "1").returncode, 64)

    def test_check_exit_codes_and_output(self):
        good = self.write("good.json", report_bytes(make_report(report_id="chk-1", success=7,
                                                                  failures=[("validation-failure", 2)])))
        gz = self.write("good.json.gz", report_bytes(make_report(report_id="chk-2"), gz=True))
        bad = self.write("bad.json", b'{"policies": [}')
        r = run("check", good, gz)
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode()
        self.assertIn("report-id: chk-1", out)
        self.assertIn("7 successful, 2 failed", out)
        self.assertIn("report (gzip)", out)
        r = run("check", good, bad)
        self.assertEqual(r.returncode, 65, r)
        self.assertIn("rejected", r.stdout.decode())
        r = run("check", "--json", bad)
        self.assertEqual(r.returncode, 65)
        doc = json.loads(r.stdout.decode().splitlines()[0])
        self.assertEqual(doc["verdict"], "rejected")
        self.assertEqual(doc["error"]["line"], 1)
        r = run("check", os.path.join(self.dir, "missing.json"))
        self.assertEqual(r.returncode, 66)

    def test_check_reads_a_whole_email(self):
        payload = gzip.compress(report_bytes(make_report(report_id="mail-1", domain="example.net")))
        import base64
        b64 = base64.encodebytes(payload).decode()
        msg = ("From: reporter@sender.example\r\nTo: tlsrpt@example.net\r\nSubject: Report Domain: example.net\r\n"
               "TLS-Report-Domain: example.net\r\nTLS-Report-Submitter: sender.example\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt;\r\n"
               " boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n"
               "--b1\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
               "Content-Disposition: attachment; filename=\"sender.example!example.net!1!2.json.gz\"\r\n\r\n"
               + b64.replace("\n", "\r\n") + "--b1--\r\n").encode()
        p = self.write("mail.eml", msg)
        # Unsigned: with the default dkim require it is not a report we would count.
        r = run("check", "--json", p)
        self.assertEqual(r.returncode, 65, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["error"]["code"], "dkim-none")
        self.assertEqual(doc["dkim"]["result"], "none")
        r = run("check", "--json", "--dkim", "off", p)
        self.assertEqual(r.returncode, 0, r)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["format"], "mail")
        self.assertEqual(doc["tls_report_domain"], "example.net")
        self.assertEqual(doc["report"]["report_id"], "mail-1")

    def test_ingest_files_and_stdin(self):
        db = os.path.join(self.dir, "cli.db")
        a = self.write("a.json", report_bytes(make_report(report_id="ing-1")))
        b = self.write("b.json.gz", report_bytes(make_report(report_id="ing-2"), gz=True))
        r = run("ingest", "--db", db, a, b)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("accepted", r.stdout.decode())
        r = run("ingest", "--db", db, "-", stdin=report_bytes(make_report(report_id="ing-1")))
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("duplicate", r.stdout.decode())
        bad = self.write("bad.json", b"{ nope")
        r = run("ingest", "--db", db, bad)
        self.assertEqual(r.returncode, 65, r)
        self.assertIn("quarantined", r.stdout.decode())
        # What was ingested is served by the daemon on the same database.
        with Daemon(self.dir, db=db) as d:
            lst = curl(d.url("/api/v1/reports")).json()["reports"]
            self.assertEqual(sorted(x["report_id"] for x in lst), ["ing-1", "ing-2"])
            ing1 = [x for x in lst if x["report_id"] == "ing-1"][0]
            self.assertEqual(ing1["copies"], 2)
            det = curl(d.url("/api/v1/reports/%d" % ing1["id"])).json()
            self.assertEqual(sorted(c["transport"] for c in det["copies"]), ["file", "stdin"])
            self.assertEqual(d.stop(), 0)

    def test_config_check_and_errors(self):
        conf = self.write("t.conf", b"# comment\ndb_path /tmp/x.db\nhttp_listen 127.0.0.1:9999\n"
                                    b"allowed_domains Example.COM.\nallowed_domains example.net\n")
        r = run("config", "--check", "-c", conf)
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode()
        self.assertIn("\ndb_path /tmp/x.db\n", out)
        self.assertIn("\nallowed_domains example.com example.net\n", out)
        self.assertIn("\nmax_body_size 10485760\n", out)
        # The command line overrides the file.
        r = run("config", "--check", "-c", conf, "--http-listen", "[::1]:0", "--max-body-size=1M")
        self.assertIn("\nhttp_listen [::1]:0\n", r.stdout.decode())
        self.assertIn("\nmax_body_size 1048576\n", r.stdout.decode())
        bad = self.write("bad.conf", b"db_path /tmp/x.db\n\nhttp_timeout 0\n")
        r = run("config", "--check", "-c", bad)
        self.assertEqual(r.returncode, 78)
        self.assertIn("bad.conf:3:", r.stderr.decode())
        unk = self.write("unk.conf", b"no_such_key 1\n")
        r = run("config", "--check", "-c", unk)
        self.assertIn("unk.conf:1: unknown key 'no_such_key'", r.stderr.decode())
        # What serve would refuse at start, --check refuses too.
        r = run("config", "--check", "--dkim-key-file", os.path.join(self.dir, "missing.keys"))
        self.assertEqual(r.returncode, 78, r)
        self.assertIn("cannot open", r.stderr.decode())
        r = run("config", "--check", "--dkim-resolver", "dns.example")
        self.assertEqual(r.returncode, 78, r)
        self.assertIn("resolver address", r.stderr.decode())
        r = run("config", "--check", "--dkim", "sometimes")
        self.assertEqual(r.returncode, 78, r)
        r = run("config", "--check", "--dkim", "off", "--dkim-key-file", os.path.join(self.dir, "missing.keys"))
        self.assertEqual(r.returncode, 0, r)   # not read when DKIM is off

    def test_default_config_file_is_valid(self):
        import harness
        r = run("config", "--check", "-c", os.path.join(harness.SOURCE_DIR, "collector", "tlsrptd.conf"))
        self.assertEqual(r.returncode, 0, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
