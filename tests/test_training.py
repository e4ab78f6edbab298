import threading

import numpy as np
import pytest

from digitrec_core import TrainConfig, train
from digitrec_core.augment import affine, augment_batch, stroke_weight


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
    from digitrec_core.training import _dataset

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
    one = lambda v: tf.constant([v], tf.float32)  # noqa: E731
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
