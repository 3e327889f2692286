/*
 * dkim_keys: DKIM key records from a key file (override), then a TTL cache, then DNS TXT.
 *
 * DNS goes through libresolv on a resolver state made for each lookup (res_ninit .. res_nclose),
 * so nothing resolver-related is shared between threads. The cache is one mutex-protected hash
 * table with an age list; DNS queries run outside the lock (two threads missing the same name
 * at once both ask DNS; the later answer replaces the earlier one).
 *
 * Time bound of a lookup: glibc's UDP retries are sized to fit timeout_s (retrans x retry x
 * nameservers). glibc's own TCP fallback on a truncated answer has no timeout at all (blocking
 * connect and read), so it is switched off (RES_IGNTC) and a truncated answer is asked again
 * over TCP here, non-blocking, with the rest of the deadline (at least one second). EDNS0 is on
 * so that answers up to 1200 bytes come over UDP.
 */
#include "ingest/dkim_keys.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/net.h"

#define DK_NAME_MAX 253          /* longest domain name in text form, no trailing dot */
#define DK_LABEL_MAX 63
#define DK_MSG_MAX 65535         /* largest DNS message (TCP) */
#define DK_CNAME_MAX 8           /* CNAME hops followed inside one answer */
#define DK_TIMEOUT_MAX 60        /* timeout_s above this is clamped */
#define DK_TCP_MIN_MS 1000       /* the TCP retry after a truncated answer gets at least this */
#define DK_BUCKETS 8192          /* power of two, twice DKIM_KEYS_CACHE_MAX */
#define DK_DEFAULT_PORT 53

struct dk_rec {                  /* one key file record */
	char *name;              /* normalised */
	char *txt;
	size_t txtlen;
	unsigned line;
};

struct dk_entry {                /* one cache entry */
	struct dk_entry *hnext;  /* bucket chain */
	struct dk_entry *older, *newer;
	uint32_t hash;
	int64_t expires;         /* valid while now < expires */
	enum dkim_key_rc rc;     /* DKIM_KEY_OK or DKIM_KEY_NONE */
	size_t textlen;
	char *text;              /* OK: the record; NONE: the reason (both in this block) */
	char name[];
};

struct dkim_keys {
	struct dk_rec *recs;     /* sorted by name; read-only after dkim_keys_new */
	size_t nrecs;
	int no_dns;
	unsigned timeout_s;
	int has_ns;
	struct sockaddr_storage ns;

	pthread_mutex_t mu;      /* guards everything below except the counters */
	struct dk_entry *bucket[DK_BUCKETS];
	struct dk_entry *oldest, *newest;
	size_t nentries;

	atomic_uint_fast64_t n_file, n_cache, n_dns;
};

static void
dk_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
dk_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);   /* a cut sentence is still a sentence */
	va_end(ap);
}

/* ---- names ---- */

/*
 * Normalises s[0..len) (one trailing dot allowed) into out: lower case, letters, digits, '-'
 * and '_' in labels of 1..63, at most DK_NAME_MAX in all. 0 or -1.
 */
static int
dk_norm(const char *s, size_t len, char *out, size_t outcap)
{
	size_t i, lab = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > DK_NAME_MAX || len >= outcap)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_') {
			lab++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (unsigned char)(c - 'A' + 'a');
			lab++;
		} else {
			return -1;
		}
		if (lab > DK_LABEL_MAX)
			return -1;
		out[i] = (char)c;
	}
	if (lab == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

/* "selector._domainkey.domain" into name (DK_NAME_MAX + 1); 0 or -1 with err. */
static int
dk_make_name(const char *selector, const char *domain, char *name, char *err, size_t errlen)
{
	char sel[DK_NAME_MAX + 1], dom[DK_NAME_MAX + 1];
	size_t sl, dl;
	int n;

	sl = selector != NULL ? strnlen(selector, DK_NAME_MAX + 2) : 0;
	if (sl == 0 || selector[sl - 1] == '.' || dk_norm(selector, sl, sel, sizeof(sel)) < 0) {
		dk_err(err, errlen, "bad selector (want letters, digits, '-', '_' in dot-separated labels)");
		return -1;
	}
	dl = domain != NULL ? strnlen(domain, DK_NAME_MAX + 2) : 0;
	if (dk_norm(domain != NULL ? domain : "", dl, dom, sizeof(dom)) < 0) {
		dk_err(err, errlen, "bad domain (want letters, digits, '-', '_' in dot-separated labels)");
		return -1;
	}
	n = snprintf(name, DK_NAME_MAX + 1, "%s._domainkey.%s", sel, dom);
	if (n < 0 || n > DK_NAME_MAX) {
		dk_err(err, errlen, "bad selector: the name %s._domainkey.DOMAIN would be longer "
		    "than %d bytes", sel, DK_NAME_MAX);
		return -1;
	}
	return 0;
}

static uint32_t
dk_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* ---- key file ---- */

static int
dk_rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dk_rec *)a)->name, ((const struct dk_rec *)b)->name);
}

