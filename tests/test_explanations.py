"""digitrec_core.explain(): the API other tools call, occlusion done right, the layers' views, and the two
faithfulness checks docs/user-guide.md quotes (deletion and model randomisation) on 500 real test digits."""

from __future__ import annotations

import numpy as np
import pytest

import digitrec_core as dr
from digitrec_core.serving.evaluation import as_batch
from digitrec_core.serving.explanations import PATCH, Explanation, explain, explained_layers, first_filters
from digitrec_core.serving.faithfulness import deletion_check, randomisation_check, spearman
from digitrec_core.serving.runtime import FILTERS_KEY, LAYERS_KEY, OnnxModel
from digitrec_core.store import SHIPPED_DIR


@pytest.fixture(scope="module")
def shipped():
    return OnnxModel.load(SHIPPED_DIR / "model.onnx")


@pytest.fixture(scope="module")
def digits(real_mnist):
    return as_batch(real_mnist.x_test[:500])[..., 0], real_mnist.y_test[:500]


def test_explain_gives_what_the_api_promises(shipped, digits):
    x, y = digits
    e = explain(shipped, x[0])
    assert isinstance(e, Explanation) and e.target == e.predicted == int(y[0])
    assert e.attribution.shape == (28, 28) and e.attribution.dtype == np.float32
    np.testing.assert_allclose(e.probabilities, dr.predict_proba(shipped, x[0])[0], atol=1e-6)
    assert e.probabilities.shape == (10,) and abs(float(e.probabilities.sum()) - 1) < 1e-4
    assert list(e.activations) == ["relu1", "relu2", "relu3", "relu4"]  # the default network's blocks, in order
    assert [a.shape for a in e.activations.values()] == [(28, 28, 32), (14, 14, 64), (7, 7, 128), (128,)]
    assert e.filters.shape == (3, 3, 32) and e.filters_layer == "conv1"
    assert (e.attribution[x[0] == 0] == 0).all()  # blanking what is blank changes nothing
    assert e.attribution.sum() > 0  # the ink of a well-read digit is evidence for it


def test_any_class_and_the_contrast_come_from_the_same_occlusion(shipped, digits):
    x, _ = digits
    e = explain(shipped, x[1])
    three = explain(shipped, x[1], target=3)
    assert three.target == 3
    np.testing.assert_array_equal(three.attribution, e.for_class(3))
    np.testing.assert_allclose(e.contrast(e.target), e.for_class(e.target) - e.for_class(e.runner_up))
    np.testing.assert_allclose(e.contrast(e.runner_up), e.for_class(e.runner_up) - e.for_class(e.target))
    np.testing.assert_allclose(e.contrast(2, 5), e.for_class(2) - e.for_class(5))
    assert e.runner_up != e.predicted and e.probabilities[e.runner_up] == np.sort(e.probabilities)[-2]
    for bad in (10, -1):
        with pytest.raises(ValueError, match="digit from 0 to 9"):
            explain(shipped, x[1], target=bad)
    with pytest.raises(ValueError, match="28x28"):
        explain(shipped, x[:2])


def test_a_pixel_gets_its_patches_mean_drop_times_its_ink(shipped):
    image = np.zeros((28, 28), np.float32)
    image[0:20, 0:3] = 1.0  # a "1" against the left edge: pixel (0, 0) lies in one patch only, at (0, 0)
    image[0, 0] = 0.5
    e = explain(shipped, image)
    blanked = image.copy()
    blanked[:PATCH, :PATCH] = 0
    p, q = dr.predict_proba(shipped, np.stack([image, blanked]))
    for c in (e.target, (e.target + 1) % 10):
        drop = np.log(p[c] + 1e-7) - np.log(q[c] + 1e-7)
        assert e.for_class(c)[0, 0] == pytest.approx(0.5 * drop, rel=1e-3, abs=1e-6)


