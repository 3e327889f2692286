/*
 * tlsrptd export failures|policies|reports: the CSV of GET /api/v1/export/KIND.csv from the
 * command line, through the same row streams (storage/export.h) and the same CSV writer
 * (web/export.h), so the two give the same bytes for the same filters.
 *
 *   [--domain D] [--reporter R] [--from T] [--to T] [--has-failures yes|no]
 *   [--result-type T] [-o FILE]
 *
 * Without -o the CSV goes to standard output. With -o it is written to FILE.tmp.PID next to
 * FILE and renamed to FILE once complete, so FILE is never a cut export. Memory stays the
 * same whatever the size: one row at a time.
 *
 * Exit status: 0 done, 64 usage, 73 FILE cannot be created, 74 write error, 75 the database
 * was unavailable (try again), 70 anything else.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "collector/buf.h"
#include "collector/cmd.h"
#include "ingest/norm.h"
#include "storage/export.h"
#include "web/export.h"

#define EXPORT_CLI_ARGS_MAX 512      /* arguments passed on to the common option parser */
#define EXPORT_CLI_PATH_MAX 4096

struct export_cli {
	const char *domain;
	const char *reporter;
	const char *from;
	const char *to;
	const char *has_failures;
	const char *result_type;
	const char *output;
};

static void
export_cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: tlsrptd export failures|policies|reports [--domain D] [--reporter R]\n"
	    "           [--from T] [--to T] [--has-failures yes|no] [--result-type T] [-o FILE]\n"
	    "also takes -c FILE and any config key as --key-name VALUE (--db PATH).\n"
	    "\n"
	    "Writes the CSV of GET /api/v1/export/KIND.csv (same columns, same filters) to FILE or\n"
	    "standard output. T is RFC 3339 with a zone or YYYY-MM-DD (midnight UTC); a report\n"
	    "matches when its window ends after --from and starts before --to. --reporter is the\n"
	    "organization-name (case-insensitive). Cells a spreadsheet would run as a formula\n"
	    "(= + - @ TAB CR) and cells beginning with ' get a leading '.\n"
	    "exit: 0 done, 64 usage, 73 cannot create FILE, 74 write error, 75 database unavailable\n");
}

/* Takes this command's own options out of argv; the rest goes to rest[]. 0 or EX_USAGE. */
static int
export_cli_split(int argc, char **argv, struct export_cli *o, char **rest, int *n_rest)
{
	static const struct { const char *name; size_t off; } opts[] = {
		{ "--domain", offsetof(struct export_cli, domain) },
		{ "--reporter", offsetof(struct export_cli, reporter) },
		{ "--from", offsetof(struct export_cli, from) },
		{ "--to", offsetof(struct export_cli, to) },
		{ "--has-failures", offsetof(struct export_cli, has_failures) },
		{ "--result-type", offsetof(struct export_cli, result_type) },
		{ "--output", offsetof(struct export_cli, output) },
		{ "-o", offsetof(struct export_cli, output) },
	};

	*n_rest = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		size_t kl = eq != NULL ? (size_t)(eq - a) : strlen(a);
		size_t k;

		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == kl && strncmp(a, opts[k].name, kl) == 0)
				break;
		if (k < sizeof(opts) / sizeof(opts[0])) {
			const char **dst = (const char **)(void *)((char *)o + opts[k].off);

			if (eq != NULL)
				*dst = eq + 1;
			else if (i + 1 < argc)
				*dst = argv[++i];
			else {
				fprintf(stderr, "tlsrptd export: %s needs a value\n", a);
				return EX_USAGE;
			}
			continue;
		}
		if (*n_rest >= EXPORT_CLI_ARGS_MAX) {
			fprintf(stderr, "tlsrptd export: too many arguments\n");
			return EX_USAGE;
		}
		rest[(*n_rest)++] = argv[i];
	}
	return 0;
}

/* The filter the options ask for (domain normalised into dom). 0 or EX_USAGE. */
static int
export_cli_filter(const struct export_cli *o, struct export_filter *f,
    char dom[NORM_DOMAIN_MAX])
{
	export_filter_init(f);
	if (o->domain != NULL) {
		if (norm_domain(o->domain, strlen(o->domain), dom, NULL) != 0) {
			fprintf(stderr, "tlsrptd export: --domain '%s' is not a domain name\n",
			    o->domain);
			return EX_USAGE;
		}
		f->domain = dom;
	}
	if ((o->reporter != NULL && strlen(o->reporter) > EXPORT_PARAM_MAX) ||
	    (o->result_type != NULL && strlen(o->result_type) > EXPORT_PARAM_MAX)) {
		fprintf(stderr, "tlsrptd export: --reporter and --result-type take at most %d "
		    "bytes\n", EXPORT_PARAM_MAX);
		return EX_USAGE;
	}
	f->reporter = o->reporter;
	f->result_type = o->result_type;
	if ((o->from != NULL && export_parse_time(o->from, &f->from) != 0) ||
	    (o->to != NULL && export_parse_time(o->to, &f->to) != 0)) {
		fprintf(stderr, "tlsrptd export: --from and --to take RFC 3339 with a zone or "
		    "YYYY-MM-DD, in 1970..9999\n");
		return EX_USAGE;
	}
	if (f->from != EXPORT_FROM_ANY && f->to != EXPORT_TO_ANY && f->from >= f->to) {
		fprintf(stderr, "tlsrptd export: --from must be before --to\n");
		return EX_USAGE;
	}
	if (o->has_failures != NULL && export_parse_bool(o->has_failures, &f->has_failures) != 0) {
		fprintf(stderr, "tlsrptd export: --has-failures takes yes or no\n");
		return EX_USAGE;
	}
	return 0;
}

