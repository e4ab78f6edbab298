import streamlit as st
from streamlit_drawable_canvas import st_canvas  # only importable inside a Streamlit runtime

from digitrec_core import ImageError, ModelStoreError, read_image
from ui import resources
from ui.components import prediction_panel

MAX_UPLOAD_MB = 10

st.title("✏️ Draw")
try:
    loaded = resources.active_model()  # once per process; each stroke only calls predict_proba
except ModelStoreError as e:
    st.error(str(e))
    st.stop()
if loaded.notice:
    st.warning(loaded.notice)
st.caption(f"Classified by `{loaded.info.name}` as you draw.")

draw_tab, upload_tab = st.tabs(["✏️ Draw", "📁 Upload an image"])

with draw_tab:

    @st.fragment  # a stroke reruns only this part of the page
    def drawing() -> None:
        st.session_state.setdefault("canvas_generation", 0)
        left, right = st.columns([1, 1.4])
        with left:
            pen = st.slider("Pen width", 6, 40, 18, key="pen_width")
            result = st_canvas(
                stroke_width=pen, stroke_color="#FFFFFF", background_color="#000000", height=280, width=280,
                drawing_mode="freedraw", return_image_data=True, update_streamlit=True,
                key=f"canvas_{st.session_state.canvas_generation}",
            )
            if result is not None and result.json_data is not None:
                st.session_state.drawing = result.image_data if result.json_data.get("objects") else None

            def clear() -> None:
                st.session_state.canvas_generation += 1  # a new key is a new, empty canvas
                st.session_state.drawing = None

            st.button("Clear", on_click=clear, key="clear")
        with right:
            prediction_panel(loaded, st.session_state.get("drawing"), empty_message="Draw a digit", key="draw")

    drawing()

with upload_tab:
    upload = st.file_uploader(
        f"A PNG or JPEG of one handwritten digit (at most {MAX_UPLOAD_MB} MB)", type=["png", "jpg", "jpeg"], key="upload"
    )
    if upload is not None:
        try:
            image = read_image(upload.getvalue(), max_bytes=MAX_UPLOAD_MB * 1_000_000)
        except ImageError as e:
            st.error(f"{upload.name}: {e}")
        else:
            left, right = st.columns([1, 1.4])
            left.image(image, caption=upload.name, width=280)
            with right:
                prediction_panel(loaded, image, empty_message="No digit found in this image.", key="upload")
