import numpy as np
import streamlit as st
from PIL import Image

from digitrec_app.ui import live, navigation, resources
from digitrec_app.ui.canvas import drawing_canvas  # only importable inside a Streamlit runtime
from digitrec_app.ui.components import prediction_heading, what_the_model_saw
from digitrec_app.ui.corrections import correction_bar
from digitrec_app.ui.explanation import explanation_panel
from digitrec_app.ui.reading import Reading, read
from digitrec_core import LoadedModel, ModelStoreError, read_image
from digitrec_core.preprocess import MAX_UPLOAD_MB, MB

PREVIEW = 280  # px: the uploaded image is shown fitted in a square this size, as large as the canvas


def _preview(image: np.ndarray) -> Image.Image:
    """The upload fitted in PREVIEW x PREVIEW, never less than 1 px a side: st.image's own resize of a 1 px
    line gives 0 px (and raises), and of a 1 px column, an image PREVIEW x 300 times taller."""
    h, w = image.shape[:2]
    scale = PREVIEW / max(h, w)
    return Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX)


def show(reading: Reading | None, *, empty_message: str, key: str) -> None:
    """A reading as the page lays it out: what the model thinks, the correction bar under it, what it saw (or
    `empty_message` when there is no image or no digit in it)."""
    if reading is None or reading.digit is None:
        st.info(empty_message)
    elif reading.failure is not None:  # a damaged model answers NaN or 1e33: one sentence, never `nan%`
        st.error(resources.error_text(reading.failure))
    else:
        prediction_heading(reading)
        correction_bar(reading, key=key)
        what_the_model_saw(reading, key=key)


def explanation(reading: Reading | None, *, key: str) -> None:
    """The "Why this answer?" panel under a reading that has an answer, made from the 28x28 the answer came from."""
    if reading is not None and reading.answered:
        explanation_panel(reading.loaded.model, reading.digit, key=key)


navigation.title("draw")
try:
    loaded = resources.active_model()  # once per process; each stroke only calls recognize
except ModelStoreError as e:
    st.error(resources.error_text(e))
    st.stop()
if notice := resources.model_notice(loaded):
    st.warning(notice)
st.caption(f"Classified by `{loaded.info.name}` as you draw. "
           "Tell it whether it got it right: your digits are kept in My digits.")

draw_tab, upload_tab = st.tabs([":material/edit: Draw", ":material/upload_file: Upload an image"])

with draw_tab:
    page_model = [loaded]  # the drawing's first run, in this run of the page, uses it: the model is loaded once

    def model_now() -> LoadedModel | None:
        """The page's model on its run; at a later stroke (this fragment alone reruns) the active model as of
        then: another tab may have fine-tuned or switched it (cheap: two small JSON reads, the model is cached)."""
        if page_model:
            return page_model.pop()
        try:
            return resources.active_model()
        except ModelStoreError as e:
            st.error(resources.error_text(e))
            return None

    @st.fragment  # a stroke reruns only this part of the page
    def drawing() -> None:
        loaded = model_now()
        if loaded is None:
            return
        live.follow(resources.active_info())
        server = live.server_reason(loaded)  # None: this browser classifies, and the server stays out of strokes
        left, right = st.columns([1, 1.4])
        with left:
            pen = st.slider("Pen width", 6, 40, 18, key="pen_width")
            drawn = drawing_canvas(pen, send=server is not None)
        with right:
            if server is None:
                live.live_panel(loaded, canvas="canvas",
                                explanation=lambda digit: explanation_panel(loaded.model, digit, key="draw"))
                return
            st.caption(f"Classified on the server: {server}.")
            reading = None if drawn is None else read(loaded, drawn.image, sample=f"drawing {drawn.number}")
            show(reading, empty_message="Draw a digit", key="draw")
        explanation(reading, key="draw")

    drawing()

    @st.fragment(run_every=live.FOLLOW_SECONDS)
    def follow_the_model() -> None:
        # Strokes never reach the server now, so nothing else would notice another tab (or the CLI) switching
        # the active model: a look every few seconds (two small JSON reads), and the page again when it moved.
        if live.moved(resources.active_info()):
            st.rerun()

    follow_the_model()

with upload_tab:
    # Streamlit's server.maxUploadSize is MAX_UPLOAD_MB too (digitrec_app.SERVER_OPTIONS), so a bigger file
    # is refused before the server holds it; read_image checks again for a server started with other options.
    upload = st.file_uploader(f"A PNG or JPEG of one handwritten digit (at most {MAX_UPLOAD_MB} MB)",
                              type=["png", "jpg", "jpeg"], max_upload_size=MAX_UPLOAD_MB, key="upload")
    if upload is not None:
        try:
            image = read_image(upload.getvalue(), max_bytes=MAX_UPLOAD_MB * MB)
        except ValueError as e:  # ImageError included: each says what is wrong with the file, for the user
            st.error(f"{upload.name}: {resources.error_text(e)}")
        else:
            try:
                reading, failed = read(loaded, image, sample=f"upload {upload.file_id}"), None
            except ValueError as e:  # read_image's arrays are always images; this is a net, not a path
                reading, failed = None, e
            left, right = st.columns([1, 1.4])
            left.image(_preview(image), caption=upload.name)
            with right:
                if failed is not None:
                    st.error(f"{upload.name}: {resources.error_text(failed)}")
                else:
                    show(reading, empty_message="No digit found in this image.", key="upload")
            explanation(reading, key="upload")
