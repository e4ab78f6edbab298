"""DigitRec as users install it: the wheel's contents, the `digitrec` command, `digitrec app`.

The wheel is built once (pip, build isolation: what `pip install .` does) and inspected; whether a
serve-only install really runs without TensorFlow is `.ci/run`'s second virtualenv and
tests/test_serve_only.py.
"""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from conftest import ROOT

import digitrec_app
from digitrec_core import cli
from digitrec_core.store import SHIPPED_DIR


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(ROOT)], check=True, timeout=600)
    (path,) = out.glob("digitrec-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_pretrained_model_and_every_page(wheel):
    names = set(wheel.namelist())
    for f in ("model.keras", "model.onnx", "meta.json"):
        assert f"digitrec_core/pretrained/{f}" in names
        assert wheel.read(f"digitrec_core/pretrained/{f}") == (SHIPPED_DIR / f).read_bytes()
    pages = {p.name for p in (ROOT / "digitrec_app" / "app_pages").glob("*.py")}
    assert {f"digitrec_app/app_pages/{p}" for p in pages} <= names and "browse.py" in pages
    assert {"digitrec_app/app.py", "digitrec_app/dashboard.py", "digitrec_app/ui/canvas.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "assets/"))]  # nothing of the clone's


def test_the_wheel_installs_a_digitrec_command_and_needs_no_tensorflow_to_serve(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = email.message_from_bytes(wheel.read(meta)).get_all("Requires-Dist")
    base = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("onnxruntime") for r in base) and any(r.startswith("streamlit") for r in base)
    assert not [r for r in base if r.split(">")[0].split("<")[0].strip() in ("tensorflow", "tensorflow-cpu", "keras")]
    train = [r for r in requires if 'extra == "train"' in r]
    assert any(r.startswith("tensorflow-cpu") for r in train) and any(r.startswith("tf2onnx") for r in train)
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "digitrec = digitrec_core.cli:main" in wheel.read(entry).decode()


def test_digitrec_app_and_a_clone_run_streamlit_with_the_same_options():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": str(value).lower() for section, d in config.items() for key, value in d.items()}
    assert flat == digitrec_app.SERVER_OPTIONS


def test_digitrec_app_runs_the_packaged_script_and_passes_streamlits_options_through(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert cli.main(["app", "--server.port", "8502", "--server.headless=true"]) == 0
    (cmd,) = calls
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and Path(cmd[4]) == digitrec_app.APP_SCRIPT
    assert digitrec_app.APP_SCRIPT.is_file()
    assert "--server.fileWatcherType=none" in cmd
    assert cmd[-3:] == ["--server.port", "8502", "--server.headless=true"]  # the user's last: they win


def test_options_meant_for_streamlit_are_refused_by_other_commands(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["models", "--server.port", "8502"])
    assert e.value.code == 2 and "unrecognized arguments: --server.port 8502" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["digitrec", "--help"], [sys.executable, "-m", "digitrec_core", "--help"]])
def test_the_console_command_and_python_m_both_work(argv):
    if argv[0] == "digitrec":
        argv[0] = str(Path(sys.executable).with_name("digitrec"))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    for command in ("train", "finetune", "evaluate", "predict", "models", "activate", "app"):
        assert command in out
