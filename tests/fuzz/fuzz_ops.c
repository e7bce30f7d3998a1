/*
 * fuzz_ops.c - property: any sequence of operations on a store gives
 * exactly the results the contract (include/journal.h) promises.
 *
 * A libFuzzer target (`make fuzz`, `make fuzz-run`). Each input is decoded
 * into options for a fresh store and a sequence of operations on three
 * journals: appends and batches at the end and at wrong positions, gets,
 * ranges, snapshots (begin, get, range, renew, end), truncations, bounds,
 * first/last, wait, list, check, and closing and reopening the store, also
 * read-only. The same operations run on an in-memory model of the
 * contract, and every result, record and bound is compared with it; a
 * mismatch traps (__builtin_trap), leaving the input as a crash artifact.
 *
 * The only results the model cannot predict are the store running out of
 * room (JOURNAL_EFULL with a small max_size) and a map that must grow while
 * a snapshot is open (JOURNAL_EBUSY): those are accepted when they can
 * happen, and the model then checks that nothing was written.
 *
 * Input: byte 0 chooses the options (bit 0: JOURNAL_NOSYNC, bits 1-2: the
 * initial map size, 64 KiB to 1 MiB or the default, bit 3: a max_size,
 * bit 4: snapshots also with a small map); then each operation is one byte of
 * opcode followed by the bytes it needs. Missing bytes read as 0.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define FZ_JOURNALS 3
#define FZ_MAX_OPS 512
#define FZ_MAX_RECORDS 4096
#define FZ_BATCH_MAX 8

#define FZ_CHECK(cond)                                                                                                 \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_ops.c:%d: model mismatch: %s\n", __LINE__, #cond);                                   \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (0)

/* The result of a call must be `want`, or one of the failures the model
 * cannot predict when they can happen. Returns 1 when it was `want`. */
#define FZ_EXPECT(rc, want, may_fail) fz_expect((rc), (want), (may_fail), __LINE__)

struct fz_record {
    unsigned char *data;
    size_t len;
};

struct fz_journal {
    char name[256];
    int exists; /* in the store: opened once when writable */
    journal *j;
    journal_pos begin, end;
    struct fz_record *rec; /* [0, end): truncated ones are kept for snapshots */
    journal_snapshot *snap;
    journal_pos snap_begin, snap_end;
};

struct fz_input {
    const uint8_t *p;
    size_t n;
};

static struct {
    char dir[4096];
    char path[4200];
    journal_options opts;
    journal_store *s;
    int rdonly;
    struct fz_journal js[FZ_JOURNALS];
    uint64_t appended, bytes, truncated; /* counters since the store opened */
    unsigned long serial;                /* makes every record's bytes differ */
    unsigned busy;                       /* JOURNAL_EBUSY results in this input */
    int snaps_ok;                        /* snapshots allowed in this input */
} fz;

static void fz_expect_fail(int rc, int want, int line)
{
    fprintf(stderr, "fuzz_ops.c:%d: result %d (%s), model says %d (%s)\n", line, rc, journal_strerror(rc), want,
            journal_strerror(want));
    __builtin_trap();
}

/* After JOURNAL_EBUSY, do what a user must: end the snapshots. Each
 * EBUSY costs the library's one-second wait, so an input gets one; after
 * that it opens no more snapshots. */
static void fz_busy(void)
{
    for (int i = 0; i < FZ_JOURNALS; i++) {
        journal_snapshot_end(fz.js[i].snap);
        fz.js[i].snap = NULL;
    }
    fz.busy++;
}

static int fz_expect(int rc, int want, int may_fail, int line)
{
    if (rc == want)
        return 1;
    if (may_fail && want == 0 && (rc == JOURNAL_EFULL || rc == JOURNAL_EBUSY)) {
        if (rc == JOURNAL_EBUSY)
            fz_busy();
        return 0;
    }
    fz_expect_fail(rc, want, line);
    return 0;
}

static unsigned fz_byte(struct fz_input *in)
{
    unsigned b = 0;
    if (in->n) {
        b = *in->p++;
        in->n--;
    }
    return b;
}

static size_t fz_len(struct fz_input *in)
{
    unsigned b = fz_byte(in);
    /* Mostly small records, some spanning several pages. */
    return b < 200 ? b : (size_t)(b - 200) * 160;
}

/* A position chosen around the journal's bounds: at the end, just below
 * or above it, inside, below begin, far away. */
