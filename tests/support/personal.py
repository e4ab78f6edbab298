"""Personal digit sets filled for a test: random strokes, or the 0s, 1s and 7s the shipped model reads."""

from digitrec_core import ModelStore
from digitrec_core.personal import PersonalDigits
from tests.support.drawings import canvas, drawn


def fill(pd: PersonalDigits, n: int) -> list[str]:
    """`n` random strokes into `pd`, labelled 0-9 in turn, each with a made-up prediction; their ids."""
    return [pd.add(canvas(i), i % 10, predicted=(i + 3) % 10, probability=0.25 + i / 100, model="m1") for i in range(n)]


def add_digits(per_class: int = 4, labels=(0, 1, 7), wrong: int = 0):
    """`per_class` drawings of each label into the store's personal set, plus `wrong` 1s labelled 7 (which
    the shipped model reads as 1). Returns {id: label}."""
    personal = PersonalDigits(ModelStore().root)
    ids = {}
    for k in range(per_class):
        for label in labels:
            ids[personal.add(drawn(label, k), label, predicted=label, probability=0.9, model="test")] = label
    for k in range(wrong):
        ids[personal.add(drawn(1, k), 7, predicted=1, probability=0.8, model="test")] = 7
    return ids
