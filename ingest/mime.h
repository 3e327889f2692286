/*
 * mime: a basic, bounded RFC 5322/MIME reader that finds the TLS report in a whole message.
 *
 * Not streaming (a full streaming walker is a later issue); it reads a message already in
 * memory. It unfolds headers, reads Content-Type parameters in any order (quoted or not),
 * walks nested multiparts (a multipart that is never closed ends at the end of the message),
 * decodes base64 (any line length, stray whitespace, missing padding) and quoted-printable,
 * and picks the report part: application/tlsrpt+gzip, application/tlsrpt+json,
 * application/tlsrpt, application/gzip, application/json, application/octet-stream or no
 * type with a .json/.json.gz/.gz name; else a body that itself starts like JSON or gzip.
 * Thread safe.
 */
#ifndef TLSRPT_MIME_H
#define TLSRPT_MIME_H

#include <stddef.h>

#include "collector/buf.h"

#define MIME_HEADER_VALUE_MAX 512

/* What the message says about itself; all NUL-terminated, "" when absent, cut to fit. */
struct mime_info {
	char tls_report_domain[MIME_HEADER_VALUE_MAX];
	char tls_report_submitter[MIME_HEADER_VALUE_MAX];
	char subject[MIME_HEADER_VALUE_MAX];          /* unfolded, encoded words left as they are */
	char subject_report_id[MIME_HEADER_VALUE_MAX];/* the Report-ID: <...> of the Subject */
	char message_id[MIME_HEADER_VALUE_MAX];
	char from[MIME_HEADER_VALUE_MAX];
	char part_type[128];                          /* lower-case type/subtype of the report part */
	char part_filename[256];                      /* filename or name parameter */
	int multipart_unclosed;                       /* 1 if a multipart never reached its close */
};

/*
 * 1 when p looks like the start of an RFC 5322 message (a header field line, or an mbox
 * "From " line), else 0.
 */
int mime_looks_like_message(const void *p, size_t len);

/*
 * Finds the report part in msg[0..len) and appends its decoded bytes (still gzip if it was)
 * to out. Returns 0, or -1 with a sentence in err ("no report part: ...") when the message
 * holds nothing that can be a report, or when out's cap is reached. info may be NULL.
 */
int mime_find_report(const char *msg, size_t len, struct buf *out, struct mime_info *info,
    char *err, size_t errlen);

#endif
