/*
 * mime: a streaming reader that finds the TLS report part of a message (see mime.h).
 *
 * Structure. A message is a tree of entities. The reader keeps one struct mime_level for each
 * entity on the path from the top (lv[0]) down to the entity being read now. Bytes pushed in
 * go to lv[0]; a level reading a body hands the bytes of its child on to the next level: a
 * multipart after taking out its own delimiter lines (and the line break before each), an
 * encapsulated message (message/rfc822) after undoing its transfer encoding. So the delimiters
 * of an outer multipart end everything inside it, as they must. Every level splits its own
 * lines and holds at most MIME_HOLD_MAX bytes of a line it cannot yet classify. Only the
 * deepest level can be reading a header section, so one buffer serves all header sections;
 * only one leaf is ever being decoded, so one buffer holds the best candidate so far.
 *
 * Memory: the header section buffer (<= max_header_bytes), the candidate (<= max_report_bytes),
 * max_depth + 1 levels of about 3 KiB, the zip reader (about 45 KiB with zlib's window, only
 * for a zip candidate) and a few KiB of stack per level. Nothing grows with the message.
 *
 * Decisions worth knowing (all lenient, none can read out of bounds):
 * - Lines end at LF; a CR right before the LF is dropped. A bare CR is data.
 * - A header section ends at the first empty line, or at the first line that is neither a
 *   header field ("name:") nor a continuation: that line is the first body line (as Python's
 *   email package does). A field's name and the blanks before its ':' take at most
 *   DKIM_FIELD_NAME_MAX bytes (the DKIM verifier reads header sections by the same rule:
 *   the pipeline checks that both put the body at the same byte); a longer one is a body
 *   line.
 *   A message with no header at all is therefore all body.
 * - The first occurrence of a header field wins (two Return-Path, two Content-Type...).
 * - Delimiter lines must be exactly "--boundary" or "--boundary--", then optional spaces or
 *   tabs, and fit in MIME_HOLD_MAX bytes. A multipart whose close delimiter never comes ends
 *   where its enclosing entity ends (for the top level: the end of the message) and sets
 *   multipart_unclosed. Preamble and epilogue are skipped.
 * - message/rfc822 and message/global parts are walked into like the top (any transfer
 *   encoding is undone first, although RFC 2046 allows none). Their report parts compete
 *   with the others. When the top has no TLS-Report-Domain, -Submitter or Subject Report-ID
 *   and the chosen part sits in a forwarded message, those come from that message.
 * - base64: whitespace anywhere is skipped, any line length is fine, a missing '=' padding is
 *   fine (a last group of 2 or 3 characters still yields its 1 or 2 bytes; a lone sextet is
 *   dropped). Decoding stops for good at the first '=' or at the first other character that
 *   is not base64 and not whitespace: a trailer such as "--" or a footer line with
 *   punctuation is left out instead of being decoded as garbage. (A trailer made only of
 *   base64 letters cannot be told apart from data; gz_inflate() then reports trailing bytes.)
 * - quoted-printable: "=XX" (either case) is a byte, "=" at the end of a line (trailing blanks
 *   allowed) is a soft line break, any other "=" is kept as is; trailing blanks of a line are
 *   dropped (a run of more than MIME_QP_BLANKS_MAX blanks is kept); hard line breaks are kept
 *   as they were (LF or CRLF).
 * - 7bit, 8bit, binary and unknown encodings are copied as they are.
 * - Parameter values: quoted strings (with \-escapes, may span a fold) or tokens ending at ';'
 *   or a blank. A missing ';' between parameters is tolerated. RFC 2231 forms name*=,
 *   name*0=, name*1*= ... are joined, their %XX decoded and their charset converted.
 * - Strings copied into struct mime_info: unfolded, blanks trimmed at both ends, encoded
 *   words (Subject, From, file names) decoded to UTF-8 with their control characters removed;
 *   elsewhere control bytes and bytes that are not UTF-8 turned into '?', tabs into spaces;
 *   cut (never inside a UTF-8 sequence) to fit. Unknown charsets are left encoded.
 * - Choice of the report part: see enum mime_rank; a better part replaces the candidate, an
 *   equal or lower one is skipped without being decoded. application/gzip, application/x-gzip,
 *   application/json and the zip types count whatever their name; application/octet-stream
 *   and untyped parts only with a .json, .json.gz, .gz or .zip name. Only a message that is
 *   not multipart (nor message/rfc822) falls back to sniffing its decoded body. A chosen part
 *   that decodes to nothing, or whose zip cannot be read, is an error, not a reason to try
 *   the next candidate (the others were never kept).
 * - Zip archives are read as they stream, by their local headers: the entry named *.json
 *   (stored or deflated, CRC and size checked, output under the report cap) is the report;
 *   other entries are skipped (by their size, or inflated to nowhere under the same cap).
 *   Refused: encrypted entries, zip64, other compression methods, a stored entry with a data
 *   descriptor (its end cannot be found without the central directory), more than one .json
 *   entry, none, a truncated one. The central directory is not read (it comes last, and a
 *   streaming reader cannot seek to it); once the .json entry is read, bytes that are not an
 *   entry header end the archive.
 * - Limits are errors, not silent truncation: a message that breaks them is not a report
 *   worth guessing at.
 */
#include "ingest/mime.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ingest/dkim.h"    /* DKIM_FIELD_NAME_MAX: both read header sections alike */
#include "ingest/norm.h"

#define MIME_HDR_BYTES_DEFAULT	(1024 * 1024)	/* one header section */
#define MIME_HDR_LINES_DEFAULT	1000		/* physical lines of one header section */
#define MIME_DEPTH_DEFAULT	8		/* multiparts and messages below the top level */
#define MIME_DEPTH_CEILING	64		/* larger max_depth values are lowered to this */
#define MIME_PARTS_DEFAULT	64		/* entities in the whole message, top included */
#define MIME_REPORT_DEFAULT	(16 * 1024 * 1024) /* decoded report part */
#define MIME_BOUNDARY_MAX	200		/* RFC 2046 says 70; be generous, not unbounded */
#define MIME_HOLD_MAX		512		/* line bytes held to tell field, body, delimiter */
#define MIME_SNIFF_BYTES	1024		/* decoded bytes looked at to sniff JSON or gzip */
#define MIME_STAGE_BYTES	2048		/* decoded bytes batched before they move on */
#define MIME_QP_BLANKS_MAX	256		/* blanks held to drop them at the end of a line */
#define MIME_UNFOLD_MAX		8192		/* raw bytes of a header value looked at */
#define MIME_PARAM_NAME_MAX	64
#define MIME_PARAM_RAW_MAX	1024		/* one parameter value before decoding */
#define MIME_PARAM_SECTIONS_MAX	100		/* RFC 2231 name*0 .. name*99 */
#define MIME_CHARSET_MAX	64
#define MIME_ZIP_CHUNK		4096		/* inflated bytes per round */
#define MIME_ERR_MAX		256

/* Rank of a part as the report; higher wins, the first of equal rank wins. */
enum mime_rank {
	MIME_RANK_NONE = 0,
	MIME_RANK_NAMED = 1,       /* application/octet-stream or no type, .json/.gz/.zip name */
	MIME_RANK_GENERIC = 2,     /* application/gzip, x-gzip, json, zip, x-zip-compressed */
	MIME_RANK_TLSRPT = 3,      /* application/tlsrpt */
	MIME_RANK_TLSRPT_JSON = 4, /* application/tlsrpt+json */
	MIME_RANK_TLSRPT_GZIP = 5  /* application/tlsrpt+gzip */
};

enum mime_cte { MIME_CTE_IDENTITY, MIME_CTE_BASE64, MIME_CTE_QP };

enum mime_state {
	MIME_ST_MBOX,		/* top only: is the first line an mbox "From " line? */
	MIME_ST_MBOXLINE,	/* top only: skipping that line */
	MIME_ST_HEADERS,	/* reading the header section */
	MIME_ST_LEAF,		/* a leaf that may be the report: decoded into the candidate */
	MIME_ST_MULTI,		/* a multipart body */
	MIME_ST_MESSAGE,	/* an encapsulated message: decoded into the next level */
	MIME_ST_SKIP		/* nothing to find in the rest of this entity */
};

enum mime_line {
	MIME_LN_START,		/* at the start of a line, nothing held */
	MIME_LN_HOLD,		/* the line's first bytes held in hold[] until it can be told */
	MIME_LN_FIELD,		/* headers: a header line, copied into the section buffer */
	MIME_LN_DATA		/* multipart: not a delimiter, passed on as it comes */
};

/* What a held header-section line looks like so far. */
enum mime_cls { MIME_CLS_NAME, MIME_CLS_BLANK, MIME_CLS_CR };

enum mime_charset { MIME_CS_UTF8, MIME_CS_ASCII, MIME_CS_LATIN1, MIME_CS_CP1252, MIME_CS_OTHER };

struct mime_span {
	size_t off;
	size_t len;
};

/* The header fields of one entity that matter here (spans in the section buffer). */
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
};

/* What one content type says. */
struct mime_ctype {
	char type[128];           /* lower-case type/subtype, "" when absent or malformed */
	char boundary[MIME_BOUNDARY_MAX + 1];
	int boundary_too_long;
	char name[256];           /* Content-Disposition filename, else Content-Type name */
};

/* A transfer decoder's state (a leaf or an encapsulated message). */
struct mime_dec {
	enum mime_cte cte;
	unsigned q[4];            /* base64: sextets of the group being read */
	unsigned qn;
	int b64_end;              /* base64: the data has ended */
	int qe;                   /* quoted-printable: 0, 1 after "=", 2 after "=X" */
	int qx;                   /* the X */
	int qcr;                  /* a CR that may end the line */
	size_t qbn;               /* blanks that may end the line */
	unsigned char qb[MIME_QP_BLANKS_MAX];
};

