"""DKIM on mailed reports (RFC 8460 section 3) against the real daemon.

Keys are made by independent real tools from Debian: opendkim-genkey (RSA-2048, its zone-file
record used as is in the key file) and dknewkey (Ed25519); messages are signed by dkimpy
(python3-dkim, through dkim_sign.py under Debian's /usr/bin/python3) and delivered over SMTP
with Python's smtplib. Cases: pass (RSA relaxed, Ed25519 simple), tampered header, tampered
body, l=, expired x=, revoked key, unaligned d=, key s=email / s=tlsrpt / s=other, no
signature, rsa-sha1; policy record; release from the CLI and the API; quarantine list/show;
keys from a real DNS server (dnsmasq on 127.0.0.1) instead of the key file; a DNS server that
never answers (451, nothing stored); import and ingest with DKIM required.

Environment: TLSRPTD, TLSRPT_SOURCE_DIR (see harness.py).
"""
import base64
import grp
import gzip
import os
import pwd
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TLSRPTD, Daemon, curl, make_report, report_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIGNER = [("/usr/bin/python3"), os.path.join(HERE, "dkim_sign.py")]
REPORTER = "reporter.example"
IO_TIMEOUT = 30


def tool(*args, cwd=None):
    p = subprocess.run(list(args), cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (args[0], p.stderr.decode(errors="replace")))
    return p.stdout


def zone_txt(path):
    """The quoted pieces of an opendkim-genkey zone file record, as one key-file value."""
    text = open(path).read()
    return " ".join(re.findall(r'"[^"]*"', text))


