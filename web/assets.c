/*
 * assets: the dashboard's static files (web/dashboard/), embedded in the binary at build time
 * (web/CMakeLists.txt generates the table below with web/embed.cmake) and served without
 * authentication: they hold no data, the page reads everything through the API.
 *
 *   GET|HEAD /                 index.html
 *   GET|HEAD /assets/NAME      any file of web/dashboard/ with a known extension
 *
 * Each file has a strong ETag (the first ASSET_ETAG_BYTES of its SHA-256, computed once on
 * first use) and a gzip copy made at the same time when compressing pays; If-None-Match
 * answers 304. Cache-Control: no-cache (revalidate every time: a new binary serves new files
 * at once). A strict Content-Security-Policy: no inline script or style, nothing from
 * elsewhere, no framing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "ingest/gz.h"
#include "web/respond.h"
#include "web/route.h"

#define ASSET_ETAG_BYTES   12     /* of the SHA-256, shown as hex */
#define ASSET_GZIP_MIN     512    /* smaller files are sent as they are */
#define ASSET_PATH_MAX     128    /* longest request path looked up */
#define ASSET_PREFIX       "/assets/"
#define ASSET_INDEX        "index.html"

#define ASSET_CSP "default-src 'self'; img-src 'self' data:; style-src 'self'; " \
	"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; " \
	"form-action 'self'"

/* The generated table (web/CMakeLists.txt): file names, bytes and lengths, in step. */
extern const char *const web_asset_names[];
extern const char *const web_asset_data[];
extern const size_t *const web_asset_lens[];
extern const size_t web_asset_count;

static const struct {
	const char *ext;
	const char *ctype;
	int compressible;
} asset_types[] = {
	{ ".html", "text/html; charset=utf-8", 1 },
	{ ".js", "text/javascript; charset=utf-8", 1 },
	{ ".css", "text/css; charset=utf-8", 1 },
	{ ".svg", "image/svg+xml", 1 },
	{ ".json", "application/json", 1 },
	{ ".png", "image/png", 0 },
	{ ".woff2", "font/woff2", 0 },
};

/* What first use computes per file; read-only afterwards. */
struct asset {
	const char *ctype;          /* NULL: an extension we do not serve */
	char etag[2 * ASSET_ETAG_BYTES + 3];      /* "hex" */
	char etag_gz[2 * ASSET_ETAG_BYTES + 6];   /* "hex-gz" */
	char *gz;                   /* gzip copy, or NULL */
	size_t gz_len;
};

static pthread_once_t assets_once = PTHREAD_ONCE_INIT;
static struct asset *assets;    /* web_asset_count entries, never freed (lives as the binary) */

static const char *
asset_ctype(const char *name, int *compressible)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(asset_types) / sizeof(asset_types[0]); i++) {
		size_t e = strlen(asset_types[i].ext);

		if (n > e && strcmp(name + n - e, asset_types[i].ext) == 0) {
			*compressible = asset_types[i].compressible;
			return asset_types[i].ctype;
		}
	}
	return NULL;
}

static void
assets_init(void)
{
	static const char hex[] = "0123456789abcdef";

	if ((assets = calloc(web_asset_count ? web_asset_count : 1, sizeof(*assets))) == NULL)
		return;
	for (size_t i = 0; i < web_asset_count; i++) {
		struct asset *a = &assets[i];
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char h[2 * ASSET_ETAG_BYTES + 1];
		int compressible = 0;

		a->ctype = asset_ctype(web_asset_names[i], &compressible);
		if (EVP_Digest(web_asset_data[i], *web_asset_lens[i], md, &mdlen, EVP_sha256(), NULL) != 1 ||
		    mdlen < ASSET_ETAG_BYTES) {
			a->ctype = NULL;   /* no validator: not served rather than served wrong */
			log_error("assets", "file=%s reason=sha256-failed", web_asset_names[i]);
			continue;
		}
		for (size_t j = 0; j < ASSET_ETAG_BYTES; j++) {
			h[2 * j] = hex[md[j] >> 4];
			h[2 * j + 1] = hex[md[j] & 15];
		}
		h[2 * ASSET_ETAG_BYTES] = '\0';
		snprintf(a->etag, sizeof(a->etag), "\"%s\"", h);
		snprintf(a->etag_gz, sizeof(a->etag_gz), "\"%s-gz\"", h);
		if (compressible && *web_asset_lens[i] >= ASSET_GZIP_MIN) {
			struct buf z;
			size_t len = *web_asset_lens[i];

			buf_init(&z, len + len / 8 + 1024);
			if (gz_deflate(web_asset_data[i], len, &z) == 0 && z.len < len)
				a->gz = buf_detach(&z, &a->gz_len);
			buf_free(&z);
		}
	}
}

/* The table index of the file a request path names, or -1. */
static long
asset_find(const char *url)
{
	const char *name;

	if (strcmp(url, "/") == 0)
		name = ASSET_INDEX;
	else if (strncmp(url, ASSET_PREFIX, strlen(ASSET_PREFIX)) == 0)
		name = url + strlen(ASSET_PREFIX);
	else
		return -1;
	if (strlen(url) > ASSET_PATH_MAX)
		return -1;
	for (size_t i = 0; i < web_asset_count; i++)
		if (strcmp(web_asset_names[i], name) == 0)
			return assets[i].ctype != NULL ? (long)i : -1;
	return -1;
}

static void
asset_headers(struct MHD_Response *resp, const char *ctype, const char *etag)
{
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	MHD_add_response_header(resp, "Content-Security-Policy", ASSET_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
}

enum MHD_Result
assets_handle(struct web_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	const struct asset *a;
	const char *inm, *etag;
	long i;
	int gz;

	if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 && strcmp(r->method, MHD_HTTP_METHOD_HEAD) != 0)
		return web_respond_method(r, "GET, HEAD");
	pthread_once(&assets_once, assets_init);
	if (assets == NULL) {
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return web_respond_error(r->conn, r->status, "out-of-memory", "out of memory");
	}
	if ((i = asset_find(r->url)) < 0) {
		r->status = MHD_HTTP_NOT_FOUND;
		return web_respond_error(r->conn, r->status, "not-found", "no such resource");
	}
	a = &assets[i];
	gz = a->gz != NULL && web_accepts_gzip(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT_ENCODING));
	etag = gz ? a->etag_gz : a->etag;
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (web_etag_matches(inm, etag)) {
		r->status = MHD_HTTP_NOT_MODIFIED;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		asset_headers(resp, NULL, etag);
	} else {
		r->status = MHD_HTTP_OK;
		/* The bytes live as long as the binary: no copy. */
		resp = MHD_create_response_from_buffer(gz ? a->gz_len : *web_asset_lens[i],
		    (void *)(uintptr_t)(gz ? a->gz : web_asset_data[i]), MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		asset_headers(resp, a->ctype, etag);
		if (gz)
			MHD_add_response_header(resp, "Content-Encoding", "gzip");
	}
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}
