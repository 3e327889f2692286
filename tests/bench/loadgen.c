/*
 * loadgen: HTTP/1.1 load generator for the report endpoint (a benchmark, not a test).
 *
 *   loadgen [-c CONNECTIONS] [-T THREADS] [-n REPORTS] [-D DOMAINS] [-p PATH] [-s SEED]
 *           [-t SECONDS] HOST:PORT
 *
 * Before the clock starts it builds REPORTS distinct TLS-RPT reports (RFC 8460) from a seeded
 * PRNG, gzips each one and lays out the complete POST request, and opens CONNECTIONS
 * keep-alive connections. Then THREADS threads (default 1) each run an epoll loop over their
 * share of the connections, which are non-blocking: every connection POSTs a report
 * (application/tlsrpt+gzip) taken from a shared counter with one send(), reads the response
 * with large recv()s into its own buffer, parses whatever has arrived and, as soon as the
 * response is complete, sends the next report, until none are left. The client thus costs
 * about two system calls per report and few context switches, and leaves the CPU to the
 * daemon it measures. The reports are about DOMAINS policy domains (default 16: a collector
 * serves its operator's few domains) and fall in one 30-day period, as a month of real
 * traffic does. A request is never retried: a POST that failed on the wire is counted as a
 * transport error and the connection is opened again for the next report. A response that
 * asks for it (Connection: close, a body delimited by the end of the connection) closes the
 * connection too.
 *
 * Latency is measured per request from the start of its send (or of the connect, when the
 * connection had to be opened again) to the last byte of its response.
 *
 * Only loopback addresses are accepted (127.0.0.0/8, ::1, "localhost"): the tool must never
 * load anybody else's server. No name is ever resolved.
 *
 * Output on stdout: a readable block, then one line of key=value pairs with stable keys:
 *   loadgen reports=N connections=C threads=T sent=... completed=... ok=... non2xx=...
 *     transport_errors=... unsent=... status=201:N elapsed_s=... reports_per_s=...
 *     p50_ms=... p90_ms=... p99_ms=... max_ms=... json_avg_b=... gzip_avg_b=... reconnects=...
 * The first few failures are described on stderr as they happen.
 *
 * Exit status: 0 when every report got a 2xx answer; 1 when any did not (transport error,
 * non-2xx status, time bound reached); 2 on a usage or setup error.
 *
 * Time bounds: no new request starts after -t SECONDS (default 600) from the start of the
 * run; a request whose connection makes no progress (connect, send or receive) for 30 s is a
 * transport error; and an alarm ends the process outright LG_HARD_GRACE_S seconds after the
 * -t bound, whatever is blocked.
 */
#define ZLIB_CONST
#define LG_DEFAULT_DOMAINS 16

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "collector/buf.h"

#define LG_DEFAULT_CONNECTIONS 64
#define LG_DEFAULT_THREADS     1
#define LG_DEFAULT_REPORTS     20000
#define LG_DEFAULT_PATH        "/tlsrpt"
#define LG_DEFAULT_SEED        1
#define LG_DEFAULT_BOUND_S     600
#define LG_MAX_CONNECTIONS     1024
#define LG_MAX_THREADS         64
#define LG_MAX_REPORTS         1000000   /* ~1.5 GB of prepared requests at most */
#define LG_MAX_BOUND_S         86400
#define LG_PATH_MAX            256
#define LG_HOST_MAX            64        /* "[::1]:65535" and the like */
#define LG_JSON_MAX            4096      /* one generated report */
#define LG_REQ_HEAD_MAX        512
#define LG_IO_TIMEOUT_S        30        /* a connection without progress for this long fails */
#define LG_HARD_GRACE_S        (2 * LG_IO_TIMEOUT_S)
#define LG_SWEEP_MS            1000      /* how often each thread looks for idle connections */
#define LG_EVENTS              128       /* epoll events taken per wait */
#define LG_RBUF                16384     /* per-connection read buffer = cap on a response header */
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

/* What one response told us. */
struct lg_resp {
	int status;
	int close_after;
	char snippet[LG_SNIPPET + 1];
	size_t snippet_len;
};

