/* Zero-copy messages over shared memory: the sender writes each message straight into the ring
 * (ipc_channel_reserve ... ipc_channel_commit) and the receiver reads it where it lies
 * (ipc_channel_recv_in_place ... ipc_channel_release).
 *
 *   ./zero_copy [shm://name] [count]
 *
 * Self-contained: the process forks a peer (before it creates anything of libipc's, so the
 * child starts from a single-threaded copy), binds the endpoint, and sends `count` messages
 * (default 1000, sizes 0..4096); the peer receives each in place and answers, in place, with
 * every byte incremented by one. The parent checks every answer and prints
 *
 *   zero_copy: <count> round trips over shm://name, all replies correct
 *
 * and exits 0 (1 on any mismatch or error). The endpoint defaults to shm://zero-copy-<pid>,
 * whose control socket lives in the runtime directory ($LIBIPC_RUNTIME_DIR, or
 * $XDG_RUNTIME_DIR/libipc, or /tmp/libipc-<uid>).
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LEN 4096

static int fail(const char *who, const char *what, ipc_status st)
{
    fprintf(stderr, "zero_copy (%s): %s: %s: %s\n", who, what, ipc_status_name(st),
            ipc_last_error());
    return 1;
}

static size_t length_of(unsigned i) { return (i * 37u) % (MAX_LEN + 1); }

/* The peer: answer every message in place until the channel closes. */
static int peer(const char *endpoint, int go_fd)
{
    char go;
    ipc_channel *ch = NULL;
    ipc_status st;
    if (read(go_fd, &go, 1) != 1) /* the parent is listening */
        return 1;
    if ((st = ipc_channel_connect(endpoint, NULL, &ch)) != IPC_OK)
        return fail("peer", "connect", st);
    int rc = 0;
    for (;;) {
        const uint8_t *in = NULL;
        size_t len = 0;
        uint8_t *out = NULL;
        st = ipc_channel_recv_in_place(ch, IPC_WAIT_FOREVER, &in, &len);
        if (st == IPC_ERR_CLOSED)
            break;
        if (st != IPC_OK) {
            rc = fail("peer", "recv_in_place", st);
            break;
        }
        /* Reserve the answer while the request is still held: both sides of the channel are
         * ours until commit and release. The request lies in memory the other process can
         * write; a real program copies what it validates before trusting it. */
        if ((st = ipc_channel_reserve(ch, len, IPC_WAIT_FOREVER, &out)) != IPC_OK) {
            rc = fail("peer", "reserve", st);
            ipc_channel_release(ch);
            break;
        }
        for (size_t k = 0; k < len; k++)
            out[k] = (uint8_t)(in[k] + 1);
        if ((st = ipc_channel_commit(ch)) != IPC_OK ||
            (st = ipc_channel_release(ch)) != IPC_OK) {
            rc = fail("peer", "commit/release", st);
            break;
        }
    }
    ipc_channel_free(ch);
    return rc;
}

static int run(const char *endpoint, unsigned count, int go_fd)
{
    ipc_listener *l = NULL;
    ipc_channel *ch = NULL;
    ipc_status st;
    if ((st = ipc_listener_bind(endpoint, NULL, &l)) != IPC_OK)
        return fail("main", "bind", st);
    if (write(go_fd, "g", 1) != 1) {
        ipc_listener_free(l);
        return 1;
    }
    st = ipc_listener_accept(l, 10000, &ch);
    ipc_listener_free(l); /* one client is all we want */
    if (st != IPC_OK)
        return fail("main", "accept", st);

    int rc = 0;
    for (unsigned i = 0; i < count && rc == 0; i++) {
        size_t len = length_of(i);
        uint8_t *buf = NULL;
        if ((st = ipc_channel_reserve(ch, len, 10000, &buf)) != IPC_OK) {
            rc = fail("main", "reserve", st);
            break;
        }
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(i + k); /* write-only: never read it back */
        if ((st = ipc_channel_commit(ch)) != IPC_OK) {
            rc = fail("main", "commit", st);
            break;
        }
        const uint8_t *reply = NULL;
        size_t got = 0;
        if ((st = ipc_channel_recv_in_place(ch, 10000, &reply, &got)) != IPC_OK) {
            rc = fail("main", "recv_in_place", st);
            break;
        }
        if (got != len) {
            fprintf(stderr, "zero_copy: reply %u has %zu bytes, expected %zu\n", i, got, len);
            rc = 1;
        }
        for (size_t k = 0; rc == 0 && k < len; k++)
            if (reply[k] != (uint8_t)(i + k + 1)) {
                fprintf(stderr, "zero_copy: reply %u differs at byte %zu\n", i, k);
                rc = 1;
            }
        if ((st = ipc_channel_release(ch)) != IPC_OK && rc == 0)
            rc = fail("main", "release", st);
    }
    ipc_channel_close(ch); /* the peer receives IPC_ERR_CLOSED and exits */
    ipc_channel_free(ch);
    return rc;
}

int main(int argc, char **argv)
{
    char defname[64];
    snprintf(defname, sizeof defname, "shm://zero-copy-%ld", (long)getpid());
    const char *endpoint = argc > 1 ? argv[1] : defname;
    unsigned count = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;

    int go[2];
    if (pipe(go) != 0) {
        perror("zero_copy: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("zero_copy: fork");
        return 1;
    }
    if (child == 0) {
        close(go[1]);
        int rc = peer(endpoint, go[0]);
        close(go[0]);
        exit(rc);
    }
    close(go[0]);
    int rc = run(endpoint, count, go[1]);
    close(go[1]); /* if we failed before the go, the peer sees EOF and exits */

    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "zero_copy: the peer process failed (status %d)\n", status);
        rc = 1;
    }
    if (rc == 0)
        printf("zero_copy: %u round trips over %s, all replies correct\n", count, endpoint);
    return rc;
}
