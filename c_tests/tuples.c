/*
 * The tuple API of HALCON/C as dlopt implements it: create_tuple*, set_*, get_*,
 * get_type, length_tuple, copy_tuple, resize_tuple, destroy_tuple, and every error path
 * (NULL pointers, tuples without storage, bad indices, wrong element types, bad lengths,
 * NULL or invalid UTF-8 strings). A failed call must leave its outputs untouched.
 */
#include <math.h>
#include <stdint.h>

#include "test_support.h"

/* HTUPLE_INITIALIZER holds no storage; destroy_tuple accepts such a tuple. */
static void test_initializer_and_destroy_null(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK(tuple.data == NULL);
    CHECK_OK(destroy_tuple(tuple));
    CHECK_OK(destroy_tuple(tuple)); /* still no storage: still fine */
}

/* create_tuple makes undefined elements; operators refuse them with 1200 + position. */
static void test_create_tuple_undefined(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 3));
    CHECK(tuple.data != NULL);
    CHECK(length_of(tuple) == 3);
    for (Hlong i = 0; i < 3; i++) {
        CHECK(type_at(tuple, i) == UNDEF_PAR);
    }

    /* Reading an undefined element as a value is a wrong-type error. */
    Hlong value = 4711;
    CHECK_ERROR(get_i(tuple, 0, &value), H_ERR_CPAR_WTYP);
    CHECK(value == 4711);

    /* As parameter 1 of an operator: 1201, naming the element. */
    Htuple result = sentinel_tuple();
    CHECK_ERROR(tuple_is_handle(tuple, &result), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("undefined");
    CHECK(result.data == SENTINEL_DATA);

    /* Partly filled: still refused, and the message names the undefined element. */
    CHECK_OK(set_i(tuple, 10, 0));
    CHECK_OK(set_i(tuple, 11, 1));
    CHECK_ERROR(tuple_is_handle(tuple, &result), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("element 2");
    CHECK(result.data == SENTINEL_DATA);

    /* As parameter 3 (Height of gen_image_const): 1203; no object is created. */
    Htuple type = tuple_s("byte");
    Htuple width = tuple_i(4);
    Hobject image = SENTINEL_OBJECT;
    CHECK_ERROR(gen_image_const(&image, type, width, tuple), H_ERR_WIPT3);
    CHECK_MESSAGE_CONTAINS("undefined");
    CHECK(image == SENTINEL_OBJECT);

    /* Once every element is set the tuple is accepted. */
    CHECK_OK(set_i(tuple, 12, 2));
    CHECK_OK(tuple_is_handle(tuple, &result));
    CHECK(int_at(result, 0) == 0);
    CHECK_OK(destroy_tuple(result));

    /* Length 0 is a valid (empty) tuple. */
    Htuple empty = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&empty, 0));
    CHECK(empty.data != NULL);
    CHECK(length_of(empty) == 0);

    CHECK_DESTROY(empty, type, width, tuple);
}

