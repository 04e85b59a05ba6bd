/*
 * check_support and compile: from the host's borrowed graph to an owned program.
 *
 * The host's DlAi2Graph is borrowed for the duration of the call (rule 4): compile copies
 * the shapes and the weights it needs into the program and keeps no pointer into it.
 *
 * The program is deliberately simple: each graph value becomes a tensor; graph inputs are
 * read from the host's input buffers, constants from the program's copy of the weights, and
 * every node output gets its own slice of scratch memory that execute allocates per call.
 * (A real plugin would plan memory so that outputs share space, and compile for its device.)
 */

#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* ==========================================================================================
 * The graph the host passes in
 * ======================================================================================== */

/* Checks what this plugin relies on in a graph: ABI 1.0 fields present, arrays present,
   every index in range. These are host bugs, hence INVALID_ARGUMENT. */
static DlAi2Error *check_graph(const DlAi2Graph *graph) {
    if (!EX_HAS_FIELD(graph, DlAi2Graph, outputs)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "the graph struct is smaller than ABI 1.0's (%zu bytes)",
                        graph->struct_size);
    }
    if (graph->value_count > INT32_MAX || (graph->value_count > 0 && graph->values == NULL) ||
        (graph->node_count > 0 && graph->nodes == NULL) ||
        (graph->input_count > 0 && graph->inputs == NULL) ||
        (graph->output_count > 0 && graph->outputs == NULL)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "the graph's arrays are missing or too large");
    }
    int64_t values = (int64_t)graph->value_count;
    for (size_t i = 0; i < graph->input_count; i++) {
        if (graph->inputs[i] < 0 || graph->inputs[i] >= values) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "graph input %zu is out of range",
                            i);
        }
    }
    for (size_t i = 0; i < graph->output_count; i++) {
        if (graph->outputs[i] < 0 || graph->outputs[i] >= values) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                            "graph output %zu is out of range", i);
        }
    }
    for (size_t n = 0; n < graph->node_count; n++) {
        const DlAi2Node *node = &graph->nodes[n];
        int ok = node->name != NULL && node->op_type != NULL && node->domain != NULL &&
                 (node->input_count == 0 || node->inputs != NULL) &&
                 (node->output_count == 0 || node->outputs != NULL) &&
                 (node->attribute_count == 0 ||
                  (node->attribute_names != NULL && node->attribute_values != NULL));
        for (size_t i = 0; ok && i < node->input_count; i++) {
            ok = node->inputs[i] >= -1 && node->inputs[i] < values;
        }
        for (size_t i = 0; ok && i < node->output_count; i++) {
            ok = node->outputs[i] >= 0 && node->outputs[i] < values;
        }
        for (size_t i = 0; ok && i < node->attribute_count; i++) {
            ok = node->attribute_names[i] != NULL;
        }
        if (!ok) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                            "node %zu of the graph is malformed (NULL field or index out of "
                            "range)", n);
        }
    }
    return NULL;
}

/* Makes one tensor per graph value (shapes and types; storage still NONE). */
static DlAi2Error *load_tensors(const DlAi2Graph *graph, ExTensor **tensors) {
    *tensors = calloc(graph->value_count > 0 ? graph->value_count : 1, sizeof(ExTensor));
    if (*tensors == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "out of memory for the graph's values");
    }
    for (size_t v = 0; v < graph->value_count; v++) {
        char reason[256];
        if (ex_tensor_from_desc(&graph->values[v], &(*tensors)[v], reason, sizeof reason)) {
            free(*tensors);
            *tensors = NULL;
            return ex_error(DLOPT_AI2_ERROR_UNSUPPORTED, "%s", reason);
        }
    }
    return NULL;
}

/* The one precision the example runs. */
static DlAi2Error *check_precision(const char *precision) {
    if (strcmp(precision, "float32") != 0) {
        return ex_error(DLOPT_AI2_ERROR_UNSUPPORTED,
                        "precision '%s' is not supported by the example C plugin (it runs "
                        "float32 only)", precision);
    }
    return NULL;
}

/* ==========================================================================================
 * check_support
 * ======================================================================================== */

