/*
 * Which nodes the example C plugin runs, and why not the others.
 *
 * ex_translate_node looks at one node of the host's structured graph (DlAi2Graph: no
 * protobuf parsing needed) and either turns it into a program step or explains in one
 * sentence why it cannot. check_support sends these sentences to the host, which shows them
 * per node in its conversion report; compile refuses the graph with the first of them.
 *
 * A vendor adapting this file changes the operator list and the shape rules. Two habits are
 * worth keeping: reject every attribute you do not understand (the host may fuse an
 * activation into a Gemm as the attribute dlopt_activation, and ignoring it would give
 * wrong results), and check every dtype and shape instead of assuming them.
 */

#include <stdio.h>
#include <string.h>

#include "plugin.h"

/* ==========================================================================================
 * Tensors
 * ======================================================================================== */

size_t ex_dtype_size(int32_t dtype) {
    switch (dtype) {
    case DLOPT_AI2_DTYPE_FLOAT32:
    case DLOPT_AI2_DTYPE_INT32:
        return 4;
    case DLOPT_AI2_DTYPE_UINT8:
    case DLOPT_AI2_DTYPE_INT8:
    case DLOPT_AI2_DTYPE_BOOL:
        return 1;
    case DLOPT_AI2_DTYPE_INT64:
        return 8;
    case DLOPT_AI2_DTYPE_FLOAT16:
    case DLOPT_AI2_DTYPE_BFLOAT16:
        return 2;
    default:
        return 0;
    }
}

uint64_t ex_element_count(const ExTensor *tensor) {
    uint64_t count = 1;
    for (uint32_t d = 0; d < tensor->rank; d++) {
        count *= (uint64_t)tensor->shape[d];
    }
    return count;
}

/* Tensors larger than this many elements are refused (keeps every size computation far from
   overflowing, also for shapes read from a corrupt artifact). */
#define EX_MAX_ELEMENTS ((uint64_t)1 << 40)

const char *ex_tensor_from_desc(const DlAi2TensorDesc *desc, ExTensor *tensor, char *reason,
                                size_t reason_size) {
    const char *name = desc->name != NULL ? desc->name : "?";
    memset(tensor, 0, sizeof *tensor);
    tensor->dtype = desc->dtype;
    tensor->storage = EX_STORAGE_NONE;
    if (desc->rank > EX_MAX_RANK) {
        snprintf(reason, reason_size, "value '%s' has rank %zu; the example C plugin handles "
                 "up to %d", name, desc->rank, EX_MAX_RANK);
        return reason;
    }
    if (desc->rank > 0 && desc->shape == NULL) {
        snprintf(reason, reason_size, "value '%s' has rank %zu but no shape", name, desc->rank);
        return reason;
    }
    tensor->rank = (uint32_t)desc->rank;
    uint64_t count = 1;
    for (size_t d = 0; d < desc->rank; d++) {
        int64_t dim = desc->shape[d];
        if (dim < 0 || (uint64_t)dim > EX_MAX_ELEMENTS) {
            snprintf(reason, reason_size, "value '%s' has dimension %lld", name, (long long)dim);
            return reason;
        }
        tensor->shape[d] = dim;
        count = dim == 0 ? 0 : count * (uint64_t)dim;
        if (count > EX_MAX_ELEMENTS) {
            snprintf(reason, reason_size, "value '%s' is too large", name);
            return reason;
        }
    }
    if (desc->data != NULL && desc->byte_size != count * ex_dtype_size(desc->dtype)) {
        snprintf(reason, reason_size, "constant '%s' holds %zu bytes, its type and shape need "
                 "%llu", name, desc->byte_size,
                 (unsigned long long)(count * ex_dtype_size(desc->dtype)));
        return reason;
    }
    return NULL;
}

/* Whether two tensors have the same shape. */
static int same_shape(const ExTensor *a, const ExTensor *b) {
    if (a->rank != b->rank) {
        return 0;
    }
    for (uint32_t d = 0; d < a->rank; d++) {
        if (a->shape[d] != b->shape[d]) {
            return 0;
        }
    }
    return 1;
}

/* Whether `small` (without leading 1s) equals the trailing dimensions of `large`: then
   element i of `large` pairs with element i % count(small) of `small`. */
static int is_trailing_broadcast(const ExTensor *small, const ExTensor *large) {
    uint32_t skip = 0;
    while (skip < small->rank && small->shape[skip] == 1) {
        skip++;
    }
    uint32_t kept = small->rank - skip;
    if (kept > large->rank) {
        return 0;
    }
    for (uint32_t d = 0; d < kept; d++) {
        if (small->shape[skip + d] != large->shape[large->rank - kept + d]) {
            return 0;
        }
    }
    return 1;
}

