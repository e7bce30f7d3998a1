/*
 * util.c - helpers shared by the tests; see util.h.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static char **owned;
static size_t nowned;
static unsigned nstores;

static const char *keep(char *p)
{
    char **n = realloc(owned, (nowned + 1) * sizeof *owned);
    cr_assert_not_null(n);
    owned = n;
    owned[nowned++] = p;
    return p;
}

void tu_setup(void)
{
    const char *base = getenv("TMPDIR");
    char *t;
    if (!base || !*base)
        base = "/tmp";
    cr_assert(asprintf(&t, "%s/journal-test-XXXXXX", base) > 0);
    cr_assert_not_null(mkdtemp(t), "mkdtemp: %s", strerror(errno));
    dir = t;
    nstores = 0;
}

void tu_teardown(void)
{
    if (dir && !getenv("JOURNAL_TEST_KEEP"))
        tu_rm_rf(dir);
    free(dir);
    dir = NULL;
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    owned = NULL;
    nowned = 0;
}

const char *tu_dir(void)
{
    cr_assert_not_null(dir, "tu_dir() outside tu_setup()/tu_teardown()");
    return dir;
}

const char *tu_path(const char *name)
{
    char *p;
    cr_assert(asprintf(&p, "%s/%s", tu_dir(), name) > 0);
    return keep(p);
}

int tu_is_lmdb(void)
{
    const char *b = getenv("JOURNAL_TEST_BACKEND");
    return !b || !*b || strcmp(b, "lmdb") == 0;
}

void tu_require_lmdb(void)
{
    if (!tu_is_lmdb())
        cr_skip_test("LMDB-specific behaviour; the backend under test is %s", getenv("JOURNAL_TEST_BACKEND"));
}

const char *tu_store(void)
{
    char *p;
    unsigned n = nstores++;
    if (tu_is_lmdb()) {
        cr_assert(asprintf(&p, "%s/store%u", tu_dir(), n) > 0);
    } else {
        /* A schema unique to this test process and call. */
        const char *url = getenv("JOURNAL_TEST_PG_URL");
        cr_assert_not_null(url, "JOURNAL_TEST_BACKEND=pg needs JOURNAL_TEST_PG_URL");
        cr_assert(asprintf(&p, "%s%cjournal_schema=t%ld_%u_%u", url, strchr(url, '?') ? '&' : '?', (long)getpid(),
                           (unsigned)time(NULL) % 100000, n) > 0);
    }
    return keep(p);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_bin(const char *name)
{
    const char *d = getenv("JOURNAL_TEST_BIN");
    char *p;
    cr_assert(asprintf(&p, "%s/%s", d && *d ? d : "build/bin", name) > 0);
    return keep(p);
}

