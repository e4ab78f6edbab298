"""Drives the dashboard in a real browser, for the browser tests (tests/test_browser.py) and the benchmarks
(bench/browser.py, bench/serving.py): a Streamlit server of its own, Debian's chromium, and a pen on the canvas.

The server is a clone's `streamlit run app.py`, run from the clone's root (`app_dir`), so it reads the
clone's `.streamlit/config.toml` exactly as a developer's `streamlit run app.py` does; `digitrec app`
runs the packaged `digitrec_app/app.py` with the same options (tests/test_package.py checks they agree).
Test tooling, not part of the package: the benchmarks import it as a sibling (`from chromium import ...`), the
tests as `bench.chromium`. It imports Playwright (a `dev` extra) only inside the helpers that drive a page, so the
serve-only check (tests/test_launch.py runs there) never needs it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserType, Page, Playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright's own downloads are never used
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
CANVAS = "[data-testid=stBidiComponentIsolated] canvas.upper-canvas"  # Fabric's layer that takes the mouse
# Pen strokes in canvas pixels (280x280): a "1" and a "7" every model reads right.
ONE = [(140, 45), (140, 235)]
SEVEN = [(75, 60), (205, 60), (120, 235)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether the Streamlit server at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


class Server:
    """`streamlit run app.py` in `app_dir` (a clone's root) on a free port, in a process group of its own.

    `home` is its DIGITREC_HOME (default: a fresh empty model store, removed on `stop`); `env` adds to
    this process's environment; `extra` are more `streamlit run` options. Its output goes to `log`.
    """

    def __init__(self, app_dir: Path, extra: list[str] | tuple[str, ...] = (), *, home: Path | None = None,
                 env: dict[str, str] | None = None):
        self._own_home = tempfile.TemporaryDirectory(prefix="digitrec_browser_home_") if home is None else None
        self.home = Path(self._own_home.name) if self._own_home else Path(home)
        self.log = Path(tempfile.mkstemp(prefix="digitrec_streamlit_", suffix=".log")[1])
        self.url = f"http://127.0.0.1:{free_port()}"
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", self.url.rsplit(":", 1)[1], "--browser.gatherUsageStats", "false", *extra]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {}), "DIGITREC_HOME": str(self.home)}
        self.started = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def log_text(self, last: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-last:]

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds from the launch to the first answered health check; RuntimeError (with the log) if none."""
        while not healthy(self.url):
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_text()}")
            if time.perf_counter() - self.started > timeout:
                raise RuntimeError(f"streamlit not healthy after {timeout:g} s:\n{self.log_text()}")
            time.sleep(0.02)
        return time.perf_counter() - self.started

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL if it lingers; removes its own model store."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self._own_home is not None:
            self._own_home.cleanup()


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def main_area(page: Page):
    return page.get_by_test_id("stMain")


def click_page(page: Page, name: str) -> None:
    """Click `name` in the sidebar's page list (no waiting for the page)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()


def open_dashboard(browser: Browser, server: Server, page_name: str, timeout: float) -> tuple[Page, list[str]]:
    """A new page (in a context of its own) at `server`'s Home, moved to `page_name` through the sidebar once Home's
    script has finished, and the list its console errors and uncaught exceptions go to. Close it with
    `page.context.close()`."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport=VIEWPORT).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(server.url + "/")
    expect(page.get_by_text("Active model").first).to_be_visible(timeout=timeout)
    script_done(page, timeout=timeout)
    click_page(page, page_name)
    return page, errors


def script_done(page: Page, timeout: float = 20_000) -> None:
    """Wait until no script runs for this page (Streamlit's "Running..." status is gone)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout)


def empty_canvas_prompt(page: Page):
    """The Draw page's "Draw a digit" notice, shown while the canvas is empty."""
    return main_area(page).get_by_test_id("stAlert").filter(has_text="Draw a digit")


def prediction(page: Page):
    return main_area(page).get_by_text(re.compile(r"^Prediction: \d$"))


def canvas_box(page: Page) -> dict:
    box = page.locator(CANVAS).bounding_box()
    if box is None or (box["width"], box["height"]) != (280, 280):
        raise AssertionError(f"the canvas is not a visible 280x280 box: {box}")
    return box