/* ==========================================================================================
 * Shape rules of the operations
 * ======================================================================================== */

/* Fetches step tensor `index`, which must exist and be float32. */
static const ExTensor *float_tensor(int32_t index, const ExTensor *tensors, uint32_t count,
                                    char *reason, size_t reason_size) {
    if (index < 0 || (uint32_t)index >= count) {
        snprintf(reason, reason_size, "refers to tensor %d, which does not exist", index);
        return NULL;
    }
    if (tensors[index].dtype != DLOPT_AI2_DTYPE_FLOAT32) {
        snprintf(reason, reason_size, "only float32 tensors are supported (got type %d)",
                 tensors[index].dtype);
        return NULL;
    }
    return &tensors[index];
}

int ex_check_step(const ExStep *step, const ExTensor *tensors, uint32_t tensor_count,
                  char *reason, size_t reason_size) {
    const ExTensor *a = float_tensor(step->inputs[0], tensors, tensor_count, reason,
                                     reason_size);
    const ExTensor *y = float_tensor(step->output, tensors, tensor_count, reason, reason_size);
    if (a == NULL || y == NULL) {
        return 0;
    }
    switch (step->op) {
    case EX_OP_GEMM:
    case EX_OP_MATMUL: {
        const ExTensor *b = float_tensor(step->inputs[1], tensors, tensor_count, reason,
                                         reason_size);
        if (b == NULL) {
            return 0;
        }
        if (a->rank != 2 || b->rank != 2) {
            snprintf(reason, reason_size, "only 2-D inputs are supported (got ranks %u and %u)",
                     a->rank, b->rank);
            return 0;
        }
        int trans_a = step->op == EX_OP_GEMM && step->trans_a;
        int trans_b = step->op == EX_OP_GEMM && step->trans_b;
        int64_t m = a->shape[trans_a ? 1 : 0], k = a->shape[trans_a ? 0 : 1];
        int64_t k_b = b->shape[trans_b ? 1 : 0], n = b->shape[trans_b ? 0 : 1];
        if (k != k_b || y->rank != 2 || y->shape[0] != m || y->shape[1] != n) {
            snprintf(reason, reason_size, "inconsistent shapes for a %lldx%lld by %lldx%lld "
                     "product", (long long)m, (long long)k, (long long)k_b, (long long)n);
            return 0;
        }
        if (step->op == EX_OP_GEMM && step->inputs[2] >= 0) {
            const ExTensor *c = float_tensor(step->inputs[2], tensors, tensor_count, reason,
                                             reason_size);
            if (c == NULL) {
                return 0;
            }
            /* C broadcasts to [M, N]: shape [], [N], [1|M, 1|N] (or [1]). */
            int ok = c->rank <= 2;
            if (c->rank == 1) {
                ok = c->shape[0] == n || c->shape[0] == 1;
            } else if (c->rank == 2) {
                ok = (c->shape[0] == m || c->shape[0] == 1) &&
                     (c->shape[1] == n || c->shape[1] == 1);
            }
            if (!ok) {
                snprintf(reason, reason_size, "C of rank %u does not broadcast to [%lld, %lld]",
                         c->rank, (long long)m, (long long)n);
                return 0;
            }
        }
        return 1;
    }
    case EX_OP_RELU:
    case EX_OP_SOFTMAX:
        if (!same_shape(a, y) || (step->op == EX_OP_SOFTMAX && a->rank == 0)) {
            snprintf(reason, reason_size, "the output's shape differs from the input's");
            return 0;
        }
        return 1;
    case EX_OP_ADD: {
        const ExTensor *b = float_tensor(step->inputs[1], tensors, tensor_count, reason,
                                         reason_size);
        if (b == NULL) {
            return 0;
        }
        /* The output has the larger input's shape; the other one is that shape or a bias
           over its trailing dimensions. */
        const ExTensor *large = same_shape(a, y) ? a : b;
        const ExTensor *small = large == a ? b : a;
        if (!same_shape(large, y) || !is_trailing_broadcast(small, large)) {
            snprintf(reason, reason_size, "only equal shapes or a bias over the trailing "
                     "dimensions are supported");
            return 0;
        }
        return 1;
    }
    default:
        snprintf(reason, reason_size, "unknown operation %u", step->op);
        return 0;
    }
}

/* ==========================================================================================
 * Nodes
 * ======================================================================================== */