def report_mail(report_id, submitter=REPORTER, contact="tlsrpt@" + REPORTER, eol="\r\n"):
    rep = make_report(report_id=report_id, domain="example.com", org="Reporter Example",
                      contact=contact)
    # mtime=0: the same report_id gives the same bytes every time
    gz = gzip.compress(report_bytes(rep), mtime=0)
    b64 = base64.encodebytes(gz).decode().replace("\n", eol)
    lines = [
        "From: TLS reports <noreply-tlsrpt@%s>" % REPORTER,
        "To: tlsrpt@example.com",
        "Subject: Report Domain: example.com Submitter: %s Report-ID: <%s@%s>" % (submitter, report_id, REPORTER),
        "Message-ID: <%s.m@%s>" % (report_id, REPORTER),
        "Date: Sun, 01 Nov 2026 08:00:00 +0000",
        "TLS-Report-Domain: example.com",
        "TLS-Report-Submitter: %s" % submitter,
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type="tlsrpt"; boundary="b1"',
        "",
        "--b1",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is an aggregate TLS report from %s." % REPORTER,
        "",
        "--b1",
        "Content-Type: application/tlsrpt+gzip",
        'Content-Disposition: attachment; filename="%s!example.com!1761955200!1762041599.json.gz"' % REPORTER,
        "Content-Transfer-Encoding: base64",
        "",
        b64.rstrip(eol),
        "--b1--",
        "",
    ]
    return eol.join(lines).encode()


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dns_wait(port, proc, timeout=10):
    """Waits until the server on 127.0.0.1:port answers a TXT query (any answer)."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + \
        b"".join(bytes([len(x)]) + x.encode() for x in ("probe", REPORTER.split(".")[0],
                                                        REPORTER.split(".")[1])) + \
        b"\x00\x00\x10\x00\x01"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("dnsmasq exited: " + proc.stderr.read().decode(errors="replace"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            s.sendto(q, ("127.0.0.1", port))
            try:
                if s.recv(512)[:2] == b"\x12\x34":
                    return
            except socket.timeout:
                pass
    raise AssertionError("dnsmasq never answered on port %d" % port)


class Keys:
    """Test keys in a temporary directory and the key file the daemon reads."""

    def __init__(self, d):
        self.dir = d
        tool("opendkim-genkey", "-b", "2048", "-d", REPORTER, "-s", "rsa2048", "-D", d)
        tool("dknewkey", "--ktype", "ed25519", os.path.join(d, "ed"))
        self.rsa = os.path.join(d, "rsa2048.private")
        self.ed = os.path.join(d, "ed.key")
        self.rsa_txt = zone_txt(os.path.join(d, "rsa2048.txt"))
        self.rsa_p = re.sub(r'"\s*"', "", self.rsa_txt).split("p=")[1].strip('" ')
        ed_dns = open(os.path.join(d, "ed.dns")).read().strip()
        self.ed_p = re.search(r"p=([A-Za-z0-9+/=]+)", ed_dns).group(1)
        lines = [
            "# test keys for tlsrptd's DKIM tests",
            # the zone-file text as opendkim-genkey wrote it (several quoted pieces)
            "rsa2048._domainkey.%s %s" % (REPORTER, self.rsa_txt),
            "ed._domainkey.%s v=DKIM1; k=ed25519; p=%s" % (REPORTER, self.ed_p),
            "email._domainkey.%s v=DKIM1; k=rsa; s=email; p=%s" % (REPORTER, self.rsa_p),
            "tlsrpt._domainkey.%s v=DKIM1; k=rsa; s=tlsrpt; p=%s" % (REPORTER, self.rsa_p),
            "other._domainkey.%s v=DKIM1; k=rsa; s=other; p=%s" % (REPORTER, self.rsa_p),
            "revoked._domainkey.%s v=DKIM1; k=rsa; p=" % REPORTER,
            "rsa2048._domainkey.elsewhere.example v=DKIM1; k=rsa; p=%s" % self.rsa_p,
        ]
        self.file = os.path.join(d, "keys.txt")
        with open(self.file, "w") as f:
            f.write("\n".join(lines) + "\n")


def sign(msg, key, selector, domain=REPORTER, alg="rsa-sha256", canon="relaxed/relaxed",
         length=False, expired=False, headers=None):
    args = SIGNER + ["--key", key, "--selector", selector, "--domain", domain, "--alg", alg,
                     "--canon", canon]
    if length:
        args.append("--length")
    if expired:
        args.append("--expired")
    if headers:
        args += ["--headers", headers]
    p = subprocess.run(args, input=msg, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("signer failed: " + p.stderr.decode(errors="replace"))
    assert p.stdout.startswith(b"DKIM-Signature:"), p.stdout[:100]
    return p.stdout


class MailDaemon(Daemon):
    def __init__(self, tmpdir, *extra, db=None):
        super().__init__(tmpdir, "--smtp", "127.0.0.1:0", "--smtp-hostname", "mx.test.example",
                         *extra, db=db)
        self.smtp_port = None

    def start(self):
        super().start()
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r"event=listening proto=smtp addr=\S+ port=(\d+)", self.logtext())
            if m:
                self.smtp_port = int(m.group(1))
                return self
            time.sleep(0.05)
        raise AssertionError("no SMTP listening line:\n" + self.logtext())

    def deliver(self, msg):
        """One message over SMTP; (code, text) of the reply to the end of DATA."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=IO_TIMEOUT) as s:
            s.ehlo("reporter-mta.test")
            code, _ = s.mail("noreply-tlsrpt@" + REPORTER)
            assert code == 250
            code, _ = s.rcpt("tlsrpt@example.com")
            assert code == 250
            code, text = s.data(msg)
            return code, text.decode(errors="replace")


