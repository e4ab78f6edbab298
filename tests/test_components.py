"""Shared UI pieces that can be checked without a page: the training-curves figure.

AppTest cannot look inside a plotly chart and the browser test sees only the live run, so the
figure's structure (which curve goes on which panel, how runs are told apart) and its axes (a loss
labelled by decades, an accuracy in percent up to 100%, whatever the data) are checked here.
"""

from __future__ import annotations

import pytest

from digitrec_app.ui.components import curves_figure

HISTORY = {"loss": [0.5, 0.2, 0.1], "accuracy": [0.8, 0.9, 0.95],
           "val_loss": [0.4, 0.3, 0.2], "val_accuracy": [0.85, 0.9, 0.93]}


def panel(trace) -> str:
    return {("x", "y"): "loss", ("x2", "y2"): "accuracy"}[(trace.xaxis, trace.yaxis)]


def test_each_run_has_training_and_validation_curves_on_both_panels():
    other = {k: [v * 0.9 for v in vs] for k, vs in HISTORY.items()}
    fig = curves_figure({"a": HISTORY, "b": other})
    by_key = {(t.name, panel(t)): t for t in fig.data}
    assert len(by_key) == len(fig.data) == 8
    for label, h in (("a", HISTORY), ("b", other)):
        for key in ("loss", "accuracy"):
            assert list(by_key[(f"{label} training", key)].y) == h[key]
            assert list(by_key[(f"{label} validation", key)].y) == h[f"val_{key}"]
            assert list(by_key[(f"{label} training", key)].x) == [1, 2, 3]  # epochs count from 1
    # One colour per run, one legend entry per curve kind, training dotted.
    assert by_key[("a training", "loss")].line.color != by_key[("b training", "loss")].line.color
    assert by_key[("a training", "loss")].line.dash == "dot" and by_key[("a validation", "loss")].line.dash is None
    legend = sorted(t.name for t in fig.data if t.showlegend)
    assert legend == ["a training", "a validation", "b training", "b validation"]


def test_live_batches_are_drawn_on_both_panels_under_the_epoch_curves():
    batches = [(0.25, 0.9, 0.6), (0.5, 0.5, 0.8), (1.0, 0.3, 0.9)]
    fig = curves_figure({"this run": {k: v[:1] for k, v in HISTORY.items()}}, batches)
    live = [t for t in fig.data if t.name == "training (per batch)"]
    assert [panel(t) for t in live] == ["loss", "accuracy"] and fig.data[:2] == tuple(live)  # drawn first, underneath
    assert list(live[0].x) == [0.25, 0.5, 1.0] and list(live[0].y) == [0.9, 0.5, 0.3]
    assert list(live[1].y) == [0.6, 0.8, 0.9]
    assert [t.showlegend for t in live] == [True, False]


def test_the_panels_are_side_by_side_titled_with_loss_on_a_log_scale():
    layout = curves_figure({"a": HISTORY}).layout
    assert layout.yaxis.type == "log" and layout.yaxis2.type != "log"
    left, right = layout.xaxis.domain, layout.xaxis2.domain
    assert left[1] < right[0]  # no overlap
    titles = {a.text: a.x for a in layout.annotations}
    assert titles.keys() == {"Loss", "Accuracy"}
    assert left[0] <= titles["Loss"] <= left[1] and right[0] <= titles["Accuracy"] <= right[1]
    assert layout.xaxis.title.text == layout.xaxis2.title.text == "epoch"


def test_an_empty_history_gives_empty_curves_not_an_error():
    fig = curves_figure({"new": {}})
    assert len(fig.data) == 4 and all(len(t.y) == 0 for t in fig.data)


def test_percentages_are_never_nan_or_a_huge_number():
    from digitrec_core.text import percent

    assert percent(0.99474) == "99.47%" and percent(0.5, 0) == "50%" and percent(None) == "–"
    for bad in (float("nan"), float("inf"), 1e33, -0.5):
        assert percent(bad) == "–" and percent(bad, 0) == "–"


