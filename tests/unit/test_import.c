/*
 * Unit tests for the mbox reader of collector/import: separators, mboxrd unquoting, the
 * writer's blank lines, CRLF, the size cap, inputs that are not an mbox, and the same result
 * whatever the chunks the bytes arrive in.
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
#include "collector/import.h"

#define CAP (1024 * 1024)
#define GOT_MAX 16

struct got_msg {
	char *data;         /* NULL when too large */
	size_t len;
	uint64_t size;
	uint64_t offset;
	unsigned long number;
	int too_large;
	char envelope[MBOX_ENVELOPE_MAX];
};

struct got {
	struct got_msg v[GOT_MAX];
	size_t n;
	int rc;             /* MBOX_MORE at a clean end, or the error */
};

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->v[i].data);
	memset(g, 0, sizeof(*g));
}

static int
drain(struct mbox *m, struct got *g)
{
	struct mbox_msg msg;
	int rc;

	while ((rc = mbox_next(m, &msg)) == MBOX_MSG) {
		struct got_msg *o;

		assert_true(g->n < GOT_MAX);
		o = &g->v[g->n++];
		o->len = msg.len;
		o->size = msg.size;
		o->offset = msg.offset;
		o->number = msg.number;
		o->too_large = msg.too_large;
		memcpy(o->envelope, msg.envelope, sizeof(o->envelope));
		if (msg.too_large) {
			assert_null(msg.data);
			assert_int_equal(msg.len, 0);
			o->data = NULL;
		} else {
			assert_non_null(msg.data);
			assert_int_equal(msg.data[msg.len], '\0');
			o->data = malloc(msg.len + 1);
			assert_non_null(o->data);
			memcpy(o->data, msg.data, msg.len + 1);
		}
	}
	return rc;
}

/* Feeds in[0..len) in pieces of `chunk` bytes (after a first piece of `first` bytes). */
static void
split_chunks(const char *in, size_t len, size_t max, size_t first, size_t chunk, struct got *g)
{
	struct mbox *m = mbox_new(max);
	size_t off = 0;

	assert_non_null(m);
	memset(g, 0, sizeof(*g));
	g->rc = MBOX_MORE;
	while (off < len && g->rc == MBOX_MORE) {
		size_t want = off == 0 && first > 0 ? first : chunk;
		size_t end = len - off < want ? len : off + want;

		while (off < end && g->rc == MBOX_MORE) {
			off += mbox_push(m, in + off, end - off);
			g->rc = drain(m, g);
		}
	}
	if (g->rc == MBOX_MORE) {
		mbox_end(m);
		g->rc = drain(m, g);
		if (g->rc == MBOX_MORE)
			assert_int_equal(mbox_offset(m), len);
	}
	mbox_free(m);
}

static void
split(const char *in, size_t max, struct got *g)
{
	split_chunks(in, strlen(in), max, 0, strlen(in) + 1, g);
}

/* One line per message with every fact: equal strings mean equal results. */
static char *
got_text(const struct got *g)
{
	struct buf b;
	char *s;

	buf_init(&b, CAP);
	buf_printf(&b, "rc=%d n=%zu\n", g->rc, g->n);
	for (size_t i = 0; i < g->n; i++) {
		const struct got_msg *o = &g->v[i];

		buf_printf(&b, "#%lu off=%llu size=%llu big=%d env=[%s] len=%zu [", o->number,
		    (unsigned long long)o->offset, (unsigned long long)o->size, o->too_large,
		    o->envelope, o->len);
		if (o->data != NULL)
			buf_append(&b, o->data, o->len);
		buf_puts(&b, "]\n");
	}
	assert_int_equal(b.err, BUF_OK);
	s = buf_detach(&b, NULL);
	assert_non_null(s);
	return s;
}

#define F1 "From a@sender.example Mon Jan  1 00:00:00 2024\n"
#define F2 "From b@sender.example Tue Feb 13 10:11:12 2024\n"
#define F3 "From MAILER-DAEMON Wed Mar  6 23:59:59 +0000 2024\n"