/* Writes why into `reason` and returns 0 (so that callers can `return unsupported(...)`). */
static int unsupported(char *reason, size_t reason_size, const char *op, const char *why) {
    snprintf(reason, reason_size, "%s: %s", op, why);
    return 0;
}

/* The attribute `name` of a node, or NULL. */
static const DlAi2Value *find_attribute(const DlAi2Node *node, const char *name) {
    for (size_t i = 0; i < node->attribute_count; i++) {
        if (strcmp(node->attribute_names[i], name) == 0) {
            return &node->attribute_values[i];
        }
    }
    return NULL;
}

/* Checks that every attribute of `node` is one of `known` (NULL-terminated). */
static int only_known_attributes(const DlAi2Node *node, const char *const *known,
                                 char *reason, size_t reason_size) {
    for (size_t i = 0; i < node->attribute_count; i++) {
        const char *name = node->attribute_names[i];
        const char *const *candidate = known;
        while (*candidate != NULL && strcmp(*candidate, name) != 0) {
            candidate++;
        }
        if (*candidate == NULL) {
            snprintf(reason, reason_size, "%s: attribute '%s' is not supported by the example "
                     "C plugin", node->op_type, name);
            return 0;
        }
    }
    return 1;
}

/* Reads an integer attribute (default when absent). Returns 0 if it is not an integer. */
static int int_attribute(const DlAi2Node *node, const char *name, int64_t fallback,
                         int64_t *value) {
    const DlAi2Value *attribute = find_attribute(node, name);
    *value = fallback;
    if (attribute == NULL) {
        return 1;
    }
    if (attribute->kind != DLOPT_AI2_VALUE_INT) {
        return 0;
    }
    *value = attribute->integer;
    return 1;
}

/* Reads a real attribute (ONNX floats arrive as REAL; an INT is accepted too). */
static int real_attribute(const DlAi2Node *node, const char *name, double fallback,
                          double *value) {
    const DlAi2Value *attribute = find_attribute(node, name);
    *value = fallback;
    if (attribute == NULL) {
        return 1;
    }
    if (attribute->kind == DLOPT_AI2_VALUE_REAL) {
        *value = attribute->real;
        return 1;
    }
    if (attribute->kind == DLOPT_AI2_VALUE_INT) {
        *value = (double)attribute->integer;
        return 1;
    }
    return 0;
}

/* Reads the activation the host fused into a Gemm or MatMul: only Relu is supported. */
static int fused_activation(const DlAi2Node *node, uint32_t *activation, char *reason,
                            size_t reason_size) {
    const DlAi2Value *attribute = find_attribute(node, "dlopt_activation");
    *activation = EX_ACTIVATION_NONE;
    if (attribute == NULL) {
        return 1;
    }
    if (attribute->kind == DLOPT_AI2_VALUE_STRING && attribute->string != NULL &&
        strcmp(attribute->string, "Relu") == 0) {
        *activation = EX_ACTIVATION_RELU;
        return 1;
    }
    snprintf(reason, reason_size, "%s: the fused activation %s is not supported (only Relu)",
             node->op_type,
             attribute->kind == DLOPT_AI2_VALUE_STRING && attribute->string != NULL
                 ? attribute->string
                 : "(not a string)");
    return 0;
}

/* The number of inputs actually given (trailing omitted optional inputs, -1, not counted). */
static size_t given_inputs(const DlAi2Node *node) {
    size_t count = node->input_count;
    while (count > 0 && node->inputs[count - 1] < 0) {
        count--;
    }
    return count;
}

