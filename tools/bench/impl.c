/*
 * impl.c - the implementations by name and number, and the calls the
 * scenarios make through their vtables, with what is common to all of
 * them (the handle's fields, retrying after a conflict).
 */
#include <string.h>

#include "bench.h"

const char *const impl_names[NIMPL] = {"journal", "lmdb", "sqlite", "pg", "pgraw"};

/* journal and pg are the library, on an LMDB and a PostgreSQL store. */
static const struct bench_impl *const impls[NIMPL] = {&bench_lib, &bench_lmdb, &bench_sqlite, &bench_lib, &bench_pgraw};

int acc_rec(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct acc *a = arg;
    (void)pos;
    a->n++;
    a->sum += len + (len ? *(const unsigned char *)rec : 0);
    return 0;
}

/* Opens the store of one implementation at path: a directory for LMDB and
 * SQLite; for pg and pgraw a URL. On failure the store must still be
 * closed with b_store_close(). */
int b_store_open(struct bstore *st, enum impl impl, const char *path, enum dur dur)
{
    memset(st, 0, sizeof *st);
    st->ops = impls[impl];
    st->impl = impl;
    st->dur = dur;
    snprintf(st->path, sizeof st->path, "%s", path);
    return st->ops->store_open(st);
}

int b_store_close(struct bstore *st)
{
    int rc = st->ops ? st->ops->store_close(st) : 0;
    st->priv = NULL;
    st->ops = NULL;
    return rc;
}

/* Opens journal `name` of the store; `id` is the id it has or gets in the
 * store, which SQLite, having no catalog, uses directly. On failure the
 * handle must still be closed with b_journal_close(). */
int b_journal_open(struct bjournal *h, struct bstore *st, const char *name, uint64_t id)
{
    memset(h, 0, sizeof *h);
    h->st = st;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->namelen = strlen(h->name);
    h->id = id;
    return st->ops->journal_open(h);
}

void b_journal_close(struct bjournal *h)
{
    if (h->st)
        h->st->ops->journal_close(h);
    memset(h, 0, sizeof *h);
}

/* Appends one record at whatever the end is, retrying after conflicts. */
int b_append_retry(struct bjournal *h, const journal_record *rec)
{
    int rc;
    if (h->st->ops->append_retry)
        return h->st->ops->append_retry(h, rec);
    while ((rc = b_append(h, rec, 1)) == JOURNAL_ECONFLICT)
        ;
    return rc;
}

int b_snap_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    if (!h->st->ops->snap_range)
        return fail("%s: no snapshot range", impl_names[h->st->impl]);
    return h->st->ops->snap_range(h, from, a);
}

int b_create_others(struct bstore *st, uint64_t n, const struct bench *b)
{
    return st->ops->create_others(st, n, b);
}
