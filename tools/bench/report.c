/*
 * report.c - the table on standard output: medians of the rounds, time
 * ratios, the machine, and notes on what each implementation does; and the
 * statistics the CSV, the plot and --pg-shared share.
 */
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

double median(const double *v, unsigned n)
{
    double s[64];
    unsigned m = n < 64 ? n : 64;
    memcpy(s, v, m * sizeof *s);
    qsort(s, m, sizeof *s, cmp_double);
    return m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
}

/* The time ratio a/o (above 1: a is slower): the median over the rounds of
 * the ratio within each round, where the two ran side by side, so that the
 * drift of a busy machine between rounds cancels out. */
double time_ratio(const struct row *rw, enum impl a, enum impl o, unsigned rounds)
{
    double x[64];
    unsigned n = 0;
    for (unsigned r = 0; r < rounds && r < 64; r++)
        if (rw->rate[a][r] > 0)
            x[n++] = rw->rate[o][r] / rw->rate[a][r];
    return n ? median(x, n) : 0;
}

/* The lowest and highest per-round ratio journal/lmdb: how far the median
 * ratio can be trusted. Rounds alternate, so each pair ran side by side. */
static void ratio_spread(const struct row *rw, unsigned rounds, double *lo, double *hi)
{
    *lo = 1e300;
    *hi = 0;
    for (unsigned r = 0; r < rounds; r++) {
        double x = rw->rate[IMPL_JOURNAL][r] > 0 ? rw->rate[IMPL_LMDB][r] / rw->rate[IMPL_JOURNAL][r] : 0;
        if (x < *lo)
            *lo = x;
        if (x > *hi)
            *hi = x;
    }
}

static void fmt_rate(char *buf, size_t n, double v)
{
    char digits[32];
    size_t len, o = 0;
    snprintf(digits, sizeof digits, "%.0f", v);
    len = strlen(digits);
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

void machine_line(char *buf, size_t n)
{
    char model[128] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30);
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *p = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && p) {
                snprintf(model, sizeof model, "%s", p + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    snprintf(buf, n, "%ld CPUs (%s), %.1f GiB memory", sysconf(_SC_NPROCESSORS_ONLN), model, mem);
}

/* The 1-minute load average: a busy machine makes every number noisy. */
double load_average(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static const char *fs_name(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        return "ext2/3/4";
    case 0x01021994:
        return "tmpfs: syncs cost nothing";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x794C7630:
        return "overlayfs";
    default:
        return "other";
    }
}

static void print_pg_notes(const struct bench *b, FILE *f)
{
    int skipped = 0;
    for (size_t i = 0; i < b->nrows; i++)
        skipped |= b->rows[i].done && (b->rows[i].skip & IMPL_PGS);
    fprintf(
        f,
        "- pg: the library on the server of --pg-url, each store its schema bench_%ld_<n>, dropped after its rows;\n"
        "  pg/pgraw is a time ratio like j/lmdb (above 1.00x the library is slower). pg's peak RSS is in the CSV\n"
        "  only: the server does the work, in processes of its own.\n",
        b->pid);
    fprintf(f,
            "- pgraw is pg's floor: the library's tables, one connection per thread, prepared statements with binary\n"
            "  parameters and results; an append (one record or a batch as one bytea[]) is one statement that\n"
            "  updates the end only where it is the expected one and inserts the records; get, bounds and range\n"
            "  are one select each, range streamed row by row (single-row mode) as the library's is; a snapshot\n"
            "  is a REPEATABLE READ READ ONLY transaction. It leaves out what only the library does: notifying\n"
            "  journal_wait(), the bounds on every row of a range, and keeping every snapshot get's result.\n"
            "  Both stores' tables are ANALYZEd after the setup (untimed), as autovacuum would on a store in use.\n"
            "  Durable rows run with synchronous_commit on, the others with it off (JOURNAL_NOSYNC's mapping);\n"
            "  on a server with fsync off (the header says; tools/pg-server.sh's has) the two cost about the same.\n");
    if (skipped)
        fprintf(f,
                "- scale rows of journals above %d records do not run pg and pgraw (-): filling them through the\n"
                "  server would take minutes.\n",
                PG_SCALE_MAX);
}

/* Each read scenario at the layout where journal/lmdb is highest. */
static void print_worst(const struct bench *b, FILE *f)
{
    static const struct {
        enum kind kind;
        const char *name;
    } reads[] = {{K_BOUNDS, "bounds"},
                 {K_RANGE, "range"},
                 {K_SNAPRANGE, "snapshot-range"},
                 {K_GET, "get"},
                 {K_SNAPGET, "snapshot-get"}};
    int header = 0;

    if (!has(b, IMPL_JOURNAL) || !has(b, IMPL_LMDB))
        return;
    for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
        const struct row *worst = NULL;
        double wr = 0, best = 1e300;
        unsigned n = 0;
        for (size_t i = 0; i < b->nrows; i++) {
            const struct row *rw = &b->rows[i];
            double x;
            if (!rw->done || rw->kind != reads[r].kind || !runs(b, rw, IMPL_LMDB))
                continue;
            x = time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds);
            n++;
            if (x < best)
                best = x;
            if (!worst || x > wr) {
                worst = rw;
                wr = x;
            }
        }
        if (n < 2)
            continue;
        if (!header)
            fprintf(f, "\nreads at their worst layout (j/lmdb, highest of the rows of that read):\n");
        header = 1;
        fprintf(f, "  %-15s %.2fx at %s (best %.2fx, %u layouts)\n", reads[r].name, wr, worst->name, best, n);
    }
}

