/*
 * gz: bounded gzip decoding (and the encoding used to keep raw bodies).
 *
 * gz_inflate() decodes every gzip member of the input in turn (RFC 1952 says a multi-member
 * file is the concatenation of its members; gunzip(1) does the same) and reports how many there
 * were, so the caller can lint it. It refuses: output beyond max_out; an expansion ratio beyond
 * max_ratio once the output passes ratio_floor bytes (a bomb); a truncated member; a corrupt
 * stream or a bad CRC/length trailer; bytes after the last member that are not a gzip member
 * (zero padding at the very end is tolerated, as gunzip does). Thread safe.
 */
#ifndef TLSRPT_GZ_H
#define TLSRPT_GZ_H

#include <stddef.h>

#include "collector/buf.h"

enum gz_status {
	GZ_OK = 0,
	GZ_ERR_TRUNCATED = -1, /* input ended inside a member */
	GZ_ERR_CORRUPT = -2,   /* not deflate data, bad header, bad CRC or length */
	GZ_ERR_TOO_BIG = -3,   /* output would pass max_out */
	GZ_ERR_RATIO = -4,     /* expansion ratio above max_ratio */
	GZ_ERR_TRAILING = -5,  /* non-gzip bytes after the last member */
	GZ_ERR_NOMEM = -6
};

struct gz_limits {
	size_t max_out;      /* hard cap on decoded bytes */
	unsigned max_ratio;  /* decoded/encoded cap, checked once decoded > ratio_floor */
	size_t ratio_floor;
};

/* 1 when p starts with the gzip magic bytes 1f 8b, else 0. */
int gz_is_gzip(const void *p, size_t len);

/*
 * Decodes in[0..len) into out (appended; out's own cap also applies). Returns GZ_OK and sets
 * *members (>= 1), or a negative gz_status with a sentence in err (offsets included).
 */
int gz_inflate(const void *in, size_t len, const struct gz_limits *lim, struct buf *out,
    unsigned *members, char *err, size_t errlen);

/* Encodes in[0..len) as one gzip member (level 6) appended to out. 0, or a negative gz_status. */
int gz_deflate(const void *in, size_t len, struct buf *out);

#endif
