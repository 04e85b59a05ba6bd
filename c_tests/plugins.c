/*
 * AI² plugins through the public header: get_system('ai2_plugins') and
 * get_system('ai2_plugin_path'), the device list with every device parameter, a plugin
 * that failed to load giving its error when its interface is asked for, device settings,
 * and a small model (x -> Relu -> Add(relu, x)) applied on the good test plugin's device
 * with the native runtime's results, then moved back to the native device.
 *
 * Plugins: $DLOPT_AI2_PLUGIN_PATH must hold the test plugins libai2_test_good.so and
 * libai2_test_init_fails.so (tests/c_tests.rs builds them and sets it). Without it the
 * test is skipped.
 */
#include "plugin_support.h"

static const char *DEVICE_PARAMS[] = {
    "type", "name", "id", "runtime", "ai_accelerator_interface", "conversion_supported",
    "precisions", "cast_precisions", "calibration_precisions", "inference_only",
};

static const char *DICT_DEVICE_PARAMS[] = {
    "info", "settable_device_params", "optimize_for_inference_params",
};

/* get_system(query) -> a new tuple (empty on failure). */
static Htuple system_info(const char *query) {
    Htuple q = tuple_s(query), info = HTUPLE_INITIALIZER;
    CHECK_OK(get_system(q, &info));
    CHECK_DESTROY(q);
    if (info.data == NULL) info = tuple_empty();
    return info;
}

/* The string under `key` of the dict handle `dict` ("" if missing); copied into `out`. */
static void dict_string(Hhandle dict, const char *key, char *out, size_t size) {
    Htuple d = tuple_h(dict);
    Htuple value = fetch(d, tuple_s(key));
    snprintf(out, size, "%s", length_of(value) == 1 ? string_at(value, 0) : "");
    CHECK_DESTROY(value, d);
}

static Hlong dict_integer(Hhandle dict, const char *key) {
    Htuple d = tuple_h(dict);
    Htuple value = fetch(d, tuple_s(key));
    Hlong result = length_of(value) == 1 ? int_at(value, 0) : -1;
    CHECK_DESTROY(value, d);
    return result;
}

static void test_system_queries(const char *plugin_path) {
    Htuple path = system_info("ai2_plugin_path");
    CHECK(length_of(path) == 2);
    CHECK(strcmp(string_at(path, 0), plugin_path) == 0);
    CHECK(strstr(string_at(path, 1), "dlopt-plugins") != NULL);
    CHECK_DESTROY(path);

    Htuple plugins = system_info("ai2_plugins");
    CHECK(length_of(plugins) == 2);
    int loaded = 0, failed = 0;
    for (Hlong at = 0; at < length_of(plugins); at++) {
        Hhandle dict = handle_at(plugins, at);
        char status[32], name[64], reason[512], file[512];
        dict_string(dict, "status", status, sizeof status);
        dict_string(dict, "name", name, sizeof name);
        dict_string(dict, "reason", reason, sizeof reason);
        dict_string(dict, "path", file, sizeof file);
        printf("plugin %s: %s, %s (%ld) %s\n", file, name, status,
               (long)dict_integer(dict, "error_code"), reason);
        if (strcmp(status, "loaded") == 0) {
            loaded++;
            CHECK(strcmp(name, "dlopt_test_good") == 0);
            CHECK(dict_integer(dict, "error_code") == H_MSG_TRUE);
            CHECK(dict_integer(dict, "num_devices") == 1);
        } else {
            failed++;
            CHECK(strcmp(status, "failed") == 0);
            CHECK(dict_integer(dict, "error_code") == H_ERR_HAI2_ERROR);
            CHECK(strstr(reason, "no accelerator card found") != NULL);
        }
    }
    CHECK(loaded == 1 && failed == 1);
    CHECK_OK(clear_handle(plugins));
    CHECK_DESTROY(plugins);

    Htuple bad = tuple_s("ai2_plugins_all"), untouched = sentinel_tuple();
    CHECK_ERROR(get_system(bad, &untouched), H_ERR_WIPV1);
    CHECK_MESSAGE_CONTAINS("unknown query 'ai2_plugins_all'");
    finish_output(H_ERR_WIPV1, &untouched);
    CHECK_DESTROY(bad);
}

