import numpy as np
import pytest

from digitrec_core import ARCHITECTURES, build_model, predict_proba


def test_seed_is_the_original_network():
    model = build_model("seed")
    assert model.count_params() == 81_066
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [
        (26, 26, 64), (13, 13, 64),
        (11, 11, 64), (5, 5, 64),
        (3, 3, 64), (1, 1, 64),
        (64,), (64,), (32,), (10,),
    ]
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D"] * 3 + ["Flatten", "Dense", "Dense", "Dense"]
    assert model.layers[-1].activation.__name__ == "softmax"


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_predicts_probabilities(arch):
    model = build_model(arch)
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    p = predict_proba(model, x)
    assert p.shape == (5, 10)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # one image, in any of the accepted layouts, gives the same answer
    np.testing.assert_allclose(predict_proba(model, x[0]), p[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predict_proba(model, x[:1, ..., None] / 255.0), p[:1], rtol=1e-4, atol=1e-6)


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="seed"):
        build_model("resnet9000")


def test_predict_proba_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="28x28"):
        predict_proba(build_model("seed"), np.zeros((2, 32, 32)))


def test_single_prediction_does_not_call_model_predict(monkeypatch):
    model = build_model("seed")

    def forbidden(*a, **k):
        raise AssertionError("model.predict costs ~50 ms a call; the live path must not use it")

    monkeypatch.setattr(model, "predict", forbidden)
    assert predict_proba(model, np.zeros((28, 28), np.float32)).shape == (1, 10)