/* create_tuple_i/_d/_s/_h make one element of the right type and value. */
static void test_create_single_values(void) {
    Htuple ints[3];
    const Hlong int_values[3] = {0, INT64_MAX, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        ints[i] = tuple_i(int_values[i]);
        CHECK(length_of(ints[i]) == 1);
        CHECK(type_at(ints[i], 0) == LONG_PAR);
        CHECK(int_at(ints[i], 0) == int_values[i]);
        /* get_d converts an integer element. */
        CHECK(real_at(ints[i], 0) == (double)int_values[i]);
        CHECK_OK(destroy_tuple(ints[i]));
    }

    Htuple real = tuple_d(-2.5);
    CHECK(type_at(real, 0) == DOUBLE_PAR);
    CHECK(real_at(real, 0) == -2.5);
    CHECK_OK(destroy_tuple(real));

    Htuple negative_zero = tuple_d(-0.0);
    CHECK(real_at(negative_zero, 0) == 0.0 && signbit(real_at(negative_zero, 0)));
    CHECK_OK(destroy_tuple(negative_zero));

    Htuple not_a_number = tuple_d(NAN);
    CHECK(isnan(real_at(not_a_number, 0)));
    CHECK_OK(destroy_tuple(not_a_number));

    Htuple infinite = tuple_d(-INFINITY);
    CHECK(isinf(real_at(infinite, 0)) && real_at(infinite, 0) < 0);
    CHECK_OK(destroy_tuple(infinite));

    Htuple text = tuple_s("hello");
    CHECK(type_at(text, 0) == STRING_PAR);
    CHECK(strcmp(string_at(text, 0), "hello") == 0);
    CHECK_OK(destroy_tuple(text));

    Htuple empty_text = tuple_s("");
    CHECK(type_at(empty_text, 0) == STRING_PAR);
    CHECK(strcmp(string_at(empty_text, 0), "") == 0);
    CHECK_OK(destroy_tuple(empty_text));

    /* A handle: the number of a live dict round-trips through create_tuple_h / get_h. */
    Htuple dict = new_dict();
    CHECK(type_at(dict, 0) == HANDLE_PAR);
    Hhandle number = 0;
    CHECK_OK(get_h(dict, 0, &number));
    CHECK(number != 0);
    Htuple handle = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple_h(&handle, number));
    CHECK(type_at(handle, 0) == HANDLE_PAR);
    Hhandle read_back = 0;
    CHECK_OK(get_h(handle, 0, &read_back));
    CHECK(read_back == number);
    CHECK_DESTROY(handle, dict);
}

/* set_i/_d/_s/_h overwrite elements of any type; get_type follows. */
static void test_set_and_get(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);

    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 4));
    CHECK_OK(set_i(tuple, -7, 0));
    CHECK_OK(set_d(tuple, 0.125, 1));
    CHECK_OK(set_s(tuple, "text", 2));
    CHECK_OK(set_h(tuple, number, 3));
    CHECK(type_at(tuple, 0) == LONG_PAR);
    CHECK(type_at(tuple, 1) == DOUBLE_PAR);
    CHECK(type_at(tuple, 2) == STRING_PAR);
    CHECK(type_at(tuple, 3) == HANDLE_PAR);
    CHECK(int_at(tuple, 0) == -7);
    CHECK(real_at(tuple, 1) == 0.125);
    CHECK(strcmp(string_at(tuple, 2), "text") == 0);
    CHECK(handle_at(tuple, 3) == number);

    /* Rotate the types: every element changes type (old strings/handles are released). */
    CHECK_OK(set_s(tuple, "was an integer", 0));
    CHECK_OK(set_h(tuple, number, 1));
    CHECK_OK(set_i(tuple, 99, 2));
    CHECK_OK(set_d(tuple, 1e300, 3));
    CHECK(type_at(tuple, 0) == STRING_PAR);
    CHECK(type_at(tuple, 1) == HANDLE_PAR);
    CHECK(type_at(tuple, 2) == LONG_PAR);
    CHECK(type_at(tuple, 3) == DOUBLE_PAR);
    CHECK(strcmp(string_at(tuple, 0), "was an integer") == 0);
    CHECK(int_at(tuple, 2) == 99);
    CHECK(real_at(tuple, 3) == 1e300);

    /* Overwrite a string with a string. */
    CHECK_OK(set_s(tuple, "replaced", 0));
    CHECK(strcmp(string_at(tuple, 0), "replaced") == 0);
    CHECK(length_of(tuple) == 4);

    /* The text may come from the tuple itself: from the element being replaced, or from
     * another element (the library must copy it before releasing the old string). */
    CHECK_OK(set_s(tuple, string_at(tuple, 0), 0));
    CHECK(strcmp(string_at(tuple, 0), "replaced") == 0);
    CHECK_OK(set_s(tuple, string_at(tuple, 0), 2));
    CHECK(strcmp(string_at(tuple, 2), "replaced") == 0);
    CHECK(string_at(tuple, 2) != string_at(tuple, 0));

    CHECK_DESTROY(tuple, dict);
}