static journal_pos fz_pos(struct fz_input *in, journal_pos begin, journal_pos end)
{
    unsigned sel = fz_byte(in), arg = fz_byte(in);
    switch (sel % 8) {
    case 0:
    case 1:
        return end;
    case 2:
        return end - 1 - arg % 2; /* wraps to JOURNAL_POS_MAX below 0 */
    case 3:
        return end + 1 + arg % 3;
    case 4:
        return begin + (end > begin ? arg % (end - begin) : 0);
    case 5:
        return begin - 1 - arg % 2;
    case 6:
        return JOURNAL_POS_MAX - arg % 2;
    default:
        return arg;
    }
}

static void fz_fill(unsigned char *buf, size_t len)
{
    unsigned long k = ++fz.serial;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(k * 131 + i * 7 + (i >> 8));
}

static int fz_may_fail(void)
{
    /* EFULL needs a max_size; EBUSY an open snapshot while the map grows. */
    int snaps = 0;
    for (int i = 0; i < FZ_JOURNALS; i++)
        snaps |= fz.js[i].snap != NULL;
    return fz.opts.max_size != 0 || snaps;
}

static void fz_check_bounds(struct fz_journal *m)
{
    journal_pos b = 1, e = 0;
    FZ_EXPECT(journal_bounds(m->j, &b, &e), 0, 0);
    FZ_CHECK(b == m->begin);
    FZ_CHECK(e == m->end);
}

/* The journal's handle, opening it first; NULL when the model says the
 * open fails as it should (read-only and never created, or no room). */
static struct fz_journal *fz_journal(struct fz_input *in)
{
    struct fz_journal *m = &fz.js[fz_byte(in) % FZ_JOURNALS];
    int rc;

    if (m->j)
        return m;
    rc = journal_open(fz.s, m->name, &m->j);
    if (fz.rdonly && !m->exists) {
        FZ_EXPECT(rc, -ENOENT, 0);
        FZ_CHECK(m->j == NULL);
        return NULL;
    }
    if (!FZ_EXPECT(rc, 0, !m->exists && fz_may_fail()))
        return NULL;
    FZ_CHECK(strcmp(journal_name(m->j), m->name) == 0);
    m->exists = 1;
    fz_check_bounds(m);
    return m;
}

static void fz_keep(struct fz_journal *m, journal_pos pos, const unsigned char *data, size_t len)
{
    struct fz_record *r;
    FZ_CHECK(pos < FZ_MAX_RECORDS);
    if (pos == 0 || (pos & (pos - 1)) == 0) {
        r = realloc(m->rec, (size_t)(pos ? 2 * pos : 1) * sizeof *r);
        FZ_CHECK(r != NULL);
        m->rec = r;
    }
    m->rec[pos].data = malloc(len ? len : 1);
    FZ_CHECK(m->rec[pos].data != NULL);
    memcpy(m->rec[pos].data, data, len);
    m->rec[pos].len = len;
}

/* The result the contract gives for a write at pos of n records. */
static int fz_write_result(const struct fz_journal *m, journal_pos pos)
{
    if (fz.rdonly)
        return JOURNAL_EREADONLY;
    if (pos < m->end)
        return JOURNAL_ECONFLICT;
    if (pos > m->end)
        return JOURNAL_EBEYOND;
    return 0;
}

static void fz_op_append(struct fz_input *in, int batch)
{
    static unsigned char bufs[FZ_BATCH_MAX][256 * 160];
    journal_record recs[FZ_BATCH_MAX];
    struct fz_journal *m = fz_journal(in);
    size_t n = batch ? fz_byte(in) % (FZ_BATCH_MAX + 1) : 1;
    journal_pos pos;
    int want, rc;

    if (!m)
        return;
    pos = fz_pos(in, m->begin, m->end);
    for (size_t i = 0; i < n; i++) {
        recs[i].len = fz_len(in);
        recs[i].data = bufs[i];
        fz_fill(bufs[i], recs[i].len);
    }
    if (m->end + n > FZ_MAX_RECORDS)
        return;
    want = fz_write_result(m, pos);
    if (batch) {
        rc = journal_append_batch(m->j, pos, recs, n);
    } else {
        /* A zero-length record may come with a NULL pointer. */
        rc = journal_append(m->j, pos, recs[0].len ? recs[0].data : NULL, recs[0].len);
    }
    if (FZ_EXPECT(rc, want, fz_may_fail()) && want == 0) {
        for (size_t i = 0; i < n; i++) {
            fz_keep(m, m->end + i, recs[i].data, recs[i].len);
            fz.bytes += recs[i].len;
        }
        m->end += n;
        fz.appended += n;
    }
    fz_check_bounds(m);
}

