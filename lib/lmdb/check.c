/*
 * check.c - the LMDB backend reading its data file itself, for files
 * that may be damaged: the meta pages checked before LMDB uses them at
 * open, the page checks of JOURNAL_VERIFY reads, and journal_store_check().
 *
 * LMDB 0.9 trusts its file: a flipped bit in a page header or a node
 * offset sends its cursor outside the page or the map (SIGSEGV, SIGBUS)
 * or into an assertion (abort). So this file walks the B-trees itself, as
 * libmdbx's mdbx_chk does, reading pages with pread() (a page past the end
 * of the file is a short read, not SIGBUS) and checking every bound before
 * following it: page numbers below the snapshot's last page and within
 * the file, the header's page number, flags fit for the page's level,
 * lower/upper and each node within the page, key and value sizes, keys in
 * order and within the range their parent gives them, overflow runs
 * within the file, the depth, and (in the full check) no page reached
 * twice. The walk holds an LMDB read transaction, so that a writer cannot
 * reuse the pages it reads, and reads the meta page of that transaction.
 *
 * The layout below is LMDB 0.9's (mdb.c, MDB_DEVEL off): pgno_t and
 * txnid_t are size_t, stored in the machine's byte order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lmdb_int.h"

#define PGNO_SZ sizeof(size_t)
#define PAGEHDRSZ (PGNO_SZ + 8) /* mp_pgno, mp_pad, mp_flags, mp_lower, mp_upper */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define NODESIZE 8 /* mn_lo, mn_hi, mn_flags, mn_ksize */
#define MDB_MAGIC_V 0xBEEFC0DEu
#define MDB_DATA_V 1u
#define MAX_DEPTH 32 /* LMDB's CURSOR_STACK */
#define MAX_KEY 511  /* MDB_MAXKEYSIZE */
#define DB_SIZE (8 + 5 * PGNO_SZ)
#define META_SIZE (8 + 2 * sizeof(void *) + 2 * DB_SIZE + 2 * PGNO_SZ) /* MDB_meta */
#define P_INVALID ((uint64_t)(size_t) ~(size_t)0)

