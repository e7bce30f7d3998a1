/*
 * lib.c - the library, through its public API only: the implementation
 * journal on an LMDB store, and pg on a postgresql:// store (one schema per
 * store, the URL's journal_schema).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct lib_store {
    journal_store *js;
};

struct lib_journal {
    journal *j;
    journal_snapshot *snap;
};

static journal_store *js_of(const struct bjournal *h)
{
    return ((struct lib_store *)h->st->priv)->js;
}

static struct lib_journal *lj_of(const struct bjournal *h)
{
    return h->priv;
}

/* A failed call of the library; on a PostgreSQL store (pg) with the
 * server's or libpq's message, s NULL meaning journal_store_open(). */
static int lib_fail(const journal_store *s, const char *what, int rc)
{
    const char *msg = journal_store_errmsg(s);
    return fail("journal: %s: %s%s%s", what, journal_strerror(rc), *msg ? ": " : "", msg);
}

static int lib_store_open(struct bstore *st)
{
    journal_options o = {0};
    struct lib_store *ls = calloc(1, sizeof *ls);
    int rc;

    if (!(st->priv = ls))
        return fail("out of memory");
    o.flags = st->dur == DUR_SYNC ? 0 : JOURNAL_NOSYNC;
    rc = journal_store_open(st->path, &o, &ls->js);
    return rc ? lib_fail(NULL, st->path, rc) : 0;
}

static int lib_store_close(struct bstore *st)
{
    struct lib_store *ls = st->priv;
    int rc = 0;
    if (ls && ls->js && (rc = journal_store_close(ls->js)) != 0)
        rc = fail("journal: journal_store_close: %s", journal_strerror(rc));
    free(ls);
    return rc;
}

static int lib_journal_open(struct bjournal *h)
{
    struct lib_journal *lj = calloc(1, sizeof *lj);
    int rc;

    if (!(h->priv = lj))
        return fail("out of memory");
    if ((rc = journal_open(js_of(h), h->name, &lj->j)) != 0)
        return lib_fail(js_of(h), "journal_open", rc);
    if ((rc = journal_bounds(lj->j, NULL, &h->end)) != 0)
        rc = lib_fail(js_of(h), "journal_bounds", rc);
    return rc;
}

static void lib_journal_close(struct bjournal *h)
{
    struct lib_journal *lj = h->priv;
    if (lj) {
        journal_snapshot_end(lj->snap);
        journal_close(lj->j);
        free(lj);
    }
}

static int lib_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    journal *j = lj_of(h)->j;
    journal_pos begin;
    int rc = n == 1 ? journal_append(j, h->end, recs[0].data, recs[0].len) : journal_append_batch(j, h->end, recs, n);

    if (rc == 0) {
        h->end += n;
    } else if (rc == JOURNAL_ECONFLICT) {
        int brc = journal_bounds(j, &begin, &h->end);
        if (brc != 0)
            rc = lib_fail(js_of(h), "journal_bounds", brc);
    } else {
        rc = lib_fail(js_of(h), n == 1 ? "journal_append" : "journal_append_batch", rc);
    }
    return rc;
}

static int retry_at_end(void *arg, journal_pos end, const void **rec, size_t *len)
{
    (void)arg;
    (void)end;
    (void)rec;
    (void)len;
    return 0;
}

static int lib_append_retry(struct bjournal *h, const journal_record *rec)
{
    journal_pos written;
    int rc = journal_append_retry(lj_of(h)->j, h->end, rec->data, rec->len, retry_at_end, NULL, &written);
    if (rc != 0)
        return lib_fail(js_of(h), "journal_append_retry", rc);
    h->end = written + 1;
    return 0;
}

static int lib_get(struct bjournal *h, journal_pos pos, void **rec, size_t *len)
{
    int rc = journal_get(lj_of(h)->j, pos, rec, len);
    return rc ? lib_fail(js_of(h), "journal_get", rc) : 0;
}

