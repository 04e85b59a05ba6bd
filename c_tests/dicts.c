/*
 * Dicts in memory: create_dict, set/get_dict_tuple, set_dict_tuple_at, set/get_dict_object,
 * remove_dict_key, get_dict_param and copy_dict, including every parameter error path.
 * Failed calls must leave their outputs untouched (checked with sentinel values).
 */
#include "test_support.h"

/* ---- helpers ------------------------------------------------------------------------- */

static Htuple tuple_ints(int count, const Hlong *values) {
    Htuple tuple = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&tuple, count));
    for (int i = 0; i < count; i++) CHECK_OK(set_i(tuple, values[i], i));
    return tuple;
}

static Hlong fetch_int(Htuple dict, Htuple key) {
    Htuple value = fetch(dict, key);
    Hlong result = length_of(value) == 1 ? int_at(value, 0) : -999999;
    destroy_tuple(value);
    return result;
}

/* get_dict_tuple into a sentinel output, which must stay untouched on failure (released on
 * success); returns the error. */
static Herror try_get(Htuple dict, Htuple key) {
    Htuple out = sentinel_tuple();
    Herror error = get_dict_tuple(dict, key, &out);
    finish_output(error, &out);
    return error;
}

/* get_dict_object into SENTINEL_OBJECT, which must stay untouched on failure (cleared on
 * success); returns the error. */
static Herror try_get_object(Htuple dict, Htuple key) {
    Hobject object = SENTINEL_OBJECT;
    Herror error = get_dict_object(&object, dict, key);
    if (error == H_MSG_TRUE)
        clear_obj(object);
    else
        CHECK(object == SENTINEL_OBJECT);
    return error;
}

/* A byte image w x h whose pixel i is (i * 7 + seed) & 0xff. */
static Hobject byte_image(Hlong width, Hlong height, int seed) {
    unsigned char pixels[64];
    for (int i = 0; i < width * height && i < 64; i++) pixels[i] = (unsigned char)(i * 7 + seed);
    Hobject image = 0;
    Htuple type = tuple_s("byte"), w = tuple_i(width), h = tuple_i(height);
    Htuple pointer = tuple_i((Hlong)(uintptr_t)pixels);
    CHECK_OK(gen_image1(&image, type, w, h, pointer));
    destroy_tuple(type), destroy_tuple(w), destroy_tuple(h), destroy_tuple(pointer);
    return image;
}

/* The object under string key `key` (0 on failure); the caller clears it. */
static Hobject fetch_object(Htuple dict, const char *key) {
    Hobject object = 0;
    Htuple key_tuple = tuple_s(key);
    CHECK_OK(get_dict_object(&object, dict, key_tuple));
    destroy_tuple(key_tuple);
    return object;
}

/* ---- set_dict_tuple / get_dict_tuple ---------------------------------------------------- */

