/*
 * auth: who is asking on the read side (see web/route.h), by bearer token (storage/tokens.h).
 *
 * Every request under /api/ needs "Authorization: Bearer <token>" unless the config says
 * api_auth off; /metrics the same unless metrics_auth off (any role will do there; a read
 * token's scrape shows only its domains). A missing, unknown or revoked token is answered 401
 * with WWW-Authenticate: Bearer; nothing of the token is ever logged.
 *
 * Cache: a token found valid is kept in memory for AUTH_CACHE_TTL_S seconds (at most
 * AUTH_CACHE_MAX tokens, the oldest replaced first), so a burst of API requests reads SQLite
 * once; a revocation made meanwhile (by `tlsrptd token revoke`, another process) takes effect
 * within that time. Unknown tokens are not cached (a flood of them cannot evict good ones).
 * last_used_at is written through the store's writer at most once per AUTH_TOUCH_S seconds
 * per token, on the request's thread (a short wait for one group commit).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collector/log.h"
#include "storage/tokens.h"
#include "web/respond.h"
#include "web/route.h"

#define AUTH_CACHE_MAX    128  /* tokens kept in memory */
#define AUTH_CACHE_TTL_S  5    /* seconds a cached token is trusted before it is read again */
#define AUTH_TOUCH_S      60   /* least seconds between two last_used_at writes of a token */
#define AUTH_SCHEME       "Bearer"

/* A token found valid: shared by the cache and the requests using it (refs). */
struct auth_principal {
	int refs;                 /* guarded by auth_mu */
	int64_t id;
	int admin;
	int all_domains;
	char **domains;
	size_t n_domains;
};

struct auth_slot {
	struct store *store;      /* the store it was read from */
	unsigned char hash[TOKENS_HASH_LEN];
	struct auth_principal *p; /* NULL: free slot; the slot holds one reference */
	struct timespec loaded;   /* CLOCK_MONOTONIC */
	int64_t touched;          /* last_used_at as read or last written (epoch seconds) */
};

static struct auth_slot auth_cache[AUTH_CACHE_MAX];
static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;

static const char auth_body_missing[] =
    "{\"status\":\"error\",\"error\":{\"code\":\"unauthorized\","
    "\"reason\":\"this resource needs an Authorization: Bearer token\"}}\n";
static const char auth_body_invalid[] =
    "{\"status\":\"error\",\"error\":{\"code\":\"unauthorized\","
    "\"reason\":\"the token is unknown or revoked\"}}\n";

static void
auth_principal_free(struct auth_principal *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_domains; i++)
		free(p->domains[i]);
	free(p->domains);
	free(p);
}

/* Drops one reference; the caller holds auth_mu. */
static void
auth_unref_locked(struct auth_principal *p)
{
	if (p != NULL && --p->refs == 0)
		auth_principal_free(p);
}

static struct auth_principal *
auth_principal_new(const struct tokens_entry *e)
{
	struct auth_principal *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->refs = 1;
	p->id = e->id;
	p->admin = e->role == TOKENS_ADMIN;
	p->all_domains = !p->admin && e->all_domains;
	if (!p->admin && !p->all_domains && e->n_domains > 0) {
		if ((p->domains = calloc(e->n_domains, sizeof(*p->domains))) == NULL)
			goto fail;
		for (; p->n_domains < e->n_domains; p->n_domains++)
			if ((p->domains[p->n_domains] = strdup(e->domains[p->n_domains])) == NULL)
				goto fail;
	}
	return p;
fail:
	auth_principal_free(p);
	return NULL;
}

static double
auth_age(const struct timespec *since, const struct timespec *now)
{
	return (double)(now->tv_sec - since->tv_sec) +
	    (double)(now->tv_nsec - since->tv_nsec) / 1e9;
}

/*
 * A cached principal for hash (a new reference), or NULL. *touch is set when last_used_at
 * is due, and the slot then marked as written at now.
 */
