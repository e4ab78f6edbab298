import threading

import numpy as np
import pytest

from digitrec_core import TrainConfig, train
from digitrec_core.learning.augment import affine, augment_batch, stroke_weight


def test_learns_an_easy_task_and_reports_every_batch_and_epoch(synthetic):
    events = []
    result = train(arch="seed", epochs=3, batch_size=32, data=synthetic, on_progress=events.append)
    batches = [e for e in events if e.kind == "batch"]
    epochs = [e for e in events if e.kind == "epoch"]
    per_epoch = -(-540 // 32)  # 600 images less the 10% validation split
    assert len(batches) == 3 * per_epoch
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert all(e.val_accuracy is not None and e.images_per_sec > 0 for e in epochs)
    assert batches[-1].fraction == pytest.approx(1.0)
    assert result.history["val_accuracy"] == [e.val_accuracy for e in epochs]
    assert result.epochs_run == 3 and not result.stopped
    assert (result.n_train, result.n_val) == (540, 60)
    assert result.test_accuracy > 0.9, result.history
    assert result.test.confusion.sum() == 200


def test_stop_request_ends_training_within_one_batch(synthetic):
    stop = threading.Event()
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.kind == "batch" and p.epoch == 2 and p.batch == 3:
            stop.set()

    result = train(arch="seed", epochs=5, batch_size=32, data=synthetic, on_progress=on_progress, stop=stop)
    last = seen[-1]
    assert (last.kind, last.epoch, last.batch) == ("batch", 2, 3)
    assert result.stopped and result.test is None
    assert result.epochs_run == 1  # the partial second epoch is not a point on the curves


def test_the_endless_training_stream_still_shows_every_image_once_per_epoch():
    """Training reads one endless dataset cut into epochs by step count (one tf.data iterator per
    run, not one per epoch); each epoch must still be exactly the training set, freshly shuffled."""
    from digitrec_core.learning.training import _dataset

    n, batch_size = 100, 32
    ids = np.arange(n)  # as labels, so every image can be told apart
    steps = -(-n // batch_size)
    dataset = _dataset(np.zeros((n, 28, 28), np.uint8), ids, batch_size, augment=False, seed=0, shuffle=True)
    assert dataset.options().autotune.enabled is False  # its thread stalled iterator teardown for seconds
    stream = iter(dataset)
    epochs = [np.concatenate([next(stream)[1].numpy() for _ in range(steps)]) for _ in range(3)]
    for seen in epochs:
        assert len(seen) == n and sorted(seen) == list(ids)  # the short last batch closes the epoch
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])


@pytest.mark.parametrize("styles", [True, False])
def test_the_training_stream_augments_as_autograph_would_without_converting(styles):
    """`_dataset` maps the augmentation unconverted (seconds of a first batch): the same graph as AutoGraph's,
    which holds while the augmentation branches on Python values only (a tensor condition would raise)."""
    import tensorflow as tf

    from digitrec_core.learning.training import _dataset
    from digitrec_core.serving.evaluation import as_batch

    x = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
    y = np.arange(64) % 10
    tf.random.set_seed(7)
    # One batch: the map's parallel calls would draw their random numbers in either order
    ours = [a.numpy() for a, _ in _dataset(x, y, 64, augment=True, seed=0, shuffle=False, styles=styles)]
    tf.random.set_seed(7)
    plain = tf.data.Dataset.from_tensor_slices((as_batch(x), y.astype(np.int32)))
    converted = plain.batch(64).map(lambda a, b: (augment_batch(a, b if styles else None), b))  # AutoGraph's
    theirs = [a.numpy() for a, _ in converted]
    assert len(ours) == len(theirs) == 1
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert not np.array_equal(ours[0], as_batch(x))  # augmented


def test_recipe_fills_in_unset_hyperparameters():
    cfg = TrainConfig(arch="seed", epochs=2).resolved()
    assert cfg.epochs == 2 and cfg.batch_size > 0 and cfg.learning_rate > 0 and cfg.augment is False
    assert TrainConfig(arch="default").resolved().augment is True


