#!/usr/bin/env python3
"""Writes the MIME fixtures of tests/unit/test_mime.c: NAME.eml and, when the message holds a
report, NAME.expected (the exact bytes mime_find_report() must return: gzip or JSON). Messages
that must be refused have no .expected; test_mime.c says which error each must give.

Also writes the seeds of the fuzz_mime target (tests/fuzz/seeds/fuzz_mime/NAME): each message
behind the few bytes of chunking and cap choices that tests/fuzz/fuzz_mime.c reads first.

All domains, addresses and IDs are invented (example.org/.net/.com, *.example). Each message
reproduces one or more quirks seen in real TLS-RPT mail (docs/tlsrpt.md, corpus/SOURCES.md).
Run once from anywhere; the output is committed. Deterministic: gzip mtime is fixed.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import quopri
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "..", "fuzz", "seeds", "fuzz_mime")


def report(org, domain, rid, day, mx, failures=None, tz="Z", pretty=False):
    pol = {
        "policy": {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: testing"] +
                             ["mx: " + m for m in mx] + ["max_age: 604800"],
            "policy-domain": domain,
            "mx-host": mx,
        },
        "summary": {"total-successful-session-count": 17,
                    "total-failure-session-count": sum(f["failed-session-count"]
                                                       for f in failures or [])},
    }
    if failures is not None:
        pol["failure-details"] = failures
    doc = {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00" + tz,
                       "end-datetime": day + "T23:59:59" + tz},
        "contact-info": "tls-reports@" + org.lower().replace(" ", "-") + ".example",
        "report-id": rid,
        "policies": [pol],
    }
    if pretty:
        return (json.dumps(doc, indent=2) + "\n").encode()
    return json.dumps(doc, separators=(",", ":")).encode()


def gz(data, fname=None, mtime=0):
    bio = io.BytesIO()
    with gzip.GzipFile(filename=fname or "", mode="wb", fileobj=bio, mtime=mtime,
                       compresslevel=9) as f:
        f.write(data)
    return bio.getvalue()


def b64_lines(data, width=76):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + width] for i in range(0, len(s), width))


def write(name, text, expected=None, crlf=False):
    if crlf:
        text = text.replace("\n", "\r\n")
    write_bytes(name, text.encode("utf-8"), expected)


def write_bytes(name, data, expected=None):
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(data)
    if expected is not None:
        with open(os.path.join(HERE, name + ".expected"), "wb") as f:
            f.write(expected)


def google_like(name, crlf):
    js = report("Reporter Inc.", "example.org", "2025-03-04T00:00:00Z_example.org",
                "2025-03-04", ["mx1.example.org", "mx2.example.org"])
    z = gz(js)
    text = f"""Return-Path: <bounce-7q2@tlsrpt-bounces.reporter.example>
Received: from out.reporter.example (out.reporter.example [192.0.2.10])
	by mx1.example.org with ESMTPS; Wed, 05 Mar 2025 04:12:33 +0000
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=reporter.example; s=tls1;
	h=to:from:subject:message-id:tls-report-submitter:tls-report-domain;
	bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAA
MIME-Version: 1.0
Date: Wed, 05 Mar 2025 04:12:30 +0000
TLS-Report-Domain: example.org
TLS-Report-Submitter: reporter.example
Message-ID: <0000000000001a2b3c4d@reporter.example>
Subject: Report Domain: example.org Submitter: reporter.example Report-ID: <2025.03.04T00.00.00Z+example.org@reporter.example>
From: noreply-tls-reporting@reporter.example
To: tlsrpt@example.org
Content-Type: multipart/report; boundary="0000000000001a2b3c4c"; report-type=tlsrpt

--0000000000001a2b3c4c
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

This is an aggregate TLS report from reporter.example

--0000000000001a2b3c4c
Content-Type: application/tlsrpt+gzip; 
	name="reporter.example!example.org!1741046400!1741132799!001.json.gz"
Content-Disposition: attachment; 
	filename="reporter.example!example.org!1741046400!1741132799!001.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--0000000000001a2b3c4c--
"""
    write(name, text, z, crlf)


def microsoft_folded():
    js = report("Big Mail Corp", "example.net", "133500000000000001+example.net",
                "2024-06-01", ["mail.example.net"], tz="",
                failures=[{"result-type": "sts-policy-fetch-error",
                           "failed-session-count": 2}])
    z = gz(js)
    text = f"""X-Receiver-Note: relayed-by-inbound
Return-Path: <tlsrpt-noreply@bigmail.example>
Authentication-Results: mx.example.net; dkim=pass header.d=bigmail.example
	header.s=sel2
