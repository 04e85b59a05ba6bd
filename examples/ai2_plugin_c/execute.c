/*
 * execute: runs a program on the host's buffers, with plain float32 loops.
 *
 * Threading: the device reports 'execute_concurrently' = 1, so the host may run one compiled
 * model on several threads at once. That is safe here because execute never writes to the
 * program: everything it writes (scratch memory, the host's output buffers) belongs to the
 * call. Determinism: one thread and a fixed order of summation, so the same inputs always
 * give bitwise identical outputs ('deterministic' = 1).
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

/* ==========================================================================================
 * Program validation: what execute relies on, checked after compile and after deserialize
 * ======================================================================================== */

static int fail(char *reason, size_t reason_size, const char *why) {
    strncpy(reason, why, reason_size - 1);
    reason[reason_size - 1] = '\0';
    return 0;
}

int ex_program_validate(const DlAi2Compiled *program, char *reason, size_t reason_size) {
    if (program->device >= EX_DEVICE_COUNT) {
        return fail(reason, reason_size, "the device does not exist");
    }
    /* Storage: every slice lies inside its memory. */
    for (uint32_t t = 0; t < program->tensor_count; t++) {
        const ExTensor *tensor = &program->tensors[t];
        if (tensor->rank > EX_MAX_RANK) {
            return fail(reason, reason_size, "a tensor's rank is too large");
        }
        uint64_t count = 1;
        for (uint32_t d = 0; d < tensor->rank; d++) {
            if (tensor->shape[d] < 0 || tensor->shape[d] > ((int64_t)1 << 40)) {
                return fail(reason, reason_size, "a tensor has an invalid dimension");
            }
            count = tensor->shape[d] == 0 ? 0 : count * (uint64_t)tensor->shape[d];
            if (count > ((uint64_t)1 << 40)) {
                return fail(reason, reason_size, "a tensor is too large");
            }
        }
        uint64_t limit = 0;
        switch (tensor->storage) {
        case EX_STORAGE_NONE:
            continue;
        case EX_STORAGE_INPUT: {
            /* An input, or a Flatten / Reshape of one: same type and number of elements. */
            int32_t input = tensor->offset < program->input_count
                                ? program->inputs[tensor->offset]
                                : -1;
            if (input < 0 || (uint32_t)input >= program->tensor_count ||
                program->tensors[input].dtype != tensor->dtype ||
                program->tensors[input].rank > EX_MAX_RANK ||
                ex_element_count(&program->tensors[input]) != count) {
                return fail(reason, reason_size, "a tensor refers to a missing input");
            }
            continue;
        }
        case EX_STORAGE_CONSTANT:
            limit = program->constant_count;
            break;
        case EX_STORAGE_SCRATCH:
            limit = program->scratch_count;
            break;
        default:
            return fail(reason, reason_size, "a tensor has an unknown storage");
        }
        if (tensor->dtype != DLOPT_AI2_DTYPE_FLOAT32 || tensor->offset > limit ||
            count > limit - tensor->offset) {
            return fail(reason, reason_size, "a tensor lies outside its memory");
        }
    }
    /* Graph inputs are inputs; outputs are float32 tensors with data. */
    for (uint32_t i = 0; i < program->input_count; i++) {
        int32_t t = program->inputs[i];
        if (t < 0 || (uint32_t)t >= program->tensor_count ||
            ex_dtype_size(program->tensors[t].dtype) == 0) {
            return fail(reason, reason_size, "an input refers to an invalid tensor");
        }
    }
    for (uint32_t i = 0; i < program->output_count; i++) {
        int32_t t = program->outputs[i];
        if (t < 0 || (uint32_t)t >= program->tensor_count ||
            program->tensors[t].storage == EX_STORAGE_NONE ||
            program->tensors[t].dtype != DLOPT_AI2_DTYPE_FLOAT32) {
            return fail(reason, reason_size, "an output refers to an invalid tensor");
        }
    }
    /* Steps: shapes fit the operation; inputs have storage; outputs are scratch (so that no
       step writes into the host's input buffers or the weights). */
    for (uint32_t s = 0; s < program->step_count; s++) {
        const ExStep *step = &program->steps[s];
        if (!ex_check_step(step, program->tensors, program->tensor_count, reason,
                           reason_size)) {
            return 0;
        }
        for (int i = 0; i < 3; i++) {
            if (step->inputs[i] >= 0 &&
                program->tensors[step->inputs[i]].storage == EX_STORAGE_NONE) {
                return fail(reason, reason_size, "a step reads a tensor without data");
            }
        }
        if (program->tensors[step->output].storage != EX_STORAGE_SCRATCH ||
            step->activation > EX_ACTIVATION_RELU) {
            return fail(reason, reason_size, "a step is malformed");
        }
    }
    return 1;
}

