/*
 * test_store: storage/store.c against a real SQLite file in a fresh temporary directory.
 * Reports are built by hand (struct rpt is public; arena NULL, never rpt_free'd).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "schema/schema.h"
#include "collector/buf.h"
#include "storage/store.h"
#include "testutil.h"

#define DAY0            INT64_C(1709251200) /* 2024-03-01T00:00:00Z */
#define DAY0_N          INT64_C(19783)      /* its epoch day number */
#define ONE_DAY         INT64_C(86400)
#define RAW_GZ          "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"

struct tctx {
	char dir[64];
	char path[128];
	struct store *s;
};

struct fx {
	struct rpt rpt;
	struct rpt_policy pol[3];
	struct rpt_failure fail[3][2];
	struct rpt_lint lint[2];
	unsigned char sha[32];
	char org[32];
	char contact[64];
	char key[96];
	char rid[48];
	char raw[160];          /* stands for the stored body: distinct per fixture */
	struct store_report sr;
	struct store_req req;
};

/* Completion counter for asynchronous submits. */
struct waitset {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
	int by_rc[8]; /* index rc + 2 */
};

static int
setup(void **state)
{
	struct tctx *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	if (tu_db_make(t->dir, t->path, "test_store") != 0) {
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

static struct store *
open_store(struct tctx *t, int busy_ms)
{
	struct store_options o = { .path = t->path, .busy_timeout_ms = busy_ms, .batch_max = 64,
		.queue_max = 4096, .readers = 2 };
	char err[256] = "";

	t->s = store_open(&o, err, sizeof(err));
	if (t->s == NULL)
		fail_msg("store_open: %s", err);
	return t->s;
}

static void
reopen(struct tctx *t)
{
	store_close(t->s);
	t->s = NULL;
	open_store(t, 1000);
}

static sqlite3 *
db_open(struct tctx *t)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

/* First column of the first row of sql with ?1..?n bound to int64 args; -999 if no row. */
static int64_t
q(sqlite3 *db, const char *sql, int n, ...)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -999;
	va_list ap;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
	va_start(ap, n);
	for (int i = 1; i <= n; i++)
		sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
	va_end(ap);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("step %s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

/* Text of the first column of the first row (caller frees). */
static char *
qs(sqlite3 *db, const char *sql, int64_t a)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_non_null(v);
	return v;
}

static void
fx_policy(struct fx *f, size_t i, enum rpt_policy_type type, const char *domain, int64_t ok,
    int64_t failed, int counted)
{
	struct rpt_policy *p = &f->pol[i];
	struct rpt_failure *d = f->fail[i];

	memset(p, 0, sizeof(*p));
	p->type = type;
	p->type_name = type == RPT_POLICY_STS ? "sts" : type == RPT_POLICY_TLSA ? "tlsa" :
	    type == RPT_POLICY_NONE_FOUND ? "no-policy-found" : "Testing";
	p->domain = domain;
	p->sts_version = type == RPT_POLICY_STS ? "STSv1" : NULL;
	p->sts_mode = type == RPT_POLICY_STS ? "testing" : NULL;
	p->sts_max_age = type == RPT_POLICY_STS ? 604800 : -1;
	p->success = ok;
	p->failure = failed;
	p->counted = counted;
	p->failures = d;
	p->n_failures = 1;
	memset(d, 0, sizeof(f->fail[i]));
	d[0].result_type = type == RPT_POLICY_TLSA ? "tlsa-invalid" : "certificate-expired";
	d[0].sending_mta_ip = "192.0.2.1";
	d[0].sending_mta_ip_raw = "192.0.2.1";
	d[0].receiving_ip = "2001:db8:abcd:12::1";
	d[0].receiving_ip_raw = "2001:db8:abcd:0012::1";
	d[0].receiving_mx_hostname = "mx1.example.com";
	d[0].failure_reason_code = "X509_V_ERR_CERT_HAS_EXPIRED";
	d[0].failed_session_count = failed;
	if (i >= f->rpt.n_policies)
		f->rpt.n_policies = i + 1;
}

/* A report of org/rid over [start, end], content seed; one sts policy for example.com, 100/2. */
static void
fx_init(struct fx *f, const char *org, const char *rid, int64_t start, int64_t end,
    unsigned char seed)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->org, sizeof(f->org), "%s", org);
	snprintf(f->contact, sizeof(f->contact), "tlsrpt@%s", org);
	snprintf(f->key, sizeof(f->key), "%s\n%s", org, f->contact);
	snprintf(f->rid, sizeof(f->rid), "%s", rid);
	snprintf(f->raw, sizeof(f->raw), "\x1f\x8b{\"report-id\":\"%s\",\"seed\":%u}", rid, seed);
	memset(f->sha, seed, sizeof(f->sha));
	f->rpt.organization_name = f->org;
	f->rpt.contact_info = f->contact;
	f->rpt.report_id = f->rid;
	f->rpt.start = start;
	f->rpt.end = end;
	f->rpt.reporter_key = f->key;
	f->rpt.policies = f->pol;
	f->rpt.lint = f->lint;
	f->rpt.arena = NULL;
	fx_policy(f, 0, RPT_POLICY_STS, "example.com", 100, 2, 1);
	f->sr.rpt = &f->rpt;
	f->sr.sha256 = f->sha;
	f->sr.raw_gz = f->raw;
	f->sr.raw_gz_len = strlen(f->raw);
	f->sr.json_len = 321;
	f->req.report = &f->sr;
	f->req.copy.transport = "http";
	f->req.copy.peer = "192.0.2.9";
	f->req.copy.received_at = DAY0 + ONE_DAY + 3600;
	f->req.copy.meta_json = "{\"content_type\":\"application/tlsrpt+gzip\"}";
}

