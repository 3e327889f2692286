/*
 * api: the JSON read API under /api/v1 (see web/route.h and web/openapi.json).
 *
 *   GET    /api/v1/openapi.json                   this API described (OpenAPI 3)
 *   GET    /api/v1/domains                        every visible policy domain, window totals
 *   GET    /api/v1/domains/{domain}/summary       totals and breakdowns over a window
 *   GET    /api/v1/domains/{domain}/timeseries    per day or week
 *   GET    /api/v1/domains/{domain}/readiness     MTA-STS enforce readiness
 *   GET    /api/v1/reports                        filtered, newest first, cursor
 *   GET    /api/v1/reports/{id}                   one report with provenance
 *   GET    /api/v1/reports/{id}/raw               the report JSON as received
 *   GET    /api/v1/quarantine                     newest first, cursor        (admin)
 *   GET    /api/v1/quarantine/{id}                reason, detail, copies      (admin)
 *   GET    /api/v1/quarantine/{id}/raw            the raw bytes               (admin)
 *   POST   /api/v1/quarantine/{id}/reprocess      through the pipeline again  (admin)
 *   POST   /api/v1/quarantine/{id}/release        again, counted even without DKIM (admin)
 *   DELETE /api/v1/quarantine/{id}                row, raw bytes and copies   (admin)
 *   GET    /api/v1/stats                          ingest counters, database   (all domains)
 *   GET    /api/v1/setup                          domains, rua URIs, DKIM policy (dashboard)
 *
 * Every GET carries an ETag and answers If-None-Match with 304 (web/respond.c). Parameters
 * are checked strictly: an unknown one, a bad value or a window out of bounds is a 400 that
 * names the parameter. A domain or report the asker may not see is a 404, as if absent;
 * lists leave such entries out.
 *
 * Windows: from (inclusive) and to (exclusive) are RFC 3339 date-times with a zone or UTC
 * dates YYYY-MM-DD; the rollups are daily, so an aggregate window runs from the UTC day of
 * from to the end of the UTC day holding the last second before to. Default: the last 30
 * days up to the end of today (UTC); at most QUERY_WINDOW_DAYS_MAX days.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "ingest/norm.h"
#include "storage/query.h"
#include "web/export.h"
#include "web/respond.h"
#include "web/route.h"

#define API_PREFIX             "/api/v1"
#define API_LIST_LIMIT_MAX     QUERY_LIST_MAX
#define API_LIST_LIMIT_DEFAULT 50
#define API_WINDOW_DEFAULT     30       /* days of the default window */
#define API_TOP_DEFAULT        100      /* breakdown entries by default */
#define API_READY_DEFAULT      14       /* readiness days by default */
#define API_PARAM_MAX          256      /* bytes of a text filter (reporter, result_type) */
#define API_ARGS_MAX           16       /* query arguments in one request */
#define API_RAW_MAX            (64u * 1024 * 1024) /* a stored body decompressed for the API */

/* The embedded OpenAPI document (web/CMakeLists.txt generates it from web/openapi.json). */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

static const char *
api_arg(struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct api_args_check {
	const char *const *allowed;
	const char *bad;        /* the first unknown argument */
	int n;
};

static enum MHD_Result
api_args_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct api_args_check *c = cls;
	size_t i;

	(void)kind;
	(void)value;
	c->n++;
	for (i = 0; c->allowed != NULL && c->allowed[i] != NULL; i++)
		if (strcmp(c->allowed[i], key) == 0)
			break;
	if ((c->allowed == NULL || c->allowed[i] == NULL) && c->bad == NULL)
		c->bad = key;
	return MHD_YES;
}

/*
 * Refuses query arguments not in allowed (a NULL-terminated list; NULL: none allowed) with a
 * 400 naming the first. 0 to go on, or -1 after the answer was queued (*rc set).
 */
