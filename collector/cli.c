#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "collector/buf.h"
#include "collector/cmd.h"
#include "collector/log.h"
#include "ingest/dkim_keys.h"
#include "ingest/pipeline.h"
#include "storage/store.h"

void
cmd_usage(FILE *out)
{
	fprintf(out,
	    "usage: tlsrptd COMMAND [options]\n"
	    "\n"
	    "commands:\n"
	    "  serve [-c FILE] [--db PATH] [--http ADDR:PORT]   run the collector\n"
	    "  ingest [-c FILE] FILE...|-                        store reports from files or stdin\n"
	    "  check [--json] FILE...                            parse and show reports, store nothing\n"
	    "  config --check [-c FILE]                          print the effective configuration\n"
	    "  import [-c FILE] maildir DIR | mbox FILE|-        store the reports in a mailbox\n"
	    "  token create|list|revoke ...                      manage API tokens (see token --help)\n"
	    "  export failures|policies|reports [-o FILE] ...    write a CSV export\n"
	    "  quarantine list|show|reprocess|release|delete     what was kept and not counted\n"
	    "\n"
	    "every command takes --help, --version and any config key as --key-name VALUE.\n");
}

static void
usage_for(const char *cmd, FILE *out)
{
	if (strcmp(cmd, "serve") == 0)
		fprintf(out, "usage: tlsrptd serve [-c FILE] [--db PATH] [--http ADDR:PORT] [--key-name VALUE]...\n");
	else if (strcmp(cmd, "ingest") == 0)
		fprintf(out, "usage: tlsrptd ingest [-c FILE] [--key-name VALUE]... FILE...|-\n"
		    "exit: 0 stored or duplicate, 65 some input unusable (quarantined), 66 unreadable,\n"
		    "      75 storage unavailable (try again later)\n");
	else if (strcmp(cmd, "check") == 0)
		fprintf(out, "usage: tlsrptd check [--json] [-c FILE] FILE...|-\n"
		    "exit: 0 every file holds a report, 65 some file was rejected, 66 unreadable\n");
	else if (strcmp(cmd, "import") == 0)
		fprintf(out, "usage: tlsrptd import [-c FILE] [--key-name VALUE]... maildir DIR | mbox FILE|-\n"
		    "exit: 0 stored or duplicate, 65 something quarantined or too large, 66 unreadable,\n"
		    "      75 stopped early (storage unavailable or interrupted)\n");
	else
		fprintf(out, "usage: tlsrptd config --check [-c FILE] [--key-name VALUE]...\n");
	fprintf(out, "\noptions:\n  -c, --config FILE        config file of 'key value' lines\n"
	    "  --db PATH                same as --db-path\n  --http ADDR:PORT         same as --http-listen\n"
	    "  -h, --help               this help\n  -V, --version            the version\n");
	if (strcmp(cmd, "check") == 0)
		fprintf(out, "  --json                   one JSON object per file on stdout\n");
	fprintf(out, "\nconfig keys (file syntax: 'key_name value'):\n");
	cfg_print_help(out);
}

