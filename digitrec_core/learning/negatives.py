"""Non-digits as people draw them on the Draw page: the data to tell "not a digit" from a digit.

`generate(n, split=..., seed=...)` draws `n` drawings of each kind on the Draw page's 280x280 canvas
as streamlit-drawable-canvas returns it (RGBA, a white round pen on opaque black; `transparent=True`:
white on a transparent canvas), at a random size (90-240 px, as bench/writers.py and
bench/robustness.py place digits) and place, with the page's pen widths (6-40 px):

- `letters`: capital and small letters from fonts (Pillow's bundled one, plus DejaVu where the machine
  has it), slanted, rotated and squashed like handwriting, their strokes thickened by a random pen.
  Letters a person could mean as a digit are left out (`LOOKALIKES`): O o D Q (0), I l i j (1),
  Z z (2), S s (5), b G (6), B (8), g q (9), and shapes that are digits in some hands: J L (a 1 with a
  hook or a foot), A t y (closed and open 4s), a p (a 9 whose loop sits on a stem). Teaching a model
  that those are not digits teaches it to refuse the people who write their digits that way.
- `scribbles`: one to three random polylines of 8-20 points, straight-jointed or smoothed into curves. Fewer
  points make a single curve or zigzag of a turn or two: the stroke a 2, a 7 or a 3 is made of, not a scribble.
- `dots`: one to four clicks or dabs (a disc, or a drag shorter than two pen widths). Many of them
  are too small to read as a drawing at all: `canvas_to_mnist` returns None for those, which is
  already "nothing to classify".
- `crossings`: X marks, hatching (3-8 parallel lines, sometimes hatched across), and scratched-out
  zigzags of at least 4 turns.
- `shapes`: stars, triangles, squares and rectangles, spirals, smileys, hearts, arrows. No lone
  circle or ellipse: that is a 0.

Seeds: drawing `j` of a kind, in a split, for a seed, comes from its own random stream,
`np.random.default_rng([SPLITS[split], seed, kind index, j])`. So a drawing never depends on how
many others are drawn, a `train` drawing and a `validation` one never come from the same stream
(train on `train`, measure on `validation`), and one call always returns the same canvases on a
machine (the letters depend on which fonts it has).

numpy and Pillow only: about 1,000 drawings a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitrec_core.preprocess import canvas_to_mnist

CANVAS = 280  # the Draw page's canvas, px
SIZES = (90, 240)  # a drawing's frame on the canvas, px (bench/writers.py places digits in the same range)
PEN = (6, 40)  # the Draw page's pen width slider, px
DEFAULT_PEN = 18  # and where it starts
KINDS = ("letters", "scribbles", "dots", "crossings", "shapes")
# Independent random streams for training and for measuring (arbitrary constants, never to change).
SPLITS = {"train": 0x7472, "validation": 0x76616C}

SCRIBBLE_POINTS = 8  # the fewest points of a scribble's polyline (see the module doc)
LOOKALIKES = set("OoDQIlijZzSsbGBgq" "JLAtyap")  # letters that look like a digit (see the module doc)
LETTERS = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in LOOKALIKES)
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
               "DejaVuSansMono.ttf", "DejaVuSans-ExtraLight.ttf")


@dataclass(frozen=True)
class Negatives:
    canvases: np.ndarray  # (N, 280, 280, 4) uint8 RGBA
    kinds: np.ndarray  # (N,) str: which of KINDS each canvas is


def generate(n: int, *, split: str = "train", seed: int = 0, kinds: tuple[str, ...] = KINDS,
             transparent: bool = False) -> Negatives:
    """`n` drawings of each kind in `kinds`, from the `split` ("train" or "validation") stream of `seed`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; the kinds are {KINDS}")
    canvases = [draw(kind, _stream(split, seed, kind, j), transparent)
                for kind in kinds for j in range(n)]
    shape = (0, CANVAS, CANVAS, 4)
    return Negatives(np.stack(canvases) if canvases else np.zeros(shape, np.uint8), np.repeat(np.asarray(kinds), n))


