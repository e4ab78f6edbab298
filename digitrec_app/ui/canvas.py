"""The Draw page's canvas: one canvas, never remounted, whose Clear never loses a stroke.

What streamlit-drawable-canvas 0.13 does (read in its frontend, checked in chromium):

- A new `key` mounts a new canvas; a stroke begun before it is up lands on the old one and is lost
  (0 of 4 strokes registered 0 ms after Clear, 2 of 4 at 50 ms).
- A changed `initial_drawing` empties the same canvas, but only when the rerun reaches the browser
  (40-110 ms after the click here), and then it cancels a stroke still waiting to be sent (the canvas
  sends 200 ms after mouse-up) and swaps the brush under a stroke in progress, dropping its start.
  Quick strokes (about 100 ms) drawn 0 ms after such a Clear: 1 of 4 read right, 3 came back as a
  fragment read as a 1 or a 0. With only that reload, tests/test_browser.py's two Clear tests fail:
  the first stroke after Clear is cut, and stroke 6 of the 10 in a row is lost.
- Its own reset (the bin in its toolbar) empties it in the browser at once, then sends the empty drawing.

So pressing Clear presses that reset in the browser, within the same click, before any later stroke
can begin (`_CLEAR_JS`), and the server forgets the drawing it had. Should the reset button ever be
missing (another version of the canvas), the script says so and Clear reloads `initial_drawing`
instead, which still empties the canvas in place, with the window above.

Streamlit's custom components check each value they are given for a dataframe, importing pandas
and pyarrow to do so as soon as one is a dict, and the canvas's initial drawing is one: 67 MB more
in the server and about a second more on the first visit to Draw, here.
`streamlit_private.keep_pandas_out` answers for plain dicts while pandas is not loaded, so the Draw
page never loads pandas (tests/test_browser.py checks the server's memory map).

Only pages import this module: streamlit-drawable-canvas raises on import outside a Streamlit runtime.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from digitrec_app import streamlit_private
from digitrec_app.ui import resources
from digitrec_core.preprocess import ImageError, read_drawing

log = logging.getLogger("digitrec")
PANDAS_KEPT_OUT = streamlit_private.keep_pandas_out()  # once per process: the module is imported once

SIZE = 280  # canvas pixels; canvas_to_mnist is tuned for a 280x280 drawing
RESET_LABEL = "Reset canvas & history"  # the aria-label of the canvas's own reset button (0.13)

# Runs in the page, not in the canvas: a capture listener sees the click on Clear before Streamlit's
# own handler, and the canvas's reset empties it synchronously within that click.
_CLEAR_JS = """
const installed = new WeakMap();
export default function ({ parentElement, data, setTriggerValue }) {
  const previous = installed.get(parentElement);
  if (previous) document.removeEventListener("click", previous, true);
  const onClick = (event) => {
    if (!event.target.closest(`.st-key-${CSS.escape(data.button)} button`)) return;
    const box = document.querySelector(`.st-key-${CSS.escape(data.canvas)}`);
    const bin = `button[aria-label="${data.reset}"]`;
    const host = box && box.querySelector("[data-testid=stBidiComponentIsolated]");
    const reset = box && (box.querySelector(bin) || (host && host.shadowRoot && host.shadowRoot.querySelector(bin)));
    if (reset) reset.click();
    else setTriggerValue("fallback", Date.now());
  };
  installed.set(parentElement, onClick);
  document.addEventListener("click", onClick, true);
  // The canvas's toolbar waits, invisible, 1rem above the canvas's top edge until the pointer has
  // hovered for 0.1 s, and its box covers the canvas's top rows: a stroke started there (a quick one,
  // or any by touch) never reached the canvas. It now always sits above the canvas, and only its
  // buttons take the pointer.
  const unblock = () => {
    const box = document.querySelector(`.st-key-${CSS.escape(data.canvas)}`);
    const root = box && box.querySelector("[data-testid=stBidiComponentIsolated]")?.shadowRoot;
    if (!root || !root.querySelector(".dc-toolbar")) return false;
    if (!root.querySelector("style[data-digitrec]")) {
      const style = document.createElement("style");
      style.dataset.digitrec = "toolbar";
      style.textContent = ".dc-toolbar { top: -2.65rem !important; pointer-events: none; } "
        + ".dc-toolbar-card { pointer-events: auto; }";
      root.appendChild(style);
    }
    return true;
  };
  const timer = setInterval(() => unblock() && clearInterval(timer), 100);
  return () => {
    clearInterval(timer);
    document.removeEventListener("click", onClick, true);
    installed.delete(parentElement);
  };
}
"""
_clear_in_browser = st.components.v2.component("digitrec.clear_canvas", js=_CLEAR_JS, isolate_styles=False)


@dataclass(frozen=True)
class Drawing:
    """What is on the canvas: the RGBA image it rendered, and which drawing this is.

    `number` grows with every new picture the canvas sends (a stroke, a Clear) and stays the same
    across reruns, so whatever is tied to one drawing (a stored correction) can tell a new one.
    """

    image: np.ndarray
    number: int


def drawing_canvas(pen_width: int, *, key: str = "canvas", send: bool = True) -> Drawing | None:
    """The canvas and its Clear button; the drawing on it, or None when it is empty or just cleared.

    `send=False`: the canvas never sends its drawing (the page reads it in the browser, see `ui/live.py`),
    so a stroke costs the server nothing, and this returns None.
    """
    ss = st.session_state
    seen_key, stale_key, number_key, reloads_key = (f"{key}_{s}" for s in ("seen", "stale", "number", "reloads"))
    result = st_canvas(
        stroke_width=pen_width, stroke_color="#FFFFFF", background_color="#000000", height=SIZE, width=SIZE,
        drawing_mode="freedraw", return_image_data=send, update_streamlit=send,
        # A new dict only when Clear falls back to a reload: the same one on every other rerun.
        initial_drawing={"objects": [], "digitrec_reload": ss.get(reloads_key, 0)}, key=key,
    )
    png = result.image_bytes if result is not None and send else None
    seen = hashlib.blake2b(png, digest_size=16).hexdigest() if png else None
    if seen != ss.get(seen_key):
        ss[seen_key] = seen
        ss[number_key] = ss.get(number_key, 0) + 1
    if ss.get(stale_key) not in (None, seen):
        del ss[stale_key]  # the canvas has sent something new since Clear

    def forget() -> None:
        # Until the canvas sends its next picture (the empty one, a few ms later), what it sent last
        # is the drawing just cleared: never show it, classify it or store it again.
        ss[stale_key] = ss.get(seen_key)

    def reload() -> None:
        ss[reloads_key] = ss.get(reloads_key, 0) + 1

    st.button("Clear", key=f"{key}_clear", on_click=forget)
    _clear_in_browser(key=f"{key}_clear_js", data={"button": f"{key}_clear", "canvas": key, "reset": RESET_LABEL},
                      on_fallback_change=reload)
    drawn = result is not None and result.json_data is not None and result.json_data.get("objects")
    if not send or not drawn or seen is None or seen == ss.get(stale_key):
        return None
    try:  # what the page sent, through the uploads' gate: a visitor can send anything in its place
        image = read_drawing(png)  # from the bytes: result.image_data would decode the base64 again
    except ImageError as e:
        log.warning("A canvas drawing was refused: %s", e)
        st.error(f"This drawing could not be read: {resources.error_text(e)}")
        return None
    return Drawing(image, ss[number_key])
