/*
 * test_crashimg.c - machine crashes, replayed from a log of the store's I/O.
 *
 * Killing a process cannot show what a machine crash does: the page cache
 * survives it. So build/tests/crashimg_driver (tests/crashimg_driver.c)
 * appends to a store under build/tests/crashimg_shim.so
 * (tests/crashimg_shim.c), which logs every write and sync of the store's
 * files in order, with the driver's marks (append attempted, append
 * acknowledged, journal_store_sync() returned). Then, for each of
 * thousands of crash images:
 *   - pick a moment k of the log (after the store was created and synced);
 *   - build each file as a disk could hold it after a power loss at k:
 *     every write that a sync completed before k made durable, then each
 *     later write kept or lost at random, some torn (each 512-byte sector
 *     kept or lost on its own), a file extended by a lost write sometimes
 *     left longer, full of zeros;
 *   - "reboot": a new directory with the image and no lock file, a new
 *     boot id (JOURNAL_TEST_BOOT_ID), and in a child process (a crash of
 *     LMDB on damaged pages is a finding, not the end of the test) open
 *     the store, journal_store_check(), and read journal "a": its
 *     positions must start at 0 and be contiguous, every record must be
 *     byte for byte what the driver appended there, the end must not pass
 *     what was attempted before k, and it must reach every record that was
 *     on disk for sure: for a durable store, each acknowledged before k;
 *     otherwise, each acknowledged before the last journal_store_sync()
 *     that returned before k.
 *
 * The harness must be able to fail: raw_mdb_nosync_is_caught runs the same
 * workload through plain LMDB with MDB_NOSYNC (whose commits LMDB documents
 * a system crash can corrupt) and asserts that damage is found;
 * nosync_store_without_recovery_is_caught opens JOURNAL_NOSYNC images as if
 * the machine had not restarted (no rollback to the steady point) and
 * asserts the same.
 *
 * The seed is printed (JOURNAL_TEST_CRASHIMG_SEED=...) and replays the
 * images of a log; JOURNAL_TEST_CRASHIMG_IMAGES sets their number. A
 * failing image is kept under $JOURNAL_TEST_BUILD/crashimg-fail/.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crashimg.h"
#include "util.h"

#define CI_APPENDS 600
#define CI_IMAGES 2000
#define CI_SECTOR 512
/* The replay of one log stops after this many seconds, once it has done
 * CI_IMAGES_MIN images: a loaded machine does fewer images, not a longer
 * run. */
#define CI_SECONDS 25
#define CI_IMAGES_MIN 300
#define CI_PASS 100

TestSuite(crashimg, .init = tu_setup, .fini = tu_teardown, .timeout = 600);

struct ci_ev {
    uint32_t kind, file;
    uint64_t a, b;
    const unsigned char *data;
};

struct ci_log {
    unsigned char *buf;
    size_t len;
    struct ci_ev *ev;
    size_t nev;
};

struct ci_file {
    unsigned char *data;
    size_t size, cap;
    int exists;
};

struct ci_result {
    unsigned images, failed;
    unsigned undone;  /* sound images that lost acknowledged, unsynced appends */
    char first[1024]; /* the first failure */
};

static void ci_build(char *buf, size_t size, const char *name)
{
    const char *b = getenv("JOURNAL_TEST_BUILD");
    snprintf(buf, size, "%s/tests/%s", b ? b : "build", name);
}

/* Runs the driver under the shim; the log goes to `log`. */
static void ci_record(const char *store, const char *mode, uint64_t seed, const char *log)
{
    char shim[4096], driver[4096], cmd[16384], *out = NULL, *err = NULL;
    int st;

    ci_build(shim, sizeof shim, "crashimg_shim.so");
    ci_build(driver, sizeof driver, "crashimg_driver");
    cr_assert(access(shim, R_OK) == 0 && access(driver, X_OK) == 0, "build %s and %s first", shim, driver);
    /* The shim goes first, before a sanitizer's runtime (which must then
     * not insist on coming first). */
    snprintf(cmd, sizeof cmd,
             "JOURNAL_TEST_BOOT_ID=crashimg-recording JOURNAL_CRASHIMG_DIR='%s' JOURNAL_CRASHIMG_LOG='%s' "
             "LD_PRELOAD='%s%s%s' ASAN_OPTIONS='%s%sverify_asan_link_order=0' '%s' '%s' %s %d %llu",
             store, log, shim, getenv("LD_PRELOAD") ? " " : "", getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "", getenv("ASAN_OPTIONS") ? ":" : "", driver, store,
             mode, CI_APPENDS, (unsigned long long)seed);
    st = tu_run(cmd, &out, &err);
    cr_assert_eq(st, 0, "driver failed (%d): %s %s", st, out ? out : "", err ? err : "");
    free(out);
    free(err);
}

