/*
 * test_query: storage/query.c (the read API's queries) and the rollups the writer keeps for
 * it (storage/store.c, schema/0002_api_rollups.sql), against a real SQLite file in a fresh
 * temporary directory. Reports are built by hand (struct rpt is public; arena NULL).
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

#include <jansson.h>
#include <sqlite3.h>

#include "collector/buf.h"
#include "storage/query.h"
#include "storage/store.h"
#include "web/respond.h"
#include "testutil.h"

#define DAY             INT64_C(86400)
#define D0              INT64_C(19783)      /* 2024-03-01 */
#define NPOL            4
#define NFAIL           8

struct tctx {
	char dir[64];
	char path[128];
	struct store *s;
};

struct fx {
	struct rpt rpt;
	struct rpt_policy pol[NPOL];
	struct rpt_failure fail[NPOL][NFAIL];
	const char *mx[NPOL][2];
	unsigned char sha[32];
	char org[48];
	char contact[64];
	char key[128];
	char rid[64];
	char raw[160];
	struct store_report sr;
	struct store_req req;
};

static unsigned fx_seq;

static int
setup(void **state)
{
	struct tctx *t = calloc(1, sizeof(*t));
	struct store_options o = { .busy_timeout_ms = 2000, .batch_max = 64, .queue_max = 4096,
		.readers = 2 };
	char err[256] = "";

	if (t == NULL)
		return -1;
	if (tu_db_make(t->dir, t->path, "test_query") != 0) {
		free(t);
		return -1;
	}
	o.path = t->path;
	if ((t->s = store_open(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
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

/* A report of org over [start, end] with no policies yet; distinct content every call. */
static void
fx_init(struct fx *f, const char *org, int64_t start, int64_t end)
{
	memset(f, 0, sizeof(*f));
	fx_seq++;
	snprintf(f->org, sizeof(f->org), "%s", org);
	snprintf(f->contact, sizeof(f->contact), "tlsrpt@%u.example", fx_seq);
	snprintf(f->key, sizeof(f->key), "%s\n%s", org, f->contact);
	snprintf(f->rid, sizeof(f->rid), "rid-%u", fx_seq);
	snprintf(f->raw, sizeof(f->raw), "not really gzip %u", fx_seq);
	for (size_t i = 0; i < sizeof(f->sha); i++)
		f->sha[i] = (unsigned char)(fx_seq * 31 + i);
	f->rpt.organization_name = f->org;
	f->rpt.contact_info = f->contact;
	f->rpt.report_id = f->rid;
	f->rpt.start = start;
	f->rpt.end = end;
	f->rpt.reporter_key = f->key;
	f->rpt.policies = f->pol;
	f->sr.rpt = &f->rpt;
	f->sr.sha256 = f->sha;
	f->sr.raw_gz = f->raw;
	f->sr.raw_gz_len = strlen(f->raw);
	f->sr.json_len = 100;
	f->req.report = &f->sr;
	f->req.copy.transport = "http";
	f->req.copy.peer = "192.0.2.9";
	f->req.copy.received_at = start + DAY + 600;
}

/* One-day report of org on epoch day d. */
static void
fx_day(struct fx *f, const char *org, int64_t d)
{
	fx_init(f, org, d * DAY, d * DAY + DAY - 1);
}

/* Adds a counted policy; returns its index. mode NULL for non-sts; mx1/mx2 its patterns. */
static size_t
fx_pol(struct fx *f, enum rpt_policy_type type, const char *domain, const char *mode,
    int64_t ok, int64_t failed, const char *mx1, const char *mx2)
{
	size_t i = f->rpt.n_policies++;
	struct rpt_policy *p = &f->pol[i];

	p->type = type;
	p->type_name = type == RPT_POLICY_STS ? "sts" : type == RPT_POLICY_TLSA ? "tlsa" :
	    "no-policy-found";
	p->domain = domain;
	p->sts_mode = mode;
	p->sts_max_age = -1;
	p->success = ok;
	p->failure = failed;
	p->counted = 1;
	p->failures = f->fail[i];
	f->mx[i][0] = mx1;
	f->mx[i][1] = mx2;
	p->sts_mx = f->mx[i];
	p->n_sts_mx = mx1 == NULL ? 0 : mx2 == NULL ? 1 : 2;
	return i;
}

static void
fx_fail(struct fx *f, size_t pol, const char *type, int64_t n, const char *sip, const char *mx,
    const char *rip)
{
	struct rpt_policy *p = &f->pol[pol];
	struct rpt_failure *d = &f->fail[pol][p->n_failures++];

	d->result_type = type;
	d->failed_session_count = n;
	d->sending_mta_ip = sip;
	d->receiving_mx_hostname = mx;
	d->receiving_ip = rip;
}

static void
fx_submit(struct tctx *t, struct fx *f)
{
	memset(&f->req.result, 0, sizeof(f->req.result));
	assert_int_equal(store_submit_wait(t->s, &f->req), STORE_NEW);
}

static sqlite3 *
db_open(struct tctx *t)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

/* First column of the first row as int64 (text args bound as ?1..); -999 when no row. */
static int64_t
qi(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Every row of sql as text, one line each (caller frees). */
static char *
dump(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	struct buf b;

	buf_init(&b, 64 * 1024 * 1024);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++)
			buf_printf(&b, "%s|", sqlite3_column_text(st, i) != NULL ?
			    (const char *)sqlite3_column_text(st, i) : "NULL");
		buf_puts(&b, "\n");
	}
	sqlite3_finalize(st);
	assert_int_equal(b.err, BUF_OK);
	return buf_detach(&b, NULL);
}

static json_t *
jpath(json_t *doc, const char *a, const char *b, const char *c)
{
	json_t *v = json_object_get(doc, a);

	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return v;
}

static int64_t
ji(json_t *doc, const char *a, const char *b, const char *c)
{
	json_t *v = jpath(doc, a, b, c);

	if (!json_is_integer(v))
		fail_msg("%s.%s.%s is not an integer", a, b ? b : "", c ? c : "");
	return json_integer_value(v);
}

/* The sessions of key in a breakdown's entries; -1 when absent. NULL key: the null entry. */
static int64_t
bd_get(json_t *summary, const char *name, const char *key)
{
	json_t *e, *entries = jpath(summary, "breakdowns", name, "entries");
	size_t i;

	json_array_foreach(entries, i, e) {
		json_t *k = json_object_get(e, "key");

		if ((key == NULL && json_is_null(k)) ||
		    (key != NULL && json_is_string(k) && strcmp(json_string_value(k), key) == 0))
			return json_integer_value(json_object_get(e, "sessions"));
	}
	return -1;
}

/* 1 when the readiness reasons (or notes) hold code. */
static int
has_code(json_t *doc, const char *list, const char *code)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(doc, list), i, e)
		if (strcmp(json_string_value(json_object_get(e, "code")), code) == 0)
			return 1;
	return 0;
}

/* ---- pure helpers ---- */

static void
test_mx_match(void **state)
{
	(void)state;
	assert_int_equal(query_mx_match("mx1.example.com", "mx1.example.com"), 1);
	assert_int_equal(query_mx_match("MX1.Example.com", "mx1.example.COM."), 1);
	assert_int_equal(query_mx_match("mx1.example.com.", "mx1.example.com"), 1);
	assert_int_equal(query_mx_match("mx1.example.com", "mx2.example.com"), 0);
	assert_int_equal(query_mx_match("mx1.example.com", "a.mx1.example.com"), 0);
	/* A wildcard covers exactly one more leftmost label. */
	assert_int_equal(query_mx_match("*.example.net", "mx1.example.net"), 1);
	assert_int_equal(query_mx_match("*.example.net", "MX1.EXAMPLE.NET"), 1);
	assert_int_equal(query_mx_match("*.example.net", "a.b.example.net"), 0);
	assert_int_equal(query_mx_match("*.example.net", "example.net"), 0);
	assert_int_equal(query_mx_match("*.example.net", ".example.net"), 0);
	assert_int_equal(query_mx_match("*.example.net", "mx1.example.org"), 0);
	assert_int_equal(query_mx_match("*.example.net", "mx1xexample.net"), 0);
	assert_int_equal(query_mx_match("*.example.net", "fooexample.net"), 0);
	/* '*' anywhere else, or alone, is no wildcard. */
	assert_int_equal(query_mx_match("mx*.example.net", "mx1.example.net"), 0);
	assert_int_equal(query_mx_match("*", "mx1"), 0);
	assert_int_equal(query_mx_match("*.", "mx1"), 0);
	assert_int_equal(query_mx_match("", "mx1"), 0);
	assert_int_equal(query_mx_match("mx1", ""), 0);
	assert_int_equal(query_mx_match(NULL, "mx1"), 0);
	assert_int_equal(query_mx_match("mx1", NULL), 0);
}

static void
test_calendar(void **state)
{
	char b[24];

	(void)state;
	assert_int_equal(query_month_of_day(0), 1970 * 12);
	assert_int_equal(query_month_first_day(1970 * 12), 0);
	assert_int_equal(query_month_of_day(D0), 2024 * 12 + 2);
	assert_int_equal(query_month_first_day(2024 * 12 + 2), D0);
	assert_int_equal(query_month_of_day(D0 - 1), 2024 * 12 + 1);  /* 2024-02-29 */
	assert_string_equal(query_day_text(D0 - 1, b, sizeof(b)), "2024-02-29");
	assert_string_equal(query_day_text(0, b, sizeof(b)), "1970-01-01");
	assert_string_equal(query_day_text(-1, b, sizeof(b)), "1969-12-31");
	assert_string_equal(query_day_text(QUERY_DAY_MAX, b, sizeof(b)), "9999-12-31");
	assert_string_equal(query_day_text(11016, b, sizeof(b)), "2000-02-29");
	/* Every day maps into its month, between that month's first day and the next's. */
	for (int64_t d = -800000; d < 3000000; d += 37) {
		int64_t m = query_month_of_day(d);

		assert_true(query_month_first_day(m) <= d);
		assert_true(query_month_first_day(m + 1) > d);
		assert_int_equal(query_month_of_day(query_month_first_day(m)), m);
	}
}

/* The polling helpers of web/respond.c the API answers with (pure header parsers). */
static void
test_http_headers(void **state)
{
	(void)state;
	assert_int_equal(web_accepts_gzip("gzip"), 1);
	assert_int_equal(web_accepts_gzip("deflate, gzip;q=0.5"), 1);
	assert_int_equal(web_accepts_gzip("GZIP"), 1);
	assert_int_equal(web_accepts_gzip("x-gzip"), 1);
	assert_int_equal(web_accepts_gzip("br, *"), 1);
	assert_int_equal(web_accepts_gzip("gzip;q=0, *"), 0);
	assert_int_equal(web_accepts_gzip("gzip ; q=0.000"), 0);
	assert_int_equal(web_accepts_gzip("*;q=0"), 0);
	assert_int_equal(web_accepts_gzip("identity"), 0);
	assert_int_equal(web_accepts_gzip("gzipped"), 0);
	assert_int_equal(web_accepts_gzip(""), 0);
	assert_int_equal(web_accepts_gzip(NULL), 0);
	assert_int_equal(web_etag_matches("W/\"abc\"", "W/\"abc\""), 1);
	assert_int_equal(web_etag_matches("\"abc\"", "W/\"abc\""), 1);   /* weak comparison */
	assert_int_equal(web_etag_matches("\"x\", W/\"abc\" ", "W/\"abc\""), 1);
	assert_int_equal(web_etag_matches("*", "W/\"abc\""), 1);
	assert_int_equal(web_etag_matches("W/\"abcd\"", "W/\"abc\""), 0);
	assert_int_equal(web_etag_matches("abc", "W/\"abc\""), 0);
	assert_int_equal(web_etag_matches("", "W/\"abc\""), 0);
	assert_int_equal(web_etag_matches(NULL, "W/\"abc\""), 0);
	assert_int_equal(web_etag_matches("*", ""), 0);
}

/* ---- rollups and the summary ---- */

static void
test_summary(void **state)
{
	struct tctx *t = *state;
	struct query_window w = { D0, D0 + 2 };
	struct fx f;
	json_t *s = NULL;
	size_t p;

	/* Google: sts and tlsa for the same sessions (Microsoft-style): counted once. */
	fx_day(&f, "Google Inc.", D0);
	p = fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 1000, 10, "mx1.example.com", NULL);
	fx_fail(&f, p, "certificate-expired", 6, "192.0.2.1", "mx1.example.com", "198.51.100.1");
	fx_fail(&f, p, "starttls-not-supported", 4, "192.0.2.2", "mx2.example.com", NULL);
	p = fx_pol(&f, RPT_POLICY_TLSA, "example.com", NULL, 1000, 10, NULL, NULL);
	fx_fail(&f, p, "tlsa-invalid", 10, "192.0.2.1", "mx1.example.com", NULL);
	fx_submit(t, &f);
	fx_day(&f, "Microsoft Corporation", D0 + 1);
	fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 500, 0, "mx1.example.com", NULL);
	fx_submit(t, &f);
	/* Another domain, another day: not in this summary. */
	fx_day(&f, "Google Inc.", D0 + 5);
	fx_pol(&f, RPT_POLICY_STS, "other.example", "enforce", 7, 0, "mx.other.example", NULL);
	fx_submit(t, &f);

	assert_int_equal(query_summary(t->s, "example.com", &w, 100, &s), 0);
	assert_int_equal(ji(s, "totals", "sessions", NULL), 1510);
	assert_int_equal(ji(s, "totals", "failures", NULL), 10);
	assert_int_equal(ji(s, "totals", "reports", NULL), 2);
	assert_int_equal(bd_get(s, "result_type", "certificate-expired"), 6);
	assert_int_equal(bd_get(s, "result_type", "starttls-not-supported"), 4);
	assert_int_equal(bd_get(s, "result_type", "tlsa-invalid"), -1);  /* not standing */
	assert_int_equal(bd_get(s, "reporter", "Google Inc."), 1010);
	assert_int_equal(bd_get(s, "reporter", "Microsoft Corporation"), 500);
	assert_int_equal(bd_get(s, "receiving_mx", "mx2.example.com"), 4);
	assert_int_equal(bd_get(s, "receiving_ip", NULL), 4);
	assert_int_equal(bd_get(s, "receiving_ip", "198.51.100.1"), 6);
	assert_int_equal(bd_get(s, "sending_ip", "192.0.2.2"), 4);
	assert_int_equal(bd_get(s, "policy_type", "sts"), 1510);
	assert_int_equal(bd_get(s, "policy_type", "tlsa"), 1010);
	assert_int_equal(ji(s, "breakdowns", "result_type", "total"), 10);
	assert_true(json_is_null(jpath(s, "breakdowns", "result_type", "other")));
	json_decref(s);

	/* top 1: one entry, the rest on the other line. */
	assert_int_equal(query_summary(t->s, "example.com", &w, 1, &s), 0);
	assert_int_equal(json_array_size(jpath(s, "breakdowns", "result_type", "entries")), 1);
	assert_int_equal(ji(jpath(s, "breakdowns", "result_type", "other"), "sessions", NULL, NULL),
	    4);
	assert_int_equal(ji(jpath(s, "breakdowns", "result_type", "other"), "keys", NULL, NULL), 1);
	json_decref(s);

	/* The window is honoured: only Microsoft's day. */
	w.from_day = D0 + 1;
	assert_int_equal(query_summary(t->s, "example.com", &w, 100, &s), 0);
	assert_int_equal(ji(s, "totals", "sessions", NULL), 500);
	assert_int_equal(bd_get(s, "reporter", "Google Inc."), -1);
	json_decref(s);

	assert_int_equal(query_summary(t->s, "nowhere.example", &w, 100, &s), STORE_NOTFOUND);
	assert_null(s);
	w.to_day = w.from_day;
	assert_int_equal(query_summary(t->s, "example.com", &w, 100, &s), STORE_ERR);

	/* /domains: both domains, totals and the previous window. */
	w.from_day = D0 + 1;
	w.to_day = D0 + 2;
	assert_int_equal(query_domains(t->s, &w, NULL, NULL, &s), 0);
	assert_int_equal(json_array_size(json_object_get(s, "domains")), 2);
	{
		json_t *d = json_array_get(json_object_get(s, "domains"), 0);

		assert_string_equal(json_string_value(json_object_get(d, "domain")), "example.com");
		assert_int_equal(ji(d, "sessions", NULL, NULL), 500);
		assert_int_equal(ji(d, "previous", "sessions", NULL), 1010);
		assert_int_equal(ji(d, "change", "sessions", NULL), -510);
		assert_int_equal(ji(d, "reporters", NULL, NULL), 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(d, "policy_modes"), 0), "mode")), "testing");
	}
	json_decref(s);
}

