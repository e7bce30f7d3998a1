/*
 * test_faults.c - the store under injected I/O faults.
 *
 * build/tests/fault_driver (tests/fault_driver.c) runs a fixed workload on
 * a store under build/tests/faultshim.so (tests/faultshim.c), an LD_PRELOAD
 * library that makes the N-th write, sync, truncate or map of a file in the
 * store directory fail with EIO or ENOSPC. A dry run counts those calls;
 * then the driver runs once for each chosen N. Each run must end normally
 * (exit 0 after printing "end": no crash, abort or hang) with every call
 * returning 0 or an error code, and the store, reopened without the shim,
 * must pass journal_store_check() and hold every acknowledged record,
 * unchanged, at its position, with no gap; truncated records must not come
 * back. The contract only promises that nothing acknowledged is lost, so a
 * record whose append failed may appear, but only at the position its
 * attempt wrote (the sweeps count and print them; with the LMDB backend
 * none has appeared in any mode: a failed fdatasync or write aborts the
 * commit before the meta page is written, and a failed meta page write is
 * undone by LMDB, which then refuses every further call).
 *
 * Modes: the failing call does nothing (default) or is done and then
 * reported as failed ("after", like a write-back error reported by fsync);
 * only the N-th call fails or every call from it on ("persistent"); default
 * or JOURNAL_NOSYNC stores; and a threaded run whose concurrent appends the
 * library commits together.
 *
 * By default a sample of N is tried (all of the first calls, which open
 * the store, then one random N in each stretch of the rest: the seed is
 * printed as JOURNAL_TEST_FAULT_SEED=...). JOURNAL_TEST_FAULT_ALL=1 tries
 * every N (`make fault-all`).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* The driver does about 40 commits: a plain run takes well under a second,
 * a run under valgrind several. */
#define FAULTS_TIMEOUT_MS 120000
#define FAULTS_MAX_ATTEMPTS 64
#define FAULTS_MAX_TRUNCS 4
/* "a" and "b" of the single-threaded part, "c" to "f" of the threads. */
#define FAULTS_JOURNALS 6

TestSuite(faults, .init = tu_setup, .fini = tu_teardown, .timeout = 600);

struct faults_mode {
    const char *err;  /* "EIO" or "ENOSPC" */
    int persist;      /* every call from the N-th on fails */
    int after;        /* the failing call is done, then reported as failed */
    const char *sync; /* "sync" or "nosync" (JOURNAL_NOSYNC) */
    int threads;      /* the driver's threaded part too */
};

struct faults_run {
    int status;
    char *out;
    char *err;
    unsigned long counted;
    unsigned long failed;
};

/* What the driver attempted on one journal, from its output. */
struct faults_journal {
    const char *name;
    int opened;
    size_t n;
    struct {
        journal_pos pos;
        unsigned long long k;
        int acked;
    } rec[FAULTS_MAX_ATTEMPTS];
    size_t ntrunc;
    struct {
        journal_pos to;
        int acked;
    } trunc[FAULTS_MAX_TRUNCS];
};

static const char *const faults_names[FAULTS_JOURNALS] = {"a", "b", "c", "d", "e", "f"};

/* The driver's record number k (see tests/fault_driver.c). */
static size_t faults_len(unsigned long long k)
{
    return k % 7 == 3 ? 5000 : 8 + (size_t)(k * 37 % 300);
}

static int faults_record_is(const unsigned char *rec, size_t len, unsigned long long k)
{
    if (len != faults_len(k))
        return 0;
    for (int i = 0; i < 8; i++)
        if (rec[i] != (unsigned char)(k >> (56 - 8 * i)))
            return 0;
    for (size_t i = 8; i < len; i++)
        if (rec[i] != (unsigned char)((k * 131 + i * 7) & 0xff))
            return 0;
    return 1;
}

/* $JOURNAL_TEST_BUILD/tests/name into buf. */
static const char *faults_build(char *buf, size_t size, const char *name)
{
    const char *b = getenv("JOURNAL_TEST_BUILD");
    snprintf(buf, size, "%s/tests/%s", b && *b ? b : "build", name);
    return buf;
}