static void fz_check_record(const struct fz_journal *m, journal_pos pos, const void *rec, size_t len)
{
    FZ_CHECK(pos < m->end);
    FZ_CHECK(len == m->rec[pos].len);
    FZ_CHECK(len == 0 || memcmp(rec, m->rec[pos].data, len) == 0);
}

static void fz_op_get(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    journal_pos pos;
    void *rec = NULL;
    size_t len = 0;
    int rc;

    if (!m)
        return;
    pos = fz_pos(in, m->begin, m->end);
    rc = journal_get(m->j, pos, &rec, &len);
    if (pos >= m->begin && pos < m->end) {
        FZ_EXPECT(rc, 0, 0);
        FZ_CHECK(rec != NULL);
        fz_check_record(m, pos, rec, len);
    } else {
        FZ_EXPECT(rc, JOURNAL_ENOTFOUND, 0);
        FZ_CHECK(rec == NULL);
    }
    free(rec);
}

struct fz_range {
    const struct fz_journal *m;
    journal_pos next;
    unsigned stop_after; /* 0: never stop */
    unsigned calls;
};

static int fz_range_fn(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct fz_range *r = arg;
    FZ_CHECK(pos == r->next);
    fz_check_record(r->m, pos, rec, len);
    r->next++;
    r->calls++;
    return r->stop_after && r->calls == r->stop_after ? JOURNAL_STOP : 0;
}

/* A range from `from` over [begin, end) as the model sees it. */
static void fz_check_range(int rc, const struct fz_range *r, journal_pos from, journal_pos begin, journal_pos end)
{
    if (from < begin || from >= end) {
        FZ_EXPECT(rc, JOURNAL_ENOTFOUND, 0);
        FZ_CHECK(r->calls == 0);
        return;
    }
    FZ_EXPECT(rc, 0, 0);
    if (r->stop_after && r->stop_after <= end - from)
        FZ_CHECK(r->calls == r->stop_after);
    else
        FZ_CHECK(r->next == end);
}

static void fz_op_range(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    struct fz_range r = {0};
    journal_pos from;

    if (!m)
        return;
    from = fz_pos(in, m->begin, m->end);
    r.m = m;
    r.next = from;
    r.stop_after = fz_byte(in) % 8;
    fz_check_range(journal_range(m->j, from, fz_range_fn, &r), &r, from, m->begin, m->end);
}

static void fz_op_snapshot(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    journal_pos b = 1, e = 0;

    if (!m)
        return;
    if (!m->snap) {
        if (fz.busy || !fz.snaps_ok)
            return;
        FZ_EXPECT(journal_snapshot_begin(m->j, &m->snap), 0, 0);
    } else if (fz_byte(in) % 2) {
        int rc = journal_snapshot_renew(m->snap);
        if (!FZ_EXPECT(rc, 0, 1)) {
            /* A failed renew leaves a snapshot that can only be ended
             * (fz_busy() has ended it already after JOURNAL_EBUSY). */
            journal_snapshot_end(m->snap);
            m->snap = NULL;
            return;
        }
    } else {
        journal_snapshot_end(m->snap);
        m->snap = NULL;
        return;
    }
    m->snap_begin = m->begin;
    m->snap_end = m->end;
    FZ_EXPECT(journal_snapshot_bounds(m->snap, &b, &e), 0, 0);
    FZ_CHECK(b == m->snap_begin && e == m->snap_end);
}

static void fz_op_snapshot_read(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    journal_pos pos;

    if (!m || !m->snap)
        return;
    pos = fz_pos(in, m->snap_begin, m->snap_end);
    if (fz_byte(in) % 2) {
        const void *rec = NULL;
        size_t len = 0;
        int rc = journal_snapshot_get(m->snap, pos, &rec, &len);
        if (pos >= m->snap_begin && pos < m->snap_end) {
            FZ_EXPECT(rc, 0, 0);
            fz_check_record(m, pos, rec, len);
        } else {
            FZ_EXPECT(rc, JOURNAL_ENOTFOUND, 0);
        }
    } else {
        struct fz_range r = {.m = m, .next = pos, .stop_after = fz_byte(in) % 8};
        fz_check_range(journal_snapshot_range(m->snap, pos, fz_range_fn, &r), &r, pos, m->snap_begin, m->snap_end);
    }
}

