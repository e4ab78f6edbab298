"""Training that streams its progress, so a page can draw curves while it runs and stop it."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

import keras
import numpy as np

from digitrec_core.data import Mnist, load_mnist
from digitrec_core.learning.runs import (  # noqa: F401  (re-exported)
    HISTORY_KEYS,
    STRATEGIES,
    Fitted,
    Progress,
    TrainConfig,
    TrainingDiverged,
    TrainResult,
)
from digitrec_core.models import INPUT_SHAPE, get_architecture
from digitrec_core.serving.evaluation import as_batch
from digitrec_core.text import plural

SMOOTHING = 0.9  # per batch: the smoothed curves follow about the last 10 batches


class _BatchSmoother:
    """Each batch's loss and accuracy from Keras's running means, smoothed across epochs (see `Progress`)."""

    def __init__(self, decay: float = SMOOTHING):
        self.decay, self.steps, self.average = decay, 0, {}
        self.new_epoch()

    def new_epoch(self) -> None:
        self.seen, self.means = 0, {}  # Keras's means start again

    def update(self, n: int, means: dict[str, float]) -> dict[str, float]:
        """`n` images in this batch, `means` the running means after it; returns the smoothed values."""
        seen = self.seen + n
        self.steps += 1
        smoothed = {}
        for key, mean in means.items():
            value = (seen * mean - self.seen * self.means.get(key, 0.0)) / n
            self.average[key] = self.decay * self.average.get(key, 0.0) + (1 - self.decay) * value
            smoothed[key] = self.average[key] / (1 - self.decay**self.steps)
        self.seen, self.means = seen, dict(means)
        return smoothed


class _Reporter(keras.callbacks.Callback):
    """Translates fit's hooks into `Progress` events and honours stop requests."""

    def __init__(self, epochs: int, batch_size: int, n_images: int, on_progress, stop):
        super().__init__()
        self.epochs, self.batch_size, self.n_images = epochs, batch_size, n_images
        self.on_progress, self.stop = on_progress, stop
        self.batches = -(-n_images // batch_size)
        self.history = {k: [] for k in (*HISTORY_KEYS, "images_per_sec")}
        self.started = time.perf_counter()
        self.stopped = False
        self.smoother, self.smooth = _BatchSmoother(), {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_started, self.seen = epoch + 1, time.perf_counter(), 0
        self.smoother.new_epoch()

    def _event(self, kind, batch, logs, **val):
        now = time.perf_counter()
        return Progress(
            kind=kind,
            epoch=self.epoch,
            epochs=self.epochs,
            batch=batch,
            batches=self.batches,
            loss=float(logs["loss"]),
            accuracy=float(logs["accuracy"]),
            images_per_sec=self.seen / max(now - self.epoch_started, 1e-9),
            elapsed=now - self.started,
            smooth_loss=self.smooth.get("loss"),
            smooth_accuracy=self.smooth.get("accuracy"),
            **val,
        )

    def on_train_batch_end(self, batch, logs=None):
        seen = min(self.seen + self.batch_size, self.n_images)
        self.smooth = self.smoother.update(seen - self.seen, {k: float(logs[k]) for k in ("loss", "accuracy")})
        self.seen = seen
        if self.on_progress:
            self.on_progress(self._event("batch", batch + 1, logs))
        if self.stop is not None and self.stop.is_set():
            self.stopped = self.model.stop_training = True
        elif not np.isfinite(logs["loss"]):  # diverged: no point going on (`fit` refuses the result)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return  # a partial epoch is not a point on the curves
        val = {"val_loss": _opt(logs, "val_loss"), "val_accuracy": _opt(logs, "val_accuracy")}
        event = self._event("epoch", self.batches, logs, **val)
        for key in self.history:
            self.history[key].append(getattr(event, key))
        if self.on_progress:
            self.on_progress(event)


NEGATIVE = 10  # the training label of a generated non-digit: its target is the uniform distribution


def not_a_digit_loss(y_true, y_pred):
    """Sparse cross-entropy for a digit; for a generated non-digit (label NEGATIVE), the cross-entropy to the
    uniform distribution over the ten digits less its floor, log 10 (outlier exposure, Hendrycks et al. 2019):
    0 when the model spreads its probabilities evenly. Plain digit labels give plain cross-entropy."""
    import tensorflow as tf

    y = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
    log_p = tf.math.log(tf.clip_by_value(y_pred, keras.config.epsilon(), 1.0))
    digit = -tf.gather(log_p, tf.minimum(y, NEGATIVE - 1), batch_dims=1)
    uniform = -tf.reduce_mean(log_p, axis=1) - np.log(float(NEGATIVE))
    return tf.where(y == NEGATIVE, uniform, digit)


def distillation_loss(weight: float):
    """`not_a_digit_loss` on the first ten outputs (the model being trained) plus `weight` times the KL divergence
    from the next ten (its parent's, frozen, on the same augmented batch) to them: learning without forgetting
    (Li & Hoiem 2016). The parent's answers on every image, digits, rehearsal and non-digits alike, hold the
    fine-tuned model close to what it was wherever the personal digits do not pull it away."""
    import tensorflow as tf

    def loss(y_true, y_pred):  # y_true: (B, 2), a label and whether the parent's answer applies (see `fit`)
        y = tf.cast(y_true, tf.int32)
        student = y_pred[:, :NEGATIVE]
        teacher = tf.clip_by_value(tf.stop_gradient(y_pred[:, NEGATIVE:]), keras.config.epsilon(), 1.0)
        log_student = tf.math.log(tf.clip_by_value(student, keras.config.epsilon(), 1.0))
        kl = tf.reduce_sum(teacher * (tf.math.log(teacher) - log_student), axis=1)
        return not_a_digit_loss(y[:, 0], student) + weight * tf.cast(y[:, 1], kl.dtype) * kl

    return loss


class _Frozen(keras.layers.Layer):
    """A trained model as a layer that always runs in inference mode (no dropout, its batch-norm statistics):
    a functional model passes `training=True` to every layer whose `call` takes a `training` argument."""

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.frozen = model
        model.trainable = False

    def call(self, x):
        return self.frozen(x, training=False)


def _with_teacher(model: keras.Model, teacher: keras.Model) -> keras.Model:
    """`model` and `teacher` side by side on one input: (B, 20) outputs, the first ten `model`'s (trained in place)."""
    x = model.inputs[0]
    return keras.Model(x, keras.layers.Concatenate(name="with_teacher")([model(x), _Frozen(teacher)(x)]))


class DigitAccuracy(keras.metrics.Metric):
    """Accuracy on the digits of each batch: a generated non-digit has no right answer to count."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.right = self.add_variable(shape=(), initializer="zeros", name="right")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        ops = keras.ops
        if len(y_true.shape) == 2 and y_true.shape[-1] == 2:  # a label and whether a teacher applies (`fit`)
            y_true = y_true[:, 0]
        y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        digit = ops.cast(y < NEGATIVE, "float32")
        read = ops.argmax(y_pred[:, :NEGATIVE], axis=-1)  # a model trained beside its teacher has 20 outputs
        right = ops.cast(ops.equal(ops.cast(read, "int32"), y), "float32") * digit
        self.right.assign_add(ops.sum(right))
        self.total.assign_add(ops.sum(digit))

    def result(self):
        return keras.ops.divide_no_nan(self.right, self.total)

    def reset_state(self):
        self.right.assign(0.0)
        self.total.assign(0.0)


def with_negatives(x: np.ndarray, y: np.ndarray, per_digit: float, seed: int, drawn: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The training digits and `per_digit` generated non-digits for each (`negatives.for_training`, as the Draw
    page reads drawings), labelled NEGATIVE; the digits alone for 0. `drawn`: those non-digits, drawn already."""
    from digitrec_core.learning.negatives import for_training

    neg = for_training(len(x), per_digit, seed) if drawn is None else drawn
    if not len(neg):
        return x, y
    images = np.asarray(x, np.float32) / 255.0 if np.asarray(x).dtype == np.uint8 else np.asarray(x, np.float32)
    return (np.concatenate([images.reshape(len(x), 28, 28), neg]),
            np.concatenate([np.asarray(y, np.int32), np.full(len(neg), NEGATIVE, np.int32)]))


def digit_threshold(model, x: np.ndarray, seed: int, most: int = 2000) -> float:
    """The "not a digit" threshold for `model`: the top probability that flags FLAG_RATE of (at most `most` of)
    these real digits, re-drawn as pen strokes on the canvas as the Draw page would see them."""
    from digitrec_core.learning.redraw import as_drawn
    from digitrec_core.serving.evaluation import predict_proba
    from digitrec_core.serving.recognition import calibrate

    pick = np.sort(np.random.default_rng(seed).permutation(len(x))[:most])
    drawn = as_drawn(x[pick], seed)
    found = drawn.reshape(len(drawn), -1).max(axis=1) > 0  # the page shows "Draw a digit" for the others
    return calibrate(predict_proba(model, drawn[found]))


def _opt(logs, key):
    return None if logs.get(key) is None else float(logs[key])


def _dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augment: bool, seed: int, shuffle: bool,
             styles: bool = True):
    import tensorflow as tf

    from digitrec_core.learning.augment import augment_batch

    ds = tf.data.Dataset.from_tensor_slices((as_batch(x), y.astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if shuffle:
        ds = ds.repeat()  # one iterator for the whole run (see `train`)
    if augment:  # y: labels, or labels and a second column for the loss alone (see `fit`)
        # Not converted by AutoGraph: the augmentation branches on Python values only, so the graph is the same,
        # and converting its source cost 2.1 s of a run's first batch (of 14.8 s to it, cold).
        step = tf.autograph.experimental.do_not_convert(
            lambda a, b: (augment_batch(a, (b if y.ndim == 1 else b[:, 0]) if styles else None), b))
        ds = ds.map(step, num_parallel_calls=os.cpu_count() or 1)
    # No tf.data autotuning: its background thread can keep a finished iterator's destructor
    # waiting for seconds (12 s seen at the end of a run), and a fixed pipeline is as fast here.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def refresh_batchnorm(model: keras.Model, x: np.ndarray) -> int:
    """Set each trainable BatchNormalization layer's moving mean and variance to its input's statistics over `x`.

    Layer by layer, in inference mode: each layer's statistics are those of the network as it will
    be used, with every earlier layer already refreshed (dropout off). Keras's moving averages
    (momentum 0.9) remember the start of a short run: after 1 epoch on 1,800 images (15 batches)
    they made the default network answer one class for every digit (11.35% test accuracy), where
    the same weights with refreshed statistics scored about 87%. Frozen layers (`trainable=False`)
    keep their statistics. Returns the number of layers refreshed.
    """
    return _BatchNormRefresher(model)(x)


class _BatchNormRefresher:
    """`refresh_batchnorm` with its per-layer functions traced once, for a refresh at every epoch."""

    def __init__(self, model: keras.Model, batch_size: int = 500):
        import tensorflow as tf

        self.batch_size, self.steps = batch_size, []
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
                probe = keras.Model(model.inputs, layer.input)

                @tf.function(input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)])
                def moments(batch, probe=probe):
                    h = probe(batch, training=False)
                    mean, var = tf.nn.moments(h, axes=list(range(len(h.shape) - 1)))  # per channel
                    return mean, var, tf.size(h) // tf.shape(h)[-1]

                self.steps.append((layer, moments))

    def __call__(self, x: np.ndarray) -> int:
        images = as_batch(x)
        for layer, moments in self.steps:  # in order: each layer sees its predecessors refreshed
            total, mean_sum, sq_sum = 0, 0.0, 0.0  # float64: a weighted combination of per-batch moments
            for i in range(0, len(images), self.batch_size):
                m, v, n = (t.numpy() for t in moments(images[i : i + self.batch_size]))
                m, v = m.astype(np.float64), v.astype(np.float64)
                total, mean_sum, sq_sum = total + n, mean_sum + n * m, sq_sum + n * (v + m * m)
            mean = mean_sum / total
            layer.moving_mean.assign(mean.astype(np.float32))
            layer.moving_variance.assign(np.maximum(sq_sum / total - mean * mean, 0.0).astype(np.float32))
        return len(self.steps)


class _RefreshBatchNorm(keras.callbacks.Callback):
    """Refreshes `network`'s batch-norm statistics after each epoch's last batch, so validation already uses them
    (`network`: the model trained, which Keras's `self.model` wraps when it trains beside a teacher)."""

    def __init__(self, network: keras.Model, x: np.ndarray, batches: int):
        super().__init__()
        self.network, self.x, self.batches, self.refresh = network, x, batches, None

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.batches and not self.model.stop_training:
            self.refresh = self.refresh or _BatchNormRefresher(self.network)
            self.refresh(self.x)


def learning_rate_schedule(learning_rate: float, steps: int, decay_fraction: float = 1.0):
    """`learning_rate` for the first `1 - decay_fraction` of `steps`, then a cosine to zero over the rest."""
    decay = max(1, round(steps * decay_fraction))
    hold = steps - decay  # the full rate: Keras's warm-up from the rate to itself
    return keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=decay, warmup_target=learning_rate if hold else None, warmup_steps=hold
    )


def fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    augment: bool,
    seed: int = 0,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    cosine_decay: bool = True,
    decay_fraction: float = 1.0,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    batchnorm_images: int = 1024,
    teacher: keras.Model | None = None,
    distill: float = 1.0,
    rehearsed: np.ndarray | None = None,
    styles: bool = True,
) -> Fitted:
    """Compile `model` with Adam and train it in place on `x` (28x28 images, uint8 or float in [0, 1]), `y`.

    The model is used as it is (built, possibly trained, layers possibly frozen): nothing is rebuilt
    or re-initialised, and `seed` only orders the shuffling (seed Keras's global generators
    beforehand for reproducible augmentation and dropout). `on_progress` gets a `Progress` after
    every batch and at each epoch end; a set `stop` ends the run after the current batch.

    `cosine_decay` anneals the rate to zero over the last `decay_fraction` of the run (see
    `learning_rate_schedule`). At each epoch's end, before validation, the trainable batch-norm
    layers' statistics are recomputed on `batchnorm_images` of `x` (`refresh_batchnorm`; 0 keeps
    Keras's moving averages): 1,024 images cost about a third of a second and are as good as all.

    A run whose loss or weights end up NaN or infinite (a learning rate far too high) raises
    TrainingDiverged: it has nothing worth evaluating or saving.

    With a `teacher` (the model `model` was copied from), the loss adds `distill` times the divergence from the
    teacher's answers on each augmented batch (`distillation_loss`) for the images `rehearsed` marks (default:
    all), which should keep the teacher's answers; the teacher is not changed. `styles=False` augments with the
    class-blind warps only, never redrawing a digit in other writers' styles (a fine-tune learns one hand).
    """
    _check_fit(x, y, epochs, batch_size, learning_rate, decay_fraction)
    reporter = _Reporter(epochs, batch_size, len(x), on_progress, stop)
    lr = learning_rate
    if cosine_decay:
        lr = learning_rate_schedule(learning_rate, reporter.batches * epochs, decay_fraction)
    trained, y, validation = _beside_teacher(model, teacher, y, rehearsed, validation)
    _compile(trained, lr, teacher, distill)
    refresh = _refresh_callbacks(model, x, seed, batchnorm_images, reporter.batches)
    started = time.perf_counter()
    _run_fit(trained, x, y, validation, batch_size=batch_size, augment=augment, seed=seed, styles=styles,
             epochs=epochs, steps=reporter.batches, callbacks=[reporter, *refresh])
    _refuse_diverged(reporter, model, learning_rate)
    return Fitted(history=reporter.history, epochs_run=len(reporter.history["loss"]), stopped=reporter.stopped,
                  seconds=time.perf_counter() - started)


