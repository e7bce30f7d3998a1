/*
 * test_damaged.c - damaged data files: the check, the tools and the
 * library's verified reads end with an error, never with a crash, an abort
 * or a hang, and never change the file.
 *
 * One store of DMG_JOURNALS journals x DMG_RECORDS records (small records,
 * and every 500th one large enough for overflow pages) is built once per
 * test. Each variant is a copy of its data file with one kind of damage,
 * chosen by the variant's seed: bit flips (mostly in the meta pages and in
 * page headers and node tables, where LMDB keeps page numbers and
 * offsets), a zeroed page, two pages swapped, one page copied over
 * another, or the file cut short. On each variant:
 *   - a child process opens the store with JOURNAL_RDONLY | JOURNAL_VERIFY
 *     and runs journal_store_check(), journal_store_list(), and for every
 *     journal bounds, get, range, and a snapshot with its get and range;
 *   - journal-dump runs with --check, without a journal (the list), and
 *     once per journal (every journal of the store, damaged or not): its
 *     main() built into this binary, in a forked child per run (an exec
 *     costs more than the rest of a variant), and the installed program
 *     itself on every DMG_EXEC_EVERY-th variant;
 * each process must end with exit status 0 or 1 (no signal: SIGSEGV,
 * SIGBUS, SIGABRT, or SIGALRM after DMG_TIMEOUT_S for a hang), library
 * calls must return 0 or a documented code, and the data file must be byte
 * for byte what it was before.
 *
 * The seed is printed; JOURNAL_TEST_DAMAGED_SEED=S replays a run, and
 * JOURNAL_TEST_DAMAGED_VARIANTS=N sets the number of variants (variant i
 * of a run uses seed S + i, so S + i with N=1 replays variant i alone).
 * Under AddressSanitizer every process is several times slower, so the
 * sanitizer pass runs fewer variants (DMG_VARIANTS_SAN); under valgrind
 * (make valgrind) fewer still (DMG_VARIANTS_VALGRIND).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define DMG_JOURNALS 20
#define DMG_RECORDS 1000
#define DMG_VARIANTS 1000
#define DMG_VARIANTS_SAN 150
#define DMG_VARIANTS_VALGRIND 20
#define DMG_TIMEOUT_S 30
#define DMG_EXEC_EVERY 50

#if defined(__SANITIZE_ADDRESS__)
#define DMG_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DMG_SANITIZED 1
#endif
#endif
#ifndef DMG_SANITIZED
#define DMG_SANITIZED 0
#endif

TestSuite(damaged, .init = tu_setup, .fini = tu_teardown);

struct dmg {
    const char *base_dir; /* the undamaged store */
    const char *dir;      /* the variant's store */
    char file[4096];      /* the variant's data.mdb */
    unsigned char *base;  /* the undamaged data file */
    size_t len;
    unsigned psize;
    unsigned char *cur; /* the variant's data file */
    size_t curlen;
    char what[256]; /* the variant's damage, for messages */
    char names[DMG_JOURNALS][16];
};

static unsigned char *dmg_read_file(const char *path, size_t *len)
{
    struct stat st;
    unsigned char *p;
    int fd = open(path, O_RDONLY);

    cr_assert(fd >= 0, "open(%s): %s", path, strerror(errno));
    cr_assert_eq(fstat(fd, &st), 0);
    p = malloc(st.st_size ? (size_t)st.st_size : 1);
    cr_assert_not_null(p);
    cr_assert(st.st_size == 0 || tu_read_all(fd, p, (size_t)st.st_size) == 0);
    close(fd);
    *len = (size_t)st.st_size;
    return p;
}

/* Record k of journal j: its length is varied so that pages split at many
 * places, and every 500th record takes overflow pages. */
static size_t dmg_record(unsigned j, unsigned k, unsigned char *buf)
{
    size_t len = k % 500 == 499 ? 5000 + k % 3000 : 8 + (j * 7 + k * 13) % 90;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)('a' + (j + k + i) % 26);
    return len;
}

/* Builds the undamaged store, the same bytes on every run, and reads its
 * data file. */
