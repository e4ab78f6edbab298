"""DigitRec's Streamlit script, the one `digitrec app` runs; the dashboard itself is `dashboard.py`."""

from digitrec_app.dashboard import main

main()
