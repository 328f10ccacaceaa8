/* The C API without data flowing: version, statuses, last error per thread, options, argument
 * checks of every function (NULL handles and out-parameters, NULL data, bad timeouts, invalid
 * UTF-8), endpoint errors, bind/connect errors, listener functions. */
#include "harness.h"

/* ---- library --------------------------------------------------------------------------------- */

static void test_version(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", IPC_VERSION_MAJOR, IPC_VERSION_MINOR,
             IPC_VERSION_PATCH);
    CHECK_STR(ipc_version(), IPC_VERSION);
    CHECK_STR(ipc_version(), want);
    CHECK_EQ_U(ipc_abi_version(), IPC_ABI_VERSION);
    CHECK_EQ_I(IPC_WAIT_FOREVER, -1);
    CHECK(ipc_version() == ipc_version()); /* static */
}

static const struct {
    ipc_status status;
    int number;
    const char *name;
} all_statuses[] = {
    {IPC_OK, 0, "IPC_OK"},
    {IPC_ERR_INVALID_ENDPOINT, 1, "IPC_ERR_INVALID_ENDPOINT"},
    {IPC_ERR_ADDRESS_IN_USE, 2, "IPC_ERR_ADDRESS_IN_USE"},
    {IPC_ERR_NOT_FOUND, 3, "IPC_ERR_NOT_FOUND"},
    {IPC_ERR_PERMISSION_DENIED, 4, "IPC_ERR_PERMISSION_DENIED"},
    {IPC_ERR_PEER_DISCONNECTED, 5, "IPC_ERR_PEER_DISCONNECTED"},
    {IPC_ERR_TIMEOUT, 6, "IPC_ERR_TIMEOUT"},
    {IPC_ERR_MESSAGE_TOO_LARGE, 7, "IPC_ERR_MESSAGE_TOO_LARGE"},
    {IPC_ERR_PROTOCOL_MISMATCH, 8, "IPC_ERR_PROTOCOL_MISMATCH"},
    {IPC_ERR_PROTOCOL_VIOLATION, 9, "IPC_ERR_PROTOCOL_VIOLATION"},
    {IPC_ERR_CLOSED, 10, "IPC_ERR_CLOSED"},
    {IPC_ERR_IO, 11, "IPC_ERR_IO"},
    {IPC_ERR_UNSUPPORTED, 12, "IPC_ERR_UNSUPPORTED"},
    {IPC_ERR_INVALID_ARGUMENT, 13, "IPC_ERR_INVALID_ARGUMENT"},
    {IPC_ERR_BUFFER_TOO_SMALL, 100, "IPC_ERR_BUFFER_TOO_SMALL"},
    {IPC_ERR_PANIC, 101, "IPC_ERR_PANIC"},
    {IPC_ERR_BUSY, 102, "IPC_ERR_BUSY"},
};

static void test_status_names(void)
{
    for (size_t i = 0; i < H_COUNT(all_statuses); i++) {
        CHECK_EQ_I((int)all_statuses[i].status, all_statuses[i].number);
        CHECK_STR(ipc_status_name(all_statuses[i].status), all_statuses[i].name);
    }
    /* Unknown numbers: never NULL, and not the name of a real status. */
    const int unknown[] = {14, 15, 99, 103, 1000, -1, -100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < H_COUNT(unknown); i++) {
        const char *name = ipc_status_name((ipc_status)unknown[i]);
        CHECK(name != NULL);
        if (!name)
            continue;
        CHECK(*name != 0);
        for (size_t k = 0; k < H_COUNT(all_statuses); k++)
            CHECK(strcmp(name, all_statuses[k].name) != 0);
    }
}

/* ---- ipc_last_error is per thread ----------------------------------------------------------- */

static pthread_barrier_t le_barrier;
struct le_result {
    int which;
    int status;
    char before[64];
    char after[512];
};

static void *le_thread(void *arg)
{
    struct le_result *r = arg;
    char ep[512];
    ipc_channel *ch = NULL;
    snprintf(r->before, sizeof r->before, "%s", ipc_last_error());
    if (r->which == 0) {
        /* NOT_FOUND, naming a path only this thread uses */
        snprintf(ep, sizeof ep, "unix://%s/only-thread-a.sock", h_dir);
        r->status = ipc_channel_connect(ep, NULL, &ch);
    } else {
        /* INVALID_ENDPOINT, naming a host only this thread uses */
        r->status = ipc_channel_connect("tcp://only-thread-b", NULL, &ch);
    }
    /* both threads have failed before either reads its message */
    pthread_barrier_wait(&le_barrier);
    snprintf(r->after, sizeof r->after, "%s", ipc_last_error());
    pthread_barrier_wait(&le_barrier);
    /* a success in between does not matter; a new failure replaces the message */
    ipc_channel_free(ch);
    return NULL;
}

static void *le_fresh_thread(void *arg)
{
    char *out = arg; /* copied here: the thread's message dies with the thread */
    const char *e = ipc_last_error();
    snprintf(out, 64, "%s", e ? e : "(NULL)");
    return NULL;
}

