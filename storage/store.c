#include "storage/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "schema/schema.h"
#include "storage/query.h"
#include "storage/store_int.h"

#define STORE_READERS_MAX       64
#define STORE_BATCH_LIMIT       100000
#define STORE_QUEUE_LIMIT       1000000
#define STORE_LIST_MAX          500
#define STORE_DAY               86400
/* Windows covering more UTC days than this are counted whole on their last day. */
#define STORE_SPLIT_DAYS_MAX    366
/* Accepted timestamps: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (RFC 3339 years). */
#define STORE_TS_MIN            INT64_C(-62167219200)
#define STORE_TS_MAX            INT64_C(253402300799)
/*
 * Checkpoints run on their own thread and connection, so a group commit does not wait for
 * them: the writer's WAL hook wakes the checkpointer once the WAL holds STORE_CKPT_FRAMES
 * frames (8 KiB pages: 16 MiB). Should it fall far behind, the writer checkpoints itself at
 * STORE_CKPT_FORCE_FRAMES, which bounds the WAL. journal_size_limit trims the file after.
 */
#define STORE_CKPT_FRAMES       2000
#define STORE_CKPT_FORCE_FRAMES (8 * STORE_CKPT_FRAMES)
#define STORE_WAL_LIMIT         "67108864"
/* Internal verdict of a request step: the whole batch must be rolled back. */
#define STORE_ABORT             (-100)

enum store_wst {
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO,
	W_REP_ORIG, W_REP_INSERT, W_REP_FIND, W_POL_INSERT, W_FAIL_INSERT, W_COPY_INSERT,
	W_Q_INSERT, W_Q_BUMP, W_DD_UPSERT, W_DP_UPSERT, W_PING,
	W_RR_UPSERT, W_RP_UPSERT, W_RSND_UPSERT, W_RS_UPSERT,
	W_COUNT
};

static const char *const store_wsql[W_COUNT] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SAVEPOINT] = "SAVEPOINT store_req",
	[W_RELEASE] = "RELEASE store_req",
	[W_ROLLBACK_TO] = "ROLLBACK TO store_req",
	[W_REP_ORIG] =
	    "SELECT id FROM reports WHERE reporter_key = ?1 AND report_id = ?2 AND start_ts = ?3"
	    " AND end_ts = ?4 AND conflict_of IS NULL ORDER BY id LIMIT 1",
	[W_REP_INSERT] =
	    "INSERT INTO reports (reporter_key, organization_name, contact_info, report_id,"
	    " start_ts, end_ts, sha256, json_len, raw_gz, lint, domains,"
	    " total_successful, total_failed, counted, conflict_of, received_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
	    " ON CONFLICT (start_ts, end_ts, reporter_key, report_id, sha256) DO NOTHING",
	[W_REP_FIND] =
	    "SELECT id FROM reports WHERE reporter_key = ?1 AND report_id = ?2 AND start_ts = ?3"
	    " AND end_ts = ?4 AND sha256 = ?5",
	[W_POL_INSERT] =
	    "INSERT INTO policies (report, idx, policy_type, policy_domain, sts_mode, sts_max_age,"
	    " successful, failed, counted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[W_FAIL_INSERT] =
	    "INSERT INTO failures (policy, report, result_type, sending_mta_ip, receiving_ip,"
	    " receiving_mx_hostname, receiving_mx_helo, failure_reason_code,"
	    " additional_information, failed_session_count)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[W_COPY_INSERT] =
	    "INSERT INTO report_copies (report, quarantine, transport, peer, received_at, meta)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[W_Q_INSERT] =
	    "INSERT INTO quarantine (sha256, reason_code, reason, detail, raw_gz, raw_len,"
	    " first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
	    " ON CONFLICT (sha256) DO NOTHING",
	[W_Q_BUMP] =
	    "UPDATE quarantine SET seen_count = seen_count + 1, last_seen = max(last_seen, ?2)"
	    " WHERE sha256 = ?1 RETURNING id",
	[W_DD_UPSERT] =
	    "INSERT INTO daily_domain (domain, day, reports, successful, failed)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain, day) DO UPDATE SET"
	    " reports = reports + excluded.reports, successful = successful + excluded.successful,"
	    " failed = failed + excluded.failed",
	[W_DP_UPSERT] =
	    "INSERT INTO daily_policy (domain, day, policy_type, successful, failed)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (domain, day, policy_type) DO UPDATE SET"
	    " successful = successful + excluded.successful, failed = failed + excluded.failed",
	[W_PING] =
	    "INSERT INTO meta (key, value) VALUES ('heartbeat', ?1)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	/* The API rollups of schema/0002_api_rollups.sql. */
	[W_RR_UPSERT] =
	    "INSERT INTO roll_reporter (domain, day, org, reports, successful, failed)"
	    " VALUES (?1, ?2, ?3, 1, ?4, ?5) ON CONFLICT (domain, day, org) DO UPDATE SET"
	    " reports = reports + 1, successful = successful + excluded.successful,"
	    " failed = failed + excluded.failed",
	[W_RP_UPSERT] =
	    "INSERT INTO roll_path (domain, day, policy_type, sts_mode, stands, result_type, mx, rip,"
	    " failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (domain, day,"
	    " policy_type, sts_mode, stands, result_type, mx, rip) DO UPDATE SET"
	    " failed = failed + excluded.failed",
	[W_RSND_UPSERT] =
	    "INSERT INTO roll_sender (domain, grain, period, ip, failed) VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (domain, grain, period, ip) DO UPDATE SET failed = failed + excluded.failed",
	[W_RS_UPSERT] =
	    "INSERT INTO roll_sts (domain, day, mode, mx, reports, successful, failed)"
	    " VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6) ON CONFLICT (domain, day, mode, mx) DO UPDATE SET"
	    " reports = reports + 1, successful = successful + excluded.successful,"
	    " failed = failed + excluded.failed",
};

/* Short statement names for error texts and logs. */
static const char *const store_wname[W_COUNT] = {
	[W_BEGIN] = "begin", [W_COMMIT] = "commit", [W_ROLLBACK] = "rollback",
	[W_SAVEPOINT] = "savepoint", [W_RELEASE] = "release", [W_ROLLBACK_TO] = "rollback-to",
	[W_REP_ORIG] = "report lookup", [W_REP_INSERT] = "report insert",
	[W_REP_FIND] = "duplicate lookup", [W_POL_INSERT] = "policy insert",
	[W_FAIL_INSERT] = "failure insert", [W_COPY_INSERT] = "copy insert",
	[W_Q_INSERT] = "quarantine insert", [W_Q_BUMP] = "quarantine update",
	[W_DD_UPSERT] = "daily_domain upsert", [W_DP_UPSERT] = "daily_policy upsert",
	[W_PING] = "heartbeat",
	[W_RR_UPSERT] = "roll_reporter upsert", [W_RP_UPSERT] = "roll_path upsert",
	[W_RSND_UPSERT] = "roll_sender upsert", [W_RS_UPSERT] = "roll_sts upsert",
};

/* The columns of one list item, in the order store_item() reads them. */
#define STORE_ITEM_COLS \
	"r.id, r.organization_name, r.contact_info, r.report_id, r.start_ts, r.end_ts," \
	" r.domains, r.total_successful, r.total_failed," \
	" (SELECT count(*) FROM report_copies c WHERE c.report = r.id), r.conflict_of," \
	" r.received_at"
#define STORE_ITEM_NCOLS 12

enum store_rst { R_LIST, R_GET, R_COPIES, R_BEGIN, R_END, R_COUNT };

static const char *const store_rsql[R_COUNT] = {
	[R_LIST] = "SELECT " STORE_ITEM_COLS " FROM reports r WHERE r.id < ?1"
	    " ORDER BY r.id DESC LIMIT ?2",
	[R_GET] = "SELECT " STORE_ITEM_COLS ", r.raw_gz, r.lint, r.sha256"
	    " FROM reports r WHERE r.id = ?1",
	[R_COPIES] = "SELECT id, transport, peer, received_at, meta FROM report_copies"
	    " WHERE report = ?1 ORDER BY id",
	[R_BEGIN] = "BEGIN",
	[R_END] = "COMMIT",
};

struct store_reader {
	sqlite3 *db;            /* first member: store_int.h hands it out as a sqlite3 * */
	sqlite3_stmt *st[R_COUNT];
	int in_use;
};

struct store {
	char *path;
	int batch_max;
	int queue_max;

	/* Writer: the connection and its statements belong to the writer thread once started. */
	sqlite3 *wdb;
	sqlite3_stmt *wst[W_COUNT];
	char abort_msg[160];
	uint64_t n_batches;     /* writer-only counters, logged at close */
	uint64_t n_requests;
	/* Group commit latency for /metrics (store_commit_stats), guarded by mu. */
	uint64_t commit_le[STORE_COMMIT_BUCKETS];
	uint64_t commit_count;
	double commit_sum;
	pthread_t writer;
	int writer_started;

	/* Queue, guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct store_req *head, *tail;
	int queued;
	int closing;

	/* Reader pool, guarded by rmu. */
	pthread_mutex_t rmu;
	pthread_cond_t rfree;
	struct store_reader *readers;
	int n_readers;

	/* Checkpointer: its connection belongs to its thread; the flags are guarded by cmu. */
	sqlite3 *cdb;
	pthread_t ckpt;
	int ckpt_started;
	pthread_mutex_t cmu;
	pthread_cond_t cwork;
	int ckpt_wanted;
	int ckpt_stop;
};

/* Per UTC day seconds of one report window [start, end'). */
struct store_window {
	int64_t first_day;
	int n;
	int64_t span;
	int64_t secs[STORE_SPLIT_DAYS_MAX];
};

struct store_waiter {
	struct store *s;
	pthread_cond_t cv;
	int done;
};

/* A private marker: a request whose report points here is a store_ping(). */
static const struct store_report store_ping_mark;
static const struct store_report store_fn_mark;

