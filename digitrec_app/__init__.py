"""DigitRec's dashboard: `digitrec app` (installed) or `streamlit run app.py` (in a clone).

`app.py` here is the Streamlit script; the pages are in `app_pages/`, what they share in `ui/`.
Nothing in this package is imported by `digitrec_core`.
"""

from pathlib import Path

APP_SCRIPT = Path(__file__).with_name("app.py")

# Server options `digitrec app` passes to `streamlit run` (a clone reads the same from
# .streamlit/config.toml; tests/test_package.py checks the two agree). Why each one:
# - fileWatcherType none: watching a tree with a virtualenv inside overflows inotify, and every
#   overflow re-walks the tree (TensorFlow included), starving the training thread.
# - postScriptGC false: a full garbage collection after every run (each stroke, each refresh of
#   the live curves) costs more than the little it frees here.
SERVER_OPTIONS = {
    "server.fileWatcherType": "none",
    "runner.postScriptGC": "false",
    "browser.gatherUsageStats": "false",
}
