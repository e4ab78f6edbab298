"""What `digitrec app` runs: the `streamlit run` command line, and what to say before the server starts.

Streamlit runs no app code until the first visitor's page loads, so `digitrec app` reads the two
settings that matter before it starts the server: public mode (the environment, or Streamlit's
secrets files, as the dashboard reads it) and the address the server will listen on (the user's
flags, else Streamlit's config files and environment).

`run_server` then runs the server as a child and stays its parent: a signal that stops `digitrec app`
(SIGTERM from `kill`, SIGINT, SIGHUP) is passed on to the server, so the port is never left held by an
orphan, and `digitrec app` exits with the server's code.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path

from digitrec_app import APP_SCRIPT, PUBLIC_SERVER_OPTIONS, SERVER_OPTIONS, streamlit_private
from digitrec_core.public import is_public

# What stops `digitrec app` and is passed on to the server (SIGHUP: a closed terminal; POSIX only).
FORWARDED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
KILL_AFTER = 10.0  # seconds a server has to stop after a forwarded signal (Streamlit takes ~1 s) before it is killed

ALL_INTERFACES = (None, "", "0.0.0.0", "::")  # server.address values that listen beyond localhost

EXPOSED = (
    "DigitRec listens on every network interface (server.address is {address}) without public mode: anyone who "
    "reaches it can change the active model and train without limits. Set DIGITREC_PUBLIC=1 for a shared "
    "server (see docs/public-mode.md), or --server.address=localhost for yourself."
)


def exposed_warning(address: str | None, public: bool) -> str | None:
    """The start-up warning when a server without public mode listens beyond localhost; None otherwise."""
    if public or address not in ALL_INTERFACES:
        return None
    return EXPOSED.format(address=address or "unset")


def flag_options(args: Sequence[str]) -> dict[str, str]:
    """`--section.key=value` and `--section.key value` options among `streamlit run`'s arguments."""
    options, i = {}, 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "." in arg.split("=", 1)[0]:
            key, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(args) and not args[i + 1].startswith("--"):
                i += 1
                value = args[i]
            options[key] = value
        i += 1
    return options


def read_secrets(files: Sequence[str | Path]) -> dict:
    """Streamlit's secrets files merged as Streamlit merges them (later files win); unreadable ones skipped
    (Streamlit reports those itself when the dashboard reads them)."""
    secrets: dict = {}
    for file in files:
        try:
            secrets.update(tomllib.loads(Path(file).read_text()))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return secrets


def streamlit_command(user_args: Sequence[str]) -> tuple[list[str], str | None]:
    """`streamlit run` on the packaged script with DigitRec's server options (the user's after them, so
    theirs win), and the warning to print before it starts, if any."""
    from streamlit import config  # only its config module: ~0.25 s, no server

    flags = flag_options(user_args)
    streamlit_private.reparse_config(flags)
    public = is_public(read_secrets(config.get_option("secrets.files")))
    options = {**SERVER_OPTIONS, **(PUBLIC_SERVER_OPTIONS if public else {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
           *(f"--{k}={v}" for k, v in options.items()), *user_args]
    return cmd, exposed_warning(config.get_option("server.address"), public)


def exit_code(returncode: int) -> int:
    """A child's exit status as a shell reports it: its own code, or 128 + the signal that ended it."""
    return 128 - returncode if returncode < 0 else returncode


def run_server(user_args: Sequence[str]) -> int:
    """Run the dashboard's server (`streamlit_command`) under `supervise`, after its start-up warning if any."""
    cmd, warning = streamlit_command(user_args)
    if warning:
        print(f"Warning: {warning}", file=sys.stderr)
    return supervise(cmd)


def supervise(cmd: Sequence[str], *, kill_after: float = KILL_AFTER) -> int:
    """Run `cmd` until it exits, passing on SIGTERM, SIGINT and SIGHUP to it and killing it if it has not
    exited `kill_after` seconds after the first; returns its `exit_code`.

    A child rather than `os.execv`: on Windows execv starts a new process and ends this one, so the server
    would be as unreachable from whoever started `digitrec app` as an orphan is. (A Ctrl-C in a terminal
    reaches both processes, so the server hears it twice: Streamlit stops once.)"""
    child: subprocess.Popen | None = None
    received: list[int] = []
    deadline = threading.Timer(kill_after, lambda: child.kill() if child is not None else None)
    deadline.daemon = True

    def forward(signum: int, _frame: object = None) -> None:
        received.append(signum)
        if child is None:  # not started yet: it is told right after it starts
            return
        child.send_signal(signum)  # a no-op once it has exited
        if deadline.ident is None:  # the first signal starts the clock
            deadline.start()

    # Installed before the start, so that no signal in between ends this process alone.
    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        child = subprocess.Popen(cmd)
        if received:
            forward(received[-1])
        return exit_code(child.wait())
    finally:
        deadline.cancel()
        for s, handler in previous.items():
            signal.signal(s, handler)
