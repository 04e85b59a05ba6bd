#!/usr/bin/env python3
"""The peers dlopt is measured against, behind one small "variant" interface.

A variant is anything with
    name            a short label ("ort_fp32", "ov_nncf_int8", later "dlopt_int8", ...)
    prepare()       load / compile / calibrate; fills `info` (e.g. calibration seconds, peak RSS)
    run(batch)      one inference on a float32 NCHW numpy batch -> list of numpy outputs
    close()         release it
so one interleaved latency loop (`interleaved`) and one evaluation loop serve every runtime.
bench/models.py's dlopt runner (C API via ctypes) can implement the same four members.

Peers (all 2 threads):
  OrtFloat     onnxruntime float32 (CPUExecutionProvider, intra-op 2, inter-op 1)
  OrtInt8      onnxruntime int8: quantize_static, QDQ, per-channel int8 weights, MinMax,
               activations uint8 ("u8") or int8 ("s8"), calibrated on a tensor set
  OvFloat      OpenVINO CPU, INFERENCE_PRECISION_HINT f32 (its default on this CPU would be
               bf16: avx512_bf16), INFERENCE_NUM_THREADS 2
  OvNncfInt8   OpenVINO + nncf.quantize (defaults, subset_size = calibration samples), compiled
               like OvFloat
Calibration runs in a child process (`bench/peers.py calibrate ...`) which reports its time
and peak RSS (VmHWM; see calibrate_main for why not ru_maxrss), so these are the calibration's own costs; its data comes from a
tensor set written by bench/preprocess.py (cycled when more samples are asked than exist).

CLI (in target/bench-venv, see bench/setup):
  bench/peers.py calibrate {ort,nncf} MODEL.onnx TENSORS_PREFIX SAMPLES OUT [--activations u8|s8]
  bench/peers.py calib-cost [--quick] [--models ocr_rec,orientation] [--samples 64,512]
      calibration time and peak RSS of ORT (u8) and NNCF per model and sample count,
      printed and written to bench/out/calib_cost.json
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's workers would spin on our 2 cores
import numpy as np  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(BENCH, ".."))
WORK = os.path.join(ROOT, "target", "bench-models")
THREADS = 2


class Variant:
    name = "variant"

    def __init__(self):
        self.info = {}

    def prepare(self):
        pass

    def run(self, batch):
        raise NotImplementedError

    def close(self):
        pass


# ---------------------------------------------------------------- onnxruntime
def ort_session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OrtFloat(Variant):
    name = "ort_fp32"

    def __init__(self, model):
        super().__init__()
        self.model = model

    def prepare(self):
        self.session = ort_session(self.model)
        self.input = self.session.get_inputs()[0].name

    def run(self, batch):
        return self.session.run(None, {self.input: batch})

    def close(self):
        self.session = None


def calibrate_child(tool, model, tensors, samples, out, activations="u8"):
    """Runs the calibration in a child process; returns {"seconds", "peak_rss_mb", "samples"}."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    command = [sys.executable, os.path.join(BENCH, "peers.py"), "calibrate", tool, model, tensors,
               str(samples), out, "--activations", activations]
    done = subprocess.run(command, check=True, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS=str(THREADS)))
    return json.loads(done.stdout.strip().splitlines()[-1])


class OrtInt8(OrtFloat):
    def __init__(self, model, tensors, activations="u8", samples=64, tag=""):
        super().__init__(model)
        self.name = f"ort_int8_{activations}"
        self.tensors, self.activations, self.samples = tensors, activations, samples
        self.out = os.path.join(WORK, f"{tag}{os.path.basename(model)[:-5]}_ort_{activations}_{samples}.onnx")

    def prepare(self):
        self.info["calibration"] = calibrate_child("ort", self.model, self.tensors, self.samples, self.out, self.activations)
        self.session = ort_session(self.out)
        self.input = self.session.get_inputs()[0].name


# ---------------------------------------------------------------- OpenVINO
def ov_compile(model):
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": THREADS, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    return core.compile_model(model, "CPU", config)


