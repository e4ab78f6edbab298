"""Drawing-like augmentation: the ways a person's digit differs from an MNIST one.

Each image gets its own random rotation, scale, aspect, slant, shift and stroke weight,
all in one batched TensorFlow op so augmentation costs little next to the network itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentPolicy:
    rotation_deg: float = 12.0  # people tilt their digits
    scale: float = 0.12  # ± relative size
    aspect: float = 0.10  # ± squash/stretch
    slant: float = 0.30  # ± horizontal shear (italic handwriting)
    shift_px: float = 2.5  # ± pixels, after canvas_to_mnist has centred the digit
    stroke: float = 0.6  # how far towards a 3x3 dilation/erosion a stroke may move


DRAWING = AugmentPolicy()


def affine(images, angle, scale_x, scale_y, slant, shift_x, shift_y):
    """Warp a batch `(B, 28, 28, 1)` float tensor, one transform per image (angles in radians)."""
    import tensorflow as tf

    c, s = tf.cos(angle), tf.sin(angle)
    # Output pixel -> input pixel: rotate, slant and scale about the image centre, then shift.
    a00, a01 = c * scale_x, (c * slant - s) * scale_y
    a10, a11 = s * scale_x, (s * slant + c) * scale_y
    centre = (tf.cast(tf.shape(images)[2], tf.float32) - 1.0) / 2.0
    a02 = centre - (a00 + a01) * centre - shift_x
    a12 = centre - (a10 + a11) * centre - shift_y
    zeros = tf.zeros_like(a00)
    transforms = tf.stack([a00, a01, a02, a10, a11, a12, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def stroke_weight(images, amount):
    """Thicken (amount > 0) or thin (amount < 0) strokes by blending with a 3x3 dilation/erosion."""
    import tensorflow as tf

    amount = tf.reshape(amount, [-1, 1, 1, 1])
    dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    target = tf.where(amount > 0, dilated, eroded)
    return images + tf.abs(amount) * (target - images)


def augment_batch(images, policy: AugmentPolicy = DRAWING):
    """Randomly augment a `(B, 28, 28, 1)` float batch in [0, 1]; labels are unchanged by design."""
    import tensorflow as tf

    b = tf.shape(images)[0]

    def u(limit):
        return tf.random.uniform([b], -limit, limit)

    size = 1.0 + u(policy.scale)
    aspect = 1.0 + u(policy.aspect)
    out = affine(
        images,
        angle=u(np.deg2rad(policy.rotation_deg)),
        # The transform maps output to input, so dividing by the size enlarges the digit.
        scale_x=1.0 / (size * aspect),
        scale_y=aspect / size,
        slant=u(policy.slant),
        shift_x=u(policy.shift_px),
        shift_y=u(policy.shift_px),
    )
    return tf.clip_by_value(stroke_weight(out, u(policy.stroke)), 0.0, 1.0)
