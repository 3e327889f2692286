#!/usr/bin/env python3
"""Conformance of `tlsrptd check --json` over the shared corpus of real and synthetic reports.

For every file under <corpus>/json, <corpus>/gz and <corpus>/eml the EXPECTED table below says,
by hand, what the normalised report must hold (or why and how the file must be rejected). The
values were read from the files themselves (email attachments decoded once while writing the
table) and from corpus/SOURCES.md; they are hard-coded so that this test checks the C parser,
not Python against itself.

Environment:
  TLSRPTD            path to the tlsrptd binary (default <source>/build/tlsrptd)
  TLSRPT_SOURCE_DIR  repository root (default: three levels above this file)
  TLSRPT_CORPUS      corpus folder (default <source>/../shared/corpus); absent -> the test SKIPS

Every corpus file is one test method (test_<folder>__<name>), and every checked field a
subTest inside it, so a failure names the file and the field. test_every_corpus_file_has_an_entry
fails when a corpus file has no entry here, so a new file is never silently ignored.

Standard library only (Python 3.11).
"""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TLSRPT_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
TLSRPTD = os.environ.get("TLSRPTD") or os.path.join(SOURCE_DIR, "build", "tlsrptd")
CORPUS = os.environ.get("TLSRPT_CORPUS") or os.path.join(SOURCE_DIR, os.pardir, "shared", "corpus")
CORPUS = os.path.normpath(CORPUS)
FOLDERS = ("json", "gz", "eml")
RUN_TIMEOUT = 60

EX_OK = 0
EX_DATAERR = 65

# "Do not check this field" (None means: the value must be JSON null).
ANY = object()


# ---------------------------------------------------------------------------------------------
# Table helpers. They only build dicts; every value passed to them is written out by hand.
# ---------------------------------------------------------------------------------------------

def sts(mode, max_age, mx, version="STSv1"):
    """The parsed sts policy-string: {version, mode, max_age, mx[]}."""
    return {"version": version, "mode": mode, "max_age": max_age, "mx": list(mx)}


def policy(ptype, domain, successful, failed, n_details, *, strings=ANY, mx_hosts=ANY,
           sts_=ANY, details=ANY):
    """One policies[] entry. details: list of dicts with only the detail fields to check."""
    return {"policy_type": ptype, "policy_domain": domain, "successful": successful,
            "failed": failed, "n_details": n_details, "policy_strings": strings,
            "mx_hosts": mx_hosts, "sts": sts_, "details": details}


def detail(result_type, count, **fields):
    """A failure-details entry; keyword names are the normalised field names."""
    d = {"result_type": result_type, "failed_session_count": count}
    d.update(fields)
    return d


def lint_rule(what, codes=(), paths=()):
    """Some lint entry must have one of `codes` as a substring of its code (case-insensitive)
    or one of `paths` as a substring of its path. Codes are a colleague's choice of words, so
    only loose substrings are asserted."""
    return {"what": what, "codes": tuple(codes), "paths": tuple(paths)}


def report(fmt, org, contact, report_id, start, end, policies, *, start_raw=ANY, end_raw=ANY,
           lint=(), tls_report_domain=None, note=""):
    return {"verdict": "report", "format": fmt, "organization_name": org, "contact_info": contact,
            "report_id": report_id, "start": start, "end": end, "start_raw": start_raw,
            "end_raw": end_raw, "policies": policies, "lint": list(lint),
            "tls_report_domain": tls_report_domain, "note": note}


def rejected(fmt, kind, *, words=(), path=None, line=None, note=""):
    """words: each (tuple of alternatives) must occur in error code + reason (case-insensitive)."""
    return {"verdict": "rejected", "format": fmt, "kind": kind, "words": list(words),
            "path": path, "line": line, "note": note}


# Lint expectations shared by several entries (the words are deliberately loose).
LINT_NO_TIMEZONE = lint_rule("datetime without a timezone taken as UTC", codes=("zone",))
LINT_COUNT_MISMATCH = lint_rule(
    "sum of failed-session-count disagrees with total-failure-session-count",
    codes=("count", "sum", "mismatch", "total", "exceed", "inconsist", "disagree"),
    paths=("total-failure-session-count", "summary"))
LINT_MX_HOST_STRING = lint_rule("mx-host given as a string, not an array",
                                codes=("mx",), paths=("mx-host",))

# The three failure details of the RFC 8460 section 4.4 example, as they must come out:
# IPv6 in canonical (RFC 5952) form, the first detail with no receiving-ip.
RFC_EXAMPLE_DETAILS = [
    detail("certificate-expired", 100, sending_mta_ip="2001:db8:abcd:12::1",
           receiving_mx_hostname="mx1.mail.company-y.example", receiving_ip=None),
    detail("starttls-not-supported", 200, sending_mta_ip="2001:db8:abcd:13::1",
           receiving_mx_hostname="mx2.mail.company-y.example", receiving_ip="203.0.113.56"),
    detail("validation-failure", 3, sending_mta_ip="198.51.100.62",
           receiving_mx_hostname="mx-backup.mail.company-y.example", receiving_ip="203.0.113.58",
           failure_reason_code="X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"),
]
RFC_EXAMPLE_STRINGS = ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example",
                       "max_age: 86400"]
