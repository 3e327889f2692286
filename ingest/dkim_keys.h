/*
 * dkim_keys: where DKIM key records come from: a local key file first, then DNS TXT at
 * selector._domainkey.domain, with a cache that honours the TTLs.
 *
 * Key file (optional, for offline use and tests): one record per line,
 *     selector._domainkey.example.com  v=DKIM1; k=rsa; p=MIIB...
 * the name, blanks, then the TXT record text (as it would be after concatenating the TXT
 * strings; surrounding double quotes around the whole text, or around pieces as in a zone file,
 * are removed, with the zone file's \X and \DDD escapes inside them). '#' starts a comment
 * line; names are matched case-insensitively, a trailing dot ignored. A name in the file is
 * never looked up in DNS (the file overrides). A name that is not SELECTOR._domainkey.DOMAIN,
 * a name given twice, a text longer than DKIM_KEY_TXT_MAX - 1 bytes or a broken quote is an
 * error (FILE:LINE: reason) and the file is refused.
 *
 * DNS: the system resolver (res_nquery on a per-call resolver state, so it is thread safe), or
 * a given nameserver; a bounded timeout per query (DKIM_KEYS_TIMEOUT_DEFAULT seconds, one retry
 * within it); TXT strings of one record are concatenated, several TXT records at the name:
 * the first one that starts with "v=DKIM1" or, lacking that, the first one; CNAMEs inside the
 * answer are followed. NXDOMAIN / NODATA answers are cached as DKIM_KEY_NONE for
 * DKIM_KEYS_NEG_TTL seconds; positive answers for their TTL (the smallest along a CNAME
 * chain) clamped to [DKIM_KEYS_MIN_TTL, DKIM_KEYS_MAX_TTL]; temporary failures (timeout,
 * SERVFAIL, and REFUSED / FORMERR / NOTIMP, which do not say the record is absent) are not
 * cached. A truncated UDP answer is asked again over TCP within the same timeout. The cache
 * holds at most DKIM_KEYS_CACHE_MAX entries (the oldest go first).
 */
#ifndef TLSRPT_DKIM_KEYS_H
#define TLSRPT_DKIM_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/dkim.h"

#define DKIM_KEYS_TIMEOUT_DEFAULT 5
#define DKIM_KEYS_NEG_TTL 300
#define DKIM_KEYS_MIN_TTL 60
#define DKIM_KEYS_MAX_TTL 86400
#define DKIM_KEYS_CACHE_MAX 4096
#define DKIM_KEYS_FILE_MAX (4u << 20)   /* largest key file read */

struct dkim_keys_options {
	const char *key_file;    /* NULL or "": none */
	const char *resolver;    /* NULL or "": the system resolver (/etc/resolv.conf); else
	                            "IPv4[:port]" or "[IPv6][:port]" of one nameserver
	                            (numeric; port 1-65535, default 53) */
	unsigned timeout_s;      /* per lookup; 0 = DKIM_KEYS_TIMEOUT_DEFAULT; at most 60 (more is
	                            clamped); a lookup takes at most about timeout_s, + 1 s
	                            when a truncated answer is retried over TCP */
	int no_dns;              /* 1: only the key file (tests, offline); others are NONE */
};

struct dkim_keys;

/*
 * Loads the key file (if any) and sets up the resolver. NULL on failure with a sentence in err
 * naming file:line for a bad key file line or the bad resolver address.
 */
struct dkim_keys *dkim_keys_new(const struct dkim_keys_options *opt, char *err, size_t errlen);

/* Frees everything. Accepts NULL. */
void dkim_keys_free(struct dkim_keys *k);

/*
 * A dkim_key_fn (arg is the struct dkim_keys *): key file, then cache, then DNS. Thread safe.
 * A selector or domain that is not a host name (letters, digits, '-', '_' in dot-separated
 * labels of 1-63; upper case and one trailing dot allowed on the domain) is DKIM_KEY_NONE
 * ("bad selector ...", "bad domain ...") without any lookup; so is a record longer than cap-1.
 */
enum dkim_key_rc dkim_keys_lookup(void *arg, const char *selector, const char *domain,
    char *txt, size_t cap, char *err, size_t errlen);

/* The same with an explicit clock (for cache tests): now is the epoch used for TTLs. */
enum dkim_key_rc dkim_keys_lookup_at(struct dkim_keys *k, const char *selector,
    const char *domain, int64_t now, char *txt, size_t cap, char *err, size_t errlen);

/*
 * Lookups answered from the file, the cache, DNS (for metrics and tests; dns counts every
 * lookup sent to DNS, whatever came back). Thread safe.
 */
struct dkim_keys_counts {
	uint64_t file;
	uint64_t cache;
	uint64_t dns;
};
void dkim_keys_counts(struct dkim_keys *k, struct dkim_keys_counts *out);

#endif
