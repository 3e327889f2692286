/*
 * dkim: a DKIM verifier (RFC 6376, RFC 8463) for emailed TLS reports (RFC 8460 section 3).
 *
 * No I/O of its own: the message is given whole (it is already bounded by the transport's
 * message cap) and keys are fetched through a callback (ingest/dkim_keys.h serves DNS and a
 * key file). Thread safe: nothing is shared between calls.
 *
 *   algorithms      rsa-sha256 with 1024 to 4096 bit keys; ed25519-sha256 (RFC 8463);
 *                   rsa-sha1 is parsed and reported as unacceptable
 *   canonicalise    simple and relaxed, header and body (c=, default simple/simple)
 *   signature tags  v a b bh c d h i l q s t x; unknown tags ignored; a tag twice = invalid;
 *                   From must be in h=; x= expired beyond DKIM_CLOCK_SKEW; t= in the future
 *                   beyond it invalid; i= must be d= or a subdomain of it
 *   headers         h= picks instances from the bottom up (RFC 6376 5.4.2); a name listed
 *                   more often than present signs "absent" (over-signing)
 *   key record      v (DKIM1 if present, first), k (rsa or ed25519, must match a=), p (empty =
 *                   revoked), s (tlsrpt, email, * or absent are acceptable: RFC 8460 asks
 *                   reporters to publish s=tlsrpt), t (y = testing: noted, s = strict i=),
 *                   h (acceptable hashes)
 *   reports         a signature with l= never counts (RFC 8460); it is neither looked up nor
 *                   verified
 *   alignment       a signature counts only if its d= equals one of the report's domains or is
 *                   a parent of it (dkim_aligned()); an unaligned one is neither looked up nor
 *                   verified
 *   header section  it ends at the first empty line, or at the first line that is neither a
 *                   continuation nor a field: 1 to DKIM_FIELD_NAME_MAX bytes of name and blanks
 *                   (name bytes 33..126 but ':', then SP/HTAB only) before a ':'. That line is
 *                   the first body line. ingest/mime.c reads header sections by the same rule
 *                   with the same constant, so both agree on where the body starts
 *                   (dkim_verdict.body_offset lets the caller check it). When that line would
 *                   have been a field but for its length, every signature fails ("malformed
 *                   header section: field name longer than 76 bytes"): other readers may take
 *                   it for a field.
 *   ambiguity       when one of From, Sender, Subject, Date, Message-ID, To, Content-Type,
 *                   Content-Transfer-Encoding, MIME-Version, TLS-Report-Domain,
 *                   TLS-Report-Submitter appears more than once (names compared ignoring
 *                   case), every signature fails ("header field Content-Type appears twice:
 *                   ambiguous", the name as written in its first instance): two readers could
 *                   take different instances for the one that was signed.
 *
 * Cost bound: a message costs at most one key lookup that times out. Every signature is first
 * checked without its key (tags, From in h=, t= and x=, alignment, l=); those that could count
 * are then verified in order (body hash, key, header signature) and the first that passes
 * ends the work. A selector and domain are looked up at most once per message (a second
 * signature naming them reuses the answer), and after a lookup answers DKIM_KEY_TEMP no
 * further lookup is made for this message.
 * Up to DKIM_SIGS_MAX signatures are examined (later ones are ignored, the verdict says so);
 * one passing (so aligned, l=-free) signature is enough.
 */
#ifndef TLSRPT_DKIM_H
#define TLSRPT_DKIM_H

#include <stddef.h>
#include <stdint.h>

#define DKIM_SIGS_MAX 8           /* DKIM-Signature fields examined per message */
#define DKIM_CLOCK_SKEW 300       /* seconds of allowance for x= and t= */
#define DKIM_KEY_TXT_MAX 8192     /* longest key record text accepted */
#define DKIM_HEADER_FIELDS_MAX 1000 /* header fields of a message examined */
#define DKIM_FIELD_NAME_MAX 76    /* bytes before a field's ':' (name and blanks); a longer
                                     one makes the line a body line. RFC 5322 sets no limit,
                                     real names are far shorter. ingest/mime.c uses it too. */

enum dkim_status {
	DKIM_NONE = 0,   /* no DKIM-Signature header field at all */
	DKIM_PASS,       /* one signature verified, aligned, without l= */
	DKIM_FAIL,       /* signatures present, none passes (permanent: bad hash, bad sig, no key...) */
	DKIM_TEMPERROR   /* none passes and one could not be checked for a transient reason (key
	                    lookup timed out / SERVFAIL; the ones after it were not examined):
	                    worth retrying later */
};

/* What the key callback answers. */
enum dkim_key_rc {
	DKIM_KEY_OK = 0,      /* txt holds the key record text (TXT strings concatenated) */
	DKIM_KEY_NONE = -1,   /* no such record (NXDOMAIN, no TXT): permanent */
	DKIM_KEY_TEMP = -2    /* lookup failed for now (timeout, SERVFAIL) */
};

