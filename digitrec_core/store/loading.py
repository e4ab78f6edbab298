"""Loading a stored model: through ONNX Runtime for serving (no TensorFlow), or as a Keras model for
training, fine-tuning and export; and the pretrained model shipped in the package.

A model saved before DigitRec wrote ONNX files gets its `model.onnx` on first load (that needs
TensorFlow; without it the error says what to install). Every ONNX model is probed on a blank image
before it is used, so weights that give NaN make a load fall back to another model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from digitrec_core import optional  # optional.has_tensorflow() at call time: tests simulate its absence
from digitrec_core.files import write_atomic
from digitrec_core.models import INPUT_SHAPE
from digitrec_core.optional import install_hint, require_tensorflow
from digitrec_core.serving.evaluation import ModelOutputError, check_probabilities
from digitrec_core.serving.exports import onnx_bytes
from digitrec_core.serving.runtime import ONNX_FILE, OnnxModel, OnnxModelError
from digitrec_core.store.errors import ModelStoreError, OnnxNeedsTensorFlow
from digitrec_core.store.schema import META_FILE, MODEL_FILE, ModelInfo, read_info

Runtime = Literal["onnx", "keras"]
RUNTIMES: tuple[str, ...] = ("onnx", "keras")
# The pretrained model is package data, found through importlib.resources (a regular install
# unpacks it to a folder; a zipped install is not supported, Keras loads from a path).
SHIPPED_DIR = Path(str(resources.files("digitrec_core") / "pretrained"))


@dataclass
class LoadedModel:
    model: Any = field(repr=False)  # an OnnxModel (runtime "onnx") or a keras.Model ("keras")
    info: ModelInfo
    notice: str | None = None  # set when the requested model was unreadable and another was used
    runtime: Runtime = "onnx"


def load_keras(path: Path):
    require_tensorflow("Loading a model for training, fine-tuning or export")
    import keras

    if not path.is_file():
        raise ModelStoreError(f"The model file {path} is missing.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises a zoo of types for a damaged archive
        raise ModelStoreError(f"The model file {path} is corrupt or not a Keras model "
                              f"({type(e).__name__}: {e}).") from e


def _load_onnx(info: ModelInfo) -> OnnxModel:
    path = info.path / ONNX_FILE
    if not path.exists():
        return _probed(_make_onnx(info), info)
    try:
        model = OnnxModel.load(path)
    except OnnxModelError as e:
        raise ModelStoreError(f"The ONNX file {path} cannot be used: {e}. Delete it, and the next load makes it "
                              "again from model.keras (that needs TensorFlow).") from e
    return _probed(model, info)


_BLANK = np.zeros((1, *INPUT_SHAPE), np.float32)


def _probed(model: OnnxModel, info: ModelInfo) -> OnnxModel:
    """`model` once it classifies a blank image with probabilities (~0.1 ms): a file whose checksum
    holds but whose weights give NaN or 1e33 is refused here, so a load falls back to another model."""
    try:
        check_probabilities(model.run(_BLANK), info.name)
    except ModelOutputError as e:
        raise ModelStoreError(str(e)) from e
    return model


def _make_onnx(info: ModelInfo) -> OnnxModel:
    """The ONNX file of a model saved before DigitRec wrote them, made from its `.keras` and kept
    beside it (written atomically); from memory only when its folder is read-only."""
    if not optional.has_tensorflow():
        raise OnnxNeedsTensorFlow(f"{info.name} has no {ONNX_FILE} (it was saved by an older DigitRec). "
                                  + install_hint("Making it") + ".")
    keras_model = load_keras(info.path / MODEL_FILE)
    try:
        data = onnx_bytes(keras_model, taps=True)
    except Exception as e:  # the converter's own errors: this model cannot be served, another may
        raise ModelStoreError(f"{info.name} could not be converted to ONNX ({type(e).__name__}: {e}).") from e
    try:
        write_atomic(info.path / ONNX_FILE, data)
    except OSError:  # an installed package or a shared store: serve it all the same
        pass
    return OnnxModel(data, source=info.path / ONNX_FILE)


def load_runtime(info: ModelInfo, runtime: Runtime):
    return _load_onnx(info) if runtime == "onnx" else load_keras(info.path / MODEL_FILE)


def shipped_info() -> ModelInfo | None:
    """The pretrained model shipped in `digitrec_core/pretrained/`, if it is there (and readable)."""
    try:
        return read_info(SHIPPED_DIR, shipped=True) if (SHIPPED_DIR / META_FILE).is_file() else None
    except ModelStoreError:  # a damaged install: serve what the store has; test_shipped_model guards the file
        return None