static struct auth_principal *
auth_cache_get(struct store *s, const unsigned char *hash, int64_t now, int *touch)
{
	struct auth_principal *p = NULL;
	struct timespec mono;

	*touch = 0;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	pthread_mutex_lock(&auth_mu);
	for (int i = 0; i < AUTH_CACHE_MAX; i++) {
		struct auth_slot *sl = &auth_cache[i];

		if (sl->p == NULL || sl->store != s || !tokens_hash_equal(sl->hash, hash))
			continue;
		if (auth_age(&sl->loaded, &mono) >= AUTH_CACHE_TTL_S)
			break;
		p = sl->p;
		p->refs++;
		if (now - sl->touched >= AUTH_TOUCH_S) {
			sl->touched = now;
			*touch = 1;
		}
		break;
	}
	pthread_mutex_unlock(&auth_mu);
	return p;
}

/*
 * Caches p (which gets the cache's own reference) for hash, replacing the entry of the same
 * token or else the oldest. *touch as for auth_cache_get, from last_used.
 */
static void
auth_cache_put(struct store *s, const unsigned char *hash, struct auth_principal *p,
    int64_t last_used, int64_t now, int *touch)
{
	struct auth_slot *sl = NULL;
	struct timespec mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	pthread_mutex_lock(&auth_mu);
	for (int i = 0; i < AUTH_CACHE_MAX && sl == NULL; i++)
		if (auth_cache[i].p != NULL && auth_cache[i].store == s &&
		    tokens_hash_equal(auth_cache[i].hash, hash))
			sl = &auth_cache[i];
	for (int i = 0; i < AUTH_CACHE_MAX && sl == NULL; i++)
		if (auth_cache[i].p == NULL)
			sl = &auth_cache[i];
	if (sl == NULL) {
		sl = &auth_cache[0];
		for (int i = 1; i < AUTH_CACHE_MAX; i++)
			if (auth_age(&auth_cache[i].loaded, &sl->loaded) > 0)
				sl = &auth_cache[i];
	}
	if (sl->p != NULL && sl->store == s && tokens_hash_equal(sl->hash, hash) &&
	    sl->touched > last_used)
		last_used = sl->touched;
	auth_unref_locked(sl->p);
	sl->store = s;
	memcpy(sl->hash, hash, TOKENS_HASH_LEN);
	sl->p = p;
	p->refs++;
	sl->loaded = mono;
	sl->touched = last_used;
	*touch = now - last_used >= AUTH_TOUCH_S;
	if (*touch)
		sl->touched = now;
	pthread_mutex_unlock(&auth_mu);
}

/* Forgets a cached token (it was found revoked or unknown). */
static void
auth_cache_drop(struct store *s, const unsigned char *hash)
{
	pthread_mutex_lock(&auth_mu);
	for (int i = 0; i < AUTH_CACHE_MAX; i++) {
		struct auth_slot *sl = &auth_cache[i];

		if (sl->p != NULL && sl->store == s && tokens_hash_equal(sl->hash, hash)) {
			auth_unref_locked(sl->p);
			memset(sl, 0, sizeof(*sl));
		}
	}
	pthread_mutex_unlock(&auth_mu);
}

/* Queues the 401 with its WWW-Authenticate challenge (RFC 6750). */
static enum MHD_Result
auth_refuse(struct web_req *r, int invalid, const char *why)
{
	struct MHD_Response *resp;
	const char *body = invalid ? auth_body_invalid : auth_body_missing;
	char q[200];
	enum MHD_Result rc;

	log_info("auth-refused", "path=%s reason=%s", log_q(q, sizeof(q), r->url, (size_t)-1), why);
	r->status = MHD_HTTP_UNAUTHORIZED;
	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, invalid ?
	    AUTH_SCHEME " realm=\"tlsrptd\", error=\"invalid_token\"" :
	    AUTH_SCHEME " realm=\"tlsrptd\"");
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	rc = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/*
 * The token of an "Authorization: Bearer <token>" header: *tok and *len, or -1 when the
 * header is missing (*len 0) or not a bearer token of a sensible size (*len 1).
 */
