/* respond: building HTTP responses for the web modules (see web/respond.h). */
#include "web/respond.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "collector/buf.h"
#include "ingest/gz.h"
#include "storage/query.h"
#include "storage/store.h"

#define WEB_CACHE_CONTROL  "private, no-cache"
#define WEB_ETAG_BYTES     16     /* of the SHA-256, shown as hex */
#define WEB_DUMP_FLAGS     (JSON_COMPACT | JSON_REAL_PRECISION(WEB_REAL_DIGITS))

/* body as JSON text with a trailing newline (keeps curl output readable). NULL on failure. */
static char *
web_dump(json_t *body, size_t *len)
{
	char *text, *t2;

	if (body == NULL || (text = json_dumps(body, WEB_DUMP_FLAGS)) == NULL)
		return NULL;
	*len = strlen(text);
	if ((t2 = realloc(text, *len + 2)) == NULL) {
		free(text);
		return NULL;
	}
	t2[(*len)++] = '\n';
	t2[*len] = '\0';
	return t2;
}

enum MHD_Result
web_respond_json(struct MHD_Connection *conn, unsigned status, json_t *body, unsigned retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char *text;
	size_t len;

	text = web_dump(body, &len);
	json_decref(body);
	if (text == NULL)
		return MHD_NO;
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
web_respond_bad_param(struct web_req *r, const char *name, const char *reason)
{
	r->status = MHD_HTTP_BAD_REQUEST;
	return web_respond_json(r->conn, r->status, json_pack("{s:s, s:{s:s, s:s?, s:s}}",
	    "status", "error", "error", "code", "bad-parameter", "parameter", name,
	    "reason", reason), 0);
}

enum MHD_Result
web_respond_method(struct web_req *r, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	size_t len;
	char *text;
	json_t *body = json_pack("{s:s, s:{s:s, s:s}}", "status", "error", "error", "code",
	    "method-not-allowed", "reason", "method not allowed here");

	r->status = MHD_HTTP_METHOD_NOT_ALLOWED;
	text = web_dump(body, &len);
	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	if ((resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Allow", allow);
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
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

/* ---- conditional requests and compression ---- */

/* Skips optional white space. */
static const char *
web_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int
web_accepts_gzip(const char *ae)
{
	double gzip_q = -1, star_q = -1;

	if (ae == NULL)
		return 0;
	while (*ae != '\0') {
		const char *tok = web_ows(ae), *end;
		size_t tl;
		double q = 1;

		for (end = tok; *end != '\0' && *end != ',' && *end != ';' && *end != ' ' &&
		    *end != '\t'; end++)
			;
		tl = (size_t)(end - tok);
		/* Parameters: only q matters ("q=0" refuses). */
		for (ae = end; *ae != '\0' && *ae != ','; ) {
			const char *p = web_ows(ae);

			if (*p == ';') {
				p = web_ows(p + 1);
				if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
					char *qe;

					q = strtod(p + 2, &qe);
					p = qe;
				}
			}
			while (*p != '\0' && *p != ',' && *p != ';')
				p++;
			ae = p;
		}
		if ((tl == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
		    (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
			gzip_q = q;
		else if (tl == 1 && tok[0] == '*')
			star_q = q;
		if (*ae == ',')
			ae++;
	}
	return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

/* The opaque part of an entity tag ("..." without W/): start and length, or -1. */
static int
web_opaque(const char *p, size_t n, const char **o, size_t *ol)
{
	if (n >= 2 && p[0] == 'W' && p[1] == '/') {
		p += 2;
		n -= 2;
	}
	if (n < 2 || p[0] != '"' || p[n - 1] != '"')
		return -1;
	*o = p;
	*ol = n;
	return 0;
}

int
web_etag_matches(const char *inm, const char *etag)
{
	const char *mine, *o;
	size_t ml, ol;

	if (inm == NULL || etag == NULL || etag[0] == '\0' ||
	    web_opaque(etag, strlen(etag), &mine, &ml) != 0)
		return 0;
	while (*inm != '\0') {
		const char *p = web_ows(inm), *end = p;
		size_t n;

		while (*end != '\0' && *end != ',')
			end++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 1 && p[0] == '*')
			return 1;
		if (web_opaque(p, n, &o, &ol) == 0 && ol == ml && memcmp(o, mine, ml) == 0)
			return 1;
		inm = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Hashes one query argument into the ETag digest (an MHD_KeyValueIterator). */
static enum MHD_Result
web_hash_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	EVP_MD_CTX *md = cls;

	(void)kind;
	EVP_DigestUpdate(md, key, strlen(key) + 1);
	if (value != NULL)
		EVP_DigestUpdate(md, value, strlen(value) + 1);
	else
		EVP_DigestUpdate(md, "\377", 1);
	return MHD_YES;
}

/* Fills etag from the data version, the request and the asker. 0, or -1. */
static int
web_etag(struct web_req *r, char *etag, size_t len)
{
	const struct web_auth *a = &r->auth;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	int64_t v[4], scope[5], today = (int64_t)time(NULL) / QUERY_DAY;
	EVP_MD_CTX *md;
	char *p = etag;
	int ok;

	if (query_data_version(r->store, v) != 0 || (md = EVP_MD_CTX_new()) == NULL)
		return -1;
	scope[0] = a->enabled;
	scope[1] = a->admin;
	scope[2] = a->all_domains;
	scope[3] = a->token_id;
	scope[4] = (int64_t)a->n_domains;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, "tlsrptd-etag-1", 15) == 1 &&
	    EVP_DigestUpdate(md, v, sizeof(v)) == 1 &&
	    EVP_DigestUpdate(md, &today, sizeof(today)) == 1 &&
	    EVP_DigestUpdate(md, scope, sizeof(scope)) == 1 &&
	    EVP_DigestUpdate(md, r->url, strlen(r->url) + 1) == 1;
	for (size_t i = 0; ok && a->domains != NULL && i < a->n_domains; i++)
		ok = EVP_DigestUpdate(md, a->domains[i], strlen(a->domains[i]) + 1) == 1;
	if (ok)
		MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, web_hash_arg, md);
	ok = ok && EVP_DigestFinal_ex(md, dg, &dl) == 1 && dl >= WEB_ETAG_BYTES &&
	    len >= 2 * WEB_ETAG_BYTES + 5;
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	*p++ = 'W';
	*p++ = '/';
	*p++ = '"';
	for (int i = 0; i < WEB_ETAG_BYTES; i++) {
		*p++ = "0123456789abcdef"[dg[i] >> 4];
		*p++ = "0123456789abcdef"[dg[i] & 0xf];
	}
	*p++ = '"';
	*p = '\0';
	return 0;
}

static void
web_cache_headers(struct MHD_Response *resp, const struct web_cache *c)
{
	if (c != NULL && c->etag[0] != '\0')
		MHD_add_response_header(resp, "ETag", c->etag);
	MHD_add_response_header(resp, "Cache-Control", WEB_CACHE_CONTROL);
	MHD_add_response_header(resp, "Vary", "Accept-Encoding");
}

int
web_cache_check(struct web_req *r, struct web_cache *c, enum MHD_Result *rc)
{
	struct MHD_Response *resp;
	const char *inm;

	c->etag[0] = '\0';
	if (web_etag(r, c->etag, sizeof(c->etag)) != 0) {
		c->etag[0] = '\0';
		return 0;
	}
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (!web_etag_matches(inm, c->etag))
		return 0;
	r->status = MHD_HTTP_NOT_MODIFIED;
	if ((resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)) == NULL) {
		*rc = MHD_NO;
		return 1;
	}
	web_cache_headers(resp, c);
	*rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return 1;
}

/* Queues 200 with data (malloc'd, taken in every case) and the cache headers. */
static enum MHD_Result
web_queue_owned(struct web_req *r, const struct web_cache *c, const char *ctype,
    const char *disposition, char *data, size_t len, int compressible)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	int gz = 0;

	if (compressible && len > WEB_GZIP_MIN && web_accepts_gzip(MHD_lookup_connection_value(
	    r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING))) {
		struct buf z;
		char *zd;
		size_t zl;

		buf_init(&z, len + len / 8 + 1024);
		if (gz_deflate(data, len, &z) == 0 && (zd = buf_detach(&z, &zl)) != NULL) {
			free(data);
			data = zd;
			len = zl;
			gz = 1;
		}
		buf_free(&z);
	}
	r->status = MHD_HTTP_OK;
	if ((resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (gz)
		MHD_add_response_header(resp, "Content-Encoding", "gzip");
	if (disposition != NULL)
		MHD_add_response_header(resp, "Content-Disposition", disposition);
	web_cache_headers(resp, c);
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

enum MHD_Result
web_respond_cached(struct web_req *r, const struct web_cache *c, json_t *body)
{
	size_t len;
	char *text = web_dump(body, &len);

	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	return web_queue_owned(r, c, "application/json", NULL, text, len, 1);
}

enum MHD_Result
web_respond_bytes(struct web_req *r, const struct web_cache *c, const char *ctype,
    const char *disposition, const void *data, size_t len, int compressible)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return MHD_NO;
	if (len > 0)
		memcpy(copy, data, len);
	return web_queue_owned(r, c, ctype, disposition, copy, len, compressible);
}
