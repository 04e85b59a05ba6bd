/*
 * Helpers of the C tests that run the real models (models.c, shipped_plugins.c): the cases
 * of $DLOPT_TEST_DATA/app/cases.tsv (tools/make-app-references.py), their preprocessed
 * inputs as sample dicts, reading models and setting their parameters, applying them.
 * Every function is `static inline`, so a program that does not use one gets no warning.
 */
#ifndef DLOPT_MODEL_SUPPORT_H
#define DLOPT_MODEL_SUPPORT_H

#include <stdint.h>

#include "test_support.h"

typedef struct {
    char model[32];
    char file[96];
    int channels, height, width;
    char expected[256];
} Case;

/* $DLOPT_TEST_DATA, set by main. */
static const char *data_dir;

static inline float *load_floats(const char *relative, size_t count) {
    char path[512];
    snprintf(path, sizeof path, "%s/app/%s", data_dir, relative);
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        test_failures++;
        return NULL;
    }
    float *values = malloc(count * sizeof(float));
    size_t read = values ? fread(values, sizeof(float), count, file) : 0;
    fclose(file);
    if (read != count) {
        fprintf(stderr, "%s: read %zu of %zu floats\n", path, read, count);
        test_failures++;
        free(values);
        return NULL;
    }
    return values;
}

static inline int load_cases(Case *cases, int capacity) {
    char path[512];
    snprintf(path, sizeof path, "%s/app/cases.tsv", data_dir);
    FILE *file = fopen(path, "r");
    if (!file) return -1;
    char line[1024];
    int count = 0;
    if (!fgets(line, sizeof line, file)) count = 0; /* header */
    while (count < capacity && fgets(line, sizeof line, file)) {
        Case *c = &cases[count];
        line[strcspn(line, "\n")] = 0;
        char *fields[6];
        char *cursor = line;
        for (int at = 0; at < 6; at++) {
            fields[at] = cursor;
            char *tab = strchr(cursor, '\t');
            if (tab) {
                *tab = 0;
                cursor = tab + 1;
            } else {
                cursor += strlen(cursor);
            }
        }
        snprintf(c->model, sizeof c->model, "%s", fields[0]);
        snprintf(c->file, sizeof c->file, "%s", fields[1]);
        c->channels = atoi(fields[2]);
        c->height = atoi(fields[3]);
        c->width = atoi(fields[4]);
        snprintf(c->expected, sizeof c->expected, "%s", fields[5]);
        count++;
    }
    fclose(file);
    return count;
}

/* A sample dict holding the case's image; `planes` must outlive nothing: gen_image3 copies. */
static inline Htuple sample_of(const Case *c, float *planes) {
    size_t plane = (size_t)c->height * (size_t)c->width;
    Htuple type = tuple_s("real"), width = tuple_i(c->width), height = tuple_i(c->height);
    Htuple red = tuple_i((Hlong)(intptr_t)planes), green = tuple_i((Hlong)(intptr_t)(planes + plane)),
           blue = tuple_i((Hlong)(intptr_t)(planes + 2 * plane));
    Hobject image = 0;
    CHECK_OK(gen_image3(&image, type, width, height, red, green, blue));
    Htuple sample = new_dict(), key = tuple_s("image");
    CHECK_OK(set_dict_object(image, sample, key));
    CHECK_OK(clear_obj(image));
    CHECK_DESTROY(type, width, height, red, green, blue, key);
    return sample;
}

static inline Htuple read_model(const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s", data_dir, file);
    Htuple name = tuple_s(path), model = HTUPLE_INITIALIZER;
    CHECK_OK(read_dl_model(name, &model));
    CHECK_DESTROY(name);
    return model;
}

static inline void set_param_s(Htuple model, const char *name, const char *value) {
    Htuple n = tuple_s(name), v = tuple_s(value);
    CHECK_OK(set_dl_model_param(model, n, v));
    CHECK_DESTROY(n, v);
}

static inline void set_param_i(Htuple model, const char *name, Hlong value) {
    Htuple n = tuple_s(name), v = tuple_i(value);
    CHECK_OK(set_dl_model_param(model, n, v));
    CHECK_DESTROY(n, v);
}

/* Runs the model on `samples` and returns the result dicts. */
static inline Htuple apply(Htuple model, Htuple samples) {
    Htuple outputs = tuple_empty(), results = HTUPLE_INITIALIZER;
    CHECK_OK(apply_dl_model(model, samples, outputs, &results));
    CHECK_DESTROY(outputs);
    return results;
}

static inline Htuple result_value(Htuple results, Hlong index, const char *key) {
    Htuple dict = tuple_h(handle_at(results, index));
    Htuple value = fetch(dict, tuple_s(key)); /* fetch takes the key tuple */
    CHECK_DESTROY(dict);
    return value;
}

#endif
