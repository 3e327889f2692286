/*
 * rpt: TLS-RPT report parsing and normalisation (RFC 8460 section 4).
 *
 * The JSON is first checked to be UTF-8 here (so that a bad byte gets a line and column),
 * then loaded by jansson with duplicate keys refused (I-JSON), then walked once. Every
 * object is read by one pass over its keys into a small table (so key order never
 * matters and unknown keys are noticed), then its fields are taken in a fixed order.
 * Everything kept lives in one arena: a struct rpt, its arrays and its strings.
 *
 * Lint paths name the place in the document: "date-range.start-datetime",
 * "policies[1].policy.mx-host[0]", "policies[0].failure-details[2].sending-mta-ip";
 * "" is the document itself. Indices are those of the JSON arrays as sent.
 *
 * Line and column in struct rpt_error count from 1; columns count characters (UTF-8
 * sequences) as jansson does, and a leading BOM is not counted (editors do not show it).
 * position is a byte offset in the input as given, BOM included: of the bad byte for
 * invalid UTF-8, of the end of the offending token for JSON errors (jansson's convention).
 */
#include "ingest/rpt.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/norm.h"

/* Limits: anything past them is refused or clipped, with the reason said. */
#define RPT_INPUT_MAX       ((size_t)64 << 20) /* JSON bytes */
#define RPT_POLICIES_MAX    10000              /* policies[] entries */
#define RPT_FAILURES_MAX    100000             /* failure-details[] entries per policy */
#define RPT_FAILURES_TOTAL  1000000            /* failure-details[] entries per report */
#define RPT_LIST_MAX        1000               /* policy-string lines or mx-host entries kept */
#define RPT_STR_MAX         1024               /* names, ids, hosts, result types (bytes) */
#define RPT_TEXT_MAX        65536              /* policy lines, free text (bytes) */
#define RPT_LINT_MAX        1000               /* lint entries per report, the last says "more" */
#define RPT_ARENA_MAX       ((size_t)512 << 20)
#define RPT_FIRST_BLOCK     4096               /* arena bytes allocated with the report */
#define RPT_CHUNK_MAX       ((size_t)64 << 10) /* growth step of the arena */
#define RPT_STS_MAX_AGE     31557600           /* RFC 8461 section 3.2: at most one year */
#define RPT_MSG_MAX         320                /* lint message bytes */
#define RPT_PATH_MAX        192                /* lint path bytes */
#define RPT_KEY_SHOW        64                 /* bytes of an unknown key shown in a path */
#define RPT_VAL_SHOW        80                 /* bytes of a value quoted in a message */

#define ARENA_ALIGN         (sizeof(max_align_t))

struct rpt_chunk {
	struct rpt_chunk *next;
	max_align_t data[];
};

struct rpt_arena {
	struct rpt_chunk *chunks; /* chunks after the first block, newest first */
	char *cur;                /* free space in the current chunk */
	size_t left;
	size_t total;             /* bytes of every chunk, for RPT_ARENA_MAX */
	size_t step;              /* size of the next chunk */
	size_t lint_alloc;        /* slots in r->lint */
};

/* The report, its arena head and the first arena bytes come in one allocation. */
struct rpt_block {
	struct rpt r;
	struct rpt_arena a;
	max_align_t mem[RPT_FIRST_BLOCK / sizeof(max_align_t)];
};

struct ctx {
	struct rpt *r;
	struct rpt_error *err;
	int pol;            /* index in policies[], -1 outside */
	const char *sect;   /* "policy", "summary", "failure-details", "date-range" or NULL */
	long item;          /* index inside sect, -1 when not an array */
	size_t n_failures;  /* failure details in the whole report */
	int nomem;
};

/* IANA "STARTTLS Validation Result Types", as stored. */
static const char *const result_types[] = {
	"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
	"dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
};

/* ---- small string helpers (ASCII only: no locale) ---- */

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive (ASCII) equality of s[0..n) and the NUL-terminated lit. */
static int
eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return 0;
	return lit[n] == '\0';
}

