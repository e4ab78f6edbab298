"""The Draw page follows the model: strokes never reach the server, yet a model switched elsewhere (another
tab, the CLI) reaches an open Draw page without a reload, and its drawings are classified by it. In chromium."""

from __future__ import annotations

import json
import shutil

import pytest
from playwright.sync_api import expect

from bench.chromium import SEVEN, Server, click_page, stroke
from digitrec_app.ui.live import FOLLOW_SECONDS
from digitrec_core import ModelStore
from digitrec_core.store import SHIPPED_DIR
from tests.support import ROOT
from tests.support.server import serving

pytestmark = pytest.mark.browser


def add_copy(home, name: str) -> None:
    """The shipped model stored again under `name`: a second model to switch to."""
    folder = home / "models" / name
    shutil.copytree(SHIPPED_DIR, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "name": name}))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("digitrec_home")
    for name in ("alpha-model", "beta-model"):
        add_copy(home, name)
    ModelStore(home).activate("alpha-model")
    return home


@pytest.fixture(scope="module")
def url(home):
    yield from (s.url for s in serving(Server(ROOT, ["--server.fileWatcherType", "none"], home=home)))


def test_a_model_activated_elsewhere_reaches_an_open_draw_page_without_a_reload(browser, url, home):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    click_page(page, "Draw")
    status = page.locator(".dr-status")
    expect(status).to_have_text("Classified in your browser by alpha-model, as you draw.", timeout=30_000)
    page.evaluate("() => { window.stillThisPage = true; }")  # a reload would forget it

    ModelStore(home).activate("beta-model")  # as another tab's switcher or `digitrec activate` does
    expect(status).to_have_text("Classified in your browser by beta-model, as you draw.",
                                timeout=(FOLLOW_SECONDS + 10) * 1000)
    assert page.evaluate("() => window.stillThisPage === true")
    stroke(page, SEVEN)
    expect(page.locator(".dr-prediction")).to_have_text("Prediction: 7", timeout=10_000)
    assert not errors
    page.close()