static int
submit(struct tctx *t, struct fx *f)
{
	memset(&f->req.result, 0, sizeof(f->req.result));
	return store_submit_wait(t->s, &f->req);
}

static void
ws_init(struct waitset *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

static void
ws_done(void *arg, const struct store_result *res)
{
	struct waitset *w = arg;

	pthread_mutex_lock(&w->mu);
	if (res->rc >= -2 && res->rc <= 5)
		w->by_rc[res->rc + 2]++;
	w->pending--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
ws_submit(struct store *s, struct waitset *w, struct store_req *req)
{
	req->done = ws_done;
	req->arg = w;
	pthread_mutex_lock(&w->mu);
	w->pending++;
	pthread_mutex_unlock(&w->mu);
	assert_int_equal(store_submit(s, req), 0);
}

static void
ws_wait(struct waitset *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->pending > 0)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

static void
ws_destroy(struct waitset *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

/* ---- tests ---- */

static void
test_migrations(void **state)
{
	struct tctx *t = *state;
	int latest = schema_migrations[schema_migration_count - 1].version;
	struct store_options bad = { .path = t->path, .busy_timeout_ms = 100, .batch_max = 8,
		.queue_max = 8, .readers = 0 };
	char err[256] = "";
	sqlite3 *db;
	int64_t objects;

	assert_int_equal(latest, schema_migration_count);
	open_store(t, 1000);
	db = db_open(t);
	assert_int_equal(q(db, "PRAGMA user_version", 0), latest);
	assert_int_equal(q(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
	    " ('reports', 'report_copies', 'policies', 'failures', 'daily_domain', 'daily_policy',"
	    " 'quarantine', 'meta')", 0), 8);
	assert_int_equal(q(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN"
	    " ('policies_domain', 'failures_report', 'report_copies_report')", 0), 3);
	/* The dedup key's unique index leads with the window (see 0001_init.sql). */
	assert_int_equal(q(db, "SELECT count(*) FROM pragma_index_list('reports') l"
	    " JOIN pragma_index_info(l.name) i WHERE l.\"unique\" = 1 AND i.seqno = 0"
	    " AND i.name = 'start_ts'", 0), 1);
	assert_int_equal(q(db, "PRAGMA page_size", 0), 8192);
	assert_int_equal(q(db, "SELECT count(*) FROM meta WHERE key = 'heartbeat'", 0), 1);
	assert_int_equal(q(db, "SELECT strict FROM pragma_table_list WHERE name = 'reports'", 0),
	    1);
	assert_int_equal(store_ping(t->s), 0);
	assert_true(q(db, "SELECT value FROM meta WHERE key = 'heartbeat'", 0) > DAY0);
	sqlite3_close(db);

	/* Reopen: nothing to apply, same version, same objects, data kept. */
	db = db_open(t);
	objects = q(db, "SELECT count(*) FROM sqlite_schema", 0);
	sqlite3_close(db);
	reopen(t);
	db = db_open(t);
	assert_int_equal(q(db, "PRAGMA user_version", 0), latest);
	assert_int_equal(q(db, "SELECT count(*) FROM sqlite_schema", 0), objects);
	assert_int_equal(q(db, "SELECT count(*) FROM meta", 0), 1);
	assert_int_equal(store_ping(t->s), 0);
	store_close(t->s);
	t->s = NULL;

	/* A database from a newer binary is refused and left alone. */
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	{
		struct store_options o = { .path = t->path, .busy_timeout_ms = 100, .batch_max = 8,
			.queue_max = 8, .readers = 1 };

		assert_null(store_open(&o, err, sizeof(err)));
		assert_non_null(strstr(err, "newer"));
	}
	db = db_open(t);
	assert_int_equal(q(db, "PRAGMA user_version", 0), 99);
	sqlite3_close(db);

	err[0] = '\0';
	assert_null(store_open(&bad, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

static void
test_new_dup_conflict(void **state)
{
	struct tctx *t = *state;
	struct fx a, b, c;
	int64_t ra, rb, copy1;
	sqlite3 *db;

	open_store(t, 1000);
	fx_init(&a, "google.com", "2024-03-01T00:00:00Z_example.com", DAY0, DAY0 + ONE_DAY - 1, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);
	ra = a.req.result.report_id;
	copy1 = a.req.result.copy_id;
	assert_true(ra > 0);
	assert_true(copy1 > 0);
	assert_int_equal(a.req.result.conflict_of, 0);

	/* Same key, same content, another transport: a duplicate. */
	a.req.copy.transport = "file";
	a.req.copy.peer = NULL;
	a.req.copy.meta_json = NULL;
	assert_int_equal(submit(t, &a), STORE_DUP);
	assert_int_equal(a.req.result.report_id, ra);
	assert_true(a.req.result.copy_id > copy1);

	/* Same key, other content: a conflict, kept and not counted. */
	fx_init(&b, "google.com", "2024-03-01T00:00:00Z_example.com", DAY0, DAY0 + ONE_DAY - 1, 2);
	b.pol[0].success = 5000;
	assert_int_equal(submit(t, &b), STORE_CONFLICT);
	rb = b.req.result.report_id;
	assert_true(rb > ra);
	assert_int_equal(b.req.result.conflict_of, ra);
	assert_int_equal(submit(t, &b), STORE_DUP);
	assert_int_equal(b.req.result.report_id, rb);

	/* The same report-id from another reporter is another report. */
	fx_init(&c, "mail.example", "2024-03-01T00:00:00Z_example.com", DAY0, DAY0 + ONE_DAY - 1,
	    1);
	assert_int_equal(submit(t, &c), STORE_NEW);
	assert_true(c.req.result.report_id > rb);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), 3);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies WHERE report = ?1", 1, ra), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies WHERE report = ?1", 1, rb), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies", 0), 5);
	assert_int_equal(q(db, "SELECT counted FROM reports WHERE id = ?1", 1, ra), 1);
	assert_int_equal(q(db, "SELECT counted FROM reports WHERE id = ?1", 1, rb), 0);
	assert_int_equal(q(db, "SELECT conflict_of FROM reports WHERE id = ?1", 1, rb), ra);
	assert_int_equal(q(db, "SELECT conflict_of FROM reports WHERE id = ?1", 1, ra), -1);
	assert_int_equal(q(db, "SELECT count(*) FROM policies", 0), 3);
	assert_int_equal(q(db, "SELECT count(*) FROM failures", 0), 3);
	/* Only a and c are counted: the conflict (5000) and the duplicates add nothing. */
	assert_int_equal(q(db, "SELECT reports FROM daily_domain WHERE domain = 'example.com'"
	    " AND day = ?1", 1, DAY0_N), 2);
	assert_int_equal(q(db, "SELECT successful FROM daily_domain WHERE domain = 'example.com'"
	    " AND day = ?1", 1, DAY0_N), 200);
	assert_int_equal(q(db, "SELECT failed FROM daily_domain WHERE domain = 'example.com'"
	    " AND day = ?1", 1, DAY0_N), 4);
	assert_int_equal(q(db, "SELECT successful FROM daily_policy WHERE domain = 'example.com'"
	    " AND day = ?1 AND policy_type = 'sts'", 1, DAY0_N), 200);
	sqlite3_close(db);
}

static void
test_quarantine_dedup(void **state)
{
	struct tctx *t = *state;
	struct store_quarantine qa = { 0 };
	struct store_req req = { 0 };
	unsigned char sha[32];
	int64_t qid, copy1;
	sqlite3 *db;

	open_store(t, 1000);
	memset(sha, 0x51, sizeof(sha));
	qa.sha256 = sha;
	qa.raw_gz = RAW_GZ;
	qa.raw_gz_len = sizeof(RAW_GZ) - 1;
	qa.raw_len = 4;
	qa.reason_code = "not-json";
	qa.reason = "the body is not JSON";
	qa.detail_json = "{\"line\":1,\"column\":1}";
	req.quarantine = &qa;
	req.copy.transport = "http";
	req.copy.peer = "198.51.100.1";
	req.copy.received_at = DAY0 + 10;
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);
	qid = req.result.quarantine_id;
	copy1 = req.result.copy_id;
	assert_true(qid > 0);
	assert_int_equal(req.result.report_id, 0);

	req.copy.transport = "smtp";
	req.copy.received_at = DAY0 + 20;
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);
	assert_int_equal(req.result.quarantine_id, qid);
	assert_true(req.result.copy_id > copy1);

	/* Other bytes: another row. */
	sha[0] = 0x52;
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);
	assert_true(req.result.quarantine_id > qid);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT seen_count FROM quarantine WHERE id = ?1", 1, qid), 2);
	assert_int_equal(q(db, "SELECT first_seen FROM quarantine WHERE id = ?1", 1, qid),
	    DAY0 + 10);
	assert_int_equal(q(db, "SELECT last_seen FROM quarantine WHERE id = ?1", 1, qid),
	    DAY0 + 20);
	assert_int_equal(q(db, "SELECT raw_len FROM quarantine WHERE id = ?1", 1, qid), 4);
	assert_int_equal(q(db, "SELECT count(*) FROM quarantine WHERE status = 'held'", 0), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies WHERE quarantine = ?1", 1,
	    qid), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies WHERE report IS NOT NULL", 0),
	    0);
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), 0);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain", 0), 0);
	sqlite3_close(db);
}