Subject: Report Domain: example.net Submitter: bigmail.example Report-ID:
 133500000000000001+example.net
TLS-Report-Domain: example.net
TLS-Report-Submitter: bigmail.example
MIME-Version: 1.0
Message-ID: <133500000000000001+example.net@example.net>
Content-Type: multipart/report;
	boundary="_5c1e2a00-77aa-4bd0-9e1c-0123456789ab_"; report-type=tlsrpt
Return-Path: tlsrpt-noreply@bigmail.example
From: <tlsrpt-noreply@bigmail.example>
To: <tlsrpt@example.net>
Date: Sun, 2 Jun 2024 09:11:22 +0000

--_5c1e2a00-77aa-4bd0-9e1c-0123456789ab_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

This is an aggregate TLS report from bigmail.example

--_5c1e2a00-77aa-4bd0-9e1c-0123456789ab_
Content-Type: application/tlsrpt+gzip
Content-Description:
 bigmail.example!example.net!1717200000!1717286399!133500000000000001.json.gz
Content-Disposition: attachment;
	filename="bigmail.example!example.net!1717200000!1717286399!133500000000000001.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--_5c1e2a00-77aa-4bd0-9e1c-0123456789ab_--
"""
    write("microsoft_folded", text, z, crlf=True)


def rfc_style():
    js = report("Sender Org", "example.com", "5e1a.9c+77@sender.example", "2024-02-10",
                ["mx.example.com"], failures=[], pretty=True)
    z = gz(js, fname="rpt-5e1a.json.1", mtime=1707609600)
    text = f"""From: tlsrpt@mta.sender.example
Date: Sat, Feb 10 2024 16:54:30 -0800
To: sts-reports@example.com
Subject: Report Domain: example.com
    Submitter: mta.sender.example
    Report-ID: <5e1a.9c+77@sender.example>
TLS-Report-Domain: example.com
TLS-Report-Submitter: mta.sender.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type="tlsrpt";
    boundary="----=_NextPart_000_0A1B_01DA5C2E.12345678"
Content-Language: en-us

This is a multipart message in MIME format.

------=_NextPart_000_0A1B_01DA5C2E.12345678
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

This is an aggregate TLS report from mta.sender.example

------=_NextPart_000_0A1B_01DA5C2E.12345678
Content-Type: application/tlsrpt+gzip
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
    filename="mta.sender.example!example.com!1707523200!1707609599.json.gz"

{b64_lines(z)}
------=_NextPart_000_0A1B_01DA5C2E.12345678--
"""
    write("rfc_style", text, z)


def oneline_unclosed():
    # Hard-to-compress MX names until the base64 is one line of exactly 868 chars (the length
    # seen in a real message); the report-id grows a digit at a time to hit it.
    mx, found = [], None
    while found is None and len(mx) < 40:
        mx.append("h" + hashlib.sha256(str(len(mx)).encode()).hexdigest()[:20] + ".example.net")
        for extra in range(0, 40):
            js = report("Small Sender", "example.net", "1730332800_1187" + "3" * extra,
                        "2024-10-31", mx)
            z = gz(js)
            if len(base64.b64encode(z)) == 868:
                found = z
                break
    z = found
    text = f"""From: reports@small-sender.example
Date: Fri, 01 Nov 2024 00:10:00 +0000
To: tlsrpt@example.net
Subject: Report Domain: example.net Submitter: small-sender.example Report-ID: <1730332800_1187@small-sender.example>
TLS-Report-Domain: example.net
TLS-Report-Submitter: small-sender.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type="tlsrpt"; boundary="----=_Part_1730332800"
Content-Language: en-us

This is a multipart message in MIME format.

------=_Part_1730332800
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

This is an aggregate TLS report from small-sender.example

------=_Part_1730332800
Content-Type: application/tlsrpt+gzip
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="small-sender.example!example.net!1730332800!1730419200.json.gz"

{base64.b64encode(z).decode()}

"""
    write("oneline_unclosed", text, z, crlf=True)


def base64_ragged():
    js = report("Odd Lines Ltd", "example.org", "odd-1", "2024-05-05", ["mx.example.org"])
    z = gz(js)
    if len(z) % 3 == 0:  # make sure the encoding needs padding, then drop it
        js = js + b" "
        z = gz(js)
    s = base64.b64encode(z).decode().rstrip("=")
    widths = [60, 76, 13, 5, 64, 41]
    lines, i, k = [], 0, 0
    while i < len(s):
        w = widths[k % len(widths)]
        lines.append(s[i:i + w])
        i += w
        k += 1
    lines[1] = lines[1] + "   "           # trailing blanks
    lines[2] = "\t" + lines[2]             # a leading tab
    lines[3] = lines[3][:2] + " " + lines[3][2:]  # a blank inside a line
    body = "\n".join(lines)
    text = f"""From: Odd Lines <tls@odd-lines.example>
