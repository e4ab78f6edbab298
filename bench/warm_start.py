"""Warm training workers (issues 21 and 22): seconds from a click to the first progress event and to the end of
the run, when each run spawns its own process (cold) and when a warm worker waits for it (warm).

Two jobs, run by a `TrainingSupervisor` as the dashboard runs them (a child process that trains and saves):
a 2,000-image x 1-epoch `default` training run, and a fine-tune of the active model (the shipped one: the
store is a fresh temporary DIGITREC_HOME) on 100 MNIST test digits playing a person's own. Nothing becomes
the active model. Each cell is the median (min-max) of --runs, cold and warm interleaved. Before every run
the warm supervisor's worker has finished warming up (as between two clicks), so none warms up meanwhile.

    python bench/warm_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from digitrec_core import load_mnist  # noqa: E402
from digitrec_core.jobs import TrainingSupervisor  # noqa: E402
from digitrec_core.learning.runs import TrainConfig  # noqa: E402
from digitrec_core.store import HOME_ENV  # noqa: E402

DEADLINE = 600  # seconds: a run, or a worker's warm-up, that takes longer than this is a failure
POLL = 0.01  # seconds between looks at the job (the first event's time is this coarse)


def start_train(sup: TrainingSupervisor, data, samples):
    return sup.start(TrainConfig(arch="default", epochs=1, limit=2000), owner="bench", data=data, activate="never")


def start_fine_tune(sup: TrainingSupervisor, data, samples):
    return sup.start_fine_tune(owner="bench", data=data, samples=samples, activate="never")


JOBS = {"train default, 2,000 images x 1 epoch": start_train, "fine-tune, 100 digits": start_fine_tune}


def timed(start, sup: TrainingSupervisor, data, samples) -> tuple[float, float]:
    """Seconds from `start` to the job's first progress event, and to its end."""
    t0 = time.time()
    job = start(sup, data, samples)
    first = None
    while job.running:
        if first is None and job.events:
            first = time.time() - t0
        if time.time() - t0 > DEADLINE:
            job.stop()
            sys.exit(f"The run took over {DEADLINE} s.")
        time.sleep(POLL)
    job.wait(DEADLINE)
    if job.error:
        sys.exit(f"The run failed: {job.error}")
    return first, job.finished_at - t0


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = load_mnist()
    x, y = data.x_test[:100].astype(np.float32) / 255, data.y_test[:100].astype(np.int64)
    samples = (x, y, [f"mnist-test-{i}" for i in range(len(y))])
    with tempfile.TemporaryDirectory() as home:
        os.environ[HOME_ENV] = home
        cold, warm = TrainingSupervisor(warm=False), TrainingSupervisor(warm=True)
        times = {(j, w): [] for j in JOBS for w in ("cold", "warm")}
        rss = []
        try:
            for i in range(args.runs):
                for name, start in JOBS.items():
                    for label, sup in (("cold", cold), ("warm", warm)):
                        if not warm.prewarm(wait=DEADLINE):
                            sys.exit("The warm worker did not warm up.")
                        rss.append(warm.warm_memory())
                        times[name, label].append(timed(start, sup, data, samples))
                        print(f"run {i + 1}, {name}, {label}: first event {times[name, label][-1][0]:.1f} s, "
                              f"end {times[name, label][-1][1]:.1f} s", flush=True)
        finally:
            warm.close()
    print(f"\nSeconds from start() to the first progress event and to the end of the run, median (min-max) of "
          f"{args.runs} runs, cold and warm interleaved ({os.cpu_count()} CPU cores, {data.origin or data.source}):\n")
    print("| job | worker | first progress event | end of the run |")
    print("|-----|--------|---------------------:|---------------:|")
    for (name, label), t in times.items():
        print(f"| {name} | {label} | {cell([a for a, _ in t])} | {cell([b for _, b in t])} |")
    known = [r for r in rss if r is not None]
    if known:
        print(f"\nThe warm worker's resident memory while it waits: {statistics.median(known) / 2**20:.0f} MB "
              f"(median of {len(known)} readings, {min(known) / 2**20:.0f}-{max(known) / 2**20:.0f} MB).")
    mnist = os.environ.get("DIGITREC_MNIST_DIR")
    print(f"\ncommand: {'DIGITREC_MNIST_DIR=' + mnist + ' ' if mnist else ''}python bench/warm_start.py "
          f"--runs {args.runs}")


if __name__ == "__main__":
    main()
