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
#include "shim.h"

#include <fcntl.h>

#include "crashimg.h"

static struct {
    int log;
    uint64_t seq;
    pthread_mutex_t mu;
} shim = {.log = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

__attribute__((constructor)) static void shim_configure(void)
{
    const char *v;

    shim_ready();
    shim_watch("JOURNAL_CRASHIMG_DIR");
    v = getenv("JOURNAL_CRASHIMG_LOG");
    if (v && *v)
        shim.log = open(v, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
}

/* The recorded file fd refers to (0 or 1), or -1. */
static int shim_file(int fd)
{
    char target[PATH_MAX];
    const char *base;

    if (shim.log < 0 || !(base = shim_fd_name(fd, target)))
        return -1;
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
    if (real.writev(shim.log, v, nv) != (ssize_t)want)
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
    SHIM_WRITE(fd, lseek(fd, 0, SEEK_CUR), &v, 1, real.write(fd, buf, len));
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = {(void *)buf, len};
    shim_ready();
    SHIM_WRITE(fd, off, &v, 1, real.pwrite(fd, buf, len, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    struct iovec v = {(void *)buf, len};
    shim_ready();
    SHIM_WRITE(fd, off, &v, 1, real.pwrite64(fd, buf, len, off));
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    shim_ready();
    SHIM_WRITE(fd, lseek(fd, 0, SEEK_CUR), iov, n, real.writev(fd, iov, n));
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    SHIM_WRITE(fd, off, iov, n, real.pwritev(fd, iov, n, off));
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    SHIM_WRITE(fd, off, iov, n, real.pwritev64(fd, iov, n, off));
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
    return real.fsync(fd);
}

static int real_fdatasync(int fd, void *addr, size_t len)
{
    (void)addr, (void)len;
    return real.fdatasync(fd);
}

static int msync_flags;

static int real_msync(int fd, void *addr, size_t len)
{
    (void)fd;
    return real.msync(addr, len, msync_flags);
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
    int file;
    shim_ready();
    file = shim_map_tag(addr);
    if (file < 0 || !(flags & MS_SYNC))
        return real.msync(addr, len, flags);
    msync_flags = flags;
    return shim_sync(file, real_msync, -1, addr, len);
}

static int shim_truncate(int (*fn)(int, off_t), int fd, off_t len)
{
    int file = shim_file(fd), rc;
    if (file < 0)
        return fn(fd, len);
    pthread_mutex_lock(&shim.mu);
    rc = fn(fd, len);
    if (rc == 0)
        shim_log(CRASHIMG_TRUNC, (uint32_t)file, (uint64_t)len, 0, NULL, 0);
    pthread_mutex_unlock(&shim.mu);
    return rc;
}

int ftruncate(int fd, off_t len)
{
    shim_ready();
    return shim_truncate(real.ftruncate, fd, len);
}

int ftruncate64(int fd, off_t len)
{
    shim_ready();
    return shim_truncate(real.ftruncate64, fd, len);
}

/* A mapping of a recorded file is remembered, for msync, by its file. */
static int shim_map_check(int fd, int *tag)
{
    *tag = shim_file(fd);
    return 0;
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
