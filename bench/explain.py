"""What "Why this answer?" costs, and whether its explanations are honest (issue 12).

Cost, on the shipped model served as the dashboard serves it (ONNX Runtime):

* `explain()` (occlusion + every block's view) on test digits, and the panel's pictures built from it
  (two heatmaps, a feature-map mosaic per convolutional block, the filters);
* the server time a stroke on the Draw page adds with the panel open: the Draw page run through Streamlit's
  AppTest in this process, one session with the panel open and one with it closed, each sent the same new
  drawing in turn (interleaved, so machine noise hits both alike). Target: <= 30 ms median added.

Faithfulness (`digitrec_core.serving.faithfulness`):

* deletion: blanking each digit's 10% most-attributed pixels lowers the predicted class's probability more
  than blanking 10% random ones, for >= 90% of the test digits;
* model randomisation (Adebayo et al. 2018): mean Spearman correlation of the trained model's attributions
  and those of the same architecture with random weights (seeds 0, 1, 2), signed < 0.5; also on absolute
  values, and on absolute values over the digit's own pixels.

Needs MNIST (DIGITREC_MNIST_DIR) and TensorFlow (the random-weight models); keep the user's store clean; run as a
module from the repository root, for the canvas message the page tests send (tests/support/pages.py):

    DIGITREC_MNIST_DIR=/path/to/mnist DIGITREC_HOME=$(mktemp -d) python -m bench.explain
        [--digits 200] [--faithful 500] [--strokes 40] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from bench.latency import canvases  # noqa: E402
from digitrec_app.ui import explanation as panel  # noqa: E402
from digitrec_app.ui import explanation_images as images  # noqa: E402
from digitrec_core import explain, load_mnist, load_model  # noqa: E402
from digitrec_core.serving.evaluation import as_batch  # noqa: E402
from digitrec_core.serving.faithfulness import deletion_check, randomisation_check  # noqa: E402

TARGET_MS = 30.0


def ms(times: list[float]) -> tuple[float, float]:
    return float(np.median(times)), float(np.percentile(times, 90))


def pictures(e, x: np.ndarray) -> None:
    """Every picture the open panel shows (its defaults: the answer's map and the runner-up contrast)."""
    images.heatmap(e.for_class(e.predicted), x, panel.HEATMAP)
    images.heatmap(e.contrast(e.predicted, e.runner_up), x, panel.HEATMAP)
    for a in e.activations.values():
        if a.ndim == 3:
            images.feature_maps(a, panel.TOP_CHANNELS, columns=panel.TOP_CHANNELS)
        else:
            images.top_units(a, panel.TOP_UNITS)
    if e.filters is not None:
        images.filters_mosaic(e.filters)


def explain_costs(model, x: np.ndarray) -> dict[str, list[float]]:
    for image in x[:10]:  # warm-up
        pictures(explain(model, image), image)
    out = {"explain()": [], "the panel's pictures": []}
    for image in x:
        t = time.perf_counter()
        e = explain(model, image)
        t1 = time.perf_counter()
        pictures(e, image)
        t2 = time.perf_counter()
        out["explain()"].append((t1 - t) * 1000)
        out["the panel's pictures"].append((t2 - t1) * 1000)
    return out


def stroke_costs(strokes: int) -> dict[str, list[float]]:
    """Server time of the Draw page for a new drawing, with the panel closed and open (AppTest)."""
    from streamlit.testing.v1 import AppTest

    from digitrec_app.ui import navigation
    from tests.support.pages import canvas_state

    sessions = {}
    for name, is_open in (("closed", False), ("open", True)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page(str(navigation.path("draw"))).run()
        at.session_state["draw_why"] = is_open
        sessions[name] = at
    drawings = [canvas_state(c) for c in canvases()]
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for r in range(strokes + 4):  # the first 4: warm-up
        for name, at in sessions.items():
            at.session_state["canvas"] = drawings[r % len(drawings)]
            t = time.perf_counter()
            at.run()
            elapsed = (time.perf_counter() - t) * 1000
            assert not at.exception, [e.message for e in at.exception]
            shown = [i for i in at.get("image") if i.proto.imgs[0].alt.endswith("feature maps")]
            assert bool(shown) == (name == "open"), f"the {name} panel shows {len(shown)} feature maps"
            if r >= 4:
                times[name].append(elapsed)
    return times


def random_weights(seed: int):
    """The shipped architecture with random weights, served like it (ONNX Runtime)."""
    import keras

    from digitrec_core import build_model
    from digitrec_core.serving.exports import onnx_bytes
    from digitrec_core.serving.runtime import OnnxModel

    keras.utils.set_random_seed(seed)
    m = build_model("default")
    m(np.zeros((1, 28, 28, 1), np.float32))
    return OnnxModel(onnx_bytes(m))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=200, help="test digits timed through explain() (default 200)")
    ap.add_argument("--faithful", type=int, default=500, help="test digits of the two checks (default 500)")
    ap.add_argument("--strokes", type=int, default=40, help="Draw page runs per session, open and closed (40)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="random-weight seeds (0 1 2)")
    args = ap.parse_args()
    os.environ.setdefault("DIGITREC_HOME", tempfile.mkdtemp(prefix="digitrec-bench-"))  # keep the user's store clean
    loaded = load_model()
    model = loaded.model
    data = load_mnist()
    x = as_batch(data.x_test[:max(args.digits, args.faithful)])[..., 0]

    costs = explain_costs(model, x[:args.digits])
    strokes = stroke_costs(args.strokes)
    deletion = deletion_check(model, x[:args.faithful], seed=0)
    randomised = {s: randomisation_check(model, random_weights(s), x[:args.faithful]) for s in args.seeds}

    print(f"model: {loaded.info.name} ({loaded.info.arch}, {loaded.info.params:,} parameters), ONNX Runtime")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| cost | median ms | p90 ms | target |")
    print("| --- | ---: | ---: | --- |")
    for name, v in costs.items():
        print(f"| {name}, {len(v)} test digits | {ms(v)[0]:.1f} | {ms(v)[1]:.1f} | |")
    closed, opened = (np.asarray(strokes[k]) for k in ("closed", "open"))
    for name, v in (("Draw page run, panel closed", closed), ("Draw page run, panel open", opened)):
        print(f"| {name} ({len(v)} strokes, AppTest) | {ms(list(v))[0]:.1f} | {ms(list(v))[1]:.1f} | |")
    added = float(np.median(opened) - np.median(closed))
    pairwise = ms(list(opened - closed))
    verdict = "met" if added <= TARGET_MS else "MISSED"
    print(f"| **added by the open panel** (median open − median closed; paired: median {pairwise[0]:.1f}, "
          f"p90 {pairwise[1]:.1f}) | **{added:.1f}** | | ≤ {TARGET_MS:.0f} ms: {verdict} |")
    print(f"\nopen / closed = {np.median(opened) / np.median(closed):.2f}x (medians, interleaved in one run)\n")

    print("| faithfulness | figure | target |")
    print("| --- | ---: | --- |")
    print(f"| deletion: top 10% hurts more than random 10%, {deletion.n} test digits | **{deletion.rate:.1%}** | "
          f"≥ 90% |")
    print(f"| deletion: mean drop of p(predicted), top 10% blanked | {deletion.mean_drop_top:.3f} | |")
    print(f"| deletion: mean drop of p(predicted), random 10% blanked | {deletion.mean_drop_random:.3f} | |")
    for label, field, target in (("signed", "mean_spearman", "< 0.5"), ("absolute", "mean_spearman_abs", ""),
                                 ("absolute, on the digit's ink", "mean_spearman_abs_ink", "")):
        values = [getattr(c, field) for c in randomised.values()]
        per_seed = ", ".join(f"{v:.3f}" for v in values)
        figure = f"**{np.mean(values):.3f}**" if target else f"{np.mean(values):.3f}"  # bold: what is held to a bar
        print(f"| randomisation: mean Spearman, {label} (seeds {', '.join(map(str, randomised))}: {per_seed}; "
              f"{next(iter(randomised.values())).n} digits each) | {figure} | {target} |")
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`DIGITREC_MNIST_DIR=... DIGITREC_HOME=$(mktemp -d) python -m bench.explain{' ' + argv if argv else ''}`")


if __name__ == "__main__":
    main()
