/*
 * test_pg.c - what only the PostgreSQL backend has: stores as schemas of
 * one database, many connections racing, connections killed by the
 * server, a server going away and coming back, and the URL's own
 * parameter. The rest of the contract is the conformance suite, which
 * runs against PostgreSQL too (make test runs the binary twice).
 *
 * Every test here skips unless JOURNAL_TEST_BACKEND=pg.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/pg/pq_load.h" /* libpq, loaded at run time */
#include "util.h"

/* Built with AddressSanitizer (GCC says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_PG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_PG_ASAN 1
#endif
#endif
#ifndef TEST_PG_ASAN
#define TEST_PG_ASAN 0
#endif

/* The message of the last failure in this thread (lib/pg/error.c); NULL names
 * the last failed journal_store_open(). Not public API yet. */

TestSuite(pg, .init = tu_setup, .fini = tu_teardown);

static void require_pg(void)
{
    if (tu_is_lmdb())
        cr_skip_test("PostgreSQL-specific; JOURNAL_TEST_BACKEND is not pg");
}

/* The server's own URL (no journal_schema): for the tests' admin work. */
static PGconn *admin(void)
{
    const char *url = getenv("JOURNAL_TEST_PG_URL");
    PGconn *pg;
    const char *why;
    cr_assert_not_null(url, "JOURNAL_TEST_BACKEND=pg needs JOURNAL_TEST_PG_URL");
    cr_assert_eq(journal__pq_load(&why), 0, "%s", why);
    pg = PQconnectdb(url);
    cr_assert_eq(PQstatus(pg), CONNECTION_OK, "admin connection: %s", PQerrorMessage(pg));
    return pg;
}

static void admin_exec(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* The schema a tu_store() URL names. */
static const char *schema_of(const char *url)
{
    static char name[64];
    const char *p = strstr(url, "journal_schema=");
    cr_assert_not_null(p);
    p += strlen("journal_schema=");
    snprintf(name, sizeof name, "%.*s", (int)strcspn(p, "&"), p);
    return name;
}

static int open_url(const char *url, unsigned flags, journal_store **s)
{
    journal_options o = {0};
    o.flags = flags;
    return journal_store_open(url, &o, s);
}

static int count_journal(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    (void)name;
    (void)begin;
    (void)end;
    ++*(int *)arg;
    return 0;
}

/* ------------------------------------------------------------------ */

Test(pg, two_stores_in_one_database_do_not_see_each_other)
{
    journal_store *a, *b, *ro;
    journal *ja, *jb, *jx;
    int na = 0, nb = 0;
    require_pg();
    a = tu_open_store(tu_store(), 0);
    b = tu_open_store(tu_store(), 0);
    ja = tu_open_journal(a, "j");
    jb = tu_open_journal(b, "j");
    jx = tu_open_journal(a, "only-in-a");
    tu_append_str(ja, 0, "a0");
    tu_append_str(ja, 1, "a1");
    tu_append_str(jb, 0, "b0");
    tu_assert_bounds(ja, 0, 2);
    tu_assert_bounds(jb, 0, 1);
    tu_assert_str(ja, 0, "a0");
    tu_assert_str(jb, 0, "b0");
    cr_assert_eq(journal_store_list(a, count_journal, &na), 0);
    cr_assert_eq(journal_store_list(b, count_journal, &nb), 0);
    cr_assert_eq(na, 2);
    cr_assert_eq(nb, 1);
    /* b's schema has no journal "only-in-a": a read-only handle on it
     * cannot find it. */
    cr_assert_eq(open_url(journal_store_path(b), JOURNAL_RDONLY, &ro), 0);
    cr_assert_eq(journal_open(ro, "only-in-a", &jx), -ENOENT);
    cr_assert_eq(journal_store_close(ro), 0);
    journal_close(jx);
    journal_close(ja);
    journal_close(jb);
    cr_assert_eq(journal_store_close(a), 0);
    cr_assert_eq(journal_store_close(b), 0);
}

/* ------------------------------------------------------------------ */

enum { RACERS = 6, PER_RACER = 40 };

struct racer {
    const char *url;
    int id;
    unsigned conflicts;
};

/* Each racer has a store handle, so connections, of its own, as a process
 * on another host would: append "id:i" at the end, retry on conflict. */
static void *race(void *arg)
{
    struct racer *r = arg;
    journal_store *s = NULL;
    journal *j = NULL;
    char rec[32];
    int rc = open_url(r->url, 0, &s);
    if (rc == 0)
        rc = journal_open(s, "race", &j);
    for (int i = 0; rc == 0 && i < PER_RACER; i++) {
        journal_pos end;
        snprintf(rec, sizeof rec, "%d:%d", r->id, i);
        do {
            rc = journal_bounds(j, NULL, &end);
            if (rc == 0)
                rc = journal_append(j, end, rec, strlen(rec));
            r->conflicts += rc == JOURNAL_ECONFLICT;
        } while (rc == JOURNAL_ECONFLICT);
    }
    journal_close(j);
    journal_store_close(s);
    return (void *)(intptr_t)rc;
}

static int collect(void *arg, journal_pos pos, const void *rec, size_t len)
{
    int(*seen)[PER_RACER] = arg, id, i;
    char buf[32];
    cr_assert_lt(len, sizeof buf);
    memcpy(buf, rec, len);
    buf[len] = '\0';
    cr_assert_eq(sscanf(buf, "%d:%d", &id, &i), 2, "record %llu: %s", (unsigned long long)pos, buf);
    cr_assert(id >= 0 && id < RACERS && i >= 0 && i < PER_RACER, "record %llu: %s", (unsigned long long)pos, buf);
    /* A racer's records come in its order: i follows the one before. */
    for (int k = 0; k < i; k++)
        cr_assert(seen[id][k], "record %llu: %s before %d:%d", (unsigned long long)pos, buf, id, k);
    cr_assert_not(seen[id][i], "record %s twice", buf);
    seen[id][i] = 1;
    return 0;
}

Test(pg, racing_connections_append_every_record_exactly_once, .timeout = 120)
{
    const char *url;
    pthread_t t[RACERS];
    struct racer r[RACERS];
    int seen[RACERS][PER_RACER] = {{0}};
    unsigned conflicts = 0;
    journal_store *s;
    journal *j;
    require_pg();
    url = tu_store();
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, "race");
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){.url = url, .id = i};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_assert_eq((int)(intptr_t)rc, 0, "racer %d: %s", i, journal_strerror((int)(intptr_t)rc));
        conflicts += r[i].conflicts;
    }
    /* No gap, nothing lost, nothing doubled. */
    tu_assert_bounds(j, 0, RACERS * PER_RACER);
    cr_assert_eq(journal_range(j, 0, collect, seen), 0);
    for (int i = 0; i < RACERS; i++)
        for (int k = 0; k < PER_RACER; k++)
            cr_assert(seen[i][k], "record %d:%d is missing", i, k);
    cr_log_info("%u conflicts among %d appends", conflicts, RACERS * PER_RACER);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------ */

