/*
 * Dicts in files: write_dict / read_dict in dlopt's binary format and in JSON, dict_to_json /
 * json_to_dict, and atomic writes. Hostile and truncated files are in dict_files_hostile.c.
 * Runs in a fresh temporary directory and uses relative file names.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "dict_file_support.h"

/* ---- images --------------------------------------------------------------------------- */

static const struct {
    const char *key, *type;
    int channels, bytes_per_pixel;
    Hlong width, height;
} images[] = {
    {"img_byte", "byte", 1, 1, 5, 3}, {"img_byte3", "byte", 3, 1, 4, 2},
    {"img_int1", "int1", 1, 1, 3, 3}, {"img_uint2", "uint2", 1, 2, 7, 2},
    {"img_int2", "int2", 3, 2, 2, 5}, {"img_int4", "int4", 1, 4, 3, 1},
    {"img_int8", "int8", 1, 8, 2, 2}, {"img_real", "real", 1, 4, 3, 4},
    {"img_real3", "real", 3, 4, 1, 1},
};
#define IMAGE_COUNT ((int)(sizeof images / sizeof images[0]))

static size_t image_bytes(int i) {
    return (size_t)(images[i].width * images[i].height * images[i].bytes_per_pixel);
}

/* Byte `at` of channel `channel` of image `i`. */
static unsigned char pattern(size_t at, int i, int channel) {
    return (unsigned char)(at * 31 + (size_t)i * 7 + (size_t)channel * 101);
}

/* Image `i` of the table, its bytes following pattern(). */
static Hobject make_image(int i) {
    unsigned char *planes[3];
    Htuple pointers[3];
    for (int c = 0; c < 3; c++) {
        planes[c] = malloc(image_bytes(i));
        for (size_t at = 0; planes[c] && at < image_bytes(i); at++)
            planes[c][at] = pattern(at, i, c);
        pointers[c] = tuple_i((Hlong)(uintptr_t)planes[c]);
    }
    Hobject image = 0;
    Htuple t = tuple_s(images[i].type), w = tuple_i(images[i].width), h = tuple_i(images[i].height);
    if (images[i].channels == 3)
        CHECK_OK(gen_image3(&image, t, w, h, pointers[0], pointers[1], pointers[2]));
    else
        CHECK_OK(gen_image1(&image, t, w, h, pointers[0]));
    destroy_tuple(t), destroy_tuple(w), destroy_tuple(h);
    for (int c = 0; c < 3; c++) destroy_tuple(pointers[c]), free(planes[c]);
    return image;
}

static void put_image(Htuple dict, int i) {
    Hobject image = make_image(i);
    Htuple key = tuple_s(images[i].key);
    CHECK_OK(set_dict_object(image, dict, key));
    destroy_tuple(key);
    CHECK_OK(clear_obj(image));
}

/* Whether the object under images[i].key is exactly make_image(i): type, size, pixels. */
static int image_matches(Htuple dict, int i) {
    Hobject image = 0;
    Htuple key = tuple_s(images[i].key), count = HTUPLE_INITIALIZER, type = HTUPLE_INITIALIZER;
    Htuple width = HTUPLE_INITIALIZER, height = HTUPLE_INITIALIZER, pointers[3] = {{0}};
    CHECK_OK(get_dict_object(&image, dict, key));
    int same = image != 0 && count_channels(image, &count) == H_MSG_TRUE &&
               int_at(count, 0) == images[i].channels;
    if (same && images[i].channels == 3)
        same = get_image_pointer3(image, &pointers[0], &pointers[1], &pointers[2], &type, &width,
                                  &height) == H_MSG_TRUE;
    else if (same)
        same = get_image_pointer1(image, &pointers[0], &type, &width, &height) == H_MSG_TRUE;
    same = same && strcmp(string_at(type, 0), images[i].type) == 0 &&
           int_at(width, 0) == images[i].width && int_at(height, 0) == images[i].height;
    for (int c = 0; same && c < images[i].channels; c++) {
        const unsigned char *bytes = (const unsigned char *)(uintptr_t)int_at(pointers[c], 0);
        for (size_t at = 0; same && at < image_bytes(i); at++)
            same = bytes[at] == pattern(at, i, c);
    }
    destroy_tuple(key), destroy_tuple(count), destroy_tuple(type), destroy_tuple(width);
    destroy_tuple(height);
    for (int c = 0; c < 3; c++) destroy_tuple(pointers[c]);
    clear_obj(image);
    return same;
}

