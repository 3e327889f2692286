/* stats: in-memory ingest counters (see ingest/stats.h). */
#include "ingest/stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const enum pipeline_verdict stats_verdicts[STATS_VERDICTS] = {
	PIPELINE_ACCEPTED, PIPELINE_DUPLICATE, PIPELINE_CONFLICT, PIPELINE_QUARANTINED,
	PIPELINE_TEMPORARY,
};

/* One more row than transports: the last holds "other" once the table is full. */
static struct stats_ingest_row stats_rows[STATS_TRANSPORTS_MAX + 1];
static size_t stats_n;
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t stats_dkim[STATS_DKIM_STATUSES];

void
stats_dkim_count(enum dkim_status s)
{
	if ((unsigned)s >= STATS_DKIM_STATUSES)
		return;
	pthread_mutex_lock(&stats_mu);
	stats_dkim[s]++;
	pthread_mutex_unlock(&stats_mu);
}

void
stats_dkim_snapshot(uint64_t out[STATS_DKIM_STATUSES])
{
	pthread_mutex_lock(&stats_mu);
	memcpy(out, stats_dkim, sizeof(stats_dkim));
	pthread_mutex_unlock(&stats_mu);
}

enum pipeline_verdict
stats_verdict_at(int i)
{
	return i >= 0 && i < STATS_VERDICTS ? stats_verdicts[i] : PIPELINE_PENDING;
}

/* The row of transport t; the caller holds stats_mu. */
static struct stats_ingest_row *
stats_row(const char *t)
{
	char name[STATS_TRANSPORT_LEN + 1];
	size_t i;

	snprintf(name, sizeof(name), "%s", t != NULL ? t : "unknown");
	for (i = 0; i < stats_n; i++)
		if (strcmp(stats_rows[i].transport, name) == 0)
			return &stats_rows[i];
	if (stats_n < STATS_TRANSPORTS_MAX) {
		memcpy(stats_rows[stats_n].transport, name, sizeof(name));
		return &stats_rows[stats_n++];
	}
	if (stats_n == STATS_TRANSPORTS_MAX) {
		snprintf(stats_rows[stats_n].transport, sizeof(stats_rows[stats_n].transport),
		    "other");
		stats_n++;
	}
	return &stats_rows[STATS_TRANSPORTS_MAX];
}

void
stats_ingest_count(const char *transport, enum pipeline_verdict v)
{
	int i;

	for (i = 0; i < STATS_VERDICTS && stats_verdicts[i] != v; i++)
		;
	if (i == STATS_VERDICTS)
		return;
	pthread_mutex_lock(&stats_mu);
	stats_row(transport)->by_verdict[i]++;
	pthread_mutex_unlock(&stats_mu);
}

size_t
stats_ingest_snapshot(struct stats_ingest_row *rows, size_t max)
{
	size_t n;

	pthread_mutex_lock(&stats_mu);
	n = stats_n < max ? stats_n : max;
	memcpy(rows, stats_rows, n * sizeof(*rows));
	pthread_mutex_unlock(&stats_mu);
	return n;
}