/* The pointer get_s returns stays valid (and unchanged) while the tuple lives and that
 * element is not changed, whatever happens to other elements and other tuples. */
static void test_string_pointer_lifetime(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 2));
    CHECK_OK(set_s(tuple, "stable text", 0));
    CHECK_OK(set_s(tuple, "other", 1));
    const char *pointer = string_at(tuple, 0);

    CHECK_OK(set_s(tuple, "a much longer text that needs a new allocation", 1));
    CHECK_OK(set_i(tuple, 5, 1));
    Htuple copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(tuple, &copy));
    Htuple unrelated = tuple_s("unrelated");
    CHECK_OK(destroy_tuple(unrelated));

    CHECK(strcmp(pointer, "stable text") == 0);
    CHECK(string_at(tuple, 0) == pointer);

    /* The copy has its own string. */
    const char *copied = string_at(copy, 0);
    CHECK(copied != pointer);
    CHECK(strcmp(copied, "stable text") == 0);
    CHECK_OK(destroy_tuple(tuple));
    CHECK(strcmp(copied, "stable text") == 0); /* the copy outlives the original */
    CHECK_OK(destroy_tuple(copy));
}

/* UTF-8 text round-trips byte for byte; invalid UTF-8 and NULL are wrong values (1302). */
static void test_utf8(void) {
    const char *texts[] = {"Größe ✓", "\xF0\x9F\x98\x80 emoji", "日本語", "\x7F"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        Htuple created = tuple_s(texts[i]);
        const char *read = string_at(created, 0);
        CHECK(strlen(read) == strlen(texts[i]));
        CHECK(memcmp(read, texts[i], strlen(texts[i]) + 1) == 0);

        Htuple set = HTUPLE_INITIALIZER;
        CHECK_OK(create_tuple(&set, 1));
        CHECK_OK(set_s(set, texts[i], 0));
        CHECK(memcmp(string_at(set, 0), texts[i], strlen(texts[i]) + 1) == 0);
        CHECK_DESTROY(set, created);
    }

    const char *invalid[] = {
        "\xFF",             /* never valid */
        "abc\xC3",          /* truncated 2-byte sequence */
        "\xE2\x9C",         /* truncated 3-byte sequence */
        "\xC0\xAF",         /* overlong '/' */
        "\xED\xA0\x80",     /* UTF-16 surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "ok\x80",           /* stray continuation byte */
    };
    Htuple target = tuple_s("keep me");
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        Htuple out = sentinel_tuple();
        CHECK_ERROR(create_tuple_s(&out, invalid[i]), H_ERR_WIPV2);
        CHECK_MESSAGE_CONTAINS("UTF-8");
        CHECK(out.data == SENTINEL_DATA);

        CHECK_ERROR(set_s(target, invalid[i], 0), H_ERR_WIPV2);
        CHECK_MESSAGE_CONTAINS("UTF-8");
        CHECK(strcmp(string_at(target, 0), "keep me") == 0);
    }

    Htuple out = sentinel_tuple();
    CHECK_ERROR(create_tuple_s(&out, NULL), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("NULL");
    CHECK(out.data == SENTINEL_DATA);
    CHECK_ERROR(set_s(target, NULL, 0), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("NULL");
    CHECK(strcmp(string_at(target, 0), "keep me") == 0);
    CHECK_OK(destroy_tuple(target));
}

/* length_tuple counts elements. */
static void test_length(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 1000));
    Hlong length = -1;
    CHECK_OK(length_tuple(tuple, &length));
    CHECK(length == 1000);
    CHECK_OK(destroy_tuple(tuple));
}

