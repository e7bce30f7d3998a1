/*
 * journal-demo.c - a tour of libjournal, run by `make demo`.
 *
 *   journal-demo [STORE]        (default ./demo-store)
 *
 * Opens (or creates) a store, opens two journals, appends, reads back by
 * copying and without copying, provokes and prints a conflict, truncates,
 * and prints the bounds. Running it again continues where the last run
 * ended: positions only ever grow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define CHECK(what, call)                                                                                              \
    do {                                                                                                               \
        int rc_ = (call);                                                                                              \
        if (rc_ != 0) {                                                                                                \
            fprintf(stderr, "journal-demo: %s: %s\n", what, journal_strerror(rc_));                                    \
            goto out;                                                                                                  \
        }                                                                                                              \
    } while (0)

static int print_record(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    printf("    [%llu] %.*s\n", (unsigned long long)pos, (int)len, (const char *)rec);
    return 0;
}

static void print_bounds(journal *j)
{
    journal_pos begin, end;
    if (journal_bounds(j, &begin, &end) == 0)
        printf("  %-8s bounds [%llu, %llu): %llu records readable\n", journal_name(j), (unsigned long long)begin,
               (unsigned long long)end, (unsigned long long)(end - begin));
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "./demo-store";
    journal_store *store = NULL;
    journal *orders = NULL, *audit = NULL, *other = NULL;
    journal_snapshot *snap = NULL;
    journal_pos begin, end;
    void *copy = NULL;
    const void *rec;
    size_t len;
    char buf[64];
    int rc, status = 1;

    printf("libjournal %s: store %s\n", journal_version(), path);
    CHECK("open store", journal_store_open(path, NULL, &store));
    CHECK("open journal orders", journal_open(store, "orders", &orders));
    CHECK("open journal audit", journal_open(store, "audit", &audit));

    /* Append: read the end, append there. */
    printf("\n1. append three orders and one audit entry\n");
    CHECK("bounds", journal_bounds(orders, &begin, &end));
    for (int i = 0; i < 3; i++) {
        int n = snprintf(buf, sizeof buf, "order #%llu: %d widgets", (unsigned long long)end, i + 1);
        CHECK("append", journal_append(orders, end, buf, (size_t)n));
        end++;
    }
    CHECK("bounds", journal_bounds(audit, NULL, &end));
    CHECK("append", journal_append(audit, end, "demo ran", 8));
    print_bounds(orders);
    print_bounds(audit);

    /* Read with a copy: the caller frees it. */
    printf("\n2. read the newest order (copied, freed by the caller)\n");
    CHECK("bounds", journal_bounds(orders, &begin, &end));
    CHECK("get", journal_get(orders, end - 1, &copy, &len));
    printf("    [%llu] %.*s\n", (unsigned long long)(end - 1), (int)len, (char *)copy);
    free(copy);
    copy = NULL;

    /* Read without a copy: pointers into the map, valid until the end of
     * the snapshot. */
    printf("\n3. read every order in a snapshot (zero copy)\n");
    CHECK("snapshot", journal_snapshot_begin(orders, &snap));
    CHECK("snapshot bounds", journal_snapshot_bounds(snap, &begin, &end));
    CHECK("snapshot get", journal_snapshot_get(snap, begin, &rec, &len));
    printf("    first: [%llu] %.*s (at %p, in the map)\n", (unsigned long long)begin, (int)len, (const char *)rec, rec);
    CHECK("snapshot range", journal_snapshot_range(snap, begin, print_record, NULL));
    journal_snapshot_end(snap);
    snap = NULL;

    /* Optimistic concurrency: a second handle appends first, so an append
     * at the end we read before is refused and writes nothing. */
    printf("\n4. provoke a conflict\n");
    CHECK("open second handle", journal_open(store, "orders", &other));
    CHECK("bounds", journal_bounds(orders, NULL, &end));
    CHECK("append via second handle", journal_append(other, end, "sneaked in first", 16));
    rc = journal_append(orders, end, "too late", 8);
    printf("    append at %llu: %s\n", (unsigned long long)end, journal_strerror(rc));
    if (rc != JOURNAL_ECONFLICT)
        goto out;
    CHECK("bounds", journal_bounds(orders, NULL, &end));
    CHECK("retry", journal_append(orders, end, "retried at the new end", 22));
    printf("    retried at %llu: ok\n", (unsigned long long)end);

    /* Truncate: drop the oldest records, never leaving a gap. */
    printf("\n5. truncate orders to its last two records\n");
    CHECK("bounds", journal_bounds(orders, &begin, &end));
    CHECK("truncate", journal_truncate(orders, end - 2));
    rc = journal_get(orders, begin, &copy, &len);
    printf("    get at old begin %llu: %s\n", (unsigned long long)begin, journal_strerror(rc));
    CHECK("range", journal_range(orders, end - 2, print_record, NULL));

    printf("\n6. bounds\n");
    print_bounds(orders);
    print_bounds(audit);
    status = 0;
out:
    free(copy);
    journal_snapshot_end(snap);
    journal_close(other);
    journal_close(audit);
    journal_close(orders);
    rc = journal_store_close(store);
    if (rc != 0) {
        fprintf(stderr, "journal-demo: close: %s\n", journal_strerror(rc));
        status = 1;
    }
    return status;
}