def drawable(page: Page, i: int = 0) -> bool:
    """Hover the canvas once; whether Fabric shows its free-drawing cursor, i.e. the pen is live."""
    box = page.locator(CANVAS).bounding_box()
    if box is None:
        return False
    page.mouse.move(box["x"] + 10 + i % 20, box["y"] + 10)
    return page.locator(CANVAS).evaluate("c => c.style.cursor") == "crosshair"


def wait_drawable(page: Page, timeout: float = 20.0) -> None:
    """Hover the canvas until the pen is live.

    A freshly mounted canvas (the page's first visit) enables free drawing only once it has loaded
    its initial drawing, asynchronously; a stroke started before that is silently lost. A user's
    hover is the probe: Fabric sets the crosshair cursor on mouse moves in drawing mode.
    """
    deadline = time.monotonic() + timeout
    i = 0
    while not drawable(page, i):
        if time.monotonic() > deadline:
            raise AssertionError("the canvas never entered free-drawing mode")
        i += 1
        page.wait_for_timeout(25)


def pen(page: Page, box: dict, points: list[tuple[float, float]], steps: int = 12) -> None:
    """Mouse down at the first point, `steps` moves to each next one, mouse up: no waiting at all."""
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=steps)
    page.mouse.up()


def stroke(page: Page, points: list[tuple[float, float]], steps: int = 12) -> None:
    """One pen stroke through `points` once the pen is live, with real intermediate mouse moves."""
    wait_drawable(page)
    pen(page, canvas_box(page), points, steps)


def press_clear(page: Page) -> None:
    page.get_by_role("button", name="Clear", exact=True).click()


# Timestamps (performance.now()) of one stroke: the mouse-up, the page's first websocket message after
# it (the canvas sending the drawing, 200 ms later: its fixed debounce), and `Prediction: d` appearing.
_ARM_TIMING = """() => {
    const t = window.__stroke = {up: null, sent: null, shown: null, text: null};
    if (!window.__wsHooked) {
        window.__wsHooked = true;
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (...args) {
            const s = window.__stroke;
            if (s && s.up !== null && s.sent === null) s.sent = performance.now();
            return send.apply(this, args);
        };
    }
    window.addEventListener('mouseup', () => { t.up = performance.now(); }, {capture: true, once: true});
    const look = () => {
        for (const h of document.querySelectorAll('[data-testid=stMain] h2')) {
            const text = h.textContent.trim();
            if (/^Prediction: \\d$/.test(text)) { t.shown = performance.now(); t.text = text; return true; }
        }
        return false;
    };
    const obs = new MutationObserver(() => { if (t.up !== null && look()) obs.disconnect(); });
    obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def timed_stroke(page: Page, points: list[tuple[float, float]], steps: int = 12,
                 timeout: float = 30_000) -> dict:
    """Draw one stroke on an empty canvas; milliseconds from its mouse-up to the canvas sending it
    (`sent`) and to `Prediction: d` in the page (`shown`), and that text (`text`)."""
    wait_drawable(page)
    box = canvas_box(page)
    page.evaluate(_ARM_TIMING)
    pen(page, box, points, steps)
    page.wait_for_function("() => window.__stroke.shown !== null", timeout=timeout)
    t = page.evaluate("() => window.__stroke")
    return {"sent": t["sent"] - t["up"] if t["sent"] is not None else None, "shown": t["shown"] - t["up"],
            "text": t["text"]}


def server_options(ap: argparse.ArgumentParser, root: Path) -> None:
    """A browser benchmark's `--app-dir` (whose app.py to run) and `--server-arg` (extra `streamlit run` options)."""
    ap.add_argument("--app-dir", type=Path, default=root, help="the checkout whose app.py to run (default: this one)")
    ap.add_argument("--server-arg", action="append", default=[], help="an extra `streamlit run` option (repeatable)")


