"""The personal digits' PNG codec: the raw image as drawn (8-bit, at most RAW_SIDE on its longer side) and
the 28x28 digit as the model saw it (16-bit greyscale, round(value * 65535), read back within 1/65535).

A 28x28 float digit given to `add` is stored as it is, as the raw image too. The 28x28 is always made from
the image as given, before the raw image is shrunk, so a photo is recognised as well as ever while it keeps
at most ~310 KB.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from digitrec_core.personal.sample import PersonalDigitsError, brief
from digitrec_core.preprocess import MAX_DRAWING_BYTES, MIN_CONTRAST, SIZE, as_uint8, canvas_to_mnist, check_decode_cost

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_DIGIT_BYTES = 64_000  # a 28x28 16-bit PNG is at most ~1.6 KB (noise)
RAW_SIDE = 280  # a stored raw image's longer side at most: the Draw page's canvas
# Earlier versions stored photos up to 600x600 (<= 1.5 MB even as RGBA noise): a raw image is read through
# `read_drawing`'s gate.
MAX_RAW_BYTES = MAX_DRAWING_BYTES
BLANK = "The image is blank: there is no digit to store. Draw one first."


def encode_input(image: Any) -> tuple[bytes, bytes]:
    """(raw PNG, 28x28 PNG) for what `add` was given; raises PersonalDigitsError for a blank image."""
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise PersonalDigitsError(f"Expected an image array of numbers, got {a.dtype} values.")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise PersonalDigitsError("The image has NaN or infinite values.")
    if a.dtype == bool:  # canvas_to_mnist reads True as 1 of 255, too faint to be ink: make it 255
        a = a.view(np.uint8) * np.uint8(255)
    if a.shape == (SIZE, SIZE) and a.dtype.kind == "f" and a.min() >= 0 and a.max() <= 1:
        check_not_blank(a)
        digit_png = encode_digit(a)
        return digit_png, digit_png
    try:
        digit = canvas_to_mnist(a)
    except ValueError as e:
        raise PersonalDigitsError(str(e)) from e
    if digit is None:
        raise PersonalDigitsError(BLANK)
    return encode_raw(a), encode_digit(digit)


def encode_pair(image: Any, digit: Any) -> tuple[bytes, bytes]:
    """(raw PNG, 28x28 PNG) for an image and the 28x28 already made from it."""
    d = np.asarray(digit)
    if d.shape != (SIZE, SIZE) or d.dtype.kind not in "iuf" or not np.isfinite(d).all() or d.min() < 0 or d.max() > 1:
        raise PersonalDigitsError(f"Expected the digit as {SIZE}x{SIZE} values from 0 to 1.")
    check_not_blank(d)
    raw = np.asarray(image)
    if raw.dtype.kind not in "biu" or raw.ndim not in (2, 3):
        raise PersonalDigitsError("Expected the raw image as an array of 8-bit pixels.")
    return encode_raw(as_uint8(raw)), encode_digit(d.astype(np.float32))


def check_not_blank(digit: np.ndarray) -> None:
    if digit.max() < MIN_CONTRAST:  # the bar canvas_to_mnist sets for a uniform image
        raise PersonalDigitsError(BLANK)


def encode_digit(digit: np.ndarray) -> bytes:
    """16-bit greyscale PNG: value * 65535, so the digit reads back within 1/65535."""
    u16 = np.round(np.clip(digit, 0, 1) * 65535).astype(np.uint16)
    return _png(Image.fromarray(u16))


def decode_digit(data: bytes) -> np.ndarray:
    """A stored 28x28 PNG as float32 in [0, 1]; 8-bit greyscale is accepted too (hand-made zips).
    Raises ValueError, whatever Pillow raised, for anything else."""
    try:
        check_decode_cost(data)
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            if im.format != "PNG" or im.size != (SIZE, SIZE):
                raise ValueError(f"not a {SIZE}x{SIZE} PNG")
            full = {"L": 255, "I;16": 65535, "I;16B": 65535, "I": 65535}.get(im.mode)
            if full is None:
                raise ValueError(f"not a greyscale PNG (mode {im.mode})")
            a = np.asarray(im)
    except ValueError:
        raise
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, struct.error, EOFError...) on bad data
        raise ValueError(f"not a readable PNG: {brief(e)}") from e
    if a.shape != (SIZE, SIZE) or a.min() < 0 or a.max() > full:
        raise ValueError("values out of range")
    return a.astype(np.float32) / np.float32(full)


def encode_raw(a: np.ndarray) -> bytes:
    """The raw image as an 8-bit PNG (L, LA, RGB or RGBA), averaged down to RAW_SIDE if it is larger.

    The 28x28 digit is made from the image before this, so shrinking it costs the model nothing; it keeps
    a sample within MAX_SAMPLE_BYTES whatever was drawn or uploaded.
    """
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] > 4:
        raise PersonalDigitsError(f"Expected an image with 1 to 4 channels, got {a.shape[2]}.")
    im = Image.fromarray(as_uint8(a))  # canvas_to_mnist's own rule for every dtype, so the stored image reads the same
    if max(im.size) > RAW_SIDE:
        scale = RAW_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BOX)
    return _png(im)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
