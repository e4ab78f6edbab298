"""The model store: every trained model as `.keras` plus JSON metadata, and which one is active.

Layout under the store root (`DIGITREC_HOME`, else a per-user data folder):

    models/<name>/model.keras   the network (Keras format, loaded in safe mode): training, fine-tuning, export
    models/<name>/model.onnx    the same network for ONNX Runtime (sealed, see digitrec_core.serving): serving
    models/<name>/meta.json     what it is, how it was trained, how well it does
    active.json                 {"name": "<name>"}

A model folder is written under a temporary name and renamed into place, and `active.json` is
replaced atomically, so a crash or two concurrent saves never leave a half-written active model.
`load()` serves through ONNX Runtime (no TensorFlow); `load(runtime="keras")` gives the Keras model.
A model saved before DigitRec wrote ONNX files gets its `model.onnx` on first load (that needs
TensorFlow; without it the error says what to install).

Saving never makes things worse on its own: a new model becomes active only when it is at least as
good as the active one (`digitrec_core.activation`); otherwise it is stored and the user decides.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from digitrec_core import optional  # optional.has_tensorflow() at call time: tests simulate its absence
from digitrec_core.activation import Comparison, decide
from digitrec_core.exports import ExportError, Format, check_target, holds_only, inference_copy, onnx_bytes, replace_dir
from digitrec_core.optional import TensorFlowMissing, install_hint, require_tensorflow
from digitrec_core.serving import ONNX_FILE, OnnxModel, OnnxModelError

if TYPE_CHECKING:
    from digitrec_core.training import TrainResult

ActivatePolicy = Literal["if-better", "always", "never"]
ACTIVATE_POLICIES: tuple[str, ...] = ("if-better", "always", "never")
Runtime = Literal["onnx", "keras"]
RUNTIMES: tuple[str, ...] = ("onnx", "keras")

HOME_ENV = "DIGITREC_HOME"
# The pretrained model is package data, found through importlib.resources (a regular install
# unpacks it to a folder; a zipped install is not supported, Keras loads from a path).
SHIPPED_DIR = Path(str(resources.files("digitrec_core") / "pretrained"))
MODEL_FILE, META_FILE, ACTIVE_FILE = "model.keras", "meta.json", "active.json"
MODEL_PARTS = frozenset({MODEL_FILE, ONNX_FILE, META_FILE})
# `train --export DIR` writes a model folder: an earlier one holds nothing but these files.
MODEL_FOLDER = Format("folder", "a model folder (model.keras, model.onnx, meta.json)", None,
                      holds_only(MODEL_PARTS), MODEL_PARTS)


class ModelStoreError(RuntimeError):
    """A model that cannot be found or read, said in words a user can act on."""


class OnnxNeedsTensorFlow(ModelStoreError, TensorFlowMissing):
    """A model saved without `model.onnx` (by an older version), on an install without TensorFlow."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    arch: str
    params: int
    hyperparameters: dict[str, Any]
    epochs_run: int
    test_accuracy: float | None
    test_loss: float | None
    data_source: str
    n_train: int
    n_val: int
    train_seconds: float
    created_at: str  # ISO 8601, UTC
    history: dict[str, list] = field(default_factory=dict, repr=False)
    stopped: bool = False
    path: Path | None = field(default=None, compare=False)  # the model's folder
    shipped: bool = False  # the pretrained model shipped in the package, used while the store is empty
    kind: str = "train"  # "train" | "finetune"
    parent: str | None = None  # a fine-tune's base model
    personal: dict[str, Any] = field(default_factory=dict, repr=False)  # a fine-tune's samples and scores

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        del d["path"], d["shipped"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], path: Path, shipped: bool = False) -> ModelInfo:
        known = {f.name for f in fields(cls)} - {"path", "shipped"}
        return cls(**{k: v for k, v in d.items() if k in known}, path=path, shipped=shipped)


@dataclass(frozen=True)
class Saved:
    """What `save` did: the stored model, whether it became active, and the figures that decided it."""

    info: ModelInfo
    activated: bool
    previous: ModelInfo | None  # the model that was active when this one was saved
    comparison: tuple[Comparison, ...]
    reason: str  # one sentence for the user


@dataclass
class LoadedModel:
    model: Any = field(repr=False)  # an OnnxModel (runtime "onnx") or a keras.Model ("keras")
    info: ModelInfo
    notice: str | None = None  # set when the requested model was unreadable and another was used
    runtime: Runtime = "onnx"


