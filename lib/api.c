/*
 * api.c - the public functions: each checks its arguments and the fork
 * state once, then calls the store's backend (struct journal__ops, found
 * for an open in the table of backends.c). Handle lifetimes (the reference
 * counts of handle.h) and the counters are kept here, so that no backend
 * frees a handle a caller further up the stack still uses, and every
 * backend is counted alike.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The backend of this thread's last failed open that left a message, for
 * journal_store_errmsg(NULL): an open of another backend that has no
 * messages (LMDB) does not hide it. */
static _Thread_local const struct journal__backend *last_failed;

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* References                                                           */

/* Drops a reference to s. Only a store closed in a child after fork() can
 * lose its last reference here; in its own process journal_store_close()
 * takes the last one. */
static void store_unref(journal_store *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        s->ops->store_close(s);
}

static void journal_ref(journal *j)
{
    atomic_fetch_add(&j->refs, 1);
}

static void journal_unref(journal *j)
{
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        journal_store *s = j->s;
        s->ops->close(j);
        store_unref(s);
    }
}

/* ------------------------------------------------------------------ */
/* Stores                                                               */

/* The sizes of the structs in version 0.1, taken by the functions named
 * like the macros (for callers that do not expand the macros). */
#define OPTIONS_SIZE_0_1 32
#define STAT_SIZE_0_1 56
#define COUNTERS_SIZE_0_1 48
_Static_assert(offsetof(journal_options, map_size) + sizeof(uint64_t) == OPTIONS_SIZE_0_1, "0.1 layout");
_Static_assert(offsetof(journal_stat, max_readers) + sizeof(unsigned) == STAT_SIZE_0_1, "0.1 layout");
_Static_assert(offsetof(journal_counters, truncated) + sizeof(uint64_t) == COUNTERS_SIZE_0_1, "0.1 layout");

/* The largest struct size accepted: a bound on what a wrong size can make
 * the library touch. */
#define STRUCT_SIZE_MAX 4096

/* Copies the caller's `size` bytes of options into *o, the rest of *o
 * zero (the defaults). Bytes past this library's struct must be zero: they
 * are options of a newer header that this library would ignore. */
static int options_in(const journal_options *opts, size_t size, journal_options *o)
{
    memset(o, 0, sizeof *o);
    if (!opts)
        return 0;
    if (size > STRUCT_SIZE_MAX)
        return -EINVAL;
    memcpy(o, opts, size < sizeof *o ? size : sizeof *o);
    for (size_t i = sizeof *o; i < size; i++)
        if (((const unsigned char *)opts)[i] != 0)
            return -E2BIG;
    return 0;
}

/* Copies the library's struct `src` of `src_size` bytes into the caller's
 * of `size` bytes: no byte past `size` is written, and the caller's bytes
 * past `src_size` (fields of a newer header) are zeroed. */
static void struct_out(void *dst, size_t size, const void *src, size_t src_size)
{
    memcpy(dst, src, size < src_size ? size : src_size);
    if (size > src_size)
        memset((char *)dst + src_size, 0, size - src_size);
}

int journal_store_open_sized(const char *path, const journal_options *user_opts, size_t opts_size, journal_store **out)
{
    const struct journal__backend *b;
    journal_options o;
    const journal_options *opts = &o;
    int rc;
    if (!path || !*path || !out)
        return -EINVAL;
    rc = options_in(user_opts, opts_size, &o);
    if (rc != 0)
        return rc;
    if (opts->flags & ~(JOURNAL_RDONLY | JOURNAL_NOSYNC | JOURNAL_VERIFY))
        return -EINVAL;
    if (opts->mode & ~07777u)
        return -EINVAL;
    /* A size is valid or not whatever the backend. */
    if (opts->max_size && opts->max_size < JOURNAL__MIN_SIZE)
        return -EINVAL;
    b = journal__backend_for(path);
    rc = b->open(path, opts, out);
    if (rc != 0 && *b->open_errmsg())
        last_failed = b;
    return rc;
}

int journal_store_close(journal_store *s)
{
    unsigned long only_handle = 1;
    if (!s)
        return 0;
    if (journal__forked(s)) {
        /* Threads of the parent may have had journals and snapshots open,
         * which the child can never close: release the child's memory
         * now, or with the last inherited handle the child closes. */
        store_unref(s);
        return 0;
    }
    if (!atomic_compare_exchange_strong(&s->refs, &only_handle, 0))
        return JOURNAL_EBUSY;
    s->ops->store_close(s);
    return 0;
}

/* Checks shared by every call on a store handle. */
#define CHECK_STORE(s)                                                                                                 \
    do {                                                                                                               \
        if (!(s))                                                                                                      \
            return -EINVAL;                                                                                            \
        if (journal__forked(s))                                                                                        \
            return JOURNAL_EFORK;                                                                                      \
    } while (0)

#define CHECK_WRITABLE(s)                                                                                              \
    do {                                                                                                               \
        if ((s)->flags & JOURNAL_RDONLY)                                                                               \
            return JOURNAL_EREADONLY;                                                                                  \
    } while (0)

