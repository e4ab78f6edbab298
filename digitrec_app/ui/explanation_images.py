"""The pictures of the explanation panel, as RGB uint8 arrays (numpy only, no Streamlit).

Images, not plotly figures: the panel redraws at every stroke and a PNG costs a fraction of a figure.
"""

from __future__ import annotations

import numpy as np

# Diverging colours for signed values: evidence for (red), neutral (white), against (blue).
FOR = np.array([214, 39, 40], np.float32)
AGAINST = np.array([31, 119, 180], np.float32)
NEUTRAL = np.array([255, 255, 255], np.float32)
INK_SHADE = 0.3  # how dark the faint grey digit under a heatmap is at full ink (0 = invisible)
# Anchors of viridis, interpolated: a perceptual ramp for activations (dark = silent, yellow = strong).
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32)
GAP = 2  # px between the tiles of a mosaic
GAP_COLOUR = 255  # white, like the page
FRAME = 200  # light grey: the edge of a heatmap's white paper on the white page
FILTER_GAP_COLOUR = 120  # mid grey: between filters, whose near-zero weights are white


def upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor: each pixel stays a crisp square."""
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def scale_of(values: np.ndarray) -> float:
    """The symmetric colour scale of a signed map: its largest magnitude (1 for an all-zero map)."""
    m = float(np.abs(values).max()) if values.size else 0.0
    return m if m > 0 else 1.0


def diverging(values: np.ndarray, scale: float | None = None, base: np.ndarray | None = None) -> np.ndarray:
    """Signed values as colours, symmetric around 0: +scale is full red, -scale full blue, 0 is `base`
    (an (..., 3) RGB background, white by default)."""
    v = np.asarray(values, np.float32)
    t = np.clip(v / (scale or scale_of(v)), -1, 1)[..., None]
    base = np.broadcast_to(NEUTRAL, v.shape + (3,)) if base is None else np.asarray(base, np.float32)
    colour = np.where(t > 0, FOR, AGAINST)
    return (base * (1 - np.abs(t)) + colour * np.abs(t)).round().astype(np.uint8)


def heatmap(attribution: np.ndarray, digit: np.ndarray, size: int = 224, frame: int = 1) -> np.ndarray:
    """A (28, 28) attribution over its digit: red = evidence for, blue = against, on a symmetric scale,
    with the digit in faint grey underneath, in a light grey `frame` px wide;
    (size + 2 * frame, size + 2 * frame, 3) uint8, size a multiple of 28."""
    a = np.asarray(attribution, np.float32)
    ink = np.clip(np.asarray(digit, np.float32), 0, 1)[..., None]
    base = NEUTRAL * (1 - INK_SHADE * ink)  # white paper, light grey ink
    out = upscale(diverging(a, base=base), max(1, size // a.shape[0]))
    return np.pad(out, ((frame, frame), (frame, frame), (0, 0)), constant_values=FRAME)


def ramp(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as viridis-like colours, (..., 3) uint8."""
    t = np.clip(np.asarray(values, np.float32), 0, 1) * (len(_RAMP) - 1)
    lo = np.minimum(t.astype(int), len(_RAMP) - 2)
    frac = (t - lo)[..., None]
    return (_RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac).round().astype(np.uint8)


def strongest_channels(activation: np.ndarray, top: int) -> np.ndarray:
    """The indices of an (H, W, C) activation's `top` channels, strongest (largest mean) first."""
    means = np.asarray(activation, np.float32).reshape(-1, activation.shape[-1]).mean(axis=0)
    return np.argsort(-means, kind="stable")[:top]


def normalise(tile: np.ndarray) -> np.ndarray:
    """One tile stretched to [0, 1] on its own range (a constant tile is all 0)."""
    lo, hi = float(tile.min()), float(tile.max())
    return (tile - lo) / (hi - lo) if hi > lo else np.zeros_like(tile, np.float32)


def mosaic(tiles: list[np.ndarray], columns: int, gap: int = GAP, background: int = GAP_COLOUR) -> np.ndarray:
    """Equal-sized RGB tiles in rows of `columns`, `gap` px of `background` grey between them (none around)."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    out = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), background, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return out


def feature_maps(activation: np.ndarray, top: int = 12, columns: int = 12,
                 tile: int = 56) -> tuple[np.ndarray, np.ndarray]:
    """The `top` strongest channels of an (H, W, C) activation as small multiples, strongest first, each
    tile normalised on its own and upscaled to about `tile` px; (mosaic (.., .., 3) uint8, channel indices)."""
    a = np.asarray(activation, np.float32)
    order = strongest_channels(a, top)
    factor = max(1, tile // a.shape[0])
    tiles = [upscale(ramp(normalise(a[..., c])), factor) for c in order]
    return mosaic(tiles, min(columns, len(tiles))), order


def filters_mosaic(filters: np.ndarray, columns: int = 16, tile: int = 36, gap: int = 3) -> np.ndarray:
    """First-layer filters (kh, kw, C) as a mosaic of diverging tiles (red = weights that respond to ink,
    blue = to its absence), each on its own symmetric scale; the gaps are grey, not white, so that a filter's
    near-zero (white) weights do not run into the next one; (.., .., 3) uint8."""
    f = np.asarray(filters, np.float32)
    factor = max(1, tile // f.shape[0])
    tiles = [upscale(diverging(f[..., c]), factor) for c in range(f.shape[-1])]
    return mosaic(tiles, min(columns, len(tiles)), gap, background=FILTER_GAP_COLOUR)


def top_units(activation: np.ndarray, top: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A dense layer's `top` most active units, strongest first: (indices, activations)."""
    a = np.asarray(activation, np.float32).ravel()
    order = np.argsort(-a, kind="stable")[:top]
    return order, a[order]
