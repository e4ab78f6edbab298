"""Give memory back once the dashboard goes quiet.

`runner.postScriptGC` is off (a full collection after every stroke costs more than it frees), so after
the visitors leave nothing allocates and nothing runs Python's cyclic collector: the cycles their
sessions left (figures, Streamlit's messages) stay, and glibc keeps the freed heap rather than return it.
Streamlit also keeps each disconnected session for `server.disconnectedSessionTTL` (120 s) so that a
tab can reconnect, and drops an expired one only on the session store's next write, which an idle
server never makes. One thread per process therefore releases twice in a quiet spell: `IDLE_SECONDS`
after the last script run (a collection and a trim: 20-75 MB back after each part of bench/load.py's
load), and again once the sessions of the visitors who left have expired (reaped through
`streamlit_private.expire_disconnected_sessions`, then collected).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time

from digitrec_app import streamlit_private

IDLE_SECONDS = 30.0
_POLL_SECONDS = 5.0

_last_run = time.monotonic()
_started = False
_start_lock = threading.Lock()


def _malloc_trim():
    """glibc's malloc_trim, or None (musl, macOS, Windows: nothing to trim this way)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release(reap: bool = False) -> dict:
    """(With `reap`, expired sessions dropped first,) a full collection, then the heap's free pages back
    to the OS (glibc only); what each did."""
    reaped = streamlit_private.expire_disconnected_sessions() if reap else None
    collected = gc.collect()
    trimmed = bool(_TRIM(0)) if _TRIM is not None else None
    return {"reaped": reaped, "collected": collected, "trimmed": trimmed}


def note_script_run() -> None:
    """Called on every script run: the dashboard is busy."""
    global _last_run
    _last_run = time.monotonic()


def due(last_run: float, released_after: float, now: float, idle: float) -> bool:
    """Release now? Once per quiet spell and stage: `idle` s after the last script run, unless done since it."""
    return released_after < last_run and now - last_run >= idle


def session_ttl() -> float:
    """How long Streamlit keeps a disconnected session (server.disconnectedSessionTTL; 120 s by default)."""
    try:
        import streamlit as st

        return float(st.get_option("server.disconnectedSessionTTL"))
    except Exception:  # an older or newer Streamlit without the option
        return 120.0


def _watch(stages: tuple[tuple[float, bool], ...], poll: float) -> None:
    released_after = [_last_run - 1] * len(stages)  # per stage: the script run its last release followed
    while True:
        time.sleep(poll)
        last = _last_run
        for k, (idle, reap) in enumerate(stages):
            if due(last, released_after[k], time.monotonic(), idle):
                release(reap=reap)
                released_after[k] = last


def start_idle_release(idle: float = IDLE_SECONDS, poll: float = _POLL_SECONDS, ttl: float | None = None) -> bool:
    """Start the watcher (once per process); True if this call started it. It releases `idle` s into a
    quiet spell, and again with expired sessions reaped `ttl` (default: Streamlit's) + `idle` s into it."""
    global _started
    with _start_lock:
        if _started:
            return False
        stages = ((idle, False), ((session_ttl() if ttl is None else ttl) + idle, True))
        threading.Thread(target=_watch, args=(stages, poll), name="digitrec-idle-release", daemon=True).start()
        _started = True
        return True
