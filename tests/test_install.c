/*
 * test_install.c - `make install` gives a library people can build against
 * with pkg-config alone, and `make uninstall` takes it all back.
 *
 * Each test installs into a DESTDIR of its own under its temporary
 * directory, with PREFIX=/usr, from the source tree $JOURNAL_TEST_SRC.
 * make runs with its own build directory, $JOURNAL_TEST_BUILD/install-test,
 * rather than the suite's: that build may be instrumented (SANITIZE), and
 * its journal.pc may have been generated for another PREFIX. The directory
 * is kept between tests and runs, so only the first install compiles
 * anything; a lock file serializes the tests that tu_runf make at once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

TestSuite(install, .init = tu_setup, .fini = tu_teardown);

#define SOFILE "libjournal.so." JOURNAL_VERSION_STRING
#define STR_(x) #x
#define STR(x) STR_(x)
#define SONAME "libjournal.so." STR(JOURNAL_VERSION_MAJOR)

static const char *src_dir(void)
{
    const char *d = getenv("JOURNAL_TEST_SRC");
    return d && *d ? d : ".";
}

/* Runs `make TARGET` in the source tree with DESTDIR=dest PREFIX=/usr and
 * asserts success. MAKEFLAGS and friends are dropped so that the variables
 * of an outer `make test` (B, SANITIZE) do not leak into this make. */
static void make_target(const char *target, const char *dest)
{
    const char *b = getenv("JOURNAL_TEST_BUILD");
    char *build, *lock;
    char *out = NULL, *err = NULL;
    int fd, rc;

    cr_assert(asprintf(&build, "%s/install-test", b && *b ? b : "build") > 0);
    cr_assert_eq(tu_runf(NULL, NULL, "mkdir -p '%s'", build), 0);
    cr_assert(asprintf(&lock, "%s/.lock", build) > 0);
    fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0, "%s: %s", lock, strerror(errno));
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    rc = tu_runf(&out, &err,
                 "cd '%s' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -j2 B='%s' SANITIZE= PREFIX=/usr "
                 "DESTDIR='%s' %s",
                 src_dir(), build, dest, target);
    close(fd);
    cr_assert_eq(rc, 0, "make %s failed (%d):\n%s\n%s", target, rc, out, err);
    free(out);
    free(err);
    free(lock);
    free(build);
}

/* Installs into a fresh DESTDIR under the test's directory. */
static const char *install(void)
{
    const char *dest = tu_path("dest");
    make_target("install", dest);
    return dest;
}

static void assert_regular(const char *path, mode_t mode)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s is missing", path);
    cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", path);
    cr_assert_eq(st.st_mode & 0777, mode, "%s has mode %o", path, (unsigned)(st.st_mode & 0777));
}

static void assert_link(const char *path, const char *target)
{
    char buf[256];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    cr_assert(n > 0, "%s is not a symbolic link", path);
    buf[n] = '\0';
    cr_assert_str_eq(buf, target, "%s points to %s", path, buf);
}

/* Calls fn for each file of the source tree matching pattern (relative to
 * the source directory), with its base name. */
static void for_each_source(const char *pattern, void (*fn)(void *arg, const char *base), void *arg)
{
    char *pat;
    glob_t g;

    cr_assert(asprintf(&pat, "%s/%s", src_dir(), pattern) > 0);
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            fn(arg, strrchr(g.gl_pathv[i], '/') + 1);
        globfree(&g);
    }
    free(pat);
}

/* The programs make installs: every tools/NAME.c but the demo and the
 * benchmark (which needs SQLite, a dependency of `make bench` only). */
static int is_installed(const char *base)
{
    return strcmp(base, "journal-demo.c") != 0 && strcmp(base, "journal-bench.c") != 0;
}

static void check_program(void *arg, const char *base)
{
    const char *dest = arg;
    char *p;
    if (!is_installed(base))
        return;
    cr_assert(asprintf(&p, "%s/usr/bin/%.*s", dest, (int)(strlen(base) - 2), base) > 0);
    assert_regular(p, 0755);
    free(p);
}

static void check_man_page(void *arg, const char *base)
{
    const char *dest = arg;
    char *p;
    if (strcmp(base, "journal-bench.1") == 0)
        return;
    cr_assert(asprintf(&p, "%s/usr/share/man/man1/%s", dest, base) > 0);
    assert_regular(p, 0644);
    free(p);
}

