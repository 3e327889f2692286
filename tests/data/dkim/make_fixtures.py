#!/usr/bin/python3
"""Writes the DKIM fixtures of tests/unit/test_dkim.c and the seeds of tests/fuzz/fuzz_dkim.c.

Run with Debian's Python and its packages (python3-dkim = dkimpy 1.1, python3-nacl, openssl):
    /usr/bin/python3 tests/data/dkim/make_fixtures.py
Output (committed):
  keys/         TEST-ONLY private keys (see keys/README.txt): RSA 2048, 1024 and 512 bits
                (openssl genpkey, PKCS#1 PEM) and Ed25519 (dknewkey format: base64 seed).
                Existing keys are kept, so a rerun writes the same files.
  keys.txt      the public key records, "selector._domainkey.domain  record" per line, as
                tests/unit/test_dkim.c (and the dkim_keys key file) read them.
  *.eml         a small TLS report mail signed by dkimpy (an independent signer) in the ways
                test_dkim.c checks; NAME.eml is described in CASES below.
  ../../fuzz/seeds/fuzz_dkim/  small signed messages (rsa1024 and ed25519 keys, which
                tests/fuzz/fuzz_dkim.c embeds: keep them in step) and tag lists.
Signatures carry t=T0 (2026-01-01T00:00:00Z: the clock is pinned while signing), so the
output is deterministic. Every fixture meant to verify is checked with dkimpy's own verifier
before it is written.
"""
import base64
import os
import subprocess
import sys
import time

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
SEEDS = os.path.join(HERE, "..", "..", "fuzz", "seeds", "fuzz_dkim")
DOMAIN = b"reporter.example"
T0 = 1767225600          # 2026-01-01T00:00:00Z
X_EXPIRE = T0 + 3600     # x= of expired.eml

SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
          b"content-type", b"tls-report-domain", b"tls-report-submitter", b"x-mixed"]


def crlf(s):
    return s.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


REPORT_JSON = (b'{"organization-name":"Reporter Example","date-range":{"start-datetime":'
               b'"2025-12-31T00:00:00Z","end-datetime":"2025-12-31T23:59:59Z"},'
               b'"contact-info":"tlsrpt@reporter.example","report-id":'
               b'"2025-12-31T00:00:00Z_recipient.example","policies":[{"policy":'
               b'{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",'
               b'"mx: mx.recipient.example","max_age: 604800"],"policy-domain":'
               b'"recipient.example","mx-host":["mx.recipient.example"]},"summary":'
               b'{"total-successful-session-count":41,"total-failure-session-count":1},'
               b'"failure-details":[{"result-type":"certificate-expired",'
               b'"sending-mta-ip":"192.0.2.25","receiving-mx-hostname":'
               b'"mx.recipient.example","failed-session-count":1}]}]}')

# A TLS report mail with what canonicalisation must get right: a folded Subject, a field
# with tabs, runs of blanks and trailing blanks, body lines with blank runs and trailing
# blanks, trailing empty lines.
BASE = crlf(b"""Return-Path: <noreply@reporter.example>
From: "TLS Reporter" <noreply@reporter.example>
To: tlsrpt@recipient.example
Subject: Report Domain: recipient.example
 Submitter: reporter.example Report-ID: <2025-12-31T00:00:00Z_recipient.example>
Date: Thu, 01 Jan 2026 00:00:00 +0000
Message-ID: <tlsrpt-0001@reporter.example>
MIME-Version: 1.0
TLS-Report-Domain:   recipient.example
TLS-Report-Submitter: reporter.example
X-Mixed:\ttabbed   and  spaced \t value   
Content-Type: multipart/report; report-type="tlsrpt";
\tboundary="=_tlsrpt_1"

This is a multipart message in MIME format.

--=_tlsrpt_1
Content-Type: text/plain; charset="us-ascii"

This is an aggregate TLS report from reporter.example.   
It has  runs   of\tblanks and trailing blanks.\t 

--=_tlsrpt_1
Content-Type: application/tlsrpt+json
Content-Disposition: attachment;
\tfilename="reporter.example!recipient.example!1767139200!1767225599!001.json"

""" + REPORT_JSON + b"""

--=_tlsrpt_1--


""")

# A smaller one for the fuzz seeds.
SMALL = crlf(b"""From: <noreply@reporter.example>
Subject: Report Domain: recipient.example
 Submitter: reporter.example
TLS-Report-Domain: recipient.example
Content-Type: application/tlsrpt+json

{"organization-name":"R",  "report-id":"1"}  

""")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw).stdout


