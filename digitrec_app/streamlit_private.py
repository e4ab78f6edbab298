"""Every use of a private Streamlit API, each with its reason, its guard and its way of degrading.

Nothing else in DigitRec touches Streamlit's private names (tests/test_streamlit_private.py greps for
them). Each function here checks that what it needs is still where Streamlit 1.67 keeps it; when an
upgrade has moved it, the function logs one warning per process (naming the Streamlit version and
the missing attribute), changes nothing and returns False or None, so the dashboard still runs, with
the cost each docstring names.

Importing this module imports no Streamlit: `digitrec app` reads its config before the server starts,
and the CLI loads this module through `launch.py`.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Mapping
from importlib import import_module, metadata
from types import ModuleType

log = logging.getLogger("digitrec")
_warned: set[str] = set()  # the private names already reported missing in this process

SCRIPT_RUNNER = "streamlit.runtime.scriptrunner.script_runner"
SERIALIZATION = "streamlit.components.v2.bidi_component.serialization"
SESSION_CACHE = ("_session_mgr", "_session_storage", "_cache")  # runtime.get_instance()'s path to its sessions


def streamlit_version() -> str:
    try:
        return metadata.version("streamlit")
    except metadata.PackageNotFoundError:
        return "unknown"


def report_moved(name: str, consequence: str) -> None:
    """Log that Streamlit's private `name` is not where DigitRec expects it, once per process and name."""
    if name in _warned:
        return
    _warned.add(name)
    log.warning("DigitRec could not find Streamlit's private %s (Streamlit %s): %s Please report this.",
                name, streamlit_version(), consequence)


def _module(name: str) -> ModuleType | None:
    """The module `name`, or None if this Streamlit has no such module."""
    try:
        return import_module(name)
    except ImportError:
        return None


# ---- 1. Keras's state across reruns ------------------------------------------------------------------------

def close_pyplot_figures() -> None:
    """Streamlit's clean-up after a script run, less its Keras part: pyplot's figures are still closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def skip_keras_clear_session() -> bool:
    """After every script run (fragment reruns included) Streamlit calls `keras.backend.clear_session()`
    when Keras is imported: a full `gc.collect()` with TensorFlow loaded, about 170 ms each time here
    (a Draw rerun went from 17 ms to 180-200 ms, every page alike), and a reset of Keras's global state
    under whatever thread still uses it. The dashboard serves through ONNX Runtime and trains in a child
    process, so its server imports Keras only to make the ONNX file of a model saved before DigitRec wrote
    them (`store.loading._make_onnx`); from then on, without this, every rerun of every visitor pays that cost.

    Replaces `script_runner._clean_problem_modules` with `close_pyplot_figures` (its matplotlib part);
    False, changing nothing, if Streamlit moved it."""
    module = _module(SCRIPT_RUNNER)
    if not callable(getattr(module, "_clean_problem_modules", None)):
        report_moved(f"{SCRIPT_RUNNER}._clean_problem_modules",
                     "after loading a model that has no model.onnx, every rerun may cost ~170 ms more "
                     "(keras.backend.clear_session).")
        return False
    module._clean_problem_modules = close_pyplot_figures
    return True


# ---- 2. pandas kept out of the Draw page --------------------------------------------------------------------

def keep_pandas_out() -> bool:
    """Streamlit's custom components (v2) check each value they are given for a dataframe, importing
    pandas and pyarrow to do so as soon as one is a dict; the canvas's initial drawing is one: 67 MB
    more in the server and about a second more on the first visit to Draw. The wrapper answers "no"
    for plain dicts while pandas is not loaded (no dict can hold a pandas object then) and asks
    Streamlit otherwise, so the Draw page never loads pandas (tests/test_browser.py checks the server's
    memory map).

    Wraps `serialization.is_dataframe_like`; False, changing nothing, if Streamlit moved it: the Draw
    page then loads pandas (memory and the first visit's wait, nothing else)."""
    serialization = _module(SERIALIZATION)
    check = getattr(serialization, "is_dataframe_like", None)
    if not callable(check):
        report_moved(f"{SERIALIZATION}.is_dataframe_like", "the Draw page will load pandas (about 70 MB more).")
        return False
    if getattr(check, "digitrec_plain_dicts", False):  # already in place
        return True

    def is_dataframe_like(obj: object) -> bool:
        if type(obj) is dict and "pandas" not in sys.modules:
            return False
        return check(obj)

    is_dataframe_like.digitrec_plain_dicts = True
    serialization.is_dataframe_like = is_dataframe_like
    return True


# ---- 3. Expired sessions of an idle server ------------------------------------------------------------------

def expire_disconnected_sessions() -> bool | None:
    """Streamlit keeps a disconnected session for `server.disconnectedSessionTTL` so a tab can reconnect,
    and drops an expired one only on its session store's next write, which an idle server never makes:
    the memory of the last visitors stays until the next one arrives. This drops them as that write would
    (`ui/memory.py` calls it once the server has been quiet past the TTL).

    True once done; None without a running Streamlit server, or (said once) if Streamlit moved the
    session store: memory is then given back on the next visit, as without DigitRec."""
    from streamlit import runtime

    if not runtime.exists():
        return None
    target: object = runtime.get_instance()
    path = "streamlit.runtime.get_instance()"
    for name in (*SESSION_CACHE, "expire"):
        path += f".{name}"
        target = getattr(target, name, None)
        if target is None:
            report_moved(path, "an idle server keeps the memory of its last visitors until the next one arrives.")
            return None
    try:
        target()
    except (RuntimeError, KeyError) as e:  # the server's own thread changed the store meanwhile: next time
        log.info("Expired Streamlit sessions were not dropped this time (%s: %s).", type(e).__name__, e)
        return None
    return True


# ---- 4. `digitrec app`'s reading of the config before the server starts -------------------------------------

def reparse_config(flags: Mapping[str, str]) -> bool:
    """Make `streamlit.config.get_option` answer as the server about to start will: its config files, its
    environment and the user's `--section.key` flags (`config.get_config_options(force_reparse=True,
    options_from_flags=...)`, not in Streamlit's documented API). `digitrec app` reads public mode and
    the listening address from it before starting the server, to warn about an exposed one.

    False, changing nothing, if Streamlit changed it: options then come from the config files and the
    environment only (the dashboard still gives the same warning on its first page load)."""
    from streamlit import config

    parse = getattr(config, "get_config_options", None)
    try:
        parameters = inspect.signature(parse).parameters if callable(parse) else {}
    except (TypeError, ValueError):
        parameters = {}
    if not {"force_reparse", "options_from_flags"} <= parameters.keys():
        report_moved("streamlit.config.get_config_options(force_reparse, options_from_flags)",
                     "`digitrec app` reads the config without your command-line flags before the server starts.")
        return False
    parse(force_reparse=True, options_from_flags=dict(flags))
    return True
