/*
 * log: one-line key=value records on stderr.
 *
 *   ts=2026-11-28T22:15:16Z level=info event=listening addr=127.0.0.1 port=8080
 *
 * Every record starts with ts, level and event; the caller's format adds the rest as
 * key=value pairs. Values that come from the network must go through log_q() so that a
 * hostile string cannot forge a field or a line. Thread safe: one write(2) per record.
 */
#ifndef TLSRPT_LOG_H
#define TLSRPT_LOG_H

#include <stddef.h>

enum log_level { LOGL_ERROR = 0, LOGL_WARN = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

/* Sets the lowest level that is written (default LOGL_INFO). Not thread safe: call at start. */
void log_set_level(enum log_level level);

/* Parses "error", "warn", "info", "debug". Returns 0 and sets *out, or -1 for anything else. */
int log_parse_level(const char *name, enum log_level *out);

/* Writes one record. event is a short bare word; fmt (may be NULL) adds " key=value..." pairs. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Quotes s[0..len) for use as a log value: returned as-is when it is a non-empty run of safe
 * characters, otherwise in double quotes with ", \ and control bytes escaped; cut to fit dst
 * (marked with "..."). len may be (size_t)-1 for a NUL-terminated s; s may be NULL ("-").
 * Returns dst, always NUL-terminated. dstlen must be at least 8.
 */
const char *log_q(char *dst, size_t dstlen, const char *s, size_t len);

#define log_error(ev, ...) log_msg(LOGL_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOGL_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOGL_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOGL_DEBUG, ev, __VA_ARGS__)

#endif
