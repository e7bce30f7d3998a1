/*
 * pg.c - the PostgreSQL backend. Not built yet: a postgresql:// URL gives
 * -EPROTONOSUPPORT.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int journal__is_pg_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

int journal__pg_open(const char *url, const journal_options *opts, journal_store **out)
{
    (void)url;
    (void)opts;
    (void)out;
    return -EPROTONOSUPPORT;
}