static int
only_other(void *arg, const char *domain)
{
	(void)arg;
	return domain != NULL && strcmp(domain, "other.example") == 0;
}

static void
test_domains_visible(void **state)
{
	struct tctx *t = *state;
	struct query_window w = { D0, D0 + 30 };
	struct fx f;
	json_t *s = NULL;

	fx_day(&f, "Google Inc.", D0);
	fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 10, 0, NULL, NULL);
	fx_submit(t, &f);
	fx_day(&f, "Google Inc.", D0);
	fx_pol(&f, RPT_POLICY_STS, "other.example", "testing", 10, 0, NULL, NULL);
	fx_submit(t, &f);
	assert_int_equal(query_domains(t->s, &w, only_other, NULL, &s), 0);
	assert_int_equal(json_array_size(json_object_get(s, "domains")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(s, "domains"), 0), "domain")), "other.example");
	json_decref(s);
}

/*
 * A window over a month boundary is split over its days and months; every summary window
 * answers what the day rows alone say.
 */
static void
test_months(void **state)
{
	struct tctx *t = *state;
	int64_t feb28 = D0 - 2, start = feb28 * DAY + DAY / 2, end = (D0 + 1) * DAY + DAY / 2;
	struct fx f;
	sqlite3 *db;
	json_t *s = NULL;
	size_t p;

	fx_init(&f, "Stalwart", start, end);    /* Feb 28 12:00 .. Mar 2 12:00: 4 days */
	p = fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 4000, 1001, NULL, NULL);
	fx_fail(&f, p, "validation-failure", 1001, "203.0.113.7", "mx1.example.com", "198.51.100.1");
	fx_submit(t, &f);
	for (int64_t d = D0 - 40; d < D0 + 40; d += 3) {
		fx_day(&f, "Google Inc.", d);
		p = fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 100, 9, NULL, NULL);
		fx_fail(&f, p, "certificate-expired", 5, "203.0.113.7", "mx1.example.com", NULL);
		fx_fail(&f, p, "certificate-expired", 4, "203.0.113.8", "mx1.example.com", NULL);
		fx_submit(t, &f);
	}
	db = db_open(t);
	/* Month rows are the sums of their day rows; the split adds up. */
	assert_int_equal(qi(db, "SELECT count(*) FROM roll_sender m WHERE grain = 1 AND failed <>"
	    " (SELECT sum(failed) FROM roll_sender d WHERE d.grain = 0 AND d.domain = m.domain AND"
	    " d.ip = m.ip AND CAST(strftime('%Y', d.period * 86400, 'unixepoch') AS INTEGER) * 12 +"
	    " CAST(strftime('%m', d.period * 86400, 'unixepoch') AS INTEGER) - 1 = m.period)"), 0);
	assert_true(qi(db, "SELECT count(*) FROM roll_sender WHERE grain = 1") > 0);
	{
		int64_t want = 1001;

		for (int64_t d = feb28; d <= D0 + 1; d++)
			want += (d - (D0 - 40)) % 3 == 0 ? 5 : 0;
		assert_int_equal(qi(db, "SELECT sum(failed) FROM roll_sender WHERE grain = 0 AND"
		    " ip = '203.0.113.7' AND period BETWEEN 19781 AND 19784"), want);
	}
	/* Many windows: the sending_ip breakdown (months + days) equals the day rows' sum. */
	for (int64_t a = D0 - 45; a < D0 + 10; a += 4) {
		for (int64_t b = a + 1; b < D0 + 45; b += 7) {
			struct query_window w = { a, b };
			char sql[256];
			int64_t want;

			snprintf(sql, sizeof(sql), "SELECT coalesce(sum(failed), 0) FROM roll_sender WHERE"
			    " grain = 0 AND period >= %lld AND period < %lld", (long long)a, (long long)b);
			want = qi(db, sql);
			assert_int_equal(query_summary(t->s, "example.com", &w, 10, &s), 0);
			assert_int_equal(ji(s, "breakdowns", "sending_ip", "total"), want);
			assert_int_equal(ji(s, "breakdowns", "result_type", "total"), want);
			snprintf(sql, sizeof(sql), "SELECT coalesce(sum(successful + failed), 0) FROM"
			    " daily_domain WHERE day >= %lld AND day < %lld", (long long)a, (long long)b);
			assert_int_equal(ji(s, "breakdowns", "reporter", "total"), qi(db, sql));
			json_decref(s);
		}
	}
	sqlite3_close(db);
}

