/*
 * apibench: the read API's queries (storage/query.h) over a large database, without HTTP.
 *
 *   apibench [-p PATH] [-n DAYS] [-r REPORTERS] [-f DETAILS] [-s SENDERS] [-o OTHERS]
 *            [-i ITERATIONS] [-q]
 *
 * 1. Seeds a fresh database at PATH (default: a temp dir, removed at the end) through the
 *    storage layer only (store_open + store_submit of hand-built struct rpt reports, up to
 *    APIBENCH_INFLIGHT at a time, so the writer's group commit works as in the daemon): one
 *    big domain with REPORTERS reports a day (Google Inc., Microsoft Corporation and others)
 *    over DAYS days ending yesterday, each with DETAILS failure details (8 result types,
 *    3 MX hosts, 6 receiving IPs, sending IPs drawn from SENDERS); plus OTHERS small domains
 *    with 2 reports a day. Defaults: 365 days x 30 reporters x 92 details = about 1M failure
 *    rows. With -p PATH naming an existing database, seeding is skipped.
 * 2. Runs each query ITERATIONS times (default 50) and prints its p50 / p99 / max in ms,
 *    the JSON text made as the API would (json_dumps) included.
 *
 * The seed line also gives the writer's throughput for these large reports (reports/s and
 * failure rows/s), a measure of what the rollups cost at ingest. Exit 0, or 1 on any failure.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "storage/query.h"
#include "storage/store.h"

#define APIBENCH_INFLIGHT      256     /* reports submitted and not yet committed */
#define APIBENCH_DETAILS_MAX   1000
#define APIBENCH_ITER_MAX      100000
#define APIBENCH_ORGS          64

static const char *const bench_types[] = {
	"certificate-expired", "certificate-host-mismatch", "certificate-not-trusted",
	"starttls-not-supported", "validation-failure", "sts-policy-fetch-error",
	"sts-webpki-invalid", "tlsa-invalid",
};
static const char *const bench_mx[] = { "mx1.big.example", "mx2.big.example", "mx3.big.example" };
static const char *const bench_rip[] = { "198.51.100.1", "198.51.100.2", "198.51.100.3",
	"2001:db8::1", "2001:db8::2", "2001:db8::3" };

struct bench_rep {
	struct rpt rpt;
	struct rpt_policy pol;
	struct rpt_failure *fail;
	const char *mx[2];
	unsigned char sha[32];
	char org[48], contact[64], key[128], rid[64], raw[64];
	struct store_report sr;
	struct store_req req;
	struct bench_run *run;
};

struct bench_run {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight;
	uint64_t failed;
};

static char bench_ips[65536][24];
static char bench_orgs[APIBENCH_ORGS][48];
static uint64_t bench_rng = 0x9e3779b97f4a7c15u;

