"""DigitRec's tests. A package so that `tests.support` (their shared tooling) has one unambiguous name,
ahead of any other top-level `tests` on the import path (tf2onnx installs one)."""
