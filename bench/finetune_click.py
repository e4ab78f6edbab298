"""A fine-tune as a user meets it on the My digits page (issue 21): from the click on Fine-tune to its result.

Each of `--runs` runs, alternately with the warm training worker on (DIGITREC_WARM_WORKER unset) and off
(DIGITREC_WARM_WORKER=0) in the server's environment, warm first:

1. a fresh temporary DIGITREC_HOME (an empty model store: the shipped model is the active one) whose personal
   set holds `--digits` Semeion digits (a tenth of each class, picked with `--seed`), drawn on a canvas and
   read by `canvas_to_mnist` as on the Draw page (bench/writers.py `draw_set`), stored by
   `PersonalDigits.add`;
2. a fresh `streamlit run app.py` (chromium.Server, with DIGITREC_MNIST_DIR); Debian's chromium
   opens Home, goes to **My digits** through the sidebar, waits until the page's script has finished and then
   `--idle` seconds more (a user looks at their digits before clicking; a warm worker gets ready meanwhile);
3. clicks **Fine-tune** (the page's default epochs) and times, in page time (performance.now() in chromium,
   from the click event), the click to:
   - *live view*: the "Fine-tuning…" heading (the page has rerun with the live view polling);
   - *first progress*: the live view's first `Epoch e/E · batch b/B` line. The live view of a fine-tune polls
     every second (digitrec_app.ui.run_views.POLL), so this is the first poll after the child's first batch;
   - *result*: the before/after table (`held-out personal accuracy`…) and the `Saved as finetune-…` message
     both on the page (drawn by the poll that finds the run finished: also up to a second after it ends).
   "fit s" is the fine-tune's own time as the page reports it (`… epochs in N s`, the `fine_tune` call in the
   child); the rest of click → result is the click's rerun, MNIST loading on the click (the page loads it
   then, once a server), handing MNIST to the child, TensorFlow's start (cold) and the polling.
4. stops the server (its whole process group: the warm worker with it).

The worker column says what the server had at the click: `ready` (a warm worker idle for the last second),
`warming` (one still busy: `--idle` was too short for it), or `none`. Page errors (console errors, uncaught
exceptions) and tracebacks in the server's log are counted per run.

Target: click → result <= 15 s for 100 digits with the warm worker (median).

    DIGITREC_MNIST_DIR=../shared/mnist python bench/finetune_click.py [--runs 3] [--digits 100] [--idle 20]
        [--screenshot /tmp/finetune_result.png]

The screenshot is of the last run's page with the result scrolled into view. Prints a markdown table, the
medians per mode and warm/cold, and the command line behind it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from chromium import (  # noqa: E402
    arm_marks,
    command_line,
    idle_worker_state,
    launch,
    main_area,
    open_dashboard,
    require_chromium,
    script_done,
    seconds,
    server_options,
    training_server,
    wait_marks,
)
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from writers import SEMEION, draw_set, load_semeion  # noqa: E402

from digitrec_app.ui.run_views import POLL  # noqa: E402
from digitrec_core.personal import PersonalDigits  # noqa: E402
from digitrec_core.store.promotion import PERSONAL  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE_DEADLINE = 180_000  # ms: Home, then My digits, rendered and their scripts finished
RESULT_DEADLINE = 600_000  # ms: from the click to the result (or a failure) on the page

# What the page shows of a fine-tune, timed from the click (chromium.arm_marks).
MARKS = {
    "live": ("h1, h2, h3", "^Fine-tuning…"),
    "progress": ("[data-testid=stProgress]", r"Epoch \d+/\d+ · batch"),
    "table": ("[data-testid=stTable]", PERSONAL),
    "saved": ("[data-testid=stAlert]", "^Saved as "),
    "failed": ("[data-testid=stAlert]", "^(Fine-tuning failed|Stopped)"),
}


def personal_set(home: Path, n: int, seed: int, semeion: Path) -> dict[int, int]:
    """n Semeion digits, n/10 of each class, drawn through the Draw page's path into `home`'s personal set."""
    bitmaps, labels = load_semeion(semeion)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == d)) for d in range(10)])
    drawn = draw_set("Semeion", bitmaps[order], labels[order], seed=seed)  # the canvas and canvas_to_mnist
    personal, counts = PersonalDigits(home), dict.fromkeys(range(10), 0)
    for digit, label in zip(drawn.x, drawn.y):
        if counts[int(label)] >= n // 10 or not digit.any():  # a blank reading (nothing found) is skipped
            continue
        personal.add(digit, int(label))
        counts[int(label)] += 1
    if sum(counts.values()) != n // 10 * 10:
        raise SystemExit(f"could not draw {n // 10} digits of each class: {counts}")
    return counts


def one_run(browser, args, warm: bool, shoot: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="digitrec_finetune_click_") as tmp:
        home = Path(tmp)
        personal_set(home, args.digits, args.seed, args.semeion)
        server = training_server(args.app_dir, args.server_arg, warm=warm, home=home,
                                 env={"DIGITREC_MNIST_DIR": os.environ["DIGITREC_MNIST_DIR"]})
        page = None
        try:
            server.wait_healthy(timeout=120)
            page, errors = open_dashboard(browser, server, "My digits", PAGE_DEADLINE)
            main = main_area(page)
            expect(main.get_by_role("heading", name="Keep or share them")).to_be_visible(timeout=PAGE_DEADLINE)
            script_done(page, timeout=PAGE_DEADLINE)
            shown = time.perf_counter() - server.started
            button = main.get_by_role("button", name="Fine-tune", exact=True)
            expect(button).to_be_enabled(timeout=PAGE_DEADLINE)
            state = idle_worker_state(server, args.idle)
            arm_marks(page, MARKS)
            clicked = time.perf_counter()
            button.click()
            m = wait_marks(page, "at.failed !== null || (at.table !== null && at.saved !== null)", RESULT_DEADLINE)
            wall = time.perf_counter() - clicked
            if m["at"]["failed"] is not None:
                raise RuntimeError(f"the fine-tune did not save: {m['text']['failed']}\n{server.log_text()}")
            caption = main.get_by_text(re.compile(r"^Held out: ")).first.inner_text()
            fit = re.search(r"epochs? in (\d+) s", caption)
            at = m["at"]
            result = {"warm": warm, "worker": state, "shown": shown, "live": at["live"], "progress": at["progress"],
                      "result": max(at["table"], at["saved"]), "wall": wall, "fit": int(fit.group(1)) if fit else None,
                      "saved": m["text"]["saved"], "caption": caption, "progress_text": m["text"]["progress"]}
            script_done(page, timeout=PAGE_DEADLINE)  # the whole page's rerun once the run ended
            if shoot is not None:
                saved = main.get_by_test_id("stAlert").filter(has_text=re.compile(r"^Saved as "))
                saved.first.scroll_into_view_if_needed()
                page.mouse.wheel(0, -250)  # the before/after table above it in view too
                page.wait_for_timeout(500)
                page.screenshot(path=str(shoot))
            result["errors"] = errors
            log = server.log.read_text(errors="replace")
            result["tracebacks"] = log.count("Traceback (most recent call last)")
            return result
        finally:
            if page is not None:
                page.context.close()
            server.stop()
            server.log.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs, warm worker on and off in turn, on first (default 3)")
    ap.add_argument("--digits", type=int, default=100, help="personal digits, a tenth of each class (default 100)")
    ap.add_argument("--idle", type=float, default=20, help="seconds on the idle page before the click (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="which Semeion digits, and how they are drawn (default 0)")
    ap.add_argument("--semeion", type=Path, default=SEMEION)
    ap.add_argument("--screenshot", type=Path, default=None, help="a PNG of the last run's result on the page")
    server_options(ap, ROOT)
    args = ap.parse_args()
    require_chromium()
    if not os.environ.get("DIGITREC_MNIST_DIR"):
        raise SystemExit("needs DIGITREC_MNIST_DIR (a fine-tune mixes in MNIST images)")
    if args.digits < 10 or args.digits % 10:
        raise SystemExit("--digits must be a multiple of 10")

    runs = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for r in range(args.runs):
                warm = r % 2 == 0
                res = one_run(browser, args, warm, args.screenshot if r == args.runs - 1 else None)
                runs.append(res)
                print(f"run {r + 1}/{args.runs} (warm worker {'on' if warm else 'off'}): worker {res['worker']}, "
                      f"live view {seconds(res['live'])}, first progress {seconds(res['progress'])}, "
                      f"result {seconds(res['result'])} (wall {res['wall']:.1f} s), fit {res['fit']} s; "
                      f"{res['saved']!r}; {res['caption']!r}; first progress line {res['progress_text']!r}; "
                      f"{len(res['errors'])} page errors, {res['tracebacks']} server tracebacks",
                      file=sys.stderr, flush=True)
                for e in res["errors"]:
                    print(f"  {e}", file=sys.stderr)
        finally:
            browser.close()

    print()
    print("| run | warm worker | worker at the click | click → live view | click → first progress | "
          "click → result | fit (page) | My digits shown after launch |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for k, r in enumerate(runs, 1):
        print(f"| {k} | {'on' if r['warm'] else 'off'} | {r['worker']} | {seconds(r['live'])} | "
              f"{seconds(r['progress'])} | **{seconds(r['result'])}** | {r['fit']} s | {r['shown']:.1f} s |")
    print()
    medians = {}
    for warm in (True, False):
        mine = [r for r in runs if r["warm"] == warm]
        if not mine:
            continue
        med = {k: statistics.median(r[k] for r in mine) if all(r[k] is not None for r in mine) else None
               for k in ("live", "progress", "result")}
        medians[warm] = med
        print(f"- warm worker {'on' if warm else 'off'} (n = {len(mine)}): click → live view {seconds(med['live'])}, "
              f"→ first progress {seconds(med['progress'])}, → result **{seconds(med['result'])}**")
    if len(medians) == 2:
        on, off = medians[True], medians[False]
        ratio = lambda k: "–" if on[k] is None or off[k] is None else f"{on[k] / off[k]:.2f}"  # noqa: E731
        print(f"- warm / cold, medians: first progress {ratio('progress')}, result {ratio('result')}")
    if True in medians:
        ok = medians[True]["result"] <= 15_000
        print(f"- target: click → result <= 15 s for {args.digits} digits with the warm worker: "
              f"{'met' if ok else 'not met'} ({seconds(medians[True]['result'])})")
    print("\nTimes in page time (performance.now() in chromium, from the click event); a fine-tune's live view "
          f"polls every {POLL['finetune']:g} s, so progress and result appear up to that long after the run reaches "
          "them.")
    print("\n" + command_line("bench/finetune_click.py", args.server_arg))


if __name__ == "__main__":
    main()
