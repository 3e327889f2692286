/*
 * Unit tests for ingest/mime: the fixtures in tests/data/mail (written by make_fixtures.py,
 * one per MIME quirk of real TLS-RPT mail) plus messages built in memory for the limits.
 *
 * Every message is read twice over: whole through mime_find_report() and pushed through
 * mime_new()/mime_push()/mime_finish() one byte at a time and in seeded random chunks; the
 * results (return, report bytes, info, error text, out's error) must be identical. The real
 * messages of the shared corpus (TLSRPT_CORPUS, default <source>/../shared/corpus) go
 * through the same comparison when the corpus is there.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_MALLINFO 0
#endif
#endif
#ifndef HAVE_MALLINFO
#include <malloc.h>
#define HAVE_MALLINFO 1
#endif
#else
#define HAVE_MALLINFO 0
#endif

#include "collector/buf.h"
#include "ingest/mime.h"
#include "testutil.h"

#define OUT_CAP (1024 * 1024)
#define CHUNK_SEEDS 6         /* random chunkings per message, besides 1-byte chunks */

/* One way of reading a message and what it gave. */
struct result {
	int rc;
	struct buf out;
	struct mime_info info;
	char err[256];
};

/* xorshift32: chunk sizes that are the same on every run. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Pushes msg[0..len) into a new reader: chunk 0 means one byte at a time, any other value
 * seeds random chunk sizes (mostly small, sometimes a few KiB). Then finishes into r->out.
 */
static void
stream(const char *msg, size_t len, const struct mime_limits *lim, uint32_t chunk, size_t cap,
    struct result *r)
{
	struct mime *m = mime_new(lim);
	uint32_t s = chunk * 2654435761u + 1;
	size_t pos = 0, k;

	assert_non_null(m);
	buf_init(&r->out, cap);
	while (pos < len) {
		if (chunk == 0)
			k = 1;
		else if (rnd(&s) % 8 == 0)
			k = 1 + rnd(&s) % 5000;
		else
			k = 1 + rnd(&s) % 64;
		if (k > len - pos)
			k = len - pos;
		if (mime_push(m, msg + pos, k) != 0)
			break; /* refused: the rest need not be pushed */
		pos += k;
	}
	r->rc = mime_finish(m, &r->out, &r->info, r->err, sizeof(r->err));
	mime_free(m);
}

static void
same_result(const struct result *a, const struct result *b, const char *what)
{
	if (a->rc != b->rc || strcmp(a->err, b->err) != 0)
		fail_msg("%s: rc %d \"%s\" vs %d \"%s\"", what, a->rc, a->err, b->rc, b->err);
	if (a->out.len != b->out.len || a->out.err != b->out.err ||
	    (a->out.len > 0 && memcmp(a->out.data, b->out.data, a->out.len) != 0))
		fail_msg("%s: report bytes differ (%zu vs %zu)", what, a->out.len, b->out.len);
	assert_string_equal(a->info.tls_report_domain, b->info.tls_report_domain);
	assert_string_equal(a->info.tls_report_submitter, b->info.tls_report_submitter);
	assert_string_equal(a->info.subject, b->info.subject);
	assert_string_equal(a->info.subject_report_id, b->info.subject_report_id);
	assert_string_equal(a->info.message_id, b->info.message_id);
	assert_string_equal(a->info.from, b->info.from);
	assert_string_equal(a->info.part_type, b->info.part_type);
	assert_string_equal(a->info.part_filename, b->info.part_filename);
	assert_int_equal(a->info.multipart_unclosed, b->info.multipart_unclosed);
	assert_int_equal(a->info.body_offset, b->info.body_offset);
}

/*
 * Reads msg whole (mime_find_report(), out capped at cap) and streamed in every chunking
 * (same cap as max_report_bytes), checks they all agree and hands back the whole result.
 */
static void
read_all_ways(const char *msg, size_t len, size_t cap, const char *name, struct result *whole)
{
	struct mime_limits lim;
	struct result r;
	char what[160];

	buf_init(&whole->out, cap);
	whole->rc = mime_find_report(msg, len, &whole->out, &whole->info, whole->err,
	    sizeof(whole->err));
	memset(&lim, 0, sizeof(lim));
	lim.max_report_bytes = cap;
	for (uint32_t chunk = 0; chunk <= CHUNK_SEEDS; chunk++) {
		stream(msg, len, &lim, chunk, cap, &r);
		snprintf(what, sizeof(what), "%s pushed in %s %u", name,
		    chunk == 0 ? "1-byte chunks" : "random chunks, seed", chunk);
		same_result(whole, &r, what);
		buf_free(&r.out);
	}
}

