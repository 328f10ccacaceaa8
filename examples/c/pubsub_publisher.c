/* A publisher: waits for the given number of subscribers, publishes each "topic=payload"
 * argument, then closes (each subscriber gets everything, then the end). The C twin of
 * examples/rust/pubsub_publisher.rs.
 *
 *   ./pubsub_publisher unix:///tmp/ticker.sock 2 prices/ACME=101.5 "news/ACME=merger talks"
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, ipc_status st)
{
    fprintf(stderr, "pubsub_publisher: %s: %s: %s\n", what, ipc_status_name(st), ipc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "ticker";
    size_t subscribers = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 1;
    ipc_publisher *p = NULL;
    ipc_status st = ipc_publisher_bind(endpoint, NULL, IPC_OVERFLOW_DROP_OLDEST, 0, 0, &p);
    if (st != IPC_OK)
        return fail(endpoint, st);
    int rc = 0;
    if ((st = ipc_publisher_wait_subscribers(p, subscribers, IPC_WAIT_FOREVER)) != IPC_OK)
        rc = fail("waiting for subscribers", st);
    for (int i = 3; i < argc && rc == 0; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *topic = eq ? argv[i] : "";
        size_t topic_len = eq ? (size_t)(eq - argv[i]) : 0;
        const char *payload = eq ? eq + 1 : argv[i];
        st = ipc_publish(p, (const uint8_t *)topic, topic_len, (const uint8_t *)payload,
                         strlen(payload), NULL);
        if (st != IPC_OK)
            rc = fail("publish", st);
    }
    if ((st = ipc_publisher_close(p, IPC_WAIT_FOREVER)) != IPC_OK && rc == 0)
        rc = fail("close", st);
    ipc_publisher_free(p);
    return rc;
}
