/*
 * lmdb.c - the floor: raw LMDB doing the least equivalent work, in the
 * library's own on-disk layout (lib/lmdb/format.h), so that a store it
 * writes opens as a journal store and journal/lmdb is the library's
 * overhead. One write transaction per append that reads the catalog entry,
 * checks the end, puts the records and the new end; reads in one reused
 * read transaction (mdb_txn_reset/renew).
 */
#include <inttypes.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "../../lib/lmdb/format.h"

/* The floor maps this much up front, so it never pays for growing the
 * map: the least work, which the library's growth is measured against. */
#define RAW_MAP_SIZE (64ull << 30)

/* Empty journals created per transaction by the floor's setup. */
#define RAW_CREATE_BATCH 10000

/* The named databases of the layout: meta, catalog, records. */
#define RAW_MAXDBS 3

struct raw_store {
    MDB_env *env;
    MDB_dbi meta, catalog, records;
};

struct raw_journal {
    MDB_txn *rtxn;     /* reset between reads, renewed by each */
    unsigned put_flag; /* MDB_APPEND when this journal's records sort last in the store */
};

static struct raw_store *rs_of(const struct bjournal *h)
{
    return h->st->priv;
}

static struct raw_journal *rj_of(const struct bjournal *h)
{
    return h->priv;
}

static int mdb_fail(const char *what, int rc)
{
    return fail("lmdb: %s: %s", what, mdb_strerror(rc));
}

static int entry_size_fail(void)
{
    return fail("lmdb: catalog entry is not %d bytes", JOURNAL__CATALOG_ENTRY_SIZE);
}

static int next_id_size_fail(void)
{
    return fail("lmdb: next_id is not %d bytes", JOURNAL__META_NEXT_ID_SIZE);
}

/* Reads the next id of the store in txn. */
static int raw_next_id(struct raw_store *rs, MDB_txn *txn, uint64_t *next)
{
    MDB_val ik = {JOURNAL__META_NEXT_ID_LEN, JOURNAL__META_NEXT_ID}, iv;
    int rc = mdb_get(txn, rs->meta, &ik, &iv);
    if (rc != 0 || iv.mv_size != JOURNAL__META_NEXT_ID_SIZE)
        return rc ? mdb_fail("mdb_get next_id", rc) : next_id_size_fail();
    *next = journal__get_be64(iv.mv_data);
    return 0;
}

static int raw_put_next_id(struct raw_store *rs, MDB_txn *txn, uint64_t next)
{
    unsigned char idb[JOURNAL__META_NEXT_ID_SIZE];
    MDB_val ik = {JOURNAL__META_NEXT_ID_LEN, JOURNAL__META_NEXT_ID}, iv = {sizeof idb, idb};
    journal__put_be64(idb, next);
    return mdb_put(txn, rs->meta, &ik, &iv, 0);
}

/* Creates the store as the library would: three named databases, the
 * format version and the next id. */
