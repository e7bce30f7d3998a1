/*
 * store.c - the calls on a PostgreSQL store as a whole: sync, list, stat,
 * check and copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

/* Runs fn(st, c, arg) inside a REPEATABLE READ read-only transaction on a
 * connection of the pool. */
static int pg_in_snapshot(struct pg_store *st, int (*fn)(struct pg_store *, struct pg_conn *, void *), void *arg)
{
    struct pg_conn *c;
    int rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = journal__pg_exec(&st->base, c->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, NULL);
    if (rc == 0) {
        rc = fn(st, c, arg);
        journal__pg_rollback(c->pg);
    }
    journal__pg_release(st, c);
    return rc;
}

/* Durable already unless JOURNAL_NOSYNC; then a transaction that commits
 * with synchronous_commit on flushes the WAL, and with it every earlier
 * commit of the server. */
int journal__pg_store_sync(journal_store *s)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c;
    int rc;
    if (!(s->flags & JOURNAL_NOSYNC))
        return 0;
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = journal__pg_exec(s, c->pg, "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
                          PGRES_COMMAND_OK, NULL);
    journal__pg_release(st, c);
    return rc;
}

int journal__pg_store_list(journal_store *s, journal_list_fn fn, void *arg)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c;
    PGresult *r;
    int rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = journal__pg_run(st, c, S_LIST, NULL, NULL, &r);
    /* fn may use the store: give the connection back first. */
    journal__pg_release(st, c);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        /* libpq ends every value with a NUL, binary ones included. */
        int ret = fn(arg, PQgetvalue(r, i, 0), (journal_pos)pg_get64(r, i, 1), (journal_pos)pg_get64(r, i, 2));
        if (ret != 0) {
            rc = ret < 0 ? ret : 0;
            break;
        }
    }
    PQclear(r);
    return rc;
}

static int pg_stat_fn(struct pg_store *st, struct pg_conn *c, void *arg)
{
    journal_stat *out = arg;
    char sql[1024];
    PGresult *r;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT value FROM %1$s.meta WHERE key = 'format'), current_setting('block_size'), "
             "pg_total_relation_size('%1$s.meta') + pg_total_relation_size('%1$s.journals') + "
             "pg_total_relation_size('%1$s.records'), "
             "(SELECT count(*) FROM %1$s.journals), (SELECT coalesce(sum(end_pos - begin_pos), 0) FROM %1$s.journals)",
             st->qschema);
    rc = journal__pg_exec(&st->base, c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    out->format_version = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    out->page_size = (unsigned)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    out->file_size = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    out->used_size = out->file_size;
    out->journals = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
    out->records = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
    PQclear(r);
    return 0;
}

int journal__pg_store_stat(journal_store *s, journal_stat *st)
{
    return pg_in_snapshot(pg_store_of(s), pg_stat_fn, st);
}

struct pg_check_args {
    journal_check_fn fn;
    void *arg;
    int problems;
};

static void pg_problem(struct pg_check_args *a, const char *name, const char *problem)
{
    a->problems++;
    if (a->fn)
        a->fn(a->arg, name, problem);
}

static int pg_check_fn(struct pg_store *st, struct pg_conn *c, void *arg)
{
    struct pg_check_args *a = arg;
    char sql[768], msg[160];
    PGresult *r;
    int rc = journal__pg_read_format(st, c->pg);
    if (rc == JOURNAL_EVERSION || rc == JOURNAL_ECORRUPT || rc == -ENOENT) {
        pg_problem(a, NULL, rc == JOURNAL_EVERSION ? "unknown format version" : "no format record");
        rc = 0;
    }
    if (rc != 0)
        return rc;
    /* Per journal: the bounds, the records inside them (positions are
     * unique, so a count of end - begin means no gap) and outside them. */
    snprintf(sql, sizeof sql,
             "SELECT j.name, j.begin_pos, j.end_pos, "
             "count(r.pos) FILTER (WHERE r.pos >= j.begin_pos AND r.pos < j.end_pos), "
             "count(r.pos) FILTER (WHERE r.pos < j.begin_pos OR r.pos >= j.end_pos) "
             "FROM %1$s.journals j LEFT JOIN %1$s.records r ON r.journal = j.id GROUP BY j.id ORDER BY j.name",
             st->qschema);
    /* In binary, so that names come as their bytes (libpq ends each value
     * with a NUL), not hex-escaped. */
    r = PQexecParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 1);
    rc = journal__pg_check(&st->base, c->pg, r, PGRES_TUPLES_OK);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        long long b = pg_get64(r, i, 1), e = pg_get64(r, i, 2), in = pg_get64(r, i, 3), out = pg_get64(r, i, 4);
        if (b < 0 || b > e) {
            snprintf(msg, sizeof msg, "bounds out of order: begin %lld, end %lld", b, e);
            pg_problem(a, name, msg);
        } else if (in != e - b) {
            snprintf(msg, sizeof msg, "%lld of the %lld records in [%lld, %lld) are missing", e - b - in, e - b, b, e);
            pg_problem(a, name, msg);
        }
        if (out > 0) {
            snprintf(msg, sizeof msg, "%lld records outside [%lld, %lld)", out, b, e);
            pg_problem(a, name, msg);
        }
    }
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM %1$s.records r WHERE NOT EXISTS (SELECT 1 FROM %1$s.journals j "
             "WHERE j.id = r.journal)",
             st->qschema);
    rc = journal__pg_exec(&st->base, c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
        snprintf(msg, sizeof msg, "%s records of unknown journals", PQgetvalue(r, 0, 0));
        pg_problem(a, NULL, msg);
    }
    PQclear(r);
    return 0;
}

