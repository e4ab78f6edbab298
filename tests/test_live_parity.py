"""The Draw page reads a drawing as the server would: the page's own preprocess.js and classifier.js, run in
chromium on thousands of canvas drawings, against `canvas_to_mnist` + `predict_proba` in Python, and flags
the same ones as "Not a digit" (classifier.js's `notADigit` against `recognition.read`, at a few thresholds).

No server: the page is served from digitrec/web/ by Playwright's request routing at a made-up origin, with an
HTML page of its own that imports the modules. The drawings are made in the page by canvas 2D as the Draw
page's canvas makes them (280x280, opaque black, white round-capped strokes), from parameters drawn here
with a fixed seed, so every run draws the same ones. Their pixels come back as PNG (lossless for opaque
pixels; a checksum of getImageData's bytes proves it), with the page's 28x28 and probabilities.

    python -m pytest -s tests/test_live_parity.py   # -s prints the figures
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from bench.chromium import CHROMIUM
from digitrec_core import canvas_to_mnist, predict_proba
from digitrec_core.serving import recognition
from digitrec_core.serving.runtime import OnnxModel
from tests.support import ROOT

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)

WEB = ROOT / "digitrec" / "web"
MODEL = ROOT / "digitrec_core" / "pretrained" / "model.onnx"
SHIPPED_THRESHOLD = json.loads((MODEL.parent / "meta.json").read_text()).get("digit_threshold")
# "Not a digit" thresholds the page and Python apply to the same drawings: none, two that split these
# drawings (mostly strokes at random: a few read as a digit at 0.99), and the shipped model's own when it has one
THRESHOLDS = [None, 0.9, 0.99] + ([SHIPPED_THRESHOLD] if SHIPPED_THRESHOLD is not None else [])
ORIGIN = "http://digitrec.test"
SIDE = 280  # the Draw page's canvas
N_DRAWINGS = 2400
BATCH = 200  # drawings per round trip: a few MB of PNGs and 28x28s
SEED = 20_251_206
MIN_CLASS_AGREEMENT = 0.998
START_TIMEOUT_MS = 60_000  # the runtime's WASM inflated and compiled, the model loaded
BATCH_TIMEOUT_MS = 120_000  # one batch on a slow 2-core machine
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
                 ".gz": "application/gzip", ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                 ".css": "text/css"}

HARNESS = """<!doctype html>
<meta charset="utf-8"><title>live parity</title><link rel="icon" href="data:,">
<canvas id="pad" width="280" height="280"></canvas>
<script type="module">
import { canvasToMnist, roundHalfEven } from "./preprocess.js";
import { Classifier, notADigit, startRuntime } from "./classifier.js";

const h = (window.harness = { ready: false, error: null, job: null });
const b64 = (a) => {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const unb64 = (s) => Uint8ClampedArray.from(atob(s), (c) => c.charCodeAt(0));
const unb64Floats = (s) => new Float32Array(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer);
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true }); // as the Draw page's scratch canvas
const pt = (p) => [p[0], p[1]];

/** One drawing as streamlit-drawable-canvas makes it: white round-capped strokes on opaque black. */
function draw(d) {
  ctx.globalCompositeOperation = "source-over";
  ctx.fillStyle = "#000000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#FFFFFF";
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of d.strokes) {
    ctx.lineWidth = s.width;
    ctx.beginPath();
    const p = s.points;
    if (s.kind === "dot") {
      // As Fabric's PencilBrush draws a dot (chromium strokes nothing for a segment of length 0)
      ctx.moveTo(p[0][0] - s.width / 1000, p[0][1]);
      ctx.lineTo(p[0][0] + s.width / 1000, p[0][1]);
    } else if (s.kind === "line") {
      ctx.moveTo(...pt(p[0]));
      for (const q of p.slice(1)) ctx.lineTo(...pt(q));
    } else if (s.kind === "curve") { // Fabric's PencilBrush: quadratic curves through the midpoints
      ctx.moveTo(...pt(p[0]));
      for (let i = 1; i < p.length - 1; i++) {
        ctx.quadraticCurveTo(p[i][0], p[i][1], (p[i][0] + p[i + 1][0]) / 2, (p[i][1] + p[i + 1][1]) / 2);
      }
      ctx.lineTo(...pt(p[p.length - 1]));
    } else if (s.kind === "arc") {
      ctx.ellipse(s.cx, s.cy, s.rx, s.ry, s.rotation, s.start, s.end, s.ccw);
    } else {
      throw new Error(`unknown stroke kind ${s.kind}`);
    }
    ctx.stroke();
  }
}

