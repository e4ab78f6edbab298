import streamlit as st

from digitrec_app.ui import navigation, resources
from digitrec_app.ui.components import model_card
from digitrec_core import MNIST_DIR_ENV, MnistError

st.title("DigitRec")
st.markdown(
    "Handwritten-digit recognition you can watch and touch: **train** a network on MNIST while its curves grow, "
    "**browse** the test set, and **draw** a digit to see it classified as you draw. When it reads yours wrong, "
    "say what it is: it keeps **your digits** and fine-tunes on your handwriting, and never lets a worse model "
    "take over."
)

visitor = resources.visitor()
st.subheader("Your model" if visitor.guest else "Active model")
info = resources.active_info()
if info is None:
    st.warning("There is no model yet. Train one on the Train page.")
else:
    model_card(info)

st.subheader("Data")
try:
    data = resources.mnist()
except MnistError as e:
    st.error(f"MNIST is not available, so training and the test browser are off. {resources.error_text(e)}")
    st.markdown(
        f"On a machine without internet, put the four MNIST IDX files (or Keras's `mnist.npz`) in a folder and "
        f"start the dashboard with `{MNIST_DIR_ENV}` pointing at it:\n\n"
        f"```bash\n{MNIST_DIR_ENV}=/path/to/mnist streamlit run app.py\n```\n"
        "Drawing still works with the active model."
    )
else:
    c = st.columns(3)
    c[0].metric("Training images", f"{data.n_train:,}")
    c[1].metric("Test images", f"{data.n_test:,}")
    c[2].metric("Source", "Keras download" if data.from_keras else "local folder")
    if visitor.sees_details:  # a visitor is not told server paths
        st.caption(f"Loaded from {data.source}.")
    if data.is_partial:
        st.info(f"This copy has {data.n_train:,} of MNIST's 60,000 training images; accuracies trained on it are "
                "a little below what the full set gives.")

st.subheader("Go")
c = st.columns(4)
navigation.link("train", "Train a model", c[0])
navigation.link("browse", "Browse the test set", c[1])
navigation.link("draw", "Draw a digit", c[2])
navigation.link("my_digits", "Your digits", c[3])
