/*
 * gz: bounded gzip decoding with zlib, one member after another, and gzip encoding.
 *
 * Decoding inflates into a small stack window and checks the caps before each append, so
 * a bomb costs at most one window beyond the cap in CPU and nothing beyond it in memory.
 */
#include "ingest/gz.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#define GZ_WINDOW    16384      /* decoded bytes produced per inflate() call */
#define GZ_IN_STEP   (1u << 30) /* input handed to zlib per call (avail_in is a uInt) */
#define GZ_LEVEL     6

int
gz_is_gzip(const void *p, size_t len)
{
	const unsigned char *b = p;

	return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* 1 when p[0..len) is all zero bytes (padding gunzip(1) also ignores). */
static int
all_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
	/* a truncated sentence is still a useful one: keep what fits */
}

static int
buf_status(const struct buf *b)
{
	return b->err == BUF_ERR_NOMEM ? GZ_ERR_NOMEM : GZ_ERR_TOO_BIG;
}

/* decoded/consumed above max_ratio, tested once decoded passes ratio_floor; 0 = no limit */
static int
ratio_exceeded(const struct gz_limits *lim, size_t produced, size_t consumed)
{
	if (lim->max_ratio == 0 || produced <= lim->ratio_floor)
		return 0;
	if (consumed == 0)
		return 1;
	if ((uint64_t)consumed > UINT64_MAX / lim->max_ratio)
		return 0; /* the product cannot be reached by a size_t */
	return (uint64_t)produced > (uint64_t)consumed * lim->max_ratio;
}

int
gz_inflate(const void *in, size_t len, const struct gz_limits *lim, struct buf *out,
    unsigned *members, char *err, size_t errlen)
{
	const unsigned char *src = in;
	unsigned char win[GZ_WINDOW];
	struct gz_limits def;
	z_stream zs;
	size_t pos = 0;       /* input bytes consumed so far */
	size_t mstart = 0;    /* where the current member began */
	size_t produced = 0;  /* decoded bytes appended by this call */
	size_t start_len = out->len, have, step;
	unsigned n = 0;
	int rc = GZ_OK, zrc, live = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (lim == NULL) {
		def.max_out = out->max;
		def.max_ratio = 0;
		def.ratio_floor = 0;
		lim = &def;
	}
	if (members != NULL)
		*members = 0;
	memset(&zs, 0, sizeof(zs));
	if (len == 0) {
		set_err(err, errlen, "empty input: no gzip member");
		rc = GZ_ERR_TRUNCATED;
		goto done;
	}
	if (!gz_is_gzip(src, len)) {
		set_err(err, errlen, "not gzip: byte 0 is 0x%02x%s, expected 1f 8b", src[0],
		    len < 2 ? " and input ends" : "");
		rc = len < 2 && src[0] == 0x1f ? GZ_ERR_TRUNCATED : GZ_ERR_CORRUPT;
		goto done;
	}
	zrc = inflateInit2(&zs, 16 + MAX_WBITS);
	if (zrc != Z_OK) {
		set_err(err, errlen, "inflateInit2 failed: %s", zrc == Z_MEM_ERROR ?
		    "out of memory" : "zlib error");
		rc = zrc == Z_MEM_ERROR ? GZ_ERR_NOMEM : GZ_ERR_CORRUPT;
		goto done;
	}
	live = 1;
	for (;;) {
		if (zs.avail_in == 0 && pos < len) {
			step = len - pos < GZ_IN_STEP ? len - pos : GZ_IN_STEP;
			zs.next_in = (Bytef *)(uintptr_t)(src + pos); /* zlib does not write it */
			zs.avail_in = (uInt)step;
			pos += step;
		}
		zs.next_out = win;
		zs.avail_out = sizeof(win);
		zrc = inflate(&zs, Z_NO_FLUSH);
		have = sizeof(win) - zs.avail_out;
		if (have > 0) {
			if (have > lim->max_out || produced > lim->max_out - have) {
				set_err(err, errlen, "decoded size passes the limit of %zu bytes "
				    "(member %u, at input byte %zu)", lim->max_out, n + 1,
				    pos - zs.avail_in);
				rc = GZ_ERR_TOO_BIG;
				goto done;
			}
			if (buf_append(out, win, have) != 0) {
				rc = buf_status(out);
				set_err(err, errlen, rc == GZ_ERR_NOMEM ? "out of memory after "
				    "%zu decoded bytes" : "decoded size passes the buffer limit "
				    "after %zu bytes", produced);
				goto done;
			}
			produced += have;
			if (ratio_exceeded(lim, produced, pos - zs.avail_in)) {
				set_err(err, errlen, "expansion ratio above %u:1 (%zu bytes "
				    "decoded from the first %zu input bytes)", lim->max_ratio,
				    produced, pos - zs.avail_in);
				rc = GZ_ERR_RATIO;
				goto done;
			}
		}
		if (zrc == Z_STREAM_END) {
			size_t at = pos - zs.avail_in, rest = len - at;

			n++;
			if (rest == 0 || all_zero(src + at, rest))
				break;
			if (!gz_is_gzip(src + at, rest)) {
				set_err(err, errlen, "%zu bytes of trailing data after gzip member "
				    "%u, at byte %zu (first byte 0x%02x)", rest, n, at, src[at]);
				rc = rest == 1 && src[at] == 0x1f ? GZ_ERR_TRUNCATED :
				    GZ_ERR_TRAILING;
				goto done;
			}
			if (inflateReset(&zs) != Z_OK) {
				set_err(err, errlen, "inflateReset failed");
				rc = GZ_ERR_CORRUPT;
				goto done;
			}
			mstart = at;
			continue;
		}
		if (zrc == Z_OK)
			continue;
		if (zrc == Z_BUF_ERROR && zs.avail_in == 0 && pos == len) {
			set_err(err, errlen, "input ends at byte %zu inside gzip member %u "
			    "(which starts at byte %zu)", len, n + 1, mstart);
			rc = GZ_ERR_TRUNCATED;
			goto done;
		}
		if (zrc == Z_MEM_ERROR) {
			set_err(err, errlen, "out of memory in inflate");
			rc = GZ_ERR_NOMEM;
			goto done;
		}
		set_err(err, errlen, "corrupt gzip member %u (starts at byte %zu): %s, "
		    "near byte %zu", n + 1, mstart, zs.msg != NULL ? zs.msg : "inflate error",
		    pos - zs.avail_in);
		rc = GZ_ERR_CORRUPT;
		goto done;
	}
	if (members != NULL)
		*members = n;
done:
	if (live)
		inflateEnd(&zs);
	if (rc != GZ_OK && out->len > start_len) {
		out->len = start_len; /* nothing half-decoded is left behind */
		out->data[out->len] = '\0';
	}
	return rc;
}

