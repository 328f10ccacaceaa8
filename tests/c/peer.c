/* ipc_test_peer: the other process in the cross-process C tests (started by h_spawn in
 * harness.h), and the C peer of the interop matrix.
 *
 * The interop contract (tests/interop/README.md is the spec: commands, output, cases), spoken
 * by every language's peer alike; the matrix (tests/interop/run.py), test_procs.c and other
 * languages' tests (Node) start it. Its errors go to stderr as "ERROR <Kind> <message>":
 *   server --endpoint E [--max-message N]
 *   client --endpoint E --case NAME[,NAME...] [--max-message N]
 *   rpc-server --endpoint E [--max-message N]
 *
 * Modes particular to the C suite (test_procs.c, test_spawn.c, scripts/c-tests.sh). They print
 * status lines on stdout (line-buffered), errors on stderr, and exit 0 when the role ended as
 * expected:
 *   connect-zc-echo EP       connect, print "connected", echo every message in place until
 *                            IPC_ERR_CLOSED: recv_in_place, reserve the same length, write
 *                            every byte + 1, commit, release
 *   connect-send-close EP N  connect, send "m0".."m<N-1>", close, exit
 * As a child started with ipc_spawn (EP is ignored; write "-"):
 *   child-echo -             ipc_channel_from_env, print "connected pid=<peer pid>", echo until
 *                            closed
 *   from-env VALUE           set LIBIPC_CHANNEL_FD to VALUE ("unset": remove it), call
 *                            ipc_channel_from_env and print the status name; exit 0
 *   exit CODE                exit at once with CODE, never opening the channel
 */
#define _GNU_SOURCE
#include <ipc.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* ---- the interop contract (tests/interop/README.md) ---------------------------------------- */

/* The core's kind name of a status: IPC_ERR_MESSAGE_TOO_LARGE -> "MessageTooLarge". */
static const char *kind_name(ipc_status st, char *buf, size_t cap)
{
    const char *s = ipc_status_name(st);
    size_t n = 0;
    bool up = true;
    if (strncmp(s, "IPC_ERR_", 8) == 0)
        s += 8;
    for (; *s && n + 1 < cap; s++) {
        if (*s == '_') {
            up = true;
            continue;
        }
        buf[n++] = (char)(up ? *s : tolower((unsigned char)*s));
        up = false;
    }
    buf[n] = '\0';
    return buf;
}

/* The last error's message (status st) on one line, into buf, without the "Kind: " it starts
 * with. */
static const char *last_error_line(ipc_status st, char *buf, size_t cap)
{
    char kind[64];
    const char *msg = ipc_last_error();
    size_t k = strlen(kind_name(st, kind, sizeof kind));
    if (strncmp(msg, kind, k) == 0 && strncmp(msg + k, ": ", 2) == 0)
        msg += k + 2;
    snprintf(buf, cap, "%s", msg);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return buf;
}

static int interop_error(ipc_status st)
{
    char kind[64], msg[512];
    fprintf(stderr, "ERROR %s %s\n", kind_name(st, kind, sizeof kind),
            last_error_line(st, msg, sizeof msg));
    return 1;
}

/* Parsed "--endpoint E [--case LIST] [--max-message N]". */
struct interop_args {
    const char *endpoint;
    const char *cases;
    ipc_options *opts;
};

/* 0, or 2 after printing why (a usage error). */
static int interop_parse(int argc, char **argv, struct interop_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "ERROR InvalidArgument %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--endpoint") == 0) {
            a->endpoint = v;
        } else if (strcmp(argv[i], "--case") == 0) {
            a->cases = v;
        } else if (strcmp(argv[i], "--max-message") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (!isdigit((unsigned char)v[0]) || errno != 0 || *end != '\0') {
                fprintf(stderr, "ERROR InvalidArgument --max-message %s: not a number\n", v);
                return 2;
            }
            ipc_status st;
            if (a->opts == NULL && (st = ipc_options_new(&a->opts)) != IPC_OK)
                return interop_error(st);
            if ((st = ipc_options_set_max_message_size(a->opts, (size_t)n)) != IPC_OK)
                return interop_error(st);
        } else {
            fprintf(stderr, "ERROR InvalidArgument unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (a->endpoint == NULL) {
        fprintf(stderr, "ERROR InvalidArgument --endpoint E is required\n");
        return 2;
    }
    return 0;
}

static const uint8_t CMD_CLOSE[] = "interop:close";
static const uint8_t CMD_KILL[] = "interop:kill";