def tick_labels(axis) -> list[str]:
    """The labels a linear axis with `dtick` shows over its range, as plotly writes them (`tickformat`)."""
    bottom, top = axis.range
    n = round((top - bottom) / axis.dtick)
    assert abs(bottom + n * axis.dtick - top) < 1e-9  # the range ends on ticks: both ends are labelled
    assert axis.tickformat == ".0%"
    return [f"{bottom + i * axis.dtick:.0%}" for i in range(n + 1)]


def test_the_loss_axis_is_labelled_by_the_plain_decades_that_cover_the_data():
    yaxis = curves_figure({"a": HISTORY}).layout.yaxis  # losses 0.1 to 0.5
    assert yaxis.type == "log" and yaxis.tickmode == "array"
    assert list(yaxis.range) == [-1, 0] and list(yaxis.ticktext) == ["0.1", "1"]
    # A live run reaching 0.0004 from 2.3: every decade in between, once, written out; no "5 2", no "100μ".
    yaxis = curves_figure({"a": HISTORY}, [(0.1, 2.3, 0.1), (0.9, 0.0004, 1.0)]).layout.yaxis
    assert list(yaxis.ticktext) == ["0.0001", "0.001", "0.01", "0.1", "1", "10"]
    assert list(yaxis.tickvals) == pytest.approx([1e-4, 1e-3, 1e-2, 0.1, 1, 10])
    assert list(yaxis.range) == [-4, 1]  # log10 of the first and last decade: the data lies within
    # A loss on a decade still gets two labels; None (no validation), NaN and 0 are left out of the range.
    yaxis = curves_figure({"a": {"loss": [1.0, 0.0, float("nan")], "val_loss": [None, None, None]}}).layout.yaxis
    assert list(yaxis.ticktext) == ["1", "10"] and list(yaxis.range) == [0, 1]
    big = curves_figure({"a": {"loss": [1500.0, 20.0]}}).layout.yaxis
    assert list(big.ticktext) == ["10", "100", "1,000", "10,000"]


@pytest.mark.parametrize(("accuracies", "labels"), [
    ([0.97, 0.99, 1.0], ["95%", "96%", "97%", "98%", "99%", "100%"]),  # 5 points at least, though 97% to 100% would do
    ([0.955], ["94%", "96%", "98%", "100%"]),
    ([0.93, 0.96], ["92%", "94%", "96%", "98%", "100%"]),
    ([0.9, 0.95], ["85%", "90%", "95%", "100%"]),
    ([0.75], ["70%", "80%", "90%", "100%"]),
    ([0.11, 0.98], ["0%", "20%", "40%", "60%", "80%", "100%"]),
])
def test_the_accuracy_axis_is_linear_up_to_100_percent_with_round_distinct_ticks(accuracies, labels):
    history = {"accuracy": accuracies, "loss": [0.1] * len(accuracies)}
    yaxis2 = curves_figure({"a": history}).layout.yaxis2
    assert yaxis2.type is None  # linear, plotly's default
    assert 0 <= yaxis2.range[0] <= min(accuracies) and yaxis2.range[1] == 1
    assert tick_labels(yaxis2) == labels


def test_figures_without_data_have_sensible_axes_and_a_single_point_is_a_dot():
    layout = curves_figure({"new": {}}).layout
    assert list(layout.yaxis.ticktext) == ["0.01", "0.1", "1", "10"]  # not plotly's 0.1 to 10k
    assert list(layout.yaxis2.range) == [0, 1] and tick_labels(layout.yaxis2)[-1] == "100%"  # not -1 to 4
    live = curves_figure({"this run": {}}, [(0.02, 2.2, 0.12)]).data[:2]
    assert [t.mode for t in live] == ["markers", "markers"]  # a line of one point draws nothing
    assert list(curves_figure({}, [(0.02, 2.2, 0.12)]).layout.yaxis.ticktext) == ["1", "10"]
