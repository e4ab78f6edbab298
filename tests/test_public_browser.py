"""Public mode in a real browser: three visitors (separate browser contexts, so separate Streamlit
sessions) on one `DIGITREC_PUBLIC=1` server. No visitor changes another's model, stops another's run,
or the shared store.

    DIGITREC_MNIST_DIR=/path/to/mnist python -m pytest tests/test_public_browser.py
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.chromium import CHROMIUM, VIEWPORT, Server
from tests.support import ROOT
from tests.support.server import serving

pytestmark = [pytest.mark.browser, pytest.mark.mnist]

if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from digitrec_core import ModelStore  # noqa: E402
from tests.support.console import SUPERSEDED_MEDIA  # noqa: E402
from tests.support.runs import fake_run  # noqa: E402

expect.set_options(timeout=30_000)  # three sessions and TensorFlow on a 2-core machine


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    """A store with a shared active model and another one to switch to."""
    home = tmp_path_factory.mktemp("digitrec_public_home")
    store = ModelStore(home)
    shared = store.save(fake_run("seed", 0.9), activate="always").info
    store.save(fake_run("seed", 0.5), activate="never")
    assert store.active_name() == shared.name
    return home


@pytest.fixture(scope="module")
def server(mnist_dir, store_dir):
    server = Server(ROOT, ["--server.fileWatcherType", "none"], home=store_dir,
                    env={"DIGITREC_MNIST_DIR": str(mnist_dir), "DIGITREC_PUBLIC": "1"})
    yield from serving(server)


@pytest.fixture
def visitors(browser, server):
    """Three visitors on Home, each in a browser context of their own; fails on any browser error."""
    contexts, pages, errors = [], [], []
    for _ in range(3):
        context = browser.new_context(viewport=VIEWPORT)
        pg = context.new_page()
        pg.on("console", lambda m: m.type == "error" and errors.append(f"console.error: {m.text}"))
        pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        pg.goto(server.url + "/")
        contexts.append(context)
        pages.append(pg)
    for pg in pages:
        expect(sidebar(pg).get_by_text("Your model")).to_be_visible(timeout=60_000)
    yield pages
    for context in contexts:
        context.close()
    errors = [e for e in errors if not SUPERSEDED_MEDIA.match(e)]
    assert not errors, "browser errors:\n" + "\n".join(errors)


def sidebar(page: Page):
    return page.get_by_test_id("stSidebar")


def goto(page: Page, name: str, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_test_id("stMain").get_by_role("heading", level=1)).to_contain_text(title, timeout=60_000)


def test_three_visitors_keep_their_own_model_and_run(visitors, store_dir):
    alice, bob, carol = visitors
    store = ModelStore(store_dir)
    shared = store.active_name()
    other = next(i.name for i in store.list() if i.name != shared)

    # Alice switches: her sidebar and Draw page use the other model; nobody else's, and not active.json.
    switch = sidebar(alice).get_by_role("combobox", name="Switch model")
    switch.click()
    alice.get_by_role("option", name=re.compile(rf"^{re.escape(store.info(other).label)}")).click()  # by its label
    expect(sidebar(alice).get_by_text(other, exact=True)).to_be_visible()
    goto(alice, "Draw", "Draw")
    expect(alice.get_by_test_id("stMain").get_by_text(f"Classified by {other}", exact=False)).to_be_visible()
    for pg in (bob, carol):
        pg.reload()
        expect(sidebar(pg).get_by_text(shared, exact=True)).to_be_visible(timeout=60_000)
    assert store.active_name() == shared

    # Bob trains (a visitor's run: at most 3 epochs); Carol sees it running but has no Stop.
    goto(bob, "Train", "Train")
    expect(bob.get_by_role("spinbutton", name="Epochs")).to_have_attribute("max", "3")
    bob.get_by_role("button", name="Train", exact=True).click()
    expect(bob.get_by_test_id("stProgress")).to_contain_text(re.compile(r"Epoch 1/\d · batch \d+/\d+"),
                                                             timeout=120_000)
    goto(carol, "Train", "Train")
    main = carol.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Training (started in another tab)…")).to_be_visible()
    expect(main.get_by_text("One run at a time on this server", exact=False)).to_be_visible()
    expect(main.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    expect(carol.get_by_role("button", name="Train", exact=True)).to_be_disabled()

    # Bob, who started it, can stop it; nothing is saved and the shared model is unchanged.
    bob.get_by_role("button", name="Stop", exact=True).click()
    expect(bob.get_by_test_id("stMain").get_by_text(re.compile(r"^Stopped after [\d,]+ batch(es)?\."))) \
        .to_be_visible(timeout=60_000)
    expect(carol.get_by_role("button", name="Train", exact=True)).to_be_enabled(timeout=60_000)
    assert store.active_name() == shared and len(store.list()) == 2
