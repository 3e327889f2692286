#include "ingest/smtp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "collector/log.h"
#include "collector/net.h"

/*
 * Limits. Lines: RFC 5321 4.5.3.1 allows 512 octets for a command line and 1000 for a text
 * line (CRLF included). Commands are held to 1000 (some clients send long MAIL parameters),
 * beyond that: 500 5.5.2. Text lines in DATA over 1000 are tolerated (base64 in one line, long
 * HTML lines are common in real reports) up to SMTP_DATA_LINE_MAX; a longer line makes the
 * message refused after its final "." (500 5.5.2), nothing is stored.
 */
#define SMTP_LINE_MAX        1000                    /* command line, CRLF included */
#define SMTP_DATA_LINE_MAX   (64 * 1024)             /* text line in DATA, CRLF included */
#define SMTP_DISCARD_MAX     ((size_t)64 * 1024 * 1024) /* bytes dropped (oversize message or
                                                      * line) before we give up and close */
#define SMTP_PATH_MAX        256                     /* reverse or forward path (4.5.3.1.3) */
#define SMTP_HELO_MAX        255                     /* domain (4.5.3.1.2) */
#define SMTP_ECHO_MAX        100                     /* client text echoed in a reply */
#define SMTP_VERB_MAX        16
#define SMTP_OUT_HIGH        (16 * 1024)             /* replies queued before they are sent */
#define SMTP_OUT_MAX         (4 * 1024 * 1024)       /* hard cap on queued replies */
#define SMTP_READ_CHUNK      (16 * 1024)             /* one read from the socket */
#define SMTP_BACKLOG         128
#define SMTP_TLS_NAME_MAX    96
#define SMTP_HOSTNAME_MAX    255
#define SMTP_ACCEPT_PAUSE_MS 100                     /* after accept() fails for lack of fds */
#define SMTP_STOP_GRACE_MS   1000                    /* smtp_stop: wait for aborted sessions */
#define SMTP_LINGER_MS       1000                    /* closing: read what the client still sends */
#define SMTP_LINGER_MAX      (256 * 1024)

/* ==== the protocol engine ================================================================ */

enum proto_state {
	PS_FRESH = 0,   /* no HELO/EHLO/LHLO yet (also right after STARTTLS) */
	PS_READY,       /* greeted, no transaction */
	PS_MAIL,        /* MAIL accepted */
	PS_RCPT,        /* at least one RCPT accepted */
	PS_DATA,        /* between 354 and the final "." */
	PS_TLS_WAIT,    /* 220 to STARTTLS sent, waiting for the handshake */
	PS_CLOSED
};

enum msg_err { MSG_OK = 0, MSG_TOO_BIG, MSG_LONG_LINE, MSG_NOMEM };

enum smtp_verb {
	V_UNKNOWN = 0, V_HELO, V_EHLO, V_LHLO, V_MAIL, V_RCPT, V_DATA, V_RSET, V_NOOP, V_QUIT,
	V_VRFY, V_EXPN, V_HELP, V_STARTTLS
};

static const struct {
	const char *name;
	enum smtp_verb verb;
} smtp_verbs[] = {
	{ "HELO", V_HELO }, { "EHLO", V_EHLO }, { "LHLO", V_LHLO }, { "MAIL", V_MAIL },
	{ "RCPT", V_RCPT }, { "DATA", V_DATA }, { "RSET", V_RSET }, { "NOOP", V_NOOP },
	{ "QUIT", V_QUIT }, { "VRFY", V_VRFY }, { "EXPN", V_EXPN }, { "HELP", V_HELP },
	{ "STARTTLS", V_STARTTLS },
};

struct smtp_proto {
	struct smtp_proto_options opt;
	enum proto_state st;
	int esmtp;                      /* EHLO or LHLO: extensions may be used */
	int tls;
	char tls_version[SMTP_TLS_NAME_MAX];
	char tls_cipher[SMTP_TLS_NAME_MAX];
	char helo[SMTP_HELO_MAX + 1];
	char mail_from[SMTP_PATH_MAX + 1];
	char **rcpts;                   /* max_recipients slots */
	size_t n_rcpts;
	struct buf line;                /* the line being assembled */
	int overflow;                   /* the current line went over its cap: dropping to LF */
	size_t dropped;                 /* bytes dropped for the current long line or message */
	struct buf msg;                 /* the message in DATA */
	enum msg_err msg_err;
	size_t msg_bytes;               /* bytes of the message seen (dropped ones included) */
	unsigned errors;
	const char *close_reason;
};

/* Writes s[0..n) into dst as printable ASCII ('?' for anything else), cut to fit. */
static void
printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < dstlen; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

