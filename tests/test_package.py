"""DigitRec as users install it: the wheel's contents, the `digitrec` command, `digitrec app`.

The wheel is built once (pip, build isolation: what `pip install .` does) and inspected; whether a
serve-only install really runs without TensorFlow is `.ci/run`'s second virtualenv and
tests/test_serve_only.py.
"""

from __future__ import annotations

import contextlib
import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import digitrec_app
from digitrec_app import launch
from digitrec_cli import main as cli
from digitrec_core.store import SHIPPED_DIR
from tests.support import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # From a copy without the clone's build outputs, as from a fresh clone: setuptools reuses `build/lib`, which
    # keeps every module ever built, moved or deleted ones too.
    source = tmp_path_factory.mktemp("source") / "digitrec"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "site", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(out), str(source)], check=True, timeout=600)
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
    assert {"digitrec_cli/__main__.py", "digitrec_cli/main.py"} <= names  # the command line beside the dashboard
    core = {p.relative_to(ROOT).as_posix() for p in (ROOT / "digitrec_core").rglob("*.py")}
    assert core <= names and "digitrec_core/serving/runtime.py" in core  # subpackages (learning/, serving/) too
    assert not [n for n in names if n.startswith(("tests/", "bench/", "assets/"))]  # nothing of the clone's
    assert "digitrec_app/browser.py" not in names  # the browser tests' tooling lives in bench/chromium.py


def test_the_wheel_carries_the_browsers_files_and_the_manifest_streamlit_finds_them_by(wheel):
    from digitrec_app.ui.live import ORT_VERSION, WEB

    names = set(wheel.namelist())
    for f in ("live_draw.js", "live_draw.css", "preprocess.js", "classifier.js", "ort/ort.wasm.min.mjs",
              "ort/ort-wasm-simd-threaded.mjs", "ort/ort-wasm-simd-threaded.wasm.gz", "ort/LICENSE"):
        assert wheel.read(f"digitrec/web/{f}") == (WEB / f).read_bytes(), f
    assert "digitrec/pyproject.toml" in names and "asset_dir" in wheel.read("digitrec/pyproject.toml").decode()
    # the one pinned version is the one shipped: onnxruntime-web names itself in its module
    assert f'"{ORT_VERSION}"' in wheel.read("digitrec/web/ort/ort.wasm.min.mjs").decode()


def test_the_wheel_installs_a_digitrec_command_and_needs_no_tensorflow_to_serve(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = email.message_from_bytes(wheel.read(meta)).get_all("Requires-Dist")
    base = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("onnxruntime") for r in base) and any(r.startswith("streamlit") for r in base)
    assert not [r for r in base if r.split(">")[0].split("<")[0].strip() in ("tensorflow", "tensorflow-cpu", "keras")]
    train = [r for r in requires if 'extra == "train"' in r]
    assert any(r.startswith("tensorflow-cpu") for r in train) and any(r.startswith("tf2onnx") for r in train)
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "digitrec = digitrec_cli.main:main" in wheel.read(entry).decode()


def test_digitrec_app_and_a_clone_run_streamlit_with_the_same_options():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": str(value).lower() for section, d in config.items() for key, value in d.items()}
    assert flat == digitrec_app.SERVER_OPTIONS


def test_digitrec_app_runs_the_packaged_script_and_passes_streamlits_options_through(monkeypatch):
    calls = []
    monkeypatch.setattr(launch, "supervise", lambda cmd: calls.append(cmd) or 0)
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


@pytest.mark.parametrize("argv", [["digitrec", "--help"], [sys.executable, "-m", "digitrec_cli", "--help"]])
def test_the_console_command_and_python_m_both_work(argv):
    if argv[0] == "digitrec":
        argv[0] = str(Path(sys.executable).with_name("digitrec"))
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    for command in ("train", "finetune", "evaluate", "predict", "models", "activate", "app"):
        assert command in out


@pytest.fixture
def streamlit_config():
    """`digitrec app` parses Streamlit's config in this process: parse the project's again afterwards."""
    from streamlit import config

    cwd = Path.cwd()
    yield
    with contextlib.chdir(cwd):  # torn down before monkeypatch's chdir is undone
        config.get_config_options(force_reparse=True, options_from_flags={})


def test_digitrec_app_reads_public_mode_from_secrets_and_warns_before_the_server_starts(
        monkeypatch, tmp_path, capsys, streamlit_config):
    calls = []
    monkeypatch.setattr(launch, "supervise", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.delenv("DIGITREC_PUBLIC", raising=False)
    monkeypatch.chdir(tmp_path)  # Streamlit reads ./.streamlit/{config,secrets}.toml from here
    (tmp_path / ".streamlit").mkdir()

    assert cli.main(["app"]) == 0  # the local default: every interface, so said before the server starts
    assert "--client.showErrorDetails=none" not in calls[-1]
    assert "listens on every network interface (server.address is unset) without public mode" in capsys.readouterr().err

    assert cli.main(["app", "--server.address", "localhost"]) == 0
    assert "without public mode" not in capsys.readouterr().err
    (tmp_path / ".streamlit" / "config.toml").write_text('[server]\naddress = "127.0.0.1"\n')
    assert cli.main(["app"]) == 0
    assert "without public mode" not in capsys.readouterr().err
    assert cli.main(["app", "--server.address=0.0.0.0"]) == 0  # the user's flag beats the config file
    assert "server.address is 0.0.0.0" in capsys.readouterr().err

    (tmp_path / ".streamlit" / "secrets.toml").write_text('DIGITREC_PUBLIC = "1"\n')
    assert cli.main(["app", "--server.address=0.0.0.0"]) == 0  # public mode set only in secrets
    assert "--client.showErrorDetails=none" in calls[-1] and "without public mode" not in capsys.readouterr().err
    (tmp_path / ".streamlit" / "secrets.toml").write_text('DIGITREC_PUBLIC = [oops\n')  # Streamlit will say
    assert cli.main(["app", "--server.address=0.0.0.0"]) == 0
    assert "--client.showErrorDetails=none" not in calls[-1] and "without public mode" in capsys.readouterr().err


@pytest.mark.parametrize("args, options", [
    ([], {}),
    (["--server.port", "8502", "--server.headless=true"], {"server.port": "8502", "server.headless": "true"}),
    (["--server.address=::", "--logger.level", "debug"], {"server.address": "::", "logger.level": "debug"}),
    (["--server.runOnSave", "--server.port=1"], {"server.runOnSave": "", "server.port": "1"}),
])
def test_streamlits_flags_are_read_as_streamlit_reads_them(args, options):
    from digitrec_app.launch import flag_options

    assert flag_options(args) == options