/* Like read_all_ways() with limits other than the defaults: streamed only. */
static void
read_streamed(const char *msg, size_t len, const struct mime_limits *lim, size_t cap,
    const char *name, struct result *first)
{
	struct result r;
	char what[160];

	stream(msg, len, lim, 0, cap, first);
	for (uint32_t chunk = 1; chunk <= CHUNK_SEEDS; chunk++) {
		stream(msg, len, lim, chunk, cap, &r);
		snprintf(what, sizeof(what), "%s, random chunks seed %u", name, chunk);
		same_result(first, &r, what);
		buf_free(&r.out);
	}
}

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
	{ "rfc2047_subject", 1, "example.org", "=?utf-8?q?r=C3=A9porter.example?=",
	  "caf\xc3\xa9-11@reporter.example", "application/tlsrpt+gzip",
	  "r\xc3\xa9porter.example!example.org!1733356800!1733443199.json.gz", 0,
	  "Report Domain: example.org Submitter: r\xc3\xa9porter.example Report-ID: "
	  "<caf\xc3\xa9-11@reporter.example> =?koi8-r?B?9MXT1A==?=", "",
	  "Rapports TLS \xc3\xa9t\xc3\xa9 <tls@r\xc3\xa9porter.example>" },
	{ "rfc2231_latin1", 1, "example.net", "latin.example", "", "application/octet-stream",
	  "r\xc3\xa9sum\xc3\xa9!example.net!1733443200!1733529599.json.gz", 0, "TLS report", NULL,
	  NULL },
	/* The report is in a forwarded message: the report headers come from that message. */
	{ "forward_rfc822", 1, "example.com", "reporter.example", "fw-13@reporter.example",
	  "application/tlsrpt+gzip", "reporter.example!example.com!1741046400!1741132799!001.json.gz",
	  0, "Fwd: TLS report", "<fwd-13@example.com>", "admin@example.com" },
	/* base64 message/rfc822 after a lower-ranked application/json part; the top's own
	 * TLS-Report-Domain stays. */
	{ "forward_rfc822_b64", 0, "relay.example.net", "direct.example", "fw-14@direct.example",
	  "application/tlsrpt+json", "direct.example!example.net!1720569600!1720655999.json", 0,
	  "Fwd: Report Domain: example.net Submitter: direct.example", NULL, NULL },
	{ "zip_deflate", 0, "example.org", "zipper.example", "zip_deflate", "application/zip",
	  "zipper.example!example.org!1733529600!1733615999.zip", 0, NULL, NULL, NULL },
	{ "zip_stored_named", 0, "example.org", "zipper.example", "zip_stored_named",
	  "application/octet-stream", "tlsrpt.ZIP", 0, NULL, NULL, NULL },
	{ "zip_descriptor", 0, "example.org", "zipper.example", "zip_descriptor",
	  "application/x-zip-compressed", "r.zip", 0, NULL, NULL, NULL },
	{ "binary_part", 1, "example.com", "binary.example", "bin-16", "application/tlsrpt+gzip",
	  "binary.example!example.com!1733616000!1733702399.json.gz", 0, NULL, NULL, NULL },
	{ "eightbit_json", 0, "example.org", "eightbit.example", "8b-17", "application/tlsrpt+json",
	  "", 0, NULL, NULL, NULL },
	{ "zip_extra_fields", 0, "example.org", "zipper.example", "zip_extra_fields",
	  "application/zip", "r.zip", 0, NULL, NULL, NULL },
};