/* Where a connection is in its request cycle. */
enum lg_state {
	ST_IDLE,                       /* no request in flight: start the next one */
	ST_CONNECTING,                 /* non-blocking connect in progress */
	ST_SENDING,                    /* part of the request is still to be sent */
	ST_READING,                    /* request sent (or sending failed): awaiting the response */
	ST_DONE                        /* no more reports for this connection: closed */
};

/* Where the response parser is. */
enum lg_part {
	PART_HEAD,                     /* status line and header fields (1xx ones skipped) */
	PART_BODY_LEN,                 /* Content-Length body, `left` bytes to go */
	PART_BODY_EOF,                 /* body delimited by the end of the connection */
	PART_CHUNK_SIZE,
	PART_CHUNK_DATA,               /* `left` bytes of chunk data to go */
	PART_CHUNK_END,                /* the CRLF after chunk data */
	PART_TRAILER                   /* trailer fields, then the blank line */
};

struct lg_conn {
	int fd;                        /* -1 when closed */
	enum lg_state state;
	uint32_t events;               /* registered with epoll; 0 when not registered */
	uint64_t connects;             /* successful connects, to count reconnects */
	size_t idx;                    /* report in flight */
	uint64_t t0_ns;                /* when it started */
	uint64_t progress_ns;          /* last connect, send or receive progress */
	size_t soff;                   /* request bytes sent so far */
	int send_failed;               /* the peer stopped the send: its answer may be there */
	char send_err[LG_ERR_MAX];
	int pending;                   /* rbuf holds bytes after the last response: parse them */
	enum lg_part part;
	uint64_t left;
	uint64_t body_total;           /* chunked or EOF-delimited body bytes so far */
	size_t scanned;                /* head bytes already searched for the blank line */
	struct lg_resp r;
	size_t roff, rlen;             /* unparsed bytes are rbuf[roff..rlen) */
	char rbuf[LG_RBUF];
};