static int
dk_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Zone-file style quoted pieces s[0..len) ("..." "..."; \X and \DDD escapes) concatenated into
 * out (cap bytes with the NUL). 0, or -1 with a reason in why.
 */
static int
dk_unquote(const char *s, size_t len, char *out, size_t cap, size_t *outlen, const char **why)
{
	size_t i = 0, o = 0;

	while (i < len) {
		if (dk_blank(s[i])) {
			i++;
			continue;
		}
		if (s[i] != '"') {
			*why = "text outside double quotes";
			return -1;
		}
		for (i++;; i++) {
			unsigned c;

			if (i >= len) {
				*why = "unterminated quoted string";
				return -1;
			}
			if (s[i] == '"')
				break;
			c = (unsigned char)s[i];
			if (c == '\\') {
				if (++i >= len) {
					*why = "unterminated quoted string";
					return -1;
				}
				c = (unsigned char)s[i];
				if (c >= '0' && c <= '9') {
					if (i + 2 >= len || s[i + 1] < '0' || s[i + 1] > '9' ||
					    s[i + 2] < '0' || s[i + 2] > '9') {
						*why = "bad \\DDD escape";
						return -1;
					}
					c = (c - '0') * 100 + (unsigned)(s[i + 1] - '0') * 10 +
					    (unsigned)(s[i + 2] - '0');
					i += 2;
					if (c > 255) {
						*why = "bad \\DDD escape";
						return -1;
					}
				}
			}
			if (c == 0) {
				*why = "NUL byte in the record text";
				return -1;
			}
			if (o + 1 >= cap) {
				*why = "record text too long";
				return -1;
			}
			out[o++] = (char)c;
		}
		i++;   /* the closing quote */
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

static void
dk_recs_free(struct dk_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(recs[i].name);
		free(recs[i].txt);
	}
	free(recs);
}

/* Parses one non-comment line into *r. 0, or -1 with err "PATH:LINE: reason". */
static int
dk_parse_line(const char *path, unsigned lineno, const char *s, size_t len, struct dk_rec *r,
    char *tmp, char *err, size_t errlen)
{
	char name[DK_NAME_MAX + 1];
	const char *why = NULL, *dk;
	size_t nl = 0, tl, txtlen = 0;

	while (nl < len && !dk_blank(s[nl]))
		nl++;
	if (dk_norm(s, nl, name, sizeof(name)) < 0 ||
	    (dk = strstr(name, "._domainkey.")) == NULL || dk == name ||
	    dk[sizeof("._domainkey.") - 1] == '\0') {
		dk_err(err, errlen, "%s:%u: bad name '%.*s' (want SELECTOR._domainkey.DOMAIN)", path,
		    lineno, (int)(nl > 80 ? 80 : nl), s);
		return -1;
	}
	s += nl;
	len -= nl;
	while (len > 0 && dk_blank(s[0])) {
		s++;
		len--;
	}
	/* A zone-file line may sit between the name and the text: "[TTL] [IN] TXT". */
	for (;;) {
		size_t w = 0;

		while (w < len && !dk_blank(s[w]))
			w++;
		if (w == 0 || !((w <= 10 && strspn(s, "0123456789") == w) ||
		    (w == 2 && strncasecmp(s, "IN", 2) == 0) || (w == 3 && strncasecmp(s, "TXT", 3) == 0)))
			break;
		s += w;
		len -= w;
		while (len > 0 && dk_blank(s[0])) {
			s++;
			len--;
		}
	}
	tl = len;
	while (tl > 0 && dk_blank(s[tl - 1]))
		tl--;
	if (tl == 0) {
		dk_err(err, errlen, "%s:%u: no record text after the name", path, lineno);
		return -1;
	}
	if (s[0] == '"') {
		if (dk_unquote(s, tl, tmp, DKIM_KEY_TXT_MAX, &txtlen, &why) < 0) {
			if (strcmp(why, "record text too long") == 0)
				goto toolong;
			dk_err(err, errlen, "%s:%u: %s", path, lineno, why);
			return -1;
		}
	} else {
		if (memchr(s, '\0', tl) != NULL) {
			dk_err(err, errlen, "%s:%u: NUL byte in the record text", path, lineno);
			return -1;
		}
		if (tl >= DKIM_KEY_TXT_MAX)
			goto toolong;
		memcpy(tmp, s, tl);
		txtlen = tl;
	}
	if (txtlen == 0) {
		dk_err(err, errlen, "%s:%u: empty record text", path, lineno);
		return -1;
	}

	r->line = lineno;
	r->txtlen = txtlen;
	r->name = strdup(name);
	r->txt = malloc(txtlen + 1);
	if (r->name == NULL || r->txt == NULL) {
		free(r->name);
		free(r->txt);
		r->name = r->txt = NULL;
		dk_err(err, errlen, "%s:%u: out of memory", path, lineno);
		return -1;
	}
	memcpy(r->txt, tmp, txtlen);
	r->txt[txtlen] = '\0';
	return 0;
toolong:
	dk_err(err, errlen, "%s:%u: record text longer than %d bytes", path, lineno,
	    DKIM_KEY_TXT_MAX - 1);
	return -1;
}

static int
dk_load_file(struct dkim_keys *k, const char *path, char *err, size_t errlen)
{
	struct dk_rec *recs = NULL;
	size_t nrecs = 0, caprecs = 0, len = 0, cap, pos;
	char *buf = NULL, *tmp = NULL;
	unsigned lineno = 0;
	struct stat st;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		dk_err(err, errlen, "%s: cannot open: %m", path);
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		dk_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((uintmax_t)st.st_size > DKIM_KEYS_FILE_MAX) {
		dk_err(err, errlen, "%s: larger than %u bytes", path, DKIM_KEYS_FILE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap)) == NULL || (tmp = malloc(DKIM_KEY_TXT_MAX)) == NULL) {
		dk_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(buf, 1, cap, f);
	if (ferror(f)) {
		dk_err(err, errlen, "%s: read error", path);
		goto out;
	}
	if (len == cap) {
		dk_err(err, errlen, "%s: changed while being read", path);
		goto out;
	}
	for (pos = 0; pos < len;) {
		const char *line = buf + pos, *nlp = memchr(line, '\n', len - pos);
		size_t ll = nlp != NULL ? (size_t)(nlp - line) : len - pos, i = 0;

		pos += ll + (nlp != NULL);
		lineno++;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		while (i < ll && dk_blank(line[i]))
			i++;
		if (i == ll || line[i] == '#')
			continue;
		if (nrecs == caprecs) {
			size_t nc = caprecs ? caprecs * 2 : 16;
			struct dk_rec *nr;

			if (nc > SIZE_MAX / sizeof(*recs) ||
			    (nr = realloc(recs, nc * sizeof(*recs))) == NULL) {
				dk_err(err, errlen, "%s: out of memory", path);
				goto out;
			}
			recs = nr;
			caprecs = nc;
		}
		if (dk_parse_line(path, lineno, line + i, ll - i, &recs[nrecs], tmp, err,
		    errlen) < 0)
			goto out;
		nrecs++;
	}
	if (nrecs > 1)
		qsort(recs, nrecs, sizeof(*recs), dk_rec_cmp);
	for (size_t i = 1; i < nrecs; i++) {
		if (strcmp(recs[i - 1].name, recs[i].name) == 0) {
			const struct dk_rec *a = &recs[i - 1], *b = &recs[i];

			if (a->line > b->line) {
				const struct dk_rec *t = a;

				a = b;
				b = t;
			}
			dk_err(err, errlen, "%s:%u: second record for %s (first at line %u)", path,
			    b->line, b->name, a->line);
			goto out;
		}
	}
	k->recs = recs;
	k->nrecs = nrecs;
	recs = NULL;
	nrecs = 0;
	rc = 0;
out:
	dk_recs_free(recs, nrecs);
	free(tmp);
	free(buf);
	fclose(f);
	return rc;
}

/* ---- resolver address ---- */

/* "IPv4[:PORT]" or "[IPv6][:PORT]" (port 1..65535, default 53). 0 or -1 with err. */
static int
dk_parse_resolver(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char tmp[INET6_ADDRSTRLEN + 16], scratch[160];
	size_t sl = strlen(s);
	int n;

	if (s[0] == '[' ? (sl > 0 && s[sl - 1] == ']') : strchr(s, ':') == NULL)
		n = snprintf(tmp, sizeof(tmp), "%s:%d", s, DK_DEFAULT_PORT);
	else
		n = snprintf(tmp, sizeof(tmp), "%s", s);
	if (n < 0 || (size_t)n >= sizeof(tmp) ||
	    net_parse_listen(tmp, ss, NULL, scratch, sizeof(scratch)) < 0)
		goto bad;
	if ((ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port :
	    ((struct sockaddr_in6 *)ss)->sin6_port) == 0)
		goto bad;
	return 0;
bad:
	dk_err(err, errlen, "resolver address '%.80s' is not IPv4[:PORT] or [IPv6][:PORT] "
	    "(numeric, port 1-65535)", s);
	return -1;
}

/* ---- DNS ---- */

static int64_t
dk_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Points rs at the one configured nameserver. 0, or -1 on OOM. */
static int
dk_set_ns(struct __res_state *rs, const struct sockaddr_storage *ss)
{
	for (int i = 0; i < rs->nscount && i < MAXNS; i++) {
		/* res_ninit's own copies of IPv6 addresses; res_nclose frees the slots below
		   nscount, so the ones dropped here must go now */
		free(rs->_u._ext.nsaddrs[i]);
		rs->_u._ext.nsaddrs[i] = NULL;
	}
	memset(&rs->nsaddr_list[0], 0, sizeof(rs->nsaddr_list[0]));
	if (ss->ss_family == AF_INET) {
		rs->nsaddr_list[0] = *(const struct sockaddr_in *)(const void *)ss;
	} else {
		/* glibc reads an IPv6 server from _u._ext.nsaddrs[n] when nsaddr_list[n] has
		   family 0 (__res_get_nsaddr); res_nclose frees it */
		struct sockaddr_in6 *a6 = malloc(sizeof(*a6));

		if (a6 == NULL) {
			rs->nscount = 0;
			return -1;
		}
		*a6 = *(const struct sockaddr_in6 *)(const void *)ss;
		rs->_u._ext.nsaddrs[0] = a6;
	}
	rs->_u._ext.nssocks[0] = -1;
	rs->nscount = 1;
	return 0;
}

/*
 * Sizes glibc's UDP retries to t seconds: with n servers one try takes at most about
 * n x retrans seconds (glibc waits retrans << i / n for server i > 0, at least one second
 * each), so: two tries when they fit, else one; and no more servers than seconds.
 */
static void
dk_set_timeouts(struct __res_state *rs, unsigned t)
{
	unsigned n;

	if (rs->nscount > (int)t) {
		for (int i = (int)t; i < rs->nscount && i < MAXNS; i++) {
			free(rs->_u._ext.nsaddrs[i]);
			rs->_u._ext.nsaddrs[i] = NULL;
		}
		rs->nscount = (int)t;
	}
	n = rs->nscount > 0 ? (unsigned)rs->nscount : 1;
	if (t >= 2 * n) {
		rs->retry = 2;
		rs->retrans = (int)(t / (2 * n));
	} else {
		rs->retry = 1;
		rs->retrans = (int)(t / n > 0 ? t / n : 1);
	}
	rs->options |= RES_USE_EDNS0 | RES_IGNTC;
	rs->options &= ~(unsigned long)RES_USEVC;   /* glibc's TCP path is unbounded */
}

static const char *
dk_rcode_name(unsigned rcode)
{
	switch (rcode) {
	case ns_r_formerr: return "FORMERR";
	case ns_r_servfail: return "SERVFAIL";
	case ns_r_nxdomain: return "NXDOMAIN";
	case ns_r_notimpl: return "NOTIMP";
	case ns_r_refused: return "REFUSED";
	default: return "an error";
	}
}

/* Waits until fd is ready for events or the deadline passes. 0 ready, -1 otherwise. */
static int
dk_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - dk_mono_ms();
		int r;

		if (left <= 0)
			return -1;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return (p.revents & (events | POLLHUP | POLLERR)) != 0 ? 0 : -1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* One DNS-over-TCP exchange with sa. The answer's length, or -1. */
static int
dk_tcp_one(const struct sockaddr *sa, socklen_t salen, const unsigned char *q, int qlen,
    unsigned char *msg, int64_t deadline)
{
	unsigned char out[2 + NS_PACKETSZ], lenbuf[2];
	size_t want, got, sent = 0, total = (size_t)qlen + 2;
	int fd, rc = -1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if ((size_t)qlen > NS_PACKETSZ)
		return -1;
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, (size_t)qlen);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS || dk_wait(fd, POLLOUT, deadline) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0)
			goto out;
	}
	while (sent < total) {
		ssize_t n = send(fd, out + sent, total - sent, MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (dk_wait(fd, POLLOUT, deadline) < 0)
				goto out;
		} else
			goto out;
	}
	for (int part = 0; part < 2; part++) {
		unsigned char *dst = part == 0 ? lenbuf : msg;

		want = part == 0 ? 2 : ((size_t)lenbuf[0] << 8 | lenbuf[1]);
		for (got = 0; got < want;) {
			ssize_t n = recv(fd, dst + got, want - got, 0);

			if (n > 0)
				got += (size_t)n;
			else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				if (dk_wait(fd, POLLIN, deadline) < 0)
					goto out;
			} else
				goto out;
		}
	}
	rc = (int)want;
