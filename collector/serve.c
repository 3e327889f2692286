/* tlsrptd serve: start-up and shutdown order of the daemon. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "collector/cmd.h"
#include "collector/log.h"
#include "ingest/smtp.h"
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

/* CLOCK_MONOTONIC in milliseconds. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (mono_ms), at least 0. */
static int
ms_left(int64_t deadline)
{
	int64_t now = mono_ms();

	return deadline > now ? (int)(deadline - now) : 0;
}

/*
 * Starts the SMTP or LMTP listener the config names (none when it says "off"). 0 with *out set
 * (NULL when off), or -1 (logged). A listener that cannot bind stops the start, as for HTTP.
 */
static int
start_mail_listener(const struct config *cfg, struct pipeline *pl, int lmtp,
    struct smtp_server **out)
{
	const char *listen = lmtp ? cfg->lmtp_listen : cfg->smtp_listen;
	const char *proto = lmtp ? "lmtp" : "smtp";
	struct smtp_options so = {
		.listen = listen,
		.lmtp = lmtp,
		.hostname = cfg->smtp_hostname,
		.recipients = (const char *const *)cfg->smtp_recipients.v,
		.n_recipients = cfg->smtp_recipients.n,
		.tls_cert = cfg->tls_cert,
		.tls_key = cfg->tls_key,
		.max_message = cfg->smtp_max_message,
		.max_recipients = cfg->smtp_max_recipients,
		.max_connections = cfg->smtp_max_connections,
		.timeout_s = cfg->smtp_timeout,
		.max_errors = cfg->smtp_max_errors,
	};
	char err[512];

	*out = NULL;
	if (smtp_listen_off(listen))
		return 0;
	if ((*out = smtp_start(&so, pl, err, sizeof(err))) == NULL) {
		log_error("smtp_start", "proto=%s error=\"%s\"", proto, err);
		return -1;
	}
	return 0;
}

static void
log_mail_listener(const struct config *cfg, const struct smtp_server *s, int lmtp)
{
	if (s == NULL)
		return;
	log_info("listening", "proto=%s addr=%s port=%u starttls=%s recipients=%zu",
	    lmtp ? "lmtp" : "smtp", lmtp ? cfg->lmtp_listen : cfg->smtp_listen, smtp_port(s),
	    smtp_starttls_offered(s) ? "yes" : "no", cfg->smtp_recipients.n);
}

/*
 * What GET /api/v1/setup tells the dashboard about this deployment: the served domains and
 * the rua URIs to publish (mailto: the configured recipients, "@domain" as tlsrpt@domain;
 * https: public_url with each ingest path). A JSON object text (caller frees), NULL on OOM.
 */
