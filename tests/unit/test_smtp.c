/*
 * smtp: the protocol engine without sockets (commands, sequence, limits, DATA framing and
 * dot-unstuffing, PIPELINING, STARTTLS injection, LMTP) and the verdict-to-reply mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/buf.h"
#include "ingest/smtp.h"

#define HOST "mx.test.example"

/* What the deliver stub saw, and what it answers. */
struct sink {
	int calls;
	struct buf data;
	char helo[300];
	char from[300];
	char rcpts[10][300];
	size_t n_rcpts;
	char tls_version[64];
	int had_tls;
	const char *answer;
};

static void
stub_deliver(void *arg, const struct smtp_delivery *d, char *reply, size_t replylen)
{
	struct sink *s = arg;

	s->calls++;
	buf_reset(&s->data);
	buf_append(&s->data, d->data, d->len);
	snprintf(s->helo, sizeof(s->helo), "%s", d->helo);
	snprintf(s->from, sizeof(s->from), "%s", d->mail_from);
	s->n_rcpts = d->n_rcpts;
	for (size_t i = 0; i < d->n_rcpts && i < 10; i++)
		snprintf(s->rcpts[i], sizeof(s->rcpts[i]), "%s", d->rcpts[i]);
	s->had_tls = d->tls_version != NULL;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s", d->tls_version ? d->tls_version : "");
	snprintf(reply, replylen, "%s", s->answer ? s->answer : "250 2.0.0 Ok: report 1 accepted");
}

struct t {
	struct smtp_proto_options opt;
	struct smtp_proto *p;
	struct sink sink;
	struct buf out;
};

static const char *const default_rcpts[] = { "tlsrpt@example.com", "@Example.NET" };

static void
t_open(struct t *t, int lmtp, int tls, size_t max_message)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->sink.data, 64 * 1024 * 1024);
	buf_init(&t->out, 64 * 1024 * 1024);
	t->opt = (struct smtp_proto_options){
		.hostname = HOST,
		.lmtp = lmtp,
		.tls_available = tls,
		.recipients = default_rcpts,
		.n_recipients = 2,
		.max_message = max_message,
		.max_recipients = 3,
		.max_errors = 10,
		.sid = "T1",
		.deliver = stub_deliver,
		.deliver_arg = &t->sink,
	};
	t->p = smtp_proto_new(&t->opt);
	assert_non_null(t->p);
	assert_int_equal(smtp_proto_greet(t->p, &t->out), 0);
}

static void
t_close(struct t *t)
{
	smtp_proto_free(t->p);
	buf_free(&t->out);
	buf_free(&t->sink.data);
}

/*
 * Pushes data in pieces of at most step bytes (0: all at once), the way a socket loop would:
 * call again with what was not used. Stops at CLOSE or STARTTLS; returns that event and
 * the number of bytes used in *usedp.
 */
static enum smtp_event
push_n(struct t *t, const char *data, size_t len, size_t step, size_t *usedp)
{
	size_t off = 0;
	enum smtp_event ev = SMTP_EV_NONE;

	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step, used = 0;

		ev = smtp_proto_input(t->p, data + off, n, &used, &t->out);
		assert_true(used <= n);
		off += used;
		if (ev != SMTP_EV_NONE)
			break;
	}
	if (usedp != NULL)
		*usedp = off;
	return ev;
}

static enum smtp_event
push(struct t *t, const char *s)
{
	return push_n(t, s, strlen(s), 0, NULL);
}

/* The replies so far, then forgets them. Caller frees. */
static char *
take_out(struct t *t)
{
	char *s = strndup(t->out.data ? t->out.data : "", t->out.len);

	buf_reset(&t->out);
	return s;
}

/* Asserts that the queued replies are exactly want, then forgets them. */
static void
expect(struct t *t, const char *want)
{
	char *got = take_out(t);

	if (strcmp(got, want) != 0)
		fail_msg("replies:\n--- got ---\n%s--- want ---\n%s", got, want);
	free(got);
}

/* Asserts that the queued replies start with the 3-digit code of every line in codes. */
static void
expect_codes(struct t *t, const char *codes)
{
	char *got = take_out(t), *line, *save = NULL;
	char seen[4096] = "";

	for (line = strtok_r(got, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);

		assert_true(l >= 4 && line[l - 1] == '\r');
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%.3s", seen[0] ? " " : "",
		    line);
	}
	if (strcmp(seen, codes) != 0)
		fail_msg("reply codes: got '%s', want '%s'", seen, codes);
	free(got);
}

