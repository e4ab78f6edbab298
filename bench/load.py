"""Under load: 10 visitors at once on one public-mode dashboard (`DIGITREC_PUBLIC=1`), from one chromium;
or (`--live-visitors N`) N visitors drawing on Draw, which classifies in their browsers.

One fresh server (`streamlit run app.py` from the clone's root, chromium.Server) with an
empty model store (so the pages use the shipped model) and `DIGITREC_PUBLIC=1`; one chromium, one
browser context per visitor (separate Streamlit sessions), driven with Playwright's async API.

**The 10-visitor run** (the default). Keep the 10-visitor run for the fallback path: its pages have no
WebAssembly (`delete globalThis.WebAssembly` before any script of theirs, bench/live.py's NO_WASM: Chromium
156 ignores `--js-flags=--noexpose_wasm`), so Draw falls back to classifying on the server, the path it
had before it classified in the browser: the canvas sends its PNG 200 ms after the mouse-up and the server
answers with `## Prediction: d`. That is the server's heaviest Draw, and what the drawers below time.

1. **Training alone**: one visitor trains a small run from the Train page (`--train-images` x
   `--train-epochs`, within the public bounds) while nobody else is there; its images/s is the baseline.
   This also loads MNIST in the server (the run itself trains in a child process, digitrec_core.jobs);
   that visitor then opens the Test browser once
   (its one-time cache: the 10,000 test digits classified by the shipped model, ~30 MB), and leaves. The
   memory "at start" below is this warm server, read once it has been quiet long enough for its idle
   release (digitrec_app.ui.memory) to run, as the figure after the load is.
2. **The load** for `--seconds`: 8 visitors on Draw each draw a digit once a second (a "1" or a "7",
   shifted at random): mouse-up to `Prediction: d` in the page, timed with performance.now() there as
   chromium.timed_stroke does, then Clear; 1 visitor clicks Next / Random in the Test
   browser; 1 visitor trains the same run as in step 1, again and again while time is left.
3. The visitors leave (contexts closed); the server's memory `--after` seconds later.

Reported: stroke-to-prediction p50/p95/max, strokes drawn / read right / failed, page errors (console
errors and page exceptions, all visitors, all phases), the server's memory (RSS of its process tree,
from /proc) idle, at the start of the load, at its end and `--after` s after, and the training's
slowdown (images/s alone / images/s under load, from the runs' stored `train_seconds`).
Targets on 2 cores: p95 <= 1.5 s, 0 errors, memory back within 50 MB of its start `--after` 180 s later.

    DIGITREC_MNIST_DIR=/path/to/mnist python bench/load.py [--seconds 60] [--after 180]

**The live run** (`--live-visitors N`): N visitors open Draw (at most `--open-at-once` at a time; each page
then runs the model itself, `digitrecLive.mode` "browser", bench/live.py) and, for `--seconds`, draw as a
person does: after a first pause of 0-4 s, a "1" or a "7" shifted at random, drawn with one mouse move every
1/60 s for 0.5-1 s, then a pause of 2-4 s, and Clear after half of the digits. The phase runs from the
start to the end of the last stroke. Reported: the server's CPU over the phase (utime+stime of its process
tree, /proc, as a share of one core); failed strokes (no answer within 30 s) and page errors (console errors
and page exceptions, and pages not in mode "browser" at the end); pen-up -> prediction p50/p95/max from
each page's `digitrecLive.penUps`, and this script's own clock (capture mouseup -> the last change of the
prediction's text, bench/live.py's cross-check); the browsers' own CPU over the phase (chromium's process
tree, as a share of the machine's cores) and the machine's (all processes, /proc/stat), which tell how much
of a latency miss is the browsers' load on the same 2 cores rather than the page's work. Targets: server
CPU under 20% of one core with 50 visitors drawing for 60 s, 0 errors, p95 pen-up -> prediction <= 50 ms.

One chromium cannot draw for 50 people on 2 cores: a page drawing takes about 60% of a core (bench/live.py),
an open Draw page about 2% even when nobody draws, and with 50 pages a 0.5-1 s stroke took over 3 minutes.
`--live-drawing K` keeps all N visitors on Draw at a person's pace, Clears included, but only the first K
move the mouse; the others sleep through their strokes. A stroke in the browser sends the server nothing
(bench/live.py counts the page's websocket messages), so the server sees N visitors either way, and the K
drawers' latency is less the browsers' own contention.

    DIGITREC_MNIST_DIR=/path/to/mnist python bench/load.py --live-visitors 50 [--live-drawing 2] [--seconds 60]

It prints a markdown table and the command line behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from chromium import (  # noqa: E402
    _ARM_TIMING,
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ONE,
    SEVEN,
    VIEWPORT,
    Server,
    require_chromium,
    server_options,
)
from live import (  # noqa: E402  (bench/ is on sys.path when run as a script)
    ARM_LIVE,
    MOVE_HZ,
    NO_WASM,
    READ_LIVE,
    busy_since,
    chromium_roots,
    figures,
    machine_busy,
    path_points,
    tree_cpu,
)
from playwright.async_api import Page, async_playwright, expect  # noqa: E402
from serving import MB, descendants, tree_rss  # noqa: E402  (bench/ is on sys.path when run as a script)

from digitrec_app.ui import memory  # noqa: E402
from digitrec_core import ModelStore, public  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DRAWERS = 8
START = "start of the load (warm: after training alone and the Test browser, visitors gone)"
TIMEOUT = 60_000  # ms: ten sessions and TensorFlow on a 2-core machine
# A rerun deletes the media of the run before; an image the browser had not fetched yet then 404s
# (tests/test_browser.py ignores these when every image shown has loaded). Counted apart, not hidden.
SUPERSEDED_MEDIA = re.compile(r"(status of 404 \(Not Found\) \(\S+/media/|Image source error - \S+/media/)")


class Visitors:
    """One chromium, a browser context per visitor, every console error and page exception of all of them."""

    def __init__(self, browser, url: str, *, wasm: bool = True):
        self.browser, self.url, self.wasm = browser, url, wasm
        self.contexts: list = []
        self.errors: list[str] = []

    async def new(self, who: str) -> Page:
        context = await self.browser.new_context(viewport=VIEWPORT)
        if not self.wasm:  # Draw falls back to the server path
            await context.add_init_script(NO_WASM)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{who}: console.error: {m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: self.errors.append(f"{who}: pageerror: {e}"))
        await page.goto(self.url + "/")
        await expect(page.get_by_test_id("stSidebar").get_by_text("Your model")).to_be_visible(timeout=TIMEOUT)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts = []


async def script_done(page: Page) -> None:
    await expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=TIMEOUT)


async def goto(page: Page, name: str) -> None:
    await page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_test_id("stMain").get_by_role("heading", level=1)).to_contain_text(name, timeout=TIMEOUT)


# ---- the drawers ---------------------------------------------------------------------------------------

async def wait_drawable(page: Page, timeout: float = 30.0) -> dict:
    """Hover until Fabric's pen is live (see chromium.wait_drawable); the canvas box."""
    deadline = time.monotonic() + timeout
    for i in range(10**6):
        box = await page.locator(CANVAS).bounding_box()
        if box is not None:
            await page.mouse.move(box["x"] + 10 + i % 20, box["y"] + 10)
            if await page.locator(CANVAS).evaluate("c => c.style.cursor") == "crosshair":
                return box
        if time.monotonic() > deadline:
            break
        await page.wait_for_timeout(25)
    raise AssertionError("the canvas never entered free-drawing mode")


