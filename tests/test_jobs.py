import gc
import multiprocessing
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from digitrec_core import ModelStore
from digitrec_core.jobs import WARM_ENV, FineTuneSettings, TrainingSupervisor, epoch_history
from digitrec_core.store.lock import StoreLock, TrainingBusy
from tests.support import ROOT
from tests.support.wait import wait_until

WARM_UP = 180  # seconds: a warm worker imports TensorFlow and draws ~2,000 non-digits, on a busy machine
on_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_epoch_history_is_the_epoch_events_values_shaped_like_a_stored_history():
    """What the live view draws per epoch: the epoch events only (not the batches), None where a value is missing."""
    from digitrec_core.learning.training import Progress

    def event(kind, epoch, batch, loss, accuracy, val_loss=None, val_accuracy=None):
        return Progress(kind=kind, epoch=epoch, epochs=2, batch=batch, batches=4, loss=loss, accuracy=accuracy,
                        images_per_sec=1000.0, elapsed=1.0, val_loss=val_loss, val_accuracy=val_accuracy)

    events = [event("batch", 1, 4, 0.9, 0.1), event("epoch", 1, 4, 0.5, 0.8, 0.4, 0.85), event("batch", 2, 1, 0.7, 0.2),
              event("epoch", 2, 4, 0.3, 0.9)]
    assert epoch_history(events) == {"loss": [0.5, 0.3], "accuracy": [0.8, 0.9], "val_loss": [0.4, None],
                                     "val_accuracy": [0.85, None]}
    assert epoch_history([]) == {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}


def test_a_run_trains_in_the_background_and_saves(store_home, synthetic):
    sup = TrainingSupervisor()
    job = sup.start({"arch": "seed", "epochs": 2, "batch_size": 32}, owner="tab-1", data=synthetic)
    # start() returns at once; the run (seconds: TensorFlow loads, then two epochs) goes on on its own thread.
    assert sup.job is job and job.running and job.thread.is_alive() and job.result is None
    assert job.wait(120)
    assert job.error is None and not job.result.stopped
    assert [e.epoch for e in job.events if e.kind == "epoch"] == [1, 2]
    store = ModelStore()
    assert job.saved.info.name in [i.name for i in store.list()]
    # Judged against the shipped model: made active only if it is not worse.
    assert job.saved.activated == (job.result.test_accuracy >= job.saved.previous.test_accuracy)
    assert (store.active_name() == job.saved.info.name) == job.saved.activated


def test_second_run_is_refused_while_one_is_in_progress(store_home, synthetic):
    sup = TrainingSupervisor()
    job = sup.start({"arch": "seed", "epochs": 50, "batch_size": 32}, owner="tab-1", data=synthetic)
    try:
        with pytest.raises(TrainingBusy, match="in progress"):
            sup.start({"arch": "seed", "epochs": 1}, owner="tab-2", data=synthetic)
    finally:
        job.stop()
        assert job.wait(60)


def test_stop_saves_nothing_and_frees_the_store(store_home, synthetic):
    sup = TrainingSupervisor()
    job = sup.start({"arch": "seed", "epochs": 50, "batch_size": 32}, owner="tab-1", data=synthetic)
    wait_until(lambda: job.events, 120, "the run's first progress event")
    job.stop()
    assert job.wait(60)
    assert job.result.stopped and job.saved is None and ModelStore().list() == []
    again = sup.start({"arch": "seed", "epochs": 1, "batch_size": 32}, owner="tab-2", data=synthetic)
    assert again.wait(60) and again.saved is not None


