"""Are the explanations honest? The two checks `bench/explain.py` prints and the tests hold to.

- **Deletion**: blanking the 10% most-attributed pixels of a digit should lower the predicted class's
  probability more than blanking 10% chosen at random.
- **Model randomisation** (Adebayo et al., "Sanity checks for saliency maps", 2018): a method whose
  maps barely change when the trained weights are replaced by random ones explains the input's
  edges, not the model. The Spearman rank correlation between the two maps should be low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitrec_core.serving.evaluation import as_batch, predict_proba
from digitrec_core.serving.explanations import explain


@dataclass(frozen=True)
class DeletionCheck:
    n: int
    rate: float  # fraction of digits whose top-attributed deletion hurt more than the random one
    mean_drop_top: float  # mean drop of the predicted class's probability, top pixels blanked
    mean_drop_random: float


@dataclass(frozen=True)
class RandomisationCheck:
    n: int
    mean_spearman: float  # trained vs random weights, signed attributions
    mean_spearman_abs: float  # the same on absolute values (reported, not the target): mostly where the ink is
    mean_spearman_abs_ink: float  # absolute values on the digit's own pixels only: is the ranking the model's?


def deletion_check(model, images: np.ndarray, *, fraction: float = 0.1, seed: int = 0) -> DeletionCheck:
    """Blank the `fraction` most-attributed pixels of each image, and as many random ones."""
    x = as_batch(images)[..., 0]
    rng = np.random.default_rng(seed)
    k = round(fraction * x[0].size)
    top, rand, targets = np.empty_like(x), np.empty_like(x), []
    for i, image in enumerate(x):
        e = explain(model, image)
        targets.append(e.target)
        top[i], rand[i] = image, image
        top[i].flat[np.argsort(e.attribution, axis=None)[-k:]] = 0
        rand[i].flat[rng.choice(image.size, k, replace=False)] = 0
    rows, targets = np.arange(len(x)), np.asarray(targets)
    p = predict_proba(model, x)[rows, targets]
    drop_top = p - predict_proba(model, top)[rows, targets]
    drop_random = p - predict_proba(model, rand)[rows, targets]
    return DeletionCheck(len(x), float(np.mean(drop_top > drop_random)), float(drop_top.mean()),
                         float(drop_random.mean()))


def randomisation_check(model, random_model, images: np.ndarray) -> RandomisationCheck:
    """Mean Spearman correlation of each image's attribution (for the trained model's predicted class)
    under the trained and the randomly initialised model."""
    signed, absolute, ink = [], [], []
    for image in as_batch(images)[..., 0]:
        e = explain(model, image)
        r = explain(random_model, image, target=e.target)
        a, b = e.attribution, r.attribution
        signed.append(spearman(a, b))
        absolute.append(spearman(np.abs(a), np.abs(b)))
        ink.append(spearman(np.abs(a[image > 0]), np.abs(b[image > 0])))
    return RandomisationCheck(len(signed), *(float(np.nanmean(v)) for v in (signed, absolute, ink)))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two arrays (ties get their mean rank); NaN when one is constant."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denom) if denom else float("nan")


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), np.float64)
    ranks[order] = np.arange(len(v))
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]  # ties: the mean of their ranks