async def timed_stroke(page: Page, points: list[tuple[float, float]], steps: int = 12) -> tuple[float, str]:
    """One stroke on an empty canvas: ms from its mouse-up to `Prediction: d` in the page, and that text."""
    box = await wait_drawable(page)
    await page.evaluate(_ARM_TIMING)
    await page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    await page.mouse.down()
    for x, y in points[1:]:
        await page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
    await page.mouse.up()
    await page.wait_for_function("() => window.__stroke.shown !== null", timeout=TIMEOUT)
    t = await page.evaluate("() => window.__stroke")
    return t["shown"] - t["up"], t["text"]


async def clear(page: Page) -> None:
    await page.get_by_role("button", name="Clear", exact=True).click()
    await expect(page.get_by_test_id("stMain").get_by_text(re.compile(r"^Prediction:"))).to_have_count(
        0, timeout=TIMEOUT)
    await script_done(page)


async def on_draw(page: Page) -> None:
    """Draw, once the page has fallen back to the server path (a stroke before that rerun would be lost)."""
    await goto(page, "Draw")
    main = page.get_by_test_id("stMain")
    await expect(main.get_by_text("Classified on the server", exact=False)).to_be_visible(timeout=TIMEOUT)
    await expect(main.get_by_text("Draw a digit")).to_be_visible(timeout=TIMEOUT)
    await script_done(page)


