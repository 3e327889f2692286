/*
 * loadgen: HTTP/1.1 load generator for the report endpoint (a benchmark, not a test).
 *
 *   loadgen [-c CONNECTIONS] [-n REPORTS] [-D DOMAINS] [-p PATH] [-s SEED] [-t SECONDS] HOST:PORT
 *
 * Before the clock starts it builds REPORTS distinct TLS-RPT reports (RFC 8460) from a seeded
 * PRNG, gzips each one and lays out the complete POST request. Then CONNECTIONS threads each
 * keep one keep-alive connection and POST reports (application/tlsrpt+gzip) taken from a
 * shared counter until none are left, reading every response in full. The reports are about
 * DOMAINS policy domains (default 16: a collector serves its operator's few domains) and fall
 * in one 30-day period, as a month of real traffic does. A request is never
 * retried: a POST that failed on the wire is counted as a transport error and the connection
 * is opened again for the next report.
 *
 * Only loopback addresses are accepted (127.0.0.0/8, ::1, "localhost"): the tool must never
 * load anybody else's server. No name is ever resolved.
 *
 * Output on stdout: a readable block, then one line of key=value pairs with stable keys:
 *   loadgen reports=N connections=C sent=... completed=... ok=... non2xx=...
 *     transport_errors=... unsent=... status=201:N elapsed_s=... reports_per_s=...
 *     p50_ms=... p90_ms=... p99_ms=... max_ms=... json_avg_b=... gzip_avg_b=... reconnects=...
 * The first few failures are described on stderr as they happen.
 *
 * Exit status: 0 when every report got a 2xx answer; 1 when any did not (transport error,
 * non-2xx status, time bound reached); 2 on a usage or setup error.
 *
 * Time bounds: no new request starts after -t SECONDS (default 600) from the start of the
 * run; every socket operation times out after 30 s; and an alarm ends the process outright
 * LG_HARD_GRACE_S seconds after the -t bound, whatever is blocked.
 */
#define ZLIB_CONST
#define LG_DEFAULT_DOMAINS 16

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "collector/buf.h"

#define LG_DEFAULT_CONNECTIONS 64
#define LG_DEFAULT_REPORTS     20000
#define LG_DEFAULT_PATH        "/tlsrpt"
#define LG_DEFAULT_SEED        1
#define LG_DEFAULT_BOUND_S     600
#define LG_MAX_CONNECTIONS     1024
#define LG_MAX_REPORTS         1000000   /* ~1.5 GB of prepared requests at most */
#define LG_MAX_BOUND_S         86400
#define LG_PATH_MAX            256
#define LG_HOST_MAX            64        /* "[::1]:65535" and the like */
#define LG_JSON_MAX            4096      /* one generated report */
#define LG_REQ_HEAD_MAX        512
#define LG_IO_TIMEOUT_S        30
#define LG_HARD_GRACE_S        (2 * LG_IO_TIMEOUT_S)
#define LG_RBUF                16384     /* response read buffer = cap on a response header */
#define LG_LINE_MAX            1024      /* chunk-size and trailer lines */
#define LG_BODY_MAX            ((uint64_t)64 << 20) /* a longer response body is an error */
#define LG_SNIPPET             160       /* body bytes kept to describe a failure */
#define LG_ERR_MAX             256
#define LG_ERRORS_SHOWN        5
#define LG_STATUS_MAX          600

#define NS_PER_S  1000000000ULL
#define NS_PER_MS 1000000.0

/* One prepared request: head and gzipped body in one allocation. */
struct lg_report {
	char *req;
	size_t len;
};

struct lg_shared {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct lg_report *reports;
	size_t n;
	uint64_t *latency_ns;          /* per report, valid when answered[i] */
	unsigned char *answered;
	atomic_size_t next;            /* next report to send */
	atomic_uint errors_shown;
	uint64_t soft_deadline_ns;     /* no request starts after this */
	pthread_mutex_t mu;            /* guards ready, go, abort_start */
	pthread_cond_t cv;
	unsigned ready;
	int go;
	int abort_start;
};

struct lg_worker {
	pthread_t tid;
	struct lg_shared *sh;
	int fd;
	size_t roff, rlen;             /* unread bytes are rbuf[roff..rlen) */
	char rbuf[LG_RBUF];
	uint64_t status[LG_STATUS_MAX];
	uint64_t sent, completed, ok, non2xx, transport_errors, reconnects, connects;
	int timed_out;
};

/* What one response told us. */
struct lg_resp {
	int status;
	int close_after;
	char snippet[LG_SNIPPET + 1];
	size_t snippet_len;
};

/* ---------------------------------------------------------------- time, PRNG */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort(); /* cannot happen with CLOCK_MONOTONIC on Linux */
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* splitmix64 finaliser: a bijection on 64-bit values. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix64(*s);
}

/* Uniform enough in [0, n) for test data (n is small). */
static unsigned
rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rng_next(s) % n);
}

/* ---------------------------------------------------------------- report generation */

enum lg_id_style { ID_NUMERIC_DOMAIN, ID_EPOCH_NUMBER, ID_UUID, ID_DATE_INDEX };

struct lg_org {
	const char *name;
	const char *contact;
	enum lg_id_style id_style;
};