def test_another_process_holding_the_store_lock_blocks_training(store_home, synthetic):
    with StoreLock(store_home) as other:
        other.acquire("python -m digitrec_cli train")
        with pytest.raises(TrainingBusy, match="python -m digitrec_cli train"):
            TrainingSupervisor().start({"arch": "seed", "epochs": 1}, owner="tab-1", data=synthetic)
    job = TrainingSupervisor().start({"arch": "seed", "epochs": 1, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert job.wait(60) and job.error is None


def test_a_failing_run_reports_its_error_and_releases_the_lock(store_home, synthetic):
    sup = TrainingSupervisor()
    job = sup.start({"arch": "seed", "epochs": 1, "batch_size": 100_000}, owner="tab-1", data=synthetic)
    assert job.wait(60)
    assert "batch size" in job.error and job.saved is None
    with StoreLock(store_home) as lock:
        lock.acquire("test")  # free again


def test_a_fine_tune_runs_in_the_background_and_is_judged(store_home, synthetic):
    from digitrec_core import PersonalDigits
    from tests.support.mnist import own_hand

    sup = TrainingSupervisor()
    base = sup.start({"arch": "seed", "epochs": 2, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert base.wait(120) and base.error is None
    ModelStore().activate(base.saved.info.name)
    personal = PersonalDigits()
    for digit, label in zip(*own_hand(40)):
        personal.add(digit, int(label))
    job = sup.start_fine_tune(owner="tab-1", epochs=2, data=synthetic)
    assert job.kind == "finetune" and job.config == FineTuneSettings(base=None, epochs=2)
    with pytest.raises(TrainingBusy):
        sup.start({"arch": "seed", "epochs": 1}, owner="tab-2", data=synthetic)
    assert job.wait(120) and job.error is None, job.error
    assert job.result.base == base.saved.info.name == ModelStore().info(job.saved.info.name).parent
    assert [c.measure for c in job.saved.comparison] == ["MNIST test accuracy", "held-out personal accuracy",
                                                         "held-out personal log-loss"]
    assert job.saved.reason


def test_a_fine_tune_with_too_few_digits_reports_why(store_home, synthetic):
    job = TrainingSupervisor().start_fine_tune(owner="tab-1", data=synthetic)
    assert job.wait(60) and "at least" in job.error and job.saved is None


def test_the_lock_holds_on_a_full_disk_and_is_made_as_open_makes_files(tmp_path, monkeypatch):
    """Who holds it is a courtesy: a disk too full to say so must not leave an error and a lock held by nobody."""
    import errno
    import os
    import stat

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    old = os.umask(0o002)
    try:
        with StoreLock(tmp_path) as lock:
            monkeypatch.setattr(os, "write", no_space)
            lock.acquire("digitrec train")
            monkeypatch.undo()
            with pytest.raises(TrainingBusy):
                StoreLock(tmp_path).acquire("another run")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "training.lock").stat().st_mode) == 0o664
    with StoreLock(tmp_path) as again:
        again.acquire("after it")  # released


# ---- warm workers: a child started ahead of need, which runs the next job ---------------------------------------


def gone(pid: int) -> bool:
    """The process exited (a zombie nobody reaped yet counts: it runs nothing)."""
    multiprocessing.active_children()  # reaps this process's children that exited
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def warm_sup(store_home):
    """A supervisor with warm workers, which must leave no process behind once closed."""
    sup = TrainingSupervisor(warm=True)
    yield sup
    sup.close()
    if sup.job is not None and sup.job.stop():
        sup.job.wait(120)
    wait_until(lambda: not multiprocessing.active_children(), 30, "every child process exited")


@on_linux
def test_a_warm_worker_takes_the_next_run_and_another_waits_after_it(warm_sup, synthetic):
    # Ready: it imported Keras and drew the fine-tune's non-digits before any job was sent.
    assert warm_sup.prewarm(wait=WARM_UP)
    pid = warm_sup.warm_pid
    assert warm_sup.warm_memory() > 100 * 2**20  # TensorFlow is in it
    assert warm_sup.prewarm() and warm_sup.warm_pid == pid  # one is enough
    job = warm_sup.start({"arch": "seed", "epochs": 1, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert job.pid == pid and warm_sup.warm_pid is None and warm_sup.warm_memory() is None
    assert job.wait(120) and job.error is None, job.error
    assert job.saved.info.name in [i.name for i in ModelStore().list()]
    wait_until(lambda: gone(pid), 30, "the warm worker exited after its one job")
    after = warm_sup.warm_pid  # the run's end started the next one
    assert after is not None and after != pid
    warm_sup.close()
    wait_until(lambda: gone(after), 30, "close() ended the waiting worker")
    assert not warm_sup.prewarm() and warm_sup.warm_pid is None


@on_linux
def test_stop_reaches_a_run_in_a_warm_worker_still_warming_up(warm_sup, synthetic):
    warm_sup.prewarm()
    pid = warm_sup.warm_pid
    job = warm_sup.start({"arch": "seed", "epochs": 50, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert job.pid == pid  # taken while warming up: it starts the job after
    wait_until(lambda: job.events or not job.running, 120, "the first progress event")
    job.stop()
    assert job.wait(60) and job.error is None, job.error
    assert job.result.stopped and job.saved is None and ModelStore().list() == []


@on_linux
def test_a_dead_warm_worker_is_replaced_by_a_fresh_process(warm_sup, synthetic):
    warm_sup.prewarm()
    pid = warm_sup.warm_pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: gone(pid), 30, "the killed worker exited")
    job = warm_sup.start({"arch": "seed", "epochs": 1, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert job.pid not in (None, pid)
    assert job.wait(120) and job.error is None and job.saved is not None, job.error


@on_linux
def test_a_warm_worker_ends_with_its_supervisor_or_after_idling(store_home):
    sup = TrainingSupervisor(warm=True)
    sup.prewarm()
    pid = sup.warm_pid
    del sup
    gc.collect()
    wait_until(lambda: gone(pid), 30, "a collected supervisor's worker exited")

    sup = TrainingSupervisor(warm=True, idle_seconds=1)
    sup.prewarm()
    pid = sup.warm_pid
    wait_until(lambda: gone(pid), WARM_UP, "the worker gave up after warming up and idling 1 s")
    sup.prewarm()  # a fresh one
    assert sup.warm_pid not in (None, pid)
    sup.close()


@on_linux
def test_a_warm_worker_ends_with_its_server(store_home):
    code = ("from digitrec_core.jobs import TrainingSupervisor\n"
            "sup = TrainingSupervisor(warm=True)\nsup.prewarm()\nprint(sup.warm_pid, flush=True)\ninput()\n")
    server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(server.stdout.readline())
    finally:
        server.kill()  # as a crash: no atexit, no finalizer
        server.wait(30)
    wait_until(lambda: gone(pid), WARM_UP, "the orphaned worker noticed and exited")


@pytest.mark.parametrize(("value", "warm"), [("0", False), ("off", False), (" False ", False), ("NO", False),
                                             ("1", True), ("on", True), (None, True)])
def test_the_warm_worker_switch_is_the_environment_unless_told(value, warm, monkeypatch, store_home):
    if value is None:
        monkeypatch.delenv(WARM_ENV, raising=False)
    else:
        monkeypatch.setenv(WARM_ENV, value)
    assert TrainingSupervisor().warm is warm
    assert TrainingSupervisor(warm=not warm).warm is (not warm)


def test_without_warm_workers_a_process_lives_for_its_run_only(store_home, synthetic, monkeypatch):
    monkeypatch.setenv(WARM_ENV, "off")
    for sup in TrainingSupervisor(), TrainingSupervisor(warm=False):
        assert not sup.prewarm() and sup.warm_pid is None and sup.warm_memory() is None
        assert not multiprocessing.active_children()
    job = sup.start({"arch": "seed", "epochs": 1, "batch_size": 32}, owner="tab-1", data=synthetic)
    assert [p.pid for p in multiprocessing.active_children()] == [job.pid]
    assert job.wait(120) and job.error is None, job.error
    wait_until(lambda: not multiprocessing.active_children(), 30, "the run's process exited")
    assert sup.warm_pid is None  # and none started after it


@pytest.mark.parametrize("came_during", [0, 1, 3])
def test_a_warm_worker_starts_a_job_that_came_while_it_warmed_up_at_once(monkeypatch, came_during):
    """`_warm_child` in this process: a job sent during warm-up step `came_during` starts after that step, the
    others left undone (they only save time); one sent after the last step starts once the worker is ready."""
    import queue
    import threading

    from digitrec_core import jobs
    from digitrec_core.learning import finetune

    done, ran = [], []
    waiting, ready = queue.Queue(), threading.Event()
    job = ("train", {"config": None}, None, "/nowhere", "auto")

    def step(i):
        def run():
            done.append(i)
            if i == came_during:
                waiting.put(job)
        return run

    monkeypatch.setattr(finetune, "warm_up_steps", lambda: [step(0), step(1), step(2), step(3)])
    monkeypatch.setattr(jobs, "_settle_in", lambda: None)  # not this test process: no nice, no quiet
    monkeypatch.setattr(jobs, "_run", lambda *args: ran.append(args))
    jobs._warm_child(waiting, "events", "stop", ready, idle_seconds=60, server=os.getppid())
    assert done == list(range(came_during + 1))
    assert ran == [(*job, "events", "stop")]
    assert ready.is_set() is (came_during == 3)  # warmed up only when every step ran


def test_training_processes_keep_tensorflows_start_up_lines_out_of_the_servers_terminal(store_home, monkeypatch):
    """A server (here a Python process) whose warm worker imports TensorFlow and runs a job: what reaches its
    terminal (stderr, which the children share) holds none of TensorFlow's, absl's or Keras's lines."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a user runs it (conftest sets one for tests)
    code = ("from digitrec_core.jobs import TrainingSupervisor\nfrom tests.support.mnist import make_synthetic\n"
            "sup = TrainingSupervisor(warm=True)\nsup.prewarm()\n"
            "job = sup.start({'arch': 'seed', 'epochs': 1, 'batch_size': 32}, owner='t', "
            "data=make_synthetic(300, 100))\n"
            "assert job.wait(300) and job.error is None, job.error\nprint(len(job.events), flush=True)\nsup.close()\n")
    server = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WARM_UP,
                            cwd=ROOT)  # `python -c` imports from its working directory: tests.support imports
    assert server.returncode == 0 and int(server.stdout) > 0, server.stderr
    assert not re.search(r"^(I0000|W0000|E0000|WARNING:)|oneDNN", server.stderr, re.M), server.stderr