/* ---- a dict with every kind of content ---------------------------------------------- */

#define UTF8_TEXT "Gr\xc3\xbc\xc3\x9f" "e \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"
static const uint64_t NAN_BITS = 0x7FF8000000000123ull;

static Htuple build_rich_dict(void) {
    Htuple dict = new_dict(), level1 = new_dict(), level2 = new_dict(), level3 = new_dict();
    Htuple member = new_dict();
    put(dict, tuple_s("int"), tuple_i(42));
    put(dict, tuple_s("ints"), tuple_of("iiii", (Hlong)INT64_MIN, (Hlong)INT64_MAX, (Hlong)-1,
                                         (Hlong)0));
    put(dict, tuple_s("reals"), tuple_of("dddddd", 0.1, 1e300, -0.0, 5e-324, -HUGE_VAL,
                                          real_of_bits(NAN_BITS)));
    put(dict, tuple_s("str"), tuple_s("hello"));
    put(dict, tuple_s("strs"), tuple_of("sss", "", "a b", UTF8_TEXT));
    put(dict, tuple_s("empty"), tuple_empty());
    put(member, tuple_s("inside"), tuple_s("yes"));
    put(dict, tuple_s("mixed"), tuple_of("idsh", (Hlong)1, 2.5, "x", handle_at(member, 0)));
    put(dict, tuple_i(7), tuple_s("seven"));
    put(dict, tuple_s("7"), tuple_s("string seven"));
    put(dict, tuple_i(-3), tuple_d(-3.5));
    put(level3, tuple_s("leaf"), tuple_s("deep"));
    put(level3, tuple_s("e"), tuple_empty());
    put(level2, tuple_s("n"), tuple_i(2));
    put(level2, tuple_i(5), tuple_s("five"));
    put(level2, tuple_s("level3"), tuple_of("h", handle_at(level3, 0)));
    put(level1, tuple_s("n"), tuple_i(1));
    put(level1, tuple_s("level2"), tuple_of("h", handle_at(level2, 0)));
    put(dict, tuple_s("level1"), tuple_of("h", handle_at(level1, 0)));
    for (int i = 0; i < IMAGE_COUNT; i++) put_image(dict, i);
    destroy_tuple(level1), destroy_tuple(level2), destroy_tuple(level3), destroy_tuple(member);
    return dict;
}