static void ci_load(struct ci_log *l, const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1024, off = 0;
    struct stat st;

    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fstat(fileno(f), &st), 0);
    l->len = (size_t)st.st_size;
    l->buf = malloc(l->len ? l->len : 1);
    cr_assert(l->buf);
    cr_assert_eq(fread(l->buf, 1, l->len, f), l->len);
    fclose(f);
    l->ev = malloc(cap * sizeof *l->ev);
    l->nev = 0;
    while (off < l->len) {
        struct crashimg_rec r;
        cr_assert(off + sizeof r <= l->len, "log cut short");
        memcpy(&r, l->buf + off, sizeof r);
        off += sizeof r;
        if (l->nev == cap)
            l->ev = realloc(l->ev, (cap *= 2) * sizeof *l->ev);
        cr_assert(l->ev);
        l->ev[l->nev] = (struct ci_ev){r.kind, r.file, r.a, r.b, NULL};
        if (r.kind == CRASHIMG_WRITE || r.kind == CRASHIMG_DSYNC) {
            cr_assert(off + r.b <= l->len, "log cut short");
            l->ev[l->nev].data = l->buf + off;
            off += r.b;
        }
        cr_assert(r.file < CRASHIMG_FILES || r.kind == CRASHIMG_MARK, "bad log record");
        l->nev++;
    }
}