enum { KILL_BATCH = 32, KILL_LEN = 2048, KILL_MAX_ACKS = 4096 };

struct killed {
    journal *j;
    atomic_int stop;
    /* Acknowledged batches: where each began and its seed. */
    journal_pos at[KILL_MAX_ACKS];
    unsigned nacks, nfailed;
    int other_rc;
};

static void fill(char *buf, journal_pos pos)
{
    for (size_t i = 0; i < KILL_LEN; i++)
        buf[i] = (char)(pos * 131 + i * 7);
}

/* Appends batches until told to stop; a batch whose connection the
 * server killed fails and is retried at the end read afresh. */
static void *kill_writer(void *arg)
{
    struct killed *k = arg;
    static char bufs[KILL_BATCH][KILL_LEN];
    journal_record recs[KILL_BATCH];
    while (!atomic_load(&k->stop) && k->nacks < KILL_MAX_ACKS) {
        journal_pos end;
        int rc = journal_bounds(k->j, NULL, &end);
        if (rc == 0) {
            for (int i = 0; i < KILL_BATCH; i++) {
                fill(bufs[i], end + (journal_pos)i);
                recs[i] = (journal_record){bufs[i], KILL_LEN};
            }
            rc = journal_append_batch(k->j, end, recs, KILL_BATCH);
        }
        if (rc == 0) {
            k->at[k->nacks++] = end;
        } else if (rc == -ECONNRESET) {
            k->nfailed++;
        } else {
            k->other_rc = rc;
            break;
        }
    }
    return NULL;
}

Test(pg, a_connection_killed_mid_transaction_loses_nothing_acknowledged, .timeout = 120)
{
    struct killed *k = calloc(1, sizeof *k);
    char *url, appname[64], sql[256];
    journal_store *s;
    PGconn *pg;
    pthread_t t;
    unsigned kills = 0;
    journal_snapshot *snap;
    const void *rec;
    size_t len;
    char want[KILL_LEN];
    require_pg();
    cr_assert_not_null(k);
    /* The writer's connections carry a name the killer looks for. */
    snprintf(appname, sizeof appname, "jkill%ld", (long)getpid());
    cr_assert(asprintf(&url, "%s&application_name=%s", tu_store(), appname) > 0);
    s = tu_open_store(url, 0);
    k->j = tu_open_journal(s, "j");
    pg = admin();

    /* A read transaction killed: the snapshot fails with a clear error
     * and can only be ended; the next one works. */
    tu_append_str(k->j, 0, "first");
    cr_assert_eq(journal_snapshot_begin(k->j, &snap), 0);
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '%s' "
             "AND state = 'idle in transaction'",
             appname);
    admin_exec(pg, sql);
    cr_assert_eq(journal_snapshot_get(snap, 0, &rec, &len), -ECONNRESET);
    cr_assert_neq(strlen(journal_store_errmsg(s)), 0);
    journal_snapshot_end(snap);
    tu_assert_str(k->j, 0, "first");

    /* Write transactions killed while they run. */
    cr_assert_eq(pthread_create(&t, NULL, kill_writer, k), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s' "
             "AND state = 'active'",
             appname);
    for (int tries = 0; tries < 20000 && kills < 5 && k->other_rc == 0; tries++) {
        PGresult *r = PQexec(pg, sql);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
        kills += (unsigned)atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    atomic_store(&k->stop, 1);
    pthread_join(t, NULL);
    PQfinish(pg);
    cr_assert_eq(k->other_rc, 0, "writer: %s", journal_strerror(k->other_rc));
    cr_assert_gt(kills, 0, "no write was ever caught running");
    cr_log_info("%u kills, %u failed batches, %u acknowledged", kills, k->nfailed, k->nacks);

    /* Every acknowledged batch is there, byte for byte, read through a
     * new handle. */
    journal_close(k->j);
    cr_assert_eq(journal_store_close(s), 0);
    s = tu_open_store(url, 0);
    k->j = tu_open_journal(s, "j");
    for (unsigned a = 0; a < k->nacks; a++) {
        for (int i = 0; i < KILL_BATCH; i++) {
            journal_pos pos = k->at[a] + (journal_pos)i;
            void *got;
            size_t n;
            int rc = journal_get(k->j, pos, &got, &n);
            cr_assert_eq(rc, 0, "acknowledged record %llu: %s", (unsigned long long)pos, journal_strerror(rc));
            fill(want, pos);
            cr_assert_eq(n, KILL_LEN);
            cr_assert_arr_eq(got, want, KILL_LEN, "record %llu changed", (unsigned long long)pos);
            free(got);
        }
    }
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(k->j);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
    free(k);
}

