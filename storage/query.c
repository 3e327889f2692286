/* query: the read queries of the JSON API (see storage/query.h). */
#include "storage/query.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "collector/log.h"
#include "storage/store_int.h"

/* Result types whose failed sessions an enforced MTA-STS policy refuses (RFC 8460 §4.3). */
static const char *const query_refuse_types[] = {
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure",
	"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
};
/* The rest of the registry: DANE types, not about MTA-STS. */
static const char *const query_dane_types[] = { "tlsa-invalid", "dnssec-invalid", "dane-required" };

#define QUERY_TS_TYPES_MAX      16      /* result types with their own series in a timeseries */
#define QUERY_TS_SERIES_MAX     256     /* result types counted per bucket while reading */
#define QUERY_MX_PATTERNS_MAX   64      /* mx patterns of the newest sts policies looked at */
#define QUERY_MONDAY            4       /* epoch day 4, 1970-01-05, was a Monday */
#define QUERY_DOMAIN_TEXT_MAX   1024    /* a policy domain as stored (normalised: <= 253) */
#define QUERY_PATH_PART_MAX     512     /* bytes of a result type, MX or IP told apart */

/* Readiness (see query_readiness). */
#define READY_MIN_SESSIONS      100     /* fewer sts sessions in the window: insufficient data */
#define READY_MIN_REPORTERS     2       /* fewer distinct reporters: insufficient data */
#define READY_RECENT_DAYS       3       /* "outstanding" fetch / WebPKI errors: the last days */
#define READY_LAG_DAYS          2       /* today and yesterday may have no reports yet */

/* ---- small pure helpers ---- */

static int64_t
query_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Civil date of an epoch day (proleptic Gregorian): eras of 400 years, March-based years. */
static void
query_civil(int64_t day, int64_t *y, int *m, int *d)
{
	int64_t z = day + 719468;
	int64_t era = query_floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t
query_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = query_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t
query_month_of_day(int64_t day)
{
	int64_t y;
	int m, d;

	query_civil(day, &y, &m, &d);
	return y * 12 + m - 1;
}

int64_t
query_month_first_day(int64_t month)
{
	int64_t y = query_floor_div(month, 12);

	return query_days_from_civil(y, (int)(month - y * 12) + 1, 1);
}

const char *
query_day_text(int64_t day, char *buf, size_t len)
{
	int64_t y;
	int m, d;

	query_civil(day, &y, &m, &d);
	if (snprintf(buf, len, "%04" PRId64 "-%02d-%02d", y, m, d) >= (int)len && len > 0)
		buf[len - 1] = '\0';
	return buf;
}

int
query_mx_match(const char *pattern, const char *host)
{
	size_t pl, hl, sl;

	if (pattern == NULL || host == NULL)
		return 0;
	pl = strlen(pattern);
	hl = strlen(host);
	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == 0 || hl == 0)
		return 0;
	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* ".example.net": the host is one non-empty label without dots, then that. */
		sl = pl - 1;
		if (hl <= sl || strncasecmp(host + hl - sl, pattern + 1, sl) != 0)
			return 0;
		return memchr(host, '.', hl - sl) == NULL;
	}
	return pl == hl && strncasecmp(pattern, host, pl) == 0;
}

/* ---- the read context: one pooled connection, one snapshot ---- */

struct qctx {
	struct store *s;
	struct store_reader *rd;
	sqlite3 *db;
	int rc;                 /* first failure: STORE_TEMP or STORE_ERR; 0 while all is well */
	const char *what;       /* for the log line */
};

/* Records an SQLite failure (the first one wins) and logs it. */
static void
q_fail(struct qctx *q, int rc, const char *what)
{
	char m[200];

	if (q->rc != 0)
		return;
	q->rc = store_sqlite_rc(rc);
	log_warn("query-failed", "query=%s what=%s error=%s", q->what, what,
	    log_q(m, sizeof(m), sqlite3_errmsg(q->db), (size_t)-1));
}

/* Borrows a reader and opens a read transaction. 0 or STORE_TEMP / STORE_ERR. */
static int
q_open(struct qctx *q, struct store *s, const char *what)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->s = s;
	q->what = what;
	q->db = store_reader_db(s, &q->rd);
	if ((rc = sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		q_fail(q, rc, "begin");
	return q->rc;
}

static void
q_close(struct qctx *q)
{
	if (q->rd == NULL)
		return;
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL);
	store_reader_done(q->s, q->rd);
	q->rd = NULL;
}

/* Prepares sql on the borrowed connection; NULL on failure (recorded). */
static sqlite3_stmt *
q_prep(struct qctx *q, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (q->rc != 0)
		return NULL;
	if ((rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL)) != SQLITE_OK) {
		q_fail(q, rc, "prepare");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Steps st: 1 for a row, 0 at the end, -1 on failure (recorded). */
static int
q_step(struct qctx *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	q_fail(q, rc, "step");
	return -1;
}

/* Rewinds st for new bindings. */
static void
q_rewind(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Records a failed bind chain (acc is the first failing SQLite code). */
static void
q_bind_check(struct qctx *q, int acc)
{
	if (acc != SQLITE_OK)
		q_fail(q, acc, "bind");
}

static void
q_acc(int *acc, int rc)
{
	if (*acc == SQLITE_OK)
		*acc = rc;
}

/* The final answer: q->rc, or STORE_ERR when a JSON step failed (oom) without SQLite's help. */
static int
q_result(struct qctx *q, int json_ok)
{
	if (q->rc != 0)
		return q->rc;
	return json_ok ? 0 : STORE_ERR;
}

/* ---- JSON helpers ---- */

/* A text column as a JSON string; NULL and, when empty_null, "" become JSON null. */
static json_t *
q_time(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[40];

	if (gmtime_r(&tt, &tm) == NULL)
		return json_integer(t);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return json_string(buf);
}

static json_t *
q_col_time(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return q_time(sqlite3_column_int64(st, i));
}

static json_t *
q_day(int64_t day)
{
	char buf[24];

	return json_string(query_day_text(day, buf, sizeof(buf)));
}

static json_t *
q_col_id(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, i));
}

static json_t *
q_col_json(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_loadb(t, (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, NULL);
}

/* num / den as a JSON real, null when den is 0. */
static json_t *
q_ratio(int64_t num, int64_t den)
{
	return den > 0 ? json_real((double)num / (double)den) : json_null();
}

/* Sets key on obj to v (stolen); 0, or -1 when v is NULL or the set failed. */
static int
q_set(json_t *obj, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(obj, key, v) == 0 ? 0 : -1;
}

static int
q_push(json_t *arr, json_t *v)
{
	return v != NULL && json_array_append_new(arr, v) == 0 ? 0 : -1;
}

/* {"from": RFC 3339, "to": RFC 3339, "days": n} of a day window. */
static json_t *
q_window_json(int64_t d0, int64_t d1)
{
	return json_pack("{s:o, s:o, s:I}", "from", q_time(d0 * QUERY_DAY),
	    "to", q_time(d1 * QUERY_DAY), "days", (json_int_t)(d1 - d0));
}

/* ---- windows over day and month rows ---- */

/*
 * The parts of [d0, d1) read from roll_sender: the leading days [lead0, lead1), the whole
 * months [m0, m1) and the trailing days [tail0, tail1); with no whole month inside,
 * everything is leading days.
 */
struct q_span {
	int64_t lead0, lead1, m0, m1, tail0, tail1;
};

static void
q_span_of(int64_t d0, int64_t d1, struct q_span *sp)
{
	int64_t m0 = query_month_of_day(d0), m1 = query_month_of_day(d1);

	if (query_month_first_day(m0) != d0)
		m0++;
	memset(sp, 0, sizeof(*sp));
	sp->lead0 = d0;
	sp->lead1 = d1;
	if (m0 >= m1)
		return;
	sp->lead1 = query_month_first_day(m0);
	sp->m0 = m0;
	sp->m1 = m1;
	sp->tail0 = query_month_first_day(m1);
	sp->tail1 = d1;
}

static int
q_bind_dw(sqlite3_stmt *st, const char *domain, int64_t d0, int64_t d1)
{
	int acc = SQLITE_OK;

	q_acc(&acc, sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC));
	q_acc(&acc, sqlite3_bind_int64(st, 2, d0));
	q_acc(&acc, sqlite3_bind_int64(st, 3, d1));
	return acc;
}

/* ---- aggregation: breakdowns are summed here, not by GROUP BY (no sorter) ---- */

struct q_ent {
	char *key;              /* "" for a value the reports did not give */
	size_t klen;
	int64_t v;              /* what the breakdown ranks by */
	int64_t reports, ok, bad;
	int64_t *cells;         /* timeseries: one count per bucket, or NULL */
	uint64_t h;             /* q_hash of the key */
};

/* Open addressing over entry indexes (+1; 0 is empty), at most half full. */
struct q_map {
	struct q_ent *e;
	size_t n, cap;
	uint32_t *slot;
	size_t nslot;
	int failed;             /* out of memory or over QUERY_KEYS_MAX */
};

/* A hash of n bytes: 8-byte words multiplied in, then mixed (keys are short texts). */
static uint64_t
q_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	return h ^ (h >> 29);
}

static void
q_map_free(struct q_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].key);
		free(m->e[i].cells);
	}
	free(m->e);
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

static int
q_map_rehash(struct q_map *m, size_t nslot)
{
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = (size_t)m->e[i].h & (nslot - 1);

		while (slot[j] != 0)
			j = (j + 1) & (nslot - 1);
		slot[j] = (uint32_t)(i + 1);
	}
	free(m->slot);
	m->slot = slot;
	m->nslot = nslot;
	return 0;
}

