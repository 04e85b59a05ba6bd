/*
 * Images: gen_image1 / gen_image3 / gen_image_const (pixels copied), the *_extern variants
 * (caller's memory, ClearProc called exactly once when the last reference goes), the
 * property operators, clear_obj, images in dicts, and every error path.
 */
#include <stddef.h>
#include <stdint.h>

#include "test_support.h"

static const char *const pixel_types[] = {"byte", "int1", "uint2", "int2", "int4", "int8", "real"};
static const size_t pixel_sizes[] = {1, 1, 2, 2, 4, 8, 4};
#define PIXEL_TYPE_COUNT (sizeof pixel_types / sizeof pixel_types[0])

/* ClearProc bookkeeping: calls, and the pointers it received. */
static int clear_calls = 0;
static void *cleared_pointers[8];

/* Frees what gen_image*_extern took over (so a double call is a double free). */
static void free_clear(void *pointer) {
    if (clear_calls < 8) {
        cleared_pointers[clear_calls] = pointer;
    }
    clear_calls++;
    free(pointer);
}

static void reset_clear_calls(void) {
    clear_calls = 0;
    memset(cleared_pointers, 0, sizeof cleared_pointers);
}

static int was_cleared(const void *pointer) {
    for (int i = 0; i < clear_calls && i < 8; i++) {
        if (cleared_pointers[i] == pointer) {
            return 1;
        }
    }
    return 0;
}

/* A function pointer as the integer gen_image1_extern expects. */
static Htuple clear_proc_tuple(void (*proc)(void *)) {
    return tuple_i((Hlong)(intptr_t)proc);
}

static Htuple pointer_tuple(const void *pointer) {
    return tuple_i((Hlong)(intptr_t)pointer);
}

static void *pointer_at(Htuple tuple) {
    return (void *)(intptr_t)int_at(tuple, 0);
}

/* Fills `length` bytes with a pattern depending on `seed`. */
static void fill(unsigned char *bytes, size_t length, unsigned seed) {
    for (size_t i = 0; i < length; i++) {
        bytes[i] = (unsigned char)(i * 31u + seed * 7u + 1u);
    }
}

/* Runs gen_image1 with plain C values. */
static Herror make_image1(Hobject *image, const char *type, Hlong width, Hlong height,
                          const void *pixels) {
    Htuple type_tuple = tuple_s(type);
    Htuple width_tuple = tuple_i(width);
    Htuple height_tuple = tuple_i(height);
    Htuple pointer = pointer_tuple(pixels);
    Herror result = gen_image1(image, type_tuple, width_tuple, height_tuple, pointer);
    CHECK_DESTROY(type_tuple, width_tuple, height_tuple, pointer);
    return result;
}

/* Runs gen_image1_extern with plain C values. */
static Herror make_extern1(Hobject *image, const char *type, Hlong width, Hlong height,
                           void *pixels, void (*proc)(void *)) {
    Htuple type_tuple = tuple_s(type);
    Htuple width_tuple = tuple_i(width);
    Htuple height_tuple = tuple_i(height);
    Htuple pointer = pointer_tuple(pixels);
    Htuple clear = proc == NULL ? tuple_i(0) : clear_proc_tuple(proc);
    Herror result =
        gen_image1_extern(image, type_tuple, width_tuple, height_tuple, pointer, clear);
    CHECK_DESTROY(type_tuple, width_tuple, height_tuple, pointer, clear);
    return result;
}

/* Runs gen_image3_extern with plain C values. */
static Herror make_extern3(Hobject *image, Hlong width, Hlong height, void *red, void *green,
                           void *blue, void (*proc)(void *)) {
    Htuple type_tuple = tuple_s("byte");
    Htuple width_tuple = tuple_i(width);
    Htuple height_tuple = tuple_i(height);
    Htuple r = pointer_tuple(red);
    Htuple g = pointer_tuple(green);
    Htuple b = pointer_tuple(blue);
    Htuple clear = clear_proc_tuple(proc);
    Herror result = gen_image3_extern(image, type_tuple, width_tuple, height_tuple, r, g, b, clear);
    CHECK_DESTROY(type_tuple, width_tuple, height_tuple, r, g, b, clear);
    return result;
}

