/*
 * Error reporting: get_error_text, get_extended_error_info (per thread, not reset by
 * successful calls), dlopt_error_text and dlopt_last_error_message.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "test_support.h"

/* The calling thread's extended error info, copied into plain C values. */
struct error_info {
    char operator_name[128];
    Hlong code;
    char message[1024];
};

static void copy_text(char *destination, size_t size, const char *source) {
    snprintf(destination, size, "%s", source);
}

static struct error_info read_error_info(void) {
    struct error_info info;
    memset(&info, 0, sizeof info);
    info.code = -1;
    Htuple name = HTUPLE_INITIALIZER;
    Htuple code = HTUPLE_INITIALIZER;
    Htuple message = HTUPLE_INITIALIZER;
    CHECK_OK(get_extended_error_info(&name, &code, &message));
    CHECK(length_of(name) == 1 && length_of(code) == 1 && length_of(message) == 1);
    copy_text(info.operator_name, sizeof info.operator_name, string_at(name, 0));
    info.code = int_at(code, 0);
    copy_text(info.message, sizeof info.message, string_at(message, 0));
    CHECK_DESTROY(name, code, message);
    return info;
}

/* Text of `code` through get_error_text, copied into `buffer`; returns the Herror. */
static Herror error_text_of(Htuple code, char *buffer, size_t size) {
    Htuple text = HTUPLE_INITIALIZER;
    Herror result = get_error_text(code, &text);
    if (result == H_MSG_TRUE) {
        CHECK(length_of(text) == 1);
        copy_text(buffer, size, string_at(text, 0));
        CHECK_OK(destroy_tuple(text));
    }
    return result;
}

static Herror error_text_of_code(Hlong code, char *buffer, size_t size) {
    Htuple tuple = tuple_i(code);
    Herror result = error_text_of(tuple, buffer, size);
    CHECK_OK(destroy_tuple(tuple));
    return result;
}

/* Makes get_dict_tuple fail with a missing key (2894). */
static void fail_with_missing_key(const char *key_text) {
    Htuple dict = new_dict();
    Htuple key = tuple_s(key_text);
    Htuple value = sentinel_tuple();
    CHECK_ERROR(get_dict_tuple(dict, key, &value), H_ERR_DICT_KEY);
    CHECK(value.data == SENTINEL_DATA);
    CHECK_DESTROY(key, dict);
}

/* Before any failure, a thread reports '' / 2 / '' and an empty last message. */
static void check_fresh_thread_state(void) {
    struct error_info info = read_error_info();
    CHECK(strcmp(info.operator_name, "") == 0);
    CHECK(info.code == H_MSG_TRUE);
    CHECK(strcmp(info.message, "") == 0);
    CHECK(strcmp(dlopt_last_error_message(), "") == 0);
}

/* get_error_text: texts of known numbers, a generic text for unknown ones in range. */
static void test_get_error_text(void) {
    char text[512];
    CHECK_OK(error_text_of_code(H_ERR_DICT_KEY, text, sizeof text));
    CHECK(strstr(text, "key") != NULL);
    CHECK(strcmp(text, "Dict does not contain requested key") == 0);

    CHECK_OK(error_text_of_code(H_ERR_CTPL_WIDX, text, sizeof text));
    CHECK(strcmp(text, "Wrong Hctuple index") == 0);
    CHECK_OK(error_text_of_code(H_ERR_HANDLE_CLEARED, text, sizeof text));
    CHECK(strcmp(text, "Handle was cleared") == 0);
    CHECK_OK(error_text_of_code(H_ERR_WIPV1, text, sizeof text));
    CHECK(strcmp(text, "Wrong value of control parameter 1") == 0);
    CHECK_OK(error_text_of_code(H_ERR_WRNUMCHAN, text, sizeof text));
    CHECK(strcmp(text, "Wrong number of channels") == 0);

    /* Every text equals dlopt_error_text's. */
    const Hlong known[] = {H_MSG_FALSE, H_ERR_WIPT1, H_ERR_WION1, H_ERR_WHDL, H_ERR_MEM, 9001};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        CHECK_OK(error_text_of_code(known[i], text, sizeof text));
        CHECK(strcmp(text, dlopt_error_text((Herror)known[i])) == 0);
        CHECK(strlen(text) > 0);
    }

    /* Numbers HALCON does not define, at both ends of the range: a generic text that is
     * neither empty nor the text of a real error. */
    const Hlong unknown[] = {1, 35999, 36000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_OK(error_text_of_code(unknown[i], text, sizeof text));
        CHECK(strlen(text) > 0);
        CHECK(strcmp(text, dlopt_error_text((Herror)unknown[i])) == 0);
        CHECK(strcmp(text, dlopt_error_text(H_ERR_DICT_KEY)) != 0);
    }
}