async def drawer(page: Page, home_url: str, k: int, until: float, out: dict) -> None:
    """A digit a second until `until` (monotonic): each stroke's latency, whether it read right, failures."""
    rng = random.Random(k)
    n = 0
    while time.monotonic() < until:
        started = time.monotonic()
        digit, points = (1, ONE) if n % 2 == 0 else (7, SEVEN)
        dx, dy = rng.uniform(-25, 25), rng.uniform(-15, 15)
        n += 1
        try:
            ms, text = await timed_stroke(page, [(x + dx, y + dy) for x, y in points])
            out["ms"].append(ms)
            out["right"] += text == f"Prediction: {digit}"
            await clear(page)
        except Exception as e:  # a lost stroke or a stuck page: counted, and the visitor goes on
            out["failed"].append(f"drawer {k}: {type(e).__name__}: {str(e).splitlines()[0]}")
            # Back in from the root, as a visitor would: a reload of /draw itself makes Streamlit's frontend
            # probe /draw/_stcore/health first, two console 404s that would be this script's own doing.
            await page.goto(home_url + "/")
            await on_draw(page)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


# ---- the test-set browser ------------------------------------------------------------------------------

async def on_browse(page: Page) -> None:
    await goto(page, "Test browser")
    await expect(page.get_by_test_id("stMain").get_by_text("Predicted:", exact=False).first).to_be_visible(
        timeout=120_000)
    await script_done(page)


async def browser_visitor(page: Page, until: float, out: dict) -> None:
    """Next, Random, Next, ... in the Test browser until `until`: click to the page's script done."""
    main = page.get_by_test_id("stMain")
    n = 0
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            await main.get_by_role("button", name=re.compile("Next$" if n % 2 == 0 else "Random$")).first.click()
            await script_done(page)
            out["clicks"].append(time.monotonic() - started)
        except Exception as e:
            out["failed"].append(f"browser: {type(e).__name__}: {str(e).splitlines()[0]}")
        n += 1
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


# ---- the trainer ---------------------------------------------------------------------------------------

def newest_visitor_model(home: Path) -> str | None:
    names = public.visitor_models(home)
    return names[-1] if names else None


async def train_once(page: Page, home: Path, images: int, epochs: int, timeout: float = 400.0) -> dict:
    """One run from the Train page (already shown); returns its stored figures and the wall time."""
    await page.get_by_role("spinbutton", name="Epochs").fill(str(epochs))
    await page.get_by_role("spinbutton", name="Training images").fill(str(images))
    await page.get_by_role("spinbutton", name="Training images").press("Tab")
    before = newest_visitor_model(home)
    started = time.monotonic()
    await page.get_by_role("button", name="Train", exact=True).click()
    stopped = page.get_by_test_id("stMain").get_by_text(re.compile(r"^Stopped after"))
    while (name := newest_visitor_model(home)) == before:
        if await stopped.count():
            raise AssertionError("the visitor's run was stopped (past the public time cap?)")
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no run saved after {timeout:g} s")
        await asyncio.sleep(0.25)
    wall = time.monotonic() - started
    info = ModelStore(home).info(name)
    await expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled(timeout=TIMEOUT)
    await script_done(page)
    images_seen = info.n_train * info.epochs_run
    return {"name": name, "images": images_seen, "seconds": info.train_seconds, "wall": wall,
            "rate": images_seen / info.train_seconds, "started": started, "ended": started + wall}


async def trainer(page: Page, home: Path, args, until: float, solo_wall: float, out: dict) -> None:
    """The same run as the baseline (Train page shown), again while one more would still end within the load."""
    while time.monotonic() < until and (not out["runs"] or time.monotonic() + 0.8 * solo_wall < until):
        try:
            out["runs"].append(await train_once(page, home, args.train_images, args.train_epochs))
        except Exception as e:
            out["failed"].append(f"trainer: {type(e).__name__}: {str(e).splitlines()[0]}")
            break