/* get_image_pointer1 as plain C values; returns the pixel pointer. */
static void *image_pointer1(Hobject image, char *type, size_t type_size, Hlong *width,
                            Hlong *height) {
    Htuple pointer = HTUPLE_INITIALIZER, type_tuple = HTUPLE_INITIALIZER;
    Htuple width_tuple = HTUPLE_INITIALIZER, height_tuple = HTUPLE_INITIALIZER;
    void *result = NULL;
    CHECK_OK(get_image_pointer1(image, &pointer, &type_tuple, &width_tuple, &height_tuple));
    if (pointer.data != NULL) {
        result = pointer_at(pointer);
        snprintf(type, type_size, "%s", string_at(type_tuple, 0));
        *width = int_at(width_tuple, 0);
        *height = int_at(height_tuple, 0);
    }
    CHECK_DESTROY(pointer, type_tuple, width_tuple, height_tuple);
    return result;
}

static Hlong channels_of(Hobject image) {
    Htuple channels = HTUPLE_INITIALIZER;
    CHECK_OK(count_channels(image, &channels));
    Hlong count = channels.data != NULL ? int_at(channels, 0) : -1;
    CHECK_OK(destroy_tuple(channels));
    return count;
}

/* count_channels into a sentinel output, which must stay untouched on failure (released on
 * success); returns the error. */
static Herror try_count_channels(Hobject image) {
    Htuple channels = sentinel_tuple();
    Herror error = count_channels(image, &channels);
    finish_output(error, &channels);
    return error;
}

/* gen_image1 for every pixel type: the pixels are copied; the properties are right. */
static void test_gen_image1_all_types(void) {
    enum { WIDTH = 5, HEIGHT = 3 };
    for (size_t t = 0; t < PIXEL_TYPE_COUNT; t++) {
        size_t length = (size_t)WIDTH * HEIGHT * pixel_sizes[t];
        unsigned char source[WIDTH * HEIGHT * 8];
        unsigned char expected[WIDTH * HEIGHT * 8];
        fill(source, length, (unsigned)t);
        memcpy(expected, source, length);

        Hobject image = 0;
        CHECK_OK(make_image1(&image, pixel_types[t], WIDTH, HEIGHT, source));
        CHECK(image != 0);
        memset(source, 0xEE, sizeof source); /* the image must not see this */

        char type[16] = "";
        Hlong width = 0, height = 0;
        const unsigned char *pixels = image_pointer1(image, type, sizeof type, &width, &height);
        CHECK(pixels != NULL && pixels != source);
        CHECK(pixels != NULL && memcmp(pixels, expected, length) == 0);
        CHECK(strcmp(type, pixel_types[t]) == 0);
        CHECK(width == WIDTH && height == HEIGHT);

        Htuple width_tuple = HTUPLE_INITIALIZER, height_tuple = HTUPLE_INITIALIZER;
        CHECK_OK(get_image_size(image, &width_tuple, &height_tuple));
        CHECK(int_at(width_tuple, 0) == WIDTH && int_at(height_tuple, 0) == HEIGHT);
        CHECK_DESTROY(width_tuple, height_tuple);
        CHECK(channels_of(image) == 1);
        Htuple type_tuple = HTUPLE_INITIALIZER;
        CHECK_OK(get_image_type(image, &type_tuple));
        CHECK(strcmp(string_at(type_tuple, 0), pixel_types[t]) == 0);
        CHECK_OK(destroy_tuple(type_tuple));
        CHECK_OK(clear_obj(image));
    }

    /* 'real' pixels are 32-bit floats. */
    const float reals[4] = {0.5f, -1.25f, 3.0e10f, 0.0f};
    Hobject image = 0;
    CHECK_OK(make_image1(&image, "real", 2, 2, reals));
    const float *pixels = pixels_of(image);
    CHECK(pixels != NULL && pixels[0] == 0.5f && pixels[1] == -1.25f && pixels[2] == 3.0e10f);
    CHECK_OK(clear_obj(image));
}

