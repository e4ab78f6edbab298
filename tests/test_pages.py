"""The dashboard's pages, driven through Streamlit's AppTest (no browser): what a user sees and
what their clicks do to the model store.

Notes for whoever edits these:
- `st.cache_resource` lives as long as the process, so the `fresh_resources` fixture clears the resources
  a test could otherwise inherit (MNIST, the training supervisor, which binds its store when
  created, and the test report); models are cached by name and are left alone.
- The pages live in `app_pages/`, not `pages/`: a `pages/` folder beside `app.py` turns on Streamlit's
  legacy auto-discovery, which runs a page without `app.py` (no sidebar, no model switcher) for a
  session whose first URL is a page, and for every AppTest run after the first.
  `test_every_run_goes_through_the_entrypoint` guards that.
- The drawable canvas does not render in AppTest, but its component state can be set through
  `session_state[<canvas key>]`, which is what a stroke in the browser sends.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, make_synthetic
from test_cli import write_idx

if str(ROOT) not in sys.path:  # app.py and the pages import `ui` and `digitrec_core` from the project root
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from digitrec_core import ModelStore  # noqa: E402
from digitrec_core.data import MNIST_DIR_ENV  # noqa: E402

APP = ROOT / "app.py"
TIMEOUT = 120  # the first run imports TensorFlow and loads the shipped model
SHIPPED = json.loads((ROOT / "assets" / "pretrained" / "meta.json").read_text())
# The page files as app.py registers them (st.Page("<path>", ...)), by file stem: "train", "draw", ...
PAGES = {p.rsplit("/", 1)[-1].removesuffix(".py"): p for p in re.findall(r"st\.Page\(\s*\"([^\"]+\.py)\"", APP.read_text())}


# ---- helpers and fixtures ------------------------------------------------------------------------


def run(what) -> AppTest:
    """Run the app (an AppTest, or a widget just set or clicked) and fail on any exception it shows."""
    at = what.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_app(page: str | None = None) -> AppTest:
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    if page is not None:
        run(at.switch_page(PAGES[page]))
    return at


def markdowns(at: AppTest) -> list[str]:
    return [m.value for m in at.main.markdown]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def has_key(widgets, key: str) -> bool:
    return any(w.key == key for w in widgets)


@pytest.fixture
def fresh_resources(store_home):
    """An empty store and none of the per-process resources an earlier test left behind."""
    import ui.resources as res

    def reset():
        sup = res.supervisor()
        if sup.job is not None and sup.job.running:
            sup.job.stop()
            sup.job.wait(120)
        res.supervisor.clear()  # it binds the store (DIGITREC_HOME) it was created with
        res.mnist.clear()
        res.test_report.clear()

    reset()
    yield store_home
    reset()


@pytest.fixture
def app_env(fresh_resources):
    return fresh_resources


@pytest.fixture
def synthetic_dir(tmp_path, monkeypatch):
    """Synthetic MNIST written as IDX files, and DIGITREC_MNIST_DIR pointing at them."""
    data = make_synthetic(1000, 200)
    write_idx(tmp_path / "mnist", data)
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path / "mnist"))
    return data


@pytest.fixture(scope="module")
def tiny_result():
    """A seed network trained for one epoch on synthetic data: something to put in a store."""
    from digitrec_core import train

    return train(arch="seed", epochs=1, data=make_synthetic(600, 200))


def canvas_state(rgba: np.ndarray, n_objects: int = 1) -> dict:
    """What the drawable canvas reports after strokes: Fabric.js JSON and the PNG as a data URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raw = {"objects": [{"type": "path"}] * n_objects, "background": "#000000"}
    return {"drawing": {"raw": raw, "data": url}}


