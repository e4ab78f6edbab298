"""Training runs made up for a test: a TrainResult around an untrained network, the same recorded as
weaker, and a stored model recorded as a sweep's trial."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from digitrec_core import build_model
from digitrec_core.learning.training import TrainConfig, TrainResult
from digitrec_core.serving.evaluation import Evaluation
from digitrec_core.store import META_FILE, SHIPPED_DIR


def fake_run(arch="seed", accuracy=0.9):
    """A TrainResult around an untrained network: the store does not care how good it is."""
    empty = np.zeros(0)
    return TrainResult(
        model=build_model(arch),
        config=TrainConfig(arch=arch).resolved(),
        history={"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.9, 0.6], "val_accuracy": [0.7, 0.8]},
        epochs_run=2,
        stopped=False,
        seconds=1.5,
        n_train=540,
        n_val=60,
        data_source="synthetic",
        test=Evaluation(accuracy, 0.25, np.zeros((10, 10)), np.zeros(10), np.zeros(10), empty, empty, empty),
    )


def weaker(result, accuracy: float = 0.1):
    """The same run recorded with a lower test accuracy: an active model that any real run beats."""
    return dataclasses.replace(result, test=dataclasses.replace(result.test, accuracy=accuracy))


def stored_trial(root: Path, name: str, created: str, sweep: dict | None, val: list[float], **hyper) -> None:
    """A copy of the shipped model in the store at `root`, recorded as a sweep's trial (or a plain run)."""
    folder = root / "models" / name
    shutil.copytree(SHIPPED_DIR, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    meta = json.loads((folder / META_FILE).read_text())
    meta.update(name=name, created_at=created, test_accuracy=val[-1] - 0.01,
                hyperparameters={**meta["hyperparameters"], **hyper},
                history={"loss": [1.0] * len(val), "accuracy": val, "val_loss": [1.0] * len(val), "val_accuracy": val})
    if sweep:
        meta["sweep"] = sweep
    (folder / META_FILE).write_text(json.dumps(meta))
