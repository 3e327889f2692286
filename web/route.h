/*
 * route: what the HTTP server (web/http.c) hands to the modules that answer the read side.
 * http.c owns the connection, ingest, health and the access log; every other route is a
 * handler here that answers one request synchronously on an HTTP worker thread.
 *
 *   /api/v1/export/...  export_handle   (web/export.c)
 *   /api/v1/...         api_handle      (web/api.c)
 *   /metrics            metrics_handle  (web/metrics.c)
 *   /, /assets/...      assets_handle   (web/assets.c: the dashboard, without auth_check)
 *
 * Before any of them runs, auth_check (web/auth.c) decides who is asking.
 */
#ifndef TLSRPT_ROUTE_H
#define TLSRPT_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "ingest/pipeline.h"
#include "storage/store.h"

/*
 * Who is asking: filled by auth_check, valid until auth_release (http.c calls it once the
 * handler has returned: a handler that answers later, a streamed export, copies what it needs).
 */
struct web_auth {
	int enabled;              /* 0: auth is off, everything is visible */
	int admin;                /* admin role: quarantine and every domain */
	int all_domains;          /* a read token that sees every domain (domains is NULL) */
	const char *const *domains; /* a read token's domains (NULL with admin, all_domains or
	                               auth off); each covers its subdomains too */
	size_t n_domains;
	int64_t token_id;         /* the token's id (0 when auth is off) */
	void *ref_;               /* private to web/auth.c */
};

struct web_req {
	struct MHD_Connection *conn;
	const char *method;       /* "GET", "POST", "DELETE", ... */
	const char *url;          /* the path, without the query string */
	struct store *store;
	struct pipeline *pipeline;
	struct web_auth auth;
	size_t max_body;          /* cap for stored bodies read back (raw views) */
	unsigned retry_after;     /* Retry-After seconds for 503 */
	int api_auth_off;         /* config api_auth off: /api/ needs no token */
	int metrics_auth_off;     /* config metrics_auth off: /metrics needs no token */
	const char *setup_json;   /* /api/v1/setup facts (struct http_options), may be NULL */
	unsigned status;          /* out: the status queued, for the access log */
};

/*
 * Each handler queues exactly one response for r->conn, sets r->status and returns what
 * MHD_queue_response returned (MHD_NO on failure to build a response).
 */
enum MHD_Result api_handle(struct web_req *r);
enum MHD_Result export_handle(struct web_req *r);
enum MHD_Result metrics_handle(struct web_req *r);
/* The dashboard's embedded files (web/assets.c): GET/HEAD of / and /assets/..., no auth needed. */
enum MHD_Result assets_handle(struct web_req *r);

/*
 * Decides who is asking and fills r->auth. Returns 0 to go on, or -1 after it queued the
 * refusal (401 with WWW-Authenticate) itself, with r->status set.
 */
int auth_check(struct web_req *r, enum MHD_Result *rc);

/*
 * 1 when the asker may see this (normalised) policy domain: auth off, admin, a read token for
 * every domain, or a read token holding the domain or a parent of it. NULL: only those that
 * see every domain.
 */
int auth_domain_visible(const struct web_auth *a, const char *domain);

/* Drops what auth_check took for the request (http.c, after the handler). Accepts a zeroed a. */
void auth_release(struct web_auth *a);

/*
 * Counts one answered request for tlsrptd_http_requests_total{route,status}: path is the
 * request path, ingest 1 when it is one of the ingest paths. Thread safe, never blocks long.
 */
void metrics_count_request(const char *path, int ingest, unsigned status);

#endif
