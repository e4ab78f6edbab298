"""digitrec_app.ui.memory: the dashboard's release of memory once it goes quiet."""

from __future__ import annotations

import gc
import threading
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


class _FakeClock:
    """Stands in for the `time` module inside `memory`: `monotonic()` reads a clock that only `sleep()` moves,
    each sleep then runs what the test scheduled for that moment, and sleeping past `end` raises `Over`
    (which ends the watcher's endless loop). No real time passes, so nothing can race."""

    class Over(Exception):
        pass

    def __init__(self, end: float):
        self.now, self.end, self.at = 0.0, end, {}

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.end:
            raise self.Over
        if self.now in self.at:
            self.at.pop(self.now)()


def test_the_watcher_releases_twice_per_quiet_spell_the_second_time_reaping(monkeypatch):
    clock, released, ended = _FakeClock(end=20), [], threading.Event()
    monkeypatch.setattr(memory, "time", clock)
    monkeypatch.setattr(memory, "_last_run", memory._last_run)  # restored afterwards
    monkeypatch.setattr(memory, "release", lambda reap=False: released.append((clock.now, reap)) or {})
    memory.note_script_run()  # at 0 s
    clock.at[10.0] = memory.note_script_run  # the dashboard busy again at 10 s: a new quiet spell

    def watch():  # idle 2 s, then sessions kept 3 s more; polled every second
        try:
            memory._watch(((2.0, False), (5.0, True)), poll=1.0)
        except _FakeClock.Over:
            ended.set()

    threading.Thread(target=watch, daemon=True).start()  # a thread only for the deadline below
    assert ended.wait(10), "the watcher did not run to the end of the fake clock (does it still use memory.time?)"
    # a collection 2 s into each quiet spell, then one with expired sessions reaped; nothing between spells
    assert released == [(2.0, False), (5.0, True), (12.0, False), (15.0, True)]


def test_the_watcher_starts_once_per_process_and_reaps_after_streamlits_session_ttl(monkeypatch):
    stages, ran = [], threading.Event()
    monkeypatch.setattr(memory, "_started", False)
    monkeypatch.setattr(memory, "session_ttl", lambda: 120.0)
    monkeypatch.setattr(memory, "_watch", lambda s, poll: (stages.append((s, poll)), ran.set()))
    assert memory.start_idle_release(idle=2.0, poll=1.0)
    assert not memory.start_idle_release(idle=2.0, poll=1.0)  # once per process
    assert ran.wait(10), "the watcher's thread did not start"
    assert stages == [(((2.0, False), (122.0, True)), 1.0)]  # reaping once the sessions that left have expired


def test_release_reaps_through_streamlit_private_only_when_asked(monkeypatch):
    """How expired sessions are dropped is tested in test_streamlit_private.py; here, that release uses it."""
    calls = []
    monkeypatch.setattr(memory.streamlit_private, "expire_disconnected_sessions", lambda: calls.append(1) or True)
    assert memory.release(reap=True)["reaped"] is True and calls == [1]
    assert memory.release()["reaped"] is None and calls == [1]


def test_the_session_ttl_is_streamlits_option():
    import streamlit as st

    assert memory.session_ttl() == float(st.get_option("server.disconnectedSessionTTL"))


@pytest.fixture(autouse=True)
def _restore_started():
    started = memory._started
    yield
    memory._started = started
