/*
 * lmdb_store.c - the LMDB backend's store: opening and checking the
 * environment, the map gate and map growth, the reused read transactions,
 * and the store-wide calls (list, copy, stat, check).
 */
#define _GNU_SOURCE /* asprintf() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lmdb_backend.h"

#define DEFAULT_MAP_SIZE ((uint64_t)1 << 30)
#define DEFAULT_READERS 4096
/* How long a thread that must grow the map waits for this process's
 * snapshots and ranges to end before it gives up with JOURNAL_EBUSY. */
#define GROW_WAIT_MS 1000

static const struct journal__ops lmdb_ops;

/* ------------------------------------------------------------------ */
/* Reused read transactions, one set per thread and store                 */

/*
 * A thread's read transactions for one store. The thread owns the node
 * and its list (tnext); the store's list (snext) and the txn fields are
 * changed under cache_mu. Closing a store aborts its transactions and
 * clears `s` last, with release order; a thread that later finds s == NULL
 * frees the node. A thread that exits frees its nodes in tcache_free().
 */
struct lmdb_tnode {
    _Atomic(struct lmdb_store *) s;
    MDB_txn *txn[LMDB_TXN_DEPTH];
    unsigned ntxn;  /* transactions created */
    unsigned depth; /* transactions in use by nested calls */
    struct lmdb_tnode *tnext;
    struct lmdb_tnode *snext, **sprev;
};

struct tcache {
    struct lmdb_tnode *head;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t tkey;
static pthread_once_t tkey_once = PTHREAD_ONCE_INIT;
static int tkey_rc;

/* The node this thread used last: most threads read one store, and a
 * thread-local load is cheaper than pthread_getspecific() and a walk. */
static _Thread_local struct lmdb_tnode *tnode_last;

/* Kept reachable so that a child after fork() does not show the parent's
 * objects it may not free as leaks: they are the parent's, not garbage. */
static void **forked_objects;
static size_t nforked;

void journal__keep_forked(void *p)
{
    void **n = realloc(forked_objects, (nforked + 1) * sizeof *n);
    if (n) {
        forked_objects = n;
        forked_objects[nforked++] = p;
    }
}

static void tnode_unlink(struct lmdb_tnode *n)
{
    *n->sprev = n->snext;
    if (n->snext)
        n->snext->sprev = n->sprev;
}

static void tcache_free(void *p)
{
    struct tcache *tc = p;
    struct lmdb_tnode *n, *next;
    pthread_mutex_lock(&cache_mu);
    for (n = tc->head; n; n = next) {
        struct lmdb_store *ls = atomic_load_explicit(&n->s, memory_order_acquire);
        next = n->tnext;
        if (ls) {
            tnode_unlink(n);
            for (unsigned i = 0; i < n->ntxn; i++) {
                if (journal__forked(&ls->base))
                    journal__keep_forked(n->txn[i]);
                else
                    mdb_txn_abort(n->txn[i]);
            }
        }
        free(n);
    }
    pthread_mutex_unlock(&cache_mu);
    free(tc);
    tnode_last = NULL;
}

static void cache_prefork(void)
{
    pthread_mutex_lock(&cache_mu);
}

static void cache_postfork(void)
{
    pthread_mutex_unlock(&cache_mu);
}

static void tkey_init(void)
{
    tkey_rc = pthread_key_create(&tkey, tcache_free);
    if (tkey_rc == 0)
        pthread_atfork(cache_prefork, cache_postfork, cache_postfork);
}

static struct lmdb_tnode *tnode_get(struct lmdb_store *ls)
{
    struct tcache *tc;
    struct lmdb_tnode *n, **pp;

    n = tnode_last;
    if (n && atomic_load_explicit(&n->s, memory_order_acquire) == ls)
        return n;
    tc = pthread_getspecific(tkey);