static void
test_timeseries(void **state)
{
	struct tctx *t = *state;
	struct query_window w = { D0 - 3, D0 + 10 };    /* Tue 2024-02-27 .. Sun 2024-03-10 */
	struct fx f;
	json_t *s = NULL, *b;
	size_t p;

	fx_day(&f, "Google Inc.", D0);
	p = fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 90, 10, NULL, NULL);
	fx_fail(&f, p, "certificate-expired", 7, NULL, NULL, NULL);
	fx_fail(&f, p, "starttls-not-supported", 3, NULL, NULL, NULL);
	fx_submit(t, &f);
	fx_day(&f, "Google Inc.", D0 + 5);
	fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 50, 0, NULL, NULL);
	fx_submit(t, &f);

	assert_int_equal(query_timeseries(t->s, "example.com", &w, 1, &s), 0);
	b = json_object_get(s, "buckets");
	assert_int_equal(json_array_size(b), 13);
	assert_int_equal(ji(json_array_get(b, 0), "sessions", NULL, NULL), 0);
	assert_int_equal(ji(json_array_get(b, 0), "by_result_type", "certificate-expired", NULL), 0);
	assert_int_equal(ji(json_array_get(b, 3), "failed", NULL, NULL), 10);
	assert_int_equal(ji(json_array_get(b, 3), "by_result_type", "certificate-expired", NULL), 7);
	assert_int_equal(ji(json_array_get(b, 8), "successful", NULL, NULL), 50);
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 3), "start")),
	    "2024-03-01");
	assert_int_equal(json_array_size(json_object_get(s, "result_types")), 2);
	json_decref(s);

	/* Weeks start on Monday: Tue 27 .. Sun 3 | Mon 4 .. Sun 10, clipped to the window. */
	assert_int_equal(query_timeseries(t->s, "example.com", &w, 7, &s), 0);
	b = json_object_get(s, "buckets");
	assert_int_equal(json_array_size(b), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "start")),
	    "2024-02-27");
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "end")),
	    "2024-03-04");
	assert_int_equal(ji(json_array_get(b, 0), "sessions", NULL, NULL), 100);
	assert_int_equal(ji(json_array_get(b, 1), "sessions", NULL, NULL), 50);
	json_decref(s);
	assert_int_equal(query_timeseries(t->s, "example.com", &w, 3, &s), STORE_ERR);
}

