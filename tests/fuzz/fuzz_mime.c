/*
 * libFuzzer target: the streaming MIME reader (ingest/mime.c) against its one-shot form.
 *
 * Input: byte 0 holds how many chunk-size bytes follow ((b0 & 7) + 1) and which report cap to
 * use ((b0 >> 3) & 3: 1 MiB, 64 KiB, 512 or 16 bytes); then those bytes, each a chunk size of
 * 1..256, used in turn; the rest is the message. Pushed in those chunks, the message must give
 * exactly what mime_find_report() gives on it whole (return, error text, report bytes, info,
 * out's error), the report never goes beyond the cap, and every info string is UTF-8 without
 * control characters. Then the same with tight limits (a few header bytes and lines, shallow
 * nesting, few parts), whole and chunked: both must agree, and when they accept the message
 * they must give what the default limits gave. Seeds: tests/fuzz/seeds/fuzz_mime (the
 * tests/data/mail fixtures behind a few such prefixes, written by make_fixtures.py).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buf.h"
#include "ingest/mime.h"
#include "ingest/norm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t caps[4] = { 1024 * 1024, 64 * 1024, 512, 16 };

/* A string of mime_info: NUL within its array, UTF-8, no control characters. */
static void
check_string(const char *s, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, cap), i = 0, k;
	uint32_t cp;

	if (n == cap)
		abort();
	while (i < n) {
		if ((k = norm_utf8_decode(p + i, n - i, &cp)) == 0 || cp < 0x20 || cp == 0x7f)
			abort();
		i += k;
	}
}

static void
check_info(const struct mime_info *in)
{
	check_string(in->tls_report_domain, sizeof(in->tls_report_domain));
	check_string(in->tls_report_submitter, sizeof(in->tls_report_submitter));
	check_string(in->subject, sizeof(in->subject));
	check_string(in->subject_report_id, sizeof(in->subject_report_id));
	check_string(in->message_id, sizeof(in->message_id));
	check_string(in->from, sizeof(in->from));
	check_string(in->part_type, sizeof(in->part_type));
	check_string(in->part_filename, sizeof(in->part_filename));
}

static int
same_info(const struct mime_info *a, const struct mime_info *b)
{
	return strcmp(a->tls_report_domain, b->tls_report_domain) == 0 &&
	    strcmp(a->tls_report_submitter, b->tls_report_submitter) == 0 &&
	    strcmp(a->subject, b->subject) == 0 &&
	    strcmp(a->subject_report_id, b->subject_report_id) == 0 &&
	    strcmp(a->message_id, b->message_id) == 0 && strcmp(a->from, b->from) == 0 &&
	    strcmp(a->part_type, b->part_type) == 0 &&
	    strcmp(a->part_filename, b->part_filename) == 0 &&
	    a->multipart_unclosed == b->multipart_unclosed;
}

struct run {
	int rc;
	struct buf out;
	struct mime_info info;
	char err[256];
};

/* Reads msg with limits lim, pushed whole (nsizes 0) or in the chunk sizes given. */
static void
run(const uint8_t *msg, size_t len, const struct mime_limits *lim, const uint8_t *sizes,
    size_t nsizes, struct run *r)
{
	struct mime *m;
	size_t pos = 0, k, turn = 0;

	if ((m = mime_new(lim)) == NULL)
		abort();
	while (pos < len) {
		k = nsizes == 0 ? len - pos : (size_t)sizes[turn++ % nsizes] + 1;
		if (k > len - pos)
			k = len - pos;
		if (mime_push(m, msg + pos, k) != 0)
			break;
		pos += k;
	}
	buf_init(&r->out, lim->max_report_bytes);
	r->rc = mime_finish(m, &r->out, &r->info, r->err, sizeof(r->err));
	mime_free(m);
}

static int
same_run(const struct run *a, const struct run *b)
{
	return a->rc == b->rc && strcmp(a->err, b->err) == 0 && a->out.len == b->out.len &&
	    a->out.err == b->out.err &&
	    (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0) &&
	    same_info(&a->info, &b->info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim, tight;
	struct run whole, chunked, tight_whole, tight_chunked;
	const uint8_t *sizes, *msg;
	size_t nsizes, cap, len;

	if (size < 1)
		return 0;
	nsizes = (size_t)(data[0] & 7) + 1;
	cap = caps[(data[0] >> 3) & 3];
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	msg = data + 1 + nsizes;
	len = size - 1 - nsizes;

	buf_init(&whole.out, cap);
	whole.rc = mime_find_report((const char *)msg, len, &whole.out, &whole.info, whole.err,
	    sizeof(whole.err));
	memset(&lim, 0, sizeof(lim));
	lim.max_report_bytes = cap;
	run(msg, len, &lim, sizes, nsizes, &chunked);
	if (!same_run(&whole, &chunked))
		abort(); /* chunking changed the result */
	if (whole.out.len > cap)
		abort();
	if (whole.rc == 0 ? whole.out.len == 0 || whole.err[0] != '\0' :
	    whole.out.len != 0 || whole.err[0] == '\0')
		abort(); /* success gives bytes, failure says why and gives nothing */
	check_info(&whole.info);

	memset(&tight, 0, sizeof(tight));
	tight.max_header_bytes = 300;
	tight.max_header_lines = 6;
	tight.max_depth = 2;
	tight.max_parts = 5;
	tight.max_report_bytes = cap;
	run(msg, len, &tight, NULL, 0, &tight_whole);
	run(msg, len, &tight, sizes, nsizes, &tight_chunked);
	if (!same_run(&tight_whole, &tight_chunked))
		abort();
	if (tight_whole.rc == 0 && !same_run(&whole, &tight_whole))
		abort(); /* no limit broken: the limits must not have changed anything */
	check_info(&tight_whole.info);

	buf_free(&whole.out);
	buf_free(&chunked.out);
	buf_free(&tight_whole.out);
	buf_free(&tight_chunked.out);
	return 0;
}