static bool is_cmd(const ipc_message *m, const uint8_t *cmd, size_t len)
{
    return ipc_message_len(m) == len && memcmp(ipc_message_data(m), cmd, len) == 0;
}

/* One connection: echo everything but the two commands; any error ends it. */
static void *serve_connection(void *arg)
{
    ipc_channel *ch = arg;
    ipc_status st;
    for (;;) {
        ipc_message *m = NULL;
        if ((st = ipc_channel_recv(ch, IPC_WAIT_FOREVER, &m)) != IPC_OK)
            break;
        if (is_cmd(m, CMD_CLOSE, sizeof CMD_CLOSE - 1)) {
            ipc_message_free(m);
            ipc_channel_close(ch);
            ipc_channel_free(ch);
            return NULL;
        }
        if (is_cmd(m, CMD_KILL, sizeof CMD_KILL - 1)) {
            /* At once, closing nothing, as a crash would. */
            kill(getpid(), SIGKILL);
            abort();
        }
        st = ipc_channel_send(ch, ipc_message_data(m), ipc_message_len(m), IPC_WAIT_FOREVER);
        ipc_message_free(m);
        if (st != IPC_OK)
            break;
    }
    char kind[64];
    fprintf(stderr, "END %s\n", kind_name(st, kind, sizeof kind));
    ipc_channel_free(ch);
    return NULL;
}

static void *accept_loop(void *arg)
{
    ipc_listener *l = arg;
    for (;;) {
        ipc_channel *ch = NULL;
        ipc_status st = ipc_listener_accept(l, IPC_WAIT_FOREVER, &ch);
        if (st == IPC_ERR_CLOSED)
            return NULL;
        if (st != IPC_OK) {
            char kind[64], msg[512];
            fprintf(stderr, "ACCEPT %s %s\n", kind_name(st, kind, sizeof kind),
                    last_error_line(st, msg, sizeof msg));
            continue;
        }
        pthread_t t;
        int err = pthread_create(&t, NULL, serve_connection, ch);
        if (err != 0) {
            fprintf(stderr, "ACCEPT Io pthread_create: %s\n", strerror(err));
            ipc_channel_free(ch);
            continue;
        }
        pthread_detach(t);
    }
}

/* pattern(n): byte i is i % 251. Caller frees. */
static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "ipc_test_peer: out of memory\n");
        abort();
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i % 251);
    return p;
}

static int interop_server(int argc, char **argv)
{
    struct interop_args a;
    int rc = interop_parse(argc, argv, &a);
    if (rc != 0) {
        ipc_options_free(a.opts);
        return rc;
    }
    ipc_listener *l = NULL;
    ipc_status st = ipc_listener_bind(a.endpoint, a.opts, &l);
    ipc_options_free(a.opts);
    if (st != IPC_OK)
        return interop_error(st);
    char where[1024];
    size_t len = 0;
    if ((st = ipc_listener_endpoint(l, where, sizeof where, &len)) != IPC_OK) {
        ipc_listener_free(l);
        return interop_error(st);
    }
    printf("READY %s\n", where);
    fflush(stdout);
    pthread_t acceptor;
    int err = pthread_create(&acceptor, NULL, accept_loop, l);
    if (err != 0) {
        fprintf(stderr, "ERROR Io pthread_create: %s\n", strerror(err));
        ipc_listener_free(l);
        return 1;
    }
    /* Until end-of-file on stdin (an error ends the wait the same way). */
    char buf[512];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    ipc_listener_close(l);
    pthread_join(acceptor, NULL);
    ipc_listener_free(l);
    /* Connections still open end with the process; _exit, not exit: their threads may be in
     * libipc calls, so no exit-time clean-up runs under them. */
    fflush(stdout);
    _exit(0);
}

/* The contract's request/reply server, one connection: "fail:<status>:<text>" is answered with
 * that error, anything else with itself. */
