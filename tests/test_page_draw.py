"""The dashboard's Draw page, driven through Streamlit's AppTest (no browser): the canvas and the uploads, what
the model reads, the corrections stored in My digits, "Not a digit", and "Why this answer?". The AppTest tooling and
its notes are in tests/support/pages.py.

Note for whoever edits these: the drawable canvas does not render in AppTest, but its component state can be set
through `session_state[<canvas key>]`, which is what a stroke in the browser sends (`draw` in tests/support/pages.py).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitrec_core import ModelStore
from digitrec_core.store import SHIPPED_DIR
from tests.support.drawings import drawn, stroke_one
from tests.support.pages import (
    SHIPPED,
    canvas_state,
    draw,
    has_key,
    live_data,
    markdowns,
    open_app,
    open_draw,
    personal_samples,
    run,
    store_shipped,
)
from tests.support.why import assert_full_panel, open_why, panel_images, why

pytest_plugins = ["tests.support.explain_calls"]  # the `explain_calls` fixture


def canvas_element(at: AppTest) -> tuple[str, dict]:
    """The canvas's element id (a new one means a new, remounted canvas) and the initial drawing it is given."""
    (canvas,) = [c for c in at.main.get("bidi_component") if c.key == "canvas"]
    return canvas.proto.id, json.loads(canvas.proto.json)["initialDrawing"]


def black_canvas() -> np.ndarray:
    a = np.zeros((280, 280, 4), np.uint8)
    a[..., 3] = 255
    return a


def showing_nothing(at: AppTest) -> bool:
    return [i.value for i in at.info] == ["Draw a digit"] and not any("Prediction:" in t for t in markdowns(at))


def test_draw_classifies_the_canvas_and_clear_empties_it(app_env, synthetic_dir):
    at = open_draw()
    assert showing_nothing(at)
    assert SHIPPED["name"] in at.caption[0].value and at.caption[1].value.startswith("Classified on the server")
    mounted = canvas_element(at)

    draw(at, stroke_one())
    assert "## Prediction: 1" in markdowns(at) and not at.info
    assert re.fullmatch(r"probability \d+\.\d%", at.caption[2].value)
    draw(at, black_canvas())  # strokes, but no ink (drawn in black)
    assert showing_nothing(at)

    draw(at, stroke_one())
    assert "## Prediction: 1" in markdowns(at)
    run(at.button(key="canvas_clear").click())
    # Until the canvas sends its empty picture, the one it sent last is the drawing just cleared: not shown.
    assert showing_nothing(at)
    run(at)  # nor on a rerun in between (the pen slider, another tab's model switch)
    assert showing_nothing(at)
    # The same canvas throughout: neither remounted (a new id) nor reloaded (a new initial drawing), either of
    # which loses a stroke begun right after Clear; the browser's own reset empties it (see ui/canvas.py).
    assert canvas_element(at) == mounted
    draw(at, black_canvas(), n_objects=0)  # what the canvas sends after its reset
    assert showing_nothing(at)
    draw(at, stroke_one())  # the same picture as before Clear is a new drawing now
    assert "## Prediction: 1" in markdowns(at)


def test_draw_a_stroke_right_after_clear_is_classified(app_env, synthetic_dir):
    """The canvas's next picture may come before its empty one (a stroke at once after Clear): it is shown."""
    at = open_draw()
    draw(at, stroke_one())
    run(at.button(key="canvas_clear").click())
    assert showing_nothing(at)
    draw(at, drawn(7))
    assert "## Prediction: 7" in markdowns(at)