static int raw_store_open(struct bstore *st)
{
    unsigned flags = MDB_NOTLS;
    unsigned char ver[JOURNAL__META_FORMAT_SIZE];
    struct raw_store *rs = calloc(1, sizeof *rs);
    MDB_txn *txn = NULL;
    MDB_val k = {JOURNAL__META_FORMAT_LEN, JOURNAL__META_FORMAT}, v;
    int rc;

    if (!(st->priv = rs))
        return fail("out of memory");
    if (mkdir_store(st->path) != 0)
        return BENCH_FAIL;
    if (st->dur != DUR_SYNC)
        flags |= MDB_NOSYNC;
    if ((rc = mdb_env_create(&rs->env)) != 0) {
        rs->env = NULL;
        return mdb_fail("mdb_env_create", rc);
    }
    if ((rc = mdb_env_set_maxdbs(rs->env, RAW_MAXDBS)) != 0 || (rc = mdb_env_set_mapsize(rs->env, RAW_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(rs->env, st->path, flags, 0644)) != 0) {
        rc = mdb_fail(st->path, rc);
        goto out;
    }
    if ((rc = mdb_txn_begin(rs->env, NULL, 0, &txn)) != 0) {
        rc = mdb_fail("mdb_txn_begin", rc);
        goto out;
    }
    if ((rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, MDB_CREATE, &rs->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_CATALOG, MDB_CREATE, &rs->catalog)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_RECORDS, MDB_CREATE, &rs->records)) != 0) {
        rc = mdb_fail("mdb_dbi_open", rc);
        goto out_abort;
    }
    rc = mdb_get(txn, rs->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_val vv = {sizeof ver, ver};
        journal__format_put(ver, JOURNAL_FORMAT_VERSION);
        if ((rc = mdb_put(txn, rs->meta, &k, &vv, 0)) != 0 || (rc = raw_put_next_id(rs, txn, 1)) != 0) {
            rc = mdb_fail("mdb_put meta", rc);
            goto out_abort;
        }
    } else if (rc != 0) {
        rc = mdb_fail("mdb_get format", rc);
        goto out_abort;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        rc = mdb_fail("mdb_txn_commit", rc);
    goto out;
out_abort:
    mdb_txn_abort(txn);
out:
    return rc;
}

static int raw_store_close(struct bstore *st)
{
    struct raw_store *rs = st->priv;
    if (rs && rs->env)
        mdb_env_close(rs->env);
    free(rs);
    return 0;
}

/* The floor's journal_open(): find the catalog entry by name or create it
 * with the next id, in one write transaction. */
static int raw_journal_open(struct bjournal *h)
{
    struct raw_store *rs = rs_of(h);
    struct raw_journal *rj = calloc(1, sizeof *rj);
    MDB_txn *txn = NULL;
    MDB_val k = {h->namelen, h->name}, v;
    unsigned char ent[JOURNAL__CATALOG_ENTRY_SIZE];
    uint64_t next, begin;
    int rc;

    if (!(h->priv = rj))
        return fail("out of memory");
    if ((rc = mdb_txn_begin(rs->env, NULL, 0, &txn)) != 0)
        return mdb_fail("mdb_txn_begin", rc);
    if ((rc = raw_next_id(rs, txn, &next)) != 0)
        goto out_abort;
    rc = mdb_get(txn, rs->catalog, &k, &v);
    if (rc == MDB_NOTFOUND) {
        h->id = next++;
        h->end = 0;
        journal__catalog_entry_put(ent, h->id, 0, 0);
        v.mv_size = sizeof ent;
        v.mv_data = ent;
        if ((rc = mdb_put(txn, rs->catalog, &k, &v, MDB_NOOVERWRITE)) != 0 ||
            (rc = raw_put_next_id(rs, txn, next)) != 0) {
            rc = mdb_fail("mdb_put catalog", rc);
            goto out_abort;
        }
    } else if (rc != 0 || v.mv_size != JOURNAL__CATALOG_ENTRY_SIZE) {
        rc = rc ? mdb_fail("mdb_get catalog", rc) : entry_size_fail();
        goto out_abort;
    } else {
        journal__catalog_entry_get(v.mv_data, &h->id, &begin, &h->end);
    }
    rj->put_flag = h->id == next - 1 ? MDB_APPEND : MDB_NOOVERWRITE;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_fail("mdb_txn_commit", rc);
    if ((rc = mdb_txn_begin(rs->env, NULL, MDB_RDONLY, &rj->rtxn)) != 0) {
        rj->rtxn = NULL;
        return mdb_fail("mdb_txn_begin read", rc);
    }
    mdb_txn_reset(rj->rtxn);
    return 0;
out_abort:
    mdb_txn_abort(txn);
    return rc;
}