static void fz_op_truncate(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    journal_pos to;
    int want;

    if (!m)
        return;
    to = fz_pos(in, m->begin, m->end);
    want = fz.rdonly ? JOURNAL_EREADONLY : to > m->end ? JOURNAL_EBEYOND : 0;
    if (FZ_EXPECT(journal_truncate(m->j, to), want, fz_may_fail())) {
        if (want == 0 && to > m->begin) {
            fz.truncated += to - m->begin;
            m->begin = to;
        }
    } else {
        /* Stopped part-way: begin moved somewhere up to `to`, no further. */
        journal_pos b = 0, e = 0;
        FZ_EXPECT(journal_bounds(m->j, &b, &e), 0, 0);
        FZ_CHECK(b >= m->begin && b <= to && e == m->end);
        fz.truncated += b - m->begin;
        m->begin = b;
    }
    fz_check_bounds(m);
}

static void fz_read_expect(int rc, journal_pos want_pos, journal_pos pos, void *rec, size_t len,
                           const struct fz_journal *m)
{
    if (m->begin == m->end) {
        FZ_EXPECT(rc, JOURNAL_ENOTFOUND, 0);
        return;
    }
    FZ_EXPECT(rc, 0, 0);
    FZ_CHECK(pos == want_pos);
    fz_check_record(m, pos, rec, len);
    free(rec);
}

static void fz_op_inspect(struct fz_input *in)
{
    struct fz_journal *m = fz_journal(in);
    journal_pos pos = 0;
    void *rec = NULL;
    size_t len = 0;
    journal_pos at;

    if (!m)
        return;
    fz_check_bounds(m);
    FZ_EXPECT(journal_is_fresh(m->j), m->end == 0, 0);
    FZ_EXPECT(journal_is_empty(m->j), m->begin == m->end, 0);
    fz_read_expect(journal_first(m->j, &pos, &rec, &len), m->begin, pos, rec, len, m);
    fz_read_expect(journal_last(m->j, &pos, &rec, &len), m->end - 1, pos, rec, len, m);
    at = fz_pos(in, m->begin, m->end);
    FZ_EXPECT(journal_wait(m->j, at, 0), m->end > at ? 0 : -ETIMEDOUT, 0);
}

struct fz_list {
    int seen[FZ_JOURNALS];
    const char *prev;
};

static int fz_list_fn(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct fz_list *l = arg;
    int i = 0;
    while (i < FZ_JOURNALS && strcmp(fz.js[i].name, name) != 0)
        i++;
    FZ_CHECK(i < FZ_JOURNALS);
    FZ_CHECK(fz.js[i].exists && !l->seen[i]);
    FZ_CHECK(begin == fz.js[i].begin && end == fz.js[i].end);
    l->seen[i] = 1;
    return 0;
}

static void fz_op_store(void)
{
    struct fz_list l = {{0}, NULL};
    journal_counters c;
    journal_stat st;
    uint64_t records = 0;

    FZ_EXPECT(journal_store_check(fz.s, NULL, NULL), 0, 0);
    FZ_EXPECT(journal_store_list(fz.s, fz_list_fn, &l), 0, 0);
    for (int i = 0; i < FZ_JOURNALS; i++) {
        FZ_CHECK(l.seen[i] == fz.js[i].exists);
        records += fz.js[i].end - fz.js[i].begin;
    }
    FZ_EXPECT(journal_store_stat(fz.s, &st), 0, 0);
    FZ_CHECK(st.format_version == JOURNAL_FORMAT_VERSION);
    FZ_CHECK(st.records == records);
    FZ_EXPECT(journal_store_counters(fz.s, &c), 0, 0);
    FZ_CHECK(c.appends == fz.appended && c.bytes_appended == fz.bytes && c.truncated == fz.truncated);
    FZ_EXPECT(journal_store_sync(fz.s), fz.rdonly ? JOURNAL_EREADONLY : 0, 0);
}

