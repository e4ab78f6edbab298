"""What the Test browser ranks and shows of a model's mistakes (digitrec_core/serving/evaluation.py), checked on
hand-made probabilities: no model, no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec_core.serving.evaluation import Evaluation, MistakeKind, metrics


def one_hot(classes) -> np.ndarray:
    p = np.full((len(classes), 10), 0.01, np.float32)
    p[np.arange(len(classes)), classes] = 0.91
    return p


# true -> predicted for 12 digits: three 4s read as 9, two 7s read as 1, two 1s read as 7, one 9 read as 4.
LABELS = np.array([4, 7, 4, 1, 9, 4, 7, 1, 3, 4, 1, 0])
PREDICTED = np.array([9, 1, 9, 7, 4, 9, 1, 7, 3, 4, 1, 0])


def test_the_kinds_of_mistakes_come_most_frequent_first_ties_by_true_then_predicted_class():
    report = metrics(one_hot(PREDICTED), LABELS)
    assert report.mistake_kinds() == [MistakeKind(4, 9, 3), MistakeKind(1, 7, 2), MistakeKind(7, 1, 2),
                                      MistakeKind(9, 4, 1)]
    assert sum(k.count for k in report.mistake_kinds()) == len(report.misclassified) == 8
    assert metrics(one_hot(LABELS), LABELS).mistake_kinds() == []  # no mistakes, no kinds


def test_the_digits_of_one_kind_of_mistake_are_those_indices_in_order():
    report = metrics(one_hot(PREDICTED), LABELS)
    assert report.mistakes(4, 9).tolist() == [0, 2, 5]
    assert report.mistakes(7, 1).tolist() == [1, 6] and report.mistakes(1, 7).tolist() == [3, 7]
    assert report.mistakes(4, 4).tolist() == []  # read right: not a mistake
    assert report.mistakes(3, 5).tolist() == []  # never happened
    for kind in report.mistake_kinds():  # each kind's count is its digits
        assert len(report.mistakes(kind.true, kind.predicted)) == kind.count


def test_an_evaluation_made_without_labels_says_so_when_asked_for_its_mistakes():
    empty = np.array([], np.int64)
    bare = Evaluation(1.0, 0.0, np.zeros((10, 10), np.int64), np.zeros(10), np.zeros(10), empty, empty, empty)
    assert bare.mistake_kinds() == []
    with pytest.raises(ValueError, match="labels"):
        bare.mistakes(4, 9)
