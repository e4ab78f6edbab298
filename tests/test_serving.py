"""Serving through ONNX Runtime: the sealed model.onnx, predict_proba on it, and no TensorFlow."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digitrec_core import ModelOutputError, OnnxModel, load_model, predict_proba
from digitrec_core.serving.runtime import OnnxModelError, seal, unseal
from digitrec_core.store import SHIPPED_DIR
from tests.support.drawings import draw_one
from tests.support.onnx_models import onnx_classifier


@pytest.mark.parametrize("bias", [float("nan"), float("inf"), 1e33, -0.5, 0.1])
def test_outputs_that_are_not_probabilities_are_refused_in_a_sentence(tmp_path, bias):
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(seal(onnx_classifier(bias)))
    model = OnnxModel.load(folder)
    digits = np.zeros((3, 28, 28), np.float32)
    if bias == 0.1:  # ten times 0.1: a probability each, whatever they sum to
        assert np.allclose(predict_proba(model, digits), 0.1)
        return
    with pytest.raises(ModelOutputError, match="The model broken-model gives outputs that are not probabilities"):
        predict_proba(model, digits)
    with pytest.raises(ModelOutputError, match="^This model gives"):
        predict_proba(OnnxModel(onnx_classifier(bias)), digits)  # from bytes: no name to give


@pytest.fixture(scope="module")
def shipped():
    return OnnxModel.load(SHIPPED_DIR / "model.onnx")


def test_the_seal_finds_any_change_and_leaves_a_plain_onnx_model():
    body = bytes(range(256)) * 4
    sealed = seal(body)
    assert unseal(sealed) == body and len(sealed) == len(body) + 85
    for damaged in (sealed[:-1], sealed[1:], body, b"", sealed[:100] + b"\0" + sealed[101:],
                    sealed[:-2] + b"00", sealed + b"x"):
        with pytest.raises(OnnxModelError, match="damaged"):
            unseal(damaged)
    import onnx  # another tool reads the shipped, sealed file as an ordinary model with DigitRec's metadata

    model = onnx.load(SHIPPED_DIR / "model.onnx")
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(meta) == {"digitrec.sha256", "digitrec.layers", "digitrec.filters"}
    assert len(meta["digitrec.sha256"]) == 64
    assert json.loads(meta["digitrec.layers"]) == ["relu1", "relu2", "relu3", "relu4"]
    assert len(model.graph.output) == 5 and json.loads(meta["digitrec.filters"])["shape"] == [3, 3, 32]


def test_an_onnx_model_of_another_shape_is_refused():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    data = seal(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    onnx.checker.check_model(onnx.load_from_string(data))
    with pytest.raises(OnnxModelError, match="not a digit classifier"):
        OnnxModel(data)


def test_predict_proba_shapes_dtypes_and_batches(shipped):
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, (2345, 28, 28), dtype=np.uint8)
    probs = predict_proba(shipped, x8)
    assert probs.dtype == np.float32 and probs.shape == (2345, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    # 2,345 images run as 1,000 + 1,000 + 345: the same as one at a time, and uint8 reads as /255
    one_by_one = np.concatenate([predict_proba(shipped, x8[i]) for i in range(0, 2345, 97)])
    np.testing.assert_allclose(probs[::97], one_by_one, atol=1e-6)
    xf = x8[:5].astype(np.float32) / 255
    np.testing.assert_allclose(predict_proba(shipped, xf[..., None]), probs[:5], atol=1e-6)
    assert predict_proba(shipped, np.zeros((0, 28, 28), np.float32)).shape == (0, 10)
    with pytest.raises(ValueError, match="28x28"):
        predict_proba(shipped, np.zeros((1, 32, 32), np.float32))


def test_one_image_is_not_copied_on_its_way_in(shipped, monkeypatch):
    """The live path: canvas_to_mnist's float32 28x28 reaches ONNX Runtime as a view, not a copy."""
    seen = []
    run = shipped.session.run
    monkeypatch.setattr(shipped.session, "run", lambda out, feed: seen.append(feed) or run(out, feed))
    digit = np.random.default_rng(1).random((28, 28), np.float32)
    predict_proba(shipped, digit)
    (fed,) = seen[0].values()
    assert fed.shape == (1, 28, 28, 1) and np.shares_memory(fed, digit)


def test_sessions_are_thrifty_with_threads(shipped):
    options = shipped.session.get_session_options()
    assert options.inter_op_num_threads == 1 and 1 <= options.intra_op_num_threads <= 4
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_the_shipped_model_serves_without_tensorflow_as_an_outside_tool_would(tmp_path):
    """`import digitrec_core as dr; dr.predict_proba(dr.load_model().model, x)` and `dr.explain` from outside the
    clone, with TensorFlow made unimportable: probabilities, and `tensorflow` never in sys.modules."""
    draw_one(tmp_path / "one.png")
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["tensorflow"] = sys.modules["keras"] = None  # as if not installed: import fails, find_spec is None
        import numpy as np
        import digitrec_core as dr
        from digitrec_core.optional import TensorFlowMissing
        loaded = dr.load_model()
        digit = dr.canvas_to_mnist(dr.read_image({str(tmp_path / "one.png")!r}))
        probs = dr.predict_proba(loaded.model, digit)
        why = dr.explain(loaded.model, digit)
        from digitrec_cli.main import main
        rc = main(["predict", "--image", {str(tmp_path / "one.png")!r}])
        try:
            dr.load_model(runtime="keras")
        except TensorFlowMissing as e:
            missing = str(e)
        print(json.dumps(dict(runtime=loaded.runtime, shipped=loaded.info.shipped, shape=probs.shape,
                              dtype=str(probs.dtype), digit=int(probs.argmax()), rc=rc, missing=missing,
                              explained=[why.target, list(why.attribution.shape), list(why.activations)],
                              tf=[m for m, mod in sys.modules.items()
                                  if mod is not None and m.split(".")[0] in ("tensorflow", "keras")])))
    """)
    env = {**os.environ, "DIGITREC_HOME": str(tmp_path / "home")}  # the installed package, not the clone
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    *printed, last = out.stdout.strip().splitlines()
    result = json.loads(last)
    assert result["runtime"] == "onnx" and result["shipped"] and result["tf"] == []
    assert result["shape"] == [1, 10] and result["dtype"] == "float32" and result["digit"] == 1
    assert result["rc"] == 0 and "Predicted: 1" in printed
    assert result["explained"] == [1, [28, 28], ["relu1", "relu2", "relu3", "relu4"]]  # dr.explain, on ONNX
    assert 'pip install "digitrec[train]"' in result["missing"]


def test_import_and_load_do_not_import_tensorflow(tmp_path):
    """The plain case, with TensorFlow installed: serving still never imports it."""
    script = ("import sys, numpy as np, digitrec_core as dr; m = dr.load_model().model; "
              "p = dr.predict_proba(m, np.zeros((3, 28, 28), np.float32)); "
              "print(p.shape, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "DIGITREC_HOME": str(tmp_path / "home")}  # the installed package, not the clone
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(3,", "10)", "False", "False"]


def test_loading_through_onnx_keeps_keras_for_who_asks(store_home):
    keras_model = load_model(runtime="keras").model
    served = load_model().model
    x = np.random.default_rng(2).random((50, 28, 28), np.float32)
    np.testing.assert_allclose(predict_proba(served, x), predict_proba(keras_model, x), atol=1e-5)
    assert repr(served).startswith("OnnxModel(") and "model.onnx" in repr(served)
    np.testing.assert_array_equal(predict_proba(OnnxModel.load(SHIPPED_DIR), x), predict_proba(served, x))
