/*
 * export: read-only row streams over the stored reports, for the CSV exports (web/export.c,
 * collector/export.c) and the figures /metrics reads from the database (web/metrics.c).
 *
 * A row stream holds one pooled read connection and one prepared statement for its whole
 * life, and steps it one row at a time: memory stays the same whatever the number of rows,
 * and every row comes from the same snapshot of the database. Cells are text (times as
 * RFC 3339 UTC, the report's SHA-256 in lower-case hex), or NULL for a missing value.
 *
 * Kinds (one row per ...):
 *   failures  failure-details entry: self-contained (report, reporter, window, policy,
 *             failure fields, the report's SHA-256)
 *   policies  policy of a report, with in_totals = 1 when it is the policy that stands for
 *             its domain in the report's totals (per domain the one with the most sessions,
 *             the first on a tie; a policy without a domain stands alone)
 *   reports   report: policy_domains (space-separated) and successful / failed summed over
 *             the policies standing for their domains; with a domain filter or a token's
 *             scope only the matching domains appear and are summed
 *
 * Filters (each optional; all must hold):
 *   domain       the policy domain, exactly (normalised)
 *   reporter     organization-name, exactly but for ASCII case
 *   from, to     the report window overlaps [from, to): end > from and start < to
 *   has_failures the policy (failures, policies) or the report's summed sessions (reports)
 *                has failed > 0 (1), or not (0)
 *   result_type  failures: the entry's result type; policies and reports: those having at
 *                least one entry of that type (in a matching domain)
 *   scope_json   a read token's domains as a JSON array: only those policy domains and their
 *                subdomains (NULL: every domain)
 */
#ifndef TLSRPT_EXPORT_H
#define TLSRPT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

enum export_kind { EXPORT_FAILURES = 0, EXPORT_POLICIES = 1, EXPORT_REPORTS = 2, EXPORT_KINDS };

#define EXPORT_FROM_ANY INT64_MIN
#define EXPORT_TO_ANY   INT64_MAX

struct export_filter {
	const char *domain;
	const char *reporter;
	int64_t from;               /* EXPORT_FROM_ANY when not set */
	int64_t to;                 /* EXPORT_TO_ANY when not set */
	int has_failures;           /* -1 any, 0 without, 1 with */
	const char *result_type;
	const char *scope_json;
};

/* Every filter off. */
void export_filter_init(struct export_filter *f);

/* "failures", "policies", "reports"; NULL for anything else. */
const char *export_kind_name(enum export_kind k);

/* Parses a kind name. 0, or -1. */
int export_kind_parse(const char *name, enum export_kind *out);

/* The number of columns of kind k (0 for a bad kind); *names gets their stable names. */
int export_columns(enum export_kind k, const char *const **names);

struct export_rows;

/*
 * Opens a row stream: borrows a read connection (waits for a free one) and prepares the
 * query; strings of f are copied. 0 with *out (close it with export_rows_close), STORE_TEMP
 * or STORE_ERR. The stream may be stepped from any one thread at a time.
 */
int export_rows_open(struct store *s, enum export_kind k, const struct export_filter *f,
    struct export_rows **out);

/* The kind of the stream (its columns: export_columns). */
enum export_kind export_rows_kind(const struct export_rows *x);

/* Steps to the next row: 1 a row, 0 no more rows, STORE_TEMP or STORE_ERR. */
int export_rows_next(struct export_rows *x);

/*
 * Cell col (0-based) of the current row: NUL-terminated text valid until the next step, with
 * its length in *len (may be NULL); NULL for a missing value (then *len is 0).
 */
const char *export_rows_cell(struct export_rows *x, int col, size_t *len);

/* Finalises the statement and gives the read connection back. Accepts NULL. */
void export_rows_close(struct export_rows *x);

/* What /metrics reads from the database in one snapshot (see export_stats_read). */
struct export_domain_stat {
	const char *domain;
	int64_t successful;         /* sessions, summed over daily_domain */
	int64_t failed;
	int64_t last_received;      /* first arrival of the newest counted report about it
	                               (the domains rollup), 0 when unknown */
};

struct export_failure_stat {
	const char *domain;
	const char *result_type;
	int64_t sessions;           /* failed sessions, from roll_fail (result-type dimension,
	                               policies standing for their domain: sts + tlsa not summed) */
};

struct export_stats {
	int64_t quarantine_rows;    /* rows in quarantine */
	int64_t domains;            /* domains in the rollups (within the scope) */
	int64_t domains_shown;      /* of them, given to on_domain (at most max_domains) */
	int64_t failures_shown;     /* (domain, result type) rows given to on_failure */
};

/*
 * Reads, from one snapshot: the quarantine row count; the sessions of the daily rollups per
 * domain, the max_domains domains with the most sessions (then by name), to on_domain; and
 * the failed sessions per result type of those domains, the max_failures largest, to
 * on_failure. scope_json as in struct export_filter. A callback returning non-zero stops the
 * read (STORE_ERR). Either callback may be NULL. 0 with *out filled, STORE_TEMP or STORE_ERR.
 * Thread safe.
 */
int export_stats_read(struct store *s, const char *scope_json, int max_domains, int max_failures,
    int (*on_domain)(void *arg, const struct export_domain_stat *d),
    int (*on_failure)(void *arg, const struct export_failure_stat *f), void *arg,
    struct export_stats *out);

#endif