def rsa_key(name, bits):
    path = os.path.join(KEYS, name + ".pem")
    if not os.path.exists(path):
        tmp = path + ".tmp"
        run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits,
            "-out", tmp)
        run("openssl", "rsa", "-in", tmp, "-traditional", "-out", path)  # PKCS#1 for dkimpy
        os.unlink(tmp)
    priv = open(path, "rb").read()
    spki = run("openssl", "pkey", "-in", path, "-pubout", "-outform", "DER")
    pkcs1 = run("openssl", "rsa", "-in", path, "-RSAPublicKey_out", "-outform", "DER")
    return priv, base64.b64encode(spki), base64.b64encode(pkcs1)


def ed25519_key(name):
    path = os.path.join(KEYS, name + ".key")
    if not os.path.exists(path):
        run("dknewkey", "--ktype", "ed25519", os.path.join(KEYS, name))
        os.unlink(os.path.join(KEYS, name + ".dns"))
    priv = open(path, "rb").read().strip()
    import nacl.signing
    import nacl.encoding
    pub = nacl.signing.SigningKey(priv, encoder=nacl.encoding.Base64Encoder).verify_key
    return priv, base64.b64encode(bytes(pub))


class ExpiringDKIM(dkim.DKIM):
    """dkimpy has no x= option: this puts x= into the tags it signs (before b=)."""
    expire = None

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk,
                   standardize=False):
        if self.expire is not None:
            fields.insert(len(fields) - 1, (b"x", str(self.expire).encode()))
        return super().gen_header(fields, include_headers, canon_policy, header_name, pk,
                                  standardize)


def sign(msg, selector, priv, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"),
         headers=SIGNED, length=False, identity=None, expire=None, domain=DOMAIN):
    d = ExpiringDKIM(msg, signature_algorithm=alg)
    d.expire = expire
    sig = d.sign(selector, domain, priv, canonicalize=canon, include_headers=headers,
                 length=length, identity=identity)
    return sig + msg


