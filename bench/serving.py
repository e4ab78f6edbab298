"""Serving: the first visit to Draw, the server's memory, the Test browser's report over 10,000 digits.

Its pages have no WebAssembly (chromium.NO_WASM_SCRIPT): Draw classifies on the server, the path
whose cost this measures. The browser path's first visit and memory are bench/live.py's.

Each server is a fresh `streamlit run app.py` from the clone's root (chromium.Server) with a
fresh, empty model store (so the pages use the shipped pretrained model) and no training; the browser
is Debian's chromium, one tab, 1400x1000.

* **First visit to Draw** (`--runs N`, each on a new server): chromium opens `/` and Home finishes
  its script, as when a user lands. The clock starts at the click on "Draw" in the sidebar and stops
  when the canvas takes the pen: Fabric shows its free-drawing cursor (crosshair) to a hover, polled
  every 25 ms, from when a stroke registers (a "7" is then drawn and must be read as a 7).
  The same with chromium's first request being `/draw` itself (`page.goto(url + "/draw")`, clock
  from the goto: Streamlit's frontend loading is included). Both include importing whatever
  classifies (TensorFlow or ONNX Runtime) and loading the model, since the page shows its canvas
  once the model is there. Also shown: that first stroke, mouse-up to `Prediction: 7`.
* **Server memory**: the resident set (VmRSS, /proc) of the server's process and all its
  descendants, on one more new server: idle (healthy, no tab yet), Home rendered, Draw after
  classifying one digit, then the Test browser rendered (needs MNIST); the peak (VmHWM) at the end,
  and which of TensorFlow and ONNX Runtime the server has loaded (its /proc/PID/maps).
  The same server gives the Test browser's first visit: click to `Predicted: d`, which includes
  classifying the 10,000 test digits.
* **The Test browser's report** in this process, no browser: `ui/resources.test_report`'s work,
  `metrics(predict_proba(model, x_test), y_test)` over the 10,000 MNIST test digits, for the model
  `ModelStore().load()` gives (the serving path) and, when that is not the Keras model, for the
  Keras model too (`load_model(runtime="keras")`), interleaved, `--reports` times each; median.

Targets: first visit to Draw <= 1.5 s; server memory <= 300 MB with Draw and the Test browser in use.

    DIGITREC_MNIST_DIR=/path/to/mnist python bench/serving.py [--runs 3] [--reports 3]

It prints a markdown table and the command line behind it. `--app-dir` runs another checkout's app.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from chromium import (
    CANVAS,
    NO_WASM_SCRIPT,
    SEVEN,
    VIEWPORT,
    Server,
    click_page,
    command_line,  # noqa: E402
    drawable,
    empty_canvas_prompt,
    launch,
    main_area,
    require_chromium,
    script_done,
    server_options,
    timed_stroke,
)
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20


# ---- the server's process tree, from /proc ----------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        children.setdefault(ppid, []).append(int(p))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def tree_rss(pid: int) -> int:
    """Bytes resident for the process tree under `pid` (VmRSS summed)."""
    total = 0
    for p in descendants(pid):
        try:
            total += status_kb(p, "VmRSS") * 1024
        except OSError:
            continue
    return total


def loaded(pid: int) -> dict[str, bool]:
    """Whether TensorFlow and ONNX Runtime are mapped into the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {"TensorFlow": "_pywrap_tensorflow" in maps or "libtensorflow" in maps,
            "ONNX Runtime": "onnxruntime_pybind11_state" in maps}


# ---- browser measurements ---------------------------------------------------------------------------

def home(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.get_by_test_id("stSidebar").get_by_text("Active model")).to_be_visible(timeout=60_000)
    script_done(page, timeout=60_000)


def until_drawable(page: Page, started: float, timeout: float = 60.0) -> float:
    """Seconds from `started` (perf_counter) to the canvas taking the pen."""
    page.locator(CANVAS).wait_for(state="visible", timeout=timeout * 1000)
    i = 0
    while not drawable(page, i):
        if time.perf_counter() - started > timeout:
            raise AssertionError("the canvas never entered free-drawing mode")
        i += 1
        page.wait_for_timeout(25)
    return time.perf_counter() - started


def first_stroke(page: Page) -> float:
    """The first stroke on the new canvas must register and read as a 7; its mouse-up to `Prediction: 7`."""
    t = timed_stroke(page, SEVEN)
    if t["text"] != "Prediction: 7":
        raise AssertionError(f"the first stroke read as {t['text']!r}")
    return t["shown"]


def first_visit(browser, app_dir: Path, extra: list[str], direct: bool) -> dict[str, float]:
    server = Server(app_dir, extra)
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(NO_WASM_SCRIPT)  # the server path: the browser path's figures are bench/live.py's
    try:
        server.wait_healthy()
        page = context.new_page()
        if direct:
            started = time.perf_counter()
            page.goto(server.url + "/draw")
        else:
            home(page, server.url)
            started = time.perf_counter()
            click_page(page, "Draw")
        ready = until_drawable(page, started)
        return {"ready": ready, "stroke": first_stroke(page)}
    finally:
        context.close()
        server.stop()