struct mime_level {
	enum mime_state st;
	int is_message;           /* the top, or the content of a message/rfc822 part */
	enum mime_line ln;
	enum mime_cls cls;
	size_t holdlen;
	unsigned char hold[MIME_HOLD_MAX];
	int held_cr;              /* multipart data line: a CR that may end the line */
	size_t brklen;            /* multipart: the line break before a possible delimiter */
	char brk[2];
	int part;                 /* multipart: 0 preamble, 1 in a part, 2 closed */
	struct mime_ctype ct;
	struct mime_dec dec;
	/* An encapsulated message's own report headers, for a report forwarded in it. */
	char fwd_domain[MIME_HEADER_VALUE_MAX];
	char fwd_submitter[MIME_HEADER_VALUE_MAX];
	char fwd_report_id[MIME_HEADER_VALUE_MAX];
};

enum mime_zip_state {
	MIME_ZIP_SIG,             /* a record signature */
	MIME_ZIP_HEAD,            /* the rest of a local file header */
	MIME_ZIP_NAME,
	MIME_ZIP_EXTRA,
	MIME_ZIP_STORED,          /* the .json entry, stored */
	MIME_ZIP_INFLATE,         /* a deflated entry (the .json one, or one to get past) */
	MIME_ZIP_SKIP,            /* another entry of known size */
	MIME_ZIP_DESC,            /* a data descriptor */
	MIME_ZIP_END,             /* the central directory: the rest is not read */
	MIME_ZIP_FAILED
};

struct mime_zip {
	enum mime_zip_state st;
	unsigned char b[30];      /* record bytes gathered so far */
	size_t bn, bneed;
	unsigned flags, method;
	uint32_t crc, csize, usize;
	size_t left;              /* bytes of the name, extra field or data still to come */
	unsigned char tail[5];    /* last bytes of the entry name, lower case */
	size_t namelen;
	unsigned char xh[4];      /* extra field: header of the current field */
	size_t xhn, xleft;
	int is_json;
	unsigned entries, json_entries;
	int json_done;
	uint32_t run_crc;
	uint64_t run_len;         /* bytes out of the current entry */
	z_stream zs;
	int zs_live;
};

/* The best report part so far. */
struct mime_cand {
	enum mime_rank rank;
	int active;               /* a part was chosen (or is being sniffed) */
	int sniff;                /* the top body, kept only if it starts like JSON or gzip */
	int dead;                 /* sniffed and refused */
	char type[128];
	char filename[256];
	struct buf data;
	int too_large;
	int nomem;
	int is_zip;
	struct mime_zip *zip;
	char fail[160];           /* why a zip could not be read */
	size_t peeklen;
	unsigned char peek[MIME_SNIFF_BYTES];
	int forwarded;
	char fwd_domain[MIME_HEADER_VALUE_MAX];
	char fwd_submitter[MIME_HEADER_VALUE_MAX];
	char fwd_report_id[MIME_HEADER_VALUE_MAX];
};

struct mime {
	struct mime_limits lim;
	struct mime_level *lv;    /* lim.max_depth + 1 levels */
	size_t pushed;
	size_t top_body;          /* bytes the top level has read as body (after its header) */
	int top_started;          /* the top level's header section has ended */
	unsigned parts;
	int unclosed;
	int failed;               /* sticky: err says why */
	int finished;
	char err[MIME_ERR_MAX];
	/* The header section being read (there is only ever one). */
	struct buf hdr;
	unsigned hlines;
	int infield;
	size_t fname_off, fname_len, fval_off, fval_end;
	struct mime_hdrs h;
	/* What the top entity says. */
	struct mime_info info;
	struct mime_cand cand;
};

/* A string being written: UTF-8 only, never cut inside a sequence. */
struct mime_str {
	char *p;
	size_t cap;
	size_t len;
	int cut;
};

/* Decoded bytes batched on their way. */
struct mime_stage {
	size_t n;
	unsigned char b[MIME_STAGE_BYTES];
};

static void mime_level_push(struct mime *m, unsigned d, const unsigned char *p, size_t n);
static void mime_level_finish(struct mime *m, unsigned d);

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

/* Refuses the message (the first reason sticks). */
static void
mime_fail(struct mime *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mime_fail(struct mime *m, const char *fmt, ...)
{
	va_list ap;

	if (m->failed)
		return;
	m->failed = 1;
	va_start(ap, fmt);
	if (vsnprintf(m->err, sizeof(m->err), fmt, ap) < 0)
		m->err[0] = '\0';
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

static uint32_t
mime_le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
mime_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---------------------------------------------------------------- strings for mime_info */

/* Appends c to dst[*len] keeping room for the NUL; sets *cut when it does not fit. */
static void
mime_put(char *dst, size_t cap, size_t *len, int c, int *cut)
{
	if (*len + 1 < cap)
		dst[(*len)++] = (char)c;
	else
		*cut = 1;
}

static void
mime_str_init(struct mime_str *w, char *dst, size_t cap)
{
	w->p = dst;
	w->cap = cap;
	w->len = 0;
	w->cut = 0;
	dst[0] = '\0';
}

/* Appends one code point as UTF-8, whole or not at all (and nothing once cut). */
static void
mime_str_cp(struct mime_str *w, uint32_t cp)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (w->cut || w->len + k >= w->cap) {
		w->cut = 1;
		return;
	}
	memcpy(w->p + w->len, b, k);
	w->len += k;
	w->p[w->len] = '\0';
}

/* windows-1252 0x80..0x9f; 0 where the code page has no character. */
static const uint16_t mime_cp1252[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178
};

/*
 * Appends s[0..n) in charset cs as UTF-8. Tabs become spaces; other control characters are
 * dropped when drop_ctl is set (decoded text), else they become '?' (raw header bytes), as do
 * bytes that are not valid in cs.
 */
static void
mime_str_text(struct mime_str *w, const unsigned char *s, size_t n, enum mime_charset cs,
    int drop_ctl)
{
	uint32_t cp;
	size_t i = 0, k;

	while (i < n && !w->cut) {
		k = 1;
		switch (cs) {
		case MIME_CS_LATIN1:
			cp = s[i];
			break;
		case MIME_CS_CP1252:
			cp = s[i];
			if (cp >= 0x80 && cp < 0xa0)
				cp = mime_cp1252[cp - 0x80] != 0 ? mime_cp1252[cp - 0x80] : '?';
			break;
		case MIME_CS_ASCII:
			cp = s[i] < 0x80 ? s[i] : '?';
			break;
		default:
			if ((k = norm_utf8_decode(s + i, n - i, &cp)) == 0) {
				cp = '?';
				k = 1;
			}
			break;
		}
		i += k;
		if (cp == '\t')
			cp = ' ';
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			if (drop_ctl)
				continue;
			cp = '?';
		}
		mime_str_cp(w, cp);
	}
}

/* Drops trailing blanks. */
static void
mime_str_rtrim(struct mime_str *w)
{
	while (w->len > 0 && w->p[w->len - 1] == ' ')
		w->len--;
	w->p[w->len] = '\0';
}

/* The charset named s[0..n) (an RFC 2231 "*language" suffix is ignored). */
static enum mime_charset
mime_charset_of(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum mime_charset cs;
	} names[] = {
		{ "utf-8", MIME_CS_UTF8 }, { "utf8", MIME_CS_UTF8 },
		{ "us-ascii", MIME_CS_ASCII }, { "ascii", MIME_CS_ASCII },
		{ "iso-8859-1", MIME_CS_LATIN1 }, { "iso8859-1", MIME_CS_LATIN1 },
		{ "iso_8859-1", MIME_CS_LATIN1 }, { "latin1", MIME_CS_LATIN1 },
		{ "latin-1", MIME_CS_LATIN1 }, { "l1", MIME_CS_LATIN1 },
		{ "windows-1252", MIME_CS_CP1252 }, { "cp1252", MIME_CS_CP1252 },
	};
	const char *star = memchr(s, '*', n);

	if (star != NULL)
		n = (size_t)(star - s);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (mime_eq_ci(s, n, names[i].name))
			return names[i].cs;
	}
	return MIME_CS_OTHER;
}

/*
 * Parses an RFC 2047 encoded word "=?charset?B|Q?text?=" at s[0..n). Returns its length, or
 * 0 when s does not start with one; sets the charset span, the encoding and the text span.
 */