static void
reply(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one reply line and CRLF; errors stick in out->err (checked by the caller). */
static void
reply(struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_append(out, "\r\n", 2);
}

static void
transaction_reset(struct smtp_proto *p)
{
	for (size_t i = 0; i < p->n_rcpts; i++)
		free(p->rcpts[i]);
	p->n_rcpts = 0;
	p->mail_from[0] = '\0';
	buf_free(&p->msg);
	p->msg_err = MSG_OK;
	p->msg_bytes = 0;
	p->dropped = 0;
	if (p->st == PS_MAIL || p->st == PS_RCPT || p->st == PS_DATA)
		p->st = PS_READY;
}

struct smtp_proto *
smtp_proto_new(const struct smtp_proto_options *opt)
{
	struct smtp_proto *p;

	if (opt == NULL || opt->deliver == NULL || opt->hostname == NULL)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->opt = *opt;
	if (p->opt.max_recipients == 0)
		p->opt.max_recipients = 1;
	if ((p->rcpts = calloc(p->opt.max_recipients, sizeof(*p->rcpts))) == NULL) {
		free(p);
		return NULL;
	}
	buf_init(&p->line, SMTP_DATA_LINE_MAX);
	buf_init(&p->msg, p->opt.max_message);
	p->st = PS_FRESH;
	return p;
}

void
smtp_proto_free(struct smtp_proto *p)
{
	if (p == NULL)
		return;
	transaction_reset(p);
	free(p->rcpts);
	buf_free(&p->line);
	free(p);
}

int
smtp_proto_greet(struct smtp_proto *p, struct buf *out)
{
	reply(out, "220 %s %s tlsrptd ready", p->opt.hostname, p->opt.lmtp ? "LMTP" : "ESMTP");
	return out->err;
}

int
smtp_proto_in_data(const struct smtp_proto *p)
{
	return p->st == PS_DATA;
}

const char *
smtp_proto_close_reason(const struct smtp_proto *p)
{
	return p->st == PS_CLOSED ? p->close_reason : NULL;
}

void
smtp_proto_tls_started(struct smtp_proto *p, const char *version, const char *cipher)
{
	transaction_reset(p);
	p->st = PS_FRESH;
	p->esmtp = 0;
	p->helo[0] = '\0';
	p->tls = 1;
	printable(p->tls_version, sizeof(p->tls_version), version ? version : "",
	    version ? strlen(version) : 0);
	printable(p->tls_cipher, sizeof(p->tls_cipher), cipher ? cipher : "",
	    cipher ? strlen(cipher) : 0);
	buf_reset(&p->line);
	p->overflow = 0;
}

static enum smtp_event
proto_close(struct smtp_proto *p, const char *why)
{
	p->st = PS_CLOSED;
	p->close_reason = why;
	return SMTP_EV_CLOSE;
}

/*
 * A bad command: the reply, and one more error; at max_errors a 421 follows and the session
 * closes.
 */
static enum smtp_event
bad(struct smtp_proto *p, struct buf *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum smtp_event
bad(struct smtp_proto *p, struct buf *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(out, fmt, ap);
	va_end(ap);
	buf_append(out, "\r\n", 2);
	p->errors++;
	if (p->opt.max_errors > 0 && p->errors >= p->opt.max_errors) {
		reply(out, "421 4.7.0 %s Error: too many errors, closing connection", p->opt.hostname);
		log_info("smtp_too_many_errors", "sid=%s errors=%u", p->opt.sid ? p->opt.sid : "-",
		    p->errors);
		return proto_close(p, "too-many-errors");
	}
	return SMTP_EV_NONE;
}

/* ---- command parsing ---- */

static int
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parses a path at s[0..n): "<mailbox>", "<@route,@route:mailbox>", "<>" or, leniently, a bare
 * mailbox up to the next space. The mailbox (route dropped, brackets removed) goes to out
 * (at most SMTP_PATH_MAX bytes); *end is the index just after the path. 0, or -1 for bad
 * syntax or a path too long.
 */
static int
parse_path(const char *s, size_t n, size_t *end, char *out, size_t outlen)
{
	size_t i = 0, o = 0;
	int bracket = 0, closed = 0, quoted = 0;

	if (n > 0 && s[0] == '<') {
		bracket = 1;
		i = 1;
		if (i < n && s[i] == '@') {
			/* A source route: accepted and ignored (RFC 5321 4.1.2, C). */
			while (i < n && s[i] != ':' && s[i] != '>')
				i++;
			if (i >= n || s[i] != ':')
				return -1;
			i++;
		}
	}
	for (; i < n; i++) {
		char c = s[i];

		if (quoted) {
			if (c == '\\' && i + 1 < n) {
				if (o + 2 >= outlen)
					return -1;
				out[o++] = c;
				out[o++] = s[++i];
				continue;
			}
			if (c == '"')
				quoted = 0;
		} else if (c == '"') {
			quoted = 1;
		} else if (bracket && c == '>') {
			closed = 1;
			i++;
			break;
		} else if (is_space(c)) {
			if (bracket)
				return -1;
			break;
		} else if (c == '<' || c == '>') {
			return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	if (quoted || (bracket && !closed) || (!bracket && o == 0))
		return -1;
	out[o] = '\0';
	*end = i;
	return 0;
}

/* "local@domain" with both parts non-empty (the local part may be quoted). */
static int
is_mailbox(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL && at != a && at[1] != '\0';
}

/* Case-blind prefix test on s[0..n). */
static int
has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && strncasecmp(s, prefix, pl) == 0;
}

/*
 * The ESMTP parameters after a MAIL path: SIZE=n and BODY=7BIT|8BITMIME. 0; or -1 with the
 * reply in why (a bad command); or 1 with a 552 in why when the announced size is over the
 * limit (not counted as a client error: the sender may well retry elsewhere).
 */
static int
mail_params(struct smtp_proto *p, const char *s, size_t n, char *why, size_t whylen)
{
	size_t i = 0;

	while (i < n) {
		size_t start, len;
		const char *kw;

		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && !is_space(s[i]))
			i++;
		kw = s + start;
		len = i - start;
		if (!p->esmtp) {
			snprintf(why, whylen, "555 5.5.4 Error: parameters need EHLO");
			return -1;
		}
		if (has_prefix(kw, len, "SIZE=")) {
			uint64_t v = 0;
			size_t j = 5;

			if (j >= len) {
				snprintf(why, whylen, "501 5.5.4 Error: bad SIZE value");
				return -1;
			}
			for (; j < len; j++) {
				if (!isdigit((unsigned char)kw[j])) {
					snprintf(why, whylen, "501 5.5.4 Error: bad SIZE value");
					return -1;
				}
				if (v <= (UINT64_MAX - 9) / 10)
					v = v * 10 + (uint64_t)(kw[j] - '0');
				else
					v = UINT64_MAX;
			}
			if (v > p->opt.max_message) {
				snprintf(why, whylen, "552 5.3.4 Error: message size exceeds the %zu-byte limit",
				    p->opt.max_message);
				return 1;
			}
		} else if (has_prefix(kw, len, "BODY=")) {
			if (!(len == 9 && strncasecmp(kw + 5, "7BIT", 4) == 0) &&
			    !(len == 13 && strncasecmp(kw + 5, "8BITMIME", 8) == 0)) {
				snprintf(why, whylen, "555 5.5.4 Error: unsupported BODY type");
				return -1;
			}
		} else {
			char q[SMTP_ECHO_MAX];

			printable(q, sizeof(q), kw, len);
			snprintf(why, whylen, "555 5.5.4 Error: unsupported parameter %s", q);
			return -1;
		}
	}
	return 0;
}

static int
rcpt_allowed(const struct smtp_proto *p, const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (p->opt.n_recipients == 0)
		return 1;
	for (size_t i = 0; i < p->opt.n_recipients; i++) {
		const char *r = p->opt.recipients[i];

		if (r[0] == '@' ? (at != NULL && strcasecmp(at, r) == 0) : strcasecmp(addr, r) == 0)
			return 1;
	}
	return 0;
}

static enum smtp_event
cmd_hello(struct smtp_proto *p, enum smtp_verb v, const char *arg, size_t alen, struct buf *out)
{
	char echo[SMTP_ECHO_MAX];

	if (p->opt.lmtp && v != V_LHLO)
		return bad(p, out, "500 5.5.1 Error: this is LMTP, say LHLO");
	if (!p->opt.lmtp && v == V_LHLO)
		return bad(p, out, "500 5.5.1 Error: this is SMTP, say EHLO or HELO");
	if (alen == 0)
		return bad(p, out, "501 5.5.4 Syntax: %s hostname", v == V_HELO ? "HELO" :
		    v == V_EHLO ? "EHLO" : "LHLO");
	printable(p->helo, sizeof(p->helo), arg, alen);
	transaction_reset(p);
	p->st = PS_READY;
	p->esmtp = v != V_HELO;
	printable(echo, sizeof(echo), arg, alen);
	if (v == V_HELO) {
		reply(out, "250 %s", p->opt.hostname);
		return SMTP_EV_NONE;
	}
	reply(out, "250-%s Hello %s", p->opt.hostname, echo);
	reply(out, "250-PIPELINING");
	reply(out, "250-SIZE %zu", p->opt.max_message);
	reply(out, "250-8BITMIME");
	if (p->opt.tls_available && !p->tls)
		reply(out, "250-STARTTLS");
	reply(out, "250 ENHANCEDSTATUSCODES");
	return SMTP_EV_NONE;
}

static enum smtp_event
cmd_mail(struct smtp_proto *p, const char *arg, size_t alen, struct buf *out)
{
	char path[SMTP_PATH_MAX + 1], why[SMTP_REPLY_MAX];
	size_t i = 5, end;
	int rc;

	if (p->st == PS_FRESH)
		return bad(p, out, "503 5.5.1 Error: send %s first", p->opt.lmtp ? "LHLO" : "HELO/EHLO");
	if (p->st != PS_READY)
		return bad(p, out, "503 5.5.1 Error: nested MAIL command");
	if (!has_prefix(arg, alen, "FROM:"))
		return bad(p, out, "501 5.5.4 Syntax: MAIL FROM:<address>");
	while (i < alen && is_space(arg[i]))
		i++;
	if (parse_path(arg + i, alen - i, &end, path, sizeof(path)) != 0 ||
	    (path[0] != '\0' && !is_mailbox(path)))
		return bad(p, out, "501 5.1.7 Error: bad sender address syntax");
	i += end;
	if (i < alen && !is_space(arg[i]))
		return bad(p, out, "501 5.1.7 Error: bad sender address syntax");
	rc = mail_params(p, arg + i, alen - i, why, sizeof(why));
	if (rc < 0)
		return bad(p, out, "%s", why);
	if (rc > 0) {
		reply(out, "%s", why);
		return SMTP_EV_NONE;
	}
	memcpy(p->mail_from, path, strlen(path) + 1);
	p->st = PS_MAIL;
	reply(out, "250 2.1.0 Ok");
	return SMTP_EV_NONE;
}

static enum smtp_event
cmd_rcpt(struct smtp_proto *p, const char *arg, size_t alen, struct buf *out)
{
	char path[SMTP_PATH_MAX + 1], echo[SMTP_ECHO_MAX];
	size_t i = 3, end;

	if (p->st != PS_MAIL && p->st != PS_RCPT)
		return bad(p, out, "503 5.5.1 Error: need MAIL command");
	if (!has_prefix(arg, alen, "TO:"))
		return bad(p, out, "501 5.5.4 Syntax: RCPT TO:<address>");
	while (i < alen && is_space(arg[i]))
		i++;
	if (parse_path(arg + i, alen - i, &end, path, sizeof(path)) != 0 ||
	    (!is_mailbox(path) && strcasecmp(path, "postmaster") != 0))
		return bad(p, out, "501 5.1.3 Error: bad recipient address syntax");
	i += end;
	while (i < alen && is_space(arg[i]))
		i++;
	if (i < alen)
		return bad(p, out, "555 5.5.4 Error: RCPT parameters are not supported");
	if (p->n_rcpts >= p->opt.max_recipients) {
		reply(out, "452 4.5.3 Error: too many recipients");
		return SMTP_EV_NONE;
	}
	printable(echo, sizeof(echo), path, strlen(path));
	if (!rcpt_allowed(p, path))
		return bad(p, out, "550 5.1.1 <%s>: recipient address rejected: not a report address here",
		    echo);
	if ((p->rcpts[p->n_rcpts] = strdup(path)) == NULL) {
		reply(out, "451 4.3.0 Error: out of memory");
		return SMTP_EV_NONE;
	}
	p->n_rcpts++;
	p->st = PS_RCPT;
	reply(out, "250 2.1.5 Ok");
	return SMTP_EV_NONE;
}

static enum smtp_event
cmd_data(struct smtp_proto *p, size_t alen, struct buf *out)
{
	if (alen > 0)
		return bad(p, out, "501 5.5.4 Syntax: DATA");
	if (p->st == PS_MAIL)
		return bad(p, out, "554 5.5.1 Error: no valid recipients");
	if (p->st != PS_RCPT)
		return bad(p, out, "503 5.5.1 Error: need RCPT command");
	buf_free(&p->msg);
	buf_init(&p->msg, p->opt.max_message);
	p->msg_err = MSG_OK;
	p->msg_bytes = 0;
	p->dropped = 0;
	p->st = PS_DATA;
	reply(out, "354 End data with <CR><LF>.<CR><LF>");
	return SMTP_EV_NONE;
}

static enum smtp_event
cmd_starttls(struct smtp_proto *p, size_t alen, struct buf *out)
{
	if (!p->opt.tls_available)
		return bad(p, out, "502 5.5.1 Error: STARTTLS not available");
	if (p->tls)
		return bad(p, out, "503 5.5.1 Error: TLS already active");
	if (alen > 0)
		return bad(p, out, "501 5.5.4 Syntax: STARTTLS");
	if (p->st == PS_FRESH)
		return bad(p, out, "503 5.5.1 Error: send %s first", p->opt.lmtp ? "LHLO" : "EHLO");
	transaction_reset(p);
	p->st = PS_TLS_WAIT;
	reply(out, "220 2.0.0 Ready to start TLS");
	return SMTP_EV_STARTTLS;
}

/* One complete command line s[0..n), its line end included. */
static enum smtp_event
command_line(struct smtp_proto *p, const char *s, size_t n, struct buf *out)
{
	char verb[SMTP_VERB_MAX];
	enum smtp_verb v = V_UNKNOWN;
	size_t vl = 0, i;
	const char *arg;
	size_t alen;

	if (n > 0 && s[n - 1] == '\n')
		n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return bad(p, out, "500 5.5.2 Error: invalid character in command");
	while (vl < n && !is_space(s[vl]))
		vl++;
	if (vl < sizeof(verb)) {
		memcpy(verb, s, vl);
		verb[vl] = '\0';
		for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
			if (strcasecmp(verb, smtp_verbs[i].name) == 0)
				v = smtp_verbs[i].verb;
	}
	arg = s + vl;
	alen = n - vl;
	while (alen > 0 && is_space(*arg)) {
		arg++;
		alen--;
	}
	while (alen > 0 && is_space(arg[alen - 1]))
		alen--;

	switch (v) {
	case V_HELO:
	case V_EHLO:
	case V_LHLO:
		return cmd_hello(p, v, arg, alen, out);
	case V_MAIL:
		return cmd_mail(p, arg, alen, out);
	case V_RCPT:
		return cmd_rcpt(p, arg, alen, out);
	case V_DATA:
		return cmd_data(p, alen, out);
	case V_RSET:
		transaction_reset(p);
		reply(out, "250 2.0.0 Ok");
		return SMTP_EV_NONE;
	case V_NOOP:
		reply(out, "250 2.0.0 Ok");
		return SMTP_EV_NONE;
	case V_QUIT:
		reply(out, "221 2.0.0 %s closing connection", p->opt.hostname);
		return proto_close(p, "quit");
	case V_VRFY:
		/* Neither confirms nor denies an address (RFC 5321 3.5.3). */
		reply(out, "252 2.5.0 Cannot VRFY users; send the message");
		return SMTP_EV_NONE;
	case V_EXPN:
		reply(out, "502 5.5.1 Error: EXPN not supported");
		return SMTP_EV_NONE;
	case V_HELP:
		reply(out, "214 2.0.0 Commands: %s MAIL RCPT DATA RSET NOOP QUIT%s",
		    p->opt.lmtp ? "LHLO" : "EHLO HELO", p->opt.tls_available ? " STARTTLS" : "");
		return SMTP_EV_NONE;
	case V_STARTTLS:
		return cmd_starttls(p, alen, out);
	case V_UNKNOWN:
		break;
	}
	return bad(p, out, "500 5.5.1 Error: command not recognized");
}

/* ---- DATA ---- */

/* Makes a reply line from the deliver callback safe: "NNN text", printable ASCII, bounded. */
static void
sanitize_reply(char *r, size_t rlen)
{
	size_t i;

	for (i = 0; r[i] != '\0' && i + 3 < rlen; i++)
		if ((unsigned char)r[i] < 0x20 || (unsigned char)r[i] >= 0x7f)
			r[i] = '?';
	r[i] = '\0';
	if (!(r[0] >= '2' && r[0] <= '5' && isdigit((unsigned char)r[1]) &&
	    isdigit((unsigned char)r[2]) && (r[3] == ' ' || r[3] == '\0')))
		snprintf(r, rlen, "451 4.3.0 Error: internal error, try again later");
}

static const char *
msg_err_name(enum msg_err e)
{
	switch (e) {
	case MSG_TOO_BIG: return "too-large";
	case MSG_LONG_LINE: return "line-too-long";
	case MSG_NOMEM: return "out-of-memory";
	case MSG_OK: break;
	}
	return "-";
}

/* The final "." arrived: deliver (or refuse) and answer, once per recipient in LMTP. */
static enum smtp_event
end_of_data(struct smtp_proto *p, struct buf *out)
{
	char r[SMTP_REPLY_MAX];
	size_t n = p->opt.lmtp ? p->n_rcpts : 1;

	switch (p->msg_err) {
	case MSG_TOO_BIG:
		snprintf(r, sizeof(r), "552 5.3.4 Error: message exceeds the %zu-byte limit",
		    p->opt.max_message);
		break;
	case MSG_LONG_LINE:
		snprintf(r, sizeof(r), "500 5.5.2 Error: message has a line longer than %d bytes",
		    SMTP_DATA_LINE_MAX);
		break;
	case MSG_NOMEM:
		snprintf(r, sizeof(r), "451 4.3.0 Error: out of memory, try again later");
		break;
	case MSG_OK: {
		struct smtp_delivery d = {
			.data = p->msg.data ? p->msg.data : "",
			.len = p->msg.len,
			.helo = p->helo,
			.mail_from = p->mail_from,
			.rcpts = (const char *const *)p->rcpts,
			.n_rcpts = p->n_rcpts,
			.tls_version = p->tls ? p->tls_version : NULL,
			.tls_cipher = p->tls ? p->tls_cipher : NULL,
		};

		r[0] = '\0';
		p->opt.deliver(p->opt.deliver_arg, &d, r, sizeof(r));
		sanitize_reply(r, sizeof(r));
		break;
	}
	}
	if (p->msg_err != MSG_OK)
		log_info("smtp_message", "sid=%s proto=%s verdict=refused reply=%.3s reason=%s bytes=%zu",
		    p->opt.sid ? p->opt.sid : "-", p->opt.lmtp ? "lmtp" : "smtp", r,
		    msg_err_name(p->msg_err), p->msg_bytes);
	for (size_t i = 0; i < n; i++)
		reply(out, "%s", r);
	if (r[0] == '2')
		p->errors = 0;
	transaction_reset(p);
	return SMTP_EV_NONE;
}

/* Stops keeping the message (the reason is given after the final "."). */
static void
msg_refuse(struct smtp_proto *p, enum msg_err why)
{
	if (p->msg_err == MSG_OK)
		p->msg_err = why;
	buf_free(&p->msg);
}

/* Counts dropped bytes; past SMTP_DISCARD_MAX the session gives up with a reply and closes. */
static enum smtp_event
drop(struct smtp_proto *p, size_t n, struct buf *out)
{
	p->dropped += n;
	if (p->dropped <= SMTP_DISCARD_MAX)
		return SMTP_EV_NONE;
	if (p->st == PS_DATA) {
		if (p->msg_err == MSG_TOO_BIG)
			reply(out, "552 5.3.4 Error: message exceeds the %zu-byte limit", p->opt.max_message);
		else
			reply(out, "500 5.5.2 Error: line too long");
		log_info("smtp_message", "sid=%s proto=%s verdict=refused reply=%s reason=%s bytes=%zu",
		    p->opt.sid ? p->opt.sid : "-", p->opt.lmtp ? "lmtp" : "smtp",
		    p->msg_err == MSG_TOO_BIG ? "552" : "500", msg_err_name(p->msg_err), p->msg_bytes);
	}
	reply(out, "421 4.7.0 %s Error: too much data, closing connection", p->opt.hostname);
	return proto_close(p, "too-much-data");
}

/* One complete line of DATA s[0..n), its line end included. */
static enum smtp_event
data_line(struct smtp_proto *p, const char *s, size_t n, struct buf *out)
{
	/* The end: "." alone on a line, ended by CRLF or a bare LF (never by a bare CR). */
	if (s[0] == '.' && ((n == 2 && s[1] == '\n') || (n == 3 && s[1] == '\r' && s[2] == '\n')))
		return end_of_data(p, out);
	if (s[0] == '.') {
		s++;
		n--;
	}
	p->msg_bytes += n;
	if (p->msg_err != MSG_OK)
		return drop(p, n, out);
	if (buf_append(&p->msg, s, n) != 0) {
		msg_refuse(p, p->msg.err == BUF_ERR_CAP ? MSG_TOO_BIG : MSG_NOMEM);
		return drop(p, n, out);
	}
	return SMTP_EV_NONE;
}

/*
 * Takes s[0..n), a piece of one line (complete: it ends with the LF). Lines are assembled in
 * p->line up to their cap; a longer line is dropped up to its LF.
 */
static enum smtp_event
take(struct smtp_proto *p, const char *s, size_t n, int complete, struct buf *out)
{
	size_t cap = p->st == PS_DATA ? SMTP_DATA_LINE_MAX : SMTP_LINE_MAX;
	enum smtp_event ev = SMTP_EV_NONE;

	if (!p->overflow) {
		size_t total = p->line.len + n;

		if (complete ? total <= cap : total < cap) {
			if (buf_append(&p->line, s, n) != 0) {
				reply(out, "421 4.3.0 %s Error: out of memory", p->opt.hostname);
				return proto_close(p, "out-of-memory");
			}
			if (!complete)
				return SMTP_EV_NONE;
			if (p->st == PS_DATA)
				ev = data_line(p, p->line.data, p->line.len, out);
			else
				ev = command_line(p, p->line.data, p->line.len, out);
			buf_reset(&p->line);
			return ev;
		}
		/* Over the cap: the line is dropped (what was kept so far included). */
		p->overflow = 1;
		n = total;
		buf_reset(&p->line);
		if (p->st == PS_DATA) {
			msg_refuse(p, MSG_LONG_LINE);
			p->msg_bytes += n;
		} else {
			p->dropped = 0;
			if ((ev = bad(p, out, "500 5.5.2 Error: line too long")) != SMTP_EV_NONE)
				return ev;
		}
	} else if (p->st == PS_DATA) {
		p->msg_bytes += n;
	}
	if ((ev = drop(p, n, out)) != SMTP_EV_NONE)
		return ev;
	if (complete) {
		p->overflow = 0;
		if (p->st != PS_DATA)
			p->dropped = 0;
	}
	return SMTP_EV_NONE;
}

enum smtp_event
smtp_proto_input(struct smtp_proto *p, const void *data, size_t len, size_t *used,
    struct buf *out)
{
	const char *s = data;
	size_t i = 0;
	enum smtp_event ev = SMTP_EV_NONE;

	*used = 0;
	if (p->st == PS_CLOSED)
		return SMTP_EV_CLOSE;
	if (p->st == PS_TLS_WAIT) {
		/* Nothing may be read as plaintext once STARTTLS was answered. */
		*used = len;
		return SMTP_EV_STARTTLS;
	}
	while (i < len && ev == SMTP_EV_NONE && out->len < SMTP_OUT_HIGH) {
		const char *lf = memchr(s + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (s + i)) + 1 : len - i;

		ev = take(p, s + i, n, lf != NULL, out);
		i += n;
		if (out->err != BUF_OK && ev != SMTP_EV_CLOSE)
			ev = proto_close(p, "out-of-memory");
	}
	if (ev == SMTP_EV_STARTTLS) {
		/*
		 * Bytes pipelined after STARTTLS were sent in plaintext and may have been injected
		 * by a man in the middle (CVE-2011-0411): they are dropped, never executed.
		 */
		size_t rest = len - i + p->line.len;

		if (rest > 0)
			log_warn("smtp_starttls_pipelined", "sid=%s dropped=%zu",
			    p->opt.sid ? p->opt.sid : "-", rest);
		buf_reset(&p->line);
		p->overflow = 0;
		i = len;
	}
	*used = i;
	return ev;
}

/* ---- verdict replies ---- */

int
smtp_reply_for(const struct pipeline_result *r, char *out, size_t outlen)
{
	char tmp[SMTP_REPLY_MAX * 2], where[200] = "";
	int code;

	switch (r->verdict) {
	case PIPELINE_ACCEPTED:
		code = 250;
		snprintf(tmp, sizeof(tmp), "250 2.0.0 Ok: report %" PRId64 " accepted", r->report_id);
		break;
	case PIPELINE_DUPLICATE:
		code = 250;
		snprintf(tmp, sizeof(tmp), "250 2.0.0 Ok: report %" PRId64 " already stored (duplicate)",
		    r->report_id);
		break;
	case PIPELINE_CONFLICT:
		code = 250;
		snprintf(tmp, sizeof(tmp), "250 2.0.0 Ok: stored as report %" PRId64 ", which conflicts "
		    "with report %" PRId64 " (kept, not counted)", r->report_id, r->conflict_of);
		break;
	case PIPELINE_QUARANTINED:
		if (r->error.path[0] != '\0')
			snprintf(where, sizeof(where), " at %s", r->error.path);
		if (r->error.line > 0)
			snprintf(where + strlen(where), sizeof(where) - strlen(where),
			    " (line %d, column %d)", r->error.line, r->error.column);
		switch (r->reject) {
		case PIPELINE_REJECT_TOO_LARGE:
			code = 552;
			snprintf(tmp, sizeof(tmp), "552 5.3.4 %s: %s", r->error.code, r->error.reason);
			break;
		case PIPELINE_REJECT_NOT_SERVED:
			code = 550;
			snprintf(tmp, sizeof(tmp), "550 5.7.1 %s: %s", r->error.code, r->error.reason);
			break;
		case PIPELINE_REJECT_DKIM:
			/*
			 * RFC 8460: a report without a valid signature is ignored, not refused.
			 * It is kept (durably) and the message counts as delivered: a 5xx would
			 * make a relay bounce it to a sender that may well be forged.
			 */
			code = 250;
			snprintf(tmp, sizeof(tmp), "250 2.7.0 Kept in quarantine as %" PRId64
			    ", not counted: %s", r->quarantine_id, r->error.reason);
			break;
		default:
			code = 554;
			snprintf(tmp, sizeof(tmp), "554 5.6.0 %s: %s%s; kept in quarantine as %" PRId64,
			    r->error.code, r->error.reason, where, r->quarantine_id);
			break;
		}
		break;
	default:
		code = 451;
		if (r->temp_dkim)
			snprintf(tmp, sizeof(tmp), "451 4.4.3 %s; try again later", r->temp_reason);
		else
			snprintf(tmp, sizeof(tmp), "451 4.3.0 Storage temporarily unavailable, try again "
			    "later (%s)", r->temp_reason[0] ? r->temp_reason : "not stored");
		break;
	}
	if (outlen > SMTP_REPLY_MAX - 2)
		outlen = SMTP_REPLY_MAX - 2;
	printable(out, outlen, tmp, strlen(tmp));
	return code;
}

/* ==== the listener ======================================================================= */

enum io_rc { IO_EOF = -1, IO_ERR = -2, IO_TIMEOUT = -3, IO_STOP = -4 };

struct smtp_server {
	struct smtp_options opt;
	struct pipeline *pipeline;
	const char *proto;              /* "smtp" or "lmtp": the transport name */
	char hostname[SMTP_HOSTNAME_MAX + 1];
	SSL_CTX *tls;
	int lfd;
	unsigned port;
	int wake[2];                    /* written once by smtp_quiesce: every poller sees POLLIN */
	pthread_t acceptor;
	int acceptor_started;
	pthread_mutex_t lock;
	pthread_cond_t cv;              /* active or submitting went down */
	struct smtp_session *sessions;  /* guarded by lock, like everything below */
	unsigned active;
	unsigned submitting;            /* sessions between the gate and the store's queue */
	int stopping;
	int no_store;                   /* smtp_abort: no new store request */
	uint64_t seq;
};

struct smtp_session {
	struct smtp_server *srv;
	struct smtp_session *prev, *next;
	int fd;
	SSL *ssl;
	int ssl_dead;                   /* fatal TLS error: no SSL_shutdown */
	char peer[INET6_ADDRSTRLEN];
	unsigned peer_port;
	char sid[32];
	struct smtp_proto *proto;
	struct buf out;
	unsigned messages;
	struct timespec t0;
	pthread_mutex_t mu;             /* the store's answer */
	pthread_cond_t cv;
	int stored;
};

int
smtp_listen_off(const char *listen)
{
	return listen == NULL || listen[0] == '\0' || strcasecmp(listen, "off") == 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The OpenSSL error queue as one line (emptied). */
static const char *
tls_errors(char *dst, size_t dstlen)
{
	unsigned long e;
	size_t o = 0;

	dst[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (o < dstlen)
			o += (size_t)snprintf(dst + o, dstlen - o, "%s%s", o ? "; " : "", one);
	}
	if (dst[0] == '\0')
		snprintf(dst, dstlen, "unknown TLS error");
	return dst;
}

/* ---- session I/O: non-blocking sockets, a poll() deadline on every read and write ---- */

static int
sess_wait(struct smtp_session *ss, short events, int64_t deadline, int watch_stop)
{
	struct pollfd pf[2] = {
		{ .fd = ss->fd, .events = events },
		{ .fd = ss->srv->wake[0], .events = POLLIN },
	};

	for (;;) {
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return IO_TIMEOUT;
		n = poll(pf, watch_stop ? 2 : 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return IO_ERR;
		if (n == 0)
			return IO_TIMEOUT;
		if (watch_stop && pf[1].revents != 0)
			return IO_STOP;
		if (pf[0].revents != 0)
			return 0; /* ready, or an error the next call will report */
	}
}

/* Maps an SSL_read/SSL_write/SSL_accept failure to a wait or an io_rc. */
static int
sess_tls_retry(struct smtp_session *ss, int r, int64_t deadline, int watch_stop, const char *op)
{
	char why[512], q[600];
	int e = SSL_get_error(ss->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return sess_wait(ss, POLLIN, deadline, watch_stop);
	case SSL_ERROR_WANT_WRITE:
		return sess_wait(ss, POLLOUT, deadline, watch_stop);
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		ss->ssl_dead = 1;
		ERR_clear_error();
		return IO_ERR;
	default:
		ss->ssl_dead = 1;
		log_info("smtp_tls_error", "sid=%s op=%s error=%s", ss->sid, op,
		    log_q(q, sizeof(q), tls_errors(why, sizeof(why)), (size_t)-1));
		return IO_ERR;
	}
}

/* Reads some bytes: a count > 0, or an io_rc. */
static int
sess_read(struct smtp_session *ss, char *dst, size_t len, int watch_stop)
{
	int64_t deadline = now_ms() + (int64_t)ss->srv->opt.timeout_s * 1000;
	int rc;

	for (;;) {
		if (ss->ssl != NULL) {
			int r;

			ERR_clear_error();
			r = SSL_read(ss->ssl, dst, (int)len);
			if (r > 0)
				return r;
			rc = sess_tls_retry(ss, r, deadline, watch_stop, "read");
		} else {
			ssize_t r = recv(ss->fd, dst, len, 0);

			if (r > 0)
				return (int)r;
			if (r == 0)
				return IO_EOF;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return IO_ERR;
			rc = sess_wait(ss, POLLIN, deadline, watch_stop);
		}
		if (rc != 0)
			return rc;
	}
}

/* Writes everything. 0 or an io_rc. */
static int
sess_write(struct smtp_session *ss, const char *src, size_t len)
{
	int64_t deadline = now_ms() + (int64_t)ss->srv->opt.timeout_s * 1000;
	size_t off = 0;
	int rc;

	while (off < len) {
		size_t n = len - off > INT32_MAX ? INT32_MAX : len - off;

		if (ss->ssl != NULL) {
			int r;

			ERR_clear_error();
			r = SSL_write(ss->ssl, src + off, (int)n);
			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			rc = sess_tls_retry(ss, r, deadline, 0, "write");
			if (rc == IO_EOF)
				rc = IO_ERR;
		} else {
			ssize_t r = send(ss->fd, src + off, n, MSG_NOSIGNAL);

			if (r >= 0) {
				off += (size_t)r;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return IO_ERR;
			rc = sess_wait(ss, POLLOUT, deadline, 0);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Sends the queued replies. 0 or an io_rc. */
static int
sess_flush(struct smtp_session *ss)
{
	int rc = 0;

	if (ss->out.len > 0)
		rc = sess_write(ss, ss->out.data, ss->out.len);
	buf_reset(&ss->out);
	return rc;
}

/* Queues a reply of the listener itself (421s) and sends it. */
static void
sess_say(struct smtp_session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sess_say(struct smtp_session *ss, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&ss->out, fmt, ap);
	va_end(ap);
	buf_append(&ss->out, "\r\n", 2);
	sess_flush(ss);
}

/*
 * Before close(): half-closes and reads what the client still sends (pipelined commands after
 * QUIT or a 421), for at most SMTP_LINGER_MS. Closing a socket with unread bytes makes the
 * kernel reset the connection, which can destroy our last reply before the client reads it.
 */
static void
sess_linger(struct smtp_session *ss)
{
	int64_t deadline = now_ms() + SMTP_LINGER_MS;
	size_t total = 0;
	char sink[4096];

	if (shutdown(ss->fd, SHUT_WR) != 0)
		return;
	while (total < SMTP_LINGER_MAX) {
		ssize_t r = recv(ss->fd, sink, sizeof(sink), 0);

		if (r > 0) {
			total += (size_t)r;
			continue;
		}
		if (r == 0)
			return;
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) || sess_wait(ss, POLLIN, deadline, 0) != 0)
			return;
	}
}

static int
sess_starttls(struct smtp_session *ss)
{
	int64_t deadline = now_ms() + (int64_t)ss->srv->opt.timeout_s * 1000;
	const char *ver, *cipher;
	int rc;

	if ((ss->ssl = SSL_new(ss->srv->tls)) == NULL || SSL_set_fd(ss->ssl, ss->fd) != 1) {
		char why[512], q[600];

		ss->ssl_dead = 1;
		log_warn("smtp_tls", "sid=%s status=failed error=%s", ss->sid,
		    log_q(q, sizeof(q), tls_errors(why, sizeof(why)), (size_t)-1));
		return -1;
	}
	for (;;) {
		int r;

		ERR_clear_error();
		if ((r = SSL_accept(ss->ssl)) == 1)
			break;
		if ((rc = sess_tls_retry(ss, r, deadline, 0, "handshake")) != 0) {
			ss->ssl_dead = 1;
			log_info("smtp_tls", "sid=%s status=failed reason=%s", ss->sid,
			    rc == IO_TIMEOUT ? "timeout" : rc == IO_EOF ? "eof" : "handshake-error");
			return -1;
		}
	}
	ver = SSL_get_version(ss->ssl);
	cipher = SSL_get_cipher_name(ss->ssl);
	log_info("smtp_tls", "sid=%s status=ok version=%s cipher=%s", ss->sid, ver ? ver : "-",
	    cipher ? cipher : "-");
	smtp_proto_tls_started(ss->proto, ver, cipher);
	return 0;
}

/* ---- delivery: the envelope, the pipeline, the verdict ---- */

static int
gate_enter(struct smtp_server *srv)
{
	int rc = 0;

	pthread_mutex_lock(&srv->lock);
	if (srv->no_store)
		rc = -1;
	else
		srv->submitting++;
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

static void
gate_leave(struct smtp_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	if (--srv->submitting == 0)
		pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->lock);
}

/* A JSON string of client text: printable ASCII only ('?' for the rest). */
static json_t *
text_json(const char *s)
{
	char tmp[SMTP_PATH_MAX + 1];

	printable(tmp, sizeof(tmp), s, strlen(s));
	return json_string(tmp);
}

static char *
delivery_meta(const struct smtp_session *ss, const struct smtp_delivery *d)
{
	json_t *m = json_object(), *rc = json_array(), *tls;
	char *out = NULL;

	if (m == NULL || rc == NULL) {
		json_decref(m);
		json_decref(rc);
		return NULL;
	}
	for (size_t i = 0; i < d->n_rcpts; i++)
		json_array_append_new(rc, text_json(d->rcpts[i]));
	tls = d->tls_version != NULL ? json_pack("{s:s, s:s}", "version", d->tls_version,
	    "cipher", d->tls_cipher ? d->tls_cipher : "") : json_null();
	json_object_set_new(m, "session", json_string(ss->sid));
	json_object_set_new(m, "client_ip", json_string(ss->peer));
	json_object_set_new(m, "peer_port", json_integer(ss->peer_port));
	json_object_set_new(m, "helo", text_json(d->helo));
	json_object_set_new(m, "mail_from", text_json(d->mail_from));
	json_object_set_new(m, "rcpts", rc);
	json_object_set_new(m, "tls", tls);
	json_object_set_new(m, "message_bytes", json_integer((json_int_t)d->len));
	out = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return out;
}

/* Runs on the store's writer thread once the job is committed (or failed). */
static void
sess_stored(void *arg, struct pipeline_job *job)
{
	struct smtp_session *ss = arg;

	(void)job;
	pthread_mutex_lock(&ss->mu);
	ss->stored = 1;
	pthread_cond_signal(&ss->cv);
	pthread_mutex_unlock(&ss->mu);
}

/*
 * The deliver callback of a session: envelope, pipeline job (parsed here, on the session
 * thread), store, wait for the commit, map the verdict. The job is stored with
 * pipeline_job_store() and a wait on the session's own condition variable, as HTTP does,
 * rather than pipeline_job_store_wait(): that one waits on the store's mutex, which
 * store_close() frees as soon as the writer ends, a race at the shutdown deadline.
 */
static void
sess_deliver(void *arg, const struct smtp_delivery *d, char *reply_line, size_t replylen)
{
	struct smtp_session *ss = arg;
	struct smtp_server *srv = ss->srv;
	struct pipeline_job *job = NULL;
	const struct pipeline_result *r;
	char *meta = NULL, qfrom[SMTP_PATH_MAX + 8];
	int64_t t0 = now_ms();
	int code;

	log_q(qfrom, sizeof(qfrom), d->mail_from, (size_t)-1);
	if (gate_enter(srv) != 0) {
		snprintf(reply_line, replylen, "451 4.3.2 Error: service shutting down, try again later");
		log_info("smtp_message", "sid=%s proto=%s verdict=temporary reply=451 reason=shutting-down "
		    "bytes=%zu from=%s", ss->sid, srv->proto, d->len, qfrom);
		return;
	}
	if ((meta = delivery_meta(ss, d)) != NULL) {
		struct envelope env = {
			.transport = srv->proto,
			.peer = ss->peer,
			.received_at = (int64_t)time(NULL),
			.body = d->data,
			.len = d->len,
			.allow_mail = 1,
			.mail = 1,
			.meta_json = meta,
		};

		job = pipeline_job_new(srv->pipeline, &env);
	}
	if (job == NULL) {
		gate_leave(srv);
		snprintf(reply_line, replylen, "451 4.3.0 Error: out of memory, try again later");
		log_warn("smtp_message", "sid=%s proto=%s verdict=temporary reply=451 reason=out-of-memory",
		    ss->sid, srv->proto);
		goto out;
	}
	ss->stored = 0;
	if (pipeline_job_store(job, sess_stored, ss) == 0) {
		gate_leave(srv); /* queued: the store answers it even while closing */
		pthread_mutex_lock(&ss->mu);
		while (!ss->stored)
			pthread_cond_wait(&ss->cv, &ss->mu);
		pthread_mutex_unlock(&ss->mu);
	} else {
		gate_leave(srv);
	}
	r = pipeline_job_result(job);
	code = smtp_reply_for(r, reply_line, replylen);
	if (code == 250)
		ss->messages++;
	log_info("smtp_message", "sid=%s proto=%s verdict=%s reply=%d report=%" PRId64 " quarantine=%"
	    PRId64 " reason=%s bytes=%zu rcpts=%zu from=%s ms=%" PRId64, ss->sid, srv->proto,
	    pipeline_verdict_name(r->verdict), code, r->report_id, r->quarantine_id,
	    r->error.code[0] ? r->error.code : "-", d->len, d->n_rcpts, qfrom, now_ms() - t0);
	if (r->verdict == PIPELINE_TEMPORARY || r->verdict == PIPELINE_PENDING)
		log_info("smtp_temporary", "sid=%s reason=\"%s\"", ss->sid,
		    r->temp_reason[0] ? r->temp_reason : "not stored");
	else if (r->reject == PIPELINE_REJECT_DKIM)
		log_info("smtp_dkim", "sid=%s quarantine=%" PRId64 " reason=\"%s\"", ss->sid,
		    r->quarantine_id, r->error.reason);
out:
	pipeline_job_free(job);
	free(meta);
}

/* ---- sessions ---- */

static void
session_free(struct smtp_session *ss)
{
	if (ss == NULL)
		return;
	smtp_proto_free(ss->proto);
	buf_free(&ss->out);
	pthread_mutex_destroy(&ss->mu);
	pthread_cond_destroy(&ss->cv);
	free(ss);
}

static void *
session_main(void *arg)
{
	struct smtp_session *ss = arg;
	struct smtp_server *srv = ss->srv;
	char *chunk = malloc(SMTP_READ_CHUNK);
	const char *why = "eof";
	struct timespec t1;
	int mid_data = 0;

	log_info("smtp_connect", "sid=%s proto=%s peer=%s port=%u", ss->sid, srv->proto, ss->peer,
	    ss->peer_port);
	if (chunk == NULL) {
		sess_say(ss, "421 4.3.0 %s Error: out of memory", srv->hostname);
		why = "out-of-memory";
		goto done;
	}
	if (smtp_proto_greet(ss->proto, &ss->out) != 0 || sess_flush(ss) != 0) {
		why = "io-error";
		goto done;
	}
	for (;;) {
		int in_data = smtp_proto_in_data(ss->proto), stopping, n;

		pthread_mutex_lock(&srv->lock);
		stopping = srv->stopping;
		pthread_mutex_unlock(&srv->lock);
		if (stopping && !in_data) {
			sess_say(ss, "421 4.3.2 %s Service shutting down, closing connection", srv->hostname);
			why = "shutdown";
			break;
		}
		n = sess_read(ss, chunk, SMTP_READ_CHUNK, !in_data);
		if (n == IO_STOP)
			continue;
		if (n == IO_TIMEOUT) {
			sess_say(ss, "421 4.4.2 %s Error: timeout exceeded, closing connection", srv->hostname);
			why = "timeout";
			mid_data = in_data;
			break;
		}
		if (n < 0) {
			why = n == IO_EOF ? "eof" : "io-error";
			mid_data = in_data;
			break;
		}
		for (size_t off = 0; off < (size_t)n;) {
			size_t used;
			enum smtp_event ev = smtp_proto_input(ss->proto, chunk + off, (size_t)n - off, &used,
			    &ss->out);

			off += used;
			if (sess_flush(ss) != 0) {
				why = "io-error";
				goto done;
			}
			if (ev == SMTP_EV_STARTTLS) {
				if (sess_starttls(ss) != 0) {
					why = "tls-error";
					goto done;
				}
				break;
			}
			if (ev == SMTP_EV_CLOSE) {
				why = smtp_proto_close_reason(ss->proto);
				goto done;
			}
		}
	}
done:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("smtp_disconnect", "sid=%s proto=%s peer=%s reason=%s messages=%u mid_data=%d "
	    "seconds=%.1f", ss->sid, srv->proto, ss->peer, why ? why : "closed", ss->messages,
	    mid_data, (double)(t1.tv_sec - ss->t0.tv_sec) +
	    (double)(t1.tv_nsec - ss->t0.tv_nsec) / 1e9);
	free(chunk);
	if (ss->ssl != NULL) {
		if (!ss->ssl_dead) {
			ERR_clear_error();
			SSL_shutdown(ss->ssl); /* one close_notify; we do not wait for the peer's */
		}
		ERR_clear_error();
		SSL_free(ss->ssl);
		ss->ssl = NULL;
	}
	sess_linger(ss);
	/* Out of the list and closed under the lock, so smtp_abort never sees a stale fd. */
	pthread_mutex_lock(&srv->lock);
	if (ss->prev != NULL)
		ss->prev->next = ss->next;
	else
		srv->sessions = ss->next;
	if (ss->next != NULL)
		ss->next->prev = ss->prev;
	close(ss->fd);
	srv->active--;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->lock);
	/* srv may be gone from here on. */
	session_free(ss);
	return NULL;
}

static struct smtp_session *
session_new(struct smtp_server *srv, int fd, const struct sockaddr_storage *sa)
{
	struct smtp_session *ss = calloc(1, sizeof(*ss));
	struct smtp_proto_options po;

	if (ss == NULL)
		return NULL;
	ss->srv = srv;
	ss->fd = fd;
	pthread_mutex_init(&ss->mu, NULL);
	pthread_cond_init(&ss->cv, NULL);
	buf_init(&ss->out, SMTP_OUT_MAX);
	clock_gettime(CLOCK_MONOTONIC, &ss->t0);
	snprintf(ss->peer, sizeof(ss->peer), "-");
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, ss->peer, sizeof(ss->peer));
		ss->peer_port = ntohs(a->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ss->peer, sizeof(ss->peer));
		else
			inet_ntop(AF_INET6, &a->sin6_addr, ss->peer, sizeof(ss->peer));
		ss->peer_port = ntohs(a->sin6_port);
	}
	pthread_mutex_lock(&srv->lock);
	snprintf(ss->sid, sizeof(ss->sid), "%s%" PRIx64 "-%" PRIu64, srv->opt.lmtp ? "L" : "S",
	    (uint64_t)time(NULL), ++srv->seq);
	pthread_mutex_unlock(&srv->lock);
	po = (struct smtp_proto_options){
		.hostname = srv->hostname,
		.lmtp = srv->opt.lmtp,
		.tls_available = srv->tls != NULL,
		.recipients = srv->opt.recipients,
		.n_recipients = srv->opt.n_recipients,
		.max_message = srv->opt.max_message,
		.max_recipients = srv->opt.max_recipients,
		.max_errors = srv->opt.max_errors,
		.sid = ss->sid,
		.deliver = sess_deliver,
		.deliver_arg = ss,
	};
	if ((ss->proto = smtp_proto_new(&po)) == NULL) {
		session_free(ss);
		return NULL;
	}
	return ss;
}

/* A best-effort one-line answer on a connection we will not serve. */
static void
refuse(int fd, const char *line)
{
	ssize_t r = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)r;
}

static void *
acceptor_main(void *arg)
{
	struct smtp_server *srv = arg;

	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = srv->lfd, .events = POLLIN },
			{ .fd = srv->wake[0], .events = POLLIN },
		};
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		struct smtp_session *ss;
		char line[SMTP_REPLY_MAX];
		int fd, full, rc;

		if (poll(pf, 2, -1) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, SMTP_ACCEPT_PAUSE_MS);
			continue;
		}
		if (pf[1].revents != 0)
			break;
		if ((fd = accept4(srv->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("smtp_accept", "proto=%s error=\"%s\"", srv->proto, strerror(errno));
				poll(NULL, 0, SMTP_ACCEPT_PAUSE_MS);
			}
			continue;
		}
		pthread_mutex_lock(&srv->lock);
		full = srv->active >= srv->opt.max_connections;
		pthread_mutex_unlock(&srv->lock);
		if (full) {
			snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many connections, try again "
			    "later\r\n", srv->hostname);
			refuse(fd, line);
			close(fd);
			log_warn("smtp_refused", "proto=%s reason=max-connections limit=%u", srv->proto,
			    srv->opt.max_connections);
			continue;
		}
		if ((ss = session_new(srv, fd, &sa)) == NULL) {
			snprintf(line, sizeof(line), "421 4.3.0 %s Error: out of memory\r\n", srv->hostname);
			refuse(fd, line);
			close(fd);
			continue;
		}
		pthread_mutex_lock(&srv->lock);
		ss->next = srv->sessions;
		if (srv->sessions != NULL)
			srv->sessions->prev = ss;
		srv->sessions = ss;
		srv->active++;
		pthread_mutex_unlock(&srv->lock);
		{
			pthread_attr_t at;
			pthread_t t;

			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			rc = pthread_create(&t, &at, session_main, ss);
			pthread_attr_destroy(&at);
		}
		if (rc != 0) {
			pthread_mutex_lock(&srv->lock);
			if (ss->prev != NULL)
				ss->prev->next = ss->next;
			else
				srv->sessions = ss->next;
			if (ss->next != NULL)
				ss->next->prev = ss->prev;
			srv->active--;
			pthread_cond_broadcast(&srv->cv);
			pthread_mutex_unlock(&srv->lock);
			snprintf(line, sizeof(line), "421 4.3.0 %s Error: cannot start a session\r\n",
			    srv->hostname);
			refuse(fd, line);
			close(fd);
			log_warn("smtp_accept", "proto=%s error=\"pthread_create: %s\"", srv->proto,
			    strerror(rc));
			session_free(ss);
		}
	}
	return NULL;
}

