"""The promotion rule: when a new model may replace the active one on its own (only when it is not worse).

A short run, a bad learning rate or a fine-tune that forgot MNIST used to become the active model
for every page and tab (a 2,000-image, 1-epoch run replaced the shipped 99.49% model with an 11%
one). Now every finished run is compared with the active model on the same measures, and the
comparison is kept so pages and the CLI can show both side by side.

- Training: MNIST test accuracy at least the active model's.
- Fine-tune: on the same held-out personal digits, a log-loss no higher than the active model's
  (it reads them at least as surely) or a higher accuracy; and MNIST test accuracy no more than
  `MNIST_TOLERANCE` below the active model's. Accuracy alone saturates: with a few dozen digits
  both models usually read all of them right, so a fine-tune that helped was never made active.

MNIST test accuracy is read from each model's metadata: every run is evaluated on the same 10,000
test digits when it finishes, so the stored figures are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

from digitrec_core.learning.runs import FineTuneResult, TrainResult
from digitrec_core.store.schema import ModelInfo
from digitrec_core.text import percent

MNIST_TOLERANCE = 0.001  # a fine-tune may cost at most 0.1 points of MNIST test accuracy (10 of 10,000 digits)
TEST, PERSONAL, PERSONAL_LOSS = "MNIST test accuracy", "held-out personal accuracy", "held-out personal log-loss"


@dataclass(frozen=True)
class Comparison:
    measure: str
    new: float | None
    active: float | None


def figure(measure: str, value: float | None) -> str:
    """A measure's value as people read it: an accuracy as a percentage, a log-loss with three decimals."""
    if measure == PERSONAL_LOSS:
        return "–" if value is None else f"{value:.3f}"
    return percent(value)


def change(measure: str, before: float | None, after: float | None) -> str:
    """How a measure moved: points for an accuracy, the difference for a log-loss (negative: surer)."""
    if before is None or after is None:
        return "–"
    return f"{after - before:+.3f}" if measure == PERSONAL_LOSS else f"{(after - before) * 100:+.2f} points"


@dataclass(frozen=True)
class Verdict:
    better: bool
    comparison: tuple[Comparison, ...]
    reason: str
    decided_by: str | None = None  # the measure that decided (TEST, PERSONAL or PERSONAL_LOSS); None: no comparison


def decide(result: TrainResult, active: ModelInfo | None) -> Verdict:
    """Whether `result` may replace `active` on its own, with the figures side by side and why."""
    new_test = result.test_accuracy
    old_test = active.test_accuracy if active is not None else None
    old_test = old_test if isinstance(old_test, (int, float)) else None  # damaged metadata compares as unknown
    rows = [Comparison(TEST, new_test, old_test)]
    fine_tune = isinstance(result, FineTuneResult)
    if fine_tune:
        same_reference = active is not None and active.name == result.active_name
        rows.append(Comparison(PERSONAL, result.personal_after, result.active_personal if same_reference else None))
        rows.append(Comparison(PERSONAL_LOSS, result.personal_loss_after,
                               result.active_personal_loss if same_reference else None))
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
                                       f"{active.name}'s ({percent(old_test)}).", TEST)
        return Verdict(False, rows, f"Not made active: its test accuracy ({percent(new_test)}) is below "
                                    f"{active.name}'s ({percent(old_test)}).", TEST)
    new_personal, old_personal = rows[1].new, rows[1].active
    new_loss, old_loss = rows[2].new, rows[2].active
    if new_personal is None or old_personal is None:
        if new_personal is None:
            why = "none of your digits were held out to judge it (add a few more)"
        elif active.name != result.active_name:
            why = f"the active model changed to {active.name} while it fine-tuned"
        else:
            why = f"{active.name} could not be read to judge it against"
        return Verdict(False, rows, f"Not made active: {why}.")
    surer = new_loss is not None and old_loss is not None and new_loss <= old_loss
    if not surer and new_personal <= old_personal:
        judged = new_loss is not None and old_loss is not None
        loss = f", less surely (log-loss {new_loss:.3f}, was {old_loss:.3f})" if judged else ""
        return Verdict(False, rows, f"Not made active: it reads your held-out digits no better than {active.name} "
                                    f"({percent(new_personal)}, was {percent(old_personal)}){loss}.",
                       PERSONAL_LOSS if judged else PERSONAL)
    if old_test is not None and new_test < old_test - MNIST_TOLERANCE:
        return Verdict(False, rows, f"Not made active: its MNIST test accuracy ({percent(new_test)}) is more than "
                                    f"{MNIST_TOLERANCE:.1%} below {active.name}'s ({percent(old_test)}).", TEST)
    if surer:
        return Verdict(True, rows, f"Made active: it reads your held-out digits more surely (log-loss "
                                   f"{new_loss:.3f}, was {old_loss:.3f}; accuracy {percent(new_personal)}, was "
                                   f"{percent(old_personal)}), MNIST test {percent(new_test)} "
                                   f"(was {percent(old_test)}).", PERSONAL_LOSS)
    return Verdict(True, rows, f"Made active: {percent(new_personal)} on your held-out digits (was "
                               f"{percent(old_personal)}), MNIST test {percent(new_test)} (was {percent(old_test)}).",
                   PERSONAL)
