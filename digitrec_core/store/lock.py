"""The store's lock: one training run (or clean-up) at a time, across tabs, threads and processes.

Every dashboard and CLI run holds it for its whole length, save included; the store's clean-up of
what killed saves left (store.leftovers) runs only while it holds it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LOCK_FILE = "training.lock"


class TrainingBusy(RuntimeError):
    """Another run holds the store's training lock; the message says who."""


class StoreLock:
    """An exclusive, non-blocking lock on a file in the store, released if the process dies."""

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, holder: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # as open() makes files: the umask decides
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            try:
                who = self.path.read_text().strip() or "another process"
            except OSError:
                who = "another process"
            raise TrainingBusy(f"The model store is busy: a training run is already in progress ({who}). "
                               "Wait for it to finish or stop it.") from None
        self._fd = fd
        with contextlib.suppress(OSError):  # who holds it is a courtesy: a full disk must not lose the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{holder}, pid {os.getpid()}".encode())

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
