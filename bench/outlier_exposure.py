"""Not a digit, trained into the whole network (issue 20): outlier exposure against an 11th class.

The default architecture is trained with its own recipe and augmentation (`digitrec_core.learning.training.fit`,
as `digitrec train` does: 12 epochs, batch 128, lr 3e-3, cosine, same split and seed) on the model's
MNIST training slice plus generated non-digits of the `train` split (digitrec_core/learning/negatives.py),
each passed through `canvas_to_mnist` as the page passes a drawing, and, optionally, some of the slice
re-drawn on the canvas (bench/not_a_digit.py's `drawn`) as extra positives. Two ways:

- `oe`: outlier exposure with a uniform target. The 10 outputs are unchanged; a non-digit's loss is
  `lam` times the cross-entropy to the uniform distribution (0.1 each), a digit's the usual one. The
  digit score is the top probability, which both runtimes already compute.
- `class`: an 11th output, "not a digit", trained with the usual cross-entropy. The digit score is
  1 - p(not a digit); the digit read is the top of the first 10.
- `shipped`: the shipped model's top probability, for reference (no training).

Scored as bench/not_a_digit.py scores: the threshold flags 1% of the model's held-out MNIST slice
re-drawn on the canvas; then MNIST test, Semeion drawn on the canvas (only checked, never trained or
tuned on) and `validation`-split non-digits of each kind. A drawing `canvas_to_mnist` finds nothing
in counts as flagged.

    DIGITREC_MNIST_DIR=/work/shared/mnist python bench/outlier_exposure.py [--methods shipped,oe,class]
        [--lam 0.5] [--neg-n 2000] [--drawn 6000] [--n 400] [--seed 0] [--epochs 12] [--ema 0.999]

About 2-3 minutes a trained method on 2 idle cores.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from not_a_digit import drawn, flagged, run, validation_sets  # noqa: E402

from digitrec_core import load_mnist, load_model  # noqa: E402
from digitrec_core.learning.negatives import KINDS, generate  # noqa: E402
from digitrec_core.learning.redraw import to_mnist  # noqa: E402
from digitrec_core.learning.training import NEGATIVE as NOT_A_DIGIT  # noqa: E402  (the label of a generated non-digit)
from digitrec_core.learning.training import not_a_digit_loss  # noqa: E402
from digitrec_core.serving.evaluation import as_batch  # noqa: E402

CALIBRATION = "MNIST held-out, drawn"


def weighted_loss(lam: float):
    """The product's loss (digitrec_core.learning.training.not_a_digit_loss: cross-entropy for a digit, cross-entropy to
    the uniform distribution less log 10 for a non-digit) with the non-digits' share weighted by `lam`."""
    import tensorflow as tf

    def loss(y_true, y_pred):
        y = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        return tf.where(y == NOT_A_DIGIT, lam, 1.0) * not_a_digit_loss(y_true, y_pred)

    return loss


def build(method: str, seed: int):
    """The default network, seeded as `train` seeds it; for `class`, its last layer with 11 outputs."""
    import keras

    from digitrec_core.models import get_architecture

    keras.utils.set_random_seed(seed)
    base = get_architecture("default").build()
    if method != "class":
        return base

    def layer(old):  # fresh layers with the same configuration, the last one with 11 outputs
        if old.name == "probabilities":
            return keras.layers.Dense(NOT_A_DIGIT + 1, activation="softmax", name="probabilities")
        return old.__class__.from_config(old.get_config())

    return keras.models.clone_model(base, clone_function=layer)