/* The entry of key k (added, zeroed, when new); NULL once the map failed. */
static struct q_ent *
q_map_get(struct q_map *m, const char *k, size_t n)
{
	uint64_t h;
	size_t j;
	struct q_ent *e;

	if (m->failed)
		return NULL;
	if (k == NULL)
		k = "";
	if (m->nslot == 0 && q_map_rehash(m, 64) != 0)
		goto fail;
	h = q_hash(k, n);
	for (j = (size_t)h & (m->nslot - 1); m->slot[j] != 0; j = (j + 1) & (m->nslot - 1)) {
		e = &m->e[m->slot[j] - 1];
		if (e->h == h && e->klen == n && memcmp(e->key, k, n) == 0)
			return e;
	}
	if (m->n >= QUERY_KEYS_MAX)
		goto fail;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct q_ent *ne = realloc(m->e, cap * sizeof(*ne));

		if (ne == NULL)
			goto fail;
		m->e = ne;
		m->cap = cap;
	}
	e = &m->e[m->n];
	memset(e, 0, sizeof(*e));
	if ((e->key = malloc(n + 1)) == NULL)
		goto fail;
	memcpy(e->key, k, n);
	e->key[n] = '\0';
	e->klen = n;
	e->h = h;
	m->slot[j] = (uint32_t)++m->n;
	if (2 * m->n > m->nslot && q_map_rehash(m, 2 * m->nslot) != 0)
		goto fail;
	return e;
fail:
	m->failed = 1;
	return NULL;
}

/* Adds value v (and the session columns) to the entry of column col's text. */
static void
q_map_add(struct q_map *m, sqlite3_stmt *st, int col, int64_t v, int64_t reports, int64_t ok,
    int64_t bad)
{
	struct q_ent *e = q_map_get(m, (const char *)sqlite3_column_text(st, col),
	    (size_t)sqlite3_column_bytes(st, col));

	if (e != NULL) {
		e->v += v;
		e->reports += reports;
		e->ok += ok;
		e->bad += bad;
	}
}

/* Most first, then by key. */
static int
q_ent_cmp(const void *a, const void *b)
{
	const struct q_ent *x = a, *y = b;
	int c;

	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
	return c != 0 ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* What the entries of a breakdown show besides key, sessions and share. */
enum q_detail { Q_PLAIN = 0, Q_SESSIONS = 1, Q_REPORTS = 2 };

/*
 * A breakdown: the first top entries by value (ties by key), the rest summed as "other".
 * measure names what the value counts. NULL on failure.
 */
static json_t *
q_breakdown(struct q_map *m, int top, const char *measure, int detail)
{
	json_t *entries, *e;
	int64_t total = 0, other = 0;
	size_t shown;
	int ok = 1;

	if (m->failed || (entries = json_array()) == NULL)
		return NULL;
	if (m->n > 0)
		qsort(m->e, m->n, sizeof(*m->e), q_ent_cmp);
	for (size_t i = 0; i < m->n; i++)
		total += m->e[i].v;
	shown = m->n < (size_t)top ? m->n : (size_t)top;
	for (size_t i = 0; ok && i < shown; i++) {
		const struct q_ent *x = &m->e[i];

		e = json_pack("{s:o, s:I, s:o}", "key", x->klen > 0 ? json_stringn(x->key, x->klen) :
		    json_null(), "sessions", (json_int_t)x->v, "share", q_ratio(x->v, total));
		if (e != NULL && (detail & Q_REPORTS))
			ok = q_set(e, "reports", json_integer(x->reports)) == 0;
		if (e != NULL && (detail & Q_SESSIONS))
			ok = ok && q_set(e, "successful", json_integer(x->ok)) == 0 &&
			    q_set(e, "failed", json_integer(x->bad)) == 0;
		ok = ok && q_push(entries, e) == 0;
	}
	for (size_t i = shown; i < m->n; i++)
		other += m->e[i].v;
	if (!ok) {
		json_decref(entries);
		return NULL;
	}
	return json_pack("{s:s, s:I, s:I, s:o, s:o}", "measure", measure, "total", (json_int_t)total,
	    "keys", (json_int_t)m->n, "entries", entries,
	    "other", m->n > shown ? json_pack("{s:I, s:I, s:o}", "keys", (json_int_t)(m->n - shown),
	    "sessions", (json_int_t)other, "share", q_ratio(other, total)) : json_null());
}

/* ---- shared pieces ---- */

static const char q_sql_totals[] =
    "SELECT coalesce(sum(reports), 0), coalesce(sum(successful), 0), coalesce(sum(failed), 0)"
    " FROM daily_domain WHERE domain = ?1 AND day >= ?2 AND day < ?3";

/* The first and last day with counted data (index ends of daily_domain's key). */
static const char q_sql_domain[] =
    "SELECT (SELECT min(day) FROM daily_domain WHERE domain = ?1),"
    " (SELECT max(day) FROM daily_domain WHERE domain = ?1)";

/* The newest counted report naming the domain (policies_domain, from its end). */
static const char q_sql_last_report[] =
    "SELECT p.report, r.received_at FROM policies p JOIN reports r ON r.id = p.report"
    " WHERE p.policy_domain = ?1 AND p.counted = 1 AND r.counted = 1"
    " ORDER BY p.report DESC LIMIT 1";

/* The next domain after ?1: daily_domain's key skipped through, one seek per domain. */
static const char q_sql_next_domain[] =
    "SELECT domain FROM daily_domain WHERE domain > ?1 ORDER BY domain LIMIT 1";

/* Sums of daily_domain over [d0, d1) with the statement of q_sql_totals. */
static void
q_totals(struct qctx *q, sqlite3_stmt *st, const char *domain, int64_t d0, int64_t d1,
    int64_t *reports, int64_t *ok, int64_t *failed)
{
	int acc;

	*reports = *ok = *failed = 0;
	q_rewind(st);
	acc = q_bind_dw(st, domain, d0, d1);
	q_bind_check(q, acc);
	if (acc == SQLITE_OK && q_step(q, st) == 1) {
		*reports = sqlite3_column_int64(st, 0);
		*ok = sqlite3_column_int64(st, 1);
		*failed = sqlite3_column_int64(st, 2);
	}
	q_rewind(st);
}

static json_t *
q_totals_json(int64_t reports, int64_t ok, int64_t failed)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o}", "reports", (json_int_t)reports,
	    "sessions", (json_int_t)(ok + failed), "successful", (json_int_t)ok,
	    "failures", (json_int_t)failed, "failure_rate", q_ratio(failed, ok + failed));
}

/*
 * 1 when the domain has counted data (and fills its first and last day), 0 when not, -1 on
 * failure. st: q_sql_domain, rewound here.
 */
static int
q_domain_days(struct qctx *q, sqlite3_stmt *st, const char *domain, int64_t *first,
    int64_t *last)
{
	int got = -1;

	q_rewind(st);
	if (sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) != SQLITE_OK)
		q_fail(q, SQLITE_RANGE, "bind");
	else if ((got = q_step(q, st)) == 1) {
		got = sqlite3_column_type(st, 0) != SQLITE_NULL;
		*first = sqlite3_column_int64(st, 0);
		*last = sqlite3_column_int64(st, 1);
	}
	q_rewind(st);
	return got;
}

/* q_domain_days with its own statement. */
static int
q_domain_row(struct qctx *q, const char *domain, int64_t *first, int64_t *last)
{
	sqlite3_stmt *st = q_prep(q, q_sql_domain);
	int got;

	if (st == NULL)
		return -1;
	got = q_domain_days(q, st, domain, first, last);
	sqlite3_finalize(st);
	return got;
}

static int
q_check_window(const struct query_window *w)
{
	return w != NULL && w->from_day >= QUERY_DAY_MIN && w->to_day <= QUERY_DAY_MAX + 1 &&
	    w->to_day > w->from_day && w->to_day - w->from_day <= QUERY_WINDOW_DAYS_MAX;
}

/*
 * Steps st (bound by the caller) to its end, adding each row to m: key in column 0,
 * successful (or the value) in 1, failed in 2 (or none), reports in 3 (or none). The value
 * ranked is successful + failed. 0, or -1 (q->rc or m->failed).
 */
static int
q_gather(struct qctx *q, sqlite3_stmt *st, struct q_map *m, int has_failed, int has_reports)
{
	int got;

	while ((got = q_step(q, st)) == 1 && !m->failed) {
		int64_t a = sqlite3_column_int64(st, 1);
		int64_t b = has_failed ? sqlite3_column_int64(st, 2) : 0;

		q_map_add(m, st, 0, a + b, has_reports ? sqlite3_column_int64(st, 3) : 0, a, b);
	}
	return got < 0 || m->failed ? -1 : 0;
}

/* ---- /domains ---- */

static const char q_sql_reporters_n[] =
    "SELECT count(DISTINCT org) FROM roll_reporter WHERE domain = ?1 AND day >= ?2 AND day < ?3";

static const char q_sql_modes[] =
    "SELECT mode, sum(reports), sum(successful) + sum(failed) AS v FROM roll_sts"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3 GROUP BY mode ORDER BY v DESC, mode";

/* The change from prev to cur: {"sessions", "failures", "failure_rate"} differences. */
static json_t *
q_change(int64_t ok, int64_t bad, int64_t pok, int64_t pbad)
{
	json_t *rate = json_null();

	if (ok + bad > 0 && pok + pbad > 0)
		rate = json_real((double)bad / (double)(ok + bad) -
		    (double)pbad / (double)(pok + pbad));
	return json_pack("{s:I, s:I, s:o, s:o, s:o}",
	    "sessions", (json_int_t)((ok + bad) - (pok + pbad)),
	    "failures", (json_int_t)(bad - pbad),
	    "failure_rate", rate,
	    "sessions_pct", pok + pbad > 0 ? json_real(100.0 * (double)((ok + bad) - (pok + pbad)) /
	        (double)(pok + pbad)) : json_null(),
	    "failures_pct", pbad > 0 ? json_real(100.0 * (double)(bad - pbad) / (double)pbad) :
	        json_null());
}

enum q_dst { DS_TOT, DS_REP, DS_MODES, DS_DAYS, DS_LAST, DS_COUNT };