static char *
setup_facts(const struct config *cfg)
{
	json_t *o = json_object(), *doms = json_array(), *mail = json_array(),
	    *https = json_array(), *paths = json_array();
	int mail_on = strcmp(cfg->smtp_listen, "off") != 0 && cfg->smtp_listen[0] != '\0';
	char *out;

	mail_on |= strcmp(cfg->lmtp_listen, "off") != 0 && cfg->lmtp_listen[0] != '\0';
	for (size_t i = 0; i < cfg->allowed_domains.n; i++)
		json_array_append_new(doms, json_string(cfg->allowed_domains.v[i]));
	for (size_t i = 0; mail_on && i < cfg->smtp_recipients.n; i++) {
		const char *r = cfg->smtp_recipients.v[i];
		char addr[300];

		snprintf(addr, sizeof(addr), "%s%s", r[0] == '@' ? "tlsrpt" : "", r);
		json_array_append_new(mail, json_string(addr));
	}
	for (size_t i = 0; i < cfg->ingest_paths.n; i++) {
		const char *u = cfg->public_url;
		size_t ul = strlen(u);
		char url[400];

		json_array_append_new(paths, json_string(cfg->ingest_paths.v[i]));
		if (ul == 0)
			continue;
		if (u[ul - 1] == '/')
			ul--;
		snprintf(url, sizeof(url), "%.*s%s", (int)ul, u, cfg->ingest_paths.v[i]);
		json_array_append_new(https, json_string(url));
	}
	json_object_set_new(o, "domains", doms);
	json_object_set_new(o, "rua_mailto", mail);
	json_object_set_new(o, "rua_https", https);
	json_object_set_new(o, "ingest_paths", paths);
	json_object_set_new(o, "public_url", cfg->public_url[0] ? json_string(cfg->public_url) :
	    json_null());
	json_object_set_new(o, "dkim", json_string(cfg->dkim));
	json_object_set_new(o, "smtp", json_boolean(mail_on));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

int
cmd_serve(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct pipeline *pl = NULL;
	struct dkim_keys *keys = NULL;
	struct store *st = NULL;
	struct http_server *http = NULL;
	char *setup = NULL;
	struct http_options ho;
	struct smtp_server *smtp = NULL, *lmtp = NULL;
	sigset_t sigs;
	char err[512];
	int rc, sig = 0, late, leave_store = 0;
	int64_t deadline;

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
	if ((rc = cli_pipeline_open(&cfg, st, &pl, &keys)) != 0)
		goto out;
	ho = (struct http_options){
		.listen = cfg.http_listen,
		.ingest_paths = (const char *const *)cfg.ingest_paths.v,
		.n_ingest_paths = cfg.ingest_paths.n,
		.max_body = cfg.max_body_size,
		.timeout_s = cfg.http_timeout,
		.max_connections = cfg.http_max_connections,
		.threads = cfg.http_threads,
		.retry_after_s = cfg.retry_after,
		.api_auth_off = strcmp(cfg.api_auth, "off") == 0,
		.metrics_auth_off = strcmp(cfg.metrics_auth, "off") == 0,
		.setup_json = setup = setup_facts(&cfg),
	};
	if ((http = http_start(&ho, pl, st, err, sizeof(err))) == NULL) {
		log_error("http_start", "error=\"%s\"", err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if (start_mail_listener(&cfg, pl, 0, &smtp) != 0 || start_mail_listener(&cfg, pl, 1, &lmtp) != 0) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	/* Logged once every listener is bound: a "listening" line means the daemon is up. */
	log_info("listening", "proto=http addr=%s port=%u db=%s domains=%zu version=%s",
	    cfg.http_listen, http_port(http), cfg.db_path, cfg.allowed_domains.n, TLSRPTD_VERSION);
	log_mail_listener(&cfg, smtp, 0);
	log_mail_listener(&cfg, lmtp, 1);

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
	 * Stop accepting (HTTP, SMTP, LMTP), let the requests in flight and the sessions inside
	 * DATA finish (their commits resume them; idle SMTP sessions are told 421 at once), then
	 * stop the servers, then the writer. If some are still busy at the deadline (the database
	 * is stuck, or a client sends its message slowly), SMTP sessions are cut off (no new
	 * store request; nothing partial is ever stored), stopping the store answers what is
	 * queued (temporary) and everyone gets one more second; a server that still has
	 * suspended connections or sessions cannot be freed safely, so it is left to the exit,
	 * and so is the store they may still call (stopped: it only answers temporary).
	 */
	http_quiesce(http);
	smtp_quiesce(smtp);
	smtp_quiesce(lmtp);
	deadline = mono_ms() + (int64_t)cfg.shutdown_timeout * 1000;
	late = http_drain(http, ms_left(deadline)) != 0;
	late |= smtp_drain(smtp, ms_left(deadline)) != 0;
	late |= smtp_drain(lmtp, ms_left(deadline)) != 0;
	if (late) {
		log_warn("shutdown", "timeout=%u reason=\"requests still in flight\"", cfg.shutdown_timeout);
		smtp_abort(smtp);
		smtp_abort(lmtp);
		store_stop(st);
		if (http_drain(http, 1000) != 0) {
			log_error("shutdown", "reason=\"connections still suspended: left to the exit\"");
			http = NULL;
			leave_store = 1;
		}
	}
	rc = 0;
out:
	http_stop(http);
	if (smtp_stop(smtp) != 0) {
		log_error("shutdown", "proto=smtp reason=\"sessions still running: left to the exit\"");
		leave_store = 1;
	}
	if (smtp_stop(lmtp) != 0) {
		log_error("shutdown", "proto=lmtp reason=\"sessions still running: left to the exit\"");
		leave_store = 1;
	}
	if (leave_store)
		store_stop(st);  /* still reachable from what was left running: not freed */
	else
		store_close(st); /* commits whatever is still queued */
	if (!leave_store) {
		cli_pipeline_close(pl, keys); /* else still reachable from what was left running */
	}
	if (rc == 0)
		log_info("stopped", "status=0");
	if (!leave_store) {
		cfg_free(&cfg); /* else the servers left running still point into it */
		free(setup);
	}
	return rc;
}
