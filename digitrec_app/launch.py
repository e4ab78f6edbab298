"""What `digitrec app` runs: the `streamlit run` command line, and what to say before the server starts.

Streamlit runs no app code until the first visitor's page loads, so `digitrec app` reads the two
settings that matter before it starts the server: public mode (the environment, or Streamlit's
secrets files, as the dashboard reads it) and the address the server will listen on (the user's
flags, else Streamlit's config files and environment).
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from digitrec_app import APP_SCRIPT, PUBLIC_SERVER_OPTIONS, SERVER_OPTIONS
from digitrec_core.public import is_public

ALL_INTERFACES = (None, "", "0.0.0.0", "::")  # server.address values that listen beyond localhost

EXPOSED = (
    "DigitRec listens on every network interface (server.address is {address}) without public mode: anyone who "
    "reaches it can change the active model and train without limits. Set DIGITREC_PUBLIC=1 for a shared "
    "server (see README, Public mode), or --server.address=localhost for yourself."
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
    config.get_config_options(force_reparse=True, options_from_flags=flags)
    public = is_public(read_secrets(config.get_option("secrets.files")))
    options = {**SERVER_OPTIONS, **(PUBLIC_SERVER_OPTIONS if public else {})}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
           *(f"--{k}={v}" for k, v in options.items()), *user_args]
    return cmd, exposed_warning(config.get_option("server.address"), public)
