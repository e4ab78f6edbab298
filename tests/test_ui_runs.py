"""The pure parts of the run views (ui/runs.py), the confusion and per-digit figures (ui/figures.py) and the gallery's
captions (ui/gallery.py): what the Train and My digits pages show, checked without a page."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from digitrec_app.ui.figures import confusion_figure, recall_figure
from digitrec_app.ui.gallery import tile_caption
from digitrec_app.ui.runs import (
    batches_run,
    comparison_table,
    curve_points,
    duration,
    progress_text,
    runs_table,
    side_by_side,
)
from digitrec_core.activation import Comparison
from digitrec_core.personal import Sample


def batch(epoch, b, batches=4, epochs=2, loss=1.0, accuracy=0.5, **smooth):
    return SimpleNamespace(kind="batch", epoch=epoch, epochs=epochs, batch=b, batches=batches, loss=loss,
                           accuracy=accuracy, elapsed=10.0, images_per_sec=1234.4, **smooth)


def epoch_end(epoch, **values):
    return SimpleNamespace(kind="epoch", epoch=epoch, **values)


def test_curve_points_plot_the_smoothed_values_when_the_events_have_them():
    events = [batch(1, b, loss=2.0 - b / 10, accuracy=b / 10, smooth_loss=9.0 + b, smooth_accuracy=0.01 * b)
              for b in range(1, 5)]
    assert curve_points(events) == [(0.25, 10.0, 0.01), (0.5, 11.0, 0.02), (0.75, 12.0, 0.03), (1.0, 13.0, 0.04)]
    # Events without them (or with None while the smoothing warms up) fall back to the running means.
    plain = [batch(1, 1, loss=0.7, accuracy=0.6), batch(1, 2, loss=0.5, accuracy=0.8, smooth_loss=None,
                                                        smooth_accuracy=None)]
    assert curve_points(plain) == [(0.25, 0.7, 0.6), (0.5, 0.5, 0.8)]


def test_curve_points_thin_long_runs_and_always_keep_the_latest():
    events = [batch(e, b, batches=100, epochs=5) for e in range(1, 6) for b in range(1, 101)]
    events.insert(50, epoch_end(1, loss=1, accuracy=1, val_loss=None, val_accuracy=None))  # not a point
    points = curve_points(events, most=120)
    assert 120 <= len(points) <= 240 and points[-1][0] == 5.0
    xs = [p[0] for p in points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert curve_points([]) == []
    assert batches_run(events) == 500


def test_progress_text():
    last = SimpleNamespace(epoch=1, epochs=2, batch=2, batches=4, elapsed=75.0, fraction=0.25, images_per_sec=1234.4)
    assert progress_text(last) == "Epoch 1/2 · batch 2/4 · 1:15 elapsed · ETA 3:45 · 1,234 images/s"
    assert duration(0) == "0:00" and duration(59.9) == "0:59" and duration(3600) == "60:00" and duration(-1) == "0:00"


def test_side_by_side_puts_the_reference_left_the_new_right_and_the_change_in_points():
    table = side_by_side(["held-out personal accuracy", "MNIST test accuracy"], ("before: a", [0.5, 0.9949]),
                         ("after: b", [0.75, None]))
    assert list(table.columns) == ["", "before: a", "after: b", "change"]
    assert table.iloc[0].tolist() == ["held-out personal accuracy", "50.00%", "75.00%", "+25.00 points"]
    assert table.iloc[1].tolist() == ["MNIST test accuracy", "99.49%", "–", "–"]
    with pytest.raises(ValueError):
        side_by_side(["one"], ("a", [0.1, 0.2]), ("b", [0.3]))


def test_comparison_table_shows_the_active_model_then_the_new_one():
    saved = SimpleNamespace(info=SimpleNamespace(name="new-1"), previous=SimpleNamespace(name="old-1"),
                            comparison=(Comparison("MNIST test accuracy", 0.2667, 0.9949),))
    table = comparison_table(saved)
    assert table.iloc[0].tolist() == ["MNIST test accuracy", "99.49%", "26.67%", "-72.82 points"]
    assert list(table.columns)[1:3] == ["active: old-1", "new: new-1"]


def info(name, **kw):
    base = {"name": name, "kind": "train", "parent": None, "arch": "seed", "test_accuracy": 0.9, "test_loss": 0.3,
            "epochs_run": 1, "n_train": 450, "train_seconds": 3.4, "hyperparameters": {"augment": False},
            "created_at": "2026-12-01T07:45:12+00:00"}
    return SimpleNamespace(**{**base, **kw})


def test_runs_table_shows_kind_parent_and_one_time_format():
    table = runs_table([info("finetune-x", kind="finetune", parent="seed-y", created_at="2026-12-02T09:00:00+02:00"),
                        info("seed-y")])
    assert list(table.columns) == ["name", "kind", "parent", "arch", "test accuracy", "test loss", "epochs", "images",
                                   "seconds", "augment", "created"]
    assert table["kind"].tolist() == ["fine-tune", "train"] and table["parent"].tolist() == ["seed-y", ""]
    assert table["created"].tolist() == ["2026-12-02 07:00 UTC", "2026-12-01 07:45 UTC"]
    assert table["seconds"].tolist() == [3, 3]
    assert runs_table([]).empty


def test_confusion_figure_colours_only_the_mistakes_and_writes_the_counts():
    confusion = np.zeros((10, 10), int)
    confusion[1, 1], confusion[1, 4], confusion[9, 8] = 5, 2, 1
    (heat,) = confusion_figure(confusion).data
    assert [list(r) for r in heat.customdata] == confusion.tolist()
    z = np.array(heat.z)
    assert (np.diag(z) == 0).all() and z[1, 4] == 2 and z[9, 8] == 1 and z.sum() == 3  # the mistakes alone
    text = [list(r) for r in heat.text]
    assert text[1][1] == "5" and text[1][4] == "2" and text[0][0] == "" and text[3][2] == ""  # no "0" clutter
    assert list(heat.x) == list(heat.y) == [str(d) for d in range(10)]


def test_recall_figure_has_one_bar_a_digit_labelled_and_starts_just_below_the_worst():
    recall = np.array([0.99, 0.995, 0.98, 0.97, 0.985, 0.96, 0.99, 0.975, 0.965, 0.955])
    fig = recall_figure(recall)
    (bars,) = fig.data
    assert list(bars.x) == [str(d) for d in range(10)] and list(bars.y) == recall.tolist()
    assert bars.text[0] == "99.0%" and bars.text[9] == "95.5%"
    low, high = fig.layout.yaxis.range
    assert low == pytest.approx(0.935) and high > 1  # 2 points under the worst digit; the labels fit above 100%
    assert fig.layout.title.text == "Accuracy per digit" and fig.layout.xaxis.type == "category"
    assert recall_figure(np.array([0.01] + [1.0] * 9)).layout.yaxis.range[0] == 0  # never below 0


def test_tile_caption_says_what_the_model_read_when_the_digit_was_kept():
    def sample(label, predicted, probability, model="m"):
        return Sample(id="x", label=label, predicted=predicted, probability=probability, model=model,
                      created_at="2026-12-01T07:45:12+00:00")

    assert tile_caption(sample(7, 7, 0.93)) == "read right (93%)"
    assert tile_caption(sample(7, 1, 0.6)) == "read as 1 (60%)"
    assert tile_caption(sample(7, 1, None)) == "read as 1"
    assert tile_caption(sample(7, None, None, model=None)) == "imported"
    assert tile_caption(sample(7, None, None)) == "stored"
