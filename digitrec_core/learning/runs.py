"""What a run is and what it reports: its configuration, its progress events, its result.

No TensorFlow here: the dashboard's server reads these (a run trains in a child process, see
`digitrec_core.jobs`), and training and fine-tuning build them (`digitrec_core.learning.training`,
`digitrec_core.learning.finetune`, which re-export them).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Literal

from digitrec_core.data import Mnist
from digitrec_core.models import get_architecture
from digitrec_core.serving.evaluation import Evaluation, evaluate

STRATEGIES = ("default", "mirrored")
MAX_SEED = 2**32 - 1  # NumPy's and Keras's seeding take 32 bits
MAX_NEGATIVES = 4.0  # generated non-digits per training digit: beyond a few, the digits drown


def is_whole(v: object, least: int = 0) -> bool:
    """A whole number (NumPy's too, never a bool) of at least `least`."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least


def is_finite(v: object) -> bool:
    """A finite real number (never a bool)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def is_fraction(v: object) -> bool:
    """A fraction to hold out: in [0, 1) (all of the images held out leaves none to train on)."""
    return is_finite(v) and 0 <= v < 1


class TrainingDiverged(ValueError):
    """A run whose loss or weights became NaN or infinite: there is no model to keep."""


def check_settings(**values: tuple[object, bool, str]) -> None:
    """ValueError for the first setting whose check failed: `name=(value, ok, "what it must be")`."""
    for name, (value, ok, want) in values.items():
        if not ok:
            raise ValueError(f"{name} must be {want}, not {value!r}.")


@dataclass(frozen=True)
class TrainConfig:
    """A run's hyperparameters; `None` fields take the architecture's recipe."""

    arch: str = "default"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    augment: bool | None = None
    limit: int | None = None  # training images to use (before the validation split); None = all
    validation_split: float | None = None
    seed: int = 0
    # "default": one device; "mirrored": tf.distribute.MirroredStrategy over this host's GPUs, `batch_size`
    # images per replica (the global batch grows with the replicas).
    strategy: str = "default"
    negatives: float | None = None  # generated non-digits per training digit (see Recipe.negatives)

    def __post_init__(self) -> None:
        """Refuse what no run can honour (a negative limit, a NaN rate), whoever asks: the CLI, a page, the API.
        A value of None takes the recipe's."""
        def unset_or(v, ok):
            return v is None or ok(v)

        check_settings(
            epochs=(self.epochs, unset_or(self.epochs, lambda v: is_whole(v, 1)), "a whole number >= 1"),
            batch_size=(self.batch_size, unset_or(self.batch_size, lambda v: is_whole(v, 1)), "a whole number >= 1"),
            learning_rate=(self.learning_rate, unset_or(self.learning_rate, lambda v: is_finite(v) and v > 0),
                           "a finite number > 0"),
            limit=(self.limit, unset_or(self.limit, lambda v: is_whole(v, 1)), "a whole number >= 1 (or None: all)"),
            validation_split=(self.validation_split, unset_or(self.validation_split, is_fraction),
                              "a fraction in [0, 1)"),
            seed=(self.seed, is_whole(self.seed) and self.seed <= MAX_SEED, f"a whole number in 0-{MAX_SEED}"),
            strategy=(self.strategy, self.strategy in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
            negatives=(self.negatives, unset_or(self.negatives, lambda v: is_finite(v) and 0 <= v <= MAX_NEGATIVES),
                       f"a number from 0 to {MAX_NEGATIVES:g}"),
        )

    def resolved(self, n_images: int | None = None) -> TrainConfig:
        """Every field set. An unset batch size follows the recipe's rule for short runs, which needs the
        number of training images: `limit` when set, else `n_images` (the images available, when known)."""
        r = get_architecture(self.arch).recipe

        def pick(v, d):
            return d if v is None else v

        epochs = int(pick(self.epochs, r.epochs))
        validation_split = float(pick(self.validation_split, r.validation_split))
        batch_size = self.batch_size
        if batch_size is None:
            known = [n for n in (self.limit, n_images) if n]
            n = min(known) if known else None
            batch_size = r.batch_size if n is None else r.batch_size_for(n - round(n * validation_split), epochs)
        return TrainConfig(
            arch=self.arch,
            epochs=epochs,
            batch_size=int(batch_size),
            learning_rate=float(pick(self.learning_rate, r.learning_rate)),
            augment=bool(pick(self.augment, r.augment)),
            limit=self.limit,
            validation_split=validation_split,
            seed=int(self.seed),
            strategy=self.strategy,
            negatives=float(pick(self.negatives, r.negatives)),
        )


@dataclass(frozen=True)
class Progress:
    """One report: every batch and at each epoch end.

    `loss` and `accuracy` are Keras's running means over the epoch so far: they restart at every
    epoch, so a curve of them jumps at each boundary (1.8 -> 1.2). `smooth_loss` and
    `smooth_accuracy` do not: each batch's own value, recovered from consecutive running means
    (weighted by images: n_k * m_k - n_(k-1) * m_(k-1), over the batch's images), enters an
    exponential moving average (decay `SMOOTHING` per batch, bias-corrected as Adam's moments
    are) that carries on across epochs. An epoch event repeats the last batch's smoothed values.
    """

    kind: Literal["batch", "epoch"]
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int
    loss: float
    accuracy: float
    images_per_sec: float
    elapsed: float  # seconds since training started
    val_loss: float | None = None
    val_accuracy: float | None = None
    smooth_loss: float | None = None
    smooth_accuracy: float | None = None

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches)


# What a run's history records per epoch (`TrainResult.history`), as Keras's logs name them; training adds the
# epoch's speed, `images_per_sec`.
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class Fitted:
    """What `training.fit` did: per-epoch history (as `TrainResult.history`), epochs completed, whether stopped."""

    history: dict[str, list[float]]
    epochs_run: int
    stopped: bool
    seconds: float


@dataclass
class TrainResult:
    model: object = field(repr=False)
    config: TrainConfig
    history: dict[str, list[float]]  # per epoch: HISTORY_KEYS and images_per_sec
    epochs_run: int
    stopped: bool
    seconds: float
    n_train: int
    n_val: int
    data_source: str
    test: Evaluation | None = field(default=None, repr=False)  # None when the run was stopped
    digit_threshold: float | None = None  # "not a digit" below this top probability (digitrec_core.serving.recognition)

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test.accuracy

    @property
    def test_loss(self) -> float | None:
        return None if self.test is None else self.test.loss

    @classmethod
    def from_fit(cls, model, config: TrainConfig, fitted: Fitted, *, data: Mnist, n_train: int, n_val: int,
                 data_source: str | None = None, **extra) -> TrainResult:
        """What `fit` did as a result, evaluated on the test set unless it was stopped."""
        return cls(model=model, config=config, history=fitted.history, epochs_run=fitted.epochs_run,
                   stopped=fitted.stopped, seconds=fitted.seconds, n_train=n_train, n_val=n_val,
                   data_source=data_source or data.origin,
                   test=None if fitted.stopped else evaluate(model, data.x_test, data.y_test), **extra)


@dataclass
class FineTuneResult(TrainResult):
    kind: str = "finetune"
    base: str = ""  # the model it started from
    base_test_accuracy: float | None = None
    personal_before: float | None = None  # the base model on the held-out personal digits
    personal_after: float | None = None  # the fine-tuned model on the same digits
    personal_loss_before: float | None = None  # the same two on the same digits as log-loss (lower is better)
    personal_loss_after: float | None = None
    active_name: str | None = None  # the model active when the fine-tune started ...
    active_personal: float | None = None  # ... and its held-out personal accuracy (the activation rule's reference)
    active_personal_loss: float | None = None  # ... and log-loss
    personal_ids: list[str] = field(default_factory=list)  # the personal digits trained on
    holdout_ids: list[str] = field(default_factory=list)

    @property
    def n_personal_train(self) -> int:
        return len(self.personal_ids)

    @property
    def n_personal_holdout(self) -> int:
        return len(self.holdout_ids)

    def personal_meta(self) -> dict:
        """What the model store records about the personal digits (ids, split, scores)."""
        return {
            "ids": self.personal_ids,
            "holdout_ids": self.holdout_ids,
            "n_train": self.n_personal_train,
            "n_holdout": self.n_personal_holdout,
            "before": self.personal_before,
            "after": self.personal_after,
            "loss_before": self.personal_loss_before,
            "loss_after": self.personal_loss_after,
            "base_test_accuracy": self.base_test_accuracy,
            "split": "fixed per sample: held out when a hash of its id falls in the lowest fraction",
        }