def train(method: str, x: np.ndarray, y: np.ndarray, validation, lam: float, seed: int, epochs: int | None,
          ema: float | None = None):
    """Train `method`'s network with the default recipe through `training.fit`; (model, seconds). `ema`: train with
    Adam's weight averaging at that momentum (the averaged weights are the model's at the end)."""
    import keras

    from digitrec_core.learning.training import fit
    from digitrec_core.models import get_architecture

    recipe = get_architecture("default").recipe
    model = build(method, seed)
    if ema:
        compile_ema = model.compile
        model.compile = lambda **kw: compile_ema(**{**kw, "optimizer": keras.optimizers.Adam.from_config(
            {**kw["optimizer"].get_config(), "use_ema": True, "ema_momentum": ema})})
    if method == "oe" and lam != 1:  # fit compiles with the product's loss, whose non-digits weigh 1
        compile_ = model.compile
        model.compile = lambda **kw: compile_(**{**kw, "loss": weighted_loss(lam)})
    elif method == "class":  # 11 outputs: plain cross-entropy, the 11th class a label like the others
        compile_ = model.compile
        model.compile = lambda **kw: compile_(**{**kw, "loss": "sparse_categorical_crossentropy",
                                                 "metrics": ["accuracy"]})
    fitted = fit(model, x, y, epochs=epochs or recipe.epochs, batch_size=recipe.batch_size,
                 learning_rate=recipe.learning_rate, augment=recipe.augment, seed=seed, validation=validation,
                 cosine_decay=recipe.cosine_decay, decay_fraction=recipe.decay_fraction)
    return model, fitted.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="shipped,oe,class", help="comma-separated: shipped, oe, class")
    ap.add_argument("--lam", type=float, default=0.5, help="oe: the non-digits' loss weight")
    ap.add_argument("--neg-n", type=int, default=2000, help="train-split non-digits of each kind")
    ap.add_argument("--drawn", type=int, default=6000, help="training digits also added re-drawn on the canvas")
    ap.add_argument("--n", type=int, default=400, help="validation non-digits of each kind")
    ap.add_argument("--seed", type=int, default=0, help="training seed, non-digits' seed, Semeion's canvases")
    ap.add_argument("--epochs", type=int, help="default: the recipe's (12)")
    ap.add_argument("--ema", type=float, help="train with Adam's weight averaging at this momentum (e.g. 0.999)")
    args = ap.parse_args()
    started = time.perf_counter()

    data = load_mnist()
    (x_tr, y_tr), (x_held, y_held) = data.split(None, 0.1, 0)  # the shipped model's split (its seed is 0)
    sets, semeion_y = validation_sets(data, x_held, args.n, args.seed)
    labels = {"MNIST test": data.y_test, "Semeion": semeion_y}

    neg = generate(args.neg_n, split="train", seed=args.seed)
    neg_x, neg_blank = to_mnist(neg.canvases)
    neg_x = neg_x[~neg_blank]
    extra_y = y_tr[: args.drawn]
    extra_x = drawn(x_tr[: args.drawn], args.seed + 1) if args.drawn else np.zeros((0, 28, 28), np.float32)
    keep = extra_x.reshape(len(extra_x), 28 * 28).max(1) > 0
    x = np.concatenate([as_batch(x_tr)[..., 0], extra_x[keep], neg_x])
    y = np.concatenate([y_tr, extra_y[keep], np.full(len(neg_x), NOT_A_DIGIT)]).astype(np.int32)
    print(f"training set: {len(x_tr):,} MNIST + {keep.sum():,} re-drawn + {len(neg_x):,} non-digits "
          f"({(~neg_blank).mean():.0%} of {len(neg_blank):,} readable); data ready in "
          f"{time.perf_counter() - started:.0f} s", flush=True)

    columns = ["MNIST test", "Semeion", *KINDS, "all non-digits"]
    head = ("| method | lam | non-digits | re-drawn | MNIST test acc | Semeion acc | "
            + " | ".join(f"flagged: {c}" for c in columns) + " | train s |")
    rows = [head, "|---" * (head.count("|") - 1) + "|"]
    for method in args.methods.split(","):
        seconds = 0.0
        if method == "shipped":
            model = load_model().model
            probs = {name: run(model, s[0])[0] for name, s in sets.items()}
        else:
            model, seconds = train(method, x, y, (x_held, y_held), args.lam, args.seed, args.epochs, args.ema)
            probs = {name: model.predict(as_batch(s[0]), batch_size=1000, verbose=0) for name, s in sets.items()}
        if method == "class":
            scores = {name: 1 - p[:, NOT_A_DIGIT] for name, p in probs.items()}
        else:
            scores = {name: p.max(1) for name, p in probs.items()}
        rates = flagged(scores, sets, CALIBRATION)
        acc = {name: (probs[name][:, :NOT_A_DIGIT].argmax(1) == labels[name]).mean() for name in labels}
        trained = method != "shipped"
        cells = [method, f"{args.lam:g}" if method == "oe" else "-",
                 f"{len(neg_x):,}" if trained else "-", f"{keep.sum():,}" if trained else "-",
                 f"{acc['MNIST test']:.2%}", f"{acc['Semeion']:.1%}", *(f"{rates[c]:.1%}" for c in columns),
                 f"{seconds:.0f}" if trained else "-"]
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)

    print("\n" + "\n".join(rows))
    cmd = (f"python bench/outlier_exposure.py --methods {args.methods} --lam {args.lam:g} --neg-n {args.neg_n} "
           f"--drawn {args.drawn} --n {args.n} --seed {args.seed}")
    cmd += f" --epochs {args.epochs}" if args.epochs else ""
    cmd += f" --ema {args.ema}" if args.ema else ""
    print(f"\ncommand: DIGITREC_MNIST_DIR=/work/shared/mnist {cmd}  ({time.perf_counter() - started:.0f} s; "
          f"thresholds flag 1% of {CALIBRATION}, {len(x_held):,} images)")


if __name__ == "__main__":
    main()