/* copy_tuple makes an independent copy: changes to either do not show in the other. */
static void test_copy(void) {
    Htuple original = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&original, 4));
    CHECK_OK(set_i(original, 1, 0));
    CHECK_OK(set_d(original, 2.5, 1));
    CHECK_OK(set_s(original, "three", 2));
    /* element 3 stays undefined: copied as undefined */

    Htuple copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(original, &copy));
    CHECK(copy.data != NULL && copy.data != original.data);
    CHECK(length_of(copy) == 4);
    CHECK(int_at(copy, 0) == 1);
    CHECK(real_at(copy, 1) == 2.5);
    CHECK(strcmp(string_at(copy, 2), "three") == 0);
    CHECK(string_at(copy, 2) != string_at(original, 2));
    CHECK(type_at(copy, 3) == UNDEF_PAR);

    CHECK_OK(set_i(copy, 100, 0));
    CHECK_OK(set_s(copy, "changed", 2));
    CHECK_OK(resize_tuple(&copy, 1));
    CHECK(int_at(original, 0) == 1);
    CHECK(strcmp(string_at(original, 2), "three") == 0);
    CHECK(length_of(original) == 4);

    CHECK_OK(set_d(original, -1.0, 1));
    CHECK(length_of(copy) == 1);
    CHECK(int_at(copy, 0) == 100);

    /* An empty tuple copies to an empty tuple with its own storage. */
    Htuple empty = tuple_empty();
    Htuple empty_copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(empty, &empty_copy));
    CHECK(empty_copy.data != NULL && empty_copy.data != empty.data);
    CHECK(length_of(empty_copy) == 0);

    CHECK_DESTROY(empty_copy, empty, copy, original);
}