/* Table function: calls `unsupported` once for each node we cannot run. Thread safe. */
DlAi2Error *ex_check_support(DlAi2Plugin *plugin, size_t device, const DlAi2Graph *graph,
                             const char *precision, void *context,
                             void (*unsupported)(void *context, size_t node,
                                                 const char *reason)) {
    if (plugin == NULL || graph == NULL || precision == NULL || unsupported == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "check_support: plugin, graph, precision and unsupported must not be "
                        "NULL");
    }
    if (device >= EX_DEVICE_COUNT) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "check_support: there is no device %zu",
                        device);
    }
    DlAi2Error *error = check_graph(graph);
    if (error == NULL) {
        error = check_precision(precision);
    }
    ExTensor *tensors = NULL;
    if (error == NULL) {
        error = load_tensors(graph, &tensors);
    }
    for (size_t n = 0; error == NULL && n < graph->node_count; n++) {
        ExStep step;
        int is_alias;
        char reason[256];
        if (!ex_translate_node(graph, n, tensors, &step, &is_alias, reason, sizeof reason)) {
            unsupported(context, n, reason);
        }
    }
    free(tensors);
    return error;
}

/* ==========================================================================================
 * compile
 * ======================================================================================== */

void ex_program_free(DlAi2Compiled *program) {
    if (program != NULL) {
        free(program->tensors);
        free(program->steps);
        free(program->inputs);
        free(program->outputs);
        free(program->constants);
        free(program);
    }
}

/* Table function: destroys a compiled model. Accepts NULL. */
void ex_compiled_destroy(DlAi2Compiled *compiled) {
    ex_program_free(compiled);
}

/* Gives graph inputs and float32 constants their storage and copies the weights. */
static DlAi2Error *place_inputs_and_constants(const DlAi2Graph *graph, DlAi2Compiled *program) {
    program->input_count = (uint32_t)graph->input_count;
    program->inputs = calloc(graph->input_count + 1, sizeof(int32_t));
    if (program->inputs == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < graph->input_count; i++) {
        ExTensor *tensor = &program->tensors[graph->inputs[i]];
        if (ex_dtype_size(tensor->dtype) == 0) {
            const char *name = graph->values[graph->inputs[i]].name;
            return ex_error(DLOPT_AI2_ERROR_UNSUPPORTED,
                            "graph input '%s' has element type %d, which the example C plugin "
                            "does not handle", name ? name : "?", tensor->dtype);
        }
        program->inputs[i] = (int32_t)graph->inputs[i];
        tensor->storage = EX_STORAGE_INPUT;
        tensor->offset = i;
    }
    uint64_t constant_count = 0;
    for (size_t v = 0; v < graph->value_count; v++) {
        const ExTensor *tensor = &program->tensors[v];
        if (graph->values[v].data != NULL && tensor->storage == EX_STORAGE_NONE &&
            tensor->dtype == DLOPT_AI2_DTYPE_FLOAT32) {
            constant_count += ex_element_count(tensor);
        }
    }
    program->constants = malloc((constant_count > 0 ? constant_count : 1) * sizeof(float));
    if (program->constants == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "out of memory for the weights");
    }
    for (size_t v = 0; v < graph->value_count; v++) {
        ExTensor *tensor = &program->tensors[v];
        if (graph->values[v].data != NULL && tensor->storage == EX_STORAGE_NONE &&
            tensor->dtype == DLOPT_AI2_DTYPE_FLOAT32) {
            tensor->storage = EX_STORAGE_CONSTANT;
            tensor->offset = program->constant_count;
            /* The host's data is little-endian float32, like this machine's. */
            memcpy(program->constants + program->constant_count, graph->values[v].data,
                   graph->values[v].byte_size);
            program->constant_count += ex_element_count(tensor);
        }
    }
    return NULL;
}

/* Reports progress and asks whether the host wants us to stop. */
static int report_progress(const DlAi2Callbacks *callbacks, uint64_t done, uint64_t total) {
    if (callbacks == NULL) {
        return 0;
    }
    if (EX_HAS_FIELD(callbacks, DlAi2Callbacks, progress) && callbacks->progress != NULL) {
        callbacks->progress(callbacks->context, "compile", done, total);
    }
    return EX_HAS_FIELD(callbacks, DlAi2Callbacks, is_cancelled) &&
           callbacks->is_cancelled != NULL && callbacks->is_cancelled(callbacks->context) != 0;
}