static int
api_only_args(struct web_req *r, const char *const *allowed, enum MHD_Result *rc)
{
	struct api_args_check c = { .allowed = allowed };
	char why[160];

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, api_args_cb, &c);
	if (c.n > API_ARGS_MAX) {
		*rc = web_respond_bad_param(r, NULL, "too many query parameters");
		return -1;
	}
	if (c.bad == NULL)
		return 0;
	snprintf(why, sizeof(why), "unknown parameter '%.64s'", c.bad);
	*rc = web_respond_bad_param(r, c.bad, why);
	return -1;
}

static int
api_is_get(const struct web_req *r)
{
	return strcmp(r->method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* 1 when the asker sees every domain (auth off, admin, or an all-domains read token). */
static int
api_sees_all(const struct web_req *r)
{
	return auth_domain_visible(&r->auth, NULL);
}

static int
api_visible_cb(void *arg, const char *domain)
{
	const struct web_req *r = arg;

	return auth_domain_visible(&r->auth, domain);
}

/* ---- parameters ---- */

/*
 * A time parameter: "YYYY-MM-DD" (UTC midnight) or an RFC 3339 date-time with a zone.
 * Years 1970 .. 9999. 0 with *out (epoch seconds), or -1.
 */
static int
api_parse_time(const char *s, int64_t *out)
{
	/* One parser for every time parameter (the CSV exports and the CLI use it too). */
	if (export_parse_time(s, out) != 0 || *out < 0 || *out >= (QUERY_DAY_MAX + 1) * QUERY_DAY)
		return -1;
	return 0;
}

/*
 * The aggregate window of from / to (see the top of the file) into w. 0, or -1 after a 400
 * was queued (*rc set).
 */
static int
api_window(struct web_req *r, struct query_window *w, enum MHD_Result *rc)
{
	const char *fs = api_arg(r, "from"), *ts = api_arg(r, "to");
	int64_t today = (int64_t)time(NULL) / QUERY_DAY, f = 0, t = 0;
	char why[160];

	if (fs != NULL && api_parse_time(fs, &f) != 0) {
		*rc = web_respond_bad_param(r, "from", "from must be a date (YYYY-MM-DD) or an RFC "
		    "3339 date-time with a zone, in 1970..9999");
		return -1;
	}
	if (ts != NULL && api_parse_time(ts, &t) != 0) {
		*rc = web_respond_bad_param(r, "to", "to must be a date (YYYY-MM-DD) or an RFC 3339 "
		    "date-time with a zone, in 1970..9999");
		return -1;
	}
	w->to_day = ts != NULL ? (t + QUERY_DAY - 1) / QUERY_DAY : today + 1;
	w->from_day = fs != NULL ? f / QUERY_DAY : w->to_day - API_WINDOW_DEFAULT;
	if (fs != NULL && ts != NULL && f >= t) {
		*rc = web_respond_bad_param(r, "to", "to must be later than from");
		return -1;
	}
	if (w->from_day < QUERY_DAY_MIN)
		w->from_day = QUERY_DAY_MIN;
	if (w->to_day <= w->from_day) {
		*rc = web_respond_bad_param(r, fs != NULL ? "from" : "to", "the window is empty: "
		    "from must be before to (to defaults to the end of today)");
		return -1;
	}
	if (w->to_day - w->from_day > QUERY_WINDOW_DAYS_MAX) {
		snprintf(why, sizeof(why), "the window covers %" PRId64 " days; at most %d are allowed",
		    w->to_day - w->from_day, QUERY_WINDOW_DAYS_MAX);
		*rc = web_respond_bad_param(r, fs != NULL ? "from" : "to", why);
		return -1;
	}
	return 0;
}

/* An integer parameter in [lo, hi] with a default. 0, or -1 after a 400 (*rc set). */
static int
api_int_arg(struct web_req *r, const char *name, int64_t lo, int64_t hi, int64_t def,
    int64_t *out, enum MHD_Result *rc)
{
	const char *s = api_arg(r, name);
	char why[128];

	*out = def;
	if (s == NULL || web_parse_i64(s, lo, hi, out) == 0)
		return 0;
	snprintf(why, sizeof(why), "%s must be an integer in %" PRId64 "..%" PRId64, name, lo, hi);
	*rc = web_respond_bad_param(r, name, why);
	return -1;
}

/* A text parameter of at most API_PARAM_MAX bytes (NULL when absent). 0, or -1 (*rc set). */
static int
api_text_arg(struct web_req *r, const char *name, const char **out, enum MHD_Result *rc)
{
	char why[128];

	*out = api_arg(r, name);
	if (*out == NULL || ((*out)[0] != '\0' && strlen(*out) <= API_PARAM_MAX))
		return 0;
	snprintf(why, sizeof(why), "%s must be 1..%d bytes", name, API_PARAM_MAX);
	*rc = web_respond_bad_param(r, name, why);
	return -1;
}

/* The answer for a failed store call (404, 503, 500). */
static enum MHD_Result
api_store_fail(struct web_req *r, int rc)
{
	return web_respond_store(r->conn, rc, NULL, r->retry_after, &r->status);
}

static enum MHD_Result
api_not_found(struct web_req *r, const char *reason)
{
	r->status = MHD_HTTP_NOT_FOUND;
	return web_respond_error(r->conn, r->status, "not-found", reason);
}

static enum MHD_Result
api_forbidden(struct web_req *r, const char *reason)
{
	r->status = MHD_HTTP_FORBIDDEN;
	return web_respond_error(r->conn, r->status, "forbidden", reason);
}

/*
 * Answers 200 with *out (cached) or the store's failure. out is a pointer so that it is read
 * after the query that fills it has run (argument evaluation order is unspecified).
 */
static enum MHD_Result
api_answer(struct web_req *r, const struct web_cache *c, int rc, json_t **out)
{
	if (rc != 0) {
		json_decref(*out);
		return api_store_fail(r, rc);
	}
	return web_respond_cached(r, c, *out);
}

/* ---- /domains ---- */

static enum MHD_Result
api_domains(struct web_req *r)
{
	static const char *const args[] = { "from", "to", NULL };
	struct query_window w;
	struct web_cache c;
	enum MHD_Result rc;
	json_t *out = NULL;

	if (api_only_args(r, args, &rc) != 0 || api_window(r, &w, &rc) != 0 ||
	    web_cache_check(r, &c, &rc))
		return rc;
	return api_answer(r, &c, query_domains(r->store, &w, api_visible_cb, r, &out), &out);
}

/* /domains/{domain}/{what}: the domain checked, normalised and visible; what is the rest. */
static enum MHD_Result
api_domain_route(struct web_req *r, const char *rest)
{
	static const char *const a_summary[] = { "from", "to", "top", NULL };
	static const char *const a_series[] = { "from", "to", "interval", NULL };
	static const char *const a_ready[] = { "days", NULL };
	const char *slash = strchr(rest, '/'), *what;
	char dom[NORM_DOMAIN_MAX];
	struct query_window w;
	struct web_cache c;
	enum MHD_Result rc;
	json_t *out = NULL;
	int64_t v;
	size_t n;

	if (slash == NULL)
		return api_not_found(r, "no such resource: use /domains/{domain}/summary, "
		    "/timeseries or /readiness");
	what = slash + 1;
	if (strcmp(what, "summary") != 0 && strcmp(what, "timeseries") != 0 &&
	    strcmp(what, "readiness") != 0)
		return api_not_found(r, "no such resource: use /domains/{domain}/summary, "
		    "/timeseries or /readiness");
	if (!api_is_get(r))
		return web_respond_method(r, "GET, HEAD");
	n = (size_t)(slash - rest);
	if (n == 0 || n >= NORM_DOMAIN_MAX || norm_domain(rest, n, dom, NULL) != 0)
		return web_respond_bad_param(r, "domain", "the path does not hold a valid domain name");
	if (!auth_domain_visible(&r->auth, dom))
		return api_not_found(r, "no such domain");
	if (strcmp(what, "summary") == 0) {
		if (api_only_args(r, a_summary, &rc) != 0 || api_window(r, &w, &rc) != 0 ||
		    api_int_arg(r, "top", 1, QUERY_TOP_MAX, API_TOP_DEFAULT, &v, &rc) != 0 ||
		    web_cache_check(r, &c, &rc))
			return rc;
		return api_answer(r, &c, query_summary(r->store, dom, &w, (int)v, &out), &out);
	}
	if (strcmp(what, "timeseries") == 0) {
		const char *iv = api_arg(r, "interval");
		int days = 1;

		if (api_only_args(r, a_series, &rc) != 0 || api_window(r, &w, &rc) != 0)
			return rc;
		if (iv != NULL && strcmp(iv, "week") == 0)
			days = 7;
		else if (iv != NULL && strcmp(iv, "day") != 0)
			return web_respond_bad_param(r, "interval", "interval must be day or week");
		if (web_cache_check(r, &c, &rc))
			return rc;
		return api_answer(r, &c, query_timeseries(r->store, dom, &w, days, &out), &out);
	}
	if (api_only_args(r, a_ready, &rc) != 0 ||
	    api_int_arg(r, "days", 1, QUERY_READY_DAYS_MAX, API_READY_DEFAULT, &v, &rc) != 0 ||
	    web_cache_check(r, &c, &rc))
		return rc;
	return api_answer(r, &c, query_readiness(r->store, dom, (int64_t)time(NULL) / QUERY_DAY,
	    (int)v, &out), &out);
}

/* ---- /reports ---- */

/* GET /api/v1/reports?limit=&before=&domain=&reporter=&from=&to=&has_failures=&result_type= */
static enum MHD_Result
api_reports(struct web_req *r)
{
	static const char *const args[] = { "limit", "before", "domain", "reporter", "from", "to",
	    "has_failures", "result_type", NULL };
	struct query_reports q = { .has_failures = -1 };
	const char *ds, *fs, *ts, *hf;
	char dom[NORM_DOMAIN_MAX];
	struct web_cache c;
	enum MHD_Result rc;
	json_t *out = NULL;
	int64_t v;

	if (api_only_args(r, args, &rc) != 0 ||
	    api_int_arg(r, "limit", 1, API_LIST_LIMIT_MAX, API_LIST_LIMIT_DEFAULT, &v, &rc) != 0)
		return rc;
	q.limit = (int)v;
	if (api_int_arg(r, "before", 1, INT64_MAX, 0, &q.before_id, &rc) != 0 ||
	    api_text_arg(r, "reporter", &q.reporter, &rc) != 0 ||
	    api_text_arg(r, "result_type", &q.result_type, &rc) != 0 ||
	    api_text_arg(r, "domain", &ds, &rc) != 0)
		return rc;
	if (ds != NULL) {
		if (norm_domain(ds, strlen(ds), dom, NULL) != 0)
			return web_respond_bad_param(r, "domain", "domain is not a valid domain name");
		/* A domain the asker may not see matches nothing, as if unknown. */
		if (!auth_domain_visible(&r->auth, dom)) {
			if (web_cache_check(r, &c, &rc))
				return rc;
			return web_respond_cached(r, &c, json_pack("{s:[], s:n, s:i}", "reports",
			    "next_before", "scanned", 0));
		}
		q.domain = dom;
	}
	fs = api_arg(r, "from");
	ts = api_arg(r, "to");
	if (fs != NULL) {
		if (api_parse_time(fs, &q.from_ts) != 0)
			return web_respond_bad_param(r, "from", "from must be a date (YYYY-MM-DD) or "
			    "an RFC 3339 date-time with a zone");
		q.has_from = 1;
	}
	if (ts != NULL) {
		if (api_parse_time(ts, &q.to_ts) != 0)
			return web_respond_bad_param(r, "to", "to must be a date (YYYY-MM-DD) or an "
			    "RFC 3339 date-time with a zone");
		q.has_to = 1;
	}
	if (q.has_from && q.has_to && q.from_ts >= q.to_ts)
		return web_respond_bad_param(r, "to", "to must be later than from");
	if ((hf = api_arg(r, "has_failures")) != NULL) {
		if (strcmp(hf, "true") == 0 || strcmp(hf, "1") == 0)
			q.has_failures = 1;
		else if (strcmp(hf, "false") == 0 || strcmp(hf, "0") == 0)
			q.has_failures = 0;
		else
			return web_respond_bad_param(r, "has_failures",
			    "has_failures must be true, false, 1 or 0");
	}
	if (web_cache_check(r, &c, &rc))
		return rc;
	return api_answer(r, &c, query_reports(r->store, &q, api_sees_all(r) ? NULL :
	    api_visible_cb, r, &out), &out);
}

/* 1 when one of a report's domains (a JSON array) is visible; none named: sees-all only. */
static int
api_report_visible(struct web_req *r, const json_t *domains)
{
	size_t i;
	json_t *d;

	if (api_sees_all(r))
		return 1;
	json_array_foreach(domains, i, d)
		if (json_is_string(d) && auth_domain_visible(&r->auth, json_string_value(d)))
			return 1;
	return 0;
}

/*
 * GET /api/v1/reports/ID: what the store keeps about it (provenance: every copy with its
 * transport, peer, time and details), plus "report", the normalised report derived again
 * from the stored body (its "lint" is dropped: the report's own "lint" is the one recorded
 * at ingest, pipeline findings included).
 */
static enum MHD_Result
api_report(struct web_req *r, int64_t id)
{
	struct web_cache c;
	struct buf raw;
	json_t *out = NULL, *rep;
	enum MHD_Result mrc;
	char err[200];
	int rc;

	if (api_only_args(r, NULL, &mrc) != 0 || web_cache_check(r, &c, &mrc))
		return mrc;
	buf_init(&raw, r->max_body > API_RAW_MAX ? r->max_body : API_RAW_MAX);
	rc = store_get_report(r->store, id, &out, &raw);
	if (rc == 0 && !api_report_visible(r, json_object_get(out, "domains"))) {
		json_decref(out);
		buf_free(&raw);
		return api_not_found(r, "no such report");
	}
	if (rc == 0) {
		if ((rep = pipeline_normalise(r->pipeline, raw.data, raw.len, err, sizeof(err))) != NULL) {
			json_object_del(rep, "lint");
			json_object_set_new(out, "report", rep);
		} else {
			log_warn("report_unreadable", "report=%" PRId64 " error=\"%s\"", id, err);
			json_object_set_new(out, "report", json_null());
			json_object_set_new(out, "report_error", json_string(err));
		}
	}
	buf_free(&raw);
	return api_answer(r, &c, rc, &out);
}

/* GET /api/v1/reports/ID/raw: the report JSON exactly as it arrived (decompressed). */
static enum MHD_Result
api_report_raw(struct web_req *r, int64_t id)
{
	struct web_cache c;
	struct buf gz, json;
	json_t *doms = NULL;
	enum MHD_Result mrc;
	char err[200];
	int rc;

	if (api_only_args(r, NULL, &mrc) != 0 || web_cache_check(r, &c, &mrc))
		return mrc;
	buf_init(&gz, API_RAW_MAX);
	buf_init(&json, API_RAW_MAX);
	rc = query_report_raw(r->store, id, &doms, &gz);
	if (rc == 0 && !api_report_visible(r, doms))
		mrc = api_not_found(r, "no such report");
	else if (rc != 0)
		mrc = api_store_fail(r, rc);
	else if (pipeline_raw_json(r->pipeline, gz.data, gz.len, &json, err, sizeof(err)) != 0) {
		log_warn("report_unreadable", "report=%" PRId64 " error=\"%s\"", id, err);
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		mrc = web_respond_error(r->conn, r->status, "unreadable", err);
	} else
		mrc = web_respond_bytes(r, &c, "application/json", NULL, json.data ? json.data : "",
		    json.len, 1);
	json_decref(doms);
	buf_free(&gz);
	buf_free(&json);
	return mrc;
}

/* ---- /quarantine ---- */

static enum MHD_Result
api_quarantine_list(struct web_req *r)
{
	static const char *const args[] = { "limit", "before", "status", NULL };
	const char *st = api_arg(r, "status");
	struct web_cache c;
	enum MHD_Result rc;
	json_t *out = NULL;
	int64_t limit, before;

	if (api_only_args(r, args, &rc) != 0 ||
	    api_int_arg(r, "limit", 1, API_LIST_LIMIT_MAX, API_LIST_LIMIT_DEFAULT, &limit, &rc) != 0 ||
	    api_int_arg(r, "before", 1, INT64_MAX, 0, &before, &rc) != 0)
		return rc;
	if (st != NULL && strcmp(st, "held") != 0 && strcmp(st, "reprocessed") != 0)
		return web_respond_bad_param(r, "status", "status must be held or reprocessed");
	if (web_cache_check(r, &c, &rc))
		return rc;
	return api_answer(r, &c, query_quarantine_list(r->store, (int)limit, before, st, &out),
	    &out);
}

/* Reads and decompresses quarantine row id into body. 0, or -1 after an answer (*mrc). */
static int
api_quarantine_body(struct web_req *r, int64_t id, struct buf *body, char *transport,
    enum MHD_Result *mrc)
{
	char status[16], err[200];
	int rc, unreadable;

	rc = pipeline_quarantine_body(r->pipeline, id, body, status, transport, NULL, &unreadable,
	    err, sizeof(err));
	if (rc != 0 && !unreadable) {
		*mrc = api_store_fail(r, rc);
		return -1;
	}
	if (rc != 0) {
		log_warn("quarantine_unreadable", "quarantine=%" PRId64 " error=\"%s\"", id, err);
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*mrc = web_respond_error(r->conn, r->status, "unreadable", err);
		return -1;
	}
	return 0;
}

/*
 * POST /api/v1/quarantine/ID/reprocess and /release: the stored raw body through the pipeline
 * again (pipeline_requeue; release: an operator vouches for it, so DKIM does not keep it out).
 * This blocks one HTTP worker for one group commit: an operator's action, not a hot path.
 */
static enum MHD_Result
api_reprocess(struct web_req *r, int64_t id, int release)
{
	struct pipeline_job *job = NULL;
	const struct pipeline_result *pr;
	enum MHD_Result mrc;
	char url[64], err[200], row[16];
	json_t *out;
	int rc, mark;

	if (api_only_args(r, NULL, &mrc) != 0)
		return mrc;
	rc = pipeline_requeue(r->pipeline, id, release, &job, &mark, row, err, sizeof(err));
	if (rc == STORE_ERR) {
		log_warn("quarantine_unreadable", "quarantine=%" PRId64 " error=\"%s\"", id, err);
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return web_respond_error(r->conn, r->status, "unreadable", err);
	}
	if (rc != 0)
		return api_store_fail(r, rc);
	log_info(release ? "quarantine_release" : "quarantine_reprocess", "quarantine=%" PRId64
	    " token=%" PRId64, id, r->auth.token_id);
	pr = pipeline_job_result(job);
	if (pr->verdict == PIPELINE_TEMPORARY || mark == STORE_TEMP) {
		/* Safe to retry: the report, if stored, comes back as a duplicate. */
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		mrc = web_respond_json(r->conn, r->status, json_pack("{s:s, s:{s:s, s:s}}", "status",
		    "temporary", "error", "code", "storage-unavailable", "reason",
		    pr->verdict == PIPELINE_TEMPORARY ? pr->temp_reason :
		    "could not mark the quarantine row"), r->retry_after);
		goto done;
	}
	if (pr->report_id > 0) {
		snprintf(url, sizeof(url), API_PREFIX "/reports/%" PRId64, pr->report_id);
		out = json_pack("{s:s, s:I, s:s, s:{s:I, s:s}}", "status",
		    pipeline_verdict_name(pr->verdict), "quarantine_id", (json_int_t)id,
		    "quarantine_status", row, "report", "id", (json_int_t)pr->report_id, "url", url);
	} else {
		out = json_pack("{s:s, s:I, s:s, s:n, s:{s:s, s:s, s:s}}", "status",
		    pipeline_verdict_name(pr->verdict), "quarantine_id", (json_int_t)id,
		    "quarantine_status", row, "report", "error", "code", pr->error.code, "reason",
		    pr->error.reason, "path", pr->error.path);
		if (out != NULL && pr->quarantine_id > 0 && pr->quarantine_id != id)
			json_object_set_new(out, "new_quarantine_id", json_integer(pr->quarantine_id));
	}
	r->status = MHD_HTTP_OK;
	mrc = web_respond_json(r->conn, r->status, out, 0);
done:
	pipeline_job_free(job);
	return mrc;
}

/* /api/v1/quarantine/ID[/raw|/reprocess|/release], admin only when auth is on. */
static enum MHD_Result
api_quarantine_item(struct web_req *r, const char *rest)
{
	struct web_cache c;
	enum MHD_Result mrc;
	const char *slash = strchr(rest, '/');
	char num[24], disp[96];
	int64_t id;
	json_t *out = NULL;
	size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);

	if (n == 0 || n >= sizeof(num))
		return api_not_found(r, "no such quarantine row");
	memcpy(num, rest, n);
	num[n] = '\0';
	if (web_parse_i64(num, 1, INT64_MAX, &id) != 0)
		return api_not_found(r, "no such quarantine row");
	if (slash == NULL) {
		if (strcmp(r->method, MHD_HTTP_METHOD_DELETE) == 0) {
			int rc;

			if (api_only_args(r, NULL, &mrc) != 0)
				return mrc;
			if ((rc = query_quarantine_delete(r->store, id)) != 0)
				return api_store_fail(r, rc);
			log_info("quarantine_delete", "quarantine=%" PRId64 " token=%" PRId64, id,
			    r->auth.token_id);
			r->status = MHD_HTTP_OK;
			return web_respond_json(r->conn, r->status, json_pack("{s:s, s:I}", "status",
			    "deleted", "quarantine_id", (json_int_t)id), 0);
		}
		if (!api_is_get(r))
			return web_respond_method(r, "GET, HEAD, DELETE");
		if (api_only_args(r, NULL, &mrc) != 0 || web_cache_check(r, &c, &mrc))
			return mrc;
		return api_answer(r, &c, query_quarantine_get(r->store, id, &out), &out);
	}
	if (strcmp(slash, "/reprocess") == 0 || strcmp(slash, "/release") == 0) {
		if (strcmp(r->method, MHD_HTTP_METHOD_POST) != 0)
			return web_respond_method(r, "POST");
		return api_reprocess(r, id, strcmp(slash, "/release") == 0);
	}
	if (strcmp(slash, "/raw") == 0) {
		struct buf body;
		char transport[32];

		if (!api_is_get(r))
			return web_respond_method(r, "GET, HEAD");
		if (api_only_args(r, NULL, &mrc) != 0 || web_cache_check(r, &c, &mrc))
			return mrc;
		buf_init(&body, API_RAW_MAX);
		if (api_quarantine_body(r, id, &body, transport, &mrc) == 0) {
			snprintf(disp, sizeof(disp), "attachment; filename=\"quarantine-%" PRId64
			    ".bin\"", id);
			mrc = web_respond_bytes(r, &c, "application/octet-stream", disp,
			    body.data != NULL ? body.data : "", body.len, 0);
		}
		buf_free(&body);
		return mrc;
	}
	return api_not_found(r, "no such resource");
}

/* ---- /stats, /openapi.json ---- */

static enum MHD_Result
api_stats(struct web_req *r)
{
	struct web_cache c;
	enum MHD_Result rc;
	json_t *out = NULL;

	if (!api_sees_all(r))
		return api_forbidden(r, "the statistics cover every domain: a token for every "
		    "domain is needed");
	if (api_only_args(r, NULL, &rc) != 0 || web_cache_check(r, &c, &rc))
		return rc;
	return api_answer(r, &c, query_stats(r->store, &out), &out);
}

static enum MHD_Result
api_openapi(struct web_req *r)
{
	struct web_cache c;
	enum MHD_Result rc;

	if (api_only_args(r, NULL, &rc) != 0 || web_cache_check(r, &c, &rc))
		return rc;
	return web_respond_bytes(r, &c, "application/json", NULL, api_openapi_json,
	    api_openapi_json_len, 1);
}

/*
 * GET /api/v1/setup: what this deployment tells senders (serve.c builds the facts from the
 * config: served domains, rua URIs, DKIM policy), with the domains the asker may not see left
 * out, so the dashboard can show the DNS records to publish.
 */
static enum MHD_Result
api_setup(struct web_req *r)
{
	enum MHD_Result rc;
	json_t *out, *doms, *vis;
	size_t i;
	json_t *d;

	/* No ETag: the facts come from the config, which a restart may change. */
	if (api_only_args(r, NULL, &rc) != 0)
		return rc;
	out = r->setup_json != NULL ? json_loads(r->setup_json, 0, NULL) : json_object();
	if (out == NULL || (vis = json_array()) == NULL) {
		json_decref(out);
		return api_store_fail(r, STORE_ERR);
	}
	doms = json_object_get(out, "domains");
	json_array_foreach(doms, i, d)
		if (auth_domain_visible(&r->auth, json_string_value(d)))
			json_array_append(vis, d);
	json_object_set_new(out, "domains", vis);
	json_object_set_new(out, "api_auth", json_boolean(!r->api_auth_off));
	r->status = MHD_HTTP_OK;
	return web_respond_json(r->conn, r->status, out, 0);
}

/* ---- dispatch ---- */

/* The id at the start of s (up to '/' or the end) and what follows it. 0, or -1. */
static int
api_id_path(const char *s, int64_t *id, const char **rest)
{
	char num[24];
	size_t n = strcspn(s, "/");

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	*rest = s + n;
	return web_parse_i64(num, 1, INT64_MAX, id);
}

enum MHD_Result
api_handle(struct web_req *r)
{
	const char *u = r->url, *rest;
	int64_t id;

	if (strncmp(u, API_PREFIX "/", sizeof(API_PREFIX)) != 0)
		return api_not_found(r, "no such resource");
	u += sizeof(API_PREFIX);        /* past "/api/v1/" */
	if (strncmp(u, "quarantine", 10) == 0 && (u[10] == '\0' || u[10] == '/')) {
		if (r->auth.enabled && !r->auth.admin)
			return api_forbidden(r, "the quarantine needs an admin token");
		if (u[10] == '\0' || u[11] == '\0') {
			if (!api_is_get(r))
				return web_respond_method(r, "GET, HEAD");
			return api_quarantine_list(r);
		}
		return api_quarantine_item(r, u + 11);
	}
	if (strncmp(u, "domains/", 8) == 0 && u[8] != '\0')
		return api_domain_route(r, u + 8);
	if (!api_is_get(r) && (strcmp(u, "domains") == 0 || strcmp(u, "reports") == 0 ||
	    strcmp(u, "stats") == 0 || strcmp(u, "openapi.json") == 0 ||
	    strcmp(u, "setup") == 0 || strncmp(u, "reports/", 8) == 0))
		return web_respond_method(r, "GET, HEAD");
	if (strcmp(u, "domains") == 0)
		return api_domains(r);
	if (strcmp(u, "reports") == 0)
		return api_reports(r);
	if (strcmp(u, "stats") == 0)
		return api_stats(r);
	if (strcmp(u, "openapi.json") == 0)
		return api_openapi(r);
	if (strcmp(u, "setup") == 0)
		return api_setup(r);
	if (strncmp(u, "reports/", 8) == 0 && api_id_path(u + 8, &id, &rest) == 0) {
		if (rest[0] == '\0')
			return api_report(r, id);
		if (strcmp(rest, "/raw") == 0)
			return api_report_raw(r, id);
	}
	return api_not_found(r, "no such resource");
}