static void dmg_build(struct dmg *d)
{
    static unsigned char bufs[100][8192];
    journal_record recs[100];
    journal_stat st;
    journal_store *s;
    char path[4096];

    memset(d, 0, sizeof *d);
    d->base_dir = tu_path("base");
    d->dir = tu_path("variant");
    s = tu_open_store(d->base_dir, JOURNAL_NOSYNC);
    for (unsigned j = 0; j < DMG_JOURNALS; j++) {
        journal *jn;
        snprintf(d->names[j], sizeof d->names[j], "journal-%02u", j);
        jn = tu_open_journal(s, d->names[j]);
        for (unsigned k = 0; k < DMG_RECORDS; k += 100) {
            for (unsigned i = 0; i < 100; i++) {
                recs[i].data = bufs[i];
                recs[i].len = dmg_record(j, k + i, bufs[i]);
            }
            cr_assert_eq(journal_append_batch(jn, k, recs, 100), 0);
        }
        journal_close(jn);
    }
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    d->psize = st.page_size;
    cr_assert_eq(journal_store_close(s), 0);
    snprintf(path, sizeof path, "%s/data.mdb", d->base_dir);
    d->base = dmg_read_file(path, &d->len);
    d->cur = malloc(d->len);
    cr_assert_not_null(d->cur);
    cr_assert_eq(mkdir(d->dir, 0755), 0);
    snprintf(d->file, sizeof d->file, "%s/data.mdb", d->dir);
}

/* Applies the damage chosen by seed to a copy of the undamaged file. */
static void dmg_damage(struct dmg *d, uint64_t seed)
{
    uint64_t r = seed * 0x9e3779b97f4a7c15ULL + 1, npages = d->len / d->psize;
    unsigned kind = (unsigned)(tu_rand(&r) % 10);
    int n = 0;

    memcpy(d->cur, d->base, d->len);
    d->curlen = d->len;
    if (kind < 6) {
        /* Bit flips: in a meta page's header and fields, in some page's
         * header and node table, or anywhere. */
        unsigned flips = 1 + (unsigned)(tu_rand(&r) % 8);
        n = snprintf(d->what, sizeof d->what, "%u bit flips at", flips);
        for (unsigned i = 0; i < flips; i++) {
            uint64_t where = tu_rand(&r) % 10, off;
            if (where < 3)
                off = (tu_rand(&r) % 2) * d->psize + tu_rand(&r) % 160;
            else if (where < 8)
                off = (2 + tu_rand(&r) % (npages - 2)) * d->psize + tu_rand(&r) % 64;
            else
                off = tu_rand(&r) % d->len;
            d->cur[off] ^= (unsigned char)(1u << (tu_rand(&r) % 8));
            if (n < (int)sizeof d->what - 24)
                n += snprintf(d->what + n, sizeof d->what - (size_t)n, " %llu", (unsigned long long)off);
        }
    } else if (kind == 6) {
        uint64_t p = tu_rand(&r) % 8 == 0 ? tu_rand(&r) % 2 : tu_rand(&r) % npages;
        memset(d->cur + p * d->psize, 0, d->psize);
        snprintf(d->what, sizeof d->what, "page %llu zeroed", (unsigned long long)p);
    } else if (kind == 7 || kind == 8) {
        uint64_t a = tu_rand(&r) % npages, b = tu_rand(&r) % npages;
        if (kind == 7) {
            memcpy(d->cur + a * d->psize, d->base + b * d->psize, d->psize);
            memcpy(d->cur + b * d->psize, d->base + a * d->psize, d->psize);
        } else {
            memcpy(d->cur + a * d->psize, d->base + b * d->psize, d->psize);
        }
        snprintf(d->what, sizeof d->what, "page %llu %s page %llu", (unsigned long long)a,
                 kind == 7 ? "swapped with" : "overwritten by", (unsigned long long)b);
    } else {
        /* Cut: anywhere, or at a page boundary. */
        d->curlen = tu_rand(&r) % 2 ? tu_rand(&r) % d->len : (tu_rand(&r) % npages) * d->psize;
        snprintf(d->what, sizeof d->what, "cut to %zu of %zu bytes", d->curlen, d->len);
    }
}

static void dmg_write(struct dmg *d)
{
    int fd = open(d->file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "open(%s): %s", d->file, strerror(errno));
    cr_assert_eq(tu_write_all(fd, d->cur, d->curlen), 0);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* The library, in a child process                                       */

static int dmg_ok(int rc)
{
    return rc == 0 || rc == JOURNAL_ECORRUPT;
}

#define DMG_EXPECT(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            _exit(3);                                                                                                  \
        }                                                                                                              \
    } while (0)

