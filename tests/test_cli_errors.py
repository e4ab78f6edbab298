"""Bad CLI invocations (issue 19): each one is refused or fails in one line on stderr with a non-zero
exit code, never a traceback. `CASES` is the list; add to it when a new way to fail turns up.

Most run in-process (`cli.main` under capsys, the store's failures simulated by patching the file
system); a serve-only install runs in a fresh interpreter with the `train` extra's modules blocked
(tests/support/serve_only.py).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from digitrec_cli.main import main
from digitrec_core.jobs import StoreLock
from digitrec_core.optional import install_hint
from digitrec_core.serving.runtime import seal
from digitrec_core.store import SHIPPED_DIR, shipped_info
from tests.support import ROOT
from tests.support.mnist import make_synthetic, write_idx
from tests.support.onnx_models import onnx_classifier
from tests.support.personal import fill


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]  # "{home}" and "{tmp}" are filled in
    says: str  # a fragment of the one message line: the right failure, not just any
    setup: Callable | None = None  # setup(home, tmp, monkeypatch), before the command runs; may return an undo
    serve_only: bool = False  # in a fresh interpreter without TensorFlow


# -- what the setups build ------------------------------------------------------------------------------


def broken_model(home: Path, name: str, bias: float) -> None:
    """A stored model (the shipped one's files) whose model.onnx answers `bias` for every digit."""
    folder = home / "models" / name
    shutil.copytree(SHIPPED_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "model.onnx").write_bytes(seal(onnx_classifier(bias)))


def with_nan_model(home, tmp, monkeypatch):
    broken_model(home, "nan-model", float("nan"))


def with_huge_model(home, tmp, monkeypatch):
    broken_model(home, "huge-model", 1e33)


def used_store(home: Path) -> None:
    """A store that has been used: its folders and its lock file exist (a full disk came later)."""
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "personal").mkdir(exist_ok=True)
    with StoreLock(home) as lock:
        lock.acquire("an earlier run")


def failing_writes(monkeypatch, root: Path, code: int, *, existing_too: bool) -> None:
    """Writes under `root` fail with `code`, as the kernel fails them: creating anything (a folder, a
    file), and with `existing_too` (a read-only store) opening an existing file for writing."""
    real_os_open, real_mkdir, real_open = os.open, os.mkdir, builtins.open
    root = root.resolve()

    def refused(path) -> bool:
        if isinstance(path, int):
            return False
        path = Path(os.fsdecode(path)).resolve()
        return path.is_relative_to(root) and (existing_too or not path.exists())

    def fail(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def os_open(path, flags, mode=0o777, *, dir_fd=None):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and refused(path):
            fail(path)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    def mkdir(path, mode=0o777, *, dir_fd=None):
        if Path(os.fsdecode(path)).resolve().is_relative_to(root):
            fail(path)
        return real_mkdir(path, mode, dir_fd=dir_fd)

    def open_(file, mode="r", *args, **kwargs):
        if set(mode) & set("wxa+") and refused(file):
            fail(file)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)


def read_only(home, tmp, monkeypatch) -> Callable | None:
    """A store the user cannot write: chmod where that binds; as root (who writes anyway), EROFS."""
    used_store(home)
    if os.geteuid() == 0:
        failing_writes(monkeypatch, home, errno.EROFS, existing_too=True)
        return None
    paths = [home, *home.rglob("*")]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return lambda: [path.chmod(0o755) for path in paths]  # pytest must be able to remove it


def read_only_with_a_zip(home, tmp, monkeypatch) -> Callable | None:
    from digitrec_core.personal import PersonalDigits

    other = PersonalDigits(tmp / "other")
    fill(other, 3)
    other.export_zip(tmp / "mine.zip")
    return read_only(home, tmp, monkeypatch)


def full_disk(home, tmp, monkeypatch):
    used_store(home)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp / "rescue"))  # where a run that cannot be saved goes
    (tmp / "rescue").mkdir()
    failing_writes(monkeypatch, home, errno.ENOSPC, existing_too=False)


def full_disk_everywhere(home, tmp, monkeypatch):
    """The store and the system's temporary folder are both full: a trained run is lost, and says so."""
    used_store(home)
    monkeypatch.setattr(tempfile, "tempdir", str(home / "tmp"))
    failing_writes(monkeypatch, home, errno.ENOSPC, existing_too=False)


def notes_file(home, tmp, monkeypatch):
    (tmp / "notes.zip").write_text("my notes")
    (tmp / "notes.txt").write_text("my notes")
    (tmp / "folder.zip").mkdir()
    (tmp / "folder.onnx").mkdir()


