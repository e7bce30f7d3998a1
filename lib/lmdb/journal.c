/*
 * journal.c - the LMDB backend's journals: open and close, and reading
 * them (bounds, get, range), with the helpers that snapshots share
 * (snapshot.c). Writing is in write.c, journal_wait() in wait.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_int.h"

int journal__lmdb_catalog_of(journal *j, MDB_txn *txn, uint64_t *begin, uint64_t *end)
{
    uint64_t id;
    int rc = journal__lmdb_catalog_get(ls_of(j), txn, j->name, j->namelen, &id, begin, end);
    /* Journals are never removed: one that was opened must be there. */
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : rc;
}

int journal__lmdb_catalog_put(journal *j, MDB_txn *txn, uint64_t begin, uint64_t end)
{
    unsigned char buf[JOURNAL__CATALOG_ENTRY_SIZE];
    MDB_val k = {j->namelen, j->name}, v = {sizeof buf, buf};
    journal__catalog_entry_put(buf, lj_of(j)->id, begin, end);
    return mdb_put(txn, ls_of(j)->catalog, &k, &v, 0);
}

int journal__lmdb_verify_catalog(journal *j, const struct lmdb_view *v)
{
    if (v->fd < 0)
        return 0;
    return journal__lmdb_verify(v, JOURNAL__LMDB_DB_CATALOG, j->name, j->namelen, j->name, j->namelen);
}

int journal__lmdb_verify_records(journal *j, const struct lmdb_view *v, journal_pos from, journal_pos to)
{
    unsigned char lo[16], hi[16];
    if (v->fd < 0)
        return 0;
    journal__record_key(lo, lj_of(j)->id, from);
    journal__record_key(hi, lj_of(j)->id, to);
    return journal__lmdb_verify(v, JOURNAL__LMDB_DB_RECORDS, lo, sizeof lo, hi, sizeof hi);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                         */

static int create_body(MDB_txn *txn, void *arg)
{
    journal *j = arg;
    struct lmdb_store *ls = ls_of(j);
    MDB_val k = {JOURNAL__META_NEXT_ID_LEN, JOURNAL__META_NEXT_ID}, v;
    uint64_t begin, end;
    int rc = journal__lmdb_catalog_get(ls, txn, j->name, j->namelen, &lj_of(j)->id, &begin, &end);
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
    return journal__lmdb_catalog_put(j, txn, 0, 0);
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
    rc = journal__lmdb_read_begin_view(ls, &txn, &view);
    if (rc != 0)
        goto out_free;
    rc = journal__lmdb_verify_catalog(j, &view);
    if (rc == 0)
        rc = journal__lmdb_catalog_get(ls, txn, name, namelen, &lj_of(j)->id, &begin, &end);
    journal__lmdb_read_end(ls, txn);
    if (rc == MDB_NOTFOUND)
        rc = (s->flags & JOURNAL_RDONLY) ? -ENOENT : journal__lmdb_write(ls, create_body, j);
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
 * journal__lmdb_read_settle(), can only give a transaction a newer state than
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
    journal__lmdb_gate_enter(ls);
    mdb_env_info(ls->env, &info);
    journal__lmdb_gate_leave(ls);
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
    rc = journal__lmdb_read_begin_view(ls_of(j), &txn, &view);
    if (rc != 0)
        return rc;
    rc = journal__lmdb_verify_catalog(j, &view);
    if (rc == 0)
        rc = journal__lmdb_catalog_of(j, txn, begin, end);
    txnid = mdb_txn_id(txn);
    journal__lmdb_read_end(ls_of(j), txn);
    if (rc == 0)
        bounds_keep(lj_of(j), txnid, *begin, *end);
    return journal__from_mdb(rc);
}

int journal__lmdb_get_record(journal *j, MDB_txn *txn, journal_pos pos, MDB_val *v)
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
    int rc = journal__lmdb_read_begin_view(ls_of(j), &txn, &view);

    if (rc != 0)
        return rc;
    rc = journal__lmdb_verify_records(j, &view, pos, pos);
    if (rc == 0)
        rc = journal__lmdb_get_record(j, txn, pos, &v);
    if (rc == 0) {
        journal__lmdb_data_bounds(ls_of(j), txn, &lo, &hi);
        if (!journal__lmdb_val_inside(&v, lo, hi))
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
    journal__lmdb_read_end(ls_of(j), txn);
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

int journal__lmdb_range_txn(journal *j, MDB_txn *txn, const struct lmdb_view *view, const char *lo, const char *hi,
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
        if ((rc = journal__lmdb_verify_records(j, view, from, verified - 1)) != 0)
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
            if ((rc = journal__lmdb_verify_records(j, view, pos, verified - 1)) != 0)
                break;
        }
        if (!journal__lmdb_val_inside(&k, lo, hi) || !key_is(&k, id_be, pos) || !journal__lmdb_val_inside(&v, lo, hi)) {
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
    int rc = journal__lmdb_read_begin_view(ls_of(j), &txn, &view);

    if (rc != 0)
        return rc;
    rc = journal__lmdb_verify_catalog(j, &view);
    if (rc == 0)
        rc = journal__from_mdb(journal__lmdb_catalog_of(j, txn, &begin, &end));
    if (rc == 0 && (from < begin || from >= end))
        rc = JOURNAL_ENOTFOUND;
    if (rc == 0) {
        journal__lmdb_data_bounds(ls_of(j), txn, &lo, &hi);
        rc = journal__lmdb_range_txn(j, txn, &view, lo, hi, from, end, fn, arg, delivered);
    }
    journal__lmdb_read_end(ls_of(j), txn);
    return rc;
}
