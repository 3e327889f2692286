/*
 * mime: finds the TLS report part of a whole message held in memory (see mime.h).
 *
 * Everything works on (offset, length) spans of the caller's message; nothing is copied except
 * the short strings that end up in struct mime_info and the decoded report itself. A header
 * field is kept as the raw span from after its colon to the end of its last continuation line,
 * so "unfolding" is simply skipping the CR and LF bytes inside that span.
 *
 * Decisions worth knowing (all lenient, none can read out of bounds):
 * - Lines end at LF; a CR right before the LF is dropped. A bare CR is data.
 * - A header section ends at the first empty line, or at the first line that is neither a
 *   header field ("name:") nor a continuation: that line is the first body line (as Python's
 *   email package does). A message with no header at all is therefore all body.
 * - The first occurrence of a header field wins (two Return-Path, two Content-Type...).
 * - Delimiter lines must be exactly "--boundary" or "--boundary--", then optional spaces or
 *   tabs. A multipart whose close delimiter never comes ends where its enclosing entity ends
 *   (for the top level: the end of the message) and sets multipart_unclosed.
 * - base64: whitespace anywhere is skipped, any line length is fine, a missing '=' padding is
 *   fine (a last group of 2 or 3 characters still yields its 1 or 2 bytes; a lone sextet is
 *   dropped). Decoding stops for good at the first '=' or at the first other character that
 *   is not base64 and not whitespace: a trailer such as "--" or a footer line with
 *   punctuation is left out instead of being decoded as garbage. (A trailer made only of
 *   base64 letters cannot be told apart from data; gz_inflate() then reports trailing bytes.)
 * - quoted-printable: "=XX" (either case) is a byte, "=" at the end of a line (trailing blanks
 *   allowed) is a soft line break, any other "=" is kept as is; trailing blanks of a line are
 *   dropped; hard line breaks are kept as they were (LF or CRLF).
 * - 7bit, 8bit, binary and unknown encodings are copied as they are.
 * - Parameter values: quoted strings (with \-escapes, may span a fold) or tokens ending at ';'
 *   or a blank. A missing ';' between parameters is tolerated. RFC 2231 forms name*=,
 *   name*0=, name*1*= ... are joined and their %XX decoded; the charset is not converted.
 * - Strings copied into struct mime_info: unfolded, blanks trimmed at both ends, control bytes
 *   turned into '?', tabs into spaces, and cut (never inside a UTF-8 sequence) to fit.
 * - Choice of the report part: see enum mime_rank. application/gzip, application/x-gzip and
 *   application/json count whatever their name; application/octet-stream and untyped parts
 *   only with a .json, .json.gz or .gz name. Only a message that is not multipart falls back
 *   to sniffing its (decoded) body. A chosen part that decodes to nothing is an error, not a
 *   reason to try the next candidate. message/rfc822 parts are not opened.
 * - Limits (MIME_HDR_*, MIME_DEPTH_MAX, MIME_PARTS_MAX, MIME_BOUNDARY_MAX) are errors, not
 *   silent truncation: a message that breaks them is not a report worth guessing at.
 * - On any failure out is left as it was on entry (its sticky error may now be set).
 */
#include "ingest/mime.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_HDR_MAX_BYTES	(1024 * 1024)	/* one header section */
#define MIME_HDR_MAX_LINES	1000		/* physical lines of one header section */
#define MIME_DEPTH_MAX		8		/* nested multiparts below the top level */
#define MIME_PARTS_MAX		64		/* entities in the whole message, top included */
#define MIME_BOUNDARY_MAX	200		/* RFC 2046 says 70; be generous, not unbounded */
#define MIME_SNIFF_BYTES	1024		/* decoded bytes looked at to sniff JSON or gzip */
#define MIME_PARAM_NAME_MAX	64
#define MIME_PARAM_RAW_MAX	1024		/* one RFC 2231 value before %XX decoding */
#define MIME_PARAM_SECTIONS_MAX	100		/* RFC 2231 name*0 .. name*99 */
#define MIME_STAGE_BYTES	4096		/* decoded bytes batched per buf_append() */

/* Rank of a part as the report; higher wins, the first of equal rank wins. */
enum mime_rank {
	MIME_RANK_NONE = 0,
	MIME_RANK_NAMED = 1,       /* application/octet-stream or no type, .json/.json.gz/.gz name */
	MIME_RANK_GENERIC = 2,     /* application/gzip, application/x-gzip, application/json */
	MIME_RANK_TLSRPT = 3,      /* application/tlsrpt */
	MIME_RANK_TLSRPT_JSON = 4, /* application/tlsrpt+json */
	MIME_RANK_TLSRPT_GZIP = 5  /* application/tlsrpt+gzip */
};

enum mime_cte { MIME_CTE_IDENTITY, MIME_CTE_BASE64, MIME_CTE_QP };

