/* tokens: API tokens, stored hashed (see storage/tokens.h and schema/0003_tokens.sql). */
#include "storage/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "collector/log.h"
#include "storage/store_int.h"

#define TOKENS_COLS \
	"id, name, role, all_domains, domains, created_at, last_used_at, revoked_at, hash"

static const char tokens_sql_insert[] =
    "INSERT INTO tokens (hash, name, role, all_domains, domains, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char tokens_sql_lookup[] = "SELECT " TOKENS_COLS " FROM tokens WHERE hash = ?1";
static const char tokens_sql_list[] = "SELECT " TOKENS_COLS " FROM tokens ORDER BY id";
static const char tokens_sql_state[] = "SELECT revoked_at FROM tokens WHERE id = ?1";
static const char tokens_sql_revoke[] =
    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";
static const char tokens_sql_touch[] =
    "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"
    " AND (last_used_at IS NULL OR last_used_at < ?2)";

/* What a function run on the writer needs and gives back. */
struct tokens_op {
	int64_t id;
	int64_t now;
	const unsigned char *hash;
	const char *name;
	const char *role;
	int all_domains;
	const char *domains_json;
	int found;              /* revoke: the row exists */
	int was_revoked;        /* revoke: it was revoked before */
};

const char *
tokens_role_name(enum tokens_role role)
{
	switch (role) {
	case TOKENS_READ:
		return "read";
	case TOKENS_ADMIN:
		return "admin";
	}
	return NULL;
}

int
tokens_role_parse(const char *s, enum tokens_role *out)
{
	if (s != NULL && strcmp(s, "read") == 0)
		*out = TOKENS_READ;
	else if (s != NULL && strcmp(s, "admin") == 0)
		*out = TOKENS_ADMIN;
	else
		return -1;
	return 0;
}

void
tokens_hash(const char *text, size_t len, unsigned char out[TOKENS_HASH_LEN])
{
	SHA256((const unsigned char *)text, len, out);
}

int
tokens_hash_equal(const unsigned char a[TOKENS_HASH_LEN], const unsigned char b[TOKENS_HASH_LEN])
{
	return CRYPTO_memcmp(a, b, TOKENS_HASH_LEN) == 0;
}

