/*
 * parsebench: how fast one core turns report bytes into a struct rpt (a benchmark, not a test).
 *
 *   parsebench [-q] [-n ITERATIONS] [FILE...]
 *
 * Inputs are the given report files (JSON, or gzip which is decoded once with gz_inflate), or
 * when none is given a built-in set of reports in the shapes real reporters send. Every input
 * is parsed once before timing; one that rpt_parse() rejects (fixtures of bad reports, say) is
 * left out and named on stderr, unless -q, which only counts them.
 * Then two timed runs, each of ITERATIONS (default 20000) reports taken round-robin:
 *
 *   json  rpt_parse + rpt_free on the decoded JSON
 *   gzip  gz_inflate + rpt_parse + rpt_free on the gzip form (inputs given as JSON are gzipped
 *         once with gz_deflate, level 6, as a sender would)
 *
 * Output on stdout: a readable line per run, then one key=value line per run:
 *   parsebench mode=json inputs=5 iterations=20000 avg_bytes=... elapsed_s=...
 *     reports_per_s=... us_per_report=... mb_per_s=...
 * (mb_per_s counts the decoded JSON bytes in both modes.)
 * Exit status: 0; 1 when no input is usable or a timed parse fails; 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/buf.h"
#include "ingest/gz.h"
#include "ingest/rpt.h"

#define PB_DEFAULT_ITERATIONS 20000
#define PB_MAX_ITERATIONS     100000000ULL
#define PB_MAX_INPUTS         4096
#define PB_FILE_MAX           ((size_t)16 << 20) /* one input file, raw or decoded */
#define PB_GZ_RATIO           1000u
#define PB_GZ_RATIO_FLOOR     ((size_t)1 << 20)
#define PB_BIG_FAILURES       40                 /* failure-details in the large built-in */
#define PB_BUILTINS           5                  /* built-in inputs: 4 fixed + the large one */
#define PB_WARMUP_MAX         1000               /* untimed reports before each timed run */

#define NS_PER_S 1000000000ULL

struct pb_input {
	char name[256];
	struct buf json; /* decoded JSON */
	struct buf gz;   /* gzip form */
};

/* ---------------------------------------------------------------- built-in reports */

/*
 * Written for this benchmark in the shapes the big reporters use (see docs/tlsrpt.md):
 * a daily sts report without failure-details, an sts + tlsa report with zone-less datetimes,
 * no mx-host and a TLSA policy-string packed as JSON, a report with contact-info null and an
 * empty failure-details ending at the next midnight, a no-policy-found report without a
 * policy-domain; and one large report built in code (PB_BIG_FAILURES failure details).
 */
static const char pb_builtin_clean[] =
    "{\"organization-name\":\"Larkspur Mail Inc.\",\"date-range\":{\"start-datetime\":"
    "\"2024-03-11T00:00:00Z\",\"end-datetime\":\"2024-03-11T23:59:59Z\"},\"contact-info\":"
    "\"smtp-tls-reporting@larkspur-mail.com\",\"report-id\":\"2024-03-11T00:00:00Z_"
    "quillfeather.org\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":"
    "[\"version: STSv1\",\"mode: enforce\",\"mx: mx-a.quillfeather.org\",\"mx: "
    "mx-b.quillfeather.org\",\"max_age: 604800\"],\"policy-domain\":\"quillfeather.org\","
    "\"mx-host\":[\"mx-a.quillfeather.org\",\"mx-b.quillfeather.org\"]},\"summary\":"
    "{\"total-successful-session-count\":3184,\"total-failure-session-count\":0}}]}";

