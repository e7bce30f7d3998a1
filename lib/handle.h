/*
 * handle.h - private to libjournal: the structures behind the public
 * handles, and the module (handle.c) that creates them. It sits below both
 * the front end (api.c) and the backends, and calls neither.
 */
#ifndef JOURNAL_HANDLE_H
#define JOURNAL_HANDLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct journal__ops;

/* Counters are relaxed atomics: each is exact once the calls it counts have
 * returned, and costs one uncontended add on the hot paths. Only api.c
 * writes them (backends report what they delivered or dropped through the
 * out-parameters of struct journal__ops). */
struct journal__counters {
    atomic_uint_fast64_t appends;
    atomic_uint_fast64_t bytes_appended;
    atomic_uint_fast64_t conflicts;
    atomic_uint_fast64_t gets;
    atomic_uint_fast64_t range_records;
    atomic_uint_fast64_t truncated;
};

/*
 * Handle lifetimes (kept by api.c). A handle is freed when its last
 * reference goes, so that the orders the contract allows never touch freed
 * memory:
 *   - a store's refs: 1 for the handle until journal_store_close(), plus
 *     one per journal handle not yet freed, per snapshot, and per running
 *     list or check (whose callbacks may try to close the store). Closing
 *     needs refs == 1 (JOURNAL_EBUSY otherwise), except in a child after
 *     fork(), where the store is freed with the last inherited handle;
 *   - a journal's refs: 1 for the handle until journal_close(), plus one
 *     per snapshot begun from it and per running journal_range() (whose
 *     callback may close it);
 *   - a snapshot is used by one thread at a time, so plain fields do: busy
 *     counts its running ranges, and an end requested inside one of them
 *     is done when the outermost returns.
 */
struct journal_store {
    const struct journal__ops *ops;
    char *path;        /* as given to journal_store_open() */
    unsigned flags;    /* JOURNAL_RDONLY | JOURNAL_NOSYNC */
    unsigned fork_gen; /* journal__fork_gen when opened */
    atomic_ulong refs;
    struct journal__counters counters;
};

struct journal {
    journal_store *s;
    atomic_uint refs;
    size_t namelen;
    char *name; /* NUL-terminated, namelen bytes before the NUL */
};

struct journal_snapshot {
    journal *j;
    unsigned busy; /* its ranges running */
    int ended;     /* journal_snapshot_end() called while busy */
};

/* Incremented in the child by a pthread_atfork() handler, registered by the
 * first journal__store_init(): a handle whose fork_gen differs was opened
 * by an ancestor process. */
extern atomic_uint journal__fork_gen;

static inline int journal__forked(const journal_store *s)
{
    return s->fork_gen != atomic_load_explicit(&journal__fork_gen, memory_order_relaxed);
}

/* Fills the common part of a new store handle (path copied, one reference,
 * counters zero). 0 or -ENOMEM; either way journal__store_fini() undoes it. */
int journal__store_init(journal_store *s, const struct journal__ops *ops, const char *path, unsigned flags);
void journal__store_fini(journal_store *s);

/* Allocates a journal handle of `size` bytes (the backend's struct, whose
 * first member is struct journal), zeroed, with one reference and the name
 * copied after it. 0 or -ENOMEM. The backend's close frees it with free(). */
int journal__journal_alloc(journal_store *s, const char *name, size_t namelen, size_t size, journal **out);

#endif /* JOURNAL_HANDLE_H */