static int
auth_bearer(struct MHD_Connection *conn, const char **tok, size_t *len)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t n;

	*tok = NULL;
	*len = 0;
	if (h == NULL)
		return -1;
	*len = 1;
	n = strlen(AUTH_SCHEME);
	if (strncasecmp(h, AUTH_SCHEME, n) != 0 || (h[n] != ' ' && h[n] != '\t'))
		return -1;
	for (h += n; *h == ' ' || *h == '\t'; h++)
		;
	for (n = 0; h[n] != '\0' && h[n] != ' ' && h[n] != '\t'; n++)
		if (n >= TOKENS_PRESENTED_MAX)
			return -1;
	for (size_t i = n; h[i] != '\0'; i++)
		if (h[i] != ' ' && h[i] != '\t')
			return -1;
	if (n == 0)
		return -1;
	*tok = h;
	*len = n;
	return 0;
}

int
auth_check(struct web_req *r, enum MHD_Result *rc)
{
	struct auth_principal *p;
	struct tokens_entry *e = NULL;
	unsigned char hash[TOKENS_HASH_LEN];
	const char *tok;
	size_t len;
	int64_t now = (int64_t)time(NULL), last_used = 0;
	int is_metrics = strcmp(r->url, "/metrics") == 0, touch = 0, lrc;

	memset(&r->auth, 0, sizeof(r->auth));
	if (is_metrics ? r->metrics_auth_off : r->api_auth_off)
		return 0;
	if (auth_bearer(r->conn, &tok, &len) != 0) {
		*rc = auth_refuse(r, len != 0, len != 0 ? "not-a-bearer-token" : "no-token");
		return -1;
	}
	tokens_hash(tok, len, hash);
	if ((p = auth_cache_get(r->store, hash, now, &touch)) == NULL) {
		lrc = tokens_lookup(r->store, hash, &e);
		if (lrc == STORE_NOTFOUND || (lrc == 0 && e->revoked_at != 0)) {
			if (lrc == 0)
				log_info("auth-revoked", "token=%" PRId64, e->id);
			tokens_entry_free(e);
			auth_cache_drop(r->store, hash);
			*rc = auth_refuse(r, 1, lrc == 0 ? "revoked-token" : "unknown-token");
			return -1;
		}
		if (lrc == 0 && (p = auth_principal_new(e)) == NULL)
			lrc = STORE_ERR;
		if (lrc == 0)
			last_used = e->last_used_at;
		tokens_entry_free(e);
		if (lrc != 0) {
			*rc = web_respond_store(r->conn, lrc, NULL, r->retry_after, &r->status);
			return -1;
		}
		auth_cache_put(r->store, hash, p, last_used, now, &touch);
	}
	if (touch && tokens_touch(r->store, p->id, now) != 0)
		log_warn("auth-touch-failed", "token=%" PRId64, p->id);
	r->auth.enabled = 1;
	r->auth.admin = p->admin;
	r->auth.all_domains = p->all_domains;
	r->auth.domains = (const char *const *)p->domains;
	r->auth.n_domains = p->n_domains;
	r->auth.token_id = p->id;
	r->auth.ref_ = p;
	return 0;
}

void
auth_release(struct web_auth *a)
{
	if (a == NULL || a->ref_ == NULL)
		return;
	pthread_mutex_lock(&auth_mu);
	auth_unref_locked(a->ref_);
	pthread_mutex_unlock(&auth_mu);
	memset(a, 0, sizeof(*a));
}

int
auth_domain_visible(const struct web_auth *a, const char *domain)
{
	size_t dl;

	if (!a->enabled || a->admin || a->all_domains)
		return 1;
	if (domain == NULL)
		return 0;
	dl = strlen(domain);
	for (size_t i = 0; i < a->n_domains; i++) {
		const char *t = a->domains[i];
		size_t tl = strlen(t);

		if (dl == tl && memcmp(domain, t, tl) == 0)
			return 1;
		if (dl > tl && domain[dl - tl - 1] == '.' && memcmp(domain + dl - tl, t, tl) == 0)
			return 1;
	}
	return 0;
}