static pthread_once_t store_log_once = PTHREAD_ONCE_INIT;
static int store_log_rc = SQLITE_OK;

static void
store_sqlite_log(void *arg, int code, const char *msg)
{
	char q[512];

	(void)arg;
	log_q(q, sizeof(q), msg, (size_t)-1);
	switch (code & 0xff) {
	case SQLITE_NOTICE:
		log_info("sqlite", "code=%d msg=%s", code, q);
		break;
	case SQLITE_SCHEMA:
		log_debug("sqlite", "code=%d msg=%s", code, q);
		break;
	default:
		log_warn("sqlite", "code=%d msg=%s", code, q);
		break;
	}
}

static void
store_log_init(void)
{
	/* Fails with SQLITE_MISUSE if SQLite was initialised before: logged at store_open. */
	store_log_rc = sqlite3_config(SQLITE_CONFIG_LOG, store_sqlite_log, (void *)NULL);
	/* Memory statistics take a global mutex on every allocation; nothing here reads them. */
	if (store_log_rc == SQLITE_OK)
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* vsnprintf into dst; a cut message ends in "...". */
static void
store_fmt(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
store_fmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(dst, len, "(error text unavailable)");
	else if ((size_t)n >= len && len > 4)
		memcpy(dst + len - 4, "...", 4);
}

static void
store_result_set(struct store_result *res, enum store_rc rc, const char *error)
{
	memset(res, 0, sizeof(*res));
	res->rc = rc;
	if (error != NULL)
		store_fmt(res->error, sizeof(res->error), "%s", error);
}

/* SQLite failures a retry may cure (busy, full, I/O, ...), as opposed to a bad request. */
static int
store_sqlite_temp(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
	case SQLITE_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int64_t
store_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int64_t
store_floor_mod(int64_t a, int64_t b)
{
	return a - store_floor_div(a, b) * b;
}

static int64_t
store_sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t
store_count(int64_t v)
{
	return v < 0 ? 0 : v;
}

/* "2024-03-01T00:00:00Z"; buf of at least 32 bytes. */
static const char *
store_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		store_fmt(buf, len, "%" PRId64, t);
		return buf;
	}
	store_fmt(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}


/*
 * The UTC days of a window and the seconds of each. An end at hh:59:59 counts as the next
 * whole second, so both one-day conventions give exactly one day. An empty or inverted window
 * is one day (the start's); one wider than STORE_SPLIT_DAYS_MAX is one day (its last).
 * Returns 1 when the window was capped, else 0. Timestamps are within STORE_TS_MIN..MAX.
 */
static int
store_window_init(struct store_window *w, int64_t start, int64_t end)
{
	int64_t e = end, d1;

	if (store_floor_mod(end, 3600) == 3599)
		e = end + 1;
	if (e <= start) {
		w->first_day = store_floor_div(start, STORE_DAY);
		w->n = 1;
		w->span = 1;
		w->secs[0] = 1;
		return 0;
	}
	w->first_day = store_floor_div(start, STORE_DAY);
	d1 = store_floor_div(e - 1, STORE_DAY);
	if (d1 - w->first_day >= STORE_SPLIT_DAYS_MAX) {
		w->first_day = d1;
		w->n = 1;
		w->span = 1;
		w->secs[0] = 1;
		return 1;
	}
	w->n = (int)(d1 - w->first_day + 1);
	w->span = e - start;
	for (int i = 0; i < w->n; i++) {
		int64_t lo = (w->first_day + i) * STORE_DAY, hi = lo + STORE_DAY;

		if (lo < start)
			lo = start;
		if (hi > e)
			hi = e;
		w->secs[i] = hi - lo;
	}
	return 0;
}

/*
 * Splits count over the window's days in proportion to their seconds: each day gets the floor
 * of its share, and what is left goes one by one to the largest remainders (earlier day first
 * on a tie), so out[] adds up to count exactly.
 */
static void
store_split(const struct store_window *w, int64_t count, int64_t *out)
{
	int64_t rem[STORE_SPLIT_DAYS_MAX];
	int64_t q, r, left = count;

	if (w->n == 1) {
		out[0] = count;
		return;
	}
	/* count * secs may pass 2^63; (q * span + r) * secs / span keeps every product small. */
	q = count / w->span;
	r = count % w->span;
	for (int i = 0; i < w->n; i++) {
		int64_t x = r * w->secs[i];

		out[i] = q * w->secs[i] + x / w->span;
		rem[i] = x % w->span;
		left -= out[i];
	}
	while (left-- > 0) {
		int best = -1;

		for (int i = 0; i < w->n; i++)
			if (rem[i] >= 0 && (best < 0 || rem[i] > rem[best]))
				best = i;
		out[best]++;
		rem[best] = -1;
	}
}

static int
store_policy_cmp(const void *a, const void *b)
{
	const struct rpt_policy *pa = *(const struct rpt_policy *const *)a;
	const struct rpt_policy *pb = *(const struct rpt_policy *const *)b;
	int c;

	if (pa->domain != NULL && pb->domain != NULL && (c = strcmp(pa->domain, pb->domain)) != 0)
		return c;
	if ((pa->domain == NULL) != (pb->domain == NULL))
		return pa->domain == NULL ? -1 : 1;
	return pa < pb ? -1 : pa > pb;
}

static int64_t
store_sessions(const struct rpt_policy *p)
{
	return store_count(p->success) + store_count(p->failure);
}

/*
 * The policy standing for each policy domain: per domain the one with the most sessions
 * (the first on a tie). counted_only: only policies with counted = 1 and a domain; otherwise
 * every policy, one without a domain standing alone. picks[] (n_policies entries) is filled
 * in domain order. Returns the number of picks, or -1 on OOM.
 */
static long
store_pick(const struct rpt *rp, int counted_only, const struct rpt_policy **picks)
{
	const struct rpt_policy **v;
	size_t n = 0, i, j;
	long out = 0;

	if (rp->n_policies == 0)
		return 0;
	if ((v = calloc(rp->n_policies, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < rp->n_policies; i++) {
		const struct rpt_policy *p = &rp->policies[i];

		if (counted_only && (!p->counted || p->domain == NULL || p->domain[0] == '\0'))
			continue;
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), store_policy_cmp);
	for (i = 0; i < n; i = j) {
		const struct rpt_policy *best = v[i];

		j = i + 1;
		if (v[i]->domain != NULL && v[i]->domain[0] != '\0') {
			for (; j < n && v[j]->domain != NULL &&
			    strcmp(v[j]->domain, v[i]->domain) == 0; j++)
				if (store_sessions(v[j]) > store_sessions(best))
					best = v[j];
		}
		picks[out++] = best;
	}
	free(v);
	return out;
}

static json_t *
store_jstr(const char *v)
{
	return v != NULL ? json_string(v) : json_null();
}

/* The report's lint array, domains array and totals (see schema/0001_init.sql). */
struct store_summary {
	char *lint;
	char *domains;
	int64_t successful;
	int64_t failed;
};

static void
store_summary_free(struct store_summary *sm)
{
	free(sm->lint);
	free(sm->domains);
	sm->lint = sm->domains = NULL;
}

/* 0, or STORE_ERR with why (OOM, or text that is not UTF-8). */
static int
store_summarise(const struct rpt *rp, struct store_summary *sm, char *why, size_t whylen)
{
	const struct rpt_policy **picks = NULL;
	json_t *lint = NULL, *doms = NULL;
	long n = 0, i;
	int rc = STORE_ERR;

	memset(sm, 0, sizeof(*sm));
	store_fmt(why, whylen, "out of memory");
	if ((lint = json_array()) == NULL || (doms = json_array()) == NULL)
		goto out;
	for (size_t k = 0; k < rp->n_lint; k++) {
		const struct rpt_lint *l = &rp->lint[k];
		json_t *o = json_object();

		if (o == NULL || json_array_append_new(lint, o) != 0 ||
		    json_object_set_new(o, "path", store_jstr(l->path)) != 0 ||
		    json_object_set_new(o, "code", store_jstr(l->code)) != 0 ||
		    json_object_set_new(o, "message", store_jstr(l->message)) != 0) {
			store_fmt(why, whylen, "lint[%zu]: out of memory or not UTF-8", k);
			goto out;
		}
	}
	if (rp->n_policies > 0 && ((picks = calloc(rp->n_policies, sizeof(*picks))) == NULL ||
	    (n = store_pick(rp, 0, picks)) < 0))
		goto out;
	for (i = 0; i < n; i++) {
		sm->successful = store_sat_add(sm->successful, store_count(picks[i]->success));
		sm->failed = store_sat_add(sm->failed, store_count(picks[i]->failure));
		if (picks[i]->domain != NULL && picks[i]->domain[0] != '\0' &&
		    json_array_append_new(doms, json_string(picks[i]->domain)) != 0) {
			store_fmt(why, whylen, "policy-domain: out of memory or not UTF-8");
			goto out;
		}
	}
	if ((sm->lint = json_dumps(lint, JSON_COMPACT)) == NULL ||
	    (sm->domains = json_dumps(doms, JSON_COMPACT)) == NULL)
		goto out;
	why[0] = '\0';
	rc = 0;
out:
	if (rc != 0)
		store_summary_free(sm);
	free(picks);
	json_decref(lint);
	json_decref(doms);
	return rc;
}

/* ---- writer ---- */

/*
 * Records a failed SQLite call of request r: a bad request (constraint, too big, ...) while
 * the transaction is still open is that request's STORE_ERR; anything else aborts the batch.
 */
static int
store_werr(struct store *s, struct store_req *r, const char *what, int rc)
{
	if (!store_sqlite_temp(rc) && !sqlite3_get_autocommit(s->wdb)) {
		store_fmt(r->result.error, sizeof(r->result.error), "%s: %s", what,
		    sqlite3_errmsg(s->wdb));
		return STORE_ERR;
	}
	store_fmt(s->abort_msg, sizeof(s->abort_msg), "%s: %s", what, sqlite3_errmsg(s->wdb));
	return STORE_ABORT;
}

/*
 * Steps writer statement `which` (bound by the caller; bind_rc is the first bind failure) to
 * its end, resets it and clears its bindings. *id (may be NULL) gets the first column of the
 * first row, 0 if none. 0, STORE_ERR (request-local) or STORE_ABORT.
 */
static int
store_wrun(struct store *s, struct store_req *r, enum store_wst which, int bind_rc,
    int64_t *id)
{
	sqlite3_stmt *st = s->wst[which];
	int rc = bind_rc, got = 0;

	if (id != NULL)
		*id = 0;
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (!got && id != NULL)
				*id = sqlite3_column_int64(st, 0);
			got = 1;
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		rc = store_werr(s, r, store_wname[which], rc);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Runs a statement without parameters outside any request: an SQLite code. */
static int
store_wexec(struct store *s, enum store_wst which)
{
	sqlite3_stmt *st = s->wst[which];
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else
		store_fmt(s->abort_msg, sizeof(s->abort_msg), "%s: %s", store_wname[which],
		    sqlite3_errmsg(s->wdb));
	sqlite3_reset(st);
	return rc;
}

static int
store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int
store_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n == 0)
		return sqlite3_bind_zeroblob(st, i, 0);
	return sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
}

/* A count, NULL when the report did not give it. */
static int
store_bind_count(sqlite3_stmt *st, int i, int64_t v)
{
	return v == RPT_COUNT_MISSING ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

static int
store_bind_id(sqlite3_stmt *st, int i, int64_t id)
{
	return id > 0 ? sqlite3_bind_int64(st, i, id) : sqlite3_bind_null(st, i);
}

/* Keeps the first failure of a chain of binds. */
static void
store_bind_acc(int *acc, int rc)
{
	if (*acc == SQLITE_OK)
		*acc = rc;
}

static int
store_add_copy(struct store *s, struct store_req *r, int64_t report, int64_t quarantine)
{
	sqlite3_stmt *st = s->wst[W_COPY_INSERT];
	int b = SQLITE_OK, rc;

	store_bind_acc(&b, store_bind_id(st, 1, report));
	store_bind_acc(&b, store_bind_id(st, 2, quarantine));
	store_bind_acc(&b, store_bind_text(st, 3, r->copy.transport));
	store_bind_acc(&b, store_bind_text(st, 4, r->copy.peer));
	store_bind_acc(&b, sqlite3_bind_int64(st, 5, r->copy.received_at));
	store_bind_acc(&b, store_bind_text(st, 6, r->copy.meta_json));
	if ((rc = store_wrun(s, r, W_COPY_INSERT, b, NULL)) != 0)
		return rc;
	r->result.copy_id = sqlite3_last_insert_rowid(s->wdb);
	return 0;
}

static int
store_add_policies(struct store *s, struct store_req *r, int64_t report)
{
	const struct rpt *rp = r->report->rpt;

	for (size_t i = 0; i < rp->n_policies; i++) {
		const struct rpt_policy *p = &rp->policies[i];
		sqlite3_stmt *st = s->wst[W_POL_INSERT];
		int64_t pid;
		int b = SQLITE_OK, rc;

		store_bind_acc(&b, sqlite3_bind_int64(st, 1, report));
		store_bind_acc(&b, sqlite3_bind_int64(st, 2, (int64_t)i));
		store_bind_acc(&b, store_bind_text(st, 3, rpt_policy_type_name(p)));
		store_bind_acc(&b, store_bind_text(st, 4, p->domain));
		store_bind_acc(&b, store_bind_text(st, 5, p->sts_mode));
		store_bind_acc(&b, p->sts_max_age < 0 ? sqlite3_bind_null(st, 6) :
		    sqlite3_bind_int64(st, 6, p->sts_max_age));
		store_bind_acc(&b, store_bind_count(st, 7, p->success));
		store_bind_acc(&b, store_bind_count(st, 8, p->failure));
		store_bind_acc(&b, sqlite3_bind_int(st, 9, p->counted ? 1 : 0));
		if ((rc = store_wrun(s, r, W_POL_INSERT, b, NULL)) != 0)
			return rc;
		pid = sqlite3_last_insert_rowid(s->wdb);
		if (p->n_failures > 0 && p->failures == NULL) {
			store_fmt(r->result.error, sizeof(r->result.error),
			    "policies[%zu]: failures missing", i);
			return STORE_ERR;
		}
		for (size_t j = 0; j < p->n_failures; j++) {
			const struct rpt_failure *f = &p->failures[j];

			st = s->wst[W_FAIL_INSERT];
			b = SQLITE_OK;
			store_bind_acc(&b, sqlite3_bind_int64(st, 1, pid));
			store_bind_acc(&b, sqlite3_bind_int64(st, 2, report));
			store_bind_acc(&b, store_bind_text(st, 3,
			    f->result_type != NULL ? f->result_type : ""));
			store_bind_acc(&b, store_bind_text(st, 4, f->sending_mta_ip));
			store_bind_acc(&b, store_bind_text(st, 5, f->receiving_ip));
			store_bind_acc(&b, store_bind_text(st, 6, f->receiving_mx_hostname));
			store_bind_acc(&b, store_bind_text(st, 7, f->receiving_mx_helo));
			store_bind_acc(&b, store_bind_text(st, 8, f->failure_reason_code));
			store_bind_acc(&b, store_bind_text(st, 9, f->additional_information));
			store_bind_acc(&b, store_bind_count(st, 10, f->failed_session_count));
			if ((rc = store_wrun(s, r, W_FAIL_INSERT, b, NULL)) != 0)
				return rc;
		}
	}
	return 0;
}

static int
store_upsert_day(struct store *s, struct store_req *r, enum store_wst which, const char *domain,
    int64_t day, const char *type, int64_t ok, int64_t failed)
{
	sqlite3_stmt *st = s->wst[which];
	int b = SQLITE_OK, i = 1;

	store_bind_acc(&b, store_bind_text(st, i++, domain));
	store_bind_acc(&b, sqlite3_bind_int64(st, i++, day));
	if (which == W_DD_UPSERT)
		store_bind_acc(&b, sqlite3_bind_int(st, i++, 1));
	else
		store_bind_acc(&b, store_bind_text(st, i++, type));
	store_bind_acc(&b, sqlite3_bind_int64(st, i++, ok));
	store_bind_acc(&b, sqlite3_bind_int64(st, i++, failed));
	return store_wrun(s, r, which, b, NULL);
}

/* ---- API rollups (schema/0002_api_rollups.sql) ---- */

/* A window of at most STORE_SPLIT_DAYS_MAX days touches at most this many months. */
#define STORE_MONTHS_MAX        14
/* roll_sts.mx: longest text of mx patterns kept (whole patterns only). */
#define STORE_MX_TEXT_MAX       2048

/* Per calendar month sums of the per-day values a over a window. */
struct store_months {
	int n;
	int64_t period[STORE_MONTHS_MAX];
	int64_t a[STORE_MONTHS_MAX];
};

static void
store_months_of(const struct store_window *w, const int64_t *a, struct store_months *m)
{
	m->n = 0;
	for (int d = 0; d < w->n; d++) {
		int64_t mo = query_month_of_day(w->first_day + d);

		if (m->n == 0 || m->period[m->n - 1] != mo) {
			m->period[m->n] = mo;
			m->a[m->n++] = 0;
		}
		m->a[m->n - 1] += a[d];
	}
}

/* roll_reporter: the policy standing for its domain, per day. */
static int
store_roll_reporter(struct store *s, struct store_req *r, const struct rpt_policy *p,
    const struct store_window *w, const int64_t *ok, const int64_t *failed)
{
	const char *org = r->report->rpt->organization_name;
	sqlite3_stmt *st = s->wst[W_RR_UPSERT];
	int rc = 0;

	for (int d = 0; d < w->n && rc == 0; d++) {
		int b = SQLITE_OK;

		store_bind_acc(&b, store_bind_text(st, 1, p->domain));
		store_bind_acc(&b, sqlite3_bind_int64(st, 2, w->first_day + d));
		store_bind_acc(&b, store_bind_text(st, 3, org != NULL ? org : ""));
		store_bind_acc(&b, sqlite3_bind_int64(st, 4, ok[d]));
		store_bind_acc(&b, sqlite3_bind_int64(st, 5, failed[d]));
		rc = store_wrun(s, r, W_RR_UPSERT, b, NULL);
	}
	return rc;
}

static int
store_str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * roll_sts.mx of an sts policy: its mx patterns (policy-string, else mx-host), sorted,
 * without repeats, joined by spaces, whole patterns up to STORE_MX_TEXT_MAX bytes. 0, or
 * STORE_TEMP (out of memory).
 */
static int
store_mx_text(const struct rpt_policy *p, struct buf *out)
{
	const char **src = p->n_sts_mx > 0 ? p->sts_mx : p->mx_hosts;
	size_t n = p->n_sts_mx > 0 ? p->n_sts_mx : p->n_mx_hosts, k = 0;
	const char **v;

	if (n == 0 || src == NULL)
		return 0;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return STORE_TEMP;
	for (size_t i = 0; i < n; i++)
		if (src[i] != NULL && src[i][0] != '\0' && strchr(src[i], ' ') == NULL)
			v[k++] = src[i];
	qsort(v, k, sizeof(*v), store_str_cmp);
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(v[i]);

		if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
			continue;
		if (out->len + l + 1 > STORE_MX_TEXT_MAX)
			break;
		if (out->len > 0)
			buf_puts(out, " ");
		buf_append(out, v[i], l);
	}
	free(v);
	return out->err == BUF_OK ? 0 : STORE_TEMP;
}

/* roll_sts: one counted sts policy, per day. */
static int
store_roll_sts(struct store *s, struct store_req *r, const struct rpt_policy *p,
    const struct store_window *w, const int64_t *ok, const int64_t *failed)
{
	sqlite3_stmt *st = s->wst[W_RS_UPSERT];
	struct buf mx;
	int rc;

	buf_init(&mx, STORE_MX_TEXT_MAX);
	if ((rc = store_mx_text(p, &mx)) != 0)
		goto out;
	for (int d = 0; d < w->n && rc == 0; d++) {
		int b = SQLITE_OK;

		store_bind_acc(&b, store_bind_text(st, 1, p->domain));
		store_bind_acc(&b, sqlite3_bind_int64(st, 2, w->first_day + d));
		store_bind_acc(&b, store_bind_text(st, 3, p->sts_mode != NULL ? p->sts_mode : ""));
		store_bind_acc(&b, store_bind_text(st, 4, mx.data != NULL ? mx.data : ""));
		store_bind_acc(&b, sqlite3_bind_int64(st, 5, ok[d]));
		store_bind_acc(&b, sqlite3_bind_int64(st, 6, failed[d]));
		rc = store_wrun(s, r, W_RS_UPSERT, b, NULL);
	}
out:
	buf_free(&mx);
	return rc;
}

/*
 * One failure detail seen as a roll_path key (result type, mx, receiving ip) or, with
 * path NULL, a roll_sender key (sending ip), with its count.
 */
struct store_fkey {
	const char *k[3];
	int64_t count;
};

static const char *
store_or_empty(const char *v)
{
	return v != NULL ? v : "";
}

static int
store_fkey_cmp(const void *a, const void *b)
{
	const struct store_fkey *x = a, *y = b;
	int c;

	for (int i = 0; i < 3; i++)
		if ((c = strcmp(x->k[i], y->k[i])) != 0)
			return c;
	return 0;
}

/* Sorts v[0..n) by key and sums equal keys into the first of each run; returns the runs. */
static size_t
store_fkey_merge(struct store_fkey *v, size_t n)
{
	size_t out = 0;

	qsort(v, n, sizeof(*v), store_fkey_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && store_fkey_cmp(&v[out - 1], &v[i]) == 0)
			v[out - 1].count = store_sat_add(v[out - 1].count, v[i].count);
		else
			v[out++] = v[i];
	}
	return out;
}