static void *serve_rpc_connection(void *arg)
{
    ipc_rpc_conn *c = arg;
    for (;;) {
        uint64_t id = 0;
        ipc_message *body = NULL;
        ipc_status st = ipc_rpc_recv(c, IPC_WAIT_FOREVER, &id, &body);
        if (st != IPC_OK) {
            char kind[64];
            fprintf(stderr, "END %s\n", kind_name(st, kind, sizeof kind));
            break;
        }
        if (body == NULL)
            continue; /* a CANCEL: nothing to stop here */
        const uint8_t *d = ipc_message_data(body);
        size_t n = ipc_message_len(body);
        if (n >= 5 && memcmp(d, "fail:", 5) == 0) {
            char text[4200];
            size_t k = n - 5 < sizeof text - 1 ? n - 5 : sizeof text - 1;
            memcpy(text, d + 5, k);
            text[k] = 0;
            char *colon = strchr(text, ':');
            const char *msg = "";
            if (colon) {
                *colon = 0;
                msg = colon + 1;
            }
            st = ipc_rpc_reply_error(c, id, (uint32_t)strtoul(text, NULL, 10), msg,
                                     IPC_WAIT_FOREVER);
        } else {
            st = ipc_rpc_reply(c, id, d, n, IPC_WAIT_FOREVER);
        }
        ipc_message_free(body);
        if (st != IPC_OK)
            break;
    }
    ipc_rpc_conn_free(c);
    return NULL;
}

static void *rpc_accept_loop(void *arg)
{
    ipc_rpc_server *s = arg;
    for (;;) {
        ipc_rpc_conn *c = NULL;
        ipc_status st = ipc_rpc_server_accept(s, IPC_WAIT_FOREVER, &c);
        if (st == IPC_ERR_CLOSED)
            return NULL;
        if (st != IPC_OK) {
            char kind[64], msg[512];
            fprintf(stderr, "ACCEPT %s %s\n", kind_name(st, kind, sizeof kind),
                    last_error_line(st, msg, sizeof msg));
            continue;
        }
        pthread_t t;
        int err = pthread_create(&t, NULL, serve_rpc_connection, c);
        if (err != 0) {
            fprintf(stderr, "ACCEPT Io pthread_create: %s\n", strerror(err));
            ipc_rpc_conn_free(c);
            continue;
        }
        pthread_detach(t);
    }
}

/* The contract's publisher: message i = 0, 1, 2, ... about every millisecond until stdin ends,
 * topic "even" or "odd", payload u64le(i) || pattern(i % 1000); full subscribers block it up
 * to 30 s. */
static volatile int publisher_stop;

