/*
 * steady.c - steady points: commits without a sync that a machine
 * crash cannot corrupt, on stock LMDB 0.9.
 *
 * A JOURNAL_NOSYNC store commits with MDB_NOSYNC: nothing is synced, so
 * after a machine crash the data file may hold any mix of the unsynced
 * writes, and LMDB (which has no page checksums) would trust a meta page
 * whose pages were never written, or were overwritten. So the store keeps
 * a *steady point*: a committed state whose pages are on disk and will not
 * be overwritten, recorded in the side file "steady" of the store:
 *
 *   1. pin: a read transaction on the latest committed state S, held
 *      until the next steady point is recorded. LMDB reuses only pages
 *      freed before its oldest reader, so the pages of S stay as they are;
 *   2. copy S's meta page (it is still in its slot: checked by txnid);
 *   3. fdatasync the data file: the pages of S are on disk;
 *   4. under flock() on the side file, unless a newer state is recorded
 *      there already (another process's point), write the copy, with the
 *      machine's boot id, into one of the two 512-byte slots of the side
 *      file (checksummed; the other slot keeps the previous point) and
 *      fdatasync it: the recorded txnid only grows;
 *   5. release the previous pin.
 * No writer lock is needed: commits go on during the sync, and cannot
 * touch S. The flock is not held during the sync either, so that an open
 * or another process's point waits only for a record to be written.
 *
 * Recovery, at open, under the same flock and before LMDB reads the file:
 * when the record's boot id is not the machine's (the machine restarted
 * since) and the newest meta page is not S (unsynced commits may have been
 * lost with the page cache), the copy of S is written into both meta
 * pages and synced. Pages LMDB may have reused since are free in S. A
 * process crash needs nothing: the page cache keeps its commits. A
 * JOURNAL_RDONLY open of a store that needs recovery fails with -EAGAIN.
 *
 * Reclaiming dead readers' slots (mdb_reader_check()) could drop the pin
 * of a dead process that protects the recorded point; so in a store with a
 * side file it is done only under the flock, right after a steady point,
 * and only when the recorded state is one this handle pins. When every process has died, the first to open resets
 * LMDB's reader table, pins included: so every writable open takes a steady point, before the store can commit
 * anything.
 *
 * Once a store has a side file, a default (durable) handle of it commits
 * with MDB_NOSYNC too and takes a steady point before acknowledging each
 * commit: two syncs, as LMDB's own durable commit. A durable handle looks
 * for the side file inside each write transaction, so that the first
 * steady point (taken under the writer lock) covers every commit made the
 * old way.
 */
#define _GNU_SOURCE /* asprintf(), flock() */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lmdb_int.h"

#define SLOT 512
#define MAGIC "JSTEADY1"
#define META_IMG 256 /* the page header and MDB_meta (152 bytes), padded */
#define META_MAGIC 0xBEEFC0DEu
#define META_TXNID 144 /* offset of mm_txnid in a meta page */
#define BOOT_LEN 40
#define DEFAULT_INTERVAL_MS 50
#define DEFAULT_BUDGET ((uint64_t)16 << 20)

enum { STEADY_OFF, STEADY_NOSYNC, STEADY_DURABLE };

struct steady_rec {
    uint64_t seq, txnid;
    uint32_t psize;
    char boot[BOOT_LEN];
    unsigned char meta[META_IMG];
};

struct lmdb_steady {
    char *path; /* of the side file */
    int fd;     /* or -1 */
    _Atomic int mode;
    pthread_mutex_t mu; /* one steady point at a time in this process */
    MDB_txn *pin, *spare;
    int pinned;
    char boot[BOOT_LEN];
    int opened;        /* journal__lmdb_steady_postopen() done */
    _Atomic int first; /* no steady point of this handle yet */
    unsigned interval_ms;
    uint64_t budget;
    atomic_uint_fast64_t bytes_at; /* bytes_appended at the last steady point */
    atomic_uint_fast64_t dirty;    /* commits since the last steady point */
    atomic_uint_fast64_t pg_at;    /* the data's last page at the last steady point */

