/*
 * test_model.c - thousands of random operations on a few journals, each
 * checked against a plain in-memory model: every result code, bound,
 * record byte and counter.
 *
 * The seed is printed as JOURNAL_TEST_SEED=N; set that variable to replay
 * a failure. Failure messages name the seed and the operation number.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

TestSuite(model, .init = tu_setup, .fini = tu_teardown);

#define NJ 3
#define NOPS 3000

struct mrec {
    unsigned char *data;
    size_t len;
};

/* One journal of the model: every record ever appended stays in recs (so
 * a snapshot's view can be checked after truncation); [begin, end) is
 * what the journal holds. */
struct mjournal {
    const char *name;
    journal *h;
    journal_pos begin, end;
    struct mrec *recs;
    size_t cap;
};

struct model {
    uint64_t seed, rng;
    const char *path;
    journal_store *s;
    struct mjournal j[NJ];
    journal_counters c; /* what the store's counters must read */
    unsigned op;
    char ctx[200];
};

/* Byte order of the names is the order of this array. */
static const char *const names[NJ] = {"a", "b\xff", "c"};

static uint64_t rnd(struct model *m, uint64_t n)
{
    return tu_rand(&m->rng) % n;
}

static void set_ctx(struct model *m, const char *what, const struct mjournal *mj)
{
    snprintf(m->ctx, sizeof m->ctx, "JOURNAL_TEST_SEED=%llu op %u (%s on %s, bounds [%llu,%llu))",
             (unsigned long long)m->seed, m->op, what, mj ? mj->name : "store",
             mj ? (unsigned long long)mj->begin : 0ull, mj ? (unsigned long long)mj->end : 0ull);
}

#define EXPECT_RC(m, rc, want)                                                                                         \
    cr_assert_eq((rc), (want), "%s: rc %d (%s), expected %d (%s)", (m)->ctx, (rc), journal_strerror(rc), (want),       \
                 journal_strerror(want))

/* A random record, malloc()ed; zero-length ones are sometimes NULL. */
static unsigned char *new_record(struct model *m, size_t *len)
{
    unsigned char *p;
    *len = rnd(m, 10) == 0 ? (size_t)rnd(m, 3000) : (size_t)rnd(m, 40);
    if (*len == 0 && rnd(m, 2))
        return NULL;
    p = malloc(*len ? *len : 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < *len; i++)
        p[i] = (unsigned char)tu_rand(&m->rng);
    return p;
}

static void model_push(struct mjournal *mj, unsigned char *data, size_t len)
{
    if (mj->end == mj->cap) {
        mj->cap = mj->cap ? 2 * mj->cap : 64;
        mj->recs = realloc(mj->recs, mj->cap * sizeof *mj->recs);
        cr_assert_not_null(mj->recs);
    }
    mj->recs[mj->end].data = data;
    mj->recs[mj->end].len = len;
    mj->end++;
}

static void expect_bytes(struct model *m, const struct mjournal *mj, journal_pos pos, const void *rec, size_t len)
{
    const struct mrec *r = &mj->recs[pos];
    cr_assert_eq(len, r->len, "%s: record %llu has length %zu, expected %zu", m->ctx, (unsigned long long)pos, len,
                 r->len);
    cr_assert(len == 0 || memcmp(rec, r->data, len) == 0, "%s: record %llu differs", m->ctx, (unsigned long long)pos);
}

/* A position inside, below, at or above the bounds. */
static journal_pos pick_pos(struct model *m, journal_pos begin, journal_pos end)
{
    switch (rnd(m, 8)) {
    case 0:
    case 1:
    case 2:
        if (end > begin)
            return begin + rnd(m, end - begin);
        return end;
    case 3:
        return begin > 0 ? rnd(m, begin) : 0;
    case 4:
        return end;
    case 5:
        return end + 1 + rnd(m, 5);
    case 6:
        return JOURNAL_POS_MAX;
    default:
        return 0;
    }
}

static void check_bounds(struct model *m, struct mjournal *mj)
{
    journal_pos b, e;
    int rc = journal_bounds(mj->h, &b, &e);
    EXPECT_RC(m, rc, 0);
    cr_assert_eq(b, mj->begin, "%s: begin %llu", m->ctx, (unsigned long long)b);
    cr_assert_eq(e, mj->end, "%s: end %llu", m->ctx, (unsigned long long)e);
}

