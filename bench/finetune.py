"""Fine-tuning on a person's digits: how long it takes, what it gains, what it costs on MNIST.

The "person" is Semeion (../shared/writers), drawn through the Draw page's path like
bench/writers.py does: n of its digits (n/10 of each class) play the user's corrections, the other
Semeion digits say whether the fine-tune learned the hand or only those samples, and the MNIST test
set says what it cost. Nothing here is saved: the fine-tuned models are thrown away.

Rows, for each recipe (`RECIPES`: the shipped one and the ones it was compared with) and seed:
- n = 100 / 200 / 300 with the default 20% held out, as the My digits page runs it: seconds
  (the whole `fine_tune` call in a process that has already run one, evaluations included), held-out
  personal accuracy and log-loss before -> after, and whether the activation rule
  (digitrec_core.store.promotion) would make it active, and by which measure.
- n = 100 with nothing held out (the issue's "10 of each class" figure).
Each row: accuracy on the other Semeion digits before -> after, MNIST test before -> after, and the share
of 1,000 validation non-digits (digitrec_core.learning.negatives) it flags at the parent's threshold.
With several seeds, the mean of each recipe's rows follows.

    python bench/finetune.py [--model NAME] [--sizes 100 200 300] [--seeds 0] [--recipes shipped,before,...]

The base model defaults to the active one (the shipped model while the store is empty).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from writers import SEMEION, draw_set, load_semeion  # noqa: E402

from digitrec_core import ModelStore, fine_tune, load_mnist, predict_proba, recognize  # noqa: E402
from digitrec_core.learning.negatives import as_mnist  # noqa: E402
from digitrec_core.models import FINE_TUNE  # noqa: E402
from digitrec_core.store.promotion import decide  # noqa: E402

# The ways of fine-tuning compared (issue 21): the product's recipe ("shipped") and others, each a FineTuneRecipe.
RECIPES = {
    # the recipe before issue 21: every layer, twice the steps, other writers' styles, labels only
    "before": replace(FINE_TUNE, layers="all", epochs=3, batch_size=64, learning_rate=1e-3, rehearsal=4000,
                      styles=True, interpolate=1.0),
    "labels": replace(FINE_TUNE, layers="all", epochs=3, interpolate=1.0),  # every layer, half the steps
    "distill": replace(FINE_TUNE, layers="all", epochs=3, interpolate=1.0, distill=1.0),  # ... keeping the
    # parent's answers on the rehearsed MNIST digits and non-digits (learning without forgetting)
    "head": replace(FINE_TUNE, layers="head", epochs=5, interpolate=1.0),  # the dense layers only
    "top": replace(FINE_TUNE, interpolate=1.0),  # from the last convolution on
    "shipped": FINE_TUNE,  # ... and the final weights 85% of the way from the parent's to the fine-tuned ones
}


def per_class_pick(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of n samples, n/10 of each class."""
    return np.concatenate([rng.choice(np.flatnonzero(y == d), n // 10, replace=False) for d in range(10)])


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_proba(model, x).argmax(axis=1) == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="the base model (default: the active one)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 300])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--recipes", default="shipped", help=f"comma-separated: {', '.join(RECIPES)}")
    ap.add_argument("--semeion", type=Path, default=SEMEION)
    args = ap.parse_args()

    data = load_mnist()
    store = ModelStore()
    base = store.load(args.model)
    semeion = draw_set("Semeion", *load_semeion(args.semeion), seed=0)
    non_digits, _ = as_mnist(200, split="validation", seed=0)
    print(f"base model: {base.info.name}; MNIST from {data.source}; Semeion drawn through canvas_to_mnist; "
          f"{len(non_digits)} validation non-digits")
    # One fine-tune first, not counted: TensorFlow traces its functions once a process, as a warm worker has.
    fine_tune(base.info.name, semeion.x[:20], semeion.y[:20], holdout=0.0, data=data, store=store, epochs=1)
    print(f"{'recipe':>12} {'seed':>4} {'digits':>6} {'held out':>8} {'seconds':>7} {'held-out accuracy':>17} "
          f"{'held-out log-loss':>17} {'made active (by)':>24} {'other Semeion':>17} {'MNIST test':>17} "
          f"{'non-digits':>10}")
    rows = [(n, 0.2) for n in args.sizes] + [(100, 0.0)]
    figures = {}
    for name, seed, (n, holdout) in ((r, sd, row) for r in args.recipes.split(",") for sd in args.seeds
                                     for row in rows):
        pick = per_class_pick(semeion.y, n, np.random.default_rng(seed))
        rest = np.setdiff1d(np.arange(len(semeion.y)), pick)
        other_before = accuracy(base.model, semeion.x[rest], semeion.y[rest])
        started = time.perf_counter()
        r = fine_tune(base.info.name, semeion.x[pick], semeion.y[pick], holdout=holdout, data=data, store=store,
                      seed=seed, recipe=RECIPES[name])
        seconds = time.perf_counter() - started
        other_after = accuracy(r.model, semeion.x[rest], semeion.y[rest])
        flagged = float(recognize(r.model, non_digits, threshold=r.digit_threshold).flagged.mean())
        verdict = decide(r, base.info) if holdout else None
        mnist = r.test_accuracy - r.base_test_accuracy
        figures.setdefault((name, n, holdout), []).append((seconds, other_after, mnist, flagged))
        held = ("–" if r.personal_before is None else f"{r.personal_before:.1%} -> {r.personal_after:.1%}")
        loss = ("–" if r.personal_loss_before is None
                else f"{r.personal_loss_before:.3f} -> {r.personal_loss_after:.3f}")
        active = "–" if verdict is None else f"{'yes' if verdict.better else 'no'} ({verdict.decided_by})"
        print(f"{name:>12} {seed:>4} {n:>6} {r.n_personal_holdout:>8} {seconds:>7.1f} {held:>17} {loss:>17} "
              f"{active:>24} {other_before:>7.2%} -> {other_after:.2%} {r.base_test_accuracy:>7.2%} -> "
              f"{r.test_accuracy:.2%} {flagged:>10.1%}", flush=True)
    if len(args.seeds) > 1:
        print(f"\nmeans over seeds {' '.join(map(str, args.seeds))}:")
        print(f"{'recipe':>12} {'digits':>6} {'held out':>8} {'seconds':>7} {'other Semeion':>13} "
              f"{'MNIST change':>12} {'non-digits':>10}")
        for (name, n, holdout), values in figures.items():
            sec, other, mnist, flagged = np.mean(values, axis=0)
            print(f"{name:>12} {n:>6} {holdout:>8.0%} {sec:>7.1f} {other:>13.2%} {mnist * 100:>+9.2f} pt "
                  f"{flagged:>10.1%}")
    print(f"\nCommand: python bench/finetune.py --sizes {' '.join(map(str, args.sizes))} "
          f"--seeds {' '.join(map(str, args.seeds))} --recipes {args.recipes}"
          + (f" --model {args.model}" if args.model else ""))


if __name__ == "__main__":
    main()
