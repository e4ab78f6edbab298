"""The live classifier's server side (digitrec_app/ui/live.py): what a drawing sent with an action must be
before anything keeps it. A visitor's page can send anything there, so every path ends in the drawing or
in an ActError with a sentence, never in another exception; a Right for a drawing the model reads as "Not a
digit" is refused whatever the page says. The page itself: tests/test_live_browser.py."""

from __future__ import annotations

import base64
import dataclasses
import io
import random

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitrec_app.ui.live import MAX_DRAWING_BYTES, ActError, not_a_digit, read_drawing
from digitrec_core import LoadedModel, ModelStore, PersonalDigits, canvas_to_mnist, load_model, predict_proba


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


# ---- Right for a drawing the model reads as "Not a digit" ---------------------------------------------------


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> LoadedModel:
    """The shipped model (an empty store's), through ONNX Runtime."""
    return load_model(store=ModelStore(tmp_path_factory.mktemp("empty_store")))


def at_threshold(loaded: LoadedModel, threshold: float | None) -> LoadedModel:
    return dataclasses.replace(loaded, info=dataclasses.replace(loaded.info, digit_threshold=threshold))


def drawn_one() -> np.ndarray:
    return canvas_to_mnist(canvas())


def test_the_server_flags_a_drawing_just_below_the_models_threshold_as_the_page_does(shipped):
    """The page's rule (classifier.js's notADigit): flagged when the top probability is below the threshold."""
    digit = drawn_one()
    score = float(predict_proba(shipped.model, digit).max())
    assert not not_a_digit(at_threshold(shipped, score), digit)  # at the threshold: a digit
    assert not_a_digit(at_threshold(shipped, float(np.nextafter(score, 1))), digit)
    assert not not_a_digit(at_threshold(shipped, None), digit)
    unrunnable = dataclasses.replace(at_threshold(shipped, None), model=None)  # no threshold: nothing to run
    assert not not_a_digit(unrunnable, digit)


def _act_script(loaded, act):
    import streamlit as st

    from digitrec_app.ui import live

    st.session_state["live"] = {"act": act}  # what the page's trigger leaves there
    live._act(loaded)


def run_act(loaded: LoadedModel, **changes) -> dict:
    """`live._act` in a Streamlit script run on an action with `changes`; what became of it (the bar's state)."""
    at = AppTest.from_function(_act_script, args=(loaded, act(model=loaded.info.name, **changes)),
                               default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    return at.session_state["live_correction"]


def test_right_for_a_drawing_the_model_flags_is_refused_and_its_a_is_kept(shipped, store_home):
    digits = PersonalDigits(store_home)
    score = float(predict_proba(shipped.model, drawn_one()).max())
    flags = at_threshold(shipped, float(np.nextafter(score, 1)))  # this drawing, just below its threshold

    refused = run_act(flags, kind="right")
    assert refused == {"sample": "p-1", "error": "Not saved: the model reads this drawing as not a digit, so only "
                                                 "It's a … can keep it."}
    assert not digits.samples()

    kept = run_act(flags, kind="label", label=7)
    sample, = digits.samples()
    assert kept == {"sample": "p-1", "id": sample.id, "label": 7}
    assert (sample.label, sample.predicted) == (7, 1)

    right = run_act(at_threshold(shipped, score), kind="right", drawing="p-2")  # at its threshold: a digit
    assert right["label"] == 1 and "error" not in right
    assert sorted(s.label for s in digits.samples()) == [1, 7]
