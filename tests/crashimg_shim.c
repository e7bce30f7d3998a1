/*
 * crashimg_shim.c - an LD_PRELOAD library that records every write and sync
 * to a store's files, for the crash-image harness (tests/test_crashimg.c).
 *
 * Killing a process cannot show what a machine crash does: the page cache
 * survives the process. This shim logs, in the order they complete, the
 * calls through which the store's files reach the disk: write, pwrite,
 * pwrite64, writev, pwritev, pwritev64 (offset, length, the bytes), fsync,
 * fdatasync and msync (barriers), and ftruncate. From the log the test
 * builds the disk images a machine crash can leave: everything that a
 * completed sync made durable, plus any subset of the later writes, torn
 * at 512-byte sectors.
 *
 * Files: data.mdb (file 0) and steady (file 1, the steady-point side
 * file) in the directory JOURNAL_CRASHIMG_DIR (absolute). The lock file is
 * not recorded: LMDB rebuilds it when the first process opens the store
 * after a reboot.
 *
 * The log, JOURNAL_CRASHIMG_LOG, is a sequence of records
 *   struct crashimg_rec { uint32 kind, file; uint64 a, b; } + payload
 * in the byte order of the machine, each with a sequence number implied by
 * its place in the log:
 *   CRASHIMG_WRITE   a = offset, b = length, then b bytes
 *   CRASHIMG_DSYNC   as WRITE, on a file opened O_DSYNC or O_SYNC: the
 *                    write is durable once it returns
 *   CRASHIMG_SYNC    a = the sequence number at which the sync started:
 *                    every write to `file` logged before it is durable
 *   CRASHIMG_TRUNC   a = the new length (durable at the next sync)
 *   CRASHIMG_MARK    file = the mark's kind, a = its value; written by the
 *                    workload through crashimg_mark() (found with dlsym),
 *                    in order with the I/O
 * A write and its record are one step under a mutex, so the log order is
 * the order in which writes completed. A sync takes the sequence number
 * when it starts, runs unlocked, and logs its barrier when it returns: a
 * write that completed during the sync is not counted as synced by it.
 * Only one process may write a log (the workload is one process).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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

#include "crashimg.h"

#define SHIM_MAPS 16

static struct {
    pthread_once_t once;
    const char *dir;
    size_t dirlen;
    int log;
    uint64_t seq;
    pthread_mutex_t mu;
    struct {
        uintptr_t addr;
        size_t len;
        int file;
    } maps[SHIM_MAPS];

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
} shim = {.once = PTHREAD_ONCE_INIT, .log = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

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

__attribute__((constructor)) static void shim_configure(void)
{
    const char *v;

    shim_ready();
    v = getenv("JOURNAL_CRASHIMG_DIR");
    if (v && *v) {
        shim.dir = v;
        shim.dirlen = strlen(v);
    }
    v = getenv("JOURNAL_CRASHIMG_LOG");
    if (v && *v)
        shim.log = open(v, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* The recorded file fd refers to (0 or 1), or -1. */
static int shim_file(int fd)
{
    char link[64], target[PATH_MAX];
    const char *base;
    ssize_t n;

    if (!shim.dir || shim.log < 0 || fd < 0)
        return -1;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n < 0 || (size_t)n <= shim.dirlen)
        return -1;
    target[n] = '\0';
    if (memcmp(target, shim.dir, shim.dirlen) != 0 || target[shim.dirlen] != '/')
        return -1;
    base = target + shim.dirlen + 1;
    if (strcmp(base, "data.mdb") == 0)
        return CRASHIMG_FILE_DATA;
    if (strcmp(base, "steady") == 0)
        return CRASHIMG_FILE_STEADY;
    return -1;
}

static int shim_dsync(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & (O_DSYNC | O_SYNC)) != 0;
}

/* Appends one record to the log; the caller holds shim.mu. The log is
 * for the test: a failing write of it makes the run fail loudly. */
static void shim_log(uint32_t kind, uint32_t file, uint64_t a, uint64_t b, const struct iovec *iov, int n)
{
    struct crashimg_rec r = {kind, file, a, b};
    struct iovec v[1 + 64];
    int nv = 0;

    v[nv].iov_base = &r;
    v[nv++].iov_len = sizeof r;
    for (int i = 0; i < n && nv < 65; i++)
        v[nv++] = iov[i];
    if (n > 64)
        abort();
    size_t want = 0;
    for (int i = 0; i < nv; i++)
        want += v[i].iov_len;
    /* The log is opened O_APPEND; a short write here would be a full disk. */
    if (shim.writev(shim.log, v, nv) != (ssize_t)want)
        abort();
    shim.seq++;
}

/* Logs `done` bytes of iov written at off. */
static void shim_log_write(int file, int dsync, uint64_t off, const struct iovec *iov, int n, ssize_t done)
{
    struct iovec part[64];
    size_t left = (size_t)done;
    int np = 0;

    if (done <= 0)
        return;
    for (int i = 0; i < n && left > 0 && np < 64; i++) {
        part[np].iov_base = iov[i].iov_base;
        part[np].iov_len = iov[i].iov_len < left ? iov[i].iov_len : left;
        left -= part[np].iov_len;
        np++;
    }
    shim_log(dsync ? CRASHIMG_DSYNC : CRASHIMG_WRITE, (uint32_t)file, off, (uint64_t)done, part, np);
}

