"""A trained model at work, without TensorFlow (exports aside): classifying, reading and explaining digits.

    runtime        a sealed `model.onnx` served through ONNX Runtime (`OnnxModel`)
    evaluation     a model on the MNIST test set: probabilities, metrics, its mistakes
    recognition    "not a digit": the digit score, its calibrated threshold, a drawing's reading
    explanations   why a prediction: occlusion maps and what each layer sees
    faithfulness   are the explanations honest: the deletion and randomisation checks
    review         a model on a person's digits: per class, the flagged and the mistaken
    exports        the model written out for elsewhere: ONNX, LiteRT, SavedModel, .keras (TensorFlow)

Importing this package imports none of them.
"""
