/*
 * dkim: DKIM verification (RFC 6376, RFC 8463 Ed25519) for emailed TLS reports (see dkim.h).
 *
 * One call verifies one whole message: the line ends are made CRLF (a copy only when the
 * message has bare LF), the header section is split into fields once, then every
 * DKIM-Signature field is checked without its key (tags, times, alignment, l=), and those
 * that could count are verified in order (body hash, key, header hash) until one passes.
 * Memory: the CRLF copy (when needed), one buffer of the header section's size for the data a
 * signature signs, the key records fetched (at most DKIM_SIGS_MAX, each at most
 * DKIM_KEY_TXT_MAX) and a fixed context of about 60 KiB (field table, parsed signatures, key
 * record). Nothing else grows with the message.
 *
 * Decisions worth knowing:
 * - Line ends: a LF not preceded by CR counts as CRLF (as an MTA would have sent it); a CR
 *   not followed by LF is data. A first line "From sender date" (mbox) is not part of the
 *   message and is skipped.
 * - The header section ends at the first empty line, or at the first line that is neither a
 *   field ("name:" with printable name bytes, blanks allowed before the colon, at most
 *   DKIM_FIELD_NAME_MAX bytes before the colon) nor a continuation of one: that line starts
 *   the body (as ingest/mime.c reads it). A message that ends inside its header section has
 *   an empty body; a last field without a line end is hashed as if it had one.
 * - Message-wide failures, set on every signature before anything else (dkim_msg_check()):
 *   a field that must be single (dkim_single) appears twice; the header section ended at a
 *   line that is a field but for its name's length; more than DKIM_HEADER_FIELDS_MAX header
 *   fields (which instance h= picks could not be known). DKIM-Signature fields beyond
 *   DKIM_SIGS_MAX are counted only.
 * - Tag lists are read strictly (RFC 6376 3.2): tag names and values are case sensitive, a
 *   tag twice makes the list invalid; the values of a=, c=, q= and the key's k=, h=, s=,
 *   t= are compared ignoring case. Unknown tags are ignored.
 * - Work is bounded to one key lookup timeout per message: first every signature is checked
 *   without its key: tags, From in h=, times (t= not in the future, x= not past, both with
 *   DKIM_CLOCK_SKEW), then whether it could count (l= absent, d= aligned); one that cannot
 *   fails there, unverified. The others (candidates) are verified in order: body hash, key,
 *   header signature; the first that passes ends the work (later candidates: FAIL "not
 *   examined: an earlier signature passed"). The body hash comes before the key so that a
 *   message whose body was altered is a permanent failure and needs no DNS lookup. Key
 *   answers are kept for the message (one lookup per selector and domain); after one
 *   DKIM_KEY_TEMP answer the later candidates are TEMPERROR "not examined after a failed key
 *   lookup", with no lookup.
 * - The b= value of the signature's own field is emptied from right after its '=' (any
 *   folding whitespace there included) to its last character; blanks after it stay. This
 *   is what dkimpy does; RFC 6376 3.7 asks for no more in the usual "b=..." last position.
 * - h= names the signature's own field would match (another DKIM-Signature) never select
 *   the field being verified: RFC 6376 3.5 forbids listing it, so it cannot be meant.
 * - l=: it must be a number, and then the signature fails without being verified: it could
 *   never count (RFC 8460 section 3), so the length it names is never used.
 * - Key records: v=DKIM1 if present and first; k= rsa (default) or ed25519 and matching a=;
 *   h= if present must list sha256; s= absent or listing email, tlsrpt or *; t=y noted,
 *   t=s requires the i= domain to be d= exactly; p= empty = revoked. RSA keys are DER
 *   SubjectPublicKeyInfo or, failing that, a bare PKCS#1 RSAPublicKey, 1024 to 4096 bits.
 * - Base64 (b=, bh=, p=): folding whitespace anywhere is skipped, '=' padding may be absent
 *   but nothing but padding may follow it.
 * - Reasons quote values from the message only after checking them (domains, selectors,
 *   numbers) or through dkim_clip() (printable ASCII, at most DKIM_CLIP bytes).
 */
#include "ingest/dkim.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ingest/norm.h"

#define DKIM_TAGS_MAX		64	/* tags in one signature or key record */
#define DKIM_H_NAMES_MAX	256	/* header field names in h= (over-signing included) */
#define DKIM_SIG_BYTES_MAX	512	/* b= decoded: a 4096-bit RSA signature */
#define DKIM_HASH_LEN		32	/* SHA-256 */
#define DKIM_ED25519_KEY_LEN	32
#define DKIM_ED25519_SIG_LEN	64
#define DKIM_RSA_BITS_MIN	1024
#define DKIM_RSA_BITS_MAX	4096
#define DKIM_DOMAIN_MAX		253	/* d=, the i= domain */
#define DKIM_LABEL_MAX		63
#define DKIM_SELECTOR_MAX	127	/* s= (struct dkim_sig.selector holds 127 bytes) */
#define DKIM_DIGITS_MAX		18	/* t=, x=: more digits are refused (int64 safe) */
#define DKIM_CLIP		48	/* bytes of a value quoted in a reason */
#define DKIM_ERR_MAX		128	/* the key callback's error sentence */
#define DKIM_HASH_CHUNK		4096	/* canonical body bytes batched for the hash */

/* Why a signature fails, from least to most telling (struct dkim_verdict.best). */
enum dkim_rank {
	DKIM_RANK_SKIPPED = 0,	/* not examined (another passed, or a key lookup failed) */
	DKIM_RANK_POLICY = 1,	/* cannot count: unaligned d=, l= */
	DKIM_RANK_SYNTAX = 2,	/* malformed, unacceptable, expired, message-wide failure */
	DKIM_RANK_KEY = 3,	/* no key, key lookup failed, bad or unsuitable key */
	DKIM_RANK_CRYPTO = 4,	/* body hash or signature wrong */
	DKIM_RANK_COUNTS = 5
};

enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };

struct dkim_span {
	const char *p;
	size_t n;
};

/* One header field in the (CRLF) message: name, colon, value, inner CRLFs. */
struct dkim_field {
	size_t off;		/* first byte of the name */
	size_t len;		/* up to the final CRLF, not included */
	size_t namelen;		/* the name without blanks before the colon */
	size_t colon;		/* offset of the colon from off */
};

/* A DKIM-Signature field and where it sits in the field table. */
struct dkim_sigrec {
	struct dkim_field f;
	size_t fidx;		/* index in the field table (valid unless the table overflowed) */
};

/* Collects the tags of one list (a signature or a key record). */
#define DKIM_KNOWN_MAX 16
struct dkim_tagset {
	const char *const *names;	/* the tags this list understands */
	size_t nnames;
	struct dkim_span val[DKIM_KNOWN_MAX];
	unsigned char have[DKIM_KNOWN_MAX];
	struct dkim_span seen[DKIM_TAGS_MAX];
	size_t nseen;
	struct dkim_span dup;		/* the first tag seen twice */
	int too_many;
};

/* Signature tags, in the order of dkim_sig_tags. */
enum { ST_V, ST_A, ST_B, ST_BH, ST_C, ST_D, ST_H, ST_I, ST_L, ST_Q, ST_S, ST_T, ST_X, ST_N };
static const char *const dkim_sig_tagnames[ST_N] = {
	"v", "a", "b", "bh", "c", "d", "h", "i", "l", "q", "s", "t", "x"
};

/* Key record tags. */
enum { KT_V, KT_K, KT_H, KT_P, KT_S, KT_T, KT_N };
static const char *const dkim_key_tagnames[KT_N] = { "v", "k", "h", "p", "s", "t" };

