"""What the pages share across reruns and sessions: data, models, the training supervisor.

Everything heavy is loaded once per process (`st.cache_resource`). Models are ONNX Runtime sessions
(`ModelStore.load`'s default runtime): drawing, browsing and My digits never import TensorFlow;
only training and fine-tuning do, in a child process (one started ahead of need: `prewarm`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import streamlit as st

from digitrec_app.ui.visitor import Visitor
from digitrec_core import (
    LoadedModel,
    Mnist,
    ModelInfo,
    ModelStore,
    ModelStoreError,
    load_mnist,
    predict_proba,
    public,
)
from digitrec_core.jobs import TrainingSupervisor
from digitrec_core.personal import PersonalDigits
from digitrec_core.serving.evaluation import Evaluation, metrics
from digitrec_core.serving.recognition import Recognition, read
from digitrec_core.serving.review import Review, review
from digitrec_core.store import open_store

log = logging.getLogger("digitrec")


def store() -> ModelStore:
    return open_store()  # cheap: reads DIGITREC_HOME each time, so tests can point it elsewhere


@st.cache_resource(show_spinner="Loading MNIST...")
def mnist() -> Mnist:
    return load_mnist()


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def model(name: str) -> LoadedModel:
    return store().load(name, runtime="onnx")  # a session of a few MB that loads in ~30 ms


@st.cache_resource(show_spinner=False)
def supervisor() -> TrainingSupervisor:
    """One per server process: every tab sees the same training run."""
    return TrainingSupervisor()


def prewarm() -> None:
    """Have a training process ready for the next run (see `TrainingSupervisor.prewarm`), from a page that can
    start one: cheap once one waits, and never an error on the page (it would only mean a slower start)."""
    try:
        supervisor().prewarm()
    except Exception:
        log.exception("Could not start a warm training process; the next run starts its own.")


# ---- public mode: who is asking, and what this session chose --------------------------------------

MODEL_KEY = "public_model"  # st.session_state: the model this visitor switched to (public mode)
OPERATOR_KEY = "public_operator"  # st.session_state: True once this session gave the operator password


def _secrets() -> dict:
    """Streamlit secrets as a plain dict; {} when there is no secrets file (reading it then raises)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml, or a malformed one: public mode then reads the environment only
        return {}


def public_mode() -> bool:
    """Whether the server runs in public mode: the same for every session (secrets, else the environment)."""
    return public.is_public(_secrets())


def operator_password() -> str | None:
    return public.operator_password(_secrets())


def visitor() -> Visitor:
    """Public mode's rules for this session (`Visitor`): what it may do and see. A page asks for it once a run."""
    mode = public_mode()
    return Visitor(public=mode, operator=not mode or bool(st.session_state.get(OPERATOR_KEY)))


@st.cache_resource(show_spinner=False)
def sign_in_throttle() -> public.SignInThrottle:
    """One per server process: the server-wide count of wrong passwords is every session's."""
    return public.SignInThrottle()


def log_in(password: str) -> public.SignIn:
    """Try the operator password: taken only once this session's and the server's delays have passed."""
    tries = st.session_state.setdefault("sign_in_tries", public.SignInTries())
    outcome = sign_in_throttle().attempt(tries, password, operator_password())
    st.session_state[OPERATOR_KEY] = outcome.ok
    return outcome


def choose_model(name: str) -> None:
    """Make `name` the model this session uses: the shared active model for the operator (and
    locally), this visitor's own choice otherwise."""
    if visitor().operator:
        store().activate(name)
        st.session_state.pop(MODEL_KEY, None)
    else:
        store().info(name)  # raises if it is not there
        st.session_state[MODEL_KEY] = name


def error_text(e: BaseException | str) -> str:
    """An error, or a notice from the core, as the page says it: in full locally; in public mode in plain
    words without the server's paths, settings or exception text (those go to the server log for the
    operator). Every page shows its errors through this."""
    if visitor().sees_details:
        return str(e)
    log.warning("Shown to a visitor as a short message: %s",
                e if isinstance(e, str) else f"{type(e).__name__}: {e}")
    return public.without_paths(e) if isinstance(e, str) else public.visitor_message(e)


def model_notice(loaded: LoadedModel) -> str | None:
    """Why the page uses another model than the one asked for (`loaded.notice`), as `error_text` would say it."""
    if loaded.notice is None or visitor().sees_details:
        return loaded.notice
    log.warning("Shown to a visitor as a short message: %s", loaded.notice)
    return (f"The model you use could not be loaded, so this page uses `{loaded.info.name}`; "
            "the details are in the server's log.")


def run_limits() -> dict:
    """The supervisor's keywords for a run this session starts: none for the operator (and locally); for a
    visitor, a time cap, saved without becoming the shared model, and pruned with the other visitors' models."""
    if not visitor().guest:
        return {}
    shared = store()

    def after_save(saved) -> None:
        public.record_visitor_model(shared, saved.info.name)

    return {"activate": "never", "max_seconds": public.MAX_SECONDS, "after_save": after_save}


def active_info() -> ModelInfo | None:
    """The model this session uses: the store's active one, or in public mode the visitor's own choice
    while that model still exists (visitors' models are pruned)."""
    chosen = st.session_state.get(MODEL_KEY) if visitor().session_scoped else None
    if chosen is not None:
        try:
            return store().info(chosen)
        except ModelStoreError:
            st.session_state.pop(MODEL_KEY, None)
    return store().active_info()


def active_model() -> LoadedModel:
    """The active model, or (when its file is unreadable) the newest readable one, with a notice."""
    info = active_info()
    if info is None:
        return store().load()  # raises the store's "train one" message
    try:
        return model(info.name)
    except ModelStoreError:
        return store().load()


@dataclass(frozen=True)
class MnistReport:
    """How a model reads the MNIST test set (the Test browser's figures)."""

    evaluation: Evaluation  # the most likely digit of each: the accuracy stays comparable across models
    recognition: Recognition  # the same probabilities at the model's "not a digit" threshold


@st.cache_data(show_spinner="Classifying the 10,000 test digits...", max_entries=4)
def test_report(model_name: str) -> MnistReport:
    """Confusion matrix and friends, and the digits read as "not a digit", computed once per model."""
    data = mnist()
    loaded = model(model_name)
    probs = predict_proba(loaded.model, data.x_test)
    return MnistReport(metrics(probs, data.y_test), read(probs, loaded.info.digit_threshold))


VisitorDigits = public.VisitorDigits


def personal() -> PersonalDigits:
    """The personal digit set of the store in use (cheap: nothing is read until asked); in public
    mode, this visitor's own, under `<store>/public/<session>/`, bounded by `public.make_room`
    (nothing is on disk until they store a digit; using it keeps it from being deleted for an hour)."""
    if not visitor().session_scoped:
        return PersonalDigits(store().root)
    public.touch(store().root, session_id())
    return VisitorDigits(store().root, session_id())


@st.cache_data(show_spinner="Classifying your digits...", max_entries=8)
def personal_review(model_name: str, ids: Sequence[str], x: np.ndarray, y: np.ndarray) -> Review:
    """How `model_name` does on these digits, and which it reads as "not a digit", computed once per model and
    set contents (the arguments are the cache key: a sample added, removed or relabelled is a new one)."""
    info = store().info(model_name)
    return review(predict_proba(model(model_name).model, x), y, ids, trained_on=info.personal.get("ids", ()),
                  threshold=info.digit_threshold)


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:8]
    return st.session_state.session_id