static int
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_ws((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_ws((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/*
 * Length of the longest prefix of s[0..n) (valid UTF-8) that ends on a character boundary.
 */
static size_t
utf8_cut(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = n, need;

	while (i > 0 && n - i < 4 && (u[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return 0;
	i--; /* u[i] is the last lead byte */
	need = u[i] < 0x80 ? 1 : u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;
	return i + need <= n ? n : i;
}

/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or n when it is all valid. */
static size_t
utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0, len;
	uint64_t w;

	while (i < n) {
		if (s[i] < 0x80) {
			while (i + 8 <= n) {
				memcpy(&w, s + i, 8);
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			while (i < n && s[i] < 0x80)
				i++;
			continue;
		}
		if ((len = norm_utf8_decode(s + i, n - i, NULL)) == 0)
			return i;
		i += len;
	}
	return n;
}

/* 1-based line and character column of byte offset off in s (valid UTF-8 before off). */
static void
line_col(const unsigned char *s, size_t off, int *line, int *col)
{
	size_t i;
	long l = 1, c = 1;

	for (i = 0; i < off; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if ((s[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l > INT32_MAX ? INT32_MAX : (int)l;
	*col = c > INT32_MAX ? INT32_MAX : (int)c;
}

/* Copies s into dst, clipped on a character boundary with "..." when it does not fit. */
static const char *qn(char *dst, size_t dstlen, const char *s, size_t n);

static const char *
clipq(char *dst, size_t dstlen, const char *s)
{
	return qn(dst, dstlen, s, strlen(s));
}

/* Copies text that may hold any bytes into dst as printable UTF-8 ('?' for the rest). */
static void
copy_clean(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0, n = strlen(src), k;

	while (i < n) {
		k = norm_utf8_decode(s + i, n - i, NULL);
		if (k == 0 || s[i] < 0x20 || s[i] == 0x7f) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= dstlen)
			break;
		memmove(dst + o, s + i, k); /* dst may be src: o <= i always */
		o += k;
		i += k;
	}
	dst[o] = '\0';
}

/* Quotes s[0..n) (valid UTF-8) into dst, clipped on a character with "..." if too long. */
static const char *
qn(char *dst, size_t dstlen, const char *s, size_t n)
{
	if (n < dstlen) {
		memcpy(dst, s, n);
		dst[n] = '\0';
		return dst;
	}
	n = utf8_cut(s, dstlen - 4);
	memcpy(dst, s, n);
	memcpy(dst + n, "...", 4);
	return dst;
}

/* ---- arena ---- */

static void *
ar_alloc(struct rpt_arena *a, size_t n)
{
	struct rpt_chunk *ch;
	size_t size;
	void *p;

	if (n > RPT_ARENA_MAX)
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (n > a->left) {
		size = n > a->step ? n : a->step;
		if (size > RPT_ARENA_MAX - a->total)
			return NULL;
		if ((ch = malloc(sizeof(*ch) + size)) == NULL)
			return NULL;
		ch->next = a->chunks;
		a->chunks = ch;
		a->cur = (char *)ch->data;
		a->left = size;
		a->total += size;
		if (a->step < RPT_CHUNK_MAX)
			a->step *= 2;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}

/* Array of n elements of size sz (zeroed), or NULL on overflow or out of memory. */
static void *
ar_array(struct rpt_arena *a, size_t n, size_t sz)
{
	void *p;

	if (n == 0)
		return NULL;
	if (sz != 0 && n > SIZE_MAX / sz)
		return NULL;
	if ((p = ar_alloc(a, n * sz)) != NULL)
		memset(p, 0, n * sz);
	return p;
}

static char *
ar_strndup(struct rpt_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX || (p = ar_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- lint ---- */

/* Appends one lint entry; path and message are copied, code too unless it is static. */
static int
lint_push(struct rpt *r, const char *path, const char *code, int copy_code, const char *msg)
{
	struct rpt_arena *a = r->arena;
	struct rpt_lint *l;
	size_t want;

	if (r->n_lint >= RPT_LINT_MAX)
		return 0; /* dropped: the last entry already says so */
	if (r->n_lint == RPT_LINT_MAX - 1) {
		path = "";
		code = "lint-truncated";
		copy_code = 0;
		msg = "more problems than the lint limit; the rest were not recorded";
	}
	if (r->n_lint == a->lint_alloc) {
		want = a->lint_alloc ? a->lint_alloc * 2 : 8;
		if (want > RPT_LINT_MAX)
			want = RPT_LINT_MAX;
		if ((l = ar_array(a, want, sizeof(*l))) == NULL)
			return -1;
		if (r->n_lint > 0)
			memcpy(l, r->lint, r->n_lint * sizeof(*l));
		r->lint = l; /* the old array stays in the arena until rpt_free */
		a->lint_alloc = want;
	}
	l = &r->lint[r->n_lint];
	l->path = ar_strndup(a, path, strlen(path));
	l->code = copy_code ? ar_strndup(a, code, strlen(code)) : code;
	l->message = ar_strndup(a, msg, strlen(msg));
	if (l->path == NULL || l->code == NULL || l->message == NULL)
		return -1;
	r->n_lint++;
	return 0;
}

static void
vformat(char *dst, size_t dstlen, const char *fmt, va_list ap)
{
	int n = vsnprintf(dst, dstlen, fmt, ap);

	if (n < 0)
		dst[0] = '\0';
	else if ((size_t)n >= dstlen)
		dst[utf8_cut(dst, dstlen - 1)] = '\0'; /* truncated: end on a character */
}

int
rpt_add_lint(struct rpt *r, const char *path, const char *code, const char *fmt, ...)
{
	char msg[RPT_MSG_MAX], p[RPT_PATH_MAX], cd[32];
	va_list ap;

	if (r == NULL)
		return -1;
	va_start(ap, fmt);
	vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	copy_clean(p, sizeof(p), path != NULL ? path : "");
	copy_clean(cd, sizeof(cd), code != NULL ? code : "");
	copy_clean(msg, sizeof(msg), msg);
	return lint_push(r, p, cd, 1, msg);
}

/* Appends to dst[*off..) without overflowing; a truncated path ends on a character. */
static void path_add(char *dst, size_t dstlen, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
path_add(char *dst, size_t dstlen, size_t *off, const char *fmt, ...)
{
	va_list ap;

	if (*off + 1 >= dstlen)
		return;
	va_start(ap, fmt);
	vformat(dst + *off, dstlen - *off, fmt, ap);
	va_end(ap);
	*off += strlen(dst + *off);
}

/* The JSON path of key (may be NULL) with array index idx (-1: none) in the current place. */
static void
mkpath(const struct ctx *c, const char *key, long idx, char *dst, size_t dstlen)
{
	char k[RPT_KEY_SHOW + 4];
	size_t off = 0;

	dst[0] = '\0';
	if (c->pol >= 0)
		path_add(dst, dstlen, &off, "policies[%d]", c->pol);
	if (c->sect != NULL)
		path_add(dst, dstlen, &off, "%s%s", off ? "." : "", c->sect);
	if (c->item >= 0)
		path_add(dst, dstlen, &off, "[%ld]", c->item);
	if (key != NULL)
		path_add(dst, dstlen, &off, "%s%s", off ? "." : "", clipq(k, sizeof(k), key));
	if (idx >= 0)
		path_add(dst, dstlen, &off, "[%ld]", idx);
}

static void lint(struct ctx *c, const char *key, long idx, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
lint(struct ctx *c, const char *key, long idx, const char *code, const char *fmt, ...)
{
	char msg[RPT_MSG_MAX], path[RPT_PATH_MAX];
	va_list ap;

	mkpath(c, key, idx, path, sizeof(path));
	va_start(ap, fmt);
	vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lint_push(c->r, path, code, 0, msg) != 0)
		c->nomem = 1;
}

static int reject(struct ctx *c, const char *key, long idx, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fills the error for a rejection found while walking the tree. Returns -1. */
static int
reject(struct ctx *c, const char *key, long idx, const char *code, const char *fmt, ...)
{
	struct rpt_error *e = c->err;
	va_list ap;

	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vformat(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	mkpath(c, key, idx, e->path, sizeof(e->path));
	e->line = e->column = 0;
	e->position = -1;
	return -1;
}

/* A short, safe quotation of a report value for a message. */
#define Q(buf, s) clipq((buf), sizeof(buf), (s))

/* ---- typed extraction ---- */

/*
 * One pass over obj: each key found in names[] lands in vals[] (NULL when absent), any other
 * key is linted as unknown. names[] and vals[] have n entries.
 */
static void
gather(struct ctx *c, json_t *obj, const char *const *names, json_t **vals, size_t n)
{
	const char *key;
	json_t *v;
	size_t i;

	for (i = 0; i < n; i++)
		vals[i] = NULL;
	json_object_foreach(obj, key, v) {
		for (i = 0; i < n; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (i < n)
			vals[i] = v;
		else
			lint(c, key, -1, "unknown-key", "unknown key ignored");
	}
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "something else";
}

/*
 * Copies s[0..n) into the arena, clipped to max bytes (on a character, with lint).
 * NULL only when out of memory (c->nomem set).
 */
static const char *
keep(struct ctx *c, const char *key, long idx, const char *s, size_t n, size_t max)
{
	const char *p;

	if (n > max) {
		lint(c, key, idx, "truncated", "value of %zu bytes cut to %zu", n, max);
		n = utf8_cut(s, max);
	}
	if ((p = ar_strndup(c->r->arena, s, n)) == NULL)
		c->nomem = 1;
	return p;
}

/*
 * A string field: NULL when absent or not a string (linted then), else a copy (trimmed when
 * asked). missing_lint says whether absence is itself worth a lint entry.
 */
static const char *
take_string(struct ctx *c, json_t *v, const char *key, size_t max, int do_trim, int missing_lint)
{
	const char *s;
	size_t n;

	if (v == NULL) {
		if (missing_lint)
			lint(c, key, -1, "missing-field", "%s is missing", key);
		return NULL;
	}
	if (!json_is_string(v)) {
		lint(c, key, -1, "bad-type", "%s is %s, not a string: ignored", key,
		    json_type_name(v));
		return NULL;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (do_trim)
		trim(&s, &n);
	return keep(c, key, -1, s, n, max);
}

/*
 * A domain name: normalised (lint when that changed it), or kept raw with lint when it is
 * not a usable name. prefix_ok strips an "mx:" prefix (mx-host entries).
 */
static const char *
take_domain(struct ctx *c, json_t *v, const char *key, long idx, int prefix_ok)
{
	char out[NORM_DOMAIN_MAX], q1[RPT_VAL_SHOW], q2[RPT_VAL_SHOW];
	const char *raw, *s;
	size_t rawlen, n;
	int changed = 0, prefix = 0;

	if (!json_is_string(v)) {
		lint(c, key, idx, "bad-type", "%s is %s, not a string: ignored", key,
		    json_type_name(v));
		return NULL;
	}
	raw = s = json_string_value(v);
	rawlen = n = json_string_length(v);
	trim(&s, &n);
	if (prefix_ok && n >= 3 && eq_nocase(s, 3, "mx:")) {
		s += 3;
		n -= 3;
		trim(&s, &n);
		prefix = 1;
		lint(c, key, idx, "mx-host-prefix", "\"mx:\" prefix removed from \"%s\"",
		    Q(q1, raw));
	}
	if (n == 0) {
		lint(c, key, idx, "empty-value", "%s is empty: ignored", key);
		return NULL;
	}
	if (norm_domain(s, n, out, &changed) != 0) {
		lint(c, key, idx, "bad-domain", "\"%s\" is not a domain name: kept as given",
		    Q(q1, raw));
		return keep(c, key, idx, raw, rawlen, RPT_STR_MAX);
	}
	if (changed || (!prefix && n != rawlen)) {
		if (has_8bit(s, n))
			lint(c, key, idx, "idn-u-label", "\"%s\" encoded as \"%s\"", Q(q1, raw),
			    Q(q2, out));
		else
			lint(c, key, idx, "domain-normalised", "\"%s\" normalised to \"%s\"",
			    Q(q1, raw), Q(q2, out));
	}
	return keep(c, key, idx, out, strlen(out), RPT_STR_MAX);
}

/* An IP address: canonical text in *ip, raw in *raw; raw in both (with lint) if not an IP. */
static void
take_ip(struct ctx *c, json_t *v, const char *key, const char **ip, const char **raw)
{
	char out[46], q[RPT_VAL_SHOW];
	const char *s;
	size_t n;
	int changed = 0;

	*ip = *raw = NULL;
	if (v == NULL)
		return;
	if (!json_is_string(v)) {
		lint(c, key, -1, "bad-type", "%s is %s, not a string: ignored", key,
		    json_type_name(v));
		return;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0) {
		lint(c, key, -1, "empty-value", "%s is empty: ignored", key);
		return;
	}
	*raw = keep(c, key, -1, s, n, RPT_STR_MAX);
	if (norm_ip(s, n, out, &changed) != 0) {
		lint(c, key, -1, "bad-ip", "\"%s\" is not an IP address: kept as given", Q(q, s));
		*ip = *raw;
	} else {
		*ip = changed ? keep(c, key, -1, out, strlen(out), RPT_STR_MAX) : *raw;
	}
}

/* Parses a count written as decimal text. 0 ok, 1 not a number, -1 rejected (err set). */
static int
count_from_text(struct ctx *c, const char *key, const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0, frac = 0, digits = 0;
	uint64_t v = 0;

	trim(&s, &n);
	if (n > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
		if (v <= (uint64_t)RPT_MAX_SAFE_INT)
			v = v * 10 + (uint64_t)(s[i] - '0');
	if (digits == 0)
		return 1;
	if (i < n && s[i] == '.') {
		if (++i == n)
			return 1;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (s[i] != '0')
				frac = 1;
	}
	if (i != n)
		return 1;
	if (neg && (v != 0 || frac))
		return reject(c, key, -1, "negative-count", "%s is negative", key);
	if (frac)
		return reject(c, key, -1, "fractional-count", "%s is not a whole number", key);
	if (v > (uint64_t)RPT_MAX_SAFE_INT)
		return reject(c, key, -1, "count-too-large", "%s is beyond 2^53", key);
	*out = (int64_t)v;
	return 0;
}

/*
 * A session count: *out >= 0, or RPT_COUNT_MISSING (with lint) when absent or unusable.
 * Returns -1 (err set) for a negative, fractional or too large count, else 0.
 */
static int
take_count(struct ctx *c, json_t *v, const char *key, int64_t *out)
{
	char q[RPT_VAL_SHOW];
	json_int_t i;
	double d;
	int rc;

	*out = RPT_COUNT_MISSING;
	if (v == NULL) {
		lint(c, key, -1, "missing-count", "%s is missing", key);
		return 0;
	}
	switch (json_typeof(v)) {
	case JSON_INTEGER:
		i = json_integer_value(v);
		if (i < 0)
			return reject(c, key, -1, "negative-count", "%s is negative (%lld)", key,
			    (long long)i);
		if (i > RPT_MAX_SAFE_INT)
			return reject(c, key, -1, "count-too-large",
			    "%s is beyond 2^53 (%lld)", key, (long long)i);
		*out = (int64_t)i;
		return 0;
	case JSON_REAL:
		d = json_real_value(v);
		if (d < 0)
			return reject(c, key, -1, "negative-count", "%s is negative (%g)", key, d);
		if (d > (double)RPT_MAX_SAFE_INT)
			return reject(c, key, -1, "count-too-large", "%s is beyond 2^53 (%g)", key,
			    d);
		if (d != (double)(int64_t)d) /* in range now: the conversion is defined */
			return reject(c, key, -1, "fractional-count",
			    "%s is not a whole number (%g)", key, d);
		*out = (int64_t)d;
		lint(c, key, -1, "count-real", "%s written as a real number (%g)", key, d);
		return 0;
	case JSON_STRING:
		rc = count_from_text(c, key, json_string_value(v), json_string_length(v), out);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			lint(c, key, -1, "count-string", "%s written as a string (\"%s\")", key,
			    Q(q, json_string_value(v)));
			return 0;
		}
		lint(c, key, -1, "bad-count", "%s is not a number (\"%s\"): treated as missing",
		    key, Q(q, json_string_value(v)));
		return 0;
	case JSON_NULL:
		lint(c, key, -1, "missing-count", "%s is null", key);
		return 0;
	default:
		lint(c, key, -1, "bad-count", "%s is %s: treated as missing", key,
		    json_type_name(v));
		return 0;
	}
}

/* ---- date-range ---- */

static int
take_datetime(struct ctx *c, json_t *v, const char *key, const char **raw, int64_t *epoch)
{
	char q[RPT_VAL_SHOW];
	int no_zone = 0, lenient = 0;

	if (v == NULL)
		return reject(c, key, -1, "no-date-range", "date-range.%s is missing", key);
	if (!json_is_string(v))
		return reject(c, key, -1, "bad-datetime", "date-range.%s is %s, not a date-time",
		    key, json_type_name(v));
	if (norm_datetime(json_string_value(v), json_string_length(v), epoch, &no_zone,
	    &lenient) != 0)
		return reject(c, key, -1, "bad-datetime", "date-range.%s \"%s\" is not an "
		    "RFC 3339 date-time", key, Q(q, json_string_value(v)));
	if (no_zone)
		lint(c, key, -1, "no-timezone", "\"%s\" has no time zone: taken as UTC",
		    Q(q, json_string_value(v)));
	if (lenient)
		lint(c, key, -1, "lenient-datetime", "\"%s\" is not strict RFC 3339",
		    Q(q, json_string_value(v)));
	*raw = keep(c, key, -1, json_string_value(v), json_string_length(v), RPT_STR_MAX);
	return 0;
}

static int
parse_date_range(struct ctx *c, json_t *dr)
{
	static const char *const names[] = { "start-datetime", "end-datetime" };
	struct rpt *r = c->r;
	json_t *f[2];

	if (dr == NULL)
		return reject(c, "date-range", -1, "no-date-range", "date-range is missing");
	if (!json_is_object(dr))
		return reject(c, "date-range", -1, "no-date-range",
		    "date-range is %s, not an object", json_type_name(dr));
	c->sect = "date-range";
	gather(c, dr, names, f, 2);
	if (take_datetime(c, f[0], names[0], &r->start_raw, &r->start) != 0 ||
	    take_datetime(c, f[1], names[1], &r->end_raw, &r->end) != 0)
		return -1;
	c->sect = NULL;
	if (r->end < r->start)
		return reject(c, "date-range", -1, "end-before-start",
		    "date-range ends %lld seconds before it starts",
		    (long long)(r->start - r->end));
	if (r->end == r->start)
		lint(c, "date-range", -1, "empty-date-range", "date-range is empty");
	else if (r->end - r->start > 86400)
		lint(c, "date-range", -1, "multi-day-range", "date-range spans %lld seconds, "
		    "more than one day", (long long)(r->end - r->start));
	return 0;
}

/* ---- policy ---- */

/* The strings of a JSON array (or one bare string); non-strings linted and skipped. */
static void
take_lines(struct ctx *c, json_t *v, const char *key, const char ***out, size_t *n_out,
    int tlsa)
{
	json_t *el, *inner;
	const char **list, *s;
	size_t n, i, j, k = 0, cap, m;

	*out = NULL;
	*n_out = 0;
	if (json_is_string(v)) {
		lint(c, key, -1, "policy-string-string", "%s is a string, not an array", key);
		n = 1;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
	} else {
		lint(c, key, -1, "bad-type", "%s is %s: ignored", key, json_type_name(v));
		return;
	}
	cap = n > RPT_LIST_MAX ? RPT_LIST_MAX : n;
	if (cap == 0)
		return;
	if ((list = ar_array(c->r->arena, cap, sizeof(*list))) == NULL) {
		c->nomem = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		el = json_is_string(v) ? v : json_array_get(v, i);
		if (!json_is_string(el)) {
			lint(c, key, (long)i, "bad-type", "%s, not a string: ignored",
			    json_type_name(el));
			continue;
		}
		s = json_string_value(el);
		m = json_string_length(el);
		inner = NULL;
		if (tlsa) {
			const char *t = s;
			size_t tn = m;

			trim(&t, &tn);
			if (tn > 0 && t[0] == '[')
				inner = json_loadb(t, tn, JSON_REJECT_DUPLICATES, NULL);
			if (inner != NULL && !json_is_array(inner)) {
				json_decref(inner);
				inner = NULL;
			}
		}
		if (inner != NULL) {
			lint(c, key, (long)i, "tlsa-json-in-string", "one string holding a JSON "
			    "array of %zu TLSA records: unpacked", json_array_size(inner));
			for (j = 0; j < json_array_size(inner); j++) {
				el = json_array_get(inner, j);
				if (!json_is_string(el))
					continue;
				if (k == cap) {
					const char **bigger;
					size_t nc = cap * 2 > RPT_LIST_MAX ? RPT_LIST_MAX : cap * 2;

					if (nc == cap)
						break;
					if ((bigger = ar_array(c->r->arena, nc,
					    sizeof(*bigger))) == NULL) {
						c->nomem = 1;
						break;
					}
					memcpy(bigger, list, k * sizeof(*list));
					list = bigger;
					cap = nc;
				}
				if ((s = keep(c, key, (long)i, json_string_value(el),
				    json_string_length(el), RPT_TEXT_MAX)) != NULL)
					list[k++] = s;
			}
			json_decref(inner);
			continue;
		}
		if (k == cap) {
			lint(c, key, (long)i, "list-truncated", "more than %d entries: the rest "
			    "ignored", RPT_LIST_MAX);
			break;
		}
		if ((s = keep(c, key, (long)i, s, m, RPT_TEXT_MAX)) != NULL)
			list[k++] = s;
	}
	*out = list;
	*n_out = k;
}

/* Parses the lines of an sts policy-string (RFC 8461 section 3.2) into p->sts_*. */
static void
parse_sts(struct ctx *c, struct rpt_policy *p)
{
	char q[RPT_VAL_SHOW], q2[RPT_VAL_SHOW];
	const char *s, *s2, *nl, *k, *val, *colon;
	size_t i, j, kn, vn, nlines = 0, nmx = 0;
	int seen_version = 0, seen_mode = 0, seen_age = 0;
	char dom[NORM_DOMAIN_MAX];
	int changed;
	uint64_t age;

	for (i = 0; i < p->n_strings; i++) {
		nlines++;
		for (s = p->strings[i]; (s = strchr(s, '\n')) != NULL; s++)
			nlines++;
	}
	if (nlines > 0 && (p->sts_mx = ar_array(c->r->arena, nlines, sizeof(char *))) == NULL) {
		c->nomem = 1;
		return;
	}
	for (i = 0; i < p->n_strings; i++) {
		for (s = p->strings[i]; *s != '\0'; s = *nl ? nl + 1 : nl) {
			if ((nl = strchr(s, '\n')) == NULL)
				nl = s + strlen(s);
			k = s;
			kn = (size_t)(nl - s);
			trim(&k, &kn);
			if (kn == 0)
				continue;
			if ((colon = memchr(k, ':', kn)) == NULL) {
				lint(c, "policy-string", (long)i, "sts-bad-line",
				    "line \"%s\" is not \"key: value\"", qn(q, sizeof(q), k, kn));
				continue;
			}
			val = colon + 1;
			vn = (size_t)(k + kn - val);
			kn = (size_t)(colon - k);
			trim(&k, &kn);
			trim(&val, &vn);
			if (eq_nocase(k, kn, "version")) {
				if (seen_version++) {
					lint(c, "policy-string", (long)i, "sts-duplicate-key",
					    "second version line ignored");
					continue;
				}
				p->sts_version = keep(c, "policy-string", (long)i, val, vn,
				    RPT_STR_MAX);
				if (!(vn == 5 && memcmp(val, "STSv1", 5) == 0))
					lint(c, "policy-string", (long)i, "sts-bad-version",
					    "version is not STSv1");
			} else if (eq_nocase(k, kn, "mode")) {
				if (seen_mode++) {
					lint(c, "policy-string", (long)i, "sts-duplicate-key",
					    "second mode line ignored");
					continue;
				}
				if (eq_nocase(val, vn, "enforce"))
					p->sts_mode = "enforce";
				else if (eq_nocase(val, vn, "testing"))
					p->sts_mode = "testing";
				else if (eq_nocase(val, vn, "none"))
					p->sts_mode = "none";
				else {
					p->sts_mode = keep(c, "policy-string", (long)i, val, vn,
					    RPT_STR_MAX);
					lint(c, "policy-string", (long)i, "sts-unknown-mode",
					    "mode \"%s\" is not enforce, testing or none",
					    qn(q, sizeof(q), val, vn));
				}
			} else if (eq_nocase(k, kn, "max_age")) {
				if (seen_age++) {
					lint(c, "policy-string", (long)i, "sts-duplicate-key",
					    "second max_age line ignored");
					continue;
				}
				age = 0;
				for (j = 0; j < vn && val[j] >= '0' && val[j] <= '9'; j++)
					if (age <= (uint64_t)RPT_MAX_SAFE_INT)
						age = age * 10 + (uint64_t)(val[j] - '0');
				if (vn == 0 || j != vn || vn > 15) {
					lint(c, "policy-string", (long)i, "sts-bad-max-age",
					    "max_age is not a number of seconds");
					continue;
				}
				p->sts_max_age = (int64_t)age;
				if (age > RPT_STS_MAX_AGE)
					lint(c, "policy-string", (long)i, "sts-max-age-too-large",
					    "max_age %llu is above %d (one year)",
					    (unsigned long long)age, RPT_STS_MAX_AGE);
			} else if (eq_nocase(k, kn, "mx")) {
				if (vn == 0 || norm_domain(val, vn, dom, &changed) != 0) {
					lint(c, "policy-string", (long)i, "bad-domain",
					    "mx \"%s\" is not a domain pattern: kept as given",
					    qn(q, sizeof(q), val, vn));
					if ((s2 = keep(c, "policy-string", (long)i, val, vn,
					    RPT_STR_MAX)) != NULL)
						p->sts_mx[nmx++] = s2;
					continue;
				}
				if (changed)
					lint(c, "policy-string", (long)i, has_8bit(val, vn) ?
					    "idn-u-label" : "domain-normalised",
					    "mx \"%s\" normalised to \"%s\"",
					    qn(q, sizeof(q), val, vn), clipq(q2, sizeof(q2), dom));
				if ((s2 = keep(c, "policy-string", (long)i, dom, strlen(dom),
				    RPT_STR_MAX)) != NULL)
					p->sts_mx[nmx++] = s2;
			} else {
				lint(c, "policy-string", (long)i, "sts-unknown-key",
				    "unknown policy key \"%s\"", qn(q, sizeof(q), k, kn));
			}
		}
	}
	p->n_sts_mx = nmx;
	if (!seen_version || !seen_mode || !seen_age || nmx == 0)
		lint(c, "policy-string", -1, "sts-missing-field", "sts policy lacks%s%s%s%s",
		    seen_version ? "" : " version", seen_mode ? "" : " mode",
		    seen_age ? "" : " max_age", nmx ? "" : " mx");
}

static void
parse_mx_host(struct ctx *c, json_t *v, struct rpt_policy *p)
{
	size_t n, i, k = 0;
	const char *d;

	if (json_is_string(v)) {
		lint(c, "mx-host", -1, "mx-host-string", "mx-host is a string, not an array");
		n = 1;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
	} else {
		lint(c, "mx-host", -1, "bad-type", "mx-host is %s: ignored", json_type_name(v));
		return;
	}
	if (n > RPT_LIST_MAX) {
		lint(c, "mx-host", -1, "list-truncated", "more than %d entries: the rest ignored",
		    RPT_LIST_MAX);
		n = RPT_LIST_MAX;
	}
	if (n == 0)
		return;
	if ((p->mx_hosts = ar_array(c->r->arena, n, sizeof(char *))) == NULL) {
		c->nomem = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		d = take_domain(c, json_is_string(v) ? v : json_array_get(v, i), "mx-host",
		    json_is_string(v) ? -1 : (long)i, 1);
		if (d != NULL)
			p->mx_hosts[k++] = d;
	}
	p->n_mx_hosts = k;
}

static void
parse_policy_desc(struct ctx *c, json_t *pv, struct rpt_policy *p)
{
	static const char *const names[] = {
		"policy-type", "policy-string", "policy-domain", "mx-host",
	};
	static const struct {
		const char *name;
		enum rpt_policy_type type;
	} types[] = {
		{ "sts", RPT_POLICY_STS },
		{ "tlsa", RPT_POLICY_TLSA },
		{ "no-policy-found", RPT_POLICY_NONE_FOUND },
	};
	char q[RPT_VAL_SHOW];
	json_t *f[4];
	const char *s;
	size_t i, n;

	c->sect = "policy";
	gather(c, pv, names, f, 4);
	if (f[0] == NULL) {
		lint(c, names[0], -1, "missing-policy-type", "policy-type is missing");
	} else if (!json_is_string(f[0])) {
		lint(c, names[0], -1, "bad-type", "policy-type is %s: ignored",
		    json_type_name(f[0]));
	} else {
		s = json_string_value(f[0]);
		n = json_string_length(f[0]);
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (eq_nocase(s, n, types[i].name))
				break;
		if (i < sizeof(types) / sizeof(types[0])) {
			p->type = types[i].type;
			p->type_name = types[i].name;
			if (strcmp(s, types[i].name) != 0)
				lint(c, names[0], -1, "policy-type-case", "policy-type \"%s\" read "
				    "as \"%s\"", Q(q, s), types[i].name);
		} else {
			p->type_name = keep(c, names[0], -1, s, n, RPT_STR_MAX);
			lint(c, names[0], -1, "unknown-policy-type", "unknown policy-type \"%s\"",
			    Q(q, s));
		}
	}
	if (f[2] != NULL)
		p->domain = take_domain(c, f[2], names[2], -1, 0);
	else
		lint(c, names[2], -1, "missing-field", "policy-domain is missing");
	if (f[1] != NULL)
		take_lines(c, f[1], names[1], &p->strings, &p->n_strings,
		    p->type == RPT_POLICY_TLSA);
	else if (p->type == RPT_POLICY_STS || p->type == RPT_POLICY_TLSA)
		lint(c, names[1], -1, "missing-field", "policy-string is missing");
	if (p->type == RPT_POLICY_STS && f[1] != NULL)
		parse_sts(c, p);
	if (f[3] != NULL)
		parse_mx_host(c, f[3], p);
	else if (p->type == RPT_POLICY_STS)
		lint(c, names[3], -1, "missing-field", "mx-host is missing");
	c->sect = NULL;
}

static const char *
result_type(struct ctx *c, json_t *v)
{
	char q[RPT_VAL_SHOW];
	const char *s;
	size_t i, n;

	if (v == NULL) {
		lint(c, "result-type", -1, "missing-field", "result-type is missing");
		return "";
	}
	if (!json_is_string(v)) {
		lint(c, "result-type", -1, "bad-type", "result-type is %s: ignored",
		    json_type_name(v));
		return "";
	}
	s = json_string_value(v);
	n = json_string_length(v);
	for (i = 0; i < sizeof(result_types) / sizeof(result_types[0]); i++) {
		if (eq_nocase(s, n, result_types[i])) {
			if (strcmp(s, result_types[i]) != 0)
				lint(c, "result-type", -1, "result-type-case",
				    "result-type \"%s\" read as \"%s\"", Q(q, s), result_types[i]);
			return result_types[i];
		}
	}
	lint(c, "result-type", -1, "unknown-result-type", "result-type \"%s\" is not in the "
	    "IANA registry: kept as given", Q(q, s));
	s = keep(c, "result-type", -1, s, n, RPT_STR_MAX);
	return s != NULL ? s : "";
}

/* The canonical field or else its non-RFC alias (with lint). */
static json_t *
alias(struct ctx *c, json_t *canon, json_t *alt, const char *canon_name, const char *alt_name)
{
	if (alt == NULL)
		return canon;
	if (canon != NULL) {
		lint(c, alt_name, -1, "non-rfc-key", "non-RFC key ignored: %s is present",
		    canon_name);
		return canon;
	}
	lint(c, alt_name, -1, "non-rfc-key", "non-RFC key read as %s", canon_name);
	return alt;
}

/* Free text that should be a string; numbers are turned into text (with lint). */
static const char *
take_text(struct ctx *c, json_t *v, const char *key)
{
	char num[64];

	if (v == NULL)
		return NULL;
	if (json_is_integer(v) || json_is_real(v)) {
		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		else
			snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		lint(c, key, -1, "bad-type", "%s is a number, kept as text", key);
		return keep(c, key, -1, num, strlen(num), RPT_STR_MAX);
	}
	return take_string(c, v, key, RPT_TEXT_MAX, 0, 0);
}

static int
parse_failure(struct ctx *c, json_t *fv, struct rpt_failure *f)
{
	enum {
		F_TYPE, F_SIP, F_RIP, F_HOST, F_HELO, F_COUNT, F_INFO, F_CODE,
		F_HOST_ALT, F_CODE_ALT, F_INFO_ALT, F_N
	};
	static const char *const names[F_N] = {
		"result-type", "sending-mta-ip", "receiving-ip", "receiving-mx-hostname",
		"receiving-mx-helo", "failed-session-count", "additional-information",
		"failure-reason-code", "receiving-mx-host-name", "failure-error-code",
		"additional-info-uri",
	};
	json_t *v[F_N], *x;

	gather(c, fv, names, v, F_N);
	f->result_type = result_type(c, v[F_TYPE]);
	take_ip(c, v[F_SIP], names[F_SIP], &f->sending_mta_ip, &f->sending_mta_ip_raw);
	take_ip(c, v[F_RIP], names[F_RIP], &f->receiving_ip, &f->receiving_ip_raw);
	x = alias(c, v[F_HOST], v[F_HOST_ALT], names[F_HOST], names[F_HOST_ALT]);
	if (x != NULL)
		f->receiving_mx_hostname = take_domain(c, x, x == v[F_HOST] ? names[F_HOST] :
		    names[F_HOST_ALT], -1, 0);
	f->receiving_mx_helo = take_string(c, v[F_HELO], names[F_HELO], RPT_STR_MAX, 0, 0);
	x = alias(c, v[F_INFO], v[F_INFO_ALT], names[F_INFO], names[F_INFO_ALT]);
	f->additional_information = take_text(c, x, x == v[F_INFO] ? names[F_INFO] :
	    names[F_INFO_ALT]);
	x = alias(c, v[F_CODE], v[F_CODE_ALT], names[F_CODE], names[F_CODE_ALT]);
	f->failure_reason_code = take_text(c, x, x == v[F_CODE] ? names[F_CODE] :
	    names[F_CODE_ALT]);
	return take_count(c, v[F_COUNT], names[F_COUNT], &f->failed_session_count);
}

static int
parse_failures(struct ctx *c, json_t *arr, struct rpt_policy *p)
{
	size_t n, i;
	json_t *fv;
	int64_t sum = 0;
	int partial = 0, rc = 0;

	if (arr == NULL)
		goto check;
	if (!json_is_array(arr)) {
		lint(c, "failure-details", -1, "bad-type", "failure-details is %s: ignored",
		    json_type_name(arr));
		goto check;
	}
	n = json_array_size(arr);
	if (n > RPT_FAILURES_MAX)
		return reject(c, "failure-details", -1, "too-many-failure-details",
		    "%zu failure-details, more than the limit of %d", n, RPT_FAILURES_MAX);
	if (n > RPT_FAILURES_TOTAL - c->n_failures)
		return reject(c, "failure-details", -1, "too-many-failure-details",
		    "more than %d failure-details in the report", RPT_FAILURES_TOTAL);
	c->n_failures += n;
	if (n > 0 && (p->failures = ar_array(c->r->arena, n, sizeof(*p->failures))) == NULL) {
		c->nomem = 1;
		return 0;
	}
	c->sect = "failure-details";
	for (i = 0; i < n; i++) {
		fv = json_array_get(arr, i);
		if (!json_is_object(fv)) {
			lint(c, NULL, (long)i, "bad-type", "failure detail is %s: ignored",
			    json_type_name(fv));
			continue;
		}
		c->item = (long)i;
		rc = parse_failure(c, fv, &p->failures[p->n_failures]);
		c->item = -1;
		if (rc != 0)
			return -1;
		if (p->failures[p->n_failures].failed_session_count == RPT_COUNT_MISSING)
			partial = 1;
		else if (sum <= INT64_MAX - p->failures[p->n_failures].failed_session_count)
			sum += p->failures[p->n_failures].failed_session_count;
		else
			sum = INT64_MAX;
		p->n_failures++;
	}
	c->sect = NULL;
check:
	if (p->failure == RPT_COUNT_MISSING)
		return 0;
	if (p->n_failures > 0 && !partial && sum != p->failure)
		lint(c, "failure-details", -1, "failure-sum-mismatch", "failed-session-counts add "
		    "up to %lld but total-failure-session-count is %lld", (long long)sum,
		    (long long)p->failure);
	else if (p->n_failures == 0 && p->failure > 0)
		lint(c, "failure-details", -1, "no-failure-details", "%lld failed sessions but "
		    "no failure details", (long long)p->failure);
	return 0;
}

static int
parse_policy(struct ctx *c, json_t *pv, struct rpt_policy *p)
{
	static const char *const names[] = { "policy", "summary", "failure-details" };
	static const char *const snames[] = {
		"total-successful-session-count", "total-failure-session-count",
	};
	json_t *f[3], *s[2];

	p->type = RPT_POLICY_OTHER;
	p->type_name = "";
	p->sts_max_age = -1;
	p->success = p->failure = RPT_COUNT_MISSING;
	gather(c, pv, names, f, 3);
	if (f[0] == NULL)
		lint(c, names[0], -1, "missing-field", "policy is missing");
	else if (!json_is_object(f[0]))
		lint(c, names[0], -1, "bad-type", "policy is %s: ignored", json_type_name(f[0]));
	else
		parse_policy_desc(c, f[0], p);
	if (f[1] == NULL || !json_is_object(f[1])) {
		if (f[1] == NULL)
			lint(c, names[1], -1, "missing-field", "summary is missing");
		else
			lint(c, names[1], -1, "bad-type", "summary is %s: ignored",
			    json_type_name(f[1]));
	} else {
		c->sect = "summary";
		gather(c, f[1], snames, s, 2);
		if (take_count(c, s[0], snames[0], &p->success) != 0 ||
		    take_count(c, s[1], snames[1], &p->failure) != 0)
			return -1;
		c->sect = NULL;
	}
	return parse_failures(c, f[2], p);
}

/* ---- report ---- */

/* Lower-case, trimmed, with control characters as spaces so that "\n" only separates. */
static void
key_lower(char *dst, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (s != NULL)
		trim(&s, &n);
	for (i = 0; i < n; i++)
		dst[i] = (unsigned char)s[i] < 0x20 ? ' ' : (char)lower((unsigned char)s[i]);
	dst[n] = '\0';
}

static int
make_reporter_key(struct ctx *c)
{
	struct rpt *r = c->r;
	size_t a = r->organization_name ? strlen(r->organization_name) : 0;
	size_t b = r->contact_info ? strlen(r->contact_info) : 0;
	char *k;

	if ((k = ar_alloc(r->arena, a + b + 2)) == NULL)
		return -1;
	key_lower(k, r->organization_name);
	a = strlen(k);
	k[a] = '\n';
	key_lower(k + a + 1, r->contact_info);
	r->reporter_key = k;
	return 0;
}

static int
parse_report(struct ctx *c, json_t *root)
{
	enum { T_ORG, T_DR, T_CONTACT, T_ID, T_POL, T_N };
	static const char *const names[T_N] = {
		"organization-name", "date-range", "contact-info", "report-id", "policies",
	};
	struct rpt *r = c->r;
	json_t *v[T_N], *pv;
	char num[32];
	size_t n, i;

	gather(c, root, names, v, T_N);
	/* no policies array: not a report at all, whatever else is there */
	if (v[T_POL] == NULL)
		return reject(c, names[T_POL], -1, "no-policies", "policies is missing");
	if (!json_is_array(v[T_POL]))
		return reject(c, names[T_POL], -1, "no-policies", "policies is %s, not an array",
		    json_type_name(v[T_POL]));
	r->organization_name = take_string(c, v[T_ORG], names[T_ORG], RPT_STR_MAX, 1, 1);
	if (parse_date_range(c, v[T_DR]) != 0)
		return -1;
	if (json_is_null(v[T_CONTACT]))
		lint(c, names[T_CONTACT], -1, "null-contact-info", "contact-info is null");
	else
		r->contact_info = take_string(c, v[T_CONTACT], names[T_CONTACT], RPT_STR_MAX,
		    0, 1);
	if (json_is_integer(v[T_ID])) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v[T_ID]));
		lint(c, names[T_ID], -1, "bad-type", "report-id is a number, kept as text");
		r->report_id = keep(c, names[T_ID], -1, num, strlen(num), RPT_STR_MAX);
	} else {
		r->report_id = take_string(c, v[T_ID], names[T_ID], RPT_STR_MAX, 0, 1);
	}
	if (r->report_id == NULL)
		r->report_id = "";
	n = json_array_size(v[T_POL]);
	if (n > RPT_POLICIES_MAX)
		return reject(c, names[T_POL], -1, "too-many-policies",
		    "%zu policies, more than the limit of %d", n, RPT_POLICIES_MAX);
	if (n == 0)
		lint(c, names[T_POL], -1, "empty-policies", "policies is empty");
	else if ((r->policies = ar_array(r->arena, n, sizeof(*r->policies))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		pv = json_array_get(v[T_POL], i);
		if (!json_is_object(pv)) {
			lint(c, names[T_POL], (long)i, "bad-type", "policy entry is %s: ignored",
			    json_type_name(pv));
			continue;
		}
		c->pol = (int)i;
		if (parse_policy(c, pv, &r->policies[r->n_policies]) != 0)
			return -1;
		c->pol = -1;
		r->n_policies++;
	}
	if (make_reporter_key(c) != 0)
		c->nomem = 1;
	return 0;
}

static void
set_error(struct rpt_error *e, const char *code, const char *reason)
{
	snprintf(e->code, sizeof(e->code), "%s", code);
	copy_clean(e->reason, sizeof(e->reason), reason);
}

void
rpt_global_init(void)
{
	json_object_seed(0);
}

int
rpt_parse(const char *json, size_t len, struct rpt **out, struct rpt_error *err)
{
	const unsigned char *u = (const unsigned char *)json;
	struct rpt_block *blk = NULL;
	struct rpt_error dummy;
	struct ctx c;
	json_error_t jerr;
	json_t *root = NULL;
	size_t off = 0, bad;
	char msg[160];
	int rc = -1;

	if (err == NULL)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	err->position = -1;
	*out = NULL;
	if (json == NULL) {
		if (len > 0) {
			set_error(err, "not-json", "no input");
			goto done;
		}
		json = "";
		u = (const unsigned char *)json;
	}
	if (len > RPT_INPUT_MAX) {
		snprintf(msg, sizeof(msg), "report of %zu bytes, more than the limit of %zu",
		    len, RPT_INPUT_MAX);
		set_error(err, "too-large", msg);
		goto done;
	}
	if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
		off = 3;
	if ((bad = utf8_check(u, len)) != len) {
		snprintf(msg, sizeof(msg), "invalid UTF-8: byte 0x%02x at offset %zu", u[bad], bad);
		set_error(err, "invalid-utf8", msg);
		line_col(u + off, bad - off, &err->line, &err->column);
		err->position = (long)bad;
		goto done;
	}
	root = json_loadb(json + off, len - off, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		set_error(err, json_error_code(&jerr) == json_error_duplicate_key ?
		    "duplicate-key" : "not-json", jerr.text);
		err->line = jerr.line > 0 ? jerr.line : 0;
		err->column = jerr.column > 0 ? jerr.column : 0;
		err->position = jerr.position >= 0 ? jerr.position + (long)off : -1;
		goto done;
	}
	if (!json_is_object(root)) {
		snprintf(msg, sizeof(msg), "the document is %s, not an object",
		    json_type_name(root));
		set_error(err, "not-object", msg);
		goto done;
	}
	if ((blk = malloc(sizeof(*blk))) == NULL) {
		set_error(err, "nomem", "out of memory");
		goto done;
	}
	memset(&blk->r, 0, sizeof(blk->r));
	memset(&blk->a, 0, sizeof(blk->a));
	blk->a.cur = (char *)blk->mem;
	blk->a.left = sizeof(blk->mem);
	blk->a.step = RPT_FIRST_BLOCK * 2;
	blk->r.arena = &blk->a;
	memset(&c, 0, sizeof(c));
	c.r = &blk->r;
	c.err = err;
	c.pol = -1;
	c.item = -1;
	if (off)
		lint(&c, NULL, -1, "utf8-bom", "UTF-8 byte order mark ignored");
	if (parse_report(&c, root) != 0) {
		if (err->code[0] == '\0')
			c.nomem = 1;
		else
			goto done;
	}
	if (c.nomem) {
		set_error(err, "nomem", "out of memory while parsing the report");
		err->path[0] = '\0';
		goto done;
	}
	*out = &blk->r;
	blk = NULL;
	rc = 0;
done:
	if (blk != NULL)
		rpt_free(&blk->r);
	json_decref(root);
	return rc;
}

void
rpt_free(struct rpt *r)
{
	struct rpt_chunk *ch, *next;

	if (r == NULL)
		return;
	for (ch = r->arena->chunks; ch != NULL; ch = next) {
		next = ch->next;
		free(ch);
	}
	free(r); /* the first member of its struct rpt_block */
}


/* ---- JSON output ---- */

#define RPT_TIME_BUF 96 /* room for any int64_t input, not only years 0000-9999 */

/* Epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" (proleptic Gregorian, UTC). */
static void
fmt_time(int64_t t, char out[RPT_TIME_BUF])
{
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t secs = t - days * 86400, z, era, doe, yoe, doy, mp, y, d, m;

	/* civil date from days since 1970-01-01 (proleptic Gregorian) */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	snprintf(out, RPT_TIME_BUF, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y,
	    (long long)m, (long long)d, (long long)(secs / 3600), (long long)(secs / 60 % 60),
	    (long long)(secs % 60));
}

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
jcount(int64_t v)
{
	return v == RPT_COUNT_MISSING ? json_null() : json_integer((json_int_t)v);
}

static json_t *
jlist(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, jstr(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
failure_json(const struct rpt_failure *f)
{
	json_t *o = json_object();
	int bad = 0;

	if (o == NULL)
		return NULL;
	bad |= json_object_set_new(o, "result_type", jstr(f->result_type));
	bad |= json_object_set_new(o, "sending_mta_ip", jstr(f->sending_mta_ip));
	bad |= json_object_set_new(o, "sending_mta_ip_raw", jstr(f->sending_mta_ip_raw));
	bad |= json_object_set_new(o, "receiving_ip", jstr(f->receiving_ip));
	bad |= json_object_set_new(o, "receiving_ip_raw", jstr(f->receiving_ip_raw));
	bad |= json_object_set_new(o, "receiving_mx_hostname", jstr(f->receiving_mx_hostname));
	bad |= json_object_set_new(o, "receiving_mx_helo", jstr(f->receiving_mx_helo));
	bad |= json_object_set_new(o, "additional_information",
	    jstr(f->additional_information));
	bad |= json_object_set_new(o, "failure_reason_code", jstr(f->failure_reason_code));
	bad |= json_object_set_new(o, "failed_session_count", jcount(f->failed_session_count));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
policy_json(const struct rpt_policy *p)
{
	json_t *o = json_object(), *sts = NULL, *fl = NULL;
	size_t i;
	int bad = 0;

	if (o == NULL)
		return NULL;
	bad |= json_object_set_new(o, "policy_type", json_string(rpt_policy_type_name(p)));
	bad |= json_object_set_new(o, "policy_domain", jstr(p->domain));
	bad |= json_object_set_new(o, "policy_strings",
	    jlist((const char *const *)p->strings, p->n_strings));
	bad |= json_object_set_new(o, "mx_hosts",
	    jlist((const char *const *)p->mx_hosts, p->n_mx_hosts));
	if (p->type == RPT_POLICY_STS && (p->sts_version != NULL || p->sts_mode != NULL ||
	    p->sts_max_age >= 0 || p->n_sts_mx > 0)) {
		if ((sts = json_object()) == NULL) {
			bad = 1;
		} else {
			bad |= json_object_set_new(sts, "version", jstr(p->sts_version));
			bad |= json_object_set_new(sts, "mode", jstr(p->sts_mode));
			bad |= json_object_set_new(sts, "max_age", p->sts_max_age >= 0 ?
			    json_integer((json_int_t)p->sts_max_age) : json_null());
			bad |= json_object_set_new(sts, "mx",
			    jlist((const char *const *)p->sts_mx, p->n_sts_mx));
		}
	} else {
		sts = json_null();
	}
	bad |= json_object_set_new(o, "sts", sts);
	bad |= json_object_set_new(o, "successful", jcount(p->success));
	bad |= json_object_set_new(o, "failed", jcount(p->failure));
	if ((fl = json_array()) == NULL)
		bad = 1;
	for (i = 0; fl != NULL && i < p->n_failures; i++)
		bad |= json_array_append_new(fl, failure_json(&p->failures[i]));
	bad |= json_object_set_new(o, "failure_details", fl);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
rpt_to_json(const struct rpt *r)
{
	json_t *o = json_object(), *dr = NULL, *pl = NULL, *ll = NULL, *l;
	char t[RPT_TIME_BUF];
	size_t i;
	int bad = 0;

	if (o == NULL)
		return NULL;
	bad |= json_object_set_new(o, "organization_name", jstr(r->organization_name));
	bad |= json_object_set_new(o, "contact_info", jstr(r->contact_info));
	bad |= json_object_set_new(o, "report_id", jstr(r->report_id));
	if ((dr = json_object()) != NULL) {
		fmt_time(r->start, t);
		bad |= json_object_set_new(dr, "start", json_string(t));
		fmt_time(r->end, t);
		bad |= json_object_set_new(dr, "end", json_string(t));
		bad |= json_object_set_new(dr, "start_raw", jstr(r->start_raw));
		bad |= json_object_set_new(dr, "end_raw", jstr(r->end_raw));
	}
	bad |= json_object_set_new(o, "date_range", dr);
	if ((pl = json_array()) != NULL)
		for (i = 0; i < r->n_policies; i++)
			bad |= json_array_append_new(pl, policy_json(&r->policies[i]));
	bad |= json_object_set_new(o, "policies", pl);
	if ((ll = json_array()) != NULL) {
		for (i = 0; i < r->n_lint; i++) {
			if ((l = json_object()) == NULL) {
				bad = 1;
				break;
			}
			bad |= json_object_set_new(l, "path", jstr(r->lint[i].path));
			bad |= json_object_set_new(l, "code", jstr(r->lint[i].code));
			bad |= json_object_set_new(l, "message", jstr(r->lint[i].message));
			bad |= json_array_append_new(ll, l);
		}
	}
	bad |= json_object_set_new(o, "lint", ll);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