    pthread_t thread;
    int running, stop;
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
};

static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void read_boot_id(char *out)
{
    const char *t = getenv("JOURNAL_TEST_BOOT_ID"); /* test hook: a "reboot" */
    int fd;
    ssize_t n = 0;

    memset(out, 0, BOOT_LEN);
    if (t && *t) {
        /* "-": as if the machine had none to read. */
        if (strcmp(t, "-") != 0)
            snprintf(out, BOOT_LEN, "%s", t);
        return;
    }
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, out, BOOT_LEN - 1);
        close(fd);
    }
    if (n > 0 && out[n - 1] == '\n')
        out[n - 1] = '\0';
    if (n <= 0)
        out[0] = '\0'; /* unknown: see journal__lmdb_steady_preopen() */
}

/* The newest valid record of the side file: 0, 1 when there is none. */
static int rec_read(int fd, struct steady_rec *r)
{
    unsigned char buf[2 * SLOT];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    int found = 0;

    if (n < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        const unsigned char *p = buf + i * SLOT;
        if ((i + 1) * SLOT > n || memcmp(p, MAGIC, 8) != 0 || fnv(p, SLOT - 8) != get64(p + SLOT - 8))
            continue;
        if (found && get64(p + 8) <= r->seq)
            continue;
        found = 1;
        r->seq = get64(p + 8);
        r->txnid = get64(p + 16);
        memcpy(&r->psize, p + 24, 4);
        memcpy(r->boot, p + 32, BOOT_LEN);
        r->boot[BOOT_LEN - 1] = '\0';
        memcpy(r->meta, p + 32 + BOOT_LEN, META_IMG);
    }
    return found ? 0 : 1;
}

static int rec_write(int fd, const struct steady_rec *r)
{
    unsigned char p[SLOT] = {0};
    memcpy(p, MAGIC, 8);
    put64(p + 8, r->seq);
    put64(p + 16, r->txnid);
    memcpy(p + 24, &r->psize, 4);
    memcpy(p + 32, r->boot, BOOT_LEN);
    memcpy(p + 32 + BOOT_LEN, r->meta, META_IMG);
    put64(p + SLOT - 8, fnv(p, SLOT - 8));
    if (pwrite(fd, p, SLOT, (off_t)(r->seq % 2) * SLOT) != SLOT)
        return errno ? -errno : -EIO;
    return fdatasync(fd) == 0 ? 0 : -errno;
}

static int meta_valid(const unsigned char *m)
{
    uint32_t magic;
    memcpy(&magic, m + 16, 4);
    return magic == META_MAGIC;
}

/*
 * Before LMDB opens the data file: writes the steady meta back into both
 * meta pages when the machine restarted and the file's newest meta is not
 * the steady one. The caller holds the flock.
 */
