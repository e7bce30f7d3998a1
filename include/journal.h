/*
 * journal.h - libjournal: named, append-only journals of binary records.
 *
 * This header is the whole public interface of libjournal. Anything not
 * declared here is not API and may change without notice. The manual page
 * and the README are written from the comments in this file. A sentence
 * that starts with ^ is an exact promise, one a test can check (the mark
 * is sqlite3.h's); the rest is explanation.
 *
 * OVERVIEW
 *
 * A *store* is where journals are kept: a directory, in which LMDB keeps
 * the data, or a schema of a PostgreSQL database, named by a
 * postgresql:// URL (see POSTGRESQL). A store holds any number of
 * *journals*, each known by a name of 1 to 255 bytes. A journal is
 * a sequence of binary records at positions 0, 1, 2, ... Records are only
 * ever appended at the end and removed from the beginning, so the readable
 * records are always the half-open range [begin, end) given by
 * journal_bounds(). A new journal is [0, 0).
 *
 * Concurrency is optimistic: journal_append(j, end, ...) writes only when
 * `end` is the journal's current end. A writer reads the end, prepares its
 * record, appends there, and on JOURNAL_ECONFLICT (someone else appended
 * first) reads the end again and retries. The check and the write are one
 * transaction, so two writers can never both succeed at the same position,
 * whether they are threads, processes or, on PostgreSQL, hosts.
 *
 * Reads come in two kinds. journal_get() copies a record into memory the
 * caller frees. A snapshot (journal_snapshot_begin()) is a consistent
 * read-only view of one journal; journal_snapshot_get() returns a pointer
 * straight into the store's memory map, with no copy, valid until the
 * snapshot is renewed or ended.
 *
 * Results: every function that can fail returns 0 on success and a negative
 * code on failure: either one of the JOURNAL_E* codes below or a negated
 * errno value (-EINVAL, -ENOMEM, -ENOENT, -EACCES, -ENOSPC, -EIO, ...).
 * LMDB's and PostgreSQL's own codes never reach the caller.
 * journal_strerror() describes any of them. New codes may be added.
 *
 * CAVEATS (read these before you design around the library)
 *
 * - fork(): handles do not survive fork(). In a child, every call on a store,
 *   journal or snapshot handle inherited from the parent returns
 *   JOURNAL_EFORK and touches nothing; journal_store_close(),
 *   journal_close() and journal_snapshot_end() on inherited handles only
 *   release the child's memory. ^In a child, journal_store_close() of an
 *   inherited store returns 0 even when journals or snapshots of it were
 *   open at the fork (in other threads of the parent, say); its memory is
 *   released with the last inherited handle the child closes. The child
 *   may open the store again itself.
 * - Do not open the same store twice in one process: open it once and share
 *   the handle between threads (it is thread-safe). Opening it twice works
 *   but closing one handle releases the POSIX locks of the other (this is
 *   LMDB's rule; see lmdb.h, "Caveats").
 * - Snapshots and running journal_range() calls pin the pages they read.
 *   Long-lived snapshots make the data file grow, because pages they can see
 *   cannot be reused. Renew or end them regularly.
 * - The memory map grows by itself. Growing it in a process means mapping
 *   the file again, which is possible only while no snapshot and no
 *   journal_range() of that process is open. The library grows the map
 *   early, while it is half full, whenever that is the case. A process must
 *   also map again when other processes have grown the data past its map.
 *   When it must and snapshots of the process stay open for a whole second,
 *   the call returns JOURNAL_EBUSY instead of invalidating their pointers:
 *   a write when the map is full, and any read (bounds, get, range,
 *   snapshot begin or renew) when other processes grew the data past this
 *   process's map. Reads through the open snapshots keep working, and all
 *   calls work again once the snapshots end. With the default map size
 *   (1 GiB, doubled at each step) this needs a store that has grown by half
 *   its map while snapshots were always open.
 * - Store handles are limited by the threads' keys of the process
 *   (PTHREAD_KEYS_MAX, 1024 on glibc), as in LMDB: open stores once.
 * - A store lives on a local file system. LMDB's locking does not work over
 *   NFS or other network file systems.
 *
 * DURABILITY
 *
 * By default a write (append, batch, truncate) is on disk when the call
 * returns 0: data pages and the root page are both synced. A crash of the
 * process or of the machine keeps every write that returned 0.
 * With JOURNAL_NOSYNC nothing is synced when a write commits (it is
 * visible to every process at once, and a crash of the process loses
 * nothing). Every 50 ms (opts.sync_interval_ms), or sooner when the data
 * grows fast (opts.sync_bytes appended, or the file grown by an eighth, at
 * most 16 MiB, since the last steady point), a background
 * thread makes the latest commit a *steady point*: it syncs the data file
 * and records the commit in the side file "steady" of the store, and its
 * pages are not reused until the next steady point is recorded. After a
 * crash of the machine (any restart that did not follow a clean close: a
 * new boot id), the first writable open goes back to the last steady
 * point, under a lock, before anything else reads the file: a machine
 * crash undoes at most the writes acknowledged after the last steady
 * point that completed (the interval plus the time of one sync), never
 * corrupts the store, never leaves a gap. journal_store_sync() and
 * journal_store_close() make the last commit steady. A JOURNAL_RDONLY open
 * of a store that must go back first returns -EAGAIN and changes nothing:
 * open it writable once. The cost: pages freed since the last steady point
 * cannot be reused yet, so the data file holds about two intervals' worth
 * of freed pages more than with durable writes; a write that finds the file
 * grown by twice that budget since the last steady point waits for one
 * (each 100-byte append dirties about six fresh 4 KiB pages meanwhile:
 * doc/steady.md). Once a store has been
 * opened with JOURNAL_NOSYNC, its durable handles commit the same way and
 * take a steady point before each call returns (two syncs, as before).
 * Steady points need the machine's boot id (/proc/sys/kernel/random/boot_id)
 * to tell a restart from a live process's unsynced commits. Where it cannot
 * be read, JOURNAL_NOSYNC syncs the data of each commit but not its root
 * page (a machine crash may undo the last commit, never corrupt), and an
 * open of a store that has steady points, or a write once another process
 * gave it some, returns -ENOTSUP.
 * A write that failed with an I/O error (-EIO, -ENOSPC) was not
 * acknowledged, but may still have reached the disk (a sync can report an
 * error for data it wrote): after reopening, the store holds every
 * acknowledged write, and possibly such a write at the position it was
 * made for, never anything else. After a failed commit the store may refuse
 * every call with -EIO until it is closed and opened again.
 * ^A write that fails because the file system is full returns -ENOSPC
 * (LMDB reports a write the file system cut short as EIO; the library
 * gives -ENOSPC when the data file's file system then has less than 1 MiB
 * left for the process), and ^writes work again in the same process, with
 * no reopening, as soon as space is freed. Removing records writes pages
 * too, so on a full file system journal_truncate() may itself fail with
 * -ENOSPC (having removed a prefix at most); free space outside the store
 * first, or leave room with max_size (JOURNAL_EFULL comes first then).
 * journal_store_sync() forces all pending writes to disk.
 *
 * DAMAGED FILES (LMDB stores)
 *
 * LMDB 0.9 trusts its data file: a flipped bit in a page header or a node
 * offset sends its cursor outside the page or the map, or into one of its
 * assertions. The library reads a file it may not trust itself, with
 * pread() and every bound checked before it is followed (page numbers
 * within the pages in use and the file, the page's own number in its
 * header, flags fit for the page's level, node offsets, key and value
 * sizes within the page, keys in order and within their parent's range,
 * overflow pages within the file, the depth). What this gives:
 * - ^journal_store_open() checks both meta pages (magic, page size, last
 *   page, the databases' roots and depths) and that the file holds every
 *   page they count, before LMDB maps it; then the pages of the main and
 *   meta databases (a few, whatever the store's size). A damaged one gives
 *   JOURNAL_ECORRUPT (a meta page of another LMDB version:
 *   JOURNAL_EVERSION).
 * - ^journal_store_check() walks every page this way and never lets LMDB's
 *   cursor read the trees: on any damaged file it ends with
 *   JOURNAL_ECORRUPT and reports where (see journal_store_check()).
 * - ^With JOURNAL_VERIFY, every read (journal_open(), bounds, get, range,
 *   snapshots, journal_store_list(), journal_store_stat()) first checks the
 *   pages it is about to follow in its own read transaction: the path to
 *   the journal's catalog entry, the records it reads and the page a cursor
 *   moving past them steps into (a range checks up to 1024 records ahead of
 *   its cursor). A damaged page gives JOURNAL_ECORRUPT for every record on
 *   it, never a crash. The cost is a second read of each page followed, by
 *   pread(). journal-dump opens stores this way.
 * - Without JOURNAL_VERIFY, reads check what costs a compare per record:
 *   ^a key or value reaching past the pages in use gives JOURNAL_ECORRUPT
 *   instead of a pointer that would raise SIGBUS in the caller. Other
 *   damage in a page a read follows (its flags, a node offset) may still
 *   crash the process inside LMDB (SIGSEGV, or abort() on LMDB's
 *   assertions): use JOURNAL_VERIFY, or journal_store_check() first, for a
 *   file you do not trust.
 * Not covered: a file damaged or cut short while the store is open (the
 * checks hold for what they read); writes, which read pages through LMDB
 * unchecked; and journal_store_copy() with JOURNAL_COPY_COMPACT, which
 * walks the trees through LMDB. Do not write to or compact a store that
 * journal_store_check() finds damaged; read what is readable out of it. ^Reads and the check never
 * change the file. Tests: tests/test_damaged.c, tests/fuzz/fuzz_store.c.
 *
 * POSTGRESQL
 *
 * journal_store_open() with a "postgresql://" or "postgres://" URL opens a
 * store kept in PostgreSQL; any other string is a directory. libjournal
 * does not link libpq, PostgreSQL's client library: ^it loads libpq.so.5
 * at the first open of a URL, so a program that only opens directories
 * never loads it. ^When libpq.so.5 cannot be loaded (package libpq5 on
 * Debian and Ubuntu), or the library was built without this backend
 * (make PG=0), the open returns -EPROTONOSUPPORT and
 * journal_store_errmsg(NULL) says which, naming the package. The URL
 * is libpq's (host, port, user, dbname, sslmode, a Unix socket directory as
 * host=/path, ...), plus the library's own parameter journal_schema=NAME
 * (default "journal"), removed before the URL reaches libpq. One store is
 * one schema, so one database holds any number of stores. ^NAME is 1 to 63
 * letters, digits or _, not starting with a digit or "pg_"; anything else,
 * or the parameter given twice, gives -EINVAL. The schema and its tables
 * are created when missing (-ENOENT with JOURNAL_RDONLY); a schema that
 * holds other tables is not taken over (JOURNAL_ECORRUPT). The schema has
 * three tables: meta(key, value) with the row ('format', '1'),
 * journals(id, name bytea, begin_pos, end_pos, waiters) and
 * records(journal, pos, data bytea), keyed by (journal, pos); waiters is
 * unused (kept so that stores made earlier open unchanged). Other programs
 * may read the tables; writing them bypasses the library's checks.
 *
 * Every function works with the same meaning and codes as on LMDB, with
 * these differences:
 * - Durable means committed with the server's synchronous_commit (on by
 *   default: the WAL is flushed before the commit is acknowledged).
 *   JOURNAL_NOSYNC sets synchronous_commit = off for the store's sessions:
 *   a server crash may lose the last commits (up to 3 x wal_writer_delay),
 *   never corrupt; journal_store_sync() flushes them.
 * - Connection failures, from the server's SQLSTATE when it sent one, else
 *   from the system's error: -ECONNREFUSED (no server at that address, or
 *   one starting up or shutting down, 57P03), -ETIMEDOUT (connect_timeout,
 *   applied to each host), -EHOSTUNREACH (unknown host), -EACCES
 *   (authentication and roles, class 28, and privileges, 42501), -ENOENT
 *   (no such database, 3D000), -EINVAL (malformed URL), -ECONNRESET (the
 *   connection broke or the server ended the session during the call:
 *   class 08, 57P01 to 57P02, also during a shutdown), JOURNAL_EREADERS
 *   (the server's max_connections reached, 53300), -EIO otherwise.
 *   journal_store_errmsg() gives the server's or libpq's message.
 * - A write that fails with -ECONNRESET may or may not have been committed
 *   (the connection broke before the answer came): read the bounds; a retry
 *   at the old end gets JOURNAL_ECONFLICT if it was. ^Every call that
 *   returned 0 is committed.
 * - Connections: a store handle takes a connection per running call, so
 *   any number of threads may use it at once, from a pool that keeps as
 *   many idle connections as calls ran at once, up to 32, and closes the
 *   ones left unused for 60 seconds. ^A snapshot, a running
 *   journal_range() and a journal_wait() each hold one connection until
 *   they end, so the snapshots open at once are limited by the server's
 *   max_connections (JOURNAL_EREADERS past it).
 *   After a server restart, idle connections are replaced without error;
 *   calls that were running fail once with -ECONNRESET, a snapshot then can
 *   only be ended. Any number of processes and hosts may use one store.
 * - Zero copy stops at libpq: a snapshot get copies the record into memory
 *   of the snapshot, in blocks of 64 KiB, freed by renew (which keeps one
 *   block) and end. ^Each get holds its record's length rounded up to 8
 *   bytes until then: 105 bytes per get of a 100-byte record, measured.
 * - Positions are at most INT64_MAX. Records up to 1 GiB - 1 byte (PostgreSQL's
 *   limit for one value; -EMSGSIZE above); a batch up to 1 GiB in all
 *   (-E2BIG above).
 * - journal_wait() uses LISTEN/NOTIFY on a channel named after the schema:
 *   the waiter holds an advisory lock of its journal, shared, for its
 *   session, and an append to a journal whose lock is held notifies in its
 *   own transaction. ^No wake-up is lost. ^A waiter leaves nothing behind:
 *   the server releases its lock when its session ends, also when it is
 *   killed or the server restarts, and appends stop notifying. ^timeout_ms
 *   bounds every statement of the call (one still running at the deadline
 *   is cancelled), except making a new connection, which connect_timeout
 *   bounds. It needs a primary server (LISTEN).
 * - journal_truncate() locks the journal's row before it reads the
 *   bounds: ^racing appends make it return 0 or JOURNAL_EBEYOND only.
 * - journal_store_copy(): dest must be a postgresql:// URL (another schema
 *   of this database or of another server) whose schema is missing or
 *   empty (-EEXIST otherwise; a directory gives -ENOTSUP). The copy is
 *   read from one REPEATABLE READ snapshot and written in one transaction
 *   (nothing remains on failure). JOURNAL_COPY_COMPACT changes nothing.
 * - journal_store_stat(): format_version, page_size (the server's
 *   block_size), file_size = used_size (bytes of the three tables with
 *   their indexes and TOAST), journals and records; map_size, readers_used
 *   and max_readers are 0. journal_store_check() checks the same invariants.
 * - JOURNAL_VERIFY changes nothing: the server checks its own pages.
 * - max_size, map_size, max_readers and mode do not apply (max_size below
 *   64 KiB is still -EINVAL); the CAVEATS about the map, reader slots,
 *   lock files, fork() of an LMDB environment and NFS are LMDB's; handles
 *   still do not survive fork() (JOURNAL_EFORK).
 *
 * GROWING STRUCTS
 *
 * journal_options (read by the library), journal_stat and journal_counters
 * (written by it) may gain fields in later versions, at their end only and
 * in whole 8-byte units, so that no padding ever lies between an older
 * struct's end and a new field. The calls that take them also take their
 * size: journal_store_open(), journal_store_stat() and
 * journal_store_counters() are macros that call journal_store_open_sized(),
 * journal_store_stat_sized() and journal_store_counters_sized() with the
 * sizeof of the program's own header, as Linux's statx(), clone3() and
 * openat2() take their struct's size. So a program and a library of
 * different versions agree on what each side may touch:
 * - ^The library reads and writes no byte of the struct past the size
 *   passed. ^Options past it take their defaults, as when they are 0: a
 *   program built with an older, smaller struct works unchanged.
 * - A program built with a newer, larger struct works with an older
 *   library: ^the fields that library does not know are read as 0 after
 *   stat and counters, and ^open returns -E2BIG, creating nothing, when one
 *   of the options it does not know is not 0.
 * - ^A size above 4096 gives -EINVAL; opts NULL means the defaults
 *   whatever opts_size.
 * Bindings from other languages call the _sized functions with their own
 * struct's size. The functions named like the macros are exported too, for
 * callers that do not expand the macros (a function pointer, a binding):
 * ^they take the structs as version 0.1 defines them, whatever later
 * versions add.
 *
 * POINTER LIFETIMES
 *
 * - journal_get(): *rec is the caller's, to free() with free().
 * - journal_range() and journal_snapshot_range(): `rec` passed to the
 *   callback is valid during that call of the callback only.
 * - journal_snapshot_get(): *rec is valid until journal_snapshot_renew() or
 *   journal_snapshot_end() on that snapshot; it points into read-only
 *   memory and must not be written or freed.
 * - journal_name(): valid until journal_close().
 * - journal_strerror(), journal_version(): static strings.
 *
 * HANDLE LIFETIMES
 *
 * Handles are freed when nothing of the library needs them any more, so
 * every order below is allowed and touches no freed memory:
 * - ^A snapshot outlives the journal handle it was begun from: after
 *   journal_close(j), its snapshots work as before, and end as usual.
 * - ^journal_close(j) inside a callback of journal_range(j, ...) (or of a
 *   journal_snapshot_range() of a snapshot of j) releases the handle when
 *   the range returns; the range goes on to its end as if nothing happened
 *   (return JOURNAL_STOP from the callback to stop it). The caller must not
 *   use j after its own journal_close(j).
 * - ^journal_snapshot_end(snap) inside a callback of
 *   journal_snapshot_range(snap, ...) ends the snapshot when that range
 *   returns (the range goes on; records it delivers stay valid during their
 *   callbacks); any other call on snap from then on returns -EINVAL.
 *   ^journal_snapshot_renew(snap) inside such a callback returns
 *   JOURNAL_EBUSY and changes nothing.
 * - ^journal_store_close() returns JOURNAL_EBUSY, and closes nothing, while
 *   journal handles or snapshots of the store exist (a snapshot of a closed
 *   journal counts) or a journal_store_list() or journal_store_check() of
 *   it runs (so also from their callbacks); close those first.
 * - journal_wait() and journal_range() hold their journal handle until
 *   they return, so a journal_close() of the handle by another thread while
 *   they run frees it when they return. Apart from that, as with free(),
 *   a handle must not be closed while other threads may still start a call
 *   on it: the library cannot tell a handle from freed memory. A
 *   journal_wait() with no timeout does not end because its handle was
 *   closed; give waiters a timeout, or append, to stop them.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(JOURNAL_STATIC)
#define JOURNAL_API __attribute__((visibility("default")))
#else
#define JOURNAL_API
#endif

/** Version of this header; journal_version() gives the library's. */
#define JOURNAL_VERSION_MAJOR 0
#define JOURNAL_VERSION_MINOR 1
#define JOURNAL_VERSION_PATCH 0
#define JOURNAL_VERSION_STRING "0.1.0"
/** The same as one integer, MAJOR * 10000 + MINOR * 100 + PATCH, for #if. */
#define JOURNAL_VERSION_NUMBER (JOURNAL_VERSION_MAJOR * 10000 + JOURNAL_VERSION_MINOR * 100 + JOURNAL_VERSION_PATCH)

