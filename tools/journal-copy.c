/*
 * journal-copy.c - a consistent hot backup of a store into a new directory.
 *
 * The copy comes from one read snapshot (journal_store_copy()), so writers
 * go on appending while it runs and the copy holds the store as it was at one
 * instant. The source is opened with JOURNAL_RDONLY: a mistyped STORE gives
 * an error instead of a new, empty store copied faithfully. See
 * journal-copy.1 for the user's view.
 */
#define _GNU_SOURCE /* asprintf() */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define PROG "journal-copy"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTIONS] STORE DEST\n"
            "Copy the libjournal store STORE into the new directory DEST, consistently,\n"
            "while other processes go on writing to STORE.\n"
            "\n"
            "  -c, --compact   leave out free pages and renumber them: a smaller copy\n"
            "  -h, --help      print this help and exit\n"
            "  -V, --version   print the versions of %s and libjournal and exit\n"
            "\n"
            "DEST must not exist or be an empty directory.\n"
            "Exit status: 0 on success, 1 on failure, 2 on bad usage.\n",
            PROG, PROG);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line, so that scripts see one error per failure. Returns 2. */
static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", PROG);
    return 2;
}

/*
 * Where dest would be once created, with every symbolic link and "." or
 * ".." resolved: realpath() of dest when it exists, else of its parent
 * followed by its last name (the copy creates only dest itself, so a
 * missing parent fails the copy anyway). NULL when it cannot be resolved.
 */
static char *resolve_dest(const char *dest)
{
    char *copy, *slash, *parent, *out = realpath(dest, NULL);
    const char *name;
    size_t len;

    if (out || errno != ENOENT)
        return out;
    copy = strdup(dest);
    if (!copy)
        return NULL;
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    slash = strrchr(copy, '/');
    if (slash) {
        *slash = '\0';
        name = slash + 1;
        parent = realpath(slash == copy ? "/" : copy, NULL);
    } else {
        name = copy;
        parent = realpath(".", NULL);
    }
    if (parent && asprintf(&out, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, name) < 0)
        out = NULL;
    free(parent);
    free(copy);
    return out;
}

/* 1 when the directory dest is the store's directory or lies inside it: a
 * copy there would write into the store it reads. */
static int dest_inside_store(const char *store, const char *dest)
{
    char *s = realpath(store, NULL), *d = s ? resolve_dest(dest) : NULL;
    size_t n = s ? strlen(s) : 0;
    int inside = d && strncmp(d, s, n) == 0 && (d[n] == '\0' || d[n] == '/' || (n == 1 && s[0] == '/'));
    free(d);
    free(s);
    return inside;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"compact", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    journal_options jo = {.flags = JOURNAL_RDONLY};
    journal_store *s = NULL;
    unsigned flags = 0;
    const char *store, *dest;
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "chV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            flags |= JOURNAL_COPY_COMPACT;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("%s %s (libjournal %s)\n", PROG, JOURNAL_VERSION_STRING, journal_version());
            return 0;
        default:
            if (optopt)
                return bad_usage("unknown option '-%c'", optopt);
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return bad_usage("%s", argc - optind < 2 ? "STORE and DEST are needed" : "too many arguments");
    store = argv[optind];
    dest = argv[optind + 1];
    if (*store == '\0' || *dest == '\0')
        return bad_usage("%s is empty", *store == '\0' ? "STORE" : "DEST");
    if (dest_inside_store(store, dest)) {
        fprintf(stderr, "%s: %s: the destination is inside the store it copies\n", PROG, dest);
        return 2;
    }

    rc = journal_store_open(store, &jo, &s);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, store, journal_strerror(rc));
        goto out;
    }
    rc = journal_store_copy(s, dest, flags);
    if (rc != 0)
        fprintf(stderr, "%s: %s: %s\n", PROG, dest, journal_strerror(rc));
    journal_store_close(s);
out:
    return rc == 0 ? 0 : 1;
}
