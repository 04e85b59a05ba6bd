/*
 * Handles and reference counting: a dict lives while any tuple or dict refers to it;
 * clear_handle destroys at once; NULL, garbage, cleared and wrong-type handle numbers give
 * their HALCON errors; tuple_is_handle / _elem, tuple_is_valid_handle, tuple_sem_type /
 * _elem classify tuples.
 */
#include <stddef.h>
#include <stdint.h>

#include "test_support.h"

/* Uses the dict with handle `number` (through a fresh tuple made from the raw number) and
 * returns the Herror: H_MSG_TRUE while it lives, 2454 once destroyed, ... */
static Herror use_dict(Hhandle number) {
    Htuple raw = tuple_h(number);
    Htuple name = tuple_s("keys");
    Htuple no_keys = tuple_empty();
    Htuple keys = HTUPLE_INITIALIZER;
    Herror result = get_dict_param(raw, name, no_keys, &keys);
    CHECK_DESTROY(keys, no_keys, name, raw);
    return result;
}

/* Stores `value` under the string key `key_text`. */
static void set_value(Htuple dict, const char *key_text, Htuple value) {
    Htuple key = tuple_s(key_text);
    CHECK_OK(set_dict_tuple(dict, key, value));
    CHECK_OK(destroy_tuple(key));
}

static Herror get_value(Htuple dict, const char *key_text, Htuple *value) {
    Htuple key = tuple_s(key_text);
    Herror result = get_dict_tuple(dict, key, value);
    CHECK_OK(destroy_tuple(key));
    return result;
}

/* Stores a new dict under `key_text` and returns its number: `dict` holds its only reference. */
static Hhandle store_new_dict(Htuple dict, const char *key_text) {
    Htuple stored = new_dict();
    Hhandle number = handle_at(stored, 0);
    set_value(dict, key_text, stored);
    CHECK_OK(destroy_tuple(stored));
    return number;
}

/* A one-element semantic type / flag of an operator's output, as text or integer. */
static int sem_type_is(Htuple tuple, const char *expected) {
    Htuple type = HTUPLE_INITIALIZER;
    CHECK_OK(tuple_sem_type(tuple, &type));
    int same = length_of(type) == 1 && strcmp(string_at(type, 0), expected) == 0;
    if (!same) {
        fprintf(stderr, "  tuple_sem_type gave '%s', expected '%s'\n", string_at(type, 0),
                expected);
    }
    CHECK_OK(destroy_tuple(type));
    return same;
}

static Hlong is_handle(Htuple tuple) {
    Htuple flag = HTUPLE_INITIALIZER;
    CHECK_OK(tuple_is_handle(tuple, &flag));
    CHECK(length_of(flag) == 1);
    Hlong value = int_at(flag, 0);
    CHECK_OK(destroy_tuple(flag));
    return value;
}

static Hobject new_image(void) {
    Htuple type = tuple_s("byte");
    Htuple size = tuple_i(2);
    Hobject image = 0;
    CHECK_OK(gen_image_const(&image, type, size, size));
    CHECK_DESTROY(type, size);
    return image;
}

/* A dict lives while any tuple refers to it: the copy of the handle tuple keeps it after
 * the original is destroyed; destroying the last tuple destroys it (2454 afterwards). */
static void test_tuple_references(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);
    Htuple value = tuple_i(5);
    set_value(dict, "a", value);

    Htuple copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(dict, &copy));
    CHECK(handle_at(copy, 0) == number);
    CHECK_OK(destroy_tuple(dict));

    Htuple read = HTUPLE_INITIALIZER;
    CHECK_OK(get_value(copy, "a", &read));
    CHECK(int_at(read, 0) == 5);
    CHECK_OK(destroy_tuple(read));
    CHECK_OK(use_dict(number));

    CHECK_OK(destroy_tuple(copy));
    CHECK_ERROR(use_dict(number), H_ERR_HANDLE_CLEARED);
    /* The message names the parameter and the number. */
    char hex[32];
    snprintf(hex, sizeof hex, "%#llx", (unsigned long long)number);
    CHECK_MESSAGE_CONTAINS("DictHandle");
    CHECK_MESSAGE_CONTAINS(hex);

    /* set_h holds a reference too; overwriting the element releases it. */
    Htuple second = new_dict();
    Hhandle second_number = handle_at(second, 0);
    Htuple holder = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&holder, 2));
    CHECK_OK(set_h(holder, second_number, 0));
    CHECK_OK(set_h(holder, second_number, 1));
    CHECK_OK(destroy_tuple(second));
    CHECK_OK(use_dict(second_number));
    CHECK_OK(set_i(holder, 0, 0));
    CHECK_OK(use_dict(second_number)); /* element 1 still refers to it */
    CHECK_OK(resize_tuple(&holder, 1)); /* shrinking releases element 1 */
    CHECK_ERROR(use_dict(second_number), H_ERR_HANDLE_CLEARED);
    CHECK_OK(destroy_tuple(holder));

    /* The slot of a destroyed dict may be reused, but its old number never refers to the
     * new dict. */
    Htuple reused = new_dict();
    Hhandle reused_number = handle_at(reused, 0);
    CHECK(reused_number != number && reused_number != second_number);
    CHECK_ERROR(use_dict(number), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(use_dict(second_number), H_ERR_HANDLE_CLEARED);
    CHECK_OK(use_dict(reused_number));
    CHECK_OK(destroy_tuple(reused));

    CHECK_OK(destroy_tuple(value));
}