/*
 * Fetches the key record for selector._domainkey.domain (both lower case, no trailing dot).
 * Writes the record text NUL-terminated into txt (at most cap bytes with the NUL) and returns
 * DKIM_KEY_OK, or DKIM_KEY_NONE / DKIM_KEY_TEMP with a short sentence in err. Called from the
 * verifying thread.
 */
typedef enum dkim_key_rc (*dkim_key_fn)(void *arg, const char *selector, const char *domain,
    char *txt, size_t cap, char *err, size_t errlen);

/*
 * One signature's outcome. Strings NUL-terminated, "" when unknown. At most one signature of
 * a verdict has status PASS: verification stops there. Signatures that could count but were
 * not verified say why in reason: FAIL "not examined: an earlier signature passed" (those
 * after the passing one), TEMPERROR "not examined after a failed key lookup" (those after a
 * lookup that answered DKIM_KEY_TEMP).
 */
struct dkim_sig {
	enum dkim_status status;  /* PASS (verified, aligned, no l=: it counts), FAIL, TEMPERROR */
	int counts;               /* 1 exactly when status is PASS */
	int has_l;                /* l= present (then FAIL, not verified) */
	int aligned;              /* d= aligned with a report domain (if not: FAIL, not verified) */
	int key_testing;          /* key record t=y (known only when the key was fetched) */
	char domain[256];         /* d= (lower case) */
	char selector[128];       /* s= */
	char algorithm[32];       /* a= as given, lower case */
	char reason[200];         /* "" on PASS; otherwise why it does not count, e.g.
	                             "body hash mismatch", "signature expired (x=...)",
	                             "key revoked", "l= present: not valid for reports",
	                             "d=example.net is not aligned with the report",
	                             "header field From appears twice: ambiguous" */
};

struct dkim_verdict {
	enum dkim_status status;  /* the message's verdict */
	size_t n_sigs;            /* signatures examined (<= DKIM_SIGS_MAX) */
	size_t n_ignored;         /* DKIM-Signature fields beyond DKIM_SIGS_MAX */
	struct dkim_sig sig[DKIM_SIGS_MAX];
	int best;                 /* index in sig of the signature the verdict is about: the
	                             passing one on PASS, the one whose key lookup failed on
	                             TEMPERROR, else the most telling failure (a cryptographic
	                             failure, before a key problem, before a syntax error, before
	                             a signature that cannot count: unaligned or l=); -1 with
	                             DKIM_NONE */
	size_t body_offset;       /* where the body starts in msg as given (before any bare LF
	                             is read as CRLF; an mbox "From " line counted): the first
	                             byte after the empty line that ends the header section, or
	                             the first byte of the line that ended it by being neither a
	                             field nor a continuation (see "header section" above); len
	                             when there is no body. 0 when dkim_verify() returns -1 */
	char reason[240];         /* "" on PASS; else one line starting "dkim: ", e.g.
	                             "dkim: body hash mismatch (d=example.com s=sel)",
	                             "dkim: no signature" */
};

/*
 * Verifies the DKIM signatures of msg[0..len) (a whole RFC 5322 message, CRLF or bare LF line
 * ends: bare LF are treated as CRLF for hashing, as an MTA would have sent them). aligned_to
 * lists the report's domains (normalised lower-case A-labels; n_aligned may be 0, then no
 * signature is aligned). now is the current epoch (for x= and t=). keys/arg fetch key records
 * (at most one call per selector and domain, none after one answered DKIM_KEY_TEMP; keys may
 * be NULL: no key is found). Fills *out completely and returns 0; -1 only on OOM (out->status
 * DKIM_TEMPERROR, reason says so).
 */
int dkim_verify(const void *msg, size_t len, const char *const *aligned_to, size_t n_aligned,
    int64_t now, dkim_key_fn keys, void *arg, struct dkim_verdict *out);

/*
 * 1 when the signing domain d (lower case) equals domain or is a parent of it at a label
 * boundary ("example.com" for "mail.example.com"; never a bare single label such as "com"),
 * else 0.
 */
int dkim_aligned(const char *d, const char *domain);

/* "none", "pass", "fail", "temperror". */
const char *dkim_status_name(enum dkim_status s);

/*
 * Parses a tag=value list (RFC 6376 3.2) of len bytes: calls fn(arg, tag, taglen, value,
 * vallen) for each tag in order, with folding whitespace around tags and values removed
 * (inside values it is kept as given). Returns 0, or -1 on a syntax error (fn's non-zero
 * return also stops with -1). Exposed for the key parser and for fuzzing.
 */
typedef int (*dkim_tag_fn)(void *arg, const char *tag, size_t taglen, const char *val,
    size_t vallen);
int dkim_tags_parse(const char *s, size_t len, dkim_tag_fn fn, void *arg);

#endif
