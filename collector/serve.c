/* tlsrptd serve: start-up and shutdown order of the daemon. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "collector/cmd.h"
#include "collector/log.h"
#include "web/http.h"

/* Creates the database's parent folder if it is missing (one level, mode 0750). */
static void
ensure_parent_dir(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return;
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0750) == 0)
		log_info("mkdir", "path=%s", dir);
}

int
cmd_serve(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct pipeline_options po;
	struct pipeline *pl = NULL;
	struct store *st = NULL;
	struct http_server *http = NULL;
	struct http_options ho;
	sigset_t sigs;
	char err[512];
	int rc, sig = 0;

	if ((rc = cli_parse("serve", argc, argv, &cfg, &args, 0)) != 0)
		goto out;

	/* Signals are taken by sigwait() in this thread only; every thread started later inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rpt_global_init();
	ensure_parent_dir(cfg.db_path);
	if ((st = cli_open_store(&cfg)) == NULL) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	cli_pipeline_options(&cfg, &po);
	if ((pl = pipeline_new(st, &po)) == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	ho = (struct http_options){
		.listen = cfg.http_listen,
		.ingest_paths = (const char *const *)cfg.ingest_paths.v,
		.n_ingest_paths = cfg.ingest_paths.n,
		.max_body = cfg.max_body_size,
		.timeout_s = cfg.http_timeout,
		.max_connections = cfg.http_max_connections,
		.threads = cfg.http_threads,
		.retry_after_s = cfg.retry_after,
	};
	if ((http = http_start(&ho, pl, st, err, sizeof(err))) == NULL) {
		log_error("http_start", "error=\"%s\"", err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	log_info("listening", "proto=http addr=%s port=%u db=%s domains=%zu version=%s",
	    cfg.http_listen, http_port(http), cfg.db_path, cfg.allowed_domains.n, TLSRPTD_VERSION);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("sighup", "action=ignored reason=\"restart to reload the config\"");
			continue;
		}
		break;
	}
	log_info("shutdown", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
	/*
	 * Stop accepting, let the requests in flight finish (their commits resume them), then
	 * stop the server, then the writer. If requests are still suspended at the deadline (the
	 * database is stuck), closing the store answers them (temporary) and gives them one more
	 * second; a server that still has suspended connections cannot be stopped safely, so it is
	 * left to the process exit.
	 */
	http_quiesce(http);
	if (http_drain(http, (int)cfg.shutdown_timeout * 1000) != 0) {
		log_warn("shutdown", "timeout=%u reason=\"requests still in flight\"", cfg.shutdown_timeout);
		store_close(st);
		st = NULL;
		if (http_drain(http, 1000) != 0) {
			log_error("shutdown", "reason=\"connections still suspended: left to the exit\"");
			http = NULL;
		}
	}
	rc = 0;
out:
	http_stop(http);
	store_close(st); /* commits whatever is still queued */
	pipeline_free(pl);
	if (rc == 0)
		log_info("stopped", "status=0");
	cfg_free(&cfg);
	return rc;
}
