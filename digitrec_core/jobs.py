"""Training and fine-tuning in the background, one run at a time.

The dashboard serves many browser tabs from one process; training must not block any of them,
and two runs must never train and write the store at once. A `TrainingSupervisor` runs one job
in a child process and holds the store's lock file for its whole length, which also keeps a CLI
run in another process from starting meanwhile. The job lives on when its tab closes: it
finishes and saves atomically (or is stopped), so nothing is left half-written.

Why a process and not a thread: every Keras `fit` keeps ~50 MB that nothing frees (its traced
step functions hold the model from native code; keras-team/keras#21090), so a server that
trained in-process grew by that much a run for good (bench/load.py). The child takes it all
with it when it exits, and its Python work (tf.data, callbacks) no longer competes with the
pages for the server's GIL. A thread in the server relays the child's progress events into
`TrainingJob.events` and a Stop to the child.

Starting that child costs seconds (TensorFlow's import, a fine-tune's generated non-digits), so a warm
worker is started ahead of need (`prewarm`, when a page that can start a run renders): a child that
does that work and then waits for one job. It still runs only one job and exits; the supervisor then
starts the next one. `DIGITREC_WARM_WORKER=0` turns warm workers off (each run then spawns its child).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from digitrec_core.data import Mnist
from digitrec_core.learning.runs import HISTORY_KEYS, TrainConfig
from digitrec_core.quiet import quiet_tensorflow
from digitrec_core.store import ModelStore, Saved, open_store
from digitrec_core.store.lock import StoreLock, TrainingBusy  # others import them from here too

WARM_ENV = "DIGITREC_WARM_WORKER"  # "0", "off", "false" or "no": no warm workers, each run spawns its child
WARM_IDLE_SECONDS = 30 * 60  # a warm worker no job took exits after this, and the next prewarm starts another


def epoch_history(events: Sequence) -> dict[str, list]:
    """The per-epoch curves of a run so far, from its progress events, shaped like a stored model's history."""
    done = [e for e in events if e.kind == "epoch"]
    return {k: [getattr(e, k) for e in done] for k in HISTORY_KEYS}


@dataclass(frozen=True)
class FineTuneSettings:
    """What a fine-tune job was asked for: its base model (None: the active one) and its epochs."""

    base: str | None
    epochs: int


@dataclass
class TrainingJob:
    config: TrainConfig | FineTuneSettings  # training: its TrainConfig, resolved; a fine-tune: its settings
    owner: str  # the session that started it
    kind: Literal["train", "finetune"] = "train"
    started_at: float = field(default_factory=time.time)
    events: list = field(default_factory=list)  # Progress, appended by the relay thread as the child sends them
    stop_event: threading.Event = field(default_factory=threading.Event)
    result: object | None = None  # TrainResult (FineTuneResult for a fine-tune)
    saved: Saved | None = None  # what saving did: the model, whether it became active, and why
    error: str | None = None
    finished_at: float | None = None
    activate: str = "if-better"  # the store's save policy; a public-mode visitor's runs use "never"
    max_seconds: float | None = None  # stopped when still running after this long (public mode)
    timed_out: bool = False
    after_save: Callable[[Saved], None] | None = field(default=None, repr=False)
    thread: threading.Thread | None = field(default=None, repr=False)  # the relay: done once the child is
    pid: int | None = None  # the child process's (a warm worker's, when one took the job)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def waited(self) -> float | None:
        """Seconds from the start (the click) to the end, what the user waited: the process's start, TensorFlow's
        import, evaluating and saving as well as training; None while it runs."""
        return None if self.finished_at is None else self.finished_at - self.started_at

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


_SPAWN = multiprocessing.get_context("spawn")  # never fork a server that runs threads
CHILD_NICENESS = 10  # added to the training process's niceness
_POLL = 0.1  # seconds: how often the relay looks for a Stop to pass on, and for a child that died
_PARENT_POLL = 1.0  # seconds: how often a waiting warm worker checks that its server is still there


def warm_workers_enabled() -> bool:
    """Whether supervisors start warm workers (`WARM_ENV`; on unless set to 0, off, false or no)."""
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def _settle_in() -> None:
    """A training process's first words: TensorFlow's start-up lines kept out of the server's terminal, and a
    lower priority."""
    quiet_tensorflow()
    with contextlib.suppress(AttributeError, OSError):  # no os.nice on Windows
        # Under contention the pages go first: a stroke waits for the cores, a training run hardly notices.
        # Alone, a niced run is as fast as before.
        os.nice(CHILD_NICENESS)


