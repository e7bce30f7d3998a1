/*
 * backends.c - the table of backends, the one place that names them. The
 * first whose claims() accepts a path opens it; LMDB, last, claims every
 * path that no other backend did.
 */
#include <stddef.h>

#include "internal.h"

static const struct journal__backend *const backends[] = {
    &journal__pg_backend,
    &journal__lmdb_backend,
};

const struct journal__backend *journal__backend_for(const char *path)
{
    size_t n = sizeof backends / sizeof backends[0];
    for (size_t i = 0; i < n; i++)
        if (backends[i]->claims(path))
            return backends[i];
    return backends[n - 1]; /* not reached: the last claims every path */
}