static int
store_rp_upsert(struct store *s, struct store_req *r, const struct rpt_policy *p, int stands,
    int64_t day, const struct store_fkey *f, int64_t failed)
{
	sqlite3_stmt *st = s->wst[W_RP_UPSERT];
	int b = SQLITE_OK;

	store_bind_acc(&b, store_bind_text(st, 1, p->domain));
	store_bind_acc(&b, sqlite3_bind_int64(st, 2, day));
	store_bind_acc(&b, store_bind_text(st, 3, rpt_policy_type_name(p)));
	store_bind_acc(&b, store_bind_text(st, 4, p->type == RPT_POLICY_STS ?
	    store_or_empty(p->sts_mode) : ""));
	store_bind_acc(&b, sqlite3_bind_int(st, 5, stands));
	store_bind_acc(&b, store_bind_text(st, 6, f->k[0]));
	store_bind_acc(&b, store_bind_text(st, 7, f->k[1]));
	store_bind_acc(&b, store_bind_text(st, 8, f->k[2]));
	store_bind_acc(&b, sqlite3_bind_int64(st, 9, failed));
	return store_wrun(s, r, W_RP_UPSERT, b, NULL);
}

static int
store_snd_upsert(struct store *s, struct store_req *r, const struct rpt_policy *p, int grain,
    int64_t period, const char *ip, int64_t failed)
{
	sqlite3_stmt *st = s->wst[W_RSND_UPSERT];
	int b = SQLITE_OK;

	store_bind_acc(&b, store_bind_text(st, 1, p->domain));
	store_bind_acc(&b, sqlite3_bind_int(st, 2, grain));
	store_bind_acc(&b, sqlite3_bind_int64(st, 3, period));
	store_bind_acc(&b, store_bind_text(st, 4, ip));
	store_bind_acc(&b, sqlite3_bind_int64(st, 5, failed));
	return store_wrun(s, r, W_RSND_UPSERT, b, NULL);
}

