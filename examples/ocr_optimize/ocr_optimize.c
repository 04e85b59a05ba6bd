/*
 * dlopt's main job, end to end on a real model: optimize the PP-OCRv4 text recognizer for the
 * CPU plugin and compare it with float32.
 *
 *  1. lists the deep-learning devices and picks the CPU plugin's ('dlopt_cpu');
 *  2. reads the OCR recognition model (ONNX) and declares it 'ocr_recognition' (its
 *     character list comes from the ONNX metadata);
 *  3. optimize_dl_model_for_inference to PRECISION (default int8) with calibration lines,
 *     and prints the conversion report (method, time, nodes kept in float, agreement);
 *  4. runs float32 (native runtime) and the converted model side by side on evaluation lines
 *     (never seen during calibration): recognised text and latency;
 *  5. writes the converted model with write_dl_model, reads it back, checks it reads the same.
 *
 * Usage: ocr_optimize MODEL.onnx CALIBRATION_SET EVALUATION_SET [PRECISION] [MAX_EVAL_LINES]
 * A set is a tensor set of bench/preprocess.py: SET.f32 (float32 values of every line,
 * preprocessed as the package does: height 48, normalised to [-1, 1], NCHW) and SET.tsv
 * ("offset n c h w label" per line, label = the ground-truth text). `./demo` fetches and
 * builds everything and runs this program.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlopt.h"

/* Stops the program with the operator's error number and message. */
static void check(Herror result, const char *what) {
    if (result != H_MSG_TRUE) {
        fprintf(stderr, "%s failed: error %d (%s): %s\n", what, (int)result, dlopt_error_text(result),
                dlopt_last_error_message());
        exit(1);
    }
}

static Htuple text(const char *value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    check(create_tuple_s(&tuple, value), "create_tuple_s");
    return tuple;
}

