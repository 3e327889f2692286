/* net: the listen addresses of every listener (HTTP, SMTP, LMTP), parsed one way. */
#ifndef TLSRPT_NET_H
#define TLSRPT_NET_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * "IPv4:PORT" or "[IPv6]:PORT" (numeric only, never resolved; port 0..65535, 0 = any free)
 * into *ss, with its length in *len (may be NULL). 0, or -1 with a sentence in err.
 */
int net_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
    size_t errlen);

/* 1 when the address is loopback (127.0.0.0/8 or ::1), else 0. */
int net_is_loopback(const struct sockaddr_storage *ss);

/*
 * The CLOCK_REALTIME time timeout_ms (>= 0) from now into *until: the deadline of a
 * pthread_cond_timedwait() while a listener drains (http_drain, smtp_drain).
 */
struct timespec;
void net_deadline(struct timespec *until, int timeout_ms);

#endif