static char *slurp(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;
    cr_assert_not_null(buf);
    while ((n = read(fd, buf + len, cap - len - 1)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = '\0';
    return buf;
}

int tu_run(const char *cmd, char **out, char **err)
{
    char tmpl_out[] = "/tmp/journal-run-outXXXXXX", tmpl_err[] = "/tmp/journal-run-errXXXXXX";
    int fo = mkstemp(tmpl_out), fe = mkstemp(tmpl_err), status;
    pid_t pid;
    cr_assert(fo >= 0 && fe >= 0);
    unlink(tmpl_out);
    unlink(tmpl_err);
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (out) {
        lseek(fo, 0, SEEK_SET);
        *out = slurp(fo);
    }
    if (err) {
        lseek(fe, 0, SEEK_SET);
        *err = slurp(fe);
    }
    close(fo);
    close(fe);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int tu_vrunf(char **out, char **err, const char *fmt, va_list ap)
{
    char *cmd;
    int rc;
    cr_assert(vasprintf(&cmd, fmt, ap) > 0);
    rc = tu_run(cmd, out, err);
    cr_assert_neq(rc, -1, "could not run %s", cmd);
    free(cmd);
    return rc;
}

int tu_runf(char **out, char **err, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = tu_vrunf(out, err, fmt, ap);
    va_end(ap);
    return rc;
}

uint64_t tu_seed(const char *env)
{
    const char *v = getenv(env);
    uint64_t seed;
    if (v && *v) {
        seed = strtoull(v, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
    }
    if (seed == 0)
        seed = 1;
    fprintf(stderr, "%s=%llu\n", env, (unsigned long long)seed);
    return seed;
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

unsigned tu_scaled(unsigned n)
{
    return getenv("JOURNAL_TEST_VALGRIND") ? n / 10 : n;
}

void tu_put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

uint32_t tu_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void tu_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

uint64_t tu_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int tu_cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

journal_store *tu_open_store(const char *path, unsigned flags)
{
    journal_options o = {0};
    journal_store *s = NULL;
    int rc;
    o.flags = flags;
    rc = journal_store_open(path, &o, &s);
    cr_assert_eq(rc, 0, "journal_store_open(%s): %s", path, journal_strerror(rc));
    return s;
}

journal *tu_open_journal(journal_store *s, const char *name)
{
    journal *j = NULL;
    int rc = journal_open(s, name, &j);
    cr_assert_eq(rc, 0, "journal_open(%s): %s", name, journal_strerror(rc));
    return j;
}

journal *tu_journal_with(journal_store *s, const char *name, journal_pos n)
{
    journal *j = tu_open_journal(s, name);
    for (journal_pos i = 0; i < n; i++) {
        char rec[32];
        snprintf(rec, sizeof rec, "r%llu", (unsigned long long)i);
        tu_append_str(j, i, rec);
    }
    return j;
}

/* ------------------------------------------------------------------------ */
/* Self-checking records                                                    */

uint64_t tu_fnv1a(const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The generator of writer's record seq: its first draw is the body's
 * length, the next ones its bytes. */
static uint64_t rec_state(uint64_t seed, uint32_t writer, uint32_t seq)
{
    return (seed ^ (((uint64_t)writer << 32 | seq) * 0x9e3779b97f4a7c15ull)) | 1;
}

size_t tu_rec_make(uint64_t seed, uint32_t writer, uint32_t seq, size_t body_max, unsigned char *buf)
{
    uint64_t st = rec_state(seed, writer, seq);
    size_t len = TU_REC_HEAD + tu_rand(&st) % (body_max + 1) + TU_REC_SUM;
    tu_put_be32(buf, writer);
    tu_put_be32(buf + 4, seq);
    tu_put_be32(buf + 8, (uint32_t)len);
    for (size_t i = TU_REC_HEAD; i < len - TU_REC_SUM; i++)
        buf[i] = (unsigned char)(tu_rand(&st) >> 56);
    tu_put_be64(buf + len - TU_REC_SUM, tu_fnv1a(buf, len - TU_REC_SUM));
    return len;
}

const char *tu_rec_check(uint64_t seed, size_t body_max, uint32_t writers, const void *rec, size_t len,
                         uint32_t *writer, uint32_t *seq)
{
    const unsigned char *p = rec;
    uint32_t w, q;
    uint64_t st;
    if (len < TU_REC_HEAD + TU_REC_SUM || len > TU_REC_MAX(body_max) || tu_get_be32(p + 8) != len ||
        tu_rec_sum(p, len) != tu_fnv1a(p, len - TU_REC_SUM))
        return "fails its checksum";
    w = tu_get_be32(p);
    q = tu_get_be32(p + 4);
    if (w >= writers)
        return "is not one a writer wrote";
    /* The bytes tu_rec_make() would write, drawn one at a time: the header
     * and the checksum follow from them. */
    st = rec_state(seed, w, q);
    if (TU_REC_HEAD + tu_rand(&st) % (body_max + 1) + TU_REC_SUM != len)
        return "is not one a writer wrote";
    for (size_t i = TU_REC_HEAD; i < len - TU_REC_SUM; i++)
        if (p[i] != (unsigned char)(tu_rand(&st) >> 56))
            return "is not one a writer wrote";
    *writer = w;
    *seq = q;
    return NULL;
}

uint64_t tu_rec_sum(const void *rec, size_t len)
{
    return tu_get_be64((const unsigned char *)rec + len - TU_REC_SUM);
}

/* ------------------------------------------------------------------------ */
/* Child processes                                                          */

/* Children write one line here when they fail; the parent shows it. */
static int err_pipe[2] = {-1, -1};

int tu_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tu_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return got == 0 ? 1 : -1;
        got += (size_t)n;
    }
    return 0;
}

void tu_procs_init(void)
{
    cr_assert_eq(pipe(err_pipe), 0);
    cr_assert_eq(fcntl(err_pipe[0], F_SETFL, O_NONBLOCK), 0);
}

void tu_procs_fini(void)
{
    close(err_pipe[0]);
    close(err_pipe[1]);
}

void tu_child_fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n = snprintf(msg, sizeof msg, "[pid %ld] ", (long)getpid());
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(msg, "\n");
    fputs(msg, stderr);
    tu_write_all(err_pipe[1], msg, strlen(msg));
    _exit(1);
}

const char *tu_child_errors(void)
{
    static char buf[4096];
    ssize_t n = read(err_pipe[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0 ? buf : "(no message)";
}

pid_t tu_spawn(void (*fn)(void *), void *arg)
{
    pid_t parent = getpid(), pid;
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* A failed assertion ends the test process: its children go too. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(err_pipe[0]);
        fn(arg);
        _exit(0);
    }
    return pid;
}

void tu_wait_readable(int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = err_pipe[0], .events = POLLIN}};
    int n;
    do
        n = poll(p, 2, TU_PROC_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    cr_assert(n > 0, "children silent for %d ms", TU_PROC_TIMEOUT_MS);
    cr_assert(!(p[1].revents & POLLIN), "a child failed: %s", tu_child_errors());
}

int tu_reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    return status;
}

void tu_expect_exit_ok(pid_t pid, const char *what)
{
    int status = tu_reap(pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (pid %ld) ended with status %#x: %s", what, (long)pid,
              status, tu_child_errors());
}