/* Invented reporters; the report-id styles imitate those seen in real reports. */
static const struct lg_org lg_orgs[] = {
	{ "Brightwater Mail Services Inc.", "smtp-tls-reporting@brightwater-mail.com", ID_DATE_INDEX },
	{ "Kestrel Communications Corporation", "tlsrpt-noreply@kestrel-comms.net", ID_NUMERIC_DOMAIN },
	{ "Polar Post AB", "postmaster@polarpost.se", ID_EPOCH_NUMBER },
	{ "Heliograph Hosting GmbH", "tls-reports@heliograph-hosting.de", ID_UUID },
	{ "Orchard Internet Ltd", "mailto:tlsrpt@orchard-isp.co.uk", ID_EPOCH_NUMBER },
	{ "Lumen Cloud Mail", "noreply-smtp-tls@lumencloud.io", ID_UUID },
	{ "Fjordnet AS", "drift@fjordnet.no", ID_NUMERIC_DOMAIN },
	{ "Cedar Relay", "abuse@cedar-relay.org", ID_DATE_INDEX },
};

static const char *const lg_words[] = {
	"alder", "birch", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "iris",
	"juniper", "kelp", "lumen", "meadow", "nimbus", "orchid", "pioneer", "quartz", "raven",
	"summit", "tundra", "umber", "vertex", "willow", "yarrow", "zephyr", "copper", "slate",
};

static const char *const lg_tlds[] = {
	"com", "net", "org", "de", "nl", "fr", "io", "co.uk", "se", "ch",
};

struct lg_failure_kind {
	const char *result_type;
	const char *reason;
	int with_info; /* add additional-information */
};