int
gz_deflate(const void *in, size_t len, struct buf *out)
{
	const unsigned char *src = in;
	unsigned char win[GZ_WINDOW];
	z_stream zs;
	size_t pos = 0, start_len = out->len, step;
	int rc = GZ_OK, zrc, flush, live = 0;

	memset(&zs, 0, sizeof(zs));
	zrc = deflateInit2(&zs, GZ_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	if (zrc != Z_OK) {
		rc = zrc == Z_MEM_ERROR ? GZ_ERR_NOMEM : GZ_ERR_CORRUPT;
		goto done;
	}
	live = 1;
	do {
		if (zs.avail_in == 0 && pos < len) {
			step = len - pos < GZ_IN_STEP ? len - pos : GZ_IN_STEP;
			zs.next_in = (Bytef *)(uintptr_t)(src + pos);
			zs.avail_in = (uInt)step;
			pos += step;
		}
		flush = pos == len ? Z_FINISH : Z_NO_FLUSH;
		zs.next_out = win;
		zs.avail_out = sizeof(win);
		zrc = deflate(&zs, flush);
		if (zrc == Z_STREAM_ERROR) {
			rc = GZ_ERR_CORRUPT;
			goto done;
		}
		if (buf_append(out, win, sizeof(win) - zs.avail_out) != 0) {
			rc = buf_status(out);
			goto done;
		}
	} while (zrc != Z_STREAM_END);
done:
	if (live)
		deflateEnd(&zs);
	if (rc != GZ_OK && out->len > start_len) {
		out->len = start_len;
		out->data[out->len] = '\0';
	}
	return rc;
}
