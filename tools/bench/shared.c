/*
 * shared.c - --pg-shared: what the users of one PostgreSQL store meet.
 *
 * Scenarios of a store shared by processes and threads, pg against pgraw,
 * each measured in child processes of its own (one per process of the
 * scenario), rounds alternating which goes first. The hand-written side
 * does the least equivalent correct work: its own connection per thread,
 * one LISTEN that stays for the whole run and a notification in every
 * append for the wait, the same lock-then-read truncation step.
 */
#define _GNU_SOURCE /* usleep() */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PX_ROWS 16

/* The positions the wait scenario waits for, each round. */
#define PX_WAITS 200
/* The records of the journal the gets read. */
#define PX_GETS 1000

struct px_row {
    char name[40];
    const char *unit; /* "ops/s", or "ms" for the latencies */
    double v[NIMPL][64];
    double p99[NIMPL][64];
    unsigned bad[NIMPL]; /* truncations that gave neither 0 nor EBEYOND */
};

/* What a child reports. */
struct px_res {
    int ok;
    uint64_t ops;
    int64_t t0, t1;
    unsigned bad;
};

static void px_url(const struct bench *b, const char *tag, enum impl im, char *buf, size_t n)
{
    snprintf(buf, n, "%s%cjournal_schema=bench_%ld_x%s_%s", b->pg_url, strchr(b->pg_url, '?') ? '&' : '?', b->pid, tag,
             impl_names[im]);
}

struct px_steps;

/* Runs fn(arg, idx, out) in n children; each writes one struct px_res to
 * the pipe. The children start their timed part together: each reports
 * ready (one byte), then waits for end of file on `go`. */
struct px_job {
    const struct bench *b;
    enum impl im;
    const char *url;
    unsigned n;   /* children */
    uint64_t ops; /* per child */
    uint64_t param;
    const char *jname;            /* the journal the scenario uses */
    const struct px_steps *steps; /* its children's, but for the threads */
    int ack[2];                   /* the wait scenario's pipe from waiter to appender */
    int times;                    /* the pipe its children send their timestamps on */
};

static int px_open(struct px_job *j, struct bstore *st, struct bjournal *h, const char *name, enum dur dur);
static void px_close(struct bstore *st, struct bjournal *h);

static int px_gated; /* in a child: it passed px_gate() */

static int px_gate(int ready, int go)
{
    char c = 'r';
    px_gated = 1;
    if (write_all(ready, &c, 1) != 0)
        return fail("ready pipe: %s", strerror(errno));
    read_all(go, &c, 1); /* end of file: go */
    return 0;
}

