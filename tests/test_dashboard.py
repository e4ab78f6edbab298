"""The dashboard's frame: the guard that keeps Streamlit from clearing Keras after every rerun, and
text that needs no emoji font."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, make_synthetic
from test_cli import write_idx

import digitrec_app
import digitrec_app.dashboard as dashboard

# Typographic characters the dashboard may use: Streamlit's Source Sans and the usual fallback fonts
# (DejaVu) have them all. Anything else (emoji, arrows like ▶, symbols like ⏹) needs an emoji or symbol
# font a machine may not have: use a `:material/…:` icon instead.
TYPOGRAPHY = set("…–—·‘’“”×±→−")

# Run in a fresh interpreter: the guard patches Streamlit once per process, so only a process that has
# not imported the dashboard yet can show what Streamlit does without it.
SPY = textwrap.dedent(
    """
    import keras
    from streamlit.testing.v1 import AppTest

    calls = []
    keras.backend.clear_session = lambda *args, **kwargs: calls.append(1)

    at = AppTest.from_string("import streamlit as st; st.write('hello')")
    at.run()
    at.run()
    without_guard = len(calls)

    at = AppTest.from_file({app!r}, default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    for page in ("train.py", "home.py", "train.py"):
        at.switch_page({pages!r} + "/" + page)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    at.run()
    from digitrec_app import dashboard
    print(without_guard, len(calls) - without_guard, dashboard.KERAS_STATE_KEPT)
    """
)


def test_streamlit_does_not_clear_keras_after_the_apps_runs(tmp_path):
    write_idx(tmp_path / "mnist", make_synthetic(300, 100))
    env = {**os.environ, "DIGITREC_HOME": str(tmp_path / "home"), "DIGITREC_MNIST_DIR": str(tmp_path / "mnist"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = SPY.format(app=str(ROOT / "app.py"), pages=str(ROOT / "digitrec_app" / "app_pages"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    without_guard, with_guard, kept = result.stdout.split()[-3:]
    assert int(without_guard) == 2  # the spy sees Streamlit's clean-up: once a run, without the guard
    assert (int(with_guard), kept) == (0, "True")  # none in the app's five runs (Train imports Keras)


@pytest.mark.parametrize("moved", ["removed", "no longer a function"])
def test_a_missing_hook_is_reported_once_and_changes_nothing(monkeypatch, caplog, moved):
    from streamlit.runtime.scriptrunner import script_runner

    if moved == "removed":
        monkeypatch.delattr(script_runner, "_clean_problem_modules")
    else:
        monkeypatch.setattr(script_runner, "_clean_problem_modules", None)
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert dashboard.keep_keras_state() is False
    (record,) = [r for r in caplog.records if r.name == "digitrec"]
    assert record.levelno == logging.WARNING
    assert "_clean_problem_modules" in record.getMessage() and "20x slower" in record.getMessage()
    assert getattr(script_runner, "_clean_problem_modules", None) is None  # nothing put in its place


def test_the_hook_is_replaced_when_it_is_there(monkeypatch, caplog):
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.setattr(script_runner, "_clean_problem_modules", lambda: None)
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert dashboard.keep_keras_state() is True
    assert script_runner._clean_problem_modules is dashboard._keep and not caplog.records


def test_the_dashboard_needs_no_emoji_font():
    package = ROOT / digitrec_app.__name__
    found = {
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(ord(ch) > 127 and ch not in TYPOGRAPHY for ch in line)
    }
    assert not found, "characters that need an emoji or symbol font (use :material/...: icons):\n" + "\n".join(
        sorted(found))
