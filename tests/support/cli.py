"""The CLI as a user runs it: `python -m digitrec_cli` in a process of its own."""

import os
import subprocess
import sys

from tests.support import ROOT


def run_cli(*args, env, stdin=""):
    """`digitrec ARGS` from the repository root with `env` added to ours; what it printed and returned."""
    return subprocess.run(
        [sys.executable, "-m", "digitrec_cli", *args],
        cwd=ROOT, env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=300,
    )
