/*
 * test_tokens: storage/tokens.c (token text, hashing, constant-time compare, create / lookup /
 * list / revoke / touch) against a real store in a fresh temporary directory; this also runs
 * the store's two doors for storage modules, store_write and store_reader_db.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "storage/store.h"
#include "storage/store_int.h"
#include "storage/tokens.h"
#include "testutil.h"

#define NOW INT64_C(1795900000)

struct tctx {
	char dir[64];
	char path[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct tctx *t = calloc(1, sizeof(*t));
	struct store_options o = { .busy_timeout_ms = 1000, .batch_max = 16, .queue_max = 64,
		.readers = 2 };
	char err[256] = "";

	if (t == NULL)
		return -1;
	if (tu_db_make(t->dir, t->path, "test_tokens") != 0) {
		free(t);
		return -1;
	}
	o.path = t->path;
	if ((t->s = store_open(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		rmdir(t->dir);
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tctx *t = *state;
	store_close(t->s);
	tu_db_remove(t->dir, t->path);
	free(t);
	return 0;
}

static void
hex(const unsigned char *h, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void
test_hash_and_compare(void **state)
{
	unsigned char a[TOKENS_HASH_LEN], b[TOKENS_HASH_LEN];
	char h[65];

	(void)state;
	/* FIPS 180-2 test vector. */
	tokens_hash("abc", 3, a);
	hex(a, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	tokens_hash("abc", 3, b);
	assert_true(tokens_hash_equal(a, b));
	b[31] ^= 1;
	assert_false(tokens_hash_equal(a, b));
	b[31] ^= 1;
	b[0] ^= 0x80;
	assert_false(tokens_hash_equal(a, b));
	/* Length matters: "abc" is not "abc\0". */
	tokens_hash("abc", 4, b);
	assert_false(tokens_hash_equal(a, b));
}

static void
test_generate(void **state)
{
	char t1[TOKENS_TEXT_LEN + 1], t2[TOKENS_TEXT_LEN + 1];
	unsigned char h1[TOKENS_HASH_LEN], h2[TOKENS_HASH_LEN], hh[TOKENS_HASH_LEN];

	(void)state;
	assert_int_equal(tokens_generate(t1, h1), 0);
	assert_int_equal(tokens_generate(t2, h2), 0);
	assert_int_equal(strlen(t1), TOKENS_TEXT_LEN);
	assert_memory_equal(t1, TOKENS_PREFIX, strlen(TOKENS_PREFIX));
	for (size_t i = strlen(TOKENS_PREFIX); i < TOKENS_TEXT_LEN; i++) {
		char c = t1[i];

		assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_');
	}
	assert_string_not_equal(t1, t2);
	assert_false(tokens_hash_equal(h1, h2));
	tokens_hash(t1, strlen(t1), hh);
	assert_true(tokens_hash_equal(h1, hh));
}

static void
test_validate(void **state)
{
	const char *doms[] = { "example.com", "mail.example.net" };
	const char *bad[] = { "Example.com" };
	const char *bad2[] = { "example..com." };
	struct tokens_new t;
	char why[200];

	(void)state;
	t = (struct tokens_new){ .role = TOKENS_READ, .domains = doms, .n_domains = 2 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), 0);
	t = (struct tokens_new){ .role = TOKENS_READ, .all_domains = 1 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), 0);
	t = (struct tokens_new){ .role = TOKENS_ADMIN, .name = "ops team" };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), 0);
	/* read without domains, admin with domains, both domains and all, bad names. */
	t = (struct tokens_new){ .role = TOKENS_READ };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_ADMIN, .domains = doms, .n_domains = 1 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_READ, .all_domains = 1, .domains = doms,
		.n_domains = 1 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_READ, .domains = bad, .n_domains = 1 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_READ, .domains = bad2, .n_domains = 1 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_ADMIN, .name = "tab\there" };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = TOKENS_ADMIN, .name = "\xff\xfe" };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
	t = (struct tokens_new){ .role = (enum tokens_role)7 };
	assert_int_equal(tokens_validate(&t, why, sizeof(why)), -1);
}

struct seen {
	int n;
	int64_t ids[8];
	enum tokens_role roles[8];
	int revoked[8];
};