def _stream(split: str, seed: int, kind: str, j: int) -> np.random.Generator:
    """Drawing j of `kind`'s own random stream: the same drawing whatever else is generated with it."""
    return np.random.default_rng([SPLITS[split], seed, KINDS.index(kind), j])


def as_mnist(n: int, *, split: str = "train", seed: int = 0, kinds: tuple[str, ...] = KINDS
             ) -> tuple[np.ndarray, np.ndarray]:
    """`n` drawings of each kind as the Draw page gives them to the model (through `canvas_to_mnist`), drawn
    one at a time (a canvas is 300 KB): the (M, 28, 28) float32 images and their kinds, leaving out the few
    in which it finds nothing (the page shows "Draw a digit" for those)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    images, labels = [], []
    for kind in kinds:
        for j in range(n):
            digit = _as_mnist_one(split, seed, kind, j)
            if digit is not None:
                images.append(digit)
                labels.append(kind)
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.float32)), np.asarray(labels, dtype=str)


def for_training(n_images: int, per_digit: float, seed: int) -> np.ndarray:
    """The non-digits a training set of `n_images` digits gets, `per_digit` of them a digit spread evenly over
    the kinds (fewer than one of each: none), from the `train` stream: `as_mnist`'s (M, 28, 28) images."""
    n = round(per_digit * n_images / len(KINDS))
    return as_mnist(n, split="train", seed=seed)[0] if n >= 1 else np.zeros((0, 28, 28), np.float32)


@lru_cache(maxsize=4096)  # a fine-tune's ~2,000 non-digits, drawn once a process (a warm worker draws them ahead)
def _as_mnist_one(split: str, seed: int, kind: str, j: int) -> np.ndarray | None:
    digit = canvas_to_mnist(draw(kind, _stream(split, seed, kind, j)))
    if digit is not None:
        digit.flags.writeable = False  # shared by every caller
    return digit


def draw(kind: str, rng: np.random.Generator, transparent: bool = False) -> np.ndarray:
    """One drawing of `kind` on a (280, 280, 4) uint8 RGBA canvas."""
    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0 if transparent else 255))
    pen = ImageDraw.Draw(img)
    size = rng.uniform(*SIZES)
    left, top = rng.uniform(0, CANVAS - size, 2)
    # Half keep the page's default pen; the others move its slider anywhere.
    width = DEFAULT_PEN if rng.random() < 0.5 else int(rng.integers(PEN[0], PEN[1] + 1))
    if kind == "letters":
        _letter(img, rng, size, left, top, width)
    else:
        # Unit-square shapes (0-1 on both axes), mapped into the drawing's frame.
        def place(points: np.ndarray) -> list[tuple[float, float]]:
            return [(float(left + x * size), float(top + y * size)) for x, y in points]

        for points in _DRAWERS[kind](rng):
            stroke(pen, place(points), width)
    return np.asarray(img)


def stroke(pen: ImageDraw.ImageDraw, points: list[tuple[float, float]], width: int) -> None:
    """A round pen along `points`, as the canvas's freedraw draws it: round joints and round caps."""
    r = width / 2
    if len(points) > 1:
        pen.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    for x, y in (points[0], points[-1]):
        pen.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 255, 255))


# -- the kinds, in a unit square -------------------------------------------------------------------


