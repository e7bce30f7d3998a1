/*
 * test_hostile.c - journal_store_open() on paths and files that are not a
 * good store: each gives its documented error, and a failed open changes
 * no file that existed before the call.
 *
 * "Unchanged" is checked byte for byte on every file of the store
 * directory except lock.mdb, which LMDB's locking creates and writes on any
 * open (its reader table and lock words): it holds no data, and the
 * contract's promise is about the store's files, so it is left out of the
 * comparison.
 *
 * Permission cases need a process that permission bits apply to. The tests
 * run as root, which bypasses them, so those cases open the store in a
 * forked child that first drops to uid/gid 65534 (nobody); when the tests
 * do not run as root, the child opens as the current user.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define HOSTILE_UID 65534
#define HOSTILE_MAX_FILES 8

TestSuite(hostile, .init = tu_setup, .fini = tu_teardown);

/* One regular file of a directory: its name and an FNV-1a hash of its
 * bytes, with its size. */
struct hostile_file {
    char name[64];
    uint64_t hash;
    off_t size;
};

struct hostile_dir {
    size_t n;
    struct hostile_file f[HOSTILE_MAX_FILES];
};

static void hostile_hash(const char *path, struct hostile_file *f)
{
    unsigned char buf[65536];
    uint64_t h = 14695981039346656037ULL;
    ssize_t got;
    int fd = open(path, O_RDONLY);

    cr_assert(fd >= 0, "open(%s): %s", path, strerror(errno));
    f->size = 0;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        f->size += got;
    }
    cr_assert_eq(got, 0, "read(%s): %s", path, strerror(errno));
    close(fd);
    f->hash = h;
}

/* Every file of dir but lock.mdb (see the top of this file). */
static void hostile_scan(const char *dir, struct hostile_dir *d)
{
    DIR *dp = opendir(dir);
    struct dirent *e;

    cr_assert_not_null(dp, "opendir(%s): %s", dir, strerror(errno));
    d->n = 0;
    while ((e = readdir(dp)) != NULL) {
        char path[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "lock.mdb") == 0)
            continue;
        cr_assert_lt(d->n, HOSTILE_MAX_FILES);
        cr_assert_lt(strlen(e->d_name), sizeof d->f[0].name);
        strcpy(d->f[d->n].name, e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hostile_hash(path, &d->f[d->n++]);
    }
    closedir(dp);
}

static void hostile_assert_unchanged(const char *dir, const struct hostile_dir *before)
{
    struct hostile_dir after;

    hostile_scan(dir, &after);
    cr_assert_eq(after.n, before->n, "%s: %zu files before the open, %zu after", dir, before->n, after.n);
    for (size_t i = 0; i < before->n; i++) {
        size_t k = 0;
        while (k < after.n && strcmp(after.f[k].name, before->f[i].name) != 0)
            k++;
        cr_assert_lt(k, after.n, "%s/%s disappeared", dir, before->f[i].name);
        cr_assert_eq(after.f[k].size, before->f[i].size, "%s/%s changed size", dir, before->f[i].name);
        cr_assert_eq(after.f[k].hash, before->f[i].hash, "%s/%s changed", dir, before->f[i].name);
    }
}

/* Opens path, expecting the failure want, and checks that the directory's
 * files did not change. */
static void hostile_open_fails(const char *path, unsigned flags, int want)
{
    journal_options o = {0};
    journal_store *s = NULL;
    struct hostile_dir before;
    int rc;

    hostile_scan(path, &before);
    o.flags = flags;
    rc = journal_store_open(path, &o, &s);
    cr_assert_eq(rc, want, "journal_store_open(%s) = %d (%s), want %d (%s)", path, rc, journal_strerror(rc), want,
                 journal_strerror(want));
    cr_assert_null(s);
    hostile_assert_unchanged(path, &before);
}

static void hostile_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "open(%s): %s", path, strerror(errno));
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    cr_assert_eq(close(fd), 0);
}

