/*
 * Small helpers shared by the C tests: checks that report file and line, sentinels for
 * outputs a failed call must not touch, one-line tuple constructors and element readers,
 * and dict and image helpers. Each test program counts failures and exits non-zero if any.
 * Every function is `static inline`, so a program that does not use one gets no
 * -Wunused-function warning. The checks bump a plain int: use them from the main thread
 * only (or join the thread before the main thread reads test_failures).
 */
#ifndef DLOPT_TEST_SUPPORT_H
#define DLOPT_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopt.h"

static int test_failures = 0;

/* `condition` must hold. */
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

/* Destroys the listed tuples in order; each destroy_tuple must succeed. */
#define CHECK_DESTROY(...)                                                                \
    check_destroy_all((const Htuple[]){__VA_ARGS__},                                      \
                      sizeof((const Htuple[]){__VA_ARGS__}) / sizeof(Htuple), __FILE__, __LINE__)

/* CHECK_DESTROY's loop; reports the caller's file and line and the argument's position. */
static inline void check_destroy_all(const Htuple *tuples, size_t count, const char *file,
                                     int line) {
    for (size_t i = 0; i < count; i++) {
        Herror result = destroy_tuple(tuples[i]);
        if (result != H_MSG_TRUE) {
            fprintf(stderr, "%s:%d: destroy_tuple of argument %zu returned %d: %s\n", file, line,
                    i + 1, (int)result, dlopt_last_error_message());
            test_failures++;
        }
    }
}

/* Exit status of a test program. */
#define TEST_RESULT() (test_failures == 0 ? 0 : 1)

/* ---- sentinels ---------------------------------------------------------------------- */

/* Storage behind SENTINEL_DATA: never passed to the library as an input, never destroyed. */
static max_align_t sentinel_storage;

/* A recognisable `data` pointer for output Htuples that a failed call must not touch. */
#define SENTINEL_DATA ((struct HtupleData *)(void *)&sentinel_storage)

/* A recognisable value for output Hobjects that a failed call must not touch. */
#define SENTINEL_OBJECT ((Hobject)0x5E47143u)

/* An output tuple holding SENTINEL_DATA. */
static inline Htuple sentinel_tuple(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    tuple.data = SENTINEL_DATA;
    return tuple;
}

/* The output of a call that returned `error`: untouched on failure, released on success. */
static inline void finish_output(Herror error, Htuple *output) {
    if (error == H_MSG_TRUE)
        destroy_tuple(*output);
    else
        CHECK(output->data == SENTINEL_DATA);
}

/* ---- tuple constructors ------------------------------------------------------------- */

/* A one-integer tuple. */
static inline Htuple tuple_i(Hlong value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_i(&tuple, value));
    return tuple;
}

/* A one-real tuple. */
static inline Htuple tuple_d(double value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_d(&tuple, value));
    return tuple;
}

/* A one-string tuple. */
static inline Htuple tuple_s(const char *value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_s(&tuple, value));
    return tuple;
}

/* A one-handle tuple (create_tuple_h: any number, live or not). */
static inline Htuple tuple_h(Hhandle value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_h(&tuple, value));
    return tuple;
}

/* A tuple of length 0. */
static inline Htuple tuple_empty(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 0));
    return tuple;
}

/* One value per letter of `types`: 'i' Hlong (cast int literals), 'd', 's', 'h' Hhandle. */
static inline Htuple tuple_of(const char *types, ...) {
    Htuple tuple = HTUPLE_INITIALIZER;
    Hlong count = (Hlong)strlen(types);
    CHECK_OK(create_tuple(&tuple, count));
    va_list args;
    va_start(args, types);
    for (Hlong i = 0; i < count; i++) {
        if (types[i] == 'i') CHECK_OK(set_i(tuple, va_arg(args, Hlong), i));
        if (types[i] == 'd') CHECK_OK(set_d(tuple, va_arg(args, double), i));
        if (types[i] == 's') CHECK_OK(set_s(tuple, va_arg(args, const char *), i));
        if (types[i] == 'h') CHECK_OK(set_h(tuple, va_arg(args, Hhandle), i));
    }
    va_end(args);
    return tuple;
}