Test(install, puts_the_header_libraries_pc_file_programs_and_man_pages_in_place)
{
    const char *dest = install();
    char *p;

    cr_assert(asprintf(&p, "%s/usr/include/journal.h", dest) > 0);
    assert_regular(p, 0644);
    free(p);
    /* Only the contract is installed, never the private header. */
    cr_assert(asprintf(&p, "%s/usr/include/internal.h", dest) > 0);
    cr_assert_neq(access(p, F_OK), 0, "the private header is installed");
    free(p);
    cr_assert(asprintf(&p, "%s/usr/lib/libjournal.a", dest) > 0);
    assert_regular(p, 0644);
    free(p);
    cr_assert(asprintf(&p, "%s/usr/lib/" SOFILE, dest) > 0);
    assert_regular(p, 0755);
    free(p);
    cr_assert(asprintf(&p, "%s/usr/lib/" SONAME, dest) > 0);
    assert_link(p, SOFILE);
    free(p);
    cr_assert(asprintf(&p, "%s/usr/lib/libjournal.so", dest) > 0);
    assert_link(p, SOFILE);
    free(p);
    cr_assert(asprintf(&p, "%s/usr/lib/pkgconfig/journal.pc", dest) > 0);
    assert_regular(p, 0644);
    free(p);
    for_each_source("tools/*.c", check_program, (void *)dest);
    for_each_source("tools/*.1", check_man_page, (void *)dest);
}

/* Each installed program documents itself: tools/NAME.1 exists for it. */
static void check_has_man_page(void *arg, const char *base)
{
    const char *dest = arg;
    char *p;
    if (!is_installed(base))
        return;
    cr_assert(asprintf(&p, "%s/usr/share/man/man1/%.*s.1", dest, (int)(strlen(base) - 2), base) > 0);
    cr_assert_eq(access(p, F_OK), 0, "no man page installed for %s", base);
    free(p);
}

Test(install, gives_every_installed_program_a_man_page)
{
    for_each_source("tools/*.c", check_has_man_page, (void *)install());
}

/* The installed programs tu_runf from DESTDIR alone (they link libjournal.a). */
static void check_runs(void *arg, const char *base)
{
    const char *dest = arg;
    char *out = NULL, *err = NULL;
    int rc;
    if (!is_installed(base))
        return;
    rc = tu_runf(&out, &err, "'%s/usr/bin/%.*s' --version", dest, (int)(strlen(base) - 2), base);
    cr_assert_eq(rc, 0, "%s --version: %d\n%s", base, rc, err);
    cr_assert(strstr(out, JOURNAL_VERSION_STRING) != NULL, "%s --version: %s", base, out);
    free(out);
    free(err);
}

Test(install, installs_programs_that_run_and_print_the_library_version)
{
    for_each_source("tools/*.c", check_runs, (void *)install());
}

/* The pkg-config command for the installed copy: PKG_CONFIG_SYSROOT_DIR
 * maps the /usr paths of journal.pc into DESTDIR. */
#define PKGCONF "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' PKG_CONFIG_SYSROOT_DIR='%s' pkg-config"

Test(install, pkg_config_describes_the_installed_copy)
{
    const char *dest = install();
    char *out, *want;

    cr_assert_eq(tu_runf(&out, NULL, PKGCONF " --modversion journal", dest, dest), 0);
    cr_assert_str_eq(out, JOURNAL_VERSION_STRING "\n");
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, PKGCONF " --cflags journal", dest, dest), 0);
    cr_assert(asprintf(&want, "-I%s/usr/include", dest) > 0);
    cr_assert(strstr(out, want) != NULL, "pkg-config --cflags gives %s", out);
    free(want);
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, PKGCONF " --libs journal", dest, dest), 0);
    cr_assert(asprintf(&want, "-L%s/usr/lib -ljournal", dest) > 0);
    cr_assert(strstr(out, want) != NULL, "pkg-config --libs gives %s", out);
    free(want);
    free(out);
}

/* Builds examples/aggregate.c against the installed copy; returns the
 * program's path. Only pkg-config's flags point at the header and the
 * library: the source tree's include/ is not used. `pcflags` adds to
 * pkg-config's options and `libs` is a sed script applied to its --libs. */
static const char *build_example(const char *dest, const char *name, const char *pcflags, const char *libs)
{
    const char *exe = tu_path(name);
    char *err = NULL;
    int rc;

    rc = tu_runf(NULL, &err,
                 "cc -std=c11 -Wall -Wextra -Werror $(" PKGCONF " %s --cflags journal) '%s/examples/aggregate.c' "
                 "-o '%s' $(" PKGCONF " %s --libs journal | sed '%s')",
                 dest, dest, pcflags, src_dir(), exe, dest, dest, pcflags, libs);
    cr_assert_eq(rc, 0, "cc: %s", err);
    free(err);
    return exe;
}

