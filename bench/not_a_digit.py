"""Not a digit: which "digit score" tells real digits from drawings that are not digits (issue 20).

Every score comes from what both runtimes compute, the ONNX model's outputs (probabilities and the
128-d penultimate features) and the 28x28 image `canvas_to_mnist` made:

- max softmax: the top probability;
- max logit and energy (log-sum-exp of the logits): logits from the features and the last Dense
  layer's weights, read from the ONNX file's initializers;
- Mahalanobis: minus the squared distance to the nearest class mean of the features, with one shared
  covariance (means and covariance fit on the model's own training slice of MNIST);
- kNN: minus the cosine distance to the 10th nearest training feature (a bank of 20k x 128 floats: a
  heavy thing to ship to a browser, shown for comparison);
- ink: how usual the 28x28 image's total ink is, two-sided (a dot becomes a filled disc: far more ink);
- "A + B": both scores turned into their tail probability on the training slice, the smaller kept;
- OE head: an 11-class softmax head (128 -> 64 -> 11) trained on the frozen features of the training
  slice plus generated non-digits of the `train` split (outlier exposure with an 11th class); the
  score is minus the 11th class's probability. Only the head: the network stays as it is.

Every threshold flags 1% of the model's held-out MNIST slice (the training images its training
held out for validation: never fit, never trained on), by default re-drawn as pen strokes on the
canvas and read back by `canvas_to_mnist` (bench/robustness.py's `redraw`), since the page only ever
sees drawn digits: thresholds set on MNIST's own bitmaps (`--calibrate raw`) flag 2.5-15% of Semeion.
Then each is checked on the MNIST test set, on Semeion drawn on the canvas as bench/writers.py does
(a validation set: only checked; "Semeion misread": of the Semeion digits the model gets wrong, how
many are flagged, which is a gain), and on generated non-digits of the `validation` split
(digitrec_core/learning/negatives.py), per kind. A drawing
`canvas_to_mnist` finds nothing in is flagged by every score: the page already shows nothing for it.
Targets: real digits <= 1% flagged, non-digits >= 95%.

    DIGITREC_MNIST_DIR=/work/shared/mnist python bench/not_a_digit.py [--n 400] [--train-n 2000] [--seed 0]
        [--calibrate drawn|raw]

About 90 s on 2 cores, without TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from writers import SEMEION, draw_set, load_semeion  # noqa: E402

from digitrec_core import load_mnist, load_model  # noqa: E402
from digitrec_core.learning.negatives import KINDS, generate  # noqa: E402
from digitrec_core.learning.redraw import as_drawn, to_mnist  # noqa: E402
from digitrec_core.serving.evaluation import as_batch  # noqa: E402

FLAG = 0.01  # of real digits
K = 10  # kNN's neighbour


def last_dense(onnx_model) -> tuple[np.ndarray, np.ndarray]:
    """The classifier layer's weights (128, 10) and bias (10,): the MatMul fed by the features, and its Add."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_model.onnx_bytes).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    features = onnx_model.session.get_outputs()[-1].name
    matmul = next(n for n in graph.node if n.op_type == "MatMul" and n.input[0] == features)
    add = next(n for n in graph.node if n.op_type == "Add" and matmul.output[0] in n.input)
    bias = next(i for i in add.input if i in weights)
    return weights[matmul.input[1]], weights[bias]