To: tlsrpt@example.org
Subject: Report Domain: example.org Submitter: odd-lines.example Report-ID: odd-1
TLS-Report-Domain: example.org
TLS-Report-Submitter: odd-lines.example
MIME-Version: 1.0
Content-Type: multipart/report; boundary=oddb; report-type=tlsrpt

--oddb
Content-Type: text/plain

TLS report.
--oddb
Content-Type: application/tlsrpt+gzip; name="odd-lines.example!example.org!1714867200!1714953599.json.gz"
Content-Transfer-Encoding: base64

{body}
--oddb--
"""
    write("base64_ragged", text, z)


def html_part():
    js = report("Big Mail Corp", "example.com", "134000000000000002+example.com",
                "2025-01-20", ["mx.example.com"])
    z = gz(js)
    html = ("<html>\n<head>\n<meta http-equiv=3D\"Content-Type\" content=3D\"text/html; char=\n"
            "set=3Dus-ascii\">\n</head>\n<body>\n<p>This is an aggregate TLS report from "
            "bigmail.example</p>\n</body>\n</html>")
    text = f"""Return-Path: <tlsrpt-noreply@bigmail.example>
Subject: Report Domain: example.com Submitter: bigmail.example Report-ID:
 134000000000000002+example.com
TLS-Report-Domain: example.com
TLS-Report-Submitter: bigmail.example
MIME-Version: 1.0
Message-ID: <134000000000000002+example.com@example.com>
Content-Type: multipart/report; report-type="tlsrpt";
	boundary="_a1b2c3d4-html-part_"
From: <tlsrpt-noreply@bigmail.example>

--_a1b2c3d4-html-part_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{html}

--_a1b2c3d4-html-part_
Content-Type: application/tlsrpt+gzip
Content-Disposition: attachment;
	filename="bigmail.example!example.com!1737331200!1737417599!134000000000000002.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--_a1b2c3d4-html-part_--
"""
    write("html_part", text, z)


def gateway_banner():
    js = report("Reporter Inc.", "example.com", "2024-09-03T00:00:00Z_example.com",
                "2024-09-03", ["mx.example.com"])
    z = gz(js)
    text = f"""Authentication-Results-Original: gw.example.com; spf=Pass
 smtp.mailfrom=bounce@tlsrpt-bounces.reporter.example; dkim=pass
 header.i=@reporter.example
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=reporter.example; s=tls1;
 h=to:from:subject:message-id:tls-report-submitter:tls-report-domain; b=AAAA
Date: Wed, 04 Sep 2024 10:54:08 -0700
TLS-Report-Domain: example.com
TLS-Report-Submitter: reporter.example
Message-ID: <66d83c20.0000.tls@reporter.example>
Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <2024.09.03T00.00.00Z+example.com@reporter.example>
From: noreply-tls-reporting@reporter.example
To: reports@example.com
Content-Type: multipart/report; boundary="00000000000078gw"; report-type=tlsrpt
Return-Path:
 bounce@tlsrpt-bounces.reporter.example
MIME-Version: 1.0

--00000000000078gw
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes
Content-Transfer-Encoding: quoted-printable

        External Email =E2=80=93 Please use caution before opening attachme=
nts or clicking links


This is an aggregate TLS report from reporter.example

--00000000000078gw
Content-Type: application/tlsrpt+gzip; 
	name="reporter.example!example.com!1725321600!1725407999!001.json.gz"
Content-Disposition: attachment; 
	filename="reporter.example!example.com!1725321600!1725407999!001.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}

--00000000000078gw--
"""
    write("gateway_banner", text, z)


def whole_json():
    js = report("Direct Sender", "example.org", "whole-1", "2024-07-07", ["mx.example.org"],
                pretty=True)
    text = """From: tlsrpt@direct.example
To: tlsrpt@example.org
Subject: Report Domain: example.org Submitter: direct.example Report-ID: <whole-1@direct.example>
TLS-Report-Domain: example.org
TLS-Report-Submitter: direct.example
MIME-Version: 1.0
Content-Type: application/tlsrpt+json
Content-Disposition: attachment; filename="direct.example!example.org!1720310400!1720396799.json"