out:
	close(fd);
	return rc;
}

/* 1 when the answer a[0..alen) is a response to the query q[0..qlen). */
static int
dk_answers(const unsigned char *q, int qlen, const unsigned char *a, int alen)
{
	ns_msg hq, ha;
	ns_rr rq, ra;

	if (alen < NS_HFIXEDSZ || q[0] != a[0] || q[1] != a[1] || (a[2] & 0x80) == 0)
		return 0;
	if (ns_initparse(q, qlen, &hq) < 0 || ns_initparse(a, alen, &ha) < 0 ||
	    ns_msg_count(ha, ns_s_qd) != 1 || ns_parserr(&hq, ns_s_qd, 0, &rq) < 0 ||
	    ns_parserr(&ha, ns_s_qd, 0, &ra) < 0)
		return 0;
	return strcasecmp(ns_rr_name(rq), ns_rr_name(ra)) == 0 &&
	    ns_rr_type(rq) == ns_rr_type(ra) && ns_rr_class(rq) == ns_rr_class(ra);
}

/* Asks the servers of rs over TCP (after a truncated UDP answer). Length, or -1 with why. */
static int
dk_tcp(struct __res_state *rs, const char *name, unsigned char *msg, int64_t deadline,
    char *why, size_t whylen)
{
	unsigned char q[NS_PACKETSZ];
	int qlen, n;

	if (deadline < dk_mono_ms() + DK_TCP_MIN_MS)
		deadline = dk_mono_ms() + DK_TCP_MIN_MS;
	qlen = res_nmkquery(rs, ns_o_query, name, ns_c_in, ns_t_txt, NULL, 0, NULL, q,
	    sizeof(q));
	if (qlen < NS_HFIXEDSZ) {
		dk_err(why, whylen, "%s: cannot make the TCP query", name);
		return -1;
	}
	for (int i = 0; i < rs->nscount && i < MAXNS; i++) {
		const struct sockaddr *sa = NULL;
		socklen_t salen = 0;

		if (rs->nsaddr_list[i].sin_family == AF_INET) {
			sa = (const struct sockaddr *)(const void *)&rs->nsaddr_list[i];
			salen = sizeof(struct sockaddr_in);
		} else if (rs->_u._ext.nsaddrs[i] != NULL &&
		    rs->_u._ext.nsaddrs[i]->sin6_family == AF_INET6) {
			sa = (const struct sockaddr *)(const void *)rs->_u._ext.nsaddrs[i];
			salen = sizeof(struct sockaddr_in6);
		}
		if (sa == NULL)
			continue;
		n = dk_tcp_one(sa, salen, q, qlen, msg, deadline);
		if (n > 0 && dk_answers(q, qlen, msg, n))
			return n;
		if (dk_mono_ms() >= deadline)
			break;
	}
	dk_err(why, whylen, "%s: answer truncated and no answer over TCP",
	    name);
	return -1;
}

