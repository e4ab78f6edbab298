"""Classifying through ONNX Runtime: what the dashboard and the CLI serve with, without TensorFlow.

Every stored model has a `model.onnx` beside its `model.keras` (see `digitrec_core.store`). The
file is sealed: DigitRec appends one ONNX metadata entry, `digitrec.sha256`, holding the SHA-256 of
the bytes before it. Protobuf merges a message appended to another, so the file stays a plain ONNX
model for any other tool, and a damaged file (truncated, flipped bits, junk) is caught on load
instead of serving wrong probabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from digitrec_core.models import INPUT_SHAPE, NUM_CLASSES

ONNX_FILE = "model.onnx"

_SEAL_KEY = b"digitrec.sha256"
# ModelProto field 14 (metadata_props), length-delimited, holding a StringStringEntryProto of the
# key (field 1) and a 64-hex-digit value (field 2): 85 bytes, always the same length.
_ENTRY_HEAD = b"\x0a" + bytes([len(_SEAL_KEY)]) + _SEAL_KEY + b"\x12\x40"
_SEAL_HEAD = b"\x72" + bytes([len(_ENTRY_HEAD) + 64]) + _ENTRY_HEAD
_SEAL_LEN = len(_SEAL_HEAD) + 64


class OnnxModelError(ValueError):
    """An ONNX file that is damaged or is not a digit classifier; the message says which."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def metadata_entry(key: str, value: str) -> bytes:
    """One ONNX metadata entry (ModelProto field 14: a key and a value string), to append to a model's
    bytes: protobuf merges it in, and ONNX Runtime lists it in `custom_metadata_map`."""
    k, v = key.encode(), value.encode()
    entry = b"\x0a" + _varint(len(k)) + k + b"\x12" + _varint(len(v)) + v
    return b"\x72" + _varint(len(entry)) + entry


def seal(onnx_bytes: bytes) -> bytes:
    """The ONNX model with its checksum entry appended (what DigitRec writes as `model.onnx`)."""
    return onnx_bytes + _SEAL_HEAD + hashlib.sha256(onnx_bytes).hexdigest().encode()


def unseal(data: bytes) -> bytes:
    """The model's bytes once its seal is checked; OnnxModelError if it is missing or does not match."""
    body, head, digest = data[:-_SEAL_LEN], data[-_SEAL_LEN:-64], data[-64:]
    if len(data) < _SEAL_LEN or head != _SEAL_HEAD:
        raise OnnxModelError("it is damaged or was not written by DigitRec (its checksum is missing)")
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise OnnxModelError("it is damaged (its checksum does not match its contents)")
    return body


LAYERS_KEY = "digitrec.layers"  # JSON list: the names of the outputs after the probabilities
FILTERS_KEY = "digitrec.filters"  # JSON {"layer", "shape": [kh, kw, n], "values": [...]}: the first convolution's


def _taps(meta: dict[str, str], extra_outputs: int) -> tuple[list[str], np.ndarray | None, str | None]:
    """The tapped layers' names and the first filters from a model's metadata; nothing for a file
    without them. Names that do not match the outputs, or damaged filters, are not used."""
    try:
        names = json.loads(meta.get(LAYERS_KEY, "[]"))
    except (ValueError, RecursionError):
        names = []
    if not isinstance(names, list) or len(names) != extra_outputs or not all(isinstance(n, str) for n in names):
        names = []
    try:
        f = json.loads(meta[FILTERS_KEY])
        filters = np.asarray(f["values"], np.float32).reshape(f["shape"])
        if filters.ndim != 3 or not isinstance(f["layer"], str):
            raise ValueError("not (kh, kw, n) filters")
        return names, filters, f["layer"]
    except (KeyError, ValueError, TypeError, RecursionError):
        return names, None, None


def _session_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    # One image takes ~0.05-0.1 ms whatever the threads; a 1,000-image batch runs ~1.7x faster on
    # 2 threads than on 1. More than 4 buys little for this network, and spinning threads would
    # burn cores a Streamlit server shares with training, so idle ones sleep.
    so.intra_op_num_threads = min(4, os.cpu_count() or 1)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only: no warnings on stderr for every session
    return so


class OnnxModel:
    """A digit classifier in an ONNX Runtime session: `run(x)` takes float32 `(N, 28, 28, 1)`
    in [0, 1] and returns float32 probabilities `(N, 10)`. `digitrec_core.predict_proba` accepts it."""

    def __init__(self, model: bytes | str | os.PathLike, *, source: str | os.PathLike | None = None):
        import onnxruntime as ort

        if isinstance(model, (str, os.PathLike)):
            source = source or model
            model = str(model)
        self.source = str(source) if source is not None else "<bytes>"
        self._bytes = model if isinstance(model, bytes) else None
        try:
            self.session = ort.InferenceSession(model, _session_options(), providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own pybind types (InvalidProtobuf, Fail, ...)
            raise OnnxModelError(f"ONNX Runtime cannot read it ({type(e).__name__}: {e})") from e
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        meta = self.session.get_modelmeta().custom_metadata_map
        self.layer_names, self.filters, self.filters_layer = _taps(meta, len(outputs) - 1)
        if len(inputs) != 1 or len(outputs) != 1 + len(self.layer_names):
            raise OnnxModelError(f"it is not a digit classifier ({len(inputs)} inputs, {len(outputs)} outputs)")
        inp, out = inputs[0], outputs[0]
        if inp.type != "tensor(float)" or list(inp.shape[1:]) != list(INPUT_SHAPE) or out.shape[1:] != [NUM_CLASSES]:
            raise OnnxModelError(f"it is not a digit classifier (input {inp.type} {inp.shape}, output {out.shape})")
        self.input_name, self.output_names = inp.name, [out.name]

    @classmethod
    def load(cls, path: str | os.PathLike) -> OnnxModel:
        """A sealed `model.onnx` as DigitRec writes it (or a model folder holding one); OnnxModelError
        says what is wrong with it."""
        path = Path(path)
        if path.is_dir():
            path = path / ONNX_FILE
        try:
            data = path.read_bytes()
        except OSError as e:
            raise OnnxModelError(f"it cannot be read ({e})") from e
        return cls(unseal(data), source=path)

    @property
    def onnx_bytes(self) -> bytes:
        """The model the session runs, as ONNX bytes (without DigitRec's seal): what the Draw page runs in the
        browser, so both runtimes run one file."""
        if self._bytes is None:
            self._bytes = Path(self.source).read_bytes()
        return self._bytes

    @property
    def sha256(self) -> str:
        """A name for `onnx_bytes`: the browser keeps a model it was sent under it."""
        if getattr(self, "_sha256", None) is None:
            self._sha256 = hashlib.sha256(self.onnx_bytes).hexdigest()
        return self._sha256

    def run(self, x: np.ndarray) -> np.ndarray:
        # ascontiguousarray is free for what as_batch returns; ORT would copy a strided array anyway.
        return self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(x, np.float32)})[0]

    def run_all(self, x: np.ndarray) -> list[np.ndarray]:
        """The probabilities, then the outputs of `layer_names` (empty for a model written before
        DigitRec tapped its layers, or by another tool)."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(x, np.float32)})

    def __repr__(self) -> str:
        return f"OnnxModel({self.source!r})"