/* ---- readiness ---- */

/* days of sts reports before today from each org, ok sessions each, mode and patterns. */
static void
clean_days(struct tctx *t, const char *domain, int64_t today, int days, const char *const *orgs,
    int64_t ok, const char *mode, const char *mx1, const char *mx2)
{
	struct fx f;

	for (int i = 1; i <= days; i++)
		for (const char *const *o = orgs; *o != NULL; o++) {
			fx_day(&f, *o, today - i);
			fx_pol(&f, RPT_POLICY_STS, domain, mode, ok, 0, mx1, mx2);
			fx_submit(t, &f);
		}
}

static void
test_readiness(void **state)
{
	static const char *const both[] = { "Google Inc.", "Microsoft Corporation", NULL };
	static const char *const one[] = { "Mail.ru", NULL };
	struct tctx *t = *state;
	int64_t today = D0 + 20;
	struct fx f;
	json_t *r = NULL;
	size_t p;

	/* Ten clean days from two reporters: ready. */
	clean_days(t, "ready.example", today, 10, both, 100, "testing", "*.mx.ready.example", NULL);
	fx_day(&f, "Google Inc.", today - 2);
	p = fx_pol(&f, RPT_POLICY_STS, "ready.example", "testing", 10, 0, "*.mx.ready.example", NULL);
	fx_submit(t, &f);
	assert_int_equal(query_readiness(t->s, "ready.example", today, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "ready");
	assert_int_equal(json_array_size(json_object_get(r, "reasons")), 0);
	assert_int_equal(ji(r, "days_of_data", "clean_days", NULL), 10);
	assert_int_equal(ji(r, "sessions", "sts", NULL), 2010);
	assert_true(json_is_true(jpath(r, "reporters", "major", "google")));
	assert_false(has_code(r, "notes", "major-reporter-missing"));
	json_decref(r);

	/* The same with one failing day: not-ready, would-refuse. */
	clean_days(t, "fail.example", today, 10, both, 100, "testing", "mx1.fail.example", NULL);
	fx_day(&f, "Google Inc.", today - 4);
	p = fx_pol(&f, RPT_POLICY_STS, "fail.example", "testing", 95, 5, "mx1.fail.example", NULL);
	fx_fail(&f, p, "certificate-expired", 5, "192.0.2.1", "mx1.fail.example", NULL);
	fx_submit(t, &f);
	assert_int_equal(query_readiness(t->s, "fail.example", today, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "not-ready");
	assert_true(has_code(r, "reasons", "would-refuse"));
	assert_false(has_code(r, "reasons", "mx-outside-policy"));
	assert_int_equal(ji(r, "sessions", "would_refuse", NULL), 5);
	assert_int_equal(ji(r, "days_of_data", "clean_days", NULL), 3);
	json_decref(r);
	/* Over the last 3 days the failure is out of the window: 2 clean days of 2 needed. */
	assert_int_equal(query_readiness(t->s, "fail.example", today, 3, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "ready");
	json_decref(r);

	/* Two days from one reporter: insufficient data, every reason named. */
	clean_days(t, "little.example", today, 2, one, 30, "testing", "mx.little.example", NULL);
	assert_int_equal(query_readiness(t->s, "little.example", today, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "insufficient-data");
	assert_true(has_code(r, "reasons", "too-few-sessions"));
	assert_true(has_code(r, "reasons", "too-few-reporters"));
	assert_true(has_code(r, "reasons", "too-few-clean-days"));
	assert_true(has_code(r, "notes", "major-reporter-missing"));
	json_decref(r);

	/* An MX that no pattern covers (one label too many for the wildcard). */
	clean_days(t, "mx.example", today, 10, both, 100, "testing", "*.mx.example", "mx.example");
	fx_day(&f, "Microsoft Corporation", today - 3);
	p = fx_pol(&f, RPT_POLICY_STS, "mx.example", "testing", 100, 2, "*.mx.example", "mx.example");
	fx_fail(&f, p, "validation-failure", 1, NULL, "a.b.mx.example", NULL);
	fx_fail(&f, p, "validation-failure", 1, NULL, "mx1.mx.example", NULL);
	fx_submit(t, &f);
	assert_int_equal(query_readiness(t->s, "mx.example", today, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "not-ready");
	assert_true(has_code(r, "reasons", "mx-outside-policy"));
	{
		json_t *mx = json_object_get(r, "receiving_mx"), *e;
		size_t i;
		int seen = 0;

		json_array_foreach(mx, i, e) {
			const char *h = json_string_value(json_object_get(e, "host"));

			if (strcmp(h, "a.b.mx.example") == 0)
				seen |= json_is_false(json_object_get(e, "in_policy")) ? 1 : 4;
			if (strcmp(h, "mx1.mx.example") == 0)
				seen |= json_is_true(json_object_get(e, "in_policy")) ? 2 : 4;
		}
		assert_int_equal(seen, 3);
	}
	json_decref(r);

	/* Enforce mode failures and a recent policy fetch error. */
	clean_days(t, "enf.example", today, 10, both, 100, "enforce", "mx.enf.example", NULL);
	fx_day(&f, "Google Inc.", today - 1);
	p = fx_pol(&f, RPT_POLICY_STS, "enf.example", "enforce", 100, 3, "mx.enf.example", NULL);
	fx_fail(&f, p, "sts-policy-fetch-error", 2, NULL, NULL, NULL);
	fx_fail(&f, p, "sts-webpki-invalid", 1, NULL, NULL, NULL);
	fx_submit(t, &f);
	assert_int_equal(query_readiness(t->s, "enf.example", today, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "not-ready");
	assert_true(has_code(r, "reasons", "refused-in-enforce"));
	assert_true(has_code(r, "reasons", "policy-fetch-errors"));
	assert_true(has_code(r, "reasons", "webpki-errors"));
	assert_false(has_code(r, "reasons", "would-refuse"));
	json_decref(r);

	/* Stale: the last data is a week old. */
	assert_int_equal(query_readiness(t->s, "ready.example", today + 7, 14, &r), 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "insufficient-data");
	assert_true(has_code(r, "reasons", "stale-data"));
	json_decref(r);

	assert_int_equal(query_readiness(t->s, "nowhere.example", today, 14, &r), STORE_NOTFOUND);
	assert_int_equal(query_readiness(t->s, "ready.example", today, 0, &r), STORE_ERR);
	assert_int_equal(query_readiness(t->s, "ready.example", today, QUERY_READY_DAYS_MAX + 1, &r),
	    STORE_ERR);
}

/* ---- reports ---- */

static int
no_other(void *arg, const char *domain)
{
	(void)arg;
	return domain != NULL && strcmp(domain, "other.example") != 0;
}

/* Every id a query yields, page by page with limit; returns the count (ids in out). */
static int
page_all(struct tctx *t, struct query_reports *q, query_visible_fn vis, int64_t *out, int max)
{
	int n = 0;

	q->before_id = 0;
	for (int guard = 0; guard < 1000; guard++) {
		json_t *doc = NULL, *e, *nb;
		size_t i;

		assert_int_equal(query_reports(t->s, q, vis, NULL, &doc), 0);
		json_array_foreach(json_object_get(doc, "reports"), i, e) {
			assert_true(n < max);
			out[n++] = json_integer_value(json_object_get(e, "id"));
		}
		nb = json_object_get(doc, "next_before");
		if (json_is_null(nb)) {
			json_decref(doc);
			return n;
		}
		q->before_id = json_integer_value(nb);
		json_decref(doc);
	}
	fail_msg("pagination did not end");
	return -1;
}

static void
test_reports(void **state)
{
	struct tctx *t = *state;
	struct query_reports q = { .limit = 2, .has_failures = -1 };
	int64_t ids[64], want[64];
	int n, nw = 0;
	struct fx f;
	size_t p;

	for (int i = 0; i < 9; i++) {
		fx_day(&f, i % 3 == 0 ? "Google Inc." : "Microsoft Corporation", D0 + i);
		p = fx_pol(&f, RPT_POLICY_STS, i % 2 ? "example.com" : "other.example", "testing",
		    10, i % 4 == 0 ? 1 : 0, NULL, NULL);
		if (i % 4 == 0)
			fx_fail(&f, p, i == 4 ? "starttls-not-supported" : "certificate-expired", 1,
			    NULL, NULL, NULL);
		if (i == 7)     /* two policies of one domain: listed once */
			fx_pol(&f, RPT_POLICY_TLSA, "example.com", NULL, 10, 0, NULL, NULL);
		fx_submit(t, &f);
		want[nw++] = f.req.result.report_id;
	}
	/* Everything, newest first, page by page. */
	n = page_all(t, &q, NULL, ids, 64);
	assert_int_equal(n, 9);
	for (int i = 0; i < n; i++)
		assert_int_equal(ids[i], want[8 - i]);
	/* One domain (the policies index drives it). */
	q.domain = "example.com";
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 4);
	assert_int_equal(ids[0], want[7]);
	q.domain = NULL;
	/* Reporter, any case. */
	q.reporter = "google inc.";
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 3);
	q.reporter = NULL;
	/* With and without failures; by result type. */
	q.has_failures = 1;
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 3);
	q.has_failures = 0;
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 6);
	q.has_failures = -1;
	q.result_type = "starttls-not-supported";
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 1);
	assert_int_equal(ids[0], want[4]);
	q.result_type = NULL;
	/* Windows ending after from and starting before to. */
	q.has_from = q.has_to = 1;
	q.from_ts = (D0 + 2) * DAY;
	q.to_ts = (D0 + 5) * DAY;
	assert_int_equal(page_all(t, &q, NULL, ids, 64), 3);
	q.has_from = q.has_to = 0;
	/* Visibility: other.example's reports left out. */
	assert_int_equal(page_all(t, &q, no_other, ids, 64), 4);
	q.limit = QUERY_LIST_MAX + 1;
	{
		json_t *doc = NULL;

		assert_int_equal(query_reports(t->s, &q, NULL, NULL, &doc), STORE_ERR);
		assert_null(doc);
	}
}

/* ---- quarantine, stats, data version ---- */

static void
test_quarantine(void **state)
{
	struct tctx *t = *state;
	unsigned char sha[32];
	struct store_quarantine sq = { .sha256 = sha, .raw_gz = "\x1f\x8b junk", .raw_gz_len = 7,
		.raw_len = 5, .reason_code = "not-json", .reason = "not JSON",
		.detail_json = "{\"line\":1}" };
	struct store_req req;
	struct buf raw;
	int64_t v0[4], v1[4], qid, rid;
	char status[16], transport[32];
	struct fx f;
	json_t *doc = NULL;

	memset(sha, 7, sizeof(sha));
	memset(&req, 0, sizeof(req));
	req.quarantine = &sq;
	req.copy.transport = "smtp";
	req.copy.received_at = D0 * DAY;
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);
	qid = req.result.quarantine_id;
	memset(&req.result, 0, sizeof(req.result));
	req.copy.transport = "http";
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);

	assert_int_equal(query_quarantine_list(t->s, 10, 0, NULL, &doc), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "quarantine")), 1);
	json_decref(doc);
	assert_int_equal(query_quarantine_get(t->s, qid, &doc), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "copies")), 2);
	assert_int_equal(ji(doc, "seen_count", NULL, NULL), 2);
	assert_int_equal(ji(doc, "detail", "line", NULL), 1);
	json_decref(doc);
	buf_init(&raw, 1024);
	assert_int_equal(query_quarantine_raw(t->s, qid, &raw, status, transport, NULL), 0);
	assert_int_equal(raw.len, 7);
	assert_string_equal(status, "held");
	assert_string_equal(transport, "smtp");
	buf_free(&raw);

	/* Marked reprocessed: the data version moves without a new copy. */
	fx_day(&f, "Google Inc.", D0);
	fx_pol(&f, RPT_POLICY_STS, "example.com", "testing", 1, 0, NULL, NULL);
	fx_submit(t, &f);
	rid = f.req.result.report_id;
	assert_int_equal(query_data_version(t->s, v0), 0);
	assert_int_equal(query_quarantine_mark(t->s, qid, rid), 0);
	assert_int_equal(query_data_version(t->s, v1), 0);
	assert_true(memcmp(v0, v1, sizeof(v0)) != 0);
	assert_int_equal(query_quarantine_list(t->s, 10, 0, "held", &doc), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "quarantine")), 0);
	json_decref(doc);
	assert_int_equal(query_quarantine_get(t->s, qid, &doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "reprocessed");
	assert_int_equal(ji(doc, "report", NULL, NULL), rid);
	json_decref(doc);

	/* Stats: arrivals by transport and verdict. */
	assert_int_equal(query_stats(t->s, &doc), 0);
	assert_int_equal(ji(doc, "ingest", "by_verdict", "quarantined"), 2);
	assert_int_equal(ji(doc, "ingest", "by_verdict", "accepted"), 1);
	assert_int_equal(json_integer_value(json_object_get(jpath(doc, "ingest", "by_transport",
	    "smtp"), "quarantined")), 1);
	assert_true(ji(doc, "database", "bytes", NULL) > 0);
	json_decref(doc);

	/* Deleted: row, raw and copies gone; the version moves again. */
	assert_int_equal(query_quarantine_delete(t->s, qid), 0);
	assert_int_equal(query_data_version(t->s, v0), 0);
	assert_true(memcmp(v0, v1, sizeof(v0)) != 0);
	assert_int_equal(query_quarantine_get(t->s, qid, &doc), STORE_NOTFOUND);
	assert_int_equal(query_quarantine_delete(t->s, qid), STORE_NOTFOUND);
	assert_int_equal(query_quarantine_mark(t->s, qid, rid), STORE_NOTFOUND);
	/* The same bytes again make a new row (its id may be the deleted one's again). */
	memset(&req.result, 0, sizeof(req.result));
	assert_int_equal(store_submit_wait(t->s, &req), STORE_QUARANTINED);
	assert_int_equal(query_quarantine_get(t->s, req.result.quarantine_id, &doc), 0);
	assert_int_equal(ji(doc, "seen_count", NULL, NULL), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "status")), "held");
	assert_true(json_is_null(json_object_get(doc, "report")));
	json_decref(doc);
}