static void test_last_error_per_thread(void)
{
    /* Before any failure on a thread: the empty string, never NULL. */
    char fresh[64] = "unset";
    pthread_t t;
    ipc_channel *none = NULL;
    CHECK_ST(ipc_channel_connect("bad endpoint!", NULL, &none), IPC_ERR_INVALID_ENDPOINT);
    REQUIRE(pthread_create(&t, NULL, le_fresh_thread, fresh) == 0);
    pthread_join(t, NULL);
    CHECK_STR(fresh, "");

    struct le_result r[2];
    memset(r, 0, sizeof r);
    r[0].which = 0;
    r[1].which = 1;
    REQUIRE(pthread_barrier_init(&le_barrier, NULL, 2) == 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, le_thread, &r[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&le_barrier);

    CHECK_STR(r[0].before, "");
    CHECK_STR(r[1].before, "");
    CHECK_ST(r[0].status, IPC_ERR_NOT_FOUND);
    CHECK_ST(r[1].status, IPC_ERR_INVALID_ENDPOINT);
    if (!strstr(r[0].after, "only-thread-a") || strstr(r[0].after, "only-thread-b"))
        h_report(__FILE__, __LINE__, "thread A sees \"%s\"", r[0].after);
    if (!strstr(r[1].after, "only-thread-b") || strstr(r[1].after, "only-thread-a"))
        h_report(__FILE__, __LINE__, "thread B sees \"%s\"", r[1].after);

    /* This thread still has its own message. */
    CHECK(strstr(ipc_last_error(), "bad endpoint!") != NULL);

    /* The pointer stays valid (and unchanged) across successful calls. */
    char copy[512];
    snprintf(copy, sizeof copy, "%s", ipc_last_error());
    const char *p = ipc_last_error();
    ipc_options *o = NULL;
    CHECK_OK(ipc_options_new(&o));
    ipc_options_free(o);
    CHECK_STR(p, copy);
}

/* ---- options --------------------------------------------------------------------------------- */

static void test_options_arguments(void)
{
    ipc_options *o = NULL;
    const uint32_t uids[2] = {1, 2};

    CHECK_ST(ipc_options_new(NULL), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG();
    ipc_options_free(NULL);

    CHECK_ST(ipc_options_set_max_message_size(NULL, 10), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG();
    CHECK_ST(ipc_options_set_socket_mode(NULL, 0600), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_connect_timeout(NULL, 100), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_handshake_timeout(NULL, 100), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_allowed_uids(NULL, uids, 2), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_allowed_gids(NULL, uids, 2), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_shm_ring_size(NULL, 1 << 16), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_shm_spin_us(NULL, 0), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_stream_spin_us(NULL, 0), IPC_ERR_INVALID_ARGUMENT);

    REQUIRE_OK(ipc_options_new(&o));
    REQUIRE(o != NULL);
    CHECK_OK(ipc_options_set_max_message_size(o, 1 << 20));
    CHECK_OK(ipc_options_set_socket_mode(o, 0660));
    CHECK_OK(ipc_options_set_connect_timeout(o, 2000));
    CHECK_OK(ipc_options_set_connect_timeout(o, IPC_WAIT_FOREVER));
    CHECK_ST(ipc_options_set_connect_timeout(o, -2), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ERRMSG();
    CHECK_ST(ipc_options_set_connect_timeout(o, INT32_MIN), IPC_ERR_INVALID_ARGUMENT);
    CHECK_OK(ipc_options_set_handshake_timeout(o, 3000));
    CHECK_OK(ipc_options_set_allowed_uids(o, uids, 2));
    CHECK_ST(ipc_options_set_allowed_uids(o, NULL, 2), IPC_ERR_INVALID_ARGUMENT); /* NULL, n > 0 */
    CHECK_ERRMSG();
    CHECK_OK(ipc_options_set_allowed_uids(o, NULL, 0)); /* clears */
    CHECK_OK(ipc_options_set_allowed_uids(o, uids, 0)); /* clears */
    CHECK_OK(ipc_options_set_allowed_gids(o, uids, 2));
    CHECK_ST(ipc_options_set_allowed_gids(o, NULL, 2), IPC_ERR_INVALID_ARGUMENT); /* NULL, n > 0 */
    CHECK_ERRMSG();
    CHECK_ST(ipc_options_set_allowed_gids(o, uids, SIZE_MAX), IPC_ERR_INVALID_ARGUMENT);
    CHECK_OK(ipc_options_set_allowed_gids(o, NULL, 0)); /* clears */
    CHECK_OK(ipc_options_set_allowed_gids(o, uids, 0)); /* clears */
    CHECK_OK(ipc_options_set_shm_ring_size(o, 1 << 16));
    CHECK_OK(ipc_options_set_shm_spin_us(o, 0));
    CHECK_OK(ipc_options_set_shm_spin_us(o, 50));
    CHECK_OK(ipc_options_set_stream_spin_us(o, 0));
    CHECK_OK(ipc_options_set_stream_spin_us(o, 50));

    /* Usable for both sides; NULL options are the defaults. */
    ipc_channel *c = NULL, *s = NULL;
    CHECK_OK(ipc_options_set_connect_timeout(o, 5000));
    ipc_listener *l = h_pair_with(H_UNIX, o, o, &s, &c);
    h_pair_free(l, s, c);
    ipc_options_free(o);
}

/* Out-of-range values are accepted by the setters and reported by bind/connect. */
static void test_options_invalid_values(void)
{
    char ep[512];
    ipc_listener *good = h_listen(H_UNIX, NULL, ep, sizeof ep);
    static const char *const what[] = {"socket_mode 01000", "shm_ring_size 1000",
                                       "shm_ring_size 3<<16", "shm_ring_size 2 GiB",
                                       "handshake_timeout 0", "connect_timeout 0",
                                       "max_message_size > 4 GiB"};
    for (int i = 0; i < (int)H_COUNT(what); i++) {
        ipc_options *o = h_options();
        int setter;
        switch (i) {
        case 0: setter = ipc_options_set_socket_mode(o, 01000); break;
        case 1: setter = ipc_options_set_shm_ring_size(o, 1000); break;
        case 2: setter = ipc_options_set_shm_ring_size(o, 3 << 16); break;
        case 3: setter = ipc_options_set_shm_ring_size(o, (size_t)2 << 30); break;
        case 4: setter = ipc_options_set_handshake_timeout(o, 0); break;
        case 5: setter = ipc_options_set_connect_timeout(o, 0); break;
        default: setter = ipc_options_set_max_message_size(o, (size_t)UINT32_MAX + 1); break;
        }
        if (setter != IPC_OK) {
            h_report(__FILE__, __LINE__,
                     "setter for %s returned %s; docs/c-api.md says bind/connect report it", what[i],
                     ipc_status_name((ipc_status)setter));
            ipc_options_free(o);
            continue;
        }
        char bind_ep[512];
        ipc_listener *l = (ipc_listener *)&setter; /* sentinel: must stay untouched */
        ipc_channel *c = (ipc_channel *)&setter;
        h_endpoint(H_UNIX, bind_ep, sizeof bind_ep);
        int b = ipc_listener_bind(bind_ep, o, &l);
        if (b != IPC_ERR_INVALID_ARGUMENT)
            h_report(__FILE__, __LINE__, "bind with %s returned %s", what[i],
                     ipc_status_name((ipc_status)b));
        else
            CHECK_ERRMSG();
        CHECK(l == (ipc_listener *)&setter);
        if (b == IPC_OK && l != (ipc_listener *)&setter)
            ipc_listener_free(l);
        int cst = ipc_channel_connect(ep, o, &c);
        if (cst != IPC_ERR_INVALID_ARGUMENT)
            h_report(__FILE__, __LINE__, "connect with %s returned %s", what[i],
                     ipc_status_name((ipc_status)cst));
        CHECK(c == (ipc_channel *)&setter);
        if (cst == IPC_OK && c != (ipc_channel *)&setter)
            ipc_channel_free(c);
        ipc_options_free(o);
    }
    /* clients refused above may have reached the listener; drain them */
    ipc_channel *c = NULL;
    while (ipc_listener_accept(good, 0, &c) == IPC_OK)
        ipc_channel_free(c);
    ipc_listener_free(good);
}

static void test_options_socket_mode(void)
{
    ipc_options *o = h_options();
    char want[512], ep[512];
    CHECK_OK(ipc_options_set_socket_mode(o, 0640));
    h_endpoint(H_UNIX, want, sizeof want);
    ipc_listener *l = NULL;
    REQUIRE_OK(ipc_listener_bind(want, o, &l));
    size_t len;
    REQUIRE_OK(ipc_listener_endpoint(l, ep, sizeof ep, &len));
    struct stat st;
    CHECK(stat(ep + strlen("unix://"), &st) == 0);
    CHECK_EQ_U(st.st_mode & 0777, 0640);
    CHECK(S_ISSOCK(st.st_mode));
    ipc_listener_free(l);
    CHECK(access(ep + strlen("unix://"), F_OK) != 0); /* free removes the socket file */
    ipc_options_free(o);
}

static void test_options_handshake_timeout(void)
{
    /* A client that connects and says nothing is dropped after the handshake timeout. */
    ipc_options *o = h_options();
    CHECK_OK(ipc_options_set_handshake_timeout(o, 200));
    char ep[512];
    ipc_listener *l = h_listen(H_TCP, o, ep, sizeof ep);
    int port = atoi(strrchr(ep, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    /* The server speaks first or not at all; either way it closes the socket eventually. */
    char buf[256];
    ssize_t n;
    int closed = 0;
    for (int i = 0; i < 100 && !closed; i++) {
        if (!h_readable(fd, 1000))
            continue;
        n = read(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            closed = 1;
    }
    CHECK(closed);
    close(fd);
    ipc_channel *c = NULL;
    CHECK_ST(ipc_listener_accept(l, 0, &c), IPC_ERR_TIMEOUT);
    ipc_listener_free(l);
    ipc_options_free(o);
}

/* The allow-lists on every transport that reports peer credentials: with `mine` on both sides
 * a client connects and is accepted; a client with `others` (listing only servers it is not)
 * is refused at connect; a listener with `others` refuses a client, whose error message names
 * `word` (when not NULL), and has nothing to accept. */
static void check_allow_lists(const ipc_options *mine, const ipc_options *others, const char *word)
{
    const enum h_transport ts[] = {H_UNIX, H_SHM, H_NAME};
    for (size_t i = 0; i < H_COUNT(ts); i++) {
        char ep[512];
        ipc_channel *c = NULL, *s = NULL;
        ipc_listener *l = h_listen(ts[i], mine, ep, sizeof ep);
        h_check_connect_accept(l, ep, mine);
        CHECK_ST(ipc_channel_connect(ep, others, &c), IPC_ERR_PERMISSION_DENIED);
        CHECK_ERRMSG();
        CHECK(c == NULL);
        ipc_channel_free(c);
        c = NULL;
        ipc_listener_free(l);

        l = h_listen(ts[i], others, ep, sizeof ep);
        CHECK_ST(ipc_channel_connect(ep, NULL, &c), IPC_ERR_PERMISSION_DENIED);
        CHECK_ERRMSG();
        if (word)
            CHECK(strstr(ipc_last_error(), word) != NULL);
        CHECK(c == NULL);
        ipc_channel_free(c);
        CHECK_ST(ipc_listener_accept(l, 200, &s), IPC_ERR_TIMEOUT);
        ipc_listener_free(l);
    }
}

static void test_options_allowed_uids(void)
{
    const uint32_t me = (uint32_t)getuid(), other = (uint32_t)getuid() + 4242;
    ipc_options *mine = h_options(), *others = h_options();
    CHECK_OK(ipc_options_set_allowed_uids(mine, &me, 1));
    CHECK_OK(ipc_options_set_allowed_uids(others, &other, 1));
    CHECK_OK(ipc_options_set_connect_timeout(mine, 5000));
    CHECK_OK(ipc_options_set_connect_timeout(others, 5000));

    check_allow_lists(mine, others, NULL);
    /* TCP cannot check uids: both sides report it. */
    char ep[512];
    ipc_listener *l = NULL;
    ipc_channel *c = NULL;
    CHECK_ST(ipc_listener_bind("tcp://127.0.0.1:0", mine, &l), IPC_ERR_INVALID_ARGUMENT);
    CHECK(l == NULL);
    l = h_listen(H_TCP, NULL, ep, sizeof ep);
    CHECK_ST(ipc_channel_connect(ep, mine, &c), IPC_ERR_INVALID_ARGUMENT);
    CHECK(c == NULL);
    ipc_listener_free(l);

    ipc_options_free(mine);
    ipc_options_free(others);
}

/* The gid allow-list: a listener listing only a group we are not in refuses us, and so does
 * a client listing only such a group; our effective gid admits us on both sides, even next to
 * a uid list without our uid (either list admits); TCP reports it as an invalid argument. */
static void test_options_allowed_gids(void)
{
    gid_t groups[256];
    int n = getgroups(256, groups);
    REQUIRE(n >= 0);
    uint32_t other = (uint32_t)getegid();
    for (int i = 0; i < n; i++) {
        if ((uint32_t)groups[i] > other)
            other = (uint32_t)groups[i];
    }
    other += 4242;
    const uint32_t me = (uint32_t)getegid(), not_me = (uint32_t)getuid() + 4242;
    ipc_options *mine = h_options(), *others = h_options();
    CHECK_OK(ipc_options_set_allowed_gids(mine, &me, 1));
    CHECK_OK(ipc_options_set_allowed_uids(mine, &not_me, 1));
    CHECK_OK(ipc_options_set_allowed_gids(others, &other, 1));
    CHECK_OK(ipc_options_set_connect_timeout(mine, 5000));
    CHECK_OK(ipc_options_set_connect_timeout(others, 5000));

    check_allow_lists(mine, others, "gid");
    ipc_listener *l = NULL;
    CHECK_ST(ipc_listener_bind("tcp://127.0.0.1:0", others, &l), IPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ipc_last_error(), "allowed_gids") != NULL);
    CHECK(l == NULL);

    ipc_options_free(mine);
    ipc_options_free(others);
}

/* The resource limits and the client's expected server uid (docs/security.md, "Resource
 * limits"): a listener of max_connections 1 refuses a second client with IPC_ERR_TIMEOUT until
 * the first channel is freed; a client expecting another server uid is refused; over TCP the
 * expected uid is IPC_ERR_INVALID_ARGUMENT; the frame timeout setter takes 0 (no limit). */
/* Connect and accept one client at a listener of max_connections 1, then close both. The
 * listener's place for an earlier connection comes back when that connection has finished
 * closing or its handshake has ended, which may be a moment after the calls that ended it
 * return (slowly under valgrind); until then a client is refused with IPC_ERR_TIMEOUT, "try
 * again later", so that is retried (at most 200 times, 100 ms apart). */
static void connect_accept_when_free(ipc_listener *l, const char *ep, const ipc_options *copts)
{
    ipc_channel *c = NULL, *s = NULL;
    ipc_status st = IPC_ERR_TIMEOUT;
    for (int i = 0; i < 200 && st == IPC_ERR_TIMEOUT; i++) {
        st = ipc_channel_connect(ep, copts, &c);
        if (st == IPC_ERR_TIMEOUT)
            h_sleep_ms(100);
    }
    CHECK_ST(st, IPC_OK);
    CHECK_OK(ipc_listener_accept(l, 10000, &s));
    ipc_channel_free(c);
    ipc_channel_free(s);
}

static void test_options_limits(void)
{
    const uint32_t me = (uint32_t)getuid(), other = (uint32_t)getuid() + 4242;
    ipc_options *lo = h_options(), *mine = h_options(), *others = h_options();
    CHECK_ST(ipc_options_set_max_connections(NULL, 1), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_frame_timeout_ms(NULL, 1), IPC_ERR_INVALID_ARGUMENT);
    CHECK_ST(ipc_options_set_expected_server_uid(NULL, &me), IPC_ERR_INVALID_ARGUMENT);
    CHECK_OK(ipc_options_set_max_connections(lo, 1));
    CHECK_OK(ipc_options_set_frame_timeout_ms(lo, 0));
    CHECK_OK(ipc_options_set_frame_timeout_ms(lo, 10000));
    CHECK_OK(ipc_options_set_expected_server_uid(mine, &me));
    CHECK_OK(ipc_options_set_expected_server_uid(others, &other));

    char ep[512];
    ipc_channel *c = NULL, *s = NULL, *c2 = NULL;
    ipc_listener *l = h_listen(H_UNIX, lo, ep, sizeof ep);
    CHECK_OK(ipc_channel_connect(ep, mine, &c));
    CHECK_OK(ipc_listener_accept(l, 10000, &s));
    CHECK_ST(ipc_channel_connect(ep, NULL, &c2), IPC_ERR_TIMEOUT);
    CHECK_ERRMSG();
    CHECK(c2 == NULL);
    ipc_channel_free(s);
    ipc_channel_free(c);
    /* The place is free again; a client expecting another uid is refused before its hello. */
    connect_accept_when_free(l, ep, NULL);
    CHECK_ST(ipc_channel_connect(ep, others, &c2), IPC_ERR_PERMISSION_DENIED);
    CHECK_ERRMSG();
    CHECK_OK(ipc_options_set_expected_server_uid(others, NULL)); /* any uid again */
    connect_accept_when_free(l, ep, others);
    ipc_listener_free(l);

    ipc_options *zero = h_options();
    CHECK_OK(ipc_options_set_max_connections(zero, 0));
    l = NULL;
    CHECK_ST(ipc_listener_bind("tcp://127.0.0.1:0", zero, &l), IPC_ERR_INVALID_ARGUMENT);
    CHECK(l == NULL);
    l = h_listen(H_TCP, NULL, ep, sizeof ep);
    CHECK_ST(ipc_channel_connect(ep, mine, &c2), IPC_ERR_INVALID_ARGUMENT);
    CHECK(c2 == NULL);
    ipc_listener_free(l);
    ipc_options_free(zero);
    ipc_options_free(lo);
    ipc_options_free(mine);
    ipc_options_free(others);
}

/* ---- NULL handles and out-parameters, everywhere --------------------------------------------- */

static void test_null_arguments(void)
{
    ipc_channel *s = NULL, *c = NULL;
    ipc_listener *l = h_pair(H_UNIX, &s, &c);
    char ep[512], buf[64];
    size_t len = 0;
    ipc_listener *lout = (ipc_listener *)buf;
    ipc_channel *cout = (ipc_channel *)buf;
    ipc_message *mout = (ipc_message *)buf;
    uint8_t *wout = (uint8_t *)buf;
    const uint8_t *rout = (const uint8_t *)buf;
    int fd = -7;
    size_t n = 777;
    ipc_peer_credentials pc = {7, 7, 7};
    const uint8_t data[4] = {1, 2, 3, 4};

    REQUIRE_OK(ipc_listener_endpoint(l, ep, sizeof ep, &len));

#define INV(call)                                                                             \
    do {                                                                                      \
        CHECK_ST(call, IPC_ERR_INVALID_ARGUMENT);                                             \
        CHECK_ERRMSG();                                                                       \
    } while (0)

    /* listener */
    INV(ipc_listener_bind(NULL, NULL, &lout));
    INV(ipc_listener_bind(ep, NULL, NULL));
    INV(ipc_listener_accept(NULL, 0, &cout));
    INV(ipc_listener_accept(l, 0, NULL));
    INV(ipc_listener_accept(l, -2, &cout));
    INV(ipc_listener_accept(l, INT32_MIN, &cout));
    INV(ipc_listener_endpoint(NULL, buf, sizeof buf, &len));
    INV(ipc_listener_endpoint(l, NULL, 10, &len)); /* NULL with cap > 0, even if too small */
    {
        /* NULL with cap 0 asks for the size: BUFFER_TOO_SMALL with the bytes needed. */
        size_t need = 0;
        CHECK_ST(ipc_listener_endpoint(l, NULL, 0, &need), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK(need == len + 1);
    }
    INV(ipc_listener_endpoint(l, NULL, sizeof ep, &len));
    INV(ipc_listener_endpoint(l, buf, sizeof buf, NULL));
    INV(ipc_listener_fd(NULL, &fd));
    INV(ipc_listener_fd(l, NULL));
    INV(ipc_listener_close(NULL));
    ipc_listener_free(NULL);
    CHECK(lout == (ipc_listener *)buf && cout == (ipc_channel *)buf && fd == -7);

    /* channel */
    INV(ipc_channel_connect(NULL, NULL, &cout));
    INV(ipc_channel_connect(ep, NULL, NULL));
    INV(ipc_channel_send(NULL, data, 4, 0));
    INV(ipc_channel_send(c, NULL, 4, 0));
    INV(ipc_channel_send(c, data, 4, -2));
    INV(ipc_channel_recv(NULL, 0, &mout));
    INV(ipc_channel_recv(c, 0, NULL));
    INV(ipc_channel_recv(c, -2, &mout));
    INV(ipc_channel_try_recv(NULL, &mout));
    INV(ipc_channel_try_recv(c, NULL));
    INV(ipc_channel_recv_into(NULL, (uint8_t *)buf, sizeof buf, 0, &n));
    INV(ipc_channel_recv_into(c, NULL, 10, 0, &n));
    INV(ipc_channel_recv_into(c, (uint8_t *)buf, sizeof buf, 0, NULL));
    INV(ipc_channel_recv_into(c, (uint8_t *)buf, sizeof buf, -3, &n));
    INV(ipc_channel_reserve(NULL, 4, 0, &wout));
    INV(ipc_channel_reserve(c, 4, 0, NULL));
    INV(ipc_channel_reserve(c, 4, -2, &wout));
    INV(ipc_channel_commit(NULL));
    INV(ipc_channel_abort(NULL));
    INV(ipc_channel_recv_in_place(NULL, 0, &rout, &n));
    INV(ipc_channel_recv_in_place(c, 0, NULL, &n));
    INV(ipc_channel_recv_in_place(c, 0, &rout, NULL));
    INV(ipc_channel_recv_in_place(c, -2, &rout, &n));
    INV(ipc_channel_release(NULL));
    INV(ipc_channel_peer(NULL, &pc));
    INV(ipc_channel_peer(c, NULL));
    INV(ipc_channel_max_message_size(NULL, &n));
    INV(ipc_channel_max_message_size(c, NULL));
    INV(ipc_channel_fd(NULL, &fd));
    INV(ipc_channel_fd(c, NULL));
    INV(ipc_channel_close(NULL));
    ipc_channel_free(NULL);
    CHECK(cout == (ipc_channel *)buf && mout == (ipc_message *)buf && fd == -7);
    CHECK(wout == (uint8_t *)buf && rout == (const uint8_t *)buf && n == 777);
    CHECK(pc.pid == 7 && pc.uid == 7 && pc.gid == 7);

    /* messages */
    CHECK(ipc_message_data(NULL) == NULL);
    CHECK_EQ_U(ipc_message_len(NULL), 0);
    ipc_message_free(NULL);
#undef INV

    /* The bad calls consumed and broke nothing: the channel still works both ways. */
    CHECK_OK(ipc_channel_send(c, NULL, 0, 1000)); /* NULL data with length 0 is fine */
    CHECK_RECV(s, "");
    SEND_STR(s, "still fine");
    CHECK_RECV(c, "still fine");
    h_pair_free(l, s, c);
}

/* ---- endpoints --------------------------------------------------------------------------------- */

static void test_bad_endpoints(void)
{
    char longpath[300];
    snprintf(longpath, sizeof longpath, "unix:///%0200d.sock", 0);
    char longname[80];
    memset(longname, 'a', 70);
    longname[70] = 0;
    const char *const bad[] = {"", "http://x", "tcp://host", "tcp://:80", "tcp://h:99999",
                               "tcp://h:x", "unix://rel.sock", "unix:///", "shm://", "shm://a/b",
                               "shm://-x", "bad name!", ".hidden", "unix:@", longpath, longname,
                               "a b"};
    for (size_t i = 0; i < H_COUNT(bad); i++) {
        ipc_listener *l = NULL;
        ipc_channel *c = NULL;
        if (!CHECK_ST(ipc_listener_bind(bad[i], NULL, &l), IPC_ERR_INVALID_ENDPOINT))
            fprintf(stderr, "    (endpoint \"%s\")\n", bad[i]);
        else
            CHECK_ERRMSG();
        CHECK(l == NULL);
        ipc_listener_free(l);
        if (!CHECK_ST(ipc_channel_connect(bad[i], NULL, &c), IPC_ERR_INVALID_ENDPOINT))
            fprintf(stderr, "    (endpoint \"%s\")\n", bad[i]);
        CHECK(c == NULL);
        ipc_channel_free(c);
    }
    /* Invalid UTF-8 is a bad argument (not a bad endpoint). */
    char bad_utf8[512];
    snprintf(bad_utf8, sizeof bad_utf8, "unix://%s/\xff\xfe.sock", h_dir);
    const char *const not_utf8[] = {bad_utf8, "shm://\xc3\x28", "\x80name", "tcp://127.0.0.1:\xe2\x82"};
    for (size_t i = 0; i < H_COUNT(not_utf8); i++) {
        ipc_listener *l = NULL;
        ipc_channel *c = NULL;
        CHECK_ST(ipc_listener_bind(not_utf8[i], NULL, &l), IPC_ERR_INVALID_ARGUMENT);
        CHECK_ERRMSG();
        CHECK(l == NULL);
        CHECK_ST(ipc_channel_connect(not_utf8[i], NULL, &c), IPC_ERR_INVALID_ARGUMENT);
        CHECK(c == NULL);
    }
    /* pipe:// parses but is not available in this build. */
    ipc_listener *l = NULL;
    ipc_channel *c = NULL;
    CHECK_ST(ipc_listener_bind("pipe://later", NULL, &l), IPC_ERR_UNSUPPORTED);
    CHECK_ERRMSG();
    CHECK_ST(ipc_channel_connect("pipe://later", NULL, &c), IPC_ERR_UNSUPPORTED);
    CHECK(l == NULL && c == NULL);
}

static void test_bind_twice(void)
{
    const enum h_transport ts[] = {H_UNIX, H_TCP, H_SHM, H_NAME, H_ABSTRACT};
    for (size_t i = 0; i < H_COUNT(ts); i++) {
        char ep[512];
        ipc_listener *l = h_listen(ts[i], NULL, ep, sizeof ep), *l2 = NULL;
        if (!CHECK_ST(ipc_listener_bind(ep, NULL, &l2), IPC_ERR_ADDRESS_IN_USE))
            fprintf(stderr, "    (%s)\n", ep);
        else
            CHECK_ERRMSG();
        CHECK(l2 == NULL);
        ipc_listener_free(l2);
        h_check_connect_accept(l, ep, NULL); /* the first listener is unharmed */
        ipc_listener_free(l);
        /* and after free the address is free again (TCP: the port may be in TIME_WAIT) */
        if (ts[i] != H_TCP) {
            l = NULL;
            CHECK_OK(ipc_listener_bind(ep, NULL, &l));
            ipc_listener_free(l);
        }
    }
    /* a file that is not a socket is in the way */
    char path[512], ep[600];
    h_path(path, sizeof path, "regular-file");
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fclose(f);
    snprintf(ep, sizeof ep, "unix://%s", path);
    ipc_listener *l = NULL;
    CHECK_ST(ipc_listener_bind(ep, NULL, &l), IPC_ERR_ADDRESS_IN_USE);
    CHECK(l == NULL);
    CHECK(access(path, F_OK) == 0); /* and it is left alone */
}

static void test_connect_to_nothing(void)
{
    char ep[512];
    ipc_channel *c = NULL;
    snprintf(ep, sizeof ep, "unix://%s/nobody.sock", h_dir);
    CHECK_ST(ipc_channel_connect(ep, NULL, &c), IPC_ERR_NOT_FOUND);
    CHECK_ERRMSG();
    CHECK_ST(ipc_channel_connect("nobody-here", NULL, &c), IPC_ERR_NOT_FOUND);
    CHECK_ST(ipc_channel_connect("shm://nobody-here", NULL, &c), IPC_ERR_NOT_FOUND);
    CHECK_ST(ipc_channel_connect("unix:@libipc-ctest-nobody-here", NULL, &c), IPC_ERR_NOT_FOUND);
    /* a TCP port nobody listens on: bind one, free it, connect to it */
    ipc_listener *l = h_listen(H_TCP, NULL, ep, sizeof ep);
    ipc_listener_free(l);
    CHECK_ST(ipc_channel_connect(ep, NULL, &c), IPC_ERR_NOT_FOUND);
    CHECK(c == NULL);
    /* a stale socket file (its listener is gone without removing it) */
    char path[300];
    h_path(path, sizeof path, "stale.sock");
    close(h_unix_socket_at(path));
    snprintf(ep, sizeof ep, "unix://%s", path);
    CHECK_ST(ipc_channel_connect(ep, NULL, &c), IPC_ERR_NOT_FOUND);
    CHECK(c == NULL);
    /* and binding there reclaims the stale file */
    CHECK_OK(ipc_listener_bind(ep, NULL, &l));
    ipc_listener_free(l);
}

/* ---- listener ---------------------------------------------------------------------------------- */

static void test_listener_endpoint(void)
{
    const enum h_transport ts[] = {H_UNIX, H_TCP, H_SHM, H_NAME, H_ABSTRACT};
    for (size_t i = 0; i < H_COUNT(ts); i++) {
        char want[512], got[512];
        size_t len = 12345;
        ipc_listener *l = NULL;
        h_endpoint(ts[i], want, sizeof want);
        REQUIRE_OK(ipc_listener_bind(want, NULL, &l));
        REQUIRE_OK(ipc_listener_endpoint(l, got, sizeof got, &len));
        CHECK_EQ_U(len, strlen(got));
        if (ts[i] == H_TCP) {
            CHECK(strncmp(got, "tcp://127.0.0.1:", 16) == 0);
            CHECK(atoi(got + 16) > 0);
        } else if (ts[i] != H_NAME) {
            CHECK_STR(got, want);
        }
        /* too small: the bytes needed including the NUL, nothing else */
        size_t need = 0;
        char small[4] = {'x', 'x', 'x', 'x'};
        CHECK_ST(ipc_listener_endpoint(l, small, sizeof small, &need), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_ERRMSG();
        CHECK_EQ_U(need, len + 1);
        need = 0;
        CHECK_ST(ipc_listener_endpoint(l, got, len, &need), IPC_ERR_BUFFER_TOO_SMALL); /* no room for NUL */
        CHECK_EQ_U(need, len + 1);
        need = 0;
        CHECK_ST(ipc_listener_endpoint(l, NULL, 0, &need), IPC_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ_U(need, len + 1);
        char exact[512];
        memset(exact, 'z', sizeof exact);
        size_t len2 = 0;
        CHECK_OK(ipc_listener_endpoint(l, exact, len + 1, &len2));
        CHECK_EQ_U(len2, len);
        CHECK(exact[len] == 0);
        CHECK_STR(exact, got);
        ipc_listener_free(l);
    }
}

struct accept_arg {
    ipc_listener *l;
    int status;
};

static void *blocked_accept(void *arg)
{
    struct accept_arg *a = arg;
    ipc_channel *c = NULL;
    a->status = ipc_listener_accept(a->l, IPC_WAIT_FOREVER, &c);
    ipc_channel_free(c);
    return NULL;
}

static void test_listener_accept_timeout_close(void)
{
    char ep[512];
    ipc_listener *l = h_listen(H_UNIX, NULL, ep, sizeof ep);
    ipc_channel *c = (ipc_channel *)ep;
    CHECK_ST(ipc_listener_accept(l, 0, &c), IPC_ERR_TIMEOUT);
    CHECK_ERRMSG();
    CHECK_ST(ipc_listener_accept(l, 30, &c), IPC_ERR_TIMEOUT);
    CHECK(c == (ipc_channel *)ep);

    /* close wakes a blocked accept with CLOSED */
    struct accept_arg a = {l, -1};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocked_accept, &a) == 0);
    h_sleep_ms(100); /* give it time to block (either order must give CLOSED) */
    CHECK_OK(ipc_listener_close(l));
    pthread_join(t, NULL);
    CHECK_ST(a.status, IPC_ERR_CLOSED);
    /* later accepts are CLOSED too, close is idempotent, and clients are refused */
    CHECK_ST(ipc_listener_accept(l, 0, &c), IPC_ERR_CLOSED);
    CHECK_ST(ipc_listener_accept(l, IPC_WAIT_FOREVER, &c), IPC_ERR_CLOSED);
    CHECK_OK(ipc_listener_close(l));
    c = NULL;
    int st = ipc_channel_connect(ep, NULL, &c);
    CHECK(st != IPC_OK);
    CHECK(c == NULL);
    ipc_channel_free(c);
    /* the endpoint and descriptor functions still answer */
    char got[512];
    size_t len;
    CHECK_OK(ipc_listener_endpoint(l, got, sizeof got, &len));
    ipc_listener_free(l);
}

static void test_listener_fd(void)
{
    const enum h_transport ts[] = {H_UNIX, H_TCP, H_SHM};
    for (size_t i = 0; i < H_COUNT(ts); i++) {
        char ep[512];
        ipc_listener *l = h_listen(ts[i], NULL, ep, sizeof ep);
        int fd = -1, fd2 = -2;
        REQUIRE_OK(ipc_listener_fd(l, &fd));
        CHECK(fd >= 0);
        CHECK_OK(ipc_listener_fd(l, &fd2));
        CHECK_EQ_I(fd, fd2);
        CHECK(!h_readable(fd, 0)); /* nobody waiting */
        ipc_channel *c = NULL, *s = NULL;
        REQUIRE_OK(ipc_channel_connect(ep, NULL, &c));
        CHECK(h_readable(fd, 10000)); /* a client waits */
        CHECK_OK(ipc_listener_accept(l, 0, &s));
        CHECK(!h_readable(fd, 0)); /* taken */
        ipc_channel_free(s);
        ipc_channel_free(c);
        ipc_listener_free(l);
    }
}


/* ---- a server that is not libipc (or not this version) ------------------------------------- */

static int raw_listen(char *ep, size_t cap)
{
    char path[300];
    h_path(path, sizeof path, "raw.sock");
    int fd = h_unix_socket_at(path);
    REQUIRE(listen(fd, 8) == 0);
    snprintf(ep, cap, "unix://%s", path);
    return fd;
}

struct raw_server {
    int lfd;
    unsigned char reply[24];
};

static void *raw_server_run(void *arg)
{
    struct raw_server *r = arg;
    int fd = accept(r->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    unsigned char hello[24];
    size_t got = 0;
    while (got < sizeof hello) {
        ssize_t n = read(fd, hello + got, sizeof hello - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    ssize_t w = write(fd, r->reply, sizeof r->reply);
    (void)w;
    char sink[256];
    while (h_readable(fd, 10000) && read(fd, sink, sizeof sink) > 0)
        ; /* until the client gives up */
    close(fd);
    return NULL;
}

/* A client connecting to a raw server that answers its hello with `reply` fails with `want`
 * (and a message), with no channel. */
static void connect_to_raw_server(const unsigned char reply[24], ipc_status want)
{
    char ep[512];
    ipc_channel *c = NULL;
    struct raw_server r;
    memset(&r, 0, sizeof r);
    memcpy(r.reply, reply, sizeof r.reply);
    r.lfd = raw_listen(ep, sizeof ep);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, raw_server_run, &r) == 0);
    CHECK_ST(ipc_channel_connect(ep, NULL, &c), want);
    CHECK_ERRMSG();
    CHECK(c == NULL);
    pthread_join(th, NULL);
    close(r.lfd);
}

static void test_not_a_libipc_server(void)
{
    char ep[512];
    ipc_channel *c = NULL;
    ipc_options *o = h_options();

    /* silent: the kernel accepts the connection, nobody ever answers */
    int lfd = raw_listen(ep, sizeof ep);
    CHECK_OK(ipc_options_set_handshake_timeout(o, 200));
    CHECK_ST(ipc_channel_connect(ep, o, &c), IPC_ERR_TIMEOUT);
    CHECK_ERRMSG();
    CHECK(c == NULL);
    ipc_options_free(o);
    o = h_options();
    CHECK_OK(ipc_options_set_connect_timeout(o, 200)); /* bounds the whole call */
    CHECK_ST(ipc_channel_connect(ep, o, &c), IPC_ERR_TIMEOUT);
    CHECK(c == NULL);
    close(lfd);

    /* not libipc at all: a protocol violation */
    unsigned char reply[24] = {0};
    memcpy(reply, "HTTP/1.1 400 Bad Request\r\n", 24);
    connect_to_raw_server(reply, IPC_ERR_PROTOCOL_VIOLATION);

    /* libipc, but another major version: a protocol mismatch */
    memset(reply, 0, sizeof reply);
    memcpy(reply, "LIPC", 4);
    reply[4] = 2;  /* major */
    reply[6] = 24; /* length, little-endian u16 */
    reply[16] = 0xff; /* max_message_size */
    connect_to_raw_server(reply, IPC_ERR_PROTOCOL_MISMATCH);
    ipc_options_free(o);
}

static const struct h_test tests[] = {
    H_TEST(test_version),
    H_TEST(test_status_names),
    H_TEST(test_last_error_per_thread),
    H_TEST(test_options_arguments),
    H_TEST(test_options_invalid_values),
    H_TEST(test_options_socket_mode),
    H_TEST(test_options_handshake_timeout),
    H_TEST(test_options_allowed_uids),
    H_TEST(test_options_allowed_gids),
    H_TEST(test_options_limits),
    H_TEST(test_null_arguments),
    H_TEST(test_bad_endpoints),
    H_TEST(test_bind_twice),
    H_TEST(test_connect_to_nothing),
    H_TEST(test_listener_endpoint),
    H_TEST(test_listener_accept_timeout_close),
    H_TEST(test_listener_fd),
    H_TEST(test_not_a_libipc_server),
};

int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
