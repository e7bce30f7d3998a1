/*
 * test_crash.c - a writer killed with SIGKILL at random moments loses no
 * acknowledged write and leaves a store that opens and checks clean (LMDB
 * backend).
 *
 * A child process appends single records and batches and truncates large
 * ranges, with default durability. Before each write it tells the parent
 * through a pipe what it is about to do, and after the call returned 0 it
 * says so. The parent kills it at a random moment (seeded by
 * JOURNAL_TEST_SEED), then opens the store and checks: it opens without error,
 * journal_store_check() finds nothing, every position in bounds reads back
 * byte for byte, the end is the acknowledged end or, when a write was in
 * flight, exactly that whole write past it (a batch is all or nothing), and
 * begin lies between the acknowledged begin and the target of a truncation
 * in flight. Record contents depend only on the seed and the position, so
 * any record can be checked without having seen it written.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 30
/* Longest the child runs in a round before the parent kills it anyway. */
#define ROUND_MAX_US 2000000
/* The child truncates most of the journal once it holds this many records:
 * enough for the library to split the truncation into several transactions
 * (it removes 16384 records per transaction). */
#define BIG 36000
#define BATCH_MAX 1000
/* Under valgrind, which is some 30 times slower: fewer rounds, and large
 * truncations that fit one transaction. */
#define VALGRIND_ROUNDS 8
#define VALGRIND_BIG 3000

/* ------------------------------------------------------------------------ */
/* Records                                                                  */

#define REC_MAX 6000

/* The record at pos: its length and bytes follow from the seed and pos
 * alone. One in 64 is large enough to need overflow pages. */
static size_t rec_make(uint64_t seed, journal_pos pos, unsigned char *buf)
{
    uint64_t st = (seed ^ (pos * 0x9e3779b97f4a7c15ull)) | 1;
    uint64_t r = tu_rand(&st);
    size_t len = r % 64 == 0 ? 2000 + r % (REC_MAX - 2000) : 8 + (r >> 8) % 192;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(pos >> (56 - 8 * i));
    for (size_t i = 8; i < len; i++)
        buf[i] = (unsigned char)(tu_rand(&st) >> 56);
    return len;
}

/* ------------------------------------------------------------------------ */
/* The child: writes until it is killed                                     */

enum op { OP_NONE, OP_APPEND, OP_BATCH, OP_TRUNCATE };

/* One line of the child's log. Intent: a = end, b = records (appends), or
 * a = begin, b = the truncation's target. Acknowledged: the same values,
 * sent after the call returned 0. 24 bytes: pipe writes are atomic. */
struct msg {
    uint32_t op;
    uint32_t acked;
    uint64_t a, b;
};

struct child {
    const char *path;
    uint64_t seed;     /* of the records' contents */
    uint64_t ops_seed; /* of the child's choice of writes */
    int build;         /* append full batches until a large truncation is due */
    journal_pos big;   /* truncate most of the journal from this many records */
    int log[2];
};

static void say(struct child *c, enum op op, int acked, uint64_t a, uint64_t b)
{
    struct msg m = {.op = op, .acked = (uint32_t)acked, .a = a, .b = b};
    if (tu_write_all(c->log[1], &m, sizeof m) != 0)
        tu_child_fail("cannot write the log");
}