def test_bad_hyperparameters_are_refused_before_training(synthetic):
    with pytest.raises(ValueError, match="batch size"):
        train(arch="seed", epochs=1, batch_size=10_000, data=synthetic)
    with pytest.raises(ValueError):
        train(arch="seed", epochs=0, data=synthetic)
    with pytest.raises(TypeError):
        train(TrainConfig(arch="seed"), epochs=1, data=synthetic)


def test_same_seed_same_run(synthetic):
    a = train(arch="seed", epochs=1, batch_size=64, data=synthetic, seed=3)
    b = train(arch="seed", epochs=1, batch_size=64, data=synthetic, seed=3)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-4)


def test_augmentation_keeps_shapes_range_and_ink():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    digits = np.zeros((64, 28, 28, 1), np.float32)
    for d in digits:  # centred strokes on black, as canvas_to_mnist hands digits over
        top, left = rng.integers(4, 9, 2)
        d[top : 28 - top, 13:16] = 1.0
        d[top : top + 3, left : 28 - left] = 1.0
    x = tf.constant(digits)
    out = augment_batch(x).numpy()
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out, x.numpy())
    # a digit stays a digit: thinning and shrinking may halve the ink, but never lose the digit
    ratio = out.sum(axis=(1, 2, 3)) / x.numpy().sum(axis=(1, 2, 3))
    assert np.all((ratio > 0.3) & (ratio < 3.0)), ratio
    assert np.all(out.max(axis=(1, 2, 3)) > 0.75)


def test_affine_and_stroke_weight_do_what_they_say():
    import tensorflow as tf

    img = np.zeros((1, 28, 28, 1), np.float32)
    img[0, 10:18, 13:15] = 1.0  # a vertical bar

    def one(v):
        return tf.constant([v], tf.float32)

    moved = affine(tf.constant(img), one(0.0), one(1.0), one(1.0), one(0.0), one(3.0), one(0.0)).numpy()
    np.testing.assert_allclose(moved[0, :, 3:], img[0, :, :-3])  # 3 px to the right
    turned = affine(tf.constant(img), one(np.pi / 2), one(1.0), one(1.0), one(0.0), one(0.0), one(0.0)).numpy()
    rows, cols = np.nonzero(turned[0, ..., 0] > 0.5)
    assert np.ptp(cols) > np.ptp(rows)  # the bar now lies horizontally
    thick = stroke_weight(tf.constant(img), one(1.0)).numpy()
    thin = stroke_weight(tf.constant(img), one(-1.0)).numpy()
    assert thick.sum() > img.sum() > thin.sum()


@pytest.mark.mnist
def test_short_run_on_real_mnist(real_mnist):
    events = []
    result = train(arch="default", epochs=3, limit=6000, data=real_mnist, on_progress=events.append)
    assert {e.kind for e in events} == {"batch", "epoch"}
    assert result.n_train == 5400 and result.test.confusion.sum() == 10_000
    assert result.test_accuracy >= 0.97, result.history


def _running_means(values, sizes):
    """What Keras reports after each batch: the image-weighted mean of the epoch's batches so far."""
    totals = np.cumsum(np.asarray(values) * sizes)
    return totals / np.cumsum(sizes)


def test_batch_values_are_recovered_from_running_means_and_smoothed_across_epochs():
    from digitrec_core.learning.training import _BatchSmoother

    rng = np.random.default_rng(0)
    sizes = np.array([32] * 6 + [11])  # a short last batch, as 203 images in batches of 32 give
    exact = _BatchSmoother(decay=0.0)  # no smoothing: each batch's own value
    smooth = _BatchSmoother(decay=0.9)
    expected_average, step = 0.0, 0
    for _epoch in range(2):
        values = rng.uniform(0.1, 2.0, len(sizes))
        exact.new_epoch()
        smooth.new_epoch()
        for n, v, m in zip(sizes, values, _running_means(values, sizes)):
            assert exact.update(int(n), {"loss": float(m)})["loss"] == pytest.approx(v, rel=1e-9)
            step += 1
            expected_average = 0.9 * expected_average + 0.1 * v
            assert smooth.update(int(n), {"loss": float(m)})["loss"] == pytest.approx(
                expected_average / (1 - 0.9**step), rel=1e-9
            )


