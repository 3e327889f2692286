/*
 * buf: the one growable byte buffer of the project, with a hard cap.
 *
 * Serves HTTP bodies, gunzip output, SMTP DATA and CSV. Appends past the cap (or a failed
 * allocation) fail, set the sticky error and leave the contents as they were, so a writer can
 * append freely and check buf->err once at the end. The data is always NUL-terminated
 * (one byte beyond len), which the cap does not count. Not thread safe.
 */
#ifndef TLSRPT_BUF_H
#define TLSRPT_BUF_H

#include <stdarg.h>
#include <stddef.h>

enum buf_err { BUF_OK = 0, BUF_ERR_CAP = -1, BUF_ERR_NOMEM = -2 };

struct buf {
	char *data;   /* NULL until the first append; NUL-terminated after */
	size_t len;   /* bytes in use */
	size_t alloc; /* bytes allocated */
	size_t max;   /* hard cap on len */
	int err;      /* sticky: BUF_OK or the first failure */
};

/* Empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);

/* Frees the data and resets to empty (keeps max). Accepts NULL. */
void buf_free(struct buf *b);

/* Drops the contents, keeps the allocation, clears the error. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes. 0, or BUF_ERR_CAP / BUF_ERR_NOMEM (sticky). */
int buf_reserve(struct buf *b, size_t n);

/* Appends n bytes. 0, or BUF_ERR_CAP / BUF_ERR_NOMEM (sticky; nothing appended). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Same returns as buf_append. */
int buf_puts(struct buf *b, const char *s);

/* Appends formatted text. Same returns as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Hands the data to the caller (free() it; never NULL on success, "" for empty) and resets b. */
char *buf_detach(struct buf *b, size_t *len);

#endif