/*
 * roll_path (every counted policy) and roll_sender (the standing policy only) from one
 * policy's failure details: details with the same key are summed first (a report adds one
 * row per distinct key, whatever its number of details), then split over the window's days;
 * roll_sender also gets month rows. amt is a day array of the window.
 */
static int
store_roll_fail(struct store *s, struct store_req *r, const struct rpt_policy *p, int stands,
    const struct store_window *w, int64_t *amt)
{
	struct store_fkey *v;
	struct store_months m;
	size_t n, i;
	int rc = 0;

	if (p->n_failures == 0)
		return 0;
	if ((v = calloc(p->n_failures, sizeof(*v))) == NULL)
		return STORE_TEMP;
	for (i = 0; i < p->n_failures; i++) {
		const struct rpt_failure *f = &p->failures[i];

		v[i].k[0] = store_or_empty(f->result_type);
		v[i].k[1] = store_or_empty(f->receiving_mx_hostname);
		v[i].k[2] = store_or_empty(f->receiving_ip);
		v[i].count = store_count(f->failed_session_count);
	}
	n = store_fkey_merge(v, p->n_failures);
	for (i = 0; i < n && rc == 0; i++) {
		if (v[i].count == 0)
			continue;
		store_split(w, v[i].count, amt);
		for (int d = 0; d < w->n && rc == 0; d++)
			if (amt[d] > 0)
				rc = store_rp_upsert(s, r, p, stands, w->first_day + d, &v[i], amt[d]);
	}
	if (!stands || rc != 0)
		goto out;
	for (i = 0; i < p->n_failures; i++) {
		const struct rpt_failure *f = &p->failures[i];

		v[i].k[0] = store_or_empty(f->sending_mta_ip);
		v[i].k[1] = v[i].k[2] = "";
		v[i].count = store_count(f->failed_session_count);
	}
	n = store_fkey_merge(v, p->n_failures);
	for (i = 0; i < n && rc == 0; i++) {
		if (v[i].count == 0)
			continue;
		store_split(w, v[i].count, amt);
		for (int d = 0; d < w->n && rc == 0; d++)
			if (amt[d] > 0)
				rc = store_snd_upsert(s, r, p, 0, w->first_day + d, v[i].k[0], amt[d]);
		store_months_of(w, amt, &m);
		for (int k = 0; k < m.n && rc == 0; k++)
			if (m.a[k] > 0)
				rc = store_snd_upsert(s, r, p, 1, m.period[k], v[i].k[0], m.a[k]);
	}
out:
	free(v);
	return rc;
}

/*
 * The daily rollups of a new report (see the header and schema/0001_init.sql): per domain the
 * counted policy with the most sessions into daily_domain, every counted policy into
 * daily_policy, each split over the window's UTC days; and the API rollups of
 * schema/0002_api_rollups.sql: roll_reporter from the standing policies, roll_sts from every
 * counted sts policy, roll_path from every counted policy's details and roll_sender from the
 * standing policies' details.
 */
static int
store_rollup(struct store *s, struct store_req *r, int64_t report)
{
	const struct rpt *rp = r->report->rpt;
	const struct rpt_policy **picks = NULL;
	struct store_window *w;
	int64_t *ok, *failed, *amt;
	long n = 0;
	int rc = STORE_TEMP;

	/* Three day arrays would be 9 KB of stack on the writer; one allocation instead. */
	if ((w = malloc(sizeof(*w) + 3 * STORE_SPLIT_DAYS_MAX * sizeof(int64_t))) == NULL)
		goto out;
	ok = (int64_t *)(w + 1);
	failed = ok + STORE_SPLIT_DAYS_MAX;
	amt = failed + STORE_SPLIT_DAYS_MAX;
	if (store_window_init(w, rp->start, rp->end))
		log_warn("store-window-capped", "report=%" PRId64 " start=%" PRId64 " end=%" PRId64
		    " day=%" PRId64, report, rp->start, rp->end, w->first_day);
	if (rp->n_policies > 0 && ((picks = calloc(rp->n_policies, sizeof(*picks))) == NULL ||
	    (n = store_pick(rp, 1, picks)) < 0))
		goto out;
	rc = 0;
	for (long k = 0; k < n && rc == 0; k++) {
		store_split(w, store_count(picks[k]->success), ok);
		store_split(w, store_count(picks[k]->failure), failed);
		for (int d = 0; d < w->n && rc == 0; d++)
			rc = store_upsert_day(s, r, W_DD_UPSERT, picks[k]->domain, w->first_day + d,
			    NULL, ok[d], failed[d]);
		if (rc == 0)
			rc = store_roll_reporter(s, r, picks[k], w, ok, failed);
	}
	for (size_t i = 0; i < rp->n_policies && rc == 0; i++) {
		const struct rpt_policy *p = &rp->policies[i];
		int stands = 0;

		if (!p->counted || p->domain == NULL || p->domain[0] == '\0')
			continue;
		store_split(w, store_count(p->success), ok);
		store_split(w, store_count(p->failure), failed);
		for (int d = 0; d < w->n && rc == 0; d++)
			rc = store_upsert_day(s, r, W_DP_UPSERT, p->domain, w->first_day + d,
			    rpt_policy_type_name(p), ok[d], failed[d]);
		if (rc == 0 && p->type == RPT_POLICY_STS)
			rc = store_roll_sts(s, r, p, w, ok, failed);
		for (long k = 0; k < n && !stands; k++)
			stands = picks[k] == p;
		if (rc == 0)
			rc = store_roll_fail(s, r, p, stands, w, amt);
	}
out:
	if (rc == STORE_TEMP)
		store_fmt(r->result.error, sizeof(r->result.error), "rollup: out of memory");
	free(picks);
	free(w);
	return rc;
}

