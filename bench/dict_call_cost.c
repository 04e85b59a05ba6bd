/*
 * C-ABI call cost: get_dict_tuple of a one-element value (plus destroy_tuple of the result),
 * on one thread and on N threads reading the SAME dict at once. Reports ns per call and
 * the N-thread throughput relative to one thread; readers must not serialise.
 *
 * Usage: dict_call_cost [calls_per_thread] [threads]   (defaults: 2000000, 2)
 * Prints one line per run and a JSON line at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dlopt.h"

static Htuple shared_dict;
static long calls_per_thread;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *reader(void *unused) {
    (void)unused;
    /* Each thread reads with its own handle and key tuples, as a real program would. */
    Htuple dict = HTUPLE_INITIALIZER, key = HTUPLE_INITIALIZER;
    if (copy_tuple(shared_dict, &dict) != H_MSG_TRUE || create_tuple_s(&key, "value") != H_MSG_TRUE) {
        fprintf(stderr, "setup failed: %s\n", dlopt_last_error_message());
        exit(1);
    }
    long checksum = 0;
    for (long call = 0; call < calls_per_thread; call++) {
        Htuple value = HTUPLE_INITIALIZER;
        if (get_dict_tuple(dict, key, &value) != H_MSG_TRUE) {
            fprintf(stderr, "get_dict_tuple failed: %s\n", dlopt_last_error_message());
            exit(1);
        }
        Hlong read = 0;
        get_i(value, 0, &read);
        checksum += read;
        destroy_tuple(value);
    }
    destroy_tuple(key);
    destroy_tuple(dict);
    if (checksum != 42 * calls_per_thread) {
        fprintf(stderr, "wrong values read\n");
        exit(1);
    }
    return NULL;
}

/* Runs `threads` readers at once; returns the wall time in seconds. */
static double run(int threads) {
    pthread_t ids[64];
    double start = now_seconds();
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, reader, NULL);
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    return now_seconds() - start;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    calls_per_thread = argc > 1 ? atol(argv[1]) : 2000000;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (threads < 2 || threads > 64 || calls_per_thread < 1) {
        fprintf(stderr, "usage: dict_call_cost [calls_per_thread >= 1] [threads 2..64]\n");
        return 2;
    }
    Htuple key = HTUPLE_INITIALIZER, value = HTUPLE_INITIALIZER;
    create_dict(&shared_dict);
    create_tuple_s(&key, "value");
    create_tuple_i(&value, 42);
    set_dict_tuple(shared_dict, key, value);

    enum { ROUNDS = 7 };
    double single[ROUNDS], multi[ROUNDS];
    run(1); /* warm-up */
    for (int round = 0; round < ROUNDS; round++) { /* interleaved, so drift hits both alike */
        single[round] = run(1);
        multi[round] = run(threads);
    }
    qsort(single, ROUNDS, sizeof(double), compare);
    qsort(multi, ROUNDS, sizeof(double), compare);
    double ns_single = single[ROUNDS / 2] * 1e9 / (double)calls_per_thread;
    double throughput_single = (double)calls_per_thread / single[ROUNDS / 2];
    double throughput_multi = (double)calls_per_thread * threads / multi[ROUNDS / 2];
    printf("get_dict_tuple + destroy_tuple, one-element value, %ld calls per thread, median of %d rounds\n",
           calls_per_thread, ROUNDS);
    printf("  1 thread : %.1f ns/call (min %.1f, max %.1f), %.2f Mcalls/s\n", ns_single,
           single[0] * 1e9 / (double)calls_per_thread, single[ROUNDS - 1] * 1e9 / (double)calls_per_thread,
           throughput_single / 1e6);
    printf("  %d threads: %.2f Mcalls/s total, %.2fx the one-thread throughput\n", threads,
           throughput_multi / 1e6, throughput_multi / throughput_single);
    printf("{\"ns_per_call_1_thread\": %.1f, \"threads\": %d, \"scaling\": %.3f}\n", ns_single, threads,
           throughput_multi / throughput_single);
    destroy_tuple(value);
    destroy_tuple(key);
    destroy_tuple(shared_dict);
    return 0;
}