/* A dict stored in another dict lives while that dict holds it; removing or overwriting
 * the key, or destroying the outer dict, destroys it. */
static void test_dict_references(void) {
    Htuple outer = new_dict();
    Hhandle outer_number = handle_at(outer, 0);
    Htuple inner = new_dict();
    Hhandle inner_number = handle_at(inner, 0);
    Htuple payload = tuple_s("payload");
    set_value(inner, "data", payload);
    set_value(outer, "inner", inner);
    CHECK_OK(destroy_tuple(inner));

    /* Only the outer dict refers to it now. */
    CHECK_OK(use_dict(inner_number));
    Htuple got = HTUPLE_INITIALIZER;
    CHECK_OK(get_value(outer, "inner", &got));
    CHECK(handle_at(got, 0) == inner_number);
    Htuple data = HTUPLE_INITIALIZER;
    CHECK_OK(get_value(got, "data", &data));
    CHECK(strcmp(string_at(data, 0), "payload") == 0);
    CHECK_DESTROY(data, got);

    /* Removing the key destroys it. */
    Htuple key = tuple_s("inner");
    CHECK_OK(remove_dict_key(outer, key));
    CHECK_OK(destroy_tuple(key));
    CHECK_ERROR(use_dict(inner_number), H_ERR_HANDLE_CLEARED);

    /* Overwriting the key destroys it. */
    Hhandle replaced_number = store_new_dict(outer, "slot");
    CHECK_OK(use_dict(replaced_number));
    set_value(outer, "slot", payload);
    CHECK_ERROR(use_dict(replaced_number), H_ERR_HANDLE_CLEARED);

    /* Destroying the outer dict's last tuple destroys what it holds. */
    Hhandle nested_number = store_new_dict(outer, "nested");
    CHECK_OK(use_dict(nested_number));
    CHECK_OK(destroy_tuple(outer));
    CHECK_ERROR(use_dict(outer_number), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(use_dict(nested_number), H_ERR_HANDLE_CLEARED);

    CHECK_OK(destroy_tuple(payload));
}

/* clear_handle destroys at once, whatever refers to it: every later use is 2454. */
static void test_clear_handle(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);
    Htuple copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(dict, &copy));
    Htuple holder = new_dict();
    set_value(holder, "ref", dict);
    Htuple stored = HTUPLE_INITIALIZER;
    CHECK_OK(get_value(holder, "ref", &stored));

    CHECK_OK(clear_handle(dict));

    Htuple key = tuple_s("k");
    Htuple value = tuple_i(1);
    Htuple out = sentinel_tuple();
    CHECK_ERROR(set_dict_tuple(dict, key, value), H_ERR_HANDLE_CLEARED);
    CHECK_MESSAGE_CONTAINS("DictHandle");
    CHECK_ERROR(set_dict_tuple(copy, key, value), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(get_dict_tuple(stored, key, &out), H_ERR_HANDLE_CLEARED);
    CHECK(out.data == SENTINEL_DATA);
    CHECK_ERROR(use_dict(number), H_ERR_HANDLE_CLEARED);
    /* Getting the stored handle again gives the (cleared) handle, still unusable. */
    Htuple again = HTUPLE_INITIALIZER;
    CHECK_OK(get_value(holder, "ref", &again));
    CHECK_ERROR(set_dict_tuple(again, key, value), H_ERR_HANDLE_CLEARED);
    CHECK_OK(destroy_tuple(again));

    /* The element stays a handle with its number. */
    CHECK(handle_at(copy, 0) == number);
    CHECK(is_handle(copy) == 1);

    /* Clearing twice, through another tuple, or through the raw number, does nothing. */
    CHECK_OK(clear_handle(dict));
    CHECK_OK(clear_handle(copy));
    Htuple stale = tuple_h(number);
    CHECK_OK(clear_handle(stale));
    CHECK_OK(destroy_tuple(stale));

    /* Several handles at once. */
    Htuple first = new_dict();
    Htuple second = new_dict();
    Hhandle first_number = handle_at(first, 0);
    Hhandle second_number = handle_at(second, 0);
    Htuple both = tuple_of("hh", first_number, second_number);
    CHECK_OK(clear_handle(both));
    CHECK_ERROR(set_dict_tuple(first, key, value), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(set_dict_tuple(second, key, value), H_ERR_HANDLE_CLEARED);

    /* The NULL handle and the empty tuple: nothing to clear. */
    Htuple null_handle = tuple_h(0);
    CHECK_OK(clear_handle(null_handle));
    Htuple empty = tuple_empty();
    CHECK_OK(clear_handle(empty));

    CHECK_DESTROY(empty, null_handle, both, first, second, value, key, stored, holder, copy, dict);
}

/* clear_handle checks every element before clearing any: a non-handle element is 1201,
 * a never-issued number 2450, and then nothing is cleared. */
static void test_clear_handle_errors(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);

    Htuple mixed = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&mixed, 2));
    CHECK_OK(set_h(mixed, number, 0));
    CHECK_OK(set_i(mixed, (Hlong)number, 1));
    CHECK_ERROR(clear_handle(mixed), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("Handle");
    CHECK_OK(use_dict(number));

    Htuple integer = tuple_i(42);
    CHECK_ERROR(clear_handle(integer), H_ERR_WIPT1);
    Htuple string = tuple_s("dict");
    CHECK_ERROR(clear_handle(string), H_ERR_WIPT1);

    CHECK_OK(set_h(mixed, 0x123456789u, 1));
    CHECK_ERROR(clear_handle(mixed), H_ERR_WHDL);
    CHECK_MESSAGE_CONTAINS("0x123456789");
    CHECK_OK(use_dict(number));

    Htuple undefined = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&undefined, 1));
    CHECK_ERROR(clear_handle(undefined), H_ERR_WIPT1);
    Htuple none = HTUPLE_INITIALIZER;
    CHECK_ERROR(clear_handle(none), H_ERR_WIPV1);

    CHECK_DESTROY(undefined, string, integer, mixed, dict);
    CHECK_ERROR(use_dict(number), H_ERR_HANDLE_CLEARED);
}