/** The on-disk format this library writes and reads. */
#define JOURNAL_FORMAT_VERSION 1

/** A position in a journal. The first record of a journal is at 0. */
typedef uint64_t journal_pos;

/** The largest position; never the position of a record. */
#define JOURNAL_POS_MAX UINT64_MAX

/** One store: a directory, or a schema of a PostgreSQL database. Thread-safe. */
typedef struct journal_store journal_store;
/** One named journal in a store. Thread-safe. */
typedef struct journal journal;
/** A read transaction on one journal. One thread at a time. */
typedef struct journal_snapshot journal_snapshot;

/*
 * Result codes. They are negative and lie below -29000, clear of the
 * negated errno values (which are above -4096).
 */
#define JOURNAL_ENOTFOUND (-29001)  /**< no record at that position: truncated, or not yet appended */
#define JOURNAL_ECONFLICT (-29002)  /**< append at a position that holds, or held, a record */
#define JOURNAL_EBEYOND (-29003)    /**< position past the end of the journal */
#define JOURNAL_EFULL (-29004)      /**< the store reached opts.max_size */
#define JOURNAL_ECORRUPT (-29005)   /**< the files are damaged, or are not a journal store */
#define JOURNAL_EVERSION (-29006)   /**< the store was written in an on-disk format this library does not know */
#define JOURNAL_EBUSY (-29007)      /**< the store still has open journals or snapshots (see CAVEATS too) */
#define JOURNAL_EREADONLY (-29008)  /**< a write to a store opened with JOURNAL_RDONLY */
#define JOURNAL_EREADERS (-29009)   /**< every reader slot of the store is in use (see max_readers) */
#define JOURNAL_EFORK (-29010)      /**< a handle used in a child process after fork() */
#define JOURNAL_ELAST JOURNAL_EFORK /**< the lowest code in use */

