"""`digitrec app` stays the parent of the server it starts: a signal that stops it is passed on, and it exits
with the server, leaving no process behind and the port free."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.chromium import free_port, healthy
from tests.support.processes import descendants, in_session, kill_all, wait_gone

DIGITREC = Path(sys.executable).with_name("digitrec")


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (SO_REUSEADDR: closed connections do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


# ---- digitrec app ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 0), (signal.SIGHUP, 128 + signal.SIGHUP)])
def test_digitrec_app_passes_a_signal_to_its_server_and_exits_with_it(tmp_path, sig, code):
    """SIGTERM and SIGINT: Streamlit stops cleanly (0); SIGHUP, which Streamlit does not handle, ends it: 129."""
    port, log = free_port(), tmp_path / "app.log"
    with open(log, "wb") as out:
        app = subprocess.Popen([str(DIGITREC), "app", "--server.port", str(port), "--server.headless=true",
                                "--server.address=127.0.0.1"], stdout=out, stderr=subprocess.STDOUT,
                               env={**os.environ, "DIGITREC_HOME": str(tmp_path / "home")}, start_new_session=True)
    started = set()
    try:
        deadline = time.monotonic() + 90
        while not healthy(f"http://127.0.0.1:{port}"):
            assert app.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the server did not answer within 90 s:\n" + log.read_text()[-3000:]
            time.sleep(0.1)
        started = descendants(app.pid)
        assert started, "digitrec app runs the server as its child"
        app.send_signal(sig)
        exited = app.wait(timeout=20)
        assert not wait_gone(started, timeout=10), "the server outlived digitrec app"
        assert port_free(port) and not healthy(f"http://127.0.0.1:{port}")
        assert exited == code, log.read_text(errors="replace")[-3000:]
    finally:
        kill_all({app.pid} | started | in_session(app.pid))
        app.wait(timeout=10)


# ---- supervise, with a small child ------------------------------------------------------------------

def _supervised(child_code: str, kill_after: float) -> subprocess.Popen:
    """`supervise` in a process of its own (the signal handlers are its own), running `child_code` in Python:
    the child prints its pid once its handlers are set; this returns once that line is read."""
    code = textwrap.dedent(f"""
        import sys
        from digitrec_app.launch import supervise
        sys.exit(supervise([sys.executable, "-c", {child_code!r}], kill_after={kill_after}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    assert ready, "the supervised child did not start within 30 s"
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"supervise did not start the child: {line!r}"
    proc.child_pid = int(line)
    return proc


CHILD = ("import os, signal, time; signal.signal(signal.SIGTERM, {handler}); print(os.getpid(), flush=True); "
         "time.sleep(60)")


def test_supervise_kills_a_child_that_ignores_the_signal_once_its_time_is_up():
    proc = _supervised(CHILD.format(handler="signal.SIG_IGN"), kill_after=1)
    try:
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 128 + signal.SIGKILL
        assert 1 <= time.monotonic() - sent < 10  # given its second, then killed
        assert not wait_gone({proc.child_pid}, timeout=5)
    finally:
        kill_all({proc.pid, proc.child_pid})
        proc.wait(timeout=10)


def test_supervise_exits_with_the_childs_own_code():
    proc = _supervised(CHILD.format(handler="lambda *_: os._exit(3)"), kill_after=30)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 3
    finally:
        kill_all({proc.pid, proc.child_pid})
        proc.wait(timeout=10)


# ---- the options it passes ------------------------------------------------------------------------------------

def test_digitrec_app_hides_the_deploy_button_and_a_users_flag_still_wins():
    """`client.toolbarMode=minimal`: no Deploy button or developer menu for whoever opens the page (Streamlit shows
    them to every visitor through localhost); a user's own `--client.toolbarMode` comes after it, so it wins."""
    from digitrec_app import streamlit_private
    from digitrec_app.launch import flag_options, streamlit_command

    try:
        cmd, _ = streamlit_command([])
        assert flag_options(cmd)["client.toolbarMode"] == "minimal"
        cmd, _ = streamlit_command(["--client.toolbarMode", "developer"])
        assert flag_options(cmd)["client.toolbarMode"] == "developer"  # the later flag: Streamlit takes it too
    finally:  # streamlit_command parsed Streamlit's config with the test's flags: parse the project's again
        streamlit_private.reparse_config({})
