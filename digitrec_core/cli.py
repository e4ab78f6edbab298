"""`digitrec` (or `python -m digitrec_core`): the original script's workflow for people who live in a terminal."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitrec_core.activation import figure
from digitrec_core.data import Mnist, MnistError, load_mnist
from digitrec_core.evaluation import evaluate
from digitrec_core.exports import DIGITS_ZIP, FORMATS, check_target
from digitrec_core.jobs import StoreLock, TrainingBusy
from digitrec_core.models import ARCHITECTURES, FINE_TUNE, HOLDOUT, get_architecture
from digitrec_core.optional import RayMissing, TensorFlowMissing, require_ray_tune, require_tensorflow
from digitrec_core.preprocess import ImageError, canvas_to_mnist, read_image
from digitrec_core.quiet import quiet_tensorflow
from digitrec_core.recognition import Recognition, recognize
from digitrec_core.runs import MAX_NEGATIVES, MAX_SEED, STRATEGIES, TrainConfig, is_finite, is_fraction
from digitrec_core.store import (
    ACTIVATE_POLICIES,
    ModelInfo,
    ModelStore,
    ModelStoreError,
    Saved,
    check_export_target,
    describe_os_error,
    shipped_info,
    write_model,
)
from digitrec_core.sweep import ADDRESS_ENV  # no Ray or TensorFlow until a sweep runs
from digitrec_core.text import a_digit, percent, plural

if TYPE_CHECKING:  # the training module imports TensorFlow
    from digitrec_core.training import Progress


def _quiet(verbose: bool) -> None:
    """TensorFlow's and its friends' lines out of the terminal unless `--verbose` (`quiet_tensorflow`)."""
    if not verbose:
        quiet_tensorflow()


@contextlib.contextmanager
def _stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
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


def _report_saved(saved: Saved, store: ModelStore) -> None:
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


@contextlib.contextmanager
def _store_for_a_run(holder: str) -> Iterator[ModelStore]:
    """The store, holding its lock for the whole command: a run refused as busy (the dashboard or
    another CLI run is training) is said at once, before any data or TensorFlow is loaded."""
    store = ModelStore()
    with StoreLock(store.root) as lock:
        lock.acquire(holder)
        yield store


def cmd_train(args: argparse.Namespace) -> int:
    require_tensorflow("Training")  # a serve-only install: one sentence, before the store or the data
    if args.export:
        check_export_target(Path(args.export), force=args.force)  # before minutes of training, not after
    with _store_for_a_run("digitrec train") as store:
        return _train(args, store)


def _train(args: argparse.Namespace, store: ModelStore) -> int:
    data = load_mnist()  # before TensorFlow's import: a data problem is reported in a blink
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
    # Said before TensorFlow's import, seconds of it (bench/first_batch.py): the command answers at once.
    print(f"Training {cfg.arch} on {data.source}", file=sys.stderr)
    print(
        f"epochs={cfg.epochs} batch_size={cfg.batch_size} lr={cfg.learning_rate:g} augment={cfg.augment} "
        f"limit={cfg.limit or 'all'} validation_split={cfg.validation_split:g} seed={cfg.seed} "
        f"negatives={cfg.negatives:g}",
        file=sys.stderr,
    )
    with _drawn_aside(data, cfg) as drawn:  # the non-digits, drawn by a second process while TensorFlow imports
        from digitrec_core.training import train, where_it_trains

        non_digits = drawn()
    if cfg.strategy != "default":
        print(where_it_trains(cfg.strategy), file=sys.stderr)

    def report(result) -> None:
        print(f"Test Loss: {result.test_loss:.4f}")
        print(f"Test Accuracy: {result.test_accuracy:.2%}")
        trained = f"{plural(result.epochs_run, 'epoch')} on {plural(result.n_train, 'image')}"
        print(f"Trained {trained} in {result.seconds:.1f} s.")

    done = _run_and_save(store, args.activate, report,
                         lambda on_progress, stop: train(cfg, data=data, on_progress=on_progress, stop=stop,
                                                    non_digits=non_digits))
    if done is None:
        return 130
    result, saved = done
    info = saved.info
    if args.export:
        target = Path(args.export)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_model(result.model, info, target, staging=target.parent, force=args.force)
        print(f"Exported to {target}.")
    if args.plot:
        from digitrec_core.plots import plot_history

        plot_history(result.history, args.plot, title=f"{cfg.arch}: test accuracy {result.test_accuracy:.2%}")
        print(f"Curves written to {args.plot}.")
    return 0


@contextlib.contextmanager
def _drawn_aside(data: Mnist, cfg: TrainConfig) -> Iterator[Callable[[], np.ndarray | None]]:
    """A run's generated non-digits (`negatives.for_training`), drawn in a spawned process while this one goes
    on: the body gets a function that waits for them (None if that process could not do it: `train` then draws
    them itself). They cost about 2 s of the first batch's 9 s drawn after TensorFlow's 4 s import
    (bench/first_batch.py), and the import keeps one core busy."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from digitrec_core.negatives import for_training

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
    with _store_for_a_run("digitrec finetune") as store:
        return _finetune(args, store)


