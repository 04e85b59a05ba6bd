/*
 * dlopt quickstart: the operator core from C, the way a HALCON/C tuple-mode program uses it.
 *
 *  1. builds a sample dict holding a preprocessed image (type 'real', 3 channels) and
 *     ground truth, as apply_dl_model and optimize_dl_model_for_inference will take it;
 *  2. writes it to a dict file atomically and reads it back;
 *  3. shows HALCON's error handling: numbers plus a message naming the parameter.
 *
 * Build: see README.md (cc or CMake: find_package(dlopt)). Run it in a writable directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopt.h"

/* Stops the program with the operator's error number and message. */
static void check(Herror result, const char *what) {
    if (result != H_MSG_TRUE) {
        fprintf(stderr, "%s failed: error %d (%s): %s\n", what, (int)result, dlopt_error_text(result),
                dlopt_last_error_message());
        exit(1);
    }
}

int main(void) {
    enum { WIDTH = 224, HEIGHT = 224 };
    Htuple type = HTUPLE_INITIALIZER, width = HTUPLE_INITIALIZER, height = HTUPLE_INITIALIZER;
    check(create_tuple_s(&type, "real"), "create_tuple_s");
    check(create_tuple_i(&width, WIDTH), "create_tuple_i");
    check(create_tuple_i(&height, HEIGHT), "create_tuple_i");

    /* 1. A three-channel 'real' image, normalised to [-1, 1] like a network input. */
    static float planes[3][HEIGHT][WIDTH];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < HEIGHT; y++)
            for (int x = 0; x < WIDTH; x++) planes[c][y][x] = (float)(x + y + 50 * c) / 250.0f - 1.0f;
    Htuple red = HTUPLE_INITIALIZER, green = HTUPLE_INITIALIZER, blue = HTUPLE_INITIALIZER;
    check(create_tuple_i(&red, (Hlong)(size_t)planes[0]), "create_tuple_i");
    check(create_tuple_i(&green, (Hlong)(size_t)planes[1]), "create_tuple_i");
    check(create_tuple_i(&blue, (Hlong)(size_t)planes[2]), "create_tuple_i");
    Hobject image = 0;
    check(gen_image3(&image, type, width, height, red, green, blue), "gen_image3");

    Htuple sample = HTUPLE_INITIALIZER, key = HTUPLE_INITIALIZER, value = HTUPLE_INITIALIZER;
    check(create_dict(&sample), "create_dict");
    check(create_tuple_s(&key, "image"), "create_tuple_s");
    check(set_dict_object(image, sample, key), "set_dict_object");
    check(clear_obj(image), "clear_obj"); /* the dict keeps its own reference */
    destroy_tuple(key);
    check(create_tuple_s(&key, "image_label_id"), "create_tuple_s");
    check(create_tuple_i(&value, 3), "create_tuple_i");
    check(set_dict_tuple(sample, key, value), "set_dict_tuple");
    printf("sample dict built: 'image' (%dx%d real, 3 channels), 'image_label_id' = 3\n", WIDTH, HEIGHT);

    /* 2. Write it atomically, read it back, check a pixel. */
    Htuple file = HTUPLE_INITIALIZER, no_params = HTUPLE_INITIALIZER, restored = HTUPLE_INITIALIZER;
    check(create_tuple_s(&file, "quickstart_sample.hdict"), "create_tuple_s");
    check(create_tuple(&no_params, 0), "create_tuple");
    check(write_dict(sample, file, no_params, no_params), "write_dict");
    check(read_dict(file, no_params, no_params, &restored), "read_dict");
    Htuple image_key = HTUPLE_INITIALIZER;
    check(create_tuple_s(&image_key, "image"), "create_tuple_s");
    Hobject restored_image = 0;
    check(get_dict_object(&restored_image, restored, image_key), "get_dict_object");
    Htuple pointer = HTUPLE_INITIALIZER, pixel_type = HTUPLE_INITIALIZER, w = HTUPLE_INITIALIZER, h = HTUPLE_INITIALIZER;
    check(get_image_pointer1(restored_image, &pointer, &pixel_type, &w, &h), "get_image_pointer1");
    Hlong address = 0;
    const char *type_name = "";
    check(get_i(pointer, 0, &address), "get_i");
    check(get_s(pixel_type, 0, &type_name), "get_s");
    const float *pixels = (const float *)(size_t)address;
    printf("read back from quickstart_sample.hdict: type '%s', pixel (10,20) = %.4f (expected %.4f)\n",
           type_name, pixels[20 * WIDTH + 10], planes[0][20][10]);
    int same = memcmp(pixels, planes[0], sizeof planes[0]) == 0;

    /* 3. Errors are HALCON numbers plus a message that names the parameter and the value. */
    Htuple missing = HTUPLE_INITIALIZER, out = HTUPLE_INITIALIZER;
    check(create_tuple_s(&missing, "no_such_key"), "create_tuple_s");
    Herror result = get_dict_tuple(sample, missing, &out);
    printf("get_dict_tuple(sample, 'no_such_key') -> %d (%s): %s\n", (int)result, dlopt_error_text(result),
           dlopt_last_error_message());

    destroy_tuple(missing);
    destroy_tuple(pointer);
    destroy_tuple(pixel_type);
    destroy_tuple(w);
    destroy_tuple(h);
    clear_obj(restored_image);
    destroy_tuple(image_key);
    destroy_tuple(restored);
    destroy_tuple(no_params);
    destroy_tuple(file);
    destroy_tuple(value);
    destroy_tuple(key);
    destroy_tuple(sample);
    destroy_tuple(red);
    destroy_tuple(green);
    destroy_tuple(blue);
    destroy_tuple(type);
    destroy_tuple(width);
    destroy_tuple(height);
    if (!same || result != H_ERR_DICT_KEY) {
        fprintf(stderr, "quickstart: unexpected result\n");
        return 1;
    }
    printf("quickstart: ok\n");
    return 0;
}