static void *publish_loop(void *arg)
{
    ipc_publisher *p = arg;
    uint8_t *pat = pattern(1000);
    uint8_t payload[8 + 1000];
    for (uint64_t i = 0; !publisher_stop; i++) {
        size_t subscribers = 0;
        if (ipc_publisher_stats(p, &subscribers, NULL, NULL, NULL) == IPC_OK && subscribers == 0) {
            /* Nothing while nobody listens: the matrix runs many idle publishers. */
            struct timespec idle = {0, 10000000};
            nanosleep(&idle, NULL);
            i--;
            continue;
        }
        for (int b = 0; b < 8; b++)
            payload[b] = (uint8_t)(i >> (8 * b));
        size_t n = (size_t)(i % 1000);
        memcpy(payload + 8, pat, n);
        const char *topic = i % 2 ? "odd" : "even";
        if (ipc_publish(p, (const uint8_t *)topic, strlen(topic), payload, 8 + n, NULL) != IPC_OK)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    free(pat);
    return NULL;
}

static int interop_publisher(int argc, char **argv)
{
    struct interop_args a;
    int rc = interop_parse(argc, argv, &a);
    if (rc != 0) {
        ipc_options_free(a.opts);
        return rc;
    }
    ipc_publisher *p = NULL;
    ipc_status st = ipc_publisher_bind(a.endpoint, a.opts, IPC_OVERFLOW_BLOCK, 30000, 0, &p);
    ipc_options_free(a.opts);
    if (st != IPC_OK)
        return interop_error(st);
    char where[1024];
    size_t len = 0;
    if ((st = ipc_publisher_endpoint(p, where, sizeof where, &len)) != IPC_OK) {
        ipc_publisher_free(p);
        return interop_error(st);
    }
    printf("READY %s\n", where);
    fflush(stdout);
    pthread_t publishing;
    int err = pthread_create(&publishing, NULL, publish_loop, p);
    if (err != 0) {
        fprintf(stderr, "ERROR Io pthread_create: %s\n", strerror(err));
        ipc_publisher_free(p);
        return 1;
    }
    char buf[512];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    publisher_stop = 1;
    pthread_join(publishing, NULL);
    ipc_publisher_close(p, 10000);
    ipc_publisher_free(p);
    fflush(stdout);
    _exit(0);
}

static int interop_rpc_server(int argc, char **argv)
{
    struct interop_args a;
    int rc = interop_parse(argc, argv, &a);
    if (rc != 0) {
        ipc_options_free(a.opts);
        return rc;
    }
    ipc_rpc_server *s = NULL;
    ipc_status st = ipc_rpc_server_bind(a.endpoint, a.opts, &s);
    ipc_options_free(a.opts);
    if (st != IPC_OK)
        return interop_error(st);
    char where[1024];
    size_t len = 0;
    if ((st = ipc_rpc_server_endpoint(s, where, sizeof where, &len)) != IPC_OK) {
        ipc_rpc_server_free(s);
        return interop_error(st);
    }
    printf("READY %s\n", where);
    fflush(stdout);
    pthread_t acceptor;
    int err = pthread_create(&acceptor, NULL, rpc_accept_loop, s);
    if (err != 0) {
        fprintf(stderr, "ERROR Io pthread_create: %s\n", strerror(err));
        ipc_rpc_server_free(s);
        return 1;
    }
    char buf[512];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    ipc_rpc_server_close(s);
    pthread_join(acceptor, NULL);
    ipc_rpc_server_free(s);
    fflush(stdout);
    _exit(0);
}


/* A case's failure reason, one line; empty while it passes. */
struct verdict {
    char why[768];
};

static bool failed(const struct verdict *v)
{
    return v->why[0] != '\0';
}

/* Record the first reason a case fails; later ones are consequences. */
static void fail_with(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_with(struct verdict *v, const char *fmt, ...)
{
    if (failed(v))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
}

/* "Kind (message)" of the status just returned, into buf. */
static const char *show(ipc_status st, char *buf, size_t cap)
{
    char kind[64], msg[512];
    snprintf(buf, cap, "%s (%s)", kind_name(st, kind, sizeof kind),
             last_error_line(st, msg, sizeof msg));
    return buf;
}

static bool do_send(ipc_channel *ch, const uint8_t *data, size_t len, const char *what,
                    struct verdict *v)
{
    ipc_status st = ipc_channel_send(ch, data, len, IPC_WAIT_FOREVER);
    if (st != IPC_OK) {
        char e[600];
        fail_with(v, "sending %s (%zu bytes) failed: %s", what, len, show(st, e, sizeof e));
        return false;
    }
    return true;
}

static ipc_message *do_recv(ipc_channel *ch, const char *what, struct verdict *v)
{
    ipc_message *m = NULL;
    ipc_status st = ipc_channel_recv(ch, IPC_WAIT_FOREVER, &m);
    if (st != IPC_OK) {
        char e[600];
        fail_with(v, "receiving %s failed: %s", what, show(st, e, sizeof e));
        return NULL;
    }
    return m;
}

static bool same(const uint8_t *sent, size_t len, const ipc_message *m, const char *what,
                 struct verdict *v)
{
    const uint8_t *got = ipc_message_data(m);
    size_t got_len = ipc_message_len(m);
    if (got_len == len && memcmp(got, sent, len) == 0)
        return true;
    size_t i = 0;
    while (i < len && i < got_len && got[i] == sent[i])
        i++;
    if (i < len && i < got_len)
        fail_with(v, "%s differs from the %zu bytes sent: %zu bytes, first difference at byte %zu "
                  "(0x%02x, expected 0x%02x)", what, len, got_len, i, got[i], sent[i]);
    else
        fail_with(v, "%s has %zu bytes, expected the %zu bytes sent", what, got_len, len);
    return false;
}

/* Send, receive, and check the reply is the same bytes. */
static void echo_check(ipc_channel *ch, const uint8_t *msg, size_t len, struct verdict *v)
{
    if (!do_send(ch, msg, len, "the message", v))
        return;
    ipc_message *m = do_recv(ch, "the reply", v);
    if (m != NULL)
        same(msg, len, m, "the reply", v);
    ipc_message_free(m);
}

static void echo_pattern(ipc_channel *ch, size_t n, struct verdict *v)
{
    uint8_t *p = pattern(n);
    echo_check(ch, p, n, v);
    free(p);
}

/* st must be the status `expected`. */
static void expect_status(ipc_status st, ipc_status expected, const char *what, struct verdict *v)
{
    char k[64], e[600];
    if (st == expected)
        return;
    if (st == IPC_OK)
        fail_with(v, "%s: expected %s, it succeeded", what, kind_name(expected, k, sizeof k));
    else
        fail_with(v, "%s: expected %s, got %s", what, kind_name(expected, k, sizeof k),
                  show(st, e, sizeof e));
}

/* Unless the case has failed already, send the server the command `cmd` (`len` bytes, called
 * `name`); the next receive must end with `expected`. */
static void command_then_status(ipc_channel *ch, const uint8_t *cmd, size_t len, const char *name,
                                ipc_status expected, struct verdict *v)
{
    if (failed(v) || !do_send(ch, cmd, len, name, v))
        return;
    ipc_message *m = NULL;
    ipc_status st = ipc_channel_recv(ch, IPC_WAIT_FOREVER, &m);
    ipc_message_free(m);
    char what[64];
    snprintf(what, sizeof what, "receive after %s", name);
    expect_status(st, expected, what, v);
}

static size_t max_size(ipc_channel *ch, struct verdict *v)
{
    size_t m = 0;
    ipc_status st = ipc_channel_max_message_size(ch, &m);
    if (st != IPC_OK) {
        char e[600];
        fail_with(v, "ipc_channel_max_message_size failed: %s", show(st, e, sizeof e));
    }
    return m;
}

static void case_over_max(ipc_channel *ch, struct verdict *v)
{
    size_t m = max_size(ch, v);
    if (failed(v))
        return;
    uint8_t *p = pattern(m + 1);
    char what[96];
    snprintf(what, sizeof what, "sending %zu bytes (the maximum is %zu)", m + 1, m);
    expect_status(ipc_channel_send(ch, p, m + 1, IPC_WAIT_FOREVER), IPC_ERR_MESSAGE_TOO_LARGE,
                  what, v);
    free(p);
    if (!failed(v)) {
        const uint8_t one = 0x2a;
        echo_check(ch, &one, 1, v);
    }
}

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32), table-driven. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* xorshift64*: the C peer's random generator. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed)
            seed = 0;
        close(fd);
    }
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    return seed ? seed : 1;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum { RANDOM_COUNT = 10000, IN_FLIGHT = 8, BODY_MAX = 1024 };