def test_draw_in_the_browser_the_server_gives_the_model_once_asked_and_never_reads_a_stroke(
        app_env, synthetic_dir, monkeypatch):
    from digitrec_app.ui import live
    from digitrec_core.serving.runtime import OnnxModel

    shipped = OnnxModel.load(SHIPPED_DIR)
    at = open_app("draw")
    data = live_data(at)
    # A browser that keeps no copy (no cookie says so) gets the model's bytes with the page, unasked:
    assert data["model"] == {"name": SHIPPED["name"], "sha": shipped.sha256, "bytes": data["model"]["bytes"]}
    assert base64.b64decode(data["model"]["bytes"]) == shipped.onnx_bytes  # the file the server runs
    assert data["canvas"] == "canvas" and data["saved"] is None and data["why"] is None
    run(at)
    assert live_data(at)["model"]["bytes"] is None  # once a session
    monkeypatch.setattr(live, "RESEND_SECONDS", 0)
    (canvas,) = [c for c in at.main.get("bidi_component") if c.key == "canvas"]
    assert json.loads(canvas.proto.json)["realtimeUpdateStreamlit"] is False  # a stroke sends nothing
    assert not any("Classified on the server" in c.value for c in at.caption)

    at.session_state["live"] = {"need": {"sha": shipped.sha256, "n": 1}}  # the page has no copy of the model
    run(at)
    assert base64.b64decode(live_data(at)["model"]["bytes"]) == shipped.onnx_bytes  # the file the server runs
    run(at)
    assert live_data(at)["model"]["bytes"] is None  # once per asking: the reruns after it send nothing more
    at.session_state["live"] = {"need": {"sha": "another model's", "n": 2}}
    run(at)
    assert live_data(at)["model"]["bytes"] is None
    monkeypatch.setattr(live, "RESEND_SECONDS", 5)
    at.session_state["live"] = {"need": {"sha": shipped.sha256, "n": 3}}  # again at once: a page asking in a loop
    run(at)
    assert live_data(at)["model"]["bytes"] is None  # waits RESEND_SECONDS (the page asks again after 8 s)


def test_draw_falls_back_to_the_server_for_the_model_the_browser_cannot_run(app_env, synthetic_dir):
    from digitrec_core.serving.runtime import OnnxModel

    at = open_app("draw")
    at.session_state["live_fallback"] = {"sha": "not this model", "reason": "x"}
    run(at)
    assert live_data(at)["model"]["name"] == SHIPPED["name"]  # another model's failure changes nothing here
    at.session_state["live_fallback"] = {"sha": OnnxModel.load(SHIPPED_DIR).sha256, "reason": "it has an odd layer"}
    run(at)
    assert not [c for c in at.main.get("bidi_component") if c.key == "live"]
    assert "Classified on the server: this browser cannot run the model (it has an odd layer)." in [
        c.value for c in at.caption]
    draw(at, stroke_one())
    assert "## Prediction: 1" in markdowns(at)


@pytest.mark.parametrize("fmt, size", [("BMP", (280, 280)), ("PNG", (4000, 4000))])
def test_draw_on_the_server_a_canvas_drawing_goes_through_the_uploads_gate(app_env, synthetic_dir, fmt, size):
    """A visitor can put anything in the canvas's message: a BMP, or a PNG of 16 Mpx in a few KB."""
    at = open_draw()
    buf = io.BytesIO()
    Image.new("1" if fmt == "PNG" else "RGB", size, 1).save(buf, fmt)
    state = canvas_state(stroke_one())
    state["drawing"]["data"] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    at.session_state["canvas"] = state
    run(at)
    (error,) = [e.value for e in at.error]
    assert error.startswith("This drawing could not be read:") and not any("Prediction" in t for t in markdowns(at))
    draw(at, stroke_one())  # and the next drawing is read as ever
    assert "## Prediction: 1" in markdowns(at) and not at.error


def correction_message(at: AppTest) -> str | None:
    saved = [t for t in markdowns(at) if "Saved to My digits" in t]
    assert len(saved) <= 1, saved
    return saved[0] if saved else None


def test_draw_right_stores_the_drawing_once_and_undo_removes_it(app_env, synthetic_dir):
    from digitrec_core import PersonalDigits, canvas_to_mnist

    at = open_draw()
    assert not has_key(at.button, "draw_right") and not at.button_group  # nothing drawn: nothing to correct
    draw(at, black_canvas())
    assert not has_key(at.button, "draw_right") and not at.button_group  # no ink: nothing to correct either
    draw(at, stroke_one())
    right = at.button(key="draw_right")
    (choice,) = at.button_group
    assert right.label == "Right" and choice.options == [str(d) for d in range(10)]
    run(right.click())

    (sample,) = personal_samples().values()
    assert sample.label == sample.predicted == 1 and sample.model == SHIPPED["name"]
    assert at.caption[2].value == f"probability {sample.probability:.1%}"  # what the page showed
    personal = PersonalDigits(ModelStore().root)
    np.testing.assert_array_equal(personal.raw(sample.id), stroke_one())  # the canvas's RGBA, as it was
    np.testing.assert_allclose(personal.digit(sample.id), canvas_to_mnist(stroke_one()), atol=1 / 65535)
    assert correction_message(at) == ":green[:material/check_circle:] Saved to My digits as a **1**"
    assert not has_key(at.button, "draw_right") and not at.button_group and has_key(at.button, "draw_undo")

    run(at)  # reruns store nothing more (two clicks reaching one run: the test below)
    assert list(personal_samples()) == [sample.id] and correction_message(at) is not None

    run(at.button(key="draw_undo").click())
    assert personal_samples() == {} and correction_message(at) is None
    assert has_key(at.button, "draw_right") and at.button_group[0].value is None  # the buttons again, nothing chosen
    run(at.button(key="draw_right").click())  # and it can be stored again
    assert [s.label for s in personal_samples().values()] == [1]