/* ------------------------------------------------------------------ */

struct waiter {
    journal *j;
    journal_pos pos;
    int timeout_ms;
    int rc;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = journal_wait(w->j, w->pos, w->timeout_ms);
    return NULL;
}

/* The pid of the session named appname that sits idle after a LISTEN,
 * i.e. a journal_wait() asleep; 0 while there is none. */
static int listening_pid(PGconn *pg, const char *appname)
{
    char sql[256];
    PGresult *r;
    int pid = 0;
    snprintf(sql, sizeof sql,
             "SELECT pid FROM pg_stat_activity WHERE application_name = '%s' AND state = 'idle' "
             "AND query LIKE '%%LISTEN%%'",
             appname);
    r = PQexec(pg, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    if (PQntuples(r) > 0)
        pid = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pid;
}

/* A private server for the tests that stop it, so that the tests running
 * beside them keep theirs. Its directory must be short (Unix socket
 * paths) and reachable by the postgres user, unlike tu_dir(). It is
 * stopped by the test's .fini (server_stop), also when the test fails. */
static char *server_dir;

static void run_server_script(const char *verb, char **out)
{
    const char *src = getenv("JOURNAL_TEST_SRC");
    char *cmd, *err = NULL;
    int rc;
    cr_assert(asprintf(&cmd, "'%s/tools/pg-server.sh' %s '%s'", src && *src ? src : ".", verb, server_dir) > 0);
    rc = tu_run(cmd, out, &err);
    cr_assert_eq(rc, 0, "%s: exit %d: %s", cmd, rc, err);
    free(cmd);
    free(err);
}

static char *private_server(void)
{
    const char *build = getenv("JOURNAL_TEST_BUILD");
    char *out = NULL, *nl;
    if (access("/usr/lib/postgresql", F_OK) != 0)
        cr_skip_test("no PostgreSQL server installed here to stop and start");
    cr_assert(asprintf(&server_dir, "%s/pg-private-%ld", build && *build ? build : "build", (long)getpid()) > 0);
    run_server_script("start", &out);
    nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
    cr_assert(strncmp(out, "postgresql://", 13) == 0, "pg-server.sh start printed %s", out);
    return out;
}

static void server_stop(void)
{
    if (server_dir) {
        char *cmd;
        const char *src = getenv("JOURNAL_TEST_SRC");
        if (asprintf(&cmd, "'%s/tools/pg-server.sh' stop '%s' && rm -rf '%s'", src && *src ? src : ".", server_dir,
                     server_dir) > 0) {
            tu_run(cmd, NULL, NULL);
            free(cmd);
        }
        free(server_dir);
        server_dir = NULL;
    }
}

Test(pg, calls_fail_clearly_while_the_server_is_down_and_work_again_after, .fini = server_stop, .timeout = 120)
{
    char *base, *url;
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    const void *rec;
    size_t len;
    journal_pos end = 0;
    struct waiter w;
    pthread_t t;
    PGconn *pg;
    require_pg();
    base = private_server();
    cr_assert(asprintf(&url, "%s&journal_schema=restart&application_name=jrestart", base) > 0);
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, "j");
    for (journal_pos i = 0; i < 10; i++)
        tu_append_str(j, i, "before");
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    /* A wait asleep when the server shuts down: its session is ended by
     * the server, which is -ECONNRESET. */
    w = (struct waiter){.j = j, .pos = 100, .timeout_ms = -1};
    cr_assert_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
    pg = PQconnectdb(base);
    cr_assert_eq(PQstatus(pg), CONNECTION_OK, "%s", PQerrorMessage(pg));
    for (int tries = 0; tries < 2000 && listening_pid(pg, "jrestart") == 0; tries++)
        usleep(5000);
    cr_assert_neq(listening_pid(pg, "jrestart"), 0, "the waiter never started listening");
    PQfinish(pg);

    run_server_script("stop", NULL);
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, -ECONNRESET, "wait during shutdown: %s", journal_strerror(w.rc));
    cr_assert_eq(journal_bounds(j, NULL, &end), -ECONNREFUSED);
    cr_assert_neq(strstr(journal_store_errmsg(s), "connect"), NULL, "message: %s", journal_store_errmsg(s));
    cr_assert_eq(journal_append(j, 10, "x", 1), -ECONNREFUSED);
    cr_assert_eq(journal_snapshot_get(snap, 0, &rec, &len), -ECONNRESET);
    journal_snapshot_end(snap);

    /* Back: the same handles work, on new connections, and nothing is
     * lost. */
    run_server_script("restart", NULL);
    tu_assert_bounds(j, 0, 10);
    tu_assert_str(j, 9, "before");
    tu_append_str(j, 10, "after");

    /* Restarted under open handles: idle connections are found dead and
     * replaced without an error. */
    run_server_script("restart", NULL);
    tu_assert_bounds(j, 0, 11);
    tu_assert_str(j, 10, "after");
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
    free(base);
}

