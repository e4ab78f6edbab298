"""How a model does on a person's own digits: accuracy, confusion, its mistakes, worst first, and the
digits it reads as "not a digit" (`digitrec_core.serving.recognition`), the least digit-like first.

The My digits page shows this for the active model; it lives here, without Streamlit, so plain
pytest checks the numbers. Probabilities come in already computed (the page caches them per model
and per set contents), so nothing here needs TensorFlow.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from digitrec_core.models import NUM_CLASSES
from digitrec_core.serving.evaluation import Evaluation, metrics
from digitrec_core.serving.recognition import read
from digitrec_core.text import plural


@dataclass(frozen=True)
class Mistake:
    """One sample the model reads wrong."""

    id: str
    label: int  # what the person says it is
    predicted: int
    confidence: float  # the probability the model gave its (wrong) answer
    p_label: float  # the probability it gave the right one


@dataclass(frozen=True)
class Flagged:
    """One sample the model reads as "not a digit": it would refuse it if drawn again."""

    id: str
    label: int  # what the person says it is
    likely: int  # what it looks most like to the model
    score: float  # its digit score (top probability), below the model's threshold


@dataclass(frozen=True)
class Review:
    evaluation: Evaluation  # over every sample
    ids: tuple[str, ...]  # in the order of the evaluation's rows
    counts: np.ndarray  # (10,) samples per label
    mistakes: tuple[Mistake, ...]  # worst first: the lowest probability for the right digit
    # Over the samples the model did not train on (a fine-tune trains on some of them); None
    # when it trained on all of them, equal to the evaluation's when it trained on none.
    unseen_accuracy: float | None
    n_unseen: int
    # Read as "not a digit" at the model's threshold, the lowest score first; () when it has none (None).
    flagged: tuple[Flagged, ...] = ()
    threshold: float | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_right(self) -> int:
        return self.n - len(self.mistakes)


def class_counts(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """How many samples of each digit, `(10,)`."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(f"Labels must be digits 0-{NUM_CLASSES - 1}, got {sorted(set(y.tolist()))}.")
    return np.bincount(y, minlength=NUM_CLASSES)


def rank_mistakes(ids: Sequence[str], labels: np.ndarray, probabilities: np.ndarray) -> tuple[Mistake, ...]:
    """The misread samples, the ones the model is most sure about first (lowest probability for the
    right digit; ties keep the set's order), which are the ones most worth a look or a correction."""
    y = np.asarray(labels, dtype=np.int64)
    pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    p_label = probabilities[wrong, y[wrong]]
    order = wrong[np.argsort(p_label, kind="stable")]
    return tuple(
        Mistake(id=ids[i], label=int(y[i]), predicted=int(pred[i]), confidence=float(probabilities[i, pred[i]]),
                p_label=float(probabilities[i, y[i]]))
        for i in order
    )


def rank_flagged(
    ids: Sequence[str], labels: np.ndarray, probabilities: np.ndarray, threshold: float | None
) -> tuple[Flagged, ...]:
    """The samples read as "not a digit" at `threshold` (None: none), the least digit-like first (ties keep
    the set's order): this person's digits the model would refuse, the ones fine-tuning most needs."""
    r = read(np.asarray(probabilities).reshape(-1, NUM_CLASSES), threshold)
    order = np.flatnonzero(r.flagged)
    order = order[np.argsort(r.digit_score[order], kind="stable")]
    return tuple(
        Flagged(id=ids[i], label=int(labels[i]), likely=int(r.likely[i]), score=float(r.digit_score[i]))
        for i in order
    )


def review(
    probabilities: np.ndarray, labels: np.ndarray, ids: Sequence[str], *, trained_on: Collection[str] = (),
    threshold: float | None = None,
) -> Review:
    """Accuracy, confusion and ranked mistakes of `probabilities` `(N, 10)` against `labels` `(N,)`.

    `trained_on`: ids of samples the model was fitted on (a fine-tune's), left out of `unseen_accuracy`.
    `threshold`: the model's "not a digit" threshold; the accuracy and mistakes stay the top probability's
    (as on the Test browser), and the samples below it are `flagged`.
    """
    probabilities = np.asarray(probabilities, dtype=np.float32).reshape(-1, NUM_CLASSES)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if not len(probabilities) == len(y) == len(ids):
        raise ValueError(f"{plural(len(probabilities), 'prediction')}, {plural(len(y), 'label')} and "
                         f"{plural(len(ids), 'id')}: they must match.")
    counts = class_counts(y)
    trained = set(trained_on)
    unseen = np.array([i not in trained for i in ids], dtype=bool)
    right = probabilities.argmax(axis=1) == y
    return Review(
        evaluation=metrics(probabilities, y),
        ids=tuple(ids),
        counts=counts,
        mistakes=rank_mistakes(ids, y, probabilities),
        unseen_accuracy=float(right[unseen].mean()) if unseen.any() else None,
        n_unseen=int(unseen.sum()),
        flagged=rank_flagged(ids, y, probabilities, threshold),
        threshold=threshold,
    )
