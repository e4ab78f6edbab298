"""A model folder as a target: written whole or not at all, and what it may replace.

`train --export DIR` and the store write the same folder (`model.keras`, `model.onnx`, `meta.json`);
an existing folder is replaced only if it holds nothing but those files (or with `force`).
"""

from __future__ import annotations

import os
from pathlib import Path

from digitrec_core.files import replace_dir
from digitrec_core.serving.exports import ExportError, Format, check_target, holds_only, inference_copy, onnx_bytes
from digitrec_core.serving.runtime import ONNX_FILE
from digitrec_core.store.errors import ModelStoreError
from digitrec_core.store.schema import META_FILE, MODEL_FILE, MODEL_PARTS, ModelInfo, write_json

# `train --export DIR` writes a model folder: an earlier one holds nothing but these files.
MODEL_FOLDER = Format("folder", "a model folder (model.keras, model.onnx, meta.json)", None,
                      holds_only(MODEL_PARTS), MODEL_PARTS)


def write_model(model, info: ModelInfo, folder: Path, *, staging: Path, force: bool = False) -> None:
    """Write `model.keras`, `model.onnx` and `meta.json` into a temporary folder under `staging`,
    then rename it to `folder`: the three appear together or not at all.

    An existing `folder` is replaced only if it is an earlier export (nothing but a model's files)
    or `force` is given, and only once the new copy is complete: it is moved aside, the new one
    renamed in, then the old one deleted, so a crash leaves one whole copy or the other.
    """
    check_export_target(folder, force=force)
    copy = inference_copy(model)  # without the optimiser's state: a third of the size

    def fill(tmp: Path) -> None:
        copy.save(tmp / MODEL_FILE)
        (tmp / ONNX_FILE).write_bytes(onnx_bytes(copy, taps=True))
        write_json(tmp / META_FILE, info.to_json())

    replace_dir(Path(folder), fill, staging=staging)


def check_export_target(folder: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse, in words, a target that is a file, or a folder holding anything but a model's files
    (unless `force`); see `digitrec_core.serving.exports.check_target`. Cheap: call it before training."""
    try:
        return check_target(folder, MODEL_FOLDER, force=force)
    except ExportError as e:
        raise ModelStoreError(str(e)) from None