def require_chromium() -> None:
    """Stop a browser benchmark, with the reason, on a machine without Debian's chromium."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"needs Debian's chromium at {CHROMIUM}")


def command_line(script: str, server_args: list[str]) -> str:
    """How a benchmark was run, for its report: the command (with DIGITREC_MNIST_DIR) and the machine."""
    mnist = os.environ.get("DIGITREC_MNIST_DIR")
    env = f"DIGITREC_MNIST_DIR={shlex.quote(mnist)} " if mnist else ""
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    return (f"`{env}python {script}{' ' + argv if argv else ''}`\n({os.cpu_count()} CPU cores, chromium {CHROMIUM}, "
            f"streamlit run options: {' '.join(server_args) or 'the defaults'})")


# ---- the Draw page's live classifier (digitrec/web/live_draw.js, digitrec_app/ui/live.py) ----------------

# chromium as a browser without WebAssembly (a locked-down one): the Draw page then classifies on the server.
# V8's --noexpose_wasm leaves WebAssembly in place in Debian's chromium 156 (`typeof WebAssembly` is still
# "object", alone or before --jitless); --jitless alone removes it, as it does in browsers' hardened modes.
NO_WASM_ARGS = ["--js-flags=--jitless"]
# The same for one browser context (`context.add_init_script`), without slowing the rest of the page's
# JavaScript as --jitless does: what the benchmarks use to time the server path.
NO_WASM_SCRIPT = "delete globalThis.WebAssembly;"
LIVE_STATUS = "Classified in your browser by"  # the start of the live panel's status line, once the model runs


def launch_without_wasm(playwright: Playwright | BrowserType) -> Browser:
    """Debian's chromium with no WebAssembly in its pages (`NO_WASM_ARGS`); from a Playwright, or from the
    BrowserType of a browser already running (`browser.browser_type`: one Playwright drives both)."""
    kind = getattr(playwright, "chromium", playwright)
    return kind.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *NO_WASM_ARGS])


def live_panel(page: Page):
    """The live classifier's panel (in its component's open shadow root: Playwright's selectors pierce it)."""
    return main_area(page).locator(".dr-live")


def wait_live(page: Page, timeout: float = 60_000) -> str:
    """Wait until the page classifies in the browser (its model loaded); the model's name it names."""
    from playwright.sync_api import expect

    status = live_panel(page).locator(".dr-status")
    expect(status).to_have_text(re.compile(rf"^{LIVE_STATUS} (\S+), as you draw\.$"), timeout=timeout)
    page.wait_for_function("() => window.digitrecLive && window.digitrecLive.mode === 'browser'", timeout=timeout)
    return re.match(rf"^{LIVE_STATUS} (\S+),", status.inner_text()).group(1)


def shown_prediction(page: Page):
    """`Prediction: d` as the user sees it: the live panel keeps its last text, hidden, once the canvas empties."""
    return prediction(page).filter(visible=True)


def live_shown(page: Page) -> dict | None:
    """What the live panel shows ({drawing, digit, probability}), or None (window.digitrecLive.shown)."""
    return page.evaluate("() => window.digitrecLive ? window.digitrecLive.shown : null")


