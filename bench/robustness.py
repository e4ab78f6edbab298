"""Robustness: how much test accuracy `seed` and `default` keep when digits stop looking like MNIST.

Conditions on the real test set: shifts, rotations, scaling, thicker and thinner strokes, and test
digits re-drawn as uniform pen strokes (several widths) anywhere on a 280x280 canvas, the way a
user draws, then passed through canvas_to_mnist. A last row feeds the same canvases to the models
naively (the whole canvas resized to 28x28), which is what an app without MNIST-style
preprocessing does.

    python bench/robustness.py [--n 2000] [--seed-model NAME] [--default-model NAME]

The seed model is the newest `seed` in the store (train one with
`python -m digitrec_cli train --arch seed`); the default model is the active one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from digitrec_core import ModelStore, canvas_to_mnist, load_mnist, load_model, predict_proba  # noqa: E402
from digitrec_core.learning.redraw import redraw  # noqa: E402

CANVAS = 280


def warp(x: np.ndarray, *, angle=0.0, scale=1.0, shift=(0.0, 0.0)) -> np.ndarray:
    """Per-image affine warps through the same op the augmentation uses (angle in degrees, per image)."""
    import tensorflow as tf

    from digitrec_core.learning.augment import affine

    n = len(x)
    full = lambda v: tf.constant(np.broadcast_to(np.asarray(v, np.float32), (n,)))  # noqa: E731
    out = affine(tf.constant(x[..., None]), full(np.deg2rad(angle)), full(1 / scale), full(1 / scale),
                 full(0.0), full(shift[0]), full(shift[1]))
    return out.numpy()[..., 0]


def stroke(x: np.ndarray, amount: float) -> np.ndarray:
    import tensorflow as tf

    from digitrec_core.learning.augment import stroke_weight

    return np.clip(stroke_weight(tf.constant(x[..., None]), tf.fill([len(x)], amount)).numpy()[..., 0], 0, 1)


def naive(canvas: np.ndarray) -> np.ndarray:
    gray = Image.fromarray(canvas[..., :3].mean(axis=2).astype(np.uint8))
    return np.asarray(gray.resize((28, 28), Image.BILINEAR)) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="test digits per condition (the first N)")
    ap.add_argument("--seed-model")
    ap.add_argument("--default-model")
    args = ap.parse_args()
    store = ModelStore()
    seed_name = args.seed_model or next((i.name for i in store.list() if i.arch == "seed"), None)
    if seed_name is None:
        sys.exit("No seed model in the store: python -m digitrec_cli train --arch seed")
    models = {"seed": load_model(seed_name), "default": load_model(args.default_model)}
    data = load_mnist()
    x, y = (data.x_test[: args.n] / 255.0).astype(np.float32), data.y_test[: args.n]
    rng = np.random.default_rng(0)
    sign = rng.choice([-1.0, 1.0], len(x))
    direction = rng.uniform(0, 2 * np.pi, len(x))
    started = time.perf_counter()
    conditions: dict[str, np.ndarray] = {
        "clean test set": x,
        "shifted 3 px": warp(x, shift=(3 * np.cos(direction), 3 * np.sin(direction))),
        "shifted 5 px": warp(x, shift=(5 * np.cos(direction), 5 * np.sin(direction))),
        "rotated ±15°": warp(x, angle=15 * sign),
        "rotated ±30°": warp(x, angle=30 * sign),
        "scaled 0.7x": warp(x, scale=0.7),
        "scaled 1.25x": warp(x, scale=1.25),
        "thicker strokes (3x3 dilation)": stroke(x, 1.0),
        "thinner strokes (3x3 erosion, 60%)": stroke(x, -0.6),
    }
    naive_rows = {}
    for width in (6, 16, 30):
        canvases = redraw(x, width, rng)
        digits = [canvas_to_mnist(c) for c in canvases]
        conditions[f"re-drawn, {width} px pen, canvas_to_mnist"] = np.stack(
            [d if d is not None else np.zeros((28, 28)) for d in digits])
        naive_rows[f"re-drawn, {width} px pen, naive resize"] = np.stack([naive(c) for c in canvases])
    conditions.update(naive_rows)

    acc = {(name, m): float((predict_proba(lm.model, imgs.astype(np.float32)).argmax(1) == y).mean())
           for name, imgs in conditions.items() for m, lm in models.items()}
    print(f"models: seed = {models['seed'].info.name}, default = {models['default'].info.name}")
    print(f"{len(x):,} real MNIST test digits per condition ({time.perf_counter() - started:.0f} s)\n")
    print(f"| {'condition':40} | seed | default | seed drop | default drop |")
    print(f"|{'-' * 42}|------|---------|-----------|--------------|")
    for name in conditions:
        s, d = acc[(name, "seed")], acc[(name, "default")]
        ds, dd = s - acc[("clean test set", "seed")], d - acc[("clean test set", "default")]
        print(f"| {name:40} | {s:.1%} | {d:.1%} | {ds:+.1%} | {dd:+.1%} |")
    cmd = f"python bench/robustness.py --n {args.n}"
    print(f"\ncommand: {cmd}" + (f" --seed-model {args.seed_model}" if args.seed_model else "") +
          (f" --default-model {args.default_model}" if args.default_model else ""))


if __name__ == "__main__":
    main()