/* get_error_text's errors: out of range 1301, not an integer 1201, not one value 1401,
 * NULL output 1302. The output stays untouched. */
static void test_get_error_text_errors(void) {
    const Hlong out_of_range[] = {0, -1, 36001, 40000, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        Htuple code = tuple_i(out_of_range[i]);
        Htuple text = sentinel_tuple();
        CHECK_ERROR(get_error_text(code, &text), H_ERR_WIPV1);
        CHECK_MESSAGE_CONTAINS("ErrorCode");
        CHECK(text.data == SENTINEL_DATA);
        CHECK_OK(destroy_tuple(code));
    }
    Htuple code = tuple_i(40000);
    Htuple text = sentinel_tuple();
    CHECK_ERROR(get_error_text(code, &text), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("40000");
    CHECK_OK(destroy_tuple(code));

    Htuple real = tuple_d(2894.0);
    CHECK_ERROR(get_error_text(real, &text), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("ErrorCode");
    CHECK(text.data == SENTINEL_DATA);
    CHECK_OK(destroy_tuple(real));

    Htuple string = tuple_s("2894");
    CHECK_ERROR(get_error_text(string, &text), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("'2894'");
    CHECK(text.data == SENTINEL_DATA);
    CHECK_OK(destroy_tuple(string));

    Htuple empty = tuple_empty();
    CHECK_ERROR(get_error_text(empty, &text), H_ERR_WIPN1);
    CHECK(text.data == SENTINEL_DATA);
    CHECK_OK(destroy_tuple(empty));

    Htuple valid = tuple_i(H_ERR_DICT_KEY);
    CHECK_ERROR(get_error_text(valid, NULL), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("ErrorMessage");
    CHECK_OK(destroy_tuple(valid));

    Htuple none = HTUPLE_INITIALIZER;
    CHECK_ERROR(get_error_text(none, &text), H_ERR_WIPV1);
    CHECK(text.data == SENTINEL_DATA);
}

/* dlopt_error_text: never NULL, static, the header's texts. */
static void test_dlopt_error_text(void) {
    CHECK(strcmp(dlopt_error_text(H_ERR_DICT_KEY), "Dict does not contain requested key") == 0);
    CHECK(strcmp(dlopt_error_text(H_ERR_HANDLE_NULL), "Handle is NULL") == 0);
    CHECK(strcmp(dlopt_error_text(H_ERR_WRONG_HANDLE_TYPE), "Wrong handle type") == 0);
    CHECK(strcmp(dlopt_error_text(H_ERR_WION1), "Wrong number of values of object par. 1") == 0);
    CHECK(strcmp(dlopt_error_text(H_MSG_TRUE), "Normal return value") == 0 ||
          strcmp(dlopt_error_text(H_MSG_TRUE), "true") == 0);

    const Herror unknown[] = {0, -1, 1, 35999, 40000, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *text = dlopt_error_text(unknown[i]);
        CHECK(text != NULL);
        if (text != NULL) {
            CHECK(strlen(text) > 0);
        }
    }

    /* Static: the pointer stays valid and unchanged across other calls and failures. */
    const char *first = dlopt_error_text(H_ERR_CTPL_WIDX);
    fail_with_missing_key("static check");
    CHECK(strcmp(first, "Wrong Hctuple index") == 0);
    CHECK(dlopt_error_text(H_ERR_CTPL_WIDX) == first);
}

/* get_extended_error_info after a failure: operator, number and message naming the value.
 * A later successful call does not reset it; a later failure replaces it. */
static void test_extended_error_info(void) {
    fail_with_missing_key("no_such_key");
    struct error_info info = read_error_info();
    CHECK(strcmp(info.operator_name, "get_dict_tuple") == 0);
    CHECK(info.code == H_ERR_DICT_KEY);
    CHECK(strstr(info.message, "'no_such_key'") != NULL);
    CHECK(strcmp(info.message, dlopt_last_error_message()) == 0);

    /* Successful calls (including get_extended_error_info itself) keep it. */
    Htuple dict = new_dict();
    Htuple key = tuple_s("k");
    Htuple value = tuple_i(1);
    CHECK_OK(set_dict_tuple(dict, key, value));
    info = read_error_info();
    CHECK(strcmp(info.operator_name, "get_dict_tuple") == 0);
    CHECK(info.code == H_ERR_DICT_KEY);
    CHECK(strstr(info.message, "'no_such_key'") != NULL);

    /* A wrong-type key: the message names the parameter and the value. */
    Htuple real_key = tuple_d(1.5);
    CHECK_ERROR(set_dict_tuple(dict, real_key, value), H_ERR_WIPT2);
    info = read_error_info();
    CHECK(strcmp(info.operator_name, "set_dict_tuple") == 0);
    CHECK(info.code == H_ERR_WIPT2);
    CHECK(strstr(info.message, "Key") != NULL);
    CHECK(strstr(info.message, "1.5") != NULL);
    CHECK(strcmp(info.message, dlopt_last_error_message()) == 0);

    /* A failure of a tuple function is recorded under its name. */
    Hlong integer = 0;
    CHECK_ERROR(get_i(value, 7, &integer), H_ERR_CTPL_WIDX);
    info = read_error_info();
    CHECK(strcmp(info.operator_name, "get_i") == 0);
    CHECK(info.code == H_ERR_CTPL_WIDX);
    CHECK(strstr(info.message, "7") != NULL);

    CHECK_DESTROY(real_key, value, key, dict);
}

/* get_extended_error_info's own NULL outputs: 1301..1303, nothing written. */
static void test_extended_error_info_null_outputs(void) {
    Htuple name = sentinel_tuple();
    Htuple code = sentinel_tuple();
    Htuple message = sentinel_tuple();
    CHECK_ERROR(get_extended_error_info(NULL, &code, &message), H_ERR_WIPV1);
    CHECK_ERROR(get_extended_error_info(&name, NULL, &message), H_ERR_WIPV2);
    CHECK_ERROR(get_extended_error_info(&name, &code, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("ErrorMessage");
    CHECK(name.data == SENTINEL_DATA);
    CHECK(code.data == SENTINEL_DATA);
    CHECK(message.data == SENTINEL_DATA);
}

/* dlopt_last_error_message: stays valid across successful calls; follows failures. */
static void test_last_error_message(void) {
    fail_with_missing_key("first_key");
    const char *message = dlopt_last_error_message();
    CHECK(strstr(message, "'first_key'") != NULL);

    /* Successful calls do not invalidate or change it. */
    for (int i = 0; i < 10; i++) {
        Htuple tuple = tuple_s("filler");
        CHECK_OK(destroy_tuple(tuple));
    }
    CHECK(strstr(message, "'first_key'") != NULL);
    CHECK(dlopt_last_error_message() == message ||
          strcmp(dlopt_last_error_message(), message) == 0);

    fail_with_missing_key("second_key");
    CHECK_MESSAGE_CONTAINS("'second_key'");
    CHECK(strstr(dlopt_last_error_message(), "first_key") == NULL);
}

/* Per thread: another thread's failure does not touch this thread's info; a new thread
 * starts with '' / 2 / ''; its own failure is reported to it. */
struct thread_result {
    int failures;
    struct error_info fresh;
    struct error_info after;
    char last_message[1024];
};

static void *thread_body(void *argument) {
    struct thread_result *result = argument;
    int before = test_failures;
    result->fresh = read_error_info();
    copy_text(result->last_message, sizeof result->last_message, dlopt_last_error_message());

    Hlong value = 0;
    Htuple tuple = tuple_i(1);
    CHECK_ERROR(get_i(tuple, 3, &value), H_ERR_CTPL_WIDX);
    CHECK_OK(destroy_tuple(tuple));
    result->after = read_error_info();
    /* test_failures is only read by the main thread after pthread_join. */
    result->failures = test_failures - before;
    return NULL;
}

static void test_per_thread(void) {
    fail_with_missing_key("main_thread_key");
    struct error_info before = read_error_info();

    struct thread_result result;
    memset(&result, 0, sizeof result);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, thread_body, &result) == 0);
    CHECK(pthread_join(thread, NULL) == 0);

    CHECK(result.failures == 0);
    /* Fresh thread: nothing failed there yet, whatever failed on the main thread. */
    CHECK(strcmp(result.fresh.operator_name, "") == 0);
    CHECK(result.fresh.code == H_MSG_TRUE);
    CHECK(strcmp(result.fresh.message, "") == 0);
    CHECK(strcmp(result.last_message, "") == 0);
    /* Its own failure. */
    CHECK(strcmp(result.after.operator_name, "get_i") == 0);
    CHECK(result.after.code == H_ERR_CTPL_WIDX);

    /* The main thread's info is unchanged. */
    struct error_info after = read_error_info();
    CHECK(strcmp(after.operator_name, before.operator_name) == 0);
    CHECK(after.code == before.code && after.code == H_ERR_DICT_KEY);
    CHECK(strcmp(after.message, before.message) == 0);
    CHECK_MESSAGE_CONTAINS("'main_thread_key'");
}

int main(void) {
    /* Must run first: nothing has failed on the main thread yet. */
    check_fresh_thread_state();

    test_get_error_text();
    test_get_error_text_errors();
    test_dlopt_error_text();
    test_extended_error_info();
    test_extended_error_info_null_outputs();
    test_last_error_message();
    test_per_thread();
    return TEST_RESULT();
}
