/*
 * http: the HTTP side of tlsrptd (libmicrohttpd): report ingest by POST, health and readiness,
 * and the read API. One internal polling thread (epoll) with a small worker pool; a POSTed
 * report is parsed on the worker, then the connection is suspended until the store's writer
 * has committed it, so no 2xx is sent before the data is durable and no worker blocks on disk.
 *
 * Routes:
 *   POST <ingest path>        report ingest (paths configurable, several allowed)
 *   GET  /healthz             the process answers
 *   GET  /readyz              the database takes a write (a round trip through the writer)
 *   GET  /api/v1/reports      newest first; ?limit=1..500&before=ID
 *   GET  /api/v1/reports/ID   one report: normalised content, lint, copies
 */
#ifndef TLSRPT_HTTP_H
#define TLSRPT_HTTP_H

#include <stddef.h>

#include "ingest/pipeline.h"
#include "storage/store.h"

#define HTTP_INGEST_PATHS_MAX 16

struct http_options {
	const char *listen;               /* "127.0.0.1:8080", "[::1]:0", "0.0.0.0:443"; port 0 = any free */
	const char *const *ingest_paths;  /* absolute paths, e.g. "/tlsrpt" */
	size_t n_ingest_paths;
	size_t max_body;                  /* compressed body cap: 413 beyond it */
	unsigned timeout_s;               /* idle connection timeout */
	unsigned max_connections;
	unsigned threads;                 /* worker threads */
	unsigned retry_after_s;           /* Retry-After on 503 */
	int api_auth_off;                 /* 1: /api/ without bearer tokens (config api_auth off) */
	int metrics_auth_off;             /* 1: /metrics without bearer tokens (metrics_auth off) */
	const char *setup_json;           /* GET /api/v1/setup: this deployment's facts as a JSON
	                                     object text (serve.c builds it); NULL = {} */
};

struct http_server;

/*
 * Binds and starts serving. NULL on failure with a sentence in err. pipeline and store are
 * borrowed and must outlive the server.
 */
struct http_server *http_start(const struct http_options *opt, struct pipeline *pipeline,
    struct store *store, char *err, size_t errlen);

/* The bound port (the real one when 0 was asked for). */
unsigned http_port(const struct http_server *s);

/* Stops accepting new connections; requests in flight go on. */
void http_quiesce(struct http_server *s);

/* Waits until no ingest request is in flight, at most timeout_ms. 0, or -1 on timeout. */
int http_drain(struct http_server *s, int timeout_ms);

/* Stops the server and frees it. Accepts NULL. */
void http_stop(struct http_server *s);

#endif