int
cli_parse(const char *cmd, int argc, char **argv, struct config *cfg, struct cli_args *args,
    int takes_files)
{
	char err[512];

	memset(args, 0, sizeof(*args));
	if (cfg_init(cfg) != 0) {
		fprintf(stderr, "tlsrptd: out of memory\n");
		return EX_OSERR;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		char key[64];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_for(cmd, stdout);
			exit(0);
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("tlsrptd %s\n", TLSRPTD_VERSION);
			exit(0);
		}
		if (strcmp(a, "--json") == 0 && strcmp(cmd, "check") == 0) {
			args->json = 1;
			continue;
		}
		if (strcmp(a, "--check") == 0 && strcmp(cmd, "config") == 0) {
			args->check = 1;
			continue;
		}
		if ((a[0] != '-' || strcmp(a, "-") == 0) && takes_files) {
			if (args->n_files >= CLI_FILES_MAX) {
				fprintf(stderr, "tlsrptd %s: more than %d files\n", cmd, CLI_FILES_MAX);
				return EX_USAGE;
			}
			args->files[args->n_files++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0 && takes_files) {
			for (i++; i < argc && args->n_files < CLI_FILES_MAX; i++)
				args->files[args->n_files++] = argv[i];
			break;
		}
		if (strncmp(a, "--", 2) != 0 && strcmp(a, "-c") != 0)
			goto usage;
		/* --key value or --key=value */
		{
			const char *name = strcmp(a, "-c") == 0 ? "config" : a + 2;
			const char *eq = strchr(name, '=');
			size_t nl = eq ? (size_t)(eq - name) : strlen(name);

			if (nl == 0 || nl >= sizeof(key))
				goto usage;
			memcpy(key, name, nl);
			key[nl] = '\0';
			if (eq != NULL)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				fprintf(stderr, "tlsrptd %s: option --%s needs a value\n", cmd, key);
				return EX_USAGE;
			}
		}
		if (strcmp(key, "config") == 0) {
			args->config_file = val;
			continue;
		}
		if (strcmp(key, "db") == 0)
			snprintf(key, sizeof(key), "db_path");
		else if (strcmp(key, "http") == 0)
			snprintf(key, sizeof(key), "http_listen");
		else if (strcmp(key, "smtp") == 0 || strcmp(key, "lmtp") == 0)
			snprintf(key, sizeof(key), "%s_listen", key[0] == 's' ? "smtp" : "lmtp");
		if (!cfg_is_key(key))
			goto usage;
		if (cfg_set(cfg, key, val, 1, err, sizeof(err)) != 0) {
			fprintf(stderr, "tlsrptd %s: --%s: %s\n", cmd, key, err);
			return EX_USAGE;
		}
		continue;
usage:
		fprintf(stderr, "tlsrptd %s: unknown option '%s'\n", cmd, a);
		usage_for(cmd, stderr);
		return EX_USAGE;
	}
	if (args->config_file != NULL && cfg_load_file(cfg, args->config_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrptd: %s\n", err);
		return EX_CONFIG;
	}
	if (cfg_finish(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrptd: %s\n", err);
		return EX_CONFIG;
	}
	{
		enum log_level lvl;
		if (log_parse_level(cfg->log_level, &lvl) != 0) {
			fprintf(stderr, "tlsrptd: log_level: '%s' is not error, warn, info or debug\n",
			    cfg->log_level);
			return EX_CONFIG;
		}
		log_set_level(lvl);
	}
	if (takes_files && args->n_files == 0) {
		fprintf(stderr, "tlsrptd %s: no input files (use - for stdin)\n", cmd);
		return EX_USAGE;
	}
	return 0;
}

/* Reads a whole file (or stdin for "-") into b, which caps its size. 0, or -1 with errno-ish text. */
static int
read_input(const char *path, struct buf *b, char *err, size_t errlen)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	char chunk[65536];
	ssize_t n;
	int rc = -1;

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) != 0) {
			snprintf(err, errlen, "larger than %zu bytes", b->max);
			goto out;
		}
	}
	rc = 0;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/*
 * Reads one input (a file, or stdin for "-") and runs it through the pipeline's parsing step.
 * Returns the job (caller frees it, then b), or NULL with *unreadable set (reason on stderr)
 * or, on OOM, with *unreadable 0. b is initialised here with the config's size cap.
 */