static void
test_rollup_one_day(void **state)
{
	struct tctx *t = *state;
	struct fx a, b;
	sqlite3 *db;

	open_store(t, 1000);
	/* 00:00:00Z .. 23:59:59Z (Google, Microsoft) */
	fx_init(&a, "google.com", "a", DAY0, DAY0 + ONE_DAY - 1, 1);
	fx_policy(&a, 0, RPT_POLICY_STS, "example.com", 100, 5, 1);
	/* 00:00:00Z .. next day 00:00:00Z (Stalwart, Mail.ru) */
	fx_init(&b, "stalwart.example", "b", DAY0, DAY0 + ONE_DAY, 2);
	fx_policy(&b, 0, RPT_POLICY_STS, "example.com", 50, 1, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);
	assert_int_equal(submit(t, &b), STORE_NEW);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain", 0), 1);
	assert_int_equal(q(db, "SELECT day FROM daily_domain", 0), DAY0_N);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain", 0), 2);
	assert_int_equal(q(db, "SELECT successful FROM daily_domain", 0), 150);
	assert_int_equal(q(db, "SELECT failed FROM daily_domain", 0), 6);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_policy", 0), 1);
	assert_int_equal(q(db, "SELECT successful FROM daily_policy WHERE policy_type = 'sts'", 0),
	    150);
	assert_int_equal(q(db, "SELECT failed FROM daily_policy WHERE policy_type = 'sts'", 0), 6);
	sqlite3_close(db);
}

