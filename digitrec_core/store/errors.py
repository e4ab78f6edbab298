"""The store's errors, said in words a user can act on."""

from __future__ import annotations

from digitrec_core.optional import TensorFlowMissing


class ModelStoreError(RuntimeError):
    """A model that cannot be found or read, said in words a user can act on."""


class ModelSaveError(ModelStoreError):
    """A finished run the store could not take (a full disk, a read-only store); says where its weights went."""


class OnnxNeedsTensorFlow(ModelStoreError, TensorFlowMissing):
    """A model saved without `model.onnx` (by an older version), on an install without TensorFlow."""
