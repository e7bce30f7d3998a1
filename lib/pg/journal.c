/*
 * journal.c - the calls on one journal of a PostgreSQL store: open,
 * bounds, get, range, append and truncate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

#define PG_TRUNCATE_STEP 8192         /* records removed per transaction */
#define PG_DRAIN_MAX 1024             /* rows read rather than cancelled */
#define PG_FIELD_MAX ((1u << 30) - 1) /* PostgreSQL's limit for one value */

int journal__pg_jopen(journal_store *s, const char *name, size_t namelen, journal **out)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c = NULL;
    const char *vals[1] = {name};
    int lens[1] = {(int)namelen};
    PGresult *r = NULL;
    journal *j = NULL;
    int rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        goto out;
    rc = journal__pg_run(st, c, S_FIND, vals, lens, &r);
    /* Create when missing; a racing creator makes the insert return
     * nothing, and the second look finds its row. */
    for (int step = 0; rc == 0 && PQntuples(r) == 0 && step < 2; step++) {
        PQclear(r);
        r = NULL;
        if (s->flags & JOURNAL_RDONLY) {
            rc = -ENOENT;
            journal__pg_set_err(s, name, "no such journal");
            break;
        }
        rc = journal__pg_run(st, c, step == 0 ? S_CREATE : S_FIND, vals, lens, &r);
    }
    if (rc != 0)
        goto out_release;
    if (PQntuples(r) != 1) {
        rc = JOURNAL_ECORRUPT;
        goto out_clear;
    }
    rc = journal__journal_alloc(s, name, namelen, sizeof(struct pg_journal), &j);
    if (rc != 0)
        goto out_clear;
    ((struct pg_journal *)j)->id = pg_get64(r, 0, 0);
    *out = j;
out_clear:
    PQclear(r);
out_release:
    journal__pg_release(st, c);
out:
    return rc;
}

void journal__pg_jclose(journal *j)
{
    free(j);
}

int journal__pg_bounds_row(journal_store *s, const char *what, const PGresult *r, journal_pos *begin, journal_pos *end)
{
    if (PQntuples(r) != 1) {
        journal__pg_set_err(s, what, "the journal's catalog row is missing");
        return JOURNAL_ECORRUPT;
    }
    if (PQfformat(r, 0) == 1) {
        *begin = (journal_pos)pg_get64(r, 0, 0);
        *end = (journal_pos)pg_get64(r, 0, 1);
    } else {
        *begin = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        *end = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    }
    return 0;
}

int journal__pg_bounds_on(struct pg_store *st, struct pg_conn *c, int64_t id, journal_pos *begin, journal_pos *end)
{
    char idb[8];
    const char *vals[1] = {idb};
    int lens[1] = {8};
    PGresult *r;
    int rc;
    pg_put64(idb, id);
    rc = journal__pg_run(st, c, S_BOUNDS, vals, lens, &r);
    if (rc != 0)
        return rc;
    rc = journal__pg_bounds_row(&st->base, "", r, begin, end);
    PQclear(r);
    return rc;
}

int journal__pg_bounds(journal *j, journal_pos *begin, journal_pos *end)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    int rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = journal__pg_bounds_on(st, c, pg_id(j), begin, end);
    journal__pg_release(st, c);
    return rc;
}

int journal__pg_get_on(struct pg_store *st, struct pg_conn *c, int64_t id, journal_pos pos,
                       void *(*alloc)(void *ctx, size_t n), void *ctx, void **rec, size_t *len)
{
    char idb[8], posb[8];
    const char *vals[2] = {idb, posb};
    int lens[2] = {8, 8};
    PGresult *r;
    size_t n;
    void *copy;
    int rc;
    pg_put64(idb, id);
    pg_put64(posb, (int64_t)pos);
    rc = journal__pg_run(st, c, S_GET, vals, lens, &r);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        rc = JOURNAL_ENOTFOUND;
    } else {
        n = (size_t)PQgetlength(r, 0, 0);
        copy = alloc(ctx, n);
        if (copy) {
            memcpy(copy, PQgetvalue(r, 0, 0), n);
            *rec = copy;
            *len = n;
        } else {
            rc = -ENOMEM;
        }
    }
    PQclear(r);
    return rc;
}

static void *pg_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n ? n : 1);
}

int journal__pg_get(journal *j, journal_pos pos, void **rec, size_t *len)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    int rc;
    if (pos > INT64_MAX)
        return JOURNAL_ENOTFOUND;
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = journal__pg_get_on(st, c, pg_id(j), pos, pg_malloc, NULL, rec, len);
    journal__pg_release(st, c);
    return rc;
}