/* One event-loop thread and its share of the connections. */
struct lg_thread {
	pthread_t tid;
	struct lg_shared *sh;
	int epfd;
	struct lg_conn *conns;
	size_t nconns;
	size_t active;                 /* connections not yet ST_DONE */
	uint64_t status[LG_STATUS_MAX];
	uint64_t sent, completed, ok, non2xx, transport_errors, reconnects;
	int timed_out;
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

/*
 * Gzips in[0..len) as one member into out[0..cap) with zs, a stream made by deflateInit2 and
 * reused for every report: deflateReset gives the output of a fresh stream without the cost
 * of allocating and touching its ~270 KB of state again. Returns the size, or 0 on failure.
 */
static size_t
gzip_into(z_stream *zs, const char *in, size_t len, unsigned char *out, size_t cap)
{
	if (deflateReset(zs) != Z_OK)
		return 0;
	zs->next_in = (const Bytef *)in;
	zs->avail_in = (uInt)len;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return 0;
	return (size_t)zs->total_out;
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
	z_stream zs;
	unsigned char *gz = NULL;
	size_t gzcap;
	uint64_t rng = seed;
	uint64_t base = mix64(seed ^ 0x5bd1e9955bd1e995ULL);
	char head[LG_REQ_HEAD_MAX];
	int rc = -1;

	buf_init(&json, LG_JSON_MAX);
	*json_total = *gzip_total = 0;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		fprintf(stderr, "loadgen: deflateInit2 failed\n");
		buf_free(&json);
		return -1;
	}
	gzcap = (size_t)deflateBound(&zs, LG_JSON_MAX);
	if ((gz = malloc(gzcap)) == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < sh->n; i++) {
		size_t gzlen;
		int hl;

		buf_reset(&json);
		/* base + i is distinct for every i, and mix64 is a bijection. */
		build_report(&json, &rng, mix64(base + (uint64_t)i));
		if (json.err != BUF_OK) {
			fprintf(stderr, "loadgen: report %zu does not fit in %d bytes\n", i,
			    LG_JSON_MAX);
			goto out;
		}
		if ((gzlen = gzip_into(&zs, json.data, json.len, gz, gzcap)) == 0) {
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
			fprintf(stderr, "loadgen: request head too long\n");
			goto out;
		}
		sh->reports[i].len = (size_t)hl + gzlen;
		if ((sh->reports[i].req = malloc(sh->reports[i].len)) == NULL) {
			fprintf(stderr, "loadgen: out of memory preparing report %zu\n", i);
			goto out;
		}
		memcpy(sh->reports[i].req, head, (size_t)hl);
		memcpy(sh->reports[i].req + hl, gz, gzlen);
		*json_total += json.len;
		*gzip_total += gzlen;
	}
	rc = 0;
out:
	free(gz);
	(void)deflateEnd(&zs);
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

/* ---------------------------------------------------------------- failures, response heads */

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

/* Printable copy of a body snippet for an error message. */
static void
sanitize(char *dst, size_t cap, const char *s, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 1 < cap; i++)
		dst[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '.';
	dst[j] = '\0';
}

/* ---------------------------------------------------------------- connections */

static void
conn_close(struct lg_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also takes it out of the epoll set */
	c->fd = -1;
	c->events = 0;
	c->roff = c->rlen = 0;
	c->pending = 0;
}

/* Registers the events wanted for c's socket (once per change). 0, or -1 with errno. */
static int
conn_watch(struct lg_thread *th, struct lg_conn *c, uint32_t events)
{
	struct epoll_event ev;

	if (c->events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(th->epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) != 0)
		return -1;
	c->events = events;
	return 0;
}

static void
conn_connected(struct lg_thread *th, struct lg_conn *c)
{
	if (++c->connects > 1)
		th->reconnects++;
}

/*
 * Opens a non-blocking connection. With wait (before the clock only) an in-progress connect
 * is waited for. Returns 0 when connected, 1 when the connect is in progress (c is watched
 * for EPOLLOUT), or -1 with err filled.
 */
static int
conn_open(struct lg_thread *th, struct lg_conn *c, int wait, char *err, size_t errlen)
{
	const struct lg_shared *sh = th->sh;
	int one = 1, fd, inprogress = 0;

	conn_close(c);
	fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&sh->addr, sh->addrlen) != 0) {
		/* EINTR: the connect goes on in the background, as EINPROGRESS says. */
		if (errno != EINPROGRESS && errno != EINTR) {
			snprintf(err, errlen, "connect: %s", strerror(errno));
			close(fd);
			return -1;
		}
		inprogress = 1;
	}
	if (inprogress && wait) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT, .revents = 0 };
		int n, soerr = 0;
		socklen_t sl = sizeof(soerr);

		while ((n = poll(&pfd, 1, LG_IO_TIMEOUT_S * 1000)) < 0 && errno == EINTR)
			;
		if (n <= 0) {
			snprintf(err, errlen, "connect: %s",
			    n == 0 ? "timed out" : strerror(errno));
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			snprintf(err, errlen, "connect: %s", strerror(soerr != 0 ? soerr : errno));
			close(fd);
			return -1;
		}
		inprogress = 0;
	}
	c->fd = fd;
	if (conn_watch(th, c, inprogress ? EPOLLOUT : EPOLLIN) != 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		conn_close(c);
		return -1;
	}
	if (!inprogress)
		conn_connected(th, c);
	return inprogress;
}

/* The request in flight on c failed on the wire: count it and close the connection. */
static void
conn_fail(struct lg_thread *th, struct lg_conn *c, const char *what)
{
	th->transport_errors++;
	report_error(th->sh, c->idx, what);
	conn_close(c);
	c->state = ST_IDLE;
}

/* The response to the request in flight on c is complete. */
static void
conn_answered(struct lg_thread *th, struct lg_conn *c, int eof)
{
	struct lg_shared *sh = th->sh;
	struct lg_resp *r = &c->r;
	uint64_t t1 = now_ns();

	sh->latency_ns[c->idx] = t1 - c->t0_ns;
	sh->answered[c->idx] = 1;
	th->completed++;
	th->status[r->status < LG_STATUS_MAX ? r->status : 0]++;
	if (r->status >= 200 && r->status < 300) {
		th->ok++;
	} else {
		char msg[LG_ERR_MAX + LG_SNIPPET + 32], body[LG_SNIPPET + 1];

		th->non2xx++;
		sanitize(body, sizeof(body), r->snippet, r->snippet_len);
		snprintf(msg, sizeof(msg), "HTTP %d: %s", r->status, body);
		report_error(sh, c->idx, msg);
	}
	/* An answer that came before the whole request went out ends the connection too. */
	if (r->close_after || eof || c->send_failed || c->soff < sh->reports[c->idx].len)
		conn_close(c);
	else if (c->roff < c->rlen)
		c->pending = 1;
	c->state = ST_IDLE;
}

