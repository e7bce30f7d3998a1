/*
 * none.c - the PostgreSQL backend of a build without it (make PG=0, or
 * libpq's headers not found): a postgresql:// URL is still claimed, so
 * that it is never taken for a directory, and its open fails with
 * -EPROTONOSUPPORT and a message saying why. It replaces the other files
 * of lib/pg/.
 */
#include <errno.h>
#include <string.h>

#include "../internal.h"

/* Whether this thread's last failed open was of a PostgreSQL URL. */
static _Thread_local int pg_failed;

static int pg_is_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

static int pg_store_open(const char *url, const journal_options *opts, journal_store **out)
{
    (void)url;
    (void)opts;
    (void)out;
    pg_failed = 1;
    return -EPROTONOSUPPORT;
}

static const char *pg_open_errmsg(void)
{
    if (!pg_failed)
        return "";
    return "PostgreSQL stores are not supported: this libjournal was built without the PostgreSQL backend "
           "(PG=0, or libpq's headers were missing at build time)";
}

const struct journal__backend journal__pg_backend = {
    .name = "postgresql",
    .claims = pg_is_url,
    .open = pg_store_open,
    .open_errmsg = pg_open_errmsg,
};
