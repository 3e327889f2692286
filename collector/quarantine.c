/*
 * tlsrptd quarantine list|show|release|reprocess|delete: what was kept and not counted
 * (storage/query.h), for an operator at the console.
 *
 *   list [--status held|reprocessed] [--limit N] [--json]   newest first
 *   show ID [--json]      reason, detail and every copy (with its DKIM verdict)
 *   show ID --raw         the body as received, on standard output
 *   reprocess ID          through the pipeline again with the current config
 *   release ID            the same, but counted even without a passing DKIM signature: the
 *                         operator vouches for it (the copy records "released": true)
 *   delete ID             the row, its raw bytes and its copies
 *
 * Exit status: 0 done (release/reprocess: the body is now a report), 64 usage, 65 no such row
 * or the body is still not a report, 75 the database was unavailable (try again), 70 else.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "collector/cmd.h"
#include "ingest/pipeline.h"
#include "storage/query.h"

#define QUAR_ARGS_MAX 512     /* arguments passed on to the common option parser */
#define QUAR_LIST_DEFAULT 50

struct quar_opts {
	const char *status;
	long limit;
	int json;
	int raw;
};

static void
quar_usage(FILE *out)
{
	fprintf(out,
	    "usage: tlsrptd quarantine list [--status held|reprocessed] [--limit N] [--json]\n"
	    "       tlsrptd quarantine show ID [--json | --raw]\n"
	    "       tlsrptd quarantine reprocess ID\n"
	    "       tlsrptd quarantine release ID\n"
	    "       tlsrptd quarantine delete ID\n"
	    "every form also takes -c FILE and any config key as --key-name VALUE (--db PATH).\n"
	    "\n"
	    "reprocess runs the kept body through the pipeline again with the current config;\n"
	    "release does the same but counts the report even without a passing DKIM signature\n"
	    "(you vouch for it; the copy records that it was released).\n"
	    "exit: 0 done, 64 usage, 65 no such row or still not a report, 75 database unavailable\n");
}

static int
quar_exit(int rc)
{
	if (rc == STORE_TEMP)
		return EX_TEMPFAIL;
	if (rc == STORE_NOTFOUND)
		return EX_DATAERR;
	return EX_SOFTWARE;
}

/* Takes this command's options out of argv; the rest goes to rest[] for cli_parse. */
static int
quar_split_args(int argc, char **argv, struct quar_opts *o, char **rest, int *n_rest)
{
	*n_rest = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--status") == 0 || strcmp(a, "--limit") == 0) {
			char *end;

			if (i + 1 >= argc) {
				fprintf(stderr, "tlsrptd quarantine: %s needs a value\n", a);
				return EX_USAGE;
			}
			if (a[2] == 's') {
				o->status = argv[++i];
				continue;
			}
			o->limit = strtol(argv[++i], &end, 10);
			if (*end != '\0' || o->limit < 1 || o->limit > QUERY_LIST_MAX) {
				fprintf(stderr, "tlsrptd quarantine: --limit must be 1 to %d\n",
				    QUERY_LIST_MAX);
				return EX_USAGE;
			}
			continue;
		}
		if (strcmp(a, "--json") == 0 || strcmp(a, "--raw") == 0) {
			*(a[2] == 'j' ? &o->json : &o->raw) = 1;
			continue;
		}
		if (*n_rest >= QUAR_ARGS_MAX) {
			fprintf(stderr, "tlsrptd quarantine: too many arguments\n");
			return EX_USAGE;
		}
		rest[(*n_rest)++] = argv[i];
	}
	return 0;
}

