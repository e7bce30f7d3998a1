/*
 * lmdb_backend.h - private to the LMDB backend (lmdb_*.c): the structures
 * behind its handles. See README.md, "On-disk layout", for the files.
 */
#ifndef JOURNAL_LMDB_BACKEND_H
#define JOURNAL_LMDB_BACKEND_H

#include <lmdb.h>
#include <pthread.h>

#include "internal.h"
#include "lmdb/format.h"

/* Reused read transactions per thread and store: calls nest (a range
 * callback may call get), at most this deep before falling back to a
 * transaction of its own. */
#define LMDB_TXN_DEPTH 4

struct lmdb_tnode;
struct lmdb_append;
struct lmdb_steady;

struct lmdb_store {
    struct journal_store base;
    MDB_env *env;
    MDB_dbi records, catalog, meta;
    char *datafile;                    /* path of data.mdb, for journal_wait() */
    uint64_t max_map;                  /* 0: no limit */
    unsigned psize;                    /* LMDB page size */
    atomic_uint_fast64_t checked_pgno; /* last page in use at the last reader check */
    /* Where LMDB mapped the file (lmdb_check.c): map_gen counts remaps,
     * map_base is valid for remap base_gen - 1. */
    atomic_uint map_gen, base_gen;
    _Atomic(const char *) map_base;

    /*
     * The map gate. LMDB may remap the file only while no transaction of
     * this process uses the map (mdb_env_set_mapsize()), and pointers
     * handed out by snapshots and range callbacks point into it. Every
     * call that reads the map counts itself in `active` for its duration,
     * snapshots for their whole life. A thread that must grow the map
     * raises `resizing`, which makes new calls wait, and waits for
     * `active` to drop to zero.
     */
    atomic_uint active;
    atomic_int resizing;
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;

    /* Per-thread read transactions of this store (guarded by the global
     * cache mutex in lmdb_store.c). */
    struct lmdb_tnode *tnodes;

    /*
     * Group commit. Appends of all threads queue here; one of them, the
     * leader, takes the whole queue and writes it in one transaction with
     * one sync, while the next appends queue up behind it.
     */
    pthread_mutex_t gc_mu;
    pthread_cond_t gc_cv;
    struct lmdb_append *gc_head, **gc_tail;
    int gc_leader;

    /* Reset read transactions kept for the next snapshot, so that a
     * snapshot does not claim a new reader slot each time. */
    pthread_mutex_t pool_mu;
    MDB_txn *pool[64];
    unsigned npool;

    /* The waiters of journal_wait(), sharing one notifier (lmdb_wait.c).
     * The fields after wait_cv are the sleeper's, or under wait_mu. */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv; /* on CLOCK_MONOTONIC */
    struct journal__notifier *notifier;
    int notify_state;    /* untried, on, or polling */
    unsigned nwaiters;   /* waiters in journal_wait() */
    int sleeping;        /* a waiter sleeps on the notifier */
    uint64_t wait_gen;   /* changes seen by the sleeper */
    uint64_t poll_txnid; /* polling: the last transaction seen */
    int64_t poll_ms;     /* polling: the next sleep */

    /* Steady points (lmdb_steady.c). */
    struct lmdb_steady *steady;
};

/*
 * The bounds a journal handle saw last, with the id of the transaction it
 * read them in: while LMDB's last committed transaction is still that one,
 * journal_bounds() answers from here without a read transaction (see
 * journal__lmdb_bounds()). A sequence lock keeps the three consistent
 * between threads: seq is odd while one is writing them, 0 before the first.
 */
struct lmdb_bounds_cache {
    atomic_uint_fast64_t seq;
    atomic_uint_fast64_t txnid, begin, end;
};

struct lmdb_journal {
    struct journal base;
    uint64_t id;
    struct lmdb_bounds_cache seen;
};

/* A database record (LMDB's MDB_db), as lmdb_check.c reads it. */
struct lmdb_db {
    uint32_t pad;
    unsigned flags, depth;
    uint64_t branch, leaf, overflow, entries, root;
};

/* The state of a read transaction, from its meta page, for reading the
 * file with pread() (lmdb_check.c). */