/* gen_image3 / get_image_pointer3: three copied channels. */
static void test_gen_image3(void) {
    enum { WIDTH = 4, HEIGHT = 6, LENGTH = WIDTH * HEIGHT * 2 };
    unsigned char red[LENGTH], green[LENGTH], blue[LENGTH];
    fill(red, LENGTH, 1);
    fill(green, LENGTH, 2);
    fill(blue, LENGTH, 3);
    Htuple type = tuple_s("uint2"), width = tuple_i(WIDTH), height = tuple_i(HEIGHT);
    Htuple r = pointer_tuple(red), g = pointer_tuple(green), b = pointer_tuple(blue);
    Hobject image = 0;
    CHECK_OK(gen_image3(&image, type, width, height, r, g, b));
    CHECK_DESTROY(r, g, b);
    CHECK(channels_of(image) == 3);

    Htuple pr = HTUPLE_INITIALIZER, pg = HTUPLE_INITIALIZER, pb = HTUPLE_INITIALIZER;
    Htuple out_type = HTUPLE_INITIALIZER, out_width = HTUPLE_INITIALIZER;
    Htuple out_height = HTUPLE_INITIALIZER;
    CHECK_OK(get_image_pointer3(image, &pr, &pg, &pb, &out_type, &out_width, &out_height));
    const void *pixels_r = pointer_at(pr), *pixels_g = pointer_at(pg), *pixels_b = pointer_at(pb);
    CHECK(pixels_r != red && pixels_g != green && pixels_b != blue);
    CHECK(pixels_r != pixels_g && pixels_g != pixels_b && pixels_r != pixels_b);
    CHECK(memcmp(pixels_r, red, LENGTH) == 0);
    CHECK(memcmp(pixels_g, green, LENGTH) == 0);
    CHECK(memcmp(pixels_b, blue, LENGTH) == 0);
    CHECK(strcmp(string_at(out_type, 0), "uint2") == 0);
    CHECK(int_at(out_width, 0) == WIDTH && int_at(out_height, 0) == HEIGHT);
    /* get_image_pointer1 gives the first channel. */
    CHECK(pixels_of(image) == pixels_r);
    CHECK_DESTROY(pr, pg, pb, out_type, out_width, out_height);

    /* get_image_pointer3 on a one-channel image: 3359, outputs untouched. */
    Hobject single = 0;
    CHECK_OK(make_image1(&single, "byte", 2, 2, red));
    Htuple outs[6];
    for (int i = 0; i < 6; i++) {
        outs[i].data = SENTINEL_DATA;
    }
    CHECK_ERROR(get_image_pointer3(single, &outs[0], &outs[1], &outs[2], &outs[3], &outs[4],
                                   &outs[5]),
                H_ERR_WRNUMCHAN);
    for (int i = 0; i < 6; i++) {
        CHECK(outs[i].data == SENTINEL_DATA);
    }

    /* NULL green / blue pointers: 1305 / 1306. */
    Hobject out = SENTINEL_OBJECT;
    Htuple null_pointer = tuple_i(0);
    r = pointer_tuple(red);
    b = pointer_tuple(blue);
    CHECK_ERROR(gen_image3(&out, type, width, height, r, null_pointer, b), H_ERR_WIPV5);
    CHECK_ERROR(gen_image3(&out, type, width, height, r, b, null_pointer), H_ERR_WIPV6);
    CHECK_ERROR(gen_image3(NULL, type, width, height, r, r, b), H_ERR_WION1);
    CHECK(out == SENTINEL_OBJECT);
    CHECK_DESTROY(r, b, null_pointer);

    CHECK_DESTROY(type, width, height);
    CHECK_OK(clear_obj(single));
    CHECK_OK(clear_obj(image));
}