def _finetune(args: argparse.Namespace, store: ModelStore) -> int:
    data = load_mnist()  # before TensorFlow's import: a data problem is reported in a blink
    from digitrec_core.finetune import fine_tune

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

    return 130 if _run_and_save(store, args.activate, report, run) is None else 0


def _run_and_save(store: ModelStore, activate: str, report: Callable, run: Callable) -> tuple | None:
    """Run `run(on_progress, stop)` (the caller holds the store's lock: one run at a time, dashboard
    included), print `report(result)`, save it by the activation rule and say what happened; None if stopped."""
    stop = threading.Event()
    on_progress = progress_printer(verbose=1 if sys.stdout.isatty() else 2)  # a live bar, or a line per epoch in a log
    try:
        with _stop_on_ctrl_c(stop):
            result = run(on_progress, stop)
    except KeyboardInterrupt:
        print("\nAborted: nothing was saved.", file=sys.stderr)
        return None
    if result.stopped:
        print("Stopped: nothing was saved.", file=sys.stderr)
        return None
    report(result)
    saved = store.save(result, activate=activate)
    _report_saved(saved, store)
    _warn(store)
    return result, saved


def _yes_no(text: str) -> bool:
    value = {"yes": True, "on": True, "true": True, "no": False, "off": False, "false": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not yes or no")
    return value


def _checked(parse: Callable[[str], float], ok: Callable[[float], bool], want: str) -> Callable[[str], float]:
    """An argparse `type=`: `parse` the text, then refuse it unless `ok`, in argparse's one-line error."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {want}")
        return value

    return convert


# Every number a command takes is refused here, before any work, when no run could honour it.
_COUNT = _checked(int, lambda v: v >= 1, "a whole number >= 1")
_INDEX = _checked(int, lambda v: v >= 0, "a whole number >= 0")
_SEED = _checked(int, lambda v: 0 <= v <= MAX_SEED, f"a whole number in 0-{MAX_SEED}")
_RATE = _checked(float, lambda v: is_finite(v) and v > 0, "a finite number > 0")
_FRACTION = _checked(float, is_fraction, "a fraction in [0, 1)")
_FACTOR = _checked(float, lambda v: is_finite(v) and v > 1, "a finite number > 1")
_NEGATIVES = _checked(float, lambda v: is_finite(v) and 0 <= v <= MAX_NEGATIVES,
                      f"a number from 0 to {MAX_NEGATIVES:g}")


def cmd_sweep(args: argparse.Namespace) -> int:
    try:
        require_ray_tune("Sweeping")  # before the store is touched: without Ray nothing changes
        require_tensorflow("Sweeping")
    except (RayMissing, TensorFlowMissing) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    from digitrec_core.sweep import SearchSpace

    space = SearchSpace.from_toml(args.space) if args.space else SearchSpace()
    flags = {"arch": args.archs, "lr": args.lr, "batch-size": args.batch_size, "epochs": args.epochs,
             "augment": args.augment, "limit": args.limit}
    space = SearchSpace.from_mapping({k: v for k, v in flags.items() if v is not None}, base=space)
    with _store_for_a_run("digitrec sweep") as store:
        return _sweep(args, space, store)


def _sweep(args: argparse.Namespace, space, store: ModelStore) -> int:
    """Run the sweep (the caller holds the store's lock), save its completed trials, say what happened."""
    from digitrec_core.sweep import SweepError, SweepProgress, describe, new_sweep_id, run_sweep, save_sweep, summary

    data = load_mnist()  # before Ray and TensorFlow start: a data problem is reported in a blink
    configs = space.trials(args.trials, seed=args.seed, validation_split=args.val_split, n_images=data.n_train)
    print(f"Sweeping {plural(len(configs), 'trial')} ({plural(space.size, 'combination')}) on {data.source}",
          file=sys.stderr)

    sweep_id = new_sweep_id()
    progress = SweepProgress(store.root, sweep_id, configs)  # what the Train page shows while it runs

    def on_event(e) -> None:
        progress.on_event(e)
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
    _report_saved(saved[-1], store)  # the best: compared with the active model like any run
    _warn(store)
    return 0


def _warn(store: ModelStore, notice: str | None = None) -> None:
    """What the store skipped (damaged metadata), and a load's fallback, as warnings on stderr."""
    for problem in store.problems:
        if not notice or problem not in notice:
            print(f"Warning: {problem}", file=sys.stderr)
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)


def _load(name: str | None, runtime: str = "onnx"):
    """The model to classify with (through ONNX Runtime unless asked), saying which on stderr."""
    store = ModelStore()
    loaded = store.load(name, runtime=runtime)
    _warn(store, loaded.notice)
    print(f"Model: {loaded.info.name} ({loaded.info.label})", file=sys.stderr)
    return loaded


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = _load(args.model).model
    data = load_mnist()
    ev = evaluate(model, data.x_test, data.y_test)
    print(f"Test Loss: {ev.loss:.4f}")
    print(f"Test Accuracy: {ev.accuracy:.2%}")
    print(f"Misclassified: {len(ev.misclassified)} of {len(data.y_test):,}")
    print(ev.confusion_text())
    return 0


def _ask_index(n: int) -> int:
    while True:
        try:
            text = input(f"Choose a test index (0–{n - 1}): ")
        except EOFError:
            raise SystemExit("\nNo index given.") from None
        except KeyboardInterrupt:  # Ctrl-C at the prompt: leave quietly, as a shell command does
            print(file=sys.stderr)
            raise SystemExit(130) from None
        try:
            index = int(text.strip())
        except ValueError:
            print(f"{text.strip()!r} is not a whole number; try again.")
            continue
        if 0 <= index < n:
            return index
        print(f"{index} is outside 0–{n - 1}; try again.")


def _report(r: Recognition, expected: int | None = None) -> None:
    """What the model makes of one image: its digit, or "Not a digit" and what it looks most like."""
    probs, likely = r.probabilities[0], int(r.likely[0])
    if expected is not None:
        print(f"Expected: {expected}")
    if r.flagged[0]:
        print(f"Not a digit (looks most like {a_digit(likely)}, {probs[likely]:.1%})")
    else:
        print(f"Predicted: {likely}")
    top = np.argsort(probs)[::-1][:3]
    print("Top probabilities: " + ", ".join(f"{d}: {probs[d]:.1%}" for d in top))


def cmd_predict(args: argparse.Namespace) -> int:
    if args.image:
        try:
            digit = canvas_to_mnist(read_image(args.image))
        except (ImageError, OSError) as e:
            print(f"Error: {args.image}: {e}", file=sys.stderr)
            return 2
        if digit is None:
            print(f"Error: no digit found in {args.image}.", file=sys.stderr)
            return 2
        loaded, image, expected = _load(args.model), digit, None
    else:
        data = load_mnist()
        n = len(data.x_test)
        if args.index is not None and not 0 <= args.index < n:
            print(f"Error: --index must be in 0–{n - 1}.", file=sys.stderr)
            return 2
        loaded = _load(args.model)
        index = args.index if args.index is not None else _ask_index(n)
        image, expected = data.x_test[index], int(data.y_test[index])
    r = recognize(loaded, image)  # with the model's own "not a digit" threshold
    _report(r, expected)
    if args.plot:
        from digitrec_core.plots import plot_digit

        plot_digit(image, args.plot, expected=expected, predicted=int(r.digits[0]))
        print(f"Image written to {args.plot}.")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    store = ModelStore()
    active = store.active_info()
    rows = store.list()
    if (shipped := shipped_info()) is not None:
        rows.append(shipped)  # always there to go back to
    if not rows:
        print(f"No models in {store.root}, and no pretrained model. Train one: digitrec train")
        _warn(store)
        return 0
    # The name is what `activate`, `export` and `--model` take; the label is how a person tells the runs apart
    # (what it is, its test accuracy, when it was made, in UTC).
    labels = ModelInfo.labels(rows)
    name_width, label_width = max(len(i.name) for i in rows), max(map(len, labels.values()))
    print(f"{'':2}{'name':{name_width}}  {'label':{label_width}}  {'params':>8} {'epochs':>6} {'images':>7} "
          f"{'seconds':>8}")
    for i in rows:
        mark = "* " if active and i.name == active.name else "  "
        print(f"{mark}{i.name:{name_width}}  {labels[i.name]:{label_width}}  {i.params:>8,} {i.epochs_run:>6} "
              f"{i.n_train:>7,} {i.train_seconds:>8.1f}")
    print("* active")
    _warn(store)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import time

    fmt = FORMATS[args.format]
    out = check_target(args.out, fmt, force=args.force)  # a bad --out is said before any work
    store = ModelStore()
    if args.name is not None:
        store.info(args.name)  # an unknown name, too
    require_tensorflow("Exporting")
    loaded = _load(args.name, runtime="keras")
    from digitrec_core.exports import export_model

    started = time.perf_counter()
    try:
        export_model(loaded.model, fmt.name, out, force=args.force)
    except OSError as e:  # a full disk, a folder that went away: what was at --out is untouched
        print(f"Error: writing {out} failed ({e}); nothing was replaced.", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.is_dir() else out.stat().st_size
    print(f"Exported {loaded.info.name} as {fmt.label} to {out} ({size / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.1f} s).")
    return 0


def cmd_digits(args: argparse.Namespace) -> int:
    """Your digits (the My digits page's set) to or from a zip: the page's uploader takes zips up to the
    server's upload limit, this takes any the import limits allow."""
    from digitrec_core.personal import PersonalDigits, PersonalDigitsError

    if args.action == "export":  # never over a file that is not an earlier export, unless --force
        check_target(args.zip, DIGITS_ZIP, force=args.force)
    personal = PersonalDigits(ModelStore().root)
    try:
        if args.action == "export":
            n = personal.export_zip(args.zip)
            print(f"Exported {plural(n, 'digit')} to {args.zip}.")
        else:
            n = personal.import_zip(args.zip)
            report = personal.last_import
            print(f"Imported {plural(n, 'digit')} from {args.zip}; {plural(report.already_present, 'was', 'were')} "
                  "already in your set.")
            for problem in report.problems:
                print(f"Warning: {problem}", file=sys.stderr)
    except (PersonalDigitsError, OSError) as e:
        print(f"Error: {e}" if args.zip in str(e) else f"Error: {args.zip}: {e}", file=sys.stderr)
        return 2
    for problem in personal.problems:
        print(f"Warning: {problem}", file=sys.stderr)
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    ModelStore().activate(args.name)
    print(f"{args.name} is now the active model.")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """`streamlit run` on the packaged dashboard, with DigitRec's server options and the user's own after them;
    SIGTERM, SIGINT and SIGHUP are passed on to the server (`run_server`)."""
    from digitrec_app.launch import run_server  # Streamlit's server loads in the child

    return run_server(args.streamlit_args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="digitrec", description="Train, evaluate and use MNIST digit classifiers.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and save it to the store (active if it is not worse)")
    t.add_argument("--arch", choices=list(ARCHITECTURES), default="default")
    t.add_argument("--epochs", type=_COUNT, help="default: the architecture's recipe")
    t.add_argument("--batch-size", type=_COUNT)
    t.add_argument("--lr", type=_RATE, help="learning rate")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--limit", type=_COUNT, help="use only this many training images")
    t.add_argument("--val-split", type=_FRACTION, help="fraction held out for validation")
    t.add_argument("--negatives", type=_NEGATIVES, help="generated non-digits (dots, scribbles, letters...) per "
                   "training digit, so the model learns to say 'not a digit' (default: the recipe's; 0: none)")
    t.add_argument("--seed", type=_SEED, default=0)
    t.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="mirrored: tf.distribute.MirroredStrategy over this machine's GPUs (the batch size is "
                        "then per GPU); without a GPU it trains on the CPU and says so")
    t.add_argument("--plot", metavar="PNG", help="write the accuracy and loss curves here")
    t.add_argument("--export", metavar="DIR", help="also write the model (.keras, .onnx) and its metadata to "
                                                   "this folder (new, empty, or an earlier export)")
    t.add_argument("--force", action="store_true", help="let --export replace a folder that is not an earlier export")
    activate_help = "make the new model active: only if it is not worse than the active one (default), always, never"
    t.add_argument("--activate", choices=ACTIVATE_POLICIES, default="if-better", help=activate_help)
    t.set_defaults(func=cmd_train)

    sw = sub.add_parser("sweep", help="train many models over a search space on Ray Tune, stopping poor ones early; "
                                      "the best becomes active if it is not worse")
    sw.add_argument("--space", metavar="TOML", help="a search space file (keys: arch, lr, batch-size, epochs, augment, "
                                                     "limit; each a value or a list); flags replace its keys")
    sw.add_argument("--arch", dest="archs", nargs="+", choices=list(ARCHITECTURES), help="default: default")
    sw.add_argument("--lr", nargs="+", type=_RATE, help="learning rates (default: the recipe's)")
    sw.add_argument("--batch-size", nargs="+", type=_COUNT)
    sw.add_argument("--epochs", nargs="+", type=_COUNT, help="default: the recipe's")
    sw.add_argument("--augment", nargs="+", type=_yes_no, metavar="yes|no", help="e.g. --augment yes no for both")
    sw.add_argument("--limit", nargs="+", type=_COUNT, help="training images to use (default: all)")
    sw.add_argument("--trials", type=_COUNT, help="how many runs (default: one per combination); more than the "
                                               "combinations repeats them with new seeds, fewer picks at random")
    sw.add_argument("--val-split", type=_FRACTION, help="fraction held out for validation")
    sw.add_argument("--seed", type=_SEED, default=0)
    sw.add_argument("--address", help=f"an existing Ray cluster (host:port; default: ${ADDRESS_ENV}, else Ray "
                                      "started here with this machine's cores)")
    sw.add_argument("--cpus-per-trial", type=_RATE, default=1.0)
    sw.add_argument("--grace-period", type=_COUNT, default=1, help="epochs before a trial can be stopped early")
    sw.add_argument("--reduction-factor", type=_FACTOR, default=2.0,
                    help="ASHA keeps the best 1/this of the trials at each of its epochs")
    sw.add_argument("--activate", choices=ACTIVATE_POLICIES, default="if-better",
                    help="make the best trial active: " + activate_help.split(": ", 1)[1])
    sw.set_defaults(func=cmd_sweep)

    f = sub.add_parser("finetune", help="fine-tune a stored model on your personal digits (see the My digits page)")
    f.add_argument("--model", help="the model to start from (default: the active one)")
    f.add_argument("--epochs", type=_COUNT, help=f"default: {FINE_TUNE.epochs}")
    f.add_argument("--holdout", type=_FRACTION, default=HOLDOUT, help="fraction of your digits held out to judge it")
    f.add_argument("--seed", type=_SEED, default=0)
    f.add_argument("--activate", choices=ACTIVATE_POLICIES, default="if-better", help=activate_help)
    f.set_defaults(func=cmd_finetune)

    e = sub.add_parser("evaluate", help="test-set metrics and the confusion matrix")
    e.add_argument("--model", help="a stored model's name (default: the active one)")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="classify a test digit (asks which) or an image file")
    src = pr.add_mutually_exclusive_group()
    src.add_argument("--index", type=_INDEX, help="test-set index")
    src.add_argument("--image", metavar="FILE", help="a PNG/JPG of a handwritten digit")
    pr.add_argument("--model", help="a stored model's name (default: the active one)")
    pr.add_argument("--plot", metavar="PNG", help="save the digit with its labels")
    pr.set_defaults(func=cmd_predict)

    m = sub.add_parser("models", help="the stored models; * marks the active one")
    m.set_defaults(func=cmd_models)

    ap = sub.add_parser("app", help="run the dashboard (streamlit run; other options go to Streamlit, "
                                    "e.g. --server.port 8502)")
    ap.set_defaults(func=cmd_app)

    x = sub.add_parser("export", help="write a model for use outside DigitRec: ONNX, LiteRT, SavedModel, Keras")
    x.add_argument("name", nargs="?", help="a stored model's name, or the pretrained one's (default: the active one)")
    x.add_argument("--format", required=True, choices=list(FORMATS),
                   help="onnx (.onnx file), litert (.tflite file), savedmodel (a folder), keras (.keras file)")
    x.add_argument("--out", required=True, metavar="PATH", help="where to write it")
    x.add_argument("--force", action="store_true",
                   help="replace what is at PATH even when it is not an earlier export of the same format")
    x.set_defaults(func=cmd_export)

    d = sub.add_parser("digits", help="your digits (the My digits page's set) to or from a zip")
    d.add_argument("action", choices=["export", "import"])
    d.add_argument("zip", help="the zip to write (export) or read (import: one exported from DigitRec)")
    d.add_argument("--force", action="store_true",
                   help="export: replace what is at ZIP even when it is not an earlier export of your digits")
    d.set_defaults(func=cmd_digits)

    a = sub.add_parser("activate", help="make a stored model the active one")
    a.add_argument("name")
    a.set_defaults(func=cmd_activate)
    for each in (p, *sub.choices.values()):  # before the command or after it: `digitrec train -v` works too
        each.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="show TensorFlow's, absl's and Keras's log lines and warnings (hidden by default)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra and args.command != "app":
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    args.streamlit_args = extra
    _quiet(getattr(args, "verbose", False))
    if getattr(args, "arch", None):
        get_architecture(args.arch)
    # The one place a command's failure becomes one line: DigitRec's own errors (ValueError covers
    # refused settings, exports, damaged models and personal digits) and the file system's (a full
    # disk, a read-only store). Anything else is a bug, and keeps its traceback.
    try:
        return args.func(args)
    except (MnistError, ModelStoreError, TrainingBusy, TensorFlowMissing, RayMissing, ValueError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"Error: {describe_os_error(e)}", file=sys.stderr)
        return 2
