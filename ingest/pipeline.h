/*
 * pipeline: the one way bytes become a stored report (or a quarantine row).
 *
 * Every transport builds an envelope (the bytes and where they came from), makes a job from
 * it, stores the job and maps the verdict to its own protocol. A job is made in the caller's
 * thread (sniff, bounded gunzip, MIME, parse, normalise, served-domain check: all CPU work),
 * then handed to the store's single writer; its verdict is final only once the commit is done.
 *
 *   sniff:   gzip by its magic bytes (whatever the Content-Type says), JSON by its first
 *            non-blank byte, a whole message by its header lines (when the envelope allows)
 *   verdict: ACCEPTED (new report), DUPLICATE (already had it), CONFLICT (same key, other
 *            content: kept, not counted), QUARANTINED (kept raw with the reason, not counted),
 *            TEMPORARY (storage unavailable: the sender must retry)
 */
#ifndef TLSRPT_PIPELINE_H
#define TLSRPT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/dkim.h"
#include "ingest/mime.h"
#include "ingest/rpt.h"
#include "storage/store.h"

#define PIPELINE_DOMAINS_MAX 1024

/*
 * What DKIM means for a whole message (RFC 8460 section 3; bodies that are not mail are never
 * checked). OFF is the zero value; the daemon's config default is REQUIRE.
 *   REQUIRE  a message without a passing, aligned signature (dkim.h) is quarantined with
 *            reason code dkim-fail or dkim-none (REJECT_DKIM); temperror is TEMPORARY
 *   RECORD   verified and the verdict recorded on the copy; counted whatever it says
 *   OFF      not verified
 */
enum pipeline_dkim { PIPELINE_DKIM_OFF = 0, PIPELINE_DKIM_REQUIRE, PIPELINE_DKIM_RECORD };

struct pipeline_options {
	size_t max_report_size;        /* cap on decompressed / decoded report bytes */
	unsigned max_gzip_ratio;       /* gzip expansion cap (see ingest/gz.h) */
	const char *const *allowed_domains; /* normalised; a report about none of them is refused */
	size_t n_allowed;              /* 0 = every domain is served */
	enum pipeline_dkim dkim;
	dkim_key_fn dkim_keys;         /* key records (ingest/dkim_keys.h); NULL: every key missing */
	void *dkim_keys_arg;
};

enum pipeline_verdict {
	PIPELINE_PENDING = 0,      /* parsed, not stored yet */
	PIPELINE_ACCEPTED,
	PIPELINE_DUPLICATE,
	PIPELINE_CONFLICT,
	PIPELINE_QUARANTINED,
	PIPELINE_TEMPORARY
};

/* Why a body was not counted; each maps to one protocol answer in every transport. */
enum pipeline_reject {
	PIPELINE_REJECT_NONE = 0,
	PIPELINE_REJECT_INVALID,       /* looked like a report but is not one (HTTP 400) */
	PIPELINE_REJECT_MEDIA,         /* cannot be a report at all: not JSON, gzip or mail (415) */
	PIPELINE_REJECT_TOO_LARGE,     /* decoded size over the cap (413) */
	PIPELINE_REJECT_NOT_SERVED,    /* about no domain we serve (403) */
	PIPELINE_REJECT_DKIM           /* mail without a passing aligned DKIM signature (kept in
	                                  quarantine; SMTP answers 250: see smtp.c) */
};

enum pipeline_format { PIPELINE_FMT_UNKNOWN = 0, PIPELINE_FMT_JSON, PIPELINE_FMT_GZIP, PIPELINE_FMT_MAIL };

struct pipeline_result {
	enum pipeline_verdict verdict;
	enum pipeline_reject reject;
	enum pipeline_format format;
	struct rpt_error error;        /* for a rejection: code, reason, path, line, column */
	int64_t report_id;             /* ACCEPTED, DUPLICATE, CONFLICT */
	int64_t conflict_of;           /* CONFLICT */
	int64_t quarantine_id;         /* QUARANTINED */
	char temp_reason[256];         /* TEMPORARY */
	int temp_dkim;                 /* TEMPORARY because a DKIM key lookup failed for now (not
	                                  the storage) */
};

/* One arrival. Everything is borrowed and must stay valid until the job is freed. */
struct envelope {
	const char *transport;         /* "http", "file", "stdin", ... */
	const char *peer;              /* remote address or file path; may be NULL */
	int64_t received_at;           /* epoch seconds */
	const void *body;
	size_t len;
	int allow_mail;                /* 1: a whole RFC 5322 message is acceptable here */
	const char *meta_json;         /* transport details as a JSON object text; may be NULL */
	int release;                   /* 1: an operator released it: DKIM is verified and
	                                  recorded but does not keep it out */
	int mail;                      /* 1: it arrived as an email (SMTP, LMTP, a mailbox): with
	                                  dkim on, a body that is not a whole message (a bare
	                                  report in DATA) counts as unsigned mail */
	int64_t dkim_time;             /* the "now" of DKIM's t= and x= checks; 0: received_at */
};

