"""Training throughput (images/s) of each architecture, and what the Train page's live view costs.

Throughput: the same training with no progress callback ("plain") and with the CLI's progress bar
updated every batch ("CLI"), interleaved, median over runs. Measured on epochs after the first
(the first includes tracing), with the number of cores the process kept busy meanwhile: what is
left idle is the room a browser on the same machine has before it slows training.

Streaming cost: this machine's speed drifts by tens of percent from one second to the next, so
separate runs cannot resolve a 5% effect (plain and CLI, which train identically, differ by up to
30% between runs). Instead, one training started from the Train page is watched and unwatched in
turns: in watched windows the Train page is re-run once a second, twice as often as an open
browser tab makes it; in unwatched windows nothing is. The page is run through Streamlit's AppTest in this process;
the run trains in a child process, as in the dashboard (digitrec_core.jobs), so what it shares with the page is
the machine's cores and the relay of its progress, not an interpreter. The page's full rerun is more than the
one-fragment refresh a browser triggers: an upper bound. Batch times in each
watched window are compared with the unwatched windows either side; the same comparison with
nothing in either window ("A/A") shows the method's own noise. The browser's own drawing is
measured by bench/browser.py.

The per-batch callbacks are timed on their own: the dashboard appends each report to a list, the
CLI updates a progress bar.

    python bench/training.py [--archs seed default] [--runs 3] [--epochs 3] [--limit 10000] [--seconds 120] [--window 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]

from digitrec_core import load_mnist, train  # noqa: E402
from digitrec_core.learning.training import Progress  # noqa: E402

SKIP_BATCHES = 20  # batches at the start of the run that include tracing and warm-up


def cli_progress():
    """The CLI's per-batch progress callback, writing where the CLI writes it."""
    from digitrec_cli.terminal import progress_printer

    return progress_printer(verbose=1)


def throughput(arch: str, mode: str, data, epochs: int, limit: int) -> tuple[float, float | None]:
    """Images/s after the first epoch; in CLI mode also how many cores the process kept busy then."""
    printer, marks = cli_progress() if mode == "cli" else None, []  # marks: (wall, cpu) at epoch 2's start, the end

    def on_progress(p):
        if (p.kind, p.epoch, p.batch) == ("batch", 2, 1) or (p.kind, p.epoch) == ("epoch", epochs):
            marks.append((time.perf_counter(), sum(os.times()[:2])))
        printer(p)

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = train(arch=arch, epochs=epochs, limit=limit, data=data, on_progress=on_progress if printer else None)
    rate = statistics.median(result.history["images_per_sec"][1:])
    if not marks:
        return rate, None
    (t0, c0), (t1, c1) = marks
    return rate, (c1 - c0) / (t1 - t0)


def callback_cost(calls: int = 20000) -> dict[str, float]:
    """Microseconds per call of each per-batch callback, on realistic reports."""
    reports = [Progress("batch", 1, 1, b, calls, 0.1, 0.9, 2000.0, 1.0) for b in range(1, calls + 1)]
    costs = {}
    events: list = []
    for name, cb in (("dashboard", events.append), ("CLI", cli_progress())):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            t = time.perf_counter()
            for r in reports:
                cb(r)
            costs[name] = (time.perf_counter() - t) / calls * 1e6
    return costs


def watched_training(arch: str, seconds: float, window: float, watch: bool):
    """Train `arch` from the Train page for about `seconds`, watching it in alternate windows.

    Returns the mean batch time of each window (None where a stall left no full batch), the odd
    ones watched, and the median time one page run took."""
    from streamlit.testing.v1 import AppTest

    import digitrec_app.ui.resources as res
    from digitrec_app.ui import navigation

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page(str(navigation.path("train"))).run()
    next(s for s in at.selectbox if s.label == "Architecture").set_value(arch).run()
    at.number_input(key=f"epochs_{arch}").set_value(100)  # stopped after `seconds`
    at.button(key="FormSubmitter:hyperparameters-Train").click().run()
    assert not at.exception, [e.message for e in at.exception]
    job = res.supervisor().job
    assert job is not None and job.running, "pressing Train started no job"

    while len(job.events) < SKIP_BATCHES:  # let it trace and warm up
        time.sleep(0.05)
    boundaries, page_runs = [len(job.events)], []
    start = time.perf_counter()
    for k in range(int(seconds / window)):
        watched = watch and k % 2 == 1
        end = start + (k + 1) * window
        while (now := time.perf_counter()) < end:
            if watched:
                at.run()
                page_runs.append(time.perf_counter() - now)
                assert not at.exception, [e.message for e in at.exception]
            time.sleep(max(0.0, min(1.0 - (time.perf_counter() - now), end - time.perf_counter())))
        boundaries.append(len(job.events))
    job.stop()
    job.wait(120)

    events = list(job.events)
    means = []
    for lo, hi in zip(boundaries, boundaries[1:]):
        times = [
            b.elapsed - a.elapsed
            for a, b in zip(events[lo:hi], events[lo + 1 : hi + 1])
            # consecutive full batches of one epoch: no validation pass or short last batch in between
            if a.kind == b.kind == "batch" and b.epoch == a.epoch and b.batch == a.batch + 1 and b.batch < b.batches
        ]
        means.append(statistics.fmean(times) if times else None)  # None: a stall swallowed the window
    return means, statistics.median(page_runs) if page_runs else 0.0


