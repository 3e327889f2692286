/*
 * route: what the HTTP server (web/http.c) hands to the modules that answer the read side.
 * http.c owns the connection, ingest, health and the access log; every other route is a
 * handler here that answers one request synchronously on an HTTP worker thread.
 *
 *   /api/v1/export/...  export_handle   (web/export.c)
 *   /api/v1/...         api_handle      (web/api.c)
 *   /metrics            metrics_handle  (web/metrics.c)
 *
 * Before any of them runs, auth_check (web/auth.c) decides who is asking.
 */
#ifndef TLSRPT_ROUTE_H
#define TLSRPT_ROUTE_H

#include <stddef.h>

#include <microhttpd.h>

#include "ingest/pipeline.h"
#include "storage/store.h"

/* Who is asking: filled by auth_check. */
struct web_auth {
	int enabled;              /* 0: auth is off, everything is visible */
	int admin;                /* admin role: quarantine and every domain */
	const char *const *domains; /* a read token's domains (NULL with admin or auth off) */
	size_t n_domains;
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
	unsigned status;          /* out: the status queued, for the access log */
};

/*
 * Each handler queues exactly one response for r->conn, sets r->status and returns what
 * MHD_queue_response returned (MHD_NO on failure to build a response).
 */
enum MHD_Result api_handle(struct web_req *r);
enum MHD_Result export_handle(struct web_req *r);
enum MHD_Result metrics_handle(struct web_req *r);

/*
 * Decides who is asking and fills r->auth. Returns 0 to go on, or -1 after it queued the
 * refusal (401 with WWW-Authenticate) itself, with r->status set.
 */
int auth_check(struct web_req *r, enum MHD_Result *rc);

/* 1 when a read token may see this (normalised) domain. */
int auth_domain_visible(const struct web_auth *a, const char *domain);

#endif