static int px_fork(struct px_job *j, int (*fn)(struct px_job *, unsigned, int, int, struct px_res *),
                   struct px_res *out)
{
    int ready[2], go[2], res[2], rc = 0;
    pid_t pid[MAX_THREADS];
    unsigned started = 0;
    char c;
    /* The journal is made first, by one child: creators racing on a name
     * are the library's business, not the floor's. */
    fflush(NULL);
    pid[0] = fork();
    if (pid[0] == 0) {
        struct bstore st;
        struct bjournal h;
        int setup = px_open(j, &st, &h, j->jname, DUR_NONE);
        if (setup != 0)
            fprintf(stderr, "%s: %s\n", PROG, err_msg);
        px_close(&st, &h);
        _exit(setup == 0 ? 0 : 1);
    }
    if (pid[0] < 0 || waitpid(pid[0], &rc, 0) < 0 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
        return fail("the setup of a scenario failed");
    rc = 0;
    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(res) != 0)
        return fail("pipe: %s", strerror(errno));
    for (unsigned i = 0; i < j->n; i++) {
        pid[i] = fork();
        if (pid[i] < 0) {
            rc = fail("fork: %s", strerror(errno));
            break;
        }
        if (pid[i] == 0) {
            struct px_res r = {0};
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            r.ok = fn(j, i, ready[1], go[0], &r) == 0;
            if (!r.ok)
                fprintf(stderr, "%s: %s\n", PROG, err_msg);
            if (!px_gated)
                write_all(ready[1], "f", 1); /* so that the parent does not wait */
            write_all(res[1], &r, sizeof r);
            _exit(r.ok ? 0 : 1);
        }
        started++;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    for (unsigned i = 0; i < started; i++)
        if ((read_all(ready[0], &c, 1) != 1 || c != 'r') && rc == 0)
            rc = fail("a child of the scenario failed before it was ready");
    close(go[1]);
    memset(out, 0, sizeof *out);
    out->t0 = INT64_MAX;
    for (unsigned i = 0; i < started; i++) {
        struct px_res r;
        if (read_all(res[0], &r, sizeof r) != sizeof r || !r.ok) {
            if (rc == 0)
                rc = fail("a child of the scenario failed");
            continue;
        }
        out->ops += r.ops;
        out->bad += r.bad;
        out->t0 = r.t0 < out->t0 ? r.t0 : out->t0;
        out->t1 = r.t1 > out->t1 ? r.t1 : out->t1;
    }
    for (unsigned i = 0; i < started; i++)
        waitpid(pid[i], NULL, 0);
    close(ready[0]);
    close(res[0]);
    out->ok = rc == 0;
    return rc;
}

/* 0 or JOURNAL_EBEYOND; anything else is BENCH_FAIL or counted bad. */
static int px_truncate(struct bjournal *h, journal_pos to, unsigned *bad)
{
    return h->st->ops->truncate(h, to, bad);
}

static int px_open(struct px_job *j, struct bstore *st, struct bjournal *h, const char *name, enum dur dur)
{
    int rc;
    memset(h, 0, sizeof *h);
    rc = b_store_open(st, j->im, j->url, dur);
    if (rc == 0)
        rc = b_journal_open(h, st, name, 1);
    return rc;
}

static void px_close(struct bstore *st, struct bjournal *h)
{
    b_journal_close(h);
    b_store_close(st);
}

/* Fills journal g up to PX_GETS records. */
static int px_fill_g(struct bjournal *h, const struct bench *b)
{
    journal_pos begin, end;
    int rc = b_bounds(h, &begin, &end);
    for (journal_pos p = end; p < PX_GETS && rc == 0; p += FILL_BATCH)
        rc = b_append(h, b->batch, FILL_BATCH);
    return rc;
}

/*
 * A child of a scenario on one journal (j->jname) runs in one frame: the
 * store and the journal opened (dur), an untimed setup, the gate, `step`
 * for i = 0 to j->ops - 1 timed, and `finish` (also after a failure, with
 * its rc), then both closed.
 */
struct px_child {
    struct px_job *j;
    unsigned idx;
    struct bstore st;
    struct bjournal h;
    journal_pos base; /* where truncations start, or the first position waited for */
    struct px_res *r;
    journal_record big; /* the large scenario's record */
};

struct px_steps {
    enum dur dur;
    int (*setup)(struct px_child *c);
    int (*step)(struct px_child *c, uint64_t i);
    int (*finish)(struct px_child *c, int rc);
};

static int px_steps_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    const struct px_steps *k = j->steps;
    struct px_child c = {.j = j, .idx = idx, .r = r};
    int rc = px_open(j, &c.st, &c.h, j->jname, k->dur);
    if (rc == 0 && k->setup)
        rc = k->setup(&c);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++)
        rc = k->step(&c, i);
    r->t1 = now_ns();
    r->ops = j->ops;
    if (k->finish)
        rc = k->finish(&c, rc);
    px_close(&c.st, &c.h);
    return rc;
}

/* Connect and open: a store handle, a journal, its bounds, closed again;
 * by hand a connection and one select of the journal's row. */
static int connect_setup(struct px_child *c)
{
    b_journal_close(&c->h);
    return 0;
}