/* Numbers that are not live dicts: garbage 2450, NULL 2453, an image 2404. create_tuple_h
 * stores them as they are. */
static void test_invalid_numbers(void) {
    Htuple key = tuple_s("k");
    Htuple value = tuple_i(1);

    Htuple garbage = tuple_h(0x123456789u);
    CHECK(handle_at(garbage, 0) == 0x123456789u);
    CHECK_ERROR(set_dict_tuple(garbage, key, value), H_ERR_WHDL);
    CHECK_MESSAGE_CONTAINS("0x123456789");
    CHECK_ERROR(use_dict(UINT64_MAX), H_ERR_WHDL);

    Htuple null_handle = tuple_h(0);
    CHECK(handle_at(null_handle, 0) == 0);
    CHECK_ERROR(set_dict_tuple(null_handle, key, value), H_ERR_HANDLE_NULL);
    CHECK_MESSAGE_CONTAINS("DictHandle");

    Hobject image = new_image();
    Htuple image_handle = tuple_h(image);
    CHECK_ERROR(set_dict_tuple(image_handle, key, value), H_ERR_WRONG_HANDLE_TYPE);
    CHECK_MESSAGE_CONTAINS("image");
    Htuple out = sentinel_tuple();
    CHECK_ERROR(get_dict_tuple(image_handle, key, &out), H_ERR_WRONG_HANDLE_TYPE);
    CHECK(out.data == SENTINEL_DATA);

    /* A number that is a plain integer, not a handle, is a wrong type. */
    Htuple dict = new_dict();
    Htuple as_integer = tuple_i((Hlong)handle_at(dict, 0));
    CHECK_ERROR(set_dict_tuple(as_integer, key, value), H_ERR_WIPT1);

    CHECK_DESTROY(as_integer, dict, image_handle);
    CHECK_OK(clear_obj(image));
    CHECK_DESTROY(null_handle, garbage, value, key);
}