static void verify_rich_dict(Htuple dict, const char *where) {
    int failures_before = test_failures;
    Htuple name = tuple_s("keys"), none = tuple_empty(), keys = HTUPLE_INITIALIZER;
    CHECK_OK(get_dict_param(dict, name, none, &keys));
    destroy_tuple(name), destroy_tuple(none);
    CHECK(keys.data && length_of(keys) == 11 + IMAGE_COUNT);
    if (keys.data && length_of(keys) == 11 + IMAGE_COUNT) {
        CHECK(strcmp(string_at(keys, 0), "int") == 0 && strcmp(string_at(keys, 8), "7") == 0);
        CHECK(type_at(keys, 7) == LONG_PAR && int_at(keys, 7) == 7);
        CHECK(type_at(keys, 9) == LONG_PAR && int_at(keys, 9) == -3);
        CHECK(strcmp(string_at(keys, 11), images[0].key) == 0);
    }
    destroy_tuple(keys);

    CHECK(is_int(dict, tuple_s("int"), 42));
    Htuple value = fetch(dict, tuple_s("ints"));
    CHECK(length_of(value) == 4 && int_at(value, 0) == INT64_MIN && int_at(value, 1) == INT64_MAX);
    CHECK(int_at(value, 2) == -1 && int_at(value, 3) == 0);
    destroy_tuple(value);
    value = fetch(dict, tuple_s("reals"));
    const double reals[] = {0.1, 1e300, -0.0, 5e-324, -HUGE_VAL, real_of_bits(NAN_BITS)};
    CHECK(length_of(value) == 6);
    for (int i = 0; i < 6 && length_of(value) == 6; i++)
        CHECK(real_bits_at(value, i) == bits_of(reals[i]));
    destroy_tuple(value);
    value = fetch(dict, tuple_s("strs"));
    CHECK(length_of(value) == 3 && strcmp(string_at(value, 0), "") == 0);
    CHECK(strcmp(string_at(value, 1), "a b") == 0 && strcmp(string_at(value, 2), UTF8_TEXT) == 0);
    destroy_tuple(value);
    CHECK(length_under(dict, tuple_s("empty")) == 0);
    value = fetch(dict, tuple_s("mixed"));
    CHECK(length_of(value) == 4 && int_at(value, 0) == 1 && real_bits_at(value, 1) == bits_of(2.5));
    CHECK(strcmp(string_at(value, 2), "x") == 0 && type_at(value, 3) == HANDLE_PAR);
    Htuple member = tuple_of("h", length_of(value) == 4 ? handle_at(value, 3) : 0);
    CHECK(is_string(member, tuple_s("inside"), "yes"));
    destroy_tuple(member), destroy_tuple(value);
    CHECK(is_string(dict, tuple_i(7), "seven"));
    CHECK(is_string(dict, tuple_s("7"), "string seven"));
    CHECK(is_real(dict, tuple_i(-3), -3.5));

    Htuple level1 = fetch(dict, tuple_s("level1"));
    Htuple level2 = fetch(level1, tuple_s("level2"));
    Htuple level3 = fetch(level2, tuple_s("level3"));
    CHECK(is_int(level1, tuple_s("n"), 1) && is_int(level2, tuple_s("n"), 2));
    CHECK(is_string(level2, tuple_i(5), "five"));
    CHECK(is_string(level3, tuple_s("leaf"), "deep"));
    CHECK(length_under(level3, tuple_s("e")) == 0);
    destroy_tuple(level1), destroy_tuple(level2), destroy_tuple(level3);

    for (int i = 0; i < IMAGE_COUNT; i++) CHECK(image_matches(dict, i));
    if (test_failures != failures_before) fprintf(stderr, "  (in the dict read from %s)\n", where);
}

static int starts_with(const char *file, const char *prefix) {
    long length;
    unsigned char *bytes = load_file(file, &length);
    int result = bytes && length >= (long)strlen(prefix) &&
                 memcmp(bytes, prefix, strlen(prefix)) == 0;
    free(bytes);
    return result;
}

/* ---- binary round trips ---------------------------------------------------------------- */

static void test_binary_round_trip(void) {
    Htuple dict = build_rich_dict();
    verify_rich_dict(dict, "memory (the test's own construction)");

    /* '.hdict', any other name, and 'file_type' 'hdict' even for a '.json' name. */
    const char *files[] = {"rich.hdict", "rich.data", "forced.json"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(write_with(dict, files[i], i == 2 ? "file_type" : NULL, i == 2 ? "hdict" : NULL));
        CHECK(starts_with(files[i], "DLOPTDCT"));
        Htuple read = read_ok(files[i], NULL, NULL);
        CHECK(handle_at(read, 0) != handle_at(dict, 0));
        verify_rich_dict(read, files[i]);
        destroy_tuple(read);
    }

    /* A name without extension finds 'name.hdict'. */
    CHECK_OK(write_with(dict, "plain.hdict", NULL, NULL));
    CHECK(!file_exists("plain"));
    Htuple read = read_ok("plain", NULL, NULL);
    verify_rich_dict(read, "plain (plain.hdict)");
    destroy_tuple(read);

    /* 'file_type' 'json' wins over a '.hdict' name. */
    Htuple small = new_dict();
    put(small, tuple_s("a"), tuple_i(1));
    CHECK_OK(write_with(small, "really_json.hdict", "file_type", "json"));
    CHECK(starts_with("really_json.hdict", "{"));
    read = read_ok("really_json.hdict", NULL, NULL);
    CHECK(is_int(read, tuple_s("a"), 1));
    destroy_tuple(read), destroy_tuple(small);
    CHECK_ERROR(write_with(dict, "x.hdict", "file_type", "xml"), H_ERR_WIPV4);
    CHECK_ERROR(write_with(dict, "x.hdict", "no_such_param", "1"), H_ERR_WIPV3);
    CHECK(!file_exists("x.hdict"));
    destroy_tuple(dict);
}