/* One /domains entry. */
static json_t *
q_domain_entry(struct qctx *q, sqlite3_stmt **st, const char *domain,
    const struct query_window *w)
{
	int64_t len = w->to_day - w->from_day, rep, ok, bad, prep, pok, pbad, reporters = 0;
	int64_t first = 0, last = 0, last_id = 0, last_at = 0;
	json_t *e, *modes = json_array();
	int acc, got;

	q_totals(q, st[DS_TOT], domain, w->from_day, w->to_day, &rep, &ok, &bad);
	q_totals(q, st[DS_TOT], domain, w->from_day - len, w->from_day, &prep, &pok, &pbad);
	q_domain_days(q, st[DS_DAYS], domain, &first, &last);

	q_rewind(st[DS_REP]);
	q_bind_check(q, acc = q_bind_dw(st[DS_REP], domain, w->from_day, w->to_day));
	if (acc == SQLITE_OK && q_step(q, st[DS_REP]) == 1)
		reporters = sqlite3_column_int64(st[DS_REP], 0);
	q_rewind(st[DS_REP]);

	q_rewind(st[DS_LAST]);
	q_bind_check(q, acc = sqlite3_bind_text(st[DS_LAST], 1, domain, -1, SQLITE_STATIC));
	if (acc == SQLITE_OK && q_step(q, st[DS_LAST]) == 1) {
		last_id = sqlite3_column_int64(st[DS_LAST], 0);
		last_at = sqlite3_column_int64(st[DS_LAST], 1);
	}
	q_rewind(st[DS_LAST]);

	q_rewind(st[DS_MODES]);
	q_bind_check(q, acc = q_bind_dw(st[DS_MODES], domain, w->from_day, w->to_day));
	while (modes != NULL && acc == SQLITE_OK && (got = q_step(q, st[DS_MODES])) == 1) {
		if (q_push(modes, json_pack("{s:o, s:I, s:I}", "mode", store_col_text(st[DS_MODES], 0, 1),
		    "reports", (json_int_t)sqlite3_column_int64(st[DS_MODES], 1),
		    "sessions", (json_int_t)sqlite3_column_int64(st[DS_MODES], 2))) != 0) {
			json_decref(modes);
			modes = NULL;
		}
	}
	q_rewind(st[DS_MODES]);
	if (modes == NULL || q->rc != 0) {
		json_decref(modes);
		return NULL;
	}
	e = json_pack("{s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o}",
	    "domain", domain,
	    "sessions", (json_int_t)(ok + bad),
	    "successful", (json_int_t)ok,
	    "failures", (json_int_t)bad,
	    "failure_rate", q_ratio(bad, ok + bad),
	    "reports", (json_int_t)rep,
	    "reporters", (json_int_t)reporters,
	    "policy_modes", modes,
	    "last_report", last_id > 0 ? json_pack("{s:I, s:o}", "id", (json_int_t)last_id,
	        "received_at", q_time(last_at)) : json_null(),
	    "data", json_pack("{s:o, s:o}", "first_day", q_day(first), "last_day", q_day(last)),
	    "previous", q_totals_json(prep, pok, pbad));
	if (e != NULL && q_set(e, "change", q_change(ok, bad, pok, pbad)) != 0) {
		json_decref(e);
		e = NULL;
	}
	return e;
}

int
query_domains(struct store *s, const struct query_window *w, query_visible_fn visible,
    void *arg, json_t **out)
{
	static const char *const sql[DS_COUNT] = {
		[DS_TOT] = q_sql_totals, [DS_REP] = q_sql_reporters_n, [DS_MODES] = q_sql_modes,
		[DS_DAYS] = q_sql_domain, [DS_LAST] = q_sql_last_report,
	};
	sqlite3_stmt *st[DS_COUNT] = { NULL }, *next = NULL;
	struct qctx q;
	json_t *list = NULL, *e;
	char cur[QUERY_DOMAIN_TEXT_MAX] = "";
	int got, ok = 1, truncated = 0;

	*out = NULL;
	if (s == NULL || !q_check_window(w))
		return STORE_ERR;
	if (q_open(&q, s, "domains") != 0)
		goto out;
	for (int i = 0; i < DS_COUNT; i++)
		st[i] = q_prep(&q, sql[i]);
	next = q_prep(&q, q_sql_next_domain);
	ok = (list = json_array()) != NULL;
	while (ok && q.rc == 0) {
		q_rewind(next);
		q_bind_check(&q, sqlite3_bind_text(next, 1, cur, -1, SQLITE_TRANSIENT));
		if ((got = q_step(&q, next)) != 1)
			break;
		if ((size_t)sqlite3_column_bytes(next, 0) >= sizeof(cur)) {
			q_fail(&q, SQLITE_TOOBIG, "domain");
			break;
		}
		snprintf(cur, sizeof(cur), "%s", (const char *)sqlite3_column_text(next, 0));
		if (visible != NULL && !visible(arg, cur))
			continue;
		if (json_array_size(list) >= QUERY_DOMAINS_MAX) {
			truncated = 1;
			break;
		}
		if ((e = q_domain_entry(&q, st, cur, w)) == NULL) {
			ok = q.rc != 0;
			break;
		}
		ok = q_push(list, e) == 0;
	}
	if (ok && q.rc == 0) {
		*out = json_pack("{s:o, s:o, s:O, s:b}", "window", q_window_json(w->from_day, w->to_day),
		    "previous_window", q_window_json(2 * w->from_day - w->to_day, w->from_day),
		    "domains", list, "truncated", truncated);
		ok = *out != NULL;
	}
out:
	for (int i = 0; i < DS_COUNT; i++)
		sqlite3_finalize(st[i]);
	sqlite3_finalize(next);
	json_decref(list);
	q_close(&q);
	return q_result(&q, ok);
}

/* ---- /domains/{domain}/summary ---- */

/* Failure details of the standing policies by path: result type, MX and receiving IP. */
static const char q_sql_paths[] =
    "SELECT result_type, mx, rip, failed FROM roll_path"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3 AND stands = 1";

/* Sending IPs: whole months from month rows, the days at either end from day rows. */
static const char q_sql_senders[] =
    "SELECT ip, failed FROM roll_sender WHERE domain = ?1 AND grain = 0"
    " AND period >= ?2 AND period < ?3"
    " UNION ALL SELECT ip, failed FROM roll_sender WHERE domain = ?1 AND grain = 1"
    " AND period >= ?4 AND period < ?5"
    " UNION ALL SELECT ip, failed FROM roll_sender WHERE domain = ?1 AND grain = 0"
    " AND period >= ?6 AND period < ?7";

static const char q_sql_reporters[] =
    "SELECT org, successful, failed, reports FROM roll_reporter"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3";

/* Every counted policy adds its own (daily_policy): sts and tlsa are both visible. */
static const char q_sql_policy_types[] =
    "SELECT policy_type, successful, failed FROM daily_policy"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3";

enum q_bd { BD_TYPE, BD_MX, BD_RIP, BD_SENDER, BD_REPORTER, BD_POLICY, BD_COUNT };

static const char *const q_bd_name[BD_COUNT] = {
	[BD_TYPE] = "result_type", [BD_MX] = "receiving_mx", [BD_RIP] = "receiving_ip",
	[BD_SENDER] = "sending_ip", [BD_REPORTER] = "reporter", [BD_POLICY] = "policy_type",
};

/* Fills the six maps of a summary. 0, or -1. */
static int
q_summary_gather(struct qctx *q, const char *domain, const struct query_window *w,
    struct q_map *m)
{
	struct q_map paths;
	struct q_span sp;
	sqlite3_stmt *st;
	int acc = SQLITE_OK, got, rc = -1;

	memset(&paths, 0, sizeof(paths));

	/*
	 * One pass over the paths feeds three breakdowns: the rows are summed per path first
	 * (the same few paths come back every day), then each path into its three keys.
	 */
	if ((st = q_prep(q, q_sql_paths)) == NULL)
		goto out;
	q_bind_check(q, q_bind_dw(st, domain, w->from_day, w->to_day));
	while ((got = q_step(q, st)) == 1) {
		char key[3 * QUERY_PATH_PART_MAX];
		size_t n = 0;
		struct q_ent *e;
		int64_t v = sqlite3_column_int64(st, 3);

		for (int i = 0; i < 3 && n < sizeof(key); i++) {
			size_t l = (size_t)sqlite3_column_bytes(st, i);
			const void *t = sqlite3_column_text(st, i);

			if (l >= QUERY_PATH_PART_MAX || (l > 0 && (t == NULL || memchr(t, '\0', l)))) {
				n = sizeof(key);        /* an odd part: straight into the three maps */
				break;
			}
			if (l > 0)
				memcpy(key + n, t, l);
			n += l;
			key[n++] = '\0';
		}
		if (n == sizeof(key)) {
			q_map_add(&m[BD_TYPE], st, 0, v, 0, 0, 0);
			q_map_add(&m[BD_MX], st, 1, v, 0, 0, 0);
			q_map_add(&m[BD_RIP], st, 2, v, 0, 0, 0);
		} else if ((e = q_map_get(&paths, key, n)) != NULL)
			e->v += v;
	}
	sqlite3_finalize(st);
	if (got < 0 || paths.failed)
		goto out;
	for (size_t i = 0; i < paths.n; i++) {
		const char *k = paths.e[i].key;
		size_t l0 = strlen(k), l1 = strlen(k + l0 + 1), l2 = strlen(k + l0 + l1 + 2);
		struct q_ent *e;

		if ((e = q_map_get(&m[BD_TYPE], k, l0)) != NULL)
			e->v += paths.e[i].v;
		if ((e = q_map_get(&m[BD_MX], k + l0 + 1, l1)) != NULL)
			e->v += paths.e[i].v;
		if ((e = q_map_get(&m[BD_RIP], k + l0 + l1 + 2, l2)) != NULL)
			e->v += paths.e[i].v;
	}
	if (m[BD_TYPE].failed || m[BD_MX].failed || m[BD_RIP].failed)
		goto out;

