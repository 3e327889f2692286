/*
 * store_int: for the other modules of storage/ only (tokens, read queries), never outside it.
 * They speak SQL through these two doors so that the single writer and the reader pool stay
 * the only ways into the database.
 */
#ifndef TLSRPT_STORE_INT_H
#define TLSRPT_STORE_INT_H

#include <sqlite3.h>

#include "storage/store.h"

struct store_reader;

/*
 * Runs fn(db, arg) on the writer thread, inside the writer's transaction (group commit), and
 * waits for the commit. fn returns 0 (its writes are kept), STORE_TEMP (busy/full/I/O: the
 * whole transaction is retried by nobody: the caller gets STORE_TEMP), or another negative
 * value (fn's writes are rolled back alone; the caller gets STORE_ERR). fn must use only
 * prepared statements it finalises itself. Returns 0, STORE_TEMP or STORE_ERR.
 */
int store_write(struct store *s, int (*fn)(sqlite3 *db, void *arg), void *arg);

/*
 * Borrows a read-only connection from the pool (waits for a free one); give it back with
 * store_reader_done(). The connection may be used from this thread only until then.
 */
sqlite3 *store_reader_db(struct store *s, struct store_reader **rd);
void store_reader_done(struct store *s, struct store_reader *rd);

/*
 * An SQLite failure of a storage module's statement: STORE_TEMP when a retry may cure it
 * (busy, locked, full, I/O, out of memory, cannot open, protocol, interrupted), else STORE_ERR.
 */
int store_sqlite_rc(int rc);

/*
 * Column i of the current row as a JSON string (new reference): NULL (and "" when empty_null)
 * becomes JSON null; text that is not UTF-8 is shown with '?' for every non-ASCII byte.
 */
json_t *store_col_text(sqlite3_stmt *st, int i, int empty_null);

#endif