class DkimTestBase(unittest.TestCase):
    policy = "require"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tlsrpt-dkim-")
        cls.keys = Keys(cls.dir)
        cls.d = MailDaemon(cls.dir, "--dkim", cls.policy, "--dkim-key-file", cls.keys.file,
                           "--dkim-resolver", "127.0.0.1:%d" % free_udp_port(),
                           "--dkim-dns-timeout", "1").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def api(self, path, method=None):
        r = curl(self.d.url(path), method=method)
        self.assertEqual(r.status, 200, r.body[:300])
        return r.json()

    def expect_pass(self, msg, selector, algorithm):
        code, text = self.d.deliver(msg)
        self.assertEqual(code, 250, text)
        m = re.search(r"report (\d+) accepted", text)
        self.assertIsNotNone(m, text)
        doc = self.api("/api/v1/reports/%s" % m.group(1))
        dk = doc["copies"][0]["meta"]["dkim"]
        self.assertEqual(dk["result"], "pass", dk)
        self.assertEqual(dk["domain"], REPORTER)
        self.assertEqual(dk["selector"], selector)
        self.assertEqual(dk["algorithm"], algorithm)
        return doc

    def expect_quarantine(self, msg, code_name, reason_part):
        code, text = self.d.deliver(msg)
        self.assertEqual(code, 250, text)
        m = re.search(r"Kept in quarantine as (\d+), not counted: (dkim: .*)", text)
        self.assertIsNotNone(m, text)
        self.assertIn(reason_part, m.group(2))
        q = self.api("/api/v1/quarantine/%s" % m.group(1))
        self.assertEqual(q["reason_code"], code_name, q)
        self.assertIn(reason_part, q["reason"])
        self.assertEqual(q["status"], "held")
        dk = q["copies"][-1]["meta"]["dkim"]
        self.assertEqual(dk["result"], "none" if code_name == "dkim-none" else "fail", dk)
        return int(m.group(1))