static size_t
mime_word_parse(const char *s, size_t n, size_t *cs_len, int *enc, size_t *t_off, size_t *t_len)
{
	size_t i = 2, t;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	while (i < n && s[i] != '?' && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	if (i == 2 || i - 2 > MIME_CHARSET_MAX || i + 2 >= n || s[i] != '?' || s[i + 2] != '?')
		return 0;
	*cs_len = i - 2;
	*enc = mime_lower((unsigned char)s[i + 1]);
	if (*enc != 'b' && *enc != 'q')
		return 0;
	t = i + 3;
	for (i = t; i < n && s[i] != '?'; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	if (i + 1 >= n || s[i + 1] != '=')
		return 0;
	*t_off = t;
	*t_len = i - t;
	return i + 2;
}

/* Appends the decoded bytes of an encoded word's text to out[*on] (room for tlen bytes). */
static void
mime_word_decode(const char *t, size_t tlen, int enc, unsigned char *out, size_t *on)
{
	unsigned q[4];
	size_t qn = 0;
	int v, hi, lo;

	for (size_t i = 0; i < tlen; i++) {
		int c = (unsigned char)t[i];

		if (enc == 'q') {
			if (c == '_') {
				c = ' ';
			} else if (c == '=' && i + 2 < tlen &&
			    (hi = mime_hex((unsigned char)t[i + 1])) >= 0 &&
			    (lo = mime_hex((unsigned char)t[i + 2])) >= 0) {
				c = hi * 16 + lo;
				i += 2;
			}
			out[(*on)++] = (unsigned char)c;
			continue;
		}
		if ((v = norm_b64_digit(c)) < 0)
			break;
		q[qn++] = (unsigned)v;
		if (qn == 4) {
			out[(*on)++] = (unsigned char)((q[0] << 2 | q[1] >> 4) & 0xff);
			out[(*on)++] = (unsigned char)((q[1] << 4 | q[2] >> 2) & 0xff);
			out[(*on)++] = (unsigned char)((q[2] << 6 | q[3]) & 0xff);
			qn = 0;
		}
	}
	if (qn >= 2)
		out[(*on)++] = (unsigned char)((q[0] << 2 | q[1] >> 4) & 0xff);
	if (qn == 3)
		out[(*on)++] = (unsigned char)((q[1] << 4 | q[2] >> 2) & 0xff);
}

static int
mime_all_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!mime_is_blank((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/*
 * Appends the unfolded text s[0..n) with its RFC 2047 encoded words decoded. Blanks between
 * two encoded words go; adjacent words of one charset are joined before conversion (an
 * encoder may split a character between them). Words in unknown charsets stay as they are.
 */
static void
mime_words(const char *s, size_t n, struct mime_str *w)
{
	unsigned char pend[MIME_UNFOLD_MAX];
	size_t pn = 0, i = 0, lit = 0, len, cs_len, t_off, t_len;
	enum mime_charset pcs = MIME_CS_OTHER, cs;
	int enc, after_word = 0;

	if (n > sizeof(pend))
		n = sizeof(pend); /* callers pass at most MIME_UNFOLD_MAX bytes */
	while (i + 1 < n) {
		if (s[i] != '=' || s[i + 1] != '?' ||
		    (len = mime_word_parse(s + i, n - i, &cs_len, &enc, &t_off, &t_len)) == 0 ||
		    (cs = mime_charset_of(s + i + 2, cs_len)) == MIME_CS_OTHER) {
			i++;
			continue;
		}
		if (!after_word || !mime_all_blank(s + lit, i - lit) || cs != pcs) {
			mime_str_text(w, pend, pn, pcs, 1);
			pn = 0;
			if (!after_word || !mime_all_blank(s + lit, i - lit))
				mime_str_text(w, (const unsigned char *)s + lit, i - lit, MIME_CS_UTF8, 0);
		}
		pcs = cs;
		mime_word_decode(s + i + t_off, t_len, enc, pend, &pn);
		after_word = 1;
		i += len;
		lit = i;
	}
	mime_str_text(w, pend, pn, pcs, 1);
	mime_str_text(w, (const unsigned char *)s + lit, n - lit, MIME_CS_UTF8, 0);
}

/* Unfolds a raw header value into tmp: CR and LF dropped, blanks trimmed at both ends. */
static size_t
mime_unfold(const char *v, size_t n, char *tmp, size_t cap)
{
	size_t k = 0;
	int c;

	for (size_t i = 0; i < n && k < cap; i++) {
		c = (unsigned char)v[i];
		if (c == '\r' || c == '\n' || (k == 0 && mime_is_blank(c)))
			continue;
		tmp[k++] = (char)c;
	}
	while (k > 0 && mime_is_blank((unsigned char)tmp[k - 1]))
		k--;
	return k;
}

/* Copies a raw header value into dst: unfolded, trimmed, made safe, words decoded if asked. */
static void
mime_copy_value(const char *msg, const struct mime_span *v, int have, int words, char *dst,
    size_t cap)
{
	char tmp[MIME_UNFOLD_MAX];
	struct mime_str w;
	size_t n;

	mime_str_init(&w, dst, cap);
	if (!have)
		return;
	n = mime_unfold(msg + v->off, v->len, tmp, sizeof(tmp));
	if (words)
		mime_words(tmp, n, &w);
	else
		mime_str_text(&w, (const unsigned char *)tmp, n, MIME_CS_UTF8, 0);
	mime_str_rtrim(&w);
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
	/* The subject is valid UTF-8; a cut may have split its last character. */
	if (cut)
		mime_utf8_trim(dst, &n);
	while (n > 0 && mime_is_blank((unsigned char)dst[n - 1]))
		n--;
	dst[n] = '\0';
}

/* ---------------------------------------------------------------- header parameters */

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

/*
 * Appends an RFC 2231 extended value (charset'language'%XX...) to dst; when first is set the
 * charset and language prefix is dropped and the charset copied to cs.
 */
static void
mime_2231_append(const char *v, int first, char *dst, size_t cap, size_t *len, int *cut,
    char *cs, size_t cscap)
{
	const char *q, *q2;
	int hi, lo;

	if (first && (q = strchr(v, '\'')) != NULL && (q2 = strchr(q + 1, '\'')) != NULL) {
		size_t k = (size_t)(q - v) < cscap - 1 ? (size_t)(q - v) : cscap - 1;

		memcpy(cs, v, k);
		cs[k] = '\0';
		v = q2 + 1;
	}
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
 * type or disposition token). Writes the value, RFC 2231 sections joined and %XX decoded, to
 * dst, and the charset of an extended value to cs. Returns 0 absent, 1 a plain value,
 * 2 an RFC 2231 extended one; *cut is set when dst was too small.
 */
static int
mime_param(const char *p, size_t n, const char *want, char *dst, size_t cap, int *cut,
    char *cs, size_t cscap)
{
	char pname[MIME_PARAM_NAME_MAX], raw[MIME_PARAM_RAW_MAX], ext[MIME_PARAM_RAW_MAX];
	size_t i = 0, plen, rawlen, extlen = 0, dlen = 0, base;
	unsigned long section, next_section = 0;
	int c, found = 0, found_ext = 0, pcut, rcut, ecut = 0, extended, has_section;

	*cut = 0;
	dst[0] = '\0';
	ext[0] = '\0';
	cs[0] = '\0';
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
			mime_2231_append(raw, 1, ext, sizeof(ext), &extlen, &ecut, cs, cscap);
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
			mime_2231_append(raw, section == 0, ext, sizeof(ext), &extlen, &ecut, cs,
			    cscap);
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
		return 2;
	}
	cs[0] = '\0';
	return found;
}

/* A text parameter (a file name): decoded to UTF-8 into dst. Returns 1 found, 0 absent. */
static int
mime_param_text(const char *p, size_t n, const char *want, char *dst, size_t cap)
{
	char raw[MIME_PARAM_RAW_MAX], cs[MIME_CHARSET_MAX];
	struct mime_str w;
	enum mime_charset charset;
	int cut, kind;

	kind = mime_param(p, n, want, raw, sizeof(raw), &cut, cs, sizeof(cs));
	mime_str_init(&w, dst, cap);
	if (kind == 0)
		return 0;
	if (kind == 2) {
		/* No charset (or an unknown one): the bytes are taken as UTF-8, or '?'. */
		charset = cs[0] != '\0' ? mime_charset_of(cs, strlen(cs)) : MIME_CS_UTF8;
		mime_str_text(&w, (const unsigned char *)raw, strlen(raw),
		    charset == MIME_CS_OTHER ? MIME_CS_UTF8 : charset, 1);
	} else {
		mime_words(raw, strlen(raw), &w);
	}
	return 1;
}

/* Type, boundary and file name of an entity. */
static void
mime_parse_ctype(const char *msg, const struct mime_hdrs *h, struct mime_ctype *ct)
{
	char fname[sizeof(ct->name)], cs[MIME_CHARSET_MAX];
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
		if (mime_param(p, n, "boundary", ct->boundary, sizeof(ct->boundary), &cut, cs,
		    sizeof(cs)) && cut)
			ct->boundary_too_long = 1;
		(void)mime_param_text(p, n, "name", ct->name, sizeof(ct->name));
	}
	if (h->have_cdisp && mime_param_text(msg + h->cdisp.off, h->cdisp.len, "filename", fname,
	    sizeof(fname)) && fname[0] != '\0')
		memcpy(ct->name, fname, sizeof(ct->name));
}

static enum mime_cte
mime_cte_of(const char *msg, const struct mime_hdrs *h)
{
	char v[32];
	size_t k;

	mime_copy_value(msg, &h->cte, h->have_cte, 0, v, sizeof(v));
	for (k = 0; v[k] != '\0' && v[k] != ' ' && v[k] != ';' && v[k] != '('; k++)
		v[k] = (char)mime_lower((unsigned char)v[k]);
	v[k] = '\0';
	if (strcmp(v, "base64") == 0)
		return MIME_CTE_BASE64;
	if (strcmp(v, "quoted-printable") == 0)
		return MIME_CTE_QP;
	return MIME_CTE_IDENTITY;
}

static int
mime_is_zip(const struct mime_ctype *ct)
{
	const char *t = ct->type;

	return strcmp(t, "application/zip") == 0 || strcmp(t, "application/x-zip-compressed") == 0 ||
	    strcmp(t, "application/x-zip") == 0 ||
	    ((t[0] == '\0' || strcmp(t, "application/octet-stream") == 0) &&
	    mime_ends_ci(ct->name, ".zip"));
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
	    strcmp(t, "application/json") == 0 || strcmp(t, "application/zip") == 0 ||
	    strcmp(t, "application/x-zip-compressed") == 0 || strcmp(t, "application/x-zip") == 0)
		return MIME_RANK_GENERIC;
	if ((t[0] == '\0' || strcmp(t, "application/octet-stream") == 0) &&
	    (mime_ends_ci(ct->name, ".json") || mime_ends_ci(ct->name, ".gz") ||
	    mime_ends_ci(ct->name, ".zip")))
		return MIME_RANK_NAMED;
	return MIME_RANK_NONE;
}

/* ---------------------------------------------------------------- the candidate */

/* 1 when the decoded start p[0..n) of a body looks like JSON or gzip, 0 not, -1 not yet. */
static int
mime_sniff(const unsigned char *p, size_t n, int final)
{
	size_t i = 0;

	if (n >= 1 && p[0] == 0x1f) {
		if (n >= 2)
			return p[1] == 0x8b;
		return final ? 0 : -1;
	}
	if (n >= 1 && p[0] == 0xef) {
		if (n < 3 && !final)
			return -1;
		if (n >= 3 && p[1] == 0xbb && p[2] == 0xbf)
			i = 3; /* a UTF-8 byte order mark */
	}
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i < n)
		return p[i] == '{';
	return final || n >= MIME_SNIFF_BYTES ? 0 : -1;
}