""" + js.decode()
    write("whole_json", text, js)


def whole_sniff_gzip():
    js = report("Direct Sender", "example.org", "whole-2", "2024-07-08", ["mx.example.org"])
    z = gz(js)
    text = f"""From: tlsrpt@direct.example
To: tlsrpt@example.org
Subject: TLS report
TLS-Report-Domain: example.org
TLS-Report-Submitter: direct.example
Content-Transfer-Encoding: base64

{b64_lines(z)}
"""
    write("whole_sniff_gzip", text, z)


def whole_sniff_json():
    js = report("Direct Sender", "example.org", "whole-3", "2024-07-09", ["mx.example.org"])
    body = "  \n" + js.decode() + "\n"
    text = """From: tlsrpt@direct.example
To: tlsrpt@example.org
Subject: TLS report
TLS-Report-Domain: example.org
TLS-Report-Submitter: direct.example
Content-Type: text/plain; charset=utf-8

""" + body
    write("whole_sniff_json", text, body.encode())


def tlsrpt_json_qp():
    js = report("Plain Json Co", "example.net", "pj-4", "2024-08-01", ["mx.example.net"],
                failures=[{"result-type": "certificate-expired",
                           "sending-mta-ip": "2001:db8:abcd:0012::1",
                           "receiving-mx-hostname": "mx.example.net",
                           "failed-session-count": 3,
                           "failure-reason-code": "X509_V_ERR_CERT_HAS_EXPIRED = 10"}])
    qp = quopri.encodestring(js).decode()
    text = f"""From: reports@plainjson.example
To: tlsrpt@example.net
Subject: Report Domain: example.net Submitter: plainjson.example Report-ID: <pj-4>
TLS-Report-Domain: example.net
TLS-Report-Submitter: plainjson.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=tlsrpt; boundary=pj-boundary-4

--pj-boundary-4
Content-Type: text/plain

TLS report attached.
--pj-boundary-4
Content-Type: application/tlsrpt+json; name="plainjson.example!example.net!1722470400!1722556799.json"
Content-Transfer-Encoding: quoted-printable

{qp}
--pj-boundary-4--
"""
    write("tlsrpt_json_qp", text, js)


def tlsrpt_plain():
    js = report("Draft Sender", "example.net", "draft-5", "2024-08-02", ["mx.example.net"],
                pretty=True)
    text = """From: tlsrpt@draft.example
To: tlsrpt@example.net
Subject: Report Domain: example.net
    Submitter: draft.example
    Report-ID: <draft-5@draft.example>
TLS-Report-Domain: example.net
TLS-Report-Submitter: draft.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type="tlsrpt";
    boundary="----=_NextPart_draft_5"

------=_NextPart_draft_5
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit

This is an aggregate TLS report from draft.example

------=_NextPart_draft_5
Content-Type: application/tlsrpt
Content-Disposition: attachment;
    filename="draft.example!example.net!1722556800!1722643199.json"

""" + js.decode() + """
------=_NextPart_draft_5--
"""
    write("tlsrpt_plain", text, js)


def mbox():
    js = report("Reporter Inc.", "example.org", "2023-02-02T00:00:00Z_example.org",
                "2023-02-02", ["mx.example.org"])
    z = gz(js)
    text = f"""From bounce@tlsrpt-bounces.reporter.example  Fri Feb  3 05:06:07 2023
Return-Path: <SRS0=abcd=57=tlsrpt-bounces.reporter.example=bounce@forwarder.example>
X-Original-To: admin@example.org
Delivered-To: admin@example.org
Received: from out.reporter.example (out.reporter.example [192.0.2.10])
	by forwarder.example (Postfix) with ESMTPS id 4PABCD
	for <admin@example.org>; Fri,  3 Feb 2023 05:06:06 +0100 (CET)
MIME-Version: 1.0
Date: Thu, 02 Feb 2023 20:06:05 -0800
TLS-Report-Domain: example.org
TLS-Report-Submitter: reporter.example
Message-ID: <0000000000006645mbox@reporter.example>
Subject: Report Domain: example.org Submitter: reporter.example Report-ID: <2023.02.02T00.00.00Z+example.org@reporter.example>
From: noreply-tls-reporting@reporter.example
To: admin@example.org
Content-Type: multipart/report; boundary="00000000000066452705mbox"; report-type=tlsrpt
X-Spam-Status: No, score=-7.6 required=5.0 tests=DKIM_SIGNED,
	DKIM_VALID,DKIM_VALID_AU,SPF_PASS autolearn=unavailable
	autolearn_force=no
Status: RO
Content-Length: 865
Lines: 20

--00000000000066452705mbox
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

This is an aggregate TLS report from reporter.example

