/*
 * Helpers of the C tests that load AI² plugins (plugins.c, shipped_plugins.c): a tiny ONNX
 * model, devices by interface, a small sample, applying a model and reading an output,
 * reading a model parameter. Every function is `static inline`.
 */
#ifndef DLOPT_PLUGIN_SUPPORT_H
#define DLOPT_PLUGIN_SUPPORT_H

#include <stdint.h>

#include "test_support.h"

/* tiny.onnx: x [1, 3, 4, 4] -> Relu (node 'relu') -> r; y = Add(r, x) (node 'add'), opset 17. */
static const unsigned char TINY_ONNX[] = {
    0x08, 0x08, 0x12, 0x0b, 0x64, 0x6c, 0x6f, 0x70, 0x74, 0x20, 0x74, 0x65, 0x73, 0x74, 0x73, 0x3a,
    0x69, 0x0a, 0x12, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x72, 0x1a, 0x04, 0x72, 0x65, 0x6c, 0x75, 0x22,
    0x04, 0x52, 0x65, 0x6c, 0x75, 0x0a, 0x13, 0x0a, 0x01, 0x72, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x79,
    0x1a, 0x03, 0x61, 0x64, 0x64, 0x22, 0x03, 0x41, 0x64, 0x64, 0x12, 0x04, 0x74, 0x69, 0x6e, 0x79,
    0x5a, 0x1b, 0x0a, 0x01, 0x78, 0x12, 0x16, 0x0a, 0x14, 0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08,
    0x01, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x04, 0x0a, 0x02, 0x08, 0x04, 0x62, 0x1b, 0x0a,
    0x01, 0x79, 0x12, 0x16, 0x0a, 0x14, 0x08, 0x01, 0x12, 0x10, 0x0a, 0x02, 0x08, 0x01, 0x0a, 0x02,
    0x08, 0x03, 0x0a, 0x02, 0x08, 0x04, 0x0a, 0x02, 0x08, 0x04, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
};

/* The device of interface `interface` (exactly one expected), as a one-handle tuple. */
static inline Htuple device_of(const char *interface) {
    Htuple names = tuple_s("ai_accelerator_interface"), values = tuple_s(interface);
    Htuple devices = HTUPLE_INITIALIZER;
    CHECK_OK(query_available_dl_devices(names, values, &devices));
    CHECK_DESTROY(names, values);
    if (devices.data == NULL) devices = tuple_empty();
    CHECK(length_of(devices) == 1);
    return devices;
}

/* One sample: a 4 x 4 real image of 3 channels with values around 0. */
static inline Htuple make_sample(float offset) {
    float planes[48];
    for (int i = 0; i < 48; i++) planes[i] = (float)i * 0.25f - 6.0f + offset;
    Htuple type = tuple_s("real"), width = tuple_i(4), height = tuple_i(4);
    Htuple red = tuple_i((Hlong)(intptr_t)planes), green = tuple_i((Hlong)(intptr_t)(planes + 16)),
           blue = tuple_i((Hlong)(intptr_t)(planes + 32));
    Hobject image = 0;
    CHECK_OK(gen_image3(&image, type, width, height, red, green, blue));
    Htuple sample = new_dict(), key = tuple_s("image");
    CHECK_OK(set_dict_object(image, sample, key));
    CHECK_OK(clear_obj(image));
    CHECK_DESTROY(type, width, height, red, green, blue, key);
    return sample;
}

/* The 48 values of output 'y' of applying `model` to `sample`. */
static inline void apply_y(Htuple model, Htuple sample, double *y) {
    Htuple outputs = tuple_empty(), results = HTUPLE_INITIALIZER;
    CHECK_OK(apply_dl_model(model, sample, outputs, &results));
    if (results.data == NULL) results = tuple_empty();
    CHECK(length_of(results) == 1);
    Htuple dict = tuple_h(length_of(results) == 1 ? handle_at(results, 0) : 0);
    Htuple values = fetch(dict, tuple_s("y"));
    CHECK(length_of(values) == 48);
    for (Hlong i = 0; i < 48 && i < length_of(values); i++) y[i] = real_at(values, i);
    CHECK_OK(clear_handle(results));
    CHECK_DESTROY(outputs, results, dict, values);
}

static inline Htuple model_param(Htuple model, const char *param) {
    Htuple name = tuple_s(param), value = HTUPLE_INITIALIZER;
    CHECK_OK(get_dl_model_param(model, name, &value));
    CHECK_DESTROY(name);
    if (value.data == NULL) value = tuple_empty();
    return value;
}

#endif