/* Fixtures that must be refused, and a piece of the reason. */
static const struct {
	const char *name;
	const char *err;
} refused[] = {
	{ "no_report", "no report part: none of the 2 MIME parts" },
	{ "zip_encrypted", "zip entry 1 is encrypted" },
	{ "zip_zip64", "zip entry 1 is in zip64 form" },
	{ "zip_two_json", "more than one .json entry" },
	{ "zip_no_json", "holds no .json entry" },
	{ "zip_stored_descriptor", "stored with a data descriptor" },
	{ "zip_bzip2", "compression method 12" },
	{ "zip_zip64_extra", "zip entry 1 is in zip64 form" },
	{ "zip_bad_crc", "zip entry 1: CRC or size does not match" },
	{ "zip_bad_deflate", "zip entry 1: bad deflate data" },
	{ "zip_truncated", "truncated in its .json entry" },
	{ "zip_not_zip", "zip attachment is not a zip archive" },
};

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
test_fixture(void **state)
{
	const struct fixture *fx = *state;
	struct mime_info info;
	struct result r;
	struct buf out;
	char err[256], *msg, *want;
	size_t len, wantlen, i;

	msg = tu_fixture(&len, "mail/%s%s", fx->name, ".eml");
	want = tu_fixture(&wantlen, "mail/%s%s", fx->name, ".expected");
	assert_true(mime_looks_like_message(msg, len));
	read_all_ways(msg, len, OUT_CAP, fx->name, &r);
	if (r.rc != 0)
		fail_msg("%s: %s", fx->name, r.err);
	out = r.out;
	info = r.info;
	memcpy(err, r.err, sizeof(err));
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

/*
 * Runs mime_find_report() on a NUL-terminated message; returns its rc. Checks first that
 * every chunking of the streaming API gives the same.
 */
static int
find(const char *msg, struct buf *out, struct mime_info *info, char *err, size_t errlen)
{
	struct result r;

	read_all_ways(msg, strlen(msg), out->max > out->len ? out->max - out->len : 1, "message",
	    &r);
	buf_free(&r.out);
	return mime_find_report(msg, strlen(msg), out, info, err, errlen);
}

static void
test_refused_fixtures(void **state)
{
	struct result r;
	char *msg;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		msg = tu_fixture(&len, "mail/%s%s", refused[i].name, ".eml");
		read_all_ways(msg, len, OUT_CAP, refused[i].name, &r);
		if (r.rc != -1 || strstr(r.err, refused[i].err) == NULL)
			fail_msg("%s: rc %d, \"%s\"", refused[i].name, r.rc, r.err);
		assert_int_equal(r.out.len, 0);
		assert_string_equal(r.info.part_type, "");
		buf_free(&r.out);
		free(msg);
	}
}

/* The fixtures against limits smaller than the defaults. */
static void
test_fixture_limits(void **state)
{
	static const struct {
		const char *name;
		struct mime_limits lim;
		const char *err;          /* NULL: accepted */
	} cases[] = {
		{ "google_lf", { .max_header_bytes = 300 }, "header section is larger than 300 bytes" },
		{ "google_lf", { .max_header_lines = 5 }, "header section has more than 5 lines" },
		{ "google_lf", { .max_header_lines = 17 }, NULL },
		{ "nested_mixed", { .max_depth = 1 }, "nested deeper than 1 levels" },
		{ "nested_mixed", { .max_depth = 2 }, NULL },
		{ "nested_mixed", { .max_parts = 4 }, "more than 4 MIME parts" },
		{ "nested_mixed", { .max_parts = 5 }, NULL },
		{ "forward_rfc822", { .max_depth = 2 }, "nested deeper than 2 levels" },
		{ "forward_rfc822", { .max_depth = 3 }, NULL },
		{ "forward_rfc822", { .max_parts = 5 }, "more than 5 MIME parts" },
		{ "zip_deflate", { .max_report_bytes = 675 }, "larger than the 675-byte cap" },
		{ "zip_deflate", { .max_report_bytes = 676 }, NULL },
		{ "priority", { .max_parts = 3 }, "more than 3 MIME parts" },
	};
	struct result r;
	char *msg;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msg = tu_fixture(&len, "mail/%s%s", cases[i].name, ".eml");
		read_streamed(msg, len, &cases[i].lim, OUT_CAP, cases[i].name, &r);
		if (cases[i].err == NULL ? r.rc != 0 :
		    r.rc != -1 || strstr(r.err, cases[i].err) == NULL)
			fail_msg("case %zu (%s): rc %d, \"%s\"", i, cases[i].name, r.rc, r.err);
		if (r.rc != 0)
			assert_int_equal(r.out.len, 0);
		if (cases[i].lim.max_report_bytes != 0 && r.rc != 0)
			assert_int_equal(r.out.err, BUF_ERR_CAP);
		buf_free(&r.out);
		free(msg);
	}
}