/*
 * Makes sure rbuf[roff..rlen) starts with a complete CRLF-terminated line of at most max bytes.
 * Returns its length including the CRLF, 0 when more bytes are needed, or -1 with err filled.
 */
static long
conn_line(struct lg_conn *c, int eof, size_t max, const char *what, char *err, size_t errlen)
{
	const char *base = c->rbuf + c->roff;
	size_t avail = c->rlen - c->roff;
	const char *hit = memmem(base, avail, "\r\n", 2);

	if (hit != NULL && (size_t)(hit - base) + 2 <= max)
		return (long)((size_t)(hit - base) + 2);
	if (hit != NULL || avail >= max) {
		snprintf(err, errlen, "%s longer than %zu bytes", what, max);
		return -1;
	}
	if (eof) {
		snprintf(err, errlen, "connection closed inside the %s", what);
		return -1;
	}
	return 0;
}

/* Takes up to c->left body bytes from rbuf (keeping the first ones in the snippet). */
static void
conn_take(struct lg_conn *c, uint64_t n)
{
	struct lg_resp *r = &c->r;

	if (r->snippet_len < LG_SNIPPET) {
		size_t room = LG_SNIPPET - r->snippet_len;
		size_t k = n < room ? (size_t)n : room;

		memcpy(r->snippet + r->snippet_len, c->rbuf + c->roff, k);
		r->snippet_len += k;
		r->snippet[r->snippet_len] = '\0';
	}
	c->roff += (size_t)n;
}

/*
 * Parses as much of the response as rbuf[roff..rlen) holds; eof says the peer has closed.
 * Returns 1 when the response is complete, 0 when more bytes are needed, or -1 with err
 * filled.
 */
