"""A serve-only install simulated in this interpreter: the `train` extra's modules cannot be imported and
`importlib.util.find_spec` does not find them, as after `pip install digitrec` without `[train]`."""

import importlib.abc
import importlib.util
import sys

# The `train` extra's modules (tensorflow-cpu, keras, tf2onnx, onnx, matplotlib): none is on a serve-only install.
BLOCKED = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib")


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses the blocked modules the way Python refuses a module that is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (a serve-only install)", name=name)
        return None  # anything else: the usual finders


def block_training_modules() -> None:
    """Must run before DigitRec is imported: `digitrec_core.optional` binds `find_spec` when imported."""
    sys.meta_path.insert(0, _Blocker())
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        return None if name.partition(".")[0] in BLOCKED else real_find_spec(name, package)

    importlib.util.find_spec = find_spec