    if (!tc) {
        tc = calloc(1, sizeof *tc);
        if (!tc)
            return NULL;
        if (pthread_setspecific(tkey, tc) != 0) {
            free(tc);
            return NULL;
        }
    }
    for (pp = &tc->head; (n = *pp) != NULL;) {
        struct lmdb_store *s = atomic_load_explicit(&n->s, memory_order_acquire);
        if (s == ls)
            return tnode_last = n;
        if (!s) {
            /* Its store was closed: the node is ours to free. */
            *pp = n->tnext;
            if (tnode_last == n)
                tnode_last = NULL;
            free(n);
            continue;
        }
        pp = &n->tnext;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    atomic_init(&n->s, ls);
    pthread_mutex_lock(&cache_mu);
    n->snext = ls->tnodes;
    if (n->snext)
        n->snext->sprev = &n->snext;
    n->sprev = &ls->tnodes;
    ls->tnodes = n;
    pthread_mutex_unlock(&cache_mu);
    n->tnext = tc->head;
    tc->head = n;
    return tnode_last = n;
}

/* Detaches every thread's transactions from a closing store. */
static void tnodes_release(struct lmdb_store *ls, int forked)
{
    struct lmdb_tnode *n, *next;
    pthread_mutex_lock(&cache_mu);
    for (n = ls->tnodes; n; n = next) {
        next = n->snext;
        for (unsigned i = 0; i < n->ntxn; i++) {
            if (forked)
                journal__keep_forked(n->txn[i]);
            else
                mdb_txn_abort(n->txn[i]);
        }
        n->ntxn = 0;
        atomic_store_explicit(&n->s, NULL, memory_order_release);
    }
    ls->tnodes = NULL;
    pthread_mutex_unlock(&cache_mu);
}

/* ------------------------------------------------------------------ */
/* The map gate and map growth                                            */

void journal__gate_enter(struct lmdb_store *ls)
{
    for (;;) {
        atomic_fetch_add(&ls->active, 1);
        if (!atomic_load(&ls->resizing))
            return;
        /* A resize is under way: step back out and wait for it. */
        journal__gate_leave(ls);
        pthread_mutex_lock(&ls->gate_mu);
        while (atomic_load(&ls->resizing))
            pthread_cond_wait(&ls->gate_cv, &ls->gate_mu);
        pthread_mutex_unlock(&ls->gate_mu);
    }
}

void journal__gate_leave(struct lmdb_store *ls)
{
    if (atomic_fetch_sub(&ls->active, 1) == 1 && atomic_load(&ls->resizing)) {
        pthread_mutex_lock(&ls->gate_mu);
        pthread_cond_broadcast(&ls->gate_cv);
        pthread_mutex_unlock(&ls->gate_mu);
    }
}

/* mdb_env_info() reads the meta pages in the map, which a growing thread
 * may be mapping again: for callers outside the gate. */
void journal__env_info(struct lmdb_store *ls, MDB_envinfo *info)
{
    journal__gate_enter(ls);
    mdb_env_info(ls->env, info);
    journal__gate_leave(ls);
}

static uint64_t map_size(struct lmdb_store *ls)
{
    MDB_envinfo info;
    mdb_env_info(ls->env, &info);
    return info.me_mapsize;
}

/*
 * Grows the map of this process: to twice its size, within max_map
 * unless `adopt` (another process made the data larger than our map, which
 * we must then map whatever our limit). `seen` is the size the caller saw
 * fail: if another thread grew the map since, there is nothing to do.
 * With `wait` == 0 it only grows if no call is in the gate right now.
 * Returns 0 when the caller should retry, or a contract code.
 */
static int grow(struct lmdb_store *ls, uint64_t seen, int adopt, int wait)
{
    struct timespec deadline;
    uint64_t cur, want;
    int rc = 0;

    pthread_mutex_lock(&ls->gate_mu);
    if (atomic_load(&ls->resizing)) {
        while (atomic_load(&ls->resizing))
            pthread_cond_wait(&ls->gate_cv, &ls->gate_mu);
        goto out;
    }
    cur = map_size(ls);
    if (cur != seen)
        goto out;
    want = cur * 2;
    if (!adopt && ls->max_map) {
        if (cur >= ls->max_map) {
            rc = JOURNAL_EFULL;
            goto out;
        }
        if (want > ls->max_map)
            want = ls->max_map;
    }
    atomic_store(&ls->resizing, 1);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += GROW_WAIT_MS / 1000;
    while (atomic_load(&ls->active) != 0) {
        if (!wait || pthread_cond_timedwait(&ls->gate_cv, &ls->gate_mu, &deadline) == ETIMEDOUT) {
            if (atomic_load(&ls->active) != 0) {
                rc = JOURNAL_EBUSY;
                goto out_resized;
            }
        }
    }
    /* No transaction of this process is active: LMDB may remap. It rounds
     * `want` up to what the data file already holds. */
    rc = journal__from_mdb(mdb_env_set_mapsize(ls->env, want));
    atomic_fetch_add(&ls->map_gen, 1); /* the map may have moved */
out_resized:
    atomic_store(&ls->resizing, 0);
    pthread_cond_broadcast(&ls->gate_cv);
out:
    pthread_mutex_unlock(&ls->gate_mu);
    return rc;
}

int journal__adopt_map(struct lmdb_store *ls)
{
    return grow(ls, map_size(ls), 1, 1);
}

/*
 * After each commit: clear the reader slots of dead processes whenever the
 * data has grown by an eighth since the last look (a dead reader's slot
 * pins the pages of its snapshot, so the file would grow for ever), and
 * grow the map while it is at most half full, when no call would have to
 * wait for it, so that growing while snapshots are open is rare.
 */
static void after_commit(struct lmdb_store *ls)
{
    MDB_envinfo info;
    uint64_t seen;
    journal__env_info(ls, &info);
    seen = atomic_load_explicit(&ls->checked_pgno, memory_order_relaxed);
    if (info.me_last_pgno > seen + 64 + seen / 8) {
        atomic_store_explicit(&ls->checked_pgno, info.me_last_pgno, memory_order_relaxed);
        journal__steady_reader_check(ls, NULL);
    }
    if ((info.me_last_pgno + 1) * (uint64_t)ls->psize * 2 <= info.me_mapsize)
        return;
    if (ls->max_map && info.me_mapsize >= ls->max_map)
        return;
    grow(ls, info.me_mapsize, 0, 0);
}

/*
 * Tells journal_wait() in every process that a commit is visible. LMDB's
 * last write to data.mdb (the meta page) comes before the commit becomes
 * visible to readers (the transaction id in the lock file, a memory write
 * that inotify cannot see): a waiter woken by that write may still read the
 * old state. Touching the file's times after the commit wakes it again, at
 * the cost of one system call per commit, no I/O.
 */
static void notify_commit(struct lmdb_store *ls)
{
    int fd;
    if (mdb_env_get_fd(ls->env, &fd) == 0)
        futimens(fd, NULL);
}

/*
 * LMDB reports a write that the file system cut short as EIO
 * (mdb_page_flush(): "short write, filesystem full?"), and only a write
 * that wrote nothing as ENOSPC. On a local file system a short write of a
 * regular file means that the file system is full (or the process's file
 * size limit, which LMDB's files do not reach), and a short write fills it
 * to its last block. So a commit that failed with EIO while the file
 * system of the data file has less than FULL_MARGIN bytes left (for this
 * user: root may use the reserved blocks) failed for want of space.
 * Checking after the fact costs nothing on the commits that succeed, where
 * preallocating the file ahead of LMDB's writes would cost a system call
 * per growth step and could not know how many pages a commit needs.
 */
#define FULL_MARGIN ((uint64_t)1 << 20)

static int commit_error(struct lmdb_store *ls, int rc)
{
    struct statvfs sv;
    uint64_t avail;
    int fd;
    if (rc != EIO || mdb_env_get_fd(ls->env, &fd) != 0 || fstatvfs(fd, &sv) != 0)
        return rc;
    avail = geteuid() == 0 ? sv.f_bfree : sv.f_bavail;
    return avail * sv.f_frsize < FULL_MARGIN ? ENOSPC : rc;
}

/*
 * A store with steady points that reached max_size: the pages that the
 * steady point pins may be what is missing. Stage 0 takes a fresh steady
 * point. Stage 1, after a truncation: LMDB lets a transaction reuse only
 * pages freed before the previous one, and the pages the truncation just
 * freed are the ones that fit the next records; so commit a change of
 * nothing (the next id rewritten: a few single pages), then take a steady
 * point on it. 1 when the caller should try again.
 */
static int relieve(struct lmdb_store *ls, int stage)
{
    MDB_val k = {JOURNAL__META_NEXT_ID_LEN, JOURNAL__META_NEXT_ID}, v;
    unsigned char id[8];
    MDB_txn *txn;
    int rc;

    if (!journal__steady_on(ls))
        return 0;
    if (stage == 1) {
        journal__gate_enter(ls);
        rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
        if (rc == 0) {
            rc = mdb_get(txn, ls->meta, &k, &v);
            if (rc == 0 && v.mv_size == sizeof id) {
                memcpy(id, v.mv_data, sizeof id);
                v.mv_data = id;
                rc = mdb_put(txn, ls->meta, &k, &v, 0);
            }
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        journal__gate_leave(ls);
        if (rc != 0)
            return 0;
    }
    return journal__steady_relieve(ls);
}

void journal__steady_truncated(struct lmdb_store *ls)
{
    MDB_envinfo info;
    journal__env_info(ls, &info);
    if (ls->max_map && info.me_mapsize >= ls->max_map)
        relieve(ls, 1);
}

int journal__write(struct lmdb_store *ls, int (*body)(MDB_txn *txn, void *arg), void *arg)
{
    MDB_txn *txn;
    uint64_t seen;
    int rc, relieved = 0;

    if ((rc = journal__steady_first(ls)) != 0)
        return rc;
    for (;;) {
        journal__gate_enter(ls);
        rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
        if (rc == 0 && (rc = journal__steady_in_txn(ls)) != 0)
            mdb_txn_abort(txn);
        else if (rc == 0) {
            rc = body(txn, arg);
            if (rc == 0)
                rc = commit_error(ls, mdb_txn_commit(txn));
            else
                mdb_txn_abort(txn);
        }
        if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED)
            break;
        seen = map_size(ls);
        journal__gate_leave(ls);
        rc = grow(ls, seen, rc == MDB_MAP_RESIZED, 1);
        /* At max_size: pages pinned by the steady point may be all that is
         * missing; a fresh steady point releases them. */
        if (rc == JOURNAL_EFULL && !relieved && relieve(ls, 0))
            rc = 0, relieved = 1;
        if (rc != 0)
            return rc;
    }
    journal__gate_leave(ls);
    if (rc == 0) {
        notify_commit(ls);
        rc = journal__steady_committed(ls);
        after_commit(ls);
    }
    return journal__from_mdb(rc);
}

/* ------------------------------------------------------------------ */
/* Read transactions                                                      */

/* mdb_txn_begin() for reading, reclaiming the slots of dead processes
 * once when every slot is taken. */
static int txn_begin_read(struct lmdb_store *ls, MDB_txn **txn)
{
    int rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL) {
        int dead = 0;
        if (journal__steady_reader_check(ls, &dead) == 0 && dead > 0)
            rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

/*
 * LMDB 0.9 lets a reader that is pre-empted between reading the latest
 * transaction id and copying that meta page copy a newer meta, written
 * into the same slot two commits later, before that commit is published:
 * its next transaction would then see an older state than this one. So
 * when the meta pages already show a commit two past the transaction's
 * id, take the transaction again. This narrows the window to a meta write
 * racing with the copy itself.
 */
int journal__read_settle(struct lmdb_store *ls, MDB_txn *txn)
{
    MDB_envinfo info;
    int rc = 0;
    for (int tries = 0; tries < 64; tries++) {
        mdb_env_info(ls->env, &info);
        if (mdb_txn_id(txn) + 1 >= info.me_last_txnid)
            break;
        mdb_txn_reset(txn);
        if ((rc = mdb_txn_renew(txn)) != 0)
            break;
    }
    return rc;
}

int journal__read_begin(struct lmdb_store *ls, MDB_txn **out)
{
    struct lmdb_tnode *n;
    MDB_txn *txn, *temp = NULL;
    int rc;

    for (;;) {
        journal__gate_enter(ls);
        n = tnode_get(ls);
        if (!n) {
            rc = -ENOMEM;
            break;
        }
        if (n->depth < n->ntxn) {
            txn = n->txn[n->depth];
            rc = mdb_txn_renew(txn);
        } else {
            rc = txn_begin_read(ls, &txn);
            if (rc == 0 && n->ntxn < LMDB_TXN_DEPTH)
                n->txn[n->ntxn++] = txn;
            else if (rc == 0)
                temp = txn; /* past the depth: a transaction of its own */
        }
        if (rc == 0)
            rc = journal__read_settle(ls, txn);
        if (rc != 0 && temp) {
            mdb_txn_abort(temp);
            temp = NULL;
        }
        if (rc == 0) {
            n->depth++;
            *out = txn;
            return 0;
        }
        if (rc != MDB_MAP_RESIZED)
            break;
        journal__gate_leave(ls);
        rc = journal__adopt_map(ls);
        if (rc != 0)
            return rc;
    }
    journal__gate_leave(ls);
    return journal__from_mdb(rc);
}

void journal__read_end(struct lmdb_store *ls, MDB_txn *txn)
{
    struct lmdb_tnode *n = tnode_get(ls);
    /* tnode_get() finds the node that read_begin() used: it cannot fail
     * for a node that exists. */
    if (n->depth > LMDB_TXN_DEPTH || n->txn[n->depth - 1] != txn)
        mdb_txn_abort(txn); /* a transaction of its own, past the depth */
    else
        mdb_txn_reset(txn);
    n->depth--;
    journal__gate_leave(ls);
}

/* mdb_env_get_maxreaders(), not mdb_env_info(): the latter reads the meta
 * pages in the map, and a failed snapshot begin puts its transaction back
 * outside the gate. */
static unsigned pool_cap(struct lmdb_store *ls)
{
    unsigned readers = 0, cap;
    mdb_env_get_maxreaders(ls->env, &readers);
    cap = readers / 16;
    return cap < 64 ? cap : 64;
}

int journal__txn_new_read(struct lmdb_store *ls, MDB_txn **txn)
{
    MDB_txn *t = NULL;
    int rc;
    pthread_mutex_lock(&ls->pool_mu);
    if (ls->npool > 0)
        t = ls->pool[--ls->npool];
    pthread_mutex_unlock(&ls->pool_mu);
    if (t) {
        rc = mdb_txn_renew(t);
        if (rc != 0)
            journal__txn_pool_put(ls, t);
        else
            *txn = t;
        return rc;
    }
    return txn_begin_read(ls, txn);
}

void journal__txn_pool_put(struct lmdb_store *ls, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&ls->pool_mu);
    if (ls->npool < pool_cap(ls)) {
        ls->pool[ls->npool++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&ls->pool_mu);
    if (txn)
        mdb_txn_abort(txn);
}

/* ------------------------------------------------------------------ */
/* Catalog and format                                                     */

int journal__catalog_get(struct lmdb_store *ls, MDB_txn *txn, const char *name, size_t namelen, uint64_t *id,
                         uint64_t *begin, uint64_t *end)
{
    MDB_val k = {namelen, (void *)name}, v;
    int rc = mdb_get(txn, ls->catalog, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != JOURNAL__CATALOG_ENTRY_SIZE)
        return JOURNAL_ECORRUPT;
    journal__catalog_entry_get(v.mv_data, id, begin, end);
    return *begin <= *end ? 0 : JOURNAL_ECORRUPT;
}

static int read_format(struct lmdb_store *ls, MDB_txn *txn, unsigned *version)
{
    MDB_val k = {JOURNAL__META_FORMAT_LEN, JOURNAL__META_FORMAT}, v;
    int rc = mdb_get(txn, ls->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return JOURNAL_ECORRUPT;
    if (rc != 0)
        return rc;
    if (v.mv_size != JOURNAL__META_FORMAT_SIZE)
        return JOURNAL_ECORRUPT;
    *version = journal__format_get(v.mv_data);
    return 0;
}

/* Opens the three databases of an existing store and checks its format. */
static int open_existing(struct lmdb_store *ls, MDB_txn *txn)
{
    unsigned version;
    int rc = read_format(ls, txn, &version);
    if (rc != 0)
        return rc;
    if (version != JOURNAL_FORMAT_VERSION)
        return JOURNAL_EVERSION;
    rc = mdb_dbi_open(txn, JOURNAL__DBNAME_CATALOG, 0, &ls->catalog);
    if (rc == 0)
        rc = mdb_dbi_open(txn, JOURNAL__DBNAME_RECORDS, 0, &ls->records);
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : rc;
}

/* Is the main database empty? A non-empty one without our "meta" belongs
 * to another program. */
static int main_is_empty(MDB_txn *txn)
{
    MDB_dbi main;
    MDB_stat st;
    int rc = mdb_dbi_open(txn, NULL, 0, &main);
    if (rc == 0)
        rc = mdb_stat(txn, main, &st);
    if (rc != 0)
        return rc;
    return st.ms_entries == 0 ? 0 : JOURNAL_ECORRUPT;
}

static int create_body(MDB_txn *txn, void *arg)
{
    struct lmdb_store *ls = arg;
    unsigned char ver[JOURNAL__META_FORMAT_SIZE], id[JOURNAL__META_NEXT_ID_SIZE];
    MDB_val k, v;
    int rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, 0, &ls->meta);
    if (rc == 0)
        return open_existing(ls, txn); /* another process created it first */
    if (rc != MDB_NOTFOUND)
        return rc;
    if ((rc = main_is_empty(txn)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, MDB_CREATE, &ls->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_CATALOG, MDB_CREATE, &ls->catalog)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_RECORDS, MDB_CREATE, &ls->records)) != 0)
        return rc;
    journal__format_put(ver, JOURNAL_FORMAT_VERSION);
    k.mv_data = JOURNAL__META_FORMAT, k.mv_size = JOURNAL__META_FORMAT_LEN;
    v.mv_data = ver, v.mv_size = sizeof ver;
    if ((rc = mdb_put(txn, ls->meta, &k, &v, 0)) != 0)
        return rc;
    journal__put_be64(id, 1);
    k.mv_data = JOURNAL__META_NEXT_ID, k.mv_size = JOURNAL__META_NEXT_ID_LEN;
    v.mv_data = id, v.mv_size = sizeof id;
    return mdb_put(txn, ls->meta, &k, &v, 0);
}

/* Opens the databases, creating the store's structure in a new, empty
 * environment. A store that exists is only read, so that opening one that
 * is not ours, or not in our format, writes nothing. */
static int open_dbs(struct lmdb_store *ls, int rdonly)
{
    struct lmdb_view view;
    MDB_txn *txn;
    int rc;

    /* What open reads through LMDB, the main database and the meta one,
     * is checked page by page first: a few pages, whatever the store's
     * size. A commit of another process between mdb_env_open() and here
     * may have taken the data past the map this process just made: adopt
     * the new size, as every later read does (journal__read_begin()). */
    for (int tries = 0;; tries++) {
        while ((rc = txn_begin_read(ls, &txn)) == MDB_MAP_RESIZED)
            if ((rc = journal__adopt_map(ls)) != 0)
                return rc;
        if (rc != 0)
            return journal__from_mdb(rc);
        rc = journal__lmdb_view(ls, txn, &view);
        if (rc == 0)
            rc = journal__lmdb_verify(&view, JOURNAL__DB_META, NULL, 0, NULL, 0);
        if (rc != JOURNAL__STALE || tries == 1000)
            break;
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == JOURNAL__STALE ? JOURNAL_EBUSY : rc;
    }
    rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, 0, &ls->meta);
    if (rc == 0) {
        rc = open_existing(ls, txn);
        if (rc == 0)
            return journal__from_mdb(mdb_txn_commit(txn)); /* keeps the handles */
        mdb_txn_abort(txn);
        return journal__from_mdb(rc);
    }
    if (rc == MDB_NOTFOUND)
        rc = main_is_empty(txn);
    mdb_txn_abort(txn);
    if (rc != 0)
        return journal__from_mdb(rc);
    if (rdonly)
        return -ENOENT; /* an empty environment: no store here yet */
    if ((rc = journal__steady_postopen(ls)) != 0)
        return rc; /* steady before the first commit */
    return journal__write(ls, create_body, ls);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                         */

static int prepare_dir(const char *path, int rdonly, unsigned mode)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (errno != ENOENT || rdonly)
        return -errno;
    /* Directories need search permission wherever files are readable. */
    if (mkdir(path, (mode | (mode & 0444) >> 2) & 0777) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/*
 * LMDB takes an empty data file for a new environment and writes into it.
 * An empty data.mdb in a store that exists is damage, not a new store; but
 * a data file another process is creating right now is empty for a moment,
 * so look again before calling it damaged.
 */
static int check_datafile(const char *datafile)
{
    struct stat st;
    for (int i = 0; i < 20; i++) {
        if (stat(datafile, &st) != 0)
            return errno == ENOENT ? 0 : -errno;
        if (st.st_size > 0)
            return 0;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return JOURNAL_ECORRUPT;
}

/* A data file shorter than the pages its last commit refers to was
 * truncated: reading those pages through the map would raise SIGBUS. */
static int check_length(struct lmdb_store *ls)
{
    MDB_envinfo info;
    MDB_stat est;
    struct stat st;
    mdb_env_info(ls->env, &info);
    mdb_env_stat(ls->env, &est);
    ls->psize = est.ms_psize;
    if (stat(ls->datafile, &st) != 0)
        return -errno;
    if ((uint64_t)st.st_size < (info.me_last_pgno + 1) * (uint64_t)est.ms_psize)
        return JOURNAL_ECORRUPT;
    return 0;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

static int lmdb_open(const char *path, const journal_options *opts, journal_store **out)
{
    int rdonly = !!(opts->flags & JOURNAL_RDONLY);
    unsigned mode = opts->mode ? opts->mode : 0644;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), map;
    unsigned env_flags = MDB_NOTLS;
    struct lmdb_store *ls;
    int rc;

    pthread_once(&tkey_once, tkey_init);
    if (tkey_rc != 0)
        return -tkey_rc;
    ls = calloc(1, sizeof *ls);
    if (!ls)
        return -ENOMEM;
    rc = journal__store_init(&ls->base, &lmdb_ops, path, opts->flags);
    if (rc != 0)
        goto out_free;
    if (asprintf(&ls->datafile, "%s/data.mdb", path) < 0) {
        ls->datafile = NULL;
        rc = -ENOMEM;
        goto out_fini;
    }
    pthread_mutex_init(&ls->gate_mu, NULL);
    pthread_cond_init(&ls->gate_cv, NULL);
    pthread_mutex_init(&ls->pool_mu, NULL);
    pthread_mutex_init(&ls->gc_mu, NULL);
    pthread_cond_init(&ls->gc_cv, NULL);
    ls->gc_tail = &ls->gc_head;
    journal__waiters_init(ls);

    if ((rc = prepare_dir(path, rdonly, mode)) != 0 || (rc = check_datafile(ls->datafile)) != 0)
        goto out_mutex;

    ls->max_map = opts->max_size / page * page;
    map = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    if (map < JOURNAL__MIN_SIZE)
        map = JOURNAL__MIN_SIZE;
    if (ls->max_map && map > ls->max_map)
        map = ls->max_map;
    map = round_up(map, page);

    rc = mdb_env_create(&ls->env);
    if (rc != 0)
        goto out_mutex;
    if (rdonly)
        env_flags |= MDB_RDONLY;
    /* The meta pages are checked after a machine restart's recovery, which
     * may rewrite them (lmdb_steady.c), and before LMDB reads them. */
    if ((rc = journal__steady_preopen(ls, path, opts, mode, &env_flags)) != 0 ||
        (rc = journal__lmdb_check_metas(ls->datafile)) != 0)
        goto out_env;
    if ((rc = mdb_env_set_maxdbs(ls->env, 3)) != 0 ||
        (rc = mdb_env_set_maxreaders(ls->env, opts->max_readers ? opts->max_readers : DEFAULT_READERS)) != 0 ||
        (rc = mdb_env_set_mapsize(ls->env, map)) != 0 || (rc = mdb_env_open(ls->env, path, env_flags, mode)) != 0)
        goto out_env;
    /* The store is checked before the first steady point, which writes:
     * a store that is refused stays as it was. */
    if ((rc = check_length(ls)) != 0 || (rc = open_dbs(ls, rdonly)) != 0 || (rc = journal__steady_postopen(ls)) != 0 ||
        (rc = journal__steady_reader_check(ls, NULL)) != 0)
        goto out_env;
    *out = &ls->base;
    return 0;

out_env:
    journal__steady_close(ls, 0, 1);
    mdb_env_close(ls->env);
out_mutex:
    journal__waiters_fini(ls, 0);
    pthread_cond_destroy(&ls->gc_cv);
    pthread_mutex_destroy(&ls->gc_mu);
    pthread_mutex_destroy(&ls->pool_mu);
    pthread_cond_destroy(&ls->gate_cv);
    pthread_mutex_destroy(&ls->gate_mu);
    free(ls->datafile);
out_fini:
    journal__store_fini(&ls->base);
out_free:
    free(ls);
    return journal__from_mdb(rc);
}

static void lmdb_store_close(journal_store *s)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    int forked = journal__forked(s);

    tnodes_release(ls, forked);
    journal__waiters_fini(ls, forked);
    if (forked) {
        /* The environment, its locks and reader slots are the parent's:
         * closing them here would release the parent's slots. */
        for (unsigned i = 0; i < ls->npool; i++)
            journal__keep_forked(ls->pool[i]);
        journal__steady_close(ls, 1, 0);
        journal__keep_forked(ls->env);
    } else {
        for (unsigned i = 0; i < ls->npool; i++)
            mdb_txn_abort(ls->pool[i]);
        journal__steady_close(ls, 0, 0);
        mdb_env_close(ls->env);
        pthread_cond_destroy(&ls->gc_cv);
        pthread_mutex_destroy(&ls->gc_mu);
        pthread_mutex_destroy(&ls->pool_mu);
        pthread_cond_destroy(&ls->gate_cv);
        pthread_mutex_destroy(&ls->gate_mu);
    }
    free(ls->datafile);
    journal__store_fini(s);
    free(ls);
}

static int lmdb_store_sync(journal_store *s)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    int done, rc = journal__steady_sync(ls, &done);
    if (done)
        return rc;
    return journal__from_mdb(mdb_env_sync(ls->env, 1));
}

/* ------------------------------------------------------------------ */
/* List, copy, stat, check                                                */

/* A callback's result: JOURNAL_STOP (or any positive value) ends the walk
 * without error, a negative value is returned as it is. */
static int callback_result(int rc)
{
    return rc > 0 ? 0 : rc;
}

static int lmdb_store_list(journal_store *s, journal_list_fn fn, void *arg)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    char name[JOURNAL__NAME_MAX + 1];
    struct lmdb_view view;
    const char *lo, *hi;
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val k, v;
    int fn_rc = 0, rc = journal__read_begin_view(ls, &txn, &view), op = MDB_FIRST;

