"""The Draw page's live classifier: the model runs in the visitor's browser, and the server hears of a drawing
only when the user acts on it.

The component (`digitrec/web/live_draw.js`) reads the drawable canvas's pixels at every animation frame of
a stroke, prepares them as `canvas_to_mnist` does (`preprocess.js`), runs this session's model in
onnxruntime-web, and shows the prediction, the probabilities, the 28x28 and the correction buttons. What
passes between the two sides:

- data, server to page: the model's name, SHA-256 and "not a digit" threshold (None: it flags nothing), and
  its ONNX bytes (base64) the first time a session shows that model unless the browser's cookie
  `digitrec_models` says it keeps a copy, and again only when the page asks (`need`); what became of the last
  action (stored as a D, or why not); which drawing the explanation below is of.
- state `need` {sha, n}: the page has no copy of that model (none in its cache): the next run sends it, once
  per `n`.
- state `fallback` {sha, reason}: the model cannot run in this page ("*": no model can, e.g. no
  WebAssembly): the page is then classified on the server, as before (`server_reason`).
- trigger `act` {kind, drawing, png, digit, predicted, probability, model, label}: Right, It's a …, Undo or
  Why this answer?, with the drawing as the user saw it. The PNG goes through `read_image`'s gate (PNG only,
  bounded bytes and pixels) before anything keeps it. A Right for a drawing the model reads as "Not a digit"
  (the server's own reading of the 28x28 sent) is refused: the page offers none, a crafted one could send it.

Only pages import this module: it declares a Streamlit component.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import numbers
import time
from pathlib import Path

import numpy as np
import streamlit as st

import digitrec
from digitrec_app.ui import corrections, resources
from digitrec_app.ui.components import UNSURE  # below this top probability the panel names the runner-up
from digitrec_core import LoadedModel, ModelInfo, recognize
from digitrec_core.preprocess import MAX_DRAWING_BYTES, SIZE, ImageError
from digitrec_core.preprocess import read_drawing as read_png
from digitrec_core.serving.evaluation import ModelOutputError

log = logging.getLogger("digitrec")

WEB = Path(digitrec.__file__).parent / "web"
ORT_VERSION = (WEB / "ort" / "VERSION").read_text().strip()
KEY = "live"
WHY_BOX = "live_why"  # the container of the explanation, which the page hides once the drawing changes
KINDS = ("right", "label", "undo", "why")
RESEND_SECONDS = 5  # the page asks again after 8 s (live_draw.js): a lost answer is made good, a loop is not
MODELS_COOKIE = "digitrec_models"  # the models the browser keeps (their SHA-256's first 16 hex digits)
FOLLOW_SECONDS = 5  # how often the Draw page looks whether another tab switched the model it shows


_declared, _warned = [], []


def _component():
    """The component, declared once per process; None where Streamlit cannot serve its files (a copy of
    DigitRec that was not installed, or no Streamlit runtime: then it is tried again next time)."""
    if not _declared:
        try:
            _declared.append(st.components.v2.component("digitrec.live_draw", js="live_draw.js",
                                                        css="live_draw.css", html='<div class="dr-live"></div>'))
        except Exception as e:
            if not _warned:
                _warned.append(True)
                log.warning("The Draw page's live classifier is unavailable (%s: %s); the server classifies.",
                            type(e).__name__, e)
            return None
    return _declared[0]


def server_reason(loaded: LoadedModel) -> str | None:
    """None when this page classifies in the browser; else why the server does, in a few words for the user."""
    if _component() is None:
        return "DigitRec's browser files are not installed with this copy (`pip install .` installs them)"
    failed = st.session_state.get(f"{KEY}_fallback")
    if failed and failed["sha"] in ("*", loaded.model.sha256):
        return f"this browser cannot run the model ({failed['reason']})"
    return None


def live_panel(loaded: LoadedModel, *, canvas: str, explanation) -> None:
    """The live prediction of the canvas keyed `canvas`, and below it, once asked for, `explanation(digit)`."""
    model = loaded.model
    state = st.session_state.get(KEY) or {}
    need = state.get("need") if isinstance(state, dict) else None
    send = _send_model(need, model.sha256) or _push_model(model.sha256)
    outcome = corrections.state(KEY) or {}
    why = st.session_state.get(f"{KEY}_why")
    _component()(
        key=KEY,
        data={
            "model": {"name": loaded.info.name, "sha": model.sha256,
                      "bytes": base64.b64encode(model.onnx_bytes).decode() if send else None},
            "ort": ORT_VERSION,
            "canvas": canvas,
            "why_box": WHY_BOX,
            "unsure": UNSURE,
            "threshold": loaded.info.digit_threshold,  # the page reads "Not a digit" below it, as `recognize` does
            "saved": {"drawing": outcome["sample"], "label": outcome["label"]} if "id" in outcome else None,
            "error": {"drawing": outcome["sample"], "message": outcome["error"]} if "error" in outcome else None,
            "why": why["drawing"] if why else None,
        },
        on_need_change=lambda: None,
        on_fallback_change=_fell_back,
        on_act_change=lambda: _act(loaded),
        width="stretch",
    )
    if why:
        with st.container(key=WHY_BOX):
            explanation(why["digit"])


def _send_model(need: object, sha: str) -> bool:
    """Whether this run sends the model's bytes: the page asked for this very model, in a request not answered
    yet, and not the same model again within RESEND_SECONDS (a page asking in a loop gets no megabyte a run)."""
    if not isinstance(need, dict) or need.get("sha") != sha:
        return False
    last = st.session_state.get(f"{KEY}_sent") or {}
    if need.get("n") == last.get("n") or (last.get("sha") == sha and time.monotonic() - last["at"] < RESEND_SECONDS):
        return False
    st.session_state[f"{KEY}_sent"] = {"n": need.get("n"), "sha": sha, "at": time.monotonic()}
    return True


def _push_model(sha: str) -> bool:
    """Whether this run sends the model unasked: the first time this session shows it, unless the browser said
    (its cookie, set by classifier.js) that it keeps a copy. A first visit then needs no round trip to ask."""
    pushed = st.session_state.setdefault(f"{KEY}_pushed", [])
    kept = str(st.context.cookies.get(MODELS_COOKIE) or "").split(".")
    if sha in pushed or sha[:16] in kept:
        return False
    pushed.append(sha)
    st.session_state[f"{KEY}_sent"] = {"n": None, "sha": sha, "at": time.monotonic()}
    return True


def follow(info: ModelInfo | None) -> None:
    """Remember which model this session was to use when the page last drew (see `moved`)."""
    st.session_state[f"{KEY}_followed"] = info.name if info is not None else None


def moved(info: ModelInfo | None) -> bool:
    """Whether the model this session is to use is another than when the page last drew."""
    return f"{KEY}_followed" in st.session_state and (info.name if info else None) != st.session_state[
        f"{KEY}_followed"]


def _fell_back() -> None:
    failed = (st.session_state.get(KEY) or {}).get("fallback")
    if isinstance(failed, dict) and isinstance(failed.get("sha"), str) and isinstance(failed.get("reason"), str):
        st.session_state[f"{KEY}_fallback"] = {"sha": failed["sha"], "reason": failed["reason"][:200]}


class ActError(ValueError):
    """An action whose drawing the server cannot take; the message is for the user."""


def _act(loaded: LoadedModel) -> None:
    act = (st.session_state.get(KEY) or {}).get("act")
    try:
        kind, drawing = _kind(act), _drawing_id(act)
        if kind == "undo":
            corrections.undo(KEY)
            return
        raw, digit = read_drawing(act)
        if kind == "why":
            st.session_state[f"{KEY}_why"] = {"drawing": drawing, "digit": digit}
            st.session_state["draw_why"] = True  # the explanation's expander, open
            return
        if act.get("model") != loaded.info.name:
            raise ActError("The model changed since this drawing was classified: draw it again.")
        label = _digit_value(act.get("predicted" if kind == "right" else "label"))
        if kind == "right" and not_a_digit(loaded, digit):
            raise ActError("the model reads this drawing as not a digit, so only It's a … can keep it.")
        corrections.save(KEY, drawing, raw, _digit_value(act.get("predicted")), _probability(act.get("probability")),
                         loaded.info.name, label, digit=digit)
    except ActError as e:
        if isinstance(act, dict) and isinstance(act.get("drawing"), str):
            said = "Could not explain it" if act.get("kind") == "why" else "Not saved"
            error = f"{said}: {resources.error_text(e)}"
            st.session_state[f"{KEY}_correction"] = {"sample": act["drawing"][:64], "error": error}
        log.info("A drawing's action was refused: %s", e)


def not_a_digit(loaded: LoadedModel, digit: np.ndarray) -> bool:
    """Whether the loaded model reads this 28x28 as "Not a digit" (the page's rule, on the server's numbers)."""
    if loaded.info.digit_threshold is None:
        return False  # a model without a threshold flags nothing: no need to run it
    try:
        return bool(recognize(loaded, digit).flagged[0])
    except ModelOutputError as e:  # a damaged model: the page shows it no answer to be Right about
        raise ActError(str(e)) from e


def read_drawing(act: dict) -> tuple[np.ndarray, np.ndarray]:
    """The drawing an action carries, through the uploads' gate: its pixels (a PNG data URL, decoded under
    the byte and pixel caps) and the 28x28 the user saw (784 finite values from 0 to 1)."""
    png, prefix = act.get("png"), "data:image/png;base64,"
    longest = len(prefix) + 4 * MAX_DRAWING_BYTES // 3 + 4  # base64 of MAX_DRAWING_BYTES: refused before decoding
    if not isinstance(png, str) or not png.startswith(prefix) or len(png) > longest:
        raise ActError("the drawing did not arrive as a PNG of a canvas.")
    try:
        data = base64.b64decode(png[len(prefix):], validate=True)
        raw = read_png(data)
    except (binascii.Error, ImageError) as e:
        raise ActError(f"the drawing could not be read ({e})") from e
    values = act.get("digit")
    if not isinstance(values, list) or len(values) != SIZE * SIZE or not all(map(_fraction, values)):
        raise ActError(f"the {SIZE}x{SIZE} digit did not arrive whole.")
    return raw, np.asarray(values, np.float32).reshape(SIZE, SIZE)


def _fraction(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1


def _kind(act: object) -> str:
    if not isinstance(act, dict) or act.get("kind") not in KINDS:
        raise ActError("the page sent an action the server does not know.")
    return act["kind"]


def _drawing_id(act: dict) -> str:
    drawing = act.get("drawing")
    if not isinstance(drawing, str) or not 0 < len(drawing) <= 64:
        raise ActError("the page did not say which drawing this is.")
    return drawing


def _digit_value(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9:
        raise ActError("a digit must be one of 0 to 9.")
    return v


def _probability(v: object) -> float:
    if not _fraction(v):
        raise ActError("the probability shown must be a number from 0 to 1.")
    return float(v)
