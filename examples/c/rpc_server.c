/* A request/reply server: a tiny calculator (the C twin of examples/rust/rpc_server.rs).
 * "add 2 3" is answered "5", "mul 4 5 6" "120"; anything it does not understand gets an error
 * reply with status 400 and a reason. One thread per client; prints "serving on <endpoint>",
 * then serves until SIGINT or SIGTERM.
 *
 *   ./rpc_server unix:///tmp/calc.sock
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The answer to `req` in `out` (a reply) or `why` (an error's text); 0 for a reply. */
static int calculate(char *req, char *out, size_t cap, char *why, size_t why_cap)
{
    char *save = NULL;
    char *op = strtok_r(req, " ", &save);
    if (!op) {
        snprintf(why, why_cap, "empty request");
        return -1;
    }
    int add = strcmp(op, "add") == 0, mul = strcmp(op, "mul") == 0;
    if (!add && !mul) {
        snprintf(why, why_cap, "unknown operation \"%s\"", op);
        return -1;
    }
    long long acc = add ? 0 : 1;
    for (char *w = strtok_r(NULL, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *end = NULL;
        long long v = strtoll(w, &end, 10);
        if (*w == '\0' || *end != '\0') {
            snprintf(why, why_cap, "\"%s\" is not a number", w);
            return -1;
        }
        acc = add ? acc + v : acc * v;
    }
    snprintf(out, cap, "%lld", acc);
    return 0;
}

static void *serve(void *arg)
{
    ipc_rpc_conn *conn = arg;
    for (;;) {
        uint64_t id = 0;
        ipc_message *body = NULL;
        if (ipc_rpc_recv(conn, IPC_WAIT_FOREVER, &id, &body) != IPC_OK)
            break; /* the client left */
        if (!body)
            continue; /* a CANCEL: every request here is answered at once anyway */
        char req[256], out[64], why[300];
        size_t n = ipc_message_len(body) < sizeof req - 1 ? ipc_message_len(body) : sizeof req - 1;
        memcpy(req, ipc_message_data(body), n);
        req[n] = '\0';
        ipc_message_free(body);
        ipc_status st = calculate(req, out, sizeof out, why, sizeof why) == 0
                            ? ipc_rpc_reply(conn, id, (const uint8_t *)out, strlen(out), 5000)
                            : ipc_rpc_reply_error(conn, id, 400, why, 5000);
        if (st != IPC_OK)
            break;
    }
    ipc_rpc_conn_free(conn);
    return NULL;
}

static ipc_rpc_server *server;

static void *stop_on_signal(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    sigwait(set, &sig);
    ipc_rpc_server_close(server); /* the accept below returns IPC_ERR_CLOSED */
    return NULL;
}

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "calc";
    /* SIGINT and SIGTERM are taken by a thread of ours (sigwait), not by default actions. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ipc_status st = ipc_rpc_server_bind(endpoint, NULL, &server);
    if (st != IPC_OK) {
        fprintf(stderr, "rpc_server: %s: %s: %s\n", endpoint, ipc_status_name(st), ipc_last_error());
        return 1;
    }
    char ep[512];
    size_t len = 0;
    if (ipc_rpc_server_endpoint(server, ep, sizeof ep, &len) == IPC_OK) {
        printf("serving on %s\n", ep);
        fflush(stdout);
    }
    pthread_t stopper;
    pthread_create(&stopper, NULL, stop_on_signal, &set);
    pthread_detach(stopper);
    ipc_rpc_conn *conn = NULL;
    while ((st = ipc_rpc_server_accept(server, IPC_WAIT_FOREVER, &conn)) == IPC_OK) {
        pthread_t t;
        if (pthread_create(&t, NULL, serve, conn) == 0)
            pthread_detach(t);
        else
            ipc_rpc_conn_free(conn);
        conn = NULL;
    }
    ipc_rpc_server_free(server);
    return st == IPC_ERR_CLOSED ? 0 : 1;
}