/* A signature's tags, checked and decoded. */
struct dkim_parsed {
	enum dkim_alg alg;
	int hrelaxed;		/* c= header canonicalisation */
	int brelaxed;		/* c= body canonicalisation */
	unsigned char bh[DKIM_HASH_LEN];
	unsigned char b[DKIM_SIG_BYTES_MAX];
	size_t blen;
	struct dkim_span bval;	/* the b= value inside the field, to empty it */
	struct dkim_span h;	/* the h= value */
	char idomain[DKIM_DOMAIN_MAX + 1]; /* the i= domain, lower case (d= when i= is absent) */
};

/* Growable-once output: the data a signature signs. */
struct dkim_out {
	char *p;
	size_t len;
	size_t cap;
	int err;		/* sticky: the cap was reached (cannot happen with a right cap) */
};

/* A body hash of one canonicalisation (shared by the signatures using it). */
struct dkim_bodycache {
	int done;
	unsigned char hash[DKIM_HASH_LEN];
};

/* A key lookup's answer, kept for the message. */
struct dkim_keyans {
	char selector[DKIM_SELECTOR_MAX + 1];
	char domain[DKIM_DOMAIN_MAX + 1];
	enum dkim_key_rc rc;
	char *txt;		/* the record (DKIM_KEY_OK), allocated */
	char err[DKIM_ERR_MAX];
};

/*
 * Header fields that must appear at most once (RFC 5322 3.6 and the ones a report is read
 * by): a second instance lets two readers disagree on which one was signed.
 */
static const char *const dkim_single[] = {
	"from", "sender", "subject", "date", "message-id", "to", "content-type",
	"content-transfer-encoding", "mime-version", "tls-report-domain", "tls-report-submitter"
};
#define DKIM_SINGLE_N (sizeof(dkim_single) / sizeof(dkim_single[0]))

struct dkim_ctx {
	const char *m;		/* the message with CRLF line ends */
	size_t mlen;
	char *copy;		/* m when it had to be rewritten */
	size_t hstart;		/* first byte of the header section (after an mbox line) */
	size_t hend;		/* end of the header section's last field line */
	size_t body;		/* first body byte */
	struct dkim_field field[DKIM_HEADER_FIELDS_MAX];
	unsigned char used[DKIM_HEADER_FIELDS_MAX];
	size_t nfields;
	int overflow;		/* more fields than DKIM_HEADER_FIELDS_MAX */
	struct dkim_sigrec sig[DKIM_SIGS_MAX];
	size_t nsigs;
	size_t nignored;
	int rank[DKIM_SIGS_MAX];
	struct dkim_parsed ps[DKIM_SIGS_MAX];
	unsigned char cand[DKIM_SIGS_MAX]; /* passed the checks without key: to be verified */
	size_t single_off[DKIM_SINGLE_N]; /* first instance of each dkim_single field, + 1 */
	size_t dup_off;		/* a dkim_single field seen twice: its first instance, + 1 */
	size_t dup_len;
	int longname;		/* the header section ended at a field with too long a name */
	char msgfail[160];	/* a failure of the whole message, "" when none */
	struct dkim_keyans ka[DKIM_SIGS_MAX];
	size_t nka;
	int keytemp;		/* a lookup answered DKIM_KEY_TEMP: no more lookups */
	struct dkim_out hd;	/* header data of the signature being checked */
	struct dkim_bodycache bc[2]; /* simple, relaxed */
	const char *const *aligned_to;
	size_t n_aligned;
	int64_t now;
	dkim_key_fn keys;
	void *arg;
	int nomem;
	char txt[DKIM_KEY_TXT_MAX];
	unsigned char keybytes[DKIM_KEY_TXT_MAX];
};

/* ---------------------------------------------------------------- small helpers */

static int
dkim_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
dkim_is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Blank, CR or LF: what folding whitespace is made of (already checked by the tag parser). */
static int
dkim_is_fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
dkim_is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
dkim_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 ftext: printable US-ASCII but the colon. */
static int
dkim_is_ftext(int c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* p[0..n) equals the NUL-terminated lower-case s, ignoring case. */
static int
dkim_eq_ci(const char *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || dkim_lower((unsigned char)p[i]) != s[i])
			return 0;
	}
	return s[i] == '\0';
}

static int
dkim_span_eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++) {
		if (dkim_lower((unsigned char)a[i]) != dkim_lower((unsigned char)b[i]))
			return 0;
	}
	return 1;
}

/* Removes folding whitespace at both ends of *s. */
static void
dkim_trim(struct dkim_span *s)
{
	while (s->n > 0 && dkim_is_fws((unsigned char)s->p[0])) {
		s->p++;
		s->n--;
	}
	while (s->n > 0 && dkim_is_fws((unsigned char)s->p[s->n - 1]))
		s->n--;
}

/*
 * Next item of a colon-separated list p[0..n) from *pos, trimmed of folding whitespace.
 * Returns 0 with the item (possibly empty), or -1 when the list is used up.
 */
static int
dkim_list_next(const char *p, size_t n, size_t *pos, struct dkim_span *item)
{
	size_t i = *pos;

	if (i > n)
		return -1;
	item->p = p + i;
	while (i < n && p[i] != ':')
		i++;
	item->n = (size_t)(p + i - item->p);
	*pos = i + 1;
	dkim_trim(item);
	return 0;
}

/* 1 when the colon-separated list p[0..n) holds word (lower case), ignoring case. */
static int
dkim_list_has(const char *p, size_t n, const char *word)
{
	struct dkim_span it;
	size_t pos = 0;

	while (dkim_list_next(p, n, &pos, &it) == 0) {
		if (dkim_eq_ci(it.p, it.n, word))
			return 1;
	}
	return 0;
}

/*
 * Copies p[0..n) into dst for a reason: printable ASCII kept, other bytes as '?', folding
 * whitespace dropped, at most cap - 4 bytes then "..." when there was more. cap >= 4
 * (usually DKIM_CLIP + 4).
 */
static const char *
dkim_clip(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r' || c == '\n' || c == '\t')
			continue;
		if (o + 4 >= cap) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[o] = '\0';
	return dst;
}

/* Formats into dst; a sentence too long for dst is cut (the reasons are for people). */
static void
dkim_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
dkim_fmt(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		dst[0] = '\0';
	/* n >= cap: cut, NUL-terminated by vsnprintf; accepted for a one-line reason */
}

/* Sets a signature's failure (the first one set wins) with its status and rank. */
static void
dkim_sig_fail(struct dkim_ctx *c, struct dkim_sig *s, size_t k, enum dkim_status st, int rank,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
dkim_sig_fail(struct dkim_ctx *c, struct dkim_sig *s, size_t k, enum dkim_status st, int rank,
    const char *fmt, ...)
{
	va_list ap;

	if (s->reason[0] != '\0')
		return;
	s->status = st;
	c->rank[k] = rank;
	va_start(ap, fmt);
	if (vsnprintf(s->reason, sizeof(s->reason), fmt, ap) < 0)
		s->reason[0] = '\0';
	va_end(ap);
}

/* Decimal digits p[0..n) (at most DKIM_DIGITS_MAX) into *v. 0, or -1. */
static int
dkim_number(const char *p, size_t n, int64_t *v)
{
	size_t i;
	int64_t x = 0;

	if (n == 0 || n > DKIM_DIGITS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (!dkim_is_digit((unsigned char)p[i]))
			return -1;
		x = x * 10 + (p[i] - '0');
	}
	*v = x;
	return 0;
}

/* l=: digits, any number of them (the value is never used). 0, or -1. */
static int
dkim_length(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!dkim_is_digit((unsigned char)p[i]))
			return -1;
	}
	return 0;
}