struct mime_span {
	size_t off;
	size_t len;
};

/* The header fields of one entity that matter here (raw spans; have_* says present). */
struct mime_hdrs {
	struct mime_span ctype;
	struct mime_span cte;
	struct mime_span cdisp;
	struct mime_span domain;
	struct mime_span submitter;
	struct mime_span subject;
	struct mime_span msgid;
	struct mime_span from;
	int have_ctype, have_cte, have_cdisp, have_domain, have_submitter, have_subject,
	    have_msgid, have_from;
	size_t body;              /* offset of the first body byte */
};

/* What one content type says. */
struct mime_ctype {
	char type[128];           /* lower-case type/subtype, "" when absent or malformed */
	char boundary[MIME_BOUNDARY_MAX + 1];
	int boundary_too_long;
	char name[256];           /* Content-Disposition filename, else Content-Type name */
};

struct mime_leaf {
	size_t start, end;        /* body span */
	enum mime_cte cte;
	char type[128];
	char filename[256];
};

struct mime_walk {
	const char *msg;
	size_t len;
	unsigned parts;
	int unclosed;
	enum mime_rank best_rank;
	struct mime_leaf best;
	char *err;
	size_t errlen;
};

/* Where decoded bytes go: the caller's buf, or (out == NULL) a small peek array. */
struct mime_sink {
	struct buf *out;
	unsigned char stage[MIME_STAGE_BYTES];
	size_t stagelen;
	unsigned char peek[MIME_SNIFF_BYTES];
	size_t peeklen;
	int failed;               /* buf_append() failed; out->err says why */
};

static void
mime_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
mime_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

static int
mime_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
mime_is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Case-insensitive compare of p[0..n) with the NUL-terminated lower-case s. */
static int
mime_eq_ci(const char *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || mime_lower((unsigned char)p[i]) != s[i])
			return 0;
	}
	return s[i] == '\0';
}

/* 1 when the NUL-terminated s ends with the lower-case suffix, ignoring case. */
static int
mime_ends_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && mime_eq_ci(s + n - m, m, suffix);
}

/*
 * One line of msg[pos..end): sets *len to its length without the LF and a CR before it, and
 * *next to the offset after its LF (or end).
 */
static void
mime_line(const char *msg, size_t pos, size_t end, size_t *len, size_t *next)
{
	const char *lf = memchr(msg + pos, '\n', end - pos);
	size_t n;

	if (lf != NULL) {
		n = (size_t)(lf - (msg + pos));
		*next = pos + n + 1;
	} else {
		n = end - pos;
		*next = end;
	}
	if (n > 0 && msg[pos + n - 1] == '\r')
		n--;
	*len = n;
}

/*
 * Length of the field name when p[0..n) starts a header field line ("name" blanks ":").
 * A name may not start with '{' or '[': RFC 5322 allows it, but no real field does, and a
 * compact JSON report ({"organization-name":...) would otherwise read as a header.
 */
