"""Give memory back once the dashboard goes quiet.

`runner.postScriptGC` is off (a full collection after every stroke costs more than it frees), so after
the visitors leave nothing allocates and nothing runs Python's cyclic collector: the cycles their
sessions left (figures, Streamlit's messages) stay, and glibc keeps the freed heap rather than return it.
One thread per process collects and trims once, when no script has run for `IDLE_SECONDS`
(20-75 MB back after each part of bench/load.py's load; what training leaves, TensorFlow holds beyond
reach: see README, Under load).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time

IDLE_SECONDS = 30.0
_POLL_SECONDS = 5.0

_last_run = time.monotonic()
_released_after = _last_run - 1  # the script run the last release followed (none yet)
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


def release() -> dict:
    """A full collection, then the heap's free pages back to the OS (glibc only); what each did."""
    collected = gc.collect()
    trimmed = bool(_TRIM(0)) if _TRIM is not None else None
    return {"collected": collected, "trimmed": trimmed}


def note_script_run() -> None:
    """Called on every script run: the dashboard is busy."""
    global _last_run
    _last_run = time.monotonic()


def due(last_run: float, released_after: float, now: float, idle: float = IDLE_SECONDS) -> bool:
    """Release now? Once per quiet spell: `idle` s after the last script run, unless done since it."""
    return released_after < last_run and now - last_run >= idle


def _watch(idle: float, poll: float) -> None:
    global _released_after
    while True:
        time.sleep(poll)
        last = _last_run
        if due(last, _released_after, time.monotonic(), idle):
            release()
            _released_after = last


def start_idle_release(idle: float = IDLE_SECONDS, poll: float = _POLL_SECONDS) -> bool:
    """Start the watcher (once per process); True if this call started it."""
    global _started
    with _start_lock:
        if _started:
            return False
        threading.Thread(target=_watch, args=(idle, poll), name="digitrec-idle-release", daemon=True).start()
        _started = True
        return True