def test_smoothed_curve_does_not_jump_at_an_epoch_boundary(synthetic):
    events = []
    train(arch="seed", epochs=3, batch_size=32, data=synthetic, on_progress=events.append)
    batches = [e for e in events if e.kind == "batch"]
    assert all(e.smooth_loss is not None and 0 <= e.smooth_accuracy <= 1 for e in batches)
    per_epoch = batches[0].batches
    for key, running in (("smooth_accuracy", "accuracy"), ("smooth_loss", "loss")):
        smooth = np.array([getattr(e, key) for e in batches])
        steps = np.abs(np.diff(smooth))
        boundary = steps[per_epoch - 1]  # last batch of epoch 1 -> first batch of epoch 2
        within = np.delete(steps, [per_epoch - 1, 2 * per_epoch - 1])
        raw_jump = abs(getattr(batches[per_epoch], running) - getattr(batches[per_epoch - 1], running))
        assert boundary <= within.max(), (key, boundary, within.max())
        assert raw_jump > 3 * boundary, (key, raw_jump, boundary)  # the running mean does jump there
    epoch_events = [e for e in events if e.kind == "epoch"]
    last_of_epoch = [b for b in batches if b.batch == b.batches]
    assert [e.smooth_loss for e in epoch_events] == [b.smooth_loss for b in last_of_epoch]


def test_refreshed_batchnorm_statistics_are_those_of_the_network_as_used(synthetic):
    """Each batch-norm layer's statistics are its input's mean and variance over the images, with every
    earlier layer already refreshed; a frozen layer keeps its own."""
    import keras

    from digitrec_core import build_model
    from digitrec_core.learning.training import refresh_batchnorm
    from digitrec_core.serving.evaluation import as_batch

    keras.utils.set_random_seed(0)
    model = build_model("default")
    frozen = model.get_layer("bn3")
    frozen.trainable = False
    frozen.moving_mean.assign(np.full(frozen.moving_mean.shape, 0.5, np.float32))
    x = synthetic.x_train[:300]
    assert refresh_batchnorm(model, x) == 3
    h = as_batch(x)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            flat = np.asarray(h, np.float64).reshape(-1, h.shape[-1])
            if layer is frozen:
                np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.5)
            else:
                np.testing.assert_allclose(layer.moving_mean.numpy(), flat.mean(0), rtol=1e-4, atol=1e-5)
                np.testing.assert_allclose(layer.moving_variance.numpy(), flat.var(0), rtol=1e-3, atol=1e-5)
        h = layer(h, training=False)


def test_fit_trains_a_given_model_in_place_and_keeps_frozen_layers(synthetic):
    """What fine-tuning does: an already-built model, its batch norm frozen, float images in [0, 1]."""
    import keras

    from digitrec_core import build_model
    from digitrec_core.learning.training import fit

    keras.utils.set_random_seed(0)
    model = build_model("default")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    frozen_before = [w.numpy().copy() for w in model.get_layer("bn1").weights]
    dense_before = model.get_layer("dense").kernel.numpy().copy()
    x, y = synthetic.x_train / 255.0, synthetic.y_train
    events = []
    fitted = fit(model, x, y, epochs=2, batch_size=32, learning_rate=3e-3, augment=False,
                 validation=(synthetic.x_test, synthetic.y_test), on_progress=events.append)
    assert fitted.epochs_run == 2 and not fitted.stopped and fitted.seconds > 0
    assert len(fitted.history["val_accuracy"]) == 2 and fitted.history["val_accuracy"][-1] > 0.8
    assert [e.epoch for e in events if e.kind == "epoch"] == [1, 2]
    for before, after in zip(frozen_before, model.get_layer("bn1").weights):
        np.testing.assert_array_equal(before, after.numpy())  # gamma, beta and statistics untouched
    assert not np.allclose(dense_before, model.get_layer("dense").kernel.numpy())  # trained, not rebuilt


