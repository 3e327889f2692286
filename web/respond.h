/* respond: building HTTP responses for the web modules. */
#ifndef TLSRPT_RESPOND_H
#define TLSRPT_RESPOND_H

#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

/*
 * Queues body (the reference is taken) as application/json with no-store caching and
 * nosniff; Retry-After when retry_after > 0. Returns MHD_queue_response's answer.
 */
enum MHD_Result web_respond_json(struct MHD_Connection *conn, unsigned status, json_t *body,
    unsigned retry_after);

/* {"status":"error","error":{"code":..., "reason":...}} with the given status. */
enum MHD_Result web_respond_error(struct MHD_Connection *conn, unsigned status, const char *code,
    const char *reason);

/* The usual answer for a store return code: 200 with out, 404, 503 with retry, else 500. */
enum MHD_Result web_respond_store(struct MHD_Connection *conn, int rc, json_t *out,
    unsigned retry_after, unsigned *status);

/* Parses a decimal integer in [lo, hi]. 0, or -1 for anything else (NULL, junk, range). */
int web_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

#endif
