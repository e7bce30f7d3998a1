/*
 * bench.h - journal-bench's parts, private to tools/bench/.
 *
 * journal-bench measures libjournal against the floor it is built on (raw
 * LMDB) and the alternative a user would pick (SQLite); given a PostgreSQL
 * server, also its PostgreSQL backend against hand-written SQL. See
 * journal-bench.1 for the user's view. The program is split by job:
 *
 *   main.c      options and main()
 *   scenarios.c the rows of the table and the timed loop each kind runs
 *   runner.c    child processes, rounds, the stores' setup and clean-up
 *   shared.c    --pg-shared: the scenarios of one shared PostgreSQL store
 *   report.c    the table on standard output, and the statistics
 *   csv.c       --csv
 *   plot.c      --plot (gnuplot)
 *   server.c    the PostgreSQL server, seen from the parent
 *   util.c      errors, clocks, pipes, files
 *   impl.c      the implementations by number, the calls through them
 *   lib.c       the library (journal and pg)     } the implementations,
 *   lmdb.c      raw LMDB in the library's layout } each behind one
 *   sqlite.c    SQLite                           } struct bench_impl
 *   pgraw.c     hand-written SQL through libpq   } (pgraw.h: libpq)
 *
 * Every scenario does the same work in each implementation, through the
 * operations of struct bench_impl. The scenarios name an implementation
 * only to choose which runs (and which writes the library's store of
 * single-record transactions), and where a floor must do by hand what the
 * library does inside a call (pgraw reads the bounds in its snapshots).
 */
#ifndef JOURNAL_BENCH_H
#define JOURNAL_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "journal.h"

#define PROG "journal-bench"

/* Returned inside the program for a failure whose message is in err_msg. */
#define BENCH_FAIL (-1)

/* Records per transaction when a store is filled before a measurement. */
#define FILL_BATCH 1000

#define MAX_LIST 8

/* The most threads or reader processes of one row. */
#define MAX_THREADS 512

enum impl { IMPL_JOURNAL, IMPL_LMDB, IMPL_SQLITE, IMPL_PG, IMPL_PGRAW, NIMPL };

extern const char *const impl_names[NIMPL];

/* The implementations that run by default, and the two that need a server. */
#define IMPL_DEFAULT (1u << IMPL_JOURNAL | 1u << IMPL_LMDB | 1u << IMPL_SQLITE)
#define IMPL_PGS (1u << IMPL_PG | 1u << IMPL_PGRAW)

/* Scale rows with journals larger than this skip pg and pgraw: filling a
 * million records through a server would take much of a run's time. */
#define PG_SCALE_MAX 100000

/* How durable a write is, in each implementation's own terms. */
enum dur {
    DUR_SYNC,   /* on disk when the call returns: default, 0, synchronous=FULL */
    DUR_NOSYNC, /* JOURNAL_NOSYNC, MDB_NOSYNC, synchronous=NORMAL */
    DUR_NONE,   /* reads and setup: the least syncing each one offers */
};

enum kind {
    K_APPEND,    /* one record per call */
    K_BATCH,     /* param records per call */
    K_GET,       /* copying get at random positions */
    K_SNAPGET,   /* zero-copy get at random positions, one snapshot */
    K_RANGE,     /* param passes over the whole journal */
    K_SNAPRANGE, /* param passes over the whole journal, one snapshot */
    K_BOUNDS,    /* bounds of the journal */
    K_THREADS,   /* param threads appending durably at once */
    K_READERS,   /* param processes doing copying gets at once */
};

/* What a store holds before the rounds: `others` empty journals, then
 * `journals` journals named j0, j1, ... of `records` records each, written
 * FILL_BATCH records per transaction, or one (`single`). */
struct spec {
    uint64_t others;
    unsigned journals;
    uint64_t records;
    int single;
};

/* One line of the table. */
struct row {
    char name[40];
    char key[40]; /* the store it runs on: rows with the same key share it */
    const char *unit;
    enum kind kind;
    enum dur dur;
    int shared; /* K_THREADS: all threads append to j0, with retry */
    int fresh;  /* reads measured in the process that wrote the store, never reopened */
    uint64_t param;
    uint64_t ops; /* counted operations per round */
    struct spec spec;
    /* results, per implementation and round */
    double *rate[NIMPL];   /* ops/s */
    long rss_kib[NIMPL];   /* the highest peak of the rounds */
    uint64_t least[NIMPL]; /* the fewest operations a round did (--time) */
    unsigned skip;         /* bit im: implementation im does not run this row */
    int done;
};

