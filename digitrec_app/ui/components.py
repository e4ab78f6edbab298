"""UI pieces used by more than one page: model card, digit image, probability chart, curves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from digitrec_app.ui import resources
from digitrec_core import ModelInfo
from digitrec_core.evaluation import ModelOutputError
from digitrec_core.recognition import NOT_A_DIGIT
from digitrec_core.text import a_digit, percent, plural, when

ACCENT, MUTED = "#ff4b4b", "#9aa5b1"
UNSURE = 0.6  # below this top probability the prediction panel names the runner-up
NOT_A_DIGIT_TEXT = "Not a digit"  # said in place of the digit for a drawing the model flags
_DIGITS = [str(d) for d in range(10)]


def model_card(info: ModelInfo) -> None:
    """Everything a user needs to trust (or not) the model answering them."""
    with st.container(border=True):
        title = f"**{info.name}**" + (" · pretrained, shipped with DigitRec" if info.shipped else "")
        st.markdown(title)
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


def digit_image(digit: np.ndarray, caption: str | None = None, size: int = 224) -> None:
    """A 28x28 digit, upscaled with nearest-neighbour so its pixels stay crisp."""
    a = np.asarray(digit)
    a = (np.clip(a, 0, 1) * 255).astype(np.uint8) if a.dtype != np.uint8 else a
    # PNG: "auto" sends it as JPEG, which smears the crisp pixels.
    st.image(Image.fromarray(a).resize((size, size), Image.NEAREST), caption=caption, output_format="PNG")


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
_PANELS = dict(
    xaxis=dict(anchor="y", domain=[0.0, 0.46], title=dict(text="epoch")),
    yaxis=dict(anchor="x", type="log"),
    xaxis2=dict(anchor="y2", domain=[0.54, 1.0], title=dict(text="epoch")),
    yaxis2=dict(anchor="x2"),
    annotations=[
        dict(text=title, x=x, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
             showarrow=False, font=dict(size=16))
        for title, x in (("Loss", 0.23), ("Accuracy", 0.77))
    ],
    height=360,
    margin=dict(l=10, r=10, t=40, b=10),
    legend=dict(orientation="h", y=-0.25),
)


def curves_figure(runs: dict[str, dict[str, list]], live_batches: list | None = None) -> go.Figure:
    """Loss and accuracy side by side: per-epoch curves of each run, plus a live run's batches.

    `runs` maps a label to a history (`loss`, `accuracy`, `val_loss`, `val_accuracy` per epoch);
    `live_batches` are (epoch as a fraction, loss, accuracy) points of the run in progress.
    """
    palette = ["#ff4b4b", "#1c83e1", "#21c354", "#ffa421", "#803df5", "#00c0f2"]
    panels = (("loss", "x", "y"), ("accuracy", "x2", "y2"))
    traces = []
    if live_batches:
        x = [b[0] for b in live_batches]
        for i, (_, xaxis, yaxis) in enumerate(panels, start=1):
            traces.append(dict(type="scatter", x=x, y=[b[i] for b in live_batches], xaxis=xaxis, yaxis=yaxis,
                               name="training (per batch)", mode="lines",
                               line=dict(color="rgba(28,131,225,0.45)", width=1),
                               showlegend=i == 1, legendgroup="batches"))
    for i, (label, h) in enumerate(runs.items()):
        colour = palette[i % len(palette)]
        epochs = list(range(1, len(h.get("loss", [])) + 1))
        for key, xaxis, yaxis in panels:
            curves = (("training", h.get(key, []), "dot"), ("validation", h.get(f"val_{key}", []), None))
            for name, values, dash in curves:
                traces.append(dict(type="scatter", x=epochs, y=values, xaxis=xaxis, yaxis=yaxis, name=f"{label} {name}",
                                   mode="lines+markers", line=dict(color=colour, dash=dash), legendgroup=label,
                                   showlegend=key == "loss"))
    return go.Figure(data=traces, layout=_PANELS)


def prediction_panel(
    loaded, image: np.ndarray | None, *, empty_message: str, key: str,
    actions: Callable[[int, float, bool], None] | None = None,
) -> np.ndarray | None:
    """Preprocess like MNIST, recognize, and show what the model saw and what it thinks.

    A drawing the model flags (below its threshold, `digitrec_core.recognize`) reads "Not a digit", with what
    it looks most like in small print. `actions(likely, probability, flagged)`, when given, draws what the
    user can do about it (the correction buttons), right under it: `likely` is the digit it looks most like,
    `probability` the model's for that digit; nothing is drawn when no digit was found.
    Returns the 28x28 digit classified (None when no digit was found), for the explanation panel.
    """
    from digitrec_core import canvas_to_mnist, recognize

    digit = canvas_to_mnist(image) if image is not None else None
    if digit is None:
        st.info(empty_message)
        return None
    try:
        seen = recognize(loaded, digit)  # the loaded model's threshold, as the browser applies it
    except ModelOutputError as e:  # a damaged model answers NaN or 1e33: one sentence, never `nan%`
        st.error(resources.explain(e))
        return None
    probs, score = seen.probabilities[0], float(seen.digit_score[0])
    likely, flagged = int(seen.likely[0]), bool(seen.flagged[0])
    if flagged:  # no runner-up warning: "unsure between two digits" is for digits
        st.markdown(f"## {NOT_A_DIGIT_TEXT}")
        st.caption(looks_most_like(probs))
    else:
        st.markdown(f"## Prediction: {likely}")
        st.caption(f"probability {percent(score, 1)}")
        if score < UNSURE:
            second = int(np.argsort(probs)[-2])
            st.warning(f"The model is unsure: it could also be {a_digit(second)} ({percent(probs[second], 0)}).")
    if actions is not None:
        actions(likely, score, flagged)
    c1, c2 = st.columns([1, 2])
    with c1:
        digit_image(digit, caption="What the model sees (28x28)", size=168)
    with c2:
        probability_chart(probs, key=f"{key}_probs", height=220)
    return digit