static Htuple integer(Hlong value) {
    Htuple tuple = HTUPLE_INITIALIZER;
    check(create_tuple_i(&tuple, value), "create_tuple_i");
    return tuple;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One preprocessed text line: a sample dict with its image, and the ground truth. */
typedef struct {
    Htuple sample;
    char truth[128];
} Line;

/* Reads up to `capacity` lines of the tensor set `set` (SET.tsv + SET.f32). */
static int read_set(const char *set, Line *lines, int capacity) {
    char path[1024];
    snprintf(path, sizeof path, "%s.tsv", set);
    FILE *index = fopen(path, "r");
    snprintf(path, sizeof path, "%s.f32", set);
    FILE *values = fopen(path, "rb");
    if (!index || !values) {
        fprintf(stderr, "cannot open the tensor set %s (.tsv, .f32)\n", set);
        exit(1);
    }
    char row[1024];
    int count = 0;
    if (!fgets(row, sizeof row, index)) count = capacity; /* empty file: no lines */
    while (count < capacity && fgets(row, sizeof row, index)) {
        long offset, n, c, h, w;
        int consumed = 0;
        if (sscanf(row, "%ld\t%ld\t%ld\t%ld\t%ld\t%n", &offset, &n, &c, &h, &w, &consumed) != 5 || n != 1 || c != 3) {
            fprintf(stderr, "%s.tsv: bad line '%s'\n", set, row);
            exit(1);
        }
        Line *line = &lines[count];
        snprintf(line->truth, sizeof line->truth, "%s", row + consumed);
        line->truth[strcspn(line->truth, "\r\n")] = 0;
        size_t plane = (size_t)h * (size_t)w;
        float *planes = malloc(3 * plane * sizeof(float));
        if (!planes || fseek(values, offset * (long)sizeof(float), SEEK_SET) != 0 ||
            fread(planes, sizeof(float), 3 * plane, values) != 3 * plane) {
            fprintf(stderr, "%s.f32: cannot read line %d\n", set, count);
            exit(1);
        }
        /* A 'real' image of three channels; gen_image3 copies the planes. */
        Htuple type = text("real"), width = integer(w), height = integer(h);
        Htuple red = integer((Hlong)(size_t)planes), green = integer((Hlong)(size_t)(planes + plane)),
               blue = integer((Hlong)(size_t)(planes + 2 * plane));
        Hobject image = 0;
        check(gen_image3(&image, type, width, height, red, green, blue), "gen_image3");
        free(planes);
        Htuple key = text("image");
        line->sample = (Htuple)HTUPLE_INITIALIZER;
        check(create_dict(&line->sample), "create_dict");
        check(set_dict_object(image, line->sample, key), "set_dict_object");
        check(clear_obj(image), "clear_obj");
        destroy_tuple(type), destroy_tuple(width), destroy_tuple(height), destroy_tuple(red);
        destroy_tuple(green), destroy_tuple(blue), destroy_tuple(key);
        count++;
    }
    fclose(index);
    fclose(values);
    return count;
}

/* A tuple of the lines' sample dicts. */
static Htuple samples_of(const Line *lines, int count) {
    Htuple samples = HTUPLE_INITIALIZER;
    check(create_tuple(&samples, count), "create_tuple");
    for (int at = 0; at < count; at++) {
        Hhandle dict = 0;
        check(get_h(lines[at].sample, 0, &dict), "get_h");
        check(set_h(samples, dict, at), "set_h");
    }
    return samples;
}

/* The dict entry `key` of `dict` (a one-handle tuple). */
static Htuple entry(Htuple dict, const char *key) {
    Htuple name = text(key), value = HTUPLE_INITIALIZER;
    check(get_dict_tuple(dict, name, &value), key);
    destroy_tuple(name);
    return value;
}

static double number(Htuple dict, const char *key) {
    Htuple value = entry(dict, key);
    double result = 0;
    int type = 0;
    Hlong length = 0;
    check(length_tuple(value, &length), "length_tuple");
    if (length > 0) {
        check(get_type(value, 0, &type), "get_type");
        if (type == LONG_PAR) {
            Hlong i = 0;
            check(get_i(value, 0, &i), "get_i");
            result = (double)i;
        } else {
            check(get_d(value, 0, &result), "get_d");
        }
    }
    destroy_tuple(value);
    return result;
}

/* Recognises `line` with `model`: the word, and the time in `seconds`. */
static void recognise(Htuple model, const Line *line, char *word, size_t size, double *seconds) {
    Htuple outputs = HTUPLE_INITIALIZER, results = HTUPLE_INITIALIZER;
    check(create_tuple(&outputs, 0), "create_tuple");
    double start = now();
    check(apply_dl_model(model, line->sample, outputs, &results), "apply_dl_model");
    *seconds = now() - start;
    Hhandle handle = 0;
    check(get_h(results, 0, &handle), "get_h");
    Htuple result = HTUPLE_INITIALIZER;
    check(create_tuple_h(&result, handle), "create_tuple_h");
    Htuple value = entry(result, "word");
    const char *found = "";
    check(get_s(value, 0, &found), "get_s");
    snprintf(word, size, "%s", found);
    destroy_tuple(value), destroy_tuple(result), destroy_tuple(results), destroy_tuple(outputs);
}

/* Whether two texts are equal but for leading and trailing spaces. */
static int same_text(const char *a, const char *b) {
    while (*a == ' ') a++;
    while (*b == ' ') b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == ' ') la--;
    while (lb > 0 && b[lb - 1] == ' ') lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count == 0 ? 0 : values[count / 2];
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.onnx CALIBRATION_SET EVALUATION_SET [PRECISION] [MAX_EVAL_LINES]\n", argv[0]);
        return 2;
    }
    const char *precision = argc > 4 ? argv[4] : "int8";
    int max_eval = argc > 5 ? atoi(argv[5]) : 40;
    if (max_eval < 1 || max_eval > 1000) max_eval = 40;

    /* 1. Devices. */
    Htuple none = HTUPLE_INITIALIZER, none2 = HTUPLE_INITIALIZER, devices = HTUPLE_INITIALIZER;
    check(create_tuple(&none, 0), "create_tuple");
    check(create_tuple(&none2, 0), "create_tuple");
    check(query_available_dl_devices(none, none2, &devices), "query_available_dl_devices");
    Hlong device_count = 0;
    Hhandle cpu_plugin = 0;
    check(length_tuple(devices, &device_count), "length_tuple");
    printf("Devices:\n");
    for (Hlong at = 0; at < device_count; at++) {
        Hhandle handle = 0;
        check(get_h(devices, at, &handle), "get_h");
        Htuple device = HTUPLE_INITIALIZER;
        check(create_tuple_h(&device, handle), "create_tuple_h");
        const char *fields[] = {"name", "ai_accelerator_interface", "precisions"};
        for (int f = 0; f < 3; f++) {
            Htuple name = text(fields[f]), value = HTUPLE_INITIALIZER;
            check(get_dl_device_param(device, name, &value), "get_dl_device_param");
            Hlong length = 0;
            check(length_tuple(value, &length), "length_tuple");
            printf(f == 0 ? "  " : f == 1 ? "  interface '" : "'  precisions ");
            for (Hlong i = 0; i < length; i++) {
                const char *s = "";
                check(get_s(value, i, &s), "get_s");
                printf("%s%s", s, f == 2 && i + 1 < length ? ", " : "");
                if (f == 1 && strcmp(s, "dlopt_cpu") == 0) cpu_plugin = handle;
            }
            destroy_tuple(name), destroy_tuple(value);
        }
        printf("\n");
        destroy_tuple(device);
    }
    if (cpu_plugin == 0) {
        fprintf(stderr, "the CPU plugin (dlopt_cpu) is not loaded: set DLOPT_AI2_PLUGIN_PATH\n");
        return 1;
    }
    Htuple device = HTUPLE_INITIALIZER;
    check(create_tuple_h(&device, cpu_plugin), "create_tuple_h");

    /* 2. The model. */
    Htuple file = text(argv[1]), model = HTUPLE_INITIALIZER;
    check(read_dl_model(file, &model), "read_dl_model");
    Htuple type_name = text("type"), type = text("ocr_recognition");
    check(set_dl_model_param(model, type_name, type), "set_dl_model_param");

    /* 3. Optimize with calibration lines. */
    static Line calibration[512], evaluation[1000];
    int calibration_count = read_set(argv[2], calibration, 512);
    int evaluation_count = read_set(argv[3], evaluation, max_eval);
    Htuple samples = samples_of(calibration, calibration_count);
    Htuple precision_tuple = text(precision), gen_param = HTUPLE_INITIALIZER;
    check(create_tuple(&gen_param, 0), "create_tuple");
    Htuple converted = HTUPLE_INITIALIZER, report = HTUPLE_INITIALIZER;
    printf("\nOptimizing for dlopt_cpu to %s with %d calibration lines...\n", precision, calibration_count);
    fflush(stdout);
    check(optimize_dl_model_for_inference(model, device, precision_tuple, samples, gen_param, &converted, &report),
          "optimize_dl_model_for_inference");
    Htuple method = entry(report, "calibration_method");
    const char *method_name = "";
    check(get_s(method, 0, &method_name), "get_s");
    Htuple agreement = entry(report, "agreement");
    printf("Report: precision %s, method '%s', %.2f s, %d samples, cosine similarity to float32 mean %.5f (min %.5f)\n",
           precision, method_name, number(report, "time_total"), (int)number(report, "num_samples"),
           number(agreement, "cosine_similarity_mean"), number(agreement, "cosine_similarity_min"));

    /* 4. Side by side on evaluation lines. */
    printf("\n%-40s | %-40s | %s\n", "float32", precision, "same");
    double *times_float = calloc((size_t)evaluation_count, sizeof(double));
    double *times_converted = calloc((size_t)evaluation_count, sizeof(double));
    int same = 0, float_right = 0, converted_right = 0;
    for (int at = 0; at < evaluation_count; at++) {
        char word_float[256], word_converted[256];
        /* The first run of a new input width plans (native) or compiles (plugin) for it: time
         * the second. */
        recognise(model, &evaluation[at], word_float, sizeof word_float, &times_float[at]);
        recognise(model, &evaluation[at], word_float, sizeof word_float, &times_float[at]);
        recognise(converted, &evaluation[at], word_converted, sizeof word_converted, &times_converted[at]);
        recognise(converted, &evaluation[at], word_converted, sizeof word_converted, &times_converted[at]);
        int identical = strcmp(word_float, word_converted) == 0;
        same += identical;
        float_right += same_text(word_float, evaluation[at].truth);
        converted_right += same_text(word_converted, evaluation[at].truth);
        if (at < 12) printf("%-40.40s | %-40.40s | %s\n", word_float, word_converted, identical ? "yes" : "NO");
    }
    printf("...\n%d evaluation lines: %s text identical to float32 on %d (%.1f%%); exact vs ground truth: "
           "float32 %d, %s %d\n",
           evaluation_count, precision, same, 100.0 * same / evaluation_count, float_right, precision,
           converted_right);
    printf("Median latency per line (batch 1, shape already compiled): float32 %.2f ms, %s %.2f ms\n",
           1e3 * median(times_float, evaluation_count), precision, 1e3 * median(times_converted, evaluation_count));

    /* 5. Write the converted model and read it back. */
    Htuple out = text("ocr_rec_converted.dlopt"), again = HTUPLE_INITIALIZER;
    check(write_dl_model(converted, out), "write_dl_model");
    check(read_dl_model(out, &again), "read_dl_model");
    char word_written[256], word_read[256];
    double seconds = 0;
    recognise(converted, &evaluation[0], word_written, sizeof word_written, &seconds);
    recognise(again, &evaluation[0], word_read, sizeof word_read, &seconds);
    printf("\nWrote ocr_rec_converted.dlopt and read it back: '%s' %s\n", word_read,
           strcmp(word_written, word_read) == 0 ? "(same text)" : "(DIFFERENT text)");

    for (int at = 0; at < calibration_count; at++) destroy_tuple(calibration[at].sample);
    for (int at = 0; at < evaluation_count; at++) destroy_tuple(evaluation[at].sample);
    free(times_float), free(times_converted);
    destroy_tuple(none), destroy_tuple(none2), destroy_tuple(devices), destroy_tuple(device);
    destroy_tuple(file), destroy_tuple(model), destroy_tuple(type_name), destroy_tuple(type);
    destroy_tuple(samples), destroy_tuple(precision_tuple), destroy_tuple(gen_param);
    destroy_tuple(converted), destroy_tuple(report), destroy_tuple(method), destroy_tuple(agreement);
    destroy_tuple(out), destroy_tuple(again);
    return strcmp(word_written, word_read) == 0 ? 0 : 1;
}
