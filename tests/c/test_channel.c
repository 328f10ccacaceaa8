/* Channels in one process, over every transport: send/recv/try_recv/recv_into, timeouts,
 * limits, close, peer credentials, descriptor readiness, zero-copy reserve/commit/abort and
 * recv_in_place/release (with their BUSY and INVALID_ARGUMENT cases), threads. */
#include "harness.h"

static const enum h_transport transports[] = {H_UNIX, H_TCP, H_SHM, H_NAME, H_FIFO};
#define FOR_EACH_TRANSPORT(t)                                                                 \
    for (size_t t##_i = 0;                                                                    \
         t##_i < H_COUNT(transports) && (h_sub = h_transport_names[transports[t##_i]], 1);    \
         t##_i++)                                                                             \
        for (enum h_transport t = transports[t##_i], *t##_once = &t; t##_once; t##_once = NULL)

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static int check_fill(const uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (uint8_t)(seed * 31u + i * 7u + (i >> 8)))
            return 0;
    return 1;
}

/* ---- basics ---------------------------------------------------------------------------------- */

static void test_send_recv(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        ipc_message *m = (ipc_message *)&l, *keep = NULL;

        /* nothing there yet: timeouts, out-parameter untouched */
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_recv(s, 0, &m), IPC_ERR_TIMEOUT);
        CHECK_ST(ipc_channel_recv(s, 20, &m), IPC_ERR_TIMEOUT);
        CHECK(m == (ipc_message *)&l);

        SEND_STR(c, "hello");
        CHECK_RECV(s, "hello");
        /* the largest timeout is fine (no overflow in the deadline) */
        CHECK_OK(ipc_channel_send(c, (const uint8_t *)"max", 3, INT32_MAX));
        m = NULL;
        CHECK_OK(ipc_channel_recv(s, INT32_MAX, &m));
        CHECK(m && ipc_message_len(m) == 3);
        ipc_message_free(m);
        SEND_STR(s, "back");
        CHECK_RECV(c, "back");

        /* the empty message: data is never NULL */
        CHECK_OK(ipc_channel_send(c, (const uint8_t *)"", 0, IPC_WAIT_FOREVER));
        m = NULL;
        CHECK_OK(ipc_channel_recv(s, 10000, &m));
        CHECK(m != NULL);
        CHECK(ipc_message_data(m) != NULL);
        CHECK_EQ_U(ipc_message_len(m), 0);
        ipc_message_free(m);

        /* order, timeouts on send, try_recv; in batches of 10 (a peer that is not reading
         * may leave room for few messages: over unix:// the kernel counts each one's overhead) */
        char msg[32];
        for (int batch = 0; batch < 10; batch++) {
            for (int i = batch * 10; i < batch * 10 + 10; i++) {
                int n = snprintf(msg, sizeof msg, "message %d", i);
                CHECK_OK(ipc_channel_send(c, (const uint8_t *)msg, (size_t)n, i % 2 ? 0 : 5000));
            }
            for (int i = batch * 10; i < batch * 10 + 10; i++) {
                snprintf(msg, sizeof msg, "message %d", i);
                if (i % 3 == 0) {
                    /* try_recv may find it not yet arrived; then wait for it */
                    m = NULL;
                    int st = ipc_channel_try_recv(s, &m);
                    if (st == IPC_ERR_TIMEOUT) {
                        CHECK_RECV(s, msg);
                    } else {
                        CHECK_ST(st, IPC_OK);
                        CHECK(m && ipc_message_len(m) == strlen(msg) &&
                              memcmp(ipc_message_data(m), msg, strlen(msg)) == 0);
                        ipc_message_free(m);
                    }
                } else {
                    CHECK_RECV(s, msg);
                }
            }
        }

        /* a message outlives its channel */
        SEND_STR(s, "outlives");
        CHECK_OK(ipc_channel_recv(c, 10000, &keep));
        h_pair_free(l, s, c);
        CHECK(keep && ipc_message_len(keep) == 8 && memcmp(ipc_message_data(keep), "outlives", 8) == 0);
        ipc_message_free(keep);
    }
}

struct big_send {
    ipc_channel *ch;
    size_t len;
    unsigned seed;
    int status;
};

static void *big_sender(void *arg)
{
    struct big_send *b = arg;
    uint8_t *buf = malloc(b->len);
    if (!buf) {
        b->status = -1;
        return NULL;
    }
    fill(buf, b->len, b->seed);
    b->status = ipc_channel_send(b->ch, buf, b->len, IPC_WAIT_FOREVER);
    free(buf);
    return NULL;
}

static void test_large_messages(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        const size_t sizes[] = {3 << 20, 65537, (16 << 20)}; /* 16 MiB = the default limit */
        for (size_t i = 0; i < H_COUNT(sizes); i++) {
            struct big_send b = {c, sizes[i], (unsigned)i, -1};
            pthread_t th;
            REQUIRE(pthread_create(&th, NULL, big_sender, &b) == 0);
            ipc_message *m = NULL;
            CHECK_OK(ipc_channel_recv(s, IPC_WAIT_FOREVER, &m));
            pthread_join(th, NULL);
            CHECK_ST(b.status, IPC_OK);
            CHECK(m && ipc_message_len(m) == sizes[i]);
            CHECK(m && check_fill(ipc_message_data(m), ipc_message_len(m), (unsigned)i));
            ipc_message_free(m);
        }
        h_pair_free(l, s, c);
    }
}

