"""The model store: every trained model as `.keras` plus JSON metadata, and which one is active.

Layout under the store root (`DIGITREC_HOME`, else a per-user data folder: store.home):

    models/<name>/model.keras   the network (Keras format, loaded in safe mode): training, fine-tuning, export
    models/<name>/model.onnx    the same network for ONNX Runtime (sealed, see digitrec_core.serving.runtime): serving;
                                after the probabilities, each block's activations (digitrec_core.serving.explanations)
    models/<name>/meta.json     what it is, how it was trained, how well it does (store.schema)
    active.json                 {"name": "<name>"}

A model folder is written under a temporary name and renamed into place (store.targets), and
`active.json` is replaced atomically, so a crash or two concurrent saves never leave a half-written
active model. `load()` serves through ONNX Runtime (no TensorFlow); `load(runtime="keras")` gives the
Keras model (store.loading).

Saving never makes things worse on its own: a new model becomes active only when it is at least as
good as the active one (store.promotion); otherwise it is stored and the user decides.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from digitrec_core.files import replace_file
from digitrec_core.learning.runs import FineTuneResult, TrainResult
from digitrec_core.optional import require_tensorflow
from digitrec_core.serving.exports import inference_copy
from digitrec_core.store.errors import ModelSaveError, ModelStoreError
from digitrec_core.store.home import default_home
from digitrec_core.store.leftovers import LEFTOVER_AGE, clean_leftovers, clean_once
from digitrec_core.store.loading import RUNTIMES, SHIPPED_DIR, LoadedModel, Runtime, load_runtime, shipped_info
from digitrec_core.store.promotion import Comparison, decide
from digitrec_core.store.schema import (
    ACTIVE_FILE,
    ModelInfo,
    created,
    is_folder_name,
    read_info,
    read_json,
    shown,
    write_json,
)
from digitrec_core.store.targets import write_model

ActivatePolicy = Literal["if-better", "always", "never"]
ACTIVATE_POLICIES: tuple[str, ...] = ("if-better", "always", "never")


@dataclass(frozen=True)
class Saved:
    """What `save` did: the stored model, whether it became active, and the figures that decided it."""

    info: ModelInfo
    activated: bool
    previous: ModelInfo | None  # the model that was active when this one was saved
    comparison: tuple[Comparison, ...]
    reason: str  # one sentence for the user
    decided_by: str | None = None  # the measure that decided (promotion.TEST, PERSONAL or PERSONAL_LOSS)


class ModelStore:
    """The store under `root` (default: `default_home()`).

    Damaged metadata never breaks a caller: `list()`, `active_name()`, `active_info()` and `load()`
    skip a model whose `meta.json` fails `ModelInfo.from_json` (or a damaged `active.json`) as if
    its model file were damaged, and describe each in `problems` (one sentence each, naming the model,
    the file and the field; deduplicated, for as long as this object lives). Only asking for a model
    by name (`info`, `activate`, `load(name)`) raises ModelStoreError for it.

    Making one reads and writes nothing: a program opens its store with `open_store`, which also removes,
    the first time a process opens a root, what interrupted saves left there (`clean_leftovers`).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_home()
        self.models_dir = self.root / "models"
        self.problems: list[str] = []
        self._active_problem: str | None = None  # why active.json's model is not used, if it is not

    def _note(self, problem: str, *, active: bool = False) -> None:
        if problem not in self.problems:
            self.problems.append(problem)
        if active:
            self._active_problem = problem

    def clean_leftovers(self, older_than: float = LEFTOVER_AGE) -> list[Path]:
        """Remove what a killed save left behind (store.leftovers); returns what was removed."""
        return clean_leftovers(self.root, older_than)

    def list(self) -> list[ModelInfo]:
        """Readable models, newest first. Folders mid-write (dot-names) are left out; a folder with
        missing or damaged metadata is left out and described in `problems`."""
        infos = []
        try:
            folders = sorted(d for d in self.models_dir.iterdir() if not d.name.startswith(".") and d.is_dir())
        except OSError:  # no store yet (or unreadable): nothing in it
            folders = []
        for d in folders:
            if not is_folder_name(d.name):
                self._note(f"The folder {ascii(d.name)} in models/ was skipped: its name is not one a model can have.")
                continue
            try:
                infos.append(read_info(d))
            except ModelStoreError as e:
                self._note(f"Model {d.name} was skipped: {e}")
        return sorted(infos, key=created, reverse=True)

    def active_name(self) -> str | None:
        """The model `active.json` names, if it is readable; else None (said in `problems`)."""
        path = self.root / ACTIVE_FILE
        if not path.is_file():
            return None
        try:
            data = read_json(path, ACTIVE_FILE)
        except ModelStoreError as e:
            self._note(f"{e} No model is pinned as active.", active=True)
            return None
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str):
            self._note(f"{ACTIVE_FILE} is damaged (no model name in it). No model is pinned as active.", active=True)
            return None
        try:
            return self.info(name).name
        except ModelStoreError as e:  # said without the store's path: pages show this to visitors
            why = str(e) if is_folder_name(name) and (self.models_dir / name).is_dir() else "it is not in the store."
            self._note(f"The active model {shown(name)!r} cannot be used: {why}", active=True)
            return None

    def info(self, name: str) -> ModelInfo:
        """A stored model's metadata; the shipped model answers to its name too. ModelStoreError if
        there is none by that name or its metadata is damaged."""
        folder = self.models_dir / name if is_folder_name(name) else None
        try:
            exists = folder is not None and folder.is_dir()
        except OSError:
            exists = False
        if exists:
            return read_info(folder)
        shipped = shipped_info()
        if shipped is not None and shipped.name == name:
            return shipped
        raise ModelStoreError(f"No model named {shown(name)!r} in {self.models_dir}.")

    def active_info(self) -> ModelInfo | None:
        """What `load()` would load, from metadata alone (no TensorFlow): for model cards."""
        name = self.active_name()
        if name:
            return self.info(name)
        models = self.list()
        return models[0] if models else shipped_info()

    def activate(self, name: str) -> None:
        info = self.info(name)  # raises if it is not there, or damaged
        write_json(self.root / ACTIVE_FILE, {"name": info.name})

    def _describe(self, result: TrainResult) -> ModelInfo:
        """The metadata a finished run is stored with, under a new name: `<arch>-<UTC time>-<random>`, or
        `finetune-...` for a fine-tune."""
        cfg, now = result.config, datetime.now(UTC)
        fine_tune = isinstance(result, FineTuneResult)
        name = f"{'finetune' if fine_tune else cfg.arch}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        return ModelInfo(
            name=name,
            arch=cfg.arch,
            params=int(result.model.count_params()),
            hyperparameters=asdict(cfg),
            epochs_run=result.epochs_run,
            test_accuracy=result.test_accuracy,
            test_loss=result.test_loss,
            data_source=result.data_source,
            n_train=result.n_train,
            n_val=result.n_val,
            train_seconds=round(result.seconds, 2),
            created_at=now.isoformat(timespec="seconds"),
            history=result.history,
            stopped=result.stopped,
            path=self.models_dir / name,
            kind="finetune" if fine_tune else "train",
            parent=result.base if fine_tune else None,
            personal=result.personal_meta() if fine_tune else {},
            # a sweep's trial (sweep.SweepTrialResult) says which sweep: the store cannot import sweep, which imports it
            sweep=dict(getattr(result, "sweep", None) or {}),
            digit_threshold=result.digit_threshold,
        )

    def save(self, result: TrainResult, *, activate: ActivatePolicy | bool = "if-better") -> Saved:
        """Store a finished run; the model appears under its final name only once fully written.

        `activate`: "if-better" (the default) makes it active only when it is not worse than the
        active model (see store.promotion), "always" / "never" (or True / False) decide
        without comparing.
        """
        policy = ("always" if activate else "never") if isinstance(activate, bool) else activate
        if policy not in ACTIVATE_POLICIES:
            raise ValueError(f"activate must be one of {', '.join(ACTIVATE_POLICIES)}, not {activate!r}.")
        info = self._describe(result)
        name = info.name
        ModelInfo.from_json(info.to_json(), info.path)  # the store never writes what it would refuse to read
        previous = self.active_info()  # before the write: with no active.json, the newest model counts as active
        pinned = self.active_name()
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            write_model(result.model, info, self.models_dir / name, staging=self.models_dir)
        except OSError as e:  # minutes of training must not end in a traceback that loses them
            raise ModelSaveError(f"The trained model could not be saved in {self.models_dir} "
                                 f"({e.strerror or e}); {_rescue(result.model, name)}") from e
        verdict = decide(result, previous)
        if self.active_name() != pinned:  # another tab or the CLI chose a model during the write: theirs stands
            verdict = replace(verdict, better=False, reason="Not made active: the active model was changed while "
                                                            "this one was being saved.")
            activated = False
        else:
            activated = policy == "always" or (policy == "if-better" and verdict.better)
            try:
                if activated:
                    self.activate(name)
                elif previous is not None and pinned is None:
                    self.activate(previous.name)  # pin it: without active.json the newest model would count as active
            except OSError as e:
                raise ModelSaveError(f"{name} was saved in {self.models_dir}, but {ACTIVE_FILE} could not be "
                                     f"written ({e.strerror or e}), so the active model may not be the one you "
                                     f"expect: fix that, then run digitrec activate {name}.") from e
        reason = {"if-better": verdict.reason, "always": "Made active (asked to, whatever the comparison).",
                  "never": "Not made active (asked not to)."}[policy]
        return Saved(info, activated, previous, verdict.comparison, reason,
                     verdict.decided_by if policy == "if-better" else None)

    def load(self, name: str | None = None, *, runtime: Runtime = "onnx") -> LoadedModel:
        """The named model, else the active one; an unreadable active model falls back to the
        newest readable one, then to the shipped model, and says so in `notice`.

        `runtime="onnx"` (the default) gives an `OnnxModel` for `predict_proba`, without importing
        TensorFlow when the model has its `model.onnx`; `runtime="keras"` the Keras model, for
        training, fine-tuning, export and gradients (TensorFlowMissing without TensorFlow).
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}.")
        if runtime == "keras":
            require_tensorflow("Loading a model for training, fine-tuning or export")  # no fallback can help
        if name is not None:
            info = self.info(name)
            return LoadedModel(load_runtime(info, runtime), info, runtime=runtime)
        active = self.active_name()
        candidates = self.list()
        if (shipped := shipped_info()) is not None:
            candidates.append(shipped)
        candidates.sort(key=lambda i: i.name != active)  # stable: active first, then newest, then shipped
        problems = [self._active_problem] if self._active_problem else []  # why another than the active one
        for info in candidates:
            try:
                model = load_runtime(info, runtime)
            except ModelStoreError as e:
                problems.append(str(e))
                continue
            notice = f"{' '.join(problems)} Using {info.name} instead." if problems else None
            return LoadedModel(model, info, notice, runtime)
        raise ModelStoreError(
            " ".join(problems) or f"No trained model in {self.models_dir} and no pretrained model in {SHIPPED_DIR}. "
            "Train one: digitrec train"
        )


def _rescue(model, name: str) -> str:
    """Where a run the store could not take went, as the end of a sentence: a `.keras` file in the
    system's temporary folder when that can be written."""
    path = Path(tempfile.gettempdir()) / f"digitrec-unsaved-{name}.keras"
    try:
        replace_file(path, lambda tmp: inference_copy(model).save(tmp))
    except OSError as e:
        return (f"its weights could not be written to {path.parent} either ({e.strerror or e}), so the run is "
                "lost: free some space and train again.")
    return f"its weights were written to {path} instead (keras.saving.load_model reads them)."


def open_store(root: str | os.PathLike | None = None) -> ModelStore:
    """The store at `root` (default: DIGITREC_HOME) as a program opens it (the dashboard, the CLI, `save_model`
    and `load_model`): the first time this process opens that root, what a killed save left there is removed
    first (store.leftovers: under the store's lock, personal/ too; nothing when a run holds the lock)."""
    store = ModelStore(root)
    clean_once(store.root)
    return store


def save_model(
    result: TrainResult, *, activate: ActivatePolicy | bool = "if-better", store: ModelStore | None = None
) -> Saved:
    """Save a run to the store; it becomes active only if it is not worse than the active model
    (`activate="if-better"`, the default), or as `activate="always"|"never"` says."""
    return (store or open_store()).save(result, activate=activate)


def load_model(
    name: str | None = None, *, runtime: Runtime = "onnx", store: ModelStore | None = None
) -> LoadedModel:
    """The named model, else the active one, else the pretrained model shipped with the package:
    through ONNX Runtime by default (`.model` is an OnnxModel for `predict_proba`, no TensorFlow),
    or the Keras model with `runtime="keras"`."""
    return (store or open_store()).load(name, runtime=runtime)
