/*
 * internal.h - private to libjournal: the structures behind the public
 * handles and the interface every storage backend implements.
 *
 * This header is never installed. Names shared between files start with
 * journal__; everything else in lib/ is static.
 *
 * The public functions (api.c) check their arguments and the fork state
 * once, then call the backend through struct journal__ops. A backend
 * allocates the public structs with room for its own state after them
 * (struct journal_store is the first member of its store struct, and so
 * on), and only ever sees arguments that passed these checks:
 *   - handles and out-pointers are non-NULL, the store is not from a parent
 *     process, writes are not to a JOURNAL_RDONLY store;
 *   - names are 1..255 bytes; record arrays are non-NULL when n > 0, and
 *     each record's data is non-NULL when its len > 0 and len < 4 GiB.
 * Backend functions return 0 or a contract code (JOURNAL_E* or -errno).
 */
#ifndef JOURNAL_INTERNAL_H
#define JOURNAL_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "byteorder.h"
#include "journal.h"

#define JOURNAL__NAME_MAX 255
#define JOURNAL__MIN_SIZE ((uint64_t)64 << 10) /* smallest max_size */

struct journal__ops;

/* Counters are relaxed atomics: each is exact once the calls it counts have
 * returned, and costs one uncontended add on the hot paths. */
struct journal__counters {
    atomic_uint_fast64_t appends;
    atomic_uint_fast64_t bytes_appended;
    atomic_uint_fast64_t conflicts;
    atomic_uint_fast64_t gets;
    atomic_uint_fast64_t range_records;
    atomic_uint_fast64_t truncated;
};

/*
 * Handle lifetimes (api.c). A handle is freed when its last reference goes,
 * so that the orders the contract allows never touch freed memory:
 *   - a store's refs: 1 for the handle until journal_store_close(), plus
 *     one per journal handle not yet freed, per snapshot, and per running
 *     list or check (whose callbacks may try to close the store). Closing
 *     needs refs == 1 (JOURNAL_EBUSY otherwise), except in a child after
 *     fork(), where the store is freed with the last inherited handle;
 *   - a journal's refs: 1 for the handle until journal_close(), plus one
 *     per snapshot begun from it and per running journal_range() (whose
 *     callback may close it);
 *   - a snapshot is used by one thread at a time, so plain fields do: busy
 *     counts its running ranges, and an end requested inside one of them
 *     is done when the outermost returns.
 */
struct journal_store {
    const struct journal__ops *ops;
    char *path;        /* as given to journal_store_open() */
    unsigned flags;    /* JOURNAL_RDONLY | JOURNAL_NOSYNC */
    unsigned fork_gen; /* journal__fork_gen when opened */
    atomic_ulong refs;
    struct journal__counters counters;
};

struct journal {
    journal_store *s;
    atomic_uint refs;
    size_t namelen;
    char *name; /* NUL-terminated, namelen bytes before the NUL */
};

struct journal_snapshot {
    journal *j;
    unsigned busy; /* its ranges running */
    int ended;     /* journal_snapshot_end() called while busy */
};

/*
 * What a storage backend implements. Every function is required.
 * store_close, close and snap_end are also called in a child process on
 * handles inherited through fork() (journal__forked(s) is then true): they
 * must release the child's memory only, and touch neither the files, nor
 * shared memory, nor connections, which are the parent's.
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

    /* Allocate *out (with its name copied) and find or create the journal. */
    int (*open)(journal_store *s, const char *name, size_t namelen, journal **out);
    void (*close)(journal *j);
    int (*bounds)(journal *j, journal_pos *begin, journal_pos *end);
    int (*get)(journal *j, journal_pos pos, void **rec, size_t *len);
    int (*range)(journal *j, journal_pos from, journal_range_fn fn, void *arg);
    /* Append n >= 0 records at end: all or nothing. */
    int (*append)(journal *j, journal_pos end, const journal_record *recs, size_t n);
    int (*truncate)(journal *j, journal_pos end);
    int (*wait)(journal *j, journal_pos pos, int timeout_ms);

    int (*snap_begin)(journal *j, journal_snapshot **out);
    int (*snap_bounds)(journal_snapshot *snap, journal_pos *begin, journal_pos *end);
    int (*snap_get)(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len);
    int (*snap_range)(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg);
    int (*snap_renew)(journal_snapshot *snap);
    void (*snap_end)(journal_snapshot *snap);
};

/* Incremented in the child by a pthread_atfork() handler: a handle whose
 * fork_gen differs was opened by an ancestor process. */
extern atomic_uint journal__fork_gen;

static inline int journal__forked(const journal_store *s)
{
    return s->fork_gen != atomic_load_explicit(&journal__fork_gen, memory_order_relaxed);
}

static inline void journal__count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Fills the common part of a new store handle (path copied). */
int journal__store_init(journal_store *s, const struct journal__ops *ops, const char *path, unsigned flags);
void journal__store_fini(journal_store *s);

/* Fills the common part of a journal handle allocated with `size` bytes
 * (the backend's struct), copying the name after it. */
int journal__journal_alloc(journal_store *s, const char *name, size_t namelen, size_t size, journal **out);

/* The LMDB backend. */
int journal__lmdb_open(const char *path, const journal_options *opts, journal_store **out);

/* The PostgreSQL backend: lib/pg.c, which loads libpq at its first open
 * (lib/pq_load.h), or lib/pg_none.c in a build without it (PG=0). Either
 * way, an open that cannot work returns -EPROTONOSUPPORT, with the reason
 * for journal__pg_errmsg(NULL). */
int journal__pg_open(const char *url, const journal_options *opts, journal_store **out);
int journal__is_pg_url(const char *path);
/* The message of this thread's last failure on s, or of its last failed
 * open of a PostgreSQL store for NULL; "" when there is none. */
const char *journal__pg_errmsg(const journal_store *s);

#endif /* JOURNAL_INTERNAL_H */
