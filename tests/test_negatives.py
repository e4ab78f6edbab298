"""The generated non-digits (digitrec_core/learning/negatives.py): seeded, split apart, drawn as the Draw page draws."""

import hashlib

import numpy as np
import pytest

from digitrec_core import canvas_to_mnist
from digitrec_core.learning.negatives import CANVAS, KINDS, LETTERS, LOOKALIKES, generate


def _hashes(canvases: np.ndarray) -> set[str]:
    return {hashlib.blake2b(c.tobytes(), digest_size=16).hexdigest() for c in canvases}


def test_every_kind_comes_as_page_canvases():
    neg = generate(6, split="validation", seed=3)
    assert neg.canvases.shape == (6 * len(KINDS), CANVAS, CANVAS, 4) and neg.canvases.dtype == np.uint8
    assert list(neg.kinds) == [k for k in KINDS for _ in range(6)]
    # White ink on an opaque black canvas, like streamlit-drawable-canvas on the Draw page.
    assert (neg.canvases[..., 3] == 255).all()
    assert set(np.unique(neg.canvases[..., :3])) <= {0, 255}
    assert all(c[..., 0].any() for c in neg.canvases)


def test_transparent_canvases_carry_ink_in_alpha():
    neg = generate(3, seed=1, transparent=True)
    assert all((c[..., 3] == 0).mean() > 0.3 and c[..., 3].any() for c in neg.canvases)
    assert np.array_equal(neg.canvases[..., 3] > 0, generate(3, seed=1).canvases[..., 0] > 0)


def test_same_seed_same_drawings_and_each_drawing_its_own_stream():
    a = generate(4, split="train", seed=7)
    assert np.array_equal(a.canvases, generate(4, split="train", seed=7).canvases)
    # Drawing j does not depend on how many are drawn, nor on which other kinds are asked for.
    more = generate(8, split="train", seed=7, kinds=("shapes",))
    assert np.array_equal(more.canvases[:4], a.canvases[a.kinds == "shapes"])
    assert not np.array_equal(a.canvases, generate(4, split="train", seed=8).canvases)


def test_train_and_validation_never_share_a_drawing():
    train, val = generate(40, split="train", seed=0), generate(40, split="validation", seed=0)
    assert not _hashes(train.canvases) & _hashes(val.canvases)
    assert len(_hashes(val.canvases)) == len(val.canvases)  # no repeats within a split either


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        generate(1, split="test")
    with pytest.raises(ValueError, match="unknown kinds"):
        generate(1, kinds=("digits",))


def test_canvas_to_mnist_reads_every_kind_and_drops_only_specks():
    """Every kind makes a drawing canvas_to_mnist reads, except dots, a few of which are specks it drops."""
    neg = generate(30, split="validation", seed=0)
    read = {k: [] for k in KINDS}
    for canvas, kind in zip(neg.canvases, neg.kinds):
        d = canvas_to_mnist(canvas)
        read[kind].append(d is not None)
        if d is not None:
            assert d.shape == (28, 28) and d.dtype == np.float32 and d.max() == pytest.approx(1.0)
    for kind in KINDS:
        assert all(read[kind]) if kind != "dots" else np.mean(read[kind]) > 0.5, kind


def test_letters_that_look_like_digits_are_left_out():
    assert not set(LETTERS) & LOOKALIKES
    assert set("OoIlZzSsBGgqb") <= LOOKALIKES and len(LETTERS) == 52 - len(LOOKALIKES)
