/*
 * Unit tests for ingest/dkim_keys: the key file (fixtures in tests/data/dkim_keys; the big and
 * oversize ones are written at run time), and DNS against a real local nameserver: dnsmasq
 * (package dnsmasq-base, a build dependency: the DNS group FAILS when it is missing) started
 * on a free port on 127.0.0.1 for the group, plus small fake servers for the timeout paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ingest/dkim_keys.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
#define LOCAL_TTL 600    /* --local-ttl given to dnsmasq */

/* A real RSA-2048 and RSA-4096 SubjectPublicKeyInfo (base64). */
static const char K2048[] =
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArfFZrSaBJlJGQw2EvATsCjwdy2PbKksk3zwt9wKSY5wg"
    "0ERdx4PZhP39iPO7J3tSiZOGWRnEhkm4AaNET3fEXuSEUa+fpbvIW1ItoC9AtProO8IMTlBvCgIzDIEcW2kQbk2p"
    "Jqj0SEotMczGIfwMr8eU0mjEKKIh2WLO3GUTmVuwliw/Vp6G58H3z6FT86GRr5roBtePCKGPUQKT55OmvmQ1naxU"
    "U9UEH6VlcRNUesfWIk0xGZmp7wKl6pMdonXlMEr79mVuPSsQZxgcGL9PDH7ad2k92JqbJgNuTo9AJdHYxEB05rri"
    "9MHwsRGZd9Pw88YlZSL4afuG2Pzx6JYExQIDAQAB";
static const char K4096[] =
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA0yVCykV1upkyQBJDo+7Hur3OG3jmsoNFlLgGFvSUWZNm"
    "oStDTraZOqr8coOWYh8cQp6SIokuMRWSSe4smLq3w5s8iU0cALwxym68sNiw83E+mYCg2t2t0bNco0fw254RoG3g"
    "z34aJR1IEEqKDGwTrOE6kEm1ISZ/8eeApZehf/FNIg9qId5KSDnuXbskEtPukndGXnlAz+N3yeIa7P0UDKig2DRT"
    "hCYAidQPH0n+qtwCQYm/Ua4jh1r/CxW51o5aY2fbPjebG/UiU4dloIQa40d5rdGosyIOCm+efbeHT26nM4d0hKJb"
    "pdimwQvEp6p1ACls/gu5e69ukeH73ai3s6dbsPpYJLxb5pvXKlYQM2w0VvrL9uHPfTkDzIn+vyL+AndNMYgw4Qpr"
    "lzFe+ZpVm8DxuPeKu/r1MfAz35nBlYOx6nGYZnis+O/leTRSqs08olI72wAUN8hIWsnZ8qALL/zGraOhGRxepSpM"
    "CjMP/F3gHRjvbqj2nqWBtHN+AEyC31yupo3A6USaaAsP0R3cwxeugN7ZcgJ5tiURzpBHG0D9js/+NjmDNE1T+Of9"
    "Z07r72FyUCF+GPTLh3gY7dcpVCIX6Aw5ReEYIRCRJ+xXOXIrPGEYJR0rX2xQRDzn/ssZU0hJcq5fBrdIp2Md6XmZ"
    "6in7MFA3hAF+m0G1Lw5uM9sCAwEAAQ==";

static char txt[DKIM_KEY_TXT_MAX];
static char err[256];

static void
data_path(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/dkim_keys/%s", TLSRPT_TEST_DATA, name);

	assert_true(n > 0 && (size_t)n < cap);
}