static size_t
mime_field_name(const char *p, size_t n)
{
	size_t i = 0, name;

	if (n > 0 && (p[0] == '{' || p[0] == '['))
		return 0;
	while (i < n && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	if (i == 0)
		return 0;
	name = i;
	while (i < n && mime_is_blank((unsigned char)p[i]))
		i++;
	return i < n && p[i] == ':' ? name : 0;
}

static void
mime_keep(struct mime_span *dst, int *have, size_t off, size_t len)
{
	if (*have)
		return;
	*have = 1;
	dst->off = off;
	dst->len = len;
}

/* Files the field name[0..nlen) with raw value msg[voff..vend) into h. */
static void
mime_field(struct mime_hdrs *h, const char *name, size_t nlen, size_t voff, size_t vend)
{
	size_t vlen = vend - voff;

	if (mime_eq_ci(name, nlen, "content-type"))
		mime_keep(&h->ctype, &h->have_ctype, voff, vlen);
	else if (mime_eq_ci(name, nlen, "content-transfer-encoding"))
		mime_keep(&h->cte, &h->have_cte, voff, vlen);
	else if (mime_eq_ci(name, nlen, "content-disposition"))
		mime_keep(&h->cdisp, &h->have_cdisp, voff, vlen);
	else if (mime_eq_ci(name, nlen, "tls-report-domain"))
		mime_keep(&h->domain, &h->have_domain, voff, vlen);
	else if (mime_eq_ci(name, nlen, "tls-report-submitter"))
		mime_keep(&h->submitter, &h->have_submitter, voff, vlen);
	else if (mime_eq_ci(name, nlen, "subject"))
		mime_keep(&h->subject, &h->have_subject, voff, vlen);
	else if (mime_eq_ci(name, nlen, "message-id"))
		mime_keep(&h->msgid, &h->have_msgid, voff, vlen);
	else if (mime_eq_ci(name, nlen, "from"))
		mime_keep(&h->from, &h->have_from, voff, vlen);
}

/* Reads the header section of the entity at msg[start..end). 0, or -1 with err set. */
static int
mime_headers(struct mime_walk *w, size_t start, size_t end, struct mime_hdrs *h)
{
	const char *msg = w->msg;
	size_t pos = start, len, next, nlen, name = 0, namelen = 0, voff = 0, vend = 0;
	unsigned lines = 0;
	int infield = 0;

	memset(h, 0, sizeof(*h));
	h->body = end;
	while (pos < end) {
		mime_line(msg, pos, end, &len, &next);
		if (len == 0) {
			h->body = next;
			break;
		}
		if (++lines > MIME_HDR_MAX_LINES) {
			mime_seterr(w->err, w->errlen, "header section at offset %zu has more than %d "
			    "lines", start, MIME_HDR_MAX_LINES);
			return -1;
		}
		if (next - start > MIME_HDR_MAX_BYTES) {
			mime_seterr(w->err, w->errlen, "header section at offset %zu is larger than "
			    "%d bytes", start, MIME_HDR_MAX_BYTES);
			return -1;
		}
		if (mime_is_blank((unsigned char)msg[pos])) {
			if (!infield) {
				h->body = pos;
				break;
			}
			vend = pos + len;
		} else if ((nlen = mime_field_name(msg + pos, len)) > 0) {
			if (infield)
				mime_field(h, msg + name, namelen, voff, vend);
			infield = 1;
			name = pos;
			namelen = nlen;
			voff = (size_t)((const char *)memchr(msg + pos, ':', len) - msg) + 1;
			vend = pos + len;
		} else {
			h->body = pos;
			break;
		}
		pos = next;
	}
	if (infield)
		mime_field(h, msg + name, namelen, voff, vend);
	return 0;
}

/* Next character of a raw header value at *i, skipping the CR and LF of folds; -1 at end. */
static int
mime_peek(const char *p, size_t n, size_t *i)
{
	while (*i < n && (p[*i] == '\r' || p[*i] == '\n'))
		(*i)++;
	return *i < n ? (unsigned char)p[*i] : -1;
}

/* Skips blanks and (nested, bounded by n) comments. */
static void
mime_skip_cfws(const char *p, size_t n, size_t *i)
{
	int c, depth;

	for (;;) {
		c = mime_peek(p, n, i);
		if (c == ' ' || c == '\t') {
			(*i)++;
			continue;
		}
		if (c != '(')
			return;
		depth = 0;
		while ((c = mime_peek(p, n, i)) != -1) {
			(*i)++;
			if (c == '\\') {
				if (mime_peek(p, n, i) != -1)
					(*i)++;
			} else if (c == '(') {
				depth++;
			} else if (c == ')' && --depth == 0) {
				break;
			}
		}
	}
}

/* Appends c to dst[*len] keeping room for the NUL; sets *cut when it does not fit. */
static void
mime_put(char *dst, size_t cap, size_t *len, int c, int *cut)
{
	if (*len + 1 < cap)
		dst[(*len)++] = (char)c;
	else
		*cut = 1;
}

/*
 * Reads the value of a parameter at *i (after '=' and blanks) into dst, unfolded; quoted
 * strings lose their quotes and escapes.
 */
static void
mime_param_value(const char *p, size_t n, size_t *i, char *dst, size_t cap, size_t *len,
    int *cut)
{
	int c;

	*len = 0;
	if (mime_peek(p, n, i) == '"') {
		(*i)++;
		while ((c = mime_peek(p, n, i)) != -1) {
			(*i)++;
			if (c == '"')
				break;
			if (c == '\\') {
				if ((c = mime_peek(p, n, i)) == -1)
					break;
				(*i)++;
			}
			mime_put(dst, cap, len, c, cut);
		}
	} else {
		while ((c = mime_peek(p, n, i)) != -1 && c != ';' && !mime_is_blank(c)) {
			mime_put(dst, cap, len, c, cut);
			(*i)++;
		}
	}
	dst[*len] = '\0';
}

static int
mime_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = mime_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Appends an RFC 2231 extended value (charset'language'%XX...) to dst; the charset and
 * language prefix is dropped when first is set.
 */
static void
mime_2231_append(const char *v, int first, char *dst, size_t cap, size_t *len, int *cut)
{
	const char *q;
	int hi, lo;

	if (first && (q = strchr(v, '\'')) != NULL && (q = strchr(q + 1, '\'')) != NULL)
		v = q + 1;
	for (; *v != '\0'; v++) {
		if (*v == '%' && (hi = mime_hex((unsigned char)v[1])) >= 0 &&
		    (lo = mime_hex((unsigned char)v[2])) >= 0) {
			mime_put(dst, cap, len, hi * 16 + lo, cut);
			v += 2;
		} else {
			mime_put(dst, cap, len, (unsigned char)*v, cut);
		}
	}
	dst[*len] = '\0';
}

/*
 * Finds parameter want (lower case) in the raw header value p[0..n) (which starts with the
 * type or disposition token). Writes the value, RFC 2231 sections joined and decoded, to dst.
 * Returns 1 found, 0 absent; *cut is set when dst was too small.
 */
static int
mime_param(const char *p, size_t n, const char *want, char *dst, size_t cap, int *cut)
{
	char pname[MIME_PARAM_NAME_MAX], raw[MIME_PARAM_RAW_MAX], ext[MIME_PARAM_RAW_MAX];
	size_t i = 0, plen, rawlen, extlen = 0, dlen = 0, base;
	unsigned long section, next_section = 0;
	int c, found = 0, found_ext = 0, pcut, rcut, ecut = 0, extended, has_section;

	*cut = 0;
	dst[0] = '\0';
	ext[0] = '\0';
	/* Skip the leading type (or disposition) token up to the first ';'. */
	while ((c = mime_peek(p, n, &i)) != -1 && c != ';') {
		if (c == '"') {
			mime_param_value(p, n, &i, raw, sizeof(raw), &rawlen, &rcut);
			continue;
		}
		i++;
	}
	for (;;) {
		mime_skip_cfws(p, n, &i);
		if ((c = mime_peek(p, n, &i)) == -1)
			break;
		if (c == ';') {
			i++;
			continue;
		}
		plen = 0;
		pcut = 0;
		while ((c = mime_peek(p, n, &i)) != -1 && c != '=' && c != ';' && !mime_is_blank(c)) {
			mime_put(pname, sizeof(pname), &plen, mime_lower(c), &pcut);
			i++;
		}
		pname[plen] = '\0';
		mime_skip_cfws(p, n, &i);
		if (mime_peek(p, n, &i) != '=')
			continue; /* a word with no value (plen > 0 here, so progress is made) */
		i++;
		mime_skip_cfws(p, n, &i);
		rcut = 0;
		mime_param_value(p, n, &i, raw, sizeof(raw), &rawlen, &rcut);
		if (pcut)
			continue;
		/* name, name*, name*N, name*N* */
		base = strcspn(pname, "*");
		if (strlen(want) != base || strncmp(pname, want, base) != 0)
			continue;
		if (pname[base] == '\0') {
			if (!found) {
				found = 1;
				dlen = 0;
				for (size_t k = 0; k < rawlen; k++)
					mime_put(dst, cap, &dlen, (unsigned char)raw[k], cut);
				dst[dlen] = '\0';
				if (rcut)
					*cut = 1;
			}
			continue;
		}
		{
			const char *s = pname + base + 1;
			char *endp = NULL;

			has_section = *s >= '0' && *s <= '9';
			section = has_section ? strtoul(s, &endp, 10) : 0;
			if (has_section)
				s = endp;
			extended = *s == '*';
			if (extended)
				s++;
			if (*s != '\0')
				continue; /* not an RFC 2231 form */
		}
		if (!has_section) {
			extlen = 0;
			ecut = rcut;
			mime_2231_append(raw, 1, ext, sizeof(ext), &extlen, &ecut);
			found_ext = 1;
			next_section = ULONG_MAX; /* no name*N= may follow */
			continue;
		}
		if (section != next_section || section >= MIME_PARAM_SECTIONS_MAX)
			continue; /* out of order, repeated or absurd: ignored */
		next_section++;
		found_ext = 1;
		ecut |= rcut;
		if (extended) {
			mime_2231_append(raw, section == 0, ext, sizeof(ext), &extlen, &ecut);
		} else {
			for (size_t k = 0; k < rawlen; k++)
				mime_put(ext, sizeof(ext), &extlen, (unsigned char)raw[k], &ecut);
			ext[extlen] = '\0';
		}
	}
	if (found_ext && extlen > 0) {
		dlen = 0;
		*cut = ecut;
		for (size_t k = 0; k < extlen; k++)
			mime_put(dst, cap, &dlen, (unsigned char)ext[k], cut);
		dst[dlen] = '\0';
		return 1;
	}
	return found;
}

/* Drops an incomplete UTF-8 sequence left at the end of s[0..*len) by a cut. */
static void
mime_utf8_trim(const char *s, size_t *len)
{
	size_t n = *len, k = n, need;
	unsigned char lead;

	while (k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	if (k == 0)
		return;
	lead = (unsigned char)s[k - 1];
	if (lead < 0xc0)
		return;
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (n - (k - 1) < need)
		*len = k - 1;
}

/* Control bytes become '?', tabs spaces: these strings end up in logs and the database. */
static int
mime_safe_char(int c)
{
	if (c == '\t')
		return ' ';
	if (c < 0x20 || c == 0x7f)
		return '?';
	return c;
}

/* Finishes a string cut to fit (or not): whole UTF-8 sequences only, safe bytes, NUL. */
static void
mime_finish(char *dst, size_t len, int cut)
{
	if (cut)
		mime_utf8_trim(dst, &len);
	dst[len] = '\0';
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)mime_safe_char((unsigned char)dst[i]);
}

/* Copies a raw header value into dst: unfolded, trimmed, made safe, cut to fit. */
static void
mime_copy_value(const char *msg, const struct mime_span *v, int have, char *dst, size_t cap)
{
	size_t n = 0;
	int c, cut = 0;

	dst[0] = '\0';
	if (!have)
		return;
	for (size_t i = 0; i < v->len && !cut; i++) {
		c = (unsigned char)msg[v->off + i];
		if (c == '\r' || c == '\n' || (n == 0 && mime_is_blank(c)))
			continue;
		mime_put(dst, cap, &n, c, &cut);
	}
	while (n > 0 && mime_is_blank((unsigned char)dst[n - 1]))
		n--;
	mime_finish(dst, n, cut);
}

/* The Report-ID of a Subject: "Report-ID: <x>" or "Report-ID: x"; brackets dropped. */
static void
mime_subject_report_id(const char *subject, char *dst, size_t cap)
{
	const char *key = "report-id:", *p = NULL;
	size_t klen = strlen(key), slen = strlen(subject), n = 0;
	int cut = 0;

	dst[0] = '\0';
	for (size_t i = 0; i + klen <= slen; i++) {
		if (mime_eq_ci(subject + i, klen, key)) {
			p = subject + i + klen;
			break;
		}
	}
	if (p == NULL)
		return;
	while (mime_is_blank((unsigned char)*p))
		p++;
	if (*p == '<') {
		for (p++; *p != '\0' && *p != '>'; p++)
			mime_put(dst, cap, &n, (unsigned char)*p, &cut);
	} else {
		for (; *p != '\0' && !mime_is_blank((unsigned char)*p); p++)
			mime_put(dst, cap, &n, (unsigned char)*p, &cut);
	}
	while (n > 0 && mime_is_blank((unsigned char)dst[n - 1]))
		n--;
	mime_finish(dst, n, cut);
}

/* Type, boundary and file name of an entity. */
static void
mime_parse_ctype(const char *msg, const struct mime_hdrs *h, struct mime_ctype *ct)
{
	char fname[sizeof(ct->name)];
	const char *p, *slash;
	size_t n, i = 0, tlen = 0;
	int c, cut = 0;

	memset(ct, 0, sizeof(*ct));
	if (h->have_ctype) {
		p = msg + h->ctype.off;
		n = h->ctype.len;
		mime_skip_cfws(p, n, &i);
		while ((c = mime_peek(p, n, &i)) != -1 && c != ';' && c != '(' && c != '"' &&
		    !mime_is_blank(c)) {
			mime_put(ct->type, sizeof(ct->type), &tlen, mime_lower(c), &cut);
			i++;
		}
		ct->type[tlen] = '\0';
		slash = strchr(ct->type, '/');
		/* Malformed (RFC 2045 says: treat as text/plain); here: as no type at all. */
		if (cut || slash == NULL || slash == ct->type || slash[1] == '\0' ||
		    strchr(slash + 1, '/') != NULL)
			ct->type[0] = '\0';
		for (size_t k = 0; ct->type[k] != '\0'; k++) {
			if ((unsigned char)ct->type[k] < 0x21 || (unsigned char)ct->type[k] > 0x7e)
				ct->type[0] = '\0';
		}
		if (mime_param(p, n, "boundary", ct->boundary, sizeof(ct->boundary), &cut) && cut)
			ct->boundary_too_long = 1;
		if (mime_param(p, n, "name", ct->name, sizeof(ct->name), &cut))
			mime_finish(ct->name, strlen(ct->name), cut);
	}
	if (h->have_cdisp && mime_param(msg + h->cdisp.off, h->cdisp.len, "filename", fname,
	    sizeof(fname), &cut) && fname[0] != '\0') {
		mime_finish(fname, strlen(fname), cut);
		memcpy(ct->name, fname, sizeof(ct->name));
	}
}

static enum mime_cte
mime_cte_of(const char *msg, const struct mime_hdrs *h)
{
	char v[32];
	size_t k;

	mime_copy_value(msg, &h->cte, h->have_cte, v, sizeof(v));
	for (k = 0; v[k] != '\0' && v[k] != ' ' && v[k] != ';' && v[k] != '('; k++)
		v[k] = (char)mime_lower((unsigned char)v[k]);
	v[k] = '\0';
	if (strcmp(v, "base64") == 0)
		return MIME_CTE_BASE64;
	if (strcmp(v, "quoted-printable") == 0)
		return MIME_CTE_QP;
	return MIME_CTE_IDENTITY;
}

static enum mime_rank
mime_rank_of(const struct mime_ctype *ct)
{
	const char *t = ct->type;

	if (strcmp(t, "application/tlsrpt+gzip") == 0)
		return MIME_RANK_TLSRPT_GZIP;
	if (strcmp(t, "application/tlsrpt+json") == 0)
		return MIME_RANK_TLSRPT_JSON;
	if (strcmp(t, "application/tlsrpt") == 0)
		return MIME_RANK_TLSRPT;
	if (strcmp(t, "application/gzip") == 0 || strcmp(t, "application/x-gzip") == 0 ||
	    strcmp(t, "application/json") == 0)
		return MIME_RANK_GENERIC;
	if ((t[0] == '\0' || strcmp(t, "application/octet-stream") == 0) &&
	    (mime_ends_ci(ct->name, ".json") || mime_ends_ci(ct->name, ".gz")))
		return MIME_RANK_NAMED;
	return MIME_RANK_NONE;
}

/* Sends the staged bytes to the caller's buf. 0, or 1 when it refused (sink failed). */
static int
mime_flush(struct mime_sink *s)
{
	if (s->out != NULL && s->stagelen > 0) {
		if (buf_append(s->out, s->stage, s->stagelen) != 0) {
			s->failed = 1;
			return 1;
		}
		s->stagelen = 0;
	}
	return 0;
}

/* One decoded byte. 0 to go on, 1 to stop (peek full, or the buf refused). */
static int
mime_emit(struct mime_sink *s, int c)
{
	if (s->out == NULL) {
		if (s->peeklen < sizeof(s->peek))
			s->peek[s->peeklen++] = (unsigned char)c;
		return s->peeklen == sizeof(s->peek);
	}
	s->stage[s->stagelen++] = (unsigned char)c;
	return s->stagelen == sizeof(s->stage) ? mime_flush(s) : 0;
}

static int
mime_b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void
mime_decode_base64(const char *p, size_t n, struct mime_sink *s)
{
	unsigned q[4];
	size_t qn = 0;
	int c, v;

	for (size_t i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
			continue;
		if ((v = mime_b64_value(c)) < 0)
			break; /* '=' padding, or the first byte that is not base64: the end */
		q[qn++] = (unsigned)v;
		if (qn == 4) {
			qn = 0;
			if (mime_emit(s, (int)((q[0] << 2 | q[1] >> 4) & 0xff)) ||
			    mime_emit(s, (int)((q[1] << 4 | q[2] >> 2) & 0xff)) ||
			    mime_emit(s, (int)((q[2] << 6 | q[3]) & 0xff)))
				return;
		}
	}
	/* Missing padding: 2 sextets make 1 byte, 3 make 2; a lone sextet is no byte. */
	if (qn >= 2 && mime_emit(s, (int)((q[0] << 2 | q[1] >> 4) & 0xff)))
		return;
	if (qn == 3)
		(void)mime_emit(s, (int)((q[1] << 4 | q[2] >> 2) & 0xff));
}

static void
mime_decode_qp(const char *p, size_t n, struct mime_sink *s)
{
	const char *lf;
	size_t pos = 0, len, next, k;
	int soft, crlf, had_lf, hi, lo;

	while (pos < n) {
		lf = memchr(p + pos, '\n', n - pos);
		had_lf = lf != NULL;
		len = had_lf ? (size_t)(lf - (p + pos)) : n - pos;
		next = pos + len + (had_lf ? 1 : 0);
		crlf = len > 0 && p[pos + len - 1] == '\r';
		if (crlf)
			len--;
		while (len > 0 && mime_is_blank((unsigned char)p[pos + len - 1]))
			len--;
		soft = len > 0 && p[pos + len - 1] == '=';
		if (soft)
			len--;
		for (k = 0; k < len; k++) {
			int c = (unsigned char)p[pos + k];

			if (c == '=' && k + 2 < len &&
			    (hi = mime_hex((unsigned char)p[pos + k + 1])) >= 0 &&
			    (lo = mime_hex((unsigned char)p[pos + k + 2])) >= 0) {
				c = hi * 16 + lo;
				k += 2;
			}
			if (mime_emit(s, c))
				return;
		}
		if (!soft && had_lf) {
			if (crlf && mime_emit(s, '\r'))
				return;
			if (mime_emit(s, '\n'))
				return;
		}
		pos = next;
	}
}

static void
mime_decode_identity(const char *p, size_t n, struct mime_sink *s)
{
	if (s->out != NULL) {
		if (mime_flush(s) == 0 && n > 0 && buf_append(s->out, p, n) != 0)
			s->failed = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (mime_emit(s, (unsigned char)p[i]))
			return;
	}
}

static void
mime_decode(const char *msg, const struct mime_leaf *leaf, struct mime_sink *s)
{
	const char *p = msg + leaf->start;
	size_t n = leaf->end - leaf->start;

	switch (leaf->cte) {
	case MIME_CTE_BASE64:
		mime_decode_base64(p, n, s);
		break;
	case MIME_CTE_QP:
		mime_decode_qp(p, n, s);
		break;
	default:
		mime_decode_identity(p, n, s);
		break;
	}
	if (!s->failed)
		(void)mime_flush(s);
}

static int mime_entity(struct mime_walk *w, size_t start, size_t end, int depth);

/* 1 when line[0..len) is a delimiter line of boundary b; *close set for "--b--". */
static int
mime_is_delim(const char *line, size_t len, const char *b, size_t blen, int *close)
{
	size_t i;

	if (len < blen + 2 || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, blen) != 0)
		return 0;
	i = blen + 2;
	*close = len - i >= 2 && line[i] == '-' && line[i + 1] == '-';
	if (*close)
		i += 2;
	for (; i < len; i++) {
		if (!mime_is_blank((unsigned char)line[i]))
			return 0;
	}
	return 1;
}

