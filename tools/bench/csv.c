/*
 * csv.c - --csv: one line per row, every implementation's median, spread,
 * peak memory and fewest operations of a round.
 */
#include <inttypes.h>

#include "bench.h"

/* Writes and closes b->csv_file, opened before the run so that a path that
 * cannot be written fails at once rather than after the run. */
int write_csv(struct bench *b)
{
    FILE *f = b->csv_file;
    int rc;

    b->csv_file = NULL;
    fprintf(f, "scenario,unit,ops_per_round,rounds");
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_ops_s", impl_names[im]);
    fprintf(f, ",journal_vs_lmdb,journal_vs_sqlite,pg_vs_pgraw");
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_min_ops_s,%s_max_ops_s", impl_names[im], impl_names[im]);
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_rss_kib", impl_names[im]);
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_least_ops", impl_names[im]);
    fprintf(f, "\n");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        if (!rw->done)
            continue;
        fprintf(f, "%s,%s,%" PRIu64 ",%u", rw->name, rw->unit, rw->ops, b->rounds);
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fprintf(f, ",%.1f", median(rw->rate[im], b->rounds));
            else
                fprintf(f, ",");
        }
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_LMDB))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds));
        else
            fprintf(f, ",");
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_SQLITE))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_JOURNAL, IMPL_SQLITE, b->rounds));
        else
            fprintf(f, ",");
        if (runs(b, rw, IMPL_PG) && runs(b, rw, IMPL_PGRAW))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_PG, IMPL_PGRAW, b->rounds));
        else
            fprintf(f, ",");
        for (int im = 0; im < NIMPL; im++) {
            double lo = 1e300, hi = 0;
            if (!runs(b, rw, (enum impl)im)) {
                fprintf(f, ",,");
                continue;
            }
            for (unsigned r = 0; r < b->rounds; r++) {
                lo = rw->rate[im][r] < lo ? rw->rate[im][r] : lo;
                hi = rw->rate[im][r] > hi ? rw->rate[im][r] : hi;
            }
            fprintf(f, ",%.1f,%.1f", lo, hi);
        }
        for (int im = 0; im < NIMPL; im++)
            fprintf(f, ",%ld", rw->rss_kib[im]);
        for (int im = 0; im < NIMPL; im++)
            fprintf(f, ",%" PRIu64, rw->least[im]);
        fprintf(f, "\n");
    }
    rc = ferror(f);
    if (fclose(f) != 0 || rc) {
        fprintf(stderr, "%s: %s: write failed\n", PROG, b->csv);
        return 1;
    }
    return 0;
}