static const char pb_builtin_dual[] =
    "{\n"
    "  \"organization-name\": \"Tamarack Online Corporation\",\n"
    "  \"date-range\": {\n"
    "    \"start-datetime\": \"2024-06-02T00:00:00\",\n"
    "    \"end-datetime\": \"2024-06-02T23:59:59\"\n"
    "  },\n"
    "  \"contact-info\": \"tlsrpt-noreply@tamarack-online.net\",\n"
    "  \"report-id\": \"133617920000000000+brookhaven-clinic.de\",\n"
    "  \"policies\": [\n"
    "    {\n"
    "      \"policy\": {\n"
    "        \"policy-type\": \"sts\",\n"
    "        \"policy-string\": [\"version: STSv1\", \"mode: testing\",\n"
    "          \"mx: *.mail.brookhaven-clinic.de\", \"max_age: 86400\"],\n"
    "        \"policy-domain\": \"Brookhaven-Clinic.DE.\"\n"
    "      },\n"
    "      \"summary\": {\n"
    "        \"total-successful-session-count\": 57,\n"
    "        \"total-failure-session-count\": 4\n"
    "      },\n"
    "      \"failure-details\": [\n"
    "        {\"result-type\": \"certificate-host-mismatch\", \"failed-session-count\": 3},\n"
    "        {\"result-type\": \"validation-failure\", \"failed-session-count\": 1}\n"
    "      ]\n"
    "    },\n"
    "    {\n"
    "      \"policy\": {\n"
    "        \"policy-type\": \"tlsa\",\n"
    "        \"policy-string\": [\"[\\\"3 1 1 8f2a4c6e0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a\\\", "
    "\\\"2 1 1 0c1d2e3f405162738495a6b7c8d9eafb0c1d2e3f405162738495a6b7c8d9eafb\\\"]\"],\n"
    "        \"policy-domain\": \"brookhaven-clinic.de\"\n"
    "      },\n"
    "      \"summary\": {\n"
    "        \"total-successful-session-count\": 57,\n"
    "        \"total-failure-session-count\": 4\n"
    "      },\n"
    "      \"failure-details\": [\n"
    "        {\"result-type\": \"tlsa-invalid\", \"failed-session-count\": 4}\n"
    "      ]\n"
    "    }\n"
    "  ]\n"
    "}\n";

static const char pb_builtin_nullcontact[] =
    "{\"organization-name\":\"mail.saltmarsh.example\",\"date-range\":{\"start-datetime\":"
    "\"2024-10-30T00:00:00Z\",\"end-datetime\":\"2024-10-31T00:00:00Z\"},\"contact-info\":null,"
    "\"report-id\":\"1730246400_4820173619283746501\",\"policies\":[{\"policy\":{\"policy-type\":"
    "\"sts\",\"policy-string\":[\"version:STSv1\",\"mode: testing\",\"max_age: 86400\","
    "\"mx: in.ottervale.net\"],\"policy-domain\":\"ottervale.net\",\"mx-host\":"
    "\"mx: in.ottervale.net\"},\"summary\":{\"total-successful-session-count\":12,"
    "\"total-failure-session-count\":0},\"failure-details\":[]}]}";

static const char pb_builtin_nopolicy[] =
    "{\n"
    "  \"organization-name\": \"Windrow Systems\",\n"
    "  \"date-range\": {\"start-datetime\": \"2025-01-14T00:00:00Z\",\n"
    "    \"end-datetime\": \"2025-01-14T23:59:59Z\"},\n"
    "  \"contact-info\": \"postmaster@windrow.example\",\n"
    "  \"report-id\": \"2025-01-14T00:00:00Z_idx1_gullwing.net\",\n"
    "  \"policies\": [\n"
    "    {\"policy\": {\"policy-type\": \"no-policy-found\"},\n"
    "     \"summary\": {\"total-successful-session-count\": 0,\n"
    "       \"total-failure-session-count\": 2},\n"
    "     \"failure-details\": [\n"
    "       {\"result-type\": \"starttls-not-supported\", \"sending-mta-ip\": \"2001:db8:abcd:0012::1\",\n"
    "        \"receiving-mx-hostname\": \"smtp.gullwing.net\", \"receiving-ip\": \"198.51.100.25\",\n"
    "        \"failed-session-count\": 2, \"failure-reason-code\": \"STARTTLS not offered\"}\n"
    "     ]}\n"
    "  ]\n"
    "}\n";

