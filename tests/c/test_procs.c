/* Across processes: the peer is ipc_test_peer (peer.c), started with fork+exec. Mostly its
 * interop contract commands (tests/interop/README.md), as every language's tests use them:
 * echo both ways with peer credentials (the contract's server; the contract's client running
 * its cases against our listener), a peer killed with SIGKILL (PEER_DISCONNECTED: the server
 * on interop:kill, the client while we wait), and descriptor readiness with the writer in
 * another process. Its C-suite modes: a peer that closes and exits before we read (everything
 * arrives, then CLOSED), and zero-copy echo. */
#include "harness.h"

static const enum h_transport transports[] = {H_UNIX, H_TCP, H_SHM, H_FIFO};
#define FOR_EACH_TRANSPORT(t)                                                                 \
    for (size_t t##_i = 0;                                                                    \
         t##_i < H_COUNT(transports) && (h_sub = h_transport_names[transports[t##_i]], 1);    \
         t##_i++)                                                                             \
        for (enum h_transport t = transports[t##_i], *t##_once = &t; t##_once; t##_once = NULL)

static void check_peer_pid(ipc_channel *ch, enum h_transport t, pid_t pid)
{
    ipc_peer_credentials pc = {0, 0, 0};
    CHECK_OK(ipc_channel_peer(ch, &pc));
    if (t == H_TCP) {
        CHECK(pc.pid == -1 && pc.uid == -1 && pc.gid == -1);
    } else {
        /* FIFOs tell the uid and gid of the files the peer made, not its pid */
        CHECK_EQ_I(pc.pid, t == H_FIFO ? -1 : pid);
        CHECK_EQ_I(pc.uid, getuid());
        CHECK_EQ_I(pc.gid, getgid());
    }
}

/* The cases the C contract client runs against our listener: all of the contract's but
 * server-killed, whose interop:kill would end this test program (the C server's side of it is
 * the interop matrix's, tests/interop/run.py). Our listener's limit is the matrix servers'
 * (2 MiB): max-size sends 2 MiB. */
static const char client_cases[] =
    "empty,one-byte,all-bytes,non-utf8,64k,1m,max-size,over-max,random-10k,server-close";
#define N_CLIENT_CASES 10

static void test_echo_client_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_options *o = h_options_max_message(2 << 20);
        struct h_peer p = h_contract_client(t, o, client_cases);
        ipc_options_free(o);
        for (int c = 0; c < N_CLIENT_CASES; c++) { /* a connection per case, in order */
            ipc_channel *ch = NULL;
            if (!CHECK_OK(ipc_listener_accept(p.l, 30000, &ch)))
                break;
            check_peer_pid(ch, t, p.pid);
            /* server-close, the last, sends interop:close: we close in order (the client must
             * see CLOSED); the others end with the client's close */
            CHECK_EQ_I(h_serve_contract(ch), c == N_CLIENT_CASES - 1);
            CHECK_OK(ipc_channel_close(ch));
            ipc_channel_free(ch);
        }
        h_contract_client_passes(&p, client_cases);
    }
}

static void test_echo_server_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_contract_server(t);
        check_peer_pid(p.ch, t, p.pid);
        h_echo_round_trips(p.ch, 100, 10000);
        CHECK_OK(ipc_channel_close(p.ch));
        h_contract_server_stop(&p);
    }
}

static void *kill_soon(void *pid)
{
    h_sleep_ms(100); /* a head start for the receive to wait (not a bound) */
    kill(*(pid_t *)pid, SIGKILL);
    return NULL;
}

static void test_peer_killed(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        /* the peer is the server, killed (interop:kill, its own SIGKILL) after echoing */
        struct h_peer p = h_contract_server(t);
        SEND_STR(p.ch, "before the kill");
        SEND_STR(p.ch, "interop:kill");
        CHECK_EQ_I(h_wait(p.pid), 128 + SIGKILL);
        CHECK_RECV(p.ch, "before the kill"); /* what it sent still arrives */
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_recv(p.ch, 30000, &m), IPC_ERR_PEER_DISCONNECTED);
        CHECK_ERRMSG();
        /* sending to it fails too (not CLOSED: it never closed) */
        int st = IPC_OK;
        for (int i = 0; i < 1000 && st == IPC_OK; i++)
            st = ipc_channel_send(p.ch, (const uint8_t *)"anyone?", 7, 1000);
        CHECK_ST(st, IPC_ERR_PEER_DISCONNECTED);
        h_peer_free(&p);

        /* the peer is the client, killed while we are blocked in recv: its server-close case
         * sent three messages, read the echoes, sent interop:close, and waits for our close */
        p = h_contract_client(t, NULL, "server-close");
        REQUIRE_OK(ipc_listener_accept(p.l, 30000, &p.ch));
        CHECK_EQ_I(h_serve_contract(p.ch), 1);
        pthread_t killer;
        REQUIRE(pthread_create(&killer, NULL, kill_soon, &p.pid) == 0);
        m = NULL;
        CHECK_ST(ipc_channel_recv(p.ch, IPC_WAIT_FOREVER, &m), IPC_ERR_PEER_DISCONNECTED);
        pthread_join(killer, NULL);
        CHECK_EQ_I(h_wait(p.pid), 128 + SIGKILL);
        CHECK_ST(ipc_channel_send(p.ch, (const uint8_t *)"x", 1, 1000), IPC_ERR_PEER_DISCONNECTED);
        h_peer_free(&p);
    }
}

