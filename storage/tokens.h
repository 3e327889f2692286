/*
 * tokens: the bearer tokens of the read API and /metrics (schema/0003_tokens.sql).
 *
 * A token is "tlsrpt_" followed by the base64url text (no padding) of 32 random bytes from
 * OpenSSL's RAND_bytes. It is shown once, when made; the database keeps only its SHA-256.
 * A presented token is hashed and looked up by that hash; the hash found is compared again in
 * constant time. Token texts are never logged.
 *
 * Roles: TOKENS_READ sees the policy domains it was given (each with its subdomains), or every
 * domain when made with all_domains; TOKENS_ADMIN sees everything and may use the quarantine
 * endpoints. A revoked token stays listed, and is refused.
 *
 * Writes go through the store's single writer (store_write), reads through its reader pool
 * (store_reader_db). Every function is thread safe.
 */
#ifndef TLSRPT_TOKENS_H
#define TLSRPT_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

#define TOKENS_PREFIX       "tlsrpt_"
#define TOKENS_RANDOM_BYTES 32
#define TOKENS_TEXT_LEN     (7 + 43)   /* prefix + base64url of 32 bytes, without padding */
#define TOKENS_HASH_LEN     32
#define TOKENS_DOMAINS_MAX  256        /* policy domains one read token may hold */
#define TOKENS_DOMAIN_MAX   253        /* bytes of one domain name */
#define TOKENS_NAME_MAX     200        /* bytes of a token's note */
#define TOKENS_PRESENTED_MAX 256       /* longest text worth hashing: longer is never a token */

enum tokens_role { TOKENS_READ = 1, TOKENS_ADMIN = 2 };

/* A token as listed or looked up. Strings belong to the entry (tokens_entry_free). */
struct tokens_entry {
	int64_t id;
	char *name;                /* "" when none */
	enum tokens_role role;
	int all_domains;           /* read role: every domain */
	char **domains;            /* read role without all_domains: normalised domains */
	size_t n_domains;
	char *domains_json;        /* the same as a JSON array text ("[]" when none) */
	int64_t created_at;        /* epoch seconds */
	int64_t last_used_at;      /* epoch seconds, 0 when never */
	int64_t revoked_at;        /* epoch seconds, 0 when not revoked */
	unsigned char hash[TOKENS_HASH_LEN];
};

/* What `token create` asks for. Domains must already be normalised (ingest/norm.h). */
struct tokens_new {
	enum tokens_role role;
	const char *name;          /* may be NULL */
	int all_domains;           /* read role only */
	const char *const *domains; /* read role only: at least one unless all_domains */
	size_t n_domains;
};

/* "read" / "admin"; NULL for anything else. */
const char *tokens_role_name(enum tokens_role role);

/* Parses "read" / "admin". 0, or -1. */
int tokens_role_parse(const char *s, enum tokens_role *out);

/* SHA-256 of len bytes of token text into out. Never fails. */
void tokens_hash(const char *text, size_t len, unsigned char out[TOKENS_HASH_LEN]);

/* 1 when the two hashes are equal, else 0; takes the same time whatever the bytes. */
int tokens_hash_equal(const unsigned char a[TOKENS_HASH_LEN],
    const unsigned char b[TOKENS_HASH_LEN]);

/*
 * A new random token text into out (TOKENS_TEXT_LEN bytes and a NUL) and its hash. 0, or -1
 * when the random generator fails (out is then cleared).
 */
int tokens_generate(char out[TOKENS_TEXT_LEN + 1], unsigned char hash[TOKENS_HASH_LEN]);

/* Checks t (role, domains shape and count, name). 0, or -1 with why filled. */
int tokens_validate(const struct tokens_new *t, char *why, size_t whylen);

/*
 * Makes a token: checks t (role, domains shape and count, name length), draws a new random
 * token, stores its hash with now as created_at. On 0, text holds the token (show it once,
 * then clear it) and *id its row id. STORE_ERR for a bad t (why filled), STORE_TEMP when the
 * database cannot take the write now. Blocks until the commit.
 */
int tokens_create(struct store *s, const struct tokens_new *t, int64_t now,
    char text[TOKENS_TEXT_LEN + 1], int64_t *id, char *why, size_t whylen);

/*
 * Finds the token with this hash (revoked ones too: check revoked_at). 0 with *out (free
 * with tokens_entry_free), STORE_NOTFOUND, STORE_TEMP or STORE_ERR.
 */
int tokens_lookup(struct store *s, const unsigned char hash[TOKENS_HASH_LEN],
    struct tokens_entry **out);

/*
 * Calls fn for every token, oldest first, until fn returns non-zero (which is returned).
 * The entry is valid during the call only. 0, fn's value, STORE_TEMP or STORE_ERR.
 */
int tokens_list(struct store *s, int (*fn)(void *arg, const struct tokens_entry *e), void *arg);

/*
 * Revokes token id at now. 0 (also when it was revoked already: *was_revoked set to 1),
 * STORE_NOTFOUND, STORE_TEMP or STORE_ERR. was_revoked may be NULL. Blocks until the commit.
 */
int tokens_revoke(struct store *s, int64_t id, int64_t now, int *was_revoked);

/* Sets last_used_at of token id to now (never backwards). 0, STORE_TEMP or STORE_ERR. Blocks. */
int tokens_touch(struct store *s, int64_t id, int64_t now);

/* Accepts NULL. */
void tokens_entry_free(struct tokens_entry *e);

/* A JSON array text of the domains (caller frees), NULL on OOM or bad UTF-8. */
char *tokens_domains_json(const char *const *domains, size_t n);

#endif