# ---- the live visitors (--live-visitors) ----------------------------------------------------------------

CLEAR_SHARE = 0.5  # of the digits drawn, those followed by Clear (the others are drawn over)
STROKE_TIMEOUT = 30_000  # ms: a stroke with no answer by then failed


def tree_pss(pid: int) -> int:
    """Bytes of the process tree under `pid`, each shared page divided among its sharers (Pss, smaps_rollup):
    chromium's processes share its binary and more, which a sum of their RSS counts again for each."""
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


async def live_open(page: Page) -> None:
    """Draw, once this page runs the model itself and the canvas takes the pen."""
    await goto(page, "Draw")
    await page.wait_for_function("() => window.digitrecLive && window.digitrecLive.mode !== 'loading'",
                                 timeout=180_000, polling=100)
    mode = await page.evaluate("() => [window.digitrecLive.mode, window.digitrecLive.error]")
    if mode[0] != "browser":
        raise AssertionError(f"the page classifies on the server: {mode[1]}")
    await wait_drawable(page, timeout=60)


async def paced_stroke(page: Page, box: dict, points: list[tuple[float, float]], seconds: float) -> None:
    """Mouse down, one move every 1/MOVE_HZ s along `points` for `seconds`, mouse up (bench/live.py's paced_pen)."""
    x0, y0 = box["x"], box["y"]
    await page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    await page.mouse.down()
    started = time.monotonic()
    for i, (x, y) in enumerate(path_points(points, max(2, round(seconds * MOVE_HZ))), 1):
        await asyncio.sleep(max(0.0, started + i / MOVE_HZ - time.monotonic()))
        await page.mouse.move(x0 + x, y0 + y)
    await page.mouse.up()


async def live_drawer(page: Page, home_url: str, k: int, until: float, out: dict, draws: bool = True) -> None:
    """Digits as a person draws them until `until` (monotonic): each one's figures (bench/live.py's `figures`).
    `draws=False`: the same pace and Clears with the hands off the canvas (see `--live-drawing`)."""
    rng = random.Random(1000 + k)
    await asyncio.sleep(rng.uniform(0, 4))  # the visitors out of step
    n = 0
    while time.monotonic() < until:
        digit, points = (1, ONE) if n % 2 == 0 else (7, SEVEN)
        dx, dy = rng.uniform(-25, 25), rng.uniform(-15, 15)
        n += 1
        try:
            if not draws:
                await asyncio.sleep(rng.uniform(0.5, 1.0) + 0.5)  # a stroke and its answer, unseen by the server
                out["mimed"] += 1
                if rng.random() < CLEAR_SHARE:
                    await page.get_by_role("button", name="Clear", exact=True).click()
                    out["clears"] += 1
                await asyncio.sleep(rng.uniform(2, 4))
                continue
            box = await wait_drawable(page)
            await page.evaluate(ARM_LIVE)
            await paced_stroke(page, box, [(x + dx, y + dy) for x, y in points], rng.uniform(0.5, 1.0))
            await page.wait_for_function("() => window.digitrecLive.penUps.length > window.__live.penUps",
                                         timeout=STROKE_TIMEOUT, polling=50)
            await asyncio.sleep(0.5)  # the component samples 12 more frames after the pen-up, then stops
            f = figures(await page.evaluate(READ_LIVE))
            out["strokes"].append(f)
            out["right"] += f["shown"] is not None and f["shown"]["digit"] == digit
            if rng.random() < CLEAR_SHARE:
                await page.get_by_role("button", name="Clear", exact=True).click()
                await page.wait_for_function("() => window.digitrecLive.shown === null", timeout=TIMEOUT,
                                             polling=50)
                out["clears"] += 1
        except Exception as e:  # no answer, or a stuck page: counted, and the visitor comes back in
            out["failed"].append(f"visitor {k}: {type(e).__name__}: {str(e).splitlines()[0]}")
            try:
                await page.goto(home_url + "/")
                await live_open(page)
            except Exception as again:
                out["failed"].append(f"visitor {k} (coming back): {type(again).__name__}: "
                                     f"{str(again).splitlines()[0]}")
                return
        await asyncio.sleep(rng.uniform(2, 4))