/* gen_image_const: zeros, for every type. */
static void test_gen_image_const(void) {
    for (size_t t = 0; t < PIXEL_TYPE_COUNT; t++) {
        Htuple type = tuple_s(pixel_types[t]), width = tuple_i(7), height = tuple_i(3);
        Hobject image = 0;
        CHECK_OK(gen_image_const(&image, type, width, height));
        char type_name[16] = "";
        Hlong w = 0, h = 0;
        const unsigned char *pixels = image_pointer1(image, type_name, sizeof type_name, &w, &h);
        CHECK(strcmp(type_name, pixel_types[t]) == 0 && w == 7 && h == 3);
        int all_zero = pixels != NULL;
        for (size_t i = 0; pixels != NULL && i < 7 * 3 * pixel_sizes[t]; i++) {
            all_zero = all_zero && pixels[i] == 0;
        }
        CHECK(all_zero);
        CHECK(channels_of(image) == 1);
        CHECK_OK(clear_obj(image));
        CHECK_DESTROY(type, width, height);
    }
}

/* gen_image1_extern: the image uses the caller's memory; ClearProc runs once, at the
 * caller's clear_obj when nothing else holds the image. */
static void test_extern_clear_obj(void) {
    reset_clear_calls();
    unsigned char *buffer = malloc(12);
    fill(buffer, 12, 9);
    Hobject image = 0;
    CHECK_OK(make_extern1(&image, "int2", 3, 2, buffer, free_clear));
    CHECK(pixels_of(image) == buffer);

    /* Shared memory in both directions. */
    buffer[0] = 0x42;
    unsigned char *pixels = pixels_of(image);
    CHECK(pixels[0] == 0x42);
    pixels[11] = 0x17;
    CHECK(buffer[11] == 0x17);
    CHECK(clear_calls == 0);

    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 1);
    CHECK(was_cleared(buffer));

    /* Later use: gone (2454); releasing it again is an error and never calls ClearProc. */
    CHECK_ERROR(try_count_channels(image), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(clear_obj(image), H_ERR_HANDLE_CLEARED); /* documented: once gone, 2454 */
    CHECK(clear_calls == 1);
}

/* ClearProc with a dict: only when the dict (the last holder) dies; also through
 * remove_dict_key. */
static void test_extern_in_dict(void) {
    reset_clear_calls();
    unsigned char *buffer = malloc(4);
    fill(buffer, 4, 1);
    Hobject image = 0;
    CHECK_OK(make_extern1(&image, "byte", 2, 2, buffer, free_clear));
    Htuple dict = new_dict();
    Htuple key = tuple_s("image");
    CHECK_OK(set_dict_object(image, dict, key));
    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 0);

    Hobject from_dict = 0;
    CHECK_OK(get_dict_object(&from_dict, dict, key));
    CHECK(pixels_of(from_dict) == buffer);
    CHECK_OK(clear_obj(from_dict));
    CHECK(clear_calls == 0);

    /* A copy of the dict's tuple keeps it too. */
    Htuple copy = HTUPLE_INITIALIZER;
    CHECK_OK(copy_tuple(dict, &copy));
    CHECK_OK(destroy_tuple(dict));
    CHECK(clear_calls == 0);
    CHECK_OK(destroy_tuple(copy));
    CHECK(clear_calls == 1);
    CHECK(was_cleared(buffer));

    /* remove_dict_key releases the dict's reference. */
    reset_clear_calls();
    buffer = malloc(4);
    CHECK_OK(make_extern1(&image, "byte", 2, 2, buffer, free_clear));
    dict = new_dict();
    CHECK_OK(set_dict_object(image, dict, key));
    CHECK_OK(clear_obj(image));
    CHECK_OK(remove_dict_key(dict, key));
    CHECK(clear_calls == 1);
    CHECK_OK(destroy_tuple(dict));
    CHECK(clear_calls == 1);

    /* The dict dies first: a reference from get_dict_object keeps the image. */
    reset_clear_calls();
    buffer = malloc(4);
    fill(buffer, 4, 2);
    CHECK_OK(make_extern1(&image, "byte", 2, 2, buffer, free_clear));
    dict = new_dict();
    CHECK_OK(set_dict_object(image, dict, key));
    CHECK_OK(clear_obj(image));
    CHECK_OK(get_dict_object(&from_dict, dict, key));
    CHECK_OK(destroy_tuple(dict));
    CHECK(clear_calls == 0);
    CHECK(pixels_of(from_dict) == buffer && channels_of(from_dict) == 1);
    CHECK_OK(clear_obj(from_dict));
    CHECK(clear_calls == 1 && was_cleared(buffer));
    CHECK_OK(destroy_tuple(key));
}