def test_draw_its_a_stores_the_chosen_label_and_a_new_stroke_is_a_new_sample(app_env, synthetic_dir):
    at = open_draw()
    draw(at, stroke_one())
    run(at.button_group[0].set_value(3))  # "It's a 3"
    (first,) = personal_samples().values()
    assert (first.label, first.predicted) == (3, 1)
    assert correction_message(at).endswith("Saved to My digits as a **3**")

    draw(at, drawn(7))  # a new stroke: a new drawing, the buttons again
    assert "## Prediction: 7" in markdowns(at) and correction_message(at) is None
    assert at.button_group[0].value is None  # the 3 chosen for the last drawing is not carried over
    run(at.button(key="draw_right").click())
    assert sorted((s.label, s.predicted) for s in personal_samples().values()) == [(3, 1), (7, 7)]

    run(at.button(key="canvas_clear").click())  # the confirmation goes with the drawing
    assert showing_nothing(at) and correction_message(at) is None


def test_draw_two_clicks_in_one_run_store_one_sample(app_env, synthetic_dir):
    """Both "Right" and a digit clicked before the page could update (both reach the same run)."""
    at = open_draw()
    draw(at, stroke_one())
    at.button(key="draw_right").click()
    at.button_group[0].set_value(4)
    run(at)
    (sample,) = personal_samples().values()
    assert correction_message(at).endswith(f"Saved to My digits as a **{sample.label}**")


def test_draw_a_failed_save_says_why_and_keeps_the_buttons(app_env, synthetic_dir):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    at = open_draw()
    draw(at, stroke_one())
    with pytest.MonkeyPatch.context() as mp:  # its own patch: undoing it leaves DIGITREC_HOME alone
        mp.setattr("digitrec_core.personal.PersonalDigits.add", full)
        run(at.button(key="draw_right").click())
    assert [e.value for e in at.error] == ["Not saved: [Errno 28] No space left on device"]
    assert has_key(at.button, "draw_right") and correction_message(at) is None
    run(at.button(key="draw_right").click())  # once the disk has room again
    assert len(personal_samples()) == 1 and not at.error


def test_draw_reads_a_drawing_once_a_run_and_a_correction_stores_that_reading(app_env, synthetic_dir, monkeypatch):
    """One reading a run: the model loaded once, the drawing preprocessed once, and Right stores the 28x28 the
    answer was made from (here a fainter one than the drawing gives: not made again from the drawing)."""
    from digitrec_app.ui import reading, resources
    from digitrec_core import PersonalDigits, canvas_to_mnist

    calls = {"model": 0, "preprocess": 0}
    load = resources.active_model

    def active_model():
        calls["model"] += 1
        return load()

    def preprocess(image):
        calls["preprocess"] += 1
        digit = canvas_to_mnist(image)
        return None if digit is None else digit * 0.9

    monkeypatch.setattr(resources, "active_model", active_model)
    monkeypatch.setattr(reading, "canvas_to_mnist", preprocess)
    at = open_draw()
    calls.update(model=0, preprocess=0)
    draw(at, stroke_one())
    assert calls == {"model": 1, "preprocess": 1}
    run(at.button(key="draw_right").click())
    assert calls == {"model": 2, "preprocess": 2}  # the click's run reads the drawing once again, as any run
    (sample,) = personal_samples().values()
    digit = PersonalDigits(ModelStore().root).digit(sample.id)
    np.testing.assert_allclose(digit, canvas_to_mnist(stroke_one()) * 0.9, atol=1 / 65535)


def upload_one(at: AppTest, name: str = "one.png", drawing: np.ndarray | None = None) -> np.ndarray:
    """Upload a photo of a 1, or of `drawing` (a canvas's RGBA), in dark ink on white paper; returns the image
    as the page decoded it."""
    one = Image.fromarray(255 - (stroke_one(200) if drawing is None else drawing)[..., 0]).convert("RGB")
    buf = io.BytesIO()
    one.save(buf, "PNG")
    run(at.file_uploader(key="upload").upload(name, buf.getvalue(), "image/png"))
    return np.asarray(one)


