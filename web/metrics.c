/*
 * metrics: GET /metrics in the Prometheus text format 0.0.4 (see web/route.h).
 *
 * Counters kept in memory since the process started (reset by a restart, as Prometheus
 * counters are):
 *   tlsrptd_reports_ingested_total{transport,verdict}  every stored job's final verdict
 *                                                      (ingest/stats.h)
 *   tlsrptd_http_requests_total{route,status}           every answered HTTP request; route is
 *                                                      one of METRICS_ROUTES (never the path:
 *                                                      ingest paths may be secret)
 *   tlsrptd_commit_duration_seconds (histogram)         every group commit (storage/store.h)
 * Gauges read at the scrape:
 *   tlsrptd_writer_queue_depth                          submissions waiting for the writer
 *   tlsrptd_quarantine_rows                             rows in quarantine (database)
 * From the database's rollups at the scrape (so they survive restarts; they only grow while
 * nothing is deleted), for the METRICS_DOMAINS_MAX domains with the most sessions:
 *   tlsrptd_domain_sessions_total{domain,result="success|failure"}  daily_domain summed
 *   tlsrptd_domain_failures_total{domain,result_type}   failed sessions per result type (the
 *                                                      policy standing for the domain in each
 *                                                      report: sts + tlsa not summed), the
 *                                                      METRICS_FAILURES_MAX largest series
 *   tlsrptd_domain_last_report_timestamp_seconds{domain} arrival of the newest counted report
 *   tlsrptd_domains                                     domains in the rollups (all of them, so
 *                                                      a cut is visible)
 *   tlsrptd_metrics_database_ok                         0 when the database part could not be
 *                                                      read (the rest is still answered)
 * A read token sees the domain series of its own domains only.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "ingest/stats.h"
#include "storage/export.h"
#include "storage/tokens.h"
#include "web/respond.h"
#include "web/route.h"

#define METRICS_DOMAINS_MAX   1000            /* domains given their own series */
#define METRICS_FAILURES_MAX  5000            /* (domain, result type) series */
#define METRICS_BODY_MAX      (16 * 1024 * 1024) /* bytes of one scrape */
#define METRICS_STATUS_MIN    100
#define METRICS_STATUS_MAX    599
#define METRICS_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_STR_(x)       #x
#define METRICS_STR(x)        METRICS_STR_(x)

enum metrics_route {
	MR_INGEST, MR_HEALTHZ, MR_READYZ, MR_METRICS, MR_EXPORT, MR_API, MR_OTHER, MR_COUNT
};

static const char *const metrics_routes[MR_COUNT] = {
	[MR_INGEST] = "ingest", [MR_HEALTHZ] = "healthz", [MR_READYZ] = "readyz",
	[MR_METRICS] = "metrics", [MR_EXPORT] = "export", [MR_API] = "api", [MR_OTHER] = "other",
};

static _Atomic uint64_t metrics_http[MR_COUNT][METRICS_STATUS_MAX - METRICS_STATUS_MIN + 1];

void
metrics_count_request(const char *path, int ingest, unsigned status)
{
	enum metrics_route rt = MR_OTHER;

	if (status < METRICS_STATUS_MIN || status > METRICS_STATUS_MAX)
		return;
	if (ingest)
		rt = MR_INGEST;
	else if (path == NULL)
		rt = MR_OTHER;
	else if (strcmp(path, "/healthz") == 0)
		rt = MR_HEALTHZ;
	else if (strcmp(path, "/readyz") == 0)
		rt = MR_READYZ;
	else if (strcmp(path, "/metrics") == 0)
		rt = MR_METRICS;
	else if (strncmp(path, "/api/v1/export/", 15) == 0)
		rt = MR_EXPORT;
	else if (strncmp(path, "/api/", 5) == 0)
		rt = MR_API;
	atomic_fetch_add_explicit(&metrics_http[rt][status - METRICS_STATUS_MIN], 1,
	    memory_order_relaxed);
}

/* Appends v as a label value: \ " and newline escaped, as the text format wants. */
static void
metrics_label(struct buf *b, const char *v)
{
	const char *run = v;

	for (; *v != '\0'; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;

		if (esc == NULL)
			continue;
		buf_append(b, run, (size_t)(v - run));
		buf_puts(b, esc);
		run = v + 1;
	}
	buf_append(b, run, (size_t)(v - run));
}