/*
 * Concatenates the character-strings of TXT rdata into out (cap bytes with the NUL; at least
 * the first cap - 1 bytes even when too long). 0, -1 malformed, -2 too long, -3 NUL byte.
 */
static int
dk_txt_concat(const unsigned char *rd, size_t rdlen, char *out, size_t cap, size_t *outlen)
{
	size_t i = 0, o = 0;
	int rc = 0;

	while (i < rdlen) {
		size_t l = rd[i++];

		if (l > rdlen - i) {
			rc = -1;
			break;
		}
		if (memchr(rd + i, '\0', l) != NULL && rc == 0)
			rc = -3;
		for (size_t j = 0; j < l; j++) {
			if (o + 1 < cap)
				out[o] = (char)rd[i + j];
			else if (rc == 0)
				rc = -2;
			o++;
		}
		i += l;
	}
	out[o < cap ? o : cap - 1] = '\0';
	*outlen = o < cap ? o : cap - 1;
	return rc;
}

/*
 * Reads the answer msg[0..len) to the TXT query for name: follows CNAMEs within the answer,
 * picks the record (the first starting "v=DKIM1", else the first), writes it into txt
 * (DKIM_KEY_TXT_MAX) and its TTL (the smallest along the chain) into *ttl.
 */
static enum dkim_key_rc
dk_read_answer(const unsigned char *msg, int len, const char *name, char *txt, size_t *txtlen,
    uint32_t *ttl, char *why, size_t whylen)
{
	char cur[NS_MAXDNAME];
	uint32_t minttl = UINT32_MAX;
	int pick = -1, first = -1, count, r;
	unsigned rcode;
	ns_msg h;
	ns_rr rr;

	if (ns_initparse(msg, len, &h) < 0)
		goto malformed;
	rcode = (unsigned)ns_msg_getflag(h, ns_f_rcode);
	if (rcode == ns_r_nxdomain) {
		dk_err(why, whylen, "no key record at %s", name);
		return DKIM_KEY_NONE;
	}
	if (rcode != ns_r_noerror) {
		dk_err(why, whylen, "%s: the nameserver answered %s", name,
		    dk_rcode_name(rcode));
		return DKIM_KEY_TEMP;
	}
	snprintf(cur, sizeof(cur), "%s", name);
	count = ns_msg_count(h, ns_s_an);
	for (int hop = 0; hop < DK_CNAME_MAX; hop++) {
		int moved = 0;

		for (int i = 0; i < count && !moved; i++) {
			if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
				goto malformed;
			if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in ||
			    strcasecmp(ns_rr_name(rr), cur) != 0)
				continue;
			if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), cur,
			    sizeof(cur)) < 0)
				goto malformed;
			if (ns_rr_ttl(rr) < minttl)
				minttl = ns_rr_ttl(rr);
			moved = 1;
		}
		if (!moved)
			break;
	}
	for (int i = 0; i < count && pick < 0; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			goto malformed;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in ||
		    strcasecmp(ns_rr_name(rr), cur) != 0)
			continue;
		if (first < 0)
			first = i;
		dk_txt_concat(ns_rr_rdata(rr), ns_rr_rdlen(rr), txt, DKIM_KEY_TXT_MAX, txtlen);
		if (strncmp(txt, "v=DKIM1", 7) == 0)
			pick = i;
	}
	if (pick < 0)
		pick = first;
	if (pick < 0) {
		dk_err(why, whylen, "no key record at %s", name);
		return DKIM_KEY_NONE;
	}
	if (ns_parserr(&h, ns_s_an, pick, &rr) < 0)
		goto malformed;
	r = dk_txt_concat(ns_rr_rdata(rr), ns_rr_rdlen(rr), txt, DKIM_KEY_TXT_MAX, txtlen);
	if (r == -1) {
		dk_err(why, whylen, "malformed TXT record at %s", name);
		return DKIM_KEY_NONE;
	}
	if (r == -2) {
		dk_err(why, whylen, "key record at %s is longer than %d bytes", name,
		    DKIM_KEY_TXT_MAX - 1);
		return DKIM_KEY_NONE;
	}
	if (r == -3) {
		dk_err(why, whylen, "key record at %s contains a NUL byte", name);
		return DKIM_KEY_NONE;
	}
	*ttl = ns_rr_ttl(rr) < minttl ? ns_rr_ttl(rr) : minttl;
	return DKIM_KEY_OK;
