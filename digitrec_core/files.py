"""Writing files so that a reader sees the old one or the new one, never half; reading with a cap.

Every writer here makes its work under a temporary dot-name on the same file system as its target,
flushes it to disk (fsync) and renames it into place (`os.replace`/`os.rename` are atomic there); on
any failure, a full disk included, it removes its temporary and leaves the target as it was. What a
killed process leaves (the temporaries) has a fixed name pattern, so the store's clean-up finds it:

    atomic_file / write_atomic   .<name>.<hex>.tmp            (any suffix the caller passes for .tmp)
    replace_file                 .tmp-<name>-<hex><suffix>    (the writer gets a path, with the target's suffix)
    replace_dir                  .tmp-<name>-<hex>, and .old-<name>-<hex> for the copy it replaces

Temporaries are created as `open()` creates files (mode 0o666 less the umask), not by mkstemp (0600),
unless the caller asks otherwise: every file of the store gets one mode, so a store shared by a CLI user
and a server user stays readable to both. This module imports nothing of DigitRec.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, suffix: str = ".tmp", mode: int = 0o666) -> Iterator[BinaryIO]:
    """A binary file to write that becomes `path` when the block ends: a temporary file in the same
    folder (`.<name>.<hex><suffix>`, created with `mode` less the umask), fsync, rename. On any error the
    temporary file is removed and `path` is untouched. An OSError names `path`, not the temporary file."""
    path = Path(path)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
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


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write `data` (text is written as UTF-8) to `path` through `atomic_file`."""
    with atomic_file(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def _about(e: OSError, path: Path) -> OSError:
    """`e` naming `path` (OSError(errno, ...) picks the subclass: PermissionError, ...)."""
    return OSError(e.errno, e.strerror or str(e), str(path))


def _beside(path: Path, staging: Path, tag: str, suffix: str = "") -> Path:
    # A random name, created by its writer (not mkstemp/mkdtemp): the file gets the user's
    # usual permissions (umask), not 0600, so a server in a container can read it.
    return staging / f".{tag}-{path.name}-{secrets.token_hex(4)}{suffix}"


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` makes the new file under a temporary name beside `path` (with `path`'s suffix:
    some writers, Keras's among them, insist on it); it is flushed to disk and renamed over `path`,
    or removed on failure."""
    tmp = _beside(path, path.parent, "tmp", path.suffix)
    try:
        write(tmp)
        with open(tmp, "r+b") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_dir(folder: Path, fill: Callable[[Path], None], *, staging: Path | None = None) -> None:
    """`fill(tmp)` writes the new folder's contents into a temporary folder under `staging` (default:
    beside `folder`; it must be on the same file system), which is then renamed to `folder`.

    Whatever is at `folder` is moved aside first and deleted only once the new folder is in place;
    on failure it is put back, so a crash leaves one whole copy or the other.
    """
    staging = staging or folder.parent
    tmp = _beside(folder, staging, "tmp")
    tmp.mkdir()
    old = None
    try:
        fill(tmp)
        if folder.exists() or folder.is_symlink():
            old = _beside(folder, staging, "old")
            os.rename(folder, old)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not folder.exists():
            os.rename(old, folder)  # put the earlier copy back
        raise
    finally:
        if old is not None:
            _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def read_capped(path: str | os.PathLike, cap: int) -> bytes:
    """The bytes of `path`, reading at most `cap` + 1 of them: ValueError if it holds more than `cap`
    (a damaged or hostile file must not fill memory)."""
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap:,} bytes")
    return data


def is_number(v: Any) -> bool:
    """An int or float read from JSON, not a bool (True is an int to Python, not a figure to a file)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)