static void raw_journal_close(struct bjournal *h)
{
    struct raw_journal *rj = h->priv;
    if (rj && rj->rtxn)
        mdb_txn_abort(rj->rtxn);
    free(rj);
}

/* One write transaction as the library's append does it: read the catalog
 * entry, check the end, put the records, write the new end. */
static int raw_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    struct raw_store *rs = rs_of(h);
    MDB_txn *txn = NULL;
    MDB_val k = {h->namelen, h->name}, v, rk, rv;
    unsigned char ent[JOURNAL__CATALOG_ENTRY_SIZE], key[JOURNAL__RECORD_KEY_SIZE];
    uint64_t id, begin, end;
    int rc;

    if ((rc = mdb_txn_begin(rs->env, NULL, 0, &txn)) != 0)
        return mdb_fail("mdb_txn_begin", rc);
    if ((rc = mdb_get(txn, rs->catalog, &k, &v)) != 0 || v.mv_size != sizeof ent) {
        rc = rc ? mdb_fail("mdb_get catalog", rc) : entry_size_fail();
        goto out_abort;
    }
    journal__catalog_entry_get(v.mv_data, &id, &begin, &end);
    if (end != h->end) {
        h->end = end;
        rc = JOURNAL_ECONFLICT;
        goto out_abort;
    }
    rk.mv_size = sizeof key;
    rk.mv_data = key;
    for (size_t i = 0; i < n; i++) {
        journal__record_key(key, h->id, end + i);
        rv.mv_size = recs[i].len;
        rv.mv_data = (void *)recs[i].data;
        if ((rc = mdb_put(txn, rs->records, &rk, &rv, rj_of(h)->put_flag)) != 0) {
            rc = mdb_fail("mdb_put record", rc);
            goto out_abort;
        }
    }
    journal__catalog_entry_put(ent, id, begin, end + n);
    v.mv_size = sizeof ent;
    v.mv_data = ent;
    if ((rc = mdb_put(txn, rs->catalog, &k, &v, 0)) != 0) {
        rc = mdb_fail("mdb_put catalog", rc);
        goto out_abort;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_fail("mdb_txn_commit", rc);
    h->end = end + n;
    return 0;
out_abort:
    mdb_txn_abort(txn);
    return rc;
}

/* The record at pos in the read transaction, not copied. */
static int raw_lookup(struct bjournal *h, journal_pos pos, MDB_val *v)
{
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key};
    int rc;
    journal__record_key(key, h->id, pos);
    rc = mdb_get(rj_of(h)->rtxn, rs_of(h)->records, &k, v);
    return rc ? mdb_fail("mdb_get record", rc) : 0;
}

static int raw_get(struct bjournal *h, journal_pos pos, void **rec, size_t *len)
{
    MDB_val v;
    int rc;

    if ((rc = mdb_txn_renew(rj_of(h)->rtxn)) != 0)
        return mdb_fail("mdb_txn_renew", rc);
    if ((rc = raw_lookup(h, pos, &v)) == 0) {
        *rec = malloc(v.mv_size ? v.mv_size : 1);
        if (*rec) {
            memcpy(*rec, v.mv_data, v.mv_size);
            *len = v.mv_size;
        } else {
            rc = fail("out of memory");
        }
    }
    mdb_txn_reset(rj_of(h)->rtxn);
    return rc;
}

static int raw_snap_begin(struct bjournal *h)
{
    int rc = mdb_txn_renew(rj_of(h)->rtxn);
    return rc ? mdb_fail("mdb_txn_renew", rc) : 0;
}

static int raw_snap_get(struct bjournal *h, journal_pos pos, const void **rec, size_t *len)
{
    MDB_val v;
    int rc = raw_lookup(h, pos, &v);
    if (rc == 0) {
        *rec = v.mv_data;
        *len = v.mv_size;
    }
    return rc;
}

static int raw_snap_end(struct bjournal *h)
{
    mdb_txn_reset(rj_of(h)->rtxn);
    return 0;
}