static int lib_snap_begin(struct bjournal *h)
{
    int rc = journal_snapshot_begin(lj_of(h)->j, &lj_of(h)->snap);
    return rc ? lib_fail(js_of(h), "journal_snapshot_begin", rc) : 0;
}

static int lib_snap_get(struct bjournal *h, journal_pos pos, const void **rec, size_t *len)
{
    int rc = journal_snapshot_get(lj_of(h)->snap, pos, rec, len);
    return rc ? lib_fail(js_of(h), "journal_snapshot_get", rc) : 0;
}

static int lib_snap_end(struct bjournal *h)
{
    journal_snapshot_end(lj_of(h)->snap);
    lj_of(h)->snap = NULL;
    return 0;
}

static int lib_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    int rc = journal_range(lj_of(h)->j, from, acc_rec, a);
    return rc ? lib_fail(js_of(h), "journal_range", rc) : 0;
}

static int lib_snap_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    int rc = journal_snapshot_range(lj_of(h)->snap, from, acc_rec, a);
    return rc ? lib_fail(js_of(h), "journal_snapshot_range", rc) : 0;
}

static int lib_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    int rc = journal_bounds(lj_of(h)->j, begin, end);
    return rc ? lib_fail(js_of(h), "journal_bounds", rc) : 0;
}

/* The library can only create a journal with journal_open(), one
 * transaction each. */
static int lib_create_others(struct bstore *st, uint64_t n, const struct bench *b)
{
    journal_store *js = ((struct lib_store *)st->priv)->js;
    char name[32];
    journal *j;
    int rc = 0;

    (void)b;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        snprintf(name, sizeof name, "o%010" PRIu64, i);
        if ((rc = journal_open(js, name, &j)) != 0)
            rc = lib_fail(js, "journal_open", rc);
        else
            journal_close(j);
    }
    return rc;
}

static int lib_truncate(struct bjournal *h, journal_pos to, unsigned *bad)
{
    int rc = journal_truncate(lj_of(h)->j, to);
    if (rc != 0 && rc != JOURNAL_EBEYOND && bad) {
        ++*bad;
        rc = 0;
    }
    return rc == 0 || rc == JOURNAL_EBEYOND ? rc : lib_fail(js_of(h), "journal_truncate", rc);
}

static int lib_snap_renew(struct bjournal *h)
{
    int rc = journal_snapshot_renew(lj_of(h)->snap);
    return rc ? lib_fail(js_of(h), "journal_snapshot_renew", rc) : 0;
}

/* journal_wait() needs nothing set up. */
static int lib_wait_setup(struct bjournal *h, int waiter)
{
    (void)h;
    (void)waiter;
    return 0;
}

static int lib_append_notify(struct bjournal *h, journal_pos pos, const void *rec, size_t len)
{
    int rc = journal_append(lj_of(h)->j, pos, rec, len);
    return rc ? lib_fail(js_of(h), "journal_append", rc) : 0;
}

static int lib_wait(struct bjournal *h, journal_pos pos)
{
    int rc = journal_wait(lj_of(h)->j, pos, 10000);
    return rc ? lib_fail(js_of(h), "journal_wait", rc) : 0;
}

const struct bench_impl bench_lib = {
    .store_open = lib_store_open,
    .store_close = lib_store_close,
    .journal_open = lib_journal_open,
    .journal_close = lib_journal_close,
    .append = lib_append,
    .append_retry = lib_append_retry,
    .get = lib_get,
    .snap_begin = lib_snap_begin,
    .snap_get = lib_snap_get,
    .snap_end = lib_snap_end,
    .range = lib_range,
    .snap_range = lib_snap_range,
    .bounds = lib_bounds,
    .create_others = lib_create_others,
    .truncate = lib_truncate,
    .snap_renew = lib_snap_renew,
    .wait_setup = lib_wait_setup,
    .append_notify = lib_append_notify,
    .wait = lib_wait,
};