/* ------------------------------------------------------------------ */

Test(pg, a_malformed_url_or_one_pointing_nowhere_gives_a_clear_error, .timeout = 60)
{
    static const struct {
        const char *url;
        int rc;
    } cases[] = {
        {"postgresql://[::1", -EINVAL},
        {"postgresql:///postgres?nosuchoption=1", -EINVAL},
        {"postgres://%zz/", -EINVAL},
        {"postgresql:///postgres?host=/nonexistent-journal-test-dir", -ECONNREFUSED},
        {"postgresql://127.0.0.1:1/postgres?connect_timeout=5", -ECONNREFUSED},
    };
    char *url;
    journal_store *s = NULL;
    int rc;
    require_pg();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc = journal_store_open(cases[i].url, NULL, &s);
        cr_assert_eq(rc, cases[i].rc, "%s: %d (%s), expected %d", cases[i].url, rc, journal_strerror(rc), cases[i].rc);
        cr_assert_null(s);
        cr_assert_neq(strlen(journal_store_errmsg(NULL)), 0, "%s: no message", cases[i].url);
    }
    /* The server is there but the database is not. */
    cr_assert(asprintf(&url, "%s&dbname=no_such_journal_db", tu_store()) > 0);
    rc = journal_store_open(url, NULL, &s);
    cr_assert_eq(rc, -ENOENT, "%s: %s", url, journal_strerror(rc));
    cr_assert_neq(strstr(journal_store_errmsg(NULL), "no_such_journal_db"), NULL, "%s", journal_store_errmsg(NULL));
    free(url);
}

static int count_record(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)pos;
    (void)rec;
    (void)len;
    ++*(int *)arg;
    return 0;
}

/* Every kind of statement once, on store s (whose schema name is as long
 * as can be, so no statement text may be cut short). */
static void exercise(journal_store *s)
{
    journal_record recs[2] = {{"b1", 2}, {"b2", 2}};
    journal_snapshot *snap;
    journal_stat st;
    journal_store *c;
    const void *rec;
    size_t len;
    int n = 0;
    char *dest;
    journal *j = tu_open_journal(s, "j");
    tu_append_str(j, 0, "r0");
    cr_assert_eq(journal_append_batch(j, 1, recs, 2), 0);
    cr_assert_eq(journal_wait(j, 2, 1000), 0);
    cr_assert_eq(journal_wait(j, 3, 0), -ETIMEDOUT);
    cr_assert_eq(journal_range(j, 0, count_record, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_snapshot_get(snap, 2, &rec, &len), 0);
    cr_assert_eq(len, 2);
    cr_assert_arr_eq(rec, "b2", 2);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    cr_assert_eq(journal_snapshot_range(snap, 1, count_record, &n), 0);
    cr_assert_eq(n, 5);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_truncate(j, 1), 0);
    tu_assert_bounds(j, 1, 3);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.format_version, JOURNAL_FORMAT_VERSION);
    cr_assert_eq(st.journals, 1);
    cr_assert_eq(st.records, 2);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_store_sync(s), 0);
    /* The copy's schema name is as long, too. */
    cr_assert(asprintf(&dest, "%s", journal_store_path(s)) > 0);
    dest[strlen(dest) - 1] = dest[strlen(dest) - 1] == 'x' ? 'y' : 'x';
    cr_assert_eq(journal_store_copy(s, dest, 0), 0);
    c = tu_open_store(dest, JOURNAL_RDONLY);
    cr_assert_eq(journal_store_check(c, NULL, NULL), 0);
    cr_assert_eq(journal_store_list(c, count_journal, &n), 0);
    cr_assert_eq(n, 6);
    cr_assert_eq(journal_store_close(c), 0);
    free(dest);
    journal_close(j);
}

