"""`digitrec`'s arguments: one small builder per command, and the checked number types every command shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from digitrec_cli.classify import cmd_evaluate, cmd_predict
from digitrec_cli.learn import cmd_finetune, cmd_train
from digitrec_cli.manage import cmd_activate, cmd_digits, cmd_export, cmd_models
from digitrec_cli.serve import cmd_app
from digitrec_cli.sweep import cmd_sweep
from digitrec_core.learning.runs import MAX_NEGATIVES, MAX_SEED, STRATEGIES, is_finite, is_fraction
from digitrec_core.models import ARCHITECTURES, FINE_TUNE, HOLDOUT
from digitrec_core.serving.exports import FORMATS
from digitrec_core.store import ACTIVATE_POLICIES
from digitrec_core.sweep import ADDRESS_ENV  # no Ray or TensorFlow until a sweep runs

Commands = argparse._SubParsersAction  # what `add_subparsers` returns: argparse names it nowhere public


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
_ACTIVATE_HELP = "make the new model active: only if it is not worse than the active one (default), always, never"


def _train(sub: Commands) -> None:
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
    t.add_argument("--activate", choices=ACTIVATE_POLICIES, default="if-better", help=_ACTIVATE_HELP)
    t.set_defaults(func=cmd_train)


def _sweep(sub: Commands) -> None:
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
                    help="make the best trial active: " + _ACTIVATE_HELP.split(": ", 1)[1])
    sw.set_defaults(func=cmd_sweep)


def _finetune(sub: Commands) -> None:
    f = sub.add_parser("finetune", help="fine-tune a stored model on your personal digits (see the My digits page)")
    f.add_argument("--model", help="the model to start from (default: the active one)")
    f.add_argument("--epochs", type=_COUNT, help=f"default: {FINE_TUNE.epochs}")
    f.add_argument("--holdout", type=_FRACTION, default=HOLDOUT, help="fraction of your digits held out to judge it")
    f.add_argument("--seed", type=_SEED, default=0)
    f.add_argument("--activate", choices=ACTIVATE_POLICIES, default="if-better", help=_ACTIVATE_HELP)
    f.set_defaults(func=cmd_finetune)


def _classify(sub: Commands) -> None:
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


def _models_and_app(sub: Commands) -> None:
    m = sub.add_parser("models", help="the stored models; * marks the active one")
    m.set_defaults(func=cmd_models)

    ap = sub.add_parser("app", help="run the dashboard (streamlit run; other options go to Streamlit, "
                                    "e.g. --server.port 8502)")
    ap.set_defaults(func=cmd_app)


def _export(sub: Commands) -> None:
    x = sub.add_parser("export", help="write a model for use outside DigitRec: ONNX, LiteRT, SavedModel, Keras")
    x.add_argument("name", nargs="?", help="a stored model's name, or the pretrained one's (default: the active one)")
    x.add_argument("--format", required=True, choices=list(FORMATS),
                   help="onnx (.onnx file), litert (.tflite file), savedmodel (a folder), keras (.keras file)")
    x.add_argument("--out", required=True, metavar="PATH", help="where to write it")
    x.add_argument("--force", action="store_true",
                   help="replace what is at PATH even when it is not an earlier export of the same format")
    x.set_defaults(func=cmd_export)


def _digits_and_activate(sub: Commands) -> None:
    d = sub.add_parser("digits", help="your digits (the My digits page's set) to or from a zip")
    d.add_argument("action", choices=["export", "import"])
    d.add_argument("zip", help="the zip to write (export) or read (import: one exported from DigitRec)")
    d.add_argument("--force", action="store_true",
                   help="export: replace what is at ZIP even when it is not an earlier export of your digits")
    d.set_defaults(func=cmd_digits)

    a = sub.add_parser("activate", help="make a stored model the active one")
    a.add_argument("name")
    a.set_defaults(func=cmd_activate)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="digitrec", description="Train, evaluate and use MNIST digit classifiers.")
    sub = p.add_subparsers(dest="command", required=True)
    # in `digitrec --help`'s order
    for add in (_train, _sweep, _finetune, _classify, _models_and_app, _export, _digits_and_activate):
        add(sub)
    for each in (p, *sub.choices.values()):  # before the command or after it: `digitrec train -v` works too
        each.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="show TensorFlow's, absl's and Keras's log lines and warnings (hidden by default)")
    return p
