/* Request/reply through the C API: a server in this process (a thread per connection) and
 * clients over every transport; many requests in flight by ticket, error replies
 * (IPC_ERR_REMOTE with the status and text), deadlines and abandoned tickets (late replies
 * counted), the refusals between plain channels and request/reply endpoints, bad arguments;
 * then the Rust request/reply server in another process ($H_RUST_PEER rpc-echo-server, handlers
 * delayed at random so replies come out of order), 1,000 requests in flight. */
#include "harness.h"

static const enum h_transport transports[] = {H_UNIX, H_TCP, H_SHM, H_FIFO};

/* One connection: echo requests; "fail" gets status 42 "no such thing"; "slow" waits 200 ms. */
static void *serve_conn(void *arg)
{
    ipc_rpc_conn *c = arg;
    for (;;) {
        uint64_t id = 0;
        ipc_message *body = NULL;
        if (ipc_rpc_recv(c, IPC_WAIT_FOREVER, &id, &body) != IPC_OK)
            break;
        if (!body) /* a CANCEL: this server has nothing to stop */
            continue;
        const uint8_t *d = ipc_message_data(body);
        size_t n = ipc_message_len(body);
        ipc_status st;
        if (n == 4 && memcmp(d, "fail", 4) == 0) {
            st = ipc_rpc_reply_error(c, id, 42, "no such thing", IPC_WAIT_FOREVER);
        } else {
            if (n == 4 && memcmp(d, "slow", 4) == 0)
                usleep(200 * 1000);
            st = ipc_rpc_reply(c, id, d, n, IPC_WAIT_FOREVER);
        }
        ipc_message_free(body);
        if (st != IPC_OK)
            break;
    }
    ipc_rpc_conn_free(c);
    return NULL;
}

static void *accept_loop(void *arg)
{
    ipc_rpc_server *s = arg;
    ipc_rpc_conn *c = NULL;
    while (ipc_rpc_server_accept(s, IPC_WAIT_FOREVER, &c) == IPC_OK) {
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, c) == 0)
            pthread_detach(t);
        c = NULL;
    }
    return NULL;
}

struct server {
    ipc_rpc_server *s;
    pthread_t thread;
    char ep[600];
};

static struct server start_server(enum h_transport t)
{
    struct server sv = {NULL, 0, {0}};
    char want[512];
    h_endpoint(t, want, sizeof want);
    REQUIRE_OK(ipc_rpc_server_bind(want, NULL, &sv.s));
    size_t len = 0;
    REQUIRE_OK(ipc_rpc_server_endpoint(sv.s, sv.ep, sizeof sv.ep, &len));
    CHECK_EQ_U(len, strlen(sv.ep));
    REQUIRE(pthread_create(&sv.thread, NULL, accept_loop, sv.s) == 0);
    return sv;
}

static void stop_server(struct server *sv)
{
    CHECK_OK(ipc_rpc_server_close(sv->s));
    pthread_join(sv->thread, NULL);
    ipc_rpc_server_free(sv->s);
}

static int reply_is(ipc_message *m, const char *want)
{
    return m && ipc_message_len(m) == strlen(want) &&
           memcmp(ipc_message_data(m), want, strlen(want)) == 0;
}

static void test_calls_and_error_replies(void)
{
    for (size_t i = 0; i < H_COUNT(transports); i++) {
        h_sub = h_transport_names[transports[i]];
        struct server sv = start_server(transports[i]);
        ipc_rpc_client *c = NULL;
        REQUIRE_OK(ipc_rpc_client_connect(sv.ep, NULL, &c));
        ipc_message *m = NULL;
        uint32_t status = 7;
        CHECK_OK(ipc_rpc_call(c, (const uint8_t *)"hello", 5, 10000, &m, &status));
        CHECK(reply_is(m, "hello"));
        CHECK_EQ_U(status, 0);
        ipc_message_free(m);
        m = NULL;
        CHECK_OK(ipc_rpc_call(c, NULL, 0, 10000, &m, &status));
        CHECK(m && ipc_message_len(m) == 0);
        ipc_message_free(m);
        m = NULL;
        CHECK_ST(ipc_rpc_call(c, (const uint8_t *)"fail", 4, 10000, &m, &status), IPC_ERR_REMOTE);
        CHECK_EQ_U(status, 42);
        CHECK(reply_is(m, "no such thing"));
        CHECK(strstr(ipc_last_error(), "no such thing") != NULL);
        ipc_message_free(m);
        /* Still usable. */
        m = NULL;
        CHECK_OK(ipc_rpc_call(c, (const uint8_t *)"again", 5, 10000, &m, &status));
        CHECK(reply_is(m, "again"));
        ipc_message_free(m);
        ipc_rpc_client_free(c);
        stop_server(&sv);
    }
    h_sub = NULL;
}

