/*
 * fault_driver.c - a fixed workload on one store, run by tests/test_faults.c
 * under the fault shim (tests/faultshim.c).
 *
 *   fault_driver STORE sync|nosync [threads]
 *
 * It opens STORE (with JOURNAL_NOSYNC for "nosync"), opens journals "a" and
 * "b", appends single records and batches, truncates "a", reads some
 * records back, syncs and closes. With "threads", three threads then append
 * at once, each to its own journal ("c", "d", "e") and all to "f", so that
 * the library commits their appends together. It prints one line per call
 * with its result:
 *   open RC
 *   jopen NAME RC
 *   append NAME POS K RC           one record, number K, at POS
 *   batch NAME POS N K RC          records K..K+N-1 at POS..POS+N-1
 *   truncate NAME TO RC
 *   bounds NAME RC BEGIN END
 *   get NAME POS RC same|differs
 *   sync RC
 *   jclose NAME RC
 *   close RC
 *   end
 * Record number K has fault_len(K) bytes: K as a big-endian uint64, then
 * the bytes (K * 131 + i * 7) & 0xff; the test rebuilds them from K. Every
 * record attempted has a new K, so a record found in the store tells which
 * attempt wrote it.
 *
 * Like a real writer, after a failed write it reads the bounds again and
 * goes on from the end they give; when that fails too it keeps its own end.
 * Lines of different threads do not mix: each is one locked stdio call.
 * It exits 0 once it has printed "end" (whatever the calls returned), 2 on
 * bad usage.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define FAULT_BATCH_MAX 4
#define FAULT_THREADS 3
#define FAULT_LEN_MAX 5000

struct fault_journal {
    const char *name;
    journal *j;
    journal_pos end;
};

static atomic_ullong fault_k;

static size_t fault_len(unsigned long long k)
{
    /* Every seventh record spans several pages (LMDB overflow pages). */
    return k % 7 == 3 ? FAULT_LEN_MAX : 8 + (size_t)(k * 37 % 300);
}

static void fault_fill(unsigned char *buf, unsigned long long k)
{
    size_t len = fault_len(k);

    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(k >> (56 - 8 * i));
    for (size_t i = 8; i < len; i++)
        buf[i] = (unsigned char)((k * 131 + i * 7) & 0xff);
}

static void fault_refresh(struct fault_journal *fj)
{
    journal_pos begin = 0, end = 0;
    int rc = journal_bounds(fj->j, &begin, &end);

    printf("bounds %s %d %llu %llu\n", fj->name, rc, (unsigned long long)begin, (unsigned long long)end);
    if (rc == 0)
        fj->end = end;
}

static void fault_append(struct fault_journal *fj, unsigned char *buf)
{
    unsigned long long k = atomic_fetch_add(&fault_k, 1) + 1;
    int rc;

    if (!fj->j)
        return;
    fault_fill(buf, k);
    rc = journal_append(fj->j, fj->end, buf, fault_len(k));
    printf("append %s %llu %llu %d\n", fj->name, (unsigned long long)fj->end, k, rc);
    if (rc == 0)
        fj->end++;
    else
        fault_refresh(fj);
}

static void fault_batch(struct fault_journal *fj, size_t n, unsigned char *bufs[])
{
    journal_record recs[FAULT_BATCH_MAX];
    unsigned long long k0 = atomic_fetch_add(&fault_k, n) + 1;
    int rc;

    if (!fj->j)
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned long long k = k0 + i;
        fault_fill(bufs[i], k);
        recs[i].data = bufs[i];
        recs[i].len = fault_len(k);
    }
    rc = journal_append_batch(fj->j, fj->end, recs, n);
    printf("batch %s %llu %zu %llu %d\n", fj->name, (unsigned long long)fj->end, n, k0, rc);
    if (rc == 0)
        fj->end += n;
    else
        fault_refresh(fj);
}

static void fault_truncate(struct fault_journal *fj, journal_pos to)
{
    int rc;

    if (!fj->j)
        return;
    rc = journal_truncate(fj->j, to);
    printf("truncate %s %llu %d\n", fj->name, (unsigned long long)to, rc);
    if (rc != 0)
        fault_refresh(fj);
}

/* Reads pos back and compares it with what record number K must hold,
 * taking K from the record's own first bytes. */
static void fault_get(struct fault_journal *fj, journal_pos pos, unsigned char *want)
{
    void *rec = NULL;
    size_t len = 0;
    int rc, same = 0;

    if (!fj->j)
        return;
    rc = journal_get(fj->j, pos, &rec, &len);
    if (rc == 0 && len >= 8) {
        unsigned long long k = 0;
        for (int i = 0; i < 8; i++)
            k = k << 8 | ((unsigned char *)rec)[i];
        fault_fill(want, k);
        same = len == fault_len(k) && memcmp(rec, want, len) == 0;
    }
    printf("get %s %llu %d %s\n", fj->name, (unsigned long long)pos, rc, same ? "same" : "differs");
    free(rec);
}

