"""The correction bar under a prediction: "Right" or "It's a …", each stored at once, each undoable.

A click stores the image in the personal digit set (`digitrec_core.PersonalDigits`, which keeps the
raw image, the 28x28 the model saw, the label, the prediction and the model), says so, and offers
Undo. What ties a click to one image is `sample`, a name the page gives it (the canvas's drawing
number, an upload's file id): once that image is stored, the bar shows the confirmation instead of
the buttons, so a double click, a rerun or another click stores nothing more; a new image (a new
stroke, another upload) gets the buttons again.

A drawing the model reads as "Not a digit" gets "It's a …" only: the user may know it for an unusual digit
of theirs, just what a fine-tune needs, but "Right" would store as a digit what the model says is none.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitrec_app.ui import resources
from digitrec_app.ui.reading import Reading
from digitrec_core import PersonalDigitsError
from digitrec_core.text import a_digit

DIGITS = list(range(10))


def correction_bar(reading: Reading, *, key: str) -> None:
    """Right / It's a … for a reading with an answer, or, once stored, "Saved as a D" and Undo.

    What a click stores: the image as the user gave it (`reading.raw`), the 28x28 the model saw, the digit it looks
    most like and the model's probability for it, with the label the user gives; a reading flagged "not a digit"
    gets no Right. `reading.sample` names the image (see the module's docstring); `key` keeps several bars on one
    page apart.
    """
    sample = reading.sample
    state = st.session_state.get(f"{key}_correction")
    if state is not None and state["sample"] != sample:
        state = None  # about an earlier image
    if state is not None and "id" in state:
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            saved = f":green[:material/check_circle:] Saved to My digits as {a_digit(state['label'], '**{}**')}"
            st.markdown(saved, width="content")
            st.button("Undo", key=f"{key}_undo", icon=":material/undo:", type="tertiary", on_click=undo, args=(key,),
                      help="Remove this digit from My digits")
    else:
        predicted, digit = reading.likely, reading.digit
        args = (key, sample, reading.raw, predicted, reading.score, reading.model_name)
        with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
            if not reading.flagged:
                st.button("Right", key=f"{key}_right", icon=":material/check:", on_click=save,
                          args=(*args, predicted, digit),
                          help=f"The model is right: keep this digit as {a_digit(predicted)} in My digits")
            # One widget per image, so a digit chosen for an earlier one is never shown selected.
            st.segmented_control("It's a …" if reading.flagged else "or it's a …", DIGITS,
                                 key=_choice_key(key, sample), on_change=_save_chosen, args=args,
                                 kwargs={"digit": digit})
    if state is not None and "error" in state:
        st.error(state["error"])


def _choice_key(key: str, sample: str) -> str:
    return f"{key}_label_{sample}"


def state(key: str) -> dict | None:
    """The bar's last outcome: {"sample", "id", "label"} once stored, {"sample", "error"} when that failed."""
    return st.session_state.get(f"{key}_correction")


def save(key: str, sample: str, raw: np.ndarray, predicted: int, probability: float, model: str, label: int,
         digit: np.ndarray | None = None) -> None:
    """Store `raw` as a `label` (once per `sample`); `digit`, when given, is the 28x28 the user saw."""
    state = st.session_state.get(f"{key}_correction")
    if state is not None and state["sample"] == sample and "id" in state:
        return  # this image is stored already: the second click of a double click, say
    try:
        sample_id = resources.personal().add(raw, label, predicted=predicted, probability=probability, model=model,
                                             digit=digit)
    except (PersonalDigitsError, OSError) as e:
        st.session_state[f"{key}_correction"] = {"sample": sample, "error": f"Not saved: {resources.error_text(e)}"}
        return
    st.session_state[f"{key}_correction"] = {"sample": sample, "id": sample_id, "label": label}


def _save_chosen(key: str, sample: str, *args, digit: np.ndarray | None = None) -> None:
    label = st.session_state.get(_choice_key(key, sample))
    if label is not None:  # None: the chosen digit was clicked again, which unselects it
        save(key, sample, *args, label, digit=digit)


def undo(key: str) -> None:
    state = st.session_state.pop(f"{key}_correction", None)
    if state is None or "id" not in state:
        return
    st.session_state.pop(_choice_key(key, state["sample"]), None)  # the buttons come back with nothing chosen
    digits = resources.personal()
    try:
        digits.remove(state["id"])
    except (PersonalDigitsError, OSError) as e:
        if any(s.id == state["id"] for s in digits.samples()):  # still there: the disk said no
            st.session_state[f"{key}_correction"] = {**state, "error": f"Could not undo: {resources.error_text(e)}"}
        # else it was already gone (deleted on My digits, say), which is what Undo wanted