static void faults_setenv_num(const char *name, unsigned long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lu", v);
    setenv(name, buf, 1);
}

/* The child: environment of the shim, then exec the driver. Only
 * async-signal-safe calls would be strictly right after fork() in a
 * threaded parent; the test process is single-threaded. */
static void faults_child(const char *store, const char *dir, unsigned long at, const struct faults_mode *m, int out,
                         int err)
{
    char shim[4096], driver[4096];
    const char *old = getenv("LD_PRELOAD");
    const char *asan = getenv("ASAN_OPTIONS");
    char *preload, *asan_opts;
    int null = open("/dev/null", O_RDONLY);

    faults_build(shim, sizeof shim, "faultshim.so");
    faults_build(driver, sizeof driver, "fault_driver");
    if (asprintf(&preload, "%s%s%s", shim, old && *old ? ":" : "", old ? old : "") < 0 ||
        asprintf(&asan_opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "") < 0)
        _exit(126);
    setenv("LD_PRELOAD", preload, 1);
    /* With a sanitized build the shim comes before the ASan runtime. */
    setenv("ASAN_OPTIONS", asan_opts, 1);
    setenv("JOURNAL_FAULT_DIR", dir, 1);
    faults_setenv_num("JOURNAL_FAULT_AT", at);
    setenv("JOURNAL_FAULT_ERRNO", m->err, 1);
    setenv("JOURNAL_FAULT_PERSIST", m->persist ? "1" : "0", 1);
    setenv("JOURNAL_FAULT_AFTER", m->after ? "1" : "0", 1);
    dup2(null, 0);
    dup2(out, 1);
    dup2(err, 2);
    execl(driver, "fault_driver", store, m->sync, m->threads ? "threads" : NULL, (char *)NULL);
    _exit(127);
}

