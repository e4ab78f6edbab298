"""Fast probabilities and test-set metrics.

`model.predict` spends ~50 ms of set-up per call; a traced function over the model costs a few
ms, which is what live classification on the Draw page needs.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from digitrec_core.models import INPUT_SHAPE, NUM_CLASSES

_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BATCH = 1000


def as_batch(images: np.ndarray) -> np.ndarray:
    """`(28, 28)`, `(N, 28, 28)` or `(N, 28, 28, 1)`; uint8 in 0..255 or float in [0, 1] -> float32 `(N, 28, 28, 1)`."""
    x = np.asarray(images)
    scale = 1 / 255 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) * np.float32(scale)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"Expected 28x28 images, got an array of shape {np.shape(images)}.")
    return x


def _forward(model):
    fn = _compiled.get(model)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
        )
        _compiled[model] = fn
    return fn


def predict_proba(model, images: np.ndarray) -> np.ndarray:
    """Class probabilities `(N, 10)` through a traced forward pass, never `model.predict`."""
    x = as_batch(images)
    fn = _forward(model)
    return np.concatenate([fn(x[i : i + _BATCH]).numpy() for i in range(0, len(x), _BATCH)] or [np.empty((0, NUM_CLASSES), np.float32)])


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    confusion: np.ndarray  # [true, predicted] counts
    precision: np.ndarray  # per class
    recall: np.ndarray  # per class: the fraction of each digit recognised
    misclassified: np.ndarray  # indices into the evaluated set
    predictions: np.ndarray
    probabilities: np.ndarray

    def confusion_text(self) -> str:
        head = "true\\pred " + " ".join(f"{d:>5}" for d in range(NUM_CLASSES)) + "  recall"
        rows = [
            f"{t:>9} " + " ".join(f"{n:>5}" for n in self.confusion[t]) + f"  {self.recall[t]:6.2%}"
            for t in range(NUM_CLASSES)
        ]
        prec = "precision " + " ".join(f"{p:5.1%}"[:5] for p in self.precision)
        return "\n".join([head, *rows, prec])


def metrics(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Metrics from probabilities already computed (the dashboard caches them per model)."""
    y = np.asarray(labels).astype(np.int64)
    pred = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(confusion, (y, pred), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(confusion.diagonal() / confusion.sum(axis=0))
        recall = np.nan_to_num(confusion.diagonal() / confusion.sum(axis=1))
    # Keras clips probabilities to [1e-7, 1 - 1e-7] in its cross-entropy; do the same so losses agree.
    p_true = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1 - 1e-7)
    return Evaluation(
        accuracy=float((pred == y).mean()) if len(y) else 0.0,
        loss=float(-np.log(p_true).mean()) if len(y) else 0.0,
        confusion=confusion,
        precision=precision,
        recall=recall,
        misclassified=np.flatnonzero(pred != y),
        predictions=pred,
        probabilities=probabilities,
    )


def evaluate(model, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Accuracy, loss, confusion matrix, per-class precision/recall and the misclassified indices."""
    return metrics(predict_proba(model, x), y)
