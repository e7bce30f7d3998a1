/*
 * runner.c - runs the rows of the table: each store prepared once in a
 * child process, then rounds that alternate the implementations, rotating
 * which one goes first, so that drift of the machine (other load, the page
 * cache, the clock) falls on all alike; the table gives the median of the
 * rounds.
 *
 * Each measurement runs in a child process of its own: the parent never
 * opens a store (handles do not survive fork()), each round starts from the
 * state on disk, and wait4() gives the child's peak resident memory.
 */
#define _GNU_SOURCE /* wait4() */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static int is_pg(enum impl im)
{
    return im == IMPL_PG || im == IMPL_PGRAW;
}

/* The schema of a pg or pgraw store, unique in the run: the index of the
 * first row on the store names it. */
static void pg_schema(const struct bench *b, const struct row *rw, enum impl im, char *buf, size_t n)
{
    size_t first = (size_t)(rw - b->rows);
    for (size_t k = 0; k < first; k++) {
        if (strcmp(b->rows[k].key, rw->key) == 0) {
            first = k;
            break;
        }
    }
    snprintf(buf, n, "bench_%ld_%zu", b->pid, first * NIMPL + (size_t)im);
}

/* A directory for LMDB and SQLite; for pg and pgraw the URL with its own
 * journal_schema, last (pr_store_open() relies on that). */
static void store_path(const struct bench *b, const struct row *rw, enum impl im, char *buf, size_t n)
{
    char schema[64];
    if (is_pg(im)) {
        pg_schema(b, rw, im, schema, sizeof schema);
        snprintf(buf, n, "%s%cjournal_schema=%s", b->pg_url, strchr(b->pg_url, '?') ? '&' : '?', schema);
    } else {
        snprintf(buf, n, "%s/%s-%s", b->root, rw->key, impl_names[im]);
    }
}

/* Fills an open store as rw's spec says. */
static int fill(const struct bench *b, const struct row *rw, struct bstore *st)
{
    uint64_t per_txn = rw->spec.single ? 1 : FILL_BATCH;
    char name[16];
    struct bjournal h;
    int rc = b_create_others(st, rw->spec.others, b);

    for (unsigned i = 0; i < rw->spec.journals && rc == 0; i++) {
        snprintf(name, sizeof name, "j%u", i);
        rc = b_journal_open(&h, st, name, rw->spec.others + 1 + i);
        for (uint64_t done = 0; done < rw->spec.records && rc == 0; done += per_txn) {
            uint64_t n = rw->spec.records - done < per_txn ? rw->spec.records - done : per_txn;
            rc = b_append(&h, b->batch, (size_t)n);
        }
        b_journal_close(&h);
    }
    return rc;
}

/* Setup, in a child: the store of row rw for implementation im. A store of
 * single-record transactions is written for the library by the raw floor,
 * which writes the library's on-disk layout with the same transactions as
 * journal_append() but without syncing (the library always syncs the data
 * pages: a million of its appends would take most of an hour). Rows
 * measured fresh build their store in the measuring process instead. */
static int prepare(const struct bench *b, const struct row *rw, enum impl im)
{
    char path[PATH_MAX];
    struct bstore st;
    int rc;

    if (rw->fresh)
        return 0;
    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im == IMPL_JOURNAL && rw->spec.single ? IMPL_LMDB : im, path, DUR_NONE);
    if (rc == 0)
        rc = fill(b, rw, &st);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

static int measure_one(const struct bench *b, const struct row *rw, enum impl im, unsigned round, struct outcome *o)
{
    char path[PATH_MAX];
    struct bstore st;
    struct bjournal h;
    int rc;

    store_path(b, rw, im, path, sizeof path);
    memset(&h, 0, sizeof h);
    if (rw->fresh)
        rm_rf(path); /* each round writes its store anew */
    rc = b_store_open(&st, im, path, rw->fresh ? DUR_NONE : rw->dur);
    if (rc == 0 && rw->fresh)
        rc = fill(b, rw, &st);
    if (rc == 0)
        rc = b_journal_open(&h, &st, "j0", rw->spec.others + 1);
    if (rc == 0)
        rc = warm_up(rw, &h);
    if (rc == 0) {
        int64_t start = now_ns();
        o->t0 = b->cpu_clock ? cpu_ns() : start;
        rc = run_loop(b, rw, &h, round_seed(b, round), deadline(b, start), &o->ops);
        o->t1 = b->cpu_clock ? cpu_ns() : now_ns();
    }
    b_journal_close(&h);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

/* Threads open their journals, then start together. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned ready;
    int state; /* 0 wait, 1 go, -1 give up */
};