/** Returned by a callback: stop early, without error. */
#define JOURNAL_STOP 1

/* Flags of journal_options.flags. */
#define JOURNAL_RDONLY 0x1u /**< open for reading only; create nothing */
#define JOURNAL_NOSYNC 0x2u /**< do not sync the root page on each commit (see DURABILITY) */
#define JOURNAL_VERIFY 0x4u /**< reads check each page before following it (see DAMAGED FILES) */

/** Options of journal_store_open(). All-zero means the defaults. May grow
 * (see GROWING STRUCTS): initialise it whole, `journal_options o = {0};`. */
typedef struct journal_options {
    uint64_t max_size;    /**< bytes the store may grow to, at least 64 KiB; 0: no limit but the disk */
    unsigned max_readers; /**< snapshots open at once, all processes together; 0: default (4096) */
    unsigned flags;       /**< JOURNAL_RDONLY | JOURNAL_NOSYNC | JOURNAL_VERIFY */
    unsigned mode;        /**< permission bits of files created; 0: 0644 */
    uint64_t map_size;    /**< initial size of the map (at least 64 KiB); 0: 1 GiB, or max_size if smaller */

    /** JOURNAL_NOSYNC: the longest time between steady points, in
     * milliseconds (see DURABILITY); 0: 50. */
    unsigned sync_interval_ms;
    /** JOURNAL_NOSYNC: bytes appended by this handle that bring the next
     * steady point early; 0: 16 MiB. */
    uint64_t sync_bytes;
} journal_options;

