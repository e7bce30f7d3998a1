/*
 * fuzz_store.c - property: no data file, however damaged, crashes, aborts
 * or hangs journal_store_open(), journal_store_check() or the reads of a
 * store opened with JOURNAL_VERIFY, and none of them changes the file.
 *
 * A libFuzzer target (`make fuzz`, `make fuzz-run`). Each input is a
 * data.mdb: it is written into a store directory, which is opened with
 * JOURNAL_RDONLY | JOURNAL_VERIFY; then the check, the list, and for each
 * listed journal (and the journals "a" and "b", listed or not) the bounds,
 * a get, a range, and a snapshot with its get and range. Every call must
 * return 0 or a documented code, and the file must be unchanged after;
 * anything else traps (__builtin_trap), leaving the input as a crash
 * artifact. The seed corpus (made by `make fuzz-run`) is a small store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define FS_CHECK(cond)                                                                                                 \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_store: %s:%d: %s\n", __FILE__, __LINE__, #cond);                                     \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

#define FS_OK(rc) ((rc) == 0 || (rc) == JOURNAL_ECORRUPT)

static char fs_dir[4096], fs_file[4200], fs_lock[4200];
static unsigned char *fs_back;
static size_t fs_back_cap;

static void fs_cleanup(void)
{
    unlink(fs_file);
    unlink(fs_lock);
    rmdir(fs_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    (void)argc;
    (void)argv;
    snprintf(fs_dir, sizeof fs_dir, "%s/fuzz_store-XXXXXX", base && *base ? base : "/tmp");
    FS_CHECK(mkdtemp(fs_dir) != NULL);
    snprintf(fs_file, sizeof fs_file, "%s/data.mdb", fs_dir);
    snprintf(fs_lock, sizeof fs_lock, "%s/lock.mdb", fs_dir);
    atexit(fs_cleanup);
    return 0;
}

static int fs_touch(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const unsigned char *p = rec;
    (void)pos;
    for (size_t i = 0; i < len; i++)
        *(unsigned *)arg += p[i];
    return *(unsigned *)arg % 97 == 0 ? JOURNAL_STOP : 0;
}

static void fs_problem(void *arg, const char *journal, const char *problem)
{
    *(size_t *)arg += strlen(problem) + (journal ? strlen(journal) : 0);
}

struct fs_names {
    size_t n;
    char name[16][256];
};

static int fs_list(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct fs_names *l = arg;
    (void)begin, (void)end;
    if (l->n < 16)
        snprintf(l->name[l->n++], sizeof l->name[0], "%s", name);
    return 0;
}

static void fs_read(journal_store *s, const char *name)
{
    journal_snapshot *snap;
    journal_pos begin, end;
    const void *crec;
    unsigned sum = 0;
    journal *j;
    size_t len;
    void *rec;
    int rc = journal_open(s, name, &j);

    FS_CHECK(FS_OK(rc) || rc == -ENOENT);
    if (rc != 0)
        return;
    rc = journal_bounds(j, &begin, &end);
    FS_CHECK(FS_OK(rc));
    if (rc == 0 && begin < end) {
        /* get reads the record alone: one missing inside the bounds is
         * "not found" to it. */
        rc = journal_get(j, end - 1, &rec, &len);
        FS_CHECK(FS_OK(rc) || rc == JOURNAL_ENOTFOUND);
        if (rc == 0) {
            fs_touch(&sum, 0, rec, len);
            free(rec);
        }
        FS_CHECK(FS_OK(journal_range(j, begin, fs_touch, &sum)));
    }
    rc = journal_snapshot_begin(j, &snap);
    FS_CHECK(FS_OK(rc));
    if (rc == 0) {
        FS_CHECK(journal_snapshot_bounds(snap, &begin, &end) == 0);
        if (begin < end) {
            rc = journal_snapshot_get(snap, begin, &crec, &len);
            FS_CHECK(FS_OK(rc));
            if (rc == 0)
                fs_touch(&sum, 0, crec, len);
            FS_CHECK(FS_OK(journal_snapshot_range(snap, begin, fs_touch, &sum)));
        }
        journal_snapshot_end(snap);
    }
    journal_close(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    journal_options o = {.flags = JOURNAL_RDONLY | JOURNAL_VERIFY, .map_size = 1 << 20};
    struct fs_names l = {0};
    journal_store *s;
    size_t chars = 0, got = 0;
    ssize_t n;
    int rc, fd;

    /* A fresh lock file each time: the input is only the data file. */
    unlink(fs_lock);
    fd = open(fs_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FS_CHECK(fd >= 0);
    FS_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);

    rc = journal_store_open(fs_dir, &o, &s);
    FS_CHECK(FS_OK(rc) || rc == JOURNAL_EVERSION || rc == -ENOENT);
    if (rc == 0) {
        FS_CHECK(FS_OK(journal_store_check(s, fs_problem, &chars)));
        FS_CHECK(FS_OK(journal_store_list(s, fs_list, &l)));
        for (size_t i = 0; i < l.n; i++)
            fs_read(s, l.name[i]);
        fs_read(s, "a");
        fs_read(s, "b");
        FS_CHECK(journal_store_close(s) == 0);
    }

    /* Byte for byte what was written. */
    if (fs_back_cap < size + 1) {
        free(fs_back);
        fs_back_cap = size + 1;
        fs_back = malloc(fs_back_cap);
        FS_CHECK(fs_back != NULL);
    }
    fd = open(fs_file, O_RDONLY);
    FS_CHECK(fd >= 0);
    while ((n = read(fd, fs_back + got, fs_back_cap - got)) > 0)
        got += (size_t)n;
    close(fd);
    FS_CHECK(got == size && (size == 0 || memcmp(fs_back, data, size) == 0));
    return 0;
}