static void
test_two_messages(void **state)
{
	static const char in[] = F1 "Subject: one\n\nbody one\n\n" F2 "Subject: two\n\nbody two\n\n";
	struct got g;

	(void)state;
	split(in, CAP, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "Subject: one\n\nbody one\n");
	assert_int_equal(g.v[0].number, 1);
	assert_int_equal(g.v[0].offset, 0);
	assert_string_equal(g.v[0].envelope, "a@sender.example Mon Jan  1 00:00:00 2024");
	assert_int_equal(g.v[0].size, strlen(g.v[0].data));
	assert_string_equal(g.v[1].data, "Subject: two\n\nbody two\n");
	assert_int_equal(g.v[1].number, 2);
	assert_int_equal(g.v[1].offset, strlen(F1 "Subject: one\n\nbody one\n\n"));
	assert_string_equal(g.v[1].envelope, "b@sender.example Tue Feb 13 10:11:12 2024");
	got_free(&g);
}

static void
test_empty_input_and_not_mbox(void **state)
{
	struct got g;

	(void)state;
	split("", CAP, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 0);
	split("Received: from x\nSubject: y\n\nbody\n", CAP, &g);
	assert_int_equal(g.rc, MBOX_ERR_FORMAT);
	assert_int_equal(g.n, 0);
	split("\n" F1 "S: x\n", CAP, &g);
	assert_int_equal(g.rc, MBOX_ERR_FORMAT);
	split("Fro", CAP, &g);
	assert_int_equal(g.rc, MBOX_ERR_FORMAT);
	split("Frog\n", CAP, &g);
	assert_int_equal(g.rc, MBOX_ERR_FORMAT);
	split(">From x\n", CAP, &g);
	assert_int_equal(g.rc, MBOX_ERR_FORMAT);
	/* errors are sticky and the bytes are all taken */
	{
		struct mbox *m = mbox_new(CAP);
		struct mbox_msg msg;

		assert_non_null(m);
		assert_int_equal(mbox_push(m, "junk\n", 5), 5);
		assert_int_equal(mbox_next(m, &msg), MBOX_ERR_FORMAT);
		assert_int_equal(mbox_push(m, F1, strlen(F1)), strlen(F1));
		assert_int_equal(mbox_next(m, &msg), MBOX_ERR_FORMAT);
		mbox_free(m);
	}
	/* just a From_ line: one empty message */
	split(F1, CAP, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].len, 0);
	got_free(&g);
}

static void
test_mboxrd_unquoting(void **state)
{
	static const char in[] = F1 "S: q\n\n>From the start\n>>From two\n>>>From three\n"
	    ">Fromage\n> From spaced\n>From\n>>\n>\nmid >From x\nFrom here on, unquoted\n";
	struct got g;

	(void)state;
	split(in, CAP, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].data, "S: q\n\nFrom the start\n>From two\n>>From three\n"
	    ">Fromage\n> From spaced\n>From\n>>\n>\nmid >From x\nFrom here on, unquoted\n");
	got_free(&g);
}

static void
test_separator_rules(void **state)
{
	struct got g;

	(void)state;
	/* after a blank line any "From " line separates, date or not */
	split(F1 "S: 1\n\nbody\n\nFrom nobody\nS: 2\n", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "S: 1\n\nbody\n");
	assert_string_equal(g.v[1].envelope, "nobody");
	assert_string_equal(g.v[1].data, "S: 2\n");
	got_free(&g);
	/* after a non-blank line only a real From_ line separates */
	split(F1 "S: 1\n\nbody\nFrom me to you: hello\n" F3 "S: 2\n\nx", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "S: 1\n\nbody\nFrom me to you: hello\n");
	assert_string_equal(g.v[1].envelope, "MAILER-DAEMON Wed Mar  6 23:59:59 +0000 2024");
	assert_string_equal(g.v[1].data, "S: 2\n\nx");
	got_free(&g);
	/* near misses of a date after a non-blank line stay text */
	split(F1 "b\nFrom x Mon Jan  1 00:00:00\nFrom x Mon Jan 1 0000 2024\n"
	    "From x Mon Foo 1 00:00 2024\nFrom  Mon Jan 1 00:00 2024 x\nFrom x Mon Jan 1 00:00 24\n",
	    CAP, &g);
	assert_int_equal(g.n, 1);
	got_free(&g);
	/* the UUCP "remote from" tail and hh:mm without seconds are fine */
	split(F1 "b\nFrom x Sat Dec 31 23:59 2023 remote from gw\nS: 2\n", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "b\n");
	got_free(&g);
}