/* Walks the parts of a multipart body msg[start..end). 0, or -1 with err set. */
static int
mime_multipart(struct mime_walk *w, const struct mime_ctype *ct, size_t start, size_t end,
    int depth)
{
	const char *msg = w->msg;
	size_t blen = strlen(ct->boundary), pos = start, len, next, pstart = 0, pend;
	int in_part = 0, close;

	if (ct->boundary_too_long) {
		mime_seterr(w->err, w->errlen, "%s boundary at offset %zu is longer than %d bytes",
		    ct->type, start, MIME_BOUNDARY_MAX);
		return -1;
	}
	if (blen == 0)
		return 0; /* no boundary: no parts that can be found */
	if (depth >= MIME_DEPTH_MAX) {
		mime_seterr(w->err, w->errlen, "multiparts nested deeper than %d levels",
		    MIME_DEPTH_MAX);
		return -1;
	}
	while (pos < end) {
		mime_line(msg, pos, end, &len, &next);
		if (len > 0 && msg[pos] == '-' &&
		    mime_is_delim(msg + pos, len, ct->boundary, blen, &close)) {
			if (in_part) {
				/* The line break before a delimiter belongs to the delimiter. */
				pend = pos;
				if (pend > pstart && msg[pend - 1] == '\n')
					pend--;
				if (pend > pstart && msg[pend - 1] == '\r')
					pend--;
				if (mime_entity(w, pstart, pend, depth + 1) != 0)
					return -1;
			}
			if (close)
				return 0;
			in_part = 1;
			pstart = next;
		}
		pos = next;
	}
	w->unclosed = 1;
	if (in_part)
		return mime_entity(w, pstart, end, depth + 1);
	return 0;
}