    if (rc != 0)
        return rc;
    if (view.fd >= 0 && (rc = journal__lmdb_verify(&view, JOURNAL__DB_CATALOG, NULL, 0, NULL, 0)) != 0)
        goto out;
    journal__lmdb_data_bounds(ls, txn, &lo, &hi);
    rc = mdb_cursor_open(txn, ls->catalog, &cur);
    if (rc != 0)
        goto out;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        const unsigned char *p = v.mv_data;
        op = MDB_NEXT;
        if (k.mv_size == 0 || k.mv_size > JOURNAL__NAME_MAX || v.mv_size != JOURNAL__CATALOG_ENTRY_SIZE ||
            !journal__val_inside(&k, lo, hi) || !journal__val_inside(&v, lo, hi)) {
            rc = JOURNAL_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        rc = fn(arg, name, journal__get_be64(p + 8), journal__get_be64(p + 16));
        if (rc != 0) {
            fn_rc = callback_result(rc);
            rc = 0;
            break;
        }
    }
    mdb_cursor_close(cur);
out:
    journal__read_end(ls, txn);
    if (fn_rc != 0)
        return fn_rc; /* the callback's own code, not to be translated */
    return rc == MDB_NOTFOUND ? 0 : journal__from_mdb(rc);
}

/* dest must be new or an empty directory. *created tells whether we made
 * it, so that a failed copy removes only what it made. */
