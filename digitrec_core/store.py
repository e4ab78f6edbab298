"""The model store: every trained model as `.keras` plus JSON metadata, and which one is active.

Layout under the store root (`DIGITREC_HOME`, else a per-user data folder):

    models/<name>/model.keras   the network (Keras format, loaded in safe mode): training, fine-tuning, export
    models/<name>/model.onnx    the same network for ONNX Runtime (sealed, see digitrec_core.serving): serving;
                                after the probabilities, each block's activations (digitrec_core.explanations)
    models/<name>/meta.json     what it is, how it was trained, how well it does
    active.json                 {"name": "<name>"}

A model folder is written under a temporary name and renamed into place, and `active.json` is
replaced atomically, so a crash or two concurrent saves never leave a half-written active model.
`load()` serves through ONNX Runtime (no TensorFlow); `load(runtime="keras")` gives the Keras model.
A model saved before DigitRec wrote ONNX files gets its `model.onnx` on first load (that needs
TensorFlow; without it the error says what to install).

Damaged metadata never breaks anything: every `meta.json` is checked field by field
(`ModelInfo.from_json`), and a model that fails is skipped like one with a damaged model file, with
a sentence in `ModelStore.problems` naming it; a damaged `active.json` means no pinned model. What a
killed save leaves (temporary folders and files) is removed by the next process to open the store
(`ModelStore.clean_leftovers`), never while a save may still be writing it.

Saving never makes things worse on its own: a new model becomes active only when it is at least as
good as the active one (`digitrec_core.activation`); otherwise it is stored and the user decides.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np

from digitrec_core import optional  # optional.has_tensorflow() at call time: tests simulate its absence
from digitrec_core.activation import Comparison, decide
from digitrec_core.evaluation import ModelOutputError, check_probabilities
from digitrec_core.exports import (
    ExportError,
    Format,
    check_target,
    holds_only,
    inference_copy,
    onnx_bytes,
    replace_dir,
    replace_file,
)
from digitrec_core.models import INPUT_SHAPE
from digitrec_core.optional import TensorFlowMissing, install_hint, require_tensorflow
from digitrec_core.serving import ONNX_FILE, OnnxModel, OnnxModelError
from digitrec_core.text import percent, plural, short_when

if TYPE_CHECKING:
    from digitrec_core.runs import TrainResult

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


class ModelSaveError(ModelStoreError):
    """A finished run the store could not take (a full disk, a read-only store); says where its weights went."""


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
    sweep: dict[str, Any] = field(default_factory=dict)  # a sweep's trial: {"id", "trial", "trials"}; {} if none
    # below this top probability a drawing is "not a digit" (digitrec_core.recognition); None: flags nothing
    digit_threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        del d["path"], d["shipped"]
        return d

    @property
    def label(self) -> str:
        """The model as a person tells it from the others (its name is a timestamp): what it is, the images it
        trained on when a run was limited to fewer than MNIST's, its test accuracy and when it was made (UTC):
        `default · 99.38% · 6 Dec 08:41`, `fine-tune of default · 99.33% · 6 Dec 11:49`, `seed · 900 images ·
        91.20% · 6 Dec 12:02` (--limit), `default · trial 2/8 · ...` (a sweep's). Short enough for the sidebar's
        switcher at its width (dashboard.SIDEBAR_WIDTH); `labels` makes them unique."""
        parts = ["pretrained " + self.arch if self.shipped else
                 "fine-tune of " + self.arch if self.kind == "finetune" else self.arch]
        if trial := self.sweep.get("trial"):
            parts.append(f"trial {trial}" + (f"/{self.sweep['trials']}" if self.sweep.get("trials") else ""))
        if self.kind != "finetune" and self.hyperparameters.get("limit"):  # a fine-tune's own digits: on its card
            parts.append(plural(self.n_train, "image"))
        if self.test_accuracy is not None:
            parts.append(percent(self.test_accuracy))
        parts.append(short_when(self.created_at))
        return " · ".join(parts)

    @staticmethod
    def labels(infos: Iterable[ModelInfo]) -> dict[str, str]:
        """Each model's `label` by name, unique among `infos`: where two labels would be equal, each of those
        ends with the random end of its name (`default · 99.38% · 6 Dec 08:41 · ea9e`), or the whole name
        when even that end is shared."""
        labels = {i.name: i.label for i in infos}
        ends = {name: name.rsplit("-", 1)[-1] for name in labels}  # `ea9e` of `default-20261201-085429-ea9e`
        repeated, shared = Counter(labels.values()), Counter(ends.values())
        return {name: label if repeated[label] == 1 else f"{label} · {ends[name] if shared[ends[name]] == 1 else name}"
                for name, label in labels.items()}

    @classmethod
    def from_json(cls, d: Any, path: Path, shipped: bool = False) -> ModelInfo:
        """The metadata in `d` (read from `path / meta.json`), every field checked: a missing field, a
        wrong type (a bool is not a count), a NaN or infinite figure, an accuracy outside 0-1 or a
        time that is not ISO 8601 raises ModelStoreError naming the file and the field. Unknown keys
        are ignored, so a later version can add some.

        A stored model is the folder it lives in: its name is the folder's, whatever `name` in the
        file says (a folder renamed by hand is that model under its new name, and `activate`,
        `load` and `active.json` all address folders). The shipped model keeps the name in its file.
        """
        where = _meta_label(path)
        if not isinstance(d, dict):
            raise ModelStoreError(f"The metadata {where} is damaged: it is {_kind(d)}, not an object.")
        try:  # a lone surrogate ("\\ud800" in the file) is text no page or terminal can print
            json.dumps(d, ensure_ascii=False).encode("utf-8")
        except (ValueError, TypeError, RecursionError) as e:  # UnicodeEncodeError is a ValueError
            raise ModelStoreError(f"The metadata {where} is damaged: it holds text that is not valid "
                                  f"Unicode ({type(e).__name__}).") from None
        values = {}
        for f in fields(cls):
            if f.name in ("path", "shipped"):
                continue
            if f.name not in d:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise ModelStoreError(f"The metadata {where} is damaged: it has no {f.name!r}.")
                continue
            problem = _FIELD_CHECKS[f.name](d[f.name])
            if problem:
                raise ModelStoreError(f"The metadata {where} is damaged: {f.name!r} {problem}, "
                                      f"not {_kind(d[f.name])}.")
            values[f.name] = d[f.name]
        if not shipped:
            values["name"] = path.name
        return cls(**values, path=path, shipped=shipped)


def _kind(v: Any) -> str:
    """What a JSON value is, in a few words, for a message."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if isinstance(v, (int, float)):
        text = repr(v)
        return f"the number {text if len(text) <= 20 else text[:17] + '...'}"
    if isinstance(v, str):
        return f"the text {v[:40]!r}" + ("..." if len(v) > 40 else "")
    return {list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v):
    return None if isinstance(v, str) else "should be text"


def _name(v):
    return None if isinstance(v, str) and v.strip() else "should be a non-empty text"


def _count(v):
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "should be a whole number >= 0"


def _seconds(v):
    return None if _is_number(v) and math.isfinite(v) and v >= 0 else "should be a number of seconds >= 0"


def _fraction(v):
    ok = v is None or (_is_number(v) and math.isfinite(v) and 0 <= v <= 1)
    return None if ok else "should be a fraction between 0 and 1, or null"


def _loss(v):  # a run that diverged has a NaN loss, and says so: that is a figure, not damage
    return None if v is None or _is_number(v) else "should be a number or null"


def _time(v):
    try:
        _utc(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: year 1 with an offset east of UTC
        return "should be an ISO 8601 time as text"
    return None


def _object(v):
    return None if isinstance(v, dict) else "should be an object"


def _flag(v):
    return None if isinstance(v, bool) else "should be true or false"


def _history(v):
    if not isinstance(v, dict) or not all(
        isinstance(k, str) and isinstance(xs, list) and all(x is None or _is_number(x) for x in xs)
        for k, xs in v.items()
    ):
        return "should be an object of lists of numbers"
    return None


def _kind_name(v):
    return None if v in ("train", "finetune") else 'should be "train" or "finetune"'


def _parent(v):
    return None if v is None or isinstance(v, str) else "should be a model name or null"


_PERSONAL_CHECKS = {"ids": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                    "holdout_ids": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                    "n_train": lambda v: _count(v) is None, "n_holdout": lambda v: _count(v) is None,
                    "before": lambda v: _fraction(v) is None, "after": lambda v: _fraction(v) is None,
                    "loss_before": lambda v: _loss(v) is None, "loss_after": lambda v: _loss(v) is None,
                    "base_test_accuracy": lambda v: _fraction(v) is None}


def _personal(v):  # what the pages read of a fine-tune's record, typed as finetune.personal_meta writes it
    if not isinstance(v, dict) or not all(check(v[k]) for k, check in _PERSONAL_CHECKS.items() if k in v):
        return "should be an object of sample ids, counts and fractions"
    return None


def _sweep(v):  # which sweep a trial belongs to (digitrec_core.sweep writes it); {} for any other run
    if not isinstance(v, dict):
        return "should be an object"
    if v and not (_name(v.get("id")) is None and all(_count(v[k]) is None for k in ("trial", "trials") if k in v)):
        return "should be {} or an object with a sweep id and trial counts"
    return None


_FIELD_CHECKS = {
    "name": _name, "arch": _text, "params": _count, "hyperparameters": _object, "epochs_run": _count,
    "test_accuracy": _fraction, "test_loss": _loss, "data_source": _text, "n_train": _count, "n_val": _count,
    "train_seconds": _seconds, "created_at": _time, "history": _history, "stopped": _flag, "kind": _kind_name,
    "parent": _parent, "personal": _personal, "sweep": _sweep, "digit_threshold": _fraction,
}


def _created(info: ModelInfo) -> datetime:
    """The sort key, newest first: `created_at` in UTC (one without an offset is UTC, as `text.when` reads it)."""
    return _utc(info.created_at)


def _utc(iso: str) -> datetime:
    t = datetime.fromisoformat(iso)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _meta_label(folder: Path) -> str:
    """`models/<name>/meta.json`: names the file without the server's path (pages show it to visitors)."""
    return f"{folder.parent.name}/{folder.name}/{META_FILE}"


@dataclass(frozen=True)
class Saved:
    """What `save` did: the stored model, whether it became active, and the figures that decided it."""

    info: ModelInfo
    activated: bool
    previous: ModelInfo | None  # the model that was active when this one was saved
    comparison: tuple[Comparison, ...]
    reason: str  # one sentence for the user
    decided_by: str | None = None  # the measure that decided (activation.TEST, PERSONAL or PERSONAL_LOSS)


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
    """Write `data` to `path` through `atomic_file`: readers see the old file or the new, never half."""
    with atomic_file(path) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write that becomes `path` when the block ends: a temporary file in the same
    folder, fsync, rename. On any error the temporary file is removed and `path` is untouched.

    The temporary file is created as `open()` creates one (mode 0o666 less the umask), not by mkstemp
    (0600): every file in the store gets one mode, so a store shared by a CLI user and a server user
    stays readable to both. An OSError names `path`, not the temporary file."""
    path = Path(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"  # clean_leftovers knows this pattern
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _about(e, path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _about(e, path) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _about(e: OSError, path: Path) -> OSError:
    """`e` naming `path` (OSError(errno, ...) picks the subclass: PermissionError, ...)."""
    return OSError(e.errno, e.strerror or str(e), str(path))


_FIXES = {
    errno.ENOSPC: "free some disk space and try again",
    getattr(errno, "EDQUOT", errno.ENOSPC): "free some space within your disk quota and try again",
    errno.EROFS: f"use a folder on a writable file system (for the model store, set {HOME_ENV})",
    errno.EACCES: "you may not write there: fix its permissions or use another folder "
                  f"(for the model store, set {HOME_ENV})",
}
_FIXES[errno.EPERM] = _FIXES[errno.EACCES]


def describe_os_error(e: OSError) -> str:
    """An OSError as one sentence: the file, what went wrong, and what to do about it."""
    where = f"{e.filename}: " if e.filename else ""
    fix = _FIXES.get(e.errno, "check the path and try again")
    return f"{where}{e.strerror or e}; {fix}."


def _write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2).encode())


MAX_META_BYTES = 16_000_000  # a meta.json is a few KB (a fine-tune on 20,000 digits: ~1 MB of ids)


def _read_json(path: Path, label: str | None = None) -> Any:
    """The JSON in `path`; ModelStoreError, naming `label` (default: the path), if it cannot be read."""
    label = label or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_META_BYTES + 1)
        if len(raw) > MAX_META_BYTES:
            raise ValueError(f"over {MAX_META_BYTES:,} bytes")
        return json.loads(raw.decode("utf-8"))
    except OSError as e:
        raise ModelStoreError(f"{label} could not be read ({e.strerror or e}).") from e
    except RecursionError as e:
        raise ModelStoreError(f"{label} could not be read (nested too deeply).") from e
    except ValueError as e:  # not UTF-8, not JSON, too big
        raise ModelStoreError(f"{label} could not be read ({str(e)[:200]}).") from e


def read_info(folder: Path, *, shipped: bool = False) -> ModelInfo:
    """The model in `folder`, its metadata checked (ModelInfo.from_json); ModelStoreError if it is damaged."""
    label = _meta_label(folder)
    return ModelInfo.from_json(_read_json(folder / META_FILE, f"The metadata {label}"), folder, shipped=shipped)


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
        return _probed(_make_onnx(info), info)
    try:
        model = OnnxModel.load(path)
    except OnnxModelError as e:
        raise ModelStoreError(f"The ONNX file {path} cannot be used: {e}. Delete it, and the next load makes it "
                              "again from model.keras (that needs TensorFlow).") from e
    return _probed(model, info)


_BLANK = np.zeros((1, *INPUT_SHAPE), np.float32)


def _probed(model: OnnxModel, info: ModelInfo) -> OnnxModel:
    """`model` once it classifies a blank image with probabilities (~0.1 ms): a file whose checksum
    holds but whose weights give NaN or 1e33 is refused here, so a load falls back to another model."""
    try:
        check_probabilities(model.run(_BLANK), info.name)
    except ModelOutputError as e:
        raise ModelStoreError(str(e)) from e
    return model


def _make_onnx(info: ModelInfo) -> OnnxModel:
    """The ONNX file of a model saved before DigitRec wrote them, made from its `.keras` and kept
    beside it (written atomically); from memory only when its folder is read-only."""
    if not optional.has_tensorflow():
        raise OnnxNeedsTensorFlow(f"{info.name} has no {ONNX_FILE} (it was saved by an older DigitRec). "
                                  + install_hint("Making it") + ".")
    keras_model = _load_keras(info.path / MODEL_FILE)
    try:
        data = onnx_bytes(keras_model, taps=True)
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
    """The pretrained model shipped in `digitrec_core/pretrained/`, if it is there (and readable)."""
    try:
        return read_info(SHIPPED_DIR, shipped=True) if (SHIPPED_DIR / META_FILE).is_file() else None
    except ModelStoreError:  # a damaged install: serve what the store has; test_shipped_model guards the file
        return None


def _is_folder_name(name: object) -> bool:
    """A model name that can only mean a folder directly under models/ (never `..`, a path or a dot-name)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and not name.startswith(".")
            and not any(c in name for c in "/\\\0") and _printable(name))


def _printable(text: str) -> bool:
    """Not a name with undecodable bytes (Python keeps them as lone surrogates, which cannot be printed)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: object) -> object:
    """A name for a message: a hostile 10,000-character one is cut short."""
    return name[:80] + "..." if isinstance(name, str) and len(name) > 80 else name


LEFTOVER_AGE = 600.0  # seconds: a save writes its temporary folder in seconds; ten minutes is a crash's leftover
_cleaned: set[Path] = set()  # the stores this process has cleaned (once per process and store)


class ModelStore:
    """The store under `root` (default: `default_home()`).

    Damaged metadata never breaks a caller: `list()`, `active_name()`, `active_info()` and `load()`
    skip a model whose `meta.json` fails `ModelInfo.from_json` (or a damaged `active.json`) as if
    its model file were damaged, and describe each in `problems` (one sentence each, naming the model,
    the file and the field; deduplicated, for as long as this object lives). Only asking for a model
    by name (`info`, `activate`, `load(name)`) raises ModelStoreError for it.

    The first ModelStore a process makes on a root removes what interrupted saves left there
    (`clean_leftovers`).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_home()
        self.models_dir = self.root / "models"
        self.problems: list[str] = []
        self._active_problem: str | None = None  # why active.json's model is not used, if it is not
        if self.root not in _cleaned:
            _cleaned.add(self.root)
            self.clean_leftovers()

    def _note(self, problem: str, *, active: bool = False) -> None:
        if problem not in self.problems:
            self.problems.append(problem)
        if active:
            self._active_problem = problem

    def clean_leftovers(self, older_than: float = LEFTOVER_AGE) -> list[Path]:
        """Remove what a killed save left behind; returns what was removed.

        That is `models/.tmp-*` and `models/.old-*` folders (`write_model` via exports.replace_dir),
        `.active.json.*.tmp` (`write_atomic`), `models/<name>/.*.tmp` (an ONNX file made on load), and
        the personal digits' `personal/.*.tmp` (`PersonalDigits.clean_leftovers`, on its own age rule).

        Never what a running save still writes, by two guards: it runs only while it holds the
        store's lock (`jobs.StoreLock`, held by every dashboard and CLI run for its whole length,
        save included), so when a run is in progress it removes nothing; and it removes only what
        is older than `older_than` seconds (last modified), which covers the writers that do not
        take the lock (`activate`, a library caller's `save_model`, a load writing `model.onnx`):
        they write in seconds. A read-only store is left as it is.
        """
        from digitrec_core.jobs import StoreLock, TrainingBusy  # jobs imports this module

        if not self.root.is_dir():
            return []
        lock = StoreLock(self.root)
        try:
            lock.acquire("clean-up of leftover temporary files")
        except (TrainingBusy, OSError):  # a run is in progress (its save may be writing), or read-only
            return []
        removed = []
        try:
            now = time.time()
            candidates = [*self.root.glob(f".{ACTIVE_FILE}.*.tmp"), *self.models_dir.glob(".tmp-*"),
                          *self.models_dir.glob(".old-*"), *self.models_dir.glob("[!.]*/.*.tmp")]
            for path in candidates:
                try:
                    if now - path.lstat().st_mtime < older_than:
                        continue
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                except OSError:
                    continue
                removed.append(path)
        finally:
            lock.release()
        if (self.root / "personal").is_dir():
            from digitrec_core.personal import PersonalDigits  # imports this module too

            removed += PersonalDigits(self.root).clean_leftovers()
        return removed

    def list(self) -> list[ModelInfo]:
        """Readable models, newest first. Folders mid-write (dot-names) are left out; a folder with
        missing or damaged metadata is left out and described in `problems`."""
        infos = []
        try:
            folders = sorted(d for d in self.models_dir.iterdir() if not d.name.startswith(".") and d.is_dir())
        except OSError:  # no store yet (or unreadable): nothing in it
            folders = []
        for d in folders:
            if not _is_folder_name(d.name):
                self._note(f"The folder {ascii(d.name)} in models/ was skipped: its name is not one a model can have.")
                continue
            try:
                infos.append(read_info(d))
            except ModelStoreError as e:
                self._note(f"Model {d.name} was skipped: {e}")
        return sorted(infos, key=_created, reverse=True)

    def active_name(self) -> str | None:
        """The model `active.json` names, if it is readable; else None (said in `problems`)."""
        path = self.root / ACTIVE_FILE
        if not path.is_file():
            return None
        try:
            data = _read_json(path, ACTIVE_FILE)
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
            why = str(e) if _is_folder_name(name) and (self.models_dir / name).is_dir() else "it is not in the store."
            self._note(f"The active model {_shown(name)!r} cannot be used: {why}", active=True)
            return None

    def info(self, name: str) -> ModelInfo:
        """A stored model's metadata; the shipped model answers to its name too. ModelStoreError if
        there is none by that name or its metadata is damaged."""
        folder = self.models_dir / name if _is_folder_name(name) else None
        try:
            exists = folder is not None and folder.is_dir()
        except OSError:
            exists = False
        if exists:
            return read_info(folder)
        shipped = shipped_info()
        if shipped is not None and shipped.name == name:
            return shipped
        raise ModelStoreError(f"No model named {_shown(name)!r} in {self.models_dir}.")

    def active_info(self) -> ModelInfo | None:
        """What `load()` would load, from metadata alone (no TensorFlow): for model cards."""
        name = self.active_name()
        if name:
            return self.info(name)
        models = self.list()
        return models[0] if models else shipped_info()

    def activate(self, name: str) -> None:
        info = self.info(name)  # raises if it is not there, or damaged
        _write_json_atomic(self.root / ACTIVE_FILE, {"name": info.name})

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
        created = datetime.now(UTC)
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
            sweep=dict(getattr(result, "sweep", None) or {}),
            digit_threshold=result.digit_threshold,
        )
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
            return LoadedModel(_load_runtime(info, runtime), info, runtime=runtime)
        active = self.active_name()
        candidates = self.list()
        if (shipped := shipped_info()) is not None:
            candidates.append(shipped)
        candidates.sort(key=lambda i: i.name != active)  # stable: active first, then newest, then shipped
        problems = [self._active_problem] if self._active_problem else []  # why another than the active one
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
        (tmp / ONNX_FILE).write_bytes(onnx_bytes(copy, taps=True))
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