def _check_fit(x, y, epochs: int, batch_size: int, learning_rate: float, decay_fraction: float) -> None:
    """ValueError, before anything is compiled, for settings or data no run can honour."""
    if epochs < 1 or batch_size < 1 or learning_rate <= 0 or not 0 < decay_fraction <= 1:
        raise ValueError(
            f"Invalid hyperparameters: epochs={epochs} batch_size={batch_size} learning_rate={learning_rate} "
            f"decay_fraction={decay_fraction}"
        )
    if len(x) != len(y) or len(x) < batch_size:
        raise ValueError(f"Only {plural(len(x), 'training image')} (and {plural(len(y), 'label')}) for a batch size "
                         f"of {batch_size}.")


def _beside_teacher(model: keras.Model, teacher: keras.Model | None, y: np.ndarray, rehearsed: np.ndarray | None,
                    validation: tuple[np.ndarray, np.ndarray] | None):
    """What Keras trains (`model`, or `model` beside its `teacher`), its labels and its validation set: with a
    teacher, each label gets a second column, whether the teacher's answer applies (never in validation)."""
    if teacher is None:
        return model, y, validation
    trained = _with_teacher(model, teacher)
    keep = np.ones(len(y), bool) if rehearsed is None else np.asarray(rehearsed, bool)
    y = np.stack([np.asarray(y, np.int32), keep.astype(np.int32)], axis=1)
    if validation is not None:  # judged on its labels alone
        validation = (validation[0], np.stack([np.asarray(validation[1], np.int32),
                                               np.zeros(len(validation[1]), np.int32)], axis=1))
    return trained, y, validation


