/*
 * Unit tests for ingest/mime: the fixtures in tests/data/mail (written by make_fixtures.py,
 * one per MIME quirk of real TLS-RPT mail) plus messages built in memory for the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/buf.h"
#include "ingest/mime.h"

#define OUT_CAP (1024 * 1024)

struct fixture {
	const char *name;         /* tests/data/mail/NAME.eml and NAME.expected */
	int gzip;                 /* payload is gzip (else JSON) */
	const char *domain;
	const char *submitter;
	const char *report_id;
	const char *part_type;
	const char *part_filename;
	int unclosed;
	const char *subject;      /* NULL: not checked */
	const char *message_id;   /* NULL: not checked */
	const char *from;         /* NULL: not checked */
};

static const struct fixture fixtures[] = {
	{ "google_lf", 1, "example.org", "reporter.example",
	  "2025.03.04T00.00.00Z+example.org@reporter.example", "application/tlsrpt+gzip",
	  "reporter.example!example.org!1741046400!1741132799!001.json.gz", 0,
	  "Report Domain: example.org Submitter: reporter.example Report-ID: "
	  "<2025.03.04T00.00.00Z+example.org@reporter.example>",
	  "<0000000000001a2b3c4d@reporter.example>", "noreply-tls-reporting@reporter.example" },
	{ "google_crlf", 1, "example.org", "reporter.example",
	  "2025.03.04T00.00.00Z+example.org@reporter.example", "application/tlsrpt+gzip",
	  "reporter.example!example.org!1741046400!1741132799!001.json.gz", 0,
	  "Report Domain: example.org Submitter: reporter.example Report-ID: "
	  "<2025.03.04T00.00.00Z+example.org@reporter.example>",
	  "<0000000000001a2b3c4d@reporter.example>", "noreply-tls-reporting@reporter.example" },
	{ "microsoft_folded", 1, "example.net", "bigmail.example",
	  "133500000000000001+example.net", "application/tlsrpt+gzip",
	  "bigmail.example!example.net!1717200000!1717286399!133500000000000001.json.gz", 0,
	  "Report Domain: example.net Submitter: bigmail.example Report-ID: "
	  "133500000000000001+example.net",
	  "<133500000000000001+example.net@example.net>", "<tlsrpt-noreply@bigmail.example>" },
	{ "rfc_style", 1, "example.com", "mta.sender.example", "5e1a.9c+77@sender.example",
	  "application/tlsrpt+gzip",
	  "mta.sender.example!example.com!1707523200!1707609599.json.gz", 0,
	  "Report Domain: example.com    Submitter: mta.sender.example    "
	  "Report-ID: <5e1a.9c+77@sender.example>", "", "tlsrpt@mta.sender.example" },
	{ "oneline_unclosed", 1, "example.net", "small-sender.example",
	  "1730332800_1187@small-sender.example", "application/tlsrpt+gzip",
	  "small-sender.example!example.net!1730332800!1730419200.json.gz", 1, NULL, NULL, NULL },
	{ "base64_ragged", 1, "example.org", "odd-lines.example", "odd-1",
	  "application/tlsrpt+gzip", "odd-lines.example!example.org!1714867200!1714953599.json.gz",
	  0, NULL, NULL, "Odd Lines <tls@odd-lines.example>" },
	{ "html_part", 1, "example.com", "bigmail.example", "134000000000000002+example.com",
	  "application/tlsrpt+gzip",
	  "bigmail.example!example.com!1737331200!1737417599!134000000000000002.json.gz", 0,
	  NULL, NULL, NULL },
	{ "gateway_banner", 1, "example.com", "reporter.example",
	  "2024.09.03T00.00.00Z+example.com@reporter.example", "application/tlsrpt+gzip",
	  "reporter.example!example.com!1725321600!1725407999!001.json.gz", 0, NULL,
	  "<66d83c20.0000.tls@reporter.example>", NULL },
	{ "whole_json", 0, "example.org", "direct.example", "whole-1@direct.example",
	  "application/tlsrpt+json", "direct.example!example.org!1720310400!1720396799.json", 0,
	  NULL, NULL, NULL },
	{ "whole_sniff_gzip", 1, "example.org", "direct.example", "", "", "", 0,
	  "TLS report", "", "tlsrpt@direct.example" },
	{ "whole_sniff_json", 0, "example.org", "direct.example", "", "text/plain", "", 0,
	  NULL, NULL, NULL },
	{ "tlsrpt_json_qp", 0, "example.net", "plainjson.example", "pj-4",
	  "application/tlsrpt+json", "plainjson.example!example.net!1722470400!1722556799.json",
	  0, NULL, NULL, NULL },
	{ "tlsrpt_plain", 0, "example.net", "draft.example", "draft-5@draft.example",
	  "application/tlsrpt", "draft.example!example.net!1722556800!1722643199.json", 0,
	  NULL, NULL, NULL },
	{ "mbox", 1, "example.org", "reporter.example",
	  "2023.02.02T00.00.00Z+example.org@reporter.example", "application/tlsrpt+gzip",
	  "reporter.example!example.org!1675296000!1675382399!001.json.gz", 0, NULL,
	  "<0000000000006645mbox@reporter.example>", "noreply-tls-reporting@reporter.example" },
	{ "nested_mixed", 1, "example.com", "reporter.example", "nested-6@reporter.example",
	  "application/tlsrpt+gzip", "reporter.example!example.com!1731283200!1731369599.json.gz",
	  0, NULL, NULL, NULL },
	{ "octet_stream", 1, "example.org", "generic.example", "", "application/octet-stream",
	  "generic.example!example.org!1733011200!1733097599.json.gz", 0,
	  "TLS report for example.org", NULL, NULL },
	{ "rfc2231_notype", 1, "example.org", "generic.example", "", "",
	  "generic.example!example.org!1733097600!1733183999.json.gz", 0, NULL, NULL, NULL },
	{ "priority", 1, "example.net", "priority.example", "prio-9", "application/tlsrpt+gzip",
	  "priority.example!example.net!1733184000!1733270399.json.gz", 0, NULL, NULL, NULL },
	{ "params_spaced", 1, "example.com", "spacey.example", "sp-10@spacey.example",
	  "application/tlsrpt+gzip", "spacey.example!example.com!1733270400!1733356799.json.gz",
	  0, NULL, NULL, "reports@spacey.example" },
};

