"""MNIST digits re-drawn as pen strokes on the Draw page's canvas, and read back as the page reads them.

A digit's skeleton (its pen path) is traced with a round pen of a few widths, at a random size and place on
a 280x280 canvas, and passed through `canvas_to_mnist`: what a person drawing that digit on the page would
give the model. Training uses it to choose the "not a digit" threshold on real digits as drawn
(`digitrec_core.serving.recognition`); the benchmarks, to score models on drawings.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from digitrec_core.preprocess import canvas_to_mnist

CANVAS = 280  # the Draw page's canvas, px
PENS = (8, 14, 18, 30)  # pen widths, px: the page's slider runs 6-40, its default is 18
FRAME = (90, 240)  # the digit's frame on the canvas, px


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a batch of binary images: the pen's path through each digit."""
    img = mask.astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
            n = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                 p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]  # P2..P9 clockwise
            b = sum(n)
            a = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.uint8) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0) if step == 0 else (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img.astype(bool)


def redraw(x: np.ndarray, width: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Each digit (28x28 in [0, 1]) re-drawn with a round pen of `width` px, at a random size and place: RGBA
    canvases, white on black as the page draws."""
    up = 4
    big = np.stack([np.asarray(Image.fromarray((d * 255).astype(np.uint8)).resize((28 * up, 28 * up), Image.BILINEAR))
                    for d in x])
    canvases = []
    for path in skeleton(big > 100):
        ys, xs = np.nonzero(path)
        size = rng.uniform(*FRAME)
        k = size / (28 * up)
        ox, oy = rng.uniform(0, CANVAS - size, 2)
        img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
        draw, r = ImageDraw.Draw(img), width / 2
        for y, x_ in zip(ys * k + oy, xs * k + ox):
            draw.ellipse([x_ - r, y - r, x_ + r, y + r], fill=(255, 255, 255, 255))
        canvases.append(np.asarray(img))
    return canvases


def to_mnist(canvases) -> tuple[np.ndarray, np.ndarray]:
    """The 28x28 images `canvas_to_mnist` makes of canvases (blank where it finds nothing), and which were blank."""
    digits = [canvas_to_mnist(c) for c in canvases]
    blank = np.array([d is None for d in digits], bool)
    return np.stack([np.zeros((28, 28), np.float32) if d is None else d for d in digits]), blank


def as_drawn(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Digits (28x28, uint8 or [0, 1]) as the page would read them drawn, in as many pen widths as PENS, in
    order; a digit read back blank stays blank (all zeros)."""
    x = np.asarray(x, np.float32)
    x = x / 255.0 if x.max(initial=0) > 1 else x
    rng = np.random.default_rng(seed)
    parts = np.array_split(x, len(PENS))
    return to_mnist([c for part, pen in zip(parts, PENS) for c in redraw(part, pen, rng)])[0]