class TestRequire(DkimTestBase):
    def test_rsa_relaxed_pass(self):
        msg = sign(report_mail("rsa-relaxed"), self.keys.rsa, "rsa2048")
        doc = self.expect_pass(msg, "rsa2048", "rsa-sha256")
        self.assertEqual(doc["report"]["report_id"], "rsa-relaxed")

    def test_ed25519_simple_pass(self):
        msg = sign(report_mail("ed-simple"), self.keys.ed, "ed", alg="ed25519-sha256",
                   canon="simple/simple")
        self.expect_pass(msg, "ed", "ed25519-sha256")

    def test_lf_line_ends_pass(self):
        # Signed with CRLF as on the wire; the same message with bare LF is equivalent.
        msg = sign(report_mail("rsa-lf"), self.keys.rsa, "rsa2048")
        self.expect_pass(msg.replace(b"\r\n", b"\n"), "rsa2048", "rsa-sha256")

    def test_key_service_types(self):
        self.expect_pass(sign(report_mail("svc-email"), self.keys.rsa, "email"), "email", "rsa-sha256")
        self.expect_pass(sign(report_mail("svc-tlsrpt"), self.keys.rsa, "tlsrpt"), "tlsrpt", "rsa-sha256")
        self.expect_quarantine(sign(report_mail("svc-other"), self.keys.rsa, "other"),
                               "dkim-fail", "s=other")

    def test_tampered_header(self):
        msg = sign(report_mail("tamper-hdr"), self.keys.rsa, "rsa2048")
        msg = msg.replace(b"Subject: Report Domain: example.com", b"Subject: Report Domain: example.org")
        self.expect_quarantine(msg, "dkim-fail", "signature did not verify")

    def test_tampered_body(self):
        msg = sign(report_mail("tamper-body"), self.keys.rsa, "rsa2048")
        msg = msg.replace(b"aggregate TLS report", b"aggregate TLS rep0rt")
        self.expect_quarantine(msg, "dkim-fail", "body hash mismatch")

    def test_length_tag_does_not_count(self):
        msg = sign(report_mail("with-l"), self.keys.rsa, "rsa2048", length=True)
        self.assertRegex(msg.split(b"\r\n\r\n")[0], rb"[;\s]l=\d+")
        self.expect_quarantine(msg, "dkim-fail", "l=")

    def test_expired(self):
        msg = sign(report_mail("expired"), self.keys.rsa, "rsa2048", expired=True)
        self.assertRegex(msg.split(b"\r\n\r\n")[0], rb"[;\s]x=\d+")
        self.expect_quarantine(msg, "dkim-fail", "expired")

    def test_revoked_key(self):
        msg = sign(report_mail("revoked"), self.keys.rsa, "revoked")
        self.expect_quarantine(msg, "dkim-fail", "revoked")

    def test_unaligned_domain(self):
        msg = sign(report_mail("unaligned"), self.keys.rsa, "rsa2048", domain="elsewhere.example")
        self.expect_quarantine(msg, "dkim-fail", "not aligned")

    def test_aligned_through_submitter_only(self):
        # contact-info names another domain; TLS-Report-Submitter is the signer's subdomain.
        msg = sign(report_mail("via-submitter", submitter="mail." + REPORTER,
                               contact="ops@contact.example"), self.keys.rsa, "rsa2048")
        self.expect_pass(msg, "rsa2048", "rsa-sha256")

    def test_rsa_sha1_refused(self):
        msg = sign(report_mail("sha1"), self.keys.rsa, "rsa2048", alg="rsa-sha1")
        self.expect_quarantine(msg, "dkim-fail", "rsa-sha1")

    def test_unsigned(self):
        before = self.dkim_metrics()
        self.expect_quarantine(report_mail("unsigned"), "dkim-none", "no signature")
        after = self.dkim_metrics()
        self.assertEqual(after["none"], before["none"] + 1)
        self.assertEqual(after["pass"], before["pass"])

    def dkim_metrics(self):
        text = curl(self.d.url("/metrics")).body.decode()
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r'^tlsrptd_dkim_verdicts_total\{result="(\w+)"\} (\d+)$', text, re.M)}

    def assert_not_counted(self, msg, report_id):
        code, text = self.d.deliver(msg)
        # kept in quarantine: 250 for DKIM, 554 when the body is not even a report
        self.assertIn(code, (250, 554), text)
        self.assertRegex(text, r"(?i)kept in quarantine")
        self.assertNotRegex(text, r"report \d+ accepted")
        rows = self.d.db_rows("SELECT count(*) FROM reports WHERE report_id = ?", (report_id,))
        self.assertEqual(rows[0][0], 0)
        return text

    def test_forged_header_section(self):
        # A real signed message with a forged report placed above it, behind a header line too
        # long to be a field: whoever reads that line as a field sees the signed message,
        # whoever reads it as the body start sees the forgery. Both readers here agree that
        # it starts the body, so the signature is not in the header section any more.
        signed = sign(report_mail("genuine-1"), self.keys.rsa, "rsa2048")
        forged = make_report(report_id="forged-0001", domain="example.com",
                             org="FORGED", contact="tlsrpt@" + REPORTER)
        b64 = base64.b64encode(gzip.compress(report_bytes(forged), mtime=0)).decode().rstrip("=")
        line = (b64 * (1 + 960 // len(b64)))[:960] + ": x"
        msg = ("Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
               + line + "\r\n").encode() + signed
        self.assert_not_counted(msg, "forged-0001")
        self.assertEqual(self.d.db_rows("SELECT count(*) FROM reports WHERE report_id = 'genuine-1'")[0][0], 0)

    def test_duplicate_header_above_signature(self):
        # The MIME reader takes the first TLS-Report-Submitter, the signature covers the last.
        signed = sign(report_mail("dup-hdr"), self.keys.rsa, "rsa2048")
        msg = b"TLS-Report-Submitter: evil.example\r\n" + signed
        text = self.assert_not_counted(msg, "dup-hdr")
        self.assertIn("appears twice", text)

    def test_bare_report_in_data_is_unsigned(self):
        # SMTP DATA holding only a report (no header section): not a signed message.
        text = self.assert_not_counted(report_bytes(make_report(report_id="bare-json")), "bare-json")
        self.assertIn("dkim: no signature", text)

    def test_unknown_selector_without_dns_is_temporary(self):
        # Not in the key file, and the resolver never answers: 451, nothing kept.
        msg = sign(report_mail("no-dns"), self.keys.rsa, "missing")
        before = self.api("/api/v1/stats")
        code, text = self.d.deliver(msg)
        self.assertEqual(code, 451, text)
        self.assertIn("4.4.3", text)
        # (the resolver port is closed: refused at once, or a timeout where ICMP is dropped)
        self.assertRegex(text, r"dkim: key lookup failed: missing\._domainkey\.reporter\.example: "
                               r"(timed out|no answer \(Connection refused\)) \(d=reporter\.example s=missing\)")
        after = self.api("/api/v1/stats")
        self.assertEqual(before["reports"], after["reports"])
        self.assertEqual(len(self.d.db_rows("SELECT id FROM report_copies WHERE meta LIKE '%no-dns%'")), 0)

    def test_release_from_cli_and_api(self):
        qid = self.expect_quarantine(report_mail("release-cli"), "dkim-none", "no signature")
        base = [TLSRPTD, "quarantine"]
        db = ["--db", self.d.db, "--dkim-key-file", self.keys.file]
        p = subprocess.run(base + ["list"] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"(?m)^%d\s+held .*dkim-none: dkim: no signature" % qid)
        p = subprocess.run(base + ["show", str(qid)] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("dkim: none", p.stdout.decode())
        p = subprocess.run(base + ["show", str(qid), "--raw"] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, report_mail("release-cli"))
        # reprocess keeps it out (still unsigned); release counts it
        p = subprocess.run(base + ["reprocess", str(qid)] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 65, p.stdout + p.stderr)
        self.assertIn(b"(held): not a report this way: dkim-none: dkim: no signature", p.stdout)
        p = subprocess.run(base + ["release", str(qid)] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = re.search(rb"accepted as report (\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        doc = self.api("/api/v1/reports/%s" % m.group(1).decode())
        copy = doc["copies"][0]
        self.assertEqual(copy["transport"], "release")
        self.assertEqual(copy["meta"]["dkim"]["result"], "none")
        self.assertTrue(copy["meta"]["dkim"]["released"])
        self.assertEqual(self.api("/api/v1/quarantine/%d" % qid)["status"], "reprocessed")
        # reprocess (DKIM checked again) of a released row: still unsigned, but the row stays
        # what it is, and the answer says so
        r = curl(self.d.url("/api/v1/quarantine/%d/reprocess" % qid), method="POST", data=b"")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "quarantined")
        self.assertEqual(r.json()["quarantine_status"], "reprocessed")
        self.assertEqual(self.api("/api/v1/quarantine/%d" % qid)["status"], "reprocessed")
        # release again: a duplicate of the report it became
        p = subprocess.run(base + ["release", str(qid)] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"duplicate as report " + m.group(1), p.stdout)
        p = subprocess.run(base + ["show", "999999"] + db, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 65)

        # the API's release
        qid2 = self.expect_quarantine(sign(report_mail("release-api"), self.keys.rsa, "revoked"),
                                      "dkim-fail", "revoked")
        r = curl(self.d.url("/api/v1/quarantine/%d/reprocess" % qid2), method="POST", data=b"")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["quarantine_status"], "held")
        self.assertEqual(r.json()["error"]["code"], "dkim-fail")
        r = curl(self.d.url("/api/v1/quarantine/%d/release" % qid2), method="POST", data=b"")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["status"], "accepted")
        self.assertEqual(r.json()["quarantine_status"], "reprocessed")

    def test_ingest_and_import_require(self):
        db = ["--db", self.d.db, "--dkim", "require", "--dkim-key-file", self.keys.file,
              "--dkim-resolver", "127.0.0.1:%d" % free_udp_port(), "--dkim-dns-timeout", "1"]
        # ingest - (an MTA's pipe): kept in quarantine, exit 0 so the MTA does not bounce it
        p = subprocess.run([TLSRPTD, "ingest"] + db + ["-"], input=report_mail("pipe-unsigned"),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"quarantined", p.stdout)
        self.assertIn(b"dkim-none", p.stdout)
        p = subprocess.run([TLSRPTD, "ingest"] + db + ["-"],
                           input=sign(report_mail("pipe-signed"), self.keys.rsa, "rsa2048"),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"accepted", p.stdout)
        # check shows the verdict without storing anything
        path = os.path.join(self.dir, "signed.eml")
        with open(path, "wb") as f:
            f.write(sign(report_mail("check-signed"), self.keys.ed, "ed", alg="ed25519-sha256"))
        p = subprocess.run([TLSRPTD, "check"] + db[2:] + [path], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"dkim: pass d=reporter.example s=ed a=ed25519-sha256", p.stdout)
        # import mbox: one signed, one not
        mbox = os.path.join(self.dir, "box.mbox")
        with open(mbox, "wb") as f:
            for m in (sign(report_mail("mbox-signed"), self.keys.rsa, "rsa2048"),
                      report_mail("mbox-unsigned", eol="\n")):
                f.write(b"From reporter@example Sun Nov  1 08:00:00 2026\n" + m.replace(b"\r\n", b"\n") + b"\n")
        p = subprocess.run([TLSRPTD, "import"] + db + ["mbox", mbox], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 65, p.stdout + p.stderr)
        out = p.stdout.decode()
        self.assertRegex(out, r"accepted\s+1\b")
        self.assertRegex(out, r"dkim-none\s+1\b")


class TestRecord(DkimTestBase):
    policy = "record"

    def test_unsigned_counted_with_verdict(self):
        code, text = self.d.deliver(report_mail("record-unsigned"))
        self.assertEqual(code, 250, text)
        m = re.search(r"report (\d+) accepted", text)
        self.assertIsNotNone(m, text)
        dk = self.api("/api/v1/reports/%s" % m.group(1))["copies"][0]["meta"]["dkim"]
        self.assertEqual(dk["result"], "none")
        self.assertEqual(dk["policy"], "record")

    def test_bad_body_counted_with_verdict(self):
        msg = sign(report_mail("record-bad"), self.keys.rsa, "rsa2048")
        msg = msg.replace(b"aggregate TLS report", b"aggregate TLS rep0rt")
        code, text = self.d.deliver(msg)
        self.assertEqual(code, 250, text)
        m = re.search(r"report (\d+) accepted", text)
        self.assertIsNotNone(m, text)
        dk = self.api("/api/v1/reports/%s" % m.group(1))["copies"][0]["meta"]["dkim"]
        self.assertEqual(dk["result"], "fail")
        self.assertIn("body hash mismatch", dk["reason"])


class TestDnsKeys(unittest.TestCase):
    """Keys from a real authoritative server on 127.0.0.1 (Debian's dnsmasq), no key file."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tlsrpt-dkim-dns-")
        cls.keys = Keys(cls.dir)
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(dnsmasq):
            raise AssertionError("dnsmasq is missing: make deps installs dnsmasq-base")
        rec = "v=DKIM1; k=rsa; p=" + cls.keys.rsa_p
        pieces = [rec[i:i + 200] for i in range(0, len(rec), 200)]  # several TXT strings
        cls.port = free_udp_port()
        cls.dns = subprocess.Popen([
            dnsmasq, "--keep-in-foreground", "--port=%d" % cls.port,
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--conf-file=/dev/null", "--pid-file=%s" % os.path.join(cls.dir, "dnsmasq.pid"),
            "--user=%s" % pwd.getpwuid(os.getuid()).pw_name,
            "--group=%s" % grp.getgrgid(os.getgid()).gr_name,
            "--log-facility=-", "--local=/%s/" % REPORTER, "--local-ttl=300",
            "--txt-record=dns._domainkey.%s,%s" % (REPORTER, ",".join(pieces)),
        ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dns_wait(cls.port, cls.dns)
        cls.d = MailDaemon(cls.dir, "--dkim", "require",
                           "--dkim-resolver", "127.0.0.1:%d" % cls.port,
                           "--dkim-dns-timeout", "2").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.dns.terminate()
        cls.dns.wait(10)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_key_from_dns(self):
        code, text = self.d.deliver(sign(report_mail("dns-pass"), self.keys.rsa, "dns"))
        self.assertEqual(code, 250, text)
        self.assertRegex(text, r"report \d+ accepted")

    def test_nxdomain_is_a_failure(self):
        code, text = self.d.deliver(sign(report_mail("dns-nx"), self.keys.rsa, "absent"))
        self.assertEqual(code, 250, text)
        self.assertIn("Kept in quarantine", text)
        self.assertIn("no key", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