static int
store_check_report(const struct store_report *sr, char *why, size_t whylen)
{
	const struct rpt *rp = sr->rpt;

	if (rp == NULL || sr->sha256 == NULL || sr->raw_gz == NULL)
		store_fmt(why, whylen, "report: rpt, sha256 and raw_gz are required");
	else if (rp->reporter_key == NULL || rp->report_id == NULL)
		store_fmt(why, whylen, "report: reporter_key and report_id are required");
	else if (rp->n_policies > 0 && rp->policies == NULL)
		store_fmt(why, whylen, "report: policies missing");
	else if (rp->n_lint > 0 && rp->lint == NULL)
		store_fmt(why, whylen, "report: lint missing");
	else if (rp->start < STORE_TS_MIN || rp->start > STORE_TS_MAX || rp->end < STORE_TS_MIN ||
	    rp->end > STORE_TS_MAX)
		store_fmt(why, whylen, "report: date range out of bounds");
	else if (sr->json_len > (size_t)INT64_MAX)
		store_fmt(why, whylen, "report: json_len out of bounds");
	else
		return 0;
	return STORE_ERR;
}

static int
store_apply_report(struct store *s, struct store_req *r)
{
	const struct store_report *sr = r->report;
	const struct rpt *rp = sr->rpt;
	struct store_summary sm = { 0 };
	sqlite3_stmt *st;
	int64_t orig, id;
	int b = SQLITE_OK, rc;

	if ((rc = store_check_report(sr, r->result.error, sizeof(r->result.error))) != 0)
		return rc;
	if ((rc = store_summarise(rp, &sm, r->result.error, sizeof(r->result.error))) != 0)
		goto out;

	st = s->wst[W_REP_ORIG];
	store_bind_acc(&b, store_bind_text(st, 1, rp->reporter_key));
	store_bind_acc(&b, store_bind_text(st, 2, rp->report_id));
	store_bind_acc(&b, sqlite3_bind_int64(st, 3, rp->start));
	store_bind_acc(&b, sqlite3_bind_int64(st, 4, rp->end));
	if ((rc = store_wrun(s, r, W_REP_ORIG, b, &orig)) != 0)
		goto out;

	st = s->wst[W_REP_INSERT];
	b = SQLITE_OK;
	store_bind_acc(&b, store_bind_text(st, 1, rp->reporter_key));
	store_bind_acc(&b, store_bind_text(st, 2, rp->organization_name));
	store_bind_acc(&b, store_bind_text(st, 3, rp->contact_info));
	store_bind_acc(&b, store_bind_text(st, 4, rp->report_id));
	store_bind_acc(&b, sqlite3_bind_int64(st, 5, rp->start));
	store_bind_acc(&b, sqlite3_bind_int64(st, 6, rp->end));
	store_bind_acc(&b, sqlite3_bind_blob(st, 7, sr->sha256, 32, SQLITE_STATIC));
	store_bind_acc(&b, sqlite3_bind_int64(st, 8, (int64_t)sr->json_len));
	store_bind_acc(&b, store_bind_blob(st, 9, sr->raw_gz, sr->raw_gz_len));
	store_bind_acc(&b, store_bind_text(st, 10, sm.lint));
	store_bind_acc(&b, store_bind_text(st, 11, sm.domains));
	store_bind_acc(&b, sqlite3_bind_int64(st, 12, sm.successful));
	store_bind_acc(&b, sqlite3_bind_int64(st, 13, sm.failed));
	store_bind_acc(&b, sqlite3_bind_int(st, 14, orig == 0));
	store_bind_acc(&b, store_bind_id(st, 15, orig));
	store_bind_acc(&b, sqlite3_bind_int64(st, 16, r->copy.received_at));
	if ((rc = store_wrun(s, r, W_REP_INSERT, b, NULL)) != 0)
		goto out;

	if (sqlite3_changes64(s->wdb) == 0) {
		/* The same key and content: a duplicate, only the copy is new. */
		st = s->wst[W_REP_FIND];
		b = SQLITE_OK;
		store_bind_acc(&b, store_bind_text(st, 1, rp->reporter_key));
		store_bind_acc(&b, store_bind_text(st, 2, rp->report_id));
		store_bind_acc(&b, sqlite3_bind_int64(st, 3, rp->start));
		store_bind_acc(&b, sqlite3_bind_int64(st, 4, rp->end));
		store_bind_acc(&b, sqlite3_bind_blob(st, 5, sr->sha256, 32, SQLITE_STATIC));
		if ((rc = store_wrun(s, r, W_REP_FIND, b, &id)) != 0)
			goto out;
		if (id == 0) {
			store_fmt(r->result.error, sizeof(r->result.error),
			    "report: duplicate not found again");
			rc = STORE_ERR;
			goto out;
		}
		r->result.rc = STORE_DUP;
	} else {
		id = sqlite3_last_insert_rowid(s->wdb);
		if ((rc = store_add_policies(s, r, id)) != 0)
			goto out;
		if (orig == 0) {
			if ((rc = store_rollup(s, r, id)) != 0)
				goto out;
			r->result.rc = STORE_NEW;
		} else {
			r->result.rc = STORE_CONFLICT;
			r->result.conflict_of = orig;
		}
	}
	r->result.report_id = id;
	rc = store_add_copy(s, r, id, 0);
out:
	store_summary_free(&sm);
	return rc;
}

static int
store_apply_quarantine(struct store *s, struct store_req *r)
{
	const struct store_quarantine *q = r->quarantine;
	sqlite3_stmt *st;
	int64_t id;
	int b = SQLITE_OK, rc;

	if (q->sha256 == NULL || q->raw_gz == NULL || q->reason_code == NULL || q->reason == NULL) {
		store_fmt(r->result.error, sizeof(r->result.error),
		    "quarantine: sha256, raw_gz, reason_code and reason are required");
		return STORE_ERR;
	}
	if (q->raw_len > (size_t)INT64_MAX) {
		store_fmt(r->result.error, sizeof(r->result.error),
		    "quarantine: raw_len out of bounds");
		return STORE_ERR;
	}
	st = s->wst[W_Q_INSERT];
	store_bind_acc(&b, sqlite3_bind_blob(st, 1, q->sha256, 32, SQLITE_STATIC));
	store_bind_acc(&b, store_bind_text(st, 2, q->reason_code));
	store_bind_acc(&b, store_bind_text(st, 3, q->reason));
	store_bind_acc(&b, store_bind_text(st, 4, q->detail_json));
	store_bind_acc(&b, store_bind_blob(st, 5, q->raw_gz, q->raw_gz_len));
	store_bind_acc(&b, sqlite3_bind_int64(st, 6, (int64_t)q->raw_len));
	store_bind_acc(&b, sqlite3_bind_int64(st, 7, r->copy.received_at));
	if ((rc = store_wrun(s, r, W_Q_INSERT, b, NULL)) != 0)
		return rc;
	if (sqlite3_changes64(s->wdb) == 1) {
		id = sqlite3_last_insert_rowid(s->wdb);
	} else {
		st = s->wst[W_Q_BUMP];
		b = SQLITE_OK;
		store_bind_acc(&b, sqlite3_bind_blob(st, 1, q->sha256, 32, SQLITE_STATIC));
		store_bind_acc(&b, sqlite3_bind_int64(st, 2, r->copy.received_at));
		if ((rc = store_wrun(s, r, W_Q_BUMP, b, &id)) != 0)
			return rc;
		if (id == 0) {
			store_fmt(r->result.error, sizeof(r->result.error),
			    "quarantine: row not found again");
			return STORE_ERR;
		}
	}
	r->result.rc = STORE_QUARANTINED;
	r->result.quarantine_id = id;
	return store_add_copy(s, r, 0, id);
}

static int
store_apply_ping(struct store *s, struct store_req *r)
{
	int b = sqlite3_bind_int64(s->wst[W_PING], 1, (int64_t)time(NULL));
	int rc = store_wrun(s, r, W_PING, b, NULL);

	if (rc == 0)
		r->result.rc = STORE_NEW;
	return rc;
}

/* One request inside its savepoint: 0, STORE_ERR / STORE_TEMP (this one) or STORE_ABORT. */
/* A storage module's own write (store_int.h): fn's 0 is STORE_NEW, STORE_TEMP aborts all. */
static int
store_apply_fn(struct store *s, struct store_req *r)
{
	int rc = r->fn_(s->wdb, r->fn_arg_);

	if (rc == 0) {
		r->result.rc = STORE_NEW;
		return 0;
	}
	if (rc == STORE_TEMP) {
		store_fmt(s->abort_msg, sizeof(s->abort_msg), "%s", sqlite3_errmsg(s->wdb));
		return STORE_ABORT;
	}
	store_fmt(r->result.error, sizeof(r->result.error), "%s", sqlite3_errmsg(s->wdb));
	return rc;
}

static int
store_apply(struct store *s, struct store_req *r)
{
	if (r->report == &store_ping_mark)
		return store_apply_ping(s, r);
	if (r->report == &store_fn_mark)
		return store_apply_fn(s, r);
	if ((r->report == NULL) == (r->quarantine == NULL)) {
		store_fmt(r->result.error, sizeof(r->result.error),
		    "request: exactly one of report and quarantine must be set");
		return STORE_ERR;
	}
	if (r->copy.transport == NULL) {
		store_fmt(r->result.error, sizeof(r->result.error),
		    "request: copy.transport missing");
		return STORE_ERR;
	}
	if (r->report != NULL)
		return store_apply_report(s, r);
	return store_apply_quarantine(s, r);
}

/*
 * Runs every request of the batch inside the open transaction. With savepoints, a request that
 * fails on its own is rolled back alone (STORE_ERR or STORE_TEMP) and the others go on; without
 * them (the fast path) the first such failure returns STORE_ERR at once so the caller can
 * start over carefully. STORE_ABORT means the transaction itself is lost.
 */