/* resize_tuple grows with undefined elements and shrinks, releasing removed elements. */
static void test_resize(void) {
    Htuple tuple = tuple_s("first");
    CHECK_OK(resize_tuple(&tuple, 3));
    CHECK(length_of(tuple) == 3);
    CHECK(strcmp(string_at(tuple, 0), "first") == 0);
    CHECK(type_at(tuple, 1) == UNDEF_PAR);
    CHECK(type_at(tuple, 2) == UNDEF_PAR);

    CHECK_OK(set_s(tuple, "dropped when shrinking", 2));
    CHECK_OK(resize_tuple(&tuple, 1));
    CHECK(length_of(tuple) == 1);
    Hlong value = 5;
    CHECK_ERROR(get_i(tuple, 1, &value), H_ERR_CTPL_WIDX);
    CHECK(value == 5);

    /* Grow again: the new elements are undefined, not the old values. */
    CHECK_OK(resize_tuple(&tuple, 3));
    CHECK(type_at(tuple, 2) == UNDEF_PAR);

    CHECK_OK(resize_tuple(&tuple, 0));
    CHECK(length_of(tuple) == 0);
    CHECK_OK(resize_tuple(&tuple, 2));
    CHECK(type_at(tuple, 0) == UNDEF_PAR);

    /* Errors leave the tuple as it was. */
    CHECK_ERROR(resize_tuple(&tuple, -1), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("-1");
    CHECK_ERROR(resize_tuple(&tuple, DLOPT_MAX_TUPLE_LENGTH + 1), H_ERR_WIPV2);
    CHECK_ERROR(resize_tuple(&tuple, INT64_MAX), H_ERR_WIPV2);
    CHECK(length_of(tuple) == 2);
    CHECK_ERROR(resize_tuple(NULL, 1), H_ERR_WIPV1);
    Htuple no_storage = HTUPLE_INITIALIZER;
    CHECK_ERROR(resize_tuple(&no_storage, 1), H_ERR_WIPV1);
    CHECK(no_storage.data == NULL);
    CHECK_OK(destroy_tuple(tuple));
}

/* create_tuple's length: negative or above 2^27 is 1302; the output stays untouched. */
static void test_create_bad_length(void) {
    const Hlong bad[] = {-1, INT64_MIN, (Hlong)DLOPT_MAX_TUPLE_LENGTH + 1, INT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Htuple out = sentinel_tuple();
        CHECK_ERROR(create_tuple(&out, bad[i]), H_ERR_WIPV2);
        CHECK_MESSAGE_CONTAINS("length");
        CHECK(out.data == SENTINEL_DATA);
    }
}

/* NULL output pointers: 1300 + position, the message names the parameter. */
static void test_null_outputs(void) {
    CHECK_ERROR(create_tuple(NULL, 1), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_MESSAGE_CONTAINS("NULL");
    CHECK_ERROR(create_tuple_i(NULL, 1), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_ERROR(create_tuple_d(NULL, 1.0), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_ERROR(create_tuple_s(NULL, "x"), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_ERROR(create_tuple_h(NULL, 0), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");

    Htuple tuple = tuple_i(3);
    CHECK_ERROR(get_i(tuple, 0, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("value");
    CHECK_ERROR(get_d(tuple, 0, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("value");
    CHECK_ERROR(get_s(tuple, 0, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("value");
    CHECK_ERROR(get_h(tuple, 0, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("value");
    CHECK_ERROR(get_type(tuple, 0, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("element_type"); /* the header's name of the parameter */
    CHECK_ERROR(length_tuple(tuple, NULL), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("length");
    CHECK_ERROR(copy_tuple(tuple, NULL), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("NULL");
    CHECK_MESSAGE_CONTAINS("output_tuple"); /* the header's name of the parameter */
    CHECK(int_at(tuple, 0) == 3);
    CHECK_OK(destroy_tuple(tuple));
}

/* A tuple without storage (never created, or HTUPLE_INITIALIZER) is a wrong value (1301). */
static void test_no_storage(void) {
    Htuple none = HTUPLE_INITIALIZER;
    Hlong integer = 42;
    double real = 4.2;
    const char *text = "sentinel";
    Hhandle handle = 4242;
    int type = 77;
    Hlong length = 4343;
    Htuple copy = sentinel_tuple();

    CHECK_ERROR(set_i(none, 1, 0), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_ERROR(set_d(none, 1.0, 0), H_ERR_WIPV1);
    CHECK_ERROR(set_s(none, "x", 0), H_ERR_WIPV1);
    CHECK_ERROR(set_h(none, 0, 0), H_ERR_WIPV1);
    CHECK_ERROR(get_i(none, 0, &integer), H_ERR_WIPV1);
    CHECK_ERROR(get_d(none, 0, &real), H_ERR_WIPV1);
    CHECK_ERROR(get_s(none, 0, &text), H_ERR_WIPV1);
    CHECK_ERROR(get_h(none, 0, &handle), H_ERR_WIPV1);
    CHECK_ERROR(get_type(none, 0, &type), H_ERR_WIPV1);
    CHECK_ERROR(length_tuple(none, &length), H_ERR_WIPV1);
    CHECK_ERROR(copy_tuple(none, &copy), H_ERR_WIPV1);
    CHECK(integer == 42 && real == 4.2 && strcmp(text, "sentinel") == 0);
    CHECK(handle == 4242 && type == 77 && length == 4343);
    CHECK(copy.data == SENTINEL_DATA);
}

/* Index out of range (negative, = length, huge): 2402 naming index and length; outputs
 * and the tuple stay unchanged. */
static void test_index_out_of_range(void) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 2));
    CHECK_OK(set_i(tuple, 1, 0));
    CHECK_OK(set_s(tuple, "two", 1));

    Hlong integer = 42;
    double real = 4.2;
    const char *text = "sentinel";
    Hhandle handle = 4242;
    int type = 77;

    CHECK_ERROR(get_i(tuple, 2, &integer), H_ERR_CTPL_WIDX);
    CHECK_MESSAGE_CONTAINS("index 2");
    CHECK_MESSAGE_CONTAINS("length 2");
    CHECK_ERROR(get_i(tuple, -1, &integer), H_ERR_CTPL_WIDX);
    CHECK_MESSAGE_CONTAINS("-1");
    CHECK_ERROR(get_d(tuple, 2, &real), H_ERR_CTPL_WIDX);
    CHECK_ERROR(get_s(tuple, INT64_MAX, &text), H_ERR_CTPL_WIDX);
    CHECK_ERROR(get_h(tuple, INT64_MIN, &handle), H_ERR_CTPL_WIDX);
    CHECK_ERROR(get_type(tuple, 5, &type), H_ERR_CTPL_WIDX);
    CHECK_MESSAGE_CONTAINS("index 5");
    CHECK(integer == 42 && real == 4.2 && strcmp(text, "sentinel") == 0);
    CHECK(handle == 4242 && type == 77);

    CHECK_ERROR(set_i(tuple, 9, 2), H_ERR_CTPL_WIDX);
    CHECK_MESSAGE_CONTAINS("index 2");
    CHECK_MESSAGE_CONTAINS("length 2");
    CHECK_ERROR(set_d(tuple, 9.0, -1), H_ERR_CTPL_WIDX);
    CHECK_ERROR(set_s(tuple, "nine", 3), H_ERR_CTPL_WIDX);
    CHECK_ERROR(set_h(tuple, 0, INT64_MAX), H_ERR_CTPL_WIDX);
    CHECK(length_of(tuple) == 2);
    CHECK(int_at(tuple, 0) == 1);
    CHECK(strcmp(string_at(tuple, 1), "two") == 0);

    /* The empty tuple has no index 0. */
    Htuple empty = tuple_empty();
    CHECK_ERROR(get_type(empty, 0, &type), H_ERR_CTPL_WIDX);
    CHECK_MESSAGE_CONTAINS("length 0");
    CHECK_ERROR(set_i(empty, 1, 0), H_ERR_CTPL_WIDX);
    CHECK(length_of(empty) == 0);
    CHECK_DESTROY(empty, tuple);
}

/* Reading an element as the wrong type: 2401; the output stays unchanged. */
static void test_wrong_element_type(void) {
    Htuple dict = new_dict();
    Htuple tuple = tuple_of("idsh", (Hlong)1, 2.0, "3", handle_at(dict, 0));

    Hlong integer = 42;
    double real = 4.2;
    const char *text = "sentinel";
    Hhandle handle = 4242;

    CHECK_ERROR(get_i(tuple, 1, &integer), H_ERR_CPAR_WTYP); /* no real -> integer */
    CHECK_MESSAGE_CONTAINS("element 1");
    CHECK_ERROR(get_i(tuple, 2, &integer), H_ERR_CPAR_WTYP);
    CHECK_ERROR(get_i(tuple, 3, &integer), H_ERR_CPAR_WTYP);
    CHECK_ERROR(get_d(tuple, 2, &real), H_ERR_CPAR_WTYP); /* no string -> real */
    CHECK_ERROR(get_d(tuple, 3, &real), H_ERR_CPAR_WTYP);
    CHECK_ERROR(get_s(tuple, 0, &text), H_ERR_CPAR_WTYP); /* no number -> string */
    CHECK_ERROR(get_s(tuple, 1, &text), H_ERR_CPAR_WTYP);
    CHECK_ERROR(get_s(tuple, 3, &text), H_ERR_CPAR_WTYP);
    CHECK_ERROR(get_h(tuple, 0, &handle), H_ERR_CPAR_WTYP); /* no integer -> handle */
    CHECK_ERROR(get_h(tuple, 2, &handle), H_ERR_CPAR_WTYP);
    CHECK(integer == 42 && real == 4.2 && strcmp(text, "sentinel") == 0 && handle == 4242);

    CHECK_DESTROY(tuple, dict);
}

int main(void) {
    test_initializer_and_destroy_null();
    test_create_tuple_undefined();
    test_create_single_values();
    test_set_and_get();
    test_string_pointer_lifetime();
    test_utf8();
    test_length();
    test_copy();
    test_resize();
    test_create_bad_length();
    test_null_outputs();
    test_no_storage();
    test_index_out_of_range();
    test_wrong_element_type();
    return TEST_RESULT();
}
