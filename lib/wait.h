/*
 * wait.h - private: how journal_wait() of the LMDB backend learns that the
 * store's data file may have changed. Every commit of this library, in any
 * process, ends by touching the data file's times (lib/lmdb/map.c,
 * notify_commit()).
 *
 * One platform file implements this interface, chosen at build time (the
 * Makefile's WAIT variable):
 *   wait_inotify.c  Linux: an inotify instance watching the file;
 *   wait_poll.c     anywhere else, or `make WAIT=poll`: no notification;
 *                   journal__notifier_open() fails with -ENOTSUP and
 *                   lib/lmdb/wait.c polls the store's last transaction id.
 * lib/lmdb/wait.c also polls when the notifier cannot be opened at run time
 * (Linux's limit on inotify instances per user), so journal_wait() never
 * fails for want of one.
 */
#ifndef JOURNAL_WAIT_H
#define JOURNAL_WAIT_H

struct journal__notifier;

/* Starts watching `file`. 0, or a negated errno (-ENOTSUP without a
 * notification mechanism, -EMFILE when the system's limits are reached). */
int journal__notifier_open(const char *file, struct journal__notifier **out);

/*
 * Sleeps until the file changed since the previous call returned (1),
 * timeout_ms milliseconds passed (0; -1 sleeps until a change), or a signal
 * handler ran (-EINTR); another negated errno on failure. One thread at a
 * time may sleep on a notifier.
 */
int journal__notifier_sleep(struct journal__notifier *n, int timeout_ms);

/* Stops watching and frees n. NULL does nothing. */
void journal__notifier_close(struct journal__notifier *n);

#endif /* JOURNAL_WAIT_H */
