"""SMTP and LMTP ingest against the real daemon: swaks (plain, STARTTLS, PIPELINING), Python's
smtplib (duplicates, LMTP with two recipients), the shared corpus of report emails end to end,
and raw sockets for what clients normally never do: oversize messages, too many recipients,
unknown recipients, idle clients, garbage commands, a client that drops mid-DATA, plaintext
injected after STARTTLS, a locked database, too many connections and SIGTERM during DATA.

The daemon is started with --smtp 127.0.0.1:0 (and --lmtp) and the real ports are read from
its log lines "event=listening proto=smtp|lmtp addr=... port=N".

Environment: TLSRPTD, TLSRPT_SOURCE_DIR (see harness.py); TLSRPT_CORPUS (default
<source>/../shared/corpus; the corpus test skips when it is absent). Needs swaks and openssl.
"""
import base64
import glob
import gzip
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, Daemon, curl, make_report, report_bytes  # noqa: E402

CORPUS = os.path.normpath(os.environ.get("TLSRPT_CORPUS") or
                          os.path.join(SOURCE_DIR, os.pardir, "shared", "corpus"))
HOST = "mx.test.example"
IO_TIMEOUT = 20

# The policy domain(s) of each corpus message, read by hand from the messages' reports.
CORPUS_DOMAINS = {
    "google_2020-03_fastmail.eml": ["fastmaildmarc.com"],
    "google_2022-09_crlf.eml": ["test.xmox.nl"],
    "google_2023-02_mbox_headers.eml": ["blogreen.org"],
    "google_2024-01_deltachat.eml": ["nine.testrun.org"],
    "google_2024-09_ironport_banner.eml": ["cardinalhealth.ca"],
    "google_2026-05_fastmail_anon.eml": ["example.com"],
    "microsoft_2023-02_no_timezone.eml": ["test.xmox.nl"],
    "microsoft_2026-05_html_part_anon.eml": ["example.com"],
    "rfc8460_example_gzip.eml": ["company-y.example"],
    "synth_google_headers_failure_payload.eml": ["example.com"],
    "synth_rfc8460_example_crlf_onelineheaders.eml": ["company-y.example"],
    "synth_rfc8460_example_uncompressed_json.eml": ["example.com"],
}


# ---- helpers ---------------------------------------------------------------------------------

class MailDaemon(Daemon):
    """The daemon with its SMTP (and optionally LMTP) listener on port 0."""

    def __init__(self, tmpdir, *extra, lmtp=False, db=None):
        args = ["--smtp", "127.0.0.1:0", "--smtp-hostname", HOST]
        if lmtp:
            args += ["--lmtp", "127.0.0.1:0"]
        super().__init__(tmpdir, *(args + list(extra)), db=db)
        self.want_lmtp = lmtp
        self.smtp_port = self.lmtp_port = None

    def start(self):
        super().start()
        deadline = time.time() + 20
        while time.time() < deadline:
            text = self.logtext()
            m = re.search(r"event=listening proto=smtp addr=\S+ port=(\d+)", text)
            l = re.search(r"event=listening proto=lmtp addr=\S+ port=(\d+)", text)
            if m and (l or not self.want_lmtp):
                self.smtp_port = int(m.group(1))
                self.lmtp_port = int(l.group(1)) if l else None
                assert self.smtp_port != 0
                return self
            if self.proc.poll() is not None:
                raise AssertionError("tlsrptd exited:\n" + text)
            time.sleep(0.05)
        raise AssertionError("no SMTP listening line:\n" + self.logtext())

    def wait_log(self, pattern, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.logtext())
            if m:
                return m
            time.sleep(0.05)
        raise AssertionError("log never matched %r:\n%s" % (pattern, self.logtext()[-3000:]))


