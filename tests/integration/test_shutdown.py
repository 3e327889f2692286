"""SIGTERM during a burst of posts: every report that was answered 2xx is there after a restart,
and the daemon exits 0. Reports are posted by several curl processes at once."""
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, curl, make_report, report_bytes  # noqa: E402

WORKERS = 8
PER_WORKER = 40


class ShutdownDurability(unittest.TestCase):
    def test_sigterm_during_burst(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Daemon(tmp).start()
            url = d.url("/tlsrpt")
            results = []  # (report_id, status, stored id or None)
            lock = threading.Lock()
            started = threading.Event()

            def worker(w):
                for i in range(PER_WORKER):
                    rid = "burst-%d-%d" % (w, i)
                    r = curl(url, data=report_bytes(make_report(report_id=rid), gz=(i % 2 == 0)),
                             content_type="application/tlsrpt+gzip", timeout=20)
                    stored = None
                    if 200 <= r.status < 300:
                        stored = r.json()["report"]["id"]
                    with lock:
                        results.append((rid, r.status, stored))
                        if len(results) >= 20:
                            started.set()

            threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
            for t in threads:
                t.start()
            self.assertTrue(started.wait(60), "the burst did not start")
            rc = d.stop(signal.SIGTERM)
            for t in threads:
                t.join(120)
            log = d.logtext()
            if rc != 0:
                with open(os.path.join(os.environ.get("TLSRPT_KEEP_LOG", "/dev/null")), "w") as f:
                    f.write(log)
            self.assertEqual(rc, 0, log[-3000:])

            ok = [(rid, sid) for rid, st, sid in results if sid is not None]
            refused = [st for _, st, sid in results if sid is None]
            self.assertGreater(len(ok), 0)
            # After the stop, requests fail at the connection (curl gives 000), never with a 2xx.
            self.assertTrue(all(st == 0 or st >= 500 for st in refused), refused)

            d2 = Daemon(tmp, db=d.db).start()
            try:
                for rid, sid in ok:
                    got = curl(d2.url("/api/v1/reports/%d" % sid))
                    self.assertEqual(got.status, 200, (rid, got))
                    self.assertEqual(got.json()["report"]["report_id"], rid)
                n = d2.db_rows("SELECT COUNT(*) FROM reports")[0][0]
                self.assertGreaterEqual(n, len(ok))
            finally:
                self.assertEqual(d2.stop(), 0)

    def test_sigterm_while_database_is_stuck(self):
        # A request waits on a database lock held by another process; SIGTERM with a short
        # shutdown_timeout must still end in exit 0, and the sender must get 503, never 2xx.
        with tempfile.TemporaryDirectory() as tmp:
            d = Daemon(tmp, "--db-busy-timeout", "1500", "--shutdown-timeout", "1").start()
            con = sqlite3.connect(d.db, timeout=10, isolation_level=None)
            con.execute("BEGIN IMMEDIATE")
            box = {}

            def post():
                box["r"] = curl(d.url("/tlsrpt"), data=report_bytes(make_report(report_id="stuck-1")),
                                content_type="application/tlsrpt+json", timeout=30)

            t = threading.Thread(target=post)
            t.start()
            time.sleep(0.5)
            rc = d.stop(signal.SIGTERM)
            t.join(30)
            con.execute("ROLLBACK")
            con.close()
            self.assertEqual(rc, 0, d.logtext()[-3000:])
            self.assertEqual(box["r"].status, 503, box["r"])
            self.assertIn("requests still in flight", d.logtext())
            self.assertEqual(d.db_rows("SELECT COUNT(*) FROM reports")[0][0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
