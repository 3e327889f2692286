/*
 * tlsrptd token create|list|revoke: the bearer tokens of the read API and /metrics
 * (storage/tokens.h).
 *
 *   create --role read|admin [--domain D]... [--all-domains] [--name NOTE]
 *          prints the new token on standard output, alone on its line, once: only its
 *          SHA-256 is kept. A read token needs --domain (repeatable; each covers its
 *          subdomains) or --all-domains; an admin token takes neither.
 *   list [--json]   every token: id, name, role, domains, created, last used, revoked
 *   revoke ID       refuses the token from now on (a running daemon within a few seconds)
 *
 * Exit status: 0 done, 64 usage, 65 bad data (a domain that is not one, no such token),
 * 75 the database was unavailable (try again), 70 anything else.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "collector/cmd.h"
#include "ingest/norm.h"
#include "storage/tokens.h"

#define TOKEN_ARGS_MAX 512  /* arguments passed on to the common option parser */

struct token_opts {
	const char *role;
	const char *name;
	int all_domains;
	int json;
	char *domains[TOKENS_DOMAINS_MAX];
	size_t n_domains;
};

static void
token_usage(FILE *out)
{
	fprintf(out,
	    "usage: tlsrptd token create --role read|admin [--domain D]... [--all-domains] [--name NOTE]\n"
	    "       tlsrptd token list [--json]\n"
	    "       tlsrptd token revoke ID\n"
	    "every form also takes -c FILE and any config key as --key-name VALUE (--db PATH).\n"
	    "\n"
	    "create prints the new token once, alone on standard output: only its hash is kept.\n"
	    "A read token sees the given policy domains (and their subdomains), or every domain\n"
	    "with --all-domains; an admin token sees everything and may use the quarantine.\n"
	    "exit: 0 done, 64 usage, 65 bad domain or no such token, 75 database unavailable\n");
}

static void
token_opts_free(struct token_opts *o)
{
	for (size_t i = 0; i < o->n_domains; i++)
		free(o->domains[i]);
	o->n_domains = 0;
}

/* Adds the domains of one --domain value (commas allowed), normalised, without repeats. */
static int
token_add_domains(struct token_opts *o, const char *v)
{
	while (*v != '\0') {
		char d[NORM_DOMAIN_MAX];
		size_t n = strcspn(v, ",");
		size_t i;

		if (n > 0) {
			if (norm_domain(v, n, d, NULL) != 0) {
				fprintf(stderr, "tlsrptd token: '%.*s' is not a domain name\n", (int)n, v);
				return EX_DATAERR;
			}
			for (i = 0; i < o->n_domains && strcmp(o->domains[i], d) != 0; i++)
				;
			if (i == o->n_domains) {
				if (o->n_domains >= TOKENS_DOMAINS_MAX) {
					fprintf(stderr, "tlsrptd token: more than %d domains\n",
					    TOKENS_DOMAINS_MAX);
					return EX_USAGE;
				}
				if ((o->domains[o->n_domains] = strdup(d)) == NULL)
					return EX_OSERR;
				o->n_domains++;
			}
		}
		v += n;
		while (*v == ',')
			v++;
	}
	return 0;
}

/*
 * Takes this command's own options out of argv; the rest (words, config options) goes to
 * rest[] for cli_parse. 0, or an exit status after a message.
 */