/* A report with many failure details from many IPs, as a busy sender's would be. */
static void
build_big(struct buf *b)
{
	static const char *const types[] = {
		"certificate-expired", "certificate-not-trusted", "starttls-not-supported",
		"sts-policy-fetch-error", "validation-failure", "Testing",
	};
	uint64_t fsum = 0;

	for (unsigned i = 0; i < PB_BIG_FAILURES; i++)
		fsum += 1 + (i * 7) % 23;
	buf_printf(b,
	    "{\"organization-name\":\"Harrier Hosting Group\",\"date-range\":{"
	    "\"start-datetime\":\"2024-08-19T00:00:00Z\",\"end-datetime\":"
	    "\"2024-08-19T23:59:59Z\"},\"contact-info\":\"tls-reports@harrier-hosting.com\","
	    "\"report-id\":\"hh-2024-08-19-0007341\",\"policies\":[{\"policy\":{\"policy-type\":"
	    "\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\",\"mx: mx1.sandpiper.io\","
	    "\"mx: mx2.sandpiper.io\",\"max_age: 1209600\"],\"policy-domain\":\"sandpiper.io\","
	    "\"mx-host\":[\"mx1.sandpiper.io\",\"mx2.sandpiper.io\"]},\"summary\":{"
	    "\"total-successful-session-count\":918274,\"total-failure-session-count\":%" PRIu64
	    "},\"failure-details\":[", fsum);
	for (unsigned i = 0; i < PB_BIG_FAILURES; i++) {
		if (i % 3 == 0)
			buf_printf(b, "%s{\"result-type\":\"%s\",\"sending-mta-ip\":"
			    "\"2001:db8:%x:%04x::%x\",", i ? "," : "", types[i % 6], 0x100 + i, i * 3,
			    i + 1);
		else
			buf_printf(b, "%s{\"result-type\":\"%s\",\"sending-mta-ip\":"
			    "\"203.0.113.%u\",", i ? "," : "", types[i % 6], 10 + i);
		buf_printf(b, "\"receiving-mx-hostname\":\"mx%u.sandpiper.io\",\"receiving-ip\":"
		    "\"192.0.2.%u\",\"failed-session-count\":%u,\"failure-reason-code\":"
		    "\"X509_V_ERR_%s\"}", 1 + i % 2, 1 + i % 2, 1 + (i * 7) % 23,
		    i % 2 ? "CERT_HAS_EXPIRED" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
	}
	buf_puts(b, "]}]}");
}

/* ---------------------------------------------------------------- inputs */

static int pb_quiet; /* -q: do not name the inputs left out */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort(); /* cannot happen with CLOCK_MONOTONIC on Linux */
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void
input_init(struct pb_input *in, const char *name)
{
	int n = snprintf(in->name, sizeof(in->name), "%s", name);

	if (n < 0 || (size_t)n >= sizeof(in->name))
		memcpy(in->name + sizeof(in->name) - 4, "...", 4); /* name is for display only */
	buf_init(&in->json, PB_FILE_MAX);
	buf_init(&in->gz, PB_FILE_MAX);
}

static void
input_free(struct pb_input *in)
{
	buf_free(&in->json);
	buf_free(&in->gz);
}

static const struct gz_limits pb_limits = {
	.max_out = PB_FILE_MAX, .max_ratio = PB_GZ_RATIO, .ratio_floor = PB_GZ_RATIO_FLOOR,
};

/* Reads a whole file into b (bounded by b's cap). 0, or -1 with a message on stderr. */
static int
read_file(const char *path, struct buf *b)
{
	char chunk[65536];
	FILE *f;
	size_t n;
	int rc = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "parsebench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(b, chunk, n) != 0) {
			fprintf(stderr, "parsebench: %s: larger than %zu bytes\n", path, PB_FILE_MAX);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "parsebench: %s: read error\n", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}

/*
 * Fills in->json and in->gz from raw bytes (gzip or JSON), then checks that the report
 * parses. 0, or -1 with the reason on stderr (the input is then left out).
 */
static int
input_load(struct pb_input *in, const void *raw, size_t len)
{
	char err[256];
	struct rpt_error rerr;
	struct rpt *r = NULL;
	unsigned members = 0;
	int rc;

	if (gz_is_gzip(raw, len)) {
		if (buf_append(&in->gz, raw, len) != 0)
			goto nomem;
		if ((rc = gz_inflate(raw, len, &pb_limits, &in->json, &members, err,
		    sizeof(err))) != GZ_OK) {
			if (!pb_quiet)
				fprintf(stderr, "parsebench: %s: left out: gzip error %d: %s\n",
				    in->name, rc, err);
			return -1;
		}
	} else {
		if (buf_append(&in->json, raw, len) != 0)
			goto nomem;
		if ((rc = gz_deflate(in->json.data, in->json.len, &in->gz)) != GZ_OK) {
			fprintf(stderr, "parsebench: %s: gzip encoding failed (%d)\n", in->name, rc);
			return -1;
		}
	}
	memset(&rerr, 0, sizeof(rerr));
	if (rpt_parse(in->json.data, in->json.len, &r, &rerr) != 0) {
		if (pb_quiet)
			return -1;
		if (rerr.line > 0)
			fprintf(stderr, "parsebench: %s: left out: %s at line %d column %d: %s\n",
			    in->name, rerr.code, rerr.line, rerr.column, rerr.reason);
		else
			fprintf(stderr, "parsebench: %s: left out: %s at %s: %s\n", in->name,
			    rerr.code, rerr.path[0] ? rerr.path : "the top", rerr.reason);
		return -1;
	}
	rpt_free(r);
	return 0;
nomem:
	fprintf(stderr, "parsebench: %s: out of memory or over %zu bytes\n", in->name,
	    PB_FILE_MAX);
	return -1;
}

/* ---------------------------------------------------------------- timing */

enum pb_mode { PB_JSON, PB_GZIP };

/*
 * Parses iterations reports round-robin over ins (decoding the gzip form first in PB_GZIP
 * mode) into the caller's scratch buffer. 0, or -1 when a decode or parse fails.
 */
static int
parse_loop(enum pb_mode mode, const struct pb_input *ins, size_t nin, uint64_t iterations,
    struct buf *scratch)
{
	struct rpt_error rerr;
	char err[256];

	for (uint64_t i = 0; i < iterations; i++) {
		const struct pb_input *in = &ins[i % nin];
		struct rpt *r = NULL;
		const char *json = in->json.data;
		size_t len = in->json.len;
		unsigned members;

		if (mode == PB_GZIP) {
			buf_reset(scratch);
			if (gz_inflate(in->gz.data, in->gz.len, &pb_limits, scratch, &members, err,
			    sizeof(err)) != GZ_OK) {
				fprintf(stderr, "parsebench: %s: gz_inflate failed: %s\n", in->name,
				    err);
				return -1;
			}
			json = scratch->data;
			len = scratch->len;
		}
		if (rpt_parse(json, len, &r, &rerr) != 0) {
			fprintf(stderr, "parsebench: %s: rpt_parse failed in the timed run: %s\n",
			    in->name, rerr.reason);
			return -1;
		}
		rpt_free(r);
	}
	return 0;
}

/* Runs a short warm-up, then one timed pass. 0 with *elapsed_ns set, or -1. */
static int
run_pass(enum pb_mode mode, const struct pb_input *ins, size_t nin, uint64_t iterations,
    uint64_t *elapsed_ns)
{
	struct buf scratch;
	uint64_t warmup = iterations / 10 < PB_WARMUP_MAX ? iterations / 10 : PB_WARMUP_MAX;
	uint64_t t0;
	int rc = -1;

	buf_init(&scratch, PB_FILE_MAX);
	/* One allocation of the largest size up front, so the pass times decoding, not growth. */
	for (size_t k = 0; k < nin; k++)
		if (buf_reserve(&scratch, ins[k].json.len) != 0)
			goto out;
	if (parse_loop(mode, ins, nin, warmup, &scratch) != 0)
		goto out;
	t0 = now_ns();
	if (parse_loop(mode, ins, nin, iterations, &scratch) != 0)
		goto out;
	*elapsed_ns = now_ns() - t0;
	rc = 0;
out:
	buf_free(&scratch);
	return rc;
}

static void
print_pass(enum pb_mode mode, const struct pb_input *ins, size_t nin, uint64_t iterations,
    uint64_t elapsed_ns)
{
	const char *name = mode == PB_JSON ? "json" : "gzip";
	uint64_t bytes = 0, gzbytes = 0, total = 0;
	double secs = (double)elapsed_ns / (double)NS_PER_S;
	double rps, us, mbps;

	for (size_t k = 0; k < nin; k++) {
		bytes += ins[k].json.len;
		gzbytes += ins[k].gz.len;
	}
	/* The bytes decoded in the pass: each input's size times how often it came round. */
	for (size_t k = 0; k < nin; k++)
		total += ins[k].json.len * (iterations / nin + (k < iterations % nin ? 1 : 0));
	if (secs <= 0)
		secs = 1e-9;
	rps = (double)iterations / secs;
	us = secs * 1e6 / (double)iterations;
	mbps = (double)total / secs / 1e6;
	printf("parsebench %-4s %zu inputs (avg %" PRIu64 " B json, %" PRIu64 " B gzip): "
	    "%" PRIu64 " reports in %.3f s = %.0f reports/s, %.2f us/report, %.1f MB/s\n",
	    name, nin, bytes / nin, gzbytes / nin, iterations, secs, rps, us, mbps);
	printf("parsebench mode=%s inputs=%zu iterations=%" PRIu64 " avg_bytes=%" PRIu64
	    " avg_gzip_bytes=%" PRIu64 " elapsed_s=%.3f reports_per_s=%.0f us_per_report=%.3f"
	    " mb_per_s=%.1f\n", name, nin, iterations, bytes / nin, gzbytes / nin, secs, rps, us,
	    mbps);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: parsebench [-q] [-n ITERATIONS] [FILE...]\n"
	    "  -n  reports parsed per timed run (default %d)\n"
	    "  -q  count the inputs left out (rejected, unreadable) without naming them\n"
	    "  FILE  report files, JSON or gzip; a built-in set when none is given\n",
	    PB_DEFAULT_ITERATIONS);
}

