"""The model store: trained models with their metadata, which one is active, and the rule that decides it.

    home        where the store lives (DIGITREC_HOME), and OS errors met there in words
    lock        one training run at a time (StoreLock)
    schema      a model's metadata (ModelInfo), every field checked when it is read
    loading     a stored model through ONNX Runtime or Keras; the pretrained model shipped in the package
    targets     a model folder written whole, and what it may replace
    promotion   when a new model becomes active on its own
    leftovers   removing what killed saves left
    models      ModelStore itself: list, save, activate, load

Everything other modules import from `digitrec_core.store` is named here; modules inside the store import
each other directly, never this package.
"""

from digitrec_core.store.errors import ModelSaveError, ModelStoreError, OnnxNeedsTensorFlow
from digitrec_core.store.home import HOME_ENV, default_home, describe_os_error
from digitrec_core.store.leftovers import LEFTOVER_AGE
from digitrec_core.store.loading import RUNTIMES, SHIPPED_DIR, LoadedModel, Runtime, shipped_info
from digitrec_core.store.lock import LOCK_FILE, StoreLock, TrainingBusy
from digitrec_core.store.models import (
    ACTIVATE_POLICIES,
    ActivatePolicy,
    ModelStore,
    Saved,
    load_model,
    open_store,
    save_model,
)
from digitrec_core.store.schema import (
    ACTIVE_FILE,
    META_FILE,
    MODEL_FILE,
    MODEL_PARTS,
    ModelInfo,
    read_info,
)
from digitrec_core.store.targets import MODEL_FOLDER, check_export_target, write_model

__all__ = [
    "ACTIVATE_POLICIES", "ACTIVE_FILE", "HOME_ENV", "LEFTOVER_AGE", "LOCK_FILE", "META_FILE", "MODEL_FILE",
    "MODEL_FOLDER", "MODEL_PARTS", "RUNTIMES", "SHIPPED_DIR", "ActivatePolicy", "LoadedModel", "ModelInfo",
    "ModelSaveError", "ModelStore", "ModelStoreError", "OnnxNeedsTensorFlow", "Runtime", "Saved", "StoreLock",
    "TrainingBusy", "check_export_target", "default_home", "describe_os_error", "load_model",
    "open_store", "read_info", "save_model", "shipped_info", "write_model",
]
