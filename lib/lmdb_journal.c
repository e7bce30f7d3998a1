/*
 * lmdb_journal.c - the LMDB backend's journals and snapshots: open,
 * bounds, get, range, append, truncate (journal_wait() is in lmdb_wait.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_backend.h"

/* Records removed per transaction by journal_truncate(): small enough
 * that a transaction stays well inside LMDB's dirty-page limit and does
 * not hold the writer lock for long, large enough that a million records
 * take few commits. Halved when LMDB still finds it too large. */
#define TRUNCATE_CHUNK 16384

static struct lmdb_journal *lj_of(journal *j)
{
    return (struct lmdb_journal *)j;
}

static struct lmdb_store *ls_of(journal *j)
{
    return lmdb_store_of(j->s);
}

static int catalog_of(journal *j, MDB_txn *txn, uint64_t *begin, uint64_t *end)
{
    uint64_t id;
    int rc = journal__catalog_get(ls_of(j), txn, j->name, j->namelen, &id, begin, end);
    /* Journals are never removed: one that was opened must be there. */
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : rc;
}

static int catalog_put(journal *j, MDB_txn *txn, uint64_t begin, uint64_t end)
{
    unsigned char buf[JOURNAL__CATALOG_ENTRY_SIZE];
    MDB_val k = {j->namelen, j->name}, v = {sizeof buf, buf};
    journal__catalog_entry_put(buf, lj_of(j)->id, begin, end);
    return mdb_put(txn, ls_of(j)->catalog, &k, &v, 0);
}

/* With JOURNAL_VERIFY (v->fd >= 0): checks the pages that reading the
 * journal's catalog entry follows. */
static int verify_catalog(journal *j, const struct lmdb_view *v)
{
    if (v->fd < 0)
        return 0;
    return journal__lmdb_verify(v, JOURNAL__DB_CATALOG, j->name, j->namelen, j->name, j->namelen);
}

/* With JOURNAL_VERIFY: checks the pages that reading the records [from,
 * to] of the journal follows. */