static void faults_append(char **buf, size_t *len, const char *data, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    cr_assert_not_null(b);
    memcpy(b + *len, data, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
}

/* Runs the driver on store with the N-th counted call failing (0: none),
 * collecting its output; kills it and fails the test if it hangs. */
static void faults_run_driver(const char *store, unsigned long at, const struct faults_mode *m, struct faults_run *r)
{
    int po[2], pe[2], status;
    size_t lo = 0, le = 0;
    struct pollfd fds[2];
    struct timespec t0, t1;
    char dir[4096], buf[4096];
    const char *p;
    pid_t pid;

    /* The shim compares the files' resolved paths with the directory. */
    mkdir(store, 0755);
    cr_assert_not_null(realpath(store, dir), "realpath(%s): %s", store, strerror(errno));
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        faults_child(store, dir, at, m, po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    memset(r, 0, sizeof *r);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    cr_assert(r->out && r->err);
    fds[0] = (struct pollfd){.fd = po[0], .events = POLLIN};
    fds[1] = (struct pollfd){.fd = pe[0], .events = POLLIN};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        long spent;
        int n;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= FAULTS_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            cr_assert_fail("fault_driver with JOURNAL_FAULT_AT=%lu hung; output so far:\n%s\n%s", at, r->out, r->err);
        }
        n = poll(fds, 2, (int)(FAULTS_TIMEOUT_MS - spent));
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert(n >= 0, "poll: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            ssize_t got;
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
            } else if (i == 0) {
                faults_append(&r->out, &lo, buf, (size_t)got);
            } else {
                faults_append(&r->err, &le, buf, (size_t)got);
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    r->status = status;
    p = strstr(r->err, "faultshim: counted=");
    cr_assert_not_null(p, "the shim did not report (was it preloaded?); stderr:\n%s", r->err);
    cr_assert_eq(sscanf(p, "faultshim: counted=%lu failed=%lu", &r->counted, &r->failed), 2);
}

static void faults_free_run(struct faults_run *r)
{
    free(r->out);
    free(r->err);
}

static struct faults_journal *faults_find(struct faults_journal *js, const char *name)
{
    for (int i = 0; i < FAULTS_JOURNALS; i++)
        if (strcmp(js[i].name, name) == 0)
            return &js[i];
    cr_assert_fail("driver printed an unknown journal '%s'", name);
    return NULL;
}

/* A result the contract allows for a call under a fault: success, the
 * injected errno, -EIO (what the library returns for every call once a
 * failed commit has made LMDB's environment unusable), or the contract's
 * answers to a writer whose idea of the end is stale. */
static void faults_check_rc(const char *line, int rc, const struct faults_mode *m)
{
    int injected = strcmp(m->err, "ENOSPC") == 0 ? -ENOSPC : -EIO;
    cr_assert(rc <= 0, "positive result: %s", line);
    if (rc == 0)
        return;
    cr_assert_str_neq(journal_strerror(rc), "unknown error", "result with no message: %s", line);
    cr_assert(rc == injected || rc == -EIO || rc == JOURNAL_ECONFLICT || rc == JOURNAL_EBEYOND ||
                  rc == JOURNAL_ENOTFOUND || rc == JOURNAL_ECORRUPT,
              "unexpected result %d (%s): %s", rc, journal_strerror(rc), line);
}

/* Parses the driver's output into js[0] ("a") to js[5] ("f"), checking
 * each result. Returns 1 when the store was opened. */
static int faults_parse(const struct faults_run *r, const struct faults_mode *m, struct faults_journal *js)
{
    char *copy = strdup(r->out), *save = NULL, *line;
    int opened = 0, ended = 0;

    cr_assert_not_null(copy);
    for (int i = 0; i < FAULTS_JOURNALS; i++)
        js[i] = (struct faults_journal){.name = faults_names[i]};
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[8], word[16];
        unsigned long long pos, k, n;
        int rc;
        struct faults_journal *fj;

        cr_assert(!ended, "output after 'end': %s", line);
        if (sscanf(line, "open %d", &rc) == 1) {
            faults_check_rc(line, rc, m);
            opened = rc == 0;
        } else if (sscanf(line, "jopen %7s %d", name, &rc) == 2) {
            faults_check_rc(line, rc, m);
            faults_find(js, name)->opened = rc == 0;
        } else if (sscanf(line, "append %7s %llu %llu %d", name, &pos, &k, &rc) == 4) {
            faults_check_rc(line, rc, m);
            fj = faults_find(js, name);
            cr_assert_lt(fj->n, FAULTS_MAX_ATTEMPTS);
            fj->rec[fj->n].pos = pos;
            fj->rec[fj->n].k = k;
            fj->rec[fj->n++].acked = rc == 0;
        } else if (sscanf(line, "batch %7s %llu %llu %llu %d", name, &pos, &n, &k, &rc) == 5) {
            faults_check_rc(line, rc, m);
            fj = faults_find(js, name);
            for (unsigned long long i = 0; i < n; i++) {
                cr_assert_lt(fj->n, FAULTS_MAX_ATTEMPTS);
                fj->rec[fj->n].pos = pos + i;
                fj->rec[fj->n].k = k + i;
                fj->rec[fj->n++].acked = rc == 0;
            }
        } else if (sscanf(line, "truncate %7s %llu %d", name, &pos, &rc) == 3) {
            faults_check_rc(line, rc, m);
            fj = faults_find(js, name);
            cr_assert_lt(fj->ntrunc, FAULTS_MAX_TRUNCS);
            fj->trunc[fj->ntrunc].to = pos;
            fj->trunc[fj->ntrunc++].acked = rc == 0;
        } else if (sscanf(line, "get %7s %llu %d %15s", name, &pos, &rc, word) == 4) {
            faults_check_rc(line, rc, m);
            cr_assert(rc != 0 || strcmp(word, "same") == 0, "a read returned other bytes: %s", line);
        } else if (sscanf(line, "bounds %7s %d", name, &rc) == 2 || sscanf(line, "sync %d", &rc) == 1 ||
                   sscanf(line, "jclose %7s %d", name, &rc) == 2 || sscanf(line, "close %d", &rc) == 1) {
            faults_check_rc(line, rc, m);
        } else {
            cr_assert_str_eq(line, "end", "unexpected driver output");
            ended = 1;
        }
    }
    cr_assert(ended, "the driver stopped before 'end'; output:\n%s", r->out);
    free(copy);
    return opened;
}

static void faults_problem(void *arg, const char *name, const char *problem)
{
    (void)arg;
    cr_log_error("check: %s: %s", name ? name : "(store)", problem);
}

struct faults_listed {
    int present[FAULTS_JOURNALS];
};

static int faults_list(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct faults_listed *l = arg;
    (void)begin;
    (void)end;
    cr_assert(strlen(name) == 1 && name[0] >= 'a' && name[0] < 'a' + FAULTS_JOURNALS,
              "unknown journal '%s' in the store", name);
    l->present[name[0] - 'a'] = 1;
    return 0;
}

/* Checks one journal of the reopened store against what the driver was
 * told; returns the number of records present whose write had failed. */
static unsigned faults_check_journal(journal_store *s, const struct faults_journal *fj, unsigned long at)
{
    journal_pos begin, end, acked_end = 0, tried_end = 0, acked_trunc = 0, tried_trunc = 0;
    unsigned unacked = 0;
    journal *j = tu_open_journal(s, fj->name);

    cr_assert_eq(journal_bounds(j, &begin, &end), 0);
    for (size_t i = 0; i < fj->n; i++) {
        if (fj->rec[i].pos + 1 > tried_end)
            tried_end = fj->rec[i].pos + 1;
        if (fj->rec[i].acked && fj->rec[i].pos + 1 > acked_end)
            acked_end = fj->rec[i].pos + 1;
    }
    for (size_t i = 0; i < fj->ntrunc; i++) {
        if (fj->trunc[i].to > tried_trunc)
            tried_trunc = fj->trunc[i].to;
        if (fj->trunc[i].acked && fj->trunc[i].to > acked_trunc)
            acked_trunc = fj->trunc[i].to;
    }
    cr_assert_geq(end, acked_end, "N=%lu: journal %s lost acknowledged records: end %llu < %llu", at, fj->name,
                  (unsigned long long)end, (unsigned long long)acked_end);
    cr_assert_leq(end, tried_end, "N=%lu: journal %s ends at %llu, past every write (%llu)", at, fj->name,
                  (unsigned long long)end, (unsigned long long)tried_end);
    cr_assert_geq(begin, acked_trunc, "N=%lu: journal %s: truncated records came back (begin %llu < %llu)", at,
                  fj->name, (unsigned long long)begin, (unsigned long long)acked_trunc);
    cr_assert(begin == 0 || begin <= tried_trunc, "N=%lu: journal %s begins at %llu, past every truncation", at,
              fj->name, (unsigned long long)begin);
    for (journal_pos p = begin; p < end; p++) {
        void *rec = NULL;
        size_t len = 0, found = fj->n;
        unsigned long long k = 0;
        int rc = journal_get(j, p, &rec, &len);

        cr_assert_eq(rc, 0, "N=%lu: journal %s has a gap at %llu: %s", at, fj->name, (unsigned long long)p,
                     journal_strerror(rc));
        cr_assert_geq(len, 8, "N=%lu: journal %s: record %llu was changed", at, fj->name, (unsigned long long)p);
        for (int i = 0; i < 8; i++)
            k = k << 8 | ((unsigned char *)rec)[i];
        cr_assert(faults_record_is(rec, len, k), "N=%lu: journal %s: record %llu was changed", at, fj->name,
                  (unsigned long long)p);
        for (size_t i = 0; i < fj->n; i++)
            if (fj->rec[i].k == k)
                found = i;
        cr_assert_lt(found, fj->n, "N=%lu: journal %s: record %llu is number %llu, which was never written there", at,
                     fj->name, (unsigned long long)p, k);
        cr_assert_eq(fj->rec[found].pos, p, "N=%lu: journal %s: record number %llu moved to %llu", at, fj->name, k,
                     (unsigned long long)p);
        if (!fj->rec[found].acked)
            unacked++;
        free(rec);
    }
    /* Each acknowledged record still readable is the one written there. */
    for (size_t i = 0; i < fj->n; i++) {
        void *rec = NULL;
        size_t len = 0;
        if (!fj->rec[i].acked || fj->rec[i].pos < begin)
            continue;
        cr_assert_eq(journal_get(j, fj->rec[i].pos, &rec, &len), 0);
        cr_assert(faults_record_is(rec, len, fj->rec[i].k),
                  "N=%lu: journal %s: acknowledged record number %llu at %llu was replaced", at, fj->name, fj->rec[i].k,
                  (unsigned long long)fj->rec[i].pos);
        free(rec);
    }
    journal_close(j);
    return unacked;
}

/* Reopens the store without the shim and checks it against the driver's
 * output; returns the number of unacknowledged records that appeared. */
static unsigned faults_check_store(const char *store, const struct faults_journal *js, unsigned long at)
{
    struct faults_listed listed = {{0}};
    journal_store *s = NULL;
    unsigned unacked = 0;
    int rc = journal_store_open(store, NULL, &s);

    cr_assert_eq(rc, 0, "N=%lu: the store does not reopen: %s", at, journal_strerror(rc));
    rc = journal_store_check(s, faults_problem, NULL);
    cr_assert_eq(rc, 0, "N=%lu: journal_store_check: %s", at, journal_strerror(rc));
    cr_assert_eq(journal_store_list(s, faults_list, &listed), 0);
    for (int i = 0; i < FAULTS_JOURNALS; i++) {
        cr_assert(!js[i].opened || listed.present[i], "N=%lu: journal %s, opened, is missing", at, js[i].name);
        if (listed.present[i])
            unacked += faults_check_journal(s, &js[i], at);
    }
    cr_assert_eq(journal_store_close(s), 0);
    return unacked;
}

/* The N to try, in increasing order, from 1..total: every one when
 * JOURNAL_TEST_FAULT_ALL=1, else the first `head` and one at random in each
 * of `spans` stretches of the rest. Returns how many. */
static size_t faults_pick(unsigned long total, unsigned long *ns, size_t max)
{
    const char *all = getenv("JOURNAL_TEST_FAULT_ALL");
    /* Under valgrind each run of the driver takes seconds, not tenths. */
    int slow = getenv("JOURNAL_TEST_VALGRIND") != NULL;
    unsigned long head = slow ? 2 : 6, spans = slow ? 3 : 24;
    uint64_t seed = tu_seed("JOURNAL_TEST_FAULT_SEED");
    size_t n = 0;

    if ((all && strcmp(all, "1") == 0) || total <= head + spans) {
        for (unsigned long i = 1; i <= total && n < max; i++)
            ns[n++] = i;
        return n;
    }
    for (unsigned long i = 1; i <= head; i++)
        ns[n++] = i;
    for (unsigned long i = 0; i < spans && n < max; i++) {
        unsigned long lo = head + 1 + (total - head) * i / spans, hi = head + (total - head) * (i + 1) / spans;
        ns[n++] = lo + tu_rand(&seed) % (hi - lo + 1);
    }
    return n;
}

/* Dry run, then one run per chosen N, each on a fresh store. */
static void faults_sweep(const struct faults_mode *m)
{
    struct faults_journal js[FAULTS_JOURNALS];
    struct faults_run r;
    unsigned long ns[4096], total;
    unsigned appeared = 0, opened_runs = 0;
    size_t n;

    faults_run_driver(tu_store(), 0, m, &r);
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "dry run failed: %s", r.err);
    total = r.counted;
    cr_assert_gt(total, 20, "the shim counted only %lu calls: it does not see the store's I/O", total);
    faults_free_run(&r);

    n = faults_pick(total, ns, sizeof ns / sizeof ns[0]);
    for (size_t i = 0; i < n; i++) {
        const char *store = tu_store();
        faults_run_driver(store, ns[i], m, &r);
        cr_assert(WIFEXITED(r.status), "N=%lu: the driver died of signal %d; output:\n%s\n%s", ns[i],
                  WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0, r.out, r.err);
        cr_assert_eq(WEXITSTATUS(r.status), 0, "N=%lu: exit %d; stderr:\n%s", ns[i], WEXITSTATUS(r.status), r.err);
        /* Threads make a run's calls vary (the driver's, and the steady
         * points' thread of a JOURNAL_NOSYNC store, which syncs on a
         * timer): a shorter run may end before N. */
        if (!(m->threads || strcmp(m->sync, "nosync") == 0) || r.failed > 0)
            cr_assert_geq(r.failed, 1, "N=%lu of %lu: no call failed", ns[i], total);
        else
            cr_assert_lt(r.counted, ns[i], "N=%lu: no call failed of %lu", ns[i], r.counted);
        if (faults_parse(&r, m, js)) {
            unsigned u = faults_check_store(store, js, ns[i]);
            opened_runs++;
            if (u)
                cr_log_info("N=%lu: %u record(s) whose append failed are in the store", ns[i], u);
            appeared += u;
        }
        faults_free_run(&r);
        tu_rm_rf(store);
    }
    cr_log_info("%s%s%s%s: %zu of %lu faults tried, %u opened the store, %u unacknowledged record(s) appeared", m->err,
                m->persist ? " persistent" : "", m->after ? " after the write" : "", m->threads ? " threads" : "", n,
                total, opened_runs, appeared);
    cr_assert_gt(opened_runs, 0, "no faulted run got past opening the store");
}