static void fz_close_all(void)
{
    int open = 0;
    for (int i = 0; i < FZ_JOURNALS; i++)
        open |= fz.js[i].j != NULL;
    if (open)
        FZ_EXPECT(journal_store_close(fz.s), JOURNAL_EBUSY, 0);
    for (int i = 0; i < FZ_JOURNALS; i++) {
        journal_snapshot_end(fz.js[i].snap);
        fz.js[i].snap = NULL;
        FZ_EXPECT(journal_close(fz.js[i].j), 0, 0);
        fz.js[i].j = NULL;
    }
    FZ_EXPECT(journal_store_close(fz.s), 0, 0);
    fz.s = NULL;
}

static void fz_open(int rdonly)
{
    journal_options o = fz.opts;
    if (rdonly)
        o.flags |= JOURNAL_RDONLY;
    FZ_EXPECT(journal_store_open(fz.path, &o, &fz.s), 0, 0);
    fz.rdonly = rdonly;
    fz.appended = fz.bytes = fz.truncated = 0;
}

static void fz_reset(void)
{
    char p[4300];
    for (int i = 0; i < FZ_JOURNALS; i++) {
        struct fz_journal *m = &fz.js[i];
        for (journal_pos pos = 0; pos < m->end; pos++)
            free(m->rec[pos].data);
        free(m->rec);
        m->rec = NULL;
        m->exists = 0;
        m->begin = m->end = 0;
    }
    snprintf(p, sizeof p, "%s/data.mdb", fz.path);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", fz.path);
    unlink(p);
}

static void fz_cleanup(void)
{
    fz_reset();
    rmdir(fz.path);
    rmdir(fz.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    (void)argc;
    (void)argv;
    snprintf(fz.dir, sizeof fz.dir, "%s/fuzz_ops-XXXXXX", base && *base ? base : "/tmp");
    FZ_CHECK(mkdtemp(fz.dir) != NULL);
    snprintf(fz.path, sizeof fz.path, "%s/store", fz.dir);
    /* Names: plain, with bytes above 127, and the longest. */
    strcpy(fz.js[0].name, "a");
    strcpy(fz.js[1].name, "\xff\x01 j\x7f");
    memset(fz.js[2].name, 'z', 255);
    fz.js[2].name[255] = '\0';
    atexit(fz_cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Small maps: they grow often, and each store maps and unmaps fast. */
    static const uint64_t maps[4] = {1 << 20, 64 << 10, 256 << 10, 0};
    struct fz_input in = {data, size};
    unsigned opt = fz_byte(&in);

    fz_reset();
    fz.busy = 0;
    memset(&fz.opts, 0, sizeof fz.opts);
    fz.opts.flags = opt & 1 ? JOURNAL_NOSYNC : 0;
    fz.opts.map_size = maps[opt >> 1 & 3];
    fz.opts.max_size = opt & 8 ? 512 << 10 : 0;
    /* A small map that must grow under an open snapshot makes a write wait
     * a second, then fail with JOURNAL_EBUSY: only when bit 4 asks for it,
     * so that most inputs run fast. */
    fz.snaps_ok = fz.opts.map_size == 0 || opt & 16;
    if (fz.opts.max_size && fz.opts.map_size > fz.opts.max_size)
        fz.opts.map_size = fz.opts.max_size;
    fz_open(0);
    for (int ops = 0; in.n && ops < FZ_MAX_OPS; ops++) {
        switch (fz_byte(&in) % 12) {
        case 0:
        case 1:
            fz_op_append(&in, 0);
            break;
        case 2:
            fz_op_append(&in, 1);
            break;
        case 3:
            fz_op_get(&in);
            break;
        case 4:
            fz_op_range(&in);
            break;
        case 5:
            fz_op_snapshot(&in);
            break;
        case 6:
            fz_op_snapshot_read(&in);
            break;
        case 7:
            fz_op_truncate(&in);
            break;
        case 8:
            fz_op_inspect(&in);
            break;
        case 9:
            fz_op_store();
            break;
        case 10:
            fz_close_all();
            fz_open(fz_byte(&in) % 4 == 0);
            break;
        default:
            /* Many short ops at the end: the common case of a writer. */
            for (int i = fz_byte(&in) % 16; i > 0; i--) {
                struct fz_input again = {(const uint8_t *)"\0\0\0\x40", 4};
                fz_op_append(&again, 0);
            }
            break;
        }
    }
    fz_op_store();
    fz_close_all();
    return 0;
}