struct lmdb_view {
    int fd;          /* LMDB's own descriptor of the data file */
    unsigned psize;  /* page size */
    uint64_t npages; /* pages in use: the last page number + 1 */
    uint64_t file_size;
    struct lmdb_db free, main;
};

struct lmdb_snapshot {
    struct journal_snapshot base;
    MDB_txn *txn; /* NULL once a failed renew left it unusable */
    uint64_t begin, end;
    struct lmdb_view view;         /* with JOURNAL_VERIFY */
    const char *data_lo, *data_hi; /* where values of txn may lie in the map */
};

static inline struct lmdb_store *lmdb_store_of(journal_store *s)
{
    return (struct lmdb_store *)s;
}

/* Translates an LMDB code or a positive errno into a contract code;
 * contract codes pass through unchanged. */
int journal__from_mdb(int rc);

/* Keeps an object of the parent reachable in a child after fork(): the
 * child may not free it through LMDB, and it is not garbage. */
void journal__keep_forked(void *p);

/* The gate, around every use of the map. */
void journal__gate_enter(struct lmdb_store *ls);
void journal__gate_leave(struct lmdb_store *ls);
/* mdb_env_info() inside the gate, for a caller outside it. */
void journal__env_info(struct lmdb_store *ls, MDB_envinfo *info);

/*
 * A read transaction for a short call: the calling thread's reused one,
 * renewed, inside the gate. Release it with journal__read_end(). On
 * failure nothing is held.
 */
int journal__read_begin(struct lmdb_store *ls, MDB_txn **txn);
void journal__read_end(struct lmdb_store *ls, MDB_txn *txn);

/* Takes a just (re)started read transaction again while LMDB may have given
 * it a state newer than its id (see lmdb_store.c). 0 or an LMDB code. */
int journal__read_settle(struct lmdb_store *ls, MDB_txn *txn);

/* A read transaction of its own (for snapshots), outside the gate's
 * accounting, which the caller does. */
int journal__txn_new_read(struct lmdb_store *ls, MDB_txn **txn);
void journal__txn_pool_put(struct lmdb_store *ls, MDB_txn *txn);

/*
 * Runs body(txn, arg) in a write transaction and commits it, growing the
 * map and retrying when LMDB reports it full or resized. body returns 0 to
 * commit, or an LMDB or contract code to abort.
 */
int journal__write(struct lmdb_store *ls, int (*body)(MDB_txn *txn, void *arg), void *arg);

/* Handles MDB_MAP_RESIZED seen outside journal__write(): adopts the size
 * another process gave the map. 0 or a contract code. */
int journal__adopt_map(struct lmdb_store *ls);

/* Reads the catalog entry of a journal. */
int journal__catalog_get(struct lmdb_store *ls, MDB_txn *txn, const char *name, size_t namelen, uint64_t *id,
                         uint64_t *begin, uint64_t *end);

/*
 * Steady points (lmdb_steady.c): commits without a sync that a machine
 * crash cannot corrupt. preopen runs before mdb_env_open() (it recovers
 * the data file after a machine restart and may add MDB_NOSYNC to
 * *env_flags), postopen after it, once the store is known good, and before anything is
 * committed (idempotent: open_dbs() calls it before creating a store).
 * in_txn is called inside each write transaction, committed after each
 * successful commit (a durable handle of a store with steady points syncs
 * there). sync sets *done when it made the last commit durable.
 * reader_check replaces mdb_reader_check(). close with `failed` after a
 * failed open.
 */
int journal__steady_preopen(struct lmdb_store *ls, const char *dir, const journal_options *opts, unsigned mode,
                            unsigned *env_flags);
int journal__steady_postopen(struct lmdb_store *ls);
/* Before each commit: the handle's first steady point, when not taken. */
int journal__steady_first(struct lmdb_store *ls);
/* After a truncation: in a store with steady points at max_size, makes the
 * room it freed usable by the next commit (lmdb_store.c). */
