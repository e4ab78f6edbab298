"""DigitRec: `streamlit run app.py`."""

import os

import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_core.store import shipped_info  # noqa: E402
from ui import resources  # noqa: E402


def _keep_keras_state() -> None:
    """Streamlit calls keras.backend.clear_session() after every script run, fragment reruns
    included. The dashboard keeps models alive across runs and trains on a background thread;
    clearing Keras under them made training 20x slower and once broke layer naming. The hook
    is private, so this only acts if it is where Streamlit 1.x keeps it."""
    from streamlit.runtime.scriptrunner import script_runner

    if callable(getattr(script_runner, "_clean_problem_modules", None)):
        script_runner._clean_problem_modules = lambda: None


_keep_keras_state()

st.set_page_config(page_title="DigitRec", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/train.py", title="Train", icon="📈"),
    st.Page("app_pages/test_browser.py", title="Test browser", icon="🔎"),
    st.Page("app_pages/draw.py", title="Draw", icon="✏️"),
    st.Page("app_pages/my_digits.py", title="My digits", icon="🗂️"),
]
page = st.navigation(PAGES)


def model_switcher() -> None:
    """The active model, and a way to make another one active, on every page."""
    store = resources.store()
    active = store.active_info()
    if active is None:
        st.sidebar.warning("No model yet: train one on the Train page.")
        return
    acc = f"{active.test_accuracy:.2%}" if active.test_accuracy is not None else "not evaluated"
    st.sidebar.markdown(f"**Active model**  \n`{active.name}`  \ntest accuracy **{acc}**")
    choices = {i.name: i for i in store.list()}
    if (shipped := shipped_info()) is not None:
        choices.setdefault(shipped.name, shipped)
    if len(choices) > 1:
        names = list(choices)

        def label(name: str) -> str:
            i = choices[name]
            tag = "pretrained" if i.shipped else "fine-tuned" if i.kind == "finetune" else i.arch
            return f"{name} ({tag}, {i.test_accuracy:.2%})" if i.test_accuracy is not None else name

        # The store, not this widget, is the truth: another tab, a finished training run or the CLI
        # may have changed the active model since this tab last ran.
        st.session_state.model_switcher = active.name
        st.sidebar.selectbox(
            "Switch model", names, format_func=label, key="model_switcher",
            on_change=lambda: store.activate(st.session_state.model_switcher),
        )


model_switcher()
page.run()
