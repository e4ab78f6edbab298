"""What needs TensorFlow, and the one sentence that says how to get it.

A serve-only install (`pip install digitrec`) draws, browses and classifies through ONNX Runtime;
training, fine-tuning and exporting need the `train` extra. Checked without importing TensorFlow.
"""

from __future__ import annotations

from importlib.util import find_spec

TRAIN_INSTALL = 'pip install "digitrec[train]"'


class TensorFlowMissing(RuntimeError):
    """Raised where TensorFlow is needed and not installed; the message says what to install."""


def has_tensorflow() -> bool:
    return find_spec("tensorflow") is not None and find_spec("keras") is not None


def install_hint(what: str) -> str:
    """E.g. install_hint("Training") -> 'Training needs TensorFlow: pip install "digitrec[train]".'"""
    return f"{what} needs TensorFlow, which this installation does not have: {TRAIN_INSTALL}"


def require_tensorflow(what: str) -> None:
    if not has_tensorflow():
        raise TensorFlowMissing(install_hint(what) + ".")
