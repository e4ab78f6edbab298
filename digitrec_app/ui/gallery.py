"""The personal digit set on screen: a gallery per digit (relabel, delete), the mistakes, exchange.

Clicks act through callbacks on the session's set (`resources.personal()`: in public mode the visitor's,
bounded), rebuilt each time, so a click acts on the folder as it is now, not as this tab last read it;
what went wrong (a sample another tab deleted, say) is kept for the next run to show, through
`resources.error_text` (in public mode without the server's paths).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from digitrec_app.ui import resources
from digitrec_app.ui.components import digit_image, digit_picture
from digitrec_core.personal import PersonalDigits, PersonalDigitsError, Sample
from digitrec_core.serving.review import Review
from digitrec_core.text import a_digit, plural

COLUMNS = 8  # tiles a row
MISTAKE_COLUMNS = 6  # in the narrower column beside the confusion matrix: room for a one-line caption
TILE = 84  # pixels: a 28x28 digit at 3x
TILE_WIDTH = 120  # pixels: a tile of `digit_gallery`, wide enough for "Delete" and its icon
MOST_MISTAKES = 24
NOTICE = "my_digits_notice"  # session-state key: what the last click did, shown by the next run


@dataclass(frozen=True)
class Tile:
    """A sample with its 28x28 digit, as the gallery shows it."""

    sample: Sample
    digit: np.ndarray


def tiles(personal: PersonalDigits) -> list[Tile]:
    """Every readable sample with its digit, oldest first; `personal.problems` then says what was skipped."""
    return [Tile(sample, digit) for sample, digit in personal.with_digits()]


def tile_caption(sample: Sample) -> str:
    """What the model said when the sample was stored: `read as 4 (93%)`, or `read right (99%)`."""
    if sample.predicted is None:
        return "imported" if sample.model is None else "stored"
    prob = f" ({sample.probability:.0%})" if sample.probability is not None else ""
    return f"read right{prob}" if sample.predicted == sample.label else f"read as {sample.predicted}{prob}"


def _notice(text: str, kind: str = "success") -> None:
    st.session_state[NOTICE] = (kind, text)


def show_notice() -> None:
    """What the last click did (once)."""
    kind, text = st.session_state.pop(NOTICE, (None, None))
    if kind is not None:
        {"success": st.success, "warning": st.warning, "error": st.error}[kind](text)


def _relabel(sample_id: str, key: str, old: int) -> None:
    new = st.session_state[key]
    try:
        resources.personal().relabel(sample_id, new)
    except PersonalDigitsError as e:
        _notice(resources.error_text(e), "error")
    else:
        _notice(f"Relabelled {a_digit(old)} as {a_digit(new)}.")


def _delete(sample_id: str, label: int) -> None:
    try:
        resources.personal().remove(sample_id)
    except PersonalDigitsError as e:
        _notice(resources.error_text(e), "error")
    else:
        _notice(f"Deleted {a_digit(label)}.")


# The digit is the button's face, above its label: the whole tile is one button, so a click on the picture
# presses it and a keyboard reaches it like any button. The 28x28 PNG is scaled by the browser, pixelated:
# crisp on any screen. Streamlit keeps the theme's colours for hover and focus (only background-image is set).
_PICTURE_CSS = """<style>
.st-key-{key} button {{
  background-image: url({uri}); background-repeat: no-repeat; background-position: center 0.5rem;
  background-size: {size}px {size}px; image-rendering: pixelated; padding-top: calc({size}px + 0.75rem);
}}
</style>"""


def picture_button(digit: np.ndarray, label: str, *, key: str, help: str | None = None, size: int = TILE) -> bool:
    """A button showing the 28x28 `digit` at `size` px above `label`; True on the run after it is pressed.

    `key` names the button's CSS class too (`st-key-KEY`): letters, digits, `_` and `-` only.
    """
    buf = io.BytesIO()
    digit_picture(digit).save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    st.html(_PICTURE_CSS.format(key=key, uri=uri, size=size))  # style alone: takes no room on the page
    return st.button(label, key=key, help=help, width=size + 16)  # the picture and a margin


def digit_gallery(items: Sequence[Tile]) -> None:
    """One tab a digit; each sample as the model saw it, with its label (change it to relabel) and delete."""
    tabs = st.tabs([str(d) for d in range(10)])  # plain labels: a tab keeps its place when counts change
    for d, tab in enumerate(tabs):
        mine = [t for t in items if t.sample.label == d]
        with tab:
            if not mine:
                st.caption(f"No {d}s yet.")
                continue
            st.caption(f"{plural(len(mine), f'sample of {a_digit(d)}', f'samples of {a_digit(d)}')}, oldest first.")
            # Tiles of a fixed width, as many a row as the screen holds: in 8 columns a narrow main area
            # (1280 px with the sidebar open) cut "Delete" to "De…".
            with st.container(horizontal=True, key=f"digits_of_{d}"):
                for t in mine:
                    s = t.sample
                    with st.container(width=TILE_WIDTH):
                        digit_image(t.digit, caption=tile_caption(s), size=TILE)
                        # The label is in the key: a relabel (here or in another tab) makes a new widget
                        # showing the new label, never a stale one.
                        key = f"label_{s.id}_{s.label}"
                        st.selectbox("Label", range(10), index=s.label, key=key, label_visibility="collapsed",
                                     on_change=_relabel, args=(s.id, key, s.label), help="Relabel this sample")
                        st.button("Delete", icon=":material/delete:", key=f"delete_{s.id}", on_click=_delete,
                                  args=(s.id, s.label), width="stretch")


def mistakes_gallery(report: Review, digits: dict[str, np.ndarray]) -> None:
    """The samples the model reads wrong, the ones it is surest about first."""
    shown = [m for m in report.mistakes if m.id in digits][:MOST_MISTAKES]
    cols = st.columns(MISTAKE_COLUMNS)
    for j, m in enumerate(shown):
        with cols[j % MISTAKE_COLUMNS]:
            caption = f"{a_digit(m.label)} read as {m.predicted} ({m.confidence:.0%})"
            digit_image(digits[m.id], caption=caption, size=TILE)
    if len(report.mistakes) > len(shown):
        st.caption(f"…and {len(report.mistakes) - len(shown)} more.")


def export_bytes(root: Path) -> bytes:
    """The whole set as a zip (index.csv + PNGs), for the download button."""
    buf = io.BytesIO()
    PersonalDigits(root).export_zip(buf)
    return buf.getvalue()


def import_upload(key: str) -> None:
    """The uploader's callback: import the zip just chosen (into the session's set, whose bounds count
    every sample it adds), and say what it added and skipped."""
    upload = st.session_state.get(key)
    if upload is None:  # the file was removed from the uploader
        return
    personal = resources.personal()
    try:
        added = personal.import_zip(upload.getvalue())
    except PersonalDigitsError as e:
        _notice(f"{upload.name}: {resources.error_text(e)}", "error")
        return
    report = personal.last_import
    text = f"{upload.name}: {plural(added, 'sample')} added"
    if report.already_present:
        text += f", {plural(report.already_present, 'sample')} already in your set"
    if not report.problems:
        _notice(text + ".")
        return
    listed = "\n".join(f"- {resources.error_text(p)}" for p in report.problems)
    _notice(f"{text}; {plural(len(report.problems), 'problem')}:\n\n{listed}", "warning" if added else "error")