static void
test_rollup_multi_day(void **state)
{
	struct tctx *t = *state;
	struct fx a, b;
	sqlite3 *db;

	open_store(t, 1000);
	/* Three whole days ending 23:59:59Z: thirds, the leftover to the earliest day. */
	fx_init(&a, "google.com", "three", DAY0, DAY0 + 3 * ONE_DAY - 1, 1);
	fx_policy(&a, 0, RPT_POLICY_STS, "example.com", 100, 10, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);
	/* Noon to noon over four UTC days: 1/6, 1/3, 1/3, 1/6. */
	fx_init(&b, "google.com", "noon", DAY0 + ONE_DAY / 2, DAY0 + 3 * ONE_DAY + ONE_DAY / 2, 2);
	fx_policy(&b, 0, RPT_POLICY_STS, "split.example", 1000, 7, 1);
	assert_int_equal(submit(t, &b), STORE_NEW);

	db = db_open(t);
#define DD(col, dom, day) q(db, "SELECT " col " FROM daily_domain WHERE domain = '" dom \
	    "' AND day = ?1", 1, (int64_t)(day))
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain WHERE domain = 'example.com'", 0),
	    3);
	assert_int_equal(DD("successful", "example.com", DAY0_N), 34);
	assert_int_equal(DD("successful", "example.com", DAY0_N + 1), 33);
	assert_int_equal(DD("successful", "example.com", DAY0_N + 2), 33);
	assert_int_equal(DD("failed", "example.com", DAY0_N), 4);
	assert_int_equal(DD("failed", "example.com", DAY0_N + 1), 3);
	assert_int_equal(DD("failed", "example.com", DAY0_N + 2), 3);
	assert_int_equal(DD("reports", "example.com", DAY0_N + 1), 1);
	assert_int_equal(DD("successful", "example.com", DAY0_N + 3), -999);

	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain WHERE domain = 'split.example'",
	    0), 4);
	/* 1000: 166.67, 333.33, 333.33, 166.67 -> 167, 333, 333, 167 */
	assert_int_equal(DD("successful", "split.example", DAY0_N), 167);
	assert_int_equal(DD("successful", "split.example", DAY0_N + 1), 333);
	assert_int_equal(DD("successful", "split.example", DAY0_N + 2), 333);
	assert_int_equal(DD("successful", "split.example", DAY0_N + 3), 167);
	/* 7: 1.17, 2.33, 2.33, 1.17 -> 1, 3, 2, 1 */
	assert_int_equal(DD("failed", "split.example", DAY0_N), 1);
	assert_int_equal(DD("failed", "split.example", DAY0_N + 1), 3);
	assert_int_equal(DD("failed", "split.example", DAY0_N + 2), 2);
	assert_int_equal(DD("failed", "split.example", DAY0_N + 3), 1);
	assert_int_equal(DD("reports", "split.example", DAY0_N + 3), 1);
	/* A window wider than a year counts on its last day; an inverted one on its first. */
	fx_init(&a, "google.com", "wide", DAY0 - 400 * ONE_DAY, DAY0 + ONE_DAY - 1, 3);
	fx_policy(&a, 0, RPT_POLICY_STS, "wide.example", 70, 7, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain WHERE domain = 'wide.example'",
	    0), 1);
	assert_int_equal(DD("successful", "wide.example", DAY0_N), 70);
	fx_init(&a, "google.com", "inverted", DAY0 + ONE_DAY, DAY0 - 1, 4);
	fx_policy(&a, 0, RPT_POLICY_STS, "inv.example", 8, 1, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain WHERE domain = 'inv.example'",
	    0), 1);
	assert_int_equal(DD("failed", "inv.example", DAY0_N + 1), 1);
#undef DD
	assert_int_equal(q(db, "SELECT sum(successful) FROM daily_domain WHERE domain ="
	    " 'split.example'", 0), 1000);
	assert_int_equal(q(db, "SELECT sum(failed) FROM daily_policy WHERE domain ="
	    " 'split.example'", 0), 7);
	assert_int_equal(q(db, "SELECT sum(successful) FROM daily_policy WHERE domain ="
	    " 'example.com'", 0), 100);
	sqlite3_close(db);
}

