/*
 * journal-dump.c - print the journals of a store, the records of one
 * journal (optionally following new ones), statistics, or a check.
 *
 * The store is opened with JOURNAL_RDONLY, so the tool never changes it and
 * runs next to live writers, and with JOURNAL_VERIFY, so that a damaged file
 * gives an error instead of a crash. Records are read in batches, each in a fresh
 * snapshot that ends before the next wait, so a follower never pins old pages
 * and memory stays constant however large the journal is. See
 * journal-dump.1 for the user's view.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

#define PROG "journal-dump"

/* A batch (one snapshot) ends after this many records or bytes, so that a
 * slow reader of our output never keeps a snapshot open for long. */
#define BATCH_RECORDS 4096
#define BATCH_BYTES (1u << 20)

/* journal_wait() returns -EINTR for a signal that arrives while it sleeps;
 * one that arrives just before it starts sleeping is only seen when the
 * wait times out, so the wait is bounded to keep exit prompt. */
#define WAIT_MS 1000

enum format { FORMAT_TEXT, FORMAT_HEX, FORMAT_JSON, FORMAT_RAW };

enum mode { MODE_LIST, MODE_DUMP, MODE_STAT, MODE_CHECK };

/* The signal (SIGINT, SIGTERM) that asked us to stop, or 0. */
static volatile sig_atomic_t stop_signal;

/*
 * Standard output, buffered by hand rather than by stdio: a write
 * interrupted by SIGINT/SIGTERM must give up instead of blocking on a reader
 * that stopped reading, and the first write error must be kept (EPIPE means
 * the reader is gone, which ends the program quietly).
 */
struct out {
    int err; /* errno of the first failed write; later output is dropped */
    size_t len;
    char buf[1 << 16];
};

struct options {
    enum mode mode;
    enum format format;
    int follow;
    int from_set;
    journal_pos from;
    journal_pos to; /* exclusive; JOURNAL_POS_MAX when not set */
    int count_set;
    uint64_t count;
    const char *store;
    const char *name;
};

/* State of one dump_journal(), shared with its range callback. */
struct dump {
    struct out *out;
    enum format format;
    journal_pos next;  /* the next position to print */
    journal_pos limit; /* print only positions below this */
    size_t batch_records;
    size_t batch_bytes;
};

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void out_flush(struct out *o)
{
    size_t done = 0;
    while (done < o->len && o->err == 0) {
        ssize_t n = write(STDOUT_FILENO, o->buf + done, o->len - done);
        if (n >= 0)
            done += (size_t)n;
        else if (errno != EINTR)
            o->err = errno;
        else if (stop_signal)
            o->err = EINTR; /* asked to stop while the reader is not reading: drop the rest */
    }
    o->len = 0;
}

