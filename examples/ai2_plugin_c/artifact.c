/*
 * serialize and deserialize: the compiled model as a self-describing, validated blob.
 *
 * Layout (every number little-endian, whatever the machine):
 *
 *   magic            8 bytes  "DLAI2EXC" (dlopt AI2, example C plugin)
 *   format version   u32      EX_FORMAT_VERSION
 *   total size       u64      the size of the whole artifact, checksum included
 *   ABI version      u32 u32  major, minor the plugin was built against
 *   device           u32      the device it was compiled for
 *   plugin name      string   u32 length, then the bytes (no NUL)
 *   plugin version   string
 *   program          tensors, steps, inputs, outputs, scratch size, weights (see below)
 *   checksum         u64      64-bit FNV-1a of every byte before it
 *
 * deserialize checks, in this order, so that its message says what is wrong: the magic
 * (another plugin's blob or no artifact at all), the format version, the size (truncated or
 * trailing bytes), the checksum (corrupt), then the ABI version, plugin name and device,
 * and finally every index and shape of the program (ex_program_validate), so that even a
 * blob with a forged checksum cannot make execute read or write out of bounds.
 *
 * Same program, same bytes: the blob holds no pointers, timestamps or padding.
 */

#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define EX_MAGIC "DLAI2EXC"
#define EX_MAGIC_SIZE 8
/* Bump when the layout changes; older artifacts are then refused with a clear message. */
#define EX_FORMAT_VERSION 1u
/* magic + format version + total size */
#define EX_PREAMBLE_SIZE (EX_MAGIC_SIZE + 4 + 8)
#define EX_CHECKSUM_SIZE 8

/* 64-bit FNV-1a: simple, and it detects every change of a single byte. */
static uint64_t checksum(const uint8_t *data, size_t size) {
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < size; i++) {
        hash ^= data[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

/* ==========================================================================================
 * Writing
 * ======================================================================================== */

/* A growing byte buffer. `failed` turns every later write into a no-op. */
typedef struct Writer {
    uint8_t *data;
    size_t size;
    size_t capacity;
    int failed;
} Writer;

static void put_bytes(Writer *w, const void *bytes, size_t count) {
    if (w->failed) {
        return;
    }
    if (w->size + count > w->capacity) {
        size_t capacity = w->capacity > 0 ? w->capacity : 256;
        while (capacity < w->size + count) {
            capacity *= 2;
        }
        uint8_t *grown = realloc(w->data, capacity);
        if (grown == NULL) {
            w->failed = 1;
            return;
        }
        w->data = grown;
        w->capacity = capacity;
    }
    memcpy(w->data + w->size, bytes, count);
    w->size += count;
}

static void put_u64(Writer *w, uint64_t value) {
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
    put_bytes(w, bytes, 8);
}

static void put_u32(Writer *w, uint32_t value) {
    uint8_t bytes[4];
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
    put_bytes(w, bytes, 4);
}

static void put_i32(Writer *w, int32_t value) { put_u32(w, (uint32_t)value); }

static void put_f32(Writer *w, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_u32(w, bits);
}

static void put_string(Writer *w, const char *text) {
    size_t length = strlen(text);
    put_u32(w, (uint32_t)length);
    put_bytes(w, text, length);
}

static void put_program(Writer *w, const DlAi2Compiled *p) {
    put_u32(w, p->tensor_count);
    for (uint32_t t = 0; t < p->tensor_count; t++) {
        const ExTensor *tensor = &p->tensors[t];
        put_i32(w, tensor->dtype);
        put_u32(w, tensor->storage);
        put_u64(w, tensor->offset);
        put_u32(w, tensor->rank);
        for (uint32_t d = 0; d < tensor->rank; d++) {
            put_u64(w, (uint64_t)tensor->shape[d]);
        }
    }
    put_u32(w, p->step_count);
    for (uint32_t s = 0; s < p->step_count; s++) {
        const ExStep *step = &p->steps[s];
        put_u32(w, step->op);
        put_u32(w, step->activation);
        for (int i = 0; i < 3; i++) {
            put_i32(w, step->inputs[i]);
        }
        put_i32(w, step->output);
        put_i32(w, step->trans_a);
        put_i32(w, step->trans_b);
        put_f32(w, step->alpha);
        put_f32(w, step->beta);
    }
    put_u32(w, p->input_count);
    for (uint32_t i = 0; i < p->input_count; i++) {
        put_i32(w, p->inputs[i]);
    }
    put_u32(w, p->output_count);
    for (uint32_t i = 0; i < p->output_count; i++) {
        put_i32(w, p->outputs[i]);
    }
    put_u64(w, p->scratch_count);
    put_u64(w, p->constant_count);
    for (uint64_t i = 0; i < p->constant_count; i++) {
        put_f32(w, p->constants[i]);
    }
}

/* Table function: writes the artifact into the host's sink (in one piece). */
DlAi2Error *ex_serialize(DlAi2Compiled *compiled, const DlAi2ByteSink *sink) {
    if (compiled == NULL || sink == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "serialize: compiled and sink must not be NULL");
    }
    if (!EX_HAS_FIELD(sink, DlAi2ByteSink, write) || sink->write == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "serialize: the sink has no write function");
    }
    Writer w = {NULL, 0, 0, 0};
    put_bytes(&w, EX_MAGIC, EX_MAGIC_SIZE);
    put_u32(&w, EX_FORMAT_VERSION);
    put_u64(&w, 0); /* the total size, filled in below */
    put_u32(&w, DLOPT_AI2_ABI_MAJOR);
    put_u32(&w, DLOPT_AI2_ABI_MINOR);
    put_u32(&w, compiled->device);
    put_string(&w, EX_PLUGIN_NAME);
    put_string(&w, EX_PLUGIN_VERSION);
    put_program(&w, compiled);
    put_u64(&w, 0); /* room for the checksum */
    if (w.failed) {
        free(w.data);
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "serialize: out of memory");
    }
    for (int i = 0; i < 8; i++) {
        w.data[EX_MAGIC_SIZE + 4 + i] = (uint8_t)((uint64_t)w.size >> (8 * i));
    }
    uint64_t sum = checksum(w.data, w.size - EX_CHECKSUM_SIZE);
    for (int i = 0; i < 8; i++) {
        w.data[w.size - EX_CHECKSUM_SIZE + (size_t)i] = (uint8_t)(sum >> (8 * i));
    }
    int32_t refused = sink->write(sink->context, w.data, w.size);
    free(w.data);
    if (refused != 0) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY,
                        "serialize: the host could not take the artifact");
    }
    return NULL;
}

