"""Fast probabilities and test-set metrics.

`predict_proba` takes what `load_model()` returns: an `OnnxModel` (ONNX Runtime, no TensorFlow:
what the dashboard and the CLI serve with) or a Keras model (`runtime="keras"`, for training and
fine-tuning). `model.predict` spends ~50 ms of set-up per call; a traced function over a Keras
model costs about 1 ms, an ONNX Runtime session about 0.1 ms for one image.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec_core.models import INPUT_SHAPE, NUM_CLASSES
from digitrec_core.serving.runtime import ONNX_FILE, OnnxModel

_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BATCH = 1000
# ONNX Runtime's memory arena keeps what its largest batch needed: 1,000 images leave ~220 MB in the
# server for good, 100 about 25 MB, at the same speed (bench/serving.py).
_ONNX_BATCH = 100
# Softmax outputs in float32 stay within [0, 1] up to rounding; anything further out is not a probability.
_TOLERANCE = 1e-4


class ModelOutputError(ValueError):
    """A model whose outputs are not probabilities (NaN, inf, 1e33): its file is damaged."""


def check_probabilities(probs: np.ndarray, name: str | None = None) -> np.ndarray:
    """`probs` if every value is finite and within [0, 1]; else ModelOutputError naming the model `name`."""
    if probs.size and not (np.isfinite(probs).all() and probs.min() >= -_TOLERANCE and probs.max() <= 1 + _TOLERANCE):
        who = f"The model {name}" if name else "This model"
        raise ModelOutputError(f"{who} gives outputs that are not probabilities (NaN, infinite or outside 0 to 1): "
                               "its file is damaged; choose another model or train a new one.")
    return probs


def _model_name(model) -> str | None:
    """A stored model's name (its folder) from its ONNX file's path; None otherwise."""
    if isinstance(model, OnnxModel) and model.source != "<bytes>":
        path = Path(model.source)
        return path.parent.name if path.name == ONNX_FILE else path.name
    return None


def as_batch(images: np.ndarray) -> np.ndarray:
    """`(28, 28)`, `(N, 28, 28)` or `(N, 28, 28, 1)`; uint8 in 0..255 or float in [0, 1] -> float32 `(N, 28, 28, 1)`.

    Float32 input is not copied (the result may be a view of `images`): one live prediction
    should not pay for copies it does not need.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32)
        x *= np.float32(1 / 255)
    else:
        x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"Expected 28x28 images, got an array of shape {np.shape(images)}.")
    return x


def _keras_forward(model):
    fn = _compiled.get(model)
    if fn is None:
        import tensorflow as tf

        # The traced function refers to its model weakly: a value of a WeakKeyDictionary that refers to
        # its key keeps that key alive for good, so the cache would keep every model it ever traced.
        ref = weakref.ref(model)
        fn = tf.function(
            lambda x: ref()(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
        )
        _compiled[model] = fn
    return lambda x: fn(x).numpy()


def predict_proba(model, images: np.ndarray) -> np.ndarray:
    """Class probabilities, float32 `(N, 10)`, from an `OnnxModel` (never imports TensorFlow) or a
    Keras model (a traced forward pass, never `model.predict`), in batches: 100 images for ONNX, 1,000 for Keras.
    ModelOutputError when the model answers with anything but probabilities (NaN, inf, 1e33)."""
    x = as_batch(images)
    if not len(x):
        return np.empty((0, NUM_CLASSES), np.float32)
    onnx = isinstance(model, OnnxModel)
    run, batch = (model.run, _ONNX_BATCH) if onnx else (_keras_forward(model), _BATCH)
    if len(x) <= batch:  # one live image: no concatenate copy
        probs = run(x)
    else:
        probs = np.concatenate([run(x[i : i + batch]) for i in range(0, len(x), batch)])
    return check_probabilities(probs, _model_name(model))


@dataclass(frozen=True)
class MistakeKind:
    """One kind of mistake: `count` digits of class `true` read as `predicted`."""

    true: int
    predicted: int
    count: int


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
    labels: np.ndarray | None = None  # the true classes (`metrics` keeps them: the mistakes below need them)

    def mistake_kinds(self) -> list[MistakeKind]:
        """Every kind of mistake made, the most frequent first; ties in order of true, then predicted class."""
        kinds = [
            MistakeKind(t, p, int(self.confusion[t, p]))
            for t in range(NUM_CLASSES) for p in range(NUM_CLASSES) if t != p and self.confusion[t, p]
        ]
        return sorted(kinds, key=lambda k: -k.count)  # stable: ties keep the (true, predicted) order

    def mistakes(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the evaluated digits of class `true` read as `predicted`, in the set's order."""
        if self.labels is None:
            raise ValueError("this evaluation was made without its labels; metrics() keeps them")
        wrong = self.misclassified
        return wrong[(self.labels[wrong] == true) & (self.predictions[wrong] == predicted)]

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
        labels=y,
    )


def evaluate(model, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Accuracy, loss, confusion matrix, per-class precision/recall and the misclassified indices."""
    return metrics(predict_proba(model, x), y)
