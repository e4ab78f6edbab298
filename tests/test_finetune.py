"""Fine-tuning on a person's digits: it learns their hand, keeps MNIST, and is judged on held-out digits."""

import dataclasses
import threading

import numpy as np
import pytest

from digitrec_core import ModelStore, predict_proba, save_model
from digitrec_core.learning.finetune import fine_tune, holdout_mask
from digitrec_core.learning.training import train
from digitrec_core.models import FINE_TUNE
from digitrec_core.personal import PersonalDigits
from digitrec_core.store.promotion import MNIST_TOLERANCE
from tests.support.mnist import make_synthetic, own_hand


@pytest.fixture(scope="module")
def synthetic_data():
    return make_synthetic(600, 300)


@pytest.fixture
def base_model(store_home, synthetic_data):
    """A default (batch-normalised) network that reads the synthetic digits, active in the store."""
    result = train(arch="default", epochs=3, batch_size=32, learning_rate=3e-3, augment=False, data=synthetic_data)
    assert result.test_accuracy > 0.95
    return save_model(result, activate="always").info


def test_fine_tune_learns_a_new_hand_and_keeps_the_test_set(base_model, synthetic_data):
    x, y = own_hand(120)
    events = []
    result = fine_tune(x=x, y=y, epochs=4, data=synthetic_data, on_progress=events.append)
    assert result.base == base_model.name and not result.stopped
    assert result.n_personal_holdout + result.n_personal_train == 120 and result.n_personal_holdout > 10
    assert result.personal_after > result.personal_before + 0.3, (result.personal_before, result.personal_after)
    assert result.personal_after > 0.8
    assert result.base_test_accuracy - result.test_accuracy <= 0.02
    assert [e.epoch for e in events if e.kind == "epoch"] == [1, 2, 3, 4]
    assert result.active_personal == result.personal_before  # the base is the active model

    saved = save_model(result)
    meta = ModelStore().info(saved.info.name)
    assert meta.kind == "finetune" and meta.parent == base_model.name
    assert meta.personal["n_train"] == result.n_personal_train
    assert set(meta.personal["holdout_ids"]).isdisjoint(meta.personal["ids"])
    assert meta.personal["before"] == result.personal_before and meta.personal["after"] == result.personal_after
    # Read more surely too: the held-out log-loss, kept with the model, fell.
    assert result.personal_loss_after < result.personal_loss_before
    assert (meta.personal["loss_before"], meta.personal["loss_after"]) == (result.personal_loss_before,
                                                                           result.personal_loss_after)
    # The parent's MNIST figure is the one stored with it (every model was evaluated on the same test set).
    assert result.base_test_accuracy == base_model.test_accuracy
    assert saved.activated == (result.test_accuracy >= base_model.test_accuracy - MNIST_TOLERANCE)


def test_the_parents_answers_keep_a_fine_tune_close_to_it_where_the_personal_digits_do_not_pull(
        base_model, synthetic_data):
    """Learning without forgetting: with the parent's answers on the rehearsed images, the fine-tuned model stays
    nearer the parent on the test set than one trained on labels alone, learns the new hand as well, and the
    parent (the teacher) is left unchanged."""
    x, y = own_hand(60)
    store = ModelStore()
    parent = store.load(base_model.name, runtime="keras").model
    weights = [w.copy() for w in parent.get_weights()]
    test = synthetic_data.x_test.astype(np.float32) / 255

    def drift(recipe):
        r = fine_tune(x=x, y=y, holdout=0.0, data=synthetic_data, recipe=recipe, seed=3)
        p, q = predict_proba(parent, test).astype(np.float64), predict_proba(r.model, test).astype(np.float64)
        own = float((predict_proba(r.model, x).argmax(axis=1) == y).mean())
        return float(np.mean(np.sum(p * (np.log(p + 1e-9) - np.log(q + 1e-9)), axis=1))), own

    every_layer = dataclasses.replace(FINE_TUNE, layers="all", interpolate=1.0)
    kept, own_kept = drift(dataclasses.replace(every_layer, distill=1.0))
    labels, own_labels = drift(dataclasses.replace(every_layer, distill=0.0))
    assert kept < labels, (kept, labels)
    before = float((predict_proba(parent, x).argmax(axis=1) == y).mean())
    assert min(own_kept, own_labels) > before + 0.4, (before, own_kept, own_labels)
    assert all(np.array_equal(a, b) for a, b in zip(weights, store.load(base_model.name, runtime="keras").model
                                                    .get_weights()))


