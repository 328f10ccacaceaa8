/* A request/reply client: sends every argument after the endpoint as a request, all at once
 * (many requests may be in flight on one connection), then prints each reply in order, or
 * "error <status>: <text>" for an error reply (the C twin of examples/rust/rpc_client.rs).
 *
 *   ./rpc_client unix:///tmp/calc.sock "add 2 3" "mul 4 5 6" "pow 2 8"
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, ipc_status st)
{
    fprintf(stderr, "rpc_client: %s: %s: %s\n", what, ipc_status_name(st), ipc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "calc";
    ipc_rpc_client *c = NULL;
    ipc_status st = ipc_rpc_client_connect(endpoint, NULL, &c);
    if (st != IPC_OK)
        return fail(endpoint, st);
    int n = argc > 2 ? argc - 2 : 0, rc = 0;
    uint64_t *tickets = calloc((size_t)n + 1, sizeof *tickets);
    if (!tickets) {
        ipc_rpc_client_free(c);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        st = ipc_rpc_start(c, (const uint8_t *)argv[i + 2], strlen(argv[i + 2]), 5000, &tickets[i]);
        if (st != IPC_OK) {
            rc = fail("start", st);
            n = i;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        ipc_message *reply = NULL;
        uint32_t status = 0;
        st = ipc_rpc_wait(c, tickets[i], 5000, &reply, &status);
        if (st == IPC_OK || st == IPC_ERR_REMOTE) {
            if (st == IPC_ERR_REMOTE)
                printf("error %u: ", (unsigned)status);
            fwrite(ipc_message_data(reply), 1, ipc_message_len(reply), stdout);
            putchar('\n');
        } else if (rc == 0) {
            rc = fail("wait", st);
        }
        ipc_message_free(reply);
    }
    free(tickets);
    if (fflush(stdout) != 0)
        rc = 1;
    ipc_rpc_client_free(c);
    return rc;
}
