/*
 * store: the SQLite storage of tlsrptd. Nothing outside storage/ speaks SQL.
 *
 * store_open() opens (creating if needed) the database file, applies the embedded migrations
 * of schema/ (one transaction each, tracked with PRAGMA user_version), sets WAL mode and
 * synchronous=FULL, and starts the single writer thread. Every write goes through that thread:
 * it takes whatever requests are queued, runs them in one BEGIN IMMEDIATE transaction (group
 * commit, one SAVEPOINT per request so one bad request does not sink the others), commits,
 * and only then calls each request's done callback. Reads use a small pool of read-only
 * connections and may run on any thread.
 *
 * Dedup: a report's key is (reporter_key, report_id, start, end). A new key is stored and
 * counted (STORE_NEW). The same key with the same SHA-256 of the decompressed JSON is a
 * duplicate: only a copy row is added (STORE_DUP). The same key with different content is
 * kept as its own report, marked as a conflict with the first one and not counted
 * (STORE_CONFLICT). Quarantine rows are deduplicated by the SHA-256 of the raw bytes: a second
 * arrival bumps seen_count and adds a copy row (STORE_QUARANTINED both times).
 *
 * Counting: daily rollups per policy domain are written in the same transaction as the report,
 * from the policies with counted=1: per domain the policy with the most sessions stands for the
 * domain (so sts+tlsa for one domain is not counted twice); a window is split over the UTC days
 * it covers in proportion to the seconds in each (an end at hh:59:59 counts as the next whole
 * second), largest remainder first, so the day totals add up exactly.
 */
#ifndef TLSRPT_STORE_H
#define TLSRPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/buf.h"
#include "ingest/rpt.h"

enum store_rc {
	STORE_NEW = 0,          /* a new report, stored and counted */
	STORE_DUP = 1,          /* already had it: copy recorded, nothing counted */
	STORE_CONFLICT = 2,     /* same key, other content: kept, marked, not counted */
	STORE_QUARANTINED = 3,  /* kept in quarantine (new or seen again) */
	STORE_NOTFOUND = 4,     /* read: no such row */
	STORE_TEMP = -1,        /* storage unavailable now (busy, full, I/O, shutting down): retry */
	STORE_ERR = -2          /* invalid request or internal error */
};

struct store_options {
	const char *path;       /* database file */
	int busy_timeout_ms;    /* how long a write waits for a lock before STORE_TEMP */
	int batch_max;          /* most requests in one transaction */
	int queue_max;          /* most requests waiting; more are answered STORE_TEMP at once */
	int readers;            /* read-only connections in the pool */
};

/* One arrival of a body: provenance, kept for reports (duplicates too) and quarantine rows. */
struct store_copy {
	const char *transport;  /* "http", "file", "stdin", ... */
	const char *peer;       /* remote address or file name; may be NULL */
	int64_t received_at;    /* epoch seconds */
	const char *meta_json;  /* a JSON object text with transport details; may be NULL */
};

struct store_report {
	const struct rpt *rpt;          /* parsed report; policies[].counted says what to count */
	const unsigned char *sha256;    /* 32 bytes: SHA-256 of the decompressed JSON */
	const void *raw_gz;             /* the body as gzip (as received, or compressed by us) */
	size_t raw_gz_len;
	size_t json_len;                /* decompressed JSON length */
};

struct store_quarantine {
	const unsigned char *sha256;    /* 32 bytes: SHA-256 of the raw bytes */
	const void *raw_gz;             /* the raw bytes, gzip-compressed by the caller */
	size_t raw_gz_len;
	size_t raw_len;
	const char *reason_code;        /* short word: "not-json", "domain-not-served", ... */
	const char *reason;             /* the sentence the sender was given */
	const char *detail_json;        /* JSON object text (path, line, column, ...); may be NULL */
};