def default_home() -> Path:
    """`DIGITREC_HOME`, else the platform's per-user data folder (never the git tree)."""
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "digitrec"


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2).encode())


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelStoreError(f"{path} could not be read ({e}).") from e
    if not isinstance(data, dict):
        raise ModelStoreError(f"{path} is not a metadata object.")
    return data


def _load_keras(path: Path):
    require_tensorflow("Loading a model for training, fine-tuning or export")
    import keras

    if not path.is_file():
        raise ModelStoreError(f"The model file {path} is missing.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises a zoo of types for a damaged archive
        raise ModelStoreError(f"The model file {path} is corrupt or not a Keras model "
                              f"({type(e).__name__}: {e}).") from e


def _load_onnx(info: ModelInfo) -> OnnxModel:
    path = info.path / ONNX_FILE
    if not path.exists():
        return _make_onnx(info)
    try:
        return OnnxModel.load(path)
    except OnnxModelError as e:
        raise ModelStoreError(f"The ONNX file {path} cannot be used: {e}. Delete it, and the next load makes it "
                              "again from model.keras (that needs TensorFlow).") from e


def _make_onnx(info: ModelInfo) -> OnnxModel:
    """The ONNX file of a model saved before DigitRec wrote them, made from its `.keras` and kept
    beside it (written atomically); from memory only when its folder is read-only."""
    if not optional.has_tensorflow():
        raise OnnxNeedsTensorFlow(f"{info.name} has no {ONNX_FILE} (it was saved by an older DigitRec). "
                                  + install_hint("Making it") + ".")
    keras_model = _load_keras(info.path / MODEL_FILE)
    try:
        data = onnx_bytes(keras_model)
    except Exception as e:  # the converter's own errors: this model cannot be served, another may
        raise ModelStoreError(f"{info.name} could not be converted to ONNX ({type(e).__name__}: {e}).") from e
    try:
        write_atomic(info.path / ONNX_FILE, data)
    except OSError:  # an installed package or a shared store: serve it all the same
        pass
    return OnnxModel(data, source=info.path / ONNX_FILE)


def _load_runtime(info: ModelInfo, runtime: Runtime):
    return _load_onnx(info) if runtime == "onnx" else _load_keras(info.path / MODEL_FILE)


def shipped_info() -> ModelInfo | None:
    """The pretrained model shipped in `digitrec_core/pretrained/`, if it is there."""
    meta = SHIPPED_DIR / META_FILE
    return ModelInfo.from_json(_read_json(meta), SHIPPED_DIR, shipped=True) if meta.is_file() else None


class ModelStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_home()
        self.models_dir = self.root / "models"

    def list(self) -> list[ModelInfo]:
        """Readable models, newest first; folders mid-write or with broken metadata are left out."""
        infos = []
        if self.models_dir.is_dir():
            for d in self.models_dir.iterdir():
                if d.name.startswith(".") or not (d / META_FILE).is_file():
                    continue
                try:
                    infos.append(ModelInfo.from_json(_read_json(d / META_FILE), d))
                except (ModelStoreError, TypeError):
                    continue
        return sorted(infos, key=lambda i: i.created_at, reverse=True)

    def active_name(self) -> str | None:
        path = self.root / ACTIVE_FILE
        try:
            name = _read_json(path).get("name") if path.is_file() else None
            return self.info(name).name if isinstance(name, str) else None
        except ModelStoreError:
            return None

    def info(self, name: str) -> ModelInfo:
        """A stored model's metadata; the shipped model answers to its name too."""
        folder = self.models_dir / name
        if not name.startswith(".") and "/" not in name and (folder / META_FILE).is_file():
            return ModelInfo.from_json(_read_json(folder / META_FILE), folder)
        shipped = shipped_info()
        if shipped is not None and shipped.name == name:
            return shipped
        raise ModelStoreError(f"No model named {name!r} in {self.models_dir}.")

    def active_info(self) -> ModelInfo | None:
        """What `load()` would load, from metadata alone (no TensorFlow): for model cards."""
        name = self.active_name()
        if name:
            return self.info(name)
        models = self.list()
        return models[0] if models else shipped_info()

    def activate(self, name: str) -> None:
        self.info(name)  # raises if it is not there
        _write_json_atomic(self.root / ACTIVE_FILE, {"name": name})

    def save(self, result: TrainResult, *, activate: ActivatePolicy | bool = "if-better") -> Saved:
        """Store a finished run; the model appears under its final name only once fully written.

        `activate`: "if-better" (the default) makes it active only when it is not worse than the
        active model (see `digitrec_core.activation`), "always" / "never" (or True / False) decide
        without comparing.
        """
        policy = ("always" if activate else "never") if isinstance(activate, bool) else activate
        if policy not in ACTIVATE_POLICIES:
            raise ValueError(f"activate must be one of {', '.join(ACTIVATE_POLICIES)}, not {activate!r}.")
        cfg = result.config
        created = datetime.now(timezone.utc)
        kind = getattr(result, "kind", "train")
        name = f"{cfg.arch if kind == 'train' else 'finetune'}-{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        info = ModelInfo(
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
            created_at=created.isoformat(timespec="seconds"),
            history=result.history,
            stopped=result.stopped,
            path=self.models_dir / name,
            kind=kind,
            parent=getattr(result, "base", None),
            personal=result.personal_meta() if hasattr(result, "personal_meta") else {},
        )
        previous = self.active_info()  # before the write: with no active.json, the newest model counts as active
        pinned = self.active_name()
        self.models_dir.mkdir(parents=True, exist_ok=True)
        write_model(result.model, info, self.models_dir / name, staging=self.models_dir)
        verdict = decide(result, previous)
        if self.active_name() != pinned:  # another tab or the CLI chose a model during the write: theirs stands
            verdict = replace(verdict, better=False, reason="Not made active: the active model was changed while "
                                                            "this one was being saved.")
            activated = False
        else:
            activated = policy == "always" or (policy == "if-better" and verdict.better)
            if activated:
                self.activate(name)
            elif previous is not None and pinned is None:
                self.activate(previous.name)  # pin it: without active.json the newest model would count as active
        reason = {"if-better": verdict.reason, "always": "Made active (asked to, whatever the comparison).",
                  "never": "Not made active (asked not to)."}[policy]
        return Saved(info, activated, previous, verdict.comparison, reason)

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
            return LoadedModel(_load_runtime(info, runtime), info, runtime=runtime)
        candidates = self.list()
        if (shipped := shipped_info()) is not None:
            candidates.append(shipped)
        active = self.active_name()
        candidates.sort(key=lambda i: i.name != active)  # stable: active first, then newest, then shipped
        problems = []
        for info in candidates:
            try:
                model = _load_runtime(info, runtime)
            except ModelStoreError as e:
                problems.append(str(e))
                continue
            notice = f"{' '.join(problems)} Using {info.name} instead." if problems else None
            return LoadedModel(model, info, notice, runtime)
        raise ModelStoreError(
            " ".join(problems) or f"No trained model in {self.models_dir} and no pretrained model in {SHIPPED_DIR}. "
            "Train one: digitrec train"
        )


