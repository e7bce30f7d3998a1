/*
 * backend.h - private to libjournal: what a storage backend implements
 * (struct journal__ops, for the handles it opens) and how the front end
 * finds it (struct journal__backend, in the table of backends.c).
 *
 * The front end (api.c) names no backend. It checks the arguments and the
 * fork state of each public call once, keeps the handles' references and
 * the counters, and calls the handle's backend only with arguments that
 * passed these checks:
 *   - handles and out-pointers are non-NULL; the handle was opened in this
 *     process (not inherited through fork()), except for store_close, close
 *     and snap_end (below); writes (store_sync, append, truncate) are not to
 *     a JOURNAL_RDONLY store; callbacks (fn) are non-NULL, except
 *     store_check's, which may be NULL;
 *   - names are 1..255 bytes, NUL-terminated; record arrays are non-NULL
 *     when n > 0, and each record's data is non-NULL when its len > 0, and
 *     len < 4 GiB;
 *   - open's options are complete (a caller's older, smaller struct is
 *     zero-extended), flags and mode hold only known bits, and max_size is
 *     0 or at least JOURNAL__MIN_SIZE;
 *   - a snapshot has not been ended, and snap_renew is not called while a
 *     range of the same snapshot runs;
 *   - a journal handle stays valid during range and wait, and a snapshot
 *     during snap_range, even when the callback closes or ends it;
 *   - store_stat's struct is zeroed.
 * A backend must:
 *   - return 0 or a contract code (JOURNAL_E* or a negated errno), and
 *     return a callback's negative code unchanged;
 *   - allocate the public structs with room for its own state after them
 *     (struct journal_store is the first member of its store struct, and so
 *     on): journal__store_init() and journal__journal_alloc() (handle.h);
 *   - report, through range's and snap_range's *delivered, the records it
 *     passed to fn, and through truncate's *dropped, the records it
 *     removed, whatever it returns (a failure or a callback's stop too):
 *     api.c sets them to 0 before the call and adds them to the counters.
 *     It never writes struct journal__counters itself.
 */
#ifndef JOURNAL_BACKEND_H
#define JOURNAL_BACKEND_H

#include "handle.h"

/*
 * The operations on the handles of one backend. Every function is
 * required. store_close, close and snap_end are also called in a child
 * process on handles inherited through fork() (journal__forked(s) is then
 * true): they must release the child's memory only, and touch neither the
 * files, nor shared memory, nor connections, which are the parent's.
 */
struct journal__ops {
    const char *name;
    /* Release the backend's resources and free s; nothing is open on s. */
    void (*store_close)(journal_store *s);
    int (*store_sync)(journal_store *s);
    int (*store_list)(journal_store *s, journal_list_fn fn, void *arg);
    int (*store_copy)(journal_store *s, const char *dest, unsigned flags);
    int (*store_stat)(journal_store *s, journal_stat *st);
    int (*store_check)(journal_store *s, journal_check_fn fn, void *arg);
    /* The message of this thread's last failure on s, "" when there is
     * none; the text lives until the thread's next call on s. */
    const char *(*errmsg)(const journal_store *s);

    /* Allocate *out (journal__journal_alloc()) and find or create the
     * journal. */
    int (*open)(journal_store *s, const char *name, size_t namelen, journal **out);
    void (*close)(journal *j);
    int (*bounds)(journal *j, journal_pos *begin, journal_pos *end);
    int (*get)(journal *j, journal_pos pos, void **rec, size_t *len);
    /* *delivered: the records passed to fn (0 on entry). */
    int (*range)(journal *j, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered);
    /* Append n >= 0 records at end: all or nothing. */
    int (*append)(journal *j, journal_pos end, const journal_record *recs, size_t n);
    /* *dropped: the records removed, also when it fails part way (0 on
     * entry). */
    int (*truncate)(journal *j, journal_pos end, uint64_t *dropped);
    int (*wait)(journal *j, journal_pos pos, int timeout_ms);

    int (*snap_begin)(journal *j, journal_snapshot **out);
    int (*snap_bounds)(journal_snapshot *snap, journal_pos *begin, journal_pos *end);
    int (*snap_get)(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len);
    /* *delivered: as range's. */
    int (*snap_range)(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered);
    int (*snap_renew)(journal_snapshot *snap);
    void (*snap_end)(journal_snapshot *snap);
};

/*
 * A backend, as the table of backends.c lists it. journal_store_open()
 * gives a path to the first backend that claims it.
 */
struct journal__backend {
    const char *name; /* "postgresql", "lmdb" */
    /* 1 when this backend opens `path` (e.g. by URL scheme). */
    int (*claims)(const char *path);
    /* Open the store (journal__store_init() with this backend's ops). Gets
     * the checked options of journal_store_open_sized(); 0 or a contract
     * code, with nothing left behind on failure. */
    int (*open)(const char *path, const journal_options *opts, journal_store **out);
    /* This thread's message for its last failed open by this backend; ""
     * if none (then the front end keeps the message of an earlier failed
     * open of another backend for journal_store_errmsg(NULL)). */
    const char *(*open_errmsg)(void);
};

/* lib/lmdb/ (claims every path), and lib/pg/ or, in a build without
 * PostgreSQL, its stub that claims postgresql:// URLs and whose open
 * returns -EPROTONOSUPPORT. Only backends.c names them. */
extern const struct journal__backend journal__lmdb_backend, journal__pg_backend;

/* The backend that opens path: the first in backends.c's table to claim
 * it (the last claims everything). */
const struct journal__backend *journal__backend_for(const char *path);

#endif /* JOURNAL_BACKEND_H */
