"""Where the model store lives (`DIGITREC_HOME`, else a per-user data folder), and an OSError met there
as one sentence that says what to do about it."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

HOME_ENV = "DIGITREC_HOME"


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