static void check_counters(struct model *m)
{
    journal_counters c;
    cr_assert_eq(journal_store_counters(m->s, &c), 0);
    cr_assert_eq(c.appends, m->c.appends, "%s: appends", m->ctx);
    cr_assert_eq(c.bytes_appended, m->c.bytes_appended, "%s: bytes_appended", m->ctx);
    cr_assert_eq(c.conflicts, m->c.conflicts, "%s: conflicts", m->ctx);
    cr_assert_eq(c.gets, m->c.gets, "%s: gets", m->ctx);
    cr_assert_eq(c.range_records, m->c.range_records, "%s: range_records", m->ctx);
    cr_assert_eq(c.truncated, m->c.truncated, "%s: truncated", m->ctx);
}

/* ------------------------------------------------------------ operations */

static void op_append_at_end(struct model *m, struct mjournal *mj)
{
    size_t len;
    unsigned char *rec = new_record(m, &len);
    int rc;
    set_ctx(m, "append at the end", mj);
    rc = journal_append(mj->h, mj->end, rec, len);
    EXPECT_RC(m, rc, 0);
    model_push(mj, rec, len);
    m->c.appends++;
    m->c.bytes_appended += len;
}

static void op_append_elsewhere(struct model *m, struct mjournal *mj)
{
    size_t len;
    unsigned char *rec = new_record(m, &len);
    journal_pos pos = pick_pos(m, mj->begin, mj->end);
    int rc;
    if (pos == mj->end)
        pos = mj->end > 0 && rnd(m, 2) ? rnd(m, mj->end) : mj->end + 1;
    set_ctx(m, "append away from the end", mj);
    rc = journal_append(mj->h, pos, rec, len);
    if (pos < mj->end) {
        EXPECT_RC(m, rc, JOURNAL_ECONFLICT);
        m->c.conflicts++;
    } else {
        EXPECT_RC(m, rc, JOURNAL_EBEYOND);
    }
    free(rec);
}

static void op_batch(struct model *m, struct mjournal *mj)
{
    size_t n = (size_t)rnd(m, 6);
    journal_record recs[5];
    journal_pos pos = rnd(m, 3) ? mj->end : pick_pos(m, mj->begin, mj->end);
    int rc, want;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        recs[i].data = new_record(m, &len);
        recs[i].len = len;
    }
    set_ctx(m, "batch", mj);
    rc = journal_append_batch(mj->h, pos, recs, n);
    want = pos == mj->end ? 0 : pos < mj->end ? JOURNAL_ECONFLICT : JOURNAL_EBEYOND;
    EXPECT_RC(m, rc, want);
    if (want == 0) {
        for (size_t i = 0; i < n; i++) {
            model_push(mj, (unsigned char *)recs[i].data, recs[i].len);
            m->c.bytes_appended += recs[i].len;
        }
        m->c.appends += n;
    } else {
        if (want == JOURNAL_ECONFLICT)
            m->c.conflicts++;
        for (size_t i = 0; i < n; i++)
            free((void *)recs[i].data);
    }
}

static void op_get(struct model *m, struct mjournal *mj)
{
    journal_pos pos = pick_pos(m, mj->begin, mj->end);
    void *rec = NULL;
    size_t len = 0;
    int rc;
    set_ctx(m, "get", mj);
    rc = journal_get(mj->h, pos, &rec, &len);
    if (pos >= mj->begin && pos < mj->end) {
        EXPECT_RC(m, rc, 0);
        cr_assert_not_null(rec, "%s", m->ctx);
        expect_bytes(m, mj, pos, rec, len);
        free(rec);
        m->c.gets++;
    } else {
        EXPECT_RC(m, rc, JOURNAL_ENOTFOUND);
    }
}

struct delivery {
    struct model *m;
    const struct mjournal *mj;
    journal_pos next; /* the position the next call must have */
    size_t calls;
    size_t stop_after; /* 0: never */
    int ret;
};

static int check_delivery(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct delivery *d = arg;
    cr_assert_eq(pos, d->next, "%s: range delivered %llu, expected %llu", d->m->ctx, (unsigned long long)pos,
                 (unsigned long long)d->next);
    expect_bytes(d->m, d->mj, pos, rec, len);
    d->next++;
    d->calls++;
    if (d->stop_after && d->calls == d->stop_after)
        return d->ret;
    return 0;
}

/* Runs a range (of the journal, or of snap when not NULL) from a random
 * position and checks it against the bounds [begin, end). */
