/*
 * cfg: the configuration of tlsrptd, table-driven.
 *
 * One table (cfg.c) names every key with its type, bounds, default and help. A config file
 * holds "key value" lines ('#' starts a comment; list keys may repeat or hold several
 * space-separated values); errors name file:line. Every key can also be given on the command
 * line as --key-name VALUE or --key-name=VALUE (for key_name), which overrides the file; a list
 * given on the command line replaces the file's list.
 */
#ifndef TLSRPT_CFG_H
#define TLSRPT_CFG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_LIST_MAX 1024 /* most values a list key holds */

struct cfg_list {
	char **v;
	size_t n;
};

struct config {
	char *db_path;
	char *http_listen;
	struct cfg_list ingest_paths;
	struct cfg_list allowed_domains;   /* normalised by cfg_finish() */
	size_t max_body_size;
	size_t max_report_size;
	unsigned max_gzip_ratio;
	unsigned http_timeout;
	unsigned http_max_connections;
	unsigned http_threads;
	char *api_auth;                    /* "on" / "off" (checked by cfg_finish) */
	char *api_auth_force_off;          /* "yes": api_auth off allowed off loopback */
	char *metrics_auth;                /* "on" / "off" */
	unsigned retry_after;
	unsigned shutdown_timeout;
	unsigned db_busy_timeout;
	unsigned db_batch_max;
	unsigned db_queue_max;
	unsigned db_readers;
	char *smtp_listen;                 /* "", "off": no SMTP listener */
	char *lmtp_listen;                 /* "", "off": no LMTP listener */
	char *smtp_hostname;               /* "auto": gethostname() */
	struct cfg_list smtp_recipients;   /* user@domain or @domain; empty = every recipient */
	char *tls_cert;
	char *tls_key;
	size_t smtp_max_message;
	unsigned smtp_max_recipients;
	unsigned smtp_max_connections;
	unsigned smtp_timeout;
	unsigned smtp_max_errors;
	char *dkim;                        /* "require", "record", "off" (checked by cfg_finish) */
	char *dkim_key_file;
	char *dkim_resolver;
	unsigned dkim_dns_timeout;
	char *public_url;
	char *log_level;
};

/* Sets every key to its default. 0, or -1 on OOM. */
int cfg_init(struct config *c);

/* Frees what the config holds. Accepts NULL. */
void cfg_free(struct config *c);

/*
 * Reads a config file over c. 0, or -1 with "FILE:LINE: reason" in err. Keys set on the
 * command line before (marked by cfg_set with from_cli) are not overridden.
 */
int cfg_load_file(struct config *c, const char *path, char *err, size_t errlen);

/*
 * Sets one key by name (underscores or dashes) from text. from_cli marks it as given on the
 * command line. 0, or -1 with a reason in err (unknown key, bad value, out of bounds).
 */
int cfg_set(struct config *c, const char *key, const char *value, int from_cli, char *err,
    size_t errlen);

/* Checks cross-key rules and normalises values (domains). 0, or -1 with a reason in err. */
int cfg_finish(struct config *c, char *err, size_t errlen);

/* 1 if name (dashes or underscores) is a config key, else 0. */
int cfg_is_key(const char *name);

/* Writes the effective configuration in file syntax, every key, with its help as comments. */
void cfg_print(const struct config *c, FILE *out);

/* Writes the option list for --help. */
void cfg_print_help(FILE *out);

#endif
