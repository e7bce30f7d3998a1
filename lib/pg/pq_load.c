/*
 * pq_load.c - loads libpq at the first PostgreSQL open (see pq_load.h).
 */
#define _GNU_SOURCE /* secure_getenv() */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL__PQ_NO_MACROS
#include "pq_load.h"

struct journal__pq journal__pq;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static int pq_rc;
static char pq_msg[512];

/* The test hook: the library to load instead of libpq.so.5. */
static const char *pq_soname(void)
{
    const char *name;
#ifdef __GLIBC__
    name = secure_getenv("JOURNAL_TEST_LIBPQ");
#else
    name = getuid() == geteuid() && getgid() == getegid() ? getenv("JOURNAL_TEST_LIBPQ") : NULL;
#endif
    return name && *name ? name : JOURNAL__PQ_SONAME;
}

static void pq_fail(const char *name, const char *why)
{
    memset(&journal__pq, 0, sizeof journal__pq);
    pq_rc = -EPROTONOSUPPORT;
    snprintf(pq_msg, sizeof pq_msg,
             "PostgreSQL stores need %s, PostgreSQL's client library (the libpq5 package on Debian and Ubuntu, "
             "libpq on Fedora): %s",
             name, why ? why : "cannot be loaded");
}

/* Runs once. The library is never closed: its functions may be running in
 * other threads at any time, and libpq itself cannot be unloaded cleanly. */
static void pq_load_once(void)
{
    const char *name = pq_soname();
    void *dl;
    char why[256];

    dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        pq_fail(name, dlerror());
        return;
    }
    /* POSIX allows converting dlsym()'s void * to a function pointer; ISO C
     * does not say, hence the memcpy. */
#define JOURNAL__PQ_RESOLVE(fn)                                                                                        \
    do {                                                                                                               \
        void *p = dlsym(dl, #fn);                                                                                      \
        if (!p) {                                                                                                      \
            snprintf(why, sizeof why, "%s has no function " #fn " (a libpq older than 10?)", name);                    \
            pq_fail(name, why);                                                                                        \
            dlclose(dl);                                                                                               \
            return;                                                                                                    \
        }                                                                                                              \
        memcpy(&journal__pq.fn, &p, sizeof p);                                                                         \
    } while (0);
    JOURNAL__PQ_FUNCTIONS(JOURNAL__PQ_RESOLVE)
#undef JOURNAL__PQ_RESOLVE
    pq_rc = 0;
}

int journal__pq_load(const char **msg)
{
    pthread_once(&pq_once, pq_load_once);
    if (msg)
        *msg = pq_rc == 0 ? "" : pq_msg;
    return pq_rc;
}