static int
token_split_args(int argc, char **argv, struct token_opts *o, char **rest, int *n_rest)
{
	*n_rest = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = strchr(a, '=');
		size_t kl = eq != NULL ? (size_t)(eq - a) : strlen(a);
		const char *val = NULL;
		int takes = 0;
		int rc;

		if (strncmp(a, "--role", kl) == 0 && kl == 6)
			takes = 1;
		else if (strncmp(a, "--domain", kl) == 0 && kl == 8)
			takes = 1;
		else if (strncmp(a, "--name", kl) == 0 && kl == 6)
			takes = 1;
		if (takes) {
			if (eq != NULL)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				fprintf(stderr, "tlsrptd token: %s needs a value\n", a);
				return EX_USAGE;
			}
			if (kl == 6 && a[2] == 'r')
				o->role = val;
			else if (kl == 6)
				o->name = val;
			else if ((rc = token_add_domains(o, val)) != 0)
				return rc;
			continue;
		}
		if (strcmp(a, "--all-domains") == 0) {
			o->all_domains = 1;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (*n_rest >= TOKEN_ARGS_MAX) {
			fprintf(stderr, "tlsrptd token: too many arguments\n");
			return EX_USAGE;
		}
		rest[(*n_rest)++] = argv[i];
	}
	return 0;
}

static int
token_exit(int rc)
{
	if (rc == STORE_TEMP)
		return EX_TEMPFAIL;
	if (rc == STORE_NOTFOUND)
		return EX_DATAERR;
	return EX_SOFTWARE;
}

static void
token_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "-");
}

/* The token create asks for, checked. 0, or EX_USAGE after a message. */
static int
token_new_from(const struct token_opts *o, struct tokens_new *t)
{
	char why[256];

	memset(t, 0, sizeof(*t));
	t->name = o->name;
	t->all_domains = o->all_domains;
	t->domains = (const char *const *)o->domains;
	t->n_domains = o->n_domains;
	if (o->role == NULL || tokens_role_parse(o->role, &t->role) != 0) {
		fprintf(stderr, "tlsrptd token create: --role read or --role admin is needed\n");
		return EX_USAGE;
	}
	if (tokens_validate(t, why, sizeof(why)) != 0) {
		fprintf(stderr, "tlsrptd token create: %s\n", why);
		return EX_USAGE;
	}
	return 0;
}

static int
token_create(struct store *st, const struct tokens_new *t)
{
	char text[TOKENS_TEXT_LEN + 1], why[256];
	int64_t id;
	int rc;

	if ((rc = tokens_create(st, t, (int64_t)time(NULL), text, &id, why, sizeof(why))) != 0) {
		fprintf(stderr, "tlsrptd token create: %s\n", why);
		return token_exit(rc);
	}
	printf("%s\n", text);
	OPENSSL_cleanse(text, sizeof(text));
	if (fflush(stdout) != 0) {
		fprintf(stderr, "tlsrptd token create: cannot write the token; revoke token %" PRId64
		    "\n", id);
		return EX_IOERR;
	}
	if (t->role == TOKENS_ADMIN || t->all_domains)
		fprintf(stderr, "token %" PRId64 " created: role %s, every domain; it is shown only "
		    "this once\n", id, tokens_role_name(t->role));
	else
		fprintf(stderr, "token %" PRId64 " created: role %s, %zu domain%s; it is shown only "
		    "this once\n", id, tokens_role_name(t->role), t->n_domains,
		    t->n_domains == 1 ? "" : "s");
	return 0;
}

static int
token_print_text(void *arg, const struct tokens_entry *e)
{
	char created[32], used[32], revoked[32];

	(void)arg;
	token_time(e->created_at, created, sizeof(created));
	token_time(e->last_used_at, used, sizeof(used));
	token_time(e->revoked_at, revoked, sizeof(revoked));
	printf("%-5" PRId64 " %-6s %-20s %-20s %-20s %-24s %s\n", e->id, tokens_role_name(e->role),
	    created, used, revoked, e->name[0] != '\0' ? e->name : "-",
	    e->role == TOKENS_ADMIN ? "*" : e->all_domains ? "* (all, read)" : e->domains_json);
	return 0;
}