malformed:
	dk_err(why, whylen, "%s: malformed answer", name);
	return DKIM_KEY_TEMP;
}

/* One DNS lookup of name; txt is DKIM_KEY_TXT_MAX bytes. */
static enum dkim_key_rc
dk_dns(const struct dkim_keys *k, const char *name, char *txt, size_t *txtlen, uint32_t *ttl,
    char *why, size_t whylen)
{
	int64_t deadline = dk_mono_ms() + (int64_t)k->timeout_s * 1000;
	enum dkim_key_rc rc = DKIM_KEY_TEMP;
	unsigned char *msg = NULL;
	struct __res_state rs;
	int n, herr, saverr, inited = 0, qr, tc;
	unsigned rcode;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) < 0) {
		dk_err(why, whylen, "%s: resolver set-up failed", name);
		goto out;
	}
	inited = 1;
	if ((k->has_ns && dk_set_ns(&rs, &k->ns) < 0) || (msg = malloc(DK_MSG_MAX)) == NULL) {
		dk_err(why, whylen, "%s: out of memory", name);
		goto out;
	}
	dk_set_timeouts(&rs, k->timeout_s);
	memset(msg, 0, NS_HFIXEDSZ);
	errno = 0;
	n = res_nquery(&rs, name, ns_c_in, ns_t_txt, msg, DK_MSG_MAX);
	saverr = errno;
	herr = rs.res_h_errno;
	/* On failure glibc leaves the reply (if any) in msg without telling its length: only
	   the header (zeroed above, so QR says whether one came) is read then. */
	qr = (msg[2] & 0x80) != 0;
	tc = qr && (msg[2] & 0x02) != 0;
	rcode = msg[3] & 0x0fu;
	if (n > DK_MSG_MAX)
		n = DK_MSG_MAX;
	if (tc && (n >= 0 || herr == NO_DATA)) {
		if ((n = dk_tcp(&rs, name, msg, deadline, why, whylen)) > 0)
			rc = dk_read_answer(msg, n, name, txt, txtlen, ttl, why, whylen);
	} else if (n >= 0) {
		rc = dk_read_answer(msg, n, name, txt, txtlen, ttl, why, whylen);
	} else if (herr == HOST_NOT_FOUND || herr == NO_DATA) {
		dk_err(why, whylen, "no key record at %s", name);
		rc = DKIM_KEY_NONE;
	} else if (qr && rcode != ns_r_noerror) {
		/* SERVFAIL (TRY_AGAIN) or FORMERR, NOTIMP, REFUSED (NO_RECOVERY): none of them says
		   the record does not exist, so all are temporary */
		dk_err(why, whylen, "%s: the nameserver answered %s", name,
		    dk_rcode_name(rcode));
	} else if (herr == TRY_AGAIN && (saverr == ETIMEDOUT || saverr == 0)) {
		dk_err(why, whylen, "%s: timed out", name);
	} else {
		errno = saverr;
		dk_err(why, whylen, "%s: no answer (%m)", name);
	}