/* clear_handle on an extern image: ClearProc runs at once, exactly once; the caller's
 * reference is then a cleared object (2454) and releasing it calls nothing. */
static void test_extern_clear_handle(void) {
    reset_clear_calls();
    unsigned char *buffer = malloc(4);
    Hobject image = 0;
    CHECK_OK(make_extern1(&image, "byte", 2, 2, buffer, free_clear));
    Htuple handle = tuple_h(image);
    Htuple dict = new_dict();
    Htuple key = tuple_s("image");
    CHECK_OK(set_dict_object(image, dict, key));
    CHECK_OK(clear_handle(handle));
    CHECK(clear_calls == 1 && was_cleared(buffer));
    CHECK_ERROR(try_count_channels(image), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(clear_obj(image), H_ERR_HANDLE_CLEARED);
    CHECK_DESTROY(handle, dict, key);
    CHECK(clear_calls == 1);
}

/* ClearProc 0: allowed, nothing is called, the caller keeps its memory. */
static void test_extern_without_clear_proc(void) {
    reset_clear_calls();
    static unsigned char buffer[8];
    fill(buffer, sizeof buffer, 4);
    Hobject image = 0;
    CHECK_OK(make_extern1(&image, "int8", 1, 1, buffer, NULL));
    CHECK(pixels_of(image) == buffer);
    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 0);
    buffer[0] = 1; /* still ours */
}

/* gen_image3_extern: ClearProc once per distinct channel pointer. */
static void test_extern3(void) {
    reset_clear_calls();
    unsigned char *red = malloc(6), *green = malloc(6), *blue = malloc(6);
    Hobject image = 0;
    CHECK_OK(make_extern3(&image, 3, 2, red, green, blue, free_clear));
    CHECK(channels_of(image) == 3);
    Htuple pr = HTUPLE_INITIALIZER, pg = HTUPLE_INITIALIZER, pb = HTUPLE_INITIALIZER;
    Htuple type = HTUPLE_INITIALIZER, width = HTUPLE_INITIALIZER, height = HTUPLE_INITIALIZER;
    CHECK_OK(get_image_pointer3(image, &pr, &pg, &pb, &type, &width, &height));
    CHECK(pointer_at(pr) == red && pointer_at(pg) == green && pointer_at(pb) == blue);
    CHECK_DESTROY(pr, pg, pb, type, width, height);
    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 3);
    CHECK(was_cleared(red) && was_cleared(green) && was_cleared(blue));

    /* One buffer for all three channels: one call. */
    reset_clear_calls();
    unsigned char *gray = malloc(6);
    CHECK_OK(make_extern3(&image, 3, 2, gray, gray, gray, free_clear));
    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 1 && was_cleared(gray));

    /* Red and blue shared, green separate: two calls. */
    reset_clear_calls();
    unsigned char *shared = malloc(6), *separate = malloc(6);
    CHECK_OK(make_extern3(&image, 3, 2, shared, separate, shared, free_clear));
    CHECK_OK(clear_obj(image));
    CHECK(clear_calls == 2 && was_cleared(shared) && was_cleared(separate));
}