/* ---- JSON ---------------------------------------------------------------------------- */

static Htuple build_json_dict(void) {
    Htuple dict = new_dict(), nested = new_dict(), inner = new_dict();
    put(dict, tuple_s("name"), tuple_s("dlopt"));
    put(dict, tuple_s("count"), tuple_i(3));
    put(dict, tuple_s("ratio"), tuple_d(0.1));
    put(dict, tuple_s("big"), tuple_d(1e300));
    put(dict, tuple_s("whole"), tuple_d(2.0));
    put(dict, tuple_s("utf8"), tuple_s(UTF8_TEXT));
    put(dict, tuple_i(5), tuple_s("five"));
    put(dict, tuple_s("list"), tuple_of("iii", (Hlong)1, (Hlong)2, (Hlong)3));
    put(dict, tuple_s("mixed"), tuple_of("isd", (Hlong)1, "a", 2.5));
    put(dict, tuple_s("empty"), tuple_empty());
    put(dict, tuple_s("one"), tuple_i(7));
    put(inner, tuple_s("leaf"), tuple_s("x"));
    put(nested, tuple_s("inner"), tuple_of("h", handle_at(inner, 0)));
    put(nested, tuple_s("num"), tuple_i(2));
    put(dict, tuple_s("nested"), tuple_of("h", handle_at(nested, 0)));
    destroy_tuple(nested), destroy_tuple(inner);
    return dict;
}

/* Checks what JSON keeps in every mode: scalars, strings, nested dicts, integer keys. */
static void verify_json_common(Htuple dict) {
    CHECK(is_string(dict, tuple_s("name"), "dlopt"));
    CHECK(is_int(dict, tuple_s("count"), 3));
    CHECK(is_real(dict, tuple_s("ratio"), 0.1));
    CHECK(is_real(dict, tuple_s("big"), 1e300));
    CHECK(is_real(dict, tuple_s("whole"), 2.0)); /* a real stays a real */
    CHECK(is_string(dict, tuple_s("utf8"), UTF8_TEXT));
    /* Integer keys come back as string keys (documented). */
    CHECK(!has_key(dict, tuple_i(5)));
    CHECK(has_key(dict, tuple_s("5")));
    Htuple nested = fetch(dict, tuple_s("nested"));
    Htuple inner = fetch(nested, tuple_s("inner"));
    CHECK(is_string(inner, tuple_s("leaf"), "x") && is_int(nested, tuple_s("num"), 2));
    destroy_tuple(inner), destroy_tuple(nested);
}

