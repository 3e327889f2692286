/* api: the JSON read API under /api/v1 (see web/route.h). */
#include <inttypes.h>
#include <string.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "web/respond.h"
#include "web/route.h"

#define API_LIST_LIMIT_MAX     500
#define API_LIST_LIMIT_DEFAULT 50

/* GET /api/v1/reports?limit=&before= */
static enum MHD_Result
api_reports(struct web_req *r)
{
	struct store_list_query q = { .limit = API_LIST_LIMIT_DEFAULT, .before_id = 0 };
	const char *ls = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *bs = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "before");
	json_t *out = NULL;
	int64_t v;
	int rc;

	if (ls != NULL) {
		if (web_parse_i64(ls, 1, API_LIST_LIMIT_MAX, &v) != 0) {
			r->status = MHD_HTTP_BAD_REQUEST;
			return web_respond_error(r->conn, r->status, "bad-parameter", "limit must be 1..500");
		}
		q.limit = (int)v;
	}
	if (bs != NULL) {
		if (web_parse_i64(bs, 1, INT64_MAX, &v) != 0) {
			r->status = MHD_HTTP_BAD_REQUEST;
			return web_respond_error(r->conn, r->status, "bad-parameter",
			    "before must be a positive report id");
		}
		q.before_id = v;
	}
	rc = store_list_reports(r->store, &q, &out);
	return web_respond_store(r->conn, rc, out, r->retry_after, &r->status);
}

/*
 * GET /api/v1/reports/ID: what the store keeps about it, plus "report", the normalised report
 * derived again from the stored body (its "lint" is dropped: the report's own "lint" is the
 * one recorded at ingest, pipeline findings included).
 */
static enum MHD_Result
api_report(struct web_req *r, int64_t id)
{
	struct buf raw;
	json_t *out = NULL, *rep;
	char err[200];
	int rc;

	buf_init(&raw, r->max_body);
	rc = store_get_report(r->store, id, &out, &raw);
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
	return web_respond_store(r->conn, rc, out, r->retry_after, &r->status);
}

enum MHD_Result
api_handle(struct web_req *r)
{
	const char *item = "/api/v1/reports/";
	int64_t id;

	if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 && strcmp(r->method, MHD_HTTP_METHOD_HEAD) != 0) {
		r->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		return web_respond_error(r->conn, r->status, "method-not-allowed", "method not allowed");
	}
	if (strcmp(r->url, "/api/v1/reports") == 0)
		return api_reports(r);
	if (strncmp(r->url, item, strlen(item)) == 0 &&
	    web_parse_i64(r->url + strlen(item), 1, INT64_MAX, &id) == 0)
		return api_report(r, id);
	r->status = MHD_HTTP_NOT_FOUND;
	return web_respond_error(r->conn, r->status, "not-found", "no such resource");
}
