/*
 * scenarios.c - the rows of the table (scenarios 1 to 11 of --scenario)
 * and the timed loop each kind of row runs on one journal.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Where measured loops leave a value, so the compiler keeps the reads. */
static volatile uint64_t sink;

static struct row *add_row(struct bench *b, const char *name, const char *key, enum kind kind, enum dur dur,
                           const char *unit, uint64_t ops)
{
    struct row *rw = &b->rows[b->nrows++];
    memset(rw, 0, sizeof *rw);
    snprintf(rw->name, sizeof rw->name, "%s", name);
    snprintf(rw->key, sizeof rw->key, "%s", key);
    rw->kind = kind;
    rw->dur = dur;
    rw->unit = unit;
    rw->ops = ops;
    rw->spec.journals = 1;
    return rw;
}

/*
 * Scenario 11: the reads on the layouts a user's store may have, each
 * against the raw floor on a store of the same layout (SQLite, whose file
 * has no such layouts, runs only on the first). The library's cost may
 * depend on where LMDB put the pages it reads (see doc/performance.md), so
 * the README shows each read at its worst layout.
 */
#define NLAYOUTS 7

static void add_layout_rows(struct bench *b)
{
    static const struct {
        enum kind kind;
        const char *name, *unit;
    } reads[] = {{K_BOUNDS, "bounds", "call/s"},
                 {K_RANGE, "range", "rec/s"},
                 {K_SNAPRANGE, "snapshot-range", "rec/s"},
                 {K_GET, "get", "get/s"},
                 {K_SNAPGET, "snapshot-get", "get/s"}};
    struct {
        const char *label; /* %s: the record count */
        char key[40];
        struct spec spec;
        int fresh;
    } lay[NLAYOUTS];
    char c[24], label[24], name[40];
    unsigned n = 0;

    fmt_count(c, sizeof c, b->records);
    lay[n++] = (__typeof__(lay[0])){"b%s-fresh", "fresh", {0, 1, b->records, 0}, 1};
    lay[n++] = (__typeof__(lay[0])){"b%s", "read", {0, 1, b->records, 0}, 0};
    lay[n++] = (__typeof__(lay[0])){"s%s", "single", {0, 1, b->records, 1}, 0};
    lay[n++] = (__typeof__(lay[0])){"b%s", "batch-large", {0, 1, b->records * 10, 0}, 0};
    lay[n++] = (__typeof__(lay[0])){"s%s", "single-large", {0, 1, b->records * 10, 1}, 0};
    /* The layout of issue 15: 500 batches of 1,000, reopened. */
    lay[n++] = (__typeof__(lay[0])){"issue15", "issue15", {0, 1, b->records * 5, 0}, 0};
    /* The journal store of scenario 10 (keyed alike, so that both share it). */
    fmt_count(c, sizeof c, b->journals);
    lay[n] = (__typeof__(lay[0])){"j%s", "", {b->journals - 1, 1, b->scale[0], 0}, 0};
    snprintf(lay[n++].key, sizeof lay[0].key, "journals-%s", c);

    for (unsigned l = 0; l < n; l++) {
        fmt_count(c, sizeof c, l == n - 1 ? b->journals : lay[l].spec.records);
        snprintf(label, sizeof label, lay[l].label, c);
        /* Ranges over a small journal make more passes, so that each
         * measurement lasts as long as on the read journal. */
        uint64_t passes = b->passes * (lay[l].spec.records < b->records ? b->records / lay[l].spec.records : 1);
        for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
            int ranged = reads[r].kind == K_RANGE || reads[r].kind == K_SNAPRANGE;
            struct row *rw;
            /* The first layout's reads but snapshot-range are scenarios 4 to 7. */
            if (l == 1 && reads[r].kind != K_SNAPRANGE)
                continue;
            snprintf(name, sizeof name, "%s@%s", reads[r].name, label);
            rw = add_row(b, name, lay[l].key, reads[r].kind, DUR_NONE, reads[r].unit,
                         ranged ? passes * lay[l].spec.records : b->reads);
            rw->spec = lay[l].spec;
            rw->fresh = lay[l].fresh;
            rw->param = ranged ? passes : 0;
            rw->skip = IMPL_PGS | (l == 1 ? 0 : 1u << IMPL_SQLITE);
        }
    }
}

