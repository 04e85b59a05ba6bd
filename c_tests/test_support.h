/*
 * Small helpers shared by the C tests: checks that report file and line, and one-line
 * tuple constructors. Each test program counts failures and exits non-zero if any.
 */
#ifndef DLOPT_TEST_SUPPORT_H
#define DLOPT_TEST_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopt.h"

static int test_failures = 0;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
            test_failures++;                                                              \
        }                                                                                 \
    } while (0)

/* The call must succeed. */
#define CHECK_OK(call)                                                                    \
    do {                                                                                  \
        Herror check_ok_result_ = (call);                                                 \
        if (check_ok_result_ != H_MSG_TRUE) {                                             \
            fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call,     \
                    (int)check_ok_result_, dlopt_last_error_message());                   \
            test_failures++;                                                              \
        }                                                                                 \
    } while (0)

/* The call must fail with exactly `code`. */
#define CHECK_ERROR(call, code)                                                           \
    do {                                                                                  \
        Herror check_error_result_ = (call);                                              \
        if (check_error_result_ != (code)) {                                              \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__,        \
                    __LINE__, #call, (int)check_error_result_, (int)(code),               \
                    dlopt_last_error_message());                                          \
            test_failures++;                                                              \
        }                                                                                 \
    } while (0)

/* The calling thread's last error message must contain `text`. */
#define CHECK_MESSAGE_CONTAINS(text)                                                      \
    do {                                                                                  \
        const char *check_message_ = dlopt_last_error_message();                          \
        if (strstr(check_message_, (text)) == NULL) {                                     \
            fprintf(stderr, "%s:%d: last error message \"%s\" lacks \"%s\"\n", __FILE__,  \
                    __LINE__, check_message_, (text));                                    \
            test_failures++;                                                              \
        }                                                                                 \
    } while (0)

/* Exit status of a test program. */
#define TEST_RESULT() (test_failures == 0 ? 0 : 1)

static inline Htuple tuple_i(Hlong value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_i(&tuple, value));
    return tuple;
}

static inline Htuple tuple_d(double value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_d(&tuple, value));
    return tuple;
}

static inline Htuple tuple_s(const char *value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_s(&tuple, value));
    return tuple;
}

static inline Htuple tuple_empty(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 0));
    return tuple;
}

/* The integer at `index`, or -999999 (and a failure) if there is none. */
static inline Hlong int_at(Htuple tuple, Hlong index) {
    Hlong value = -999999;
    CHECK_OK(get_i(tuple, index, &value));
    return value;
}

/* The string at `index`, or "" (and a failure); valid while the tuple lives. */
static inline const char *string_at(Htuple tuple, Hlong index) {
    const char *value = "";
    CHECK_OK(get_s(tuple, index, &value));
    return value;
}

static inline Hlong length_of(Htuple tuple) {
    Hlong length = -1;
    CHECK_OK(length_tuple(tuple, &length));
    return length;
}

#endif
