/*
 * faultshim.c - an LD_PRELOAD library that makes the store's I/O fail on
 * purpose, for tests/test_faults.c.
 *
 * It wraps the calls through which LMDB writes, syncs and maps its files:
 * write, pwrite, pwrite64, writev, pwritev, pwritev64, fsync, fdatasync,
 * msync, ftruncate, ftruncate64, mmap and mmap64. A call is *counted* only
 * when it acts on a file under the directory JOURNAL_FAULT_DIR: the file
 * descriptor's target (read from /proc/self/fd) starts with that path, or,
 * for msync, the address lies in a mapping that mmap made of such a file.
 * Calls on other files (stdout, the test's pipes, anonymous maps) pass
 * through uncounted, so the count does not depend on what else the process
 * does.
 *
 * Environment:
 *   JOURNAL_FAULT_DIR      the store directory (absolute); nothing is
 *                          counted when unset.
 *   JOURNAL_FAULT_AT       N >= 1: the N-th counted call fails; 0 or unset:
 *                          none does (a dry run that only counts).
 *   JOURNAL_FAULT_ERRNO    "EIO" (default) or "ENOSPC": the errno of the
 *                          failure.
 *   JOURNAL_FAULT_PERSIST  "1": every counted call from the N-th on fails
 *                          (a disk that stays broken); otherwise only the
 *                          N-th fails (a transient fault).
 *   JOURNAL_FAULT_AFTER    "1": a failing write, sync or truncate is first
 *                          really done, then reported as failed (the data
 *                          may have reached the disk although the caller was
 *                          told otherwise, as when fsync reports a write-back
 *                          error). Otherwise a failing call does nothing.
 *                          mmap always fails without mapping.
 *
 * At exit it prints one line to stderr:
 *   faultshim: counted=C failed=F
 * so that a dry run tells the test how many calls there are to fail.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Mappings of counted files, for msync; LMDB keeps two (data and lock). */
#define SHIM_MAPS 16

struct shim_map {
    uintptr_t addr;
    size_t len;
};

static struct {
    pthread_once_t once;
    const char *dir;
    size_t dirlen;
    unsigned long at;
    int err;
    int persist;
    int after;
    atomic_ulong counted;
    atomic_ulong failed;
    pthread_mutex_t maps_lock;
    struct shim_map maps[SHIM_MAPS];

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
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
} shim = {.once = PTHREAD_ONCE_INIT, .maps_lock = PTHREAD_MUTEX_INITIALIZER};

/* Finds the real functions, at the first call of any. */
static void shim_init(void)
{
    shim.write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    shim.pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    shim.pwrite64 = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    shim.writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    shim.pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    shim.pwritev64 = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev64");
    shim.fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    shim.fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    shim.msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    shim.ftruncate = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
    shim.ftruncate64 = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate64");
    shim.mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    shim.mmap64 = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap64");
    shim.munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
}

static void shim_ready(void)
{
    pthread_once(&shim.once, shim_init);
}

/* The settings are read by a constructor, not at the first call: a
 * sanitizer runtime calls mmap and write while it starts, before the
 * environment can be read. Calls before this are not counted. */
__attribute__((constructor)) static void shim_configure(void)
{
    const char *v;

    shim_ready();
    v = getenv("JOURNAL_FAULT_DIR");
    if (v && *v) {
        shim.dir = v;
        shim.dirlen = strlen(v);
    }
    v = getenv("JOURNAL_FAULT_AT");
    shim.at = v ? strtoul(v, NULL, 10) : 0;
    v = getenv("JOURNAL_FAULT_ERRNO");
    shim.err = v && strcmp(v, "ENOSPC") == 0 ? ENOSPC : EIO;
    v = getenv("JOURNAL_FAULT_PERSIST");
    shim.persist = v && strcmp(v, "1") == 0;
    v = getenv("JOURNAL_FAULT_AFTER");
    shim.after = v && strcmp(v, "1") == 0;
}

/* Whether fd is a file under JOURNAL_FAULT_DIR. */
static int shim_watched_fd(int fd)
{
    char link[64], target[PATH_MAX];
    ssize_t n;

    if (!shim.dir || fd < 0)
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n < 0 || (size_t)n <= shim.dirlen)
        return 0;
    return memcmp(target, shim.dir, shim.dirlen) == 0 && target[shim.dirlen] == '/';
}