static void
mime_zip_reset(struct mime_zip *z)
{
	z_stream zs = z->zs;
	int live = z->zs_live;

	memset(z, 0, sizeof(*z));
	/* Keep zlib's state (and its window) for the next archive. */
	z->zs = zs;
	z->zs_live = live;
	z->st = MIME_ZIP_SIG;
	z->bneed = 4;
}

/* Makes the part about to be read at level d the candidate. 0, or -1 out of memory. */
static int
mime_cand_start(struct mime *m, unsigned d, enum mime_rank rank, int sniff)
{
	struct mime_cand *c = &m->cand;
	const struct mime_level *lv = &m->lv[d];

	c->rank = rank;
	c->active = 1;
	c->sniff = sniff;
	c->dead = 0;
	memcpy(c->type, lv->ct.type, sizeof(c->type));
	memcpy(c->filename, lv->ct.name, sizeof(c->filename));
	buf_reset(&c->data);
	c->too_large = 0;
	c->nomem = 0;
	c->fail[0] = '\0';
	c->peeklen = 0;
	c->is_zip = !sniff && mime_is_zip(&lv->ct);
	if (c->is_zip) {
		if (c->zip == NULL && (c->zip = calloc(1, sizeof(*c->zip))) == NULL) {
			mime_fail(m, "out of memory");
			return -1;
		}
		mime_zip_reset(c->zip);
	}
	c->forwarded = 0;
	for (unsigned e = d; e > 0; e--) {
		if (m->lv[e].is_message) {
			c->forwarded = 1;
			memcpy(c->fwd_domain, m->lv[e].fwd_domain, sizeof(c->fwd_domain));
			memcpy(c->fwd_submitter, m->lv[e].fwd_submitter, sizeof(c->fwd_submitter));
			memcpy(c->fwd_report_id, m->lv[e].fwd_report_id, sizeof(c->fwd_report_id));
			break;
		}
	}
	return 0;
}

/* Report bytes out of the decoder (or the zip reader), under the cap. */
static void
mime_cand_append(struct mime *m, const void *p, size_t n)
{
	struct mime_cand *c = &m->cand;
	int rc;

	if (c->too_large || c->nomem || n == 0)
		return;
	if ((rc = buf_append(&c->data, p, n)) == BUF_ERR_CAP)
		c->too_large = 1;
	else if (rc != 0)
		c->nomem = 1;
}