def _smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a hand's curve through a polyline's corners."""
    for _ in range(rounds):
        q, r = 0.75 * points[:-1] + 0.25 * points[1:], 0.25 * points[:-1] + 0.75 * points[1:]
        points = np.concatenate([points[:1], np.stack([q, r], 1).reshape(-1, 2), points[-1:]])
    return points


def _jitter(points: np.ndarray, rng: np.random.Generator, amount: float = 0.02) -> np.ndarray:
    return points + rng.normal(0, amount, points.shape)


def _scribbles(rng):
    out = []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        count = int(rng.integers(SCRIBBLE_POINTS, 21))
        if rng.random() < 0.5:  # points anywhere in the frame
            points = rng.uniform(0, 1, (count, 2))
        else:  # a wandering hand: each point a step from the last, scaled to the frame
            points = np.cumsum(rng.normal(0, 1, (count, 2)), axis=0)
            points = (points - points.min(0)) / max(float(np.ptp(points, axis=0).max()), 1e-6)
        out.append(_smooth(points) if rng.random() < 0.5 else points)
    return out


def _dots(rng):
    out = []
    for _ in range(int(rng.integers(1, 5))):
        at = rng.uniform(0, 1, 2)
        # A click (one point), or a short dab: a drag of a few pixels on a 90-240 px frame.
        out.append(at[None] if rng.random() < 0.5 else np.stack([at, at + rng.normal(0, 0.03, 2)]))
    return out


def _crossings(rng):
    what = rng.integers(0, 3)
    if what == 0:  # an X
        a, b = _jitter(np.array([[0, 0], [1, 1.0]]), rng, 0.08), _jitter(np.array([[1, 0], [0, 1.0]]), rng, 0.08)
        return [a, b]
    if what == 1:  # hatching, sometimes cross-hatched
        lines = []
        for angle in [rng.uniform(0, np.pi)] + ([rng.uniform(0, np.pi)] if rng.random() < 0.5 else []):
            d, normal = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
            for off in np.linspace(-0.4, 0.4, int(rng.integers(3, 9))):
                c = 0.5 + off * normal
                lines.append(_jitter(np.stack([c - 0.5 * d, c + 0.5 * d]), rng, 0.02))
        return lines
    # a scratch-out: a zigzag back and forth, 4-12 turns, as if crossing something out
    turns = int(rng.integers(4, 13))
    ys = np.linspace(0, 1, turns + 1) if rng.random() < 0.5 else rng.uniform(0, 1, turns + 1)
    xs = np.where(np.arange(turns + 1) % 2 == 0, rng.uniform(0, 0.2, turns + 1), rng.uniform(0.8, 1, turns + 1))
    points = np.stack([xs, ys], 1)
    return [_jitter(points if rng.random() < 0.5 else points[:, ::-1], rng, 0.02)]


def _polygon(corners: int, rng, step: int = 1, turn: float | None = None) -> np.ndarray:
    """A closed polygon (`step` 2 on 5 corners: a star drawn in one line)."""
    turn = rng.uniform(0, 2 * np.pi) if turn is None else turn
    t = turn + 2 * np.pi * (np.arange(corners + 1) * step % corners) / corners
    return 0.5 + 0.5 * np.stack([np.cos(t), np.sin(t)], 1)


def _shapes(rng):
    what = rng.integers(0, 8)
    if what == 0:  # a five-pointed star, in one line
        return [_jitter(_polygon(5, rng, step=2, turn=-np.pi / 2 + rng.normal(0, 0.2)), rng)]
    if what == 1:  # a triangle
        return [_jitter(_polygon(3, rng, turn=-np.pi / 2 + rng.normal(0, 0.3)), rng, 0.03)]
    if what == 2:  # a square or a rectangle
        w, h = (1.0, rng.uniform(0.5, 1.0)) if rng.random() < 0.5 else (rng.uniform(0.5, 1.0), 1.0)
        return [_jitter(np.array([[0, 0], [w, 0], [w, h], [0, h], [0, 0]]), rng, 0.02)]
    if what == 3:  # a spiral of 1.5-3.5 turns
        t = np.linspace(0, 2 * np.pi * rng.uniform(1.5, 3.5), 80)
        r = 0.5 * t / t[-1]
        return [0.5 + np.stack([r * np.cos(t), r * np.sin(t) * rng.choice([-1, 1])], 1)]
    if what == 4:  # a smiley: face, two eyes and a mouth
        t = np.linspace(0, 2 * np.pi, 40)
        face = 0.5 + 0.5 * np.stack([np.cos(t), np.sin(t)], 1)
        mouth_t = np.linspace(0.2 * np.pi, 0.8 * np.pi, 12)
        mouth = np.stack([0.5 + 0.28 * np.cos(mouth_t), 0.55 + 0.2 * np.sin(mouth_t)], 1)
        eyes = [np.array([[0.35, 0.35]]), np.array([[0.65, 0.35]])]
        return [_jitter(face, rng, 0.01), *eyes, _jitter(mouth, rng, 0.01)]
    if what == 5:  # a heart
        t = np.linspace(0, 2 * np.pi, 50)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        return [_jitter(np.stack([0.5 + x / 34, 0.45 - y / 34], 1), rng, 0.01)]
    if what == 6:  # a diamond with a cross inside (a rhombus alone could be a 0)
        d = _polygon(4, rng, turn=0.0)
        return [_jitter(d, rng, 0.02), np.array([[0.5, 0.1], [0.5, 0.9]]), np.array([[0.1, 0.5], [0.9, 0.5]])]
    # an arrow, pointing anywhere
    angle = rng.uniform(0, 2 * np.pi)
    d, n = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    tip = 0.5 + 0.5 * d
    head = np.stack([tip - 0.3 * d + 0.2 * n, tip, tip - 0.3 * d - 0.2 * n])
    return [np.stack([0.5 - 0.5 * d, tip]), head]


_DRAWERS = {"scribbles": _scribbles, "dots": _dots, "crossings": _crossings, "shapes": _shapes}


# -- letters ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """The DejaVu fonts this machine has (system folders, or matplotlib's copy), sorted."""
    found: dict[str, str] = {}
    roots = [Path(d) for d in _FONT_DIRS]
    try:
        import matplotlib

        roots.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:  # matplotlib is only in the training extras
        pass
    for root in roots:
        if root.is_dir():
            for name in _FONT_NAMES:
                for path in sorted(root.rglob(name)):
                    found.setdefault(name, str(path))
    return tuple(found[n] for n in _FONT_NAMES if n in found)


@lru_cache(maxsize=64)
def _font(index: int, size: int = 160) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Font `index` of Pillow's bundled one (0) then `font_files()`."""
    files = font_files()
    return ImageFont.load_default(size) if index == 0 else ImageFont.truetype(files[index - 1], size)


def _letter(img: Image.Image, rng: np.random.Generator, size: float, left: float, top: float, width: int) -> None:
    """A letter, its outline thickened by a pen of about `width`, warped like handwriting, into the frame."""
    font = _font(int(rng.integers(0, len(font_files()) + 1)))
    char = LETTERS[int(rng.integers(0, len(LETTERS)))]
    glyph = Image.new("L", (320, 320), 0)
    # The font's own strokes are ~15-25 px at 160 px: a pen width added on top, in the glyph's scale.
    ImageDraw.Draw(glyph).text((160, 160), char, fill=255, font=font, anchor="mm",
                               stroke_width=int(rng.integers(0, 1 + width // 3)), stroke_fill=255)
    # Slant, rotation and squash, about the glyph's centre (output -> input mapping).
    angle, slant = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(-0.3, 0.3)
    sx, sy = rng.uniform(0.8, 1.2, 2)
    c, s = math.cos(angle), math.sin(angle)
    a, b, d, e = c / sx, (c * slant - s) / sx, s / sy, (s * slant + c) / sy
    glyph = glyph.transform(glyph.size, Image.AFFINE, (a, b, 160 - 160 * (a + b), d, e, 160 - 160 * (d + e)),
                            Image.BILINEAR)
    box = glyph.getbbox()
    if box is None:  # a font without this glyph: draw nothing rather than guess
        return
    glyph = glyph.crop(box)
    k = size / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * k)), max(1, round(glyph.height * k))), Image.BILINEAR)
    ink = glyph.point(lambda v: 255 if v >= 128 else 0)
    img.paste((255, 255, 255, 255), (int(left), int(top)), ink)