int build_rows(struct bench *b)
{
    size_t max = 16 + 2 * MAX_LIST + MAX_LIST + 2 * MAX_LIST + 4 + NLAYOUTS * 5 + 1;
    char name[40], key[40], c[24];
    struct spec read = {0, 1, b->records, 0};
    struct row *rw;

    b->rows = calloc(max, sizeof *b->rows);
    if (!b->rows)
        return -1;
    if (b->groups & 1u << 1)
        add_row(b, "append", "append", K_APPEND, DUR_SYNC, "rec/s", b->appends);
    if (b->groups & 1u << 2)
        add_row(b, "append-nosync", "nosync", K_APPEND, DUR_NOSYNC, "rec/s", b->appends);
    if (b->groups & 1u << 3) {
        fmt_count(c, sizeof c, b->batch_size);
        snprintf(name, sizeof name, "batch-%s", c);
        rw = add_row(b, name, "batch", K_BATCH, DUR_SYNC, "rec/s", b->batches * b->batch_size);
        rw->param = b->batch_size;
    }
    if (b->groups & 1u << 4)
        add_row(b, "get", "read", K_GET, DUR_NONE, "get/s", b->reads)->spec = read;
    if (b->groups & 1u << 5)
        add_row(b, "snapshot-get", "read", K_SNAPGET, DUR_NONE, "get/s", b->reads)->spec = read;
    if (b->groups & 1u << 6) {
        rw = add_row(b, "range", "read", K_RANGE, DUR_NONE, "rec/s", b->passes * b->records);
        rw->spec = read;
        rw->param = b->passes;
    }
    if (b->groups & 1u << 7)
        add_row(b, "bounds", "read", K_BOUNDS, DUR_NONE, "call/s", b->reads)->spec = read;
    if (b->groups & 1u << 8) {
        for (unsigned i = 0; i < b->nthreads; i++) {
            snprintf(name, sizeof name, "threads-own-%u", b->threads[i]);
            rw = add_row(b, name, name, K_THREADS, DUR_SYNC, "rec/s", b->appends);
            rw->param = b->threads[i];
            rw->spec.journals = b->threads[i];
        }
        for (unsigned i = 0; i < b->nthreads; i++) {
            if (b->threads[i] < 2)
                continue;
            snprintf(name, sizeof name, "threads-shared-%u", b->threads[i]);
            rw = add_row(b, name, name, K_THREADS, DUR_SYNC, "rec/s", b->appends);
            rw->param = b->threads[i];
            rw->shared = 1;
        }
    }
    if (b->groups & 1u << 9) {
        for (unsigned i = 0; i < b->nprocs; i++) {
            snprintf(name, sizeof name, "readers-%u", b->procs[i]);
            rw = add_row(b, name, "read", K_READERS, DUR_NONE, "get/s", b->reads);
            rw->spec = read;
            rw->param = b->procs[i];
        }
    }
    if (b->groups & 1u << 10) {
        for (unsigned i = 0; i < b->nscale; i++) {
            struct spec sp = {0, 1, b->scale[i], 0};
            unsigned skip = b->scale[i] > PG_SCALE_MAX ? IMPL_PGS : 0;
            fmt_count(c, sizeof c, b->scale[i]);
            snprintf(key, sizeof key, "scale-%s", c);
            snprintf(name, sizeof name, "scale-get-%s", c);
            rw = add_row(b, name, key, K_GET, DUR_NONE, "get/s", b->reads);
            rw->spec = sp;
            rw->skip = skip;
            snprintf(name, sizeof name, "scale-append-%s", c);
            rw = add_row(b, name, key, K_APPEND, DUR_NOSYNC, "rec/s", b->appends);
            rw->spec = sp;
            rw->skip = skip;
        }
        /* The measured journal is created last, so its records sort last
         * and the raw floor may use MDB_APPEND in both stores. */
        for (int many = 0; many < 2; many++) {
            uint64_t n = many ? b->journals : 1;
            struct spec sp = {n - 1, 1, b->scale[0], 0};
            fmt_count(c, sizeof c, n);
            snprintf(key, sizeof key, "journals-%s", c);
            snprintf(name, sizeof name, "journals-%s-get", c);
            add_row(b, name, key, K_GET, DUR_NONE, "get/s", b->reads)->spec = sp;
            snprintf(name, sizeof name, "journals-%s-append", c);
            add_row(b, name, key, K_APPEND, DUR_NOSYNC, "rec/s", b->appends)->spec = sp;
        }
    }
    if (b->groups & 1u << 11)
        add_layout_rows(b);
    for (size_t i = 0; i < b->nrows; i++)
        for (int im = 0; im < NIMPL; im++)
            if (!(b->rows[i].rate[im] = calloc(b->rounds, sizeof(double))))
                return -1;
    return 0;
}

void free_rows(struct bench *b)
{
    for (size_t i = 0; i < b->nrows; i++)
        for (int im = 0; im < NIMPL; im++)
            free(b->rows[i].rate[im]);
    free(b->rows);
}

/* ------------------------------------------------------------------------ */
/* The timed loop                                                           */

/* What one call of a loop works on. */
struct loop {
    const struct bench *b;
    const struct row *rw;
    struct bjournal *h;
    journal_pos begin;
    uint64_t span; /* records in the journal */
    uint64_t seed;
    struct acc a;
};

static int step_append(struct loop *l, uint64_t *ops)
{
    *ops = 1;
    return b_append(l->h, l->b->batch, 1);
}

static int step_batch(struct loop *l, uint64_t *ops)
{
    *ops = l->rw->param;
    return b_append(l->h, l->b->batch, (size_t)l->rw->param);
}

static int step_get(struct loop *l, uint64_t *ops)
{
    void *copy;
    size_t len;
    int rc = b_get(l->h, l->begin + rnd_next(&l->seed) % l->span, &copy, &len);
    *ops = 1;
    if (rc == 0) {
        l->a.sum += len + (len ? *(unsigned char *)copy : 0);
        free(copy);
    }
    return rc;
}

