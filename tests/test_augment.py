"""Handwriting-style augmentation on synthetic digits (no MNIST): each style does what it claims, to its class only."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from digitrec_core.learning.augment import DRAWING, augment_batch, handwriting_styles, pen_line  # noqa: E402

STYLES = ("flag_one", "foot_one", "cross_seven", "close_four", "curl_nine", "open_nine", "sweep_nine")
NONE = replace(DRAWING, **dict.fromkeys(STYLES, 0.0))
ALWAYS = replace(DRAWING, **dict.fromkeys(STYLES, 1.0))


def _draw(segments, width=2.5) -> np.ndarray:
    """A (28, 28) digit made of pen strokes [(x0, y0, x1, y1), ...], drawn by the op under test's own pen."""
    p0 = tf.constant([s[:2] for s in segments], tf.float32)
    p1 = tf.constant([s[2:] for s in segments], tf.float32)
    return pen_line(p0, p1, tf.fill([len(segments)], float(width))).numpy().max(axis=0)


ONE = _draw([(14, 4, 14, 23)])  # a plain stroke, as most MNIST 1s are
SEVEN = _draw([(8, 5, 20, 5), (20, 5, 13, 23)])
OPEN_FOUR = _draw([(9, 4, 8, 15), (8, 15, 21, 15), (18, 3, 18, 24)])  # the arm and the stem are apart at the top
NINE = _draw([(9, 5, 17, 5), (17, 5, 17, 13), (17, 13, 9, 13), (9, 13, 9, 5), (17, 13, 16, 24)])  # loop + tail
ZERO = _draw([(9, 5, 19, 5), (19, 5, 19, 23), (19, 23, 9, 23), (9, 23, 9, 5)])


def _styled(images, labels, policy=ALWAYS, seed=0):
    keras.utils.set_random_seed(seed)
    out, which = handwriting_styles(tf.constant(np.asarray(images, np.float32)[..., None]), tf.constant(labels), policy)
    return out.numpy()[..., 0], which.numpy()


