"""Turn a drawing or a photo of a digit into the 28x28 image an MNIST model expects.

A model trained on MNIST only ever saw digits prepared one way: the ink cropped, scaled so its
longer side is 20 px, anti-aliased, and placed so its centre of mass sits at the centre of a 28x28
frame, with strokes 2-3 px wide. A canvas drawing is none of that (any size, any place, any pen),
so we rebuild exactly that preparation here. numpy and Pillow only, so it stays fast and light.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import struct
import threading
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SIZE = 28  # MNIST frame
TARGET_BOX = 20  # longer side of the digit inside the frame
CENTER = 14.0  # where MNIST puts the centre of mass (row, column index)
STROKE = 2.4  # stroke width in output px; MNIST strokes measure 2.5 (median, IQR 2.1-3.0)
OVERSAMPLE = 4  # morphology runs at OVERSAMPLE x the output resolution
MAX_SIDE = 600  # larger inputs (photos) are averaged down first: faster, and noise averages out
INK_LEVEL = 0.5  # ink weaker than this fraction of the strongest is background (shading, noise)
MIN_CONTRAST = 0.15  # a weaker strongest ink (fraction of full scale) means a uniform image
MIN_AREA = 0.001  # less ink than this fraction of the canvas is a speck, not a digit
MIN_EXTENT = 0.04  # a digit's longer side is at least this fraction of the canvas's
MIN_DENSITY = 0.005  # ink covering less of its bounding box than this is scattered specks
SPECK_GAP = 0.05  # ink this far (fraction of the canvas side) from the digit ...
SPECK_MASS = 0.05  # ... and this light (fraction of the digit's ink) is a stray speck
_PAD = int(STROKE * OVERSAMPLE / (2 * (1 - STROKE / TARGET_BOX))) + 2  # room for the widest dilation
# Uploads: the one limit Streamlit's server.maxUploadSize (digitrec_app.SERVER_OPTIONS, .streamlit/config.toml)
# and the Draw page share. Streamlit's "MB" is 2**20 bytes; so is ours, so both refuse the same files.
MB = 1 << 20
MAX_UPLOAD_MB = 10
FORMATS = ("PNG", "JPEG")  # decoded; every other format is refused whatever the file's name
# Other formats, told apart by their first bytes only to name them when refusing them
_OTHER_FORMATS = {b"GIF8": "a GIF image", b"BM": "a BMP image", b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image",
                  b"%!PS": "a PostScript file", b"\xc5\xd0\xd3\xc6": "an EPS file", b"%PDF": "a PDF document",
                  b"RIFF": "a WebP image", b"\x00\x00\x01\x00": "an ICO icon", b"8BPS": "a Photoshop file",
                  b"\x00\x00\x00\x0cjP": "a JPEG 2000 image", b"\xffO\xffQ": "a JPEG 2000 image"}

# What decoding a file may cost.
# Pillow reads every PNG chunk and every JPEG segment before the image in Python, and libjpeg goes through every
# block once per scan of a progressive JPEG; none of them has a limit. Measured on the project's 2-core machine
# (bench/hostile_images.py): a 10 MB PNG of 800,000 empty chunks took 3.8 s to open, a JPEG of 2.5 million empty
# comments 4.8 s, a 300 KB progressive JPEG of 23,000 scans at 1200x1200 5.5 s. The limits below keep each under
# ~0.05 s, far above what encoders write: libjpeg's progressive JPEGs have 6-10 scans, cameras' 1, files ~20
# segments, PNG encoders 8-64 KB chunks (a 10 MB PNG: ~1,300).
MAX_PIXELS = 25_000_000  # a JPEG's (a 24 Mpx phone photo): decoded at 1/8 scale, 0.1 s and a few MB
MAX_PNG_PIXELS = 10_000_000  # a PNG's: decoded whole, 40 MB and up to 0.3 s (16-bit RGBA, every row Paeth-filtered)
MAX_PNG_CHUNKS = 10_000  # ~5 us each in Pillow
MAX_PNG_PACKED = 16  # zTXt, iTXt, iCCP chunks: Pillow inflates each up to 1 MB and keeps it
MAX_JPEG_SEGMENTS = 1_000  # markers outside the scans
MAX_JPEG_JUNK = 65_536  # bytes between segments (libjpeg skips them as corrupt data; Pillow one at a time)
MAX_JPEG_SCANS = 64
# A progressive (or multi-scan) JPEG is decoded whole into its DCT coefficients, 2 bytes each: 3 bytes a pixel
# at the usual 4:2:0 (what cameras and editors write), 6 at 4:4:4. 80 MB allows 4:2:0 up to MAX_PIXELS (75 MB,
# 0.35 s), 4:4:4 up to 13 Mpx.
MAX_JPEG_COEF_BYTES = 80 * MB
# Blocks visited by all scans together: libjpeg's own progressive JPEGs visit each block 5-6 times, ~3.5 million
# visits at 25 Mpx. A scan of empty bands costs ~5 ns a block, a DC scan ~10.
MAX_JPEG_BLOCK_VISITS = 8 * MAX_JPEG_COEF_BYTES // 128


class ImageError(ValueError):
    """An uploaded file we cannot turn into an image; the message is meant for the user."""


def canvas_to_mnist(image: np.ndarray) -> np.ndarray | None:
    """Return the digit in `image` as a (28, 28) float32 MNIST-style image, or None if there is none.

    Accepts a canvas (RGBA, on black or on transparent), an RGB or grayscale photo, light ink on
    dark or dark ink on light. Where and how large the digit was drawn, and with which pen width,
    should not matter to the model, so all three are normalised away.
    """
    a = as_uint8(image)
    if min(a.shape[:2]) >= 2 and max(a.shape[:2]) > MAX_SIDE:
        a = np.asarray(Image.fromarray(a).reduce(-(-max(a.shape[:2]) // MAX_SIDE)))
    if min(a.shape[:2]) < 2:  # empty, or a line one pixel wide (perhaps once averaged down): no room for a digit
        return None
    mask = _ink_mask(a)
    box = None if mask is None else _digit_box(mask)
    if box is None:
        return None
    top, bottom, left, right = box
    crop = mask[top:bottom, left:right]
    area = np.count_nonzero(crop)
    if area < max(MIN_AREA * mask.size, MIN_DENSITY * crop.size) or max(crop.shape) < MIN_EXTENT * max(mask.shape):
        return None
    digit = _normalise_stroke(crop)
    return _center(digit / digit.max()) if digit.max() > 0 else None


def as_uint8(image: np.ndarray) -> np.ndarray:
    """`image` as uint8 pixels, (H, W) or (H, W, 2-4): the one reading of every dtype `canvas_to_mnist` takes.

    uint8 is taken as it is. bool is a mask: True is 255 (which side is ink, the border decides, as for
    any image). Other integers and floats are scaled by their actual range, not their dtype's: at most 1
    is a 0-1 image, at most 255 a 0-255 one (a uint16 array holding 8-bit values), above that the
    maximum is white (a 16-bit image); negative values are black. Raises ValueError, naming the shape
    or the dtype, for what is not an image: 0-d, 1-d or 4-d arrays, 0 or more than 4 channels, complex,
    object or text values, NaN or infinity.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and not 2 <= a.shape[2] <= 4):
        raise ValueError(f"Expected an image array (H, W) or (H, W, C) with 1 to 4 channels, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.view(np.uint8) * np.uint8(255)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"Expected an image of bool, integer or float pixels, got dtype {a.dtype}")
    if a.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(a.min()), float(a.max())  # NaN propagates through both, so these two passes check it too
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"Expected finite pixel values, got NaN or infinity in a {a.dtype} image")
    if a.dtype.kind in "iu" and lo >= 0 and 1 < hi <= 255:
        return a.astype(np.uint8)  # 8-bit values in a wider integer type: as they are
    full = 1.0 if hi <= 1 else 255.0 if hi <= 255 else hi
    out = a.astype(np.float32) if a.dtype.itemsize < 4 else a.astype(np.float64)  # float16, int8...: no overflow
    out *= 255 / full
    out += 0.5
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def _ink_mask(a: np.ndarray) -> np.ndarray | None:
    """Binary ink mask of a uint8 image: background level and polarity come from the image border."""
    full = 255.0
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha, a = a[..., -1], a[..., :-1]
        if _median(_border(alpha)) < full / 2:  # transparent canvas: whatever the pen colour, ink = alpha
            a = alpha
    if a.ndim == 3:  # channel sum, one channel at a time: numpy's axis=2 reductions are slow
        gray = a[..., 0].astype(np.uint16)
        for c in range(1, a.shape[2]):
            gray += a[..., c]
        full *= a.shape[2]
    else:
        gray = a
    background = _median(_border(gray))
    darkest, brightest = float(gray.min()), float(gray.max())
    # Integer levels against an integer threshold: the same pixels, without comparing in float64.
    if background - darkest > brightest - background:  # dark ink on light paper
        peak = background - darkest
        mask = gray < math.ceil(background - INK_LEVEL * peak)
    else:
        peak = brightest - background
        mask = gray > math.floor(background + INK_LEVEL * peak)
    return mask if peak >= MIN_CONTRAST * full else None


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _median(a: np.ndarray) -> float:
    """`float(np.median(a))`, the same value; for integers through a sort, without np.median's overhead."""
    if a.dtype.kind not in "ui":
        return float(np.median(a))
    s, k = np.sort(a), a.size // 2
    return float(s[k]) if a.size % 2 else (float(s[k - 1]) + float(s[k])) / 2