/* Writes the whole CSV to out. 0, EX_IOERR, EX_TEMPFAIL or EX_SOFTWARE. */
static int
export_cli_write(struct store *st, enum export_kind kind, const struct export_filter *f,
    FILE *out)
{
	struct export_rows *x = NULL;
	struct buf line;
	int rc, ret = EX_SOFTWARE;

	buf_init(&line, EXPORT_ROW_MAX);
	if ((rc = export_rows_open(st, kind, f, &x)) != 0) {
		ret = rc == STORE_TEMP ? EX_TEMPFAIL : EX_SOFTWARE;
		goto out;
	}
	export_csv_header(&line, kind);
	for (;;) {
		if (line.err != 0) {
			fprintf(stderr, "tlsrptd export: a row is larger than %d bytes\n",
			    EXPORT_ROW_MAX);
			goto out;
		}
		if (line.len > 0 && fwrite(line.data, 1, line.len, out) != line.len) {
			ret = EX_IOERR;
			goto out;
		}
		buf_reset(&line);
		if ((rc = export_rows_next(x)) == 0)
			break;
		if (rc < 0) {
			ret = rc == STORE_TEMP ? EX_TEMPFAIL : EX_SOFTWARE;
			goto out;
		}
		export_csv_row(&line, x);
	}
	ret = fflush(out) == 0 && !ferror(out) ? 0 : EX_IOERR;
out:
	if (ret == EX_TEMPFAIL || ret == EX_SOFTWARE)
		fprintf(stderr, "tlsrptd export: the database could not be read%s\n",
		    ret == EX_TEMPFAIL ? " now (try again)" : "");
	export_rows_close(x);
	buf_free(&line);
	return ret;
}

int
cmd_export(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct export_cli o;
	struct export_filter f;
	struct store *st = NULL;
	enum export_kind kind;
	char *rest[EXPORT_CLI_ARGS_MAX];
	char dom[NORM_DOMAIN_MAX], tmp[EXPORT_CLI_PATH_MAX];
	FILE *out = stdout;
	int n_rest, rc, n;

	memset(&o, 0, sizeof(o));
	tmp[0] = '\0';
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			export_cli_usage(stdout);
			return 0;
		}
	if (argc == 0) {
		export_cli_usage(stderr);
		return EX_USAGE;
	}
	if ((rc = export_cli_split(argc, argv, &o, rest, &n_rest)) != 0)
		return rc;
	if ((rc = cli_parse("export", n_rest, rest, &cfg, &args, 1)) != 0)
		goto out;
	if (args.n_files != 1 || export_kind_parse(args.files[0], &kind) != 0) {
		export_cli_usage(stderr);
		rc = EX_USAGE;
		goto out;
	}
	if ((rc = export_cli_filter(&o, &f, dom)) != 0)
		goto out;
	if ((st = cli_open_store(&cfg)) == NULL) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (o.output != NULL && strcmp(o.output, "-") != 0) {
		n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", o.output, (long)getpid());
		if (n < 0 || (size_t)n >= sizeof(tmp) || (out = fopen(tmp, "wx")) == NULL) {
			fprintf(stderr, "tlsrptd export: %s: %s\n", o.output,
			    n < 0 || (size_t)n >= sizeof(tmp) ? "path too long" : strerror(errno));
			tmp[0] = '\0';
			out = stdout;
			rc = EX_CANTCREAT;
			goto out;
		}
	}
	rc = export_cli_write(st, kind, &f, out);
	if (out != stdout) {
		if (fclose(out) != 0 && rc == 0)
			rc = EX_IOERR;
		out = stdout;
		if (rc == 0 && rename(tmp, o.output) != 0) {
			fprintf(stderr, "tlsrptd export: %s: %s\n", o.output, strerror(errno));
			rc = EX_CANTCREAT;
		}
		if (rc != 0)
			unlink(tmp);
	}
	if (rc == EX_IOERR)
		fprintf(stderr, "tlsrptd export: write error\n");
out:
	store_close(st);
	cfg_free(&cfg);
	return rc;
}