static int
store_run_requests(struct store *s, struct store_req *batch, int savepoints, int *n_err)
{
	struct store_req *r;
	char q[200];
	int rc;

	for (r = batch; r != NULL; r = r->next_) {
		r->result.error[0] = '\0';
		if (savepoints && store_wexec(s, W_SAVEPOINT) != SQLITE_OK)
			return STORE_ABORT;
		rc = store_apply(s, r);
		if (rc == STORE_ABORT)
			return STORE_ABORT;
		if (rc != 0 && !savepoints)
			return STORE_ERR;
		if (rc != 0) {
			struct store_result keep = r->result;

			if (store_wexec(s, W_ROLLBACK_TO) != SQLITE_OK)
				return STORE_ABORT;
			store_result_set(&r->result, rc == STORE_TEMP ? STORE_TEMP : STORE_ERR,
			    keep.error);
			(*n_err)++;
			log_warn("store-request-failed", "rc=%d error=%s", r->result.rc,
			    log_q(q, sizeof(q), r->result.error, (size_t)-1));
		}
		if (savepoints && store_wexec(s, W_RELEASE) != SQLITE_OK)
			return STORE_ABORT;
	}
	return 0;
}

const double store_commit_bounds[STORE_COMMIT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* Adds one committed transaction of the given seconds to the histogram. */
static void
store_commit_record(struct store *s, double secs)
{
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < STORE_COMMIT_BUCKETS; i++)
		if (secs <= store_commit_bounds[i])
			s->commit_le[i]++;
	s->commit_count++;
	s->commit_sum += secs;
	pthread_mutex_unlock(&s->mu);
}

/*
 * One group commit: BEGIN IMMEDIATE, every request, COMMIT. The fast path runs the requests
 * without savepoints (a savepoint per request costs a copy of every page it touches); if one
 * request fails on its own, the transaction is rolled back and the batch run again with one
 * savepoint per request, so that request alone fails. When BEGIN, COMMIT or a savepoint
 * fails, or SQLite gives an error that is not about one request (busy, full, I/O, ...),
 * everything is rolled back and every request that was not already refused as invalid gets
 * STORE_TEMP with SQLite's message.
 */
static void
store_run_batch(struct store *s, struct store_req *batch, int n)
{
	struct store_req *r;
	struct timespec t0, t1, t2;
	char q[200];
	int rc, n_err = 0, savepoints = 0;

	for (r = batch; r != NULL; r = r->next_)
		store_result_set(&r->result, STORE_TEMP, "not run");
	s->abort_msg[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
again:
	if (store_wexec(s, W_BEGIN) != SQLITE_OK)
		goto abort;
	rc = store_run_requests(s, batch, savepoints, &n_err);
	if (rc == STORE_ABORT)
		goto abort;
	if (rc != 0) {
		/* Fast path hit a request that fails on its own: start over carefully. */
		if (store_wexec(s, W_ROLLBACK) != SQLITE_OK)
			goto abort;
		savepoints = 1;
		for (r = batch; r != NULL; r = r->next_)
			store_result_set(&r->result, STORE_TEMP, "not run");
		goto again;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (store_wexec(s, W_COMMIT) != SQLITE_OK)
		goto abort;
	clock_gettime(CLOCK_MONOTONIC, &t2);
	store_commit_record(s, (double)(t2.tv_sec - t0.tv_sec) +
	    (double)(t2.tv_nsec - t0.tv_nsec) / 1e9);
	log_debug("store-commit", "requests=%d failed=%d careful=%d sql_us=%ld commit_us=%ld", n,
	    n_err, savepoints, (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000),
	    (long)((t2.tv_sec - t1.tv_sec) * 1000000 + (t2.tv_nsec - t1.tv_nsec) / 1000));
	return;
abort:
	if (!sqlite3_get_autocommit(s->wdb) && store_wexec(s, W_ROLLBACK) != SQLITE_OK)
		log_error("store-rollback-failed", "error=%s",
		    log_q(q, sizeof(q), sqlite3_errmsg(s->wdb), (size_t)-1));
	for (r = batch; r != NULL; r = r->next_)
		if (r->result.rc != STORE_ERR)
			store_result_set(&r->result, STORE_TEMP,
			    s->abort_msg[0] != '\0' ? s->abort_msg : "transaction failed");
	log_warn("store-batch-failed", "requests=%d error=%s", n,
	    log_q(q, sizeof(q), s->abort_msg, (size_t)-1));
}

static void *
store_writer_main(void *arg)
{
	struct store *s = arg;
	struct store_req *batch, *last, *r, *next;
	int n;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->closing)
			pthread_cond_wait(&s->work, &s->mu);
		if (s->head == NULL) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		batch = last = s->head;
		for (n = 1; n < s->batch_max && last->next_ != NULL; n++)
			last = last->next_;
		s->head = last->next_;
		if (s->head == NULL)
			s->tail = NULL;
		last->next_ = NULL;
		s->queued -= n;
		pthread_mutex_unlock(&s->mu);

		store_run_batch(s, batch, n);
		s->n_batches++;
		s->n_requests += (uint64_t)n;
		/* done() may free its request: read next_ first. */
		for (r = batch; r != NULL; r = next) {
			next = r->next_;
			r->next_ = NULL;
			r->done(r->arg, &r->result);
		}
	}
	return NULL;
}

/* ---- open / close ---- */

static int
store_pragma(sqlite3 *db, const char *sql, const char *expect, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *got;
	int rc, ret = -1;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fmt(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
		goto out;
	}
	got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (expect != NULL && (got == NULL || strcmp(got, expect) != 0)) {
		store_fmt(err, errlen, "%s: got %s, need %s", sql, got != NULL ? got : "nothing",
		    expect);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

static int
store_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)) == SQLITE_OK) {
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			*v = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Applies the embedded migrations after the database's user_version, one transaction each.
 * The version is read inside the transaction, so two processes opening at once do not both
 * migrate. Refuses a database newer than this binary.
 */
static int
store_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int latest = 0, v = 0, rc;
	char sql[64];
	char q[256];

	for (int i = 0; i < schema_migration_count; i++) {
		if (schema_migrations[i].version != i + 1) {
			store_fmt(err, errlen, "embedded migration %s is out of order",
			    schema_migrations[i].name);
			return -1;
		}
		latest = schema_migrations[i].version;
	}
	for (;;) {
		const struct schema_migration *m;

		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			store_fmt(err, errlen, "%s: cannot start a migration: %s", path,
			    sqlite3_errmsg(db));
			return -1;
		}
		if ((rc = store_user_version(db, &v)) != SQLITE_OK) {
			store_fmt(err, errlen, "%s: cannot read user_version: %s", path,
			    sqlite3_errmsg(db));
			goto fail;
		}
		if (v < 0 || v > latest) {
			store_fmt(err, errlen, "%s: schema version %d is newer than this binary "
			    "knows (%d)", path, v, latest);
			goto fail;
		}
		if (v == latest)
			break;
		m = &schema_migrations[v];
		if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
			store_fmt(err, errlen, "%s: migration %s failed: %s", path, m->name,
			    sqlite3_errmsg(db));
			goto fail;
		}
		/* PRAGMA takes no parameters; the version is our own integer, not data. */
		rc = snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
		if (rc < 0 || (size_t)rc >= sizeof(sql) ||
		    sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			store_fmt(err, errlen, "%s: migration %s failed to commit: %s", path,
			    m->name, sqlite3_errmsg(db));
			goto fail;
		}
		log_info("store-migrated", "path=%s migration=%s user_version=%d",
		    log_q(q, sizeof(q), path, (size_t)-1), m->name, m->version);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void
store_reader_close(struct store_reader *rd)
{
	for (int i = 0; i < R_COUNT; i++)
		sqlite3_finalize(rd->st[i]);
	sqlite3_close(rd->db);
	memset(rd, 0, sizeof(*rd));
}

static int
store_reader_open(struct store *s, struct store_reader *rd, int busy_ms, char *err,
    size_t errlen)
{
	int rc;

	rc = sqlite3_open_v2(s->path, &rd->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(rd->db, busy_ms);
	for (int i = 0; i < R_COUNT; i++) {
		rc = sqlite3_prepare_v3(rd->db, store_rsql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &rd->st[i], NULL);
		if (rc != SQLITE_OK)
			goto fail;
	}
	return 0;
fail:
	store_fmt(err, errlen, "%s: cannot open a reader: %s", s->path,
	    rd->db != NULL ? sqlite3_errmsg(rd->db) : sqlite3_errstr(rc));
	store_reader_close(rd);
	return -1;
}

/* The writer's WAL hook (runs on the writer thread after each commit). */
static int
store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;

	if (frames >= STORE_CKPT_FRAMES) {
		pthread_mutex_lock(&s->cmu);
		s->ckpt_wanted = 1;
		pthread_cond_signal(&s->cwork);
		pthread_mutex_unlock(&s->cmu);
	}
	if (frames >= STORE_CKPT_FORCE_FRAMES) {
		log_warn("store-checkpoint", "by=writer wal_frames=%d reason=\"checkpointer behind\"", frames);
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

static void *
store_ckpt_main(void *arg)
{
	struct store *s = arg;
	int rc, wal, done;

	for (;;) {
		pthread_mutex_lock(&s->cmu);
		while (!s->ckpt_wanted && !s->ckpt_stop)
			pthread_cond_wait(&s->cwork, &s->cmu);
		if (s->ckpt_stop) {
			pthread_mutex_unlock(&s->cmu);
			break;
		}
		s->ckpt_wanted = 0;
		pthread_mutex_unlock(&s->cmu);
		/* PASSIVE: copies what it can without blocking the writer or the readers. */
		rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &done);
		if (rc != SQLITE_OK)
			log_warn("store-checkpoint", "error=%s", sqlite3_errmsg(s->cdb));
		else
			log_debug("store-checkpoint", "wal_frames=%d copied=%d", wal, done);
	}
	return NULL;
}

/* Opens the checkpointer's connection and starts its thread. 0 or -1 (err filled). */
static int
store_ckpt_start(struct store *s, int busy_ms, char *err, size_t errlen)
{
	int rc;

	rc = sqlite3_open_v2(s->path, &s->cdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_fmt(err, errlen, "%s: cannot open the checkpointer: %s", s->path,
		    s->cdb != NULL ? sqlite3_errmsg(s->cdb) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_busy_timeout(s->cdb, busy_ms);
	if ((rc = pthread_create(&s->ckpt, NULL, store_ckpt_main, s)) != 0) {
		store_fmt(err, errlen, "store: cannot start the checkpointer: %s", strerror(rc));
		return -1;
	}
	s->ckpt_started = 1;
	sqlite3_wal_hook(s->wdb, store_wal_hook, s);
	return 0;
}

static void
store_ckpt_stop(struct store *s)
{
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->cmu);
		s->ckpt_stop = 1;
		pthread_cond_signal(&s->cwork);
		pthread_mutex_unlock(&s->cmu);
		pthread_join(s->ckpt, NULL);
		s->ckpt_started = 0;
	}
	if (s->cdb != NULL)
		sqlite3_close(s->cdb);
	s->cdb = NULL;
}

/* Frees everything of a store whose writer is not running (or was joined). */
static void
store_free(struct store *s)
{
	int rc;

	store_ckpt_stop(s);
	for (int i = 0; s->readers != NULL && i < s->n_readers; i++)
		store_reader_close(&s->readers[i]);
	free(s->readers);
	for (int i = 0; i < W_COUNT; i++)
		sqlite3_finalize(s->wst[i]);
	/* The writer closes last, so its close checkpoints and removes the WAL. */
	if (s->wdb != NULL && (rc = sqlite3_close(s->wdb)) != SQLITE_OK)
		log_error("store-close-failed", "error=%s", sqlite3_errstr(rc));
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rfree);
	pthread_mutex_destroy(&s->cmu);
	pthread_cond_destroy(&s->cwork);
	free(s->path);
	free(s);
}

