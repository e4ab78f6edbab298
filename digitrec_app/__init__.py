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
# - maxUploadSize: the Draw page's limit (digitrec_core.preprocess.MAX_UPLOAD_MB; Streamlit's default is 200 MB).
#   The server refuses a bigger file before holding it in memory, where the page could only refuse it after.
# - toolbarMode minimal: no Deploy button or developer menu (rerun, clear cache) for whoever opens the page;
#   Streamlit shows them to every visitor through localhost otherwise.
SERVER_OPTIONS = {
    "server.maxUploadSize": "10",
    "server.fileWatcherType": "none",
    "runner.postScriptGC": "false",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "minimal",
}

# Added to SERVER_OPTIONS when DIGITREC_PUBLIC=1 (the dashboard also sets it at start-up, for
# `streamlit run`): visitors see "an error occurred", never a traceback naming server paths.
PUBLIC_SERVER_OPTIONS = {
    "client.showErrorDetails": "none",
}