RFC_EXAMPLE_STS = sts("testing", 86400, ["*.mail.company-y.example"])
RFC_EXAMPLE_ID = "5065427c-23d3-47ca-b6e0-946ea0e8c4be"

GOOGLE = "Google Inc."
GOOGLE_CONTACT = "smtp-tls-reporting@google.com"
MICROSOFT = "Microsoft Corporation"
MICROSOFT_CONTACT = "tlsrpt-noreply@microsoft.com"
COMPANY_X = "Company-X"
COMPANY_X_CONTACT = "sts-reporting@company-x.example"


# ---------------------------------------------------------------------------------------------
# The expectation table: one entry per corpus file, keyed by "<folder>/<name>".
# ---------------------------------------------------------------------------------------------

EXPECTED = {
    # ---------------------------------------------------------------- json/
    "json/google_2020-03_no_policy_found.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2020-03-02T00:00:00Z_fastmaildmarc.com",
        "2020-03-02T00:00:00Z", "2020-03-02T23:59:59Z",
        [policy("no-policy-found", "fastmaildmarc.com", 343, 0, 0,
                strings=[], mx_hosts=[], sts_=None)],
        start_raw="2020-03-02T00:00:00Z", end_raw="2020-03-02T23:59:59Z",
        note="REAL Google 2020, compact, no failure-details key"),

    "json/google_2022-11_sts_testing.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2022-11-04T00:00:00Z_example.com",
        "2022-11-04T00:00:00Z", "2022-11-04T23:59:59Z",
        [policy("sts", "example.com", 2, 0, 0,
                strings=["version: STSv1", "mode: testing", "mx: mx.example.com", "max_age: 86400"],
                mx_hosts=["mx.example.com"], sts_=sts("testing", 86400, ["mx.example.com"]))]),

    "json/google_2024-02_sts_enforce.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2024-02-17T00:00:00Z_example.com",
        "2024-02-17T00:00:00Z", "2024-02-17T23:59:59Z",
        [policy("sts", "example.com", 53, 0, 0, mx_hosts=["example.com"],
                sts_=sts("enforce", 86400, ["example.com"]))]),

    "json/google_2025-03_no_policy_found.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2025-03-27T00:00:00Z_foo-bar.io",
        "2025-03-27T00:00:00Z", "2025-03-27T23:59:59Z",
        [policy("no-policy-found", "foo-bar.io", 1, 0, 0, strings=[], mx_hosts=[], sts_=None)]),

    "json/google_2025-04_no_policy_found_compact.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2025-04-12T00:00:00Z_domain.de",
        "2025-04-12T00:00:00Z", "2025-04-12T23:59:59Z",
        [policy("no-policy-found", "domain.de", 2, 0, 0, strings=[], mx_hosts=[], sts_=None)]),

    "json/google_2025-05_sts_pretty.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2025-05-22T00:00:00Z_foo-bar.io",
        "2025-05-22T00:00:00Z", "2025-05-22T23:59:59Z",
        [policy("sts", "foo-bar.io", 1, 0, 0, mx_hosts=["*.foo-bar.io"],
                sts_=sts("enforce", 2592000, ["*.foo-bar.io"]))]),

    "json/microsoft_2024-02_sts_enforce.json": report(
        "json", MICROSOFT, MICROSOFT_CONTACT, "133526718584528772+example.com",
        "2024-02-16T00:00:00Z", "2024-02-16T23:59:59Z",
        # Microsoft omits mx-host: an empty list, the patterns come from the policy-string.
        [policy("sts", "example.com", 18, 0, 0, mx_hosts=[],
                sts_=sts("enforce", 86400, ["example.com"]))]),

    "json/microsoft_2024-03_no_timezone.json": report(
        "json", MICROSOFT, MICROSOFT_CONTACT, "133561180919336230+example.com",
        # No zone designator: taken as UTC, raw text kept, and a warning recorded.
        "2024-03-26T00:00:00Z", "2024-03-26T23:59:59Z",
        [policy("sts", "example.com", 7, 0, 0, mx_hosts=[],
                sts_=sts("enforce", 86400, ["mx.example.com"]))],
        start_raw="2024-03-26T00:00:00", end_raw="2024-03-26T23:59:59",
        lint=[LINT_NO_TIMEZONE]),

    "json/microsoft_2025-05_sts_and_tlsa.json": report(
        "json", MICROSOFT, MICROSOFT_CONTACT, "133925885310113267+random.net",
        "2025-05-23T00:00:00Z", "2025-05-23T23:59:59Z",
        [policy("sts", "random.net", 2, 0, 0,
                strings=["version: STSv1", "mode: enforce", "mx: *.random.net", "max_age: 2592000"],
                mx_hosts=[], sts_=sts("enforce", 2592000, ["*.random.net"])),
         # The one policy-string holds a JSON-encoded array: it must come out as two TLSA records.
         policy("tlsa", "random.net", 2, 0, 0, mx_hosts=[], sts_=None,
                strings=["3 1 1 6007EEE553E85D8DF007A845D19EC343283D4E416E9A33F9EF3040C8B7C285BC",
                         "3 1 1 837C773D54C2E2BD71871A3FC352BE8214D5646CBAE5E3091401A7274717998B"])]),

    "json/microsoft_2025-06_policy_fetch_error_no_ip.json": report(
        "json", MICROSOFT, MICROSOFT_CONTACT, "1234567890+",
        "2025-06-14T00:00:00Z", "2025-06-14T23:59:59Z",
        # sts with no policy-string and no mx-host; the detail has only type and count.
        [policy("sts", "xxxxxxxx.xx", 0, 3, 1, strings=[], mx_hosts=[],
                details=[detail("sts-policy-fetch-error", 3, sending_mta_ip=None,
                                receiving_ip=None, receiving_mx_hostname=None)])]),

    "json/microsoft_2025-08_edited_testing_result.json": report(
        "json", MICROSOFT, MICROSOFT_CONTACT, "133988091029006454+josh.scot",
        "2025-08-03T00:00:00Z", "2025-08-03T23:59:59Z",
        [policy("sts", "josh.scot", 2, 2, 1,
                strings=["version: STSv1", "mode: enforce", "mx: mail.protonmail.ch",
                         "mx: mailsec.protonmail.ch", "max_age: 86401"],
                mx_hosts=[],
                sts_=sts("enforce", 86401, ["mail.protonmail.ch", "mailsec.protonmail.ch"]),
                # "Testing" is not an RFC result type: kept verbatim (not lower-cased); the
                # sending-mta-ip "x.x.x.x" is not an IP: kept as given, with lint.
                details=[detail("Testing", 3, sending_mta_ip="x.x.x.x",
                                receiving_mx_hostname="testing.josh.scot",
                                failure_reason_code="123")])],
        lint=[LINT_COUNT_MISMATCH,
              lint_rule("sending-mta-ip is not an IP address", codes=("ip-", "-ip", "address"),
                        paths=("sending-mta-ip",))],
        note="HAND-EDITED: details sum 3 > total-failure 2"),

    "json/parsedmarc_google_anon_2024-01_validation_failure.json": report(
        "json", "Example Inc.", "smtp-tls-reporting@example.com", "2024-01-09T00:00:00Z_example.com",
        "2024-01-09T00:00:00Z", "2024-01-09T23:59:59Z",
        [policy("sts", "example.com", 0, 3, 2, mx_hosts=[],
                sts_=sts("testing", 86400, ["example.com"]),
                details=[detail("validation-failure", 2, sending_mta_ip="209.85.222.201",
                                receiving_ip="173.212.201.41", receiving_mx_hostname="example.com"),
                         detail("validation-failure", 1, sending_mta_ip="209.85.208.176",
                                receiving_ip="173.212.201.41", receiving_mx_hostname="example.com")])]),

    "json/parsedmarc_mailru_2024-02_policy_fetch_error.json": report(
        "json", "Mail.ru", "tls_support@corp.mail.ru", "b28254de-7b2e-be36-bb5c-4c3b92da8b25@mail.ru",
        # Next-day 00:00:00Z end, as Mail.ru sends it.
        "2024-02-22T00:00:00Z", "2024-02-23T00:00:00Z",
        [policy("sts", "example.com", 0, 1, 2, strings=[], mx_hosts=[],
                details=[detail("sts-policy-fetch-error", 1, sending_mta_ip=None,
                                receiving_mx_hostname=None,
                                failure_reason_code="bad https response code: 404"),
                         detail("sts-policy-fetch-error", 1, sending_mta_ip=None,
                                receiving_mx_hostname=None,
                                failure_reason_code="bad https response code: 500")])],
        # Details add up to 2 but the summary says 1: kept as sent, recorded as lint.
        lint=[LINT_COUNT_MISMATCH]),

    "json/rfc8460_errata6241_array_mxhost.json": report(
        "json", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        [policy("sts", "company-y.example", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS[:1] + [
                    dict(RFC_EXAMPLE_DETAILS[1], additional_information=(
                        "https://reports.company-x.example/report_info ? id = 5065427 c - 23 d3# "
                        "StarttlsNotSupported "))] + RFC_EXAMPLE_DETAILS[2:])]),

    "json/rfc8460_example_string_mxhost.json": report(
        "json", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        # mx-host is a bare string in the RFC's own example: a 1-element list.
        [policy("sts", "company-y.example", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS[:1] + [
                    dict(RFC_EXAMPLE_DETAILS[1], additional_information=(
                        "https://reports.company-x.example/report_info?id=5065427c-23d3"
                        "#StarttlsNotSupported"))] + RFC_EXAMPLE_DETAILS[2:])],
        lint=[LINT_MX_HOST_STRING]),

    "json/selfhosted_2026-01_null_contact_info.json": report(
        "json", "server.com", None, "123_456",
        "2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z",
        # contact-info null -> null; failure-details [] -> no details; "mx: " prefix stripped
        # from mx-host; policy-string lines in any order still parse.
        [policy("sts", "server.com", 1, 0, 0,
                strings=["version: STSv1", "mode: enforce", "max_age: 86400", "mx: mx.server.com"],
                mx_hosts=["mx.server.com"], sts_=sts("enforce", 86400, ["mx.server.com"]),
                details=[])]),

    "json/synth_robalexdev_idn_no_policy_with_failures.json": report(
        "json", "Example Inc.", "smtp-tls-reporting@example.com", "report-id-from-report.json",
        "2025-08-04T00:00:00Z", "2025-08-04T23:59:59Z",
        # IDN stays its xn-- A-label; 102 failures counted with no details given.
        [policy("no-policy-found", "xn--gpher-jua.test", 99, 102, 0, sts_=None)]),

    "json/synth_robalexdev_rfc_idn_string_mxhost.json": report(
        "json", COMPANY_X, COMPANY_X_CONTACT, "report-id-of-report-over-email-1234",
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        [policy("sts", "xn--gpher-jua.test", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS)],
        lint=[LINT_MX_HOST_STRING]),

    "json/synth_stalwart_google_like_host_mismatch.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2020-01-01T00:00:00Z_example.com",
        # A 7-day window: accepted as given.
        "2020-01-01T00:00:00Z", "2020-01-07T23:59:59Z",
        [policy("sts", "example.com", 23, 1, 1, mx_hosts=[],
                sts_=sts("enforce", 604800, ["demo.example.com"]),
                details=[detail("certificate-host-mismatch", 1, sending_mta_ip="123.123.123.123",
                                receiving_ip="234.234.234.234",
                                receiving_mx_hostname="demo.example.com")])]),

    # SOURCES.md calls this a "synthetic negative". Debatable; we expect ACCEPTED with lint:
    # the first policy is a perfectly normal no-policy-found entry (Google really omits
    # policy-domain and the failure count in old reports), and rejecting the whole report over
    # one policy of an unknown type would make the sender retry for 24 h and then lose the data
    # of the valid policy too. An operator wants the valid part counted and the odd part shown:
    # policy_type kept verbatim, missing counts as null, and a lint entry naming the bad type.
    "json/synth_stalwart_invalid_policy_type.json": report(
        "json", GOOGLE, GOOGLE_CONTACT, "2019-04-14T00:00:00Z_example.org",
        "2019-04-14T00:00:00Z", "2019-04-14T23:59:59Z",
        [policy("no-policy-found", None, 1, None, 0, sts_=None),
         policy("invalid-policy-type", None, 1, None, 0)],
        lint=[lint_rule("unknown policy-type", codes=("type",), paths=("policies[1].policy-type",))]),

    # NEGATIVE: a report whose window cannot be read is no report (nothing to file it under).
    "json/synth_ynkdk_bad_start_datetime.json": rejected(
        "json", "invalid", words=[("date", "time")], path="date-range.start-datetime", line=4,
        note="start-datetime is 'April fools'"),

    # Debatable: "policies": [] is well-formed JSON with a usable window and reporter; it just
    # says nothing. Accept it (a 4xx only makes the sender retry, then drop it) with lint so the
    # operator sees the reporter sent an empty report.
    "json/synth_ynkdk_empty_policies.json": report(
        "json", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z", [],
        lint=[lint_rule("empty policies array", codes=("polic", "empty"), paths=("policies",))]),

    # Debatable: no policy-type (and no policy-string). The domain and the counts are still
    # there and worth counting; accept with lint and an empty/unknown policy_type rather than
    # refusing 5629 sessions' worth of data. mx-host is a string here too.
    "json/synth_ynkdk_missing_policy_type.json": report(
        "json", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        [policy("", "company-y.example", 5326, 303, 0, mx_hosts=["*.mail.company-y.example"])],
        lint=[lint_rule("missing policy-type", codes=("type",), paths=("policy-type",))]),

    # ---------------------------------------------------------------- gz/
    "gz/google_2020-03_no_policy_found.json.gz": report(
        "gzip", GOOGLE, GOOGLE_CONTACT, "2020-03-02T00:00:00Z_fastmaildmarc.com",
        "2020-03-02T00:00:00Z", "2020-03-02T23:59:59Z",
        [policy("no-policy-found", "fastmaildmarc.com", 343, 0, 0, strings=[], mx_hosts=[],
                sts_=None)]),

    "gz/microsoft_2025-08_sts.json.gz": report(
        "gzip", MICROSOFT, MICROSOFT_CONTACT, "133988091029006454+josh.scot",
        "2025-08-03T00:00:00Z", "2025-08-03T23:59:59Z",
        [policy("sts", "josh.scot", 2, 0, 0, mx_hosts=[],
                strings=["version: STSv1", "mode: enforce", "mx: mail.protonmail.ch",
                         "mx: mailsec.protonmail.ch", "max_age: 86401"],
                sts_=sts("enforce", 86401, ["mail.protonmail.ch", "mailsec.protonmail.ch"]))]),

    "gz/synth_ynkdk_rfc8460_example.gz": report(
        "gzip", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        # Old-draft key "failure-error-code" must land in failure_reason_code; mx-host string.
        [policy("sts", "company-y.example", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS)],
        lint=[LINT_MX_HOST_STRING]),

    # NEGATIVE: 12 bytes, gzip header plus 2 bytes of deflate data.
    "gz/synth_ynkdk_truncated.gz": rejected(
        "gzip", "invalid", words=[("gzip",), ("trunc",)], note="truncated gzip"),

    # ---------------------------------------------------------------- eml/
    "eml/google_2020-03_fastmail.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2020-03-02T00:00:00Z_fastmaildmarc.com",
        "2020-03-02T00:00:00Z", "2020-03-02T23:59:59Z",
        [policy("no-policy-found", "fastmaildmarc.com", 343, 0, 0, strings=[], mx_hosts=[],
                sts_=None)],
        tls_report_domain="fastmaildmarc.com"),

    "eml/google_2022-09_crlf.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2022-09-15T00:00:00Z_test.xmox.nl",
        "2022-09-15T00:00:00Z", "2022-09-15T23:59:59Z",
        [policy("sts", "test.xmox.nl", 3, 0, 0,
                strings=["version: STSv1", "mode: enforce", "max_age: 86400", "mx: komijn.test.xmox.nl"],
                mx_hosts=["komijn.test.xmox.nl"],
                sts_=sts("enforce", 86400, ["komijn.test.xmox.nl"]))],
        tls_report_domain="test.xmox.nl"),

    "eml/google_2023-02_mbox_headers.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2023-02-02T00:00:00Z_blogreen.org",
        "2023-02-02T00:00:00Z", "2023-02-02T23:59:59Z",
        [policy("sts", "blogreen.org", 1, 0, 0, mx_hosts=["mx.blogreen.org"],
                sts_=sts("testing", 86400, ["mx.blogreen.org"]))],
        tls_report_domain="blogreen.org"),

    "eml/google_2024-01_deltachat.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2024-01-20T00:00:00Z_nine.testrun.org",
        "2024-01-20T00:00:00Z", "2024-01-20T23:59:59Z",
        [policy("sts", "nine.testrun.org", 7, 0, 0, mx_hosts=["nine.testrun.org"],
                sts_=sts("enforce", 2419200, ["nine.testrun.org"]))],
        tls_report_domain="nine.testrun.org"),

    "eml/google_2024-09_ironport_banner.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2024-09-03T00:00:00Z_cardinalhealth.ca",
        "2024-09-03T00:00:00Z", "2024-09-03T23:59:59Z",
        [policy("no-policy-found", "cardinalhealth.ca", 48, 0, 0, strings=[], mx_hosts=[],
                sts_=None)],
        tls_report_domain="cardinalhealth.ca"),

    "eml/google_2026-05_fastmail_anon.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2026-05-11T00:00:00Z_example.com",
        "2026-05-11T00:00:00Z", "2026-05-11T23:59:59Z",
        [policy("sts", "example.com", 1, 0, 0,
                mx_hosts=["in1-smtp.messagingengine.com", "in2-smtp.messagingengine.com"],
                sts_=sts("enforce", 604800, ["in1-smtp.messagingengine.com",
                                             "in2-smtp.messagingengine.com"]))],
        tls_report_domain="example.com"),

    "eml/microsoft_2023-02_no_timezone.eml": report(
        "mail", MICROSOFT, MICROSOFT_CONTACT, "133198585438131172+test.xmox.nl",
        "2023-01-10T00:00:00Z", "2023-01-10T23:59:59Z",
        [policy("sts", "test.xmox.nl", 2, 0, 0, mx_hosts=[],
                sts_=sts("enforce", 86400, ["komijn.test.xmox.nl"]))],
        start_raw="2023-01-10T00:00:00", end_raw="2023-01-10T23:59:59",
        lint=[LINT_NO_TIMEZONE], tls_report_domain="test.xmox.nl"),

    "eml/microsoft_2026-05_html_part_anon.eml": report(
        "mail", MICROSOFT, MICROSOFT_CONTACT, "134232617934286362+example.com",
        "2026-05-13T00:00:00Z", "2026-05-13T23:59:59Z",
        [policy("sts", "example.com", 2, 0, 0, mx_hosts=[],
                sts_=sts("enforce", 604800, ["in1-smtp.messagingengine.com",
                                             "in2-smtp.messagingengine.com"]))],
        tls_report_domain="example.com"),

    # The body is authoritative: header says example.net, the report is about company-y.example.
    "eml/rfc8460_example_gzip.eml": report(
        "mail", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        [policy("sts", "company-y.example", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS)],
        tls_report_domain="example.net"),

    "eml/synth_google_headers_failure_payload.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2026-02-08T00:00:00Z_example.com",
        # The JSON window (not the filename nor the Subject) is authoritative.
        "2026-02-08T00:00:00Z", "2026-02-09T00:00:00Z",
        [policy("sts", "example.com", 4523, 2, 1, mx_hosts=[],
                sts_=sts("enforce", 604800, ["mail.example.com"]),
                details=[detail("certificate-expired", 2, sending_mta_ip="192.0.2.1",
                                receiving_mx_hostname="mail.example.com")])],
        tls_report_domain="example.com"),

    # One 868-char base64 line, no close boundary, string mx-host inside.
    "eml/synth_rfc8460_example_crlf_onelineheaders.eml": report(
        "mail", COMPANY_X, COMPANY_X_CONTACT, RFC_EXAMPLE_ID,
        "2016-04-01T00:00:00Z", "2016-04-01T23:59:59Z",
        [policy("sts", "company-y.example", 5326, 303, 3, strings=RFC_EXAMPLE_STRINGS,
                mx_hosts=["*.mail.company-y.example"], sts_=RFC_EXAMPLE_STS,
                details=RFC_EXAMPLE_DETAILS)],
        lint=[LINT_MX_HOST_STRING], tls_report_domain="example.net"),

    # "application/tlsrpt" part holding raw JSON, no Content-Transfer-Encoding.
    "eml/synth_rfc8460_example_uncompressed_json.eml": report(
        "mail", GOOGLE, GOOGLE_CONTACT, "2020-01-01T00:00:00Z_example.com",
        "2020-01-01T00:00:00Z", "2020-01-07T23:59:59Z",
        [policy("sts", "example.com", 23, 1, 1, mx_hosts=[],
                sts_=sts("enforce", 604800, ["demo.example.com"]),
                details=[detail("certificate-host-mismatch", 1, sending_mta_ip="123.123.123.123",
                                receiving_ip="234.234.234.234",
                                receiving_mx_hostname="demo.example.com")])],
        tls_report_domain="example.net"),
}