static int
quar_id(const char *text, int64_t *id)
{
	char *end;
	long long v = strtoll(text, &end, 10);

	if (*text < '0' || *text > '9' || *end != '\0' || v <= 0) {
		fprintf(stderr, "tlsrptd quarantine: '%s' is not a quarantine id\n", text);
		return EX_USAGE;
	}
	*id = (int64_t)v;
	return 0;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

static int
quar_print_json(json_t *doc)
{
	int rc = json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : EX_IOERR;

	putchar('\n');
	return rc;
}

static int
quar_list(struct store *st, const struct quar_opts *o)
{
	json_t *doc = NULL, *e;
	size_t i;
	int rc;

	if (o->status != NULL && strcmp(o->status, "held") != 0 &&
	    strcmp(o->status, "reprocessed") != 0) {
		fprintf(stderr, "tlsrptd quarantine list: --status must be held or reprocessed\n");
		return EX_USAGE;
	}
	rc = query_quarantine_list(st, o->limit > 0 ? (int)o->limit : QUAR_LIST_DEFAULT, 0,
	    o->status, &doc);
	if (rc != 0) {
		fprintf(stderr, "tlsrptd quarantine list: cannot read the quarantine\n");
		return quar_exit(rc);
	}
	if (o->json) {
		rc = quar_print_json(doc);
	} else {
		printf("%-6s %-11s %-20s %5s %9s  %s\n", "id", "status", "last_seen", "seen",
		    "bytes", "reason");
		json_array_foreach(json_object_get(doc, "quarantine"), i, e)
			printf("%-6" JSON_INTEGER_FORMAT " %-11s %-20s %5" JSON_INTEGER_FORMAT
			    " %9" JSON_INTEGER_FORMAT "  %s: %s\n",
			    json_integer_value(json_object_get(e, "id")), jstr(e, "status"),
			    jstr(e, "last_seen"), json_integer_value(json_object_get(e, "seen_count")),
			    json_integer_value(json_object_get(e, "raw_len")), jstr(e, "reason_code"),
			    jstr(e, "reason"));
	}
	json_decref(doc);
	return rc;
}

static int
quar_show(struct store *st, struct pipeline *pl, int64_t id, const struct quar_opts *o)
{
	json_t *doc = NULL, *c, *dk;
	size_t i;
	int rc;

	if (o->raw) {
		struct buf body;
		char status[16], transport[32], err[200];

		buf_init(&body, 64u << 20);
		if ((rc = pipeline_quarantine_body(pl, id, &body, status, transport, NULL, NULL, err,
		    sizeof(err))) != 0) {
			fprintf(stderr, "tlsrptd quarantine show: %s\n", err);
			rc = quar_exit(rc);
		} else {
			rc = body.len == 0 || fwrite(body.data, 1, body.len, stdout) == body.len ? 0 :
			    EX_IOERR;
		}
		buf_free(&body);
		return rc;
	}
	if ((rc = query_quarantine_get(st, id, &doc)) != 0) {
		fprintf(stderr, "tlsrptd quarantine show: %s\n", rc == STORE_NOTFOUND ?
		    "no such quarantine row" : "cannot read the quarantine row");
		return quar_exit(rc);
	}
	if (o->json) {
		rc = quar_print_json(doc);
		json_decref(doc);
		return rc;
	}
	printf("quarantine %" PRId64 ": %s\n", id, jstr(doc, "status"));
	printf("  reason:     %s: %s\n", jstr(doc, "reason_code"), jstr(doc, "reason"));
	printf("  seen:       %" JSON_INTEGER_FORMAT " time(s), first %s, last %s\n",
	    json_integer_value(json_object_get(doc, "seen_count")), jstr(doc, "first_seen"),
	    jstr(doc, "last_seen"));
	printf("  bytes:      %" JSON_INTEGER_FORMAT "\n",
	    json_integer_value(json_object_get(doc, "raw_len")));
	json_array_foreach(json_object_get(doc, "copies"), i, c) {
		printf("  copy %" JSON_INTEGER_FORMAT ": %s from %s at %s\n",
		    json_integer_value(json_object_get(c, "id")), jstr(c, "transport"),
		    jstr(c, "peer"), jstr(c, "received_at"));
		dk = json_object_get(json_object_get(c, "meta"), "dkim");
		if (dk != NULL)
			printf("    dkim: %s d=%s s=%s a=%s%s%s\n", jstr(dk, "result"),
			    jstr(dk, "domain"), jstr(dk, "selector"), jstr(dk, "algorithm"),
			    json_object_get(dk, "reason") != NULL ? " reason=" : "",
			    json_object_get(dk, "reason") != NULL ? jstr(dk, "reason") : "");
	}
	json_decref(doc);
	return 0;
}

static int
quar_requeue(struct pipeline *pl, int64_t id, int release)
{
	const char *verb = release ? "release" : "reprocess";
	struct pipeline_job *job = NULL;
	const struct pipeline_result *r;
	char err[200], row[16];
	int rc, mark;

	if ((rc = pipeline_requeue(pl, id, release, &job, &mark, row, err, sizeof(err))) != 0) {
		fprintf(stderr, "tlsrptd quarantine %s: %s\n", verb, err);
		return quar_exit(rc);
	}
	r = pipeline_job_result(job);
	switch (r->verdict) {
	case PIPELINE_ACCEPTED:
	case PIPELINE_DUPLICATE:
	case PIPELINE_CONFLICT:
		printf("quarantine %" PRId64 ": %s as report %" PRId64 "%s\n", id,
		    pipeline_verdict_name(r->verdict), r->report_id,
		    mark == 0 ? "" : " (the row could not be marked reprocessed: run again)");
		rc = mark == 0 ? 0 : quar_exit(mark);
		break;
	case PIPELINE_QUARANTINED:
		printf("quarantine %" PRId64 " (%s): not a report this way: %s: %s\n", id, row,
		    r->error.code, r->error.reason);
		rc = EX_DATAERR;
		break;
	default:
		printf("quarantine %" PRId64 ": temporary failure: %s\n", id, r->temp_reason);
		rc = EX_TEMPFAIL;
		break;
	}
	pipeline_job_free(job);
	return rc;
}

int
cmd_quarantine(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct quar_opts o;
	struct pipeline *pl = NULL;
	struct dkim_keys *keys = NULL;
	struct store *st = NULL;
	char *rest[QUAR_ARGS_MAX];
	const char *verb;
	int64_t id = 0;
	int n_rest, rc;

	memset(&o, 0, sizeof(o));
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			quar_usage(stdout);
			return 0;
		}
	if (argc == 0) {
		quar_usage(stderr);
		return EX_USAGE;
	}
	if ((rc = quar_split_args(argc, argv, &o, rest, &n_rest)) != 0)
		return rc;
	if ((rc = cli_parse("quarantine", n_rest, rest, &cfg, &args, 1)) != 0)
		goto out;
	verb = args.n_files > 0 ? args.files[0] : "";
	if (!((strcmp(verb, "list") == 0 && args.n_files == 1) ||
	    ((strcmp(verb, "show") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "reprocess") == 0 || strcmp(verb, "delete") == 0) && args.n_files == 2))) {
		quar_usage(stderr);
		rc = EX_USAGE;
		goto out;
	}
	if (args.n_files == 2 && (rc = quar_id(args.files[1], &id)) != 0)
		goto out;
	if ((o.status != NULL || o.limit != 0) && strcmp(verb, "list") != 0) {
		fprintf(stderr, "tlsrptd quarantine %s: --status and --limit are for list\n", verb);
		rc = EX_USAGE;
		goto out;
	}
	if (o.raw && (strcmp(verb, "show") != 0 || o.json)) {
		fprintf(stderr, "tlsrptd quarantine: --raw is for show, without --json\n");
		rc = EX_USAGE;
		goto out;
	}
	rpt_global_init();
	if ((st = cli_open_store(&cfg)) == NULL) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if ((rc = cli_pipeline_open(&cfg, st, &pl, &keys)) != 0)
		goto out;
	if (strcmp(verb, "list") == 0) {
		rc = quar_list(st, &o);
	} else if (strcmp(verb, "show") == 0) {
		rc = quar_show(st, pl, id, &o);
	} else if (strcmp(verb, "delete") == 0) {
		if ((rc = query_quarantine_delete(st, id)) != 0) {
			fprintf(stderr, "tlsrptd quarantine delete: %s\n", rc == STORE_NOTFOUND ?
			    "no such quarantine row" : "the database cannot take the write now");
			rc = quar_exit(rc);
		} else {
			printf("quarantine %" PRId64 " deleted\n", id);
		}
	} else {
		rc = quar_requeue(pl, id, strcmp(verb, "release") == 0);
	}
	if (rc == 0 && fflush(stdout) != 0)
		rc = EX_IOERR;
out:
	cli_pipeline_close(pl, keys);
	store_close(st);
	cfg_free(&cfg);
	return rc;
}
