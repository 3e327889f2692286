/*
 * export (web side): the CSV writer shared by GET /api/v1/export/{failures,policies,reports}.csv
 * (export_handle, web/route.h) and `tlsrptd export` (collector/export.c), and the filter
 * parsing both use. Rows come from storage/export.h.
 *
 * CSV (RFC 4180): UTF-8 without a byte order mark, CRLF after every row, a header row of the
 * stable column names first. A cell is quoted ("...", a quote doubled) when it holds a comma,
 * a quote, CR or LF, or begins or ends with a space. A missing value is an empty cell.
 * Formula neutralisation: a cell that a spreadsheet would run as a formula, one beginning
 * with '=', '+', '-', '@', TAB or CR, gets a single quote (') in front, so "=HYPERLINK(...)"
 * arrives as the text '=HYPERLINK(...). A cell that itself begins with a single quote gets
 * one more, so the rule can be undone exactly: drop one leading single quote from every
 * cell that has one. Counts are never negative, so no number is touched.
 */
#ifndef TLSRPT_WEB_EXPORT_H
#define TLSRPT_WEB_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "collector/buf.h"
#include "storage/export.h"

#define EXPORT_ROW_MAX       (1024 * 1024) /* bytes of one CSV row; a longer row fails the export */
#define EXPORT_PARAM_MAX     256           /* bytes of a reporter or result_type filter */
#define EXPORT_TIME_MIN      INT64_C(0)    /* 1970-01-01T00:00:00Z */
#define EXPORT_TIME_MAX      INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* Appends the header row of kind k to b (check b->err once at the end). */
void export_csv_header(struct buf *b, enum export_kind k);

/* Appends the current row of x as one CSV row to b (check b->err once at the end). */
void export_csv_row(struct buf *b, struct export_rows *x);

/* Appends one cell (quoted and neutralised as above, no separator) to b. s may be NULL. */
void export_csv_cell(struct buf *b, const char *s, size_t len);

/*
 * Parses a filter time, as the JSON API does: RFC 3339 with a zone ("2026-11-01T00:00:00Z",
 * "...+02:00") or a UTC date "YYYY-MM-DD" (its midnight), in 1970..9999. from is inclusive and
 * to exclusive: a report matches when its window ends after from and starts before to, so
 * from=2026-11-01&to=2026-11-02 is the reports covering some of 1 November. 0 with *out, or -1.
 */
int export_parse_time(const char *s, int64_t *out);

/* Parses true/false, 1/0 (and yes/no) for has_failures. 0 with *out 1 or 0, or -1. */
int export_parse_bool(const char *s, int *out);

#endif
