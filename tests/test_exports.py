"""`digitrec export`: every format verified on the 10,000 MNIST test digits, and what it may overwrite."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digitrec_cli.main import main
from digitrec_core import load_model, predict_proba
from digitrec_core.serving.exports import ExportError, check_target, export_model
from digitrec_core.store import HOME_ENV, shipped_info

TARGETS = {"onnx": "digits.onnx", "litert": "digits.tflite", "savedmodel": "digits_savedmodel",
           "keras": "digits.keras"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The shipped model exported through the CLI in every format, twice: the second run replaces
    the first, which the rules allow because it is an earlier export of the same kind."""
    out = tmp_path_factory.mktemp("exports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(tmp_path_factory.mktemp("home")))  # empty store: the active model is the shipped one
        for fmt, name in TARGETS.items():
            for _ in range(2):
                assert main(["export", "--format", fmt, "--out", str(out / name)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(TARGETS.values())  # no temporary leftovers
    return out


def _batched(run, x, size=1000):
    return np.concatenate([run(x[i : i + size]) for i in range(0, len(x), size)])


def run_onnx(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return _batched(lambda b: session.run(None, {name: b})[0], x)


def run_litert(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], [1000, 28, 28, 1])
    interpreter.allocate_tensors()

    def run(batch):
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    return _batched(run, x)


def run_savedmodel(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # keep it: .serve alone would lose the variables it reads
    return _batched(lambda b: loaded.serve(tf.constant(b)).numpy(), x)


def run_keras(path, x):
    import keras

    return predict_proba(keras.saving.load_model(path, compile=False, safe_mode=True), x)


RUNNERS = {"onnx": run_onnx, "litert": run_litert, "savedmodel": run_savedmodel, "keras": run_keras}


@pytest.fixture(scope="module")
def reference(real_mnist):
    """The Keras model's probabilities for the 10,000 test digits, and the digits as the model takes them."""
    x = (real_mnist.x_test.astype(np.float32) / 255)[..., None]
    return x, predict_proba(load_model(shipped_info().name, runtime="keras").model, x)


@pytest.mark.mnist
@pytest.mark.parametrize("fmt", [*TARGETS, "store-onnx"])
def test_every_export_gives_the_keras_models_answers_on_the_10000_test_digits(fmt, exported, reference, real_mnist):
    x, expected = reference
    if fmt in TARGETS:
        probs = RUNNERS[fmt](exported / TARGETS[fmt], x)
    else:  # what the dashboard and the CLI serve with
        probs = predict_proba(load_model(shipped_info().name).model, x)
    assert probs.shape == (10_000, 10) and probs.dtype == np.float32
    assert np.array_equal(probs.argmax(axis=1), expected.argmax(axis=1))  # the same class for every digit
    assert np.abs(probs - expected).max() <= 1e-4
    assert (probs.argmax(axis=1) == real_mnist.y_test).mean() == pytest.approx(shipped_info().test_accuracy, abs=1e-4)


def test_the_savedmodel_has_tensorflow_servings_signature(exported):
    import tensorflow as tf

    signature = tf.saved_model.load(str(exported / TARGETS["savedmodel"])).signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None, 28, 28, 1] and spec.dtype == tf.float32


def test_an_earlier_export_is_recognised_by_its_contents_not_its_name(exported, tmp_path):
    for fmt, name in TARGETS.items():
        assert check_target(exported / name, fmt) == exported / name
    # An export of another kind under this kind's name is not an earlier export of it.
    for fmt, imposter in (("onnx", "litert"), ("litert", "keras"), ("keras", "onnx")):
        target = tmp_path / f"x{(exported / TARGETS[fmt]).suffix}"
        shutil.copyfile(exported / TARGETS[imposter], target)
        with pytest.raises(ExportError, match="not an earlier export"):
            check_target(target, fmt)
        assert check_target(target, fmt, force=True) == target
    mixed = tmp_path / "mixed"
    shutil.copytree(exported / TARGETS["savedmodel"], mixed)
    (mixed / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"already holds other files \(notes.txt\)"):
        check_target(mixed, "savedmodel")
    (tmp_path / "empty").mkdir()
    assert check_target(tmp_path / "empty", "savedmodel") == tmp_path / "empty"


def test_a_bad_out_is_one_clear_line_before_tensorflow_loads(tmp_path):
    (tmp_path / "notes.onnx").write_text("mine")
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "file").write_text("mine")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "thesis.tex").write_text("years of work")
    cases = [
        (["--format", "onnx", "--out", "notes.onnx"], "notes.onnx already exists and is not an earlier export"),
        (["--format", "onnx", "--out", "folder.onnx"], "is a folder; an ONNX file is one file"),
        (["--format", "onnx", "--out", "digits.tflite"], "an ONNX file is named *.onnx; try digits.onnx"),
        (["--format", "litert", "--out", "file/digits.tflite"], "file is a file, not a folder"),
        (["--format", "savedmodel", "--out", "file"], "file is a file; a TensorFlow SavedModel folder is a folder"),
        (["--format", "savedmodel", "--out", "project"], "already holds other files (thesis.tex)"),
        (["--format", "savedmodel", "--out", "sm.keras", "--force"], "looks like a file name"),
        (["nope", "--format", "keras", "--out", "new.keras"], "No model named 'nope'"),
    ]
    if os.path.isdir("/proc/self"):  # where even root cannot write (a chmod would not stop root)
        cases.append((["--format", "keras", "--out", "/proc/digits.keras"], "cannot write in /proc"))
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from digitrec_cli.main import main
        results = []
        for args in {json.dumps([c[0] for c in cases])}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                results.append((main(["export", *args]), err.getvalue()))
        print(json.dumps(dict(results=results, tf="tensorflow" in sys.modules)))
    """)
    env = {**os.environ, HOME_ENV: str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    for (args, says), (rc, err) in zip(cases, printed["results"]):
        assert rc == 2 and err.startswith("Error: ") and says in err and err.count("\n") == 1, (args, err)
    assert printed["tf"] is False  # every refusal came before TensorFlow was imported
    assert (tmp_path / "notes.onnx").read_text() == "mine" and (tmp_path / "file").read_text() == "mine"
    assert (tmp_path / "project" / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.onnx", "notes.onnx", "project"]


def test_force_replaces_a_foreign_file_and_only_with_force(tmp_path, store_home):
    foreign = tmp_path / "digits.onnx"
    foreign.write_text("my own notes, named unwisely")
    assert main(["export", "--format", "onnx", "--out", str(foreign)]) == 2
    assert foreign.read_text() == "my own notes, named unwisely"
    assert main(["export", "--format", "onnx", "--out", str(foreign), "--force"]) == 0
    x = np.random.default_rng(0).random((20, 28, 28, 1), np.float32)
    np.testing.assert_allclose(run_onnx(foreign, x), predict_proba(load_model().model, x), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["digits.onnx"]  # nothing left aside


def _crash_midway(monkeypatch):
    """Every writer starts writing, then fails, as a converter that crashes would."""

    def partial_export(model, path, fmt):
        target = path / "saved_model.pb" if fmt == "tf_saved_model" else path
        target.write_bytes(b"TFL3 half a file")
        raise RuntimeError("converter crashed")

    def partial_keras(model, path):
        path.write_bytes(b"PK\x03\x04 half a zip")
        raise RuntimeError("converter crashed")

    def no_onnx(model):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr("digitrec_core.serving.exports._export", partial_export)
    monkeypatch.setattr("digitrec_core.serving.exports.save_keras", partial_keras)
    monkeypatch.setattr("digitrec_core.serving.exports.onnx_bytes", no_onnx)


def _contents(path):
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", TARGETS)
def test_a_failure_mid_export_leaves_the_earlier_export_intact(fmt, exported, tmp_path, monkeypatch):
    earlier = tmp_path / TARGETS[fmt]
    (shutil.copytree if fmt == "savedmodel" else shutil.copyfile)(exported / TARGETS[fmt], earlier)
    before = _contents(earlier)
    _crash_midway(monkeypatch)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_model(object(), fmt, earlier)
    assert _contents(earlier) == before
    assert [p.name for p in tmp_path.iterdir()] == [earlier.name]  # no temporary file or folder left behind


def test_a_savedmodel_swap_that_fails_puts_the_earlier_folder_back(exported, tmp_path, monkeypatch):
    earlier = tmp_path / "sm"
    shutil.copytree(exported / TARGETS["savedmodel"], earlier)
    before = _contents(earlier)
    rename = os.rename

    def fail_the_swap(src, dst):
        if os.path.basename(src).startswith(".tmp-"):  # the new folder moving in: the old one is already aside
            raise OSError(28, "No space left on device")
        rename(src, dst)

    def export(model, path, fmt):
        (path / "saved_model.pb").write_bytes(b"new")

    monkeypatch.setattr("digitrec_core.serving.exports._export", export)
    monkeypatch.setattr("digitrec_core.serving.exports.os.rename", fail_the_swap)
    with pytest.raises(OSError, match="No space"):
        export_model(object(), "savedmodel", earlier)
    assert _contents(earlier) == before and [p.name for p in tmp_path.iterdir()] == ["sm"]


def test_a_stored_model_exports_by_name(store_home, tmp_path):
    from digitrec_core import save_model
    from tests.support.runs import fake_run

    run = fake_run("seed", 0.5)
    name = save_model(run, activate="never").info.name
    assert main(["export", name, "--format", "onnx", "--out", str(tmp_path / "seed.onnx")]) == 0
    x = np.random.default_rng(1).random((8, 28, 28, 1), np.float32)
    np.testing.assert_allclose(run_onnx(tmp_path / "seed.onnx", x), predict_proba(run.model, x), atol=1e-5)


def test_without_tensorflow_export_says_what_to_install(tmp_path, store_home, monkeypatch, capsys):
    monkeypatch.setattr("digitrec_core.optional.has_tensorflow", lambda: False)
    assert main(["export", "--format", "litert", "--out", str(tmp_path / "d.tflite")]) == 2
    err = capsys.readouterr().err
    assert "Exporting needs TensorFlow" in err and 'pip install "digitrec[train]"' in err
    assert not (tmp_path / "d.tflite").exists()
