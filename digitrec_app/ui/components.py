"""UI pieces used by more than one page: model card, digit image, probability chart, curves."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from digitrec_app.ui.reading import Reading
from digitrec_core import ModelInfo
from digitrec_core.serving.recognition import NOT_A_DIGIT
from digitrec_core.text import a_digit, percent, plural, when

ACCENT, MUTED = "#ff4b4b", "#9aa5b1"
UNSURE = 0.6  # below this top probability the prediction panel names the runner-up
NOT_A_DIGIT_TEXT = "Not a digit"  # said in place of the digit for a drawing the model flags
_DIGITS = [str(d) for d in range(10)]


def model_card(info: ModelInfo) -> None:
    """Everything a user needs to trust (or not) the model answering them."""
    with st.container(border=True):
        # The label to tell it by; under it the name that the CLI and the runs table use.
        st.markdown(f"**{info.label}**  \n`{info.name}`" + (" · shipped with DigitRec" if info.shipped else ""))
        c = st.columns(4)
        c[0].metric("Test accuracy", f"{info.test_accuracy:.2%}" if info.test_accuracy is not None else "–")
        c[1].metric("Test loss", f"{info.test_loss:.4f}" if info.test_loss is not None else "–")
        c[2].metric("Architecture", info.arch)
        c[3].metric("Parameters", f"{info.params:,}")
        hp = info.hyperparameters
        verb = "Fine-tuned" if info.kind == "finetune" else "Trained"
        st.caption(
            f"{verb} {plural(info.epochs_run, 'epoch')} on {plural(info.n_train, 'image')} "
            f"({info.n_val:,} held out for validation) in {info.train_seconds:.0f} s on {when(info.created_at)} · "
            f"batch {hp.get('batch_size')}, learning rate {hp.get('learning_rate')}, "
            f"augmentation {'on' if hp.get('augment') else 'off'} · data: {info.data_source}"
            + (f" · \"Not a digit\" below a top probability of {percent(info.digit_threshold, 0)}"
               if info.digit_threshold is not None else "")
        )
        if info.kind == "finetune":  # where it comes from, and what it did on digits it never trained on
            p = info.personal
            line = f"Fine-tuned from `{info.parent}` on {p.get('n_train', 0):,} of your digits"
            if p.get("before") is not None and p.get("after") is not None:
                line += (f"; on the {plural(p.get('n_holdout', 0), 'held-out digit')} it never trained on: "
                         f"{p['before']:.2%} before, {p['after']:.2%} after")
            st.caption(line + ".")


def digit_picture(digit: np.ndarray) -> Image.Image:
    """A 28x28 digit (floats from 0 to 1, or bytes) as an 8-bit greyscale picture."""
    a = np.asarray(digit)
    return Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8) if a.dtype != np.uint8 else a)


def digit_image(digit: np.ndarray, caption: str | None = None, size: int = 224) -> None:
    """A 28x28 digit, upscaled with nearest-neighbour so its pixels stay crisp."""
    # PNG: "auto" sends it as JPEG, which smears the crisp pixels.
    st.image(digit_picture(digit).resize((size, size), Image.NEAREST), caption=caption, output_format="PNG")


def probability_chart(probs: np.ndarray, key: str | None = None, height: int = 260) -> None:
    """The ten class probabilities, the top class highlighted."""
    top = int(np.argmax(probs))
    # Data and layout as plain dicts, validated once by Figure: 4x cheaper than go.Bar + update_layout,
    # and the Draw page builds this at every stroke.
    fig = go.Figure(
        data=[dict(type="bar", x=_DIGITS, y=probs,
                   marker=dict(color=[ACCENT if d == top else MUTED for d in range(10)]),
                   text=[percent(p, 0) if p >= 0.01 else "" for p in probs], textposition="outside",
                   hovertemplate="digit %{x}: %{y:.2%}<extra></extra>")],
        layout=dict(height=height, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 1.1], tickformat=".0%"),
                    xaxis=dict(type="category"), showlegend=False),
    )
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def looks_most_like(probs: np.ndarray) -> str:
    """`Looks most like a 0 (41%)`: the small print under "Not a digit"."""
    top = int(np.argmax(probs))
    return f"Looks most like {a_digit(top)} ({percent(float(probs[top]), 0)})"


def verdict(expected: int | None, predicted: int, probs: np.ndarray | None = None) -> None:
    """`Expected: D` and `Predicted: D`, green when they agree and red when they don't.

    A `predicted` of NOT_A_DIGIT (`Recognition.digits`) reads `Not a digit`, red against any expected
    digit, with what it looks most like in small print when `probs` (its ten probabilities) are given.
    """
    shown = NOT_A_DIGIT_TEXT if predicted == NOT_A_DIGIT else f"Predicted: {predicted}"
    if expected is None:
        st.markdown(f"### {shown}")
    else:
        colour = "green" if expected == predicted else "red"
        st.markdown(f"### Expected: {expected}")
        st.markdown(f"### :{colour}[{shown}]")
    if predicted == NOT_A_DIGIT and probs is not None:
        st.caption(looks_most_like(probs))


# The two panels of `curves_figure`, written out: plotly's make_subplots builds the same layout but
# costs 10x more, and the live view rebuilds this figure every 2 s while training runs.
# The y axes are computed from the data (`_loss_axis`, `_accuracy_axis`).
CURVES_HEIGHT = 360  # px; a placeholder that holds the curves' place (`runs.curves_chart`) has it too
_PANELS = dict(
    xaxis=dict(anchor="y", domain=[0.0, 0.46], title=dict(text="epoch")),
    xaxis2=dict(anchor="y2", domain=[0.54, 1.0], title=dict(text="epoch")),
    annotations=[
        dict(text=title, x=x, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
             showarrow=False, font=dict(size=16))
        for title, x in (("Loss", 0.23), ("Accuracy", 0.77))
    ],
    height=CURVES_HEIGHT,
    margin=dict(l=10, r=10, t=40, b=10),
    legend=dict(orientation="h", y=-0.25),
)


def finite_numbers(values: list) -> list[float]:
    """The numbers of a curve that can be drawn: no None (an epoch without validation), NaN or infinity."""
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _loss_axis(values: list) -> dict:
    """A log axis over the whole decades that hold `values`, one label a decade written plainly (0.001, 0.1, 10):
    plotly's own labels read "5 2 0.01 5 2" and "100" with a micro sign. No data: 0.01 to 10, where a loss starts."""
    positive = [v for v in finite_numbers(values) if v > 0]
    low, high = (math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))) if positive else (-2, 1)
    decades = range(low, max(high, low + 1) + 1)
    return dict(type="log", range=[decades[0], decades[-1]], tickmode="array", tickvals=[10.0**k for k in decades],
                ticktext=[f"{10**k:,}" if k >= 0 else f"{10.0**k:.{-k}f}" for k in decades])


