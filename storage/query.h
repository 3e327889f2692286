/*
 * query: the read queries of the JSON API (and the few writes it makes on quarantine rows),
 * over the rollups of schema/0002_api_rollups.sql and the indexes of the report tables.
 *
 * Every function borrows a pooled read-only connection (storage/store_int.h), runs its
 * statements inside one read transaction (one snapshot) and builds a JSON document the
 * caller owns. Days are epoch day numbers (floor(epoch_seconds / 86400)); a window is a
 * half-open range of days [from_day, to_day). Nothing here knows about HTTP or tokens: a
 * visibility callback says which domains the asker may see.
 *
 * Return convention: 0 with *out set (caller owns the reference), STORE_NOTFOUND, STORE_TEMP
 * (busy, I/O: retry) or STORE_ERR (bad arguments, out of memory, bad stored data). Thread
 * safe: any thread, any number at once (bounded by the reader pool).
 */
#ifndef TLSRPT_QUERY_H
#define TLSRPT_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/buf.h"
#include "storage/store.h"

#define QUERY_DAY             86400
#define QUERY_WINDOW_DAYS_MAX 3660   /* longest window an aggregate query takes */
#define QUERY_TOP_MAX         1000   /* most entries per breakdown */
#define QUERY_LIST_MAX        500    /* most items per list page */
#define QUERY_READY_DAYS_MAX  365    /* longest readiness window */
#define QUERY_KEYS_MAX        (1 << 22) /* distinct keys one breakdown may gather */
/* Counted reports are read from this epoch day on (1970-01-01 .. 9999-12-31 in days). */
#define QUERY_DAY_MIN         INT64_C(0)
#define QUERY_DAY_MAX         INT64_C(2932896)

/*
 * The month index (year * 12 + month - 1) of an epoch day, proleptic Gregorian, UTC: the
 * period of roll_sender's month rows (shared with the writer, storage/store.c).
 */
int64_t query_month_of_day(int64_t day);

/* The epoch day of the first day of a month index. */
int64_t query_month_first_day(int64_t month);

/* "YYYY-MM-DD" of an epoch day into buf (at least 16 bytes). Returns buf. */
const char *query_day_text(int64_t day, char *buf, size_t len);

/*
 * MTA-STS mx pattern matching (RFC 8461 §4.1): 1 when host matches pattern, else 0.
 * Case-insensitive; one trailing dot on either side is ignored. "*.example.net" matches a
 * host with exactly one more non-empty label on the left ("mx1.example.net", not
 * "a.b.example.net" nor "example.net"); any other '*' is not a wildcard. Empty or NULL
 * inputs never match. Pure, thread safe.
 */
int query_mx_match(const char *pattern, const char *host);

/* The asker may see this domain: 1, else 0. arg is the callback's own. */
typedef int (*query_visible_fn)(void *arg, const char *domain);

struct query_window {
	int64_t from_day;       /* inclusive */
	int64_t to_day;         /* exclusive; 1 .. QUERY_WINDOW_DAYS_MAX days after from_day */
};

/*
 * Every domain with counted data that visible() accepts (NULL: all), by name, with totals
 * over w and over the window of the same length just before it, distinct reporters, sts
 * modes seen in w and the newest report. At most QUERY_DOMAINS_MAX domains ("truncated").
 */
#define QUERY_DOMAINS_MAX 10000
int query_domains(struct store *s, const struct query_window *w, query_visible_fn visible,
    void *arg, json_t **out);

/*
 * One domain over w: totals and breakdowns (result_type, reporter, receiving_mx,
 * receiving_ip, sending_ip, policy_type), each the top entries (1..QUERY_TOP_MAX) plus an
 * "other" line. STORE_NOTFOUND when the domain never had counted data; STORE_ERR also when
 * a breakdown would gather more than QUERY_KEYS_MAX distinct keys.
 */
int query_summary(struct store *s, const char *domain, const struct query_window *w, int top,
    json_t **out);