static void
test_rollup_sts_tlsa_max(void **state)
{
	struct tctx *t = *state;
	struct fx a;
	sqlite3 *db;
	char *doms;

	open_store(t, 1000);
	fx_init(&a, "microsoft.com", "133198585438131172+example.com", DAY0, DAY0 + ONE_DAY - 1, 1);
	fx_policy(&a, 0, RPT_POLICY_STS, "example.com", 100, 2, 1);  /* 102 sessions */
	fx_policy(&a, 1, RPT_POLICY_TLSA, "example.com", 90, 20, 1); /* 110: stands for it */
	fx_policy(&a, 2, RPT_POLICY_STS, "other.example", 5, 0, 1);
	assert_int_equal(submit(t, &a), STORE_NEW);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain WHERE domain = 'example.com'", 0),
	    1);
	assert_int_equal(q(db, "SELECT successful FROM daily_domain WHERE domain = 'example.com'",
	    0), 90);
	assert_int_equal(q(db, "SELECT failed FROM daily_domain WHERE domain = 'example.com'", 0),
	    20);
	assert_int_equal(q(db, "SELECT successful FROM daily_domain WHERE domain = 'other.example'",
	    0), 5);
	/* Per policy type both stay visible. */
	assert_int_equal(q(db, "SELECT successful FROM daily_policy WHERE domain = 'example.com'"
	    " AND policy_type = 'sts'", 0), 100);
	assert_int_equal(q(db, "SELECT failed FROM daily_policy WHERE domain = 'example.com'"
	    " AND policy_type = 'tlsa'", 0), 20);
	/* The report's own totals follow the same rule. */
	assert_int_equal(q(db, "SELECT total_successful FROM reports", 0), 95);
	assert_int_equal(q(db, "SELECT total_failed FROM reports", 0), 20);
	doms = qs(db, "SELECT domains FROM reports WHERE id = ?1", a.req.result.report_id);
	assert_string_equal(doms, "[\"example.com\",\"other.example\"]");
	free(doms);
	assert_int_equal(q(db, "SELECT count(*) FROM policies WHERE report = ?1", 1,
	    a.req.result.report_id), 3);
	assert_int_equal(q(db, "SELECT count(*) FROM failures WHERE report = ?1", 1,
	    a.req.result.report_id), 3);
	assert_int_equal(q(db, "SELECT sts_max_age FROM policies WHERE idx = 0", 0), 604800);
	assert_int_equal(q(db, "SELECT sts_max_age FROM policies WHERE idx = 1", 0), -1);
	sqlite3_close(db);
}

static void
test_rollup_uncounted(void **state)
{
	struct tctx *t = *state;
	struct fx a;
	sqlite3 *db;

	open_store(t, 1000);
	fx_init(&a, "google.com", "u", DAY0, DAY0 + ONE_DAY - 1, 1);
	fx_policy(&a, 0, RPT_POLICY_STS, "a.example", 10, 1, 1);
	fx_policy(&a, 1, RPT_POLICY_STS, "b.example", 1000, 1000, 0);
	fx_policy(&a, 2, RPT_POLICY_NONE_FOUND, "c.example", RPT_COUNT_MISSING, RPT_COUNT_MISSING,
	    1);
	assert_int_equal(submit(t, &a), STORE_NEW);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_domain WHERE domain = 'b.example'", 0),
	    0);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_policy WHERE domain = 'b.example'", 0),
	    0);
	assert_int_equal(q(db, "SELECT successful FROM daily_domain WHERE domain = 'a.example'", 0),
	    10);
	/* Missing counts count as 0 but the report still counts for the domain. */
	assert_int_equal(q(db, "SELECT reports FROM daily_domain WHERE domain = 'c.example'", 0),
	    1);
	assert_int_equal(q(db, "SELECT successful + failed FROM daily_domain"
	    " WHERE domain = 'c.example'", 0), 0);
	assert_int_equal(q(db, "SELECT count(*) FROM daily_policy WHERE domain = 'c.example'"
	    " AND policy_type = 'no-policy-found'", 0), 1);
	/* ... and are stored as NULL, never as 0. */
	assert_int_equal(q(db, "SELECT count(*) FROM policies WHERE successful IS NULL"
	    " AND failed IS NULL AND policy_domain = 'c.example'", 0), 1);
	assert_int_equal(q(db, "SELECT count(*) FROM failures WHERE failed_session_count IS NULL",
	    0), 1);
	assert_int_equal(q(db, "SELECT counted FROM policies WHERE policy_domain = 'b.example'", 0),
	    0);
	/* The report's totals include every policy (1000 + 10). */
	assert_int_equal(q(db, "SELECT total_successful FROM reports", 0), 1010);
	sqlite3_close(db);
}

#define CT_THREADS 8
#define CT_PER     40
#define CT_SHARED  5

struct ct_arg {
	struct tctx *t;
	int no;
	int by_rc[8];
};