static void test_tickets_in_flight(void)
{
    struct server sv = start_server(H_UNIX);
    ipc_rpc_client *c = NULL;
    REQUIRE_OK(ipc_rpc_client_connect(sv.ep, NULL, &c));
    uint64_t tickets[200];
    char body[32];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(body, sizeof body, "request %d", i);
        REQUIRE_OK(ipc_rpc_start(c, (const uint8_t *)body, (size_t)n, 10000, &tickets[i]));
    }
    size_t in_flight = 0;
    uint64_t late = 9;
    CHECK_OK(ipc_rpc_client_stats(c, &in_flight, &late));
    CHECK_EQ_U(in_flight, 200);
    CHECK_EQ_U(late, 0);
    /* Waited for in reverse: the others' replies wait in their slots. */
    for (int i = 199; i >= 0; i--) {
        snprintf(body, sizeof body, "request %d", i);
        ipc_message *m = NULL;
        uint32_t status = 0;
        CHECK_OK(ipc_rpc_wait(c, tickets[i], 10000, &m, &status));
        CHECK(reply_is(m, body));
        ipc_message_free(m);
    }
    /* A ticket is used up by its wait. */
    ipc_message *m = NULL;
    uint32_t status = 0;
    CHECK_ST(ipc_rpc_wait(c, tickets[0], 0, &m, &status), IPC_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    CHECK_ST(ipc_rpc_abandon(c, 12345678), IPC_ERR_INVALID_ARGUMENT);

    /* A deadline: the request is abandoned; its reply, later, is dropped and counted. */
    CHECK_ST(ipc_rpc_call(c, (const uint8_t *)"slow", 4, 20, &m, &status), IPC_ERR_TIMEOUT);
    CHECK(m == NULL);
    CHECK_OK(ipc_rpc_call(c, (const uint8_t *)"next", 4, 10000, &m, &status));
    CHECK(reply_is(m, "next"));
    ipc_message_free(m);
    /* An abandoned ticket: the same. */
    uint64_t t = 0;
    CHECK_OK(ipc_rpc_start(c, (const uint8_t *)"slow", 4, 10000, &t));
    CHECK_OK(ipc_rpc_abandon(c, t));
    m = NULL;
    CHECK_OK(ipc_rpc_call(c, (const uint8_t *)"last", 4, 10000, &m, &status));
    CHECK(reply_is(m, "last"));
    ipc_message_free(m);
    CHECK_OK(ipc_rpc_client_stats(c, &in_flight, &late));
    CHECK_EQ_U(in_flight, 0);
    CHECK_EQ_U(late, 2);
    /* A ticket left unwaited is abandoned by free. */
    CHECK_OK(ipc_rpc_start(c, (const uint8_t *)"x", 1, 10000, &t));
    ipc_rpc_client_free(c);
    stop_server(&sv);
}