/* A zip archive could not be read: the candidate fails with a reason. */
static void
mime_zip_fail(struct mime *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mime_zip_fail(struct mime *m, const char *fmt, ...)
{
	struct mime_cand *c = &m->cand;
	va_list ap;

	c->zip->st = MIME_ZIP_FAILED;
	if (c->fail[0] != '\0')
		return;
	va_start(ap, fmt);
	if (vsnprintf(c->fail, sizeof(c->fail), fmt, ap) < 0)
		c->fail[0] = '\0';
	va_end(ap);
}

static uint32_t
mime_crc(uint32_t crc, const unsigned char *p, size_t n)
{
	while (n > 0) {
		uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;

		crc = (uint32_t)crc32(crc, p, k);
		p += k;
		n -= k;
	}
	return crc;
}

/* Output of the entry being read: the .json one goes to the candidate. */
static void
mime_zip_out(struct mime *m, const unsigned char *p, size_t n)
{
	struct mime_zip *z = m->cand.zip;

	z->run_len += n;
	if (z->is_json) {
		z->run_crc = mime_crc(z->run_crc, p, n);
		mime_cand_append(m, p, n);
		if (m->cand.too_large || m->cand.nomem)
			z->st = MIME_ZIP_FAILED;
	} else if (z->run_len > m->lim.max_report_bytes) {
		mime_zip_fail(m, "zip entry %u is larger than the %zu-byte cap", z->entries,
		    m->lim.max_report_bytes);
	}
}

/* Checks the .json entry just read against its CRC and size. */
static void
mime_zip_check(struct mime *m, uint32_t crc, uint32_t usize)
{
	struct mime_zip *z = m->cand.zip;

	if (!z->is_json)
		return;
	if (z->run_crc != crc || (z->run_len & 0xffffffffu) != usize)
		mime_zip_fail(m, "zip entry %u: CRC or size does not match its data", z->entries);
	else
		z->json_done = 1;
}

/* The data of an entry has ended. */
static void
mime_zip_entry_done(struct mime *m)
{
	struct mime_zip *z = m->cand.zip;

	z->bn = 0;
	if (z->flags & 8) {
		z->st = MIME_ZIP_DESC;
		z->bneed = 4;
		return;
	}
	mime_zip_check(m, z->crc, z->usize);
	if (z->st != MIME_ZIP_FAILED) {
		z->st = MIME_ZIP_SIG;
		z->bneed = 4;
	}
}

/* The local header, name and extra field are read: on to the data. */
static void
mime_zip_data(struct mime *m)
{
	struct mime_zip *z = m->cand.zip;
	int rc;

	z->is_json = z->namelen >= 5 && memcmp(z->tail, ".json", 5) == 0;
	z->run_crc = (uint32_t)crc32(0L, Z_NULL, 0);
	z->run_len = 0;
	if (z->is_json && ++z->json_entries > 1) {
		mime_zip_fail(m, "zip archive holds more than one .json entry");
		return;
	}
	if (z->method == 0 && !(z->flags & 8)) {
		z->left = z->csize;
		z->st = z->is_json ? MIME_ZIP_STORED : MIME_ZIP_SKIP;
	} else if (!z->is_json && !(z->flags & 8)) {
		z->left = z->csize;
		z->st = MIME_ZIP_SKIP;
	} else if (z->method == 8) {
		if (z->zs_live)
			rc = inflateReset(&z->zs);
		else
			rc = inflateInit2(&z->zs, -MAX_WBITS);
		if (rc != Z_OK) {
			mime_zip_fail(m, "out of memory inflating zip entry %u", z->entries);
			return;
		}
		z->zs_live = 1;
		z->st = MIME_ZIP_INFLATE;
	} else if (z->method == 0) {
		mime_zip_fail(m, "zip entry %u is stored with a data descriptor: its end cannot be "
		    "found", z->entries);
	} else {
		mime_zip_fail(m, "zip entry %u uses compression method %u (only stored and deflate "
		    "are read)", z->entries, z->method);
	}
	if ((z->st == MIME_ZIP_STORED || z->st == MIME_ZIP_SKIP) && z->left == 0)
		mime_zip_entry_done(m); /* an empty entry */
}

/* Gathers record bytes into z->b up to z->bneed. Returns bytes used. */
static size_t
mime_zip_gather(struct mime_zip *z, const unsigned char *p, size_t n)
{
	size_t k = z->bneed - z->bn < n ? z->bneed - z->bn : n;

	memcpy(z->b + z->bn, p, k);
	z->bn += k;
	return k;
}

/* Inflates from p[0..n); returns the bytes used. */
static size_t
mime_zip_inflate(struct mime *m, const unsigned char *p, size_t n)
{
	struct mime_zip *z = m->cand.zip;
	unsigned char out[MIME_ZIP_CHUNK];
	size_t used = 0;
	int rc;

	while (z->st == MIME_ZIP_INFLATE && (used < n || z->zs.avail_out == 0)) {
		uInt in = n - used > 0x40000000u ? 0x40000000u : (uInt)(n - used);

		z->zs.next_in = (Bytef *)(uintptr_t)(p + used);
		z->zs.avail_in = in;
		z->zs.next_out = out;
		z->zs.avail_out = sizeof(out);
		rc = inflate(&z->zs, Z_NO_FLUSH);
		used += in - z->zs.avail_in;
		mime_zip_out(m, out, sizeof(out) - z->zs.avail_out);
		if (z->st != MIME_ZIP_INFLATE)
			break;
		if (rc == Z_STREAM_END) {
			mime_zip_entry_done(m);
			break;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			mime_zip_fail(m, "zip entry %u: bad deflate data", z->entries);
			break;
		}
		if (rc == Z_BUF_ERROR && z->zs.avail_out != 0)
			break; /* needs more input */
	}
	return used;
}

/* Decoded bytes of a zip attachment. */
static void
mime_zip_push(struct mime *m, const unsigned char *p, size_t n)
{
	struct mime_zip *z = m->cand.zip;
	size_t k;

	while (n > 0) {
		switch (z->st) {
		case MIME_ZIP_SIG:
			k = mime_zip_gather(z, p, n);
			if (z->bn < 4)
				break;
			if (memcmp(z->b, "PK\3\4", 4) == 0) {
				z->st = MIME_ZIP_HEAD;
				z->bneed = 30;
			} else if (memcmp(z->b, "PK\1\2", 4) == 0 || memcmp(z->b, "PK\5\6", 4) == 0 ||
			    z->json_done) {
				z->st = MIME_ZIP_END; /* (after the report, what follows is let be) */
			} else if (z->entries == 0) {
				mime_zip_fail(m, "zip attachment is not a zip archive");
			} else {
				mime_zip_fail(m, "zip archive: no entry header after entry %u",
				    z->entries);
			}
			break;
		case MIME_ZIP_HEAD:
			k = mime_zip_gather(z, p, n);
			if (z->bn < 30)
				break;
			z->entries++;
			z->flags = mime_le16(z->b + 6);
			z->method = mime_le16(z->b + 8);
			z->crc = mime_le32(z->b + 14);
			z->csize = mime_le32(z->b + 18);
			z->usize = mime_le32(z->b + 22);
			z->namelen = mime_le16(z->b + 26);
			z->left = z->namelen;
			z->xleft = mime_le16(z->b + 28);
			memset(z->tail, 0, sizeof(z->tail));
			if (z->flags & 0x41) {
				mime_zip_fail(m, "zip entry %u is encrypted", z->entries);
				break;
			}
			if (z->csize == 0xffffffffu || z->usize == 0xffffffffu) {
				mime_zip_fail(m, "zip entry %u is in zip64 form", z->entries);
				break;
			}
			z->st = MIME_ZIP_NAME;
			break;
		case MIME_ZIP_NAME:
			k = z->left < n ? z->left : n;
			for (size_t i = 0; i < k; i++) {
				memmove(z->tail, z->tail + 1, sizeof(z->tail) - 1);
				z->tail[sizeof(z->tail) - 1] = (unsigned char)mime_lower(p[i]);
			}
			z->left -= k;
			if (z->left == 0) {
				/* The extra field: its size was in the header (kept in xleft). */
				z->left = z->xleft;
				z->xleft = 0;
				z->xhn = 0;
				z->st = MIME_ZIP_EXTRA;
				if (z->left == 0)
					mime_zip_data(m);
			}
			break;
		case MIME_ZIP_EXTRA:
			/* id(2) size(2) data(size)...: a zip64 field (id 1) is refused. */
			if (z->xleft > 0) {
				k = z->xleft < n ? z->xleft : n;
				k = k < z->left ? k : z->left;
				z->xleft -= k;
			} else {
				k = 1;
				z->xh[z->xhn++] = p[0];
				if (z->xhn == 4) {
					z->xhn = 0;
					if (mime_le16(z->xh) == 1) {
						mime_zip_fail(m, "zip entry %u is in zip64 form",
						    z->entries);
						break;
					}
					z->xleft = mime_le16(z->xh + 2);
				}
			}
			z->left -= k;
			if (z->left == 0)
				mime_zip_data(m);
			break;
		case MIME_ZIP_STORED:
		case MIME_ZIP_SKIP:
			k = z->left < n ? z->left : n;
			if (z->st == MIME_ZIP_STORED)
				mime_zip_out(m, p, k);
			z->left -= k;
			if (z->left == 0 && z->st != MIME_ZIP_FAILED)
				mime_zip_entry_done(m);
			break;
		case MIME_ZIP_INFLATE:
			k = mime_zip_inflate(m, p, n);
			break;
		case MIME_ZIP_DESC:
			/* crc(4) csize(4) usize(4), maybe after a "PK\7\8" signature. */
			k = mime_zip_gather(z, p, n);
			if (z->bn == 4 && z->bneed == 4) {
				z->bneed = memcmp(z->b, "PK\7\10", 4) == 0 ? 16 : 12;
				break;
			}
			if (z->bn < z->bneed)
				break;
			{
				const unsigned char *dd = z->b + (z->bneed == 16 ? 4 : 0);

				mime_zip_check(m, mime_le32(dd), mime_le32(dd + 8));
			}
			if (z->st != MIME_ZIP_FAILED) {
				z->st = MIME_ZIP_SIG;
				z->bn = 0;
				z->bneed = 4;
			}
			break;
		default:
			return; /* the central directory, or failed: the rest does not matter */
		}
		p += k;
		n -= k;
	}
}

/* The zip attachment has ended. */
static void
mime_zip_finish(struct mime *m)
{
	struct mime_zip *z = m->cand.zip;

	if (z->st == MIME_ZIP_FAILED)
		return;
	if (z->entries == 0 && z->st == MIME_ZIP_SIG)
		mime_zip_fail(m, z->bn == 0 ? "zip attachment is empty" :
		    "zip attachment is not a zip archive");
	else if (z->json_entries == 0 && z->st != MIME_ZIP_END && z->st != MIME_ZIP_SIG)
		mime_zip_fail(m, "zip archive is truncated");
	else if (z->json_entries == 0)
		mime_zip_fail(m, "zip archive holds no .json entry");
	else if (!z->json_done)
		mime_zip_fail(m, "zip archive is truncated in its .json entry");
}

/* Decoded bytes of the part being captured. */
static void
mime_capture(struct mime *m, const unsigned char *p, size_t n)
{
	struct mime_cand *c = &m->cand;
	size_t k;
	int v;

	if (c->dead)
		return;
	if (c->is_zip) {
		mime_zip_push(m, p, n);
		return;
	}
	mime_cand_append(m, p, n);
	if (c->sniff) {
		k = sizeof(c->peek) - c->peeklen < n ? sizeof(c->peek) - c->peeklen : n;
		memcpy(c->peek + c->peeklen, p, k);
		c->peeklen += k;
		if ((v = mime_sniff(c->peek, c->peeklen, 0)) >= 0) {
			c->sniff = 0;
			if (v == 1) {
				c->rank = MIME_RANK_NAMED; /* any rank: nothing else competes */
			} else {
				c->dead = 1;
				buf_reset(&c->data);
			}
		}
	}
}

/* The part being captured has ended. */
static void
mime_capture_end(struct mime *m)
{
	struct mime_cand *c = &m->cand;

	if (c->dead)
		return;
	if (c->sniff) {
		c->sniff = 0;
		if (mime_sniff(c->peek, c->peeklen, 1) == 1) {
			c->rank = MIME_RANK_NAMED;
		} else {
			c->dead = 1;
			buf_reset(&c->data);
		}
	} else if (c->is_zip) {
		mime_zip_finish(m);
	}
}

/* ---------------------------------------------------------------- transfer decoding */

/* Decoded bytes of level d go on: to the candidate (a leaf) or to the child (a message). */
static void
mime_emit(struct mime *m, unsigned d, const unsigned char *p, size_t n)
{
	if (n == 0 || m->failed)
		return;
	if (m->lv[d].st == MIME_ST_MESSAGE)
		mime_level_push(m, d + 1, p, n);
	else
		mime_capture(m, p, n);
}

static void
mime_stage_put(struct mime *m, unsigned d, struct mime_stage *s, int c)
{
	s->b[s->n++] = (unsigned char)c;
	if (s->n == sizeof(s->b)) {
		mime_emit(m, d, s->b, s->n);
		s->n = 0;
	}
}

static void
mime_b64_push(struct mime *m, unsigned d, const unsigned char *p, size_t n, struct mime_stage *s)
{
	struct mime_dec *dc = &m->lv[d].dec;
	int c, v;

	for (size_t i = 0; i < n && !dc->b64_end; i++) {
		c = p[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
			continue;
		if ((v = norm_b64_digit(c)) < 0) {
			dc->b64_end = 1; /* '=' padding, or a byte that is not base64: the end */
			break;
		}
		dc->q[dc->qn++] = (unsigned)v;
		if (dc->qn == 4) {
			dc->qn = 0;
			mime_stage_put(m, d, s, (int)((dc->q[0] << 2 | dc->q[1] >> 4) & 0xff));
			mime_stage_put(m, d, s, (int)((dc->q[1] << 4 | dc->q[2] >> 2) & 0xff));
			mime_stage_put(m, d, s, (int)((dc->q[2] << 6 | dc->q[3]) & 0xff));
		}
	}
}

static void
mime_b64_finish(struct mime *m, unsigned d, struct mime_stage *s)
{
	struct mime_dec *dc = &m->lv[d].dec;

	/* Missing padding: 2 sextets make 1 byte, 3 make 2; a lone sextet is no byte. */
	if (dc->qn >= 2)
		mime_stage_put(m, d, s, (int)((dc->q[0] << 2 | dc->q[1] >> 4) & 0xff));
	if (dc->qn == 3)
		mime_stage_put(m, d, s, (int)((dc->q[1] << 4 | dc->q[2] >> 2) & 0xff));
	dc->qn = 0;
}

/* Quoted-printable: an "=X" held is data after all. */
static void
mime_qp_release_escape(struct mime *m, unsigned d, struct mime_stage *s)
{
	struct mime_dec *dc = &m->lv[d].dec;

	if (dc->qe == 2) {
		mime_stage_put(m, d, s, '=');
		mime_stage_put(m, d, s, dc->qx);
		dc->qe = 0;
	}
}

/* Quoted-printable: "=", blanks and a CR held are data after all. */
static void
mime_qp_release(struct mime *m, unsigned d, struct mime_stage *s)
{
	struct mime_dec *dc = &m->lv[d].dec;

	mime_qp_release_escape(m, d, s);
	if (dc->qe == 1)
		mime_stage_put(m, d, s, '=');
	dc->qe = 0;
	for (size_t i = 0; i < dc->qbn; i++)
		mime_stage_put(m, d, s, dc->qb[i]);
	dc->qbn = 0;
	if (dc->qcr)
		mime_stage_put(m, d, s, '\r');
	dc->qcr = 0;
}

/* Quoted-printable: the end of a line (break: 0 none, 1 LF, 2 CRLF). */
static void
mime_qp_eol(struct mime *m, unsigned d, struct mime_stage *s, int brk)
{
	struct mime_dec *dc = &m->lv[d].dec;
	int soft;

	mime_qp_release_escape(m, d, s);
	soft = dc->qe == 1;
	dc->qe = 0;
	dc->qbn = 0;
	dc->qcr = 0;
	if (soft || brk == 0)
		return;
	if (brk == 2)
		mime_stage_put(m, d, s, '\r');
	mime_stage_put(m, d, s, '\n');
}

/*
 * Quoted-printable, one byte at a time. What cannot be told yet is held: an "=" or "=X"
 * (escape or soft break?), blanks (trailing?) and a CR (end of line?).
 */
static void
mime_qp_push(struct mime *m, unsigned d, const unsigned char *p, size_t n, struct mime_stage *s)
{
	struct mime_dec *dc = &m->lv[d].dec;
	int c, hi;

	for (size_t i = 0; i < n; i++) {
		c = p[i];
		if (dc->qcr) {
			if (c == '\n') {
				mime_qp_eol(m, d, s, 2);
				continue;
			}
			mime_qp_release(m, d, s);
		}
		if (c == '\n') {
			mime_qp_eol(m, d, s, 1);
		} else if (c == '\r') {
			mime_qp_release_escape(m, d, s);
			dc->qcr = 1;
		} else if (c == ' ' || c == '\t') {
			mime_qp_release_escape(m, d, s);
			if (dc->qbn == sizeof(dc->qb))
				mime_qp_release(m, d, s);
			dc->qb[dc->qbn++] = (unsigned char)c;
		} else if (c == '=') {
			mime_qp_release(m, d, s);
			dc->qe = 1;
		} else if (dc->qe == 1 && dc->qbn == 0 && mime_hex(c) >= 0) {
			dc->qe = 2;
			dc->qx = c;
		} else if (dc->qe == 2 && (hi = mime_hex(dc->qx)) >= 0 && mime_hex(c) >= 0) {
			mime_stage_put(m, d, s, hi * 16 + mime_hex(c));
			dc->qe = 0;
		} else {
			mime_qp_release(m, d, s);
			mime_stage_put(m, d, s, c);
		}
	}
}

/* Pushes encoded body bytes of level d through its decoder. */
static void
mime_decode(struct mime *m, unsigned d, const unsigned char *p, size_t n)
{
	struct mime_stage s;

	switch (m->lv[d].dec.cte) {
	case MIME_CTE_BASE64:
		if (m->lv[d].dec.b64_end)
			return;
		s.n = 0;
		mime_b64_push(m, d, p, n, &s);
		mime_emit(m, d, s.b, s.n);
		break;
	case MIME_CTE_QP:
		s.n = 0;
		mime_qp_push(m, d, p, n, &s);
		mime_emit(m, d, s.b, s.n);
		break;
	default:
		mime_emit(m, d, p, n);
		break;
	}
}

/* The encoded body of level d has ended: what the decoder holds goes out. */
static void
mime_decode_finish(struct mime *m, unsigned d)
{
	struct mime_stage s;

	s.n = 0;
	if (m->lv[d].dec.cte == MIME_CTE_BASE64)
		mime_b64_finish(m, d, &s);
	else if (m->lv[d].dec.cte == MIME_CTE_QP)
		mime_qp_eol(m, d, &s, 0);
	mime_emit(m, d, s.b, s.n);
}

/* ---------------------------------------------------------------- header sections */

/* Length of the field name at the start of the held line p[0..n) (name, blanks). */
static size_t
mime_field_name(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] > 32 && p[i] < 127 && p[i] != ':')
		i++;
	return i;
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

/* Files the field being read (if any) into m->h. */
static void
mime_field_done(struct mime *m)
{
	struct mime_hdrs *h = &m->h;
	size_t nlen = m->fname_len, voff = m->fval_off, vlen = m->fval_end - m->fval_off;
	const char *name;

	if (!m->infield)
		return;
	m->infield = 0;
	name = m->hdr.data + m->fname_off;
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

/* Appends header line bytes to the section. 0, or -1 (failed: too large). */
static int
mime_hdr_append(struct mime *m, const void *p, size_t n)
{
	if (n > m->lim.max_header_bytes - m->hdr.len) {
		mime_fail(m, "%s header section is larger than %zu bytes",
		    m->parts > 1 ? "a MIME part's" : "the message's", m->lim.max_header_bytes);
		return -1;
	}
	if (buf_append(&m->hdr, p, n) != 0) {
		mime_fail(m, "out of memory reading a header section");
		return -1;
	}
	return 0;
}

/* A header line (field or continuation) starts. 0, or -1 (failed). */
static int
mime_hdr_line(struct mime *m)
{
	if (++m->hlines > m->lim.max_header_lines) {
		mime_fail(m, "%s header section has more than %u lines",
		    m->parts > 1 ? "a MIME part's" : "the message's", m->lim.max_header_lines);
		return -1;
	}
	return 0;
}

/* The header line in the section buffer has ended (its LF, if any, appended). */
static void
mime_hdr_line_end(struct mime *m)
{
	size_t end = m->hdr.len;

	if (end > 0 && m->hdr.data[end - 1] == '\n')
		end--;
	if (end > m->fval_off && m->hdr.data[end - 1] == '\r')
		end--;
	m->fval_end = end > m->fval_off ? end : m->fval_off;
}

/* Starts the body of level d: a multipart, a message or a leaf. */
static void
mime_body_start(struct mime *m, unsigned d)
{
	struct mime_level *lv = &m->lv[d];
	const struct mime_ctype *ct = &lv->ct;
	enum mime_rank rank;

	lv->ln = MIME_LN_START;
	lv->holdlen = 0;
	lv->brklen = 0;
	lv->held_cr = 0;
	lv->part = 0;
	if (strncmp(ct->type, "multipart/", 10) == 0) {
		if (ct->boundary_too_long) {
			mime_fail(m, "%s boundary is longer than %d bytes", ct->type,
			    MIME_BOUNDARY_MAX);
			return;
		}
		if (ct->boundary[0] == '\0') {
			lv->st = MIME_ST_SKIP; /* no boundary: no parts that can be found */
			return;
		}
		if (d >= m->lim.max_depth) {
			mime_fail(m, "multiparts or messages nested deeper than %u levels",
			    m->lim.max_depth);
			return;
		}
		lv->st = MIME_ST_MULTI;
		return;
	}
	if (strcmp(ct->type, "message/rfc822") == 0 || strcmp(ct->type, "message/global") == 0) {
		if (d >= m->lim.max_depth) {
			mime_fail(m, "multiparts or messages nested deeper than %u levels",
			    m->lim.max_depth);
			return;
		}
		if (++m->parts > m->lim.max_parts) {
			mime_fail(m, "message has more than %u MIME parts", m->lim.max_parts);
			return;
		}
		lv->st = MIME_ST_MESSAGE;
		memset(&m->lv[d + 1], 0, offsetof(struct mime_level, fwd_domain));
		m->lv[d + 1].st = MIME_ST_HEADERS;
		m->lv[d + 1].is_message = 1;
		m->lv[d + 1].fwd_domain[0] = '\0';
		m->lv[d + 1].fwd_submitter[0] = '\0';
		m->lv[d + 1].fwd_report_id[0] = '\0';
		return;
	}
	rank = mime_rank_of(ct);
	lv->st = MIME_ST_SKIP;
	if (rank > m->cand.rank) {
		if (mime_cand_start(m, d, rank, 0) == 0)
			lv->st = MIME_ST_LEAF;
	} else if (d == 0) {
		/* A lone body of any type: kept if it starts like JSON or gzip. */
		if (mime_cand_start(m, d, MIME_RANK_NONE, 1) == 0)
			lv->st = MIME_ST_LEAF;
	}
}

/* The header section of level d has ended: file it and start the body. */
static void
mime_hdr_end(struct mime *m, unsigned d)
{
	struct mime_level *lv = &m->lv[d];
	const char *msg;
	char subject[MIME_HEADER_VALUE_MAX];

	if (m->failed)
		return;
	mime_field_done(m);
	msg = m->hdr.data != NULL ? m->hdr.data : "";
	mime_parse_ctype(msg, &m->h, &lv->ct);
	memset(&lv->dec, 0, sizeof(lv->dec));
	lv->dec.cte = mime_cte_of(msg, &m->h);
	if (d == 0) {
		struct mime_info *in = &m->info;

		m->top_started = 1;

		mime_copy_value(msg, &m->h.domain, m->h.have_domain, 0, in->tls_report_domain,
		    sizeof(in->tls_report_domain));
		mime_copy_value(msg, &m->h.submitter, m->h.have_submitter, 0,
		    in->tls_report_submitter, sizeof(in->tls_report_submitter));
		mime_copy_value(msg, &m->h.subject, m->h.have_subject, 1, in->subject,
		    sizeof(in->subject));
		mime_subject_report_id(in->subject, in->subject_report_id,
		    sizeof(in->subject_report_id));
		mime_copy_value(msg, &m->h.msgid, m->h.have_msgid, 0, in->message_id,
		    sizeof(in->message_id));
		mime_copy_value(msg, &m->h.from, m->h.have_from, 1, in->from, sizeof(in->from));
	} else if (lv->is_message) {
		mime_copy_value(msg, &m->h.domain, m->h.have_domain, 0, lv->fwd_domain,
		    sizeof(lv->fwd_domain));
		mime_copy_value(msg, &m->h.submitter, m->h.have_submitter, 0, lv->fwd_submitter,
		    sizeof(lv->fwd_submitter));
		mime_copy_value(msg, &m->h.subject, m->h.have_subject, 1, subject,
		    sizeof(subject));
		mime_subject_report_id(subject, lv->fwd_report_id, sizeof(lv->fwd_report_id));
	}
	buf_reset(&m->hdr);
	memset(&m->h, 0, sizeof(m->h));
	m->hlines = 0;
	m->infield = 0;
	mime_body_start(m, d);
}

/*
 * The held line of level d turned out to be the first body line: the header section ends
 * and the held bytes are read again as body.
 */
static void
mime_hdr_end_replay(struct mime *m, unsigned d)
{
	unsigned char again[MIME_HOLD_MAX];
	size_t n = m->lv[d].holdlen;

	memcpy(again, m->lv[d].hold, n);
	m->lv[d].holdlen = 0;
	mime_hdr_end(m, d);
	if (!m->failed && n > 0)
		mime_level_push(m, d, again, n);
}

/* A held line became a header line (field or continuation): it moves to the section. */
static int
mime_hdr_take_held(struct mime *m, struct mime_level *lv)
{
	if (mime_hdr_line(m) != 0 || mime_hdr_append(m, lv->hold, lv->holdlen) != 0)
		return -1;
	lv->holdlen = 0;
	lv->ln = MIME_LN_FIELD;
	return 0;
}

/* Header section bytes of level d. Returns the bytes used (the rest belongs to the body). */
static size_t
mime_hdr_push(struct mime *m, unsigned d, const unsigned char *p, size_t n)
{
	struct mime_level *lv = &m->lv[d];
	const unsigned char *lf;
	size_t i = 0, k, start;
	int c;

	while (i < n && !m->failed && lv->st == MIME_ST_HEADERS) {
		if (lv->ln == MIME_LN_FIELD) {
			lf = memchr(p + i, '\n', n - i);
			k = lf != NULL ? (size_t)(lf - (p + i)) + 1 : n - i;
			if (mime_hdr_append(m, p + i, k) != 0)
				return n;
			i += k;
			if (lf != NULL) {
				mime_hdr_line_end(m);
				lv->ln = MIME_LN_START;
			}
			continue;
		}
		c = p[i];
		if (lv->ln == MIME_LN_START) {
			if (c == '\n') {
				/* The empty line: the body starts after it. */
				mime_hdr_end(m, d);
				return i + 1;
			}
			if (mime_is_blank(c) && m->infield) {
				/* A continuation line of the field being read. */
				if (mime_hdr_line(m) != 0)
					return n;
				lv->ln = MIME_LN_FIELD;
				continue;
			}
			if (c == '\r') {
				lv->hold[lv->holdlen++] = (unsigned char)c;
				lv->cls = MIME_CLS_CR;
				lv->ln = MIME_LN_HOLD;
				i++;
				continue;
			}
			/*
			 * Not a field name: the first body line. A name may not start with '{' or
			 * '[': RFC 5322 allows it, but no real field does, and a compact JSON report
			 * ({"organization-name":...) would otherwise read as a header.
			 */
			if (c <= 32 || c >= 127 || c == ':' || c == '{' || c == '[') {
				mime_hdr_end(m, d);
				return i;
			}
			lv->hold[lv->holdlen++] = (unsigned char)c;
			lv->cls = MIME_CLS_NAME;
			lv->ln = MIME_LN_HOLD;
			i++;
			continue;
		}
		/* MIME_LN_HOLD: a field name so far, or a lone CR. */
		if (lv->cls == MIME_CLS_CR) {
			if (c == '\n') {
				lv->holdlen = 0;
				mime_hdr_end(m, d);
				return i + 1;
			}
			mime_hdr_end_replay(m, d);
			return i;
		}
		if (c == ':') {
			/* A new field: name, blanks, ':'. */
			mime_field_done(m);
			start = m->hdr.len;
			k = lv->holdlen;
			m->fname_len = mime_field_name(lv->hold, k);
			if (mime_hdr_take_held(m, lv) != 0)
				return n;
			m->infield = 1;
			m->fname_off = start;
			m->fval_off = start + k + 1;
			m->fval_end = m->fval_off;
			continue; /* the ':' is copied with the rest of the line */
		}
		if (lv->holdlen >= DKIM_FIELD_NAME_MAX ||
		    !(mime_is_blank(c) || (lv->cls == MIME_CLS_NAME && c > 32 && c < 127))) {
			mime_hdr_end_replay(m, d);
			return i;
		}
		if (mime_is_blank(c))
			lv->cls = MIME_CLS_BLANK;
		lv->hold[lv->holdlen++] = (unsigned char)c;
		i++;
	}
	return i;
}

/* ---------------------------------------------------------------- multipart bodies */

/* 1 when line[0..len) is a delimiter line of boundary b; *close set for "--b--". */
static int
mime_is_delim(const unsigned char *line, size_t len, const char *b, size_t blen, int *close)
{
	size_t i;

	if (len < blen + 2 || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, blen) != 0)
		return 0;
	i = blen + 2;
	*close = len - i >= 2 && line[i] == '-' && line[i + 1] == '-';
	if (*close)
		i += 2;
	for (; i < len; i++) {
		if (!mime_is_blank(line[i]))
			return 0;
	}
	return 1;
}

/* May h[0..n) followed by c still be (the start of) a delimiter line of boundary b? */
static int
mime_delim_more(const unsigned char *h, size_t n, int c, const char *b, size_t blen)
{
	if (n < 2)
		return c == '-';
	if (n < 2 + blen)
		return c == (unsigned char)b[n - 2];
	if (h[n - 1] == '\r')
		return 0; /* only the LF may follow the CR */
	if (c == '-')
		return n == 2 + blen || (n == 3 + blen && h[2 + blen] == '-');
	if (c == '\r' || mime_is_blank(c))
		return !(n == 3 + blen && h[2 + blen] == '-');
	return 0;
}

/* Bytes of the part being read by multipart level d go to its child (not the preamble). */
static void
mime_multi_out(struct mime *m, unsigned d, const void *p, size_t n)
{
	if (m->lv[d].part == 1 && n > 0 && !m->failed)
		mime_level_push(m, d + 1, p, n);
}

/* The held line of multipart level d is data: it goes out with the line break before it. */
static void
mime_multi_release(struct mime *m, unsigned d)
{
	struct mime_level *lv = &m->lv[d];

	mime_multi_out(m, d, lv->brk, lv->brklen);
	mime_multi_out(m, d, lv->hold, lv->holdlen);
	lv->brklen = 0;
	lv->holdlen = 0;
}

/* A delimiter line of multipart level d. */
static void
mime_multi_delim(struct mime *m, unsigned d, int close)
{
	struct mime_level *lv = &m->lv[d];

	lv->brklen = 0; /* the line break before a delimiter belongs to it */
	lv->holdlen = 0;
	lv->ln = MIME_LN_START;
	if (lv->part == 1)
		mime_level_finish(m, d + 1);
	if (m->failed)
		return;
	if (close) {
		lv->part = 2;
		return;
	}
	if (++m->parts > m->lim.max_parts) {
		mime_fail(m, "message has more than %u MIME parts", m->lim.max_parts);
		return;
	}
	lv->part = 1;
	memset(&m->lv[d + 1], 0, offsetof(struct mime_level, fwd_domain));
	m->lv[d + 1].st = MIME_ST_HEADERS;
}

/* Body bytes of multipart level d. Returns the bytes used. */
static size_t
mime_multi_push(struct mime *m, unsigned d, const unsigned char *p, size_t n)
{
	struct mime_level *lv = &m->lv[d];
	const char *b = lv->ct.boundary;
	const unsigned char *lf;
	size_t blen = strlen(b), i = 0, j, e, len;
	int c, close;

	while (i < n && !m->failed) {
		if (lv->part == 2)
			return n; /* the epilogue */
		c = p[i];
		if (lv->ln == MIME_LN_DATA) {
			if (lv->held_cr) {
				lv->held_cr = 0;
				if (c == '\n') {
					memcpy(lv->brk, "\r\n", 2);
					lv->brklen = 2;
					lv->ln = MIME_LN_START;
					i++;
					continue;
				}
				mime_multi_out(m, d, "\r", 1);
			}
			/* Up to the LF; a CR just before it (or at the end of p) may be its CRLF. */
			lf = memchr(p + i, '\n', n - i);
			j = lf != NULL ? (size_t)(lf - p) : n;
			e = j > i && p[j - 1] == '\r' ? j - 1 : j;
			mime_multi_out(m, d, p + i, e - i);
			if (lf == NULL) {
				lv->held_cr = e < j;
				return n;
			}
			if (e < j) {
				memcpy(lv->brk, "\r\n", 2);
				lv->brklen = 2;
			} else {
				lv->brk[0] = '\n';
				lv->brklen = 1;
			}
			lv->ln = MIME_LN_START;
			i = j + 1;
			continue;
		}
		/* MIME_LN_START or MIME_LN_HOLD: could this line be a delimiter? */
		if (c == '\n') {
			len = lv->holdlen;
			if (len > 0 && lv->hold[len - 1] == '\r')
				len--;
			if (len > 0 && mime_is_delim(lv->hold, len, b, blen, &close)) {
				mime_multi_delim(m, d, close);
			} else {
				int cr = len < lv->holdlen;

				lv->holdlen = len;
				mime_multi_release(m, d);
				if (cr)
					memcpy(lv->brk, "\r\n", 2);
				else
					lv->brk[0] = '\n';
				lv->brklen = cr ? 2 : 1;
				lv->ln = MIME_LN_START;
			}
			i++;
			continue;
		}
		if (lv->holdlen < sizeof(lv->hold) &&
		    mime_delim_more(lv->hold, lv->holdlen, c, b, blen)) {
			lv->hold[lv->holdlen++] = (unsigned char)c;
			lv->ln = MIME_LN_HOLD;
			i++;
			continue;
		}
		mime_multi_release(m, d);
		lv->ln = MIME_LN_DATA;
	}
	return n;
}

/* The body of multipart level d has ended. */
static void
mime_multi_finish(struct mime *m, unsigned d)
{
	struct mime_level *lv = &m->lv[d];
	size_t len;
	int close;

	if (lv->part == 2)
		return;
	if (lv->ln == MIME_LN_DATA) {
		if (lv->held_cr)
			mime_multi_out(m, d, "\r", 1);
		lv->held_cr = 0;
	} else {
		/* A last line with no LF may still be a delimiter. */
		len = lv->holdlen;
		if (len > 0 && lv->hold[len - 1] == '\r')
			len--;
		if (len > 0 && mime_is_delim(lv->hold, len, lv->ct.boundary,
		    strlen(lv->ct.boundary), &close)) {
			mime_multi_delim(m, d, close);
			if (close || m->failed)
				return;
		} else {
			mime_multi_release(m, d);
		}
	}
	m->unclosed = 1;
	if (lv->part == 1)
		mime_level_finish(m, d + 1);
}

/* ---------------------------------------------------------------- levels */

/* Bytes of the entity at level d. */
static void
mime_level_push(struct mime *m, unsigned d, const unsigned char *p, size_t n)
{
	struct mime_level *lv = &m->lv[d];
	const unsigned char *lf;
	size_t k;

	while (n > 0 && !m->failed) {
		/* Top-level body bytes are counted: where the body started is pushed - top_body. */
		int top_body = d == 0 && lv->st != MIME_ST_MBOX && lv->st != MIME_ST_MBOXLINE &&
		    lv->st != MIME_ST_HEADERS;

		switch (lv->st) {
		case MIME_ST_MBOX:
			k = 0;
			while (k < n && lv->holdlen < 5 && p[k] == (unsigned char)"From "[lv->holdlen])
				lv->hold[lv->holdlen++] = p[k++];
			if (lv->holdlen == 5) {
				lv->holdlen = 0;
				lv->st = MIME_ST_MBOXLINE;
			} else if (k < n) {
				/* Not an mbox line: what was held is the first header bytes. */
				unsigned char again[5];
				size_t h = lv->holdlen;

				memcpy(again, lv->hold, h);
				lv->holdlen = 0;
				lv->st = MIME_ST_HEADERS;
				mime_level_push(m, d, again, h);
			}
			break;
		case MIME_ST_MBOXLINE:
			lf = memchr(p, '\n', n);
			k = lf != NULL ? (size_t)(lf - p) + 1 : n;
			if (lf != NULL)
				lv->st = MIME_ST_HEADERS;
			break;
		case MIME_ST_HEADERS:
			k = mime_hdr_push(m, d, p, n);
			break;
		case MIME_ST_MULTI:
			k = mime_multi_push(m, d, p, n);
			break;
		case MIME_ST_LEAF:
		case MIME_ST_MESSAGE:
			mime_decode(m, d, p, n);
			k = n;
			break;
		default:
			k = n;
			break;
		}
		if (top_body)
			m->top_body += k;
		p += k;
		n -= k;
	}
}

/* The entity at level d has ended. */
static void
mime_level_finish(struct mime *m, unsigned d)
{
	struct mime_level *lv = &m->lv[d];

	while (!m->failed) {
		switch (lv->st) {
		case MIME_ST_MBOX:
			lv->st = MIME_ST_HEADERS;
			if (lv->holdlen > 0) {
				unsigned char again[5];
				size_t h = lv->holdlen;

				memcpy(again, lv->hold, h);
				lv->holdlen = 0;
				mime_level_push(m, d, again, h);
			}
			continue;
		case MIME_ST_MBOXLINE:
			lv->st = MIME_ST_HEADERS;
			continue;
		case MIME_ST_HEADERS:
			if (lv->ln == MIME_LN_FIELD) {
				mime_hdr_line_end(m);
			} else if (lv->ln == MIME_LN_HOLD && lv->cls != MIME_CLS_CR) {
				/* A last line that never reached a ':' is the body. */
				mime_hdr_end_replay(m, d);
				continue;
			}
			lv->holdlen = 0;
			mime_hdr_end(m, d);
			continue;
		case MIME_ST_LEAF:
			mime_decode_finish(m, d);
			mime_capture_end(m);
			break;
		case MIME_ST_MULTI:
			mime_multi_finish(m, d);
			break;
		case MIME_ST_MESSAGE:
			mime_decode_finish(m, d);
			if (!m->failed)
				mime_level_finish(m, d + 1);
			break;
		default:
			break;
		}
		break;
	}
	lv->st = MIME_ST_SKIP;
}

/* ---------------------------------------------------------------- the API */

struct mime *
mime_new(const struct mime_limits *lim)
{
	struct mime *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if (lim != NULL)
		m->lim = *lim;
	if (m->lim.max_header_bytes == 0)
		m->lim.max_header_bytes = MIME_HDR_BYTES_DEFAULT;
	if (m->lim.max_header_lines == 0)
		m->lim.max_header_lines = MIME_HDR_LINES_DEFAULT;
	if (m->lim.max_depth == 0)
		m->lim.max_depth = MIME_DEPTH_DEFAULT;
	if (m->lim.max_depth > MIME_DEPTH_CEILING)
		m->lim.max_depth = MIME_DEPTH_CEILING;
	if (m->lim.max_parts == 0)
		m->lim.max_parts = MIME_PARTS_DEFAULT;
	if (m->lim.max_report_bytes == 0)
		m->lim.max_report_bytes = MIME_REPORT_DEFAULT;
	if (m->lim.max_header_bytes >= SIZE_MAX)
		m->lim.max_header_bytes = SIZE_MAX - 1;
	if (m->lim.max_report_bytes >= SIZE_MAX)
		m->lim.max_report_bytes = SIZE_MAX - 1;
	if ((m->lv = calloc(m->lim.max_depth + 1, sizeof(*m->lv))) == NULL) {
		free(m);
		return NULL;
	}
	buf_init(&m->hdr, m->lim.max_header_bytes);
	buf_init(&m->cand.data, m->lim.max_report_bytes);
	m->lv[0].st = MIME_ST_MBOX;
	m->lv[0].is_message = 1;
	m->parts = 1;
	return m;
}

int
mime_push(struct mime *m, const void *data, size_t len)
{
	if (m == NULL)
		return -1;
	if (m->finished) {
		mime_fail(m, "mime_push: the message was already finished");
		return -1;
	}
	if (m->failed)
		return -1;
	if (data == NULL || len == 0)
		return 0;
	m->pushed += len;
	mime_level_push(m, 0, data, len);
	return m->failed ? -1 : 0;
}

/* Fills what the caller sees of info. */
static void
mime_fill_info(const struct mime *m, struct mime_info *info)
{
	const struct mime_cand *c = &m->cand;

	*info = m->info;
	info->multipart_unclosed = m->unclosed;
	info->body_offset = m->top_started && !m->failed ? (long long)(m->pushed - m->top_body) : -1;
	if (!c->active || !c->forwarded)
		return;
	if (info->tls_report_domain[0] == '\0')
		memcpy(info->tls_report_domain, c->fwd_domain, sizeof(info->tls_report_domain));
	if (info->tls_report_submitter[0] == '\0')
		memcpy(info->tls_report_submitter, c->fwd_submitter,
		    sizeof(info->tls_report_submitter));
	if (info->subject_report_id[0] == '\0')
		memcpy(info->subject_report_id, c->fwd_report_id, sizeof(info->subject_report_id));
}

int
mime_finish(struct mime *m, struct buf *out, struct mime_info *info, char *err, size_t errlen)
{
	struct mime_info local;
	struct mime_cand *c;
	const struct mime_ctype *top;
	const char *type;
	size_t oldlen;

	if (info == NULL)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (m == NULL || out == NULL) {
		mime_seterr(err, errlen, "mime_finish: no reader or no output buffer");
		return -1;
	}
	if (!m->finished) {
		m->finished = 1;
		if (m->pushed > 0)
			mime_level_finish(m, 0);
	}
	c = &m->cand;
	mime_fill_info(m, info);
	if (m->failed) {
		mime_seterr(err, errlen, "%s", m->err);
		return -1;
	}
	if (m->pushed == 0) {
		mime_seterr(err, errlen, "no report part: the message is empty");
		return -1;
	}
	top = &m->lv[0].ct;
	if (!c->active || c->dead || c->rank == MIME_RANK_NONE) {
		if (strncmp(top->type, "multipart/", 10) != 0 && strncmp(top->type, "message/", 8) != 0)
			mime_seterr(err, errlen, "no report part: the %s body starts like "
			    "neither JSON nor gzip", top->type[0] != '\0' ? top->type : "untyped");
		else if (strncmp(top->type, "multipart/", 10) == 0 && top->boundary[0] == '\0')
			mime_seterr(err, errlen, "no report part: %s without a boundary parameter",
			    top->type);
		else
			mime_seterr(err, errlen, "no report part: none of the %u MIME parts is "
			    "application/tlsrpt+gzip, +json, a gzip, JSON or zip attachment",
			    m->parts - 1);
		return -1;
	}
	type = c->type[0] != '\0' ? c->type : "untyped";
	if (c->nomem) {
		mime_seterr(err, errlen, "out of memory decoding the report part");
		return -1;
	}
	if (c->too_large) {
		if (out->err == BUF_OK)
			out->err = BUF_ERR_CAP;
		mime_seterr(err, errlen, "report part (%s) is larger than the %zu-byte cap", type,
		    m->lim.max_report_bytes);
		return -1;
	}
	if (c->fail[0] != '\0') {
		mime_seterr(err, errlen, "report part (%s): %s", type, c->fail);
		return -1;
	}
	if (c->data.len == 0) {
		mime_seterr(err, errlen, "no report part: the %s part is empty", type);
		return -1;
	}
	oldlen = out->len;
	if (buf_append(out, c->data.data, c->data.len) != 0) {
		out->len = oldlen;
		if (out->data != NULL)
			out->data[oldlen] = '\0';
		if (out->err == BUF_ERR_CAP)
			mime_seterr(err, errlen, "report part (%s) is larger than the %zu-byte cap",
			    type, out->max);
		else
			mime_seterr(err, errlen, "out of memory decoding the report part");
		return -1;
	}
	memcpy(info->part_type, c->type, sizeof(info->part_type));
	memcpy(info->part_filename, c->filename, sizeof(info->part_filename));
	return 0;
}

void
mime_free(struct mime *m)
{
	if (m == NULL)
		return;
	if (m->cand.zip != NULL) {
		if (m->cand.zip->zs_live)
			inflateEnd(&m->cand.zip->zs);
		free(m->cand.zip);
	}
	buf_free(&m->cand.data);
	buf_free(&m->hdr);
	free(m->lv);
	free(m);
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
	struct mime_limits lim;
	struct mime *m;
	int rc;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL || (msg == NULL && len > 0)) {
		mime_seterr(err, errlen, "mime_find_report: no message or no output buffer");
		return -1;
	}
	memset(&lim, 0, sizeof(lim));
	/* The room left in out; none left: the default, and buf_append() says cap. */
	lim.max_report_bytes = out->max > out->len ? out->max - out->len : 0;
	if ((m = mime_new(&lim)) == NULL) {
		mime_seterr(err, errlen, "out of memory");
		return -1;
	}
	(void)mime_push(m, msg, len);
	rc = mime_finish(m, out, info, err, errlen);
	mime_free(m);
	return rc;
}