int
tokens_generate(char out[TOKENS_TEXT_LEN + 1], unsigned char hash[TOKENS_HASH_LEN])
{
	unsigned char raw[TOKENS_RANDOM_BYTES];
	unsigned char b64[4 * ((TOKENS_RANDOM_BYTES + 2) / 3) + 1];
	size_t p = sizeof(TOKENS_PREFIX) - 1;
	int n;

	memset(out, 0, TOKENS_TEXT_LEN + 1);
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
		return -1;
	n = EVP_EncodeBlock(b64, raw, (int)sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	memcpy(out, TOKENS_PREFIX, p);
	/* base64 to base64url, padding dropped. */
	for (int i = 0; i < n && b64[i] != '='; i++) {
		if (p >= TOKENS_TEXT_LEN)
			break;
		out[p++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	}
	OPENSSL_cleanse(b64, sizeof(b64));
	if (p != TOKENS_TEXT_LEN) {
		OPENSSL_cleanse(out, TOKENS_TEXT_LEN + 1);
		return -1;
	}
	out[p] = '\0';
	tokens_hash(out, p, hash);
	return 0;
}

/* A normalised domain name: 1..253 bytes of [a-z0-9._-], not starting or ending with '.'. */
static int
tokens_domain_ok(const char *d)
{
	size_t n = d != NULL ? strlen(d) : 0;

	if (n == 0 || n > TOKENS_DOMAIN_MAX || d[0] == '.' || d[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = d[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

char *
tokens_domains_json(const char *const *domains, size_t n)
{
	json_t *a = json_array();
	char *out = NULL;

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a, json_string(domains[i])) != 0)
			goto out;
	out = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return out;
}

int
tokens_validate(const struct tokens_new *t, char *why, size_t whylen)
{
	json_t *js;

	if (tokens_role_name(t->role) == NULL) {
		snprintf(why, whylen, "role must be read or admin");
		return -1;
	}
	if (t->name != NULL) {
		if (strlen(t->name) > TOKENS_NAME_MAX) {
			snprintf(why, whylen, "name longer than %d bytes", TOKENS_NAME_MAX);
			return -1;
		}
		for (const char *c = t->name; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				snprintf(why, whylen, "name holds a control character");
				return -1;
			}
		if ((js = json_string(t->name)) == NULL) {
			snprintf(why, whylen, "name is not UTF-8");
			return -1;
		}
		json_decref(js);
	}
	if (t->role == TOKENS_ADMIN) {
		if (t->n_domains > 0 || t->all_domains) {
			snprintf(why, whylen, "an admin token sees every domain: give no domains");
			return -1;
		}
		return 0;
	}
	if (t->all_domains && t->n_domains > 0) {
		snprintf(why, whylen, "give domains or all domains, not both");
		return -1;
	}
	if (!t->all_domains && t->n_domains == 0) {
		snprintf(why, whylen, "a read token needs at least one domain (or all domains)");
		return -1;
	}
	if (t->n_domains > TOKENS_DOMAINS_MAX) {
		snprintf(why, whylen, "more than %d domains", TOKENS_DOMAINS_MAX);
		return -1;
	}
	for (size_t i = 0; i < t->n_domains; i++)
		if (!tokens_domain_ok(t->domains[i])) {
			snprintf(why, whylen, "'%s' is not a normalised domain name", t->domains[i]);
			return -1;
		}
	return 0;
}

/* Steps st to its end (finalising it); 0 or STORE_TEMP / STORE_ERR. */
static int
tokens_run(sqlite3_stmt *st, int bind_rc)
{
	int rc = bind_rc;

	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_sqlite_rc(rc);
}

static int
tokens_w_insert(sqlite3 *db, void *arg)
{
	struct tokens_op *op = arg;
	sqlite3_stmt *st = NULL;
	int rc, b = SQLITE_OK;

	if ((rc = sqlite3_prepare_v2(db, tokens_sql_insert, -1, &st, NULL)) != SQLITE_OK)
		return store_sqlite_rc(rc);
	if (b == SQLITE_OK)
		b = sqlite3_bind_blob(st, 1, op->hash, TOKENS_HASH_LEN, SQLITE_STATIC);
	if (b == SQLITE_OK)
		b = sqlite3_bind_text(st, 2, op->name != NULL ? op->name : "", -1, SQLITE_STATIC);
	if (b == SQLITE_OK)
		b = sqlite3_bind_text(st, 3, op->role, -1, SQLITE_STATIC);
	if (b == SQLITE_OK)
		b = sqlite3_bind_int(st, 4, op->all_domains);
	if (b == SQLITE_OK)
		b = sqlite3_bind_text(st, 5, op->domains_json, -1, SQLITE_STATIC);
	if (b == SQLITE_OK)
		b = sqlite3_bind_int64(st, 6, op->now);
	if ((rc = tokens_run(st, b)) != 0)
		return rc;
	op->id = sqlite3_last_insert_rowid(db);
	return 0;
}

int
tokens_create(struct store *s, const struct tokens_new *t, int64_t now,
    char text[TOKENS_TEXT_LEN + 1], int64_t *id, char *why, size_t whylen)
{
	unsigned char hash[TOKENS_HASH_LEN];
	struct tokens_op op;
	char *dj = NULL;
	int rc;

	memset(text, 0, TOKENS_TEXT_LEN + 1);
	*id = 0;
	if (s == NULL || t == NULL) {
		snprintf(why, whylen, "no store or no token");
		return STORE_ERR;
	}
	if (tokens_validate(t, why, whylen) != 0)
		return STORE_ERR;
	if ((dj = tokens_domains_json(t->domains, t->n_domains)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return STORE_ERR;
	}
	if (tokens_generate(text, hash) != 0) {
		snprintf(why, whylen, "the random generator failed");
		free(dj);
		return STORE_ERR;
	}
	memset(&op, 0, sizeof(op));
	op.now = now;
	op.hash = hash;
	op.name = t->name;
	op.role = tokens_role_name(t->role);
	op.all_domains = t->role == TOKENS_READ && t->all_domains;
	op.domains_json = dj;
	rc = store_write(s, tokens_w_insert, &op);
	free(dj);
	if (rc != 0) {
		OPENSSL_cleanse(text, TOKENS_TEXT_LEN + 1);
		snprintf(why, whylen, "%s", rc == STORE_TEMP ? "the database cannot take the write now" :
		    "the database refused the token");
		return rc;
	}
	*id = op.id;
	return 0;
}

void
tokens_entry_free(struct tokens_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n_domains; i++)
		free(e->domains[i]);
	free(e->domains);
	free(e->domains_json);
	free(e->name);
	free(e);
}

static char *
tokens_col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return strdup(t != NULL ? t : "");
}

/* An entry from a row of TOKENS_COLS. NULL on OOM or a row that is not what 0003 allows. */
static struct tokens_entry *
tokens_entry_from(sqlite3_stmt *st)
{
	struct tokens_entry *e = calloc(1, sizeof(*e));
	json_t *a = NULL, *v;
	size_t i;

	if (e == NULL)
		return NULL;
	e->id = sqlite3_column_int64(st, 0);
	if ((e->name = tokens_col_dup(st, 1)) == NULL ||
	    tokens_role_parse((const char *)sqlite3_column_text(st, 2), &e->role) != 0 ||
	    (e->domains_json = tokens_col_dup(st, 4)) == NULL)
		goto fail;
	e->all_domains = sqlite3_column_int(st, 3) != 0;
	e->created_at = sqlite3_column_int64(st, 5);
	e->last_used_at = sqlite3_column_int64(st, 6);
	e->revoked_at = sqlite3_column_int64(st, 7);
	if (sqlite3_column_bytes(st, 8) != TOKENS_HASH_LEN)
		goto fail;
	memcpy(e->hash, sqlite3_column_blob(st, 8), TOKENS_HASH_LEN);
	if ((a = json_loads(e->domains_json, 0, NULL)) == NULL || !json_is_array(a) ||
	    json_array_size(a) > TOKENS_DOMAINS_MAX)
		goto fail;
	if (json_array_size(a) > 0 &&
	    (e->domains = calloc(json_array_size(a), sizeof(*e->domains))) == NULL)
		goto fail;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || (e->domains[i] = strdup(json_string_value(v))) == NULL)
			goto fail;
		e->n_domains++;
	}
	json_decref(a);
	return e;
fail:
	json_decref(a);
	tokens_entry_free(e);
	return NULL;
}

static int
tokens_read_fail(sqlite3 *db, int rc, const char *what)
{
	log_warn("tokens-read-failed", "query=%s error=\"%s\"", what, sqlite3_errmsg(db));
	return store_sqlite_rc(rc);
}

int
tokens_lookup(struct store *s, const unsigned char hash[TOKENS_HASH_LEN],
    struct tokens_entry **out)
{
	struct store_reader *rd;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, ret = STORE_ERR;

	*out = NULL;
	if (s == NULL || hash == NULL)
		return STORE_ERR;
	db = store_reader_db(s, &rd);
	if ((rc = sqlite3_prepare_v2(db, tokens_sql_lookup, -1, &st, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 1, hash, TOKENS_HASH_LEN, SQLITE_STATIC)) != SQLITE_OK) {
		ret = tokens_read_fail(db, rc, "token lookup");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		ret = STORE_NOTFOUND;
	} else if (rc != SQLITE_ROW) {
		ret = tokens_read_fail(db, rc, "token lookup");
	} else if ((*out = tokens_entry_from(st)) == NULL) {
		ret = STORE_ERR;
	} else if (!tokens_hash_equal((*out)->hash, hash)) {
		/* The index said equal; the bytes must say so too. */
		tokens_entry_free(*out);
		*out = NULL;
		ret = STORE_NOTFOUND;
	} else {
		ret = 0;
	}
out:
	sqlite3_finalize(st);
	store_reader_done(s, rd);
	return ret;
}

int
tokens_list(struct store *s, int (*fn)(void *arg, const struct tokens_entry *e), void *arg)
{
	struct store_reader *rd;
	struct tokens_entry *e;
	sqlite3_stmt *st = NULL;
	sqlite3 *db;
	int rc, ret = 0;

	if (s == NULL || fn == NULL)
		return STORE_ERR;
	db = store_reader_db(s, &rd);
	if ((rc = sqlite3_prepare_v2(db, tokens_sql_list, -1, &st, NULL)) != SQLITE_OK) {
		ret = tokens_read_fail(db, rc, "token list");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((e = tokens_entry_from(st)) == NULL) {
			ret = STORE_ERR;
			goto out;
		}
		ret = fn(arg, e);
		tokens_entry_free(e);
		if (ret != 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = tokens_read_fail(db, rc, "token list");
out:
	sqlite3_finalize(st);
	store_reader_done(s, rd);
	return ret;
}

static int
tokens_w_revoke(sqlite3 *db, void *arg)
{
	struct tokens_op *op = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	op->found = op->was_revoked = 0;
	if ((rc = sqlite3_prepare_v2(db, tokens_sql_state, -1, &st, NULL)) != SQLITE_OK)
		return store_sqlite_rc(rc);
	sqlite3_bind_int64(st, 1, op->id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		op->found = 1;
		op->was_revoked = sqlite3_column_type(st, 0) != SQLITE_NULL;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sqlite_rc(rc);
	if (!op->found || op->was_revoked)
		return 0;
	if ((rc = sqlite3_prepare_v2(db, tokens_sql_revoke, -1, &st, NULL)) != SQLITE_OK)
		return store_sqlite_rc(rc);
	rc = sqlite3_bind_int64(st, 1, op->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, op->now);
	return tokens_run(st, rc);
}

int
tokens_revoke(struct store *s, int64_t id, int64_t now, int *was_revoked)
{
	struct tokens_op op;
	int rc;

	if (was_revoked != NULL)
		*was_revoked = 0;
	if (s == NULL)
		return STORE_ERR;
	if (id <= 0)
		return STORE_NOTFOUND;
	memset(&op, 0, sizeof(op));
	op.id = id;
	op.now = now;
	if ((rc = store_write(s, tokens_w_revoke, &op)) != 0)
		return rc;
	if (!op.found)
		return STORE_NOTFOUND;
	if (was_revoked != NULL)
		*was_revoked = op.was_revoked;
	return 0;
}

static int
tokens_w_touch(sqlite3 *db, void *arg)
{
	struct tokens_op *op = arg;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, tokens_sql_touch, -1, &st, NULL)) != SQLITE_OK)
		return store_sqlite_rc(rc);
	rc = sqlite3_bind_int64(st, 1, op->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, op->now);
	return tokens_run(st, rc);
}

int
tokens_touch(struct store *s, int64_t id, int64_t now)
{
	struct tokens_op op;

	if (s == NULL || id <= 0)
		return STORE_ERR;
	memset(&op, 0, sizeof(op));
	op.id = id;
	op.now = now;
	return store_write(s, tokens_w_touch, &op);
}