def test_fine_tune_reads_the_personal_set_by_default(base_model, synthetic_data, store_home):
    personal = PersonalDigits()
    x, y = own_hand(30)
    ids = [personal.add(d, int(k)) for d, k in zip(x, y)]
    result = fine_tune(epochs=1, data=synthetic_data)
    assert sorted(result.personal_ids + result.holdout_ids) == sorted(ids)
    # Two samples stored in the same millisecond sort by their random suffix, not by insertion.
    assert sorted(result.holdout_ids) == sorted(i for i, h in zip(ids, holdout_mask(ids, 0.2)) if h)


def test_the_split_is_fixed_per_sample():
    ids = [f"id-{i}" for i in range(200)]
    mask = holdout_mask(ids, 0.2)
    assert 0.1 < mask.mean() < 0.3
    assert not holdout_mask(ids, 0).any()
    rng = np.random.default_rng(0)
    for _ in range(200):  # small sets too: adding or removing digits never moves one across the split
        n = int(rng.integers(1, 15))
        small = [f"s-{k}" for k in rng.choice(10_000, n, replace=False)]
        extra = [f"e-{k}" for k in rng.choice(10_000, 3, replace=False)]
        assert (holdout_mask(small + extra, 0.2)[:n] == holdout_mask(small, 0.2)).all()
        assert (holdout_mask(small[1:], 0.2) == holdout_mask(small, 0.2)[1:]).all()
    assert (holdout_mask(ids[::-1], 0.2) == mask[::-1]).all()  # nor does the order


def test_digits_a_model_trained_on_never_judge_it(base_model, synthetic_data, store_home):
    x, y = own_hand(80)
    ids = [f"d-{i}" for i in range(80)]
    first = fine_tune(x=x, y=y, ids=ids, epochs=1, holdout=0.2, data=synthetic_data)
    ModelStore().activate(save_model(first, activate="always").info.name)
    second = fine_tune(x=x, y=y, ids=ids, epochs=1, holdout=0.4, data=synthetic_data)  # a wider holdout ...
    assert set(second.holdout_ids).isdisjoint(first.personal_ids)  # ... still never judges on what it saw
    assert set(first.holdout_ids) <= set(second.holdout_ids)


def test_stop_ends_a_fine_tune_within_a_batch(base_model, synthetic_data):
    x, y = own_hand(60)
    stop = threading.Event()
    batches = []

    def on_progress(p):
        if p.kind == "batch":
            batches.append(p)
            stop.set()

    result = fine_tune(x=x, y=y, epochs=5, data=synthetic_data, on_progress=on_progress, stop=stop)
    assert result.stopped and len(batches) == 1 and result.test is None and result.personal_after is None


def test_too_few_or_bad_digits_are_refused_in_words(base_model, synthetic_data):
    x, y = own_hand(FINE_TUNE.min_samples - 1)
    with pytest.raises(ValueError, match=f"at least {FINE_TUNE.min_samples}"):
        fine_tune(x=x, y=y, data=synthetic_data)
    x, y = own_hand(20)
    with pytest.raises(ValueError, match="0-9"):
        fine_tune(x=x, y=y + 5, data=synthetic_data)
    with pytest.raises(ValueError, match="labels"):
        fine_tune(x=x, y=y[:5], data=synthetic_data)


def test_the_final_weights_lie_between_the_parents_and_the_fine_tuned_ones(base_model, synthetic_data):
    """`interpolate`: 0 keeps the parent's weights, 1 the fine-tuned ones, and the shipped recipe sits in between."""
    x, y = own_hand(40)
    parent = [w.copy() for w in ModelStore().load(base_model.name, runtime="keras").model.get_weights()]

    def weights(interpolate):
        recipe = dataclasses.replace(FINE_TUNE, interpolate=interpolate)
        result = fine_tune(x=x, y=y, holdout=0.0, epochs=1, data=synthetic_data, recipe=recipe, seed=5)
        return result.model.get_weights()

    assert all(np.array_equal(a, b) for a, b in zip(parent, weights(0.0)))
    full = weights(1.0)
    moved = [i for i, (a, b) in enumerate(zip(parent, full)) if not np.allclose(a, b)]
    assert moved and 0 < FINE_TUNE.interpolate < 1
    # The frozen batch-norm statistics are the parent's either way.
    assert len(moved) < len(parent)
