/*
 * error.c - the one place where LMDB's codes are translated into the
 * contract's.
 */
#include <errno.h>

#include "lmdb_int.h"

int journal__from_mdb(int rc)
{
    if (rc == 0 || (rc <= JOURNAL_ENOTFOUND && rc >= JOURNAL_ELAST))
        return rc;
    if (rc > 0)
        return -rc;
    if (rc > -4096)
        return rc; /* a negated errno already */
    switch (rc) {
    case MDB_NOTFOUND:
        return JOURNAL_ENOTFOUND;
    case MDB_MAP_FULL:
        return JOURNAL_EFULL;
    case MDB_READERS_FULL:
        return JOURNAL_EREADERS;
    case MDB_VERSION_MISMATCH:
        return JOURNAL_EVERSION;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
        return -E2BIG;
    case MDB_PANIC:
    case MDB_BAD_TXN:
        /* A failed write left the environment, or the transaction,
         * unusable: an I/O error. */
        return -EIO;
    case MDB_BAD_VALSIZE:
        return -EMSGSIZE;
    case MDB_MAP_RESIZED:
        /* Handled by the callers; reaching here means growth failed. */
        return JOURNAL_EBUSY;
    default:
        /* MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INCOMPATIBLE,
         * MDB_KEYEXIST on a record key, and the rest: invariants of the
         * files do not hold. */
        return JOURNAL_ECORRUPT;
    }
}