static const struct lg_failure_kind lg_failures[] = {
	{ "certificate-expired", "X509_V_ERR_CERT_HAS_EXPIRED", 0 },
	{ "certificate-host-mismatch", "X509_V_ERR_HOSTNAME_MISMATCH", 0 },
	{ "certificate-not-trusted", "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", 1 },
	{ "starttls-not-supported", "STARTTLS was not offered in the EHLO response", 0 },
	{ "validation-failure", "TLS handshake failed: unexpected EOF while reading", 1 },
	{ "sts-policy-fetch-error", "bad https response code: 404", 0 },
	{ "sts-webpki-invalid", "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 1 },
};

static const char *const lg_modes[] = { "testing", "testing", "enforce" };
static const unsigned lg_max_ages[] = { 86400, 604800, 1209600, 2592000 };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A documentation-range address (RFC 5737 / RFC 3849) as text. */
static void
random_ip(uint64_t *rng, char *dst, size_t cap)
{
	static const char *const nets4[] = { "192.0.2", "198.51.100", "203.0.113" };
	int rc;

	if (rng_below(rng, 3) == 0)
		rc = snprintf(dst, cap, "2001:db8:%x:%x::%x", rng_below(rng, 0xffff) + 1,
		    rng_below(rng, 0xff), rng_below(rng, 0xfff) + 1);
	else
		rc = snprintf(dst, cap, "%s.%u", nets4[rng_below(rng, NELEM(nets4))],
		    rng_below(rng, 254) + 1);
	if (rc < 0 || (size_t)rc >= cap)
		dst[0] = '\0'; /* cannot happen with the caps used below */
}

/* A session count spread over a few orders of magnitude, as real reports are. */
static uint64_t
random_count(uint64_t *rng, unsigned max_digits)
{
	uint64_t lim = 1;
	unsigned digits = rng_below(rng, max_digits) + 1;

	while (digits-- > 0)
		lim *= 10;
	return rng_next(rng) % lim + 1;
}

/*
 * Appends one report to out (whose cap bounds it; check out->err). uniq must differ between
 * the reports of a run: it is printed whole in the report-id, so no two reports can share a
 * dedup key whatever else the PRNG repeats.
 */
static unsigned lg_ndomains = LG_DEFAULT_DOMAINS;

static void
build_report(struct buf *out, uint64_t *rng, uint64_t uniq)
{
	const struct lg_org *org = &lg_orgs[rng_below(rng, NELEM(lg_orgs))];
	char domain[96], mx[2][128], date[16], rid[160], ip[2][48];
	uint64_t fcount[2], fsum = 0, success;
	unsigned nfail, kinds[2];
	time_t day;
	struct tm tm;
	int rc;

	{
		unsigned d = rng_below(rng, lg_ndomains);

		rc = snprintf(domain, sizeof(domain), "%s-%s%u.%s", lg_words[d % NELEM(lg_words)],
		    lg_words[(d / NELEM(lg_words)) % NELEM(lg_words)], d, lg_tlds[d % NELEM(lg_tlds)]);
	}
	if (rc < 0 || (size_t)rc >= sizeof(domain))
		goto trunc;
	if (rng_below(rng, 2) == 0) {
		rc = snprintf(mx[0], sizeof(mx[0]), "mx1.%s", domain);
		if (rc < 0 || (size_t)rc >= sizeof(mx[0]))
			goto trunc;
		rc = snprintf(mx[1], sizeof(mx[1]), "mx2.%s", domain);
	} else {
		rc = snprintf(mx[0], sizeof(mx[0]), "mail.%s", domain);
		if (rc < 0 || (size_t)rc >= sizeof(mx[0]))
			goto trunc;
		rc = snprintf(mx[1], sizeof(mx[1]), "*.mx.%s", domain);
	}
	if (rc < 0 || (size_t)rc >= sizeof(mx[1]))
		goto trunc;

	/* One UTC day of a 30-day period in 2024. */
	day = (time_t)(1717200000 - 1717200000 % 86400 + (int64_t)rng_below(rng, 30) * 86400);
	if (gmtime_r(&day, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
		goto trunc;

	switch (org->id_style) {
	case ID_NUMERIC_DOMAIN:
		rc = snprintf(rid, sizeof(rid), "%" PRIu64 "+%s", uniq, domain);
		break;
	case ID_EPOCH_NUMBER:
		rc = snprintf(rid, sizeof(rid), "%lld_%" PRIu64, (long long)day, uniq);
		break;
	case ID_UUID:
		rc = snprintf(rid, sizeof(rid), "%08" PRIx64 "-%04" PRIx64 "-4%03x-%04x-%012" PRIx64,
		    uniq >> 32, (uniq >> 16) & 0xffff, rng_below(rng, 0x1000),
		    0x8000 | rng_below(rng, 0x4000), ((uniq & 0xffff) << 32) | (rng_next(rng) >> 32));
		break;
	case ID_DATE_INDEX:
	default:
		rc = snprintf(rid, sizeof(rid), "%sT00:00:00Z_%016" PRIx64 "_%s", date, uniq, domain);
		break;
	}
	if (rc < 0 || (size_t)rc >= sizeof(rid))
		goto trunc;

	success = random_count(rng, 5);
	nfail = rng_below(rng, 2) + 1;
	for (unsigned i = 0; i < nfail; i++) {
		kinds[i] = rng_below(rng, NELEM(lg_failures));
		fcount[i] = random_count(rng, 3);
		fsum += fcount[i];
	}

	buf_printf(out,
	    "{\n"
	    "  \"organization-name\": \"%s\",\n"
	    "  \"date-range\": {\n"
	    "    \"start-datetime\": \"%sT00:00:00Z\",\n"
	    "    \"end-datetime\": \"%sT23:59:59Z\"\n"
	    "  },\n"
	    "  \"contact-info\": \"%s\",\n"
	    "  \"report-id\": \"%s\",\n"
	    "  \"policies\": [\n"
	    "    {\n"
	    "      \"policy\": {\n"
	    "        \"policy-type\": \"sts\",\n"
	    "        \"policy-string\": [\n"
	    "          \"version: STSv1\",\n"
	    "          \"mode: %s\",\n"
	    "          \"mx: %s\",\n"
	    "          \"mx: %s\",\n"
	    "          \"max_age: %u\"\n"
	    "        ],\n"
	    "        \"policy-domain\": \"%s\",\n"
	    "        \"mx-host\": [\n"
	    "          \"%s\",\n"
	    "          \"%s\"\n"
	    "        ]\n"
	    "      },\n"
	    "      \"summary\": {\n"
	    "        \"total-successful-session-count\": %" PRIu64 ",\n"
	    "        \"total-failure-session-count\": %" PRIu64 "\n"
	    "      },\n"
	    "      \"failure-details\": [\n",
	    org->name, date, date, org->contact, rid,
	    lg_modes[rng_below(rng, NELEM(lg_modes))], mx[0], mx[1],
	    lg_max_ages[rng_below(rng, NELEM(lg_max_ages))], domain, mx[0], mx[1],
	    success, fsum);
	for (unsigned i = 0; i < nfail; i++) {
		const struct lg_failure_kind *k = &lg_failures[kinds[i]];
		const char *host = mx[i % 2];

		random_ip(rng, ip[0], sizeof(ip[0]));
		random_ip(rng, ip[1], sizeof(ip[1]));
		if (host[0] == '*')
			host = mx[0]; /* a wildcard pattern is not a host name */
		buf_printf(out,
		    "        {\n"
		    "          \"result-type\": \"%s\",\n"
		    "          \"sending-mta-ip\": \"%s\",\n"
		    "          \"receiving-mx-hostname\": \"%s\",\n"
		    "          \"receiving-ip\": \"%s\",\n"
		    "          \"failed-session-count\": %" PRIu64 ",\n",
		    k->result_type, ip[0], host, ip[1], fcount[i]);
		if (k->with_info)
			buf_printf(out,
			    "          \"additional-information\": \"https://%s/kb/tls-%s\",\n",
			    org->contact + strcspn(org->contact, "@") + 1, k->result_type);
		buf_printf(out,
		    "          \"failure-reason-code\": \"%s\"\n"
		    "        }%s\n",
		    k->reason, i + 1 < nfail ? "," : "");
	}
	buf_puts(out,
	    "      ]\n"
	    "    }\n"
	    "  ]\n"
	    "}\n");
	return;
trunc:
	out->err = BUF_ERR_CAP; /* the caller checks the sticky error */
}

/* Gzips in[0..len) as one member. Returns a malloc'd buffer and sets *outlen, or NULL. */
static unsigned char *
gzip_bytes(const char *in, size_t len, size_t *outlen)
{
	z_stream zs;
	unsigned char *out = NULL;
	uLong bound;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	bound = deflateBound(&zs, (uLong)len);
	if ((out = malloc(bound)) == NULL)
		goto fail;
	zs.next_in = (const Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		goto fail;
	*outlen = (size_t)zs.total_out;
	deflateEnd(&zs);
	return out;
fail:
	free(out);
	deflateEnd(&zs);
	return NULL;
}

/*
 * Builds every request. Returns 0, or -1 with a message on stderr. *json_total and
 * *gzip_total receive the summed body sizes.
 */
static int
prepare_reports(struct lg_shared *sh, uint64_t seed, const char *path, const char *hosthdr,
    uint64_t *json_total, uint64_t *gzip_total)
{
	struct buf json;
	uint64_t rng = seed;
	uint64_t base = mix64(seed ^ 0x5bd1e9955bd1e995ULL);
	char head[LG_REQ_HEAD_MAX];
	int rc = -1;

	buf_init(&json, LG_JSON_MAX);
	*json_total = *gzip_total = 0;
	for (size_t i = 0; i < sh->n; i++) {
		unsigned char *gz;
		size_t gzlen = 0;
		int hl;

		buf_reset(&json);
		/* base + i is distinct for every i, and mix64 is a bijection. */
		build_report(&json, &rng, mix64(base + (uint64_t)i));
		if (json.err != BUF_OK) {
			fprintf(stderr, "loadgen: report %zu does not fit in %d bytes\n", i,
			    LG_JSON_MAX);
			goto out;
		}
		if ((gz = gzip_bytes(json.data, json.len, &gzlen)) == NULL) {
			fprintf(stderr, "loadgen: gzip failed for report %zu\n", i);
			goto out;
		}
		hl = snprintf(head, sizeof(head),
		    "POST %s HTTP/1.1\r\n"
		    "Host: %s\r\n"
		    "User-Agent: tlsrptd-loadgen/1\r\n"
		    "Content-Type: application/tlsrpt+gzip\r\n"
		    "Content-Length: %zu\r\n"
		    "\r\n", path, hosthdr, gzlen);
		if (hl < 0 || (size_t)hl >= sizeof(head)) {
			free(gz);
			fprintf(stderr, "loadgen: request head too long\n");
			goto out;
		}
		sh->reports[i].len = (size_t)hl + gzlen;
		if ((sh->reports[i].req = malloc(sh->reports[i].len)) == NULL) {
			free(gz);
			fprintf(stderr, "loadgen: out of memory preparing report %zu\n", i);
			goto out;
		}
		memcpy(sh->reports[i].req, head, (size_t)hl);
		memcpy(sh->reports[i].req + hl, gz, gzlen);
		free(gz);
		*json_total += json.len;
		*gzip_total += gzlen;
	}
	rc = 0;
out:
	buf_free(&json);
	return rc;
}

/* ---------------------------------------------------------------- target address */

/*
 * Parses HOST:PORT ([v6]:PORT for IPv6) into a loopback socket address and the Host header
 * value. Returns 0, or -1 with a message on stderr.
 */
static int
parse_target(const char *arg, struct sockaddr_storage *ss, socklen_t *sslen, char *hosthdr,
    size_t hostcap)
{
	char host[LG_HOST_MAX];
	const char *colon, *hs, *he;
	char *end;
	unsigned long port;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	int rc;

	if (arg[0] == '[') {
		hs = arg + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto syntax;
		colon = he + 1;
	} else {
		hs = arg;
		if ((colon = strrchr(arg, ':')) == NULL)
			goto syntax;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL) {
			fprintf(stderr, "loadgen: write IPv6 addresses in brackets: [::1]:PORT\n");
			return -1;
		}
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host))
		goto syntax;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535 ||
	    colon[1] == '-' || colon[1] == '+')
		goto syntax;

	memset(ss, 0, sizeof(*ss));
	if (strcasecmp(host, "localhost") == 0)
		memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			goto not_loopback;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		rc = snprintf(hosthdr, hostcap, "%s:%lu", host, port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			goto not_loopback;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		rc = snprintf(hosthdr, hostcap, "[%s]:%lu", host, port);
	} else {
		goto not_loopback;
	}
	if (rc < 0 || (size_t)rc >= hostcap)
		goto syntax;
	return 0;
not_loopback:
	fprintf(stderr, "loadgen: refusing %s: only loopback addresses are allowed "
	    "(127.0.0.0/8, ::1, localhost)\n", host);
	return -1;
syntax:
	fprintf(stderr, "loadgen: bad target '%s': expected HOST:PORT or [::1]:PORT\n", arg);
	return -1;
}

/* ---------------------------------------------------------------- connection I/O */

/* Describes a failure on stderr, for the first few only. */
static void
report_error(struct lg_shared *sh, size_t idx, const char *what)
{
	unsigned n = atomic_fetch_add(&sh->errors_shown, 1);

	if (n < LG_ERRORS_SHOWN)
		fprintf(stderr, "loadgen: report %zu: %s\n", idx, what);
	else if (n == LG_ERRORS_SHOWN)
		fprintf(stderr, "loadgen: (further failures not shown)\n");
}

static void
conn_close(struct lg_worker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->roff = w->rlen = 0;
}

static int
conn_open(struct lg_worker *w, char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = LG_IO_TIMEOUT_S, .tv_usec = 0 };
	int one = 1;
	int fd;

	conn_close(w);
	fd = socket(w->sh->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		close(fd);
		return -1;
	}
	/* No EINTR retry: a restarted connect() fails with EALREADY; no handler returns anyway. */
	if (connect(fd, (const struct sockaddr *)&w->sh->addr, w->sh->addrlen) != 0) {
		snprintf(err, errlen, "connect: %s", errno == EINPROGRESS ? "timed out" :
		    strerror(errno));
		close(fd);
		return -1;
	}
	w->fd = fd;
	w->connects++;
	return 0;
}

