/*
 * shim.h - what the tests' LD_PRELOAD shims share (faultshim.c,
 * crashimg_shim.c):
 *   - real: the functions they wrap, found with dlsym(RTLD_NEXT) at the
 *     first call of any wrapper (shim_ready());
 *   - shim_watch(): the store directory, from an environment variable;
 *     shim_fd_name() tells whether a file descriptor is a file in it;
 *   - the mappings made of such files, for msync: the mmap, mmap64 and
 *     munmap wrappers keep them, shim_map_tag() finds one.
 *
 * A shim includes this header once, in its one .c file (the wrappers
 * defined here become the shared library's), and defines
 *   static int shim_map_check(int fd, int *tag);
 * called before a mapping of fd is made (anonymous ones excepted): it sets
 * *tag to the tag to remember the mapping by (>= 0), or -1 to forget it,
 * and returns 0, or the errno with which mmap then fails without mapping.
 */
#ifndef TESTS_SHIM_H
#define TESTS_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Mappings remembered, for msync; LMDB keeps two (data and lock). */
#define SHIM_MAPS 16

typedef void *(*shim_mmap_fn)(void *, size_t, int, int, int, off_t);

static struct {
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*pwrite64)(int, const void *, size_t, off_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
    ssize_t (*pwritev64)(int, const struct iovec *, int, off_t);
    int (*fsync)(int);
    int (*fdatasync)(int);
    int (*msync)(void *, size_t, int);
    int (*ftruncate)(int, off_t);
    int (*ftruncate64)(int, off_t);
    shim_mmap_fn mmap;
    shim_mmap_fn mmap64;
    int (*munmap)(void *, size_t);
} real;

static struct {
    pthread_once_t once;
    const char *dir; /* the store directory (absolute); NULL: none */
    size_t dirlen;
    pthread_mutex_t maps_lock;
    struct {
        uintptr_t addr;
        size_t len;
        int tag;
    } maps[SHIM_MAPS];
} shim_base = {.once = PTHREAD_ONCE_INIT, .maps_lock = PTHREAD_MUTEX_INITIALIZER};

static int shim_map_check(int fd, int *tag);

static void shim_real_init(void)
{
    real.write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real.pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real.pwrite64 = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    real.writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    real.pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    real.pwritev64 = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev64");
    real.fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real.fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real.msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    real.ftruncate = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
    real.ftruncate64 = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate64");
    real.mmap = (shim_mmap_fn)dlsym(RTLD_NEXT, "mmap");
    real.mmap64 = (shim_mmap_fn)dlsym(RTLD_NEXT, "mmap64");
    real.munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
}

/* Finds the real functions, once; every wrapper calls it first. */
static void shim_ready(void)
{
    pthread_once(&shim_base.once, shim_real_init);
}

/* Watches the directory named by the environment variable env, when it is
 * set and not empty. */
static void shim_watch(const char *env)
{
    const char *v = getenv(env);
    if (v && *v) {
        shim_base.dir = v;
        shim_base.dirlen = strlen(v);
    }
}

/* The name of fd's file in the watched directory, in target, or NULL when
 * fd is not a file there. */
static const char *shim_fd_name(int fd, char target[PATH_MAX])
{
    char link[64];
    ssize_t n;

    if (!shim_base.dir || fd < 0)
        return NULL;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, PATH_MAX - 1);
    if (n < 0 || (size_t)n <= shim_base.dirlen)
        return NULL;
    target[n] = '\0';
    if (memcmp(target, shim_base.dir, shim_base.dirlen) != 0 || target[shim_base.dirlen] != '/')
        return NULL;
    return target + shim_base.dirlen + 1;
}

/* The tag of the remembered mapping holding addr, or -1. */
static int shim_map_tag(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    int tag = -1;

    pthread_mutex_lock(&shim_base.maps_lock);
    for (int i = 0; i < SHIM_MAPS && tag < 0; i++)
        if (shim_base.maps[i].len && a >= shim_base.maps[i].addr && a < shim_base.maps[i].addr + shim_base.maps[i].len)
            tag = shim_base.maps[i].tag;
    pthread_mutex_unlock(&shim_base.maps_lock);
    return tag;
}

static void *shim_mmap(shim_mmap_fn fn, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    int tag, err;
    void *p;

    if (flags & MAP_ANONYMOUS)
        return fn(addr, len, prot, flags, fd, off);
    if ((err = shim_map_check(fd, &tag)) != 0) {
        errno = err;
        return MAP_FAILED;
    }
    p = fn(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED || tag < 0)
        return p;
    pthread_mutex_lock(&shim_base.maps_lock);
    for (int i = 0; i < SHIM_MAPS; i++) {
        if (!shim_base.maps[i].len) {
            shim_base.maps[i].addr = (uintptr_t)p;
            shim_base.maps[i].len = len;
            shim_base.maps[i].tag = tag;
            break;
        }
    }
    pthread_mutex_unlock(&shim_base.maps_lock);
    return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    shim_ready();
    return shim_mmap(real.mmap, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    shim_ready();
    return shim_mmap(real.mmap64, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
    shim_ready();
    pthread_mutex_lock(&shim_base.maps_lock);
    for (int i = 0; i < SHIM_MAPS; i++)
        if (shim_base.maps[i].len && shim_base.maps[i].addr == (uintptr_t)addr)
            shim_base.maps[i].len = 0;
    pthread_mutex_unlock(&shim_base.maps_lock);
    return real.munmap(addr, len);
}

#endif
