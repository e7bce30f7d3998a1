/*
 * txn.c - the LMDB backend's read transactions: the ones each thread
 * reuses for short calls (one set per thread and store), the pool kept for
 * snapshots, and the objects of a parent kept reachable after fork().
 */
#include <errno.h>
#include <stdlib.h>

#include "lmdb_int.h"

/*
 * A thread's read transactions for one store. The thread owns the node
 * and its list (tnext); the store's list (snext) and the txn fields are
 * changed under cache_mu. Closing a store aborts its transactions and
 * clears `s` last, with release order; a thread that later finds s == NULL
 * frees the node. A thread that exits frees its nodes in tcache_free().
 */
struct lmdb_tnode {
    _Atomic(struct lmdb_store *) s;
    MDB_txn *txn[LMDB_TXN_DEPTH];
    unsigned ntxn;  /* transactions created */
    unsigned depth; /* transactions in use by nested calls */
    struct lmdb_tnode *tnext;
    struct lmdb_tnode *snext, **sprev;
};

struct tcache {
    struct lmdb_tnode *head;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t tkey;
static pthread_once_t tkey_once = PTHREAD_ONCE_INIT;
static int tkey_rc;

/* The node this thread used last: most threads read one store, and a
 * thread-local load is cheaper than pthread_getspecific() and a walk. */
static _Thread_local struct lmdb_tnode *tnode_last;

/* Kept reachable so that a child after fork() does not show the parent's
 * objects it may not free as leaks: they are the parent's, not garbage. */
static void **forked_objects;
static size_t nforked;

void journal__lmdb_keep_forked(void *p)
{
    void **n = realloc(forked_objects, (nforked + 1) * sizeof *n);
    if (n) {
        forked_objects = n;
        forked_objects[nforked++] = p;
    }
}

static void tnode_unlink(struct lmdb_tnode *n)
{
    *n->sprev = n->snext;
    if (n->snext)
        n->snext->sprev = n->sprev;
}

static void tcache_free(void *p)
{
    struct tcache *tc = p;
    struct lmdb_tnode *n, *next;
    pthread_mutex_lock(&cache_mu);
    for (n = tc->head; n; n = next) {
        struct lmdb_store *ls = atomic_load_explicit(&n->s, memory_order_acquire);
        next = n->tnext;
        if (ls) {
            tnode_unlink(n);
            for (unsigned i = 0; i < n->ntxn; i++) {
                if (journal__forked(&ls->base))
                    journal__lmdb_keep_forked(n->txn[i]);
                else
                    mdb_txn_abort(n->txn[i]);
            }
        }
        free(n);
    }
    pthread_mutex_unlock(&cache_mu);
    free(tc);
    tnode_last = NULL;
}

static void cache_prefork(void)
{
    pthread_mutex_lock(&cache_mu);
}

static void cache_postfork(void)
{
    pthread_mutex_unlock(&cache_mu);
}

static void tkey_init(void)
{
    tkey_rc = pthread_key_create(&tkey, tcache_free);
    if (tkey_rc == 0)
        pthread_atfork(cache_prefork, cache_postfork, cache_postfork);
}

int journal__lmdb_txn_cache_init(void)
{
    pthread_once(&tkey_once, tkey_init);
    return -tkey_rc;
}

static struct lmdb_tnode *tnode_get(struct lmdb_store *ls)
{
    struct tcache *tc;
    struct lmdb_tnode *n, **pp;

    n = tnode_last;
    if (n && atomic_load_explicit(&n->s, memory_order_acquire) == ls)
        return n;
    tc = pthread_getspecific(tkey);

