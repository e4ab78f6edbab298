"""`digitrec evaluate` and `digitrec predict`: a stored model on the test set, or on one digit."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from digitrec_cli.terminal import warn
from digitrec_core.data import load_mnist
from digitrec_core.preprocess import ImageError, canvas_to_mnist, read_image
from digitrec_core.serving.evaluation import evaluate
from digitrec_core.serving.recognition import Recognition, recognize
from digitrec_core.store import open_store
from digitrec_core.text import a_digit


def load(name: str | None, runtime: str = "onnx"):
    """The model to classify with (through ONNX Runtime unless asked), saying which on stderr."""
    store = open_store()
    loaded = store.load(name, runtime=runtime)
    warn(store, loaded.notice)
    print(f"Model: {loaded.info.name} ({loaded.info.label})", file=sys.stderr)
    return loaded


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = load(args.model).model
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
        loaded, image, expected = load(args.model), digit, None
    else:
        data = load_mnist()
        n = len(data.x_test)
        if args.index is not None and not 0 <= args.index < n:
            print(f"Error: --index must be in 0–{n - 1}.", file=sys.stderr)
            return 2
        loaded = load(args.model)
        index = args.index if args.index is not None else _ask_index(n)
        image, expected = data.x_test[index], int(data.y_test[index])
    r = recognize(loaded, image)  # with the model's own "not a digit" threshold
    _report(r, expected)
    if args.plot:
        from digitrec_core.plots import plot_digit

        plot_digit(image, args.plot, expected=expected, predicted=int(r.digits[0]))
        print(f"Image written to {args.plot}.")
    return 0
