"""When a new model may replace the active one on its own: only when it is not worse.

A short run, a bad learning rate or a fine-tune that forgot MNIST used to become the active model
for every page and tab (a 2,000-image, 1-epoch run replaced the shipped 99.49% model with an 11%
one). Now every finished run is compared with the active model on the same measures, and the
comparison is kept so pages and the CLI can show both side by side.

- Training: MNIST test accuracy at least the active model's.
- Fine-tune: held-out personal accuracy higher than the active model's on the same held-out
  samples, and MNIST test accuracy no more than `MNIST_TOLERANCE` below it.

MNIST test accuracy is read from each model's metadata: every run is evaluated on the same 10,000
test digits when it finishes, so the stored figures are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from digitrec_core.text import percent

if TYPE_CHECKING:
    from digitrec_core.runs import TrainResult
    from digitrec_core.store import ModelInfo

MNIST_TOLERANCE = 0.003  # a fine-tune may cost at most 0.3 points of MNIST test accuracy
TEST, PERSONAL = "MNIST test accuracy", "held-out personal accuracy"


@dataclass(frozen=True)
class Comparison:
    measure: str
    new: float | None
    active: float | None


@dataclass(frozen=True)
class Verdict:
    better: bool
    comparison: tuple[Comparison, ...]
    reason: str


def decide(result: TrainResult, active: ModelInfo | None) -> Verdict:
    """Whether `result` may replace `active` on its own, with the figures side by side and why."""
    new_test = result.test_accuracy
    old_test = active.test_accuracy if active is not None else None
    old_test = old_test if isinstance(old_test, (int, float)) else None  # damaged metadata compares as unknown
    rows = [Comparison(TEST, new_test, old_test)]
    fine_tune = getattr(result, "kind", "train") == "finetune"
    if fine_tune:
        same_reference = active is not None and active.name == result.active_name
        rows.append(Comparison(PERSONAL, result.personal_after, result.active_personal if same_reference else None))
    rows = tuple(rows)
    if active is None:
        return Verdict(True, rows, "Made active: there was no active model.")
    if new_test is None:
        return Verdict(False, rows, f"Not made active: it has no test accuracy to compare with {active.name}'s.")
    if old_test is None and not fine_tune:
        return Verdict(True, rows, f"Made active: {active.name} has no recorded test accuracy to beat.")
    if not fine_tune:
        if new_test >= old_test:
            return Verdict(True, rows, f"Made active: its test accuracy ({percent(new_test)}) is at least "
                                       f"{active.name}'s ({percent(old_test)}).")
        return Verdict(False, rows, f"Not made active: its test accuracy ({percent(new_test)}) is below "
                                    f"{active.name}'s ({percent(old_test)}).")
    new_personal, old_personal = rows[1].new, rows[1].active
    if new_personal is None or old_personal is None:
        if new_personal is None:
            why = "none of your digits were held out to judge it (add a few more)"
        elif active.name != result.active_name:
            why = f"the active model changed to {active.name} while it fine-tuned"
        else:
            why = f"{active.name} could not be read to judge it against"
        return Verdict(False, rows, f"Not made active: {why}.")
    if new_personal <= old_personal:
        return Verdict(False, rows, f"Not made active: on your held-out digits it scores {percent(new_personal)}, "
                                    f"no better than {active.name}'s {percent(old_personal)}.")
    if old_test is not None and new_test < old_test - MNIST_TOLERANCE:
        return Verdict(False, rows, f"Not made active: its MNIST test accuracy ({percent(new_test)}) is more than "
                                    f"{MNIST_TOLERANCE:.1%} below {active.name}'s ({percent(old_test)}).")
    return Verdict(True, rows, f"Made active: {percent(new_personal)} on your held-out digits (was "
                               f"{percent(old_personal)}), MNIST test {percent(new_test)} (was {percent(old_test)}).")
