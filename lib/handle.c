/*
 * handle.c - creating the handles every backend shares (handle.h). Below
 * both api.c and the backends: it calls neither.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"

atomic_uint journal__fork_gen;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add_explicit(&journal__fork_gen, 1, memory_order_relaxed);
}

static void register_fork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

int journal__store_init(journal_store *s, const struct journal__ops *ops, const char *path, unsigned flags)
{
    /* The fork handler is registered before the first store exists. */
    pthread_once(&fork_once, register_fork);
    s->ops = ops;
    s->flags = flags;
    s->fork_gen = atomic_load_explicit(&journal__fork_gen, memory_order_relaxed);
    atomic_init(&s->refs, 1);
    atomic_init(&s->counters.appends, 0);
    atomic_init(&s->counters.bytes_appended, 0);
    atomic_init(&s->counters.conflicts, 0);
    atomic_init(&s->counters.gets, 0);
    atomic_init(&s->counters.range_records, 0);
    atomic_init(&s->counters.truncated, 0);
    s->path = strdup(path);
    return s->path ? 0 : -ENOMEM;
}

void journal__store_fini(journal_store *s)
{
    free(s->path);
}

int journal__journal_alloc(journal_store *s, const char *name, size_t namelen, size_t size, journal **out)
{
    journal *j = malloc(size + namelen + 1);
    if (!j)
        return -ENOMEM;
    memset(j, 0, size);
    j->s = s;
    atomic_init(&j->refs, 1);
    j->namelen = namelen;
    j->name = (char *)j + size;
    memcpy(j->name, name, namelen + 1);
    *out = j;
    return 0;
}