/** One record, for journal_append_batch(). */
typedef struct journal_record {
    const void *data;
    size_t len;
} journal_record;

/**
 * Called for each record by journal_range() and journal_snapshot_range().
 * `rec` points into the store's map and is valid during this call only.
 * Return 0 to go on, JOURNAL_STOP to stop (the range then returns 0), or a
 * negative code to stop and have the range return that code unchanged.
 */
typedef int (*journal_range_fn)(void *arg, journal_pos pos, const void *rec, size_t len);

/**
 * Called for each journal by journal_store_list(), with its bounds.
 * `name` is NUL-terminated and valid during this call only. Returns as
 * journal_range_fn does.
 */
typedef int (*journal_list_fn)(void *arg, const char *name, journal_pos begin, journal_pos end);

/* ------------------------------------------------------------------------ */
/* Errors and version                                                       */

/**
 * journal_strerror() - a one-line message for a result code.
 * @param[in] err a JOURNAL_E* code, a negated errno, or 0.
 * @return a static string. ^Each JOURNAL_E* message starts with the code's
 * name ("JOURNAL_ECONFLICT: ..."); negated errno values give strerror()'s
 * text; any other value gives "unknown error". Never NULL.
 */
JOURNAL_API const char *journal_strerror(int err);

/**
 * journal_version() - the library's version, "MAJOR.MINOR.PATCH".
 * @return a static string; compare with JOURNAL_VERSION_STRING to detect a
 * header and library that do not match.
 */