/* The cursor loop of a range, in the read transaction as it is: the
 * journal's records are exactly [begin, end), so from `from` (at least
 * begin) each key is the next position's until the journal ends. */
static int raw_cursor_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    unsigned char key[JOURNAL__RECORD_KEY_SIZE];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *cur = NULL;
    journal_pos pos = from;
    int rc;

    if ((rc = mdb_cursor_open(rj_of(h)->rtxn, rs_of(h)->records, &cur)) != 0)
        return mdb_fail("mdb_cursor_open", rc);
    journal__record_key(key, h->id, pos);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        journal__record_key(key, h->id, pos);
        if (k.mv_size != sizeof key || memcmp(k.mv_data, key, sizeof key) != 0)
            break;
        acc_rec(a, pos++, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_fail("mdb_cursor_get", rc);
}

static int raw_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    int rc;
    if ((rc = mdb_txn_renew(rj_of(h)->rtxn)) != 0)
        return mdb_fail("mdb_txn_renew", rc);
    rc = raw_cursor_range(h, from, a);
    mdb_txn_reset(rj_of(h)->rtxn);
    return rc;
}

static int raw_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    MDB_val k = {h->namelen, h->name}, v;
    uint64_t id;
    int rc;

    if ((rc = mdb_txn_renew(rj_of(h)->rtxn)) != 0)
        return mdb_fail("mdb_txn_renew", rc);
    rc = mdb_get(rj_of(h)->rtxn, rs_of(h)->catalog, &k, &v);
    if (rc == 0 && v.mv_size == JOURNAL__CATALOG_ENTRY_SIZE)
        journal__catalog_entry_get(v.mv_data, &id, begin, end);
    else
        rc = rc ? mdb_fail("mdb_get catalog", rc) : entry_size_fail();
    mdb_txn_reset(rj_of(h)->rtxn);
    return rc;
}

/* Catalog entries put in large transactions. */
static int raw_create_others(struct bstore *st, uint64_t n, const struct bench *b)
{
    struct raw_store *rs = st->priv;
    char name[32];
    int rc = 0;

    (void)b;
    for (uint64_t i = 0; i < n && rc == 0; i += RAW_CREATE_BATCH) {
        MDB_txn *txn;
        MDB_val k, v;
        unsigned char ent[JOURNAL__CATALOG_ENTRY_SIZE];
        uint64_t next;
        if ((rc = mdb_txn_begin(rs->env, NULL, 0, &txn)) != 0)
            return mdb_fail("mdb_txn_begin", rc);
        if ((rc = raw_next_id(rs, txn, &next)) != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        for (uint64_t x = i; x < n && x < i + RAW_CREATE_BATCH && rc == 0; x++) {
            snprintf(name, sizeof name, "o%010" PRIu64, x);
            journal__catalog_entry_put(ent, next++, 0, 0);
            k.mv_size = strlen(name);
            k.mv_data = name;
            v.mv_size = sizeof ent;
            v.mv_data = ent;
            rc = mdb_put(txn, rs->catalog, &k, &v, MDB_NOOVERWRITE);
        }
        if (rc != 0 || (rc = raw_put_next_id(rs, txn, next)) != 0) {
            mdb_txn_abort(txn);
            return mdb_fail("mdb_put catalog", rc);
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            return mdb_fail("mdb_txn_commit", rc);
    }
    return 0;
}

const struct bench_impl bench_lmdb = {
    .store_open = raw_store_open,
    .store_close = raw_store_close,
    .journal_open = raw_journal_open,
    .journal_close = raw_journal_close,
    .append = raw_append,
    .get = raw_get,
    .snap_begin = raw_snap_begin,
    .snap_get = raw_snap_get,
    .snap_end = raw_snap_end,
    .range = raw_range,
    .snap_range = raw_cursor_range,
    .bounds = raw_bounds,
    .create_others = raw_create_others,
};