def _compile(trained: keras.Model, lr, teacher: keras.Model | None, distill: float) -> None:
    trained.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        # sparse cross-entropy, and outlier exposure for any generated non-digit
        loss=not_a_digit_loss if teacher is None else distillation_loss(distill),
        metrics=[DigitAccuracy()],
    )


def _refresh_callbacks(model: keras.Model, x: np.ndarray, seed: int, images: int, batches: int) -> list:
    """The batch-norm refresh at each epoch's end, on `images` of `x` (none for 0)."""
    if images <= 0:
        return []
    pick = np.random.default_rng(seed).permutation(len(x))[:images]
    return [_RefreshBatchNorm(model, x[np.sort(pick)], batches)]


def _run_fit(trained: keras.Model, x, y, validation, *, batch_size: int, augment: bool, seed: int, styles: bool,
             epochs: int, steps: int, callbacks: list) -> None:
    has_val = validation is not None and len(validation[0]) > 0
    trained.fit(
        _dataset(x, y, batch_size, augment, seed, shuffle=True, styles=styles),
        epochs=epochs,
        validation_data=_dataset(*validation, 1000, False, seed, shuffle=False) if has_val else None,
        # An endless dataset cut into epochs by step count: one tf.data iterator for the whole run,
        # none built and torn down at every epoch (teardown is where tf.data has stalled, see _dataset).
        steps_per_epoch=steps,
        callbacks=callbacks,
        shuffle=False,  # the dataset reshuffles itself each epoch
        verbose=0,
    )


