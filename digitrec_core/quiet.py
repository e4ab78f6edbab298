"""TensorFlow's, absl's and Keras's start-up lines and warnings kept out of a terminal (the CLI's, and the
dashboard server's, where its training processes write): DigitRec says what matters in its own lines."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from collections.abc import Iterator


def quiet_tensorflow() -> None:
    """Keep TensorFlow's, absl's and Keras's log lines and warnings (oneDNN, CPU features, retracing...) out of
    this process's stderr. TensorFlow's C++ side reads its level once, when it is first imported, which must not
    have happened yet (a level already set in the environment is the user's and stays); what it writes before
    reading it, `_QuietImport` drops. DigitRec itself never warns through `warnings`: only libraries do."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())
    warnings.simplefilter("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):  # absl comes with TensorFlow: a serve-only install has none
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)


class _QuietImport(importlib.abc.MetaPathFinder):
    """TensorFlow's first import (by DigitRec or Keras, whenever a command needs it) with stderr (fd 2) sent to
    /dev/null: TensorFlow 2.21 writes its start-up lines (oneDNN, "All log messages before absl::InitializeLog()")
    from C++ before anything reads TF_CPP_MIN_LOG_LEVEL (tensorflow/tensorflow#100442). An import that fails
    still raises; only what it wrote is lost."""

    def find_spec(self, name: str, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)  # also asked by find_spec probes: no import yet
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)  # imported once: nothing to do any more
            with _stderr_to_devnull():
                run(module)

        spec.loader.exec_module = exec_module  # this spec's loader only
        return spec


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """The process's fd 2 (C and C++ libraries write there, not to sys.stderr) to /dev/null, then back."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
