/* Across processes: the peer is ipc_test_peer (peer.c), started with fork+exec. Echo both ways
 * with peer credentials, a peer killed with SIGKILL (PEER_DISCONNECTED), a peer that closes
 * and exits before we read (everything arrives, then CLOSED), zero-copy echo over shm, and
 * descriptor readiness with the writer in another process. */
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

static void test_echo_client_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_peer_client(t, "connect-echo", NULL, "connected");
        check_peer_pid(p.ch, t, p.pid);
        h_echo_round_trips(p.ch, 100, 10000);
        h_peer_close_and_wait(&p); /* the peer saw CLOSED and exited cleanly */
    }
}

static void test_echo_server_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_peer_server(t, "bind-echo", NULL);
        check_peer_pid(p.ch, t, p.pid);
        h_echo_round_trips(p.ch, 100, 10000);
        h_peer_close_and_wait(&p);
    }
}

static void test_peer_killed(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        /* the peer is the client */
        struct h_peer p = h_peer_client(t, "connect-send-hang", "before the kill", "sent");
        h_kill(p.pid);
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

        /* the peer is the server, and we are blocked in recv when it dies */
        p = h_peer_server(t, "bind-send-hang", "hello from the server");
        CHECK_RECV(p.ch, "hello from the server");
        h_peer_expect_line(&p, "sent");
        h_kill(p.pid);
        m = NULL;
        CHECK_ST(ipc_channel_recv(p.ch, IPC_WAIT_FOREVER, &m), IPC_ERR_PEER_DISCONNECTED);
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

static void test_fd_with_peer(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        struct h_peer p = h_peer_spawn_client(t, "connect-echo", NULL);
        int lfd = -1;
        REQUIRE_OK(ipc_listener_fd(p.l, &lfd));
        CHECK(h_readable(lfd, 30000)); /* a client from another process waits */
        h_peer_accept(&p, 0, "connected");
        ipc_channel *ch = p.ch;
        int fd = -1;
        REQUIRE_OK(ipc_channel_fd(ch, &fd));
        for (int i = 0; i < 50; i++) {
            char msg[32];
            snprintf(msg, sizeof msg, "poll me %d", i);
            ipc_message *m = NULL;
            CHECK_ST(ipc_channel_try_recv(ch, &m), IPC_ERR_TIMEOUT);
            SEND_STR(ch, msg);
            int got = 0;
            for (int round = 0; round < 100 && !got; round++) {
                if (!h_readable(fd, 10000)) {
                    h_report(__FILE__, __LINE__, "descriptor not readable within 10 s (%d)", i);
                    break;
                }
                m = NULL;
                int st = ipc_channel_try_recv(ch, &m);
                if (st == IPC_OK) {
                    got = 1;
                    CHECK(ipc_message_len(m) == strlen(msg) &&
                          memcmp(ipc_message_data(m), msg, strlen(msg)) == 0);
                    ipc_message_free(m);
                } else {
                    CHECK_ST(st, IPC_ERR_TIMEOUT); /* readable but not complete yet: poll again */
                }
            }
            if (!got)
                break;
        }
        h_peer_close_and_wait(&p);
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
