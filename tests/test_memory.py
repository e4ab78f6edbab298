"""digitrec_app.ui.memory: the dashboard's release of memory once it goes quiet."""

from __future__ import annotations

import gc
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


def test_the_watcher_releases_twice_per_quiet_spell_the_second_time_reaping_and_starts_once(monkeypatch):
    released = []
    monkeypatch.setattr(memory, "release", lambda reap=False: released.append(reap) or {})
    monkeypatch.setattr(memory, "_started", False)
    memory.note_script_run()
    assert memory.start_idle_release(idle=0.2, poll=0.05, ttl=0.3)
    assert not memory.start_idle_release(idle=0.2, poll=0.05, ttl=0.3)  # once per process
    time.sleep(1.0)
    assert released == [False, True]  # a collection at 0.2 s, then with sessions reaped at 0.5 s
    time.sleep(0.4)
    assert released == [False, True]  # nothing ran since: no more releases
    memory.note_script_run()
    time.sleep(1.0)
    assert released == [False, True, False, True]  # a new quiet spell


def test_expired_sessions_are_reaped_through_streamlits_session_store(monkeypatch, caplog):
    from types import SimpleNamespace

    from streamlit import runtime
    from streamlit.runtime.caching.ttl_cache import TTLCache

    now = [0.0]
    cache = TTLCache(maxsize=10, ttl=120, timer=lambda: now[0])
    cache["gone"], cache["kept"] = "session of a visitor who left", "session of one who may come back"
    now[0] = 60.0
    cache["kept"] = "session of one who may come back"  # saved later: expires later
    fake = SimpleNamespace(_session_mgr=SimpleNamespace(_session_storage=SimpleNamespace(_cache=cache)))
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: fake)
    now[0] = 150.0
    assert memory.reap_disconnected_sessions() is True
    assert list(cache._expirations) == ["kept"]  # the expired one is gone, not merely hidden
    assert memory.release(reap=True)["reaped"] is True

    monkeypatch.setattr(runtime, "get_instance", lambda: SimpleNamespace())  # a Streamlit that moved it
    monkeypatch.setattr(memory, "_reap_warned", False)
    with caplog.at_level("WARNING", logger="digitrec"):
        assert memory.reap_disconnected_sessions() is None
        assert memory.reap_disconnected_sessions() is None
    assert caplog.text.count("could not reap expired Streamlit sessions") == 1  # said once


def test_the_session_ttl_is_streamlits_option():
    import streamlit as st

    assert memory.session_ttl() == float(st.get_option("server.disconnectedSessionTTL"))


@pytest.fixture(autouse=True)
def _restore_started():
    started = memory._started
    yield
    memory._started = started
