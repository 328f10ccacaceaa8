/* ipc_test_peer: the other process in the cross-process C tests (started by h_spawn in
 * harness.h). Prints status lines on stdout (line-buffered), errors on stderr; exits 0 when the
 * role ended as expected.
 *
 *   connect-echo EP          connect, print "connected", echo every message until IPC_ERR_CLOSED
 *   connect-zc-echo EP       same, in place: recv_in_place, reserve the same length, write every
 *                            byte + 1, commit, release
 *   connect-send-hang EP T   connect, send T, print "sent", then sleep until killed
 *   connect-send-close EP N  connect, send "m0".."m<N-1>", close, exit
 *   bind-echo EP             bind, print "ready <endpoint>", accept one client, echo until closed
 *   bind-send-hang EP T      bind, print "ready <endpoint>", accept one client, send T, print
 *                            "sent", then sleep until killed
 *
 * As a child started with ipc_spawn (EP is ignored; write "-"):
 *   child-echo -             ipc_channel_from_env, print "connected pid=<peer pid>", echo until
 *                            closed
 *   from-env VALUE           set LIBIPC_CHANNEL_FD to VALUE ("unset": remove it), call
 *                            ipc_channel_from_env and print the status name; exit 0
 *   exit CODE                exit at once with CODE, never opening the channel
 */
#define _GNU_SOURCE
#include <ipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, ipc_status st)
{
    fprintf(stderr, "ipc_test_peer: %s: %s: %s\n", what, ipc_status_name(st), ipc_last_error());
    return 1;
}

static int connect_to(const char *ep, ipc_channel **ch)
{
    ipc_status st = ipc_channel_connect(ep, NULL, ch);
    if (st != IPC_OK)
        return fail("connect", st);
    return 0;
}

static int echo(ipc_channel *ch)
{
    for (;;) {
        ipc_message *m = NULL;
        ipc_status st = ipc_channel_recv(ch, IPC_WAIT_FOREVER, &m);
        if (st == IPC_ERR_CLOSED)
            return 0;
        if (st != IPC_OK)
            return fail("recv", st);
        st = ipc_channel_send(ch, ipc_message_data(m), ipc_message_len(m), IPC_WAIT_FOREVER);
        ipc_message_free(m);
        if (st != IPC_OK)
            return fail("send", st);
    }
}

static int zc_echo(ipc_channel *ch)
{
    for (;;) {
        const uint8_t *in = NULL;
        size_t len = 0;
        uint8_t *out = NULL;
        ipc_status st = ipc_channel_recv_in_place(ch, IPC_WAIT_FOREVER, &in, &len);
        if (st == IPC_ERR_CLOSED)
            return 0;
        if (st != IPC_OK)
            return fail("recv_in_place", st);
        if ((st = ipc_channel_reserve(ch, len, IPC_WAIT_FOREVER, &out)) != IPC_OK) {
            ipc_channel_release(ch);
            return fail("reserve", st);
        }
        for (size_t i = 0; i < len; i++)
            out[i] = (uint8_t)(in[i] + 1);
        if ((st = ipc_channel_commit(ch)) != IPC_OK)
            return fail("commit", st);
        if ((st = ipc_channel_release(ch)) != IPC_OK)
            return fail("release", st);
    }
}

static int bind_accept(const char *ep, ipc_listener **l, ipc_channel **ch)
{
    char where[512];
    size_t len = 0;
    ipc_status st = ipc_listener_bind(ep, NULL, l);
    if (st != IPC_OK)
        return fail("bind", st);
    if ((st = ipc_listener_endpoint(*l, where, sizeof where, &len)) != IPC_OK)
        return fail("endpoint", st);
    printf("ready %s\n", where);
    if ((st = ipc_listener_accept(*l, 60000, ch)) != IPC_OK)
        return fail("accept", st);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: ipc_test_peer ROLE ENDPOINT [ARG]\n");
        return 2;
    }
    const char *role = argv[1], *ep = argv[2], *arg = argc > 3 ? argv[3] : "";
    ipc_channel *ch = NULL;
    ipc_listener *l = NULL;
    int rc = 0;
    ipc_status st;

    if (strcmp(role, "connect-echo") == 0 || strcmp(role, "connect-zc-echo") == 0) {
        if ((rc = connect_to(ep, &ch)) == 0) {
            printf("connected\n");
            rc = role[8] == 'z' ? zc_echo(ch) : echo(ch);
        }
    } else if (strcmp(role, "connect-send-hang") == 0) {
        if ((rc = connect_to(ep, &ch)) == 0) {
            if ((st = ipc_channel_send(ch, (const uint8_t *)arg, strlen(arg), 10000)) != IPC_OK)
                return fail("send", st);
            printf("sent\n");
            for (;;)
                pause();
        }
    } else if (strcmp(role, "connect-send-close") == 0) {
        if ((rc = connect_to(ep, &ch)) == 0) {
            int n = atoi(arg);
            for (int i = 0; i < n && rc == 0; i++) {
                char msg[32];
                int len = snprintf(msg, sizeof msg, "m%d", i);
                if ((st = ipc_channel_send(ch, (const uint8_t *)msg, (size_t)len, 10000)) != IPC_OK)
                    rc = fail("send", st);
            }
            if ((st = ipc_channel_close(ch)) != IPC_OK)
                rc = fail("close", st);
        }
    } else if (strcmp(role, "child-echo") == 0) {
        if ((st = ipc_channel_from_env(NULL, &ch)) != IPC_OK)
            return fail("from_env", st);
        ipc_peer_credentials peer;
        if ((st = ipc_channel_peer(ch, &peer)) != IPC_OK)
            return fail("peer", st);
        printf("connected pid=%lld\n", (long long)peer.pid);
        rc = echo(ch);
    } else if (strcmp(role, "from-env") == 0) {
        /* Single-threaded so far: changing the environment is safe. */
        if (strcmp(ep, "unset") == 0)
            unsetenv("LIBIPC_CHANNEL_FD");
        else
            setenv("LIBIPC_CHANNEL_FD", ep, 1);
        st = ipc_channel_from_env(NULL, &ch);
        printf("%s\n", ipc_status_name(st));
    } else if (strcmp(role, "exit") == 0) {
        return atoi(ep);
    } else if (strcmp(role, "bind-echo") == 0) {
        if ((rc = bind_accept(ep, &l, &ch)) == 0)
            rc = echo(ch);
    } else if (strcmp(role, "bind-send-hang") == 0) {
        if ((rc = bind_accept(ep, &l, &ch)) == 0) {
            if ((st = ipc_channel_send(ch, (const uint8_t *)arg, strlen(arg), 10000)) != IPC_OK)
                return fail("send", st);
            printf("sent\n");
            for (;;)
                pause();
        }
    } else {
        fprintf(stderr, "ipc_test_peer: unknown role %s\n", role);
        rc = 2;
    }
    ipc_channel_free(ch);
    ipc_listener_free(l);
    return rc;
}