async function runBatch(drawings, thresholds) {
  await new Promise((r) => setTimeout(r, 0)); // the evaluate that started this returns first
  const out = [];
  for (const d of drawings) {
    draw(d);
    const px = ctx.getImageData(0, 0, pad.width, pad.height).data;
    let sum = 0, weighted = 0; // exact in doubles: below 2**53
    for (let i = 0; i < px.length; i++) {
      sum += px[i];
      weighted += i * px[i];
    }
    const t0 = performance.now();
    const digit = canvasToMnist(px, pad.width, pad.height);
    const t1 = performance.now();
    const probs = digit && (await h.classifier.run(digit));
    const t2 = performance.now();
    out.push({
      png: pad.toDataURL("image/png"), sum, weighted, digit: digit && b64(digit), probs: probs && b64(probs),
      preprocessMs: t1 - t0, modelMs: digit ? t2 - t1 : null,
      flagged: probs && thresholds.map((t) => notADigit(probs, t)),
    });
  }
  return out;
}

/** Start `fn(...args)` without waiting: Python waits for h.job.done with a deadline (evaluate has none). */
h.start = (fn, ...args) => {
  const job = (h.job = { done: false, result: null, error: null });
  (async () => {
    await new Promise((r) => setTimeout(r, 0));
    return h[fn](...args);
  })().then(
    (r) => Object.assign(job, { result: r, done: true }),
    (e) => Object.assign(job, { error: String(e?.stack ?? e), done: true }),
  );
};
h.runBatch = runBatch;
h.preprocess = (cases) => cases.map(({ rgba, width, height }) => {
  const digit = canvasToMnist(unb64(rgba), width, height);
  return digit && b64(digit);
});
h.roundHalfEven = (values) => values.map(roundHalfEven);
h.notADigit = (cases) => cases.map(({ probs, threshold }) => notADigit(unb64Floats(probs), threshold));