static void ci_reserve(struct ci_file *f, size_t size)
{
    if (size > f->cap) {
        size_t cap = f->cap ? f->cap : 1 << 20;
        while (cap < size)
            cap *= 2;
        f->data = realloc(f->data, cap);
        cr_assert(f->data);
        memset(f->data + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
    if (size > f->size) {
        memset(f->data + f->size, 0, size - f->size);
        f->size = size;
    }
}

static void ci_truncate(struct ci_file *f, size_t size)
{
    ci_reserve(f, size);
    f->size = size;
}

/* Applies event e to f; with `rng`, a write not yet durable may be lost,
 * torn, or lost with the file left extended. */
static void ci_apply(struct ci_file *f, const struct ci_ev *e, uint64_t *rng)
{
    uint64_t r = rng ? tu_rand(rng) : 0;
    f->exists = 1;
    if (e->kind == CRASHIMG_TRUNC) {
        if (!rng || r % 2)
            ci_truncate(f, e->a);
        return;
    }
    if (e->kind != CRASHIMG_WRITE && e->kind != CRASHIMG_DSYNC)
        return;
    if (rng && r % 2 == 0) { /* lost */
        if (r % 8 == 0 && e->a + e->b > f->size)
            ci_reserve(f, e->a + e->b);
        return;
    }
    ci_reserve(f, e->a + e->b);
    if (rng && r % 4 == 1) { /* torn: sector by sector */
        uint64_t pos = e->a;
        while (pos < e->a + e->b) {
            uint64_t next = (pos / CI_SECTOR + 1) * CI_SECTOR;
            if (next > e->a + e->b)
                next = e->a + e->b;
            if (tu_rand(rng) % 2)
                memcpy(f->data + pos, e->data + (pos - e->a), next - pos);
            pos = next;
        }
        return;
    }
    memcpy(f->data + e->a, e->data, e->b);
}

static int ci_write_file(const char *path, const struct ci_file *f)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t off = 0;
    if (fd < 0)
        return -1;
    while (off < f->size) {
        ssize_t n = write(fd, f->data + off, f->size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    return close(fd);
}

struct ci_expect {
    uint64_t lo, hi; /* the end must lie in [lo, hi] */
    uint64_t acked;  /* the last end acknowledged before the crash */
    unsigned flags;
    uint64_t seed;
    int same_boot; /* no reboot: the boot id of the recording */
};

struct ci_list {
    int found;
    journal_pos begin, end;
};

static int ci_list_fn(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct ci_list *l = arg;
    if (strcmp(name, "a") == 0)
        *l = (struct ci_list){1, begin, end};
    return 0;
}

static void ci_check_fn(void *arg, const char *jname, const char *problem)
{
    char *msg = arg;
    size_t n = strlen(msg);
    snprintf(msg + n, 512 - n, "[%s: %s] ", jname ? jname : "store", problem);
}

/* In the child: opens the rebooted image and checks it; writes what is
 * wrong to fd and exits 1, or exits 0. */
static _Noreturn void ci_verify(const char *dir, const struct ci_expect *x, int fd, unsigned image)
{
    static unsigned char want[CRASHIMG_LEN_MAX];
    char msg[768] = "", probs[512] = "", boot[64];
    journal_options o = {0};
    struct ci_list l = {0};
    journal_store *s = NULL;
    journal *j = NULL;
    int rc;

    alarm(20);
    if (x->same_boot)
        snprintf(boot, sizeof boot, "crashimg-recording");
    else
        snprintf(boot, sizeof boot, "crashimg-reboot-%u", image);
    setenv("JOURNAL_TEST_BOOT_ID", boot, 1);
    o.flags = x->flags;
    if ((rc = journal_store_open(dir, &o, &s)) != 0) {
        snprintf(msg, sizeof msg, "open: %s", journal_strerror(rc));
        goto fail;
    }
    if ((rc = journal_store_check(s, ci_check_fn, probs)) != 0) {
        snprintf(msg, sizeof msg, "check: %s %s", journal_strerror(rc), probs);
        goto fail;
    }
    if ((rc = journal_store_list(s, ci_list_fn, &l)) != 0 || !l.found) {
        snprintf(msg, sizeof msg, "journal a not found (%s)", journal_strerror(rc));
        goto fail;
    }
    if (l.begin != 0 || l.end < x->lo || l.end > x->hi) {
        snprintf(msg, sizeof msg, "bounds [%llu, %llu), expected [0, E) with %llu <= E <= %llu",
                 (unsigned long long)l.begin, (unsigned long long)l.end, (unsigned long long)x->lo,
                 (unsigned long long)x->hi);
        goto fail;
    }
    if ((rc = journal_open(s, "a", &j)) != 0) {
        snprintf(msg, sizeof msg, "journal_open: %s", journal_strerror(rc));
        goto fail;
    }
    for (journal_pos p = 0; p < l.end; p++) {
        void *rec;
        size_t len, wlen = crashimg_record(x->seed, p, want);
        if ((rc = journal_get(j, p, &rec, &len)) != 0) {
            snprintf(msg, sizeof msg, "get %llu: %s", (unsigned long long)p, journal_strerror(rc));
            goto fail;
        }
        rc = len != wlen || memcmp(rec, want, len) != 0;
        free(rec);
        if (rc) {
            snprintf(msg, sizeof msg, "record %llu differs from what was appended", (unsigned long long)p);
            goto fail;
        }
    }
    journal_close(j);
    journal_store_close(s);
    _exit(l.end < x->acked ? 3 : 0); /* 3: acknowledged appends were undone */
fail:
    (void)!write(fd, msg, strlen(msg));
    _exit(1);
}

/* Where images are written: on /dev/shm when there is one (writing a
 * fresh image to a disk file system each time costs more than the rest),
 * under the test's directory otherwise. */
static char ci_shm[64];

static const char *ci_image_dir(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
        snprintf(ci_shm, sizeof ci_shm, "/dev/shm/journal-crashimg-%ld", (long)getpid());
        return ci_shm;
    }
    return tu_path("image");
}

/* Builds, reboots and verifies `images` crash images of the log. */
static void ci_replay(const struct ci_log *l, const char *mode, unsigned flags, int same_boot, uint64_t seed,
                      unsigned images, struct ci_result *res)
{
    struct ci_file base[CRASHIMG_FILES] = {{0}}, img[CRASHIMG_FILES] = {{0}};
    size_t ready = 0, *points, applied[CRASHIMG_FILES] = {0};
    const char *dir = ci_image_dir();
    uint64_t rng = seed;
    int durable = strcmp(mode, "durable") == 0, fixed = getenv("JOURNAL_TEST_CRASHIMG_IMAGES") != NULL;
    struct timespec t0, now;

    for (ready = 0; ready < l->nev; ready++)
        if (l->ev[ready].kind == CRASHIMG_MARK && l->ev[ready].file == CRASHIMG_MARK_READY)
            break;
    cr_assert(ready < l->nev, "no READY mark in the log");
    /* Crash moments, in passes of CI_PASS sorted in increasing order, so
     * that within a pass the durable base only grows, and a replay cut
     * short by time still covers the whole log. */
    points = malloc(images * sizeof *points);
    cr_assert(points);
    for (unsigned i = 0; i < images; i++)
        points[i] = ready + 1 + (size_t)(tu_rand(&rng) % (l->nev - ready));
    for (unsigned p = 0; p < images; p += CI_PASS) {
        unsigned end = p + CI_PASS < images ? p + CI_PASS : images;
        for (unsigned i = p + 1; i < end; i++)
            for (unsigned k = i; k > p && points[k - 1] > points[k]; k--) {
                size_t t = points[k];
                points[k] = points[k - 1];
                points[k - 1] = t;
            }
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < images; i++) {
        size_t k = points[i], durable_to[CRASHIMG_FILES] = {0};
        struct ci_expect x = {0, 0, 0, flags, seed, same_boot};
        uint64_t irng = seed ^ (0x100000001b3ull * (i + 1));
        int pfd[2], st;
        char msg[800];
        ssize_t n;
        pid_t pid;

        if (i > 0 && k < points[i - 1]) { /* a new pass: the base starts over */
            for (int f = 0; f < CRASHIMG_FILES; f++) {
                base[f].size = 0;
                base[f].exists = 0;
                applied[f] = 0;
            }
        }
        for (size_t e = 0; e < k; e++) {
            const struct ci_ev *ev = &l->ev[e];
            if (ev->kind == CRASHIMG_SYNC && ev->a > durable_to[ev->file])
                durable_to[ev->file] = ev->a;
            if (ev->kind == CRASHIMG_MARK && ev->file == CRASHIMG_MARK_ATTEMPT)
                x.hi = ev->a;
            if (ev->kind == CRASHIMG_MARK && ev->file == CRASHIMG_MARK_ACK) {
                x.acked = ev->a;
                if (durable)
                    x.lo = ev->a;
            }
            if (ev->kind == CRASHIMG_MARK && ev->file == CRASHIMG_MARK_SYNCED)
                x.lo = ev->a;
        }
        if (x.hi < x.lo)
            x.hi = x.lo;
        /* The durable base: every write to a file before its last barrier. */
        for (int f = 0; f < CRASHIMG_FILES; f++) {
            for (; applied[f] < durable_to[f]; applied[f]++)
                if (l->ev[applied[f]].file == (uint32_t)f && l->ev[applied[f]].kind != CRASHIMG_MARK &&
                    l->ev[applied[f]].kind != CRASHIMG_SYNC)
                    ci_apply(&base[f], &l->ev[applied[f]], NULL);
            ci_truncate(&img[f], base[f].size);
            if (base[f].size)
                memcpy(img[f].data, base[f].data, base[f].size);
            img[f].exists = base[f].exists;
        }
        /* Then what came after, each write at random (O_DSYNC writes are
         * durable when they return). */
        for (int f = 0; f < CRASHIMG_FILES; f++)
            for (size_t e = durable_to[f]; e < k; e++) {
                const struct ci_ev *ev = &l->ev[e];
                if (ev->file != (uint32_t)f || ev->kind == CRASHIMG_MARK || ev->kind == CRASHIMG_SYNC)
                    continue;
                ci_apply(&img[f], ev, ev->kind == CRASHIMG_DSYNC ? NULL : &irng);
            }

        tu_rm_rf(dir);
        cr_assert_eq(mkdir(dir, 0755), 0);
        {
            char p[4096];
            snprintf(p, sizeof p, "%s/data.mdb", dir);
            cr_assert_eq(ci_write_file(p, &img[CRASHIMG_FILE_DATA]), 0);
            if (img[CRASHIMG_FILE_STEADY].exists) {
                snprintf(p, sizeof p, "%s/steady", dir);
                cr_assert_eq(ci_write_file(p, &img[CRASHIMG_FILE_STEADY]), 0);
            }
        }
        cr_assert_eq(pipe(pfd), 0);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            ci_verify(dir, &x, pfd[1], i);
        }
        close(pfd[1]);
        n = read(pfd[0], msg, sizeof msg - 1);
        msg[n > 0 ? n : 0] = '\0';
        close(pfd[0]);
        st = tu_reap(pid);
        res->images++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (res->images >= CI_IMAGES_MIN && now.tv_sec - t0.tv_sec >= CI_SECONDS && !fixed)
            images = i + 1; /* out of time: this is the last */
        if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
            res->undone++;
        if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3))
            continue;
        if (WIFSIGNALED(st))
            snprintf(msg, sizeof msg, "verifier killed by signal %d", WTERMSIG(st));
        res->failed++;
        if (res->failed == 1) {
            const char *b = getenv("JOURNAL_TEST_BUILD");
            char keep[4096], cmd[8300];
            snprintf(res->first, sizeof res->first, "image %u (moment %zu of %zu): %s", i, k, l->nev, msg);
            snprintf(keep, sizeof keep, "%s/crashimg-fail/%s", b ? b : "build", mode);
            tu_rm_rf(keep);
            snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s'/. '%s'/", keep, dir, keep);
            (void)!system(cmd);
        }
    }
    tu_rm_rf(dir);
    for (int f = 0; f < CRASHIMG_FILES; f++) {
        free(base[f].data);
        free(img[f].data);
    }
    free(points);
}