def _accuracy_axis(values: list) -> dict:
    """A linear axis up to 100%, from a tick under the lowest value (0 without data) and at most 95%, ticked
    every 1, 2, 5, 10 or 20%: 4 to 7 ticks, none repeated by the rounding to whole percents."""
    low = min(max(0.0, min(finite_numbers(values), default=0.0) - 0.01), 0.95)
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2) if 1 - low <= 5 * s + 1e-9)
    bottom = round(math.floor(low / step + 1e-9) * step, 2)
    return dict(range=[bottom, 1.0], tick0=0, dtick=step, tickformat=".0%")


def curves_figure(runs: dict[str, dict[str, list]], live_batches: list | None = None) -> go.Figure:
    """Loss and accuracy side by side: per-epoch curves of each run, plus a live run's batches.

    `runs` maps a label to a history (`loss`, `accuracy`, `val_loss`, `val_accuracy` per epoch);
    `live_batches` are (epoch as a fraction, loss, accuracy) points of the run in progress.
    The axes span the data: loss on a log scale labelled by decades, accuracy in percent up to 100%.
    """
    palette = ["#ff4b4b", "#1c83e1", "#21c354", "#ffa421", "#803df5", "#00c0f2"]
    panels = (("loss", "x", "y"), ("accuracy", "x2", "y2"))
    traces = []
    values: dict[str, list] = {"loss": [], "accuracy": []}
    if live_batches:
        x = [b[0] for b in live_batches]
        for i, (key, xaxis, yaxis) in enumerate(panels, start=1):
            y = [b[i] for b in live_batches]
            values[key] += y
            # A line needs two points: the first batch alone is drawn as a dot. Nothing is clipped: a point
            # on an axis's edge (100%, a decade) is drawn whole.
            traces.append(dict(type="scatter", x=x, y=y, xaxis=xaxis, yaxis=yaxis,
                               name="training (per batch)", mode="lines" if len(x) > 1 else "markers",
                               line=dict(color="rgba(28,131,225,0.45)", width=1), cliponaxis=False,
                               showlegend=i == 1, legendgroup="batches"))
    for i, (label, h) in enumerate(runs.items()):
        colour = palette[i % len(palette)]
        epochs = list(range(1, len(h.get("loss", [])) + 1))
        for key, xaxis, yaxis in panels:
            curves = (("training", h.get(key, []), "dot"), ("validation", h.get(f"val_{key}", []), None))
            for name, ys, dash in curves:
                values[key] += ys
                traces.append(dict(type="scatter", x=epochs, y=ys, xaxis=xaxis, yaxis=yaxis, name=f"{label} {name}",
                                   mode="lines+markers", line=dict(color=colour, dash=dash), legendgroup=label,
                                   showlegend=key == "loss", cliponaxis=False))
    layout = dict(_PANELS, yaxis=dict(anchor="x", **_loss_axis(values["loss"])),
                  yaxis2=dict(anchor="x2", **_accuracy_axis(values["accuracy"])))
    return go.Figure(data=traces, layout=layout)


def prediction_heading(reading: Reading) -> None:
    """What the model thinks of a reading that has an answer: the digit, or "Not a digit" with what it looks most
    like in small print (a drawing below the model's threshold, `digitrec_core.recognize`), and how sure it is."""
    probs = reading.probabilities
    if reading.flagged:  # no runner-up warning: "unsure between two digits" is for digits
        st.markdown(f"## {NOT_A_DIGIT_TEXT}")
        st.caption(looks_most_like(probs))
    else:
        st.markdown(f"## Prediction: {reading.likely}")
        st.caption(f"probability {percent(reading.score, 1)}")
        if reading.score < UNSURE:
            second = int(np.argsort(probs)[-2])
            st.warning(f"The model is unsure: it could also be {a_digit(second)} ({percent(probs[second], 0)}).")


def what_the_model_saw(reading: Reading, *, key: str) -> None:
    """The 28x28 the reading was made from beside its ten probabilities."""
    c1, c2 = st.columns([1, 2])
    with c1:
        digit_image(reading.digit, caption="What the model sees (28x28)", size=168)
    with c2:
        probability_chart(reading.probabilities, key=f"{key}_probs", height=220)
