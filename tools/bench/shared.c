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
    const char *jname; /* the journal the scenario uses */
    int ack[2];        /* the wait scenario's pipe from waiter to appender */
    int times;         /* the pipe its children send their timestamps on */
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

/* Connect and open: a store handle, a journal, its bounds, closed again;
 * by hand a connection and one select of the journal's row. */
static int px_connect_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    int rc = px_open(j, &st, &h, "c", DUR_NONE);
    (void)idx;
    b_journal_close(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos b, e;
        if (st.ops->connect_find) {
            rc = st.ops->connect_find(&st, "c");
            continue;
        }
        b_store_close(&st);
        rc = px_open(j, &st, &h, "c", DUR_NONE);
        if (rc == 0)
            rc = b_bounds(&h, &b, &e);
        b_journal_close(&h);
    }
    r->t1 = now_ns();
    r->ops = j->ops;
    b_store_close(&st);
    return rc;
}

/* Appends from several processes to one journal, each with its own
 * connections, durably, retrying at the new end after a conflict. */
static int px_append_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    int rc = px_open(j, &st, &h, "shared", DUR_SYNC);
    (void)idx;
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++)
        rc = b_append_retry(&h, j->b->batch);
    r->t1 = now_ns();
    r->ops = j->ops;
    px_close(&st, &h);
    return rc;
}

/* Truncation: a journal of ops * param records, cut param at a time. */
static int px_trunc_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_pos b = 0, e = 0;
    int rc = px_open(j, &st, &h, "t", DUR_NOSYNC);
    (void)idx;
    for (uint64_t done = 0; done < j->ops * j->param && rc == 0; done += FILL_BATCH)
        rc = b_append(&h, j->b->batch, FILL_BATCH);
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 1; i <= j->ops && rc == 0; i++)
        rc = px_truncate(&h, b + i * j->param, NULL);
    r->t1 = now_ns();
    r->ops = j->ops;
    px_close(&st, &h);
    return rc;
}

/* Truncation racing appends: child 0 truncates to the end it just read,
 * or one past it, ops times; the others append. */
static int px_race_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    int rc = px_open(j, &st, &h, "race", DUR_NOSYNC);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos b, e;
        if (idx > 0) {
            rc = b_append_retry(&h, j->b->batch);
            continue;
        }
        rc = b_bounds(&h, &b, &e);
        if (rc == 0)
            rc = px_truncate(&h, e + (i % 2), &r->bad);
        if (rc == JOURNAL_EBEYOND)
            rc = 0;
    }
    r->t1 = now_ns();
    r->ops = idx == 0 ? j->ops : 0;
    if (idx > 0)
        r->t0 = INT64_MAX, r->t1 = 0; /* the rate is the truncator's */
    px_close(&st, &h);
    return rc;
}

/* journal_wait() latency from another process: child 0 waits for each
 * position in turn and sends its wake-up time; child 1 appends, sending
 * the time it started each append, then waits for the waiter's ack and a
 * little more, so that the waiter is asleep when the next append comes. */
static int px_wait_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    char c = 'a';
    int64_t t;
    journal_pos e0 = 0, b0;
    int rc = px_open(j, &st, &h, "w", DUR_NOSYNC);
    if (rc == 0)
        rc = b_bounds(&h, &b0, &e0);
    if (rc == 0)
        rc = st.ops->wait_setup(&h, idx == 0);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos pos = e0 + i;
        if (idx == 1) {
            t = now_ns();
            rc = st.ops->append_notify(&h, pos, j->b->rec, j->b->size);
            if (rc == 0 && write_all(j->times, &t, sizeof t) != 0)
                rc = fail("times pipe: %s", strerror(errno));
            if (rc == 0 && read_all(j->ack[0], &c, 1) != 1)
                rc = fail("the waiter is gone");
            usleep(2000);
            continue;
        }
        rc = st.ops->wait(&h, pos);
        t = now_ns();
        if (rc == 0 && (write_all(j->times, &t, sizeof t) != 0 || write_all(j->ack[1], &c, 1) != 0))
            rc = fail("pipes: %s", strerror(errno));
    }
    r->t1 = now_ns();
    px_close(&st, &h);
    return rc;
}