static void test_set_and_get(void) {
    Htuple dict = new_dict();
    put(dict, tuple_s("k"), tuple_i(1));
    put(dict, tuple_s("K"), tuple_i(2));
    put(dict, tuple_i(1), tuple_s("integer one"));
    put(dict, tuple_s("1"), tuple_s("string one"));
    CHECK(fetch_int(dict, tuple_s("k")) == 1);
    CHECK(fetch_int(dict, tuple_s("K")) == 2);
    Htuple value = fetch(dict, tuple_i(1));
    CHECK(strcmp(string_at(value, 0), "integer one") == 0);
    destroy_tuple(value);
    value = fetch(dict, tuple_s("1"));
    CHECK(strcmp(string_at(value, 0), "string one") == 0);
    destroy_tuple(value);

    /* An empty tuple is a value; the key exists. */
    put(dict, tuple_s("empty"), tuple_empty());
    value = fetch(dict, tuple_s("empty"));
    CHECK(value.data != NULL && length_of(value) == 0);
    destroy_tuple(value);

    /* Mixed values including a handle (shared, not copied). */
    Htuple inner = new_dict();
    put(dict, tuple_s("mixed"), tuple_of("idsh", (Hlong)-5, 2.5, "text", handle_at(inner, 0)));
    value = fetch(dict, tuple_s("mixed"));
    CHECK(length_of(value) == 4);
    CHECK(type_at(value, 0) == LONG_PAR && int_at(value, 0) == -5);
    CHECK(type_at(value, 1) == DOUBLE_PAR && real_at(value, 1) == 2.5);
    CHECK(type_at(value, 2) == STRING_PAR && strcmp(string_at(value, 2), "text") == 0);
    CHECK(type_at(value, 3) == HANDLE_PAR && handle_at(value, 3) == handle_at(inner, 0));
    /* The stored handle is the same dict: a change through it is visible through `inner`. */
    Htuple shared = tuple_h(handle_at(value, 3));
    put(shared, tuple_s("seen"), tuple_i(9));
    CHECK(fetch_int(inner, tuple_s("seen")) == 9);
    destroy_tuple(shared);
    destroy_tuple(value);

    /* Overwriting replaces the whole value. */
    Hlong three[] = {7, 8, 9};
    put(dict, tuple_s("k"), tuple_ints(3, three));
    value = fetch(dict, tuple_s("k"));
    CHECK(length_of(value) == 3 && int_at(value, 0) == 7 && int_at(value, 2) == 9);
    destroy_tuple(value);
    put(dict, tuple_s("k"), tuple_s("short"));
    value = fetch(dict, tuple_s("k"));
    CHECK(length_of(value) == 1 && strcmp(string_at(value, 0), "short") == 0);
    destroy_tuple(value);

    /* The stored tuple is a copy of the input, and the returned tuple a copy of the stored. */
    Htuple input = tuple_i(100);
    Htuple key = tuple_s("copy");
    CHECK_OK(set_dict_tuple(dict, key, input));
    CHECK_OK(set_i(input, 200, 0));
    CHECK(fetch_int(dict, tuple_s("copy")) == 100);
    value = fetch(dict, tuple_s("copy"));
    CHECK_OK(set_i(value, 300, 0));
    destroy_tuple(value);
    CHECK(fetch_int(dict, tuple_s("copy")) == 100);
    destroy_tuple(input), destroy_tuple(key);

    /* A missing key: 2894, naming the key; the output stays untouched. */
    key = tuple_s("no_such_key");
    CHECK_ERROR(try_get(dict, key), H_ERR_DICT_KEY);
    CHECK_MESSAGE_CONTAINS("no_such_key");
    destroy_tuple(key);
    key = tuple_i(12345);
    CHECK_ERROR(try_get(dict, key), H_ERR_DICT_KEY);
    CHECK_MESSAGE_CONTAINS("12345");
    destroy_tuple(key);

    destroy_tuple(inner);
    destroy_tuple(dict);
}

/* ---- set_dict_tuple_at ---------------------------------------------------------------- */

/* Checks that the tuple under `key` holds exactly the `count` integers. */
static void check_ints(Htuple dict, const char *key, int count, const Hlong *expected, int line) {
    Htuple value = fetch(dict, tuple_s(key));
    int ok = length_of(value) == count;
    for (int i = 0; ok && i < count; i++)
        ok = type_at(value, i) == LONG_PAR && int_at(value, i) == expected[i];
    if (!ok) {
        fprintf(stderr, "%s:%d: tuple under '%s' differs from the expected one\n", __FILE__, line,
                key);
        test_failures++;
    }
    destroy_tuple(value);
}
#define CHECK_INTS(dict, key, ...)                                                           \
    do {                                                                                     \
        const Hlong expected_[] = {__VA_ARGS__};                                             \
        check_ints(dict, key, (int)(sizeof expected_ / sizeof expected_[0]), expected_,     \
                   __LINE__);                                                                \
    } while (0)

static void set_at(Htuple dict, const char *key, Htuple index, Htuple value) {
    Htuple key_tuple = tuple_s(key);
    CHECK_OK(set_dict_tuple_at(dict, key_tuple, index, value));
    destroy_tuple(key_tuple), destroy_tuple(index), destroy_tuple(value);
}

static Herror try_set_at(Htuple dict, const char *key, Htuple index, Htuple value) {
    Htuple key_tuple = tuple_s(key);
    Herror error = set_dict_tuple_at(dict, key_tuple, index, value);
    destroy_tuple(key_tuple), destroy_tuple(index), destroy_tuple(value);
    return error;
}