/* Sends everything. 0, or the errno of the failure (described in err). */
static int
send_all(int fd, const char *p, size_t len, char *err, size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			snprintf(err, errlen, "send: %s", e == EAGAIN || e == EWOULDBLOCK ?
			    "timed out" : strerror(e));
			return e != 0 ? e : EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes into rbuf. Returns the count, 0 at EOF, -1 on error or a full buffer. */
static int
conn_fill(struct lg_worker *w, char *err, size_t errlen)
{
	ssize_t n;

	if (w->roff == w->rlen) {
		w->roff = w->rlen = 0;
	} else if (w->rlen == sizeof(w->rbuf)) {
		if (w->roff == 0) {
			snprintf(err, errlen, "response line or header over %d bytes", LG_RBUF);
			return -1;
		}
		memmove(w->rbuf, w->rbuf + w->roff, w->rlen - w->roff);
		w->rlen -= w->roff;
		w->roff = 0;
	}
	for (;;) {
		n = recv(w->fd, w->rbuf + w->rlen, sizeof(w->rbuf) - w->rlen, 0);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "recv: %s", errno == EAGAIN || errno == EWOULDBLOCK ?
		    "timed out" : strerror(errno));
		return -1;
	}
	w->rlen += (size_t)n;
	return (int)n;
}

