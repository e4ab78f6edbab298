"""What stops a local Ray session's leftovers once the sweep's driver has ended, even by kill -9.

Ray ties its head processes (GCS, raylet) to the driver that started them, and its workers to the
raylet, but its two agents (DashboardAgent, RuntimeEnvAgent) outlive a hard-killed driver by about
60 s: they wait that long to report the raylet's death to the GCS, which died with it (Ray's
`gcs_rpc_server_reconnect_timeout_s` does not shorten it). So the driver starts a watcher: this file run
as a script (standard library only, so it costs a bare Python), in a session of its own (a Ctrl-C or a
closed terminal does not reach it). The driver holds the write end of its stdin: when the driver ends,
however, the watcher reads end-of-file and stops every process of this Ray session still there
(SIGTERM, then SIGKILL after `GRACE` seconds). A process is of the session when it runs Ray's code
(`ray::...`, or a program in Ray's package folder) and holds a file in the session's folder, which Ray
names after the time and the driver's pid: never another sweep's or another user's Ray. Linux only (it
reads /proc); elsewhere the agents end on their own after ~60 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE = 3.0  # seconds between SIGTERM and SIGKILL


class SessionReaper:
    """The driver's end of the watcher: `start` it after `ray.init`, `close` it after `ray.shutdown()`."""

    def __init__(self, watcher: subprocess.Popen | None):
        self.watcher = watcher

    @classmethod
    def start(cls, session_dir: str, ray_dir: str) -> SessionReaper:
        if not os.path.isdir("/proc/self/fd"):
            return cls(None)
        return cls(subprocess.Popen([sys.executable, "-P", __file__, session_dir, ray_dir], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def close(self, timeout: float = 10.0) -> None:
        """The driver is done with Ray: the watcher sweeps up now, and is waited for."""
        if self.watcher is None:
            return
        self.watcher.stdin.close()
        try:
            self.watcher.wait(timeout)
        except subprocess.TimeoutExpired:  # it finishes on its own; the sweep's result matters more
            pass


def session_processes(session_dir: str, ray_dir: str) -> list[int]:
    """This user's processes of the Ray session in `session_dir`, from /proc."""
    session_dir, found = os.path.realpath(session_dir), []  # /proc shows the resolved path of a file
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not (argv[0].startswith("ray::") or any(a.startswith(ray_dir + os.sep) for a in argv[:3])):
                continue
            fds = Path(entry.path, "fd")
            if any(os.readlink(fd).startswith(session_dir + os.sep) for fd in fds.iterdir()):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or another user's (its fds are not ours to read)
            continue
    return found


def stop_session(session_dir: str, ray_dir: str, *, grace: float = GRACE) -> None:
    """SIGTERM to the session's processes, SIGKILL to those still there `grace` seconds later."""
    def send(sig: int) -> None:
        for pid in session_processes(session_dir, ray_dir):
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and session_processes(session_dir, ray_dir):
        time.sleep(0.1)
    send(signal.SIGKILL)


if __name__ == "__main__":  # the watcher: wait for the driver to end (end-of-file on stdin), then sweep up
    sys.stdin.buffer.read()
    stop_session(*sys.argv[1:3])
