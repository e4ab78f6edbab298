"""digitrec_core.data: MNIST from IDX folders, .npz files and Keras, with clear errors."""

import gzip
import struct
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from digitrec_core import data
from digitrec_core.data import MNIST_DIR_ENV, MnistError, load_mnist

NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
REAL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No cached data, no env var, and no test may reach Keras (a download) unless it says so."""
    data.clear_cache()
    monkeypatch.delenv(MNIST_DIR_ENV, raising=False)

    def no_keras():
        raise AssertionError("load_mnist fell back to Keras")

    monkeypatch.setattr(data, "_keras_load", no_keras)
    yield
    data.clear_cache()


def arrays(n_train=50, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def idx_bytes(array, magic=None, dims=None):
    dims = array.shape if dims is None else dims
    magic = 0x800 | array.ndim if magic is None else magic
    return struct.pack(f">I{len(dims)}I", magic, *dims) + array.astype(np.uint8).tobytes()


def write_idx(folder, arrs, gz=True, dotted=False):
    folder.mkdir(exist_ok=True)
    for key, name in NAMES.items():
        name = name.replace("-idx", ".idx") if dotted else name
        raw = idx_bytes(arrs[key])
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


def assert_same(mnist, arrs):
    for key, expected in arrs.items():
        got = getattr(mnist, key)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (True, True), (False, True)])
def test_idx_folder_round_trips(tmp_path, gz, dotted):
    arrs = arrays()
    mnist = load_mnist(write_idx(tmp_path / "mnist", arrs, gz=gz, dotted=dotted))
    assert_same(mnist, arrs)
    assert (mnist.n_train, mnist.n_test, mnist.is_partial) == (50, 20, True)
    assert mnist.x_train.shape == (50, 28, 28) and mnist.y_test.shape == (20,)
    assert mnist.source == f"IDX files in {tmp_path / 'mnist'} (50 train / 20 test)"


def test_npz_folder_and_npz_file(tmp_path):
    arrs = arrays()
    np.savez_compressed(tmp_path / "mnist.npz", **arrs)
    assert_same(load_mnist(tmp_path), arrs)
    direct = load_mnist(str(tmp_path / "mnist.npz"))
    assert_same(direct, arrs)
    assert str(tmp_path / "mnist.npz") in direct.source


def test_npz_labels_of_another_integer_type_become_uint8(tmp_path):
    arrs = arrays()
    np.savez(tmp_path / "mnist.npz", **{**arrs, "y_train": arrs["y_train"].astype(np.int64)})
    mnist = load_mnist(tmp_path)
    assert mnist.y_train.dtype == np.uint8
    np.testing.assert_array_equal(mnist.y_train, arrs["y_train"])


@pytest.mark.parametrize("kind", ["idx", "npz"])
def test_arrays_are_read_only(tmp_path, kind):
    if kind == "idx":
        write_idx(tmp_path, arrays())
    else:
        np.savez(tmp_path / "mnist.npz", **arrays())
    mnist = load_mnist(tmp_path)
    for key in NAMES:
        with pytest.raises(ValueError, match="read-only"):
            getattr(mnist, key)[0] = 1


def test_env_var_is_used(tmp_path, monkeypatch):
    arrs = arrays(seed=1)
    monkeypatch.setenv(MNIST_DIR_ENV, str(write_idx(tmp_path / "env", arrs)))
    assert_same(load_mnist(), arrs)


def test_source_argument_wins_over_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(MNIST_DIR_ENV, str(write_idx(tmp_path / "env", arrays(30, 10, seed=1))))
    mnist = load_mnist(write_idx(tmp_path / "arg", arrays(40, 15, seed=2)))
    assert (mnist.n_train, mnist.n_test) == (40, 15)


def test_keras_is_the_default(monkeypatch):
    arrs = arrays(60, 10)
    calls = []

    def fake_keras():
        calls.append(1)
        return (arrs["x_train"], arrs["y_train"]), (arrs["x_test"], arrs["y_test"])

    monkeypatch.setattr(data, "_keras_load", fake_keras)
    mnist = load_mnist()
    assert_same(mnist, arrs)
    assert mnist.source.startswith("Keras cache (") and "mnist.npz" in mnist.source
    assert load_mnist() is mnist and len(calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        urllib.error.URLError("[Errno -3] Temporary failure in name resolution"),
        OSError("no network"),
        # What Keras actually raises when the download fails:
        Exception("URL fetch failure on https://storage.googleapis.com/...: None -- offline"),
    ],
)
def test_offline_without_source_explains_how_to_fix(monkeypatch, failure):
    def offline():
        raise failure

    monkeypatch.setattr(data, "_keras_load", offline)
    with pytest.raises(MnistError) as err:
        load_mnist()
    message = str(err.value)
    assert MNIST_DIR_ENV in message and "mnist.npz" in message
    assert all(name in message for name in NAMES.values())
    assert err.value.__cause__ is failure


def corrupt_folder(tmp_path, key, raw, gz=False):
    """An otherwise valid gzipped IDX folder whose `key` file holds `raw` (raw or gzipped)."""
    folder = write_idx(tmp_path / "mnist", arrays())
    (folder / f"{NAMES[key]}.gz").unlink()
    (folder / (NAMES[key] + (".gz" if gz else ""))).write_bytes(raw)
    return folder


def truncated(a):
    return idx_bytes(a["x_train"])[:-100]


def wrong_magic(a):  # a labels file where the images should be
    return idx_bytes(a["y_train"])


def wrong_dims(a):
    return idx_bytes(np.zeros((50, 32, 32), np.uint8))


def too_few_labels(a):
    return idx_bytes(a["y_train"][:49])


def label_out_of_range(a):
    y = a["y_train"].copy()
    y[3] = 12
    return idx_bytes(y)


@pytest.mark.parametrize(
    "key, make_raw, gz, expected",
    [
        ("x_train", truncated, False, ["train-images-idx3-ubyte", "truncated", "39,100"]),
        ("x_train", lambda a: gzip.compress(idx_bytes(a["x_train"]))[:-500], True,
         ["train-images-idx3-ubyte.gz", "corrupt", "download it again"]),
        ("x_test", lambda a: b"this is not gzip data at all", True,
         ["t10k-images-idx3-ubyte.gz", "decompressed"]),
        ("x_train", wrong_magic, False, ["train-images-idx3-ubyte", "0x00000801", "0x00000803"]),
        ("x_train", wrong_dims, False, ["train-images-idx3-ubyte", "28x28"]),
        ("y_train", too_few_labels, False,
         ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "50 images", "49 labels"]),
        ("y_train", label_out_of_range, False, ["train-labels-idx1-ubyte", "label 12", "index 3"]),
    ],
    ids=["truncated", "truncated-gz", "corrupt-gz", "magic", "dims", "count", "label-range"],
)
def test_broken_idx_file_is_named(tmp_path, key, make_raw, gz, expected):
    folder = corrupt_folder(tmp_path, key, make_raw(arrays()), gz=gz)
    with pytest.raises(MnistError) as err:
        load_mnist(folder)
    for part in expected:
        assert part in str(err.value)


def test_missing_idx_file_is_named(tmp_path):
    folder = write_idx(tmp_path / "mnist", arrays())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistError, match="missing t10k-labels-idx1-ubyte and holds no mnist.npz"):
        load_mnist(folder)


def test_missing_folder_from_env_var_does_not_fall_back(tmp_path, monkeypatch):
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(MnistError) as err:  # the autouse fixture fails the test on a fallback
        load_mnist()
    assert "nowhere" in str(err.value) and "does not exist" in str(err.value)
    assert f"${MNIST_DIR_ENV}" in str(err.value)


def test_npz_missing_key(tmp_path):
    arrs = arrays()
    del arrs["y_test"]
    np.savez(tmp_path / "mnist.npz", **arrs)
    with pytest.raises(MnistError, match=r"mnist\.npz lacks the arrays y_test"):
        load_mnist(tmp_path)


def test_npz_with_float_images(tmp_path):
    arrs = arrays()
    np.savez(tmp_path / "mnist.npz", **{**arrs, "x_test": arrs["x_test"] / 255.0})
    with pytest.raises(MnistError, match=r"mnist\.npz\['x_test'\] holds float64 pixels.*uint8"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("content", [b"PK\x03\x04 broken zip", b"random bytes"])
def test_unreadable_npz(tmp_path, content):
    (tmp_path / "mnist.npz").write_bytes(content)
    with pytest.raises(MnistError, match=r"mnist\.npz is not a readable \.npz archive") as err:
        load_mnist(tmp_path / "mnist.npz")
    assert err.value.__cause__ is not None


def test_file_that_is_not_npz(tmp_path):
    (tmp_path / "digits.csv").write_text("0,1,2\n")
    with pytest.raises(MnistError, match=r"digits\.csv .* is a file but not an \.npz"):
        load_mnist(tmp_path / "digits.csv")


def test_loads_once_per_source_until_cleared(tmp_path):
    folder = write_idx(tmp_path / "mnist", arrays())
    first = load_mnist(folder)
    for file in folder.iterdir():
        file.unlink()
    # The same folder, spelled differently, is served from the cache without reading files.
    assert load_mnist(str(folder)) is first
    assert load_mnist(tmp_path / "mnist" / ".." / "mnist") is first
    data.clear_cache()
    with pytest.raises(MnistError, match="missing"):
        load_mnist(folder)


def test_import_loads_neither_keras_nor_streamlit():
    """Importing the data module must stay cheap: no TensorFlow, Keras or Streamlit."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('data_only', {data.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['data_only'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted({'tensorflow', 'keras', 'streamlit'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.mnist
@pytest.mark.skipif(
    not REAL_MNIST.is_dir(), reason=f"real MNIST not present at {REAL_MNIST} (CI provides it)"
)
def test_real_mnist():
    mnist = load_mnist(REAL_MNIST)
    assert mnist.n_train in (22_699, 60_000) and mnist.n_test == 10_000
    assert mnist.is_partial == (mnist.n_train < 60_000)
    assert mnist.x_train.shape[1:] == (28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_test[0] == 7 and mnist.y_train[0] == 5  # MNIST's first test and train labels
    # The test set's class counts are well known; the training subset should be balanced-ish.
    assert np.bincount(mnist.y_test, minlength=10).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009
    ]
    share = np.bincount(mnist.y_train, minlength=10) / mnist.n_train
    assert share.min() > 0.08 and share.max() < 0.13
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 255
    assert f"{mnist.n_train:,} train / 10,000 test" in mnist.source
