"""Drawings as people make them: on the dashboard's canvas (white strokes on opaque black RGBA, 280x280)
and with a pen on paper (dark on light, saved as a photo to upload)."""

import numpy as np
from PIL import Image, ImageDraw


def canvas(seed: int = 0, size: int = 280, pen: int = 15, rgba: bool = True) -> np.ndarray:
    """A random 4-point pen stroke, white on black, the way streamlit-drawable-canvas returns a drawing."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA" if rgba else "L", (size, size), (0, 0, 0, 255) if rgba else 0)
    pen_down = ImageDraw.Draw(img)
    points = [tuple(p) for p in (rng.uniform(0.15, 0.85, (4, 2)) * size).tolist()]
    pen_down.line(points, fill=(255, 255, 255, 255) if rgba else 255, width=pen, joint="curve")
    return np.asarray(img)


def stroke_one(size: int = 280) -> np.ndarray:
    """A '1' as drawn on the canvas: one white vertical stroke, 20 px wide, on opaque black."""
    a = np.zeros((size, size, 4), np.uint8)
    a[..., 3] = 255
    a[40:240, size // 2 - 10 : size // 2 + 10, :3] = 255
    return a


def drawn(label: int, k: int = 0) -> np.ndarray:
    """A 0, 1 or 7 as pen strokes on a 280x280 RGBA canvas (white on opaque black), shifted by `k`."""
    img = Image.new("L", (280, 280), 0)
    pen = ImageDraw.Draw(img)
    dx, w = (k % 5) * 8 - 16, 20
    if label == 0:
        pen.ellipse((85 + dx, 40, 195 + dx, 240), outline=255, width=w)
    elif label == 1:
        pen.line((140 + dx, 40, 140 + dx, 240), fill=255, width=w)
    elif label == 7:
        pen.line((70 + dx, 50, 210 + dx, 50), fill=255, width=w)
        pen.line((210 + dx, 50, 120 + dx, 240), fill=255, width=w)
    else:
        raise ValueError(label)
    a = np.zeros((280, 280, 4), np.uint8)
    a[..., :3] = np.asarray(img)[..., None]
    a[..., 3] = 255
    return a


def draw_one(path, size=280):
    """A '1' drawn with a pen on paper, saved to `path` (its suffix picks the format) as a photo of it would be."""
    img = Image.new("RGB", (size, size), "white")  # a pen drawing on paper: dark ink on light
    ImageDraw.Draw(img).line([(150, 40), (140, 240)], fill="black", width=18)
    img.save(path)
