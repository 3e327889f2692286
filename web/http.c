#include "web/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "collector/net.h"
#include "web/respond.h"
#include "web/route.h"

#define HTTP_CONN_MEMORY   (64 * 1024)  /* per-connection MHD pool: headers and read buffer */
#define HTTP_META_VALUE_MAX 256         /* header values copied into provenance */
#define HTTP_DISCARD_MAX   (1024 * 1024) /* oversize chunked body read and dropped before 413 */

enum req_kind { REQ_INGEST = 1, REQ_OTHER };
enum req_state { ST_READING = 0, ST_TOO_BIG, ST_WAITING, ST_DONE, ST_DONE_413 };

struct http_server {
	struct MHD_Daemon *mhd;
	struct http_options opt;
	struct pipeline *pipeline;
	struct store *store;
	unsigned port;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int inflight;          /* ingest requests between first call and completion */
	int stopping;          /* set by http_quiesce: new ingest requests get 503 */
};

struct req_ctx {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum req_kind kind;
	enum req_state state;
	struct buf body;
	struct pipeline_job *job;
	struct timespec start;
	char peer[INET6_ADDRSTRLEN];
	unsigned peer_port;
	char path[128];
	char *meta;             /* provenance JSON, borrowed by the job */
	size_t discarded;       /* bytes dropped after the body went over the cap */
};

/* ---- responses ---------------------------------------------------------------------- */



/* ---- provenance --------------------------------------------------------------------- */

/* A header value as a JSON string: bytes outside printable ASCII become '?', length capped. */
static json_t *
header_json(struct MHD_Connection *conn, const char *name)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	char tmp[HTTP_META_VALUE_MAX];
	size_t i;

	if (v == NULL)
		return json_null();
	for (i = 0; v[i] != '\0' && i < sizeof(tmp) - 1; i++)
		tmp[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	tmp[i] = '\0';
	return json_string(tmp);
}

static char *
request_meta(struct req_ctx *ctx)
{
	json_t *m = json_object();
	char *out;

	json_object_set_new(m, "path", json_string(ctx->path));
	json_object_set_new(m, "peer_port", json_integer(ctx->peer_port));
	json_object_set_new(m, "content_type", header_json(ctx->conn, "Content-Type"));
	json_object_set_new(m, "content_encoding", header_json(ctx->conn, "Content-Encoding"));
	json_object_set_new(m, "user_agent", header_json(ctx->conn, "User-Agent"));
	json_object_set_new(m, "body_bytes", json_integer((json_int_t)ctx->body.len));
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return out;
}

static void
peer_of(struct MHD_Connection *conn, char *out, size_t outlen, unsigned *port)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, outlen, "-");
	*port = 0;
	if (ci == NULL || ci->client_addr == NULL)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
		inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)outlen);
		*port = ntohs(a->sin_port);
	} else if (ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;
		inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)outlen);
		*port = ntohs(a->sin6_port);
	}
}

/* ---- ingest ------------------------------------------------------------------------- */

/*
 * Counts an ingest request in (d = 1) or out (d = -1). Once the server is stopping, no request
 * is counted in (returns -1): a request that starts after http_quiesce() is answered 503, so
 * when http_drain() sees zero, nothing can be suspended any more.
 */
