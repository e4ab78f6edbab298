"""Not a digit: the rule, its threshold, the loss and metric that teach it, and where the threshold is kept."""

import dataclasses
import json

import numpy as np
import pytest

from digitrec_core import NOT_A_DIGIT, ModelStore, ModelStoreError, TrainConfig, recognize, train
from digitrec_core.learning.negatives import KINDS
from digitrec_core.serving.recognition import calibrate, digit_score, read


def _probs(*tops):
    """Rows whose top probability is each of `tops`, on digit i % 10, the rest spread evenly."""
    rows = np.full((len(tops), 10), 0.0)
    for i, t in enumerate(tops):
        rows[i] = (1 - t) / 9
        rows[i, i % 10] = t
    return rows


def test_a_drawing_below_the_threshold_is_not_a_digit_and_still_says_what_it_looks_like():
    r = read(_probs(0.95, 0.4, 0.7), threshold=0.6)
    assert r.digits.tolist() == [0, NOT_A_DIGIT, 2]
    assert r.flagged.tolist() == [False, True, False]
    assert r.likely.tolist() == [0, 1, 2]
    assert r.digit_score == pytest.approx([0.95, 0.4, 0.7])
    assert read(_probs(0.95, 0.4), threshold=None).digits.tolist() == [0, 1]  # an old model flags nothing


def test_the_threshold_flags_the_asked_share_of_real_digits():
    rng = np.random.default_rng(0)
    probs = _probs(*rng.uniform(0.3, 1.0, 5000))
    t = calibrate(probs, rate=0.01)
    assert np.mean(digit_score(probs) < t) == pytest.approx(0.01, abs=0.002)
    with pytest.raises(ValueError):
        calibrate(np.zeros((0, 10)))


def test_the_loss_is_cross_entropy_for_digits_and_zero_for_an_evenly_spread_non_digit():
    import keras

    from digitrec_core.learning.training import NEGATIVE, DigitAccuracy, not_a_digit_loss

    p = np.array([[0.7] + [0.3 / 9] * 9, [0.1] * 10, [0.9] + [0.1 / 9] * 9], np.float32)
    y = np.array([0, NEGATIVE, NEGATIVE])
    loss = keras.ops.convert_to_numpy(not_a_digit_loss(y, p))
    assert loss[0] == pytest.approx(-np.log(0.7), rel=1e-5)
    assert loss[1] == pytest.approx(0.0, abs=1e-6)
    assert loss[2] > 1.0  # a confident answer to a non-digit costs
    plain = keras.losses.sparse_categorical_crossentropy(np.array([3, 0]), p[[0, 2]])
    assert keras.ops.convert_to_numpy(not_a_digit_loss(np.array([3, 0]), p[[0, 2]])) == pytest.approx(
        keras.ops.convert_to_numpy(plain), rel=1e-5)

    acc = DigitAccuracy()
    acc.update_state(np.array([0, 5, NEGATIVE, NEGATIVE]), np.eye(10, dtype=np.float32)[[0, 0, 0, 1]])
    assert float(acc.result()) == pytest.approx(0.5)  # 1 of the 2 digits; the non-digits are not counted


def test_negatives_join_the_training_set_in_the_asked_share():
    from digitrec_core.learning.training import NEGATIVE, with_negatives

    x = np.zeros((100, 28, 28), np.uint8)
    y = np.arange(100) % 10
    x2, y2 = with_negatives(x, y, 0.5, seed=0)
    assert len(x2) == len(y2) and x2.dtype == np.float32 and 0 <= x2.min() and x2.max() <= 1
    assert abs((y2 == NEGATIVE).sum() - 50) <= len(KINDS)  # a drawing canvas_to_mnist finds nothing in is left out
    assert (y2[:100] == y).all() and x2[100:].max() > 0
    assert with_negatives(x, y, 0.0, seed=0)[0] is x
    drawn = np.full((3, 28, 28), 0.5, np.float32)  # drawn already (the CLI draws them in a second process)
    x3, y3 = with_negatives(x, y, 0.5, seed=0, drawn=drawn)
    assert len(x3) == 103 and (x3[100:] == 0.5).all() and (y3[100:] == NEGATIVE).all()


def test_a_training_sets_non_digits_are_its_share_spread_over_the_kinds():
    from digitrec_core.learning.negatives import as_mnist, for_training

    drawn = for_training(100, 0.5, seed=3)
    assert np.array_equal(drawn, as_mnist(10, split="train", seed=3)[0])  # 50 non-digits: 10 of each of 5 kinds
    assert for_training(100, 0.02, seed=3).shape == (0, 28, 28)  # 2 non-digits: 0.4 of one a kind, so none


def test_a_trained_model_keeps_its_threshold_and_recognize_uses_it(synthetic, store_home):
    result = train(arch="seed", epochs=1, batch_size=32, data=synthetic, negatives=0.5)
    assert 0 < result.digit_threshold <= 1
    assert result.config.negatives == 0.5
    store = ModelStore()
    saved = store.save(result)
    loaded = store.load(saved.info.name)
    assert loaded.info.digit_threshold == pytest.approx(result.digit_threshold)
    x = synthetic.x_test[:50]
    r = recognize(loaded, x)
    assert (r.flagged == (r.digit_score < result.digit_threshold)).all()
    assert recognize(loaded, x, threshold=1.01).flagged.all()  # an explicit threshold wins
    assert not recognize(loaded.model, x).flagged.any()  # a bare model has no threshold of its own

    meta = saved.info.path / "meta.json"
    d = json.loads(meta.read_text())
    d["digit_threshold"] = 2.0
    meta.write_text(json.dumps(d))
    with pytest.raises(ModelStoreError, match="digit_threshold"):
        ModelStore().load(saved.info.name)
    del d["digit_threshold"]  # a model saved before DigitRec knew "not a digit"
    meta.write_text(json.dumps(d))
    assert ModelStore().load(saved.info.name).info.digit_threshold is None


def test_the_recipe_adds_negatives_to_the_default_network_only():
    assert TrainConfig(arch="default").resolved().negatives == 0.5
    assert TrainConfig(arch="seed").resolved().negatives == 0.0  # the original network stays as it was
    assert TrainConfig(arch="default", negatives=0).resolved().negatives == 0.0
    for bad in (-0.1, float("nan"), 100):
        with pytest.raises(ValueError, match="negatives"):
            TrainConfig(negatives=bad)


def test_a_shipped_model_info_without_threshold_reads_as_before(synthetic, store_home):
    from digitrec_core import load_model

    loaded = load_model()
    old = dataclasses.replace(loaded, info=dataclasses.replace(loaded.info, digit_threshold=None))
    r = recognize(old, synthetic.x_test[:20])
    assert not r.flagged.any() and (r.digits == r.likely).all()


def test_the_threshold_is_compared_in_float64_as_the_page_compares_it():
    """float32 probabilities (what ONNX Runtime returns) against a threshold a hair above the top one: NumPy would
    round a Python float to float32 beside a float32 array, and the two would tie; the page's doubles do not."""
    p = np.full((1, 10), 0.00001, np.float32)
    p[0, 3] = 0.99991
    top = float(p.max())
    assert read(p, float(np.nextafter(top, 1))).flagged[0]
    assert not read(p, top).flagged[0]
