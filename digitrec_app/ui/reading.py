"""One reading of an image the user gave (a drawing on the server, an upload), made once per image and page run.

The Draw page makes it, then hands it to the views that show and act on it: the prediction
(`components.prediction_heading`, `components.what_the_model_saw`), the correction bar (`corrections.correction_bar`)
and "Why this answer?" (`explanation.explanation_panel`). None of them preprocesses or classifies again, so what is
stored on a correction is the 28x28 the user saw the answer for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitrec_core import LoadedModel
from digitrec_core.preprocess import canvas_to_mnist
from digitrec_core.serving.evaluation import ModelOutputError
from digitrec_core.serving.recognition import recognize


@dataclass(frozen=True)
class Reading:
    """An image, the 28x28 digit made from it and what `loaded` reads there."""

    raw: np.ndarray  # the image as the user gave it (the canvas's RGBA, an uploaded photo): what a correction stores
    sample: str  # names this image for the correction bar (a drawing's number, an upload's file id)
    loaded: LoadedModel  # the model it was read with
    digit: np.ndarray | None = None  # the 28x28 in [0, 1] the model saw; None: no digit found in the image
    probabilities: np.ndarray | None = None  # (10,); None when there is no digit or the model failed
    likely: int = 0  # the digit it looks most like, flagged or not
    score: float = 0.0  # the model's probability for `likely`
    flagged: bool = False  # read as "not a digit" (below the model's threshold)
    failure: ModelOutputError | None = None  # a damaged model's NaN or 1e33, said instead of an answer

    @property
    def model_name(self) -> str:
        return self.loaded.info.name

    @property
    def answered(self) -> bool:
        """Whether there is an answer to show (a digit was found and the model read it)."""
        return self.probabilities is not None


def read(loaded: LoadedModel, image: np.ndarray, *, sample: str) -> Reading:
    """Preprocess `image` like MNIST and recognize it at the loaded model's threshold (as the browser applies it).

    Raises ValueError for an array that is no image (`canvas_to_mnist`'s)."""
    digit = canvas_to_mnist(image)
    if digit is None:
        return Reading(image, sample, loaded)
    try:
        seen = recognize(loaded, digit)
    except ModelOutputError as e:
        return Reading(image, sample, loaded, digit, failure=e)
    return Reading(image, sample, loaded, digit, seen.probabilities[0], likely=int(seen.likely[0]),
                   score=float(seen.digit_score[0]), flagged=bool(seen.flagged[0]))
