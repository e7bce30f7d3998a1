/*
 * snapshot.c - the LMDB backend's snapshots: a read transaction kept for
 * the snapshot's life (from the pool of txn.c), inside the map gate.
 */
#include <errno.h>
#include <stdlib.h>

#include "lmdb_int.h"

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
        journal__lmdb_gate_enter(ls);
        /* After a failed settle the transaction is reset: renew it. */
        rc = s->txn ? mdb_txn_renew(s->txn) : journal__lmdb_txn_new_read(ls, &s->txn);
        if (rc == 0)
            rc = journal__lmdb_read_settle(ls, s->txn);
        if (rc == 0 && (ls->base.flags & JOURNAL_VERIFY)) {
            rc = journal__lmdb_view(ls, s->txn, &s->view);
            if (rc == JOURNAL__LMDB_STALE && tries < 1000) {
                /* Our meta page was rewritten before we read it: again. */
                mdb_txn_reset(s->txn);
                journal__lmdb_gate_leave(ls);
                continue;
            }
            if (rc == JOURNAL__LMDB_STALE)
                rc = JOURNAL_EBUSY;
        }
        if (rc != MDB_MAP_RESIZED)
            break;
        journal__lmdb_gate_leave(ls);
        rc = journal__lmdb_adopt_map(ls);
        if (rc != 0)
            goto out_txn;
    }
    if (rc == 0)
        rc = journal__lmdb_verify_catalog(j, &s->view);
    if (rc == 0) {
        journal__lmdb_data_bounds(ls, s->txn, &s->data_lo, &s->data_hi);
        rc = journal__lmdb_catalog_of(j, s->txn, &s->begin, &s->end);
    }
    if (rc == 0)
        return 0;
    journal__lmdb_gate_leave(ls);
out_txn:
    if (s->txn) {
        journal__lmdb_txn_pool_put(ls, s->txn);
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
    if ((rc = journal__lmdb_verify_records(snap->j, &s->view, pos, pos)) != 0)
        return rc;
    rc = journal__lmdb_get_record(snap->j, s->txn, pos, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__from_mdb(rc);
    if (!journal__lmdb_val_inside(&v, s->data_lo, s->data_hi))
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
    return journal__lmdb_range_txn(snap->j, s->txn, &s->view, s->data_lo, s->data_hi, from, s->end, fn, arg, delivered);
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
    journal__lmdb_gate_leave(ls);
    return snap_start(s);
}

void journal__lmdb_snap_end(journal_snapshot *snap)
{
    struct lmdb_snapshot *s = snap_of(snap);
    struct lmdb_store *ls = ls_of(snap->j);
    if (s->txn) {
        if (journal__forked(snap->j->s)) {
            /* The reader slot is the parent's: leave it alone. */
            journal__lmdb_keep_forked(s->txn);
        } else {
            journal__lmdb_txn_pool_put(ls, s->txn);
            journal__lmdb_gate_leave(ls);
        }
    }
    free(s);
}