struct bench {
    unsigned rounds;
    size_t size;
    uint64_t appends, batches, batch_size, reads, records, passes, journals, seed;
    int64_t max_ns; /* a measurement stops after this long; 0: never */
    unsigned threads[MAX_LIST], nthreads;
    unsigned procs[MAX_LIST], nprocs;
    uint64_t scale[MAX_LIST];
    unsigned nscale;
    unsigned impl_mask;
    unsigned groups; /* bit n: scenario n */
    int quick, keep;
    int cpu_clock; /* rows of one thread count the process's CPU time */
    int pg_shared; /* --pg-shared */
    const char *dir, *csv, *plot;
    const char *pg_url; /* the server of pg and pgraw, as given */
    long pid;           /* names this run's schemas: bench_<pid>_<n> */
    char pg_version[64];

    char root[PATH_MAX - 128]; /* the directory of this run's stores */
    FILE *csv_file;
    struct row *rows;
    size_t nrows;
    unsigned char *rec; /* the record every write writes */
    journal_record *batch;
    long base_rss_kib;
    double load[2]; /* the 1-minute load average at the start and at the end */
};

/* ------------------------------------------------------------------------ */
/* The implementations                                                      */

/* A store of one implementation, as one process uses it. */
struct bstore {
    const struct bench_impl *ops;
    enum impl impl;
    enum dur dur;
    char path[PATH_MAX];
    void *priv; /* the implementation's */
};

/* One journal as one thread uses it. */
struct bjournal {
    struct bstore *st;
    char name[32];
    size_t namelen;
    uint64_t id;     /* its id in the store: SQLite, having no catalog, uses it as given */
    journal_pos end; /* where the next append goes */
    void *priv;      /* the implementation's */
};

/* What range calls deliver. */
struct acc {
    uint64_t n, sum;
};

/*
 * One implementation. Each operation returns 0 or BENCH_FAIL (its message
 * given to fail()); append also JOURNAL_ECONFLICT, h->end then being the
 * journal's end. A store or journal whose open failed is still closed.
 * Operations marked optional may be NULL.
 */
struct bench_impl {
    /* st->path, st->dur set; st->priv is this implementation's to set. */
    int (*store_open)(struct bstore *st);
    int (*store_close)(struct bstore *st);
    /* h->st, h->name, h->id set; h->end to be set. */
    int (*journal_open)(struct bjournal *h);
    void (*journal_close)(struct bjournal *h);
    /* n records at h->end, in one transaction. */
    int (*append)(struct bjournal *h, const journal_record *recs, size_t n);
    /* Optional: one record at whatever the end is (NULL: append until no
     * conflict). */
    int (*append_retry)(struct bjournal *h, const journal_record *rec);
    /* A copy of the record at pos, for free(). */
    int (*get)(struct bjournal *h, journal_pos pos, void **rec, size_t *len);
    int (*snap_begin)(struct bjournal *h);
    /* The record at pos in the snapshot, not copied: valid until the next
     * call on h. */
    int (*snap_get)(struct bjournal *h, journal_pos pos, const void **rec, size_t *len);
    int (*snap_end)(struct bjournal *h);
    /* Every record from `from` to the end, through acc_rec(). */
    int (*range)(struct bjournal *h, journal_pos from, struct acc *a);
    /* Optional: the same in the snapshot. */
    int (*snap_range)(struct bjournal *h, journal_pos from, struct acc *a);
    int (*bounds)(struct bjournal *h, journal_pos *begin, journal_pos *end);
    /* Setup: n empty journals o0000000000, o0000000001, ... (ids 1..n). */
    int (*create_others)(struct bstore *st, uint64_t n, const struct bench *b);

    /* The rest, optional, only for the shared-store scenarios (pg, pgraw). */
    /* Truncation to `to`: 0 or JOURNAL_EBEYOND; with `bad`, a failure
     * that is neither is counted there instead. */
    int (*truncate)(struct bjournal *h, journal_pos to, unsigned *bad);
    /* The snapshot of snap_begin() moved to the present. */
    int (*snap_renew)(struct bjournal *h);
    /* A new connection finds journal `name` (NULL: the scenario reopens
     * the store instead). */
    int (*connect_find)(struct bstore *st, const char *name);
    /* journal_wait() across processes: h made the waiter or the
     * appender; an append at pos that wakes the waiter; the wait. */
    int (*wait_setup)(struct bjournal *h, int waiter);
    int (*append_notify)(struct bjournal *h, journal_pos pos, const void *rec, size_t len);
    int (*wait)(struct bjournal *h, journal_pos pos);
};

extern const struct bench_impl bench_lib, bench_lmdb, bench_sqlite, bench_pgraw;

/* The operations of an implementation, over its vtable (impl.c); those
 * the timed loops call are inline, so that the harness adds no call of its
 * own to what it measures. */