struct sent_msg {
    uint8_t bytes[8 + BODY_MAX];
    size_t len;
};

/* Message i: u32le(i) || u32le(crc32(body)) || body, body 0..1024 random bytes. */
static void make_random(uint32_t i, uint64_t *rng, struct sent_msg *out)
{
    size_t body = (size_t)(rng_next(rng) % (BODY_MAX + 1));
    for (size_t k = 0; k < body; k++)
        out->bytes[8 + k] = (uint8_t)(rng_next(rng) >> 56);
    put_u32le(out->bytes, i);
    put_u32le(out->bytes + 4, crc32_ieee(out->bytes + 8, body));
    out->len = 8 + body;
}

static void case_random_10k(ipc_channel *ch, struct verdict *v)
{
    uint64_t seed = random_seed(), rng = seed;
    struct sent_msg *ring = calloc(IN_FLIGHT, sizeof *ring);
    if (ring == NULL) {
        fail_with(v, "out of memory");
        return;
    }
    uint32_t next = 0;
    for (; next < IN_FLIGHT && next < RANDOM_COUNT; next++) {
        struct sent_msg *s = &ring[next % IN_FLIGHT];
        make_random(next, &rng, s);
        if (!do_send(ch, s->bytes, s->len, "a message", v))
            goto out;
    }
    for (uint32_t i = 0; i < RANDOM_COUNT; i++) {
        struct sent_msg *s = &ring[i % IN_FLIGHT];
        ipc_message *m = do_recv(ch, "the reply", v);
        if (m == NULL)
            goto out;
        if (same(s->bytes, s->len, m, "the reply", v)) {
            const uint8_t *d = ipc_message_data(m);
            if (get_u32le(d) != i || get_u32le(d + 4) != crc32_ieee(d + 8, s->len - 8))
                fail_with(v, "the reply's sequence number or CRC-32 is wrong");
        }
        ipc_message_free(m);
        if (failed(v)) {
            char why[sizeof v->why];
            snprintf(why, sizeof why, "%s", v->why);
            snprintf(v->why, sizeof v->why, "message %u (random seed %llu): %.700s", i,
                     (unsigned long long)seed, why);
            goto out;
        }
        if (next < RANDOM_COUNT) {
            make_random(next, &rng, s); /* the slot just freed: next % IN_FLIGHT == i % IN_FLIGHT */
            if (!do_send(ch, s->bytes, s->len, "a message", v))
                goto out;
            next++;
        }
    }
out:
    free(ring);
}

