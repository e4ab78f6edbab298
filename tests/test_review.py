"""How a model does on a person's digits (digitrec_core.serving.review), and the words and times every page
writes (digitrec_core.text): plain functions, checked without Streamlit or TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec_core.serving.review import class_counts, rank_flagged, rank_mistakes, review
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


@pytest.mark.parametrize("seed", range(10))
def test_flagged_are_the_samples_below_the_threshold_the_least_digit_like_first(seed):
    n = int(np.random.default_rng(2000 + seed).integers(1, 60))
    probs, labels, ids = random_case(seed, n)
    top = probs.max(axis=1)
    threshold = float(np.quantile(top, 0.3))
    r = review(probs, labels, ids, threshold=threshold)

    below = np.flatnonzero(top < threshold)
    assert {f.id for f in r.flagged} == {ids[i] for i in below} and r.threshold == threshold
    assert [f.score for f in r.flagged] == sorted(top[below].tolist())
    for f in r.flagged:
        i = ids.index(f.id)
        assert (f.label, f.likely) == (labels[i], probs[i].argmax()) and f.score == pytest.approx(top[i])
    # The accuracy and the mistakes stay the top probability's, flagged or not: the figures stay comparable.
    plain = review(probs, labels, ids)
    assert r.evaluation.accuracy == plain.evaluation.accuracy and r.mistakes == plain.mistakes
    assert plain.flagged == () and plain.threshold is None  # a model without a threshold flags nothing


def test_flagged_ties_keep_the_sets_order_and_a_score_at_the_threshold_is_a_digit():
    probs = np.full((4, 10), 0.05, np.float32)
    probs[:, 3] = 0.55
    probs[2] = 0.1  # 10% each: the least digit-like
    ids, labels = ["a", "b", "c", "d"], [3, 1, 4, 3]
    assert [f.id for f in rank_flagged(ids, labels, probs, 0.6)] == ["c", "a", "b", "d"]
    (c,) = rank_flagged(ids, labels, probs, float(np.float32(0.55)))  # exactly at the threshold: a digit
    assert (c.id, c.label, c.likely) == ("c", 4, 0) and c.score == pytest.approx(0.1)
    assert rank_flagged([], [], np.zeros((0, 10)), 0.9) == ()


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
