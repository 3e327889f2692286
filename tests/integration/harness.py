"""Shared pieces for the integration tests: start the real tlsrptd on 127.0.0.1 port 0 with a
temporary database, talk to it with real clients (curl), read its SQLite file directly."""
import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time

SOURCE_DIR = os.environ.get("TLSRPT_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TLSRPTD = os.environ.get("TLSRPTD", os.path.join(SOURCE_DIR, "build", "tlsrptd"))
START_TIMEOUT = 20.0


def make_report(report_id="2026-11-01T00:00:00Z_example.com", domain="example.com", org="Example Sender",
                contact="tlsrpt@sender.example", day="2026-11-01", success=100, failures=None,
                policy_type="sts", extra=None):
    """A realistic RFC 8460 report as a dict. failures: list of (result_type, count)."""
    failures = failures if failures is not None else [("certificate-expired", 2)]
    policy = {
        "policy": {
            "policy-type": policy_type,
            "policy-string": ["version: STSv1", "mode: testing", "mx: mx1." + domain, "max_age: 86400"],
            "policy-domain": domain,
            "mx-host": ["mx1." + domain],
        },
        "summary": {
            "total-successful-session-count": success,
            "total-failure-session-count": sum(c for _, c in failures),
        },
        "failure-details": [
            {"result-type": rt, "sending-mta-ip": "192.0.2.%d" % (i + 1),
             "receiving-mx-hostname": "mx1." + domain, "failed-session-count": c}
            for i, (rt, c) in enumerate(failures)
        ],
    }
    rep = {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": contact,
        "report-id": report_id,
        "policies": [policy],
    }
    if extra:
        rep.update(extra)
    return rep


def report_bytes(rep, gz=False):
    data = json.dumps(rep).encode()
    return gzip.compress(data) if gz else data


class Daemon:
    """The real daemon, started on port 0; the port is read back from its log."""

    def __init__(self, tmpdir, *extra_args, db=None):
        self.tmpdir = tmpdir
        self.db = db or os.path.join(tmpdir, "tlsrptd.db")
        self.extra = list(extra_args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmpdir, "tlsrptd.%d.log" % int(time.time() * 1e6))

    def start(self):
        self.log = open(self.log_path, "wb")
        # The read API is open by default here (loopback); tests of auth pass --api-auth on.
        # SMTP is off unless a test asks for it (its default port would clash between daemons).
        # DKIM is off unless a test asks for it (test_dkim.py): the other mail tests send
        # unsigned messages and there is no DNS here.
        self.proc = subprocess.Popen([TLSRPTD, "serve", "--db", self.db, "--http", "127.0.0.1:0",
                                      "--api-auth", "off", "--metrics-auth", "off",
                                      "--smtp", "off", "--dkim", "off"] + self.extra,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                m = re.search(rb"event=listening proto=http addr=\S+ port=(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                assert self.port != 0, "daemon logged port 0"
                return self
            if self.proc.poll() is not None:
                raise AssertionError("tlsrptd exited with %s:\n%s" % (self.proc.returncode, self.logtext()))
            time.sleep(0.05)
        raise AssertionError("tlsrptd did not log its port:\n" + self.logtext())

    def logtext(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()

    def db_rows(self, sql, args=()):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:300])


def curl(url, data=None, content_type=None, headers=(), method=None, chunked=False, timeout=30):
    """One request with the real curl. data: bytes (sent from a temp file, binary-safe)."""
    with tempfile.TemporaryDirectory() as td:
        body_path = os.path.join(td, "body")
        head_path = os.path.join(td, "head")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-o", body_path, "-D", head_path,
               "-w", "%{http_code}"]
        if method:
            cmd += ["-X", method]
        if content_type:
            cmd += ["-H", "Content-Type: " + content_type]
        for h in headers:
            cmd += ["-H", h]
        if data is not None:
            in_path = os.path.join(td, "in")
            with open(in_path, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + in_path]
            if chunked:
                cmd += ["-H", "Transfer-Encoding: chunked"]
        cmd.append(url)
        out = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        status = int(out.stdout.decode() or 0)
        body = b""
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        hdrs = {}
        if os.path.exists(head_path):
            with open(head_path, "rb") as f:
                head = f.read().decode(errors="replace")
            for line in head.splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
        return Response(status, body, hdrs)