static void *
ct_main(void *p)
{
	struct ct_arg *a = p;
	struct fx *fx = calloc(CT_PER + CT_SHARED, sizeof(*fx));
	struct waitset ws;
	char org[32], rid[32];
	int async = a->no % 2;

	if (fx == NULL)
		return NULL;
	ws_init(&ws);
	for (int i = 0; i < CT_PER + CT_SHARED; i++) {
		struct fx *f = &fx[i];

		if (i < CT_PER) {
			snprintf(org, sizeof(org), "t%d.example", a->no);
			snprintf(rid, sizeof(rid), "r%d", i);
			fx_init(f, org, rid, DAY0, DAY0 + ONE_DAY - 1, (unsigned char)i);
		} else {
			fx_init(f, "shared.example", "same", DAY0, DAY0 + ONE_DAY - 1, 0xee);
		}
		fx_policy(f, 0, RPT_POLICY_STS, "example.com", 10, 1, 1);
		fx_policy(f, 1, RPT_POLICY_TLSA, "example.com", 9, 4, 1);
		if (async) {
			ws_submit(a->t->s, &ws, &f->req);
		} else {
			int rc = store_submit_wait(a->t->s, &f->req);

			a->by_rc[rc + 2]++;
		}
	}
	if (async) {
		ws_wait(&ws);
		memcpy(a->by_rc, ws.by_rc, sizeof(a->by_rc));
	}
	ws_destroy(&ws);
	free(fx);
	return a;
}

static void
test_concurrent(void **state)
{
	struct tctx *t = *state;
	pthread_t th[CT_THREADS];
	struct ct_arg args[CT_THREADS];
	int total[8] = { 0 };
	int64_t n = CT_THREADS * CT_PER + 1;
	sqlite3 *db;

	open_store(t, 5000);
	for (int i = 0; i < CT_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].t = t;
		args[i].no = i;
		assert_int_equal(pthread_create(&th[i], NULL, ct_main, &args[i]), 0);
	}
	for (int i = 0; i < CT_THREADS; i++) {
		void *ret = NULL;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_non_null(ret);
		for (int k = 0; k < 8; k++)
			total[k] += args[i].by_rc[k];
	}
	assert_int_equal(total[STORE_NEW + 2], n);
	assert_int_equal(total[STORE_DUP + 2], CT_THREADS * CT_SHARED - 1);
	assert_int_equal(total[STORE_CONFLICT + 2], 0);
	assert_int_equal(total[STORE_TEMP + 2], 0);
	assert_int_equal(total[STORE_ERR + 2], 0);

	db = db_open(t);
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), n);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies", 0),
	    CT_THREADS * (CT_PER + CT_SHARED));
	assert_int_equal(q(db, "SELECT count(*) FROM policies", 0), 2 * n);
	assert_int_equal(q(db, "SELECT count(*) FROM failures", 0), 2 * n);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain", 0), n);
	/* tlsa (13 sessions) stands for the domain over sts (11). */
	assert_int_equal(q(db, "SELECT successful FROM daily_domain", 0), 9 * n);
	assert_int_equal(q(db, "SELECT failed FROM daily_domain", 0), 4 * n);
	assert_int_equal(q(db, "SELECT successful FROM daily_policy WHERE policy_type = 'sts'", 0),
	    10 * n);
	assert_int_equal(q(db, "SELECT failed FROM daily_policy WHERE policy_type = 'tlsa'", 0),
	    4 * n);
	sqlite3_close(db);
}

static void
test_temp_when_locked(void **state)
{
	struct tctx *t = *state;
	struct fx a;
	sqlite3 *db;

	open_store(t, 50);
	db = db_open(t);
	fx_init(&a, "google.com", "locked", DAY0, DAY0 + ONE_DAY - 1, 1);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(submit(t, &a), STORE_TEMP);
	assert_int_equal(a.req.result.rc, STORE_TEMP);
	assert_non_null(strstr(a.req.result.error, "locked"));
	assert_int_equal(store_ping(t->s), STORE_TEMP);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

	assert_int_equal(submit(t, &a), STORE_NEW);
	assert_string_equal(a.req.result.error, "");
	assert_int_equal(store_ping(t->s), 0);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies", 0), 1);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain", 0), 1);
	sqlite3_close(db);
}

static void
test_bad_request_isolated(void **state)
{
	struct tctx *t = *state;
	struct fx good1, bad, good2;
	struct store_req empty = { 0 };
	struct waitset ws;
	sqlite3 *db;

	open_store(t, 1000);
	fx_init(&good1, "google.com", "g1", DAY0, DAY0 + ONE_DAY - 1, 1);
	fx_init(&bad, "google.com", "bad", DAY0, DAY0 + ONE_DAY - 1, 2);
	bad.req.copy.meta_json = "not a JSON object";
	fx_init(&good2, "google.com", "g2", DAY0, DAY0 + ONE_DAY - 1, 3);
	ws_init(&ws);
	/* Queued back to back: they usually share one transaction; each result stands alone. */
	ws_submit(t->s, &ws, &good1.req);
	ws_submit(t->s, &ws, &bad.req);
	ws_submit(t->s, &ws, &good2.req);
	ws_wait(&ws);
	ws_destroy(&ws);
	assert_int_equal(good1.req.result.rc, STORE_NEW);
	assert_int_equal(good2.req.result.rc, STORE_NEW);
	assert_int_equal(bad.req.result.rc, STORE_ERR);
	assert_non_null(strstr(bad.req.result.error, "CHECK"));
	assert_int_equal(bad.req.result.report_id, 0);

	/* Neither report nor quarantine; no callback. */
	empty.copy.transport = "http";
	assert_int_equal(store_submit_wait(t->s, &empty), STORE_ERR);
	assert_true(empty.result.error[0] != '\0');
	assert_int_equal(store_submit(t->s, &empty), STORE_ERR);

	db = db_open(t);
	/* The bad request left nothing behind: no report, policy, failure or rollup. */
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM report_copies", 0), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM policies", 0), 2);
	assert_int_equal(q(db, "SELECT count(*) FROM failures", 0), 2);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain", 0), 2);
	sqlite3_close(db);
}