int thread_start(struct thread_part *p)
{
    struct gate *g = p->gate;
    int state;
    pthread_mutex_lock(&g->mu);
    g->ready++;
    pthread_cond_broadcast(&g->cv);
    while ((state = g->state) == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return state;
}

int run_threads(unsigned n, void *(*fn)(void *), void *args, size_t size, int rc, struct thread_part *sum)
{
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t tid[MAX_THREADS];
    unsigned started = 0;
    int err;

    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct thread_part *p = (struct thread_part *)((char *)args + i * size);
        p->gate = &gate;
        if ((err = pthread_create(&tid[i], NULL, fn, p)) != 0)
            rc = fail("pthread_create: %s", strerror(err));
        else
            started++;
    }
    pthread_mutex_lock(&gate.mu);
    while (gate.ready < started)
        pthread_cond_wait(&gate.cv, &gate.mu);
    gate.state = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    sum->t0 = INT64_MAX;
    sum->t1 = 0;
    sum->ops = 0;
    for (unsigned i = 0; i < started; i++) {
        struct thread_part *p = (struct thread_part *)((char *)args + i * size);
        pthread_join(tid[i], NULL);
        if (p->rc != 0 && rc == 0)
            rc = p->rc;
        sum->ops += p->ops;
        sum->t0 = p->t0 < sum->t0 ? p->t0 : sum->t0;
        sum->t1 = p->t1 > sum->t1 ? p->t1 : sum->t1;
    }
    return rc;
}

/* A thread of a threads-* row. */
struct worker {
    struct thread_part part;
    const struct bench *b;
    const struct row *rw;
    struct bstore *st;
    unsigned idx;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct row *rw = w->rw;
    unsigned which = rw->shared ? 0 : w->idx;
    char name[16];
    struct bjournal h;
    int64_t limit;
    uint64_t i;
    int state;

    snprintf(name, sizeof name, "j%u", which);
    w->part.rc = b_journal_open(&h, w->st, name, rw->spec.others + 1 + which);
    state = thread_start(&w->part);
    w->part.t0 = now_ns();
    limit = deadline(w->b, w->part.t0);
    for (i = 0; i < w->part.ops && w->part.rc == 0 && state > 0 && !time_up(limit, i, 1); i++)
        w->part.rc = rw->shared ? b_append_retry(&h, w->b->batch) : b_append(&h, w->b->batch, 1);
    w->part.t1 = now_ns();
    w->part.ops = i;
    b_journal_close(&h);
    return NULL;
}

/* param threads of one process share the store handle; each appends its
 * share of rw->ops, to its own journal or to j0. */
static int measure_threads(const struct bench *b, const struct row *rw, enum impl im, struct outcome *o)
{
    char path[PATH_MAX];
    struct bstore st;
    struct worker w[MAX_THREADS];
    struct thread_part sum;
    unsigned n = (unsigned)rw->param;
    int rc;

    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im, path, rw->dur);
    for (unsigned i = 0; i < n; i++) {
        w[i] = (struct worker){.b = b, .rw = rw, .st = &st, .idx = i};
        w[i].part.ops = rw->ops / n + (i < rw->ops % n);
    }
    rc = run_threads(n, worker_main, w, sizeof w[0], rc, &sum);
    o->t0 = sum.t0;
    o->t1 = sum.t1;
    o->ops = sum.ops;
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

