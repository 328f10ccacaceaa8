/* Publish/subscribe through the C API: a publisher and subscribers in this process over every
 * transport (topics, sequence numbers, the end after close), drop-oldest reporting its drops,
 * bad arguments and refusals; then a Rust publisher in another process ($H_RUST_PEER publish)
 * read by C subscribers, 10,000 messages each. */
#include "harness.h"

static const enum h_transport transports[] = {H_UNIX, H_TCP, H_SHM, H_FIFO};

static ipc_publisher *bind_publisher(enum h_transport t, int overflow, size_t depth, char *ep,
                                     size_t cap)
{
    char want[512];
    h_endpoint(t, want, sizeof want);
    ipc_publisher *p = NULL;
    REQUIRE_OK(ipc_publisher_bind(want, NULL, overflow, 30000, depth, &p));
    size_t len = 0;
    REQUIRE_OK(ipc_publisher_endpoint(p, ep, cap, &len));
    CHECK_EQ_U(len, strlen(ep));
    return p;
}

static int message_is(ipc_message *m, const char *want)
{
    return m && ipc_message_len(m) == strlen(want) &&
           memcmp(ipc_message_data(m), want, strlen(want)) == 0;
}

static void test_topics_and_order(void)
{
    for (size_t i = 0; i < H_COUNT(transports); i++) {
        h_sub = h_transport_names[transports[i]];
        char ep[600];
        ipc_publisher *p = bind_publisher(transports[i], IPC_OVERFLOW_BLOCK, 0, ep, sizeof ep);
        ipc_subscriber *all = NULL, *cams = NULL;
        REQUIRE_OK(ipc_subscriber_connect(ep, NULL, NULL, &all));
        const char *prefixes[] = {"cam/", NULL};
        REQUIRE_OK(ipc_subscriber_connect(ep, NULL, prefixes, &cams));
        CHECK_OK(ipc_publisher_wait_subscribers(p, 2, 10000));
        const char *topics[] = {"cam/1", "log", "cam/2", ""};
        for (int k = 0; k < 4; k++) {
            size_t count = 0;
            char body[16];
            int n = snprintf(body, sizeof body, "m%d", k);
            CHECK_OK(ipc_publish(p, (const uint8_t *)topics[k], strlen(topics[k]),
                                 (const uint8_t *)body, (size_t)n, &count));
            CHECK_EQ_U(count, strncmp(topics[k], "cam/", 4) == 0 ? 2 : 1);
        }
        CHECK_OK(ipc_publisher_close(p, IPC_WAIT_FOREVER));
        for (int k = 0; k < 4; k++) {
            ipc_message *m = NULL, *topic = NULL;
            uint64_t seq = 99, dropped = 99;
            char body[16];
            snprintf(body, sizeof body, "m%d", k);
            if (CHECK_OK(ipc_subscriber_recv(all, 10000, &m, &topic, &seq, &dropped))) {
                CHECK(message_is(m, body));
                CHECK(message_is(topic, topics[k]));
                CHECK_EQ_U(seq, (uint64_t)k);
                CHECK_EQ_U(dropped, 0);
            }
            ipc_message_free(m);
            ipc_message_free(topic);
        }
        ipc_message *m = NULL;
        CHECK_ST(ipc_subscriber_recv(all, 10000, &m, NULL, NULL, NULL), IPC_ERR_CLOSED);
        CHECK(m == NULL);
        for (int k = 0; k < 4; k += 2) {
            uint64_t seq = 99;
            char body[16];
            snprintf(body, sizeof body, "m%d", k);
            if (CHECK_OK(ipc_subscriber_recv(cams, 10000, &m, NULL, &seq, NULL))) {
                CHECK(message_is(m, body));
                CHECK_EQ_U(seq, (uint64_t)(k / 2));
            }
            ipc_message_free(m);
        }
        CHECK_ST(ipc_subscriber_recv(cams, 10000, &m, NULL, NULL, NULL), IPC_ERR_CLOSED);
        CHECK_ST(ipc_publish(p, NULL, 0, (const uint8_t *)"x", 1, NULL), IPC_ERR_CLOSED);
        ipc_subscriber_free(all);
        ipc_subscriber_free(cams);
        ipc_publisher_free(p);
    }
    h_sub = "";
}

static void test_drop_oldest_reports_drops(void)
{
    char ep[600];
    ipc_publisher *p = bind_publisher(H_UNIX, IPC_OVERFLOW_DROP_OLDEST, 2, ep, sizeof ep);
    ipc_subscriber *s = NULL;
    REQUIRE_OK(ipc_subscriber_connect(ep, NULL, NULL, &s));
    static uint8_t body[8192];
    enum { N = 2000 };
    for (uint64_t i = 0; i < N; i++) {
        memcpy(body, &i, sizeof i);
        REQUIRE_OK(ipc_publish(p, NULL, 0, body, sizeof body, NULL));
    }
    uint64_t got = 0, dropped_sum = 0, last = 0;
    for (;;) {
        ipc_message *m = NULL;
        uint64_t seq = 0, dropped = 0;
        ipc_status st = ipc_subscriber_recv(s, 10000, &m, NULL, &seq, &dropped);
        if (st != IPC_OK) {
            CHECK_EQ_I(st, IPC_ERR_CLOSED);
            break;
        }
        uint64_t index = 0;
        memcpy(&index, ipc_message_data(m), sizeof index);
        CHECK_EQ_U(index, seq);
        got++;
        dropped_sum += dropped;
        last = seq;
        ipc_message_free(m);
        if (seq == N - 1) /* the newest is never dropped: everything is here, end it */
            CHECK_OK(ipc_publisher_close(p, IPC_WAIT_FOREVER));
    }
    CHECK_EQ_U(got + dropped_sum, N);
    CHECK_EQ_U(last, N - 1);
    uint64_t total = 0, pub_dropped = 0, published = 0;
    CHECK_OK(ipc_subscriber_dropped(s, &total));
    CHECK_EQ_U(total, dropped_sum);
    CHECK_OK(ipc_publisher_stats(p, NULL, &published, &pub_dropped, NULL));
    CHECK_EQ_U(published, N);
    CHECK_EQ_U(pub_dropped, dropped_sum);
    ipc_subscriber_free(s);
    ipc_publisher_free(p);
}

