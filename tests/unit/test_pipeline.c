/*
 * test_pipeline: ingest/pipeline.c end to end in one process: sniffing, bounded decoding,
 * served-domain rules, quarantine and the verdicts, against a real SQLite store in a fresh
 * temporary directory.
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

#include <sqlite3.h>

#include "collector/buf.h"
#include "ingest/dkim_keys.h"
#include "ingest/gz.h"
#include "ingest/pipeline.h"
#include "storage/store.h"
#include "testutil.h"

#define REPORT_FMT \
	"{\"organization-name\":\"Example Sender\",\"contact-info\":\"tlsrpt@sender.example\"," \
	"\"report-id\":\"%s\",\"date-range\":{\"start-datetime\":\"2026-11-01T00:00:00Z\"," \
	"\"end-datetime\":\"2026-11-01T23:59:59Z\"},\"policies\":[%s]}"
#define POLICY_FMT \
	"{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\"," \
	"\"mx: mx1.%s\",\"max_age: 86400\"],\"policy-domain\":\"%s\",\"mx-host\":[\"mx1.%s\"]}," \
	"\"summary\":{\"total-successful-session-count\":%d,\"total-failure-session-count\":0}}"

struct tctx {
	char dir[64];
	char path[128];
	struct store *store;
	struct pipeline *pl;
	const char *allowed[4];
};

static char *
report(const char *rid, const char *d1, const char *d2, int success)
{
	char pol[2048], *out = malloc(4096);
	int n;

	n = snprintf(pol, sizeof(pol), POLICY_FMT, d1, d1, d1, success);
	if (d2 != NULL)
		snprintf(pol + n, sizeof(pol) - (size_t)n, "," POLICY_FMT, d2, d2, d2, success);
	snprintf(out, 4096, REPORT_FMT, rid, pol);
	return out;
}

static int
setup_with(void **state, size_t max_report, size_t n_allowed)
{
	struct tctx *t = calloc(1, sizeof(*t));
	struct store_options so = { .busy_timeout_ms = 2000, .batch_max = 64, .queue_max = 64, .readers = 1 };
	struct pipeline_options po = { .max_report_size = max_report, .max_gzip_ratio = 100 };
	char err[256];

	if (tu_db_make(t->dir, t->path, "test_pipeline") != 0)
		return -1;
	so.path = t->path;
	if ((t->store = store_open(&so, err, sizeof(err))) == NULL)
		return -1;
	t->allowed[0] = "example.net";
	t->allowed[1] = "example.com";
	po.allowed_domains = t->allowed;
	po.n_allowed = n_allowed;
	t->pl = pipeline_new(t->store, &po);
	*state = t;
	return t->pl ? 0 : -1;
}

static int
setup_open(void **state)
{
	return setup_with(state, 1024 * 1024, 0);
}

static int
setup_served(void **state)
{
	return setup_with(state, 1024 * 1024, 2);
}

static int
setup_small(void **state)
{
	return setup_with(state, 8 * 1024, 0);
}

static int
teardown(void **state)
{
	struct tctx *t = *state;

	pipeline_free(t->pl);
	store_close(t->store);
	tu_db_remove(t->dir, t->path);
	free(t);
	return 0;
}

/* Runs one body through the pipeline and the store; returns the job (caller frees). */
static struct pipeline_job *
run(struct tctx *t, const void *body, size_t len, int allow_mail)
{
	struct envelope env = {
		.transport = "test", .peer = "unit", .received_at = 1793577600,
		.body = body, .len = len, .allow_mail = allow_mail,
		.meta_json = "{\"case\":\"unit\"}",
	};
	struct pipeline_job *job = pipeline_job_new(t->pl, &env);

	assert_non_null(job);
	pipeline_job_store_wait(job);
	return job;
}

