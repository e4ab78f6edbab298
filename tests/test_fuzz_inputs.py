"""Fuzzed inputs, a few hundred of each kind with fixed seeds: `canvas_to_mnist` answers every array with None,
a (28, 28) float32 image in [0, 1] or a ValueError naming the shape or dtype, and `read_image` and `read_drawing`
every file with an array `canvas_to_mnist` takes or an ImageError; every hostile file (costly to decode) is refused
before any decoder runs. The generators and the checks are bench/fuzz_inputs.py's, which runs 10,000 of each
(`python bench/fuzz_inputs.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import fuzz_inputs

N = 300  # per seed; two seeds of each kind take ~15 s in all on this machine


@pytest.mark.parametrize("seed", [1, 2])
def test_canvas_to_mnist_answers_every_fuzzed_array_as_documented(seed):
    tried, failures, outcomes = fuzz_inputs.fuzz(fuzz_inputs.image_array, fuzz_inputs.check_array, N, seed)
    assert tried == N and failures == []
    assert outcomes["valid"] > N // 2 and outcomes["invalid"] > 5  # both kinds are exercised


@pytest.mark.parametrize("seed", [1, 2])
def test_read_image_answers_every_fuzzed_file_as_documented(seed):
    tried, failures, outcomes = fuzz_inputs.fuzz(fuzz_inputs.image_file, fuzz_inputs.check_file, N, seed)
    assert tried == N and failures == []
    assert outcomes["valid"] > N // 5 and outcomes["invalid"] > N // 2


@pytest.mark.parametrize("seed", [1, 2])
def test_read_drawing_answers_every_fuzzed_file_as_documented(seed):
    tried, failures, outcomes = fuzz_inputs.fuzz(fuzz_inputs.image_file, fuzz_inputs.check_drawing, N // 2, seed)
    assert tried == N // 2 and failures == []


@pytest.mark.parametrize("check", ["check_file", "check_drawing"])
def test_every_hostile_file_is_refused_before_it_is_decoded(check, monkeypatch):
    """Many-scan progressive JPEGs, thousands of segments, chunks or compressed texts, decompression bombs,
    BMP and TIFF renamed: an ImageError each, and no decoder ever ran (what costs the time and the memory)."""
    from PIL import ImageFile

    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.format))
    tried, failures, outcomes = fuzz_inputs.fuzz(fuzz_inputs.hostile_file, getattr(fuzz_inputs, check), 40, 3)
    assert tried == 40 and failures == [] and outcomes["invalid"] == 40
    assert decoded == []


def test_the_generators_cover_what_the_issue_lists():
    """Shapes (1 px, 0 channels, 1-5 channels, up to 1200 px), dtypes, NaN, and the kinds of file."""
    rng = np.random.default_rng(1)
    cases = [fuzz_inputs.image_array(rng) for _ in range(200)]
    arrays = [c.value for c in cases if isinstance(c.value, np.ndarray) and c.value.ndim in (2, 3)]
    channels = {a.shape[2] if a.ndim == 3 else 1 for a in arrays}
    assert {0, 1, 2, 3, 4, 5} <= channels
    assert any(min(a.shape[:2]) == 1 for a in arrays) and any(max(a.shape[:2]) > 1000 for a in arrays)
    assert {np.dtype(d) for d in (bool, np.uint8, np.uint16, np.int32, np.float32, np.float64)} <= {
        a.dtype for a in arrays}
    assert any("NaN" in c.what for c in cases) and any(not c.value.flags.c_contiguous for c in cases
                                                        if isinstance(c.value, np.ndarray))
    files = [fuzz_inputs.image_file(rng).what for _ in range(200)]
    for kind in ("random bytes", "cut at", "bytes changed", "claiming", "PNG I;16", "PNG 1 ", "JPEG CMYK"):
        assert any(kind in what for what in files), kind
    assert len({what for what in files if what.endswith(" file")}) >= 6  # other formats: GIF, BMP, TIFF, EPS...
    hostile = {fuzz_inputs.hostile_file(rng).what.split(" ")[1] for _ in range(60)}
    assert {"progressive", "JPEG", "PNG", "a"} <= hostile  # scans, segments/junk/headers, chunks/bombs, renamed


def test_the_checks_catch_what_breaks_the_contract():
    """The fuzz would see the failures: an exception of another type, a valid image refused, a bad result."""
    Case = fuzz_inputs.Case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fuzz_inputs, "canvas_to_mnist", lambda a: a[..., 7])
        assert "IndexError" in fuzz_inputs.check_array(Case("x", np.zeros((5, 5, 3)), True))
        mp.setattr(fuzz_inputs, "canvas_to_mnist", lambda a: np.zeros((28, 28)))
        assert "bad result" in fuzz_inputs.check_array(Case("x", np.zeros((5, 5)), True))
        mp.setattr(fuzz_inputs, "canvas_to_mnist", lambda a: None)
        assert "no ValueError" in fuzz_inputs.check_array(Case("x", np.zeros(5), False))
    assert "refused" in fuzz_inputs.check_file(Case("x", b"not a png", True))
