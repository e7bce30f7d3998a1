/*
 * open.c - opening and closing a PostgreSQL store: its URL, its first
 * connection, its tables created when missing; and the backend's table of
 * ops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pg_int.h"

#define PG_SCHEMA_PARAM "journal_schema"
#define PG_SCHEMA_DEFAULT "journal"

static const struct journal__ops pg_ops;

/* An identifier PostgreSQL accepts for a new schema: letters, digits and
 * _, not starting with a digit nor with pg_ (reserved for the system). */
static int pg_schema_valid(const char *name, size_t len)
{
    if (len == 0 || len > PG_SCHEMA_MAX || (name[0] >= '0' && name[0] <= '9') ||
        (len >= 3 && strncasecmp(name, "pg_", 3) == 0))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/* Splits journal_schema=NAME off the URL's query; the rest goes to libpq
 * as it was. */
static int pg_parse_url(const char *url, char **conninfo, char *schema)
{
    const char *q = strchr(url, '?'), *p;
    char *out;
    size_t n;
    int seen = 0;
    strcpy(schema, PG_SCHEMA_DEFAULT);
    out = malloc(strlen(url) + 1);
    if (!out)
        return -ENOMEM;
    n = q ? (size_t)(q - url) : strlen(url);
    memcpy(out, url, n);
    out[n] = '\0';
    for (p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        size_t klen = sizeof PG_SCHEMA_PARAM - 1;
        if (len > klen && strncmp(p, PG_SCHEMA_PARAM "=", klen + 1) == 0) {
            if (seen || !pg_schema_valid(p + klen + 1, len - klen - 1)) {
                free(out);
                return -EINVAL;
            }
            memcpy(schema, p + klen + 1, len - klen - 1);
            schema[len - klen - 1] = '\0';
            seen = 1;
        } else if (len > 0) {
            strcat(out, strchr(out, '?') ? "&" : "?");
            strncat(out, p, len);
        }
        p = amp ? amp + 1 : NULL;
    }
    *conninfo = out;
    return 0;
}

int journal__pg_parse_url(struct pg_store *st, const char *url, const journal_store *errs)
{
    int rc = pg_parse_url(url, &st->conninfo, st->schema);
    if (rc != 0) {
        journal__pg_set_err(errs, url,
                            "journal_schema must be 1 to 63 letters, digits or _, not starting with a digit or pg_");
        return rc;
    }
    snprintf(st->qschema, sizeof st->qschema, "\"%s\"", st->schema);
    return 0;
}

static void pg_store_free(struct pg_store *st)
{
    journal__pg_pool_close(st);
    for (int k = 0; k < S_COUNT; k++)
        free(st->sql[k]);
    free(st->conninfo);
    pthread_mutex_destroy(&st->mu);
    journal__store_fini(&st->base);
    free(st);
}

int journal__pg_is_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

static int pg_store_open(const char *url, const journal_options *opts, journal_store **out)
{
    struct pg_store *st;
    struct pg_conn *c = NULL;
    PQconninfoOption *parsed;
    const char *why;
    char *err = NULL;
    int rc;
    /* libpq is loaded at the first PostgreSQL open (pq_load.h). */
    rc = journal__pq_load(&why);
    if (rc != 0) {
        journal__pg_set_err(NULL, "", why);
        return rc;
    }
    st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    rc = journal__store_init(&st->base, &pg_ops, url, opts->flags);
    if (rc != 0)
        goto out_free;
    rc = journal__pg_parse_url(st, url, NULL);
    if (rc != 0)
        goto out_free;
    parsed = PQconninfoParse(st->conninfo, &err);
    if (!parsed) {
        rc = err ? -EINVAL : -ENOMEM;
        journal__pg_set_err(NULL, "invalid URL", err);
        PQfreemem(err);
        goto out_free;
    }
    PQconninfoFree(parsed);
    rc = journal__pg_sql_init(st);
    if (rc != 0)
        goto out_free;
    rc = journal__pg_acquire(st, &c);
    if (rc != 0)
        goto out_free;
    rc = journal__pg_read_format(st, c->pg);
    if (rc == -ENOENT && !(opts->flags & JOURNAL_RDONLY))
        rc = journal__pg_create_store(st, c->pg);
    else if (rc == -ENOENT)
        journal__pg_set_err(&st->base, st->schema, "no journal store in this schema");
    if (rc != 0)
        goto out_conn;
    journal__pg_release(st, c);
    *out = &st->base;
    return 0;
out_conn:
    journal__pg_conn_free(&st->base, c);
out_free:
    /* The message belongs to the open, whose store never existed. */
    journal__pg_err_move(&st->base, NULL);
    pg_store_free(st);
    return rc;
}

static void pg_store_close(journal_store *s)
{
    pg_store_free(pg_store_of(s));
}

static const struct journal__ops pg_ops = {
    .name = "postgresql",
    .store_close = pg_store_close,
    .store_sync = journal__pg_store_sync,
    .store_list = journal__pg_store_list,
    .store_copy = journal__pg_store_copy,
    .store_stat = journal__pg_store_stat,
    .store_check = journal__pg_store_check,
    .errmsg = journal__pg_errmsg,
    .open = journal__pg_jopen,
    .close = journal__pg_jclose,
    .bounds = journal__pg_bounds,
    .get = journal__pg_get,
    .range = journal__pg_range,
    .append = journal__pg_append,
    .truncate = journal__pg_truncate,
    .wait = journal__pg_wait,
    .snap_begin = journal__pg_snap_begin,
    .snap_bounds = journal__pg_snap_bounds,
    .snap_get = journal__pg_snap_get,
    .snap_range = journal__pg_snap_range,
    .snap_renew = journal__pg_snap_renew,
    .snap_end = journal__pg_snap_end,
};

static const char *pg_open_errmsg(void)
{
    return journal__pg_errmsg(NULL);
}

const struct journal__backend journal__pg_backend = {
    .name = "postgresql",
    .claims = journal__pg_is_url,
    .open = pg_store_open,
    .open_errmsg = pg_open_errmsg,
};
