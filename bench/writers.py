"""Writers MNIST never saw: how well a model reads their digits through the Draw page's path.

Each digit of a held-out writer set is drawn the way the Draw page sees one: its bitmap scaled up
to a random size (90-240 px) at a random place on a 280x280 canvas, edges smoothed, then passed
through `canvas_to_mnist`. Fixed seed, so every model sees the same canvases.

- Semeion (../shared/writers/semeion.data): 1,593 digits by about 80 Italian writers, 16x16
  binary. A validation set only: never train on it.
- optdigits (scikit-learn's bundled `load_digits`, the UCI test half): 1,797 digits by 13 other
  writers on NIST forms, 8x8 counts of ink in 4x4 blocks. A second held-out set, so a gain can be
  checked not to be Semeion-specific. Needs `pip install scikit-learn`; skipped (saying so) without.

Prints each set's accuracy, top confusions and per-class accuracy, plus MNIST test accuracy;
`--augment-cost` also times what the handwriting styles (digitrec_core/learning/augment.py) add to a
training batch. Fine-tuning on 10 Semeion digits of each class is bench/finetune.py's figure.

    python bench/writers.py [--model NAME] [--seed 0] [--semeion PATH] [--augment-cost]

The model defaults to the active one (the shipped `digitrec_core/pretrained` while the store is empty).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from digitrec_core import canvas_to_mnist, load_mnist, load_model, predict_proba  # noqa: E402

CANVAS = 280  # the Draw page's canvas, px
SIZES = (90, 240)  # the digit's frame on the canvas, px: bench/robustness.py draws in the same range
SEMEION = Path(__file__).resolve().parents[2] / "shared" / "writers" / "semeion.data"


@dataclass(frozen=True)
class WriterSet:
    name: str
    x: np.ndarray  # (N, 28, 28) float32, what the model sees
    y: np.ndarray  # (N,) int


def load_semeion(path: Path = SEMEION) -> tuple[np.ndarray, np.ndarray]:
    """Semeion's 16x16 bitmaps as (N, 16, 16) float in {0, 1} (ink = 1) and labels (N,)."""
    try:
        rows = np.loadtxt(path, dtype=np.float32)
    except OSError as e:
        raise SystemExit(f"Semeion is not at {path} ({e.strerror or e}); pass --semeion PATH.") from None
    if rows.ndim != 2 or rows.shape[1] != 266:
        raise SystemExit(f"{path}: expected rows of 256 pixels + 10 one-hot label columns, got shape {rows.shape}.")
    return rows[:, :256].reshape(-1, 16, 16), rows[:, 256:].argmax(axis=1)


