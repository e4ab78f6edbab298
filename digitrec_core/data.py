"""MNIST, loaded once per process from a local folder or from Keras's copy.

Machines without internet point `DIGITREC_MNIST_DIR` (or the `source` argument) at a folder
holding the four IDX files or Keras's `mnist.npz`; everything else uses Keras's `mnist.npz`
(~/.keras/datasets): read with numpy when it is already there, else downloaded by Keras, or,
where Keras is not installed (a serve-only install), downloaded here from the same URL and
checked against the same sha256. Only numpy and the standard library are imported here: Keras
is imported only when it downloads.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitrec_core.files import atomic_file
from digitrec_core.optional import has_tensorflow
from digitrec_core.text import plural

MNIST_DIR_ENV = "DIGITREC_MNIST_DIR"
# What keras.datasets.mnist.load_data() downloads and verifies (keras/src/datasets/mnist.py).
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# `Mnist.origin` of the data from Keras's copy: model metadata records it, so it names no path.
KERAS_ORIGIN = "Keras's MNIST download"
DOWNLOAD_TIMEOUT = 60  # seconds without a byte before a download is given up

_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_FULL_TRAIN = 60_000
_EXPECTED = (
    "DigitRec expects a folder holding either the four MNIST IDX files "
    f"({', '.join(_IDX_NAMES.values())}; gzipped as .gz or not) or Keras's mnist.npz. "
    "Get the IDX files from https://storage.googleapis.com/cvdf-datasets/mnist/ or the .npz from "
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz."
)


class MnistError(RuntimeError):
    """MNIST could not be loaded; the message says which file, what was wrong and what to do."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Mnist:
    """MNIST as uint8 arrays: images (N, 28, 28) in 0..255, labels (N,) in 0..9.

    The arrays are read-only because one loaded copy is shared by every caller in the process:
    derive new arrays (`x / 255.0`) or `.copy()` them before changing anything.
    `source` says where the data was read, path included, for the person at this machine;
    `origin` says what it was without any path ("MNIST IDX files via DIGITREC_MNIST_DIR (...)"),
    for model metadata that travels to other machines. An empty `origin` is taken from `source`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    origin: str = ""

    def __post_init__(self) -> None:
        if not self.origin:
            object.__setattr__(self, "origin", self.source)  # frozen: set once, here

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def from_keras(self) -> bool:
        """True for Keras's copy (cached or downloaded), False for a local folder or file."""
        return self.origin.startswith(KERAS_ORIGIN)

    def split(self, limit: int | None, validation_split: float, seed: int
              ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((x, y) to train on, (x, y) held out): a seeded random subset of `limit` training images (all for
        None), the last `validation_split` of it held out."""
        order = np.random.default_rng(seed).permutation(self.n_train)[: limit or None]
        n_val = round(len(order) * validation_split)
        tr, va = order[: len(order) - n_val], order[len(order) - n_val :]
        return (self.x_train[tr], self.y_train[tr]), (self.x_train[va], self.y_train[va])

    @property
    def is_partial(self) -> bool:
        """True when training uses fewer than MNIST's 60,000 images: accuracy figures must say so."""
        return self.n_train < _FULL_TRAIN


_cache: dict[str, Mnist] = {}


def load_mnist(source: str | os.PathLike[str] | None = None) -> Mnist:
    """MNIST from `source`, else `$DIGITREC_MNIST_DIR`, else Keras (its cache or a download).

    `source` is a folder (four IDX files or mnist.npz) or an .npz file. A source that was given
    but is wrong raises MnistError rather than quietly downloading something else.
    Results are cached per resolved source; `clear_cache()` forgets them.
    """
    via = None  # the source argument
    if source is None and os.environ.get(MNIST_DIR_ENV):
        source, via = os.environ[MNIST_DIR_ENV], MNIST_DIR_ENV
    key = "keras" if source is None else str(Path(source).expanduser().resolve())
    if key not in _cache:
        _cache[key] = _from_keras() if source is None else _from_path(Path(key), via)
    return _cache[key]


def clear_cache() -> None:
    """Forget loaded data sets, so the next load_mnist() reads the files again (tests, reloads)."""
    _cache.clear()


def _from_path(path: Path, via: str | None) -> Mnist:
    """MNIST from a folder or .npz file, given as `source` (via None) or through `$via`."""
    told = f"${via}" if via else "the source given to load_mnist"
    how = f"via {via}" if via else "from a local folder"  # the origin: no path in it
    if path.is_file():
        if path.suffix != ".npz":
            raise MnistError(f"{path} (from {told}) is a file but not an .npz. {_EXPECTED}")
        return _from_npz(path, f"MNIST .npz file {f'via {via}' if via else 'from a local file'}")
    if not path.is_dir():
        raise MnistError(f"The MNIST folder {path} (from {told}) does not exist. {_EXPECTED}")
    found = {key: _find_idx(path, name) for key, name in _IDX_NAMES.items()}
    if all(found.values()):
        arrays = {key: _read_idx(p, ndim=3 if key[0] == "x" else 1) for key, p in found.items()}
        return _checked(arrays, {key: str(p) for key, p in found.items()}, f"IDX files in {path}",
                        f"MNIST IDX files {how}")
    if (path / "mnist.npz").is_file():
        return _from_npz(path / "mnist.npz", f"MNIST .npz file {how}")
    missing = ", ".join(_IDX_NAMES[key] for key, p in found.items() if p is None)
    raise MnistError(
        f"The MNIST folder {path} (from {told}) is missing {missing} and holds no mnist.npz. "
        + _EXPECTED
    )


def _find_idx(folder: Path, name: str) -> Path | None:
    dotted = name.replace("-idx", ".idx")  # train-images.idx3-ubyte, a common variant
    for candidate in (f"{name}.gz", name, f"{dotted}.gz", dotted):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """One IDX file: big-endian magic 0x0000080<ndim>, ndim uint32 sizes, then uint8 data."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise MnistError(
            f"{path} could not be read or decompressed ({e}); it is probably a corrupt or "
            "partial download: download it again."
        ) from e
    kind, magic, header = ("image" if ndim == 3 else "label"), 0x800 | ndim, 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or found != magic:
        raise MnistError(
            f"{path} is not an MNIST {kind} file: it starts with 0x{found:08X}, not the IDX "
            f"magic number 0x{magic:08X}. Check that it is the right file and not corrupt."
        )
    if len(raw) < header:
        raise MnistError(f"{path} is truncated inside its header: download it again.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size, held = math.prod(dims), len(raw) - header
    if held != size:
        problem = "truncated" if held < size else "longer than its header says"
        raise MnistError(
            f"{path} is {problem}: its header announces {' x '.join(map(str, dims))} = {size:,} "
            f"bytes of data but it holds {held:,}. Download it again."
        )
    return np.frombuffer(raw, np.uint8, count=size, offset=header).reshape(dims)


def _from_npz(path: Path, origin: str, where: str | None = None) -> Mnist:
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise MnistError(f"{path} holds a single array, not an .npz archive. {_EXPECTED}")
        with npz:
            missing = [key for key in _IDX_NAMES if key not in npz.files]
            if missing:
                raise MnistError(
                    f"{path} lacks the arrays {', '.join(missing)}; Keras's mnist.npz holds "
                    f"{', '.join(_IDX_NAMES)}. {_EXPECTED}"
                )
            arrays = {key: npz[key] for key in _IDX_NAMES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise MnistError(
            f"{path} is not a readable .npz archive ({e}); download mnist.npz again."
        ) from e
    return _checked(arrays, {key: f"{path}[{key!r}]" for key in _IDX_NAMES}, where or str(path), origin)


def _keras_load() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's own MNIST (cache or download); imported here because importing Keras is slow."""
    import keras

    return keras.datasets.mnist.load_data()


def keras_cache_file() -> Path:
    """Where Keras keeps mnist.npz: `$KERAS_HOME/datasets`, else ~/.keras/datasets (/tmp/.keras
    where the home folder is not writable), as keras.src.backend.config decides it."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = Path.home()
        home = (base if os.access(base, os.W_OK) else Path("/tmp")) / ".keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def keras_mnist_file() -> Path:
    """Keras's mnist.npz, verified, fetched first if it is absent or damaged: by Keras where it is
    installed, else downloaded here. Raises MnistError when it cannot be had (offline, say)."""
    cache = keras_cache_file()
    if not _verified(cache):
        _fetch(cache)
        if not _verified(cache):  # Keras kept it elsewhere ($KERAS_HOME changed after it was imported?)
            raise MnistError(
                f"Keras loaded MNIST but {cache} is missing or does not have the sha256 Keras checks "
                f"({KERAS_MNIST_SHA256}). Set {MNIST_DIR_ENV} to a folder with the MNIST files instead."
            )
    return cache


def _verified(path: Path) -> bool:
    """The file exists and has the sha256 Keras checks (a partial or other file does not)."""
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == KERAS_MNIST_SHA256


def _fetch(cache: Path) -> dict[str, np.ndarray] | None:
    """Fetch mnist.npz: through Keras when it is installed (its cache, its checks; returns its
    arrays), else downloaded here to `cache` (returns None)."""
    try:
        if has_tensorflow():
            (x_train, y_train), (x_test, y_test) = _keras_load()
            return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        _download(KERAS_MNIST_URL, cache)
        return None
    except MnistError:
        raise
    except Exception as e:  # Keras reports a failed download as a bare Exception
        raise MnistError(
            f"MNIST could not be loaded: {MNIST_DIR_ENV} is not set, so DigitRec looked for Keras's copy "
            f"({cache}) and, not finding it, tried to download it from {KERAS_MNIST_URL}; that failed: {e}. "
            f"To work offline, set {MNIST_DIR_ENV} to a folder with the MNIST files (or pass it as "
            f"`source`). {_EXPECTED}"
        ) from e


def _download(url: str, target: Path) -> None:
    """`url` to `target`, written (atomically: `files.atomic_file`) only once its sha256 is right,
    so an interrupted or corrupt download never leaves a file that looks like MNIST."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, chunks = hashlib.sha256(), []  # ~11 MB, held until it is verified: nothing is written before
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            chunks.append(chunk)
    if digest.hexdigest() != KERAS_MNIST_SHA256:
        raise MnistError(
            f"The file downloaded from {url} has sha256 {digest.hexdigest()}, not the "
            f"{KERAS_MNIST_SHA256} Keras expects: it is incomplete or not MNIST, and was not kept. "
            f"Try again, or set {MNIST_DIR_ENV} to a folder with the MNIST files. {_EXPECTED}"
        )
    with atomic_file(target, suffix=".part", mode=0o600) as out:  # 0600, as mkstemp made it: a private cache
        out.writelines(chunks)


def _from_keras() -> Mnist:
    """Keras's copy: read with numpy when it is cached (no Keras import), else fetched first."""
    cache = keras_cache_file()
    where = f"Keras cache ({cache})"
    if not _verified(cache) and (arrays := _fetch(cache)) is not None:
        return _checked(arrays, {key: f"Keras's MNIST {key}" for key in arrays}, where, KERAS_ORIGIN)
    return _from_npz(cache, KERAS_ORIGIN, where)


def _checked(arrays: dict[str, np.ndarray], names: dict[str, str], where: str, origin: str) -> Mnist:
    """Mnist from the four arrays, once they look like MNIST; `names` say where each came from,
    `where` where they all came from (a path), `origin` what they are without a path."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        x_name, y_name = names[f"x_{split}"], names[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise MnistError(
                f"{x_name} holds an array of shape {x.shape}; MNIST images are (N, 28, 28), 28x28."
            )
        if x.dtype != np.uint8:
            raise MnistError(f"{x_name} holds {x.dtype} pixels; MNIST pixels are uint8 (0-255).")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise MnistError(
                f"{y_name} holds {y.dtype} of shape {y.shape}; expected one integer label per image."
            )
        if len(x) != len(y):
            raise MnistError(
                f"{x_name} holds {plural(len(x), 'image')} but {y_name} holds {plural(len(y), 'label')}; "
                "they must come from the same download."
            )
        if len(x) == 0:
            raise MnistError(f"{x_name} holds no images.")
        bad = np.flatnonzero((y < 0) | (y > 9))
        if bad.size:
            raise MnistError(
                f"{y_name} holds label {y[bad[0]]} at index {bad[0]}; MNIST labels are 0-9, "
                "so the file is corrupt or not MNIST labels."
            )
        arrays[f"y_{split}"] = y.astype(np.uint8, copy=False)
    for array in arrays.values():
        array.setflags(write=False)
    counts = f"({len(arrays['y_train']):,} train / {len(arrays['y_test']):,} test)"
    return Mnist(**arrays, source=f"{where} {counts}", origin=f"{origin} {counts}")