struct pipeline;
struct pipeline_job;

typedef void (*pipeline_done_fn)(void *arg, struct pipeline_job *job);

/* store may be NULL for a pipeline that only checks (tlsrptd check). NULL on OOM. */
struct pipeline *pipeline_new(struct store *store, const struct pipeline_options *opt);
void pipeline_free(struct pipeline *p);

/*
 * Decodes and parses env in the calling thread. Never fails but for OOM (NULL). The job's
 * result is PENDING with a report, or QUARANTINED-to-be with the rejection filled in.
 * Thread safe.
 */
struct pipeline_job *pipeline_job_new(struct pipeline *p, const struct envelope *env);

/* The parsed report, or NULL when the body was rejected. Owned by the job. */
const struct rpt *pipeline_job_report(const struct pipeline_job *job);

/* The (current) result. Owned by the job. */
const struct pipeline_result *pipeline_job_result(const struct pipeline_job *job);

/* What the MIME reader found, or NULL when the body was not a message. */
const struct mime_info *pipeline_job_mime(const struct pipeline_job *job);

/*
 * Stores the job (the report, or the body in quarantine). Returns 0 and later calls
 * done(arg, job) once, on the writer thread, with the final result; or returns -1 when the
 * store cannot take it now (result TEMPORARY; done is not called).
 */
int pipeline_job_store(struct pipeline_job *job, pipeline_done_fn done, void *arg);

/* Stores the job and waits for the commit. Returns the final verdict. */
enum pipeline_verdict pipeline_job_store_wait(struct pipeline_job *job);

/* Accepts NULL. Must not be called between pipeline_job_store() and its done(). */
void pipeline_job_free(struct pipeline_job *job);

/*
 * The normalised report (rpt_to_json) of a stored body, decoded again within the pipeline's
 * limits: the read API shows reports this way instead of storing a second copy. New JSON
 * object (caller owns), or NULL with a sentence in err. Thread safe.
 */
json_t *pipeline_normalise(const struct pipeline *p, const void *raw_gz, size_t len, char *err,
    size_t errlen);

/*
 * Decompresses a stored body (gzip: a report's raw_gz, or a quarantine row's raw bytes) within
 * the pipeline's limits (max_report_size, max_gzip_ratio), appending it to out (whose own cap
 * also applies). For a report this is the original report JSON as received. 0, or -1 with a
 * sentence in err. Thread safe.
 */
int pipeline_raw_json(const struct pipeline *p, const void *gz, size_t len, struct buf *out,
    char *err, size_t errlen);

/*
 * The DKIM verdict of a mail job (NULL when DKIM was not checked: not mail, policy off, or
 * rejected before the check). Owned by the job.
 */
const struct dkim_verdict *pipeline_job_dkim(const struct pipeline_job *job);

/*
 * The raw body of quarantine row id, decompressed within the pipeline's limits and appended
 * to body (whose cap also applies), with the row's status ("held" or "reprocessed"), the
 * transport of its first copy and its first arrival in *first_seen (may be NULL). 0, or a
 * STORE_* code with a sentence in err: STORE_NOTFOUND, STORE_TEMP, STORE_ERR (the store
 * failed, or the body could not be decompressed: then *unreadable, which may be NULL, is 1).
 */
int pipeline_quarantine_body(const struct pipeline *p, int64_t id, struct buf *body,
    char status[16], char transport[32], int64_t *first_seen, int *unreadable, char *err,
    size_t errlen);

/*
 * The raw body of quarantine row id through the pipeline again, as transport "reprocess"
 * (release 0) or "release" (release 1: an operator vouches for it, DKIM does not keep it
 * out). A whole message is accepted when the body first came by another transport than HTTP.
 * When it now becomes a report (accepted, duplicate or conflict) the row is marked
 * 'reprocessed' with that report's id right after the report's commit (again: a row that is
 * a report already comes back as a duplicate of it). Blocks for one group commit. Returns 0
 * with *job_out (caller frees; its result says what happened), *mark_rc (0, or the STORE_*
 * code of marking the row; STORE_NOTFOUND when nothing was to mark) and the row's status
 * afterwards in status ("held" or "reprocessed"); or a STORE_* code with a sentence in err
 * and *job_out NULL: STORE_NOTFOUND (no such row), STORE_TEMP, STORE_ERR (also an unreadable
 * body).
 */
int pipeline_requeue(struct pipeline *p, int64_t id, int release,
    struct pipeline_job **job_out, int *mark_rc, char status[16], char *err, size_t errlen);

/* "accepted", "duplicate", "conflict", "quarantined", "temporary", "pending". */
const char *pipeline_verdict_name(enum pipeline_verdict v);

/* "json", "gzip", "mail", "unknown". */
const char *pipeline_format_name(enum pipeline_format f);

#endif