/* Reads of native integers at any offset. */
static unsigned rd16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t rdsz(const unsigned char *p)
{
    size_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void parse_db(const unsigned char *p, struct lmdb_db *db)
{
    db->pad = rd32(p);
    db->flags = rd16(p + 4);
    db->depth = rd16(p + 6);
    db->branch = rdsz(p + 8);
    db->leaf = rdsz(p + 8 + PGNO_SZ);
    db->overflow = rdsz(p + 8 + 2 * PGNO_SZ);
    db->entries = rdsz(p + 8 + 3 * PGNO_SZ);
    db->root = rdsz(p + 8 + 4 * PGNO_SZ);
}

struct meta {
    uint64_t pgno;
    unsigned flags;
    uint32_t magic, version;
    struct lmdb_db db[2]; /* free, main */
    uint64_t last_pgno, txnid;
};

/* Parses a meta page from its first PAGEHDRSZ + META_SIZE bytes. */
static void parse_meta(const unsigned char *p, struct meta *m)
{
    const unsigned char *q = p + PAGEHDRSZ;
    memset(m, 0, sizeof *m); /* padding too: views compare metas whole */
    m->pgno = rdsz(p);
    m->flags = rd16(p + PGNO_SZ + 2);
    m->magic = rd32(q);
    m->version = rd32(q + 4);
    q += 8 + 2 * sizeof(void *); /* mm_address, mm_mapsize */
    parse_db(q, &m->db[0]);
    parse_db(q + DB_SIZE, &m->db[1]);
    m->last_pgno = rdsz(q + 2 * DB_SIZE);
    m->txnid = rdsz(q + 2 * DB_SIZE + PGNO_SZ);
}

/* What is wrong with a database record of a snapshot of npages pages, or
 * NULL. */
static const char *db_problem(const struct lmdb_db *db, uint64_t npages)
{
    if (db->root == P_INVALID)
        return db->depth == 0 && db->entries == 0 ? NULL : "an empty database with a depth or entries";
    if (db->depth == 0 || db->depth > MAX_DEPTH)
        return "a depth of 0 or beyond LMDB's 32";
    if (db->root < 2 || db->root >= npages)
        return "a root page outside the file's pages";
    return NULL;
}

/* What is wrong with the meta page LMDB uses (the one with the greater
 * transaction id), in a data file of file_size bytes, or NULL. The other
 * one may legitimately hold roots past its last page: LMDB writes an old
 * transaction id and last page over a meta page whose commit failed, to
 * keep it from being used. */
static const char *meta_problem(const struct meta *m, uint64_t file_size)
{
    unsigned psize = m->db[0].pad; /* mm_psize, checked by read_metas() */
    const char *why;
    if (m->last_pgno < 1 || m->last_pgno >= file_size / psize)
        return "a last page beyond the end of the file";
    /* The free database is keyed by transaction ids (MDB_INTEGERKEY); the
     * main one by names, without flags. */
    if ((m->db[0].flags & ~0x0fu) != 0 || !(m->db[0].flags & 0x08) || m->db[1].flags != 0)
        return "database flags the library never sets";
    if ((why = db_problem(&m->db[0], m->last_pgno + 1)) != NULL || (why = db_problem(&m->db[1], m->last_pgno + 1)))
        return why;
    return NULL;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

/* Reads both meta pages of fd, checking what LMDB checks of both (and
 * their page numbers and flags); the caller checks the one in use with
 * meta_problem(). 0, JOURNAL_ECORRUPT (with *why), or JOURNAL_EVERSION, or
 * -errno. */
static int read_metas(int fd, struct meta m[2], unsigned *psize, uint64_t *file_size, const char **why)
{
    unsigned char buf[PAGEHDRSZ + META_SIZE];
    struct stat st;
    unsigned psz;
    size_t got;
    int rc;

    if (fstat(fd, &st) != 0)
        return -errno;
    for (unsigned i = 0; i < 2; i++) {
        uint64_t off = i == 0 ? 0 : m[0].db[0].pad;
        if ((rc = read_at(fd, buf, sizeof buf, off, &got)) != 0)
            return rc;
        if (got < sizeof buf) {
            *why = "the file ends inside its meta pages";
            return JOURNAL_ECORRUPT;
        }
        parse_meta(buf, &m[i]);
        if (m[i].magic != MDB_MAGIC_V) {
            *why = "a meta page without LMDB's magic number";
            return JOURNAL_ECORRUPT;
        }
        if (m[i].version != MDB_DATA_V)
            return JOURNAL_EVERSION; /* what LMDB itself says of it */
        psz = m[i].db[0].pad;
        if (m[i].pgno != i || m[i].flags != P_META || psz < 256 || psz > 65536 || (psz & (psz - 1)) != 0) {
            *why = "a meta page with a wrong page number, flags or page size";
            return JOURNAL_ECORRUPT;
        }
    }
    if (m[0].db[0].pad != m[1].db[0].pad) {
        *why = "meta pages with different page sizes";
        return JOURNAL_ECORRUPT;
    }
    *psize = m[0].db[0].pad;
    *file_size = (uint64_t)st.st_size;
    return 0;
}

int journal__lmdb_check_metas(const char *datafile)
{
    struct meta m[2];
    const char *why = NULL;
    unsigned psize;
    uint64_t size;
    int rc = 0, fd = open(datafile, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* a new store, or LMDB says why */
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return 0; /* empty: check_datafile() decides */
    }
    /* A writer of another process may be writing a meta page while we read
     * it: look again before calling it damaged. */
    for (int i = 0; i < 3; i++) {
        rc = read_metas(fd, m, &psize, &size, &why);
        if (rc == 0 && meta_problem(&m[m[1].txnid > m[0].txnid], size) != NULL)
            rc = JOURNAL_ECORRUPT;
        if (rc != JOURNAL_ECORRUPT)
            break;
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Views                                                                  */

int journal__lmdb_view(struct lmdb_store *ls, MDB_txn *txn, struct lmdb_view *v)
{
    struct meta m[2], again[2];
    const char *why;
    unsigned psize;
    uint64_t id = mdb_txn_id(txn), size;
    int fd, rc;

    if ((rc = mdb_env_get_fd(ls->env, &fd)) != 0)
        return journal__from_mdb(rc);
    rc = read_metas(fd, m, &psize, &size, &why);
    if (rc == 0)
        rc = read_metas(fd, again, &psize, &size, &why);
    if (rc != 0)
        return rc;
    for (unsigned i = 0; i < 2; i++) {
        /* The meta page of our transaction, read twice alike: a writer two
         * commits further may be rewriting it. */
        if (m[i].txnid != id || memcmp(&m[i], &again[i], sizeof m[i]) != 0)
            continue;
        if (meta_problem(&m[i], size) != NULL)
            return JOURNAL_ECORRUPT;
        v->fd = fd;
        v->psize = psize;
        v->npages = m[i].last_pgno + 1;
        v->file_size = size;
        v->free = m[i].db[0];
        v->main = m[i].db[1];
        return 0;
    }
    return JOURNAL__LMDB_STALE;
}

/*
 * LMDB does not say where it mapped the file (MDB_envinfo.me_mapaddr is the
 * fixed address asked for, NULL). The first key of the main database lies
 * at a known offset of its root page, which is a leaf in a store (three
 * records): the map starts that far before the pointer LMDB gives for it.
 * NULL when that cannot be known (a view that went stale, or a main
 * database that is not one leaf).
 */
static const char *find_map_base(struct lmdb_store *ls, MDB_txn *txn)
{
    struct lmdb_view v;
    unsigned char hdr[PAGEHDRSZ + 2];
    const char *base = NULL;
    MDB_cursor *cur;
    MDB_val k, d;
    size_t got;

    if (journal__lmdb_view(ls, txn, &v) != 0 || v.main.root == P_INVALID || v.main.depth != 1 ||
        journal__lmdb_verify(&v, JOURNAL__LMDB_DB_META, NULL, 0, NULL, 0) != 0)
        return NULL;
    if (read_at(v.fd, hdr, sizeof hdr, v.main.root * v.psize, &got) != 0 || got != sizeof hdr)
        return NULL;
    if (mdb_cursor_open(txn, 1 /* MAIN_DBI */, &cur) != 0)
        return NULL;
    if (mdb_cursor_get(cur, &k, &d, MDB_FIRST) == 0)
        base = (const char *)((uintptr_t)k.mv_data - (v.main.root * v.psize + rd16(hdr + PAGEHDRSZ) + NODESIZE));
    mdb_cursor_close(cur);
    return base;
}

void journal__lmdb_data_bounds(struct lmdb_store *ls, MDB_txn *txn, const char **lo, const char **hi)
{
    unsigned gen = atomic_load_explicit(&ls->map_gen, memory_order_acquire);
    const char *base;
    MDB_envinfo info;
    uint64_t used;

    if (atomic_load_explicit(&ls->base_gen, memory_order_acquire) == gen + 1) {
        base = atomic_load_explicit(&ls->map_base, memory_order_relaxed);
    } else {
        /* The map cannot move while txn is open: whoever computes it now
         * computes the same. Not knowing is not kept: a view that went
         * stale is tried again by the next call. */
        base = find_map_base(ls, txn);
        if (base) {
            atomic_store_explicit(&ls->map_base, base, memory_order_relaxed);
            atomic_store_explicit(&ls->base_gen, gen + 1, memory_order_release);
        }
    }
    if (!base) {
        *lo = NULL;
        *hi = (const char *)UINTPTR_MAX;
        return;
    }
    mdb_env_info(ls->env, &info);
    used = (info.me_last_pgno + 1) * (uint64_t)ls->psize;
    if (used > info.me_mapsize)
        used = info.me_mapsize;
    *lo = base;
    *hi = base + used;
}

int journal__lmdb_read_begin_view(struct lmdb_store *ls, MDB_txn **txn, struct lmdb_view *v)
{
    int rc;
    v->fd = -1;
    for (int tries = 0;; tries++) {
        if ((rc = journal__lmdb_read_begin(ls, txn)) != 0 || !(ls->base.flags & JOURNAL_VERIFY))
            return rc;
        rc = journal__lmdb_view(ls, *txn, v);
        if (rc != JOURNAL__LMDB_STALE || tries == 1000) {
            if (rc == JOURNAL__LMDB_STALE)
                rc = JOURNAL_EBUSY; /* writers commit faster than we can read two pages */
            if (rc != 0)
                journal__lmdb_read_end(ls, *txn);
            return rc;
        }
        journal__lmdb_read_end(ls, *txn);
    }
}

/* ------------------------------------------------------------------ */
/* The walk                                                               */

struct check;

struct key {
    const unsigned char *p;
    size_t n;
};

struct walk;

/* Called for each leaf node of a full check. data is NULL for a value on
 * overflow pages. */
typedef void (*leaf_fn)(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags);

struct walk {
    const struct lmdb_view *v;
    const char *tree; /* "records", ..., for messages */
    int intkey;       /* keys are size_t, compared as numbers (the free database) */
    unsigned nflags;  /* the node flags a leaf of this tree may have */
    uint64_t budget;  /* pages this walk may still read */
    unsigned problems;
    unsigned char *buf[MAX_DEPTH + 1];
    /* A query: the keys [lo, hi] a read will follow (NULL: unbounded), and
     * the leaf after them, where a cursor moving on would step. */
    const struct key *qlo, *qhi;
    /* The full check. */
    struct check *c;
    unsigned char *used;  /* a bit per page reached */
    unsigned char *freed; /* a bit per page on the free list */
    leaf_fn leaf;
    void *arg; /* leaf's */
    uint64_t nbranch, nleaf, noverflow, nentries;
};

static int key_cmp(const struct walk *w, const struct key *a, const struct key *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int d;
    if (w->intkey && a->n == PGNO_SZ && b->n == PGNO_SZ) {
        uint64_t x = rdsz(a->p), y = rdsz(b->p);
        return x < y ? -1 : x > y;
    }
    d = n ? memcmp(a->p, b->p, n) : 0;
    return d ? d : a->n < b->n ? -1 : a->n > b->n;
}

static int bit_test_set(unsigned char *bits, uint64_t i)
{
    int was = bits[i / 8] >> (i % 8) & 1;
    bits[i / 8] |= (unsigned char)(1u << (i % 8));
    return was;
}

static void check_report(struct check *c, const struct key *near, const char *tree, const char *msg);

static void wproblem(struct walk *w, uint64_t pgno, const struct key *near, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A problem at page pgno; near is the lowest key the page may hold. */
static void wproblem(struct walk *w, uint64_t pgno, const struct key *near, const char *fmt, ...)
{
    char msg[200], full[256];
    va_list ap;
    w->problems++;
    if (!w->c)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s database, page %llu: %s", w->tree, (unsigned long long)pgno, msg);
    check_report(w->c, near, w->tree, full);
}

static unsigned char *page_buf(struct walk *w, unsigned level)
{
    if (!w->buf[level])
        w->buf[level] = malloc(w->v->psize);
    return w->buf[level];
}

/* Reads page pgno into buf. 1 when it is not in the snapshot or the file
 * (reported), 0, or -errno. */
static int read_page(struct walk *w, uint64_t pgno, unsigned char *buf, size_t len, const struct key *near)
{
    size_t got;
    int rc;
    if (pgno < 2 || pgno >= w->v->npages) {
        wproblem(w, pgno, near, "a page number outside the %llu pages in use", (unsigned long long)w->v->npages);
        return 1;
    }
    if (w->budget == 0) {
        wproblem(w, pgno, near, "more pages reached than the file holds (a cycle)");
        return 1;
    }
    w->budget--;
    if ((rc = read_at(w->v->fd, buf, len, pgno * w->v->psize, &got)) != 0)
        return rc;
    if (got < len) {
        wproblem(w, pgno, near, "past the end of the file");
        return 1;
    }
    return 0;
}

/* Checks the value of a leaf node on overflow pages. 0 or 1 (reported), or
 * -errno. */
static int walk_overflow(struct walk *w, uint64_t pgno, const struct key *k, uint64_t opg, uint64_t dsize)
{
    uint64_t psize = w->v->psize, need = (PAGEHDRSZ - 1 + dsize) / psize + 1; /* LMDB's OVPAGES */
    unsigned char hdr[PAGEHDRSZ];
    int rc;

    if (opg < 2 || need > w->v->npages || opg > w->v->npages - need) {
        wproblem(w, pgno, k, "a value of %llu bytes on pages %llu+%llu, outside the %llu pages in use",
                 (unsigned long long)dsize, (unsigned long long)opg, (unsigned long long)need,
                 (unsigned long long)w->v->npages);
        return 1;
    }
    if (!w->c)
        return 0; /* a read needs only the bounds: LMDB reads the value, not the header */
    if ((rc = read_page(w, opg, hdr, sizeof hdr, k)) != 0)
        return rc;
    if (rdsz(hdr) != opg || rd16(hdr + PGNO_SZ + 2) != P_OVERFLOW || rd32(hdr + PGNO_SZ + 4) != need) {
        wproblem(w, opg, k, "not the overflow page of %llu pages a value of %llu bytes needs", (unsigned long long)need,
                 (unsigned long long)dsize);
        return 1;
    }
    for (uint64_t i = 0; i < need; i++) {
        if (bit_test_set(w->used, opg + i)) {
            wproblem(w, opg + i, k, "reached twice");
            return 1;
        }
    }
    w->noverflow += need;
    return 0;
}

static int walk_page(struct walk *w, uint64_t pgno, unsigned level, unsigned depth, const struct key *lo,
                     const struct key *hi, int leftmost);

/*
 * Checks page pgno at `level` (1: the root) of a tree `depth` levels deep,
 * whose keys must lie in [lo, hi) (NULL: unbounded), then walks its
 * children: all of them in a full check; for a query, those whose keys meet
 * [qlo, qhi] and the one after them; with `leftmost`, only the first (the
 * path a cursor takes into the next page). Returns 0 (problems are counted
 * in w), or -errno.
 */
static int walk_page(struct walk *w, uint64_t pgno, unsigned level, unsigned depth, const struct key *lo,
                     const struct key *hi, int leftmost)
{
    const uint64_t psize = w->v->psize;
    unsigned char *p = page_buf(w, level);
    unsigned flags, lower, upper, n, want = level < depth ? P_BRANCH : P_LEAF;
    struct key prev = {NULL, 0}, keys_lo, keys_hi;
    int rc, last_met = -1;

    if (!p)
        return -ENOMEM;
    if (w->used && pgno >= 2 && pgno < w->v->npages && bit_test_set(w->used, pgno)) {
        wproblem(w, pgno, lo, "reached twice");
        return 0;
    }
    if ((rc = read_page(w, pgno, p, psize, lo)) != 0)
        return rc < 0 ? rc : 0;
    flags = rd16(p + PGNO_SZ + 2);
    lower = rd16(p + PGNO_SZ + 4);
    upper = rd16(p + PGNO_SZ + 6);
    if (rdsz(p) != pgno) {
        wproblem(w, pgno, lo, "its header names page %llu", (unsigned long long)rdsz(p));
        return 0;
    }
    if (flags != want) {
        wproblem(w, pgno, lo, "flags 0x%x at level %u of %u, where a %s page belongs", flags, level, depth,
                 want == P_BRANCH ? "branch" : "leaf");
        return 0;
    }
    if (lower < PAGEHDRSZ || (lower - PAGEHDRSZ) % 2 != 0 || lower > upper || upper > psize) {
        wproblem(w, pgno, lo, "free space bounds %u..%u outside the page", lower, upper);
        return 0;
    }
    n = (lower - PAGEHDRSZ) / 2;
    if (n < (want == P_BRANCH ? 2u : 1u)) {
        wproblem(w, pgno, lo, "%u nodes on a %s page", n, want == P_BRANCH ? "branch" : "leaf");
        return 0;
    }

    /* Every node within the page, keys in order and within [lo, hi). */
    for (unsigned i = 0; i < n; i++) {
        unsigned off = rd16(p + PAGEHDRSZ + 2 * i), nflags, ksize;
        uint64_t dsize;
        struct key k;
        if (off < upper || off > psize - NODESIZE) {
            wproblem(w, pgno, lo, "node %u at offset %u, outside the node area %u..%llu", i, off, upper,
                     (unsigned long long)psize);
            return 0;
        }
        nflags = rd16(p + off + 4);
        ksize = rd16(p + off + 6);
        dsize = rd16(p + off) | (uint64_t)rd16(p + off + 2) << 16;
        k.p = p + off + NODESIZE;
        k.n = ksize;
        if (ksize > MAX_KEY || off + NODESIZE + ksize > psize) {
            wproblem(w, pgno, lo, "node %u has a key of %u bytes past the page end", i, ksize);
            return 0;
        }
        if (want == P_LEAF) {
            uint64_t room = psize - off - NODESIZE - ksize;
            if ((nflags & ~w->nflags) != 0 || (w->nflags == F_SUBDATA && nflags != F_SUBDATA)) {
                wproblem(w, pgno, &k, "node %u has flags 0x%x", i, nflags);
                return 0;
            }
            if ((nflags & F_BIGDATA) ? room < PGNO_SZ : dsize > room) {
                wproblem(w, pgno, &k, "node %u has a value of %llu bytes past the page end", i,
                         (unsigned long long)dsize);
                return 0;
            }
            if (w->intkey && ksize != PGNO_SZ) {
                wproblem(w, pgno, &k, "node %u has a key of %u bytes, not an id", i, ksize);
                return 0;
            }
        }
        if (want == P_LEAF || i > 0) {
            /* The first key checked (a branch page's first is a
             * placeholder) against lo, each next against the one before. */
            if (prev.p ? key_cmp(w, &k, &prev) <= 0 : lo && key_cmp(w, &k, lo) < 0) {
                wproblem(w, pgno, lo, "node %u has a key out of order", i);
                return 0;
            }
            if (hi && key_cmp(w, &k, hi) >= 0) {
                wproblem(w, pgno, lo, "node %u has a key beyond the range of the page", i);
                return 0;
            }
            prev = k;
        }
    }

    if (want == P_LEAF) {
        if (w->c) {
            w->nleaf++;
            w->nentries += n;
        }
        for (unsigned i = 0; i < n; i++) {
            unsigned off = rd16(p + PAGEHDRSZ + 2 * i), nflags = rd16(p + off + 4);
            uint64_t dsize = rd16(p + off) | (uint64_t)rd16(p + off + 2) << 16;
            struct key k = {p + off + NODESIZE, rd16(p + off + 6)};
            const unsigned char *data = k.p + k.n;
            if (nflags & F_BIGDATA) {
                if ((rc = walk_overflow(w, pgno, &k, rdsz(data), dsize)) != 0)
                    return rc < 0 ? rc : 0;
                data = NULL;
            }
            if (w->leaf)
                w->leaf(w, &k, data, dsize, nflags);
        }
        return 0;
    }

    if (w->c)
        w->nbranch++;
    for (unsigned i = 0; i < n; i++) {
        unsigned off = rd16(p + PAGEHDRSZ + 2 * i), noff;
        uint64_t child = rd16(p + off) | (uint64_t)rd16(p + off + 2) << 16;
        int met;
        if (PGNO_SZ > 4)
            child |= (uint64_t)rd16(p + off + 4) << 32;
        /* The child's keys: [its key (lo for the first), the next key (hi
         * for the last)). */
        keys_lo.p = p + off + NODESIZE;
        keys_lo.n = rd16(p + off + 6);
        if (i + 1 < n) {
            noff = rd16(p + PAGEHDRSZ + 2 * (i + 1));
            keys_hi.p = p + noff + NODESIZE;
            keys_hi.n = rd16(p + noff + 6);
        }
        if (leftmost)
            met = i == 0;
        else if (w->used)
            met = 1;
        else
            met = (i + 1 == n || !w->qlo || key_cmp(w, w->qlo, &keys_hi) < 0) &&
                  (i == 0 || !w->qhi || key_cmp(w, &keys_lo, w->qhi) <= 0);
        if (!met && last_met >= 0 && last_met + 1 == (int)i) {
            /* The page after the query's last: a cursor that moves on
             * from the last key steps into its leftmost leaf. */
            rc = walk_page(w, child, level + 1, depth, &keys_lo, i + 1 < n ? &keys_hi : hi, 1);
            if (rc != 0)
                return rc;
            break;
        }
        if (!met)
            continue;
        last_met = (int)i;
        rc = walk_page(w, child, level + 1, depth, i == 0 ? lo : &keys_lo, i + 1 < n ? &keys_hi : hi, leftmost);
        if (rc != 0)
            return rc;
        if (w->problems && !w->c)
            return 0;
        if (leftmost)
            break;
    }
    return 0;
}

static void walk_fini(struct walk *w)
{
    for (unsigned i = 0; i <= MAX_DEPTH; i++)
        free(w->buf[i]);
}

/* Walks the tree of db (a query when w->qlo/qhi are set). */
static int walk_tree(struct walk *w, const struct lmdb_db *db)
{
    w->nbranch = w->nleaf = w->noverflow = w->nentries = 0;
    if (db->root == P_INVALID)
        return 0;
    return walk_page(w, db->root, 1, db->depth, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Verified reads                                                         */

struct named {
    const char *name;
    struct lmdb_db *db;
    int found;
};

/* Finds the record of a named database in a leaf of the main one. */
static void named_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct named *nd = w->arg;
    (void)flags;
    if (!data || dlen != DB_SIZE || k->n != strlen(nd->name) || memcmp(k->p, nd->name, k->n) != 0)
        return;
    parse_db(data, nd->db);
    nd->found = 1;
}

static const char *const db_names[] = {JOURNAL__DBNAME_META, JOURNAL__DBNAME_CATALOG, JOURNAL__DBNAME_RECORDS};

int journal__lmdb_verify(const struct lmdb_view *v, int which, const void *lo, size_t lolen, const void *hi,
                         size_t hilen)
{
    struct key qlo = {lo, lolen}, qhi = {hi, hilen};
    struct lmdb_db db;
    struct named nd = {db_names[which], &db, 0};
    struct walk w = {.v = v, .tree = "main", .nflags = F_SUBDATA, .budget = 2 * v->npages + 64};
    int rc;

    /* The main database holds the three records, in one page: read it
     * whole, finding the one asked for on the way. */
    w.leaf = named_leaf;
    w.arg = &nd;
    rc = walk_tree(&w, &v->main);
    if (rc == 0 && !w.problems && nd.found) {
        w.leaf = NULL;
        w.tree = db_names[which];
        w.nflags = F_BIGDATA;
        w.qlo = lo ? &qlo : NULL;
        w.qhi = hi ? &qhi : NULL;
        if (db_problem(&db, v->npages) != NULL || db.flags != 0)
            w.problems++;
        else
            rc = walk_tree(&w, &db);
    }
    walk_fini(&w);
    if (rc != 0)
        return rc;
    /* A database missing from the main one: LMDB finds nothing to read. */
    return w.problems ? JOURNAL_ECORRUPT : 0;
}

/* ------------------------------------------------------------------ */
/* The check                                                              */

/* What the check knows of one journal of the catalog. */
struct check_entry {
    uint64_t id, begin, end, next; /* next: the position expected next */
    char *name;
};

struct check {
    journal_check_fn fn;
    void *arg;
    unsigned problems;
    struct check_entry *e;
    size_t n, cap;
    struct lmdb_db dbs[3]; /* meta, catalog, records */
    int have[3];
    int have_format, have_next_id;
    unsigned format;
    uint64_t next_id;
    struct check_entry *cur; /* the journal of the last record seen */
    uint64_t npages;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct check_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static struct check_entry *find_entry(struct check *c, uint64_t id)
{
    struct check_entry key = {.id = id};
    if (c->cur && c->cur->id == id)
        return c->cur;
    if (c->n == 0)
        return NULL;
    return bsearch(&key, c->e, c->n, sizeof *c->e, cmp_entry);
}

/* Reports msg about the journal with id (0: the store as a whole). */
static void report(struct check *c, uint64_t id, const char *msg)
{
    char name[32];
    const char *np = NULL;
    c->problems++;
    if (!c->fn)
        return;
    if (id != 0) {
        struct check_entry *e = c->e ? find_entry(c, id) : NULL;
        if (e && e->name) {
            np = e->name;
        } else {
            snprintf(name, sizeof name, "#%llu", (unsigned long long)id);
            np = name;
        }
    }
    c->fn(c->arg, np, msg);
}

static void problem(struct check *c, uint64_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void problem(struct check *c, uint64_t id, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(c, id, msg);
}

/* A problem of the page walk: a page of the records names its journal and
 * position through the lowest key it may hold. */
static void check_report(struct check *c, const struct key *near, const char *tree, const char *msg)
{
    if (near && near->n == JOURNAL__RECORD_KEY_SIZE && strcmp(tree, JOURNAL__DBNAME_RECORDS) == 0) {
        problem(c, journal__get_be64(near->p), "%s (from position %llu)", msg,
                (unsigned long long)journal__get_be64(near->p + 8));
        return;
    }
    report(c, 0, msg);
}

static void main_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct check *c = w->c;
    (void)flags;
    for (int i = 0; i < 3; i++) {
        if (k->n == strlen(db_names[i]) && memcmp(k->p, db_names[i], k->n) == 0) {
            if (!data || dlen != DB_SIZE) {
                problem(c, 0, "main database: the record of the %s database has %zu bytes", db_names[i], dlen);
                return;
            }
            parse_db(data, &c->dbs[i]);
            c->have[i] = 1;
            return;
        }
    }
    problem(c, 0, "main database: a database of %zu bytes of name that is not the library's", k->n);
}

static void meta_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct check *c = w->c;
    (void)flags;
    if (k->n == JOURNAL__META_FORMAT_LEN && memcmp(k->p, JOURNAL__META_FORMAT, JOURNAL__META_FORMAT_LEN) == 0 && data &&
        dlen == JOURNAL__META_FORMAT_SIZE) {
        c->format = (unsigned)data[0] << 24 | (unsigned)data[1] << 16 | (unsigned)data[2] << 8 | data[3];
        c->have_format = 1;
    } else if (k->n == JOURNAL__META_NEXT_ID_LEN &&
               memcmp(k->p, JOURNAL__META_NEXT_ID, JOURNAL__META_NEXT_ID_LEN) == 0 && data &&
               dlen == JOURNAL__META_NEXT_ID_SIZE) {
        c->next_id = journal__get_be64(data);
        c->have_next_id = 1;
    } else {
        problem(c, 0, "meta database: an unknown record of %zu bytes with a %zu-byte value", k->n, dlen);
    }
}

static void catalog_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct check *c = w->c;
    struct check_entry *e;
    (void)flags;
    if (!data || dlen != JOURNAL__CATALOG_ENTRY_SIZE || k->n == 0 || k->n > JOURNAL__NAME_MAX) {
        problem(c, 0, "catalog entry of %zu bytes with a %zu-byte value", k->n, dlen);
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct check_entry *ne = realloc(c->e, cap * sizeof *ne);
        if (!ne) {
            problem(c, 0, "out of memory for the catalog");
            return;
        }
        c->e = ne;
        c->cap = cap;
    }
    e = &c->e[c->n];
    journal__catalog_entry_get(data, &e->id, &e->begin, &e->end);
    e->next = e->begin;
    e->name = malloc(k->n + 1);
    if (e->name) {
        memcpy(e->name, k->p, k->n);
        e->name[k->n] = '\0';
    }
    c->n++;
}

static void records_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct check *c = w->c;
    struct check_entry *e;
    uint64_t id, pos;
    (void)data, (void)dlen, (void)flags;
    if (k->n != JOURNAL__RECORD_KEY_SIZE) {
        problem(c, 0, "record key of %zu bytes", k->n);
        return;
    }
    id = journal__get_be64(k->p);
    pos = journal__get_be64(k->p + 8);
    e = find_entry(c, id);
    if (!e) {
        problem(c, 0, "record at %llu of journal id %llu, which the catalog does not know", (unsigned long long)pos,
                (unsigned long long)id);
        return;
    }
    c->cur = e;
    if (pos < e->begin || pos >= e->end) {
        problem(c, id, "record at %llu outside the bounds [%llu, %llu)", (unsigned long long)pos,
                (unsigned long long)e->begin, (unsigned long long)e->end);
        return;
    }
    if (pos != e->next)
        problem(c, id, "records [%llu, %llu) missing", (unsigned long long)e->next, (unsigned long long)pos);
    e->next = pos + 1;
}

/* Leaves of the free database: lists of page numbers, a count first. */
static void free_leaf(struct walk *w, const struct key *k, const unsigned char *data, size_t dlen, unsigned flags)
{
    struct check *c = w->c;
    uint64_t n;
    (void)k, (void)flags;
    if (!data)
        return; /* a long list on overflow pages: its pages were checked */
    n = dlen >= PGNO_SZ ? rdsz(data) : 0;
    if (dlen < PGNO_SZ || dlen % PGNO_SZ != 0 || n != dlen / PGNO_SZ - 1) {
        problem(c, 0, "free database: a list of %zu bytes", dlen);
        return;
    }
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t pg = rdsz(data + i * PGNO_SZ);
        if (pg < 2 || pg >= c->npages) {
            problem(c, 0, "free database: free page %llu outside the %llu pages in use", (unsigned long long)pg,
                    (unsigned long long)c->npages);
            return;
        }
        if (bit_test_set(w->freed, pg)) {
            problem(c, 0, "free database: page %llu listed twice", (unsigned long long)pg);
            return;
        }
    }
}

/* Walks one whole tree, checking the counts its record gives. */
static int check_tree(struct walk *w, const char *tree, const struct lmdb_db *db, unsigned nflags, leaf_fn leaf)
{
    const char *why = db_problem(db, w->v->npages);
    unsigned before = w->problems;
    int rc;

    w->tree = tree;
    w->nflags = nflags;
    w->intkey = strcmp(tree, "free") == 0;
    w->leaf = leaf;
    if (why || (db->flags != 0 && !w->intkey)) {
        problem(w->c, 0, "%s database: its record has %s", tree, why ? why : "flags the library never sets");
        return 0;
    }
    if ((rc = walk_tree(w, db)) != 0)
        return rc;
    if (w->problems == before && (w->nbranch != db->branch || w->nleaf != db->leaf || w->noverflow != db->overflow ||
                                  w->nentries != db->entries))
        problem(w->c, 0,
                "%s database: its record counts %llu/%llu/%llu branch/leaf/overflow pages and %llu entries, the tree "
                "has %llu/%llu/%llu and %llu",
                tree, (unsigned long long)db->branch, (unsigned long long)db->leaf, (unsigned long long)db->overflow,
                (unsigned long long)db->entries, (unsigned long long)w->nbranch, (unsigned long long)w->nleaf,
                (unsigned long long)w->noverflow, (unsigned long long)w->nentries);
    return 0;
}

static int check_view(struct check *c, const struct lmdb_view *v)
{
    struct walk w = {.v = v, .c = c, .budget = v->npages + 64};
    size_t bits = (size_t)(v->npages + 7) / 8;
    int rc = -ENOMEM;

    w.problems = 0;
    w.used = calloc(bits, 1);
    w.freed = calloc(bits, 1);
    if (!w.used || !w.freed)
        goto out;
    w.arg = c;
    /* The free database first, so that a page both free and in use is
     * found; then main (the records of the three others), and the catalog
     * before the records, whose journals it names. */
    if ((rc = check_tree(&w, "free", &v->free, F_BIGDATA, free_leaf)) != 0 ||
        (rc = check_tree(&w, "main", &v->main, F_SUBDATA, main_leaf)) != 0)
        goto out;
    for (int i = 0; i < 3; i++) {
        if (!c->have[i]) {
            problem(c, 0, "main database: no %s database", db_names[i]);
            continue;
        }
        if ((rc = check_tree(&w, db_names[i], &c->dbs[i], F_BIGDATA,
                             i == 0   ? meta_leaf
                             : i == 1 ? catalog_leaf
                                      : records_leaf)) != 0)
            goto out;
        if (i == 1) {
            if (c->n > 1)
                qsort(c->e, c->n, sizeof *c->e, cmp_entry);
            for (size_t k = 1; k < c->n; k++)
                if (c->e[k].id == c->e[k - 1].id)
                    problem(c, c->e[k].id, "id shared by two journals");
        }
    }
    for (uint64_t pg = 2; pg < v->npages; pg++) {
        if ((w.used[pg / 8] >> (pg % 8) & 1) && (w.freed[pg / 8] >> (pg % 8) & 1)) {
            problem(c, 0, "page %llu is in use and on the free list", (unsigned long long)pg);
            break;
        }
    }
    rc = 0;
out:
    walk_fini(&w);
    free(w.used);
    free(w.freed);
    return rc;
}

int journal__lmdb_store_check(journal_store *s, journal_check_fn fn, void *arg)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    struct check c = {.fn = fn, .arg = arg};
    struct lmdb_view v;
    MDB_txn *txn;
    int rc;

    /* The transaction pins the pages of its state: no writer reuses them
     * while we read them with pread(). */
    for (int tries = 0;; tries++) {
        if ((rc = journal__lmdb_read_begin(ls, &txn)) != 0)
            return rc;
        rc = journal__lmdb_view(ls, txn, &v);
        if (rc != JOURNAL__LMDB_STALE || tries == 1000)
            break;
        journal__lmdb_read_end(ls, txn);
    }
    if (rc == JOURNAL_ECORRUPT || rc == JOURNAL_EVERSION) {
        struct meta m[2];
        const char *why = "damaged";
        unsigned psize;
        int fd;
        uint64_t size;
        if (mdb_env_get_fd(ls->env, &fd) == 0 && read_metas(fd, m, &psize, &size, &why) == 0) {
            for (unsigned i = 0; i < 2; i++) {
                const char *w = m[i].txnid == mdb_txn_id(txn) ? meta_problem(&m[i], size) : NULL;
                if (w)
                    why = w;
            }
        }
        problem(&c, 0, "meta pages: %s", rc == JOURNAL_EVERSION ? "an LMDB format this library does not know" : why);
        rc = 0;
        goto out;
    }
    if (rc == JOURNAL__LMDB_STALE)
        rc = JOURNAL_EBUSY;
    if (rc != 0)
        goto out;
    c.npages = v.npages;
    if ((rc = check_view(&c, &v)) != 0)
        goto out;
    if (!c.have_format)
        problem(&c, 0, "no format record");
    else if (c.format != JOURNAL_FORMAT_VERSION)
        problem(&c, 0, "format version %u, expected %u", c.format, JOURNAL_FORMAT_VERSION);
    if (!c.have_next_id)
        problem(&c, 0, "no valid next_id record");
    for (size_t i = 0; i < c.n; i++) {
        struct check_entry *e = &c.e[i];
        if (e->begin > e->end)
            problem(&c, e->id, "begin %llu is past end %llu", (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->id == 0 || (c.have_next_id && e->id >= c.next_id))
            problem(&c, e->id, "id %llu not below the next id %llu", (unsigned long long)e->id,
                    (unsigned long long)c.next_id);
        if (e->next < e->end && c.have[2])
            problem(&c, e->id, "records [%llu, %llu) missing", (unsigned long long)e->next, (unsigned long long)e->end);
    }
out:
    journal__lmdb_read_end(ls, txn);
    for (size_t i = 0; i < c.n; i++)
        free(c.e[i].name);
    free(c.e);
    if (rc != 0)
        return rc;
    return c.problems ? JOURNAL_ECORRUPT : 0;
}