static void case_server_close(ipc_channel *ch, struct verdict *v)
{
    uint8_t *p = pattern(100);
    for (int i = 0; i < 3 && !failed(v); i++)
        do_send(ch, p, 100, "pattern(100)", v);
    for (int i = 1; i <= 3 && !failed(v); i++) {
        ipc_message *m = do_recv(ch, "a reply", v);
        if (m != NULL) {
            char what[16];
            snprintf(what, sizeof what, "reply %d", i);
            same(p, 100, m, what, v);
        }
        ipc_message_free(m);
    }
    free(p);
    command_then_status(ch, CMD_CLOSE, sizeof CMD_CLOSE - 1, "interop:close", IPC_ERR_CLOSED, v);
}

static void case_server_killed(ipc_channel *ch, struct verdict *v)
{
    echo_pattern(ch, 100, v);
    command_then_status(ch, CMD_KILL, sizeof CMD_KILL - 1, "interop:kill",
                        IPC_ERR_PEER_DISCONNECTED, v);
}

static const uint8_t NON_UTF8[16] = {0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28, 0xa0, 0xa1,
                                     0xe2, 0x82, 0x28, 0xf0, 0x90, 0x28, 0xbc, 0x80};

static void case_empty(ipc_channel *ch, struct verdict *v)
{
    echo_check(ch, NULL, 0, v);
}

static void case_one_byte(ipc_channel *ch, struct verdict *v)
{
    const uint8_t one = 0x2a;
    echo_check(ch, &one, 1, v);
}

static void case_all_bytes(ipc_channel *ch, struct verdict *v)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    echo_check(ch, all, sizeof all, v);
}

static void case_non_utf8(ipc_channel *ch, struct verdict *v)
{
    echo_check(ch, NON_UTF8, sizeof NON_UTF8, v);
}

static void case_64k(ipc_channel *ch, struct verdict *v)
{
    echo_pattern(ch, 65536, v);
}

static void case_1m(ipc_channel *ch, struct verdict *v)
{
    echo_pattern(ch, 1 << 20, v);
}

static void case_max_size(ipc_channel *ch, struct verdict *v)
{
    size_t m = max_size(ch, v);
    if (!failed(v))
        echo_pattern(ch, m, v);
}

static const struct {
    const char *name;
    void (*run)(ipc_channel *ch, struct verdict *v);
} CASES[] = {
    {"empty", case_empty},
    {"one-byte", case_one_byte},
    {"all-bytes", case_all_bytes},
    {"non-utf8", case_non_utf8},
    {"64k", case_64k},
    {"1m", case_1m},
    {"max-size", case_max_size},
    {"over-max", case_over_max},
    {"random-10k", case_random_10k},
    {"server-close", case_server_close},
    {"server-killed", case_server_killed},
};

/* Request/reply cases: each connects by itself (a request/reply client, or a plain channel). */
static bool rpc_call_is(ipc_rpc_client *c, const uint8_t *body, size_t len, const char *what,
                        struct verdict *v)
{
    ipc_message *m = NULL;
    uint32_t status = 0;
    ipc_status st = ipc_rpc_call(c, body, len, 30000, &m, &status);
    if (st != IPC_OK) {
        char e[600];
        fail_with(v, "%s: %s", what, show(st, e, sizeof e));
        ipc_message_free(m);
        return false;
    }
    bool ok = same(body, len, m, what, v);
    ipc_message_free(m);
    return ok;
}

static ipc_rpc_client *rpc_connect(const struct interop_args *a, struct verdict *v)
{
    ipc_rpc_client *c = NULL;
    ipc_status st = ipc_rpc_client_connect(a->endpoint, a->opts, &c);
    if (st != IPC_OK) {
        char e[600];
        fail_with(v, "connect failed: %s", show(st, e, sizeof e));
        return NULL;
    }
    return c;
}

static void rpc_echo(const struct interop_args *a, struct verdict *v)
{
    ipc_rpc_client *c = rpc_connect(a, v);
    if (!c)
        return;
    uint8_t *p = pattern(1000);
    if (rpc_call_is(c, p, 1000, "reply", v))
        rpc_call_is(c, NULL, 0, "empty reply", v);
    free(p);
    ipc_rpc_client_free(c);
}