--00000000000066452705mbox
Content-Type: application/tlsrpt+gzip; 
	name="reporter.example!example.org!1675296000!1675382399!001.json.gz"
Content-Disposition: attachment; 
	filename="reporter.example!example.org!1675296000!1675382399!001.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--00000000000066452705mbox--


"""
    write("mbox", text, z)


def nested_mixed():
    js = report("Reporter Inc.", "example.com", "nested-6", "2024-11-11", ["mx.example.com"])
    z = gz(js)
    text = f"""From: admin@example.com
To: tlsrpt-archive@example.com
Subject: Fwd: Report Domain: example.com Submitter: reporter.example Report-ID: <nested-6@reporter.example>
TLS-Report-Domain: example.com
TLS-Report-Submitter: reporter.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-b7"

This is a multi-part message in MIME format.
--outer-b7
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Forwarding the report below.

--outer-b7
Content-Type: multipart/report; report-type=tlsrpt;
 boundary="inner-b7"

--inner-b7
Content-Type: text/plain

This is an aggregate TLS report from reporter.example
--inner-b7
Content-Type: application/tlsrpt+gzip; name="reporter.example!example.com!1731283200!1731369599.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--inner-b7--

--outer-b7--
epilogue text that must be ignored
"""
    write("nested_mixed", text, z)


def octet_stream():
    js = report("Generic Mailer", "example.org", "gm-7", "2024-12-01", ["mx.example.org"])
    z = gz(js)
    text = f"""From: reports@generic.example
To: tlsrpt@example.org
Subject: TLS report for example.org
TLS-Report-Domain: example.org
TLS-Report-Submitter: generic.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="gm7"

--gm7
Content-Type: text/plain

See attachment.
--gm7
Content-Type: application/octet-stream; name="generic.example!example.org!1733011200!1733097599.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--gm7--
"""
    write("octet_stream", text, z)


def rfc2231_notype():
    js = report("Generic Mailer", "example.org", "gm-8", "2024-12-02", ["mx.example.org"])
    z = gz(js)
    text = f"""From: reports@generic.example
To: tlsrpt@example.org
Subject: TLS report for example.org
TLS-Report-Domain: example.org
TLS-Report-Submitter: generic.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="gm8"

--gm8
Content-Type: text/plain

See attachment.
--gm8
Content-Disposition: attachment;
 filename*0*=utf-8''generic.example%21example.org%21;
 filename*1="1733097600!1733183999.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--gm8--
"""
    write("rfc2231_notype", text, z)


def priority():
    other = b'{"note":"not the report"}'
    js = report("Priority Co", "example.net", "prio-9", "2024-12-03", ["mx.example.net"])
    z = gz(js)
    text = f"""From: reports@priority.example
To: tlsrpt@example.net
Subject: Report Domain: example.net Submitter: priority.example Report-ID: <prio-9>
TLS-Report-Domain: example.net
TLS-Report-Submitter: priority.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=tlsrpt; boundary=prio

--prio
Content-Type: application/json; name="metadata.json"

{other.decode()}
--prio
Content-Type: application/tlsrpt; name="draft.json"

{other.decode()}
--prio
Content-Type: application/tlsrpt+gzip; name="priority.example!example.net!1733184000!1733270399.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--prio--
"""
    write("priority", text, z)


def params_spaced():
    js = report("Spacey Mailer", "example.com", "sp-10", "2024-12-04", ["mx.example.com"])
    z = gz(js)
    text = f"""from: reports@spacey.example
to: tlsrpt@example.com
SUBJECT: Report Domain: example.com Submitter: spacey.example Report-ID: <sp-10@spacey.example>
tls-report-domain: example.com
TLS-REPORT-SUBMITTER: spacey.example
mime-version: 1.0
content-type: Multipart/Report ; boundary = "=_sp aced_=" ; report-type = "tlsrpt" ;

--=_sp aced_=
CONTENT-TYPE: text/plain (the human part) ; charset = us-ascii

Report attached.
--=_sp aced_=\t
Content-Type: Application/TLSRPT+GZIP ; NAME = "spacey.example!example.com!1733270400!1733356799.json.gz"
content-transfer-encoding: BASE64

{b64_lines(z)}
--=_sp aced_=--
"""
    write("params_spaced", text, z)


def no_report():
    text = """From: someone@example.org
To: tlsrpt@example.org
Subject: hello
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt1"

--alt1
Content-Type: text/plain; charset=utf-8

Just text, no report.
--alt1
Content-Type: text/html; charset=utf-8