Test(pg, journal_schema_with_bad_characters_gives_einval)
{
    static const char *const bad[] = {
        "x;drop",        "a-b",     "a%20b",
        "1abc",          "",        "a\"b",
        "sch\xc3\xa9ma", "pg_mine", "a123456789a123456789a123456789a123456789a123456789a123456789abcd"};
    const char *base = getenv("JOURNAL_TEST_PG_URL");
    journal_store *s = NULL;
    char *url, name[80];
    int rc;
    require_pg();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert(asprintf(&url, "%s%cjournal_schema=%s", base, strchr(base, '?') ? '&' : '?', bad[i]) > 0);
        rc = journal_store_open(url, NULL, &s);
        cr_assert_eq(rc, -EINVAL, "%s: %s", url, journal_strerror(rc));
        cr_assert_null(s);
        free(url);
    }
    /* Given twice: which one was meant is unclear. */
    cr_assert(asprintf(&url, "%s&journal_schema=other", tu_store()) > 0);
    cr_assert_eq(journal_store_open(url, NULL, &s), -EINVAL);
    free(url);
    /* 63 characters, mixed case: the longest name PostgreSQL keeps. */
    snprintf(name, sizeof name, "Ab_%ld_%s", (long)getpid(), "123456789a123456789a123456789a123456789a123456789a123");
    name[63] = '\0';
    cr_assert(asprintf(&url, "%s%cjournal_schema=%s", base, strchr(base, '?') ? '&' : '?', name) > 0);
    rc = open_url(url, JOURNAL_NOSYNC, &s); /* so that sync has work to do */
    cr_assert_eq(rc, 0, "%s: %s", url, journal_strerror(rc));
    exercise(s);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
}

Test(pg, a_read_only_open_of_a_missing_schema_gives_enoent_and_creates_nothing)
{
    const char *url;
    journal_store *s = NULL;
    PGconn *pg;
    PGresult *r;
    char sql[160];
    require_pg();
    url = tu_store();
    cr_assert_eq(open_url(url, JOURNAL_RDONLY, &s), -ENOENT);
    cr_assert_null(s);
    pg = admin();
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_namespace WHERE nspname = '%s'", schema_of(url));
    r = PQexec(pg, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(pg);
}

Test(pg, an_unknown_format_version_gives_eversion)
{
    const char *url;
    journal_store *s;
    PGconn *pg;
    char sql[160];
    require_pg();
    url = tu_store();
    s = tu_open_store(url, 0);
    cr_assert_eq(journal_store_close(s), 0);
    pg = admin();
    snprintf(sql, sizeof sql, "UPDATE \"%s\".meta SET value = '999' WHERE key = 'format'", schema_of(url));
    admin_exec(pg, sql);
    PQfinish(pg);
    s = NULL;
    cr_assert_eq(journal_store_open(url, NULL, &s), JOURNAL_EVERSION);
    cr_assert_null(s);
}

Test(pg, a_schema_of_something_else_is_not_taken_over)
{
    const char *url;
    journal_store *s = NULL;
    PGconn *pg;
    char sql[200];
    require_pg();
    url = tu_store();
    pg = admin();
    snprintf(sql, sizeof sql, "CREATE SCHEMA \"%1$s\"; CREATE TABLE \"%1$s\".mine (x int)", schema_of(url));
    admin_exec(pg, sql);
    PQfinish(pg);
    cr_assert_eq(journal_store_open(url, NULL, &s), JOURNAL_ECORRUPT);
    cr_assert_null(s);
}

Test(pg, copy_goes_to_a_new_schema_with_the_same_journals_bounds_and_records)
{
    const char *src = NULL, *dest;
    journal_store *s, *d;
    journal *j, *k;
    require_pg();
    src = tu_store();
    dest = tu_store();
    s = tu_open_store(src, 0);
    j = tu_open_journal(s, "j");
    k = tu_open_journal(s, "k");
    for (journal_pos i = 0; i < 5; i++)
        tu_append_str(j, i, i % 2 ? "odd" : "even");
    cr_assert_eq(journal_truncate(j, 2), 0);
    tu_append_str(k, 0, "k0");
    cr_assert_eq(journal_store_copy(s, dest, 0), 0);
    /* Onto a store, or into a directory: refused, nothing changed. */
    cr_assert_eq(journal_store_copy(s, dest, 0), -EEXIST);
    cr_assert_eq(journal_store_copy(s, tu_path("dir"), 0), -ENOTSUP);
    journal_close(j);
    journal_close(k);
    cr_assert_eq(journal_store_close(s), 0);

    d = tu_open_store(dest, 0);
    j = tu_open_journal(d, "j");
    k = tu_open_journal(d, "k");
    tu_assert_bounds(j, 2, 5);
    tu_assert_str(j, 2, "even");
    tu_assert_str(j, 3, "odd");
    tu_assert_bounds(k, 0, 1);
    tu_assert_str(k, 0, "k0");
    tu_append_str(j, 5, "new");
    /* A journal created in the copy gets an id of its own. */
    journal_close(k);
    k = tu_open_journal(d, "new");
    tu_append_str(k, 0, "n0");
    tu_assert_bounds(j, 2, 6);
    cr_assert_eq(journal_store_check(d, NULL, NULL), 0);
    journal_close(j);
    journal_close(k);
    cr_assert_eq(journal_store_close(d), 0);
}

/* ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum { TRUNC_WRITERS = 4, TRUNC_PER_WRITER = 150 };

struct trunc_race {
    const char *url;
    atomic_int writers_left, next_id;
    int rc[TRUNC_WRITERS];
};

static void *trunc_writer(void *arg)
{
    struct trunc_race *t = arg;
    journal_store *s = NULL;
    journal *j = NULL;
    int id = atomic_fetch_add(&t->next_id, 1), rc;
    rc = open_url(t->url, 0, &s);
    if (rc == 0)
        rc = journal_open(s, "t", &j);
    for (int i = 0; rc == 0 && i < TRUNC_PER_WRITER; i++) {
        journal_pos end;
        do {
            rc = journal_bounds(j, NULL, &end);
            if (rc == 0)
                rc = journal_append(j, end, "0123456789", 10);
        } while (rc == JOURNAL_ECONFLICT);
    }
    t->rc[id] = rc;
    journal_close(j);
    journal_store_close(s);
    atomic_fetch_sub(&t->writers_left, 1);
    return NULL;
}

/* A truncation to the end just read (or one past it) races the appends
 * committing there: it truncates (0) or finds the end not there yet
 * (JOURNAL_EBEYOND), never anything else, and leaves no gap behind. */
Test(pg, truncation_racing_appends_gives_only_0_or_ebeyond, .timeout = 120)
{
    struct trunc_race t = {0};
    pthread_t th[TRUNC_WRITERS];
    journal_store *s;
    journal *j;
    unsigned truncs = 0, beyond = 0;
    int n = 0;
    journal_pos b, e;
    require_pg();
    t.url = tu_store();
    s = tu_open_store(t.url, 0);
    j = tu_open_journal(s, "t");
    atomic_store(&t.writers_left, TRUNC_WRITERS);
    for (int i = 0; i < TRUNC_WRITERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, trunc_writer, &t), 0);
    while (atomic_load(&t.writers_left) > 0) {
        int rc = journal_bounds(j, &b, &e);
        cr_assert_eq(rc, 0, "bounds: %s", journal_strerror(rc));
        rc = journal_truncate(j, e + (truncs % 2));
        cr_assert(rc == 0 || rc == JOURNAL_EBEYOND, "truncate to %llu: %s (%s)", (unsigned long long)(e + truncs % 2),
                  journal_strerror(rc), journal_store_errmsg(s));
        beyond += rc == JOURNAL_EBEYOND;
        truncs++;
    }
    for (int i = 0; i < TRUNC_WRITERS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t.rc[i], 0, "writer %d: %s", i, journal_strerror(t.rc[i]));
    }
    cr_log_info("%u truncations, %u beyond the end", truncs, beyond);
    cr_assert_eq(journal_bounds(j, &b, &e), 0);
    cr_assert_eq(e, (journal_pos)TRUNC_WRITERS * TRUNC_PER_WRITER);
    if (b < e)
        cr_assert_eq(journal_range(j, b, count_record, &n), 0);
    cr_assert_eq((journal_pos)n, e - b);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------ */

