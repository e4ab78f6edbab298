"""The fixtures every test file may ask for. Helpers that tests import live in tests/support/."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No warm training workers (a TensorFlow process each) behind the page tests; test_jobs asks for them.
os.environ.setdefault("DIGITREC_WARM_WORKER", "0")

from digitrec_core.data import MNIST_DIR_ENV, Mnist, MnistError, keras_mnist_file  # noqa: E402
from digitrec_core.store import HOME_ENV  # noqa: E402
from tests.support import ROOT  # noqa: E402
from tests.support.mnist import make_synthetic, write_idx  # noqa: E402

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


@pytest.fixture
def synthetic() -> Mnist:
    return make_synthetic()


@pytest.fixture
def store_home(tmp_path, monkeypatch) -> Path:
    """An empty model store for one test, pointed to by DIGITREC_HOME like a user would."""
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for a module of browser tests (Playwright imported here, not at the top: the
    serve-only check runs this conftest without Playwright installed)."""
    from playwright.sync_api import sync_playwright

    from bench.chromium import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


# ---- the dashboard through AppTest (tests/support/pages.py): a fresh store and resources, synthetic MNIST ----


@pytest.fixture
def fresh_resources(store_home):
    """An empty store and none of the per-process resources an earlier test left behind."""
    import digitrec_app.ui.resources as res

    def reset():
        sup = res.supervisor()
        if sup.job is not None and sup.job.running:
            sup.job.stop()
            sup.job.wait(120)
        res.supervisor.clear()  # it binds the store (DIGITREC_HOME) it was created with
        res.mnist.clear()
        res.test_report.clear()
        res.sign_in_throttle.clear()  # its server-wide count of wrong passwords is per process

    reset()
    yield store_home
    reset()


@pytest.fixture
def app_env(fresh_resources):
    return fresh_resources


@pytest.fixture
def synthetic_dir(tmp_path, monkeypatch):
    """Synthetic MNIST written as IDX files, and DIGITREC_MNIST_DIR pointing at them."""
    data = make_synthetic(1000, 200)
    write_idx(tmp_path / "mnist", data)
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path / "mnist"))
    return data


@pytest.fixture(scope="module")
def tiny_result():
    """A seed network trained for one epoch on synthetic data: something to put in a store."""
    from digitrec_core import train

    return train(arch="seed", epochs=1, data=make_synthetic(600, 200))
