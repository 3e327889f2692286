#include "collector/cfg.h"
#include "collector/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/norm.h"

#define CFG_LINE_MAX 4096
#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

enum cfg_type { CFG_STR, CFG_UINT, CFG_SIZE, CFG_LIST };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	uint64_t min, max;   /* CFG_UINT and CFG_SIZE */
	const char *def;     /* default as text ("" for an empty list) */
	const char *help;
};

#define K(n, t, lo, hi, d, h) { #n, t, offsetof(struct config, n), lo, hi, d, h }

static const struct cfg_key cfg_keys[] = {
	K(db_path, CFG_STR, 0, 0, "var/tlsrptd.db", "SQLite database file (created if missing)"),
	K(http_listen, CFG_STR, 0, 0, "127.0.0.1:8080", "HTTP listen address, IPv4:PORT or [IPv6]:PORT; port 0 picks a free port"),
	K(ingest_paths, CFG_LIST, 0, 0, "/tlsrpt", "URL paths that take POSTed reports (several allowed)"),
	K(allowed_domains, CFG_LIST, 0, 0, "", "policy domains served (and their subdomains); empty = accept all"),
	K(max_body_size, CFG_SIZE, 1024, 1 * GiB, "10M", "largest request body (compressed), refused with 413 beyond"),
	K(max_report_size, CFG_SIZE, 1024, 4 * GiB, "20M", "largest report after decompression"),
	K(max_gzip_ratio, CFG_UINT, 10, 1000000, "1000", "largest gzip expansion ratio (checked past 1 MiB of output)"),
	K(http_timeout, CFG_UINT, 1, 3600, "30", "seconds an idle HTTP connection is kept"),
	K(http_max_connections, CFG_UINT, 1, 100000, "512", "most concurrent HTTP connections"),
	K(http_threads, CFG_UINT, 1, 256, "2", "HTTP worker threads (parsing runs on them)"),
	K(api_auth, CFG_STR, 0, 0, "on", "on: every /api request needs an Authorization: Bearer token (tlsrptd token create); off: open"),
	K(api_auth_force_off, CFG_STR, 0, 0, "no", "yes: allow api_auth off on a listen address that is not loopback"),
	K(metrics_auth, CFG_STR, 0, 0, "on", "on: /metrics needs a bearer token of any role; off: open"),
	K(retry_after, CFG_UINT, 1, 86400, "60", "Retry-After seconds sent with 503"),
	K(shutdown_timeout, CFG_UINT, 0, 3600, "30", "seconds to let requests in flight finish on SIGTERM"),
	K(db_busy_timeout, CFG_UINT, 1, 600000, "5000", "milliseconds a write waits for a database lock"),
	K(db_batch_max, CFG_UINT, 1, 100000, "1024", "most submissions committed in one transaction"),
	K(db_queue_max, CFG_UINT, 1, 1000000, "8192", "most submissions waiting for the writer (then 503)"),
	K(db_readers, CFG_UINT, 1, 64, "4", "read-only database connections for the API"),
	K(smtp_listen, CFG_STR, 0, 0, "127.0.0.1:2525", "SMTP listen address, IPv4:PORT or [IPv6]:PORT; \"off\" disables"),
	K(lmtp_listen, CFG_STR, 0, 0, "off", "LMTP listen address, IPv4:PORT or [IPv6]:PORT; \"off\" disables"),
	K(smtp_hostname, CFG_STR, 0, 0, "auto", "name in the SMTP/LMTP greeting; \"auto\" = the system host name"),
	K(smtp_recipients, CFG_LIST, 0, 0, "", "accepted recipients: user@domain or @domain (any user); empty = accept all"),
	K(tls_cert, CFG_STR, 0, 0, "var/tls/cert.pem", "PEM certificate chain for STARTTLS (offered only if cert and key load)"),
	K(tls_key, CFG_STR, 0, 0, "var/tls/key.pem", "PEM private key for STARTTLS"),
	K(smtp_max_message, CFG_SIZE, 1024, 1 * GiB, "10M", "largest message (SIZE), refused with 552 beyond"),
	K(smtp_max_recipients, CFG_UINT, 1, 1000, "50", "most recipients per message (452 beyond)"),
	K(smtp_max_connections, CFG_UINT, 1, 10000, "64", "most concurrent sessions per listener (421 beyond)"),
	K(smtp_timeout, CFG_UINT, 1, 3600, "300", "seconds an SMTP/LMTP read or write may wait (421 then close)"),
	K(smtp_max_errors, CFG_UINT, 1, 1000, "10", "bad commands in a session before 421 and close"),
	K(dkim, CFG_STR, 0, 0, "require", "DKIM on mailed reports: require (unsigned or failing: quarantined, not counted), record (verify and keep the verdict, count anyway) or off"),
	K(dkim_key_file, CFG_STR, 0, 0, "", "file of DKIM key records (\"selector._domainkey.domain TXT-text\" per line) that override DNS; empty = none"),
	K(dkim_resolver, CFG_STR, 0, 0, "", "nameserver for DKIM key lookups, IPv4[:PORT] or [IPv6]:PORT; empty = the system resolver"),
	K(dkim_dns_timeout, CFG_UINT, 1, 60, "5", "seconds a DKIM key lookup may take (then temperror: mail gets 451, retried later)"),
	K(public_url, CFG_STR, 0, 0, "", "base URL senders reach this collector at (https://tlsrpt.example.com), for the DNS records the dashboard suggests; empty = the browser's address"),
	K(log_level, CFG_STR, 0, 0, "info", "error, warn, info or debug"),
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* Which keys were set on the command line (the file must not override them). */
static unsigned char cfg_from_cli[CFG_NKEYS];
static unsigned char cfg_list_touched[CFG_NKEYS]; /* list cleared once by this source */

static const struct cfg_key *
cfg_find(const char *name, size_t *idx)
{
	char norm[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	if (name[i] != '\0')
		return NULL;
	norm[i] = '\0';
	for (i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, norm) == 0) {
			if (idx != NULL)
				*idx = i;
			return &cfg_keys[i];
		}
	return NULL;
}

int
cfg_is_key(const char *name)
{
	return cfg_find(name, NULL) != NULL;
}

static void
list_clear(struct cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_add(struct cfg_list *l, const char *s, size_t len, char *err, size_t errlen)
{
	char **nv;

	if (l->n >= CFG_LIST_MAX) {
		snprintf(err, errlen, "more than %d values", CFG_LIST_MAX);
		return -1;
	}
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
		goto oom;
	l->v = nv;
	if ((l->v[l->n] = strndup(s, len)) == NULL)
		goto oom;
	l->n++;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int
parse_uint(const char *s, uint64_t *out, int sized)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (sized && *end != '\0') {
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = KiB; break;
		case 'M': mult = MiB; break;
		case 'G': mult = GiB; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

static int
cfg_apply(struct config *c, const struct cfg_key *k, size_t idx, const char *value, char *err,
    size_t errlen)
{
	void *dst = (char *)c + k->offset;
	uint64_t v;

	switch (k->type) {
	case CFG_STR: {
		char *s = strdup(value);
		if (s == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*(char **)dst);
		*(char **)dst = s;
		return 0;
	}
	case CFG_UINT:
	case CFG_SIZE:
		if (parse_uint(value, &v, k->type == CFG_SIZE) != 0 || v < k->min || v > k->max) {
			snprintf(err, errlen, "%s: '%s' is not %s in %llu..%llu", k->name, value,
			    k->type == CFG_SIZE ? "a size (K, M, G suffixes)" : "a whole number",
			    (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		if (k->type == CFG_SIZE)
			*(size_t *)dst = (size_t)v;
		else
			*(unsigned *)dst = (unsigned)v;
		return 0;
	case CFG_LIST: {
		struct cfg_list *l = dst;
		const char *p = value;

		if (!cfg_list_touched[idx]) {
			list_clear(l);
			cfg_list_touched[idx] = 1;
		}
		while (*p != '\0') {
			size_t n;

			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			n = strcspn(p, " \t,");
			if (n > 0 && list_add(l, p, n, err, errlen) != 0)
				return -1;
			p += n;
		}
		return 0;
	}
	}
	return -1;
}

int
cfg_set(struct config *c, const char *key, const char *value, int from_cli, char *err,
    size_t errlen)
{
	size_t idx;
	const struct cfg_key *k = cfg_find(key, &idx);

	if (k == NULL) {
		snprintf(err, errlen, "unknown key '%s'", key);
		return -1;
	}
	if (!from_cli && cfg_from_cli[idx])
		return 0;
	if (from_cli && !cfg_from_cli[idx]) {
		cfg_from_cli[idx] = 1;
		cfg_list_touched[idx] = 0; /* the command line replaces the list */
	}
	return cfg_apply(c, k, idx, value, err, errlen);
}

int
cfg_init(struct config *c)
{
	char err[128];

	memset(c, 0, sizeof(*c));
	memset(cfg_from_cli, 0, sizeof(cfg_from_cli));
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		cfg_list_touched[i] = 0;
		if (cfg_apply(c, &cfg_keys[i], i, cfg_keys[i].def, err, sizeof(err)) != 0)
			return -1;
		cfg_list_touched[i] = 0; /* the first file or CLI value replaces the default */
	}
	return 0;
}

void
cfg_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		void *dst = (char *)c + cfg_keys[i].offset;

		if (cfg_keys[i].type == CFG_STR) {
			free(*(char **)dst);
			*(char **)dst = NULL;
		} else if (cfg_keys[i].type == CFG_LIST) {
			list_clear(dst);
		}
	}
}

int
cfg_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[CFG_LINE_MAX], why[256];
	unsigned lineno = 0;
	int rc = -1;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *key, *val, *end;
		size_t n = strlen(line);

		lineno++;
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno, CFG_LINE_MAX - 2);
			goto out;
		}
		if ((end = strchr(p, '#')) != NULL)
			*end = '\0';
		while (isspace((unsigned char)*p))
			p++;
		n = strlen(p);
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			p[--n] = '\0';
		if (*p == '\0')
			continue;
		key = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		if (*val == '\0' && (cfg_find(key, NULL) == NULL || cfg_find(key, NULL)->type != CFG_LIST)) {
			snprintf(err, errlen, "%s:%u: key '%s' has no value", path, lineno, key);
			goto out;
		}
		if (cfg_set(c, key, val, 0, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

/* 1 when http_listen is a loopback address (127.0.0.0/8 or [::1]), else 0. */
static int
cfg_listen_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	char err[160];

	return net_parse_listen(listen, &ss, NULL, err, sizeof(err)) == 0 && net_is_loopback(&ss);
}

/* api_auth, api_auth_force_off, metrics_auth: their values, and no open API off loopback. */
static int
cfg_finish_auth(struct config *c, char *err, size_t errlen)
{
	if (strcmp(c->api_auth, "on") != 0 && strcmp(c->api_auth, "off") != 0) {
		snprintf(err, errlen, "api_auth: '%s' is not on or off", c->api_auth);
		return -1;
	}
	if (strcmp(c->metrics_auth, "on") != 0 && strcmp(c->metrics_auth, "off") != 0) {
		snprintf(err, errlen, "metrics_auth: '%s' is not on or off", c->metrics_auth);
		return -1;
	}
	if (strcmp(c->api_auth_force_off, "yes") != 0 && strcmp(c->api_auth_force_off, "no") != 0) {
		snprintf(err, errlen, "api_auth_force_off: '%s' is not yes or no",
		    c->api_auth_force_off);
		return -1;
	}
	if (strcmp(c->api_auth, "off") == 0 && strcmp(c->api_auth_force_off, "yes") != 0 &&
	    !cfg_listen_loopback(c->http_listen)) {
		snprintf(err, errlen, "api_auth off on %s (not loopback) would open the API to the "
		    "network: create tokens (tlsrptd token create), or set api_auth_force_off yes",
		    c->http_listen);
		return -1;
	}
	return 0;
}

int
cfg_finish(struct config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->allowed_domains.n; i++) {
		char d[NORM_DOMAIN_MAX];
		char *s = c->allowed_domains.v[i];

		if (norm_domain(s, strlen(s), d, NULL) != 0) {
			snprintf(err, errlen, "allowed_domains: '%s' is not a domain name", s);
			return -1;
		}
		if (strcmp(d, s) != 0) {
			char *nd = strdup(d);
			if (nd == NULL) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			free(s);
			c->allowed_domains.v[i] = nd;
		}
	}
	if (strcmp(c->dkim, "require") != 0 && strcmp(c->dkim, "record") != 0 &&
	    strcmp(c->dkim, "off") != 0) {
		snprintf(err, errlen, "dkim: '%s' is not require, record or off", c->dkim);
		return -1;
	}
	if (c->public_url[0] != '\0' && ((strncmp(c->public_url, "https://", 8) != 0 &&
	    strncmp(c->public_url, "http://", 7) != 0) ||
	    c->public_url[strcspn(c->public_url, " \t\r\n\"<>\\")] != '\0')) {
		snprintf(err, errlen, "public_url: '%s' must be an https:// (or http://) URL without "
		    "blanks or quotes", c->public_url);
		return -1;
	}
	if (c->ingest_paths.n == 0) {
		snprintf(err, errlen, "ingest_paths: at least one path is needed");
		return -1;
	}
	for (size_t i = 0; i < c->ingest_paths.n; i++)
		if (c->ingest_paths.v[i][0] != '/' || strlen(c->ingest_paths.v[i]) > 100) {
			snprintf(err, errlen, "ingest_paths: '%s' must start with '/' (at most 100 bytes)",
			    c->ingest_paths.v[i]);
			return -1;
		}
	if (c->ingest_paths.n > 16) {
		snprintf(err, errlen, "ingest_paths: at most 16 paths");
		return -1;
	}
	if (c->max_body_size > c->max_report_size) {
		snprintf(err, errlen, "max_body_size (%zu) must not exceed max_report_size (%zu)",
		    c->max_body_size, c->max_report_size);
		return -1;
	}
	if (c->db_path[0] == '\0') {
		snprintf(err, errlen, "db_path is empty");
		return -1;
	}
	return cfg_finish_auth(c, err, errlen);
}

void
cfg_print(const struct config *c, FILE *out)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		const void *src = (const char *)c + k->offset;

		fprintf(out, "# %s (default: %s)\n", k->help, k->def[0] ? k->def : "empty");
		/* An empty string cannot be written as a value: left commented out (its default). */
		fprintf(out, "%s%s", k->type == CFG_STR && **(char *const *)src == '\0' ? "#" : "",
		    k->name);
		switch (k->type) {
		case CFG_STR:
			fprintf(out, " %s\n", *(char *const *)src);
			break;
		case CFG_UINT:
			fprintf(out, " %u\n", *(const unsigned *)src);
			break;
		case CFG_SIZE:
			fprintf(out, " %zu\n", *(const size_t *)src);
			break;
		case CFG_LIST: {
			const struct cfg_list *l = src;
			for (size_t j = 0; j < l->n; j++)
				fprintf(out, " %s", l->v[j]);
			fputc('\n', out);
			break;
		}
		}
	}
}

void
cfg_print_help(FILE *out)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		char opt[64];
		size_t j;

		for (j = 0; cfg_keys[i].name[j] != '\0' && j < sizeof(opt) - 1; j++)
			opt[j] = cfg_keys[i].name[j] == '_' ? '-' : cfg_keys[i].name[j];
		opt[j] = '\0';
		fprintf(out, "  --%-22s %s (default: %s)\n", opt, cfg_keys[i].help,
		    cfg_keys[i].def[0] ? cfg_keys[i].def : "empty");
	}
}