static void writer(void *arg)
{
    struct child *c = arg;
    static journal_record recs[BATCH_MAX];
    unsigned char *bytes = malloc((size_t)BATCH_MAX * REC_MAX);
    journal_store *s;
    journal *j;
    journal_pos begin, end;
    uint64_t st = c->ops_seed;
    int rc;
    close(c->log[0]);
    if (!bytes)
        tu_child_fail("out of memory");
    rc = journal_store_open(c->path, NULL, &s);
    if (rc != 0)
        tu_child_fail("journal_store_open after a kill: %s", journal_strerror(rc));
    rc = journal_open(s, "crash", &j);
    if (rc != 0)
        tu_child_fail("journal_open after a kill: %s", journal_strerror(rc));
    rc = journal_bounds(j, &begin, &end);
    if (rc != 0)
        tu_child_fail("journal_bounds after a kill: %s", journal_strerror(rc));
    for (;;) {
        unsigned r = (unsigned)(tu_rand(&st) % 100);
        if (end - begin >= c->big || (r < 15 && end > begin)) {
            /* Most of a large journal, so that the truncation takes several
             * transactions, or a few records of any journal. */
            journal_pos to = end - begin >= c->big ? begin + (end - begin) * (60 + tu_rand(&st) % 41) / 100
                                                   : begin + 1 + tu_rand(&st) % (end - begin < 100 ? end - begin : 100);
            say(c, OP_TRUNCATE, 0, begin, to);
            rc = journal_truncate(j, to);
            if (rc != 0)
                tu_child_fail("journal_truncate(%llu): %s", (unsigned long long)to, journal_strerror(rc));
            say(c, OP_TRUNCATE, 1, begin, to);
            begin = to;
        } else if (r < 40 && !c->build) {
            size_t len = rec_make(c->seed, end, bytes);
            say(c, OP_APPEND, 0, end, 1);
            rc = journal_append(j, end, bytes, len);
            if (rc != 0)
                tu_child_fail("journal_append(%llu): %s", (unsigned long long)end, journal_strerror(rc));
            say(c, OP_APPEND, 1, end, 1);
            end++;
        } else {
            size_t n = c->build ? BATCH_MAX : 1 + tu_rand(&st) % BATCH_MAX;
            for (size_t i = 0; i < n; i++) {
                recs[i].data = bytes + i * REC_MAX;
                recs[i].len = rec_make(c->seed, end + i, bytes + i * REC_MAX);
            }
            say(c, OP_BATCH, 0, end, n);
            rc = journal_append_batch(j, end, recs, n);
            if (rc != 0)
                tu_child_fail("journal_append_batch(%llu, %zu): %s", (unsigned long long)end, n, journal_strerror(rc));
            say(c, OP_BATCH, 1, end, n);
            end += n;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The parent: kills, then checks                                           */

/* How a round chooses its moment: some time after the start (during open
 * and recovery too), or some time after the child announced a write of a
 * kind, so that kills land inside truncations and batches often. */
enum when { AFTER_START, AFTER_TRUNCATE, AFTER_BATCH, AFTER_APPEND, WHEN_COUNT };

struct state {
    journal_pos begin, end; /* acknowledged */
    struct msg pending;     /* announced and not acknowledged; op OP_NONE if none */
};

struct stats {
    unsigned in_flight[4]; /* kills while a write of that op was in flight */
    unsigned applied[4];   /* ... that turned out committed (some of it, for truncations) */
    unsigned part_way;     /* truncations cut between two of their transactions */
    journal_pos most;      /* the most records the journal held after a kill */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Follows one message of the log: intents must start where the
 * acknowledged state is, and acknowledgements match their intent. */
static void follow(struct state *k, const struct msg *m)
{
    if (!m->acked) {
        cr_assert_eq(k->pending.op, OP_NONE, "two writes in flight");
        if (m->op == OP_TRUNCATE)
            cr_assert(m->a == k->begin && m->b <= k->end, "truncation intent out of bounds");
        else
            cr_assert_eq(m->a, k->end, "append intent at %llu, end is %llu", (unsigned long long)m->a,
                         (unsigned long long)k->end);
        k->pending = *m;
        return;
    }
    cr_assert(k->pending.op == m->op && k->pending.a == m->a && k->pending.b == m->b,
              "acknowledgement without its intent");
    if (m->op == OP_TRUNCATE)
        k->begin = m->b;
    else
        k->end += m->b;
    k->pending.op = OP_NONE;
}

/* Runs the child until the chosen moment, kills it, and reads its whole
 * log (every write end is closed once it is dead). */
static void run_and_kill(struct child *c, struct state *k, enum when when, uint64_t delay_us)
{
    struct msg m;
    pid_t pid;
    uint64_t start, deadline;
    int status, armed = when == AFTER_START;
    cr_assert_eq(pipe(c->log), 0);
    pid = tu_spawn(writer, c);
    close(c->log[1]);
    start = now_us();
    deadline = start + (armed ? delay_us : ROUND_MAX_US);
    for (;;) {
        struct pollfd p = {.fd = c->log[0], .events = POLLIN};
        uint64_t t = now_us();
        struct timespec ts;
        int n;
        if (t >= deadline)
            break;
        ts.tv_sec = (time_t)((deadline - t) / 1000000u);
        ts.tv_nsec = (long)((deadline - t) % 1000000u * 1000u);
        n = ppoll(&p, 1, &ts, NULL);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert(n >= 0, "ppoll: %s", strerror(errno));
        if (n == 0)
            break;
        if (read(c->log[0], &m, sizeof m) != (ssize_t)sizeof m)
            break; /* the child died by itself: its status tells why */
        follow(k, &m);
        if (!armed && !m.acked &&
            ((when == AFTER_TRUNCATE && m.op == OP_TRUNCATE && m.b - m.a > c->big / 2) ||
             (when == AFTER_BATCH && m.op == OP_BATCH) || (when == AFTER_APPEND && m.op == OP_APPEND))) {
            armed = 1;
            deadline = now_us() + delay_us;
        }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer ended by itself (status %#x): %s", status,
              tu_child_errors());
    while (read(c->log[0], &m, sizeof m) == (ssize_t)sizeof m)
        follow(k, &m);
    close(c->log[0]);
}

static void report_problem(void *arg, const char *name, const char *problem)
{
    (void)arg;
    fprintf(stderr, "journal_store_check: %s: %s\n", name ? name : "(store)", problem);
}

/* The store after a kill: opens, checks clean, holds the acknowledged
 * state give or take the one write in flight, and every record in bounds
 * reads back as written. */
static void verify(struct child *c, struct state *k, struct stats *st, unsigned round)
{
    static unsigned char want[REC_MAX];
    journal_store *s = NULL;
    journal *j;
    journal_pos begin, end;
    void *rec;
    size_t len;
    int rc = journal_store_open(c->path, NULL, &s);
    cr_assert_eq(rc, 0, "round %u: journal_store_open after the kill: %s", round, journal_strerror(rc));
    rc = journal_store_check(s, report_problem, NULL);
    cr_assert_eq(rc, 0, "round %u: journal_store_check: %s", round, journal_strerror(rc));
    j = tu_open_journal(s, "crash");
    cr_assert_eq(journal_bounds(j, &begin, &end), 0);
    switch (k->pending.op) {
    case OP_NONE:
        cr_assert(begin == k->begin && end == k->end, "round %u: bounds [%llu, %llu), acknowledged [%llu, %llu)", round,
                  (unsigned long long)begin, (unsigned long long)end, (unsigned long long)k->begin,
                  (unsigned long long)k->end);
        break;
    case OP_APPEND:
    case OP_BATCH:
        cr_assert(begin == k->begin && (end == k->end || end == k->end + k->pending.b),
                  "round %u: bounds [%llu, %llu), acknowledged [%llu, %llu) and %llu records in flight", round,
                  (unsigned long long)begin, (unsigned long long)end, (unsigned long long)k->begin,
                  (unsigned long long)k->end, (unsigned long long)k->pending.b);
        break;
    case OP_TRUNCATE:
        cr_assert(end == k->end && begin >= k->begin && begin <= k->pending.b,
                  "round %u: bounds [%llu, %llu), acknowledged [%llu, %llu), truncation to %llu in flight", round,
                  (unsigned long long)begin, (unsigned long long)end, (unsigned long long)k->begin,
                  (unsigned long long)k->end, (unsigned long long)k->pending.b);
        break;
    }
    if (k->pending.op != OP_NONE) {
        st->in_flight[k->pending.op]++;
        st->applied[k->pending.op] += begin != k->begin || end != k->end;
        st->part_way += k->pending.op == OP_TRUNCATE && begin != k->begin && begin != k->pending.b;
    }
    if (end - begin > st->most)
        st->most = end - begin;
    for (journal_pos pos = begin; pos < end; pos++) {
        size_t want_len = rec_make(c->seed, pos, want);
        rc = journal_get(j, pos, &rec, &len);
        cr_assert_eq(rc, 0, "round %u: journal_get(%llu) in [%llu, %llu): %s", round, (unsigned long long)pos,
                     (unsigned long long)begin, (unsigned long long)end, journal_strerror(rc));
        cr_assert(len == want_len && memcmp(rec, want, len) == 0, "round %u: record %llu differs", round,
                  (unsigned long long)pos);
        free(rec);
    }
    cr_assert_eq(journal_get(j, end, &rec, &len), JOURNAL_ENOTFOUND);
    if (begin > 0)
        cr_assert_eq(journal_get(j, begin - 1, &rec, &len), JOURNAL_ENOTFOUND);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    k->begin = begin;
    k->end = end;
    k->pending.op = OP_NONE;
}

TestSuite(crash, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

Test(crash, killed_writer_loses_no_acknowledged_write)
{
    struct child c = {0};
    struct state k = {0};
    struct stats st = {0};
    const char *vg = getenv("JOURNAL_TEST_VALGRIND");
    int valgrind = vg && *vg && strcmp(vg, "0") != 0;
    unsigned rounds = valgrind ? VALGRIND_ROUNDS : ROUNDS;
    uint64_t seed, rng;

    tu_require_lmdb();
    seed = tu_seed("JOURNAL_TEST_SEED");
    rng = seed;
    c.path = tu_store();
    c.seed = seed;
    c.big = valgrind ? VALGRIND_BIG : BIG;
    tu_procs_init();
    for (unsigned round = 0; round < rounds; round++) {
        enum when when = (enum when)(round % WHEN_COUNT);
        /* From the start, up to 40 ms: the child may die while opening.
         * After an announced write, up to 3 ms: inside it or just after;
         * up to 60 ms for a large truncation, which takes tens of ms. */
        uint64_t delay = tu_rand(&rng) % (when == AFTER_START ? 40000 : when == AFTER_TRUNCATE ? 60000 : 3000);
        /* Each round's child draws its own sequence of writes. */
        c.ops_seed = (seed ^ (round + 1) * 0x9e3779b97f4a7c15ull) | 1;
        c.build = when == AFTER_TRUNCATE;
        run_and_kill(&c, &k, when, delay);
        verify(&c, &k, &st, round);
    }
    fprintf(stderr,
            "crash: %u rounds; killed during %u appends (%u committed), %u batches (%u committed), %u truncations "
            "(%u moved begin, %u of them part-way); up to %llu records\n",
            rounds, st.in_flight[OP_APPEND], st.applied[OP_APPEND], st.in_flight[OP_BATCH], st.applied[OP_BATCH],
            st.in_flight[OP_TRUNCATE], st.applied[OP_TRUNCATE], st.part_way, (unsigned long long)st.most);
    tu_procs_fini();
}
