"""The dashboard's Test browser, driven through Streamlit's AppTest (no browser): each test digit with what it
is and what the model reads, the gallery of mistakes and its dialog, "Not a digit", and "Why this answer?". The AppTest
tooling and its notes are in tests/support/pages.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitrec_core import ModelStore
from digitrec_core.data import MNIST_DIR_ENV
from tests.support.pages import (
    SHIPPED,
    TIMEOUT,
    has_key,
    markdowns,
    midway_threshold,
    open_app,
    run,
    store_shipped,
)
from tests.support.why import assert_full_panel, open_why, panel_images, why

pytest_plugins = ["tests.support.explain_calls"]  # the `explain_calls` fixture


def shown_digit(at: AppTest) -> tuple[int, str] | None:
    """What the top of the Test browser shows: (expected, the verdict's markdown), or None for no digit."""
    md = [t for t in markdowns(at) if "Expected:" in t or "Predicted:" in t or "Not a digit" in t]
    if not md:
        return None
    assert len(md) == 2, md
    return int(re.fullmatch(r"### Expected: (\d)", md[0]).group(1)), md[1]


def verdict_of(seen, i: int, expected: int) -> str:
    """The verdict's markdown for test digit #i as `seen` (the model's Recognition of the test set) reads it:
    "Not a digit" below the model's threshold (the shipped model may have one), red against any digit."""
    d = int(seen.digits[i])
    return f"### :{'green' if d == expected else 'red'}[{'Not a digit' if seen.flagged[i] else f'Predicted: {d}'}]"


@pytest.mark.mnist
def test_test_browser_shows_expected_and_predicted(app_env, mnist_dir, real_mnist, monkeypatch):
    from digitrec_core import load_model, recognize

    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    seen = recognize(load_model(SHIPPED["name"]), real_mnist.x_test)
    predicted = seen.likely  # what "wrong" and "Next misclassified" count, flagged or not

    at = open_app("browse")
    index = at.number_input(key="test_index")
    assert index.label == "Choose a test index (0–9999)" and index.value == 0
    wrong = np.flatnonzero(predicted != real_mnist.y_test)
    assert f"{len(wrong)} wrong" in at.caption[0].value

    for i in (0, 1234, 9999):
        run(at.number_input(key="test_index").set_value(i))
        expected, verdict = shown_digit(at)
        assert expected == real_mnist.y_test[i]
        assert verdict == verdict_of(seen, i, expected)

    run(at.number_input(key="test_index").set_value(0))
    run(next(b for b in at.button if b.label.startswith("Next misclassified")).click())
    i = at.session_state["test_index"]
    assert i == wrong[0] and at.number_input(key="test_index").value == i
    expected, verdict = shown_digit(at)
    assert expected == real_mnist.y_test[i] != predicted[i] and verdict == verdict_of(seen, i, expected)
    assert verdict.startswith("### :red[")

    run(next(b for b in at.button if b.label == "Next").click())
    assert at.session_state["test_index"] == i + 1
    run(next(b for b in at.button if b.label == "Previous").click())
    run(next(b for b in at.button if b.label == "Previous").click())
    assert at.session_state["test_index"] == i - 1
    right = int(np.flatnonzero(seen.digits == real_mnist.y_test)[0])
    run(at.number_input(key="test_index").set_value(right))
    assert shown_digit(at)[1] == f"### :green[Predicted: {real_mnist.y_test[right]}]"
    run(at.number_input(key="test_index").set_value(0))
    run(next(b for b in at.button if b.label == "Previous").click())
    assert at.session_state["test_index"] == 9999  # wraps around


@pytest.mark.mnist
def test_test_browser_an_index_out_of_range_says_so_and_shows_no_other_digit(app_env, mnist_dir, real_mnist,
                                                                              monkeypatch):
    """Typing 12000 used to leave a red "12000" in the box while #77 stayed on screen, and Next went to #78."""
    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    at = open_app("browse")
    run(at.number_input(key="test_index").set_value(77))
    assert shown_digit(at)[0] == real_mnist.y_test[77]
    buttons = {b.label: b for b in at.button if b.key is None}

    for bad in (12000, 10000, -1):
        run(at.number_input(key="test_index").set_value(bad))
        assert at.number_input(key="test_index").value == bad  # the box keeps what was typed...
        assert [e.value for e in at.error] == [f"There is no test digit #{bad}: the 10,000 test digits are "
                                               "numbered 0 to 9999."]
        assert shown_digit(at) is None  # ...and no other digit is shown beside it
        assert not [m for m in at.metric if m.label == "Confidence"]
        buttons = {b.label: b for b in at.button if b.key is None}
        assert buttons["Previous"].disabled and buttons["Next"].disabled  # nothing to step from
        assert not buttons["Random"].disabled and not buttons["Next misclassified"].disabled

    run(at.number_input(key="test_index").set_value(78))  # back in range: the digit typed, no message
    assert not at.error and shown_digit(at)[0] == real_mnist.y_test[78]
    run(next(b for b in at.button if b.label == "Next").click())
    assert at.number_input(key="test_index").value == 79 and shown_digit(at)[0] == real_mnist.y_test[79]

    run(at.number_input(key="test_index").set_value(12000))
    run(next(b for b in at.button if b.label == "Next misclassified").click())  # a way out: a real digit
    i = at.number_input(key="test_index").value
    assert 0 <= i < 10000 and not at.error and shown_digit(at)[0] == real_mnist.y_test[i]


@pytest.mark.mnist
def test_test_browser_a_gallery_digit_opens_in_a_dialog_over_the_gallery(app_env, mnist_dir, real_mnist, monkeypatch):
    """Clicking a gallery digit used to change the digit at the top of the page, out of view. Now it opens
    in a dialog where the user is; the top of the page changes only when the user asks for it."""
    from digitrec_core import load_model, recognize
    from digitrec_core.serving.evaluation import metrics as evaluate

    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    seen = recognize(load_model(SHIPPED["name"]), real_mnist.x_test)
    probs = seen.probabilities
    report = evaluate(probs, real_mnist.y_test)
    at = open_app("browse")
    run(at.number_input(key="test_index").set_value(5))
    kinds = report.mistake_kinds()
    kind = kinds[1] if len(kinds) > 1 else kinds[0]  # not the first, selected by default
    run(at.selectbox(key="mistake_pair").select(kind))
    gallery = [b for b in at.button if (b.key or "").startswith("open_")]
    expected_idx = report.mistakes(kind.true, kind.predicted)[:24].tolist()
    assert [int(b.label[1:]) for b in gallery] == expected_idx
    assert not at.get("dialog")

    k = expected_idx[-1]
    run(next(b for b in gallery if b.label == f"#{k}").click())
    (dialog,) = at.get("dialog")
    assert dialog.proto.dialog.title == f"Test digit #{k}" and dialog.proto.dialog.is_open
    md = [m.value for m in dialog.markdown]
    assert md == [f"### Expected: {kind.true}", verdict_of(seen, k, kind.true)] and md[1].startswith("### :red[")
    assert real_mnist.y_test[k] == kind.true
    assert [m.value for m in dialog.metric if m.label == "Confidence"] == [f"{probs[k].max():.1%}"]
    assert has_key(dialog.get("plotly_chart"), "dialog_probs")
    # The page under it is as it was: the same digit at the top, the same kind of mistake, the same gallery.
    assert at.number_input(key="test_index").value == 5 and shown_digit(at)[0] == real_mnist.y_test[5]
    assert at.selectbox(key="mistake_pair").value == kind
    assert [b.label for b in at.button if (b.key or "").startswith("open_")] == [b.label for b in gallery]

    run(dialog.button(key="dialog_make_current").click())  # "Show #k at the top of the page"
    assert not at.get("dialog")  # closed
    assert at.number_input(key="test_index").value == k and shown_digit(at)[0] == kind.true
    assert at.selectbox(key="mistake_pair").value == kind
    run(at.number_input(key="test_index").set_value(6))  # a rerun of the page does not reopen it
    assert not at.get("dialog") and shown_digit(at)[0] == real_mnist.y_test[6]


def test_test_browser_counts_the_digits_read_as_not_a_digit_and_says_so_on_each(app_env, synthetic_dir):
    from digitrec_core import load_model, predict_proba, recognize

    x, y = synthetic_dir.x_test, synthetic_dir.y_test
    probs = predict_proba(load_model(SHIPPED["name"]).model, x)
    strict = store_shipped(midway_threshold(probs.max(axis=1)))
    seen = recognize(ModelStore().load(strict), x)
    flagged = np.flatnonzero(seen.flagged)
    assert 0 < len(flagged) < len(x)

    at = open_app("browse")
    captions = [c.value for c in at.caption]
    accuracy = (probs.argmax(axis=1) == y).mean()  # the most likely digit's, flagged or not: comparable figures
    assert captions[0].startswith(f"Model `{strict}`: {accuracy:.2%} of the 200 test digits right")
    assert captions[1] == (f"{len(flagged)} of the 200 test digits ({len(flagged) / 200:.2%}) read as not a digit; "
                           "the accuracy counts each as the digit it looks most like.")
    i, j = int(flagged[0]), int(np.flatnonzero(~seen.flagged)[0])
    run(at.number_input(key="test_index").set_value(i))
    likely = int(seen.likely[i])
    assert shown_digit(at) == (y[i], "### :red[Not a digit]")  # red: every test digit is a digit
    article = "an" if likely == 8 else "a"
    assert f"Looks most like {article} {likely} ({seen.digit_score[i]:.0%})" in [c.value for c in at.caption]
    assert not any("Predicted:" in t for t in markdowns(at))
    run(at.number_input(key="test_index").set_value(j))
    assert shown_digit(at) == (y[j], verdict_of(seen, j, y[j])) and "Predicted:" in shown_digit(at)[1]

    store_shipped(None)  # the same model without a threshold: no figure, and the digit reads as before
    run(at.number_input(key="test_index").set_value(i))
    assert not any("not a digit" in c.value for c in at.caption)
    assert shown_digit(at)[1].endswith(f"[Predicted: {likely}]") and "### :red[Not a digit]" not in markdowns(at)


def test_verdict_of_a_test_digit_read_as_not_a_digit():
    """The Test browser's verdict for a digit the model flags: red against its label, what it looks like below."""

    def page():
        import numpy as np

        from digitrec_app.ui.components import verdict
        from digitrec_core.serving.recognition import NOT_A_DIGIT

        probs = np.full(10, 0.02)
        probs[8] = 0.82
        verdict(3, NOT_A_DIGIT, probs)
        verdict(None, NOT_A_DIGIT, probs)
        verdict(3, 3)

    at = run(AppTest.from_function(page, default_timeout=TIMEOUT))
    assert markdowns(at) == ["### Expected: 3", "### :red[Not a digit]", "### Not a digit", "### Expected: 3",
                             "### :green[Predicted: 3]"]
    assert [c.value for c in at.caption] == ["Looks most like an 8 (82%)"] * 2


# ---- Why this answer? (issue 12) ---------------------------------------------------------------------


@pytest.mark.mnist
def test_test_browser_why_this_answer_for_the_top_digit_and_in_the_gallery_dialog(app_env, mnist_dir, real_mnist,
                                                                                   monkeypatch, explain_calls):
    from digitrec_core import explain, load_model, predict_proba
    from digitrec_core.serving.evaluation import as_batch
    from digitrec_core.serving.evaluation import metrics as evaluate

    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    model = load_model(SHIPPED["name"]).model
    at = open_app("browse")
    run(at.number_input(key="test_index").set_value(8))
    assert why(at) is not None and not why(at).get("image") and explain_calls == []
    at = open_why(at, "test_why")
    x = as_batch(real_mnist.x_test[8])[0, ..., 0]
    np.testing.assert_array_equal(explain_calls[-1], x)
    e = explain(model, x)
    assert_full_panel(why(at), e.predicted, e.runner_up)
    first = panel_images(why(at))
    run(at.number_input(key="test_index").set_value(9))  # another digit: its own pictures, the panel still open
    assert panel_images(why(at))["relu1 feature maps"] != first["relu1 feature maps"]

    # The gallery's dialog has its own panel (its own keys): open it there too.
    report = evaluate(predict_proba(model, real_mnist.x_test), real_mnist.y_test)
    kind = report.mistake_kinds()[0]
    k = int(report.mistakes(kind.true, kind.predicted)[0])
    at = open_why(at, "test_why", False)
    at.session_state["dialog_why"] = True  # opened before: the dialog shows it open (a toggle in it reruns it alone)
    n = len(explain_calls)
    run(next(b for b in at.button if b.key == f"open_{k}").click())
    (dialog,) = at.get("dialog")
    assert len(explain_calls) == n + 1  # the dialog's panel, not the closed one at the top
    xk = as_batch(real_mnist.x_test[k])[0, ..., 0]
    np.testing.assert_array_equal(explain_calls[-1], xk)
    ek = explain(model, xk)
    assert ek.predicted == kind.predicted
    assert_full_panel(why(dialog), ek.predicted, ek.runner_up)
