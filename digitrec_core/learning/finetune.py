"""Fine-tuning a stored model on the user's own digits without forgetting MNIST.

The personal digits (oversampled to half of each epoch and augmented) are mixed with MNIST training images
and generated non-digits, so each epoch rehearses what the model already knew. Only the layers from the
last convolution on learn (a hand differs in its strokes' shapes, not in the edges MNIST taught the first
layers), the batch-norm statistics stay frozen (a few hundred digits of one hand would pull them away from
MNIST's), and the final weights lie 85% of the way from the parent's to the fine-tuned ones (weight-space
ensembling): most of the gain on the user's hand, less of the cost on MNIST (bench/finetune.py compares
this with the recipe before and with others). Held-out personal digits, which the fine-tune never trains
on, tell whether it helped; the MNIST test set tells what it cost.

The held-out split is fixed per sample: a digit is held out when a hash of its id alone falls in
the lowest `holdout` fraction, so the same digit is always on the same side, and a later fine-tune
never trains on the digits that judged an earlier one (digits the base or the active model trained
on are never used to judge either).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable

import numpy as np

from digitrec_core.data import Mnist, load_mnist
from digitrec_core.learning.runs import (
    MAX_SEED,
    FineTuneResult,
    Progress,
    TrainConfig,
    check_settings,
    is_finite,
    is_fraction,
    is_whole,
)
from digitrec_core.learning.training import fit, with_negatives
from digitrec_core.models import FINE_TUNE, HOLDOUT, FineTuneRecipe
from digitrec_core.serving.evaluation import as_batch, evaluate, predict_proba
from digitrec_core.store import ModelStore, ModelStoreError, open_store
from digitrec_core.text import plural


def holdout_mask(ids: list[str], holdout: float) -> np.ndarray:
    """True for the samples held out: a function of each id alone (not of the set, the seed or the
    order), so adding, removing or relabelling digits never moves one across the split. A small set
    may hold none out; the fine-tune then cannot be judged, and says so."""
    if holdout <= 0:
        return np.zeros(len(ids), bool)
    score = np.array([int(hashlib.sha1(f"digitrec-holdout:{i}".encode()).hexdigest()[:8], 16) / 2**32 for i in ids])
    return score < holdout


def _scores(model, x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """Accuracy and log-loss (mean cross-entropy) of `model` on the held-out digits; None, None for none. The
    log-loss does not saturate: with a few dozen digits, both models usually read all of them right, and the
    log-loss still tells which reads them more surely."""
    if not len(y):
        return None, None
    p = predict_proba(model, x).astype(np.float64)
    log_loss = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)).mean()
    return float((p.argmax(axis=1) == y).mean()), float(log_loss)


def _trainable_copy(model, layers: str = "all"):
    """A copy of `model` to fine-tune, with its batch-norm statistics frozen; with `layers="head"`, every layer up
    to the flattening of the convolutional features frozen too, with `"top"` every layer before the last
    convolution."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    kinds = {"head": keras.layers.Flatten, "top": keras.layers.Conv2D}
    first = 0 if layers == "all" else max((i for i, layer in enumerate(copy.layers)
                                           if isinstance(layer, kinds[layers])), default=0)
    for i, layer in enumerate(copy.layers):
        if isinstance(layer, keras.layers.BatchNormalization) or i < first:
            layer.trainable = False  # Keras 3: a frozen BN layer also runs in inference mode
    return copy


def warm_up_steps(recipe: FineTuneRecipe = FINE_TUNE, seed: int = 0) -> list[Callable[[], None]]:
    """What a run spends its first seconds on, as steps a process that waits for one (`jobs`) does ahead, and may
    stop between when its run comes: importing this module imports TensorFlow and Keras; then the generated
    non-digits a fine-tune of `recipe` rehearses (cached per process: a training run's are among them), and the
    tracing of a fine-tune's and a training run's first steps."""
    from digitrec_core.learning.negatives import KINDS, as_mnist
    from digitrec_core.models import build_model

    def negatives() -> None:  # a mix holds the rehearsal images and about as many personal copies (rounded up)
        as_mnist(math.ceil(recipe.negatives * (2 * recipe.rehearsal + 1000) / len(KINDS)), split="train", seed=seed)

    def tiny_fit(teacher: bool, styles: bool) -> Callable[[], None]:
        # A fit thrown away: TensorFlow sets up its tracing, the augmentation's and the training step's, once
        # a process, which took seconds of a first run's start.
        def step() -> None:
            x, y = np.zeros((recipe.batch_size, 28, 28), np.float32), np.arange(recipe.batch_size) % 10
            fit(build_model("default"), x, y, epochs=1, batch_size=recipe.batch_size, learning_rate=1e-3,
                augment=True, teacher=build_model("default") if teacher else None, styles=styles,
                batchnorm_images=0)
        return step

    return [negatives, tiny_fit(recipe.distill > 0, recipe.styles), tiny_fit(False, True)]


