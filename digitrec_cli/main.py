"""`digitrec`'s entry point: the arguments parsed, the command run, its failure made one line."""

from __future__ import annotations

import sys

from digitrec_cli.parser import parser
from digitrec_cli.terminal import quiet
from digitrec_core.data import MnistError
from digitrec_core.jobs import TrainingBusy
from digitrec_core.models import get_architecture
from digitrec_core.optional import RayMissing, TensorFlowMissing
from digitrec_core.store import ModelStoreError, describe_os_error


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "app":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_args = extra
    quiet(getattr(args, "verbose", False))
    if getattr(args, "arch", None):
        get_architecture(args.arch)
    # The one place a command's failure becomes one line: DigitRec's own errors (ValueError covers
    # refused settings, exports, damaged models and personal digits) and the file system's (a full
    # disk, a read-only store). Anything else is a bug, and keeps its traceback.
    try:
        return args.func(args)
    except (MnistError, ModelStoreError, TrainingBusy, TensorFlowMissing, RayMissing, ValueError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"Error: {describe_os_error(e)}", file=sys.stderr)
        return 2