def make_message(rep, gz=True, eol="\r\n", domain="example.net", extra_text=""):
    """A TLS report email as a reporter sends it: multipart/report with the report attached."""
    payload = report_bytes(rep, gz=gz)
    part_type = "application/tlsrpt+gzip" if gz else "application/tlsrpt+json"
    b64 = base64.encodebytes(payload).decode().replace("\n", eol)
    rid = rep["report-id"]
    lines = [
        "From: TLS Reporting <noreply-tlsrpt@sender.example>",
        "To: tlsrpt@%s" % domain,
        "Subject: Report Domain: %s Submitter: sender.example Report-ID: <%s@sender.example>" % (domain, rid),
        "Message-ID: <%s.msg@sender.example>" % rid,
        "Date: Sun, 01 Nov 2026 08:00:00 +0000",
        "TLS-Report-Domain: %s" % domain,
        "TLS-Report-Submitter: sender.example",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type="tlsrpt";',
        '\tboundary="=_b0undary"',
        "",
        "--=_b0undary",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is an aggregate TLS report from sender.example.",
        ".A line that starts with a dot (stuffed on the wire).",
        extra_text,
        "--=_b0undary",
        "Content-Type: %s" % part_type,
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="sender.example!%s!1793491200!1793577599!%s.json%s"'
        % (domain, rid, ".gz" if gz else ""),
        "",
    ]
    return (eol.join(lines) + eol + b64 + "--=_b0undary--" + eol).encode()


def plain_message(text="Hello, this is not a report.", subject="hello"):
    return ("From: someone@sender.example\r\nTo: tlsrpt@example.com\r\nSubject: %s\r\n"
            "Message-ID: <%s@sender.example>\r\n\r\n%s\r\n" % (subject, subject, text)).encode()


def wire(msg):
    """msg as DATA content on the wire: CRLF lines, dot-stuffed, with the final dot."""
    msg = re.sub(rb"(?<!\r)\n", b"\r\n", msg)
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    msg = re.sub(rb"(?m)^\.", b"..", msg)
    return msg + b".\r\n"


