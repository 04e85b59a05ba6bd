"""Accuracy metrics of the benchmark (shared real-models.md, "Metrics"); numpy only.

Recognition (ocr_rec, N x T x C softmax outputs):
  characters(model_path)        the model's list: ONNX metadata 'character' (one per line);
                                index 0 of the output is the CTC blank, a space is appended
  ctc_decode(probs, chars)      greedy CTC: argmax per step, drop repeats, then blanks
  cer(predicted, truth)         character error rate, Levenshtein over texts with spaces removed
  exact_rate(predicted, truth)  share of texts equal to the ground truth (ends stripped)
  identical_rate(a, b)          share of texts exactly equal (e.g. int8 vs float32 output)
  mean_cosine(a, b)             mean over samples of the cosine of the flattened outputs
Detection (ocr_det, N x 1 x H x W probability map), DB post-processing "light":
  db_boxes(map)                 threshold 0.3, 4-connected components, box score (mean
                                probability in the component's box) >= 0.5, boxes unclipped
                                by ratio 1.6 (distance area*1.6/perimeter), [x0, y0, x1, y1]
  match(pred, truth, 0.5)       one-to-one greedy matching at IoU >= 0.5 -> matched pairs
  recall / precision            of matched line boxes against ground truth
  box_agreement(a, b)           matched / max(len(a), len(b)) between two variants' boxes
  MapIoU                        IoU of binarized (0.3) maps, pooled over all pages
Classification:
  top1(outputs), accuracy(pred, labels), agreement(pred_a, pred_b)
"""
import numpy as np


def characters(model_path):
    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(model_path, load_external_data=False).metadata_props}
    except ImportError:
        import onnxruntime

        meta = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    return meta["character"].splitlines() + [" "]


def ctc_decode(probs, chars):
    """probs: T x C for one sample."""
    best = np.asarray(probs).argmax(axis=-1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return "".join(chars[i - 1] for i in best[keep & (best != 0)])


def levenshtein(a, b):
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(predicted, truth):
    """Sum of edit distances / sum of ground-truth lengths, spaces ignored."""
    errors = sum(levenshtein(p.replace(" ", ""), t.replace(" ", "")) for p, t in zip(predicted, truth))
    return errors / max(1, sum(len(t.replace(" ", "")) for t in truth))


def exact_rate(predicted, truth):
    """Share of predictions equal to the ground truth, leading / trailing spaces ignored (the
    recognizer reads the crop's margins and padding as spaces)."""
    return sum(p.strip() == t.strip() for p, t in zip(predicted, truth)) / max(1, len(truth))


def identical_rate(a, b):
    return sum(x == y for x, y in zip(a, b)) / max(1, len(a))


def cosine(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / max(1e-30, np.linalg.norm(a) * np.linalg.norm(b)))


def mean_cosine(a, b):
    return float(np.mean([cosine(x, y) for x, y in zip(a, b)]))


# ---------------------------------------------------------------- detection
def components(mask):
    """Bounding boxes [x0, y0, x1, y1) and pixel counts of the 4-connected components of a
    2-D bool mask: row runs joined by union-find (fast in Python: runs, not pixels)."""
    parent = []

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs, previous = [], []  # runs: (y, x0, x1, id)
    for y in range(mask.shape[0]):
        row = mask[y]
        if not row.any():
            previous = []
            continue
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.view(np.int8), [0]))))
        current = []
        k = 0
        for x0, x1 in zip(edges[::2], edges[1::2]):
            rid = len(parent)
            parent.append(rid)
            while k < len(previous) and previous[k][2] <= x0:
                k += 1
            j = k
            while j < len(previous) and previous[j][1] < x1:
                a, b = find(previous[j][3]), find(rid)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                j += 1
            current.append((y, int(x0), int(x1), rid))
        runs.extend(current)
        previous = current
    boxes = {}
    for y, x0, x1, rid in runs:
        root = find(rid)
        b = boxes.setdefault(root, [x0, y, x1, y + 1, 0])
        b[0], b[1], b[2], b[3] = min(b[0], x0), min(b[1], y), max(b[2], x1), max(b[3], y + 1)
        b[4] += x1 - x0
    return list(boxes.values())


def db_boxes(prob_map, threshold=0.3, box_threshold=0.5, unclip_ratio=1.6, min_size=3):
    """Line boxes [x0, y0, x1, y1] (map pixels) from one H x W probability map."""
    prob_map = np.asarray(prob_map).reshape(prob_map.shape[-2:])
    height, width = prob_map.shape
    boxes = []
    for x0, y0, x1, y1, _ in components(prob_map > threshold):
        w, h = x1 - x0, y1 - y0
        if min(w, h) < min_size:
            continue
        if float(prob_map[y0:y1, x0:x1].mean()) < box_threshold:
            continue
        d = w * h * unclip_ratio / (2 * (w + h))
        boxes.append([max(0.0, x0 - d), max(0.0, y0 - d), min(float(width), x1 + d), min(float(height), y1 + d)])
    return boxes


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(predicted, truth, threshold=0.5):
    """Greedy one-to-one matching, best IoU first; returns the number of matched pairs."""
    pairs = sorted(((iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)), reverse=True)
    used_p, used_t, matched = set(), set(), 0
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matched += 1
    return matched


class DetScore:
    """Accumulates recall / precision against ground truth over pages."""

    def __init__(self):
        self.matched = self.truth = self.predicted = 0

    def add(self, predicted, truth):
        self.matched += match(predicted, truth)
        self.truth += len(truth)
        self.predicted += len(predicted)

    def result(self):
        return {"recall": self.matched / max(1, self.truth), "precision": self.matched / max(1, self.predicted),
                "lines": self.truth}


def box_agreement(a, b):
    return match(a, b) / max(1, len(a), len(b))


class MapIoU:
    """IoU of binarized maps, intersection and union pooled over all pages."""

    def __init__(self, threshold=0.3):
        self.threshold, self.inter, self.union = threshold, 0, 0

    def add(self, a, b):
        a, b = np.asarray(a) > self.threshold, np.asarray(b) > self.threshold
        self.inter += int(np.count_nonzero(a & b))
        self.union += int(np.count_nonzero(a | b))

    def result(self):
        return self.inter / max(1, self.union)


# ---------------------------------------------------------------- classification
def top1(outputs):
    return [int(np.asarray(o).reshape(-1).argmax()) for o in outputs]


def accuracy(predicted, labels):
    return sum(p == t for p, t in zip(predicted, labels)) / max(1, len(labels))


agreement = accuracy
