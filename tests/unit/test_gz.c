/*
 * Unit tests for ingest/gz. Two small fixtures live in tests/data/gz (a gzip with an
 * embedded file name, and the same cut in half); the bomb, multi-member, trailing-data and
 * corrupt inputs are built here at run time with gz_deflate() so no big binary is committed.
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
#include "ingest/gz.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)

static const struct gz_limits lim_default = { 16 * MIB, 1000, MIB };

/* Gzips s into a fresh buffer. */
static void
make_gz(struct buf *b, const void *s, size_t n)
{
	buf_init(b, 64 * MIB);
	assert_int_equal(gz_deflate(s, n, b), GZ_OK);
}

static void
test_is_gzip(void **state)
{
	(void)state;
	assert_int_equal(gz_is_gzip("\x1f\x8b\x08", 3), 1);
	assert_int_equal(gz_is_gzip("\x1f\x8b", 2), 1);
	assert_int_equal(gz_is_gzip("\x1f", 1), 0);
	assert_int_equal(gz_is_gzip("{\"a\":1}", 7), 0);
	assert_int_equal(gz_is_gzip("", 0), 0);
}

static void
test_roundtrip(void **state)
{
	static const char text[] = "{\"organization-name\":\"Roundtrip Mailer\",\"policies\":[]}";
	struct buf z, out;
	unsigned members = 99;
	char err[256];

	(void)state;
	make_gz(&z, text, strlen(text));
	assert_true(z.len > 18);
	assert_int_equal((unsigned char)z.data[0], 0x1f);
	assert_int_equal((unsigned char)z.data[1], 0x8b);
	assert_int_equal((unsigned char)z.data[2], 8); /* deflate */
	buf_init(&out, MIB);
	assert_int_equal(gz_inflate(z.data, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_OK);
	assert_int_equal(members, 1);
	assert_int_equal(out.len, strlen(text));
	assert_memory_equal(out.data, text, out.len);
	assert_string_equal(err, "");

	/* an empty input still makes one valid member, which decodes to nothing */
	buf_reset(&z);
	assert_int_equal(gz_deflate("", 0, &z), GZ_OK);
	buf_reset(&out);
	assert_int_equal(gz_inflate(z.data, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_OK);
	assert_int_equal(members, 1);
	assert_int_equal(out.len, 0);
	buf_free(&z);
	buf_free(&out);
}

/* Output is appended to what the buffer holds; on failure the buffer is as before. */
static void
test_append_and_restore(void **state)
{
	struct buf z, out;
	unsigned members;
	char err[256];

	(void)state;
	make_gz(&z, "world", 5);
	buf_init(&out, MIB);
	buf_puts(&out, "hello ");
	assert_int_equal(gz_inflate(z.data, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_OK);
	assert_string_equal(out.data, "hello world");

	/* cut the trailer: the partial output is taken back */
	assert_int_equal(gz_inflate(z.data, z.len - 4, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_TRUNCATED);
	assert_int_equal(out.len, 11);
	assert_string_equal(out.data, "hello world");
	buf_free(&z);
	buf_free(&out);
}

static void
test_fixture_fname(void **state)
{
	struct buf out;
	size_t zlen, jlen;
	char *z = tu_fixture(&zlen, "gz/report_with_fname.json.gz");
	char *j = tu_fixture(&jlen, "reports/google_style_compact.json");
	unsigned members = 0;
	char err[256];

	(void)state;
	assert_int_equal((unsigned char)z[3] & 0x08, 0x08); /* FNAME flag is set */
	buf_init(&out, MIB);
	assert_int_equal(gz_inflate(z, zlen, &lim_default, &out, &members, err, sizeof(err)),
	    GZ_OK);
	assert_int_equal(members, 1);
	assert_int_equal(out.len, jlen);
	assert_memory_equal(out.data, j, jlen);
	buf_free(&out);
	free(z);
	free(j);
}

static void
test_fixture_truncated(void **state)
{
	struct buf out;
	size_t zlen;
	char *z = tu_fixture(&zlen, "gz/truncated.json.gz");
	unsigned members = 7;
	char err[256], want[64];

	(void)state;
	buf_init(&out, MIB);
	assert_int_equal(gz_inflate(z, zlen, &lim_default, &out, &members, err, sizeof(err)),
	    GZ_ERR_TRUNCATED);
	assert_int_equal(members, 0);
	assert_int_equal(out.len, 0);
	snprintf(want, sizeof(want), "input ends at byte %zu inside gzip member 1", zlen);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	buf_free(&out);
	free(z);
}

/* 50 MB of spaces compress to about 50 KB: refused by size, by ratio and by the buffer cap. */
static void
test_bomb(void **state)
{
	const size_t big = 50 * MIB;
	struct gz_limits lim;
	struct buf z, out;
	unsigned members;
	char err[256], *spaces;

	(void)state;
	spaces = malloc(big);
	assert_non_null(spaces);
	memset(spaces, ' ', big);
	make_gz(&z, spaces, big);
	free(spaces);
	assert_true(z.len < big / 500);

	/* size cap, no ratio test: stops at the cap, nothing kept */
	lim.max_out = 10 * MIB;
	lim.max_ratio = 0;
	lim.ratio_floor = 0;
	buf_init(&out, 64 * MIB);
	assert_int_equal(gz_inflate(z.data, z.len, &lim, &out, &members, err, sizeof(err)),
	    GZ_ERR_TOO_BIG);
	assert_int_equal(out.len, 0);
	assert_true(out.alloc <= 2 * 10 * MIB); /* the buffer doubles; never near 50 MB */
	assert_non_null(strstr(err, "limit of 10485760 bytes"));

	/* ratio cap: refused once past the floor, long before the size cap */
	lim.max_out = 64 * MIB;
	lim.max_ratio = 100;
	lim.ratio_floor = MIB;
	buf_free(&out);
	buf_init(&out, 64 * MIB);
	assert_int_equal(gz_inflate(z.data, z.len, &lim, &out, &members, err, sizeof(err)),
	    GZ_ERR_RATIO);
	assert_int_equal(out.len, 0);
	assert_true(out.alloc <= 4 * MIB);
	assert_non_null(strstr(err, "ratio above 100:1"));

	/* the output buffer's own cap also holds */
	buf_free(&out);
	buf_init(&out, MIB);
	lim.max_out = 64 * MIB;
	lim.max_ratio = 0;
	assert_int_equal(gz_inflate(z.data, z.len, &lim, &out, &members, err, sizeof(err)),
	    GZ_ERR_TOO_BIG);
	assert_true(out.alloc <= MIB + 1);

	/* with room enough it decodes in full */
	buf_free(&out);
	buf_init(&out, 64 * MIB);
	lim.max_out = big;
	assert_int_equal(gz_inflate(z.data, z.len, &lim, &out, &members, err, sizeof(err)),
	    GZ_OK);
	assert_int_equal(out.len, big);
	assert_int_equal(out.data[big - 1], ' ');
	/* one byte less is refused */
	buf_reset(&out);
	lim.max_out = big - 1;
	assert_int_equal(gz_inflate(z.data, z.len, &lim, &out, &members, err, sizeof(err)),
	    GZ_ERR_TOO_BIG);
	buf_free(&out);
	buf_free(&z);
}

static void
test_members(void **state)
{
	struct buf a, b, cat, out;
	unsigned members = 0;
	char err[256];

	(void)state;
	make_gz(&a, "{\"first\":", 9);
	make_gz(&b, "\"second\"}", 9);
	buf_init(&cat, MIB);
	buf_append(&cat, a.data, a.len);
	buf_append(&cat, b.data, b.len);
	buf_init(&out, MIB);
	assert_int_equal(gz_inflate(cat.data, cat.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_OK);
	assert_int_equal(members, 2);
	assert_string_equal(out.data, "{\"first\":\"second\"}");

	/* zero padding after the last member is tolerated */
	buf_append(&cat, "\0\0\0\0\0\0\0\0", 8);
	buf_reset(&out);
	assert_int_equal(gz_inflate(cat.data, cat.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_OK);
	assert_int_equal(members, 2);
	assert_int_equal(out.len, 18);

	/* the second member cut short */
	buf_reset(&out);
	assert_int_equal(gz_inflate(cat.data, a.len + b.len - 3, &lim_default, &out, &members,
	    err, sizeof(err)), GZ_ERR_TRUNCATED);
	assert_non_null(strstr(err, "inside gzip member 2"));
	assert_int_equal(out.len, 0);

	/* a lone 0x1f after a member: the start of a member that never came */
	buf_reset(&out);
	buf_reset(&cat);
	buf_append(&cat, a.data, a.len);
	buf_append(&cat, "\x1f", 1);
	assert_int_equal(gz_inflate(cat.data, cat.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_TRUNCATED);
	buf_free(&a);
	buf_free(&b);
	buf_free(&cat);
	buf_free(&out);
}

static void
test_trailing(void **state)
{
	struct buf a, cat, out;
	unsigned members = 0;
	char err[256], want[96];

	(void)state;
	make_gz(&a, "{}", 2);
	buf_init(&cat, MIB);
	buf_append(&cat, a.data, a.len);
	buf_puts(&cat, "\r\n--boundary--\r\n");
	buf_init(&out, MIB);
	assert_int_equal(gz_inflate(cat.data, cat.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_TRAILING);
	snprintf(want, sizeof(want), "16 bytes of trailing data after gzip member 1, at byte %zu",
	    a.len);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_int_equal(out.len, 0);

	/* zeros then garbage is garbage */
	buf_reset(&cat);
	buf_append(&cat, a.data, a.len);
	buf_append(&cat, "\0\0x", 3);
	assert_int_equal(gz_inflate(cat.data, cat.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_TRAILING);
	buf_free(&a);
	buf_free(&cat);
	buf_free(&out);
}

static void
test_corrupt(void **state)
{
	static const char text[] = "a report body that is long enough to have a real deflate "
	    "stream, a report body that is long enough";
	struct buf z, out;
	unsigned members;
	char err[256], *copy;

	(void)state;
	make_gz(&z, text, strlen(text));
	copy = malloc(z.len);
	assert_non_null(copy);
	buf_init(&out, MIB);

	/* CRC32 is the first half of the 8-byte trailer */
	memcpy(copy, z.data, z.len);
	copy[z.len - 8] ^= 0x55;
	assert_int_equal(gz_inflate(copy, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_CORRUPT);
	assert_non_null(strstr(err, "incorrect data check"));
	assert_non_null(strstr(err, "member 1 (starts at byte 0)"));
	assert_int_equal(out.len, 0);

	/* ISIZE is the second half */
	memcpy(copy, z.data, z.len);
	copy[z.len - 1] ^= 0x01;
	assert_int_equal(gz_inflate(copy, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_CORRUPT);
	assert_non_null(strstr(err, "incorrect length check"));

	/* a bad compression method in the header */
	memcpy(copy, z.data, z.len);
	copy[2] = 7;
	assert_int_equal(gz_inflate(copy, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_CORRUPT);

	/* deflate data with an invalid block type (BTYPE 11) */
	memcpy(copy, z.data, z.len);
	copy[10] = (char)0x07;
	assert_int_equal(gz_inflate(copy, z.len, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_CORRUPT);
	assert_non_null(strstr(err, "near byte"));

	/* not gzip at all */
	assert_int_equal(gz_inflate("{\"policies\":[]}", 15, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_CORRUPT);
	assert_non_null(strstr(err, "not gzip"));
	assert_int_equal(gz_inflate("", 0, &lim_default, &out, &members, err, sizeof(err)),
	    GZ_ERR_TRUNCATED);
	assert_int_equal(gz_inflate("\x1f", 1, &lim_default, &out, &members, err, sizeof(err)),
	    GZ_ERR_TRUNCATED);
	/* header only */
	assert_int_equal(gz_inflate(z.data, 10, &lim_default, &out, &members, err,
	    sizeof(err)), GZ_ERR_TRUNCATED);
	assert_int_equal(out.len, 0);
	free(copy);
	buf_free(&z);
	buf_free(&out);
}

static void
test_null_limits_and_err(void **state)
{
	struct buf z, out;
	unsigned members;

	(void)state;
	make_gz(&z, "0123456789", 10);
	/* NULL limits: the buffer's cap is the limit; err and members may be NULL */
	buf_init(&out, 9);
	assert_int_equal(gz_inflate(z.data, z.len, NULL, &out, NULL, NULL, 0), GZ_ERR_TOO_BIG);
	buf_free(&out);
	buf_init(&out, 10);
	assert_int_equal(gz_inflate(z.data, z.len, NULL, &out, &members, NULL, 0), GZ_OK);
	assert_string_equal(out.data, "0123456789");
	buf_free(&out);
	buf_free(&z);
}

static void
test_deflate_cap(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 20);
	buf_puts(&out, "keep");
	/* a gzip member is at least 20 bytes: 4 + 20 does not fit */
	assert_int_equal(gz_deflate("x", 1, &out), GZ_ERR_TOO_BIG);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "keep");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_gzip),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_append_and_restore),
		cmocka_unit_test(test_fixture_fname),
		cmocka_unit_test(test_fixture_truncated),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_null_limits_and_err),
		cmocka_unit_test(test_deflate_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