/*
 * Opens (creating if needed) and migrates the database at opt->path, starts the writer and
 * the reader pool. Options must be positive (busy_timeout_ms may be 0; readers at most
 * STORE_READERS_MAX, batch_max STORE_BATCH_LIMIT, queue_max STORE_QUEUE_LIMIT).
 * Returns the store (free with store_close), or NULL with a sentence in err. Not for use
 * from several threads at once with the same path.
 */
struct store *
store_open(const struct store_options *opt, char *err, size_t errlen)
{
	struct store *s = NULL;
	char q[256];
	int rc;

	pthread_once(&store_log_once, store_log_init);
	if (store_log_rc != SQLITE_OK)
		log_warn("store-sqlite-log", "routed=no reason=%s", sqlite3_errstr(store_log_rc));
	if (!sqlite3_threadsafe()) {
		store_fmt(err, errlen, "SQLite was built without thread support");
		return NULL;
	}
	if (opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
		store_fmt(err, errlen, "store: no database path");
		return NULL;
	}
	if (opt->busy_timeout_ms < 0 || opt->batch_max < 1 || opt->batch_max > STORE_BATCH_LIMIT ||
	    opt->queue_max < 1 || opt->queue_max > STORE_QUEUE_LIMIT || opt->readers < 1 ||
	    opt->readers > STORE_READERS_MAX) {
		store_fmt(err, errlen, "store: options out of range (busy_timeout_ms >= 0, "
		    "batch_max 1..%d, queue_max 1..%d, readers 1..%d)", STORE_BATCH_LIMIT,
		    STORE_QUEUE_LIMIT, STORE_READERS_MAX);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(opt->path)) == NULL) {
		free(s);
		store_fmt(err, errlen, "store: out of memory");
		return NULL;
	}
	s->batch_max = opt->batch_max;
	s->queue_max = opt->queue_max;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rfree, NULL);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_cond_init(&s->cwork, NULL);

	rc = sqlite3_open_v2(s->path, &s->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_fmt(err, errlen, "%s: cannot open: %s", s->path,
		    s->wdb != NULL ? sqlite3_errmsg(s->wdb) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->wdb, 1);
	sqlite3_busy_timeout(s->wdb, opt->busy_timeout_ms);
	/*
	 * trusted_schema stays on: the CHECKs use json_valid(), which SQLite 3.40 does not mark
	 * innocuous. DEFENSIVE still keeps the schema from being written behind our back.
	 */
	sqlite3_db_config(s->wdb, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	/*
	 * page_size only takes on a new file (before WAL): 8 KiB pages hold a few reports each (fewer
	 * WAL frames per group commit, each frame being two pwrite calls) while the rollups' random
	 * updates stay cheap (a touched page is written whole; measured against 4 and 16 KiB with
	 * make bench). temp_store keeps the savepoint journal of the careful path in memory.
	 */
	if (store_pragma(s->wdb, "PRAGMA page_size = 8192", NULL, err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA journal_mode = WAL", "wal", err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA synchronous = FULL", NULL, err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA foreign_keys = ON", NULL, err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA temp_store = MEMORY", NULL, err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA cache_size = -65536", NULL, err, errlen) != 0 ||
	    store_pragma(s->wdb, "PRAGMA journal_size_limit = " STORE_WAL_LIMIT, NULL, err, errlen) != 0 ||
	    store_migrate(s->wdb, s->path, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < W_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->wdb, store_wsql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &s->wst[i], NULL);
		if (rc != SQLITE_OK) {
			store_fmt(err, errlen, "%s: cannot prepare %s: %s", s->path, store_wsql[i],
			    sqlite3_errmsg(s->wdb));
			goto fail;
		}
	}
	if ((s->readers = calloc((size_t)opt->readers, sizeof(*s->readers))) == NULL) {
		store_fmt(err, errlen, "store: out of memory");
		goto fail;
	}
	for (; s->n_readers < opt->readers; s->n_readers++)
		if (store_reader_open(s, &s->readers[s->n_readers], opt->busy_timeout_ms, err,
		    errlen) != 0)
			goto fail;
	if (store_ckpt_start(s, opt->busy_timeout_ms, err, errlen) != 0)
		goto fail;
	if ((rc = pthread_create(&s->writer, NULL, store_writer_main, s)) != 0) {
		store_fmt(err, errlen, "store: cannot start the writer: %s", strerror(rc));
		goto fail;
	}
	s->writer_started = 1;
	log_info("store-open", "path=%s sqlite=%s readers=%d batch_max=%d queue_max=%d",
	    log_q(q, sizeof(q), s->path, (size_t)-1), sqlite3_libversion(), s->n_readers,
	    s->batch_max, s->queue_max);
	return s;
fail:
	store_free(s);
	return NULL;
}

/*
 * Refuses new requests (they get STORE_TEMP), lets the writer commit everything queued and
 * call its done()s, joins it and closes every connection. No reads may be running or start.
 * Accepts NULL.
 */
void
store_stop(struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->closing = 1;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	if (s->writer_started) {
		pthread_join(s->writer, NULL);
		s->writer_started = 0;
	}
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	store_stop(s);
	log_info("store-closed", "transactions=%" PRIu64 " requests=%" PRIu64, s->n_batches,
	    s->n_requests);
	store_free(s);
}

/* ---- submit ---- */

/*
 * Queues req for the writer. 0: done() will be called exactly once, on the writer thread.
 * STORE_TEMP: queue full or closing (done() not called, req->result filled). STORE_ERR:
 * s, req or req->done is NULL (req->result filled when req is not NULL). Thread safe.
 */
int
store_submit(struct store *s, struct store_req *req)
{
	const char *why = NULL;

	if (req == NULL)
		return STORE_ERR;
	if (s == NULL || req->done == NULL) {
		store_result_set(&req->result, STORE_ERR, "request: no store or no done callback");
		return STORE_ERR;
	}
	pthread_mutex_lock(&s->mu);
	if (s->closing)
		why = "store is closing";
	else if (s->queued >= s->queue_max)
		why = "write queue is full";
	if (why == NULL) {
		req->next_ = NULL;
		if (s->tail != NULL)
			s->tail->next_ = req;
		else
			s->head = req;
		s->tail = req;
		s->queued++;
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->mu);
	if (why != NULL) {
		store_result_set(&req->result, STORE_TEMP, why);
		return STORE_TEMP;
	}
	return 0;
}

static void
store_wait_done(void *arg, const struct store_result *res)
{
	struct store_waiter *w = arg;

	(void)res;
	pthread_mutex_lock(&w->s->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->s->mu);
}

/*
 * Queues req and blocks until its transaction is committed (or failed). Returns
 * req->result.rc; STORE_ERR when req->done is not NULL. Thread safe; never call it from a
 * done() callback (that runs on the writer).
 */
int
store_submit_wait(struct store *s, struct store_req *req)
{
	struct store_waiter w = { .s = s };
	int rc;

	if (req == NULL)
		return STORE_ERR;
	if (s == NULL || req->done != NULL) {
		store_result_set(&req->result, STORE_ERR, "request: no store, or done is set");
		return STORE_ERR;
	}
	pthread_cond_init(&w.cv, NULL);
	req->done = store_wait_done;
	req->arg = &w;
	if ((rc = store_submit(s, req)) == 0) {
		pthread_mutex_lock(&s->mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		rc = req->result.rc;
	}
	req->done = NULL;
	req->arg = NULL;
	pthread_cond_destroy(&w.cv);
	return rc;
}

/*
 * Rewrites the 'heartbeat' row of meta through the writer and waits for the commit.
 * 0, or STORE_TEMP on any failure. Thread safe; blocks.
 */
int
store_ping(struct store *s)
{
	struct store_req req;

	memset(&req, 0, sizeof(req));
	req.report = &store_ping_mark;
	req.copy.transport = "ping";
	return store_submit_wait(s, &req) == STORE_NEW ? 0 : STORE_TEMP;
}

/* ---- readers ---- */

static struct store_reader *
store_reader_get_(struct store *s)
{
	struct store_reader *rd = NULL;

	pthread_mutex_lock(&s->rmu);
	for (;;) {
		for (int i = 0; i < s->n_readers && rd == NULL; i++)
			if (!s->readers[i].in_use)
				rd = &s->readers[i];
		if (rd != NULL)
			break;
		pthread_cond_wait(&s->rfree, &s->rmu);
	}
	rd->in_use = 1;
	pthread_mutex_unlock(&s->rmu);
	return rd;
}

static void
store_reader_put_(struct store *s, struct store_reader *rd)
{
	for (int i = 0; i < R_COUNT; i++) {
		sqlite3_reset(rd->st[i]);
		sqlite3_clear_bindings(rd->st[i]);
	}
	/* A failed statement may leave the read transaction open. */
	if (!sqlite3_get_autocommit(rd->db))
		sqlite3_exec(rd->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&s->rmu);
	rd->in_use = 0;
	pthread_cond_signal(&s->rfree);
	pthread_mutex_unlock(&s->rmu);
}

static int
store_read_rc(struct store_reader *rd, int rc, const char *what)
{
	char q[200];

	log_warn("store-read-failed", "query=%s error=%s", what,
	    log_q(q, sizeof(q), sqlite3_errmsg(rd->db), (size_t)-1));
	return store_sqlite_temp(rc) ? STORE_TEMP : STORE_ERR;
}

/*
 * A text column as a JSON string (NULL: JSON null). Text that is not UTF-8 (a file name given
 * as peer, say) is shown with every non-ASCII byte as '?' rather than failing the whole read.
 */
json_t *
store_col_text(sqlite3_stmt *st, int i, int empty_null)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	json_t *v;
	char *c;

	if (t == NULL || (empty_null && n == 0))
		return json_null();
	if ((v = json_stringn((const char *)t, n)) != NULL || (c = malloc(n + 1)) == NULL)
		return v;
	/* Not UTF-8 (a peer that is a file name): shown with '?' for every non-ASCII byte. */
	for (size_t k = 0; k < n; k++)
		c[k] = t[k] < 0x80 ? (char)t[k] : '?';
	v = json_stringn(c, n);
	free(c);
	return v;
}

static json_t *
store_col_str(sqlite3_stmt *st, int i)
{
	return store_col_text(st, i, 0);
}

static json_t *
store_col_id(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, i));
}

