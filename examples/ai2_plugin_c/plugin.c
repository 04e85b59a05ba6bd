/*
 * The example C plugin: entry points, function table, errors, the device and its
 * properties. Start reading here.
 *
 * A plugin is a shared library exporting exactly two functions (dlopt_ai2.h):
 *   dlopt_ai2_negotiate  the host offers the newest ABI version it speaks, we answer with
 *                        the one we will use;
 *   dlopt_ai2_api        the function table for that version.
 * Everything else the host reaches through the table. This file also holds what every
 * vendor needs regardless of the device: error objects, logging, and device properties
 * written into the host's value sink.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* ==========================================================================================
 * Errors
 *
 * A DlAi2Error is allocated by the plugin and freed by the host through error_destroy. We
 * allocate the struct and its message in one block, so error_destroy is a single free().
 * ======================================================================================== */

/* Returned when not even an error can be allocated. Static, so error_destroy must not
   free it. Its contents are never modified. */
static const DlAi2Error out_of_memory_error = {
    sizeof(DlAi2Error), DLOPT_AI2_ERROR_OUT_OF_MEMORY,
    "the example C plugin ran out of memory"};

DlAi2Error *ex_error(int32_t code, const char *format, ...) {
    char message[512]; /* longer messages are cut */
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    size_t length = strlen(message);
    DlAi2Error *error = malloc(sizeof(DlAi2Error) + length + 1);
    if (error == NULL) {
        return (DlAi2Error *)&out_of_memory_error;
    }
    memcpy(error + 1, message, length + 1);
    error->struct_size = sizeof(DlAi2Error);
    error->code = code;
    error->message = (const char *)(error + 1);
    return error;
}

/* Table function: frees an error. Accepts NULL. Thread safe. */
static void ex_error_destroy(DlAi2Error *error) {
    if (error != NULL && error != &out_of_memory_error) {
        free(error);
    }
}

/* ==========================================================================================
 * Logging
 *
 * Long calls get callbacks from the host (DlAi2CompileArgs::callbacks); at other times we
 * may log through the callbacks the host gave initialize. Either may be NULL, and any
 * single callback in them may be NULL too.
 * ======================================================================================== */

void ex_log(DlAi2Plugin *plugin, const DlAi2Callbacks *callbacks, int32_t level,
            const char *format, ...) {
    if (level > atomic_load(&plugin->log_level)) {
        return;
    }
    if (callbacks == NULL && EX_HAS_FIELD(plugin->host, DlAi2Host, callbacks)) {
        callbacks = plugin->host->callbacks;
    }
    if (callbacks == NULL || !EX_HAS_FIELD(callbacks, DlAi2Callbacks, log) ||
        callbacks->log == NULL) {
        return;
    }
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    callbacks->log(callbacks->context, level, message);
}

/* ==========================================================================================
 * The plugin instance
 * ======================================================================================== */

/* Table function: creates the plugin instance. The host calls it once, before anything
   else but error_destroy; `host` stays valid until the process ends, so we may keep it.
   This is the only place the plugin allocates state that lives beyond one call. */
static DlAi2Error *ex_initialize(const DlAi2Host *host, DlAi2Plugin **plugin) {
    if (host == NULL || plugin == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "initialize: host and plugin must not be NULL");
    }
    if (!EX_HAS_FIELD(host, DlAi2Host, callbacks)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "initialize: the host's DlAi2Host is smaller than ABI 1.0's (%zu bytes)",
                        host->struct_size);
    }
    DlAi2Plugin *instance = malloc(sizeof *instance);
    if (instance == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "initialize: out of memory");
    }
    instance->host = host;
    atomic_init(&instance->log_level, DLOPT_AI2_LOG_WARNING);
    *plugin = instance;
    ex_log(instance, NULL, DLOPT_AI2_LOG_INFO, "example C plugin %s loaded by %s %s",
           EX_PLUGIN_VERSION, host->host_name ? host->host_name : "?",
           host->host_version ? host->host_version : "?");
    return NULL;
}

