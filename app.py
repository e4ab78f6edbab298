"""DigitRec from a clone: `streamlit run app.py`. Installed, the same dashboard is `digitrec app`."""

from digitrec_app.dashboard import main

main()
