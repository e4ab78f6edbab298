"""Why the model reads a digit as it does: where the evidence is, and what each layer sees.

**Where the evidence is: occlusion.** Every 4x4 patch of the digit (stride 2) is blanked in turn and
the network run on all of them in one batch; a pixel's attribution for class c is its intensity
times the mean drop of log p(c) over the patches that cover it. It needs only forward passes, so it
runs the same on ONNX Runtime (what the dashboard serves with) as on Keras, and one batch answers
every class at once: "why D" is D's map, "why D and not E" the drop of log p(D) - log p(E), which
is the drop of the logit difference. Blank patches are skipped: blanking what is already blank
changes nothing, so their drop is exactly 0. `bench/explain.py` checks that it is faithful
(deletion and model-randomisation checks).

**What each layer sees**: the output of every convolutional block (after its activation) and of
every hidden dense layer for this digit, and the first convolution's filters. A Keras model is
tapped directly; an `OnnxModel` carries these as extra outputs and metadata, which the store
writes into every `model.onnx` (see `tapped_model` and `digitrec_core.serving.runtime`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from digitrec_core.models import NUM_CLASSES
from digitrec_core.serving.evaluation import as_batch, predict_proba
from digitrec_core.serving.runtime import OnnxModel

PATCH = 4  # occluded square, in input pixels: about a stroke's width (MNIST strokes are ~2.5 px)
STRIDE = 2
_EPS = 1e-7  # log(0) guard: a probability the network rounds to 0 still has a finite log
SIDE = 28
_STARTS = np.arange(0, SIDE - PATCH + 1, STRIDE)
# How many patches cover each pixel (all of them, blank or not): the mean's denominator.
_COVER = np.zeros((SIDE, SIDE), np.float32)
for _r in _STARTS:
    for _c in _STARTS:
        _COVER[_r:_r + PATCH, _c:_c + PATCH] += 1


@dataclass(frozen=True, eq=False)
class Explanation:
    """One digit explained. `attribution` is for `target` (larger = more evidence for it);
    `for_class(c)` and `contrast(a, b)` give the others from the same occlusion batch."""

    target: int
    attribution: np.ndarray  # (28, 28) float32
    probabilities: np.ndarray  # (10,) float32
    activations: dict[str, np.ndarray]  # layer name -> (H, W, C) or (units,), in the network's order
    by_class: np.ndarray = field(repr=False)  # (10, 28, 28): every class's attribution
    filters: np.ndarray | None = field(default=None, repr=False)  # the first convolution's (kh, kw, C)
    filters_layer: str | None = None

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def runner_up(self) -> int:
        """The most probable class after the predicted one."""
        return int(np.argsort(self.probabilities)[-2])

    def for_class(self, c: int) -> np.ndarray:
        return self.by_class[_digit(c)]

    def contrast(self, a: int, b: int | None = None) -> np.ndarray:
        """Evidence for `a` rather than `b` (default: the runner-up, or the predicted class when `a` is the
        runner-up): the drop of log p(a) - log p(b) when a patch is blanked."""
        a = _digit(a)
        if b is None:
            b = self.runner_up if a == self.predicted else self.predicted
        return self.by_class[a] - self.by_class[_digit(b)]


def _digit(c: int) -> int:
    if not 0 <= int(c) < NUM_CLASSES:
        raise ValueError(f"A class is a digit from 0 to 9, not {c!r}.")
    return int(c)


def occlusion(model, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (10,), attributions (10, 28, 28)) of one (28, 28) image, from one batch of
    forward passes on its non-blank patches blanked."""
    x = as_batch(image)[0, ..., 0]
    inked = [(r, c) for r in _STARTS for c in _STARTS if x[r:r + PATCH, c:c + PATCH].any()]
    batch = np.repeat(x[None], len(inked) + 1, axis=0)
    for k, (r, c) in enumerate(inked, start=1):
        batch[k, r:r + PATCH, c:c + PATCH] = 0
    probs = predict_proba(model, batch)
    logp = np.log(probs.astype(np.float64) + _EPS)
    drops = (logp[0] - logp[1:]).astype(np.float32)  # (patches, 10)
    total = np.zeros((NUM_CLASSES, SIDE, SIDE), np.float32)
    for (r, c), d in zip(inked, drops):
        total[:, r:r + PATCH, c:c + PATCH] += d[:, None, None]
    return probs[0], total / _COVER * x


def explain(model, image: np.ndarray, target: int | None = None) -> Explanation:
    """Explain `model`'s reading of `image`, a (28, 28) float image as `canvas_to_mnist` returns it.

    `model` is what `load_model().model` gives (an `OnnxModel`) or a Keras model. `target` is the class
    to explain (default: the predicted one)."""
    x = np.asarray(image)
    if x.shape != (SIDE, SIDE):
        raise ValueError(f"explain takes one 28x28 image, not an array of shape {x.shape}.")
    probs, by_class = occlusion(model, x)
    target = int(probs.argmax()) if target is None else _digit(target)
    activations, filters, filters_layer = _inside(model, x)
    return Explanation(target=target, attribution=by_class[target], probabilities=probs, activations=activations,
                       by_class=by_class, filters=filters, filters_layer=filters_layer)


# ---- what each layer sees ----------------------------------------------------------------------------

_BLOCK_END = ("Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "Dropout", "Flatten", "GlobalAveragePooling2D")


def explained_layers(model) -> list[str]:
    """The layers whose outputs `explain` shows, in order: each convolutional block's and each hidden
    dense layer's output after its normalisation and activation (the last layer of the run that starts
    at a Conv2D or Dense and ends before the next pooling, dropout, flatten, convolution or dense)."""
    layers = model.layers
    names, open_block = [], None
    for k, layer in enumerate(layers[:-1]):  # the last layer is the output
        kind = type(layer).__name__
        if kind in ("Conv2D", "Dense"):
            open_block = layer.name
        elif kind in _BLOCK_END:
            open_block = None
        if open_block and type(layers[k + 1]).__name__ in _BLOCK_END:
            names.append(layer.name)
            open_block = None
    return names


def first_filters(model) -> tuple[str, np.ndarray] | None:
    """The first Conv2D's name and kernel as (kh, kw, filters) (one input channel), or None."""
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            kernel = np.asarray(layer.get_weights()[0], np.float32)
            return layer.name, kernel[:, :, 0, :]
    return None


def tapped_model(model):
    """A Keras model with the same layers (and weights) whose outputs are the probabilities, then
    `explained_layers(model)`'s outputs; with those names."""
    import keras

    names = explained_layers(model)
    inputs = keras.Input(model.input_shape[1:])
    x, taps = inputs, {}
    for layer in model.layers:
        x = layer(x)
        taps[layer.name] = x
    return keras.Model(inputs, [x, *(taps[n] for n in names)], name=f"{model.name}_tapped"), names


_tapped: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _inside(model, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray | None, str | None]:
    batch = as_batch(x)
    if isinstance(model, OnnxModel):
        outputs = model.run_all(batch)
        acts = {name: out[0] for name, out in zip(model.layer_names, outputs[1:])}
        return acts, model.filters, model.filters_layer
    if model not in _tapped:
        _tapped[model] = tapped_model(model)
    tapped, names = _tapped[model]
    outputs = tapped(batch, training=False)
    acts = {name: np.asarray(out)[0] for name, out in zip(names, outputs[1:])}
    found = first_filters(model)
    return acts, *(found[::-1] if found else (None, None))