def fine_tune(
    base: str | None = None,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    epochs: int | None = None,
    holdout: float = HOLDOUT,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    seed: int = 0,
    data: Mnist | None = None,
    store: ModelStore | None = None,
    ids: list[str] | None = None,
    recipe: FineTuneRecipe = FINE_TUNE,
) -> FineTuneResult:
    """Fine-tune the stored model `base` (default: the active one) on personal digits.

    `x`, `y`: 28x28 digits and labels (as `PersonalDigits.arrays()` returns), or None for the
    store's personal set. `holdout` of them (a fixed split per sample id) are kept out of training
    to measure `personal_before` / `personal_after`. Progress and `stop` work as for `train`.
    ValueError, before any work, for `epochs` < 1, a `holdout` outside [0, 1) or a negative `seed`.
    """
    check_settings(  # before the store or the digits are read: `epochs=0` used to mean the recipe's 3
        epochs=(epochs, epochs is None or is_whole(epochs, 1), "a whole number >= 1 (or None: the recipe's)"),
        holdout=(holdout, is_fraction(holdout), "a fraction in [0, 1)"),
        seed=(seed, is_whole(seed) and seed <= MAX_SEED, f"a whole number in 0-{MAX_SEED}"),
    )
    store = store or open_store()
    x, y, ids = _personal_digits(store, x, y, ids, recipe)
    loaded = store.load(base, runtime="keras")  # trained further: the Keras model
    active = store.active_info()
    held = _held_out(ids, holdout, loaded.info, active)
    x_tr, y_tr, x_ho, y_ho = x[~held], y[~held], x[held], y[held]
    before = _scores(loaded.model, x_ho, y_ho)
    active_personal = _active_scores(store, loaded.info, active, before, x_ho, y_ho)

    data = data or load_mnist()
    x_mix, y_mix, negatives, rehearsed = _mix(data, x_tr, y_tr, loaded.info, recipe, seed)
    cfg = TrainConfig(arch=loaded.info.arch, epochs=int(recipe.epochs if epochs is None else epochs),
                      batch_size=recipe.batch_size, learning_rate=recipe.learning_rate, augment=True, limit=None,
                      validation_split=0.0, seed=seed, negatives=negatives)
    model, fitted = _fit_copy(loaded.model, cfg, x_mix, y_mix, (x_ho, y_ho), rehearsed, recipe,
                              on_progress=on_progress, stop=stop)
    return _result(model, cfg, fitted, data=data, loaded=loaded, active=active, n_mix=len(x_mix), n_personal=len(x_tr),
                   held=(x_ho, y_ho), before=before, active_personal=active_personal, ids=ids, held_mask=held)