static void test_recv_into(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        uint8_t buf[64];
        size_t len = 999;

        CHECK_ST(ipc_channel_recv_into(s, buf, sizeof buf, 0, &len), IPC_ERR_TIMEOUT);
        CHECK_ST(ipc_channel_recv_into(s, buf, sizeof buf, 20, &len), IPC_ERR_TIMEOUT);
        CHECK_EQ_U(len, 999);

        SEND_STR(c, "exactly sixteen!");
        SEND_STR(c, "0123456789");
        SEND_STR(c, "");
        SEND_STR(c, "third");
        /* too small: the needed size, nothing consumed — each kind of receive still gets it */
        memset(buf, 'x', sizeof buf);
        CHECK_ST(ipc_channel_recv_into(s, buf, 15, 10000, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_ERRMSG();
        CHECK_EQ_U(len, 16);
        CHECK(buf[0] == 'x');
        len = 0;
        CHECK_ST(ipc_channel_recv_into(s, NULL, 0, 0, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(len, 16);
        len = 0;
        CHECK_OK(ipc_channel_recv_into(s, buf, 16, 0, &len)); /* exactly fits */
        CHECK_EQ_U(len, 16);
        CHECK(memcmp(buf, "exactly sixteen!", 16) == 0);

        CHECK_ST(ipc_channel_recv_into(s, buf, 3, 10000, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(len, 10);
        CHECK_RECV(s, "0123456789"); /* not lost: ipc_channel_recv gets it */

        len = 5;
        CHECK_OK(ipc_channel_recv_into(s, NULL, 0, 10000, &len)); /* the empty message fits */
        CHECK_EQ_U(len, 0);

        CHECK_ST(ipc_channel_recv_into(s, buf, 2, 10000, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(len, 5);
        const uint8_t *p = NULL;
        size_t plen = 0;
        CHECK_OK(ipc_channel_recv_in_place(s, 10000, &p, &plen)); /* ... and recv_in_place */
        CHECK(plen == 5 && p && memcmp(p, "third", 5) == 0);
        CHECK_OK(ipc_channel_release(s));

        /* a big one, too small by one byte, then fetched (sent whole before anything reads
         * it: a FIFO holds 64 KiB, sockets more) */
        const size_t bn = t == H_FIFO ? 60000 : 100000;
        uint8_t *big = malloc(bn), *into = malloc(bn);
        REQUIRE(big && into);
        fill(big, bn, 9);
        CHECK_OK(ipc_channel_send(c, big, bn, 10000));
        CHECK_ST(ipc_channel_recv_into(s, into, bn - 1, 10000, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(len, bn);
        CHECK_OK(ipc_channel_recv_into(s, into, bn, 10000, &len));
        CHECK(len == bn && check_fill(into, len, 9));
        free(big);
        free(into);

        h_pair_free(l, s, c);
    }
}

static void test_message_too_large(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_options *small = h_options_max_message(1000);
        uint8_t data[1001];
        memset(data, 'q', sizeof data);
        size_t max = 0;
        uint8_t *w = NULL;

        /* defaults: 16 MiB */
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        CHECK_OK(ipc_channel_max_message_size(c, &max));
        CHECK_EQ_U(max, 16u << 20);
        CHECK_OK(ipc_channel_max_message_size(s, &max));
        CHECK_EQ_U(max, 16u << 20);
        uint8_t *huge = malloc((16u << 20) + 1);
        REQUIRE(huge);
        memset(huge, 1, (16u << 20) + 1);
        CHECK_ST(ipc_channel_send(c, huge, (16u << 20) + 1, 0), IPC_ERR_MESSAGE_TOO_LARGE);
        free(huge);
        h_pair_free(l, s, c);

        /* the client's limit is smaller */
        l = h_pair_with(t, NULL, small, &s, &c);
        CHECK_OK(ipc_channel_max_message_size(c, &max));
        CHECK_EQ_U(max, 1000);
        CHECK_OK(ipc_channel_max_message_size(s, &max));
        CHECK_EQ_U(max, 1000); /* the smaller of both sides' limits */
        CHECK_ST(ipc_channel_send(c, data, 1001, 1000), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_send(s, data, 1001, 1000), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK_ST(ipc_channel_reserve(c, 1001, 1000, &w), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK_ST(ipc_channel_reserve(s, 1001, 1000, &w), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK(w == NULL);
        /* nothing was sent; the channel is still usable; 1000 bytes pass */
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);
        CHECK_OK(ipc_channel_send(c, data, 1000, 10000));
        CHECK_OK(ipc_channel_recv(s, 10000, &m));
        CHECK_EQ_U(ipc_message_len(m), 1000);
        ipc_message_free(m);
        CHECK_OK(ipc_channel_send(s, data, 1000, 10000));
        m = NULL;
        CHECK_OK(ipc_channel_recv(c, 10000, &m));
        CHECK_EQ_U(ipc_message_len(m), 1000);
        ipc_message_free(m);
        h_pair_free(l, s, c);

        /* the server's limit is smaller */
        l = h_pair_with(t, small, NULL, &s, &c);
        CHECK_OK(ipc_channel_max_message_size(c, &max));
        CHECK_EQ_U(max, 1000);
        CHECK_ST(ipc_channel_send(c, data, 1001, 1000), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK_OK(ipc_channel_send(c, data, 1000, 10000));
        m = NULL;
        CHECK_OK(ipc_channel_recv(s, 10000, &m));
        ipc_message_free(m);
        h_pair_free(l, s, c);
        ipc_options_free(small);
    }
}


/* A limit of 0: only empty messages. */
static void test_max_message_size_zero(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_options *o = h_options_max_message(0);
        ipc_channel *s, *c;
        ipc_listener *l = h_pair_with(t, o, NULL, &s, &c);
        size_t max = 9;
        CHECK_OK(ipc_channel_max_message_size(c, &max));
        CHECK_EQ_U(max, 0);
        CHECK_OK(ipc_channel_send(c, NULL, 0, 1000));
        CHECK_ST(ipc_channel_send(c, (const uint8_t *)"x", 1, 1000), IPC_ERR_MESSAGE_TOO_LARGE);
        CHECK_RECV(s, "");
        uint8_t *w = NULL;
        CHECK_OK(ipc_channel_reserve(c, 0, 1000, &w));
        CHECK(w != NULL);
        CHECK_OK(ipc_channel_commit(c));
        CHECK_RECV(s, "");
        h_pair_free(l, s, c);
        ipc_options_free(o);
    }
}

/* ---- close ----------------------------------------------------------------------------------- */

struct blocked_recv {
    ipc_channel *ch;
    int status;
};

static void *blocked_receiver(void *arg)
{
    struct blocked_recv *b = arg;
    ipc_message *m = NULL;
    b->status = ipc_channel_recv(b->ch, IPC_WAIT_FOREVER, &m);
    ipc_message_free(m);
    return NULL;
}

struct blocked_send {
    ipc_channel *ch;
    int status;
};

/* Sends 64 KiB messages until one fails (the peer never reads: it blocks once full). */
static void *blocked_sender(void *arg)
{
    struct blocked_send *b = arg;
    static uint8_t chunk[65536];
    int st;
    do
        st = ipc_channel_send(b->ch, chunk, sizeof chunk, IPC_WAIT_FOREVER);
    while (st == IPC_OK);
    b->status = st;
    return NULL;
}

/* Free the server end s (with whatever it still holds): that is a close for the client c, which
 * receives what s sent before (`last`, unless NULL), then CLOSED. Then frees c and l. */
static void free_server_end(ipc_listener *l, ipc_channel *s, ipc_channel *c, const char *last)
{
    ipc_message *m = NULL;
    ipc_channel_free(s);
    if (last)
        CHECK_RECV(c, last);
    CHECK_ST(ipc_channel_recv(c, 10000, &m), IPC_ERR_CLOSED);
    ipc_message_free(m);
    h_pair_free(l, NULL, c);
}

static void test_close(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        SEND_STR(c, "one");
        SEND_STR(c, "two");
        SEND_STR(c, "three");
        CHECK_OK(ipc_channel_close(c));
        CHECK_OK(ipc_channel_close(c)); /* idempotent */
        /* this side: closed for everything */
        ipc_message *m = NULL;
        uint8_t *w = NULL;
        const uint8_t *p = NULL;
        size_t n = 0;
        uint8_t buf[8];
        CHECK_ST(ipc_channel_send(c, (const uint8_t *)"x", 1, 1000), IPC_ERR_CLOSED);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_recv(c, 1000, &m), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_try_recv(c, &m), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_recv_into(c, buf, sizeof buf, 0, &n), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_reserve(c, 4, 1000, &w), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_recv_in_place(c, 0, &p, &n), IPC_ERR_CLOSED);
        /* the peer: everything sent before the close, then CLOSED, and again CLOSED */
        CHECK_RECV(s, "one");
        CHECK_RECV(s, "two");
        CHECK_RECV(s, "three");
        CHECK_ST(ipc_channel_recv(s, 10000, &m), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_recv_in_place(s, 1000, &p, &n), IPC_ERR_CLOSED);
        CHECK(m == NULL);
        /* queries still answer on a closed channel */
        ipc_peer_credentials pc;
        CHECK_OK(ipc_channel_peer(c, &pc));
        CHECK_OK(ipc_channel_max_message_size(c, &n));
        h_pair_free(NULL, s, c);

        /* close from another thread wakes a blocked receive with CLOSED */
        h_pair_again(l, &s, &c);
        struct blocked_recv b = {c, -1};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, blocked_receiver, &b) == 0);
        h_sleep_ms(50);
        CHECK_OK(ipc_channel_close(c));
        pthread_join(th, NULL);
        CHECK_ST(b.status, IPC_ERR_CLOSED);
        CHECK_ST(ipc_channel_recv(s, 10000, &m), IPC_ERR_CLOSED);
        h_pair_free(NULL, s, c);

        /* close from another thread wakes a send blocked on a peer that does not read */
        h_pair_again(l, &s, &c);
        struct blocked_send bs = {c, -1};
        REQUIRE(pthread_create(&th, NULL, blocked_sender, &bs) == 0);
        h_sleep_ms(100);
        CHECK_OK(ipc_channel_close(c));
        pthread_join(th, NULL);
        CHECK_ST(bs.status, IPC_ERR_CLOSED);
        h_pair_free(NULL, s, c);

        /* freeing one end is a close for the other */
        h_pair_again(l, &s, &c);
        SEND_STR(s, "last words");
        free_server_end(l, s, c, "last words");
    }
}

/* ---- peer credentials -------------------------------------------------------------------------- */

static void test_peer_credentials(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        ipc_peer_credentials ps = {0, 0, 0}, pc = {0, 0, 0};
        CHECK_OK(ipc_channel_peer(s, &ps));
        CHECK_OK(ipc_channel_peer(c, &pc));
        if (t == H_TCP) {
            CHECK(ps.pid == -1 && ps.uid == -1 && ps.gid == -1);
            CHECK(pc.pid == -1 && pc.uid == -1 && pc.gid == -1);
        } else {
            /* FIFOs tell the uid and gid of the files the peer made, not its pid */
            CHECK_EQ_I(ps.pid, t == H_FIFO ? -1 : getpid());
            CHECK_EQ_I(pc.pid, t == H_FIFO ? -1 : getpid());
            CHECK_EQ_I(ps.uid, getuid());
            CHECK_EQ_I(pc.uid, getuid());
            CHECK_EQ_I(ps.gid, getgid());
            CHECK_EQ_I(pc.gid, getgid());
        }
        h_pair_free(l, s, c);
    }
}

/* ---- descriptor readiness ------------------------------------------------------------------ */

/* The documented loop: receive with timeout 0 until TIMEOUT, poll, receive again. Returns the
 * number of messages received before `want` messages arrived or the channel ended. */
static int drain_by_fd(ipc_channel *ch, int fd, int want, int *ended)
{
    int got = 0;
    *ended = 0;
    for (int rounds = 0; rounds < 1000 && got < want && !*ended; rounds++) {
        for (;;) {
            ipc_message *m = NULL;
            int st = ipc_channel_try_recv(ch, &m);
            if (st == IPC_OK) {
                got++;
                ipc_message_free(m);
                continue;
            }
            if (st == IPC_ERR_CLOSED)
                *ended = 1;
            else
                CHECK_ST(st, IPC_ERR_TIMEOUT);
            break;
        }
        if (got >= want || *ended)
            break;
        if (!h_readable(fd, 10000)) {
            h_report(__FILE__, __LINE__, "descriptor not readable within 10 s with %d of %d received",
                     got, want);
            break;
        }
    }
    return got;
}

static void test_channel_fd(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        int fd = -1, fd2 = -2;
        REQUIRE_OK(ipc_channel_fd(s, &fd));
        CHECK(fd >= 0);
        CHECK_OK(ipc_channel_fd(s, &fd2));
        CHECK_EQ_I(fd, fd2);

        /* nothing yet: after TIMEOUT, the descriptor becomes readable once a message comes */
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);
        SEND_STR(c, "wake");
        CHECK(h_readable(fd, 10000));
        int ended = 0;
        CHECK_EQ_I(drain_by_fd(s, fd, 1, &ended), 1);

        /* several at once: some may be buffered inside the library after the first */
        for (int i = 0; i < 5; i++)
            SEND_STR(c, "burst");
        CHECK_EQ_I(drain_by_fd(s, fd, 5, &ended), 5);

        /* one at a time, with the loop each time */
        for (int i = 0; i < 20; i++) {
            SEND_STR(c, "step");
            CHECK_EQ_I(drain_by_fd(s, fd, 1, &ended), 1);
        }

        /* a big message (fragments over shm) */
        uint8_t *big = malloc(300000);
        REQUIRE(big);
        fill(big, 300000, 3);
        struct big_send b = {c, 300000, 3, -1};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, big_sender, &b) == 0);
        CHECK_EQ_I(drain_by_fd(s, fd, 1, &ended), 1);
        pthread_join(th, NULL);
        CHECK_ST(b.status, IPC_OK);
        free(big);

        /* the end makes it readable too */
        SEND_STR(c, "bye");
        CHECK_OK(ipc_channel_close(c));
        CHECK_EQ_I(drain_by_fd(s, fd, 2, &ended), 1);
        CHECK(ended);

        /* the client's descriptor works the same way */
        h_pair_free(NULL, s, c);
        h_pair_again(l, &s, &c);
        REQUIRE_OK(ipc_channel_fd(c, &fd));
        CHECK_ST(ipc_channel_try_recv(c, &m), IPC_ERR_TIMEOUT);
        SEND_STR(s, "to client");
        CHECK_EQ_I(drain_by_fd(c, fd, 1, &ended), 1);
        h_pair_free(l, s, c);
    }
}

/* ---- zero copy --------------------------------------------------------------------------------- */

struct other_thread {
    ipc_channel *ch;
    int op; /* 0 commit, 1 abort, 2 release, 3 send(timeout 0), 4 send(50 ms), 5 try_recv,
               6 recv(50 ms), 7 send(forever), 8 recv_into(0), 9 recv_in_place(0),
               10 reserve(0), 11 recv(10 s) keeping the length */
    int status;
    size_t len;
};

static void *other_thread_call(void *arg)
{
    struct other_thread *o = arg;
    ipc_message *m = NULL;
    uint8_t buf[64], *w = NULL;
    const uint8_t *p = NULL;
    size_t n = 0;
    switch (o->op) {
    case 0: o->status = ipc_channel_commit(o->ch); break;
    case 1: o->status = ipc_channel_abort(o->ch); break;
    case 2: o->status = ipc_channel_release(o->ch); break;
    case 3: o->status = ipc_channel_send(o->ch, (const uint8_t *)"other", 5, 0); break;
    case 4: o->status = ipc_channel_send(o->ch, (const uint8_t *)"other", 5, 50); break;
    case 5: o->status = ipc_channel_try_recv(o->ch, &m); break;
    case 6: o->status = ipc_channel_recv(o->ch, 50, &m); break;
    case 7: o->status = ipc_channel_send(o->ch, (const uint8_t *)"other", 5, IPC_WAIT_FOREVER); break;
    case 8: o->status = ipc_channel_recv_into(o->ch, buf, sizeof buf, 0, &n); break;
    case 9:
        o->status = ipc_channel_recv_in_place(o->ch, 0, &p, &n);
        if (o->status == IPC_OK)
            ipc_channel_release(o->ch);
        break;
    case 11:
        o->status = ipc_channel_recv(o->ch, 10000, &m);
        o->len = ipc_message_len(m);
        break;
    case 10:
        o->status = ipc_channel_reserve(o->ch, 4, 0, &w);
        if (o->status == IPC_OK)
            ipc_channel_abort(o->ch);
        break;
    }
    ipc_message_free(m);
    return NULL;
}

static int on_other_thread(ipc_channel *ch, int op)
{
    struct other_thread o = {ch, op, -1, 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, other_thread_call, &o) == 0);
    pthread_join(th, NULL);
    return o.status;
}


