import numpy as np
import streamlit as st

from digitrec_app.ui import gallery, navigation, resources
from digitrec_app.ui.components import digit_image, probability_chart, verdict
from digitrec_app.ui.explanation import explanation_panel
from digitrec_app.ui.figures import confusion_figure, recall_figure
from digitrec_core import MnistError, ModelOutputError, ModelStoreError
from digitrec_core.serving.evaluation import as_batch
from digitrec_core.text import percent, plural

GALLERY = 24  # digits shown of one kind of mistake

navigation.title("browse")
try:
    data = resources.mnist()
    loaded = resources.active_model()
except (MnistError, ModelStoreError) as e:
    st.error(resources.error_text(e))
    st.stop()
if notice := resources.model_notice(loaded):
    st.warning(notice)
try:
    tested = resources.test_report(loaded.info.name)
except ModelOutputError as e:  # a damaged model's NaN or 1e33: one sentence instead of `nan%`
    st.error(resources.error_text(e))
    st.stop()
report, reading = tested.evaluation, tested.recognition
n = data.n_test
wrong = report.misclassified

# Streamlit forgets a widget's value while its page is not shown; `browse_index` remembers it.
if "test_index" not in st.session_state:
    st.session_state.test_index = st.session_state.get("browse_index", 0)


def go_to(i: int) -> None:
    st.session_state.test_index = int(i) % n


def next_wrong() -> None:
    later = wrong[wrong > st.session_state.test_index]
    go_to(later[0] if len(later) else wrong[0])


def show_digit(i: int, *, key: str) -> None:
    """Test digit #i as the model reads it: the digit, expected and predicted, confidence, the ten probabilities.

    The one view of a digit, at the top of the page and in the gallery's dialog (`key` keeps their charts apart).
    """
    probs = report.probabilities[i]
    left, mid, right = st.columns([2, 2, 4])
    with left:
        digit_image(data.x_test[i], caption=f"test digit #{i}")
    with mid:
        verdict(int(data.y_test[i]), int(reading.digits[i]), probs)  # "Not a digit" below the model's threshold
        st.metric("Confidence", percent(probs.max(), 1))
    with right:
        probability_chart(probs, key=f"{key}_probs")
    explanation_panel(loaded.model, as_batch(data.x_test[i])[0, ..., 0], key=key)


def open_in_dialog(k: int) -> None:
    """A gallery digit, opened over the page where the user clicked it, not at the page's top, out of view."""

    def body() -> None:
        show_digit(k, key="dialog")
        # The callback sets the index before the page reruns; the rerun closes the dialog.
        if st.button(f"Show #{k} at the top of the page", icon=":material/vertical_align_top:", on_click=go_to,
                     args=(k,), key="dialog_make_current"):
            st.rerun()

    st.dialog(f"Test digit #{k}", width="large")(body)()


st.caption(f"Model `{loaded.info.name}`: {report.accuracy:.2%} of the {n:,} test digits right, {len(wrong)} wrong.")
if reading.threshold is not None:  # a model saved before DigitRec had the threshold flags nothing: no figure
    flagged = int(reading.flagged.sum())
    st.caption(f"{flagged:,} of the {n:,} test digits ({percent(flagged / n)}) read as not a digit; the accuracy "
               "counts each as the digit it looks most like.")
# No min/max on the box: with them Streamlit only tints an index out of range red in the browser and keeps
# the last valid one, so the box and the digit shown disagreed. The page checks the range itself.
i = st.session_state.test_index
valid = 0 <= i < n
# One row that wraps, each button as wide as its label: in columns a narrow screen cut them to "Prev…".
with st.container(horizontal=True, vertical_alignment="bottom", key="browse_controls"):
    st.number_input(f"Choose a test index (0–{n - 1})", step=1, key="test_index", width=240)
    st.button("Previous", icon=":material/chevron_left:", on_click=lambda: go_to(st.session_state.test_index - 1),
              disabled=not valid)
    st.button("Next", icon=":material/chevron_right:", icon_position="right",
              on_click=lambda: go_to(st.session_state.test_index + 1), disabled=not valid)
    st.button("Random", icon=":material/casino:", on_click=lambda: go_to(np.random.randint(n)))
    st.button("Next misclassified", icon=":material/skip_next:", icon_position="right", on_click=next_wrong,
              disabled=len(wrong) == 0)

if valid:
    st.session_state.browse_index = i
    show_digit(i, key="test")
else:
    st.error(f"There is no test digit #{i}: the {n:,} test digits are numbered 0 to {n - 1}.",
             icon=":material/error:")

st.divider()
st.subheader("Where the model goes wrong")
h1, h2 = st.columns([3, 2])
with h1:
    st.plotly_chart(confusion_figure(report.confusion), key="confusion", config={"displayModeBar": False})
with h2:
    st.plotly_chart(recall_figure(report.recall), key="per_class", config={"displayModeBar": False})

kinds = report.mistake_kinds()
if kinds:
    kind = st.selectbox(
        "Show the digits of one kind of mistake", kinds,
        format_func=lambda m: f"true {m.true} read as {m.predicted} ({plural(m.count, 'digit')})",
        key="mistake_pair",
    )
    idx = report.mistakes(kind.true, kind.predicted)
    opened = None
    with st.container(horizontal=True, key="mistake_gallery"):  # as many a row as the screen holds
        for k in idx[:GALLERY]:
            if gallery.picture_button(data.x_test[k], f"#{k}", key=f"open_{k}", help=f"Open test digit #{k} here"):
                opened = int(k)
    if len(idx) > GALLERY:
        st.caption(f"…and {len(idx) - GALLERY} more.")
    if opened is not None:
        open_in_dialog(opened)
else:
    st.success("No mistakes on the test set.")
