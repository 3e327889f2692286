/*
 * stats: in-memory counters of the ingest pipeline since the process started, for /metrics
 * (tlsrptd_reports_ingested_total{transport,verdict}). The pipeline counts each stored job
 * once, when its verdict is final (ingest/pipeline.c, job_apply).
 *
 * Transports are the pipeline's own short words ("http", "smtp", "file", ...): the first
 * STATS_TRANSPORTS_MAX distinct ones get their own counters, any later one is counted as
 * "other". Thread safe; counting takes one short lock.
 */
#ifndef TLSRPT_STATS_H
#define TLSRPT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/pipeline.h"

#define STATS_TRANSPORTS_MAX 16
#define STATS_TRANSPORT_LEN  16    /* bytes of a transport name kept (longer: cut) */

/* The verdicts counted, in this order, by their pipeline_verdict_name(). */
#define STATS_VERDICTS 5           /* accepted, duplicate, conflict, quarantined, temporary */

struct stats_ingest_row {
	char transport[STATS_TRANSPORT_LEN + 1];
	uint64_t by_verdict[STATS_VERDICTS];
};

/* Counts one final verdict for transport (NULL: "unknown"). PENDING is not counted. */
void stats_ingest_count(const char *transport, enum pipeline_verdict v);

/* The verdict counted at index i (0..STATS_VERDICTS-1). */
enum pipeline_verdict stats_verdict_at(int i);

/* Counts one DKIM verdict of a mailed report (dkim.h), whatever the policy made of it. */
void stats_dkim_count(enum dkim_status s);

/* The DKIM verdicts counted so far, indexed by enum dkim_status (none, pass, fail, temperror). */
#define STATS_DKIM_STATUSES 4
void stats_dkim_snapshot(uint64_t out[STATS_DKIM_STATUSES]);

/*
 * Copies up to max rows (one per transport seen, in the order first seen) into rows.
 * Returns how many were copied.
 */
size_t stats_ingest_snapshot(struct stats_ingest_row *rows, size_t max);

#endif