static void test_set_dict_tuple_at(void) {
    Htuple dict = new_dict();
    Hlong initial[] = {5, 6};
    put(dict, tuple_s("t"), tuple_ints(2, initial));
    Hlong both[] = {0, 1};

    /* One value to several indices, then one value per index. */
    set_at(dict, "t", tuple_ints(2, both), tuple_i(9));
    CHECK_INTS(dict, "t", 9, 9);
    Hlong values[] = {7, 8};
    set_at(dict, "t", tuple_ints(2, both), tuple_ints(2, values));
    CHECK_INTS(dict, "t", 7, 8);

    /* An index past the end extends the tuple with integer zeros. */
    set_at(dict, "t", tuple_i(4), tuple_i(1));
    CHECK_INTS(dict, "t", 7, 8, 0, 0, 1);

    /* A missing key gets a new tuple. */
    set_at(dict, "new", tuple_i(2), tuple_s("x"));
    Htuple value = fetch(dict, tuple_s("new"));
    CHECK(length_of(value) == 3 && int_at(value, 0) == 0 && int_at(value, 1) == 0);
    CHECK(type_at(value, 2) == STRING_PAR && strcmp(string_at(value, 2), "x") == 0);
    destroy_tuple(value);

    /* A key holding an object gets a tuple. */
    Hobject image = byte_image(2, 2, 0);
    Htuple key = tuple_s("obj");
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    set_at(dict, "obj", tuple_i(0), tuple_i(5));
    CHECK_INTS(dict, "obj", 5);
    CHECK_OK(clear_obj(image));

    /* Errors change nothing: negative index (2897), huge index (2897), value count (2895),
     * non-integer index (1203); a missing key is not created. */
    Hlong negative[] = {1, -1};
    CHECK_ERROR(try_set_at(dict, "t", tuple_ints(2, negative), tuple_i(3)),
                H_ERR_DICT_INVALID_INDEX);
    CHECK_MESSAGE_CONTAINS("-1");
    CHECK_ERROR(try_set_at(dict, "t", tuple_i((Hlong)1 << 40), tuple_i(3)),
                H_ERR_DICT_INVALID_INDEX);
    Hlong three[] = {0, 1, 2};
    CHECK_ERROR(try_set_at(dict, "t", tuple_ints(3, three), tuple_ints(2, values)),
                H_ERR_DICT_TUPLE_LENGTH);
    CHECK_ERROR(try_set_at(dict, "t", tuple_i(0), tuple_empty()), H_ERR_DICT_TUPLE_LENGTH);
    CHECK_ERROR(try_set_at(dict, "t", tuple_d(0.5), tuple_i(3)), H_ERR_WIPT3);
    CHECK_MESSAGE_CONTAINS("Index");
    CHECK_ERROR(try_set_at(dict, "t", tuple_s("0"), tuple_i(3)), H_ERR_WIPT3);
    CHECK_INTS(dict, "t", 7, 8, 0, 0, 1);
    CHECK_ERROR(try_set_at(dict, "absent", tuple_i(-1), tuple_i(3)), H_ERR_DICT_INVALID_INDEX);
    CHECK_ERROR(try_set_at(dict, "absent", tuple_ints(2, both), tuple_ints(3, three)),
                H_ERR_DICT_TUPLE_LENGTH);
    Htuple exists = HTUPLE_INITIALIZER, name = tuple_s("key_exists");
    key = tuple_s("absent");
    CHECK_OK(get_dict_param(dict, name, key, &exists));
    CHECK(exists.data != NULL && int_at(exists, 0) == 0);
    destroy_tuple(exists), destroy_tuple(name), destroy_tuple(key);

    /* A NULL Value tuple is a wrong value of parameter 4. */
    Htuple null_tuple = HTUPLE_INITIALIZER;
    CHECK_ERROR(try_set_at(dict, "t", tuple_i(0), null_tuple), H_ERR_WIPV4);
    CHECK_MESSAGE_CONTAINS("Value");
    destroy_tuple(dict);
}

/* ---- set_dict_object / get_dict_object ------------------------------------------------ */