def _run(kind: str, spec: dict, data: Mnist | None, root: str, activate: str, events, stop) -> None:
    """The job, in a child process: train (or fine-tune), save, and send back what happened."""
    try:
        store = ModelStore(root)
        if kind == "train":
            from digitrec_core.learning.training import train

            result = train(spec["config"], data=data, on_progress=events.put, stop=stop)
        else:
            from digitrec_core.learning.finetune import fine_tune

            x, y, ids = spec["samples"] if spec["samples"] is not None else (None, None, None)
            result = fine_tune(spec["base"], x, y, ids=ids, epochs=spec["epochs"], data=data, store=store,
                               on_progress=events.put, stop=stop)
        saved = None if result.stopped else store.save(result, activate=activate)
        events.put(("done", dataclasses.replace(result, model=None), saved))
    except BaseException as e:  # surfaced on the page; the store is untouched
        traceback.print_exc()
        events.put(("error", f"{type(e).__name__}: {e}"))


def _child(job: tuple, events, stop) -> None:
    """A process spawned for one job (`_run`'s arguments but the queues)."""
    _settle_in()
    _run(*job, events, stop)


def _warm_child(jobs, events, stop, ready, idle_seconds: float, server: int) -> None:
    """A process started ahead of need: does what a run would do first, then runs the one job it is sent.
    Exits without one when its server is gone or after `idle_seconds` of waiting (the supervisor kills one it
    no longer wants: `_Worker.retire`)."""
    _settle_in()
    job = None
    try:
        from digitrec_core.learning.finetune import warm_up_steps  # TensorFlow's import: most of a cold start

        for step in warm_up_steps():
            with contextlib.suppress(queue.Empty):
                job = jobs.get_nowait()  # a job that came early starts now: the rest only saves time
                break
            step()
        else:
            ready.set()
    except Exception:  # it only saves time: the job, if one comes, says what is wrong
        traceback.print_exc()
    # Counted from here, seconds after the supervisor's own clock started: a job it handed over before
    # `idle_seconds` (see `_Worker.usable`) is not missed.
    give_up = time.monotonic() + idle_seconds
    while job is None:
        try:
            job = jobs.get(timeout=_PARENT_POLL)
        except queue.Empty:
            if os.getppid() != server or time.monotonic() > give_up:  # a dead server's child goes to init
                return
    _run(*job, events, stop)


