"""Shared UI pieces that can be checked without a page: the training-curves figure.

AppTest cannot look inside a plotly chart and the browser test sees only the live run, so the
figure's structure (which curve goes on which panel, how runs are told apart) is checked here.
"""

from __future__ import annotations

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
