"""What the commands share at the terminal: TensorFlow's noise hidden, Ctrl-C as a clean stop, a run's progress
lines, what was saved, and the store's warnings."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from digitrec_core.quiet import quiet_tensorflow
from digitrec_core.store import ModelStore, Saved
from digitrec_core.store.promotion import figure

if TYPE_CHECKING:  # the training module imports TensorFlow
    from digitrec_core.learning.training import Progress


def quiet(verbose: bool) -> None:
    """TensorFlow's and its friends' lines out of the terminal unless `--verbose` (`quiet_tensorflow`)."""
    if not verbose:
        quiet_tensorflow()


@contextlib.contextmanager
def stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C: finish the current batch and stop cleanly. Second: abort at once. The handler
    before it is put back afterwards (`main` may run inside a longer-lived program)."""

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def progress_printer(verbose: int = 1) -> Callable[[Progress], None]:
    """The CLI's `on_progress`: Keras's progress bar, one per epoch, then the validation scores and the speed
    (`1,234 images/s`, as the dashboard writes it: the bar would print 1234.5678)."""
    import keras

    bar: list = []
    last: list = []  # the epoch's last batch: its speed leaves out the validation after it

    def on_progress(p) -> None:
        if p.kind == "batch":
            if p.batch == 1:
                print(f"Epoch {p.epoch}/{p.epochs}", file=sys.stderr)
                bar[:] = [keras.utils.Progbar(p.batches, verbose=verbose, stateful_metrics=["loss", "accuracy"])]
            bar[0].update(p.batch, [("loss", p.loss), ("accuracy", p.accuracy)])
            last[:] = [p]
            return
        line = f"{(last or [p])[0].images_per_sec:,.0f} images/s"
        if p.val_accuracy is not None:
            line = f"val_loss: {p.val_loss:.4f} - val_accuracy: {p.val_accuracy:.4f} - {line}"
        print(f"  {line}", file=sys.stderr)

    return on_progress


def report_saved(saved: Saved, store: ModelStore) -> None:
    """The new model beside the active one, and whether it replaced it (and how to, if not)."""
    print(f"Saved as {saved.info.name} in {store.root}.")
    if saved.previous is not None:
        width = max(len(c.measure) for c in saved.comparison)
        print(f"{'':{width}}  {'new':>8}  {'active':>8}")
        for c in saved.comparison:
            print(f"{c.measure:{width}}  {figure(c.measure, c.new):>8}  {figure(c.measure, c.active):>8}")
    print(saved.reason)
    if saved.decided_by:
        print(f"Decided by: {saved.decided_by}.")
    if not saved.activated:
        print(f"To use it anyway: digitrec activate {saved.info.name}")


def warn(store: ModelStore, notice: str | None = None) -> None:
    """What the store skipped (damaged metadata), and a load's fallback, as warnings on stderr."""
    for problem in store.problems:
        if not notice or problem not in notice:
            print(f"Warning: {problem}", file=sys.stderr)
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)
