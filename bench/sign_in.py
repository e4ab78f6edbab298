"""Guessing the operator password: how many guesses a second the dashboard checks, before and after the throttle.

A public-mode dashboard with an operator password, driven through Streamlit's AppTest (the app's own
script, its Sign in form and callback; no browser, no websocket): each session types a wrong password and
presses Sign in, again and again, for `--seconds`. From 1 session, then from 10 (taken in turn, one after
another, as one client's tabs would be: the two cores are the limit either way). "Before" is the same code
with the throttle off (`SignInThrottle(enabled=False)`: every try is checked at once, as before it existed);
"after" as shipped. A guess counts when the password was compared (`Wrong password`), not when the try was
refused unchecked (`Not checked`).

    python bench/sign_in.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from streamlit.testing.v1 import AppTest  # noqa: E402

from digitrec_core import public  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FORM = "FormSubmitter:operator_login-Sign in"


def guess(at: AppTest) -> bool:
    """One wrong guess; True when the password was compared."""
    at.text_input(key="operator_password").input("not the password")
    at.button(key=FORM).click().run(timeout=120)
    (error,) = [e.value for e in at.sidebar.error]
    return error.startswith("Wrong password")


def measure(sessions: int, seconds: float, *, throttled: bool) -> tuple[float, float]:
    """(tries a second, guesses checked a second) from `sessions` sessions taking turns for `seconds`."""
    import digitrec_app.ui.resources as res

    res.sign_in_throttle.clear()
    res.sign_in_throttle().enabled = throttled
    tabs = [AppTest.from_file(APP, default_timeout=120).run() for _ in range(sessions)]
    tries = checked = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        checked += guess(tabs[tries % sessions])
        tries += 1
    took = time.perf_counter() - start
    return tries / took, checked / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="digitrec-sign-in-")
    os.environ.update({"DIGITREC_HOME": home, public.ENV_PUBLIC: "1", public.ENV_PASSWORD: "correct horse"})
    print(f"$ python bench/sign_in.py {shlex.join(sys.argv[1:])}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'sessions':>8}  {'throttle':>8}  {'tries/s':>8}  {'guesses checked/s':>17}")
    for sessions in (1, 10):
        for throttled in (False, True):
            tries, checked = measure(sessions, args.seconds, throttled=throttled)
            print(f"{sessions:>8}  {'on' if throttled else 'off':>8}  {tries:>8.2f}  {checked:>17.3f}")


if __name__ == "__main__":
    main()