static unsigned ci_images(void)
{
    const char *v = getenv("JOURNAL_TEST_CRASHIMG_IMAGES");
    if (v && *v)
        return (unsigned)strtoul(v, NULL, 10);
    return getenv("JOURNAL_TEST_VALGRIND") ? 50 : CI_IMAGES;
}

static void ci_run(const char *mode, unsigned flags, int same_boot, struct ci_result *res)
{
    uint64_t seed = tu_seed("JOURNAL_TEST_CRASHIMG_SEED");
    const char *store = tu_path("store"), *log = tu_path("io.log");
    struct ci_log l = {0};
    struct timespec t0, t1;

    tu_require_lmdb();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ci_record(store, mode, seed, log);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "crashimg %s: workload recorded in %.1f s\n", mode,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    ci_load(&l, log);
    ci_replay(&l, same_boot ? "nosync-noreboot" : mode, flags, same_boot, seed, ci_images(), res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
            "crashimg %s%s: %zu log records, %u images, %u damaged, %u sound but lost unsynced appends (%.1f s)%s%s\n",
            mode, same_boot ? " (opened without a reboot)" : "", l.nev, res->images, res->failed, res->undone,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, res->failed ? "; first: " : "",
            res->failed ? res->first : "");
    free(l.ev);
    free(l.buf);
}