/* ---- start and stop ---- */

/* Each entry "local@domain" or "@domain", printable, no spaces. 0, or -1 with err. */
static int
check_recipients(const struct smtp_options *opt, char *err, size_t errlen)
{
	for (size_t i = 0; i < opt->n_recipients; i++) {
		const char *r = opt->recipients[i];
		const char *at = strrchr(r, '@');
		size_t n = strlen(r);
		int ok = at != NULL && at[1] != '\0' && n <= SMTP_PATH_MAX;

		for (size_t j = 0; ok && j < n; j++)
			if ((unsigned char)r[j] <= 0x20 || r[j] == 0x7f || r[j] == '<' || r[j] == '>')
				ok = 0;
		if (!ok) {
			snprintf(err, errlen, "smtp_recipients: '%s' is not an address (user@domain) or a "
			    "domain (@domain)", r);
			return -1;
		}
	}
	return 0;
}

static int
set_hostname(struct smtp_server *srv, const char *h, char *err, size_t errlen)
{
	size_t n;

	if (h == NULL || h[0] == '\0' || strcmp(h, "auto") == 0) {
		if (gethostname(srv->hostname, sizeof(srv->hostname)) != 0)
			snprintf(srv->hostname, sizeof(srv->hostname), "localhost");
		srv->hostname[sizeof(srv->hostname) - 1] = '\0';
		h = srv->hostname;
	}
	n = strlen(h);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f) {
			snprintf(err, errlen, "smtp_hostname: '%s' is not a host name", h);
			return -1;
		}
	if (n == 0 || n > SMTP_HOSTNAME_MAX) {
		snprintf(err, errlen, "smtp_hostname: empty or longer than %d bytes", SMTP_HOSTNAME_MAX);
		return -1;
	}
	if (h != srv->hostname)
		memcpy(srv->hostname, h, n + 1);
	return 0;
}