Test(install, a_program_builds_and_runs_against_the_shared_library)
{
    const char *dest = install(), *exe = build_example(dest, "agg", "", ""), *store = tu_store();
    char *out, *err, *want;

    cr_assert_eq(tu_runf(&out, NULL, "readelf -d '%s'", exe), 0);
    cr_assert(strstr(out, "(NEEDED)") && strstr(out, "[" SONAME "]"), "not linked to " SONAME ":\n%s", out);
    free(out);
    /* The dynamic loader takes the library from DESTDIR. */
    cr_assert_eq(tu_runf(&out, NULL, "LD_LIBRARY_PATH='%s/usr/lib' ldd '%s'", dest, exe), 0);
    cr_assert(asprintf(&want, SONAME " => %s/usr/lib/" SONAME, dest) > 0);
    cr_assert(strstr(out, want) != NULL, "ldd:\n%s", out);
    free(want);
    free(out);
    cr_assert_eq(tu_runf(&out, &err, "LD_LIBRARY_PATH='%s/usr/lib' '%s' '%s' acct deposit 7", dest, exe, store), 0,
                 "%s", err);
    cr_assert_str_eq(out, "deposit 7 at 0: balance 7 (0 conflicts)\n");
    free(out);
    free(err);
}

/* libjournal.a linked in, with the libraries `pkg-config --static` lists
 * for it: the link fails if journal.pc leaves out a library that
 * libjournal.a needs (LMDB, pthreads), or lists one that cannot be found.
 * Only libjournal is taken static (-Bstatic around -ljournal); the
 * system's libraries stay shared, as most distributions ship them. An
 * LMDB-only program needs nothing of PostgreSQL: journal.pc names no
 * libpq, and the program does not load it. */
Test(install, a_program_links_libjournal_statically_with_pkg_config_static)
{
    const char *dest = install(), *store = tu_store();
    const char *exe = build_example(dest, "agg-static", "--static",
                                    "s/\\(^\\| \\)-ljournal\\( \\|$\\)/\\1-Wl,-Bstatic -ljournal -Wl,-Bdynamic\\2/");
    char *out, *err;

    cr_assert_eq(tu_runf(&out, NULL, PKGCONF " --static --libs journal", dest, dest), 0);
    cr_assert_null(strstr(out, "-lpq"), "pkg-config --static --libs journal: %s", out);
    free(out);
    cr_assert_eq(tu_runf(&out, NULL, "readelf -d '%s'", exe), 0);
    cr_assert_null(strstr(out, "libjournal"), "linked dynamically:\n%s", out);
    cr_assert_null(strstr(out, "libpq"), "linked to libpq:\n%s", out);
    free(out);
    cr_assert_eq(tu_runf(&out, &err, "'%s' '%s' acct deposit 7", exe, store), 0, "%s", err);
    cr_assert_str_eq(out, "deposit 7 at 0: balance 7 (0 conflicts)\n");
    free(out);
    free(err);
}

/* Whether a NEEDED library is LMDB or part of the C library. */
static int lmdb_or_libc(const char *lib)
{
    static const char *const ok[] = {"liblmdb.so.", "libc.so.", "ld-linux", "libpthread.so.", "libdl.so."};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(lib, ok[i], strlen(ok[i])) == 0)
            return 1;
    return 0;
}

/* PostgreSQL costs nothing to those who do not use it: libpq is loaded at
 * the first postgresql:// open (tests/test_libpq.c), never linked. */
Test(install, the_shared_library_needs_only_lmdb_and_the_c_library)
{
    const char *dest = install();
    char *out, *line, *save = NULL;
    unsigned needed = 0;

    cr_assert_eq(
        tu_runf(&out, NULL, "readelf -d '%s/usr/lib/" SOFILE "' | sed -n 's/.*(NEEDED).*\\[\\(.*\\)\\]/\\1/p'", dest),
        0);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert(lmdb_or_libc(line), "libjournal needs %s", line);
        needed++;
    }
    cr_assert_geq(needed, 2, "readelf found %u NEEDED entries", needed);
    free(out);
    /* Nor does anything it needs pull libpq in. */
    cr_assert_eq(tu_runf(&out, NULL, "ldd '%s/usr/lib/" SOFILE "'", dest), 0);
    cr_assert_null(strstr(out, "libpq"), "ldd:\n%s", out);
    free(out);
}

Test(install, the_shared_library_has_the_major_version_as_soname)
{
    const char *dest = install();
    char *out;

    cr_assert_eq(tu_runf(&out, NULL, "readelf -d '%s/usr/lib/" SOFILE "'", dest), 0);
    cr_assert(strstr(out, "(SONAME)") && strstr(out, "Library soname: [" SONAME "]"), "readelf -d:\n%s", out);
    free(out);
}

