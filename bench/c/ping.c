/*
 * ping: timed round trips through the C API against `ipc listen --echo ENDPOINT`; the C twin
 * of `ipc ping` (cli/src/ping.rs), so scripts/bench-c.sh can compare the two in one run.
 *
 *   ping ENDPOINT COUNT SIZE
 *
 * Prints one line: count, p50 and p99 round-trip time in microseconds.
 */
#define _POSIX_C_SOURCE 200809L
#include <ipc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: ping ENDPOINT COUNT SIZE\n");
        return 2;
    }
    long count = atol(argv[2]);
    long size = atol(argv[3]);
    if (count < 1 || size < 8) {
        fprintf(stderr, "ping: COUNT must be >= 1 and SIZE >= 8\n");
        return 2;
    }
    ipc_channel *ch = NULL;
    if (ipc_channel_connect(argv[1], NULL, &ch) != IPC_OK) {
        fprintf(stderr, "ping: connect: %s\n", ipc_last_error());
        return 1;
    }
    uint8_t *payload = malloc((size_t)size);
    uint64_t *times = malloc(sizeof(uint64_t) * (size_t)count);
    if (payload == NULL || times == NULL) {
        fprintf(stderr, "ping: out of memory\n");
        return 1;
    }
    for (long i = 0; i < size; i++) payload[i] = (uint8_t)(i % 251);
    for (long i = 0; i < count; i++) {
        /* Stamp the sequence number so a stale echo cannot pass for this one. */
        uint64_t stamp = (uint64_t)i;
        memcpy(payload, &stamp, sizeof stamp);
        uint64_t start = now_ns();
        ipc_status st = ipc_channel_send(ch, payload, (size_t)size, IPC_WAIT_FOREVER);
        if (st != IPC_OK) {
            fprintf(stderr, "ping: send: %s\n", ipc_last_error());
            return 1;
        }
        ipc_message *echo = NULL;
        st = ipc_channel_recv(ch, 10000, &echo);
        if (st != IPC_OK) {
            fprintf(stderr, "ping: recv: %s: %s\n", ipc_status_name(st), ipc_last_error());
            return 1;
        }
        times[i] = now_ns() - start;
        if (ipc_message_len(echo) != (size_t)size ||
            memcmp(ipc_message_data(echo), payload, (size_t)size) != 0) {
            fprintf(stderr, "ping: round trip %ld: the echo differs from what was sent\n", i + 1);
            return 1;
        }
        ipc_message_free(echo);
    }
    ipc_channel_free(ch);
    qsort(times, (size_t)count, sizeof(uint64_t), cmp_u64);
    double p50 = (double)times[(count - 1) / 2] / 1000.0;
    double p99 = (double)times[(count * 99 - 1) / 100] / 1000.0;
    printf("count %ld  p50 %.2f  p99 %.2f\n", count, p50, p99);
    free(payload);
    free(times);
    return 0;
}