int journal__pg_deliver(const PGresult *r, int row, int col, journal_range_fn fn, void *arg, journal_pos *pos)
{
    *pos = (journal_pos)pg_get64(r, row, col);
    return fn(arg, *pos, PQgetvalue(r, row, col + 1), (size_t)PQgetlength(r, row, col + 1));
}

/*
 * The whole range is one statement, so one snapshot, streamed row by row
 * (single-row mode) so that memory stays bounded. When fn stops early, the
 * rest is read and dropped if short, or the statement is cancelled.
 */
int journal__pg_range(journal *j, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char idb[8], fromb[8];
    const char *vals[2] = {idb, fromb};
    int lens[2] = {8, 8};
    journal_pos pos = from, end = 0;
    PGresult *r;
    int rc, done = 0, first = 1;
    if (from > INT64_MAX)
        return JOURNAL_ENOTFOUND;
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    pg_put64(idb, pg_id(j));
    pg_put64(fromb, (int64_t)from);
    rc = journal__pg_send(st, c, S_RANGE, vals, lens);
    if (rc != 0)
        goto out_release;
    PQsetSingleRowMode(c->pg);
    while ((r = PQgetResult(c->pg)) != NULL) {
        int ret;
        if (done || PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            continue;
        }
        if (PQresultStatus(r) != PGRES_SINGLE_TUPLE) {
            rc = journal__pg_check(j->s, c->pg, r, PGRES_SINGLE_TUPLE);
            done = 1;
            continue;
        }
        if (first) {
            journal_pos b = (journal_pos)pg_get64(r, 0, 0);
            end = (journal_pos)pg_get64(r, 0, 1);
            first = 0;
            if (from < b || from >= end) {
                rc = JOURNAL_ENOTFOUND;
                done = 1;
                PQclear(r);
                continue;
            }
        }
        if (PQgetisnull(r, 0, 2)) {
            rc = JOURNAL_ECORRUPT; /* within the bounds but no record */
            journal__pg_set_err(j->s, j->name, "a record is missing within the bounds");
            done = 1;
            PQclear(r);
            continue;
        }
        if ((journal_pos)pg_get64(r, 0, 2) != from + *delivered) {
            rc = JOURNAL_ECORRUPT; /* a gap, or records out of order */
            journal__pg_set_err(j->s, j->name, "records out of order or missing within the bounds");
            done = 1;
            PQclear(r);
            continue;
        }
        ret = journal__pg_deliver(r, 0, 2, fn, arg, &pos);
        PQclear(r);
        ++*delivered;
        if (ret != 0) {
            rc = ret < 0 ? ret : 0;
            done = 1;
            if (end - pos > PG_DRAIN_MAX)
                journal__pg_cancel(c->pg);
        }
    }
    if (first && rc == 0) {
        rc = JOURNAL_ECORRUPT;
        journal__pg_set_err(j->s, "", "the journal's catalog row is missing");
    }
out_release:
    journal__pg_release(st, c);
    return rc;
}

/* The array of bytea in PostgreSQL's binary format: a header, then each
 * element as a 4-byte length and its bytes. */
static int pg_pack_array(const journal_record *recs, size_t n, char **out, size_t *outlen)
{
    size_t total = 20 + 4 * n;
    char *buf, *p;
    for (size_t i = 0; i < n; i++) {
        total += recs[i].len;
        if (total > PG_FIELD_MAX)
            return -E2BIG;
    }
    if (total > PG_FIELD_MAX)
        return -E2BIG;
    buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    p = buf;
    for (uint32_t v, i = 0; i < 5; i++) {
        static const uint32_t hdr[3] = {1, 0, OID_BYTEA};
        v = i < 3 ? hdr[i] : i == 3 ? (uint32_t)n : 1;
        for (int b = 3; b >= 0; b--)
            *p++ = (char)(v >> (8 * b));
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)recs[i].len;
        for (int b = 3; b >= 0; b--)
            *p++ = (char)(v >> (8 * b));
        if (recs[i].len)
            memcpy(p, recs[i].data, recs[i].len);
        p += recs[i].len;
    }
    *out = buf;
    *outlen = total;
    return 0;
}

/* After an append that matched nothing: below or above the end? */
static int pg_append_miss(struct pg_store *st, struct pg_conn *c, journal *j, journal_pos at)
{
    journal_pos b, e;
    int rc = journal__pg_bounds_on(st, c, pg_id(j), &b, &e);
    if (rc != 0)
        return rc;
    if (at < e)
        return JOURNAL_ECONFLICT;
    return at > e ? JOURNAL_EBEYOND : 0;
}