static int connect_step(struct px_child *c, uint64_t i)
{
    journal_pos b, e;
    int rc;
    (void)i;
    if (c->st.ops->connect_find)
        return c->st.ops->connect_find(&c->st, c->j->jname);
    b_store_close(&c->st);
    rc = px_open(c->j, &c->st, &c->h, c->j->jname, DUR_NONE);
    if (rc == 0)
        rc = b_bounds(&c->h, &b, &e);
    b_journal_close(&c->h);
    return rc;
}

static const struct px_steps px_connect = {DUR_NONE, connect_setup, connect_step, NULL};

/* Appends from several processes to one journal, each with its own
 * connections, durably, retrying at the new end after a conflict. */
static int append_step(struct px_child *c, uint64_t i)
{
    (void)i;
    return b_append_retry(&c->h, c->j->b->batch);
}

static const struct px_steps px_append = {DUR_SYNC, NULL, append_step, NULL};

/* Truncation: a journal of ops * param records, cut param at a time. */
static int trunc_setup(struct px_child *c)
{
    journal_pos e;
    int rc = 0;
    for (uint64_t done = 0; done < c->j->ops * c->j->param && rc == 0; done += FILL_BATCH)
        rc = b_append(&c->h, c->j->b->batch, FILL_BATCH);
    return rc ? rc : b_bounds(&c->h, &c->base, &e);
}

static int trunc_step(struct px_child *c, uint64_t i)
{
    return px_truncate(&c->h, c->base + (i + 1) * c->j->param, NULL);
}

static const struct px_steps px_trunc = {DUR_NOSYNC, trunc_setup, trunc_step, NULL};

/* Truncation racing appends: child 0 truncates to the end it just read,
 * or one past it, ops times; the others append. The rate is the
 * truncator's. */
static int race_step(struct px_child *c, uint64_t i)
{
    journal_pos b, e;
    int rc;
    if (c->idx > 0)
        return b_append_retry(&c->h, c->j->b->batch);
    rc = b_bounds(&c->h, &b, &e);
    if (rc == 0)
        rc = px_truncate(&c->h, e + (i % 2), &c->r->bad);
    return rc == JOURNAL_EBEYOND ? 0 : rc;
}

static int race_finish(struct px_child *c, int rc)
{
    if (c->idx > 0) {
        c->r->ops = 0;
        c->r->t0 = INT64_MAX;
        c->r->t1 = 0;
    }
    return rc;
}

static const struct px_steps px_race = {DUR_NOSYNC, NULL, race_step, race_finish};

/* journal_wait() latency from another process: child 0 waits for each
 * position in turn and sends its wake-up time; child 1 appends, sending
 * the time it started each append, then waits for the waiter's ack and a
 * little more, so that the waiter is asleep when the next append comes. */
static int wait_setup(struct px_child *c)
{
    journal_pos e;
    int rc = b_bounds(&c->h, &e, &c->base);
    return rc ? rc : c->st.ops->wait_setup(&c->h, c->idx == 0);
}

static int wait_step(struct px_child *c, uint64_t i)
{
    struct px_job *j = c->j;
    journal_pos pos = c->base + i; /* the end before the first append */
    int64_t t = now_ns();
    char a = 'a';
    int rc;

    if (c->idx == 1) {
        rc = c->st.ops->append_notify(&c->h, pos, j->b->rec, j->b->size);
        if (rc == 0 && write_all(j->times, &t, sizeof t) != 0)
            rc = fail("times pipe: %s", strerror(errno));
        if (rc == 0 && read_all(j->ack[0], &a, 1) != 1)
            rc = fail("the waiter is gone");
        usleep(2000);
        return rc;
    }
    rc = c->st.ops->wait(&c->h, pos);
    t = now_ns();
    if (rc == 0 && (write_all(j->times, &t, sizeof t) != 0 || write_all(j->ack[1], &a, 1) != 0))
        rc = fail("pipes: %s", strerror(errno));
    return rc;
}

static const struct px_steps px_wait = {DUR_NOSYNC, wait_setup, wait_step, NULL};

/* Threads of one process doing copying gets of a 1,000-record journal: on
 * pg they share one store handle (its pool), on pgraw each has its own
 * connection. */