JOURNAL_API const char *journal_version(void);

/* ------------------------------------------------------------------------ */
/* Stores                                                                   */

/**
 * journal_store_open() - open a store, creating it when missing.
 * @param[in] path a directory. ^It is created (with mode | 0111 where
 *   readable) when missing, unless JOURNAL_RDONLY. A "postgresql://" or
 *   "postgres://" URL opens a store in PostgreSQL instead (see POSTGRESQL).
 * @param[in] opts options, or NULL for the defaults.
 * @param[in] opts_size (journal_store_open_sized() only) the size of the
 *   caller's journal_options; the journal_store_open() macro passes
 *   sizeof(journal_options) (see GROWING STRUCTS).
 * @param[out] out the new handle, set only on success.
 * @return 0, or:
 *   -EINVAL   NULL path or out, an empty path, an unknown flag, mode
 *             beyond 07777, max_size not 0 and below 64 KiB, opts_size
 *             above 4096;
 *   -ENOENT   JOURNAL_RDONLY and the store does not exist;
 *   -ENOTDIR  path, or one of its parents, is not a directory;
 *   -EACCES   no permission for the directory or its files (a read-only
 *             opener still needs to write the lock file);
 *   -ENOMEM   out of memory;
 *   -EAGAIN   no thread key left (see CAVEATS);
 *   JOURNAL_ECORRUPT the files are damaged or are not a journal store (an
 *             LMDB environment made by another program, a data file shorter
 *             than its contents, a damaged meta page or a damaged page of
 *             the main or meta database: see DAMAGED FILES);
 *   JOURNAL_EVERSION the store uses an on-disk format this library does
 *             not know, or LMDB's lock file format differs;
 *   JOURNAL_EREADERS every reader slot is in use by live processes;
 *   -EPROTONOSUPPORT a PostgreSQL URL, and libpq.so.5 cannot be loaded or
 *             the library was built without that backend (see POSTGRESQL);
 *   -E2BIG    opts, from a newer header, sets an option this library does
 *             not know (see GROWING STRUCTS);
 *   another negated errno from the file system.
 * ^A failed open changes no file that existed before the call.
 * Opening reclaims the reader slots of processes that died.
 */
JOURNAL_API int journal_store_open_sized(const char *path, const journal_options *opts, size_t opts_size,
                                         journal_store **out);
/* The structs of version 0.1 (see GROWING STRUCTS); programs call the macro below. */
JOURNAL_API int journal_store_open(const char *path, const journal_options *opts, journal_store **out);
#define journal_store_open(path, opts, out) journal_store_open_sized((path), (opts), sizeof(journal_options), (out))

/**
 * journal_store_close() - close a store.
 * @return 0; JOURNAL_EBUSY, closing nothing, while journals or snapshots
 * of the store are open, or a journal_store_list() or journal_store_check()
 * runs (see HANDLE LIFETIMES). ^journal_store_close(NULL) does nothing and
 * returns 0. Must not run while other threads use the store. In a child
 * after fork(), see CAVEATS.
 */
JOURNAL_API int journal_store_close(journal_store *s);

/**
 * journal_store_sync() - force every committed write of this store to disk.
 * Useful with JOURNAL_NOSYNC; without it, commits are already on disk.
 * @return 0, -EINVAL (NULL), JOURNAL_EREADONLY, JOURNAL_EFORK, or a negated
 * errno from the file system (-EIO, -ENOSPC).
 */
JOURNAL_API int journal_store_sync(journal_store *s);

/**
 * journal_store_list() - call fn for each journal, in byte order of names.
 * All calls see one consistent state of the store. fn may call any function
 * of the library (journal_store_close() of s then returns JOURNAL_EBUSY).
 * fn's return value works as in journal_range().
 * @return 0, -EINVAL (NULL s or fn), JOURNAL_EFORK, JOURNAL_EREADERS,
 * JOURNAL_ECORRUPT, or the negative value fn returned.
 */
JOURNAL_API int journal_store_list(journal_store *s, journal_list_fn fn, void *arg);

/** Flags of journal_store_copy(). */
#define JOURNAL_COPY_COMPACT 0x1u /**< omit free pages and renumber: a smaller copy */

/**
 * journal_store_copy() - write a consistent copy of a live store.
 * The copy is taken from one read snapshot while other threads and
 * processes keep writing, and opens as a normal store.
 * @param[in] dest a directory that does not exist yet (it is created) or is
 *   empty.
 * @return 0, -EINVAL (NULL, unknown flag), -EEXIST (dest holds a store),
 * JOURNAL_EFORK, or a negated errno from the file system. On failure the
 * partial copy is removed.
 */
JOURNAL_API int journal_store_copy(journal_store *s, const char *dest, unsigned flags);