def public_server(args, home: Path) -> Server:
    """The dashboard in public mode, with the real MNIST (without it Home would load TensorFlow)."""
    env = {"DIGITREC_PUBLIC": "1", "DIGITREC_MNIST_DIR": os.environ["DIGITREC_MNIST_DIR"]}
    return Server(args.app_dir, ["--server.fileWatcherType", "none", *args.server_arg], home=home, env=env)


async def bench_live(args, home: Path) -> dict:
    server = public_server(args, home)
    res: dict = {"mem": {}}
    try:
        server.wait_healthy()
        pid = server.proc.pid
        await asyncio.sleep(2)
        res["mem"]["server idle (healthy, no visitor)"] = tree_rss(pid)
        async with async_playwright() as p:
            before = chromium_roots()
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            (chromium,) = chromium_roots() - before
            visitors = Visitors(browser, server.url)
            try:
                gate = asyncio.Semaphore(args.open_at_once)
                opened: list[float] = []

                async def arrive(k: int) -> Page:
                    async with gate:
                        started = time.monotonic()
                        page = await visitors.new(f"visitor {k}")
                        await live_open(page)
                        opened.append(time.monotonic() - started)
                        return page

                started = time.monotonic()
                pages = await asyncio.gather(*(arrive(k) for k in range(args.live_visitors)))
                res["open"] = {"seconds": time.monotonic() - started, "each": opened}
                print(f"{len(pages)} visitors on Draw after {res['open']['seconds']:.0f} s; drawing for "
                      f"{args.seconds:g} s", file=sys.stderr)
                await asyncio.sleep(3)  # past the last page's start-up
                res["mem"][f"server, {len(pages)} visitors on Draw (before drawing)"] = tree_rss(pid)
                res["mem"][f"chromium ({len(pages)} pages), before drawing (Pss)"] = tree_pss(chromium)
                # Everyone on Draw, nobody drawing: what the open pages cost by themselves.
                cpu0 = {"server": tree_cpu(pid), "chromium": tree_cpu(chromium)}
                machine0, t0 = machine_busy(), time.monotonic()
                await asyncio.sleep(args.idle_before)
                wall = time.monotonic() - t0
                res["idle"] = {"server": (tree_cpu(pid) - cpu0["server"]) / wall,
                               "chromium": (tree_cpu(chromium) - cpu0["chromium"]) / wall,
                               "machine": busy_since(machine0), "seconds": wall}
                out = {"strokes": [], "right": 0, "clears": 0, "mimed": 0, "failed": []}
                drawing = min(args.live_drawing or len(pages), len(pages))
                cpu0 = {"server": tree_cpu(pid), "chromium": tree_cpu(chromium)}
                machine0 = machine_busy()
                t0 = time.monotonic()
                until = t0 + args.seconds
                await asyncio.gather(*(live_drawer(pg, server.url, k, until, out, draws=k < drawing)
                                       for k, pg in enumerate(pages)))
                res["drawing"] = drawing
                res["phase"] = time.monotonic() - t0
                res["cpu"] = {"server": tree_cpu(pid) - cpu0["server"],
                              "chromium": tree_cpu(chromium) - cpu0["chromium"]}
                res["machine"] = busy_since(machine0)
                res["mem"][f"server, end of the drawing ({len(pages)} visitors still there)"] = tree_rss(pid)
                res["mem"][f"chromium ({len(pages)} pages), end of the drawing (Pss)"] = tree_pss(chromium)
                modes = await asyncio.gather(*(pg.evaluate("() => window.digitrecLive.mode") for pg in pages))
                res["not_browser"] = sum(m != "browser" for m in modes)
            finally:
                await visitors.close()
                await browser.close()
        res.update(out=out, errors=visitors.errors)
        return res
    finally:
        server.stop()