def _digit_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box of the ink, ignoring small specks set apart from the digit by a gap."""
    gap, ink = SPECK_GAP * max(mask.shape), mask.view(np.uint8)
    # uint16 counts: no side is longer than MAX_SIDE (photos) or than a canvas, far below 65,535
    count = np.uint16 if max(mask.shape) < 1 << 16 else np.int64
    cols = _span(np.add.reduce(ink, axis=0, dtype=count), gap)
    if cols is None:
        return None
    rows = _span(np.add.reduce(ink[:, cols[0] : cols[1]], axis=1, dtype=count), gap)
    return rows + cols


def _span(profile: np.ndarray, gap: float) -> tuple[int, int] | None:
    """Extent of a projection profile, dropping light groups split off by more than `gap`."""
    idx = np.flatnonzero(profile)
    if idx.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts, ends = np.concatenate(([0], breaks + 1)), np.concatenate((breaks, [idx.size - 1]))
    mass = np.add.reduceat(profile[idx], starts, dtype=np.int64)
    keep = np.flatnonzero(mass >= SPECK_MASS * mass.max())
    return int(idx[starts[keep[0]]]), int(idx[ends[keep[-1]]]) + 1


def _normalise_stroke(crop: np.ndarray) -> np.ndarray:
    """Resize the ink to TARGET_BOX with MNIST's stroke width, whatever pen drew it.

    The mask goes to OVERSAMPLE x the output size keeping every touched pixel (so a hairline
    survives), is dilated or eroded there until its strokes will be STROKE px wide once the box is
    TARGET_BOX px, and is then area-averaged down: the anti-aliased grey edges MNIST has.
    """
    h, w = crop.shape
    scale = TARGET_BOX * OVERSAMPLE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(crop.view(np.uint8) * np.uint8(255)).resize(size, Image.BOX)
    ink = np.zeros((size[1] + 2 * _PAD, size[0] + 2 * _PAD), bool)  # 0/1 until the fractional step: bools
    ink[_PAD:-_PAD, _PAD:-_PAD] = np.asarray(small) > 0
    # Growing the strokes by r on each side grows the box by 2r too, which shrinks the final scale.
    radius = (STROKE * OVERSAMPLE - _stroke_width(ink)) / (2 * (1 - STROKE / TARGET_BOX))
    steps, frac = divmod(abs(radius), 1)
    op = np.maximum if radius > 0 else np.minimum  # on bools: or, and
    for i in range(int(steps)):
        ink = _grow(ink, op, square=i % 2 == 1)
    img = ink.astype(np.float32)
    img += frac * (_grow(ink, op, square=steps % 2 == 1).astype(np.float32) - img)  # the fractional part of the radius
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    if rows.size == 0:  # eroded away: not a digit shape
        return img[:1, :1]
    img = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = img.shape
    size = (max(1, round(w * TARGET_BOX / max(h, w))), max(1, round(h * TARGET_BOX / max(h, w))))
    return np.asarray(Image.fromarray(img).resize(size, Image.BOX))


def _stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width as 2 x area / perimeter, the perimeter counted along 4 directions.

    Counting edge crossings on horizontal, vertical and both diagonal lines (Crofton's formula)
    measures a curve's length the same whatever its slope, so a '1' and a '0' are judged alike.
    `ink` must have an empty border.
    """
    straight = np.count_nonzero(ink[1:] != ink[:-1]) + np.count_nonzero(ink[:, 1:] != ink[:, :-1])
    diagonal = np.count_nonzero(ink[1:, 1:] != ink[:-1, :-1]) + np.count_nonzero(ink[1:, :-1] != ink[:-1, 1:])
    return 2 * np.count_nonzero(ink) / (np.pi / 8 * (straight + diagonal / np.sqrt(2)))