static int dmg_touch(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const unsigned char *p = rec;
    unsigned *sum = arg;
    (void)pos;
    for (size_t i = 0; i < len; i++)
        *sum += p[i];
    return 0;
}

struct dmg_names {
    size_t n;
    char name[64][256];
};

static int dmg_list(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct dmg_names *l = arg;
    (void)begin, (void)end;
    if (l->n < 64)
        snprintf(l->name[l->n++], sizeof l->name[0], "%s", name);
    return 0;
}

static void dmg_problem(void *arg, const char *jname, const char *problem)
{
    (void)jname;
    /* Touch the strings: they must be valid during the call. */
    *(size_t *)arg += strlen(problem);
}

static void dmg_read_journal(journal_store *s, const char *name)
{
    journal_snapshot *snap;
    journal_pos begin, end;
    journal *j;
    unsigned sum = 0;
    size_t len;
    void *rec;
    const void *crec;
    int rc = journal_open(s, name, &j);

    DMG_EXPECT(dmg_ok(rc) || rc == -ENOENT, "journal_open(%s): %d", name, rc);
    if (rc != 0)
        return;
    rc = journal_bounds(j, &begin, &end);
    DMG_EXPECT(dmg_ok(rc), "journal_bounds(%s): %d", name, rc);
    if (rc == 0 && begin < end) {
        rc = journal_get(j, begin + (end - begin) / 2, &rec, &len);
        DMG_EXPECT(dmg_ok(rc) || rc == JOURNAL_ENOTFOUND, "journal_get(%s): %d", name, rc);
        if (rc == 0) {
            dmg_touch(&sum, 0, rec, len);
            free(rec);
        }
        rc = journal_range(j, begin, dmg_touch, &sum);
        DMG_EXPECT(dmg_ok(rc), "journal_range(%s): %d", name, rc);
    }
    rc = journal_snapshot_begin(j, &snap);
    DMG_EXPECT(dmg_ok(rc), "journal_snapshot_begin(%s): %d", name, rc);
    if (rc == 0) {
        rc = journal_snapshot_bounds(snap, &begin, &end);
        DMG_EXPECT(rc == 0, "journal_snapshot_bounds(%s): %d", name, rc);
        if (begin < end) {
            rc = journal_snapshot_get(snap, end - 1, &crec, &len);
            DMG_EXPECT(dmg_ok(rc), "journal_snapshot_get(%s): %d", name, rc);
            if (rc == 0)
                dmg_touch(&sum, 0, crec, len);
            rc = journal_snapshot_range(snap, begin, dmg_touch, &sum);
            DMG_EXPECT(dmg_ok(rc), "journal_snapshot_range(%s): %d", name, rc);
        }
        journal_snapshot_end(snap);
    }
    journal_close(j);
}

/* What the child of a variant is doing, in memory shared with the parent,
 * which names it when the child dies. */
static char *dmg_step;

static void dmg_set_step(const char *fmt, const char *arg)
{
    snprintf(dmg_step, 128, fmt, arg);
}

static void dmg_library(const char *dir, const struct dmg *d)
{
    journal_options o = {.flags = JOURNAL_RDONLY | JOURNAL_VERIFY};
    struct dmg_names *l = calloc(1, sizeof *l);
    journal_store *s;
    size_t chars = 0;
    int rc;

    dmg_set_step("journal_store_open%s", "");
    rc = journal_store_open(dir, &o, &s);
    DMG_EXPECT(dmg_ok(rc) || rc == JOURNAL_EVERSION, "journal_store_open: %d", rc);
    if (rc != 0) {
        free(l);
        return;
    }
    dmg_set_step("journal_store_check%s", "");
    rc = journal_store_check(s, dmg_problem, &chars);
    DMG_EXPECT(dmg_ok(rc), "journal_store_check: %d", rc);
    dmg_set_step("journal_store_list%s", "");
    rc = journal_store_list(s, dmg_list, l);
    DMG_EXPECT(dmg_ok(rc), "journal_store_list: %d", rc);
    for (size_t i = 0; i < l->n; i++) {
        dmg_set_step("reading journal %s", l->name[i]);
        dmg_read_journal(s, l->name[i]);
    }
    /* And the journals of the undamaged store, whatever the list said. */
    for (size_t i = 0; i < DMG_JOURNALS; i++) {
        dmg_set_step("reading journal %s", d->names[i]);
        dmg_read_journal(s, d->names[i]);
    }
    DMG_EXPECT(journal_store_close(s) == 0, "journal_store_close");
    free(l);
}