def main():
    os.makedirs(KEYS, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    time.time = lambda: float(T0)  # t= of every signature (and dkimpy's x= check)

    rsa2048, spki2048, pkcs1_2048 = rsa_key("rsa2048", 2048)
    rsa1024, spki1024, _ = rsa_key("rsa1024", 1024)
    rsa512, spki512, _ = rsa_key("rsa512", 512)
    ed, edpub = ed25519_key("ed25519")
    spaced = b" ".join(spki2048[i:i + 64] for i in range(0, len(spki2048), 64))

    records = [
        (b"rsa2048", b"v=DKIM1; k=rsa; p=" + spki2048),
        (b"rsa1024", b"v=DKIM1; k=rsa; h=sha256; p=" + spki1024),
        (b"rsa512", b"v=DKIM1; k=rsa; p=" + spki512),
        (b"ed25519", b"v=DKIM1; k=ed25519; p=" + edpub),
        (b"revoked", b"v=DKIM1; k=rsa; p="),
        (b"svc-email", b"v=DKIM1; k=rsa; s=email; p=" + spki2048),
        (b"svc-tlsrpt", b"v=DKIM1; k=rsa; s=tlsrpt; p=" + spki2048),
        (b"svc-other", b"v=DKIM1; k=rsa; s=other; p=" + spki2048),
        (b"testing", b"v=DKIM1; k=rsa; t=y; p=" + spki2048),
        (b"strict", b"v=DKIM1; k=rsa; t=s; p=" + spki2048),
        (b"pkcs1", b"v=DKIM1; k=rsa; p=" + pkcs1_2048),
        (b"spaced", b"v=DKIM1; k=rsa; n=folded key; p=" + spaced),
        (b"hsha1", b"v=DKIM1; k=rsa; h=sha1; p=" + spki2048),
        (b"ktype", b"v=DKIM1; k=ed25519; p=" + edpub),   # an ed25519 key for an rsa signature
    ]
    dns = {}
    with open(os.path.join(HERE, "keys.txt"), "wb") as f:
        f.write(b"# TEST-ONLY DKIM key records written by make_fixtures.py "
                b"(private keys in keys/).\n")
        for sel, rec in records:
            name = sel + b"._domainkey." + DOMAIN
            dns[name] = rec
            f.write(name + b" " + rec + b"\n")

    def dnsfunc(name, timeout=5):
        return dns.get(name.rstrip(b"."))

    def verified(msg):
        return dkim.verify(msg, dnsfunc=dnsfunc, minkey=512)

    cases = {}
    # name: (message, does dkimpy verify its first signature)
    cases["unsigned"] = (BASE, None)
    cases["rsa_relaxed"] = (sign(BASE, b"rsa2048", rsa2048), True)
    cases["rsa_simple"] = (sign(BASE, b"rsa2048", rsa2048, canon=(b"simple", b"simple")), True)
    cases["rsa1024"] = (sign(BASE, b"rsa1024", rsa1024, canon=(b"relaxed", b"simple")), True)
    cases["ed25519"] = (sign(BASE, b"ed25519", ed, alg=b"ed25519-sha256"), True)
    cases["ed25519_simple"] = (sign(BASE, b"ed25519", ed, alg=b"ed25519-sha256",
                                    canon=(b"simple", b"relaxed")), True)
    # Two signatures, the top one (rsa) broken after signing: its b= altered.
    two = sign(sign(BASE, b"ed25519", ed, alg=b"ed25519-sha256"), b"rsa2048", rsa2048)
    i = two.index(b" b=") + 20
    two = two[:i] + (b"A" if two[i:i + 1] != b"A" else b"B") + two[i + 1:]
    cases["two_sigs"] = (two, False)
    # l=: the body hash covers the body as signed; a footer added after signing.
    cases["length"] = (sign(BASE, b"rsa2048", rsa2048, length=True) +
                       b"-- \r\nA footer added by a list.\r\n", True)
    cases["expired"] = (sign(BASE, b"rsa2048", rsa2048, expire=X_EXPIRE), True)
    cases["revoked"] = (sign(BASE, b"revoked", rsa2048), False)
    cases["svc_email"] = (sign(BASE, b"svc-email", rsa2048), True)
    cases["svc_tlsrpt"] = (sign(BASE, b"svc-tlsrpt", rsa2048), None)
    cases["svc_other"] = (sign(BASE, b"svc-other", rsa2048), None)
    cases["testing"] = (sign(BASE, b"testing", rsa2048), True)
    cases["strict"] = (sign(BASE, b"strict", rsa2048, identity=b"@mail." + DOMAIN), None)
    cases["pkcs1"] = (sign(BASE, b"pkcs1", rsa2048), None)
    cases["spaced"] = (sign(BASE, b"spaced", rsa2048), True)
    cases["hsha1"] = (sign(BASE, b"hsha1", rsa2048), None)
    cases["ktype"] = (sign(BASE, b"ktype", rsa2048), None)
    cases["rsa_sha1"] = (sign(BASE, b"rsa2048", rsa2048, alg=b"rsa-sha1"), True)
    cases["rsa512"] = (sign(BASE, b"rsa512", rsa512), True)
    # Over-signing: From listed twice (the second instance signed as absent).
    cases["oversigned"] = (sign(BASE, b"rsa2048", rsa2048,
                                headers=[b"from", b"from"] + SIGNED[1:]), True)
    for name, (msg, expect) in sorted(cases.items()):
        if expect is not None:
            got = verified(msg)
            if got != expect:
                sys.exit("%s: dkimpy says %s, expected %s" % (name, got, expect))
        with open(os.path.join(HERE, name + ".eml"), "wb") as f:
            f.write(msg)

    # Fuzz seeds: small messages signed with the keys fuzz_dkim.c embeds, and tag lists.
    seeds = {
        "rsa1024_relaxed": sign(SMALL, b"rsa1024", rsa1024, headers=[b"from", b"subject"]),
        "rsa1024_simple": sign(SMALL, b"rsa1024", rsa1024, canon=(b"simple", b"simple"),
                               headers=[b"from", b"subject"]),
        "ed25519_relaxed": sign(SMALL, b"ed25519", ed, alg=b"ed25519-sha256",
                                headers=[b"from", b"from", b"subject"]),
        "ed25519_length": sign(SMALL, b"ed25519", ed, alg=b"ed25519-sha256",
                               canon=(b"simple", b"relaxed"), length=True,
                               headers=[b"from", b"tls-report-domain"]),
        "unsigned": SMALL,
        # several signatures: the first passes (the second is not examined); a lookup that
        # times out (fuzz_dkim.c answers DKIM_KEY_TEMP for selectors "temp...") before one
        # that would pass; a field that must be single, twice; a field name too long
        "two_sigs": sign(sign(SMALL, b"ed25519", ed, alg=b"ed25519-sha256",
                              headers=[b"from", b"subject"]),
                         b"rsa1024", rsa1024, headers=[b"from", b"subject"]),
        "temp_first": sign(sign(SMALL, b"ed25519", ed, alg=b"ed25519-sha256",
                                headers=[b"from", b"subject"]),
                           b"temp", rsa1024, headers=[b"from", b"subject"]),
        "dup_subject": sign(b"Subject: another\r\n" + SMALL, b"rsa1024", rsa1024,
                            headers=[b"from", b"subject"]),
        "long_name": sign(b"X-" + b"A" * 80 + b": x\r\n" + SMALL, b"rsa1024", rsa1024,
                          headers=[b"from", b"subject"]),
        "tags_key": b"v=DKIM1; k=rsa; h=sha256; s=email:tlsrpt; t=y:s; p=" + spki1024,
        "tags_folded": b" v = 1 ;\r\n\ta=rsa-sha256; bh=abc\r\n def=; x_y=1 ;",
    }
    for name, data in seeds.items():
        with open(os.path.join(SEEDS, name), "wb") as f:
            f.write(data)
    print("wrote %d fixtures, %d keys, %d seeds" % (len(cases), len(records), len(seeds)))


if __name__ == "__main__":
    main()