static int prepare_copy_dest(const char *dest, int *created)
{
    struct dirent *e;
    DIR *d;
    int rc = 0;
    *created = 0;
    if (mkdir(dest, 0755) == 0) {
        *created = 1;
        return 0;
    }
    if (errno != EEXIST)
        return -errno;
    d = opendir(dest);
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rc = -EEXIST;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int lmdb_store_copy(journal_store *s, const char *dest, unsigned flags)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    char *file = NULL;
    int created, rc = prepare_copy_dest(dest, &created);

    if (rc != 0)
        return rc;
    if (asprintf(&file, "%s/data.mdb", dest) < 0) {
        file = NULL;
        rc = -ENOMEM;
        goto out;
    }
    journal__gate_enter(ls);
    rc = mdb_env_copy2(ls->env, dest, (flags & JOURNAL_COPY_COMPACT) ? MDB_CP_COMPACT : 0);
    journal__gate_leave(ls);
    /* LMDB writes the copy without syncing it: a backup must be durable
     * when the call returns. */
    if (rc == 0)
        rc = sync_path(file, O_RDONLY);
    if (rc == 0)
        rc = sync_path(dest, O_RDONLY | O_DIRECTORY);
out:
    if (rc != 0 && file) {
        unlink(file);
        if (created)
            rmdir(dest);
    }
    free(file);
    return journal__from_mdb(rc);
}

