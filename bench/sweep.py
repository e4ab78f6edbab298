"""Wall time of the same trials run one after another in this process versus as a sweep through Ray on this
machine (Ray started here with every core, one core per trial), in one run so the two share the machine's load.

    DIGITREC_MNIST_DIR=... python bench/sweep.py [--trials 8] [--arch seed] [--epochs 2] [--limit 6000]

Sequential: `training.train` for each config, TensorFlow free to use every core. Ray: `sweep.run_sweep` on
the same configs with the early stopping out of the way (its grace period is the whole run), so both do
all the work; Ray's time includes starting Ray, a worker process and TensorFlow per trial, and sending the
weights back. Saving to the store is left out of both. Prints both times, their ratio and the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_core.data import load_mnist  # noqa: E402
from digitrec_core.sweep import SearchSpace, run_sweep  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--arch", default="seed")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=6000)
    args = p.parse_args()
    data = load_mnist()
    space = SearchSpace(arch=(args.arch,), learning_rate=(1e-3, 3e-3), batch_size=(32, 64), epochs=(args.epochs,),
                        augment=(False, True), limit=(args.limit,))
    configs = space.trials(args.trials, n_images=data.n_train)
    print(f"{len(configs)} trials of {args.arch}, {args.epochs} epochs on {args.limit:,} images, "
          f"{os.cpu_count()} cores; data: {data.source}", flush=True)

    started = time.perf_counter()
    sweep = run_sweep(configs, data=data, grace_period=args.epochs)
    ray_s = time.perf_counter() - started
    assert sweep.count("completed") == len(configs), [t.status for t in sweep.trials]

    from digitrec_core.learning.training import train

    started = time.perf_counter()
    accs = [train(c, data=data).test_accuracy for c in configs]
    seq_s = time.perf_counter() - started

    ray_accs = [t.result.test_accuracy for t in sweep.trials]
    print(f"one after another: {seq_s:7.1f} s ({seq_s / len(configs):.1f} s a trial), "
          f"mean test accuracy {sum(accs) / len(accs):.2%}")
    print(f"through Ray:       {ray_s:7.1f} s ({ray_s / len(configs):.1f} s a trial), "
          f"mean test accuracy {sum(ray_accs) / len(ray_accs):.2%}")
    print(f"ratio (one after another / Ray): {seq_s / ray_s:.2f}")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
