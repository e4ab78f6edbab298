"""DigitRec's engine: data, MNIST-style preprocessing, models, training, fine-tuning on a person's
digits, evaluation, explanations, the model store and the personal digit set.

Importing this package is cheap and never imports TensorFlow: `load_model()` serves through ONNX
Runtime, and TensorFlow loads only to build, train, fine-tune or export a model, or for
`load_model(runtime="keras")` (training's names load on first use).
"""

from importlib import import_module

from digitrec_core.data import MNIST_DIR_ENV, Mnist, MnistError, load_mnist
from digitrec_core.models import ARCHITECTURES, build_model
from digitrec_core.personal import PersonalDigits, PersonalDigitsError, Sample
from digitrec_core.preprocess import ImageError, canvas_to_mnist, read_image
from digitrec_core.serving.evaluation import Evaluation, ModelOutputError, evaluate, predict_proba
from digitrec_core.serving.explanations import Explanation, explain
from digitrec_core.serving.recognition import NOT_A_DIGIT, Recognition, recognize
from digitrec_core.serving.runtime import OnnxModel
from digitrec_core.store import (
    HOME_ENV,
    LoadedModel,
    ModelInfo,
    ModelStore,
    ModelStoreError,
    Saved,
    load_model,
    save_model,
)

_LAZY = {
    "train": "learning.training",
    "TrainConfig": "learning.runs",
    "Progress": "learning.runs",
    "TrainResult": "learning.runs",
    "fine_tune": "learning.finetune",
    "FineTuneResult": "learning.runs",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"digitrec_core.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'digitrec_core' has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES",
    "HOME_ENV",
    "MNIST_DIR_ENV",
    "Evaluation",
    "Explanation",
    "FineTuneResult",
    "ImageError",
    "LoadedModel",
    "Mnist",
    "MnistError",
    "ModelInfo",
    "ModelOutputError",
    "ModelStore",
    "ModelStoreError",
    "NOT_A_DIGIT",
    "OnnxModel",
    "PersonalDigits",
    "PersonalDigitsError",
    "Progress",
    "Recognition",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "canvas_to_mnist",
    "evaluate",
    "explain",
    "fine_tune",
    "load_mnist",
    "load_model",
    "predict_proba",
    "read_image",
    "recognize",
    "Sample",
    "Saved",
    "save_model",
    "train",
]