def load_optdigits() -> tuple[np.ndarray, np.ndarray] | None:
    """scikit-learn's bundled optdigits as (N, 8, 8) float in [0, 1] and labels, or None without scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(int)


def to_canvas(bitmap: np.ndarray, rng: np.random.Generator, level: float = 0.5, blur: float = 0.5) -> np.ndarray:
    """A (h, w) bitmap in [0, 1] drawn white on a black 280x280 RGBA canvas, scaled up with smooth edges.

    A binary bitmap (Semeion) is scaled up bilinearly, blurred by `blur` source pixels and cut at
    `level`: that rounds the staircase off its edges. A grey one (optdigits, whose pixels count the
    ink in 4x4 blocks) is already smooth once scaled up bicubically (`blur=0`); cutting it at a low
    `level` keeps its 1-2 px strokes (counts of 4-8 of 16), which a cut at 0.5 erased.
    """
    size = int(rng.uniform(*SIZES))
    left, top = (int(v) for v in rng.uniform(0, CANVAS - size, 2))
    resample = Image.BILINEAR if blur else Image.BICUBIC
    big = Image.fromarray((bitmap * 255).astype(np.uint8)).resize((size, size), resample)
    if blur:
        big = big.filter(ImageFilter.GaussianBlur(blur * size / max(bitmap.shape)))
    ink = np.where(np.asarray(big) >= 255 * level, 255, 0).astype(np.uint8)
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[top : top + size, left : left + size, :3] = ink[..., None]
    return canvas


def draw_set(name: str, bitmaps: np.ndarray, labels: np.ndarray, seed: int = 0, **drawing) -> WriterSet:
    """Every bitmap through a canvas (`drawing`: `to_canvas`'s level and blur) and `canvas_to_mnist`.

    A digit in which `canvas_to_mnist` finds nothing stays blank, and so counts as an error.
    """
    rng = np.random.default_rng(seed)
    digits = [canvas_to_mnist(to_canvas(b, rng, **drawing)) for b in bitmaps]
    x = np.stack([np.zeros((28, 28), np.float32) if d is None else d for d in digits])
    return WriterSet(name, x, np.asarray(labels, int))


def writer_sets(seed: int = 0, semeion: Path = SEMEION) -> list[WriterSet]:
    sets = [draw_set("Semeion", *load_semeion(semeion), seed=seed)]
    opt = load_optdigits()
    if opt is None:
        print("optdigits skipped: scikit-learn is not installed (pip install scikit-learn)", file=sys.stderr)
    else:
        sets.append(draw_set("optdigits", *opt, seed=seed, level=0.3, blur=0))
    return sets


def confusion(model, ws: WriterSet) -> np.ndarray:
    pred = predict_proba(model, ws.x).argmax(axis=1)
    m = np.zeros((10, 10), int)
    np.add.at(m, (ws.y, pred), 1)
    return m


def accuracy(m: np.ndarray) -> float:
    return float(np.trace(m) / m.sum())


def report(ws: WriterSet, m: np.ndarray, top: int = 8) -> str:
    errors = m.sum() - np.trace(m)
    off = [(int(m[t, p]), t, p) for t in range(10) for p in range(10) if t != p and m[t, p]]
    pairs = ", ".join(f"{t}->{p} {n}" for n, t, p in sorted(off, reverse=True)[:top])
    per_class = " ".join(f"{d}:{m[d, d] / m[d].sum():.0%}" for d in range(10))
    return (f"{ws.name}: {accuracy(m):.2%} of {m.sum():,} ({errors} wrong)\n"
            f"  top confusions (true->predicted count): {pairs}\n"
            f"  per class: {per_class}")


def augment_cost(batches: int = 40, batch_size: int = 128) -> str:
    """What the handwriting styles add to a training batch: the augmentation with and without labels
    and one training step of `default`, interleaved batch by batch so the machine's drift hits all alike."""
    import keras
    import tensorflow as tf

    from digitrec_core.learning.augment import augment_batch
    from digitrec_core.models import build_model
    from digitrec_core.serving.evaluation import as_batch

    data = load_mnist()
    x = tf.constant(as_batch(data.x_train[:batch_size]))
    y = tf.constant(data.y_train[:batch_size].astype(np.int32))
    blind = tf.function(lambda a: augment_batch(a))
    styled = tf.function(lambda a, b: augment_batch(a, b))
    model = build_model("default")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    steps = {"class-blind augmentation": lambda: blind(x).numpy(),
             "augmentation with styles": lambda: styled(x, y).numpy(),
             "training step of default": lambda: model.train_on_batch(x, y)}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(batches + 3):  # the first 3 trace and warm up
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            if i >= 3:
                times[name].append(time.perf_counter() - t)
    ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
    extra = ms["augmentation with styles"] - ms["class-blind augmentation"]
    lines = [f"  {k}: {v:.2f} ms a batch of {batch_size} (median of {batches})" for k, v in ms.items()]
    lines.append(f"  the styles add {extra:.2f} ms a batch, {extra / ms['training step of default']:.1%} of a training "
                 "step (an upper bound: tf.data augments on other threads while the network trains)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a stored model's name (default: the active one)")
    ap.add_argument("--seed", type=int, default=0, help="sizes and places on the canvas")
    ap.add_argument("--semeion", type=Path, default=SEMEION)
    ap.add_argument("--augment-cost", action="store_true", help="also time the handwriting styles' training cost")
    args = ap.parse_args()
    loaded = load_model(args.model)
    started = time.perf_counter()
    sets = writer_sets(args.seed, args.semeion)
    drawn = time.perf_counter() - started
    print(f"model: {loaded.info.name} (MNIST test accuracy in its card: {loaded.info.test_accuracy:.2%})")
    print(f"drawn through 280x280 canvases and canvas_to_mnist in {drawn:.1f} s, seed {args.seed}\n")
    for ws in sets:
        print(report(ws, confusion(loaded.model, ws)) + "\n")
    data = load_mnist()
    test = float((predict_proba(loaded.model, data.x_test).argmax(axis=1) == data.y_test).mean())
    print(f"MNIST test: {test:.2%} of {len(data.y_test):,}")
    if args.augment_cost:
        print("\ntraining cost of the handwriting styles:\n" + augment_cost())
    cmd = "python bench/writers.py" + (f" --model {args.model}" if args.model else "")
    cmd += f" --seed {args.seed}" if args.seed else ""
    print(f"\ncommand: {cmd}" + (" --augment-cost" if args.augment_cost else ""))


if __name__ == "__main__":
    main()
