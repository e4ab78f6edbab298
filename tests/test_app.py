"""The dashboard as a whole, driven through Streamlit's AppTest (no browser): what spans its pages (the
entrypoint, the sidebar and its model switcher, a missing MNIST, damaged model metadata, the models' labels). The
AppTest tooling and its notes are in tests/support/pages.py; each page has its tests/test_page_*.py.

Note for whoever edits these: the pages live in `app_pages/`, not `pages/`: a `pages/` folder beside `app.py` turns on
Streamlit's legacy auto-discovery, which runs a page without `app.py` (no sidebar, no model switcher) for a session
whose first URL is a page, and for every AppTest run after the first. `test_every_run_goes_through_the_entrypoint`
guards that.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from digitrec_core import ModelStore
from digitrec_core.data import MNIST_DIR_ENV
from digitrec_core.store import shipped_info
from tests.support.pages import (
    APP,
    PAGES,
    SHIPPED,
    TIMEOUT,
    live_data,
    markdowns,
    metrics,
    open_app,
    run,
    sidebar_text,
)

# ---- the app itself ----------------------------------------------------------------------------------


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


def test_without_mnist_every_page_says_so_and_none_crashes(app_env, tmp_path, monkeypatch):
    def offline():
        raise OSError("no network in this test")

    monkeypatch.setattr("digitrec_core.data._keras_load", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # no cached mnist.npz either
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
    for page in ("train", "browse"):
        run(at.switch_page(PAGES[page]))
        assert len(at.error) == 1 and MNIST_DIR_ENV in at.error[0].value
    run(at.switch_page(PAGES["draw"]))
    assert not at.error and live_data(at)["model"]["name"] == SHIPPED["name"]  # the live classifier, ready


# ---- the model switcher ------------------------------------------------------------------------------


def test_model_switcher_changes_the_active_model(app_env, synthetic_dir, tiny_result):
    saved = ModelStore().save(tiny_result, activate="always").info
    at = open_app()
    assert ModelStore().active_name() == saved.name and f"`{saved.name}`" in sidebar_text(at)
    switcher = at.selectbox(key="model_switcher")
    assert switcher.value == saved.name
    assert switcher.options == [saved.label, shipped_info().label]  # `seed · 12.50% · 6 Dec 12:31`, `pretrained ...`

    run(switcher.set_value(SHIPPED["name"]))
    assert ModelStore().active_name() == SHIPPED["name"]
    assert f"`{SHIPPED['name']}`" in sidebar_text(at) and saved.name not in sidebar_text(at)
    assert metrics(at)["Test accuracy"] == f"{SHIPPED['test_accuracy']:.2%}"  # Home's card follows
    run(at.switch_page(PAGES["draw"]))
    assert SHIPPED["name"] in at.caption[0].value  # and so does the model answering on Draw


# ---- damaged model metadata: Home and the sidebar go on, and say which model was skipped -------------


def _damage_active_empty(home, metas):
    metas[0].write_text("{}")
    return metas[0].parent.name


def _damage_active_field(home, metas):
    meta = json.loads(metas[0].read_text())
    del meta["arch"]
    metas[0].write_text(json.dumps(meta))
    return metas[0].parent.name


def _damage_created_at(home, metas):
    meta = json.loads(metas[1].read_text())
    metas[1].write_text(json.dumps({**meta, "created_at": 1764583200}))
    return metas[1].parent.name


def _damage_accuracy_text(home, metas):
    meta = json.loads(metas[2].read_text())
    metas[2].write_text(json.dumps({**meta, "test_accuracy": "0.99"}))
    return metas[2].parent.name


def _damage_active_json(home, metas):
    (home / "active.json").write_bytes(b'{"name": ')
    return "active.json"


def _renamed_and_activated(home, metas):
    folder = metas[1].parent
    folder.rename(folder.with_name("mine"))
    ModelStore().activate("mine")
    return None


@pytest.mark.parametrize("damage", [_damage_active_empty, _damage_active_field, _damage_created_at,
                                    _damage_accuracy_text, _damage_active_json, _renamed_and_activated])
def test_damaged_metadata_is_skipped_on_home_and_in_the_sidebar_with_a_notice(app_env, synthetic_dir, damage):
    import random

    from tests.support.fuzz_store import make_store

    metas = make_store(app_env, random.Random(1))
    skipped = damage(app_env, metas)
    at = open_app()  # fails on any exception shown
    warnings = " ".join(w.value for w in at.sidebar.warning)
    active = ModelStore().active_info()
    # the sidebar, and the model card: its label, the name under it
    assert f"`{active.name}`" in sidebar_text(at) and f"**{active.label}**  \n`{active.name}`" in markdowns(at)
    if skipped is None:
        assert active.name == "mine" and not warnings
    else:
        assert skipped in warnings and skipped != active.name
        assert "/work" not in warnings and str(app_env) not in warnings  # no server paths for visitors


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_metadata_never_shows_an_exception_on_home(app_env, synthetic_dir, seed):
    import random

    from tests.support.fuzz_store import damage, make_store

    rng = random.Random(seed)
    metas = make_store(app_env, rng)
    damage(app_env, metas, rng)
    at = open_app()
    assert at.sidebar.markdown and markdowns(at)
    run(at.switch_page(PAGES["train"]))  # lists every stored model (the runs table, the curves)


# ---- names people can tell apart ---------------------------------------------------------------------


def test_the_sidebar_the_switcher_and_the_card_show_each_models_label_and_tell_alike_ones_apart(
        app_env, synthetic_dir, tiny_result):
    import shutil

    saved = ModelStore().save(tiny_result, activate="always").info
    twin = saved.path.with_name("seed-20261206-000000-bbbb")  # the same run under another name: alike labels
    shutil.copytree(saved.path, twin)
    at = open_app()
    side = sidebar_text(at)
    assert f"{saved.label} · {saved.name.rsplit('-', 1)[1]}" in side and f"`{saved.name}`" in side  # name and label
    switcher = at.selectbox(key="model_switcher")
    assert sorted(switcher.options[:2]) == sorted([f"{saved.label} · {saved.name.rsplit('-', 1)[1]}",
                                                   f"{saved.label} · bbbb"])  # made at the same time: either first
    assert switcher.options[2] == shipped_info().label
    assert switcher.help.startswith("Each model by its architecture")
    card = markdowns(at)
    assert f"**{saved.label}**  \n`{saved.name}`" in card  # Home's card: the label, the name under it
    run(switcher.set_value(twin.name))
    assert ModelStore().active_name() == twin.name and f"**{saved.label}**  \n`{twin.name}`" in markdowns(at)