int b_store_open(struct bstore *st, enum impl impl, const char *path, enum dur dur);
int b_store_close(struct bstore *st);
int b_journal_open(struct bjournal *h, struct bstore *st, const char *name, uint64_t id);
void b_journal_close(struct bjournal *h);
int b_append_retry(struct bjournal *h, const journal_record *rec);
int b_snap_range(struct bjournal *h, journal_pos from, struct acc *a);
int b_create_others(struct bstore *st, uint64_t n, const struct bench *b);

/* Appends n records at h->end in one transaction. 0, JOURNAL_ECONFLICT
 * (h->end is then the journal's end), or BENCH_FAIL. */
static inline int b_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    return h->st->ops->append(h, recs, n);
}

static inline int b_get(struct bjournal *h, journal_pos pos, void **rec, size_t *len)
{
    return h->st->ops->get(h, pos, rec, len);
}

static inline int b_snap_begin(struct bjournal *h)
{
    return h->st->ops->snap_begin(h);
}

static inline int b_snap_get(struct bjournal *h, journal_pos pos, const void **rec, size_t *len)
{
    return h->st->ops->snap_get(h, pos, rec, len);
}

static inline int b_snap_end(struct bjournal *h)
{
    return h->st->ops->snap_end(h);
}

static inline int b_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    return h->st->ops->range(h, from, a);
}

static inline int b_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    return h->st->ops->bounds(h, begin, end);
}

/* Touches each record's first byte, as a consumer would. */
int acc_rec(void *arg, journal_pos pos, const void *rec, size_t len);

/* libpq's version as "MAJOR.MINOR", or "not found". */
const char *pq_version(char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* The scenarios and the runner                                             */

/* What a child reports through its pipe. */
struct outcome {
    int ok;
    uint64_t ops;
    int64_t t0, t1; /* CLOCK_MONOTONIC, comparable between processes */
    char err[256];
};

int build_rows(struct bench *b);
void free_rows(struct bench *b);
/* The timed loop of a one-journal scenario: rw->ops operations, or fewer
 * when the time `until` (0: none) comes first; *ops is how many were done. */
int run_loop(const struct bench *b, const struct row *rw, struct bjournal *h, uint64_t seed, int64_t until,
             uint64_t *ops);
/* One untimed pass over the journal before reads are timed. */
int warm_up(const struct row *rw, struct bjournal *h);

/* Whether implementation im runs row rw. */
int runs(const struct bench *b, const struct row *rw, enum impl im);
int has(const struct bench *b, enum impl im);
int run_rows(struct bench *b);
/* The peak resident memory of a child that does nothing. */
long base_rss(const struct bench *b);
/* The server, seen from the parent (server.c): it answers, and no schema
 * of an earlier run with this pid is taken; the schemas of this run
 * (schema NULL) or one of them dropped; one schema's statistics. 0 or 1,
 * the failure printed. */
int pg_start(struct bench *b);
int drop_schemas(const struct bench *b, const char *schema);
int analyze_schema(const struct bench *b, const char *schema);
int pg_shared_run(const struct bench *b);

/* What a thread of a measurement is given and leaves: its argument starts
 * with this. */
struct thread_part {
    struct gate *gate;
    uint64_t ops;   /* to do, then done */
    int64_t t0, t1; /* of its timed part */
    int rc;
};

/* In a thread, after its untimed setup: waits until all are ready; 1: go,
 * -1: give up. */
int thread_start(struct thread_part *p);
/* Runs fn on each of n arguments (args, `size` bytes apart, each starting
 * with a struct thread_part) in threads that start together; with rc not
 * 0 none is started. *sum gets the operations done, the earliest start and
 * the latest end. Returns rc, or the first failure. */
int run_threads(unsigned n, void *(*fn)(void *), void *args, size_t size, int rc, struct thread_part *sum);

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

double median(const double *v, unsigned n);
double time_ratio(const struct row *rw, enum impl a, enum impl o, unsigned rounds);
void machine_line(char *buf, size_t n);
double load_average(void);
void print_table(const struct bench *b, FILE *f);
int write_csv(struct bench *b);
int write_plot(const struct bench *b);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

extern volatile sig_atomic_t stop_signal;
extern char err_msg[256];
extern int is_tty;

/* Keeps the first failure of the process (threads may fail together). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress(int detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t now_ns(void);
int64_t cpu_ns(void);
uint64_t rnd_next(uint64_t *s);
int64_t deadline(const struct bench *b, int64_t t0);
uint64_t round_seed(const struct bench *b, unsigned round);
/* Whether the time of a measurement is up, checked every `every` calls. */
int time_up(int64_t deadline, uint64_t i, uint64_t every);
void rm_rf(const char *path);
/* A store's directory, made unless it is there. */
int mkdir_store(const char *path);
void fmt_count(char *buf, size_t n, uint64_t v);
int write_all(int fd, const void *buf, size_t n);
size_t read_all(int fd, void *buf, size_t n);

#endif /* JOURNAL_BENCH_H */
