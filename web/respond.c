#include "web/respond.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store.h"

enum MHD_Result
web_respond_json(struct MHD_Connection *conn, unsigned status, json_t *body, unsigned retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char *text, *t2;
	size_t len;

	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	/* A trailing newline keeps curl output and logs readable. */
	len = strlen(text);
	if ((t2 = realloc(text, len + 2)) == NULL) {
		free(text);
		return MHD_NO;
	}
	text = t2;
	text[len++] = '\n';
	text[len] = '\0';
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (retry_after > 0) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

enum MHD_Result
web_respond_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *reason)
{
	return web_respond_json(conn, status, json_pack("{s:s, s:{s:s, s:s}}", "status", "error",
	    "error", "code", code, "reason", reason), 0);
}

enum MHD_Result
web_respond_store(struct MHD_Connection *conn, int rc, json_t *out, unsigned retry_after,
    unsigned *status)
{
	if (rc == 0) {
		*status = MHD_HTTP_OK;
		return web_respond_json(conn, MHD_HTTP_OK, out, 0);
	}
	json_decref(out);
	if (rc == STORE_NOTFOUND) {
		*status = MHD_HTTP_NOT_FOUND;
		return web_respond_error(conn, *status, "not-found", "no such resource");
	}
	if (rc == STORE_TEMP) {
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return web_respond_json(conn, *status, json_pack("{s:s, s:{s:s, s:s}}", "status",
		    "temporary", "error", "code", "storage-unavailable", "reason", "database busy"),
		    retry_after);
	}
	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return web_respond_error(conn, *status, "internal", "internal error");
}

int
web_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
