"""The dashboard's frame: page config, navigation, the model switcher; `main()` runs one script pass.

The Streamlit scripts (`digitrec_app/app.py`, a clone's `app.py`) only call `main()`, so this module,
and the Keras guard below, load once per process however often the script reruns.
"""

import logging
import os

import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_app.ui import navigation, resources  # noqa: E402
from digitrec_core.store import shipped_info  # noqa: E402

log = logging.getLogger("digitrec")


def keep_keras_state() -> bool:
    """Streamlit calls keras.backend.clear_session() after every script run, fragment reruns
    included. The dashboard keeps models alive across runs and trains on a background thread;
    clearing Keras under them made training 20x slower and once broke layer naming. The hook is
    private: if a Streamlit upgrade moves it, say so loudly (once) instead of slowing down in silence."""
    from streamlit.runtime.scriptrunner import script_runner

    if not callable(getattr(script_runner, "_clean_problem_modules", None)):
        log.warning(
            "DigitRec could not find streamlit.runtime.scriptrunner.script_runner._clean_problem_modules "
            "(Streamlit %s). Streamlit may now clear Keras after every rerun, which makes training in the "
            "dashboard about 20x slower; the CLI (digitrec train) is unaffected. Please report this.",
            st.__version__,
        )
        return False
    script_runner._clean_problem_modules = _keep
    return True


def _keep() -> None:
    """Stands in for Streamlit's clean-up: Keras's state survives the rerun."""


KERAS_STATE_KEPT = keep_keras_state()  # once per process: the module is imported once


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


def main() -> None:
    st.set_page_config(page_title="DigitRec", page_icon=navigation.app_icon(), layout="wide")
    page = navigation.navigation()
    model_switcher()
    page.run()