def _refuse_diverged(reporter: _Reporter, model: keras.Model, learning_rate: float) -> None:
    """TrainingDiverged for a run that was not stopped and whose loss or weights are not all finite."""
    losses = [v for k in ("loss", "val_loss") for v in reporter.history[k] if v is not None]
    finite = np.isfinite(losses).all() and all(np.isfinite(w).all() for w in model.get_weights())
    if not reporter.stopped and not finite:
        raise TrainingDiverged(f"Training diverged (its loss or weights became NaN or infinite) with learning rate "
                               f"{learning_rate:g}; nothing was saved: try a lower learning rate.")


def train(
    config: TrainConfig | None = None,
    *,
    data: Mnist | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    non_digits: np.ndarray | None = None,
    **overrides,
) -> TrainResult:
    """Train a fresh network; `train(arch="seed", epochs=3)` works as well as `train(TrainConfig(...))`.

    `on_progress` is called from the training thread after every batch and at each epoch end;
    setting `stop` ends the run after the current batch (the result is then marked `stopped`
    and not evaluated on the test set). `non_digits`: the run's generated non-digits, drawn already
    (`negatives.for_training` of the images it trains on; the CLI draws them while TensorFlow imports).
    """
    if config is not None and overrides:
        raise TypeError("Pass either a TrainConfig or keyword hyperparameters, not both.")
    data = data or load_mnist()
    cfg = (config or TrainConfig(**overrides)).resolved(len(data.x_train))
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.learning_rate <= 0 or not 0 <= cfg.validation_split < 1:
        raise ValueError(f"Invalid hyperparameters: {cfg}")
    (x_tr, y_tr), (x_va, y_va) = data.split(cfg.limit, cfg.validation_split, cfg.seed)  # fit checks the sizes
    x_fit, y_fit = with_negatives(x_tr, y_tr, cfg.negatives, cfg.seed, non_digits)

    keras.utils.set_random_seed(cfg.seed)
    arch = get_architecture(cfg.arch)
    distributed, replicas = distribution(cfg.strategy)
    with distributed.scope() if distributed is not None else contextlib.nullcontext():
        model = arch.build()  # built and compiled (in fit) under the strategy: its variables are mirrored
        fitted = fit(
            model, x_fit, y_fit,
            epochs=cfg.epochs, batch_size=cfg.batch_size * replicas, learning_rate=cfg.learning_rate,
            augment=cfg.augment, seed=cfg.seed, validation=(x_va, y_va), cosine_decay=arch.recipe.cosine_decay,
            decay_fraction=arch.recipe.decay_fraction,
            on_progress=on_progress, stop=stop,
        )
    threshold = digit_threshold(model, x_va if len(x_va) else x_tr, cfg.seed)
    return TrainResult.from_fit(model, cfg, fitted, data=data, n_train=len(x_tr), n_val=len(x_va),
                                digit_threshold=threshold)


def distribution(strategy: str):
    """(the tf.distribute strategy, replicas) for a TrainConfig's `strategy`: (None, 1) for "default".

    "mirrored" is single-host `MirroredStrategy`, which Keras 3 supports on TensorFlow (unlike the
    multi-worker strategy, keras-team/keras#20585): one replica per GPU, or the CPU when there is none."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}.")
    if strategy == "default":
        return None, 1
    import tensorflow as tf

    mirrored = tf.distribute.MirroredStrategy()
    return mirrored, mirrored.num_replicas_in_sync


def where_it_trains(strategy: str) -> str:
    """A sentence for the user: which devices a run with this `strategy` uses."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if strategy == "default":
        return f"Training on {'GPU ' + gpus[0].name if gpus else 'the CPU'}."
    if not gpus:
        return "MirroredStrategy: this machine has no GPU, so it trains on the CPU (1 replica)."
    return (f"MirroredStrategy on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({', '.join(g.name for g in gpus)}): "
            f"the batch size is per replica, the global batch {len(gpus)}x it.")
