/*
 * crashimg_driver.c - the workload of the crash-image harness, run by
 * tests/test_crashimg.c under tests/crashimg_shim.c.
 *
 *   crashimg_driver STORE MODE N SEED
 *
 * Appends N records to journal "a" of STORE, one call at a time with now
 * and then a batch of 2 to 4, record pos being crashimg_record(SEED, pos),
 * and calls journal_store_sync() every 25 appends. MODE:
 *   durable   a default store: every acknowledged append must survive;
 *   nosync    a JOURNAL_NOSYNC store;
 *   raw       the store is created by the library, then the appends are
 *             made by plain LMDB calls on an environment opened with
 *             MDB_NOSYNC (the format is the library's: catalog value
 *             id|begin|end, record key id|pos, all big-endian), with
 *             mdb_env_sync() for the syncs. LMDB documents that a system
 *             crash can then corrupt the database: the harness must see it.
 * It logs marks through the shim's crashimg_mark() (see crashimg.h), in
 * order with the I/O. Exits 0 when done, 1 on any failure (message on
 * stderr), 2 on bad usage.
 */
#include <dlfcn.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashimg.h"
#include "journal.h"

#define SYNC_EVERY 25

static void (*mark_fn)(uint32_t, uint64_t);

static void mark(uint32_t kind, uint64_t v)
{
    if (mark_fn)
        mark_fn(kind, v);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "crashimg_driver: %s: %d\n", what, rc);
    return 1;
}

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* One append of n records at end through plain LMDB. */
static int raw_append(MDB_env *env, MDB_dbi cat, MDB_dbi recs, uint64_t seed, uint64_t end, unsigned n,
                      unsigned char *buf)
{
    unsigned char key[16], val[24];
    MDB_val k = {1, "a"}, v;
    MDB_txn *txn;
    uint64_t id;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_get(txn, cat, &k, &v)) != 0 || v.mv_size != 24)
        goto abort;
    id = get_be64(v.mv_data);
    if (get_be64((unsigned char *)v.mv_data + 16) != end) {
        rc = -1;
        goto abort;
    }
    for (unsigned i = 0; i < n; i++) {
        MDB_val rk = {16, key}, rv;
        be64(key, id);
        be64(key + 8, end + i);
        rv.mv_size = crashimg_record(seed, end + i, buf);
        rv.mv_data = buf;
        if ((rc = mdb_put(txn, recs, &rk, &rv, 0)) != 0)
            goto abort;
    }
    memcpy(val, v.mv_data, 16);
    be64(val + 16, end + n);
    v.mv_size = 24, v.mv_data = val;
    if ((rc = mdb_put(txn, cat, &k, &v, 0)) != 0)
        goto abort;
    return mdb_txn_commit(txn);
abort:
    mdb_txn_abort(txn);
    return rc;
}

int main(int argc, char **argv)
{
    static unsigned char bufs[4][CRASHIMG_LEN_MAX];
    journal_options o = {0};
    journal_store *s;
    journal *j;
    MDB_env *env = NULL;
    MDB_dbi cat = 0, recs = 0;
    uint64_t n, seed, x, end = 0;
    int raw, rc;

    if (argc != 5)
        return 2;
    raw = strcmp(argv[2], "raw") == 0;
    if (strcmp(argv[2], "nosync") == 0) {
        o.flags = JOURNAL_NOSYNC;
        o.sync_interval_ms = 2; /* steady points of the library's own, between the syncs */
    } else if (!raw && strcmp(argv[2], "durable") != 0)
        return 2;
    n = strtoull(argv[3], NULL, 10);
    seed = x = strtoull(argv[4], NULL, 10);
    *(void **)&mark_fn = dlsym(RTLD_DEFAULT, "crashimg_mark");

    o.map_size = 64 << 20;
    if ((rc = journal_store_open(argv[1], &o, &s)) != 0)
        return fail("open", rc);
    if ((rc = journal_open(s, "a", &j)) != 0)
        return fail("journal_open", rc);
    if ((rc = journal_store_sync(s)) != 0)
        return fail("sync", rc);
    mark(CRASHIMG_MARK_READY, 0);
    if (raw) {
        MDB_txn *txn;
        journal_close(j);
        journal_store_close(s);
        if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 3)) != 0 ||
            (rc = mdb_env_set_mapsize(env, o.map_size)) != 0 ||
            (rc = mdb_env_open(env, argv[1], MDB_NOSYNC | MDB_NOTLS, 0644)) != 0)
            return fail("mdb_env_open", rc);
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 || (rc = mdb_dbi_open(txn, "catalog", 0, &cat)) != 0 ||
            (rc = mdb_dbi_open(txn, "records", 0, &recs)) != 0 || (rc = mdb_txn_commit(txn)) != 0)
            return fail("mdb_dbi_open", rc);
    }

    for (uint64_t done = 0; done < n;) {
        unsigned k = 1;
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        if ((x >> 33) % 8 == 0)
            k = 2 + (unsigned)((x >> 40) % 3);
        mark(CRASHIMG_MARK_ATTEMPT, end + k);
        if (raw) {
            rc = raw_append(env, cat, recs, seed, end, k, bufs[0]);
        } else {
            journal_record r[4];
            for (unsigned i = 0; i < k; i++) {
                r[i].len = crashimg_record(seed, end + i, bufs[i]);
                r[i].data = bufs[i];
            }
            rc = k == 1 ? journal_append(j, end, r[0].data, r[0].len) : journal_append_batch(j, end, r, k);
        }
        if (rc != 0)
            return fail("append", rc);
        end += k;
        done += k;
        mark(CRASHIMG_MARK_ACK, end);
        if (done % SYNC_EVERY < k) {
            rc = raw ? mdb_env_sync(env, 1) : journal_store_sync(s);
            if (rc != 0)
                return fail("sync", rc);
            mark(CRASHIMG_MARK_SYNCED, end);
        }
    }
    if (raw) {
        mdb_env_close(env);
        return 0;
    }
    journal_close(j);
    journal_store_close(s);
    return 0;
}
