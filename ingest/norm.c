/*
 * norm: domain names, IP addresses and RFC 3339 datetimes as found in TLS-RPT reports.
 *
 * Everything here is a pure function of its arguments (thread safe, no allocation).
 * The punycode encoder follows the algorithm of RFC 3492 section 6.3 with the parameter
 * values of section 5; calendar arithmetic is done on days since 1970-01-01 in the
 * proleptic Gregorian calendar, without timegm(3) or the process time zone.
 */
#include "ingest/norm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define NORM_LABEL_MAX  63   /* RFC 1035 2.3.4 */
#define NORM_NAME_MAX   253  /* without the trailing dot */
#define NORM_IP_IN_MAX  64   /* longer text cannot be an address */
#define NORM_UCS_MAX    256  /* code points in one label before encoding */

/* RFC 3492 section 5 parameters for IDNA. */
#define PC_BASE         36
#define PC_TMIN         1
#define PC_TMAX         26
#define PC_SKEW         38
#define PC_DAMP         700
#define PC_INITIAL_BIAS 72
#define PC_INITIAL_N    0x80

size_t
norm_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		if (cp != NULL)
			*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return n;
}

static char
pc_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

static uint32_t
pc_adapt(uint32_t delta, uint32_t numpoints, int firsttime)
{
	uint32_t k = 0;

	delta = firsttime ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/*
 * Punycode-encodes the code points cps[0..n) into out (without the "xn--" prefix), at most
 * outmax bytes, no NUL added. Basic code points are expected already lower-cased.
 * Returns the number of bytes written, or -1 when it does not fit or would overflow.
 */
static int
punycode_encode(const uint32_t *cps, size_t n, char *out, size_t outmax)
{
	uint32_t cur = PC_INITIAL_N, delta = 0, bias = PC_INITIAL_BIAS, h, b, m, q, k, t;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (cps[i] < 0x80) {
			if (o >= outmax)
				return -1;
			out[o++] = (char)cps[i];
		}
	}
	h = b = (uint32_t)o;
	if (b > 0) {
		if (o >= outmax)
			return -1;
		out[o++] = '-';
	}
	while (h < n) {
		m = UINT32_MAX;
		for (i = 0; i < n; i++)
			if (cps[i] >= cur && cps[i] < m)
				m = cps[i];
		if ((m - cur) > (UINT32_MAX - delta) / (h + 1))
			return -1;
		delta += (m - cur) * (h + 1);
		cur = m;
		for (i = 0; i < n; i++) {
			if (cps[i] < cur) {
				if (++delta == 0)
					return -1;
			}
			if (cps[i] != cur)
				continue;
			q = delta;
			for (k = PC_BASE;; k += PC_BASE) {
				t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
				if (q < t)
					break;
				if (o >= outmax)
					return -1;
				out[o++] = pc_digit(t + (q - t) % (PC_BASE - t));
				q = (q - t) / (PC_BASE - t);
			}
			if (o >= outmax)
				return -1;
			out[o++] = pc_digit(q);
			bias = pc_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		cur++;
	}
	return (int)o;
}

/*
 * Appends one label lab[0..len) to out at *o, normalised: ASCII lower-cased, a label with
 * any non-ASCII character replaced by its "xn--" A-label. Returns 0 or -1.
 */
static int
norm_label(const unsigned char *lab, size_t len, char *out, size_t *o)
{
	uint32_t cps[NORM_UCS_MAX];
	size_t i, n = 0, step, start = *o;
	int ascii = 1, w;
	uint32_t cp;

	if (len == 0)
		return -1;
	if (len == 1 && lab[0] == '*') {
		/* the wildcard label of an MX pattern ("*.mail.example.com") */
		if (*o + 1 > NORM_NAME_MAX)
			return -1;
		out[(*o)++] = '*';
		return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = lab[i];

		if (c >= 0x80)
			ascii = 0;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;   /* host names: letters, digits, hyphen (and '_' as in SRV names) */
	}
	if (ascii) {
		if (len > NORM_LABEL_MAX || *o + len > NORM_NAME_MAX)
			return -1;
		for (i = 0; i < len; i++) {
			unsigned char c = lab[i];

			out[(*o)++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
		}
		return 0;
	}
	for (i = 0; i < len; i += step) {
		if ((step = norm_utf8_decode(lab + i, len - i, &cp)) == 0 || n >= NORM_UCS_MAX)
			return -1;
		if (cp >= 'A' && cp <= 'Z')
			cp += 'a' - 'A';
		cps[n++] = cp;
	}
	if (*o + 4 > NORM_NAME_MAX)
		return -1;
	memcpy(out + *o, "xn--", 4);
	*o += 4;
	w = punycode_encode(cps, n, out + *o, NORM_NAME_MAX - *o);
	if (w < 0 || *o - start + (size_t)w > NORM_LABEL_MAX)
		return -1;
	*o += (size_t)w;
	return 0;
}

int
norm_domain(const char *in, size_t len, char out[NORM_DOMAIN_MAX], int *changed)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i, lab, inlen = len;

	out[0] = '\0';
	if (changed != NULL)
		*changed = 0;
	if (len > 0 && s[len - 1] == '.')
		len--; /* one trailing dot: the root */
	if (len == 0)
		return -1;
	for (lab = 0, i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (lab > 0) {
			if (o >= NORM_NAME_MAX)
				return -1;
			out[o++] = '.';
		}
		if (norm_label(s + lab, i - lab, out, &o) != 0) {
			out[0] = '\0';
			return -1;
		}
		lab = i + 1;
	}
	out[o] = '\0';
	if (changed != NULL)
		*changed = o != inlen || memcmp(out, in, o) != 0;
	return 0;
}

int
norm_ip(const char *in, size_t len, char out[46], int *changed)
{
	char tmp[NORM_IP_IN_MAX];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *p = in, *end = in + len;
	size_t n;
	int af;

	out[0] = '\0';
	if (changed != NULL)
		*changed = 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(tmp) || memchr(p, '\0', n) != NULL)
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, tmp, addr) == 1)
		af = AF_INET6;
	else
		return -1;
	if (inet_ntop(af, addr, out, 46) == NULL) {
		out[0] = '\0';
		return -1;
	}
	if (changed != NULL)
		*changed = strlen(out) != len || memcmp(out, in, len) != 0;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (m 1..12). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;                                  /* 0..399 */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365, from March 1 */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

