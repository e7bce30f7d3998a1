/*
 * helpers.c - conveniences built on the public API only: first and last
 * record, binary search, append with conflict resolution, and the two
 * emptiness tests. Nothing here reaches below journal.h, so every backend
 * gets these for free and they double as examples of using the API.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

/* Copies the record at the snapshot's oldest (last == 0) or newest
 * (last != 0) position. Bounds and record come from one snapshot, so a
 * truncation between the two reads cannot make the record vanish. */
static int journal_edge(journal *j, int last, journal_pos *pos, void **rec, size_t *len)
{
    journal_snapshot *snap = NULL;
    journal_pos begin, end, at;
    const void *data;
    size_t n;
    void *copy;
    int rc;

    if (!j || !rec || !len) {
        rc = -EINVAL;
        goto out;
    }
    rc = journal_snapshot_begin(j, &snap);
    if (rc != 0)
        goto out;
    rc = journal_snapshot_bounds(snap, &begin, &end);
    if (rc != 0)
        goto out_end;
    if (begin == end) {
        rc = JOURNAL_ENOTFOUND;
        goto out_end;
    }
    at = last ? end - 1 : begin;
    rc = journal_snapshot_get(snap, at, &data, &n);
    if (rc != 0)
        goto out_end;
    /* malloc(0) may return NULL; the contract promises a non-NULL pointer
     * for a zero-length record, as journal_get() does. */
    copy = malloc(n ? n : 1);
    if (!copy) {
        rc = -ENOMEM;
        goto out_end;
    }
    if (n)
        memcpy(copy, data, n);
    *rec = copy;
    *len = n;
    if (pos)
        *pos = at;
out_end:
    journal_snapshot_end(snap);
out:
    return rc;
}

int journal_first(journal *j, journal_pos *pos, void **rec, size_t *len)
{
    return journal_edge(j, 0, pos, rec, len);
}

int journal_last(journal *j, journal_pos *pos, void **rec, size_t *len)
{
    return journal_edge(j, 1, pos, rec, len);
}

/* The binary search behind journal_search() (exact != 0: stop at any
 * record comparing equal) and journal_lower_bound() (exact == 0: the first
 * record comparing >= 0). It searches [from, to) ∩ [begin, end) of one
 * snapshot, so concurrent appends and truncations cannot move records under
 * it, and hands cmp pointers into the map instead of copies. */
static int journal_bsearch(journal *j, journal_pos from, journal_pos to, journal_cmp_fn cmp, void *arg, int exact,
                           journal_pos *pos)
{
    journal_snapshot *snap = NULL;
    journal_pos begin, end, stop, lo, hi, mid;
    const void *data;
    size_t n;
    int rc, c;

    if (!j || !cmp || !pos) {
        rc = -EINVAL;
        goto out;
    }
    rc = journal_snapshot_begin(j, &snap);
    if (rc != 0)
        goto out;
    rc = journal_snapshot_bounds(snap, &begin, &end);
    if (rc != 0)
        goto out_end;
    lo = from > begin ? from : begin;
    stop = to < end ? to : end;
    hi = stop;
    /* Invariant: records below lo come before the target, records at hi
     * and above (within the range) do not. */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = journal_snapshot_get(snap, mid, &data, &n);
        if (rc != 0)
            goto out_end;
        c = cmp(arg, mid, data, n);
        if (c < 0) {
            lo = mid + 1;
        } else if (c == 0 && exact) {
            *pos = mid;
            goto out_end;
        } else {
            hi = mid;
        }
    }
    /* Here lo == hi: the first record that does not come before the target,
     * if any. An exact search that gets here found no equal record. */
    if (exact || lo >= stop) {
        rc = JOURNAL_ENOTFOUND;
        goto out_end;
    }
    *pos = lo;
out_end:
    journal_snapshot_end(snap);
out:
    return rc;
}

int journal_search(journal *j, journal_pos from, journal_pos to, journal_cmp_fn cmp, void *arg, journal_pos *pos)
{
    return journal_bsearch(j, from, to, cmp, arg, 1, pos);
}

int journal_lower_bound(journal *j, journal_pos from, journal_pos to, journal_cmp_fn cmp, void *arg, journal_pos *pos)
{
    return journal_bsearch(j, from, to, cmp, arg, 0, pos);
}

int journal_append_retry(journal *j, journal_pos end, const void *rec, size_t len, journal_resolve_fn fn, void *arg,
                         journal_pos *written)
{
    int rc, r;

    for (;;) {
        rc = journal_append(j, end, rec, len);
        if (rc != JOURNAL_ECONFLICT || !fn)
            break;
        rc = journal_bounds(j, NULL, &end);
        if (rc != 0)
            break;
        r = fn(arg, end, &rec, &len);
        if (r != 0) {
            /* JOURNAL_STOP (or any other positive value, which the
             * contract does not define) gives up with the conflict. */
            rc = r < 0 ? r : JOURNAL_ECONFLICT;
            break;
        }
    }
    if (rc == 0 && written)
        *written = end;
    return rc;
}

int journal_is_fresh(journal *j)
{
    journal_pos end;
    int rc = journal_bounds(j, NULL, &end);

    return rc != 0 ? rc : end == 0;
}

int journal_is_empty(journal *j)
{
    journal_pos begin, end;
    int rc = journal_bounds(j, &begin, &end);

    return rc != 0 ? rc : begin == end;
}
