"""What trains a network: on MNIST from scratch, then on a person's digits.

    runs       what a run is: its configuration, progress events and result (no TensorFlow)
    augment    the handwriting styles and the affine jitter applied to each training batch
    negatives  generated non-digits (letters, scribbles, dots, ...) that teach "not a digit"
    redraw     digits re-drawn as pen strokes, as the Draw page sees them (calibrates "not a digit")
    training   `train` and `fit`: a network from scratch (TensorFlow)
    finetune   `fine_tune`: a trained model adapted to a person's digits (TensorFlow)

Importing this package imports none of them: TensorFlow loads only with training or finetune.
"""
