"""Fuzz what users and callers can hand the preprocessing: arrays for `canvas_to_mnist`, files for `read_image`.

Seeded generators (the same seed gives the same inputs), shared with tests/test_fuzz_inputs.py, which runs a
few hundred of each in CI. Arrays: drawn digits, noise and uniform images of every shape (1 px wide or tall,
empty, 0 to 5 channels, 0-d, 1-d, 4-d, up to 1200 px), dtype (bool, uint8, uint16, int32, float32, float64 and
rarer ones), range, polarity, noise, NaN/inf, non-contiguous views. Files: PNG and JPEG of every mode and
size, the same truncated, bit-flipped or with a huge size in their header, other formats (GIF, BMP, TIFF,
WebP, EPS, ...), random bytes, and hostile files (`hostile_file`, also timed by bench/hostile_images.py):
progressive JPEGs with a scan repeated thousands of times, JPEGs of thousands of segments or of junk, PNGs of
thousands of chunks or compressed texts, huge pixel counts in small files (decompression bombs, interlaced,
16-bit, palette), each read through `read_image` (uploads, the CLI) and `read_drawing` (the canvas).

A failure is any exception other than the documented ones (a ValueError naming the shape or dtype for an
array that is not an image; an ImageError for a file that is not a readable PNG or JPEG), a valid input
refused, or a result that is not None or a (28, 28) float32 image in [0, 1]. `read_image`'s arrays go on
through `canvas_to_mnist`, which must take every one of them.

    python bench/fuzz_inputs.py [--n 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import re
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from digitrec_core.preprocess import ImageError, canvas_to_mnist, read_drawing, read_image

DTYPES = [np.uint8, np.uint8, bool, np.uint16, np.int32, np.float32, np.float64, np.float16, np.int8, np.int64]


@dataclass
class Case:
    what: str  # a short description, to reproduce a failure
    value: object
    valid: bool  # an image canvas_to_mnist (or a file read_image) must take without an error


# -- arrays ------------------------------------------------------------------------------------


def _drawing(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Pen strokes (a digit or a scribble) and a few specks, as 8-bit RGBA, on a canvas or on paper."""
    bg, fg = [((0, 0, 0, 255), (255, 255, 255, 255)), ((0, 0, 0, 0), (255, 0, 0, 255)),
              ((235, 230, 220, 255), (20, 20, 60, 255)),
              (tuple(int(c) for c in rng.integers(0, 256, 4)), tuple(int(c) for c in rng.integers(0, 256, 4)))
              ][int(rng.integers(0, 4))]
    img = Image.new("RGBA", (w, h), bg)
    pen = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):
        points = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(int(rng.integers(2, 7)))]
        pen.line(points, fill=fg, width=int(rng.integers(1, max(3, min(h, w) // 6))), joint="curve")
    for _ in range(int(rng.integers(0, 4))):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        pen.rectangle([x, y, x + 2, y + 2], fill=fg)
    return np.asarray(img)


def _content(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 4) uint8: mostly a drawing, else noise, a uniform image or a gradient."""
    kind = rng.random()
    if kind < 0.7 and h >= 2 and w >= 2:
        a = _drawing(rng, h, w)
    elif kind < 0.8:
        a = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    elif kind < 0.9:
        a = np.full((h, w, 4), rng.integers(0, 256, 4), np.uint8)
    else:
        a = np.repeat(np.linspace(0, 255, max(w, 1)).astype(np.uint8)[None, :w, None], h, 0).repeat(4, 2)
    if rng.random() < 0.3:
        a = np.clip(a + rng.normal(0, rng.uniform(1, 40), a.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        a = 255 - a  # the other polarity
    return a


def _size(rng: np.random.Generator) -> tuple[int, int]:
    r = rng.random()
    if r < 0.08:  # one pixel wide or tall, or empty
        side = int(rng.choice([280, 700, 1200]))
        return tuple(rng.permutation([int(rng.choice([0, 1, 1, 2])), side]))
    if r < 0.2:
        return int(rng.integers(2, 1201)), int(rng.integers(2, 1201))
    if r < 0.3:
        return int(rng.integers(601, 1201)), int(rng.integers(601, 1201))  # averaged down first
    side = int(rng.choice([280, 280, 96, 333, 720]))
    return side, int(side * rng.choice([1.0, rng.uniform(0.5, 1.5)]))


def _as_dtype(rng: np.random.Generator, a: np.ndarray, dtype) -> tuple[np.ndarray, str]:
    """uint8 `a` as `dtype`, on one of the scales such images come in."""
    if dtype is bool:
        return a > 127, "mask"
    if dtype is np.uint8:
        return a, "0-255"
    scales = {np.uint16: ["0-255", "x257", "x16"], np.int32: ["0-255", "0-1", "x257"], np.int64: ["0-255", "0-1"],
              np.int8: ["0-1", "signed"], np.float16: ["0-1", "0-255"],
              np.float32: ["0-1", "0-255", "x7", "signed", "x1e6"], np.float64: ["0-1", "0-255", "x7", "signed"]}
    scale = str(rng.choice(scales[dtype]))
    f = a.astype(np.float64)
    f = {"0-255": f, "0-1": f / 255, "x257": f * 257, "x16": f * 16, "x7": f / 255 * 7, "x1e6": f * 1e6,
         "signed": f / 255 * 2 - 1}[scale]
    if dtype is np.int8:
        f = np.round(f * 127)
    return f.astype(dtype), scale


def image_array(rng: np.random.Generator) -> Case:
    """Anything a caller might pass as an image, and whether it is one."""
    r = rng.random()
    if r < 0.04:  # not an image: 0-d, 1-d, 4-d, channels first, complex, object, text
        bad = [np.array(float(rng.random())), np.zeros(int(rng.integers(0, 500)), np.uint8),
               np.zeros((2, 28, 28, 3), np.uint8), np.zeros((3, 50, 60), np.uint8),
               np.zeros((28, 28), complex), np.zeros((28, 28), object), np.full((5, 5), "x")]
        i = int(rng.integers(0, len(bad)))
        return Case(f"not an image #{i}", bad[i], False)
    h, w = _size(rng)
    base = _content(rng, h, w) if h and w else np.zeros((h, w, 4), np.uint8)
    channels = int(rng.choice([0, 1, 1, 2, 3, 3, 4, 4, 4, 5], p=[0.03, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.24, 0.03]))
    if channels == 0:
        a = base[..., :0]
    elif channels == 5:
        a = np.concatenate([base, base[..., :1]], axis=2)
    elif channels == 1 and rng.random() < 0.5:
        a = base[..., :1].mean(axis=2).astype(np.uint8)  # (H, W)
    else:
        src = {1: base[..., :1], 2: base[..., [0, 3]], 3: base[..., :3], 4: base}[channels]
        a = np.ascontiguousarray(src)
    dtype = DTYPES[int(rng.integers(0, len(DTYPES)))]
    a, scale = _as_dtype(rng, a, dtype)
    valid = a.ndim == 2 or 1 <= a.shape[2] <= 4
    view = ""
    if rng.random() < 0.1 and a.ndim >= 2:  # non-contiguous: flipped, transposed, strided
        v = int(rng.integers(0, 3))
        a, view = ([a[::-1, ::-1], np.swapaxes(a, 0, 1), a[::2, ::2]][v], [" flipped", " transposed", " strided"][v])
    nan = ""
    if a.dtype.kind == "f" and a.size and rng.random() < 0.08:  # after the view: one the view keeps
        a[np.unravel_index(int(rng.integers(0, a.size)), a.shape)] = rng.choice([np.nan, np.inf, -np.inf])
        nan, valid = " with NaN/inf", False
    return Case(f"{a.shape} {a.dtype} {scale}{nan}{view}", a, valid)


def check_array(case: Case) -> str | None:
    """None if canvas_to_mnist answered `case` as documented, else what went wrong."""
    try:
        out = canvas_to_mnist(case.value)
    except ValueError as e:
        if case.valid:
            return f"valid image refused: {e}"
        if not any(word in str(e) for word in ("shape", "dtype", "NaN")):
            return f"unclear ValueError: {e}"
        return None
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    if not case.valid:
        return "no ValueError for something that is not an image"
    return _check_result(out)


def _check_result(out) -> str | None:
    if out is None:
        return None
    if not isinstance(out, np.ndarray) or out.shape != (28, 28) or out.dtype != np.float32:
        return f"bad result {type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}"
    if not np.isfinite(out).all() or out.min() < 0 or out.max() > 1:
        return f"values outside [0, 1]: {out.min()} to {out.max()}"
    return None


# -- files -------------------------------------------------------------------------------------


def _encode(a: np.ndarray, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt, **options)
    return buf.getvalue()


def _valid_file(rng: np.random.Generator) -> tuple[str, bytes]:
    h, w = _size(rng)
    h, w = max(h, 1), max(w, 1)
    h, w = min(h, 800), min(w, 800)  # keeps the run short; bigger files only add decode time
    rgba = _content(rng, h, w)
    mode = str(rng.choice(["RGBA", "RGB", "L", "LA", "P", "1", "I;16", "CMYK"]))
    fmt = "JPEG" if mode == "CMYK" or (mode in ("RGB", "L") and rng.random() < 0.5) else "PNG"
    im = Image.fromarray(rgba)
    if mode == "I;16":
        data = _encode(rgba[..., 0].astype(np.uint16) * int(rng.choice([1, 257, 16])), "PNG")
    elif mode == "P":
        buf = io.BytesIO()
        im.convert("RGB").convert("P").save(buf, "PNG", **({"transparency": 0} if rng.random() < 0.5 else {}))
        data = buf.getvalue()
    else:
        buf = io.BytesIO()
        im.convert(mode).save(buf, fmt, **({"quality": int(rng.integers(5, 96))} if fmt == "JPEG" else {}))
        data = buf.getvalue()
    return f"{fmt} {mode} {w}x{h}", data


def _png_with_size(data: bytes, w: int, h: int) -> bytes:
    """The PNG with another width and height in its header (and the header's CRC fixed)."""
    ihdr = data[12:29]
    ihdr = ihdr[:4] + struct.pack(">II", w, h) + ihdr[12:]
    return data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]


def _jpeg_with_size(data: bytes, w: int, h: int) -> bytes:
    i = data.find(b"\xff\xc0")
    if i < 0:
        i = data.find(b"\xff\xc2")
    return data if i < 0 else data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :]


OTHER_FORMATS = ["GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM", "TGA", "PCX", "EPS", "PDF", "JPEG2000", "IM", "SGI"]


def image_file(rng: np.random.Generator) -> Case:
    """Bytes a visitor might upload, and whether they are a readable PNG or JPEG."""
    r = rng.random()
    if r < 0.1:
        n = int(rng.choice([0, 1, 8, 100, 5000]))
        return Case(f"{n} random bytes", rng.bytes(n), False)
    if r < 0.2:
        fmt = OTHER_FORMATS[int(rng.integers(0, len(OTHER_FORMATS)))]
        a = _content(rng, int(rng.integers(8, 120)), int(rng.integers(8, 120)))
        a = a[..., :3] if fmt in ("EPS", "PDF", "PCX", "JPEG2000", "PPM", "IM", "SGI") else a
        return Case(f"a {fmt} file", _encode(a, fmt), False)
    what, data = _valid_file(rng)
    if r < 0.5:
        return Case(what, data, True)
    if r < 0.65:  # truncated
        cut = int(rng.integers(0, len(data)))
        return Case(f"{what} cut at {cut} of {len(data)}", data[:cut], False)
    if r < 0.85:  # bytes changed
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 20))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        return Case(f"{what} with bytes changed", bytes(b), False)
    w, h = (int(x) for x in rng.choice([0, 1, 6000, 30000, 65535, 2**31 - 1], 2))
    patched = _png_with_size(data, w, h) if what.startswith("PNG") else _jpeg_with_size(data, min(w, 65535),
                                                                                          min(h, 65535))
    return Case(f"{what} claiming {w}x{h}", patched, False)


# -- hostile files: small to send, costly to decode ---------------------------------------------

_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_scans(side: int, repeats: int, mode: str = "L") -> bytes:
    """A progressive JPEG of a uniform side x side image whose first AC scan (a few bytes: one run of empty
    bands) comes `repeats` more times: libjpeg goes through every block again for each."""
    data = _encode(np.full((side, side), 128, np.uint8) if mode == "L" else np.full((side, side, 3), 128, np.uint8),
                   "JPEG", progressive=True)
    start = [m.start() for m in re.finditer(rb"\xff\xda", data)][1]
    end = _NEXT_MARKER.search(data, start + 2 + struct.unpack_from(">H", data, start + 2)[0]).start()
    return data[:end] + data[start:end] * repeats + data[end:]


def jpeg_segments(n: int) -> bytes:
    """A small JPEG with `n` empty comment segments first: Pillow reads each in Python."""
    data = _encode(np.full((64, 64), 128, np.uint8), "JPEG")
    return data[:2] + b"\xff\xfe\x00\x02" * n + data[2:]


def jpeg_junk(n: int) -> bytes:
    """A small JPEG with `n` junk bytes between two segments: Pillow skips them one at a time."""
    data = _encode(np.full((64, 64), 128, np.uint8), "JPEG")
    i = data.find(b"\xff\xdb")
    return data[:i] + bytes(n) + data[i:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_rows(width: int, height: int, color: int = 6, depth: int = 8, interlace: int = 0, chunk: int = 1 << 16,
             extra: tuple[bytes, ...] = ()) -> bytes:
    """A PNG of zero pixels, every row Paeth-filtered (the costliest to undo), written chunk by chunk: a few
    hundred KB for any pixel count. `color` is PNG's colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha,
    6 RGBA); `interlace=1` is Adam7; `extra` chunks come before the image data."""
    bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color] * depth
    packer = zlib.compressobj(1)  # fast; zeros shrink ~100 times even so
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    parts = []
    for x0, y0, dx, dy in passes if interlace else [(0, 0, 1, 1)]:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            row = b"\x04" + bytes(-(-w * bpp // 8))
            parts += [packer.compress(row) for _ in range(h)]
    data = b"".join(parts) + packer.flush()
    head = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    return b"".join([b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", head),
                     *([png_chunk(b"PLTE", bytes(range(256)) * 3)] if color == 3 else []), *extra,
                     *(png_chunk(b"IDAT", data[i : i + chunk]) for i in range(0, len(data), chunk)),
                     png_chunk(b"IEND", b"")])


def png_texts(n: int) -> bytes:
    """A small PNG with `n` zTXt chunks, each inflating to 1 MB (Pillow's limit for one)."""
    packed = zlib.compress(b"a" * 1_000_000, 9)
    return png_rows(64, 64, extra=tuple(png_chunk(b"zTXt", b"k%d\x00\x00" % i + packed) for i in range(n)))


def hostile_file(rng: np.random.Generator) -> Case:
    """A file built to cost time or memory to decode: every one must be refused."""
    what, data = _hostile(rng)
    return Case(f"hostile: {what}", data, False)


def _hostile(rng: np.random.Generator) -> tuple[str, bytes]:
    kind = int(rng.integers(0, 9))
    if kind == 0:
        side, repeats = int(rng.choice([64, 600, 1200, 2400])), int(rng.integers(65, 3000))
        return f"progressive JPEG {side}x{side}, a scan {repeats} more times", jpeg_scans(side, repeats)
    if kind == 1:
        n = int(rng.integers(1001, 100_000))
        return f"JPEG of {n:,} segments", jpeg_segments(n)
    if kind == 2:
        n = int(rng.integers(70_000, 2_000_000))
        return f"JPEG with {n:,} junk bytes", jpeg_junk(n)
    if kind == 3:
        n = int(rng.integers(10_001, 60_000))
        return f"PNG of {n:,} chunks", png_rows(64, 64, extra=(png_chunk(b"abCd", b""),) * n)
    if kind == 4:
        n = int(rng.integers(17, 40))
        return f"PNG of {n} compressed texts", png_texts(n)
    if kind == 5:  # tiny IDAT chunks: a real image, split in pieces
        return "PNG 3000x3000 in 1-byte chunks", png_rows(3000, 3000, chunk=1)
    if kind == 6:  # more pixels than a PNG may have, in every layout
        color, depth = [(6, 8), (6, 16), (0, 16), (3, 8), (0, 1)][int(rng.integers(0, 5))]
        side, interlace = int(rng.choice([3163, 5000])), int(rng.integers(0, 2))
        what = f"PNG {side}x{side} colour type {color}, {depth}-bit" + (" interlaced" if interlace else "")
        return what, png_rows(side, side, color, depth, interlace)
    if kind == 7:  # huge dimensions in the header of a tiny file
        w, h = (int(x) for x in rng.choice([6000, 30000, 65535], 2))
        return f"JPEG claiming {w}x{h}", _jpeg_with_size(_encode(np.zeros((8, 8), np.uint8), "JPEG"), w, h)
    fmt = str(rng.choice(["BMP", "TIFF"]))  # named .png or .jpg: only the bytes count
    return f"a {fmt} file renamed", _encode(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8), fmt)


def check_file(case: Case, read=read_image) -> str | None:
    """None if `read` (read_image, or read_drawing) then canvas_to_mnist answered `case` as documented, else what
    went wrong.

    A damaged file may still decode (a changed byte in the pixels, a cut after the image data): then its
    array must be an image canvas_to_mnist takes."""
    try:
        image = read(case.value)
    except ImageError as e:
        return f"valid file refused: {e}" if case.valid else None
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))
    ):
        return f"bad array {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}"
    if case.what.startswith("hostile: "):
        return "a hostile file was decoded"
    try:
        out = canvas_to_mnist(image)
    except Exception as e:
        return f"canvas_to_mnist on read_image's array, {type(e).__name__}: {e} {image.shape}"
    return _check_result(out)


