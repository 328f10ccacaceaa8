/* Ping-pong through the C API: round trips of SIZE-byte messages (default 64) to an echo peer
 * in another process, over unix:// and shm:// (or the transports named).
 *
 *   bench_pingpong [--iters N] [--warmup W] [--size BYTES] [unix] [shm] [tcp]
 *
 * Defaults: 100000 round trips after 2000 of warm-up, both unix and shm. For each transport it
 * prints one JSON line:
 *
 *   {"bench":"pingpong","api":"c","transport":"unix","size":64,"iters":100000,"warmup":2000,
 *    "median_us":9.1,"p99_us":14.2,"mean_us":9.5,"round_trips_per_s":105000,"msgs_per_s":210000}
 *
 * msgs_per_s counts both directions (two messages per round trip). The peer is this program
 * again (fork + exec of /proc/self/exe with --peer), so it never inherits the library's threads.
 * Both sides use ipc_channel_send and ipc_channel_recv_into (no allocation per message).
 */
#define _GNU_SOURCE
#include <ipc.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, ipc_status st)
{
    fprintf(stderr, "bench_pingpong: %s: %s: %s\n", what, ipc_status_name(st), ipc_last_error());
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The echo peer: connect, echo until closed. */
static int peer(const char *ep)
{
    ipc_channel *ch = NULL;
    ipc_status st = ipc_channel_connect(ep, NULL, &ch);
    if (st != IPC_OK)
        die("peer connect", st);
    static uint8_t buf[1 << 20];
    for (;;) {
        size_t n = 0;
        st = ipc_channel_recv_into(ch, buf, sizeof buf, IPC_WAIT_FOREVER, &n);
        if (st == IPC_ERR_CLOSED || st == IPC_ERR_PEER_DISCONNECTED)
            break;
        if (st != IPC_OK)
            die("peer recv", st);
        if ((st = ipc_channel_send(ch, buf, n, IPC_WAIT_FOREVER)) != IPC_OK)
            die("peer send", st);
    }
    ipc_channel_free(ch);
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void run(const char *transport, const char *dir, long iters, long warmup, size_t size)
{
    char ep[512];
    if (strcmp(transport, "unix") == 0)
        snprintf(ep, sizeof ep, "unix://%.200s/bench.sock", dir);
    else if (strcmp(transport, "shm") == 0)
        snprintf(ep, sizeof ep, "shm://bench-%ld", (long)getpid());
    else if (strcmp(transport, "tcp") == 0)
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:0");
    else {
        fprintf(stderr, "bench_pingpong: unknown transport %s\n", transport);
        exit(2);
    }
    ipc_listener *l = NULL;
    ipc_status st = ipc_listener_bind(ep, NULL, &l);
    if (st != IPC_OK)
        die("bind", st);
    size_t len = 0;
    if ((st = ipc_listener_endpoint(l, ep, sizeof ep, &len)) != IPC_OK)
        die("endpoint", st);

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        execl("/proc/self/exe", "bench_pingpong", "--peer", ep, (char *)NULL);
        _exit(127);
    }
    ipc_channel *ch = NULL;
    if ((st = ipc_listener_accept(l, 30000, &ch)) != IPC_OK)
        die("accept", st);

    uint8_t *msg = malloc(size ? size : 1), *back = malloc(size ? size : 1);
    double *rtt = malloc(sizeof(double) * (size_t)iters);
    if (!msg || !back || !rtt) {
        fprintf(stderr, "bench_pingpong: out of memory\n");
        exit(1);
    }
    memset(msg, 0x5a, size);
    double start = 0;
    for (long i = -warmup; i < iters; i++) {
        if (i == 0)
            start = now_us();
        double t0 = now_us();
        if ((st = ipc_channel_send(ch, msg, size, IPC_WAIT_FOREVER)) != IPC_OK)
            die("send", st);
        size_t n = 0;
        if ((st = ipc_channel_recv_into(ch, back, size, IPC_WAIT_FOREVER, &n)) != IPC_OK)
            die("recv", st);
        if (n != size) {
            fprintf(stderr, "bench_pingpong: echo of %zu bytes came back as %zu\n", size, n);
            exit(1);
        }
        if (i >= 0)
            rtt[i] = now_us() - t0;
    }
    double total = now_us() - start;
    ipc_channel_close(ch);
    int status = 0;
    waitpid(pid, &status, 0);
    ipc_channel_free(ch);
    ipc_listener_free(l);

    qsort(rtt, (size_t)iters, sizeof *rtt, cmp_double);
    double median = rtt[iters / 2], p99 = rtt[(long)((double)(iters - 1) * 0.99)];
    double per_s = (double)iters / (total / 1e6);
    printf("{\"bench\":\"pingpong\",\"api\":\"c\",\"transport\":\"%s\",\"size\":%zu,"
           "\"iters\":%ld,\"warmup\":%ld,\"median_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,"
           "\"round_trips_per_s\":%.0f,\"msgs_per_s\":%.0f}\n",
           transport, size, iters, warmup, median, p99, total / (double)iters, per_s,
           2 * per_s);
    fflush(stdout);
    free(msg);
    free(back);
    free(rtt);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_pingpong: the echo peer failed (status %d)\n", status);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long iters = 100000, warmup = 2000;
    size_t size = 64;
    const char *transports[8];
    int nt = 0;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc)
            return peer(argv[i + 1]);
        if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = (size_t)strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && nt < 8)
            transports[nt++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_pingpong [--iters N] [--warmup W] [--size BYTES] "
                            "[unix] [shm] [tcp]\n");
            return 2;
        }
    }
    if (iters < 1 || warmup < 0 || size > (1 << 20)) {
        fprintf(stderr, "bench_pingpong: need --iters >= 1, --warmup >= 0, --size <= 1 MiB\n");
        return 2;
    }
    if (nt == 0) {
        transports[nt++] = "unix";
        transports[nt++] = "shm";
    }

    char dir[] = "/tmp/ipc-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!getenv("LIBIPC_RUNTIME_DIR")) {
        /* a private runtime directory for shm://, inherited by the peer */
        static char run[64];
        snprintf(run, sizeof run, "%s/run", dir);
        mkdir(run, 0700);
        setenv("LIBIPC_RUNTIME_DIR", run, 1);
    }
    for (int i = 0; i < nt; i++)
        run(transports[i], dir, iters, warmup, size);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