Test(faults, a_run_without_faults_counts_calls_and_keeps_everything)
{
    const struct faults_mode m = {"EIO", 0, 0, "sync", 0};
    const char *store = tu_store();
    struct faults_journal js[FAULTS_JOURNALS];
    struct faults_run r;

    tu_require_lmdb();
    faults_run_driver(store, 0, &m, &r);
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s", r.err);
    cr_assert_gt(r.counted, 20);
    cr_assert_eq(r.failed, 0);
    cr_assert_eq(faults_parse(&r, &m, js), 1);
    cr_assert(js[0].opened && js[1].opened);
    /* Only the driver's deliberate stale append fails. */
    cr_assert_not_null(strstr(r.out, " -29002\nbounds a 0 8 18\n"), "%s", r.out);
    for (size_t i = 0; i + 1 < js[0].n; i++)
        cr_assert(js[0].rec[i].acked);
    for (size_t i = 0; i < js[1].n; i++)
        cr_assert(js[1].rec[i].acked);
    cr_assert_eq(faults_check_store(store, js, 0), 0);
    faults_free_run(&r);
}

Test(faults, each_failed_write_is_an_error_and_loses_nothing_acknowledged)
{
    const struct faults_mode m = {"EIO", 0, 0, "sync", 0};
    tu_require_lmdb();
    faults_sweep(&m);
}