struct px_thread {
    struct thread_part part;
    struct bstore *st;
    unsigned idx;
};

static void *px_thread_main(void *arg)
{
    struct px_thread *t = arg;
    struct bjournal h;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (t->idx + 1), i;
    int state;
    t->part.rc = b_journal_open(&h, t->st, "g", 1);
    state = thread_start(&t->part);
    t->part.t0 = now_ns();
    for (i = 0; i < t->part.ops && t->part.rc == 0 && state > 0; i++) {
        void *rec;
        size_t len;
        t->part.rc = b_get(&h, rnd_next(&seed) % PX_GETS, &rec, &len);
        if (t->part.rc == 0)
            free(rec);
    }
    t->part.t1 = now_ns();
    t->part.ops = i;
    b_journal_close(&h);
    return NULL;
}

static int px_threads_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    struct px_thread t[MAX_THREADS];
    struct thread_part sum;
    unsigned n = (unsigned)j->param;
    int rc = px_open(j, &st, &h, j->jname, DUR_NONE);
    (void)idx;
    if (rc == 0)
        rc = px_fill_g(&h, j->b);
    b_journal_close(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    for (unsigned i = 0; i < n; i++) {
        t[i] = (struct px_thread){.st = &st, .idx = i};
        t[i].part.ops = j->ops;
    }
    rc = run_threads(n, px_thread_main, t, sizeof t[0], rc, &sum);
    r->t0 = sum.t0;
    r->t1 = sum.t1;
    r->ops = sum.ops;
    b_store_close(&st);
    return rc;
}

/* A snapshot begun, its bounds read, one get, ended (param 0); or renewed
 * and one get (param 1). By hand: BEGIN REPEATABLE READ, the bounds, the
 * get, ROLLBACK. */
static int snap_setup(struct px_child *c)
{
    int rc = px_fill_g(&c->h, c->j->b);
    if (rc == 0 && c->j->param == 1)
        rc = b_snap_begin(&c->h);
    return rc;
}

static int snap_step(struct px_child *c, uint64_t i)
{
    journal_pos b, e;
    const void *rec;
    size_t len;
    int rc = c->j->param == 0 ? b_snap_begin(&c->h) : c->st.ops->snap_renew(&c->h);
    /* The library's snapshot reads the bounds; by hand, a select. */
    if (rc == 0 && c->j->im == IMPL_PGRAW)
        rc = b_bounds(&c->h, &b, &e);
    if (rc == 0)
        rc = b_snap_get(&c->h, i % PX_GETS, &rec, &len);
    if (rc == 0 && c->j->param == 0)
        rc = b_snap_end(&c->h);
    return rc;
}

static int snap_finish(struct px_child *c, int rc)
{
    if (rc == 0 && c->j->param == 1)
        rc = b_snap_end(&c->h);
    return rc;
}

static const struct px_steps px_snap = {DUR_NONE, snap_setup, snap_step, snap_finish};

/* Records of param bytes: appended (ops of them), then each read back, the
 * gets timed from t1 on and reported as bad, in µs. */
static int large_setup(struct px_child *c)
{
    unsigned char *big = malloc(c->j->param);
    if (!big)
        return fail("out of memory");
    memset(big, 0x5a, c->j->param);
    c->big = (journal_record){big, c->j->param};
    return 0;
}

static int large_step(struct px_child *c, uint64_t i)
{
    (void)i;
    return b_append(&c->h, &c->big, 1);
}

static int large_finish(struct px_child *c, int rc)
{
    journal_pos b = 0, e = 0;
    if (rc == 0)
        rc = b_bounds(&c->h, &b, &e);
    for (journal_pos p = e - c->j->ops; p < e && rc == 0; p++) {
        void *got;
        size_t len;
        rc = b_get(&c->h, p, &got, &len);
        if (rc == 0)
            free(got);
    }
    c->r->bad = (unsigned)((now_ns() - c->r->t1) / 1000);
    free((void *)c->big.data);
    return rc;
}

