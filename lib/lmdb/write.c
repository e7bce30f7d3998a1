/*
 * write.c - the LMDB backend's writes to a journal: appends, which the
 * threads of a process commit together (group commit), and truncations.
 */
#include <errno.h>

#include "lmdb_int.h"

/* Records removed per transaction by journal_truncate(): small enough
 * that a transaction stays well inside LMDB's dirty-page limit and does
 * not hold the writer lock for long, large enough that a million records
 * take few commits. Halved when LMDB still finds it too large. */
#define TRUNCATE_CHUNK 16384

static int end_of(journal *j, journal_pos *end)
{
    journal_pos begin;
    return journal__lmdb_bounds(j, &begin, end);
}

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
    int rc = journal__lmdb_catalog_of(a->j, txn, &begin, &end);

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
    return journal__lmdb_catalog_put(a->j, txn, begin, end + a->n);
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
    int rc = journal__lmdb_write(ls, batch_body, batch);
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
        a->rc = journal__lmdb_write(ls, solo_body, &solo);
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
    int rc = journal__lmdb_catalog_of(t->j, txn, &begin, &end);

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
    return journal__lmdb_catalog_put(t->j, txn, stop, end);
}

int journal__lmdb_truncate(journal *j, journal_pos end, uint64_t *dropped)
{
    struct truncate_ctx t = {j, end, TRUNCATE_CHUNK, 0};
    int rc;

    /* Each transaction removes the oldest chunk and advances begin, so
     * that whatever happens between them leaves a journal without gaps. */
    for (;;) {
        rc = journal__lmdb_write(ls_of(j), truncate_body, &t);
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
        journal__lmdb_steady_truncated(ls_of(j));
    return rc;
}
