"""One live prediction, as a stroke on the Draw page makes it: `canvas_to_mnist` + `predict_proba` (or `recognize`).

On 280x280 RGBA canvases as streamlit-drawable-canvas returns them (white pen on opaque black: a
"7", a "1", a "0" and a "4" with different pens, taken in turn), the same model served two ways,
interleaved in one run so machine noise hits both alike:

* ONNX: the model `load_model()` gives (ONNX Runtime, what the dashboard serves with);
* TensorFlow: the same model's Keras file, `load_model(runtime="keras")`, through `predict_proba`'s
  traced forward pass (what the dashboard served with before ONNX);

and preprocessing alone. With `--naive`, also Keras's `model.predict` (~50 ms of set-up per call).
`--compare-preprocess FILE` times another version of the preprocessing module too, for a before and
after in one run (it must give the same images), e.g. the one before it was made faster:
`git show 675d34f:digitrec_core/preprocess.py > /tmp/preprocess_675d34f.py`.
Milliseconds per prediction, median and p90, after a warm-up.

Target: ONNX path median <= 1.5 ms (aim 1.0).

    python bench/latency.py [--model NAME] [--runs 300] [--naive] [--compare-preprocess FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from digitrec_core import canvas_to_mnist, load_model, predict_proba, recognize  # noqa: E402

# (polyline in canvas pixels, pen width): what a user draws, roughly
STROKES = [
    ([(70, 60), (200, 60), (120, 230)], 18),  # 7
    ([(140, 40), (135, 240)], 24),  # 1
    ([(140 + 60 * np.cos(t), 140 + 90 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)], 12),  # 0
    ([(180, 240), (180, 40), (70, 170), (220, 170)], 30),  # 4
]


def canvases() -> list[np.ndarray]:
    """The digits as streamlit-drawable-canvas returns them: white round pen on black, RGBA."""
    out = []
    for points, pen in STROKES:
        img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
        ImageDraw.Draw(img).line(points, fill=(255, 255, 255, 255), width=pen, joint="curve")
        out.append(np.asarray(img))
    return out


def load_module(path: str):
    """A preprocessing module from a file (another version of digitrec_core/preprocess.py)."""
    spec = importlib.util.spec_from_file_location("compared_preprocess", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="stored model name (default: the active one)")
    ap.add_argument("--runs", type=int, default=300, help="predictions per path (default 300)")
    ap.add_argument("--naive", action="store_true", help="also time Keras's model.predict")
    ap.add_argument("--compare-preprocess", metavar="FILE", help="another preprocess.py to time alongside")
    args = ap.parse_args()
    onnx = load_model(args.model)
    keras = load_model(onnx.info.name if args.model else None, runtime="keras").model
    images = canvases()
    paths = {
        "canvas_to_mnist only": lambda im: canvas_to_mnist(im),
        "ONNX: canvas_to_mnist + predict_proba": lambda im: predict_proba(onnx.model, canvas_to_mnist(im)),
        # what the server path shows now: the same, and "not a digit" at the model's threshold
        "ONNX: canvas_to_mnist + recognize": lambda im: recognize(onnx, canvas_to_mnist(im)).probabilities,
        "TensorFlow: canvas_to_mnist + predict_proba": lambda im: predict_proba(keras, canvas_to_mnist(im)),
    }
    if args.compare_preprocess:
        other = load_module(args.compare_preprocess).canvas_to_mnist
        for im in images:
            if not np.array_equal(other(im), canvas_to_mnist(im)):
                raise SystemExit(f"{args.compare_preprocess} gives other images than digitrec_core.preprocess")
        paths[f"canvas_to_mnist only, from {args.compare_preprocess}"] = lambda im: other(im)
    if args.naive:
        paths["TensorFlow: canvas_to_mnist + model.predict"] = (
            lambda im: keras.predict(canvas_to_mnist(im)[None, ..., None], verbose=0))
    first = {}
    for name, fn in paths.items():  # warm-up: tracing, first-call allocations; and the same answers
        for im in images * 3:
            out = fn(im)
        first[name] = [int(np.argmax(fn(im))) for im in images] if out.shape[-1] == 10 else None
    if first["ONNX: canvas_to_mnist + predict_proba"] != first["TensorFlow: canvas_to_mnist + predict_proba"]:
        raise SystemExit(f"the two runtimes disagree: {first}")
    times: dict[str, list[float]] = {k: [] for k in paths}
    order = np.random.default_rng(0)
    for r in range(args.runs):
        im = images[r % len(images)]
        for name in order.permutation(list(paths)):  # a new order each round: no path always runs after another
            fn = paths[name]
            t = time.perf_counter()
            fn(im)
            times[name].append((time.perf_counter() - t) * 1000)

    print(f"model: {onnx.info.name} ({onnx.info.arch}, {onnx.info.params:,} parameters); "
          f"read as {first['ONNX: canvas_to_mnist + predict_proba']} by both runtimes (drawn: 7, 1, 0, 4)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.runs} interleaved predictions per path\n")
    print("| path | median ms | p90 ms | target |")
    print("| --- | ---: | ---: | --- |")
    for name, v in times.items():
        target = "median ≤ 1.5 ms (aim 1.0)" if name.startswith("ONNX") else ""
        print(f"| {name} | **{np.median(v):.2f}** | {np.percentile(v, 90):.2f} | {target} |")
    onnx_ms = np.median(times["ONNX: canvas_to_mnist + predict_proba"])
    tf_ms = np.median(times["TensorFlow: canvas_to_mnist + predict_proba"])
    print(f"\nTensorFlow path / ONNX path = {tf_ms / onnx_ms:.1f}x")
    recognize_ms = np.median(times["ONNX: canvas_to_mnist + recognize"])
    print(f"recognize / predict_proba (ONNX, with canvas_to_mnist) = {recognize_ms / onnx_ms:.3f}x")
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`python bench/latency.py{' ' + argv if argv else ''}`")


if __name__ == "__main__":
    main()
