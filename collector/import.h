/*
 * import: the mailbox side of `tlsrptd import` (collector/import.c). cmd_import() itself is
 * declared in collector/cmd.h; this header holds the streaming mbox reader it uses, kept
 * apart so that it can be tested without files, a store or a terminal.
 *
 * The mbox reader splits an mbox file (mboxo or mboxrd, LF or CRLF line ends) into messages.
 * Bytes are pushed in as they are read, in chunks of any size; whole messages are pulled out
 * one at a time. Only the message being assembled is held in memory, and no more than the
 * cap given to mbox_new(): a mailbox of any size is read with bounded memory.
 *
 *   separator  A line starting "From " at the start of the file or after a blank line (the
 *              mboxo/mboxrd rule). After a non-blank line, a "From " line separates only when
 *              it reads like a real From_ line: "From SENDER" followed by an asctime date
 *              (weekday, month, day, hh:mm[:ss], and a four-digit year further on). So an
 *              mbox written without blank lines between messages still splits, while an
 *              unquoted "From here on..." in a body written by a careless tool does not.
 *              The file must start with "From " (an empty file is an empty mailbox).
 *   unquoting  mboxrd: one '>' is removed from every line matching ^>+From . A reader cannot
 *              tell mboxo (where only "From " is quoted, so ">From " in a body stays as it
 *              is) from mboxrd, so every file is read as mboxrd: that gives back every line
 *              of an mboxrd file exactly, and costs an mboxo file at most one '>' on a body
 *              line that began ">From " -- never in a report attachment (base64 has no '>',
 *              and JSON lines do not begin ">From ").
 *   blank line The blank line before each separator and the one at the end of the file were
 *              added by the mbox writer and are removed (one line, LF or CRLF).
 *   last line  A last line without a line end is kept as it is.
 *
 * The From_ line itself is not part of the message; its text after "From " is given as the
 * envelope. Not thread safe: one reader per thread.
 */
#ifndef TLSRPT_IMPORT_H
#define TLSRPT_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#define MBOX_LINE_MAX 1024     /* a candidate From_ line longer than this is body text
                                  (unless it is a separator by position: then it is cut) */
#define MBOX_ENVELOPE_MAX 256  /* envelope text kept per message (cut to fit) */

enum mbox_rc {
	MBOX_MSG = 1,              /* a message was pulled out */
	MBOX_MORE = 0,             /* push more bytes (or, after mbox_end(), no more messages) */
	MBOX_ERR_FORMAT = -1,      /* the input does not start with a From_ line: not an mbox */
	MBOX_ERR_NOMEM = -2        /* out of memory */
};

/* One message, as pulled out by mbox_next(). */
struct mbox_msg {
	const char *data;          /* the message, unquoted, without its From_ line; NULL when
	                              too_large; owned by the reader, valid until the next call */
	size_t len;                /* bytes at data (0 when too_large) */
	uint64_t size;             /* the message's full size, also when too_large */
	uint64_t offset;           /* byte offset of its From_ line in the input */
	unsigned long number;      /* 1 for the first message */
	int too_large;             /* 1: larger than the cap; its bytes were skipped */
	char envelope[MBOX_ENVELOPE_MAX]; /* the From_ line after "From ", without line end */
};

struct mbox;

/* A reader whose messages may hold at most max_message bytes. NULL on OOM. */
struct mbox *mbox_new(size_t max_message);

/* Accepts NULL. */
void mbox_free(struct mbox *m);

/*
 * Pushes up to len bytes. Returns how many were taken: fewer than len when a message is
 * complete; then call mbox_next() (until it returns MBOX_MORE) and push the rest. After an
 * error every byte is taken (and ignored); mbox_next() returns the error.
 */
size_t mbox_push(struct mbox *m, const void *p, size_t len);

/* Says the input has ended: mbox_next() then gives the last message(s). */
void mbox_end(struct mbox *m);

/*
 * Pulls the next complete message into *msg (whose data the reader owns, valid until the next
 * mbox_push/mbox_next/mbox_free). Returns MBOX_MSG, MBOX_MORE, or a (sticky) MBOX_ERR_*.
 */
int mbox_next(struct mbox *m, struct mbox_msg *msg);

/* Bytes taken so far. */
uint64_t mbox_offset(const struct mbox *m);

#endif