/*
 * One domain over w in buckets of interval_days (1: days; 7: weeks starting on Monday,
 * the first and last clipped to w): successful, failed and failures per result type, every
 * bucket present. STORE_NOTFOUND as for query_summary.
 */
int query_timeseries(struct store *s, const char *domain, const struct query_window *w,
    int interval_days, json_t **out);

/*
 * MTA-STS enforce readiness of a domain over the days days ending with today (1 ..
 * QUERY_READY_DAYS_MAX): the verdict, its reasons and the figures behind them (the rule is
 * spelled out above query_readiness in query.c). STORE_NOTFOUND as for query_summary.
 */
int query_readiness(struct store *s, const char *domain, int64_t today, int days, json_t **out);

struct query_reports {
	int limit;              /* 1 .. QUERY_LIST_MAX */
	int64_t before_id;      /* only ids below it; 0 = from the newest */
	const char *domain;     /* NULL or a normalised domain some policy names */
	const char *reporter;   /* NULL or an organization-name (case-insensitive, exact) */
	int64_t from_ts;        /* with has_from: window ends after it */
	int64_t to_ts;          /* with has_to: window starts before it */
	int has_from;
	int has_to;
	int has_failures;       /* -1 either, 0 none failed, 1 some failed */
	const char *result_type; /* NULL or a result type some failure detail has */
};

/*
 * Reports newest first (by id) matching every filter and visible() (NULL: all; a report is
 * visible when one of its domains is, and when it names none only if visible(arg, NULL)
 * says so). {"reports":[...], "next_before": id or null, "scanned": n}. At most
 * QUERY_SCAN_MAX candidates are looked at per call: a page may be short, even empty, while
 * next_before is not null; follow it until it is.
 */
#define QUERY_SCAN_MAX 20000
int query_reports(struct store *s, const struct query_reports *q, query_visible_fn visible,
    void *arg, json_t **out);

/*
 * The stored body (gzip) of report id appended to raw_gz and its domains as a JSON array
 * in *domains (caller owns). 0, STORE_NOTFOUND, STORE_TEMP or STORE_ERR (also raw_gz's cap).
 */
int query_report_raw(struct store *s, int64_t id, json_t **domains, struct buf *raw_gz);

/*
 * Quarantine rows newest first (by id), status NULL for all or one of "held",
 * "reprocessed": {"quarantine":[{id, reason_code, reason, status, report, raw_len,
 * first_seen, last_seen, seen_count}], "next_before"}.
 */
int query_quarantine_list(struct store *s, int limit, int64_t before_id, const char *status,
    json_t **out);

/* One quarantine row with its detail and every copy (transport, peer, time, meta). */
int query_quarantine_get(struct store *s, int64_t id, json_t **out);

/*
 * The stored raw bytes (gzip) of quarantine row id appended to raw_gz, its status in
 * status (at least 16 bytes), the transport of its first copy in transport (at least
 * 32 bytes) and when it first arrived in *first_seen (may be NULL). 0, STORE_NOTFOUND,
 * STORE_TEMP or STORE_ERR.
 */
int query_quarantine_raw(struct store *s, int64_t id, struct buf *raw_gz, char *status,
    char *transport, int64_t *first_seen);

/*
 * Marks quarantine row id 'reprocessed' as report report_id (through the writer, committed
 * on return). 0, STORE_NOTFOUND, STORE_TEMP or STORE_ERR.
 */
int query_quarantine_mark(struct store *s, int64_t id, int64_t report_id);

/*
 * Deletes quarantine row id, its raw bytes and its copies (through the writer, committed on
 * return). 0, STORE_NOTFOUND, STORE_TEMP or STORE_ERR.
 */
int query_quarantine_delete(struct store *s, int64_t id);

/* Ingest counters by transport and verdict, database size, oldest and newest report. */
int query_stats(struct store *s, json_t **out);

/*
 * What changes whenever stored data does: the highest copy, report and quarantine ids and
 * the meta 'generation' counter, in v[0..3]. 0, STORE_TEMP or STORE_ERR. Cheap (index ends).
 */
int query_data_version(struct store *s, int64_t v[4]);

#endif