/* A message too big for one thread's buffer stays first in line for every thread. */
static void test_recv_into_other_thread(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        uint8_t buf[4];
        size_t len = 0;
        SEND_STR(c, "too long for four");
        SEND_STR(c, "next");
        CHECK_ST(ipc_channel_recv_into(s, buf, sizeof buf, 10000, &len), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(len, 17);
        struct other_thread o = {s, 11, -1, 0};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, other_thread_call, &o) == 0);
        pthread_join(th, NULL);
        CHECK_ST(o.status, IPC_OK);
        CHECK_EQ_U(o.len, 17);
        CHECK_OK(ipc_channel_recv_into(s, buf, sizeof buf, 10000, &len));
        CHECK(len == 4 && memcmp(buf, "next", 4) == 0);
        h_pair_free(l, s, c);
    }
}

static void test_reserve_commit_abort(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        uint8_t *w = NULL;
        ipc_message *m = NULL;

        /* nothing reserved */
        CHECK_ST(ipc_channel_commit(c), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_abort(c), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG();

        /* reserve, write, commit */
        REQUIRE_OK(ipc_channel_reserve(c, 11, 10000, &w));
        REQUIRE(w != NULL);
        memcpy(w, "zero copied", 11);
        CHECK_OK(ipc_channel_commit(c));
        CHECK_RECV(s, "zero copied");
        CHECK_ST(ipc_channel_commit(c), IPC_ERR_INVALID_ARGUMENT); /* already committed */

        /* abort sends nothing */
        w = NULL;
        REQUIRE_OK(ipc_channel_reserve(c, 7, 10000, &w));
        memcpy(w, "dropped", 7);
        CHECK_OK(ipc_channel_abort(c));
        CHECK_ST(ipc_channel_abort(c), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ST(ipc_channel_recv(s, 50, &m), IPC_ERR_TIMEOUT);

        /* zero bytes */
        w = NULL;
        CHECK_OK(ipc_channel_reserve(c, 0, 10000, &w));
        CHECK_OK(ipc_channel_commit(c));
        CHECK_RECV(s, "");

        /* while reserved: this thread's sends are BUSY, its receives are not */
        w = NULL;
        REQUIRE_OK(ipc_channel_reserve(c, 5, 10000, &w));
        uint8_t *w2 = NULL;
        CHECK_ST(ipc_channel_send(c, (const uint8_t *)"x", 1, 0), IPC_ERR_BUSY);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_send(c, (const uint8_t *)"x", 1, IPC_WAIT_FOREVER), IPC_ERR_BUSY);
        CHECK_ST(ipc_channel_reserve(c, 5, IPC_WAIT_FOREVER, &w2), IPC_ERR_BUSY);
        CHECK(w2 == NULL);
        CHECK_ST(ipc_channel_try_recv(c, &m), IPC_ERR_TIMEOUT);
        /* other threads cannot finish it (nothing reserved on their thread) */
        CHECK_ST(on_other_thread(c, 0), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ST(on_other_thread(c, 1), IPC_ERR_INVALID_ARGUMENT);
        /* the other side of the channel is free: the peer can still send to us */
        SEND_STR(s, "meanwhile");
        CHECK_RECV(c, "meanwhile");
        if (t == H_SHM) {
            /* the reserved space lies in the ring: other threads' sends wait for it */
            CHECK_ST(on_other_thread(c, 3), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(c, 4), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(c, 10), IPC_ERR_TIMEOUT);
            /* a waiting sender on another thread goes once we commit, after our message */
            struct other_thread o = {c, 7, -1, 0};
            pthread_t th;
            REQUIRE(pthread_create(&th, NULL, other_thread_call, &o) == 0);
            h_sleep_ms(30);
            memcpy(w, "first", 5);
            CHECK_OK(ipc_channel_commit(c));
            pthread_join(th, NULL);
            CHECK_ST(o.status, IPC_OK);
            CHECK_RECV(s, "first");
            CHECK_RECV(s, "other");
        } else {
            /* over sockets the reservation is a private buffer: other threads send meanwhile */
            CHECK_OK(on_other_thread(c, 3));
            CHECK_OK(on_other_thread(c, 10)); /* reserved and aborted there */
            memcpy(w, "first", 5);
            CHECK_OK(ipc_channel_commit(c));
            CHECK_RECV(s, "other");
            CHECK_RECV(s, "first");
        }
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);

        if (t != H_SHM && t != H_TCP && t != H_FIFO) {
            /* Over sockets commit is the send: with the peer not reading, it times out after
             * the reservation's timeout, sends nothing and keeps the reservation (and its
             * bytes) for another commit. Not over TCP: its buffers keep growing and moving
             * bytes to the receiver after the send buffer first filled, so a short commit
             * timeout may find room on a loaded machine. Not over FIFOs: a 64 KiB pipe has no
             * room for the rest of a partly sent 64 KiB message and the commit at once, so
             * this one-thread script cannot make room for both. */
            uint8_t chunk[65536];
            fill(chunk, sizeof chunk, 7);
            int queued = 0, st = IPC_OK;
            while (queued < 10000 && (st = ipc_channel_send(c, chunk, sizeof chunk, 0)) == IPC_OK)
                queued++;
            CHECK_ST(st, IPC_ERR_TIMEOUT);
            w = NULL;
            REQUIRE_OK(ipc_channel_reserve(c, 9, 20, &w));
            memcpy(w, "committed", 9);
            CHECK_ST(ipc_channel_commit(c), IPC_ERR_TIMEOUT);
            CHECK_ERRMSG();
            CHECK_ST(ipc_channel_send(c, (const uint8_t *)"x", 1, 0), IPC_ERR_BUSY); /* still held */
            /* Make room: receive all but the last queued message. The last one may have gone
             * out only in part (a partly written message counts as sent); its rest goes out
             * before anything else, here with the retried commit. */
            for (int i = 0; i + 1 < queued; i++) {
                m = NULL;
                CHECK_OK(ipc_channel_recv(s, 10000, &m));
                CHECK(m && ipc_message_len(m) == sizeof chunk && check_fill(ipc_message_data(m), sizeof chunk, 7));
                ipc_message_free(m);
            }
            CHECK_OK(ipc_channel_commit(c));
            m = NULL;
            CHECK_OK(ipc_channel_recv(s, 10000, &m));
            CHECK(m && ipc_message_len(m) == sizeof chunk && check_fill(ipc_message_data(m), sizeof chunk, 7));
            ipc_message_free(m);
            CHECK_RECV(s, "committed");
        }

        /* after close, a reservation cannot be made; one outstanding is released by free */
        w = NULL;
        REQUIRE_OK(ipc_channel_reserve(s, 100, 10000, &w));
        memset(w, 0, 100);
        free_server_end(l, s, c, NULL); /* with the reservation outstanding: nothing leaks, nothing sent */
    }
}