static int count_reader(const char *msg, void *ctx)
{
    /* mdb_reader_list() prints a header line, then one line per slot in
     * use: "   PID  THREAD  TXNID" (TXNID "-" for a reset transaction). */
    if (msg[0] == ' ' && strstr(msg, "pid") == NULL)
        ++*(unsigned *)ctx;
    else if (msg[0] != ' ' && msg[0] != '(')
        ++*(unsigned *)ctx;
    return 0;
}

static int lmdb_store_stat(journal_store *s, journal_stat *st)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    MDB_envinfo info;
    MDB_stat ms;
    struct stat fst;
    struct lmdb_view view;
    MDB_txn *txn;
    int rc = journal__read_begin_view(ls, &txn, &view);

    if (rc != 0)
        return rc;
    /* mdb_stat() reads the records of the databases in the main one; the
     * format record is in the meta one. */
    if (view.fd >= 0 && (rc = journal__lmdb_verify(&view, JOURNAL__DB_META, NULL, 0, NULL, 0)) != 0)
        goto out;
    mdb_env_info(ls->env, &info);
    st->page_size = ls->psize;
    st->map_size = info.me_mapsize;
    st->used_size = (info.me_last_pgno + 1) * (uint64_t)ls->psize;
    st->max_readers = info.me_maxreaders;
    if (stat(ls->datafile, &fst) == 0)
        st->file_size = (uint64_t)fst.st_size;
    if ((rc = read_format(ls, txn, &st->format_version)) != 0)
        goto out;
    if ((rc = mdb_stat(txn, ls->catalog, &ms)) != 0)
        goto out;
    st->journals = ms.ms_entries;
    if ((rc = mdb_stat(txn, ls->records, &ms)) != 0)
        goto out;
    st->records = ms.ms_entries;
    mdb_reader_list(ls->env, count_reader, &st->readers_used);
