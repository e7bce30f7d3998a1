/*
 * main.c - journal-bench's options and main(): the rows built, run and
 * reported (or, with --pg-shared, the shared-store scenarios). See
 * journal-bench.1 for the user's view and bench.h for the parts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static const char *const group_names[] = {NULL,    "append", "nosync",  "batch",   "get",   "snapget",
                                          "range", "bounds", "threads", "readers", "scale", "layouts"};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTION]...\n"
            "Measure libjournal against raw LMDB (its floor) and SQLite (the alternative),\n"
            "and given a server its PostgreSQL backend against hand-written SQL (pgraw),\n"
            "alternating them round by round; print medians and time ratios.\n\n"
            "  -s, --scenario=LIST   scenarios to run, by number or name (default: all):\n"
            "                        1 append, 2 nosync, 3 batch, 4 get, 5 snapget, 6 range,\n"
            "                        7 bounds, 8 threads, 9 readers, 10 scale, 11 layouts\n"
            "                        (--quick leaves out 11 unless it is named)\n"
            "  -i, --impl=LIST       implementations: journal,lmdb,sqlite,pg,pgraw (default:\n"
            "                        the first three, and pg,pgraw when a server is given)\n"
            "      --pg-url=URL      the PostgreSQL server of pg and pgraw, a postgresql://\n"
            "                        URL (default: $JOURNAL_BENCH_PG_URL); each store is a\n"
            "                        schema bench_PID_N, dropped when done\n"
            "      --pg-shared       instead of the table, the scenarios of a shared\n"
            "                        PostgreSQL store (processes appending to one journal,\n"
            "                        truncation, waits, threads beyond the pool, snapshot\n"
            "                        begin/renew, 1 MiB records, connecting), pg and pgraw\n"
            "                        (durable appends: give a server with fsync on, e.g.\n"
            "                        JOURNAL_TEST_PG_FSYNC=on tools/pg-server.sh start DIR)\n"
            "  -d, --dir=DIR         where the stores go (default: $TMPDIR or /tmp), in a\n"
            "                        directory of this run that is removed at exit\n"
            "  -k, --keep            keep the stores (and print where they are)\n"
            "  -c, --csv=FILE        also write the results as CSV\n"
            "  -p, --plot=FILE       also draw ops/s per scenario as a PNG (needs gnuplot)\n"
            "  -q, --quick           tiny counts, for a test that the program works\n"
            "  -r, --rounds=N        rounds per scenario (default 7)\n"
            "      --size=BYTES      record size (default 100)\n"
            "      --appends=N       appends per round, one per call (default 300)\n"
            "      --batches=N       batches per round (default 20)\n"
            "      --batch-size=N    records per batch (default 1000)\n"
            "      --reads=N         gets or bounds calls per round and process (default 100000)\n"
            "      --records=N       records of the journal the reads use (default 1e5)\n"
            "      --passes=N        range passes over that journal per round (default 5)\n"
            "      --threads=LIST    thread counts for scenario 8 (default 1,2,4,8)\n"
            "      --procs=LIST      process counts for scenario 9 (default 1,2)\n"
            "      --scale=LIST      journal sizes for scenario 10 (default 1e3,1e5,1e6)\n"
            "      --journals=N      journals in the large store of scenario 10 (default 1e4)\n"
            "      --seed=N          seed of the random positions (default 1)\n"
            "      --clock=wall|cpu  time rows of one thread by the wall clock (default) or\n"
            "                        by the process's CPU time, which other load disturbs\n"
            "                        less but which leaves out waits for the disk\n"
            "  -t, --time=SECONDS    stop a measurement after this long, short of its\n"
            "                        count; 0: never (default 0.15)\n"
            "  -h, --help            print this help and exit\n"
            "  -V, --version         print the versions and exit\n\n"
            "Counts take digits or 1eN. Exit status: 0 on success, 1 on failure, 2 on bad usage.\n",
            PROG);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", PROG);
    return 2;
}

/* A count of at least 1: digits, or 1eN. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    uint64_t v;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    if (*end == 'e' || *end == 'E') {
        char *e2;
        unsigned long e = strtoul(end + 1, &e2, 10);
        if (e2 == end + 1 || *e2 || e > 19)
            return -1;
        for (; e > 0; e--) {
            if (v > UINT64_MAX / 10)
                return -1;
            v *= 10;
        }
        end = e2;
    }
    if (*end || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_list(const char *opt, const char *arg, uint64_t max, uint64_t *vals, unsigned *n)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", arg);
    *n = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST)
            return bad_usage("%s: at most %d values", opt, MAX_LIST);
        if (parse_count(tok, max, &vals[(*n)++]) != 0)
            return bad_usage("%s: '%s' is not a count (1 to %" PRIu64 ")", opt, tok, max);
    }
    return *n ? 0 : bad_usage("%s: an empty list", opt);
}

static int parse_names(const char *opt, const char *arg, const char *const *names, unsigned first, unsigned count,
                       unsigned *mask)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", arg);
    *mask = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned k, found = 0;
        for (k = first; k < first + count; k++) {
            char num[8];
            snprintf(num, sizeof num, "%u", k);
            if (strcmp(tok, names[k]) == 0 || (first > 0 && strcmp(tok, num) == 0)) {
                *mask |= 1u << k;
                found = 1;
            }
        }
        if (!found)
            return bad_usage("%s: unknown '%s'", opt, tok);
    }
    return *mask ? 0 : bad_usage("%s: an empty list", opt);
}

static uint64_t pick(uint64_t given, int quick, uint64_t q, uint64_t full)
{
    return given ? given : quick ? q : full;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    enum {
        O_SIZE = 256,
        O_APPENDS,
        O_BATCHES,
        O_BATCH_SIZE,
        O_READS,
        O_RECORDS,
        O_PASSES,
        O_THREADS,
        O_PROCS,
        O_SCALE,
        O_JOURNALS,
        O_SEED,
        O_CLOCK,
        O_PG_URL,
        O_PG_SHARED
    };
    static const struct option longopts[] = {{"scenario", required_argument, NULL, 's'},
                                             {"impl", required_argument, NULL, 'i'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"keep", no_argument, NULL, 'k'},
                                             {"csv", required_argument, NULL, 'c'},
                                             {"plot", required_argument, NULL, 'p'},
                                             {"quick", no_argument, NULL, 'q'},
                                             {"rounds", required_argument, NULL, 'r'},
                                             {"size", required_argument, NULL, O_SIZE},
                                             {"appends", required_argument, NULL, O_APPENDS},
                                             {"batches", required_argument, NULL, O_BATCHES},
                                             {"batch-size", required_argument, NULL, O_BATCH_SIZE},
                                             {"reads", required_argument, NULL, O_READS},
                                             {"records", required_argument, NULL, O_RECORDS},
                                             {"passes", required_argument, NULL, O_PASSES},
                                             {"threads", required_argument, NULL, O_THREADS},
                                             {"procs", required_argument, NULL, O_PROCS},
                                             {"scale", required_argument, NULL, O_SCALE},
                                             {"journals", required_argument, NULL, O_JOURNALS},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"time", required_argument, NULL, 't'},
                                             {"clock", required_argument, NULL, O_CLOCK},
                                             {"pg-url", required_argument, NULL, O_PG_URL},
                                             {"pg-shared", no_argument, NULL, O_PG_SHARED},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    /* Counts given on the command line; 0 where the default applies. */
    uint64_t rounds = 0, size = 0, appends = 0, batches = 0, batch_size = 0, reads = 0, records = 0, passes = 0,
             journals = 0, seed = 0, list[MAX_LIST];
    int c, rc, li, time_set = 0, impl_set = 0;
    char opt[40];

    opterr = 0;
    b->groups = 0;
    b->impl_mask = IMPL_DEFAULT;
    while ((li = -1, c = getopt_long(argc, argv, ":s:i:d:kc:p:qr:t:hV", longopts, &li)) != -1) {
        uint64_t *count = NULL, max = UINT32_MAX;
        if (li >= 0)
            snprintf(opt, sizeof opt, "--%s", longopts[li].name);
        else
            snprintf(opt, sizeof opt, "-%c", c);
        switch (c) {
        case 's':
            if ((rc = parse_names("--scenario", optarg, group_names, 1, 11, &b->groups)) != 0)
                return rc;
            break;
        case 'i':
            if ((rc = parse_names("--impl", optarg, impl_names, 0, NIMPL, &b->impl_mask)) != 0)
                return rc;
            impl_set = 1;
            break;
        case O_PG_URL:
            b->pg_url = optarg;
            break;
        case O_PG_SHARED:
            b->pg_shared = 1;
            break;
        case 'd':
            b->dir = optarg;
            break;
        case 'k':
            b->keep = 1;
            break;
        case 'c':
            b->csv = optarg;
            break;
        case 'p':
            b->plot = optarg;
            break;
        case 'q':
            b->quick = 1;
            break;
        case 'r':
            count = &rounds;
            max = 64;
            break;
        case O_SIZE:
            count = &size;
            max = 1u << 30;
            break;
        case O_APPENDS:
            count = &appends;
            break;
        case O_BATCHES:
            count = &batches;
            break;
        case O_BATCH_SIZE:
            count = &batch_size;
            max = 1000000;
            break;
        case O_READS:
            count = &reads;
            break;
        case O_RECORDS:
            count = &records;
            max = UINT64_MAX / 2;
            break;
        case O_PASSES:
            count = &passes;
            break;
        case O_JOURNALS:
            count = &journals;
            max = 1000000000;
            break;
        case O_SEED:
            count = &seed;
            max = UINT64_MAX;
            break;
        case 't': {
            char *end;
            double t;
            errno = 0;
            t = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(t >= 0 && t <= 3600))
                return bad_usage("--time: '%s' is not a number of seconds (0 to 3600)", optarg);
            time_set = 1;
            b->max_ns = (int64_t)(t * 1e9);
            break;
        }
        case O_CLOCK:
            if (strcmp(optarg, "wall") != 0 && strcmp(optarg, "cpu") != 0)
                return bad_usage("--clock: '%s' is not wall or cpu", optarg);
            b->cpu_clock = strcmp(optarg, "cpu") == 0;
            break;
        case O_THREADS:
        case O_PROCS:
            if ((rc = parse_list(c == O_THREADS ? "--threads" : "--procs", optarg, MAX_THREADS, list,
                                 c == O_THREADS ? &b->nthreads : &b->nprocs)) != 0)
                return rc;
            for (unsigned i = 0; i < (c == O_THREADS ? b->nthreads : b->nprocs); i++)
                (c == O_THREADS ? b->threads : b->procs)[i] = (unsigned)list[i];
            break;
        case O_SCALE:
            if ((rc = parse_list("--scale", optarg, UINT64_MAX / 2, b->scale, &b->nscale)) != 0)
                return rc;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V': {
            int mv, mn, mp;
            char pqv[32];
            mdb_version(&mv, &mn, &mp);
            printf("%s %s (libjournal %s, LMDB %d.%d.%d, SQLite %s, libpq %s)\n", PROG, JOURNAL_VERSION_STRING,
                   journal_version(), mv, mn, mp, sqlite3_libversion(), pq_version(pqv, sizeof pqv));
            return -1;
        }
        case ':':
            return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
        if (count && parse_count(optarg, max, count) != 0)
            return bad_usage("%s: '%s' is not a count (1 to %" PRIu64 ")", opt, optarg, max);
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!b->pg_url) {
        const char *env = getenv("JOURNAL_BENCH_PG_URL");
        b->pg_url = env && *env ? env : NULL;
    }
    if (b->pg_url) {
        if (strncmp(b->pg_url, "postgresql://", 13) != 0 && strncmp(b->pg_url, "postgres://", 11) != 0)
            return bad_usage("--pg-url: '%s' is not a postgresql:// URL", b->pg_url);
        if (strstr(b->pg_url, "journal_schema="))
            return bad_usage("--pg-url: journal_schema is the program's to choose (bench_PID_N)");
        if (strlen(b->pg_url) > PATH_MAX - 128)
            return bad_usage("--pg-url: the URL is too long");
        if (!impl_set)
            b->impl_mask |= IMPL_PGS;
    } else if (b->impl_mask & IMPL_PGS) {
        return bad_usage("--impl: pg and pgraw need a server: --pg-url=URL or JOURNAL_BENCH_PG_URL");
    } else if (b->pg_shared) {
        return bad_usage("--pg-shared needs a server: --pg-url=URL or JOURNAL_BENCH_PG_URL");
    }
    if (b->pg_shared)
        b->impl_mask = IMPL_PGS;
    if (!b->groups)
        b->groups = b->quick ? 0x7FEu : 0xFFEu;
    b->rounds = (unsigned)pick(rounds, b->quick, 2, 7);
    b->size = (size_t)pick(size, b->quick, 100, 100);
    b->appends = pick(appends, b->quick, 4, 300);
    b->batches = pick(batches, b->quick, 1, 20);
    b->batch_size = pick(batch_size, b->quick, 50, 1000);
    b->reads = pick(reads, b->quick, 200, 100000);
    b->records = pick(records, b->quick, 200, 100000);
    b->passes = pick(passes, b->quick, 1, 5);
    b->journals = pick(journals, b->quick, 20, 10000);
    b->seed = pick(seed, 0, 1, 1);
    if (!time_set)
        b->max_ns = 150000000;
    if (!b->nthreads) {
        static const unsigned q[] = {1, 2}, full[] = {1, 2, 4, 8};
        b->nthreads = b->quick ? 2 : 4;
        memcpy(b->threads, b->quick ? q : full, b->nthreads * sizeof *q);
    }
    if (!b->nprocs) {
        b->nprocs = 2;
        b->procs[0] = 1;
        b->procs[1] = 2;
    }
    if (!b->nscale) {
        static const uint64_t q[] = {100}, full[] = {1000, 100000, 1000000};
        b->nscale = b->quick ? 1 : 3;
        memcpy(b->scale, b->quick ? q : full, b->nscale * sizeof *q);
    }
    if (!b->dir) {
        const char *t = getenv("TMPDIR");
        b->dir = t && *t ? t : "/tmp";
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b;
    struct sigaction sa;
    int rc;

    memset(&b, 0, sizeof b);
    rc = parse_args(&b, argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    is_tty = isatty(2);
    b.rec = malloc(b.size ? b.size : 1);
    b.batch = calloc(b.batch_size > FILL_BATCH ? b.batch_size : FILL_BATCH, sizeof *b.batch);
    if (!b.rec || !b.batch || build_rows(&b) != 0) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        rc = 1;
        goto out_free;
    }
    for (size_t i = 0; i < b.size; i++)
        b.rec[i] = (unsigned char)(i * 131 + 7);
    for (size_t i = 0; i < (b.batch_size > FILL_BATCH ? b.batch_size : FILL_BATCH); i++)
        b.batch[i] = (journal_record){b.rec, b.size};

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (b.csv && !(b.csv_file = fopen(b.csv, "w"))) {
        fprintf(stderr, "%s: %s: %s\n", PROG, b.csv, strerror(errno));
        rc = 1;
        goto out_free;
    }
    if (strlen(b.dir) + 32 > sizeof b.root) {
        fprintf(stderr, "%s: %s: the path is too long\n", PROG, b.dir);
        rc = 1;
        goto out_free;
    }
    snprintf(b.root, sizeof b.root, "%s/journal-bench-XXXXXX", b.dir);
    if (!mkdtemp(b.root)) {
        fprintf(stderr, "%s: %s: %s\n", PROG, b.dir, strerror(errno));
        rc = 1;
        goto out_free;
    }
    b.base_rss_kib = base_rss(&b);
    b.pid = (long)getpid();
    if ((b.impl_mask & IMPL_PGS) && pg_start(&b) != 0) {
        rc = 1;
        goto out_rm;
    }

    if (b.pg_shared) {
        rc = pg_shared_run(&b);
        if (!b.keep && drop_schemas(&b, NULL) != 0)
            rc = 1;
        goto out_rm;
    }
    b.load[0] = load_average();
    rc = run_rows(&b);
    b.load[1] = load_average();
    /* Also after a failure or a signal: no schema of the run stays. */
    if ((b.impl_mask & IMPL_PGS) && !b.keep && drop_schemas(&b, NULL) != 0)
        rc = 1;
    if (rc == 0) {
        print_table(&b, stdout);
        if (b.keep)
            printf("- the stores are kept in %s\n", b.root);
        if (b.keep && (b.impl_mask & IMPL_PGS))
            printf("- the PostgreSQL stores are kept in the schemas bench_%ld_*\n", b.pid);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "%s: standard output: %s\n", PROG, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0 && b.csv)
        rc = write_csv(&b);
    if (rc == 0 && b.plot)
        rc = write_plot(&b);
out_rm:
    if (!b.keep)
        rm_rf(b.root);
out_free:
    if (b.csv_file)
        fclose(b.csv_file);
    free_rows(&b);
    free(b.batch);
    free(b.rec);
    return rc;
}