struct fault_thread {
    pthread_t tid;
    struct fault_journal own;
    struct fault_journal *shared; /* "f": its end is each thread's own guess */
    unsigned char buf[FAULT_LEN_MAX];
};

static void *fault_thread_main(void *arg)
{
    struct fault_thread *t = arg;
    struct fault_journal shared = *t->shared;

    for (int i = 0; i < 6; i++) {
        fault_append(&t->own, t->buf);
        if (i % 2 == 0)
            fault_append(&shared, t->buf);
    }
    return NULL;
}

static void fault_threads(journal_store *s)
{
    static struct fault_thread ts[FAULT_THREADS];
    static const char *names[FAULT_THREADS] = {"c", "d", "e"};
    struct fault_journal shared = {.name = "f"};
    int started[FAULT_THREADS] = {0};
    int rc;

    rc = journal_open(s, shared.name, &shared.j);
    printf("jopen %s %d\n", shared.name, rc);
    if (rc != 0)
        shared.j = NULL;
    for (int i = 0; i < FAULT_THREADS; i++) {
        ts[i].own = (struct fault_journal){.name = names[i]};
        ts[i].shared = &shared;
        rc = journal_open(s, names[i], &ts[i].own.j);
        printf("jopen %s %d\n", names[i], rc);
        if (rc != 0)
            ts[i].own.j = NULL;
    }
    for (int i = 0; i < FAULT_THREADS; i++)
        started[i] = pthread_create(&ts[i].tid, NULL, fault_thread_main, &ts[i]) == 0;
    for (int i = 0; i < FAULT_THREADS; i++) {
        if (started[i])
            pthread_join(ts[i].tid, NULL);
        else
            printf("thread %d not started\n", i);
        if (ts[i].own.j)
            printf("jclose %s %d\n", names[i], journal_close(ts[i].own.j));
    }
    if (shared.j)
        printf("jclose %s %d\n", shared.name, journal_close(shared.j));
}

int main(int argc, char **argv)
{
    static unsigned char bufs[FAULT_BATCH_MAX + 1][FAULT_LEN_MAX];
    unsigned char *batch[FAULT_BATCH_MAX] = {bufs[1], bufs[2], bufs[3], bufs[4]};
    struct fault_journal js[2] = {{.name = "a"}, {.name = "b"}};
    journal_options opts = {0};
    journal_store *s = NULL;
    int rc;

    if (argc < 3 || argc > 4 || (strcmp(argv[2], "sync") != 0 && strcmp(argv[2], "nosync") != 0) ||
        (argc == 4 && strcmp(argv[3], "threads") != 0)) {
        fprintf(stderr, "usage: fault_driver STORE sync|nosync [threads]\n");
        return 2;
    }
    /* Line by line, so that a crash still shows how far it went. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[2], "nosync") == 0)
        opts.flags = JOURNAL_NOSYNC;
    rc = journal_store_open(argv[1], &opts, &s);
    printf("open %d\n", rc);
    if (rc != 0)
        goto out;
    for (int i = 0; i < 2; i++) {
        rc = journal_open(s, js[i].name, &js[i].j);
        printf("jopen %s %d\n", js[i].name, rc);
        if (rc != 0)
            js[i].j = NULL;
        else
            fault_refresh(&js[i]);
    }
    for (int i = 0; i < 10; i++) {
        fault_append(&js[0], bufs[0]);
        if (i % 3 == 0)
            fault_append(&js[1], bufs[0]);
    }
    fault_batch(&js[0], 4, batch);
    fault_batch(&js[1], 3, batch);
    fault_truncate(&js[0], js[0].end >= 6 ? js[0].end - 6 : 0);
    for (int i = 0; i < 4; i++)
        fault_append(&js[0], bufs[0]);
    /* A stale end: must conflict, and write nothing. */
    if (js[0].end > 0) {
        js[0].end--;
        fault_append(&js[0], bufs[0]);
        fault_refresh(&js[0]);
    }
    for (journal_pos p = 0; p < 16; p += 3)
        fault_get(&js[0], p, bufs[0]);
    fault_get(&js[1], 0, bufs[0]);
    for (int i = 0; i < 2; i++)
        if (js[i].j)
            printf("jclose %s %d\n", js[i].name, journal_close(js[i].j));
    if (argc == 4)
        fault_threads(s);
    printf("sync %d\n", journal_store_sync(s));
    printf("close %d\n", journal_store_close(s));
out:
    printf("end\n");
    return 0;
}
