/*
 * crashimg.h - shared by the crash-image harness: the shim's log format
 * (tests/crashimg_shim.c), the workload (tests/crashimg_driver.c) and the
 * replayer (tests/test_crashimg.c).
 */
#ifndef TESTS_CRASHIMG_H
#define TESTS_CRASHIMG_H

#include <stddef.h>
#include <stdint.h>

/* Record kinds of the log (see crashimg_shim.c). */
#define CRASHIMG_WRITE 1
#define CRASHIMG_DSYNC 2
#define CRASHIMG_SYNC 3
#define CRASHIMG_TRUNC 4
#define CRASHIMG_MARK 5

/* Files recorded. */
#define CRASHIMG_FILE_DATA 0
#define CRASHIMG_FILE_STEADY 1
#define CRASHIMG_FILES 2

/* Marks of the workload (the `file` field of a CRASHIMG_MARK). */
#define CRASHIMG_MARK_READY 1   /* the store and its journal are on disk */
#define CRASHIMG_MARK_ATTEMPT 2 /* an append is about to start; a = end after it */
#define CRASHIMG_MARK_ACK 3     /* an append returned 0; a = the new end */
#define CRASHIMG_MARK_SYNCED 4  /* journal_store_sync() returned 0; a = end then */

struct crashimg_rec {
    uint32_t kind, file;
    uint64_t a, b;
};

/* The record at pos of a workload with seed `seed`: its length, and its
 * bytes into buf (which holds CRASHIMG_LEN_MAX bytes). */
#define CRASHIMG_LEN_MAX 5000

static inline size_t crashimg_record(uint64_t seed, uint64_t pos, unsigned char *buf)
{
    uint64_t x = seed ^ (pos + 1) * 0x9e3779b97f4a7c15ull;
    size_t len = pos % 13 == 5 ? CRASHIMG_LEN_MAX : 16 + (size_t)((x >> 7) % 300);
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        buf[i] = (unsigned char)((x * 0x2545f4914f6cdd1dull) >> 56);
    }
    for (size_t i = 0; i < 8 && i < len; i++)
        buf[i] = (unsigned char)(pos >> (56 - 8 * i));
    return len;
}

#endif