static void
test_crlf_and_lf_agree(void **state)
{
	struct buf a, b;
	char *lf, *crlf, err[256];
	size_t lflen, crlflen;

	(void)state;
	lf = tu_fixture(&lflen, "mail/google_lf.eml");
	crlf = tu_fixture(&crlflen, "mail/google_crlf.eml");
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
	msg = tu_fixture(&len, "mail/no_report.eml");
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
	msg = tu_fixture(&len, "mail/google_lf.eml");
	want = tu_fixture(&wantlen, "mail/google_lf.expected");

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
	msg = tu_fixture(&len, "mail/tlsrpt_json_qp.eml");
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
	msg = tu_fixture(&len, "mail/whole_json.eml");
	want = tu_fixture(&wantlen, "mail/whole_json.expected");
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
	assert_string_equal(info.subject, "caf\xc3\xa9 Report-ID: <a b>");
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

/* RFC 2047 encoded words in the Subject (the same code serves From and file names). */
static void
test_encoded_words(void **state)
{
	static const struct {
		const char *subject;
		const char *want;
	} cases[] = {
		{ "=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "\xc3\xa9\xc3\xa9" },
		{ "=?utf-8?b?w6k=?=  x  =?utf-8?q?=C3=A9?=", "\xc3\xa9  x  \xc3\xa9" },
		{ "=?UTF-8?B?ww==?=\n =?UTF-8?B?qQ==?= split", "\xc3\xa9 split" },
		{ "=?ISO-8859-1?Q?caf=E9_cr=E8me?=", "caf\xc3\xa9 cr\xc3\xa8me" },
		{ "=?latin1?b?6Q==?=", "\xc3\xa9" },
		{ "=?windows-1252?Q?=80_=93q=94?=", "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d" },
		{ "=?us-ascii?Q?a=E9b?=", "a?b" },
		{ "=?koi8-r?B?9MXT1A==?= x", "=?koi8-r?B?9MXT1A==?= x" },
		{ "=?utf-8?q?a=0D=0Ab=00c=09d=7F?=", "abc d" },
		{ "=?utf-8?q?ok?= =?x?", "ok =?x?" },
		{ "=?utf-8?x?abc?= =?utf-8??abc?=", "=?utf-8?x?abc?= =?utf-8??abc?=" },
		{ "=?utf-8*en?q?lang?=", "lang" },
		{ "=?utf-8?q?a?==?utf-8?q?b?=", "ab" },
		{ "=?utf-8?q?a?= =?iso-8859-1?q?=E9?=", "a\xc3\xa9" },
		{ "=?utf-8?b?/w==?= =?utf-8?q?=C3?=", "??" },
		{ "=?utf-8?q?has space?=", "=?utf-8?q?has space?=" },
		{ "plain \x01 and \xff text", "plain ? and ? text" },
		{ "=?UTF-8?Q?Report-ID:_<r=C3=A9f>?=", "Report-ID: <r\xc3\xa9" "f>" },
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
		if (strcmp(info.subject, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, info.subject, cases[i].want);
	}
	assert_string_equal(info.subject_report_id, "r\xc3\xa9" "f");
	buf_free(&out);
}

/* File names: RFC 2047 words, RFC 2231 charsets and sections; .json/.gz/.zip decide. */
static void
test_file_names(void **state)
{
	static const struct {
		const char *params;
		const char *want;
	} cases[] = {
		{ "; name=\"=?utf-8?q?r=C3=A9p.json?=\"", "r\xc3\xa9p.json" },
		{ "; name*=utf-8''%E2%82%AC.json", "\xe2\x82\xac.json" },
		{ "; name*=''plain.json", "plain.json" },
		{ "; name*=koi8-r''%F4.json", "?.json" },
		{ "; name*0*=iso-8859-1''%E9t%E9; name*1=\".json\"", "\xc3\xa9t\xc3\xa9.json" },
		{ "; name*0=\"a\"; name*2=\"c.json\"; name*1=\"b\"", "ab" },
		{ "; name*=utf-8''a%0Db%00.json", "ab" },
		{ "; NAME = x.GZ", "x.GZ" },
	};
	struct mime_info info;
	struct buf out;
	char msg[512], err[256];
	int rc;

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(snprintf(msg, sizeof(msg), "Content-Type: multipart/mixed; boundary=b\n\n"
		    "--b\nContent-Type: application/octet-stream%s\n\n{}\n--b--\n", cases[i].params) <
		    (int)sizeof(msg));
		buf_reset(&out);
		rc = find(msg, &out, &info, err, sizeof(err));
		if (ends_with(cases[i].want, ".json") || ends_with(cases[i].want, ".GZ")) {
			if (rc != 0 || strcmp(info.part_filename, cases[i].want) != 0)
				fail_msg("case %zu: rc %d \"%s\", want \"%s\"", i, rc,
				    info.part_filename, cases[i].want);
		} else if (rc != -1) {
			fail_msg("case %zu: accepted \"%s\"", i, info.part_filename);
		}
	}
	buf_free(&out);
}

/* The API itself: NULLs, finishing twice, pushing after the end. */
static void
test_streaming_api(void **state)
{
	struct mime_info info;
	struct mime *m;
	struct buf out;
	char err[256];

	(void)state;
	mime_free(NULL);
	assert_int_equal(mime_push(NULL, "x", 1), -1);
	assert_int_equal(mime_finish(NULL, NULL, NULL, err, sizeof(err)), -1);
	buf_init(&out, OUT_CAP);

	m = mime_new(NULL);
	assert_non_null(m);
	assert_int_equal(mime_push(m, NULL, 0), 0);
	assert_int_equal(mime_push(m, "Subject: x\n\n", 12), 0);
	assert_int_equal(mime_push(m, "", 0), 0);
	assert_int_equal(mime_push(m, "{\"a\":1}", 7), 0);
	assert_int_equal(mime_finish(m, NULL, NULL, err, sizeof(err)), -1);
	assert_int_equal(mime_finish(m, &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"a\":1}");
	assert_string_equal(info.subject, "x");
	/* Again: the same answer, appended again. */
	assert_int_equal(mime_finish(m, &out, NULL, NULL, 0), 0);
	assert_string_equal(out.data, "{\"a\":1}{\"a\":1}");
	assert_int_equal(mime_push(m, "more", 4), -1);
	mime_free(m);

	/* Nothing pushed. */
	m = mime_new(NULL);
	buf_reset(&out);
	assert_int_equal(mime_finish(m, &out, &info, err, sizeof(err)), -1);
	assert_string_equal(err, "no report part: the message is empty");
	mime_free(m);

	/* Refused early: later pushes say so at once. */
	{
		struct mime_limits lim = { .max_header_lines = 2 };

		m = mime_new(&lim);
		assert_int_equal(mime_push(m, "A: 1\nB: 2\n", 10), 0);
		assert_int_equal(mime_push(m, "C: 3\n", 5), -1);
		assert_int_equal(mime_push(m, "\n{}", 3), -1);
		assert_int_equal(mime_finish(m, &out, NULL, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "more than 2 lines"));
		mime_free(m);
	}
	buf_free(&out);
}

/*
 * The best candidate so far is kept, a lower one is not decoded at all: a lower part larger
 * than the cap does not matter, before or after the better one.
 */
static void
test_candidate_choice(void **state)
{
	struct mime_info info;
	struct buf out, msg;
	char err[256];

	(void)state;
	buf_init(&msg, 1 << 20);
	assert_int_equal(buf_puts(&msg, "Content-Type: multipart/mixed; boundary=c\n\n--c\n"
	    "Content-Type: application/json\n\n"), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(buf_puts(&msg, "{\"filler\":\"0123456789\"}\n"), 0);
	assert_int_equal(buf_puts(&msg, "--c\nContent-Type: application/tlsrpt+json\n\n"
	    "{\"best\":1}\n--c\nContent-Type: application/gzip\n\n"), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(buf_puts(&msg, "not even gzip, and never read\n"), 0);
	assert_int_equal(buf_puts(&msg, "--c--\n"), 0);
	buf_init(&out, 100);
	assert_int_equal(find(msg.data, &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"best\":1}");
	assert_string_equal(info.part_type, "application/tlsrpt+json");
	buf_free(&out);
	buf_free(&msg);
}

/* Quoted-printable pieces that must be held across chunks. */
static void
test_quoted_printable_edges(void **state)
{
	static const struct {
		const char *body;
		const char *want;
	} cases[] = {
		{ "a=\r\nb", "ab" },
		{ "a= \t\r\nb", "ab" },
		{ "a \r b\r\n", "a \r b\r\n" },
		{ "=4=\nx", "=4x" },
		{ "==41=\n", "=A" },
		{ "=4\n", "=4\n" },
		{ "=41  \n=\n", "A\n" },
		{ "= 41", "= 41" },
		{ "=\r=41", "=\rA" },
		{ "x\r\r\n", "x\r\r\n" },
		{ "tail  ", "tail" },
		{ "tail\r", "tail" },
		{ "tail=", "tail" },
		{ "tail=4", "tail=4" },
	};
	struct buf out;
	char msg[512], err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(snprintf(msg, sizeof(msg), "Content-Type: application/tlsrpt+json\n"
		    "Content-Transfer-Encoding: quoted-printable\n\n%s", cases[i].body) <
		    (int)sizeof(msg));
		buf_reset(&out);
		assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), 0);
		if (strcmp(out.data, cases[i].want) != 0)
			fail_msg("case %zu: \"%s\"", i, out.data);
	}
	/* A run of blanks longer than the decoder holds is kept, even at the end of a line. */
	{
		char body[400];

		memset(body, ' ', 300);
		memcpy(body + 300, "x\n", 3);
		assert_true(snprintf(msg, sizeof(msg), "Content-Type: application/tlsrpt+json\n"
		    "Content-Transfer-Encoding: quoted-printable\n\nA%s", body) < (int)sizeof(msg));
		buf_reset(&out);
		assert_int_equal(find(msg, &out, NULL, err, sizeof(err)), 0);
		assert_int_equal(out.len, 1 + 300 + 2);
	}
	buf_free(&out);
}

/* Pushes n bytes of c into m, 64 KiB at a time. */
static void
push_many(struct mime *m, int c, size_t n)
{
	static char block[64 * 1024];
	size_t k;

	memset(block, c, sizeof(block));
	for (; n > 0; n -= k) {
		k = n < sizeof(block) ? n : sizeof(block);
		assert_int_equal(mime_push(m, block, k), 0);
	}
}

/*
 * Big parts stream through: a 48 MiB text part in 76-column lines, a 16 MiB line with no
 * LF at all, then the report. Nothing of them is kept (the reader would otherwise need the
 * memory, and with glibc outside the sanitizers the heap is measured).
 */
static void
test_big_message_streams(void **state)
{
	static const char head[] = "Content-Type: multipart/mixed; boundary=big\n\n--big\n"
	    "Content-Type: text/plain\n\n";
	struct mime_limits lim = { .max_report_bytes = 4096 };
	struct buf out;
	struct mime *m;
	char line[78], err[256];
	size_t before = 0, peak = 0;

	(void)state;
	memset(line, 'w', 76);
	line[76] = '\n';
	line[77] = '\0';
	m = mime_new(&lim);
	assert_non_null(m);
#if HAVE_MALLINFO
	before = mallinfo2().uordblks;
#endif
	assert_int_equal(mime_push(m, head, sizeof(head) - 1), 0);
	for (size_t i = 0; i < 48u * 1024 * 1024 / 77; i++)
		assert_int_equal(mime_push(m, line, 77), 0);
	assert_int_equal(mime_push(m, "--big\nContent-Type: application/octet-stream\n\n", 47), 0);
	push_many(m, 'x', 16u * 1024 * 1024);
#if HAVE_MALLINFO
	peak = mallinfo2().uordblks;
#endif
	assert_int_equal(mime_push(m, "\n--big\nContent-Type: application/tlsrpt+json\n\n{}\n"
	    "--big--\n", 56), 0);
	buf_init(&out, OUT_CAP);
	assert_int_equal(mime_finish(m, &out, NULL, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{}");
	mime_free(m);
	buf_free(&out);
	print_message("heap while streaming 64 MiB: %zu -> %zu bytes\n", before, peak);
	if (peak > before)
		assert_true(peak - before < 256 * 1024);
}

/* A candidate over the cap keeps at most the cap in memory and fails only if chosen. */
static void
test_big_candidate(void **state)
{
	struct mime_limits lim = { .max_report_bytes = 1000 };
	struct buf out;
	struct mime *m;
	char err[256];

	(void)state;
	buf_init(&out, OUT_CAP);
	m = mime_new(&lim);
	assert_int_equal(mime_push(m, "Content-Type: application/tlsrpt+json\n\n", 39), 0);
	push_many(m, ' ', 8u * 1024 * 1024);
	assert_int_equal(mime_finish(m, &out, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "report part (application/tlsrpt+json) is larger than the "
	    "1000-byte cap");
	assert_int_equal(out.err, BUF_ERR_CAP);
	assert_int_equal(out.len, 0);
	mime_free(m);

	/* Limited by out's own cap as well. */
	buf_free(&out);
	buf_init(&out, 5);
	m = mime_new(NULL);
	assert_int_equal(mime_push(m, "Content-Type: application/tlsrpt+json\n\n{\"a\":1}", 46), 0);
	assert_int_equal(mime_finish(m, &out, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "5-byte cap"));
	assert_int_equal(out.err, BUF_ERR_CAP);
	mime_free(m);
	buf_free(&out);
}

/* Header sections that end without an empty line, and other odd first lines. */
static void
test_header_section_ends(void **state)
{
	static const struct {
		const char *msg;
		const char *want;         /* NULL: refused */
	} cases[] = {
		/* A base64 line has no ':': it is the first body line. */
		{ "Content-Type: application/tlsrpt+json\nContent-Transfer-Encoding: base64\n"
		  "eyJhIjoxfQ==\n", "{\"a\":1}" },
		{ "Content-Type: application/tlsrpt+json\nnot a field: no\n", "not a field: no\n" },
		{ "Content-Type: application/tlsrpt+json\nname\tx\n", "name\tx\n" },
		{ "Content-Type: application/tlsrpt+json\n\rX\n", "\rX\n" },
		{ "Content-Type: application/tlsrpt+json\n \tleading blank\n", NULL },
		{ "Subject: s\n \n\n{}", "{}" },
		{ "Content-Type: application/tlsrpt+json\n\r", NULL },
		{ "Content-Type: application/tlsrpt+json\r\n\r\n{\"crlf\":1}", "{\"crlf\":1}" },
		{ "Subject: no line end", NULL },
		{ "From", NULL },
		{ "From ", NULL },
		{ "From x\n", NULL },
		{ "From x\nSubject: y\n\n{}", "{}" },
		{ "Fro{}", NULL },
		{ "\xef\xbb\xbf{\"bom\":1}", "\xef\xbb\xbf{\"bom\":1}" },
		{ "\xef\xbb", NULL },
		{ "\x1f", NULL },
		{ "Content-Type: text/plain\n\n    \n\t{}", "    \n\t{}" },
		{ "Content-Type: application/tlsrpt+json (a (nested) comment) ; name=\"a\\\"b.json\"\n\n"
		  "{}", "{}" },
		{ "Content-Type: application/\n\n{}", "{}" },
		{ "Content-Type: (lead) application/octet-stream; (c\\) (n)) name=r.json\n\n{}",
		  "{}" },
		{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		  "Content-Type: application/json\r\n\r\n{}\r\n--\r\n--b\r",
		  "{}\r\n--" },
		{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
		  "Content-Type: application/json\n\n{}\r", "{}\r" },
		{ "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/json\n\n"
		  "x\n--b\rx\n--b\r\n", "x\n--b\rx" },
	};
	struct mime_info info;
	struct buf out;
	char err[256];
	char name[600 + 64];
	int rc;

	(void)state;
	buf_init(&out, OUT_CAP);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&out);
		rc = find(cases[i].msg, &out, &info, err, sizeof(err));
		if (cases[i].want == NULL ? rc != -1 :
		    rc != 0 || strcmp(out.data, cases[i].want) != 0)
			fail_msg("case %zu: rc %d \"%s\" %s", i, rc, rc == 0 ? out.data : "", err);
	}
	/* A field name longer than the reader holds is not a field: the body starts there. */
	memset(name, 'N', 600);
	memcpy(name + 600, ": v\n\n{}", 8);
	buf_reset(&out);
	assert_int_equal(find(name, &out, &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "untyped body starts like neither"));
	buf_free(&out);
}

/* message/rfc822 inside message/rfc822 ...: the depth limit counts them like multiparts. */
static char *
nested_messages(unsigned levels)
{
	struct buf b;
	char *p;

	buf_init(&b, 1 << 20);
	for (unsigned i = 0; i < levels; i++)
		assert_int_equal(buf_printf(&b, "Subject: level %u\nContent-Type: message/rfc822\n\n",
		    i), 0);
	assert_int_equal(buf_puts(&b, "TLS-Report-Domain: inner.example\nSubject: Report-ID: "
	    "<in\xf0\x9f\x94\x92>\nContent-Type: application/tlsrpt+json\n\n{\"deep\":1}"), 0);
	p = buf_detach(&b, NULL);
	assert_non_null(p);
	return p;
}

static void
test_nested_messages(void **state)
{
	struct mime_info info;
	struct buf out;
	char err[256], *msg;

	(void)state;
	buf_init(&out, OUT_CAP);
	msg = nested_messages(8);
	assert_int_equal(find(msg, &out, &info, err, sizeof(err)), 0);
	assert_string_equal(out.data, "{\"deep\":1}");
	assert_string_equal(info.subject, "level 0");
	assert_string_equal(info.tls_report_domain, "inner.example");
	assert_string_equal(info.subject_report_id, "in\xf0\x9f\x94\x92");
	free(msg);
	buf_reset(&out);
	msg = nested_messages(9);
	assert_int_equal(find(msg, &out, &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nested deeper than 8 levels"));
	free(msg);
	buf_free(&out);
}

/* The real messages of the shared corpus, whole and in every chunking. */
static void
test_corpus_messages(void **state)
{
	const char *env = getenv("TLSRPT_CORPUS");
	char dir[1024], path[1200];
	struct dirent *de;
	struct result r;
	unsigned seen = 0;
	size_t len, i;
	DIR *d;
	FILE *f;
	char *msg;

	(void)state;
	assert_true(snprintf(dir, sizeof(dir), "%s/eml", env != NULL && env[0] != '\0' ? env :
	    TLSRPT_TEST_DATA "/../../../shared/corpus") < (int)sizeof(dir));
	if ((d = opendir(dir)) == NULL) {
		print_message("corpus not found at %s: skipped\n", dir);
		skip();
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".eml") != 0)
			continue;
		assert_true(snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
		    (int)sizeof(path));
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		len = (size_t)ftell(f);
		rewind(f);
		msg = malloc(len + 1);
		assert_non_null(msg);
		assert_int_equal(fread(msg, 1, len, f), len);
		fclose(f);
		read_all_ways(msg, len, OUT_CAP, de->d_name, &r);
		if (r.rc != 0)
			fail_msg("%s: %s", de->d_name, r.err);
		for (i = 0; i < r.out.len && strchr(" \t\r\n", r.out.data[i]) != NULL; i++)
			;
		assert_true(r.out.len >= 2 && ((unsigned char)r.out.data[0] == 0x1f ||
		    r.out.data[i] == '{'));
		assert_true(r.info.tls_report_domain[0] != '\0');
		buf_free(&r.out);
		free(msg);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
}

/*
 * Where the top-level body starts (mime_info.body_offset), whatever the chunking: after the
 * empty line, at a line that is not a header field, -1 when the header never ends.
 */
static void
test_body_offset(void **state)
{
	static const char json[] = "{\"organization-name\":\"x\"}\r\n";
	static const struct {
		const char *head;     /* body_offset = strlen(head) unless want is given */
		long long want;       /* 0: strlen(head) */
	} t[] = {
		{ "From: a@b.example\r\nContent-Type: application/tlsrpt+json\r\n\r\n", 0 },
		{ "From: a@b.example\nContent-Type: application/tlsrpt+json\n\n", 0 },
		{ "From reporter@example Sun Nov  1 08:00:00 2026\nFrom: a@b.example\n"
		  "Content-Type: application/tlsrpt+json\n\n", 0 },
		{ "From: a@b.example\r\nSubject: folded\r\n   line\r\n"
		  "Content-Type: application/tlsrpt+json\r\n\r\n", 0 },
	};
	char msg[4096];
	struct result r;
	size_t hl;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		hl = strlen(t[i].head);
		snprintf(msg, sizeof(msg), "%s%s", t[i].head, json);
		for (uint32_t chunk = 0; chunk < 4; chunk++) {
			stream(msg, strlen(msg), NULL, chunk, 1 << 20, &r);
			assert_int_equal(r.rc, 0);
			assert_int_equal(r.info.body_offset, t[i].want ? t[i].want : (long long)hl);
			buf_free(&r.out);
		}
	}
	/* A header ended by a line that is no field (a long line with its colon past 512 bytes):
	 * the body starts at that line. */
	{
		char line[1100];
		const char *top = "From: a@b.example\r\nContent-Type: application/tlsrpt+json\r\n";

		memset(line, 'Q', 960);
		memcpy(line + 960, ": x\r\n", 6);
		line[966] = '\0';
		snprintf(msg, sizeof(msg), "%s%s\r\n%s", top, line, json);
		stream(msg, strlen(msg), NULL, 7, 1 << 20, &r);
		assert_int_equal(r.info.body_offset, (long long)strlen(top));
		buf_free(&r.out);
	}
	/* The message ends in its header section: an empty body at the end. */
	snprintf(msg, sizeof(msg), "From: a@b.example\r\nSubject: x");
	stream(msg, strlen(msg), NULL, 3, 1 << 20, &r);
	assert_int_equal(r.info.body_offset, (long long)strlen(msg));
	buf_free(&r.out);
}

int
main(void)
{
	struct CMUnitTest tests[sizeof(fixtures) / sizeof(fixtures[0]) + 48];
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
	ADD(test_body_offset);
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
	ADD(test_refused_fixtures);
	ADD(test_fixture_limits);
	ADD(test_encoded_words);
	ADD(test_file_names);
	ADD(test_streaming_api);
	ADD(test_candidate_choice);
	ADD(test_quoted_printable_edges);
	ADD(test_big_message_streams);
	ADD(test_big_candidate);
	ADD(test_header_section_ends);
	ADD(test_nested_messages);
	ADD(test_corpus_messages);
#undef ADD
	return _cmocka_run_group_tests("mime", tests, n, NULL, NULL);
}