static int
collect(void *arg, const struct tokens_entry *e)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->ids[s->n] = e->id;
		s->roles[s->n] = e->role;
		s->revoked[s->n] = e->revoked_at != 0;
	}
	s->n++;
	return 0;
}

static int
stop_early(void *arg, const struct tokens_entry *e)
{
	(void)arg;
	(void)e;
	return 42;
}

static void
test_create_lookup_list_revoke(void **state)
{
	struct tctx *t = *state;
	const char *doms[] = { "example.com", "example.net" };
	struct tokens_new rn = { .role = TOKENS_READ, .name = "dashboard", .domains = doms,
		.n_domains = 2 };
	struct tokens_new an = { .role = TOKENS_ADMIN };
	struct tokens_new bad = { .role = TOKENS_ADMIN, .domains = doms, .n_domains = 1 };
	char rtext[TOKENS_TEXT_LEN + 1], atext[TOKENS_TEXT_LEN + 1], btext[TOKENS_TEXT_LEN + 1];
	unsigned char h[TOKENS_HASH_LEN];
	struct tokens_entry *e = NULL;
	struct seen seen = { 0 };
	char why[200];
	int64_t rid, aid, bid = -1;
	int was = -1;

	assert_int_equal(tokens_create(t->s, &rn, NOW, rtext, &rid, why, sizeof(why)), 0);
	assert_int_equal(tokens_create(t->s, &an, NOW + 1, atext, &aid, why, sizeof(why)), 0);
	assert_true(rid > 0 && aid > rid);
	assert_string_not_equal(rtext, atext);
	/* Refused before anything is written; the text is cleared. */
	assert_int_equal(tokens_create(t->s, &bad, NOW, btext, &bid, why, sizeof(why)), STORE_ERR);
	assert_int_equal(bid, 0);
	assert_int_equal(btext[0], '\0');

	/* Found by the hash of the text; the text itself is nowhere in the database. */
	tokens_hash(rtext, strlen(rtext), h);
	assert_int_equal(tokens_lookup(t->s, h, &e), 0);
	assert_int_equal(e->id, rid);
	assert_int_equal(e->role, TOKENS_READ);
	assert_string_equal(e->name, "dashboard");
	assert_int_equal(e->n_domains, 2);
	assert_string_equal(e->domains[0], "example.com");
	assert_string_equal(e->domains[1], "example.net");
	assert_string_equal(e->domains_json, "[\"example.com\",\"example.net\"]");
	assert_int_equal(e->created_at, NOW);
	assert_int_equal(e->last_used_at, 0);
	assert_int_equal(e->revoked_at, 0);
	assert_true(tokens_hash_equal(e->hash, h));
	tokens_entry_free(e);
	e = NULL;
	{
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READONLY, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM tokens WHERE"
		    " instr(CAST(hash AS TEXT), ?1) > 0 OR instr(name, ?1) > 0"
		    " OR instr(domains, ?1) > 0", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, rtext + strlen(TOKENS_PREFIX), 16, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}

	/* Unknown: a token never made, and a near miss. */
	tokens_hash("tlsrpt_nope", 11, h);
	assert_int_equal(tokens_lookup(t->s, h, &e), STORE_NOTFOUND);
	assert_null(e);
	rtext[TOKENS_TEXT_LEN - 1] ^= 1;
	tokens_hash(rtext, strlen(rtext), h);
	assert_int_equal(tokens_lookup(t->s, h, &e), STORE_NOTFOUND);
	rtext[TOKENS_TEXT_LEN - 1] ^= 1;

	assert_int_equal(tokens_list(t->s, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ids[0], rid);
	assert_int_equal(seen.roles[0], TOKENS_READ);
	assert_int_equal(seen.ids[1], aid);
	assert_int_equal(seen.roles[1], TOKENS_ADMIN);
	assert_int_equal(tokens_list(t->s, stop_early, NULL), 42);

	/* Revoke: kept, listed as revoked, found with revoked_at; again is no error. */
	assert_int_equal(tokens_revoke(t->s, rid, NOW + 10, &was), 0);
	assert_int_equal(was, 0);
	assert_int_equal(tokens_revoke(t->s, rid, NOW + 20, &was), 0);
	assert_int_equal(was, 1);
	assert_int_equal(tokens_revoke(t->s, 9999, NOW, &was), STORE_NOTFOUND);
	assert_int_equal(tokens_revoke(t->s, 0, NOW, NULL), STORE_NOTFOUND);
	tokens_hash(rtext, strlen(rtext), h);
	assert_int_equal(tokens_lookup(t->s, h, &e), 0);
	assert_int_equal(e->revoked_at, NOW + 10);
	tokens_entry_free(e);
	e = NULL;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(tokens_list(t->s, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.revoked[0], 1);
	assert_int_equal(seen.revoked[1], 0);

	/* Touch: last_used_at moves forward only. */
	assert_int_equal(tokens_touch(t->s, aid, NOW + 100), 0);
	assert_int_equal(tokens_touch(t->s, aid, NOW + 50), 0);
	tokens_hash(atext, strlen(atext), h);
	assert_int_equal(tokens_lookup(t->s, h, &e), 0);
	assert_int_equal(e->last_used_at, NOW + 100);
	assert_int_equal(e->role, TOKENS_ADMIN);
	assert_int_equal(e->n_domains, 0);
	tokens_entry_free(e);
}

/* store_write: a function that fails alone is rolled back alone. */
static int
w_insert_meta(sqlite3 *db, void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES (?1, 1)", -1, &st, NULL)
	    != SQLITE_OK)
		return STORE_ERR;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : STORE_ERR;
}

static int
w_fail_after_write(sqlite3 *db, void *arg)
{
	(void)w_insert_meta(db, arg);
	return STORE_ERR;
}

static int
meta_has(struct store *s, const char *key)
{
	struct store_reader *rd;
	sqlite3 *db = store_reader_db(s, &rd);
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM meta WHERE key = ?1", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	store_reader_done(s, rd);
	return n;
}

static void
test_store_doors(void **state)
{
	struct tctx *t = *state;
	struct store_reader *r1, *r2;
	sqlite3 *d1, *d2;

	assert_int_equal(store_write(t->s, w_insert_meta, "test-a"), 0);
	assert_int_equal(meta_has(t->s, "test-a"), 1);
	assert_int_equal(store_write(t->s, w_fail_after_write, "test-b"), STORE_ERR);
	assert_int_equal(meta_has(t->s, "test-b"), 0);
	/* A duplicate key is a constraint error: this request only. */
	assert_int_equal(store_write(t->s, w_insert_meta, "test-a"), STORE_ERR);
	assert_int_equal(store_write(t->s, w_insert_meta, "test-c"), 0);
	assert_int_equal(meta_has(t->s, "test-c"), 1);

	/* Both readers of the pool at once, each its own read-only connection. */
	d1 = store_reader_db(t->s, &r1);
	d2 = store_reader_db(t->s, &r2);
	assert_non_null(d1);
	assert_non_null(d2);
	assert_ptr_not_equal(d1, d2);
	assert_int_equal(sqlite3_db_readonly(d1, "main"), 1);
	store_reader_done(t->s, r1);
	store_reader_done(t->s, r2);
	assert_int_equal(meta_has(t->s, "test-c"), 1);
	assert_true(store_queue_depth(t->s) >= 0);
}

static void
test_commit_stats(void **state)
{
	struct tctx *t = *state;
	struct store_commit_stats a, b;

	store_commit_stats(t->s, &a);
	assert_int_equal(store_ping(t->s), 0);
	assert_int_equal(store_ping(t->s), 0);
	store_commit_stats(t->s, &b);
	assert_int_equal(b.count, a.count + 2);
	assert_true(b.sum_seconds >= a.sum_seconds);
	for (int i = 1; i < STORE_COMMIT_BUCKETS; i++) {
		assert_true(store_commit_bounds[i] > store_commit_bounds[i - 1]);
		assert_true(b.le[i] >= b.le[i - 1]);
	}
	assert_true(b.le[STORE_COMMIT_BUCKETS - 1] <= b.count);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_compare),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_validate),
		cmocka_unit_test_setup_teardown(test_create_lookup_list_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_doors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_stats, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