/* Notifications the admin session has received (after a round trip, so
 * that everything committed before is delivered). */
static int notifications(PGconn *pg)
{
    PGnotify *n;
    int count = 0;
    admin_exec(pg, "SELECT 1");
    cr_assert(PQconsumeInput(pg));
    while ((n = PQnotifies(pg)) != NULL) {
        count++;
        PQfreemem(n);
    }
    return count;
}

/* A waiter whose backend dies leaves nothing on the server that makes
 * later appends notify: the state that a waiter listens dies with its
 * session. */
Test(pg, a_waiter_killed_during_its_wait_leaves_nothing_behind, .timeout = 60)
{
    char *url, appname[64], sql[128];
    journal_store *s;
    pthread_t t;
    struct waiter w;
    PGconn *pg;
    int pid = 0, seen = 0;
    require_pg();
    snprintf(appname, sizeof appname, "jwait%ld", (long)getpid());
    cr_assert(asprintf(&url, "%s&application_name=%s", tu_store(), appname) > 0);
    s = tu_open_store(url, 0);
    w = (struct waiter){.j = tu_open_journal(s, "j"), .pos = 100, .timeout_ms = -1};
    pg = admin();
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", schema_of(url));
    admin_exec(pg, sql);

    /* With a live waiter, an append notifies. */
    cr_assert_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
    for (int tries = 0; tries < 2000 && (pid = listening_pid(pg, appname)) == 0; tries++)
        usleep(5000);
    cr_assert_neq(pid, 0, "the waiter never started listening");
    tu_append_str(w.j, 0, "r0");
    for (int tries = 0; tries < 200 && seen == 0; tries++) {
        seen = notifications(pg);
        if (!seen)
            usleep(5000);
    }
    cr_assert_gt(seen, 0, "an append with a waiter did not notify");

    /* The waiter's backend killed: the wait fails, and appends made after
     * it notify nobody. */
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    admin_exec(pg, sql);
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, -ECONNRESET, "wait: %s", journal_strerror(w.rc));
    for (int tries = 0; tries < 2000 && listening_pid(pg, appname) != 0; tries++)
        usleep(5000);
    notifications(pg);
    tu_append_str(w.j, 1, "r1");
    tu_append_str(w.j, 2, "r2");
    cr_assert_eq(notifications(pg), 0, "appends notify after the waiter died");
    PQfinish(pg);
    journal_close(w.j);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
}