static const char *hostile_file_in(const char *dir, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* A store with `n` records of 2000 bytes in journal "j". */
static void hostile_make_store(const char *path, unsigned n)
{
    journal_store *s = tu_open_store(path, JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "j");
    static unsigned char rec[2000];

    for (unsigned i = 0; i < n; i++) {
        memset(rec, (int)i, sizeof rec);
        cr_assert_eq(journal_append(j, i, rec, sizeof rec), 0);
    }
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

/* Opens path in a child process running as HOSTILE_UID (when root) and
 * returns what journal_store_open() returned there. */
static int hostile_open_unprivileged(const char *path, unsigned flags)
{
    int fds[2], rc = 0, status;
    pid_t pid;

    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        journal_options o = {0};
        journal_store *s = NULL;
        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(HOSTILE_UID) != 0 || setuid(HOSTILE_UID) != 0))
            _exit(3);
        o.flags = flags;
        rc = journal_store_open(path, &o, &s);
        journal_store_close(s);
        _exit(write(fds[1], &rc, sizeof rc) == sizeof rc ? 0 : 4);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &rc, sizeof rc), (ssize_t)sizeof rc, "the unprivileged child reported nothing");
    close(fds[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    return rc;
}

/* The unprivileged child must be able to reach the test's directory. */
static void hostile_open_up_test_dir(void)
{
    cr_assert_eq(chmod(tu_dir(), 0755), 0, "chmod(%s): %s", tu_dir(), strerror(errno));
}

Test(hostile, a_regular_file_as_the_store_is_not_a_directory)
{
    const char *path = tu_path("file");
    static const char text[] = "not a store\n";
    journal_store *s = NULL;
    struct hostile_file before, after;

    tu_require_lmdb();
    hostile_write_file(path, text, sizeof text - 1);
    hostile_hash(path, &before);
    cr_assert_eq(journal_store_open(path, NULL, &s), -ENOTDIR);
    cr_assert_null(s);
    cr_assert_eq(journal_store_open(path, &(journal_options){.flags = JOURNAL_RDONLY}, &s), -ENOTDIR);
    hostile_hash(path, &after);
    cr_assert_eq(after.size, before.size);
    cr_assert_eq(after.hash, before.hash);
}

Test(hostile, a_store_below_a_regular_file_is_not_a_directory)
{
    const char *file = tu_path("file");
    char path[4096];
    journal_store *s = NULL;

    tu_require_lmdb();
    hostile_write_file(file, "x", 1);
    snprintf(path, sizeof path, "%s/store", file);
    cr_assert_eq(journal_store_open(path, NULL, &s), -ENOTDIR);
    cr_assert_null(s);
}

Test(hostile, a_directory_without_permission_is_refused)
{
    const char *store = tu_store();
    struct hostile_dir before;

    tu_require_lmdb();
    hostile_open_up_test_dir();
    hostile_make_store(store, 3);
    hostile_scan(store, &before);
    cr_assert_eq(chmod(store, 0), 0);
    cr_assert_eq(hostile_open_unprivileged(store, 0), -EACCES);
    cr_assert_eq(hostile_open_unprivileged(store, JOURNAL_RDONLY), -EACCES);
    cr_assert_eq(chmod(store, 0755), 0);
    hostile_assert_unchanged(store, &before);
}

Test(hostile, a_new_store_in_a_directory_without_permission_is_refused)
{
    const char *parent = tu_path("locked");
    char store[4096];
    struct stat st;

    tu_require_lmdb();
    hostile_open_up_test_dir();
    cr_assert_eq(mkdir(parent, 0555), 0);
    snprintf(store, sizeof store, "%s/store", parent);
    cr_assert_eq(hostile_open_unprivileged(store, 0), -EACCES);
    cr_assert_eq(stat(store, &st), -1, "the refused open created %s", store);
}

Test(hostile, a_data_file_that_cannot_be_written_is_refused)
{
    const char *store = tu_store();
    struct hostile_dir before;

    tu_require_lmdb();
    hostile_open_up_test_dir();
    hostile_make_store(store, 3);
    /* The lock file stays writable, so that it is data.mdb that fails. As
     * root, data.mdb is root's 0644; otherwise take its write bits. */
    cr_assert_eq(chmod(hostile_file_in(store, "lock.mdb"), 0666), 0);
    if (geteuid() != 0)
        cr_assert_eq(chmod(hostile_file_in(store, "data.mdb"), 0444), 0);
    hostile_scan(store, &before);
    cr_assert_eq(hostile_open_unprivileged(store, 0), -EACCES);
    hostile_assert_unchanged(store, &before);
}

Test(hostile, a_lock_file_that_cannot_be_written_is_refused_even_read_only)
{
    const char *store = tu_store();
    struct hostile_dir before;

    tu_require_lmdb();
    hostile_open_up_test_dir();
    hostile_make_store(store, 3);
    if (geteuid() != 0)
        cr_assert_eq(chmod(hostile_file_in(store, "lock.mdb"), 0444), 0);
    hostile_scan(store, &before);
    cr_assert_eq(hostile_open_unprivileged(store, JOURNAL_RDONLY), -EACCES);
    hostile_assert_unchanged(store, &before);
}

Test(hostile, a_data_file_of_random_bytes_is_corrupt)
{
    const char *store = tu_store();
    uint64_t seed = tu_seed("JOURNAL_TEST_HOSTILE_SEED");
    static unsigned char junk[16384];

    tu_require_lmdb();
    for (size_t i = 0; i < sizeof junk; i += 8) {
        uint64_t r = tu_rand(&seed);
        memcpy(junk + i, &r, 8);
    }
    cr_assert_eq(mkdir(store, 0755), 0);
    hostile_write_file(hostile_file_in(store, "data.mdb"), junk, sizeof junk);
    hostile_open_fails(store, 0, JOURNAL_ECORRUPT);
    hostile_open_fails(store, JOURNAL_RDONLY, JOURNAL_ECORRUPT);
}

Test(hostile, a_zero_length_data_file_is_corrupt)
{
    const char *store = tu_store();

    tu_require_lmdb();
    cr_assert_eq(mkdir(store, 0755), 0);
    hostile_write_file(hostile_file_in(store, "data.mdb"), "", 0);
    hostile_open_fails(store, 0, JOURNAL_ECORRUPT);
    hostile_open_fails(store, JOURNAL_RDONLY, JOURNAL_ECORRUPT);
}

/* Cuts data.mdb of a store with records down to `keep` bytes (or to half
 * of the pages in use when keep is 0), then expects JOURNAL_ECORRUPT. */
static void hostile_truncated(off_t keep)
{
    const char *store = tu_store();
    journal_stat st;
    journal_store *s;

    tu_require_lmdb();
    hostile_make_store(store, 200);
    s = tu_open_store(store, 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(journal_store_close(s), 0);
    cr_assert_gt(st.used_size, 100 * 2000, "the store holds 200 records of 2000 bytes");
    if (keep == 0)
        keep = (off_t)(st.used_size / 2);
    cr_assert_eq(truncate(hostile_file_in(store, "data.mdb"), keep), 0);
    hostile_open_fails(store, 0, JOURNAL_ECORRUPT);
    hostile_open_fails(store, JOURNAL_RDONLY, JOURNAL_ECORRUPT);
}

Test(hostile, a_data_file_shorter_than_its_contents_is_corrupt)
{
    hostile_truncated(0);
}

Test(hostile, a_data_file_cut_inside_its_meta_pages_is_corrupt)
{
    hostile_truncated(100);
}

Test(hostile, a_data_file_with_only_its_meta_pages_is_corrupt)
{
    hostile_truncated(8192);
}

/* Writes key=val into database `db` (NULL: the main one) of the LMDB
 * environment in dir, with liblmdb directly. */
static void hostile_lmdb_put(const char *dir, const char *db, const char *key, const void *val, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, db, db ? 0 : MDB_CREATE, &dbi), 0, "no database '%s' in %s", db ? db : "", dir);
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

Test(hostile, an_lmdb_environment_of_another_program_is_corrupt)
{
    const char *store = tu_store();

    tu_require_lmdb();
    cr_assert_eq(mkdir(store, 0755), 0);
    hostile_lmdb_put(store, NULL, "hello", "world", 5);
    hostile_lmdb_put(store, NULL, "user:1", "{\"name\": \"x\"}", 13);
    hostile_open_fails(store, 0, JOURNAL_ECORRUPT);
    hostile_open_fails(store, JOURNAL_RDONLY, JOURNAL_ECORRUPT);
}

Test(hostile, an_unknown_format_version_is_refused)
{
    const char *store = tu_store();
    static const unsigned char v2[4] = {0, 0, 0, 2};

    tu_require_lmdb();
    hostile_make_store(store, 3);
    hostile_lmdb_put(store, "meta", "format", v2, sizeof v2);
    hostile_open_fails(store, 0, JOURNAL_EVERSION);
    hostile_open_fails(store, JOURNAL_RDONLY, JOURNAL_EVERSION);
}

Test(hostile, a_format_record_of_the_wrong_size_is_corrupt)
{
    const char *store = tu_store();
    static const unsigned char v1[3] = {0, 0, 1};

    tu_require_lmdb();
    hostile_make_store(store, 3);
    hostile_lmdb_put(store, "meta", "format", v1, sizeof v1);
    hostile_open_fails(store, 0, JOURNAL_ECORRUPT);
}

struct hostile_names {
    unsigned n;
    char prev[256];
};

static int hostile_list_one_byte_names(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct hostile_names *l = arg;
    if (strlen(name) != 1)
        return 0;
    cr_assert(l->n == 0 || strcmp(l->prev, name) < 0, "names out of byte order");
    cr_assert_eq((unsigned char)name[0], l->n + 1, "journal of byte %u missing", l->n + 1);
    cr_assert_eq(begin, 0);
    cr_assert_eq(end, 1);
    strcpy(l->prev, name);
    l->n++;
    return 0;
}

Test(hostile, a_name_with_every_byte_value_works)
{
    const char *store = tu_store();
    char name[256];
    journal_store *s;
    journal *j;
    void *rec;
    size_t len;

    tu_require_lmdb();
    for (int i = 0; i < 255; i++)
        name[i] = (char)(i + 1);
    name[255] = '\0';
    s = tu_open_store(store, 0);
    j = tu_open_journal(s, name);
    cr_assert_eq(memcmp(journal_name(j), name, 256), 0);
    cr_assert_eq(journal_append(j, 0, name, 255), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(store, JOURNAL_RDONLY);
    j = tu_open_journal(s, name);
    cr_assert_eq(journal_get(j, 0, &rec, &len), 0);
    cr_assert_eq(len, 255);
    cr_assert_eq(memcmp(rec, name, 255), 0);
    free(rec);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(hostile, every_one_byte_name_is_its_own_journal)
{
    const char *store = tu_store();
    struct hostile_names l = {0};
    journal_store *s;

    tu_require_lmdb();
    s = tu_open_store(store, JOURNAL_NOSYNC);
    for (int b = 1; b < 256; b++) {
        char name[2] = {(char)b, '\0'};
        journal *j = tu_open_journal(s, name);
        cr_assert_eq(journal_append(j, 0, name, 1), 0);
        cr_assert_eq(journal_close(j), 0);
    }
    cr_assert_eq(journal_store_close(s), 0);
    s = tu_open_store(store, JOURNAL_RDONLY);
    cr_assert_eq(journal_store_list(s, hostile_list_one_byte_names, &l), 0);
    cr_assert_eq(l.n, 255);
    for (int b = 1; b < 256; b++) {
        char name[2] = {(char)b, '\0'};
        journal *j = tu_open_journal(s, name);
        void *rec;
        size_t len;
        cr_assert_eq(journal_get(j, 0, &rec, &len), 0);
        cr_assert_eq(len, 1);
        cr_assert_eq(*(unsigned char *)rec, b);
        free(rec);
        cr_assert_eq(journal_close(j), 0);
    }
    cr_assert_eq(journal_store_close(s), 0);
}
