/*
 * resume.c - a consumer that resumes from a point in time.
 *
 *   resume STORE JOURNAL add TIMESTAMP TEXT
 *   resume STORE JOURNAL from TIMESTAMP
 *
 * Each record of JOURNAL starts with an 8-byte big-endian timestamp (any
 * unit, say milliseconds since the epoch) followed by a payload. Big-endian
 * keeps the bytes in the same order as the numbers, and `add` refuses a
 * timestamp older than the newest record, so the journal stays sorted by
 * time and can be searched by bisection.
 *
 * `from` prints every record whose timestamp is TIMESTAMP or later, as
 * "POS TIMESTAMP TEXT". A consumer that crashed, or starts fresh, remembers
 * only the time it got to; journal_lower_bound() finds the first record not
 * before that time in O(log n) reads, and journal_range() goes on from there.
 *
 * Exit status: 0 success; 1 an error; 2 bad usage; 3 `from`: no record at or
 * after TIMESTAMP, or `add`: TIMESTAMP is older than the newest record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <journal.h>

#define EXIT_NOTHING 3
#define TS_LEN 8

static uint64_t get_ts(const void *rec)
{
    const unsigned char *p = rec;
    uint64_t ts = 0;

    for (int i = 0; i < TS_LEN; i++)
        ts = ts << 8 | p[i];
    return ts;
}

static void put_ts(unsigned char *p, uint64_t ts)
{
    for (int i = TS_LEN - 1; i >= 0; i--) {
        p[i] = (unsigned char)ts;
        ts >>= 8;
    }
}

/* journal_cmp_fn: where the record stands relative to the target time.
 * `rec` points into the store's map: no copy is made while searching. A
 * record too short to hold a timestamp counts as older than any target. */
static int cmp_ts(void *arg, journal_pos pos, const void *rec, size_t len)
{
    uint64_t target = *(const uint64_t *)arg, ts;

    (void)pos;
    if (len < TS_LEN)
        return -1;
    ts = get_ts(rec);
    return ts < target ? -1 : ts > target;
}

/* journal_range_fn: print one record. */
static int print_record(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    if (len < TS_LEN)
        return -EBADMSG;
    printf("%" PRIu64 " %" PRIu64 " %.*s\n", pos, get_ts(rec), (int)(len - TS_LEN), (const char *)rec + TS_LEN);
    return 0;
}

static int resume_from(journal *j, uint64_t ts)
{
    journal_pos pos;
    int rc;

    rc = journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_ts, &ts, &pos);
    if (rc == 0)
        rc = journal_range(j, pos, print_record, NULL);
    return rc;
}

/* Appends a record at the end, after checking that time does not go
 * backwards. journal_last() reads the newest record; appending at the
 * position after it fails with JOURNAL_ECONFLICT if another writer came in
 * between, so the check cannot be outrun. */
static int add(journal *j, uint64_t ts, const char *text)
{
    size_t tlen = strlen(text), len = TS_LEN + tlen;
    unsigned char *rec = NULL;
    journal_pos end, last;
    void *newest = NULL;
    size_t nlen;
    int rc;

    rc = journal_last(j, &last, &newest, &nlen);
    if (rc == JOURNAL_ENOTFOUND) {
        /* Empty: append at the end, past any truncated records. */
        rc = journal_bounds(j, NULL, &end);
    } else if (rc == 0) {
        end = last + 1;
        if (nlen >= TS_LEN && get_ts(newest) > ts)
            rc = -EDOM;
    }
    if (rc != 0)
        goto out;
    rec = malloc(len);
    if (!rec) {
        rc = -ENOMEM;
        goto out;
    }
    put_ts(rec, ts);
    memcpy(rec + TS_LEN, text, tlen);
    rc = journal_append(j, end, rec, len);
    if (rc == 0)
        printf("%" PRIu64 " %" PRIu64 " %s\n", end, ts, text);
    free(rec);
out:
    free(newest);
    return rc;
}

static int parse_ts(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || *s == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    journal_store *s = NULL;
    journal *j = NULL;
    uint64_t ts;
    int adding, status = EXIT_FAILURE, rc;

    adding = argc == 6 && strcmp(argv[3], "add") == 0;
    if (!(adding || (argc == 5 && strcmp(argv[3], "from") == 0)) || parse_ts(argv[4], &ts) != 0) {
        fprintf(stderr, "usage: resume STORE JOURNAL add TIMESTAMP TEXT\n"
                        "       resume STORE JOURNAL from TIMESTAMP\n");
        return 2;
    }

    rc = journal_store_open(argv[1], NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "resume: %s: %s\n", argv[1], journal_strerror(rc));
        goto out;
    }
    rc = journal_open(s, argv[2], &j);
    if (rc != 0) {
        fprintf(stderr, "resume: %s: %s\n", argv[2], journal_strerror(rc));
        goto out_store;
    }

    rc = adding ? add(j, ts, argv[5]) : resume_from(j, ts);
    if (rc == 0) {
        status = EXIT_SUCCESS;
    } else if (rc == JOURNAL_ENOTFOUND && !adding) {
        fprintf(stderr, "resume: no record at or after %" PRIu64 "\n", ts);
        status = EXIT_NOTHING;
    } else if (rc == -EDOM) {
        fprintf(stderr, "resume: %" PRIu64 " is older than the newest record\n", ts);
        status = EXIT_NOTHING;
    } else {
        fprintf(stderr, "resume: %s %s: %s\n", argv[3], argv[4], journal_strerror(rc));
    }

    journal_close(j);
out_store:
    journal_store_close(s);
out:
    return status;
}
