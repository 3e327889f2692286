/*
 * export: CSV exports under /api/v1/export/ (see web/route.h and web/export.h).
 *
 *   GET /api/v1/export/failures.csv   one row per failure-details entry
 *   GET /api/v1/export/policies.csv   one row per policy of a report
 *   GET /api/v1/export/reports.csv    one row per report
 *   ?domain=&reporter=&from=&to=&has_failures=&result_type=   (storage/export.h)
 *
 * The body is streamed: a row stream (storage/export.h) holds one pooled read connection for
 * the response's life and is stepped as MHD asks for more bytes, at most EXPORT_BLOCK bytes
 * at a time, so memory stays the same whatever the size of the export. At most
 * EXPORT_STREAMS_MAX exports run at once (each holds a read connection; more get 503), so the
 * JSON API always has connections left when db_readers is larger than that. A read token
 * exports its own domains only; a filter on another domain matches nothing, as if unknown
 * (as the JSON API's report list does). An unknown query parameter is a 400 naming it.
 * Should the database fail in the middle, the connection is closed without the last chunk,
 * so a client never mistakes a cut export for a whole one.
 */
#include "web/export.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/log.h"
#include "ingest/norm.h"
#include "storage/tokens.h"
#include "web/respond.h"
#include "web/route.h"

#define EXPORT_PREFIX      "/api/v1/export/"
#define EXPORT_SUFFIX      ".csv"
#define EXPORT_STREAMS_MAX 2             /* exports streaming at once */
#define EXPORT_BLOCK       (16 * 1024)   /* bytes handed to MHD per call (its pool holds it) */
#define EXPORT_ARGS_MAX    16            /* query parameters in one request */

enum export_state { XS_ROWS = 0, XS_END, XS_ERROR };

struct export_stream {
	struct export_rows *x;
	struct buf line;        /* the row being sent (the header row first) */
	size_t off;             /* bytes of line already sent */
	enum export_state state;
	enum export_kind kind;
	uint64_t rows;
	uint64_t bytes;
};

static atomic_int export_streams;

/* ---- the CSV writer ---- */

static int
export_csv_needs_quote(const char *s, size_t len)
{
	if (len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
		return 1;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			return 1;
	return 0;
}

void
export_csv_cell(struct buf *b, const char *s, size_t len)
{
	int quote;

	if (s == NULL || len == 0)
		return;
	quote = export_csv_needs_quote(s, len);
	if (quote)
		buf_append(b, "\"", 1);
	/* A spreadsheet would run it as a formula: make it text (see web/export.h). */
	if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
	    s[0] == '\r' || s[0] == '\'')
		buf_append(b, "'", 1);
	if (!quote) {
		buf_append(b, s, len);
		return;
	}
	for (const char *run = s, *end = s + len; run < end;) {
		const char *q = memchr(run, '"', (size_t)(end - run));

		if (q == NULL) {
			buf_append(b, run, (size_t)(end - run));
			break;
		}
		buf_append(b, run, (size_t)(q - run) + 1);
		buf_append(b, "\"", 1);
		run = q + 1;
	}
	buf_append(b, "\"", 1);
}

void
export_csv_header(struct buf *b, enum export_kind k)
{
	const char *const *names;
	int n = export_columns(k, &names);

	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf_append(b, ",", 1);
		export_csv_cell(b, names[i], strlen(names[i]));
	}
	buf_append(b, "\r\n", 2);
}

void
export_csv_row(struct buf *b, struct export_rows *x)
{
	const char *const *names;
	const char *v;
	size_t len;
	int n = export_columns(export_rows_kind(x), &names);

	for (int i = 0; i < n; i++) {
		if (i > 0)
			buf_append(b, ",", 1);
		v = export_rows_cell(x, i, &len);
		export_csv_cell(b, v, len);
	}
	buf_append(b, "\r\n", 2);
}

/* ---- filters ---- */

int
export_parse_time(const char *s, int64_t *out)
{
	char tmp[64];
	size_t n;
	int no_zone = 0, lenient = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n >= sizeof(tmp) - 10)
		return -1;
	if (n == 10) {
		snprintf(tmp, sizeof(tmp), "%sT00:00:00Z", s);
		if (norm_datetime(tmp, strlen(tmp), out, NULL, NULL) != 0)
			return -1;
	} else {
		memcpy(tmp, s, n + 1);
		/* An unencoded '+' of a zone offset arrives as a space in a query string. */
		if (n > 6 && tmp[n - 6] == ' ' && tmp[n - 3] == ':')
			tmp[n - 6] = '+';
		if (norm_datetime(tmp, n, out, &no_zone, &lenient) != 0 || no_zone || lenient)
			return -1;
	}
	return *out >= EXPORT_TIME_MIN && *out <= EXPORT_TIME_MAX ? 0 : -1;
}

