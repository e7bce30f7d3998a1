/*
 * none.c - the PostgreSQL backend of a build without it (make PG=0, or
 * libpq's headers not found): a postgresql:// URL is still recognised, so
 * that it is never taken for a directory, and its open fails with
 * -EPROTONOSUPPORT and a message saying why. Replaces the other files of lib/pg/.
 */
#include <errno.h>
#include <string.h>

#include "../internal.h"

/* Whether this thread's last failed open was of a PostgreSQL URL. */
static _Thread_local int pg_failed;

int journal__is_pg_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

int journal__pg_open(const char *url, const journal_options *opts, journal_store **out)
{
    (void)url;
    (void)opts;
    (void)out;
    pg_failed = 1;
    return -EPROTONOSUPPORT;
}

const char *journal__pg_errmsg(const journal_store *s)
{
    /* No store of this backend ever exists: s is NULL or an LMDB store. */
    if (s || !pg_failed)
        return "";
    return "PostgreSQL stores are not supported: this libjournal was built without the PostgreSQL backend "
           "(PG=0, or libpq's headers were missing at build time)";
}
