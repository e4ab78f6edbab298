"""Network architectures by name, each with the training recipe it was tuned for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow is imported lazily: keep `import digitrec_core` cheap.
    import keras

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters an architecture trains well with; the CLI and the Train page start from these."""

    epochs: int
    batch_size: int
    learning_rate: float
    augment: bool
    validation_split: float = 0.1
    cosine_decay: bool = False  # anneal the learning rate to zero ...
    # ... over the run's last fraction, at the full rate before it. For the default network at batch
    # 16, 0.3 rather than a cosine over the whole run gave 93.9% instead of 91.6% after 1 epoch on
    # 2,000 images, 97.3% instead of 96.9% after 3 (means of 3 seeds), and 99.50% for the full
    # recipe (99.49% before).
    decay_fraction: float = 0.3
    # A short run gets a smaller batch (halved, down to min_batch_size) until it takes at least
    # min_steps optimiser steps. 1 epoch on 1,800 images is 15 steps at batch 128 (85% test accuracy,
    # with refreshed batch-norm statistics) and 113 at batch 16 (92%); 3 epochs reached 96.9% with
    # 171 steps at batch 32 and 97.3% with 339 at batch 16 (hence 300). Batch 8 gained nothing more.
    min_steps: int = 300
    min_batch_size: int = 16
    # Generated non-digits (digitrec_core.learning.negatives) added to training, per training digit, with the uniform
    # distribution as their target (outlier exposure): the model learns to spread its probabilities over the
    # ten digits for a dot, a scribble or a letter, so "not a digit" is its top probability falling below a
    # threshold (digitrec_core.serving.recognition). bench/outlier_exposure.py compares it with an 11th class.
    negatives: float = 0.0

    def batch_size_for(self, n_train: int, epochs: int) -> int:
        """The batch size for `epochs` epochs on `n_train` images: `batch_size`, smaller for a short run."""
        b = self.batch_size
        while b // 2 >= self.min_batch_size and epochs * -(-n_train // b) < self.min_steps:
            b //= 2
        return b


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    recipe: Recipe
    build: Callable[[], keras.Model] = field(repr=False)


# Layers are named explicitly: Keras's automatic names come from process-global counters, which
# gave two layers the same name when a model was built on the dashboard's training thread.


def _seed() -> keras.Model:
    from keras import layers, models

    return models.Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Conv2D(64, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(64, 3, activation="relu", name="conv3"),
            layers.MaxPooling2D(2, name="pool3"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dense(32, activation="relu", name="dense2"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="seed",
    )


def _default() -> keras.Model:
    from keras import layers, models

    def block(i: int, filters: int) -> list:
        # Bias is redundant before batch normalisation.
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}"),
            layers.BatchNormalization(momentum=0.9, name=f"bn{i}"),
            layers.ReLU(name=f"relu{i}"),
            layers.MaxPooling2D(2, name=f"pool{i}"),
        ]

    return models.Sequential(
        [
            layers.Input(INPUT_SHAPE),
            *block(1, 32),
            *block(2, 64),
            *block(3, 128),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.4, name="dropout1"),
            layers.Dense(128, use_bias=False, name="dense"),
            layers.BatchNormalization(momentum=0.9, name="bn4"),
            layers.ReLU(name="relu4"),
            layers.Dropout(0.4, name="dropout2"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="default",
    )


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "default",
            "Batch-normalised CNN (32-64-128 filters) trained with drawing-like augmentation.",
            Recipe(epochs=12, batch_size=128, learning_rate=3e-3, augment=True, cosine_decay=True, negatives=0.5),
            _default,
        ),
        Architecture(
            "seed",
            "The original network: 3 x Conv2D(64) + max-pool, Dense 64-32-10; 81,066 parameters.",
            # A cosine over the whole run, as before: annealing over its last 30% only took short runs
            # further (2,000 images, 1 epoch: 84% for 77%) but the full recipe from 98.55% to 98.39%.
            Recipe(epochs=12, batch_size=32, learning_rate=2e-3, augment=False, cosine_decay=True, decay_fraction=1.0),
            _seed,
        ),
    )
}


def get_architecture(arch: str) -> Architecture:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}.") from None


def build_model(arch: str = "default") -> keras.Model:
    """A fresh, uncompiled network; training compiles it with the run's optimiser."""
    return get_architecture(arch).build()


@dataclass(frozen=True)
class FineTuneRecipe:
    """How `digitrec_core.learning.finetune` adapts a trained model to a person's digits. bench/finetune.py compares it
    with the recipe before (all layers, twice the steps: 0.1-0.2 points more of MNIST lost) and with others."""

    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 2e-3  # two thirds of training's peak, annealed by a cosine: move the weights, do not retrain
    rehearsal: int = 2000  # MNIST training images mixed in each epoch so MNIST is not forgotten
    personal_share: float = 0.5  # the fraction of each epoch's images that are personal (oversampled)
    min_samples: int = 10
    negatives: float = 0.25  # generated non-digits per image of the mix, for a base model that knows "not a digit"
    # Which layers learn: "top" (from the last convolution on: a hand's strokes, not MNIST's edges), "head" (the
    # dense layers) or "all"; batch-norm statistics stay frozen in each.
    layers: str = "top"
    distill: float = 0.0  # weight of the parent's answers on the rehearsed images (learning without forgetting)
    styles: bool = False  # no redrawing in other writers' styles, as training does: a fine-tune learns one hand
    interpolate: float = 0.85  # the final weights: the parent's moved this share of the way to the fine-tuned ones


FINE_TUNE = FineTuneRecipe()
HOLDOUT = 0.2  # the fraction of a person's digits kept out of training to judge a fine-tune
