/*
 * smtp: the SMTP (RFC 5321) and LMTP (RFC 2033) listener of tlsrptd.
 *
 * Two layers, in one module:
 *
 *   smtp_proto   the protocol of one session without any I/O: bytes from the client are pushed
 *                in, replies come out in a buffer, a complete message is handed to a deliver
 *                callback. Commands, PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, the
 *                STARTTLS state change, dot-unstuffing and every limit live here, so that they
 *                can be tested and fuzzed without sockets.
 *   smtp_server  one listening socket, an acceptor thread, and one thread per session (blocking
 *                I/O with a poll() timeout on every read and write, plain or TLS), bounded by
 *                max_connections. A complete message becomes an envelope (transport "smtp" or
 *                "lmtp", the client IP as peer, meta_json with helo, mail_from, rcpts and tls)
 *                for the ingest pipeline; the reply after DATA is sent only once the pipeline's
 *                verdict is final (after the commit), exactly as HTTP does.
 *
 * Replies after DATA (see smtp_reply_for): 250 2.0.0 for accepted, duplicate and conflict (after
 * the commit), 451 4.3.0 storage unavailable, 554 5.6.0 no usable report (with code, reason,
 * path, line and column; the pipeline keeps it in quarantine), 552 5.3.4 too large, 550 5.7.1
 * a domain not served. In LMTP every accepted recipient gets its own reply.
 */
#ifndef TLSRPT_SMTP_H
#define TLSRPT_SMTP_H

#include <stddef.h>

#include "collector/buf.h"
#include "ingest/pipeline.h"

#define SMTP_REPLY_MAX 512          /* one reply line, CRLF included (RFC 5321 4.5.3.1.5) */

/* ---- the protocol engine (no I/O) ------------------------------------------------------ */

/* A complete message, as handed to the deliver callback. Everything is borrowed. */
struct smtp_delivery {
	const char *data;                /* the message, dot-unstuffed, line ends as received */
	size_t len;
	const char *helo;                /* the HELO/EHLO/LHLO argument as given ("" if none) */
	const char *mail_from;           /* reverse path without <> ("" for the null path) */
	const char *const *rcpts;        /* accepted forward paths, in order */
	size_t n_rcpts;
	const char *tls_version;         /* "TLSv1.3"...; NULL when the session is not in TLS */
	const char *tls_cipher;          /* NULL when the session is not in TLS */
};

/*
 * Decides the fate of a delivered message: writes ONE reply line, without CRLF, into reply
 * (such as "250 2.0.0 report 42 accepted"); an LMTP session repeats it once per recipient.
 * Called on the thread that calls smtp_proto_input().
 */
typedef void (*smtp_deliver_fn)(void *arg, const struct smtp_delivery *d, char *reply,
    size_t replylen);

struct smtp_proto_options {
	const char *hostname;            /* our name in the greeting and replies */
	int lmtp;                        /* 1: LMTP (LHLO, one reply per recipient after DATA) */
	int tls_available;               /* 1: STARTTLS may be offered */
	const char *const *recipients;   /* "user@domain" or "@domain", compared case-blind */
	size_t n_recipients;             /* 0: every recipient is accepted */
	size_t max_message;              /* SIZE; 552 5.3.4 beyond */
	unsigned max_recipients;         /* 452 4.5.3 beyond */
	unsigned max_errors;             /* bad commands before 421 and close (0: no limit) */
	const char *sid;                 /* session id for log records; may be NULL */
	smtp_deliver_fn deliver;
	void *deliver_arg;
};

/* What the caller must do after smtp_proto_input(). */
enum smtp_event {
	SMTP_EV_NONE = 0,        /* go on: send what is in out, push the bytes not yet used */
	SMTP_EV_STARTTLS = 1,    /* send out (the 220), then do the TLS handshake and call
	                          * smtp_proto_tls_started(); bytes after STARTTLS were dropped */
	SMTP_EV_CLOSE = 2        /* send out, then close the connection */
};

struct smtp_proto;

/*
 * A session in its initial state. The options (and the strings and list they point to) are
 * borrowed and must outlive the session. NULL on OOM or when deliver or hostname is NULL.
 */
struct smtp_proto *smtp_proto_new(const struct smtp_proto_options *opt);

/* Frees the session (a message being received is dropped). Accepts NULL. */
void smtp_proto_free(struct smtp_proto *p);

/* Appends the 220 greeting to out. 0, or a buf error. */
int smtp_proto_greet(struct smtp_proto *p, struct buf *out);