try {
  await startRuntime(ORT_VERSION);
  const response = await fetch("./model.onnx");
  if (!response.ok) throw new Error(`model.onnx: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  h.classifier = await Classifier.create(bytes);
  h.ready = true;
} catch (e) {
  h.error = String(e?.stack ?? e);
}
</script>
"""


# ---- the drawings: parameters drawn here (numpy, fixed seed), strokes drawn by canvas 2D in the page ---------


def _width(rng: np.random.Generator) -> float:
    """A pen width: thin (1-3 px), medium (3-16) or thick (16-42)."""
    lo, hi = [(1, 3), (3, 16), (16, 42)][rng.choice(3, p=[0.3, 0.4, 0.3])]
    return round(float(rng.uniform(lo, hi)), 2)


def _point(rng: np.random.Generator, box: tuple[float, float, float, float]) -> list[float]:
    x0, y0, x1, y1 = box
    return [round(float(rng.uniform(x0, x1)), 2), round(float(rng.uniform(y0, y1)), 2)]


def _box(rng: np.random.Generator) -> tuple[str, tuple[float, float, float, float]]:
    """Where a drawing goes: its size (tiny to more than the canvas) and place (centre, anywhere, an edge)."""
    long = float(np.exp(rng.uniform(math.log(6), math.log(320))))
    bw, bh = long, long * float(rng.uniform(0.25, 1))
    if rng.random() < 0.5:
        bw, bh = bh, bw
    place = str(rng.choice(["centre", "off-centre", "edge"], p=[0.4, 0.35, 0.25]))
    if place == "centre":
        cx, cy = SIDE / 2 + rng.normal(0, 8, 2)
    else:
        cx, cy = (rng.uniform(min(b / 2, SIDE / 2), max(SIDE - b / 2, SIDE / 2)) for b in (bw, bh))
    if place == "edge":  # the box's side on (or just past) one edge of the canvas
        side = int(rng.integers(4))
        over = float(rng.uniform(-4, 0.3 * (bw if side < 2 else bh)))
        if side == 0:
            cx = bw / 2 - over
        elif side == 1:
            cx = SIDE - bw / 2 + over
        elif side == 2:
            cy = bh / 2 - over
        else:
            cy = SIDE - bh / 2 + over
    return place, (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)


def _stroke(rng: np.random.Generator, box: tuple[float, float, float, float]) -> dict:
    kind = str(rng.choice(["line", "curve", "arc", "dot"], p=[0.3, 0.4, 0.25, 0.05]))
    s = {"kind": kind, "width": _width(rng)}
    if kind == "dot":
        s["points"] = [_point(rng, box)]
    elif kind == "line":
        s["points"] = [_point(rng, box) for _ in range(int(rng.integers(2, 6)))]
    elif kind == "curve":
        s["points"] = [_point(rng, box) for _ in range(int(rng.integers(3, 10)))]
    else:
        x0, y0, x1, y1 = box
        rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
        start = float(rng.uniform(0, 2 * math.pi))
        s.update(cx=round((x0 + x1) / 2 + float(rng.uniform(-0.2, 0.2)) * rx, 2),
                 cy=round((y0 + y1) / 2 + float(rng.uniform(-0.2, 0.2)) * ry, 2),
                 rx=round(rx * float(rng.uniform(0.3, 1)), 2), ry=round(ry * float(rng.uniform(0.3, 1)), 2),
                 rotation=round(float(rng.uniform(-0.5, 0.5)), 3), start=round(start, 3),
                 end=round(start + float(rng.uniform(0.3, 2 * math.pi)), 3), ccw=bool(rng.random() < 0.3))
    return s


def make_drawings(n: int = N_DRAWINGS, seed: int = SEED) -> list[dict]:
    """`n` drawings' parameters: mostly 1-4 strokes (lines, curves, arcs, dots), some only dots, a few blank,
    some with stray specks far from the rest."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.01:
            out.append({"kind": "blank", "strokes": []})
            continue
        if r < 0.07:
            full = (0.0, 0.0, float(SIDE), float(SIDE))
            strokes = [{"kind": "dot", "width": _width(rng), "points": [_point(rng, full)]}
                       for _ in range(int(rng.integers(1, 4)))]
            out.append({"kind": "dots", "strokes": strokes})
            continue
        place, box = _box(rng)
        strokes = [_stroke(rng, box) for _ in range(int(rng.integers(1, 5)))]
        if rng.random() < 0.12:  # stray specks anywhere on the canvas
            full = (0.0, 0.0, float(SIDE), float(SIDE))
            strokes += [{"kind": "dot", "width": round(float(rng.uniform(1, 8)), 2), "points": [_point(rng, full)]}
                        for _ in range(int(rng.integers(1, 3)))]
        out.append({"kind": f"strokes, {place}", "box": [round(v, 2) for v in box], "strokes": strokes})
    return out


# ---- the page ----------------------------------------------------------------------------------------------


class Harness:
    """The harness page in chromium, with the errors it reported."""

    def __init__(self, page, errors: list[str]):
        self.page, self.errors = page, errors

    def check(self) -> None:
        assert not self.errors, "browser errors:\n" + "\n".join(self.errors)

    def start(self, fn: str, *args) -> None:
        """Start `harness[fn](...args)` in the page; `finish` waits for it."""
        self.page.evaluate("([fn, args]) => window.harness.start(fn, ...args)", [fn, list(args)])
        self.fn = fn

    def finish(self, timeout: float = BATCH_TIMEOUT_MS):
        """What the started call returned, awaited with a deadline (page.evaluate has none)."""
        try:
            self.page.wait_for_function("() => window.harness.job.done", timeout=timeout, polling=20)
        except Exception as e:
            raise AssertionError(f"harness.{self.fn} did not finish: {e}\nbrowser errors: {self.errors}") from e
        job = self.page.evaluate("() => { const j = window.harness.job; window.harness.job = null; return j; }")
        self.check()
        assert job["error"] is None, f"harness.{self.fn} failed in the page: {job['error']}"
        return job["result"]

    def call(self, fn: str, *args, timeout: float = BATCH_TIMEOUT_MS):
        self.start(fn, *args)
        return self.finish(timeout)


@pytest.fixture(scope="module")
def model() -> OnnxModel:
    return OnnxModel.load(MODEL)


@pytest.fixture(scope="module")
def harness(browser, model):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console.error: {m.text}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url} ({r.failure})"))
    web = WEB.resolve()
    version = (web / "ort" / "VERSION").read_text().strip()  # as the Draw page is told it

    def serve(route):
        path = urlparse(route.request.url).path
        if path in ("/", "/index.html"):
            return route.fulfill(status=200, body=HARNESS.replace("ORT_VERSION", json.dumps(version)),
                                 content_type="text/html")
        if path == "/model.onnx":
            return route.fulfill(status=200, body=model.onnx_bytes, content_type=CONTENT_TYPES[".onnx"])
        file = (web / path.lstrip("/")).resolve()
        if file.is_relative_to(web) and file.is_file() and file.suffix in CONTENT_TYPES:
            return route.fulfill(status=200, body=file.read_bytes(), content_type=CONTENT_TYPES[file.suffix])
        errors.append(f"not served: {route.request.url}")
        return route.fulfill(status=404, body="not found", content_type="text/plain")

    page.route(f"{ORIGIN}/**", serve)
    try:
        page.goto(f"{ORIGIN}/index.html", timeout=30_000)
        try:
            page.wait_for_function("() => window.harness && (window.harness.ready || window.harness.error)",
                                   timeout=START_TIMEOUT_MS, polling=50)
        except Exception as e:
            pytest.fail(f"the harness page never started: {e}\nbrowser errors: {errors}")
        started = page.evaluate("() => window.harness.error")
        assert started is None, f"the page could not start the runtime or the model: {started}\n{errors}"
        h = Harness(page, errors)
        h.check()
        yield h
        h.check()
    finally:
        context.close()


def _floats(b64: str | None) -> np.ndarray | None:
    return None if b64 is None else np.frombuffer(base64.b64decode(b64), np.float32)


def _rgba(data_url: str) -> np.ndarray:
    header, _, data = data_url.partition(",")
    assert header == "data:image/png;base64", header
    with Image.open(io.BytesIO(base64.b64decode(data))) as im:
        return np.asarray(im.convert("RGBA"))


# ---- the tests ---------------------------------------------------------------------------------------------


def test_round_half_even_matches_python(harness):
    values = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2.4999999, 2.5000001, 13.5, 14.5,
              -13.5, 1e15 + 0.5, 2.0**52 - 0.5, 2.0**52 + 1, 79.99999999999999, 0.0, 7.0, -7.0]
    values += [float(v) for v in np.random.default_rng(1).uniform(-100, 100, 200)]
    values += [k + 0.5 for k in range(-40, 41)]
    got = harness.call("roundHalfEven", values)
    want = [round(v) for v in values]
    bad = [(v, g, w) for v, g, w in zip(values, got, want) if g != w]
    assert not bad, f"roundHalfEven(x) != Python's round(x) for (x, js, python): {bad}"


def _disc(a: np.ndarray, cy: float, cx: float, r: float, value) -> None:
    yy, xx = np.mgrid[: a.shape[0], : a.shape[1]]
    a[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value


def _edge_cases() -> dict[str, np.ndarray]:
    """Hand-made RGBA canvases, no anti-aliasing: each one a branch of canvas_to_mnist."""
    black = np.zeros((SIDE, SIDE, 4), np.uint8)
    black[..., 3] = 255
    white, ink = (255, 255, 255, 255), (255, 255, 255, 255)
    cases = {"blank": black.copy()}
    dot = black.copy()
    _disc(dot, 140, 140, 6, ink)
    cases["a dot"] = dot
    tiny = black.copy()
    tiny[139:141, 139:141] = ink
    cases["a 2x2 speck only"] = tiny
    edge = black.copy()
    edge[40:240, 0] = ink
    cases["a 1 px line on the left border"] = edge
    edge2 = black.copy()
    edge2[0:2, 30:250] = ink
    cases["a 2 px line on the top border"] = edge2
    one = black.copy()
    one[50:230, 130:145] = ink
    stray = one.copy()
    stray[265:268, 5:8] = ink
    cases["a 1 and a stray speck in a corner"] = stray
    cases["the same 1 without the speck"] = one
    seven = black.copy()
    seven[60:72, 70:210] = ink
    for y in range(60, 235):
        x = int(210 - (y - 60) * 0.55)
        seven[y, x - 6 : x + 6] = ink
    cases["a 7"] = seven
    paper = np.full((SIDE, SIDE, 4), 255, np.uint8)
    paper[seven[..., 0] > 0] = (20, 20, 20, 255)
    cases["a dark 7 on white"] = paper
    clear = np.zeros((SIDE, SIDE, 4), np.uint8)
    clear[seven[..., 0] > 0] = (0, 0, 0, 255)
    cases["a 7 in the alpha of a transparent canvas"] = clear
    faint = black.copy()
    faint[seven[..., 0] > 0] = (30, 30, 30, 255)
    cases["a 7 too faint to count"] = faint
    wide = np.zeros((120, 200, 4), np.uint8)
    wide[..., 3] = 255
    _disc(wide, 60, 100, 40, white)
    _disc(wide, 60, 100, 30, (0, 0, 0, 255))
    cases["a ring on a 200x120 canvas"] = wide
    hair = black.copy()
    for t in np.linspace(0, 2 * np.pi, 2000):
        hair[int(140 + 90 * np.sin(t)), int(140 + 60 * np.cos(t))] = ink
    cases["a hairline 0"] = hair
    return cases


def test_edge_cases_match_python(harness):
    cases = _edge_cases()
    payload = [{"rgba": base64.b64encode(a.tobytes()).decode(), "width": a.shape[1], "height": a.shape[0]}
               for a in cases.values()]
    got = harness.call("preprocess", payload)
    problems, exact = [], 0
    for (name, a), js in zip(cases.items(), got):
        py, js = canvas_to_mnist(a), _floats(js)
        if (py is None) != (js is None):
            problems.append(f"{name}: Python {'None' if py is None else 'a digit'}, "
                            f"page {'null' if js is None else 'a digit'}")
            continue
        if py is None:
            exact += 1
            continue
        js = js.reshape(28, 28)
        diff = float(np.abs(py - js).max())
        exact += diff == 0
        if diff > 0:  # one algorithm in one arithmetic: the same float32 values
            problems.append(f"{name}: the 28x28s differ by up to {diff:.3g}")
    assert not problems, "\n".join(problems)
    assert {k: canvas_to_mnist(a) is None for k, a in cases.items()} == {
        k: k in ("blank", "a 2x2 speck only", "a 7 too faint to count") for k in cases
    }, "the hand-made cases no longer cover both outcomes as intended"
    print(f"\nedge cases: {len(cases)}, identical to the bit: {exact}")


def test_page_reads_drawings_as_python_does(harness, model):
    drawings = make_drawings()
    none_mismatch, py_digits, js_digits, js_probs, holding, pre_ms, model_ms = [], [], [], [], [], [], []
    js_flags = []  # (drawing, threshold): the page's "Not a digit" at each of THRESHOLDS
    index = np.arange(SIDE * SIDE * 4, dtype=np.int64)
    t_python = 0.0

    def read(first: int, results: list[dict]) -> None:
        """Python's reading of a batch of the page's drawings, and the page's, side by side."""
        nonlocal t_python
        t0 = time.perf_counter()
        for i, r in enumerate(results, first):
            rgba = _rgba(r["png"])
            flat = rgba.reshape(-1)
            assert (int(flat.sum(dtype=np.int64)), int(index @ flat)) == (r["sum"], r["weighted"]), (
                f"drawing {i}: the PNG's pixels are not getImageData's")
            pre_ms.append(r["preprocessMs"])
            py, js = canvas_to_mnist(rgba), _floats(r["digit"])
            if (py is None) != (js is None):
                none_mismatch.append(f"#{i}: Python {'None' if py is None else 'a digit'}, page "
                                     f"{'null' if js is None else 'a digit'}; {json.dumps(drawings[i])}")
            elif py is not None:
                holding.append(i)
                py_digits.append(py)
                js_digits.append(js.reshape(28, 28))
                js_probs.append(_floats(r["probs"]))
                js_flags.append(r["flagged"])
                model_ms.append(r["modelMs"])
        t_python += time.perf_counter() - t0

    t_start = time.perf_counter()
    previous = None  # the page draws the next batch while Python reads the last one
    for first in range(0, len(drawings), BATCH):
        harness.start("runBatch", drawings[first : first + BATCH], THRESHOLDS)
        if previous is not None:
            read(*previous)
        previous = first, harness.finish()
        assert len(previous[1]) == len(drawings[first : first + BATCH])
    read(*previous)
    t_total = time.perf_counter() - t_start
    assert len(pre_ms) == len(drawings)
    assert not none_mismatch, f"{len(none_mismatch)} drawings read as a digit on one side only:\n" + "\n".join(
        none_mismatch[:20])
    assert len(holding) >= 0.8 * len(drawings), f"only {len(holding)} of {len(drawings)} drawings hold a digit"

    py_digits, js_digits, js_probs = np.stack(py_digits), np.stack(js_digits), np.stack(js_probs)
    py_probs = predict_proba(model, py_digits)
    py_on_js = predict_proba(model, js_digits)  # the model alone: Python's runtime on the page's 28x28s
    pixel = np.abs(py_digits - js_digits)
    prob = np.abs(py_probs - js_probs)
    runtime = float(np.abs(py_on_js - js_probs).max())
    py_class, js_class = py_probs.argmax(1), js_probs.argmax(1)
    agree = float(np.mean(py_class == js_class))
    figures = (f"{len(drawings)} drawings, {len(holding)} hold a digit, {len(drawings) - len(holding)} none on "
               f"both sides; class agreement {100 * agree:.2f}%; 28x28 |diff| mean {pixel.mean():.3g} max "
               f"{pixel.max():.3g} ({np.mean(pixel.reshape(len(holding), -1).max(1) > 0):.1%} of digits not "
               f"identical); probability |diff| max {prob.max():.3g} (runtimes alone on one input: {runtime:.3g}); "
               f"page per drawing: canvasToMnist {np.mean(pre_ms):.2f} ms (max {np.max(pre_ms):.1f}), model "
               f"{np.mean(model_ms):.2f} ms; {t_total:.1f} s in all, {t_python:.1f} s of it reading in Python")
    print("\n" + figures)

    differ = []
    for k in np.flatnonzero(py_class != js_class):
        i = holding[k]
        differ.append(f"#{i}: Python {py_class[k]} ({py_probs[k].max():.4f}), page {js_class[k]} "
                      f"({js_probs[k].max():.4f}), Python's model on the page's 28x28: {py_on_js[k].argmax()}; "
                      f"28x28 max |diff| {pixel[k].max():.3g}; {json.dumps(drawings[i])}")
    assert agree >= MIN_CLASS_AGREEMENT, f"{figures}\nclasses differ:\n" + "\n".join(differ)
    assert pixel.max() == 0, f"{figures}\nthe 28x28s should be the same float32 values\n" + "\n".join(differ)
    assert prob.max() < 1e-3, f"{figures}\n" + "\n".join(differ)
    print(_same_flags(py_probs, js_probs, np.asarray(js_flags, bool)))


def _same_flags(py_probs: np.ndarray, js_probs: np.ndarray, js_flags: np.ndarray) -> str:
    """Check that the page flags what the server flags at each of THRESHOLDS: exactly `recognition.read`'s
    flags on the page's own probabilities (one rule), and Python's whole path's except where the two runtimes'
    top probabilities fall on either side of the threshold. The figures, in a line."""
    figures = []
    for j, t in enumerate(THRESHOLDS):
        page = js_flags[:, j]
        same_numbers = recognition.read(js_probs, t).flagged
        rule = np.flatnonzero(page != same_numbers)
        assert not len(rule), (f"at threshold {t}, the page's notADigit and recognition.read disagree on the same "
                               f"probabilities for {len(rule)} drawings, e.g. {js_probs[rule[0]].tolist()}")
        python = recognition.read(py_probs, t).flagged
        if t is None:
            assert not python.any() and not page.any(), "a model without a threshold flagged a drawing"
        else:  # both outcomes, or the comparison says little
            assert 0 < python.sum() < len(python), f"at threshold {t}: {python.sum()} of {len(python)} flagged"
        py_score, js_score = py_probs.max(1), js_probs.max(1)
        for k in np.flatnonzero(python != page):
            assert min(py_score[k], js_score[k]) < t <= max(py_score[k], js_score[k]), (
                f"drawing {k} is flagged on one side only at threshold {t}: Python {py_score[k]}, page {js_score[k]}")
        figures.append(f"{t}: {int(python.sum())} flagged, {int((python != page).sum())} on one side only")
    return "not a digit at threshold " + "; ".join(figures)


def test_not_a_digit_is_the_servers_rule_at_the_threshold_itself(harness, model):
    """A top probability equal to the threshold is a digit; a threshold one float above it flags it."""
    probs = predict_proba(model, canvas_to_mnist(_edge_cases()["a 7"]))  # float32, as the page's runtime gives
    top = float(probs.max())
    cases = [(top, False), (float(np.nextafter(top, 1)), True), (float(np.nextafter(top, 0)), False), (None, False),
             (1.0, top < 1.0), (0.0, False)]
    b64 = base64.b64encode(probs.astype(np.float32).tobytes()).decode()
    got = harness.call("notADigit", [{"probs": b64, "threshold": t} for t, _ in cases])
    want = [bool(recognition.read(probs, t).flagged[0]) for t, _ in cases]
    assert want == [flagged for _, flagged in cases]
    assert got == want, f"page {got}, server {want} at thresholds {[t for t, _ in cases]} for a top of {top!r}"