/* ---- element readers ---------------------------------------------------------------- */

/* The element type (LONG_PAR, ...) at `index`, or -1 (and a failure) if there is none. */
static inline int type_at(Htuple tuple, Hlong index) {
    int type = -1;
    CHECK_OK(get_type(tuple, index, &type));
    return type;
}

/* The integer at `index`, or -999999 (and a failure) if there is none. */
static inline Hlong int_at(Htuple tuple, Hlong index) {
    Hlong value = -999999;
    CHECK_OK(get_i(tuple, index, &value));
    return value;
}

/* The number at `index` as a double (get_d), or -999999.0 (and a failure). */
static inline double real_at(Htuple tuple, Hlong index) {
    double value = -999999.0;
    CHECK_OK(get_d(tuple, index, &value));
    return value;
}

/* The string at `index`, or "" (and a failure); valid while the tuple lives. */
static inline const char *string_at(Htuple tuple, Hlong index) {
    const char *value = "";
    CHECK_OK(get_s(tuple, index, &value));
    return value;
}

/* The handle number at `index`, or 0 (and a failure). */
static inline Hhandle handle_at(Htuple tuple, Hlong index) {
    Hhandle value = 0;
    CHECK_OK(get_h(tuple, index, &value));
    return value;
}

/* The number of elements, or -1 (and a failure). */
static inline Hlong length_of(Htuple tuple) {
    Hlong length = -1;
    CHECK_OK(length_tuple(tuple, &length));
    return length;
}

/* ---- dicts -------------------------------------------------------------------------- */

/* A new, empty dict (a one-handle tuple). */
static inline Htuple new_dict(void) {
    Htuple dict = HTUPLE_INITIALIZER;
    CHECK_OK(create_dict(&dict));
    return dict;
}

/* Stores `value` under `key`; takes ownership of both tuples. */
static inline void put(Htuple dict, Htuple key, Htuple value) {
    CHECK_OK(set_dict_tuple(dict, key, value));
    destroy_tuple(key);
    destroy_tuple(value);
}

/* The tuple under `key` (a nested dict: one handle), empty on failure; takes `key`. */
static inline Htuple fetch(Htuple dict, Htuple key) {
    Htuple value = HTUPLE_INITIALIZER;
    CHECK_OK(get_dict_tuple(dict, key, &value));
    destroy_tuple(key);
    if (value.data == NULL) value = tuple_empty();
    return value;
}

/* Removes the string key `key`, which must succeed. */
static inline void remove_key(Htuple dict, const char *key) {
    Htuple key_tuple = tuple_s(key);
    CHECK_OK(remove_dict_key(dict, key_tuple));
    destroy_tuple(key_tuple);
}

/* Generic parameters: none (NULL), or one name with one string value. */
static inline void gen_params(const char *name, const char *value, Htuple *names, Htuple *values) {
    *names = name ? tuple_s(name) : tuple_empty();
    *values = value ? tuple_s(value) : tuple_empty();
}

/* ---- images ------------------------------------------------------------------------- */

/* The pixels of the first channel (get_image_pointer1), or NULL (and a failure). */
static inline void *pixels_of(Hobject image) {
    Htuple pointer = HTUPLE_INITIALIZER, type = HTUPLE_INITIALIZER, width = HTUPLE_INITIALIZER,
           height = HTUPLE_INITIALIZER;
    CHECK_OK(get_image_pointer1(image, &pointer, &type, &width, &height));
    void *pixels = pointer.data ? (void *)(uintptr_t)int_at(pointer, 0) : NULL;
    destroy_tuple(pointer), destroy_tuple(type), destroy_tuple(width), destroy_tuple(height);
    return pixels;
}

#endif