def report_live(args, res: dict) -> None:
    out, n = res["out"], args.live_visitors
    strokes = out["strokes"]
    pen_up = [s["penUp"] for s in strokes]
    observed = [s["observed"] for s in strokes]
    cores = os.cpu_count()
    print(f"\n| measure ({n} visitors on Draw for {args.seconds:g} s, {res['drawing']} of them moving the mouse; "
          f"the last stroke ended at "
          f"{res['phase']:.0f} s) | value | target |")
    print("| --- | ---: | --- |")
    print(f"| **server CPU during the drawing** (streamlit process tree, utime+stime ÷ wall time) | "
          f"**{res['cpu']['server'] / res['phase']:.1%} of one core** | < 20% of one core |")
    drawing = res["drawing"]
    print(f"| strokes drawn ({drawing} visitors) / read as drawn | {len(strokes)} / {out['right']} | |")
    if drawing < n:
        print(f"| strokes mimed, hands off the canvas ({n - drawing} visitors, `--live-drawing {drawing}`) | "
              f"{out['mimed']} | |")
    print(f"| Clears (all visitors, after half of the digits) | {out['clears']} | |")
    if strokes:
        took = [(s["up"] - s["down"]) / 1000 for s in strokes]
        pace = 60 / (0.75 + 0.5 + 3)  # a 0.5-1 s stroke, 0.5 s for its answer, a 2-4 s pause
        print(f"| strokes per visitor per minute: drawn / mimed / a person's pace as asked | "
              f"{len(strokes) / drawing / (res['phase'] / 60):.1f} / "
              f"{out['mimed'] / max(1, n - drawing) / (res['phase'] / 60):.1f} / {pace:.0f} | |")
        print(f"| a stroke's mouse-down → mouse-up, median / max (asked 0.5-1 s at {MOVE_HZ} moves/s) | "
              f"{statistics.median(took):.1f} / {max(took):.1f} s | |")
    print(f"| strokes that failed (no answer within {STROKE_TIMEOUT / 1000:g} s) | **{len(out['failed'])}** | 0 |")
    print(f"| page errors (console errors + page exceptions, all visitors, all phases) | "
          f"**{len(res['errors'])}** | 0 |")
    print(f"| pages no longer classifying in the browser at the end | **{res['not_browser']}** | 0 |")
    if strokes:
        print(f"| pen-up → prediction (`digitrecLive.penUps`) p50 / **p95** / max | {statistics.median(pen_up):.1f} / "
              f"**{quantile(pen_up, 0.95):.1f}** / {max(pen_up):.1f} ms | p95 ≤ 50 ms |")
        print(f"| pen-up → last change of the prediction (capture mouseup → MutationObserver) p50 / **p95** / max "
              f"| {statistics.median(observed):.1f} / **{quantile(observed, 0.95):.1f}** / {max(observed):.1f} ms "
              f"| p95 ≤ 50 ms |")
        frames = [f for s in strokes for f in s["frames"] if f["modelMs"] is not None]
        if frames:
            both = [f["preprocessMs"] + f["modelMs"] for f in frames]
            print(f"| in the pages: preprocessing + model per frame, p50 / p95 ({len(frames)} frames) | "
                  f"{statistics.median(both):.1f} / {quantile(both, 0.95):.1f} ms | |")
        rate = [sum(s["down"] <= f["at"] <= s["up"] for f in s["frames"]) / ((s["up"] - s["down"]) / 1000)
                for s in strokes]
        moves = [s["moves"] / ((s["up"] - s["down"]) / 1000) for s in strokes]
        print(f"| predictions shown per second during a stroke, median (mouse moves received per second) | "
              f"{statistics.median(rate):.0f} /s ({statistics.median(moves):.0f} /s) | |")
        sends = sum(s["sends"] for s in strokes)
        print(f"| page → server websocket messages during the strokes (Clear apart: the pages' own periodic look "
              f"for a model switch) | {sends} in {len(strokes)} strokes | |")
    idle = res["idle"]
    print(f"| everyone on Draw, nobody drawing ({idle['seconds']:.0f} s): server / chromium / the machine | "
          f"{idle['server']:.1%} of one core / {idle['chromium'] / cores:.0%} / {idle['machine']:.0%} of "
          f"{cores} cores | |")
    print(f"| **the browsers' CPU during the drawing** (chromium's process tree, ÷ wall time ÷ {cores} cores) | "
          f"**{res['cpu']['chromium'] / res['phase'] / cores:.0%} of the machine** | |")
    print(f"| the machine's CPU during the drawing (all processes, /proc/stat; other work on it included) | "
          f"{res['machine']:.0%} of {cores} cores | |")
    each = res["open"]["each"]
    print(f"| {n} visitors opening Draw, {args.open_at_once} at a time: all on Draw after / each, median | "
          f"{res['open']['seconds']:.0f} s / {statistics.median(each):.1f} s | |")
    print("\n| memory (/proc: the server's RSS, chromium's Pss) | MB |")
    print("| --- | ---: |")
    for stage, rss in res["mem"].items():
        print(f"| {stage} | {rss / MB:.0f} |")
    for line in (out["failed"] + res["errors"])[:20]:
        print(f"\n- {line[:300]}", end="")
    print()
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`DIGITREC_MNIST_DIR={shlex.quote(os.environ['DIGITREC_MNIST_DIR'])} "
          f"python bench/load.py{' ' + argv if argv else ''}`")
    print(f"({cores} CPU cores, one chromium {CHROMIUM}, {n} browser contexts, DIGITREC_PUBLIC=1, streamlit run "
          f"options: {' '.join(['--server.fileWatcherType', 'none', *args.server_arg])})")