Test(faults, a_disk_that_stays_full_is_an_error_and_loses_nothing_acknowledged)
{
    const struct faults_mode m = {"ENOSPC", 1, 0, "sync", 0};
    tu_require_lmdb();
    faults_sweep(&m);
}

Test(faults, a_write_reported_failed_after_it_was_done_loses_nothing_acknowledged)
{
    const struct faults_mode m = {"EIO", 0, 1, "sync", 0};
    tu_require_lmdb();
    faults_sweep(&m);
}

Test(faults, faults_with_nosync_lose_nothing_acknowledged)
{
    const struct faults_mode m = {"EIO", 1, 1, "nosync", 0};
    tu_require_lmdb();
    faults_sweep(&m);
}

Test(faults, a_threaded_run_without_faults_keeps_everything)
{
    const struct faults_mode m = {"EIO", 0, 0, "sync", 1};
    const char *store = tu_store();
    struct faults_journal js[FAULTS_JOURNALS];
    struct faults_run r;

    tu_require_lmdb();
    faults_run_driver(store, 0, &m, &r);
    cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s", r.err);
    cr_assert_eq(r.failed, 0);
    cr_assert_eq(faults_parse(&r, &m, js), 1);
    /* Each thread's own journal: every append acknowledged. */
    for (int i = 2; i < 5; i++) {
        cr_assert(js[i].opened);
        cr_assert_eq(js[i].n, 6);
        for (size_t k = 0; k < js[i].n; k++)
            cr_assert(js[i].rec[k].acked, "journal %s: append %zu failed", js[i].name, k);
    }
    cr_assert_eq(faults_check_store(store, js, 0), 0);
    faults_free_run(&r);
}

