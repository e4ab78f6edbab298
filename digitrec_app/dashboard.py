"""The dashboard's frame: page config, navigation, the model switcher; `main()` runs one script pass.

The Streamlit scripts (`digitrec_app/app.py`, a clone's `app.py`) only call `main()`, so this module,
and what it sets up for the process (Streamlit's Keras clean-up skipped, the idle release), load once
per process however often the script reruns.
"""

import logging
import math
import os

import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_app import launch, streamlit_private  # noqa: E402
from digitrec_app.ui import memory, navigation, resources  # noqa: E402
from digitrec_app.ui.visitor import Visitor  # noqa: E402
from digitrec_core.store import ModelInfo, shipped_info  # noqa: E402

log = logging.getLogger("digitrec")
# px (Streamlit's default is 300): the switcher shows a model's label whole (`fine-tune of default · 99.33% ·
# 6 Dec 11:49`, 239 px in its 14 px font), where at 300 px it had 190 px and cut it. A select cannot wrap.
SIDEBAR_WIDTH = 360
SWITCH_HELP = ("Each model by its architecture (or what it fine-tuned), its accuracy on the MNIST test digits and when "
               "it was trained (UTC), with the end of its name where two would read alike.")

# Once per process (the module is imported once): no keras.backend.clear_session() after each run.
KERAS_STATE_KEPT = streamlit_private.skip_keras_clear_session()


def warn_if_exposed() -> bool:
    """Say so (once a process) when the server listens beyond localhost without public mode: every
    visitor could then switch the shared model, stop runs and train without bounds. `digitrec app` says
    it before the server starts; a clone's `streamlit run` runs no app code before the first page load."""
    warning = launch.exposed_warning(st.get_option("server.address"), resources.public_mode())
    if warning:
        log.warning(warning)
    return warning is not None


EXPOSED_WARNED = warn_if_exposed()  # once per process: the module is imported once
IDLE_RELEASE = memory.start_idle_release()  # gc + malloc_trim once the server goes quiet (see ui/memory.py)


def model_switcher(visitor: Visitor) -> None:
    """The active model, and a way to make another one active, on every page (in public mode, for a
    visitor: the model of this session only)."""
    store = resources.store()
    active = resources.active_info()
    if active is None:
        st.sidebar.warning("No model yet: train one on the Train page.")
        return
    own = visitor.guest
    choices = {i.name: i for i in store.list()}
    store.active_name()  # damaged metadata (a model's, active.json's): skipped, and said here
    if (shipped := shipped_info()) is not None:
        choices.setdefault(shipped.name, shipped)
    choices.setdefault(active.name, active)
    labels = ModelInfo.labels(choices.values())  # unique among the models the switcher offers
    # Its name (what the CLI and the runs table call it), and under it the label to tell it by.
    st.sidebar.markdown(f"**{'Your model' if own else 'Active model'}**  \n`{active.name}`  \n{labels[active.name]}")
    if store.problems:
        st.sidebar.warning("  \n".join(map(resources.error_text, store.problems)), icon=":material/warning:")
    if len(choices) > 1:
        # The store (or, for a visitor, this session's choice), not this widget, is the truth: another
        # tab, a finished training run or the CLI may have changed the active model since this tab last ran.
        st.session_state.model_switcher = active.name
        st.sidebar.selectbox(
            "Switch model", list(choices), format_func=labels.__getitem__, key="model_switcher",
            on_change=lambda: resources.choose_model(st.session_state.model_switcher),
            help=SWITCH_HELP + (" For you only: other visitors keep their own model." if own else ""),
        )


def operator_login(visitor: Visitor) -> None:
    """Public mode: the operator's password unlocks changing the shared store for this session."""
    if visitor.operator:
        st.sidebar.caption("Operator: your changes apply to every visitor.")
        return
    with st.sidebar.expander("Operator", icon=":material/key:"):
        if resources.operator_password() is None:
            st.caption("No operator password is configured: the shared model cannot be changed here.")
            return
        with st.form("operator_login", border=False, enter_to_submit=True, clear_on_submit=True):
            st.text_input("Password", type="password", key="operator_password")
            st.form_submit_button("Sign in", on_click=_sign_in)
        refused = st.session_state.pop("operator_refused", None)
        if refused is not None:
            st.error(refused)


def _sign_in() -> None:
    """The Sign in button's callback: checks the password, then forgets it (the session keeps the verdict only).
    Each wrong password makes the next try wait longer (`public.SignInThrottle`); a try made before then is
    refused unchecked, so the page says when to try again rather than holding anyone's page."""
    outcome = resources.log_in(st.session_state.get("operator_password", ""))
    if not outcome.ok:
        later = math.ceil(outcome.retry_in)
        st.session_state.operator_refused = (
            f"Wrong password; the next try is taken in {later} s." if outcome.checked else
            f"Not checked: too soon after a wrong password (here or in another session); try again in {later} s.")
    st.session_state.operator_password = ""


def main() -> None:
    memory.note_script_run()
    st.set_page_config(page_title="DigitRec", page_icon=navigation.app_icon(), layout="wide",
                       initial_sidebar_state=SIDEBAR_WIDTH)
    visitor = resources.visitor()
    if visitor.public:
        st.set_option("client.showErrorDetails", "none")  # for `streamlit run` too, not only `digitrec app`
    page = navigation.navigation()
    model_switcher(visitor)
    if visitor.public:
        operator_login(visitor)
    page.run()