static const struct px_steps px_large = {DUR_NOSYNC, large_setup, large_step, large_finish};

static struct px_row px_rows[PX_ROWS];
static unsigned px_nrows;

static struct px_row *px_row(const char *name, const char *unit)
{
    for (unsigned i = 0; i < px_nrows; i++)
        if (strcmp(px_rows[i].name, name) == 0)
            return &px_rows[i];
    snprintf(px_rows[px_nrows].name, sizeof px_rows[px_nrows].name, "%s", name);
    px_rows[px_nrows].unit = unit;
    return &px_rows[px_nrows++];
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return a < c ? -1 : a > c;
}

/* The wait scenario: its own pipes, latencies from the two children's
 * times. */
static int px_wait_round(struct px_job *j, unsigned round, const char *rowname)
{
    int times[2], rc;
    struct px_res res;
    int64_t start[PX_WAITS], wake[PX_WAITS], lat[PX_WAITS];
    struct px_row *row = px_row(rowname, "ms");
    if (pipe(times) != 0 || pipe(j->ack) != 0)
        return fail("pipe: %s", strerror(errno));
    j->times = times[1];
    /* The children's times come interleaved: the appender's start, then
     * the waiter's wake-up, per position, ordered by the ack. */
    {
        pid_t pid = fork();
        if (pid == 0) {
            close(times[0]);
            _exit(px_fork(j, px_steps_child, &res) == 0 ? 0 : 1);
        }
        close(times[1]);
        close(j->ack[0]);
        close(j->ack[1]);
        for (unsigned i = 0; i < PX_WAITS; i++) {
            if (read_all(times[0], &start[i], sizeof start[i]) != sizeof start[i] ||
                read_all(times[0], &wake[i], sizeof wake[i]) != sizeof wake[i])
                break;
            lat[i] = wake[i] - start[i];
        }
        close(times[0]);
        waitpid(pid, &rc, 0);
        if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
            return fail("the wait scenario failed");
    }
    qsort(lat, PX_WAITS, sizeof lat[0], cmp_i64);
    row->v[j->im][round] = lat[PX_WAITS / 2] / 1e6;
    row->p99[j->im][round] = lat[PX_WAITS * 99 / 100] / 1e6;
    return 0;
}

/* The scenarios, in the order of the table: the schema's tag, the journal,
 * the row (%u: param), what the children do, how many, each one's
 * operations (quick or not; divided by param for the threads), param, and
 * what a child's `bad` says. The wait scenario times itself. */
enum px_bad { PX_BAD_NONE, PX_BAD_COUNT, PX_BAD_GET_US };

static const struct {
    const char *tag, *jname, *row;
    const struct px_steps *steps; /* NULL: the threads */
    unsigned n;
    uint64_t quick, full, param;
    int per_param;
    enum px_bad bad;
} px_scenarios[] = {
    {"conn", "c", "connect + open + bounds", &px_connect, 1, 5, 20, 0, 0, PX_BAD_NONE},
    {"app", "shared", "append, 4 procs, durable", &px_append, 4, 50, 300, 0, 0, PX_BAD_NONE},
    {"trunc", "t", "truncate 100 records", &px_trunc, 1, 20, 100, 100, 0, PX_BAD_NONE},
    {"race", "race", "truncate racing 2 appenders", &px_race, 3, 50, 300, 0, 0, PX_BAD_COUNT},
    {"wait", "w", "wait latency, 2 procs", &px_wait, 2, PX_WAITS, PX_WAITS, 0, 0, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", NULL, 1, 2000, 16000, 8, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", NULL, 1, 2000, 16000, 16, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", NULL, 1, 2000, 16000, 32, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", NULL, 1, 2000, 16000, 64, 1, PX_BAD_NONE},
    {"snap", "g", "snapshot begin+get+end", &px_snap, 1, 200, 2000, 0, 0, PX_BAD_NONE},
    {"snap", "g", "snapshot renew + get", &px_snap, 1, 200, 2000, 1, 0, PX_BAD_NONE},
    {"large", "large", "append 1 MiB, no-sync", &px_large, 1, 5, 30, 1u << 20, 0, PX_BAD_GET_US},
};

