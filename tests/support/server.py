"""A dashboard server (`bench.chromium.Server`) for a module of browser tests."""

import pytest


def serving(server):
    """A module fixture's body for a dashboard server (bench.chromium.Server): healthy, then
    stopped however the tests end, with the server's tracebacks (a failed training, say) in the report."""
    try:
        try:
            server.wait_healthy(timeout=60)
        except RuntimeError as e:
            pytest.fail(str(e))
        yield server
    finally:
        server.stop()
        log = server.log.read_text(errors="replace")
        if "Traceback" in log:
            print("---- streamlit server log ----\n" + log[-6000:])