def _grow(img: np.ndarray, op: np.ufunc, square: bool) -> np.ndarray:
    """One step of dilation (op=max) or erosion (op=min); alternating cross and square steps
    make an octagon, close enough to the round pen the strokes were drawn with."""
    out = img.copy()
    op(out[1:], img[:-1], out=out[1:])
    op(out[:-1], img[1:], out=out[:-1])
    src = out.copy() if square else img
    op(out[:, 1:], src[:, :-1], out=out[:, 1:])
    op(out[:, :-1], src[:, 1:], out=out[:, :-1])
    return out


def _center(digit: np.ndarray) -> np.ndarray:
    """Paste into the 28x28 frame with the centre of mass at the centre, as MNIST did. The sums are float64, as
    in the page's copy of this function (digitrec/web/preprocess.js), so both place a digit alike."""
    h, w = digit.shape
    d = digit.astype(np.float64)
    total = d.sum()
    cy = (d.sum(axis=1) @ np.arange(h)) / total
    cx = (d.sum(axis=0) @ np.arange(w)) / total
    top = min(max(round(CENTER - cy), 0), SIZE - h)
    left = min(max(round(CENTER - cx), 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + h, left : left + w] = digit
    return out


def read_image(
    data: bytes | str | os.PathLike | BinaryIO, *, max_bytes: int = MAX_UPLOAD_MB * MB, max_pixels: int = MAX_PIXELS,
    formats: tuple[str, ...] = FORMATS,
) -> np.ndarray:
    """Decode an uploaded PNG or JPEG (or only the `formats` named) into a uint8 array for `canvas_to_mnist`.

    Uploads are untrusted, so huge files, decompression bombs, junk and every other format (whatever
    the file's name: Pillow reads ~40, and hands EPS to Ghostscript) become an ImageError with a
    sentence fit to show the user. So does a file whose decoding would cost more than about 0.5 s or
    100 MB: `check_decode_cost` reads its structure from the bytes before any decoder runs, and a PNG
    may have at most MAX_PNG_PIXELS (decoded whole), a JPEG `max_pixels` (decoded at 1/2-1/8 scale).
    Photos come upright (EXIF orientation). The result is RGBA when the image has transparency (a
    canvas export: the ink may be in the alpha), else RGB or L.
    """
    raw = _read_bytes(data, max_bytes)
    accepted = tuple(f for f in formats if f in FORMATS)
    try:
        buffered = check_decode_cost(raw)  # before Image.open: Pillow walks a file's headers in Python
        with Image.open(io.BytesIO(raw), formats=accepted) as im:  # only these decoders ever see the bytes
            if im.format not in (*accepted, *(("MPO",) if "JPEG" in accepted else ())):  # MPO: a camera's JPEG
                # One of FORMATS this call does not take; a camera's MPO is a JPEG to its owner
                raise _not_accepted(f"a {'JPEG' if im.format == 'MPO' else im.format} image", accepted)
            limit = min(max_pixels, MAX_PNG_PIXELS) if im.format == "PNG" else max_pixels
            if im.width * im.height > limit:  # checked from the header, before decoding anything
                kind = " for a PNG (a JPEG may be larger)" if limit < max_pixels else ""
                raise ImageError(f"Image is {im.width}x{im.height} pixels; the limit{kind} is {limit:,} pixels.")
            if im.format == "PNG":
                buffered = im.width * im.height * 4  # decoded whole, at most 4 bytes a pixel
            with _BIG_DECODE if buffered > _BIG_BYTES else contextlib.nullcontext():
                small = _averaged_down(im)
            ImageOps.exif_transpose(small, in_place=True)  # the EXIF came along; upright only what is small
            return _to_array(small)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError("Image has too many pixels to decode safely.") from e
    except UnidentifiedImageError as e:
        kind = next((kind for magic, kind in _OTHER_FORMATS.items() if raw.startswith(magic)), None)
        raise _not_accepted(kind or f"not a {' or '.join(accepted)} image", accepted) from e
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, struct.error...) on bad data
        raise ImageError(_CORRUPT) from e