    if (!tc) {
        tc = calloc(1, sizeof *tc);
        if (!tc)
            return NULL;
        if (pthread_setspecific(tkey, tc) != 0) {
            free(tc);
            return NULL;
        }
    }
    for (pp = &tc->head; (n = *pp) != NULL;) {
        struct lmdb_store *s = atomic_load_explicit(&n->s, memory_order_acquire);
        if (s == ls)
            return tnode_last = n;
        if (!s) {
            /* Its store was closed: the node is ours to free. */
            *pp = n->tnext;
            if (tnode_last == n)
                tnode_last = NULL;
            free(n);
            continue;
        }
        pp = &n->tnext;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    atomic_init(&n->s, ls);
    pthread_mutex_lock(&cache_mu);
    n->snext = ls->tnodes;
    if (n->snext)
        n->snext->sprev = &n->snext;
    n->sprev = &ls->tnodes;
    ls->tnodes = n;
    pthread_mutex_unlock(&cache_mu);
    n->tnext = tc->head;
    tc->head = n;
    return tnode_last = n;
}

void journal__lmdb_txn_cache_release(struct lmdb_store *ls, int forked)
{
    struct lmdb_tnode *n, *next;
    pthread_mutex_lock(&cache_mu);
    for (n = ls->tnodes; n; n = next) {
        next = n->snext;
        for (unsigned i = 0; i < n->ntxn; i++) {
            if (forked)
                journal__lmdb_keep_forked(n->txn[i]);
            else
                mdb_txn_abort(n->txn[i]);
        }
        n->ntxn = 0;
        atomic_store_explicit(&n->s, NULL, memory_order_release);
    }
    ls->tnodes = NULL;
    pthread_mutex_unlock(&cache_mu);
}

int journal__lmdb_txn_begin_read(struct lmdb_store *ls, MDB_txn **txn)
{
    int rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL) {
        int dead = 0;
        if (journal__lmdb_steady_reader_check(ls, &dead) == 0 && dead > 0)
            rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

/*
 * LMDB 0.9 lets a reader that is pre-empted between reading the latest
 * transaction id and copying that meta page copy a newer meta, written
 * into the same slot two commits later, before that commit is published:
 * its next transaction would then see an older state than this one. So
 * when the meta pages already show a commit two past the transaction's
 * id, take the transaction again. This narrows the window to a meta write
 * racing with the copy itself.
 */
int journal__lmdb_read_settle(struct lmdb_store *ls, MDB_txn *txn)
{
    MDB_envinfo info;
    int rc = 0;
    for (int tries = 0; tries < 64; tries++) {
        mdb_env_info(ls->env, &info);
        if (mdb_txn_id(txn) + 1 >= info.me_last_txnid)
            break;
        mdb_txn_reset(txn);
        if ((rc = mdb_txn_renew(txn)) != 0)
            break;
    }
    return rc;
}

int journal__lmdb_read_begin(struct lmdb_store *ls, MDB_txn **out)
{
    struct lmdb_tnode *n;
    MDB_txn *txn, *temp = NULL;
    int rc;

    for (;;) {
        journal__lmdb_gate_enter(ls);
        n = tnode_get(ls);
        if (!n) {
            rc = -ENOMEM;
            break;
        }
        if (n->depth < n->ntxn) {
            txn = n->txn[n->depth];
            rc = mdb_txn_renew(txn);
        } else {
            rc = journal__lmdb_txn_begin_read(ls, &txn);
            if (rc == 0 && n->ntxn < LMDB_TXN_DEPTH)
                n->txn[n->ntxn++] = txn;
            else if (rc == 0)
                temp = txn; /* past the depth: a transaction of its own */
        }
        if (rc == 0)
            rc = journal__lmdb_read_settle(ls, txn);
        if (rc != 0 && temp) {
            mdb_txn_abort(temp);
            temp = NULL;
        }
        if (rc == 0) {
            n->depth++;
            *out = txn;
            return 0;
        }
        if (rc != MDB_MAP_RESIZED)
            break;
        journal__lmdb_gate_leave(ls);
        rc = journal__lmdb_adopt_map(ls);
        if (rc != 0)
            return rc;
    }
    journal__lmdb_gate_leave(ls);
    return journal__from_mdb(rc);
}

void journal__lmdb_read_end(struct lmdb_store *ls, MDB_txn *txn)
{
    struct lmdb_tnode *n = tnode_get(ls);
    /* tnode_get() finds the node that read_begin() used: it cannot fail
     * for a node that exists. */
    if (n->depth > LMDB_TXN_DEPTH || n->txn[n->depth - 1] != txn)
        mdb_txn_abort(txn); /* a transaction of its own, past the depth */
    else
        mdb_txn_reset(txn);
    n->depth--;
    journal__lmdb_gate_leave(ls);
}

/* mdb_env_get_maxreaders(), not mdb_env_info(): the latter reads the meta
 * pages in the map, and a failed snapshot begin puts its transaction back
 * outside the gate. */
static unsigned pool_cap(struct lmdb_store *ls)
{
    unsigned readers = 0, cap;
    mdb_env_get_maxreaders(ls->env, &readers);
    cap = readers / 16;
    return cap < 64 ? cap : 64;
}

int journal__lmdb_txn_new_read(struct lmdb_store *ls, MDB_txn **txn)
{
    MDB_txn *t = NULL;
    int rc;
    pthread_mutex_lock(&ls->pool_mu);
    if (ls->npool > 0)
        t = ls->pool[--ls->npool];
    pthread_mutex_unlock(&ls->pool_mu);
    if (t) {
        rc = mdb_txn_renew(t);
        if (rc != 0)
            journal__lmdb_txn_pool_put(ls, t);
        else
            *txn = t;
        return rc;
    }
    return journal__lmdb_txn_begin_read(ls, txn);
}

void journal__lmdb_txn_pool_put(struct lmdb_store *ls, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&ls->pool_mu);
    if (ls->npool < pool_cap(ls)) {
        ls->pool[ls->npool++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&ls->pool_mu);
    if (txn)
        mdb_txn_abort(txn);
}
