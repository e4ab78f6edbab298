"""The Draw page classifying in the browser, in chromium, against the server path it replaced, in one run.

Two fresh servers (`streamlit run app.py` from the clone's root, chromium.Server, each with an
empty model store: the shipped model) and two chromiums (Debian's, headless, 1400x1000), all alive at once:

* **live**: a plain chromium on server A. The Draw page runs the model in the page (digitrec/web/live_draw.js,
  onnxruntime-web, WASM, one thread) and records its own timings in `window.digitrecLive` (digitrec_app/ui/live.py).
* **fallback**: a second chromium whose pages have no WebAssembly (`delete globalThis.WebAssembly` before any
  script of theirs: Chromium 156 ignores `--js-flags=--noexpose_wasm`) on server B: the page falls back to
  the server path landed before, the canvas sending its PNG 200 ms after the mouse-up and the
  server classifying it (chromium.timed_stroke times mouse-up -> `## Prediction: d`).

Each server is warmed first (one visitor opens Draw and draws a digit, then leaves). Then:

1. **First visit to Draw** (`--visits` times, live browser, server A): a fresh browser context (empty Cache
   Storage) opens `/`, Home finishes its script, and the clock runs from the click on "Draw" in the sidebar to
   the canvas taking the pen with the model loaded: `digitrecLive.mode === "browser"` and Fabric's free-drawing
   cursor on a hover, polled every 25 ms. Then the second visit, same context: `/` loaded again (a new page
   load: the runtime restarts, the WASM and the model come from Cache Storage, which http://127.0.0.1 may use)
   and the same click and clock. Also reported per visit: the runtime's download (`wasmDownloadMs`, from the
   network or the cache), its inflate (`wasmInflateMs`), the model's session creation (`model.loadMs`) and
   `readyMs` (from the component starting to load to the session ready; on a first visit it includes asking
   the server for the model's bytes), and which of the two the canvas or the model was last.
2. **Strokes** (`--strokes` per path, alternately a live and a fallback stroke, each a "1" or a "7" shifted at
   random on an empty canvas, Clear in between). A live stroke is drawn as a mouse does, one move every
   1/60 s for about `--stroke-seconds`. Its pen-up -> final `Prediction: d`, two ways:
   - `digitrecLive.penUps`, the component's own figure: pointer-up to the answer for the canvas as it was at
     the pointer-up, rendered (about 1 ms when the last frame before it had already read that canvas);
   - this script's clock in the page: a capture `mouseup` listener on the window and a MutationObserver on
     the text of `h2.dr-prediction` in the component's shadow root: to its last change after the mouse-up (0
     when there is none: the answer on screen at the mouse-up was final), and to the animation frame after
     that change (painted). After the pointer-up the canvas moves the finished stroke from its upper layer to
     its lower one, redrawn from the stroke's path: the pixels change, the component reads them a few frames
     later (it holds 2 frames) and renders a new answer: the final one the user sees, which `penUps` does
     not wait for. The table says how often that happened and
     whether it ever changed the digit.
   A fallback stroke is `timed_stroke` (Playwright's unpaced moves; the 200 ms debounce makes the pace
   irrelevant). Around each stroke (from before the mouse-down to the answer shown and the page settled,
   Clear excluded) the CPU time (utime+stime, /proc) of each server's process tree and of each chromium's;
   Clear's own cost apart. The same trees over `--idle` s with the pages open on Draw and nobody drawing
   give what a stroke's window costs anyway (an open Draw page talks to its server by itself, see the
   websocket messages counted by hooking `WebSocket.send`): a stroke's own server CPU is what is above that,
   or, without subtracting anything, the server's CPU over the strokes in whose window the page sent nothing.
   Also the machine's busy share during the strokes (/proc/stat, all processes: others' work included).
3. **Classification in the page per frame**: `digitrecLive.frames` of all live strokes (preprocessing,
   `canvasToMnist`, and the model, `session.run`, separately; frames with a digit), median and p90; and
   **predictions per second during a stroke**: `--long` strokes of about 1.5 s (one move every 1/60 s
   asked), the frames whose `at` lies between the mouse-down and the mouse-up divided by that time, beside
   the mouse moves the page received and its animation frames meanwhile: Playwright waits for the page to
   take each move, so the moves, not the page, may set the pace.
4. **Server memory** (RSS of server A's process tree, /proc): idle, after the visits and strokes, after the
   live visitor's first Test browser visit and `--browse` Next/Random clicks, and after three more digits
   on Draw; the peak (VmHWM); server B's for comparison. Target <= 250 MB with Draw and the Test browser in use.

Targets: pen-up -> prediction <= 50 ms; server CPU per live stroke ~0 (the fallback's: tens of ms); a
stroke's classification within a frame (16.7 ms at 60 Hz). About 3 minutes with the defaults.

    DIGITREC_MNIST_DIR=/path/to/mnist python bench/live.py [--visits 5] [--strokes 30] [--long 5]

It prints markdown tables and the command line behind them. `--app-dir` runs another checkout's app.py.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from chromium import (  # noqa: E402
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_WASM_SCRIPT,
    ONE,
    SEVEN,
    VIEWPORT,
    Server,
    canvas_box,
    click_page,
    command_line,
    drawable,
    main_area,
    press_clear,
    require_chromium,
    script_done,
    server_options,
    timed_stroke,
    wait_drawable,
)
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from serving import MB, descendants, status_kb, tree_rss  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parents[1]
# No WebAssembly in a page: it then classifies on the server, as before the live path (see NO_WASM_SCRIPT).
NO_WASM = NO_WASM_SCRIPT
MOVE_HZ = 60  # a mouse's moves per second while drawing
SETTLE_S = 0.4  # after the final answer: the component samples 12 more frames (200 ms) then stops
TIMEOUT = 60_000
PREDICTION = re.compile(r"^Prediction: \d$")

# Timestamps (performance.now()) of one live stroke, independent of the component's bookkeeping: the
# mouse-down and mouse-up (capture, on the window) and every change of the prediction's text in the
# component's shadow root, with the animation frame after it (the frame that paints it); and counts: mouse
# moves and animation frames during the stroke, websocket messages to the server until read.
ARM_LIVE = """() => {
    const host = [...document.querySelectorAll('[data-testid=stBidiComponentIsolated]')]
        .find(h => h.shadowRoot && h.shadowRoot.querySelector('h2.dr-prediction'));
    const h2 = host.shadowRoot.querySelector('h2.dr-prediction');
    const t = window.__live = {down: null, up: null, changes: [], moves: 0, frames: 0, sends: 0,
                               penUps: window.digitrecLive.penUps.length};
    const frame = () => {  // the page's animation frames during the stroke
        if (window.__live !== t || t.up !== null) return;
        t.frames += 1;
        requestAnimationFrame(frame);
    };
    if (!window.__liveHooks) {  // once per page: its websocket messages to the server, its mouse moves in a stroke
        window.__liveHooks = true;
        window.addEventListener('mousemove', () => {
            const s = window.__live;
            if (s && s.down !== null && s.up === null) s.moves += 1;
        }, true);
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (...args) {
            if (window.__live) window.__live.sends += 1;
            return send.apply(this, args);
        };
    }
    window.addEventListener('mousedown', () => { t.down = performance.now(); requestAnimationFrame(frame); },
                            {capture: true, once: true});
    window.addEventListener('mouseup', () => { t.up = performance.now(); }, {capture: true, once: true});
    if (window.__liveObs) window.__liveObs.disconnect();
    window.__liveObs = new MutationObserver(() => {
        const c = {at: performance.now(), text: h2.textContent.trim(), painted: null};
        t.changes.push(c);
        requestAnimationFrame(() => { c.painted = performance.now(); });
    });
    window.__liveObs.observe(h2, {childList: true, characterData: true, subtree: true});
}"""
READ_LIVE = """() => {
    const t = window.__live, r = window.digitrecLive;
    return {t, penUps: r.penUps.slice(t.penUps), frames: r.frames.filter(f => f.at >= t.down), shown: r.shown,
            mode: r.mode};
}"""


# ---- CPU time from /proc ------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """Seconds of CPU (utime + stime) used so far by the processes alive now under `pid`."""
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return total / TICK


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all the machine's cores so far (/proc/stat), every process included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_since(before: tuple[int, int]) -> float:
    """The machine's cores' busy share since `before` (machine_busy())."""
    after = machine_busy()
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def chromium_roots() -> set[int]:
    """The chromium browser processes this script started (through Playwright's driver): not their children."""
    found = set()
    for p in descendants(os.getpid()):
        try:
            if "chromium" not in os.readlink(f"/proc/{p}/exe"):
                continue
            parent = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if "chromium" not in os.readlink(f"/proc/{parent}/exe"):
                found.add(p)
        except (OSError, IndexError, ValueError):
            continue
    return found


def launch_chromium(playwright):
    """A chromium, and the pid of its browser process (whose tree holds its renderers)."""
    before = chromium_roots()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    new = chromium_roots() - before
    if len(new) != 1:
        raise RuntimeError(f"cannot tell which chromium process is the new browser: {sorted(new)}")
    return browser, new.pop()


class Meter:
    """CPU seconds of some process trees over the windows between start() and stop(), summed per tree, and
    the windows' wall time."""

    def __init__(self, **pids: int):
        self.pids = pids
        self.used = dict.fromkeys(pids, 0.0)
        self.windows: dict[str, list[float]] = {k: [] for k in pids}  # each window's CPU seconds
        self.n, self.wall = 0, 0.0
        self.window_walls: list[float] = []

    def start(self) -> None:
        self._at = {k: tree_cpu(p) for k, p in self.pids.items()}
        self._t = time.perf_counter()

    def stop(self) -> None:
        self.window_walls.append(time.perf_counter() - self._t)
        self.wall += self.window_walls[-1]
        for k, p in self.pids.items():
            used = tree_cpu(p) - self._at[k]
            self.used[k] += used
            self.windows[k].append(used)
        self.n += 1

    def share(self, k: str) -> float:
        """CPU time over wall time: the share of one core."""
        return self.used[k] / self.wall


# ---- drawing ------------------------------------------------------------------------------------------

def path_points(points: list[tuple[float, float]], moves: int) -> list[tuple[float, float]]:
    """`moves` points along the polyline `points` (after its first), evenly by length."""
    segs = list(zip(points, points[1:]))
    lengths = [((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 for (x0, y0), (x1, y1) in segs]
    total, out = sum(lengths), []
    for i in range(1, moves + 1):
        d = total * i / moves
        for j, (((x0, y0), (x1, y1)), n) in enumerate(zip(segs, lengths)):
            if d <= n or j == len(segs) - 1:
                f = min(1.0, d / n) if n else 1.0
                out.append((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f))
                break
            d -= n
    return out


def paced_pen(page: Page, box: dict, points: list[tuple[float, float]], seconds: float) -> None:
    """Mouse down at the first point, then one move every 1/MOVE_HZ s along the stroke for `seconds`, mouse up."""
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    started = time.perf_counter()
    for i, (x, y) in enumerate(path_points(points, max(2, round(seconds * MOVE_HZ))), 1):
        time.sleep(max(0.0, started + i / MOVE_HZ - time.perf_counter()))
        page.mouse.move(x0 + x, y0 + y)
    page.mouse.up()


def digit_points(k: int, rng: random.Random) -> tuple[int, list[tuple[float, float]]]:
    digit, points = (1, ONE) if k % 2 == 0 else (7, SEVEN)
    dx, dy = rng.uniform(-25, 25), rng.uniform(-15, 15)  # not the same image every time
    return digit, [(x + dx, y + dy) for x, y in points]


def live_stroke(page: Page, points: list[tuple[float, float]], seconds: float, meter: Meter | None = None) -> dict:
    """One live stroke on the canvas as it is; its timings (see the module's docstring)."""
    wait_drawable(page)
    box = canvas_box(page)
    page.evaluate(ARM_LIVE)
    if meter:
        meter.start()
    paced_pen(page, box, points, seconds)
    page.wait_for_function("() => window.digitrecLive.penUps.length > window.__live.penUps", timeout=TIMEOUT)
    time.sleep(SETTLE_S)
    if meter:
        meter.stop()
    return figures(page.evaluate(READ_LIVE))


def figures(r: dict) -> dict:
    """One live stroke's figures from what READ_LIVE read in the page (see the module's docstring)."""
    t = r["t"]
    before = [c for c in t["changes"] if c["at"] < t["up"]]
    after = [c for c in t["changes"] if c["at"] >= t["up"]]
    return {
        "penUp": r["penUps"][0], "penUps": len(r["penUps"]), "mode": r["mode"],
        "observed": after[-1]["at"] - t["up"] if after else 0.0,  # 0: the answer at the mouse-up was final
        "painted": after[-1]["painted"] - t["up"] if after and after[-1]["painted"] is not None else None,
        "changesAfterUp": len(after), "atUp": before[-1]["text"] if before else None,
        "text": (after or before)[-1]["text"] if t["changes"] else None, "moves": t["moves"], "rafs": t["frames"],
        "sends": t["sends"],
        "shown": r["shown"], "frames": r["frames"], "down": t["down"], "up": t["up"],
    }


def live_clear(page: Page) -> None:
    press_clear(page)
    page.wait_for_function("() => window.digitrecLive.shown === null", timeout=TIMEOUT)
    script_done(page)


def fallback_clear(page: Page) -> None:
    press_clear(page)
    expect(main_area(page).get_by_text(re.compile(r"^Prediction:"))).to_have_count(0, timeout=TIMEOUT)
    script_done(page)


# ---- visits -------------------------------------------------------------------------------------------

def home(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.get_by_test_id("stSidebar").get_by_text("Active model")).to_be_visible(timeout=TIMEOUT)
    script_done(page, timeout=TIMEOUT)


def open_draw(page: Page, timeout: float = 60.0) -> dict:
    """Click "Draw"; seconds to the canvas drawable, to the model loaded (mode "browser"), to both; startup."""
    started = time.perf_counter()
    click_page(page, "Draw")
    page.locator(CANVAS).wait_for(state="visible", timeout=timeout * 1000)
    pen_at = model_at = None
    i = 0
    while pen_at is None or model_at is None:
        now = time.perf_counter()
        if now - started > timeout:
            raise AssertionError(f"Draw not ready after {timeout:g} s (canvas {pen_at}, model {model_at})")
        if model_at is None:
            mode = page.evaluate("() => window.digitrecLive && window.digitrecLive.mode")
            if mode == "server":
                raise AssertionError("the page fell back to the server: "
                                     + str(page.evaluate("() => window.digitrecLive.error")))
            if mode == "browser":
                model_at = now - started
        if pen_at is None and drawable(page, i):
            pen_at = now - started
        i += 1
        if pen_at is None or model_at is None:
            page.wait_for_timeout(25)
    info = page.evaluate("() => ({startup: {...window.digitrecLive.startup}, model: window.digitrecLive.model})")
    return {"ready": max(pen_at, model_at), "pen": pen_at, "model": model_at, **info["startup"],
            "loadMs": info["model"]["loadMs"]}


def open_draw_fallback(page: Page) -> None:
    """Click "Draw" in a chromium without WebAssembly: the component reports it, the server reruns the drawing
    with the canvas sending its drawing; a stroke drawn before that rerun would be lost."""
    click_page(page, "Draw")
    expect(main_area(page).get_by_text("Classified on the server", exact=False)).to_be_visible(timeout=TIMEOUT)
    script_done(page, timeout=TIMEOUT)
    wait_drawable(page, timeout=60)


def visits(browser, url: str) -> tuple[dict, dict]:
    """A fresh context's first visit to Draw, then the same context's after a new page load of `/`."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        home(page, url)
        first = open_draw(page)
        home(page, url)
        second = open_draw(page)
        return first, second
    finally:
        context.close()


def new_context(browser, wasm: bool = True):
    context = browser.new_context(viewport=VIEWPORT)
    if not wasm:
        context.add_init_script(NO_WASM)
    return context


def warm(browser, url: str, live: bool) -> None:
    """One visitor opens Draw, draws a 7 and leaves: the server has imported and loaded what Draw needs."""
    context = new_context(browser, wasm=live)
    try:
        page = context.new_page()
        home(page, url)
        if live:
            open_draw(page)
            live_stroke(page, SEVEN, 0.5)
        else:
            open_draw_fallback(page)
            timed_stroke(page, SEVEN)
        script_done(page)
    finally:
        context.close()


def browse(page: Page, clicks: int) -> float:
    """The Test browser: click to `Predicted:` (its first visit classifies the test set), then Next/Random."""
    started = time.perf_counter()
    click_page(page, "Test browser")
    expect(main_area(page).get_by_text("Predicted:", exact=False).first).to_be_visible(timeout=180_000)
    took = time.perf_counter() - started
    script_done(page, timeout=TIMEOUT)
    for n in range(clicks):
        main_area(page).get_by_role("button", name=re.compile("Next$" if n % 2 == 0 else "Random$")).first.click()
        script_done(page, timeout=TIMEOUT)
    return took


# ---- statistics ---------------------------------------------------------------------------------------

def p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(0.9 * len(s) + 0.5) - 1))]  # nearest rank


def ms_row(label: str, xs: list[float], target: str = "", bold: bool = False) -> str:
    med = f"{statistics.median(xs):.1f} ms"
    return (f"| {label} | {len(xs)} | {f'**{med}**' if bold else med} | {p90(xs):.1f} ms | "
            f"{min(xs):.1f} – {max(xs):.1f} ms | {target} |")


def per_stroke_ms(seconds: float, n: int) -> str:
    """CPU ms per stroke; below one clock tick over all strokes, an upper bound."""
    if seconds <= 0:
        return f"< {1000 / TICK / n:.1f} ms (0 ticks in {n})"
    return f"{1000 * seconds / n:.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.0f}×" if b > 0 else "∞ (the browser path's is none)"


# ---- the run ------------------------------------------------------------------------------------------

def run(args) -> dict:
    extra = ["--server.fileWatcherType", "none", *args.server_arg]
    servers = {"live": Server(args.app_dir, extra), "fallback": Server(args.app_dir, extra)}
    res: dict = {"mem": {}}
    try:
        for s in servers.values():
            s.wait_healthy()
        time.sleep(2)  # past start-up's allocations
        a, b = servers["live"].proc.pid, servers["fallback"].proc.pid
        res["mem"]["idle (healthy, no tab)"] = tree_rss(a)
        notab = Meter(live_server=a, fb_server=b)  # a Streamlit server's own background, nobody connected
        notab.start()
        time.sleep(args.idle)
        notab.stop()
        res["notab"] = notab
        with sync_playwright() as p:
            live_browser, live_pid = launch_chromium(p)
            fb_browser, fb_pid = launch_chromium(p)  # each of its pages without WebAssembly
            try:
                warm(live_browser, servers["live"].url, live=True)
                warm(fb_browser, servers["fallback"].url, live=False)
                print("servers warm", file=sys.stderr)

                res["visits"] = []
                for r in range(args.visits):
                    first, second = visits(live_browser, servers["live"].url)
                    res["visits"].append((first, second))
                    print(f"visit {r + 1}/{args.visits}: first {first['ready']:.2f} s, second {second['ready']:.2f} s",
                          file=sys.stderr)

                live_page = live_browser.new_context(viewport=VIEWPORT).new_page()
                fb_page = new_context(fb_browser, wasm=False).new_page()
                home(live_page, servers["live"].url)
                open_draw(live_page)
                home(fb_page, servers["fallback"].url)
                open_draw_fallback(fb_page)
                # Each page's first stroke pays for its JIT and first renders: drawn, not counted.
                live_stroke(live_page, ONE, args.stroke_seconds)
                live_clear(live_page)
                timed_stroke(fb_page, ONE)
                script_done(fb_page)
                fallback_clear(fb_page)

                stroke_cpu = {"live": Meter(server=a, chromium=live_pid), "fallback": Meter(server=b, chromium=fb_pid)}
                clear_cpu = {"live": Meter(server=a, chromium=live_pid), "fallback": Meter(server=b, chromium=fb_pid)}
                rng = random.Random(0)
                live_strokes, fb_strokes = [], []
                machine = machine_busy()
                for k in range(args.strokes):
                    digit, points = digit_points(k, rng)
                    s = live_stroke(live_page, points, args.stroke_seconds, stroke_cpu["live"])
                    s["right"] = s["shown"] is not None and s["shown"]["digit"] == digit
                    live_strokes.append(s)
                    clear_cpu["live"].start()
                    live_clear(live_page)
                    clear_cpu["live"].stop()

                    wait_drawable(fb_page)
                    stroke_cpu["fallback"].start()
                    t = timed_stroke(fb_page, points)
                    script_done(fb_page)
                    stroke_cpu["fallback"].stop()
                    t["right"] = t["text"] == f"Prediction: {digit}"
                    fb_strokes.append(t)
                    clear_cpu["fallback"].start()
                    fallback_clear(fb_page)
                    clear_cpu["fallback"].stop()
                    print(f"stroke {k + 1}/{args.strokes}: live pen-up {s['penUp']:.1f} ms (observed "
                          f"{s['observed']:.1f} ms), fallback {t['shown']:.0f} ms", file=sys.stderr)

                res["machine"] = busy_since(machine)
                long_strokes = []
                for k in range(args.long):
                    digit, points = digit_points(k, rng)
                    long_strokes.append(live_stroke(live_page, points, args.long_seconds))
                    live_clear(live_page)
                # The same trees with nobody drawing: what the windows above would have cost anyway.
                idle = Meter(live_server=a, live_chromium=live_pid, fb_server=b, fb_chromium=fb_pid)
                live_page.evaluate("() => { window.__live = {sends: 0, down: null, up: null}; }")
                idle.start()
                time.sleep(args.idle)
                idle.stop()
                res["idle"] = idle
                res["idle_sends"] = live_page.evaluate("() => window.__live.sends")
                res["mem"][f"Draw: {args.visits} first visits + their reloads, 1 visitor's strokes"] = tree_rss(a)

                res["browse"] = browse(live_page, args.browse)
                res["mem"][f"Test browser: first visit + {args.browse} Next/Random clicks"] = tree_rss(a)
                home(live_page, servers["live"].url)
                open_draw(live_page)
                for k in range(3):
                    live_stroke(live_page, digit_points(k, rng)[1], args.stroke_seconds)
                    live_clear(live_page)
                res["mem"]["back on Draw, 3 more digits (Draw and Test browser in use)"] = tree_rss(a)
                res["peak"] = status_kb(a, "VmHWM") * 1024
                res["fallback_rss"] = tree_rss(b)
            finally:
                live_browser.close()
                fb_browser.close()
        res.update(live=live_strokes, fallback=fb_strokes, long=long_strokes, stroke_cpu=stroke_cpu,
                   clear_cpu=clear_cpu)
        return res
    finally:
        for s in servers.values():
            s.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visits", type=int, default=5, help="fresh contexts for the first/second visit (default 5)")
    ap.add_argument("--strokes", type=int, default=30, help="strokes per path (default 30)")
    ap.add_argument("--stroke-seconds", type=float, default=0.5, help="a live stroke's duration (default 0.5)")
    ap.add_argument("--long", type=int, default=5, help="long live strokes for predictions per second (default 5)")
    ap.add_argument("--long-seconds", type=float, default=1.5, help="their duration (default 1.5)")
    ap.add_argument("--idle", type=float, default=10, help="seconds of nobody drawing, for the CPU (default 10)")
    ap.add_argument("--browse", type=int, default=5, help="Next/Random clicks in the Test browser (default 5)")
    server_options(ap, ROOT)
    args = ap.parse_args()
    require_chromium()
    if not os.environ.get("DIGITREC_MNIST_DIR"):
        raise SystemExit("needs DIGITREC_MNIST_DIR (the Test browser uses MNIST)")
    res = run(args)
    live, fb, long = res["live"], res["fallback"], res["long"]

    frames = [f for s in live + long for f in s["frames"] if f["modelMs"] is not None]
    print(f"\n| in the page (live chromium; frames with a digit, from {len(live) + len(long)} strokes) "
          "| n | median | p90 | min – max | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(ms_row("preprocessing per frame (`canvasToMnist`, 280x280 RGBA → 28x28)",
                 [f["preprocessMs"] for f in frames]))
    print(ms_row("model per frame (onnxruntime-web `session.run`, WASM, 1 thread)", [f["modelMs"] for f in frames]))
    both = [f["preprocessMs"] + f["modelMs"] for f in frames]
    print(ms_row("… both", both, "≤ 16.7 ms (one frame at 60 Hz)", bold=True))
    rendered = [f for f in frames if f.get("renderMs") is not None]
    if rendered:  # a checkout before the page timed its rendering has none
        print(ms_row("showing the answer per frame (`render()`: texts, bars, the 28x28, \"Not a digit\" or not)",
                     [f["renderMs"] for f in rendered]))
        print(ms_row("… all three", [f["preprocessMs"] + f["modelMs"] + f["renderMs"] for f in rendered]))

    def per_s(strokes: list[dict], count) -> list[float]:
        return [count(s) / ((s["up"] - s["down"]) / 1000) for s in strokes]

    def rate_row(label: str, xs: list[float], bold: bool = False) -> str:
        med = f"{statistics.median(xs):.0f} /s"
        return (f"| {label} | {len(xs)} | {f'**{med}**' if bold else med} | {p90(xs):.0f} /s | "
                f"{min(xs):.0f} – {max(xs):.0f} /s | |")

    def shown_in_stroke(s: dict) -> int:
        return sum(s["down"] <= f["at"] <= s["up"] for f in s["frames"])

    print(rate_row(f"predictions shown per second during a stroke of ~{args.long_seconds:g} s (frames whose `at` "
                   "lies between mouse-down and mouse-up)", per_s(long, shown_in_stroke), bold=True))
    print(rate_row("… the mouse moves the page received per second meanwhile (Playwright, one every "
                   f"1/{MOVE_HZ} s asked)", per_s(long, lambda s: s["moves"])))
    print(rate_row("… the page's animation frames per second meanwhile", per_s(long, lambda s: s["rafs"])))
    print(rate_row(f"… predictions per second during the strokes of ~{args.stroke_seconds:g} s below",
                   per_s(live, shown_in_stroke)))

    pen_up = [s["penUp"] for s in live]
    observed = [s["observed"] for s in live]
    painted = [s["painted"] if s["painted"] is not None else 0.0 for s in live]
    shown = [t["shown"] for t in fb]
    print("\n| pen-up → final `Prediction: d` (alternately a browser-path and a server-path stroke) | n | median "
          "| p90 | min – max | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(ms_row("**browser path**, the component's figure: `digitrecLive.penUps` (pointer-up → the answer for "
                 "the canvas as it was at the pointer-up, rendered)", pen_up, "≤ 50 ms", bold=True))
    print(ms_row("**browser path**, this script's clock: capture `mouseup` → the last change of "
                 "`h2.dr-prediction`'s text (MutationObserver; 0 if none after the mouse-up)", observed,
                 "≤ 50 ms", bold=True))
    print(ms_row("… and to the animation frame after that change (painted)", painted))
    print(ms_row("**server path** (no WebAssembly: the fallback): mouse-up → `Prediction: d` (`timed_stroke`)",
                 shown, bold=True))
    sent = [t["shown"] - t["sent"] for t in fb if t["sent"] is not None]
    if sent:
        print(ms_row("… of which the canvas sending the drawing (200 ms after the mouse-up) → `Prediction: d`", sent))
    later = sum(s["changesAfterUp"] > 0 for s in live)
    changed = sum(s["atUp"] is not None and s["atUp"] != s["text"] for s in live)
    print(f"\nServer path ÷ browser path, median pen-up → final prediction: "
          f"**{ratio(statistics.median(shown), statistics.median(observed))}** by this script's clock "
          f"({statistics.median(shown):.0f} ms ÷ {statistics.median(observed):.1f} ms), "
          f"{ratio(statistics.median(shown), statistics.median(pen_up))} by `penUps`. "
          f"Browser-path strokes whose prediction was rendered again after the mouse-up: {later}/{len(live)} "
          f"(more than once: {sum(s['changesAfterUp'] > 1 for s in live)}; to another digit than the one shown at "
          f"the mouse-up: {changed}). Read as drawn: browser path {sum(s['right'] for s in live)}/{len(live)}, "
          f"server path {sum(t['right'] for t in fb)}/{len(fb)}; browser-path pages still in mode \"browser\" "
          f"after each stroke: {sum(s['mode'] == 'browser' for s in live)}/{len(live)}.")

    sc, cc, idle = res["stroke_cpu"], res["clear_cpu"], res["idle"]
    lv, fbm = sc["live"], sc["fallback"]
    print("\n| CPU (utime+stime from /proc; a stroke's window: before its mouse-down → its answer shown and "
          "settled, Clear apart) | browser path | server path | server ÷ browser path |")
    print("| --- | ---: | ---: | ---: |")
    idle_live = idle.share("live_server") * lv.wall / lv.n  # CPU s an idle server uses over a mean window
    idle_fb = idle.share("fb_server") * fbm.wall / fbm.n
    net_live = max(0.0, lv.used["server"] / lv.n - idle_live)
    net_fb = max(0.0, fbm.used["server"] / fbm.n - idle_fb)
    print(f"| **server (streamlit process tree), per stroke** | **{per_stroke_ms(lv.used['server'], lv.n)}** | "
          f"**{per_stroke_ms(fbm.used['server'], fbm.n)}** | |")
    print(f"| … the same server idle ({args.idle:g} s, nobody drawing) over a stroke's mean window "
          f"({1000 * lv.wall / lv.n:.0f} ms / {1000 * fbm.wall / fbm.n:.0f} ms) | {1000 * idle_live:.1f} ms | "
          f"{1000 * idle_fb:.1f} ms | |")
    floor = 1 / TICK / lv.n  # one clock tick over all the strokes: below it, nothing was measured

    def net(x: float) -> str:
        return f"{1000 * x:.1f} ms" if x >= floor else f"< {1000 * floor:.1f} ms (below one tick in {lv.n} strokes)"

    print(f"| … the stroke's own: above idle | {net(net_live)} | {net(net_fb)} | "
          f"{f'{net_fb / net_live:.0f}×' if net_live >= floor else f'> {net_fb / floor:.0f}×'} |")
    # The page's own periodic messages land in some windows: those where it sent nothing are the strokes alone.
    quiet = [(cpu, w) for cpu, w, s in zip(lv.windows["server"], lv.window_walls, live) if s["sends"] == 0]
    notab = res["notab"]
    if quiet:
        q = sum(cpu for cpu, _ in quiet) / len(quiet)
        background = notab.share("live_server") * sum(w for _, w in quiet) / len(quiet)
        print(f"| … the browser path's strokes whose page sent nothing ({len(quiet)} of {len(live)}), per stroke | "
              f"{1000 * q:.1f} ms | | |")
        print(f"| … a server with no tab at all ({args.idle:g} s at the start: Streamlit's own background) over "
              f"those windows | {1000 * background:.1f} ms | | |")
        # An upper bound for the browser path: its strokes send nothing, and what is left is the background's
        # own variation (an idle server's CPU over 1-2 s windows is a few ticks of 10 ms).
        own = max(q - background, 1 / TICK / len(quiet))
        print(f"| **… a stroke's own: the browser path's strokes above a server with no tab (at most); the server "
              f"path's above idle** | **≤ {1000 * own:.1f} ms** | **{1000 * net_fb:.1f} ms** | "
              f"**≥ {net_fb / own:.0f}×** |")
    sends = sum(s["sends"] for s in live)
    print(f"| page → server websocket messages (hooked `WebSocket.send`), per second of the strokes' windows "
          f"({sends} in {len(live)}) | {sends / lv.wall:.2f} /s | ≥ 1 per stroke (the drawing; not counted) | |")
    print(f"| … the same page idle on Draw ({args.idle:g} s; e.g. its fragment that looks for a model switch, "
          f"app_pages/draw.py) | {res['idle_sends'] / idle.wall:.2f} /s | | |")
    print(f"| chromium (all its processes), per stroke | {per_stroke_ms(lv.used['chromium'], lv.n)} | "
          f"{per_stroke_ms(fbm.used['chromium'], fbm.n)} | |")
    print(f"| chromium, share of one core over the strokes' windows | {lv.share('chromium'):.0%} | "
          f"{fbm.share('chromium'):.0%} | |")
    print(f"| … the same chromium idle (Draw open, nobody drawing) | {idle.share('live_chromium'):.0%} | "
          f"{idle.share('fb_chromium'):.0%} | |")
    print(f"| Clear (a rerun of the drawing fragment), server, per Clear | "
          f"{per_stroke_ms(cc['live'].used['server'], cc['live'].n)} | "
          f"{per_stroke_ms(cc['fallback'].used['server'], cc['fallback'].n)} | |")
    print(f"\nThe machine's cores were {res['machine']:.0%} busy during the strokes (all processes, /proc/stat: "
          "this script's browsers and servers and anyone else's work).")

    firsts, seconds = [v[0] for v in res["visits"]], [v[1] for v in res["visits"]]
    print(f"\n| Draw on a warm server, click in the sidebar → canvas takes the pen with the model loaded "
          f"({len(firsts)} contexts) | first visit (empty Cache Storage) | second visit (page loaded again) |")
    print("| --- | ---: | ---: |")

    def med(vs: list[dict], key: str, unit: str = "ms", scale: float = 1.0) -> str:
        xs = [v[key] * scale for v in vs if v.get(key) is not None]
        if not xs:
            return "–"
        return f"{statistics.median(xs):.0f} {unit} ({min(xs):.0f} – {max(xs):.0f})"

    print(f"| **click → ready** (median, min – max) | **{med(firsts, 'ready', 'ms', 1000)}** | "
          f"**{med(seconds, 'ready', 'ms', 1000)}** |")
    print(f"| … click → canvas drawable | {med(firsts, 'pen', 'ms', 1000)} | {med(seconds, 'pen', 'ms', 1000)} |")
    print(f"| … click → model loaded (`mode` \"browser\") | {med(firsts, 'model', 'ms', 1000)} | "
          f"{med(seconds, 'model', 'ms', 1000)} |")
    print(f"| `readyMs`: component loading → model session ready | {med(firsts, 'readyMs')} | "
          f"{med(seconds, 'readyMs')} |")
    print(f"| … WASM runtime download (`wasmDownloadMs`, {firsts[0]['wasmBytes'] / MB:.1f} MB gzipped) | "
          f"{med(firsts, 'wasmDownloadMs')} | {med(seconds, 'wasmDownloadMs')} |")
    print(f"| … WASM inflate (`wasmInflateMs`) | {med(firsts, 'wasmInflateMs')} | {med(seconds, 'wasmInflateMs')} |")
    print(f"| … model session creation (`model.loadMs`: WASM compile + graph) | {med(firsts, 'loadMs')} | "
          f"{med(seconds, 'loadMs')} |")

    def count(vs: list[dict], key: str) -> str:
        return f"{sum(bool(v.get(key)) for v in vs)}/{len(vs)}"

    print(f"| WASM from Cache Storage / model from Cache Storage | {count(firsts, 'wasmCached')} / "
          f"{count(firsts, 'modelCached')} | {count(seconds, 'wasmCached')} / {count(seconds, 'modelCached')} |")
    print(f"\nSecond ÷ first visit, median click → ready: "
          f"{statistics.median(v['ready'] for v in seconds) / statistics.median(v['ready'] for v in firsts):.2f}×.")

    print("\n| server memory (RSS of the streamlit process tree, browser path) | MB | target |")
    print("| --- | ---: | --- |")
    for stage, rss in res["mem"].items():
        target = "≤ 250 MB" if stage.startswith(("Test browser", "back on Draw")) else ""
        print(f"| {stage} | **{rss / MB:.0f}** | {target} |")
    print(f"| peak (VmHWM of the server process) | {res['peak'] / MB:.0f} | |")
    print(f"| server path's server at the end, for comparison ({len(fb) + 2} strokes classified, no Test browser) | "
          f"{res['fallback_rss'] / MB:.0f} | |")
    print(f"\nTest browser's first visit (classifies the 10,000 test digits): {res['browse']:.1f} s.")
    print("\n" + command_line("bench/live.py", ["--server.fileWatcherType", "none", *args.server_arg]))


if __name__ == "__main__":
    main()