int ex_translate_node(const DlAi2Graph *graph, size_t node_index, const ExTensor *tensors,
                      ExStep *step, int *is_alias, char *reason, size_t reason_size) {
    static const char *const no_attributes[] = {NULL};
    static const char *const gemm_attributes[] = {"alpha", "beta", "transA", "transB",
                                                  "dlopt_activation", NULL};
    static const char *const matmul_attributes[] = {"dlopt_activation", NULL};
    static const char *const softmax_attributes[] = {"axis", NULL};
    static const char *const flatten_attributes[] = {"axis", NULL};
    static const char *const reshape_attributes[] = {"allowzero", NULL};

    const DlAi2Node *node = &graph->nodes[node_index];
    const char *op = node->op_type;
    size_t inputs = given_inputs(node);
    memset(step, 0, sizeof *step);
    step->inputs[0] = step->inputs[1] = step->inputs[2] = -1;
    step->alpha = 1.0f; /* MatMul runs as a Gemm with alpha 1 and no C */
    step->beta = 1.0f;
    *is_alias = 0;

    if (node->domain[0] != '\0' && strcmp(node->domain, "ai.onnx") != 0) {
        snprintf(reason, reason_size, "operator %s of domain '%s' is not supported by the "
                 "example C plugin", op, node->domain);
        return 0;
    }
    /* Every node we run has one output. Inputs: the operator's required count (Gemm: C is
       optional). An omitted input in the middle (-1) is not something we handle. */
    size_t min_inputs = 1, max_inputs = 1;
    const char *const *known = no_attributes;
    if (strcmp(op, "Gemm") == 0) {
        step->op = EX_OP_GEMM;
        min_inputs = 2;
        max_inputs = 3;
        known = gemm_attributes;
    } else if (strcmp(op, "MatMul") == 0) {
        step->op = EX_OP_MATMUL;
        min_inputs = max_inputs = 2;
        known = matmul_attributes;
    } else if (strcmp(op, "Relu") == 0) {
        step->op = EX_OP_RELU;
    } else if (strcmp(op, "Add") == 0) {
        step->op = EX_OP_ADD;
        min_inputs = max_inputs = 2;
    } else if (strcmp(op, "Softmax") == 0) {
        step->op = EX_OP_SOFTMAX;
        known = softmax_attributes;
    } else if (strcmp(op, "Flatten") == 0) {
        *is_alias = 1;
        known = flatten_attributes;
    } else if (strcmp(op, "Reshape") == 0) {
        *is_alias = 1;
        min_inputs = max_inputs = 2;
        known = reshape_attributes;
    } else {
        snprintf(reason, reason_size, "operator %s is not supported by the example C plugin",
                 op);
        return 0;
    }
    if (inputs < min_inputs || inputs > max_inputs || node->output_count != 1) {
        return unsupported(reason, reason_size, op, "unexpected number of inputs or outputs");
    }
    for (size_t i = 0; i < inputs; i++) {
        if (node->inputs[i] < 0) {
            return unsupported(reason, reason_size, op, "an omitted input is not supported");
        }
        if (i < 3) {
            step->inputs[i] = (int32_t)node->inputs[i];
        }
    }
    step->output = (int32_t)node->outputs[0];
    if (!only_known_attributes(node, known, reason, reason_size)) {
        return 0;
    }

    if (*is_alias) {
        /* Flatten and Reshape: the graph already holds the output's shape; the data stays
           where it is. Their attributes only matter for computing that shape. */
        const ExTensor *in = &tensors[step->inputs[0]], *out = &tensors[step->output];
        if (in->dtype != DLOPT_AI2_DTYPE_FLOAT32 || out->dtype != DLOPT_AI2_DTYPE_FLOAT32) {
            return unsupported(reason, reason_size, op, "only float32 data is supported");
        }
        if (ex_element_count(in) != ex_element_count(out)) {
            return unsupported(reason, reason_size, op,
                               "the output's shape has a different number of elements");
        }
        step->inputs[1] = -1; /* a Reshape's shape input is never read */
        return 1;
    }

    if (step->op == EX_OP_GEMM) {
        int64_t trans_a, trans_b;
        double alpha, beta;
        if (!int_attribute(node, "transA", 0, &trans_a) ||
            !int_attribute(node, "transB", 0, &trans_b) ||
            !real_attribute(node, "alpha", 1.0, &alpha) ||
            !real_attribute(node, "beta", 1.0, &beta)) {
            return unsupported(reason, reason_size, op, "an attribute has the wrong type");
        }
        step->trans_a = trans_a != 0;
        step->trans_b = trans_b != 0;
        step->alpha = (float)alpha;
        step->beta = (float)beta;
    }
    if ((step->op == EX_OP_GEMM || step->op == EX_OP_MATMUL) &&
        !fused_activation(node, &step->activation, reason, reason_size)) {
        return 0;
    }
    if (step->op == EX_OP_SOFTMAX) {
        /* Softmax over the last axis. Before opset 13 the default axis was 1 and the input
           was flattened to 2-D at the axis: identical results when axis is the last one. */
        int64_t axis;
        int64_t rank = (int64_t)tensors[step->inputs[0]].rank;
        if (!int_attribute(node, "axis", graph->opset >= 13 ? -1 : 1, &axis)) {
            return unsupported(reason, reason_size, op, "axis must be an integer");
        }
        if ((axis < 0 ? axis + rank : axis) != rank - 1) {
            return unsupported(reason, reason_size, op, "only the last axis is supported");
        }
    }

    /* The caller checked that the graph has at most INT32_MAX values. */
    char why[200];
    if (!ex_check_step(step, tensors, (uint32_t)graph->value_count, why, sizeof why)) {
        return unsupported(reason, reason_size, op, why);
    }
    return 1;
}