static int verify_records(journal *j, const struct lmdb_view *v, journal_pos from, journal_pos to)
{
    unsigned char lo[16], hi[16];
    if (v->fd < 0)
        return 0;
    journal__record_key(lo, lj_of(j)->id, from);
    journal__record_key(hi, lj_of(j)->id, to);
    return journal__lmdb_verify(v, JOURNAL__DB_RECORDS, lo, sizeof lo, hi, sizeof hi);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                         */

static int create_body(MDB_txn *txn, void *arg)
{
    journal *j = arg;
    struct lmdb_store *ls = ls_of(j);
    MDB_val k = {JOURNAL__META_NEXT_ID_LEN, JOURNAL__META_NEXT_ID}, v;
    uint64_t begin, end;
    int rc = journal__catalog_get(ls, txn, j->name, j->namelen, &lj_of(j)->id, &begin, &end);
    unsigned char next[8];

    if (rc != MDB_NOTFOUND)
        return rc; /* found (created by someone else meanwhile) or failed */
    if ((rc = mdb_get(txn, ls->meta, &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : rc;
    if (v.mv_size != 8)
        return JOURNAL_ECORRUPT;
    lj_of(j)->id = journal__get_be64(v.mv_data);
    journal__put_be64(next, lj_of(j)->id + 1);
    v.mv_data = next;
    v.mv_size = sizeof next;
    if ((rc = mdb_put(txn, ls->meta, &k, &v, 0)) != 0)
        return rc;
    return catalog_put(j, txn, 0, 0);
}

int journal__lmdb_jopen(journal_store *s, const char *name, size_t namelen, journal **out)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    struct lmdb_view view;
    uint64_t begin, end;
    MDB_txn *txn;
    journal *j;
    int rc = journal__journal_alloc(s, name, namelen, sizeof(struct lmdb_journal), &j);

    if (rc != 0)
        return rc;
    rc = journal__read_begin_view(ls, &txn, &view);
    if (rc != 0)
        goto out_free;
    rc = verify_catalog(j, &view);
    if (rc == 0)
        rc = journal__catalog_get(ls, txn, name, namelen, &lj_of(j)->id, &begin, &end);
    journal__read_end(ls, txn);
    if (rc == MDB_NOTFOUND)
        rc = (s->flags & JOURNAL_RDONLY) ? -ENOENT : journal__write(ls, create_body, j);
    if (rc != 0)
        goto out_free;
    *out = j;
    return 0;
out_free:
    free(j);
    return journal__from_mdb(rc);
}

void journal__lmdb_jclose(journal *j)
{
    free(j);
}

/* ------------------------------------------------------------------ */
/* Reading                                                                */

/*
 * Answers from the bounds the handle saw last when LMDB's last committed
 * transaction is still the one they were read in. That id is the larger
 * of the two meta pages' ids, which mdb_env_info() reads without a
 * transaction (inside the gate: the meta pages are in the map, which a
 * growing thread may be mapping again). A commit writes its meta page
 * before it returns, in this process or any other, so once an append or
 * truncation has returned, every later look sees a newer id and reads the
 * catalog again. A commit still under way may or may not be seen, as with
 * a read transaction. The cached id is the read transaction's own, which
 * is never newer than the state it read (LMDB's reader race, see
 * journal__read_settle(), can only give a transaction a newer state than
 * its id), so a stale answer cannot come from a raced read either.
 */
static int bounds_cached(struct lmdb_journal *lj, uint64_t *begin, uint64_t *end)
{
    struct lmdb_bounds_cache *c = &lj->seen;
    struct lmdb_store *ls = ls_of(&lj->base);
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire), txnid, b, e;
    MDB_envinfo info;

    if (seq == 0 || (seq & 1))
        return 0;
    txnid = atomic_load_explicit(&c->txnid, memory_order_relaxed);
    b = atomic_load_explicit(&c->begin, memory_order_relaxed);
    e = atomic_load_explicit(&c->end, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&c->seq, memory_order_relaxed) != seq)
        return 0;
    journal__gate_enter(ls);
    mdb_env_info(ls->env, &info);
    journal__gate_leave(ls);
    if (info.me_last_txnid != txnid)
        return 0;
    *begin = b;
    *end = e;
    return 1;
}

/* Keeps what a read transaction saw, unless another thread is writing the
 * cache right now or kept a newer state already. */
static void bounds_keep(struct lmdb_journal *lj, uint64_t txnid, uint64_t begin, uint64_t end)
{
    struct lmdb_bounds_cache *c = &lj->seen;
    uint64_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);

    if ((seq & 1) || (seq != 0 && atomic_load_explicit(&c->txnid, memory_order_relaxed) >= txnid))
        return;
    if (!atomic_compare_exchange_strong_explicit(&c->seq, &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
        return;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&c->txnid, txnid, memory_order_relaxed);
    atomic_store_explicit(&c->begin, begin, memory_order_relaxed);
    atomic_store_explicit(&c->end, end, memory_order_relaxed);
    atomic_store_explicit(&c->seq, seq + 2, memory_order_release);
}

int journal__lmdb_bounds(journal *j, journal_pos *begin, journal_pos *end)
{
    struct lmdb_view view;
    MDB_txn *txn;
    uint64_t txnid;
    int rc;

    if (bounds_cached(lj_of(j), begin, end))
        return 0;
    rc = journal__read_begin_view(ls_of(j), &txn, &view);
    if (rc != 0)
        return rc;
    rc = verify_catalog(j, &view);
    if (rc == 0)
        rc = catalog_of(j, txn, begin, end);
    txnid = mdb_txn_id(txn);
    journal__read_end(ls_of(j), txn);
    if (rc == 0)
        bounds_keep(lj_of(j), txnid, *begin, *end);
    return journal__from_mdb(rc);
}

static int end_of(journal *j, journal_pos *end)
{
    journal_pos begin;
    return journal__lmdb_bounds(j, &begin, end);
}

/* Records exist exactly at [begin, end) in every committed state, so one
 * lookup of the key answers both "is pos in bounds" and "what is there". */
static int get_record(journal *j, MDB_txn *txn, journal_pos pos, MDB_val *v)
{
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key};
    journal__record_key(key, lj_of(j)->id, pos);
    return mdb_get(txn, ls_of(j)->records, &k, v);
}