class OvFloat(Variant):
    name = "ov_fp32"

    def __init__(self, model):
        super().__init__()
        self.model = model

    def prepare(self):
        self.compiled = ov_compile(self.model)
        self.request = self.compiled.create_infer_request()

    def run(self, batch):
        self.request.infer({0: batch})
        return [np.array(self.request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]

    def close(self):
        self.request = self.compiled = None


class OvNncfInt8(OvFloat):
    name = "ov_nncf_int8"

    def __init__(self, model, tensors, samples=64, tag=""):
        super().__init__(model)
        self.tensors, self.samples = tensors, samples
        self.out = os.path.join(WORK, f"{tag}{os.path.basename(model)[:-5]}_nncf_{samples}.xml")

    def prepare(self):
        self.info["calibration"] = calibrate_child("nncf", self.model, self.tensors, self.samples, self.out)
        self.compiled = ov_compile(self.out)
        self.request = self.compiled.create_infer_request()


# ---------------------------------------------------------------- shared loops
def evaluate(variant, inputs):
    """Outputs of `variant` for each input batch (a list of output lists)."""
    return [variant.run(np.ascontiguousarray(x)) for x in inputs]


def interleaved(variants, batch, runs=100, block=5, pause=0.05):
    """Latencies in seconds per variant name, measured in short interleaved blocks: each block
    starts after a pause and an untimed run, so no variant pays for another's spinning
    worker threads (onnxruntime's spin after a run) and machine drift hits all alike."""
    batch = np.ascontiguousarray(batch)
    times = {v.name: [] for v in variants}
    for v in variants:  # warm-up: plans, caches
        for _ in range(2):
            v.run(batch)
    for _ in range((runs + block - 1) // block):
        for v in variants:
            time.sleep(pause)
            v.run(batch)
            for _ in range(block):
                start = time.perf_counter()
                v.run(batch)
                times[v.name].append(time.perf_counter() - start)
    return times


def summary_ms(values):
    ordered = sorted(values)
    pick = lambda f: 1e3 * ordered[min(len(ordered) - 1, int(f * len(ordered)))]  # noqa: E731
    return {"median": 1e3 * statistics.median(values), "p10": pick(0.1), "p90": pick(0.9), "runs": len(values)}


# ---------------------------------------------------------------- calibration (child process)
def calibration_arrays(tensors, samples):
    sys.path.insert(0, BENCH)
    import preprocess

    items = [np.ascontiguousarray(x) for x, _ in preprocess.read_tensors(tensors)]
    return [items[i % len(items)] for i in range(samples)]


def calibrate_main(args):
    data = calibration_arrays(args.tensors, args.samples)
    start = time.perf_counter()
    if args.tool == "ort":
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                              QuantType, quantize_static)
        import onnxruntime as ort

        name = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"]).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter(data)

            def get_next(self):
                item = next(self.items, None)
                return None if item is None else {name: item}

        quantize_static(args.model, args.out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8 if args.activations == "u8" else QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    else:
        import nncf
        import openvino as ov

        quantized = nncf.quantize(ov.convert_model(args.model), nncf.Dataset(data), subset_size=args.samples)
        ov.save_model(quantized, args.out)
    seconds = time.perf_counter() - start
    # Peak RSS: VmHWM of this process image. ru_maxrss would do in a process started from a
    # small one, but Linux carries the forking parent's high-water mark over fork and exec
    # into ru_maxrss, so a child of the (large) benchmark process would report the parent's.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"tool": args.tool, "samples": args.samples, "seconds": round(seconds, 3),
                      "peak_rss_mb": round(hwm / 1024, 1), "ru_maxrss_mb": round(maxrss / 1024, 1)}))


def calib_cost_main(args):
    sys.path.insert(0, BENCH)
    import datasets
    import preprocess

    folder = datasets.build(quick=args.quick)
    rows = []
    for model in args.models.split(","):
        prefix = os.path.join(folder, "tensors", f"{model}_calibration")
        preprocess.write_tensors(prefix, preprocess.prepared(model, folder, "calibration"), model=model)
        for samples in [int(s) for s in args.samples.split(",")]:
            for tool in ("ort", "nncf"):
                suffix = ".onnx" if tool == "ort" else ".xml"
                out = os.path.join(WORK, f"cost_{model}_{tool}_{samples}{suffix}")
                row = dict(calibrate_child(tool, preprocess.model_path(model), prefix, samples, out), model=model)
                print(f"{model:<12} {tool:<5} {samples:4d} samples  {row['seconds']:7.1f} s  peak RSS {row['peak_rss_mb']:7.0f} MB",
                      flush=True)
                rows.append(row)
    os.makedirs(os.path.join(BENCH, "out"), exist_ok=True)
    with open(os.path.join(BENCH, "out", "calib_cost.json"), "w") as f:
        json.dump({"datasets": os.path.basename(folder), "rows": rows}, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("calibrate")
    c.add_argument("tool", choices=["ort", "nncf"])
    for name in ("model", "tensors"):
        c.add_argument(name)
    c.add_argument("samples", type=int)
    c.add_argument("out")
    c.add_argument("--activations", choices=["u8", "s8"], default="u8")
    k = commands.add_parser("calib-cost")
    k.add_argument("--quick", action="store_true")
    k.add_argument("--models", default="ocr_rec,orientation")
    k.add_argument("--samples", default="64,512")
    args = parser.parse_args()
    (calibrate_main if args.command == "calibrate" else calib_cost_main)(args)


if __name__ == "__main__":
    main()