/** Statistics of a store (type journal_stat), from journal_store_stat(). */
typedef struct journal_stat {
    unsigned format_version; /**< on-disk format (JOURNAL_FORMAT_VERSION) */
    unsigned page_size;      /**< bytes per page */
    uint64_t map_size;       /**< bytes mapped by this process */
    uint64_t file_size;      /**< bytes of the data file */
    uint64_t used_size;      /**< bytes up to the last page in use (free pages included) */
    uint64_t journals;       /**< number of journals */
    uint64_t records;        /**< number of records, all journals together */
    unsigned readers_used;   /**< reader slots in use, all processes */
    unsigned max_readers;    /**< reader slots in the lock file */
} journal_stat;

/**
 * journal_store_stat() - read statistics of a store into *st, which is
 * written only on success. A macro calling journal_store_stat_sized() with
 * sizeof(journal_stat) (see GROWING STRUCTS).
 * @return 0, -EINVAL (NULL s or st, st_size above 4096), JOURNAL_EFORK,
 * JOURNAL_EREADERS, or a negated errno.
 */
JOURNAL_API int journal_store_stat_sized(journal_store *s, journal_stat *st, size_t st_size);
/* The structs of version 0.1 (see GROWING STRUCTS); programs call the macro below. */
JOURNAL_API int journal_store_stat(journal_store *s, journal_stat *st);
#define journal_store_stat(s, st) journal_store_stat_sized((s), (st), sizeof(journal_stat))

/**
 * journal_store_errmsg() - the message behind the last failure: on a
 * PostgreSQL store, the server's or libpq's message of the calling thread's
 * last failed call on s; with s NULL, that of the thread's last failed
 * journal_store_open() of a PostgreSQL URL. LMDB stores have no message
 * beyond their codes: "". Never NULL.
 * @return a string valid until the thread's next failing call.
 */
JOURNAL_API const char *journal_store_errmsg(const journal_store *s);

/**
 * journal_store_path() - the path or URL the store was opened with.
 * @return a string valid until journal_store_close(); NULL for NULL.
 */
JOURNAL_API const char *journal_store_path(const journal_store *s);

/**
 * Called by journal_store_check() for each problem found. `name` is the
 * journal's name, or NULL for a problem of the store as a whole; both
 * strings are valid during the call only.
 */
typedef void (*journal_check_fn)(void *arg, const char *name, const char *problem);

/**
 * journal_store_check() - verify the store's consistency, in one snapshot.
 * On LMDB, first the data file, page by page (see DAMAGED FILES): both meta
 * pages, then every page of the free, main, meta, catalog and records
 * databases, with every bound checked before it is followed, no page
 * reached twice, none both in use and on the free list, and each
 * database's page and entry counts. Then the library's invariants: the
 * format record, each journal's catalog entry (bounds in order), a record
 * at every position in [begin, end), no record outside it, and no record
 * of an unknown journal. Reports each problem to fn (which may be NULL)
 * and goes on; a damaged page is reported once and what lies below it is
 * skipped. ^A problem in a page says where: the database, the page number,
 * what is wrong, and for the records the journal (the `journal` argument)
 * and the first position the page may hold, as in "records database, page
 * 1234: node 3 at offset 70000, outside the node area 2048..4096 (from
 * position 51200)". ^The file is read with pread() under a read
 * transaction (a live writer cannot reuse the pages read), never changed,
 * and no damaged file makes the check crash or hang.
 * @return 0 when the store is consistent, JOURNAL_ECORRUPT when any problem
 * was found, or another error that stopped the check (-EINVAL,
 * JOURNAL_EFORK, JOURNAL_EREADERS, -ENOMEM, -EIO, JOURNAL_EBUSY when
 * writers commit so fast that the meta page of the check's snapshot is
 * rewritten a thousand times in a row before it is read).
 */
JOURNAL_API int journal_store_check(journal_store *s, journal_check_fn fn, void *arg);

/** Per-store counters since open, from journal_store_counters(). */
typedef struct journal_counters {
    uint64_t appends;        /**< records appended by this handle */
    uint64_t bytes_appended; /**< bytes of those records */
    uint64_t conflicts;      /**< appends that returned JOURNAL_ECONFLICT */
    uint64_t gets;           /**< records read by journal_get() and snapshot gets */
    uint64_t range_records;  /**< records delivered to range callbacks */
    uint64_t truncated;      /**< records removed by journal_truncate() */
} journal_counters;

/**
 * journal_store_counters() - read this handle's counters (this process
 * only). Counting is a relaxed atomic add: cheap, and exact once the
 * counted calls have returned. A macro calling
 * journal_store_counters_sized() with sizeof(journal_counters) (see
 * GROWING STRUCTS).
 * @return 0, or -EINVAL (NULL s or out, out_size above 4096).
 */
JOURNAL_API int journal_store_counters_sized(journal_store *s, journal_counters *out, size_t out_size);
/* The structs of version 0.1 (see GROWING STRUCTS); programs call the macro below. */
JOURNAL_API int journal_store_counters(journal_store *s, journal_counters *out);
#define journal_store_counters(s, out) journal_store_counters_sized((s), (out), sizeof(journal_counters))

/* ------------------------------------------------------------------------ */
/* Journals                                                                 */

/**
 * journal_open() - open the journal `name`, creating it on first open.
 * One journal may be open through several handles, threads and processes
 * at once; ^an append through one handle is visible through every other as
 * soon as it returns.
 * @param[in] name 1 to 255 bytes, NUL-terminated (so no NUL inside).
 * @param[out] out the new handle, set only on success.
 * @return 0, or -EINVAL (NULL argument, empty name, name over 255 bytes),
 * -ENOENT (JOURNAL_RDONLY and no such journal), -ENOMEM, JOURNAL_EFORK,
 * JOURNAL_EFULL, JOURNAL_EREADERS, or an error of the write transaction
 * that creates the journal.
 */
JOURNAL_API int journal_open(journal_store *s, const char *name, journal **out);

/**
 * journal_close() - release a journal handle. ^journal_close(NULL) does
 * nothing. The journal and its records stay in the store. Snapshots begun
 * from j and a journal_range() of j running below on the stack keep the
 * handle's memory until they end (see HANDLE LIFETIMES).
 * @return 0.
 */
