/*
 * test_examples.c - runs the programs of examples/ (built into
 * $JOURNAL_TEST_EXAMPLES by `make examples`) and checks what they print,
 * their exit codes and what they leave in the store.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

TestSuite(examples, .init = tu_setup, .fini = tu_teardown);

/* Path of the example program `name`, in a static buffer: each test runs
 * one example. */
static char *example(const char *name)
{
    static char path[4096];
    const char *d = getenv("JOURNAL_TEST_EXAMPLES");
    int n = snprintf(path, sizeof path, "%s/%s", d && *d ? d : "build/examples", name);

    cr_assert(n > 0 && (size_t)n < sizeof path);
    return path;
}

/* Starts argv[0] with stdout on fd `out` and stdin on /dev/null; returns
 * the child's pid. */
static pid_t spawn(int out, char *const argv[])
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(out, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    pid_t r;

    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    cr_assert_eq(r, pid);
    cr_assert(WIFEXITED(status), "killed by signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

static unsigned count_lines(const char *s, const char *needle)
{
    unsigned n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ------------------------------------------------------------- aggregate */

Test(examples, aggregate_rebuilds_the_balance_from_its_events)
{
    const char *agg = example("aggregate"), *store = tu_store();
    char *out, *err;

    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' acct deposit 100", agg, store), 0, "%s", err);
    cr_assert_str_eq(out, "deposit 100 at 0: balance 100 (0 conflicts)\n");
    free(out);
    free(err);
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' acct withdraw 30 2", agg, store), 0, "%s", err);
    cr_assert_str_eq(out, "withdraw 30 at 1: balance 70 (0 conflicts)\n"
                          "withdraw 30 at 2: balance 40 (0 conflicts)\n");
    free(out);
    free(err);
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' acct balance", agg, store), 0, "%s", err);
    cr_assert_str_eq(out, "acct: balance 40 after 3 events\n");
    free(out);
    free(err);
    /* Another account is another journal, with its own history. */
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' other balance", agg, store), 0, "%s", err);
    cr_assert_str_eq(out, "other: balance 0 after 0 events\n");
    free(out);
    free(err);
}

Test(examples, aggregate_rejects_an_overdraft_and_appends_nothing)
{
    const char *agg = example("aggregate"), *store = tu_store();
    char *out, *err;

    cr_assert_eq(tu_runf(NULL, NULL, "'%s' '%s' acct deposit 50", agg, store), 0);
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' acct withdraw 80", agg, store), 3, "%s", err);
    cr_assert_str_eq(out, "withdraw 80: rejected, balance 50\n");
    free(out);
    free(err);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' acct balance", agg, store), 0);
    cr_assert_str_eq(out, "acct: balance 50 after 1 events\n");
    free(out);
}

struct replay {
    long long balance, lowest;
    unsigned withdrawals;
};

static int replay_event(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct replay *r = arg;
    char buf[32];
    long long amount;

    (void)pos;
    cr_assert_lt(len, sizeof buf);
    memcpy(buf, rec, len);
    buf[len] = '\0';
    if (sscanf(buf, "deposit %lld", &amount) == 1) {
        r->balance += amount;
    } else {
        cr_assert_eq(sscanf(buf, "withdraw %lld", &amount), 1, "bad event %s", buf);
        r->balance -= amount;
        r->withdrawals++;
    }
    if (r->balance < r->lowest)
        r->lowest = r->balance;
    return 0;
}

/* Two processes withdraw 10 seventy times each from an account holding
 * 1000: together they ask for 1400. Optimistic concurrency must let
 * exactly 100 withdrawals through and never let the balance go negative,
 * however their appends interleave. */
Test(examples, aggregate_never_overdraws_when_two_processes_race)
{
    const char *store = tu_store();
    char *agg = example("aggregate"), *out[2];
    char *argv[] = {agg, (char *)store, "acct", "withdraw", "10", "70", NULL};
    struct replay r = {0, 0, 0};
    unsigned accepted = 0;
    journal_store *s;
    journal *j;
    pid_t pids[2];
    int fds[2], code;

    cr_assert_eq(tu_runf(NULL, NULL, "'%s' '%s' acct deposit 1000", agg, store), 0);
    for (int i = 0; i < 2; i++) {
        fds[i] = open(tu_path(i ? "out1" : "out0"), O_RDWR | O_CREAT | O_TRUNC, 0600);
        cr_assert(fds[i] >= 0);
    }
    for (int i = 0; i < 2; i++)
        pids[i] = spawn(fds[i], argv);
    for (int i = 0; i < 2; i++) {
        code = wait_exit(pids[i]);
        /* 3: some of its withdrawals were rejected, which must happen to
         * at least one of them. */
        cr_assert(code == 0 || code == 3, "aggregate exited with %d", code);
        close(fds[i]);
        cr_assert_eq(tu_runf(&out[i], NULL, "cat '%s'", tu_path(i ? "out1" : "out0")), 0);
        accepted += count_lines(out[i], "withdraw 10 at ");
        free(out[i]);
    }
    cr_assert_eq(accepted, 100);

    s = tu_open_store(store, JOURNAL_RDONLY);
    j = tu_open_journal(s, "acct");
    cr_assert_eq(journal_range(j, 0, replay_event, &r), 0);
    cr_assert_eq(r.lowest, 0, "the balance went down to %lld", r.lowest);
    cr_assert_eq(r.balance, 0);
    cr_assert_eq(r.withdrawals, 100);
    journal_close(j);
    journal_store_close(s);
}

Test(examples, aggregate_rejects_bad_usage_with_status_2)
{
    const char *agg = example("aggregate"), *store = tu_store();
    const char *bad[] = {"",
                         "acct",
                         "acct deposit",
                         "acct steal 10",
                         "acct deposit 0",
                         "acct deposit -5",
                         "acct deposit 12abc",
                         "acct withdraw 10 0",
                         "acct balance extra"};
    char *err;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' %s", agg, store, bad[i]), 2, "args: %s", bad[i]);
        cr_assert(strstr(err, "usage: aggregate") != NULL, "args %s: %s", bad[i], err);
        free(err);
    }
}

Test(examples, aggregate_reports_a_store_it_cannot_open_with_status_1)
{
    const char *agg = example("aggregate");
    char *err;

    /* A store below a regular file cannot be created. */
    cr_assert_eq(tu_runf(NULL, NULL, "touch '%s'", tu_path("file")), 0);
    cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s/store' acct balance", agg, tu_path("file")), 1);
    cr_assert(strncmp(err, "aggregate: ", 11) == 0, "%s", err);
    free(err);
}

/* -------------------------------------------------------------- follower */

static void append_text(journal *j, journal_pos pos)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "rec-%llu", (unsigned long long)pos);
    cr_assert_eq(journal_append(j, pos, buf, (size_t)n), 0);
}

