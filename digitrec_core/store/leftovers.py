"""Removing what killed saves left in the store: temporary folders and files, never what a save still writes.

That is `models/.tmp-*` and `models/.old-*` folders (`write_model` via files.replace_dir),
`.active.json.*.tmp` (files.write_atomic), `models/<name>/.*.tmp` (an ONNX file made on load), and
the personal digits' `personal/.*.tmp` (`PersonalDigits.clean_leftovers`, on its own age rule).

Never what a running save still writes, by two guards: it runs only while it holds the store's lock
(store.lock.StoreLock, held by every dashboard and CLI run for its whole length, save included), so
when a run is in progress it removes nothing; and it removes only what is older than `older_than`
seconds (last modified), which covers the writers that do not take the lock (`activate`, a library
caller's `save_model`, a load writing `model.onnx`): they write in seconds. A read-only store is
left as it is.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from digitrec_core.store.lock import StoreLock, TrainingBusy
from digitrec_core.store.schema import ACTIVE_FILE

LEFTOVER_AGE = 600.0  # seconds: a save writes its temporary folder in seconds; ten minutes is a crash's leftover
_cleaned: set[Path] = set()  # the stores this process has cleaned (once per process and store)


def clean_once(root: Path) -> list[Path]:
    """`clean_leftovers(root)` the first time this process asks for `root`; nothing after that."""
    if root in _cleaned:
        return []
    _cleaned.add(root)
    return clean_leftovers(root)


def clean_leftovers(root: Path, older_than: float = LEFTOVER_AGE) -> list[Path]:
    """Remove what a killed save left under `root` (see the module's docstring); returns what was removed."""
    if not root.is_dir():
        return []
    lock = StoreLock(root)
    try:
        lock.acquire("clean-up of leftover temporary files")
    except (TrainingBusy, OSError):  # a run is in progress (its save may be writing), or read-only
        return []
    try:
        removed = _remove_old(_candidates(root), older_than)
    finally:
        lock.release()
    if (root / "personal").is_dir():
        from digitrec_core.personal import PersonalDigits  # the personal digits import store.home only

        removed += PersonalDigits(root).clean_leftovers()
    return removed


def _candidates(root: Path) -> list[Path]:
    models = root / "models"
    return [*root.glob(f".{ACTIVE_FILE}.*.tmp"), *models.glob(".tmp-*"), *models.glob(".old-*"),
            *models.glob("[!.]*/.*.tmp")]


def _remove_old(paths: list[Path], older_than: float) -> list[Path]:
    now, removed = time.time(), []
    for path in paths:
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
    return removed