<p>Just text, no report.</p>
--alt1--
"""
    write("no_report", text)


def rfc2047_subject():
    js = report("Encoded Words Ltd", "example.org", "ew-11", "2024-12-05", ["mx.example.org"])
    z = gz(js)
    fname = "r\u00e9porter.example!example.org!1733356800!1733443199.json.gz"
    b64name = base64.b64encode(fname.encode()).decode()
    b64from = base64.b64encode("Rapports TLS \u00e9t\u00e9".encode()).decode()
    text = f"""From: =?UTF-8?B?{b64from}?=
 <tls@r\u00e9porter.example>
To: tlsrpt@example.org
Subject: =?UTF-8?Q?Report_Domain:_example.org_Submitter:_r=C3=A9porter.example?=
 =?ISO-8859-1?Q?_Report-ID:_<caf=E9-11@reporter.example>?= =?koi8-r?B?9MXT1A==?=
TLS-Report-Domain: example.org
TLS-Report-Submitter: =?utf-8?q?r=C3=A9porter.example?=
MIME-Version: 1.0
Content-Type: multipart/report; report-type=tlsrpt; boundary="ew11"

--ew11
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Rapport agr\u00e9g\u00e9.
--ew11
Content-Type: application/tlsrpt+gzip; name="=?UTF-8?B?{b64name}?="
Content-Transfer-Encoding: base64

{b64_lines(z)}
--ew11--
"""
    write("rfc2047_subject", text, z)


def rfc2231_latin1():
    js = report("Latin Mailer", "example.net", "lm-12", "2024-12-06", ["mx.example.net"])
    z = gz(js)
    text = f"""From: reports@latin.example
To: tlsrpt@example.net
Subject: TLS report
TLS-Report-Domain: example.net
TLS-Report-Submitter: latin.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=lm12

--lm12
Content-Type: text/plain; charset=iso-8859-1

Voir la piece jointe.
--lm12
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*1*=%21example.net%211733443200%211733529599.json.gz;
 filename*0*=iso-8859-1'fr'r%E9sum%E9
Content-Transfer-Encoding: base64

{b64_lines(z)}
--lm12--
"""
    # Sections out of order are ignored (RFC 2231 says they must come in order): only *0.
    text = text.replace(""" filename*1*=%21example.net%211733443200%211733529599.json.gz;
 filename*0*=iso-8859-1'fr'r%E9sum%E9""", """ filename*0*=iso-8859-1'fr'r%E9sum%E9;
 filename*1*=%21example.net%211733443200%211733529599.json.gz""")
    write("rfc2231_latin1", text, z)


def inner_report_message(domain, rid, day, boundary):
    js = report("Reporter Inc.", domain, rid, day, ["mx." + domain])
    z = gz(js)
    text = f"""Return-Path: <bounce@tlsrpt-bounces.reporter.example>
MIME-Version: 1.0
Date: Wed, 05 Mar 2025 04:12:30 +0000
TLS-Report-Domain: {domain}
TLS-Report-Submitter: reporter.example
Message-ID: <{rid}.msg@reporter.example>
Subject: Report Domain: {domain} Submitter: reporter.example Report-ID: <{rid}@reporter.example>
From: noreply-tls-reporting@reporter.example
To: tlsrpt@{domain}
Content-Type: multipart/report; boundary="{boundary}"; report-type=tlsrpt

--{boundary}
Content-Type: text/plain; charset="UTF-8"

This is an aggregate TLS report from reporter.example

--{boundary}
Content-Type: application/tlsrpt+gzip;
	name="reporter.example!{domain}!1741046400!1741132799!001.json.gz"
Content-Disposition: attachment;
	filename="reporter.example!{domain}!1741046400!1741132799!001.json.gz"
Content-Transfer-Encoding: base64

{b64_lines(z)}
--{boundary}--
"""
    return text, z


def forward_rfc822():
    inner, z = inner_report_message("example.com", "fw-13", "2025-03-04", "inner-fw13")
    text = f"""From: admin@example.com
To: tlsrpt-archive@example.com
Subject: Fwd: TLS report
Message-ID: <fwd-13@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-fw13"

--outer-fw13
Content-Type: text/plain; charset=utf-8

See the forwarded report.

--outer-fw13
Content-Type: message/rfc822
Content-Disposition: attachment; filename="report.eml"

{inner}
--outer-fw13--
"""
    write("forward_rfc822", text, z, crlf=True)


def forward_rfc822_b64():
    js = report("Direct Sender", "example.net", "fw-14", "2024-07-10", ["mx.example.net"],
                pretty=True)
    inner = f"""From: tlsrpt@direct.example
