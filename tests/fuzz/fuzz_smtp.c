/*
 * libFuzzer target: the SMTP/LMTP protocol engine (ingest/smtp.c) on any client byte stream:
 * command parsing, the state machine, DATA framing and dot-unstuffing, the limits, STARTTLS.
 *
 * Input: byte 0 picks the options (LMTP or SMTP, STARTTLS offered, the size of each read,
 * a small or a large message cap); the rest is what the client sends. Checked: every reply
 * line is "NNN" + ' ' or '-' + printable text + CRLF within 512 bytes; the engine never takes
 * more than it was given; a delivered message is within the cap; nothing is accepted after
 * the session closed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/buf.h"
#include "collector/log.h"
#include "ingest/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	size_t max_message;
	unsigned calls;
};

static void
fz_deliver(void *arg, const struct smtp_delivery *d, char *reply, size_t replylen)
{
	struct fz *f = arg;
	static const char *const answers[] = {
		"250 2.0.0 Ok: report 1 accepted",
		"451 4.3.0 Storage temporarily unavailable",
		"554 5.6.0 not-json: \"bad\"\r\ninjected",
		"garbage that is no reply",
	};

	if (d->len > f->max_message || (d->data == NULL && d->len > 0) || d->n_rcpts == 0)
		abort();
	snprintf(reply, replylen, "%s", answers[(d->len + f->calls++) % 4]);
}

/* Every queued reply line must be well-formed. */
static void
check_replies(const struct buf *out)
{
	size_t i = 0;

	while (i < out->len) {
		const char *l = out->data + i;
		const char *end = memchr(l, '\n', out->len - i);
		size_t n;

		if (end == NULL)
			abort();
		n = (size_t)(end - l) + 1;
		if (n < 6 || n > SMTP_REPLY_MAX || l[n - 2] != '\r' || l[0] < '2' || l[0] > '5' ||
		    l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9' || (l[3] != ' ' && l[3] != '-'))
			abort();
		for (size_t j = 4; j < n - 2; j++)
			if ((unsigned char)l[j] < 0x20 || (unsigned char)l[j] >= 0x7f)
				abort();
		i += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = { "tlsrpt@example.com", "@example.net" };
	static const size_t steps[] = { 0, 1, 2, 3, 7, 64, 1000, 4096 };
	struct fz f = { 0 };
	struct smtp_proto_options o;
	struct smtp_proto *p;
	struct buf out;
	size_t off = 1, step;
	int closed = 0;

	if (size < 1)
		return 0;
	log_set_level(LOGL_ERROR);
	f.max_message = (data[0] & 0x40) ? 1 << 20 : 200;
	step = steps[(data[0] >> 3) & 7];
	o = (struct smtp_proto_options){
		.hostname = "mx.fuzz.example",
		.lmtp = data[0] & 1,
		.tls_available = (data[0] >> 1) & 1,
		.recipients = rcpts,
		.n_recipients = (data[0] & 4) ? 2 : 0,
		.max_message = f.max_message,
		.max_recipients = 4,
		.max_errors = (data[0] & 0x80) ? 0 : 10,
		.sid = "F",
		.deliver = fz_deliver,
		.deliver_arg = &f,
	};
	if ((p = smtp_proto_new(&o)) == NULL)
		return 0;
	buf_init(&out, 8 * 1024 * 1024);
	smtp_proto_greet(p, &out);
	while (off < size && !closed) {
		size_t n = step == 0 || size - off < step ? size - off : step, used = 0;
		enum smtp_event ev = smtp_proto_input(p, data + off, n, &used, &out);

		if (used > n)
			abort();
		check_replies(&out);
		buf_reset(&out);
		off += used;
		if (ev == SMTP_EV_STARTTLS) {
			if (used != n)
				abort(); /* pipelined plaintext after STARTTLS must all be dropped */
			smtp_proto_tls_started(p, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
		} else if (ev == SMTP_EV_CLOSE) {
			if (smtp_proto_close_reason(p) == NULL)
				abort();
			closed = 1;
		} else if (used == 0 && n > 0) {
			abort(); /* no progress with an empty output buffer */
		}
	}
	if (closed && off < size) {
		size_t used = 1;

		if (smtp_proto_input(p, data + off, size - off, &used, &out) != SMTP_EV_CLOSE || used != 0 ||
		    out.len != 0)
			abort();
	}
	smtp_proto_free(p);
	buf_free(&out);
	return 0;
}