static void test_recv_in_place_release(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        const uint8_t *p = (const uint8_t *)&l;
        size_t n = 4242;
        ipc_message *m = NULL;
        uint8_t buf[64];

        CHECK_ST(ipc_channel_release(s), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_recv_in_place(s, 0, &p, &n), IPC_ERR_TIMEOUT);
        CHECK_ST(ipc_channel_recv_in_place(s, 20, &p, &n), IPC_ERR_TIMEOUT);
        CHECK(p == (const uint8_t *)&l && n == 4242);

        SEND_STR(c, "in place");
        SEND_STR(c, "second");
        REQUIRE_OK(ipc_channel_recv_in_place(s, 10000, &p, &n));
        CHECK(n == 8 && p && memcmp(p, "in place", 8) == 0);
        /* this thread's receives are BUSY until release; its sends are not */
        CHECK_ST(ipc_channel_recv(s, 0, &m), IPC_ERR_BUSY);
        CHECK_ERRMSG();
        CHECK_ST(ipc_channel_recv(s, IPC_WAIT_FOREVER, &m), IPC_ERR_BUSY);
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_BUSY);
        CHECK_ST(ipc_channel_recv_into(s, buf, sizeof buf, 0, &n), IPC_ERR_BUSY);
        const uint8_t *p2 = NULL;
        size_t n2 = 0;
        CHECK_ST(ipc_channel_recv_in_place(s, IPC_WAIT_FOREVER, &p2, &n2), IPC_ERR_BUSY);
        CHECK(p2 == NULL);
        SEND_STR(s, "reply while holding");
        CHECK_RECV(c, "reply while holding");
        /* other threads cannot release it */
        CHECK_ST(on_other_thread(s, 2), IPC_ERR_INVALID_ARGUMENT);
        if (t == H_SHM) {
            /* the message lies in the ring: other threads' receives wait (and time out) */
            CHECK_ST(on_other_thread(s, 5), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(s, 6), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(s, 8), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(s, 9), IPC_ERR_TIMEOUT);
        } else {
            /* over sockets it lies in a library buffer: another thread receives the next one */
            CHECK_OK(on_other_thread(s, 5)); /* "second" */
            CHECK_ST(on_other_thread(s, 6), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(s, 8), IPC_ERR_TIMEOUT);
            CHECK_ST(on_other_thread(s, 9), IPC_ERR_TIMEOUT);
        }
        /* still intact after all that */
        CHECK(memcmp(p, "in place", 8) == 0);
        CHECK_OK(ipc_channel_release(s));
        CHECK_ST(ipc_channel_release(s), IPC_ERR_INVALID_ARGUMENT);
        if (t == H_SHM)
            CHECK_RECV(s, "second");
        CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);

        /* reserve and recv_in_place at once on one thread (the zero-copy echo pattern) */
        SEND_STR(c, "ping");
        REQUIRE_OK(ipc_channel_recv_in_place(s, 10000, &p, &n));
        uint8_t *w = NULL;
        REQUIRE_OK(ipc_channel_reserve(s, n, 10000, &w));
        for (size_t i = 0; i < n; i++)
            w[i] = (uint8_t)(p[i] - 'a' + 'A');
        CHECK_OK(ipc_channel_commit(s));
        CHECK_OK(ipc_channel_release(s));
        CHECK_RECV(c, "PING");

        /* many, of varying sizes (ring wrap-around over shm) */
        for (unsigned i = 0; i < 300; i++) {
            size_t len = (i * 977u) % 20000;
            w = NULL;
            REQUIRE_OK(ipc_channel_reserve(c, len, 10000, &w));
            fill(w, len, i);
            REQUIRE_OK(ipc_channel_commit(c));
            REQUIRE_OK(ipc_channel_recv_in_place(s, 10000, &p, &n));
            CHECK(n == len && check_fill(p, n, i));
            REQUIRE_OK(ipc_channel_release(s));
        }

        /* free with an in-place receive outstanding */
        SEND_STR(c, "held at free");
        REQUIRE_OK(ipc_channel_recv_in_place(s, 10000, &p, &n));
        free_server_end(l, s, c, NULL);
    }
}

