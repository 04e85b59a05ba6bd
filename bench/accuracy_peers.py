#!/usr/bin/env python3
"""Quality and latency of the peers' int8 models against their own float32.

For ocr_rec, ocr_det and orientation: builds the data sets (bench/datasets.py), preprocesses
them (bench/preprocess.py), calibrates onnxruntime int8 (u8 and s8 activations) and
OpenVINO+NNCF int8 on the calibration split (up to --calib-samples samples, each calibration
in a child process: time and peak RSS recorded), then on the evaluation split reports
  ocr_rec      exact lines vs ground truth, CER, text identical to the float32 of the same
               runtime, mean cosine of the outputs vs that float32
  ocr_det      line recall / precision at IoU 0.5 (DB post-processing light), box agreement and
               binarized-map IoU vs float32
  orientation  top-1 accuracy, top-1 agreement vs float32
and latency medians (2 threads, batch 1, interleaved blocks) on one evaluation input brought
to the usual shape (rec 1x3x48x320, det 1x3x736x992, orientation 1x3x224x224).
The float32 reference of ort_* variants is ort_fp32, of ov_* variants ov_fp32.

    target/bench-venv/bin/python bench/accuracy_peers.py --quick   # a few minutes
    target/bench-venv/bin/python bench/accuracy_peers.py           # default set sizes
Writes bench/out/accuracy_peers[_quick].json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import datasets
import metrics
import peers
import preprocess

LATENCY_SHAPES = {"ocr_rec": (1, 3, 48, 320), "ocr_det": (1, 3, 736, 992), "orientation": (1, 3, 224, 224)}


def fit(x, shape):
    """x cropped / zero-padded to `shape` (rec padding is zeros anyway)."""
    out = np.zeros(shape, dtype=np.float32)
    region = tuple(slice(0, min(a, b)) for a, b in zip(x.shape, shape))
    out[region] = x[region]
    return out


def reference(name):
    return "ort_fp32" if name.startswith("ort") else "ov_fp32"


def variants_for(model, tensors, samples, tag):
    path = preprocess.model_path(model)
    return [peers.OrtFloat(path), peers.OrtInt8(path, tensors, "u8", samples, tag), peers.OrtInt8(path, tensors, "s8", samples, tag),
            peers.OvFloat(path), peers.OvNncfInt8(path, tensors, samples, tag)]


class Quality:
    """Per-variant accumulators for one model, fed sample by sample (outputs are not kept)."""

    def __init__(self, model, names, chars):
        self.model, self.names, self.chars = model, names, chars
        self.texts = {n: [] for n in names}
        self.truth = []
        self.cosines = {n: [] for n in names}
        self.det = {n: metrics.DetScore() for n in names}
        self.agree = {n: [] for n in names}
        self.maps = {n: metrics.MapIoU() for n in names}
        self.top1 = {n: [] for n in names}

    def add(self, outputs, truth):
        first = {n: o[0] for n, o in outputs.items()}
        if self.model == "ocr_rec":
            self.truth.append(truth["text"])
            for n, o in first.items():
                self.texts[n].append(metrics.ctc_decode(o[0], self.chars))
                self.cosines[n].append(metrics.cosine(o, first[reference(n)]))
        elif self.model == "ocr_det":
            boxes = {n: metrics.db_boxes(o[0, 0]) for n, o in first.items()}
            for n, o in first.items():
                self.det[n].add(boxes[n], truth["boxes"])
                self.agree[n].append(metrics.box_agreement(boxes[n], boxes[reference(n)]))
                self.maps[n].add(o, first[reference(n)])
        else:
            self.truth.append(truth["label"])
            for n, o in first.items():
                self.top1[n].append(metrics.top1([o])[0])

    def result(self, n):
        r = reference(n)
        if self.model == "ocr_rec":
            return {"exact": metrics.exact_rate(self.texts[n], self.truth), "cer": metrics.cer(self.texts[n], self.truth),
                    "identical_to_fp32": metrics.identical_rate(self.texts[n], self.texts[r]),
                    "cosine_to_fp32": float(np.mean(self.cosines[n]))}
        if self.model == "ocr_det":
            return dict(self.det[n].result(), box_agreement_fp32=float(np.mean(self.agree[n])), map_iou_fp32=self.maps[n].result())
        return {"top1": metrics.accuracy(self.top1[n], self.truth), "agreement_fp32": metrics.agreement(self.top1[n], self.top1[r])}


def run_model(model, folder, args):
    calibration = preprocess.prepared(model, folder, "calibration")
    evaluation = preprocess.prepared(model, folder, "evaluation")
    prefix = os.path.join(folder, "tensors", f"{model}_calibration")
    preprocess.write_tensors(prefix, calibration, model=model, split="calibration")
    samples = min(args.calib_samples, len(calibration))
    variants = variants_for(model, prefix, samples, tag=("quick_" if args.quick else ""))
    for v in variants:
        start = time.perf_counter()
        v.prepare()
        v.info["prepare_s"] = time.perf_counter() - start
        print(f"  {model}: {v.name} ready in {v.info['prepare_s']:.1f} s", file=sys.stderr, flush=True)
    chars = metrics.characters(preprocess.model_path(model)) if model == "ocr_rec" else None
    quality = Quality(model, [v.name for v in variants], chars)
    for x, truth in evaluation:
        x = np.ascontiguousarray(x)
        quality.add({v.name: v.run(x) for v in variants}, truth)
    batch = fit(np.asarray(evaluation[0][0]), LATENCY_SHAPES[model])
    times = peers.interleaved(variants, batch, runs=args.runs)
    rows = []
    for v in variants:
        row = {"variant": v.name, "quality": quality.result(v.name), "latency_ms": peers.summary_ms(times[v.name])}
        if "calibration" in v.info:
            row["calibration"] = v.info["calibration"]
        rows.append(row)
        v.close()
    return {"model": model, "eval_samples": len(evaluation), "calibration_samples": samples,
            "latency_input": list(batch.shape), "rows": rows}


def show(result):
    model = result["model"]
    print(f"\n{model}: {result['eval_samples']} eval samples, int8 calibrated on {result['calibration_samples']}, "
          f"latency input {'x'.join(map(str, result['latency_input']))}")
    for row in result["rows"]:
        q, lat = row["quality"], row["latency_ms"]
        if model == "ocr_rec":
            text = (f"exact {100 * q['exact']:5.1f}%  CER {100 * q['cer']:5.2f}%  identical-to-fp32 {100 * q['identical_to_fp32']:5.1f}%"
                    f"  cosine {q['cosine_to_fp32']:.5f}")
        elif model == "ocr_det":
            text = (f"recall {q['recall']:.3f}  precision {q['precision']:.3f}  box-agreement {q['box_agreement_fp32']:.3f}"
                    f"  map-IoU {q['map_iou_fp32']:.3f}")
        else:
            text = f"top-1 {100 * q['top1']:5.1f}%  agreement {100 * q['agreement_fp32']:5.1f}%"
        calib = row.get("calibration")
        calib = f"  calib {calib['seconds']:.1f} s / {calib['peak_rss_mb']:.0f} MB" if calib else ""
        print(f"  {row['variant']:<14} {text}  |  {lat['median']:7.2f} ms ({lat['p10']:.2f}-{lat['p90']:.2f}){calib}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sets (datasets.QUICK_SIZES), 20 latency runs")
    parser.add_argument("--models", default="ocr_rec,ocr_det,orientation")
    parser.add_argument("--calib-samples", type=int, default=64)
    parser.add_argument("--runs", type=int, default=None, help="timed runs per variant (default 100, quick 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.runs = args.runs or (20 if args.quick else 100)
    folder = datasets.build(seed=args.seed, quick=args.quick)
    import nncf
    import onnxruntime
    import openvino

    results = []
    for model in args.models.split(","):
        result = run_model(model, folder, args)
        show(result)
        results.append(result)
    out = os.path.join(peers.BENCH, "out", f"accuracy_peers{'_quick' if args.quick else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"datasets": os.path.basename(folder), "threads": peers.THREADS, "runs": args.runs,
                   "versions": {"onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__, "nncf": nncf.__version__},
                   "results": results}, f, indent=1)
    print(f"\n{out}")


if __name__ == "__main__":
    main()
