import pytest

from digitrec_core import evaluate, load_model
from digitrec_core.store import SHIPPED_DIR, shipped_info


@pytest.mark.mnist
def test_shipped_model_classifies_real_test_digits(store_home, real_mnist):
    loaded = load_model()  # empty store: the pretrained model shipped in the package
    assert loaded.info.shipped and loaded.info.path == SHIPPED_DIR
    report = evaluate(loaded.model, real_mnist.x_test[:2000], real_mnist.y_test[:2000])
    assert report.accuracy >= 0.99
    assert report.accuracy == pytest.approx(loaded.info.test_accuracy, abs=0.006)  # its metadata is honest


def test_shipped_model_is_small_and_described():
    info = shipped_info()
    assert info is not None, f"no pretrained model in {SHIPPED_DIR}"
    assert (SHIPPED_DIR / "model.keras").stat().st_size <= 2_000_000
    assert info.arch == "default" and info.epochs_run == info.hyperparameters["epochs"]