Test(faults, failed_commits_of_concurrent_appends_lose_nothing_acknowledged)
{
    const struct faults_mode m = {"EIO", 0, 0, "sync", 1};
    tu_require_lmdb();
    faults_sweep(&m);
}

Test(faults, concurrent_appends_on_a_disk_that_stays_full_lose_nothing_acknowledged)
{
    const struct faults_mode m = {"ENOSPC", 1, 1, "sync", 1};
    tu_require_lmdb();
    faults_sweep(&m);
}

/* ------------------------------------------------------------------------ */
/* A real full file system                                                  */

#define FULL_FS_SIZE "3m"
#define FULL_FILLER (512 * 1024)
#define FULL_MAX_RECORDS 4096

/* What the full-disk test acknowledged: record i is full_len(i) bytes of
 * full_byte(i). */
static size_t full_len(journal_pos i)
{
    static const size_t lens[] = {100, 3000, 9000, 20, 1500, 40000, 700};
    return lens[i % (sizeof lens / sizeof lens[0])];
}

static unsigned char full_rec[40000];

static unsigned char full_byte(journal_pos i)
{
    return (unsigned char)(i * 37 + 11);
}

static int full_check_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const unsigned char *p = rec;
    journal_pos *next = arg;
    cr_assert_eq(pos, *next);
    cr_assert_eq(len, full_len(pos), "record %llu: %zu bytes", (unsigned long long)pos, len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(p[i], full_byte(pos), "record %llu differs at byte %zu", (unsigned long long)pos, i);
    (*next)++;
    return 0;
}