static int
conn_parse(struct lg_conn *c, int eof, char *err, size_t errlen)
{
	for (;;) {
		const char *base = c->rbuf + c->roff;
		size_t avail = c->rlen - c->roff;
		long ll;

		switch (c->part) {
		case PART_HEAD: {
			size_t from = c->scanned > 3 ? c->scanned - 3 : 0;
			const char *hit = memmem(base + from, avail - from, "\r\n\r\n", 4);
			size_t hl;
			int chunked, has_len;
			uint64_t clen;

			if (hit == NULL) {
				c->scanned = avail;
				if (avail >= LG_RBUF) {
					snprintf(err, errlen, "response header longer than %d "
					    "bytes", LG_RBUF);
					return -1;
				}
				if (!eof)
					return 0;
				snprintf(err, errlen, avail == 0 ?
				    "connection closed before the response" :
				    "connection closed inside the response header");
				return -1;
			}
			hl = (size_t)(hit - base) + 4;
			c->scanned = 0;
			c->r.snippet_len = 0;
			c->r.snippet[0] = '\0';
			if (parse_head(base, hl, &c->r, &chunked, &has_len, &clen, err,
			    errlen) != 0)
				return -1;
			c->roff += hl;
			if (c->r.status == 101) {
				snprintf(err, errlen, "unexpected 101 Switching Protocols");
				return -1;
			}
			if (c->r.status < 200)
				break; /* an interim response: the real one follows */
			if (c->r.status == 204 || c->r.status == 304)
				return 1;
			c->body_total = 0;
			if (chunked) {
				c->part = PART_CHUNK_SIZE;
			} else if (has_len) {
				c->part = PART_BODY_LEN;
				c->left = clen;
			} else {
				c->r.close_after = 1;
				c->part = PART_BODY_EOF;
			}
			break;
		}
		case PART_BODY_LEN:
		case PART_CHUNK_DATA: {
			uint64_t take = (uint64_t)avail < c->left ? (uint64_t)avail : c->left;

			conn_take(c, take);
			c->left -= take;
			if (c->left > 0) {
				if (!eof)
					return 0;
				snprintf(err, errlen, "connection closed inside the body "
				    "(%" PRIu64 " bytes missing)", c->left);
				return -1;
			}
			if (c->part == PART_BODY_LEN)
				return 1;
			c->part = PART_CHUNK_END;
			break;
		}
		case PART_BODY_EOF:
			if ((c->body_total += avail) > LG_BODY_MAX) {
				snprintf(err, errlen, "response body too large");
				return -1;
			}
			conn_take(c, avail);
			return eof ? 1 : 0;
		case PART_CHUNK_SIZE: {
			uint64_t size = 0;
			const char *q;
			int digits = 0;

			ll = conn_line(c, eof, LG_LINE_MAX, "chunk-size line", err, errlen);
			if (ll <= 0)
				return (int)ll;
			for (q = base; q < base + ll - 2; q++, digits++) {
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
			c->roff += (size_t)ll;
			if (size == 0) {
				c->part = PART_TRAILER;
				break;
			}
			if ((c->body_total += size) > LG_BODY_MAX) {
				snprintf(err, errlen, "chunked body too large");
				return -1;
			}
			c->left = size;
			c->part = PART_CHUNK_DATA;
			break;
		}
		case PART_CHUNK_END:
			if ((ll = conn_line(c, eof, LG_LINE_MAX, "chunk end", err, errlen)) <= 0)
				return (int)ll;
			if (ll != 2) {
				snprintf(err, errlen, "chunk data longer than its size");
				return -1;
			}
			c->roff += 2;
			c->part = PART_CHUNK_SIZE;
			break;
		case PART_TRAILER:
			if ((ll = conn_line(c, eof, LG_LINE_MAX, "trailer", err, errlen)) <= 0)
				return (int)ll;
			c->roff += (size_t)ll;
			if (ll == 2)
				return 1;
			break;
		}
	}
}

/* Parses what c has buffered and acts on the outcome. */
static void
conn_consume(struct lg_thread *th, struct lg_conn *c, int eof)
{
	char err[LG_ERR_MAX];
	int rc = conn_parse(c, eof, err, sizeof(err));

	if (rc > 0)
		conn_answered(th, c, eof);
	else if (rc < 0)
		/* A request the peer refused to take is better described by that refusal. */
		conn_fail(th, c, c->send_failed ? c->send_err : err);
	else if (eof) /* cannot happen: at the end of the input the parser decides */
		conn_fail(th, c, "connection closed");
}

/* One recv into c's buffer, then parses what is there. */
static void
conn_input(struct lg_thread *th, struct lg_conn *c)
{
	char err[LG_ERR_MAX];
	ssize_t n;

	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rlen == sizeof(c->rbuf)) { /* cannot happen: the parser caps what it leaves */
		conn_fail(th, c, "response buffer full");
		return;
	}
	while ((n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0)) < 0 &&
	    errno == EINTR)
		;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return; /* nothing after all: wait for the next event */
		snprintf(err, sizeof(err), "recv: %s", strerror(errno));
		conn_fail(th, c, c->send_failed ? c->send_err : err);
		return;
	}
	if (n > 0) {
		c->rlen += (size_t)n;
		c->progress_ns = now_ns();
	}
	conn_consume(th, c, n == 0);
}

/* Sends what is left of the request in flight: the whole of it, nearly always. */
static void
conn_send(struct lg_thread *th, struct lg_conn *c)
{
	const struct lg_report *rep = &th->sh->reports[c->idx];
	char err[LG_ERR_MAX];

	while (c->soff < rep->len) {
		ssize_t n = send(c->fd, rep->req + c->soff, rep->len - c->soff, MSG_NOSIGNAL);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK) {
				if (conn_watch(th, c, EPOLLIN | EPOLLOUT) == 0)
					return; /* the rest goes when there is room */
				snprintf(err, sizeof(err), "epoll_ctl: %s", strerror(errno));
				conn_fail(th, c, err);
				return;
			}
			snprintf(err, sizeof(err), "send: %s", strerror(e));
			if (e != EPIPE && e != ECONNRESET) {
				conn_fail(th, c, err);
				return;
			}
			/* The server may have answered early (413, say) and closed: read that. */
			memcpy(c->send_err, err, sizeof(err));
			c->send_failed = 1;
			break;
		}
		c->soff += (size_t)n;
		c->progress_ns = now_ns();
	}
	if (conn_watch(th, c, EPOLLIN) != 0) {
		snprintf(err, sizeof(err), "epoll_ctl: %s", strerror(errno));
		conn_fail(th, c, err);
		return;
	}
	c->state = ST_READING;
}