def memory(browser, app_dir: Path, extra: list[str]) -> dict:
    """RSS at each stage on one fresh server, the Test browser's first visit, the peak, what got loaded."""
    server = Server(app_dir, extra)
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(NO_WASM_SCRIPT)  # the server path: the browser path's figures are bench/live.py's
    try:
        server.wait_healthy()
        time.sleep(2)  # past start-up's allocations
        pid = server.proc.pid
        stages = {"idle (healthy, no tab)": tree_rss(pid)}
        page = context.new_page()
        home(page, server.url)
        stages["Home rendered"] = tree_rss(pid)
        click_page(page, "Draw")
        expect(empty_canvas_prompt(page)).to_be_visible(timeout=60_000)
        first_stroke(page)
        script_done(page)
        stages["Draw, one digit classified"] = tree_rss(pid)
        browse = None
        if os.environ.get("DIGITREC_MNIST_DIR"):
            started = time.perf_counter()
            click_page(page, "Test browser")
            predicted = main_area(page).get_by_text("Predicted:", exact=False).first
            expect(predicted).to_be_visible(timeout=120_000)
            browse = time.perf_counter() - started
            script_done(page, timeout=60_000)
            stages["Test browser rendered"] = tree_rss(pid)
        return {"stages": stages, "peak": status_kb(pid, "VmHWM") * 1024, "loaded": loaded(pid), "browse": browse}
    finally:
        context.close()
        server.stop()


# ---- the Test browser's report, in this process -----------------------------------------------------

def report_times(n: int) -> dict[str, list[float]]:
    """Seconds for `metrics(predict_proba(model, x_test), y_test)`, per runtime, interleaved."""
    from digitrec_core import ModelStore, load_mnist, load_model, predict_proba
    from digitrec_core.serving.evaluation import metrics

    data = load_mnist()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DIGITREC_HOME"] = home  # an empty store: the shipped model, as on the servers above
        serving = ModelStore().load().model
        models = {f"`ModelStore().load()`: {type(serving).__name__}": serving}
        if not type(serving).__module__.startswith("keras"):
            models["Keras (TensorFlow)"] = load_model(runtime="keras").model
    times: dict[str, list[float]] = {k: [] for k in models}
    accuracy = {}
    for _ in range(n):
        for name, model in models.items():
            t = time.perf_counter()
            ev = metrics(predict_proba(model, data.x_test), data.y_test)
            times[name].append(time.perf_counter() - t)
            accuracy[name] = ev.accuracy
    return {f"{k} ({accuracy[k]:.2%})": v for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh servers for each first-visit figure (default 3)")
    ap.add_argument("--reports", type=int, default=3, help="test reports per runtime (default 3; 0: skip)")
    server_options(ap, ROOT)
    args = ap.parse_args()
    require_chromium()

    visits: dict[bool, list[dict]] = {False: [], True: []}
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for r in range(args.runs):
                for direct in (False, True):  # interleaved: machine noise hits both alike
                    v = first_visit(browser, args.app_dir, args.server_arg, direct)
                    visits[direct].append(v)
                    print(f"first visit {r + 1}/{args.runs} ({'goto /draw' if direct else 'sidebar'}): canvas "
                          f"takes the pen after {v['ready']:.2f} s; first stroke {v['stroke']:.0f} ms", file=sys.stderr)
            mem = memory(browser, args.app_dir, args.server_arg)
        finally:
            browser.close()
    reports = report_times(args.reports) if args.reports and os.environ.get("DIGITREC_MNIST_DIR") else {}

    print("\n| measure | n | median | min – max | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    for direct, label in ((False, "first visit to Draw: click in the sidebar (Home shown) → canvas takes the pen"),
                          (True, "first visit to Draw: `page.goto(url + \"/draw\")` → canvas takes the pen")):
        s = [v["ready"] for v in visits[direct]]
        print(f"| {label} | {len(s)} | **{statistics.median(s):.2f} s** | {min(s):.2f} – {max(s):.2f} s | ≤ 1.5 s |")
    s = [v["stroke"] for v in visits[False] + visits[True]]
    print(f"| … then the first stroke: mouse-up → `Prediction: 7` | {len(s)} | {statistics.median(s):.0f} ms | "
          f"{min(s):.0f} – {max(s):.0f} ms | |")
    if mem["browse"] is not None:
        print(f"| Test browser's first visit: click → `Predicted: d` (classifies the 10,000 test digits) | 1 | "
              f"{mem['browse']:.2f} s | | |")
    for name, secs in reports.items():
        print(f"| Test browser's report, in-process: {name} | {len(secs)} | {statistics.median(secs):.2f} s | "
              f"{min(secs):.2f} – {max(secs):.2f} s | |")
    print("\n| server memory (RSS of the streamlit process tree) | MB | target |")
    print("| --- | ---: | --- |")
    for stage, rss in mem["stages"].items():
        target = "≤ 300 MB" if stage.startswith("Test browser") else ""
        print(f"| {stage} | **{rss / MB:.0f}** | {target} |")
    print(f"| peak (VmHWM) | {mem['peak'] / MB:.0f} | |")
    print("\nThe server has loaded: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in mem["loaded"].items())
          + "." + ("" if os.environ.get("DIGITREC_MNIST_DIR") else " (No DIGITREC_MNIST_DIR: no Test browser.)"))
    print("\n" + command_line("bench/serving.py", args.server_arg))


if __name__ == "__main__":
    main()