	q_span_of(w->from_day, w->to_day, &sp);
	if ((st = q_prep(q, q_sql_senders)) == NULL)
		goto out;
	q_acc(&acc, sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC));
	q_acc(&acc, sqlite3_bind_int64(st, 2, sp.lead0));
	q_acc(&acc, sqlite3_bind_int64(st, 3, sp.lead1));
	q_acc(&acc, sqlite3_bind_int64(st, 4, sp.m0));
	q_acc(&acc, sqlite3_bind_int64(st, 5, sp.m1));
	q_acc(&acc, sqlite3_bind_int64(st, 6, sp.tail0));
	q_acc(&acc, sqlite3_bind_int64(st, 7, sp.tail1));
	q_bind_check(q, acc);
	rc = acc == SQLITE_OK ? q_gather(q, st, &m[BD_SENDER], 0, 0) : -1;
	sqlite3_finalize(st);
	if (rc != 0)
		goto out;
	rc = -1;

	if ((st = q_prep(q, q_sql_reporters)) == NULL)
		goto out;
	q_bind_check(q, acc = q_bind_dw(st, domain, w->from_day, w->to_day));
	rc = acc == SQLITE_OK ? q_gather(q, st, &m[BD_REPORTER], 1, 1) : -1;
	sqlite3_finalize(st);
	if (rc != 0)
		goto out;
	rc = -1;

	if ((st = q_prep(q, q_sql_policy_types)) == NULL)
		goto out;
	q_bind_check(q, acc = q_bind_dw(st, domain, w->from_day, w->to_day));
	rc = acc == SQLITE_OK ? q_gather(q, st, &m[BD_POLICY], 1, 0) : -1;
	sqlite3_finalize(st);
out:
	q_map_free(&paths);
	return rc;
}

int
query_summary(struct store *s, const char *domain, const struct query_window *w, int top,
    json_t **out)
{
	struct q_map m[BD_COUNT];
	struct qctx q;
	json_t *doc = NULL, *bd = NULL;
	sqlite3_stmt *st;
	int64_t first, last, rep, ok, bad;
	int found, jok = 1;

	*out = NULL;
	if (s == NULL || domain == NULL || !q_check_window(w) || top < 1 || top > QUERY_TOP_MAX)
		return STORE_ERR;
	memset(m, 0, sizeof(m));
	if (q_open(&q, s, "summary") != 0)
		goto out;
	if ((found = q_domain_row(&q, domain, &first, &last)) <= 0) {
		q_close(&q);
		return found == 0 ? STORE_NOTFOUND : q_result(&q, 1);
	}
	if ((st = q_prep(&q, q_sql_totals)) == NULL)
		goto out;
	q_totals(&q, st, domain, w->from_day, w->to_day, &rep, &ok, &bad);
	sqlite3_finalize(st);
	if (q.rc != 0 || q_summary_gather(&q, domain, w, m) != 0) {
		jok = q.rc != 0;
		goto out;
	}
	jok = (bd = json_object()) != NULL;
	for (int i = 0; jok && i < BD_COUNT; i++)
		jok = q_set(bd, q_bd_name[i], q_breakdown(&m[i], top,
		    i == BD_REPORTER || i == BD_POLICY ? "sessions" : "failed_sessions",
		    i == BD_REPORTER ? Q_REPORTS | Q_SESSIONS : i == BD_POLICY ? Q_SESSIONS :
		    Q_PLAIN)) == 0;
	if (jok) {
		doc = json_pack("{s:s, s:o, s:o, s:o, s:O}", "domain", domain,
		    "window", q_window_json(w->from_day, w->to_day),
		    "data", json_pack("{s:o, s:o}", "first_day", q_day(first), "last_day", q_day(last)),
		    "totals", q_totals_json(rep, ok, bad), "breakdowns", bd);
		jok = doc != NULL;
	}
out:
	for (int i = 0; i < BD_COUNT; i++)
		q_map_free(&m[i]);
	json_decref(bd);
	q_close(&q);
	if (q_result(&q, jok) == 0)
		*out = doc;
	else
		json_decref(doc);
	return q_result(&q, jok);
}

/* ---- /domains/{domain}/timeseries ---- */

static const char q_sql_ts_days[] =
    "SELECT day, successful, failed FROM daily_domain WHERE domain = ?1 AND day >= ?2 AND day < ?3";

static const char q_sql_ts_cells[] =
    "SELECT day, result_type, failed FROM roll_path WHERE domain = ?1 AND day >= ?2"
    " AND day < ?3 AND stands = 1";

static int64_t
q_week_start(int64_t day)
{
	return day - (day - QUERY_MONDAY - query_floor_div(day - QUERY_MONDAY, 7) * 7);
}

