/*
 * dkimbench: how fast one core verifies the DKIM signature of a report email (a benchmark,
 * not a test).
 *
 *   dkimbench [-n ITERATIONS] KEYFILE MESSAGE...
 *
 * Keys come from KEYFILE (the dkim_keys file format; no DNS, so the figure is the verifier's
 * own cost: canonicalisation, hashing, the public-key operation). Each MESSAGE is verified once
 * before timing and must PASS (its signing domain is the alignment domain). Then:
 *
 *   per message   ITERATIONS verifications of that message (default 20000)
 *   body          the first message with 1 MiB of base64 lines appended to its body,
 *                 verified 50 times: the body hash no longer matches, so this measures
 *                 canonicalisation + SHA-256 throughput over the body (MB/s)
 *
 * Output on stdout, one key=value line per run:
 *   dkimbench file=rsa_relaxed.eml algorithm=rsa-sha256 bytes=... iterations=...
 *     verifies_per_s=... us_per_verify=...
 *   dkimbench mode=body bytes=... iterations=50 mb_per_s=...
 * Exit status: 0; 1 when a message does not pass or cannot be read; 2 on a usage error.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest/dkim.h"
#include "ingest/dkim_keys.h"

#define DB_DEFAULT_ITERATIONS 20000
#define DB_FILE_MAX           ((size_t)4 << 20)
#define DB_BODY_EXTRA         ((size_t)1 << 20)
#define DB_BODY_ITERATIONS    50
#define DB_NOW                1793577600 /* 2026-11-01: after the fixtures' t= */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;

	if (f == NULL)
		return NULL;
	if ((p = malloc(DB_FILE_MAX + DB_BODY_EXTRA + 1)) != NULL)
		*len = fread(p, 1, DB_FILE_MAX, f);
	fclose(f);
	return p;
}

/* The d= of the first DKIM-Signature in msg, for alignment (the bench wants a PASS). */
static void
signing_domain(const char *msg, size_t len, char *out, size_t cap)
{
	const char *p = msg, *end = msg + len;

	out[0] = '\0';
	while (p < end - 3) {
		if ((p == msg || p[-1] == ' ' || p[-1] == '\t' || p[-1] == ';') && p[0] == 'd' &&
		    p[1] == '=') {
			size_t n = strcspn(p + 2, "; \t\r\n");

			snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p + 2);
			return;
		}
		p++;
	}
}

int
main(int argc, char **argv)
{
	struct dkim_keys_options ko = { .no_dns = 1 };
	struct dkim_keys *keys;
	struct dkim_verdict *v = malloc(sizeof(*v));
	unsigned long iterations = DB_DEFAULT_ITERATIONS;
	char err[300];
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (iterations = strtoul(optarg, NULL, 10)) == 0) {
			fprintf(stderr, "usage: dkimbench [-n ITERATIONS] KEYFILE MESSAGE...\n");
			return 2;
		}
	}
	if (argc - optind < 2 || v == NULL) {
		fprintf(stderr, "usage: dkimbench [-n ITERATIONS] KEYFILE MESSAGE...\n");
		return 2;
	}
	ko.key_file = argv[optind];
	if ((keys = dkim_keys_new(&ko, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dkimbench: %s\n", err);
		return 1;
	}
	for (int i = optind + 1; i < argc; i++) {
		size_t len = 0;
		char *msg = read_file(argv[i], &len), dom[256];
		const char *align[1] = { dom };
		const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		double t0, el;

		if (msg == NULL) {
			fprintf(stderr, "dkimbench: cannot read %s\n", argv[i]);
			return 1;
		}
		signing_domain(msg, len, dom, sizeof(dom));
		dkim_verify(msg, len, align, 1, DB_NOW, dkim_keys_lookup, keys, v);
		if (v->status != DKIM_PASS) {
			fprintf(stderr, "dkimbench: %s does not pass: %s\n", argv[i], v->reason);
			return 1;
		}
		t0 = now_s();
		for (unsigned long n = 0; n < iterations; n++)
			dkim_verify(msg, len, align, 1, DB_NOW, dkim_keys_lookup, keys, v);
		el = now_s() - t0;
		printf("dkimbench file=%s algorithm=%s bytes=%zu iterations=%lu verifies_per_s=%.0f "
		    "us_per_verify=%.1f\n", base, v->sig[v->best].algorithm, len, iterations,
		    (double)iterations / el, el * 1e6 / (double)iterations);
		if (i == optind + 1) {
			/* The same message with a 1 MiB body: hashing throughput. */
			size_t extra = 0;

			while (extra + 78 <= DB_BODY_EXTRA) {
				memset(msg + len + extra, 'Q', 76);
				memcpy(msg + len + extra + 76, "\r\n", 2);
				extra += 78;
			}
			t0 = now_s();
			for (int n = 0; n < DB_BODY_ITERATIONS; n++)
				dkim_verify(msg, len + extra, align, 1, DB_NOW, dkim_keys_lookup, keys, v);
			el = now_s() - t0;
			printf("dkimbench mode=body bytes=%zu iterations=%d mb_per_s=%.0f result=%s\n",
			    len + extra, DB_BODY_ITERATIONS,
			    (double)(len + extra) * DB_BODY_ITERATIONS / el / 1e6,
			    dkim_status_name(v->status));
		}
		free(msg);
	}
	dkim_keys_free(keys);
	free(v);
	return 0;
}
