/*
 * cmd: the subcommands of tlsrptd. Each takes the arguments after its name and returns the
 * process exit status (sysexits.h codes: 0, 64 usage, 65 data, 66 no input, 69/70/75 ...).
 */
#ifndef TLSRPT_CMD_H
#define TLSRPT_CMD_H

#include "collector/cfg.h"
#include "ingest/pipeline.h"
#include "storage/store.h"

#define CLI_FILES_MAX 4096

/* What the common option parser found. */
struct cli_args {
	const char *config_file;       /* -c FILE / --config FILE */
	const char *files[CLI_FILES_MAX];
	int n_files;
	int json;                      /* --json */
	int check;                     /* --check (config) */
};

/*
 * Parses argv (after the subcommand name) into args and config overrides, then loads the
 * config file if one was named, then cfg_finish(). --help prints usage (with the config keys)
 * and exits 0; --version prints the version and exits 0. Returns 0, or an exit status (64 for
 * a usage error, 78 for a config error) after printing the reason on stderr.
 */
int cli_parse(const char *cmd, int argc, char **argv, struct config *cfg, struct cli_args *args,
    int takes_files);

/* Opens the store the config names; NULL (logged) on failure. */
struct store *cli_open_store(const struct config *cfg);

/*
 * The pipeline options the config implies (borrowing its domain list), with the DKIM key
 * source in *keys (NULL when dkim is off; the caller frees it with dkim_keys_free() after the
 * pipeline). 0, or -1 after printing why (a bad key file or resolver address).
 */
struct dkim_keys;
int cli_pipeline_options(const struct config *cfg, struct pipeline_options *po,
    struct dkim_keys **keys);

/*
 * The pipeline the config implies, storing into st (NULL: a pipeline that only checks), in
 * *pl, with its DKIM key source in *keys. 0, or an exit status (EX_CONFIG, EX_OSERR) after
 * printing why. Release both with cli_pipeline_close() (also after a failure).
 */
int cli_pipeline_open(const struct config *cfg, struct store *st, struct pipeline **pl,
    struct dkim_keys **keys);
void cli_pipeline_close(struct pipeline *pl, struct dkim_keys *keys);

int cmd_serve(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_import(int argc, char **argv);   /* collector/import.c */
int cmd_token(int argc, char **argv);    /* collector/token.c */
int cmd_export(int argc, char **argv);   /* collector/export.c */
int cmd_quarantine(int argc, char **argv); /* collector/quarantine.c */

/* Prints the top-level usage. */
void cmd_usage(FILE *out);

#endif