/*
 * Makes sure rbuf[roff..] holds a complete line ending in CRLF (or, with blank_end, a header
 * block ending in CRLF CRLF). Returns the length including the terminator, or -1.
 */
static long
conn_until(struct lg_worker *w, int blank_end, size_t max, const char *what, char *err,
    size_t errlen)
{
	const char *term = blank_end ? "\r\n\r\n" : "\r\n";
	size_t tlen = blank_end ? 4 : 2;

	for (;;) {
		const char *base = w->rbuf + w->roff;
		size_t avail = w->rlen - w->roff;
		const char *hit = memmem(base, avail, term, tlen);
		int n;

		if (hit != NULL && (size_t)(hit - base) + tlen <= max)
			return (long)((size_t)(hit - base) + tlen);
		if (hit != NULL || avail >= max) {
			snprintf(err, errlen, "%s longer than %zu bytes", what, max);
			return -1;
		}
		if ((n = conn_fill(w, err, errlen)) < 0)
			return -1;
		if (n == 0) {
			if (avail == 0 && blank_end)
				snprintf(err, errlen, "connection closed before the response");
			else
				snprintf(err, errlen, "connection closed inside the %s", what);
			return -1;
		}
	}
}

/* Discards n body bytes (keeping the first ones in r->snippet). 0 or -1. */
static int
conn_skip(struct lg_worker *w, uint64_t n, struct lg_resp *r, char *err, size_t errlen)
{
	while (n > 0) {
		size_t avail = w->rlen - w->roff, take;
		int got;

		if (avail == 0) {
			if ((got = conn_fill(w, err, errlen)) < 0)
				return -1;
			if (got == 0) {
				snprintf(err, errlen, "connection closed inside the body "
				    "(%" PRIu64 " bytes missing)", n);
				return -1;
			}
			continue;
		}
		take = (uint64_t)avail < n ? avail : (size_t)n;
		if (r->snippet_len < LG_SNIPPET) {
			size_t room = LG_SNIPPET - r->snippet_len;
			size_t k = take < room ? take : room;

			memcpy(r->snippet + r->snippet_len, w->rbuf + w->roff, k);
			r->snippet_len += k;
			r->snippet[r->snippet_len] = '\0';
		}
		w->roff += take;
		n -= take;
	}
	return 0;
}

/* Case-insensitive: does the comma-separated list v[0..len) hold token tok? */
static int
has_token(const char *v, size_t len, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return 1;
	}
	return 0;
}

/*
 * Parses a response head h[0..len) (status line, headers, blank line). Sets r->status,
 * r->close_after, *chunked, *has_len and *clen. 0 or -1.
 */
static int
parse_head(const char *h, size_t len, struct lg_resp *r, int *chunked, int *has_len,
    uint64_t *clen, char *err, size_t errlen)
{
	const char *p = h, *end = h + len, *eol;
	int http10, keep_alive = 0;

	*chunked = *has_len = 0;
	*clen = 0;
	r->close_after = 0;
	if (len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r')) {
		snprintf(err, errlen, "malformed status line");
		return -1;
	}
	http10 = p[7] == '0';
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	for (p = eol + 2; p < end; p = eol + 2) {
		const char *colon, *v, *ve;
		size_t nl;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL || eol == p)
			break; /* the blank line that ends the head */
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL || colon == p) {
			snprintf(err, errlen, "malformed header line");
			return -1;
		}
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (nl == 14 && strncasecmp(p, "Content-Length", nl) == 0) {
			uint64_t x = 0;

			if (v == ve) {
				snprintf(err, errlen, "empty Content-Length");
				return -1;
			}
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9' || x > (LG_BODY_MAX - (uint64_t)(*q - '0')) / 10) {
					snprintf(err, errlen, "bad or huge Content-Length");
					return -1;
				}
				x = x * 10 + (uint64_t)(*q - '0');
			}
			if (*has_len && x != *clen) {
				snprintf(err, errlen, "conflicting Content-Length headers");
				return -1;
			}
			*has_len = 1;
			*clen = x;
		} else if (nl == 17 && strncasecmp(p, "Transfer-Encoding", nl) == 0) {
			if (!has_token(v, (size_t)(ve - v), "chunked")) {
				snprintf(err, errlen, "unsupported Transfer-Encoding");
				return -1;
			}
			*chunked = 1;
		} else if (nl == 10 && strncasecmp(p, "Connection", nl) == 0) {
			if (has_token(v, (size_t)(ve - v), "close"))
				r->close_after = 1;
			if (has_token(v, (size_t)(ve - v), "keep-alive"))
				keep_alive = 1;
		}
	}
	if (http10 && !keep_alive)
		r->close_after = 1;
	if (*chunked && *has_len) {
		*has_len = 0;           /* RFC 9112 6.3: chunked wins, and the connection ends */
		r->close_after = 1;
	}
	return 0;
}

