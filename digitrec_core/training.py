"""Training that streams its progress, so a page can draw curves while it runs and stop it."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import keras
import numpy as np

from digitrec_core.data import Mnist, load_mnist
from digitrec_core.evaluation import Evaluation, as_batch, evaluate
from digitrec_core.models import get_architecture


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

    def resolved(self) -> "TrainConfig":
        r = get_architecture(self.arch).recipe
        pick = lambda v, d: d if v is None else v  # noqa: E731
        return TrainConfig(
            arch=self.arch,
            epochs=int(pick(self.epochs, r.epochs)),
            batch_size=int(pick(self.batch_size, r.batch_size)),
            learning_rate=float(pick(self.learning_rate, r.learning_rate)),
            augment=bool(pick(self.augment, r.augment)),
            limit=self.limit,
            validation_split=float(pick(self.validation_split, r.validation_split)),
            seed=int(self.seed),
        )


@dataclass(frozen=True)
class Progress:
    """One report: every batch (running means over the epoch so far) and at each epoch end."""

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

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches)


@dataclass
class TrainResult:
    model: object = field(repr=False)
    config: TrainConfig
    history: dict[str, list[float]]  # per epoch: loss, accuracy, val_loss, val_accuracy, images_per_sec
    epochs_run: int
    stopped: bool
    seconds: float
    n_train: int
    n_val: int
    data_source: str
    test: Evaluation | None = field(default=None, repr=False)  # None when the run was stopped

    @property
    def test_accuracy(self) -> float | None:
        return None if self.test is None else self.test.accuracy

    @property
    def test_loss(self) -> float | None:
        return None if self.test is None else self.test.loss


class _Reporter(keras.callbacks.Callback):
    """Translates fit's hooks into `Progress` events and honours stop requests."""

    def __init__(self, cfg: TrainConfig, n_images: int, on_progress, stop):
        super().__init__()
        self.cfg, self.n_images, self.on_progress, self.stop = cfg, n_images, on_progress, stop
        self.batches = -(-n_images // cfg.batch_size)
        self.history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy", "images_per_sec")}
        self.started = time.perf_counter()
        self.stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_started, self.seen = epoch + 1, time.perf_counter(), 0

    def _event(self, kind, batch, logs, **val):
        now = time.perf_counter()
        return Progress(
            kind=kind,
            epoch=self.epoch,
            epochs=self.cfg.epochs,
            batch=batch,
            batches=self.batches,
            loss=float(logs["loss"]),
            accuracy=float(logs["accuracy"]),
            images_per_sec=self.seen / max(now - self.epoch_started, 1e-9),
            elapsed=now - self.started,
            **val,
        )

    def on_train_batch_end(self, batch, logs=None):
        self.seen = min(self.seen + self.cfg.batch_size, self.n_images)
        if self.on_progress:
            self.on_progress(self._event("batch", batch + 1, logs))
        if self.stop is not None and self.stop.is_set():
            self.stopped = self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return  # a partial epoch is not a point on the curves
        event = self._event("epoch", self.batches, logs, val_loss=_opt(logs, "val_loss"), val_accuracy=_opt(logs, "val_accuracy"))
        for key in self.history:
            self.history[key].append(getattr(event, key))
        if self.on_progress:
            self.on_progress(event)


def _opt(logs, key):
    return None if logs.get(key) is None else float(logs[key])


def _dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment: bool, seed: int, shuffle: bool):
    import tensorflow as tf

    from digitrec_core.augment import augment_batch

    ds = tf.data.Dataset.from_tensor_slices((as_batch(x), y.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if shuffle:
        ds = ds.repeat()  # one iterator for the whole run (see `train`)
    if augment:
        ds = ds.map(lambda a, b: (augment_batch(a), b), num_parallel_calls=os.cpu_count() or 1)
    # No tf.data autotuning: its background thread can keep a finished iterator's destructor
    # waiting for seconds (12 s seen at the end of a run), and a fixed pipeline is as fast here.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def split(data: Mnist, limit: int | None, validation_split: float, seed: int):
    """A seeded random subset of `limit` training images, the last `validation_split` of it held out."""
    order = np.random.default_rng(seed).permutation(len(data.x_train))[: limit or None]
    n_val = int(round(len(order) * validation_split))
    tr, va = order[: len(order) - n_val], order[len(order) - n_val :]
    return (data.x_train[tr], data.y_train[tr]), (data.x_train[va], data.y_train[va])


def train(
    config: TrainConfig | None = None,
    *,
    data: Mnist | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    **overrides,
) -> TrainResult:
    """Train a fresh network; `train(arch="seed", epochs=3)` works as well as `train(TrainConfig(...))`.

    `on_progress` is called from the training thread after every batch and at each epoch end;
    setting `stop` ends the run after the current batch (the result is then marked `stopped`
    and not evaluated on the test set).
    """
    if config is not None and overrides:
        raise TypeError("Pass either a TrainConfig or keyword hyperparameters, not both.")
    cfg = (config or TrainConfig(**overrides)).resolved()
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.learning_rate <= 0 or not 0 <= cfg.validation_split < 1:
        raise ValueError(f"Invalid hyperparameters: {cfg}")
    data = data or load_mnist()
    (x_tr, y_tr), (x_va, y_va) = split(data, cfg.limit, cfg.validation_split, cfg.seed)
    if len(x_tr) < cfg.batch_size:
        raise ValueError(f"Only {len(x_tr)} training images for a batch size of {cfg.batch_size}.")

    keras.utils.set_random_seed(cfg.seed)
    model = get_architecture(cfg.arch).build()
    reporter = _Reporter(cfg, len(x_tr), on_progress, stop)
    lr = cfg.learning_rate
    if get_architecture(cfg.arch).recipe.cosine_decay:
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=reporter.batches * cfg.epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    model.fit(
        _dataset(x_tr, y_tr, cfg.batch_size, cfg.augment, cfg.seed, shuffle=True),
        epochs=cfg.epochs,
        validation_data=_dataset(x_va, y_va, 1000, False, cfg.seed, shuffle=False) if len(x_va) else None,
        # An endless dataset cut into epochs by step count: one tf.data iterator for the whole run,
        # none built and torn down at every epoch (teardown is where tf.data has stalled, see _dataset).
        steps_per_epoch=reporter.batches,
        callbacks=[reporter],
        shuffle=False,  # the dataset reshuffles itself each epoch
        verbose=0,
    )
    seconds = time.perf_counter() - started
    return TrainResult(
        model=model,
        config=cfg,
        history=reporter.history,
        epochs_run=len(reporter.history["loss"]),
        stopped=reporter.stopped,
        seconds=seconds,
        n_train=len(x_tr),
        n_val=len(x_va),
        data_source=data.source,
        test=None if reporter.stopped else evaluate(model, data.x_test, data.y_test),
    )
