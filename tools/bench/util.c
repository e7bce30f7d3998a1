/*
 * util.c - journal-bench's helpers: the first failure of a process, the
 * progress line, clocks, random positions, pipes and files.
 */
#define _GNU_SOURCE /* nftw() */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

volatile sig_atomic_t stop_signal;
char err_msg[256];
int is_tty;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

int fail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&err_mu);
    if (!err_msg[0]) {
        va_start(ap, fmt);
        vsnprintf(err_msg, sizeof err_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&err_mu);
    return BENCH_FAIL;
}

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the process, user and system: unlike the wall clock, it
 * hardly moves with other load on the machine, but leaves out waits for
 * the disk. */
int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* When a measurement that started at t0 stops early; 0: it does not. */
int64_t deadline(const struct bench *b, int64_t t0)
{
    return b->max_ns ? t0 + b->max_ns : 0;
}

/* Every implementation reads the same positions in a round; rounds differ. */
uint64_t round_seed(const struct bench *b, unsigned round)
{
    uint64_t s = (b->seed + round + 1) * 0x9E3779B97F4A7C15ULL;
    return s ? s : 1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int mkdir_store(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return fail("mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* "1e5" for powers of ten from 1000 on, else the number. */
void fmt_count(char *buf, size_t n, uint64_t v)
{
    unsigned e = 0;
    uint64_t x = v;
    while (x >= 10 && x % 10 == 0) {
        x /= 10;
        e++;
    }
    if (x == 1 && e >= 3)
        snprintf(buf, n, "1e%u", e);
    else
        snprintf(buf, n, "%" PRIu64, v);
}

/* ------------------------------------------------------------------------ */
/* Whether the time of a measurement is up; reads check every 256th call,
 * so that reading the clock costs them nothing measurable. */
int time_up(int64_t deadline, uint64_t i, uint64_t every)
{
    return deadline && i % every == 0 && now_ns() > deadline;
}

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to n bytes; returns how many came before end of file. */
size_t read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR && !stop_signal)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* On a terminal, one line rewritten at each step; elsewhere (a log), one
 * line per row and store, the steps (detail) left out. */

void progress(int detail, const char *fmt, ...)
{
    char line[200];
    va_list ap;
    if (detail && !is_tty)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (is_tty)
        fprintf(stderr, "\r\033[K%s: %s", PROG, line);
    else
        fprintf(stderr, "%s: %s\n", PROG, line);
}