static int
token_print_json(void *arg, const struct tokens_entry *e)
{
	json_t *arr = arg, *o, *doms;

	doms = json_loads(e->domains_json, 0, NULL);
	o = json_pack("{s:I, s:s, s:s, s:b, s:o, s:I, s:o, s:o}",
	    "id", (json_int_t)e->id, "name", e->name, "role", tokens_role_name(e->role),
	    "all_domains", e->role == TOKENS_ADMIN || e->all_domains,
	    "domains", doms != NULL ? doms : json_array(),
	    "created_at", (json_int_t)e->created_at,
	    "last_used_at", e->last_used_at ? json_integer(e->last_used_at) : json_null(),
	    "revoked_at", e->revoked_at ? json_integer(e->revoked_at) : json_null());
	return o == NULL || json_array_append_new(arr, o) != 0 ? -1 : 0;
}

static int
token_list(struct store *st, const struct token_opts *o)
{
	json_t *arr = NULL;
	int rc;

	if (o->json) {
		if ((arr = json_array()) == NULL)
			return EX_OSERR;
		rc = tokens_list(st, token_print_json, arr);
		if (rc == 0 && json_dumpf(arr, stdout, JSON_INDENT(2)) == 0)
			putchar('\n');
		json_decref(arr);
	} else {
		printf("%-5s %-6s %-20s %-20s %-20s %-24s %s\n", "id", "role", "created",
		    "last_used", "revoked", "name", "domains");
		rc = tokens_list(st, token_print_text, NULL);
	}
	if (rc != 0) {
		fprintf(stderr, "tlsrptd token list: cannot read the tokens\n");
		return rc < 0 ? token_exit(rc) : EX_SOFTWARE;
	}
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

static int
token_revoke(struct store *st, const char *idtext)
{
	char *end;
	long long id;
	int was = 0, rc;

	id = strtoll(idtext, &end, 10);
	if (*idtext < '0' || *idtext > '9' || *end != '\0' || id <= 0) {
		fprintf(stderr, "tlsrptd token revoke: '%s' is not a token id\n", idtext);
		return EX_USAGE;
	}
	if ((rc = tokens_revoke(st, (int64_t)id, (int64_t)time(NULL), &was)) != 0) {
		fprintf(stderr, "tlsrptd token revoke: %s\n", rc == STORE_NOTFOUND ?
		    "no such token" : "the database cannot take the write now");
		return token_exit(rc);
	}
	printf("token %lld %s\n", id, was ? "was revoked already" : "revoked");
	return 0;
}

int
cmd_token(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct token_opts o;
	struct tokens_new t;
	struct store *st = NULL;
	char *rest[TOKEN_ARGS_MAX];
	const char *verb;
	int n_rest, rc;

	memset(&o, 0, sizeof(o));
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			token_usage(stdout);
			return 0;
		}
	if (argc == 0) {
		token_usage(stderr);
		return EX_USAGE;
	}
	if ((rc = token_split_args(argc, argv, &o, rest, &n_rest)) != 0) {
		token_opts_free(&o);
		return rc;
	}
	if ((rc = cli_parse("token", n_rest, rest, &cfg, &args, 1)) != 0)
		goto out;
	verb = args.files[0];
	if (!((strcmp(verb, "create") == 0 && args.n_files == 1) ||
	    (strcmp(verb, "list") == 0 && args.n_files == 1) ||
	    (strcmp(verb, "revoke") == 0 && args.n_files == 2))) {
		token_usage(stderr);
		rc = EX_USAGE;
		goto out;
	}
	if (strcmp(verb, "create") != 0 && (o.role != NULL || o.name != NULL || o.n_domains > 0 ||
	    o.all_domains)) {
		fprintf(stderr, "tlsrptd token %s: --role, --domain, --all-domains and --name are "
		    "for create\n", verb);
		rc = EX_USAGE;
		goto out;
	}
	if (strcmp(verb, "create") == 0 && (rc = token_new_from(&o, &t)) != 0)
		goto out;
	if ((st = cli_open_store(&cfg)) == NULL) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (strcmp(verb, "create") == 0)
		rc = token_create(st, &t);
	else if (strcmp(verb, "list") == 0)
		rc = token_list(st, &o);
	else
		rc = token_revoke(st, args.files[1]);
out:
	store_close(st);
	cfg_free(&cfg);
	token_opts_free(&o);
	return rc;
}