def _box(img):
    rows, cols = np.flatnonzero((img > 0.5).any(axis=1)), np.flatnonzero((img > 0.5).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def _holes(img) -> np.ndarray:
    """Background pixels (4-connected) that cannot reach the border: the inside of a closed loop."""
    bg = img <= 0.5
    seen = np.zeros_like(bg)
    todo = deque((r, c) for r in range(28) for c in range(28) if bg[r, c] and (r in (0, 27) or c in (0, 27)))
    for r, c in todo:
        seen[r, c] = True
    while todo:
        r, c = todo.popleft()
        for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= rr < 28 and 0 <= cc < 28 and bg[rr, cc] and not seen[rr, cc]:
                seen[rr, cc] = True
                todo.append((rr, cc))
    return bg & ~seen


def test_pen_line_draws_an_antialiased_stroke_where_asked():
    ink = _draw([(5, 14, 22, 14)], width=2.5)
    assert ink.min() >= 0 and ink.max() <= 1
    assert ink[14, 5:23].min() == pytest.approx(1.0) and ink[14, :4].max() == 0 and ink[14, 24:].max() == 0
    assert 0 < ink[15, 14] < 1 and 0 < ink[13, 14] < 1  # grey edges, as MNIST's strokes have
    assert ink[:12].max() == 0 and ink[17:].max() == 0


def test_styles_apply_to_their_classes_only_and_keep_the_range():
    images = np.stack([ZERO, ONE, ZERO, ZERO, OPEN_FOUR, ZERO, ZERO, SEVEN, ZERO, NINE])
    labels = np.arange(10)
    out, which = _styled(images, labels)
    assert which.tolist() == [d in (1, 4, 7, 9) for d in range(10)]
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    for d in range(10):
        if d in (1, 4, 7, 9):
            assert np.abs(out[d] - images[d]).sum() >= 5, d  # a stroke was added (or a gap taken)
        else:
            np.testing.assert_array_equal(out[d], images[d])


def test_a_style_never_touches_another_class_even_when_it_looks_the_part():
    # a 1 labelled 7 or 8 gets no flag or foot; a 9 labelled 0 keeps its loop and tail as they are
    # (the 7's cross is off: a bar through any stroke labelled 7 is what it should do)
    out, which = _styled([ONE, ONE, NINE], [7, 8, 0], replace(ALWAYS, cross_seven=0.0))
    assert not which.any()
    np.testing.assert_array_equal(out, np.stack([ONE, ONE, NINE]))


def test_probabilities_are_per_image():
    out, which = _styled(np.repeat(ONE[None], 400, axis=0), np.ones(400, int), replace(NONE, flag_one=0.5))
    assert 0.4 < which.mean() < 0.6
    np.testing.assert_array_equal(out[~which], np.repeat(ONE[None], (~which).sum(), axis=0))
    _, none = _styled(np.repeat(ONE[None], 50, axis=0), np.ones(50, int), NONE)
    assert not none.any()


def test_a_flagged_one_has_a_flag_up_and_to_the_left():
    out, _ = _styled([ONE] * 16, [1] * 16, replace(NONE, flag_one=1.0), seed=3)
    for img in out:
        top, bottom, _, _ = _box(img)
        stem = int(np.argmax((img > 0.5).sum(axis=0)))  # the 1's own stroke: the column with most ink
        flag = np.argwhere(img[:, : stem - 1] > 0.5)  # ink left of the stroke (2.5 px wide: stem ± 1)
        assert len(flag) >= 4
        # it hangs from the top: it starts near the top of the digit and stays in its upper part
        assert flag[:, 0].min() <= top + 4 and flag[:, 0].max() <= top + 0.75 * (bottom - top)
        # and it falls as it goes left, at 25-60 degrees: the ink's centre in each column left of the stroke
        cols = [c for c in range(stem - 1) if img[:, c].sum() > 0.5]
        centre = [img[:, c] @ np.arange(28) / img[:, c].sum() for c in cols]
        assert len(cols) >= 2
        slope = np.polyfit(cols, centre, 1)[0]  # rows per column; rows grow downwards
        assert -2.5 < slope < -0.3, slope


def test_a_crossed_seven_has_ink_across_its_middle():
    def widest_middle_run(img):
        top, bottom, _, _ = _box(img)
        band = img[int(top + 0.4 * (bottom - top)) : int(top + 0.7 * (bottom - top)) + 1] > 0.5
        return max(np.ptp(np.flatnonzero(row)) + 1 if row.any() else 0 for row in band)

    out, _ = _styled([SEVEN] * 16, [7] * 16, replace(NONE, cross_seven=1.0), seed=5)
    assert widest_middle_run(SEVEN) <= 4
    for img in out:
        assert widest_middle_run(img) >= 7
        assert not _holes(img).any()  # a bar through a stem, not a loop


def test_a_closed_four_is_closed_at_the_top():
    assert not _holes(OPEN_FOUR).any()
    out, _ = _styled([OPEN_FOUR] * 16, [4] * 16, replace(NONE, close_four=1.0), seed=7)
    for img in out:
        hole = np.argwhere(_holes(img))
        assert len(hole) >= 8
        top, bottom, _, _ = _box(img)
        assert hole[:, 0].max() < top + 0.6 * (bottom - top)  # above the crossbar, between the arm and the stem


def test_an_open_nine_has_a_gap_in_its_loop_and_a_curled_one_a_hook_to_the_left():
    assert _holes(NINE).sum() >= 8
    opened, _ = _styled([NINE] * 16, [9] * 16, replace(NONE, open_nine=1.0), seed=13)
    for img in opened:
        assert not _holes(img).any()  # the loop no longer closes
        assert 0.6 * NINE.sum() < img.sum() < NINE.sum()  # a gap, not a lost digit
    curled, _ = _styled([NINE] * 16, [9] * 16, replace(NONE, curl_nine=1.0), seed=13)
    for img in curled:
        bottom = _box(img)[1]
        tail_x = int(np.argmax(img[bottom - 4]))  # the tail, a little above its end
        assert np.flatnonzero(img[bottom - 2 : bottom + 1].max(axis=0) > 0.5).min() <= tail_x - 3
        assert _holes(img).sum() >= 8  # the loop is still closed


def test_a_swept_nine_has_its_tail_running_down_to_the_left():
    def tail_from_loop(img):  # how far the tail's end lies right of the loop's right side, px
        top, bottom, _, _ = _box(img)
        return np.flatnonzero(img[bottom - 1] > 0.5).mean() - np.flatnonzero(img[top + 2] > 0.5).max()

    swept, _ = _styled([NINE] * 16, [9] * 16, replace(NONE, sweep_nine=1.0), seed=17)
    for img in swept:
        assert tail_from_loop(img) <= tail_from_loop(NINE) - 2
        assert _holes(img).sum() >= 8  # the loop above the bend is untouched


def test_styled_digits_are_framed_as_canvas_to_mnist_frames_them():
    # a long flag widens a 1; the result still fits MNIST's 20 px box with its centre of mass at the centre
    out, _ = _styled([ONE] * 8, [1] * 8, replace(NONE, flag_one=1.0), seed=11)
    for img in out:
        top, bottom, left, right = _box(img)
        assert max(bottom - top, right - left) + 1 <= 21
        r = np.arange(28)
        assert abs(img.sum(axis=1) @ r / img.sum() - 14) < 0.75
        assert abs(img.sum(axis=0) @ r / img.sum() - 14) < 0.75


def test_augmentation_is_deterministic_under_a_seed():
    rng = np.random.default_rng(0)
    images = np.stack([[ONE, SEVEN, OPEN_FOUR, ZERO][i % 4] for i in range(32)])
    images = np.clip(images + rng.uniform(0, 0.2, images.shape) * (images > 0), 0, 1).astype(np.float32)[..., None]
    labels = np.array([[1, 7, 4, 0][i % 4] for i in range(32)])

    def run(seed):
        keras.utils.set_random_seed(seed)
        return augment_batch(tf.constant(images), tf.constant(labels)).numpy()

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.shape == images.shape