/* ==========================================================================================
 * Kernels
 * ======================================================================================== */

/* Y[m, n] = alpha * sum_k A'[m, k] * B'[k, n] + beta * C[m, n], then the fused activation.
   A' is A or its transpose, B' likewise; C broadcasts to [M, N] (row or column stride 0). */
static void gemm(const ExStep *step, const ExTensor *a_shape, const float *a, const float *b,
                 const ExTensor *c_shape, const float *c, const ExTensor *y_shape, float *y) {
    int64_t m_count = y_shape->shape[0], n_count = y_shape->shape[1];
    int64_t k_count = a_shape->shape[step->trans_a ? 0 : 1];
    /* Strides: A'[m, k] = a[m * a_m + k * a_k], B'[k, n] = b[k * b_k + n * b_n]. */
    int64_t a_m = step->trans_a ? 1 : k_count, a_k = step->trans_a ? m_count : 1;
    int64_t b_k = step->trans_b ? 1 : n_count, b_n = step->trans_b ? k_count : 1;
    int64_t c_row = 0, c_col = 0;
    if (c != NULL && c_shape->rank >= 1) {
        int64_t c_cols = c_shape->shape[c_shape->rank - 1];
        c_col = c_cols == 1 ? 0 : 1;
        c_row = c_shape->rank == 2 && c_shape->shape[0] != 1 ? c_cols : 0;
    }
    for (int64_t m = 0; m < m_count; m++) {
        for (int64_t n = 0; n < n_count; n++) {
            /* Accumulate in double: accurate, and a fixed order keeps it deterministic. */
            double sum = 0.0;
            for (int64_t k = 0; k < k_count; k++) {
                sum += (double)a[m * a_m + k * a_k] * (double)b[k * b_k + n * b_n];
            }
            double value = (double)step->alpha * sum;
            if (c != NULL) {
                value += (double)step->beta * (double)c[m * c_row + n * c_col];
            }
            if (step->activation == EX_ACTIVATION_RELU && value < 0.0) {
                value = 0.0;
            }
            y[m * n_count + n] = (float)value;
        }
    }
}