/*
 * Consumes client bytes data[0..len) and appends the replies to out (already-queued bytes in
 * out are kept). *used says how many bytes were taken: fewer than len when out holds enough
 * to be sent first (call again with the rest after sending) or when the event is CLOSE.
 * After STARTTLS every remaining byte (pipelined plaintext) is counted as used and dropped.
 * A message completed by a final "." is handed to the deliver callback before this returns.
 * Not thread safe (one session, one thread).
 */
enum smtp_event smtp_proto_input(struct smtp_proto *p, const void *data, size_t len,
    size_t *used, struct buf *out);

/*
 * The TLS handshake after SMTP_EV_STARTTLS succeeded: the session starts over (a new
 * EHLO is required, nothing said before counts) and records version and cipher (copied).
 */
void smtp_proto_tls_started(struct smtp_proto *p, const char *version, const char *cipher);

/* 1 between the 354 reply and the final ".", else 0. */
int smtp_proto_in_data(const struct smtp_proto *p);

/*
 * Why the session asked to be closed ("quit", "too-many-errors", "too-much-data",
 * "out-of-memory"), or NULL while it is open. A static string.
 */
const char *smtp_proto_close_reason(const struct smtp_proto *p);

/*
 * The reply for a pipeline verdict (one line, no CRLF, printable ASCII only, at most
 * SMTP_REPLY_MAX - 2 bytes): 250 2.0.0 (accepted, duplicate, conflict), 451 4.3.0
 * (temporary or still pending), 554 5.6.0 (invalid, not a report), 552 5.3.4 (too large),
 * 550 5.7.1 (domain not served). Returns the reply code.
 */
int smtp_reply_for(const struct pipeline_result *r, char *out, size_t outlen);

/* ---- the listener ---------------------------------------------------------------------- */

struct smtp_options {
	const char *listen;              /* "127.0.0.1:2525", "[::]:25"; port 0 = any free port */
	int lmtp;                        /* 1: speak LMTP on this socket */
	const char *hostname;            /* NULL, "" or "auto": gethostname() */
	const char *const *recipients;   /* see smtp_proto_options; validated by smtp_start */
	size_t n_recipients;
	const char *tls_cert;            /* PEM certificate chain; STARTTLS only when both load */
	const char *tls_key;             /* PEM private key */
	size_t max_message;
	unsigned max_recipients;
	unsigned max_connections;        /* sessions at once; 421 4.7.0 to the ones beyond */
	unsigned timeout_s;              /* per read or write, commands and DATA alike */
	unsigned max_errors;
};

struct smtp_server;

/* 1 when listen means "no listener": NULL, "" or "off". */
int smtp_listen_off(const char *listen);

/*
 * Binds, loads the certificate (a failure only turns STARTTLS off, with a warning) and starts
 * the acceptor thread. NULL on failure with a sentence in err (bad address, bind error, a bad
 * recipient entry). The options' strings and pipeline are borrowed: they must outlive the
 * server.
 */
struct smtp_server *smtp_start(const struct smtp_options *opt, struct pipeline *pipeline,
    char *err, size_t errlen);

/* The bound port (the real one when 0 was asked for). */
unsigned smtp_port(const struct smtp_server *s);

/* 1 when STARTTLS is offered (the certificate and key loaded), else 0. */
int smtp_starttls_offered(const struct smtp_server *s);

/*
 * Stops accepting (the listening socket is closed). Sessions waiting for a command are told
 * 421 4.3.2 and closed; sessions inside DATA go on until their reply is sent, then close.
 * Accepts NULL; a second call does nothing.
 */
void smtp_quiesce(struct smtp_server *s);

/* Waits until no session is left, at most timeout_ms. 0, or -1 on timeout. Accepts NULL. */
int smtp_drain(struct smtp_server *s, int timeout_ms);

/*
 * For the shutdown deadline: no session may start storing any more (they answer 451), and
 * every session's socket is shut down so that its thread ends soon. Returns once no session
 * is between parsing a message and handing it to the store, so the store may then be closed
 * (which answers the requests still queued). Call after smtp_quiesce(). Accepts NULL.
 */
void smtp_abort(struct smtp_server *s);

/*
 * Stops (quiesce, then smtp_abort if sessions are left, waiting a second for them) and frees
 * the server. 0, or -1 when sessions are still running: then nothing is freed and the server
 * is left to the process exit (those sessions no longer use the pipeline or the store).
 * Accepts NULL.
 */
int smtp_stop(struct smtp_server *s);

#endif