static char *
read_file(const char *name, const char *ext, size_t *len)
{
	char path[1024];
	FILE *f;
	char *p;
	long n;

	assert_true(snprintf(path, sizeof(path), "%s/mail/%s%s", TLSRPT_TEST_DATA, name, ext) <
	    (int)sizeof(path));
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
test_fixture(void **state)
{
	const struct fixture *fx = *state;
	struct mime_info info;
	struct buf out;
	char err[256], *msg, *want;
	size_t len, wantlen, i;

	msg = read_file(fx->name, ".eml", &len);
	want = read_file(fx->name, ".expected", &wantlen);
	buf_init(&out, OUT_CAP);
	assert_true(mime_looks_like_message(msg, len));
	if (mime_find_report(msg, len, &out, &info, err, sizeof(err)) != 0)
		fail_msg("%s: %s", fx->name, err);
	assert_string_equal(err, "");

	assert_int_equal(out.len, wantlen);
	assert_memory_equal(out.data, want, wantlen);
	if (fx->gzip) {
		assert_int_equal((unsigned char)out.data[0], 0x1f);
		assert_int_equal((unsigned char)out.data[1], 0x8b);
	} else {
		for (i = 0; i < out.len && strchr(" \t\r\n", out.data[i]) != NULL; i++)
			;
		assert_true(i < out.len && out.data[i] == '{');
		assert_non_null(strstr(out.data, "\"policies\""));
	}

	assert_string_equal(info.tls_report_domain, fx->domain);
	assert_string_equal(info.tls_report_submitter, fx->submitter);
	assert_string_equal(info.subject_report_id, fx->report_id);
	assert_string_equal(info.part_type, fx->part_type);
	assert_string_equal(info.part_filename, fx->part_filename);
	assert_int_equal(info.multipart_unclosed, fx->unclosed);
	if (fx->subject != NULL)
		assert_string_equal(info.subject, fx->subject);
	if (fx->message_id != NULL)
		assert_string_equal(info.message_id, fx->message_id);
	if (fx->from != NULL)
		assert_string_equal(info.from, fx->from);

	buf_free(&out);
	free(msg);
	free(want);
}

/* Runs mime_find_report() on a NUL-terminated message; returns its rc. */
static int
find(const char *msg, struct buf *out, struct mime_info *info, char *err, size_t errlen)
{
	return mime_find_report(msg, strlen(msg), out, info, err, errlen);
}

static void
test_crlf_and_lf_agree(void **state)
{
	struct buf a, b;
	char *lf, *crlf, err[256];
	size_t lflen, crlflen;

	(void)state;
	lf = read_file("google_lf", ".eml", &lflen);
	crlf = read_file("google_crlf", ".eml", &crlflen);
	assert_true(crlflen > lflen);
	buf_init(&a, OUT_CAP);
	buf_init(&b, OUT_CAP);
	assert_int_equal(mime_find_report(lf, lflen, &a, NULL, err, sizeof(err)), 0);
	assert_int_equal(mime_find_report(crlf, crlflen, &b, NULL, err, sizeof(err)), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	buf_free(&a);
	buf_free(&b);
	free(lf);
	free(crlf);
}

static void
test_no_report_part(void **state)
{
	struct mime_info info;
	struct buf out;
	char err[256], *msg;
	size_t len;

	(void)state;
	msg = read_file("no_report", ".eml", &len);
	buf_init(&out, OUT_CAP);
	assert_int_equal(mime_find_report(msg, len, &out, &info, err, sizeof(err)), -1);
	assert_true(strncmp(err, "no report part: ", 16) == 0);
	assert_int_equal(out.len, 0);
	assert_string_equal(info.part_type, "");
	assert_string_equal(info.subject, "hello");
	buf_free(&out);
	free(msg);
}

static void
test_text_only_message(void **state)
{
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	assert_int_equal(find("From: a@example.org\nSubject: hi\nContent-Type: text/plain\n\n"
	    "Hello, no report here.\n", &out, NULL, err, sizeof(err)), -1);
	assert_true(strncmp(err, "no report part: ", 16) == 0);
	assert_non_null(strstr(err, "text/plain"));
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void
test_output_cap(void **state)
{
	struct buf out;
	char err[256], *msg, *want;
	size_t len, wantlen;

	(void)state;
	msg = read_file("google_lf", ".eml", &len);
	want = read_file("google_lf", ".expected", &wantlen);

	buf_init(&out, wantlen - 1);
	assert_int_equal(mime_find_report(msg, len, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cap"));
	assert_int_equal(out.len, 0);
	assert_int_equal(out.err, BUF_ERR_CAP);
	buf_free(&out);

	/* Exactly the payload size fits. */
	buf_init(&out, wantlen);
	assert_int_equal(mime_find_report(msg, len, &out, NULL, err, sizeof(err)), 0);
	assert_int_equal(out.len, wantlen);
	buf_free(&out);

	/* JSON decoded from quoted-printable against a small cap. */
	free(msg);
	msg = read_file("tlsrpt_json_qp", ".eml", &len);
	buf_init(&out, 100);
	assert_int_equal(mime_find_report(msg, len, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "100-byte cap"));
	assert_int_equal(out.len, 0);
	buf_free(&out);
	free(msg);
	free(want);
}

static void
test_appends_to_out(void **state)
{
	struct buf out;
	char err[256], *msg, *want;
	size_t len, wantlen;

	(void)state;
	msg = read_file("whole_json", ".eml", &len);
	want = read_file("whole_json", ".expected", &wantlen);
	buf_init(&out, OUT_CAP);
	assert_int_equal(buf_puts(&out, "xy"), 0);
	assert_int_equal(mime_find_report(msg, len, &out, NULL, NULL, 0), 0);
	assert_int_equal(out.len, wantlen + 2);
	assert_memory_equal(out.data, "xy", 2);
	assert_memory_equal(out.data + 2, want, wantlen);
	assert_int_equal(out.data[out.len], '\0');

	/* A failure leaves what was there before. */
	out.max = out.len + 10;
	assert_int_equal(mime_find_report(msg, len, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(out.len, wantlen + 2);
	buf_free(&out);
	free(msg);
	free(want);
}

static void
test_looks_like_message(void **state)
{
	char name[100];

	(void)state;
	assert_true(mime_looks_like_message("From someone@example.org Mon Jan  1 00:00:00 2024\n",
	    50));
	assert_true(mime_looks_like_message("Return-Path: <a@example.org>\r\n", 30));
	assert_true(mime_looks_like_message("X-Mox-Reason: no-bad-signals\n", 29));
	assert_true(mime_looks_like_message("Authentication-Results-Original: x\n", 35));
	assert_true(mime_looks_like_message("Subject:\n", 9));
	assert_false(mime_looks_like_message("{\"organization-name\":\"X\"}", 25));
	assert_false(mime_looks_like_message("[1,2]", 5));
	assert_false(mime_looks_like_message("\x1f\x8b\x08\x00", 4));
	assert_false(mime_looks_like_message("", 0));
	assert_false(mime_looks_like_message(NULL, 0));
	assert_false(mime_looks_like_message(" Subject: x\n", 12));
	assert_false(mime_looks_like_message("Subject : x\n", 12));
	assert_false(mime_looks_like_message(": x\n", 4));
	assert_false(mime_looks_like_message("Subject", 7));
	assert_false(mime_looks_like_message("Subject: x", 5)); /* the ':' is beyond len */
	assert_false(mime_looks_like_message("From", 4));
	assert_false(mime_looks_like_message("hello world\n", 12));

	memset(name, 'X', sizeof(name));
	name[76] = ':';
	assert_true(mime_looks_like_message(name, 77));
	name[76] = 'X';
	name[77] = ':';
	assert_false(mime_looks_like_message(name, 78));
}

/* A message of n header lines before a JSON body. */
static char *
many_headers(unsigned n)
{
	struct buf b;
	char *p;

	buf_init(&b, 1 << 20);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "X-Filler-%u: value %u\n", i, i), 0);
	assert_int_equal(buf_puts(&b, "\n{\"policies\":[]}\n"), 0);
	p = buf_detach(&b, NULL);
	assert_non_null(p);
	return p;
}

static void
test_header_line_limit(void **state)
{
	struct buf out;
	char err[256], *msg;

	(void)state;
	buf_init(&out, OUT_CAP);
	msg = many_headers(1000);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"policies\":[]}\n");
	free(msg);

	buf_reset(&out);
	msg = many_headers(1001);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1000 lines"));
	assert_int_equal(out.len, 0);
	free(msg);
	buf_free(&out);
}

static void
test_header_size_limit(void **state)
{
	struct buf out;
	size_t n = 1024 * 1024 + 100;
	char err[256], *msg;

	(void)state;
	msg = malloc(n + 64);
	assert_non_null(msg);
	memcpy(msg, "X-Big: ", 7);
	memset(msg + 7, 'a', n);
	memcpy(msg + 7 + n, "\n\n{}\n", 6);
	buf_init(&out, OUT_CAP);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1048576 bytes"));
	buf_free(&out);
	free(msg);
}

/* levels nested multiparts around one application/tlsrpt+json part. */
static char *
nested(unsigned levels)
{
	struct buf b;
	char *p;
	unsigned i;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_puts(&b, "TLS-Report-Domain: example.org\n"), 0);
	for (i = 0; i < levels; i++)
		assert_int_equal(buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%u\"\n\n"
		    "--b%u\n", i, i), 0);
	assert_int_equal(buf_puts(&b, "Content-Type: application/tlsrpt+json\n\n{\"deep\":1}\n"), 0);
	for (i = levels; i-- > 0;)
		assert_int_equal(buf_printf(&b, "--b%u--\n", i), 0);
	p = buf_detach(&b, NULL);
	assert_non_null(p);
	return p;
}

static void
test_depth_limit(void **state)
{
	struct mime_info info;
	struct buf out;
	char err[256], *msg;

	(void)state;
	buf_init(&out, OUT_CAP);
	msg = nested(8);
	assert_int_equal(find(msg, &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"deep\":1}");
	assert_int_equal(info.multipart_unclosed, 0);
	free(msg);

	buf_reset(&out);
	msg = nested(9);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nested deeper"));
	free(msg);
	buf_free(&out);
}

/* A multipart with n text parts and then the report. */
static char *
many_parts(unsigned n)
{
	struct buf b;
	char *p;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\n\n"), 0);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(buf_printf(&b, "--p\nContent-Type: text/plain\n\npart %u\n", i), 0);
	assert_int_equal(buf_puts(&b, "--p\nContent-Type: application/tlsrpt+json\n\n{}\n--p--\n"),
	    0);
	p = buf_detach(&b, NULL);
	assert_non_null(p);
	return p;
}

static void
test_part_limit(void **state)
{
	struct buf out;
	char err[256], *msg;

	(void)state;
	buf_init(&out, OUT_CAP);
	msg = many_parts(62); /* top + 62 + report = 64 */
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{}");
	free(msg);

	buf_reset(&out);
	msg = many_parts(63);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64 MIME parts"));
	free(msg);
	buf_free(&out);
}

static void
test_base64_edges(void **state)
{
	static const char *const bodies[] = {
		"eyJhIjoxfQ==\n",                            /* padded */
		"eyJhIjoxfQ\n",                              /* padding missing */
		"eyJh\n  IjoxfQ==  \n\n",                    /* stray blanks and an empty line */
		"eyJhIjoxfQ==\n-- \nScanned by Gateway 9.1\n", /* trailer after the padding */
		"eyJhIjoxfQ\n--\nScanned by Gateway\n",      /* trailer, no padding: stops at '-' */
		"eyJhIjoxfQ=garbage\n",                      /* one '=' ends the data */
		"eyJhIjoxfQ=\r\n",                           /* short padding */
	};
	struct buf out;
	char msg[512], err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_true(snprintf(msg, sizeof(msg), "Content-Type: application/tlsrpt+json\n"
		    "Content-Transfer-Encoding: Base64\n\n%s", bodies[i]) < (int)sizeof(msg));
		buf_reset(&out);
		if (find(msg, &out, NULL, err, sizeof(err)) != 0)
			fail_msg("body %zu: %s", i, err);
		assert_string_equal(out.data, "{\"a\":1}");
	}
	/* A lone sextet after whole groups makes no byte. */
	buf_reset(&out);
	assert_int_equal(find("Content-Type: application/tlsrpt+json\nContent-Transfer-Encoding: "
	    "base64\n\neyJhIjox\nf\n", &out, NULL, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"a\":1");
	buf_free(&out);
}

static void
test_quoted_printable_lenient(void **state)
{
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	assert_int_equal(find("Content-Type: application/tlsrpt+json\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "{=41=4a=ZZ=4=\r\nc =  \nd  \ne=3d=3D=\n}", &out, NULL, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{AJ=ZZ=4c d\ne==}");
	buf_free(&out);
}

static void
test_info_strings_cut(void **state)
{
	struct mime_info info;
	struct buf out, msg;
	char err[256];
	size_t i;

	(void)state;
	buf_init(&msg, 1 << 20);
	assert_int_equal(buf_puts(&msg, "TLS-Report-Domain: "), 0);
	for (i = 0; i < 600; i++)
		assert_int_equal(buf_puts(&msg, "a"), 0);
	/* 510 ASCII bytes then a 2-byte character: 512 bytes do not fit in 511. */
	assert_int_equal(buf_puts(&msg, "\nTLS-Report-Submitter: "), 0);
	for (i = 0; i < 510; i++)
		assert_int_equal(buf_puts(&msg, "b"), 0);
	assert_int_equal(buf_puts(&msg, "\xc3\xa9tail\nFrom: exa\x01mple\t<x@example.org>  \n"
	    "Subject: =?utf-8?q?caf=C3=A9?= Report-ID:\n\t<a b>\n"
	    "Content-Type: application/tlsrpt+json; name=\"r\xc3\xa9p.json\"\n\n{}"), 0);
	buf_init(&out, OUT_CAP);
	assert_int_equal(mime_find_report(msg.data, msg.len, &out, &info, err, sizeof(err)), 0);
	assert_int_equal(strlen(info.tls_report_domain), MIME_HEADER_VALUE_MAX - 1);
	assert_int_equal(strlen(info.tls_report_submitter), 510);
	assert_string_equal(info.from, "exa?mple <x@example.org>");
	assert_string_equal(info.subject, "=?utf-8?q?caf=C3=A9?= Report-ID: <a b>");
	assert_string_equal(info.subject_report_id, "a b");
	assert_string_equal(info.part_filename, "r\xc3\xa9p.json");
	buf_free(&out);
	buf_free(&msg);
}

static void
test_subject_report_id_forms(void **state)
{
	static const struct {
		const char *subject;
		const char *id;
	} cases[] = {
		{ "Report Domain: d Submitter: s Report-ID: <x@y.example>", "x@y.example" },
		{ "Report Domain: d Submitter: s report-id:12345+d.example", "12345+d.example" },
		{ "Report-ID: 1730332800_11732957880687192466 trailing", "1730332800_11732957880687192466" },
		{ "Report-ID: <unterminated", "unterminated" },
		{ "no id here", "" },
		{ "Report-ID:", "" },
	};
	struct mime_info info;
	struct buf out;
	char msg[512];

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(snprintf(msg, sizeof(msg), "Subject: %s\n\n{}", cases[i].subject) <
		    (int)sizeof(msg));
		buf_reset(&out);
		assert_int_equal(find(msg, &out, &info, NULL, 0), 0);
		assert_string_equal(info.subject_report_id, cases[i].id);
	}
	buf_free(&out);
}

static void
test_bodies_without_headers(void **state)
{
	static const unsigned char gz[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00 };
	struct mime_info info;
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	/* A bare JSON report: no header section at all, so it is all body. */
	assert_int_equal(find("{\"organization-name\":\"X\"}", &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"organization-name\":\"X\"}");
	assert_string_equal(info.part_type, "");
	buf_reset(&out);
	assert_int_equal(mime_find_report((const char *)gz, sizeof(gz), &out, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(out.len, sizeof(gz));
	assert_memory_equal(out.data, gz, sizeof(gz));
	buf_free(&out);
}

static void
test_broken_messages(void **state)
{
	static const char *const msgs[] = {
		"",
		"From: a@example.org\nSubject: headers only\n",
		"Content-Type: application/tlsrpt+gzip\nContent-Transfer-Encoding: base64\n\n\n",
		"Content-Type: multipart/report\n\n--x\nContent-Type: application/tlsrpt+json\n\n{}\n",
		"Content-Type: multipart/report; boundary=x\n\nno delimiter at all\n",
		"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Disposition: attachment; "
		"filename=notes.txt\n\n{}\n--x--\n",
		"Content-Type: multipart/mixed; boundary=x\n\n--xy\nContent-Type: application/json\n\n"
		"{}\n--x--\n",
	};
	struct mime_info info;
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		buf_reset(&out);
		if (find(msgs[i], &out, &info, err, sizeof(err)) != -1)
			fail_msg("message %zu was accepted", i);
		if (strncmp(err, "no report part: ", 16) != 0)
			fail_msg("message %zu: %s", i, err);
		assert_int_equal(out.len, 0);
	}
	/* The multipart with no delimiter never closed. */
	assert_int_equal(find(msgs[4], &out, &info, err, sizeof(err)), -1);
	assert_int_equal(info.multipart_unclosed, 1);
	assert_int_equal(mime_find_report(NULL, 0, &out, NULL, err, sizeof(err)), -1);
	assert_int_equal(mime_find_report("x", 1, NULL, NULL, err, sizeof(err)), -1);
	buf_free(&out);
}

static void
test_boundary_too_long(void **state)
{
	struct buf out;
	char msg[1024], err[256], b[251];

	(void)state;
	memset(b, 'q', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	assert_true(snprintf(msg, sizeof(msg), "Content-Type: multipart/report; boundary=\"%s\"\n\n"
	    "--%s\nContent-Type: application/tlsrpt+json\n\n{}\n--%s--\n", b, b, b) <
	    (int)sizeof(msg));
	buf_init(&out, OUT_CAP);
	assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "boundary"));
	buf_free(&out);
}

static void
test_unclosed_inner_multipart(void **state)
{
	struct mime_info info;
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	/* The inner multipart ends where its outer part ends; the outer one closes. */
	assert_int_equal(find("Content-Type: multipart/mixed; boundary=o\n\n"
	    "--o\nContent-Type: multipart/report; boundary=i\n\n"
	    "--i\nContent-Type: application/tlsrpt+json\n\n{\"inner\":1}\n"
	    "--o\nContent-Type: text/plain\n\nbye\n--o--\n", &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"inner\":1}");
	assert_int_equal(info.multipart_unclosed, 1);
	buf_free(&out);
}

static void
test_first_header_wins(void **state)
{
	struct mime_info info;
	struct buf out;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	assert_int_equal(find("TLS-Report-Domain: first.example\nTLS-Report-Domain: second.example\n"
	    "Content-Type: application/tlsrpt+json\nContent-Type: text/plain\n\n{}",
	    &out, &info, err, sizeof(err)), 0);
	assert_string_equal(info.tls_report_domain, "first.example");
	assert_string_equal(info.part_type, "application/tlsrpt+json");
	buf_free(&out);
}

int
main(void)
{
	struct CMUnitTest tests[sizeof(fixtures) / sizeof(fixtures[0]) + 32];
	static char names[sizeof(fixtures) / sizeof(fixtures[0])][64];
	size_t n = 0;

	memset(tests, 0, sizeof(tests));
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		snprintf(names[i], sizeof(names[i]), "fixture_%s", fixtures[i].name);
		tests[n].name = names[i];
		tests[n].test_func = test_fixture;
		tests[n].initial_state = (void *)(uintptr_t)&fixtures[i];
		n++;
	}
#define ADD(f) do { tests[n].name = #f; tests[n].test_func = f; n++; } while (0)
	ADD(test_crlf_and_lf_agree);
	ADD(test_no_report_part);
	ADD(test_text_only_message);
	ADD(test_output_cap);
	ADD(test_appends_to_out);
	ADD(test_looks_like_message);
	ADD(test_header_line_limit);
	ADD(test_header_size_limit);
	ADD(test_depth_limit);
	ADD(test_part_limit);
	ADD(test_base64_edges);
	ADD(test_quoted_printable_lenient);
	ADD(test_info_strings_cut);
	ADD(test_subject_report_id_forms);
	ADD(test_bodies_without_headers);
	ADD(test_broken_messages);
	ADD(test_boundary_too_long);
	ADD(test_unclosed_inner_multipart);
	ADD(test_first_header_wins);
#undef ADD
	return _cmocka_run_group_tests("mime", tests, n, NULL, NULL);
}
