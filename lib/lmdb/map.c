/*
 * map.c - the LMDB backend's map: the gate around every use of it, its
 * growth, and the write transactions (journal__lmdb_write()) that grow it when
 * full and tell waiters and steady points of each commit.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lmdb_int.h"

/* How long a thread that must grow the map waits for this process's
 * snapshots and ranges to end before it gives up with JOURNAL_EBUSY. */
#define GROW_WAIT_MS 1000

void journal__lmdb_gate_enter(struct lmdb_store *ls)
{
    for (;;) {
        atomic_fetch_add(&ls->active, 1);
        if (!atomic_load(&ls->resizing))
            return;
        /* A resize is under way: step back out and wait for it. */
        journal__lmdb_gate_leave(ls);
        pthread_mutex_lock(&ls->gate_mu);
        while (atomic_load(&ls->resizing))
            pthread_cond_wait(&ls->gate_cv, &ls->gate_mu);
        pthread_mutex_unlock(&ls->gate_mu);
    }
}

void journal__lmdb_gate_leave(struct lmdb_store *ls)
{
    if (atomic_fetch_sub(&ls->active, 1) == 1 && atomic_load(&ls->resizing)) {
        pthread_mutex_lock(&ls->gate_mu);
        pthread_cond_broadcast(&ls->gate_cv);
        pthread_mutex_unlock(&ls->gate_mu);
    }
}

/* mdb_env_info() reads the meta pages in the map, which a growing thread
 * may be mapping again: for callers outside the gate. */
void journal__lmdb_env_info(struct lmdb_store *ls, MDB_envinfo *info)
{
    journal__lmdb_gate_enter(ls);
    mdb_env_info(ls->env, info);
    journal__lmdb_gate_leave(ls);
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

int journal__lmdb_adopt_map(struct lmdb_store *ls)
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
    journal__lmdb_env_info(ls, &info);
    seen = atomic_load_explicit(&ls->checked_pgno, memory_order_relaxed);
    if (info.me_last_pgno > seen + 64 + seen / 8) {
        atomic_store_explicit(&ls->checked_pgno, info.me_last_pgno, memory_order_relaxed);
        journal__lmdb_steady_reader_check(ls, NULL);
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

    if (!journal__lmdb_steady_on(ls))
        return 0;
    if (stage == 1) {
        journal__lmdb_gate_enter(ls);
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
        journal__lmdb_gate_leave(ls);
        if (rc != 0)
            return 0;
    }
    return journal__lmdb_steady_relieve(ls);
}

void journal__lmdb_steady_truncated(struct lmdb_store *ls)
{
    MDB_envinfo info;
    journal__lmdb_env_info(ls, &info);
    if (ls->max_map && info.me_mapsize >= ls->max_map)
        relieve(ls, 1);
}

int journal__lmdb_write(struct lmdb_store *ls, int (*body)(MDB_txn *txn, void *arg), void *arg)
{
    MDB_txn *txn;
    uint64_t seen;
    int rc, relieved = 0;

    if ((rc = journal__lmdb_steady_first(ls)) != 0)
        return rc;
    for (;;) {
        journal__lmdb_gate_enter(ls);
        rc = mdb_txn_begin(ls->env, NULL, 0, &txn);
        if (rc == 0 && (rc = journal__lmdb_steady_in_txn(ls)) != 0)
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
        journal__lmdb_gate_leave(ls);
        rc = grow(ls, seen, rc == MDB_MAP_RESIZED, 1);
        /* At max_size: pages pinned by the steady point may be all that is
         * missing; a fresh steady point releases them. */
        if (rc == JOURNAL_EFULL && !relieved && relieve(ls, 0))
            rc = 0, relieved = 1;
        if (rc != 0)
            return rc;
    }
    journal__lmdb_gate_leave(ls);
    if (rc == 0) {
        notify_commit(ls);
        rc = journal__lmdb_steady_committed(ls);
        after_commit(ls);
    }
    return journal__from_mdb(rc);
}