def _personal_digits(store: ModelStore, x, y, ids, recipe: FineTuneRecipe) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The digits to fine-tune on (the store's personal set when `x` is None) as 28x28 images, labels and ids;
    ValueError for mismatched or bad labels, or fewer than the recipe needs."""
    if x is None:
        from digitrec_core.personal import PersonalDigits

        personal = PersonalDigits(store.root)
        x, y, ids = personal.arrays(with_ids=True)
    x, y = as_batch(x)[..., 0], np.asarray(y).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{plural(len(x), 'image')} but {plural(len(y), 'label')}.")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError("Labels must be digits 0-9.")
    if len(x) < recipe.min_samples:
        raise ValueError(f"Fine-tuning needs at least {recipe.min_samples} of your digits; there are {len(x)}. "
                         "Add some on the Draw page (Right / It's a ...).")
    return x, y, [str(i) for i in (ids if ids is not None else range(len(x)))]


def _held_out(ids: list[str], holdout: float, base, active) -> np.ndarray:
    """Which digits judge the fine-tune. A digit the base or the active model trained on (an earlier fine-tune
    with another holdout fraction) cannot judge them: it is neither held out nor counted."""
    seen = set(base.personal.get("ids", ())) | set(active.personal.get("ids", ()) if active else ())
    held = holdout_mask(ids, holdout) & ~np.isin(ids, list(seen))
    if held.all():
        raise ValueError("Every one of your digits is held out to judge the fine-tune; add a few more.")
    return held


def _active_scores(store: ModelStore, base, active, before, x_ho, y_ho) -> tuple[float | None, float | None]:
    """The active model's scores on the held-out digits (the activation rule's reference): the base's when it is
    the active one, none when its file is unreadable (nothing to judge against, so it will not be replaced)."""
    if active is None or active.name == base.name:
        return before
    try:
        return _scores(store.load(active.name).model, x_ho, y_ho)  # served: ONNX is enough
    except ModelStoreError:
        return None, None


def _mix(data: Mnist, x_tr, y_tr, base, recipe: FineTuneRecipe, seed: int):
    """The training mix: the personal digits oversampled to `recipe.personal_share` of it, MNIST rehearsal and,
    for a base trained with them, generated non-digits; with the non-digits per digit and which images rehearse."""
    rng = np.random.default_rng(seed)
    rehearse = rng.choice(len(data.x_train), min(recipe.rehearsal, len(data.x_train)), replace=False)
    copies = math.ceil(len(rehearse) * recipe.personal_share / (1 - recipe.personal_share) / len(x_tr))
    x_mix = np.concatenate([np.repeat(x_tr, copies, axis=0), data.x_train[rehearse].astype(np.float32) / 255])
    y_mix = np.concatenate([np.repeat(y_tr, copies), data.y_train[rehearse].astype(np.int64)])
    # A base trained with generated non-digits rehearses them too, or a fine-tune would forget "not a digit".
    trained_with = base.hyperparameters.get("negatives")
    negatives = recipe.negatives if is_finite(trained_with) and trained_with > 0 else 0.0
    x_mix, y_mix = with_negatives(x_mix, y_mix, negatives, seed)
    # the parent's answers are kept on what it knew (MNIST, non-digits), not on the personal digits
    return x_mix, y_mix, negatives, np.arange(len(y_mix)) >= len(x_tr) * copies


def _fit_copy(parent, cfg: TrainConfig, x_mix, y_mix, held, rehearsed, recipe: FineTuneRecipe, *, on_progress,
              stop):
    """A trainable copy of `parent` fitted on the mix (validated on the `held` digits), then, finished, moved back
    towards `parent` by the recipe's interpolation; the copy and what `fit` did."""
    import keras

    keras.utils.set_random_seed(cfg.seed)  # the augmentation and dropout too: the same digits and seed, the same run
    model = _trainable_copy(parent, recipe.layers)
    fitted = fit(model, x_mix, y_mix, epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                 augment=True, seed=cfg.seed, validation=held if len(held[1]) else None,
                 on_progress=on_progress, stop=stop,
                 teacher=parent if recipe.distill > 0 else None, distill=recipe.distill,
                 rehearsed=rehearsed, styles=recipe.styles)
    if not fitted.stopped and recipe.interpolate != 1:
        # Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): most of the gain on the personal digits, less of
        # the loss on MNIST. The frozen batch-norm statistics are the parent's in both, so they stay as they are.
        model.set_weights([p + recipe.interpolate * (f - p)
                           for p, f in zip(parent.get_weights(), model.get_weights(), strict=True)])
    return model, fitted


def _result(model, cfg: TrainConfig, fitted, *, data: Mnist, loaded, active, n_mix: int, n_personal: int, held,
            before, active_personal, ids: list[str], held_mask: np.ndarray) -> FineTuneResult:
    """The fine-tune as a result: scored on the held-out digits and, unless stopped, beside the base on MNIST."""
    finished = not fitted.stopped
    after = _scores(model, *held) if finished else (None, None)
    # Every stored model was evaluated on the same 10,000 test digits when it was saved: 1-2 s saved here.
    base_test = loaded.info.test_accuracy if is_finite(loaded.info.test_accuracy) else None
    if finished and base_test is None:
        base_test = evaluate(loaded.model, data.x_test, data.y_test).accuracy
    return FineTuneResult.from_fit(
        model, cfg, fitted, data=data, n_train=n_mix, n_val=len(held[1]),
        data_source=f"{data.origin} + {n_personal} personal digits",
        base=loaded.info.name,
        base_test_accuracy=base_test if finished else None,
        personal_before=before[0],
        personal_after=after[0],
        personal_loss_before=before[1],
        personal_loss_after=after[1],
        active_name=None if active is None else active.name,
        active_personal=active_personal[0],
        active_personal_loss=active_personal[1],
        personal_ids=[i for i, h in zip(ids, held_mask) if not h],
        holdout_ids=[i for i, h in zip(ids, held_mask) if h],
        # The base's: the fine-tune rehearses the non-digits, so what it spread stays spread. Fine-tuned on 100
        # Semeion digits, the shipped model flags 94.7% of validation non-digits and 0.24% of MNIST test at it,
        # 93.1% and 0.13% at one chosen anew, which would cost ~10 s of re-drawing digits.
        digit_threshold=loaded.info.digit_threshold,
    )
