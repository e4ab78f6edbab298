"""A stored model's metadata (`meta.json`): `ModelInfo`, every field checked when it is read, and the
names a model folder and its files may have.

Damaged metadata never breaks anything: `ModelInfo.from_json` checks every field and raises
ModelStoreError naming the file and the field, and the store skips that model (store.models).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digitrec_core.files import is_number, read_capped, write_atomic
from digitrec_core.serving.runtime import ONNX_FILE
from digitrec_core.store.errors import ModelStoreError
from digitrec_core.text import percent, plural, short_when

MODEL_FILE, META_FILE, ACTIVE_FILE = "model.keras", "meta.json", "active.json"
MODEL_PARTS = frozenset({MODEL_FILE, ONNX_FILE, META_FILE})


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
    # below this top probability a drawing is "not a digit" (digitrec_core.serving.recognition); None: flags nothing
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


def _text(v):
    return None if isinstance(v, str) else "should be text"


def _name(v):
    return None if isinstance(v, str) and v.strip() else "should be a non-empty text"


def _count(v):
    return None if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else "should be a whole number >= 0"


def _seconds(v):
    return None if is_number(v) and math.isfinite(v) and v >= 0 else "should be a number of seconds >= 0"


def _fraction(v):
    ok = v is None or (is_number(v) and math.isfinite(v) and 0 <= v <= 1)
    return None if ok else "should be a fraction between 0 and 1, or null"


def _loss(v):  # a run that diverged has a NaN loss, and says so: that is a figure, not damage
    return None if v is None or is_number(v) else "should be a number or null"


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
        isinstance(k, str) and isinstance(xs, list) and all(x is None or is_number(x) for x in xs)
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


def created(info: ModelInfo) -> datetime:
    """The sort key, newest first: `created_at` in UTC (one without an offset is UTC, as `text.when` reads it)."""
    return _utc(info.created_at)


def _utc(iso: str) -> datetime:
    t = datetime.fromisoformat(iso)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _meta_label(folder: Path) -> str:
    """`models/<name>/meta.json`: names the file without the server's path (pages show it to visitors)."""
    return f"{folder.parent.name}/{folder.name}/{META_FILE}"


def write_json(path: Path, data: dict) -> None:
    """`data` as indented JSON in `path`, written atomically (files.write_atomic)."""
    write_atomic(path, json.dumps(data, indent=2).encode())


MAX_META_BYTES = 16_000_000  # a meta.json is a few KB (a fine-tune on 20,000 digits: ~1 MB of ids)


def read_json(path: Path, label: str | None = None) -> Any:
    """The JSON in `path`; ModelStoreError, naming `label` (default: the path), if it cannot be read."""
    label = label or str(path)
    try:
        return json.loads(read_capped(path, MAX_META_BYTES).decode("utf-8"))
    except OSError as e:
        raise ModelStoreError(f"{label} could not be read ({e.strerror or e}).") from e
    except RecursionError as e:
        raise ModelStoreError(f"{label} could not be read (nested too deeply).") from e
    except ValueError as e:  # not UTF-8, not JSON, too big
        raise ModelStoreError(f"{label} could not be read ({str(e)[:200]}).") from e


def read_info(folder: Path, *, shipped: bool = False) -> ModelInfo:
    """The model in `folder`, its metadata checked (ModelInfo.from_json); ModelStoreError if it is damaged."""
    label = _meta_label(folder)
    return ModelInfo.from_json(read_json(folder / META_FILE, f"The metadata {label}"), folder, shipped=shipped)


def is_folder_name(name: object) -> bool:
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


def shown(name: object) -> object:
    """A name for a message: a hostile 10,000-character one is cut short."""
    return name[:80] + "..." if isinstance(name, str) and len(name) > 80 else name