/*
 * Starts the next report on c, opening the connection when needed: c ends ST_SENDING,
 * ST_CONNECTING, ST_IDLE (the connect failed and was counted) or ST_DONE.
 */
static void
conn_begin(struct lg_thread *th, struct lg_conn *c)
{
	struct lg_shared *sh = th->sh;
	char err[LG_ERR_MAX];
	size_t i = atomic_fetch_add(&sh->next, 1);
	int rc;

	if (i < sh->n) {
		c->t0_ns = now_ns();
		if (c->t0_ns > sh->soft_deadline_ns)
			th->timed_out = 1;
	}
	if (i >= sh->n || th->timed_out) {
		conn_close(c);
		c->state = ST_DONE;
		th->active--;
		return;
	}
	th->sent++;
	c->idx = i;
	c->progress_ns = c->t0_ns;
	c->soff = 0;
	c->send_failed = 0;
	c->part = PART_HEAD;
	c->scanned = 0;
	c->r.snippet_len = 0;
	c->r.snippet[0] = '\0';
	c->state = ST_SENDING;
	if (c->fd >= 0)
		return;
	if ((rc = conn_open(th, c, 0, err, sizeof(err))) < 0)
		conn_fail(th, c, err);
	else if (rc > 0)
		c->state = ST_CONNECTING;
}

/* An in-progress connect has finished, one way or the other. */
static void
conn_finish_connect(struct lg_thread *th, struct lg_conn *c)
{
	char err[LG_ERR_MAX];
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
		snprintf(err, sizeof(err), "connect: %s", strerror(soerr != 0 ? soerr : errno));
		conn_fail(th, c, err);
		return;
	}
	if (conn_watch(th, c, EPOLLIN) != 0) {
		snprintf(err, sizeof(err), "epoll_ctl: %s", strerror(errno));
		conn_fail(th, c, err);
		return;
	}
	conn_connected(th, c);
	c->progress_ns = now_ns();
	c->state = ST_SENDING;
}

/*
 * Moves c on as far as it goes without waiting, given the epoll events ev that were reported
 * for it (0 for none): answers are read and parsed, and the next request is sent at once.
 */