/* Checks a line "worker W: POS: rec-POS" and marks POS as seen. */
static void check_follower_line(const char *line, unsigned nworkers, unsigned count, unsigned char *seen)
{
    unsigned w, pos, pos2;

    cr_assert_eq(sscanf(line, "worker %u: %u: rec-%u", &w, &pos, &pos2), 3, "line: %s", line);
    cr_assert_lt(pos, count, "line: %s", line);
    cr_assert_eq(pos2, pos, "line: %s", line);
    cr_assert_eq(w, pos % nworkers, "line: %s", line);
    cr_assert_eq(seen[pos], 0, "record %u processed twice", pos);
    seen[pos] = 1;
}

/* Half the records exist when the service starts; the test appends the
 * other half only after it has seen the first half processed, so the
 * workers must wait for them. journal_wait() checks the bounds once more
 * when its time runs out, so a wakeup it missed does not fail this test:
 * it makes it last the follower's whole 10 s timeout instead. */
Test(examples, follower_workers_process_every_record_exactly_once)
{
    enum { WORKERS = 3, COUNT = 12 };
    const char *store = tu_store();
    char *fol = example("follower");
    char *argv[] = {fol, (char *)store, "feed", "3", "12", "10000", NULL};
    unsigned char seen[COUNT] = {0};
    journal_store *s = tu_open_store(store, JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "feed");
    unsigned lines = 0;
    char *line = NULL;
    size_t cap = 0;
    int pipefd[2];
    FILE *f;
    pid_t pid;

    for (journal_pos p = 0; p < COUNT / 2; p++)
        append_text(j, p);
    cr_assert_eq(pipe(pipefd), 0);
    pid = spawn(pipefd[1], argv);
    close(pipefd[1]);
    f = fdopen(pipefd[0], "r");
    cr_assert_not_null(f);
    while (lines < COUNT / 2 && getline(&line, &cap, f) > 0) {
        check_follower_line(line, WORKERS, COUNT, seen);
        lines++;
    }
    cr_assert_eq(lines, COUNT / 2, "the follower stopped early");
    for (journal_pos p = COUNT / 2; p < COUNT; p++)
        append_text(j, p);
    while (getline(&line, &cap, f) > 0) {
        check_follower_line(line, WORKERS, COUNT, seen);
        lines++;
    }
    cr_assert_eq(lines, COUNT);
    cr_assert_eq(wait_exit(pid), 0);
    free(line);
    fclose(f);
    journal_close(j);
    journal_store_close(s);
}