def paired_ratios(means: list[float]) -> list[float]:
    """Each odd window's mean batch time against the mean of the two even windows beside it."""
    triples = (means[k - 1 : k + 2] for k in range(1, len(means) - 1, 2))
    return [on / ((a + b) / 2) for a, on, b in triples if None not in (a, on, b)]


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(xs, n=4) if len(xs) > 1 else (xs[0],) * 3
    return q1, q2, q3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["seed", "default"])
    ap.add_argument("--runs", type=int, default=3, help="throughput runs per architecture and mode")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per throughput run")
    ap.add_argument("--limit", type=int, default=10000, help="training images per throughput run")
    ap.add_argument("--seconds", type=float, default=120, help="length of each watched/unwatched training (0: skip)")
    ap.add_argument("--window", type=float, default=2.0, help="seconds per watched or unwatched window")
    args = ap.parse_args()
    os.environ.setdefault("DIGITREC_HOME", tempfile.mkdtemp(prefix="digitrec-bench-"))  # keep the user's store clean
    data = load_mnist()

    modes = ("plain", "cli")
    rates = {(a, m): [] for a in args.archs for m in modes}
    busy = {a: [] for a in args.archs}
    for r in range(args.runs):
        for arch in args.archs:
            for mode in modes[r % 2 :] + modes[: r % 2]:  # alternate which goes first
                rate, cores_busy = throughput(arch, mode, data, args.epochs, args.limit)
                rates[(arch, mode)].append(rate)
                if cores_busy is not None:
                    busy[arch].append(cores_busy)

    streaming = {}
    for arch in args.archs if args.seconds else ():
        for watch in (True, False):
            means, page_run = watched_training(arch, args.seconds, args.window, watch)
            streaming[(arch, watch)] = (paired_ratios(means), page_run)

    cores = os.cpu_count()
    print(f"Throughput: images/s after the first epoch, median (min-max) of {args.runs} runs, "
          f"{args.epochs} epochs on {args.limit:,} images (90% trained on), {cores} CPU cores\n")
    print("| arch | plain | CLI | cores busy |")
    print("|------|-------|-----|------------|")
    for arch in args.archs if args.runs else ():
        cells = [f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})"
                 for v in (rates[(arch, m)] for m in modes)]
        print(f"| {arch} | {' | '.join(cells)} | {statistics.median(busy[arch]):.2f} of {cores} |")

    if args.seconds:
        print("\nStreaming cost: batch time with the Train page re-run every second (a tab: every 2 s) against "
              f"without, {args.window:g} s windows over {args.seconds:g} s of training; median and quartiles of the "
              "paired window ratios\n")
        print("| arch | watched vs unwatched | A/A (method's noise) | pairs | one page run |")
        print("|------|----------------------|----------------------|-------|--------------|")
        for arch in args.archs:
            (on, page_run), (aa, _) = streaming[(arch, True)], streaming[(arch, False)]
            cell = lambda xs: "{1:+.1%} ({0:+.1%} to {2:+.1%})".format(*(q - 1 for q in quartiles(xs)))  # noqa: E731
            print(f"| {arch} | {cell(on)} | {cell(aa)} | {len(on)} | {page_run * 1000:.0f} ms |")

    costs = callback_cost()
    print(f"\nPer-batch callback: dashboard {costs['dashboard']:.2f} µs, CLI {costs['CLI']:.1f} µs per call")
    print(f"\ncommand: python bench/training.py --archs {' '.join(args.archs)} --runs {args.runs} "
          f"--epochs {args.epochs} --limit {args.limit} --seconds {args.seconds:g} --window {args.window:g}")


if __name__ == "__main__":
    main()