static void
test_queue_full(void **state)
{
	struct tctx *t = *state;
	struct store_options o = { .path = t->path, .busy_timeout_ms = 10000, .batch_max = 1,
		.queue_max = 2, .readers = 1 };
	struct fx f[4];
	struct waitset ws;
	char err[256] = "", rid[16];
	sqlite3 *db;
	int accepted = 0, rc = 0;

	t->s = store_open(&o, err, sizeof(err));
	assert_non_null(t->s);
	db = db_open(t);
	ws_init(&ws);
	/* The writer waits in BEGIN IMMEDIATE with one request; two more fill the queue. */
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 4 && rc == 0; i++) {
		snprintf(rid, sizeof(rid), "q%d", i);
		fx_init(&f[i], "google.com", rid, DAY0, DAY0 + ONE_DAY - 1, (unsigned char)i);
		f[i].req.done = ws_done;
		f[i].req.arg = &ws;
		pthread_mutex_lock(&ws.mu);
		ws.pending++;
		pthread_mutex_unlock(&ws.mu);
		if ((rc = store_submit(t->s, &f[i].req)) == 0) {
			accepted++;
		} else {
			pthread_mutex_lock(&ws.mu);
			ws.pending--;
			pthread_mutex_unlock(&ws.mu);
		}
	}
	assert_int_equal(rc, STORE_TEMP);
	assert_true(accepted == 2 || accepted == 3);
	assert_non_null(strstr(f[accepted].req.result.error, "queue"));
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	ws_wait(&ws);
	assert_int_equal(ws.by_rc[STORE_NEW + 2], accepted);
	ws_destroy(&ws);
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), accepted);
	sqlite3_close(db);
}

static const char *
jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static json_int_t
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void
check_page(json_t *doc, const int64_t *ids, size_t n, int64_t next)
{
	json_t *arr = json_object_get(doc, "reports"), *nb = json_object_get(doc, "next_before");

	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(jint(json_array_get(arr, i), "id"), ids[i]);
	if (next == 0)
		assert_true(json_is_null(nb));
	else
		assert_int_equal(json_integer_value(nb), next);
}

