"""The processes a test started and what is left of them, read from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def processes() -> dict[int, tuple[int, int]]:
    """Every live process: pid -> (parent pid, session id). Zombies are left out: they hold nothing."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        state, ppid, _pgrp, sid = stat[stat.rindex(")") + 2:].split()[:4]  # after "pid (command) "
        if state not in ("Z", "X"):
            out[int(entry.name)] = (int(ppid), int(sid))
    return out


def command(pid: int) -> str:
    """The process's argv[0] ("ray::DashboardAgent" for Ray's named processes); "" once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def descendants(pid: int) -> set[int]:
    """The live processes below `pid` (children, theirs, and so on)."""
    children: dict[int, list[int]] = {}
    for p, (ppid, _) in processes().items():
        children.setdefault(ppid, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def in_session(sid: int) -> set[int]:
    """The live processes of session `sid` (a process started with start_new_session=True has its pid as sid)."""
    return {p for p, (_, s) in processes().items() if s == sid}


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait until none of `pids` lives, at most `timeout` seconds; those still alive."""
    deadline = time.monotonic() + timeout
    while (left := pids & set(processes())) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_all(pids: set[int]) -> None:
    """SIGKILL to what a test started and left (`pids` are its own processes only)."""
    for p in pids & set(processes()):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
