"""What needs an optional dependency, and the one sentence that says how to get it.

A serve-only install (`pip install digitrec`) draws, browses and classifies through ONNX Runtime;
training, fine-tuning and exporting need the `train` extra (TensorFlow), sweeps the `sweep` extra
(Ray Tune, with `train`). Checked without importing either.
"""

from __future__ import annotations

from importlib.util import find_spec

# From PyPI the extra follows the name; in a clone (the README's quick start) it follows the path.
TRAIN_INSTALL = 'pip install "digitrec[train]" (or ".[train]" in a clone)'
SWEEP_INSTALL = 'pip install "digitrec[sweep]" (or ".[sweep]" in a clone)'


class TensorFlowMissing(RuntimeError):
    """Raised where TensorFlow is needed and not installed; the message says what to install."""


class RayMissing(RuntimeError):
    """Raised where Ray Tune is needed (sweeps) and not installed; the message says what to install."""


def has_tensorflow() -> bool:
    return find_spec("tensorflow") is not None and find_spec("keras") is not None


def has_ray_tune() -> bool:
    """Ray with Tune's dependencies (a bare `pip install ray` lacks pandas, which Tune imports); by
    top-level names only: finding `ray.tune` would import Ray."""
    return find_spec("ray") is not None and find_spec("pandas") is not None


def install_hint(what: str, needs: str = "TensorFlow", install: str = TRAIN_INSTALL) -> str:
    """E.g. install_hint("Training") -> 'Training needs TensorFlow, which this installation does not have:
    pip install "digitrec[train]" (or ".[train]" in a clone)'."""
    return f"{what} needs {needs}, which this installation does not have: {install}"


def require_tensorflow(what: str) -> None:
    if not has_tensorflow():
        raise TensorFlowMissing(install_hint(what) + ".")


def require_ray_tune(what: str) -> None:
    if not has_ray_tune():
        raise RayMissing(install_hint(what, "Ray Tune", SWEEP_INSTALL) + ".")