static int step_snapget(struct loop *l, uint64_t *ops)
{
    const void *p;
    size_t len;
    int rc = b_snap_get(l->h, l->begin + rnd_next(&l->seed) % l->span, &p, &len);
    *ops = 1;
    if (rc == 0)
        l->a.sum += len + (len ? *(const unsigned char *)p : 0);
    return rc;
}

static int step_range(struct loop *l, uint64_t *ops)
{
    *ops = l->span;
    return b_range(l->h, l->begin, &l->a);
}

static int step_snaprange(struct loop *l, uint64_t *ops)
{
    *ops = l->span;
    return b_snap_range(l->h, l->begin, &l->a);
}

static int step_bounds(struct loop *l, uint64_t *ops)
{
    journal_pos begin, end;
    int rc = b_bounds(l->h, &begin, &end);
    *ops = 1;
    l->a.sum += end;
    return rc;
}

/* How each kind of row loops: how often it reads the clock (reads every
 * 256th call, so that reading it costs them nothing measurable), whether
 * it runs in one snapshot, and for passes over the journal (param of
 * them), what must deliver every record. */
static const struct {
    uint64_t every;
    int snapshot;
    const char *passes;
} loops[] = {
    [K_APPEND] = {1, 0, NULL},    [K_BATCH] = {1, 0, NULL},    [K_GET] = {256, 0, NULL},
    [K_SNAPGET] = {256, 1, NULL}, [K_RANGE] = {1, 0, "range"}, [K_SNAPRANGE] = {1, 1, "snapshot range"},
    [K_BOUNDS] = {256, 0, NULL},
};

/* The loop of every kind: step until rw->ops operations are done (or the
 * passes), the time `until` comes or a step fails; *ops is how many were
 * done. Inlined where each kind calls it with its step, so that the step
 * is a direct call in the loop. */
static inline __attribute__((always_inline)) int timed_loop(struct loop *l, int (*step)(struct loop *, uint64_t *),
                                                            int64_t until, uint64_t *ops)
{
    const struct row *rw = l->rw;
    uint64_t i = 0, calls = 0, n;
    int rc = 0;

    while ((loops[rw->kind].passes ? calls < rw->param : i < rw->ops) && rc == 0 &&
           !time_up(until, calls, loops[rw->kind].every)) {
        rc = step(l, &n);
        i += n;
        calls++;
    }
    *ops = i;
    return rc;
}

int run_loop(const struct bench *b, const struct row *rw, struct bjournal *h, uint64_t seed, int64_t until,
             uint64_t *ops)
{
    struct loop l = {.b = b, .rw = rw, .h = h, .seed = seed};
    journal_pos end;
    int rc;

    if (rw->kind >= sizeof loops / sizeof loops[0])
        return fail("%s: not a row of one journal", rw->name);
    if ((rc = b_bounds(h, &l.begin, &end)) != 0)
        return rc;
    l.span = end - l.begin;
    if (l.span == 0 && rw->kind != K_APPEND && rw->kind != K_BATCH)
        return fail("the journal is empty");
    if (loops[rw->kind].snapshot && (rc = b_snap_begin(h)) != 0)
        return rc;
    switch (rw->kind) {
    case K_APPEND:
        rc = timed_loop(&l, step_append, until, ops);
        break;
    case K_BATCH:
        rc = timed_loop(&l, step_batch, until, ops);
        break;
    case K_GET:
        rc = timed_loop(&l, step_get, until, ops);
        break;
    case K_SNAPGET:
        rc = timed_loop(&l, step_snapget, until, ops);
        break;
    case K_RANGE:
        rc = timed_loop(&l, step_range, until, ops);
        break;
    case K_SNAPRANGE:
        rc = timed_loop(&l, step_snaprange, until, ops);
        break;
    case K_BOUNDS:
        rc = timed_loop(&l, step_bounds, until, ops);
        break;
    default:
        rc = fail("%s: not a row of one journal", rw->name);
        break;
    }
    if (loops[rw->kind].snapshot && b_snap_end(h) != 0 && rc == 0)
        rc = BENCH_FAIL;
    if (rc == 0 && loops[rw->kind].passes && l.a.n != *ops)
        rc = fail("%s delivered %" PRIu64 " records, not %" PRIu64, loops[rw->kind].passes, l.a.n, *ops);
    sink = l.a.sum;
    return rc;
}

/* Before reads are timed, one untimed pass over the journal brings its
 * pages into the process (the map) or into the page cache (SQLite), as in a
 * reader that has run for a while: the rounds measure that steady state,
 * not the page faults of a fresh process. */
int warm_up(const struct row *rw, struct bjournal *h)
{
    journal_pos begin, end;
    struct acc a = {0, 0};
    int rc;
    if (rw->kind != K_GET && rw->kind != K_SNAPGET && rw->kind != K_RANGE && rw->kind != K_SNAPRANGE &&
        rw->kind != K_READERS)
        return 0;
    if ((rc = b_bounds(h, &begin, &end)) != 0 || begin == end)
        return rc;
    rc = b_range(h, begin, &a);
    sink = a.sum;
    return rc;
}