/* Every record in [begin, end) is the one acknowledged at its position. */
static void full_verify(journal *j, journal_pos begin, journal_pos end)
{
    journal_pos b, e, next = begin;
    cr_assert_eq(journal_bounds(j, &b, &e), 0);
    cr_assert_eq(b, begin);
    cr_assert_eq(e, end, "end %llu, %llu acknowledged", (unsigned long long)e, (unsigned long long)end);
    if (begin < end)
        cr_assert_eq(journal_range(j, begin, full_check_cb, &next), 0);
    cr_assert_eq(next, end);
}

/* Appends (alone or in batches of 3) until the file system is full: each
 * failure must be -ENOSPC. Returns the new end after `tries` failures. */
static journal_pos full_fill(journal *j, journal_pos end, int tries)
{
    static unsigned char buf[3][sizeof full_rec];
    int failures = 0;
    while (failures < tries) {
        journal_record r[3];
        size_t n = end % 5 == 4 ? 3 : 1;
        int rc;
        cr_assert_lt(end, FULL_MAX_RECORDS, "the file system never filled up");
        for (size_t i = 0; i < n; i++) {
            r[i].len = full_len(end + i);
            memset(buf[i], full_byte(end + i), r[i].len);
            r[i].data = buf[i];
        }
        rc = n == 1 ? journal_append(j, end, r[0].data, r[0].len) : journal_append_batch(j, end, r, n);
        if (rc == 0) {
            end += n;
            continue;
        }
        cr_assert_eq(rc, -ENOSPC, "append at %llu on a full file system: %s", (unsigned long long)end,
                     journal_strerror(rc));
        /* The next try is another size: smaller records may still fit. */
        failures++;
    }
    return end;
}