def check_drawing(case: Case) -> str | None:
    """check_file through the canvas's gate: PNG only, 2 MB, 600x600; a valid file it refuses is no failure."""
    problem = check_file(case, read_drawing)
    return None if problem and problem.startswith("valid file refused") else problem


# -- the run -----------------------------------------------------------------------------------


def fuzz(make, check, n: int, seed: int) -> tuple[int, list[tuple[int, str, str]], Counter]:
    """Try `n` inputs from `make` (one generator seeded by `seed`); returns (tried, failures, outcomes)."""
    rng = np.random.default_rng(seed)
    failures, outcomes = [], Counter()
    for i in range(n):
        case = make(rng)
        start = time.perf_counter()
        problem = check(case)
        outcomes["slowest"] = max(outcomes["slowest"], round(1000 * (time.perf_counter() - start)))  # ms
        outcomes["valid" if case.valid else "invalid"] += 1
        if problem is not None:
            failures.append((i, case.what, problem))
    return n, failures, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="inputs of each kind (default 10,000; "
                        "hostile files: a tenth)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    total = 0
    runs = (("canvas_to_mnist", image_array, check_array, args.n), ("read_image", image_file, check_file, args.n),
            ("read_drawing", image_file, check_drawing, args.n),
            ("read_image, hostile files", hostile_file, check_file, args.n // 10),
            ("read_drawing, hostile files", hostile_file, check_drawing, args.n // 10))
    for name, make, check, n in runs:
        start = time.perf_counter()
        tried, failures, outcomes = fuzz(make, check, n, args.seed)
        took = time.perf_counter() - start
        print(f"{name}: {tried:,} inputs tried ({outcomes['valid']:,} valid images, {outcomes['invalid']:,} not), "
              f"{len(failures):,} failures, {took:.0f} s, at most {outcomes['slowest'] / 1000:.2f} s for one")
        for i, what, problem in failures[:20]:
            print(f"  #{i} {what}: {problem}")
        kinds = Counter(problem.split(":")[0] for _, _, problem in failures)
        for kind, count in kinds.most_common(10):
            print(f"  {count:,} x {kind}")
        total += len(failures)
    print(f"\n`python bench/fuzz_inputs.py --n {args.n} --seed {args.seed}`")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