Subject: Report Domain: example.net Submitter: direct.example Report-ID: <fw-14@direct.example>
TLS-Report-Domain: example.net
TLS-Report-Submitter: direct.example
MIME-Version: 1.0
Content-Type: application/tlsrpt+json
Content-Disposition: attachment; filename="direct.example!example.net!1720569600!1720655999.json"

""" + js.decode()
    meta = b'{"note":"not the report"}'
    text = f"""From: admin@example.net
To: archive@example.net
Subject: Fwd: Report Domain: example.net Submitter: direct.example
TLS-Report-Domain: relay.example.net
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=fw14

--fw14
Content-Type: application/json; name="meta.json"

{meta.decode()}
--fw14
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

{b64_lines(inner.encode())}
--fw14--
"""
    write("forward_rfc822_b64", text, js)


def zinfo(name, method):
    zi = zipfile.ZipInfo(name, date_time=(2024, 12, 7, 0, 0, 0))
    zi.compress_type = method
    return zi


def make_zip(entries, seekable=True, force_zip64=False, extra=b""):
    """entries: (name, data, method); extra: the extra field of every entry."""
    bio = io.BytesIO()

    class Unseekable(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return bio.write(b)

    fp = bio if seekable else Unseekable()
    with zipfile.ZipFile(fp, "w") as zf:
        for name, data, method in entries:
            zi = zinfo(name, method)
            zi.extra = extra
            with zf.open(zi, "w", force_zip64=force_zip64) as f:
                f.write(data)
    return bio.getvalue()


def zip_message(name, zdata, ctype, fname, expected):
    text = f"""From: reports@zipper.example
To: tlsrpt@example.org
Subject: Report Domain: example.org Submitter: zipper.example Report-ID: <{name}>
TLS-Report-Domain: example.org
TLS-Report-Submitter: zipper.example
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="zip-{name}"

--zip-{name}
Content-Type: text/plain

The report is attached as a zip archive.
--zip-{name}
Content-Type: {ctype}; name="{fname}"
Content-Transfer-Encoding: base64

{b64_lines(zdata)}
--zip-{name}--
"""
    write(name, text, expected)


def zips():
    js = report("Zipper", "example.org", "zip-15", "2024-12-07", ["mx.example.org"],
                pretty=True)
    jname = "zipper.example!example.org!1733529600!1733615999.json"
    readme = b"This archive holds one TLS report.\n" * 20
    zip_message("zip_deflate", make_zip([(jname, js, zipfile.ZIP_DEFLATED)]),
                "application/zip", "zipper.example!example.org!1733529600!1733615999.zip", js)
    zip_message("zip_stored_named",
                make_zip([("README.txt", readme, zipfile.ZIP_DEFLATED),
                          ("reports/", b"", zipfile.ZIP_STORED),
                          (jname.upper().replace(".JSON", ".Json"), js, zipfile.ZIP_STORED)]),
                "application/octet-stream", "tlsrpt.ZIP", js)
    zip_message("zip_descriptor",
                make_zip([("notes.txt", readme, zipfile.ZIP_DEFLATED),
                          (jname, js, zipfile.ZIP_DEFLATED)], seekable=False),
                "application/x-zip-compressed", "r.zip", js)
    # Refused archives (no .expected).
    enc = bytearray(make_zip([(jname, js, zipfile.ZIP_DEFLATED)]))
    struct.pack_into("<H", enc, 6, struct.unpack_from("<H", enc, 6)[0] | 1)
    zip_message("zip_encrypted", bytes(enc), "application/zip", "r.zip", None)
    zip_message("zip_zip64", make_zip([(jname, js, zipfile.ZIP_DEFLATED)], force_zip64=True),
                "application/zip", "r.zip", None)
    zip_message("zip_two_json", make_zip([("a.json", js, zipfile.ZIP_DEFLATED),
                                          ("b.json", js, zipfile.ZIP_DEFLATED)]),
                "application/zip", "r.zip", None)
    zip_message("zip_no_json", make_zip([("README.txt", readme, zipfile.ZIP_DEFLATED)]),
                "application/zip", "r.zip", None)
    zip_message("zip_stored_descriptor",
                make_zip([(jname, js, zipfile.ZIP_STORED)], seekable=False),
                "application/zip", "r.zip", None)
    zip_message("zip_bzip2", make_zip([(jname, js, zipfile.ZIP_BZIP2)]),
                "application/zip", "r.zip", None)
    # Extra fields (extended timestamp, Unix owner) are read past; what follows the .json
    # entry that is not an entry header is let be.
    stored = make_zip([(jname, js, zipfile.ZIP_STORED)],
                      extra=struct.pack("<HHBI", 0x5455, 5, 1, 1733529600) +
                      struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000))
    cd = stored.index(b"PK\x01\x02")
    zip_message("zip_extra_fields", stored[:cd] + b"trailing garbage, no directory",
                "application/zip", "r.zip", js)
    zip_message("zip_zip64_extra",
                make_zip([(jname, js, zipfile.ZIP_STORED)],
                         extra=struct.pack("<HHQQ", 1, 16, len(js), len(js))),
                "application/zip", "r.zip", None)
    bad_crc = bytearray(make_zip([(jname, js, zipfile.ZIP_STORED)]))
    struct.pack_into("<I", bad_crc, 14, struct.unpack_from("<I", bad_crc, 14)[0] ^ 1)
    zip_message("zip_bad_crc", bytes(bad_crc), "application/zip", "r.zip", None)
    deflated = make_zip([(jname, js, zipfile.ZIP_DEFLATED)])
    bad_data = bytearray(deflated)
    start = 30 + len(jname)
    bad_data[start] = 0xff  # a reserved deflate block type
    zip_message("zip_bad_deflate", bytes(bad_data), "application/zip", "r.zip", None)
    zip_message("zip_truncated", deflated[:start + 40], "application/zip", "r.zip", None)
    zip_message("zip_not_zip", b"This is not a zip archive.\n", "application/zip", "r.zip",
                None)


def binary_part():
    js = report("Binary Mailer", "example.com", "bin-16", "2024-12-08", ["mx.example.com"])
    z = gz(js)
    head = """From: reports@binary.example