out:
    journal__read_end(ls, txn);
    return journal__from_mdb(rc);
}

/* LMDB's failures have no message beyond their codes. */
static const char *lmdb_errmsg(const journal_store *s)
{
    (void)s;
    return "";
}

static const char *lmdb_open_errmsg(void)
{
    return "";
}

static int lmdb_claims(const char *path)
{
    (void)path;
    return 1; /* a directory: whatever no other backend claimed */
}

static const struct journal__ops lmdb_ops = {
    .name = "lmdb",
    .store_close = lmdb_store_close,
    .store_sync = lmdb_store_sync,
    .store_list = lmdb_store_list,
    .store_copy = lmdb_store_copy,
    .store_stat = lmdb_store_stat,
    .store_check = journal__lmdb_store_check,
    .errmsg = lmdb_errmsg,
    .open = journal__lmdb_jopen,
    .close = journal__lmdb_jclose,
    .bounds = journal__lmdb_bounds,
    .get = journal__lmdb_get,
    .range = journal__lmdb_range,
    .append = journal__lmdb_append,
    .truncate = journal__lmdb_truncate,
    .wait = journal__lmdb_wait,
    .snap_begin = journal__lmdb_snap_begin,
    .snap_bounds = journal__lmdb_snap_bounds,
    .snap_get = journal__lmdb_snap_get,
    .snap_range = journal__lmdb_snap_range,
    .snap_renew = journal__lmdb_snap_renew,
    .snap_end = journal__lmdb_snap_end,
};

const struct journal__backend journal__lmdb_backend = {
    .name = "lmdb",
    .claims = lmdb_claims,
    .open = lmdb_open,
    .open_errmsg = lmdb_open_errmsg,
};
