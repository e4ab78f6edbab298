"""Training and fine-tuning in the background, one run at a time.

The dashboard serves many browser tabs from one process; training must not block any of them,
and two runs must never train and write the store at once. A `TrainingSupervisor` runs one job
on a thread and holds the store's lock file for its whole length, which also keeps a CLI run in
another process from starting meanwhile. The job lives on when its tab closes: it finishes and
saves atomically (or is stopped), so nothing is left half-written.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from digitrec_core.data import Mnist
from digitrec_core.store import ModelStore, Saved

LOCK_FILE = "training.lock"
# The per-epoch curves a run's events give, under the names a stored model's history uses.
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class TrainingBusy(RuntimeError):
    """Another run holds the store's training lock; the message says who."""


class StoreLock:
    """An exclusive, non-blocking lock on a file in the store, released if the process dies."""

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, holder: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder}, pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
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


def epoch_history(events: Sequence) -> dict[str, list]:
    """The per-epoch curves of a run so far, from its progress events, shaped like a stored model's history."""
    done = [e for e in events if e.kind == "epoch"]
    return {k: [getattr(e, k) for e in done] for k in HISTORY_KEYS}


@dataclass
class TrainingJob:
    config: object  # training: its TrainConfig, resolved; a fine-tune: {"base": name or None, "epochs": n}
    owner: str  # the session that started it
    kind: Literal["train", "finetune"] = "train"
    started_at: float = field(default_factory=time.time)
    events: list = field(default_factory=list)  # Progress, appended by the training thread
    stop_event: threading.Event = field(default_factory=threading.Event)
    result: object | None = None  # TrainResult (FineTuneResult for a fine-tune)
    saved: Saved | None = None  # what saving did: the model, whether it became active, and why
    error: str | None = None
    finished_at: float | None = None
    activate: str = "if-better"  # the store's save policy; a public-mode visitor's runs use "never"
    max_seconds: float | None = None  # stopped when still running after this long (public mode)
    timed_out: bool = False
    after_save: Callable[[Saved], None] | None = field(default=None, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def stop(self, by: str | None = None) -> bool:
        """Ask the run to stop after its current batch; with `by`, only when `by` started it."""
        if by is not None and by != self.owner:
            return False
        self.stop_event.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running


class TrainingSupervisor:
    def __init__(self, store: ModelStore | None = None):
        self.store = store or ModelStore()
        self._guard = threading.Lock()
        self.job: TrainingJob | None = None  # the latest job, running or finished

    def start(self, config, *, owner: str, data: Mnist | None = None, **limits) -> TrainingJob:
        """Start training `config` on a thread; raises TrainingBusy while any run holds the store.
        `limits`: `activate`, `max_seconds`, `after_save` (see TrainingJob)."""
        from digitrec_core.training import TrainConfig, train

        cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
        cfg = cfg.resolved(None if data is None else data.n_train)

        def work(job: TrainingJob):
            return train(job.config, data=data, on_progress=job.events.append, stop=job.stop_event)

        return self._launch(TrainingJob(config=cfg, owner=owner, **limits), work, f"DigitRec dashboard, {cfg.arch}")

    def start_fine_tune(
        self, *, owner: str, base: str | None = None, epochs: int | None = None, data: Mnist | None = None,
        samples: tuple | None = None, **limits,
    ) -> TrainingJob:
        """Fine-tune `base` (default: the active model) on the store's personal digits, or on
        `samples` = (x, y, ids) (a visitor's own, in public mode), on a thread."""
        from digitrec_core.finetune import fine_tune
        from digitrec_core.models import FINE_TUNE

        def work(job: TrainingJob):
            x, y, ids = samples if samples is not None else (None, None, None)
            return fine_tune(base, x, y, ids=ids, epochs=epochs, data=data, store=self.store,
                             on_progress=job.events.append, stop=job.stop_event)

        cfg = {"base": base, "epochs": epochs or FINE_TUNE.epochs}
        job = TrainingJob(config=cfg, owner=owner, kind="finetune", **limits)
        return self._launch(job, work, "DigitRec dashboard, fine-tune")

    def _launch(self, job: TrainingJob, work: Callable[[TrainingJob], object], holder: str) -> TrainingJob:
        with self._guard:
            if self.job is not None and self.job.running:
                raise TrainingBusy("A training run started in another tab is in progress. "
                                   "Wait for it to finish or stop it.")
            lock = StoreLock(self.store.root)
            lock.acquire(holder)
            job.thread = threading.Thread(target=self._run, args=(job, lock, work), name="digitrec-training",
                                          daemon=True)
            self.job = job
            job.thread.start()
            if job.max_seconds is not None:
                threading.Thread(target=self._time_out, args=(job,), daemon=True).start()
            return job

    @staticmethod
    def _time_out(job: TrainingJob) -> None:
        if not job.wait(job.max_seconds) and not job.stop_event.is_set():
            job.timed_out = True
            job.stop()

    def _run(self, job: TrainingJob, lock: StoreLock, work: Callable[[TrainingJob], object]) -> None:
        try:
            job.result = work(job)
            if not job.result.stopped:
                job.saved = self.store.save(job.result, activate=job.activate)
                if job.after_save is not None:
                    job.after_save(job.saved)
        except Exception as e:  # surfaced on the page; the store is untouched
            job.error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            lock.release()
            job.finished_at = time.time()
