/*
 * format.h - the on-disk layout of an LMDB store, in one place.
 *
 * The LMDB backend, its checker and journal-bench's raw-LMDB floor (which
 * writes stores the library opens) all take the layout from here; nothing
 * else may spell a database name, a meta key or a key encoding.
 *
 * A store is an LMDB environment with three named databases:
 *
 *   "meta"     "format"  -> 4 bytes, big-endian JOURNAL_FORMAT_VERSION
 *              "next_id" -> 8 bytes, big-endian: the id the next new journal
 *                           gets (ids start at 1 and are never reused)
 *   "catalog"  journal name (1..JOURNAL_NAME_MAX bytes, any bytes)
 *                        -> 24 bytes: id, begin, end, each big-endian 64-bit
 *   "records"  16 bytes: journal id, position, each big-endian 64-bit
 *                        -> the record's bytes (0..JOURNAL_RECORD_MAX)
 *
 * Big-endian integers make LMDB's byte order numeric order, so one journal's
 * records are adjacent and in position order. Journals are never removed;
 * begin <= end always; the records of a journal are exactly [begin, end).
 *
 * Only standard C: this header includes nothing of LMDB or of the library.
 */
#ifndef JOURNAL_LMDB_FORMAT_H
#define JOURNAL_LMDB_FORMAT_H

#include <stdint.h>
#include <string.h>

#include "../byteorder.h"

#define JOURNAL__DBNAME_META "meta"
#define JOURNAL__DBNAME_CATALOG "catalog"
#define JOURNAL__DBNAME_RECORDS "records"

#define JOURNAL__META_FORMAT "format"
#define JOURNAL__META_FORMAT_LEN 6
#define JOURNAL__META_FORMAT_SIZE 4
#define JOURNAL__META_NEXT_ID "next_id"
#define JOURNAL__META_NEXT_ID_LEN 7
#define JOURNAL__META_NEXT_ID_SIZE 8

#define JOURNAL__CATALOG_ENTRY_SIZE 24
#define JOURNAL__RECORD_KEY_SIZE 16

/* The key of record `pos` of journal `id`. */
static inline void journal__record_key(unsigned char key[JOURNAL__RECORD_KEY_SIZE], uint64_t id, uint64_t pos)
{
    uint64_t be[2] = {journal__be64_swap(id), journal__be64_swap(pos)};
    memcpy(key, be, JOURNAL__RECORD_KEY_SIZE);
}

static inline void journal__catalog_entry_put(unsigned char e[JOURNAL__CATALOG_ENTRY_SIZE], uint64_t id, uint64_t begin,
                                              uint64_t end)
{
    journal__put_be64(e, id);
    journal__put_be64(e + 8, begin);
    journal__put_be64(e + 16, end);
}

static inline void journal__catalog_entry_get(const unsigned char e[JOURNAL__CATALOG_ENTRY_SIZE], uint64_t *id,
                                              uint64_t *begin, uint64_t *end)
{
    *id = journal__get_be64(e);
    *begin = journal__get_be64(e + 8);
    *end = journal__get_be64(e + 16);
}

static inline void journal__format_put(unsigned char v[JOURNAL__META_FORMAT_SIZE], unsigned version)
{
    v[0] = (unsigned char)(version >> 24);
    v[1] = (unsigned char)(version >> 16);
    v[2] = (unsigned char)(version >> 8);
    v[3] = (unsigned char)version;
}

static inline unsigned journal__format_get(const unsigned char v[JOURNAL__META_FORMAT_SIZE])
{
    return (unsigned)v[0] << 24 | (unsigned)v[1] << 16 | (unsigned)v[2] << 8 | v[3];
}

#endif /* JOURNAL_LMDB_FORMAT_H */