static void test_json_files(void) {
    Htuple dict = build_json_dict();
    CHECK_OK(write_with(dict, "data.json", NULL, NULL));
    CHECK(starts_with("data.json", "{"));

    /* Default (HALCON): arrays become dicts with integer keys 0, 1, ... */
    Htuple read = read_ok("data.json", NULL, NULL);
    verify_json_common(read);
    Htuple list = fetch(read, tuple_s("list"));
    CHECK(length_of(list) == 1 && type_at(list, 0) == HANDLE_PAR);
    for (Hlong i = 0; i < 3 && length_of(list) == 1; i++) CHECK(is_int(list, tuple_i(i), i + 1));
    destroy_tuple(list);
    Htuple empty = fetch(read, tuple_s("empty"));
    CHECK(length_of(empty) == 1 && type_at(empty, 0) == HANDLE_PAR);
    Htuple name = tuple_s("keys"), none = tuple_empty(), keys = HTUPLE_INITIALIZER;
    if (length_of(empty) == 1) CHECK_OK(get_dict_param(empty, name, none, &keys));
    CHECK(keys.data && length_of(keys) == 0);
    destroy_tuple(keys), destroy_tuple(name), destroy_tuple(none), destroy_tuple(empty);
    destroy_tuple(read);

    /* 'convert_json_arrays_to' 'tuple': tuples of any length but 1 round-trip. */
    read = read_ok("data.json", "convert_json_arrays_to", "tuple");
    verify_json_common(read);
    list = fetch(read, tuple_s("list"));
    CHECK(length_of(list) == 3 && int_at(list, 0) == 1 && int_at(list, 2) == 3);
    destroy_tuple(list);
    Htuple mixed = fetch(read, tuple_s("mixed"));
    CHECK(length_of(mixed) == 3 && type_at(mixed, 0) == LONG_PAR && int_at(mixed, 0) == 1);
    CHECK(strcmp(string_at(mixed, 1), "a") == 0 && real_bits_at(mixed, 2) == bits_of(2.5));
    destroy_tuple(mixed);
    CHECK(length_under(read, tuple_s("empty")) == 0);
    CHECK(is_int(read, tuple_s("one"), 7));
    destroy_tuple(read);
    Htuple out = HTUPLE_INITIALIZER;
    CHECK_ERROR(try_read("data.json", "convert_json_arrays_to", "list", &out), H_ERR_WIPV3);
    CHECK_ERROR(try_read("data.json", "no_such_param", "1", &out), H_ERR_WIPV2);

    /* A name without extension also finds 'name.json'. */
    read = read_ok("data", NULL, NULL);
    verify_json_common(read);
    destroy_tuple(read), destroy_tuple(dict);
}

static Htuple json_dicts(Htuple texts, Htuple names, Htuple values) {
    Htuple dicts = HTUPLE_INITIALIZER;
    CHECK_OK(json_to_dict(texts, names, values, &dicts));
    destroy_tuple(texts), destroy_tuple(names), destroy_tuple(values);
    return dicts.data ? dicts : tuple_empty();
}

static void test_json_strings(void) {
    /* true / false / null: 1 / 0 / 'HNULL' by default, else the json_value_* values. */
    const char *text = "{\"t\": true, \"f\": false, \"n\": null}";
    Htuple dicts = json_dicts(tuple_s(text), tuple_empty(), tuple_empty());
    CHECK(length_of(dicts) == 1);
    CHECK(is_int(dicts, tuple_s("t"), 1) && is_int(dicts, tuple_s("f"), 0));
    CHECK(is_string(dicts, tuple_s("n"), "HNULL"));
    destroy_tuple(dicts);
    dicts = json_dicts(tuple_s(text),
                       tuple_of("sss", "json_value_true", "json_value_false", "json_value_null"),
                       tuple_of("sid", "yes", (Hlong)-1, 0.5));
    CHECK(is_string(dicts, tuple_s("t"), "yes") && is_int(dicts, tuple_s("f"), -1));
    CHECK(is_real(dicts, tuple_s("n"), 0.5));
    destroy_tuple(dicts);

    /* dict_to_json: one compact string per dict; json_to_dict: one dict per string. */
    Htuple a = new_dict(), b = new_dict();
    put(a, tuple_s("a"), tuple_i(1));
    put(b, tuple_s("b"), tuple_s("x"));
    put(b, tuple_s("c"), tuple_of("id", (Hlong)1, 2.0));
    Htuple both = tuple_of("hh", handle_at(a, 0), handle_at(b, 0));
    Htuple names = tuple_empty(), values = tuple_empty(), texts = HTUPLE_INITIALIZER;
    CHECK_OK(dict_to_json(both, names, values, &texts));
    CHECK(texts.data && length_of(texts) == 2);
    if (texts.data && length_of(texts) == 2) {
        CHECK(strcmp(string_at(texts, 0), "{\"a\":1}") == 0);
        CHECK(strcmp(string_at(texts, 1), "{\"b\":\"x\",\"c\":[1,2.0]}") == 0);
        dicts = json_dicts(texts, tuple_s("convert_json_arrays_to"), tuple_s("tuple"));
        CHECK(length_of(dicts) == 2);
        Htuple second = tuple_of("h", length_of(dicts) == 2 ? handle_at(dicts, 1) : 0);
        Htuple value = fetch(second, tuple_s("c"));
        CHECK(length_of(value) == 2 && int_at(value, 0) == 1);
        CHECK(length_of(value) == 2 && real_bits_at(value, 1) == bits_of(2.0));
        destroy_tuple(value), destroy_tuple(second), destroy_tuple(dicts);
    } else {
        destroy_tuple(texts);
    }
    Htuple out = sentinel_tuple();
    Htuple ft = tuple_s("file_type"), hdict = tuple_s("hdict");
    CHECK_ERROR(dict_to_json(both, ft, hdict, &out), H_ERR_WIPV3);
    CHECK(out.data == SENTINEL_DATA);
    destroy_tuple(ft), destroy_tuple(hdict), destroy_tuple(names), destroy_tuple(values);
    destroy_tuple(both), destroy_tuple(a), destroy_tuple(b);
}