/* The STARTTLS context, or NULL (with a warning saying why STARTTLS is not offered). */
static SSL_CTX *
tls_load(const struct smtp_server *srv)
{
	const struct smtp_options *o = &srv->opt;
	SSL_CTX *ctx = NULL;
	char why[512], q[600];

	if (o->tls_cert == NULL || o->tls_key == NULL || o->tls_cert[0] == '\0' || o->tls_key[0] == '\0') {
		log_warn("smtp_starttls", "proto=%s status=off reason=\"tls_cert or tls_key not set\"",
		    srv->proto);
		return NULL;
	}
	if (access(o->tls_cert, R_OK) != 0 || access(o->tls_key, R_OK) != 0) {
		snprintf(why, sizeof(why), "%s: %s", access(o->tls_cert, R_OK) != 0 ? o->tls_cert :
		    o->tls_key, strerror(errno));
		goto off;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_errors(why, sizeof(why));
		goto off;
	}
	/*
	 * No renegotiation; an EOF without close_notify is a plain EOF (the message is framed by
	 * the final "." anyway); no session cache to grow (tickets still resume).
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_errors(why, sizeof(why));
		goto off;
	}
	log_info("smtp_starttls", "proto=%s status=on cert=%s", srv->proto,
	    log_q(q, sizeof(q), o->tls_cert, (size_t)-1));
	return ctx;
off:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	log_warn("smtp_starttls", "proto=%s status=off reason=%s", srv->proto,
	    log_q(q, sizeof(q), why, (size_t)-1));
	return NULL;
}

/* Frees a server that has no session and no acceptor running. */
static void
server_free(struct smtp_server *srv)
{
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->wake[0] >= 0)
		close(srv->wake[0]);
	if (srv->wake[1] >= 0)
		close(srv->wake[1]);
	SSL_CTX_free(srv->tls);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->cv);
	free(srv);
}