/* Table function: the number of devices. Thread safe. */
static DlAi2Error *ex_device_count(DlAi2Plugin *plugin, size_t *count) {
    if (plugin == NULL || count == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "device_count: plugin and count must not be NULL");
    }
    *count = EX_DEVICE_COUNT;
    return NULL;
}

/* ==========================================================================================
 * Device properties
 *
 * The host hands us a DlAi2ValueSink; we write exactly one value into it: a scalar, or a
 * list / map with its items between begin_* and end_* (in a map, write_key before each
 * item). The host copies everything, so string literals are fine.
 * ======================================================================================== */

/* The operators the device runs, for 'info'. */
static const char *const supported_operators[] = {"Gemm", "MatMul", "Relu", "Add",
                                                  "Softmax", "Flatten", "Reshape"};

static void write_string_list(const DlAi2ValueSink *sink, const char *const *items,
                              size_t count) {
    sink->begin_list(sink->context);
    for (size_t i = 0; i < count; i++) {
        sink->write_string(sink->context, items[i]);
    }
    sink->end_list(sink->context);
}

/* Writes the property `key` of our one device, or returns UNKNOWN_PARAMETER. */
static DlAi2Error *write_property(DlAi2Plugin *plugin, const char *key,
                                  const DlAi2ValueSink *sink) {
    static const char *const precisions[] = {"float32"};
    void *context = sink->context;
    if (strcmp(key, "name") == 0) {
        sink->write_string(context, EX_DEVICE_NAME);
    } else if (strcmp(key, "type") == 0) {
        /* Honest: the example computes on the CPU. A real vendor says "npu", "gpu", ... */
        sink->write_string(context, "cpu");
    } else if (strcmp(key, "precisions") == 0) {
        write_string_list(sink, precisions, 1);
    } else if (strcmp(key, "cast_precisions") == 0 ||
               strcmp(key, "calibration_precisions") == 0) {
        /* The example cannot convert models to other precisions: empty lists. */
        write_string_list(sink, NULL, 0);
    } else if (strcmp(key, "calibrates_itself") == 0) {
        sink->write_int(context, 0);
    } else if (strcmp(key, "optimize_for_inference_params") == 0) {
        /* No optimization options: an empty map. */
        sink->begin_map(context);
        sink->end_map(context);
    } else if (strcmp(key, "settable_device_params") == 0) {
        sink->begin_map(context);
        sink->write_key(context, "log_level");
        sink->write_int(context, atomic_load(&plugin->log_level));
        sink->end_map(context);
    } else if (strcmp(key, "info") == 0) {
        sink->begin_map(context);
        sink->write_key(context, "description");
        sink->write_string(context,
                           "the AI2 plugin template written in C: float32 on one CPU thread");
        sink->write_key(context, "plugin_version");
        sink->write_string(context, EX_PLUGIN_VERSION);
        sink->write_key(context, "operators");
        write_string_list(sink, supported_operators,
                          sizeof supported_operators / sizeof supported_operators[0]);
        sink->write_key(context, "max_rank");
        sink->write_int(context, EX_MAX_RANK);
        sink->end_map(context);
    } else if (strcmp(key, "deterministic") == 0) {
        /* One thread, fixed summation order: bitwise identical outputs every time. */
        sink->write_int(context, 1);
    } else if (strcmp(key, "execute_concurrently") == 0) {
        /* execute only reads the program and allocates its scratch memory per call. */
        sink->write_int(context, 1);
    } else if (strcmp(key, EX_PLUGIN_NAME ".max_rank") == 0) {
        /* A vendor key: namespaced with the interface name and a dot. */
        sink->write_int(context, EX_MAX_RANK);
    } else {
        return ex_error(DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
                        "device property '%s' is unknown to the example C plugin", key);
    }
    return NULL;
}

