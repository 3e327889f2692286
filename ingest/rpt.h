/*
 * rpt: a TLS-RPT report (RFC 8460), parsed leniently from JSON and normalised.
 *
 * rpt_parse() takes the decompressed JSON bytes and gives either a struct rpt or a precise
 * rejection (what, JSON path, line and column). It rejects only what cannot be a report:
 * invalid UTF-8, not JSON (duplicate keys included: I-JSON), not an object, no "policies"
 * array, no usable date range, or a count that is negative, fractional or beyond 2^53.
 * Every other deviation seen in real reports is accepted and recorded as lint on the report.
 *
 * Normalisation: domains are lower-case A-labels without a trailing dot (U-labels are
 * punycode-encoded); IPs are canonical (inet_ntop) with the raw text kept; datetimes are UTC
 * epoch seconds (no zone = UTC, with lint); mx-host is always a list without "mx:" prefixes;
 * sts policy-strings are parsed into mode, max_age and mx patterns; Microsoft's TLSA arrays
 * packed as JSON inside one string are unpacked; known result types are lower-cased, unknown
 * ones kept verbatim.
 *
 * All memory of a report (strings and arrays) lives in one arena freed by rpt_free().
 * Thread safe: reports share nothing (jansson must have been seeded once: rpt_global_init()).
 */
#ifndef TLSRPT_RPT_H
#define TLSRPT_RPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RPT_COUNT_MISSING (-1) /* a count the report did not give */
#define RPT_MAX_SAFE_INT  ((int64_t)1 << 53)

enum rpt_policy_type {
	RPT_POLICY_STS = 0,
	RPT_POLICY_TLSA = 1,
	RPT_POLICY_NONE_FOUND = 2, /* "no-policy-found" */
	RPT_POLICY_OTHER = 3       /* anything else: kept verbatim in type_name */
};

struct rpt_failure {
	const char *result_type;           /* RFC types lower-cased; unknown ones verbatim; "" if missing */
	const char *sending_mta_ip;        /* canonical, or the raw text if not an IP; NULL if missing */
	const char *receiving_ip;          /* canonical, or raw; NULL if missing */
	const char *sending_mta_ip_raw;    /* as in the report; NULL if missing */
	const char *receiving_ip_raw;
	const char *receiving_mx_hostname; /* normalised domain; NULL if missing */
	const char *receiving_mx_helo;     /* as given; NULL if missing */
	const char *additional_information;/* verbatim, never dereferenced; NULL if missing */
	const char *failure_reason_code;   /* verbatim; NULL if missing */
	int64_t failed_session_count;      /* >= 0, or RPT_COUNT_MISSING */
};

struct rpt_policy {
	enum rpt_policy_type type;
	const char *type_name;        /* "sts", "tlsa", "no-policy-found" or the verbatim value; "" if missing */
	const char *domain;           /* normalised policy-domain; NULL if missing */
	const char **strings;         /* policy-string lines as given (TLSA JSON arrays unpacked) */
	size_t n_strings;
	const char **mx_hosts;        /* mx-host, always a list, "mx:" prefix removed, normalised */
	size_t n_mx_hosts;
	/* Parsed from an sts policy-string (NULL / -1 / 0 when absent). */
	const char *sts_version;      /* "STSv1" */
	const char *sts_mode;         /* "enforce", "testing", "none" or verbatim */
	int64_t sts_max_age;          /* seconds, or -1 */
	const char **sts_mx;          /* the mx: patterns, normalised */
	size_t n_sts_mx;
	int64_t success;              /* total-successful-session-count, or RPT_COUNT_MISSING */
	int64_t failure;              /* total-failure-session-count, or RPT_COUNT_MISSING */
	struct rpt_failure *failures; /* failure-details (possibly none) */
	size_t n_failures;
	int counted;                  /* set by the pipeline: 1 if this policy feeds the rollups */
};

struct rpt_lint {
	const char *path;    /* JSON path such as "policies[0].mx-host" ("" for the document) */
	const char *code;    /* short stable word: "no-timezone", "mx-host-string", ... */
	const char *message; /* human sentence */
};

struct rpt {
	const char *organization_name; /* verbatim (trimmed); NULL if missing */
	const char *contact_info;      /* verbatim; NULL if missing or null */
	const char *report_id;         /* verbatim; "" if missing */
	const char *start_raw;         /* date-range texts as given */
	const char *end_raw;
	int64_t start;                 /* UTC epoch seconds */
	int64_t end;
	const char *reporter_key;      /* normalised reporter identity used in the dedup key:
	                                  lower-case organization-name, "\n", lower-case contact-info */
	struct rpt_policy *policies;
	size_t n_policies;
	struct rpt_lint *lint;
	size_t n_lint;
	struct rpt_arena *arena;       /* private */
};

struct rpt_error {
	char code[32];     /* short stable word: "invalid-utf8", "not-json", "no-policies", ... */
	char reason[256];  /* human sentence */
	char path[128];    /* JSON path, "" when not applicable */
	int line;          /* 1-based, 0 when unknown */
	int column;        /* 1-based, 0 when unknown */
	long position;     /* byte offset, -1 when unknown */
};

/* Once per process before threads start: seeds jansson's hash function. */
void rpt_global_init(void);

/*
 * Parses len bytes of JSON (no NUL needed). On success returns 0 and sets *out (caller frees
 * with rpt_free). On rejection returns -1, fills *err and sets *out to NULL. Thread safe.
 */
int rpt_parse(const char *json, size_t len, struct rpt **out, struct rpt_error *err);

/* Frees a report and everything in it. Accepts NULL. */
void rpt_free(struct rpt *r);

/*
 * Adds a lint entry (strings copied into the report's arena). For the pipeline, which knows
 * things the JSON does not (gzip members, unserved domains). Returns 0 or -1 on OOM.
 */
int rpt_add_lint(struct rpt *r, const char *path, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * The normalised report as a new JSON object (caller owns the reference): every field above,
 * counts as integers or null, lint as an array of {path, code, message}. NULL on OOM.
 */
json_t *rpt_to_json(const struct rpt *r);

/* "sts", "tlsa", "no-policy-found", or p->type_name ("" if none) for RPT_POLICY_OTHER. */
static inline const char *
rpt_policy_type_name(const struct rpt_policy *p)
{
	switch (p->type) {
	case RPT_POLICY_STS:
		return "sts";
	case RPT_POLICY_TLSA:
		return "tlsa";
	case RPT_POLICY_NONE_FOUND:
		return "no-policy-found";
	case RPT_POLICY_OTHER:
		break;
	}
	return p->type_name != NULL ? p->type_name : "";
}

#endif