static int
inflight_add(struct http_server *srv, int d)
{
	int rc = 0;

	pthread_mutex_lock(&srv->lock);
	if (d > 0 && srv->stopping)
		rc = -1;
	else
		srv->inflight += d;
	if (srv->inflight == 0)
		pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

/* Runs on the store's writer thread once the job is committed (or failed). */
static void
ingest_done(void *arg, struct pipeline_job *job)
{
	struct req_ctx *ctx = arg;

	(void)job;
	ctx->state = ST_DONE;
	MHD_resume_connection(ctx->conn);
}

static unsigned
reject_status(enum pipeline_reject r)
{
	switch (r) {
	case PIPELINE_REJECT_MEDIA: return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	case PIPELINE_REJECT_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
	case PIPELINE_REJECT_NOT_SERVED: return MHD_HTTP_FORBIDDEN;
	case PIPELINE_REJECT_DKIM:       /* mail only: never over HTTP */
	case PIPELINE_REJECT_INVALID:
	case PIPELINE_REJECT_NONE: break;
	}
	return MHD_HTTP_BAD_REQUEST;
}

static json_t *
domains_json(const struct rpt *r)
{
	json_t *a = json_array();

	for (size_t i = 0; r != NULL && i < r->n_policies; i++) {
		const char *d = r->policies[i].domain;
		size_t j;

		if (d == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (r->policies[j].domain && strcmp(r->policies[j].domain, d) == 0)
				break;
		if (j == i)
			json_array_append_new(a, json_string(d));
	}
	return a;
}

static enum MHD_Result
ingest_respond(struct req_ctx *ctx, unsigned *status)
{
	const struct pipeline_result *r = pipeline_job_result(ctx->job);
	const struct rpt *rpt = pipeline_job_report(ctx->job);
	unsigned retry = 0;
	json_t *body;
	char url[64];

	switch (r->verdict) {
	case PIPELINE_ACCEPTED:
	case PIPELINE_DUPLICATE:
	case PIPELINE_CONFLICT:
		*status = r->verdict == PIPELINE_DUPLICATE ? MHD_HTTP_OK : MHD_HTTP_CREATED;
		snprintf(url, sizeof(url), "/api/v1/reports/%" PRId64, r->report_id);
		body = json_pack("{s:s, s:{s:I, s:s}, s:s, s:o, s:o}",
		    "status", pipeline_verdict_name(r->verdict),
		    "report", "id", (json_int_t)r->report_id, "url", url,
		    "report_id", rpt && rpt->report_id ? rpt->report_id : "",
		    "domains", domains_json(rpt),
		    "lint", json_integer(rpt ? (json_int_t)rpt->n_lint : 0));
		if (body != NULL && r->verdict == PIPELINE_CONFLICT)
			json_object_set_new(body, "conflict_of", json_integer(r->conflict_of));
		break;
	case PIPELINE_QUARANTINED:
		*status = reject_status(r->reject);
		body = json_pack("{s:s, s:I, s:{s:s, s:s, s:s}}", "status", "quarantined",
		    "quarantine_id", (json_int_t)r->quarantine_id,
		    "error", "code", r->error.code, "reason", r->error.reason, "path", r->error.path);
		if (body != NULL && r->error.line > 0) {
			json_t *e = json_object_get(body, "error");
			json_object_set_new(e, "line", json_integer(r->error.line));
			json_object_set_new(e, "column", json_integer(r->error.column));
		}
		break;
	default:
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		retry = ctx->srv->opt.retry_after_s;
		body = json_pack("{s:s, s:{s:s, s:s}}", "status", "temporary", "error",
		    "code", "storage-unavailable", "reason", r->temp_reason);
		break;
	}
	if (body == NULL)
		return MHD_NO;
	return web_respond_json(ctx->conn, *status, body, retry);
}

static int is_ingest_path(const struct http_server *srv, const char *url);

static void
log_request(struct req_ctx *ctx, const char *method, unsigned status)
{
	struct timespec now;
	double ms;
	char qpath[160];
	const struct pipeline_result *r = ctx->job ? pipeline_job_result(ctx->job) : NULL;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - ctx->start.tv_sec) * 1e3 +
	    (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e6;
	log_q(qpath, sizeof(qpath), ctx->path, (size_t)-1);
	metrics_count_request(ctx->path, is_ingest_path(ctx->srv, ctx->path), status);
	if (r != NULL)
		log_info("http", "method=%s path=%s status=%u peer=%s bytes=%zu verdict=%s report=%" PRId64
		    " quarantine=%" PRId64 " reason=%s ms=%.1f", method, qpath, status, ctx->peer,
		    ctx->body.len, pipeline_verdict_name(r->verdict), r->report_id, r->quarantine_id,
		    r->error.code[0] ? r->error.code : "-", ms);
	else
		log_info("http", "method=%s path=%s status=%u peer=%s ms=%.1f", method, qpath, status,
		    ctx->peer, ms);
}

static enum MHD_Result
too_large(struct req_ctx *ctx)
{
	ctx->state = ST_DONE_413;
	log_request(ctx, "POST", MHD_HTTP_CONTENT_TOO_LARGE);
	return web_respond_error(ctx->conn, MHD_HTTP_CONTENT_TOO_LARGE, "too-large",
	    "request body larger than the configured limit");
}

static int
is_ingest_path(const struct http_server *srv, const char *url)
{
	for (size_t i = 0; i < srv->opt.n_ingest_paths; i++)
		if (strcmp(url, srv->opt.ingest_paths[i]) == 0)
			return 1;
	return 0;
}

static enum MHD_Result
handle_ingest(struct req_ctx *ctx, const char *upload, size_t *upload_size)
{
	struct http_server *srv = ctx->srv;
	unsigned status;
	enum MHD_Result rc;

	if (ctx->state == ST_DONE_413) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->state == ST_DONE) {
		rc = ingest_respond(ctx, &status);
		log_request(ctx, "POST", status);
		return rc;
	}
	if (*upload_size > 0) {
		if (ctx->state == ST_READING && buf_append(&ctx->body, upload, *upload_size) != 0) {
			ctx->state = ST_TOO_BIG;
			buf_free(&ctx->body);
		}
		if (ctx->state == ST_TOO_BIG) {
			/*
			 * A body of unannounced length (chunked) went over the cap: read and drop
			 * the rest so the client can read our 413, up to HTTP_DISCARD_MAX; past
			 * that, answer at once and let the connection close.
			 */
			ctx->discarded += *upload_size;
			*upload_size = 0;
			if (ctx->discarded > HTTP_DISCARD_MAX)
				return too_large(ctx);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->state == ST_TOO_BIG)
		return too_large(ctx);
	if (ctx->state != ST_READING)
		return MHD_YES;

	/* The whole body is here: parse now (this worker), store on the writer. */
	{
		struct envelope env = {
			.transport = "http",
			.peer = ctx->peer,
			.received_at = (int64_t)time(NULL),
			.body = ctx->body.data ? ctx->body.data : "",
			.len = ctx->body.len,
			.allow_mail = 0,
			.meta_json = NULL,
		};

		ctx->meta = request_meta(ctx);
		env.meta_json = ctx->meta;
		ctx->job = pipeline_job_new(srv->pipeline, &env);
	}
	if (ctx->job == NULL)
		return web_respond_error(ctx->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out-of-memory", "out of memory");
	ctx->state = ST_WAITING;
	MHD_suspend_connection(ctx->conn);
	if (pipeline_job_store(ctx->job, ingest_done, ctx) != 0) {
		ctx->state = ST_DONE;
		MHD_resume_connection(ctx->conn);
	}
	return MHD_YES;
}

/* ---- read side ---------------------------------------------------------------------- */




static enum MHD_Result
handle_health(struct req_ctx *ctx, const char *url, unsigned *status)
{
	struct http_server *srv = ctx->srv;
	struct MHD_Connection *conn = ctx->conn;

	*status = MHD_HTTP_OK;
	if (strcmp(url, "/healthz") == 0)
		return web_respond_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), 0);
	if (store_ping(srv->store) == 0)
		return web_respond_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"), 0);
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	return web_respond_json(conn, *status, json_pack("{s:s, s:s}", "status", "not-ready",
	    "reason", "database does not take writes"), srv->opt.retry_after_s);
}

/* The read side: authentication, then the module that owns the path. */
static enum MHD_Result
handle_read(struct req_ctx *ctx, const char *url, const char *method, unsigned *status)
{
	struct http_server *srv = ctx->srv;
	struct web_req r = {
		.conn = ctx->conn,
		.method = method,
		.url = url,
		.store = srv->store,
		.pipeline = srv->pipeline,
		.max_body = srv->opt.max_body,
		.retry_after = srv->opt.retry_after_s,
		.api_auth_off = srv->opt.api_auth_off,
		.metrics_auth_off = srv->opt.metrics_auth_off,
		.setup_json = srv->opt.setup_json,
	};
	enum MHD_Result rc;

	if (auth_check(&r, &rc) != 0) {
		*status = r.status;
		return rc;
	}
	if (strcmp(url, "/metrics") == 0)
		rc = metrics_handle(&r);
	else if (strncmp(url, "/api/v1/export/", 15) == 0)
		rc = export_handle(&r);
	else
		rc = api_handle(&r);
	auth_release(&r.auth);
	*status = r.status;
	return rc;
}

static int
is_health_route(const char *url)
{
	return strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
}

static int
is_read_route(const char *url)
{
	return strcmp(url, "/metrics") == 0 || strncmp(url, "/api/", 5) == 0;
}

/* The dashboard's static files: they hold no data, so no authentication. */
static int
is_asset_route(const char *url)
{
	return strcmp(url, "/") == 0 || strncmp(url, "/assets/", 8) == 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_ctx *ctx = *con_cls;
	unsigned status = 0;
	enum MHD_Result rc;

	(void)version;
	if (ctx == NULL) {
		if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
			return MHD_NO;
		ctx->srv = srv;
		ctx->conn = conn;
		clock_gettime(CLOCK_MONOTONIC, &ctx->start);
		snprintf(ctx->path, sizeof(ctx->path), "%s", url);
		peer_of(conn, ctx->peer, sizeof(ctx->peer), &ctx->peer_port);
		buf_init(&ctx->body, srv->opt.max_body);
		*con_cls = ctx;
		if (is_ingest_path(srv, url)) {
			if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
				struct MHD_Response *resp;

				ctx->kind = REQ_OTHER;
				resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
				if (resp == NULL)
					return MHD_NO;
				MHD_add_response_header(resp, "Allow", "POST");
				rc = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
				MHD_destroy_response(resp);
				log_request(ctx, method, MHD_HTTP_METHOD_NOT_ALLOWED);
				return rc;
			}
			if (inflight_add(srv, 1) != 0) {
				ctx->kind = REQ_OTHER;
				log_request(ctx, method, MHD_HTTP_SERVICE_UNAVAILABLE);
				return web_respond_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				    json_pack("{s:s, s:{s:s, s:s}}", "status", "temporary", "error",
				    "code", "shutting-down", "reason", "the collector is stopping"),
				    srv->opt.retry_after_s);
			}
			ctx->kind = REQ_INGEST;
			{
				const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
				    MHD_HTTP_HEADER_CONTENT_LENGTH);
				int64_t n;

				if (cl != NULL && (web_parse_i64(cl, 0, INT64_MAX, &n) != 0 ||
				    (uint64_t)n > srv->opt.max_body)) {
					return too_large(ctx);
				}
			}
			return MHD_YES;
		}
		ctx->kind = REQ_OTHER;
		if (is_read_route(url)) {
			/* The read modules check their own methods (the API has POST and DELETE). */
			rc = handle_read(ctx, url, method, &status);
		} else if (is_asset_route(url)) {
			struct web_req ar = { .conn = conn, .method = method, .url = url };

			rc = assets_handle(&ar);
			status = ar.status;
		} else if (!is_health_route(url)) {
			status = MHD_HTTP_NOT_FOUND;
			rc = web_respond_error(conn, status, "not-found", "no such resource");
		} else if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
			status = MHD_HTTP_METHOD_NOT_ALLOWED;
			rc = web_respond_error(conn, status, "method-not-allowed", "method not allowed");
		} else {
			rc = handle_health(ctx, url, &status);
		}
		log_request(ctx, method, status);
		return rc;
	}
	if (ctx->kind == REQ_INGEST)
		return handle_ingest(ctx, upload, upload_size);
	/* Bodies sent to other routes are read and ignored. */
	*upload_size = 0;
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct req_ctx *ctx = *con_cls;

	(void)conn;
	if (ctx == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && ctx->kind == REQ_INGEST)
		log_info("http_aborted", "path=%s peer=%s bytes=%zu code=%d", ctx->path[0] == '/' ?
		    "ingest" : "-", ctx->peer, ctx->body.len, (int)toe);
	if (ctx->kind == REQ_INGEST)
		inflight_add(srv, -1);
	pipeline_job_free(ctx->job);
	free(ctx->meta);
	buf_free(&ctx->body);
	free(ctx);
	*con_cls = NULL;
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], q[600];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("mhd", "msg=%s", log_q(q, sizeof(q), msg, n));
}

struct http_server *
http_start(const struct http_options *opt, struct pipeline *pipeline, struct store *store,
    char *err, size_t errlen)
{
	struct http_server *srv;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (net_parse_listen(opt->listen, &ss, NULL, err, errlen) != 0)
		return NULL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->opt = *opt;
	srv->pipeline = pipeline;
	srv->store = store;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	srv->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, opt->threads,
	    MHD_OPTION_CONNECTION_LIMIT, opt->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, opt->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_END);
	if (srv->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", opt->listen,
		    errno ? strerror(errno) : "libmicrohttpd failed to start");
		pthread_mutex_destroy(&srv->lock);
		pthread_cond_destroy(&srv->idle);
		free(srv);
		return NULL;
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : 0;
	return srv;
}

unsigned
http_port(const struct http_server *s)
{
	return s->port;
}

void
http_quiesce(struct http_server *s)
{
	MHD_socket fd;

	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	fd = MHD_quiesce_daemon(s->mhd);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

int
http_drain(struct http_server *s, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	net_deadline(&until, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->inflight > 0 && rc == 0)
		if (pthread_cond_timedwait(&s->idle, &s->lock, &until) != 0)
			rc = -1;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->mhd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s);
}