static struct pipeline_job *
cli_job(struct pipeline *pl, const struct config *cfg, const char *cmd, const char *path,
    const char *transport, struct buf *b, int *unreadable)
{
	struct envelope env = { .transport = transport, .allow_mail = 1 };
	char err[256];
	struct pipeline_job *job;

	*unreadable = 0;
	buf_init(b, cfg->max_report_size);
	if (read_input(path, b, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrptd %s: %s: %s\n", cmd, path, err);
		*unreadable = 1;
		buf_free(b);
		return NULL;
	}
	env.peer = strcmp(path, "-") == 0 ? NULL : path;
	env.body = b->data ? b->data : "";
	env.len = b->len;
	env.received_at = (int64_t)time(NULL);
	if ((job = pipeline_job_new(pl, &env)) == NULL)
		buf_free(b);
	return job;
}

int
cli_pipeline_options(const struct config *cfg, struct pipeline_options *po,
    struct dkim_keys **keys)
{
	struct dkim_keys_options ko = {
		.key_file = cfg->dkim_key_file,
		.resolver = cfg->dkim_resolver,
		.timeout_s = cfg->dkim_dns_timeout,
	};
	char err[300];

	memset(po, 0, sizeof(*po));
	*keys = NULL;
	po->max_report_size = cfg->max_report_size;
	po->max_gzip_ratio = cfg->max_gzip_ratio;
	po->allowed_domains = (const char *const *)cfg->allowed_domains.v;
	po->n_allowed = cfg->allowed_domains.n;
	po->dkim = strcmp(cfg->dkim, "require") == 0 ? PIPELINE_DKIM_REQUIRE :
	    strcmp(cfg->dkim, "record") == 0 ? PIPELINE_DKIM_RECORD : PIPELINE_DKIM_OFF;
	if (po->dkim == PIPELINE_DKIM_OFF)
		return 0;
	if ((*keys = dkim_keys_new(&ko, err, sizeof(err))) == NULL) {
		log_error("dkim_keys", "error=\"%s\"", err);
		return -1;
	}
	po->dkim_keys = dkim_keys_lookup;
	po->dkim_keys_arg = *keys;
	return 0;
}

int
cli_pipeline_open(const struct config *cfg, struct store *st, struct pipeline **pl,
    struct dkim_keys **keys)
{
	struct pipeline_options po;

	*pl = NULL;
	if (cli_pipeline_options(cfg, &po, keys) != 0)
		return EX_CONFIG;
	if ((*pl = pipeline_new(st, &po)) == NULL) {
		fprintf(stderr, "tlsrptd: out of memory\n");
		return EX_OSERR;
	}
	return 0;
}

void
cli_pipeline_close(struct pipeline *pl, struct dkim_keys *keys)
{
	pipeline_free(pl);
	dkim_keys_free(keys);
}

static const char *
reject_name(enum pipeline_reject r)
{
	switch (r) {
	case PIPELINE_REJECT_INVALID: return "invalid";
	case PIPELINE_REJECT_MEDIA: return "unsupported-media";
	case PIPELINE_REJECT_TOO_LARGE: return "too-large";
	case PIPELINE_REJECT_NOT_SERVED: return "not-served";
	case PIPELINE_REJECT_DKIM: return "dkim";
	case PIPELINE_REJECT_NONE: break;
	}
	return "none";
}

static void
fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "%" PRId64, t);
}

static void
print_count(FILE *out, int64_t v)
{
	if (v == RPT_COUNT_MISSING)
		fprintf(out, "?");
	else
		fprintf(out, "%" PRId64, v);
}

static void
print_error(FILE *out, const struct pipeline_result *r)
{
	const struct rpt_error *e = &r->error;

	fprintf(out, "rejected (%s): %s: %s", reject_name(r->reject), e->code, e->reason);
	if (e->path[0])
		fprintf(out, " at %s", e->path);
	if (e->line > 0)
		fprintf(out, " (line %d, column %d)", e->line, e->column);
	fputc('\n', out);
}

/* The DKIM verdict of a mail job, one line (nothing when DKIM was not checked). */
static void
print_dkim(FILE *out, const struct dkim_verdict *v)
{
	const struct dkim_sig *g;

	if (v == NULL)
		return;
	g = v->best >= 0 ? &v->sig[v->best] : NULL;
	fprintf(out, "  dkim: %s", dkim_status_name(v->status));
	if (g != NULL)
		fprintf(out, " d=%s s=%s a=%s", g->domain, g->selector, g->algorithm);
	if (v->reason[0] != '\0')
		fprintf(out, " (%s)", v->reason);
	fputc('\n', out);
}

