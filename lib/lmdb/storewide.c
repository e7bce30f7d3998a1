/*
 * storewide.c - the LMDB backend's calls on a whole store: sync, list,
 * copy and stat (check is in check.c).
 */
#define _GNU_SOURCE /* asprintf() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdb_int.h"

int journal__lmdb_store_sync(journal_store *s)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    int done, rc = journal__lmdb_steady_sync(ls, &done);
    if (done)
        return rc;
    return journal__from_mdb(mdb_env_sync(ls->env, 1));
}

/* A callback's result: JOURNAL_STOP (or any positive value) ends the walk
 * without error, a negative value is returned as it is. */
static int callback_result(int rc)
{
    return rc > 0 ? 0 : rc;
}

int journal__lmdb_store_list(journal_store *s, journal_list_fn fn, void *arg)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    char name[JOURNAL__NAME_MAX + 1];
    struct lmdb_view view;
    const char *lo, *hi;
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val k, v;
    int fn_rc = 0, rc = journal__lmdb_read_begin_view(ls, &txn, &view), op = MDB_FIRST;

    if (rc != 0)
        return rc;
    if (view.fd >= 0 && (rc = journal__lmdb_verify(&view, JOURNAL__LMDB_DB_CATALOG, NULL, 0, NULL, 0)) != 0)
        goto out;
    journal__lmdb_data_bounds(ls, txn, &lo, &hi);
    rc = mdb_cursor_open(txn, ls->catalog, &cur);
    if (rc != 0)
        goto out;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
        const unsigned char *p = v.mv_data;
        op = MDB_NEXT;
        if (k.mv_size == 0 || k.mv_size > JOURNAL__NAME_MAX || v.mv_size != JOURNAL__CATALOG_ENTRY_SIZE ||
            !journal__lmdb_val_inside(&k, lo, hi) || !journal__lmdb_val_inside(&v, lo, hi)) {
            rc = JOURNAL_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        rc = fn(arg, name, journal__get_be64(p + 8), journal__get_be64(p + 16));
        if (rc != 0) {
            fn_rc = callback_result(rc);
            rc = 0;
            break;
        }
    }
    mdb_cursor_close(cur);
out:
    journal__lmdb_read_end(ls, txn);
    if (fn_rc != 0)
        return fn_rc; /* the callback's own code, not to be translated */
    return rc == MDB_NOTFOUND ? 0 : journal__from_mdb(rc);
}

/* dest must be new or an empty directory. *created tells whether we made
 * it, so that a failed copy removes only what it made. */
static int prepare_copy_dest(const char *dest, int *created)
{
    struct dirent *e;
    DIR *d;
    int rc = 0;
    *created = 0;
    if (mkdir(dest, 0755) == 0) {
        *created = 1;
        return 0;
    }
    if (errno != EEXIST)
        return -errno;
    d = opendir(dest);
    if (!d)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rc = -EEXIST;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

int journal__lmdb_store_copy(journal_store *s, const char *dest, unsigned flags)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    char *file = NULL;
    int created, rc = prepare_copy_dest(dest, &created);

    if (rc != 0)
        return rc;
    if (asprintf(&file, "%s/data.mdb", dest) < 0) {
        file = NULL;
        rc = -ENOMEM;
        goto out;
    }
    journal__lmdb_gate_enter(ls);
    rc = mdb_env_copy2(ls->env, dest, (flags & JOURNAL_COPY_COMPACT) ? MDB_CP_COMPACT : 0);
    journal__lmdb_gate_leave(ls);
    /* LMDB writes the copy without syncing it: a backup must be durable
     * when the call returns. */
    if (rc == 0)
        rc = sync_path(file, O_RDONLY);
    if (rc == 0)
        rc = sync_path(dest, O_RDONLY | O_DIRECTORY);
out:
    if (rc != 0 && file) {
        unlink(file);
        if (created)
            rmdir(dest);
    }
    free(file);
    return journal__from_mdb(rc);
}

static int count_reader(const char *msg, void *ctx)
{
    /* mdb_reader_list() prints a header line, then one line per slot in
     * use: "   PID  THREAD  TXNID" (TXNID "-" for a reset transaction). */
    if (msg[0] == ' ' && strstr(msg, "pid") == NULL)
        ++*(unsigned *)ctx;
    else if (msg[0] != ' ' && msg[0] != '(')
        ++*(unsigned *)ctx;
    return 0;
}

int journal__lmdb_store_stat(journal_store *s, journal_stat *st)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    MDB_envinfo info;
    MDB_stat ms;
    struct stat fst;
    struct lmdb_view view;
    MDB_txn *txn;
    int rc = journal__lmdb_read_begin_view(ls, &txn, &view);

    if (rc != 0)
        return rc;
    /* mdb_stat() reads the records of the databases in the main one; the
     * format record is in the meta one. */
    if (view.fd >= 0 && (rc = journal__lmdb_verify(&view, JOURNAL__LMDB_DB_META, NULL, 0, NULL, 0)) != 0)
        goto out;
    mdb_env_info(ls->env, &info);
    st->page_size = ls->psize;
    st->map_size = info.me_mapsize;
    st->used_size = (info.me_last_pgno + 1) * (uint64_t)ls->psize;
    st->max_readers = info.me_maxreaders;
    if (stat(ls->datafile, &fst) == 0)
        st->file_size = (uint64_t)fst.st_size;
    if ((rc = journal__lmdb_read_format(ls, txn, &st->format_version)) != 0)
        goto out;
    if ((rc = mdb_stat(txn, ls->catalog, &ms)) != 0)
        goto out;
    st->journals = ms.ms_entries;
    if ((rc = mdb_stat(txn, ls->records, &ms)) != 0)
        goto out;
    st->records = ms.ms_entries;
    mdb_reader_list(ls->env, count_reader, &st->readers_used);
out:
    journal__lmdb_read_end(ls, txn);
    return journal__from_mdb(rc);
}
