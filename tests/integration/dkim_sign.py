#!/usr/bin/python3
"""Signs the message on standard input with Debian's dkimpy (python3-dkim, python3-nacl) and
writes the signed message on standard output. Run with Debian's /usr/bin/python3 (the module
lives in its dist-packages), by test_dkim.py.

  dkim_sign.py --key FILE --selector S --domain D [--alg rsa-sha256|ed25519-sha256|rsa-sha1]
               [--canon relaxed/simple] [--length] [--expired] [--headers from,to,subject]

--expired signs with t= two days ago and x= one day ago (dkimpy has no option for x=, so the
tag is added to the fields it signs, before it computes the signature).
"""
import argparse
import sys
import time

import dkim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--selector", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--alg", default="rsa-sha256")
    ap.add_argument("--canon", default="relaxed/relaxed")
    ap.add_argument("--length", action="store_true")
    ap.add_argument("--expired", action="store_true")
    ap.add_argument("--headers", default="from,to,subject,date,message-id,tls-report-domain,"
                    "tls-report-submitter,content-type,mime-version")
    a = ap.parse_args()

    msg = sys.stdin.buffer.read()
    key = open(a.key, "rb").read()
    if a.alg == "ed25519-sha256":
        # dknewkey writes the private seed base64-encoded on one line
        key = key.strip()
    hc, bc = a.canon.split("/")

    if a.expired:
        now = time.time()
        real_time = time.time
        time.time = lambda: now - 2 * 86400
        orig = dkim.DKIM.gen_header

        def gen_header(self, fields, *args, **kw):
            fields.insert(len(fields) - 1, (b"x", str(int(now - 86400)).encode()))
            return orig(self, fields, *args, **kw)
        dkim.DKIM.gen_header = gen_header

    d = dkim.DKIM(msg)
    sig = d.sign(a.selector.encode(), a.domain.encode(), key,
                 signature_algorithm=a.alg.encode(),
                 canonicalize=(hc.encode(), bc.encode()),
                 include_headers=[h.encode() for h in a.headers.split(",")],
                 length=a.length)
    if a.expired:
        time.time = real_time
    sys.stdout.buffer.write(sig + msg)


if __name__ == "__main__":
    main()