int journal_store_sync(journal_store *s)
{
    CHECK_STORE(s);
    CHECK_WRITABLE(s);
    return s->ops->store_sync(s);
}

int journal_store_list(journal_store *s, journal_list_fn fn, void *arg)
{
    int rc;
    CHECK_STORE(s);
    if (!fn)
        return -EINVAL;
    /* fn may try to close the store: it gets JOURNAL_EBUSY. */
    atomic_fetch_add(&s->refs, 1);
    rc = s->ops->store_list(s, fn, arg);
    store_unref(s);
    return rc;
}

int journal_store_copy(journal_store *s, const char *dest, unsigned flags)
{
    CHECK_STORE(s);
    if (!dest || !*dest || (flags & ~JOURNAL_COPY_COMPACT))
        return -EINVAL;
    return s->ops->store_copy(s, dest, flags);
}

int journal_store_stat_sized(journal_store *s, journal_stat *st, size_t st_size)
{
    journal_stat full;
    int rc;
    CHECK_STORE(s);
    if (!st || st_size > STRUCT_SIZE_MAX)
        return -EINVAL;
    memset(&full, 0, sizeof full);
    rc = s->ops->store_stat(s, &full);
    if (rc == 0)
        struct_out(st, st_size, &full, sizeof full);
    return rc;
}

int journal_store_check(journal_store *s, journal_check_fn fn, void *arg)
{
    int rc;
    CHECK_STORE(s);
    atomic_fetch_add(&s->refs, 1);
    rc = s->ops->store_check(s, fn, arg);
    store_unref(s);
    return rc;
}

const char *journal_store_errmsg(const journal_store *s)
{
    if (s)
        return s->ops->errmsg(s);
    return last_failed ? last_failed->open_errmsg() : "";
}

const char *journal_store_path(const journal_store *s)
{
    return s ? s->path : NULL;
}

int journal_store_counters_sized(journal_store *s, journal_counters *out, size_t out_size)
{
    const struct journal__counters *c;
    journal_counters full;
    if (!s || !out || out_size > STRUCT_SIZE_MAX)
        return -EINVAL;
    c = &s->counters;
    memset(&full, 0, sizeof full);
    full.appends = atomic_load_explicit(&c->appends, memory_order_relaxed);
    full.bytes_appended = atomic_load_explicit(&c->bytes_appended, memory_order_relaxed);
    full.conflicts = atomic_load_explicit(&c->conflicts, memory_order_relaxed);
    full.gets = atomic_load_explicit(&c->gets, memory_order_relaxed);
    full.range_records = atomic_load_explicit(&c->range_records, memory_order_relaxed);
    full.truncated = atomic_load_explicit(&c->truncated, memory_order_relaxed);
    struct_out(out, out_size, &full, sizeof full);
    return 0;
}

/* The functions under the macros' names, for callers that do not expand
 * the macros: the structs as version 0.1 defines them. The parentheses
 * keep the macros from expanding. */
int(journal_store_open)(const char *path, const journal_options *opts, journal_store **out)
{
    return journal_store_open_sized(path, opts, OPTIONS_SIZE_0_1, out);
}

int(journal_store_stat)(journal_store *s, journal_stat *st)
{
    return journal_store_stat_sized(s, st, STAT_SIZE_0_1);
}

int(journal_store_counters)(journal_store *s, journal_counters *out)
{
    return journal_store_counters_sized(s, out, COUNTERS_SIZE_0_1);
}

/* ------------------------------------------------------------------ */
/* Journals                                                             */

int journal_open(journal_store *s, const char *name, journal **out)
{
    size_t len;
    int rc;
    CHECK_STORE(s);
    if (!name || !out)
        return -EINVAL;
    len = strnlen(name, JOURNAL__NAME_MAX + 1);
    if (len == 0 || len > JOURNAL__NAME_MAX)
        return -EINVAL;
    rc = s->ops->open(s, name, len, out);
    if (rc == 0)
        atomic_fetch_add(&s->refs, 1);
    return rc;
}

int journal_close(journal *j)
{
    if (j)
        journal_unref(j);
    return 0;
}

const char *journal_name(const journal *j)
{
    return j ? j->name : NULL;
}

#define CHECK_JOURNAL(j)                                                                                               \
    do {                                                                                                               \
        if (!(j))                                                                                                      \
            return -EINVAL;                                                                                            \
        if (journal__forked((j)->s))                                                                                   \
            return JOURNAL_EFORK;                                                                                      \
    } while (0)

int journal_bounds(journal *j, journal_pos *begin, journal_pos *end)
{
    journal_pos b, e;
    int rc;
    CHECK_JOURNAL(j);
    rc = j->s->ops->bounds(j, &b, &e);
    if (rc == 0) {
        if (begin)
            *begin = b;
        if (end)
            *end = e;
    }
    return rc;
}

int journal_get(journal *j, journal_pos pos, void **rec, size_t *len)
{
    int rc;
    CHECK_JOURNAL(j);
    if (!rec || !len)
        return -EINVAL;
    rc = j->s->ops->get(j, pos, rec, len);
    if (rc == 0)
        count(&j->s->counters.gets, 1);
    return rc;
}

