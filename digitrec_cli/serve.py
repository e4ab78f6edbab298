"""`digitrec app`: the dashboard's server, started from the command line (front end to front end)."""

from __future__ import annotations

import argparse


def cmd_app(args: argparse.Namespace) -> int:
    """`streamlit run` on the packaged dashboard, with DigitRec's server options and the user's own after them;
    SIGTERM, SIGINT and SIGHUP are passed on to the server (`run_server`)."""
    from digitrec_app.launch import run_server  # Streamlit's server loads in the child

    return run_server(args.streamlit_args)
