/*
 * wait_poll.c - the notifier of wait.h where there is none (built with
 * `make WAIT=poll`, and the default off Linux): opening fails, and
 * journal_wait() polls the store instead (lib/lmdb/wait.c).
 */
#include <errno.h>
#include <stddef.h>

#include "wait.h"

int journal__notifier_open(const char *file, struct journal__notifier **out)
{
    (void)file;
    (void)out;
    return -ENOTSUP;
}

int journal__notifier_sleep(struct journal__notifier *n, int timeout_ms)
{
    (void)n;
    (void)timeout_ms;
    return -ENOTSUP;
}

void journal__notifier_close(struct journal__notifier *n)
{
    (void)n;
}