static int64_t
count(struct tctx *t, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
test_json_then_gzip_duplicate(void **state)
{
	struct tctx *t = *state;
	char *json = report("r-1", "example.net", NULL, 10);
	struct buf gz;
	struct pipeline_job *a, *b;
	const struct pipeline_result *ra, *rb;

	buf_init(&gz, 1 << 20);
	assert_int_equal(gz_deflate(json, strlen(json), &gz), 0);
	a = run(t, json, strlen(json), 0);
	ra = pipeline_job_result(a);
	assert_int_equal(ra->verdict, PIPELINE_ACCEPTED);
	assert_int_equal(ra->format, PIPELINE_FMT_JSON);
	assert_true(ra->report_id > 0);
	b = run(t, gz.data, gz.len, 0);
	rb = pipeline_job_result(b);
	assert_int_equal(rb->verdict, PIPELINE_DUPLICATE);
	assert_int_equal(rb->format, PIPELINE_FMT_GZIP);
	assert_int_equal(rb->report_id, ra->report_id);
	assert_int_equal(count(t, "SELECT count(*) FROM report_copies"), 2);
	assert_int_equal(count(t, "SELECT sum(successful) FROM daily_domain"), 10);
	/* The copy keeps the transport's meta plus what the pipeline learnt (the format). */
	assert_int_equal(count(t, "SELECT count(*) FROM report_copies WHERE json_extract(meta, '$.case') = 'unit'"
	    " AND json_extract(meta, '$.format') = 'gzip'"), 1);
	pipeline_job_free(a);
	pipeline_job_free(b);
	buf_free(&gz);
	free(json);
}

static void
test_whole_message_only_where_allowed(void **state)
{
	struct tctx *t = *state;
	char *json = report("r-mail", "example.com", NULL, 5);
	char msg[8192];
	struct pipeline_job *job;
	const struct pipeline_result *r;

	snprintf(msg, sizeof(msg), "From: reports@sender.example\r\nTLS-Report-Domain: example.com\r\n"
	    "TLS-Report-Submitter: sender.example\r\nSubject: Report Domain: example.com Submitter: "
	    "sender.example Report-ID: <r-mail@sender.example>\r\nContent-Type: application/tlsrpt+json\r\n"
	    "\r\n%s\r\n", json);
	job = run(t, msg, strlen(msg), 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_int_equal(r->reject, PIPELINE_REJECT_MEDIA);
	assert_string_equal(r->error.code, "unsupported-media");
	pipeline_job_free(job);

	job = run(t, msg, strlen(msg), 1);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_ACCEPTED);
	assert_int_equal(r->format, PIPELINE_FMT_MAIL);
	assert_non_null(pipeline_job_mime(job));
	assert_string_equal(pipeline_job_mime(job)->tls_report_domain, "example.com");
	assert_int_equal(count(t, "SELECT count(*) FROM report_copies WHERE"
	    " json_extract(meta, '$.mail.tls_report_submitter') = 'sender.example'"), 1);
	pipeline_job_free(job);
	free(json);
}

static void
test_served_domains(void **state)
{
	struct tctx *t = *state;
	char *other = report("r-other", "example.org", NULL, 3);
	char *mixed = report("r-mixed", "mx.example.net", "example.org", 7);
	struct pipeline_job *job;
	const struct pipeline_result *r;
	const struct rpt *rpt;
	int linted = 0;

	job = run(t, other, strlen(other), 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_int_equal(r->reject, PIPELINE_REJECT_NOT_SERVED);
	assert_non_null(strstr(r->error.reason, "example.org"));
	assert_true(r->quarantine_id > 0);
	assert_null(pipeline_job_report(job));
	pipeline_job_free(job);

	/* One served (a subdomain of example.net), one not: stored, only the served one counted. */
	job = run(t, mixed, strlen(mixed), 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_ACCEPTED);
	rpt = pipeline_job_report(job);
	assert_non_null(rpt);
	assert_int_equal(rpt->n_policies, 2);
	assert_int_equal(rpt->policies[0].counted, 1);
	assert_int_equal(rpt->policies[1].counted, 0);
	for (size_t i = 0; i < rpt->n_lint; i++)
		if (strcmp(rpt->lint[i].code, "domain-not-served") == 0 &&
		    strcmp(rpt->lint[i].path, "policies[1].policy.policy-domain") == 0)
			linted = 1;
	assert_true(linted);
	assert_int_equal(count(t, "SELECT count(*) FROM daily_domain WHERE domain = 'example.org'"), 0);
	assert_int_equal(count(t, "SELECT successful FROM daily_domain WHERE domain = 'mx.example.net'"), 7);
	pipeline_job_free(job);
	free(other);
	free(mixed);
}

/* Serving every domain still means domains: a policy-domain that is not one is not counted. */
static void
test_bad_policy_domain(void **state)
{
	struct tctx *t = *state;
	char *bad = report("r-bad", "bad<img>.example", NULL, 3);
	char *mixed = report("r-bad-mixed", "example.com", "x y.example", 5);
	struct pipeline_job *job;
	const struct pipeline_result *r;

	job = run(t, bad, strlen(bad), 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_int_equal(r->reject, PIPELINE_REJECT_NOT_SERVED);
	pipeline_job_free(job);
	job = run(t, mixed, strlen(mixed), 0);
	assert_int_equal(pipeline_job_result(job)->verdict, PIPELINE_ACCEPTED);
	assert_int_equal(pipeline_job_report(job)->policies[0].counted, 1);
	assert_int_equal(pipeline_job_report(job)->policies[1].counted, 0);
	assert_int_equal(count(t, "SELECT count(*) FROM daily_domain WHERE domain = 'x y.example'"), 0);
	assert_int_equal(count(t, "SELECT successful FROM daily_domain WHERE domain = 'example.com'"), 5);
	pipeline_job_free(job);
	free(bad);
	free(mixed);
}

static void
test_rejections_are_quarantined(void **state)
{
	struct tctx *t = *state;
	static const char notjson[] = "{\n \"policies\": [\n  }\n";
	struct pipeline_job *job;
	const struct pipeline_result *r;

	job = run(t, "", 0, 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_string_equal(r->error.code, "empty-body");
	pipeline_job_free(job);

	job = run(t, notjson, sizeof(notjson) - 1, 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_int_equal(r->reject, PIPELINE_REJECT_INVALID);
	assert_int_equal(r->error.line, 3);
	pipeline_job_free(job);
	/* The same bytes again: the same quarantine row, seen twice. */
	job = run(t, notjson, sizeof(notjson) - 1, 0);
	assert_int_equal(pipeline_job_result(job)->verdict, PIPELINE_QUARANTINED);
	pipeline_job_free(job);
	assert_int_equal(count(t, "SELECT seen_count FROM quarantine WHERE reason_code = 'not-json'"), 2);
	assert_int_equal(count(t, "SELECT raw_len FROM quarantine WHERE reason_code = 'not-json'"),
	    (int64_t)sizeof(notjson) - 1);
	assert_int_equal(count(t, "SELECT count(*) FROM reports"), 0);
}

static void
test_size_caps(void **state)
{
	struct tctx *t = *state;
	struct buf big, gz;
	struct pipeline_job *job;
	const struct pipeline_result *r;
	char *json = report("r-big", "example.net", NULL, 1);

	/* Plain JSON over max_report_size (8 KiB here). */
	buf_init(&big, 1 << 20);
	buf_puts(&big, json);
	while (big.len < 9000)
		buf_puts(&big, "                                ");
	job = run(t, big.data, big.len, 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->reject, PIPELINE_REJECT_TOO_LARGE);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	pipeline_job_free(job);

	/* The same as gzip: decompression stops at the cap. */
	buf_init(&gz, 1 << 20);
	assert_int_equal(gz_deflate(big.data, big.len, &gz), 0);
	job = run(t, gz.data, gz.len, 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->reject, PIPELINE_REJECT_TOO_LARGE);
	pipeline_job_free(job);
	buf_free(&gz);
	buf_free(&big);
	free(json);
}

static void
test_check_only_pipeline(void **state)
{
	struct pipeline_options po = { .max_report_size = 1 << 20, .max_gzip_ratio = 100 };
	struct pipeline *pl = pipeline_new(NULL, &po);
	char *json = report("r-check", "example.net", NULL, 2);
	struct envelope env = { .transport = "check", .body = json, .len = strlen(json) };
	struct pipeline_job *job;

	(void)state;
	job = pipeline_job_new(pl, &env);
	assert_non_null(pipeline_job_report(job));
	assert_string_equal(pipeline_job_report(job)->report_id, "r-check");
	/* Without a store nothing can be kept: storing answers temporary, never success. */
	assert_int_equal(pipeline_job_store_wait(job), PIPELINE_TEMPORARY);
	pipeline_job_free(job);
	pipeline_free(pl);
	free(json);
}

struct done_box {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	enum pipeline_verdict v;
};

static void
on_done(void *arg, struct pipeline_job *job)
{
	struct done_box *d = arg;

	pthread_mutex_lock(&d->mu);
	d->v = pipeline_job_result(job)->verdict;
	d->done = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void
test_async_store(void **state)
{
	struct tctx *t = *state;
	char *json = report("r-async", "example.net", NULL, 4);
	struct envelope env = { .transport = "test", .body = json, .len = strlen(json) };
	struct done_box d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, PIPELINE_PENDING };
	struct pipeline_job *job = pipeline_job_new(t->pl, &env);

	assert_int_equal(pipeline_job_store(job, on_done, &d), 0);
	pthread_mutex_lock(&d.mu);
	while (!d.done)
		pthread_cond_wait(&d.cv, &d.mu);
	pthread_mutex_unlock(&d.mu);
	assert_int_equal(d.v, PIPELINE_ACCEPTED);
	assert_int_equal(count(t, "SELECT count(*) FROM reports WHERE report_id = 'r-async'"), 1);
	pipeline_job_free(job);
	free(json);
}

static enum dkim_key_rc
keys_temp(void *arg, const char *selector, const char *domain, char *txt, size_t cap, char *err,
    size_t errlen)
{
	(void)arg; (void)selector; (void)domain; (void)txt; (void)cap;
	snprintf(err, errlen, "timed out");
	return DKIM_KEY_TEMP;
}

/* One mail body through a pipeline with the given DKIM policy; the job (caller frees). */
static struct pipeline_job *
run_dkim(struct tctx *t, enum pipeline_dkim policy, dkim_key_fn fn, void *arg, const char *file,
    int release)
{
	struct pipeline_options po = { .max_report_size = 1 << 20, .max_gzip_ratio = 100,
	    .dkim = policy, .dkim_keys = fn, .dkim_keys_arg = arg };
	struct pipeline *pl = pipeline_new(t->store, &po);
	size_t len;
	char *body = tu_fixture(&len, "dkim/%s", file);
	struct envelope env = { .transport = "smtp", .received_at = 1793577600, .body = body,
	    .len = len, .allow_mail = 1, .release = release };
	struct pipeline_job *job;

	assert_non_null(pl);
	job = pipeline_job_new(pl, &env);
	assert_non_null(job);
	pipeline_job_store_wait(job);
	pipeline_free(pl);  /* the job keeps only its result from here on */
	free(body);
	return job;
}

/* dkim require / record / off, release, temperror: verdicts and what gets stored. */
static void
test_dkim_policies(void **state)
{
	struct tctx *t = *state;
	struct dkim_keys_options ko = { .key_file = TLSRPT_TEST_DATA "/dkim/keys.txt", .no_dns = 1 };
	char err[256];
	struct dkim_keys *keys = dkim_keys_new(&ko, err, sizeof(err));
	struct pipeline_job *job;
	const struct pipeline_result *r;

	assert_non_null(keys);
	/* require: signed and aligned is counted, with the verdict kept */
	job = run_dkim(t, PIPELINE_DKIM_REQUIRE, dkim_keys_lookup, keys, "rsa_relaxed.eml", 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_ACCEPTED);
	assert_non_null(pipeline_job_dkim(job));
	assert_int_equal(pipeline_job_dkim(job)->status, DKIM_PASS);
	pipeline_job_free(job);
	/* require: unsigned is kept in quarantine with its reason */
	job = run_dkim(t, PIPELINE_DKIM_REQUIRE, dkim_keys_lookup, keys, "unsigned.eml", 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_QUARANTINED);
	assert_int_equal(r->reject, PIPELINE_REJECT_DKIM);
	assert_string_equal(r->error.code, "dkim-none");
	assert_string_equal(r->error.reason, "dkim: no signature");
	pipeline_job_free(job);
	/* require, released by an operator: stored although unsigned (the fixtures all carry the
	 * same report, so from here on it is a duplicate of the first) */
	job = run_dkim(t, PIPELINE_DKIM_REQUIRE, dkim_keys_lookup, keys, "unsigned.eml", 1);
	assert_int_equal(pipeline_job_result(job)->verdict, PIPELINE_DUPLICATE);
	assert_int_equal(pipeline_job_dkim(job)->status, DKIM_NONE);
	pipeline_job_free(job);
	/* require, key lookup failing for now: temporary, nothing stored */
	job = run_dkim(t, PIPELINE_DKIM_REQUIRE, keys_temp, NULL, "rsa_simple.eml", 0);
	r = pipeline_job_result(job);
	assert_int_equal(r->verdict, PIPELINE_TEMPORARY);
	assert_int_equal(strncmp(r->temp_reason, "dkim: ", 6), 0);
	assert_int_equal(r->temp_dkim, 1);
	pipeline_job_free(job);
	/* record: a broken signature is stored all the same, the verdict says fail */
	job = run_dkim(t, PIPELINE_DKIM_RECORD, dkim_keys_lookup, keys, "revoked.eml", 0);
	assert_int_equal(pipeline_job_result(job)->verdict, PIPELINE_DUPLICATE);
	assert_int_equal(pipeline_job_dkim(job)->status, DKIM_FAIL);
	pipeline_job_free(job);
	/* off: not checked at all */
	job = run_dkim(t, PIPELINE_DKIM_OFF, dkim_keys_lookup, keys, "ed25519.eml", 0);
	assert_int_equal(pipeline_job_result(job)->verdict, PIPELINE_DUPLICATE);
	assert_null(pipeline_job_dkim(job));
	pipeline_job_free(job);
	dkim_keys_free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_then_gzip_duplicate, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_whole_message_only_where_allowed, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_served_domains, setup_served, teardown),
		cmocka_unit_test_setup_teardown(test_bad_policy_domain, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_rejections_are_quarantined, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_size_caps, setup_small, teardown),
		cmocka_unit_test(test_check_only_pipeline),
		cmocka_unit_test_setup_teardown(test_async_store, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_dkim_policies, setup_open, teardown),
	};
	rpt_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
