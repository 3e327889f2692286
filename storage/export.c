/* export: read-only row streams for CSV exports and /metrics (see storage/export.h). */
#include "storage/export.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "collector/log.h"
#include "storage/store_int.h"

/* RFC 3339 UTC text of an epoch-seconds column. */
#define X_TS(c) "strftime('%Y-%m-%dT%H:%M:%SZ', " c ", 'unixepoch')"

/* The domain column c is in the token's scope: one of its domains or a subdomain of one. */
#define X_SCOPE(c) \
	"(:scope IS NULL OR EXISTS (SELECT 1 FROM json_each(:scope) j WHERE " c " = j.value" \
	" OR (length(" c ") > length(j.value) AND substr(" c ", -length(j.value) - 1) = '.' ||" \
	" j.value)))"

/* Policy p matches the domain filter and the scope. */
#define X_POLICY_DOMAIN(p) "(:domain IS NULL OR " p ".policy_domain = :domain) AND " \
	X_SCOPE(p ".policy_domain")

/*
 * Policy p stands for its domain in its report's totals: per domain the policy with the most
 * sessions (the first on a tie), a policy without a domain alone (as storage/store.c counts).
 */
#define X_STANDS(p) \
	"(" p ".policy_domain IS NULL OR " p ".policy_domain = '' OR " p ".id = (SELECT p2.id" \
	" FROM policies p2 WHERE p2.report = " p ".report AND p2.policy_domain = " p ".policy_domain" \
	" ORDER BY coalesce(p2.successful, 0) + coalesce(p2.failed, 0) DESC, p2.idx LIMIT 1))"

/*
 * Report r matches the reporter and the window. The unary + keeps the planner from reading
 * reports through the window index, which would need a sort to give rows in id order.
 */
#define X_REPORT \
	"(:reporter IS NULL OR lower(r.organization_name) = lower(:reporter))" \
	" AND +r.end_ts > :from AND +r.start_ts < :to"

#define X_REPORT_COLS \
	"r.id, r.report_id, r.organization_name, r.contact_info, " X_TS("r.start_ts") ", " \
	X_TS("r.end_ts")

/*
 * Every query reads reports in id order, then each report's policies, then each policy's
 * failures, through their indexes (CROSS JOIN fixes that order), so rows stream out without
 * a sort however many there are.
 */
static const char *const export_sql[EXPORT_KINDS] = {
	[EXPORT_FAILURES] =
	    "SELECT " X_REPORT_COLS ", p.policy_domain, p.policy_type, p.sts_mode, f.result_type,"
	    " f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo, f.receiving_ip,"
	    " f.failed_session_count, f.failure_reason_code, f.additional_information,"
	    " r.counted AND p.counted, lower(hex(r.sha256))"
	    " FROM reports r CROSS JOIN policies p CROSS JOIN failures f"
	    " WHERE p.report = r.id AND f.policy = p.id AND " X_REPORT " AND " X_POLICY_DOMAIN("p")
	    " AND (:rt IS NULL OR f.result_type = :rt)"
	    " AND (:hf IS NULL OR (coalesce(p.failed, 0) > 0) = :hf)"
	    " ORDER BY r.id, p.idx, f.id",
	[EXPORT_POLICIES] =
	    "SELECT " X_REPORT_COLS ", p.idx, p.policy_type, p.policy_domain, p.sts_mode,"
	    " p.sts_max_age, p.successful, p.failed,"
	    " (SELECT count(*) FROM failures f WHERE f.policy = p.id), " X_STANDS("p") ","
	    " r.counted AND p.counted, lower(hex(r.sha256))"
	    " FROM reports r CROSS JOIN policies p"
	    " WHERE p.report = r.id AND " X_REPORT " AND " X_POLICY_DOMAIN("p")
	    " AND (:rt IS NULL OR EXISTS (SELECT 1 FROM failures f WHERE f.policy = p.id"
	    " AND f.result_type = :rt))"
	    " AND (:hf IS NULL OR (coalesce(p.failed, 0) > 0) = :hf)"
	    " ORDER BY r.id, p.idx",
	[EXPORT_REPORTS] =
	    "SELECT " X_REPORT_COLS ", group_concat(p.policy_domain, ' '),"
	    " sum(coalesce(p.successful, 0)), sum(coalesce(p.failed, 0)), r.counted, r.conflict_of,"
	    " (SELECT count(*) FROM report_copies c WHERE c.report = r.id),"
	    " json_array_length(r.lint), " X_TS("r.received_at") ", lower(hex(r.sha256))"
	    " FROM reports r LEFT JOIN policies p ON p.report = r.id AND " X_POLICY_DOMAIN("p")
	    " AND " X_STANDS("p")
	    " WHERE " X_REPORT
	    " AND ((:domain IS NULL AND :scope IS NULL) OR p.id IS NOT NULL)"
	    " AND (:rt IS NULL OR EXISTS (SELECT 1 FROM failures f JOIN policies p4"
	    " ON p4.id = f.policy WHERE f.report = r.id AND f.result_type = :rt AND "
	    X_POLICY_DOMAIN("p4") "))"
	    " GROUP BY r.id"
	    " HAVING :hf IS NULL OR (sum(coalesce(p.failed, 0)) > 0) = :hf"
	    " ORDER BY r.id",
};