/* Images in JSON: refused (2455), omitted ('false'), or embedded ('base64'). */
static void test_json_images(void) {
    Htuple dict = new_dict();
    put(dict, tuple_s("n"), tuple_i(1));
    put_image(dict, 1); /* 3-channel byte */
    put_image(dict, 8); /* 3-channel real */
    put_image(dict, 3); /* uint2 */
    CHECK_ERROR(write_with(dict, "img.json", NULL, NULL), H_ERR_HANDLE_NOSER);
    CHECK(!file_exists("img.json"));
    Htuple names = tuple_empty(), values = tuple_empty(), out = sentinel_tuple();
    CHECK_ERROR(dict_to_json(dict, names, values, &out), H_ERR_HANDLE_NOSER);
    CHECK(out.data == SENTINEL_DATA);
    destroy_tuple(names), destroy_tuple(values);

    CHECK_OK(write_with(dict, "img.json", "raise_error_if_content_not_serializable", "false"));
    Htuple read = read_ok("img.json", NULL, NULL);
    CHECK(has_key(read, tuple_s("n")));
    CHECK(!has_key(read, tuple_s(images[1].key)));
    CHECK(!has_key(read, tuple_s(images[3].key)));
    destroy_tuple(read);

    CHECK_OK(write_with(dict, "img64.json", "json_image_encoding", "base64"));
    read = read_ok("img64.json", NULL, NULL);
    CHECK(image_matches(read, 1) && image_matches(read, 8) && image_matches(read, 3));
    destroy_tuple(read), destroy_tuple(dict);
}

/* ---- cycles and handles the formats cannot hold -------------------------------------- */

