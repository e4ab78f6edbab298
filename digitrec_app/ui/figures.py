"""Plotly figures built from plain numbers (no Streamlit), so plain pytest can check what they show."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

DIGITS = [str(d) for d in range(10)]


# White for 0, then plotly's "Reds": a cell without a mistake stays as blank as the page around it.
MISTAKES_SCALE = [[0.0, "#ffffff"], [0.25, "#fcbba1"], [0.5, "#fb6a4a"], [0.75, "#cb181d"], [1.0, "#67000d"]]


def confusion_figure(confusion: np.ndarray, *, title: str = "Confusion matrix", height: int = 420) -> go.Figure:
    """A 10x10 confusion matrix with the counts written in; only the mistakes are coloured (the
    diagonal would drown them), and an empty cell shows no number. The diagonal is coloured as
    zero, not left out: plotly draws NaN cells of a heatmap as gaps shifted half a row.

    The scale runs from 0 to the most frequent mistake, and at least to 1: without a mistake plotly
    stretched a flat scale around 0 and painted every cell its middle colour. The axis titles say which
    way it reads, so the title stays short enough for a narrow column."""
    counts = np.asarray(confusion, dtype=np.int64)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    text = np.where(counts > 0, counts.astype(str), "")
    fig = go.Figure(
        go.Heatmap(
            z=off.tolist(), x=DIGITS, y=DIGITS, colorscale=MISTAKES_SCALE, zmin=0, zmax=max(1, int(off.max())),
            text=text.tolist(), texttemplate="%{text}", customdata=counts.tolist(),
            hovertemplate="true %{y}, predicted %{x}: %{customdata}<extra></extra>", showscale=False,
        )
    )
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title=title,
        xaxis={"title": "predicted digit", "type": "category"},
        yaxis={"title": "true digit", "type": "category", "autorange": "reversed"},
    )
    return fig


def recall_figure(recall: np.ndarray, *, title: str = "Accuracy per digit", height: int = 420) -> go.Figure:
    """The fraction of each digit read right, one bar a digit with its percentage written on it.

    The axis starts 2 points below the worst digit, not at 0: at 97-100% every bar would look the same."""
    r = np.asarray(recall, dtype=float)
    fig = go.Figure(
        go.Bar(x=DIGITS, y=r.tolist(), text=[f"{v:.1%}" for v in r], textposition="outside", marker_color="#1c83e1",
               hovertemplate="digit %{x}: %{y:.2%} read right<extra></extra>")
    )
    low = max(0.0, float(r.min()) - 0.02) if len(r) else 0.0
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title=title,
        yaxis={"range": [low, 1.005], "tickformat": ".1%"}, xaxis={"type": "category"},
    )
    return fig