/* Reads a chunked body to its end, trailers included. 0 or -1. */
static int
read_chunked(struct lg_worker *w, struct lg_resp *r, char *err, size_t errlen)
{
	uint64_t total = 0;

	for (;;) {
		uint64_t size = 0;
		const char *q;
		int digits = 0;
		long ll = conn_until(w, 0, LG_LINE_MAX, "chunk-size line", err, errlen);

		if (ll < 0)
			return -1;
		for (q = w->rbuf + w->roff; q < w->rbuf + w->roff + ll - 2; q++, digits++) {
			int d;

			if (*q >= '0' && *q <= '9')
				d = *q - '0';
			else if (*q >= 'a' && *q <= 'f')
				d = *q - 'a' + 10;
			else if (*q >= 'A' && *q <= 'F')
				d = *q - 'A' + 10;
			else
				break; /* chunk extensions (;...) are ignored */
			if (size > LG_BODY_MAX >> 4) {
				snprintf(err, errlen, "chunk too large");
				return -1;
			}
			size = size * 16 + (uint64_t)d;
		}
		if (digits == 0 || (*q != ';' && *q != ' ' && *q != '\t' && *q != '\r')) {
			snprintf(err, errlen, "malformed chunk-size line");
			return -1;
		}
		w->roff += (size_t)ll;
		if (size == 0)
			break;
		if ((total += size) > LG_BODY_MAX) {
			snprintf(err, errlen, "chunked body too large");
			return -1;
		}
		if (conn_skip(w, size, r, err, errlen) != 0)
			return -1;
		if ((ll = conn_until(w, 0, LG_LINE_MAX, "chunk end", err, errlen)) < 0)
			return -1;
		if (ll != 2) {
			snprintf(err, errlen, "chunk data longer than its size");
			return -1;
		}
		w->roff += 2;
	}
	for (;;) { /* trailer fields, then the blank line */
		long ll = conn_until(w, 0, LG_LINE_MAX, "trailer", err, errlen);

		if (ll < 0)
			return -1;
		w->roff += (size_t)ll;
		if (ll == 2)
			return 0;
	}
}

/* Reads a body delimited by the end of the connection. 0 or -1. */
static int
read_to_eof(struct lg_worker *w, struct lg_resp *r, char *err, size_t errlen)
{
	uint64_t total = 0;

	for (;;) {
		size_t avail = w->rlen - w->roff;
		int n;

		if (avail > 0) {
			if ((total += avail) > LG_BODY_MAX) {
				snprintf(err, errlen, "response body too large");
				return -1;
			}
			if (conn_skip(w, avail, r, err, errlen) != 0)
				return -1;
		}
		if ((n = conn_fill(w, err, errlen)) < 0)
			return -1;
		if (n == 0)
			return 0;
	}
}

/* Reads one complete response (skipping 1xx ones). 0 with *r filled, or -1. */
static int
read_response(struct lg_worker *w, struct lg_resp *r, char *err, size_t errlen)
{
	int chunked, has_len;
	uint64_t clen;

	for (;;) {
		long hl = conn_until(w, 1, LG_RBUF, "response header", err, errlen);

		if (hl < 0)
			return -1;
		r->snippet_len = 0;
		r->snippet[0] = '\0';
		if (parse_head(w->rbuf + w->roff, (size_t)hl, r, &chunked, &has_len, &clen, err,
		    errlen) != 0)
			return -1;
		w->roff += (size_t)hl;
		if (r->status >= 200)
			break;
		if (r->status == 101) {
			snprintf(err, errlen, "unexpected 101 Switching Protocols");
			return -1;
		}
	}
	if (r->status == 204 || r->status == 304)
		return 0;
	if (chunked)
		return read_chunked(w, r, err, errlen);
	if (has_len)
		return conn_skip(w, clen, r, err, errlen);
	r->close_after = 1;
	return read_to_eof(w, r, err, errlen);
}

/*
 * Sends one request and reads its response, opening the connection first when needed.
 * 0 with *r filled, or -1 (a transport error, described in err; the connection is closed).
 */
static int
do_request(struct lg_worker *w, const struct lg_report *rep, struct lg_resp *r, char *err,
    size_t errlen)
{
	char serr[LG_ERR_MAX];
	int e;

	if (w->fd < 0) {
		if (conn_open(w, err, errlen) != 0)
			return -1;
		if (w->connects > 1)
			w->reconnects++;
	}
	if ((e = send_all(w->fd, rep->req, rep->len, serr, sizeof(serr))) != 0) {
		/* The server may have answered early (413, say) and closed: read that answer. */
		if (e == EPIPE || e == ECONNRESET) {
			if (read_response(w, r, err, errlen) == 0) {
				r->close_after = 1;
				return 0;
			}
		}
		snprintf(err, errlen, "%s", serr);
		conn_close(w);
		return -1;
	}
	if (read_response(w, r, err, errlen) != 0) {
		conn_close(w);
		return -1;
	}
	return 0;
}

/* Printable copy of a body snippet for an error message. */
static void
sanitize(char *dst, size_t cap, const char *s, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < cap; i++)
		dst[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '.';
	dst[j] = '\0';
}