static void test_unserializable(void) {
    const char *policy = "raise_error_if_content_not_serializable";
    Htuple dict = new_dict(), names = tuple_empty(), values = tuple_empty(), out = sentinel_tuple();
    put(dict, tuple_s("n"), tuple_i(1));
    put(dict, tuple_s("self"), tuple_of("h", handle_at(dict, 0)));
    CHECK_ERROR(write_with(dict, "cycle.hdict", NULL, NULL), H_ERR_HANDLE_CYCLES);
    CHECK_ERROR(write_with(dict, "cycle.json", NULL, NULL), H_ERR_HANDLE_CYCLES);
    CHECK_ERROR(write_with(dict, "cycle.hdict", policy, "false"), H_ERR_HANDLE_CYCLES);
    CHECK_ERROR(write_with(dict, "cycle.json", policy, "false"), H_ERR_HANDLE_CYCLES);
    CHECK_ERROR(dict_to_json(dict, names, values, &out), H_ERR_HANDLE_CYCLES);
    CHECK(out.data == SENTINEL_DATA);
    CHECK(!file_exists("cycle.hdict") && !file_exists("cycle.json"));
    remove_key(dict, "self"); /* breaks the cycle (else the dict leaks) */
    destroy_tuple(names), destroy_tuple(values), destroy_tuple(dict);

    /* A non-dict handle (an image handle in a tuple): 2455; a cleared dict handle: 2454. */
    Hobject image = make_image(0);
    Htuple doomed = new_dict();
    Htuple cases[2] = {tuple_of("h", image), tuple_of("h", handle_at(doomed, 0))};
    const Herror codes[2] = {H_ERR_HANDLE_NOSER, H_ERR_HANDLE_CLEARED};
    CHECK_OK(clear_obj(image));
    CHECK_OK(clear_handle(doomed));
    destroy_tuple(doomed);
    for (int i = 0; i < 2; i++) {
        dict = new_dict();
        put(dict, tuple_s("n"), tuple_i(1));
        put(dict, tuple_s("bad_handle"), cases[i]);
        CHECK_ERROR(write_with(dict, "h.hdict", NULL, NULL), codes[i]);
        CHECK_MESSAGE_CONTAINS("bad_handle");
        CHECK_ERROR(write_with(dict, "h.json", NULL, NULL), codes[i]);
        CHECK(!file_exists("h.hdict") && !file_exists("h.json"));

        /* 'false': binary writes a NULL handle, JSON omits the entry. */
        CHECK_OK(write_with(dict, "h.hdict", policy, "false"));
        Htuple read = read_ok("h.hdict", NULL, NULL);
        Htuple value = fetch(read, tuple_s("bad_handle"));
        CHECK(length_of(value) == 1 && type_at(value, 0) == HANDLE_PAR && handle_at(value, 0) == 0);
        CHECK(has_key(read, tuple_s("n")));
        destroy_tuple(value), destroy_tuple(read);
        CHECK_OK(write_with(dict, "h.json", policy, "false"));
        read = read_ok("h.json", NULL, NULL);
        CHECK(has_key(read, tuple_s("n")) && !has_key(read, tuple_s("bad_handle")));
        destroy_tuple(read), destroy_tuple(dict);
        CHECK(remove("h.hdict") == 0 && remove("h.json") == 0);
    }
}

/* ---- parameter errors of the file operators ------------------------------------------ */