static void reader_main(const struct bench *b, const struct row *rw, enum impl im, unsigned round, unsigned idx,
                        int ready, int go, int res)
{
    char path[PATH_MAX], c;
    struct bstore st;
    struct bjournal h;
    struct outcome o;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&h, 0, sizeof h);
    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im, path, rw->dur);
    if (rc == 0)
        rc = b_journal_open(&h, &st, "j0", rw->spec.others + 1);
    if (rc == 0)
        rc = warm_up(rw, &h);
    c = rc == 0 ? 'r' : 'f';
    write_all(ready, &c, 1);
    read_all(go, &c, 1);
    if (rc == 0) {
        struct row one = *rw;
        one.kind = K_GET;
        o.t0 = now_ns();
        rc = run_loop(b, &one, &h, round_seed(b, round) + idx, deadline(b, o.t0), &o.ops);
        o.t1 = now_ns();
    }
    b_journal_close(&h);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    o.ok = rc == 0;
    snprintf(o.err, sizeof o.err, "%s", err_msg);
    write_all(res, &o, sizeof o);
}

static int measure_readers(const struct bench *b, const struct row *rw, enum impl im, unsigned round, struct outcome *o)
{
    int ready[2], go[2], res[2], rc = 0;
    unsigned n = (unsigned)rw->param, forked = 0;
    pid_t pids[MAX_THREADS];
    char c;

    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(res) != 0)
        return fail("pipe: %s", strerror(errno));
    for (unsigned i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = fail("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            reader_main(b, rw, im, round, i, ready[1], go[0], res[1]);
            _exit(0);
        }
        pids[forked++] = pid;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    /* A reader that could not open the store says so ('f'), then reports
     * why with its outcome. */
    for (unsigned i = 0; i < forked; i++)
        if (read_all(ready[0], &c, 1) != 1 && rc == 0)
            rc = fail("a reader process died before it was ready");
    o->t0 = now_ns();
    close(go[1]); /* the start */
    o->t1 = 0;
    o->ops = 0;
    for (unsigned i = 0; i < forked; i++) {
        struct outcome r;
        if (read_all(res[0], &r, sizeof r) != sizeof r) {
            rc = rc ? rc : fail("a reader process died");
            continue;
        }
        if (!r.ok && rc == 0)
            rc = fail("%s", r.err);
        o->ops += r.ops;
        if (r.t1 > o->t1)
            o->t1 = r.t1;
    }
    for (unsigned i = 0; i < forked; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    close(ready[0]);
    close(res[0]);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Running children                                                         */

enum job { JOB_PREPARE, JOB_MEASURE, JOB_NOTHING };

/* Runs one job in a child; *rss_kib is its peak resident memory. */
static int run_child(const struct bench *b, const struct row *rw, enum impl im, unsigned round, enum job job,
                     struct outcome *o, long *rss_kib)
{
    int fds[2], status, rc;
    struct rusage ru;
    pid_t pid;

    memset(o, 0, sizeof *o);
    if (pipe(fds) != 0) {
        snprintf(o->err, sizeof o->err, "pipe: %s", strerror(errno));
        return BENCH_FAIL;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(o->err, sizeof o->err, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return BENCH_FAIL;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(fds[0]);
        switch (job) {
        case JOB_PREPARE:
            rc = prepare(b, rw, im);
            break;
        case JOB_MEASURE:
            rc = rw->kind == K_THREADS   ? measure_threads(b, rw, im, o)
                 : rw->kind == K_READERS ? measure_readers(b, rw, im, round, o)
                                         : measure_one(b, rw, im, round, o);
            break;
        default:
            rc = 0;
            break;
        }
        o->ok = rc == 0;
        snprintf(o->err, sizeof o->err, "%s", err_msg);
        write_all(fds[1], o, sizeof *o);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    rc = read_all(fds[0], o, sizeof *o) == sizeof *o ? 0 : BENCH_FAIL;
    close(fds[0]);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            status = 0;
            memset(&ru, 0, sizeof ru);
            break;
        }
        if (stop_signal)
            kill(pid, SIGKILL);
    }
    *rss_kib = ru.ru_maxrss;
    if (WIFSIGNALED(status)) {
        snprintf(o->err, sizeof o->err, "killed by signal %d", WTERMSIG(status));
        rc = BENCH_FAIL;
    } else if (rc != 0 || !o->ok) {
        if (!o->err[0])
            snprintf(o->err, sizeof o->err, "the child process failed (status %d)", WEXITSTATUS(status));
        rc = BENCH_FAIL;
    }
    return rc;
}

static int key_used_after(const struct bench *b, size_t i)
{
    for (size_t k = i + 1; k < b->nrows; k++)
        if (strcmp(b->rows[k].key, b->rows[i].key) == 0)
            return 1;
    return 0;
}

static int key_used_before(const struct bench *b, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(b->rows[k].key, b->rows[i].key) == 0)
            return 1;
    return 0;
}

int runs(const struct bench *b, const struct row *rw, enum impl im)
{
    return (b->impl_mask & 1u << im) && !(rw->skip & 1u << im);
}

int run_rows(struct bench *b)
{
    struct outcome o;
    char path[PATH_MAX];
    long rss;

    for (size_t i = 0; i < b->nrows && !stop_signal; i++) {
        struct row *rw = &b->rows[i];
        enum impl order[NIMPL];
        unsigned nrun = 0;
        for (int im = 0; im < NIMPL; im++)
            if (runs(b, rw, (enum impl)im))
                order[nrun++] = (enum impl)im;
        if (!key_used_before(b, i)) {
            progress(0, "[%zu/%zu] %s: preparing the stores", i + 1, b->nrows, rw->name);
            for (int im = 0; im < NIMPL && !stop_signal; im++) {
                if (!runs(b, rw, (enum impl)im))
                    continue;
                progress(1, "[%zu/%zu] %s: preparing the %s store", i + 1, b->nrows, rw->name, impl_names[im]);
                if (run_child(b, rw, (enum impl)im, 0, JOB_PREPARE, &o, &rss) != 0) {
                    fprintf(stderr, "%s%s: preparing %s (%s): %s\n", is_tty ? "\n" : "", PROG, rw->name, impl_names[im],
                            o.err);
                    return 1;
                }
                if (is_pg((enum impl)im)) {
                    pg_schema(b, rw, (enum impl)im, path, sizeof path);
                    if (analyze_schema(b, path) != 0)
                        return 1;
                }
            }
        }
        progress(0, "[%zu/%zu] %s: %u rounds", i + 1, b->nrows, rw->name, b->rounds);
        for (unsigned r = 0; r < b->rounds && !stop_signal; r++) {
            for (unsigned k = 0; k < nrun && !stop_signal; k++) {
                enum impl im = order[(k + r) % nrun];
                progress(1, "[%zu/%zu] %s: round %u/%u, %s", i + 1, b->nrows, rw->name, r + 1, b->rounds,
                         impl_names[im]);
                if (run_child(b, rw, im, r, JOB_MEASURE, &o, &rss) != 0) {
                    if (stop_signal)
                        break;
                    fprintf(stderr, "%s%s: %s (%s): %s\n", is_tty ? "\n" : "", PROG, rw->name, impl_names[im], o.err);
                    return 1;
                }
                rw->rate[im][r] = o.t1 > o.t0 ? (double)o.ops * 1e9 / (double)(o.t1 - o.t0) : 0;
                if (rss > rw->rss_kib[im])
                    rw->rss_kib[im] = rss;
                if (r == 0 || o.ops < rw->least[im])
                    rw->least[im] = o.ops;
            }
        }
        rw->done = !stop_signal;
        if (!b->keep && !key_used_after(b, i)) {
            for (int im = 0; im < NIMPL; im++) {
                if (!is_pg((enum impl)im)) {
                    store_path(b, rw, (enum impl)im, path, sizeof path);
                    rm_rf(path);
                } else if (runs(b, rw, (enum impl)im)) {
                    pg_schema(b, rw, (enum impl)im, path, sizeof path);
                    if (drop_schemas(b, path) != 0)
                        return 1;
                }
            }
        }
    }
    if (is_tty)
        fprintf(stderr, "\r\033[K");
    if (stop_signal) {
        fprintf(stderr, "%s: stopped by signal %d\n", PROG, (int)stop_signal);
        return 1;
    }
    return 0;
}

int has(const struct bench *b, enum impl im)
{
    return (b->impl_mask & 1u << im) != 0;
}

long base_rss(const struct bench *b)
{
    struct outcome o;
    long rss;
    return run_child(b, NULL, IMPL_JOURNAL, 0, JOB_NOTHING, &o, &rss) == 0 ? rss : 0;
}