static json_t *
store_col_time(sqlite3_stmt *st, int i)
{
	char buf[40];

	return json_string(store_rfc3339(sqlite3_column_int64(st, i), buf, sizeof(buf)));
}

/* A stored JSON text parsed back (NULL column: JSON null). NULL on failure. */
static json_t *
store_col_json(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	if (t == NULL)
		return json_null();
	return json_loadb(t, (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, NULL);
}

/* One list item from a row of STORE_ITEM_COLS. NULL on failure. */
static json_t *
store_item(sqlite3_stmt *st)
{
	return json_pack("{s:I, s:{s:o, s:o}, s:o, s:{s:o, s:o}, s:o, s:{s:I, s:I}, s:I, s:o, s:o}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "reporter",
	        "organization_name", store_col_str(st, 1),
	        "contact_info", store_col_str(st, 2),
	    "report_id", store_col_str(st, 3),
	    "window",
	        "start", store_col_time(st, 4),
	        "end", store_col_time(st, 5),
	    "domains", store_col_json(st, 6),
	    "totals",
	        "successful", (json_int_t)sqlite3_column_int64(st, 7),
	        "failed", (json_int_t)sqlite3_column_int64(st, 8),
	    "copies", (json_int_t)sqlite3_column_int64(st, 9),
	    "conflict_of", store_col_id(st, 10),
	    "received_at", store_col_time(st, 11));
}

/*
 * Lists reports newest first (see the header for the JSON). q->limit 1..500, q->before_id >= 0
 * (0: from the newest). 0 with *out (caller owns the reference), STORE_TEMP (busy, I/O, ...)
 * or STORE_ERR (bad query, bad stored data). Thread safe: uses a pooled read connection.
 */
int
store_list_reports(struct store *s, const struct store_list_query *q, json_t **out)
{
	struct store_reader *rd = NULL;
	json_t *doc = NULL, *items = NULL, *item;
	sqlite3_stmt *st;
	int64_t last = 0;
	int rc, n = 0, ret = STORE_ERR;

	if (out != NULL)
		*out = NULL;
	if (s == NULL || q == NULL || out == NULL || q->limit < 1 || q->limit > STORE_LIST_MAX ||
	    q->before_id < 0)
		return STORE_ERR;
	if ((items = json_array()) == NULL)
		goto out;
	rd = store_reader_get_(s);
	st = rd->st[R_LIST];
	/* One row more than asked tells whether there is a next page. */
	sqlite3_bind_int64(st, 1, q->before_id > 0 ? q->before_id : INT64_MAX);
	sqlite3_bind_int(st, 2, q->limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit)
			break;
		if ((item = store_item(st)) == NULL || json_array_append_new(items, item) != 0)
			goto out;
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = store_read_rc(rd, rc, "list");
		goto out;
	}
	doc = json_pack("{s:O, s:o}", "reports", items,
	    "next_before", rc == SQLITE_ROW ? json_integer(last) : json_null());
	if (doc == NULL)
		goto out;
	*out = doc;
	ret = 0;
out:
	if (rd != NULL)
		store_reader_put_(s, rd);
	json_decref(items);
	return ret;
}

/* Appends the report's copies to arr. 0, STORE_TEMP or STORE_ERR. */
static int
store_copies(struct store_reader *rd, int64_t id, json_t *arr)
{
	sqlite3_stmt *st = rd->st[R_COPIES];
	json_t *c;
	int rc;

	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c = json_pack("{s:I, s:o, s:o, s:o, s:o}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "transport", store_col_str(st, 1),
		    "peer", store_col_str(st, 2),
		    "received_at", store_col_time(st, 3),
		    "meta", store_col_json(st, 4));
		if (c == NULL || json_array_append_new(arr, c) != 0)
			return STORE_ERR;
	}
	return rc == SQLITE_DONE ? 0 : store_read_rc(rd, rc, "copies");
}

/*
 * One report by id: the list fields, "lint", "sha256" (hex) and "copies" as [{id, transport,
 * peer, received_at, meta}]; with raw_gz non-NULL the stored body (gzip) is appended to it,
 * from the same snapshot. 0 with *out (caller owns), STORE_NOTFOUND, STORE_TEMP or STORE_ERR
 * (also when raw_gz's cap is too small). Thread safe: uses a pooled read connection.
 */
int
store_get_report(struct store *s, int64_t id, json_t **out, struct buf *raw_gz)
{
	struct store_reader *rd = NULL;
	json_t *doc = NULL, *copies = NULL;
	sqlite3_stmt *st;
	const unsigned char *sha;
	char hex[65];
	int rc, ret = STORE_ERR;

	if (out != NULL)
		*out = NULL;
	if (s == NULL || out == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	rd = store_reader_get_(s);
	/* One read transaction: the report and its copies from the same snapshot. */
	if ((rc = sqlite3_step(rd->st[R_BEGIN])) != SQLITE_DONE) {
		ret = store_read_rc(rd, rc, "begin");
		goto out;
	}
	st = rd->st[R_GET];
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		ret = STORE_NOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		ret = store_read_rc(rd, rc, "get");
		goto out;
	}
	if ((doc = store_item(st)) == NULL)
		goto out;
	sha = sqlite3_column_blob(st, STORE_ITEM_NCOLS + 2);
	if (sha == NULL || sqlite3_column_bytes(st, STORE_ITEM_NCOLS + 2) != 32)
		goto out;
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[sha[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[sha[i] & 0xf];
	}
	hex[64] = '\0';
	if (raw_gz != NULL && buf_append(raw_gz, sqlite3_column_blob(st, STORE_ITEM_NCOLS),
	    (size_t)sqlite3_column_bytes(st, STORE_ITEM_NCOLS)) != 0)
		goto out;
	if (json_object_set_new(doc, "lint", store_col_json(st, STORE_ITEM_NCOLS + 1)) != 0 ||
	    json_object_set_new(doc, "sha256", json_string(hex)) != 0)
		goto out;
	if ((copies = json_array()) == NULL ||
	    json_object_set(doc, "copies", copies) != 0)
		goto out;
	if ((ret = store_copies(rd, id, copies)) != 0)
		goto out;
	*out = doc;
	doc = NULL;
	ret = 0;
out:
	if (rd != NULL) {
		sqlite3_reset(rd->st[R_GET]);
		sqlite3_reset(rd->st[R_COPIES]);
		sqlite3_step(rd->st[R_END]);
		store_reader_put_(s, rd);
	}
	json_decref(copies);
	json_decref(doc);
	return ret;
}

/* ---- storage modules (store_int.h) ---- */

int
store_write(struct store *s, int (*fn)(sqlite3 *db, void *arg), void *arg)
{
	struct store_req req;

	memset(&req, 0, sizeof(req));
	req.report = &store_fn_mark;
	req.copy.transport = "admin";
	req.fn_ = fn;
	req.fn_arg_ = arg;
	return store_submit_wait(s, &req) == STORE_NEW ? 0 : req.result.rc == STORE_TEMP ?
	    STORE_TEMP : STORE_ERR;
}

sqlite3 *
store_reader_db(struct store *s, struct store_reader **rd)
{
	*rd = store_reader_get_(s);
	return (*rd)->db;
}

void
store_reader_done(struct store *s, struct store_reader *rd)
{
	store_reader_put_(s, rd);
}

/* ---- figures for /metrics ---- */

int
store_queue_depth(struct store *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->queued;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
store_commit_stats(struct store *s, struct store_commit_stats *out)
{
	pthread_mutex_lock(&s->mu);
	memcpy(out->le, s->commit_le, sizeof(out->le));
	out->count = s->commit_count;
	out->sum_seconds = s->commit_sum;
	pthread_mutex_unlock(&s->mu);
}

int
store_sqlite_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_NOMEM:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_INTERRUPT:
		return STORE_TEMP;
	default:
		return STORE_ERR;
	}
}
