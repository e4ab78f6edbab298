"""Reading a drawing as a digit, or as "not a digit".

A model trained with generated non-digits (`digitrec_core.learning.negatives`; see `training.train`) spreads its
probabilities over the ten digits for what is not one. Its **digit score** is the top probability, which
the page's onnxruntime-web and the server's ONNX Runtime both compute, so both flag the same drawings.
The **threshold** below which a drawing is "not a digit" is chosen on data when the model is trained: the
score that flags `FLAG_RATE` of the run's held-out digits, re-drawn as pen strokes on the canvas
(`digitrec_core.learning.redraw`), as the Draw page would see them. It is stored with the model (`meta.json`'s
`digit_threshold`); a model without one (saved before DigitRec had it) flags nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOT_A_DIGIT = -1  # Recognition.digits' value for a drawing that is not a digit
FLAG_RATE = 0.01  # of real hand-drawn digits, flagged by the threshold `calibrate` picks


@dataclass(frozen=True)
class Recognition:
    """What a model makes of a batch of 28x28 images."""

    digits: np.ndarray  # (N,) int: the digit read, or NOT_A_DIGIT
    probabilities: np.ndarray  # (N, 10)
    digit_score: np.ndarray  # (N,) higher is more like a digit
    threshold: float | None  # the model's; None: it flags nothing

    @property
    def flagged(self) -> np.ndarray:
        """(N,) bool: read as "not a digit"."""
        return self.digits == NOT_A_DIGIT

    @property
    def likely(self) -> np.ndarray:
        """(N,) int: the digit each image looks most like, flagged or not."""
        return self.probabilities.argmax(axis=1)


def digit_score(probabilities: np.ndarray) -> np.ndarray:
    """(N,) the top probability of each row: what live_draw.js computes from the same outputs."""
    # float64 as the page's numbers are: compared with a float32 score, NumPy would round the threshold to float32
    return np.asarray(probabilities, np.float64).max(axis=1)


def calibrate(probabilities: np.ndarray, rate: float = FLAG_RATE) -> float:
    """The threshold that flags `rate` of these digits' probabilities (real digits, as drawn)."""
    if not len(probabilities):
        raise ValueError("No digits to choose a threshold on.")
    return float(np.quantile(digit_score(probabilities), rate))


def read(probabilities: np.ndarray, threshold: float | None) -> Recognition:
    """The recognition of probabilities already computed, at `threshold` (None: nothing is flagged)."""
    probs = np.asarray(probabilities)
    score = digit_score(probs)
    digits = probs.argmax(axis=1)
    if threshold is not None:
        digits = np.where(score < threshold, NOT_A_DIGIT, digits)
    return Recognition(digits=digits, probabilities=probs, digit_score=score, threshold=threshold)


def recognize(model, images: np.ndarray, threshold: float | None = None) -> Recognition:
    """Read a batch of 28x28 images (what `canvas_to_mnist` returns; one image or many) with `model`.

    `model` is what `load_model()` returns (a LoadedModel: its threshold is the one stored with it), or a
    bare OnnxModel or Keras model, which flags only with an explicit `threshold`.
    """
    from digitrec_core.serving.evaluation import predict_proba

    info = getattr(model, "info", None)
    if info is not None:
        threshold = info.digit_threshold if threshold is None else threshold
        model = model.model
    return read(predict_proba(model, images), threshold)
