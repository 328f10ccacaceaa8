/* Parent and child: ipc_channel_pair, ipc_spawn with a C child (ipc_test_peer child-echo) and a
 * Rust child (the Rust ipc-test-peer named by $H_RUST_PEER, which scripts/c-tests.sh builds
 * and sets), a child that exits without opening its end, argument checks, and
 * ipc_channel_from_env's errors (in a child, which sets its own environment). */
#include "harness.h"

/* Children started with ipc_spawn are ours to reap; the harness kills leftovers too. */
static void track(pid_t pid)
{
    REQUIRE(h_nchildren < (int)H_COUNT(h_children));
    h_children[h_nchildren++] = pid;
}

static void test_pair(void)
{
    ipc_channel *a = NULL, *b = NULL;
    REQUIRE_OK(ipc_channel_pair(NULL, &a, &b));
    CHECK_OK(ipc_channel_send(a, (const uint8_t *)"ping", 4, 10000));
    CHECK_RECV(b, "ping");
    CHECK_OK(ipc_channel_send(b, (const uint8_t *)"", 0, 10000));
    CHECK_RECV(a, "");
    ipc_peer_credentials pc = {0, 0, 0};
    CHECK_OK(ipc_channel_peer(a, &pc));
    CHECK_EQ_I(pc.pid, getpid());
    CHECK_EQ_I(pc.uid, getuid());
    CHECK_OK(ipc_channel_close(a));
    ipc_message *m = NULL;
    CHECK_ST(ipc_channel_recv(b, 10000, &m), IPC_ERR_CLOSED);
    ipc_channel_free(a);
    ipc_channel_free(b);

    /* Options apply to both ends. */
    ipc_options *o = h_options_max_message(1000);
    REQUIRE_OK(ipc_channel_pair(o, &a, &b));
    uint8_t big[1001] = {0};
    CHECK_ST(ipc_channel_send(a, big, sizeof big, 10000), IPC_ERR_MESSAGE_TOO_LARGE);
    size_t max = 0;
    CHECK_OK(ipc_channel_max_message_size(b, &max));
    CHECK_EQ_U(max, 1000);
    ipc_channel_free(a);
    ipc_channel_free(b);
    ipc_options_free(o);
}

static void test_pair_arguments(void)
{
    ipc_channel *a = (ipc_channel *)&a, *b = (ipc_channel *)&b;
    CHECK_ST(ipc_channel_pair(NULL, NULL, &b), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG();
    CHECK_ST(ipc_channel_pair(NULL, &a, NULL), IPC_ERR_INVALID_ARGUMENT);
    /* Out-parameters are written only on success. */
    CHECK(a == (ipc_channel *)&a && b == (ipc_channel *)&b);
}

/* ipc_spawn `argv`, expect a working echo child. */
static void spawn_echo_child(const char *file, const char *const *argv)
{
    ipc_channel *ch = NULL;
    int pid = -1;
    REQUIRE_OK(ipc_spawn(file, argv, NULL, &ch, &pid));
    track(pid);
    ipc_peer_credentials pc = {0, 0, 0};
    CHECK_OK(ipc_channel_peer(ch, &pc));
    CHECK_EQ_I(pc.pid, pid);
    h_echo_round_trips(ch, 200, 30000);
    CHECK_OK(ipc_channel_close(ch));
    CHECK_EQ_I(h_wait(pid), 0);
    ipc_channel_free(ch);
}

static void test_spawn_c_child(void)
{
    const char *argv[] = {"ipc_test_peer", "child-echo", "-", NULL};
    spawn_echo_child(h_peer_path, argv);
}

static void test_spawn_rust_child(void)
{
    const char *rust = h_rust_peer();
    if (!rust)
        return;
    const char *argv[] = {"ipc-test-peer", "child-echo", NULL};
    spawn_echo_child(rust, argv);
}

static void test_spawn_child_that_exits(void)
{
    ipc_channel *ch = (ipc_channel *)&ch;
    int pid = -7;
    const char *argv[] = {"ipc_test_peer", "exit", "3", NULL};
    /* A long handshake timeout: the failure must come from the exit, not from waiting. */
    ipc_options *o = h_options();
    REQUIRE_OK(ipc_options_set_handshake_timeout(o, 600000));
    CHECK_ST(ipc_spawn(h_peer_path, argv, o, &ch, &pid), IPC_ERR_PEER_DISCONNECTED);
    CHECK(strstr(ipc_last_error(), "without opening") != NULL);
    CHECK(ch == (ipc_channel *)&ch && pid == -7);
    /* The child was reaped: no child of ours is left. */
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    ipc_options_free(o);
}

static void test_spawn_arguments(void)
{
    ipc_channel *ch = NULL;
    int pid = -7;
    const char *argv[] = {"x", NULL};
    CHECK_ST(ipc_spawn(NULL, argv, NULL, &ch, &pid), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_spawn("", argv, NULL, &ch, &pid), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_spawn(h_peer_path, argv, NULL, NULL, &pid), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_spawn(h_peer_path, argv, NULL, &ch, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_spawn("/nonexistent/libipc-no-such-program", argv, NULL, &ch, &pid),
             IPC_ERR_NOT_FOUND);
    CHECK_ERRMSG();
    CHECK(ch == NULL && pid == -7);
    CHECK_ST(ipc_channel_from_env(NULL, NULL), IPC_ERR_INVALID_ARGUMENT);
}

/* ipc_test_peer from-env VALUE prints the status of ipc_channel_from_env. */
static void expect_from_env(const char *value, const char *status)
{
    int fd = -1;
    pid_t pid = h_spawn(&fd, "from-env", value, NULL);
    char line[256];
    CHECK(h_read_line(fd, line, sizeof line));
    CHECK_STR(line, status);
    CHECK_EQ_I(h_wait(pid), 0);
    close(fd);
}

static void test_from_env_errors(void)
{
    expect_from_env("unset", "IPC_ERR_NOT_FOUND");
    expect_from_env("abc", "IPC_ERR_INVALID_ENDPOINT");
    expect_from_env("-3", "IPC_ERR_INVALID_ENDPOINT");
    expect_from_env("999999", "IPC_ERR_INVALID_ENDPOINT");
}

static const struct h_test tests[] = {
    H_TEST(test_pair),
    H_TEST(test_pair_arguments),
    H_TEST(test_spawn_c_child),
    H_TEST(test_spawn_rust_child),
    H_TEST(test_spawn_child_that_exits),
    H_TEST(test_spawn_arguments),
    H_TEST(test_from_env_errors),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
