/* A tiny header-only test harness for the libipc C API tests.
 *
 * Include it first (it defines _GNU_SOURCE). A test program lists its tests and calls h_main:
 *
 *   static void test_something(void) { CHECK_ST(ipc_options_new(NULL), IPC_ERR_INVALID_ARGUMENT); }
 *   static const struct h_test tests[] = { H_TEST(test_something) };
 *   int main(int argc, char **argv) { return h_main(argc, argv, tests, H_COUNT(tests)); }
 *
 * Checks:
 *   CHECK(cond)               non-fatal: prints file:line, the condition and ipc_last_error()
 *   CHECK_ST(call, status)    non-fatal: the call returns `status` (prints both names)
 *   CHECK_OK(call)            CHECK_ST(call, IPC_OK)
 *   REQUIRE(cond), REQUIRE_OK(call), REQUIRE_ST(call, status)
 *                             fatal: as above, then the program exits 1 (later tests do not run)
 *   CHECK_STR(a, b), CHECK_EQ_U(a, b), CHECK_EQ_I(a, b)  comparisons that print both values
 *
 * Every test runs under a watchdog (alarm(), H_WATCHDOG_S seconds, default 120, scaled for
 * valgrind by the caller) and in a private temporary directory, which is also
 * LIBIPC_RUNTIME_DIR (mode 0700) so bare names and shm:// stay private. Arguments select tests
 * by name; no argument runs them all. Exit status 0 if every check passed.
 *
 * Peer processes: h_spawn() forks and execs the helper program `ipc_test_peer` (found next to
 * the test program) with a role and arguments; its stdout is a pipe the test reads lines from.
 * The children are separate programs, so they never inherit the library's threads.
 *
 * Set-up and tear-down: h_listen (a listener at a fresh endpoint), h_pair / h_pair_with (a
 * connected pair in this process), h_pair_again (another on the same listener), h_pair_free;
 * h_options / h_options_max_message; h_check_connect_accept; h_unix_socket_at. With a peer
 * process: h_peer_client / h_peer_spawn_client + h_peer_accept (the peer connects to us),
 * h_peer_expect_line, h_peer_close_and_wait, h_peer_free; h_rust_peer (the Rust peer's path).
 * The interop contract's peers (tests/interop/README.md): h_contract_server +
 * h_contract_server_stop; h_contract_client + h_serve_contract + h_contract_client_passes.
 */
#ifndef LIBIPC_TEST_HARNESS_H
#define LIBIPC_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ipc.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_UNUSED __attribute__((unused))

/* ---- results ------------------------------------------------------------------------------ */

static int h_failures;               /* failed checks in the whole program */
static const char *h_current = "";   /* the running test */
static const char *h_sub = "";       /* what part of it (a transport, say), or "" */
static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;

static H_UNUSED void h_report(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static H_UNUSED void h_report(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *last = ipc_last_error();
    pthread_mutex_lock(&h_lock);
    h_failures++;
    fprintf(stderr, "%s:%d: [%s%s%s] FAILED: %s\n    ipc_last_error(): \"%s\"\n", file, line,
            h_current, *h_sub ? " " : "", h_sub, msg, last ? last : "(NULL!)");
    fflush(stderr);
    pthread_mutex_unlock(&h_lock);
}

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond))                                                                          \
            h_report(__FILE__, __LINE__, "%s", #cond);                                        \
    } while (0)

#define REQUIRE(cond)                                                                         \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            h_report(__FILE__, __LINE__, "%s (fatal)", #cond);                                \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

