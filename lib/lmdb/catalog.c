/*
 * catalog.c - the LMDB backend's databases: the catalog of journals, the
 * format record, and opening (or creating) the three databases of a store.
 */
#include <errno.h>

#include "lmdb_int.h"

int journal__lmdb_catalog_get(struct lmdb_store *ls, MDB_txn *txn, const char *name, size_t namelen, uint64_t *id,
                              uint64_t *begin, uint64_t *end)
{
    MDB_val k = {namelen, (void *)name}, v;
    int rc = mdb_get(txn, ls->catalog, &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != JOURNAL__CATALOG_ENTRY_SIZE)
        return JOURNAL_ECORRUPT;
    journal__catalog_entry_get(v.mv_data, id, begin, end);
    return *begin <= *end ? 0 : JOURNAL_ECORRUPT;
}

int journal__lmdb_read_format(struct lmdb_store *ls, MDB_txn *txn, unsigned *version)
{
    MDB_val k = {JOURNAL__META_FORMAT_LEN, JOURNAL__META_FORMAT}, v;
    int rc = mdb_get(txn, ls->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return JOURNAL_ECORRUPT;
    if (rc != 0)
        return rc;
    if (v.mv_size != JOURNAL__META_FORMAT_SIZE)
        return JOURNAL_ECORRUPT;
    *version = journal__format_get(v.mv_data);
    return 0;
}

/* Opens the three databases of an existing store and checks its format. */
static int open_existing(struct lmdb_store *ls, MDB_txn *txn)
{
    unsigned version;
    int rc = journal__lmdb_read_format(ls, txn, &version);
    if (rc != 0)
        return rc;
    if (version != JOURNAL_FORMAT_VERSION)
        return JOURNAL_EVERSION;
    rc = mdb_dbi_open(txn, JOURNAL__DBNAME_CATALOG, 0, &ls->catalog);
    if (rc == 0)
        rc = mdb_dbi_open(txn, JOURNAL__DBNAME_RECORDS, 0, &ls->records);
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : rc;
}

/* Is the main database empty? A non-empty one without our "meta" belongs
 * to another program. */
static int main_is_empty(MDB_txn *txn)
{
    MDB_dbi main;
    MDB_stat st;
    int rc = mdb_dbi_open(txn, NULL, 0, &main);
    if (rc == 0)
        rc = mdb_stat(txn, main, &st);
    if (rc != 0)
        return rc;
    return st.ms_entries == 0 ? 0 : JOURNAL_ECORRUPT;
}

static int create_body(MDB_txn *txn, void *arg)
{
    struct lmdb_store *ls = arg;
    unsigned char ver[JOURNAL__META_FORMAT_SIZE], id[JOURNAL__META_NEXT_ID_SIZE];
    MDB_val k, v;
    int rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, 0, &ls->meta);
    if (rc == 0)
        return open_existing(ls, txn); /* another process created it first */
    if (rc != MDB_NOTFOUND)
        return rc;
    if ((rc = main_is_empty(txn)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, MDB_CREATE, &ls->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_CATALOG, MDB_CREATE, &ls->catalog)) != 0 ||
        (rc = mdb_dbi_open(txn, JOURNAL__DBNAME_RECORDS, MDB_CREATE, &ls->records)) != 0)
        return rc;
    journal__format_put(ver, JOURNAL_FORMAT_VERSION);
    k.mv_data = JOURNAL__META_FORMAT, k.mv_size = JOURNAL__META_FORMAT_LEN;
    v.mv_data = ver, v.mv_size = sizeof ver;
    if ((rc = mdb_put(txn, ls->meta, &k, &v, 0)) != 0)
        return rc;
    journal__put_be64(id, 1);
    k.mv_data = JOURNAL__META_NEXT_ID, k.mv_size = JOURNAL__META_NEXT_ID_LEN;
    v.mv_data = id, v.mv_size = sizeof id;
    return mdb_put(txn, ls->meta, &k, &v, 0);
}

int journal__lmdb_open_dbs(struct lmdb_store *ls, int rdonly)
{
    struct lmdb_view view;
    MDB_txn *txn;
    int rc;

    /* What open reads through LMDB, the main database and the meta one,
     * is checked page by page first: a few pages, whatever the store's
     * size. A commit of another process between mdb_env_open() and here
     * may have taken the data past the map this process just made: adopt
     * the new size, as every later read does (journal__lmdb_read_begin()). */
    for (int tries = 0;; tries++) {
        while ((rc = journal__lmdb_txn_begin_read(ls, &txn)) == MDB_MAP_RESIZED)
            if ((rc = journal__lmdb_adopt_map(ls)) != 0)
                return rc;
        if (rc != 0)
            return journal__from_mdb(rc);
        rc = journal__lmdb_view(ls, txn, &view);
        if (rc == 0)
            rc = journal__lmdb_verify(&view, JOURNAL__LMDB_DB_META, NULL, 0, NULL, 0);
        if (rc != JOURNAL__LMDB_STALE || tries == 1000)
            break;
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == JOURNAL__LMDB_STALE ? JOURNAL_EBUSY : rc;
    }
    rc = mdb_dbi_open(txn, JOURNAL__DBNAME_META, 0, &ls->meta);
    if (rc == 0) {
        rc = open_existing(ls, txn);
        if (rc == 0)
            return journal__from_mdb(mdb_txn_commit(txn)); /* keeps the handles */
        mdb_txn_abort(txn);
        return journal__from_mdb(rc);
    }
    if (rc == MDB_NOTFOUND)
        rc = main_is_empty(txn);
    mdb_txn_abort(txn);
    if (rc != 0)
        return journal__from_mdb(rc);
    if (rdonly)
        return -ENOENT; /* an empty environment: no store here yet */
    if ((rc = journal__lmdb_steady_postopen(ls)) != 0)
        return rc; /* steady before the first commit */
    return journal__lmdb_write(ls, create_body, ls);
}