static void out_put(struct out *o, const void *p, size_t n)
{
    if (o->len + n > sizeof o->buf)
        out_flush(o);
    if (n > sizeof o->buf) {
        /* Too large to buffer: go through the buffer in pieces. */
        const char *c = p;
        while (n > 0 && o->err == 0) {
            size_t k = n < sizeof o->buf ? n : sizeof o->buf;
            memcpy(o->buf, c, k);
            o->len = k;
            out_flush(o);
            c += k;
            n -= k;
        }
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_putc(struct out *o, char c)
{
    if (o->len == sizeof o->buf)
        out_flush(o);
    o->buf[o->len++] = c;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Callers only format numbers and fixed words, well under 256 bytes. */
    if (n > 0)
        out_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Bytes outside printable ASCII written C-style, so one record or one
 * journal name is always one line. */
static void out_escaped(struct out *o, const unsigned char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '\\') {
            out_put(o, "\\\\", 2);
        } else if (c == '\n') {
            out_put(o, "\\n", 2);
        } else if (c == '\t') {
            out_put(o, "\\t", 2);
        } else if (c >= 0x20 && c < 0x7f) {
            out_putc(o, (char)c);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            out_put(o, e, 4);
        }
    }
}

/* 1 when p[0..len) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), as JSON and jq require. */
static int is_utf8(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static void out_base64(struct out *o, const unsigned char *p, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char e[4] = {b64[v >> 18], b64[v >> 12 & 63], b64[v >> 6 & 63], b64[v & 63]};
        out_put(o, e, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char e[4] = {b64[v >> 18], b64[v >> 12 & 63], '=', '='};
        out_put(o, e, 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char e[4] = {b64[v >> 18], b64[v >> 12 & 63], b64[v >> 6 & 63], '='};
        out_put(o, e, 4);
    }
}

/* A JSON string body for valid UTF-8: only quotes, backslashes and control
 * characters need escaping. DEL is escaped too, to keep terminals sane. */
static void out_json_text(struct out *o, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            out_put(o, e, 2);
        } else if (c == '\n') {
            out_put(o, "\\n", 2);
        } else if (c == '\t') {
            out_put(o, "\\t", 2);
        } else if (c == '\r') {
            out_put(o, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            out_printf(o, "\\u%04x", c);
        } else {
            out_putc(o, (char)c);
        }
    }
}

/* The layout of hexdump -C -v: offset, 16 bytes in two groups of 8, the
 * printable characters between bars, and the length on a line of its own. */
static void out_hexdump(struct out *o, const unsigned char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t line = 0; line < len; line += 16) {
        char buf[80];
        size_t n = 0;
        n += (size_t)snprintf(buf, sizeof buf, "%08zx  ", line);
        for (size_t k = 0; k < 16; k++) {
            if (line + k < len) {
                buf[n++] = hex[p[line + k] >> 4];
                buf[n++] = hex[p[line + k] & 15];
            } else {
                buf[n++] = ' ';
                buf[n++] = ' ';
            }
            buf[n++] = ' ';
            if (k == 7)
                buf[n++] = ' ';
        }
        buf[n++] = ' ';
        buf[n++] = '|';
        for (size_t k = 0; k < 16 && line + k < len; k++) {
            unsigned char c = p[line + k];
            buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
        }
        buf[n++] = '|';
        buf[n++] = '\n';
        out_put(o, buf, n);
    }
    if (len > 0)
        out_printf(o, "%08zx\n", len);
}

static void print_record(struct out *o, enum format format, journal_pos pos, const unsigned char *rec, size_t len)
{
    switch (format) {
    case FORMAT_TEXT:
        out_printf(o, "%llu\t", (unsigned long long)pos);
        out_escaped(o, rec, len);
        out_putc(o, '\n');
        break;
    case FORMAT_HEX:
        out_printf(o, "# %llu %zu\n", (unsigned long long)pos, len);
        out_hexdump(o, rec, len);
        break;
    case FORMAT_JSON:
        out_printf(o, "{\"pos\":%llu,\"len\":%zu,\"data\":\"", (unsigned long long)pos, len);
        out_base64(o, rec, len);
        out_putc(o, '"');
        if (is_utf8(rec, len)) {
            out_put(o, ",\"text\":\"", 9);
            out_json_text(o, rec, len);
            out_putc(o, '"');
        }
        out_put(o, "}\n", 2);
        break;
    case FORMAT_RAW: {
        unsigned char be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        out_put(o, be, 8);
        out_put(o, rec, len);
        break;
    }
    }
}

static int dump_record(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct dump *d = arg;
    if (pos >= d->limit || d->batch_records >= BATCH_RECORDS || d->batch_bytes >= BATCH_BYTES || d->out->err ||
        stop_signal)
        return JOURNAL_STOP;
    print_record(d->out, d->format, pos, rec, len);
    d->next = pos + 1;
    d->batch_records++;
    d->batch_bytes += len;
    return 0;
}

static void complain(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line on stderr: "journal-dump: WHAT: message". */
static void complain(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: %s: ", PROG, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/*
 * Prints the records of j selected by o, in batches. Returns the exit
 * status. *missed is set when records were truncated away before they could
 * be printed.
 */
static int dump_journal(journal *j, const struct options *o, struct out *out, int *missed)
{
    struct dump d = {.out = out, .format = o->format, .limit = o->to};
    journal_snapshot *snap = NULL;
    journal_pos begin, end;
    int first = 1, status = 0, rc;

    for (;;) {
        rc = journal_snapshot_begin(j, &snap);
        if (rc != 0)
            break;
        rc = journal_snapshot_bounds(snap, &begin, &end);
        if (rc != 0)
            break;
        if (first) {
            first = 0;
            d.next = o->from_set ? o->from : begin;
            if (d.next > end || d.next < begin) {
                complain(o->store, "%s: position %llu is %s; the journal holds [%llu, %llu)", o->name,
                         (unsigned long long)d.next, d.next > end ? "past the end" : "truncated",
                         (unsigned long long)begin, (unsigned long long)end);
                status = 1;
                break;
            }
            if (o->count_set && d.next < d.limit && o->count < d.limit - d.next)
                d.limit = d.next + o->count;
            /* Without --follow, the dump ends at the end seen now. */
            if (!o->follow && end < d.limit)
                d.limit = end;
        }
        if (d.next < begin) {
            complain(o->store, "%s: records [%llu, %llu) were truncated before they were printed; going on from %llu",
                     o->name, (unsigned long long)d.next, (unsigned long long)begin, (unsigned long long)begin);
            *missed = 1;
            d.next = begin;
        }
        if (d.next < end && d.next < d.limit) {
            d.batch_records = 0;
            d.batch_bytes = 0;
            rc = journal_snapshot_range(snap, d.next, dump_record, &d);
            if (rc != 0)
                break;
        }
        journal_snapshot_end(snap);
        snap = NULL;
        out_flush(out);
        if (out->err || stop_signal || d.next >= d.limit)
            break;
        if (d.next < end)
            continue; /* the batch was full */
        rc = journal_wait(j, d.next, WAIT_MS);
        if (rc == -ETIMEDOUT || rc == -EINTR)
            rc = 0;
        else if (rc != 0)
            break;
    }
    if (rc != 0) {
        complain(o->store, "%s: %s", o->name, journal_strerror(rc));
        status = 1;
    }
    journal_snapshot_end(snap);
    return status;
}

static int run_dump(journal_store *s, const struct options *o, struct out *out)
{
    journal *j = NULL;
    struct sigaction sa;
    int missed = 0, status, rc;

    /* No SA_RESTART: the signal must interrupt journal_wait() and writes. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = journal_open(s, o->name, &j);
    if (rc != 0) {
        if (rc == -ENOENT)
            complain(o->store, "%s: no such journal", o->name);
        else
            complain(o->store, "%s: %s", o->name, journal_strerror(rc));
        return 1;
    }
    status = dump_journal(j, o, out, &missed);
    /* Following is meant to go on through truncations; a one-off dump that
     * lost records did not deliver what was asked for. */
    if (missed && !o->follow)
        status = 1;
    journal_close(j);
    return status;
}

static int list_journal(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct out *o = arg;
    out_escaped(o, (const unsigned char *)name, strlen(name));
    out_printf(o, "\t%llu\t%llu\t%llu\n", (unsigned long long)begin, (unsigned long long)end,
               (unsigned long long)(end - begin));
    return o->err ? JOURNAL_STOP : 0;
}

/* For a terminal: a header and aligned columns. */
static int list_journal_tty(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct out *o = arg;
    size_t len = strlen(name), width = 0;
    out_escaped(o, (const unsigned char *)name, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        width += c == '\\' || c == '\n' || c == '\t' ? 2 : c >= 0x20 && c < 0x7f ? 1 : 4;
    }
    for (; width < 24; width++)
        out_putc(o, ' ');
    out_printf(o, " %12llu %12llu %12llu\n", (unsigned long long)begin, (unsigned long long)end,
               (unsigned long long)(end - begin));
    return o->err ? JOURNAL_STOP : 0;
}

static int run_list(journal_store *s, const struct options *o, struct out *out)
{
    journal_list_fn fn = list_journal;
    int rc;
    if (isatty(STDOUT_FILENO)) {
        out_printf(out, "%-24s %12s %12s %12s\n", "NAME", "BEGIN", "END", "RECORDS");
        fn = list_journal_tty;
    }
    rc = journal_store_list(s, fn, out);
    if (rc != 0) {
        complain(o->store, "%s", journal_strerror(rc));
        return 1;
    }
    return 0;
}

static int stat_journal(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct out *o = arg;
    out_put(o, "journal ", 8);
    out_escaped(o, (const unsigned char *)name, strlen(name));
    out_printf(o, ": begin %llu, end %llu, %llu records\n", (unsigned long long)begin, (unsigned long long)end,
               (unsigned long long)(end - begin));
    return o->err ? JOURNAL_STOP : 0;
}

static int run_stat(journal_store *s, const struct options *o, struct out *out)
{
    journal_stat st;
    int rc = journal_store_stat(s, &st);
    if (rc != 0)
        goto fail;
    out_put(out, "path: ", 6);
    out_escaped(out, (const unsigned char *)journal_store_path(s), strlen(journal_store_path(s)));
    out_printf(out, "\nformat version: %u\n", st.format_version);
    out_printf(out, "map size: %llu\n", (unsigned long long)st.map_size);
    out_printf(out, "file size: %llu\n", (unsigned long long)st.file_size);
    out_printf(out, "bytes in use: %llu\n", (unsigned long long)st.used_size);
    out_printf(out, "page size: %u\n", st.page_size);
    out_printf(out, "journals: %llu\n", (unsigned long long)st.journals);
    out_printf(out, "records: %llu\n", (unsigned long long)st.records);
    out_printf(out, "readers: %u/%u\n", st.readers_used, st.max_readers);
    rc = journal_store_list(s, stat_journal, out);
    if (rc != 0)
        goto fail;
    return 0;

fail:
    complain(o->store, "%s", journal_strerror(rc));
    return 1;
}

struct check {
    const char *store;
    unsigned long long problems;
};

static void check_problem(void *arg, const char *name, const char *problem)
{
    struct check *c = arg;
    c->problems++;
    if (name)
        complain(c->store, "journal %s: %s", name, problem);
    else
        complain(c->store, "%s", problem);
}

static int run_check(journal_store *s, const struct options *o, struct out *out)
{
    struct check c = {.store = o->store};
    int rc = journal_store_check(s, check_problem, &c);
    if (rc == 0) {
        out_escaped(out, (const unsigned char *)o->store, strlen(o->store));
        out_put(out, ": ok\n", 5);
        return 0;
    }
    if (rc == JOURNAL_ECORRUPT)
        complain(o->store, "%llu problem%s found", c.problems, c.problems == 1 ? "" : "s");
    else
        complain(o->store, "check stopped: %s", journal_strerror(rc));
    return 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTIONS] STORE [JOURNAL]\n"
            "Print the journals of a libjournal store, or the records of one journal.\n"
            "Without JOURNAL, list the journals: name, begin, end, number of records.\n"
            "With JOURNAL, print its records from begin to end.\n"
            "\n"
            "  -f, --from=POS     start at position POS (default: the journal's begin)\n"
            "  -t, --to=POS       stop before position POS\n"
            "  -n, --count=N      print at most N records\n"
            "      --format=FMT   text (default), hex, json or raw\n"
            "  -F, --follow       after the last record, wait for new ones and print them;\n"
            "                     stop on SIGINT or SIGTERM\n"
            "  -s, --stat         print statistics of the store\n"
            "  -c, --check        verify the store; exit 1 if anything is wrong\n"
            "  -h, --help         print this help and exit\n"
            "  -V, --version      print the versions of %s and libjournal and exit\n"
            "\n"
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

/* Strict: decimal digits only, at least one, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return -1;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Returns -1 when the options are fine, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum { OPT_FORMAT = 256 };
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},  {"to", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'}, {"format", required_argument, NULL, OPT_FORMAT},
        {"follow", no_argument, NULL, 'F'},      {"stat", no_argument, NULL, 's'},
        {"check", no_argument, NULL, 'c'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0},
    };
    int c, stat = 0, check = 0, to_set = 0, format_set = 0;

    o->format = FORMAT_TEXT;
    o->to = JOURNAL_POS_MAX;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:t:n:FschV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (parse_u64(optarg, &o->from) != 0)
                return bad_usage("--from: '%s' is not a position (0 to %llu)", optarg, (unsigned long long)UINT64_MAX);
            o->from_set = 1;
            break;
        case 't':
            if (parse_u64(optarg, &o->to) != 0)
                return bad_usage("--to: '%s' is not a position (0 to %llu)", optarg, (unsigned long long)UINT64_MAX);
            to_set = 1;
            break;
        case 'n':
            if (parse_u64(optarg, &o->count) != 0)
                return bad_usage("--count: '%s' is not a count (0 to %llu)", optarg, (unsigned long long)UINT64_MAX);
            o->count_set = 1;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") == 0)
                o->format = FORMAT_TEXT;
            else if (strcmp(optarg, "hex") == 0)
                o->format = FORMAT_HEX;
            else if (strcmp(optarg, "json") == 0)
                o->format = FORMAT_JSON;
            else if (strcmp(optarg, "raw") == 0)
                o->format = FORMAT_RAW;
            else
                return bad_usage("--format: '%s' is not one of text, hex, json, raw", optarg);
            format_set = 1;
            break;
        case 'F':
            o->follow = 1;
            break;
        case 's':
            stat = 1;
            break;
        case 'c':
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("%s %s (libjournal %s)\n", PROG, JOURNAL_VERSION_STRING, journal_version());
            return 0;
        case ':':
            if (strncmp(argv[optind - 1], "--", 2) == 0)
                return bad_usage("option '%s' needs a value", argv[optind - 1]);
            return bad_usage("option '-%c' needs a value", optopt);
        default:
            if (optopt)
                return bad_usage("unknown option '-%c'", optopt);
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return bad_usage("no STORE given");
    o->store = argv[optind++];
    if (optind < argc)
        o->name = argv[optind++];
    if (optind < argc)
        return bad_usage("too many arguments: '%s'", argv[optind]);
    if (*o->store == '\0')
        return bad_usage("STORE is empty");
    /* The library's own limits on names, as usage errors rather than
     * failures: no store is opened for a name that cannot exist. */
    if (o->name && *o->name == '\0')
        return bad_usage("JOURNAL is empty");
    if (o->name && strlen(o->name) > 255)
        return bad_usage("JOURNAL is longer than 255 bytes");
    if (stat && check)
        return bad_usage("--stat and --check go separately");
    if ((stat || check) && o->name)
        return bad_usage("--%s takes no JOURNAL", stat ? "stat" : "check");
    if (!o->name && (o->from_set || to_set || o->count_set || format_set || o->follow))
        return bad_usage("--from, --to, --count, --format and --follow need a JOURNAL");
    if (o->from_set && to_set && o->to < o->from)
        return bad_usage("--to %llu is below --from %llu", (unsigned long long)o->to, (unsigned long long)o->from);
    o->mode = stat ? MODE_STAT : check ? MODE_CHECK : o->name ? MODE_DUMP : MODE_LIST;
    return -1;
}

int main(int argc, char **argv)
{
    static struct out out;
    struct options o = {0};
    /* JOURNAL_VERIFY: the tool reads files that may be damaged, and must
     * end with an error on them, not crash (see DAMAGED FILES in
     * journal.h). */
    journal_options jo = {.flags = JOURNAL_RDONLY | JOURNAL_VERIFY};
    journal_store *s = NULL;
    int status, rc;

    status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;

    /* A reader that goes away shows up as EPIPE from write(); we then
     * release the store and end by SIGPIPE, quietly, like any filter. */
    signal(SIGPIPE, SIG_IGN);

    rc = journal_store_open(o.store, &jo, &s);
    if (rc != 0) {
        complain(o.store, "%s", journal_strerror(rc));
        return 1;
    }
    switch (o.mode) {
    case MODE_LIST:
        status = run_list(s, &o, &out);
        break;
    case MODE_DUMP:
        status = run_dump(s, &o, &out);
        break;
    case MODE_STAT:
        status = run_stat(s, &o, &out);
        break;
    case MODE_CHECK:
        status = run_check(s, &o, &out);
        break;
    }
    out_flush(&out);
    journal_store_close(s);

    if (out.err == EPIPE) {
        signal(SIGPIPE, SIG_DFL);
        raise(SIGPIPE);
    } else if (out.err == EINTR) {
        /* Stopped by a signal while the reader was not reading. */
    } else if (out.err != 0) {
        complain("standard output", "%s", strerror(out.err));
        status = 1;
    }
    /* A one-off dump cut short by a signal ends the usual way, by that
     * signal; a follower is expected to be stopped like this, so it exits 0. */
    if (stop_signal && !o.follow) {
        signal(stop_signal, SIG_DFL);
        raise(stop_signal);
    }
    return status;
}
