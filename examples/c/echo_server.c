/* An echo server: every message a client sends comes back to it.
 *
 *   ./echo_server unix:///tmp/echo.sock      (or tcp://127.0.0.1:0, shm://name, a bare name)
 *
 * Prints "echoing on <endpoint>" once it listens. The main thread waits on the listener's
 * descriptor (ipc_listener_fd) and a self-pipe written by the SIGINT/SIGTERM handler; each
 * client is served by its own thread with blocking receives. On SIGINT/SIGTERM it stops
 * accepting, closes every client channel (which wakes their threads), joins them and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client {
    ipc_channel *ch;
    pthread_t thread;
    int done; /* set by the client's thread under clients_lock when it finished */
    struct client *next;
};

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client *clients;
static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(stop_pipe[1], &b, 1);
    (void)n;
    errno = saved;
}

static void *serve(void *arg)
{
    struct client *c = arg;
    ipc_peer_credentials peer = {-1, -1, -1};
    ipc_channel_peer(c->ch, &peer);
    for (;;) {
        ipc_message *m = NULL;
        ipc_status st = ipc_channel_recv(c->ch, IPC_WAIT_FOREVER, &m);
        if (st == IPC_ERR_CLOSED)
            break; /* the client closed (or we are shutting down) */
        if (st != IPC_OK) {
            fprintf(stderr, "echo_server: client pid %lld: %s: %s\n", (long long)peer.pid,
                    ipc_status_name(st), ipc_last_error());
            break;
        }
        st = ipc_channel_send(c->ch, ipc_message_data(m), ipc_message_len(m), IPC_WAIT_FOREVER);
        ipc_message_free(m);
        if (st != IPC_OK) {
            if (st != IPC_ERR_CLOSED)
                fprintf(stderr, "echo_server: echo to pid %lld failed: %s: %s\n",
                        (long long)peer.pid, ipc_status_name(st), ipc_last_error());
            break;
        }
    }
    pthread_mutex_lock(&clients_lock);
    c->done = 1;
    pthread_mutex_unlock(&clients_lock);
    return NULL;
}

/* Join and free the clients whose threads finished (all of them if `all`, after closing). */
static void reap(int all)
{
    pthread_mutex_lock(&clients_lock);
    struct client **pp = &clients;
    if (all)
        for (struct client *c = clients; c; c = c->next)
            ipc_channel_close(c->ch); /* wakes a blocked recv/send with IPC_ERR_CLOSED */
    while (*pp) {
        struct client *c = *pp;
        if (c->done || all) {
            *pp = c->next;
            pthread_mutex_unlock(&clients_lock);
            pthread_join(c->thread, NULL);
            ipc_channel_free(c->ch);
            free(c);
            pthread_mutex_lock(&clients_lock);
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&clients_lock);
}

int main(int argc, char **argv)
{
    const char *endpoint = argc > 1 ? argv[1] : "demo";
    ipc_listener *l = NULL;
    ipc_status st;
    int lfd = -1, rc = 0;

    if (pipe(stop_pipe) != 0) {
        perror("echo_server: pipe");
        return 1;
    }
    fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((st = ipc_listener_bind(endpoint, NULL, &l)) != IPC_OK) {
        fprintf(stderr, "echo_server: bind %s: %s: %s\n", endpoint, ipc_status_name(st),
                ipc_last_error());
        return 1;
    }
    char where[512];
    size_t len = 0;
    if ((st = ipc_listener_endpoint(l, where, sizeof where, &len)) != IPC_OK ||
        (st = ipc_listener_fd(l, &lfd)) != IPC_OK) {
        fprintf(stderr, "echo_server: %s: %s\n", ipc_status_name(st), ipc_last_error());
        ipc_listener_free(l);
        return 1;
    }
    printf("echoing on %s\n", where);
    fflush(stdout);

    for (;;) {
        struct pollfd fds[2] = {{stop_pipe[0], POLLIN, 0}, {lfd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("echo_server: poll");
            rc = 1;
            break;
        }
        if (fds[0].revents)
            break; /* SIGINT or SIGTERM */
        if (!fds[1].revents)
            continue;
        ipc_channel *ch = NULL;
        st = ipc_listener_accept(l, 0, &ch);
        if (st == IPC_ERR_TIMEOUT)
            continue; /* woken, but the client is gone or another accept took it */
        if (st != IPC_OK) {
            fprintf(stderr, "echo_server: accept: %s: %s\n", ipc_status_name(st),
                    ipc_last_error());
            rc = 1;
            break;
        }
        reap(0);
        struct client *c = calloc(1, sizeof *c);
        if (!c) {
            ipc_channel_free(ch);
            continue;
        }
        c->ch = ch;
        pthread_mutex_lock(&clients_lock);
        if (pthread_create(&c->thread, NULL, serve, c) != 0) {
            pthread_mutex_unlock(&clients_lock);
            fprintf(stderr, "echo_server: cannot start a thread\n");
            ipc_channel_free(ch);
            free(c);
            continue;
        }
        c->next = clients;
        clients = c;
        pthread_mutex_unlock(&clients_lock);
    }

    ipc_listener_close(l);
    reap(1);
    ipc_listener_free(l);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return rc;
}
