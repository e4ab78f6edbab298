"""Public mode: a dashboard that strangers reach (`DIGITREC_PUBLIC=1`), and the bounds that keep it shareable.

In public mode each visitor's model choice, personal digits and Stop button belong to their own
session; visitors train only bounded runs whose models never become the shared active one and are
pruned to the newest few; changing the shared store needs the operator password. This module holds
the switch, the bounds and the bookkeeping (no Streamlit, no TensorFlow); the dashboard applies them.
"""

from __future__ import annotations

import hmac
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from digitrec_core.personal import FOLDER as PERSONAL_FOLDER
from digitrec_core.store import ModelStore, ModelStoreError, write_atomic

ENV_PUBLIC = "DIGITREC_PUBLIC"
ENV_PASSWORD = "DIGITREC_OPERATOR_PASSWORD"

# Bounds on a visitor's run. 5,000 images x 3 epochs trains the default CNN in well under a minute on
# two cores (~98% test accuracy): enough to see training work, too little to hog the server.
MAX_IMAGES = 5_000
MAX_EPOCHS = 3
MAX_SECONDS = 180  # a run still going after this is stopped (and, being stopped, not saved)
MAX_FINE_TUNE_EPOCHS = 3
KEEP_VISITOR_MODELS = 5  # visitors' models kept in the store, newest first; older ones are deleted
MAX_SESSION_DIGITS = 300  # personal digits one visitor may keep (a 28x28 sample plus its raw image: ~20 KB)
KEEP_SESSIONS = 200  # visitors' digit folders kept, most recently used first (at most ~1.2 GB in all)
PUBLIC_DIR = "public"  # under the store root: visitors' digits and the list of visitors' models
VISITOR_MODELS = "visitor_models.json"

_TRUE = {"1", "true", "yes", "on"}


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def is_public(secrets: Mapping | None = None) -> bool:
    """`DIGITREC_PUBLIC` set to 1/true/yes/on in the environment or, when given, in `secrets`."""
    if _truthy(os.environ.get(ENV_PUBLIC, "")):
        return True
    return secrets is not None and _truthy(secrets.get(ENV_PUBLIC, ""))


def operator_password(secrets: Mapping | None = None) -> str | None:
    """The configured operator password (secrets first, then the environment), or None: then nobody is operator."""
    value = secrets.get(ENV_PASSWORD) if secrets is not None else None
    value = value if isinstance(value, str) and value else os.environ.get(ENV_PASSWORD) or None
    return value


def check_password(given: str, expected: str | None) -> bool:
    """Constant-time comparison; an unset password refuses everyone."""
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def visitor_root(store_root: Path, session: str) -> Path:
    """Where one visitor's personal digits live (a `PersonalDigits` root): `<store>/public/<session>/`."""
    if not session.isalnum():  # session ids are ours (hex), never a path
        raise ValueError(f"Not a session id: {session!r}")
    return Path(store_root) / PUBLIC_DIR / session


def prune_sessions(store_root: Path, keep: int = KEEP_SESSIONS, *, spare: str | None = None) -> list[str]:
    """Delete the digit folders of all but the `keep` most recently changed visitors (never `spare`'s)."""
    base = Path(store_root) / PUBLIC_DIR
    if not base.is_dir():
        return []
    folders = sorted((d for d in base.iterdir() if d.is_dir() and d.name != spare), key=_last_used, reverse=True)
    gone = folders[max(0, keep - (spare is not None)):]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return [d.name for d in gone]


def _last_used(folder: Path) -> float:
    """When a visitor's digits last changed: adding or removing a sample touches their `personal/` folder."""
    inner = folder / PERSONAL_FOLDER
    return max(folder.stat().st_mtime, inner.stat().st_mtime if inner.is_dir() else 0.0)


def visitor_models(store_root: Path) -> list[str]:
    """Names of the models visitors trained, oldest first."""
    try:
        names = json.loads((Path(store_root) / PUBLIC_DIR / VISITOR_MODELS).read_text())
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def record_visitor_model(store: ModelStore, name: str, keep: int = KEEP_VISITOR_MODELS) -> list[str]:
    """Note that a visitor trained `name`, and delete the visitors' models beyond the newest `keep`
    (never the shared active one). Returns the names deleted."""
    names = [n for n in visitor_models(store.root) if n != name] + [name]
    old, names = names[:-keep], names[-keep:]
    active = store.active_name()
    gone = []
    for n in old:
        if n == active:  # the operator made it the shared model: it is theirs now
            continue
        try:
            folder = store.info(n).path
        except ModelStoreError:
            continue  # already gone
        if folder is not None and folder.parent == store.models_dir:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(n)
    path = Path(store.root) / PUBLIC_DIR / VISITOR_MODELS
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(names).encode())
    return gone