/* The body of an entity whose headers are h: a multipart to walk, or a leaf to rank. */
static int
mime_body(struct mime_walk *w, const struct mime_hdrs *h, const struct mime_ctype *ct,
    size_t end, int depth)
{
	enum mime_rank rank;

	if (strncmp(ct->type, "multipart/", 10) == 0)
		return mime_multipart(w, ct, h->body, end, depth);
	rank = mime_rank_of(ct);
	if (rank > w->best_rank) {
		w->best_rank = rank;
		w->best.start = h->body;
		w->best.end = end;
		w->best.cte = mime_cte_of(w->msg, h);
		memcpy(w->best.type, ct->type, sizeof(w->best.type));
		memcpy(w->best.filename, ct->name, sizeof(w->best.filename));
	}
	return 0;
}

/* One entity (headers and body) at msg[start..end). 0, or -1 with err set. */
static int
mime_entity(struct mime_walk *w, size_t start, size_t end, int depth)
{
	struct mime_hdrs h;
	struct mime_ctype ct;

	if (++w->parts > MIME_PARTS_MAX) {
		mime_seterr(w->err, w->errlen, "message has more than %d MIME parts",
		    MIME_PARTS_MAX);
		return -1;
	}
	if (mime_headers(w, start, end, &h) != 0)
		return -1;
	mime_parse_ctype(w->msg, &h, &ct);
	return mime_body(w, &h, &ct, end, depth);
}