class Raw:
    """A byte-level SMTP client on a plain socket (optionally switched to TLS)."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("ascii", "replace")

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed_by_peer(self, timeout=IO_TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def starttls(self):
        assert self.buf == b"", "bytes buffered before the handshake: %r" % self.buf
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=HOST)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def session(port, timeout=10):
    """A connection that got the 220 greeting; retried while the daemon still counts sessions
    that clients have just closed (421 4.7.0: too many connections)."""
    deadline = time.time() + timeout
    while True:
        c = Raw(port)
        code, lines = c.reply()
        if code == 220:
            return c
        c.close()
        if time.time() > deadline:
            raise AssertionError("no 220 greeting: %r" % lines)
        time.sleep(0.1)


def make_cert(tmpdir):
    cert, key = os.path.join(tmpdir, "cert.pem"), os.path.join(tmpdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=" + HOST, "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=120)
    return cert, key


def reply_report_id(text):
    m = re.search(r"report (\d+)", text)
    assert m, "no report id in %r" % text
    return int(m.group(1))


def swaks(port, msg_path, *extra, to="tlsrpt@example.com"):
    cmd = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "reporter@sender.example",
           "--to", to, "--helo", "client.sender.example", "--data", "@" + msg_path,
           "--timeout", str(IO_TIMEOUT)] + list(extra)
    return subprocess.run(cmd, capture_output=True, timeout=120)


# ---- the main daemon: delivery, replies, provenance ----------------------------------------

@unittest.skipIf(shutil.which("swaks") is None or shutil.which("openssl") is None,
                 "swaks and openssl are needed (make deps)")
class SmtpIngest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cert, key = make_cert(cls.tmp.name)
        cls.d = MailDaemon(cls.tmp.name, "--tls-cert", cert, "--tls-key", key,
                           "--smtp-recipients", "tlsrpt@example.com @example.net",
                           "--allowed-domains", "example.com example.net",
                           "--smtp-max-message", "256K", "--smtp-max-recipients", "3",
                           "--db-busy-timeout", "300", lmtp=True).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def write(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def api_report(self, rid):
        r = curl(self.d.url("/api/v1/reports/%d" % rid))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.d.smtp_port, timeout=IO_TIMEOUT)
        s.ehlo("client.sender.example")
        return s

    def deliver(self, msg, rcpts=("tlsrpt@example.com",), sender="reporter@sender.example"):
        """One transaction with smtplib; returns the (code, text) of the reply to DATA."""
        s = self.smtp()
        try:
            self.assertEqual(s.mail(sender)[0], 250)
            for r in rcpts:
                self.assertEqual(s.rcpt(r)[0], 250, r)
            code, text = s.data(msg)
            return code, text.decode()
        finally:
            s.quit()

    def count(self, sql, args=()):
        return self.d.db_rows(sql, args)[0][0]

    # -- swaks

    def test_swaks_plain_delivery_and_provenance(self):
        rep = make_report(report_id="smtp-swaks-1", domain="example.net", success=12,
                          failures=[("certificate-expired", 3)])
        out = swaks(self.d.smtp_port, self.write("swaks1.eml", make_message(rep)))
        text = out.stdout.decode(errors="replace")
        self.assertEqual(out.returncode, 0, text + out.stderr.decode(errors="replace"))
        m = re.search(r"<-  250 2\.0\.0 Ok: report (\d+) accepted", text)
        self.assertTrue(m, text)
        doc = self.api_report(int(m.group(1)))
        self.assertEqual(doc["domains"], ["example.net"])
        self.assertEqual(doc["report_id"], "smtp-swaks-1")
        copy = doc["copies"][0]
        self.assertEqual(copy["transport"], "smtp")
        self.assertEqual(copy["peer"], "127.0.0.1")
        meta = copy["meta"]
        self.assertEqual(meta["client_ip"], "127.0.0.1")
        self.assertRegex(meta["session"], r"^S[0-9a-f]+-\d+$")
        self.assertEqual(meta["helo"], "client.sender.example")
        self.assertEqual(meta["mail_from"], "reporter@sender.example")
        self.assertEqual(meta["rcpts"], ["tlsrpt@example.com"])
        self.assertIsNone(meta["tls"])
        # What the pipeline adds from the message itself.
        self.assertEqual(meta["mail"]["tls_report_domain"], "example.net")
        self.assertEqual(meta["mail"]["tls_report_submitter"], "sender.example")
        self.assertIn("smtp-swaks-1", meta["mail"]["message_id"])
        self.assertIn("smtp-swaks-1", meta["mail"]["subject_report_id"])
        self.assertRegex(self.d.logtext(), r"event=smtp_message sid=\S+ proto=smtp verdict=accepted reply=250")

    def test_swaks_starttls(self):
        rep = make_report(report_id="smtp-tls-1", domain="example.com")
        out = swaks(self.d.smtp_port, self.write("tls1.eml", make_message(rep, domain="example.com")), "-tls")
        text = out.stdout.decode(errors="replace")
        self.assertEqual(out.returncode, 0, text + out.stderr.decode(errors="replace"))
        self.assertIn("STARTTLS", text)
        m = re.search(r"<~  250 2\.0\.0 Ok: report (\d+) accepted", text)  # "~": inside TLS
        self.assertTrue(m, text)
        meta = self.api_report(int(m.group(1)))["copies"][0]["meta"]
        self.assertRegex(meta["tls"]["version"], r"^TLSv1\.[23]$")
        self.assertTrue(meta["tls"]["cipher"])
        self.assertRegex(self.d.logtext(), r"event=smtp_tls sid=\S+ status=ok version=TLSv1\.[23]")

    def test_swaks_starttls_refuses_old_protocols(self):
        rep = make_report(report_id="smtp-tls-old", domain="example.com")
        out = swaks(self.d.smtp_port, self.write("tlsold.eml", make_message(rep, domain="example.com")),
                    "-tls", "--tls-protocol", "tlsv1_1")
        self.assertNotEqual(out.returncode, 0, out.stdout.decode(errors="replace"))
        # Refused by the daemon (TLS 1.2 minimum), not merely by the client's own policy.
        self.d.wait_log(r"event=smtp_tls_error sid=\S+ op=handshake error=.*unsupported protocol")
        self.assertEqual(self.count("SELECT COUNT(*) FROM reports WHERE report_id='smtp-tls-old'"), 0)

    def test_swaks_pipelining(self):
        rep = make_report(report_id="smtp-pipe-1", domain="example.net")
        out = swaks(self.d.smtp_port, self.write("pipe1.eml", make_message(rep)), "--pipeline")
        text = out.stdout.decode(errors="replace")
        self.assertEqual(out.returncode, 0, text + out.stderr.decode(errors="replace"))
        self.assertIn("PIPELINING", text)
        self.assertRegex(text, r"250 2\.0\.0 Ok: report \d+ accepted")

    # -- smtplib and LMTP

    def test_smtplib_duplicate_is_250_and_stored_once(self):
        msg = make_message(make_report(report_id="smtp-dup-1", domain="example.net"))
        code, text = self.deliver(msg)
        self.assertEqual(code, 250, text)
        self.assertIn("accepted", text)
        rid = reply_report_id(text)
        code2, text2 = self.deliver(msg, sender="")
        self.assertEqual(code2, 250, text2)
        self.assertIn("duplicate", text2)
        self.assertEqual(reply_report_id(text2), rid)
        self.assertEqual(self.count("SELECT COUNT(*) FROM reports WHERE report_id='smtp-dup-1'"), 1)
        doc = self.api_report(rid)
        self.assertEqual(len(doc["copies"]), 2)
        self.assertEqual(sorted(c["meta"]["mail_from"] for c in doc["copies"]), ["", "reporter@sender.example"])

    def test_smtplib_sendmail_and_recipient_domains(self):
        msg = make_message(make_report(report_id="smtp-sendmail-1", domain="example.net"))
        with smtplib.SMTP("127.0.0.1", self.d.smtp_port, timeout=IO_TIMEOUT) as s:
            refused = s.sendmail("r@sender.example", ["tlsrpt@example.com", "Anyone@EXAMPLE.NET"], msg)
        self.assertEqual(refused, {})
        self.assertEqual(self.count("SELECT COUNT(*) FROM reports WHERE report_id='smtp-sendmail-1'"), 1)

    def test_lmtp_two_recipients_two_replies(self):
        msg = make_message(make_report(report_id="lmtp-1", domain="example.net"))
        l = smtplib.LMTP("127.0.0.1", self.d.lmtp_port, timeout=IO_TIMEOUT)
        try:
            self.assertEqual(l.ehlo("client.sender.example")[0], 250)   # smtplib.LMTP says LHLO
            self.assertEqual(l.mail("reporter@sender.example")[0], 250)
            self.assertEqual(l.rcpt("tlsrpt@example.com")[0], 250)
            self.assertEqual(l.rcpt("postmaster@example.net")[0], 250)
            self.assertEqual(l.rcpt("nobody@elsewhere.example")[0], 550)
            code1, text1 = l.data(msg)
            code2, text2 = l.getreply()          # LMTP: one reply per accepted recipient
            self.assertEqual((code1, code2), (250, 250), (text1, text2))
            self.assertEqual(reply_report_id(text1.decode()), reply_report_id(text2.decode()))
            self.assertEqual(l.noop()[0], 250)   # nothing more was queued
            self.assertEqual(l.docmd("EHLO", "x")[0], 500)
        finally:
            l.close()
        doc = self.api_report(reply_report_id(text1.decode()))
        self.assertEqual(doc["copies"][0]["transport"], "lmtp")
        self.assertEqual(doc["copies"][0]["meta"]["rcpts"], ["tlsrpt@example.com", "postmaster@example.net"])

    # -- refusals

    def test_not_a_report_is_554_and_quarantined(self):
        code, text = self.deliver(plain_message(subject="not-a-report-1"))
        self.assertEqual(code, 554, text)
        self.assertTrue(text.startswith("5.6.0 "), text)
        qid = int(re.search(r"quarantine as (\d+)", text).group(1))
        rows = self.d.db_rows("SELECT q.reason_code, c.transport FROM quarantine q JOIN report_copies c "
                              "ON c.quarantine = q.id WHERE q.id = ?", (qid,))
        self.assertEqual(rows[0][1], "smtp")
        self.assertIn(rows[0][0], text)

    def test_bad_json_is_554_with_line_and_column(self):
        body = b'{\n  "organization-name": "X",\n  "policies": [ }\n'
        msg = (b"From: r@sender.example\r\nTo: tlsrpt@example.com\r\nSubject: bad json\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=bb\r\n\r\n"
               b"--bb\r\nContent-Type: text/plain\r\n\r\nreport\r\n--bb\r\n"
               b"Content-Type: application/tlsrpt+json\r\n\r\n" + body.replace(b"\n", b"\r\n") + b"--bb--\r\n")
        code, text = self.deliver(msg)
        self.assertEqual(code, 554, text)
        self.assertRegex(text, r"^5\.6\.0 \S+: .*\(line 3, column \d+\); kept in quarantine as \d+$")

    def test_domain_not_served_is_550_5_7_1(self):
        msg = make_message(make_report(report_id="smtp-other-1", domain="example.org"), domain="example.org")
        code, text = self.deliver(msg)
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.1 domain-not-served"), text)

    def test_oversize_by_size_and_by_data(self):
        big = make_message(make_report(report_id="smtp-big-1"), extra_text=("P" * 900 + "\r\n") * 340)
        # smtplib announces SIZE: refused at MAIL.
        with smtplib.SMTP("127.0.0.1", self.d.smtp_port, timeout=IO_TIMEOUT) as s:
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("r@sender.example", ["tlsrpt@example.com"], big)
            self.assertEqual(cm.exception.smtp_code, 552)
        # Without SIZE: read to the end, then 552 5.3.4; the session goes on.
        c = session(self.d.smtp_port)
        try:
            self.assertEqual(c.cmd("EHLO client.sender.example")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<r@sender.example>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<tlsrpt@example.com>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(wire(big))
            code, lines = c.reply()
            self.assertEqual(code, 552, lines)
            self.assertTrue(lines[0].startswith("552 5.3.4 "), lines)
            self.assertEqual(c.cmd("NOOP")[0], 250)
        finally:
            c.close()
        self.assertEqual(self.count("SELECT COUNT(*) FROM reports WHERE report_id='smtp-big-1'"), 0)

    def test_too_many_recipients_is_452(self):
        s = self.smtp()
        try:
            s.mail("r@sender.example")
            for i in range(3):
                self.assertEqual(s.rcpt("r%d@example.net" % i)[0], 250)
            code, text = s.rcpt("r9@example.net")
            self.assertEqual(code, 452, text)
            self.assertTrue(text.startswith(b"4.5.3"), text)
        finally:
            s.quit()

    def test_unknown_recipient_is_550(self):
        s = self.smtp()
        try:
            s.mail("r@sender.example")
            code, text = s.rcpt("someone@example.com")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            self.assertEqual(s.rcpt("TLSRPT@Example.COM")[0], 250)
        finally:
            s.quit()

    # -- the wire

    def test_bare_lf_message_and_dot_unstuffing_keep_bytes(self):
        msg = plain_message("first\n.dotted line\n..two dots\nlast", subject="bare-lf-1").replace(b"\r\n", b"\n")
        c = session(self.d.smtp_port)
        try:
            c.send("EHLO c.example\nMAIL FROM:<r@sender.example>\nRCPT TO:<tlsrpt@example.com>\nDATA\n")
            self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 354])
            stuffed = re.sub(rb"(?m)^\.", b"..", msg)
            c.send(stuffed + b".\n")
            code, lines = c.reply()
            self.assertEqual(code, 554, lines)   # not a report: kept in quarantine, as received
            qid = int(re.search(r"quarantine as (\d+)", lines[0]).group(1))
        finally:
            c.close()
        raw = gzip.decompress(self.d.db_rows("SELECT raw_gz FROM quarantine WHERE id = ?", (qid,))[0][0])
        self.assertEqual(raw, msg)

    def test_report_with_bare_lf_lines_is_accepted(self):
        msg = make_message(make_report(report_id="smtp-lf-1"), eol="\n")
        c = session(self.d.smtp_port)
        try:
            c.send("EHLO c.example\r\nMAIL FROM:<r@sender.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n")
            self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 354])
            c.send(re.sub(rb"(?m)^\.", b"..", msg) + b".\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
        finally:
            c.close()

    def test_client_drops_mid_data_stores_nothing(self):
        before_q = self.count("SELECT COUNT(*) FROM quarantine")
        msg = make_message(make_report(report_id="smtp-drop-1"))
        c = session(self.d.smtp_port)
        try:
            for line in ("EHLO c.example", "MAIL FROM:<r@sender.example>", "RCPT TO:<tlsrpt@example.com>"):
                self.assertEqual(c.cmd(line)[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(msg[: len(msg) // 2])
            time.sleep(0.2)
        finally:
            c.close()
        self.d.wait_log(r"event=smtp_disconnect sid=\S+ proto=smtp peer=\S+ reason=eof messages=0 mid_data=1")
        self.assertEqual(self.count("SELECT COUNT(*) FROM reports WHERE report_id='smtp-drop-1'"), 0)
        self.assertEqual(self.count("SELECT COUNT(*) FROM quarantine"), before_q)
        # The daemon is fine: the whole message goes through afterwards.
        code, text = self.deliver(msg)
        self.assertEqual(code, 250, text)

    def test_starttls_pipelined_commands_are_not_executed(self):
        c = session(self.d.smtp_port)
        try:
            code, lines = c.cmd("EHLO c.example")
            self.assertIn("250-STARTTLS", lines)
            # A man in the middle appends plaintext commands to the client's STARTTLS.
            c.send("STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nQUIT\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 220, lines)
            c.starttls()    # the handshake works: QUIT was not run
            code, lines = c.cmd("RCPT TO:<tlsrpt@example.com>")
            self.assertEqual(code, 503, lines)   # no MAIL: the injected one was dropped
            code, lines = c.cmd("EHLO c.example")
            self.assertEqual(code, 250)
            self.assertNotIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS")[0], 503)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        self.d.wait_log(r"event=smtp_starttls_pipelined sid=\S+ dropped=\d+")

    def test_database_locked_is_451_then_recovers(self):
        msg = make_message(make_report(report_id="smtp-busy-1"))
        con = sqlite3.connect(self.d.db, timeout=10, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            code, text = self.deliver(msg)
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.3.0 "), text)
        finally:
            con.execute("ROLLBACK")
            con.close()
        code, text = self.deliver(msg)
        self.assertEqual(code, 250, text)
        self.assertIn("accepted", text)

    def test_commands_and_sequence(self):
        c = Raw(self.d.smtp_port)
        try:
            code, lines = c.reply()
            self.assertEqual(lines, ["220 %s ESMTP tlsrptd ready" % HOST])
            self.assertEqual(c.cmd("MAIL FROM:<r@sender.example>")[0], 503)
            code, lines = c.cmd("EHLO c.example")
            for ext in ("250-PIPELINING", "250-SIZE 262144", "250-8BITMIME", "250 ENHANCEDSTATUSCODES"):
                self.assertIn(ext, lines)
            self.assertEqual(c.cmd("VRFY tlsrpt")[0], 252)
            self.assertEqual(c.cmd("EXPN list")[0], 502)
            self.assertEqual(c.cmd("DATA")[0], 503)
            self.assertEqual(c.cmd("MAIL FROM:<r@sender.example> SIZE=999999999")[0], 552)
            self.assertEqual(c.cmd("RSET")[0], 250)
            self.assertEqual(c.cmd("NOOP")[0], 250)
            self.assertEqual(c.cmd("X" * 1100)[0], 500)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            self.assertTrue(c.closed_by_peer())
        finally:
            c.close()


# ---- limits: timeouts, errors, connections -------------------------------------------------

class SmtpLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.d = MailDaemon(cls.tmp.name, "--smtp-timeout", "2", "--smtp-max-connections", "2").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.tmp.cleanup()
        assert rc == 0, "daemon exit status %r" % rc

    def test_idle_client_gets_421_and_is_closed(self):
        c = session(self.d.smtp_port)
        try:
            t0 = time.time()
            code, lines = c.reply()
            self.assertEqual(code, 421, lines)
            self.assertTrue(lines[0].startswith("421 4.4.2 "), lines)
            self.assertGreater(time.time() - t0, 1.5)
            self.assertTrue(c.closed_by_peer(5))
        finally:
            c.close()
        self.d.wait_log(r"event=smtp_disconnect sid=\S+ proto=smtp peer=\S+ reason=timeout")

    def test_stalled_data_times_out_and_stores_nothing(self):
        msg = make_message(make_report(report_id="smtp-stall-1"))
        c = session(self.d.smtp_port)
        try:
            c.send("EHLO c\r\nMAIL FROM:<r@s.example>\r\nRCPT TO:<a@b.example>\r\nDATA\r\n")
            self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 354])
            c.send(msg[:200])
            code, lines = c.reply()
            self.assertEqual(code, 421, lines)
            self.assertTrue(c.closed_by_peer(5))
        finally:
            c.close()
        self.d.wait_log(r"reason=timeout messages=0 mid_data=1")
        self.assertEqual(self.d.db_rows("SELECT COUNT(*) FROM reports WHERE report_id='smtp-stall-1'")[0][0], 0)

    def test_garbage_commands_then_421(self):
        c = session(self.d.smtp_port)
        try:
            c.send("".join("garbage %d\r\n" % i for i in range(12)))
            codes = [c.reply()[0] for _ in range(11)]
            self.assertEqual(codes, [500] * 10 + [421])
            self.assertTrue(c.closed_by_peer(5))
        finally:
            c.close()
        self.d.wait_log(r"event=smtp_too_many_errors sid=\S+ errors=10")

    def test_connections_beyond_the_limit_get_421(self):
        a = session(self.d.smtp_port)
        b = session(self.d.smtp_port)
        try:
            c = Raw(self.d.smtp_port)
            try:
                code, lines = c.reply()
                self.assertEqual(code, 421, lines)
                self.assertTrue(lines[0].startswith("421 4.7.0 "), lines)
                self.assertTrue(c.closed_by_peer(5))
            finally:
                c.close()
            self.assertEqual(a.cmd("QUIT")[0], 221)
        finally:
            a.close()
            b.close()
        session(self.d.smtp_port).close()   # a place is free again


# ---- the shared corpus end to end ----------------------------------------------------------

@unittest.skipUnless(os.path.isdir(os.path.join(CORPUS, "eml")), "corpus not found at %s" % CORPUS)
class SmtpCorpus(unittest.TestCase):
    def test_every_corpus_message(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "eml", "*.eml")))
        self.assertTrue(files)
        with tempfile.TemporaryDirectory() as tmp:
            d = MailDaemon(tmp).start()
            try:
                for path in files:
                    name = os.path.basename(path)
                    with self.subTest(name):
                        with open(path, "rb") as f:
                            msg = f.read()
                        with smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=IO_TIMEOUT) as s:
                            s.ehlo("client.example")
                            self.assertEqual(s.mail("tlsrpt-noreply@sender.example")[0], 250)
                            self.assertEqual(s.rcpt("tlsrpt@example.com")[0], 250)
                            code, text = s.data(msg)
                        self.assertEqual(code, 250, text)
                        doc = curl(d.url("/api/v1/reports/%d" % reply_report_id(text.decode()))).json()
                        if name in CORPUS_DOMAINS:
                            self.assertEqual(doc["domains"], CORPUS_DOMAINS[name])
                        self.assertEqual(doc["copies"][-1]["transport"], "smtp")
            finally:
                self.assertEqual(d.stop(), 0)


# ---- shutdown: sessions in DATA finish, idle ones are told 421 ------------------------------

class SmtpShutdown(unittest.TestCase):
    def test_sigterm_lets_data_finish(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = MailDaemon(tmp).start()
            msg = wire(make_message(make_report(report_id="smtp-term-1")))
            idle, busy = session(d.smtp_port), session(d.smtp_port)
            try:
                self.assertEqual(idle.cmd("EHLO idle.example")[0], 250)
                busy.send("EHLO c\r\nMAIL FROM:<r@s.example>\r\nRCPT TO:<a@b.example>\r\nDATA\r\n")
                self.assertEqual([busy.reply()[0] for _ in range(4)], [250, 250, 250, 354])
                busy.send(msg[:300])
                d.proc.send_signal(signal.SIGTERM)
                code, lines = idle.reply()
                self.assertEqual(code, 421, lines)
                self.assertTrue(lines[0].startswith("421 4.3.2 "), lines)
                self.assertTrue(idle.closed_by_peer(5))
                # New connections are no longer taken.
                with self.assertRaises((OSError, EOFError)):
                    late = Raw(d.smtp_port, timeout=2)
                    try:
                        late.reply()
                    finally:
                        late.close()
                # The session in DATA finishes: its message is stored and answered 250.
                busy.send(msg[300:])
                code, lines = busy.reply()
                self.assertEqual(code, 250, lines)
                code, lines = busy.reply()
                self.assertEqual(code, 421, lines)
            finally:
                idle.close()
                busy.close()
            self.assertEqual(d.stop(), 0, d.logtext()[-3000:])
            self.assertEqual(d.db_rows("SELECT COUNT(*) FROM reports WHERE report_id='smtp-term-1'")[0][0], 1)

    def test_sigterm_with_a_stuck_client_in_data(self):
        # A client that never finishes its message is cut off at shutdown_timeout: exit 0,
        # nothing partial stored.
        with tempfile.TemporaryDirectory() as tmp:
            d = MailDaemon(tmp, "--shutdown-timeout", "1").start()
            c = session(d.smtp_port)
            try:
                c.send("EHLO c\r\nMAIL FROM:<r@s.example>\r\nRCPT TO:<a@b.example>\r\nDATA\r\npartial\r\n")
                self.assertEqual([c.reply()[0] for _ in range(4)], [250, 250, 250, 354])
                t0 = time.time()
                self.assertEqual(d.stop(), 0, d.logtext()[-3000:])
                self.assertLess(time.time() - t0, 10)
                self.assertTrue(c.closed_by_peer(5))
            finally:
                c.close()
            self.assertIn("requests still in flight", d.logtext())
            self.assertEqual(d.db_rows("SELECT COUNT(*) FROM quarantine")[0][0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