# ---------------------------------------------------------------------------------------------
# Running the binary and comparing.
# ---------------------------------------------------------------------------------------------

def corpus_files():
    """Relative names ("json/x.json") of every regular file in the corpus folders."""
    out = []
    for folder in FOLDERS:
        d = os.path.join(CORPUS, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if os.path.isfile(os.path.join(d, name)) and not name.startswith("."):
                out.append(folder + "/" + name)
    return out


def corpus_present():
    return any(os.path.isdir(os.path.join(CORPUS, f)) for f in FOLDERS)


def run_check(path):
    """Runs `tlsrptd check --json path`; returns (returncode, parsed object or None, stdout, stderr)."""
    p = subprocess.run([TLSRPTD, "check", "--json", "--dkim", "off", path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=RUN_TIMEOUT)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    obj = None
    if len(lines) == 1:
        try:
            obj = json.loads(lines[0])
        except ValueError:
            obj = None
    return p.returncode, obj, out, err


def to_epoch(v):
    """An RFC 3339 'YYYY-MM-DDTHH:MM:SSZ' string (or an epoch integer) to epoch seconds."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v):
        return int(datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=datetime.timezone.utc).timestamp())
    return None


def describe_lint(lint):
    return "; ".join("%s %s (%s)" % (l.get("path"), l.get("code"), l.get("message"))
                     for l in lint if isinstance(l, dict)) or "(no lint)"


def lint_matches(rule, entry):
    code = str(entry.get("code") or "").lower()
    path = str(entry.get("path") or "")
    return any(c.lower() in code for c in rule["codes"]) or any(p in path for p in rule["paths"])


class CorpusTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not corpus_present():
            msg = ("corpus not found at %s (set TLSRPT_CORPUS, or put it at "
                   "<TLSRPT_SOURCE_DIR>/../shared/corpus): skipping the corpus conformance test"
                   % CORPUS)
            print("test_corpus: " + msg, file=sys.stderr)
            raise unittest.SkipTest(msg)

    # -- coverage of the table ------------------------------------------------------------
    def test_every_corpus_file_has_an_entry(self):
        missing = [f for f in corpus_files() if f not in EXPECTED]
        if missing:
            self.fail("%d corpus file(s) have no entry in EXPECTED of %s; read each file and add "
                      "its expectations:\n  %s" % (len(missing), os.path.basename(__file__),
                                                   "\n  ".join(missing)))

    def test_every_entry_has_a_corpus_file(self):
        present = set(corpus_files())
        stale = [k for k in EXPECTED if k not in present]
        if stale:
            self.fail("EXPECTED has entries for files not in %s (renamed or removed?):\n  %s"
                      % (CORPUS, "\n  ".join(stale)))

    # -- one file ---------------------------------------------------------------------------
    def check_file(self, rel):
        exp = EXPECTED[rel]
        path = os.path.join(CORPUS, rel)
        if not os.path.isfile(path):
            self.skipTest("%s not in this corpus" % rel)
        self.assertTrue(os.access(TLSRPTD, os.X_OK),
                        "tlsrptd binary not found or not executable at %s (set TLSRPTD)" % TLSRPTD)
        rc, obj, out, err = run_check(path)
        ctx = "\n  file: %s\n  exit: %s\n  stdout: %s\n  stderr: %s" % (
            rel, rc, out.strip()[:4000], err.strip()[:2000])
        if rc < 0:
            self.fail("tlsrptd check died of signal %s%s" % (signal.Signals(-rc).name, ctx))
        self.assertIsNotNone(obj, "stdout is not exactly one JSON object line" + ctx)
        self.assertIsInstance(obj, dict, ctx)

        with self.subTest(rel, field="file"):
            self.assertEqual(obj.get("file"), path, ctx)
        with self.subTest(rel, field="format"):
            self.assertEqual(obj.get("format"), exp["format"], ctx)
        with self.subTest(rel, field="verdict"):
            self.assertEqual(obj.get("verdict"), exp["verdict"], ctx)
        with self.subTest(rel, field="exit status"):
            self.assertEqual(rc, EX_OK if exp["verdict"] == "report" else EX_DATAERR, ctx)
        if obj.get("verdict") != exp["verdict"]:
            return  # the rest cannot be compared; the verdict subTest already failed

        if exp["verdict"] == "rejected":
            self.check_rejection(rel, exp, obj, ctx)
            return

        with self.subTest(rel, field="tls_report_domain"):
            if exp["format"] == "mail":
                self.assertEqual((obj.get("tls_report_domain") or "").strip(),
                                 exp["tls_report_domain"], ctx)
            else:
                self.assertIsNone(obj.get("tls_report_domain"),
                                  "tls_report_domain present for a non-mail file" + ctx)
        rep = obj.get("report")
        self.assertIsInstance(rep, dict, "no report object" + ctx)
        self.check_report(rel, exp, rep, ctx)

    def check_rejection(self, rel, exp, obj, ctx):
        e = obj.get("error")
        self.assertIsInstance(e, dict, "no error object" + ctx)
        text = ("%s %s" % (e.get("code"), e.get("reason"))).lower()
        with self.subTest(rel, field="error.kind"):
            self.assertEqual(e.get("kind"), exp["kind"], ctx)
        with self.subTest(rel, field="error.code/reason"):
            self.assertTrue(e.get("code") and e.get("reason"), "empty code or reason" + ctx)
            for alternatives in exp["words"]:
                self.assertTrue(any(w in text for w in alternatives),
                                "code/reason %r names none of %r%s" % (text, alternatives, ctx))
        if exp["path"] is not None:
            with self.subTest(rel, field="error.path"):
                self.assertIn(exp["path"], e.get("path") or "", ctx)
        if exp["line"] is not None and e.get("line"):
            with self.subTest(rel, field="error.line"):
                self.assertEqual(e.get("line"), exp["line"], ctx)
        with self.subTest(rel, field="no report on rejection"):
            self.assertIsNone(obj.get("report"), ctx)

    def check_report(self, rel, exp, rep, ctx):
        for key in ("organization_name", "contact_info", "report_id"):
            with self.subTest(rel, field=key):
                self.assertEqual(rep.get(key), exp[key], ctx)

        dr = rep.get("date_range") or {}
        for key in ("start", "end"):
            with self.subTest(rel, field="date_range." + key):
                got = dr.get(key)
                self.assertEqual(to_epoch(got), to_epoch(exp[key]),
                                 "expected %s, got %r%s" % (exp[key], got, ctx))
                if isinstance(got, str):
                    self.assertEqual(got, exp[key], "not RFC 3339 UTC 'YYYY-MM-DDTHH:MM:SSZ'" + ctx)
        for key in ("start_raw", "end_raw"):
            want = exp[key]
            if want is ANY:
                # Unless stated, the raw text is the normalised text (all Z, no fractions).
                want = exp["start" if key == "start_raw" else "end"]
            with self.subTest(rel, field="date_range." + key):
                self.assertEqual(dr.get(key), want, ctx)

        lint = rep.get("lint")
        with self.subTest(rel, field="lint shape"):
            self.assertIsInstance(lint, list, ctx)
            for entry in lint or []:
                self.assertIsInstance(entry, dict, ctx)
                for k in ("path", "code", "message"):
                    self.assertIsInstance(entry.get(k), str, "lint entry %r lacks %s%s" % (entry, k, ctx))
        for rule in exp["lint"]:
            with self.subTest(rel, field="lint: " + rule["what"]):
                self.assertTrue(any(lint_matches(rule, l) for l in lint or [] if isinstance(l, dict)),
                                "no lint for '%s' (codes ~%r or paths ~%r); lint was: %s%s" % (
                                    rule["what"], rule["codes"], rule["paths"],
                                    describe_lint(lint or []), ctx))

        pols = rep.get("policies")
        with self.subTest(rel, field="policies count"):
            self.assertIsInstance(pols, list, ctx)
            self.assertEqual(len(pols), len(exp["policies"]), ctx)
        if not isinstance(pols, list):
            return
        for i, (ep, gp) in enumerate(zip(exp["policies"], pols)):
            self.check_policy(rel, i, ep, gp, ctx)

    def check_policy(self, rel, i, ep, gp, ctx):
        pre = "policies[%d]." % i
        with self.subTest(rel, field=pre + "policy_type"):
            if ep["policy_type"] == "":
                # Missing policy-type: "" is what rpt.h documents; null or an explicit
                # "unknown"/"missing" marker would serve an operator equally well.
                self.assertIn(gp.get("policy_type"), ("", None, "unknown", "missing"), ctx)
            else:
                self.assertEqual(gp.get("policy_type"), ep["policy_type"], ctx)
        with self.subTest(rel, field=pre + "policy_domain"):
            self.assertEqual(gp.get("policy_domain"), ep["policy_domain"], ctx)
        for key in ("successful", "failed"):
            with self.subTest(rel, field=pre + key):
                got = gp.get(key)
                self.assertFalse(isinstance(got, bool), ctx)
                self.assertEqual(got, ep[key], ctx)
        for key in ("policy_strings", "mx_hosts"):
            if ep[key] is ANY:
                with self.subTest(rel, field=pre + key + " is a list"):
                    self.assertIsInstance(gp.get(key), list, ctx)
                continue
            with self.subTest(rel, field=pre + key):
                got = gp.get(key)
                if ep["policy_type"] == "tlsa" and key == "policy_strings" and isinstance(got, list):
                    # TLSA RRs: hex digits may be cased either way; the split is what matters.
                    got = [s.upper() if isinstance(s, str) else s for s in got]
                    self.assertEqual(got, [s.upper() for s in ep[key]], ctx)
                else:
                    self.assertEqual(got, ep[key], ctx)
        if ep["sts"] is not ANY:
            with self.subTest(rel, field=pre + "sts"):
                got = gp.get("sts")
                if ep["sts"] is None:
                    self.assertIsNone(got, ctx)
                else:
                    self.assertIsInstance(got, dict, ctx)
                    self.assertEqual({k: got.get(k) for k in ("version", "mode", "max_age", "mx")},
                                     ep["sts"], ctx)

        fds = gp.get("failure_details")
        with self.subTest(rel, field=pre + "failure_details count"):
            self.assertIsInstance(fds, list, ctx)
            self.assertEqual(len(fds), ep["n_details"], ctx)
        if ep["details"] is ANY or not isinstance(fds, list):
            return
        for j, (ed, gd) in enumerate(zip(ep["details"], fds)):
            for key, want in ed.items():
                with self.subTest(rel, field="%sfailure_details[%d].%s" % (pre, j, key)):
                    self.assertIsInstance(gd, dict, ctx)
                    got = gd.get(key)
                    if key == "failed_session_count":
                        self.assertFalse(isinstance(got, bool), ctx)
                    self.assertEqual(got, want, ctx)


def _method_name(rel):
    return "test_" + re.sub(r"[^0-9A-Za-z]+", "_", rel.replace("/", "__", 1))


def _make_test(rel):
    def test(self):
        self.check_file(rel)
    test.__doc__ = "corpus %s" % rel
    return test


for _rel in EXPECTED:
    setattr(CorpusTest, _method_name(_rel), _make_test(_rel))


if __name__ == "__main__":
    unittest.main()