/* ---- threads ---------------------------------------------------------------------------------- */

struct pump {
    ipc_channel *ch;
    int count;
    int status;
};

static void *pump_send(void *arg)
{
    struct pump *p = arg;
    p->status = IPC_OK;
    for (int i = 0; i < p->count && p->status == IPC_OK; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "%d", i);
        p->status = ipc_channel_send(p->ch, (const uint8_t *)msg, (size_t)n, IPC_WAIT_FOREVER);
    }
    return NULL;
}

static void *pump_recv(void *arg)
{
    struct pump *p = arg;
    p->status = IPC_OK;
    for (int i = 0; i < p->count && p->status == IPC_OK; i++) {
        char msg[32];
        uint8_t buf[32];
        size_t n = 0;
        int len = snprintf(msg, sizeof msg, "%d", i);
        p->status = ipc_channel_recv_into(p->ch, buf, sizeof buf, IPC_WAIT_FOREVER, &n);
        if (p->status == IPC_OK && (n != (size_t)len || memcmp(buf, msg, n) != 0))
            p->status = -2; /* out of order or corrupt */
    }
    return NULL;
}

static void test_threads(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        /* both directions at once, each channel sending on one thread, receiving on another */
        struct pump p[4] = {{c, 3000, -1}, {s, 3000, -1}, {s, 3000, -1}, {c, 3000, -1}};
        pthread_t th[4];
        REQUIRE(pthread_create(&th[0], NULL, pump_send, &p[0]) == 0);
        REQUIRE(pthread_create(&th[1], NULL, pump_recv, &p[1]) == 0);
        REQUIRE(pthread_create(&th[2], NULL, pump_send, &p[2]) == 0);
        REQUIRE(pthread_create(&th[3], NULL, pump_recv, &p[3]) == 0);
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_ST(p[i].status, IPC_OK);
        }
        h_pair_free(l, s, c);
    }
}