static void
test_list_and_get(void **state)
{
	struct tctx *t = *state;
	struct store_list_query lq = { .limit = 2, .before_id = 0 };
	struct fx f[5];
	json_t *doc, *it, *c;
	struct buf raw;
	char rid[16];

	open_store(t, 1000);
	for (int i = 0; i < 5; i++) {
		snprintf(rid, sizeof(rid), "rid-%d", i + 1);
		fx_init(&f[i], "google.com", rid, DAY0, DAY0 + ONE_DAY - 1,
		    (unsigned char)(0xa0 + i));
		f[i].req.copy.received_at = DAY0 + ONE_DAY + i;
	}
	/* Report 4 conflicts with report 3. */
	f[3].rid[4] = '3';
	f[1].rpt.contact_info = NULL;
	f[1].lint[0].path = "policies[0].mx-host";
	f[1].lint[0].code = "mx-host-string";
	f[1].lint[0].message = "mx-host is a string, not a list";
	f[1].rpt.n_lint = 1;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(submit(t, &f[i]), i == 3 ? STORE_CONFLICT : STORE_NEW);
		assert_int_equal(f[i].req.result.report_id, i + 1);
	}
	/* A second copy of report 2, by file, without peer or meta. */
	f[1].req.copy.transport = "file";
	f[1].req.copy.peer = NULL;
	f[1].req.copy.meta_json = NULL;
	f[1].req.copy.received_at = DAY0 + 2 * ONE_DAY;
	assert_int_equal(submit(t, &f[1]), STORE_DUP);

	assert_int_equal(store_list_reports(t->s, &lq, &doc), 0);
	check_page(doc, (const int64_t[]){ 5, 4 }, 2, 4);
	it = json_array_get(json_object_get(doc, "reports"), 1);
	assert_int_equal(jint(it, "conflict_of"), 3);
	assert_int_equal(jint(it, "copies"), 1);
	assert_string_equal(jstr(it, "report_id"), "rid-3");
	json_decref(doc);
	lq.before_id = 4;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), 0);
	check_page(doc, (const int64_t[]){ 3, 2 }, 2, 2);
	it = json_array_get(json_object_get(doc, "reports"), 1);
	assert_int_equal(jint(it, "copies"), 2);
	assert_true(json_is_null(json_object_get(it, "conflict_of")));
	assert_string_equal(jstr(json_object_get(it, "reporter"), "organization_name"),
	    "google.com");
	assert_true(json_is_null(json_object_get(json_object_get(it, "reporter"), "contact_info")));
	assert_string_equal(jstr(json_object_get(it, "window"), "start"), "2024-03-01T00:00:00Z");
	assert_string_equal(jstr(json_object_get(it, "window"), "end"), "2024-03-01T23:59:59Z");
	assert_string_equal(jstr(it, "received_at"), "2024-03-02T00:00:01Z");
	assert_int_equal(jint(json_object_get(it, "totals"), "successful"), 100);
	assert_int_equal(jint(json_object_get(it, "totals"), "failed"), 2);
	assert_int_equal(json_array_size(json_object_get(it, "domains")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(it, "domains"), 0)),
	    "example.com");
	assert_null(json_object_get(it, "report"));
	json_decref(doc);
	lq.before_id = 2;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), 0);
	check_page(doc, (const int64_t[]){ 1 }, 1, 0);
	json_decref(doc);
	lq.before_id = 0;
	lq.limit = 5;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), 0);
	check_page(doc, (const int64_t[]){ 5, 4, 3, 2, 1 }, 5, 0);
	json_decref(doc);

	lq.limit = 0;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), STORE_ERR);
	assert_null(doc);
	lq.limit = 501;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), STORE_ERR);
	lq.limit = 10;
	lq.before_id = -1;
	assert_int_equal(store_list_reports(t->s, &lq, &doc), STORE_ERR);

	/* One report, with its stored body, lint, hash and copies. */
	buf_init(&raw, 1024);
	assert_int_equal(store_get_report(t->s, 2, &doc, &raw), 0);
	assert_int_equal(raw.len, strlen(f[1].raw));
	assert_memory_equal(raw.data, f[1].raw, raw.len);
	buf_free(&raw);
	json_decref(doc);
	/* A buffer too small for the body is an error, not a cut body. */
	buf_init(&raw, 4);
	assert_int_equal(store_get_report(t->s, 2, &doc, &raw), STORE_ERR);
	assert_null(doc);
	buf_free(&raw);
	assert_int_equal(store_get_report(t->s, 2, &doc, NULL), 0);
	assert_int_equal(jint(doc, "id"), 2);
	assert_string_equal(jstr(doc, "report_id"), "rid-2");
	assert_string_equal(jstr(doc, "sha256"),
	    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1");
	assert_true(json_is_null(json_object_get(doc, "conflict_of")));
	assert_string_equal(jstr(json_object_get(doc, "window"), "start"), "2024-03-01T00:00:00Z");
	assert_null(json_object_get(doc, "report"));
	it = json_object_get(doc, "lint");
	assert_int_equal(json_array_size(it), 1);
	assert_string_equal(jstr(json_array_get(it, 0), "code"), "mx-host-string");
	assert_string_equal(jstr(json_array_get(it, 0), "path"), "policies[0].mx-host");
	assert_string_equal(jstr(json_array_get(it, 0), "message"),
	    "mx-host is a string, not a list");
	it = json_object_get(doc, "copies");
	assert_int_equal(json_array_size(it), 2);
	c = json_array_get(it, 0);
	assert_true(jint(c, "id") > 0);
	assert_string_equal(jstr(c, "transport"), "http");
	assert_string_equal(jstr(c, "peer"), "192.0.2.9");
	assert_string_equal(jstr(c, "received_at"), "2024-03-02T00:00:01Z");
	assert_string_equal(jstr(json_object_get(c, "meta"), "content_type"),
	    "application/tlsrpt+gzip");
	c = json_array_get(it, 1);
	assert_string_equal(jstr(c, "transport"), "file");
	assert_true(json_is_null(json_object_get(c, "peer")));
	assert_true(json_is_null(json_object_get(c, "meta")));
	assert_string_equal(jstr(c, "received_at"), "2024-03-03T00:00:00Z");
	json_decref(doc);

	assert_int_equal(store_get_report(t->s, 4, &doc, NULL), 0);
	assert_int_equal(jint(doc, "conflict_of"), 3);
	assert_int_equal(json_array_size(json_object_get(doc, "lint")), 0);
	json_decref(doc);

	assert_int_equal(store_get_report(t->s, 9999, &doc, NULL), STORE_NOTFOUND);
	assert_null(doc);
	assert_int_equal(store_get_report(t->s, 0, &doc, NULL), STORE_NOTFOUND);
}

static void
test_close_drains(void **state)
{
	struct tctx *t = *state;
	struct fx *f = calloc(100, sizeof(*f));
	struct waitset ws;
	char rid[16];
	sqlite3 *db;

	assert_non_null(f);
	open_store(t, 1000);
	ws_init(&ws);
	for (int i = 0; i < 100; i++) {
		snprintf(rid, sizeof(rid), "d%d", i);
		fx_init(&f[i], "google.com", rid, DAY0, DAY0 + ONE_DAY - 1, (unsigned char)i);
		ws_submit(t->s, &ws, &f[i].req);
	}
	store_close(t->s);
	t->s = NULL;
	/* Every queued request was committed and answered before store_close returned. */
	assert_int_equal(ws.pending, 0);
	assert_int_equal(ws.by_rc[STORE_NEW + 2], 100);
	ws_destroy(&ws);
	db = db_open(t);
	assert_int_equal(q(db, "SELECT count(*) FROM reports", 0), 100);
	assert_int_equal(q(db, "SELECT reports FROM daily_domain", 0), 100);
	sqlite3_close(db);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_dup_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_one_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_multi_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_sts_tlsa_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_uncounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temp_when_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