/* Fills a file of FULL_FILLER bytes: space to free later. */
static void full_filler(const char *path)
{
    char *zeros = calloc(1, FULL_FILLER);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert_not_null(zeros);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, zeros, FULL_FILLER), FULL_FILLER);
    close(fd);
    free(zeros);
}

/* Appends n records at *end, which must all succeed. */
static void full_append_ok(journal *j, journal_pos *end, int n, const char *when)
{
    for (int i = 0; i < n; i++, (*end)++) {
        int rc;
        memset(full_rec, full_byte(*end), full_len(*end));
        rc = journal_append(j, *end, full_rec, full_len(*end));
        cr_assert_eq(rc, 0, "append at %llu %s: %s", (unsigned long long)*end, when, journal_strerror(rc));
    }
}

/*
 * A small tmpfs, filled by appends: every failing append or batch gives
 * -ENOSPC (LMDB itself reports the short write that fills the disk as
 * EIO), nothing acknowledged is lost, and once space is freed by deleting
 * another file, appends and truncations work again in the same process.
 * A truncation on the full disk may itself fail with -ENOSPC (removing
 * records writes pages too) but never loses or reorders anything.
 */
Test(faults, a_full_file_system_gives_enospc_and_appends_resume_once_space_is_freed)
{
    const char *mnt = tu_path("mnt"), *store, *filler[2];
    journal_store *s;
    journal *j;
    journal_pos end = 0, begin = 0;
    int rc;

    tu_require_lmdb();
    if (geteuid() != 0)
        cr_skip_test("mounting a small tmpfs needs root (this test runs as uid %u)", (unsigned)geteuid());
    /* A mount namespace of this test process: the tmpfs goes with it. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        cr_skip_test("no mount namespace for a small tmpfs: %s", strerror(errno));
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=" FULL_FS_SIZE) != 0)
        cr_skip_test("cannot mount a tmpfs: %s", strerror(errno));
    store = tu_path("mnt/store");
    filler[0] = tu_path("mnt/filler0");
    filler[1] = tu_path("mnt/filler1");
    full_filler(filler[0]);
    full_filler(filler[1]);

    s = tu_open_store(store, 0);
    j = tu_open_journal(s, "j");
    end = full_fill(j, end, 12);
    full_verify(j, begin, end);

    /* Space freed by deleting another file: appends work again in this
     * process, without reopening. */
    cr_assert_eq(unlink(filler[0]), 0);
    full_append_ok(j, &end, 3, "after deleting a file");
    full_verify(j, begin, end);

    /* Full again: a truncation may find no room, and removes a prefix at
     * most. */
    end = full_fill(j, end, 6);
    rc = journal_truncate(j, end / 2);
    cr_assert(rc == 0 || rc == -ENOSPC, "truncate on a full file system: %s", journal_strerror(rc));
    cr_assert_eq(journal_bounds(j, &begin, NULL), 0);
    cr_assert_leq(begin, end / 2);
    full_verify(j, begin, end);
    fprintf(stderr, "faults: full tmpfs: %llu records acknowledged; truncate on the full disk: %s, to %llu of %llu\n",
            (unsigned long long)end, journal_strerror(rc), (unsigned long long)begin, (unsigned long long)end / 2);

    /* Room again: the truncation completes, and its pages serve appends. */
    cr_assert_eq(unlink(filler[1]), 0);
    rc = journal_truncate(j, end / 2);
    cr_assert_eq(rc, 0, "truncate after deleting a file: %s", journal_strerror(rc));
    begin = end / 2;
    full_append_ok(j, &end, 3, "after truncating");
    full_verify(j, begin, end);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    /* Reopened: everything acknowledged is there. */
    s = tu_open_store(store, JOURNAL_RDONLY);
    j = tu_open_journal(s, "j");
    full_verify(j, begin, end);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    tu_rm_rf(store);
    umount2(mnt, MNT_DETACH);
}