@dataclass
class _Worker:
    """A child process and the queues the relay talks to it through; a warm one also has its job queue
    and the flag it raises once warmed up."""

    process: multiprocessing.process.BaseProcess
    events: object
    stop: object
    jobs: object | None = None
    ready: object | None = None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def spawn(cls, job: tuple | None, idle_seconds: float = WARM_IDLE_SECONDS) -> _Worker:
        """A child for `job`, or with None a warm one that waits for its job."""
        events, stop = _SPAWN.Queue(), _SPAWN.Event()
        if job is not None:
            worker = cls(_SPAWN.Process(target=_child, name="digitrec-training", daemon=True,
                                        args=(job, events, stop)), events, stop)
        else:
            jobs, ready = _SPAWN.Queue(), _SPAWN.Event()
            jobs.cancel_join_thread()  # a job a dead worker never read must not hang the server's exit
            worker = cls(_SPAWN.Process(target=_warm_child, name="digitrec-warm", daemon=True,
                                        args=(jobs, events, stop, ready, idle_seconds, os.getpid())),
                         events, stop, jobs, ready)
        worker.process.start()
        return worker

    def usable(self, idle_seconds: float) -> bool:
        """Alive and not about to give up waiting."""
        return self.process.is_alive() and time.monotonic() - self.started < idle_seconds

    def retire(self) -> None:
        """End a warm worker no job took (it has nothing to lose)."""
        self.process.kill()
        self.process.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Let go of the queues (their pipes, and a job a dead worker never read)."""
        for q in (self.events, self.jobs):
            if q is not None:
                q.close()


class TrainingSupervisor:
    def __init__(self, store: ModelStore | None = None, *, warm: bool | None = None,
                 idle_seconds: float = WARM_IDLE_SECONDS):
        """`warm`: start warm workers (default: `warm_workers_enabled()`); `idle_seconds`: how long one waits."""
        self.store = store or open_store()
        self.warm = warm_workers_enabled() if warm is None else warm
        self.idle_seconds = idle_seconds
        self._guard = threading.Lock()
        self.job: TrainingJob | None = None  # the latest job, running or finished
        self._warm: _Worker | None = None
        self._retire_warm: weakref.finalize | None = None  # ends `_warm` if this supervisor is collected

    def prewarm(self, wait: float = 0) -> bool:
        """Start a warm worker if warm workers are on, none is alive and no run is in progress (its end starts
        one); True once one is warmed up, waiting up to `wait` seconds for that."""
        from digitrec_core.optional import has_tensorflow

        with self._guard:
            if not self.warm or (self.job is not None and self.job.running):
                return False
            if self._warm is None or not self._warm.usable(self.idle_seconds):
                self._end_warm()
                if not has_tensorflow():  # a serve-only install trains nothing
                    return False
                self._warm = _Worker.spawn(None, self.idle_seconds)
                self._retire_warm = weakref.finalize(self, self._warm.retire)
            ready = self._warm.ready
        return ready.wait(wait)

    @property
    def warm_pid(self) -> int | None:
        """The process id of the warm worker waiting for a job, if one is alive."""
        w = self._warm
        return w.process.pid if w is not None and w.process.is_alive() else None

    def warm_memory(self) -> int | None:
        """The warm worker's resident memory in bytes (Linux only; None when there is none)."""
        pid = self.warm_pid
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/status") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError, IndexError):  # not Linux, or it just exited
            return None

    def close(self) -> None:
        """No more warm workers: the waiting one ends (a run in progress goes on to its end)."""
        with self._guard:
            self.warm = False
            self._end_warm()

    def _end_warm(self) -> None:
        if self._retire_warm is not None:
            self._retire_warm()  # once only: a finalizer that ran does nothing
        self._warm = self._retire_warm = None

    def _take_warm(self) -> _Worker | None:
        """The warm worker, now the job's (None when there is no usable one)."""
        worker = self._warm
        if worker is not None and worker.usable(self.idle_seconds):
            self._retire_warm.detach()  # its job's relay sees it to its end
        else:
            worker = None
        self._end_warm()
        return worker

    def start(self, config, *, owner: str, data: Mnist | None = None, **limits) -> TrainingJob:
        """Start training `config` in a child process; raises TrainingBusy while any run holds the store.
        `limits`: `activate`, `max_seconds`, `after_save` (see TrainingJob)."""
        cfg = config if isinstance(config, TrainConfig) else TrainConfig(**config)
        cfg = cfg.resolved(None if data is None else data.n_train)
        job = TrainingJob(config=cfg, owner=owner, **limits)
        return self._launch(job, {"config": cfg}, data, f"DigitRec dashboard, {cfg.arch}")

    def start_fine_tune(
        self, *, owner: str, base: str | None = None, epochs: int | None = None, data: Mnist | None = None,
        samples: tuple | None = None, **limits,
    ) -> TrainingJob:
        """Fine-tune `base` (default: the active model) on the store's personal digits, or on
        `samples` = (x, y, ids) (a visitor's own, in public mode), in a child process."""
        from digitrec_core.models import FINE_TUNE

        cfg = FineTuneSettings(base, FINE_TUNE.epochs if epochs is None else epochs)
        job = TrainingJob(config=cfg, owner=owner, kind="finetune", **limits)
        spec = {"base": base, "epochs": epochs, "samples": samples}
        return self._launch(job, spec, data, "DigitRec dashboard, fine-tune")

    def _launch(self, job: TrainingJob, spec: dict, data: Mnist | None, holder: str) -> TrainingJob:
        with self._guard:
            if self.job is not None and self.job.running:
                raise TrainingBusy("A training run started in another tab is in progress. "
                                   "Wait for it to finish or stop it.")
            lock = StoreLock(self.store.root)
            lock.acquire(holder)
            try:
                args = (job.kind, spec, data, str(self.store.root), job.activate)
                worker = self._take_warm()
                if worker is not None:
                    worker.jobs.put(args)  # sent by the queue's thread: a child still warming up reads it after
                else:
                    worker = _Worker.spawn(args)
            except BaseException:
                lock.release()
                raise
            job.pid = worker.process.pid
            job.thread = threading.Thread(target=self._relay, args=(job, lock, worker), name="digitrec-training",
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

    def _relay(self, job: TrainingJob, lock: StoreLock, worker: _Worker) -> None:
        """Until the child's last word: its progress into `job.events`, a Stop to it, then the outcome; then a
        warm worker for the next job."""
        child, events, stop = worker.process, worker.events, worker.stop
        try:
            while True:
                if job.stop_event.is_set() and not stop.is_set():
                    stop.set()
                try:
                    event = events.get(timeout=_POLL)
                except queue.Empty:
                    if not child.is_alive():
                        job.error = f"The training process ended without a word (exit code {child.exitcode})."
                        break
                    continue
                if not isinstance(event, tuple):
                    job.events.append(event)
                    continue
                if event[0] == "error":
                    job.error = event[1]
                else:
                    job.result, job.saved = event[1], event[2]
                    if job.saved is not None and job.after_save is not None:
                        job.after_save(job.saved)
                break
        except Exception as e:  # the relay itself: say so rather than leave the job running for ever
            job.error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            child.join(timeout=30)
            worker.close()
            lock.release()
            job.finished_at = time.time()
        self.prewarm()
