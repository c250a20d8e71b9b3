/*
 * schema: the SQL of each schema version, applied in order by store_open.
 * A migration is appended, never edited, once it has shipped.
 */
#ifndef STORE_SCHEMA_H
#define STORE_SCHEMA_H

#include <stddef.h>

/* migrations[i] takes the schema from version i to i+1. */
extern const char *const schema_migrations[];
extern const size_t schema_migration_count;

#endif