/* Advisory locks held by the sessions named appname. */
static int advisory_locks(PGconn *pg, const char *appname)
{
    char sql[256];
    PGresult *r;
    int n;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
             "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = '%s'",
             appname);
    r = PQexec(pg, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

/* Many waiters of one store handle on one journal: those that time out
 * meanwhile do not stop the others from being woken by one append (no
 * lost wake-up, whoever is asleep at the append), and when the last one
 * returns no lock is left, so appends notify nobody. */
Test(pg, many_waiters_of_one_handle_all_wake_and_leave_nothing_behind, .timeout = 60)
{
    enum { N = 8 };
    char *url, appname[64], sql[128];
    journal_store *s;
    journal *j;
    pthread_t t[N];
    struct waiter w[N];
    PGconn *pg;
    int held = 0;
    require_pg();
    snprintf(appname, sizeof appname, "jmany%ld", (long)getpid());
    cr_assert(asprintf(&url, "%s&application_name=%s", tu_store(), appname) > 0);
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, "j");
    pg = admin();
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", schema_of(url));
    admin_exec(pg, sql);

    /* Half wait for position 0 (what the append brings), half for a
     * position that never comes, with a short timeout. */
    for (int i = 0; i < N; i++) {
        w[i] = (struct waiter){.j = j, .pos = i % 2 ? 10 : 0, .timeout_ms = i % 2 ? 300 : 20000};
        cr_assert_eq(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
    }
    for (int tries = 0; tries < 2000 && held == 0; tries++)
        if ((held = advisory_locks(pg, appname)) == 0)
            usleep(5000);
    cr_assert_gt(held, 0, "no waiter ever held its journal's lock");
    for (int i = 1; i < N; i += 2) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].rc, -ETIMEDOUT, "waiter %d: %s", i, journal_strerror(w[i].rc));
    }
    tu_append_str(j, 0, "r0");
    for (int i = 0; i < N; i += 2) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].rc, 0, "waiter %d: %s", i, journal_strerror(w[i].rc));
    }

    /* All returned: the locks go (the clean-up runs as the waits end),
     * and appends notify nobody. */
    for (int tries = 0; tries < 2000 && (held = advisory_locks(pg, appname)) != 0; tries++)
        usleep(5000);
    cr_assert_eq(held, 0, "%d advisory locks left after the waits", held);
    notifications(pg);
    tu_append_str(j, 1, "r1");
    tu_append_str(j, 2, "r2");
    cr_assert_eq(notifications(pg), 0, "appends notify after every waiter returned");
    PQfinish(pg);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
}

struct locker {
    PGconn *pg;
    int hold_ms;
};

static void *release_later(void *arg)
{
    struct locker *l = arg;
    usleep((useconds_t)l->hold_ms * 1000);
    admin_exec(l->pg, "ROLLBACK");
    return NULL;
}

/* With another session holding the lock that lock_fmt takes (formatted
 * with the store's schema) for 5 s, a wait with a 200 ms timeout returns
 * -ETIMEDOUT at its deadline, and the connection serves the next calls.
 * The bound of 2 s for 200 ms is correctness (the lock is held 5 s), not
 * speed. */
static void wait_times_out_while_locked(const char *lock_fmt)
{
    const char *url;
    journal_store *s;
    journal *j;
    struct locker l;
    pthread_t t;
    char sql[256];
    int64_t t0, took;
    int rc;
    require_pg();
    url = tu_store();
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, "j");
    tu_append_str(j, 0, "r0");
    l = (struct locker){.pg = admin(), .hold_ms = 5000};
    snprintf(sql, sizeof sql, lock_fmt, schema_of(url));
    admin_exec(l.pg, sql);
    cr_assert_eq(pthread_create(&t, NULL, release_later, &l), 0);
    t0 = now_ms();
    rc = journal_wait(j, 5, 200);
    took = now_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(rc, -ETIMEDOUT, "wait: %s", journal_strerror(rc));
    cr_assert_lt(took, 2000, "a 200 ms wait took %lld ms", (long long)took);
    cr_assert_eq(journal_wait(j, 0, 1000), 0);
    tu_append_str(j, 1, "r1");
    tu_assert_bounds(j, 0, 2);
    PQfinish(l.pg);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* While another session holds the journal's row locked (a long batch
 * append would), a wait with a timeout still returns at its deadline. */
Test(pg, a_wait_returns_at_its_timeout_while_the_row_is_locked, .timeout = 60)
{
    wait_times_out_while_locked("BEGIN; SELECT 1 FROM \"%s\".journals WHERE name = 'j'::bytea FOR UPDATE");
}

/* Every statement of a wait is bounded by its deadline, also one that
 * waits for a lock (here the whole journals table, locked by another
 * session): it is cancelled, the wait returns -ETIMEDOUT, and the
 * connection serves the next call. */
Test(pg, a_wait_returns_at_its_timeout_while_the_table_is_locked, .timeout = 60)
{
    wait_times_out_while_locked("BEGIN; LOCK TABLE \"%s\".journals IN ACCESS EXCLUSIVE MODE");
}

/* ------------------------------------------------------------------ */

static const char odd_name[] = "it's \xc3\xa9t\xc3\xa9 \xff\x01";

static void note_problem(void *arg, const char *name, const char *problem)
{
    (void)problem;
    if (name && strcmp(name, odd_name) == 0)
        ++*(int *)arg;
    else
        cr_log_info("problem in %s: %s", name ? name : "(store)", problem);
}

Test(pg, check_names_a_journal_by_its_own_bytes)
{
    const char *url;
    journal_store *s;
    journal *j;
    PGconn *pg;
    char sql[256];
    int found = 0;
    require_pg();
    url = tu_store();
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, odd_name);
    tu_append_str(j, 0, "r0");
    tu_append_str(j, 1, "r1");
    pg = admin();
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\".records WHERE pos = 0", schema_of(url));
    admin_exec(pg, sql);
    PQfinish(pg);
    cr_assert_eq(journal_store_check(s, note_problem, &found), JOURNAL_ECORRUPT);
    cr_assert_eq(found, 1, "the problem was not reported under the journal's name");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------ */

