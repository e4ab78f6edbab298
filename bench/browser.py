"""The dashboard as a user meets it, in a real browser: cold start and stroke-to-prediction latency.

Its pages have no WebAssembly (chromium.NO_WASM_SCRIPT), so Draw takes the server path, the
fallback of a browser that cannot run the model: what is timed here is that path. The page's own path (the
model in the browser) is bench/live.py's.

What it measures, with Debian's chromium driven by Playwright (headless, 1400x1000):

* **Cold start**: from launching `streamlit run app.py` (a fresh server process, fresh empty model
  store in a temporary DIGITREC_HOME) to the Home page rendered in chromium, i.e. the text
  "Active model" visible. The browser is already running and opens `/` as soon as the server's
  health check answers, as a user's tab would. `--runs` times; the median is the figure.
  (The first run may pay for cold OS file caches; later runs share them, like a user's restarts.)
* **Stroke to prediction**: on the Draw page (reached through the sidebar) of the last server,
  `--strokes` strokes drawn with real mouse moves, alternately a "1" and a "7", each on a fresh
  canvas (Clear in between). The time is from the stroke's mouse-up to the `Prediction: d` text
  in the page, both taken in the page with performance.now(): the canvas sending the drawing,
  the rerun, preprocessing, the model and the browser's update, all of it. Median and p90.
  The canvas component itself sends a drawing only 200 ms after the mouse-up (a fixed debounce
  in its frontend), so the app's own share is that time less 200 ms. Also shown: from the page's
  first websocket message after the mouse-up (the canvas sending the drawing) to the prediction.
  `--busy N` runs N processes that keep a core busy meanwhile, as on a machine shared with other
  work (another tab training, CI running tests): what the server and chromium do per stroke then
  shows.

* **The live view's browser cost** (`--watch N`, needs MNIST): a training run started on the Train
  page of the last server; the CPU time chromium uses (all its processes, from /proc) over N s
  with the Train page's curves streaming, then over N s on the Home page, same run. The
  difference is what drawing the live curves costs a browser on the same machine; the server's
  side is measured by bench/training.py.

Targets: cold start median <= 8 s; stroke to prediction median <= 300 ms, the app's share of it
(above the 200 ms debounce) median <= 60 ms. First visit to Draw and the server's memory are
bench/serving.py's.

    python bench/browser.py [--runs 3] [--strokes 20] [--busy 1] [--watch 20]

DIGITREC_MNIST_DIR is optional unless --watch is given (Draw needs no data; without it Home
says MNIST is missing).
Extra `streamlit run` options go through `--server-arg`, e.g.
`--server-arg=--server.fileWatcherType=none`; `--app-dir` runs another checkout's app.py
(for before/after comparisons). It prints a markdown table and the command line behind it.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chromium import (
    NO_WASM_SCRIPT,
    ONE,
    SEVEN,
    VIEWPORT,
    Server,
    click_page,
    command_line,
    empty_canvas_prompt,
    launch,
    main_area,
    press_clear,
    require_chromium,
    script_done,
    server_options,
    timed_stroke,
)
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DEBOUNCE_MS = 200  # streamlit-drawable-canvas sends a drawing this long after the mouse-up (fixed, in its frontend)


def cold_start(browser, app_dir: Path, extra: list[str]) -> tuple[dict, Server]:
    server = Server(app_dir, extra)
    ready = server.wait_healthy()
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(NO_WASM_SCRIPT)  # the server path: the browser path's figures are bench/live.py's
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.get_by_text("Active model").first).to_be_visible(timeout=60_000)
    rendered = time.perf_counter() - server.started
    script_done(page, timeout=60_000)
    complete = time.perf_counter() - server.started
    return {"healthy": ready, "rendered": rendered, "complete": complete, "page": page, "context": context}, server


def clear(page: Page) -> None:
    """Clear: the same canvas empties in the browser at once; wait for the page to forget the drawing."""
    press_clear(page)
    expect(main_area(page).get_by_text(re.compile(r"^Prediction:"))).to_have_count(0, timeout=20_000)
    script_done(page)


def strokes(page: Page, n: int) -> tuple[list[dict], int]:
    """n strokes, each on an empty canvas: their timings (see `timed_stroke`), and how many read as drawn."""
    click_page(page, "Draw")
    expect(empty_canvas_prompt(page)).to_be_visible(timeout=60_000)
    rng = random.Random(0)
    timings, right = [], 0
    for k in range(n):
        digit, points = (1, ONE) if k % 2 == 0 else (7, SEVEN)
        dx, dy = rng.uniform(-25, 25), rng.uniform(-15, 15)  # not the same image every time
        t = timed_stroke(page, [(x + dx, y + dy) for x, y in points])
        timings.append(t)
        right += t["text"] == f"Prediction: {digit}"
        clear(page)
    return timings, right


def chromium_cpu_seconds() -> float:
    """User + system CPU time of every chromium process alive now (Linux /proc)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if "chromium" not in os.readlink(f"/proc/{pid}/exe"):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:  # gone, or not ours to read
            continue
    return total / tick