/* Prints and checks every parameter of `device`; returns its interface in `interface`. */
static void read_device(Hhandle device, char *interface, size_t size) {
    Htuple d = tuple_h(device);
    for (size_t at = 0; at < sizeof DEVICE_PARAMS / sizeof *DEVICE_PARAMS; at++) {
        Htuple name = tuple_s(DEVICE_PARAMS[at]), value = HTUPLE_INITIALIZER;
        CHECK_OK(get_dl_device_param(d, name, &value));
        printf("  %s:", DEVICE_PARAMS[at]);
        for (Hlong i = 0; value.data && i < length_of(value); i++) {
            if (type_at(value, i) == LONG_PAR) printf(" %ld", (long)int_at(value, i));
            else printf(" '%s'", string_at(value, i));
        }
        printf("\n");
        if (strcmp(DEVICE_PARAMS[at], "ai_accelerator_interface") == 0)
            snprintf(interface, size, "%s", string_at(value, 0));
        CHECK_DESTROY(name, value);
    }
    for (size_t at = 0; at < sizeof DICT_DEVICE_PARAMS / sizeof *DICT_DEVICE_PARAMS; at++) {
        Htuple name = tuple_s(DICT_DEVICE_PARAMS[at]), value = HTUPLE_INITIALIZER;
        CHECK_OK(get_dl_device_param(d, name, &value));
        CHECK(length_of(value) == 1 && type_at(value, 0) == HANDLE_PAR);
        CHECK_OK(clear_handle(value));
        CHECK_DESTROY(name, value);
    }
    CHECK_DESTROY(d);
}

static void test_devices(void) {
    Htuple none = tuple_empty(), none2 = tuple_empty(), devices = HTUPLE_INITIALIZER;
    CHECK_OK(query_available_dl_devices(none, none2, &devices));
    CHECK(length_of(devices) == 2);
    for (Hlong at = 0; at < length_of(devices); at++) {
        char interface[64] = "";
        printf("device %ld\n", (long)at);
        read_device(handle_at(devices, at), interface, sizeof interface);
        CHECK(strcmp(interface, at == 0 ? "none" : "test_good") == 0);
    }
    CHECK_OK(clear_handle(devices));
    CHECK_DESTROY(none, none2, devices);

    /* A plugin that failed to load: its error, with the reason, instead of no devices. */
    Htuple names = tuple_s("ai_accelerator_interface"), values = tuple_s("test_init_fails");
    Htuple untouched = sentinel_tuple();
    CHECK_ERROR(query_available_dl_devices(names, values, &untouched), H_ERR_HAI2_ERROR);
    CHECK_MESSAGE_CONTAINS("no accelerator card found");
    finish_output(H_ERR_HAI2_ERROR, &untouched);
    CHECK_DESTROY(names, values);

    /* Settings: passed to the plugin; a refused value is 4321 with the plugin's message. */
    Htuple good = device_of("test_good");
    Htuple name = tuple_s("log_level"), info = tuple_s("info"), loud = tuple_s("loud");
    CHECK_OK(set_dl_device_param(good, name, info));
    CHECK_ERROR(set_dl_device_param(good, name, loud), H_ERR_HAI2_INVALID_PARAM);
    CHECK_MESSAGE_CONTAINS("dlopt_test_good: log_level takes");
    Htuple vendor = tuple_s("test_good.answer"), answer = HTUPLE_INITIALIZER;
    CHECK_OK(get_dl_device_param(good, vendor, &answer));
    CHECK(int_at(answer, 0) == 42);
    CHECK_OK(clear_handle(good));
    CHECK_DESTROY(good, name, info, loud, vendor, answer);
}

static void test_model_on_plugin(void) {
    FILE *file = fopen("tiny.onnx", "wb");
    CHECK(file != NULL);
    if (!file) return;
    CHECK(fwrite(TINY_ONNX, 1, sizeof TINY_ONNX, file) == sizeof TINY_ONNX);
    fclose(file);
    Htuple file_name = tuple_s("tiny.onnx"), model = HTUPLE_INITIALIZER;
    CHECK_OK(read_dl_model(file_name, &model));
    if (model.data == NULL) return;

    Htuple sample = make_sample(0.5f);
    double native[48], on_plugin[48], again[48];
    apply_y(model, sample, native);
    for (int i = 0; i < 48; i++) {
        double x = i * 0.25 - 6.0 + 0.5;
        CHECK(native[i] == (x > 0 ? 2 * x : x));
    }

    Htuple good = device_of("test_good"), device = tuple_s("device");
    CHECK_OK(set_dl_model_param(model, device, good));
    Htuple runtime = model_param(model, "runtime");
    CHECK(strcmp(string_at(runtime, 0), "ai_accelerator") == 0);
    apply_y(model, sample, on_plugin);
    CHECK(memcmp(native, on_plugin, sizeof native) == 0);

    /* Back on the native device. */
    Htuple runtime_name = tuple_s("runtime"), cpu = tuple_s("cpu");
    CHECK_OK(set_dl_model_param(model, runtime_name, cpu));
    apply_y(model, sample, again);
    CHECK(memcmp(native, again, sizeof native) == 0);

    CHECK_OK(clear_handle(good));
    CHECK_OK(clear_handle(model));
    CHECK_DESTROY(file_name, model, sample, good, device, runtime, runtime_name, cpu);
    remove("tiny.onnx");
}

int main(void) {
    const char *plugin_path = getenv("DLOPT_AI2_PLUGIN_PATH");
    if (plugin_path == NULL || plugin_path[0] == '\0') {
        printf("plugins: skipped (DLOPT_AI2_PLUGIN_PATH is not set)\n");
        return 0;
    }
    test_system_queries(plugin_path);
    test_devices();
    test_model_on_plugin();
    return TEST_RESULT();
}
