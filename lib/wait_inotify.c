/*
 * wait_inotify.c - the notifier of wait.h on Linux: one inotify instance
 * per store handle, watching the data file for writes and time changes.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "wait.h"

struct journal__notifier {
    int fd;
};

int journal__notifier_open(const char *file, struct journal__notifier **out)
{
    struct journal__notifier *n = malloc(sizeof *n);
    int rc;

    if (!n)
        return -ENOMEM;
    n->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (n->fd < 0) {
        rc = -errno;
        goto out_free;
    }
    if (inotify_add_watch(n->fd, file, IN_MODIFY | IN_ATTRIB) < 0) {
        rc = -errno;
        goto out_close;
    }
    *out = n;
    return 0;
out_close:
    close(n->fd);
out_free:
    free(n);
    return rc;
}

int journal__notifier_sleep(struct journal__notifier *n, int timeout_ms)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd pfd = {n->fd, POLLIN, 0};
    int rc = poll(&pfd, 1, timeout_ms);

    if (rc < 0)
        return -errno;
    if (rc == 0)
        return 0;
    /* Drain the events: what matters is only that something changed. */
    while (read(n->fd, buf, sizeof buf) > 0)
        ;
    return 1;
}

void journal__notifier_close(struct journal__notifier *n)
{
    if (n) {
        close(n->fd);
        free(n);
    }
}