/* Reads exactly n decimal digits at *p (advancing it). Returns the value or -1. */
static int
take_digits(const char **p, const char *end, int n)
{
	int v = 0;

	if (end - *p < n)
		return -1;
	while (n-- > 0) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

static int
take_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/*
 * *lenient is an output like *no_zone: it is set to 1 when the text needed leniency beyond
 * RFC 3339 (a space between date and time, surrounding white space, an offset without its
 * colon), so the caller can record lint. Both may be NULL.
 */
int
norm_datetime(const char *in, size_t len, int64_t *epoch, int *no_zone, int *lenient)
{
	const char *p = in, *end = in + len;
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0, soft = 0, nz = 0;
	int64_t t;

	if (no_zone != NULL)
		*no_zone = 0;
	if (lenient != NULL)
		*lenient = 0;
	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
		soft = 1;
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
	    end[-1] == '\n')) {
		end--;
		soft = 1;
	}
	if ((y = take_digits(&p, end, 4)) < 0 || take_char(&p, end, '-') < 0 ||
	    (mo = take_digits(&p, end, 2)) < 0 || take_char(&p, end, '-') < 0 ||
	    (d = take_digits(&p, end, 2)) < 0)
		return -1;
	if (p >= end)
		return -1;
	if (*p == ' ')
		soft = 1;
	else if (*p != 'T' && *p != 't')
		return -1;
	p++;
	if ((h = take_digits(&p, end, 2)) < 0 || take_char(&p, end, ':') < 0 ||
	    (mi = take_digits(&p, end, 2)) < 0 || take_char(&p, end, ':') < 0 ||
	    (s = take_digits(&p, end, 2)) < 0)
		return -1;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p == end) {
		nz = 1;
	} else if ((*p == 'Z' || *p == 'z') && p + 1 == end) {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if ((oh = take_digits(&p, end, 2)) < 0)
			return -1;
		if (take_char(&p, end, ':') < 0)
			soft = 1;
		if ((om = take_digits(&p, end, 2)) < 0 || p != end)
			return -1;
	} else {
		return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    s > 60 || oh > 23 || om > 59)
		return -1;
	/* A leap second (:60) is counted as the first second of the next minute. */
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	*epoch = t;
	if (no_zone != NULL)
		*no_zone = nz;
	if (lenient != NULL)
		*lenient = soft;
	return 0;
}

int
norm_b64_digit(int c)
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

int
norm_domain_of(const char *s, char out[NORM_DOMAIN_MAX])
{
	const char *b = s, *e, *p, *at = NULL;

	while (*b == ' ' || *b == '\t')
		b++;
	e = b + strlen(b);
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((p = memchr(b, '<', (size_t)(e - b))) != NULL) {
		/* Name <addr>: the address inside the brackets, nothing after them */
		const char *gt = memchr(p, '>', (size_t)(e - p));

		if (gt == NULL || gt + 1 != e)
			return -1;
		b = p + 1;
		e = gt;
	}
	if ((size_t)(e - b) > 7 && strncasecmp(b, "mailto:", 7) == 0) {
		size_t k;

		b += 7;
		k = strcspn(b, "?,>");           /* the address ends at the query */
		if (b + k < e)
			e = b + k;
	} else if ((p = strstr(b, "://")) != NULL && p < e && p > b &&
	    strcspn(b, "/?#@:") == (size_t)(p - b)) {
		/* scheme://authority/...: the host of the authority (after its userinfo) */
		size_t k;

		b = p + 3;
		k = strcspn(b, "/?#");
		if (b + k < e)
			e = b + k;
		for (p = b; p < e; p++)
			if (*p == '@')
				b = p + 1;
		if (e <= b || *b == '[')
			return -1;               /* no host, or an IP literal */
		if ((p = memchr(b, ':', (size_t)(e - b))) != NULL)
			e = p;                   /* the port */
		return e > b && norm_domain(b, (size_t)(e - b), out, NULL) == 0 ? 0 : -1;
	}
	for (p = b; p < e; p++)
		if (*p == '@') {
			if (at != NULL)
				return -1;           /* two '@': no guessing which is meant */
			at = p;
		}
	if (at != NULL)
		b = at + 1;
	return e > b && norm_domain(b, (size_t)(e - b), out, NULL) == 0 ? 0 : -1;
}