int
export_parse_bool(const char *s, int *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* ---- the HTTP side ---- */

static ssize_t
export_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct export_stream *es = cls;
	size_t n = 0;
	int rc;

	(void)pos;
	while (n < max && es->state != XS_ERROR) {
		if (es->off < es->line.len) {
			size_t k = es->line.len - es->off;

			if (k > max - n)
				k = max - n;
			memcpy(out + n, es->line.data + es->off, k);
			es->off += k;
			n += k;
			continue;
		}
		if (es->state == XS_END)
			break;
		buf_reset(&es->line);
		es->off = 0;
		if ((rc = export_rows_next(es->x)) == 1) {
			export_csv_row(&es->line, es->x);
			es->rows++;
			if (es->line.err != 0) {
				log_warn("export-row-too-large", "kind=%s row=%" PRIu64 " max=%d",
				    export_kind_name(es->kind), es->rows, EXPORT_ROW_MAX);
				es->state = XS_ERROR;
			}
		} else if (rc == 0) {
			es->state = XS_END;
		} else {
			es->state = XS_ERROR;
		}
	}
	es->bytes += n;
	if (n > 0)
		return (ssize_t)n;
	return es->state == XS_END ? MHD_CONTENT_READER_END_OF_STREAM :
	    MHD_CONTENT_READER_END_WITH_ERROR;
}

static void
export_stream_free(void *cls)
{
	struct export_stream *es = cls;

	if (es == NULL)
		return;
	log_info("export", "kind=%s rows=%" PRIu64 " bytes=%" PRIu64 " complete=%s",
	    export_kind_name(es->kind), es->rows, es->bytes, es->state == XS_END &&
	    es->off == es->line.len ? "yes" : "no");
	export_rows_close(es->x);
	buf_free(&es->line);
	free(es);
	atomic_fetch_sub(&export_streams, 1);
}

static enum MHD_Result
export_bad(struct web_req *r, const char *name, const char *reason)
{
	return web_respond_bad_param(r, name, reason);
}

struct export_args {
	const char *bad;        /* the first unknown parameter */
	int n;
};

static enum MHD_Result
export_args_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	static const char *const known[] = { "domain", "reporter", "from", "to", "has_failures",
		"result_type" };
	struct export_args *a = cls;
	size_t i;

	(void)kind;
	(void)value;
	a->n++;
	for (i = 0; i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], key) != 0; i++)
		;
	if (i == sizeof(known) / sizeof(known[0]) && a->bad == NULL)
		a->bad = key;
	return MHD_YES;
}

static const char *
export_arg(struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Reads the query into f (domain into dom). 0, or -1 after queuing the 400 in *rc. */
static int
export_filter_from(struct web_req *r, struct export_filter *f, char dom[NORM_DOMAIN_MAX],
    enum MHD_Result *rc)
{
	const char *v;

	struct export_args a = { 0 };
	char why[120];

	export_filter_init(f);
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, export_args_cb, &a);
	if (a.n > EXPORT_ARGS_MAX) {
		*rc = export_bad(r, NULL, "too many query parameters");
		return -1;
	}
	if (a.bad != NULL) {
		snprintf(why, sizeof(why), "unknown parameter '%.64s'", a.bad);
		*rc = export_bad(r, a.bad, why);
		return -1;
	}
	if ((v = export_arg(r, "domain")) != NULL) {
		if (norm_domain(v, strlen(v), dom, NULL) != 0) {
			*rc = export_bad(r, "domain", "domain is not a valid domain name");
			return -1;
		}
		f->domain = dom;
	}
	if ((v = export_arg(r, "reporter")) != NULL) {
		if (strlen(v) > EXPORT_PARAM_MAX) {
			*rc = export_bad(r, "reporter", "reporter is too long");
			return -1;
		}
		f->reporter = v;
	}
	if ((v = export_arg(r, "result_type")) != NULL) {
		if (strlen(v) > EXPORT_PARAM_MAX) {
			*rc = export_bad(r, "result_type", "result_type is too long");
			return -1;
		}
		f->result_type = v;
	}
	if ((v = export_arg(r, "from")) != NULL && export_parse_time(v, &f->from) != 0) {
		*rc = export_bad(r, "from", "from must be a date (YYYY-MM-DD) or an RFC 3339 "
		    "date-time with a zone, in 1970..9999");
		return -1;
	}
	if ((v = export_arg(r, "to")) != NULL && export_parse_time(v, &f->to) != 0) {
		*rc = export_bad(r, "to", "to must be a date (YYYY-MM-DD) or an RFC 3339 "
		    "date-time with a zone, in 1970..9999");
		return -1;
	}
	if (f->from != EXPORT_FROM_ANY && f->to != EXPORT_TO_ANY && f->from >= f->to) {
		*rc = export_bad(r, "to", "to must be later than from");
		return -1;
	}
	if ((v = export_arg(r, "has_failures")) != NULL &&
	    export_parse_bool(v, &f->has_failures) != 0) {
		*rc = export_bad(r, "has_failures", "has_failures must be true, false, 1 or 0");
		return -1;
	}
	return 0;
}