/*
 * Decodes the base64 p[0..n) into out (at most cap bytes), skipping folding whitespace.
 * Returns the byte count, or -1 on a bad character, bad padding or more than cap bytes.
 */
static long
dkim_b64(const char *p, size_t n, unsigned char *out, size_t cap)
{
	size_t i, o = 0, chars = 0, pad = 0;
	uint32_t acc = 0;
	int v;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (dkim_is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = norm_b64_digit(c)) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		chars++;
		if (chars % 4 == 0) {
			if (cap - o < 3)
				return -1;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	switch (chars % 4) {
	case 0:
		if (pad != 0)
			return -1;
		break;
	case 1:
		return -1;
	case 2:
		if ((pad != 0 && pad != 2) || cap - o < 1)
			return -1;
		out[o++] = (unsigned char)(acc >> 4);
		break;
	case 3:
		if (pad > 1 || cap - o < 2)
			return -1;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
		break;
	}
	return (long)o;
}

/*
 * 1 when p[0..n) is a domain name: labels of letters, digits, '-' and '_' (1 to 63 bytes,
 * no '-' at either end), at least min_labels of them, at most DKIM_DOMAIN_MAX bytes.
 */
static int
dkim_is_domain(const char *p, size_t n, size_t maxlen, int min_labels)
{
	size_t i, lab = 0;
	int labels = 1;

	if (n == 0 || n > maxlen)
		return 0;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '.') {
			if (lab == 0 || p[i - 1] == '-')
				return 0;
			labels++;
			lab = 0;
			continue;
		}
		if (!dkim_is_alpha(c) && !dkim_is_digit(c) && c != '-' && c != '_')
			return 0;
		if (c == '-' && lab == 0)
			return 0;
		if (++lab > DKIM_LABEL_MAX)
			return 0;
	}
	if (lab == 0 || p[n - 1] == '-')
		return 0;
	return labels >= min_labels;
}

static void
dkim_copy_lower(char *dst, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (char)dkim_lower((unsigned char)p[i]);
	dst[n] = '\0';
}

/* ---------------------------------------------------------------- tag lists */

/*
 * Skips folding whitespace at s[*pos]: blanks, and CRLF when a blank follows it. -1 on a CR
 * or LF that is not part of such a fold.
 */
