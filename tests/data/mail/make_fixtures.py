#!/usr/bin/env python3
"""Writes the MIME fixtures of tests/unit/test_mime.c: NAME.eml and, when the message holds a
report, NAME.expected (the exact bytes mime_find_report() must return: gzip or JSON).

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

HERE = os.path.dirname(os.path.abspath(__file__))


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
    with open(os.path.join(HERE, name + ".eml"), "wb") as f:
        f.write(text.encode("utf-8"))
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


if __name__ == "__main__":
    main()
