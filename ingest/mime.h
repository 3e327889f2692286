/*
 * mime: a streaming, bounded RFC 5322/MIME reader that finds the TLS report in a message.
 *
 * Bytes are pushed in as they arrive, in chunks of any size (one byte at a time gives the same
 * result as the whole message at once), and the report is pulled out at the end. The reader
 * never holds the whole message: only the line it cannot yet classify, the header section
 * being read, one small state per nesting level and the best report candidate so far, all
 * bounded by struct mime_limits.
 *
 * It unfolds headers, decodes RFC 2047 encoded words in Subject, From and file names (UTF-8,
 * US-ASCII, ISO-8859-1, windows-1252) and RFC 2231 parameters, reads Content-Type parameters
 * in any order (quoted or not), walks nested multiparts (one that is never closed ends with
 * its enclosing entity) and forwarded messages (message/rfc822), decodes base64 (any line
 * length, stray whitespace, missing padding) and quoted-printable, and keeps the best report
 * part: application/tlsrpt+gzip, then application/tlsrpt+json, then application/tlsrpt, then
 * application/gzip, application/json or a zip archive, then application/octet-stream or an
 * untyped part named .json/.json.gz/.gz/.zip; the first of equal rank wins. A message that is
 * not multipart is taken whole when its body starts like JSON or gzip. From a zip archive the
 * one .json entry is extracted (stored or deflated).
 *
 * One struct mime is used by one thread at a time; separate ones share nothing.
 */
#ifndef TLSRPT_MIME_H
#define TLSRPT_MIME_H

#include <stddef.h>

#include "collector/buf.h"

#define MIME_HEADER_VALUE_MAX 512

/* What the message says about itself; all NUL-terminated UTF-8, "" when absent, cut to fit. */
struct mime_info {
	char tls_report_domain[MIME_HEADER_VALUE_MAX];
	char tls_report_submitter[MIME_HEADER_VALUE_MAX];
	char subject[MIME_HEADER_VALUE_MAX];          /* unfolded, encoded words decoded */
	char subject_report_id[MIME_HEADER_VALUE_MAX];/* the Report-ID: <...> of the Subject */
	char message_id[MIME_HEADER_VALUE_MAX];
	char from[MIME_HEADER_VALUE_MAX];             /* encoded words decoded */
	char part_type[128];                          /* lower-case type/subtype of the report part */
	char part_filename[256];                      /* filename or name parameter, decoded */
	int multipart_unclosed;                       /* 1 if a multipart never reached its close */
	long long body_offset;                        /* where the top-level body starts in the
	                                                 bytes pushed (after the empty line that
	                                                 ends the header section, or at the first
	                                                 line that is not a header field; the end
	                                                 when the message ends in its header
	                                                 section); -1 when the reader failed */
};

/*
 * Limits of one reader. A field left 0 takes its default: 1 MiB and 1000 lines per header
 * section, 8 levels of multiparts or messages below the top (at most 64), 64 entities in the
 * whole message (the top included), 16 MiB of decoded report. Breaking a header, depth or
 * part limit fails the message; a report part beyond max_report_bytes fails it only if that
 * part is the one chosen.
 */
struct mime_limits {
	size_t max_header_bytes;
	unsigned max_header_lines;
	unsigned max_depth;
	unsigned max_parts;
	size_t max_report_bytes;
};

struct mime;

/*
 * A reader with the limits lim (NULL: all defaults). Memory it may use is about
 * max_header_bytes + max_report_bytes + (max_depth + 1) * 3 KiB + 50 KiB, whatever the size
 * of the message. Returns NULL when out of memory. Free it with mime_free().
 */
struct mime *mime_new(const struct mime_limits *lim);

/*
 * Reads the next len bytes of the message. Returns 0, or -1 once the message is known to
 * be refused (a limit was broken, memory ran out, or mime_finish() was already called);
 * further pushes are then ignored and mime_finish() says why.
 */
int mime_push(struct mime *m, const void *data, size_t len);

/*
 * Ends the message and appends the decoded report part (still gzip if it was) to out.
 * Returns 0, or -1 with a sentence in err: "no report part: ..." when the message holds
 * nothing that can be a report, a limit that was broken, a zip archive that cannot be read,
 * or the cap: when the report part is larger than max_report_bytes or than out's own cap,
 * out->err is set to BUF_ERR_CAP. On failure out keeps its contents. info (may be NULL) is
 * filled on success and failure alike. Calling it again returns the same result again.
 */
int mime_finish(struct mime *m, struct buf *out, struct mime_info *info, char *err,
    size_t errlen);

/* Frees the reader. Accepts NULL. */
void mime_free(struct mime *m);

/*
 * 1 when p looks like the start of an RFC 5322 message (a header field line, or an mbox
 * "From " line), else 0.
 */
int mime_looks_like_message(const void *p, size_t len);

/*
 * One-shot form of the above on a message held in memory: finds the report part in
 * msg[0..len) (default limits, report capped by the room left in out) and appends its decoded
 * bytes to out. Returns 0, or -1 with a sentence in err ("no report part: ..." when the
 * message holds nothing that can be a report; out->err is BUF_ERR_CAP when out's cap was
 * reached). info may be NULL.
 */
int mime_find_report(const char *msg, size_t len, struct buf *out, struct mime_info *info,
    char *err, size_t errlen);

#endif