static void rpc_error(const struct interop_args *a, struct verdict *v)
{
    ipc_rpc_client *c = rpc_connect(a, v);
    if (!c)
        return;
    static const char req[] = "fail:42:no such thing";
    ipc_message *m = NULL;
    uint32_t status = 0;
    ipc_status st = ipc_rpc_call(c, (const uint8_t *)req, sizeof req - 1, 30000, &m, &status);
    if (st != IPC_ERR_REMOTE) {
        char e[600];
        fail_with(v, "expected IPC_ERR_REMOTE, got %s", show(st, e, sizeof e));
    } else if (status != 42 || !m || ipc_message_len(m) != 13 ||
               memcmp(ipc_message_data(m), "no such thing", 13) != 0) {
        fail_with(v, "error reply with status %u and the wrong text", (unsigned)status);
    } else {
        rpc_call_is(c, (const uint8_t *)"x", 1, "reply after the error", v);
    }
    ipc_message_free(m);
    ipc_rpc_client_free(c);
}

static void rpc_many(const struct interop_args *a, struct verdict *v)
{
    ipc_rpc_client *c = rpc_connect(a, v);
    if (!c)
        return;
    uint64_t tickets[200];
    int started = 0;
    for (; started < 200; started++) {
        uint8_t b[4];
        put_u32le(b, (uint32_t)started);
        ipc_status st = ipc_rpc_start(c, b, 4, 30000, &tickets[started]);
        if (st != IPC_OK) {
            char e[600];
            fail_with(v, "start %d: %s", started, show(st, e, sizeof e));
            break;
        }
    }
    for (int i = started - 1; i >= 0 && !failed(v); i--) {
        uint8_t b[4];
        put_u32le(b, (uint32_t)i);
        ipc_message *m = NULL;
        uint32_t status = 0;
        ipc_status st = ipc_rpc_wait(c, tickets[i], 30000, &m, &status);
        if (st != IPC_OK) {
            char e[600];
            fail_with(v, "wait %d: %s", i, show(st, e, sizeof e));
        } else {
            same(b, 4, m, "reply", v);
        }
        ipc_message_free(m);
    }
    ipc_rpc_client_free(c);
}

static void rpc_plain_refused(const struct interop_args *a, struct verdict *v)
{
    ipc_channel *ch = NULL;
    ipc_status st = ipc_channel_connect(a->endpoint, a->opts, &ch);
    expect_status(st, IPC_ERR_PROTOCOL_MISMATCH, "a plain channel's connect", v);
    ipc_channel_free(ch);
}

/* The contract's publisher stream: message i has topic "even" or "odd" and the payload
 * u64le(i) || pattern(i % 1000). Receive `count` messages from a subscription to `prefix`
 * (NULL: every topic): numbered 0, 1, ... with nothing dropped, indices `step` apart. */
static void subscription(const struct interop_args *a, const char *prefix, uint64_t count,
                         uint64_t step, struct verdict *v)
{
    const char *prefixes[] = {prefix, NULL};
    ipc_subscriber *s = NULL;
    char e[600];
    ipc_status st = ipc_subscriber_connect(a->endpoint, a->opts, prefix ? prefixes : NULL, &s);
    if (st != IPC_OK) {
        fail_with(v, "subscribe failed: %s", show(st, e, sizeof e));
        return;
    }
    uint64_t first = 0;
    for (uint64_t k = 0; k < count && !failed(v); k++) {
        ipc_message *m = NULL, *topic = NULL;
        uint64_t seq = 0, dropped = 0;
        st = ipc_subscriber_recv(s, 60000, &m, &topic, &seq, &dropped);
        if (st != IPC_OK) {
            fail_with(v, "receive %llu failed: %s", (unsigned long long)k, show(st, e, sizeof e));
            break;
        }
        size_t len = ipc_message_len(m);
        const uint8_t *d = ipc_message_data(m);
        uint64_t i = 0;
        for (int b = 7; len >= 8 && b >= 0; b--)
            i = (i << 8) | d[b];
        if (k == 0)
            first = i;
        const char *want_topic = i % 2 ? "odd" : "even";
        size_t want_len = 8 + (size_t)(i % 1000);
        uint8_t *p = pattern(want_len - 8);
        if (seq != k || dropped != 0) {
            fail_with(v, "message %llu: sequence number %llu and %llu dropped",
                      (unsigned long long)k, (unsigned long long)seq, (unsigned long long)dropped);
        } else if (len < 8 || i != first + k * step) {
            fail_with(v, "message %llu: index %llu, expected %llu", (unsigned long long)k,
                      (unsigned long long)i, (unsigned long long)(first + k * step));
        } else if (ipc_message_len(topic) != strlen(want_topic) ||
                   memcmp(ipc_message_data(topic), want_topic, strlen(want_topic)) != 0 ||
                   len != want_len || memcmp(d + 8, p, want_len - 8) != 0) {
            fail_with(v, "message %llu (index %llu): wrong topic or payload",
                      (unsigned long long)k, (unsigned long long)i);
        }
        free(p);
        ipc_message_free(m);
        ipc_message_free(topic);
    }
    ipc_subscriber_free(s);
}