static void
conn_drive(struct lg_thread *th, struct lg_conn *c, uint32_t ev)
{
	int rd = (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
	int wr = (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;

	for (;;) {
		switch (c->state) {
		case ST_DONE:
			return;
		case ST_IDLE:
			conn_begin(th, c);
			if (c->state != ST_SENDING)
				continue; /* done, waiting for the connect, or failed */
			rd = 0;
			wr = 1; /* try: a connected socket nearly always takes the request */
			continue;
		case ST_CONNECTING:
			if (!wr)
				return;
			conn_finish_connect(th, c);
			rd = 0;
			continue;
		case ST_SENDING:
			if (rd) { /* an answer before the whole request went out */
				rd = 0;
				conn_input(th, c);
				if (c->state != ST_SENDING)
					continue;
			}
			if (!wr)
				return;
			wr = 0;
			conn_send(th, c);
			continue;
		case ST_READING:
			if (c->pending) {
				c->pending = 0;
				conn_consume(th, c, 0);
				continue;
			}
			if (!rd)
				return;
			rd = 0;
			conn_input(th, c);
			continue;
		}
	}
}

/* Fails the requests whose connection made no progress for LG_IO_TIMEOUT_S. */
static void
sweep_idle(struct lg_thread *th, uint64_t now)
{
	static const char *const what[] = {
		[ST_CONNECTING] = "connect", [ST_SENDING] = "send", [ST_READING] = "recv",
	};
	char err[LG_ERR_MAX];

	for (size_t k = 0; k < th->nconns; k++) {
		struct lg_conn *c = &th->conns[k];

		if (c->state != ST_CONNECTING && c->state != ST_SENDING && c->state != ST_READING)
			continue;
		if (now < c->progress_ns + (uint64_t)LG_IO_TIMEOUT_S * NS_PER_S)
			continue;
		snprintf(err, sizeof(err), "%s: timed out (no progress for %d s)", what[c->state],
		    LG_IO_TIMEOUT_S);
		conn_fail(th, c, err);
		conn_drive(th, c, 0);
	}
}

/* The event loop itself failed: count what was in flight and stop this thread. */
static void
thread_abandon(struct lg_thread *th, const char *what)
{
	for (size_t k = 0; k < th->nconns; k++) {
		struct lg_conn *c = &th->conns[k];

		if (c->state == ST_DONE)
			continue;
		if (c->state != ST_IDLE)
			conn_fail(th, c, what);
		conn_close(c);
		c->state = ST_DONE;
		th->active--;
	}
}

static void *
thread_main(void *arg)
{
	struct lg_thread *th = arg;
	struct lg_shared *sh = th->sh;
	struct epoll_event evs[LG_EVENTS];
	char err[LG_ERR_MAX];
	uint64_t next_sweep;
	int start;

	/* Connect before the clock starts; a failure here is retried by the first request. */
	for (size_t k = 0; k < th->nconns; k++)
		(void)conn_open(th, &th->conns[k], 1, err, sizeof(err));
	pthread_mutex_lock(&sh->mu);
	sh->ready++;
	pthread_cond_broadcast(&sh->cv);
	while (!sh->go && !sh->abort_start)
		pthread_cond_wait(&sh->cv, &sh->mu);
	start = !sh->abort_start;
	pthread_mutex_unlock(&sh->mu);

	if (start) {
		th->active = th->nconns;
		for (size_t k = 0; k < th->nconns; k++)
			conn_drive(th, &th->conns[k], 0);
	}
	next_sweep = now_ns() + (uint64_t)LG_SWEEP_MS * 1000000;
	while (th->active > 0) {
		uint64_t now = now_ns();
		int n;

		if (now >= next_sweep) {
			sweep_idle(th, now);
			next_sweep = now + (uint64_t)LG_SWEEP_MS * 1000000;
			continue;
		}
		n = epoll_wait(th->epfd, evs, LG_EVENTS, (int)((next_sweep - now + 999999) /
		    1000000));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, sizeof(err), "epoll_wait: %s", strerror(errno));
			thread_abandon(th, err);
			break;
		}
		for (int e = 0; e < n; e++)
			conn_drive(th, evs[e].data.ptr, evs[e].events);
	}
	for (size_t k = 0; k < th->nconns; k++)
		conn_close(&th->conns[k]);
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
	    "usage: loadgen [-c CONNECTIONS] [-T THREADS] [-n REPORTS] [-D DOMAINS] [-p PATH] "
	    "[-s SEED] [-t SECONDS] HOST:PORT\n"
	    "  -c  concurrent keep-alive connections (default %d, at most %d)\n"
	    "  -T  event-loop threads sharing the connections (default %d, at most %d)\n"
	    "  -n  reports to POST, all distinct (default %d, at most %d)\n"
	    "  -D  distinct policy domains (default %d)\n"
	    "  -p  request path (default %s)\n"
	    "  -s  PRNG seed for the reports (default %d)\n"
	    "  -t  no request starts after this many seconds (default %d)\n"
	    "HOST must be a loopback address: 127.0.0.1, [::1] or localhost.\n",
	    LG_DEFAULT_CONNECTIONS, LG_MAX_CONNECTIONS, LG_DEFAULT_THREADS, LG_MAX_THREADS,
	    LG_DEFAULT_REPORTS, LG_MAX_REPORTS,
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
	unsigned long long nthreads = LG_DEFAULT_THREADS;
	unsigned long long seed = LG_DEFAULT_SEED, bound = LG_DEFAULT_BOUND_S;
	const char *path = LG_DEFAULT_PATH;
	char hosthdr[LG_HOST_MAX + 8], statuses[LG_STATUS_MAX * 16];
	struct lg_shared sh;
	struct lg_thread *threads = NULL;
	struct lg_conn *cs = NULL;
	struct sigaction sa;
	uint64_t json_total = 0, gzip_total = 0, t_start, t_end, *lat = NULL;
	uint64_t sent = 0, completed = 0, ok = 0, non2xx = 0, terr = 0, reconnects = 0;
	uint64_t status[LG_STATUS_MAX];
	size_t created = 0, nlat = 0, slen = 0;
	int opt, timed_out = 0, rc = 2, sync_ok = 0;
	double elapsed, rps;

	memset(&sh, 0, sizeof(sh));
	memset(status, 0, sizeof(status));
	while ((opt = getopt(argc, argv, "c:T:n:D:p:s:t:h")) != -1) {
		switch (opt) {
		case 'c':
			if (parse_num(optarg, 1, LG_MAX_CONNECTIONS, &conns) != 0)
				goto bad_usage;
			break;
		case 'T':
			if (parse_num(optarg, 1, LG_MAX_THREADS, &nthreads) != 0)
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
	if (nthreads > conns)
		nthreads = conns;

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
	threads = calloc((size_t)nthreads, sizeof(*threads));
	cs = calloc((size_t)conns, sizeof(*cs));
	if (sh.reports == NULL || sh.latency_ns == NULL || sh.answered == NULL || threads == NULL ||
	    cs == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (size_t t = 0; t < (size_t)nthreads; t++)
		threads[t].epfd = -1;
	for (size_t t = 0; t < (size_t)nthreads; t++) {
		struct lg_thread *th = &threads[t];
		size_t lo = (size_t)conns * t / (size_t)nthreads;
		size_t hi = (size_t)conns * (t + 1) / (size_t)nthreads;

		th->sh = &sh;
		th->conns = cs + lo;
		th->nconns = hi - lo;
		for (size_t k = 0; k < th->nconns; k++)
			th->conns[k].fd = -1;
		if ((th->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			perror("loadgen: epoll_create1");
			goto out;
		}
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
	for (created = 0; created < (size_t)nthreads; created++) {
		struct lg_thread *th = &threads[created];
		int e;

		if ((e = pthread_create(&th->tid, NULL, thread_main, th)) != 0) {
			fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(e));
			break;
		}
	}
	pthread_mutex_lock(&sh.mu);
	if (created < (size_t)nthreads)
		sh.abort_start = 1;
	else
		while (sh.ready < created)
			pthread_cond_wait(&sh.cv, &sh.mu);
	sh.go = 1;
	t_start = now_ns();
	pthread_cond_broadcast(&sh.cv);
	pthread_mutex_unlock(&sh.mu);
	for (size_t i = 0; i < created; i++)
		pthread_join(threads[i].tid, NULL);
	t_end = now_ns();
	alarm(0);
	if (sh.abort_start)
		goto out;

	for (size_t i = 0; i < created; i++) {
		const struct lg_thread *w = &threads[i];

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

		printf("loadgen: %zu reports to %s%s over %llu connections, %llu thread%s "
		    "(seed %llu)\n", sh.n, hosthdr, path, conns, nthreads, nthreads == 1 ? "" : "s",
		    seed);
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
		printf("loadgen reports=%zu connections=%llu threads=%llu sent=%" PRIu64
		    " completed=%" PRIu64
		    " ok=%" PRIu64 " non2xx=%" PRIu64 " transport_errors=%" PRIu64
		    " unsent=%" PRIu64 " status=%s elapsed_s=%.3f reports_per_s=%.1f"
		    " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f json_avg_b=%" PRIu64
		    " gzip_avg_b=%" PRIu64 " reconnects=%" PRIu64 "\n",
		    sh.n, conns, nthreads, sent, completed, ok, non2xx, terr, unsent, statuses,
		    elapsed,
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
	if (threads != NULL)
		for (size_t t = 0; t < (size_t)nthreads; t++)
			if (threads[t].epfd >= 0)
				close(threads[t].epfd);
	free(threads);
	free(cs);
	free(lat);
	return rc;
bad_usage:
	usage();
	return 2;
}