int journal__lmdb_get(journal *j, journal_pos pos, void **rec, size_t *len)
{
    struct lmdb_view view;
    const char *lo, *hi;
    MDB_txn *txn;
    MDB_val v;
    void *copy;
    int rc = journal__read_begin_view(ls_of(j), &txn, &view);

    if (rc != 0)
        return rc;
    rc = verify_records(j, &view, pos, pos);
    if (rc == 0)
        rc = get_record(j, txn, pos, &v);
    if (rc == 0) {
        journal__lmdb_data_bounds(ls_of(j), txn, &lo, &hi);
        if (!journal__val_inside(&v, lo, hi))
            rc = JOURNAL_ECORRUPT;
    }
    if (rc == 0) {
        /* malloc(0) may return NULL: a zero-length record still gets a
         * pointer the caller can free. */
        copy = malloc(v.mv_size ? v.mv_size : 1);
        if (copy) {
            memcpy(copy, v.mv_data, v.mv_size);
            *rec = copy;
            *len = v.mv_size;
        } else {
            rc = -ENOMEM;
        }
    }
    journal__read_end(ls_of(j), txn);
    return journal__from_mdb(rc);
}

/* Records a verified range checks at a time: the pages of the next ones
 * are checked when the range reaches them, so a callback that stops early
 * has not paid for the rest. */
#define VERIFY_CHUNK 1024

/*
 * Whether the cursor's key is the record key of (id, pos). Ranges check
 * every key they deliver (a gap or a foreign key inside the bounds is
 * damage), so the check is two 8-byte compares: `id_be` is the id as it
 * lies in the key, big-endian, loaded in native order.
 */
static inline int key_is(const MDB_val *k, uint64_t id_be, uint64_t pos)
{
    uint64_t a, b;
    if (k->mv_size != JOURNAL__RECORD_KEY_SIZE)
        return 0;
    memcpy(&a, k->mv_data, 8);
    memcpy(&b, (const unsigned char *)k->mv_data + 8, 8);
    return a == id_be && journal__be64_swap(b) == pos;
}

/*
 * Delivers the records [from, end) of txn to fn. The caller checked that
 * from is inside [begin, end) of the same transaction, so the records are
 * all there, consecutive. With JOURNAL_VERIFY, view is txn's. Values are
 * checked to lie within [lo, hi), the pages in use. Returns a contract
 * code, or fn's negative code unchanged.
 */