static void sub_all(const struct interop_args *a, struct verdict *v)
{
    subscription(a, NULL, 500, 1, v);
}

static void sub_topic(const struct interop_args *a, struct verdict *v)
{
    subscription(a, "odd", 250, 2, v);
}

static const struct {
    const char *name;
    void (*run)(const struct interop_args *a, struct verdict *v);
} RPC_CASES[] = {
    {"sub-all", sub_all},
    {"sub-topic", sub_topic},
    {"sub-plain-refused", rpc_plain_refused},
    {"rpc-echo", rpc_echo},
    {"rpc-error", rpc_error},
    {"rpc-many", rpc_many},
    {"rpc-plain-refused", rpc_plain_refused},
};

static int interop_client(int argc, char **argv)
{
    struct interop_args a;
    int rc = interop_parse(argc, argv, &a);
    if (rc == 0 && (a.cases == NULL || a.cases[0] == '\0')) {
        fprintf(stderr, "ERROR InvalidArgument --case NAME[,NAME...] is required\n");
        rc = 2;
    }
    if (rc != 0) {
        ipc_options_free(a.opts);
        return rc;
    }
    bool any_failed = false, any_unsupported = false;
    char *list = strdup(a.cases), *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save)) {
        size_t r = 0;
        while (r < sizeof RPC_CASES / sizeof RPC_CASES[0] && strcmp(RPC_CASES[r].name, name) != 0)
            r++;
        if (r < sizeof RPC_CASES / sizeof RPC_CASES[0]) {
            struct verdict v = {{0}};
            RPC_CASES[r].run(&a, &v);
            if (failed(&v)) {
                any_failed = true;
                for (char *p = v.why; *p; p++)
                    if (*p == '\n' || *p == '\r')
                        *p = ' ';
                printf("FAIL %s %s\n", name, v.why);
            } else {
                printf("PASS %s\n", name);
            }
            fflush(stdout);
            continue;
        }
        size_t c = 0;
        while (c < sizeof CASES / sizeof CASES[0] && strcmp(CASES[c].name, name) != 0)
            c++;
        if (c == sizeof CASES / sizeof CASES[0]) {
            any_unsupported = true;
            printf("UNSUPPORTED %s\n", name);
            fflush(stdout);
            continue;
        }
        struct verdict v = {{0}};
        ipc_channel *ch = NULL;
        ipc_status st = ipc_channel_connect(a.endpoint, a.opts, &ch);
        if (st != IPC_OK) {
            char e[600];
            fail_with(&v, "connect failed: %s", show(st, e, sizeof e));
        } else {
            CASES[c].run(ch, &v);
            ipc_channel_close(ch);
            ipc_channel_free(ch);
        }
        if (failed(&v)) {
            any_failed = true;
            for (char *p = v.why; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            printf("FAIL %s %s\n", name, v.why);
        } else {
            printf("PASS %s\n", name);
        }
        fflush(stdout);
    }
    free(list);
    ipc_options_free(a.opts);
    return any_failed ? 1 : any_unsupported ? 127 : 0;
}

/* ---- the modes particular to the C suite ----------------------------------------------------- */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return interop_server(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "client") == 0)
        return interop_client(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "publisher") == 0)
        return interop_publisher(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "rpc-server") == 0)
        return interop_rpc_server(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: ipc_test_peer ROLE ENDPOINT [ARG]\n");
        return 2;
    }
    const char *role = argv[1], *ep = argv[2], *arg = argc > 3 ? argv[3] : "";
    ipc_channel *ch = NULL;
    int rc = 0;
    ipc_status st;

    if (strcmp(role, "connect-zc-echo") == 0) {
        if ((rc = connect_to(ep, &ch)) == 0) {
            printf("connected\n");
            rc = zc_echo(ch);
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
    } else {
        fprintf(stderr, "ipc_test_peer: unknown role %s\n", role);
        rc = 2;
    }
    ipc_channel_free(ch);
    return rc;
}
