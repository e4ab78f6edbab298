"""digitrec_app.ui.memory: the dashboard's release of memory once it goes quiet."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from digitrec_app.ui import memory


def test_due_once_per_quiet_spell():
    assert not memory.due(last_run=100.0, released_after=50.0, now=120.0, idle=30.0)  # still busy
    assert memory.due(last_run=100.0, released_after=50.0, now=130.0, idle=30.0)  # quiet for 30 s
    assert not memory.due(last_run=100.0, released_after=100.0, now=500.0, idle=30.0)  # done for this spell
    assert memory.due(last_run=600.0, released_after=100.0, now=640.0, idle=30.0)  # a new spell


class _Cycle:
    def __init__(self):
        self.me = self


def test_release_collects_cycles_and_trims_on_glibc():
    gc.disable()  # only release() may collect the cycle below
    try:
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        del cycle
        assert ref() is not None  # a cycle: reference counting alone does not free it
        done = memory.release()
        assert ref() is None
        assert done["collected"] >= 1
    finally:
        gc.enable()
    if memory._TRIM is not None:  # glibc: malloc_trim returns 1 when it gave memory back, else 0
        assert done["trimmed"] in (True, False)
    else:
        assert done["trimmed"] is None


def test_the_watcher_releases_after_the_quiet_spell_and_starts_once(monkeypatch):
    released = threading.Event()
    monkeypatch.setattr(memory, "release", lambda: released.set() or {})
    monkeypatch.setattr(memory, "_started", False)
    memory.note_script_run()
    assert memory.start_idle_release(idle=0.2, poll=0.05)
    assert not memory.start_idle_release(idle=0.2, poll=0.05)  # once per process
    assert released.wait(5)
    released.clear()
    time.sleep(0.4)
    assert not released.is_set()  # nothing ran since: no second release
    memory.note_script_run()
    assert released.wait(5)


@pytest.fixture(autouse=True)
def _restore_started():
    started = memory._started
    yield
    memory._started = started