static int
dkim_skip_fws(const char *s, size_t len, size_t *pos)
{
	size_t i = *pos;

	for (;;) {
		if (i < len && dkim_is_wsp((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (i < len && (s[i] == '\r' || s[i] == '\n')) {
			if (s[i] == '\r' && len - i > 2 && s[i + 1] == '\n' &&
			    dkim_is_wsp((unsigned char)s[i + 2])) {
				i += 3;
				continue;
			}
			return -1;
		}
		break;
	}
	*pos = i;
	return 0;
}

int
dkim_tags_parse(const char *s, size_t len, dkim_tag_fn fn, void *arg)
{
	size_t pos = 0, t0, tn, v0, vend, ntags = 0;

	if (s == NULL)
		return -1;
	for (;;) {
		if (dkim_skip_fws(s, len, &pos) != 0)
			return -1;
		if (pos == len)
			return ntags > 0 ? 0 : -1; /* after a last ';', not an empty list */
		t0 = pos;
		if (!dkim_is_alpha((unsigned char)s[pos]))
			return -1;
		while (pos < len && (dkim_is_alpha((unsigned char)s[pos]) ||
		    dkim_is_digit((unsigned char)s[pos]) || s[pos] == '_'))
			pos++;
		tn = pos - t0;
		if (dkim_skip_fws(s, len, &pos) != 0 || pos == len || s[pos] != '=')
			return -1;
		pos++;
		if (dkim_skip_fws(s, len, &pos) != 0)
			return -1;
		v0 = vend = pos;
		while (pos < len && s[pos] != ';') {
			int c = (unsigned char)s[pos];

			if (c >= 0x21 && c <= 0x7e) {
				vend = ++pos;
				continue;
			}
			if (c == ' ' || c == '\t' || c == '\r') {
				if (dkim_skip_fws(s, len, &pos) != 0)
					return -1;
				continue;
			}
			return -1; /* a bare LF, a control or a non-ASCII byte */
		}
		if (fn != NULL && fn(arg, s + t0, tn, s + v0, vend - v0) != 0)
			return -1;
		ntags++;
		if (pos == len)
			return 0;
		pos++; /* ';' */
	}
}

static int
dkim_tagset_add(void *arg, const char *tag, size_t taglen, const char *val, size_t vallen)
{
	struct dkim_tagset *t = arg;
	size_t i;

	for (i = 0; i < t->nseen; i++) {
		if (t->seen[i].n == taglen && memcmp(t->seen[i].p, tag, taglen) == 0) {
			if (t->dup.p == NULL) {
				t->dup.p = tag;
				t->dup.n = taglen;
			}
			return 0;
		}
	}
	if (t->nseen == DKIM_TAGS_MAX) {
		t->too_many = 1;
		return 0;
	}
	t->seen[t->nseen].p = tag;
	t->seen[t->nseen].n = taglen;
	t->nseen++;
	for (i = 0; i < t->nnames; i++) {
		if (strlen(t->names[i]) == taglen && memcmp(t->names[i], tag, taglen) == 0) {
			t->have[i] = 1;
			t->val[i].p = val;
			t->val[i].n = vallen;
			break;
		}
	}
	return 0;
}

/* Parses a tag list into t. 0, or -1 on a syntax error. */
static int
dkim_tagset_parse(struct dkim_tagset *t, const char *const *names, size_t nnames, const char *s,
    size_t len)
{
	memset(t, 0, sizeof(*t));
	t->names = names;
	t->nnames = nnames;
	return dkim_tags_parse(s, len, dkim_tagset_add, t);
}

/* ---------------------------------------------------------------- the message */

/* Gives the message CRLF line ends (copying it only when it has a bare LF). 0, or -1 (OOM). */
static int
dkim_normalise(struct dkim_ctx *c, const char *m, size_t n)
{
	size_t bare = 0, i, o = 0;
	const char *lf;

	for (i = 0; i < n; i = (size_t)(lf - m) + 1) {
		if ((lf = memchr(m + i, '\n', n - i)) == NULL)
			break;
		if (lf == m || lf[-1] != '\r')
			bare++;
	}
	if (bare == 0) {
		c->m = m;
		c->mlen = n;
		return 0;
	}
	if (bare > SIZE_MAX - n || (c->copy = malloc(n + bare)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			c->copy[o++] = '\r';
		c->copy[o++] = m[i];
	}
	c->m = c->copy;
	c->mlen = o;
	return 0;
}

/*
 * End of the line starting at m[pos] whose LF is lf (NULL: the line ends the message n): the
 * CR before the LF is not part of it (after dkim_normalise() every LF has one).
 */
static size_t
dkim_line_end(const char *m, size_t pos, size_t n, const char *lf)
{
	if (lf == NULL)
		return n;
	if (lf > m + pos && lf[-1] == '\r')
		return (size_t)(lf - m) - 1;
	return (size_t)(lf - m);
}

/*
 * Files a finished field: in the table (or the overflow flag), as a signature, and notes a
 * second instance of a field that must be single.
 */
static void
dkim_field_close(struct dkim_ctx *c, const struct dkim_field *f)
{
	const char *name = c->m + f->off;
	size_t idx = c->nfields, i;

	if (c->nfields < DKIM_HEADER_FIELDS_MAX)
		c->field[c->nfields++] = *f;
	else
		c->overflow = 1;
	for (i = 0; i < DKIM_SINGLE_N; i++) {
		if (!dkim_eq_ci(name, f->namelen, dkim_single[i]))
			continue;
		if (c->single_off[i] == 0) {
			c->single_off[i] = f->off + 1;
		} else if (c->dup_off == 0) {
			c->dup_off = c->single_off[i];
			c->dup_len = f->namelen; /* the same name, maybe in another case */
		}
		break;
	}
	if (!dkim_eq_ci(name, f->namelen, "dkim-signature"))
		return;
	if (c->nsigs == DKIM_SIGS_MAX) {
		c->nignored++;
		return;
	}
	c->sig[c->nsigs].f = *f;
	c->sig[c->nsigs].fidx = idx;
	c->nsigs++;
}

/* Splits the header section into fields and finds where the body starts. */
static void
dkim_split(struct dkim_ctx *c)
{
	const char *m = c->m, *lf;
	size_t n = c->mlen, pos = 0, end, next, k, namelen;
	struct dkim_field f;
	int open = 0;

	/* An mbox "From " line (not the field "From :"). */
	if (n >= 5 && memcmp(m, "From ", 5) == 0) {
		for (k = 5; k < n && dkim_is_wsp((unsigned char)m[k]); k++)
			;
		if (k == n || m[k] != ':') {
			lf = memchr(m, '\n', n);
			pos = lf == NULL ? n : (size_t)(lf - m) + 1;
		}
	}
	c->hstart = c->hend = pos;
	memset(&f, 0, sizeof(f));
	while (pos < n) {
		lf = memchr(m + pos, '\n', n - pos);
		end = dkim_line_end(m, pos, n, lf);
		next = lf == NULL ? n : (size_t)(lf - m) + 1;
		if (end == pos)
			break; /* the empty line */
		if (dkim_is_wsp((unsigned char)m[pos])) {
			if (!open)
				break; /* a continuation of nothing: the body */
			f.len = end - f.off;
			c->hend = end;
			pos = next;
			continue;
		}
		for (k = pos; k < end && dkim_is_ftext((unsigned char)m[k]); k++)
			;
		namelen = k - pos;
		while (k < end && dkim_is_wsp((unsigned char)m[k]))
			k++;
		if (namelen == 0 || k == end || m[k] != ':')
			break; /* not a field: the body starts here */
		if (k - pos > DKIM_FIELD_NAME_MAX) {
			c->longname = 1; /* not a field either, but one to other readers */
			break;
		}
		if (open)
			dkim_field_close(c, &f);
		f.off = pos;
		f.namelen = namelen;
		f.colon = k - pos;
		f.len = end - pos;
		open = 1;
		c->hend = end;
		pos = next;
	}
	if (open)
		dkim_field_close(c, &f);
	if (pos < n && pos + 2 <= n && m[pos] == '\r' && m[pos + 1] == '\n')
		pos += 2; /* the empty line is no part of the body */
	c->body = pos;
}

/* ---------------------------------------------------------------- canonicalisation */

static void
dkim_put(struct dkim_out *o, const void *p, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = 1;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void
dkim_putc(struct dkim_out *o, int ch)
{
	char b = (char)ch;

	dkim_put(o, &b, 1);
}

/*
 * Appends the field f (text: name, colon, value) canonicalised, leaving out the bytes
 * [skip0, skip1) of it (the b= value of a signature being verified; 0, 0: none), ending it
 * with CRLF when crlf.
 */
static void
dkim_canon_field(struct dkim_out *o, const char *t, const struct dkim_field *f, int relaxed,
    size_t skip0, size_t skip1, int crlf)
{
	size_t i;
	int sp = 0, started = 0;

	if (!relaxed) {
		dkim_put(o, t, skip0 < skip1 ? skip0 : f->len);
		if (skip0 < skip1)
			dkim_put(o, t + skip1, f->len - skip1);
		if (crlf)
			dkim_put(o, "\r\n", 2);
		return;
	}
	for (i = 0; i < f->namelen; i++)
		dkim_putc(o, dkim_lower((unsigned char)t[i]));
	dkim_putc(o, ':');
	for (i = f->colon + 1; i < f->len; i++) {
		int ch = (unsigned char)t[i];

		if (i >= skip0 && i < skip1)
			continue;
		if (ch == '\r' && i + 1 < f->len && t[i + 1] == '\n') {
			i++; /* unfold */
			continue;
		}
		if (dkim_is_wsp(ch)) {
			sp = 1;
			continue;
		}
		if (sp && started)
			dkim_putc(o, ' ');
		sp = 0;
		started = 1;
		dkim_putc(o, ch);
	}
	if (crlf)
		dkim_put(o, "\r\n", 2);
}

/* Canonical body bytes on their way into the hash. */
struct dkim_bodyh {
	EVP_MD_CTX *md;
	uint64_t total;		/* canonical bytes produced */
	size_t bn;
	int err;
	unsigned char b[DKIM_HASH_CHUNK];
};

static void
dkim_bh_flush(struct dkim_bodyh *h)
{
	if (h->bn > 0 && EVP_DigestUpdate(h->md, h->b, h->bn) != 1)
		h->err = 1;
	h->bn = 0;
}

static void
dkim_bh_put(struct dkim_bodyh *h, const char *p, size_t n)
{
	h->total += n;
	while (n > 0) {
		size_t k = sizeof(h->b) - h->bn;

		if (k > n)
			k = n;
		memcpy(h->b + h->bn, p, k);
		h->bn += k;
		p += k;
		n -= k;
		if (h->bn == sizeof(h->b))
			dkim_bh_flush(h);
	}
}

static void
dkim_bh_crlfs(struct dkim_bodyh *h, uint64_t *pending)
{
	for (; *pending > 0; (*pending)--)
		dkim_bh_put(h, "\r\n", 2);
}

/*
 * Hashes the body b[0..n) (CRLF line ends) canonicalised (RFC 6376 3.4.3, 3.4.4).
 * 0, -1 (OpenSSL), -2 (OOM).
 */
static int
dkim_body_hash(const char *b, size_t n, int relaxed, unsigned char hash[DKIM_HASH_LEN])
{
	struct dkim_bodyh *h;
	uint64_t pending = 0;	/* empty lines held back: only kept if content follows */
	size_t pos = 0, end, next, i, run;
	const char *lf;
	unsigned int hl = 0;
	int rc = -2;

	if ((h = calloc(1, sizeof(*h))) == NULL || (h->md = EVP_MD_CTX_new()) == NULL)
		goto out;
	rc = -1;
	if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
		goto out;
	while (pos < n) {
		lf = memchr(b + pos, '\n', n - pos);
		end = dkim_line_end(b, pos, n, lf);
		next = lf == NULL ? n : (size_t)(lf - b) + 1;
		if (!relaxed) {
			if (end == pos) {
				pending++;
			} else {
				dkim_bh_crlfs(h, &pending);
				dkim_bh_put(h, b + pos, end - pos);
				dkim_bh_put(h, "\r\n", 2);
			}
			pos = next;
			continue;
		}
		/* relaxed: blank runs become one SP, blanks at the end go */
		{
			int sp = 0, content = 0;

			for (i = pos; i < end; i += run) {
				if (dkim_is_wsp((unsigned char)b[i])) {
					sp = 1;
					run = 1;
					continue;
				}
				for (run = 1; i + run < end && !dkim_is_wsp((unsigned char)b[i + run]);
				    run++)
					;
				if (!content)
					dkim_bh_crlfs(h, &pending);
				if (sp)
					dkim_bh_put(h, " ", 1);
				sp = 0;
				content = 1;
				dkim_bh_put(h, b + i, run);
			}
			if (content)
				dkim_bh_put(h, "\r\n", 2);
			else
				pending++;
		}
		pos = next;
	}
	if (!relaxed && h->total == 0)
		dkim_bh_put(h, "\r\n", 2); /* simple: an empty body is one CRLF */
	dkim_bh_flush(h);
	if (h->err || EVP_DigestFinal_ex(h->md, hash, &hl) != 1 || hl != DKIM_HASH_LEN)
		goto out;
	rc = 0;
out:
	if (h != NULL)
		EVP_MD_CTX_free(h->md);
	free(h);
	return rc;
}

/* ---------------------------------------------------------------- one signature */


/* 1 when the domain a[0..an) is b[0..bn) or a subdomain of it, ignoring case. */
static int
dkim_within(const char *a, size_t an, const char *b, size_t bn)
{
	if (an == bn)
		return dkim_span_eq_ci(a, an, b, bn);
	return bn > 0 && an > bn && a[an - bn - 1] == '.' &&
	    dkim_span_eq_ci(a + an - bn, bn, b, bn);
}

/* 1 when h= is a list of field names holding From; 0 without From; -1 malformed. */
static int
dkim_h_check(const struct dkim_span *h, size_t *count)
{
	struct dkim_span it;
	size_t pos = 0, i;
	int from = 0;

	*count = 0;
	while (dkim_list_next(h->p, h->n, &pos, &it) == 0) {
		if (it.n == 0 || ++*count > DKIM_H_NAMES_MAX)
			return -1;
		for (i = 0; i < it.n; i++) {
			if (!dkim_is_ftext((unsigned char)it.p[i]))
				return -1;
		}
		if (dkim_eq_ci(it.p, it.n, "from"))
			from = 1;
	}
	return from;
}

/* c=: "simple" or "relaxed", optionally "/simple" or "/relaxed". 0, or -1. */
static int
dkim_canon_parse(const struct dkim_span *v, int *hrelaxed, int *brelaxed)
{
	const char *slash = memchr(v->p, '/', v->n);
	size_t hn = slash == NULL ? v->n : (size_t)(slash - v->p);

	if (dkim_eq_ci(v->p, hn, "relaxed"))
		*hrelaxed = 1;
	else if (!dkim_eq_ci(v->p, hn, "simple"))
		return -1;
	*brelaxed = 0;
	if (slash == NULL)
		return 0;
	if (dkim_eq_ci(slash + 1, v->n - hn - 1, "relaxed"))
		*brelaxed = 1;
	else if (!dkim_eq_ci(slash + 1, v->n - hn - 1, "simple"))
		return -1;
	return 0;
}

#define DKIM_SIG_SYNTAX(...) \
	do { \
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_SYNTAX, __VA_ARGS__); \
		return -1; \
	} while (0)

/*
 * Reads and checks the tags of signature k into ps (and the domain, selector, algorithm,
 * has_l and aligned of s). 0, or -1 with the failure set.
 */
static int
dkim_sig_tags(struct dkim_ctx *c, size_t k, struct dkim_sig *s, struct dkim_parsed *ps)
{
	const struct dkim_field *f = &c->sig[k].f;
	const char *t = c->m + f->off, *at;
	struct dkim_tagset ts;
	const struct dkim_span *v = ts.val;
	char q[DKIM_CLIP + 4];
	int64_t tv = 0, xv = 0;
	size_t i, nh;
	long bl;
	int from;

	if (dkim_tagset_parse(&ts, dkim_sig_tagnames, ST_N, t + f->colon + 1, f->len - f->colon - 1) != 0)
		DKIM_SIG_SYNTAX("malformed signature: bad tag list");

	/* What names the signature in reasons and verdicts comes first. */
	if (ts.have[ST_D] && dkim_is_domain(v[ST_D].p, v[ST_D].n, DKIM_DOMAIN_MAX, 1)) {
		dkim_copy_lower(s->domain, v[ST_D].p, v[ST_D].n);
		for (i = 0; i < c->n_aligned && !s->aligned; i++)
			s->aligned = dkim_aligned(s->domain, c->aligned_to[i]);
	}
	if (ts.have[ST_S] && dkim_is_domain(v[ST_S].p, v[ST_S].n, DKIM_SELECTOR_MAX, 1))
		dkim_copy_lower(s->selector, v[ST_S].p, v[ST_S].n);
	if (ts.have[ST_A]) {
		dkim_clip(q, sizeof(q), v[ST_A].p, v[ST_A].n);
		q[sizeof(s->algorithm) - 1] = '\0';
		dkim_copy_lower(s->algorithm, q, strlen(q));
	}
	s->has_l = ts.have[ST_L];

	if (ts.dup.p != NULL)
		DKIM_SIG_SYNTAX("malformed signature: tag %s appears twice",
		    dkim_clip(q, sizeof(q), ts.dup.p, ts.dup.n));
	if (ts.too_many)
		DKIM_SIG_SYNTAX("malformed signature: more than %d tags", DKIM_TAGS_MAX);
	if (!ts.have[ST_V])
		DKIM_SIG_SYNTAX("malformed signature: v= missing");
	if (v[ST_V].n != 1 || v[ST_V].p[0] != '1')
		DKIM_SIG_SYNTAX("malformed signature: v=%s is not 1",
		    dkim_clip(q, sizeof(q), v[ST_V].p, v[ST_V].n));
	if (!ts.have[ST_A])
		DKIM_SIG_SYNTAX("malformed signature: a= missing");
	if (dkim_eq_ci(v[ST_A].p, v[ST_A].n, "rsa-sha256"))
		ps->alg = DKIM_ALG_RSA_SHA256;
	else if (dkim_eq_ci(v[ST_A].p, v[ST_A].n, "ed25519-sha256"))
		ps->alg = DKIM_ALG_ED25519_SHA256;
	else if (dkim_eq_ci(v[ST_A].p, v[ST_A].n, "rsa-sha1"))
		DKIM_SIG_SYNTAX("rsa-sha1 is not acceptable");
	else
		DKIM_SIG_SYNTAX("unsupported algorithm a=%s",
		    dkim_clip(q, sizeof(q), v[ST_A].p, v[ST_A].n));
	if (!ts.have[ST_D])
		DKIM_SIG_SYNTAX("malformed signature: d= missing");
	if (s->domain[0] == '\0')
		DKIM_SIG_SYNTAX("malformed signature: d=%s is not a domain name",
		    dkim_clip(q, sizeof(q), v[ST_D].p, v[ST_D].n));
	if (!ts.have[ST_S])
		DKIM_SIG_SYNTAX("malformed signature: s= missing");
	if (s->selector[0] == '\0')
		DKIM_SIG_SYNTAX("malformed signature: s=%s is not a selector",
		    dkim_clip(q, sizeof(q), v[ST_S].p, v[ST_S].n));
	if (!ts.have[ST_BH])
		DKIM_SIG_SYNTAX("malformed signature: bh= missing");
	if (dkim_b64(v[ST_BH].p, v[ST_BH].n, ps->bh, sizeof(ps->bh)) != DKIM_HASH_LEN)
		DKIM_SIG_SYNTAX("malformed signature: bh= is not a base64 SHA-256 hash");
	if (!ts.have[ST_B])
		DKIM_SIG_SYNTAX("malformed signature: b= missing");
	if ((bl = dkim_b64(v[ST_B].p, v[ST_B].n, ps->b, sizeof(ps->b))) < 0)
		DKIM_SIG_SYNTAX("malformed signature: b= is not base64 or too long");
	if (bl == 0)
		DKIM_SIG_SYNTAX("malformed signature: b= is empty");
	ps->blen = (size_t)bl;
	ps->bval = v[ST_B];
	if (ts.have[ST_C] && dkim_canon_parse(&v[ST_C], &ps->hrelaxed, &ps->brelaxed) != 0)
		DKIM_SIG_SYNTAX("malformed signature: c=%s",
		    dkim_clip(q, sizeof(q), v[ST_C].p, v[ST_C].n));
	if (!ts.have[ST_H])
		DKIM_SIG_SYNTAX("malformed signature: h= missing");
	if ((from = dkim_h_check(&v[ST_H], &nh)) < 0)
		DKIM_SIG_SYNTAX(nh > DKIM_H_NAMES_MAX ?
		    "malformed signature: h= lists too many fields" :
		    "malformed signature: h= is not a list of field names");
	if (from == 0)
		DKIM_SIG_SYNTAX("From is not signed");
	ps->h = v[ST_H];
	if (ts.have[ST_I]) {
		for (at = NULL, i = 0; i < v[ST_I].n; i++) {
			if (v[ST_I].p[i] == '@')
				at = v[ST_I].p + i;
		}
		if (at == NULL)
			DKIM_SIG_SYNTAX("malformed signature: i= has no @");
		i = (size_t)(v[ST_I].p + v[ST_I].n - (at + 1));
		if (!dkim_is_domain(at + 1, i, DKIM_DOMAIN_MAX, 1))
			DKIM_SIG_SYNTAX("malformed signature: i=%s has no domain name",
			    dkim_clip(q, sizeof(q), v[ST_I].p, v[ST_I].n));
		if (!dkim_within(at + 1, i, s->domain, strlen(s->domain)))
			DKIM_SIG_SYNTAX("malformed signature: i=%s is not within d=",
			    dkim_clip(q, sizeof(q), v[ST_I].p, v[ST_I].n));
		dkim_copy_lower(ps->idomain, at + 1, i);
	} else {
		memcpy(ps->idomain, s->domain, strlen(s->domain) + 1);
	}
	if (ts.have[ST_L] && dkim_length(v[ST_L].p, v[ST_L].n) != 0)
		DKIM_SIG_SYNTAX("malformed signature: l= is not a number");
	if (ts.have[ST_Q] && !dkim_list_has(v[ST_Q].p, v[ST_Q].n, "dns/txt"))
		DKIM_SIG_SYNTAX("unsupported query method q=%s",
		    dkim_clip(q, sizeof(q), v[ST_Q].p, v[ST_Q].n));
	if (ts.have[ST_T] && dkim_number(v[ST_T].p, v[ST_T].n, &tv) != 0)
		DKIM_SIG_SYNTAX("malformed signature: t= is not a number");
	if (ts.have[ST_X] && dkim_number(v[ST_X].p, v[ST_X].n, &xv) != 0)
		DKIM_SIG_SYNTAX("malformed signature: x= is not a number");
	if (ts.have[ST_T] && ts.have[ST_X] && xv < tv)
		DKIM_SIG_SYNTAX("malformed signature: x= is before t=");
	if (ts.have[ST_T] && tv - DKIM_CLOCK_SKEW > c->now)
		DKIM_SIG_SYNTAX("signature timestamp in the future (t=%lld)", (long long)tv);
	if (ts.have[ST_X] && c->now > xv + DKIM_CLOCK_SKEW)
		DKIM_SIG_SYNTAX("signature expired (x=%lld)", (long long)xv);
	return 0;
}

/* Checks the body hash of signature k. 0, or -1 with the failure set (or c->nomem). */
static int
dkim_sig_body(struct dkim_ctx *c, size_t k, struct dkim_sig *s, const struct dkim_parsed *ps)
{
	struct dkim_bodycache *bc = &c->bc[ps->brelaxed ? 1 : 0];
	int rc;

	if (!bc->done) {
		rc = dkim_body_hash(c->m + c->body, c->mlen - c->body, ps->brelaxed, bc->hash);
		if (rc == -2) {
			c->nomem = 1;
			return -1;
		}
		if (rc != 0) {
			dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_SYNTAX,
			    "could not hash the body");
			return -1;
		}
		bc->done = 1;
	}
	if (CRYPTO_memcmp(bc->hash, ps->bh, sizeof(bc->hash)) != 0) {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_CRYPTO, "body hash mismatch");
		return -1;
	}
	return 0;
}

#define DKIM_KEY_FAIL(...) \
	do { \
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_KEY, __VA_ARGS__); \
		goto out; \
	} while (0)

/* RSA public key in DER: SubjectPublicKeyInfo, else a bare PKCS#1 RSAPublicKey. */
static EVP_PKEY *
dkim_rsa_key(const unsigned char *der, size_t n)
{
	const unsigned char *p = der;
	EVP_PKEY *pk;

	if (n > LONG_MAX)
		return NULL;
	pk = d2i_PUBKEY(NULL, &p, (long)n);
	if (pk != NULL && (p != der + n || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	if (pk == NULL) {
		p = der;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)n);
		if (pk != NULL && p != der + n) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	ERR_clear_error();
	return pk;
}

/*
 * The key record of s into c->txt (NUL-terminated), the error sentence into err: the answer
 * kept for the same selector and domain, else the callback's (then kept, unless it is
 * DKIM_KEY_TEMP: no lookup follows one). Sets c->nomem when an answer cannot be kept.
 */
static enum dkim_key_rc
dkim_key_fetch(struct dkim_ctx *c, const struct dkim_sig *s, char *err, size_t errlen)
{
	struct dkim_keyans *ka;
	enum dkim_key_rc krc;
	size_t i, n;

	err[0] = '\0';
	c->txt[0] = '\0';
	for (i = 0; i < c->nka; i++) {
		ka = &c->ka[i];
		if (strcmp(ka->selector, s->selector) != 0 || strcmp(ka->domain, s->domain) != 0)
			continue;
		if (ka->txt != NULL)
			memcpy(c->txt, ka->txt, strlen(ka->txt) + 1);
		dkim_fmt(err, errlen, "%s", ka->err);
		return ka->rc;
	}
	if (c->keys == NULL) {
		krc = DKIM_KEY_NONE;
	} else {
		krc = c->keys(c->arg, s->selector, s->domain, c->txt, sizeof(c->txt), err, errlen);
		if (krc != DKIM_KEY_OK && krc != DKIM_KEY_TEMP)
			krc = DKIM_KEY_NONE;
	}
	err[errlen - 1] = '\0';
	c->txt[sizeof(c->txt) - 1] = '\0';
	if (krc == DKIM_KEY_TEMP) {
		c->keytemp = 1;
		return krc;
	}
	if (c->nka == DKIM_SIGS_MAX)
		return krc; /* cannot happen: one lookup per signature at most */
	ka = &c->ka[c->nka];
	memcpy(ka->selector, s->selector, strlen(s->selector) + 1);
	memcpy(ka->domain, s->domain, strlen(s->domain) + 1);
	ka->rc = krc;
	n = strlen(err);
	if (n >= sizeof(ka->err))
		n = sizeof(ka->err) - 1;
	memcpy(ka->err, err, n);
	ka->err[n] = '\0';
	ka->txt = NULL;
	if (krc == DKIM_KEY_OK) {
		n = strlen(c->txt);
		if ((ka->txt = malloc(n + 1)) == NULL) {
			c->nomem = 1;
			return krc;
		}
		memcpy(ka->txt, c->txt, n + 1);
	}
	c->nka++;
	return krc;
}

/*
 * Fetches and checks the key of signature k into *pk. 0, or -1 with the failure set (or
 * c->nomem).
 */
static int
dkim_sig_key(struct dkim_ctx *c, size_t k, struct dkim_sig *s, const struct dkim_parsed *ps,
    EVP_PKEY **pk)
{
	struct dkim_tagset ts;
	const struct dkim_span *v = ts.val;
	char err[DKIM_ERR_MAX], q[DKIM_CLIP + 4], q2[DKIM_CLIP + 4], qe[DKIM_ERR_MAX + 4];
	enum dkim_key_rc krc;
	int ed = 0, bits;
	long pl;

	*pk = NULL;
	krc = dkim_key_fetch(c, s, err, sizeof(err));
	if (c->nomem)
		return -1;
	if (krc == DKIM_KEY_TEMP) {
		/* the key source's own sentence (it names the record and the cause), whole */
		dkim_sig_fail(c, s, k, DKIM_TEMPERROR, DKIM_RANK_KEY, "key lookup failed: %s",
		    err[0] != '\0' ? dkim_clip(qe, sizeof(qe), err, strlen(err)) :
		    "temporary failure");
		return -1;
	}
	if (krc != DKIM_KEY_OK)
		DKIM_KEY_FAIL("no key for %s._domainkey.%s", s->selector, s->domain);
	if (dkim_tagset_parse(&ts, dkim_key_tagnames, KT_N, c->txt, strlen(c->txt)) != 0)
		DKIM_KEY_FAIL("malformed key record");
	if (ts.dup.p != NULL)
		DKIM_KEY_FAIL("malformed key record: tag %s appears twice",
		    dkim_clip(q, sizeof(q), ts.dup.p, ts.dup.n));
	if (ts.have[KT_V] && (ts.seen[0].n != 1 || ts.seen[0].p[0] != 'v'))
		DKIM_KEY_FAIL("malformed key record: v= is not first");
	if (ts.have[KT_V] && (v[KT_V].n != 5 || memcmp(v[KT_V].p, "DKIM1", 5) != 0))
		DKIM_KEY_FAIL("key record v=%s is not DKIM1",
		    dkim_clip(q, sizeof(q), v[KT_V].p, v[KT_V].n));
	if (ts.have[KT_K]) {
		if (dkim_eq_ci(v[KT_K].p, v[KT_K].n, "ed25519"))
			ed = 1;
		else if (!dkim_eq_ci(v[KT_K].p, v[KT_K].n, "rsa"))
			DKIM_KEY_FAIL("unsupported key type k=%s",
			    dkim_clip(q, sizeof(q), v[KT_K].p, v[KT_K].n));
	}
	if (ed != (ps->alg == DKIM_ALG_ED25519_SHA256))
		DKIM_KEY_FAIL("key type k=%s does not match a=%s", ed ? "ed25519" : "rsa",
		    s->algorithm);
	if (ts.have[KT_H] && !dkim_list_has(v[KT_H].p, v[KT_H].n, "sha256"))
		DKIM_KEY_FAIL("key does not allow sha256 (h=%s)",
		    dkim_clip(q, sizeof(q), v[KT_H].p, v[KT_H].n));
	if (ts.have[KT_S] && !dkim_list_has(v[KT_S].p, v[KT_S].n, "email") &&
	    !dkim_list_has(v[KT_S].p, v[KT_S].n, "tlsrpt") &&
	    !dkim_list_has(v[KT_S].p, v[KT_S].n, "*"))
		DKIM_KEY_FAIL("key not for email or tlsrpt (s=%s)",
		    dkim_clip(q, sizeof(q), v[KT_S].p, v[KT_S].n));
	if (ts.have[KT_T]) {
		s->key_testing = dkim_list_has(v[KT_T].p, v[KT_T].n, "y");
		if (dkim_list_has(v[KT_T].p, v[KT_T].n, "s") && strcmp(ps->idomain, s->domain) != 0)
			DKIM_KEY_FAIL("key is strict (t=s) but i= is in %s, not d=",
			    dkim_clip(q2, sizeof(q2), ps->idomain, strlen(ps->idomain)));
	}
	if (!ts.have[KT_P])
		DKIM_KEY_FAIL("malformed key record: p= missing");
	if (v[KT_P].n == 0)
		DKIM_KEY_FAIL("key revoked");
	if ((pl = dkim_b64(v[KT_P].p, v[KT_P].n, c->keybytes, sizeof(c->keybytes))) <= 0)
		DKIM_KEY_FAIL("malformed key record: p= is not base64");
	if (ed) {
		if (pl != DKIM_ED25519_KEY_LEN)
			DKIM_KEY_FAIL("ed25519 key of %ld bytes, not 32", pl);
		*pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, c->keybytes, (size_t)pl);
		ERR_clear_error();
		if (*pk == NULL)
			DKIM_KEY_FAIL("ed25519 key is not usable");
		return 0;
	}
	if ((*pk = dkim_rsa_key(c->keybytes, (size_t)pl)) == NULL)
		DKIM_KEY_FAIL("key p= is not an RSA public key");
	bits = EVP_PKEY_get_bits(*pk);
	if (bits < DKIM_RSA_BITS_MIN || bits > DKIM_RSA_BITS_MAX)
		DKIM_KEY_FAIL("RSA key of %d bits is not acceptable", bits);
	return 0;
out:
	EVP_PKEY_free(*pk);
	*pk = NULL;
	return -1;
}

/*
 * Builds the data signature k signs (RFC 6376 3.7, 5.4.2) in c->hd and checks b= over it
 * with pk. 0, or -1 with the failure set (or c->nomem).
 */
static int
dkim_sig_header(struct dkim_ctx *c, size_t k, struct dkim_sig *s, const struct dkim_parsed *ps,
    EVP_PKEY *pk)
{
	const struct dkim_sigrec *sr = &c->sig[k];
	const char *t = c->m + sr->f.off, *eq;
	struct dkim_span it;
	EVP_MD_CTX *mctx = NULL;
	unsigned char hash[DKIM_HASH_LEN];
	unsigned int hl = 0;
	size_t pos = 0, j, skip0, skip1;
	int ok = 0;

	if (c->hd.p == NULL) {
		c->hd.cap = c->hend - c->hstart + 4;
		if ((c->hd.p = malloc(c->hd.cap)) == NULL) {
			c->nomem = 1;
			return -1;
		}
	}
	c->hd.len = 0;
	c->hd.err = 0;
	memset(c->used, 0, c->nfields);
	c->used[sr->fidx] = 1;
	while (dkim_list_next(ps->h.p, ps->h.n, &pos, &it) == 0) {
		for (j = c->nfields; j-- > 0;) {
			const struct dkim_field *f = &c->field[j];

			if (!c->used[j] && dkim_span_eq_ci(c->m + f->off, f->namelen, it.p, it.n)) {
				c->used[j] = 1;
				dkim_canon_field(&c->hd, c->m + f->off, f, ps->hrelaxed, 0, 0, 1);
				break;
			}
		}
	}
	/* The signature itself, its b= value emptied from right after the '='. */
	for (eq = ps->bval.p; eq > t && dkim_is_fws((unsigned char)eq[-1]); eq--)
		;
	skip0 = (size_t)(eq - t);
	skip1 = (size_t)(ps->bval.p + ps->bval.n - t);
	dkim_canon_field(&c->hd, t, &sr->f, ps->hrelaxed, skip0, skip1, 0);
	if (c->hd.err) {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_SYNTAX, "could not build the signed data");
		return -1;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		c->nomem = 1;
		return -1;
	}
	if (ps->alg == DKIM_ALG_RSA_SHA256) {
		ok = EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
		    EVP_DigestVerifyUpdate(mctx, c->hd.p, c->hd.len) == 1 &&
		    EVP_DigestVerifyFinal(mctx, ps->b, ps->blen) == 1;
	} else {
		/* RFC 8463: Ed25519 (pure) over the SHA-256 hash of the data */
		ok = EVP_Digest(c->hd.p, c->hd.len, hash, &hl, EVP_sha256(), NULL) == 1 &&
		    hl == DKIM_HASH_LEN &&
		    EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pk) == 1 &&
		    EVP_DigestVerify(mctx, ps->b, ps->blen, hash, hl) == 1;
	}
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	if (!ok) {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_CRYPTO, "signature did not verify");
		return -1;
	}
	return 0;
}