# -- the list ----------------------------------------------------------------------------------------------

TRAIN = ("train", "--arch", "seed", "--epochs", "1", "--limit", "200")
SHIPPED = shipped_info().name
SET_HOME = "set DIGITREC_HOME"

CASES: dict[str, Case] = {
    # numbers no run can honour: argparse's one-line error, before any work
    **{f"train {flag} {value}": Case(("train", flag, value), f"argument {flag}:") for flag, value in (
        ("--limit", "-5"), ("--limit", "0"), ("--limit", "1.5"), ("--epochs", "0"), ("--epochs", "-1"),
        ("--batch-size", "0"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--lr", "-0.1"),
        ("--val-split", "1"), ("--val-split", "-0.1"), ("--val-split", "nan"), ("--seed", "-1"),
        ("--seed", str(2**32)), ("--negatives", "-0.5"), ("--negatives", "nan"), ("--negatives", "100"))},
    **{f"finetune {flag} {value}": Case(("finetune", flag, value), f"argument {flag}:") for flag, value in (
        ("--epochs", "0"), ("--holdout", "1"), ("--holdout", "nan"), ("--holdout", "-0.5"), ("--seed", "-3"))},
    **{f"sweep {flag} {value}": Case(("sweep", flag, value), f"argument {flag}:") for flag, value in (
        ("--trials", "0"), ("--lr", "nan"), ("--epochs", "0"), ("--batch-size", "-32"), ("--limit", "-5"),
        ("--cpus-per-trial", "0"), ("--grace-period", "0"), ("--reduction-factor", "1"), ("--val-split", "1"))},
    "predict --index -1": Case(("predict", "--index", "-1"), "argument --index:"),
    "train --arch nope": Case(("train", "--arch", "nope"), "argument --arch: invalid choice"),
    "models with an unknown option": Case(("models", "--limit", "5"), "unrecognized arguments: --limit 5"),
    # what is not there
    "predict --index 10000": Case(("predict", "--index", "10000"), "--index must be in 0–199"),
    "predict --model nope": Case(("predict", "--index", "0", "--model", "nope"), "No model named 'nope'"),
    "evaluate --model nope": Case(("evaluate", "--model", "nope"), "No model named 'nope'"),
    "activate nope": Case(("activate", "nope"), "No model named 'nope'"),
    "export nope": Case(("export", "nope", "--format", "onnx", "--out", "{tmp}/x.onnx"), "No model named 'nope'"),
    "finetune --model nope": Case(("finetune", "--model", "nope"), "Fine-tuning needs at least"),
    "predict --image missing": Case(("predict", "--image", "{tmp}/missing.png"), "missing.png"),
    "predict --image not-an-image": Case(("predict", "--image", "{tmp}/notes.txt"), "notes.txt", notes_file),
    "digits import missing": Case(("digits", "import", "{tmp}/missing.zip"), "does not exist"),
    "sweep --space missing": Case(("sweep", "--space", "{tmp}/missing.toml"), "could not be read"),
    "predict --plot in a missing folder": Case(("predict", "--index", "0", "--plot", "{tmp}/no/such/d.png"),
                                               "No such file or directory"),
    # what must not be overwritten, or is the wrong kind of thing
    "digits export over a file": Case(("digits", "export", "{tmp}/notes.zip"), "already exists", notes_file),
    "digits export to a folder": Case(("digits", "export", "{tmp}/folder.zip", "--force"), "is a folder",
                                      notes_file),
    "digits export without .zip": Case(("digits", "export", "{tmp}/digits.txt"), "is named *.zip"),
    "export to a folder": Case(("export", "--format", "onnx", "--out", "{tmp}/folder.onnx"), "is a folder",
                               notes_file),
    "train --export over a file": Case((*TRAIN, "--export", "{tmp}/notes.txt"), "is a file", notes_file),
    # models whose numbers are not probabilities
    "predict with a NaN model": Case(("predict", "--index", "0", "--model", "nan-model"),
                                     "The model nan-model gives outputs that are not probabilities", with_nan_model),
    "evaluate with a 1e33 model": Case(("evaluate", "--model", "huge-model"),
                                       "The model huge-model gives outputs that are not probabilities",
                                       with_huge_model),
    # runs that cannot give a model
    "train --lr 1e10 (diverges)": Case(("train", "--arch", "seed", "--epochs", "1", "--limit", "200", "--lr", "1e10"),
                                       "Training diverged"),
    "train --batch-size 100000": Case((*TRAIN, "--batch-size", "100000"), "for a batch size of 100000"),
    # a read-only store
    "train, read-only store": Case(TRAIN, SET_HOME, read_only),
    "finetune, read-only store": Case(("finetune",), SET_HOME, read_only),
    "sweep, read-only store": Case(("sweep", "--epochs", "1"), SET_HOME, read_only),
    "activate, read-only store": Case(("activate", SHIPPED), SET_HOME, read_only),
    "digits import, read-only store": Case(("digits", "import", "{tmp}/mine.zip"), "Could not", read_only_with_a_zip),
    # a full disk
    "activate, full disk": Case(("activate", SHIPPED), "free some disk space", full_disk),
    "train, full disk: saved elsewhere": Case(TRAIN, "its weights were written to", full_disk),
    "train, full disk everywhere: lost": Case(TRAIN, "so the run is lost", full_disk_everywhere),
    # a serve-only install (`pip install digitrec`, no `train` extra)
    **{f"{what}, serve-only": Case(argv, install_hint(doing), serve_only=True) for what, argv, doing in (
        ("train", ("train", "--epochs", "1"), "Training"), ("finetune", ("finetune",), "Fine-tuning"),
        ("export", ("export", "--format", "onnx", "--out", "{tmp}/x.onnx"), "Exporting"),
        ("sweep", ("sweep", "--epochs", "1"), "Sweeping"))},
}

# Run from the repository root: `python -c` imports from its working directory, so tests.support imports.
SERVE_ONLY = """
import sys
from tests.support.serve_only import block_training_modules
block_training_modules()
from digitrec_cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_idx(folder, make_synthetic(600, 200))
    return folder


def run_case(case: Case, tmp: Path, data_dir: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    home = tmp / "home"
    argv = [a.format(home=home, tmp=tmp) for a in case.argv]
    env = {"DIGITREC_HOME": str(home), "DIGITREC_MNIST_DIR": str(data_dir)}
    if case.serve_only:
        out = subprocess.run([sys.executable, "-c", SERVE_ONLY, *argv], cwd=ROOT, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=120)
        return out.returncode, out.stdout, out.stderr
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    undo = case.setup(home, tmp, monkeypatch) if case.setup is not None else None
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    finally:
        monkeypatch.undo()  # the file system works again before anything else runs
        if undo is not None:
            undo()
    out = capsys.readouterr()
    return code, out.out, out.err


def message_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:") or ": error: " in line]


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_invocation_ends_in_one_line_and_a_non_zero_code(name, tmp_path, data_dir, monkeypatch, capsys):
    code, stdout, stderr = run_case(CASES[name], tmp_path, data_dir, monkeypatch, capsys)
    assert code not in (0, None), (code, stdout, stderr)
    assert "Traceback" not in stderr + stdout, stderr
    messages = message_lines(stderr)
    assert len(messages) == 1 and stderr.rstrip().splitlines()[-1] == messages[0], stderr
    assert CASES[name].says in messages[0], messages[0]


def test_the_list_covers_every_command_but_app():
    from digitrec_cli.parser import parser

    commands = set(parser()._subparsers._group_actions[0].choices) - {"app"}
    assert commands == {c.argv[0] for c in CASES.values()}


def test_a_run_the_store_could_not_take_is_in_the_rescued_file(tmp_path, data_dir, monkeypatch, capsys):
    import keras

    code, _, stderr = run_case(CASES["train, full disk: saved elsewhere"], tmp_path, data_dir, monkeypatch, capsys)
    assert code == 2
    (rescued,) = (tmp_path / "rescue").glob("digitrec-unsaved-seed-*.keras")
    assert str(rescued) in stderr
    assert keras.saving.load_model(rescued, compile=False).count_params() == 81_066
    assert not list((tmp_path / "home" / "models").iterdir())  # nothing half-written in the store


def test_digits_export_replaces_an_earlier_export_or_with_force_only(tmp_path, monkeypatch, capsys):
    from digitrec_core.personal import PersonalDigits

    home = tmp_path / "home"
    monkeypatch.setenv("DIGITREC_HOME", str(home))
    fill(PersonalDigits(home), 3)
    notes = tmp_path / "notes.zip"
    notes.write_text("my notes")
    assert main(["digits", "export", str(notes)]) == 2
    assert notes.read_text() == "my notes"  # was an empty zip before
    assert main(["digits", "export", str(notes), "--force"]) == 0
    assert main(["digits", "export", str(notes)]) == 0  # an earlier export of the digits: replaced, as a model's is
    assert "Exported 3 digits" in capsys.readouterr().out
