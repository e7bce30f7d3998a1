/*
 * aggregate.c - an event-sourced bank account on libjournal.
 *
 *   aggregate STORE ACCOUNT deposit AMOUNT [TIMES]
 *   aggregate STORE ACCOUNT withdraw AMOUNT [TIMES]
 *   aggregate STORE ACCOUNT balance
 *
 * The journal named ACCOUNT holds the account's events, "deposit N" and
 * "withdraw N", in the order they happened. The balance is never stored: it
 * is rebuilt by replaying the events. A command is checked against that
 * state (a withdrawal must not overdraw the account) and its event is
 * appended at the position right after the last event replayed.
 *
 * If another process appended in between, the append fails with
 * JOURNAL_ECONFLICT and writes nothing. journal_append_retry() then calls
 * on_conflict(), which replays the events we missed and checks the command
 * again against the new balance: retry, or reject. This is optimistic
 * concurrency: any number of processes may run this at once and the account
 * never goes below zero, without any lock of our own.
 *
 * TIMES repeats the command (default 1), to make races easy to provoke.
 *
 * Exit status: 0 every command was accepted; 1 an error; 2 bad usage;
 * 3 a withdrawal was rejected for insufficient funds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <journal.h>

#define EXIT_REJECTED 3

/* The aggregate: the state rebuilt from the events, plus the command. */
struct account {
    journal *j;
    int64_t balance;
    journal_pos next;  /* position after the last event applied */
    journal_pos limit; /* replay stops before this position */
    int withdraw;      /* the command: withdraw (1) or deposit (0) */
    int64_t amount;
    int rejected;
    unsigned conflicts;
};

/* Applies one event to the state. Events are short text records. */
static int apply(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct account *a = arg;
    char buf[32];
    long long amount;

    if (pos >= a->limit)
        return JOURNAL_STOP;
    if (len >= sizeof buf)
        return -EBADMSG;
    memcpy(buf, rec, len);
    buf[len] = '\0';
    if (sscanf(buf, "deposit %lld", &amount) == 1)
        a->balance += amount;
    else if (sscanf(buf, "withdraw %lld", &amount) == 1)
        a->balance -= amount;
    else
        return -EBADMSG;
    a->next = pos + 1;
    return 0;
}

/* Brings the state up to position `end` by replaying the events we have
 * not seen yet. journal_range() reads them in one snapshot without copying. */
static int replay(struct account *a, journal_pos end)
{
    if (a->next >= end)
        return 0;
    a->limit = end;
    return journal_range(a->j, a->next, apply, a);
}

/* Called by journal_append_retry() when someone appended first. `end` is
 * the journal's end now: replay up to it, then decide again. Our event does
 * not depend on the position, so *rec and *len stay as they are. */
static int on_conflict(void *arg, journal_pos end, const void **rec, size_t *len)
{
    struct account *a = arg;
    int rc;

    (void)rec;
    (void)len;
    a->conflicts++;
    rc = replay(a, end);
    if (rc != 0)
        return rc;
    if (a->withdraw && a->amount > a->balance) {
        a->rejected = 1;
        return JOURNAL_STOP; /* give up: the retry returns JOURNAL_ECONFLICT */
    }
    return 0;
}

/* Validates the command against the state and appends its event. */
static int execute(struct account *a)
{
    const char *verb = a->withdraw ? "withdraw" : "deposit";
    char event[32];
    journal_pos pos;
    int n, rc;

    a->rejected = 0;
    a->conflicts = 0;
    if (a->withdraw && a->amount > a->balance) {
        a->rejected = 1;
        rc = JOURNAL_ECONFLICT;
    } else {
        n = snprintf(event, sizeof event, "%s %" PRId64, verb, a->amount);
        rc = journal_append_retry(a->j, a->next, event, (size_t)n, on_conflict, a, &pos);
    }
    if (rc == 0) {
        /* Our own event is part of the state too. */
        a->balance += a->withdraw ? -a->amount : a->amount;
        a->next = pos + 1;
        printf("%s %" PRId64 " at %" PRIu64 ": balance %" PRId64 " (%u conflicts)\n", verb, a->amount, pos, a->balance,
               a->conflicts);
    } else if (a->rejected) {
        printf("%s %" PRId64 ": rejected, balance %" PRId64 "\n", verb, a->amount, a->balance);
    }
    return rc;
}

static int parse_count(const char *s, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: aggregate STORE ACCOUNT deposit|withdraw AMOUNT [TIMES]\n"
               "       aggregate STORE ACCOUNT balance\n");
}

int main(int argc, char **argv)
{
    journal_store *s = NULL;
    struct account a = {0};
    int64_t times = 1;
    int status = EXIT_FAILURE, balance_only, rc;

    balance_only = argc == 4 && strcmp(argv[3], "balance") == 0;
    if (!balance_only) {
        if (argc < 5 || argc > 6 || (strcmp(argv[3], "deposit") != 0 && strcmp(argv[3], "withdraw") != 0) ||
            parse_count(argv[4], INT64_C(1000000000000), &a.amount) != 0 ||
            (argc == 6 && parse_count(argv[5], 1000000, &times) != 0)) {
            usage(stderr);
            return 2;
        }
        a.withdraw = strcmp(argv[3], "withdraw") == 0;
    }

    rc = journal_store_open(argv[1], NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "aggregate: %s: %s\n", argv[1], journal_strerror(rc));
        goto out;
    }
    rc = journal_open(s, argv[2], &a.j);
    if (rc != 0) {
        fprintf(stderr, "aggregate: %s: %s\n", argv[2], journal_strerror(rc));
        goto out_store;
    }

    /* Rebuild the state from every event so far. Event sourcing needs the
     * whole history: a truncated journal makes journal_range() fail with
     * JOURNAL_ENOTFOUND at position 0. */
    rc = journal_bounds(a.j, NULL, &a.limit);
    if (rc == 0)
        rc = replay(&a, a.limit);
    if (rc != 0) {
        fprintf(stderr, "aggregate: replaying %s: %s\n", argv[2], journal_strerror(rc));
        goto out_journal;
    }
    if (balance_only) {
        printf("%s: balance %" PRId64 " after %" PRIu64 " events\n", argv[2], a.balance, a.next);
        status = EXIT_SUCCESS;
        goto out_journal;
    }

    status = EXIT_SUCCESS;
    for (int64_t i = 0; i < times; i++) {
        rc = execute(&a);
        if (rc != 0 && a.rejected) {
            status = EXIT_REJECTED;
        } else if (rc != 0) {
            fprintf(stderr, "aggregate: %s %s: %s\n", argv[3], argv[4], journal_strerror(rc));
            status = EXIT_FAILURE;
            break;
        }
    }

out_journal:
    journal_close(a.j);
out_store:
    journal_store_close(s);
out:
    return status;
}
