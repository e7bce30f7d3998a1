/*
 * test_bench.c - journal-bench keeps working: it runs every scenario once
 * with tiny counts and reports each row for the three implementations in
 * its table, CSV and plot, its raw-LMDB floor writes stores in the
 * library's own on-disk layout (so that the floor does the same work), and
 * its usage errors have the documented exit status. Given a PostgreSQL
 * server, it also runs pg and pgraw there and leaves no schema behind. No
 * timing is asserted.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../lib/pg/pq_load.h" /* libpq, loaded at run time */
#include "util.h"

/*
 * Where the runs put their stores: a directory of the test in /dev/shm when
 * there is one. The test asserts no timing, and syncs to memory cost
 * nothing, so the run takes the same short time however busy the disk is.
 */
static char *store_dir;

static void bench_setup(void)
{
    tu_setup();
    store_dir = strdup("/dev/shm/journal-test-bench-XXXXXX");
    cr_assert_not_null(store_dir);
    if (!mkdtemp(store_dir)) {
        free(store_dir);
        store_dir = strdup(tu_path("stores"));
        cr_assert_not_null(store_dir);
        cr_assert_eq(mkdir(store_dir, 0755), 0);
    }
}

static void bench_teardown(void)
{
    tu_rm_rf(store_dir);
    free(store_dir);
    store_dir = NULL;
    tu_teardown();
}

TestSuite(bench, .init = bench_setup, .fini = bench_teardown, .timeout = 120);

/* Every row --quick runs, by default. */
static const char *const quick_rows[] = {"append",          "append-nosync",
                                         "batch-50",        "get",
                                         "snapshot-get",    "range",
                                         "bounds",          "threads-own-1",
                                         "threads-own-2",   "threads-shared-2",
                                         "readers-1",       "readers-2",
                                         "scale-get-100",   "scale-append-100",
                                         "journals-1-get",  "journals-1-append",
                                         "journals-20-get", "journals-20-append"};

#define NROWS (sizeof quick_rows / sizeof quick_rows[0])

#define CSV_HEAD "scenario,unit,ops_per_round,rounds,journal_ops_s,lmdb_ops_s,sqlite_ops_s,"

static int run_bench(const char *args, char **out, char **err)
{
    char *cmd;
    int rc;
    cr_assert(asprintf(&cmd, "'%s' %s", tu_bin("journal-bench"), args) > 0);
    rc = tu_run(cmd, out, err);
    free(cmd);
    return rc;
}

/* The line of the table that starts with the row's name, or NULL. */
static const char *table_line(const char *out, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return p;
    return NULL;
}

/* How many directories of runs (journal-bench-*) there are in store_dir. */
static int count_roots(void)
{
    DIR *d = opendir(store_dir);
    struct dirent *e;
    int n = 0;
    cr_assert_not_null(d);
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "journal-bench-", 14) == 0;
    closedir(d);
    return n;
}

/* The directory of the run's stores that --keep left in store_dir, for
 * free(). */
static char *kept_root(void)
{
    DIR *d = opendir(store_dir);
    struct dirent *e;
    char *root = NULL;
    cr_assert_not_null(d);
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "journal-bench-", 14) == 0)
            cr_assert(asprintf(&root, "%s/%s", store_dir, e->d_name) > 0);
    closedir(d);
    cr_assert_not_null(root, "--keep left no journal-bench-* directory in %s", store_dir);
    return root;
}

static journal_store *open_kept(const char *root, const char *store)
{
    char *path;
    journal_store *s;
    cr_assert(asprintf(&path, "%s/%s", root, store) > 0);
    s = tu_open_store(path, JOURNAL_RDONLY);
    free(path);
    return s;
}

static void check_problem(void *arg, const char *name, const char *problem)
{
    (void)arg;
    cr_log_error("%s: %s", name ? name : "(store)", problem);
}

/* The kept store root/store is consistent and holds that many journals and
 * records. */