static void relu(const float *x, float *y, uint64_t count) {
    for (uint64_t i = 0; i < count; i++) {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

/* Y = A + B where one of A, B has Y's shape and the other repeats over Y's elements. */
static void add(const float *a, uint64_t a_count, const float *b, uint64_t b_count, float *y,
                uint64_t count) {
    for (uint64_t i = 0; i < count; i++) {
        y[i] = a[a_count == count ? i : i % a_count] + b[b_count == count ? i : i % b_count];
    }
}

/* Softmax over rows of `width` elements: exp(x - max) / sum. */
static void softmax(const float *x, float *y, uint64_t count, uint64_t width) {
    for (uint64_t row = 0; width > 0 && row < count / width; row++) {
        const float *in = x + row * width;
        float *out = y + row * width;
        float max = in[0];
        for (uint64_t i = 1; i < width; i++) {
            max = in[i] > max ? in[i] : max;
        }
        double sum = 0.0;
        for (uint64_t i = 0; i < width; i++) {
            out[i] = expf(in[i] - max);
            sum += out[i];
        }
        for (uint64_t i = 0; i < width; i++) {
            out[i] = (float)(out[i] / sum);
        }
    }
}

/* ==========================================================================================
 * execute
 * ======================================================================================== */

/* Where tensor `index`'s elements are during this call. */
static float *tensor_data(const DlAi2Compiled *program, int32_t index,
                          const DlAi2Buffer *inputs, float *scratch) {
    if (index < 0) {
        return NULL;
    }
    const ExTensor *tensor = &program->tensors[index];
    switch (tensor->storage) {
    case EX_STORAGE_INPUT:
        return (float *)inputs[tensor->offset].data;
    case EX_STORAGE_CONSTANT:
        return program->constants + tensor->offset;
    case EX_STORAGE_SCRATCH:
        return scratch + tensor->offset;
    default:
        return NULL;
    }
}

static void run_step(const DlAi2Compiled *program, const ExStep *step,
                     const DlAi2Buffer *inputs, float *scratch) {
    const ExTensor *tensors = program->tensors;
    const float *a = tensor_data(program, step->inputs[0], inputs, scratch);
    const float *b = tensor_data(program, step->inputs[1], inputs, scratch);
    float *y = tensor_data(program, step->output, inputs, scratch);
    uint64_t count = ex_element_count(&tensors[step->output]);
    switch (step->op) {
    case EX_OP_GEMM:
    case EX_OP_MATMUL: {
        const ExTensor *c_shape = step->inputs[2] >= 0 ? &tensors[step->inputs[2]] : NULL;
        gemm(step, &tensors[step->inputs[0]], a, b, c_shape,
             tensor_data(program, step->inputs[2], inputs, scratch), &tensors[step->output], y);
        break;
    }
    case EX_OP_RELU:
        relu(a, y, count);
        break;
    case EX_OP_ADD:
        add(a, ex_element_count(&tensors[step->inputs[0]]), b,
            ex_element_count(&tensors[step->inputs[1]]), y, count);
        break;
    case EX_OP_SOFTMAX: {
        const ExTensor *x = &tensors[step->inputs[0]];
        softmax(a, y, count, (uint64_t)x->shape[x->rank - 1]);
        break;
    }
    default:
        break; /* ex_program_validate admits no other operation */
    }
}

/* Checks that the host's buffers are exactly what the graph's inputs and outputs need. */
static DlAi2Error *check_buffers(const DlAi2Compiled *program, const DlAi2Buffer *buffers,
                                 size_t count, uint32_t expected, const int32_t *tensors,
                                 const char *what) {
    if (count != expected || (count > 0 && buffers == NULL)) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                        "execute: %zu %s buffers given, the model has %u", count, what,
                        expected);
    }
    for (size_t i = 0; i < count; i++) {
        const ExTensor *tensor = &program->tensors[tensors[i]];
        uint64_t bytes = ex_element_count(tensor) * ex_dtype_size(tensor->dtype);
        if (buffers[i].byte_size != bytes || (bytes > 0 && buffers[i].data == NULL)) {
            return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT,
                            "execute: %s %zu has %zu bytes, the model needs %llu", what, i,
                            buffers[i].byte_size, (unsigned long long)bytes);
        }
    }
    return NULL;
}

/* Table function: runs a compiled model. Safe on several threads at once. */
DlAi2Error *ex_execute(DlAi2Compiled *compiled, const DlAi2Buffer *inputs, size_t input_count,
                       const DlAi2Buffer *outputs, size_t output_count) {
    if (compiled == NULL) {
        return ex_error(DLOPT_AI2_ERROR_INVALID_ARGUMENT, "execute: compiled must not be NULL");
    }
    const DlAi2Compiled *program = compiled;
    DlAi2Error *error = check_buffers(program, inputs, input_count, program->input_count,
                                      program->inputs, "input");
    if (error == NULL) {
        error = check_buffers(program, outputs, output_count, program->output_count,
                              program->outputs, "output");
    }
    if (error != NULL) {
        return error;
    }
    float *scratch = malloc((program->scratch_count > 0 ? program->scratch_count : 1) *
                            sizeof(float));
    if (scratch == NULL) {
        return ex_error(DLOPT_AI2_ERROR_OUT_OF_MEMORY, "execute: out of memory");
    }
    for (uint32_t s = 0; s < program->step_count; s++) {
        run_step(program, &program->steps[s], inputs, scratch);
    }
    /* Node outputs live in scratch memory; copy the graph's outputs to the host. memmove:
       an output may be a graph input the host passed in the same buffer. */
    for (uint32_t i = 0; i < program->output_count; i++) {
        const float *data = tensor_data(program, program->outputs[i], inputs, scratch);
        if (outputs[i].byte_size > 0) {
            memmove(outputs[i].data, data, outputs[i].byte_size);
        }
    }
    free(scratch);
    return NULL;
}
