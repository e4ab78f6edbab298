"""DigitRec in the browser: the files the dashboard's pages run in the visitor's page, not in Python.

`web/` holds the Draw page's live classifier (a Streamlit components-v2 component: `live_draw.js`, its
copy of `canvas_to_mnist` in `preprocess.js`, the model runner in `classifier.js`) and the onnxruntime-web
build it runs on (`web/ort/`, refreshed by `scripts/vendor_onnxruntime_web.py`). The Python side of the
component is `digitrec_app.ui.live`.

Why a package of its own: Streamlit serves a package's component files only when it can find the package's
`pyproject.toml` through the package named like the distribution, `digitrec` (this one), in a wheel and in
an editable install alike. `pyproject.toml` here declares them.
"""