static void expect_kept(const char *root, const char *store, uint64_t journals, uint64_t records)
{
    journal_store *s = open_kept(root, store);
    journal_stat st;
    cr_assert_eq(journal_store_check(s, check_problem, NULL), 0, "%s is not consistent", store);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.journals, journals, "%s: %llu journals", store, (unsigned long long)st.journals);
    cr_assert_eq(st.records, records, "%s: %llu records", store, (unsigned long long)st.records);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(bench, runs_every_scenario_and_reports_all_three_in_table_and_csv)
{
    const char *csv = tu_path("bench.csv"), *png = tu_path("bench.png");
    char *cmd, *out = NULL, *err = NULL, line[1024];
    size_t rows = 0;
    FILE *f;
    int rc;

    cr_assert(asprintf(&cmd, "--quick --rounds=1 --dir '%s' --csv '%s' --plot '%s'", store_dir, csv, png) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench failed (%d): %s", rc, err);
    for (size_t i = 0; i < NROWS; i++) {
        const char *l = table_line(out, quick_rows[i]);
        cr_assert_not_null(l, "no table row '%s' in:\n%s", quick_rows[i], out);
        /* Each row has a journal/lmdb and a journal/sqlite ratio. */
        cr_assert(strchr(l, 'x') && strchr(l, 'x') < strchr(l, '\n'), "no ratio in row '%s'", quick_rows[i]);
    }
    cr_assert_not_null(strstr(out, "MDB_NOSYNC"), "the notes do not say how NOSYNC maps to LMDB");

    f = fopen(csv, "r");
    cr_assert_not_null(f, "no CSV written");
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_eq(strncmp(line, CSV_HEAD, strlen(CSV_HEAD)), 0, "CSV header: %s", line);
    while (fgets(line, sizeof line, f)) {
        char name[64], unit[16];
        double j, l, s;
        cr_assert_eq(sscanf(line, "%63[^,],%15[^,],%*[^,],%*[^,],%lf,%lf,%lf", name, unit, &j, &l, &s), 5,
                     "CSV line: %s", line);
        cr_assert_str_eq(name, quick_rows[rows], "CSV row %zu", rows);
        cr_assert(j > 0 && l > 0 && s > 0, "CSV row %s has a rate of zero: %s", name, line);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, NROWS);

    if (tu_run("command -v gnuplot", NULL, NULL) == 0) {
        unsigned char magic[8] = {0};
        f = fopen(png, "rb");
        cr_assert_not_null(f, "gnuplot is installed but no plot was written");
        cr_assert_eq(fread(magic, 1, 8, f), 8);
        fclose(f);
        cr_assert_eq(memcmp(magic, "\x89PNG\r\n\x1a\n", 8), 0, "the plot is not a PNG");
    } else {
        cr_assert_not_null(strstr(err, "gnuplot is not installed"), "no note about the missing plot: %s", err);
    }
    /* Without --keep the run's stores are gone. */
    cr_assert_eq(count_roots(), 0, "the run left its stores in %s", store_dir);
    free(out);
    free(err);
}

Test(bench, raw_lmdb_floor_writes_the_library_layout)
{
    char *cmd, *out = NULL, *err = NULL;
    char *root;
    journal_store *raw, *lib;
    journal *rj, *lj;
    journal_pos begin, end;
    void *a, *b;
    size_t alen, blen;
    int rc;

    cr_assert(asprintf(&cmd, "--quick --rounds=1 --scenario=get,append,scale --impl=journal,lmdb --dir '%s' --keep",
                       store_dir) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench failed (%d): %s", rc, err);
    cr_assert_not_null(strstr(out, "the stores are kept in"));
    root = kept_root();

    /* The read store: 200 records in j0, each the same bytes as the
     * library wrote in its own store. */
    raw = open_kept(root, "read-lmdb");
    lib = open_kept(root, "read-journal");
    cr_assert_eq(journal_store_check(raw, check_problem, NULL), 0, "the floor's store is not consistent");
    rj = tu_open_journal(raw, "j0");
    lj = tu_open_journal(lib, "j0");
    cr_assert_eq(journal_bounds(rj, &begin, &end), 0);
    cr_assert_eq(begin, 0);
    cr_assert_eq(end, 200);
    for (journal_pos p = 0; p < end; p += 199) {
        cr_assert_eq(journal_get(rj, p, &a, &alen), 0);
        cr_assert_eq(journal_get(lj, p, &b, &blen), 0);
        cr_assert_eq(alen, 100);
        cr_assert_eq(blen, alen);
        cr_assert_eq(memcmp(a, b, alen), 0, "records at %llu differ", (unsigned long long)p);
        free(a);
        free(b);
    }
    journal_close(rj);
    journal_close(lj);
    cr_assert_eq(journal_store_close(raw), 0);
    cr_assert_eq(journal_store_close(lib), 0);

    /* The append store: the one round's 4 appends, one transaction each. */
    expect_kept(root, "append-lmdb", 1, 4);

    /* The store of many journals: 19 empty ones and j0 with 100 records,
     * plus the round's 4 appends; ids given as the library gives them. */
    expect_kept(root, "journals-20-lmdb", 20, 104);
    free(root);
    free(out);
    free(err);
}

Test(bench, runs_only_the_scenarios_implementations_and_clock_asked_for)
{
    char *cmd, *out = NULL, *err = NULL;
    const char *l;
    int rc;

    cr_assert(asprintf(&cmd, "--quick --rounds=1 --scenario=bounds,2 --impl=journal,sqlite --clock=cpu --dir '%s'",
                       store_dir) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench failed (%d): %s", rc, err);
    cr_assert_not_null(table_line(out, "bounds"));
    cr_assert_not_null(table_line(out, "append-nosync"));
    cr_assert_null(table_line(out, "append"));
    cr_assert_null(table_line(out, "get"));
    cr_assert_null(table_line(out, "threads-own-1"));
    cr_assert_not_null(strstr(out, "timed by CPU time"), "the header does not name the clock:\n%s", out);
    /* No lmdb: its column and the journal/lmdb ratio are dashes. */
    l = table_line(out, "bounds");
    cr_assert_not_null(strstr(l, " - "), "row without lmdb: %.*s", (int)strcspn(l, "\n"), l);
    free(out);
    free(err);
}

Test(bench, prints_help_and_version_to_stdout)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_bench("--help", &out, &err), 0);
    cr_assert_not_null(strstr(out, "Usage: journal-bench"));
    cr_assert_not_null(strstr(out, "--scenario"));
    free(out);
    free(err);
    cr_assert_eq(run_bench("-V", &out, &err), 0);
    cr_assert_not_null(strstr(out, journal_version()));
    cr_assert_not_null(strstr(out, "SQLite"));
    free(out);
    free(err);
}

Test(bench, rejects_bad_usage_with_status_2)
{
    static const char *const bad[] = {"--scenario=fly", "--scenario=12", "--impl=postgres", "--appends=0",
                                      "--rounds=x",     "--threads=",    "--clock=sundial", "--time=-1",
                                      "--bogus",        "extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL, *err = NULL;
        cr_assert_eq(run_bench(bad[i], &out, &err), 2, "%s", bad[i]);
        cr_assert_str_empty(out, "%s printed a table", bad[i]);
        cr_assert_not_null(strstr(err, "journal-bench: "), "%s: %s", bad[i], err);
        free(out);
        free(err);
    }
}

Test(bench, fails_with_status_1_before_running_when_the_csv_cannot_be_written)
{
    char *cmd, *out = NULL, *err = NULL;
    cr_assert(asprintf(&cmd, "--quick --dir '%s' --csv '%s/no/such/dir/b.csv'", store_dir, tu_dir()) > 0);
    cr_assert_eq(run_bench(cmd, &out, &err), 1);
    cr_assert_not_null(strstr(err, "b.csv"), "%s", err);
    cr_assert_str_empty(out);
    free(cmd);
    free(out);
    free(err);
}

/* Field n (from 0) of a CSV line, as a number; -1 when it is empty. */
static double csv_field(const char *line, int n)
{
    const char *p = line;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ',');
        cr_assert_not_null(p, "CSV line has no field %d: %s", n, line);
        p++;
    }
    return *p == ',' || *p == '\n' || !*p ? -1 : strtod(p, NULL);
}

