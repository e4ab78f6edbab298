"""`digitrec sweep`: a search space from flags and a TOML file, the sweep run on Ray Tune under the store's lock,
its trials as progress lines and a table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from digitrec_cli.learn import store_for_a_run
from digitrec_cli.terminal import report_saved, warn
from digitrec_core.data import load_mnist
from digitrec_core.optional import RayMissing, TensorFlowMissing, require_ray_tune, require_tensorflow
from digitrec_core.store import ModelStore, Saved
from digitrec_core.sweep import (  # no Ray or TensorFlow until a sweep runs
    SearchSpace,
    Sweep,
    SweepError,
    SweepProgress,
    TrialEvent,
    describe,
    new_sweep_id,
    run_sweep,
    save_sweep,
)
from digitrec_core.text import percent, plural


def cmd_sweep(args: argparse.Namespace) -> int:
    try:
        require_ray_tune("Sweeping")  # before the store is touched: without Ray nothing changes
        require_tensorflow("Sweeping")
    except (RayMissing, TensorFlowMissing) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    space = SearchSpace.from_toml(args.space) if args.space else SearchSpace()
    flags = {"arch": args.archs, "lr": args.lr, "batch-size": args.batch_size, "epochs": args.epochs,
             "augment": args.augment, "limit": args.limit}
    space = SearchSpace.from_mapping({k: v for k, v in flags.items() if v is not None}, base=space)
    with store_for_a_run("digitrec sweep") as store:
        return _sweep(args, space, store)


def _say(e: TrialEvent) -> None:
    """A trial's event as a line on stderr."""
    name = f"trial {e.index + 1}/{e.trials}"
    if e.kind == "started":
        print(f"{name} started: {describe(e.config)}", file=sys.stderr)
    elif e.kind == "epoch":
        print(f"{name} epoch {e.epoch}/{e.config.epochs}: val_accuracy {percent(e.val_accuracy)}", file=sys.stderr)
    elif e.kind == "completed":
        print(f"{name} completed: test accuracy {percent(e.test_accuracy)}", file=sys.stderr)
    elif e.kind == "stopped":
        print(f"{name} stopped early after {plural(e.epoch, 'epoch')}: behind the others", file=sys.stderr)
    else:
        print(f"{name} failed: {e.error or 'no message'}", file=sys.stderr)


def _sweep(args: argparse.Namespace, space: SearchSpace, store: ModelStore) -> int:
    """Run the sweep (the caller holds the store's lock), save its completed trials, say what happened."""
    data = load_mnist()  # before Ray and TensorFlow start: a data problem is reported in a blink
    configs = space.trials(args.trials, seed=args.seed, validation_split=args.val_split, n_images=data.n_train)
    print(f"Sweeping {plural(len(configs), 'trial')} ({plural(space.size, 'combination')}) on {data.source}",
          file=sys.stderr)

    sweep_id = new_sweep_id()
    progress = SweepProgress(store.root, sweep_id, configs)  # what the Train page shows while it runs

    def on_event(e: TrialEvent) -> None:
        progress.on_event(e)
        _say(e)

    try:
        sweep = run_sweep(configs, data=data, address=args.address, cpus_per_trial=args.cpus_per_trial,
                          grace_period=args.grace_period, reduction_factor=args.reduction_factor, on_event=on_event,
                          sweep_id=sweep_id)
        saved = save_sweep(sweep, store, activate=args.activate)
    except SweepError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    finally:
        progress.finish()
    print(summary(sweep, saved))
    if not saved:
        return 1
    report_saved(saved[-1], store)  # the best: compared with the active model like any run
    warn(store)
    return 0


def summary(sweep: Sweep, saved: Sequence[Saved] = ()) -> str:
    """The sweep as a table, one row per trial, with the stored model's name for each saved trial."""
    names = {s.info.sweep.get("trial"): s.info.name for s in saved}
    head = (f"Sweep {sweep.id} on {sweep.address}: {plural(len(sweep.trials), 'trial')} on "
            f"{plural(sweep.nodes, 'node')} in {sweep.seconds:.0f} s "
            f"({sweep.count('completed')} completed, {sweep.count('stopped')} stopped early, "
            f"{sweep.count('failed')} failed)")
    rows = [f"{'trial':>5}  {'arch':8} {'lr':>8} {'batch':>5} {'epochs':>6} {'augment':7} {'images':>7} "
            f"{'val acc':>8} {'test acc':>8}  outcome"]
    for t in sweep.trials:
        c = t.config
        test = t.result.test_accuracy if t.result is not None else None
        if t.status == "completed":
            outcome = f"saved as {names[t.index + 1]}" if t.index + 1 in names else "completed"
        elif t.status == "stopped":
            outcome = f"stopped after {plural(t.epochs_run, 'epoch')}"
        else:
            outcome = f"failed: {t.error or 'no message'}"
        rows.append(f"{t.index + 1:>5}  {c.arch:8} {c.learning_rate:>8g} {c.batch_size:>5} {c.epochs:>6} "
                    f"{'yes' if c.augment else 'no':7} {'all' if c.limit is None else f'{c.limit:,}':>7} "
                    f"{percent(t.val_accuracy):>8} {percent(test):>8}  {outcome}")
    best = sweep.best
    tail = (f"Best by validation accuracy: trial {best.index + 1} ({percent(best.val_accuracy)})." if best else
            "No trial completed: nothing was saved.")
    return "\n".join([head, *rows, tail])