To: tlsrpt@example.com
Subject: Report Domain: example.com Submitter: binary.example Report-ID: <bin-16>
TLS-Report-Domain: example.com
TLS-Report-Submitter: binary.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=tlsrpt; boundary="bin16"

--bin16
Content-Type: text/plain

Report attached, unencoded.
--bin16
Content-Type: application/tlsrpt+gzip
Content-Transfer-Encoding: binary
Content-Disposition: attachment; filename="binary.example!example.com!1733616000!1733702399.json.gz"

""".replace("\n", "\r\n").encode()
    write_bytes("binary_part", head + z + b"\r\n--bin16--\r\n", z)


def eightbit_json():
    js = report("Exämple Größe Ltd", "example.org", "8b-17", "2024-12-09", ["mx.example.org"])
    js = json.dumps(json.loads(js), ensure_ascii=False, indent=1).encode()
    text = """From: reports@eightbit.example
To: tlsrpt@example.org
Subject: Report Domain: example.org Submitter: eightbit.example Report-ID: <8b-17>
TLS-Report-Domain: example.org
TLS-Report-Submitter: eightbit.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=tlsrpt; boundary=8b17

preamble line
--8b17
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Größe.
--8b17
Content-Type: application/tlsrpt+json
Content-Transfer-Encoding: 8bit

""" + js.decode() + """
--8b17--
epilogue line
--8b17
Content-Type: application/tlsrpt+gzip

not a part: the multipart was closed
"""
    write("eightbit_json", text, js)


def seeds():
    """Every fixture as a fuzz_mime seed, behind varied chunking and cap choices."""
    os.makedirs(SEEDS, exist_ok=True)
    prefixes = [b"\x00\x00", b"\x02\x06\x0f\xff", b"\x09\x00\x02", b"\x10\x40",
                b"\x18\x00", b"\x07\x00\x01\x02\x04\x08\x10\x20\x40"]
    names = sorted(f[:-4] for f in os.listdir(HERE) if f.endswith(".eml"))
    for i, name in enumerate(names):
        with open(os.path.join(HERE, name + ".eml"), "rb") as f:
            data = f.read()
        with open(os.path.join(SEEDS, name), "wb") as f:
            f.write(prefixes[i % len(prefixes)] + data)


def main():
    google_like("google_lf", crlf=False)
    google_like("google_crlf", crlf=True)
    microsoft_folded()
    rfc_style()
    oneline_unclosed()
    base64_ragged()
    html_part()
    gateway_banner()
    whole_json()
    whole_sniff_gzip()
    whole_sniff_json()
    tlsrpt_json_qp()
    tlsrpt_plain()
    mbox()
    nested_mixed()
    octet_stream()
    rfc2231_notype()
    priority()
    params_spaced()
    no_report()
    rfc2047_subject()
    rfc2231_latin1()
    forward_rfc822()
    forward_rfc822_b64()
    zips()
    binary_part()
    eightbit_json()
    seeds()


if __name__ == "__main__":
    main()
