/*
 * follower.c - a reader service: worker processes following a journal.
 *
 *   follower STORE JOURNAL WORKERS COUNT TIMEOUT_MS
 *
 * The service processes the COUNT records that start at the journal's begin
 * when it starts, whether they exist yet or are still to be appended by
 * other processes. It forks WORKERS processes; worker w takes the records at
 * begin + w, begin + w + WORKERS, ... and prints one line per record:
 *
 *   worker W: POS: RECORD
 *
 * journal_wait() puts a worker to sleep until its next record exists; it
 * wakes on the writes of any process and uses no CPU meanwhile.
 *
 * Handles do not survive fork(): the parent closes its store before forking
 * and each worker opens the store again, getting a handle of its own.
 *
 * Exit status: 0 every record was processed; 1 an error; 2 bad usage;
 * 3 TIMEOUT_MS ran out before every record was appended.
 */
/* fork(), waitpid() and clock_gettime() are POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <journal.h>

#define EXIT_TIMEOUT 3
#define MAX_WORKERS 64

/* Milliseconds left until the deadline, never negative. */
static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? (int)ms : 0;
}

/* One worker's life, in the child process: its own store handle, then
 * wait, read, print, for each of its records. Returns an exit status. */
static int work(const char *path, const char *name, unsigned w, unsigned nworkers, journal_pos begin, journal_pos stop,
                const struct timespec *deadline)
{
    journal_store *s = NULL;
    journal *j = NULL;
    void *rec;
    size_t len;
    int status = EXIT_FAILURE, rc;

    rc = journal_store_open(path, NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "follower: worker %u: %s: %s\n", w, path, journal_strerror(rc));
        goto out;
    }
    rc = journal_open(s, name, &j);
    if (rc != 0) {
        fprintf(stderr, "follower: worker %u: %s: %s\n", w, name, journal_strerror(rc));
        goto out_store;
    }
    for (journal_pos pos = begin + w; pos < stop; pos += nworkers) {
        rc = journal_wait(j, pos, ms_left(deadline));
        if (rc == -ETIMEDOUT) {
            fprintf(stderr, "follower: worker %u: timed out waiting for record %" PRIu64 "\n", w, pos);
            status = EXIT_TIMEOUT;
            goto out_journal;
        }
        if (rc == 0)
            rc = journal_get(j, pos, &rec, &len);
        if (rc != 0) {
            fprintf(stderr, "follower: worker %u: record %" PRIu64 ": %s\n", w, pos, journal_strerror(rc));
            goto out_journal;
        }
        /* The records are text here; a real service would decode them. */
        printf("worker %u: %" PRIu64 ": %.*s\n", w, pos, (int)len, (const char *)rec);
        free(rec);
    }
    status = EXIT_SUCCESS;
out_journal:
    journal_close(j);
out_store:
    journal_store_close(s);
out:
    return status;
}

/* Reads the journal's begin, then closes the store again: handles must not
 * cross fork(), and the parent has nothing else to read. */
static int read_begin(const char *path, const char *name, journal_pos *begin)
{
    journal_store *s = NULL;
    journal *j = NULL;
    int rc;

    rc = journal_store_open(path, NULL, &s);
    if (rc != 0)
        goto out;
    rc = journal_open(s, name, &j);
    if (rc != 0)
        goto out_store;
    rc = journal_bounds(j, begin, NULL);
    journal_close(j);
out_store:
    journal_store_close(s);
out:
    return rc;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *s == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long nworkers, count, timeout_ms;
    pid_t pids[MAX_WORKERS];
    struct timespec deadline;
    journal_pos begin;
    unsigned started = 0;
    int status = EXIT_SUCCESS, rc, ws;

    if (argc != 6 || parse_uint(argv[3], MAX_WORKERS, &nworkers) != 0 || nworkers == 0 ||
        parse_uint(argv[4], 1000000000, &count) != 0 || parse_uint(argv[5], 3600000, &timeout_ms) != 0) {
        fprintf(stderr, "usage: follower STORE JOURNAL WORKERS(1-%d) COUNT TIMEOUT_MS\n", MAX_WORKERS);
        return 2;
    }
    /* Several processes write to one stdout: one whole line per write. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    rc = read_begin(argv[1], argv[2], &begin);
    if (rc != 0) {
        fprintf(stderr, "follower: %s: %s: %s\n", argv[1], argv[2], journal_strerror(rc));
        return EXIT_FAILURE;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(timeout_ms / 1000);
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }

    fflush(NULL);
    for (; started < nworkers; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            fprintf(stderr, "follower: fork: %s\n", strerror(errno));
            status = EXIT_FAILURE;
            break;
        }
        if (pids[started] == 0) {
            int code = work(argv[1], argv[2], started, (unsigned)nworkers, begin, begin + count, &deadline);
            fflush(stdout);
            _exit(code);
        }
    }

    /* The service's status is its worst worker's: error, then timeout. */
    for (unsigned i = 0; i < started; i++) {
        pid_t r;
        do
            r = waitpid(pids[i], &ws, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) == EXIT_FAILURE)
            status = EXIT_FAILURE;
        else if (WEXITSTATUS(ws) == EXIT_TIMEOUT && status == EXIT_SUCCESS)
            status = EXIT_TIMEOUT;
    }
    return status;
}