/* The kind named by the path, or -1. */
static int
export_kind_of(const char *url, enum export_kind *k)
{
	char name[32];
	const char *p = url + strlen(EXPORT_PREFIX);
	size_t n = strlen(p), sl = strlen(EXPORT_SUFFIX);

	if (n <= sl || n - sl >= sizeof(name) || strcmp(p + n - sl, EXPORT_SUFFIX) != 0)
		return -1;
	memcpy(name, p, n - sl);
	name[n - sl] = '\0';
	return export_kind_parse(name, k);
}

enum MHD_Result
export_handle(struct web_req *r)
{
	struct export_filter f;
	struct export_stream *es = NULL;
	struct MHD_Response *resp;
	enum export_kind kind;
	enum MHD_Result rc;
	char dom[NORM_DOMAIN_MAX], disp[64];
	char *scope = NULL;
	int xrc, counted = 0;

	if (strncmp(r->url, EXPORT_PREFIX, strlen(EXPORT_PREFIX)) != 0 ||
	    export_kind_of(r->url, &kind) != 0) {
		r->status = MHD_HTTP_NOT_FOUND;
		return web_respond_error(r->conn, r->status, "not-found", "no such export");
	}
	if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(r->method, MHD_HTTP_METHOD_HEAD) != 0) {
		r->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		return web_respond_error(r->conn, r->status, "method-not-allowed",
		    "method not allowed");
	}
	if (export_filter_from(r, &f, dom, &rc) != 0)
		return rc;
	/* A domain outside a read token's scope matches nothing, as if unknown (the scope). */
	if (r->auth.enabled && !r->auth.admin && !r->auth.all_domains) {
		if ((scope = tokens_domains_json(r->auth.domains, r->auth.n_domains)) == NULL)
			goto fail;
		f.scope_json = scope;
	}
	if (atomic_fetch_add(&export_streams, 1) >= EXPORT_STREAMS_MAX) {
		atomic_fetch_sub(&export_streams, 1);
		free(scope);
		r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return web_respond_json(r->conn, r->status, json_pack("{s:s, s:{s:s, s:s}}",
		    "status", "temporary", "error", "code", "busy", "reason",
		    "too many exports running; try again shortly"), r->retry_after);
	}
	counted = 1;
	if ((es = calloc(1, sizeof(*es))) == NULL)
		goto fail;
	es->kind = kind;
	buf_init(&es->line, EXPORT_ROW_MAX);
	if ((xrc = export_rows_open(r->store, kind, &f, &es->x)) != 0)
		goto store_fail;
	free(scope);
	scope = NULL;
	/* The header and the first row now: a database that fails at once gets a proper 503. */
	export_csv_header(&es->line, kind);
	if ((xrc = export_rows_next(es->x)) < 0)
		goto store_fail;
	if (xrc == 1) {
		export_csv_row(&es->line, es->x);
		es->rows++;
	} else {
		es->state = XS_END;
	}
	if (es->line.err != 0)
		goto fail;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EXPORT_BLOCK, export_read, es,
	    export_stream_free);
	if (resp == NULL)
		goto fail;
	snprintf(disp, sizeof(disp), "attachment; filename=\"tlsrptd-%s.csv\"",
	    export_kind_name(kind));
	MHD_add_response_header(resp, "Content-Type", "text/csv; charset=utf-8; header=present");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	r->status = MHD_HTTP_OK;
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp); /* es now belongs to the response: freed by export_stream_free */
	return rc;
store_fail:
	if (es != NULL) {
		export_rows_close(es->x);
		buf_free(&es->line);
		free(es);
	}
	free(scope);
	atomic_fetch_sub(&export_streams, 1);
	return web_respond_store(r->conn, xrc, NULL, r->retry_after, &r->status);
fail:
	if (es != NULL) {
		export_rows_close(es->x);
		buf_free(&es->line);
		free(es);
	}
	free(scope);
	if (counted)
		atomic_fetch_sub(&export_streams, 1);
	r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return web_respond_error(r->conn, r->status, "internal", "out of memory");
}
