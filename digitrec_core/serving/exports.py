"""A model written out for use elsewhere: ONNX, LiteRT, TensorFlow SavedModel or a `.keras` file.

Exporting never deletes or overwrites anything but an earlier export of the same kind, unless
`force=True` (the CLI's `--force`). `check_target` says what is wrong with a target in words, and
runs before TensorFlow is imported or any work done. An earlier export is recognised by its
contents, not its name alone:

    onnx        a `.onnx` file that ONNX Runtime loads as a digit classifier (one float input
                (N, 28, 28, 1), one output (N, 10))
    litert      a `.tflite` file with the TFLite flatbuffer identifier `TFL3` at bytes 4-8
    keras       a `.keras` file that is a zip holding `config.json` and `model.weights.h5`
    savedmodel  a folder holding `saved_model.pb` and `variables/`, and nothing but those, `assets/`
                and `fingerprint.pb` (an empty folder is also fine: there is nothing to lose)

A file export must carry its format's suffix, a SavedModel is a folder: a folder given for a file
format, or a file for a SavedModel, is refused even with `force` (it is a mistaken path, not an old
copy). Everything is written under a temporary name beside the target and renamed into place; an
earlier SavedModel folder is moved aside, the new one renamed in, then the old one deleted, so a
failure at any point leaves the earlier export as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec_core.files import replace_dir, replace_file
from digitrec_core.models import INPUT_SHAPE
from digitrec_core.serving.runtime import FILTERS_KEY, LAYERS_KEY, OnnxModel, OnnxModelError, metadata_entry, seal


class ExportError(ValueError):
    """A target that must not be written, or an export that failed, said in words a user can act on."""


@dataclass(frozen=True)
class Format:
    name: str
    label: str  # for messages: "an ONNX file"
    suffix: str | None  # a file format's suffix; None for a folder
    is_earlier: Callable[[Path], bool]  # is this path an earlier export of this kind?
    parts: frozenset[str] = frozenset()  # a folder format: the names it may hold


def _is_onnx(path: Path) -> bool:
    try:
        OnnxModel(path)
    except OnnxModelError:
        return False
    return True


def _is_tflite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _is_keras(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return {"config.json", "model.weights.h5"} <= set(zf.namelist())
    except zipfile.BadZipFile:
        return False


def holds_only(parts: frozenset[str], *, required: tuple[str, ...] = ()) -> Callable[[Path], bool]:
    """A folder format's test: empty (nothing to lose), or only `parts`, with all of `required`."""

    def is_earlier(path: Path) -> bool:
        names = {p.name for p in path.iterdir()}
        return not names or (names <= parts and all((path / r).exists() for r in required))

    return is_earlier


SAVED_MODEL_PARTS = frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb"})

FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", "an ONNX file", ".onnx", _is_onnx),
    "litert": Format("litert", "a LiteRT (TFLite) file", ".tflite", _is_tflite),
    "savedmodel": Format("savedmodel", "a TensorFlow SavedModel folder", None,
                         holds_only(SAVED_MODEL_PARTS, required=("saved_model.pb", "variables")), SAVED_MODEL_PARTS),
    "keras": Format("keras", "a Keras file", ".keras", _is_keras),
}
FILE_SUFFIXES = {f.suffix for f in FORMATS.values() if f.suffix} | {".zip", ".pb", ".h5"}


def _is_digits_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "index.csv" in {name.rpartition("/")[2] for name in zf.namelist()}
    except (zipfile.BadZipFile, OSError):
        return False


# `digitrec digits export`: the personal digit set's zip (`PersonalDigits.export_zip`), by the same rules.
DIGITS_ZIP = Format("digits", "a zip of your digits", ".zip", _is_digits_zip)


def _format(fmt: str | Format) -> Format:
    if isinstance(fmt, Format):
        return fmt
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return FORMATS[fmt]