/*
 * The failure of the whole message, if any, into c->msgfail: a field that must be single
 * appears twice, a field name too long, too many fields.
 */
static void
dkim_msg_check(struct dkim_ctx *c)
{
	char q[DKIM_CLIP + 4];

	if (c->dup_off != 0)
		dkim_fmt(c->msgfail, sizeof(c->msgfail), "header field %s appears twice: ambiguous",
		    dkim_clip(q, sizeof(q), c->m + c->dup_off - 1, c->dup_len));
	else if (c->longname)
		dkim_fmt(c->msgfail, sizeof(c->msgfail),
		    "malformed header section: field name longer than %d bytes",
		    DKIM_FIELD_NAME_MAX);
	else if (c->overflow)
		dkim_fmt(c->msgfail, sizeof(c->msgfail), "more than %d header fields",
		    DKIM_HEADER_FIELDS_MAX);
}

/*
 * Checks signature k without its key: the message, its tags, whether it could count. Marks
 * it a candidate (c->cand[k]) when it passes, else sets its failure.
 */
static void
dkim_sig_precheck(struct dkim_ctx *c, size_t k, struct dkim_sig *s)
{
	s->status = DKIM_FAIL;
	c->rank[k] = DKIM_RANK_SYNTAX;
	if (c->msgfail[0] != '\0') {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_SYNTAX, "%s", c->msgfail);
		(void)dkim_sig_tags(c, k, s, &c->ps[k]); /* for the names: d=, s=, a= */
		return;
	}
	if (dkim_sig_tags(c, k, s, &c->ps[k]) != 0)
		return;
	if (s->has_l) {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_POLICY,
		    "l= present: not valid for reports");
		return;
	}
	if (!s->aligned) {
		dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_POLICY,
		    "d=%s is not aligned with the report", s->domain);
		return;
	}
	c->cand[k] = 1;
}