struct store_result {
	enum store_rc rc;
	int64_t report_id;      /* reports.id for NEW, DUP, CONFLICT */
	int64_t conflict_of;    /* for CONFLICT: the report it conflicts with */
	int64_t quarantine_id;  /* for QUARANTINED */
	int64_t copy_id;
	char error[160];        /* for TEMP and ERR */
};

typedef void (*store_done_fn)(void *arg, const struct store_result *res);

struct sqlite3;

/*
 * A write request. Caller-allocated; it and everything it points to must stay valid until
 * done() has been called (on the writer thread: keep done short and non-blocking).
 * Fill exactly one of report / quarantine.
 */
struct store_req {
	const struct store_report *report;
	const struct store_quarantine *quarantine;
	struct store_copy copy;
	store_done_fn done;
	void *arg;
	struct store_result result;     /* filled before done() is called */
	struct store_req *next_;        /* private */
	int (*fn_)(struct sqlite3 *, void *); /* private: store_write() */
	void *fn_arg_;                  /* private */
};

/* Opens and migrates. NULL on failure with a sentence in err. */
struct store *store_open(const struct store_options *opt, char *err, size_t errlen);

/*
 * Stops taking requests (store_submit answers STORE_TEMP from now on), commits what is queued
 * and stops the writer, but frees nothing: other threads may still call into the store
 * (and read). Accepts NULL. Idempotent.
 */
void store_stop(struct store *s);

/* store_stop(), then closes and frees everything. No other thread may use s. Accepts NULL. */
void store_close(struct store *s);

/*
 * Queues req. Returns 0 (done() will be called exactly once), or STORE_TEMP when the queue is
 * full or the store is closing (done() is not called; req->result is filled).
 */
int store_submit(struct store *s, struct store_req *req);

/* Queues req and waits for its commit. Returns req->result.rc. req->done must be NULL. */
int store_submit_wait(struct store *s, struct store_req *req);

/* A write round trip through the writer (a tiny UPDATE). 0, or STORE_TEMP. Blocks. */
int store_ping(struct store *s);

struct store_list_query {
	int limit;              /* 1..500 */
	int64_t before_id;      /* cursor: only reports with id < before_id; 0 = from the newest */
};

/*
 * Newest first: {"reports":[{id, reporter{organization_name, contact_info}, report_id,
 * window{start, end} (RFC 3339 UTC), domains[], totals{successful, failed}, copies,
 * conflict_of, received_at}], "next_before": id or null}. Returns 0 with *out (caller owns),
 * or STORE_TEMP / STORE_ERR.
 */
int store_list_reports(struct store *s, const struct store_list_query *q, json_t **out);

/*
 * One report: the list fields plus "lint" (as recorded at ingest), "sha256" (hex) and
 * "copies" [{id, transport, peer, received_at, meta}]. With raw_gz non-NULL, the stored body
 * (gzip) is appended to it from the same snapshot, so the caller can show the report itself
 * (the normalised form is derived from it on demand; only what the counts need is stored
 * as columns). 0, STORE_NOTFOUND, STORE_TEMP or STORE_ERR (also when raw_gz's cap is hit).
 */
int store_get_report(struct store *s, int64_t id, json_t **out, struct buf *raw_gz);

/* Requests waiting for the writer now (the batch being committed not included). Thread safe. */
int store_queue_depth(struct store *s);

/* The commit latency histogram of store_commit_stats: upper bounds in seconds, ascending. */
#define STORE_COMMIT_BUCKETS 12
extern const double store_commit_bounds[STORE_COMMIT_BUCKETS];

struct store_commit_stats {
	uint64_t count;                    /* transactions committed since store_open */
	double sum_seconds;                /* their total time */
	uint64_t le[STORE_COMMIT_BUCKETS]; /* cumulative: those that took <= store_commit_bounds[i] */
};

/*
 * The time of every committed group commit since store_open, from BEGIN IMMEDIATE to the end
 * of COMMIT (the fsync included). Failed transactions are not counted. Thread safe.
 */
void store_commit_stats(struct store *s, struct store_commit_stats *out);

#endif
