"""ONNX models built by hand: a file ONNX Runtime loads whose outputs are not probabilities."""

import numpy as np


def onnx_classifier(bias: float) -> bytes:
    """An ONNX digit classifier (not sealed) whose every output is `bias`: NaN or 1e33 make a sound file
    whose numbers are not probabilities."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["image", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
         helper.make_node("Add", ["logits", "bias"], ["probabilities"])],
        "constant",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 784]),
         helper.make_tensor("weights", TensorProto.FLOAT, [784, 10], np.zeros(7840, np.float32)),
         helper.make_tensor("bias", TensorProto.FLOAT, [10], np.full(10, bias, np.float32))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()
