#include "ingest/pipeline.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "collector/log.h"
#include "ingest/gz.h"
#include "ingest/norm.h"
#include "ingest/stats.h"
#include "storage/query.h"

/* Decoded bytes kept for a job that was refused as too large: none (the raw body is kept). */
#define PIPELINE_RATIO_FLOOR (1024 * 1024) /* gzip ratio is checked past 1 MiB of output */
#define PIPELINE_REQUEUE_MAX (64u * 1024 * 1024) /* a quarantined body read back to requeue */
#define PIPELINE_ALIGN_MAX 2    /* domains a signature may align with: contact-info, submitter */

struct pipeline {
	struct store *store;
	struct pipeline_options opt;
};

struct pipeline_job {
	struct pipeline *p;
	struct envelope env;
	struct pipeline_result result;
	struct buf part;          /* the report part of a message, decoded (maybe gzip) */
	struct buf json;          /* gunzipped JSON, when the report was gzip */
	struct buf raw_gz;        /* what we keep: the report as gzip, or the whole body */
	const unsigned char *report_bytes; /* the report as delivered (gzip or JSON) */
	size_t report_len;
	const char *json_bytes;   /* the JSON we parsed */
	size_t json_len;
	unsigned gzip_members;
	struct rpt *rpt;
	struct mime_info *mime;
	unsigned char sha256[32];
	struct dkim_verdict *dkim; /* NULL when not checked */
	int dkim_temp;            /* REQUIRE and temperror: the store call answers TEMPORARY */
	char *meta;
	char *detail;
	struct store_report srep;
	struct store_quarantine squar;
	struct store_req req;
	pipeline_done_fn done;
	void *done_arg;
};

struct pipeline *
pipeline_new(struct store *store, const struct pipeline_options *opt)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->store = store;
	p->opt = *opt;
	return p;
}

void
pipeline_free(struct pipeline *p)
{
	free(p);
}

json_t *
pipeline_normalise(const struct pipeline *p, const void *raw_gz, size_t len, char *err,
    size_t errlen)
{
	struct gz_limits lim = {
		.max_out = p->opt.max_report_size,
		.max_ratio = p->opt.max_gzip_ratio,
		.ratio_floor = PIPELINE_RATIO_FLOOR,
	};
	struct buf json;
	struct rpt *r = NULL;
	struct rpt_error e;
	unsigned members;
	json_t *out = NULL;

	buf_init(&json, p->opt.max_report_size);
	if (gz_inflate(raw_gz, len, &lim, &json, &members, err, errlen) != GZ_OK)
		goto done;
	if (rpt_parse(json.data ? json.data : "", json.len, &r, &e) != 0) {
		snprintf(err, errlen, "%s: %s", e.code, e.reason);
		goto done;
	}
	if ((out = rpt_to_json(r)) == NULL)
		snprintf(err, errlen, "out of memory");
done:
	rpt_free(r);
	buf_free(&json);
	return out;
}

int
pipeline_raw_json(const struct pipeline *p, const void *gz, size_t len, struct buf *out,
    char *err, size_t errlen)
{
	struct gz_limits lim = {
		.max_out = p->opt.max_report_size,
		.max_ratio = p->opt.max_gzip_ratio,
		.ratio_floor = PIPELINE_RATIO_FLOOR,
	};
	unsigned members;

	return gz_inflate(gz, len, &lim, out, &members, err, errlen) == GZ_OK ? 0 : -1;
}

const char *
pipeline_verdict_name(enum pipeline_verdict v)
{
	switch (v) {
	case PIPELINE_PENDING: return "pending";
	case PIPELINE_ACCEPTED: return "accepted";
	case PIPELINE_DUPLICATE: return "duplicate";
	case PIPELINE_CONFLICT: return "conflict";
	case PIPELINE_QUARANTINED: return "quarantined";
	case PIPELINE_TEMPORARY: return "temporary";
	}
	return "unknown";
}

const char *
pipeline_format_name(enum pipeline_format f)
{
	switch (f) {
	case PIPELINE_FMT_JSON: return "json";
	case PIPELINE_FMT_GZIP: return "gzip";
	case PIPELINE_FMT_MAIL: return "mail";
	case PIPELINE_FMT_UNKNOWN: break;
	}
	return "unknown";
}