/* ------------------------------------------------------------------ */
/* Running and judging                                                   */

/* Waits for pid and describes how it ended when that is not exit 0 or 1
 * (exit 1 allowed only when `may_fail`). Returns 0 when it is fine. */
static int dmg_judge(pid_t pid, int may_fail, char *why, size_t size)
{
    int st = tu_reap(pid);
    if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || (may_fail && WEXITSTATUS(st) == 1)))
        return 0;
    if (WIFSIGNALED(st))
        snprintf(why, size, "killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WTERMSIG(st) == SIGALRM ? ", a hang" : "");
    else
        snprintf(why, size, "exit status %d", WEXITSTATUS(st));
    return -1;
}

/* journal-dump's main, built into the test binary (see the Makefile). */
int journal_dump_main(int argc, char **argv);

/* Runs journal-dump OPT DIR or journal-dump DIR NAME: its main, in this
 * process, returning its exit status; or with `exec` the program itself,
 * in a child, returning the child's pid. */
static int dmg_tool(int exec, const char *dir, const char *opt, const char *name)
{
    const char *bin = tu_bin("journal-dump");
    char *argv[] = {(char *)bin, (char *)(opt ? opt : dir), (char *)(opt ? dir : name), NULL};
    pid_t pid;

    if (!exec) {
        optind = 0; /* glibc: start getopt afresh */
        return journal_dump_main(argv[2] ? 3 : 2, argv);
    }
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (!getenv("JOURNAL_TEST_DAMAGED_VERBOSE"))
            dup2(null, STDERR_FILENO);
        alarm(DMG_TIMEOUT_S); /* kept across exec: a hang ends by SIGALRM */
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

/* In the child of a variant: journal-dump's main for --check, the list and
 * every journal, one after the other. */
static void dmg_tools_inline(const struct dmg *d)
{
    int st;
    dmg_set_step("journal-dump --check%s", "");
    st = dmg_tool(0, d->dir, "--check", NULL);
    DMG_EXPECT(st == 0 || st == 1, "journal-dump --check: exit status %d", st);
    dmg_set_step("journal-dump (list)%s", "");
    st = dmg_tool(0, d->dir, NULL, NULL);
    DMG_EXPECT(st == 0 || st == 1, "journal-dump (list): exit status %d", st);
    for (unsigned j = 0; j < DMG_JOURNALS; j++) {
        dmg_set_step("journal-dump %s", d->names[j]);
        st = dmg_tool(0, d->dir, NULL, d->names[j]);
        DMG_EXPECT(st == 0 || st == 1, "journal-dump %s: exit status %d", d->names[j], st);
    }
}

/*
 * Runs every reader on the variant in d->cur: the library calls and
 * journal-dump's main in one child (with `exec`, the journal-dump program
 * in a child per run). Returns 0, or -1 with the failure described in why.
 */
static int dmg_run_variant(struct dmg *d, int exec, char *why, size_t size)
{
    char what[64];
    unsigned char *after;
    size_t after_len;
    pid_t pid;

    dmg_write(d);
    strcpy(dmg_step, "starting");
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        alarm(DMG_TIMEOUT_S);
        dup2(null, STDOUT_FILENO);
        if (!getenv("JOURNAL_TEST_DAMAGED_VERBOSE"))
            dup2(null, STDERR_FILENO);
        dmg_library(d->dir, d);
        if (!exec)
            dmg_tools_inline(d);
        _exit(0);
    }
    if (dmg_judge(pid, 0, what, sizeof what) != 0) {
        snprintf(why, size, "%s: %s", dmg_step, what);
        return -1;
    }
    if (exec) {
        if (dmg_judge(dmg_tool(1, d->dir, "--check", NULL), 1, what, sizeof what) != 0) {
            snprintf(why, size, "the program journal-dump --check: %s", what);
            return -1;
        }
        if (dmg_judge(dmg_tool(1, d->dir, NULL, NULL), 1, what, sizeof what) != 0) {
            snprintf(why, size, "the program journal-dump (list): %s", what);
            return -1;
        }
        for (unsigned j = 0; j < DMG_JOURNALS; j++) {
            if (dmg_judge(dmg_tool(1, d->dir, NULL, d->names[j]), 1, what, sizeof what) != 0) {
                snprintf(why, size, "the program journal-dump %s: %s", d->names[j], what);
                return -1;
            }
        }
    }
    after = dmg_read_file(d->file, &after_len);
    if (after_len != d->curlen || memcmp(after, d->cur, after_len) != 0) {
        free(after);
        snprintf(why, size, "the data file changed");
        return -1;
    }
    free(after);
    return 0;
}