static void
print_report(FILE *out, const struct rpt *r, const struct pipeline_result *res)
{
	char s[32], e[32];

	fmt_time(r->start, s, sizeof(s));
	fmt_time(r->end, e, sizeof(e));
	fprintf(out, "report (%s)\n  organization: %s\n  contact: %s\n  report-id: %s\n"
	    "  window: %s .. %s\n", pipeline_format_name(res->format),
	    r->organization_name ? r->organization_name : "(missing)",
	    r->contact_info ? r->contact_info : "(none)", r->report_id, s, e);
	for (size_t i = 0; i < r->n_policies; i++) {
		const struct rpt_policy *p = &r->policies[i];

		fprintf(out, "  policy %s %s", rpt_policy_type_name(p), p->domain ? p->domain : "(no domain)");
		if (p->sts_mode)
			fprintf(out, " mode=%s", p->sts_mode);
		fprintf(out, ": ");
		print_count(out, p->success);
		fprintf(out, " successful, ");
		print_count(out, p->failure);
		fprintf(out, " failed\n");
		for (size_t j = 0; j < p->n_failures; j++) {
			const struct rpt_failure *f = &p->failures[j];

			fprintf(out, "    %s x", f->result_type);
			print_count(out, f->failed_session_count);
			if (f->receiving_mx_hostname)
				fprintf(out, " mx=%s", f->receiving_mx_hostname);
			if (f->sending_mta_ip)
				fprintf(out, " from=%s", f->sending_mta_ip);
			if (f->failure_reason_code)
				fprintf(out, " reason=\"%s\"", f->failure_reason_code);
			fputc('\n', out);
		}
	}
	fprintf(out, "  lint: %zu\n", r->n_lint);
	for (size_t i = 0; i < r->n_lint; i++)
		fprintf(out, "    %s: %s: %s\n", r->lint[i].path[0] ? r->lint[i].path : "(document)",
		    r->lint[i].code, r->lint[i].message);
}

static void
print_json(const char *file, const struct pipeline_job *job)
{
	const struct pipeline_result *res = pipeline_job_result(job);
	const struct rpt *r = pipeline_job_report(job);
	json_t *o = json_pack("{s:s, s:s}", "file", file, "format", pipeline_format_name(res->format));
	char *text;

	if (o == NULL)
		return;
	if (r != NULL) {
		json_object_set_new(o, "verdict", json_string("report"));
		json_object_set_new(o, "report", rpt_to_json(r));
	} else {
		json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "kind", reject_name(res->reject),
		    "code", res->error.code, "reason", res->error.reason, "path", res->error.path);
		if (e != NULL && res->error.line > 0) {
			json_object_set_new(e, "line", json_integer(res->error.line));
			json_object_set_new(e, "column", json_integer(res->error.column));
		}
		json_object_set_new(o, "verdict", json_string("rejected"));
		json_object_set_new(o, "error", e);
	}
	if (pipeline_job_mime(job) != NULL)
		json_object_set_new(o, "tls_report_domain",
		    json_string(pipeline_job_mime(job)->tls_report_domain));
	if (pipeline_job_dkim(job) != NULL) {
		const struct dkim_verdict *v = pipeline_job_dkim(job);
		const struct dkim_sig *g = v->best >= 0 ? &v->sig[v->best] : NULL;

		json_object_set_new(o, "dkim", json_pack("{s:s, s:s, s:s, s:s, s:s}", "result",
		    dkim_status_name(v->status), "domain", g ? g->domain : "", "selector",
		    g ? g->selector : "", "algorithm", g ? g->algorithm : "", "reason", v->reason));
	}
	text = json_dumps(o, JSON_COMPACT);
	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(o);
}

int
cmd_check(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct pipeline *pl = NULL;
	struct dkim_keys *keys = NULL;
	int rc, status = 0;

	if ((rc = cli_parse("check", argc, argv, &cfg, &args, 1)) != 0)
		goto out;
	rpt_global_init();
	if ((rc = cli_pipeline_open(&cfg, NULL, &pl, &keys)) != 0)
		goto out;
	for (int i = 0; i < args.n_files; i++) {
		struct buf b;
		struct pipeline_job *job;
		int unreadable;

		job = cli_job(pl, &cfg, "check", args.files[i], "check", &b, &unreadable);
		if (job == NULL && unreadable) {
			status = EX_NOINPUT;
			continue;
		}
		if (job == NULL) {
			rc = EX_OSERR;
			goto out;
		}
		if (pipeline_job_report(job) == NULL && status == 0)
			status = EX_DATAERR;
		if (args.json) {
			print_json(args.files[i], job);
		} else {
			printf("%s: ", args.files[i]);
			if (pipeline_job_report(job) != NULL)
				print_report(stdout, pipeline_job_report(job), pipeline_job_result(job));
			else
				print_error(stdout, pipeline_job_result(job));
			print_dkim(stdout, pipeline_job_dkim(job));
		}
		pipeline_job_free(job);
		buf_free(&b);
	}
	rc = status;
out:
	cli_pipeline_close(pl, keys);
	cfg_free(&cfg);
	return rc;
}