static void
metrics_family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_ingest(struct buf *b)
{
	struct stats_ingest_row rows[STATS_TRANSPORTS_MAX + 1];
	size_t n = stats_ingest_snapshot(rows, STATS_TRANSPORTS_MAX + 1), i;
	int have_http = 0;

	metrics_family(b, "tlsrptd_reports_ingested_total", "counter",
	    "Bodies handled by the ingest pipeline since start, by transport and final verdict.");
	for (i = 0; i < n; i++)
		have_http |= strcmp(rows[i].transport, "http") == 0;
	if (!have_http && n < STATS_TRANSPORTS_MAX + 1) {
		/* The HTTP series exist from the start, so rate() sees the first report. */
		memset(&rows[n], 0, sizeof(rows[n]));
		snprintf(rows[n].transport, sizeof(rows[n].transport), "http");
		n++;
	}
	for (i = 0; i < n; i++)
		for (int v = 0; v < STATS_VERDICTS; v++) {
			buf_puts(b, "tlsrptd_reports_ingested_total{transport=\"");
			metrics_label(b, rows[i].transport);
			buf_printf(b, "\",verdict=\"%s\"} %" PRIu64 "\n",
			    pipeline_verdict_name(stats_verdict_at(v)), rows[i].by_verdict[v]);
		}
}

static void
metrics_dkim(struct buf *b)
{
	uint64_t n[STATS_DKIM_STATUSES];

	stats_dkim_snapshot(n);
	metrics_family(b, "tlsrptd_dkim_verdicts_total", "counter",
	    "DKIM verdicts of mailed reports since start (dkim require or record).");
	for (int s = 0; s < STATS_DKIM_STATUSES; s++)
		buf_printf(b, "tlsrptd_dkim_verdicts_total{result=\"%s\"} %" PRIu64 "\n",
		    dkim_status_name((enum dkim_status)s), n[s]);
}

static void
metrics_http_requests(struct buf *b)
{
	metrics_family(b, "tlsrptd_http_requests_total", "counter",
	    "HTTP requests answered since start, by route (ingest, healthz, readyz, metrics, "
	    "export, api, other) and status.");
	for (int rt = 0; rt < MR_COUNT; rt++)
		for (int st = 0; st <= METRICS_STATUS_MAX - METRICS_STATUS_MIN; st++) {
			uint64_t v = atomic_load_explicit(&metrics_http[rt][st], memory_order_relaxed);

			if (v > 0)
				buf_printf(b, "tlsrptd_http_requests_total{route=\"%s\",status=\"%d\"} %"
				    PRIu64 "\n", metrics_routes[rt], st + METRICS_STATUS_MIN, v);
		}
}

static void
metrics_store(struct buf *b, struct store *s)
{
	struct store_commit_stats cs;

	metrics_family(b, "tlsrptd_writer_queue_depth", "gauge",
	    "Submissions waiting for the database writer.");
	buf_printf(b, "tlsrptd_writer_queue_depth %d\n", store_queue_depth(s));
	store_commit_stats(s, &cs);
	metrics_family(b, "tlsrptd_commit_duration_seconds", "histogram",
	    "Time of each group commit, BEGIN IMMEDIATE to the end of COMMIT, since start.");
	for (int i = 0; i < STORE_COMMIT_BUCKETS; i++)
		buf_printf(b, "tlsrptd_commit_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
		    store_commit_bounds[i], cs.le[i]);
	buf_printf(b, "tlsrptd_commit_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
	    "tlsrptd_commit_duration_seconds_sum %.6f\n"
	    "tlsrptd_commit_duration_seconds_count %" PRIu64 "\n", cs.count, cs.sum_seconds,
	    cs.count);
}

/* The domain series are written in three runs (one per family) into three buffers. */
struct metrics_db {
	struct buf sessions;
	struct buf last;
	struct buf failures;
};

static int
metrics_on_domain(void *arg, const struct export_domain_stat *d)
{
	struct metrics_db *m = arg;

	for (int k = 0; k < 2; k++) {
		buf_puts(&m->sessions, "tlsrptd_domain_sessions_total{domain=\"");
		metrics_label(&m->sessions, d->domain);
		buf_printf(&m->sessions, "\",result=\"%s\"} %" PRId64 "\n",
		    k == 0 ? "success" : "failure", k == 0 ? d->successful : d->failed);
	}
	if (d->last_received > 0) {
		buf_puts(&m->last, "tlsrptd_domain_last_report_timestamp_seconds{domain=\"");
		metrics_label(&m->last, d->domain);
		buf_printf(&m->last, "\"} %" PRId64 "\n", d->last_received);
	}
	return m->sessions.err != 0 || m->last.err != 0;
}

