"""Fine-tuning on a person's digits: how long it takes, what it gains, what it costs on MNIST.

The "person" is Semeion (../shared/writers), drawn through the Draw page's path like
bench/writers.py does: n of its digits (n/10 of each class) play the user's corrections, the other
Semeion digits say whether the fine-tune learned the hand or only those samples, and the MNIST test
set says what it cost. Nothing here is saved: the fine-tuned models are thrown away.

Rows:
- n = 100 / 200 / 300 with the default 20% held out, as the My digits page runs it: seconds
  (the whole `fine_tune` call, evaluations included), held-out personal accuracy before -> after.
- n = 100 with nothing held out (the issue's "10 of each class" figure).
Each row: accuracy on the other Semeion digits before -> after, MNIST test before -> after.

    python bench/finetune.py [--model NAME] [--sizes 100 200 300] [--seed 0]

The base model defaults to the active one (the shipped model while the store is empty).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from writers import SEMEION, draw_set, load_semeion  # noqa: E402

from digitrec_core import ModelStore, fine_tune, load_mnist, predict_proba  # noqa: E402


def per_class_pick(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of n samples, n/10 of each class."""
    return np.concatenate([rng.choice(np.flatnonzero(y == d), n // 10, replace=False) for d in range(10)])


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_proba(model, x).argmax(axis=1) == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="the base model (default: the active one)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 300])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--semeion", type=Path, default=SEMEION)
    args = ap.parse_args()

    data = load_mnist()
    store = ModelStore()
    base = store.load(args.model)
    semeion = draw_set("Semeion", *load_semeion(args.semeion), seed=args.seed)
    print(f"base model: {base.info.name}; MNIST from {data.source}; Semeion drawn through canvas_to_mnist")
    rows = [(n, 0.2) for n in args.sizes] + [(100, 0.0)]
    print(f"{'digits':>6} {'held out':>8} {'seconds':>7} {'held-out personal':>19} {'other Semeion':>17} "
          f"{'MNIST test':>17}")
    for n, holdout in rows:
        rng = np.random.default_rng(args.seed)
        pick = per_class_pick(semeion.y, n, rng)
        rest = np.setdiff1d(np.arange(len(semeion.y)), pick)
        other_before = accuracy(base.model, semeion.x[rest], semeion.y[rest])
        started = time.perf_counter()
        r = fine_tune(base.info.name, semeion.x[pick], semeion.y[pick], holdout=holdout, data=data, store=store,
                      seed=args.seed)
        seconds = time.perf_counter() - started
        other_after = accuracy(r.model, semeion.x[rest], semeion.y[rest])
        personal = ("–" if r.personal_before is None
                    else f"{r.personal_before:.1%} -> {r.personal_after:.1%}")
        print(f"{n:>6} {r.n_personal_holdout:>8} {seconds:>7.1f} {personal:>19} "
              f"{other_before:>7.2%} -> {other_after:.2%} {r.base_test_accuracy:>7.2%} -> {r.test_accuracy:.2%}",
              flush=True)
    print(f"\nCommand: python bench/finetune.py --sizes {' '.join(map(str, args.sizes))} --seed {args.seed}"
          + (f" --model {args.model}" if args.model else ""))


if __name__ == "__main__":
    main()
