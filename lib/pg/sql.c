/*
 * sql.c - the text of the PostgreSQL backend's prepared statements, made
 * into each store's own at its open (schema and lock key filled in).
 */
#define _GNU_SOURCE /* asprintf() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "pg_int.h"

/*
 * The prepared statements. %1$s is the quoted schema, %2$d its lock key
 * (pg_lock_key()). Parameters and results travel in binary: int8 as 8
 * big-endian bytes, bytea as raw bytes.
 */
const struct pg_stmt_def journal__pg_stmts[S_COUNT] = {
    [S_BOUNDS] = {"SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = $1", 1, {OID_INT8}},
    [S_GET] = {"SELECT data FROM %1$s.records WHERE journal = $1 AND pos = $2", 2, {OID_INT8, OID_INT8}},
    /* The update succeeds only at the current end; the insert and the
     * notification depend on it. One row back means appended. Only
     * journals with waiters are notified (a notifying commit takes a lock
     * that serializes it with every other notifying commit of the server):
     * a waiter holds the journal's advisory lock shared for as long as its
     * session waits, so the append's exclusive try fails then. See
     * wait.c for why no wake-up is lost. */
    [S_APPEND1] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + 1 WHERE id = $1 AND end_pos = $2 "
                   "RETURNING id, end_pos), "
                   "i AS (INSERT INTO %1$s.records (journal, pos, data) SELECT id, $2, $3 FROM u) "
                   "SELECT (SELECT pg_notify($4, id || ':' || end_pos) WHERE NOT pg_try_advisory_xact_lock(%2$d, "
                   "(id %% 2147483648)::int4)) FROM u",
                   4,
                   {OID_INT8, OID_INT8, OID_BYTEA, OID_TEXT}},
    [S_APPENDN] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + $3 WHERE id = $1 AND end_pos = $2 "
                   "RETURNING id, end_pos), "
                   "i AS (INSERT INTO %1$s.records (journal, pos, data) SELECT u.id, $2 + t.o - 1, t.d "
                   "FROM u, unnest($4::bytea[]) WITH ORDINALITY AS t(d, o)) "
                   "SELECT (SELECT pg_notify($5, id || ':' || end_pos) WHERE NOT pg_try_advisory_xact_lock(%2$d, "
                   "(id %% 2147483648)::int4)) FROM u",
                   5,
                   {OID_INT8, OID_INT8, OID_INT8, OID_BYTEA_ARRAY, OID_TEXT}},
    [S_FIND] = {"SELECT id FROM %1$s.journals WHERE name = $1", 1, {OID_BYTEA}},
    [S_CREATE] = {"INSERT INTO %1$s.journals (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
                  1,
                  {OID_BYTEA}},
    /* A whole range in one statement, so one snapshot: the bounds on every
     * row, the records only when $2 is at or above begin. The journal's
     * row is one row (id is its key), so a LATERAL join streams the records
     * in the order of their index; an ORDER BY on the join would make the
     * server sort the whole range first (and spill it to disk). journal__pg_range()
     * checks that positions come in order, one by one. */
    [S_RANGE] = {"SELECT j.begin_pos, j.end_pos, r.pos, r.data FROM %1$s.journals j "
                 "LEFT JOIN LATERAL (SELECT pos, data FROM %1$s.records WHERE journal = $1 AND pos >= $2 "
                 "AND $2 >= j.begin_pos ORDER BY pos) r ON true WHERE j.id = $1",
                 2,
                 {OID_INT8, OID_INT8}},
    [S_CHUNK] = {"SELECT pos, data FROM %1$s.records WHERE journal = $1 AND pos >= $2 AND pos < $3 ORDER BY pos "
                 "LIMIT $4",
                 4,
                 {OID_INT8, OID_INT8, OID_INT8, OID_INT8}},
    [S_LIST] = {"SELECT name, begin_pos, end_pos FROM %1$s.journals ORDER BY name", 0, {0}},
};

/* The first key of the advisory locks of a store's journals (the
 * second is the journal's id): FNV-1a of the schema's name. Two stores
 * whose keys collide only make each other's appends notify needlessly. */
static int32_t pg_lock_key(const char *schema)
{
    uint32_t h = 2166136261u;
    for (const char *p = "libjournal:"; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = schema; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return (int32_t)h;
}

int journal__pg_sql_init(struct pg_store *st)
{
    st->lockkey = pg_lock_key(st->schema);
    for (int k = 0; k < S_COUNT; k++) {
        if (asprintf(&st->sql[k], journal__pg_stmts[k].sql, st->qschema, st->lockkey) < 0) {
            st->sql[k] = NULL;
            return -ENOMEM;
        }
    }
    return 0;
}
