/* The numbered SQL migrations of schema/, embedded at build time (schema/embed.cmake). */
#ifndef TLSRPT_SCHEMA_H
#define TLSRPT_SCHEMA_H

struct schema_migration {
	int version;      /* NNNN of the file name: PRAGMA user_version after it ran */
	const char *name; /* file name, for logs */
	const char *sql;  /* NUL-terminated SQL text */
};

/* In ascending version order; versions are 1, 2, 3, ... without gaps (checked at start). */
extern const struct schema_migration schema_migrations[];
extern const int schema_migration_count;

#endif