int journal__pg_append(journal *j, journal_pos end, const journal_record *recs, size_t n)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char idb[8], endb[8], nb[8];
    const char *vals[5];
    int lens[5];
    char *packed = NULL;
    size_t packedlen = 0;
    PGresult *r;
    int rc, k = 0;
    if (end > INT64_MAX)
        return JOURNAL_EBEYOND; /* no journal ends there */
    if (n > (uint64_t)INT64_MAX - end)
        return -EOVERFLOW;
    for (size_t i = 0; i < n; i++)
        if (recs[i].len > PG_FIELD_MAX)
            return -EMSGSIZE;
    if (n > 1) {
        rc = pg_pack_array(recs, n, &packed, &packedlen);
        if (rc != 0)
            return rc;
    }
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        goto out;
    if (n == 0) {
        rc = pg_append_miss(st, c, j, end);
        goto out_release;
    }
    pg_put64(idb, pg_id(j));
    pg_put64(endb, (int64_t)end);
    vals[k] = idb, lens[k++] = 8;
    vals[k] = endb, lens[k++] = 8;
    if (n == 1) {
        vals[k] = recs[0].len ? recs[0].data : "";
        lens[k++] = (int)recs[0].len;
    } else {
        pg_put64(nb, (int64_t)n);
        vals[k] = nb, lens[k++] = 8;
        vals[k] = packed, lens[k++] = (int)packedlen;
    }
    vals[k] = st->schema, lens[k++] = (int)strlen(st->schema);
    rc = journal__pg_run(st, c, n == 1 ? S_APPEND1 : S_APPENDN, vals, lens, &r);
    if (rc != 0)
        goto out_release;
    if (PQntuples(r) == 0) {
        rc = pg_append_miss(st, c, j, end);
        if (rc == 0)
            rc = JOURNAL_ECONFLICT; /* the end moved past `end` meanwhile */
    }
    PQclear(r);
out_release:
    journal__pg_release(st, c);
out:
    free(packed);
    return rc;
}

/*
 * One step of a truncation, one transaction in one round trip: lock the
 * journal's row (which waits for an append holding it and then reads its
 * newest version), then, in statements that start after the lock was
 * granted and so see every append committed before it, delete the
 * records passed over and move begin by at most PG_TRUNCATE_STEP towards
 * end. Nothing is done when end is outside the locked bounds.
 */
static int pg_truncate_step(struct pg_store *st, struct pg_conn *c, int64_t id, int64_t end, journal_pos *b,
                            journal_pos *e)
{
    char sql[1024];
    PGresult *r = NULL;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = %2$" PRId64 " FOR UPDATE; "
             "DELETE FROM %1$s.records WHERE journal = %2$" PRId64
             " AND pos >= (SELECT begin_pos FROM %1$s.journals WHERE id = %2$" PRId64 ") "
             "AND pos < (SELECT least(%3$" PRId64 ", begin_pos + %4$d) FROM %1$s.journals WHERE id = %2$" PRId64
             " AND %3$" PRId64 " <= end_pos); "
             "UPDATE %1$s.journals SET begin_pos = least(%3$" PRId64 ", begin_pos + %4$d) WHERE id = %2$" PRId64
             " AND %3$" PRId64 " > begin_pos AND %3$" PRId64 " <= end_pos",
             st->qschema, id, end, PG_TRUNCATE_STEP);
    rc = journal__pg_query(&st->base, c->pg, sql, 0, &r, 1);
    if (rc != 0)
        return rc;
    rc = journal__pg_bounds_row(&st->base, "", r, b, e);
    PQclear(r);
    return rc;
}

int journal__pg_truncate(journal *j, journal_pos end, uint64_t *dropped)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    journal_pos b, e, nb;
    int rc;
    if (end > INT64_MAX)
        return JOURNAL_EBEYOND;
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    /* Each step is its own transaction and leaves a valid journal. */
    for (;;) {
        rc = pg_truncate_step(st, c, pg_id(j), (int64_t)end, &b, &e);
        if (rc != 0)
            break;
        if (end > e) {
            rc = JOURNAL_EBEYOND;
            break;
        }
        nb = end < b + PG_TRUNCATE_STEP ? end : b + PG_TRUNCATE_STEP;
        if (nb > b)
            *dropped += nb - b;
        if (nb >= end)
            break;
    }
    journal__pg_release(st, c);
    return rc;
}
