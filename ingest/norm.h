/*
 * norm: normalisation of the small values inside reports. Pure functions, thread safe.
 * Each writes into a caller buffer and returns 0, or -1 when the input is not of that kind
 * (the caller then keeps the raw text and records lint).
 */
#ifndef TLSRPT_NORM_H
#define TLSRPT_NORM_H

#include <stddef.h>
#include <stdint.h>

#define NORM_DOMAIN_MAX 256 /* a normalised domain fits in this many bytes with its NUL */

/*
 * Domain name to lower-case A-labels without a trailing dot. U-labels (UTF-8) are encoded with
 * punycode (RFC 3492) as "xn--..." (no NFC/IDNA mapping beyond ASCII lower-casing). ASCII
 * bytes must be letters, digits, '-' or '_'; a label "*" alone (an MX pattern's wildcard) is
 * kept. Fails on empty labels, labels over 63 bytes, names over 253 bytes, and any other
 * ASCII byte (spaces, control characters, punctuation such as '<' '"' '/' ':' '@').
 * *changed is set to 1 when the result differs from the input (may be NULL).
 */
int norm_domain(const char *in, size_t len, char out[NORM_DOMAIN_MAX], int *changed);

/* IPv4 or IPv6 text to canonical form (inet_ntop; IPv6 per RFC 5952). out holds 46 bytes. */
int norm_ip(const char *in, size_t len, char out[46], int *changed);

/*
 * RFC 3339 date-time to UTC epoch seconds. Accepts 'T' or 't' (and ' ' with *lenient set),
 * fractional seconds (dropped), 'Z'/'z' or +hh:mm/-hh:mm. With no zone the time is taken as
 * UTC and *no_zone set to 1. Rejects impossible dates and times.
 */
int norm_datetime(const char *in, size_t len, int64_t *epoch, int *no_zone, int *lenient);

/*
 * Decodes one UTF-8 sequence at s[0..len). Returns its length in bytes and sets *cp (which may
 * be NULL), or 0 when the bytes are not valid UTF-8 (overlong forms, surrogates and values
 * above U+10FFFF refused) or len is 0.
 */
size_t norm_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/*
 * The domain an address-like text names, normalised into out: "mailto:user@host?query",
 * "user@host", "Name <user@host>", a URI "scheme://user@host:port/path" (the host), or a bare
 * host name. Anything else, or anything ambiguous (two '@' in an address, a '<' without its
 * '>', an IP literal), names no domain. 0, or -1. (For DKIM alignment: the
 * reporter's contact-info and TLS-Report-Submitter.)
 */
int norm_domain_of(const char *s, char out[NORM_DOMAIN_MAX]);

/* The value (0-63) of a base64 digit of the standard alphabet (RFC 4648), or -1. */
int norm_b64_digit(int c);

#endif
