/*
 * error.c - the contract's result codes: their messages, and the library's
 * version. Each backend translates its own failures into these codes
 * (lib/lmdb/error.c, lib/pg/).
 */
#include <string.h>

#include "journal.h"

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
