/*
 * snapshot.c - snapshots of a PostgreSQL journal: a REPEATABLE READ
 * transaction on a connection of their own, and an arena for the records
 * their gets hand out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define PG_CHUNK 256         /* records per query in snapshot ranges */
#define PG_ARENA_BLOCK 65536 /* bytes of a snapshot's arena block */

/* Memory that snapshot gets copy records into, freed or reused at renew
 * or end: blocks of PG_ARENA_BLOCK bytes (a larger record gets a block of
 * its own), each record at an 8-byte boundary. */
struct pg_block {
    struct pg_block *next;
    size_t size, used;
    _Alignas(8) unsigned char data[];
};

/* A snapshot is an open REPEATABLE READ transaction on a connection of
 * its own. Its gets copy records into its arena, since the pointers
 * handed out must stay valid until renew or end. */
struct pg_snapshot {
    struct journal_snapshot base;
    struct pg_conn *c; /* NULL once a failed renew made it unusable */
    journal_pos begin, end;
    struct pg_block *arena; /* the block in use first */
};

/* Frees the arena's blocks; with keep, keeps one block of the usual size
 * (emptied) for the gets after a renew. */
static void pg_snap_clear(struct pg_snapshot *sn, int keep)
{
    struct pg_block *b = sn->arena, *kept = NULL;
    while (b) {
        struct pg_block *next = b->next;
        if (keep && !kept && b->size == PG_ARENA_BLOCK) {
            kept = b;
            kept->used = 0;
            kept->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    sn->arena = kept;
}

/* n bytes of the arena of snapshot ctx, valid until pg_snap_clear(). */
static void *pg_snap_alloc(void *ctx, size_t n)
{
    struct pg_snapshot *sn = ctx;
    struct pg_block *b = sn->arena;
    size_t need = (n + 7) & ~(size_t)7;
    if (!b || b->size - b->used < need) {
        size_t size = need > PG_ARENA_BLOCK ? need : PG_ARENA_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        /* A record's own block goes behind the one in use, which keeps
         * its room for the next small records. */
        if (size > PG_ARENA_BLOCK && sn->arena) {
            b->next = sn->arena->next;
            sn->arena->next = b;
        } else {
            b->next = sn->arena;
            sn->arena = b;
        }
    }
    b->used += need;
    return b->data + b->used - need;
}

/* Starts the snapshot's transaction and reads its bounds, in one round
 * trip; `prefix` ends the previous transaction on renew. */
static int pg_snap_start(struct pg_snapshot *sn, const char *prefix)
{
    journal *j = sn->base.j;
    struct pg_store *st = pg_store_of(j->s);
    char sql[512];
    PGresult *r;
    int rc;
    snprintf(sql, sizeof sql,
             "%sBEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
             "SELECT begin_pos, end_pos FROM %s.journals WHERE id = %" PRId64,
             prefix, st->qschema, pg_id(j));
    rc = journal__pg_exec(j->s, sn->c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    rc = journal__pg_bounds_row(j->s, j->name, r, &sn->begin, &sn->end);
    PQclear(r);
    return rc;
}

int journal__pg_snap_begin(journal *j, journal_snapshot **out)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_snapshot *sn = calloc(1, sizeof *sn);
    int rc;
    if (!sn)
        return -ENOMEM;
    sn->base.j = j;
    rc = journal__pg_acquire(st, &sn->c);
    if (rc != 0)
        goto out_free;
    rc = pg_snap_start(sn, "");
    if (rc != 0)
        goto out_release;
    *out = &sn->base;
    return 0;
out_release:
    journal__pg_rollback(sn->c->pg);
    journal__pg_release(st, sn->c);
out_free:
    free(sn);
    return rc;
}

int journal__pg_snap_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    if (!sn->c)
        return -EINVAL;
    *begin = sn->begin;
    *end = sn->end;
    return 0;
}

int journal__pg_snap_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal *j = snap->j;
    void *copy;
    int rc;
    if (!sn->c)
        return -EINVAL;
    if (pos < sn->begin || pos >= sn->end)
        return JOURNAL_ENOTFOUND;
    rc = journal__pg_get_on(pg_store_of(j->s), sn->c, pg_id(j), pos, pg_snap_alloc, sn, &copy, len);
    if (rc == JOURNAL_ENOTFOUND) {
        rc = JOURNAL_ECORRUPT; /* within the snapshot's bounds */
        journal__pg_set_err(j->s, j->name, "a record is missing within the bounds");
    }
    if (rc == 0)
        *rec = copy;
    return rc;
}

/* Inside the snapshot's transaction, in chunks: each query sees the same
 * snapshot, and nothing needs cancelling when fn stops. */
int journal__pg_snap_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg,
                           uint64_t *delivered)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal *j = snap->j;
    struct pg_store *st = pg_store_of(j->s);
    char idb[8], fromb[8], endb[8], limb[8];
    const char *vals[4] = {idb, fromb, endb, limb};
    int lens[4] = {8, 8, 8, 8};
    journal_pos pos = from, next = from;
    PGresult *r;
    int rc = 0, ret = 0;
    if (!sn->c)
        return -EINVAL;
    if (from < sn->begin || from >= sn->end)
        return JOURNAL_ENOTFOUND;
    pg_put64(idb, pg_id(j));
    pg_put64(endb, (int64_t)sn->end);
    pg_put64(limb, PG_CHUNK);
    while (ret == 0 && next < sn->end) {
        int n;
        pg_put64(fromb, (int64_t)next);
        rc = journal__pg_run(st, sn->c, S_CHUNK, vals, lens, &r);
        if (rc != 0)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n && ret == 0; i++) {
            ret = journal__pg_deliver(r, i, 0, fn, arg, &pos);
            ++*delivered;
        }
        PQclear(r);
        if (n == 0) {
            rc = JOURNAL_ECORRUPT;
            journal__pg_set_err(j->s, j->name, "a record is missing within the bounds");
            break;
        }
        next = pos + 1;
    }
    return rc != 0 ? rc : ret < 0 ? ret : 0;
}

int journal__pg_snap_renew(journal_snapshot *snap)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    struct pg_store *st = pg_store_of(snap->j->s);
    int rc;
    if (!sn->c)
        return -EINVAL;
    pg_snap_clear(sn, 1);
    rc = pg_snap_start(sn, "ROLLBACK; ");
    if (rc != 0) {
        journal__pg_conn_free(&st->base, sn->c);
        sn->c = NULL;
    }
    return rc;
}

void journal__pg_snap_end(journal_snapshot *snap)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal_store *s = snap->j->s;
    pg_snap_clear(sn, 0);
    if (sn->c && !journal__forked(s)) {
        journal__pg_rollback(sn->c->pg);
        journal__pg_release(pg_store_of(s), sn->c);
    } else {
        journal__pg_conn_free(s, sn->c);
    }
    free(sn);
}
