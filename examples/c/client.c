/* A client: connects to the endpoint in argv[1], sends each further argument as a message and
 * prints each reply on its own line (the C twin of examples/rust/client.rs).
 *
 *   ./client unix:///tmp/echo.sock hello "two words"
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, ipc_status st)
{
    fprintf(stderr, "client: %s: %s: %s\n", what, ipc_status_name(st), ipc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "demo";
    ipc_options *opts = NULL;
    ipc_channel *ch = NULL;
    ipc_status st;
    int rc = 0;

    if ((st = ipc_options_new(&opts)) != IPC_OK)
        return fail("options", st);
    if ((st = ipc_options_set_connect_timeout(opts, 5000)) != IPC_OK) {
        ipc_options_free(opts);
        return fail("options", st);
    }
    st = ipc_channel_connect(endpoint, opts, &ch);
    ipc_options_free(opts);
    if (st != IPC_OK)
        return fail(endpoint, st);

    for (int i = 2; i < argc && rc == 0; i++) {
        ipc_message *reply = NULL;
        st = ipc_channel_send(ch, (const uint8_t *)argv[i], strlen(argv[i]), IPC_WAIT_FOREVER);
        if (st != IPC_OK) {
            rc = fail("send", st);
            break;
        }
        st = ipc_channel_recv(ch, 5000, &reply);
        if (st != IPC_OK) {
            rc = fail("recv", st);
            break;
        }
        fwrite(ipc_message_data(reply), 1, ipc_message_len(reply), stdout);
        putchar('\n');
        ipc_message_free(reply);
    }
    if (fflush(stdout) != 0)
        rc = 1;
    ipc_channel_close(ch);
    ipc_channel_free(ch);
    return rc;
}
