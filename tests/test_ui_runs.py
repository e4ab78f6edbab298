"""The pure parts of the run views (ui/run_views.py), the confusion and per-digit figures (ui/figures.py) and the
gallery's captions (ui/gallery.py): what the Train and My digits pages show, checked without a page."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from digitrec_app.ui.figures import MISTAKES_SCALE, confusion_figure, recall_figure
from digitrec_app.ui.gallery import tile_caption
from digitrec_app.ui.run_views import (
    WAITING,
    batches_run,
    comparison_table,
    curve_points,
    duration,
    has_points,
    progress_text,
    runs_table,
    side_by_side,
    time_left,
)
from digitrec_core.personal import Sample
from digitrec_core.store import ModelInfo
from digitrec_core.store.promotion import Comparison


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


def timed(epoch, b, elapsed, kind="batch", batches=100, epochs=2):
    return SimpleNamespace(kind=kind, epoch=epoch, epochs=epochs, batch=b, batches=batches, elapsed=elapsed,
                           images_per_sec=1234.4)


def test_progress_text_has_no_eta_until_a_batch_after_the_first():
    # The first batch came 10 s in (TensorFlow tracing the step): that is no measure of what is left.
    assert progress_text([timed(1, 1, 10.0)]) == "Epoch 1/2 · batch 1/100 · 0:10 elapsed · 1,234 images/s"
    assert time_left([]) is None and time_left([epoch_end(1)]) is None


def test_progress_text_times_what_is_left_from_the_first_batch_on():
    # 0.1 s a batch after the first: the 190 batches left take 19 s (counting the first batch's 10 s in said 3:27).
    events = [timed(1, 1, 10.0), timed(1, 2, 10.1), timed(1, 10, 10.9)]
    assert progress_text(events) == "Epoch 1/2 · batch 10/100 · 0:10 elapsed · ETA 0:19 · 1,234 images/s"
    assert time_left(events) == pytest.approx(19.0)
    # Into the second epoch, the first epoch's validation (2 s at its end) is part of the pace: 0.117 s a batch.
    events += [timed(1, 100, 19.9), timed(1, 100, 21.9, kind="epoch"), timed(2, 20, 23.9)]
    assert time_left(events) == pytest.approx((23.9 - 10.0) / 119 * 80)
    assert progress_text(events).endswith("· ETA 0:09 · 1,234 images/s")
    # The last event an epoch's end: its batch is the epoch's last.
    assert time_left([*events, timed(2, 100, 33.0), timed(2, 100, 34.0, kind="epoch")]) == pytest.approx(0.0)


def test_progress_text_says_what_follows_an_epochs_batches_instead_of_an_eta_of_nothing():
    events = [timed(1, 1, 10.0), timed(1, 100, 19.9)]
    assert progress_text(events) == "Epoch 1/2 · batch 100/100 · 0:19 elapsed · validating · 1,234 images/s"
    events.append(timed(1, 100, 21.9, kind="epoch"))  # another epoch to go: its ETA again
    assert progress_text(events) == "Epoch 1/2 · batch 100/100 · 0:21 elapsed · ETA 0:12 · 1,234 images/s"
    events += [timed(2, 100, 31.0), timed(2, 100, 32.0, kind="epoch")]
    assert progress_text(events) == "Epoch 2/2 · batch 100/100 · 0:32 elapsed · testing and saving · 1,234 images/s"


def test_duration():
    assert duration(0) == "0:00" and duration(59.9) == "0:59" and duration(3600) == "60:00" and duration(-1) == "0:00"


def test_side_by_side_puts_the_reference_left_the_new_right_and_the_change_in_points():
    table = side_by_side(["held-out personal accuracy", "MNIST test accuracy"], ("before: a", [0.5, 0.9949]),
                         ("after: b", [0.75, None]))
    assert list(table.columns) == ["", "before: a", "after: b", "change"]
    assert table.iloc[0].tolist() == ["held-out personal accuracy", "50.00%", "75.00%", "+25.00 points"]
    assert table.iloc[1].tolist() == ["MNIST test accuracy", "99.49%", "–", "–"]
    with pytest.raises(ValueError):
        side_by_side(["one"], ("a", [0.1, 0.2]), ("b", [0.3]))


def test_comparison_table_shows_the_active_model_then_the_new_one_by_their_labels():
    saved = SimpleNamespace(info=info("seed-20261201-090000-bbbb", test_accuracy=0.2667),
                            previous=info("seed-20261201-080000-aaaa", test_accuracy=0.9949),
                            comparison=(Comparison("MNIST test accuracy", 0.2667, 0.9949),))
    table = comparison_table(saved)
    assert table.iloc[0].tolist() == ["MNIST test accuracy", "99.49%", "26.67%", "-72.82 points"]
    assert list(table.columns)[1:3] == ["active: seed · 99.49% · 1 Dec 07:45", "new: seed · 26.67% · 1 Dec 07:45"]
    saved.info = info("seed-20261201-090000-bbbb", test_accuracy=0.9949)  # alike: told apart as everywhere
    assert list(comparison_table(saved).columns)[1:3] == ["active: seed · 99.49% · 1 Dec 07:45 · aaaa",
                                                          "new: seed · 99.49% · 1 Dec 07:45 · bbbb"]


def info(name, **kw):
    base = {"name": name, "kind": "train", "parent": None, "arch": "seed", "test_accuracy": 0.9, "test_loss": 0.3,
            "epochs_run": 1, "n_train": 450, "train_seconds": 3.4, "hyperparameters": {"augment": False},
            "created_at": "2026-12-01T07:45:12+00:00", "params": 1000, "data_source": "synthetic", "n_val": 50}
    return ModelInfo(**{**base, **kw})


def test_runs_table_shows_kind_parent_and_one_time_format():
    table = runs_table([info("finetune-x", kind="finetune", parent="seed-y", created_at="2026-12-02T09:00:00+02:00"),
                        info("seed-y")])
    assert list(table.columns) == ["label", "name", "kind", "parent", "arch", "test accuracy", "test loss", "epochs",
                                   "images", "seconds", "augment", "created"]
    assert table["label"][0].startswith("fine-tune of seed · 90.00% · 2 Dec") and table["label"][0].endswith(" 07:00")
    twins = runs_table([info("seed-20261201-074512-aaaa"), info("seed-20261201-074512-bbbb")])
    assert [label.rsplit(" · ", 1)[1] for label in twins["label"]] == ["aaaa", "bbbb"]  # alike: told apart
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


def lightness(colour: str) -> int:
    return sum(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def test_confusion_figure_without_mistakes_stays_white_on_a_scale_from_0_to_at_least_1():
    fig = confusion_figure(np.diag([3, 4, 5, 4, 3, 5, 4, 3, 4, 5]))  # every digit read right
    (heat,) = fig.data
    assert (np.array(heat.z) == 0).all() and heat.zmin == 0 and heat.zmax >= 1  # not a flat scale around 0
    assert [list(stop) for stop in heat.colorscale] == MISTAKES_SCALE
    scale = [colour for _, colour in MISTAKES_SCALE]
    assert scale[0] == "#ffffff" and lightness(scale[0]) == max(map(lightness, scale))  # 0: the lightest, white
    assert [lightness(c) for c in scale] == sorted(map(lightness, scale), reverse=True)  # darker the more mistakes
    # With mistakes, the darkest colour is the most frequent one's.
    confusion = np.diag([5] * 10)
    confusion[3, 5], confusion[7, 1] = 4, 1
    assert confusion_figure(confusion).data[0].zmax == 4


def test_confusion_figure_has_a_title_that_fits_and_axes_that_say_how_it_reads():
    layout = confusion_figure(np.eye(10, dtype=int)).layout
    assert layout.title.text == "Confusion matrix"  # was cut at "…columns: predi" in My digits' column
    assert layout.xaxis.title.text == "predicted digit" and layout.yaxis.title.text == "true digit"
    assert layout.yaxis.autorange == "reversed"  # 0 at the top, as a table reads


def test_has_points_is_true_once_there_is_a_number_to_draw():
    assert not has_points({"this run": {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}}, [])
    assert not has_points({"old": {}, "imported": {"val_loss": [None], "images_per_sec": [1234.0]}})
    assert not has_points({"broken": {"loss": [float("nan")]}})
    assert has_points({"this run": {}}, [(0.01, 2.3, 0.1)])  # the first batch
    assert has_points({"old": {}, "run": {"val_accuracy": [None, 0.9]}})


def _live_view_script(job):
    from digitrec_app.ui.run_views import live_view

    live_view(job, me="me")


def _live_view(events, *, running: bool = True):
    """`run_views.live_view` of a run with these events, in a Streamlit script run."""
    from streamlit.testing.v1 import AppTest

    from digitrec_core.jobs import TrainingJob

    job = TrainingJob(config={}, owner="me", events=list(events), finished_at=None if running else 1.0)
    at = AppTest.from_function(_live_view_script, args=(job,), default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_a_run_without_a_batch_yet_says_it_is_waiting_instead_of_drawing_empty_axes(store_home):
    at = _live_view([])
    assert [c.value for c in at.caption] == [WAITING] and not at.get("plotly_chart")
    assert WAITING.startswith("Waiting for the first batch")
    assert [h.value for h in at.subheader] == ["Training…"] and at.progress  # the rest of the live view is there

    first = [batch(1, 1, fraction=0.25)]  # the curves appear with the first batch
    at = _live_view(first)
    assert not at.caption and len(at.get("plotly_chart")) == 1

    at = _live_view([], running=False)  # stopped before its first batch: the outcome says so, no box
    assert not at.caption and not at.get("plotly_chart")


def _curves_chart_script(histories):
    from digitrec_app.ui.run_views import curves_chart

    curves_chart(histories, key="compare_curves", empty="No curves were recorded for these runs.")


def test_past_runs_without_curves_get_a_sentence_not_a_chart(store_home):
    from streamlit.testing.v1 import AppTest

    for histories, chart in (({"imported": {}}, False), ({"a": {"loss": [0.3], "accuracy": [0.9]}}, True)):
        at = AppTest.from_function(_curves_chart_script, args=(histories,), default_timeout=60).run()
        assert not at.exception, [e.message for e in at.exception]
        assert bool(at.get("plotly_chart")) == chart
        assert [c.value for c in at.caption] == ([] if chart else ["No curves were recorded for these runs."])


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