void print_table(const struct bench *b, FILE *f)
{
    char date[64], mach[256], rates[NIMPL][32], c1[24], c2[24];
    time_t t = time(NULL);
    int mv, mn, mp;

    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    machine_line(mach, sizeof mach);
    mdb_version(&mv, &mn, &mp);
    fprintf(f, "%s %s: libjournal %s, LMDB %d.%d.%d, SQLite %s", PROG, JOURNAL_VERSION_STRING, journal_version(), mv,
            mn, mp, sqlite3_libversion());
    if (b->impl_mask & IMPL_PGS) {
        char pqv[32];
        fprintf(f, ", PostgreSQL %s (libpq %s)", b->pg_version, pq_version(pqv, sizeof pqv));
    }
    fprintf(f, "\n");
    fprintf(f, "%s; %s; load average %.1f at the start, %.1f at the end; stores on %s (%s)\n", date, mach, b->load[0],
            b->load[1], b->dir, fs_name(b->root));
    fmt_count(c1, sizeof c1, b->records);
    fmt_count(c2, sizeof c2, b->journals);
    fprintf(f,
            "record %zu bytes; %u rounds, median; appends %" PRIu64 "/round, batches %" PRIu64 "x%" PRIu64
            ", reads %" PRIu64 "/round, read journal %s records, range %" PRIu64 " passes, journals %s;\n"
            "a measurement stops after %.2f s when its count is not done (0: never); %s\n\n",
            b->size, b->rounds, b->appends, b->batches, b->batch_size, b->reads, c1, b->passes, c2,
            (double)b->max_ns / 1e9,
            b->cpu_clock ? "rows of one thread are timed by CPU time\n(--clock=cpu, waits for the disk left out), "
                           "threads-* and readers-* by the wall clock"
                         : "timed by the wall clock");
    fprintf(f, "%-22s %-6s %12s %12s %12s %8s %11s %8s %12s %12s %8s  %s\n", "scenario", "unit", "journal", "lmdb",
            "sqlite", "j/lmdb", "(rounds)", "j/sqlite", "pg", "pgraw", "pg/pgraw", "peak RSS MiB j/l/s");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        char jl[16] = "-", range[24] = "-", js[16] = "-", pr[16] = "-", rss[48];
        if (!rw->done)
            continue;
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fmt_rate(rates[im], sizeof rates[im], median(rw->rate[im], b->rounds));
            else
                snprintf(rates[im], sizeof rates[im], "-");
        }
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_LMDB)) {
            double lo, hi;
            ratio_spread(rw, b->rounds, &lo, &hi);
            snprintf(jl, sizeof jl, "%.2fx", time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds));
            snprintf(range, sizeof range, "%.2f-%.2f", lo, hi);
        }
        if (has(b, IMPL_JOURNAL) && runs(b, rw, IMPL_SQLITE))
            snprintf(js, sizeof js, "%.2fx", time_ratio(rw, IMPL_JOURNAL, IMPL_SQLITE, b->rounds));
        if (runs(b, rw, IMPL_PG) && runs(b, rw, IMPL_PGRAW))
            snprintf(pr, sizeof pr, "%.2fx", time_ratio(rw, IMPL_PG, IMPL_PGRAW, b->rounds));
        snprintf(rss, sizeof rss, "%.1f/%.1f/%.1f", rw->rss_kib[0] / 1024.0, rw->rss_kib[1] / 1024.0,
                 rw->rss_kib[2] / 1024.0);
        fprintf(f, "%-22s %-6s %12s %12s %12s %8s %11s %8s %12s %12s %8s  %s\n", rw->name, rw->unit, rates[0], rates[1],
                rates[2], jl, range, js, rates[IMPL_PG], rates[IMPL_PGRAW], pr, rss);
    }
    print_worst(b, f);
    fprintf(f, "\nnotes:\n");
    fprintf(f,
            "- ops/s are medians of the rounds; the %s ran in turn in every round, the first one rotating.\n"
            "  A measurement does its count or stops at the time limit; the CSV gives the fewest done.\n",
            b->impl_mask & IMPL_PGS ? "implementations" : "three");
    fprintf(f, "- j/lmdb and j/sqlite are time ratios (time per operation of journal / of the other; above 1.00x the\n"
               "  journal is slower), the median of the ratios within each round, where the two ran side by side.\n"
               "  (rounds) is the lowest and highest j/lmdb of single rounds.\n");
    fprintf(f, "- lmdb is the floor: the library's on-disk layout, one write transaction per append that reads the\n"
               "  catalog entry, checks the end, puts the records (MDB_APPEND where they sort last, else\n"
               "  MDB_NOOVERWRITE) and the new end; reads in one reused read transaction (mdb_txn_reset/renew).\n");
    fprintf(
        f,
        "- sqlite: WAL, one WITHOUT ROWID table keyed by (journal, position), prepared statements;\n"
        "  synchronous=FULL for durable rows, NORMAL for append-nosync and scale/journals appends, OFF for reads.\n");
    fprintf(f, "- append-nosync: the library commits JOURNAL_NOSYNC appends with MDB_NOSYNC and makes a steady point\n"
               "  (a pinned, synced state it returns to after a machine crash) every 50 ms; the floor is plain\n"
               "  MDB_NOSYNC, which LMDB documents can corrupt a store on a machine crash: the library's\n"
               "  guarantee is SQLite's (consistent, may lose the last commits), at about the floor's cost.\n");
    fprintf(f, "- threads-own-N: N threads, each its own journal in one store (one store handle, one SQLite\n"
               "  connection per thread); threads-shared-N: all append to one journal, retrying after conflicts\n"
               "  (journal_append_retry). Appends are durable; rec/s is the aggregate.\n");
    fprintf(f, "- readers-N: N processes, each opening the store itself, copying gets at once; aggregate gets/s.\n");
    fprintf(f,
            "- scale-*-N: one journal of N records in its own store; journals-N-*: a journal of %" PRIu64
            " records in a store\n"
            "  with N journals (the others empty; SQLite has no catalog, so there each holds one record).\n"
            "  Scale appends use JOURNAL_NOSYNC.\n",
            b->scale[0]);
    fprintf(f,
            "- name@layout: the read on a store of that layout (scenario 11): bN one journal of N records written\n"
            "  in batches of %d, sN written one record per transaction (for the library too by the raw floor,\n"
            "  which writes its layout without syncing), -fresh measured in the process that wrote it without\n"
            "  reopening, -issue15 the layout of issue 15 (500 batches of 1,000), jN the store of journals-N.\n"
            "  SQLite runs only on the first of them; every other row reopens its store in a new process.\n",
            FILL_BATCH);
    fprintf(f,
            "- gets and ranges are timed after one untimed pass over the journal (a reader's steady state, not\n"
            "  the page faults of a fresh process); peak RSS is ru_maxrss of the process that ran the round, the\n"
            "  store pages it touched through the map included; a process doing nothing peaks at %.1f MiB.\n",
            b->base_rss_kib / 1024.0);
    if (b->impl_mask & IMPL_PGS)
        print_pg_notes(b, f);
}