def write_model(model, info: ModelInfo, folder: Path, *, staging: Path, force: bool = False) -> None:
    """Write `model.keras`, `model.onnx` and `meta.json` into a temporary folder under `staging`,
    then rename it to `folder`: the three appear together or not at all.

    An existing `folder` is replaced only if it is an earlier export (nothing but a model's files)
    or `force` is given, and only once the new copy is complete: it is moved aside, the new one
    renamed in, then the old one deleted, so a crash leaves one whole copy or the other.
    """
    check_export_target(folder, force=force)
    copy = inference_copy(model)  # without the optimiser's state: a third of the size

    def fill(tmp: Path) -> None:
        copy.save(tmp / MODEL_FILE)
        (tmp / ONNX_FILE).write_bytes(onnx_bytes(copy))
        _write_json_atomic(tmp / META_FILE, info.to_json())

    replace_dir(Path(folder), fill, staging=staging)


def check_export_target(folder: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse, in words, a target that is a file, or a folder holding anything but a model's files
    (unless `force`); see `digitrec_core.exports.check_target`. Cheap: call it before training."""
    try:
        return check_target(folder, MODEL_FOLDER, force=force)
    except ExportError as e:
        raise ModelStoreError(str(e)) from None


def save_model(
    result: TrainResult, *, activate: ActivatePolicy | bool = "if-better", store: ModelStore | None = None
) -> Saved:
    """Save a run to the store; it becomes active only if it is not worse than the active model
    (`activate="if-better"`, the default), or as `activate="always"|"never"` says."""
    return (store or ModelStore()).save(result, activate=activate)


def load_model(
    name: str | None = None, *, runtime: Runtime = "onnx", store: ModelStore | None = None
) -> LoadedModel:
    """The named model, else the active one, else the pretrained model shipped with the package:
    through ONNX Runtime by default (`.model` is an OnnxModel for `predict_proba`, no TensorFlow),
    or the Keras model with `runtime="keras"`."""
    return (store or ModelStore()).load(name, runtime=runtime)
