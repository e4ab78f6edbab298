"""The live classifier's server side (digitrec_app/ui/live.py): what a drawing sent with an action must be
before anything keeps it. A visitor's page can send anything there, so every path ends in the drawing or
in an ActError with a sentence, never in another exception. The page itself: tests/test_browser.py."""

from __future__ import annotations

import base64
import io
import random

import numpy as np
import pytest
from PIL import Image

from digitrec_app.ui.live import MAX_DRAWING_BYTES, ActError, read_drawing
from digitrec_core import canvas_to_mnist


def png_url(image: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def canvas() -> np.ndarray:
    a = np.zeros((280, 280, 4), np.uint8)
    a[..., 3] = 255
    a[40:240, 130:150, :3] = 255
    return a


def act(**changes) -> dict:
    a = canvas()
    return {"kind": "right", "drawing": "p-1", "png": png_url(Image.fromarray(a, "RGBA")),
            "digit": canvas_to_mnist(a).ravel().tolist(), "predicted": 1, "probability": 0.99, "model": "m",
            **changes}


def test_a_canvas_drawing_comes_back_as_its_pixels_and_the_28x28_the_user_saw():
    raw, digit = read_drawing(act())
    np.testing.assert_array_equal(raw, canvas())
    np.testing.assert_array_equal(digit, canvas_to_mnist(canvas()))  # float32 values survive JSON exactly
    assert digit.dtype == np.float32 and digit.shape == (28, 28)


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "TIFF", "GIF"])
def test_only_a_png_is_decoded_whatever_the_data_url_says(fmt):
    image = Image.fromarray(canvas()[..., :3])
    with pytest.raises(ActError, match="could not be read"):
        read_drawing(act(png=png_url(image, fmt)))


def test_a_png_of_too_many_pixels_is_refused_before_it_is_decoded():
    bomb = Image.new("1", (4000, 4000))  # 16 Mpx in a few KB
    with pytest.raises(ActError, match="pixels"):
        read_drawing(act(png=png_url(bomb)))


def test_a_drawing_over_the_byte_cap_is_refused_before_base64_is_decoded():
    huge = "data:image/png;base64," + "A" * (4 * MAX_DRAWING_BYTES // 3 + 8)
    with pytest.raises(ActError, match="did not arrive as a PNG"):
        read_drawing(act(png=huge))


@pytest.mark.parametrize("png", [None, 5, "", "data:image/jpeg;base64,AAAA", "data:image/png;base64,@@@@",
                                 "data:image/png;base64,AAAA"])
def test_a_missing_or_broken_png_says_so(png):
    with pytest.raises(ActError):
        read_drawing(act(png=png))


@pytest.mark.parametrize("digit", [None, [], [0.5] * 783, [0.5] * 785, [float("nan")] + [0] * 783,
                                   [1.5] + [0] * 783, [-0.1] + [0] * 783, [True] * 784, ["0"] * 784,
                                   [float("inf")] * 784, "0" * 784])
def test_a_28x28_that_is_not_784_values_from_0_to_1_is_refused(digit):
    with pytest.raises(ActError, match="did not arrive whole"):
        read_drawing(act(digit=digit))


def test_fuzzed_actions_end_in_a_drawing_or_an_act_error(seed=0):
    rng = random.Random(seed)
    good = act()
    junk = [None, True, -1, 10, 1e308, float("nan"), "", "x" * 100, [], {}, [1] * 784, good["png"][:200],
            good["png"][:-40] + "AAAA", good["png"].replace("i", "I", 3)]
    for _ in range(300):
        a = dict(good)
        for field in rng.sample(sorted(a), rng.randint(1, 3)):
            a[field] = rng.choice(junk)
        try:
            raw, digit = read_drawing(a)
        except ActError:
            continue
        assert raw.dtype == np.uint8 and digit.shape == (28, 28)