enum { SNAP_GETS = 20000, SNAP_REC = 100 };

/* Gets of one snapshot hold about the records' own bytes until renew, and
 * nothing more after it: measured by malloc's own count (so not under
 * ASan, whose allocator malloc's statistics do not see). */
Test(pg, snapshot_gets_hold_about_their_records_bytes, .timeout = 120)
{
#if TEST_PG_ASAN
    cr_skip_test("ASan's allocator is invisible to mallinfo2()");
#else
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    journal_record recs[100];
    char buf[SNAP_REC];
    struct mallinfo2 m0, m1, m2;
    double per_get;
    require_pg();
    s = tu_open_store(tu_store(), JOURNAL_NOSYNC);
    j = tu_open_journal(s, "j");
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 100; i++)
        recs[i] = (journal_record){buf, SNAP_REC};
    for (journal_pos p = 0; p < 1000; p += 100)
        cr_assert_eq(journal_append_batch(j, p, recs, 100), 0);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    m0 = mallinfo2();
    for (int i = 0; i < SNAP_GETS; i++) {
        const void *rec;
        size_t len;
        cr_assert_eq(journal_snapshot_get(snap, (journal_pos)(i % 1000), &rec, &len), 0);
        cr_assert_eq(len, SNAP_REC);
        cr_assert_eq(((const char *)rec)[SNAP_REC - 1], 'x');
    }
    m1 = mallinfo2();
    per_get = ((double)m1.uordblks - (double)m0.uordblks) / SNAP_GETS;
    cr_log_info("%.1f bytes held per get of a %d-byte record", per_get, SNAP_REC);
    cr_assert_lt(per_get, 2.0 * SNAP_REC, "%.1f bytes per get of %d bytes", per_get, SNAP_REC);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    m2 = mallinfo2();
    cr_assert_lt((double)m2.uordblks - (double)m0.uordblks, 256.0 * 1024, "renew kept %zu bytes",
                 m2.uordblks - m0.uordblks);
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
#endif
}

/* ------------------------------------------------------------------ */

/* Connection errors come from the server's SQLSTATE, not from words in a
 * message: a role or a database whose name reads like another error is
 * still that error. */
Test(pg, connection_errors_follow_the_sqlstate_not_the_words, .timeout = 60)
{
    static const struct {
        const char *param;
        int rc;
    } cases[] = {
        {"user=no_such_journal_role", -EACCES},          /* 28000 */
        {"user=timeout%20expired", -EACCES},             /* 28000 */
        {"dbname=Connection%20refused", -ENOENT},        /* 3D000 */
        {"dbname=too%20many%20clients%20role", -ENOENT}, /* 3D000 */
    };
    journal_store *s = NULL;
    char *url;
    int rc;
    require_pg();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert(asprintf(&url, "%s&%s", tu_store(), cases[i].param) > 0);
        rc = journal_store_open(url, NULL, &s);
        cr_assert_eq(rc, cases[i].rc, "%s: %s (%s), expected %s", url, journal_strerror(rc), journal_store_errmsg(NULL),
                     journal_strerror(cases[i].rc));
        cr_assert_null(s);
        free(url);
    }
}

/* ------------------------------------------------------------------ */

enum { POOL_BURST_N = 16 };

/* The pids of appname's sessions inside a transaction, in order. */
static char *snapshot_pids(PGconn *pg, const char *appname)
{
    char sql[256], *out;
    PGresult *r;
    snprintf(sql, sizeof sql,
             "SELECT count(*), string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
             "WHERE application_name = '%s' AND state = 'idle in transaction'",
             appname);
    r = PQexec(pg, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    cr_assert_eq(atoi(PQgetvalue(r, 0, 0)), POOL_BURST_N, "%s snapshots open", PQgetvalue(r, 0, 0));
    out = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    return out;
}

/* After 16 calls at once (snapshots here, each on a connection of its
 * own), the pool keeps the 16 connections for the next burst instead of
 * closing all but 8: the second burst runs on the same sessions. */
Test(pg, the_pool_keeps_as_many_connections_as_ran_at_once, .timeout = 60)
{
    char *url, appname[64], *pids[2];
    journal_store *s;
    journal *j;
    journal_snapshot *snap[POOL_BURST_N];
    PGconn *pg;
    require_pg();
    snprintf(appname, sizeof appname, "jpool%ld", (long)getpid());
    cr_assert(asprintf(&url, "%s&application_name=%s", tu_store(), appname) > 0);
    s = tu_open_store(url, 0);
    j = tu_open_journal(s, "j");
    tu_append_str(j, 0, "r0");
    pg = admin();
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < POOL_BURST_N; i++)
            cr_assert_eq(journal_snapshot_begin(j, &snap[i]), 0);
        pids[round] = snapshot_pids(pg, appname);
        for (int i = 0; i < POOL_BURST_N; i++)
            journal_snapshot_end(snap[i]);
    }
    cr_assert_str_eq(pids[1], pids[0], "the second burst needed new connections");
    free(pids[0]);
    free(pids[1]);
    PQfinish(pg);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    free(url);
}