def test_draw_upload_classifies_a_photo_and_rejects_a_broken_file(app_env, synthetic_dir):
    at = open_draw()
    upload_one(at)
    assert markdowns(at).count("## Prediction: 1") == 1
    run(at.file_uploader(key="upload").set_value(("broken.png", b"not a png at all", "image/png")))
    assert len(at.error) == 1 and at.error[0].value.startswith("broken.png: ")
    assert not has_key(at.button, "upload_right")  # nothing to correct


def test_draw_upload_gets_the_correction_buttons_too(app_env, synthetic_dir):
    from digitrec_core import PersonalDigits

    at = open_draw()
    photo = upload_one(at)
    assert not has_key(at.button, "draw_right") and has_key(at.button, "upload_right")  # the canvas is empty
    run(at.button(key="upload_right").click())
    (sample,) = personal_samples().values()
    assert (sample.label, sample.predicted, sample.model) == (1, 1, SHIPPED["name"])
    np.testing.assert_array_equal(PersonalDigits(ModelStore().root).raw(sample.id), photo)  # the photo as uploaded
    run(at)
    assert len(personal_samples()) == 1 and correction_message(at).endswith("as a **1**")
    run(at.button(key="upload_undo").click())
    assert personal_samples() == {}
    upload_one(at, "again.png")  # another upload is another image: the buttons, and a second sample
    (choice,) = [c for c in at.button_group if c.key.startswith("upload_")]
    run(choice.set_value(8))
    assert [s.label for s in personal_samples().values()] == [8]


# ---- "Not a digit" (issue 20) ------------------------------------------------------------------------


def scribble() -> np.ndarray:
    """One stroke through six points on the canvas: not a digit. Today's shipped model reads it as a 0 at 42%,
    under UNSURE, so a page that named a runner-up for it would show that warning."""
    from PIL import ImageDraw

    img = Image.new("L", (280, 280), 0)
    points = [(220, 162), (173, 211), (154, 189), (200, 90), (59, 104), (101, 207)]
    ImageDraw.Draw(img).line(points, fill=255, width=18, joint="curve")
    a = np.zeros((280, 280, 4), np.uint8)
    a[..., :3] = np.asarray(img)[..., None]
    a[..., 3] = 255
    return a


def show(at: AppTest, where: str, drawing: np.ndarray) -> np.ndarray:
    """`drawing` drawn on the canvas, or uploaded as a photo of it; returns the image as the page got it."""
    if where == "draw":
        draw(at, drawing)
        return drawing
    return upload_one(at, "scribble.png", drawing)


def recognized(name: str, image: np.ndarray):
    """What the stored model `name` makes of `image` (a canvas, a photo), through the core."""
    from digitrec_core import canvas_to_mnist, recognize

    return recognize(ModelStore().load(name), canvas_to_mnist(image))


def its_a(at: AppTest, where: str):
    (choice,) = [c for c in at.button_group if c.key.startswith(f"{where}_")]
    return choice


@pytest.mark.parametrize("where", ["draw", "upload"])
def test_draw_a_drawing_the_model_flags_reads_not_a_digit_and_offers_its_a_only(app_env, synthetic_dir, where):
    from digitrec_app.ui.components import UNSURE

    strict = store_shipped(1.0)
    at = open_draw()
    image = show(at, where, scribble())
    seen = recognized(strict, image)
    assert seen.flagged[0], "this test needs a drawing its model flags"
    likely, score = int(seen.likely[0]), float(seen.digit_score[0])
    article = "an" if likely == 8 else "a"
    assert "## Not a digit" in markdowns(at) and not any("Prediction" in t for t in markdowns(at))
    assert f"Looks most like {article} {likely} ({score:.0%})" in [c.value for c in at.caption]
    assert not at.warning  # the unsure runner-up is for digits
    assert not has_key(at.button, f"{where}_right")
    choice = its_a(at, where)
    assert choice.label == "It's a …" and choice.options == [str(d) for d in range(10)]

    store_shipped(None)  # the same model without a threshold: the same drawing reads as a digit, as before
    run(at)
    assert f"## Prediction: {likely}" in markdowns(at) and "## Not a digit" not in markdowns(at)
    assert f"probability {score:.1%}" in [c.value for c in at.caption]
    assert not any(c.value.startswith("Looks most like") for c in at.caption)
    assert bool(at.warning) == (score < UNSURE)
    assert at.button(key=f"{where}_right").label == "Right" and its_a(at, where).label == "or it's a …"