/* Journal g of PX_GETS records or more, open. */
static int px_open_g(struct px_job *j, struct bstore *st, struct bjournal *h, journal_pos *b, journal_pos *e)
{
    int rc = px_open(j, st, h, "g", DUR_NONE);
    if (rc == 0)
        rc = b_bounds(h, b, e);
    for (journal_pos p = *e; p < PX_GETS && rc == 0; p += FILL_BATCH)
        rc = b_append(h, j->b->batch, FILL_BATCH);
    return rc;
}

/* Threads of one process doing copying gets of a 1,000-record journal: on
 * pg they share one store handle (its pool), on pgraw each has its own
 * connection. */
struct px_thread {
    struct px_job *j;
    struct bstore *st;
    struct gate *gate;
    unsigned idx;
    int64_t t0, t1;
    int rc;
};

static void *px_thread_main(void *arg)
{
    struct px_thread *t = arg;
    struct bjournal h;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (t->idx + 1);
    int state;
    t->rc = b_journal_open(&h, t->st, "g", 1);
    state = gate_pass(t->gate);
    t->t0 = now_ns();
    for (uint64_t i = 0; i < t->j->ops && t->rc == 0 && state > 0; i++) {
        void *rec;
        size_t len;
        t->rc = b_get(&h, rnd_next(&seed) % PX_GETS, &rec, &len);
        if (t->rc == 0)
            free(rec);
    }
    t->t1 = now_ns();
    b_journal_close(&h);
    return NULL;
}

static int px_threads_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    struct px_thread t[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    struct gate gate = GATE_INIT;
    unsigned n = (unsigned)j->param, started = 0;
    journal_pos b, e;
    int rc = px_open_g(j, &st, &h, &b, &e);
    (void)idx;
    b_journal_close(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        t[i] = (struct px_thread){.j = j, .st = &st, .gate = &gate, .idx = i};
        if (pthread_create(&tid[i], NULL, px_thread_main, &t[i]) != 0)
            rc = fail("pthread_create failed");
        else
            started++;
    }
    gate_open(&gate, started, rc == 0);
    r->t0 = INT64_MAX;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        if (t[i].rc != 0 && rc == 0)
            rc = t[i].rc;
        r->t0 = t[i].t0 < r->t0 ? t[i].t0 : r->t0;
        r->t1 = t[i].t1 > r->t1 ? t[i].t1 : r->t1;
    }
    r->ops = (uint64_t)started * j->ops;
    b_store_close(&st);
    return rc;
}

/* A snapshot begun, its bounds read, one get, ended (param 0); or renewed
 * and one get (param 1). By hand: BEGIN REPEATABLE READ, the bounds, the
 * get, ROLLBACK. */
static int px_snap_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_pos b, e;
    const void *rec;
    size_t len;
    int rc = px_open_g(j, &st, &h, &b, &e);
    (void)idx;
    if (rc == 0 && j->param == 1)
        rc = b_snap_begin(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        rc = j->param == 0 ? b_snap_begin(&h) : st.ops->snap_renew(&h);
        /* The library's snapshot reads the bounds; by hand, a select. */
        if (rc == 0 && j->im == IMPL_PGRAW)
            rc = b_bounds(&h, &b, &e);
        if (rc == 0)
            rc = b_snap_get(&h, i % PX_GETS, &rec, &len);
        if (rc == 0 && j->param == 0)
            rc = b_snap_end(&h);
    }
    r->t1 = now_ns();
    r->ops = j->ops;
    if (rc == 0 && j->param == 1)
        rc = b_snap_end(&h);
    px_close(&st, &h);
    return rc;
}