JOURNAL_API int journal_close(journal *j);

/** journal_name() - the journal's name; valid until journal_close(). */
JOURNAL_API const char *journal_name(const journal *j);

/**
 * journal_bounds() - the readable range [*begin, *end).
 * ^A new journal is [0, 0). ^After every record is truncated,
 * begin == end == the old end, also after the store is reopened.
 * Either out-pointer may be NULL.
 * @return 0, -EINVAL (NULL j), JOURNAL_EFORK, JOURNAL_EREADERS,
 * JOURNAL_ECORRUPT, or JOURNAL_EBUSY (see CAVEATS, map growth).
 */
JOURNAL_API int journal_bounds(journal *j, journal_pos *begin, journal_pos *end);

/**
 * journal_get() - copy the record at pos.
 * @param[out] rec a malloc()ed copy, which the caller releases with free();
 *   a zero-length record still gives a non-NULL pointer.
 * @param[out] len its length.
 * @return 0, or JOURNAL_ENOTFOUND (pos outside [begin, end), UINT64_MAX
 * included), -EINVAL (NULL argument), -ENOMEM, JOURNAL_EFORK,
 * JOURNAL_EREADERS, JOURNAL_ECORRUPT, JOURNAL_EBUSY (see CAVEATS). *rec and *len are set only on success.
 */
JOURNAL_API int journal_get(journal *j, journal_pos pos, void **rec, size_t *len);

/**
 * journal_range() - call fn for each record from `from` to the end, in
 * order, inside one read snapshot taken when the call starts: ^records
 * appended after that are not delivered, ^records truncated during the
 * call still are. fn may call any function of the library, append and
 * truncate on the same journal included, without deadlock, and
 * journal_close(j) too (the handle is then released when the range
 * returns; see HANDLE LIFETIMES).
 * @return 0 (also when fn returned JOURNAL_STOP), JOURNAL_ENOTFOUND (`from`
 * outside [begin, end); fn is never called), -EINVAL (NULL j or fn),
 * JOURNAL_EFORK, JOURNAL_EREADERS, JOURNAL_ECORRUPT, JOURNAL_EBUSY (see
 * CAVEATS), or the negative value fn returned.
 */
JOURNAL_API int journal_range(journal *j, journal_pos from, journal_range_fn fn, void *arg);

/**
 * journal_append() - append one record at `end`, which must be the current
 * end of the journal.
 * The check and the write are one transaction. ^Nothing is written when
 * the call fails. The record is copied; len may be 0 (rec may then be
 * NULL); records up to 4 GiB - 1 bytes are accepted.
 * @return 0, or:
 *   JOURNAL_ECONFLICT `end` is below the current end (another writer came
 *             first, or the position was truncated): read the bounds again;
 *   JOURNAL_EBEYOND   `end` is above the current end;
 *   JOURNAL_EREADONLY the store was opened with JOURNAL_RDONLY;
 *   JOURNAL_EFULL     the store reached max_size (truncate to make room);
 *   JOURNAL_EBUSY     the map must grow and snapshots of this process stayed
 *                     open (see CAVEATS);
 *   -EINVAL  NULL j, or NULL rec with len > 0;
 *   -EMSGSIZE len is 4 GiB or more;
 *   -ENOSPC   the file system is full (see DURABILITY); nothing was
 *             acknowledged, and appends work again once space is freed;
 *   -EIO, ... the file system failed; nothing was acknowledged;
 *   JOURNAL_EFORK, JOURNAL_ECORRUPT.
 */
JOURNAL_API int journal_append(journal *j, journal_pos end, const void *rec, size_t len);

/**
 * journal_append_batch() - append n records at end, end+1, ... in one
 * transaction: all or nothing, with the errors of journal_append().
 * ^n == 0 writes nothing and returns 0 when end is the current end.
 * @return as journal_append(), and -E2BIG when the batch is too large for
 * one transaction (split it).
 */
JOURNAL_API int journal_append_batch(journal *j, journal_pos end, const journal_record *recs, size_t n);

/**
 * journal_truncate() - remove the records in [begin, end), oldest first.
 * ^end <= begin: nothing to do, returns 0. Large truncations are split into
 * several transactions, each advancing begin, so that a failure part-way
 * leaves a valid journal with no gap (and begin somewhere between the old
 * begin and end).
 * @return 0, JOURNAL_EBEYOND (end above the current end), -EINVAL,
 * JOURNAL_EREADONLY, JOURNAL_EFORK, JOURNAL_EBUSY, -ENOSPC (see
 * DURABILITY), or another file system error.
 */
JOURNAL_API int journal_truncate(journal *j, journal_pos end);

/**
 * journal_wait() - wait until a record exists at or after pos (end > pos).
 * Works across processes on one machine: every commit of this library
 * touches the store's data file once it is visible. On Linux, the waiters
 * of one store handle share one inotify instance watching that file (made
 * when the first of them arrives, closed when the last leaves); one of
 * them sleeps on it and wakes the others, which check their bounds after
 * each commit. So they use no CPU while nothing changes and wake within a
 * scheduling delay of a commit. ^Any number of threads may wait at once:
 * the system's limit (fs.inotify.max_user_instances, 128 by default) counts
 * store handles with waiters, one per process and store, not waiters.
 * ^Past that limit, and on systems without inotify (or built with
 * `make WAIT=poll`), the waiters poll the store's last transaction instead,
 * every 1 to 32 ms (doubling while nothing changes): a wait then never fails
 * for want of notifications, at the cost of that latency and of a few
 * thousand cheap checks a second while someone waits.
 * On PostgreSQL it uses LISTEN/NOTIFY.
 * @param[in] timeout_ms milliseconds to wait; -1 waits forever; 0 checks.
 * @return 0 when end > pos, -ETIMEDOUT when the time ran out, -EINTR when a
 * signal handler interrupted the wait (of the waiting threads of a store
 * handle, only the one sleeping for all of them sees signals; a process
 * with one waiting thread always does), -EINVAL, JOURNAL_EFORK, or an
 * error of journal_bounds().
 */