/* Stream spin 0 (never poll before sleeping) and a long spin: messages flow both ways. */
static void test_stream_spin(void)
{
    const uint32_t spins[] = {0, 2000};
    const enum h_transport ts[] = {H_UNIX, H_TCP, H_FIFO};
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < H_COUNT(ts); k++) {
            ipc_options *o = h_options();
            CHECK_OK(ipc_options_set_stream_spin_us(o, spins[i]));
            ipc_channel *s, *c;
            ipc_listener *l = h_pair_with(ts[k], o, o, &s, &c);
            for (unsigned n = 0; n < 50; n++) {
                uint8_t out[4] = {(uint8_t)n, 1, 2, 3}, in[8];
                size_t len = 0;
                CHECK_OK(ipc_channel_send(c, out, sizeof out, IPC_WAIT_FOREVER));
                CHECK_OK(ipc_channel_recv_into(s, in, sizeof in, IPC_WAIT_FOREVER, &len));
                CHECK(len == sizeof out && in[0] == (uint8_t)n);
                CHECK_OK(ipc_channel_send(s, in, len, IPC_WAIT_FOREVER));
                CHECK_OK(ipc_channel_recv_into(c, in, sizeof in, 30000, &len));
                CHECK(len == sizeof out && in[0] == (uint8_t)n);
            }
            h_pair_free(l, s, c);
            ipc_options_free(o);
        }
    }
}

