/*
 * Dicts in files, refusing bad input: read_dict on missing, foreign and truncated files,
 * crafted binary files, and hostile JSON (invalid text, deep nesting, malformed embedded
 * images). Runs in a fresh temporary directory and uses relative file names.
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/stat.h>

#include "dict_file_support.h"

/* ---- read errors and hostile files --------------------------------------------------- */

static void test_read_errors(void) {
    CHECK_ERROR(read_error("does_not_exist.hdict"), H_ERR_FNF);
    CHECK_MESSAGE_CONTAINS("does_not_exist.hdict");
    CHECK_ERROR(read_error("does_not_exist"), H_ERR_FNF);
    CHECK_MESSAGE_CONTAINS("does_not_exist");
    CHECK(mkdir("a_directory", 0700) == 0);
    CHECK_ERROR(read_error("a_directory"), H_ERR_CNOF);
    CHECK_MESSAGE_CONTAINS("a_directory");
    CHECK_ERROR(read_error(""), H_ERR_WFIN);
    save_file("text.txt", "hello, world\n", 13);
    CHECK_ERROR(read_error("text.txt"), H_ERR_WFV);
    CHECK_MESSAGE_CONTAINS("text.txt");
    save_file("empty.hdict", "", 0);
    CHECK_ERROR(read_error("empty.hdict"), H_ERR_WFV);
    save_file("array.json", "[1, 2]", 6);
    CHECK(read_error("array.json") != H_MSG_TRUE);
    save_file("broken.json", "{\"a\": [1, 2}", 12);
    CHECK_ERROR(read_error("broken.json"), H_ERR_FTS1);
    CHECK_MESSAGE_CONTAINS("broken.json");
    Htuple dict = HTUPLE_INITIALIZER;
    Htuple file = tuple_i(1), names = tuple_empty(), values = tuple_empty();
    CHECK_ERROR(read_dict(file, names, values, &dict), H_ERR_WIPT1);
    CHECK_MESSAGE_CONTAINS("FileName");
    destroy_tuple(file), destroy_tuple(names), destroy_tuple(values);
}

typedef struct {
    unsigned char bytes[4096];
    size_t length;
} Buffer;

static void le(Buffer *buffer, uint64_t value, int size) {
    for (int i = 0; i < size && buffer->length < sizeof buffer->bytes; i++)
        buffer->bytes[buffer->length++] = (unsigned char)(value >> (8 * i));
}