def run(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and the penultimate features, in batches."""
    out = [model.run_all(as_batch(x[i : i + 1000])) for i in range(0, len(x), 1000)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[-1] for o in out])


def drawn(x: np.ndarray, seed: int) -> np.ndarray:
    """MNIST digits re-drawn as pen strokes on the canvas and read back by canvas_to_mnist: what the Draw page
    sees, in 4 pen widths (digitrec_core.learning.redraw, which training calibrates with)."""
    return as_drawn(x, seed)


def validation_sets(data, x_held: np.ndarray, n: int, seed: int
                    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Every set a score is checked on, name -> (28x28 images, found-nothing mask), and Semeion's labels:
    the held-out slice as it is and re-drawn, MNIST test, Semeion drawn on the canvas, and `n`
    validation-split non-digits of each kind (and all of them)."""
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sets["MNIST held-out"] = (x_held, np.zeros(len(x_held), bool))
    held_drawn = drawn(x_held, seed)
    sets["MNIST held-out, drawn"] = (held_drawn, held_drawn.reshape(len(held_drawn), -1).max(1) == 0)
    sets["MNIST test"] = (data.x_test, np.zeros(len(data.x_test), bool))
    semeion = draw_set("Semeion", *load_semeion(SEMEION), seed=seed)
    sets["Semeion"] = (semeion.x, semeion.x.reshape(len(semeion.x), -1).max(1) == 0)
    neg = generate(n, split="validation", seed=seed)
    neg_x, neg_blank = to_mnist(neg.canvases)
    for kind in KINDS:
        sets[kind] = (neg_x[neg.kinds == kind], neg_blank[neg.kinds == kind])
    sets["all non-digits"] = (neg_x, neg_blank)
    return sets, semeion.y


def flagged(scores: dict[str, np.ndarray], sets: dict[str, tuple[np.ndarray, np.ndarray]],
            calibration: str) -> dict[str, float]:
    """Set name -> the fraction flagged by one digit score (higher: more like a digit), at the threshold that
    flags FLAG of `calibration`; a drawing `canvas_to_mnist` finds nothing in is always flagged."""
    threshold = np.quantile(scores[calibration], FLAG)
    return {name: float(((s < threshold) | sets[name][1]).mean()) for name, s in scores.items()}


class Scorer:
    """Every score, fit on the training slice's features."""

    def __init__(self, w: np.ndarray, b: np.ndarray, feats: np.ndarray, labels: np.ndarray, images: np.ndarray):
        self.w, self.b = w, b
        self.means = np.stack([feats[labels == c].mean(0) for c in range(10)])
        centred = feats - self.means[labels]
        cov = centred.T @ centred / len(feats) + 1e-3 * np.eye(feats.shape[1])  # ReLU features: some never fire
        self.precision = np.linalg.inv(cov)
        self.bank = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-6)
        self.ink_ref = np.sort(ink(images))

    def scores(self, probs: np.ndarray, feats: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
        z = feats @ self.w + self.b
        top = z.max(1)
        d = feats[:, None, :] - self.means[None]
        maha = ((d @ self.precision) * d).sum(-1).min(1)
        unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-6)
        near = np.concatenate([np.partition(1 - unit[i : i + 500] @ self.bank.T, K - 1, axis=1)[:, K - 1]
                               for i in range(0, len(unit), 500)])
        cdf = np.searchsorted(self.ink_ref, ink(images)) / len(self.ink_ref)
        return {"max softmax": probs.max(1), "max logit": top,
                "energy": top + np.log(np.exp(z - top[:, None]).sum(1)),
                "Mahalanobis": -maha, "kNN (cosine, k=10)": -near, "ink": np.minimum(cdf, 1 - cdf)}


def ink(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32).reshape(len(images), -1).sum(1) / (255.0 if images.dtype == np.uint8 else 1)