int journal__pg_store_check(journal_store *s, journal_check_fn fn, void *arg)
{
    struct pg_check_args a = {fn, arg, 0};
    int rc = pg_in_snapshot(pg_store_of(s), pg_check_fn, &a);
    if (rc == 0 && a.problems > 0)
        rc = JOURNAL_ECORRUPT;
    return rc;
}

/* The end of a COPY on pg: its outcome, once every result is read. */
static int pg_copy_end(journal_store *s, PGconn *pg)
{
    PGresult *r;
    int rc = journal__pg_done(s, pg, PQgetResult(pg), PGRES_COMMAND_OK);
    while ((r = PQgetResult(pg)) != NULL)
        PQclear(r);
    return rc;
}

/* Streams one table from src's COPY TO into dst's COPY FROM, in binary. */
static int pg_copy_table(journal_store *s, PGconn *src, const char *sschema, PGconn *dst, const char *dschema,
                         const char *table)
{
    char sql[512];
    char *buf;
    int n, rc, dst_in, end_rc;
    snprintf(sql, sizeof sql, "COPY %s.%s TO STDOUT (FORMAT binary)", sschema, table);
    rc = journal__pg_exec(s, src, sql, PGRES_COPY_OUT, NULL);
    if (rc != 0)
        return rc;
    snprintf(sql, sizeof sql, "COPY %s.%s FROM STDIN (FORMAT binary)", dschema, table);
    rc = journal__pg_exec(s, dst, sql, PGRES_COPY_IN, NULL);
    dst_in = rc == 0;
    /* Read src to its end even when dst failed, so src stays usable. */
    while ((n = PQgetCopyData(src, &buf, 0)) > 0) {
        if (rc == 0 && PQputCopyData(dst, buf, n) != 1)
            rc = journal__pg_check(s, dst, NULL, PGRES_COPY_IN);
        PQfreemem(buf);
    }
    end_rc = pg_copy_end(s, src);
    if (rc == 0)
        rc = end_rc;
    if (dst_in) {
        PQputCopyEnd(dst, rc == 0 ? NULL : "the source failed");
        end_rc = pg_copy_end(s, dst);
        if (rc == 0)
            rc = end_rc;
    }
    return rc;
}

struct pg_copy_args {
    PGconn *dst;
    const char *dschema;
};

/* Copies the tables of st, in the snapshot of c, to the destination. */
static int pg_copy_fn(struct pg_store *st, struct pg_conn *c, void *arg)
{
    static const char *const tables[] = {"meta", "journals", "records"};
    struct pg_copy_args *a = arg;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof tables / sizeof tables[0]; i++)
        rc = pg_copy_table(&st->base, c->pg, st->qschema, a->dst, a->dschema, tables[i]);
    return rc;
}

/*
 * A copy goes to another schema, of this database or of any other server:
 * dest is a postgresql:// URL whose schema holds nothing yet. The source is
 * read in one REPEATABLE READ snapshot and streamed with COPY into one
 * transaction of the destination, which commits only when all of it is
 * there (so a failure leaves nothing behind).
 */
int journal__pg_store_copy(journal_store *s, const char *dest, unsigned flags)
{
    struct pg_store *dst;
    struct pg_conn *dc = NULL;
    struct pg_copy_args a;
    char sql[512];
    int rc;
    (void)flags; /* nothing to compact: the copy holds only live rows */
    if (!journal__pg_is_url(dest)) {
        journal__pg_set_err(s, dest, "a PostgreSQL store copies to a postgresql:// URL only");
        return -ENOTSUP;
    }
    dst = calloc(1, sizeof *dst);
    if (!dst)
        return -ENOMEM;
    pthread_mutex_init(&dst->mu, NULL);
    dst->base.flags = s->flags & ~JOURNAL_NOSYNC;
    dst->base.fork_gen = s->fork_gen;
    rc = journal__pg_parse_url(dst, dest, s);
    if (rc != 0)
        goto out_free;
    rc = journal__pg_connect(dst, &dc);
    if (rc != 0) {
        journal__pg_err_move(&dst->base, s);
        goto out_free;
    }
    rc = journal__pg_lock_schema(s, dc->pg, dst->schema);
    if (rc == 0)
        rc = journal__pg_create_tables(s, dc->pg, dst->schema, dst->qschema);
    if (rc != 0)
        goto out_dst;
    a.dst = dc->pg;
    a.dschema = dst->qschema;
    rc = pg_in_snapshot(pg_store_of(s), pg_copy_fn, &a);
    if (rc != 0)
        goto out_dst;
    snprintf(sql, sizeof sql,
             "SELECT setval(pg_get_serial_sequence('%1$s.journals', 'id'), coalesce(max(id), 0) + 1, false) "
             "FROM %1$s.journals",
             dst->qschema);
    rc = journal__pg_exec(s, dc->pg, sql, PGRES_TUPLES_OK, NULL);
    if (rc == 0)
        rc = journal__pg_exec(s, dc->pg, "COMMIT", PGRES_COMMAND_OK, NULL);
out_dst:
    if (rc != 0 && PQstatus(dc->pg) == CONNECTION_OK)
        journal__pg_rollback(dc->pg);
    journal__pg_conn_free(s, dc);
out_free:
    free(dst->conninfo);
    pthread_mutex_destroy(&dst->mu);
    free(dst);
    return rc;
}