#define SHIM_WRITE(fd, off_expr, iov, n, call)                                                                         \
    do {                                                                                                               \
        int file_ = shim_file(fd);                                                                                     \
        ssize_t rc_;                                                                                                   \
        off_t off_;                                                                                                    \
        if (file_ < 0)                                                                                                 \
            return call;                                                                                               \
        pthread_mutex_lock(&shim.mu);                                                                                  \
        off_ = (off_expr);                                                                                             \
        rc_ = call;                                                                                                    \
        if (rc_ > 0)                                                                                                   \
            shim_log_write(file_, shim_dsync(fd), (uint64_t)off_, iov, n, rc_);                                        \
        pthread_mutex_unlock(&shim.mu);                                                                                \
        return rc_;                                                                                                    \
    } while (0)

ssize_t write(int fd, const void *buf, size_t len)
{
    struct iovec v = {(void *)buf, len};
    shim_ready();
    SHIM_WRITE(fd, lseek(fd, 0, SEEK_CUR), &v, 1, shim.write(fd, buf, len));
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = {(void *)buf, len};
    shim_ready();
    SHIM_WRITE(fd, off, &v, 1, shim.pwrite(fd, buf, len, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = {(void *)buf, len};
    shim_ready();
    SHIM_WRITE(fd, off, &v, 1, shim.pwrite64(fd, buf, len, off));
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    shim_ready();
    SHIM_WRITE(fd, lseek(fd, 0, SEEK_CUR), iov, n, shim.writev(fd, iov, n));
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    SHIM_WRITE(fd, off, iov, n, shim.pwritev(fd, iov, n, off));
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    SHIM_WRITE(fd, off, iov, n, shim.pwritev64(fd, iov, n, off));
}

/* A barrier of `file`: writes logged before the sync started are durable
 * once it returns 0. */
static int shim_sync(int file, int rc_real(int, void *, size_t), int fd, void *addr, size_t len)
{
    uint64_t start;
    int rc;

    if (file < 0)
        return rc_real(fd, addr, len);
    pthread_mutex_lock(&shim.mu);
    start = shim.seq;
    pthread_mutex_unlock(&shim.mu);
    rc = rc_real(fd, addr, len);
    if (rc == 0) {
        pthread_mutex_lock(&shim.mu);
        shim_log(CRASHIMG_SYNC, (uint32_t)file, start, 0, NULL, 0);
        pthread_mutex_unlock(&shim.mu);
    }
    return rc;
}

static int real_fsync(int fd, void *addr, size_t len)
{
    (void)addr, (void)len;
    return shim.fsync(fd);
}

static int real_fdatasync(int fd, void *addr, size_t len)
{
    (void)addr, (void)len;
    return shim.fdatasync(fd);
}

static int msync_flags;

static int real_msync(int fd, void *addr, size_t len)
{
    (void)fd;
    return shim.msync(addr, len, msync_flags);
}

int fsync(int fd)
{
    shim_ready();
    return shim_sync(shim_file(fd), real_fsync, fd, NULL, 0);
}

int fdatasync(int fd)
{
    shim_ready();
    return shim_sync(shim_file(fd), real_fdatasync, fd, NULL, 0);
}

int msync(void *addr, size_t len, int flags)
{
    int file = -1;
    shim_ready();
    pthread_mutex_lock(&shim.mu);
    for (int i = 0; i < SHIM_MAPS; i++)
        if (shim.maps[i].len && (uintptr_t)addr >= shim.maps[i].addr &&
            (uintptr_t)addr < shim.maps[i].addr + shim.maps[i].len)
            file = shim.maps[i].file;
    pthread_mutex_unlock(&shim.mu);
    if (file < 0 || !(flags & MS_SYNC))
        return shim.msync(addr, len, flags);
    msync_flags = flags;
    return shim_sync(file, real_msync, -1, addr, len);
}

static int shim_truncate(int (*real)(int, off_t), int fd, off_t len)
{
    int file = shim_file(fd), rc;
    if (file < 0)
        return real(fd, len);
    pthread_mutex_lock(&shim.mu);
    rc = real(fd, len);
    if (rc == 0)
        shim_log(CRASHIMG_TRUNC, (uint32_t)file, (uint64_t)len, 0, NULL, 0);
    pthread_mutex_unlock(&shim.mu);
    return rc;
}

int ftruncate(int fd, off_t len)
{
    shim_ready();
    return shim_truncate(shim.ftruncate, fd, len);
}

int ftruncate64(int fd, off_t len)
{
    shim_ready();
    return shim_truncate(shim.ftruncate64, fd, len);
}

static void *shim_map(void *(*real)(void *, size_t, int, int, int, off_t), void *addr, size_t len, int prot, int flags,
                      int fd, off_t off)
{
    void *p = real(addr, len, prot, flags, fd, off);
    int file = (flags & MAP_ANONYMOUS) || p == MAP_FAILED ? -1 : shim_file(fd);

    if (file >= 0) {
        pthread_mutex_lock(&shim.mu);
        for (int i = 0; i < SHIM_MAPS; i++) {
            if (!shim.maps[i].len) {
                shim.maps[i].addr = (uintptr_t)p;
                shim.maps[i].len = len;
                shim.maps[i].file = file;
                break;
            }
        }
        pthread_mutex_unlock(&shim.mu);
    }
    return p;
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
    pthread_mutex_lock(&shim.mu);
    for (int i = 0; i < SHIM_MAPS; i++)
        if (shim.maps[i].len && shim.maps[i].addr == (uintptr_t)addr)
            shim.maps[i].len = 0;
    pthread_mutex_unlock(&shim.mu);
    return shim.munmap(addr, len);
}

/* Called by the workload (found with dlsym): a mark in order with the I/O. */
__attribute__((visibility("default"))) void crashimg_mark(uint32_t kind, uint64_t value)
{
    shim_ready();
    if (shim.log < 0)
        return;
    pthread_mutex_lock(&shim.mu);
    shim_log(CRASHIMG_MARK, kind, value, 0, NULL, 0);
    pthread_mutex_unlock(&shim.mu);
}
