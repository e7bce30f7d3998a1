/*
 * store.c - the LMDB backend: opening and checking the environment,
 * closing it, and the backend's entry (journal__lmdb_backend) with the
 * operations on its handles.
 */
#define _GNU_SOURCE /* asprintf() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lmdb_int.h"

#define DEFAULT_MAP_SIZE ((uint64_t)1 << 30)
#define DEFAULT_READERS 4096

static const struct journal__ops lmdb_ops;

static int prepare_dir(const char *path, int rdonly, unsigned mode)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    if (errno != ENOENT || rdonly)
        return -errno;
    /* Directories need search permission wherever files are readable. */
    if (mkdir(path, (mode | (mode & 0444) >> 2) & 0777) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/*
 * LMDB takes an empty data file for a new environment and writes into it.
 * An empty data.mdb in a store that exists is damage, not a new store; but
 * a data file another process is creating right now is empty for a moment,
 * so look again before calling it damaged.
 */
static int check_datafile(const char *datafile)
{
    struct stat st;
    for (int i = 0; i < 20; i++) {
        if (stat(datafile, &st) != 0)
            return errno == ENOENT ? 0 : -errno;
        if (st.st_size > 0)
            return 0;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return JOURNAL_ECORRUPT;
}

/* A data file shorter than the pages its last commit refers to was
 * truncated: reading those pages through the map would raise SIGBUS. */
static int check_length(struct lmdb_store *ls)
{
    MDB_envinfo info;
    MDB_stat est;
    struct stat st;
    mdb_env_info(ls->env, &info);
    mdb_env_stat(ls->env, &est);
    ls->psize = est.ms_psize;
    if (stat(ls->datafile, &st) != 0)
        return -errno;
    if ((uint64_t)st.st_size < (info.me_last_pgno + 1) * (uint64_t)est.ms_psize)
        return JOURNAL_ECORRUPT;
    return 0;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}
/* The store's own locks: the map gate, the snapshot pool, group commit. */
static void locks_init(struct lmdb_store *ls)
{
    pthread_mutex_init(&ls->gate_mu, NULL);
    pthread_cond_init(&ls->gate_cv, NULL);
    pthread_mutex_init(&ls->pool_mu, NULL);
    pthread_mutex_init(&ls->gc_mu, NULL);
    pthread_cond_init(&ls->gc_cv, NULL);
}

static void locks_destroy(struct lmdb_store *ls)
{
    pthread_cond_destroy(&ls->gc_cv);
    pthread_mutex_destroy(&ls->gc_mu);
    pthread_mutex_destroy(&ls->pool_mu);
    pthread_cond_destroy(&ls->gate_cv);
    pthread_mutex_destroy(&ls->gate_mu);
}

static int lmdb_open(const char *path, const journal_options *opts, journal_store **out)
{
    int rdonly = !!(opts->flags & JOURNAL_RDONLY);
    unsigned mode = opts->mode ? opts->mode : 0644;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), map;
    unsigned env_flags = MDB_NOTLS;
    struct lmdb_store *ls;
    int rc;

    if ((rc = journal__lmdb_txn_cache_init()) != 0)
        return rc;
    ls = calloc(1, sizeof *ls);
    if (!ls)
        return -ENOMEM;
    rc = journal__store_init(&ls->base, &lmdb_ops, path, opts->flags);
    if (rc != 0)
        goto out_free;
    if (asprintf(&ls->datafile, "%s/data.mdb", path) < 0) {
        ls->datafile = NULL;
        rc = -ENOMEM;
        goto out_fini;
    }
    locks_init(ls);
    ls->gc_tail = &ls->gc_head;
    journal__lmdb_waiters_init(ls);

    if ((rc = prepare_dir(path, rdonly, mode)) != 0 || (rc = check_datafile(ls->datafile)) != 0)
        goto out_mutex;

    ls->max_map = opts->max_size / page * page;
    map = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    if (map < JOURNAL__MIN_SIZE)
        map = JOURNAL__MIN_SIZE;
    if (ls->max_map && map > ls->max_map)
        map = ls->max_map;
    map = round_up(map, page);

    rc = mdb_env_create(&ls->env);
    if (rc != 0)
        goto out_mutex;
    if (rdonly)
        env_flags |= MDB_RDONLY;
    /* The meta pages are checked after a machine restart's recovery, which
     * may rewrite them (steady.c), and before LMDB reads them. */
    if ((rc = journal__lmdb_steady_preopen(ls, path, opts, mode, &env_flags)) != 0 ||
        (rc = journal__lmdb_check_metas(ls->datafile)) != 0)
        goto out_env;
    if ((rc = mdb_env_set_maxdbs(ls->env, 3)) != 0 ||
        (rc = mdb_env_set_maxreaders(ls->env, opts->max_readers ? opts->max_readers : DEFAULT_READERS)) != 0 ||
        (rc = mdb_env_set_mapsize(ls->env, map)) != 0 || (rc = mdb_env_open(ls->env, path, env_flags, mode)) != 0)
        goto out_env;
    /* The store is checked before the first steady point, which writes:
     * a store that is refused stays as it was. */
    if ((rc = check_length(ls)) != 0 || (rc = journal__lmdb_open_dbs(ls, rdonly)) != 0 ||
        (rc = journal__lmdb_steady_postopen(ls)) != 0 || (rc = journal__lmdb_steady_reader_check(ls, NULL)) != 0)
        goto out_env;
    *out = &ls->base;
    return 0;

out_env:
    journal__lmdb_steady_close(ls, 0, 1);
    mdb_env_close(ls->env);
out_mutex:
    journal__lmdb_waiters_fini(ls, 0);
    locks_destroy(ls);
    free(ls->datafile);
out_fini:
    journal__store_fini(&ls->base);
out_free:
    free(ls);
    return journal__from_mdb(rc);
}

static void lmdb_store_close(journal_store *s)
{
    struct lmdb_store *ls = lmdb_store_of(s);
    int forked = journal__forked(s);

    journal__lmdb_txn_cache_release(ls, forked);
    journal__lmdb_waiters_fini(ls, forked);
    if (forked) {
        /* The environment, its locks and reader slots are the parent's:
         * closing them here would release the parent's slots. */
        for (unsigned i = 0; i < ls->npool; i++)
            journal__lmdb_keep_forked(ls->pool[i]);
        journal__lmdb_steady_close(ls, 1, 0);
        journal__lmdb_keep_forked(ls->env);
    } else {
        for (unsigned i = 0; i < ls->npool; i++)
            mdb_txn_abort(ls->pool[i]);
        journal__lmdb_steady_close(ls, 0, 0);
        mdb_env_close(ls->env);
        locks_destroy(ls);
    }
    free(ls->datafile);
    journal__store_fini(s);
    free(ls);
}

/* LMDB's failures have no message beyond their codes. */
static const char *lmdb_errmsg(const journal_store *s)
{
    (void)s;
    return "";
}

static const char *lmdb_open_errmsg(void)
{
    return "";
}

static int lmdb_claims(const char *path)
{
    (void)path;
    return 1; /* a directory: whatever no other backend claimed */
}

static const struct journal__ops lmdb_ops = {
    .name = "lmdb",
    .store_close = lmdb_store_close,
    .store_sync = journal__lmdb_store_sync,
    .store_list = journal__lmdb_store_list,
    .store_copy = journal__lmdb_store_copy,
    .store_stat = journal__lmdb_store_stat,
    .store_check = journal__lmdb_store_check,
    .errmsg = lmdb_errmsg,
    .open = journal__lmdb_jopen,
    .close = journal__lmdb_jclose,
    .bounds = journal__lmdb_bounds,
    .get = journal__lmdb_get,
    .range = journal__lmdb_range,
    .append = journal__lmdb_append,
    .truncate = journal__lmdb_truncate,
    .wait = journal__lmdb_wait,
    .snap_begin = journal__lmdb_snap_begin,
    .snap_bounds = journal__lmdb_snap_bounds,
    .snap_get = journal__lmdb_snap_get,
    .snap_range = journal__lmdb_snap_range,
    .snap_renew = journal__lmdb_snap_renew,
    .snap_end = journal__lmdb_snap_end,
};

const struct journal__backend journal__lmdb_backend = {
    .name = "lmdb",
    .claims = lmdb_claims,
    .open = lmdb_open,
    .open_errmsg = lmdb_open_errmsg,
};