static void *
worker_main(void *arg)
{
	struct lg_worker *w = arg;
	struct lg_shared *sh = w->sh;
	char err[LG_ERR_MAX], msg[LG_ERR_MAX + LG_SNIPPET + 32], body[LG_SNIPPET + 1];
	struct lg_resp r;
	int start;

	/* Connect before the clock starts; a failure here is retried by the first request. */
	(void)conn_open(w, err, sizeof(err));
	pthread_mutex_lock(&sh->mu);
	sh->ready++;
	pthread_cond_broadcast(&sh->cv);
	while (!sh->go && !sh->abort_start)
		pthread_cond_wait(&sh->cv, &sh->mu);
	start = !sh->abort_start;
	pthread_mutex_unlock(&sh->mu);

	while (start) {
		size_t i = atomic_fetch_add(&sh->next, 1);
		uint64_t t0, t1;

		if (i >= sh->n)
			break;
		t0 = now_ns();
		if (t0 > sh->soft_deadline_ns) {
			w->timed_out = 1;
			break;
		}
		w->sent++;
		if (do_request(w, &sh->reports[i], &r, err, sizeof(err)) != 0) {
			w->transport_errors++;
			report_error(sh, i, err);
			continue;
		}
		t1 = now_ns();
		sh->latency_ns[i] = t1 - t0;
		sh->answered[i] = 1;
		w->completed++;
		w->status[r.status < LG_STATUS_MAX ? r.status : 0]++;
		if (r.status >= 200 && r.status < 300) {
			w->ok++;
		} else {
			w->non2xx++;
			sanitize(body, sizeof(body), r.snippet, r.snippet_len);
			snprintf(msg, sizeof(msg), "HTTP %d: %s", r.status, body);
			report_error(sh, i, msg);
		}
		if (r.close_after)
			conn_close(w);
	}
	conn_close(w);
	return NULL;
}

/* ---------------------------------------------------------------- summary */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in ms (0 when n is 0). */
static double
percentile_ms(const uint64_t *v, size_t n, unsigned pct)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (n * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / NS_PER_MS;
}

static void
on_alarm(int sig)
{
	static const char msg[] = "loadgen: hard time bound reached, giving up\n";
	ssize_t rc;

	(void)sig;
	rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)rc;
	_exit(1);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [-c CONNECTIONS] [-n REPORTS] [-D DOMAINS] [-p PATH] [-s SEED] "
	    "[-t SECONDS] HOST:PORT\n"
	    "  -c  concurrent keep-alive connections (default %d, at most %d)\n"
	    "  -n  reports to POST, all distinct (default %d, at most %d)\n"
	    "  -D  distinct policy domains (default %d)\n"
	    "  -p  request path (default %s)\n"
	    "  -s  PRNG seed for the reports (default %d)\n"
	    "  -t  no request starts after this many seconds (default %d)\n"
	    "HOST must be a loopback address: 127.0.0.1, [::1] or localhost.\n",
	    LG_DEFAULT_CONNECTIONS, LG_MAX_CONNECTIONS, LG_DEFAULT_REPORTS, LG_MAX_REPORTS,
	    LG_DEFAULT_DOMAINS, LG_DEFAULT_PATH, LG_DEFAULT_SEED, LG_DEFAULT_BOUND_S);
}