static int recover(struct lmdb_store *ls, const struct steady_rec *r, int rdonly)
{
    unsigned char m[2][META_IMG], img[META_IMG];
    uint64_t newest = 0;
    int fd, rc = 0, any = 0;

    if (strcmp(r->boot, ls->steady->boot) == 0)
        return 0; /* no restart since: the page cache kept every commit */
    if (r->psize < META_IMG || r->psize > (1u << 16) || get64(r->meta + META_TXNID) != r->txnid)
        return JOURNAL_ECORRUPT;
    fd = open(ls->datafile, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? JOURNAL_ECORRUPT : -errno;
    for (int i = 0; i < 2; i++) {
        if (pread(fd, m[i], META_IMG, (off_t)i * r->psize) != META_IMG) {
            memset(m[i], 0, META_IMG);
            continue;
        }
        if (meta_valid(m[i])) {
            uint64_t t = get64(m[i] + META_TXNID);
            if (!any || t > newest)
                newest = t;
            any = 1;
        }
    }
    if (any && newest == r->txnid && get64(m[r->txnid & 1] + META_TXNID) == r->txnid &&
        memcmp(m[r->txnid & 1] + 16, r->meta + 16, META_IMG - 16) == 0)
        goto out; /* the steady state is the newest: nothing was lost */
    if (rdonly) {
        rc = -EAGAIN; /* recovery writes: a writable open must do it */
        goto out;
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        memcpy(img, r->meta, META_IMG);
        put64(img, (uint64_t)i); /* the page's own number */
        if (pwrite(fd, img, META_IMG, (off_t)i * r->psize) != META_IMG)
            rc = errno ? -errno : -EIO;
    }
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
out:
    close(fd);
    return rc;
}

static int pin_begin(struct lmdb_store *ls, MDB_txn **t)
{
    int rc;
    journal__lmdb_gate_enter(ls);
    rc = *t ? mdb_txn_renew(*t) : mdb_txn_begin(ls->env, NULL, MDB_RDONLY, t);
    journal__lmdb_gate_leave(ls);
    return rc;
}

static int lock_side(struct lmdb_steady *st)
{
    while (flock(st->fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

static void unlock_side(struct lmdb_steady *st)
{
    flock(st->fd, LOCK_UN);
}

/*
 * Records the pinned state r->txnid in the side file, under the flock,
 * unless a newer state is recorded already (another process's point, made
 * while this one synced): the recorded txnid only grows. Then, with
 * `check` and when the recorded state is one this handle pins, reclaims
 * dead readers' slots: no dead pin protects anything recorded any more.
 */
static int record(struct lmdb_store *ls, struct steady_rec *r, int check)
{
    struct lmdb_steady *st = ls->steady;
    struct steady_rec cur;
    int rc, have;

    if ((rc = lock_side(st)) != 0)
        return rc;
    if ((have = rec_read(st->fd, &cur)) < 0) {
        rc = have;
        goto out;
    }
    if (have == 1 || cur.txnid < r->txnid) {
        r->seq = have == 0 ? cur.seq + 1 : 1;
        if ((rc = rec_write(st->fd, r)) != 0)
            goto out;
    }
    if (check && (have == 1 || cur.txnid <= r->txnid))
        mdb_reader_check(ls->env, NULL);
out:
    unlock_side(st);
    return rc;
}

/*
 * Takes a steady point: pins the latest state, syncs the data file, and
 * records the state. The caller holds st->mu, and with `writer` LMDB's
 * writer lock and the gate. The sync, the long part, is outside the
 * flock, so that opens and other processes' points wait only for the
 * record. Returns 0, MDB_MAP_RESIZED (adopt the map and retry), or a
 * contract code.
 */
static int take(struct lmdb_store *ls, int writer, int check)
{
    struct lmdb_steady *st = ls->steady;
    struct steady_rec r;
    MDB_stat es;
    uint64_t s = 0;
    int fd, rc;

    if ((rc = mdb_env_get_fd(ls->env, &fd)) != 0)
        return rc;
    /* mdb_env_stat() and mdb_env_info() read the meta pages in the map,
     * which another thread may be mapping again: inside the gate, which a
     * writer (the first point of an open) already holds. */
    if (!writer)
        journal__lmdb_gate_enter(ls);
    mdb_env_stat(ls->env, &es);
    if (!writer)
        journal__lmdb_gate_leave(ls);
    memset(&r, 0, sizeof r);
    for (int tries = 0;; tries++) {
        rc = pin_begin(ls, &st->spare);
        /* The first pin of a handle needs a reader slot. When dead readers
         * hold them all, their slots may be cleared only under the writer
         * lock: no commit can then reuse pages that a dead pin protected
         * before this point is recorded and pinned. */
        for (int wait = 0; rc == MDB_READERS_FULL && writer && wait < 1000; wait++) {
            int dead = 0;
            mdb_reader_check(ls->env, &dead);
            if ((rc = pin_begin(ls, &st->spare)) == MDB_READERS_FULL)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        if (rc != 0)
            return rc;
        s = mdb_txn_id(st->spare);
        if (pread(fd, r.meta, META_IMG, (off_t)(s & 1) * es.ms_psize) == META_IMG && meta_valid(r.meta) &&
            get64(r.meta + META_TXNID) == s)
            break;
        /* Two commits went by since the pin (its meta slot was reused):
         * take the newer state. */
        mdb_txn_reset(st->spare);
        if (tries == 100)
            return -EAGAIN;
    }
    if (fdatasync(fd) != 0) {
        rc = -errno;
        goto fail;
    }
    r.txnid = s;
    r.psize = es.ms_psize;
    memcpy(r.boot, st->boot, BOOT_LEN);
    if ((rc = record(ls, &r, check)) != 0)
        goto fail;
    {
        MDB_envinfo info;
        if (!writer)
            journal__lmdb_gate_enter(ls);
        mdb_env_info(ls->env, &info);
        if (!writer)
            journal__lmdb_gate_leave(ls);
        atomic_store(&st->pg_at, info.me_last_pgno);
    }
    /* The previous pin goes: the recorded state is pinned by this one, or
     * (a newer one) by the process that recorded it. */
    if (st->pinned)
        mdb_txn_reset(st->pin);
    {
        MDB_txn *t = st->pin;
        st->pin = st->spare;
        st->spare = t;
    }
    st->pinned = 1;
    return 0;
fail:
    mdb_txn_reset(st->spare);
    return rc;
}

/*
 * A steady point, then (with `check`) the reclaiming of dead readers'
 * slots. `writer`: hold LMDB's writer lock throughout (the first point of
 * an open).
 */
static int steady_point(struct lmdb_store *ls, int check, int writer, int adopt)
{
    struct lmdb_steady *st = ls->steady;
    MDB_txn *w = NULL;
    int rc;

    for (;;) {
        rc = 0;
        pthread_mutex_lock(&st->mu);
        if (writer) {
            journal__lmdb_gate_enter(ls);
            rc = mdb_txn_begin(ls->env, NULL, 0, &w);
            if (rc != 0)
                journal__lmdb_gate_leave(ls);
        }
        if (rc == 0) {
            atomic_store(&st->dirty, 0);
            atomic_store(&st->bytes_at, ls->base.counters.bytes_appended);
            rc = take(ls, writer, check);
        }
        if (w) {
            mdb_txn_abort(w);
            w = NULL;
            journal__lmdb_gate_leave(ls);
        }
        pthread_mutex_unlock(&st->mu);
        if (rc == MDB_READERS_FULL && !writer) {
            writer = 1; /* a first pin: see take() */
            continue;
        }
        if (rc != MDB_MAP_RESIZED || !adopt)
            break;
        if ((rc = journal__lmdb_adopt_map(ls)) != 0)
            break;
    }
    if (rc != 0)
        atomic_fetch_add(&st->dirty, 1); /* try again */
    else
        atomic_store_explicit(&st->first, 0, memory_order_release);
    return journal__from_mdb(rc);
}

static void *steady_thread(void *arg)
{
    struct lmdb_store *ls = arg;
    struct lmdb_steady *st = ls->steady;
    struct timespec t;

    pthread_mutex_lock(&st->tmu);
    while (!st->stop) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += (long)(st->interval_ms % 1000) * 1000000;
        t.tv_sec += st->interval_ms / 1000 + t.tv_nsec / 1000000000;
        t.tv_nsec %= 1000000000;
        /* Woken early by journal__lmdb_steady_committed() for the budgets. */
        while (!st->stop && pthread_cond_timedwait(&st->tcv, &st->tmu, &t) == 0)
            if (atomic_load(&st->dirty))
                break;
        if (st->stop || !atomic_load(&st->dirty))
            continue;
        pthread_mutex_unlock(&st->tmu);
        steady_point(ls, 0, 0, 0); /* a failure leaves dirty set: next round */
        pthread_mutex_lock(&st->tmu);
    }
    pthread_mutex_unlock(&st->tmu);
    return NULL;
}

static int open_side(struct lmdb_steady *st, int create, unsigned mode, const char *dir)
{
    int flags = O_RDWR | O_CLOEXEC;
    st->fd = open(st->path, flags);
    if (st->fd >= 0 || errno != ENOENT || !create)
        return st->fd >= 0 || errno == ENOENT ? 0 : -errno;
    st->fd = open(st->path, flags | O_CREAT, mode);
    if (st->fd < 0)
        return -errno;
    /* The file must survive a machine crash before any commit relies on
     * it. */
    {
        int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = 0;
        if (d < 0 || fsync(d) != 0)
            rc = -errno;
        if (d >= 0)
            close(d);
        return rc;
    }
}

int journal__lmdb_steady_preopen(struct lmdb_store *ls, const char *dir, const journal_options *opts, unsigned mode,
                                 unsigned *env_flags)
{
    int rdonly = !!(opts->flags & JOURNAL_RDONLY), nosync = !!(opts->flags & JOURNAL_NOSYNC);
    struct lmdb_steady *st = calloc(1, sizeof *st);
    struct steady_rec r;
    int rc;

    if (!st)
        return -ENOMEM;
    ls->steady = st;
    st->fd = -1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->tmu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&st->tcv, &ca);
        pthread_condattr_destroy(&ca);
    }
    st->interval_ms = opts->sync_interval_ms ? opts->sync_interval_ms : DEFAULT_INTERVAL_MS;
    st->budget = opts->sync_bytes ? opts->sync_bytes : DEFAULT_BUDGET;
    read_boot_id(st->boot);
    if (asprintf(&st->path, "%s/steady", dir) < 0) {
        st->path = NULL;
        return -ENOMEM;
    }
    /* Without the boot id a restart cannot be told from a live process's
     * unsynced commits: no steady points, and a JOURNAL_NOSYNC handle
     * syncs the data at each commit (LMDB's MDB_NOMETASYNC: a machine
     * crash may undo the last commit, never corrupt). A store that has
     * steady points may need a recovery that cannot be decided: refused. */
    if ((rc = open_side(st, nosync && !rdonly && st->boot[0], mode, dir)) != 0)
        return rc;
    if (st->fd >= 0 && !st->boot[0])
        return -ENOTSUP;
    if (st->fd < 0) {
        if (nosync && !rdonly)
            *env_flags |= MDB_NOMETASYNC;
        return 0; /* a store without steady points */
    }
    if ((rc = lock_side(st)) != 0)
        return rc;
    rc = rec_read(st->fd, &r);
    if (rc == 0)
        rc = recover(ls, &r, rdonly);
    else if (rc == 1)
        rc = 0;
    if (rc != 0)
        return rc;
    if (!rdonly) {
        *env_flags |= MDB_NOSYNC;
        atomic_store(&st->mode, nosync ? STEADY_NOSYNC : STEADY_DURABLE);
    }
    return 0; /* the flock is held until journal__lmdb_steady_postopen() */
}

int journal__lmdb_steady_postopen(struct lmdb_store *ls)
{
    struct lmdb_steady *st = ls->steady;

    if (st->fd < 0 || st->opened)
        return 0;
    st->opened = 1;
    unlock_side(st);
    if (atomic_load(&st->mode) == STEADY_OFF)
        return 0;
    /* This open may have been the first since every process died, which
     * reset the reader table and with it the pins: the handle takes a
     * steady point before its first commit (journal__lmdb_steady_first()). A
     * handle that only reads needs none. */
    atomic_store(&st->first, 1);
    if (atomic_load(&st->mode) == STEADY_NOSYNC) {
        if (pthread_create(&st->thread, NULL, steady_thread, ls) != 0)
            return -EAGAIN;
        st->running = 1;
    }
    return 0;
}

int journal__lmdb_steady_first(struct lmdb_store *ls)
{
    struct lmdb_steady *st = ls->steady;
    if (!atomic_load_explicit(&st->first, memory_order_acquire))
        return 0;
    /* Under the writer lock, so that commits of handles that have not seen
     * the side file yet are covered; then reclaim dead readers' slots. */
    return steady_point(ls, 1, 1, 1);
}

int journal__lmdb_steady_on(struct lmdb_store *ls)
{
    return atomic_load(&ls->steady->mode) != STEADY_OFF;
}

int journal__lmdb_steady_in_txn(struct lmdb_store *ls)
{
    struct lmdb_steady *st = ls->steady;
    int rc;

    if (atomic_load_explicit(&st->mode, memory_order_relaxed) != STEADY_OFF || (ls->base.flags & JOURNAL_RDONLY))
        return 0;
    if (access(st->path, F_OK) != 0)
        return 0;
    /* Another process made this a store with steady points: from now on
     * this handle commits without a sync and acknowledges after a steady
     * point, and never reclaims readers' slots outside one. Without the
     * boot id it cannot take part: it writes nothing more. */
    if (!st->boot[0])
        return -ENOTSUP;
    pthread_mutex_lock(&st->mu);
    rc = st->fd >= 0 ? 0 : open_side(st, 0, 0, NULL);
    if (rc == 0 && st->fd < 0)
        rc = -ENOENT;
    if (rc == 0 && (rc = mdb_env_set_flags(ls->env, MDB_NOSYNC, 1)) == 0)
        atomic_store(&st->mode, STEADY_DURABLE);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* Pages the data may grow by while the steady point pins what is freed:
 * an eighth, at least 64 and at most GROWTH_MAX. A budget that grew with
 * the file would let a slow sync feed itself: the longer a sync, the more
 * pages freed meanwhile, the more the file grows, the longer the next. */
#define GROWTH_MAX 4096 /* 16 MiB of 4 KiB pages */
/* Pages a single append commit writes: the records leaf and its branches,
 * the catalog leaf, the main database's root and the free list's leaf and
 * branch (6 to 7 measured with 100-byte records: doc/steady.md). */
#define PAGES_PER_COMMIT 8

static uint64_t page_budget(uint64_t pg)
{
    uint64_t b = pg / 8 > 64 ? pg / 8 : 64;
    return b < GROWTH_MAX ? b : GROWTH_MAX;
}

int journal__lmdb_steady_committed(struct lmdb_store *ls)
{
    struct lmdb_steady *st = ls->steady;
    int mode = atomic_load_explicit(&st->mode, memory_order_relaxed);
    MDB_envinfo info;
    uint64_t pg, grown, commits, bytes, written;

    if (mode == STEADY_DURABLE)
        return steady_point(ls, 0, 0, 1);
    if (mode != STEADY_NOSYNC)
        return 0;
    commits = atomic_fetch_add_explicit(&st->dirty, 1, memory_order_relaxed) + 1;
    bytes = ls->base.counters.bytes_appended - atomic_load_explicit(&st->bytes_at, memory_order_relaxed);
    /* Pages freed since the steady point cannot be reused until the next
     * one: the file grows meanwhile. Bound it: past the budget, wake the
     * steady thread; past twice, this commit waits for a steady point.
     * Twice: the growth since the last point, and the pages written since
     * (what the next point syncs, and what is freed while it does). When
     * the disk syncs less than the commits write, only this second budget
     * holds them back: page reuse keeps the growth of each interval small,
     * but every interval is longer than the one before. */
    journal__lmdb_env_info(ls, &info);
    pg = atomic_load_explicit(&st->pg_at, memory_order_relaxed);
    grown = info.me_last_pgno > pg ? info.me_last_pgno - pg : 0;
    written = commits * PAGES_PER_COMMIT + bytes / (ls->psize ? ls->psize : 4096);
    if (grown > 2 * page_budget(pg) || written > 2 * GROWTH_MAX)
        steady_point(ls, 0, 0, 1); /* a failure is not this commit's: it is done */
    if (grown > page_budget(pg) || written > GROWTH_MAX || bytes >= st->budget) {
        pthread_mutex_lock(&st->tmu);
        pthread_cond_signal(&st->tcv);
        pthread_mutex_unlock(&st->tmu);
    }
    return 0;
}

int journal__lmdb_steady_relieve(struct lmdb_store *ls)
{
    return atomic_load(&ls->steady->mode) != STEADY_OFF && steady_point(ls, 0, 0, 1) == 0;
}

int journal__lmdb_steady_sync(struct lmdb_store *ls, int *done)
{
    *done = atomic_load(&ls->steady->mode) != STEADY_OFF;
    return *done ? steady_point(ls, 0, 0, 1) : 0;
}

int journal__lmdb_steady_reader_check(struct lmdb_store *ls, int *dead)
{
    struct lmdb_steady *st = ls->steady;
    MDB_txn *w;
    int rc;

    if (dead)
        *dead = 0;
    if (atomic_load(&st->mode) != STEADY_OFF) {
        if (atomic_load(&st->first) && !dead)
            return 0; /* at open: with the first steady point */
        rc = steady_point(ls, 1, 0, 1);
        if (dead && rc == 0)
            *dead = 1; /* slots may have been freed: worth a retry */
        return rc;
    }
    if (ls->base.flags & JOURNAL_RDONLY) {
        /* A reader may not clear slots that pin a steady point: it
         * cannot take one itself. */
        if (access(st->path, F_OK) == 0)
            return 0;
        return mdb_reader_check(ls->env, dead);
    }
    /* Under the writer lock, so that a side file created by another
     * process, whose first steady point takes that lock, is seen. */
    journal__lmdb_gate_enter(ls);
    rc = mdb_txn_begin(ls->env, NULL, 0, &w);
    if (rc == 0) {
        if (access(st->path, F_OK) != 0)
            rc = mdb_reader_check(ls->env, dead);
        mdb_txn_abort(w);
    }
    journal__lmdb_gate_leave(ls);
    return rc;
}

void journal__lmdb_steady_close(struct lmdb_store *ls, int forked, int failed)
{
    struct lmdb_steady *st = ls->steady;

    if (!st)
        return;
    if (failed)
        atomic_store(&st->dirty, 0); /* a failed open: nothing to make steady */
    if (!forked && st->running) {
        pthread_mutex_lock(&st->tmu);
        st->stop = 1;
        pthread_cond_signal(&st->tcv);
        pthread_mutex_unlock(&st->tmu);
        pthread_join(st->thread, NULL);
    }
    /* A clean close makes the last commit steady. */
    if (!forked && atomic_load(&st->mode) != STEADY_OFF && atomic_load(&st->dirty))
        steady_point(ls, 0, 0, 1);
    if (forked) {
        if (st->pin)
            journal__lmdb_keep_forked(st->pin);
        if (st->spare)
            journal__lmdb_keep_forked(st->spare);
    } else {
        if (st->pin)
            mdb_txn_abort(st->pin);
        if (st->spare)
            mdb_txn_abort(st->spare);
    }
    if (st->fd >= 0)
        close(st->fd);
    if (!forked) {
        pthread_cond_destroy(&st->tcv);
        pthread_mutex_destroy(&st->tmu);
        pthread_mutex_destroy(&st->mu);
    }
    free(st->path);
    free(st);
    ls->steady = NULL;
}
