/*
 * The example C plugin's private declarations, shared by its source files.
 *
 * The plugin is split by idea:
 *   plugin.c    the two exported entry points, the function table, errors, the device and
 *               its properties (start reading here);
 *   support.c   which nodes the plugin runs and why not the others;
 *   compile.c   turning a borrowed DlAi2Graph into an owned program;
 *   execute.c   running a program (the float32 kernels);
 *   artifact.c  serializing and validating programs.
 *
 * Everything declared here is internal: the library is built with -fvisibility=hidden, so
 * only the two functions marked DLOPT_AI2_EXPORT in dlopt_ai2.h leave the library.
 */

#ifndef EXAMPLE_PLUGIN_H
#define EXAMPLE_PLUGIN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dlopt_ai2.h"

/* ------------------------------------------------------------------------------------------
 * Identity
 * ---------------------------------------------------------------------------------------- */

/* The plugin's name (also the value of the devices' 'ai_accelerator_interface'). */
#define EX_PLUGIN_NAME "example_c"
/* The plugin's version. Artifacts record it. */
#define EX_PLUGIN_VERSION "1.0.0"
/* The one device's name. */
#define EX_DEVICE_NAME "dlopt example C plugin"
/* This plugin has one device: the CPU it runs on. */
#define EX_DEVICE_COUNT 1

/* The largest tensor rank the plugin handles (shapes are stored inline). */
#define EX_MAX_RANK 8

/* ------------------------------------------------------------------------------------------
 * Rule 2 of the ABI: structs are size-prefixed and append-only. Before reading a field of a
 * struct the host passes in, check that the host's struct is big enough to have it.
 * ---------------------------------------------------------------------------------------- */
#define EX_HAS_FIELD(pointer, Type, field) \
    ((pointer)->struct_size >= offsetof(Type, field) + sizeof(((const Type *)0)->field))

/* ------------------------------------------------------------------------------------------
 * The plugin instance (what initialize creates). Opaque to the host.
 * ---------------------------------------------------------------------------------------- */
struct DlAi2Plugin {
    /* What the host told us; valid until the process ends. */
    const DlAi2Host *host;
    /* The settable device parameter 'log_level': messages at DLOPT_AI2_LOG_* levels up to
       this one reach the host (0 = none). Atomic because set_device_param and the functions
       that log may run on several threads at once. */
    _Atomic int32_t log_level;
};

/* ------------------------------------------------------------------------------------------
 * Programs: what compile produces, execute runs and the artifact stores. Plain data, no
 * pointers into the host's graph (compile copies what it needs: rule 4).
 * ---------------------------------------------------------------------------------------- */

/* Where a tensor's elements live while the program runs. */
enum ExStorage {
    EX_STORAGE_NONE = 0,     /* never read (e.g. the shape input of a Reshape) */
    EX_STORAGE_INPUT = 1,    /* the host's input buffer number `offset` */
    EX_STORAGE_CONSTANT = 2, /* program->constants + offset */
    EX_STORAGE_SCRATCH = 3   /* per-execute scratch memory + offset */
};

typedef struct ExTensor {
    int32_t dtype;            /* DLOPT_AI2_DTYPE_* */
    uint32_t storage;         /* enum ExStorage */
    uint64_t offset;          /* see enum ExStorage; in elements */
    uint32_t rank;
    int64_t shape[EX_MAX_RANK];
} ExTensor;

/* The operations a program is made of. Flatten and Reshape do not appear: they only give
   their input a new shape, so compile makes their output share the input's storage. */
enum ExOp {
    EX_OP_GEMM = 1,    /* Y = alpha * A' * B' + beta * C, A' / B' optionally transposed */
    EX_OP_MATMUL = 2,  /* Y = A * B (2-D) */
    EX_OP_RELU = 3,    /* Y = max(X, 0) */
    EX_OP_ADD = 4,     /* Y = A + B, equal shapes or a trailing-dims bias */
    EX_OP_SOFTMAX = 5  /* Y = softmax(X) over the last axis */
};

/* An activation fused into a Gemm or MatMul by the host (node attribute dlopt_activation). */
enum ExActivation { EX_ACTIVATION_NONE = 0, EX_ACTIVATION_RELU = 1 };

typedef struct ExStep {
    uint32_t op;          /* enum ExOp */
    uint32_t activation;  /* enum ExActivation */
    int32_t inputs[3];    /* tensor indices; -1 when absent (Gemm's optional C) */
    int32_t output;       /* tensor index */
    int32_t trans_a;      /* Gemm only */
    int32_t trans_b;      /* Gemm only */
    float alpha;          /* Gemm only */
    float beta;           /* Gemm only */
} ExStep;

