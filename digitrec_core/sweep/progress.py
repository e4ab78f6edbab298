"""A running sweep's progress file, `<store>/sweeps/<id>.json`: what the driver writes at every event and the
dashboard, another process, reads to show the trials live."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from digitrec_core.files import write_atomic
from digitrec_core.learning.runs import TrainConfig
from digitrec_core.sweep.results import TrialEvent
from digitrec_core.sweep.space import describe

PROGRESS_FOLDER = "sweeps"  # under the store root: one JSON a sweep, what its trials are doing


class SweepProgress:
    """A running sweep's trials as the driver hears of them, in `<store>/sweeps/<id>.json` (rewritten
    atomically at every event), so that the dashboard, another process, shows them live.

    {"format": 1, "id", "pid", "started_at", "finished_at": null until the sweep ends, "trials": [{"trial",
    "config", "status": "pending"|"running"|"completed"|"stopped"|"failed", "epoch", "epochs",
    "val_accuracy": [per epoch], "test_accuracy"}]}"""

    def __init__(self, root, sweep_id: str, configs: Sequence[TrainConfig]):
        self.path = Path(root) / PROGRESS_FOLDER / f"{sweep_id}.json"
        self.state = {"format": 1, "id": sweep_id, "pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(),
                      "finished_at": None,
                      "trials": [{"trial": k + 1, "config": describe(c), "status": "pending", "epoch": 0,
                                  "epochs": c.epochs, "val_accuracy": [], "test_accuracy": None}
                                 for k, c in enumerate(configs)]}
        self._write()

    def on_event(self, e: TrialEvent) -> None:
        t = self.state["trials"][e.index]
        t["status"] = "running" if e.kind in ("started", "epoch") else e.kind
        if e.epoch:
            t["epoch"] = e.epoch
        if e.kind == "epoch":
            t["val_accuracy"] = [*t["val_accuracy"][: e.epoch - 1], e.val_accuracy]
        elif e.val_accuracy is not None and len(t["val_accuracy"]) < e.epoch:  # its last epoch's, when not heard yet
            t["val_accuracy"] = [*t["val_accuracy"], e.val_accuracy]
        if e.test_accuracy is not None:
            t["test_accuracy"] = e.test_accuracy
        self._write()

    def finish(self) -> None:
        self.state["finished_at"] = datetime.now(UTC).isoformat()
        for t in self.state["trials"]:
            if t["status"] in ("pending", "running"):  # the sweep ended without a word of them (an error)
                t["status"] = "failed"
        self._write()

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.state).encode())
        except OSError:  # a progress view is a courtesy: never worth failing a sweep over
            pass


def read_progress(root, *, newest: int = 5) -> list[dict]:
    """The newest sweeps' progress files (newest first), each with "alive": whether its driver still runs.
    Unreadable or foreign files are skipped."""
    folder = Path(root) / PROGRESS_FOLDER
    try:
        files = sorted(folder.glob("sweep-*.json"), reverse=True)[:newest]  # ids sort by time
    except OSError:
        return []
    out = []
    for f in files:
        try:
            state = json.loads(f.read_text())
            trials = state["trials"]
            if state.get("format") != 1 or not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
                continue
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        state["alive"] = state.get("finished_at") is None and _running(state.get("pid"))
        out.append(state)
    return out


def _running(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    return True
