import pytest

from digitrec_core import OnnxModel, evaluate, load_model
from digitrec_core.serving.runtime import unseal
from digitrec_core.store import SHIPPED_DIR, shipped_info


@pytest.mark.mnist
def test_shipped_model_classifies_real_test_digits(store_home, real_mnist):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in SHIPPED_DIR.iterdir())
    loaded = load_model()  # empty store: the pretrained model shipped in the package, through ONNX Runtime
    assert loaded.info.shipped and loaded.info.path == SHIPPED_DIR and isinstance(loaded.model, OnnxModel)
    report = evaluate(loaded.model, real_mnist.x_test, real_mnist.y_test)  # all 10,000: ONNX takes under a second
    assert report.accuracy == pytest.approx(loaded.info.test_accuracy, abs=1e-4)  # its metadata is honest
    assert sorted((p.name, p.stat().st_mtime_ns) for p in SHIPPED_DIR.iterdir()) == before  # nothing to convert


def test_shipped_model_is_small_and_described():
    info = shipped_info()
    assert info is not None, f"no pretrained model in {SHIPPED_DIR}"
    assert (SHIPPED_DIR / "model.keras").stat().st_size <= 2_000_000
    assert len(unseal((SHIPPED_DIR / "model.onnx").read_bytes())) <= 2_000_000  # committed, sealed, small
    assert info.arch == "default" and info.epochs_run == info.hyperparameters["epochs"]


@pytest.mark.mnist
def test_shipped_model_says_not_a_digit_for_what_is_not_one(store_home, real_mnist):
    """Dots, scribbles, letters and the rest, drawn as on the page and never trained on (the `validation` stream),
    read as "Not a digit"; the real test digits almost never do."""
    from digitrec_core import recognize
    from digitrec_core.learning.negatives import KINDS, as_mnist

    loaded = load_model()
    assert 0 < loaded.info.digit_threshold < 1
    drawings, kinds = as_mnist(60, split="validation", seed=1)
    flagged = recognize(loaded, drawings).flagged
    for kind in KINDS:
        assert flagged[kinds == kind].mean() >= 0.75, kind
    assert flagged.mean() >= 0.9
    assert recognize(loaded, real_mnist.x_test).flagged.mean() <= 0.01
