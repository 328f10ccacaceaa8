/* A hostile server: the Rust ipc-test-peer's hostile-server mode (raw bytes on a Unix socket;
 * $H_RUST_PEER names it, scripts/c-tests.sh builds it and sets it) answers each connection
 * with one attack. This process gets the documented status (IPC_ERR_MESSAGE_TOO_LARGE,
 * IPC_ERR_PROTOCOL_VIOLATION), every later receive the same, and goes on working; under
 * valgrind (scripts/c-tests.sh), with no error in its memory use. */
#include "harness.h"

/* Start `$H_RUST_PEER hostile-server <ep> --attack <attack>`, wait for its `ready` line;
 * *in_fd is its stdin (closing it stops the server). */
static pid_t start_hostile(const char *rust, const char *ep, const char *attack, int *in_fd)
{
    int out[2], in[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0 && pipe2(in, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        execl(rust, "ipc-test-peer", "hostile-server", ep, "--attack", attack, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    REQUIRE(h_nchildren < (int)H_COUNT(h_children));
    h_children[h_nchildren++] = pid;
    char line[700], want[700];
    snprintf(want, sizeof want, "ready %s", ep);
    REQUIRE(h_read_line(out[0], line, sizeof line));
    CHECK_STR(line, want);
    close(out[0]);
    *in_fd = in[1];
    return pid;
}

static void attack(const char *name, int connect_status, const char *first, int recv_status)
{
    const char *rust = h_rust_peer();
    if (!rust)
        return;
    char path[512], ep[560];
    h_path(path, sizeof path, "hostile");
    snprintf(ep, sizeof ep, "unix://%s.sock", path);
    int in_fd = -1;
    pid_t pid = start_hostile(rust, ep, name, &in_fd);
    ipc_channel *ch = NULL;
    if (CHECK_ST(ipc_channel_connect(ep, NULL, &ch), connect_status) && ch) {
        ipc_message *m = NULL;
        if (first) {
            if (CHECK_OK(ipc_channel_recv(ch, 10000, &m))) {
                CHECK(ipc_message_len(m) == strlen(first));
                CHECK(memcmp(ipc_message_data(m), first, strlen(first)) == 0);
                ipc_message_free(m);
            }
        }
        for (int i = 0; i < 2; i++) {
            m = NULL;
            CHECK_ST(ipc_channel_recv(ch, 10000, &m), recv_status);
            CHECK(m == NULL);
        }
        ipc_channel_close(ch);
        ipc_channel_free(ch);
    }
    close(in_fd);
    CHECK(h_wait(pid) == 0);
    /* Still working. */
    ipc_channel *a = NULL, *b = NULL;
    REQUIRE_OK(ipc_channel_pair(NULL, &a, &b));
    CHECK_OK(ipc_channel_send(a, (const uint8_t *)"alive", 5, 10000));
    ipc_message *m = NULL;
    if (CHECK_OK(ipc_channel_recv(b, 10000, &m))) {
        CHECK(ipc_message_len(m) == 5);
        ipc_message_free(m);
    }
    ipc_channel_free(a);
    ipc_channel_free(b);
}

static void test_huge_length(void) { attack("huge-length", IPC_OK, NULL, IPC_ERR_MESSAGE_TOO_LARGE); }
static void test_bad_type(void) { attack("bad-type", IPC_OK, NULL, IPC_ERR_PROTOCOL_VIOLATION); }
static void test_desync(void) { attack("desync", IPC_OK, "ok", IPC_ERR_PROTOCOL_VIOLATION); }
static void test_garbage_hello(void) { attack("garbage-hello", IPC_ERR_PROTOCOL_VIOLATION, NULL, IPC_OK); }

static const struct h_test tests[] = {
    H_TEST(test_huge_length),
    H_TEST(test_bad_type),
    H_TEST(test_desync),
    H_TEST(test_garbage_hello),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