static uint64_t
rnd(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return bench_rng;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
bench_done(void *arg, const struct store_result *res)
{
	struct bench_rep *b = arg;
	struct bench_run *run = b->run;

	pthread_mutex_lock(&run->mu);
	if (res->rc != STORE_NEW)
		run->failed++;
	run->inflight--;
	pthread_cond_signal(&run->cv);
	pthread_mutex_unlock(&run->mu);
	free(b->fail);
	free(b);
}

/* Builds and submits one report (freed by bench_done). 0, or -1. */
static int
bench_submit(struct store *s, struct bench_run *run, const char *domain, const char *org,
    int64_t day, int details, int senders, uint64_t seq)
{
	struct bench_rep *b = calloc(1, sizeof(*b));
	int64_t failed = 0;

	if (b == NULL || (details > 0 && (b->fail = calloc((size_t)details, sizeof(*b->fail))) == NULL)) {
		free(b);
		return -1;
	}
	b->run = run;
	snprintf(b->org, sizeof(b->org), "%s", org);
	snprintf(b->contact, sizeof(b->contact), "tlsrpt@%s", domain);
	snprintf(b->key, sizeof(b->key), "%s\n%s", org, b->contact);
	snprintf(b->rid, sizeof(b->rid), "bench-%" PRIu64, seq);
	snprintf(b->raw, sizeof(b->raw), "bench body %" PRIu64, seq);
	for (int i = 0; i < 32; i++)
		b->sha[i] = (unsigned char)(seq >> (8 * (i % 8))) ^ (unsigned char)i;
	for (int i = 0; i < details; i++) {
		struct rpt_failure *f = &b->fail[i];

		f->result_type = bench_types[rnd() % (sizeof(bench_types) / sizeof(bench_types[0]) - 1)];
		f->sending_mta_ip = bench_ips[rnd() % (uint64_t)senders];
		f->receiving_mx_hostname = bench_mx[rnd() % 3];
		f->receiving_ip = bench_rip[rnd() % 6];
		f->failed_session_count = (int64_t)(rnd() % 20) + 1;
		failed += f->failed_session_count;
	}
	b->mx[0] = "*.big.example";
	b->pol.type = RPT_POLICY_STS;
	b->pol.type_name = "sts";
	b->pol.domain = domain;
	b->pol.sts_mode = "testing";
	b->pol.sts_max_age = 604800;
	b->pol.sts_mx = b->mx;
	b->pol.n_sts_mx = 1;
	b->pol.success = (int64_t)(rnd() % 100000) + 1000;
	b->pol.failure = failed;
	b->pol.failures = b->fail;
	b->pol.n_failures = (size_t)details;
	b->pol.counted = 1;
	b->rpt.organization_name = b->org;
	b->rpt.contact_info = b->contact;
	b->rpt.report_id = b->rid;
	b->rpt.start = day * QUERY_DAY;
	b->rpt.end = day * QUERY_DAY + QUERY_DAY - 1;
	b->rpt.reporter_key = b->key;
	b->rpt.policies = &b->pol;
	b->rpt.n_policies = 1;
	b->sr.rpt = &b->rpt;
	b->sr.sha256 = b->sha;
	b->sr.raw_gz = b->raw;
	b->sr.raw_gz_len = strlen(b->raw);
	b->sr.json_len = 1000;
	b->req.report = &b->sr;
	b->req.copy.transport = "http";
	b->req.copy.peer = "192.0.2.250";
	b->req.copy.received_at = (day + 1) * QUERY_DAY + 3600;
	b->req.done = bench_done;
	b->req.arg = b;
	pthread_mutex_lock(&run->mu);
	while (run->inflight >= APIBENCH_INFLIGHT)
		pthread_cond_wait(&run->cv, &run->mu);
	run->inflight++;
	pthread_mutex_unlock(&run->mu);
	if (store_submit(s, &b->req) != 0) {
		pthread_mutex_lock(&run->mu);
		run->inflight--;
		run->failed++;
		pthread_mutex_unlock(&run->mu);
		free(b->fail);
		free(b);
		return -1;
	}
	return 0;
}

static int
bench_seed(struct store *s, int days, int reporters, int details, int senders, int others)
{
	struct bench_run run = { .inflight = 0 };
	int64_t today = (int64_t)time(NULL) / QUERY_DAY;
	uint64_t seq = 0, nrep = 0, nfail = 0;
	double t0 = now_ms(), ms;
	char dom[64];
	int rc = 0;

	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	for (int64_t d = today - days; d < today && rc == 0; d++) {
		for (int k = 0; k < reporters && rc == 0; k++, nrep++, nfail += (uint64_t)details)
			rc = bench_submit(s, &run, "big.example", bench_orgs[k % APIBENCH_ORGS], d,
			    details, senders, ++seq);
		for (int o = 0; o < others && rc == 0; o++) {
			snprintf(dom, sizeof(dom), "d%03d.example", o);
			for (int k = 0; k < 2 && rc == 0; k++, nrep++, nfail += 2)
				rc = bench_submit(s, &run, dom, bench_orgs[k], d, 2, senders, ++seq);
		}
	}
	pthread_mutex_lock(&run.mu);
	while (run.inflight > 0)
		pthread_cond_wait(&run.cv, &run.mu);
	pthread_mutex_unlock(&run.mu);
	ms = now_ms() - t0;
	printf("apibench seed reports=%" PRIu64 " failure_rows=%" PRIu64 " seconds=%.1f"
	    " reports_per_s=%.0f failure_rows_per_s=%.0f failed=%" PRIu64 "\n", nrep, nfail,
	    ms / 1e3, (double)nrep * 1e3 / ms, (double)nfail * 1e3 / ms, run.failed);
	pthread_mutex_destroy(&run.mu);
	pthread_cond_destroy(&run.cv);
	return rc == 0 && run.failed == 0 ? 0 : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum bench_q {
	Q_SUMMARY_YEAR, Q_SUMMARY_30, Q_TS_YEAR_DAY, Q_TS_YEAR_WEEK, Q_READY, Q_DOMAINS,
	Q_REPORTS, Q_REPORTS_FILTERED, Q_STATS, Q_VERSION, Q_COUNT
};

static const char *const bench_qname[Q_COUNT] = {
	"summary_365d", "summary_30d", "timeseries_365d_day", "timeseries_365d_week",
	"readiness_14d", "domains_30d", "reports_page", "reports_domain_type", "stats",
	"data_version",
};

/* One query; the JSON text made and dropped. 0, or -1. */
static int
bench_one(struct store *s, enum bench_q which, int64_t today)
{
	struct query_window year = { today - 364, today + 1 }, month = { today - 29, today + 1 };
	struct query_reports rq = { .limit = 50, .has_failures = -1 };
	json_t *out = NULL;
	int64_t v[4];
	char *text;
	int rc;

	switch (which) {
	case Q_SUMMARY_YEAR: rc = query_summary(s, "big.example", &year, 100, &out); break;
	case Q_SUMMARY_30: rc = query_summary(s, "big.example", &month, 100, &out); break;
	case Q_TS_YEAR_DAY: rc = query_timeseries(s, "big.example", &year, 1, &out); break;
	case Q_TS_YEAR_WEEK: rc = query_timeseries(s, "big.example", &year, 7, &out); break;
	case Q_READY: rc = query_readiness(s, "big.example", today, 14, &out); break;
	case Q_DOMAINS: rc = query_domains(s, &month, NULL, NULL, &out); break;
	case Q_REPORTS: rc = query_reports(s, &rq, NULL, NULL, &out); break;
	case Q_REPORTS_FILTERED:
		rq.domain = "big.example";
		rq.result_type = "sts-webpki-invalid";
		rc = query_reports(s, &rq, NULL, NULL, &out);
		break;
	case Q_STATS: rc = query_stats(s, &out); break;
	case Q_VERSION: return query_data_version(s, v) == 0 ? 0 : -1;
	default: return -1;
	}
	if (rc != 0 || out == NULL)
		return -1;
	text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(out);
	if (text == NULL)
		return -1;
	free(text);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: apibench [-p PATH] [-n DAYS] [-r REPORTERS] [-f DETAILS] "
	    "[-s SENDERS] [-o OTHERS] [-i ITERATIONS] [-q]\n");
}

static int
arg_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	int days = 365, reporters = 30, details = 92, senders = 4000, others = 20, iters = 50;
	int opt, quiet = 0, fresh, ret = 1;
	char dir[64] = "", path[256] = "", err[256];
	struct store_options so = { .busy_timeout_ms = 5000, .batch_max = 1024,
		.queue_max = 4 * APIBENCH_INFLIGHT, .readers = 4 };
	struct store *s = NULL;
	struct stat stt;
	int64_t today = (int64_t)time(NULL) / QUERY_DAY;
	double *lat = NULL;

	while ((opt = getopt(argc, argv, "p:n:r:f:s:o:i:q")) != -1) {
		int bad = 0;

		switch (opt) {
		case 'p': snprintf(path, sizeof(path), "%s", optarg); break;
		case 'n': bad = arg_int(optarg, 1, QUERY_WINDOW_DAYS_MAX, &days); break;
		case 'r': bad = arg_int(optarg, 1, 10000, &reporters); break;
		case 'f': bad = arg_int(optarg, 0, APIBENCH_DETAILS_MAX, &details); break;
		case 's': bad = arg_int(optarg, 1, 65536, &senders); break;
		case 'o': bad = arg_int(optarg, 0, 999, &others); break;
		case 'i': bad = arg_int(optarg, 1, APIBENCH_ITER_MAX, &iters); break;
		case 'q': quiet = 1; break;
		default: bad = 1; break;
		}
		if (bad) {
			usage();
			return 1;
		}
	}
	for (int i = 0; i < senders; i++)
		snprintf(bench_ips[i], sizeof(bench_ips[i]), i % 4 == 3 ? "2001:db8:%x::%x" :
		    "203.0.%d.%d", i % 4 == 3 ? i / 256 : (i / 254) % 256, i % 4 == 3 ? i % 256 + 1 :
		    i % 254 + 1);
	snprintf(bench_orgs[0], sizeof(bench_orgs[0]), "Google Inc.");
	snprintf(bench_orgs[1], sizeof(bench_orgs[1]), "Microsoft Corporation");
	for (int i = 2; i < APIBENCH_ORGS; i++)
		snprintf(bench_orgs[i], sizeof(bench_orgs[i]), "Reporter %02d", i);
	if (path[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/apibench.XXXXXX");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(path, sizeof(path), "%s/api.db", dir);
	}
	fresh = stat(path, &stt) != 0;
	so.path = path;
	if ((s = store_open(&so, err, sizeof(err))) == NULL) {
		fprintf(stderr, "apibench: %s\n", err);
		goto out;
	}
	if (fresh && bench_seed(s, days, reporters, details, senders, others) != 0) {
		fprintf(stderr, "apibench: seeding failed\n");
		goto out;
	}
	if ((lat = calloc((size_t)iters, sizeof(*lat))) == NULL)
		goto out;
	for (int q = 0; q < Q_COUNT; q++) {
		if (bench_one(s, (enum bench_q)q, today) != 0) {  /* warm-up, and a check */
			fprintf(stderr, "apibench: %s failed\n", bench_qname[q]);
			goto out;
		}
		for (int i = 0; i < iters; i++) {
			double t0 = now_ms();

			if (bench_one(s, (enum bench_q)q, today) != 0)
				goto out;
			lat[i] = now_ms() - t0;
		}
		qsort(lat, (size_t)iters, sizeof(*lat), cmp_double);
		printf("apibench query=%s n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", bench_qname[q],
		    iters, lat[iters / 2], lat[(iters * 99) / 100 < iters ? (iters * 99) / 100 :
		    iters - 1], lat[iters - 1]);
	}
	if (!quiet && stat(path, &stt) == 0)
		printf("apibench database=%s bytes=%lld\n", path, (long long)stt.st_size);
	ret = 0;
out:
	free(lat);
	store_close(s);
	if (dir[0] != '\0') {
		char p[300];

		unlink(path);
		snprintf(p, sizeof(p), "%s-wal", path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", path);
		unlink(p);
		rmdir(dir);
	}
	return ret;
}
