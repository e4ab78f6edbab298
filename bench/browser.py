"""The dashboard as a user meets it, in a real browser: cold start and stroke-to-prediction latency.

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

* **The live view's browser cost** (`--watch N`, needs MNIST): a training run started on the Train
  page of the last server; the CPU time chromium uses (all its processes, from /proc) over N s
  with the Train page's curves streaming, then over N s on the Home page, same run. The
  difference is what drawing the live curves costs a browser on the same machine; the server's
  side is measured by bench/training.py.

Targets: cold start median <= 8 s; stroke to prediction median <= 300 ms.

    python bench/browser.py [--runs 3] [--strokes 20] [--watch 20]

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
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
CANVAS = "[data-testid=stBidiComponentIsolated] canvas.upper-canvas"
ONE = [(140, 45), (140, 235)]
SEVEN = [(75, 60), (205, 60), (120, 235)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


class Server:
    """`streamlit run app.py` with its own empty model store; stopped with its process group."""

    def __init__(self, app_dir: Path, extra: list[str]):
        self.home = tempfile.TemporaryDirectory(prefix="digitrec_bench_home_")
        self.log = tempfile.NamedTemporaryFile(prefix="digitrec_bench_streamlit_", suffix=".log", delete=False)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DIGITREC_HOME": self.home.name}
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false", *extra]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_healthy(self, timeout: float = 60) -> float:
        while not healthy(self.url):
            if self.proc.poll() is not None or time.perf_counter() - self.started > timeout:
                raise SystemExit(f"streamlit did not start; its log: {self.log.name}")
            time.sleep(0.02)
        return time.perf_counter() - self.started

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.home.cleanup()


def cold_start(browser, app_dir: Path, extra: list[str]) -> tuple[dict, Server]:
    server = Server(app_dir, extra)
    ready = server.wait_healthy()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.get_by_text("Active model").first).to_be_visible(timeout=60_000)
    rendered = time.perf_counter() - server.started
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)  # the script has finished
    complete = time.perf_counter() - server.started
    return {"healthy": ready, "rendered": rendered, "complete": complete, "page": page, "context": context}, server


def wait_drawable(page: Page, timeout: float = 20.0) -> None:
    """Hover until Fabric shows its free-drawing cursor: a new canvas ignores strokes until then."""
    deadline = time.monotonic() + timeout
    i = 0
    while True:
        box = page.locator(CANVAS).bounding_box()
        page.mouse.move(box["x"] + 10 + i % 20, box["y"] + 10)
        if page.locator(CANVAS).evaluate("c => c.style.cursor") == "crosshair":
            return
        if time.monotonic() > deadline:
            raise SystemExit("the canvas never entered free-drawing mode")
        i += 1
        page.wait_for_timeout(25)


def clear(page: Page) -> None:
    """Clear: the same canvas empties in the browser at once; wait for the page to forget the drawing."""
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(page.get_by_test_id("stMain").get_by_text(re.compile(r"^Prediction:"))).to_have_count(0, timeout=20_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=20_000)


ARM = """() => {
    window.__up = null; window.__pred = null; window.__predText = null;
    window.addEventListener('mouseup', () => { window.__up = performance.now(); }, {capture: true, once: true});
    const look = () => {
        for (const h of document.querySelectorAll('[data-testid=stMain] h2')) {
            if (/^Prediction: \\d$/.test(h.textContent.trim())) {
                window.__pred = performance.now(); window.__predText = h.textContent.trim(); return true;
            }
        }
        return false;
    };
    const obs = new MutationObserver(() => { if (window.__up !== null && look()) obs.disconnect(); });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def strokes(page: Page, n: int) -> tuple[list[float], int]:
    """Milliseconds from mouse-up to `Prediction: d` for n strokes, and how many read as drawn."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Draw", exact=True).click()
    empty = page.get_by_test_id("stMain").get_by_test_id("stAlert").filter(has_text="Draw a digit")
    expect(empty).to_be_visible(timeout=60_000)
    rng = random.Random(0)
    times, right = [], 0
    for k in range(n):
        digit, points = (1, ONE) if k % 2 == 0 else (7, SEVEN)
        dx, dy = rng.uniform(-25, 25), rng.uniform(-15, 15)  # not the same image every time
        wait_drawable(page)
        box = page.locator(CANVAS).bounding_box()
        page.evaluate(ARM)
        page.mouse.move(box["x"] + points[0][0] + dx, box["y"] + points[0][1] + dy)
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x + dx, box["y"] + y + dy, steps=12)
        page.mouse.up()
        page.wait_for_function("() => window.__pred !== null", timeout=30_000)
        up, pred, text = page.evaluate("() => [window.__up, window.__pred, window.__predText]")
        times.append(pred - up)
        right += text == f"Prediction: {digit}"
        clear(page)
    return times, right


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
    ap.add_argument("--watch", type=float, default=0, help="seconds of live view to measure the browser's cost (default: skip)")
    ap.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose app.py to run (default: this one)")
    ap.add_argument("--server-arg", action="append", default=[], help="an extra `streamlit run` option (repeatable)")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"needs Debian's chromium at {CHROMIUM}")

    cold, server = [], None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
            times, right = strokes(page, args.strokes) if args.strokes else ([], 0)
            for k, t in enumerate(times):
                print(f"stroke {k + 1}: {t:.0f} ms", file=sys.stderr)
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
    if times:
        print(f"| stroke → prediction: mouse-up → `Prediction: d` in the page | {len(times)} | "
              f"**{statistics.median(times):.0f} ms** | {p90(times):.0f} ms | "
              f"{min(times):.0f} – {max(times):.0f} ms | "
              f"median ≤ 300 ms |")
        print(f"\n{right} of {len(times)} strokes read as drawn (alternately a 1 and a 7).")
    if live:
        print(f"\nWhile a run trains, over {args.watch:g} s each: chromium uses {live['streaming']:.1%} of one core "
              f"with the Train page's live curves open, {live['elsewhere']:.1%} on the Home page.")
    mnist = os.environ.get("DIGITREC_MNIST_DIR")
    env = f"DIGITREC_MNIST_DIR={shlex.quote(mnist)} " if mnist else ""
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`{env}python bench/browser.py{' ' + argv if argv else ''}`")
    print(f"({os.cpu_count()} CPU cores, chromium {CHROMIUM}, streamlit run options: "
          f"{' '.join(args.server_arg) or 'the defaults'})")


if __name__ == "__main__":
    main()
