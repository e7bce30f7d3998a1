/*
 * server.c - the server of pg and pgraw, seen from the parent: its version,
 * the schemas of the run's stores analyzed after their setup and dropped
 * when done.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "pgraw.h"

/* The parent connects only between children and closes before the next
 * fork(): a libpq connection does not survive fork() either. */
static PGconn *admin_connect(const struct bench *b)
{
    PGconn *pg = pq_connect("--pg-url", b->pg_url);
    if (!pg) {
        fprintf(stderr, "%s: %s\n", PROG, err_msg);
        err_msg[0] = '\0';
    }
    return pg;
}

static PGresult *admin_exec(PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != want) {
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
        fprintf(stderr, "%s: postgresql: %s: %.*s\n", PROG, sql, (int)strcspn(msg, "\n"), msg);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Drops the schemas of this run (bench_<pid>_*) or, given one, that one. */
int drop_schemas(const struct bench *b, const char *schema)
{
    char like[96], sql[256];
    PGconn *pg = admin_connect(b);
    PGresult *r = NULL, *d;
    int rc = 1;

    if (!pg)
        return 1;
    /* _ is a wildcard of LIKE; the escaped one matches itself. */
    if (schema) {
        snprintf(sql, sizeof sql, "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname = '%s'", schema);
    } else {
        snprintf(like, sizeof like, "bench\\_%ld\\_%%", b->pid);
        snprintf(sql, sizeof sql, "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname LIKE '%s'", like);
    }
    if (!(r = admin_exec(pg, sql, PGRES_TUPLES_OK)))
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", PQgetvalue(r, i, 0));
        if (!(d = admin_exec(pg, sql, PGRES_COMMAND_OK)))
            goto out;
        PQclear(d);
    }
    rc = 0;
out:
    PQclear(r);
    PQfinish(pg);
    return rc;
}

/* After the setup of a pg or pgraw store: statistics for its tables, as
 * autovacuum would gather on a store in use; without them the planner
 * guesses, and sorts a range it could read in index order. */
int analyze_schema(const struct bench *b, const char *schema)
{
    char sql[256];
    PGconn *pg = admin_connect(b);
    PGresult *r;

    if (!pg)
        return 1;
    snprintf(sql, sizeof sql, "ANALYZE \"%.63s\".journals, \"%.63s\".records", schema, schema);
    r = admin_exec(pg, sql, PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(pg);
    return r ? 0 : 1;
}

/* Before the run: the server answers, its version for the table, and no
 * schema of an earlier run with this pid (one killed before it could drop
 * them) is taken for a store of this one. */
int pg_start(struct bench *b)
{
    PGconn *pg = admin_connect(b);
    PGresult *r;

    if (!pg)
        return 1;
    r = admin_exec(pg, "SELECT current_setting('server_version') || ', fsync ' || current_setting('fsync')",
                   PGRES_TUPLES_OK);
    if (r) {
        snprintf(b->pg_version, sizeof b->pg_version, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(pg);
    return r ? drop_schemas(b, NULL) : 1;
}