static int shim_watched_addr(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    int found = 0;

    pthread_mutex_lock(&shim.maps_lock);
    for (int i = 0; i < SHIM_MAPS && !found; i++)
        found = shim.maps[i].len && a >= shim.maps[i].addr && a < shim.maps[i].addr + shim.maps[i].len;
    pthread_mutex_unlock(&shim.maps_lock);
    return found;
}

/* Counts one call on a watched file; 1 when this call must fail. */
static int shim_fails(void)
{
    unsigned long n = atomic_fetch_add(&shim.counted, 1) + 1;
    int fail = shim.at && (n == shim.at || (shim.persist && n > shim.at));

    if (fail)
        atomic_fetch_add(&shim.failed, 1);
    return fail;
}

/* The result of a failing call that returns ssize_t: -1 with errno, after
 * doing the real call first when JOURNAL_FAULT_AFTER asks for it. */
#define SHIM_FAIL(real_call)                                                                                           \
    do {                                                                                                               \
        if (shim.after)                                                                                                \
            (void)(real_call);                                                                                         \
        errno = shim.err;                                                                                              \
        return -1;                                                                                                     \
    } while (0)

ssize_t write(int fd, const void *buf, size_t len)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.write(fd, buf, len));
    return shim.write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.pwrite(fd, buf, len, off));
    return shim.pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.pwrite64(fd, buf, len, off));
    return shim.pwrite64(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.writev(fd, iov, n));
    return shim.writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.pwritev(fd, iov, n, off));
    return shim.pwritev(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.pwritev64(fd, iov, n, off));
    return shim.pwritev64(fd, iov, n, off);
}

int fsync(int fd)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.fsync(fd));
    return shim.fsync(fd);
}

int fdatasync(int fd)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.fdatasync(fd));
    return shim.fdatasync(fd);
}

int msync(void *addr, size_t len, int flags)
{
    shim_ready();
    if (shim_watched_addr(addr) && shim_fails())
        SHIM_FAIL(shim.msync(addr, len, flags));
    return shim.msync(addr, len, flags);
}

int ftruncate(int fd, off_t len)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.ftruncate(fd, len));
    return shim.ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(shim.ftruncate64(fd, len));
    return shim.ftruncate64(fd, len);
}

static void shim_remember(void *p, size_t len)
{
    pthread_mutex_lock(&shim.maps_lock);
    for (int i = 0; i < SHIM_MAPS; i++) {
        if (!shim.maps[i].len) {
            shim.maps[i].addr = (uintptr_t)p;
            shim.maps[i].len = len;
            break;
        }
    }
    pthread_mutex_unlock(&shim.maps_lock);
}

static void *shim_map(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len, int prot, int flags,
                      int fd, off_t off)
{
    void *p;

    if (!(flags & MAP_ANONYMOUS) && shim_watched_fd(fd)) {
        if (shim_fails()) {
            errno = shim.err;
            return MAP_FAILED;
        }
        p = real(addr, len, prot, flags, fd, off);
        if (p != MAP_FAILED)
            shim_remember(p, len);
        return p;
    }
    return real(addr, len, prot, flags, fd, off);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    shim_ready();
    return shim_map(shim.mmap, addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    shim_ready();
    return shim_map(shim.mmap64, addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
    shim_ready();
    pthread_mutex_lock(&shim.maps_lock);
    for (int i = 0; i < SHIM_MAPS; i++)
        if (shim.maps[i].len && shim.maps[i].addr == (uintptr_t)addr)
            shim.maps[i].len = 0;
    pthread_mutex_unlock(&shim.maps_lock);
    return shim.munmap(addr, len);
}

__attribute__((destructor)) static void shim_report(void)
{
    char line[96];
    int n;

    shim_ready();
    n = snprintf(line, sizeof line, "faultshim: counted=%lu failed=%lu\n", atomic_load(&shim.counted),
                 atomic_load(&shim.failed));
    if (n > 0)
        (void)!shim.write(STDERR_FILENO, line, (size_t)n);
}