static void test_objects(void) {
    Htuple dict = new_dict();
    Hobject image = byte_image(4, 3, 1);
    Htuple key = tuple_s("img");
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    key = tuple_i(7);
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    put(dict, tuple_s("tup"), tuple_i(1));

    /* The dict shares the pixels, and keeps the image after the caller's clear_obj. */
    const unsigned char *original = pixels_of(image);
    CHECK_OK(clear_obj(image));
    Hobject got = fetch_object(dict, "img");
    CHECK(got != 0 && pixels_of(got) == original);
    const unsigned char *pixels = pixels_of(got);
    CHECK(pixels != NULL && pixels[0] == 1 && pixels[11] == (unsigned char)(11 * 7 + 1));
    CHECK_OK(clear_obj(got));
    got = 0;
    key = tuple_i(7);
    CHECK_OK(get_dict_object(&got, dict, key));
    destroy_tuple(key);
    CHECK(got != 0 && pixels_of(got) == original);
    CHECK_OK(clear_obj(got));

    /* Wrong kind of value or missing key: outputs stay untouched. */
    key = tuple_s("img");
    CHECK_ERROR(try_get(dict, key), H_ERR_WT_CTRL_EXPECTED);
    CHECK_MESSAGE_CONTAINS("'img'");
    destroy_tuple(key);
    key = tuple_s("tup");
    CHECK_ERROR(try_get_object(dict, key), H_ERR_WT_ICONIC_EXPECTED);
    CHECK_MESSAGE_CONTAINS("'tup'");
    destroy_tuple(key);
    key = tuple_s("nothing");
    CHECK_ERROR(try_get_object(dict, key), H_ERR_DICT_KEY);
    CHECK_MESSAGE_CONTAINS("nothing");
    CHECK_ERROR(get_dict_object(NULL, dict, key), H_ERR_WION1);
    CHECK_MESSAGE_CONTAINS("Object");
    destroy_tuple(key);

    /* Object errors: NULL (2453), released and destroyed (2454), not an image (2404). */
    key = tuple_s("bad");
    CHECK_ERROR(set_dict_object(0, dict, key), H_ERR_HANDLE_NULL);
    CHECK_MESSAGE_CONTAINS("Object");
    Hobject gone = byte_image(1, 1, 0);
    CHECK_OK(clear_obj(gone));
    CHECK_ERROR(set_dict_object(gone, dict, key), H_ERR_HANDLE_CLEARED);
    CHECK_MESSAGE_CONTAINS("Object");
    CHECK_ERROR(set_dict_object(handle_at(dict, 0), dict, key), H_ERR_WRONG_HANDLE_TYPE);
    CHECK_MESSAGE_CONTAINS("Object");
    destroy_tuple(key);
    destroy_tuple(dict);
}

/* ---- remove_dict_key ------------------------------------------------------------------ */

static Htuple param(Htuple dict, const char *name, Htuple key) {
    Htuple value = HTUPLE_INITIALIZER, name_tuple = tuple_s(name);
    CHECK_OK(get_dict_param(dict, name_tuple, key, &value));
    destroy_tuple(name_tuple), destroy_tuple(key);
    if (value.data == NULL) value = tuple_empty();
    return value;
}

/* get_dict_param into a sentinel output, which must stay untouched on failure (released on
 * success); returns the error. */
static Herror try_param(Htuple dict, const char *name, Htuple key) {
    Htuple name_tuple = tuple_s(name), out = sentinel_tuple();
    Herror error = get_dict_param(dict, name_tuple, key, &out);
    finish_output(error, &out);
    destroy_tuple(name_tuple);
    return error;
}

static void test_remove(void) {
    Htuple dict = new_dict();
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) put(dict, tuple_s(names[i]), tuple_i(i));
    put(dict, tuple_i(1), tuple_i(10));
    put(dict, tuple_s("1"), tuple_i(11));

    Htuple key = tuple_s("a");
    CHECK_OK(remove_dict_key(dict, key));
    destroy_tuple(key);
    key = tuple_of("ss", "b", "c");
    CHECK_OK(remove_dict_key(dict, key));
    destroy_tuple(key);
    key = tuple_i(1);
    CHECK_OK(remove_dict_key(dict, key));
    destroy_tuple(key);
    CHECK(fetch_int(dict, tuple_s("1")) == 11);

    /* A missing key is reported, but the present ones are removed. */
    key = tuple_of("ss", "x_missing", "d");
    CHECK_ERROR(remove_dict_key(dict, key), H_ERR_DICT_KEY);
    CHECK_MESSAGE_CONTAINS("x_missing");
    destroy_tuple(key);
    Htuple keys = param(dict, "keys", tuple_empty());
    CHECK(length_of(keys) == 1 && strcmp(string_at(keys, 0), "1") == 0);
    destroy_tuple(keys);
    key = tuple_d(1.0);
    CHECK_ERROR(remove_dict_key(dict, key), H_ERR_WIPT2);
    CHECK_MESSAGE_CONTAINS("Key");
    destroy_tuple(key);
    destroy_tuple(dict);
}