static char *
concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	assert_non_null(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct dkim_keys *
keys_new(const char *file, const char *resolver, unsigned timeout_s, int no_dns)
{
	struct dkim_keys_options o = { file, resolver, timeout_s, no_dns };
	struct dkim_keys *k;

	err[0] = '\0';
	k = dkim_keys_new(&o, err, sizeof(err));
	if (k == NULL)
		fail_msg("dkim_keys_new: %s", err);
	return k;
}

static enum dkim_key_rc
look_at(struct dkim_keys *k, const char *sel, const char *dom, int64_t now)
{
	txt[0] = 'X';
	err[0] = 'X';
	return dkim_keys_lookup_at(k, sel, dom, now, txt, sizeof(txt), err, sizeof(err));
}

static enum dkim_key_rc
look(struct dkim_keys *k, const char *sel, const char *dom)
{
	txt[0] = 'X';
	err[0] = 'X';
	return dkim_keys_lookup(k, sel, dom, txt, sizeof(txt), err, sizeof(err));
}

static void
assert_counts(struct dkim_keys *k, uint64_t file, uint64_t cache, uint64_t dns)
{
	struct dkim_keys_counts c;

	dkim_keys_counts(k, &c);
	if (c.file != file || c.cache != cache || c.dns != dns)
		fail_msg("counts file=%ju cache=%ju dns=%ju, want %ju %ju %ju", (uintmax_t)c.file,
		    (uintmax_t)c.cache, (uintmax_t)c.dns, (uintmax_t)file, (uintmax_t)cache,
		    (uintmax_t)dns);
}

/* Expects dkim_keys_new to refuse the options with a message containing want. */
static void
assert_new_fails(const char *file, const char *resolver, const char *want)
{
	struct dkim_keys_options o = { file, resolver, 1, 1 };
	struct dkim_keys *k;

	err[0] = '\0';
	k = dkim_keys_new(&o, err, sizeof(err));
	if (k != NULL) {
		dkim_keys_free(k);
		fail_msg("dkim_keys_new accepted file=%s resolver=%s", file ? file : "-",
		    resolver ? resolver : "-");
	}
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
}

/* ==== key file ==== */

static void
test_file_good(void **state)
{
	char path[512], *want;
	struct dkim_keys *k;

	(void)state;
	data_path(path, sizeof(path), "good.keys");
	k = keys_new(path, NULL, 1, 1);

	want = concat3("v=DKIM1; k=rsa; p=", K2048, "");
	assert_int_equal(look(k, "file", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_string_equal(err, "");
	/* quoted pieces concatenated; the name matched case-insensitively, trailing dot */
	assert_int_equal(look(k, "quoted", "example.org"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_int_equal(look(k, "QUOTED", "Example.Org."), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	free(want);
	assert_int_equal(look(k, "ed", "example.net"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; k=ed25519; p=sSkVEVd5fHf9fbPN6tryITUeYwvTq4UDtucwvZOk5mM=");
	/* CRLF line end and trailing blanks dropped */
	assert_int_equal(look(k, "crlf", "example.net"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; p=abc");
	/* \" \\ \DDD escapes, an empty piece */
	assert_int_equal(look(k, "esc", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "a\"b\\c;de");
	/* a selector with a dot */
	assert_int_equal(look(k, "sub.sel", "mail.example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; p=sub");
	/* one-line zone records: "NAME [TTL] [IN] TXT TEXT" */
	assert_int_equal(look(k, "zone", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; k=rsa; p=zone");
	assert_int_equal(look(k, "zone2", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; p=zone2");
	assert_counts(k, 9, 0, 0);

	/* not in the file and DNS off */
	assert_int_equal(look(k, "nope", "example.com"), DKIM_KEY_NONE);
	assert_string_equal(txt, "");
	assert_non_null(strstr(err, "no key record at nope._domainkey.example.com"));
	assert_non_null(strstr(err, "DNS lookups are off"));
	/* the comment line is not a record */
	assert_int_equal(look(k, "#", "example.com"), DKIM_KEY_NONE);
	assert_counts(k, 9, 0, 0);

	/* the caller's buffer too small */
	assert_int_equal(dkim_keys_lookup(k, "ed", "example.net", txt, 10, err, sizeof(err)),
	    DKIM_KEY_NONE);
	assert_non_null(strstr(err, "longer than 9 bytes"));
	dkim_keys_free(k);
	dkim_keys_free(NULL);
}

static void
test_file_bad(void **state)
{
	char path[512];

	(void)state;
	data_path(path, sizeof(path), "bad_name.keys");
	assert_new_fails(path, NULL, "bad_name.keys:3: bad name 'not-a-key-name.example.com'");
	data_path(path, sizeof(path), "bad_quote.keys");
	assert_new_fails(path, NULL, "bad_quote.keys:2: unterminated quoted string");
	data_path(path, sizeof(path), "no_text.keys");
	assert_new_fails(path, NULL, "no_text.keys:3: no record text after the name");
	data_path(path, sizeof(path), "dup.keys");
	assert_new_fails(path, NULL,
	    "dup.keys:4: second record for a._domainkey.example.com (first at line 2)");
	data_path(path, sizeof(path), "bad_text.keys");
	assert_new_fails(path, NULL, "bad_text.keys:1: text outside double quotes");
	data_path(path, sizeof(path), "bad_escape.keys");
	assert_new_fails(path, NULL, "bad_escape.keys:1: bad \\DDD escape");
	data_path(path, sizeof(path), "missing.keys");
	assert_new_fails(path, NULL, "missing.keys: cannot open");
	assert_new_fails(TLSRPT_TEST_DATA, NULL, "not a regular file");
}

/* Writes a key file with one record of textlen bytes (raw or quoted in 255-byte pieces). */
static void
write_big(const char *path, size_t textlen, int quoted)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fputs("# big\nbig._domainkey.example.com ", f);
	for (size_t i = 0; i < textlen; i++) {
		if (quoted && i % 255 == 0)
			fputs(i ? "\" \"" : "\"", f);
		fputc(i < 8 ? "v=DKIM1;"[i] : 'A' + (int)(i % 26), f);
	}
	fputs(quoted ? "\"\n" : "\n", f);
	assert_int_equal(fclose(f), 0);
}

static void
test_file_limits(void **state)
{
	char dir[] = "/tmp/test_dkim_keys.XXXXXX", path[600];
	struct dkim_keys *k;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.keys", dir);

	for (int quoted = 0; quoted < 2; quoted++) {
		/* the longest record text accepted */
		write_big(path, DKIM_KEY_TXT_MAX - 1, quoted);
		k = keys_new(path, NULL, 1, 1);
		assert_int_equal(look(k, "big", "example.com"), DKIM_KEY_OK);
		assert_int_equal(strlen(txt), DKIM_KEY_TXT_MAX - 1);
		assert_memory_equal(txt, "v=DKIM1;IJ", 10);
		dkim_keys_free(k);
		/* one more byte is refused */
		write_big(path, DKIM_KEY_TXT_MAX, quoted);
		assert_new_fails(path, NULL, "big.keys:2: record text longer than 8191 bytes");
	}

	/* a file over DKIM_KEYS_FILE_MAX (sparse) */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)DKIM_KEYS_FILE_MAX + 1), 0);
	close(fd);
	assert_new_fails(path, NULL, "larger than 4194304 bytes");

	/* an empty file is fine */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	close(fd);
	k = keys_new(path, NULL, 1, 1);
	assert_int_equal(look(k, "big", "example.com"), DKIM_KEY_NONE);
	dkim_keys_free(k);
	unlink(path);
	rmdir(dir);
}

static void
test_bad_names(void **state)
{
	static const struct { const char *sel, *dom, *want; } bad[] = {
		{ "", "example.com", "bad selector" },
		{ "a b", "example.com", "bad selector" },
		{ "sel;", "example.com", "bad selector" },
		{ ".sel", "example.com", "bad selector" },
		{ "a..b", "example.com", "bad selector" },
		{ "sel.", "example.com", "bad selector" },
		{ "s\"el", "example.com", "bad selector" },
		{ "sel", "", "bad domain" },
		{ "sel", "exa mple.com", "bad domain" },
		{ "sel", "example..com", "bad domain" },
		{ "sel", ".", "bad domain" },
		{ "sel", "ex\nample.com", "bad domain" },
	};
	char label64[65], longdom[260], path[512];
	struct dkim_keys *k;

	(void)state;
	data_path(path, sizeof(path), "good.keys");
	/* DNS on with a resolver where nothing listens: a bad name must not get that far */
	k = keys_new(path, "127.0.0.1:9", 1, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(look(k, bad[i].sel, bad[i].dom), DKIM_KEY_NONE);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("'%s' '%s': %s", bad[i].sel, bad[i].dom, err);
	}
	assert_int_equal(look(k, NULL, "example.com"), DKIM_KEY_NONE);
	assert_int_equal(look(k, "sel", NULL), DKIM_KEY_NONE);
	memset(label64, 'a', 64);
	label64[64] = '\0';
	assert_int_equal(look(k, label64, "example.com"), DKIM_KEY_NONE);
	assert_non_null(strstr(err, "bad selector"));
	label64[63] = '\0';
	/* 4 x 63 + 3 dots = 255: too long as a domain */
	snprintf(longdom, sizeof(longdom), "%s.%s.%s.%s", label64, label64, label64, label64);
	assert_int_equal(look(k, "s", longdom), DKIM_KEY_NONE);
	assert_non_null(strstr(err, "bad domain"));
	/* each part fine (the domain 253 bytes), the whole name too long */
	snprintf(longdom, sizeof(longdom), "%s.%s.%s.%.61s", label64, label64, label64, label64);
	assert_int_equal(strlen(longdom), 253);
	assert_int_equal(look(k, "s", longdom), DKIM_KEY_NONE);
	assert_non_null(strstr(err, "longer than 253"));
	assert_counts(k, 0, 0, 0);
	dkim_keys_free(k);
}

static void
test_bad_resolver(void **state)
{
	static const char *const bad[] = {
		"localhost", "127.0.0.1:0", "127.0.0.1:65536", "::1", "[::1", "[::1]:", "1.2.3",
		"127.0.0.1:", "[127.0.0.1]:53", ":53", "[::1]:0", "10.0.0.1:5x",
	};
	struct dkim_keys *k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_new_fails(NULL, bad[i], "resolver address");
	/* good ones, default port 53; "" is the system resolver */
	k = keys_new(NULL, "127.0.0.1", 1, 1);
	dkim_keys_free(k);
	k = keys_new(NULL, "[::1]", 1, 1);
	dkim_keys_free(k);
	k = keys_new(NULL, "[2001:db8::53]:5353", 1, 1);
	dkim_keys_free(k);
	k = keys_new(NULL, "", 0, 1);
	dkim_keys_free(k);
	k = dkim_keys_new(NULL, err, sizeof(err));
	assert_non_null(k);
	dkim_keys_free(k);
}

/* ==== DNS against dnsmasq ==== */

struct dnsmasq {
	pid_t pid;
	int port;
	char dir[64];
};

static struct dnsmasq dm4;   /* the group's server on 127.0.0.1 */

/* A port free for both UDP and TCP on addr (family af), or -1. */
static int
free_port(int af, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int u, t, port = -1;

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &a->sin_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			return -1;
		sl = sizeof(*a);
	}
	u = socket(af, SOCK_DGRAM, 0);
	t = socket(af, SOCK_STREAM, 0);
	if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&ss, sl) == 0 &&
	    getsockname(u, (struct sockaddr *)&ss, &sl) == 0 &&
	    bind(t, (struct sockaddr *)&ss, sl) == 0)
		port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (u >= 0)
		close(u);
	if (t >= 0)
		close(t);
	return port;
}

/* Sends a TXT query for sel._domainkey.example.com to addr:port until one answers (5 s). */
static int
probe(int af, const char *addr, int port, pid_t pid)
{
	static const unsigned char q[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 's', 'e', 'l', 10, '_', 'd', 'o', 'm', 'a', 'i', 'n', 'k', 'e', 'y',
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 16, 0, 1,
	};
	struct sockaddr_storage ss;
	unsigned char ans[1500];
	socklen_t sl;
	int fd, st;

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		sl = sizeof(*a);
	}
	fd = socket(af, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	for (int i = 0; i < 100; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (waitpid(pid, &st, WNOHANG) == pid)
			break;   /* dnsmasq gave up (port taken?) */
		sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, sl);
		if (poll(&p, 1, 50) == 1 && recv(fd, ans, sizeof(ans), 0) >= 12 &&
		    ans[0] == 0x12 && ans[1] == 0x34) {
			close(fd);
			return 0;
		}
	}
	close(fd);
	return -1;
}

static void
dnsmasq_stop(struct dnsmasq *d)
{
	char path[128];
	int st;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, &st, 0);
		d->pid = 0;
	}
	if (d->dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/pid", d->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/log", d->dir);
		unlink(path);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}

/*
 * Starts dnsmasq on addr (a free port), serving the test zone. 0, or -1 with a message on
 * stderr (dnsmasq missing, no port).
 */
static int
dnsmasq_start(struct dnsmasq *d, int af, const char *addr)
{
	char a_port[32], a_listen[80], a_user[300], a_group[300], a_pid[128], a_sel[1024],
	    a_big[1024], a_junk[1024], a_ttl[32], logp[128], junk[901];
	struct passwd *pw = getpwuid(getuid());
	struct group *gr = getgrgid(getgid());

	memset(d, 0, sizeof(*d));
	if (access(DNSMASQ, X_OK) != 0) {
		fprintf(stderr, "%s is missing: install dnsmasq-base (a build dependency)\n",
		    DNSMASQ);
		return -1;
	}
	if (pw == NULL || gr == NULL)
		return -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/test_dkim_keys.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	memset(junk, 'x', 900);
	junk[900] = '\0';
	/* --txt-record: comma-separated strings become separate character-strings; a string
	   over 255 bytes is split by dnsmasq. sel: three strings; big: a 4096-bit key beside a
	   900-byte record, more than an EDNS0 UDP answer holds (TC, then TCP) */
	snprintf(a_sel, sizeof(a_sel), "--txt-record=sel._domainkey.example.com,v=DKIM1; k=rsa; ,"
	    "p=%.200s,%s", K2048, K2048 + 200);
	snprintf(a_big, sizeof(a_big), "--txt-record=big._domainkey.example.com,v=DKIM1; k=rsa; p=%s",
	    K4096);
	snprintf(a_junk, sizeof(a_junk), "--txt-record=big._domainkey.example.com,%s", junk);
	snprintf(a_user, sizeof(a_user), "--user=%s", pw->pw_name);
	snprintf(a_group, sizeof(a_group), "--group=%s", gr->gr_name);
	snprintf(a_pid, sizeof(a_pid), "--pid-file=%s/pid", d->dir);
	snprintf(a_ttl, sizeof(a_ttl), "--local-ttl=%d", LOCAL_TTL);
	snprintf(a_listen, sizeof(a_listen), "--listen-address=%s", addr);
	snprintf(logp, sizeof(logp), "%s/log", d->dir);

	for (int attempt = 0; attempt < 5; attempt++) {
		char *argv[] = {
			DNSMASQ, "--keep-in-foreground", a_port, a_listen, "--bind-interfaces",
			"--no-resolv", "--no-hosts", "--conf-file=/dev/null", a_user, a_group, a_pid,
			"--log-facility=-", "--local=/example.com/", a_ttl,
			a_sel,
			/* dnsmasq answers with the records of one name in reverse order: junk first */
			"--txt-record=multi._domainkey.example.com,v=DKIM1; p=multi",
			"--txt-record=multi._domainkey.example.com,junk",
			"--txt-record=nokey._domainkey.example.com,some other text",
			"--txt-record=override._domainkey.example.com,v=DKIM1; k=rsa; p=FROMDNS",
			"--host-record=nodata._domainkey.example.com,127.0.0.2",
			"--cname=alias._domainkey.example.com,sel._domainkey.example.com,5",
			a_big, a_junk,
			NULL,
		};
		pid_t pid;

		if ((d->port = free_port(af, addr)) < 0)
			continue;
		snprintf(a_port, sizeof(a_port), "--port=%d", d->port);
		pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600), nul;

			/* dies with the test even if it crashes (kept: --user is our own user) */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			nul = open("/dev/null", O_RDONLY);
			dup2(nul, 0);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execv(DNSMASQ, argv);
			_exit(127);
		}
		d->pid = pid;
		if (probe(af, addr, d->port, pid) == 0)
			return 0;
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		d->pid = 0;
	}
	fprintf(stderr, "dnsmasq did not start on %s (see %s)\n", addr, logp);
	return -1;
}

static char resolver4[64];

static int
dns_setup(void **state)
{
	(void)state;
	if (dnsmasq_start(&dm4, AF_INET, "127.0.0.1") < 0)
		return -1;
	snprintf(resolver4, sizeof(resolver4), "127.0.0.1:%d", dm4.port);
	return 0;
}

static int
dns_teardown(void **state)
{
	(void)state;
	dnsmasq_stop(&dm4);
	return 0;
}

static void
test_dns_found(void **state)
{
	struct dkim_keys *k;
	char *want;

	(void)state;
	k = keys_new(NULL, resolver4, 2, 0);
	want = concat3("v=DKIM1; k=rsa; p=", K2048, "");
	assert_true(strlen(want) > 255);
	assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_string_equal(err, "");
	assert_counts(k, 0, 0, 1);
	/* case and a trailing dot in the query: the same cache entry */
	assert_int_equal(look(k, "SEL", "Example.COM."), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_counts(k, 0, 1, 1);
	/* through a CNAME */
	assert_int_equal(look(k, "alias", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	free(want);
	/* two records: the one starting v=DKIM1, though dnsmasq lists it second */
	assert_int_equal(look(k, "multi", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; p=multi");
	/* one record, not a key: given as it is (the verifier judges it) */
	assert_int_equal(look(k, "nokey", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "some other text");
	/* the answer does not fit UDP: asked again over TCP */
	want = concat3("v=DKIM1; k=rsa; p=", K4096, "");
	assert_int_equal(look(k, "big", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	free(want);
	assert_counts(k, 0, 1, 5);
	dkim_keys_free(k);
}

static void
test_dns_ipv6(void **state)
{
	struct dnsmasq d6;
	struct dkim_keys *k;
	char res[80];
	char *want;

	(void)state;
	if (free_port(AF_INET6, "::1") < 0) {
		fprintf(stderr, "no IPv6 loopback here: IPv6 resolver not tested\n");
		skip();
	}
	assert_int_equal(dnsmasq_start(&d6, AF_INET6, "::1"), 0);
	snprintf(res, sizeof(res), "[::1]:%d", d6.port);
	k = keys_new(NULL, res, 2, 0);
	want = concat3("v=DKIM1; k=rsa; p=", K2048, "");
	assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_int_equal(look(k, "big", "example.com"), DKIM_KEY_OK);   /* TCP over IPv6 */
	assert_non_null(strstr(txt, K4096));
	assert_int_equal(look(k, "nx", "example.com"), DKIM_KEY_NONE);
	free(want);
	dkim_keys_free(k);
	dnsmasq_stop(&d6);
}

static void
test_dns_none(void **state)
{
	struct dkim_keys *k;

	(void)state;
	k = keys_new(NULL, resolver4, 2, 0);
	/* NXDOMAIN */
	assert_int_equal(look(k, "nx", "example.com"), DKIM_KEY_NONE);
	assert_string_equal(txt, "");
	assert_string_equal(err, "no key record at nx._domainkey.example.com");
	/* the name exists, no TXT (NODATA) */
	assert_int_equal(look(k, "nodata", "example.com"), DKIM_KEY_NONE);
	assert_string_equal(err, "no key record at nodata._domainkey.example.com");
	assert_counts(k, 0, 0, 2);
	/* REFUSED (dnsmasq serves example.com only): temporary, never cached */
	assert_int_equal(look(k, "sel", "example.org"), DKIM_KEY_TEMP);
	assert_non_null(strstr(err, "sel._domainkey.example.org: "));
	assert_non_null(strstr(err, "REFUSED"));
	assert_int_equal(look(k, "sel", "example.org"), DKIM_KEY_TEMP);
	assert_counts(k, 0, 0, 4);
	dkim_keys_free(k);
}

static void
test_dns_cache_ttl(void **state)
{
	const int64_t t0 = 1700000000;
	struct dkim_keys *k;

	(void)state;
	k = keys_new(NULL, resolver4, 2, 0);
	/* positive: dnsmasq's TTL (LOCAL_TTL) */
	assert_int_equal(look_at(k, "sel", "example.com", t0), DKIM_KEY_OK);
	assert_counts(k, 0, 0, 1);
	assert_int_equal(look_at(k, "sel", "example.com", t0 + LOCAL_TTL - 1), DKIM_KEY_OK);
	assert_non_null(strstr(txt, K2048));
	assert_counts(k, 0, 1, 1);
	assert_int_equal(look_at(k, "sel", "example.com", t0 + LOCAL_TTL), DKIM_KEY_OK);
	assert_non_null(strstr(txt, K2048));
	assert_counts(k, 0, 1, 2);
	/* the CNAME's TTL of 5 is the chain's; clamped up to DKIM_KEYS_MIN_TTL */
	assert_int_equal(look_at(k, "alias", "example.com", t0), DKIM_KEY_OK);
	assert_int_equal(look_at(k, "alias", "example.com", t0 + DKIM_KEYS_MIN_TTL - 1),
	    DKIM_KEY_OK);
	assert_counts(k, 0, 2, 3);
	assert_int_equal(look_at(k, "alias", "example.com", t0 + DKIM_KEYS_MIN_TTL),
	    DKIM_KEY_OK);
	assert_counts(k, 0, 2, 4);
	/* negative: DKIM_KEYS_NEG_TTL, the same reason from the cache */
	assert_int_equal(look_at(k, "nx", "example.com", t0), DKIM_KEY_NONE);
	assert_counts(k, 0, 2, 5);
	assert_int_equal(look_at(k, "nx", "example.com", t0 + DKIM_KEYS_NEG_TTL - 1),
	    DKIM_KEY_NONE);
	assert_string_equal(err, "no key record at nx._domainkey.example.com");
	assert_string_equal(txt, "");
	assert_counts(k, 0, 3, 5);
	assert_int_equal(look_at(k, "nx", "example.com", t0 + DKIM_KEYS_NEG_TTL),
	    DKIM_KEY_NONE);
	assert_counts(k, 0, 3, 6);
	/* a cached record larger than the caller's buffer */
	assert_int_equal(dkim_keys_lookup_at(k, "sel", "example.com", t0 + LOCAL_TTL, txt, 20,
	    err, sizeof(err)), DKIM_KEY_NONE);
	assert_non_null(strstr(err, "longer than 19 bytes"));
	assert_counts(k, 0, 4, 6);
	dkim_keys_free(k);
}

static void
test_dns_cache_evict(void **state)
{
	const int64_t t0 = 1700000000;
	struct dkim_keys *k;
	char sel[32];

	(void)state;
	k = keys_new(NULL, resolver4, 2, 0);
	for (int i = 0; i <= DKIM_KEYS_CACHE_MAX; i++) {
		snprintf(sel, sizeof(sel), "n%d", i);
		assert_int_equal(look_at(k, sel, "example.com", t0), DKIM_KEY_NONE);
	}
	assert_counts(k, 0, 0, DKIM_KEYS_CACHE_MAX + 1);
	/* the newest is cached, the oldest went */
	assert_int_equal(look_at(k, sel, "example.com", t0), DKIM_KEY_NONE);
	assert_int_equal(look_at(k, "n1", "example.com", t0), DKIM_KEY_NONE);
	assert_counts(k, 0, 2, DKIM_KEYS_CACHE_MAX + 1);
	assert_int_equal(look_at(k, "n0", "example.com", t0), DKIM_KEY_NONE);
	assert_counts(k, 0, 2, DKIM_KEYS_CACHE_MAX + 2);
	dkim_keys_free(k);
}

static void
test_file_overrides_dns(void **state)
{
	struct dkim_keys *k;
	char path[512], *want;

	(void)state;
	data_path(path, sizeof(path), "good.keys");
	k = keys_new(path, resolver4, 2, 0);
	assert_int_equal(look(k, "override", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; k=rsa; p=FROMFILE");
	assert_int_equal(look(k, "Override", "EXAMPLE.com."), DKIM_KEY_OK);
	assert_string_equal(txt, "v=DKIM1; k=rsa; p=FROMFILE");
	assert_counts(k, 2, 0, 0);
	/* and DNS is really on for the others */
	want = concat3("v=DKIM1; k=rsa; p=", K2048, "");
	assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_OK);
	assert_string_equal(txt, want);
	assert_counts(k, 2, 0, 1);
	free(want);
	dkim_keys_free(k);

	/* no_dns: only the file */
	k = keys_new(path, resolver4, 2, 1);
	assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_NONE);
	assert_non_null(strstr(err, "DNS lookups are off"));
	assert_counts(k, 0, 0, 0);
	dkim_keys_free(k);
}

/* A UDP socket nobody reads: every query times out. */
static void
test_dns_timeout(void **state)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	struct dkim_keys *k;
	char res[64];
	double t;
	int fd;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	snprintf(res, sizeof(res), "127.0.0.1:%d", ntohs(a.sin_port));

	for (unsigned timeout = 1; timeout <= 2; timeout++) {
		k = keys_new(NULL, res, timeout, 0);
		t = mono_s();
		assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_TEMP);
		t = mono_s() - t;
		assert_string_equal(err, "sel._domainkey.example.com: timed out");
		assert_string_equal(txt, "");
		if (t < 0.5 * timeout || t > 3.0 * timeout)
			fail_msg("timeout %u s took %.2f s", timeout, t);
		/* not cached */
		assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_TEMP);
		assert_counts(k, 0, 0, 2);
		dkim_keys_free(k);
	}
	close(fd);
}

/* Answers every UDP query with an empty truncated reply; accepts TCP and never answers. */
struct tc_server {
	int udp, tcp;
	atomic_int stop;
};

static void *
tc_server_run(void *arg)
{
	struct tc_server *s = arg;
	unsigned char buf[1500];

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->udp, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, 50) != 1)
			continue;
		n = recvfrom(s->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		buf[2] |= 0x80 | 0x02;   /* QR, TC */
		buf[3] = 0x80;           /* RA, NOERROR */
		sendto(s->udp, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void
test_dns_tcp_timeout(void **state)
{
	struct tc_server s = { -1, -1, 0 };
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	struct dkim_keys *k;
	pthread_t th;
	char res[64];
	double t;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.tcp = socket(AF_INET, SOCK_STREAM, 0);
	s.udp = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s.tcp >= 0 && s.udp >= 0);
	assert_int_equal(bind(s.tcp, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s.tcp, (struct sockaddr *)&a, &sl), 0);
	assert_int_equal(listen(s.tcp, 8), 0);
	assert_int_equal(bind(s.udp, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(pthread_create(&th, NULL, tc_server_run, &s), 0);
	snprintf(res, sizeof(res), "127.0.0.1:%d", ntohs(a.sin_port));

	k = keys_new(NULL, res, 1, 0);
	t = mono_s();
	assert_int_equal(look(k, "sel", "example.com"), DKIM_KEY_TEMP);
	t = mono_s() - t;
	assert_non_null(strstr(err, "answer truncated and no answer over TCP"));
	if (t < 0.5 || t > 3.0)
		fail_msg("timeout 1 s took %.2f s", t);
	dkim_keys_free(k);
	atomic_store(&s.stop, 1);
	pthread_join(th, NULL);
	close(s.tcp);
	close(s.udp);
}

/* ==== threads ==== */

#define N_THREADS 8
#define N_ROUNDS 150

struct worker {
	struct dkim_keys *k;
	const char *want_sel;
	int bad;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char t[DKIM_KEY_TXT_MAX], e[256];

	for (int i = 0; i < N_ROUNDS; i++) {
		if (dkim_keys_lookup(w->k, "file", "example.com", t, sizeof(t), e, sizeof(e)) !=
		    DKIM_KEY_OK || strstr(t, K2048) == NULL)
			w->bad++;
		if (dkim_keys_lookup(w->k, "sel", "example.com", t, sizeof(t), e, sizeof(e)) !=
		    DKIM_KEY_OK || strcmp(t, w->want_sel) != 0)
			w->bad++;
		if (dkim_keys_lookup(w->k, "nx", "example.com", t, sizeof(t), e, sizeof(e)) !=
		    DKIM_KEY_NONE || strcmp(e, "no key record at nx._domainkey.example.com") != 0)
			w->bad++;
		if (dkim_keys_lookup(w->k, "multi", "example.com", t, sizeof(t), e, sizeof(e)) !=
		    DKIM_KEY_OK || strcmp(t, "v=DKIM1; p=multi") != 0)
			w->bad++;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct worker w[N_THREADS];
	pthread_t th[N_THREADS];
	struct dkim_keys_counts c;
	struct dkim_keys *k;
	char path[512], *want;

	(void)state;
	data_path(path, sizeof(path), "good.keys");
	k = keys_new(path, resolver4, 2, 0);
	want = concat3("v=DKIM1; k=rsa; p=", K2048, "");
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){ k, want, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	dkim_keys_counts(k, &c);
	assert_int_equal(c.file, N_THREADS * N_ROUNDS);
	assert_int_equal(c.cache + c.dns, 3 * N_THREADS * N_ROUNDS);
	/* each thread misses each DNS name at most once (before someone cached it) */
	assert_true(c.dns >= 3 && c.dns <= 3 * N_THREADS);
	free(want);
	dkim_keys_free(k);
}

int
main(void)
{
	const struct CMUnitTest file_tests[] = {
		cmocka_unit_test(test_file_good),
		cmocka_unit_test(test_file_bad),
		cmocka_unit_test(test_file_limits),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_resolver),
	};
	const struct CMUnitTest dns_tests[] = {
		cmocka_unit_test(test_dns_found),
		cmocka_unit_test(test_dns_ipv6),
		cmocka_unit_test(test_dns_none),
		cmocka_unit_test(test_dns_cache_ttl),
		cmocka_unit_test(test_dns_cache_evict),
		cmocka_unit_test(test_file_overrides_dns),
		cmocka_unit_test(test_dns_timeout),
		cmocka_unit_test(test_dns_tcp_timeout),
		cmocka_unit_test(test_threads),
	};
	int failed;

	failed = cmocka_run_group_tests_name("dkim_keys_file", file_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("dkim_keys_dns", dns_tests, dns_setup,
	    dns_teardown);
	return failed;
}