/* Table function: writes a device property into the host's sink. Thread safe. */
static DlAi2Error *ex_device_property(DlAi2Plugin *plugin, size_t device, const char *key,
                                      const DlAi2ValueSink *sink) {
    if (plugin == NULL || key == NULL || sink == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "device_property: plugin, key and sink must not be NULL");
    }
    if (device >= EX_DEVICE_COUNT) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "device_property: there is no device %zu (the plugin has %d)", device,
                        EX_DEVICE_COUNT);
    }
    if (!EX_HAS_FIELD(sink, DlAi2ValueSink, end_map)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "device_property: the sink is smaller than ABI 1.0's (%zu bytes)",
                        sink->struct_size);
    }
    return write_property(plugin, key, sink);
}

/* Table function: sets a settable device parameter. Thread safe (the setting is atomic). */
static DlAi2Error *ex_set_device_param(DlAi2Plugin *plugin, size_t device, const char *key,
                                       const DlAi2Value *value) {
    if (plugin == NULL || key == NULL || value == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "set_device_param: plugin, key and value must not be NULL");
    }
    if (device >= EX_DEVICE_COUNT) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "set_device_param: there is no device %zu (the plugin has %d)", device,
                        EX_DEVICE_COUNT);
    }
    if (strcmp(key, "log_level") != 0) {
        return ex_error(DLOPT_AI2_ERROR_UNKNOWN_PARAMETER,
                        "'%s' is not a settable parameter of the example C plugin's device "
                        "(settable: log_level)",
                        key);
    }
    if (value->kind != DLOPT_AI2_VALUE_INT || value->integer < 0 ||
        value->integer > DLOPT_AI2_LOG_DEBUG) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_PARAMETER_VALUE,
                        "log_level must be an integer from 0 (nothing) to %d (debug)",
                        DLOPT_AI2_LOG_DEBUG);
    }
    atomic_store(&plugin->log_level, (int32_t)value->integer);
    return NULL;
}

/* ==========================================================================================
 * The function table and the two exported entry points
 * ======================================================================================== */

/* Static and constant: valid for the life of the process, as the ABI requires. */
static const DlAi2Api api_v1 = {
    sizeof(DlAi2Api),
    DLOPT_AI2_ABI_MAJOR,
    DLOPT_AI2_ABI_MINOR,
    EX_PLUGIN_NAME,      /* plugin_name */
    EX_PLUGIN_VERSION,   /* plugin_version */
    EX_PLUGIN_NAME,      /* interface_name */
    ex_error_destroy,
    ex_initialize,
    ex_device_count,
    ex_device_property,
    ex_set_device_param,
    ex_check_support,
    ex_compile,
    ex_compiled_destroy,
    ex_execute,
    ex_serialize,
    ex_deserialize,
};

/* Version negotiation. We implement ABI 1.0 (major 1, minor DLOPT_AI2_ABI_MINOR).
   - Host major 1: we answer major 1 and the smaller of both minors (a 1.3 plugin talking to
     a 1.1 host uses only what 1.1 has).
   - Host major 2 or newer: such a host may still speak 1, so we answer our own 1.x and the
     host decides whether it can use it.
   - Host major 0 (older than anything we speak), or no out-pointers: refused (non-zero). */
DLOPT_AI2_EXPORT int32_t dlopt_ai2_negotiate(uint32_t host_major, uint32_t host_minor,
                                             uint32_t *plugin_major, uint32_t *plugin_minor) {
    if (plugin_major == NULL || plugin_minor == NULL || host_major < DLOPT_AI2_ABI_MAJOR) {
        return 1;
    }
    uint32_t our_minor = DLOPT_AI2_ABI_MINOR;
    *plugin_major = DLOPT_AI2_ABI_MAJOR;
    *plugin_minor = host_major == DLOPT_AI2_ABI_MAJOR && host_minor < our_minor ? host_minor
                                                                               : our_minor;
    return 0;
}

/* The function table for ABI `major`, or NULL if we do not implement it. */
DLOPT_AI2_EXPORT const DlAi2Api *dlopt_ai2_api(uint32_t major) {
    return major == DLOPT_AI2_ABI_MAJOR ? &api_v1 : NULL;
}