struct DlAi2Compiled {
    uint32_t device;
    uint32_t tensor_count;
    ExTensor *tensors;
    uint32_t step_count;
    ExStep *steps;
    uint32_t input_count;   /* the graph's inputs, in order: tensor indices */
    int32_t *inputs;
    uint32_t output_count;  /* the graph's outputs, in order: tensor indices */
    int32_t *outputs;
    uint64_t scratch_count; /* float32 elements of scratch memory one execute needs */
    uint64_t constant_count;
    float *constants;       /* the weights, copied out of the graph */
};

/* ------------------------------------------------------------------------------------------
 * Errors (plugin.c). Every error is one malloc'ed block that error_destroy frees.
 * ---------------------------------------------------------------------------------------- */
#if defined(__GNUC__)
#define EX_PRINTF(format_at, args_at) __attribute__((format(printf, format_at, args_at)))
#else
#define EX_PRINTF(format_at, args_at)
#endif

/* An error with a printf-style message. Never returns NULL (falls back to a static
   out-of-memory error that error_destroy knows not to free). */
DlAi2Error *ex_error(int32_t code, const char *format, ...) EX_PRINTF(2, 3);

/* Sends a message to the per-call callbacks if given, else to the host's callbacks, if the
   plugin's log level lets it through. */
void ex_log(DlAi2Plugin *plugin, const DlAi2Callbacks *callbacks, int32_t level,
            const char *format, ...) EX_PRINTF(4, 5);

/* ------------------------------------------------------------------------------------------
 * Tensors (support.c)
 * ---------------------------------------------------------------------------------------- */

/* The size of one element of a DLOPT_AI2_DTYPE_* type in bytes, 0 if unknown. */
size_t ex_dtype_size(int32_t dtype);

/* The number of elements of a tensor (shapes are validated to keep this below 2^48). */
uint64_t ex_element_count(const ExTensor *tensor);

/* Fills `tensor` (storage NONE) from a graph value. Returns NULL, or why the value cannot
   be used (into `reason`). */
const char *ex_tensor_from_desc(const DlAi2TensorDesc *desc, ExTensor *tensor, char *reason,
                                size_t reason_size);

/* ------------------------------------------------------------------------------------------
 * Support (support.c)
 * ---------------------------------------------------------------------------------------- */

/* Decides whether node `node_index` of `graph` can run, given the graph's values as
   `tensors`. When it can, fills `step` (for Flatten and Reshape: `*is_alias` = 1 and only
   step->inputs[0] / step->output are set) and returns 1. When it cannot, writes why into
   `reason` and returns 0. */
int ex_translate_node(const DlAi2Graph *graph, size_t node_index, const ExTensor *tensors,
                      ExStep *step, int *is_alias, char *reason, size_t reason_size);

/* Checks that a step's tensors have shapes its operation accepts. Returns 1, or 0 with
   the reason. Used on compiled steps and on steps read from an artifact. */
int ex_check_step(const ExStep *step, const ExTensor *tensors, uint32_t tensor_count,
                  char *reason, size_t reason_size);

/* ------------------------------------------------------------------------------------------
 * Programs (compile.c, execute.c, artifact.c)
 * ---------------------------------------------------------------------------------------- */

/* Frees a program and everything it owns. Accepts NULL. */
void ex_program_free(DlAi2Compiled *program);

/* Checks that every index, offset and shape in a program is consistent, so that executing
   it cannot read or write out of bounds. Returns 1, or 0 with the reason. */
int ex_program_validate(const DlAi2Compiled *program, char *reason, size_t reason_size);

/* The table functions, one per source file's idea. */
DlAi2Error *ex_check_support(DlAi2Plugin *plugin, size_t device, const DlAi2Graph *graph,
                             const char *precision, void *context,
                             void (*unsupported)(void *context, size_t node,
                                                 const char *reason));
DlAi2Error *ex_compile(DlAi2Plugin *plugin, const DlAi2CompileArgs *args,
                       DlAi2Compiled **compiled);
void ex_compiled_destroy(DlAi2Compiled *compiled);
DlAi2Error *ex_execute(DlAi2Compiled *compiled, const DlAi2Buffer *inputs, size_t input_count,
                       const DlAi2Buffer *outputs, size_t output_count);
DlAi2Error *ex_serialize(DlAi2Compiled *compiled, const DlAi2ByteSink *sink);
DlAi2Error *ex_deserialize(DlAi2Plugin *plugin, size_t device, const uint8_t *data,
                           size_t size, DlAi2Compiled **compiled);

#endif /* EXAMPLE_PLUGIN_H */