/* Marks the job refused: it will go to quarantine with this reason. */
static void
job_reject(struct pipeline_job *job, enum pipeline_reject why, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
job_reject(struct pipeline_job *job, enum pipeline_reject why, const char *code, const char *fmt, ...)
{
	va_list ap;

	job->result.reject = why;
	memset(&job->result.error, 0, sizeof(job->result.error));
	job->result.error.position = -1;
	snprintf(job->result.error.code, sizeof(job->result.error.code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(job->result.error.reason, sizeof(job->result.error.reason), fmt, ap);
	va_end(ap);
}

static const unsigned char *
skip_blank(const unsigned char *p, size_t len, size_t *left)
{
	size_t i = 0;

	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3; /* UTF-8 BOM: the parser lints it */
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	*left = len - i;
	return p + i;
}

static int
looks_like_json(const void *body, size_t len)
{
	size_t left;
	const unsigned char *p = skip_blank(body, len, &left);

	return left > 0 && (*p == '{' || *p == '[');
}

/* Gunzips src into job->json; on failure rejects the job. 0 or -1. */
static int
job_gunzip(struct pipeline_job *job, const void *src, size_t len)
{
	struct gz_limits lim = {
		.max_out = job->p->opt.max_report_size,
		.max_ratio = job->p->opt.max_gzip_ratio,
		.ratio_floor = PIPELINE_RATIO_FLOOR,
	};
	char err[200];
	int rc;

	buf_init(&job->json, job->p->opt.max_report_size);
	rc = gz_inflate(src, len, &lim, &job->json, &job->gzip_members, err, sizeof(err));
	switch (rc) {
	case GZ_OK:
		job->json_bytes = job->json.data ? job->json.data : "";
		job->json_len = job->json.len;
		return 0;
	case GZ_ERR_TOO_BIG:
	case GZ_ERR_RATIO:
		job_reject(job, PIPELINE_REJECT_TOO_LARGE, rc == GZ_ERR_RATIO ? "gzip-ratio" : "too-large",
		    "decompressed report too large: %s", err);
		return -1;
	case GZ_ERR_TRUNCATED:
		job_reject(job, PIPELINE_REJECT_INVALID, "gzip-truncated", "gzip: %s", err);
		return -1;
	case GZ_ERR_TRAILING:
		job_reject(job, PIPELINE_REJECT_INVALID, "gzip-trailing", "gzip: %s", err);
		return -1;
	case GZ_ERR_NOMEM:
		job_reject(job, PIPELINE_REJECT_TOO_LARGE, "out-of-memory", "out of memory while decompressing");
		return -1;
	default:
		job_reject(job, PIPELINE_REJECT_INVALID, "gzip-corrupt", "gzip: %s", err);
		return -1;
	}
}

/* Finds the report bytes (gzip or JSON) in the envelope; sets format. 0 or -1 (rejected). */
static int
job_locate(struct pipeline_job *job)
{
	const struct envelope *env = &job->env;
	char err[200];

	if (env->len == 0) {
		job_reject(job, PIPELINE_REJECT_INVALID, "empty-body", "empty body: no report");
		return -1;
	}
	if (gz_is_gzip(env->body, env->len)) {
		job->result.format = PIPELINE_FMT_GZIP;
		job->report_bytes = env->body;
		job->report_len = env->len;
		return 0;
	}
	if (looks_like_json(env->body, env->len)) {
		job->result.format = PIPELINE_FMT_JSON;
		job->report_bytes = env->body;
		job->report_len = env->len;
		return 0;
	}
	if (env->allow_mail && mime_looks_like_message(env->body, env->len)) {
		job->result.format = PIPELINE_FMT_MAIL;
		job->mime = calloc(1, sizeof(*job->mime));
		if (job->mime == NULL) {
			job_reject(job, PIPELINE_REJECT_TOO_LARGE, "out-of-memory", "out of memory");
			return -1;
		}
		buf_init(&job->part, job->p->opt.max_report_size);
		if (mime_find_report(env->body, env->len, &job->part, job->mime, err, sizeof(err)) != 0) {
			if (job->part.err == BUF_ERR_CAP)
				job_reject(job, PIPELINE_REJECT_TOO_LARGE, "too-large",
				    "report part larger than %zu bytes", job->p->opt.max_report_size);
			else
				job_reject(job, PIPELINE_REJECT_INVALID, "no-report-part", "%s", err);
			return -1;
		}
		job->report_bytes = (const unsigned char *)(job->part.data ? job->part.data : "");
		job->report_len = job->part.len;
		return 0;
	}
	job_reject(job, PIPELINE_REJECT_MEDIA, "unsupported-media",
	    env->allow_mail ? "body is neither JSON, gzip nor an email message" :
	    "body is neither JSON nor gzip");
	return -1;
}

/* 1 when d is a domain name in normal form (the parser keeps other text as given, linted). */
static int
domain_valid(const char *d)
{
	char out[NORM_DOMAIN_MAX];
	int changed = 0;

	return norm_domain(d, strlen(d), out, &changed) == 0 && !changed;
}

static int
domain_served(const struct pipeline_options *opt, const char *domain)
{
	size_t dl = strlen(domain);

	if (opt->n_allowed == 0)
		return 1;
	for (size_t i = 0; i < opt->n_allowed; i++) {
		const char *a = opt->allowed_domains[i];
		size_t al = strlen(a);

		/* The domain itself or a subdomain of it. */
		if (dl == al && memcmp(domain, a, al) == 0)
			return 1;
		if (dl > al && domain[dl - al - 1] == '.' && memcmp(domain + dl - al, a, al) == 0)
			return 1;
	}
	return 0;
}

/*
 * Marks which policies are counted. A report none of whose policy domains is served is
 * refused; a report naming no domain at all is judged by the message's TLS-Report-Domain
 * when there is one, else accepted (nothing in it says it is not ours).
 */
static int
job_check_domains(struct pipeline_job *job)
{
	const struct pipeline_options *opt = &job->p->opt;
	struct rpt *r = job->rpt;
	size_t named = 0, served = 0;
	const char *first = NULL;

	for (size_t i = 0; i < r->n_policies; i++) {
		struct rpt_policy *pol = &r->policies[i];

		pol->counted = 0;
		if (pol->domain == NULL || pol->domain[0] == '\0')
			continue;
		named++;
		if (first == NULL)
			first = pol->domain;
		if (domain_valid(pol->domain) && domain_served(opt, pol->domain)) {
			pol->counted = 1;
			served++;
		} else {
			char path[64];

			snprintf(path, sizeof(path), "policies[%zu].policy.policy-domain", i);
			rpt_add_lint(r, path, "domain-not-served", "%s is not a domain this collector "
			    "serves%s: not counted", pol->domain, domain_valid(pol->domain) ? "" :
			    " (not a domain name)");
		}
	}
	if (named > 0 && served == 0) {
		job_reject(job, PIPELINE_REJECT_NOT_SERVED, "domain-not-served",
		    "report is about %s, which this collector does not serve", first);
		return -1;
	}
	if (named == 0 && opt->n_allowed > 0 && job->mime != NULL && job->mime->tls_report_domain[0]) {
		char d[NORM_DOMAIN_MAX];
		const char *hd = job->mime->tls_report_domain;

		if (norm_domain(hd, strlen(hd), d, NULL) != 0 || !domain_served(opt, d)) {
			job_reject(job, PIPELINE_REJECT_NOT_SERVED, "domain-not-served",
			    "report names no policy domain and its TLS-Report-Domain %s is not served", hd);
			return -1;
		}
	}
	return 0;
}

/*
 * Checks the DKIM signatures of a mail job (dkim.h): the domains a signature may align with
 * are those of the report's contact-info and of the TLS-Report-Submitter header. A body that
 * arrived as mail but is no whole message (a bare report in SMTP DATA) is unsigned. A pass
 * only counts when the verifier and the MIME reader agree on where the header section ends:
 * a message readable two ways could show one report to the signature and another to the
 * parser. 0 to go on, or -1 when the job was rejected (REQUIRE without a pass). A temperror
 * under REQUIRE sets dkim_temp instead: the sender should try again later.
 */
static int
job_check_dkim(struct pipeline_job *job)
{
	const struct pipeline_options *opt = &job->p->opt;
	char dom[PIPELINE_ALIGN_MAX][NORM_DOMAIN_MAX];
	const char *align[PIPELINE_ALIGN_MAX];
	size_t n = 0;
	struct dkim_verdict *v;

	if (opt->dkim == PIPELINE_DKIM_OFF)
		return 0;
	if (job->result.format != PIPELINE_FMT_MAIL && !job->env.mail)
		return 0;
	if ((v = job->dkim = calloc(1, sizeof(*v))) == NULL) {
		job_reject(job, PIPELINE_REJECT_TOO_LARGE, "out-of-memory", "out of memory");
		return -1;
	}
	if (job->result.format != PIPELINE_FMT_MAIL) {
		v->status = DKIM_NONE;
		v->best = -1;
		snprintf(v->reason, sizeof(v->reason), "dkim: no signature (the mail holds a bare "
		    "report, not a message)");
	} else {
		if (job->rpt->contact_info != NULL && norm_domain_of(job->rpt->contact_info, dom[n]) == 0)
			align[n] = dom[n], n++;
		if (job->mime->tls_report_submitter[0] != '\0' &&
		    norm_domain_of(job->mime->tls_report_submitter, dom[n]) == 0)
			align[n] = dom[n], n++;
		dkim_verify(job->env.body, job->env.len, align, n,
		    job->env.dkim_time ? job->env.dkim_time : job->env.received_at,
		    opt->dkim_keys, opt->dkim_keys_arg, v);
		if (v->status == DKIM_PASS && (job->mime->body_offset < 0 ||
		    (unsigned long long)job->mime->body_offset != (unsigned long long)v->body_offset)) {
			v->status = DKIM_FAIL;
			snprintf(v->reason, sizeof(v->reason), "dkim: the header section reads two ways "
			    "(body at byte %zu for the signature, %lld for the MIME reader)",
			    v->body_offset, job->mime->body_offset);
		}
	}
	stats_dkim_count(v->status);
	if (opt->dkim != PIPELINE_DKIM_REQUIRE || job->env.release || v->status == DKIM_PASS)
		return 0;
	if (v->status == DKIM_TEMPERROR) {
		job->dkim_temp = 1;
		return 0;
	}
	job_reject(job, PIPELINE_REJECT_DKIM, v->status == DKIM_NONE ? "dkim-none" : "dkim-fail",
	    "%s", v->reason);
	return -1;
}

/* The DKIM verdict as the copy's meta records it. */
static json_t *
dkim_meta(const struct pipeline_job *job)
{
	const struct dkim_verdict *v = job->dkim;
	json_t *o = json_object();

	json_object_set_new(o, "result", json_string(dkim_status_name(v->status)));
	if (v->best >= 0 && (size_t)v->best < v->n_sigs) {
		const struct dkim_sig *g = &v->sig[v->best];

		json_object_set_new(o, "domain", json_string(g->domain));
		json_object_set_new(o, "selector", json_string(g->selector));
		json_object_set_new(o, "algorithm", json_string(g->algorithm));
		if (g->key_testing)
			json_object_set_new(o, "key_testing", json_true());
	}
	if (v->reason[0] != '\0')
		json_object_set_new(o, "reason", json_string(v->reason));
	json_object_set_new(o, "signatures", json_integer((json_int_t)(v->n_sigs + v->n_ignored)));
	json_object_set_new(o, "policy", json_string(job->p->opt.dkim == PIPELINE_DKIM_REQUIRE ?
	    "require" : "record"));
	if (job->env.release)
		json_object_set_new(o, "released", json_true());
	return o;
}

/* Adds the MIME facts and gzip member count to the transport's meta object. */
static char *
job_meta(struct pipeline_job *job)
{
	json_t *m = NULL;
	char *out;

	if (job->env.meta_json != NULL)
		m = json_loads(job->env.meta_json, 0, NULL);
	if (m == NULL || !json_is_object(m)) {
		json_decref(m);
		m = json_object();
	}
	json_object_set_new(m, "format", json_string(pipeline_format_name(job->result.format)));
	if (job->gzip_members > 1)
		json_object_set_new(m, "gzip_members", json_integer(job->gzip_members));
	if (job->mime != NULL) {
		const struct mime_info *mi = job->mime;
		json_t *o = json_object();

		json_object_set_new(o, "tls_report_domain", json_string(mi->tls_report_domain));
		json_object_set_new(o, "tls_report_submitter", json_string(mi->tls_report_submitter));
		json_object_set_new(o, "subject_report_id", json_string(mi->subject_report_id));
		json_object_set_new(o, "message_id", json_string(mi->message_id));
		json_object_set_new(o, "from", json_string(mi->from));
		json_object_set_new(o, "part_type", json_string(mi->part_type));
		json_object_set_new(o, "part_filename", json_string(mi->part_filename));
		json_object_set_new(m, "mail", o);
	}
	if (job->dkim != NULL)
		json_object_set_new(m, "dkim", dkim_meta(job));
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return out;
}

static int
sha256(const void *p, size_t len, unsigned char out[32])
{
	unsigned int n = 32;

	return EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* Prepares the store request for a report. 0, or -1 (OOM: job rejected). */
static int
job_prepare_report(struct pipeline_job *job)
{
	if (sha256(job->json_bytes, job->json_len, job->sha256) != 0)
		goto oom;
	if (job->result.format == PIPELINE_FMT_JSON ||
	    (job->result.format == PIPELINE_FMT_MAIL && !gz_is_gzip(job->report_bytes, job->report_len))) {
		buf_init(&job->raw_gz, job->report_len + job->report_len / 2 + 1024);
		if (gz_deflate(job->json_bytes, job->json_len, &job->raw_gz) != 0)
			goto oom;
		job->srep.raw_gz = job->raw_gz.data;
		job->srep.raw_gz_len = job->raw_gz.len;
	} else {
		/* Keep the gzip exactly as it came. */
		job->srep.raw_gz = job->report_bytes;
		job->srep.raw_gz_len = job->report_len;
	}
	job->srep.rpt = job->rpt;
	job->srep.sha256 = job->sha256;
	job->srep.json_len = job->json_len;
	job->req.report = &job->srep;
	return 0;
oom:
	job_reject(job, PIPELINE_REJECT_TOO_LARGE, "out-of-memory", "out of memory while preparing the report");
	return -1;
}

/* Prepares the store request for a quarantine row: the whole body, compressed. */
static int
job_prepare_quarantine(struct pipeline_job *job)
{
	const struct rpt_error *e = &job->result.error;
	json_t *d;

	rpt_free(job->rpt);
	job->rpt = NULL;
	if (sha256(job->env.body, job->env.len, job->sha256) != 0)
		return -1;
	buf_free(&job->raw_gz);
	buf_init(&job->raw_gz, job->env.len + job->env.len / 2 + 1024);
	if (gz_deflate(job->env.body, job->env.len, &job->raw_gz) != 0)
		return -1;
	d = json_pack("{s:s, s:s, s:s}", "code", e->code, "path", e->path,
	    "format", pipeline_format_name(job->result.format));
	if (d == NULL)
		return -1;
	if (e->line > 0) {
		json_object_set_new(d, "line", json_integer(e->line));
		json_object_set_new(d, "column", json_integer(e->column));
	}
	if (e->position >= 0)
		json_object_set_new(d, "position", json_integer(e->position));
	job->detail = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	if (job->detail == NULL)
		return -1;
	job->squar.sha256 = job->sha256;
	job->squar.raw_gz = job->raw_gz.data;
	job->squar.raw_gz_len = job->raw_gz.len;
	job->squar.raw_len = job->env.len;
	job->squar.reason_code = e->code;
	job->squar.reason = e->reason;
	job->squar.detail_json = job->detail;
	job->req.quarantine = &job->squar;
	return 0;
}

struct pipeline_job *
pipeline_job_new(struct pipeline *p, const struct envelope *env)
{
	struct pipeline_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->p = p;
	job->env = *env;
	job->result.error.position = -1;
	buf_init(&job->part, 0);
	buf_init(&job->json, 0);
	buf_init(&job->raw_gz, 0);

	if (job_locate(job) != 0)
		goto rejected;
	if (gz_is_gzip(job->report_bytes, job->report_len)) {
		if (job->result.format != PIPELINE_FMT_MAIL)
			job->result.format = PIPELINE_FMT_GZIP;
		if (job_gunzip(job, job->report_bytes, job->report_len) != 0)
			goto rejected;
	} else {
		if (job->report_len > p->opt.max_report_size) {
			job_reject(job, PIPELINE_REJECT_TOO_LARGE, "too-large",
			    "report of %zu bytes is larger than the %zu-byte limit",
			    job->report_len, p->opt.max_report_size);
			goto rejected;
		}
		job->json_bytes = (const char *)job->report_bytes;
		job->json_len = job->report_len;
	}
	if (rpt_parse(job->json_bytes, job->json_len, &job->rpt, &job->result.error) != 0) {
		job->result.reject = PIPELINE_REJECT_INVALID;
		goto rejected;
	}
	if (job->gzip_members > 1)
		rpt_add_lint(job->rpt, "", "gzip-members",
		    "the gzip body held %u members; they were decoded as one stream", job->gzip_members);
	if (job_check_domains(job) != 0)
		goto rejected;
	if (job_check_dkim(job) != 0)
		goto rejected;
	if (job_prepare_report(job) != 0)
		goto rejected;
	job->meta = job_meta(job);
	job->result.verdict = PIPELINE_PENDING;
	return job;

rejected:
	job->meta = job_meta(job);
	if (job_prepare_quarantine(job) != 0) {
		/* Out of memory: nothing can be kept; the store call will answer temporary. */
		job->req.quarantine = NULL;
		job->req.report = NULL;
	}
	job->result.verdict = PIPELINE_PENDING;
	return job;
}

const struct rpt *
pipeline_job_report(const struct pipeline_job *job)
{
	return job->result.reject == PIPELINE_REJECT_NONE ? job->rpt : NULL;
}

const struct pipeline_result *
pipeline_job_result(const struct pipeline_job *job)
{
	return &job->result;
}

const struct dkim_verdict *
pipeline_job_dkim(const struct pipeline_job *job)
{
	return job->dkim;
}

const struct mime_info *
pipeline_job_mime(const struct pipeline_job *job)
{
	return job->mime;
}

/* Maps the store's answer to the job's verdict. */
static void
job_apply(struct pipeline_job *job, const struct store_result *sr)
{
	struct pipeline_result *r = &job->result;

	r->report_id = sr->report_id;
	r->conflict_of = sr->conflict_of;
	r->quarantine_id = sr->quarantine_id;
	switch (sr->rc) {
	case STORE_NEW:
		r->verdict = PIPELINE_ACCEPTED;
		break;
	case STORE_DUP:
		r->verdict = PIPELINE_DUPLICATE;
		break;
	case STORE_CONFLICT:
		r->verdict = PIPELINE_CONFLICT;
		break;
	case STORE_QUARANTINED:
		r->verdict = PIPELINE_QUARANTINED;
		break;
	default:
		/* STORE_ERR too: the sender keeps the report and retries; we log it loudly. */
		r->verdict = PIPELINE_TEMPORARY;
		snprintf(r->temp_reason, sizeof(r->temp_reason), "%s",
		    sr->error[0] ? sr->error : "storage unavailable");
		break;
	}
	stats_ingest_count(job->env.transport, r->verdict);
}

static void
job_store_done(void *arg, const struct store_result *sr)
{
	struct pipeline_job *job = arg;

	job_apply(job, sr);
	job->done(job->done_arg, job);
}

static int
job_fill_req(struct pipeline_job *job)
{
	if (job->dkim_temp) {
		job->result.verdict = PIPELINE_TEMPORARY;
		job->result.temp_dkim = 1;
		snprintf(job->result.temp_reason, sizeof(job->result.temp_reason), "%s",
		    job->dkim->reason);
		return -1;
	}
	if (job->p->store == NULL || (job->req.report == NULL && job->req.quarantine == NULL)) {
		job->result.verdict = PIPELINE_TEMPORARY;
		snprintf(job->result.temp_reason, sizeof(job->result.temp_reason), "%s",
		    job->p->store == NULL ? "no storage" : "out of memory");
		return -1;
	}
	job->req.copy.transport = job->env.transport;
	job->req.copy.peer = job->env.peer;
	job->req.copy.received_at = job->env.received_at;
	job->req.copy.meta_json = job->meta;
	return 0;
}

int
pipeline_job_store(struct pipeline_job *job, pipeline_done_fn done, void *arg)
{
	if (job_fill_req(job) != 0)
		return -1;
	job->done = done;
	job->done_arg = arg;
	job->req.done = job_store_done;
	job->req.arg = job;
	if (store_submit(job->p->store, &job->req) != 0) {
		job_apply(job, &job->req.result);
		return -1;
	}
	return 0;
}

enum pipeline_verdict
pipeline_job_store_wait(struct pipeline_job *job)
{
	if (job_fill_req(job) != 0)
		return job->result.verdict;
	job->req.done = NULL;
	store_submit_wait(job->p->store, &job->req);
	job_apply(job, &job->req.result);
	return job->result.verdict;
}

void
pipeline_job_free(struct pipeline_job *job)
{
	if (job == NULL)
		return;
	rpt_free(job->rpt);
	buf_free(&job->part);
	buf_free(&job->json);
	buf_free(&job->raw_gz);
	free(job->mime);
	free(job->meta);
	free(job->dkim);
	free(job->detail);
	free(job);
}

int
pipeline_quarantine_body(const struct pipeline *p, int64_t id, struct buf *body,
    char status[16], char transport[32], int64_t *first_seen, int *unreadable, char *err,
    size_t errlen)
{
	struct buf gz;
	int rc;

	if (unreadable != NULL)
		*unreadable = 0;
	buf_init(&gz, PIPELINE_REQUEUE_MAX);
	rc = query_quarantine_raw(p->store, id, &gz, status, transport, first_seen);
	if (rc != 0) {
		snprintf(err, errlen, "%s", rc == STORE_NOTFOUND ? "no such quarantine row" :
		    rc == STORE_TEMP ? "storage unavailable" : "cannot read the quarantine row");
	} else if (pipeline_raw_json(p, gz.data, gz.len, body, err, errlen) != 0) {
		rc = STORE_ERR;
		if (unreadable != NULL)
			*unreadable = 1;
	}
	buf_free(&gz);
	return rc;
}

int
pipeline_requeue(struct pipeline *p, int64_t id, int release, struct pipeline_job **job_out,
    int *mark_rc, char status[16], char *err, size_t errlen)
{
	struct pipeline_job *job;
	struct buf body;
	char transport[32], peer[48], meta[96];
	enum pipeline_verdict v;
	int64_t first_seen = 0;
	int rc;

	*job_out = NULL;
	*mark_rc = STORE_NOTFOUND;
	buf_init(&body, PIPELINE_REQUEUE_MAX);
	rc = pipeline_quarantine_body(p, id, &body, status, transport, &first_seen, NULL, err,
	    errlen);
	if (rc != 0)
		goto done;
	snprintf(peer, sizeof(peer), "quarantine/%" PRId64, id);
	snprintf(meta, sizeof(meta), "{\"quarantine\":%" PRId64 "}", id);
	{
		struct envelope env = {
			.transport = release ? "release" : "reprocess",
			.peer = peer,
			.received_at = (int64_t)time(NULL),
			.body = body.data != NULL ? body.data : "",
			.len = body.len,
			.allow_mail = strcmp(transport, "http") != 0,
			.meta_json = meta,
			.release = release,
			.mail = strcmp(transport, "http") != 0 && strcmp(transport, "file") != 0 &&
			    strcmp(transport, "stdin") != 0,
			.dkim_time = first_seen,  /* x= and t= as when it first arrived */
		};

		if ((job = pipeline_job_new(p, &env)) == NULL) {
			snprintf(err, errlen, "out of memory");
			rc = STORE_TEMP;
			goto done;
		}
	}
	v = pipeline_job_store_wait(job);
	if (v == PIPELINE_ACCEPTED || v == PIPELINE_DUPLICATE || v == PIPELINE_CONFLICT)
		*mark_rc = query_quarantine_mark(p->store, id, job->result.report_id);
	if (*mark_rc == 0)
		snprintf(status, 16, "reprocessed");
	log_info("quarantine_requeue", "quarantine=%" PRId64 " release=%d verdict=%s report=%"
	    PRId64 " mark=%d", id, release, pipeline_verdict_name(v), job->result.report_id,
	    *mark_rc);
	/* The envelope's body is about to go: the job keeps only its result from here on. */
	job->env.body = NULL;
	job->env.len = 0;
	*job_out = job;
	rc = 0;
done:
	buf_free(&body);
	return rc;
}