static void
greet_ehlo(struct t *t)
{
	push(t, "EHLO client.example\r\n");
	buf_reset(&t->out);
}

/* ---- tests ---- */

static void
test_greeting_and_ehlo(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 1, 10000);
	expect(&t, "220 " HOST " ESMTP tlsrptd ready\r\n");
	assert_int_equal(push(&t, "EHLO client.example\r\n"), SMTP_EV_NONE);
	expect(&t, "250-" HOST " Hello client.example\r\n250-PIPELINING\r\n250-SIZE 10000\r\n"
	    "250-8BITMIME\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n");
	push(&t, "helo other.example\r\n");
	expect(&t, "250 " HOST "\r\n");
	push(&t, "EHLO\r\n");
	expect_codes(&t, "501");
	assert_null(smtp_proto_close_reason(t.p));
	t_close(&t);

	t_open(&t, 0, 0, 10000);
	buf_reset(&t.out);
	push(&t, "EHLO c\r\n");
	{
		char *r = take_out(&t);
		assert_null(strstr(r, "STARTTLS"));
		free(r);
	}
	push(&t, "STARTTLS\r\n");
	expect_codes(&t, "502");
	t_close(&t);
}

static void
test_one_message_dot_unstuffed(void **state)
{
	struct t t;
	const char *body = "From: a@b.example\r\nSubject: x\r\n\r\n..leading dot\r\n.\r\n";

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	push(&t, "MAIL FROM:<Reporter@Sender.example> SIZE=100 BODY=8BITMIME\r\n");
	expect(&t, "250 2.1.0 Ok\r\n");
	push(&t, "RCPT TO:<TLSRPT@example.com>\r\n");
	expect(&t, "250 2.1.5 Ok\r\n");
	push(&t, "RCPT TO:<anyone@sub.example.net>\r\n");
	expect_codes(&t, "550");
	push(&t, "RCPT TO:<anyone@example.net>\r\n");
	expect_codes(&t, "250");
	push(&t, "DATA\r\n");
	expect(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_true(smtp_proto_in_data(t.p));
	push(&t, body);
	expect(&t, "250 2.0.0 Ok: report 1 accepted\r\n");
	assert_false(smtp_proto_in_data(t.p));
	assert_int_equal(t.sink.calls, 1);
	assert_string_equal(t.sink.data.data, "From: a@b.example\r\nSubject: x\r\n\r\n.leading dot\r\n");
	assert_string_equal(t.sink.helo, "client.example");
	assert_string_equal(t.sink.from, "Reporter@Sender.example");
	assert_int_equal(t.sink.n_rcpts, 2);
	assert_string_equal(t.sink.rcpts[0], "TLSRPT@example.com");
	assert_string_equal(t.sink.rcpts[1], "anyone@example.net");
	assert_false(t.sink.had_tls);

	/* The transaction is over: a new one is needed, the session goes on. */
	push(&t, "RCPT TO:<tlsrpt@example.com>\r\n");
	expect_codes(&t, "503");
	push(&t, "MAIL FROM:<>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	expect_codes(&t, "250 250 354");
	push(&t, "x\r\n.\r\n");
	expect_codes(&t, "250");
	assert_int_equal(t.sink.calls, 2);
	assert_string_equal(t.sink.from, "");
	assert_string_equal(t.sink.data.data, "x\r\n");
	assert_int_equal(push(&t, "QUIT\r\nNOOP\r\n"), SMTP_EV_CLOSE);
	expect(&t, "221 2.0.0 " HOST " closing connection\r\n");
	assert_string_equal(smtp_proto_close_reason(t.p), "quit");
	t_close(&t);
}

static void
test_bare_lf_and_bare_cr(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	/* Commands ended by a bare LF are taken; DATA lines keep their line ends as received. */
	push(&t, "MAIL FROM:<a@b.example>\nRCPT TO:<tlsrpt@example.com>\nDATA\n");
	expect_codes(&t, "250 250 354");
	/* A bare CR is no line end: "\r.\r" does not end the message (no smuggling). */
	push(&t, "line one\nline two\r\nodd\r.\rstill data\n..\n.\n");
	expect_codes(&t, "250");
	assert_int_equal(t.sink.calls, 1);
	assert_int_equal(t.sink.data.len, strlen("line one\nline two\r\nodd\r.\rstill data\n.\n"));
	assert_memory_equal(t.sink.data.data, "line one\nline two\r\nodd\r.\rstill data\n.\n",
	    t.sink.data.len);
	t_close(&t);
}

static void
test_split_anywhere_same_result(void **state)
{
	const char *session = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\n"
	    "DATA\r\nSubject: s\r\n\r\n.dot\r\n..two\r\nend\r\n.\r\nNOOP\r\nQUIT\r\n";
	char *whole;
	struct buf first;

	(void)state;
	buf_init(&first, 1 << 20);
	for (size_t step = 0; step <= 7; step++) {
		struct t t;
		size_t used;

		t_open(&t, 0, 0, 10000);
		assert_int_equal(push_n(&t, session, strlen(session), step, &used), SMTP_EV_CLOSE);
		assert_int_equal(used, strlen(session));
		assert_int_equal(t.sink.calls, 1);
		assert_string_equal(t.sink.data.data, "Subject: s\r\n\r\ndot\r\n.two\r\nend\r\n");
		whole = take_out(&t);
		if (step == 0)
			buf_puts(&first, whole);
		else
			assert_string_equal(whole, first.data);
		free(whole);
		t_close(&t);
	}
	buf_free(&first);
}

static void
test_pipelining_in_one_packet(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	assert_int_equal(push(&t, "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@other.example>\r\n"
	    "RCPT TO:<tlsrpt@example.com>\r\nDATA\r\n"), SMTP_EV_NONE);
	expect_codes(&t, "220 250 250 250 250 250 250 550 250 354");
	push(&t, "body\r\n.\r\nMAIL FROM:<c@d.example>\r\nRSET\r\nNOOP\r\n");
	expect_codes(&t, "250 250 250 250");
	assert_int_equal(t.sink.calls, 1);
	t_close(&t);
}

static void
test_sequence_errors(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	buf_reset(&t.out);
	push(&t, "MAIL FROM:<a@b.example>\r\n");
	expect_codes(&t, "503");
	push(&t, "RCPT TO:<tlsrpt@example.com>\r\n");
	expect_codes(&t, "503");
	push(&t, "DATA\r\n");
	expect_codes(&t, "503");
	greet_ehlo(&t);
	push(&t, "RCPT TO:<tlsrpt@example.com>\r\n");
	expect_codes(&t, "503");
	push(&t, "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n");
	expect_codes(&t, "250 503");
	push(&t, "DATA\r\n");
	expect_codes(&t, "554");
	push(&t, "RCPT TO:<tlsrpt@example.com>\r\nDATA extra\r\n");
	expect_codes(&t, "250 501");
	push(&t, "RSET\r\nDATA\r\n");
	expect_codes(&t, "250 503");
	push(&t, "VRFY root\r\nEXPN list\r\nHELP\r\nNOOP anything\r\n");
	expect_codes(&t, "252 502 214 250");
	t_close(&t);
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	push(&t, "BDAT 10 LAST\r\nAUTH PLAIN\r\n\r\n");
	expect_codes(&t, "500 500 500");
	t_close(&t);
}

static void
test_path_syntax(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	/* Accepted: no brackets, a space after the colon, a source route, a quoted local part. */
	push(&t, "mail from: a@b.example\r\nRSET\r\n");
	expect_codes(&t, "250 250");
	push(&t, "MAIL FROM:<@relay.example,@r2.example:a@b.example>\r\nRSET\r\n");
	expect_codes(&t, "250 250");
	push(&t, "MAIL FROM:<\"john > doe\"@b.example>\r\n");
	expect_codes(&t, "250");
	push(&t, "RCPT TO:<>\r\nRCPT TO:<tlsrpt@example.com\r\nRCPT TO:<no-at-sign>\r\n"
	    "RCPT TO:<postmaster>\r\nRCPT TO:<tlsrpt@example.com> NOTIFY=NEVER\r\n");
	expect_codes(&t, "501 501 501 550 555");
	push(&t, "RSET\r\nMAIL FROM:<a b@c.example>\r\nMAIL FROM<a@b.example>\r\nMAIL FROM:<a@>\r\n");
	expect_codes(&t, "250 501 501 501");
	t_close(&t);
}

static void
test_mail_parameters(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	push(&t, "MAIL FROM:<a@b.example> SIZE=10001\r\n");
	expect(&t, "552 5.3.4 Error: message size exceeds the 10000-byte limit\r\n");
	push(&t, "MAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\n");
	expect_codes(&t, "552");
	push(&t, "MAIL FROM:<a@b.example> SIZE=12x\r\nMAIL FROM:<a@b.example> SIZE=\r\n");
	expect_codes(&t, "501 501");
	push(&t, "MAIL FROM:<a@b.example> SMTPUTF8\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n");
	expect_codes(&t, "555 555");
	push(&t, "MAIL FROM:<a@b.example> size=10000 body=7bit\r\n");
	expect_codes(&t, "250");
	push(&t, "HELO old.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\nMAIL FROM:<a@b.example>\r\n");
	expect_codes(&t, "250 555 250");
	t_close(&t);
}

static void
test_recipient_limit_and_accept_all(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	smtp_proto_free(t.p); /* again, with no recipient list: every recipient is accepted */
	t.opt.n_recipients = 0;
	t.p = smtp_proto_new(&t.opt);
	greet_ehlo(&t);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<one@x.example>\r\nRCPT TO:<two@y.example>\r\n"
	    "RCPT TO:<postmaster>\r\nRCPT TO:<four@z.example>\r\n");
	expect(&t, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n");
	push(&t, "DATA\r\nm\r\n.\r\n");
	expect_codes(&t, "354 250");
	assert_int_equal(t.sink.n_rcpts, 3);
	t_close(&t);
}

static void
test_oversize_message(void **state)
{
	struct t t;
	char line[100];

	(void)state;
	t_open(&t, 0, 0, 1024);
	greet_ehlo(&t);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	expect_codes(&t, "250 250 354");
	memset(line, 'x', sizeof(line) - 3);
	memcpy(line + sizeof(line) - 3, "\r\n", 3);
	for (int i = 0; i < 30; i++)
		assert_int_equal(push(&t, line), SMTP_EV_NONE);
	expect(&t, "");
	push(&t, ".\r\n");
	expect(&t, "552 5.3.4 Error: message exceeds the 1024-byte limit\r\n");
	assert_int_equal(t.sink.calls, 0);
	/* Exactly at the limit is fine; the session goes on. */
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	expect_codes(&t, "250 250 354");
	for (int i = 0; i < 1024 / 8; i++)
		push(&t, "abcdef\r\n");
	push(&t, ".\r\n");
	expect_codes(&t, "250");
	assert_int_equal(t.sink.data.len, 1024);
	t_close(&t);
}

static void
test_endless_oversize_is_cut_off(void **state)
{
	struct t t;
	size_t chunk = 1 << 20, used;
	char *big = malloc(chunk);
	enum smtp_event ev = SMTP_EV_NONE;
	int i;

	(void)state;
	assert_non_null(big);
	memset(big, 'y', chunk);
	for (size_t j = 999; j < chunk; j += 1000)
		big[j] = '\n';
	t_open(&t, 0, 0, 1024);
	greet_ehlo(&t);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	buf_reset(&t.out);
	for (i = 0; i < 80 && ev == SMTP_EV_NONE; i++)
		ev = push_n(&t, big, chunk, 0, &used);
	assert_int_equal(ev, SMTP_EV_CLOSE);
	assert_true(i > 60);
	expect_codes(&t, "552 421");
	assert_string_equal(smtp_proto_close_reason(t.p), "too-much-data");
	assert_int_equal(t.sink.calls, 0);
	t_close(&t);
	free(big);
}

static void
test_command_line_length(void **state)
{
	struct t t;
	char line[1200];

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	/* 1000 octets with the CRLF: fine. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 998, "\r\n", 3);
	push(&t, line);
	expect_codes(&t, "250");
	/* 1001: refused at once, the rest of the line is dropped, the session goes on. */
	memcpy(line + 998, "a\r\n", 4);
	push_n(&t, line, strlen(line), 300, NULL);
	expect(&t, "500 5.5.2 Error: line too long\r\n");
	push(&t, "NOOP\r\n");
	expect_codes(&t, "250");
	/* A long line without its LF yet: one 500, then nothing until the LF. */
	memset(line, 'b', 1100);
	push_n(&t, line, 1100, 0, NULL);
	push_n(&t, line, 1100, 0, NULL);
	push(&t, "tail\r\nNOOP\r\n");
	expect_codes(&t, "500 250");
	t_close(&t);
}

static void
test_data_line_length(void **state)
{
	struct t t;
	size_t n = 70 * 1024;
	char *line = malloc(n + 3);

	(void)state;
	assert_non_null(line);
	t_open(&t, 0, 0, 1 << 20);
	greet_ehlo(&t);
	/* 5000-byte lines are tolerated (RFC 5321 says 1000). */
	memset(line, 'q', 5000);
	memcpy(line + 5000, "\r\n", 3);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	push(&t, line);
	push(&t, ".\r\n");
	expect_codes(&t, "250 250 354 250");
	assert_int_equal(t.sink.data.len, 5002);
	/* Past 64 KiB: refused after the final dot; nothing delivered. */
	memset(line, 'q', n);
	memcpy(line + n, "\r\n", 3);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n");
	push_n(&t, line, n + 2, 4096, NULL);
	push(&t, "short\r\n.\r\n");
	expect_codes(&t, "250 250 354 500");
	assert_int_equal(t.sink.calls, 1);
	t_close(&t);
	free(line);
}

static void
test_too_many_errors(void **state)
{
	struct t t;
	size_t used;
	const char *junk = "xyzzy\r\n";
	char ten[200] = "";

	(void)state;
	t_open(&t, 0, 0, 10000);
	buf_reset(&t.out);
	for (int i = 0; i < 9; i++)
		strcat(ten, junk);
	push(&t, ten);
	expect_codes(&t, "500 500 500 500 500 500 500 500 500");
	assert_int_equal(push_n(&t, "GET / HTTP/1.0\r\nNOOP\r\n", 22, 0, &used), SMTP_EV_CLOSE);
	assert_int_equal(used, 16);
	expect(&t, "500 5.5.1 Error: command not recognized\r\n"
	    "421 4.7.0 " HOST " Error: too many errors, closing connection\r\n");
	assert_string_equal(smtp_proto_close_reason(t.p), "too-many-errors");
	assert_int_equal(push(&t, "NOOP\r\n"), SMTP_EV_CLOSE);
	expect(&t, "");
	t_close(&t);

	/* A delivered message clears the count. */
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	push(&t, ten);
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\nm\r\n.\r\n");
	assert_int_equal(push(&t, ten), SMTP_EV_NONE);
	t_close(&t);
}

static void
test_bad_characters(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	push_n(&t, "NOOP\0x\r\n", 8, 0, NULL);
	push(&t, "NO\rOP\r\nNOOP\t\r\n");
	expect_codes(&t, "500 500 250");
	t_close(&t);
}

static void
test_starttls_drops_pipelined_plaintext(void **state)
{
	struct t t;
	const char *attack = "STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<tlsrpt@example.com>\r\n";
	size_t used;

	(void)state;
	t_open(&t, 0, 1, 10000);
	buf_reset(&t.out);
	push(&t, "STARTTLS\r\n");
	expect_codes(&t, "503");  /* EHLO first */
	greet_ehlo(&t);
	push(&t, "STARTTLS now\r\n");
	expect_codes(&t, "501");
	assert_int_equal(push_n(&t, attack, strlen(attack), 0, &used), SMTP_EV_STARTTLS);
	assert_int_equal(used, strlen(attack));
	expect(&t, "220 2.0.0 Ready to start TLS\r\n");
	/* Anything pushed before the handshake is plaintext: dropped. */
	assert_int_equal(push(&t, "NOOP\r\n"), SMTP_EV_STARTTLS);
	expect(&t, "");
	smtp_proto_tls_started(t.p, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	/* Nothing said before counts: EHLO again; the injected MAIL was never run. */
	push(&t, "MAIL FROM:<a@b.example>\r\n");
	expect_codes(&t, "503");
	push(&t, "EHLO c\r\n");
	{
		char *r = take_out(&t);
		assert_null(strstr(r, "STARTTLS"));
		assert_non_null(strstr(r, "250 ENHANCEDSTATUSCODES"));
		free(r);
	}
	push(&t, "RCPT TO:<tlsrpt@example.com>\r\n");
	expect_codes(&t, "503");
	push(&t, "STARTTLS\r\n");
	expect_codes(&t, "503");
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\nm\r\n.\r\n");
	expect_codes(&t, "250 250 354 250");
	assert_true(t.sink.had_tls);
	assert_string_equal(t.sink.tls_version, "TLSv1.3");
	assert_string_equal(t.sink.from, "a@b.example");
	t_close(&t);
}

static void
test_lmtp(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 1, 0, 10000);
	expect(&t, "220 " HOST " LMTP tlsrptd ready\r\n");
	push(&t, "EHLO c\r\nHELO c\r\n");
	expect_codes(&t, "500 500");
	push(&t, "LHLO c\r\n");
	expect_codes(&t, "250 250 250 250 250");
	t.sink.answer = "554 5.6.0 no-report-part: nothing here";
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nRCPT TO:<x@nowhere.example>\r\n"
	    "RCPT TO:<r@example.net>\r\nDATA\r\nhello\r\n.\r\n");
	expect(&t, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "550 5.1.1 <x@nowhere.example>: recipient address rejected: not a report address here\r\n"
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "554 5.6.0 no-report-part: nothing here\r\n554 5.6.0 no-report-part: nothing here\r\n");
	assert_int_equal(t.sink.calls, 1);
	t_close(&t);

	/* SMTP refuses LHLO. */
	t_open(&t, 0, 0, 10000);
	buf_reset(&t.out);
	push(&t, "LHLO c\r\n");
	expect_codes(&t, "500");
	t_close(&t);
}

static void
test_deliver_reply_is_sanitised(void **state)
{
	struct t t;

	(void)state;
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	t.sink.answer = "250 2.0.0 fine\r\n250 injected";
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\nm\r\n.\r\n");
	expect(&t, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 fine??250 injected\r\n");
	t.sink.answer = "not a reply";
	push(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\nm\r\n.\r\n");
	expect_codes(&t, "250 250 354 451");
	t_close(&t);
}

static void
test_output_high_water(void **state)
{
	struct t t;
	size_t n = 20000 * 6, used, calls = 0, off = 0;
	char *many = malloc(n + 1);

	(void)state;
	assert_non_null(many);
	for (size_t i = 0; i < 20000; i++)
		memcpy(many + i * 6, "NOOP\r\n", 6);
	t_open(&t, 0, 0, 10000);
	greet_ehlo(&t);
	while (off < n) {
		assert_int_equal(smtp_proto_input(t.p, many + off, n - off, &used, &t.out), SMTP_EV_NONE);
		assert_true(t.out.len < 20 * 1024);
		off += used;
		calls++;
		buf_reset(&t.out); /* "sent" */
	}
	assert_true(calls > 1);
	t_close(&t);
	free(many);
}

static void
test_reply_for_verdicts(void **state)
{
	struct pipeline_result r;
	char out[SMTP_REPLY_MAX];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.verdict = PIPELINE_ACCEPTED;
	r.report_id = 42;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 250);
	assert_string_equal(out, "250 2.0.0 Ok: report 42 accepted");
	r.verdict = PIPELINE_DUPLICATE;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 250);
	assert_non_null(strstr(out, "report 42 already stored"));
	r.verdict = PIPELINE_CONFLICT;
	r.report_id = 43;
	r.conflict_of = 42;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 250);
	assert_non_null(strstr(out, "report 43"));
	assert_non_null(strstr(out, "report 42"));
	r.verdict = PIPELINE_TEMPORARY;
	snprintf(r.temp_reason, sizeof(r.temp_reason), "database is locked");
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 451);
	assert_non_null(strstr(out, "451 4.3.0 "));
	assert_non_null(strstr(out, "database is locked"));
	snprintf(r.temp_reason, sizeof(r.temp_reason), "dkim: key lookup failed (d=example.net s=s1)");
	r.temp_dkim = 1;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 451);
	assert_string_equal(out, "451 4.4.3 dkim: key lookup failed (d=example.net s=s1); try again later");
	r.verdict = PIPELINE_PENDING;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 451);

	r.verdict = PIPELINE_QUARANTINED;
	r.quarantine_id = 7;
	r.reject = PIPELINE_REJECT_INVALID;
	snprintf(r.error.code, sizeof(r.error.code), "not-json");
	snprintf(r.error.reason, sizeof(r.error.reason), "bad\r\nreason");
	snprintf(r.error.path, sizeof(r.error.path), "policies[0]");
	r.error.line = 3;
	r.error.column = 14;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 554);
	assert_string_equal(out, "554 5.6.0 not-json: bad??reason at policies[0] (line 3, column 14); "
	    "kept in quarantine as 7");
	r.reject = PIPELINE_REJECT_MEDIA;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 554);
	r.reject = PIPELINE_REJECT_TOO_LARGE;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 552);
	assert_non_null(strstr(out, "552 5.3.4 "));
	r.reject = PIPELINE_REJECT_NOT_SERVED;
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 550);
	assert_non_null(strstr(out, "550 5.7.1 "));
	/* DKIM: kept and ignored (RFC 8460), not refused: no bounce to a forged sender. */
	r.reject = PIPELINE_REJECT_DKIM;
	snprintf(r.error.code, sizeof(r.error.code), "dkim-fail");
	snprintf(r.error.reason, sizeof(r.error.reason), "dkim: body hash mismatch (d=example.net s=s1)");
	assert_int_equal(smtp_reply_for(&r, out, sizeof(out)), 250);
	assert_string_equal(out, "250 2.7.0 Kept in quarantine as 7, not counted: dkim: body hash "
	    "mismatch (d=example.net s=s1)");

	/* Never longer than a reply line may be. */
	r.reject = PIPELINE_REJECT_INVALID;
	memset(r.error.reason, 'r', sizeof(r.error.reason) - 1);
	r.error.reason[sizeof(r.error.reason) - 1] = '\0';
	memset(r.error.path, 'p', sizeof(r.error.path) - 1);
	r.error.path[sizeof(r.error.path) - 1] = '\0';
	smtp_reply_for(&r, out, sizeof(out));
	assert_true(strlen(out) <= SMTP_REPLY_MAX - 2);
}