/* An image handle in a tuple keeps the image after clear_obj; clear_handle destroys it. */
static void test_image_handles(void) {
    Hobject image = new_image();
    Htuple holder = tuple_h(image);
    CHECK_OK(clear_obj(image));
    Htuple channels = HTUPLE_INITIALIZER;
    CHECK_OK(count_channels(image, &channels)); /* the tuple still holds it */
    CHECK(int_at(channels, 0) == 1);
    CHECK_DESTROY(channels, holder);
    channels = sentinel_tuple();
    CHECK_ERROR(count_channels(image, &channels), H_ERR_HANDLE_CLEARED);
    CHECK(channels.data == SENTINEL_DATA);

    Hobject second = new_image();
    Htuple second_holder = tuple_h(second);
    CHECK_OK(clear_handle(second_holder));
    CHECK_ERROR(count_channels(second, &channels), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(clear_obj(second), H_ERR_HANDLE_CLEARED);
    CHECK_OK(destroy_tuple(second_holder));
}

/* tuple_is_handle: 1 if every element is a handle (also for the empty tuple). */
static void test_is_handle(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);
    Htuple empty = tuple_empty();
    Htuple integer = tuple_i((Hlong)number);
    Htuple garbage = tuple_h(0x123456789u);
    Htuple mixed = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&mixed, 4));
    CHECK_OK(set_h(mixed, number, 0));
    CHECK_OK(set_i(mixed, 7, 1));
    CHECK_OK(set_h(mixed, 0, 2));
    CHECK_OK(set_s(mixed, "x", 3));

    CHECK(is_handle(dict) == 1);
    CHECK(is_handle(empty) == 1);
    CHECK(is_handle(integer) == 0);
    CHECK(is_handle(garbage) == 1); /* a handle element, even if not a valid one */
    CHECK(is_handle(mixed) == 0);

    /* Per element. */
    Htuple flags = HTUPLE_INITIALIZER;
    CHECK_OK(tuple_is_handle_elem(mixed, &flags));
    CHECK(length_of(flags) == 4);
    CHECK(int_at(flags, 0) == 1 && int_at(flags, 1) == 0);
    CHECK(int_at(flags, 2) == 1 && int_at(flags, 3) == 0);
    CHECK_OK(destroy_tuple(flags));
    CHECK_OK(tuple_is_handle_elem(empty, &flags));
    CHECK(length_of(flags) == 0);
    CHECK_OK(destroy_tuple(flags));

    /* Errors: NULL output, undefined element. */
    CHECK_ERROR(tuple_is_handle(dict, NULL), H_ERR_WIPV2);
    CHECK_ERROR(tuple_is_handle_elem(dict, NULL), H_ERR_WIPV2);
    Htuple undefined = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&undefined, 1));
    flags = sentinel_tuple();
    CHECK_ERROR(tuple_is_handle_elem(undefined, &flags), H_ERR_WIPT1);
    CHECK(flags.data == SENTINEL_DATA);

    CHECK_DESTROY(undefined, mixed, garbage, integer, empty, dict);
}

