"""Training throughput with `--strategy mirrored` (tf.distribute.MirroredStrategy) against the default, in one run.

On a GPU host MirroredStrategy puts one replica on each GPU; on a machine without one it has one CPU replica,
and this measures what the strategy costs there. Runs alternate (default, mirrored, default, ...) so the
machine's drift hits both alike; each run's throughput is its images/s after the first epoch (which pays
for tracing). Prints the medians, their ratio, the devices and the command line.

    DIGITREC_MNIST_DIR=/path/to/mnist python bench/mirrored.py [--arch default] [--runs 3] [--epochs 3] [--limit 9000]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitrec_core.data import load_mnist  # noqa: E402
from digitrec_core.learning.training import train, where_it_trains  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="default")
    p.add_argument("--runs", type=int, default=3, help="runs of each strategy (default 3)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=9000)
    p.add_argument("--batch-size", type=int, default=128, help="per replica (default 128)")
    args = p.parse_args()
    data = load_mnist()
    rates: dict[str, list[float]] = {"default": [], "mirrored": []}
    accuracy: dict[str, list[float]] = {"default": [], "mirrored": []}
    for k in range(args.runs):
        for strategy in rates:
            r = train(arch=args.arch, epochs=args.epochs, limit=args.limit, batch_size=args.batch_size, data=data,
                      strategy=strategy, seed=k)
            rates[strategy].append(statistics.median(r.history["images_per_sec"][1:]))
            accuracy[strategy].append(r.test_accuracy)
            print(f"run {k + 1} {strategy}: {rates[strategy][-1]:.0f} images/s, test {r.test_accuracy:.2%}",
                  file=sys.stderr, flush=True)
    print(f"\n| `{args.arch}`, {args.epochs} epochs on {args.limit:,} images, batch {args.batch_size} per replica "
          f"| images/s (median of {args.runs}) | test accuracy (median) |")
    print("| --- | ---: | ---: |")
    for strategy in rates:
        rate, acc = statistics.median(rates[strategy]), statistics.median(accuracy[strategy])
        print(f"| {strategy} | {rate:.0f} | {acc:.2%} |")
    ratio = statistics.median(rates["mirrored"]) / statistics.median(rates["default"])
    print(f"\nmirrored / default = {ratio:.2f}x; {where_it_trains('mirrored')}")
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"`python bench/mirrored.py{' ' + argv if argv else ''}` ({os.cpu_count()} CPU cores)")


if __name__ == "__main__":
    main()