static void run_range(struct model *m, struct mjournal *mj, journal_snapshot *snap, journal_pos begin, journal_pos end)
{
    journal_pos from = pick_pos(m, begin, end);
    struct delivery d = {m, mj, from, 0, 0, 0};
    size_t want_calls;
    int rc, want;
    if (rnd(m, 3) == 0) {
        d.stop_after = 1 + (size_t)rnd(m, 5);
        d.ret = rnd(m, 2) ? JOURNAL_STOP : -(int)(1000 + rnd(m, 100));
    }
    rc = snap ? journal_snapshot_range(snap, from, check_delivery, &d) : journal_range(mj->h, from, check_delivery, &d);
    if (from < begin || from >= end) {
        want = JOURNAL_ENOTFOUND;
        want_calls = 0;
    } else if (d.stop_after && d.stop_after <= end - from) {
        want = d.ret == JOURNAL_STOP ? 0 : d.ret;
        want_calls = d.stop_after;
    } else {
        want = 0;
        want_calls = (size_t)(end - from);
    }
    EXPECT_RC(m, rc, want);
    cr_assert_eq(d.calls, want_calls, "%s: range from %llu made %zu calls, expected %zu", m->ctx,
                 (unsigned long long)from, d.calls, want_calls);
    m->c.range_records += d.calls;
}

static void op_range(struct model *m, struct mjournal *mj)
{
    set_ctx(m, "range", mj);
    run_range(m, mj, NULL, mj->begin, mj->end);
}

static void op_truncate(struct model *m, struct mjournal *mj)
{
    journal_pos t;
    int rc;
    switch (rnd(m, 5)) {
    case 0:
        t = mj->begin + rnd(m, mj->end - mj->begin + 1);
        break;
    case 1:
        t = mj->end; /* everything */
        break;
    case 2:
        t = rnd(m, mj->begin + 1); /* already truncated */
        break;
    case 3:
        t = mj->end + 1 + rnd(m, 3);
        break;
    default:
        t = mj->begin + 1 <= mj->end ? mj->begin + 1 : mj->end;
        break;
    }
    set_ctx(m, "truncate", mj);
    rc = journal_truncate(mj->h, t);
    if (t > mj->end) {
        EXPECT_RC(m, rc, JOURNAL_EBEYOND);
        return;
    }
    EXPECT_RC(m, rc, 0);
    if (t > mj->begin) {
        m->c.truncated += t - mj->begin;
        mj->begin = t;
    }
}

static void op_snapshot(struct model *m, struct mjournal *mj)
{
    journal_snapshot *snap;
    journal_pos b0 = mj->begin, e0 = mj->end, b, e;
    unsigned writes = (unsigned)rnd(m, 4);
    int rc;
    set_ctx(m, "snapshot begin", mj);
    rc = journal_snapshot_begin(mj->h, &snap);
    EXPECT_RC(m, rc, 0);
    for (unsigned i = 0; i < writes; i++) {
        if (rnd(m, 2))
            op_append_at_end(m, mj);
        else
            op_truncate(m, mj);
    }
    set_ctx(m, "snapshot bounds", mj);
    EXPECT_RC(m, journal_snapshot_bounds(snap, &b, &e), 0);
    cr_assert_eq(b, b0, "%s: snapshot begin %llu, expected %llu", m->ctx, (unsigned long long)b,
                 (unsigned long long)b0);
    cr_assert_eq(e, e0, "%s: snapshot end %llu, expected %llu", m->ctx, (unsigned long long)e, (unsigned long long)e0);
    for (int i = 0; i < 4; i++) {
        journal_pos pos = pick_pos(m, b0, e0);
        const void *rec;
        size_t len;
        set_ctx(m, "snapshot get", mj);
        rc = journal_snapshot_get(snap, pos, &rec, &len);
        if (pos >= b0 && pos < e0) {
            EXPECT_RC(m, rc, 0);
            expect_bytes(m, mj, pos, rec, len);
            m->c.gets++;
        } else {
            EXPECT_RC(m, rc, JOURNAL_ENOTFOUND);
        }
    }
    set_ctx(m, "snapshot range", mj);
    run_range(m, mj, snap, b0, e0);
    if (rnd(m, 2)) {
        set_ctx(m, "snapshot renew", mj);
        EXPECT_RC(m, journal_snapshot_renew(snap), 0);
        EXPECT_RC(m, journal_snapshot_bounds(snap, &b, &e), 0);
        cr_assert_eq(b, mj->begin, "%s: renewed begin %llu", m->ctx, (unsigned long long)b);
        cr_assert_eq(e, mj->end, "%s: renewed end %llu", m->ctx, (unsigned long long)e);
        run_range(m, mj, snap, mj->begin, mj->end);
    }
    journal_snapshot_end(snap);
}

