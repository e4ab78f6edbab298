from functools import partial

import streamlit as st

from digitrec_app.ui import navigation, resources
from digitrec_app.ui.canvas import drawing_canvas  # only importable inside a Streamlit runtime
from digitrec_app.ui.components import prediction_panel
from digitrec_app.ui.corrections import correction_bar
from digitrec_core import ImageError, ModelStoreError, read_image

MAX_UPLOAD_MB = 10

navigation.title("draw")
try:
    loaded = resources.active_model()  # once per process; each stroke only calls predict_proba
except ModelStoreError as e:
    st.error(str(e))
    st.stop()
if loaded.notice:
    st.warning(loaded.notice)
model = loaded.info.name
st.caption(f"Classified by `{model}` as you draw. Tell it whether it got it right: your digits are kept in My digits.")

draw_tab, upload_tab = st.tabs([":material/edit: Draw", ":material/upload_file: Upload an image"])

with draw_tab:

    @st.fragment  # a stroke reruns only this part of the page
    def drawing() -> None:
        # The active model as of this stroke: another tab may have fine-tuned or switched it since the
        # page ran (cheap: two small JSON reads, the model itself is cached).
        try:
            loaded = resources.active_model()
        except ModelStoreError as e:
            st.error(str(e))
            return
        model = loaded.info.name
        left, right = st.columns([1, 1.4])
        with left:
            pen = st.slider("Pen width", 6, 40, 18, key="pen_width")
            drawn = drawing_canvas(pen)
        with right:
            if drawn is None:
                prediction_panel(loaded, None, empty_message="Draw a digit", key="draw")
            else:
                sample = f"drawing {drawn.number}"
                actions = partial(correction_bar, drawn.image, model=model, sample=sample, key="draw")
                prediction_panel(loaded, drawn.image, empty_message="Draw a digit", key="draw", actions=actions)

    drawing()

with upload_tab:
    upload = st.file_uploader(f"A PNG or JPEG of one handwritten digit (at most {MAX_UPLOAD_MB} MB)",
                              type=["png", "jpg", "jpeg"], key="upload")
    if upload is not None:
        try:
            image = read_image(upload.getvalue(), max_bytes=MAX_UPLOAD_MB * 1_000_000)
        except ImageError as e:
            st.error(f"{upload.name}: {e}")
        else:
            left, right = st.columns([1, 1.4])
            left.image(image, caption=upload.name, width=280)
            with right:
                actions = partial(correction_bar, image, model=model, sample=f"upload {upload.file_id}", key="upload")
                prediction_panel(loaded, image, empty_message="No digit found in this image.", key="upload",
                                 actions=actions)