static int px_measure(const struct bench *b, enum impl im, unsigned round)
{
    char url[PATH_MAX + 96], name[40];
    struct px_job j = {.b = b, .im = im, .url = url};
    struct px_res r;
    struct px_row *row;
    int rc;
    double s;

    for (size_t k = 0; k < sizeof px_scenarios / sizeof px_scenarios[0]; k++) {
        px_url(b, px_scenarios[k].tag, im, url, sizeof url);
        j.jname = px_scenarios[k].jname;
        j.n = px_scenarios[k].n;
        j.param = px_scenarios[k].param;
        j.ops = b->quick ? px_scenarios[k].quick : px_scenarios[k].full;
        if (px_scenarios[k].per_param)
            j.ops /= j.param;
        j.steps = px_scenarios[k].steps;
        if (j.steps == &px_wait) {
            if ((rc = px_wait_round(&j, round, px_scenarios[k].row)) != 0)
                return rc;
            continue;
        }
        if ((rc = px_fork(&j, j.steps ? px_steps_child : px_threads_child, &r)) != 0)
            return rc;
        snprintf(name, sizeof name, px_scenarios[k].row, (unsigned)j.param);
        row = px_row(name, "ops/s");
        s = (double)(r.t1 - r.t0) / 1e9;
        row->v[im][round] = s > 0 ? (double)r.ops / s : 0;
        if (px_scenarios[k].bad == PX_BAD_COUNT)
            row->bad[im] += r.bad;
        else if (px_scenarios[k].bad == PX_BAD_GET_US)
            px_row("get 1 MiB", "ops/s")->v[im][round] = r.bad > 0 ? (double)r.ops / (r.bad / 1e6) : 0;
    }
    return 0;
}

/* Runs the scenarios b->rounds times, alternating which implementation
 * goes first, and prints the medians. */
int pg_shared_run(const struct bench *b)
{
    unsigned rounds = b->rounds < 64 ? b->rounds : 64;
    for (unsigned round = 0; round < rounds && !stop_signal; round++) {
        for (int k = 0; k < 2; k++) {
            enum impl im = (round + (unsigned)k) % 2 ? IMPL_PGRAW : IMPL_PG;
            int rc;
            progress(0, "pg-shared: round %u/%u, %s", round + 1, rounds, impl_names[im]);
            if ((rc = px_measure(b, im, round)) != 0) {
                fprintf(stderr, "%s: %s\n", PROG, err_msg);
                return 1;
            }
        }
    }
    printf("PostgreSQL %s, shared-store scenarios, median of %u rounds (pg/pgraw: time ratio, above 1 is slower)\n",
           b->pg_version, rounds);
    printf("%-30s %-6s %12s %12s %8s %s\n", "scenario", "unit", "pg", "pgraw", "pg/pgraw", "");
    for (unsigned i = 0; i < px_nrows; i++) {
        struct px_row *w = &px_rows[i];
        double pg = median(w->v[IMPL_PG], rounds), raw = median(w->v[IMPL_PGRAW], rounds);
        int ms = strcmp(w->unit, "ms") == 0;
        double ratio = ms ? pg / raw : raw / pg;
        char extra[96] = "";
        if (ms)
            snprintf(extra, sizeof extra, "p99 %.2f / %.2f ms", median(w->p99[IMPL_PG], rounds),
                     median(w->p99[IMPL_PGRAW], rounds));
        else if (strstr(w->name, "racing"))
            snprintf(extra, sizeof extra, "neither 0 nor EBEYOND: %u / %u", w->bad[IMPL_PG], w->bad[IMPL_PGRAW]);
        printf("%-30s %-6s %12.*f %12.*f %7.2fx %s\n", w->name, w->unit, ms ? 2 : 0, pg, ms ? 2 : 0, raw, ratio, extra);
    }
    return 0;
}
