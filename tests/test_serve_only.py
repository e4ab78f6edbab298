"""The serve-only install: without TensorFlow and the rest of the `train` extra, everything but
training and fine-tuning works, and the Train page says in one sentence what to install.

Each test starts a fresh interpreter running this file as a script. There the `train` extra's modules
cannot be imported and `importlib.util.find_spec` does not find them, as after `pip install digitrec`
without `[train]` (tests/support/serve_only.py); the script then drives the dashboard through AppTest, or
runs the CLI.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.serve_only import BLOCKED, block_training_modules

TIMEOUT = 300  # seconds for one fresh interpreter: Streamlit, the model, 10,000 test digits
DONE = "serve-only: ok"


def check_blocked() -> None:
    """The simulation itself: without it every check below would pass with TensorFlow at hand."""
    from digitrec_core.optional import has_tensorflow

    assert not has_tensorflow(), "has_tensorflow() is True in the serve-only interpreter"
    for name in ("tensorflow", "keras"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        raise AssertionError(f"import {name} worked in the serve-only interpreter")


def check_dashboard() -> None:
    """Home, Draw, Test browser, My digits and Train, one after the other in one session."""
    from digitrec_core.optional import install_hint
    from tests.support.drawings import stroke_one
    from tests.support.pages import PAGES, SHIPPED, draw, has_key, live_data, markdowns, metrics, open_app, run
    from tests.support.personal import add_digits

    at = open_app()  # Home
    assert SHIPPED["name"] in "\n".join(markdowns(at)), "Home: no card for the shipped model"
    assert metrics(at)["Test images"] == "10,000", metrics(at)

    run(at.switch_page(PAGES["draw"]))  # the browser's files came with the install: the page classifies
    assert live_data(at)["model"]["name"] == SHIPPED["name"], "Draw: no live classifier"
    at.session_state["live_fallback"] = {"sha": "*", "reason": "no WebAssembly"}  # and without WebAssembly:
    draw(at, stroke_one())
    assert "## Prediction: 1" in markdowns(at), ("Draw", markdowns(at))

    run(at.switch_page(PAGES["browse"]))
    caption = at.caption[0].value
    assert f"{SHIPPED['test_accuracy']:.2%} of the 10,000 test digits right" in caption, caption
    shown = [t for t in markdowns(at) if "Expected:" in t or "Predicted:" in t]
    assert shown == ["### Expected: 7", "### :green[Predicted: 7]"], shown  # test digit #0 is a 7

    add_digits(per_class=4)  # enough to fine-tune, were TensorFlow there
    run(at.switch_page(PAGES["my_digits"]))
    assert metrics(at)["Read right"] == "12 of 12", metrics(at)
    fine_tune = at.button(key="finetune")
    why = install_hint("Fine-tuning") + "."
    assert fine_tune.disabled and fine_tune.help == why and why in [c.value for c in at.caption]

    run(at.switch_page(PAGES["train"]))
    assert [i.value for i in at.info] == [install_hint("Training") + "."], [i.value for i in at.info]
    assert not has_key(at.button, "FormSubmitter:hyperparameters-Train") and not at.number_input
    assert [c.value for c in at.caption][-1].startswith("No runs yet")  # the stored runs still show


def run_cli(*argv: str) -> None:
    from digitrec_cli.main import main

    code = main(list(argv))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":  # the fresh interpreter the tests below start
    block_training_modules()
    check_blocked()
    command, *rest = sys.argv[1:]
    {"dashboard": check_dashboard, "cli": run_cli}[command](*rest)
    leaked = sorted(set(BLOCKED) & set(sys.modules))
    assert not leaked, f"imported in the serve-only interpreter: {leaked}"
    print(DONE)
    sys.exit(0)


# ---- the tests ---------------------------------------------------------------------------------------


def serve_only(*args: str, tmp_path: Path, mnist_dir: Path | None = None) -> subprocess.CompletedProcess:
    """This file as a script in a fresh interpreter, with its own store (and MNIST, when given)."""
    env = {**os.environ, "DIGITREC_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    # The script imports tests.support, but digitrec_* must come from the install under test (CI checks a
    # wheel install, package data included), not from this checkout: so PYTHONPATH gets a folder holding
    # only a link to tests/, rather than the repository root.
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "path"), env.get("PYTHONPATH")]))
    env.pop("DIGITREC_MNIST_DIR", None)
    if mnist_dir is not None:
        env["DIGITREC_MNIST_DIR"] = str(mnist_dir)
    result = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0 and DONE in result.stdout, (result.returncode, result.stderr[-6000:])
    return result


@pytest.mark.mnist
def test_the_dashboard_draws_browses_and_says_what_training_needs(tmp_path, mnist_dir):
    serve_only("dashboard", tmp_path=tmp_path, mnist_dir=mnist_dir)


def test_the_cli_lists_the_models_without_tensorflow(tmp_path):
    from digitrec_core.store import shipped_info

    out = serve_only("cli", "models", tmp_path=tmp_path).stdout
    (row,) = [line for line in out.splitlines() if shipped_info().name in line]
    assert row.startswith("* ") and "pretrained" in row, out  # the only model, and the active one


@pytest.mark.mnist
def test_the_cli_predicts_without_tensorflow(tmp_path, mnist_dir):
    out = serve_only("cli", "predict", "--index", "0", tmp_path=tmp_path, mnist_dir=mnist_dir).stdout
    assert "Expected: 7" in out and "Predicted: 7" in out, out