static void test_refusals_and_bad_arguments(void)
{
    char ep[600];
    ipc_publisher *p = bind_publisher(H_UNIX, IPC_OVERFLOW_DROP_OLDEST, 0, ep, sizeof ep);
    ipc_channel *ch = NULL;
    CHECK_ST(ipc_channel_connect(ep, NULL, &ch), IPC_ERR_PROTOCOL_MISMATCH);
    CHECK_ERRMSG();
    CHECK(ch == NULL);
    ipc_publisher *bad = NULL;
    char other[512];
    h_endpoint(H_UNIX, other, sizeof other);
    CHECK_ST(ipc_publisher_bind(other, NULL, 7, 0, 0, &bad), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_publisher_bind(other, NULL, IPC_OVERFLOW_BLOCK, -5, 0, &bad),
             IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_publisher_bind(NULL, NULL, 0, 0, 0, &bad), IPC_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    static uint8_t topic[1025];
    CHECK_ST(ipc_publish(p, topic, sizeof topic, NULL, 0, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_publish(NULL, NULL, 0, NULL, 0, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_subscriber_recv(NULL, 0, NULL, NULL, NULL, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_publisher_wait_subscribers(p, 1, 0), IPC_ERR_TIMEOUT);

    /* A plain listener is not a publisher. */
    char lep[600];
    ipc_listener *l = h_listen(H_UNIX, NULL, lep, sizeof lep);
    ipc_subscriber *s = NULL;
    CHECK_ST(ipc_subscriber_connect(lep, NULL, NULL, &s), IPC_ERR_PROTOCOL_MISMATCH);
    CHECK(s == NULL);
    ipc_listener_free(l);
    ipc_publisher_free(p);
    ipc_publisher_free(NULL);
    ipc_subscriber_free(NULL);
}

static void test_rust_publisher(void)
{
    const char *rust = h_rust_peer();
    if (!rust)
        return;
    char ep[512];
    h_endpoint(H_UNIX, ep, sizeof ep);
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        execl(rust, "ipc-test-peer", "publish", ep, "--subscribers", "3", "--count", "10000",
              "--block-ms", "60000", "--topic", "t/1", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    REQUIRE(h_nchildren < (int)H_COUNT(h_children));
    h_children[h_nchildren++] = pid;
    char line[700];
    REQUIRE(h_read_line(out[0], line, sizeof line));
    REQUIRE(strncmp(line, "ready ", 6) == 0);
    ipc_subscriber *subs[3] = {NULL, NULL, NULL};
    const char *t_prefix[] = {"t/", NULL};
    const char *other[] = {"nothing/", NULL};
    REQUIRE_OK(ipc_subscriber_connect(line + 6, NULL, NULL, &subs[0]));
    REQUIRE_OK(ipc_subscriber_connect(line + 6, NULL, t_prefix, &subs[1]));
    REQUIRE_OK(ipc_subscriber_connect(line + 6, NULL, other, &subs[2]));
    /* Both in turn: under the blocking policy, one subscriber not read holds up the
     * publisher (for up to its timeout), and so the other. */
    int good[2] = {0, 0};
    for (uint64_t i = 0; i < 10000; i++) {
        for (int k = 0; k < 2; k++) {
            ipc_message *m = NULL;
            uint64_t seq = 0, dropped = 0, index = ~0ULL;
            if (!CHECK_OK(ipc_subscriber_recv(subs[k], 30000, &m, NULL, &seq, &dropped)))
                break;
            memcpy(&index, ipc_message_data(m), sizeof index);
            good[k] += seq == i && dropped == 0 && index == i && ipc_message_len(m) == 64;
            ipc_message_free(m);
        }
    }
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_I(good[k], 10000);
        ipc_message *m = NULL;
        CHECK_ST(ipc_subscriber_recv(subs[k], 30000, &m, NULL, NULL, NULL), IPC_ERR_CLOSED);
    }
    ipc_message *m = NULL;
    CHECK_ST(ipc_subscriber_recv(subs[2], 30000, &m, NULL, NULL, NULL), IPC_ERR_CLOSED);
    REQUIRE(h_read_line(out[0], line, sizeof line));
    CHECK_STR(line, "done published 10000 dropped 0 cut_off 0");
    for (int k = 0; k < 3; k++)
        ipc_subscriber_free(subs[k]);
    close(out[0]);
    CHECK(h_wait(pid) == 0);
}

static const struct h_test tests[] = {
    H_TEST(test_topics_and_order),
    H_TEST(test_drop_oldest_reports_drops),
    H_TEST(test_refusals_and_bad_arguments),
    H_TEST(test_rust_publisher),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