/* The CSV columns of pg and pgraw (after journal, lmdb and sqlite). */
#define CSV_PG_HEAD CSV_HEAD "pg_ops_s,pgraw_ops_s,"

Test(bench, runs_pg_and_pgraw_on_a_server_and_drops_its_schemas)
{
    const char *url = getenv("JOURNAL_TEST_PG_URL"), *backend = getenv("JOURNAL_TEST_BACKEND");
    const char *csv = tu_path("bench.csv");
    char *cmd, *out = NULL, *err = NULL, line[1024];
    size_t rows = 0;
    PGconn *pg;
    PGresult *r;
    FILE *f;
    int rc;

    if (!backend || strcmp(backend, "pg") != 0 || !url || !*url)
        cr_skip_test("needs a server: JOURNAL_TEST_BACKEND=pg and JOURNAL_TEST_PG_URL (the second run of make test)");
    cr_assert(asprintf(&cmd, "--quick --impl=pg,pgraw --pg-url='%s' --dir '%s' --csv '%s'", url, store_dir, csv) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench failed (%d): %s", rc, err);
    for (size_t i = 0; i < NROWS; i++) {
        const char *l = table_line(out, quick_rows[i]);
        cr_assert_not_null(l, "no table row '%s' in:\n%s", quick_rows[i], out);
        /* journal, lmdb and sqlite did not run; pg/pgraw is a ratio. */
        cr_assert(strchr(l, 'x') && strchr(l, 'x') < strchr(l, '\n'), "no pg/pgraw ratio in row '%s'", quick_rows[i]);
    }
    cr_assert_not_null(strstr(out, "PostgreSQL"), "the header does not name the server:\n%s", out);

    f = fopen(csv, "r");
    cr_assert_not_null(f, "no CSV written");
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_assert_eq(strncmp(line, CSV_PG_HEAD, strlen(CSV_PG_HEAD)), 0, "CSV header: %s", line);
    while (fgets(line, sizeof line, f)) {
        cr_assert(rows < NROWS, "more CSV rows than table rows: %s", line);
        cr_assert_eq(strncmp(line, quick_rows[rows], strlen(quick_rows[rows])), 0, "CSV row %zu: %s", rows, line);
        cr_assert_eq(csv_field(line, 4), -1, "journal ran: %s", line);
        cr_assert(csv_field(line, 7) > 0 && csv_field(line, 8) > 0, "a pg rate of zero: %s", line);
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, NROWS);

    /* Every store was a schema bench_<pid>_<n>; none is left. */
    cr_assert_eq(journal__pq_load(NULL), 0, "libpq cannot be loaded");
    pg = PQconnectdb(url);
    cr_assert_eq(PQstatus(pg), CONNECTION_OK, "%s", PQerrorMessage(pg));
    /* Those of --pg-shared (bench_<pid>_x...) are the other test's. */
    r = PQexec(pg, "SELECT string_agg(nspname, ' ') FROM pg_namespace "
                   "WHERE nspname LIKE 'bench\\_%' AND nspname NOT LIKE 'bench\\_%\\_x%'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    cr_assert(PQgetisnull(r, 0, 0), "schemas left behind: %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    free(out);
    free(err);
}

/* Every row of --pg-shared. */
static const char *const shared_rows[] = {"connect + open + bounds",
                                          "append, 4 procs, durable",
                                          "truncate 100 records",
                                          "truncate racing 2 appenders",
                                          "wait latency, 2 procs",
                                          "get, 8 threads",
                                          "get, 16 threads",
                                          "get, 32 threads",
                                          "get, 64 threads",
                                          "snapshot begin+get+end",
                                          "snapshot renew + get",
                                          "append 1 MiB, no-sync",
                                          "get 1 MiB"};

/* --pg-shared keeps working: every scenario runs once, pg against pgraw,
 * truncations racing appends give only 0 or EBEYOND, no schema is left. */
Test(bench, pg_shared_runs_every_scenario_and_drops_its_schemas)
{
    const char *url = getenv("JOURNAL_TEST_PG_URL"), *backend = getenv("JOURNAL_TEST_BACKEND");
    char *cmd, *out = NULL, *err = NULL;
    const char *l;
    PGconn *pg;
    PGresult *r;
    int rc;

    if (!backend || strcmp(backend, "pg") != 0 || !url || !*url)
        cr_skip_test("needs a server: JOURNAL_TEST_BACKEND=pg and JOURNAL_TEST_PG_URL (the second run of make test)");
    cr_assert(asprintf(&cmd, "--pg-shared --quick --rounds=1 --pg-url='%s'", url) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench --pg-shared failed (%d): %s", rc, err);
    cr_assert_not_null(strstr(out, "PostgreSQL"), "the header does not name the server:\n%s", out);
    for (size_t i = 0; i < sizeof shared_rows / sizeof shared_rows[0]; i++) {
        l = table_line(out, shared_rows[i]);
        cr_assert_not_null(l, "no row '%s' in:\n%s", shared_rows[i], out);
        cr_assert(strchr(l, 'x') && strchr(l, 'x') < strchr(l, '\n'), "no pg/pgraw ratio in row '%s'", shared_rows[i]);
    }
    l = table_line(out, "truncate racing 2 appenders");
    cr_assert_not_null(strstr(l, "neither 0 nor EBEYOND: 0 / "), "a truncation racing appends failed: %.*s",
                       (int)(strchr(l, '\n') ? strchr(l, '\n') - l : (long)strlen(l)), l);

    cr_assert_eq(journal__pq_load(NULL), 0, "libpq cannot be loaded");
    pg = PQconnectdb(url);
    cr_assert_eq(PQstatus(pg), CONNECTION_OK, "%s", PQerrorMessage(pg));
    r = PQexec(pg, "SELECT string_agg(nspname, ' ') FROM pg_namespace WHERE nspname LIKE 'bench\\_%\\_x%'");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    cr_assert(PQgetisnull(r, 0, 0), "schemas left behind: %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    free(out);
    free(err);
}

/* Scenario 11: every read on every layout, each with a journal/lmdb ratio,
 * each read's worst layout after the table, and the stores written one
 * record per transaction for the library (by the raw floor) open as
 * consistent journal stores. */
Test(bench, runs_every_read_on_every_layout_and_names_the_worst)
{
    static const char *const reads[] = {"bounds", "range", "snapshot-range", "get", "snapshot-get"};
    static const char *const layouts[] = {"b200-fresh", "s200", "b2000", "s2000", "issue15", "j20"};
    char *cmd, *out = NULL, *err = NULL, *root, name[64];
    int rc;

    cr_assert(asprintf(&cmd, "--quick --rounds=1 --scenario=layouts --dir '%s' --keep", store_dir) > 0);
    rc = run_bench(cmd, &out, &err);
    free(cmd);
    cr_assert_eq(rc, 0, "journal-bench failed (%d): %s", rc, err);
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
            const char *line;
            snprintf(name, sizeof name, "%s@%s", reads[r], layouts[l]);
            line = table_line(out, name);
            cr_assert_not_null(line, "no table row '%s' in:\n%s", name, out);
            cr_assert(strchr(line, 'x') && strchr(line, 'x') < strchr(line, '\n'), "no ratio in row '%s'", name);
        }
    }
    cr_assert_not_null(table_line(out, "snapshot-range@b200"), "no snapshot-range on the read store:\n%s", out);
    cr_assert_not_null(strstr(out, "reads at their worst layout"), "no worst layouts in:\n%s", out);
    for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
        snprintf(name, sizeof name, "  %s ", reads[r]);
        cr_assert_not_null(strstr(out, name), "no worst layout of %s in:\n%s", reads[r], out);
    }

    root = kept_root();
    expect_kept(root, "single-large-journal", 1, 2000);
    free(root);
    free(out);
    free(err);
}