/* 1 when the decoded start of a body looks like JSON ('{' after blanks) or gzip. */
static int
mime_sniff(const unsigned char *p, size_t n)
{
	size_t i = 0;

	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return 1;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3; /* a UTF-8 byte order mark */
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i < n && p[i] == '{';
}

int
mime_looks_like_message(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	if (s == NULL)
		return 0;
	if (len >= 5 && memcmp(s, "From ", 5) == 0)
		return 1;
	/* As in mime_field_name(): JSON is not a header. */
	if (len > 0 && (s[0] == '{' || s[0] == '['))
		return 0;
	for (i = 0; i < len && i <= 76; i++) {
		if (s[i] == ':')
			return i >= 1;
		if (s[i] <= 32 || s[i] >= 127)
			return 0;
	}
	return 0;
}

int
mime_find_report(const char *msg, size_t len, struct buf *out, struct mime_info *info,
    char *err, size_t errlen)
{
	struct mime_info local;
	struct mime_walk w;
	struct mime_hdrs h;
	struct mime_ctype ct;
	struct mime_sink *s = NULL;
	size_t start = 0, oldlen, next, linelen;
	int rc = -1;

	if (info == NULL)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL || (msg == NULL && len > 0)) {
		mime_seterr(err, errlen, "mime_find_report: no message or no output buffer");
		return -1;
	}
	if (len == 0) {
		mime_seterr(err, errlen, "no report part: the message is empty");
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.msg = msg;
	w.len = len;
	w.err = err;
	w.errlen = errlen;
	w.parts = 1;

	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		mime_line(msg, 0, len, &linelen, &next);
		start = next;
	}
	if (mime_headers(&w, start, len, &h) != 0)
		return -1;
	mime_copy_value(msg, &h.domain, h.have_domain, info->tls_report_domain,
	    sizeof(info->tls_report_domain));
	mime_copy_value(msg, &h.submitter, h.have_submitter, info->tls_report_submitter,
	    sizeof(info->tls_report_submitter));
	mime_copy_value(msg, &h.subject, h.have_subject, info->subject, sizeof(info->subject));
	mime_subject_report_id(info->subject, info->subject_report_id,
	    sizeof(info->subject_report_id));
	mime_copy_value(msg, &h.msgid, h.have_msgid, info->message_id, sizeof(info->message_id));
	mime_copy_value(msg, &h.from, h.have_from, info->from, sizeof(info->from));

	mime_parse_ctype(msg, &h, &ct);
	rc = mime_body(&w, &h, &ct, len, 0);
	info->multipart_unclosed = w.unclosed;
	if (rc != 0)
		return -1;
	rc = -1;

	if ((s = malloc(sizeof(*s))) == NULL) {
		mime_seterr(err, errlen, "out of memory");
		return -1;
	}
	if (w.best_rank == MIME_RANK_NONE) {
		int multipart = strncmp(ct.type, "multipart/", 10) == 0;

		if (!multipart) {
			/* A lone body of any type: keep it if it starts like JSON or gzip. */
			memset(s, 0, sizeof(*s));
			w.best.start = h.body;
			w.best.end = len;
			w.best.cte = mime_cte_of(msg, &h);
			mime_decode(msg, &w.best, s);
			if (mime_sniff(s->peek, s->peeklen)) {
				memcpy(w.best.type, ct.type, sizeof(w.best.type));
				memcpy(w.best.filename, ct.name, sizeof(w.best.filename));
				w.best_rank = MIME_RANK_NAMED; /* any non-NONE value */
			}
		}
		if (w.best_rank == MIME_RANK_NONE) {
			if (!multipart)
				mime_seterr(err, errlen, "no report part: the %s body starts like "
				    "neither JSON nor gzip", ct.type[0] != '\0' ? ct.type : "untyped");
			else if (ct.boundary[0] == '\0')
				mime_seterr(err, errlen, "no report part: %s without a boundary "
				    "parameter", ct.type);
			else
				mime_seterr(err, errlen, "no report part: none of the %u MIME parts is "
				    "application/tlsrpt+gzip, +json, a gzip or JSON attachment",
				    w.parts - 1);
			goto done;
		}
	}

	memset(s, 0, sizeof(*s));
	s->out = out;
	oldlen = out->len;
	mime_decode(msg, &w.best, s);
	if (s->failed) {
		/* Leave out as it was (the sticky error stays set for the caller to see). */
		out->len = oldlen;
		if (out->data != NULL)
			out->data[oldlen] = '\0';
		if (out->err == BUF_ERR_CAP)
			mime_seterr(err, errlen, "report part (%s) is larger than the %zu-byte cap",
			    w.best.type[0] != '\0' ? w.best.type : "untyped", out->max);
		else
			mime_seterr(err, errlen, "out of memory decoding the report part");
		goto done;
	}
	if (out->len == oldlen) {
		mime_seterr(err, errlen, "no report part: the %s part is empty",
		    w.best.type[0] != '\0' ? w.best.type : "untyped");
		goto done;
	}
	memcpy(info->part_type, w.best.type, sizeof(info->part_type));
	memcpy(info->part_filename, w.best.filename, sizeof(info->part_filename));
	rc = 0;
done:
	free(s);
	return rc;
}