/* Verifies candidate k into s: body hash, key, header signature. */
static void
dkim_sig_verify(struct dkim_ctx *c, size_t k, struct dkim_sig *s)
{
	const struct dkim_parsed *ps = &c->ps[k];
	EVP_PKEY *pk = NULL;

	if (dkim_sig_body(c, k, s, ps) != 0 || dkim_sig_key(c, k, s, ps, &pk) != 0 ||
	    dkim_sig_header(c, k, s, ps, pk) != 0)
		goto out;
	s->status = DKIM_PASS;
	s->counts = 1;
	c->rank[k] = DKIM_RANK_COUNTS;
out:
	EVP_PKEY_free(pk);
}

/* The message's verdict from its signatures. */
static void
dkim_assemble(const struct dkim_ctx *c, struct dkim_verdict *out)
{
	const struct dkim_sig *s;
	size_t k;
	int best = -1;

	for (k = 0; k < out->n_sigs && best < 0; k++) {
		if (out->sig[k].counts)
			best = (int)k;
	}
	if (best >= 0) {
		out->status = DKIM_PASS;
		out->best = best;
		out->reason[0] = '\0';
		return;
	}
	out->status = DKIM_FAIL;
	for (k = 0; k < out->n_sigs; k++) {
		if (out->sig[k].status == DKIM_TEMPERROR) {
			out->status = DKIM_TEMPERROR;
			best = (int)k; /* the lookup that failed: the ones after it were skipped */
			break;
		}
	}
	if (best < 0) {
		best = 0; /* the most telling failure, the first of equals */
		for (k = 1; k < out->n_sigs; k++) {
			if (c->rank[k] > c->rank[best])
				best = (int)k;
		}
	}
	out->best = best;
	s = &out->sig[best];
	if (s->domain[0] != '\0' || s->selector[0] != '\0')
		dkim_fmt(out->reason, sizeof(out->reason), "dkim: %s (d=%s s=%s)%s", s->reason,
		    s->domain, s->selector, out->n_ignored > 0 ? " (more signatures not examined)" :
		    "");
	else
		dkim_fmt(out->reason, sizeof(out->reason), "dkim: %s%s", s->reason,
		    out->n_ignored > 0 ? " (more signatures not examined)" : "");
}