struct big_recv {
    ipc_channel *ch;
    size_t len;
};

static void *big_receiver(void *arg)
{
    struct big_recv *r = arg;
    ipc_message *m = NULL;
    if (ipc_channel_recv(r->ch, 60000, &m) == IPC_OK) {
        r->len = ipc_message_len(m);
        ipc_message_free(m);
    }
    return NULL;
}

/* A send whose timeout passes after part of the message went out returns IPC_OK; flush sees
 * the rest out once the peer reads. */
static void test_flush(void)
{
    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        CHECK_ST(ipc_channel_flush(NULL, 0), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ST(ipc_channel_flush(c, -2), IPC_ERR_INVALID_ARGUMENT);
        CHECK_OK(ipc_channel_flush(c, 0)); /* nothing pending */
        size_t n = 4u << 20;
        uint8_t *big = calloc(n, 1);
        REQUIRE(big != NULL);
        CHECK_OK(ipc_channel_send(c, big, n, 20));
        CHECK_ST(ipc_channel_flush(c, 0), IPC_ERR_TIMEOUT);
        struct big_recv r = {s, 0};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, big_receiver, &r) == 0);
        CHECK_OK(ipc_channel_flush(c, IPC_WAIT_FOREVER));
        pthread_join(th, NULL);
        CHECK(r.len == n);
        free(big);
        h_pair_free(l, s, c);
    }
}

struct blocked_accept {
    ipc_listener *l;
    int status;
};

static void *blocked_acceptor(void *arg)
{
    struct blocked_accept *b = arg;
    ipc_channel *ch = NULL;
    b->status = ipc_listener_accept(b->l, IPC_WAIT_FOREVER, &ch);
    ipc_channel_free(ch);
    return NULL;
}

/* A cancellation handle ends blocked calls on other threads with IPC_ERR_CANCELLED; nothing
 * is lost, and after a reset the channel works as before. */