/* A plain make and make install never install packages: no recipe of
 * theirs runs tools/deps.sh, apt-get or sudo (make -n -B lists every
 * recipe, as on a machine where nothing is built yet). */
Test(install, plain_make_and_make_install_never_run_the_dependency_script)
{
    char *out = NULL, *err = NULL;
    int rc = tu_runf(&out, &err,
                     "cd '%s' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u JOURNAL_DEPS_DONE make -n -B B='%s' "
                     "DESTDIR='%s' all install",
                     src_dir(), tu_path("build"), tu_path("dest"));
    cr_assert_eq(rc, 0, "make -n: %s", err);
    cr_assert(strstr(out, "libjournal.so") != NULL, "make -n lists no build:\n%s", out);
    cr_assert_null(strstr(out, "deps.sh"), "make runs the dependency script:\n%s", out);
    cr_assert_null(strstr(out, "apt-get"), "make runs apt-get:\n%s", out);
    cr_assert_null(strstr(out, "sudo"), "make runs sudo:\n%s", out);
    free(out);
    free(err);
}

/* A missing dependency stops a plain make with a message that names the
 * package and `make deps`; here pkg-config is made not to find LMDB. */
Test(install, plain_make_without_lmdb_stops_and_says_make_deps_installs_it)
{
    const char *fake = tu_path("pkg-config-without-lmdb");
    char *out = NULL, *err = NULL;
    FILE *f = fopen(fake, "w");
    int rc;

    cr_assert_not_null(f);
    fputs("#!/bin/sh\nfor a; do [ \"$a\" = lmdb ] && exit 1; done\nexec pkg-config \"$@\"\n", f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(fake, 0755), 0);
    rc = tu_runf(
        &out, &err,
        "cd '%s' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u JOURNAL_DEPS_DONE make B='%s' PKG_CONFIG='%s' all",
        src_dir(), tu_path("build"), fake);
    cr_assert_neq(rc, 0, "make succeeded without LMDB:\n%s", out);
    cr_assert(strstr(err, "make deps") && strstr(err, "liblmdb-dev"), "the message does not say what to do:\n%s", err);
    cr_assert_null(strstr(out, "deps.sh"), "make ran the dependency script:\n%s", out);
    free(out);
    free(err);
}

/* Whether `name` is in the newline-separated list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

/* The dynamic symbols are exactly the public functions: each name nm lists
 * is a journal_ name (not a journal__ internal one), and each function
 * the installed header declares with JOURNAL_API is exported. */
Test(install, the_shared_library_exports_exactly_the_public_api)
{
    const char *dest = install();
    char *syms, *hdr, *line, *save = NULL, *copy;
    unsigned declared = 0;

    cr_assert_eq(tu_runf(&syms, NULL, "nm -D --defined-only '%s/usr/lib/" SOFILE "' | awk '{print $3}'", dest), 0);
    copy = strdup(syms);
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert(strncmp(line, "journal_", 8) == 0 && line[8] != '_', "exported symbol %s is not public API", line);
    }
    free(copy);

    cr_assert_eq(tu_runf(&hdr, NULL, "cat '%s/usr/include/journal.h'", dest), 0);
    save = NULL;
    for (line = strtok_r(hdr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *paren, *start;
        if (strncmp(line, "JOURNAL_API ", 12) != 0 || !(paren = strchr(line, '(')))
            continue;
        *paren = '\0';
        start = strrchr(line, ' ');
        start = start ? start + 1 : line;
        if (*start == '*')
            start++;
        declared++;
        cr_assert(listed(syms, start), "%s is declared but not exported", start);
    }
    cr_assert_gt(declared, 30, "too few JOURNAL_API declarations found (%u)", declared);
    free(hdr);
    free(syms);
}

/* nftw() has no argument for its callback: the count is a static. */
static int nfiles, list_files;

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_D && flag != FTW_DP) {
        if (list_files)
            fprintf(stderr, "left behind: %s\n", path);
        nfiles++;
    }
    return 0;
}

Test(install, uninstall_removes_every_installed_file)
{
    const char *dest = install();

    nfiles = 0;
    cr_assert_eq(nftw(dest, count_file, 16, FTW_PHYS), 0);
    cr_assert_gt(nfiles, 5, "install installed only %d files", nfiles);
    make_target("uninstall", dest);
    nfiles = 0;
    list_files = 1;
    cr_assert_eq(nftw(dest, count_file, 16, FTW_PHYS), 0);
    cr_assert_eq(nfiles, 0, "uninstall left %d files (listed above)", nfiles);
}