def test_fit_stops_within_a_batch(synthetic):
    from digitrec_core import build_model
    from digitrec_core.learning.training import fit

    stop, seen = threading.Event(), []

    def on_progress(p):
        seen.append(p)
        if p.kind == "batch" and p.batch == 2:
            stop.set()

    fitted = fit(build_model("seed"), synthetic.x_train, synthetic.y_train, epochs=3, batch_size=32,
                 learning_rate=1e-3, augment=False, on_progress=on_progress, stop=stop)
    assert fitted.stopped and fitted.epochs_run == 0
    assert [(p.kind, p.epoch, p.batch) for p in seen] == [("batch", 1, 1), ("batch", 1, 2)]


def test_learning_rate_holds_then_anneals_to_zero():
    from digitrec_core.learning.training import learning_rate_schedule

    schedule = learning_rate_schedule(1e-2, steps=100, decay_fraction=0.3)
    lr = [float(schedule(step)) for step in (0, 69, 70, 85, 100)]
    assert lr[:3] == pytest.approx([1e-2] * 3)
    assert lr[3] == pytest.approx(0.5e-2, rel=1e-3) and lr[4] == pytest.approx(0.0, abs=1e-9)
    whole = learning_rate_schedule(1e-2, steps=100)  # a cosine over the whole run
    assert float(whole(50)) == pytest.approx(0.5e-2, rel=1e-3)


