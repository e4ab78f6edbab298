"""Synthetic MNIST: an easy 10-class problem shaped like it, the same written as IDX files like the real
download, and a writer unlike it (to fine-tune on)."""

import gzip
import struct

import numpy as np

from digitrec_core.data import Mnist


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


def write_idx(folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, x, y in (("train", data.x_train, data.y_train), ("t10k", data.x_test, data.y_test)):
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, len(x), 28, 28) + x.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x801, len(y)) + y.tobytes())


def own_hand(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A writer unlike the training data: class k's patch sits in another row than make_synthetic's
    (rows 3, 14, 25 there; 19, 8, 0 here), on a noisier background."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.uniform(0, 0.3, (n, 28, 28)).astype(np.float32)
    for i, k in enumerate(y):
        r, c = (19, 8, 0)[k // 4], 2 + 6 * (k % 4)
        x[i, r : r + 6, c : c + 6] = 1.0
    return x, y