/* Records of param bytes: appended (ops of them), then each read back. */
static int px_large_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_record rec;
    journal_pos b, e;
    unsigned char *big = malloc(j->param);
    int rc = big ? px_open(j, &st, &h, "large", DUR_NOSYNC) : fail("out of memory");
    (void)idx;
    if (!big)
        return rc;
    memset(big, 0x5a, j->param);
    rec = (journal_record){big, j->param};
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++)
        rc = b_append(&h, &rec, 1);
    r->t1 = now_ns();
    r->ops = j->ops;
    /* The gets are timed by the parent from t1 on: reported as bad ns. */
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    for (journal_pos p = e - j->ops; p < e && rc == 0; p++) {
        void *got;
        size_t len;
        rc = b_get(&h, p, &got, &len);
        if (rc == 0)
            free(got);
    }
    r->bad = (unsigned)((now_ns() - r->t1) / 1000); /* µs of the gets */
    px_close(&st, &h);
    free(big);
    return rc;
}

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
static int px_wait_round(struct px_job *j, unsigned round)
{
    int times[2], rc;
    struct px_res res;
    int64_t start[PX_WAITS], wake[PX_WAITS], lat[PX_WAITS];
    struct px_row *row = px_row("wait latency, 2 procs", "ms");
    if (pipe(times) != 0 || pipe(j->ack) != 0)
        return fail("pipe: %s", strerror(errno));
    j->times = times[1];
    /* The children's times come interleaved: the appender's start, then
     * the waiter's wake-up, per position, ordered by the ack. */
    {
        pid_t pid = fork();
        if (pid == 0) {
            close(times[0]);
            _exit(px_fork(j, px_wait_child, &res) == 0 ? 0 : 1);
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
 * the row (%u: param), the children and each one's operations (quick or
 * not; divided by param for the threads), param, and what a child's `bad`
 * says. The wait scenario (no fn) times itself. */
enum px_bad { PX_BAD_NONE, PX_BAD_COUNT, PX_BAD_GET_US };

static const struct {
    const char *tag, *jname, *row;
    int (*fn)(struct px_job *, unsigned, int, int, struct px_res *);
    unsigned n;
    uint64_t quick, full, param;
    int per_param;
    enum px_bad bad;
} px_scenarios[] = {
    {"conn", "c", "connect + open + bounds", px_connect_child, 1, 5, 20, 0, 0, PX_BAD_NONE},
    {"app", "shared", "append, 4 procs, durable", px_append_child, 4, 50, 300, 0, 0, PX_BAD_NONE},
    {"trunc", "t", "truncate 100 records", px_trunc_child, 1, 20, 100, 100, 0, PX_BAD_NONE},
    {"race", "race", "truncate racing 2 appenders", px_race_child, 3, 50, 300, 0, 0, PX_BAD_COUNT},
    {"wait", "w", NULL, NULL, 2, PX_WAITS, PX_WAITS, 0, 0, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", px_threads_child, 1, 2000, 16000, 8, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", px_threads_child, 1, 2000, 16000, 16, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", px_threads_child, 1, 2000, 16000, 32, 1, PX_BAD_NONE},
    {"thr", "g", "get, %u threads", px_threads_child, 1, 2000, 16000, 64, 1, PX_BAD_NONE},
    {"snap", "g", "snapshot begin+get+end", px_snap_child, 1, 200, 2000, 0, 0, PX_BAD_NONE},
    {"snap", "g", "snapshot renew + get", px_snap_child, 1, 200, 2000, 1, 0, PX_BAD_NONE},
    {"large", "large", "append 1 MiB, no-sync", px_large_child, 1, 5, 30, 1u << 20, 0, PX_BAD_GET_US},
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
        if (!px_scenarios[k].fn) {
            if ((rc = px_wait_round(&j, round)) != 0)
                return rc;
            continue;
        }
        if ((rc = px_fork(&j, px_scenarios[k].fn, &r)) != 0)
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