static void test_peer_closed_and_exited(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_peer_client(t, "connect-send-close", "40", NULL);
        CHECK_EQ_I(h_wait(p.pid), 0); /* gone before we read anything */
        char msg[16];
        for (int i = 0; i < 40; i++) {
            snprintf(msg, sizeof msg, "m%d", i);
            CHECK_RECV(p.ch, msg);
        }
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_recv(p.ch, 30000, &m), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_recv(p.ch, 0, &m), IPC_ERR_CLOSED);
        h_peer_free(&p);
    }
}

static void test_zero_copy_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_peer_client(t, "connect-zc-echo", NULL, "connected");
        ipc_channel *ch = p.ch;
        for (unsigned i = 0; i < 300; i++) {
            size_t len = (i * 1237u) % 50000, n = 0;
            uint8_t *w = NULL;
            const uint8_t *r = NULL;
            if (!CHECK_OK(ipc_channel_reserve(ch, len, 10000, &w)))
                break;
            for (size_t k = 0; k < len; k++)
                w[k] = (uint8_t)(i + k);
            if (!CHECK_OK(ipc_channel_commit(ch)))
                break;
            if (!CHECK_OK(ipc_channel_recv_in_place(ch, 10000, &r, &n)))
                break;
            int ok = n == len;
            for (size_t k = 0; ok && k < len; k++)
                ok = r[k] == (uint8_t)(i + k + 1);
            CHECK(ok);
            CHECK_OK(ipc_channel_release(ch));
        }
        h_peer_close_and_wait(&p);
    }
}

/* Receive a message the way ipc_channel_fd's rule says: try_recv until IPC_ERR_TIMEOUT, then
 * wait for the descriptor (10 s per wait at most), then try again; 1 if the message came and
 * equals want. */
static int poll_recv(ipc_channel *ch, int fd, const char *want)
{
    for (int round = 0; round < 100; round++) {
        ipc_message *m = NULL;
        int st = ipc_channel_try_recv(ch, &m);
        if (st == IPC_OK) {
            int ok = ipc_message_len(m) == strlen(want) &&
                     memcmp(ipc_message_data(m), want, strlen(want)) == 0;
            CHECK(ok);
            ipc_message_free(m);
            return ok;
        }
        CHECK_ST(st, IPC_ERR_TIMEOUT); /* nothing complete yet: wait for the descriptor */
        if (!h_readable(fd, 10000)) {
            h_report(__FILE__, __LINE__, "descriptor not readable within 10 s (%s)", want);
            return 0;
        }
    }
    return 0;
}

static void test_fd_with_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        /* a client from another process waits: the listener's descriptor is readable; the
         * client's message (its one-byte case, 0x2a) makes the channel's readable */
        struct h_peer p = h_contract_client(t, NULL, "one-byte");
        int lfd = -1;
        REQUIRE_OK(ipc_listener_fd(p.l, &lfd));
        CHECK(h_readable(lfd, 30000));
        REQUIRE_OK(ipc_listener_accept(p.l, 0, &p.ch));
        int fd = -1;
        REQUIRE_OK(ipc_channel_fd(p.ch, &fd));
        if (poll_recv(p.ch, fd, "\x2a"))
            SEND_STR(p.ch, "\x2a");
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_recv(p.ch, 30000, &m), IPC_ERR_CLOSED); /* the case's end */
        h_contract_client_passes(&p, "one-byte");

        /* the echoes of a server in another process, each awaited on the descriptor */
        p = h_contract_server(t);
        REQUIRE_OK(ipc_channel_fd(p.ch, &fd));
        for (int i = 0; i < 50; i++) {
            char msg[32];
            snprintf(msg, sizeof msg, "poll me %d", i);
            m = NULL;
            CHECK_ST(ipc_channel_try_recv(p.ch, &m), IPC_ERR_TIMEOUT);
            SEND_STR(p.ch, msg);
            if (!poll_recv(p.ch, fd, msg))
                break;
        }
        CHECK_OK(ipc_channel_close(p.ch));
        h_contract_server_stop(&p);
    }
}

static const struct h_test tests[] = {
    H_TEST(test_echo_client_peer),
    H_TEST(test_echo_server_peer),
    H_TEST(test_peer_killed),
    H_TEST(test_peer_closed_and_exited),
    H_TEST(test_zero_copy_peer),
    H_TEST(test_fd_with_peer),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