def stroke_one(size: int = 280) -> np.ndarray:
    """A '1' as drawn on the canvas: one white vertical stroke, 20 px wide, on opaque black."""
    a = np.zeros((size, size, 4), np.uint8)
    a[..., 3] = 255
    a[40:240, size // 2 - 10 : size // 2 + 10, :3] = 255
    return a


# ---- Home ------------------------------------------------------------------------------------------


def test_home_shows_the_shipped_model_and_the_data(app_env, synthetic_dir):
    at = open_app()
    text = "\n".join(markdowns(at))
    assert SHIPPED["name"] in text and "pretrained" in text
    m = metrics(at)
    assert m["Test accuracy"] == f"{SHIPPED['test_accuracy']:.2%}"
    assert m["Architecture"] == "default" and m["Parameters"] == "242,602"
    assert m["Training images"] == "1,000" and m["Test images"] == "200" and m["Source"] == "local folder"
    assert any("1,000 of MNIST's 60,000" in i.value for i in at.info)  # a partial copy says so
    assert not at.error
    side = sidebar_text(at)
    assert "Active model" in side and SHIPPED["name"] in side and f"{SHIPPED['test_accuracy']:.2%}" in side
    assert not has_key(at.sidebar.selectbox, "model_switcher")  # one model: nothing to switch to


def test_without_mnist_every_page_says_so_and_none_crashes(app_env, tmp_path, monkeypatch):
    def offline():
        raise OSError("no network in this test")

    monkeypatch.setattr("digitrec_core.data._keras_load", offline)
    for env in (str(tmp_path / "nowhere"), None):  # a wrong folder, then no variable and no Keras copy
        if env is None:
            monkeypatch.delenv(MNIST_DIR_ENV, raising=False)
        else:
            monkeypatch.setenv(MNIST_DIR_ENV, env)
        at = open_app()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and MNIST_DIR_ENV in errors[0], errors
        assert (env is None and "no network in this test" in errors[0]) or (env is not None and "nowhere" in errors[0])
        assert any(f"{MNIST_DIR_ENV}=/path/to/mnist" in t for t in markdowns(at))
        assert "Test accuracy" in metrics(at)  # the model card is still there: drawing still works
    for page in ("train", "test_browser"):
        run(at.switch_page(PAGES[page]))
        assert len(at.error) == 1 and MNIST_DIR_ENV in at.error[0].value
    run(at.switch_page(PAGES["draw"]))
    assert not at.error and [i.value for i in at.info] == ["Draw a digit"]


# ---- Train -----------------------------------------------------------------------------------------


def start_training(at: AppTest, *, epochs: int = 1, limit: int = 500) -> None:
    """Choose the seed network, set its form and press Train."""
    run(next(s for s in at.selectbox if s.label == "Architecture").set_value("seed"))
    at.number_input(key="epochs_seed").set_value(epochs)
    at.number_input(key="limit_seed").set_value(limit)
    submit = at.button(key="FormSubmitter:hyperparameters-🚀 Train")
    assert not submit.disabled
    run(submit.click())


def finish_training(at: AppTest, timeout: float = 120):
    import ui.resources as res

    job = res.supervisor().job
    assert job is not None, "pressing Train started no job"
    assert job.wait(timeout), "training did not finish in time"
    assert job.error is None, job.error
    run(at)
    return job


def test_train_saves_the_model_and_makes_it_active(app_env, synthetic_dir):
    at = open_app("train")
    assert [c.value for c in at.caption][-1].startswith("No runs yet")
    start_training(at, epochs=1, limit=500)
    assert [s.value for s in at.subheader][0] == "Training…" and at.progress  # the live view of this tab's run
    job = finish_training(at)
    assert job.config.arch == "seed" and job.config.epochs == 1 and job.config.limit == 500

    (code,) = [c.value for c in at.code]
    loss, acc = re.fullmatch(r"Test Loss: (\d+\.\d{4})\nTest Accuracy: (\d+\.\d\d)%", code).groups()
    store = ModelStore()
    (info,) = store.list()
    assert store.active_name() == info.name == job.saved.name
    assert float(acc) == pytest.approx(info.test_accuracy * 100, abs=0.006)
    assert float(loss) == pytest.approx(info.test_loss, abs=6e-5)
    assert [s.value for s in at.success] == [f"Saved as `{info.name}` and made the active model."]
    assert info.arch == "seed" and info.epochs_run == 1 and info.n_train + info.n_val == 500

    table = at.dataframe[0].value
    assert list(table["name"]) == [info.name] and list(table["arch"]) == ["seed"]
    assert info.name in sidebar_text(at)  # the sidebar now names the new model
    run(at.switch_page(PAGES["home"]))
    assert metrics(at)["Architecture"] == "seed" and metrics(at)["Test accuracy"] == f"{info.test_accuracy:.2%}"


def test_a_second_tab_cannot_train_while_a_run_is_going(app_env, synthetic_dir):
    import ui.resources as res

    job = res.supervisor().start(dict(arch="seed", epochs=50), owner="someone-else", data=synthetic_dir)
    try:
        at = open_app("train")
        assert at.button(key="FormSubmitter:hyperparameters-🚀 Train").disabled
        assert any("Another tab is training" in i.value for i in at.info)
        assert any(s.value == "Training (started in another tab)…" for s in at.subheader)
        assert has_key(at.button, "stop")  # anyone may stop it
    finally:
        job.stop()
        assert job.wait(120)
    assert job.result is not None and job.result.stopped and job.saved is None
    assert ModelStore().list() == []  # a stopped run saves nothing


def test_training_in_a_tab_with_the_model_switcher_keeps_the_new_model_active(app_env, synthetic_dir, tiny_result):
    """Fails today: see the report on app.py's model_switcher (the selectbox's stale value re-activates the old model)."""
    old = ModelStore().save(tiny_result)  # two choices with the shipped model: the switcher shows
    at = open_app("train")
    assert at.selectbox(key="model_switcher").value == old.name
    start_training(at)
    new = finish_training(at).saved
    assert [s.value for s in at.success] == [f"Saved as `{new.name}` and made the active model."]
    assert ModelStore().active_name() == new.name
    assert f"`{new.name}`" in sidebar_text(at)


# ---- Test browser ------------------------------------------------------------------------------------


@pytest.mark.mnist
def test_test_browser_shows_expected_and_predicted(app_env, mnist_dir, real_mnist, monkeypatch):
    from digitrec_core import load_model, predict_proba

    monkeypatch.setenv(MNIST_DIR_ENV, str(mnist_dir))
    model = load_model(SHIPPED["name"]).model
    predicted = predict_proba(model, real_mnist.x_test).argmax(1)

    at = open_app("test_browser")
    index = at.number_input(key="test_index")
    assert index.label == "Choose a test index (0–9999)" and index.value == 0
    wrong = np.flatnonzero(predicted != real_mnist.y_test)
    assert f"{len(wrong)} wrong" in at.caption[0].value

    def shown() -> tuple[int, str]:
        md = [t for t in markdowns(at) if "Expected:" in t or "Predicted:" in t]
        assert len(md) == 2, md
        return int(re.fullmatch(r"### Expected: (\d)", md[0]).group(1)), md[1]

    for i in (0, 1234, 9999):
        run(at.number_input(key="test_index").set_value(i))
        expected, verdict = shown()
        assert expected == real_mnist.y_test[i]
        assert f"Predicted: {predicted[i]}" in verdict

    run(at.number_input(key="test_index").set_value(0))
    run(next(b for b in at.button if b.label.startswith("Next misclassified")).click())
    i = at.session_state["test_index"]
    assert i == wrong[0] and at.number_input(key="test_index").value == i
    expected, verdict = shown()
    assert expected == real_mnist.y_test[i] and verdict == f"### :red[Predicted: {predicted[i]}]" and predicted[i] != expected

    run(next(b for b in at.button if b.label == "Next ▶").click())
    assert at.session_state["test_index"] == i + 1
    run(next(b for b in at.button if b.label == "◀ Previous").click())
    run(next(b for b in at.button if b.label == "◀ Previous").click())
    assert at.session_state["test_index"] == i - 1
    right = 0 if predicted[0] == real_mnist.y_test[0] else int(np.flatnonzero(predicted == real_mnist.y_test)[0])
    run(at.number_input(key="test_index").set_value(right))
    assert shown()[1] == f"### :green[Predicted: {real_mnist.y_test[right]}]"
    run(at.number_input(key="test_index").set_value(0))
    run(next(b for b in at.button if b.label == "◀ Previous").click())
    assert at.session_state["test_index"] == 9999  # wraps around


# ---- Draw ------------------------------------------------------------------------------------------------


def test_draw_classifies_the_canvas_and_clear_empties_it(app_env, synthetic_dir):
    at = open_app("draw")
    assert [i.value for i in at.info] == ["Draw a digit"] and not any("Prediction:" in t for t in markdowns(at))
    assert SHIPPED["name"] in at.caption[0].value

    at.session_state["canvas_0"] = canvas_state(stroke_one())
    run(at)
    assert "## Prediction: 1" in markdowns(at) and not at.info
    assert re.fullmatch(r"probability \d+\.\d%", at.caption[1].value)

    black = np.zeros((280, 280, 4), np.uint8)
    black[..., 3] = 255
    at.session_state["canvas_0"] = canvas_state(black)  # strokes, but no ink (drawn in black)
    run(at)
    assert [i.value for i in at.info] == ["Draw a digit"] and not any("Prediction:" in t for t in markdowns(at))

    at.session_state["canvas_0"] = canvas_state(stroke_one())
    run(at)
    assert "## Prediction: 1" in markdowns(at)
    run(at.button(key="clear").click())  # a new, empty canvas
    assert at.session_state["canvas_generation"] == 1
    assert [i.value for i in at.info] == ["Draw a digit"] and not any("Prediction:" in t for t in markdowns(at))


def test_draw_upload_classifies_a_photo_and_rejects_a_broken_file(app_env, synthetic_dir):
    at = open_app("draw")
    one = Image.fromarray(255 - stroke_one(200)[..., 0]).convert("RGB")  # dark ink on white paper
    buf = io.BytesIO()
    one.save(buf, "PNG")
    run(at.file_uploader(key="upload").upload("one.png", buf.getvalue(), "image/png"))
    assert markdowns(at).count("## Prediction: 1") == 1
    run(at.file_uploader(key="upload").set_value(("broken.png", b"not a png at all", "image/png")))
    assert len(at.error) == 1 and at.error[0].value.startswith("broken.png: ")


# ---- the model switcher ------------------------------------------------------------------------------------


def test_model_switcher_changes_the_active_model(app_env, synthetic_dir, tiny_result):
    saved = ModelStore().save(tiny_result)
    at = open_app()
    assert ModelStore().active_name() == saved.name and f"`{saved.name}`" in sidebar_text(at)
    switcher = at.selectbox(key="model_switcher")
    assert switcher.value == saved.name
    assert switcher.options == [f"{saved.name} (seed, {saved.test_accuracy:.2%})", f"{SHIPPED['name']} (pretrained, {SHIPPED['test_accuracy']:.2%})"]

    run(switcher.set_value(SHIPPED["name"]))
    assert ModelStore().active_name() == SHIPPED["name"]
    assert f"`{SHIPPED['name']}`" in sidebar_text(at) and saved.name not in sidebar_text(at)
    assert metrics(at)["Test accuracy"] == f"{SHIPPED['test_accuracy']:.2%}"  # Home's card follows
    run(at.switch_page(PAGES["draw"]))
    assert SHIPPED["name"] in at.caption[0].value  # and so does the model answering on Draw


# ---- the app itself -------------------------------------------------------------------------------------


def test_every_run_goes_through_the_entrypoint(fresh_resources, synthetic_dir):
    """Regression: a `pages/` folder next to app.py would be Streamlit's legacy auto-discovered pages folder. Until
    app.py has run once in the server process, a session whose first URL is a page (/train, a bookmark,
    a reload after a restart) runs that page file alone: no sidebar model switcher, and a navigation
    built from the folder (app / draw / home / test browser / train). AppTest starts every run like that,
    so the second run of a session shows the same thing. Renaming the folder fixes both."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    run(at)
    assert "Active model" in sidebar_text(at)
    run(at.switch_page(PAGES["train"]))
    assert "Active model" in sidebar_text(at), "the page ran without app.py (no sidebar)"
