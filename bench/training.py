"""Training throughput (images/s) of each architecture, and what live streaming costs.

Three ways to run the same training, interleaved so machine noise hits all alike:
  plain      no progress callback at all
  cli        the CLI's progress bar, updated every batch
  dashboard  what the Train page does: every batch appended to the job's event list, and a
             poller thread rebuilding the live plotly figure from it every second
Throughput is measured on epochs after the first (the first includes tracing).

    python bench/training.py [--archs seed default] [--epochs 3] [--limit 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digitrec_core import load_mnist, train  # noqa: E402


def run(arch: str, mode: str, data, epochs: int, limit: int) -> float:
    events: list = []
    stop_polling = threading.Event()
    poller = None
    if mode == "cli":
        import keras

        bar = keras.utils.Progbar(1, verbose=0)

        def on_progress(p):
            if p.batch == 1:
                bar.target = p.batches
            bar.update(p.batch, [("loss", p.loss), ("accuracy", p.accuracy)])
    elif mode == "dashboard":
        from ui.components import curves_figure

        on_progress = events.append

        def poll():  # as the Train page's fragment does, once a second
            while not stop_polling.wait(1.0):
                snap = list(events)
                batches = [(e.epoch - 1 + e.batch / e.batches, e.loss, e.accuracy) for e in snap if e.kind == "batch"]
                shown = batches[:: max(1, len(batches) // 240)]
                curves_figure({"this run": {}}, shown).to_json()  # what Streamlit serialises each refresh

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    else:
        on_progress = None
    result = train(arch=arch, epochs=epochs, limit=limit, data=data, on_progress=on_progress)
    stop_polling.set()
    if poller:
        poller.join()
    return statistics.median(result.history["images_per_sec"][1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["seed", "default"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = load_mnist()
    modes = ("plain", "cli", "dashboard")
    rates = {(a, m): [] for a in args.archs for m in modes}
    for _ in range(args.runs):
        for arch in args.archs:
            for mode in modes:
                rates[(arch, mode)].append(run(arch, mode, data, args.epochs, args.limit))
    print(f"{args.runs} runs each, {args.epochs} epochs on {args.limit:,} images (90% trained on), {os.cpu_count()} CPU cores\n")
    print("| arch | plain img/s | CLI img/s | dashboard img/s | dashboard vs CLI |")
    print("|------|-------------|-----------|-----------------|------------------|")
    for arch in args.archs:
        p, c, d = (statistics.median(rates[(arch, m)]) for m in modes)
        print(f"| {arch} | {p:,.0f} | {c:,.0f} | {d:,.0f} | {d / c - 1:+.1%} |")
    print(f"\ncommand: python bench/training.py --archs {' '.join(args.archs)} --epochs {args.epochs} --limit {args.limit} --runs {args.runs}")


if __name__ == "__main__":
    main()