def live_view_cost(page: Page, seconds: float) -> dict[str, float]:
    """Chromium's share of a core with the live curves streaming, then on Home, during one run."""
    nav = page.get_by_test_id("stSidebarNav")
    main = page.get_by_test_id("stMain")
    nav.get_by_role("link", name="Train", exact=True).click()
    page.get_by_role("spinbutton", name="Epochs").fill("100")  # long enough; stopped below
    page.get_by_role("button", name="🚀 Train").click()
    expect(main.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=60_000)
    expect(main.get_by_text(re.compile(r"Epoch 1/100 · batch"))).to_be_visible(timeout=60_000)
    time.sleep(3)  # past the first refreshes

    def share() -> float:
        cpu, t = chromium_cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        return (chromium_cpu_seconds() - cpu) / (time.perf_counter() - t)

    streaming = share()
    nav.get_by_role("link", name="Home", exact=True).click()
    expect(main.get_by_text("Active model").first).to_be_visible(timeout=60_000)
    time.sleep(3)
    elsewhere = share()
    nav.get_by_role("link", name="Train", exact=True).click()
    main.get_by_role("button", name="⏹ Stop").click()
    expect(main.get_by_text(re.compile("Nothing was saved"))).to_be_visible(timeout=60_000)
    return {"streaming": streaming, "elsewhere": elsewhere}


def p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(0.9 * len(s) + 0.5) - 1))]  # nearest rank


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts (default 3)")
    ap.add_argument("--strokes", type=int, default=20, help="strokes on the Draw page (default 20)")
    ap.add_argument("--busy", type=int, default=0, help="processes keeping a core busy during the strokes (default 0)")
    ap.add_argument("--watch", type=float, default=0,
                    help="seconds of live view to measure the browser's cost (default: skip)")
    server_options(ap, ROOT)
    args = ap.parse_args()
    require_chromium()

    cold, server = [], None
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for r in range(args.runs):
                if server is not None:
                    server.stop()
                result, server = cold_start(browser, args.app_dir, args.server_arg)
                cold.append(result)
                print(f"cold start {r + 1}/{args.runs}: healthy {result['healthy']:.2f} s, Home rendered "
                      f"{result['rendered']:.2f} s, script finished {result['complete']:.2f} s", file=sys.stderr)
                if r < args.runs - 1:
                    result["context"].close()
            page = cold[-1]["page"]
            hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
            try:
                timings, right = strokes(page, args.strokes) if args.strokes else ([], 0)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
            for k, t in enumerate(timings):
                print(f"stroke {k + 1}: sent {t['sent']:.0f} ms, shown {t['shown']:.0f} ms", file=sys.stderr)
            live = live_view_cost(page, args.watch) if args.watch else None
        finally:
            if server is not None:
                server.stop()
            browser.close()

    rendered = [c["rendered"] for c in cold]
    print()
    print("| measure | n | median | p90 | min – max | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(f"| cold start: `streamlit run app.py` → Home rendered (\"Active model\" visible) | {len(rendered)} | "
          f"**{statistics.median(rendered):.2f} s** | – | {min(rendered):.2f} – {max(rendered):.2f} s | ≤ 8 s |")
    healthy_s = [c["healthy"] for c in cold]
    complete = [c["complete"] for c in cold]
    print(f"| … of which the server's health check answering | {len(cold)} | {statistics.median(healthy_s):.2f} s | "
          f"– | "
          f"{min(healthy_s):.2f} – {max(healthy_s):.2f} s | |")
    print(f"| … and to Home's script finished | {len(cold)} | {statistics.median(complete):.2f} s | – | "
          f"{min(complete):.2f} – {max(complete):.2f} s | |")
    if timings:
        shown = [t["shown"] for t in timings]
        app = [t - DEBOUNCE_MS for t in shown]
        server = [t["shown"] - t["sent"] for t in timings]
        row = "| {} | {} | **{:.0f} ms** | {:.0f} ms | {:.0f} – {:.0f} ms | {} |"
        print(row.format("stroke → prediction: mouse-up → `Prediction: d` in the page", len(shown),
                         statistics.median(shown), p90(shown), min(shown), max(shown), "median ≤ 300 ms"))
        print(row.format(f"… the app's share: that less the canvas's fixed {DEBOUNCE_MS} ms debounce", len(app),
                         statistics.median(app), p90(app), min(app), max(app), "median ≤ 60 ms"))
        print(row.format("… of which the canvas sending the drawing → `Prediction: d`", len(server),
                         statistics.median(server), p90(server), min(server), max(server), ""))
        hogs = f"{args.busy} other process{'es' if args.busy > 1 else ''}"
        busy = f", with {hogs} keeping a core busy" if args.busy else ""
        print(f"\n{right} of {len(timings)} strokes read as drawn (alternately a 1 and a 7){busy}.")
    if live:
        print(f"\nWhile a run trains, over {args.watch:g} s each: chromium uses {live['streaming']:.1%} of one core "
              f"with the Train page's live curves open, {live['elsewhere']:.1%} on the Home page.")
    print("\n" + command_line("bench/browser.py", args.server_arg))


if __name__ == "__main__":
    main()
