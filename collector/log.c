#include "collector/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_level log_threshold = LOGL_INFO;
static const char *const log_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

int
log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct tm tm;
	time_t now;
	size_t n;
	int rc;

	if (level > log_threshold)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	rc = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02dZ level=%s event=%s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    log_names[level], event);
	if (rc < 0)
		return;
	n = (size_t)rc < sizeof(line) ? (size_t)rc : sizeof(line) - 1;
	if (fmt != NULL && n < sizeof(line) - 2) {
		va_list ap;
		line[n++] = ' ';
		va_start(ap, fmt);
		rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (rc > 0)
			n += (size_t)rc < sizeof(line) - n ? (size_t)rc : sizeof(line) - n - 1;
	}
	/* A truncated record still ends in a newline, so the next one starts a line. */
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

static int
log_safe(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *
log_q(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t i, o = 0;
	int plain = 1;

	if (s == NULL) {
		snprintf(dst, dstlen, "-");
		return dst;
	}
	if (len == (size_t)-1)
		len = strlen(s);
	for (i = 0; i < len; i++)
		if (!log_safe((unsigned char)s[i]))
			plain = 0;
	if (len == 0)
		plain = 0;
	if (!plain)
		dst[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		size_t el;

		if (plain || (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')) {
			esc[0] = (char)c;
			el = 1;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			el = 2;
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			el = 4;
		}
		/* Keep room for: closing quote, "...", NUL. */
		if (o + el + 5 > dstlen) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(dst + o, esc, el);
		o += el;
	}
	if (!plain)
		dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