static const char *const export_cols_failures[] = {
	"report", "report_id", "organization_name", "contact_info", "window_start", "window_end",
	"policy_domain", "policy_type", "sts_mode", "result_type", "sending_mta_ip",
	"receiving_mx_hostname", "receiving_mx_helo", "receiving_ip", "failed_session_count",
	"failure_reason_code", "additional_information", "counted", "report_sha256",
};

static const char *const export_cols_policies[] = {
	"report", "report_id", "organization_name", "contact_info", "window_start", "window_end",
	"policy_index", "policy_type", "policy_domain", "sts_mode", "sts_max_age", "successful",
	"failed", "failure_details", "in_totals", "counted", "report_sha256",
};

static const char *const export_cols_reports[] = {
	"report", "report_id", "organization_name", "contact_info", "window_start", "window_end",
	"policy_domains", "successful", "failed", "counted", "conflict_of", "copies", "lint",
	"received_at", "report_sha256",
};

#define EXPORT_NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const export_names[EXPORT_KINDS] = {
	[EXPORT_FAILURES] = "failures",
	[EXPORT_POLICIES] = "policies",
	[EXPORT_REPORTS] = "reports",
};

static const char export_sql_quarantine[] = "SELECT count(*) FROM quarantine";
static const char export_sql_domains[] =
    "SELECT d.domain, sum(d.successful), sum(d.failed),"
    " (SELECT r.received_at FROM policies p JOIN reports r ON r.id = p.report"
    "  WHERE p.policy_domain = d.domain AND p.counted = 1 AND r.counted = 1"
    "  ORDER BY p.report DESC LIMIT 1), count(*) OVER ()"
    " FROM daily_domain d WHERE " X_SCOPE("d.domain") " GROUP BY d.domain"
    " ORDER BY sum(d.successful) + sum(d.failed) DESC, d.domain LIMIT :limit";
/* Failed sessions per result type from the path rollup; stands = 1: sts + tlsa not summed. */
static const char export_sql_failures[] =
    "SELECT domain, result_type, sum(failed) FROM roll_path"
    " WHERE domain IN (SELECT value FROM json_each(:domains)) AND stands = 1"
    " GROUP BY domain, result_type ORDER BY sum(failed) DESC, domain, result_type LIMIT :limit";

struct export_rows {
	struct store *s;
	struct store_reader *rd;
	sqlite3 *db;
	sqlite3_stmt *st;
	int ncols;
	enum export_kind kind;
};

void
export_filter_init(struct export_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->from = EXPORT_FROM_ANY;
	f->to = EXPORT_TO_ANY;
	f->has_failures = -1;
}

