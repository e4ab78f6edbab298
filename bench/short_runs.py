"""Short runs: test accuracy and training time of each architecture's recipe on few images and epochs.

What a newcomer's first run from the Train page or `python -m digitrec_cli train --limit N --epochs E`
gives: `train()` with the recipe's defaults (the batch size its rule picks for the run, the learning-rate
schedule, batch-norm statistics refreshed at each epoch end), 10% of the images held out for validation,
tested on the full 10,000-image test set. Each cell is the median (min-max) over seeds, with the batch size
the recipe chose and the median seconds of training (tracing included, evaluation not).

    python bench/short_runs.py [--archs default seed] [--limits 2000] [--epochs 1 3] [--seeds 0 1 2]
    python bench/short_runs.py --limits 500 2000 5000     # the wider table
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_core import load_mnist, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(arch: str, limit: int, epochs: int, seed: int, data) -> tuple[float, float, int]:
    """Test accuracy, training seconds and the batch size the recipe picked, for one seeded run."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = train(arch=arch, epochs=epochs, limit=limit, seed=seed, data=data)
    return result.test_accuracy, result.seconds, result.config.batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["default", "seed"])
    ap.add_argument("--limits", nargs="+", type=int, default=[2000], help="training images, before the 10%% split")
    ap.add_argument("--epochs", nargs="+", type=int, default=[1, 3])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = ap.parse_args()
    os.environ.setdefault("DIGITREC_HOME", tempfile.mkdtemp(prefix="digitrec-bench-"))  # keep the user's store clean
    data = load_mnist()

    print(f"Test accuracy (10,000 images) after short runs, median (min-max) over seeds {args.seeds}; "
          f"trained on {data.source}\n")
    print("| arch | images | epochs | batch | test accuracy | seconds |")
    print("|------|-------:|-------:|------:|---------------|--------:|")
    for arch in args.archs:
        for limit in args.limits:
            for epochs in args.epochs:
                accs, secs, batches = zip(*(run(arch, limit, epochs, s, data) for s in args.seeds))
                acc = f"{statistics.median(accs):.2%} ({min(accs):.2%}-{max(accs):.2%})"
                print(f"| {arch} | {limit:,} | {epochs} | {'/'.join(sorted({str(b) for b in batches}))} | {acc} | "
                      f"{statistics.median(secs):.1f} |", flush=True)
    print(f"\ncommand: python bench/short_runs.py --archs {' '.join(args.archs)} "
          f"--limits {' '.join(map(str, args.limits))} --epochs {' '.join(map(str, args.epochs))} "
          f"--seeds {' '.join(map(str, args.seeds))}")


if __name__ == "__main__":
    main()