def test_a_short_run_gets_enough_optimiser_steps():
    from digitrec_core.models import get_architecture

    recipe = get_architecture("default").recipe
    assert recipe.batch_size_for(20_429, recipe.epochs) == recipe.batch_size  # the full recipe is unchanged
    for n, epochs in ((1800, 1), (1800, 3), (4500, 1), (4500, 3), (450, 100), (20_429, 1)):
        b = recipe.batch_size_for(n, epochs)
        assert recipe.min_batch_size <= b <= recipe.batch_size
        # the largest batch that gives the run its minimum of steps, or the smallest allowed
        assert epochs * -(-n // b) >= recipe.min_steps or b == recipe.min_batch_size
        assert b == recipe.batch_size or epochs * -(-n // (2 * b)) < recipe.min_steps
    # the rule counts the images left after the validation split; an explicit batch size is kept
    assert TrainConfig(arch="default", epochs=1, limit=2000).resolved().batch_size == recipe.batch_size_for(1800, 1)
    assert TrainConfig(arch="default", epochs=1, limit=2000, batch_size=128).resolved().batch_size == 128
    assert TrainConfig(arch="default", epochs=1).resolved(n_images=2000).batch_size == recipe.batch_size_for(1800, 1)
    assert TrainConfig(arch="default", epochs=12).resolved().batch_size == recipe.batch_size


@pytest.mark.mnist
def test_one_epoch_on_2000_real_images_is_already_useful(real_mnist):
    """The newcomer's first run (`train --limit 2000 --epochs 1`) once gave 11.35%: batch-norm statistics
    that still remembered the start of a 15-step run."""
    result = train(arch="default", epochs=1, limit=2000, data=real_mnist)
    assert result.n_train == 1800
    assert result.test_accuracy >= 0.90, result.history
    assert result.history["val_accuracy"][0] >= 0.85  # validation uses the refreshed statistics too


def test_mirrored_strategy_trains_reports_and_stops_like_the_default(synthetic):
    """`strategy="mirrored"`: tf.distribute.MirroredStrategy (on this CPU-only machine, one CPU replica)."""
    import tensorflow as tf

    from digitrec_core.learning.training import distribution, where_it_trains

    mirrored, replicas = distribution("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and replicas == mirrored.num_replicas_in_sync
    gpus = tf.config.list_logical_devices("GPU")
    assert replicas == max(1, len(gpus))
    if not gpus:
        assert where_it_trains("mirrored") == ("MirroredStrategy: this machine has no GPU, so it trains on the CPU "
                                               "(1 replica).")
    events = []
    result = train(arch="seed", epochs=2, batch_size=32, data=synthetic, on_progress=events.append, strategy="mirrored")
    assert result.config.strategy == "mirrored" and not result.stopped and result.test_accuracy > 0.5
    per_epoch = -(-540 // (32 * replicas))  # the batch size is per replica
    assert len([e for e in events if e.kind == "batch"]) == 2 * per_epoch
    assert isinstance(result.model.distribute_strategy, tf.distribute.MirroredStrategy)  # built under its scope
    plain = train(arch="seed", epochs=1, batch_size=32, data=synthetic)
    assert not isinstance(plain.model.distribute_strategy, tf.distribute.MirroredStrategy)

    stop = threading.Event()
    stopped = train(arch="seed", epochs=5, batch_size=32, data=synthetic, strategy="mirrored",
                    on_progress=lambda p: p.kind == "batch" and p.epoch == 1 and p.batch == 2 and stop.set(), stop=stop)
    assert stopped.stopped and stopped.epochs_run == 0
    with pytest.raises(ValueError, match="strategy must be one of default, mirrored"):
        distribution("multiworker")


def test_the_strategy_is_stored_with_the_run(synthetic, store_home):
    from digitrec_core import load_model, save_model

    saved = save_model(train(arch="seed", epochs=1, batch_size=32, data=synthetic, strategy="mirrored"))
    assert saved.info.hyperparameters["strategy"] == "mirrored"
    assert load_model(saved.info.name).info.hyperparameters["strategy"] == "mirrored"


@pytest.mark.parametrize(("field", "value"), [
    ("limit", -5), ("limit", 0), ("epochs", 0), ("batch_size", 0), ("batch_size", 2.5), ("learning_rate", float("nan")),
    ("learning_rate", float("inf")), ("learning_rate", 0.0), ("learning_rate", -1e-3), ("validation_split", 1.0),
    ("validation_split", -0.1), ("validation_split", float("nan")), ("seed", -1), ("seed", 2**32), ("epochs", True),
    ("strategy", "multiworker"),
])
def test_a_config_no_run_can_honour_is_refused_when_made(field, value):
    """The dashboard and the API build TrainConfigs too: `limit=-5` trained on everything, `lr=nan` stored NaNs."""
    with pytest.raises(ValueError, match=f"^{field} must be"):
        TrainConfig(arch="seed", **{field: value})


def test_numpy_numbers_and_unset_fields_are_fine():
    cfg = TrainConfig(arch="seed", epochs=np.int64(2), learning_rate=np.float32(1e-3), limit=np.int32(500))
    assert cfg.resolved().epochs == 2 and TrainConfig().learning_rate is None


def test_a_run_that_diverges_is_refused_not_returned(synthetic):
    from digitrec_core.learning.training import TrainingDiverged

    with pytest.raises(TrainingDiverged, match="Training diverged .* try a lower learning rate"):
        train(arch="seed", epochs=1, learning_rate=1e10, limit=200, data=synthetic)


@pytest.mark.parametrize(("keyword", "value"), [("epochs", 0), ("epochs", -2), ("holdout", 1.0),
                                                ("holdout", float("nan")), ("seed", -1)])
def test_fine_tune_refuses_settings_before_any_work(tmp_path, keyword, value):
    """`finetune --epochs 0` ran the recipe's 3 epochs; now nothing is read, loaded or trained."""
    from digitrec_core import ModelStore, fine_tune

    with pytest.raises(ValueError, match=f"^{keyword} must be"):
        fine_tune(store=ModelStore(tmp_path / "home"), **{keyword: value})
    assert not (tmp_path / "home").exists()