/* tuple_is_valid_handle: per element, 1 only for a handle to a live object. */
static void test_is_valid_handle(void) {
    Htuple dict = new_dict();
    Hhandle number = handle_at(dict, 0);
    Htuple cleared = new_dict();
    Hhandle cleared_number = handle_at(cleared, 0);
    CHECK_OK(clear_handle(cleared));
    Hobject image = new_image();

    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, 7));
    CHECK_OK(set_h(tuple, number, 0));
    CHECK_OK(set_h(tuple, cleared_number, 1));
    CHECK_OK(set_h(tuple, 0x123456789u, 2));
    CHECK_OK(set_h(tuple, 0, 3));
    CHECK_OK(set_i(tuple, (Hlong)number, 4));
    CHECK_OK(set_h(tuple, image, 5));
    CHECK_OK(set_s(tuple, "dict", 6));

    Htuple valid = HTUPLE_INITIALIZER;
    CHECK_OK(tuple_is_valid_handle(tuple, &valid));
    CHECK(length_of(valid) == 7);
    const Hlong expected[7] = {1, 0, 0, 0, 0, 1, 0};
    for (Hlong i = 0; i < 7; i++) {
        CHECK(int_at(valid, i) == expected[i]);
    }
    CHECK_OK(destroy_tuple(valid));

    /* Semantic types per element. */
    Htuple types = HTUPLE_INITIALIZER;
    CHECK_OK(tuple_sem_type_elem(tuple, &types));
    CHECK(length_of(types) == 7);
    const char *expected_types[7] = {"dict",   "handle", "handle", "handle",
                                     "integer", "image", "string"};
    for (Hlong i = 0; i < 7 && i < length_of(types); i++) {
        CHECK(strcmp(string_at(types, i), expected_types[i]) == 0);
    }
    CHECK_OK(destroy_tuple(types));

    /* Clearing the dict makes its element invalid in the same tuple. */
    CHECK_OK(clear_handle(dict));
    CHECK_OK(tuple_is_valid_handle(tuple, &valid));
    CHECK(int_at(valid, 0) == 0);
    CHECK(int_at(valid, 5) == 1);
    CHECK_OK(destroy_tuple(valid));

    CHECK_ERROR(tuple_is_valid_handle(tuple, NULL), H_ERR_WIPV2);
    CHECK_ERROR(tuple_sem_type_elem(tuple, NULL), H_ERR_WIPV2);

    CHECK_OK(destroy_tuple(tuple));
    CHECK_OK(clear_obj(image));
    CHECK_DESTROY(cleared, dict);
}

/* tuple_sem_type: the type of the whole tuple. */
static void test_sem_type(void) {
    Htuple first = new_dict();
    Htuple second = new_dict();
    Hobject image = new_image();

    Htuple dicts = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&dicts, 2));
    CHECK_OK(set_h(dicts, handle_at(first, 0), 0));
    CHECK_OK(set_h(dicts, handle_at(second, 0), 1));
    CHECK(sem_type_is(first, "dict"));
    CHECK(sem_type_is(dicts, "dict"));

    Htuple image_tuple = tuple_h(image);
    CHECK(sem_type_is(image_tuple, "image"));

    /* Handles of different types, or an invalid one among them: 'handle'. */
    CHECK_OK(set_h(dicts, image, 1));
    CHECK(sem_type_is(dicts, "handle"));
    CHECK_OK(set_h(dicts, 0x123456789u, 1));
    CHECK(sem_type_is(dicts, "handle"));
    CHECK_OK(set_h(dicts, 0, 1));
    CHECK(sem_type_is(dicts, "handle"));
    CHECK_OK(set_h(dicts, handle_at(second, 0), 1));
    CHECK_OK(clear_handle(second));
    CHECK(sem_type_is(dicts, "handle"));

    /* Plain values. */
    Htuple values = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&values, 2));
    CHECK_OK(set_i(values, 1, 0));
    CHECK_OK(set_i(values, 2, 1));
    CHECK(sem_type_is(values, "integer"));
    CHECK_OK(set_d(values, 1.0, 0));
    CHECK_OK(set_d(values, 2.0, 1));
    CHECK(sem_type_is(values, "real"));
    CHECK_OK(set_s(values, "a", 0));
    CHECK_OK(set_s(values, "b", 1));
    CHECK(sem_type_is(values, "string"));
    CHECK_OK(set_i(values, 1, 0));
    CHECK(sem_type_is(values, "any")); /* integer and string */
    CHECK_OK(set_d(values, 1.0, 1));
    CHECK(sem_type_is(values, "any")); /* integer and real */
    CHECK_OK(set_h(values, handle_at(first, 0), 1));
    CHECK(sem_type_is(values, "any")); /* integer and handle */

    Htuple empty = tuple_empty();
    CHECK(sem_type_is(empty, "any"));

    CHECK_ERROR(tuple_sem_type(first, NULL), H_ERR_WIPV2);
    Htuple none = HTUPLE_INITIALIZER;
    Htuple out = sentinel_tuple();
    CHECK_ERROR(tuple_sem_type(none, &out), H_ERR_WIPV1);
    CHECK(out.data == SENTINEL_DATA);

    CHECK_DESTROY(empty, values, image_tuple, dicts);
    CHECK_OK(clear_obj(image));
    CHECK_DESTROY(second, first);
}

int main(void) {
    test_tuple_references();
    test_dict_references();
    test_clear_handle();
    test_clear_handle_errors();
    test_invalid_numbers();
    test_image_handles();
    test_is_handle();
    test_is_valid_handle();
    test_sem_type();
    return TEST_RESULT();
}