JOURNAL_API int journal_wait(journal *j, journal_pos pos, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

/**
 * journal_snapshot_begin() - open a read snapshot of journal j: the state
 * committed when it begins, unchanged until it is renewed or ended.
 * A snapshot uses one reader slot of the store until it ends. It may be
 * used by one thread at a time, and may move between threads.
 * @return 0, -EINVAL, -ENOMEM, JOURNAL_EFORK, JOURNAL_EREADERS (every slot
 * in use even after reclaiming those of dead processes), JOURNAL_ECORRUPT,
 * JOURNAL_EBUSY (see CAVEATS).
 */
JOURNAL_API int journal_snapshot_begin(journal *j, journal_snapshot **out);

/** journal_snapshot_bounds() - the bounds seen by the snapshot. Returns as
 * journal_bounds(). */
JOURNAL_API int journal_snapshot_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end);

/**
 * journal_snapshot_get() - the record at pos, without copying.
 * @param[out] rec a pointer into the store's read-only map, valid until
 *   journal_snapshot_renew() or journal_snapshot_end() on this snapshot.
 * @return 0, JOURNAL_ENOTFOUND (pos outside the snapshot's bounds),
 * -EINVAL, JOURNAL_EFORK, JOURNAL_ECORRUPT.
 */
JOURNAL_API int journal_snapshot_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len);

/** journal_snapshot_range() - journal_range() within the snapshot. */
JOURNAL_API int journal_snapshot_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg);

/**
 * journal_snapshot_renew() - move the snapshot to the latest committed
 * state, keeping its reader slot. Pointers it returned before become
 * invalid.
 * @return 0, -EINVAL, JOURNAL_EFORK, JOURNAL_EBUSY (the map had to grow and
 * other snapshots stayed open), JOURNAL_ECORRUPT. On failure the snapshot
 * can only be ended, except for JOURNAL_EBUSY from a call inside a
 * callback of a range of this snapshot, which changes nothing (see HANDLE
 * LIFETIMES).
 */
JOURNAL_API int journal_snapshot_renew(journal_snapshot *snap);

/** journal_snapshot_end() - end the snapshot and free it. ^NULL does
 * nothing. Inside a callback of a range of this snapshot, the snapshot ends
 * when that range returns (see HANDLE LIFETIMES). */
JOURNAL_API void journal_snapshot_end(journal_snapshot *snap);

/* ------------------------------------------------------------------------ */
/* Helpers built on the calls above                                         */

/**
 * journal_first() / journal_last() - the oldest / newest record and its
 * position, read in one snapshot (so a truncation racing with the call
 * cannot make it fail).
 * @param[out] pos may be NULL. @param[out] rec malloc()ed copy for free().
 * @return 0, JOURNAL_ENOTFOUND when the journal is empty, or as
 * journal_get().
 */
JOURNAL_API int journal_first(journal *j, journal_pos *pos, void **rec, size_t *len);
JOURNAL_API int journal_last(journal *j, journal_pos *pos, void **rec, size_t *len);

/**
 * A comparison for journal_search(): negative when the record at pos comes
 * before the target, 0 when it matches, positive when it comes after.
 * `rec` is valid during the call only.
 */
typedef int (*journal_cmp_fn)(void *arg, journal_pos pos, const void *rec, size_t len);

/**
 * journal_search() - binary search, in one snapshot, over the records in
 * [from, to) ∩ [begin, end) (pass 0, JOURNAL_POS_MAX for all), which must
 * be sorted by cmp. Sets *pos to a position whose record compares equal.
 * @return 0, JOURNAL_ENOTFOUND (none compares equal), -EINVAL, or as
 * journal_snapshot_begin().
 */
JOURNAL_API int journal_search(journal *j, journal_pos from, journal_pos to, journal_cmp_fn cmp, void *arg,
                               journal_pos *pos);

/**
 * journal_lower_bound() - like journal_search(), but sets *pos to the first
 * position whose record compares >= 0 (does not come before the target):
 * where a consumer resumes from a timestamp.
 * @return 0, JOURNAL_ENOTFOUND (every record comes before the target),
 * -EINVAL, or as journal_snapshot_begin().
 */
JOURNAL_API int journal_lower_bound(journal *j, journal_pos from, journal_pos to, journal_cmp_fn cmp, void *arg,
                                    journal_pos *pos);

/**
 * Called by journal_append_retry() after a conflict, with the journal's
 * current end. It may replace *rec and *len (for example with a record
 * rebuilt from the records now in the journal). Return 0 to retry at end,
 * JOURNAL_STOP to give up (the append then returns JOURNAL_ECONFLICT), or a
 * negative code to give up with that code.
 */
typedef int (*journal_resolve_fn)(void *arg, journal_pos end, const void **rec, size_t *len);

/**
 * journal_append_retry() - append at `end`; on JOURNAL_ECONFLICT ask fn
 * whether and what to retry at the new end, until the append succeeds or fn
 * gives up.
 * @param[out] written the position written; may be NULL.
 * fn may call any function of the library but journal_close(j): the retry
 * appends through j after fn returns 0.
 * @return 0, JOURNAL_ECONFLICT (fn gave up, or fn is NULL), fn's negative
 * code, or any other error of journal_append().
 */
JOURNAL_API int journal_append_retry(journal *j, journal_pos end, const void *rec, size_t len, journal_resolve_fn fn,
                                     void *arg, journal_pos *written);

/**
 * journal_is_fresh() - 1 when the journal never held a record (end == 0),
 * 0 when it did, or a negative code of journal_bounds().
 */
JOURNAL_API int journal_is_fresh(journal *j);

/**
 * journal_is_empty() - 1 when the journal holds no record now
 * (begin == end), 0 when it does, or a negative code of journal_bounds().
 */
JOURNAL_API int journal_is_empty(journal *j);

#ifdef __cplusplus
}
#endif

#endif /* JOURNAL_H */