# ---- the run -------------------------------------------------------------------------------------------

def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[round(q * 100) - 1] if len(xs) > 1 else xs[0]


async def bench(args, home: Path) -> dict:
    server = public_server(args, home)
    res: dict = {"mem": {}}
    try:
        server.wait_healthy()
        pid = server.proc.pid
        await asyncio.sleep(2)  # past start-up's allocations
        res["mem"]["idle (healthy, no visitor)"] = tree_rss(pid)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            visitors = Visitors(browser, server.url, wasm=False)
            try:
                solo_page = await visitors.new("solo trainer")
                await goto(solo_page, "Train")
                solo = await train_once(solo_page, home, args.train_images, args.train_epochs)
                res["solo"] = solo
                print(f"training alone: {solo['images']:,} images in {solo['seconds']:.1f} s "
                      f"({solo['rate']:.0f} images/s)", file=sys.stderr)
                await on_browse(solo_page)  # the Test browser's one-time cache is part of a warm server
                await visitors.close()
                await asyncio.sleep(memory.IDLE_SECONDS + 10)  # past the server's idle release, as `--after` is
                res["mem"][START] = tree_rss(pid)

                pages = await asyncio.gather(*(visitors.new(w) for w in
                                               [f"drawer {k}" for k in range(DRAWERS)] + ["browser", "trainer"]))
                # Each visitor on their page first: the load starts with all ten in place.
                await asyncio.gather(*(on_draw(pg) for pg in pages[:DRAWERS]), on_browse(pages[DRAWERS]),
                                     goto(pages[DRAWERS + 1], "Train"))
                out = {"ms": [], "right": 0, "failed": [], "clicks": [], "runs": []}
                load_start = time.monotonic()
                until = load_start + args.seconds
                print(f"10 visitors on the server; load for {args.seconds} s", file=sys.stderr)
                await asyncio.gather(*(drawer(pages[k], server.url, k, until, out) for k in range(DRAWERS)),
                                     browser_visitor(pages[DRAWERS], until, out),
                                     trainer(pages[DRAWERS + 1], home, args, until, solo["wall"], out))
                res["load_seconds"] = time.monotonic() - load_start
                res["mem"]["end of the load (10 visitors still there)"] = tree_rss(pid)
                await visitors.close()
            finally:
                await visitors.close()
                await browser.close()
        res.update(out=out, errors=visitors.errors)
        print(f"visitors gone; waiting {args.after} s", file=sys.stderr)
        await asyncio.sleep(args.after)
        res["mem"][f"{args.after} s after the visitors left"] = tree_rss(pid)
        return res
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long the visitors stay (default 60)")
    ap.add_argument("--live-visitors", type=int, default=0,
                    help="N visitors drawing on Draw, classified in their browsers, instead of the 10-visitor run")
    ap.add_argument("--live-drawing", type=int, default=0,
                    help="with --live-visitors: how many of them move the mouse (default: all); the others keep "
                         "the same pace and Clears with their hands off the canvas")
    ap.add_argument("--idle-before", type=float, default=10,
                    help="with --live-visitors: seconds with everyone on Draw and nobody drawing (default 10)")
    ap.add_argument("--open-at-once", type=int, default=5,
                    help="with --live-visitors: visitors opening Draw at the same time (default 5)")
    ap.add_argument("--after", type=float, default=180,
                    help="seconds after they leave to read the server's memory (default 180)")
    ap.add_argument("--train-images", type=int, default=3000, help=f"per run (default 3000; ≤ {public.MAX_IMAGES})")
    ap.add_argument("--train-epochs", type=int, default=2, help=f"per run (default 2; ≤ {public.MAX_EPOCHS})")
    server_options(ap, ROOT)
    args = ap.parse_args()
    require_chromium()
    if not os.environ.get("DIGITREC_MNIST_DIR"):
        raise SystemExit("needs DIGITREC_MNIST_DIR (the Test browser and training use MNIST; without it Home "
                         "loads TensorFlow to download it, 600 MB more in the server)")
    if args.live_visitors:
        with tempfile.TemporaryDirectory(prefix="digitrec_load_home_") as home:
            report_live(args, asyncio.run(bench_live(args, Path(home))))
        return
    with tempfile.TemporaryDirectory(prefix="digitrec_load_home_") as home:
        res = asyncio.run(bench(args, Path(home)))

    out, solo = res["out"], res["solo"]
    ms = out["ms"]
    superseded = [e for e in res["errors"] if SUPERSEDED_MEDIA.search(e)]
    failed = out["failed"]
    print(f"\n| measure (10 visitors for {args.seconds:g} s; the last run ended at {res['load_seconds']:.0f} s) "
          "| value | target |")
    print("| --- | ---: | --- |")
    if ms:
        print(f"| stroke → `Prediction: d` p50 | {statistics.median(ms):.0f} ms | |")
        print(f"| stroke → `Prediction: d` p95 | **{quantile(ms, 0.95):.0f} ms** | ≤ 1,500 ms |")
        print(f"| stroke → `Prediction: d` max | {max(ms):.0f} ms | |")
    print(f"| strokes timed (8 drawers) / read as drawn | {len(ms)} / {out['right']} | |")
    print(f"| strokes, clicks or runs that failed | **{len(failed)}** | 0 |")
    print(f"| page errors (console errors + page exceptions) | **{len(res['errors'])}** | 0 |")
    print(f"| … of which superseded-media 404s (a rerun deleted an image not yet fetched) | {len(superseded)} | |")
    if out["clicks"]:
        print(f"| Test browser: Next/Random clicks, median click → script done | {len(out['clicks'])}, "
              f"{statistics.median(out['clicks']):.2f} s | |")
    print(f"| training alone: {solo['images']:,} images | {solo['seconds']:.1f} s, {solo['rate']:.0f} images/s | |")
    for i, r in enumerate(out["runs"], 1):
        print(f"| training under load, run {i} | {r['seconds']:.1f} s, {r['rate']:.0f} images/s | |")
    if out["runs"]:
        rate = statistics.median(r["rate"] for r in out["runs"])
        print(f"| training slowdown (alone ÷ under load, images/s) | **{solo['rate'] / rate:.2f}×** | |")
    mem = res["mem"]
    start = mem[START]
    print("\n| server memory (RSS of the streamlit process tree) | MB | target |")
    print("| --- | ---: | --- |")
    for stage, rss in mem.items():
        target = f"≤ {start / MB + 50:.0f} (start + 50)" if stage.endswith("left") else ""
        print(f"| {stage} | **{rss / MB:.0f}** | {target} |")
    for line in (failed + res["errors"])[:20]:
        print(f"\n- {line[:300]}", end="")
    print()
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`DIGITREC_MNIST_DIR={shlex.quote(os.environ['DIGITREC_MNIST_DIR'])} "
          f"python bench/load.py{' ' + argv if argv else ''}`")
    print(f"({os.cpu_count()} CPU cores, one chromium {CHROMIUM}, {DRAWERS} drawers + 1 Test browser + 1 trainer, "
          f"each run {args.train_images:,} images × {args.train_epochs} epochs, streamlit run options: "
          f"{' '.join(['--server.fileWatcherType', 'none', *args.server_arg])})")


if __name__ == "__main__":
    main()