static unsigned dmg_env_count(const char *env, unsigned dflt)
{
    const char *v = getenv(env);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* No Criterion timeout: every child has its alarm (DMG_TIMEOUT_S), and a
 * long run (JOURNAL_TEST_DAMAGED_VARIANTS=20000) takes hours on a busy
 * machine. */
Test(damaged, no_damaged_file_crashes_the_check_the_tools_or_verified_reads)
{
    static struct dmg d;
    uint64_t seed;
    unsigned variants =
        dmg_env_count("JOURNAL_TEST_DAMAGED_VARIANTS", getenv("JOURNAL_TEST_VALGRIND") ? DMG_VARIANTS_VALGRIND
                                                       : DMG_SANITIZED                 ? DMG_VARIANTS_SAN
                                                                                       : DMG_VARIANTS);
    unsigned failed = 0, collect = dmg_env_count("JOURNAL_TEST_DAMAGED_COLLECT", 0);
    unsigned exec_every = dmg_env_count("JOURNAL_TEST_DAMAGED_EXEC_EVERY", DMG_EXEC_EVERY);
    char why[256];

    tu_require_lmdb();
    dmg_step = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(dmg_step != MAP_FAILED);
    seed = tu_seed("JOURNAL_TEST_DAMAGED_SEED");
    dmg_build(&d);
    for (unsigned i = 0; i < variants; i++) {
        if (i > 0 && i % 1000 == 0)
            fprintf(stderr, "damaged: %u variants, %u failed\n", i, failed);
        dmg_damage(&d, seed + i);
        if (dmg_run_variant(&d, exec_every && i % exec_every == 0, why, sizeof why) == 0)
            continue;
        failed++;
        fprintf(stderr, "damaged: JOURNAL_TEST_DAMAGED_SEED=%llu (%s): %s\n", (unsigned long long)(seed + i), d.what,
                why);
        cr_assert(collect, "variant JOURNAL_TEST_DAMAGED_SEED=%llu (%s): %s", (unsigned long long)(seed + i), d.what,
                  why);
    }
    fprintf(stderr, "damaged: %u variants from JOURNAL_TEST_DAMAGED_SEED=%llu, %u failed\n", variants,
            (unsigned long long)seed, failed);
    cr_assert_eq(failed, 0, "%u of %u variants failed", failed, variants);
    free(d.base);
    free(d.cur);
}

/* ------------------------------------------------------------------ */
/* Named cases                                                           */

/* Builds a store of one journal "j" of n records of 100 bytes, closes
 * it, and reads its data file. */
static unsigned char *dmg_small_store(const char *dir, unsigned n, size_t *len)
{
    static unsigned char rec[100];
    char path[4096];
    journal_store *s = tu_open_store(dir, 0);
    journal *j = tu_open_journal(s, "j");

    for (unsigned i = 0; i < n; i++) {
        memset(rec, 'a' + i % 26, sizeof rec);
        cr_assert_eq(journal_append(j, i, rec, sizeof rec), 0);
    }
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    return dmg_read_file(path, len);
}

static void dmg_write_to(const char *dir, const unsigned char *p, size_t len)
{
    char path[4096];
    int fd;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert(fd >= 0);
    cr_assert_eq(tu_write_all(fd, p, len), 0);
    close(fd);
}

/* The offset in p of the leaf node of record pos of the first journal (id
 * 1): its 16-byte key is unique in the file. */
static size_t dmg_find_record(const unsigned char *p, size_t len, uint64_t pos)
{
    unsigned char key[16] = {0, 0, 0, 0, 0, 0, 0, 1};
    for (int i = 0; i < 8; i++)
        key[8 + i] = (unsigned char)(pos >> (56 - 8 * i));
    for (size_t off = 8; off + 16 <= len; off++)
        if (memcmp(p + off, key, 16) == 0 && p[off - 2] == 16 && p[off - 1] == 0)
            return off - 8; /* the node header: size lo, size hi, flags, key size */
    cr_assert_fail("record %llu not found in the file", (unsigned long long)pos);
    return 0;
}

struct dmg_msgs {
    char text[4096];
    size_t len;
};

static void dmg_collect(void *arg, const char *jname, const char *problem)
{
    struct dmg_msgs *m = arg;
    int n = snprintf(m->text + m->len, sizeof m->text - m->len, "%s: %s\n", jname ? jname : "(store)", problem);
    if (n > 0 && m->len + (size_t)n < sizeof m->text)
        m->len += (size_t)n;
}

static int dmg_count(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)pos, (void)rec, (void)len;
    ++*(unsigned *)arg;
    return 0;
}