/* On error the extern variants take nothing over and never call ClearProc. */
static void test_extern_errors(void) {
    reset_clear_calls();
    unsigned char *buffer = malloc(16);
    Hobject image = SENTINEL_OBJECT;
    CHECK_ERROR(make_extern1(&image, "byte", 0, 4, buffer, free_clear), H_ERR_WIPV2);
    CHECK_ERROR(make_extern1(&image, "byte", 4, -4, buffer, free_clear), H_ERR_WIPV3);
    CHECK_ERROR(make_extern1(&image, "float", 4, 4, buffer, free_clear), H_ERR_WIPV1);
    CHECK_ERROR(make_extern1(&image, "byte", 4, 4, NULL, free_clear), H_ERR_WIPV4);
    CHECK_ERROR(make_extern1(NULL, "byte", 4, 4, buffer, free_clear), H_ERR_WION1);
    /* A later channel's NULL pointer: the earlier channels are not taken over either. */
    CHECK_ERROR(make_extern3(&image, 4, 4, buffer, NULL, buffer, free_clear), H_ERR_WIPV5);
    CHECK_ERROR(make_extern3(&image, 4, 4, buffer, buffer, NULL, free_clear), H_ERR_WIPV6);
    CHECK_ERROR(make_extern3(&image, 4, DLOPT_MAX_IMAGE_DIMENSION + 1LL, buffer, buffer, buffer,
                             free_clear),
                H_ERR_WIPV3);
    /* ClearProc that is not an integer: wrong type of parameter 5 (7 for extern3). */
    Htuple type = tuple_s("byte"), size = tuple_i(4), pointer = pointer_tuple(buffer);
    Htuple real = tuple_d(1.0);
    CHECK_ERROR(gen_image1_extern(&image, type, size, size, pointer, real), H_ERR_WIPT5);
    CHECK_ERROR(gen_image3_extern(&image, type, size, size, pointer, pointer, pointer, real),
                H_ERR_WIPT7);
    CHECK_DESTROY(type, size, pointer, real);
    CHECK(image == SENTINEL_OBJECT);
    CHECK(clear_calls == 0);
    free(buffer); /* still the caller's */
}