def _not_accepted(kind: str, accepted: tuple[str, ...] = FORMATS) -> ImageError:
    """"That file is a GIF image: only PNG and JPEG images are accepted." (or only PNG, where a call takes only that)"""
    return ImageError(f"That file is {kind}: only {' and '.join(accepted)} images are accepted.")


_CORRUPT = "The image is truncated or corrupt and could not be decoded."

# A canvas's drawing: the Draw page's is 280x280; 600x600 RGBA of pure noise is 1.4 MB as a PNG.
MAX_DRAWING_BYTES = 2 * MB


def read_drawing(data: bytes) -> np.ndarray:
    """A canvas's drawing, as the page sends it (a PNG), through `read_image`'s gate: PNG only, at most
    MAX_DRAWING_BYTES and MAX_SIDE x MAX_SIDE pixels (checked before decoding). ImageError otherwise."""
    return read_image(data, max_bytes=MAX_DRAWING_BYTES, max_pixels=MAX_SIDE * MAX_SIDE, formats=("PNG",))


def _read_bytes(data: bytes | str | os.PathLike | BinaryIO, max_bytes: int) -> bytes:
    """Read at most max_bytes + 1 bytes: enough to tell an oversized file without loading all of it."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        size = len(raw)
    elif isinstance(data, (str, os.PathLike)):
        try:
            with open(data, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                raw = f.read(max_bytes + 1)
        except OSError as e:
            raise ImageError(f"Could not read {os.fspath(data)}: {e.strerror or e}.") from e
    else:  # a file-like object, e.g. Streamlit's UploadedFile (which knows its .size)
        raw = data.read(max_bytes + 1)
        size = getattr(data, "size", None) or len(raw)
    if not raw:
        raise ImageError("The file is empty.")
    if len(raw) > max_bytes:
        known = f" ({size / MB:.1f} MB)" if size > max_bytes + 1 else ""
        raise ImageError(f"Image is too large{known}; the limit is {max_bytes / MB:.3g} MB.")
    return raw


# Decoding is where an upload costs memory: a 100 KB PNG can hold 10 Mpx (40 MB as RGBA), a progressive JPEG keeps
# every coefficient (up to MAX_JPEG_COEF_BYTES). Such images are decoded one at a time, so visitors uploading
# together cannot stack those peaks; a baseline JPEG (decoded at 1/8 scale, a few MB) never waits for them.
_BIG_BYTES = 16 * MAX_SIDE * MAX_SIDE
_BIG_DECODE = threading.Lock()
_BAND_PIXELS = 1 << 20  # a big image is converted and averaged down this many pixels at a time


def _averaged_down(im: Image.Image) -> Image.Image:
    """The decoded image, its longer side averaged down to at most MAX_SIDE as canvas_to_mnist would do
    (that many pixels are all it reads), without holding more than one full-size copy: a JPEG is decoded
    straight at 1/2, 1/4 or 1/8 scale by libjpeg, other images are reduced right after decoding, in bands
    (Pillow's reduce() of an RGBA image makes a full-size premultiplied copy; so would converting a whole
    palette or 16-bit image)."""
    if max(im.size) <= MAX_SIDE:
        return im
    if im.format in ("JPEG", "MPO"):
        im.draft(im.mode, tuple(max(1, side * MAX_SIDE // max(im.size)) for side in im.size))
    im.load()
    factor = -(-max(im.size) // MAX_SIDE)
    mode = ("RGBA" if im.mode == "P" and _has_alpha(im) else "I" if im.mode.startswith("I;16") else
            "RGB" if im.mode == "P" else "L" if im.mode == "1" else im.mode)  # modes reduce() refuses: converted
    if factor == 1:
        return im.convert(mode) if mode != im.mode else im
    width, height = im.size
    band = factor * max(1, _BAND_PIXELS // (width * factor))  # whole blocks of rows: the same sums as in one go
    out = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, band):
        part = im.crop((0, top, width, min(top + band, height)))
        out.paste((part.convert(mode) if mode != part.mode else part).reduce(factor), (0, top // factor))
    out.info = dict(im.info)  # the EXIF, for turning the photo upright
    return out


# -- what decoding a file would cost, read from its bytes --------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")  # after a scan's data: the next marker, fill bytes first
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}  # baseline, extended, progressive; Huffman or arithmetic coded
_JPEG_PROGRESSIVE = {0xC2, 0xCA}
_JPEG_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}  # lossless, hierarchical


def check_decode_cost(raw: bytes) -> int:
    """Refuse, from its bytes alone, a PNG or JPEG that would cost too much to decode (an ImageError saying so);
    return the bytes its decoder will hold at once, as far as the bytes tell (a progressive JPEG's coefficients),
    else 0. Other bytes are left to Pillow. Limits: MAX_PNG_CHUNKS, MAX_PNG_PACKED, MAX_JPEG_SEGMENTS,
    MAX_JPEG_JUNK, MAX_JPEG_SCANS, MAX_JPEG_COEF_BYTES, MAX_JPEG_BLOCK_VISITS."""
    if raw.startswith(_PNG_SIGNATURE):
        _check_png(raw)
        return 0
    if raw.startswith(b"\xff\xd8"):
        return _check_jpeg(raw)
    return 0


_RESAVE = "save it again with an ordinary image editor and upload that."


def _check_png(raw: bytes) -> None:
    pos, chunks, packed = len(_PNG_SIGNATURE), 0, 0
    while pos + 8 <= len(raw):  # a cut file ends the walk: the decoder says it is truncated
        length, kind = struct.unpack_from(">I4s", raw, pos)
        chunks += 1
        packed += kind in (b"zTXt", b"iTXt", b"iCCP")
        if chunks > MAX_PNG_CHUNKS:
            raise ImageError(f"The PNG is split into more than {MAX_PNG_CHUNKS:,} pieces; {_RESAVE}")
        if packed > MAX_PNG_PACKED:
            raise ImageError(f"The PNG holds more than {MAX_PNG_PACKED} compressed texts or profiles; {_RESAVE}")
        if kind == b"IEND":
            return
        pos += 12 + length


def _check_jpeg(raw: bytes) -> int:
    pos, segments, junk, scans, visits = 2, 0, 0, 0, 0
    blocks: dict[int, int] = {}  # component id: its blocks (whole MCUs)
    progressive, coefficients = False, 0
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF or raw[pos + 1] in (0x00, 0xFF):  # junk or fill bytes before a marker
            found = _JPEG_MARKER.search(raw, pos)
            if found is None:
                break
            start = found.end() - 2
            junk += start - pos - raw.count(b"\xff", pos, start)
            if junk > MAX_JPEG_JUNK:
                raise ImageError(_CORRUPT)
            pos = start
            continue
        marker = raw[pos + 1]
        if marker == 0xD9:  # end of image; what follows (an MPO's other pictures) is never decoded
            break
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageError(f"The JPEG holds more than {MAX_JPEG_SEGMENTS:,} segments; {_RESAVE}")
        (length,) = struct.unpack_from(">H", raw, pos + 2)
        body = raw[pos + 4 : pos + 2 + length]
        if marker in _JPEG_OTHER_FRAMES:
            raise _not_accepted("a lossless or hierarchical JPEG")
        if marker in _JPEG_FRAMES and len(body) >= 6:
            if blocks:
                raise ImageError(_CORRUPT)  # two frames: libjpeg refuses it too
            blocks = _jpeg_blocks(body)
            progressive = marker in _JPEG_PROGRESSIVE
        elif marker == 0xDA:
            if not body or not blocks:
                raise ImageError(_CORRUPT)
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(f"The JPEG has more than {MAX_JPEG_SCANS} scans (an ordinary one has 1 to 10); "
                                 + _RESAVE)
            visits += sum(blocks.get(body[1 + 2 * i], 0) for i in range(min(body[0], (len(body) - 1) // 2)))
            if progressive or scans > 1:  # every coefficient is kept until the last scan
                coefficients = 128 * sum(blocks.values())
                if coefficients > MAX_JPEG_COEF_BYTES:
                    raise ImageError(f"A progressive JPEG this large needs over {MAX_JPEG_COEF_BYTES // MB} MB to "
                                     "decode; save it as an ordinary (baseline) JPEG, or smaller, and upload that.")
            if visits > MAX_JPEG_BLOCK_VISITS:
                raise ImageError(f"The JPEG's scans would take too long to decode; {_RESAVE}")
            found = _JPEG_MARKER.search(raw, pos + 2 + length)  # the scan's data runs to the next marker
            if found is None:
                break
            pos = found.end() - 2
            continue
        pos += 2 + length
    return coefficients


def _jpeg_blocks(frame: bytes) -> dict[int, int]:
    """Each component's 8x8 blocks, as libjpeg allocates them (whole MCUs), from a frame header (SOFn)."""
    height, width, count = struct.unpack_from(">HHB", frame, 1)
    if height == 0 or width == 0 or count == 0:  # a height set later (DNL) libjpeg does not read either
        raise ImageError(_CORRUPT)
    parts = [frame[6 + 3 * i : 9 + 3 * i] for i in range(count)]
    parts = [p for p in parts if len(p) == 3]
    h_max = max((p[1] >> 4 for p in parts), default=1) or 1
    v_max = max((p[1] & 15 for p in parts), default=1) or 1
    mcus_x, mcus_y = -(-width // (8 * h_max)), -(-height // (8 * v_max))
    return {p[0]: mcus_x * (p[1] >> 4) * mcus_y * (p[1] & 15) for p in parts}


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


def _to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):  # 16-bit, 32-bit, float: convert("L") would clip
        return as_uint8(np.asarray(im))  # scaled as canvas_to_mnist scales such an array: by its range
    if _has_alpha(im):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("L" if im.mode in ("1", "L") else "RGB"))