int
query_timeseries(struct store *s, const char *domain, const struct query_window *w,
    int interval_days, json_t **out)
{
	struct qctx q;
	struct q_map types;
	sqlite3_stmt *st = NULL;
	json_t *doc = NULL, *tlist = NULL, *buckets = NULL;
	int64_t first, last, base, nb, *cells = NULL, *other = NULL;
	size_t nt = 0, i;
	int found, got, jok = 1, truncated = 0;

	*out = NULL;
	if (s == NULL || domain == NULL || !q_check_window(w) ||
	    (interval_days != 1 && interval_days != 7))
		return STORE_ERR;
	memset(&types, 0, sizeof(types));
	if (q_open(&q, s, "timeseries") != 0)
		goto out;
	if ((found = q_domain_row(&q, domain, &first, &last)) <= 0) {
		q_close(&q);
		return found == 0 ? STORE_NOTFOUND : q_result(&q, 1);
	}
	base = interval_days == 7 ? q_week_start(w->from_day) : w->from_day;
	nb = (interval_days == 7 ? q_week_start(w->to_day - 1) - base : w->to_day - 1 - base) /
	    interval_days + 1;
	/* Per bucket: successful, failed. */
	cells = calloc((size_t)nb * 2, sizeof(*cells));
	other = calloc((size_t)nb, sizeof(*other));
	if (cells == NULL || other == NULL || (tlist = json_array()) == NULL) {
		jok = 0;
		goto out;
	}
#define Q_CELL(b, k) cells[(size_t)(b) * 2 + (size_t)(k)]
	if ((st = q_prep(&q, q_sql_ts_days)) == NULL)
		goto out;
	q_bind_check(&q, q_bind_dw(st, domain, w->from_day, w->to_day));
	while (q.rc == 0 && (got = q_step(&q, st)) == 1) {
		int64_t b = (sqlite3_column_int64(st, 0) - base) / interval_days;

		Q_CELL(b, 0) += sqlite3_column_int64(st, 1);
		Q_CELL(b, 1) += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	/*
	 * One pass over the result types: each gets its total and a count per bucket (the first
	 * QUERY_TS_SERIES_MAX types seen; any further one is counted in other_result_types).
	 */
	if ((st = q_prep(&q, q_sql_ts_cells)) == NULL)
		goto out;
	q_bind_check(&q, q_bind_dw(st, domain, w->from_day, w->to_day));
	while (q.rc == 0 && (got = q_step(&q, st)) == 1) {
		int64_t b = (sqlite3_column_int64(st, 0) - base) / interval_days;
		int64_t v = sqlite3_column_int64(st, 2);
		struct q_ent *e = q_map_get(&types, (const char *)sqlite3_column_text(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1));

		if (e == NULL) {
			jok = 0;
			goto out;
		}
		e->v += v;
		if (e->cells == NULL && types.n <= QUERY_TS_SERIES_MAX &&
		    (e->cells = calloc((size_t)nb, sizeof(*e->cells))) == NULL) {
			jok = 0;
			goto out;
		}
		if (e->cells != NULL)
			e->cells[b] += v;
		else
			other[b] += v;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (q.rc != 0)
		goto out;
	if (types.n > 0)
		qsort(types.e, types.n, sizeof(*types.e), q_ent_cmp);
	/* The top types with a series of their own; every other one into other. */
	for (i = 0; i < types.n; i++) {
		if (types.e[i].cells != NULL && nt < QUERY_TS_TYPES_MAX) {
			if (nt != i) {
				struct q_ent t = types.e[nt];

				types.e[nt] = types.e[i];
				types.e[i] = t;
			}
			nt++;
			continue;
		}
		for (int64_t b = 0; types.e[i].cells != NULL && b < nb; b++)
			other[b] += types.e[i].cells[b];
	}
	truncated = types.n > nt;
	for (i = 0; jok && i < nt; i++)
		jok = q_push(tlist, json_stringn(types.e[i].key, types.e[i].klen)) == 0;
	jok = jok && (buckets = json_array()) != NULL;
	for (int64_t b = 0; jok && b < nb; b++) {
		int64_t s0 = base + b * interval_days, s1 = s0 + interval_days;
		json_t *bt = json_object(), *e;

		if (s0 < w->from_day)
			s0 = w->from_day;
		if (s1 > w->to_day)
			s1 = w->to_day;
		for (i = 0; bt != NULL && i < nt; i++)
			if (json_object_setn_new(bt, types.e[i].key, types.e[i].klen,
			    json_integer(types.e[i].cells[b])) != 0) {
				json_decref(bt);
				bt = NULL;
			}
		e = json_pack("{s:o, s:o, s:I, s:I, s:I, s:o}", "start", q_day(s0), "end", q_day(s1),
		    "sessions", (json_int_t)(Q_CELL(b, 0) + Q_CELL(b, 1)),
		    "successful", (json_int_t)Q_CELL(b, 0), "failed", (json_int_t)Q_CELL(b, 1),
		    "by_result_type", bt);
		if (e != NULL && truncated)
			jok = q_set(e, "other_result_types", json_integer(other[b])) == 0;
		jok = jok && q_push(buckets, e) == 0;
	}
#undef Q_CELL
	if (jok) {
		doc = json_pack("{s:s, s:o, s:s, s:O, s:b, s:O}", "domain", domain,
		    "window", q_window_json(w->from_day, w->to_day),
		    "interval", interval_days == 7 ? "week" : "day", "result_types", tlist,
		    "result_types_truncated", truncated, "buckets", buckets);
		jok = doc != NULL;
	}
out:
	sqlite3_finalize(st);
	free(cells);
	free(other);
	q_map_free(&types);
	json_decref(tlist);
	json_decref(buckets);
	q_close(&q);
	if (q_result(&q, jok) == 0)
		*out = doc;
	else
		json_decref(doc);
	return q_result(&q, jok);
}

/* ---- /domains/{domain}/readiness ---- */

static const char q_sql_rd_sts_days[] =
    "SELECT day, sum(successful), sum(failed) FROM daily_policy WHERE domain = ?1"
    " AND day >= ?2 AND day < ?3 AND policy_type = 'sts' GROUP BY day";

static const char q_sql_rd_fail[] =
    "SELECT day, sts_mode, result_type, failed FROM roll_path WHERE domain = ?1"
    " AND day >= ?2 AND day < ?3 AND policy_type = 'sts'";

static const char q_sql_rd_reporters[] =
    "SELECT org, sum(reports), sum(successful) + sum(failed) AS v FROM roll_reporter"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3 GROUP BY org ORDER BY v DESC, org";

static const char q_sql_rd_policies[] =
    "SELECT day, mode, mx, sum(reports), sum(successful) + sum(failed) FROM roll_sts"
    " WHERE domain = ?1 AND day >= ?2 AND day < ?3 GROUP BY day, mode, mx"
    " ORDER BY day DESC, mode, mx";

static const char q_sql_rd_mx[] =
    "SELECT mx, sum(failed) AS v FROM roll_path WHERE domain = ?1 AND day >= ?2 AND day < ?3"
    " AND policy_type = 'sts' AND mx <> '' GROUP BY mx ORDER BY v DESC, mx";

static int
q_in(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/* Case-insensitive substring test. */
static int
q_contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* Appends {code, message} to arr with a formatted message. */
static int
q_reason(json_t *arr, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
q_reason(json_t *arr, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return q_push(arr, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

/* Per-day figures of the readiness window. */
struct q_rd_day {
	int64_t sts;            /* sts sessions */
	int64_t refuse;         /* would-refuse + refused sessions */
};

struct q_rd {
	int64_t today, d0, d1;  /* window [d0, d1), d1 = today + 1 */
	int days;
	struct q_rd_day *day;   /* d1 - d0 entries */
	int64_t sts, would_refuse, refused, fetch_recent, invalid_recent, webpki_recent;
	int64_t dane, unclassified;
	int64_t last_data_day;  /* -1: none */
	int64_t clean_days;
	json_t *refuse_by_type; /* {type: sessions} */
	json_t *reporters;      /* [{name, reports, sessions}] */
	int google, microsoft;
	json_t *modes;          /* modes of the newest day with an sts policy */
	json_t *patterns;       /* the mx patterns checked against */
	int64_t patterns_day;   /* -1: none known */
	json_t *mx;             /* [{host, failed_sessions, in_policy}] */
	int64_t mx_outside;
	int sts_policy_seen;
};

/* Reads every figure of the window into rd. 0, or -1 (q->rc set, or out of memory). */
static int
q_rd_read(struct qctx *q, const char *domain, struct q_rd *rd)
{
	sqlite3_stmt *st;
	int64_t recent0 = rd->d1 - (rd->days < READY_RECENT_DAYS ? rd->days : READY_RECENT_DAYS);
	int got, ok = 1;

	if ((st = q_prep(q, q_sql_rd_sts_days)) == NULL)
		return -1;
	q_bind_check(q, q_bind_dw(st, domain, rd->d0, rd->d1));
	while (q->rc == 0 && (got = q_step(q, st)) == 1) {
		int64_t d = sqlite3_column_int64(st, 0);

		rd->day[d - rd->d0].sts += sqlite3_column_int64(st, 1) + sqlite3_column_int64(st, 2);
		rd->sts += sqlite3_column_int64(st, 1) + sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);

	if ((st = q_prep(q, q_sql_rd_fail)) == NULL)
		return -1;
	q_bind_check(q, q_bind_dw(st, domain, rd->d0, rd->d1));
	while (ok && q->rc == 0 && (got = q_step(q, st)) == 1) {
		int64_t d = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 3);
		const char *mode = (const char *)sqlite3_column_text(st, 1);
		const char *type = (const char *)sqlite3_column_text(st, 2);

		if (q_in(type, query_refuse_types, sizeof(query_refuse_types) / sizeof(char *))) {
			json_t *cur = json_object_get(rd->refuse_by_type, type);

			if (strcmp(mode, "enforce") == 0)
				rd->refused += n;
			else
				rd->would_refuse += n;
			rd->day[d - rd->d0].refuse += n;
			ok = json_object_set_new(rd->refuse_by_type, type,
			    json_integer(json_integer_value(cur) + n)) == 0;
			if (d >= recent0 && (strcmp(type, "sts-policy-fetch-error") == 0))
				rd->fetch_recent += n;
			if (d >= recent0 && (strcmp(type, "sts-policy-invalid") == 0))
				rd->invalid_recent += n;
			if (d >= recent0 && strcmp(type, "sts-webpki-invalid") == 0)
				rd->webpki_recent += n;
		} else if (q_in(type, query_dane_types, sizeof(query_dane_types) / sizeof(char *))) {
			rd->dane += n;
		} else {
			rd->unclassified += n;
		}
	}
	sqlite3_finalize(st);
	if (!ok || q->rc != 0)
		return -1;

	if ((st = q_prep(q, q_sql_rd_reporters)) == NULL)
		return -1;
	q_bind_check(q, q_bind_dw(st, domain, rd->d0, rd->d1));
	while (ok && q->rc == 0 && (got = q_step(q, st)) == 1) {
		const char *org = (const char *)sqlite3_column_text(st, 0);

		rd->google |= q_contains_ci(org, "google");
		rd->microsoft |= q_contains_ci(org, "microsoft");
		ok = q_push(rd->reporters, json_pack("{s:o, s:I, s:I}", "name", store_col_text(st, 0, 1),
		    "reports", (json_int_t)sqlite3_column_int64(st, 1),
		    "sessions", (json_int_t)sqlite3_column_int64(st, 2))) == 0;
	}
	sqlite3_finalize(st);
	if (!ok || q->rc != 0)
		return -1;

	/* The newest day with an sts policy gives the modes; the newest with mx lines, the mx. */
	if ((st = q_prep(q, q_sql_rd_policies)) == NULL)
		return -1;
	q_bind_check(q, q_bind_dw(st, domain, rd->d0, rd->d1));
	{
		int64_t mode_day = -1;

		while (ok && q->rc == 0 && (got = q_step(q, st)) == 1) {
			int64_t d = sqlite3_column_int64(st, 0);
			const char *mode = (const char *)sqlite3_column_text(st, 1);
			const char *mx = (const char *)sqlite3_column_text(st, 2);

			rd->sts_policy_seen = 1;
			if (mode_day < 0)
				mode_day = d;
			if (d == mode_day)
				ok = q_push(rd->modes, json_pack("{s:s, s:I, s:I}", "mode", mode,
				    "reports", (json_int_t)sqlite3_column_int64(st, 3),
				    "sessions", (json_int_t)sqlite3_column_int64(st, 4))) == 0;
			if (mx[0] == '\0' || (rd->patterns_day >= 0 && d != rd->patterns_day))
				continue;
			rd->patterns_day = d;
			/* Split "a b c" into the pattern list, without repeats. */
			for (const char *p = mx; ok && *p != '\0';) {
				size_t n = strcspn(p, " ");
				json_t *v;
				size_t k;

				if (n > 0 && json_array_size(rd->patterns) < QUERY_MX_PATTERNS_MAX) {
					if ((v = json_stringn(p, n)) == NULL) {
						ok = 0;
						break;
					}
					for (k = 0; k < json_array_size(rd->patterns) &&
					    !json_equal(json_array_get(rd->patterns, k), v); k++)
						;
					if (k < json_array_size(rd->patterns))
						json_decref(v);
					else
						ok = q_push(rd->patterns, v) == 0;
				}
				p += n;
				p += *p == ' ';
			}
		}
	}
	sqlite3_finalize(st);
	if (!ok || q->rc != 0)
		return -1;

	if ((st = q_prep(q, q_sql_rd_mx)) == NULL)
		return -1;
	q_bind_check(q, q_bind_dw(st, domain, rd->d0, rd->d1));
	while (ok && q->rc == 0 && (got = q_step(q, st)) == 1) {
		const char *host = (const char *)sqlite3_column_text(st, 0);
		json_t *in = json_null();

		if (rd->patterns_day >= 0) {
			int match = 0;

			for (size_t k = 0; !match && k < json_array_size(rd->patterns); k++)
				match = query_mx_match(json_string_value(json_array_get(rd->patterns,
				    k)), host);
			in = json_boolean(match);
			if (!match)
				rd->mx_outside++;
		}
		ok = q_push(rd->mx, json_pack("{s:s, s:I, s:o}", "host", host, "failed_sessions",
		    (json_int_t)sqlite3_column_int64(st, 1), "in_policy", in)) == 0;
	}
	sqlite3_finalize(st);
	return ok && q->rc == 0 ? 0 : -1;
}

/* Consecutive clean days back from today (see the rule above query_readiness). */
static void
q_rd_streak(struct q_rd *rd)
{
	int64_t n = rd->d1 - rd->d0, i = n - 1, lag = 0;

	rd->last_data_day = -1;
	for (int64_t k = n - 1; k >= 0; k--)
		if (rd->day[k].sts > 0) {
			rd->last_data_day = rd->d0 + k;
			break;
		}
	while (i >= 0 && lag < READY_LAG_DAYS && rd->day[i].sts == 0) {
		i--;
		lag++;
	}
	rd->clean_days = 0;
	for (; i >= 0 && rd->day[i].sts > 0 && rd->day[i].refuse == 0; i--)
		rd->clean_days++;
}

/*
 * The readiness rule (MTA-STS mode testing -> enforce), over the window W of the `days` UTC
 * days ending with today (today included). All figures come from counted reports, through
 * the daily rollups (a multi-day report is split over its days).
 *
 *   sts sessions   sessions reported under sts policies of the domain in W.
 *   would-refuse   failed sessions under sts policies in a mode other than enforce (testing,
 *                  none, unknown) whose result type is one enforce refuses: the negotiation
 *                  types (starttls-not-supported, certificate-host-mismatch,
 *                  certificate-expired, certificate-not-trusted, validation-failure) and the
 *                  sts types (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).
 *   refused        the same under sts policies already in enforce mode.
 *   clean day      a day with sts sessions and no would-refuse or refused session.
 *   clean_days     consecutive clean days counted back from today; today and yesterday are
 *                  skipped while they have no sts sessions (reports arrive a day late); any
 *                  other day without sts sessions, or with a failure above, ends the count.
 *   mx outside     a receiving-mx-hostname of a failure detail under an sts policy in W that
 *                  matches none of the mx patterns of the sts policies reported on the newest
 *                  day of W that has them (query_mx_match: "*.example.net" covers exactly one
 *                  more leftmost label).
 *   recent errors  sts-policy-fetch-error / sts-policy-invalid (fetch) and sts-webpki-invalid
 *                  (WebPKI) sessions under sts policies in the last min(days, 3) days of W.
 *
 * Verdict, first match wins:
 *   not-ready          would-refuse > 0, refused > 0, an mx outside the policy, or recent
 *                      fetch or WebPKI errors (one reason each);
 *   insufficient-data  no sts policy reported in W; fewer than 100 sts sessions; fewer than
 *                      2 distinct reporters; clean_days < max(1, ceil(days / 2)); no sts
 *                      sessions since the day before yesterday (stale; one reason each);
 *   ready              otherwise.
 * Notes that do not change the verdict: Google or Microsoft (organisation name contains
 * "google" / "microsoft", any case) absent from W; mx patterns unknown (reports stored before
 * the policy's mx lines were kept); failures of DANE or unregistered result types under sts.
 */
int
query_readiness(struct store *s, const char *domain, int64_t today, int days, json_t **out)
{
	struct qctx q;
	struct q_rd rd;
	json_t *doc = NULL, *reasons = NULL, *notes = NULL;
	int64_t first, last, min_clean;
	const char *verdict;
	char dbuf[24];
	int found, jok = 1;

	*out = NULL;
	if (s == NULL || domain == NULL || days < 1 || days > QUERY_READY_DAYS_MAX ||
	    today - days + 1 < QUERY_DAY_MIN || today > QUERY_DAY_MAX)
		return STORE_ERR;
	memset(&rd, 0, sizeof(rd));
	rd.today = today;
	rd.days = days;
	rd.d1 = today + 1;
	rd.d0 = rd.d1 - days;
	rd.patterns_day = -1;
	min_clean = (days + 1) / 2;
	if (q_open(&q, s, "readiness") != 0)
		goto out;
	if ((found = q_domain_row(&q, domain, &first, &last)) <= 0) {
		q_close(&q);
		return found == 0 ? STORE_NOTFOUND : q_result(&q, 1);
	}
	rd.day = calloc((size_t)days, sizeof(*rd.day));
	rd.refuse_by_type = json_object();
	rd.reporters = json_array();
	rd.modes = json_array();
	rd.patterns = json_array();
	rd.mx = json_array();
	reasons = json_array();
	notes = json_array();
	if (rd.day == NULL || rd.refuse_by_type == NULL || rd.reporters == NULL ||
	    rd.modes == NULL || rd.patterns == NULL || rd.mx == NULL || reasons == NULL ||
	    notes == NULL || q_rd_read(&q, domain, &rd) != 0) {
		jok = q.rc != 0;
		goto out;
	}
	q_rd_streak(&rd);

	if (rd.would_refuse > 0)
		jok &= q_reason(reasons, "would-refuse", "%" PRId64 " of %" PRId64 " sts sessions in "
		    "the last %d days failed in a way enforce would refuse (testing mode)",
		    rd.would_refuse, rd.sts, days) == 0;
	if (rd.refused > 0)
		jok &= q_reason(reasons, "refused-in-enforce", "%" PRId64 " sts sessions in the last "
		    "%d days failed under a policy already in enforce mode", rd.refused, days) == 0;
	if (rd.mx_outside > 0)
		jok &= q_reason(reasons, "mx-outside-policy", "%" PRId64 " receiving MX host(s) "
		    "match no mx pattern of the sts policy reported on %s", rd.mx_outside,
		    query_day_text(rd.patterns_day, dbuf, sizeof(dbuf))) == 0;
	if (rd.fetch_recent + rd.invalid_recent > 0)
		jok &= q_reason(reasons, "policy-fetch-errors", "%" PRId64 " sessions in the last %d "
		    "days could not fetch a valid policy (sts-policy-fetch-error: %" PRId64
		    ", sts-policy-invalid: %" PRId64 ")", rd.fetch_recent + rd.invalid_recent,
		    days < READY_RECENT_DAYS ? days : READY_RECENT_DAYS, rd.fetch_recent,
		    rd.invalid_recent) == 0;
	if (rd.webpki_recent > 0)
		jok &= q_reason(reasons, "webpki-errors", "%" PRId64 " sessions in the last %d days "
		    "could not validate the policy host's certificate (sts-webpki-invalid)",
		    rd.webpki_recent, days < READY_RECENT_DAYS ? days : READY_RECENT_DAYS) == 0;
	verdict = json_array_size(reasons) > 0 ? "not-ready" : NULL;
	if (verdict == NULL) {
		if (!rd.sts_policy_seen)
			jok &= q_reason(reasons, "no-sts-policy", "no report in the last %d days "
			    "applied an sts policy of this domain", days) == 0;
		if (rd.sts < READY_MIN_SESSIONS)
			jok &= q_reason(reasons, "too-few-sessions", "%" PRId64 " sts sessions in the "
			    "last %d days; at least %d are needed", rd.sts, days,
			    READY_MIN_SESSIONS) == 0;
		if (json_array_size(rd.reporters) < READY_MIN_REPORTERS)
			jok &= q_reason(reasons, "too-few-reporters", "%zu reporter(s) in the last %d "
			    "days; at least %d are needed", json_array_size(rd.reporters), days,
			    READY_MIN_REPORTERS) == 0;
		if (rd.clean_days < min_clean)
			jok &= q_reason(reasons, "too-few-clean-days", "%" PRId64 " consecutive clean "
			    "day(s) up to today; at least %" PRId64 " are needed", rd.clean_days,
			    min_clean) == 0;
		if (rd.last_data_day >= 0 && rd.last_data_day < today - READY_LAG_DAYS)
			jok &= q_reason(reasons, "stale-data", "no sts sessions reported since %s",
			    query_day_text(rd.last_data_day, dbuf, sizeof(dbuf))) == 0;
		verdict = json_array_size(reasons) > 0 ? "insufficient-data" : "ready";
	}
	if (!rd.google)
		jok &= q_reason(notes, "major-reporter-missing", "no report from Google in the last "
		    "%d days", days) == 0;
	if (!rd.microsoft)
		jok &= q_reason(notes, "major-reporter-missing", "no report from Microsoft in the "
		    "last %d days", days) == 0;
	if (rd.patterns_day < 0 && json_array_size(rd.mx) > 0)
		jok &= q_reason(notes, "mx-patterns-unknown", "the sts policies of the last %d days "
		    "were stored without their mx lines: receiving MX hosts were not checked",
		    days) == 0;
	if (rd.dane + rd.unclassified > 0)
		jok &= q_reason(notes, "other-failures", "%" PRId64 " failed sts sessions have a DANE "
		    "or unregistered result type: not counted as refused", rd.dane + rd.unclassified)
		    == 0;
	if (!jok)
		goto out;
	doc = json_pack("{s:s, s:i, s:o, s:s, s:O, s:O,"
	    " s:{s:I, s:I, s:o, s:I, s:O},"
	    " s:{s:I, s:I, s:I, s:o},"
	    " s:{s:I, s:O, s:{s:b, s:b}},"
	    " s:{s:O, s:O, s:o},"
	    " s:O, s:{s:i, s:I, s:I, s:I}}",
	    "domain", domain, "days", days, "window", q_window_json(rd.d0, rd.d1),
	    "verdict", verdict, "reasons", reasons, "notes", notes,
	    "sessions",
	        "sts", (json_int_t)rd.sts, "would_refuse", (json_int_t)rd.would_refuse,
	        "would_refuse_share", q_ratio(rd.would_refuse + rd.refused, rd.sts),
	        "refused_in_enforce", (json_int_t)rd.refused, "by_result_type", rd.refuse_by_type,
	    "days_of_data",
	        "clean_days", (json_int_t)rd.clean_days, "needed", (json_int_t)min_clean,
	        "with_sts_sessions", (json_int_t)0,
	        "last_day", rd.last_data_day >= 0 ? q_day(rd.last_data_day) : json_null(),
	    "reporters",
	        "count", (json_int_t)json_array_size(rd.reporters), "list", rd.reporters,
	        "major", "google", rd.google, "microsoft", rd.microsoft,
	    "policy",
	        "modes", rd.modes, "mx_patterns", rd.patterns,
	        "mx_patterns_day", rd.patterns_day >= 0 ? q_day(rd.patterns_day) : json_null(),
	    "receiving_mx", rd.mx,
	    "recent_errors",
	        "days", days < READY_RECENT_DAYS ? days : READY_RECENT_DAYS,
	        "sts-policy-fetch-error", (json_int_t)rd.fetch_recent,
	        "sts-policy-invalid", (json_int_t)rd.invalid_recent,
	        "sts-webpki-invalid", (json_int_t)rd.webpki_recent);
	if (doc != NULL) {
		int64_t n = 0;

		for (int64_t k = 0; k < rd.d1 - rd.d0; k++)
			n += rd.day[k].sts > 0;
		json_object_set_new(json_object_get(doc, "days_of_data"), "with_sts_sessions",
		    json_integer(n));
	}
	jok = doc != NULL;
out:
	free(rd.day);
	json_decref(rd.refuse_by_type);
	json_decref(rd.reporters);
	json_decref(rd.modes);
	json_decref(rd.patterns);
	json_decref(rd.mx);
	json_decref(reasons);
	json_decref(notes);
	q_close(&q);
	if (q_result(&q, jok) == 0)
		*out = doc;
	else
		json_decref(doc);
	return q_result(&q, jok);
}

/* ---- /reports ---- */

/* Candidates newest first, with whether the row passes the filters (?3 .. ?8). */
#define Q_REPORT_OK \
	"((?3 IS NULL OR lower(r.organization_name) = lower(?3))" \
	" AND (?4 IS NULL OR r.end_ts > ?4) AND (?5 IS NULL OR r.start_ts < ?5)" \
	" AND (?6 IS NULL OR (r.total_failed > 0) = ?6)" \
	" AND (?7 IS NULL OR EXISTS (SELECT 1 FROM failures f" \
	"     WHERE f.report = r.id AND f.result_type = ?7)))"

static const char q_sql_rep_all[] =
    "SELECT r.id, " Q_REPORT_OK ", r.domains FROM reports r"
    " WHERE r.id < ?1 AND ?2 IS NULL ORDER BY r.id DESC";

static const char q_sql_rep_domain[] =
    "SELECT r.id, " Q_REPORT_OK ", r.domains FROM policies p JOIN reports r ON r.id = p.report"
    " WHERE p.policy_domain = ?2 AND p.report < ?1 ORDER BY p.report DESC";

/* The columns of one list item (the shape of store_list_reports). */
static const char q_sql_rep_item[] =
    "SELECT r.id, r.organization_name, r.contact_info, r.report_id, r.start_ts, r.end_ts,"
    " r.domains, r.total_successful, r.total_failed,"
    " (SELECT count(*) FROM report_copies c WHERE c.report = r.id), r.conflict_of,"
    " r.received_at FROM reports r WHERE r.id = ?1";

static json_t *
q_report_item(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:{s:o, s:o}, s:o, s:{s:o, s:o}, s:o, s:{s:I, s:I}, s:I, s:o, s:o}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "reporter",
	        "organization_name", store_col_text(st, 1, 0),
	        "contact_info", store_col_text(st, 2, 0),
	    "report_id", store_col_text(st, 3, 0),
	    "window", "start", q_col_time(st, 4), "end", q_col_time(st, 5),
	    "domains", q_col_json(st, 6),
	    "totals",
	        "successful", (json_int_t)sqlite3_column_int64(st, 7),
	        "failed", (json_int_t)sqlite3_column_int64(st, 8),
	    "copies", (json_int_t)sqlite3_column_int64(st, 9),
	    "conflict_of", q_col_id(st, 10),
	    "received_at", q_col_time(st, 11));
}

/* A report is visible when one of its domains is, or (naming none) when visible(arg, NULL). */
static int
q_report_visible(sqlite3_stmt *st, int col, query_visible_fn visible, void *arg)
{
	json_t *doms;
	size_t i, n;
	int yes = 0;

	if (visible == NULL)
		return 1;
	if ((doms = q_col_json(st, col)) == NULL)
		return 0;
	n = json_array_size(doms);
	for (i = 0; i < n && !yes; i++)
		yes = json_is_string(json_array_get(doms, i)) &&
		    visible(arg, json_string_value(json_array_get(doms, i)));
	if (n == 0)
		yes = visible(arg, NULL);
	json_decref(doms);
	return yes;
}

int
query_reports(struct store *s, const struct query_reports *f, query_visible_fn visible,
    void *arg, json_t **out)
{
	struct qctx q;
	sqlite3_stmt *cand = NULL, *item = NULL;
	json_t *list = NULL, *e;
	int64_t last_scanned = 0, last_id = 0, prev = 0;
	int scanned = 0, more = 0, got, jok = 1, acc = SQLITE_OK;

	*out = NULL;
	if (s == NULL || f == NULL || f->limit < 1 || f->limit > QUERY_LIST_MAX || f->before_id < 0)
		return STORE_ERR;
	if (q_open(&q, s, "reports") != 0)
		goto out;
	cand = q_prep(&q, f->domain != NULL ? q_sql_rep_domain : q_sql_rep_all);
	item = q_prep(&q, q_sql_rep_item);
	if (cand == NULL || item == NULL || (list = json_array()) == NULL) {
		jok = q.rc != 0;
		goto out;
	}
	q_acc(&acc, sqlite3_bind_int64(cand, 1, f->before_id > 0 ? f->before_id : INT64_MAX));
	q_acc(&acc, f->domain != NULL ? sqlite3_bind_text(cand, 2, f->domain, -1, SQLITE_STATIC) :
	    sqlite3_bind_null(cand, 2));
	if (f->reporter != NULL)
		q_acc(&acc, sqlite3_bind_text(cand, 3, f->reporter, -1, SQLITE_STATIC));
	if (f->has_from)
		q_acc(&acc, sqlite3_bind_int64(cand, 4, f->from_ts));
	if (f->has_to)
		q_acc(&acc, sqlite3_bind_int64(cand, 5, f->to_ts));
	if (f->has_failures >= 0)
		q_acc(&acc, sqlite3_bind_int(cand, 6, f->has_failures ? 1 : 0));
	if (f->result_type != NULL)
		q_acc(&acc, sqlite3_bind_text(cand, 7, f->result_type, -1, SQLITE_STATIC));
	q_bind_check(&q, acc);
	while (jok && q.rc == 0 && (got = q_step(&q, cand)) == 1) {
		int64_t id = sqlite3_column_int64(cand, 0);

		if (id == prev)
			continue;       /* a second policy of the same report for the domain */
		prev = id;
		if (scanned == QUERY_SCAN_MAX) {
			more = 1;       /* budget spent: go on below the last one looked at */
			break;
		}
		scanned++;
		last_scanned = id;
		if (!sqlite3_column_int(cand, 1) || !q_report_visible(cand, 2, visible, arg))
			continue;
		if ((int)json_array_size(list) == f->limit) {
			more = 2;       /* a match beyond the page: next page below the last item */
			break;
		}
		q_rewind(item);
		if (sqlite3_bind_int64(item, 1, id) != SQLITE_OK || q_step(&q, item) != 1) {
			q_fail(&q, SQLITE_CORRUPT, "item");
			break;
		}
		jok = (e = q_report_item(item)) != NULL && q_push(list, e) == 0;
		last_id = id;
	}
	if (jok && q.rc == 0) {
		*out = json_pack("{s:O, s:o, s:i}", "reports", list, "next_before",
		    more == 2 ? json_integer(last_id) : more == 1 ? json_integer(last_scanned) :
		    json_null(), "scanned", scanned);
		jok = *out != NULL;
	}
out:
	sqlite3_finalize(cand);
	sqlite3_finalize(item);
	json_decref(list);
	q_close(&q);
	if (q_result(&q, jok) != 0 && *out != NULL) {
		json_decref(*out);
		*out = NULL;
	}
	return q_result(&q, jok);
}

int
query_report_raw(struct store *s, int64_t id, json_t **domains, struct buf *raw_gz)
{
	struct qctx q;
	sqlite3_stmt *st;
	int got, ret = STORE_ERR;

	*domains = NULL;
	if (s == NULL || raw_gz == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	if (q_open(&q, s, "report-raw") != 0 ||
	    (st = q_prep(&q, "SELECT domains, raw_gz FROM reports WHERE id = ?1")) == NULL) {
		q_close(&q);
		return q_result(&q, 1);
	}
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		q_fail(&q, SQLITE_RANGE, "bind");
	else if ((got = q_step(&q, st)) == 0)
		ret = STORE_NOTFOUND;
	else if (got == 1 && (*domains = q_col_json(st, 0)) != NULL &&
	    buf_append(raw_gz, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)) == 0)
		ret = 0;
	sqlite3_finalize(st);
	q_close(&q);
	if (q.rc != 0)
		ret = q.rc;
	if (ret != 0) {
		json_decref(*domains);
		*domains = NULL;
	}
	return ret;
}

/* ---- quarantine ---- */

#define Q_QUAR_COLS \
	"id, reason_code, reason, status, report, raw_len, first_seen, last_seen, seen_count"

static json_t *
q_quar_item(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "reason_code", store_col_text(st, 1, 0),
	    "reason", store_col_text(st, 2, 0),
	    "status", store_col_text(st, 3, 0),
	    "report", q_col_id(st, 4),
	    "raw_len", (json_int_t)sqlite3_column_int64(st, 5),
	    "first_seen", q_col_time(st, 6),
	    "last_seen", q_col_time(st, 7),
	    "seen_count", (json_int_t)sqlite3_column_int64(st, 8));
}

int
query_quarantine_list(struct store *s, int limit, int64_t before_id, const char *status,
    json_t **out)
{
	struct qctx q;
	sqlite3_stmt *st;
	json_t *list = NULL, *e;
	int64_t last = 0;
	int n = 0, got = 0, jok = 1, acc = SQLITE_OK;

	*out = NULL;
	if (s == NULL || limit < 1 || limit > QUERY_LIST_MAX || before_id < 0)
		return STORE_ERR;
	if (q_open(&q, s, "quarantine-list") != 0 ||
	    (st = q_prep(&q, "SELECT " Q_QUAR_COLS " FROM quarantine WHERE id < ?1"
	    " AND (?2 IS NULL OR status = ?2) ORDER BY id DESC LIMIT ?3")) == NULL) {
		q_close(&q);
		return q_result(&q, 1);
	}
	q_acc(&acc, sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX));
	q_acc(&acc, status != NULL ? sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC) :
	    sqlite3_bind_null(st, 2));
	q_acc(&acc, sqlite3_bind_int(st, 3, limit + 1));
	q_bind_check(&q, acc);
	jok = (list = json_array()) != NULL;
	while (jok && q.rc == 0 && (got = q_step(&q, st)) == 1) {
		if (n == limit)
			break;
		jok = (e = q_quar_item(st)) != NULL && q_push(list, e) == 0;
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	if (jok && q.rc == 0) {
		*out = json_pack("{s:O, s:o}", "quarantine", list, "next_before",
		    got == 1 ? json_integer(last) : json_null());
		jok = *out != NULL;
	}
	sqlite3_finalize(st);
	json_decref(list);
	q_close(&q);
	return q_result(&q, jok);
}

int
query_quarantine_get(struct store *s, int64_t id, json_t **out)
{
	struct qctx q;
	sqlite3_stmt *st = NULL, *cp = NULL;
	json_t *doc = NULL, *copies = NULL, *c;
	int got, jok = 1, ret;

	*out = NULL;
	if (s == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	if (q_open(&q, s, "quarantine-get") != 0)
		goto out;
	st = q_prep(&q, "SELECT " Q_QUAR_COLS ", detail FROM quarantine WHERE id = ?1");
	cp = q_prep(&q, "SELECT id, transport, peer, received_at, meta FROM report_copies"
	    " WHERE quarantine = ?1 ORDER BY id");
	if (st == NULL || cp == NULL)
		goto out;
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_bind_int64(cp, 1, id) != SQLITE_OK) {
		q_fail(&q, SQLITE_RANGE, "bind");
		goto out;
	}
	if ((got = q_step(&q, st)) != 1) {
		sqlite3_finalize(st);
		sqlite3_finalize(cp);
		q_close(&q);
		return got == 0 ? STORE_NOTFOUND : q_result(&q, 1);
	}
	jok = (doc = q_quar_item(st)) != NULL && q_set(doc, "detail", q_col_json(st, 9)) == 0 &&
	    (copies = json_array()) != NULL;
	while (jok && q.rc == 0 && (got = q_step(&q, cp)) == 1) {
		c = json_pack("{s:I, s:o, s:o, s:o, s:o}",
		    "id", (json_int_t)sqlite3_column_int64(cp, 0),
		    "transport", store_col_text(cp, 1, 0), "peer", store_col_text(cp, 2, 0),
		    "received_at", q_col_time(cp, 3), "meta", q_col_json(cp, 4));
		jok = q_push(copies, c) == 0;
	}
	jok = jok && json_object_set(doc, "copies", copies) == 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(cp);
	json_decref(copies);
	q_close(&q);
	ret = q_result(&q, jok);
	if (ret == 0)
		*out = doc;
	else
		json_decref(doc);
	return ret;
}

int
query_quarantine_raw(struct store *s, int64_t id, struct buf *raw_gz, char *status,
    char *transport, int64_t *first_seen)
{
	struct qctx q;
	sqlite3_stmt *st;
	int got, ret = STORE_ERR;

	if (s == NULL || raw_gz == NULL || status == NULL || transport == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	if (q_open(&q, s, "quarantine-raw") != 0 ||
	    (st = q_prep(&q, "SELECT raw_gz, status, (SELECT transport FROM report_copies c"
	    " WHERE c.quarantine = q.id ORDER BY c.id LIMIT 1), first_seen FROM quarantine q"
	    " WHERE id = ?1"))
	    == NULL) {
		q_close(&q);
		return q_result(&q, 1);
	}
	if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
		q_fail(&q, SQLITE_RANGE, "bind");
	else if ((got = q_step(&q, st)) == 0)
		ret = STORE_NOTFOUND;
	else if (got == 1 && buf_append(raw_gz, sqlite3_column_blob(st, 0),
	    (size_t)sqlite3_column_bytes(st, 0)) == 0) {
		const char *t = (const char *)sqlite3_column_text(st, 2);

		snprintf(status, 16, "%s", sqlite3_column_text(st, 1) != NULL ?
		    (const char *)sqlite3_column_text(st, 1) : "");
		snprintf(transport, 32, "%s", t != NULL ? t : "");
		if (first_seen != NULL)
			*first_seen = sqlite3_column_int64(st, 3);
		ret = 0;
	}
	sqlite3_finalize(st);
	q_close(&q);
	return q.rc != 0 ? q.rc : ret;
}

struct q_write {
	int64_t id;
	int64_t report;
	int found;
};

/* The writer's side of query_quarantine_mark (store_write: runs on the writer thread). */
static int
q_mark_fn(sqlite3 *db, void *arg)
{
	struct q_write *w = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "UPDATE quarantine SET status = 'reprocessed', report = ?2"
	    " WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_bind_int64(st, 1, w->id)) == SQLITE_OK &&
	    (rc = sqlite3_bind_int64(st, 2, w->report)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		w->found = sqlite3_changes(db) > 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_sqlite_rc(rc);
}

static int
q_delete_fn(sqlite3 *db, void *arg)
{
	struct q_write *w = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, "DELETE FROM quarantine WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_bind_int64(st, 1, w->id)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		w->found = sqlite3_changes(db) > 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_sqlite_rc(rc);
}

int
query_quarantine_mark(struct store *s, int64_t id, int64_t report_id)
{
	struct q_write w = { .id = id, .report = report_id };
	int rc;

	if (s == NULL || report_id <= 0)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	if ((rc = store_write(s, q_mark_fn, &w)) != 0)
		return rc;
	return w.found ? 0 : STORE_NOTFOUND;
}

int
query_quarantine_delete(struct store *s, int64_t id)
{
	struct q_write w = { .id = id };
	int rc;

	if (s == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	if ((rc = store_write(s, q_delete_fn, &w)) != 0)
		return rc;
	return w.found ? 0 : STORE_NOTFOUND;
}

/* ---- /stats and the data version ---- */

int
query_stats(struct store *s, json_t **out)
{
	struct qctx q;
	sqlite3_stmt *st = NULL;
	json_t *by_t = NULL, *by_v = NULL, *quar = NULL, *doc = NULL;
	int64_t total = 0, stored = 0, qrows = 0, size = 0, freeb = 0, ndom = 0;
	int got, jok = 1;

	*out = NULL;
	if (s == NULL)
		return STORE_ERR;
	if (q_open(&q, s, "stats") != 0)
		goto out;
	jok = (by_t = json_object()) != NULL && (by_v = json_object()) != NULL &&
	    (quar = json_object()) != NULL;
	if (!jok || (st = q_prep(&q, "SELECT transport, verdict, sum(copies) FROM ingest_daily"
	    " GROUP BY transport, verdict ORDER BY transport, verdict")) == NULL)
		goto out;
	while (jok && q.rc == 0 && (got = q_step(&q, st)) == 1) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		int64_t n = sqlite3_column_int64(st, 2);
		json_t *o = json_object_get(by_t, t);

		if (o == NULL && (o = json_object()) != NULL && json_object_set_new(by_t, t, o) != 0)
			o = NULL;
		jok = o != NULL && json_object_set_new(o, v, json_integer(n)) == 0 &&
		    json_object_set_new(by_v, v, json_integer(json_integer_value(
		    json_object_get(by_v, v)) + n)) == 0;
		total += n;
		if (strcmp(v, "accepted") == 0 || strcmp(v, "conflict") == 0)
			stored += n;
	}
	sqlite3_finalize(st);
	if (!jok || (st = q_prep(&q, "SELECT status, count(*), sum(seen_count) FROM quarantine"
	    " GROUP BY status ORDER BY status")) == NULL)
		goto out;
	while (jok && q.rc == 0 && (got = q_step(&q, st)) == 1) {
		jok = q_set(quar, (const char *)sqlite3_column_text(st, 0), json_pack("{s:I, s:I}",
		    "rows", (json_int_t)sqlite3_column_int64(st, 1),
		    "arrivals", (json_int_t)sqlite3_column_int64(st, 2))) == 0;
		qrows += sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (!jok || (st = q_prep(&q, "SELECT (SELECT page_count FROM pragma_page_count()) *"
	    " (SELECT page_size FROM pragma_page_size()), (SELECT freelist_count FROM"
	    " pragma_freelist_count()) * (SELECT page_size FROM pragma_page_size())")) == NULL)
		goto out;
	if (q_step(&q, st) == 1) {
		size = sqlite3_column_int64(st, 0);
		freeb = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	/* Domains: daily_domain's key skipped through, one seek each. */
	if ((st = q_prep(&q, q_sql_next_domain)) == NULL)
		goto out;
	{
		char cur[QUERY_DOMAIN_TEXT_MAX] = "";

		while (q.rc == 0 && ndom <= QUERY_DOMAINS_MAX) {
			q_rewind(st);
			q_bind_check(&q, sqlite3_bind_text(st, 1, cur, -1, SQLITE_TRANSIENT));
			if (q_step(&q, st) != 1 ||
			    (size_t)sqlite3_column_bytes(st, 0) >= sizeof(cur))
				break;
			snprintf(cur, sizeof(cur), "%s", (const char *)sqlite3_column_text(st, 0));
			ndom++;
		}
	}
	sqlite3_finalize(st);
	/* Index ends only: min/max of the window index, first and last id. */
	if ((st = q_prep(&q, "SELECT (SELECT min(start_ts) FROM reports),"
	    " (SELECT max(start_ts) FROM reports),"
	    " (SELECT received_at FROM reports ORDER BY id LIMIT 1),"
	    " (SELECT received_at FROM reports ORDER BY id DESC LIMIT 1)")) == NULL)
		goto out;
	if (q_step(&q, st) == 1 && q.rc == 0) {
		doc = json_pack("{s:{s:I, s:O, s:O}, s:{s:I, s:O}, s:{s:I, s:I, s:o, s:o, s:o, s:o},"
		    " s:{s:I, s:I}}",
		    "ingest", "arrivals", (json_int_t)total, "by_transport", by_t, "by_verdict", by_v,
		    "quarantine", "rows", (json_int_t)qrows, "by_status", quar,
		    "reports", "stored", (json_int_t)stored, "domains", (json_int_t)ndom,
		    "oldest_window_start", q_col_time(st, 0),
		    "newest_window_start", q_col_time(st, 1),
		    "first_received", q_col_time(st, 2), "last_received", q_col_time(st, 3),
		    "database", "bytes", (json_int_t)size, "free_bytes", (json_int_t)freeb);
		jok = doc != NULL;
	}
	sqlite3_finalize(st);
out:
	json_decref(by_t);
	json_decref(by_v);
	json_decref(quar);
	q_close(&q);
	if (q_result(&q, jok) == 0 && doc != NULL)
		*out = doc;
	else {
		json_decref(doc);
		return q.rc != 0 ? q.rc : STORE_ERR;
	}
	return 0;
}

int
query_data_version(struct store *s, int64_t v[4])
{
	struct qctx q;
	sqlite3_stmt *st;
	int ret;

	memset(v, 0, 4 * sizeof(*v));
	if (s == NULL)
		return STORE_ERR;
	if (q_open(&q, s, "data-version") != 0 ||
	    (st = q_prep(&q, "SELECT (SELECT max(id) FROM report_copies),"
	    " (SELECT max(id) FROM reports), (SELECT max(id) FROM quarantine),"
	    " (SELECT value FROM meta WHERE key = 'generation')")) == NULL) {
		q_close(&q);
		return q_result(&q, 1);
	}
	if (q_step(&q, st) == 1)
		for (int i = 0; i < 4; i++)
			v[i] = sqlite3_column_int64(st, i);
	sqlite3_finalize(st);
	q_close(&q);
	ret = q_result(&q, 1);
	return ret;
}