static void test_refusals_and_bad_arguments(void)
{
    struct server sv = start_server(H_UNIX);
    ipc_channel *ch = NULL;
    CHECK_ST(ipc_channel_connect(sv.ep, NULL, &ch), IPC_ERR_PROTOCOL_MISMATCH);
    CHECK(ch == NULL);
    char ep[600];
    ipc_listener *l = h_listen(H_UNIX, NULL, ep, sizeof ep);
    ipc_rpc_client *c = NULL;
    CHECK_ST(ipc_rpc_client_connect(ep, NULL, &c), IPC_ERR_PROTOCOL_MISMATCH);
    CHECK(c == NULL);
    ipc_listener_free(l);

    REQUIRE_OK(ipc_rpc_client_connect(sv.ep, NULL, &c));
    ipc_message *m = NULL;
    uint32_t status = 0;
    uint64_t t = 0;
    CHECK_ST(ipc_rpc_call(NULL, NULL, 0, 0, &m, &status), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_call(c, NULL, 3, 0, &m, &status), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_call(c, NULL, 0, 0, NULL, &status), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_call(c, NULL, 0, 0, &m, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_call(c, NULL, 0, -5, &m, &status), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_start(c, NULL, 0, 0, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_client_connect(NULL, NULL, &c), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_server_bind("unix://", NULL, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_recv(NULL, 0, NULL, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_reply(NULL, 1, NULL, 0, 0), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_reply_error(NULL, 1, 1, NULL, 0), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_rpc_client_stats(NULL, NULL, NULL), IPC_ERR_INVALID_ARGUMENT);
    size_t need = 0;
    CHECK_ST(ipc_rpc_server_endpoint(sv.s, NULL, 0, &need), IPC_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_U(need, strlen(sv.ep) + 1);
    (void)t;
    ipc_rpc_client_free(NULL);
    ipc_rpc_server_free(NULL);
    ipc_rpc_conn_free(NULL);
    /* Closing: calls end with IPC_ERR_CLOSED. */
    CHECK_OK(ipc_rpc_client_close(c));
    CHECK_ST(ipc_rpc_call(c, (const uint8_t *)"x", 1, 1000, &m, &status), IPC_ERR_CLOSED);
    ipc_rpc_client_free(c);
    stop_server(&sv);
}

/* The Rust request/reply server in another process, handlers delayed 0-10 ms at random and
 * run concurrently: 1,000 tickets in flight, every reply to its request. */
static void test_rust_server_thousand_in_flight(void)
{
    const char *rust = h_rust_peer();
    if (!rust)
        return;
    char ep[600], line[700];
    h_endpoint(H_UNIX, ep, sizeof ep);
    int out[2], in[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0 && pipe2(in, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        execl(rust, "ipc-test-peer", "rpc-echo-server", ep, "--async", "--max-delay-ms", "10",
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    REQUIRE(h_nchildren < (int)H_COUNT(h_children));
    h_children[h_nchildren++] = pid;
    REQUIRE(h_read_line(out[0], line, sizeof line));
    REQUIRE(strncmp(line, "ready ", 6) == 0);
    ipc_rpc_client *c = NULL;
    REQUIRE_OK(ipc_rpc_client_connect(line + 6, NULL, &c));
    enum { N = 1000 };
    static uint64_t tickets[N];
    char body[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(body, sizeof body, "c %d", i);
        REQUIRE_OK(ipc_rpc_start(c, (const uint8_t *)body, (size_t)n, 10000, &tickets[i]));
    }
    int good = 0;
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof body, "c %d", i);
        ipc_message *m = NULL;
        uint32_t status = 0;
        if (CHECK_OK(ipc_rpc_wait(c, tickets[i], 30000, &m, &status)))
            good += reply_is(m, body);
        ipc_message_free(m);
    }
    CHECK_EQ_I(good, N);
    ipc_message *m = NULL;
    uint32_t status = 0;
    CHECK_ST(ipc_rpc_call(c, (const uint8_t *)"fail:7:bad", 10, 10000, &m, &status),
             IPC_ERR_REMOTE);
    CHECK_EQ_U(status, 7);
    CHECK(reply_is(m, "bad"));
    ipc_message_free(m);
    ipc_rpc_client_free(c);
    close(in[1]);
    REQUIRE(h_read_line(out[0], line, sizeof line));
    CHECK_STR(line, "bye");
    close(out[0]);
    CHECK(h_wait(pid) == 0);
}

static const struct h_test tests[] = {
    H_TEST(test_calls_and_error_replies),
    H_TEST(test_tickets_in_flight),
    H_TEST(test_refusals_and_bad_arguments),
    H_TEST(test_rust_server_thousand_in_flight),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
