"""The dashboard's pages driven through Streamlit's AppTest: open the app or a page, run it failing on any
exception it shows, read what it shows, and act as the canvas and the forms do. Each page's tests are in
tests/test_page_*.py, what spans the pages in tests/test_app.py.

Note for whoever edits these: `st.cache_resource` lives as long as the process, so the `fresh_resources` fixture
(conftest.py) clears the resources a test could otherwise inherit (MNIST, the training supervisor, which binds its
store when created, and the test report); models are cached by name and are left alone.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitrec_app.ui import navigation
from digitrec_core import ModelStore
from digitrec_core.store import SHIPPED_DIR
from tests.support import ROOT

APP = ROOT / "app.py"
TIMEOUT = 120  # the first run imports TensorFlow and loads the shipped model
SHIPPED = json.loads((SHIPPED_DIR / "meta.json").read_text())
# The page files as the navigation registers them, by name: "train", "draw", ...
PAGES = {name: str(navigation.path(name)) for name in navigation.PAGES}


def run(what) -> AppTest:
    """Run the app (an AppTest, or a widget just set or clicked) and fail on any exception it shows."""
    at = what.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_app(page: str | None = None) -> AppTest:
    """The app from the start (Home), or switched to `page` ("draw", "train", ...), run."""
    at = run(AppTest.from_file(str(APP), default_timeout=TIMEOUT))
    if page is not None:
        run(at.switch_page(PAGES[page]))
    return at


def open_draw() -> AppTest:
    """The Draw page as a browser without WebAssembly gets it: the live classifier reported that it cannot run
    the model (ui/live.py), so the server classifies each stroke, as it did before the browser could."""
    at = open_app()
    at.session_state["live_fallback"] = {"sha": "*", "reason": "no WebAssembly here"}
    return run(at.switch_page(PAGES["draw"]))


def live_data(at: AppTest) -> dict:
    """What the Draw page gives its live classifier (ui/live.py): the model, and what became of an action."""
    (live,) = [c for c in at.main.get("bidi_component") if c.key == "live"]
    return json.loads(live.proto.json)


def markdowns(at: AppTest) -> list[str]:
    return [m.value for m in at.main.markdown]


def sidebar_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def has_key(widgets, key: str) -> bool:
    return any(w.key == key for w in widgets)


def canvas_state(rgba: np.ndarray, n_objects: int = 1) -> dict:
    """What the drawable canvas reports after strokes: Fabric.js JSON and the PNG as a data URL."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raw = {"objects": [{"type": "path"}] * n_objects, "background": "#000000"}
    return {"drawing": {"raw": raw, "data": url}}


def draw(at: AppTest, rgba: np.ndarray, n_objects: int = 1) -> AppTest:
    """The canvas sending what it shows, as it does after each stroke (and, empty, after its reset)."""
    at.session_state["canvas"] = canvas_state(rgba, n_objects)
    return run(at)


def start_training(at: AppTest, *, epochs: int = 1, limit: int = 500) -> None:
    """Choose the seed network, set its form and press Train."""
    run(next(s for s in at.selectbox if s.label == "Architecture").set_value("seed"))
    at.number_input(key="epochs_seed").set_value(epochs)
    at.number_input(key="limit_seed").set_value(limit)
    submit = at.button(key="FormSubmitter:hyperparameters-Train")
    assert not submit.disabled
    run(submit.click())


def store_shipped(threshold: float | None) -> str:
    """The shipped model stored again with `threshold` as its digit threshold, and made active; its name.

    One name per threshold: the pages cache a model by its name for the whole process."""
    import shutil

    name = f"shipped-threshold-{threshold}"
    folder = ModelStore().models_dir / name
    shutil.copytree(SHIPPED_DIR, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "name": name, "digit_threshold": threshold}))
    ModelStore().activate(name)
    return name


def midway_threshold(scores: np.ndarray) -> float:
    """A threshold halfway between two of these digit scores: some of them fall below it, the others do not."""
    values = np.unique(scores)
    assert len(values) > 1, "this test needs digits the model is not equally sure of"
    k = len(values) // 2
    return float((values[k - 1] + values[k]) / 2)


def personal_samples():
    from digitrec_core.personal import PersonalDigits

    return {s.id: s for s in PersonalDigits(ModelStore().root).samples()}