/* Errors of gen_image1: type, size, pointer, output; the output stays untouched. */
static void test_gen_image_errors(void) {
    unsigned char pixels[16] = {0};
    Hobject image = SENTINEL_OBJECT;

    CHECK_ERROR(make_image1(&image, "float", 4, 4, pixels), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("'float'");
    CHECK_ERROR(make_image1(&image, "", 4, 4, pixels), H_ERR_WIPV1);
    CHECK_ERROR(make_image1(&image, "BYTE", 4, 4, pixels), H_ERR_WIPV1);

    const Hlong bad_dimensions[] = {0, -1, INT64_MIN, DLOPT_MAX_IMAGE_DIMENSION + 1LL, INT64_MAX};
    for (size_t i = 0; i < sizeof bad_dimensions / sizeof bad_dimensions[0]; i++) {
        CHECK_ERROR(make_image1(&image, "byte", bad_dimensions[i], 4, pixels), H_ERR_WIPV2);
        CHECK_MESSAGE_CONTAINS("Width");
        CHECK_ERROR(make_image1(&image, "byte", 4, bad_dimensions[i], pixels), H_ERR_WIPV3);
        CHECK_MESSAGE_CONTAINS("Height");
    }

    /* More than 2^32 pixels, each dimension allowed: refused before any allocation or
     * read of the (small) buffer. */
    Herror area = make_image1(&image, "byte", DLOPT_MAX_IMAGE_DIMENSION, 8, pixels);
    CHECK(area == H_ERR_WIPV2 || area == H_ERR_WIPV3);
    area = make_image1(&image, "byte", 65537, 65536, pixels);
    CHECK(area == H_ERR_WIPV2 || area == H_ERR_WIPV3);
    Htuple type = tuple_s("int8"), width = tuple_i(DLOPT_MAX_IMAGE_DIMENSION);
    Htuple height = tuple_i(DLOPT_MAX_IMAGE_DIMENSION);
    area = gen_image_const(&image, type, width, height);
    CHECK(area == H_ERR_WIPV2 || area == H_ERR_WIPV3);
    CHECK_DESTROY(type, width, height);

    CHECK_ERROR(make_image1(&image, "byte", 4, 4, NULL), H_ERR_WIPV4);
    CHECK_MESSAGE_CONTAINS("PixelPointer");
    CHECK_ERROR(make_image1(NULL, "byte", 4, 4, pixels), H_ERR_WION1);
    CHECK_MESSAGE_CONTAINS("Image");
    CHECK(image == SENTINEL_OBJECT);

    /* Parameters of the wrong type. */
    type = tuple_i(1);
    width = tuple_s("4");
    height = tuple_i(4);
    Htuple pointer = pointer_tuple(pixels);
    CHECK_ERROR(gen_image1(&image, type, height, height, pointer), H_ERR_WIPT1);
    CHECK_OK(destroy_tuple(type));
    type = tuple_s("byte");
    CHECK_ERROR(gen_image1(&image, type, width, height, pointer), H_ERR_WIPT2);
    CHECK_ERROR(gen_image1(&image, type, height, width, pointer), H_ERR_WIPT3);
    CHECK_ERROR(gen_image1(&image, type, height, height, width), H_ERR_WIPT4);
    CHECK_ERROR(gen_image_const(NULL, type, height, height), H_ERR_WION1);
    CHECK(image == SENTINEL_OBJECT);
    CHECK_DESTROY(type, width, height, pointer);
}

/* Objects that are not live images: 0 (2453), garbage (2450), released (2454), a dict
 * (2404); clear_obj twice (2450); clear_obj(0) is accepted. */
static void test_object_errors(void) {
    Htuple out = sentinel_tuple();

    CHECK_ERROR(count_channels(0, &out), H_ERR_HANDLE_NULL);
    CHECK_ERROR(get_image_type(0x123456789u, &out), H_ERR_WHDL);
    CHECK_ERROR(clear_obj(0x123456789u), H_ERR_WHDL);
    CHECK_OK(clear_obj(0));

    Htuple dict = new_dict();
    Hhandle dict_number = handle_at(dict, 0);
    CHECK_ERROR(count_channels(dict_number, &out), H_ERR_WRONG_HANDLE_TYPE);
    CHECK_MESSAGE_CONTAINS("dict");
    Htuple key = tuple_s("k");
    CHECK_ERROR(set_dict_object(dict_number, dict, key), H_ERR_WRONG_HANDLE_TYPE);
    CHECK_ERROR(set_dict_object(0, dict, key), H_ERR_HANDLE_NULL);
    CHECK(out.data == SENTINEL_DATA);
    /* clear_obj on a dict number fails and does not release the dict. */
    CHECK(clear_obj(dict_number) != H_MSG_TRUE);
    Htuple value = tuple_i(1);
    CHECK_OK(set_dict_tuple(dict, key, value));
    CHECK_OK(destroy_tuple(value));
    CHECK_OK(remove_dict_key(dict, key));

    /* After the last reference: 2454 everywhere. */
    unsigned char pixels[4] = {1, 2, 3, 4};
    Hobject image = 0;
    CHECK_OK(make_image1(&image, "byte", 2, 2, pixels));
    CHECK_OK(clear_obj(image));
    CHECK_ERROR(count_channels(image, &out), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(get_image_size(image, &out, &out), H_ERR_HANDLE_CLEARED);
    CHECK_ERROR(set_dict_object(image, dict, key), H_ERR_HANDLE_CLEARED);
    CHECK(out.data == SENTINEL_DATA);
    CHECK_ERROR(clear_obj(image), H_ERR_HANDLE_CLEARED); /* documented: once gone, 2454 */

    /* Twice while a dict keeps the image alive: 2450, and the dict's copy is unharmed. */
    CHECK_OK(make_image1(&image, "byte", 2, 2, pixels));
    CHECK_OK(set_dict_object(image, dict, key));
    CHECK_OK(clear_obj(image));
    CHECK_ERROR(clear_obj(image), H_ERR_WHDL);
    Hobject from_dict = 0;
    CHECK_OK(get_dict_object(&from_dict, dict, key));
    CHECK(from_dict != 0 && memcmp(pixels_of(from_dict), pixels, 4) == 0);
    CHECK_OK(clear_obj(from_dict));
    CHECK_ERROR(clear_obj(from_dict), H_ERR_WHDL);

    /* NULL outputs of the property operators: 1300 + position. */
    CHECK_OK(get_dict_object(&image, dict, key));
    CHECK_ERROR(count_channels(image, NULL), H_ERR_WIPV1);
    CHECK_ERROR(get_image_type(image, NULL), H_ERR_WIPV1);
    CHECK_ERROR(get_image_size(image, &out, NULL), H_ERR_WIPV2);
    CHECK_ERROR(get_image_pointer1(image, &out, &out, &out, NULL), H_ERR_WIPV4);
    CHECK_MESSAGE_CONTAINS("Height");
    CHECK(out.data == SENTINEL_DATA);
    CHECK_OK(clear_obj(image));

    CHECK_DESTROY(key, dict);
}

/* Images in dicts: get_dict_object hands out a reference the caller clears; pixels are
 * shared with the stored object; key type mismatches give 2460 / 2461. */
static void test_images_in_dicts(void) {
    unsigned char source[6] = {10, 20, 30, 40, 50, 60};
    Hobject image = 0;
    CHECK_OK(make_image1(&image, "byte", 3, 2, source));
    Htuple dict = new_dict();
    Htuple key = tuple_s("picture");
    CHECK_OK(set_dict_object(image, dict, key));

    Hobject first = 0, second = 0;
    CHECK_OK(get_dict_object(&first, dict, key));
    CHECK_OK(get_dict_object(&second, dict, key));
    CHECK(first != 0 && second != 0);

    /* Writing through the original's pointer shows through the dict's object. */
    unsigned char *pixels = pixels_of(image);
    pixels[4] = 99;
    const unsigned char *seen = pixels_of(first);
    CHECK(seen != NULL && seen[4] == 99 && seen[0] == 10);
    CHECK_OK(clear_obj(image));
    CHECK_OK(clear_obj(first));
    /* The second reference still works, as does the dict. */
    seen = pixels_of(second);
    CHECK(seen != NULL && seen[4] == 99);
    CHECK_OK(clear_obj(second));
    CHECK_OK(get_dict_object(&first, dict, key));
    CHECK(channels_of(first) == 1);
    CHECK_OK(clear_obj(first));

    /* Key holds an object / a tuple. */
    Htuple out = sentinel_tuple();
    CHECK_ERROR(get_dict_tuple(dict, key, &out), H_ERR_WT_CTRL_EXPECTED);
    CHECK(out.data == SENTINEL_DATA);
    Htuple tuple_key = tuple_s("numbers");
    Htuple numbers = tuple_i(3);
    CHECK_OK(set_dict_tuple(dict, tuple_key, numbers));
    Hobject object = SENTINEL_OBJECT;
    CHECK_ERROR(get_dict_object(&object, dict, tuple_key), H_ERR_WT_ICONIC_EXPECTED);
    Htuple missing = tuple_s("missing");
    CHECK_ERROR(get_dict_object(&object, dict, missing), H_ERR_DICT_KEY);
    CHECK_ERROR(get_dict_object(NULL, dict, key), H_ERR_WION1);
    CHECK(object == SENTINEL_OBJECT);

    /* Overwriting the key with a tuple releases the image; a reference we hold survives. */
    CHECK_OK(get_dict_object(&first, dict, key));
    CHECK_OK(set_dict_tuple(dict, key, numbers));
    CHECK(channels_of(first) == 1);
    CHECK_OK(clear_obj(first));
    Htuple channels = HTUPLE_INITIALIZER;
    CHECK_ERROR(count_channels(first, &channels), H_ERR_HANDLE_CLEARED);

    CHECK_DESTROY(missing, numbers, tuple_key, key, dict);
}

int main(void) {
    test_gen_image1_all_types();
    test_gen_image3();
    test_gen_image_const();
    test_extern_clear_obj();
    test_extern_in_dict();
    test_extern_clear_handle();
    test_extern_without_clear_proc();
    test_extern3();
    test_extern_errors();
    test_gen_image_errors();
    test_object_errors();
    test_images_in_dicts();
    return TEST_RESULT();
}