static int
metrics_on_failure(void *arg, const struct export_failure_stat *f)
{
	struct metrics_db *m = arg;

	buf_puts(&m->failures, "tlsrptd_domain_failures_total{domain=\"");
	metrics_label(&m->failures, f->domain);
	buf_puts(&m->failures, "\",result_type=\"");
	metrics_label(&m->failures, f->result_type);
	buf_printf(&m->failures, "\"} %" PRId64 "\n", f->sessions);
	return m->failures.err != 0;
}

/* The database part; 0, or -1 (then only tlsrptd_metrics_database_ok 0 is written). */
static int
metrics_database(struct buf *b, struct web_req *r)
{
	struct metrics_db m;
	struct export_stats xs;
	char *scope = NULL;
	int rc, ret = -1;

	buf_init(&m.sessions, METRICS_BODY_MAX);
	buf_init(&m.last, METRICS_BODY_MAX);
	buf_init(&m.failures, METRICS_BODY_MAX);
	if (r->auth.enabled && !r->auth.admin && !r->auth.all_domains &&
	    (scope = tokens_domains_json(r->auth.domains, r->auth.n_domains)) == NULL)
		goto out;
	rc = export_stats_read(r->store, scope, METRICS_DOMAINS_MAX, METRICS_FAILURES_MAX,
	    metrics_on_domain, metrics_on_failure, &m, &xs);
	if (rc != 0)
		goto out;
	metrics_family(b, "tlsrptd_quarantine_rows", "gauge",
	    "Rows in quarantine (bodies kept but not counted).");
	buf_printf(b, "tlsrptd_quarantine_rows %" PRId64 "\n", xs.quarantine_rows);
	metrics_family(b, "tlsrptd_domains", "gauge",
	    "Policy domains in the daily rollups; only the " METRICS_STR(METRICS_DOMAINS_MAX)
	    " with the most sessions get tlsrptd_domain_* series.");
	buf_printf(b, "tlsrptd_domains %" PRId64 "\n", xs.domains);
	metrics_family(b, "tlsrptd_domain_sessions_total", "counter",
	    "Sessions reported per policy domain (daily rollups; sts + tlsa of one report "
	    "not summed), by result.");
	buf_append(b, m.sessions.data, m.sessions.len);
	metrics_family(b, "tlsrptd_domain_failures_total", "counter",
	    "Failed sessions reported per policy domain and result type (the "
	    METRICS_STR(METRICS_FAILURES_MAX) " largest series).");
	buf_append(b, m.failures.data, m.failures.len);
	metrics_family(b, "tlsrptd_domain_last_report_timestamp_seconds", "gauge",
	    "Arrival time of the newest counted report about the domain.");
	buf_append(b, m.last.data, m.last.len);
	ret = 0;
out:
	if (ret != 0)
		log_warn("metrics-database", "reason=\"the database figures could not be read\"");
	metrics_family(b, "tlsrptd_metrics_database_ok", "gauge",
	    "1 when this scrape read the database figures, 0 when it could not.");
	buf_printf(b, "tlsrptd_metrics_database_ok %d\n", ret == 0);
	free(scope);
	buf_free(&m.sessions);
	buf_free(&m.last);
	buf_free(&m.failures);
	return ret;
}

enum MHD_Result
metrics_handle(struct web_req *r)
{
	struct MHD_Response *resp;
	struct buf b;
	enum MHD_Result rc;
	char *text;
	size_t len;

	if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(r->method, MHD_HTTP_METHOD_HEAD) != 0) {
		r->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		return web_respond_error(r->conn, r->status, "method-not-allowed",
		    "method not allowed");
	}
	buf_init(&b, METRICS_BODY_MAX);
	metrics_ingest(&b);
	metrics_dkim(&b);
	metrics_http_requests(&b);
	metrics_store(&b, r->store);
	metrics_database(&b, r);
	if (b.err != 0) {
		buf_free(&b);
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return web_respond_error(r->conn, r->status, "internal", "metrics too large");
	}
	text = buf_detach(&b, &len);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", METRICS_CONTENT_TYPE);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	r->status = MHD_HTTP_OK;
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}