Test(crashimg, durable_store_keeps_every_acknowledged_append)
{
    struct ci_result r = {0};
    ci_run("durable", 0, 0, &r);
    cr_expect_eq(r.failed, 0, "%u of %u crash images damaged; first: %s", r.failed, r.images, r.first);
}

Test(crashimg, nosync_store_is_never_corrupted_and_keeps_what_was_synced)
{
    struct ci_result r = {0};
    ci_run("nosync", JOURNAL_NOSYNC, 0, &r);
    cr_expect_eq(r.failed, 0, "%u of %u crash images damaged; first: %s", r.failed, r.images, r.first);
}

/* The harness must be able to fail: plain MDB_NOSYNC commits are not safe
 * against a system crash (lmdb.h), and the images must show it. */
Test(crashimg, raw_mdb_nosync_is_caught)
{
    struct ci_result r = {0};
    ci_run("raw", 0, 0, &r);
    cr_expect_gt(r.failed, 0, "no damage found in %u crash images of MDB_NOSYNC commits: the harness is blind",
                 r.images);
}

/* And the recovery is what makes JOURNAL_NOSYNC safe: the same images
 * opened as if the machine had not restarted (the boot id of the
 * recording, so the store is not rolled back to its steady point) are
 * damaged. */
Test(crashimg, nosync_store_without_recovery_is_caught)
{
    struct ci_result r = {0};
    ci_run("nosync", JOURNAL_NOSYNC, 1, &r);
    cr_expect_gt(r.failed, 0, "no damage found in %u crash images opened without recovery: the harness is blind",
                 r.images);
}

/* ------------------------------------------------------------------------ */
/* Steady points without the shim: recovery, read-only opens, processes     */

static void ci_copy(const char *from, const char *to)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s'/data.mdb '%s'/steady '%s'/", to, to, from, from,
             to);
    cr_assert_eq(tu_run(cmd, NULL, NULL), 0, "%s", cmd);
}

static void ci_append_n(journal *j, uint64_t seed, journal_pos from, journal_pos to)
{
    static unsigned char buf[CRASHIMG_LEN_MAX];
    for (journal_pos p = from; p < to; p++) {
        size_t len = crashimg_record(seed, p, buf);
        cr_assert_eq(journal_append(j, p, buf, len), 0);
    }
}

/* Opens dir with boot id `boot` and checks that journal "a" holds
 * [0, end) of the seed's records, lo <= end <= hi; returns end. */