static void test_parameter_errors(void) {
    Htuple cleared = new_dict(), names = tuple_empty(), values = tuple_empty();
    Htuple file = tuple_s("p.hdict"), out = sentinel_tuple();
    CHECK_OK(clear_handle(cleared));
    Htuple bad_handles[] = {tuple_empty(), tuple_i(3), cleared, tuple_of("h", (Hhandle)0)};
    const Herror codes[] = {H_ERR_WIPN1, H_ERR_WIPT1, H_ERR_HANDLE_CLEARED, H_ERR_HANDLE_NULL};
    for (int i = 0; i < 4; i++) {
        CHECK_ERROR(write_dict(bad_handles[i], file, names, values), codes[i]);
        CHECK_MESSAGE_CONTAINS("DictHandle");
        if (i == 0) continue; /* no dict: no string (one string per dict) */
        CHECK_ERROR(dict_to_json(bad_handles[i], names, values, &out), codes[i]);
        CHECK_MESSAGE_CONTAINS("DictHandle");
        CHECK(out.data == SENTINEL_DATA);
    }
    CHECK(!file_exists("p.hdict"));
    for (int i = 0; i < 4; i++) destroy_tuple(bad_handles[i]);

    /* FileName: a string (1202 / 1402), not empty (5214); NULL outputs (1304). */
    Htuple dict = new_dict(), number = tuple_i(1), two = tuple_of("ss", "a", "b");
    CHECK_ERROR(write_dict(dict, number, names, values), H_ERR_WIPT2);
    CHECK_MESSAGE_CONTAINS("FileName");
    CHECK_ERROR(write_dict(dict, two, names, values), H_ERR_WIPN2);
    CHECK_MESSAGE_CONTAINS("FileName");
    CHECK_ERROR(write_with(dict, "", NULL, NULL), H_ERR_WFIN);
    CHECK_ERROR(read_dict(file, names, values, NULL), H_ERR_WIPV4);
    CHECK_ERROR(dict_to_json(dict, names, values, NULL), H_ERR_WIPV4);
    CHECK_ERROR(json_to_dict(number, names, values, &out), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("JsonString");
    CHECK(out.data == SENTINEL_DATA);
    /* A real JSON cannot hold (NaN) fails, and no file appears. */
    put(dict, tuple_s("nan"), tuple_d(real_of_bits(NAN_BITS)));
    CHECK(write_with(dict, "nan.json", NULL, NULL) != H_MSG_TRUE);
    CHECK(!file_exists("nan.json"));
    destroy_tuple(dict), destroy_tuple(number), destroy_tuple(two), destroy_tuple(file);
    destroy_tuple(names), destroy_tuple(values);
}

/* ---- atomic writes -------------------------------------------------------------------- */

static int same_file(const char *name, const unsigned char *bytes, long length) {
    long actual_length;
    unsigned char *actual = load_file(name, &actual_length);
    int same = actual && actual_length == length && memcmp(actual, bytes, (size_t)length) == 0;
    free(actual);
    return same;
}

static void test_atomic_writes(void) {
    int hidden;
    int before = entry_count(&hidden);
    Htuple dict = new_dict();
    put(dict, tuple_s("v"), tuple_i(1));

    /* A missing directory: 5212, and nothing is created. */
    CHECK_ERROR(write_with(dict, "no_such_dir/sub/x.hdict", NULL, NULL), H_ERR_EDWF);
    CHECK_MESSAGE_CONTAINS("no_such_dir");
    CHECK(!file_exists("no_such_dir"));
    CHECK(entry_count(&hidden) == before && hidden == 0);

    /* Overwriting: the new content, and no temporary file left. */
    const char *files[] = {"over.hdict", "over.json"};
    for (int f = 0; f < 2; f++) {
        put(dict, tuple_s("v"), tuple_i(1));
        CHECK_OK(write_with(dict, files[f], NULL, NULL));
        put(dict, tuple_s("v"), tuple_i(2));
        CHECK_OK(write_with(dict, files[f], NULL, NULL));
        Htuple read = read_ok(files[f], NULL, NULL);
        CHECK(is_int(read, tuple_s("v"), 2));
        destroy_tuple(read);
        CHECK(entry_count(&hidden) == before + f + 1 && hidden == 0);

        /* A failed write (a cycle; an image in JSON) leaves the old file as it was. */
        long length;
        unsigned char *old = load_file(files[f], &length);
        put(dict, tuple_s("self"), tuple_of("h", handle_at(dict, 0)));
        CHECK_ERROR(write_with(dict, files[f], NULL, NULL), H_ERR_HANDLE_CYCLES);
        remove_key(dict, "self");
        put_image(dict, 0);
        CHECK_ERROR(write_with(dict, files[f], "file_type", "json"), H_ERR_HANDLE_NOSER);
        remove_key(dict, images[0].key);
        CHECK(old && same_file(files[f], old, length));
        CHECK(entry_count(&hidden) == before + f + 1 && hidden == 0);
        free(old);
    }

    /* A directory in the way: 5212; it stays a directory and no temporary file is left. */
    CHECK(mkdir("a_dir", 0700) == 0);
    CHECK_ERROR(write_with(dict, "a_dir", NULL, NULL), H_ERR_EDWF);
    DIR *directory = opendir("a_dir");
    CHECK(directory != NULL);
    if (directory) closedir(directory);
    CHECK(entry_count(&hidden) == before + 3 && hidden == 0);
    destroy_tuple(dict);
}

int main(void) {
    test_binary_round_trip();
    test_json_files();
    test_json_strings();
    test_json_images();
    test_unserializable();
    test_parameter_errors();
    test_atomic_writes();
    return TEST_RESULT();
}
