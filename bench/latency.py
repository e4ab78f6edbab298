"""Single-prediction latency: what one stroke on the Draw page costs.

Times canvas_to_mnist + predict_proba on a 280x280 RGBA canvas against the same preprocessing
followed by model.predict (the naive path) and by an eager model call, interleaved in one run
so machine noise hits all paths alike. Prints medians and the ratio.

    python bench/latency.py [--model NAME] [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from digitrec_core import canvas_to_mnist, load_model, predict_proba  # noqa: E402


def canvas() -> np.ndarray:
    """A '7' drawn as streamlit-drawable-canvas returns it: white pen on black, RGBA."""
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(img).line([(70, 60), (200, 60), (120, 230)], fill=(255, 255, 255, 255), width=18, joint="curve")
    return np.asarray(img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="stored model name (default: the active one)")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    loaded = load_model(args.model)
    model, image = loaded.model, canvas()
    paths = {
        "canvas_to_mnist only": lambda: canvas_to_mnist(image),
        "canvas_to_mnist + predict_proba": lambda: predict_proba(model, canvas_to_mnist(image)),
        "canvas_to_mnist + model(x) eager": lambda: model(canvas_to_mnist(image)[None, ..., None], training=False).numpy(),
        "canvas_to_mnist + model.predict": lambda: model.predict(canvas_to_mnist(image)[None, ..., None], verbose=0),
    }
    for fn in paths.values():  # warm-up: tracing, first-call allocations
        for _ in range(5):
            fn()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.runs):
        for name, fn in paths.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"model: {loaded.info.name} ({loaded.info.arch}, {loaded.info.params:,} parameters)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.runs} interleaved runs each\n")
    print(f"| {'path':36} | median ms | p90 ms |")
    print(f"|{'-' * 38}|-----------|--------|")
    for name, v in times.items():
        print(f"| {name:36} | {med[name]:9.2f} | {np.percentile(v, 90):6.2f} |")
    fast, slow = med["canvas_to_mnist + predict_proba"], med["canvas_to_mnist + model.predict"]
    print(f"\nmodel.predict path / predict_proba path = {slow / fast:.1f}x")
    print(f"command: python bench/latency.py --runs {args.runs}" + (f" --model {args.model}" if args.model else ""))


if __name__ == "__main__":
    main()