struct list_check {
    struct model *m;
    size_t n;
};

static int check_listed(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct list_check *l = arg;
    const struct mjournal *mj;
    cr_assert_lt(l->n, NJ, "%s: too many journals listed", l->m->ctx);
    mj = &l->m->j[l->n++];
    cr_assert_str_eq(name, mj->name, "%s: listed out of order", l->m->ctx);
    cr_assert_eq(begin, mj->begin, "%s: %s listed with begin %llu", l->m->ctx, name, (unsigned long long)begin);
    cr_assert_eq(end, mj->end, "%s: %s listed with end %llu", l->m->ctx, name, (unsigned long long)end);
    return 0;
}

static void op_list(struct model *m)
{
    struct list_check l = {m, 0};
    set_ctx(m, "list", NULL);
    EXPECT_RC(m, journal_store_list(m->s, check_listed, &l), 0);
    cr_assert_eq(l.n, NJ, "%s: %zu journals listed", m->ctx, l.n);
}

static void open_all(struct model *m)
{
    journal_options o = {0};
    int rc;
    o.flags = JOURNAL_NOSYNC;
    set_ctx(m, "open", NULL);
    rc = journal_store_open(m->path, &o, &m->s);
    EXPECT_RC(m, rc, 0);
    for (int i = 0; i < NJ; i++) {
        rc = journal_open(m->s, m->j[i].name, &m->j[i].h);
        EXPECT_RC(m, rc, 0);
    }
    m->c = (journal_counters){0};
}

static void close_all(struct model *m)
{
    check_counters(m);
    for (int i = 0; i < NJ; i++)
        EXPECT_RC(m, journal_close(m->j[i].h), 0);
    EXPECT_RC(m, journal_store_close(m->s), 0);
}

static void op_reopen(struct model *m)
{
    set_ctx(m, "reopen", NULL);
    close_all(m);
    open_all(m);
}

Test(model, random_operations_match_an_in_memory_model, .timeout = 120)
{
    struct model m = {0};
    m.seed = tu_seed("JOURNAL_TEST_SEED");
    m.rng = m.seed;
    m.path = tu_store();
    for (int i = 0; i < NJ; i++)
        m.j[i].name = names[i];
    open_all(&m);

    for (m.op = 0; m.op < NOPS; m.op++) {
        struct mjournal *mj = &m.j[rnd(&m, NJ)];
        uint64_t r = rnd(&m, 100);
        if (r < 30)
            op_append_at_end(&m, mj);
        else if (r < 38)
            op_append_elsewhere(&m, mj);
        else if (r < 46)
            op_batch(&m, mj);
        else if (r < 60)
            op_get(&m, mj);
        else if (r < 68)
            op_range(&m, mj);
        else if (r < 77)
            op_truncate(&m, mj);
        else if (r < 87)
            op_snapshot(&m, mj);
        else if (r < 94)
            op_list(&m);
        else if (r < 96)
            op_reopen(&m);
        else
            check_counters(&m);
        set_ctx(&m, "bounds after the operation", mj);
        check_bounds(&m, mj);
    }

    /* Every record the model holds is in the store, byte for byte. */
    m.op = NOPS;
    for (int i = 0; i < NJ; i++) {
        struct mjournal *mj = &m.j[i];
        struct delivery d = {&m, mj, mj->begin, 0, 0, 0};
        set_ctx(&m, "final range", mj);
        check_bounds(&m, mj);
        EXPECT_RC(&m, journal_range(mj->h, mj->begin, check_delivery, &d), mj->begin < mj->end ? 0 : JOURNAL_ENOTFOUND);
        cr_assert_eq(d.next, mj->end, "%s", m.ctx);
        m.c.range_records += d.calls;
    }
    set_ctx(&m, "final check", NULL);
    EXPECT_RC(&m, journal_store_check(m.s, NULL, NULL), 0);
    close_all(&m);
    for (int i = 0; i < NJ; i++) {
        for (journal_pos p = 0; p < m.j[i].end; p++)
            free(m.j[i].recs[p].data);
        free(m.j[i].recs);
    }
}
