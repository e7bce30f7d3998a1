/*
 * plot.c - --plot: ops/s per scenario as a PNG, drawn by gnuplot.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (n > 0 && access(buf, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Writes s as a single-quoted gnuplot string (a quote is doubled). */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

int write_plot(const struct bench *b)
{
    char date[32], mach[256];
    time_t t = time(NULL);
    size_t shown = 0;
    FILE *f;
    int st;

    if (!in_path("gnuplot")) {
        fprintf(stderr, "%s: note: gnuplot is not installed, no plot written (tools/deps.sh bench installs it)\n",
                PROG);
        return 0;
    }
    for (size_t i = 0; i < b->nrows; i++)
        shown += b->rows[i].done;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&t));
    machine_line(mach, sizeof mach);
    f = popen("gnuplot", "w");
    if (!f) {
        fprintf(stderr, "%s: gnuplot: %s\n", PROG, strerror(errno));
        return 1;
    }
    fprintf(f, "set terminal pngcairo size %zu,720 noenhanced font ',10'\nset output ",
            shown < 10 ? (size_t)900 : 300 + 60 * shown);
    gp_quote(f, b->plot);
    /* A newline needs a double-quoted string; the machine's name goes in
     * single quotes, where nothing but a quote is special. */
    fprintf(f, "\nset title 'journal-bench %s: operations per second, median of %u rounds (log scale)' . \"\\n\" . ",
            date, b->rounds);
    gp_quote(f, mach);
    fprintf(f, "\nset rmargin 8\n");
    fprintf(f, "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.85 border -1\nset logscale y\nset format y '%%.0s%%c'\nset grid ytics\n"
               "set ylabel 'records, gets or calls per second'\nset xtics rotate by -40 left nomirror\n"
               "set key outside top center horizontal\nset bmargin 9\nset datafile missing 'NaN'\n$d << EOD\n");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        if (!rw->done)
            continue;
        fprintf(f, "%s", rw->name);
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fprintf(f, " %.3f", median(rw->rate[im], b->rounds));
            else
                fprintf(f, " NaN");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "EOD\nplot $d using 2:xtic(1) title 'journal' lc rgb '#1f77b4', '' using 3 title 'lmdb (floor)' lc "
               "rgb '#7f7f7f', '' using 4 title 'sqlite' lc rgb '#ff7f0e'");
    if (b->impl_mask & IMPL_PGS)
        fprintf(f, ", '' using 5 title 'pg' lc rgb '#2ca02c', '' using 6 title 'pgraw (floor)' lc rgb '#98df8a'");
    fprintf(f, "\n");
    st = pclose(f);
    if (st != 0) {
        fprintf(stderr, "%s: gnuplot failed (status %d); no plot written to %s\n", PROG, st, b->plot);
        return 1;
    }
    return 0;
}
