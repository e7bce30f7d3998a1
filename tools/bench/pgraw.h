/*
 * pgraw.h - libpq for journal-bench's files that talk to the server
 * (pgraw.c, server.c), loaded at run time as the library does.
 */
#ifndef JOURNAL_BENCH_PGRAW_H
#define JOURNAL_BENCH_PGRAW_H

#include "../../lib/pg/pq_load.h"

/* A connection with notices off, or NULL after the failure is given to
 * fail() (`who` names the side that connects). */
PGconn *pq_connect(const char *who, const char *conninfo);

#endif /* JOURNAL_BENCH_PGRAW_H */
