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
#include "shim.h"

#include <stdatomic.h>

static struct {
    unsigned long at;
    int err;
    int persist;
    int after;
    atomic_ulong counted;
    atomic_ulong failed;
} shim;

/* The settings are read by a constructor, not at the first call: a
 * sanitizer runtime calls mmap and write while it starts, before the
 * environment can be read. Calls before this are not counted. */
__attribute__((constructor)) static void shim_configure(void)
{
    const char *v;

    shim_ready();
    shim_watch("JOURNAL_FAULT_DIR");
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
    char target[PATH_MAX];
    return shim_fd_name(fd, target) != NULL;
}

/* Whether addr lies in a mapping of such a file. */
static int shim_watched_addr(const void *addr)
{
    return shim_map_tag(addr) >= 0;
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
        SHIM_FAIL(real.write(fd, buf, len));
    return real.write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.pwrite(fd, buf, len, off));
    return real.pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.pwrite64(fd, buf, len, off));
    return real.pwrite64(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.writev(fd, iov, n));
    return real.writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.pwritev(fd, iov, n, off));
    return real.pwritev(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.pwritev64(fd, iov, n, off));
    return real.pwritev64(fd, iov, n, off);
}

int fsync(int fd)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.fsync(fd));
    return real.fsync(fd);
}

int fdatasync(int fd)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.fdatasync(fd));
    return real.fdatasync(fd);
}

int msync(void *addr, size_t len, int flags)
{
    shim_ready();
    if (shim_watched_addr(addr) && shim_fails())
        SHIM_FAIL(real.msync(addr, len, flags));
    return real.msync(addr, len, flags);
}

int ftruncate(int fd, off_t len)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.ftruncate(fd, len));
    return real.ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    shim_ready();
    if (shim_watched_fd(fd) && shim_fails())
        SHIM_FAIL(real.ftruncate64(fd, len));
    return real.ftruncate64(fd, len);
}

/* A mapping of a watched file is counted, and remembered (tag 0) for
 * msync. */
static int shim_map_check(int fd, int *tag)
{
    *tag = shim_watched_fd(fd) ? 0 : -1;
    return *tag == 0 && shim_fails() ? shim.err : 0;
}

__attribute__((destructor)) static void shim_report(void)
{
    char line[96];
    int n;

    shim_ready();
    n = snprintf(line, sizeof line, "faultshim: counted=%lu failed=%lu\n", atomic_load(&shim.counted),
                 atomic_load(&shim.failed));
    if (n > 0)
        (void)!real.write(STDERR_FILENO, line, (size_t)n);
}
