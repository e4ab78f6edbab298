"""What a sweep did: its trials, the events the driver hears while it runs, and the completed trials stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from digitrec_core.learning.runs import TrainConfig, TrainResult

if TYPE_CHECKING:
    from digitrec_core.store import ActivatePolicy, ModelStore, Saved

METRIC = "val_accuracy"  # what ASHA compares and what picks the best trial: the test set stays for the verdict


@dataclass
class SweepTrialResult(TrainResult):
    """A finished trial's run, as the store saves it: `sweep` goes to the model's metadata."""

    sweep: dict[str, Any] = field(default_factory=dict)  # {"id": sweep id, "trial": 1-based, "trials": count}


TrialStatus = Literal["completed", "stopped", "failed"]


@dataclass
class Trial:
    index: int  # 0-based; the store's metadata counts from 1
    config: TrainConfig
    status: TrialStatus  # completed: every epoch run and tested; stopped: by the scheduler; failed: an error
    epochs_run: int
    val_accuracy: float | None  # at its last epoch
    history: dict[str, list[float]] = field(default_factory=dict)  # per epoch as reported, stopped trials too
    node: str | None = None  # the Ray node it ran on
    result: SweepTrialResult | None = field(default=None, repr=False)  # completed trials only
    error: str | None = None


@dataclass
class Sweep:
    id: str
    trials: list[Trial]
    seconds: float
    address: str  # where it ran: "local" or the cluster's address

    def count(self, status: TrialStatus) -> int:
        return sum(t.status == status for t in self.trials)

    @property
    def nodes(self) -> int:
        """How many Ray nodes ran its trials."""
        return len({t.node for t in self.trials if t.node})

    @property
    def best(self) -> Trial | None:
        """The completed trial with the highest validation accuracy (test accuracy breaks ties)."""
        done = [t for t in self.trials if t.status == "completed"]
        return max(done, key=lambda t: (t.val_accuracy or 0.0, t.result.test_accuracy or 0.0), default=None)


@dataclass(frozen=True)
class TrialEvent:
    """What the driver hears about a trial while the sweep runs (`run_sweep`'s `on_event`)."""

    kind: Literal["started", "epoch", "completed", "stopped", "failed"]
    index: int
    trials: int
    config: TrainConfig
    epoch: int = 0
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    error: str | None = None


def new_sweep_id() -> str:
    return f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"



def save_sweep(sweep: Sweep, store: ModelStore, *, activate: ActivatePolicy = "if-better") -> list[Saved]:
    """Store every completed trial; only the best (by validation accuracy) may become active, by `activate`'s
    rule as for any run, the others are saved with "never". The best is saved last; returns what each save did,
    in that order (the best's `Saved` last)."""
    best = sweep.best
    done = [t for t in sweep.trials if t.status == "completed" and t is not best]
    saved = [store.save(t.result, activate="never") for t in done]
    if best is not None:
        saved.append(store.save(best.result, activate=activate))
    return saved


