"""`digitrec train` and `digitrec finetune`: a run under the store's lock, its progress at the terminal, the
model saved by the activation rule."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from digitrec_cli.terminal import progress_printer, report_saved, stop_on_ctrl_c, warn
from digitrec_core.data import Mnist, load_mnist
from digitrec_core.jobs import StoreLock
from digitrec_core.learning.runs import TrainConfig
from digitrec_core.optional import require_tensorflow
from digitrec_core.store import ModelStore, check_export_target, open_store, write_model
from digitrec_core.text import percent, plural


@contextlib.contextmanager
def store_for_a_run(holder: str) -> Iterator[ModelStore]:
    """The store, holding its lock for the whole command: a run refused as busy (the dashboard or
    another CLI run is training) is said at once, before any data or TensorFlow is loaded."""
    store = open_store()
    with StoreLock(store.root) as lock:
        lock.acquire(holder)
        yield store


def run_and_save(store: ModelStore, activate: str, report: Callable, run: Callable) -> tuple | None:
    """Run `run(on_progress, stop)` (the caller holds the store's lock: one run at a time, dashboard
    included), print `report(result)`, save it by the activation rule and say what happened; None if stopped."""
    stop = threading.Event()
    on_progress = progress_printer(verbose=1 if sys.stdout.isatty() else 2)  # a live bar, or a line per epoch in a log
    try:
        with stop_on_ctrl_c(stop):
            result = run(on_progress, stop)
    except KeyboardInterrupt:
        print("\nAborted: nothing was saved.", file=sys.stderr)
        return None
    if result.stopped:
        print("Stopped: nothing was saved.", file=sys.stderr)
        return None
    report(result)
    saved = store.save(result, activate=activate)
    report_saved(saved, store)
    warn(store)
    return result, saved


def cmd_train(args: argparse.Namespace) -> int:
    require_tensorflow("Training")  # a serve-only install: one sentence, before the store or the data
    if args.export:
        check_export_target(Path(args.export), force=args.force)  # before minutes of training, not after
    with store_for_a_run("digitrec train") as store:
        return _train(args, store)


def _config(args: argparse.Namespace, data: Mnist) -> TrainConfig:
    """The run's settings from the flags, the recipe's where a flag is not given; said before TensorFlow's
    import, seconds of it (bench/first_batch.py): the command answers at once."""
    cfg = TrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        augment=args.augment,
        limit=args.limit,
        validation_split=args.val_split,
        seed=args.seed,
        strategy=args.strategy,
        negatives=args.negatives,
    ).resolved(data.n_train)
    print(f"Training {cfg.arch} on {data.source}", file=sys.stderr)
    print(
        f"epochs={cfg.epochs} batch_size={cfg.batch_size} lr={cfg.learning_rate:g} augment={cfg.augment} "
        f"limit={cfg.limit or 'all'} validation_split={cfg.validation_split:g} seed={cfg.seed} "
        f"negatives={cfg.negatives:g}",
        file=sys.stderr,
    )
    return cfg


def _train(args: argparse.Namespace, store: ModelStore) -> int:
    data = load_mnist()  # before TensorFlow's import: a data problem is reported in a blink
    cfg = _config(args, data)
    with drawn_aside(data, cfg) as drawn:  # the non-digits, drawn by a second process while TensorFlow imports
        from digitrec_core.learning.training import train, where_it_trains

        non_digits = drawn()
    if cfg.strategy != "default":
        print(where_it_trains(cfg.strategy), file=sys.stderr)

    def report(result) -> None:
        print(f"Test Loss: {result.test_loss:.4f}")
        print(f"Test Accuracy: {result.test_accuracy:.2%}")
        trained = f"{plural(result.epochs_run, 'epoch')} on {plural(result.n_train, 'image')}"
        print(f"Trained {trained} in {result.seconds:.1f} s.")

    done = run_and_save(store, args.activate, report,
                        lambda on_progress, stop: train(cfg, data=data, on_progress=on_progress, stop=stop,
                                                   non_digits=non_digits))
    if done is None:
        return 130
    result, saved = done
    if args.export:
        target = Path(args.export)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_model(result.model, saved.info, target, staging=target.parent, force=args.force)
        print(f"Exported to {target}.")
    if args.plot:
        from digitrec_core.plots import plot_history

        plot_history(result.history, args.plot, title=f"{cfg.arch}: test accuracy {result.test_accuracy:.2%}")
        print(f"Curves written to {args.plot}.")
    return 0


@contextlib.contextmanager
def drawn_aside(data: Mnist, cfg: TrainConfig) -> Iterator[Callable[[], np.ndarray | None]]:
    """A run's generated non-digits (`negatives.for_training`), drawn in a spawned process while this one goes
    on: the body gets a function that waits for them (None if that process could not do it: `train` then draws
    them itself). They cost about 2 s of the first batch's 9 s drawn after TensorFlow's 4 s import
    (bench/first_batch.py), and the import keeps one core busy."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from digitrec_core.learning.negatives import for_training

    n_images = len(data.split(cfg.limit, cfg.validation_split, cfg.seed)[0][1])
    if round(cfg.negatives * n_images) < 1:
        yield lambda: None
        return
    try:
        pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))  # never fork: TensorFlow's threads
        drawing = pool.submit(for_training, n_images, cfg.negatives, cfg.seed)
    except OSError:  # no second process here (limits, a sandbox): drawn in this one, as before
        yield lambda: None
        return

    def drawn() -> np.ndarray | None:
        try:
            return drawing.result()
        except Exception:  # a broken or killed worker: `train` draws them itself
            return None

    try:
        yield drawn
    finally:
        drawing.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def cmd_finetune(args: argparse.Namespace) -> int:
    require_tensorflow("Fine-tuning")
    with store_for_a_run("digitrec finetune") as store:
        return _finetune(args, store)


def _finetune(args: argparse.Namespace, store: ModelStore) -> int:
    data = load_mnist()  # before TensorFlow's import: a data problem is reported in a blink
    from digitrec_core.learning.finetune import fine_tune

    def report(result) -> None:
        print(f"Fine-tuned {result.base} for {plural(result.epochs_run, 'epoch')} on "
              f"{plural(result.n_personal_train, 'personal digit')} (+ MNIST rehearsal) in {result.seconds:.1f} s; "
              f"{plural(result.n_personal_holdout, 'digit')} held out.")
        print(f"Held-out personal accuracy: {percent(result.personal_before)} -> {percent(result.personal_after)}")
        if result.personal_loss_before is not None and result.personal_loss_after is not None:
            print(f"Held-out personal log-loss: {result.personal_loss_before:.3f} -> {result.personal_loss_after:.3f}")
        print(f"MNIST test accuracy: {percent(result.base_test_accuracy)} -> {percent(result.test_accuracy)}")

    def run(on_progress, stop):
        return fine_tune(args.model, epochs=args.epochs, holdout=args.holdout, data=data, on_progress=on_progress,
                         stop=stop, seed=args.seed, store=store)

    return 130 if run_and_save(store, args.activate, report, run) is None else 0