int journal_range(journal *j, journal_pos from, journal_range_fn fn, void *arg)
{
    uint64_t delivered = 0;
    int rc;
    CHECK_JOURNAL(j);
    if (!fn)
        return -EINVAL;
    /* fn may close j: the handle lives until the range is over. */
    journal_ref(j);
    rc = j->s->ops->range(j, from, fn, arg, &delivered);
    count(&j->s->counters.range_records, delivered);
    journal_unref(j);
    return rc;
}

/* Common to append and batch: the records are checked before anything is
 * written, so a bad one fails the whole call. */
static int append_records(journal *j, journal_pos end, const journal_record *recs, size_t n)
{
    journal_store *s;
    uint64_t bytes = 0;
    int rc;
    CHECK_JOURNAL(j);
    s = j->s;
    if (n > 0 && !recs)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > 0 && !recs[i].data)
            return -EINVAL;
        if (recs[i].len > UINT32_MAX)
            return -EMSGSIZE;
        bytes += recs[i].len;
    }
    CHECK_WRITABLE(s);
    rc = s->ops->append(j, end, recs, n);
    if (rc == 0) {
        count(&s->counters.appends, n);
        count(&s->counters.bytes_appended, bytes);
    } else if (rc == JOURNAL_ECONFLICT) {
        count(&s->counters.conflicts, 1);
    }
    return rc;
}

int journal_append(journal *j, journal_pos end, const void *rec, size_t len)
{
    journal_record r;
    r.data = rec;
    r.len = len;
    return append_records(j, end, &r, 1);
}

int journal_append_batch(journal *j, journal_pos end, const journal_record *recs, size_t n)
{
    return append_records(j, end, recs, n);
}

int journal_truncate(journal *j, journal_pos end)
{
    uint64_t dropped = 0;
    int rc;
    CHECK_JOURNAL(j);
    CHECK_WRITABLE(j->s);
    rc = j->s->ops->truncate(j, end, &dropped);
    count(&j->s->counters.truncated, dropped);
    return rc;
}

int journal_wait(journal *j, journal_pos pos, int timeout_ms)
{
    int rc;
    CHECK_JOURNAL(j);
    if (timeout_ms < -1)
        return -EINVAL;
    journal_ref(j);
    rc = j->s->ops->wait(j, pos, timeout_ms);
    journal_unref(j);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                            */

int journal_snapshot_begin(journal *j, journal_snapshot **out)
{
    int rc;
    CHECK_JOURNAL(j);
    if (!out)
        return -EINVAL;
    rc = j->s->ops->snap_begin(j, out);
    if (rc == 0) {
        /* The snapshot keeps its journal handle, and so its store. */
        journal_ref(j);
        atomic_fetch_add(&j->s->refs, 1);
    }
    return rc;
}

/* An ended snapshot is still in memory only while a range of it runs: its
 * callback ended it. */
#define CHECK_SNAPSHOT(snap)                                                                                           \
    do {                                                                                                               \
        if (!(snap) || (snap)->ended)                                                                                  \
            return -EINVAL;                                                                                            \
        if (journal__forked((snap)->j->s))                                                                             \
            return JOURNAL_EFORK;                                                                                      \
    } while (0)

static void snapshot_free(journal_snapshot *snap)
{
    journal *j = snap->j;
    journal_store *s = j->s;
    s->ops->snap_end(snap);
    /* The snapshot's own store reference goes last: dropping the journal's
     * may free neither. */
    journal_unref(j);
    store_unref(s);
}

int journal_snapshot_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end)
{
    journal_pos b, e;
    int rc;
    CHECK_SNAPSHOT(snap);
    rc = snap->j->s->ops->snap_bounds(snap, &b, &e);
    if (rc == 0) {
        if (begin)
            *begin = b;
        if (end)
            *end = e;
    }
    return rc;
}

int journal_snapshot_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len)
{
    int rc;
    CHECK_SNAPSHOT(snap);
    if (!rec || !len)
        return -EINVAL;
    rc = snap->j->s->ops->snap_get(snap, pos, rec, len);
    if (rc == 0)
        count(&snap->j->s->counters.gets, 1);
    return rc;
}

int journal_snapshot_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg)
{
    uint64_t delivered = 0;
    int rc;
    CHECK_SNAPSHOT(snap);
    if (!fn)
        return -EINVAL;
    /* fn may end the snapshot: that waits until the range is over. */
    snap->busy++;
    rc = snap->j->s->ops->snap_range(snap, from, fn, arg, &delivered);
    count(&snap->j->s->counters.range_records, delivered);
    if (--snap->busy == 0 && snap->ended)
        snapshot_free(snap);
    return rc;
}

int journal_snapshot_renew(journal_snapshot *snap)
{
    CHECK_SNAPSHOT(snap);
    /* A range of this snapshot is delivering records of its state. */
    if (snap->busy)
        return JOURNAL_EBUSY;
    return snap->j->s->ops->snap_renew(snap);
}

void journal_snapshot_end(journal_snapshot *snap)
{
    if (!snap || snap->ended)
        return;
    if (snap->busy)
        snap->ended = 1;
    else
        snapshot_free(snap);
}