static void
test_listen_off(void **state)
{
	(void)state;
	assert_true(smtp_listen_off(NULL));
	assert_true(smtp_listen_off(""));
	assert_true(smtp_listen_off("off"));
	assert_true(smtp_listen_off("OFF"));
	assert_false(smtp_listen_off("127.0.0.1:2525"));
}

static void
test_start_refuses_bad_options(void **state)
{
	const char *bad_rcpt[] = { "no-at-sign" };
	struct smtp_options o = {
		.listen = "127.0.0.1:0",
		.hostname = "mx.test.example",
		.max_message = 1024,
		.max_recipients = 1,
		.max_connections = 1,
		.timeout_s = 1,
		.max_errors = 1,
	};
	char err[256];
	struct smtp_server *s;

	(void)state;
	o.listen = "localhost:25";
	assert_null(smtp_start(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "listen address"));
	o.listen = "127.0.0.1:0";
	o.recipients = bad_rcpt;
	o.n_recipients = 1;
	assert_null(smtp_start(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "smtp_recipients"));
	o.n_recipients = 0;
	o.hostname = "bad host";
	assert_null(smtp_start(&o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "smtp_hostname"));
	/* A good one binds a real port and stops cleanly with no session. */
	o.hostname = NULL;
	s = smtp_start(&o, NULL, err, sizeof(err));
	assert_non_null(s);
	assert_true(smtp_port(s) > 0);
	assert_false(smtp_starttls_offered(s));
	smtp_quiesce(s);
	assert_int_equal(smtp_drain(s, 100), 0);
	assert_int_equal(smtp_stop(s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_ehlo),
		cmocka_unit_test(test_one_message_dot_unstuffed),
		cmocka_unit_test(test_bare_lf_and_bare_cr),
		cmocka_unit_test(test_split_anywhere_same_result),
		cmocka_unit_test(test_pipelining_in_one_packet),
		cmocka_unit_test(test_sequence_errors),
		cmocka_unit_test(test_path_syntax),
		cmocka_unit_test(test_mail_parameters),
		cmocka_unit_test(test_recipient_limit_and_accept_all),
		cmocka_unit_test(test_oversize_message),
		cmocka_unit_test(test_endless_oversize_is_cut_off),
		cmocka_unit_test(test_command_line_length),
		cmocka_unit_test(test_data_line_length),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_bad_characters),
		cmocka_unit_test(test_starttls_drops_pipelined_plaintext),
		cmocka_unit_test(test_lmtp),
		cmocka_unit_test(test_deliver_reply_is_sanitised),
		cmocka_unit_test(test_output_high_water),
		cmocka_unit_test(test_reply_for_verdicts),
		cmocka_unit_test(test_listen_off),
		cmocka_unit_test(test_start_refuses_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
