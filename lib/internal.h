/*
 * internal.h - private to libjournal: what the front end (api.c) and the
 * backends share. This header is never installed. Names shared between
 * files start with journal__; everything else in lib/ is static.
 *
 * The layers, each calling only those below it:
 *   api.c          the contract's functions: checks, references, counters
 *   backends.c     the table of backends (backend.h)
 *   lib/lmdb/, lib/pg/   the backends, each behind its struct journal__backend
 *   handle.c       the handles' common part (handle.h)
 */
#ifndef JOURNAL_INTERNAL_H
#define JOURNAL_INTERNAL_H

#include <stdint.h>

#include "backend.h"
#include "byteorder.h"
#include "handle.h"
#include "journal.h"

#define JOURNAL__NAME_MAX 255
#define JOURNAL__MIN_SIZE ((uint64_t)64 << 10) /* smallest max_size */

#endif /* JOURNAL_INTERNAL_H */