/* ---- migration 0002 on a database that already has rows ---- */

static const char *const mig_dumps[] = {
	"SELECT * FROM roll_reporter ORDER BY 1, 2, 3",
	"SELECT * FROM roll_path ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
	"SELECT * FROM roll_sender ORDER BY 1, 2, 3, 4",
	"SELECT domain, day, mode, reports, successful, failed FROM roll_sts ORDER BY 1, 2, 3",
	"SELECT * FROM ingest_daily ORDER BY 1, 2, 3",
};

static void
test_migration_backfill(void **state)
{
	struct tctx *t = *state;
	struct store_options o = { .path = t->path, .busy_timeout_ms = 2000, .batch_max = 64,
		.queue_max = 4096, .readers = 2 };
	char *before[5], err[256];
	struct fx f;
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t p;

	/* A mix: multi-day windows (one over 366 days), sts + tlsa, a conflict, a duplicate. */
	for (int i = 0; i < 40; i++) {
		int64_t s = (D0 + i) * DAY + (i % 5) * 7200;
		int64_t e = s + (i % 7 == 0 ? 3 * DAY + 1234 : i == 13 ? 400 * DAY : DAY - 1);

		fx_init(&f, i % 3 ? "Google Inc." : "Microsoft Corporation", s, e);
		p = fx_pol(&f, RPT_POLICY_STS, i % 4 ? "example.com" : "b.example", i % 2 ?
		    "testing" : "enforce", 1000 + i * 37, 17 + i, "mx1.example.com", NULL);
		fx_fail(&f, p, "certificate-expired", 7 + i, "192.0.2.1", "mx1.example.com", NULL);
		fx_fail(&f, p, "certificate-expired", 3, "192.0.2.1", "mx1.example.com", NULL);
		fx_fail(&f, p, "validation-failure", 7, "192.0.2.9", NULL, "2001:db8::1");
		fx_fail(&f, p, "validation-failure", RPT_COUNT_MISSING, "192.0.2.8", NULL, NULL);
		if (i % 5 == 0) {
			p = fx_pol(&f, RPT_POLICY_TLSA, i % 4 ? "example.com" : "b.example", NULL,
			    2000, 3, NULL, NULL);
			fx_fail(&f, p, "tlsa-invalid", 3, "192.0.2.1", "mx1.example.com", NULL);
		}
		fx_submit(t, &f);
		if (i == 11) {
			/* The same again: a duplicate; other content, same key: a conflict. */
			memset(&f.req.result, 0, sizeof(f.req.result));
			assert_int_equal(store_submit_wait(t->s, &f.req), STORE_DUP);
			f.sha[0] ^= 0xff;
			memset(&f.req.result, 0, sizeof(f.req.result));
			assert_int_equal(store_submit_wait(t->s, &f.req), STORE_CONFLICT);
		}
	}
	store_close(t->s);
	t->s = NULL;

	db = db_open(t);
	for (int i = 0; i < 5; i++)
		before[i] = dump(db, mig_dumps[i]);
	/* Back to the shape of version 1: drop what later migrations made. */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT type, name FROM sqlite_schema WHERE"
	    " type IN ('table', 'trigger') AND name NOT IN ('reports', 'quarantine',"
	    " 'report_copies', 'policies', 'failures', 'daily_domain', 'daily_policy', 'meta')"
	    " AND name NOT LIKE 'sqlite_%' ORDER BY type DESC", -1, &st, NULL), SQLITE_OK);
	{
		char *drops[32];
		int n = 0;

		while (sqlite3_step(st) == SQLITE_ROW && n < 32) {
			char sql[160];

			snprintf(sql, sizeof(sql), "DROP %s \"%s\"", sqlite3_column_text(st, 0),
			    sqlite3_column_text(st, 1));
			drops[n++] = strdup(sql);
		}
		sqlite3_finalize(st);
		for (int i = 0; i < n; i++) {
			if (sqlite3_exec(db, drops[i], NULL, NULL, NULL) != SQLITE_OK)
				fail_msg("%s: %s", drops[i], sqlite3_errmsg(db));
			free(drops[i]);
		}
	}
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE quarantine DROP COLUMN report;"
	    " DELETE FROM meta WHERE key <> 'heartbeat'; PRAGMA user_version = 1", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(qi(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('roll_reporter',"
	    " 'roll_path', 'roll_sender', 'roll_sts', 'ingest_daily')"), 0);
	sqlite3_close(db);

	/* Migrating again backfills exactly what the writer wrote (roll_sts.mx aside). */
	assert_non_null(t->s = store_open(&o, err, sizeof(err)));
	db = db_open(t);
	for (int i = 0; i < 5; i++) {
		char *after = dump(db, mig_dumps[i]);

		if (strcmp(before[i], after) != 0)
			fail_msg("%s differs after the backfill:\nwriter:\n%.2000s\nbackfill:\n%.2000s",
			    mig_dumps[i], before[i], after);
		assert_true(strlen(after) > 0);
		free(after);
		free(before[i]);
	}
	assert_int_equal(qi(db, "SELECT count(*) FROM roll_sts WHERE mx <> ''"), 0);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_http_headers),
		cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains_visible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_months, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeseries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readiness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_backfill, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