static void test_cancel(void)
{
    ipc_cancel *k = NULL;
    int fired = -1, fd = -1;
    CHECK_ST(ipc_cancel_new(NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_cancel_fire(NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_cancel_is_fired(NULL, &fired), IPC_ERR_INVALID_ARGUMENT);
    ipc_cancel_free(NULL);
    REQUIRE_OK(ipc_cancel_new(&k));
    CHECK_ST(ipc_cancel_is_fired(k, NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_OK(ipc_cancel_is_fired(k, &fired));
    CHECK(fired == 0);
    /* a byte written to the signal descriptor fires it (what a signal handler does) */
    REQUIRE_OK(ipc_cancel_signal_fd(k, &fd));
    CHECK(fd >= 0);
    CHECK(write(fd, "x", 1) == 1);
    CHECK_OK(ipc_cancel_is_fired(k, &fired));
    CHECK(fired == 1);
    CHECK_OK(ipc_cancel_reset(k));
    CHECK_OK(ipc_cancel_is_fired(k, &fired));
    CHECK(fired == 0);

    FOR_EACH_TRANSPORT(t)
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(t, &s, &c);
        ipc_message *m = NULL;
        CHECK_ST(ipc_channel_set_cancel(NULL, k), IPC_ERR_INVALID_ARGUMENT);
        CHECK_OK(ipc_channel_set_cancel(s, k));

        /* a receive blocked forever on another thread ends when the handle fires */
        struct blocked_recv b = {s, -1};
        pthread_t th;
        REQUIRE(pthread_create(&th, NULL, blocked_receiver, &b) == 0);
        h_sleep_ms(30);
        CHECK_OK(ipc_cancel_fire(k));
        pthread_join(th, NULL);
        CHECK_ST(b.status, IPC_ERR_CANCELLED);
        /* while fired, blocking calls end at once, with a message */
        CHECK_ST(ipc_channel_recv(s, IPC_WAIT_FOREVER, &m), IPC_ERR_CANCELLED);
        CHECK_ERRMSG();
        CHECK(m == NULL);
        /* nothing was lost: after a reset the channel works, in order */
        CHECK_OK(ipc_cancel_reset(k));
        SEND_STR(c, "after");
        SEND_STR(c, "cancel");
        CHECK_RECV(s, "after");
        CHECK_RECV(s, "cancel");
        /* a fired handle stops waiting, not work that needs none: a message already
         * there is received, then the next call is cancelled */
        SEND_STR(c, "kept");
        h_sleep_ms(20); /* let it arrive */
        CHECK_OK(ipc_cancel_fire(k));
        CHECK_RECV(s, "kept");
        CHECK_ST(ipc_channel_recv(s, 10000, &m), IPC_ERR_CANCELLED);
        CHECK_OK(ipc_cancel_reset(k));
        /* detached, a fired handle no longer affects the channel */
        CHECK_OK(ipc_cancel_fire(k));
        CHECK_OK(ipc_channel_set_cancel(s, NULL));
        SEND_STR(c, "detached");
        CHECK_RECV(s, "detached");
        CHECK_OK(ipc_cancel_reset(k));

        /* an accept blocked on another thread ends too */
        CHECK_OK(ipc_listener_set_cancel(l, k));
        struct blocked_accept a = {l, -1};
        REQUIRE(pthread_create(&th, NULL, blocked_acceptor, &a) == 0);
        h_sleep_ms(30);
        CHECK_OK(ipc_cancel_fire(k));
        pthread_join(th, NULL);
        CHECK_ST(a.status, IPC_ERR_CANCELLED);
        CHECK_OK(ipc_cancel_reset(k));
        h_pair_free(l, s, c);
    }

    /* the channel keeps its own reference: the handle may be freed while attached */
    {
        ipc_channel *s, *c;
        ipc_listener *l = h_pair(H_UNIX, &s, &c);
        ipc_cancel *k2 = NULL;
        REQUIRE_OK(ipc_cancel_new(&k2));
        CHECK_OK(ipc_channel_set_cancel(s, k2));
        ipc_cancel_free(k2);
        SEND_STR(c, "still here");
        CHECK_RECV(s, "still here");
        h_pair_free(l, s, c);
    }
    ipc_cancel_free(k);
}

static void test_shm_small_ring(void)
{
    ipc_options *o = h_options();
    CHECK_OK(ipc_options_set_shm_ring_size(o, 64 * 1024));
    CHECK_OK(ipc_options_set_shm_spin_us(o, 0));
    ipc_channel *s, *c;
    ipc_listener *l = h_pair_with(H_SHM, o, o, &s, &c);
    /* larger than the ring: fragments */
    struct big_send b = {c, 200000, 5, -1};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, big_sender, &b) == 0);
    ipc_message *m = NULL;
    CHECK_OK(ipc_channel_recv(s, IPC_WAIT_FOREVER, &m));
    pthread_join(th, NULL);
    CHECK_ST(b.status, IPC_OK);
    CHECK(m && ipc_message_len(m) == 200000 && check_fill(ipc_message_data(m), 200000, 5));
    ipc_message_free(m);
    /* a full ring: try-sends time out, nothing lost */
    uint8_t chunk[8192];
    fill(chunk, sizeof chunk, 1);
    int sent = 0, st;
    while ((st = ipc_channel_send(c, chunk, sizeof chunk, 0)) == IPC_OK && sent < 1000)
        sent++;
    CHECK_ST(st, IPC_ERR_TIMEOUT);
    CHECK(sent > 0 && sent < 1000);
    CHECK_ST(ipc_channel_send(c, chunk, sizeof chunk, 20), IPC_ERR_TIMEOUT);
    uint8_t *w = NULL;
    CHECK_ST(ipc_channel_reserve(c, sizeof chunk, 0, &w), IPC_ERR_TIMEOUT);
    for (int i = 0; i < sent; i++) {
        m = NULL;
        CHECK_OK(ipc_channel_recv(s, 10000, &m));
        CHECK(m && ipc_message_len(m) == sizeof chunk && check_fill(ipc_message_data(m), sizeof chunk, 1));
        ipc_message_free(m);
    }
    CHECK_ST(ipc_channel_try_recv(s, &m), IPC_ERR_TIMEOUT);
    h_pair_free(l, s, c);
    ipc_options_free(o);
}

static const struct h_test tests[] = {
    H_TEST(test_send_recv),
    H_TEST(test_large_messages),
    H_TEST(test_recv_into),
    H_TEST(test_recv_into_other_thread),
    H_TEST(test_message_too_large),
    H_TEST(test_max_message_size_zero),
    H_TEST(test_close),
    H_TEST(test_peer_credentials),
    H_TEST(test_channel_fd),
    H_TEST(test_reserve_commit_abort),
    H_TEST(test_recv_in_place_release),
    H_TEST(test_threads),
    H_TEST(test_shm_small_ring),
    H_TEST(test_stream_spin),
    H_TEST(test_flush),
    H_TEST(test_cancel),
};

int main(int argc, char **argv)
{
    return h_main(argc, argv, tests, H_COUNT(tests));
}