const char *
export_kind_name(enum export_kind k)
{
	return (int)k >= 0 && k < EXPORT_KINDS ? export_names[k] : NULL;
}

int
export_kind_parse(const char *name, enum export_kind *out)
{
	for (int k = 0; name != NULL && k < EXPORT_KINDS; k++)
		if (strcmp(name, export_names[k]) == 0) {
			*out = (enum export_kind)k;
			return 0;
		}
	return -1;
}

int
export_columns(enum export_kind k, const char *const **names)
{
	switch (k) {
	case EXPORT_FAILURES:
		*names = export_cols_failures;
		return EXPORT_NCOLS(export_cols_failures);
	case EXPORT_POLICIES:
		*names = export_cols_policies;
		return EXPORT_NCOLS(export_cols_policies);
	case EXPORT_REPORTS:
		*names = export_cols_reports;
		return EXPORT_NCOLS(export_cols_reports);
	case EXPORT_KINDS:
		break;
	}
	*names = NULL;
	return 0;
}

static int
export_fail(sqlite3 *db, int rc, const char *what)
{
	char q[240];

	log_warn("export-read-failed", "query=%s error=%s", what,
	    log_q(q, sizeof(q), sqlite3_errmsg(db), (size_t)-1));
	return store_sqlite_rc(rc);
}

/* Binds text to the named parameter when the statement has it (NULL binds NULL). */
static int
export_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i == 0)
		return SQLITE_OK;
	if (v == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static int
export_bind_i64(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	return i == 0 ? SQLITE_OK : sqlite3_bind_int64(st, i, v);
}

static int
export_bind_filter(sqlite3_stmt *st, const struct export_filter *f)
{
	int i, rc = SQLITE_OK;

	if (rc == SQLITE_OK)
		rc = export_bind_text(st, ":domain", f->domain);
	if (rc == SQLITE_OK)
		rc = export_bind_text(st, ":reporter", f->reporter);
	if (rc == SQLITE_OK)
		rc = export_bind_i64(st, ":from", f->from);
	if (rc == SQLITE_OK)
		rc = export_bind_i64(st, ":to", f->to);
	if (rc == SQLITE_OK)
		rc = export_bind_text(st, ":rt", f->result_type);
	if (rc == SQLITE_OK)
		rc = export_bind_text(st, ":scope", f->scope_json);
	if (rc == SQLITE_OK && (i = sqlite3_bind_parameter_index(st, ":hf")) != 0)
		rc = f->has_failures < 0 ? sqlite3_bind_null(st, i) :
		    sqlite3_bind_int(st, i, f->has_failures != 0);
	return rc;
}

int
export_rows_open(struct store *s, enum export_kind k, const struct export_filter *f,
    struct export_rows **out)
{
	struct export_rows *x;
	const char *const *names;
	int rc;

	*out = NULL;
	if (s == NULL || f == NULL || export_kind_name(k) == NULL)
		return STORE_ERR;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return STORE_ERR;
	x->s = s;
	x->kind = k;
	x->ncols = export_columns(k, &names);
	x->db = store_reader_db(s, &x->rd);
	rc = sqlite3_prepare_v3(x->db, export_sql[k], -1, 0, &x->st, NULL);
	if (rc == SQLITE_OK)
		rc = export_bind_filter(x->st, f);
	if (rc != SQLITE_OK) {
		rc = export_fail(x->db, rc, export_names[k]);
		export_rows_close(x);
		return rc;
	}
	if (sqlite3_column_count(x->st) != x->ncols) {
		log_error("export-columns", "kind=%s columns=%d expected=%d", export_names[k],
		    sqlite3_column_count(x->st), x->ncols);
		export_rows_close(x);
		return STORE_ERR;
	}
	*out = x;
	return 0;
}

enum export_kind
export_rows_kind(const struct export_rows *x)
{
	return x->kind;
}

int
export_rows_next(struct export_rows *x)
{
	int rc = sqlite3_step(x->st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return export_fail(x->db, rc, export_names[x->kind]);
}

const char *
export_rows_cell(struct export_rows *x, int col, size_t *len)
{
	const char *t = NULL;

	if (col >= 0 && col < x->ncols && sqlite3_column_type(x->st, col) != SQLITE_NULL)
		t = (const char *)sqlite3_column_text(x->st, col);
	if (len != NULL)
		*len = t != NULL ? (size_t)sqlite3_column_bytes(x->st, col) : 0;
	return t;
}

void
export_rows_close(struct export_rows *x)
{
	if (x == NULL)
		return;
	sqlite3_finalize(x->st);
	if (x->rd != NULL)
		store_reader_done(x->s, x->rd);
	free(x);
}

/* ---- /metrics figures ---- */

/* Prepares sql on db; SQLite code. */
static int
export_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, 0, st, NULL);
}