struct smtp_server *
smtp_start(const struct smtp_options *opt, struct pipeline *pipeline, char *err, size_t errlen)
{
	struct smtp_server *srv;
	struct sockaddr_storage sa, bound;
	socklen_t sl = 0, bl = sizeof(bound);
	int one = 1;

	if (opt->max_connections == 0 || opt->timeout_s == 0 || opt->max_message == 0) {
		snprintf(err, errlen, "smtp: max_connections, timeout and max_message must be > 0");
		return NULL;
	}
	if (net_parse_listen(opt->listen, &sa, &sl, err, errlen) != 0 ||
	    check_recipients(opt, err, errlen) != 0)
		return NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->opt = *opt;
	srv->pipeline = pipeline;
	srv->proto = opt->lmtp ? "lmtp" : "smtp";
	srv->lfd = srv->wake[0] = srv->wake[1] = -1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cv, NULL);
	if (set_hostname(srv, opt->hostname, err, errlen) != 0)
		goto fail;
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((srv->lfd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(srv->lfd, (struct sockaddr *)&sa, sl) != 0 || listen(srv->lfd, SMTP_BACKLOG) != 0 ||
	    getsockname(srv->lfd, (struct sockaddr *)&bound, &bl) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", opt->listen, strerror(errno));
		goto fail;
	}
	srv->port = ntohs(bound.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
	srv->tls = tls_load(srv);
	if (opt->n_recipients == 0)
		log_warn("smtp_recipients", "proto=%s recipients=any reason=\"smtp_recipients is empty: "
		    "every recipient is accepted\"", srv->proto);
	if (pthread_create(&srv->acceptor, NULL, acceptor_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the acceptor thread");
		goto fail;
	}
	srv->acceptor_started = 1;
	return srv;
fail:
	server_free(srv);
	return NULL;
}

unsigned
smtp_port(const struct smtp_server *s)
{
	return s->port;
}

int
smtp_starttls_offered(const struct smtp_server *s)
{
	return s->tls != NULL;
}

void
smtp_quiesce(struct smtp_server *s)
{
	ssize_t w;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	w = write(s->wake[1], "x", 1);
	(void)w;
	if (s->acceptor_started) {
		pthread_join(s->acceptor, NULL);
		s->acceptor_started = 0;
	}
	close(s->lfd);
	s->lfd = -1;
}

int
smtp_drain(struct smtp_server *s, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	if (s == NULL)
		return 0;
	net_deadline(&until, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (s->active > 0 && rc == 0)
		if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
			rc = -1;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
smtp_abort(struct smtp_server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->no_store = 1;
	for (struct smtp_session *ss = s->sessions; ss != NULL; ss = ss->next)
		shutdown(ss->fd, SHUT_RDWR);
	while (s->submitting > 0)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

int
smtp_stop(struct smtp_server *s)
{
	if (s == NULL)
		return 0;
	smtp_quiesce(s);
	if (smtp_drain(s, 0) != 0) {
		smtp_abort(s);
		if (smtp_drain(s, SMTP_STOP_GRACE_MS) != 0)
			return -1;
	}
	server_free(s);
	return 0;
}