/* ==========================================================================================
 * Reading
 * ======================================================================================== */

/* A bounds-checked cursor. Reading past the end sets `failed` and yields zeros. */
typedef struct Reader {
    const uint8_t *data;
    size_t size;
    size_t at;
    int failed;
} Reader;

static const uint8_t *take(Reader *r, size_t count) {
    if (r->failed || count > r->size - r->at) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *bytes = r->data + r->at;
    r->at += count;
    return bytes;
}

static uint64_t get_u64(Reader *r) {
    const uint8_t *bytes = take(r, 8);
    uint64_t value = 0;
    for (int i = 0; bytes != NULL && i < 8; i++) {
        value |= (uint64_t)bytes[i] << (8 * i);
    }
    return value;
}

static uint32_t get_u32(Reader *r) {
    const uint8_t *bytes = take(r, 4);
    uint32_t value = 0;
    for (int i = 0; bytes != NULL && i < 4; i++) {
        value |= (uint32_t)bytes[i] << (8 * i);
    }
    return value;
}

static int32_t get_i32(Reader *r) { return (int32_t)get_u32(r); }

static float get_f32(Reader *r) {
    uint32_t bits = get_u32(r);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* Whether the next string equals `expected`. */
static int string_is(Reader *r, const char *expected) {
    uint32_t length = get_u32(r);
    const uint8_t *bytes = take(r, length);
    return bytes != NULL && length == strlen(expected) && memcmp(bytes, expected, length) == 0;
}

/* Allocates `count` items of `item_size` bytes, after checking that the remaining bytes can
   hold them (each item needs at least `min_bytes`): a corrupt count cannot make us
   allocate gigabytes. */
static void *allocate_items(Reader *r, uint64_t count, size_t item_size, size_t min_bytes) {
    if (r->failed || count > (r->size - r->at) / min_bytes) {
        r->failed = 1;
        return NULL;
    }
    void *items = calloc(count > 0 ? (size_t)count : 1, item_size);
    if (items == NULL) {
        r->failed = 1;
    }
    return items;
}

static void get_program(Reader *r, DlAi2Compiled *p) {
    p->tensor_count = get_u32(r);
    p->tensors = allocate_items(r, p->tensor_count, sizeof(ExTensor), 20);
    for (uint32_t t = 0; !r->failed && t < p->tensor_count; t++) {
        ExTensor *tensor = &p->tensors[t];
        tensor->dtype = get_i32(r);
        tensor->storage = get_u32(r);
        tensor->offset = get_u64(r);
        tensor->rank = get_u32(r);
        if (tensor->rank > EX_MAX_RANK) {
            r->failed = 1;
        }
        for (uint32_t d = 0; !r->failed && d < tensor->rank; d++) {
            tensor->shape[d] = (int64_t)get_u64(r);
        }
    }
    p->step_count = get_u32(r);
    p->steps = allocate_items(r, p->step_count, sizeof(ExStep), 44);
    for (uint32_t s = 0; !r->failed && s < p->step_count; s++) {
        ExStep *step = &p->steps[s];
        step->op = get_u32(r);
        step->activation = get_u32(r);
        for (int i = 0; i < 3; i++) {
            step->inputs[i] = get_i32(r);
        }
        step->output = get_i32(r);
        step->trans_a = get_i32(r);
        step->trans_b = get_i32(r);
        step->alpha = get_f32(r);
        step->beta = get_f32(r);
    }
    p->input_count = get_u32(r);
    p->inputs = allocate_items(r, p->input_count, sizeof(int32_t), 4);
    for (uint32_t i = 0; !r->failed && i < p->input_count; i++) {
        p->inputs[i] = get_i32(r);
    }
    p->output_count = get_u32(r);
    p->outputs = allocate_items(r, p->output_count, sizeof(int32_t), 4);
    for (uint32_t i = 0; !r->failed && i < p->output_count; i++) {
        p->outputs[i] = get_i32(r);
    }
    p->scratch_count = get_u64(r);
    p->constant_count = get_u64(r);
    p->constants = allocate_items(r, p->constant_count, sizeof(float), 4);
    for (uint64_t i = 0; !r->failed && i < p->constant_count; i++) {
        p->constants[i] = get_f32(r);
    }
}

/* An INCOMPATIBLE_ARTIFACT error with the common prefix. */
#define INCOMPATIBLE(...) ex_error(DLOPT_AI2_ERROR_INCOMPATIBLE_ARTIFACT, __VA_ARGS__)

/* Checks the envelope: magic, format version, size, checksum, ABI, plugin, device. */
static DlAi2Error *check_envelope(Reader *r, size_t device) {
    const uint8_t *magic = take(r, EX_MAGIC_SIZE);
    if (magic == NULL || memcmp(magic, EX_MAGIC, EX_MAGIC_SIZE) != 0) {
        return INCOMPATIBLE("not an artifact of the example C plugin (%zu bytes without its "
                            "magic '" EX_MAGIC "')", r->size);
    }
    uint32_t format = get_u32(r);
    uint64_t total = get_u64(r);
    if (r->failed) {
        return INCOMPATIBLE("the artifact is truncated (%zu bytes)", r->size);
    }
    if (format != EX_FORMAT_VERSION) {
        return INCOMPATIBLE("artifact format %u; this plugin (version " EX_PLUGIN_VERSION
                            ") reads format %u: compile the model again", format,
                            EX_FORMAT_VERSION);
    }
    if (total != r->size) {
        return INCOMPATIBLE("the artifact is %s: %zu bytes, its header says %llu",
                            total > r->size ? "truncated" : "followed by extra bytes", r->size,
                            (unsigned long long)total);
    }
    if (r->size < EX_PREAMBLE_SIZE + EX_CHECKSUM_SIZE) {
        return INCOMPATIBLE("the artifact is truncated (%zu bytes)", r->size);
    }
    Reader tail = {r->data, r->size, r->size - EX_CHECKSUM_SIZE, 0};
    if (get_u64(&tail) != checksum(r->data, r->size - EX_CHECKSUM_SIZE)) {
        return INCOMPATIBLE("the artifact is corrupt (checksum mismatch)");
    }
    r->size -= EX_CHECKSUM_SIZE; /* the program ends where the checksum starts */
    uint32_t abi_major = get_u32(r), abi_minor = get_u32(r), artifact_device = get_u32(r);
    int name_ok = string_is(r, EX_PLUGIN_NAME);
    uint32_t version_length = get_u32(r);
    take(r, version_length); /* the plugin version: informative, the format decides */
    if (r->failed || abi_major != DLOPT_AI2_ABI_MAJOR || !name_ok) {
        return INCOMPATIBLE("the artifact was made by another plugin or ABI (ABI %u.%u)",
                            abi_major, abi_minor);
    }
    if (artifact_device != device) {
        return INCOMPATIBLE("the artifact was compiled for device %u, not device %zu",
                            artifact_device, device);
    }
    return NULL;
}

/* Table function: validates and loads an artifact. Thread safe. */
DlAi2Error *ex_deserialize(DlAi2Plugin *plugin, size_t device, const uint8_t *data,
                           size_t size, DlAi2Compiled **compiled) {
    if (plugin == NULL || compiled == NULL || (data == NULL && size > 0)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "deserialize: plugin, data and compiled must not be NULL");
    }
    if (device >= EX_DEVICE_COUNT) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "deserialize: there is no device %zu",
                        device);
    }
    Reader r = {data, size, 0, 0};
    DlAi2Error *error = check_envelope(&r, device);
    if (error != NULL) {
        return error;
    }
    DlAi2Compiled *program = calloc(1, sizeof *program);
    if (program == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "deserialize: out of memory");
    }
    program->device = (uint32_t)device;
    get_program(&r, program);
    char reason[256] = "";
    if (r.failed || r.at != r.size) {
        error = INCOMPATIBLE("the artifact's program is malformed");
    } else if (!ex_program_validate(program, reason, sizeof reason)) {
        error = INCOMPATIBLE("the artifact's program is invalid: %s", reason);
    }
    if (error != NULL) {
        ex_program_free(program);
        return error;
    }
    *compiled = program;
    return NULL;
}