def tail(reference: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A score -> the fraction of `reference` scoring lower: scores of different scales on one scale."""
    ref = np.sort(reference)
    return lambda s: np.searchsorted(ref, s) / len(ref)


def train_head(feats: np.ndarray, labels: np.ndarray, seed: int, epochs: int = 30, hidden: int = 64):
    """A 128 -> hidden -> 11 ReLU head, softmax cross-entropy, Adam, numpy; classes balanced by weight."""
    rng = np.random.default_rng(seed)
    mu, sd = feats.mean(0), feats.std(0) + 1e-3
    x = (feats - mu) / sd
    params = [rng.normal(0, np.sqrt(2 / x.shape[1]), (x.shape[1], hidden)), np.zeros(hidden),
              rng.normal(0, np.sqrt(1 / hidden), (hidden, 11)), np.zeros(11)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    weight = np.where(labels == 10, (labels != 10).sum() / max((labels == 10).sum(), 1) / 10, 1.0)
    step = 0
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(x)), max(1, len(x) // 256)):
            h = np.maximum(x[idx] @ params[0] + params[1], 0)
            z = h @ params[2] + params[3]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = p.copy()
            g[np.arange(len(idx)), labels[idx]] -= 1
            g *= (weight[idx] / weight[idx].sum())[:, None]
            gh = (g @ params[2].T) * (h > 0)
            grads = [x[idx].T @ gh, gh.sum(0), h.T @ g, g.sum(0)]
            step += 1
            for i, gr in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * gr
                v[i] = 0.999 * v[i] + 0.001 * gr**2
                params[i] -= 3e-3 * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)

    def probs(f: np.ndarray) -> np.ndarray:
        z = np.maximum(((f - mu) / sd) @ params[0] + params[1], 0) @ params[2] + params[3]
        p = np.exp(z - z.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    return probs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a stored model's name (default: the active one)")
    ap.add_argument("--n", type=int, default=400, help="validation non-digits of each kind")
    ap.add_argument("--train-n", type=int, default=2000, help="train-split non-digits of each kind for the OE head "
                    "(0: no head)")
    ap.add_argument("--seed", type=int, default=0, help="non-digits' seed, Semeion's canvases")
    ap.add_argument("--calibrate", choices=("raw", "drawn"), default="drawn",
                    help="thresholds on the held-out slice as it is, or re-drawn on the canvas (default)")
    args = ap.parse_args()
    started = time.perf_counter()
    loaded = load_model(args.model)
    model, hp = loaded.model, loaded.info.hyperparameters
    data = load_mnist()
    (x_fit, y_fit), (x_held, _) = data.split(hp.get("limit"), hp.get("validation_split", 0.1), hp.get("seed", 0))
    p_fit, f_fit = run(model, x_fit)
    scorer = Scorer(*last_dense(model), f_fit, y_fit, x_fit)

    sets, semeion_y = validation_sets(data, x_held, args.n, args.seed)
    # Flagging a digit the model misreads is a gain, not a loss: how many of those a score catches.
    misread = run(model, sets["Semeion"][0])[0].argmax(1) != semeion_y
    ordered = {}
    for name, (x, blank) in sets.items():
        ordered[name] = (x, blank)
        if name == "Semeion":
            ordered["Semeion misread"] = (x[misread], blank[misread])
    sets = ordered

    outputs = {name: run(model, x) for name, (x, _) in sets.items()}
    scores = {name: scorer.scores(*outputs[name], sets[name][0]) for name in sets}
    fit_scores = scorer.scores(p_fit, f_fit, x_fit)
    tails = {k: tail(v) for k, v in fit_scores.items()}
    for a, b in (("max softmax", "ink"), ("energy", "ink"), ("Mahalanobis", "ink"), ("kNN (cosine, k=10)", "ink"),
                 ("Mahalanobis", "max softmax")):
        for name in sets:
            s = scores[name]
            s[f"{a} + {b}"] = np.minimum(tails[a](s[a]), tails[b](s[b]))
    if args.train_n:
        train_neg = generate(args.train_n, split="train", seed=args.seed)
        tx, tblank = to_mnist(train_neg.canvases)
        _, tf_ = run(model, tx[~tblank])
        # Digits as the canvas gives them are digits too: the training slice's first 6,000, re-drawn.
        _, f_fit_drawn = run(model, drawn(x_fit[:6000], args.seed + 1))
        head = train_head(np.concatenate([f_fit, f_fit_drawn, tf_]),
                          np.concatenate([y_fit, y_fit[:6000], np.full(len(tf_), 10)]), args.seed)
        for name in sets:
            scores[name]["OE head (11th class)"] = -head(outputs[name][1])[:, 10]

    columns = list(sets)
    calibration = "MNIST held-out" + (", drawn" if args.calibrate == "drawn" else "")
    print(f"model: {loaded.info.name}; thresholds flag {FLAG:.0%} of {calibration} ({len(x_held):,} images); "
          f"{args.n} validation non-digits of each kind, seed {args.seed}; OE head on {args.train_n} train-split "
          f"non-digits of each kind\n")
    blanks = " | ".join(f"{sets[c][1].mean():.1%}" for c in columns)
    print("| score | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    print(f"| (canvas_to_mnist finds nothing) | {blanks} |")
    for method in scores[calibration]:
        cells = flagged({c: scores[c][method] for c in columns}, sets, calibration)
        print(f"| {method} | " + " | ".join(f"{cells[c]:.1%}" for c in columns) + " |")
    cmd = "python bench/not_a_digit.py" + (f" --model {args.model}" if args.model else "")
    cmd += f" --n {args.n} --train-n {args.train_n} --seed {args.seed} --calibrate {args.calibrate}"
    print(f"\ncommand: DIGITREC_MNIST_DIR=/work/shared/mnist {cmd}  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