/* A value whose length reaches past the pages in use: without
 * JOURNAL_VERIFY LMDB hands out the pointer, and the caller's copy raised
 * SIGBUS; the reads now see it and say JOURNAL_ECORRUPT. */
Test(damaged, a_value_reaching_past_the_data_is_corrupt_not_a_crash_on_every_read)
{
    const char *dir = tu_path("s");
    size_t len, node;
    unsigned char *p;
    journal_store *s;
    journal_snapshot *snap;
    journal *j;
    const void *crec;
    void *rec;
    size_t rlen;
    unsigned n = 0;
    int rc;
    struct dmg_msgs m = {.len = 0};
    char *out = NULL, *err = NULL, cmd[8192];

    tu_require_lmdb();
    p = dmg_small_store(dir, 50, &len);
    node = dmg_find_record(p, len, 20);
    p[node + 3] = 0x10; /* size += 256 MiB: the 1 GiB map holds it, the file does not */
    dmg_write_to(dir, p, len);
    for (int verify = 0; verify < 2; verify++) {
        journal_options o = {.flags = JOURNAL_RDONLY | (verify ? JOURNAL_VERIFY : 0)};
        cr_assert_eq(journal_store_open(dir, &o, &s), 0);
        j = tu_open_journal(s, "j");
        /* With JOURNAL_VERIFY the whole damaged page is refused. */
        rc = journal_get(j, 19, &rec, &rlen);
        cr_assert_eq(rc, verify ? JOURNAL_ECORRUPT : 0);
        if (rc == 0)
            free(rec);
        cr_assert_eq(journal_get(j, 20, &rec, &rlen), JOURNAL_ECORRUPT);
        n = 0;
        cr_assert_eq(journal_range(j, 0, dmg_count, &n), JOURNAL_ECORRUPT);
        cr_assert_eq(n, verify ? 0 : 20, "with JOURNAL_VERIFY nothing of a damaged chunk is delivered");
        cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
        cr_assert_eq(journal_snapshot_get(snap, 20, &crec, &rlen), JOURNAL_ECORRUPT);
        journal_snapshot_end(snap);
        journal_close(j);
        cr_assert_eq(journal_store_close(s), 0);
    }
    s = tu_open_store(dir, JOURNAL_RDONLY);
    cr_assert_eq(journal_store_check(s, dmg_collect, &m), JOURNAL_ECORRUPT);
    cr_assert(strstr(m.text, "records database, page ") && strstr(m.text, "past the page end"), "%s", m.text);
    cr_assert_eq(journal_store_close(s), 0);
    snprintf(cmd, sizeof cmd, "%s %s j", tu_bin("journal-dump"), dir);
    cr_assert_eq(tu_run(cmd, &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "JOURNAL_ECORRUPT"), "%s", err);
    free(out);
    free(err);
    free(p);
}

/* A leaf page of the records whose flags were zeroed: LMDB's cursor
 * asserted (abort) in journal_store_check() and in journal-dump. */
