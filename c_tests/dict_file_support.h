/*
 * Helpers of the dict-file C tests (dict_files.c, dict_files_hostile.c): bit-exact reals,
 * checks of single values under a key, write_dict / read_dict wrappers, and file helpers.
 * The helpers every C test may use (sentinels, tuples, put / fetch, ...) are in
 * test_support.h. Every function is `static inline`, so a program that does not use one gets
 * no -Wunused-function warning. A program defines _POSIX_C_SOURCE before including this
 * header.
 */
#ifndef DLOPT_DICT_FILE_SUPPORT_H
#define DLOPT_DICT_FILE_SUPPORT_H

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "test_support.h"

/* ---- helpers ------------------------------------------------------------------------- */

static inline uint64_t bits_of(double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline double real_of_bits(uint64_t bits) {
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* The bits of the real at `index`, which must be a DOUBLE_PAR element. */
static inline uint64_t real_bits_at(Htuple tuple, Hlong index) {
    CHECK(type_at(tuple, index) == DOUBLE_PAR);
    return bits_of(real_at(tuple, index));
}

/* Whether `key` holds exactly one integer / string / real (bit-exact) equal to `expected`.
 * These take ownership of `key`. */
static inline int is_int(Htuple dict, Htuple key, Hlong expected) {
    Htuple value = fetch(dict, key);
    int ok = length_of(value) == 1 && type_at(value, 0) == LONG_PAR && int_at(value, 0) == expected;
    destroy_tuple(value);
    return ok;
}

static inline int is_string(Htuple dict, Htuple key, const char *expected) {
    Htuple value = fetch(dict, key);
    int ok = length_of(value) == 1 && type_at(value, 0) == STRING_PAR &&
             strcmp(string_at(value, 0), expected) == 0;
    destroy_tuple(value);
    return ok;
}

static inline int is_real(Htuple dict, Htuple key, double expected) {
    Htuple value = fetch(dict, key);
    int ok = length_of(value) == 1 && real_bits_at(value, 0) == bits_of(expected);
    destroy_tuple(value);
    return ok;
}

static inline Hlong length_under(Htuple dict, Htuple key) {
    Htuple value = fetch(dict, key);
    Hlong length = length_of(value);
    destroy_tuple(value);
    return length;
}

static inline int has_key(Htuple dict, Htuple key) {
    Htuple name = tuple_s("key_exists"), exists = HTUPLE_INITIALIZER;
    CHECK_OK(get_dict_param(dict, name, key, &exists));
    int result = exists.data != NULL && int_at(exists, 0) == 1;
    destroy_tuple(name), destroy_tuple(key), destroy_tuple(exists);
    return result;
}

static inline Herror write_with(Htuple dict, const char *file, const char *name,
                                const char *value) {
    Htuple names, values, file_tuple = tuple_s(file);
    gen_params(name, value, &names, &values);
    Herror error = write_dict(dict, file_tuple, names, values);
    destroy_tuple(file_tuple), destroy_tuple(names), destroy_tuple(values);
    return error;
}

/* Reads `file`; on failure checks the output stayed untouched. */
static inline Herror try_read(const char *file, const char *name, const char *value, Htuple *dict) {
    Htuple names, values, file_tuple = tuple_s(file), out = sentinel_tuple();
    gen_params(name, value, &names, &values);
    Herror error = read_dict(file_tuple, names, values, &out);
    destroy_tuple(file_tuple), destroy_tuple(names), destroy_tuple(values);
    if (error == H_MSG_TRUE)
        *dict = out;
    else
        CHECK(out.data == SENTINEL_DATA);
    return error;
}

/* Reads `file`, which must succeed; an empty dict on failure. */
static inline Htuple read_ok(const char *file, const char *name, const char *value) {
    Htuple dict = HTUPLE_INITIALIZER;
    CHECK_OK(try_read(file, name, value, &dict));
    return dict.data ? dict : new_dict();
}

/* A read that must fail; returns its error. */
static inline Herror read_error(const char *file) {
    Htuple dict = HTUPLE_INITIALIZER;
    Herror error = try_read(file, NULL, NULL, &dict);
    if (error == H_MSG_TRUE) destroy_tuple(dict);
    return error;
}

/* Reads `file`, which must fail with `code` or `other` (0: none); `what` names the case. */
static inline void expect_read_failure(const char *file, Herror code, Herror other,
                                       const char *what) {
    Herror error = read_error(file);
    if (error != code && (other == 0 || error != other)) {
        fprintf(stderr, "%s: %s: read_dict returned %d, expected %d (%s)\n", __FILE__, what,
                (int)error, (int)code, dlopt_last_error_message());
        test_failures++;
    }
}

static inline unsigned char *load_file(const char *name, long *length) {
    *length = -1;
    FILE *file = fopen(name, "rb");
    if (!file) return NULL;
    unsigned char *bytes = malloc(1 << 20);
    *length = bytes ? (long)fread(bytes, 1, 1 << 20, file) : -1;
    fclose(file);
    return bytes;
}

static inline void save_file(const char *name, const void *bytes, size_t length) {
    FILE *file = fopen(name, "wb");
    CHECK(file != NULL);
    if (!file) return;
    CHECK(fwrite(bytes, 1, length, file) == length);
    fclose(file);
}

static inline int file_exists(const char *name) {
    struct stat info;
    return stat(name, &info) == 0;
}

/* The number of directory entries of the current directory; `hidden` counts those whose
 * name starts with '.' (where atomic writes put their temporary files), besides . and .. */
static inline int entry_count(int *hidden) {
    int count = 0;
    *hidden = 0;
    DIR *directory = opendir(".");
    CHECK(directory != NULL);
    if (!directory) return -1;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        count++;
        if (entry->d_name[0] == '.' || strstr(entry->d_name, "tmp")) (*hidden)++;
    }
    closedir(directory);
    return count;
}

#endif