void journal__steady_truncated(struct lmdb_store *ls);
/* 1 when the store has steady points. */
int journal__steady_on(struct lmdb_store *ls);
int journal__steady_in_txn(struct lmdb_store *ls);
int journal__steady_committed(struct lmdb_store *ls);
int journal__steady_sync(struct lmdb_store *ls, int *done);
int journal__steady_reader_check(struct lmdb_store *ls, int *dead);
/* 1 when a steady point was taken to release pinned pages (at max_size). */
int journal__steady_relieve(struct lmdb_store *ls);
void journal__steady_close(struct lmdb_store *ls, int forked, int failed);

/*
 * Damaged files (lmdb_check.c).
 */

/* Internal only: the meta page of a transaction was rewritten before we
 * read it; start a new transaction and try again. */
#define JOURNAL__STALE (-29900)

/* Checks both meta pages of a data file before LMDB uses them: 0 (also
 * for a missing or empty file), JOURNAL_ECORRUPT, JOURNAL_EVERSION, -errno. */
int journal__lmdb_check_metas(const char *datafile);

/* Reads the view of txn's state. 0, JOURNAL__STALE, JOURNAL_ECORRUPT,
 * JOURNAL_EVERSION or -errno. */
int journal__lmdb_view(struct lmdb_store *ls, MDB_txn *txn, struct lmdb_view *v);

/* journal__read_begin(), and with JOURNAL_VERIFY the view of the
 * transaction (retried while stale). On failure nothing is held. */
int journal__read_begin_view(struct lmdb_store *ls, MDB_txn **txn, struct lmdb_view *v);

/* Which named database journal__lmdb_verify() reads. */
#define JOURNAL__DB_META 0
#define JOURNAL__DB_CATALOG 1
#define JOURNAL__DB_RECORDS 2

/*
 * Checks every page that reading the keys [lo, hi] (NULL: unbounded) of
 * database `which` in the state v follows, the main database on the way, and
 * the leaf a cursor moving on from hi steps into. 0, JOURNAL_ECORRUPT or
 * -errno.
 */
int journal__lmdb_verify(const struct lmdb_view *v, int which, const void *lo, size_t lolen, const void *hi,
                         size_t hilen);

/* journal_store_check() of the LMDB backend. */
int journal__lmdb_store_check(journal_store *s, journal_check_fn fn, void *arg);

/* Where the values of read transaction txn can lie in the map: [*lo, *hi),
 * the pages in use (or everywhere when the map's address is unknown). A
 * value outside is damage. */
void journal__lmdb_data_bounds(struct lmdb_store *ls, MDB_txn *txn, const char **lo, const char **hi);

static inline int journal__val_inside(const MDB_val *v, const char *lo, const char *hi)
{
    uintptr_t p = (uintptr_t)v->mv_data;
    return p >= (uintptr_t)lo && p <= (uintptr_t)hi && v->mv_size <= (uintptr_t)hi - p;
}

/* Journal and snapshot operations (lmdb_journal.c). */
int journal__lmdb_jopen(journal_store *s, const char *name, size_t namelen, journal **out);
void journal__lmdb_jclose(journal *j);
int journal__lmdb_bounds(journal *j, journal_pos *begin, journal_pos *end);
int journal__lmdb_get(journal *j, journal_pos pos, void **rec, size_t *len);
int journal__lmdb_range(journal *j, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered);
int journal__lmdb_append(journal *j, journal_pos end, const journal_record *recs, size_t n);
int journal__lmdb_truncate(journal *j, journal_pos end, uint64_t *dropped);

/* journal_wait() (lmdb_wait.c), and its state in the store. */
int journal__lmdb_wait(journal *j, journal_pos pos, int timeout_ms);
void journal__waiters_init(struct lmdb_store *ls);
/* Frees the notifier; in a child after fork(), leaves the parent's
 * mutex alone. */
void journal__waiters_fini(struct lmdb_store *ls, int forked);
int journal__lmdb_snap_begin(journal *j, journal_snapshot **out);
int journal__lmdb_snap_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end);
int journal__lmdb_snap_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len);
int journal__lmdb_snap_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg,
                             uint64_t *delivered);
int journal__lmdb_snap_renew(journal_snapshot *snap);
void journal__lmdb_snap_end(journal_snapshot *snap);

#endif /* JOURNAL_LMDB_BACKEND_H */