def test_draw_its_a_on_a_flagged_drawing_stores_it_with_the_users_label(app_env, synthetic_dir):
    from digitrec_core import PersonalDigits

    strict = store_shipped(1.0)
    at = open_draw()
    draw(at, scribble())
    seen = recognized(strict, scribble())
    assert seen.flagged[0], "this test needs a drawing its model flags"
    likely = int(seen.likely[0])
    label = (likely + 1) % 10  # the user knows it for another digit than the one it looks most like
    run(its_a(at, "draw").set_value(label))

    (sample,) = personal_samples().values()
    assert (sample.label, sample.predicted, sample.model) == (label, likely, strict)
    assert sample.probability == pytest.approx(float(seen.digit_score[0]))
    np.testing.assert_array_equal(PersonalDigits(ModelStore().root).raw(sample.id), scribble())
    assert correction_message(at).endswith(f"Saved to My digits as a **{label}**")
    run(at.button(key="draw_undo").click())  # undone: It's a … again, and still no Right
    assert personal_samples() == {} and not has_key(at.button, "draw_right") and its_a(at, "draw").value is None


# ---- uploads: formats, limits, odd images (issue 11, inputs) -----------------------------------------


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    return run(at.file_uploader(key="upload").upload(name, data, mime))


def png(a: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, fmt)
    return buf.getvalue()


def test_draw_uploader_takes_the_formats_and_the_size_read_image_and_the_server_take(app_env, synthetic_dir):
    import digitrec_app
    from digitrec_core.preprocess import FORMATS, MAX_UPLOAD_MB

    at = open_draw()
    uploader = at.file_uploader(key="upload").proto
    assert sorted(uploader.type) == [".jpeg", ".jpg", ".png"] and set(FORMATS) == {"PNG", "JPEG"}
    assert uploader.max_upload_size_mb == MAX_UPLOAD_MB == int(digitrec_app.SERVER_OPTIONS["server.maxUploadSize"])
    assert f"at most {MAX_UPLOAD_MB} MB" in uploader.label


@pytest.mark.parametrize("fmt, kind", [("GIF", "a GIF image"), ("BMP", "a BMP image"), ("TIFF", "a TIFF image")])
def test_draw_upload_of_another_format_named_png_is_refused_in_words(app_env, synthetic_dir, fmt, kind):
    at = open_draw()
    upload(at, "digit.png", png(255 - stroke_one(200)[..., 0], fmt))
    assert [e.value for e in at.error] == [f"digit.png: That file is {kind}: only PNG and JPEG images are accepted."]
    assert not any("Prediction:" in t for t in markdowns(at)) and not has_key(at.button, "upload_right")


def test_draw_upload_of_an_eps_named_png_is_refused_before_any_decoder(app_env, synthetic_dir):
    at = open_draw()
    upload(at, "digit.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    assert [e.value for e in at.error] == ["digit.png: That file is a PostScript file: only PNG and JPEG images "
                                           "are accepted."]