def check_target(out: str | os.PathLike, fmt: str | Format, *, force: bool = False) -> Path:
    """`out` as a Path if an export in `fmt` may be written there, else ExportError saying why.

    Cheap and TensorFlow-free: call it before loading a model or training one.
    """
    f, out = _format(fmt), Path(out)
    if f.suffix and out.suffix.lower() != f.suffix:
        raise ExportError(f"{out}: {f.label} is named *{f.suffix}; try {out.with_suffix(f.suffix)}.")
    if f.suffix is None and out.suffix.lower() in FILE_SUFFIXES:
        raise ExportError(f"{out}: {f.label} is a folder, and this looks like a file name; give a folder.")
    existing = out.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ExportError(f"{out}: {existing} is a file, not a folder.")
    try:  # a real probe: os.access says yes to root on a read-only mount or in /proc
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise ExportError(f"{out}: cannot write in {existing} ({e.strerror or e}).") from None
    if not out.exists() and not out.is_symlink():
        return out
    if f.suffix and out.is_dir():
        example = out / f"model{f.suffix}"
        raise ExportError(f"{out} is a folder; {f.label} is one file: give a file name, e.g. {example}.")
    if f.suffix is None and not out.is_dir():
        raise ExportError(f"{out} is a file; {f.label} is a folder: give a new or empty folder.")
    if force or _is_earlier(f, out):
        return out
    what = f"already holds other files ({_shown(out, f.parts)})" if out.is_dir() else "already exists"
    raise ExportError(f"{out} {what} and is not an earlier export of its kind ({f.label}); nothing was "
                      "written. Choose another path, or pass --force to replace it.")


def _is_earlier(f: Format, out: Path) -> bool:
    try:
        return out.exists() and f.is_earlier(out)
    except OSError:  # unreadable: not something we can tell is ours
        return False


def _shown(folder: Path, known: frozenset[str]) -> str:
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return "unreadable"
    names = [n for n in names if n not in known] or names
    return ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")


# -- Keras to files (these import TensorFlow) ---------------------------------------------------


# Keras's exporters (tf2onnx above all) trace graphs through global state: one at a time, even
# when a dashboard's training thread saves while another tab exports.
_EXPORTING = threading.Lock()


def _export(model, path: Path, fmt: str) -> None:
    """`model.export`, after one call on a zero image: Keras refuses a model that has never been
    called ("The model provided has never called"), as a freshly loaded one has not."""
    # Keras's tf2onnx shim trips NumPy 2's np.object FutureWarning: noise, not news, for a user.
    warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
    with _EXPORTING:
        model(np.zeros((1, *INPUT_SHAPE), np.float32), training=False)
        model.export(path, format=fmt, verbose=False)


def inference_copy(model):
    """The same network and weights without the optimiser's state: a third of the size, and
    inference and fine-tuning (which starts a new optimiser) never need it."""
    copy = type(model).from_config(model.get_config())  # clone_model would recompile it
    copy.set_weights(model.get_weights())
    return copy


def save_keras(model, path: Path) -> None:
    inference_copy(model).save(path)


def onnx_bytes(model, *, taps: bool = False) -> bytes:
    """The model as a sealed ONNX file (see `digitrec_core.serving.runtime`), checked to load in ONNX Runtime.

    With `taps` (the store's `model.onnx`), the file also outputs what `digitrec_core.explain()` shows:
    each block's output after the probabilities, named in its metadata with the first filters. The
    probabilities stay the first output, so a tool that reads only that sees the plain classifier."""
    extra = b""
    if taps:
        from digitrec_core.serving.explanations import first_filters, tapped_model

        model, names = tapped_model(model)
        extra = metadata_entry(LAYERS_KEY, json.dumps(names))
        if (found := first_filters(model)) is not None:
            layer, kernel = found
            extra += metadata_entry(FILTERS_KEY, json.dumps(
                {"layer": layer, "shape": list(kernel.shape), "values": kernel.ravel().tolist()}))
    with tempfile.TemporaryDirectory(prefix="digitrec-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        _export(model, path, "onnx")
        data = seal(path.read_bytes() + extra)
    OnnxModel(data)  # a converter that wrote something ORT cannot run fails here, not when serving
    return data


def export_model(model, fmt: str, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the Keras `model` to `out` in `fmt` (one of FORMATS), by the rules above; returns the path."""
    f = _format(fmt)
    out = check_target(out, f, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    if f.name == "savedmodel":
        replace_dir(out, lambda tmp: _export(model, tmp, "tf_saved_model"))
    elif f.name == "onnx":
        data = onnx_bytes(model)
        replace_file(out, lambda tmp: tmp.write_bytes(data))
    elif f.name == "litert":
        replace_file(out, lambda tmp: _export(model, tmp, "litert"))
    else:
        replace_file(out, lambda tmp: save_keras(model, tmp))
    return out
