import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No warm training workers (a TensorFlow process each) behind the page tests; test_jobs asks for them.
os.environ.setdefault("DIGITREC_WARM_WORKER", "0")

from digitrec_core.data import MNIST_DIR_ENV, Mnist, MnistError, keras_mnist_file  # noqa: E402
from digitrec_core.store import HOME_ENV  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "mnist"


def real_mnist_dir() -> Path | None:
    """The real MNIST folder a person or CI provides: $DIGITREC_MNIST_DIR, else ../shared/mnist."""
    env = os.environ.get(MNIST_DIR_ENV)
    if env and Path(env).is_dir():
        return Path(env)
    return SHARED_MNIST if SHARED_MNIST.is_dir() else None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A folder holding the real MNIST: `real_mnist_dir()`, else the folder of Keras's mnist.npz (its
    cached copy, or downloaded now), so a machine with internet runs the real-MNIST tests too."""
    found = real_mnist_dir()
    if found is not None:
        return found
    try:
        return keras_mnist_file().parent
    except MnistError as e:
        pytest.skip(f"real MNIST not available ({SHARED_MNIST} does not exist either): {e}")


@pytest.fixture(scope="session")
def real_mnist(mnist_dir):
    from digitrec_core.data import load_mnist

    return load_mnist(mnist_dir)


def make_synthetic(n_train: int = 600, n_test: int = 200, seed: int = 0) -> Mnist:
    """An easy 10-class problem shaped like MNIST: class k is a bright 6x6 patch at its own place."""
    rng = np.random.default_rng(seed)

    def images(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            r, c = 3 + 11 * (k // 4), 2 + 6 * (k % 4)
            x[i, r : r + 6, c : c + 6] = 255
        return x, y

    (xtr, ytr), (xte, yte) = images(n_train), images(n_test)
    return Mnist(xtr, ytr, xte, yte, source="synthetic test data")


@pytest.fixture
def synthetic() -> Mnist:
    return make_synthetic()


@pytest.fixture
def store_home(tmp_path, monkeypatch) -> Path:
    """An empty model store for one test, pointed to by DIGITREC_HOME like a user would."""
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


def serving(server):
    """A module fixture's body for a dashboard server (digitrec_app.browser.Server): healthy, then
    stopped however the tests end, with the server's tracebacks (a failed training, say) in the report."""
    try:
        try:
            server.wait_healthy(timeout=60)
        except RuntimeError as e:
            pytest.fail(str(e))
        yield server
    finally:
        server.stop()
        log = server.log.read_text(errors="replace")
        if "Traceback" in log:
            print("---- streamlit server log ----\n" + log[-6000:])


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for a module of browser tests (Playwright imported here, not at the top: the
    serve-only check runs this conftest without Playwright installed)."""
    from playwright.sync_api import sync_playwright

    from digitrec_app.browser import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