int
export_stats_read(struct store *s, const char *scope_json, int max_domains, int max_failures,
    int (*on_domain)(void *arg, const struct export_domain_stat *d),
    int (*on_failure)(void *arg, const struct export_failure_stat *f), void *arg,
    struct export_stats *out)
{
	struct store_reader *rd;
	sqlite3_stmt *st = NULL;
	json_t *shown = NULL;
	char *shown_json = NULL;
	const char *what = "begin";
	sqlite3 *db;
	int rc, ret = STORE_ERR;

	memset(out, 0, sizeof(*out));
	if (s == NULL || max_domains < 0 || max_failures < 0)
		return STORE_ERR;
	if ((shown = json_array()) == NULL)
		return STORE_ERR;
	db = store_reader_db(s, &rd);
	/* One read transaction: every figure from the same snapshot. */
	if ((rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;

	what = "quarantine";
	if ((rc = export_prepare(db, export_sql_quarantine, &st)) != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto fail;
	out->quarantine_rows = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;

	what = "domains";
	if ((rc = export_prepare(db, export_sql_domains, &st)) != SQLITE_OK ||
	    (rc = export_bind_text(st, ":scope", scope_json)) != SQLITE_OK ||
	    (rc = export_bind_i64(st, ":limit", max_domains)) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct export_domain_stat d = {
			.domain = (const char *)sqlite3_column_text(st, 0),
			.successful = sqlite3_column_int64(st, 1),
			.failed = sqlite3_column_int64(st, 2),
			.last_received = sqlite3_column_int64(st, 3),
		};

		out->domains = sqlite3_column_int64(st, 4);
		if (d.domain == NULL)
			continue;
		if (json_array_append_new(shown, json_string(d.domain)) != 0) {
			ret = STORE_ERR;
			goto out;
		}
		out->domains_shown++;
		if (on_domain != NULL && on_domain(arg, &d) != 0) {
			ret = STORE_ERR;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;

	what = "failures by result type";
	if ((shown_json = json_dumps(shown, JSON_COMPACT)) == NULL) {
		ret = STORE_ERR;
		goto out;
	}
	if ((rc = export_prepare(db, export_sql_failures, &st)) != SQLITE_OK ||
	    (rc = export_bind_text(st, ":domains", shown_json)) != SQLITE_OK ||
	    (rc = export_bind_i64(st, ":limit", max_failures)) != SQLITE_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct export_failure_stat f = {
			.domain = (const char *)sqlite3_column_text(st, 0),
			.result_type = (const char *)sqlite3_column_text(st, 1),
			.sessions = sqlite3_column_int64(st, 2),
		};

		if (f.domain == NULL || f.result_type == NULL)
			continue;
		out->failures_shown++;
		if (on_failure != NULL && on_failure(arg, &f) != 0) {
			ret = STORE_ERR;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		goto fail;
	ret = 0;
	goto out;
fail:
	ret = export_fail(db, rc, what);
out:
	sqlite3_finalize(st);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	store_reader_done(s, rd);
	free(shown_json);
	json_decref(shown);
	return ret;
}
