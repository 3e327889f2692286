/*
 * respond: building HTTP responses for the web modules.
 *
 * Polling support for GETs (implemented once here): web_cache_check() derives a weak ETag
 * from what changes when data lands (the store's data version: highest copy, report and
 * quarantine ids and the generation counter), the request path and query arguments, the
 * asker's scope and the UTC day (windows default to "the last 30 days"), and answers 304 when
 * If-None-Match names it. web_respond_cached() and web_respond_bytes() then send the body
 * with that ETag, Cache-Control: private, no-cache and Vary: Accept-Encoding, gzip-compressed
 * when the client accepts gzip and the body is over WEB_GZIP_MIN bytes.
 */
#ifndef TLSRPT_RESPOND_H
#define TLSRPT_RESPOND_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "web/route.h"

#define WEB_GZIP_MIN      1024  /* smaller bodies are sent as they are */
#define WEB_ETAG_MAX      48    /* W/"<32 hex digits>" and its NUL */
#define WEB_REAL_DIGITS   6     /* significant digits of shares and rates in JSON */

/* The validator of one response; etag is "" when none could be computed. */
struct web_cache {
	char etag[WEB_ETAG_MAX];
};

/*
 * Queues body (the reference is taken) as application/json with no-store caching and
 * nosniff; Retry-After when retry_after > 0. Returns MHD_queue_response's answer.
 */
enum MHD_Result web_respond_json(struct MHD_Connection *conn, unsigned status, json_t *body,
    unsigned retry_after);

/* {"status":"error","error":{"code":..., "reason":...}} with the given status. */
enum MHD_Result web_respond_error(struct MHD_Connection *conn, unsigned status, const char *code,
    const char *reason);

/*
 * 400 {"status":"error","error":{"code":"bad-parameter","parameter":name,"reason":reason}}
 * and r->status set. name may be NULL (the path itself is bad).
 */
enum MHD_Result web_respond_bad_param(struct web_req *r, const char *name, const char *reason);

/* 405 with an Allow header listing allow (e.g. "GET, HEAD"); r->status set. */
enum MHD_Result web_respond_method(struct web_req *r, const char *allow);

/* The usual answer for a store return code: 200 with out, 404, 503 with retry, else 500. */
enum MHD_Result web_respond_store(struct MHD_Connection *conn, int rc, json_t *out,
    unsigned retry_after, unsigned *status);

/* Parses a decimal integer in [lo, hi]. 0, or -1 for anything else (NULL, junk, range). */
int web_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/*
 * Fills c with this request's ETag (see above). When If-None-Match matches it, queues 304
 * Not Modified (ETag, Cache-Control, Vary; no body), sets r->status and *rc, and returns 1.
 * Otherwise returns 0: answer with web_respond_cached() / web_respond_bytes(). When the data
 * version cannot be read, c->etag is left empty (no ETag is sent) and 0 is returned.
 * Thread safe.
 */
int web_cache_check(struct web_req *r, struct web_cache *c, enum MHD_Result *rc);

/*
 * Queues 200 with body (the reference is taken) as application/json with c's ETag (c may be
 * NULL), the polling cache headers, gzip when acceptable. Sets r->status.
 */
enum MHD_Result web_respond_cached(struct web_req *r, const struct web_cache *c, json_t *body);

/*
 * Queues 200 with len bytes of data (copied) as ctype, with c's ETag (c may be NULL) and the
 * polling cache headers; gzip when compressible and acceptable; Content-Disposition when
 * disposition is not NULL. Sets r->status.
 */
enum MHD_Result web_respond_bytes(struct web_req *r, const struct web_cache *c, const char *ctype,
    const char *disposition, const void *data, size_t len, int compressible);

/* 1 when the request's Accept-Encoding accepts gzip (q > 0, named or through "*"), else 0. */
int web_accepts_gzip(const char *accept_encoding);

/* 1 when an If-None-Match header value names etag (weak comparison) or is "*", else 0. */
int web_etag_matches(const char *if_none_match, const char *etag);

#endif