/* ---- get_dict_param ------------------------------------------------------------------- */

static void test_get_dict_param(void) {
    Htuple dict = new_dict();
    Htuple keys = param(dict, "keys", tuple_empty());
    CHECK(keys.data != NULL && length_of(keys) == 0);
    destroy_tuple(keys);

    put(dict, tuple_s("b"), tuple_i(1));
    put(dict, tuple_i(3), tuple_i(2));
    put(dict, tuple_s("a"), tuple_i(3));
    put(dict, tuple_s("b"), tuple_i(4)); /* overwriting keeps the position */
    Hobject image = byte_image(1, 1, 0);
    Htuple key = tuple_s("obj");
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    CHECK_OK(clear_obj(image));

    keys = param(dict, "keys", tuple_empty());
    CHECK(length_of(keys) == 4);
    CHECK(type_at(keys, 0) == STRING_PAR && strcmp(string_at(keys, 0), "b") == 0);
    CHECK(type_at(keys, 1) == LONG_PAR && int_at(keys, 1) == 3);
    CHECK(type_at(keys, 2) == STRING_PAR && strcmp(string_at(keys, 2), "a") == 0);
    CHECK(type_at(keys, 3) == STRING_PAR && strcmp(string_at(keys, 3), "obj") == 0);
    destroy_tuple(keys);

    Htuple exists = param(dict, "key_exists", tuple_of("ssis", "b", "zz", (Hlong)3, "3"));
    CHECK(length_of(exists) == 4);
    CHECK(int_at(exists, 0) == 1 && int_at(exists, 1) == 0);
    CHECK(int_at(exists, 2) == 1 && int_at(exists, 3) == 0);
    destroy_tuple(exists);

    Htuple types = param(dict, "key_data_type", tuple_of("sss", "a", "obj", "none_here"));
    CHECK(length_of(types) == 3);
    CHECK(strcmp(string_at(types, 0), "tuple") == 0);
    CHECK(strcmp(string_at(types, 1), "object") == 0);
    CHECK(strcmp(string_at(types, 2), "none") == 0);
    destroy_tuple(types);

    /* Errors: non-empty Key for 'keys' (1303), unknown name (1302), bad key type (1203),
     * NULL output (1304); the output stays untouched. */
    key = tuple_s("a");
    CHECK_ERROR(try_param(dict, "keys", key), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("Key");
    CHECK_ERROR(try_param(dict, "no_such_param", key), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("no_such_param");
    destroy_tuple(key);
    key = tuple_d(2.5);
    CHECK_ERROR(try_param(dict, "key_exists", key), H_ERR_WIPT3);
    CHECK_MESSAGE_CONTAINS("2.5");
    destroy_tuple(key);
    Htuple name = tuple_s("key_exists");
    key = tuple_s("a");
    CHECK_ERROR(get_dict_param(dict, name, key, NULL), H_ERR_WIPV4);
    CHECK_MESSAGE_CONTAINS("GenParamValue");
    destroy_tuple(name), destroy_tuple(key);
    destroy_tuple(dict);
}

/* ---- copy_dict ------------------------------------------------------------------------ */

static Htuple copy_with(Htuple dict, const char *name, const char *value) {
    Htuple names, values, copy = HTUPLE_INITIALIZER;
    gen_params(name, value, &names, &values);
    CHECK_OK(copy_dict(dict, names, values, &copy));
    destroy_tuple(names), destroy_tuple(values);
    return copy.data ? copy : new_dict();
}

static Herror try_copy(Htuple dict, Htuple names, Htuple values) {
    Htuple out = sentinel_tuple();
    Herror error = copy_dict(dict, names, values, &out);
    finish_output(error, &out);
    destroy_tuple(names), destroy_tuple(values);
    return error;
}

static void test_copy_dict(void) {
    Htuple dict = new_dict(), nested = new_dict();
    put(nested, tuple_s("v"), tuple_i(1));
    put(dict, tuple_s("nested"), tuple_h(handle_at(nested, 0)));
    put(dict, tuple_s("x"), tuple_i(5));
    Hobject image = byte_image(4, 4, 3);
    Htuple key = tuple_s("img");
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    const unsigned char *original_pixels = pixels_of(image);
    CHECK_OK(clear_obj(image));

    /* Default: deep. The nested dict and the image are copies. */
    Htuple copy = copy_with(dict, NULL, NULL);
    CHECK(handle_at(copy, 0) != handle_at(dict, 0));
    Htuple copied_nested = fetch(copy, tuple_s("nested"));
    CHECK(length_of(copied_nested) == 1 && handle_at(copied_nested, 0) != handle_at(nested, 0));
    put(copied_nested, tuple_s("v"), tuple_i(2));
    CHECK(fetch_int(copied_nested, tuple_s("v")) == 2);
    CHECK(fetch_int(nested, tuple_s("v")) == 1);
    put(copy, tuple_s("x"), tuple_i(6));
    CHECK(fetch_int(dict, tuple_s("x")) == 5);
    destroy_tuple(copied_nested);
    Hobject copied_image = fetch_object(copy, "img");
    const unsigned char *copied_pixels = pixels_of(copied_image);
    CHECK(copied_pixels != NULL && copied_pixels != original_pixels);
    CHECK(copied_pixels && original_pixels && memcmp(copied_pixels, original_pixels, 16) == 0);
    CHECK_OK(clear_obj(copied_image));
    destroy_tuple(copy);

    /* 'deep_copy' 'false': a new dict sharing the nested dict and the image. */
    copy = copy_with(dict, "deep_copy", "false");
    CHECK(handle_at(copy, 0) != handle_at(dict, 0));
    copied_nested = fetch(copy, tuple_s("nested"));
    CHECK(length_of(copied_nested) == 1 && handle_at(copied_nested, 0) == handle_at(nested, 0));
    put(copied_nested, tuple_s("v"), tuple_i(3));
    CHECK(fetch_int(nested, tuple_s("v")) == 3);
    destroy_tuple(copied_nested);
    copied_image = fetch_object(copy, "img");
    CHECK(pixels_of(copied_image) == original_pixels);
    CHECK_OK(clear_obj(copied_image));
    put(copy, tuple_s("x"), tuple_i(7));
    CHECK(fetch_int(dict, tuple_s("x")) == 5);
    destroy_tuple(copy);

    /* Cycles: directly and through a nested dict (2456). Broken afterwards (else a leak). */
    put(dict, tuple_s("self"), tuple_h(handle_at(dict, 0)));
    CHECK_ERROR(try_copy(dict, tuple_empty(), tuple_empty()), H_ERR_HANDLE_CYCLES);
    CHECK_ERROR(try_copy(dict, tuple_s("raise_error_if_content_not_serializable"),
                         tuple_s("false")),
                H_ERR_HANDLE_CYCLES);
    remove_key(dict, "self");
    put(nested, tuple_s("back"), tuple_h(handle_at(dict, 0)));
    CHECK_ERROR(try_copy(dict, tuple_empty(), tuple_empty()), H_ERR_HANDLE_CYCLES);
    remove_key(nested, "back");

    /* A cleared nested handle: 2454, or a NULL handle with the content policy 'false'. */
    Htuple doomed = new_dict();
    put(dict, tuple_s("cleared"), tuple_h(handle_at(doomed, 0)));
    CHECK_OK(clear_handle(doomed));
    destroy_tuple(doomed);
    CHECK_ERROR(try_copy(dict, tuple_empty(), tuple_empty()), H_ERR_HANDLE_CLEARED);
    CHECK_MESSAGE_CONTAINS("cleared");
    copy = copy_with(dict, "raise_error_if_content_not_serializable", "false");
    Htuple value = fetch(copy, tuple_s("cleared"));
    CHECK(length_of(value) == 1 && type_at(value, 0) == HANDLE_PAR && handle_at(value, 0) == 0);
    destroy_tuple(value);
    CHECK(fetch_int(copy, tuple_s("x")) == 5);
    destroy_tuple(copy);

    /* Generic parameter errors. */
    CHECK_ERROR(try_copy(dict, tuple_s("no_such_option"), tuple_s("true")), H_ERR_WIPV2);
    CHECK_MESSAGE_CONTAINS("no_such_option");
    CHECK_ERROR(try_copy(dict, tuple_s("deep_copy"), tuple_empty()), H_ERR_WIPN3);
    CHECK_ERROR(try_copy(dict, tuple_empty(), tuple_s("true")), H_ERR_WIPN3);
    CHECK_ERROR(try_copy(dict, tuple_s("deep_copy"), tuple_s("maybe")), H_ERR_WIPV3);
    CHECK_ERROR(try_copy(dict, tuple_i(1), tuple_s("true")), H_ERR_WIPT2);
    Htuple names = tuple_empty(), values = tuple_empty();
    CHECK_ERROR(copy_dict(dict, names, values, NULL), H_ERR_WIPV4);
    CHECK_MESSAGE_CONTAINS("CopiedDictHandle");
    destroy_tuple(names), destroy_tuple(values);

    destroy_tuple(nested);
    destroy_tuple(dict);
}

/* ---- parameter errors common to the dict operators ------------------------------------ */

static Hobject g_image; /* the object set_dict_object stores in these checks */

static Herror op_set_dict_tuple(Htuple dict, Htuple key) {
    Htuple value = tuple_i(1);
    Herror error = set_dict_tuple(dict, key, value);
    destroy_tuple(value);
    return error;
}

static Herror op_set_dict_tuple_at(Htuple dict, Htuple key) {
    Htuple index = tuple_i(0), value = tuple_i(1);
    Herror error = set_dict_tuple_at(dict, key, index, value);
    destroy_tuple(index), destroy_tuple(value);
    return error;
}

static Herror op_set_dict_object(Htuple dict, Htuple key) {
    return set_dict_object(g_image, dict, key);
}

static Herror op_remove_dict_key(Htuple dict, Htuple key) { return remove_dict_key(dict, key); }

static Herror op_get_dict_param(Htuple dict, Htuple key) {
    return try_param(dict, "key_exists", key);
}

static Herror op_copy_dict(Htuple dict, Htuple key) {
    (void)key;
    return try_copy(dict, tuple_empty(), tuple_empty());
}

static const struct {
    const char *name;
    Herror (*call)(Htuple dict, Htuple key);
    Herror key_count_error; /* 0: any number of keys is valid */
    Herror key_type_error;  /* 0: the operator has no Key */
} operators[] = {
    {"set_dict_tuple", op_set_dict_tuple, H_ERR_WIPN2, H_ERR_WIPT2},
    {"get_dict_tuple", try_get, H_ERR_WIPN2, H_ERR_WIPT2},
    {"set_dict_tuple_at", op_set_dict_tuple_at, H_ERR_WIPN2, H_ERR_WIPT2},
    {"set_dict_object", op_set_dict_object, H_ERR_WIPN2, H_ERR_WIPT2},
    {"get_dict_object", try_get_object, H_ERR_WIPN2, H_ERR_WIPT2},
    {"remove_dict_key", op_remove_dict_key, 0, H_ERR_WIPT2},
    {"get_dict_param", op_get_dict_param, 0, H_ERR_WIPT3},
    {"copy_dict", op_copy_dict, 0, 0},
};
#define OPERATOR_COUNT ((int)(sizeof operators / sizeof operators[0]))

/* Reports which operator and case failed, with the library's message. */
static void expect(Herror actual, Herror expected, const char *operator_name, const char *what,
                   const char *message_part) {
    const char *message = dlopt_last_error_message();
    if (actual != expected) {
        fprintf(stderr, "%s:%d: %s with %s returned %d, expected %d (%s)\n", __FILE__, __LINE__,
                operator_name, what, (int)actual, (int)expected, message);
        test_failures++;
    } else if (strstr(message, message_part) == NULL) {
        fprintf(stderr, "%s:%d: %s with %s: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,
                operator_name, what, message, message_part);
        test_failures++;
    }
}

static void test_parameter_errors(void) {
    Htuple dict = new_dict(), other = new_dict(), cleared = new_dict();
    put(dict, tuple_s("k"), tuple_i(1));
    g_image = byte_image(2, 2, 0);
    CHECK_OK(clear_handle(cleared));

    struct {
        const char *what;
        Htuple tuple;
        Herror code;
    } bad_handles[] = {
        {"no handle", tuple_empty(), H_ERR_WIPN1},
        {"two handles", tuple_of("hh", handle_at(dict, 0), handle_at(other, 0)), H_ERR_WIPN1},
        {"an integer", tuple_i(5), H_ERR_WIPT1},
        {"a string", tuple_s("dict"), H_ERR_WIPT1},
        {"an undefined element", HTUPLE_INITIALIZER, H_ERR_WIPT1},
        {"a cleared dict", cleared, H_ERR_HANDLE_CLEARED},
        {"the NULL handle", tuple_h(0), H_ERR_HANDLE_NULL},
        {"an unknown number", tuple_h(((Hhandle)0x7FFFFFF0 << 32) | ((Hhandle)1 << 24) | 3),
         H_ERR_WHDL},
        {"an image handle", tuple_h(g_image), H_ERR_WRONG_HANDLE_TYPE},
        {"a destroyed Htuple", HTUPLE_INITIALIZER, H_ERR_WIPV1},
    };
    CHECK_OK(create_tuple(&bad_handles[4].tuple, 1));
    const int bad_handle_count = (int)(sizeof bad_handles / sizeof bad_handles[0]);

    Htuple key = tuple_s("k");
    for (int op = 0; op < OPERATOR_COUNT; op++)
        for (int i = 0; i < bad_handle_count; i++)
            expect(operators[op].call(bad_handles[i].tuple, key), bad_handles[i].code,
                   operators[op].name, bad_handles[i].what, "DictHandle");
    destroy_tuple(key);
    for (int i = 0; i < bad_handle_count; i++) destroy_tuple(bad_handles[i].tuple);

    struct {
        const char *what;
        Htuple tuple;
        int count_error; /* 1: a count error where one key is required, else valid */
        const char *message_part;
    } bad_keys[] = {
        {"no key", tuple_empty(), 1, "Key"},
        {"two keys", tuple_of("ss", "k", "j"), 1, "Key"},
        {"a real key", tuple_d(1.5), 0, "1.5"},
        {"a handle key", tuple_h(handle_at(other, 0)), 0, "Key"},
        {"an undefined key", HTUPLE_INITIALIZER, 0, "Key"},
    };
    CHECK_OK(create_tuple(&bad_keys[4].tuple, 1));
    const int bad_key_count = (int)(sizeof bad_keys / sizeof bad_keys[0]);
    Htuple null_key = HTUPLE_INITIALIZER;
    for (int op = 0; op < OPERATOR_COUNT; op++) {
        if (operators[op].key_type_error == 0) continue;
        for (int i = 0; i < bad_key_count; i++) {
            if (bad_keys[i].count_error && operators[op].key_count_error == 0) continue;
            Herror code = bad_keys[i].count_error ? operators[op].key_count_error
                                                  : operators[op].key_type_error;
            expect(operators[op].call(dict, bad_keys[i].tuple), code, operators[op].name,
                   bad_keys[i].what, bad_keys[i].message_part);
        }
        /* A destroyed Key tuple is a wrong value (1300 + position). */
        expect(operators[op].call(dict, null_key), operators[op].key_type_error + 100,
               operators[op].name, "a destroyed Key", "Key");
    }
    for (int i = 0; i < bad_key_count; i++) destroy_tuple(bad_keys[i].tuple);

    /* NULL output pointers and bad value tuples: the wrong value of that position. */
    CHECK_ERROR(create_dict(NULL), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("DictHandle");
    key = tuple_s("k");
    CHECK_ERROR(get_dict_tuple(dict, key, NULL), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("Tuple");
    Htuple destroyed = HTUPLE_INITIALIZER, undefined = HTUPLE_INITIALIZER;
    CHECK_ERROR(set_dict_tuple(dict, key, destroyed), H_ERR_WIPV3);
    CHECK_MESSAGE_CONTAINS("Tuple");
    CHECK_OK(create_tuple(&undefined, 2));
    CHECK_OK(set_i(undefined, 1, 0));
    CHECK_ERROR(set_dict_tuple(dict, key, undefined), H_ERR_WIPT3);
    CHECK_MESSAGE_CONTAINS("Tuple");
    destroy_tuple(undefined);
    CHECK(fetch_int(dict, tuple_s("k")) == 1); /* the failed calls changed nothing */
    destroy_tuple(key);

    CHECK_OK(clear_obj(g_image));
    destroy_tuple(other);
    destroy_tuple(dict);
}

int main(void) {
    test_set_and_get();
    test_set_dict_tuple_at();
    test_objects();
    test_remove();
    test_get_dict_param();
    test_copy_dict();
    test_parameter_errors();
    return TEST_RESULT();
}