/* Evaluates to 1 if the call returned `want`. */
#define CHECK_ST(call, want)                                                                  \
    h_check_st(__FILE__, __LINE__, #call, (int)(call), (int)(want), 0)
#define CHECK_OK(call) CHECK_ST(call, IPC_OK)
#define REQUIRE_ST(call, want)                                                                \
    h_check_st(__FILE__, __LINE__, #call, (int)(call), (int)(want), 1)
#define REQUIRE_OK(call) REQUIRE_ST(call, IPC_OK)

static H_UNUSED int h_check_st(const char *file, int line, const char *expr, int got, int want, int fatal)
{
    if (got == want)
        return 1;
    h_report(file, line, "%s returned %s (%d), expected %s (%d)%s", expr,
             ipc_status_name((ipc_status)got), got, ipc_status_name((ipc_status)want), want,
             fatal ? " (fatal)" : "");
    if (fatal)
        exit(1);
    return 0;
}

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *h_a_ = (a), *h_b_ = (b);                                                  \
        if (!h_a_ || !h_b_ || strcmp(h_a_, h_b_) != 0)                                        \
            h_report(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,                \
                     h_a_ ? h_a_ : "(NULL)", h_b_ ? h_b_ : "(NULL)");                         \
    } while (0)

#define CHECK_EQ_U(a, b)                                                                      \
    do {                                                                                      \
        unsigned long long h_a_ = (unsigned long long)(a), h_b_ = (unsigned long long)(b);    \
        if (h_a_ != h_b_)                                                                     \
            h_report(__FILE__, __LINE__, "%s == %s: %llu vs %llu", #a, #b, h_a_, h_b_);       \
    } while (0)

#define CHECK_EQ_I(a, b)                                                                      \
    do {                                                                                      \
        long long h_a_ = (long long)(a), h_b_ = (long long)(b);                               \
        if (h_a_ != h_b_)                                                                     \
            h_report(__FILE__, __LINE__, "%s == %s: %lld vs %lld", #a, #b, h_a_, h_b_);       \
    } while (0)

/* The last error is a non-empty message (right after a failing call). */
#define CHECK_ERRMSG()                                                                        \
    do {                                                                                      \
        const char *h_e_ = ipc_last_error();                                                  \
        if (!h_e_ || !*h_e_)                                                                  \
            h_report(__FILE__, __LINE__, "ipc_last_error() is empty after a failure");       \
    } while (0)

/* ---- tests, watchdog, temporary directory -------------------------------------------------- */

struct h_test {
    const char *name;
    void (*fn)(void);
};
#define H_TEST(fn) {#fn, fn}
#define H_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char h_dir[200];           /* private temporary directory (short: socket paths) */
static char h_rundir[220];        /* LIBIPC_RUNTIME_DIR, inside h_dir */
static char h_peer_path[PATH_MAX + 32];
static unsigned h_counter;
static pid_t h_children[64];
static int h_nchildren;

static H_UNUSED void h_kill_children(void)
{
    for (int i = 0; i < h_nchildren; i++)
        if (h_children[i] > 0) {
            kill(h_children[i], SIGKILL);
            waitpid(h_children[i], NULL, 0);
            h_children[i] = 0;
        }
    h_nchildren = 0;
}

static H_UNUSED int h_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static H_UNUSED void h_cleanup_dir(void)
{
    if (h_dir[0])
        nftw(h_dir, h_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static H_UNUSED void h_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "\nwatchdog: a test hung; killing peers and exiting\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    n = write(2, h_current, strlen(h_current));
    n = write(2, "\n", 1);
    for (int i = 0; i < h_nchildren; i++)
        if (h_children[i] > 0)
            kill(h_children[i], SIGKILL);
    _exit(3);
}

static H_UNUSED unsigned h_watchdog_seconds(void)
{
    const char *s = getenv("H_WATCHDOG_S");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : 120;
}

/* Round trips of varying sizes (0 to 70,000 bytes) through an echoing peer, each send and
 * receive waiting at most timeout_ms. */
static H_UNUSED void h_echo_round_trips(ipc_channel *ch, int count, int32_t timeout_ms)
{
    uint8_t *buf = malloc(70000);
    REQUIRE(buf);
    for (int i = 0; i < count; i++) {
        size_t len = ((size_t)i * 4099u) % 70000;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(i ^ (int)k);
        if (!CHECK_OK(ipc_channel_send(ch, buf, len, timeout_ms)))
            break;
        ipc_message *m = NULL;
        if (!CHECK_OK(ipc_channel_recv(ch, timeout_ms, &m)))
            break;
        CHECK(ipc_message_len(m) == len && memcmp(ipc_message_data(m), buf, len) == 0);
        ipc_message_free(m);
    }
    free(buf);
}

/* A fresh name for something inside the private directory. */
static H_UNUSED void h_path(char *buf, size_t cap, const char *stem)
{
    snprintf(buf, cap, "%s/%s-%u", h_dir, stem, ++h_counter);
}

enum h_transport { H_UNIX, H_TCP, H_SHM, H_NAME, H_ABSTRACT, H_FIFO };
static const char *const h_transport_names[] = {"unix", "tcp", "shm", "name", "abstract", "fifo"};

/* An endpoint to bind: unique per call. For TCP, port 0 (read the real one from the listener). */
static H_UNUSED void h_endpoint(enum h_transport t, char *buf, size_t cap)
{
    unsigned n = ++h_counter;
    switch (t) {
    case H_UNIX: snprintf(buf, cap, "unix://%s/s%u.sock", h_dir, n); break;
    case H_TCP: snprintf(buf, cap, "tcp://127.0.0.1:0"); break;
    case H_SHM: snprintf(buf, cap, "shm://t%ld-%u", (long)getpid(), n); break;
    case H_NAME: snprintf(buf, cap, "n%ld-%u", (long)getpid(), n); break;
    case H_ABSTRACT: snprintf(buf, cap, "unix:@libipc-ctest-%ld-%u", (long)getpid(), n); break;
    case H_FIFO: snprintf(buf, cap, "fifo://%s/f%u.fifo", h_dir, n); break;
    }
}

/* Bind at a fresh endpoint of transport t; the endpoint clients use is written to ep. */
static ipc_listener *h_listen(enum h_transport t, const ipc_options *opts, char *ep, size_t cap)
{
    char want[512];
    ipc_listener *l = NULL;
    size_t len = 0;
    h_endpoint(t, want, sizeof want);
    REQUIRE_OK(ipc_listener_bind(want, opts, &l));
    REQUIRE(l != NULL);
    REQUIRE_OK(ipc_listener_endpoint(l, ep, cap, &len));
    REQUIRE(len == strlen(ep));
    return l;
}

/* A connected pair in this process: returns the listener (server options sopts); *srv is
 * accepted from it, *cli connected to it (client options copts). Free with h_pair_free. */
static H_UNUSED ipc_listener *h_pair_with(enum h_transport t, const ipc_options *sopts,
                                 const ipc_options *copts, ipc_channel **srv, ipc_channel **cli)
{
    char ep[512];
    ipc_listener *l = h_listen(t, sopts, ep, sizeof ep);
    REQUIRE_OK(ipc_channel_connect(ep, copts, cli));
    REQUIRE_OK(ipc_listener_accept(l, 10000, srv));
    return l;
}

/* h_pair_with, default options on both sides. */
static H_UNUSED ipc_listener *h_pair(enum h_transport t, ipc_channel **srv, ipc_channel **cli)
{
    return h_pair_with(t, NULL, NULL, srv, cli);
}

/* Another connected pair on an existing listener (default options): *srv accepted, *cli
 * connected to the listener's endpoint. */
static H_UNUSED void h_pair_again(ipc_listener *l, ipc_channel **srv, ipc_channel **cli)
{
    char ep[512];
    size_t len;
    REQUIRE_OK(ipc_listener_endpoint(l, ep, sizeof ep, &len));
    REQUIRE_OK(ipc_channel_connect(ep, NULL, cli));
    REQUIRE_OK(ipc_listener_accept(l, 10000, srv));
}

/* Free what h_pair made: the client, the server side, the listener (any may be NULL). */
static H_UNUSED void h_pair_free(ipc_listener *l, ipc_channel *srv, ipc_channel *cli)
{
    ipc_channel_free(cli);
    ipc_channel_free(srv);
    ipc_listener_free(l);
}

/* A client with options copts connects to ep and l accepts it (both checked, non-fatal); then
 * both channels are freed. */
static H_UNUSED void h_check_connect_accept(ipc_listener *l, const char *ep, const ipc_options *copts)
{
    ipc_channel *c = NULL, *s = NULL;
    CHECK_OK(ipc_channel_connect(ep, copts, &c));
    CHECK_OK(ipc_listener_accept(l, 10000, &s));
    ipc_channel_free(c);
    ipc_channel_free(s);
}

/* New options (fatal if that fails). */
static H_UNUSED ipc_options *h_options(void)
{
    ipc_options *o = NULL;
    REQUIRE_OK(ipc_options_new(&o));
    return o;
}

/* New options with a message size limit. */
static H_UNUSED ipc_options *h_options_max_message(size_t max)
{
    ipc_options *o = h_options();
    CHECK_OK(ipc_options_set_max_message_size(o, max));
    return o;
}

/* A unix stream socket bound at path (not listening yet); fatal if that fails. */
static H_UNUSED int h_unix_socket_at(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    REQUIRE(strlen(path) < sizeof sun.sun_path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    REQUIRE(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
    return fd;
}

/* Start the peer helper: ipc_test_peer <args...> (args NULL-terminated, at most 14). Its stdout
 * is returned in *out_fd and its stdin in *in_fd (pipes; pass NULL for either not wanted: the
 * peer then inherits ours). */
static H_UNUSED pid_t h_spawn_argv(int *in_fd, int *out_fd, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = h_peer_path;
    for (; args[n - 1] != NULL && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;

    int p[2] = {-1, -1}, q[2] = {-1, -1};
    if (out_fd)
        REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    if (in_fd)
        REQUIRE(pipe2(q, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (out_fd)
            dup2(p[1], 1);
        if (in_fd)
            dup2(q[0], 0);
        execv(h_peer_path, (char *const *)argv);
        _exit(127);
    }
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    if (in_fd) {
        close(q[0]);
        *in_fd = q[1];
    }
    REQUIRE(h_nchildren < (int)H_COUNT(h_children));
    h_children[h_nchildren++] = pid;
    return pid;
}

/* The Rust ipc-test-peer, named by $H_RUST_PEER (scripts/c-tests.sh builds it and sets it);
 * NULL, after a failed check saying so, when it is not set. */
static H_UNUSED const char *h_rust_peer(void)
{
    const char *rust = getenv("H_RUST_PEER");
    if (rust && *rust)
        return rust;
    h_report(__FILE__, __LINE__,
             "H_RUST_PEER is not set: it names the Rust ipc-test-peer (scripts/c-tests.sh "
             "builds it and sets it)");
    return NULL;
}

/* Start the peer helper: ipc_test_peer <role> <args...> (NULL-terminated). Its stdout is
 * returned in *out_fd (a pipe; -1 if not wanted). */
static H_UNUSED pid_t h_spawn(int *out_fd, const char *role, ...)
{
    const char *args[15];
    int n = 0;
    args[n++] = role;
    va_list ap;
    va_start(ap, role);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 14)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return h_spawn_argv(NULL, out_fd, args);
}

static H_UNUSED void h_forget_child(pid_t pid)
{
    for (int i = 0; i < h_nchildren; i++)
        if (h_children[i] == pid)
            h_children[i] = 0;
}

/* Wait for a peer to exit; returns its exit status (128+signal if killed). */
static H_UNUSED int h_wait(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    h_forget_child(pid);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static H_UNUSED void h_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    h_wait(pid);
}

/* Read one line (without the newline) from fd; 0 on EOF before any byte. */
static H_UNUSED int h_read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (c == '\n') {
            buf[n] = 0;
            return 1;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    return n > 0;
}

/* A peer process (ipc_test_peer) and our channel to it. */
struct h_peer {
    ipc_listener *l; /* ours, when the peer is the client; else NULL */
    ipc_channel *ch; /* our end */
    pid_t pid;
    int out;         /* the peer's stdout */
    int in;          /* the peer's stdin (a contract server's), or -1 */
};

/* Listen at a fresh endpoint of transport t and start `ipc_test_peer role <endpoint> [arg]`
 * (arg may be NULL) as a client of it. Accept it with h_peer_accept. */
static H_UNUSED struct h_peer h_peer_spawn_client(enum h_transport t, const char *role, const char *arg)
{
    char ep[512];
    struct h_peer p = {NULL, NULL, -1, -1, -1};
    p.l = h_listen(t, NULL, ep, sizeof ep);
    p.pid = h_spawn(&p.out, role, ep, arg, NULL);
    return p;
}

/* The peer prints `want` as its next line. */
static H_UNUSED void h_peer_expect_line(struct h_peer *p, const char *want)
{
    char line[600];
    CHECK(h_read_line(p->out, line, sizeof line) && strcmp(line, want) == 0);
}

/* Accept the peer's connection within timeout_ms (fatal if not); then, unless first_line is
 * NULL, the peer prints first_line. */
static H_UNUSED void h_peer_accept(struct h_peer *p, int timeout_ms, const char *first_line)
{
    REQUIRE_OK(ipc_listener_accept(p->l, timeout_ms, &p->ch));
    if (first_line)
        h_peer_expect_line(p, first_line);
}

/* h_peer_spawn_client, then accept it (30 s) and expect its first line (unless NULL). */
static H_UNUSED struct h_peer h_peer_client(enum h_transport t, const char *role, const char *arg,
                                   const char *first_line)
{
    struct h_peer p = h_peer_spawn_client(t, role, arg);
    h_peer_accept(&p, 30000, first_line);
    return p;
}

/* Close its pipe, free our channel and listener (the process is waited for or killed by the
 * caller, or by the harness after the test). */
static H_UNUSED void h_peer_free(struct h_peer *p)
{
    if (p->out >= 0)
        close(p->out);
    if (p->in >= 0)
        close(p->in);
    ipc_channel_free(p->ch);
    ipc_listener_free(p->l);
    p->out = -1;
    p->in = -1;
    p->ch = NULL;
    p->l = NULL;
}

/* Close our end: the peer sees CLOSED and exits 0. Then h_peer_free. */
static H_UNUSED void h_peer_close_and_wait(struct h_peer *p)
{
    CHECK_OK(ipc_channel_close(p->ch));
    CHECK_EQ_I(h_wait(p->pid), 0);
    h_peer_free(p);
}

/* ---- the interop contract's peers (tests/interop/README.md) ------------------------------- */

/* `ipc_test_peer server --endpoint <fresh endpoint of t>`: it prints "READY <endpoint>"; connect
 * to that endpoint. It echoes every message, closes the channel on "interop:close", SIGKILLs
 * itself on "interop:kill", and exits 0 when its stdin closes (h_contract_server_stop). */
static H_UNUSED struct h_peer h_contract_server(enum h_transport t)
{
    char want[512], line[600];
    struct h_peer p = {NULL, NULL, -1, -1, -1};
    h_endpoint(t, want, sizeof want);
    const char *args[] = {"server", "--endpoint", want, NULL};
    p.pid = h_spawn_argv(&p.in, &p.out, args);
    REQUIRE(h_read_line(p.out, line, sizeof line));
    REQUIRE(strncmp(line, "READY ", 6) == 0);
    REQUIRE_OK(ipc_channel_connect(line + 6, NULL, &p.ch));
    return p;
}

/* Close the contract server's stdin: it exits 0, having printed nothing after READY. Then
 * h_peer_free. */
static H_UNUSED void h_contract_server_stop(struct h_peer *p)
{
    char line[600];
    close(p->in);
    p->in = -1;
    CHECK_EQ_I(h_wait(p->pid), 0);
    CHECK(!h_read_line(p->out, line, sizeof line));
    h_peer_free(p);
}

/* Listen at a fresh endpoint of t (options opts, may be NULL) and start `ipc_test_peer client
 * --endpoint <it> --case <cases>` (a comma-separated list): a new connection per case, one
 * after the other. Accept each and serve it with h_serve_contract. */
static H_UNUSED struct h_peer h_contract_client(enum h_transport t, const ipc_options *opts,
                                                const char *cases)
{
    char ep[512];
    struct h_peer p = {NULL, NULL, -1, -1, -1};
    p.l = h_listen(t, opts, ep, sizeof ep);
    const char *args[] = {"client", "--endpoint", ep, "--case", cases, NULL};
    p.pid = h_spawn_argv(NULL, &p.out, args);
    return p;
}

/* Serve a contract client's connection as the contract's server does: echo every message.
 * Returns 1 when "interop:close" came (not echoed; the channel is left open), 0 when the client
 * closed, -1 on any other failure (reported). */
static H_UNUSED int h_serve_contract(ipc_channel *ch)
{
    for (;;) {
        ipc_message *m = NULL;
        int st = ipc_channel_recv(ch, 60000, &m);
        if (st == IPC_ERR_CLOSED)
            return 0;
        if (!CHECK_OK(st))
            return -1;
        size_t len = ipc_message_len(m);
        const uint8_t *data = ipc_message_data(m);
        if (len == 13 && memcmp(data, "interop:close", 13) == 0) {
            ipc_message_free(m);
            return 1;
        }
        st = ipc_channel_send(ch, data, len, 60000);
        ipc_message_free(m);
        if (!CHECK_OK(st))
            return -1;
    }
}

/* The contract client printed "PASS <case>" for each case of `cases` (comma-separated), in
 * order, and nothing else, and exited 0. Then h_peer_free. */
static H_UNUSED void h_contract_client_passes(struct h_peer *p, const char *cases)
{
    char line[600], want[128];
    for (const char *c = cases; *c;) {
        size_t n = strcspn(c, ",");
        snprintf(want, sizeof want, "PASS %.*s", (int)n, c);
        if (!h_read_line(p->out, line, sizeof line)) {
            h_report(__FILE__, __LINE__, "the client ended before printing \"%s\"", want);
            break;
        }
        if (strcmp(line, want) != 0)
            h_report(__FILE__, __LINE__, "the client printed \"%s\", expected \"%s\"", line, want);
        c += n + (c[n] == ',');
    }
    CHECK(!h_read_line(p->out, line, sizeof line));
    CHECK_EQ_I(h_wait(p->pid), 0);
    h_peer_free(p);
}

/* poll() one descriptor for POLLIN; 1 if readable within timeout_ms. */
static H_UNUSED int h_readable(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

static H_UNUSED void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Receive one message with a generous timeout and compare it. */
#define CHECK_RECV(ch, text) h_check_recv(__FILE__, __LINE__, (ch), (text), strlen(text))
static H_UNUSED int h_check_recv(const char *file, int line, ipc_channel *ch, const void *want,
                        size_t len)
{
    ipc_message *m = NULL;
    int st = ipc_channel_recv(ch, 10000, &m);
    if (st != IPC_OK) {
        h_report(file, line, "recv returned %s, expected a %zu-byte message",
                 ipc_status_name((ipc_status)st), len);
        return 0;
    }
    int ok = ipc_message_len(m) == len && ipc_message_data(m) != NULL &&
             (len == 0 || memcmp(ipc_message_data(m), want, len) == 0);
    if (!ok)
        h_report(file, line, "received %zu bytes \"%.*s\", expected %zu bytes \"%.*s\"",
                 ipc_message_len(m), (int)(ipc_message_len(m) > 80 ? 80 : ipc_message_len(m)),
                 (const char *)ipc_message_data(m), len, (int)(len > 80 ? 80 : len),
                 (const char *)want);
    ipc_message_free(m);
    return ok;
}

#define SEND_STR(ch, text)                                                                    \
    CHECK_OK(ipc_channel_send((ch), (const uint8_t *)(text), strlen(text), 10000))

static H_UNUSED int h_main(int argc, char **argv, const struct h_test *tests, size_t ntests)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The peer helper lives next to this program. */
    char self[PATH_MAX];
    if (!realpath(argv[0], self))
        snprintf(self, sizeof self, "%s", argv[0]);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(h_peer_path, sizeof h_peer_path, "%s/ipc_test_peer", slash ? self : ".");

    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp"; /* socket paths must stay under 108 bytes */
    snprintf(h_dir, sizeof h_dir, "%s/ipc-ctest-XXXXXX", tmp);
    if (!mkdtemp(h_dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(h_rundir, sizeof h_rundir, "%s/run", h_dir);
    if (mkdir(h_rundir, 0700) != 0) {
        perror("mkdir");
        return 2;
    }
    /* Before any libipc call (and before the library starts threads). The peers inherit it. */
    setenv("LIBIPC_RUNTIME_DIR", h_rundir, 1);
    atexit(h_cleanup_dir);
    atexit(h_kill_children);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    unsigned wd = h_watchdog_seconds();

    size_t ran = 0;
    for (size_t i = 0; i < ntests; i++) {
        int wanted = argc <= 1;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], tests[i].name) == 0)
                wanted = 1;
        if (!wanted)
            continue;
        int before = h_failures;
        h_current = tests[i].name;
        printf("test %s ... ", tests[i].name);
        fflush(stdout);
        alarm(wd);
        h_sub = "";
        tests[i].fn();
        h_sub = "";
        alarm(0);
        h_kill_children();
        printf("%s\n", h_failures == before ? "ok" : "FAILED");
        ran++;
    }
    h_current = "";
    if (ran == 0) {
        fprintf(stderr, "no test matched\n");
        return 2;
    }
    printf("%s: %zu tests, %d failed checks\n", argv[0], ran, h_failures);
    return h_failures ? 1 : 0;
}

#endif