Test(damaged, a_records_page_with_bad_flags_is_reported_with_its_journal_and_position)
{
    const char *dir = tu_path("s");
    size_t len, node, psize = (size_t)sysconf(_SC_PAGESIZE), page;
    unsigned char *p;
    journal_store *s;
    struct dmg_msgs m = {.len = 0};
    char *out = NULL, *err = NULL, cmd[8192];

    tu_require_lmdb();
    p = dmg_small_store(dir, 2000, &len);
    node = dmg_find_record(p, len, 1500);
    page = node / psize * psize;
    p[page + sizeof(size_t) + 2] = 0; /* mp_flags: P_LEAF gone */
    p[page + sizeof(size_t) + 3] = 0;
    dmg_write_to(dir, p, len);
    s = tu_open_store(dir, JOURNAL_RDONLY);
    cr_assert_eq(journal_store_check(s, dmg_collect, &m), JOURNAL_ECORRUPT);
    cr_assert(strstr(m.text, "j: records database, page ") && strstr(m.text, "flags 0x0") &&
                  strstr(m.text, "(from position "),
              "%s", m.text);
    cr_assert_eq(journal_store_close(s), 0);
    snprintf(cmd, sizeof cmd, "%s -c %s", tu_bin("journal-dump"), dir);
    cr_assert_eq(tu_run(cmd, &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "journal j: records database, page "), "%s", err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s %s j", tu_bin("journal-dump"), dir);
    cr_assert_eq(tu_run(cmd, &out, &err), 1, "%s", err);
    free(out);
    free(err);
    free(p);
}

/* The main database's root in the newest meta page pointing past the
 * file: open refuses the store instead of letting LMDB follow it. */
Test(damaged, a_meta_page_with_a_root_past_the_file_is_refused_at_open)
{
    const char *dir = tu_path("s");
    size_t len, psize = (size_t)sysconf(_SC_PAGESIZE), off;
    unsigned char *p;
    journal_options o = {.flags = JOURNAL_RDONLY};
    journal_store *s;
    uint64_t t0, t1, root = 1u << 30;

    tu_require_lmdb();
    p = dmg_small_store(dir, 10, &len);
    /* MDB_meta after the page header: magic, version, address, map size,
     * the free database's record, then the main one's, whose root is its
     * last field; the transaction id ends the meta. */
    off = 16 + 8 + 2 * sizeof(void *) + 2 * (8 + 5 * sizeof(size_t)) + sizeof(size_t);
    memcpy(&t0, p + off, 8);
    memcpy(&t1, p + psize + off, 8);
    memcpy(p + (t1 > t0 ? psize : 0) + off - sizeof(size_t) - sizeof(size_t), &root, 8);
    dmg_write_to(dir, p, len);
    cr_assert_eq(journal_store_open(dir, &o, &s), JOURNAL_ECORRUPT);
    free(p);
}

/* Variants that crashed journal-dump before the page checks (found by the
 * test above, with the store it builds), replayed in both ways. */
static void dmg_replay(uint64_t seed)
{
    static struct dmg d;
    char why[256];

    tu_require_lmdb();
    dmg_step = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(dmg_step != MAP_FAILED);
    dmg_build(&d);
    dmg_damage(&d, seed);
    for (int exec = 0; exec < 2; exec++)
        cr_assert_eq(dmg_run_variant(&d, exec, why, sizeof why), 0, "seed %llu (%s): %s", (unsigned long long)seed,
                     d.what, why);
    free(d.base);
    free(d.cur);
}

/* SIGSEGV in journal-dump --check: bit flips in meta page 0 and page headers. */
Test(damaged, seed_7000_meta_and_header_flips_crashed_the_check)
{
    dmg_replay(7000);
}

/* SIGSEGV in journal-dump journal-05: a node offset sent the cursor off the page. */
Test(damaged, seed_7003_flips_crashed_the_dump_of_a_journal)
{
    dmg_replay(7003);
}

/* Abort (LMDB's IS_LEAF assertion) in journal-dump --check: a zeroed page. */
Test(damaged, seed_7007_a_zeroed_page_aborted_the_check)
{
    dmg_replay(7007);
}

/* Abort in journal-dump --check: two pages swapped. */
Test(damaged, seed_7011_swapped_pages_aborted_the_check)
{
    dmg_replay(7011);
}

/* SIGBUS in journal-dump --check: a value's length past the file's end. */
Test(damaged, seed_7014_flips_raised_sigbus_in_the_check)
{
    dmg_replay(7014);
}