def touch_stroke(page: Page, box: dict, points: list[tuple[float, float]], steps: int = 12) -> None:
    """One finger stroke through `points` (canvas pixels of `box`) as real touch events, through the DevTools
    protocol: touchStart, `steps` touchMoves to each next point, touchEnd (a page made with has_touch=True)."""
    cdp = page.context.new_cdp_session(page)
    try:
        def touch(kind: str, x: float | None = None, y: float | None = None) -> None:
            at = [] if x is None else [{"x": box["x"] + x, "y": box["y"] + y, "radiusX": 4, "radiusY": 4, "force": 1}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": at})

        touch("touchStart", *points[0])
        (px, py) = points[0]
        for x, y in points[1:]:
            for k in range(1, steps + 1):
                touch("touchMove", px + (x - px) * k / steps, py + (y - py) * k / steps)
            px, py = x, y
        touch("touchEnd")
    finally:
        cdp.detach()


def wait_live_settled(page: Page, quiet_ms: float = 500, timeout: float = 20_000) -> dict | None:
    """Wait until the live panel has classified nothing new for `quiet_ms` (the canvas repaints a finished
    stroke a frame or two after the pen lifts, and the panel reads it again); what it shows then."""
    page.evaluate("() => { window.__liveQuiet = {last: null, since: performance.now()}; }")
    page.wait_for_function(
        """quiet => {
            const frames = window.digitrecLive.frames, q = window.__liveQuiet;
            const last = frames.length ? frames[frames.length - 1].at : null;
            if (last !== q.last) { q.last = last; q.since = performance.now(); return false; }
            return performance.now() - q.since >= quiet;
        }""", arg=quiet_ms, timeout=timeout)
    return live_shown(page)


# ---- a training run timed from its click (bench/finetune_click.py, bench/first_batch.py) --------------------

def training_server(app_dir: Path, extra: list[str] | tuple[str, ...] = (), *, warm: bool, home: Path,
                    env: dict[str, str] | None = None) -> Server:
    """A Server whose runs start in a warm training worker (`warm`: DIGITREC_WARM_WORKER unset in its environment,
    the default) or each in a process of their own (set to 0)."""
    from digitrec_core.jobs import WARM_ENV

    saved = os.environ.pop(WARM_ENV, None)  # "on" is unset, whatever this process has
    try:
        return Server(app_dir, extra, home=home, env={**(env or {}), **({} if warm else {WARM_ENV: "0"})})
    finally:
        if saved is not None:
            os.environ[WARM_ENV] = saved


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def training_workers(server: Server) -> dict[int, float]:
    """The server's training processes (multiprocessing's spawned children) and their CPU seconds so far."""
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for pid in _descendants(server.proc.pid):
        try:
            if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return found


def idle_worker_state(server: Server, idle: float) -> str:
    """Wait `idle` seconds (a user looking at the page before the click); what the server's training worker did in
    the last second of them: `ready` (idle), `warming` (over a fifth of a core: still warming up) or `none`."""
    time.sleep(max(0.0, idle - 1))
    before = training_workers(server)
    time.sleep(min(1.0, idle))
    after = training_workers(server)
    if not after:
        return "none"
    busy = any(after[p] - before.get(p, 0.0) > 0.2 for p in after)
    return ("warming" if busy else "ready") + (f" ({len(after)})" if len(after) > 1 else "")


# Page-time marks (performance.now()) after the first click: for each mark, the first time an element of `stMain`
# matching its selector has text matching its pattern (trimmed), that text, and every text it showed since.
_ARM_MARKS = r"""marks => {
    const t = window.__marks = {click: null, at: {}, text: {}, seen: {}};
    for (const k of Object.keys(marks)) { t.at[k] = null; t.text[k] = null; t.seen[k] = []; }
    window.addEventListener('click', () => { if (t.click === null) t.click = performance.now(); }, {capture: true});
    const look = () => {
        const main = document.querySelector('[data-testid=stMain]');
        if (t.click === null || !main) return;
        const now = performance.now();
        for (const [k, [selector, pattern]] of Object.entries(marks)) {
            const re = new RegExp(pattern);
            for (const el of main.querySelectorAll(selector)) {
                const text = el.textContent.trim();
                if (!re.test(text)) continue;
                if (t.at[k] === null) { t.at[k] = now; t.text[k] = text; }
                const seen = t.seen[k];
                if (!seen.length || seen[seen.length - 1][1] !== text) seen.push([now - t.click, text]);
                break;
            }
        }
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def arm_marks(page: Page, marks: dict[str, tuple[str, str]]) -> None:
    """Before a click: time, from that click, when each mark (`name: (CSS selector, JS regex)`) first shows."""
    page.evaluate(_ARM_MARKS, marks)


def wait_marks(page: Page, done: str, timeout: float) -> dict:
    """Wait until the JS expression `done` holds of `at` (each mark's time, or null); then each mark's
    milliseconds from the click (`at`, None if not shown), its first text (`text`) and its texts (`seen`,
    [ms, text] pairs)."""
    page.wait_for_function(f"() => {{ const at = window.__marks.at; return {done}; }}", timeout=timeout, polling=200)
    t = page.evaluate("() => window.__marks")
    return {"at": {k: None if v is None else v - t["click"] for k, v in t["at"].items()}, "text": t["text"],
            "seen": t["seen"]}


def seconds(ms: float | None) -> str:
    """Milliseconds as `1.2 s`, `–` for none."""
    return "–" if ms is None else f"{ms / 1000:.1f} s"