static uint32_t crc32_of(const unsigned char *bytes, size_t length) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < length; i++) {
        crc ^= bytes[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Writes `payload` under a correct header (length, CRC-32) of format version `major`. */
static void save_crafted(const char *name, const Buffer *payload, uint16_t major) {
    Buffer file = {{0}, 0};
    memcpy(file.bytes, "DLOPTDCT", 8);
    file.length = 8;
    le(&file, major, 2), le(&file, 0, 2), le(&file, 0, 4);
    le(&file, payload->length, 8), le(&file, crc32_of(payload->bytes, payload->length), 4);
    le(&file, 0, 4);
    memcpy(file.bytes + file.length, payload->bytes, payload->length);
    save_file(name, file.bytes, file.length + payload->length);
}

/* One entry with the string key 'a'; its value follows. */
static void entry_a(Buffer *b) { le(b, 1, 4), le(b, 1, 1), le(b, 1, 4), le(b, 'a', 1); }

/* Payloads with a valid checksum and hostile content; case 0 is valid ('a' = 42). */
static Herror craft(int which, Buffer *b) {
    b->length = 0;
    switch (which) {
    case 0: entry_a(b), le(b, 0, 1), le(b, 1, 4), le(b, 0, 1), le(b, 42, 8); return H_MSG_TRUE;
    case 1: entry_a(b), le(b, 0, 1), le(b, 0xFFFFFFFFu, 4); return H_ERR_FTS1; /* tuple count */
    case 2: le(b, 0xFFFFFFFFu, 4); return H_ERR_FTS1;                           /* entry count */
    case 3: le(b, 1, 4), le(b, 1, 1), le(b, 0xFFFFFFF0u, 4), le(b, 'a', 1); return H_ERR_FTS1;
    case 4: /* 65536 x 65536 pixels in 2^32-1 channels */
        entry_a(b), le(b, 1, 1), le(b, 0, 1), le(b, 65536, 8), le(b, 65536, 8);
        le(b, 0xFFFFFFFFu, 4);
        return H_ERR_FTS1;
    case 5: /* 2^40 x 2^40 pixels */
        entry_a(b), le(b, 1, 1), le(b, 0, 1), le(b, (uint64_t)1 << 40, 8);
        le(b, (uint64_t)1 << 40, 8), le(b, 1, 4), le(b, 0, 16);
        return H_ERR_FTS1;
    case 6: /* unknown pixel type */
        entry_a(b), le(b, 1, 1), le(b, 200, 1), le(b, 1, 8), le(b, 1, 8), le(b, 1, 4), le(b, 0, 1);
        return H_ERR_FTS1;
    case 7: entry_a(b), le(b, 1, 1), le(b, 0, 1), le(b, 1, 8), le(b, 1, 8), le(b, 0, 4);
        return H_ERR_FTS1; /* no channels */
    case 8: le(b, 1, 4), le(b, 9, 1), le(b, 0, 8), le(b, 0, 1), le(b, 0, 4); return H_ERR_FTS1;
    case 9: entry_a(b), le(b, 7, 1), le(b, 0, 4); return H_ERR_FTS1;   /* value tag */
    case 10: entry_a(b), le(b, 0, 1), le(b, 1, 4), le(b, 9, 1), le(b, 0, 8); return H_ERR_FTS1;
    case 11: le(b, 1, 4), le(b, 1, 1), le(b, 2, 4), le(b, 0x28C3, 2), le(b, 0, 1), le(b, 0, 4);
        return H_ERR_FTS1; /* invalid UTF-8 key */
    case 12: le(b, 1, 4), le(b, 1, 1), le(b, 2, 4), le(b, 'a', 2), le(b, 0, 1), le(b, 0, 4);
        return H_ERR_FTS1; /* NUL in a key */
    case 13: le(b, 0, 4), le(b, 0, 1); return H_ERR_FTS1; /* a byte after the dict */
    case 14: /* dicts nested 100 deep */
        for (int level = 0; level < 100; level++)
            entry_a(b), le(b, 0, 1), le(b, 1, 4), le(b, 3, 1);
        le(b, 0, 4);
        return H_ERR_DICT_NESTED_TOO_DEEP;
    default: return -1;
    }
}

static void test_hostile_files(void) {
    /* Every crafted payload; a major version 2 is refused (2403). */
    Buffer payload;
    char what[64];
    craft(0, &payload);
    save_crafted("crafted.hdict", &payload, 1);
    Htuple dict = read_ok("crafted.hdict", NULL, NULL);
    CHECK(is_int(dict, tuple_s("a"), 42));
    destroy_tuple(dict);
    for (int which = 1; craft(which, &payload) != -1; which++) {
        save_crafted("crafted.hdict", &payload, 1);
        snprintf(what, sizeof what, "crafted case %d", which);
        expect_read_failure("crafted.hdict", craft(which, &payload), 0, what);
    }
    craft(0, &payload);
    save_crafted("crafted.hdict", &payload, 2);
    CHECK_ERROR(read_error("crafted.hdict"), H_ERR_WFV);

    /* A small file written by the library, cut at every length and bit-flipped. */
    dict = new_dict();
    Htuple nested = new_dict();
    put(nested, tuple_s("b"), tuple_d(2.5));
    put(dict, tuple_s("a"), tuple_i(1));
    put(dict, tuple_s("s"), tuple_of("si", "xy", (Hlong)3));
    put(dict, tuple_s("n"), tuple_of("h", handle_at(nested, 0)));
    CHECK_OK(write_with(dict, "small.hdict", NULL, NULL));
    destroy_tuple(nested), destroy_tuple(dict);
    long length;
    unsigned char *bytes = load_file("small.hdict", &length);
    CHECK(bytes != NULL && length > 32);
    for (long cut = 0; bytes && cut < length; cut++) {
        save_file("cut.hdict", bytes, (size_t)cut);
        snprintf(what, sizeof what, "file cut to %ld bytes", cut);
        expect_read_failure("cut.hdict", H_ERR_FTS1, H_ERR_WFV, what);
    }
    for (long at = 32; bytes && at < length; at++) {
        for (int bit = 0; bit < 8; bit++) {
            bytes[at] ^= (unsigned char)(1u << bit);
            save_file("flipped.hdict", bytes, (size_t)length);
            bytes[at] ^= (unsigned char)(1u << bit);
            snprintf(what, sizeof what, "bit %d of byte %ld flipped", bit, at);
            expect_read_failure("flipped.hdict", H_ERR_FTS1, 0, what);
        }
    }
    /* A header announcing a huge payload (2^48 bytes). */
    for (int i = 16; bytes && i < 24; i++) bytes[i] = i < 22 ? 0xFF : 0;
    if (bytes) save_file("huge.hdict", bytes, (size_t)length);
    CHECK_ERROR(read_error("huge.hdict"), H_ERR_FTS1);
    free(bytes);

    /* JSON nested 100 objects deep (2899, or a parse error), and 100000 arrays deep. */
    char *text = malloc(400100);
    if (!text) return;
    size_t at = 0;
    for (int i = 0; i < 100; i++) memcpy(text + at, "{\"a\":", 5), at += 5;
    text[at++] = '1';
    for (int i = 0; i < 100; i++) text[at++] = '}';
    save_file("deep.json", text, at);
    Herror error = read_error("deep.json");
    CHECK(error == H_ERR_DICT_NESTED_TOO_DEEP || error == H_ERR_FTS1);
    text[at] = '\0';
    Htuple texts = tuple_s(text), names = tuple_empty(), values = tuple_empty();
    Htuple out = sentinel_tuple();
    error = json_to_dict(texts, names, values, &out);
    CHECK(error == H_ERR_DICT_NESTED_TOO_DEEP || error == H_ERR_FTS1);
    finish_output(error, &out);
    destroy_tuple(texts);
    at = 0;
    memcpy(text, "{\"a\":", 5), at = 5;
    for (int i = 0; i < 100000; i++) text[at++] = '[';
    for (int i = 0; i < 100000; i++) text[at++] = ']';
    text[at++] = '}';
    save_file("deep_arrays.json", text, at);
    error = read_error("deep_arrays.json");
    CHECK(error == H_ERR_DICT_NESTED_TOO_DEEP || error == H_ERR_FTS1);
    destroy_tuple(names), destroy_tuple(values);
    free(text);
}

static void test_invalid_json_strings(void) {
    /* Invalid JSON (5220) and top levels other than an object fail; nothing is returned. */
    Htuple names, values, out = sentinel_tuple();
    const char *bad[] = {"{\"a\":", "{\"a\" 1}", "", "[1, 2]", "42", "\"text\"", "null"};
    for (int i = 0; i < 7; i++) {
        Htuple texts_bad = tuple_of("ss", "{\"ok\": 1}", bad[i]);
        names = tuple_empty(), values = tuple_empty();
        Herror error = json_to_dict(texts_bad, names, values, &out);
        if (i < 3)
            CHECK(error == H_ERR_FTS1);
        else
            CHECK(error != H_MSG_TRUE);
        finish_output(error, &out);
        out = sentinel_tuple();
        destroy_tuple(texts_bad), destroy_tuple(names), destroy_tuple(values);
    }
}

/* Embedded images (dlopt's base64 JSON extension) that do not fit their description. */
static void test_hostile_json_images(void) {
    const char *bad[] = {
        "\"type\":\"byte\",\"width\":2,\"height\":1,\"channels\":[\"AAAA\"]",
        "\"type\":\"byte\",\"width\":2,\"height\":1,\"channels\":[\"!!!=\"]",
        "\"type\":\"none\",\"width\":2,\"height\":1,\"channels\":[\"AAA=\"]",
        "\"type\":\"byte\",\"width\":65536,\"height\":65536,\"channels\":[\"AAA=\"]",
        "\"type\":\"byte\",\"width\":-2,\"height\":1,\"channels\":[\"AAA=\"]",
        "\"type\":\"byte\",\"width\":2,\"height\":1,\"channels\":[]",
    };
    char text[256];
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        int length = snprintf(text, sizeof text, "{\"i\": {\"__dlopt_image__\": {%s}}}", bad[i]);
        save_file("bad_image.json", text, (size_t)length);
        expect_read_failure("bad_image.json", H_ERR_FTS1, 0, text);
    }
}

int main(void) {
    test_read_errors();
    test_hostile_files();
    test_invalid_json_strings();
    test_hostile_json_images();
    return TEST_RESULT();
}