static int range_txn(journal *j, MDB_txn *txn, const struct lmdb_view *view, const char *lo, const char *hi,
                     journal_pos from, journal_pos end, journal_range_fn fn, void *arg, uint64_t *delivered)
{
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *cur;
    uint64_t id = lj_of(j)->id, id_be = journal__be64_swap(id);
    journal_pos verified = from; /* records below this were verified */
    int fn_rc = 0, rc;

    if (view->fd >= 0) {
        verified = end - from > VERIFY_CHUNK ? from + VERIFY_CHUNK : end;
        if ((rc = verify_records(j, view, from, verified - 1)) != 0)
            return rc;
    }
    rc = mdb_cursor_open(txn, ls_of(j)->records, &cur);
    if (rc != 0)
        return journal__from_mdb(rc);
    journal__record_key(key, id, from);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    for (journal_pos pos = from; rc == 0; pos++) {
        if (pos == verified && view->fd >= 0) {
            /* The cursor stands on a page the last check covered (the
             * leaf after its range): check the next chunk before reading
             * on. */
            verified = end - pos > VERIFY_CHUNK ? pos + VERIFY_CHUNK : end;
            if ((rc = verify_records(j, view, pos, verified - 1)) != 0)
                break;
        }
        if (!journal__val_inside(&k, lo, hi) || !key_is(&k, id_be, pos) || !journal__val_inside(&v, lo, hi)) {
            rc = JOURNAL_ECORRUPT;
            break;
        }
        ++*delivered;
        rc = fn(arg, pos, v.mv_data, v.mv_size);
        if (rc != 0) {
            fn_rc = rc < 0 ? rc : 0;
            rc = 0;
            break;
        }
        if (pos + 1 == end)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (fn_rc != 0)
        return fn_rc; /* the callback's own code, not to be translated */
    /* A record missing inside the bounds is damage, not "not found". */
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__from_mdb(rc);
}

int journal__lmdb_range(journal *j, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered)
{
    struct lmdb_view view;
    const char *lo, *hi;
    uint64_t begin, end;
    MDB_txn *txn;
    int rc = journal__read_begin_view(ls_of(j), &txn, &view);

    if (rc != 0)
        return rc;
    rc = verify_catalog(j, &view);
    if (rc == 0)
        rc = journal__from_mdb(catalog_of(j, txn, &begin, &end));
    if (rc == 0 && (from < begin || from >= end))
        rc = JOURNAL_ENOTFOUND;
    if (rc == 0) {
        journal__lmdb_data_bounds(ls_of(j), txn, &lo, &hi);
        rc = range_txn(j, txn, &view, lo, hi, from, end, fn, arg, delivered);
    }
    journal__read_end(ls_of(j), txn);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writing                                                                */

/* One call of journal_append() or journal_append_batch(), waiting in the
 * store's group-commit queue. It lives on its caller's stack. */
struct lmdb_append {
    journal *j;
    journal_pos end;
    const journal_record *recs;
    size_t n;
    int rc;
    int done;
    struct lmdb_append *next;
};

/*
 * Checks one append against the state of txn (which includes the appends
 * before it in the same transaction) and writes it. A failed check writes
 * nothing and is the append's own result, in a->rc. A failure after the
 * first write is returned: the transaction must then be aborted.
 */
static int append_one(MDB_txn *txn, struct lmdb_append *a)
{
    struct lmdb_store *ls = ls_of(a->j);
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key}, v, last;
    MDB_cursor *cur;
    unsigned flags = MDB_NOOVERWRITE;
    uint64_t begin, end;
    int rc = catalog_of(a->j, txn, &begin, &end);

    if (rc == 0 && a->end != end)
        rc = a->end < end ? JOURNAL_ECONFLICT : JOURNAL_EBEYOND;
    if (rc == 0 && a->n > JOURNAL_POS_MAX - end)
        rc = -EOVERFLOW; /* positions would wrap */
    if (rc != 0) {
        a->rc = journal__from_mdb(rc);
        return 0;
    }
    if ((rc = mdb_cursor_open(txn, ls->records, &cur)) != 0)
        return rc;
    /* When the journal's next key sorts after every key of the database
     * (one journal, or the newest), LMDB can append without a search per
     * record. MDB_APPEND refuses a key that is not the greatest, and
     * MDB_NOOVERWRITE one that exists: both guard the catalog's end. */
    journal__record_key(key, lj_of(a->j)->id, end);
    rc = mdb_cursor_get(cur, &last, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND || (rc == 0 && last.mv_size == JOURNAL__RECORD_KEY_SIZE &&
                               memcmp(last.mv_data, key, JOURNAL__RECORD_KEY_SIZE) < 0))
        flags = MDB_APPEND;
    for (size_t i = 0; i < a->n; i++) {
        journal__record_key(key, lj_of(a->j)->id, end + i);
        v.mv_size = a->recs[i].len;
        v.mv_data = (void *)a->recs[i].data;
        rc = mdb_cursor_put(cur, &k, &v, flags);
        if (rc != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0)
        /* A record at the end means the catalog lies. */
        return rc == MDB_KEYEXIST ? JOURNAL_ECORRUPT : rc;
    a->rc = 0;
    return catalog_put(a->j, txn, begin, end + a->n);
}

static int batch_body(MDB_txn *txn, void *arg)
{
    int rc = 0;
    for (struct lmdb_append *a = arg; a && rc == 0; a = a->next)
        rc = append_one(txn, a);
    return rc;
}

/* A single append in a transaction of its own. */
static int solo_body(MDB_txn *txn, void *arg)
{
    struct lmdb_append *a = arg;
    int rc = append_one(txn, a);
    return rc != 0 ? rc : a->rc; /* a failed check aborts, writing nothing */
}

/* Writes a batch of queued appends; sets each one's rc. */
static void run_batch(struct lmdb_store *ls, struct lmdb_append *batch)
{
    int rc = journal__write(ls, batch_body, batch);
    if (rc == 0)
        return;
    if (!batch->next) {
        batch->rc = rc;
        return;
    }
    /* The shared transaction failed (map full, I/O error, damage): give
     * each append its own, so that each gets its own result. */
    for (struct lmdb_append *a = batch; a; a = a->next) {
        struct lmdb_append solo = *a;
        solo.next = NULL;
        a->rc = journal__write(ls, solo_body, &solo);
    }
}

int journal__lmdb_append(journal *j, journal_pos end, const journal_record *recs, size_t n)
{
    struct lmdb_store *ls = ls_of(j);
    struct lmdb_append a = {j, end, recs, n, 0, 0, NULL}, *batch;
    journal_pos cur;
    int rc;

    if (n == 0) {
        /* Nothing to write: answer from the bounds, without the writer
         * lock. */
        rc = end_of(j, &cur);
        if (rc == 0 && end != cur)
            rc = end < cur ? JOURNAL_ECONFLICT : JOURNAL_EBEYOND;
        return rc;
    }
    pthread_mutex_lock(&ls->gc_mu);
    *ls->gc_tail = &a;
    ls->gc_tail = &a.next;
    while (!a.done) {
        if (ls->gc_leader) {
            pthread_cond_wait(&ls->gc_cv, &ls->gc_mu);
            continue;
        }
        /* Lead: take everything queued, ours included, and write it while
         * the next appends queue up behind. */
        ls->gc_leader = 1;
        batch = ls->gc_head;
        ls->gc_head = NULL;
        ls->gc_tail = &ls->gc_head;
        pthread_mutex_unlock(&ls->gc_mu);
        run_batch(ls, batch);
        pthread_mutex_lock(&ls->gc_mu);
        while (batch) {
            struct lmdb_append *next = batch->next;
            batch->done = 1; /* after this, its owner may return */
            batch = next;
        }
        ls->gc_leader = 0;
        pthread_cond_broadcast(&ls->gc_cv);
    }
    pthread_mutex_unlock(&ls->gc_mu);
    return a.rc;
}

struct truncate_ctx {
    journal *j;
    journal_pos target;
    uint64_t chunk;
    uint64_t removed; /* by the last transaction */
};

static int truncate_body(MDB_txn *txn, void *arg)
{
    struct truncate_ctx *t = arg;
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *cur;
    uint64_t begin, end, stop, id = lj_of(t->j)->id;
    int rc = catalog_of(t->j, txn, &begin, &end);

    t->removed = 0;
    if (rc != 0)
        return rc;
    if (t->target > end)
        return JOURNAL_EBEYOND;
    if (t->target <= begin)
        return 0;
    stop = t->target - begin > t->chunk ? begin + t->chunk : t->target;
    if ((rc = mdb_cursor_open(txn, ls_of(t->j)->records, &cur)) != 0)
        return rc;
    journal__record_key(key, id, begin);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    for (uint64_t pos = begin; rc == 0; pos++) {
        if (k.mv_size != JOURNAL__RECORD_KEY_SIZE || journal__get_be64(k.mv_data) != id ||
            journal__get_be64((unsigned char *)k.mv_data + 8) != pos) {
            rc = JOURNAL_ECORRUPT;
            break;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        t->removed++;
        if (pos + 1 == stop)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = JOURNAL_ECORRUPT;
    if (rc != 0)
        return rc;
    return catalog_put(t->j, txn, stop, end);
}

int journal__lmdb_truncate(journal *j, journal_pos end, uint64_t *dropped)
{
    struct truncate_ctx t = {j, end, TRUNCATE_CHUNK, 0};
    int rc;

    /* Each transaction removes the oldest chunk and advances begin, so
     * that whatever happens between them leaves a journal without gaps. */
    for (;;) {
        rc = journal__write(ls_of(j), truncate_body, &t);
        if ((rc == JOURNAL_EFULL || rc == -E2BIG || rc == -ENOSPC) && t.chunk > 1) {
            /* Deleting needs free pages too: in a full map or file
             * system, or past LMDB's limit of one transaction, take
             * smaller bites. */
            t.chunk /= 2;
            continue;
        }
        if (rc != 0 || t.removed == 0)
            break;
        *dropped += t.removed;
    }
    if (rc == 0)
        journal__steady_truncated(ls_of(j));
    return rc;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                              */

static struct lmdb_snapshot *snap_of(journal_snapshot *snap)
{
    return (struct lmdb_snapshot *)snap;
}

/* Starts (or renews) the snapshot's transaction and reads its bounds.
 * On success the snapshot is inside the gate; on failure it is outside and
 * holds no transaction. */
static int snap_start(struct lmdb_snapshot *s)
{
    journal *j = s->base.j;
    struct lmdb_store *ls = ls_of(j);
    int rc;

    s->view.fd = -1;
    for (int tries = 0;; tries++) {
        journal__gate_enter(ls);
        /* After a failed settle the transaction is reset: renew it. */
        rc = s->txn ? mdb_txn_renew(s->txn) : journal__txn_new_read(ls, &s->txn);
        if (rc == 0)
            rc = journal__read_settle(ls, s->txn);
        if (rc == 0 && (ls->base.flags & JOURNAL_VERIFY)) {
            rc = journal__lmdb_view(ls, s->txn, &s->view);
            if (rc == JOURNAL__STALE && tries < 1000) {
                /* Our meta page was rewritten before we read it: again. */
                mdb_txn_reset(s->txn);
                journal__gate_leave(ls);
                continue;
            }
            if (rc == JOURNAL__STALE)
                rc = JOURNAL_EBUSY;
        }
        if (rc != MDB_MAP_RESIZED)
            break;
        journal__gate_leave(ls);
        rc = journal__adopt_map(ls);
        if (rc != 0)
            goto out_txn;
    }
    if (rc == 0)
        rc = verify_catalog(j, &s->view);
    if (rc == 0) {
        journal__lmdb_data_bounds(ls, s->txn, &s->data_lo, &s->data_hi);
        rc = catalog_of(j, s->txn, &s->begin, &s->end);
    }
    if (rc == 0)
        return 0;
    journal__gate_leave(ls);
out_txn:
    if (s->txn) {
        journal__txn_pool_put(ls, s->txn);
        s->txn = NULL;
    }
    return journal__from_mdb(rc);
}

int journal__lmdb_snap_begin(journal *j, journal_snapshot **out)
{
    struct lmdb_snapshot *s = calloc(1, sizeof *s);
    int rc;
    if (!s)
        return -ENOMEM;
    s->base.j = j;
    rc = snap_start(s);
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

int journal__lmdb_snap_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end)
{
    struct lmdb_snapshot *s = snap_of(snap);
    if (!s->txn)
        return -EINVAL;
    *begin = s->begin;
    *end = s->end;
    return 0;
}

int journal__lmdb_snap_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len)
{
    struct lmdb_snapshot *s = snap_of(snap);
    MDB_val v;
    int rc;
    if (!s->txn)
        return -EINVAL;
    if (pos < s->begin || pos >= s->end)
        return JOURNAL_ENOTFOUND;
    if ((rc = verify_records(snap->j, &s->view, pos, pos)) != 0)
        return rc;
    rc = get_record(snap->j, s->txn, pos, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__from_mdb(rc);
    if (!journal__val_inside(&v, s->data_lo, s->data_hi))
        return JOURNAL_ECORRUPT;
    *rec = v.mv_data;
    *len = v.mv_size;
    return 0;
}

int journal__lmdb_snap_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg,
                             uint64_t *delivered)
{
    struct lmdb_snapshot *s = snap_of(snap);
    if (!s->txn)
        return -EINVAL;
    if (from < s->begin || from >= s->end)
        return JOURNAL_ENOTFOUND;
    return range_txn(snap->j, s->txn, &s->view, s->data_lo, s->data_hi, from, s->end, fn, arg, delivered);
}

int journal__lmdb_snap_renew(journal_snapshot *snap)
{
    struct lmdb_snapshot *s = snap_of(snap);
    struct lmdb_store *ls = ls_of(snap->j);
    if (!s->txn)
        return -EINVAL;
    /* Leave the gate while reset: a renew is where a waiting map growth
     * gets its chance, and pointers of the old state die here anyway. */
    mdb_txn_reset(s->txn);
    journal__gate_leave(ls);
    return snap_start(s);
}

void journal__lmdb_snap_end(journal_snapshot *snap)
{
    struct lmdb_snapshot *s = snap_of(snap);
    struct lmdb_store *ls = ls_of(snap->j);
    if (s->txn) {
        if (journal__forked(snap->j->s)) {
            /* The reader slot is the parent's: leave it alone. */
            journal__keep_forked(s->txn);
        } else {
            journal__txn_pool_put(ls, s->txn);
            journal__gate_leave(ls);
        }
    }
    free(s);
}