int
main(int argc, char **argv)
{
	unsigned long long iterations = PB_DEFAULT_ITERATIONS;
	struct pb_input *ins = NULL;
	size_t nin = 0, expected, given;
	uint64_t elapsed;
	char *end;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "n:qh")) != -1) {
		switch (opt) {
		case 'q':
			pb_quiet = 1;
			break;
		case 'n':
			errno = 0;
			if (optarg[0] < '0' || optarg[0] > '9')
				goto bad_usage;
			iterations = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || iterations == 0 ||
			    iterations > PB_MAX_ITERATIONS)
				goto bad_usage;
			break;
		case 'h':
			usage();
			return 0;
		default:
			goto bad_usage;
		}
	}
	given = (size_t)(argc - optind);
	if (given > PB_MAX_INPUTS) {
		fprintf(stderr, "parsebench: at most %d files\n", PB_MAX_INPUTS);
		return 2;
	}
	rpt_global_init();
	expected = given > 0 ? given : PB_BUILTINS;
	if ((ins = calloc(expected, sizeof(*ins))) == NULL) {
		fprintf(stderr, "parsebench: out of memory\n");
		return 1;
	}

	if (given > 0) {
		struct buf raw;

		buf_init(&raw, PB_FILE_MAX);
		for (size_t k = 0; k < given; k++) {
			struct pb_input *in = &ins[nin];

			buf_reset(&raw);
			input_init(in, argv[optind + (int)k]);
			if (read_file(argv[optind + (int)k], &raw) != 0 ||
			    input_load(in, raw.data != NULL ? raw.data : "", raw.len) != 0) {
				input_free(in);
				continue;
			}
			nin++;
		}
		buf_free(&raw);
	} else {
		static const struct {
			const char *name;
			const char *text;
		} fixed[] = {
			{ "builtin:clean", pb_builtin_clean },
			{ "builtin:sts+tlsa", pb_builtin_dual },
			{ "builtin:null-contact", pb_builtin_nullcontact },
			{ "builtin:no-policy", pb_builtin_nopolicy },
		};
		struct buf big;

		for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++) {
			input_init(&ins[nin], fixed[k].name);
			if (input_load(&ins[nin], fixed[k].text, strlen(fixed[k].text)) != 0) {
				input_free(&ins[nin]);
				continue;
			}
			nin++;
		}
		buf_init(&big, PB_FILE_MAX);
		build_big(&big);
		input_init(&ins[nin], "builtin:many-failures");
		if (big.err != BUF_OK || input_load(&ins[nin], big.data, big.len) != 0)
			input_free(&ins[nin]);
		else
			nin++;
		buf_free(&big);
	}
	if (nin == 0) {
		fprintf(stderr, "parsebench: no usable input\n");
		goto out;
	}
	if (nin < expected)
		fprintf(stderr, "parsebench: %zu of %zu inputs left out\n", expected - nin,
		    expected);

	if (run_pass(PB_JSON, ins, nin, iterations, &elapsed) != 0)
		goto out;
	print_pass(PB_JSON, ins, nin, iterations, elapsed);
	if (run_pass(PB_GZIP, ins, nin, iterations, &elapsed) != 0)
		goto out;
	print_pass(PB_GZIP, ins, nin, iterations, elapsed);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	for (size_t k = 0; k < nin; k++)
		input_free(&ins[k]);
	free(ins);
	return rc;
bad_usage:
	usage();
	return 2;
}