struct store *
cli_open_store(const struct config *cfg)
{
	struct store_options so = {
		.path = cfg->db_path,
		.busy_timeout_ms = (int)cfg->db_busy_timeout,
		.batch_max = (int)cfg->db_batch_max,
		.queue_max = (int)cfg->db_queue_max,
		.readers = (int)cfg->db_readers,
	};
	char err[256];
	struct store *st = store_open(&so, err, sizeof(err));

	if (st == NULL)
		log_error("store_open", "path=%s error=\"%s\"", cfg->db_path, err);
	return st;
}

int
cmd_ingest(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct pipeline *pl = NULL;
	struct dkim_keys *keys = NULL;
	struct store *st = NULL;
	int rc, any_bad = 0, any_temp = 0, any_unreadable = 0;

	if ((rc = cli_parse("ingest", argc, argv, &cfg, &args, 1)) != 0)
		goto out;
	rpt_global_init();
	if ((st = cli_open_store(&cfg)) == NULL) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if ((rc = cli_pipeline_open(&cfg, st, &pl, &keys)) != 0)
		goto out;
	for (int i = 0; i < args.n_files; i++) {
		const char *f = args.files[i];
		struct buf b;
		struct pipeline_job *job;
		const struct pipeline_result *r;
		int unreadable;

		job = cli_job(pl, &cfg, "ingest", f, strcmp(f, "-") == 0 ? "stdin" : "file", &b,
		    &unreadable);
		if (job == NULL && unreadable) {
			any_unreadable = 1;
			continue;
		}
		if (job == NULL) {
			rc = EX_OSERR;
			goto out;
		}
		pipeline_job_store_wait(job);
		r = pipeline_job_result(job);
		switch (r->verdict) {
		case PIPELINE_ACCEPTED:
		case PIPELINE_DUPLICATE:
		case PIPELINE_CONFLICT:
			printf("%s: %s report=%" PRId64 "\n", f, pipeline_verdict_name(r->verdict), r->report_id);
			break;
		case PIPELINE_QUARANTINED:
			/*
			 * A message kept for DKIM is delivered as far as the MTA piping it here is
			 * concerned: exit 65 would bounce it to a sender that may be forged.
			 */
			if (r->reject != PIPELINE_REJECT_DKIM)
				any_bad = 1;
			printf("%s: quarantined id=%" PRId64 " ", f, r->quarantine_id);
			print_error(stdout, r);
			break;
		default:
			any_temp = 1;
			printf("%s: temporary failure: %s\n", f, r->temp_reason);
			break;
		}
		pipeline_job_free(job);
		buf_free(&b);
	}
	rc = any_temp ? EX_TEMPFAIL : any_unreadable ? EX_NOINPUT : any_bad ? EX_DATAERR : 0;
out:
	cli_pipeline_close(pl, keys);
	store_close(st);
	cfg_free(&cfg);
	return rc;
}

int
cmd_config(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	int rc;

	if ((rc = cli_parse("config", argc, argv, &cfg, &args, 0)) != 0)
		goto out;
	if (!args.check) {
		usage_for("config", stderr);
		rc = EX_USAGE;
		goto out;
	}
	{
		/* What serve would refuse at start: the key file and the resolver address. */
		struct pipeline_options po;
		struct dkim_keys *keys = NULL;

		if (cli_pipeline_options(&cfg, &po, &keys) != 0) {
			fprintf(stderr, "tlsrptd config: dkim_key_file or dkim_resolver is unusable "
			    "(see the log line above)\n");
			rc = EX_CONFIG;
			goto out;
		}
		dkim_keys_free(keys);
	}
	cfg_print(&cfg, stdout);
	fprintf(stderr, "config ok%s%s\n", args.config_file ? ": " : "",
	    args.config_file ? args.config_file : "");
out:
	cfg_free(&cfg);
	return rc;
}