/* Parses a decimal option argument in [min, max]. 0 or -1. */
static int
parse_num(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
valid_path(const char *p)
{
	size_t len = strlen(p);

	if (len == 0 || len >= LG_PATH_MAX || p[0] != '/')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

int
main(int argc, char **argv)
{
	unsigned long long conns = LG_DEFAULT_CONNECTIONS, nrep = LG_DEFAULT_REPORTS;
	unsigned long long seed = LG_DEFAULT_SEED, bound = LG_DEFAULT_BOUND_S;
	const char *path = LG_DEFAULT_PATH;
	char hosthdr[LG_HOST_MAX + 8], statuses[LG_STATUS_MAX * 16];
	struct lg_shared sh;
	struct lg_worker *workers = NULL;
	struct sigaction sa;
	uint64_t json_total = 0, gzip_total = 0, t_start, t_end, *lat = NULL;
	uint64_t sent = 0, completed = 0, ok = 0, non2xx = 0, terr = 0, reconnects = 0;
	uint64_t status[LG_STATUS_MAX];
	size_t created = 0, nlat = 0, slen = 0;
	int opt, timed_out = 0, rc = 2, sync_ok = 0;
	double elapsed, rps;

	memset(&sh, 0, sizeof(sh));
	memset(status, 0, sizeof(status));
	while ((opt = getopt(argc, argv, "c:n:D:p:s:t:h")) != -1) {
		switch (opt) {
		case 'c':
			if (parse_num(optarg, 1, LG_MAX_CONNECTIONS, &conns) != 0)
				goto bad_usage;
			break;
		case 'n':
			if (parse_num(optarg, 1, LG_MAX_REPORTS, &nrep) != 0)
				goto bad_usage;
			break;
		case 'D': {
			unsigned long long nd;

			if (parse_num(optarg, 1, 1000000, &nd) != 0)
				goto bad_usage;
			lg_ndomains = (unsigned)nd;
			break;
		}
		case 'p':
			if (!valid_path(optarg))
				goto bad_usage;
			path = optarg;
			break;
		case 's':
			if (parse_num(optarg, 0, UINT64_MAX, &seed) != 0)
				goto bad_usage;
			break;
		case 't':
			if (parse_num(optarg, 1, LG_MAX_BOUND_S, &bound) != 0)
				goto bad_usage;
			break;
		case 'h':
			usage();
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind != argc - 1)
		goto bad_usage;
	if (parse_target(argv[optind], &sh.addr, &sh.addrlen, hosthdr, sizeof(hosthdr)) != 0)
		return 2;
	if (conns > nrep)
		conns = nrep;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGALRM, &sa, NULL) != 0) {
		perror("loadgen: sigaction");
		return 2;
	}

	sh.n = (size_t)nrep;
	atomic_init(&sh.next, 0);
	atomic_init(&sh.errors_shown, 0);
	sh.reports = calloc(sh.n, sizeof(*sh.reports));
	sh.latency_ns = calloc(sh.n, sizeof(*sh.latency_ns));
	sh.answered = calloc(sh.n, 1);
	workers = calloc((size_t)conns, sizeof(*workers));
	if (sh.reports == NULL || sh.latency_ns == NULL || sh.answered == NULL || workers == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	if (prepare_reports(&sh, seed, path, hosthdr, &json_total, &gzip_total) != 0)
		goto out;
	if (pthread_mutex_init(&sh.mu, NULL) != 0)
		goto out;
	if (pthread_cond_init(&sh.cv, NULL) != 0) {
		pthread_mutex_destroy(&sh.mu);
		goto out;
	}
	sync_ok = 1;

	/* The clock starts here: everything above was preparation. */
	alarm((unsigned)(bound + LG_HARD_GRACE_S));
	sh.soft_deadline_ns = now_ns() + (uint64_t)bound * NS_PER_S;
	for (created = 0; created < (size_t)conns; created++) {
		struct lg_worker *w = &workers[created];
		int e;

		w->sh = &sh;
		w->fd = -1;
		if ((e = pthread_create(&w->tid, NULL, worker_main, w)) != 0) {
			fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(e));
			break;
		}
	}
	pthread_mutex_lock(&sh.mu);
	if (created < (size_t)conns)
		sh.abort_start = 1;
	else
		while (sh.ready < created)
			pthread_cond_wait(&sh.cv, &sh.mu);
	sh.go = 1;
	t_start = now_ns();
	pthread_cond_broadcast(&sh.cv);
	pthread_mutex_unlock(&sh.mu);
	for (size_t i = 0; i < created; i++)
		pthread_join(workers[i].tid, NULL);
	t_end = now_ns();
	alarm(0);
	if (sh.abort_start)
		goto out;

	for (size_t i = 0; i < created; i++) {
		const struct lg_worker *w = &workers[i];

		sent += w->sent;
		completed += w->completed;
		ok += w->ok;
		non2xx += w->non2xx;
		terr += w->transport_errors;
		reconnects += w->reconnects;
		timed_out |= w->timed_out;
		for (size_t s = 0; s < LG_STATUS_MAX; s++)
			status[s] += w->status[s];
	}
	if ((lat = malloc(sh.n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < sh.n; i++)
		if (sh.answered[i])
			lat[nlat++] = sh.latency_ns[i];
	qsort(lat, nlat, sizeof(*lat), cmp_u64);

	statuses[0] = '\0';
	for (size_t s = 0; s < LG_STATUS_MAX; s++) {
		int n;

		if (status[s] == 0)
			continue;
		n = snprintf(statuses + slen, sizeof(statuses) - slen, "%s%zu:%" PRIu64,
		    slen > 0 ? "," : "", s, status[s]);
		if (n < 0 || (size_t)n >= sizeof(statuses) - slen)
			break; /* cannot happen: the buffer holds every status */
		slen += (size_t)n;
	}
	if (slen == 0)
		snprintf(statuses, sizeof(statuses), "none");

	elapsed = (double)(t_end - t_start) / (double)NS_PER_S;
	rps = elapsed > 0 ? (double)ok / elapsed : 0.0;
	{
		uint64_t unsent = (uint64_t)sh.n - sent;
		double p50 = percentile_ms(lat, nlat, 50), p90 = percentile_ms(lat, nlat, 90);
		double p99 = percentile_ms(lat, nlat, 99);
		double pmax = nlat > 0 ? (double)lat[nlat - 1] / NS_PER_MS : 0.0;
		uint64_t json_avg = json_total / sh.n, gzip_avg = gzip_total / sh.n;

		printf("loadgen: %zu reports to %s%s over %llu connections (seed %llu)\n",
		    sh.n, hosthdr, path, conns, seed);
		printf("  sent          %" PRIu64 " requests (%" PRIu64 " not attempted)\n", sent,
		    unsent);
		printf("  answered      %" PRIu64 " (2xx %" PRIu64 ", other %" PRIu64 ")\n",
		    completed, ok, non2xx);
		printf("  failed        %" PRIu64 " transport errors%s\n", terr,
		    timed_out ? ", time bound reached" : "");
		printf("  status        %s\n", statuses);
		printf("  elapsed       %.3f s\n", elapsed);
		printf("  throughput    %.1f reports/s accepted\n", rps);
		printf("  latency       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		    p50, p90, p99, pmax);
		printf("  bodies        json avg %" PRIu64 " B, gzip avg %" PRIu64 " B\n",
		    json_avg, gzip_avg);
		printf("  reconnects    %" PRIu64 "\n", reconnects);
		printf("loadgen reports=%zu connections=%llu sent=%" PRIu64 " completed=%" PRIu64
		    " ok=%" PRIu64 " non2xx=%" PRIu64 " transport_errors=%" PRIu64
		    " unsent=%" PRIu64 " status=%s elapsed_s=%.3f reports_per_s=%.1f"
		    " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f json_avg_b=%" PRIu64
		    " gzip_avg_b=%" PRIu64 " reconnects=%" PRIu64 "\n",
		    sh.n, conns, sent, completed, ok, non2xx, terr, unsent, statuses, elapsed,
		    rps, p50, p90, p99, pmax, json_avg, gzip_avg, reconnects);
		rc = (ok == (uint64_t)sh.n && terr == 0 && non2xx == 0 && !timed_out) ? 0 : 1;
	}
	if (fflush(stdout) != 0)
		rc = 2;
out:
	if (sync_ok) {
		pthread_cond_destroy(&sh.cv);
		pthread_mutex_destroy(&sh.mu);
	}
	if (sh.reports != NULL)
		for (size_t i = 0; i < sh.n; i++)
			free(sh.reports[i].req);
	free(sh.reports);
	free(sh.latency_ns);
	free(sh.answered);
	free(workers);
	free(lat);
	return rc;
bad_usage:
	usage();
	return 2;
}