/* Turns the nodes into steps, in the graph's (topological) order. */
static DlAi2Error *translate_nodes(const DlAi2Graph *graph, const DlAi2Callbacks *callbacks,
                                   DlAi2Compiled *program) {
    program->steps = calloc(graph->node_count + 1, sizeof(ExStep));
    if (program->steps == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t n = 0; n < graph->node_count; n++) {
        if (report_progress(callbacks, n, graph->node_count)) {
            return ex_error(DLOPT_AI2_ERROR_CANCELLED, "compile was cancelled by the host");
        }
        const DlAi2Node *node = &graph->nodes[n];
        ExStep step;
        int is_alias;
        char reason[256];
        if (!ex_translate_node(graph, n, program->tensors, &step, &is_alias, reason,
                               sizeof reason)) {
            return ex_error(DLOPT_AI2_ERROR_UNSUPPORTED, "node '%s': %s", node->name, reason);
        }
        /* Each value is produced once, after everything it is computed from. */
        for (int i = 0; i < 3; i++) {
            if (step.inputs[i] >= 0 &&
                program->tensors[step.inputs[i]].storage == EX_STORAGE_NONE) {
                return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                                "node '%s' reads a value before it is produced", node->name);
            }
        }
        ExTensor *output = &program->tensors[step.output];
        if (output->storage != EX_STORAGE_NONE) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                            "node '%s' writes a value that already exists", node->name);
        }
        if (is_alias) {
            /* Flatten / Reshape: same elements, new shape; no step. */
            output->storage = program->tensors[step.inputs[0]].storage;
            output->offset = program->tensors[step.inputs[0]].offset;
        } else {
            output->storage = EX_STORAGE_SCRATCH;
            output->offset = program->scratch_count;
            program->scratch_count += ex_element_count(output);
            program->steps[program->step_count++] = step;
        }
    }
    report_progress(callbacks, graph->node_count, graph->node_count);
    return NULL;
}

/* Records the graph outputs: float32 values that exist. */
static DlAi2Error *place_outputs(const DlAi2Graph *graph, DlAi2Compiled *program) {
    program->output_count = (uint32_t)graph->output_count;
    program->outputs = calloc(graph->output_count + 1, sizeof(int32_t));
    if (program->outputs == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < graph->output_count; i++) {
        const ExTensor *tensor = &program->tensors[graph->outputs[i]];
        const char *name = graph->values[graph->outputs[i]].name;
        if (tensor->dtype != DLOPT_AI2_DTYPE_FLOAT32) {
            return ex_error(DLOPT_AI2_ERROR_UNSUPPORTED,
                            "graph output '%s' is not float32", name ? name : "?");
        }
        if (tensor->storage == EX_STORAGE_NONE) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                            "graph output '%s' is never produced", name ? name : "?");
        }
        program->outputs[i] = (int32_t)graph->outputs[i];
    }
    return NULL;
}

/* Table function: compiles a graph. Thread safe: it only touches what it allocates. */
DlAi2Error *ex_compile(DlAi2Plugin *plugin, const DlAi2CompileArgs *args,
                       DlAi2Compiled **compiled) {
    if (plugin == NULL || args == NULL || compiled == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "compile: plugin, args and compiled must not be NULL");
    }
    if (!EX_HAS_FIELD(args, DlAi2CompileArgs, callbacks)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "compile: the args struct is smaller than ABI 1.0's (%zu bytes)",
                        args->struct_size);
    }
    if (args->graph == NULL || args->precision == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "compile: graph and precision must not be NULL");
    }
    if (args->device >= EX_DEVICE_COUNT) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "compile: there is no device %zu",
                        args->device);
    }
    /* args->options: the example has no optimization options, so there is nothing to read. */
    const DlAi2Graph *graph = args->graph;
    DlAi2Error *error = check_graph(graph);
    if (error == NULL) {
        error = check_precision(args->precision);
    }
    if (error != NULL) {
        return error;
    }
    DlAi2Compiled *program = calloc(1, sizeof *program);
    if (program == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "compile: out of memory");
    }
    program->device = (uint32_t)args->device;
    program->tensor_count = (uint32_t)graph->value_count;
    error = load_tensors(graph, &program->tensors);
    if (error == NULL) {
        error = place_inputs_and_constants(graph, program);
    }
    if (error == NULL) {
        error = translate_nodes(graph, args->callbacks, program);
    }
    if (error == NULL) {
        error = place_outputs(graph, program);
    }
    char reason[256];
    if (error == NULL && !ex_program_validate(program, reason, sizeof reason)) {
        error = ex_error(DLOPT_AI2_ERROR_INTERNAL, "compile made an invalid program: %s", reason);
    }
    if (error != NULL) {
        ex_program_free(program);
        return error;
    }
    ex_log(plugin, args->callbacks, DLOPT_AI2_LOG_INFO,
           "compiled %zu nodes into %u steps (%llu weights, %llu scratch floats)",
           graph->node_count, program->step_count, (unsigned long long)program->constant_count,
           (unsigned long long)program->scratch_count);
    *compiled = program;
    return NULL;
}
