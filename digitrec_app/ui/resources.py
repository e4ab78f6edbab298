"""What the pages share across reruns and sessions: data, models, the training supervisor.

Everything heavy is loaded once per process (`st.cache_resource`). Models are ONNX Runtime sessions
(`ModelStore.load`'s default runtime): drawing, browsing and My digits never import TensorFlow;
only training and fine-tuning do, on their own thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import streamlit as st

from digitrec_core import LoadedModel, Mnist, ModelInfo, ModelStore, ModelStoreError, load_mnist, predict_proba
from digitrec_core.evaluation import Evaluation, metrics
from digitrec_core.jobs import TrainingSupervisor
from digitrec_core.personal import PersonalDigits
from digitrec_core.review import Review, review


def store() -> ModelStore:
    return ModelStore()  # cheap: reads DIGITREC_HOME each time, so tests can point it elsewhere


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


def active_info() -> ModelInfo | None:
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


@st.cache_data(show_spinner="Classifying the 10,000 test digits...", max_entries=4)
def test_report(model_name: str) -> Evaluation:
    """Confusion matrix and friends, computed once per model."""
    data = mnist()
    return metrics(predict_proba(model(model_name).model, data.x_test), data.y_test)


def personal() -> PersonalDigits:
    """The personal digit set of the store in use (cheap: nothing is read until asked)."""
    return PersonalDigits(store().root)


@st.cache_data(show_spinner="Classifying your digits...", max_entries=8)
def personal_review(model_name: str, ids: Sequence[str], x: np.ndarray, y: np.ndarray) -> Review:
    """How `model_name` does on these digits, computed once per model and set contents (the
    arguments are the cache key: a sample added, removed or relabelled is a new one)."""
    info = store().info(model_name)
    return review(predict_proba(model(model_name).model, x), y, ids, trained_on=info.personal.get("ids", ()))


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:8]
    return st.session_state.session_id