static journal_pos ci_expect_store(const char *dir, const char *boot, unsigned flags, uint64_t seed, journal_pos lo,
                                   journal_pos hi)
{
    static unsigned char want[CRASHIMG_LEN_MAX];
    journal_options o = {0};
    journal_store *s;
    journal *j;
    journal_pos b, e;

    setenv("JOURNAL_TEST_BOOT_ID", boot, 1);
    o.flags = flags;
    cr_assert_eq(journal_store_open(dir, &o, &s), 0);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    cr_assert_eq(journal_bounds(j, &b, &e), 0);
    cr_assert(b == 0 && e >= lo && e <= hi, "bounds [%llu, %llu), expected [0, E) with %llu <= E <= %llu",
              (unsigned long long)b, (unsigned long long)e, (unsigned long long)lo, (unsigned long long)hi);
    for (journal_pos p = 0; p < e; p++) {
        void *rec;
        size_t len, wlen = crashimg_record(seed, p, want);
        cr_assert_eq(journal_get(j, p, &rec, &len), 0);
        cr_assert(len == wlen && memcmp(rec, want, len) == 0, "record %llu differs", (unsigned long long)p);
        free(rec);
    }
    journal_close(j);
    journal_store_close(s);
    return e;
}

/* The disk as it is after unsynced commits (the page cache written out
 * whole): after a restart the store goes back to its steady point, which
 * is intact although later commits reused pages; without a restart,
 * nothing is lost. A read-only open cannot recover and says so. */