static void
test_blank_lines(void **state)
{
	struct got g;

	(void)state;
	/* only the one blank line before the separator is the writer's */
	split(F1 "S: 1\n\nbody\n\n\n\n" F2 "S: 2\n\nlast\n\n\n", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "S: 1\n\nbody\n\n\n");
	assert_string_equal(g.v[1].data, "S: 2\n\nlast\n\n");
	got_free(&g);
	/* a file written without the blank lines (and a final message without a newline) */
	split(F1 "S: 1\n\nbody\n" F2 "S: 2\n\nno newline", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "S: 1\n\nbody\n");
	assert_string_equal(g.v[1].data, "S: 2\n\nno newline");
	got_free(&g);
	/* a blank line kept inside a body before a quoted From */
	split(F1 "S: 1\n\na\n\n>From b\n", CAP, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].data, "S: 1\n\na\n\nFrom b\n");
	got_free(&g);
}

static void
test_crlf(void **state)
{
	static const char in[] = "From a@x Mon Jan  1 00:00:00 2024\r\nS: 1\r\n\r\nbody\r\n>From q\r\n"
	    "\r\nFrom b@x Mon Jan  1 00:00:01 2024\r\nS: 2\r\n\r\nb2\r\n\r\n";
	struct got g;

	(void)state;
	split(in, CAP, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "S: 1\r\n\r\nbody\r\nFrom q\r\n");
	assert_string_equal(g.v[0].envelope, "a@x Mon Jan  1 00:00:00 2024");
	assert_string_equal(g.v[1].data, "S: 2\r\n\r\nb2\r\n");
	/* a lone CR line is text, not a blank line */
	got_free(&g);
	split(F1 "a\n\r\r\nFrom b\n", CAP, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].data, "a\n\r\r\nFrom b\n");
	got_free(&g);
}

static void
test_eof_in_partial_lines(void **state)
{
	struct got g;

	(void)state;
	split(F1 "a\n>>", CAP, &g);
	assert_string_equal(g.v[0].data, "a\n>>");
	got_free(&g);
	split(F1 "a\n>Fro", CAP, &g);
	assert_string_equal(g.v[0].data, "a\n>Fro");
	got_free(&g);
	split(F1 "a\n\n\r", CAP, &g);
	assert_string_equal(g.v[0].data, "a\n\n\r");
	got_free(&g);
	split(F1 "a\nFrom the end", CAP, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.v[0].data, "a\nFrom the end");
	got_free(&g);
	/* a From_ line after a blank line at the very end starts an (empty) message */
	split(F1 "a\n\nFrom z", CAP, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].data, "a\n");
	assert_int_equal(g.v[1].len, 0);
	assert_string_equal(g.v[1].envelope, "z");
	got_free(&g);
}

static void
test_long_lines(void **state)
{
	size_t n = MBOX_LINE_MAX * 3;
	size_t cap = n * 2 + 256;
	char *in = malloc(cap);
	char *longtail = malloc(n + 1);
	struct got g;
	int w;

	(void)state;
	assert_non_null(in);
	assert_non_null(longtail);
	memset(longtail, 'x', n);
	longtail[n] = '\0';
	/* after a blank line: a separator, its envelope cut */
	w = snprintf(in, cap, F1 "a\n\nFrom %s\nS: 2\n", longtail);
	assert_true(w > 0 && (size_t)w < cap);
	split(in, CAP, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(strlen(g.v[1].envelope), MBOX_ENVELOPE_MAX - 1);
	assert_string_equal(g.v[1].data, "S: 2\n");
	got_free(&g);
	/* after a text line: text, kept whole */
	w = snprintf(in, cap, F1 "a\nFrom %s\nS: 2\n", longtail);
	assert_true(w > 0 && (size_t)w < cap);
	split(in, CAP, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].len, 2 + 5 + n + 1 + 5);
	assert_memory_equal(g.v[0].data + 7, longtail, n);
	got_free(&g);
	/* a long run of quotes */
	w = snprintf(in, cap, F1 "a\n");
	assert_true(w > 0);
	memset(in + w, '>', n);
	memcpy(in + w + n, "From q\n", 8);
	split(in, CAP, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.v[0].len, 2 + n - 1 + 7);
	got_free(&g);
	free(in);
	free(longtail);
}