out:
	free(msg);
	if (inited)
		res_nclose(&rs);
	return rc;
}

/* ---- cache ---- */

static void
dk_unlink(struct dkim_keys *k, struct dk_entry *e)
{
	struct dk_entry **pp = &k->bucket[e->hash & (DK_BUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		k->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		k->newest = e->older;
	k->nentries--;
}

static struct dk_entry *
dk_find(struct dkim_keys *k, const char *name, uint32_t hash)
{
	struct dk_entry *e;

	for (e = k->bucket[hash & (DK_BUCKETS - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Caches rc with text (record or reason) until expires; a failed malloc only skips it. */
static void
dk_cache_put(struct dkim_keys *k, const char *name, uint32_t hash, enum dkim_key_rc rc,
    const char *text, size_t textlen, int64_t expires)
{
	size_t nl = strlen(name);
	struct dk_entry *e, *old;

	if ((e = malloc(sizeof(*e) + nl + 1 + textlen + 1)) == NULL)
		return;
	memcpy(e->name, name, nl + 1);
	e->text = e->name + nl + 1;
	memcpy(e->text, text, textlen);
	e->text[textlen] = '\0';
	e->textlen = textlen;
	e->hash = hash;
	e->rc = rc;
	e->expires = expires;
	pthread_mutex_lock(&k->mu);
	if ((old = dk_find(k, name, hash)) != NULL) {
		dk_unlink(k, old);
		free(old);
	}
	while (k->nentries >= DKIM_KEYS_CACHE_MAX) {
		old = k->oldest;
		dk_unlink(k, old);
		free(old);
	}
	e->hnext = k->bucket[hash & (DK_BUCKETS - 1)];
	k->bucket[hash & (DK_BUCKETS - 1)] = e;
	e->newer = NULL;
	e->older = k->newest;
	if (k->newest != NULL)
		k->newest->newer = e;
	else
		k->oldest = e;
	k->newest = e;
	k->nentries++;
	pthread_mutex_unlock(&k->mu);
}

/* ---- API ---- */

struct dkim_keys *
dkim_keys_new(const struct dkim_keys_options *opt, char *err, size_t errlen)
{
	struct dkim_keys *k;

	dk_err(err, errlen, "%s", "");
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		dk_err(err, errlen, "out of memory");
		return NULL;
	}
	if (pthread_mutex_init(&k->mu, NULL) != 0) {
		free(k);
		dk_err(err, errlen, "cannot create a mutex");
		return NULL;
	}
	atomic_init(&k->n_file, 0);
	atomic_init(&k->n_cache, 0);
	atomic_init(&k->n_dns, 0);
	k->no_dns = opt != NULL && opt->no_dns;
	k->timeout_s = opt != NULL && opt->timeout_s > 0 ? opt->timeout_s :
	    DKIM_KEYS_TIMEOUT_DEFAULT;
	if (k->timeout_s > DK_TIMEOUT_MAX)
		k->timeout_s = DK_TIMEOUT_MAX;
	if (opt != NULL && opt->resolver != NULL && opt->resolver[0] != '\0') {
		if (dk_parse_resolver(opt->resolver, &k->ns, err, errlen) < 0)
			goto fail;
		k->has_ns = 1;
	}
	if (opt != NULL && opt->key_file != NULL && opt->key_file[0] != '\0' &&
	    dk_load_file(k, opt->key_file, err, errlen) < 0)
		goto fail;
	return k;
fail:
	dkim_keys_free(k);
	return NULL;
}

void
dkim_keys_free(struct dkim_keys *k)
{
	struct dk_entry *e, *next;

	if (k == NULL)
		return;
	for (e = k->oldest; e != NULL; e = next) {
		next = e->newer;
		free(e);
	}
	dk_recs_free(k->recs, k->nrecs);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* Copies a found record out; NONE when it does not fit the caller's buffer. */
static enum dkim_key_rc
dk_give(const char *name, const char *text, size_t textlen, char *txt, size_t cap, char *err,
    size_t errlen)
{
	if (txt == NULL || textlen >= cap) {
		dk_err(err, errlen, "key record at %s is longer than %zu bytes", name,
		    cap > 0 ? cap - 1 : 0);
		return DKIM_KEY_NONE;
	}
	memcpy(txt, text, textlen + 1);
	return DKIM_KEY_OK;
}

enum dkim_key_rc
dkim_keys_lookup_at(struct dkim_keys *k, const char *selector, const char *domain, int64_t now,
    char *txt, size_t cap, char *err, size_t errlen)
{
	char name[DK_NAME_MAX + 1], why[256], *buf = NULL;
	const struct dk_rec *r;
	struct dk_rec key;
	struct dk_entry *e;
	enum dkim_key_rc rc;
	size_t buflen = 0;
	uint32_t hash, ttl = 0;
	int64_t life;

	if (txt != NULL && cap > 0)
		txt[0] = '\0';
	dk_err(err, errlen, "%s", "");
	if (dk_make_name(selector, domain, name, err, errlen) < 0)
		return DKIM_KEY_NONE;
	key.name = name;
	r = k->nrecs > 0 ? bsearch(&key, k->recs, k->nrecs, sizeof(*k->recs), dk_rec_cmp) : NULL;
	if (r != NULL) {
		atomic_fetch_add(&k->n_file, 1);
		return dk_give(name, r->txt, r->txtlen, txt, cap, err, errlen);
	}
	if (k->no_dns) {
		dk_err(err, errlen, "no key record at %s in the key file (DNS lookups are off)",
		    name);
		return DKIM_KEY_NONE;
	}

	hash = dk_hash(name);
	pthread_mutex_lock(&k->mu);
	if ((e = dk_find(k, name, hash)) != NULL) {
		if (now < e->expires) {
			atomic_fetch_add(&k->n_cache, 1);
			if (e->rc == DKIM_KEY_OK)
				rc = dk_give(name, e->text, e->textlen, txt, cap, err, errlen);
			else {
				rc = e->rc;
				dk_err(err, errlen, "%s", e->text);
			}
			pthread_mutex_unlock(&k->mu);
			return rc;
		}
		dk_unlink(k, e);
		free(e);
	}
	pthread_mutex_unlock(&k->mu);

	atomic_fetch_add(&k->n_dns, 1);
	if ((buf = malloc(DKIM_KEY_TXT_MAX)) == NULL) {
		dk_err(err, errlen, "%s: out of memory", name);
		return DKIM_KEY_TEMP;
	}
	why[0] = '\0';
	rc = dk_dns(k, name, buf, &buflen, &ttl, why, sizeof(why));
	if (rc == DKIM_KEY_OK) {
		life = ttl < DKIM_KEYS_MIN_TTL ? DKIM_KEYS_MIN_TTL :
		    ttl > DKIM_KEYS_MAX_TTL ? DKIM_KEYS_MAX_TTL : (int64_t)ttl;
		dk_cache_put(k, name, hash, rc, buf, buflen, now + life);
		rc = dk_give(name, buf, buflen, txt, cap, err, errlen);
	} else {
		if (rc == DKIM_KEY_NONE)
			dk_cache_put(k, name, hash, rc, why, strlen(why), now + DKIM_KEYS_NEG_TTL);
		dk_err(err, errlen, "%s", why);
	}
	free(buf);
	return rc;
}

enum dkim_key_rc
dkim_keys_lookup(void *arg, const char *selector, const char *domain, char *txt, size_t cap,
    char *err, size_t errlen)
{
	return dkim_keys_lookup_at(arg, selector, domain, (int64_t)time(NULL), txt, cap, err,
	    errlen);
}

void
dkim_keys_counts(struct dkim_keys *k, struct dkim_keys_counts *out)
{
	out->file = atomic_load(&k->n_file);
	out->cache = atomic_load(&k->n_cache);
	out->dns = atomic_load(&k->n_dns);
}
