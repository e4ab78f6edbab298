"""How a model does on a person's digits (digitrec_core.review), and the words and times every page
writes (digitrec_core.text): plain functions, checked without Streamlit or TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec_core.review import class_counts, rank_mistakes, review
from digitrec_core.text import plural, when


def random_case(seed: int, n: int):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10)) * rng.uniform(0.1, 4)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 10, n)
    labels[: n // 2] = probs[: n // 2].argmax(axis=1)  # about half right, like a real model on new hands
    ids = [f"s{i:03d}" for i in range(n)]
    return probs.astype(np.float32), labels, ids


@pytest.mark.parametrize("seed", range(20))
def test_review_agrees_with_a_direct_count(seed):
    n = int(np.random.default_rng(1000 + seed).integers(1, 60))
    probs, labels, ids = random_case(seed, n)
    trained_on = set(ids[::3])
    r = review(probs, labels, ids, trained_on=trained_on)

    pred = probs.argmax(axis=1)
    right = pred == labels
    assert r.n == n and r.n_right == int(right.sum()) and r.evaluation.accuracy == pytest.approx(right.mean())
    assert r.evaluation.confusion.sum() == n and np.trace(r.evaluation.confusion) == right.sum()
    assert r.counts.tolist() == [int((labels == d).sum()) for d in range(10)]
    # Mistakes: exactly the misread samples, the lowest probability for the right digit first.
    assert {m.id for m in r.mistakes} == {ids[i] for i in np.flatnonzero(~right)}
    p_label = [m.p_label for m in r.mistakes]
    assert p_label == sorted(p_label)
    for m in r.mistakes:
        i = ids.index(m.id)
        assert (m.label, m.predicted) == (labels[i], pred[i]) and m.predicted != m.label
        assert m.confidence == pytest.approx(probs[i].max()) and m.p_label == pytest.approx(probs[i, labels[i]])
    # Unseen: only the samples not trained on.
    unseen = np.array([i not in trained_on for i in ids])
    assert r.n_unseen == unseen.sum()
    assert r.unseen_accuracy == (pytest.approx(right[unseen].mean()) if unseen.any() else None)


def test_ties_keep_the_sets_order_and_a_set_it_trained_on_entirely_has_no_unseen_figure():
    probs = np.full((3, 10), 0.05, np.float32)
    probs[:, 3] = 0.55  # all read as 3 with the same confidence
    r = review(probs, np.array([1, 2, 3]), ["a", "b", "c"], trained_on={"a", "b", "c"})
    assert [m.id for m in r.mistakes] == ["a", "b"]
    assert r.unseen_accuracy is None and r.n_unseen == 0
    assert review(probs, np.array([1, 2, 3]), ["a", "b", "c"]).unseen_accuracy == pytest.approx(1 / 3)


def test_mismatched_inputs_and_bad_labels_are_refused():
    probs, labels, ids = random_case(0, 5)
    with pytest.raises(ValueError, match="must match"):
        review(probs, labels[:4], ids)
    with pytest.raises(ValueError, match="must match"):
        review(probs, labels, ids[:4])
    with pytest.raises(ValueError, match="digits 0-9"):
        class_counts([1, 10])
    with pytest.raises(ValueError, match="digits 0-9"):
        class_counts([-1])
    assert class_counts([]).tolist() == [0] * 10
    assert rank_mistakes([], np.zeros(0, int), np.zeros((0, 10))) == ()


def test_plural_says_one_epoch_and_two_epochs():
    assert plural(1, "epoch") == "1 epoch"
    assert plural(2, "epoch") == "2 epochs"
    assert plural(0, "epoch") == "0 epochs"
    assert plural(1800, "image") == "1,800 images"
    assert plural(1, "batch", "batches") == "1 batch" and plural(3, "batch", "batches") == "3 batches"


@pytest.mark.parametrize(
    ("iso", "shown"),
    [
        ("2026-12-01T07:45:12+00:00", "2026-12-01 07:45 UTC"),  # what the store writes
        ("2026-12-01T08:45:59+01:00", "2026-12-01 07:45 UTC"),  # another zone: converted, not relabelled
        ("2026-12-01T07:45:12Z", "2026-12-01 07:45 UTC"),
        ("2026-12-01T07:45:12", "2026-12-01 07:45 UTC"),  # an old file without an offset: the store wrote UTC
        ("2026-12-31T23:30:00-01:00", "2027-01-01 00:30 UTC"),
        ("yesterday", "yesterday"),  # damaged metadata is shown as it is, not a crash
        ("", "–"),
        (None, "–"),
    ],
)
def test_when_writes_every_time_one_way_in_utc(iso, shown):
    assert when(iso) == shown


def test_percent_writes_two_decimals_and_a_dash_for_nothing():
    from digitrec_core.text import percent

    assert (percent(0.99471), percent(1.0), percent(0.0), percent(None)) == ("99.47%", "100.00%", "0.00%", "–")