def test_keras_and_onnx_explain_the_same(shipped, digits):
    pytest.importorskip("tensorflow")
    from digitrec_core.store.loading import load_keras as _load_keras

    keras_model = _load_keras(SHIPPED_DIR / "model.keras")
    x, _ = digits
    a, b = explain(keras_model, x[2]), explain(shipped, x[2])
    assert a.target == b.target
    np.testing.assert_allclose(a.attribution, b.attribution, atol=1e-4)
    assert list(a.activations) == list(b.activations) == explained_layers(keras_model)
    for name in a.activations:
        np.testing.assert_allclose(a.activations[name], b.activations[name], atol=1e-4)
    np.testing.assert_array_equal(a.filters, b.filters)
    assert first_filters(keras_model)[0] == a.filters_layer == "conv1"


def test_the_seed_networks_blocks_are_its_conv_and_dense_layers():
    pytest.importorskip("tensorflow")
    assert explained_layers(dr.build_model("seed")) == ["conv1", "conv2", "conv3", "dense1", "dense2"]


def test_an_onnx_file_without_taps_still_classifies_and_explains_without_layers(digits):
    pytest.importorskip("tensorflow")
    from digitrec_core.serving.exports import onnx_bytes
    from digitrec_core.store.loading import load_keras as _load_keras

    plain = OnnxModel(onnx_bytes(_load_keras(SHIPPED_DIR / "model.keras")))  # as `digitrec export` writes it
    assert plain.layer_names == [] and plain.filters is None
    x, _ = digits
    e = explain(plain, x[3])
    assert e.activations == {} and e.filters is None and e.attribution.any()


@pytest.mark.parametrize("meta, outputs, names, has_filters", [
    ({}, 0, [], False),
    ({LAYERS_KEY: '["a", "b"]', FILTERS_KEY: '{"layer": "c", "shape": [1, 2, 3], "values": [0, 1, 2, 3, 4, 5]}'},
     2, ["a", "b"], True),
    ({LAYERS_KEY: '["a"]'}, 2, [], False),  # names that do not match the outputs are not used
    ({LAYERS_KEY: '{"a": 1}'}, 1, [], False),
    ({LAYERS_KEY: "[not json"}, 1, [], False),
    ({LAYERS_KEY: '["a"]', FILTERS_KEY: "{not json"}, 1, ["a"], False),  # damaged filters: the rest is kept
    ({LAYERS_KEY: '["a"]', FILTERS_KEY: '{"layer": "c", "shape": [2, 2], "values": [0, 1, 2, 3]}'}, 1, ["a"], False),
    ({LAYERS_KEY: '["a"]', FILTERS_KEY: '{"layer": "c", "shape": [1, 1, 3], "values": [0, 1]}'}, 1, ["a"], False),
])
def test_the_taps_metadata_is_read_defensively(meta, outputs, names, has_filters):
    from digitrec_core.serving.runtime import _taps

    got_names, filters, layer = _taps(meta, outputs)
    assert got_names == names and (filters is not None) == has_filters and (layer == "c") == has_filters


def test_spearman_matches_its_definition_with_ties():
    a = np.array([1.0, 2.0, 2.0, 3.0, 0.0])
    b = np.array([10.0, 30.0, 20.0, 40.0, 0.0])
    ra, rb = np.array([1, 2.5, 2.5, 4, 0]), np.array([1, 3, 2, 4, 0])  # ties share their mean rank
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.zeros(5)))


def test_deletion_check_on_500_test_digits(shipped, digits):
    x, _ = digits
    check = deletion_check(shipped, x, seed=0)
    assert check.n == 500 and check.rate >= 0.9  # the bar; docs/user-guide.md quotes bench/explain.py's figure
    assert check.mean_drop_top > 5 * check.mean_drop_random


def test_model_randomisation_check_on_500_test_digits(shipped, digits):
    pytest.importorskip("tensorflow")
    import keras

    from digitrec_core.serving.exports import onnx_bytes

    keras.utils.set_random_seed(0)
    random_model = dr.build_model("default")
    random_model(np.zeros((1, 28, 28, 1), np.float32))
    x, _ = digits
    check = randomisation_check(shipped, OnnxModel(onnx_bytes(random_model)), x)
    assert check.n == 500 and check.mean_spearman < 0.5