/* Where c->m[pos] was in the message as given (m[0..n)), before bare LF became CRLF. */
static size_t
dkim_orig_offset(const struct dkim_ctx *c, const char *m, size_t n, size_t pos)
{
	size_t i, o = 0;

	if (c->copy == NULL)
		return pos;
	for (i = 0; i < n && o < pos; i++)
		o += m[i] == '\n' && (i == 0 || m[i - 1] != '\r') ? 2 : 1;
	return i;
}

/* ---------------------------------------------------------------- the API */

int
dkim_verify(const void *msg, size_t len, const char *const *aligned_to, size_t n_aligned,
    int64_t now, dkim_key_fn keys, void *arg, struct dkim_verdict *out)
{
	struct dkim_ctx *c;
	size_t k;
	int rc = -1, passed = 0;

	memset(out, 0, sizeof(*out));
	out->best = -1;
	ERR_clear_error();
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	c->aligned_to = aligned_to;
	c->n_aligned = aligned_to == NULL ? 0 : n_aligned;
	c->now = now;
	c->keys = keys;
	c->arg = arg;
	if (msg == NULL)
		len = 0;
	if (dkim_normalise(c, msg == NULL ? "" : msg, len) != 0)
		goto out;
	dkim_split(c);
	out->body_offset = dkim_orig_offset(c, msg == NULL ? "" : msg, len, c->body);
	out->n_ignored = c->nignored;
	out->n_sigs = c->nsigs;
	dkim_msg_check(c);
	for (k = 0; k < c->nsigs; k++)
		dkim_sig_precheck(c, k, &out->sig[k]);
	for (k = 0; k < c->nsigs; k++) {
		struct dkim_sig *s = &out->sig[k];

		if (!c->cand[k])
			continue;
		if (passed) {
			dkim_sig_fail(c, s, k, DKIM_FAIL, DKIM_RANK_SKIPPED,
			    "not examined: an earlier signature passed");
		} else if (c->keytemp) {
			dkim_sig_fail(c, s, k, DKIM_TEMPERROR, DKIM_RANK_SKIPPED,
			    "not examined after a failed key lookup");
		} else {
			dkim_sig_verify(c, k, s);
			if (c->nomem)
				goto out;
			passed = s->counts;
		}
	}
	if (c->nsigs == 0) {
		out->status = DKIM_NONE;
		dkim_fmt(out->reason, sizeof(out->reason), "dkim: no signature");
	} else {
		dkim_assemble(c, out);
	}
	rc = 0;
out:
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		out->best = -1;
		out->status = DKIM_TEMPERROR;
		dkim_fmt(out->reason, sizeof(out->reason), "dkim: out of memory");
	}
	if (c != NULL) {
		for (k = 0; k < c->nka; k++)
			free(c->ka[k].txt);
		free(c->copy);
		free(c->hd.p);
		free(c);
	}
	ERR_clear_error();
	return rc;
}

int
dkim_aligned(const char *d, const char *domain)
{
	size_t dn, n;

	if (d == NULL || domain == NULL)
		return 0;
	dn = strlen(d);
	n = strlen(domain);
	if (dn == 0 || d[0] == '.' || d[dn - 1] == '.' || memchr(d, '.', dn) == NULL)
		return 0;
	return dkim_within(domain, n, d, dn);
}

const char *
dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_NONE:
		return "none";
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_TEMPERROR:
		return "temperror";
	}
	return "unknown";
}
