/*
 * error.c - result codes: their messages, and the one place where LMDB's
 * codes are translated into the contract's.
 */
#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "internal.h"
#include "lmdb/lmdb_int.h"

/* One row per JOURNAL_E* code, in order from -29001 down: the message
 * starts with the code's name so logs can be searched for it. */
static const char *const messages[] = {
    "JOURNAL_ENOTFOUND: no record at that position",
    "JOURNAL_ECONFLICT: append below the end of the journal (another writer came first)",
    "JOURNAL_EBEYOND: position past the end of the journal",
    "JOURNAL_EFULL: the store reached its maximum size",
    "JOURNAL_ECORRUPT: the store is damaged or is not a journal store",
    "JOURNAL_EVERSION: the store uses an on-disk format this library does not know",
    "JOURNAL_EBUSY: open journals or snapshots prevent it (closing the store, or remapping a grown store)",
    "JOURNAL_EREADONLY: the store was opened read-only",
    "JOURNAL_EREADERS: every reader slot of the store is in use",
    "JOURNAL_EFORK: handle used in a child process after fork()",
};

const char *journal_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err <= JOURNAL_ENOTFOUND && err >= JOURNAL_ELAST)
        return messages[JOURNAL_ENOTFOUND - err];
    if (err < 0 && err > -4096) {
        /* strerror() may return a buffer shared with other calls for
         * unknown values; every value in this range is known to glibc. */
        return strerror(-err);
    }
    return "unknown error";
}

const char *journal_version(void)
{
    return JOURNAL_VERSION_STRING;
}

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