static void
test_too_large(void **state)
{
	static const char in[] = F1 "S: 1\n\n0123456789012345678901234567890123456789\n\n"
	    F2 "S: 2\n\nsmall\n\n" F3 "S: 3\n\n>From 0123456789012345678901234567890123456789\n";
	struct got g;

	(void)state;
	split(in, 20, &g);
	assert_int_equal(g.rc, MBOX_MORE);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.v[0].too_large, 1);
	assert_int_equal(g.v[0].size, strlen("S: 1\n\n0123456789012345678901234567890123456789\n"));
	assert_int_equal(g.v[1].too_large, 0);
	assert_string_equal(g.v[1].data, "S: 2\n\nsmall\n");
	assert_int_equal(g.v[2].too_large, 1);
	assert_int_equal(g.v[2].size, strlen("S: 3\n\nFrom 0123456789012345678901234567890123456789\n"));
	assert_int_equal(g.v[2].number, 3);
	got_free(&g);
	/* exactly at the cap is fine */
	split(F1 "0123456789\n", 11, &g);
	assert_int_equal(g.v[0].too_large, 0);
	assert_string_equal(g.v[0].data, "0123456789\n");
	got_free(&g);
}

/* The same result for every chunk size and every two-piece split. */
static void
test_any_chunk_boundary(void **state)
{
	static const char *const inputs[] = {
		F1 "S: 1\n\nbody\n>From q\n>>From qq\n\n" F2 "S: 2\r\n\r\n>Fr\r\nFrom x\r\n\r\n\r\n"
		    F3 "S: 3\nFrom me Mon Jan 1 00:00 2024\nlast>\n\n",
		F1 "S: 1\n\n0123456789012345678901234567890123456789\n\n" F2 "x\n\r\nFrom y\n>>>>\n\n\n",
		F1 "a\n\nFrom z",
		"From a\r\n\r\nFrom b\r\nFrom c Thu Jan  1 00:00:00 1970\r\n>",
		"junk\nFrom a Mon Jan  1 00:00:00 2024\n",
	};
	static const size_t n_msgs[] = { 4, 3, 2, 3, 0 };
	static const size_t caps[] = { CAP, 24 };

	(void)state;
	for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			const char *in = inputs[k];
			size_t len = strlen(in);
			struct got g;
			char *want, *have;

			split_chunks(in, len, caps[c], 0, len, &g);
			assert_int_equal(g.n, n_msgs[k]);
			assert_int_equal(g.rc, k == 4 ? MBOX_ERR_FORMAT : MBOX_MORE);
			want = got_text(&g);
			got_free(&g);
			for (size_t chunk = 1; chunk <= len; chunk++) {
				split_chunks(in, len, caps[c], 0, chunk, &g);
				have = got_text(&g);
				got_free(&g);
				if (strcmp(want, have) != 0)
					fail_msg("input %zu cap %zu chunk %zu:\n%s\nvs\n%s", k, caps[c], chunk,
					    want, have);
				free(have);
			}
			for (size_t first = 1; first < len; first++) {
				split_chunks(in, len, caps[c], first, len, &g);
				have = got_text(&g);
				got_free(&g);
				if (strcmp(want, have) != 0)
					fail_msg("input %zu cap %zu split at %zu:\n%s\nvs\n%s", k, caps[c],
					    first, want, have);
				free(have);
			}
			free(want);
		}
	}
}

/* mbox_push takes nothing while a message waits to be pulled. */
static void
test_push_waits_for_next(void **state)
{
	static const char in[] = F1 "a\n\n" F2 "b\n";
	struct mbox *m = mbox_new(CAP);
	struct mbox_msg msg;
	size_t took;

	(void)state;
	assert_non_null(m);
	took = mbox_push(m, in, strlen(in));
	assert_int_equal(took, strlen(F1 "a\n\n" F2));
	assert_int_equal(mbox_push(m, in + took, strlen(in) - took), 0);
	assert_int_equal(mbox_next(m, &msg), MBOX_MSG);
	assert_string_equal(msg.data, "a\n");
	assert_int_equal(mbox_next(m, &msg), MBOX_MORE);
	assert_int_equal(mbox_push(m, in + took, strlen(in) - took), strlen(in) - took);
	assert_int_equal(mbox_next(m, &msg), MBOX_MORE);
	mbox_end(m);
	assert_int_equal(mbox_next(m, &msg), MBOX_MSG);
	assert_string_equal(msg.data, "b\n");
	assert_int_equal(msg.number, 2);
	assert_int_equal(mbox_next(m, &msg), MBOX_MORE);
	assert_int_equal(mbox_next(m, &msg), MBOX_MORE);
	mbox_free(m);
	mbox_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_messages),
		cmocka_unit_test(test_empty_input_and_not_mbox),
		cmocka_unit_test(test_mboxrd_unquoting),
		cmocka_unit_test(test_separator_rules),
		cmocka_unit_test(test_blank_lines),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_eof_in_partial_lines),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_any_chunk_boundary),
		cmocka_unit_test(test_push_waits_for_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
