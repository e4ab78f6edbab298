"""The explanation panel's pictures (digitrec_app/ui/explanation_images.py): shapes, colours, order."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec_app.ui import explanation_images as images


def reddish(rgb) -> bool:
    r, g, b = (int(v) for v in rgb)
    return r > b + 60 and r > g + 60


def bluish(rgb) -> bool:
    r, g, b = (int(v) for v in rgb)
    return b > r + 60 and b > g + 30


def test_heatmap_is_rgb_upscaled_and_signed_like_its_colours():
    a = np.zeros((28, 28), np.float32)
    a[5, 5], a[20, 20] = 0.8, -0.8
    digit = np.zeros((28, 28), np.float32)
    digit[10, 10] = 1.0  # ink where the attribution is 0
    h = images.heatmap(a, digit, size=224, frame=1)
    assert h.shape == (226, 226, 3) and h.dtype == np.uint8
    assert (h[0] == images.FRAME).all() and (h[:, -1] == images.FRAME).all()  # the paper's edge
    h = h[1:-1, 1:-1]
    assert reddish(h[5 * 8, 5 * 8]) and reddish(h[5 * 8 + 7, 5 * 8 + 7])  # a crisp 8x8 block
    assert bluish(h[20 * 8, 20 * 8])
    paper, ink = h[0, 0], h[10 * 8, 10 * 8]
    assert len(set(paper.tolist())) == 1 and len(set(ink.tolist())) == 1  # zero evidence: grey, not tinted
    assert paper[0] == 255 and 150 < ink[0] < 230  # the digit faint underneath


def test_heatmap_scale_is_symmetric():
    a = np.zeros((28, 28), np.float32)
    a[0, 0], a[0, 1], a[0, 2] = 1.0, -0.5, -1.0
    h = images.heatmap(a, np.zeros((28, 28)), size=28, frame=0)
    assert h.shape == (28, 28, 3)
    np.testing.assert_array_equal(h[0, 0], images.FOR)  # the largest magnitude is full colour either way
    np.testing.assert_array_equal(h[0, 2], images.AGAINST)
    half = h[0, 1].astype(int)
    assert 0 < (255 - half[0]) < (255 - int(images.AGAINST[0]))  # -0.5: half way to blue, not saturated


def test_an_all_zero_map_is_all_neutral():
    h = images.heatmap(np.zeros((28, 28)), np.zeros((28, 28)), size=56, frame=0)
    assert h.shape == (56, 56, 3) and (h == 255).all()


def test_feature_maps_strongest_channels_first_each_tile_on_its_own_scale():
    rng = np.random.default_rng(0)
    a = rng.random((14, 14, 20)).astype(np.float32) * 0.1
    a[..., 7] += 5.0  # the strongest by far
    a[..., 3] += 2.0
    a[..., 11] += 1.0
    mosaic, order = images.feature_maps(a, top=6, columns=3, tile=56)
    assert order.tolist()[:3] == [7, 3, 11] and len(order) == 6 and len(set(order.tolist())) == 6
    means = a.mean(axis=(0, 1))
    assert np.all(np.diff(means[order]) <= 0)
    assert mosaic.dtype == np.uint8 and mosaic.shape == (2 * 56 + images.GAP, 3 * 56 + 2 * images.GAP, 3)
    assert (mosaic[56:56 + images.GAP] == images.GAP_COLOUR).all()  # the gap between rows
    # Each tile normalised: the faint channels reach the top of the ramp like the strongest.
    tiles = [mosaic[:56, :56], mosaic[:56, 56 + images.GAP:2 * 56 + images.GAP]]
    for tile in tiles:
        colours = {tuple(c) for c in tile.reshape(-1, 3).tolist()}
        assert tuple(images.ramp(np.array([1.0]))[0].tolist()) in colours  # its own maximum: the brightest
        assert tuple(images.ramp(np.array([0.0]))[0].tolist()) in colours  # its own minimum: the darkest


def test_feature_maps_of_fewer_channels_than_asked():
    mosaic, order = images.feature_maps(np.ones((7, 7, 4), np.float32), top=12, columns=12, tile=56)
    assert len(order) == 4 and mosaic.shape == (56, 4 * 56 + 3 * images.GAP, 3)


def test_filters_mosaic_shape_and_sign():
    f = np.zeros((3, 3, 5), np.float32)
    f[0, 0, 0], f[1, 1, 0] = 1.0, -1.0
    m = images.filters_mosaic(f, columns=4, tile=27, gap=5)
    assert m.dtype == np.uint8 and m.shape == (2 * 27 + 5, 4 * 27 + 3 * 5, 3)
    assert reddish(m[0, 0]) and bluish(m[13, 13])
    assert (m[0:27, 27 + 5:2 * 27 + 5] == 255).all()  # an all-zero filter: white...
    assert (m[:, 27:27 + 5] == images.FILTER_GAP_COLOUR).all()  # ...told from the next by grey gaps


def test_top_units_strongest_first():
    a = np.array([0.0, 3.0, 1.0, 2.0, 0.5], np.float32)
    units, values = images.top_units(a, top=3)
    assert units.tolist() == [1, 3, 2] and values.tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("value", [0.0, 0.25, 1.0])
def test_ramp_is_monotonic_in_brightness(value):
    lo, hi = images.ramp(np.array([value])), images.ramp(np.array([min(1.0, value + 0.25)]))
    assert lo.dtype == np.uint8 and lo.shape == (1, 3)
    assert hi.astype(int).sum() >= lo.astype(int).sum()
