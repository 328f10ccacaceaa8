/* A subscriber: subscribes to the topics starting with any of the given prefixes (none: every
 * topic) and prints "topic: payload" for each message until the publisher closes, and how
 * many messages were dropped for it if any were. The C twin of
 * examples/rust/pubsub_subscriber.rs.
 *
 *   ./pubsub_subscriber unix:///tmp/ticker.sock prices/
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "ticker";
    /* argv[2..] are the prefixes, and argv ends with NULL, as the API wants. */
    ipc_subscriber *s = NULL;
    ipc_status st = ipc_subscriber_connect(endpoint, NULL, argc > 2 ? (const char *const *)argv + 2 : NULL, &s);
    if (st != IPC_OK) {
        fprintf(stderr, "pubsub_subscriber: %s: %s: %s\n", endpoint, ipc_status_name(st), ipc_last_error());
        return 1;
    }
    for (;;) {
        ipc_message *payload = NULL, *topic = NULL;
        uint64_t dropped = 0;
        st = ipc_subscriber_recv(s, IPC_WAIT_FOREVER, &payload, &topic, NULL, &dropped);
        if (st != IPC_OK)
            break;
        if (dropped > 0)
            printf("(%llu dropped)\n", (unsigned long long)dropped);
        fwrite(ipc_message_data(topic), 1, ipc_message_len(topic), stdout);
        fputs(": ", stdout);
        fwrite(ipc_message_data(payload), 1, ipc_message_len(payload), stdout);
        putchar('\n');
        ipc_message_free(payload);
        ipc_message_free(topic);
    }
    ipc_subscriber_free(s);
    if (st != IPC_ERR_CLOSED) {
        fprintf(stderr, "pubsub_subscriber: %s: %s\n", ipc_status_name(st), ipc_last_error());
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
