/*
 * byteorder.h - big-endian 64-bit integers, as both backends store them.
 */
#ifndef JOURNAL_BYTEORDER_H
#define JOURNAL_BYTEORDER_H

#include <stdint.h>
#include <string.h>

/* Big-endian integers, so LMDB's byte order is numeric order. */
static inline void journal__put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t journal__get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* v in big-endian byte order, loaded as a native integer and back: the hot
 * paths build and check keys with it, a byte swap rather than a loop of
 * shifts. */
static inline uint64_t journal__be64_swap(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return v;
#else
    unsigned char b[8];
    journal__put_be64(b, v);
    memcpy(&v, b, 8);
    return v;
#endif
}

#endif /* JOURNAL_BYTEORDER_H */