Test(crashimg, nosync_store_goes_back_to_its_steady_point_after_a_restart)
{
    const char *dir = tu_path("s"), *img = tu_path("img"), *img2 = tu_path("img2");
    journal_options o = {.flags = JOURNAL_NOSYNC, .sync_interval_ms = 100000};
    journal_store *s;
    journal *j;
    struct stat st1, st2;

    tu_require_lmdb();
    setenv("JOURNAL_TEST_BOOT_ID", "boot-1", 1);
    cr_assert_eq(journal_store_open(dir, &o, &s), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    ci_append_n(j, 7, 0, 300);
    cr_assert_eq(journal_store_sync(s), 0); /* steady at 300 */
    ci_append_n(j, 7, 300, 330);            /* not steady */
    ci_copy(dir, img);
    ci_copy(dir, img2);
    journal_close(j);
    journal_store_close(s);

    /* Read-only, after a restart: refuses, writes nothing. */
    {
        journal_options ro = {.flags = JOURNAL_RDONLY};
        char path[4096];
        snprintf(path, sizeof path, "%s/data.mdb", img);
        cr_assert_eq(stat(path, &st1), 0);
        setenv("JOURNAL_TEST_BOOT_ID", "boot-2", 1);
        cr_assert_eq(journal_store_open(img, &ro, &s), -EAGAIN);
        cr_assert_eq(stat(path, &st2), 0);
        cr_assert(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
    }
    /* Restarted: back to the steady point, and it stays there. */
    ci_expect_store(img, "boot-2", JOURNAL_NOSYNC, 7, 300, 300);
    ci_expect_store(img, "boot-2", 0, 7, 300, 300);
    /* Same boot: the page cache kept all. */
    ci_expect_store(img2, "boot-1", 0, 7, 330, 330);
    /* A clean close made the end steady. */
    ci_expect_store(dir, "boot-3", JOURNAL_RDONLY, 7, 330, 330);
}

/* A default handle of a store with steady points acknowledges only steady
 * commits: after a restart nothing it acknowledged is undone. */
Test(crashimg, durable_handle_of_a_nosync_store_acknowledges_steady_commits)
{
    const char *dir = tu_path("s"), *img = tu_path("img");
    journal_options o = {.flags = JOURNAL_NOSYNC, .sync_interval_ms = 100000};
    journal_store *s, *d;
    journal *j, *jd;

    tu_require_lmdb();
    setenv("JOURNAL_TEST_BOOT_ID", "boot-1", 1);
    d = tu_open_store(dir, 0); /* durable, before the store has steady points */
    jd = tu_open_journal(d, "a");
    ci_append_n(jd, 9, 0, 50);
    cr_assert_eq(journal_store_open(dir, &o, &s), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    ci_append_n(j, 9, 50, 100); /* unsynced */
    ci_append_n(jd, 9, 100, 150);
    ci_append_n(j, 9, 150, 400); /* unsynced */
    ci_copy(dir, img);
    /* Steady points come when they come (the byte budget, reader checks),
     * but never later than a durable acknowledgement. */
    ci_expect_store(img, "boot-2", 0, 9, 150, 400);
    journal_close(j);
    journal_close(jd);
    journal_store_close(s);
    journal_store_close(d);
}

struct ci_proc {
    const char *dir;
    unsigned flags;
    uint64_t seed;
    int fd; /* reports "synced END" lines */
};

/* A writer process: appends the seed's records wherever the end is, and
 * syncs now and then, reporting the end each sync made steady. */
static void ci_writer(void *arg)
{
    static unsigned char buf[CRASHIMG_LEN_MAX];
    struct ci_proc *p = arg;
    journal_options o = {.flags = p->flags, .sync_interval_ms = 3};
    journal_store *s;
    journal *j;
    journal_pos e;
    int rc;

    if ((rc = journal_store_open(p->dir, &o, &s)) != 0)
        tu_child_fail("open: %s", journal_strerror(rc));
    if ((rc = journal_open(s, "a", &j)) != 0)
        tu_child_fail("journal_open: %s", journal_strerror(rc));
    for (unsigned n = 0;; n++) {
        if ((rc = journal_bounds(j, NULL, &e)) != 0)
            tu_child_fail("bounds: %s", journal_strerror(rc));
        rc = journal_append(j, e, buf, crashimg_record(p->seed, e, buf));
        if (rc != 0 && rc != JOURNAL_ECONFLICT)
            tu_child_fail("append: %s", journal_strerror(rc));
        if (n % 97 == 0) {
            if ((rc = journal_bounds(j, NULL, &e)) != 0 || (rc = journal_store_sync(s)) != 0)
                tu_child_fail("sync: %s", journal_strerror(rc));
            if (tu_write_all(p->fd, &e, sizeof e) != 0)
                tu_child_fail("report");
        }
        if (n % 301 == 0) {
            /* A reader that dies holding its slot now and then. */
            journal_snapshot *snap;
            if (journal_snapshot_begin(j, &snap) == 0 && n % 903 == 0)
                _exit(0);
            journal_snapshot_end(snap);
        }
    }
}

/* In a child: gives the store steady points (boot id "boot-1"). */
static void ci_make_steady(void *dir)
{
    journal_options o = {.flags = JOURNAL_NOSYNC};
    journal_store *s;
    journal *j;
    setenv("JOURNAL_TEST_BOOT_ID", "boot-1", 1);
    if (journal_store_open(dir, &o, &s) != 0 || journal_open(s, "b", &j) != 0 || journal_append(j, 0, "x", 1) != 0)
        tu_child_fail("could not append with steady points");
    journal_close(j);
    journal_store_close(s);
}

/* Without the machine's boot id (JOURNAL_TEST_BOOT_ID "-": as where
 * /proc/sys/kernel/random/boot_id cannot be read) a restart cannot be told
 * from a live process's unsynced commits, so there are no steady points: a
 * JOURNAL_NOSYNC handle of a store without a side file syncs its data at
 * every commit but not the meta page (MDB_NOMETASYNC: a machine crash may
 * undo the last commit, never corrupt) and makes no side file; a store that
 * has steady points refuses such a handle with -ENOTSUP and is unchanged. */
Test(crashimg, nosync_without_a_boot_id_syncs_each_commit_without_steady_points)
{
    const char *dir = tu_path("s"), *other = tu_path("t");
    journal_options o = {.flags = JOURNAL_NOSYNC};
    char side[4096], data[4096];
    struct stat st1, st2;
    journal_store *s;
    journal *j;

    tu_require_lmdb();
    setenv("JOURNAL_TEST_BOOT_ID", "-", 1);
    cr_assert_eq(journal_store_open(dir, &o, &s), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    ci_append_n(j, 5, 0, 40);
    snprintf(side, sizeof side, "%s/steady", dir);
    cr_assert(access(side, F_OK) != 0, "a side file was made without a boot id");
    cr_assert_eq(journal_store_sync(s), 0);
    journal_close(j);
    journal_store_close(s);
    ci_expect_store(dir, "-", JOURNAL_NOSYNC, 5, 40, 40);
    ci_expect_store(dir, "boot-2", 0, 5, 40, 40);

    /* Another process gives the store steady points: the handle without a
     * boot id writes no more. */
    setenv("JOURNAL_TEST_BOOT_ID", "-", 1);
    cr_assert_eq(journal_store_open(dir, &o, &s), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    tu_procs_init();
    tu_expect_exit_ok(tu_spawn(ci_make_steady, (void *)dir), "the process with a boot id");
    tu_procs_fini();
    cr_assert(access(side, F_OK) == 0);
    cr_assert_eq(journal_append(j, 40, "y", 1), -ENOTSUP);
    journal_close(j);
    journal_store_close(s);
    ci_expect_store(dir, "boot-1", 0, 5, 40, 40);

    /* A store with steady points, then a handle without a boot id. */
    setenv("JOURNAL_TEST_BOOT_ID", "boot-1", 1);
    cr_assert_eq(journal_store_open(other, &o, &s), 0);
    cr_assert_eq(journal_open(s, "a", &j), 0);
    ci_append_n(j, 6, 0, 10);
    journal_close(j);
    journal_store_close(s);
    snprintf(data, sizeof data, "%s/data.mdb", other);
    cr_assert_eq(stat(data, &st1), 0);
    setenv("JOURNAL_TEST_BOOT_ID", "-", 1);
    for (unsigned f = 0; f < 3; f++) {
        unsigned flags[] = {JOURNAL_NOSYNC, 0, JOURNAL_RDONLY};
        journal_options x = {.flags = flags[f]};
        cr_assert_eq(journal_store_open(other, &x, &s), -ENOTSUP, "flags %#x", flags[f]);
    }
    cr_assert_eq(stat(data, &st2), 0);
    cr_assert(st1.st_size == st2.st_size && st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
              st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
    ci_expect_store(other, "boot-1", 0, 6, 10, 10);
}

/* Writers of both kinds in several processes, killed at random, all at
 * once now and then (the next opener then resets LMDB's reader table and
 * with it every pin), while dead readers' slots are reclaimed. At the end
 * the machine "restarts" with the page cache written out: the store must go
 * back to a steady point that is intact, at or past every end a sync
 * reported. */
Test(crashimg, processes_killed_at_random_keep_the_steady_point_intact)
{
    const char *dir = tu_path("s"), *img = tu_path("img");
    uint64_t seed = tu_seed("JOURNAL_TEST_SEED"), rng = seed;
    struct ci_proc p[4];
    pid_t pid[4] = {0};
    int pfd[2];
    journal_pos synced = 0, e;
    unsigned rounds = getenv("JOURNAL_TEST_VALGRIND") ? 10 : 40;

    tu_require_lmdb();
    setenv("JOURNAL_TEST_BOOT_ID", "boot-1", 1);
    tu_procs_init();
    cr_assert_eq(pipe(pfd), 0);
    for (int i = 0; i < 4; i++)
        p[i] = (struct ci_proc){dir, i == 3 ? 0 : JOURNAL_NOSYNC, seed, pfd[1]};
    for (unsigned r = 0; r < rounds; r++) {
        uint64_t x = tu_rand(&rng);
        int all = x % 8 == 0;
        for (int i = 0; i < 4; i++) {
            if (pid[i] && (all || (int)(x >> 8) % 4 == i)) {
                kill(pid[i], SIGKILL);
                tu_reap(pid[i]);
                pid[i] = 0;
            }
        }
        for (int i = 0; i < 4; i++)
            if (!pid[i])
                pid[i] = tu_spawn(ci_writer, &p[i]);
        usleep(50000 + (useconds_t)((x >> 16) % 100000));
        for (int i = 0; i < 4; i++) {
            int st;
            if (pid[i] && waitpid(pid[i], &st, WNOHANG) == pid[i]) {
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer failed: %s", tu_child_errors());
                pid[i] = 0;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        if (pid[i]) {
            kill(pid[i], SIGKILL);
            tu_reap(pid[i]);
        }
    close(pfd[1]);
    while (tu_read_all(pfd[0], &e, sizeof e) == 0)
        if (e > synced)
            synced = e;
    close(pfd[0]);
    tu_procs_fini();
    ci_copy(dir, img);
    {
        journal_options o = {0};
        journal_store *s;
        journal *j;
        journal_pos b;
        setenv("JOURNAL_TEST_BOOT_ID", "boot-2", 1);
        cr_assert_eq(journal_store_open(img, &o, &s), 0);
        cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
        j = tu_open_journal(s, "a");
        cr_assert_eq(journal_bounds(j, &b, &e), 0);
        cr_assert(b == 0 && e >= synced, "bounds [%llu, %llu) after the restart, but a sync reported %llu",
                  (unsigned long long)b, (unsigned long long)e, (unsigned long long)synced);
        journal_close(j);
        journal_store_close(s);
        fprintf(stderr, "crashimg processes: %llu records steady after the restart, %llu reported synced\n",
                (unsigned long long)e, (unsigned long long)synced);
        ci_expect_store(img, "boot-2", 0, seed, e, e);
    }
}
