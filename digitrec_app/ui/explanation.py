"""The "Why this answer?" panel: where the evidence is, what each layer sees, what the first layer looks for.

Lazy: the expander reruns the page when opened or closed, and nothing is computed while it is closed, so a
user who only wants the answer pays nothing. The pictures come from `explanation_images`.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from digitrec_app.ui import explanation_images as images
from digitrec_core import explain
from digitrec_core.serving.explanations import PATCH, Explanation
from digitrec_core.text import a_digit

HEATMAP = 224  # px: 8x the 28x28 input
TOP_CHANNELS = 12  # feature maps shown per convolutional block
TOP_UNITS = 10  # units shown per dense layer
METHOD = (f"Occlusion: each {PATCH}x{PATCH} patch is blanked in turn; red where blanking lowers the answer's "
          "probability, blue where it raises it. How faithful it is: docs/user-guide.md, *Why this answer?*.")
READING = ("How to read them: the digit in grey, the evidence over it on one scale for both signs; the deepest red "
           "or blue is the strongest pixel of the map, white is none.")
OLD_ONNX = ("What each layer sees is missing: this model's ONNX file was written by an older DigitRec. Deleting its "
            "`model.onnx` makes the next load write it again (this needs TensorFlow).")


def explanation_panel(model, image: np.ndarray, *, key: str) -> None:
    """A collapsible explanation of `model`'s answer for `image`, a (28, 28) float digit in [0, 1] (what the
    prediction was made from). `key` keeps the widgets of two panels on one page apart."""
    box = st.expander("Why this answer?", icon=":material/psychology:", key=f"{key}_why", on_change="rerun")
    if not box.open:
        return
    with box:
        e = explain(model, image)
        _evidence(e, image, key)
        _layers(e, key)
        _filters(e)


def _evidence(e: Explanation, image: np.ndarray, key: str) -> None:
    pred = e.predicted
    st.markdown("**Where the evidence is**")
    left, right, guide = st.columns([1, 1, 1.2])
    # Keys carry the answer: a new answer starts the pickers again from their defaults.
    with left:
        c = st.selectbox("Evidence for", range(10), index=pred, key=f"{key}_why_class_{pred}",
                         format_func=lambda d: f"{d} (the answer)" if d == pred else str(d))
        _picture(images.heatmap(e.for_class(c), image, HEATMAP), f"evidence for {c}",
                 caption=f"Red: pixels that make it {a_digit(c)}; blue: pixels that speak against {a_digit(c)}.")
    with right:
        others = [d for d in range(10) if d != pred]
        b = st.selectbox(f"Why {pred} and not", others, index=others.index(e.runner_up),
                         key=f"{key}_why_not_{pred}")
        _picture(images.heatmap(e.contrast(pred, b), image, HEATMAP), f"why {pred} and not {b}",
                 caption=f"Red: pixels that make it {a_digit(pred)} rather than {a_digit(b)}; "
                         f"blue: {a_digit(b)} rather than {a_digit(pred)}.")
    with guide:
        st.caption(READING)
        st.caption(METHOD)


def _layers(e: Explanation, key: str) -> None:
    st.markdown("**What each layer sees**")
    if not e.activations:
        st.info(OLD_ONNX, icon=":material/history:")
        return
    for name, a in e.activations.items():
        if a.ndim == 3:
            h, w, ch = a.shape
            mosaic, _ = images.feature_maps(a, TOP_CHANNELS, columns=TOP_CHANNELS)
            shown = min(TOP_CHANNELS, ch)
            st.caption(f"`{name}` · {h}×{w}×{ch} · the {shown} strongest of {ch} channels (dark = silent, "
                       "yellow = strong; each map on its own scale)")
            _picture(mosaic, f"{name} feature maps", width="stretch")
        else:
            units, values = images.top_units(a, TOP_UNITS)
            st.caption(f"`{name}` · {a.size} units · the {len(units)} most active")
            st.plotly_chart(_units_figure(units, values), key=f"{key}_why_{name}", config={"displayModeBar": False})


def _units_figure(units: np.ndarray, values: np.ndarray) -> go.Figure:
    # Plain dicts, validated once by Figure: the cheap way to build a plotly figure (see probability_chart).
    return go.Figure(
        data=[dict(type="bar", x=[f"#{u}" for u in units], y=values, marker=dict(color="#21918c"),
                   hovertemplate="unit %{x}: %{y:.2f}<extra></extra>")],
        layout=dict(height=180, margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(type="category", title="unit"),
                    yaxis=dict(title="activation"), showlegend=False),
    )


def _filters(e: Explanation) -> None:
    if e.filters is None:
        return
    kh, kw, n = e.filters.shape
    st.markdown("**What the first layer looks for**")
    st.caption(f"`{e.filters_layer}` · {n} filters of {kh}×{kw}: red weights respond to ink, blue to its absence")
    _picture(images.filters_mosaic(e.filters), f"{e.filters_layer} filters")


def _picture(rgb: np.ndarray, alt: str, **kwargs) -> None:
    # PNG: "auto" sends an array as JPEG, which blurs the crisp pixels and the colours.
    st.image(rgb, alt=alt, output_format="PNG", **kwargs)