Test(examples, follower_times_out_with_status_3_when_records_are_missing)
{
    const char *fol = example("follower"), *store = tu_store();
    journal_store *s = tu_open_store(store, 0);
    journal *j = tu_open_journal(s, "feed");
    char *out, *err;

    append_text(j, 0);
    append_text(j, 1);
    journal_close(j);
    journal_store_close(s);
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' feed 2 4 200 | sort", fol, store), 0);
    cr_assert_str_eq(out, "worker 0: 0: rec-0\nworker 1: 1: rec-1\n");
    free(out);
    free(err);
    cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' feed 2 4 200", fol, store), 3);
    cr_assert_eq(count_lines(err, "timed out waiting for record"), 2, "%s", err);
    free(err);
}

Test(examples, follower_rejects_bad_usage_with_status_2)
{
    const char *fol = example("follower"), *store = tu_store();
    const char *bad[] = {"", "feed", "feed 0 1 10", "feed 65 1 10", "feed 2 x 10", "feed 2 1 -1", "feed 2 1 10 9"};
    char *err;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' %s", fol, store, bad[i]), 2, "args: %s", bad[i]);
        cr_assert(strstr(err, "usage: follower") != NULL, "args %s: %s", bad[i], err);
        free(err);
    }
}

/* ---------------------------------------------------------------- resume */

static void add_ts(const char *res, const char *store, const char *ts, const char *text)
{
    char *err;
    cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' log add %s %s", res, store, ts, text), 0, "%s", err);
    free(err);
}

Test(examples, resume_prints_the_records_from_a_timestamp_on)
{
    const char *res = example("resume"), *store = tu_store();
    char *out;

    add_ts(res, store, "100", "a");
    add_ts(res, store, "200", "b");
    add_ts(res, store, "200", "c");
    add_ts(res, store, "300", "d");

    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 200", res, store), 0);
    cr_assert_str_eq(out, "1 200 b\n2 200 c\n3 300 d\n");
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 150", res, store), 0);
    cr_assert_str_eq(out, "1 200 b\n2 200 c\n3 300 d\n");
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 0", res, store), 0);
    cr_assert_str_eq(out, "0 100 a\n1 200 b\n2 200 c\n3 300 d\n");
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 300", res, store), 0);
    cr_assert_str_eq(out, "3 300 d\n");
    free(out);
}

Test(examples, resume_exits_3_when_nothing_is_at_or_after_the_timestamp)
{
    const char *res = example("resume"), *store = tu_store();
    char *out, *err;

    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' log from 1", res, store), 3);
    cr_assert_str_eq(out, "");
    cr_assert(strstr(err, "no record at or after 1") != NULL, "%s", err);
    free(out);
    free(err);
    add_ts(res, store, "100", "a");
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 101", res, store), 3);
    cr_assert_str_eq(out, "");
    free(out);
}

Test(examples, resume_refuses_to_add_a_timestamp_older_than_the_newest)
{
    const char *res = example("resume"), *store = tu_store();
    char *out, *err;

    add_ts(res, store, "200", "b");
    cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' log add 100 a", res, store), 3);
    cr_assert(strstr(err, "older than the newest record") != NULL, "%s", err);
    free(err);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 0", res, store), 0);
    cr_assert_str_eq(out, "0 200 b\n");
    free(out);
}

Test(examples, resume_starts_at_the_begin_of_a_truncated_journal)
{
    const char *res = example("resume"), *store = tu_store();
    journal_store *s;
    journal *j;
    char *out;

    add_ts(res, store, "10", "a");
    add_ts(res, store, "20", "b");
    add_ts(res, store, "30", "c");
    s = tu_open_store(store, 0);
    j = tu_open_journal(s, "log");
    cr_assert_eq(journal_truncate(j, 2), 0);
    journal_close(j);
    journal_store_close(s);

    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log from 0", res, store), 0);
    cr_assert_str_eq(out, "2 30 c\n");
    free(out);
    /* After truncating everything, an add goes to the end, position 3. */
    s = tu_open_store(store, 0);
    j = tu_open_journal(s, "log");
    cr_assert_eq(journal_truncate(j, 3), 0);
    journal_close(j);
    journal_store_close(s);
    cr_assert_eq(tu_runf(&out, NULL, "'%s' '%s' log add 5 d", res, store), 0);
    cr_assert_str_eq(out, "3 5 d\n");
    free(out);
}

Test(examples, resume_rejects_bad_usage_with_status_2)
{
    const char *res = example("resume"), *store = tu_store();
    const char *bad[] = {"", "log", "log from", "log from x", "log from -1", "log add 5", "log seek 5"};
    char *err;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tu_runf(NULL, &err, "'%s' '%s' %s", res, store, bad[i]), 2, "args: %s", bad[i]);
        cr_assert(strstr(err, "usage: resume") != NULL, "args %s: %s", bad[i], err);
        free(err);
    }
}