def test_draw_upload_over_the_limit_is_refused_in_words(app_env, synthetic_dir):
    from digitrec_core.preprocess import MAX_UPLOAD_MB, MB

    at = open_draw()  # AppTest skips the server, whose maxUploadSize refuses this first: the page says it too
    upload(at, "big.png", png(255 - stroke_one(200)[..., 0]) + bytes(MAX_UPLOAD_MB * MB + MB // 2))
    (error,) = at.error
    assert error.value == f"big.png: Image is too large (10.5 MB); the limit is {MAX_UPLOAD_MB} MB."


@pytest.mark.parametrize("shape", [(1, 300), (300, 1), (1, 1)])
def test_draw_upload_of_a_one_pixel_line_says_there_is_no_digit(app_env, synthetic_dir, shape):
    at = open_draw()
    upload(at, "line.png", png(np.full(shape, 255, np.uint8)))
    assert "No digit found in this image." in [i.value for i in at.info] and not at.error


def test_draw_upload_of_a_16_bit_png_holding_8_bit_values_is_read_as_the_digit(app_env, synthetic_dir):
    at = open_draw()
    one = (255 - stroke_one(200)[..., 0]).astype(np.uint16)  # dark ink on white, 0-255 in a 16-bit PNG
    upload(at, "one16.png", png(one))
    assert markdowns(at).count("## Prediction: 1") == 1 and not at.error


def test_draw_upload_shows_a_value_error_as_a_message_not_a_traceback(app_env, synthetic_dir, monkeypatch):
    def refuse(image):
        raise ValueError("Expected an image array (H, W) or (H, W, C) with 1 to 4 channels, got shape (2, 2, 9)")

    monkeypatch.setattr("digitrec_app.ui.reading.canvas_to_mnist", refuse)  # what the page's reading calls
    at = open_draw()
    upload_one(at)
    assert [e.value for e in at.error] == ["one.png: Expected an image array (H, W) or (H, W, C) with 1 to 4 "
                                           "channels, got shape (2, 2, 9)"]


# ---- Why this answer? (issue 12) ---------------------------------------------------------------------


def test_draw_why_this_answer_is_lazy_and_shows_the_evidence_layers_and_filters(app_env, synthetic_dir, explain_calls):
    from digitrec_core import canvas_to_mnist, explain, load_model

    at = open_draw()
    assert not [e for e in at.get("expander") if e.label == "Why this answer?"]  # nothing drawn: nothing to explain
    draw(at, drawn(7))
    box = why(at)
    assert box is not None and not box.get("image") and not box.get("selectbox")  # closed: nothing shown...
    assert explain_calls == []  # ...nor computed

    at = open_why(at, "draw_why")
    digit = canvas_to_mnist(drawn(7))
    assert len(explain_calls) == 1
    np.testing.assert_array_equal(explain_calls[0], digit)  # the very 28x28 the prediction was made from
    e = explain(load_model(SHIPPED["name"]).model, digit)
    assert any(m == f"## Prediction: {e.predicted}" for m in markdowns(at))
    box = why(at)
    assert_full_panel(box, e.predicted, e.runner_up)
    before = panel_images(box)

    other = (e.predicted + 3) % 10  # the class picker: another class's evidence, another picture
    (pick,) = [s for s in box.selectbox if s.label == "Evidence for"]
    assert pick.value == e.predicted
    at = run(pick.select(other))
    after = panel_images(why(at))
    assert f"evidence for {other}" in after and after[f"evidence for {other}"] != before[f"evidence for {e.predicted}"]
    contrast = f"why {e.predicted} and not {e.runner_up}"
    assert after[contrast] == before[contrast]  # the contrast did not move

    (versus,) = [s for s in why(at).selectbox if s.label == f"Why {e.predicted} and not"]
    assert versus.value == e.runner_up and e.predicted not in versus.options
    third = next(d for d in range(10) if d not in (e.predicted, e.runner_up))
    at = run(versus.select(third))
    again = panel_images(why(at))
    assert f"why {e.predicted} and not {third}" in again and contrast not in again
    assert again[f"why {e.predicted} and not {third}"] != before[contrast]

    n = len(explain_calls)
    at = open_why(at, "draw_why", False)  # closed again: nothing more computed
    assert not why(at).get("image") and len(explain_calls) == n


def test_draw_why_this_answer_for_an_upload(app_env, synthetic_dir, explain_calls):
    at = open_draw()
    upload_one(at)
    at = open_why(at, "upload_why")
    box = why(at)
    assert len(explain_calls) == 1 and {"relu1 feature maps", "conv1 filters"} <= set(panel_images(box))


def test_why_this_answer_of_a_model_with_an_old_onnx_file_says_so(app_env, synthetic_dir, monkeypatch):
    """An ONNX file written before the layer taps has no activations nor filters: the panel says why, in one
    sentence, and still shows where the evidence is."""
    import digitrec_app.ui.explanation as panel

    real = panel.explain
    monkeypatch.setattr(panel, "explain", lambda *a, **k: dataclasses.replace(real(*a, **k), activations={},
                                                                               filters=None, filters_layer=None))
    at = open_draw()
    draw(at, drawn(7))
    at = open_why(at, "draw_why")
    box = why(at)
    assert [i.value for i in box.info] == [panel.OLD_ONNX]
    assert "older DigitRec" in panel.OLD_ONNX and "model.onnx" in panel.OLD_ONNX and "TensorFlow" in panel.OLD_ONNX
    imgs = panel_images(box)
    assert len(imgs) == 2 and all(a.startswith(("evidence for", "why")) for a in imgs)  # the heatmaps only
    assert not box.get("plotly_chart")
