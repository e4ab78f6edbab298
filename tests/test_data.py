"""digitrec_core.data: MNIST from IDX folders, .npz files and Keras, with clear errors."""

import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from digitrec_core import data
from digitrec_core.data import KERAS_ORIGIN, MNIST_DIR_ENV, Mnist, MnistError, load_mnist
from digitrec_core.store import SHIPPED_DIR

NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No cached data, no env var, an empty Keras cache, and no test may reach Keras or the network
    unless it says so (file:// URLs stay allowed: the download tests serve a local file)."""
    data.clear_cache()
    monkeypatch.delenv(MNIST_DIR_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    def no_keras():
        raise AssertionError("load_mnist fell back to Keras")

    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        assert str(url).startswith("file:"), f"a test tried to download {url}"
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(data, "_keras_load", no_keras)
    monkeypatch.setattr(data, "has_tensorflow", lambda: True)  # the download tests say when it is absent
    monkeypatch.setattr(urllib.request, "urlopen", local_only)
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
    assert mnist.origin == "MNIST IDX files from a local folder (50 train / 20 test)"  # no path: metadata
    assert not mnist.from_keras


def test_npz_folder_and_npz_file(tmp_path):
    arrs = arrays()
    np.savez_compressed(tmp_path / "mnist.npz", **arrs)
    assert_same(load_mnist(tmp_path), arrs)
    direct = load_mnist(str(tmp_path / "mnist.npz"))
    assert_same(direct, arrs)
    assert str(tmp_path / "mnist.npz") in direct.source
    assert direct.origin == "MNIST .npz file from a local file (50 train / 20 test)"
    assert load_mnist(tmp_path).origin == "MNIST .npz file from a local folder (50 train / 20 test)"


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
    mnist = load_mnist()
    assert_same(mnist, arrs)
    assert mnist.origin == f"MNIST IDX files via {MNIST_DIR_ENV} (50 train / 20 test)"
    assert str(tmp_path) in mnist.source and str(tmp_path) not in mnist.origin


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
    assert mnist.source == f"Keras cache ({data.keras_cache_file()}) (60 train / 10 test)"
    assert mnist.origin == f"{KERAS_ORIGIN} (60 train / 10 test)" and mnist.from_keras
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
def test_real_mnist(mnist_dir):
    mnist = load_mnist(mnist_dir)
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
    assert str(mnist_dir) in mnist.source and str(mnist_dir) not in mnist.origin


# ---- Keras's mnist.npz without Keras: the cached copy, or a download of the same file ----------------


def keras_npz(tmp_path, monkeypatch, arrs=None):
    """A stand-in for Keras's mnist.npz at a file:// URL, with the download URL and sha256 pointed at it."""
    served = tmp_path / "served" / "mnist.npz"
    served.parent.mkdir()
    np.savez_compressed(served, **(arrays(60, 10) if arrs is None else arrs))
    monkeypatch.setattr(data, "KERAS_MNIST_URL", served.as_uri())
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", hashlib.sha256(served.read_bytes()).hexdigest())
    return served


def no_tensorflow(monkeypatch):
    monkeypatch.setattr(data, "has_tensorflow", lambda: False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_cache_is_where_keras_keeps_it(tmp_path, monkeypatch):
    assert data.keras_cache_file() == tmp_path / "keras-home" / "datasets" / "mnist.npz"  # $KERAS_HOME
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    (tmp_path / "me").mkdir()
    assert data.keras_cache_file() == tmp_path / "me" / ".keras" / "datasets" / "mnist.npz"


def test_url_and_sha256_are_the_ones_keras_uses():
    spec = find_spec("keras")
    if spec is None:
        pytest.skip("Keras is not installed: nothing to compare with")
    source = (Path(spec.submodule_search_locations[0]) / "src" / "datasets" / "mnist.py").read_text()
    assert data.KERAS_MNIST_SHA256 in source
    folder, name = data.KERAS_MNIST_URL.rsplit("/", 1)
    assert name == "mnist.npz" and f'"{folder}/"' in source


def test_a_cached_copy_is_read_without_keras(tmp_path, monkeypatch):
    served = keras_npz(tmp_path, monkeypatch)
    cache = data.keras_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(served.read_bytes())
    served.unlink()  # nothing to download: the cached copy must serve
    mnist = load_mnist()  # the autouse fixture fails the test if this reaches Keras
    assert_same(mnist, dict(np.load(cache)))
    assert mnist.source == f"Keras cache ({cache}) (60 train / 10 test)"
    assert mnist.origin == f"{KERAS_ORIGIN} (60 train / 10 test)" and mnist.from_keras


def test_reading_the_cached_copy_imports_no_keras(tmp_path, monkeypatch):
    served = keras_npz(tmp_path, monkeypatch)
    cache = data.keras_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(served.read_bytes())
    code = (
        "import sys\n"
        "from digitrec_core import data\n"
        f"data.KERAS_MNIST_SHA256 = {data.KERAS_MNIST_SHA256!r}\n"
        "print(data.load_mnist().n_train, sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != MNIST_DIR_ENV}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, "KERAS_HOME": str(tmp_path / "keras-home")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "60 []"


def test_a_damaged_cached_copy_is_fetched_again_by_keras(tmp_path, monkeypatch):
    keras_npz(tmp_path, monkeypatch)
    cache = data.keras_cache_file()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"half a download")
    arrs = arrays(70, 10, seed=3)
    monkeypatch.setattr(data, "_keras_load",
                        lambda: ((arrs["x_train"], arrs["y_train"]), (arrs["x_test"], arrs["y_test"])))
    assert_same(load_mnist(), arrs)


def test_without_keras_it_downloads_the_same_file(tmp_path, monkeypatch):
    no_tensorflow(monkeypatch)
    arrs = arrays(60, 10, seed=4)
    served = keras_npz(tmp_path, monkeypatch, arrs)
    mnist = load_mnist()
    assert_same(mnist, arrs)
    cache = data.keras_cache_file()
    assert cache.read_bytes() == served.read_bytes()  # where Keras would have put it, byte for byte
    assert leftovers(cache.parent) == ["mnist.npz"]  # no temporary file left beside it
    assert mnist.origin == f"{KERAS_ORIGIN} (60 train / 10 test)"
    data.clear_cache()
    served.unlink()
    assert_same(load_mnist(), arrs)  # from the cache now


def test_without_keras_a_download_with_the_wrong_sha256_is_not_kept(tmp_path, monkeypatch):
    no_tensorflow(monkeypatch)
    keras_npz(tmp_path, monkeypatch)
    monkeypatch.setattr(data, "KERAS_MNIST_SHA256", "0" * 64)
    with pytest.raises(MnistError) as err:
        load_mnist()
    assert "sha256" in str(err.value) and "0" * 64 in str(err.value) and MNIST_DIR_ENV in str(err.value)
    assert leftovers(data.keras_cache_file().parent) == []


class _Broken(io.BytesIO):
    """A response that delivers one chunk, then loses the connection."""

    def read(self, size=-1):
        if self.tell():
            raise ConnectionResetError("connection reset by peer")
        return super().read(1000)


@pytest.mark.parametrize("failure", ["offline", "interrupted"])
def test_without_keras_a_failed_download_explains_how_to_fix_and_leaves_nothing(tmp_path, monkeypatch, failure):
    no_tensorflow(monkeypatch)
    keras_npz(tmp_path, monkeypatch)

    def urlopen(url, *args, **kwargs):
        if failure == "offline":
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return _Broken(b"x" * 5000)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(MnistError) as err:
        load_mnist()
    message = str(err.value)
    assert MNIST_DIR_ENV in message and data.KERAS_MNIST_URL in message
    assert ("name resolution" if failure == "offline" else "connection reset") in message
    assert leftovers(data.keras_cache_file().parent) == []


def test_keras_mnist_file_gives_the_verified_cache(tmp_path, monkeypatch):
    no_tensorflow(monkeypatch)
    served = keras_npz(tmp_path, monkeypatch)
    path = data.keras_mnist_file()
    assert path == data.keras_cache_file() and path.read_bytes() == served.read_bytes()
    assert load_mnist(path.parent).n_train == 60  # the folder serves as DIGITREC_MNIST_DIR


# ---- where the data came from, in model metadata -----------------------------------------------------


def test_training_records_where_the_data_came_from_without_a_path(tmp_path, monkeypatch):
    from digitrec_core.learning.training import train

    monkeypatch.setenv(MNIST_DIR_ENV, str(write_idx(tmp_path / "mnist", arrays(300, 100))))
    result = train(arch="seed", epochs=1, batch_size=64, data=load_mnist())
    assert result.data_source == f"MNIST IDX files via {MNIST_DIR_ENV} (300 train / 100 test)"
    assert str(tmp_path) not in result.data_source


def test_the_shipped_model_records_what_the_code_writes(tmp_path, monkeypatch):
    """It was trained on the 22,699-image MNIST subset through DIGITREC_MNIST_DIR."""
    shipped = json.loads((SHIPPED_DIR / "meta.json").read_text())
    n_train = shipped["n_train"] + shipped["n_val"]
    monkeypatch.setenv(MNIST_DIR_ENV, str(write_idx(tmp_path / "mnist", arrays(n_train, 10_000), gz=False)))
    assert shipped["data_source"] == load_mnist().origin


def test_a_split_is_a_seeded_subset_with_its_last_share_held_out():
    data = Mnist(np.arange(50, dtype=np.uint8).reshape(50, 1, 1), np.arange(50) % 10,
                 np.zeros((1, 1, 1), np.uint8), np.zeros(1, np.uint8), "test")
    (x_tr, y_tr), (x_va, y_va) = data.split(20, 0.25, seed=4)
    assert (len(x_tr), len(x_va)) == (15, 5)
    assert len(set(x_tr.ravel()) | set(x_va.ravel())) == 20  # 20 different images, none in both
    assert (y_tr == x_tr.ravel() % 10).all() and (y_va == x_va.ravel() % 10).all()  # labels stay with their images
    again = data.split(20, 0.25, seed=4)
    assert np.array_equal(again[0][0], x_tr) and np.array_equal(again[1][0], x_va)
    assert not np.array_equal(data.split(20, 0.25, seed=5)[0][0], x_tr)
    assert len(data.split(None, 0.0, seed=4)[0][0]) == 50 and len(data.split(None, 0.0, seed=4)[1][0]) == 0
