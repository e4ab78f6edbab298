"""Drawing-like augmentation: the ways a person's digit differs from an MNIST one.

Each image gets its own random rotation, scale, aspect, slant, shift and stroke weight,
all in one batched TensorFlow op so augmentation costs little next to the network itself.

Given the labels, some digits are also redrawn in styles that MNIST's American writers rarely
use and many others do: the European 1 with a long flag (sometimes with a foot), the crossed 7,
the 9 whose tail curls back (and, off by default, the 4 closed at the top, the 9 with an open
loop or a tail swept to the left: see `AugmentPolicy` for what each cost). A style adds one
anti-aliased pen stroke placed from the digit's own ink (the top of the 1, the middle of the 7's
stem, the end of the 9's tail...), and the digit is then re-framed as `canvas_to_mnist` frames
one (longer side at most 20 px, centre of mass at the centre). Labels never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitrec_core.preprocess import CENTER, TARGET_BOX


@dataclass(frozen=True)
class AugmentPolicy:
    rotation_deg: float = 12.0  # people tilt their digits
    scale: float = 0.12  # ± relative size
    aspect: float = 0.10  # ± squash/stretch
    slant: float = 0.30  # ± horizontal shear (italic handwriting)
    shift_px: float = 2.5  # ± pixels, after canvas_to_mnist has centred the digit
    stroke: float = 0.6  # how far towards a 3x3 dilation/erosion a stroke may move
    # Handwriting styles, as the probability that a digit of that class gets one (labels needed).
    # These defaults, against none, in the shipped recipe (12 epochs on 22,699 images, seeds 0-2),
    # digits drawn through canvas_to_mnist (bench/writers.py): Semeion 90.9% -> 92.7% (mean),
    # optdigits 92.6% -> 94.6%, MNIST test 99.44% -> 99.45%; they add 1.25 ms to a 46 ms batch.
    flag_one: float = 0.25  # a 1 gets a long flag from its top, down and to the left (40-65 degrees:
    # from 30, MNIST test 7s read as 1s 5-8 times a run instead of 2-4, and MNIST test averaged 99.38%)
    foot_one: float = 0.1  # a 1 gets a foot: a bar under it, or a kick to the right
    cross_seven: float = 0.2  # a 7 gets a bar across the middle of its stem
    # A 4 with its two arms joined at the top: off. At 0.15 it cut Semeion's 4->9 errors from 14 to 5
    # but taught the network that a loop on a stem may be a 4: MNIST test 9->4 went from 6 to 20.
    close_four: float = 0.0
    curl_nine: float = 0.15  # a 9's tail ends in a hook to the left
    # A 9's loop left open on the left: off, as it did not pay (6-epoch runs, 2 seeds: Semeion +0.1
    # points, optdigits -0.7).
    open_nine: float = 0.0
    # A 9's tail swept down to the left from the bottom of its loop: off. At 0.2 (12 epochs, 2 seeds)
    # Semeion +0.5 points but optdigits -1.0, its 9s read as 3s more often.
    sweep_nine: float = 0.0


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


# Pen strokes the styles add: MNIST's strokes are 2.5 px wide (median, IQR 2.1-3.0; preprocess.STROKE).
PEN_WIDTH = (2.0, 3.0)
INK = 0.5  # what counts as ink when locating a digit's parts


def pen_line(p0, p1, width, size: int = 28):
    """Anti-aliased straight strokes, one per image: `(B, size, size)` ink in [0, 1].

    `p0`, `p1` are `(B, 2)` end points as (x, y) in pixel indices; `width` is `(B,)` in px.
    """
    import tensorflow as tf

    r = tf.range(size, dtype=tf.float32)
    yy, xx = tf.reshape(r, [1, -1, 1]), tf.reshape(r, [1, 1, -1])
    # reshape, not [:, None, None]: with a static batch size, a tf.function of the sliced form failed
    # at run time ("Incompatible shapes: [1,1,28] vs. [128]", TF 2.21) though its traced shapes were right.
    def column(v):
        return tf.reshape(v, [-1, 1, 1])

    x0, y0 = column(p0[:, 0]), column(p0[:, 1])
    dx, dy = column(p1[:, 0] - p0[:, 0]), column(p1[:, 1] - p0[:, 1])
    t = tf.clip_by_value(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy + 1e-6), 0.0, 1.0)
    dist = tf.sqrt((xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2)
    return tf.clip_by_value(column(width) / 2 + 0.5 - dist, 0.0, 1.0)


def _extent(any_ink):
    """First and last True index along the last axis of `(B, N)`, as floats (0, N-1 when there is none)."""
    import tensorflow as tf

    n = tf.shape(any_ink)[1]
    first = tf.argmax(tf.cast(any_ink, tf.int32), axis=1, output_type=tf.int32)
    last = n - 1 - tf.argmax(tf.cast(any_ink[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
    return tf.cast(first, tf.float32), tf.cast(last, tf.float32)


def _row_centre(img, row, fallback):
    """Ink-weighted mean column of `img` `(B, H, W)` on row `row` `(B,)`; `fallback` where that row is empty."""
    import tensorflow as tf

    line = tf.gather(img, tf.cast(tf.round(row), tf.int32), axis=1, batch_dims=1)  # (B, W)
    cols = tf.range(tf.shape(img)[2], dtype=tf.float32)[None]
    mass = tf.reduce_sum(line, axis=1)
    return tf.where(mass > 0, tf.reduce_sum(line * cols, axis=1) / tf.maximum(mass, 1e-6), fallback)


def _arm_tops(mask, left, right):
    """The highest ink point left of the box's middle and the highest right of it, each `(B, 2)` (x, y)."""
    import tensorflow as tf

    h, w = tf.shape(mask)[1], tf.shape(mask)[2]
    has = tf.reduce_any(mask, axis=1)  # (B, W)
    top = tf.cast(tf.argmax(tf.cast(mask, tf.int32), axis=1, output_type=tf.int32), tf.float32)  # per column
    top = tf.where(has, top, tf.cast(h, tf.float32) * 2)
    cols = tf.range(w, dtype=tf.float32)[None]
    middle = ((left + right) / 2)[:, None]

    def highest(side):
        t = tf.where(side, top, 1e9)
        x = tf.argmin(t, axis=1, output_type=tf.int32)
        return tf.stack([tf.cast(x, tf.float32), tf.gather(top, x, axis=1, batch_dims=1)], axis=1)

    return highest(cols < middle), highest(cols >= middle)


def handwriting_styles(images, labels, policy: AugmentPolicy = DRAWING):
    """Redraw some 1s, 4s, 7s and 9s of a `(B, 28, 28, 1)` batch in other writers' styles (see the module doc).

    Returns the new batch (in [0, 1]), re-framed as canvas_to_mnist frames a digit, and a `(B,)`
    bool tensor telling which images got a style.
    """
    import tensorflow as tf

    out, styled = _draw_styles(images, labels, policy)
    scale, shift_x, shift_y = _framing(out, styled)
    zero = tf.zeros_like(scale)
    return tf.clip_by_value(affine(out, zero, scale, scale, zero, shift_x, shift_y), 0.0, 1.0), styled


class _Styles:
    """One batch's digits with what a style stroke is placed by (their ink's extent, the centres of its top and
    bottom rows), and the styles drawn on them. Every random draw is per image, in the order `_draw_styles`
    asks for them: the same seed, the same strokes."""

    def __init__(self, img, labels):
        import tensorflow as tf

        self.img = img
        self.b = tf.shape(img)[0]
        self.labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        self.mask = img > INK
        self.top, self.bottom = _extent(tf.reduce_any(self.mask, axis=2))
        self.left, self.right = _extent(tf.reduce_any(self.mask, axis=1))
        self.height, self.width = self.bottom - self.top, self.right - self.left
        self.centre = (self.left + self.right) / 2
        self.x_top = _row_centre(img, self.top, self.centre)
        self.x_bottom = _row_centre(img, self.bottom, self.centre)
        self.styled = tf.zeros([self.b], bool)  # which images got a style

    def u(self, lo, hi):
        import tensorflow as tf

        return tf.random.uniform([self.b], lo, hi)

    def chosen(self, digit, p):
        """The images of class `digit` that get a style of probability `p` (marked as styled)."""
        import tensorflow as tf

        which = (self.labels == digit) & (tf.random.uniform([self.b]) < p)
        self.styled |= which
        return which

    def stroke(self, styles):
        """One pen stroke per image from styles of different classes, each (class, probability, ends)."""
        import tensorflow as tf

        b = self.b
        apply, p0, p1 = tf.zeros([b], bool), tf.zeros([b, 2]), tf.zeros([b, 2])
        for digit, p, ends in styles:
            if p > 0:
                which = self.chosen(digit, p)
                start, end = ends()
                p0, p1 = tf.where(which[:, None], start, p0), tf.where(which[:, None], end, p1)
                apply |= which
        return pen_line(p0, p1, self.u(*PEN_WIDTH)) * tf.reshape(tf.cast(apply, tf.float32), [-1, 1, 1])

    def flag(self):
        # The European 1: from the top of the stroke, 35-80% of its height long, 40-65 degrees below
        # the horizontal, towards the left.
        import tensorflow as tf

        length, angle = self.u(0.35, 0.8) * self.height, self.u(np.deg2rad(40), np.deg2rad(65))
        x, top = self.x_top, self.top
        return tf.stack([x, top], 1), tf.stack([x - length * tf.cos(angle), top + length * tf.sin(angle)], 1)

    def cross(self):
        # The crossed 7: through the stem at 45-65% of the height, 40-70% of the width, a little tilted.
        import tensorflow as tf

        y = self.top + self.u(0.45, 0.65) * self.height
        x = _row_centre(self.img, y, self.centre)
        half, tilt = self.u(0.2, 0.35) * tf.maximum(self.width, 8.0), self.u(-1.0, 1.0)
        return tf.stack([x - half, y - tilt], 1), tf.stack([x + half, y + tilt], 1)

    def close(self):
        # The closed 4: the top of the left arm joined to the top of the stem.
        return _arm_tops(self.mask, self.left, self.right)

    def curl(self):
        # The curled 9: its tail ends in a hook back to the left, 20-45% of the height long, rising a little.
        import tensorflow as tf

        reach, x, bottom = self.u(0.2, 0.45) * self.height, self.x_bottom, self.bottom
        return tf.stack([x, bottom], 1), tf.stack([x - reach, bottom - self.u(0.0, 0.25) * reach], 1)

    def foot(self):
        # A 1's foot, with or without its flag: from a bar centred under the stroke to a kick to the
        # right, 15-30% of the height long.
        import tensorflow as tf

        reach, back = self.u(0.15, 0.3) * self.height, self.u(0.0, 1.0)
        x, bottom = self.x_bottom, self.bottom
        return (tf.stack([x - back * reach, bottom], 1),
                tf.stack([x + reach, bottom - self.u(0.0, 0.08) * self.height], 1))

    def open_nine(self, out, p):
        # The open 9: a gap of 3.5-5.5 px in the left side of its loop, 15-40% of the way down.
        import tensorflow as tf

        y = tf.round(self.top + self.u(0.15, 0.4) * self.height)
        row = tf.gather(self.mask, tf.cast(y, tf.int32), axis=1, batch_dims=1)
        at = tf.stack([_extent(row)[0] + 1.0, y], 1)  # the middle of the loop's left stroke
        opened = self.chosen(9, p) & tf.reduce_any(row, axis=1)
        return out * (1.0 - pen_line(at, at, self.u(3.5, 5.5)) * tf.reshape(tf.cast(opened, tf.float32), [-1, 1, 1]))

    def sweep_nine(self, out, p):
        # The swept 9: below its loop (40-55% of the way down) each row moves left by 0.3-0.8 px more
        # than the one above, so the tail runs down-left instead of straight down. Whole-pixel moves:
        # an interpolated shear would blur the tail, and the network learns blur as a cue (styled 1s
        # interpolated twice made it misread MNIST's plain bold 1s: 82-88% right instead of 96-98%).
        import tensorflow as tf

        img = self.img
        rows = tf.range(tf.shape(img)[1], dtype=tf.float32)[None, :]
        bend = self.top + self.u(0.4, 0.55) * self.height
        move = tf.round(tf.maximum(rows - bend[:, None], 0.0) * self.u(0.3, 0.8)[:, None])  # (B, H) px to the left
        source = tf.range(tf.shape(img)[2], dtype=tf.float32)[None, None, :] + move[..., None]  # (B, H, W)
        last = tf.cast(tf.shape(img)[2] - 1, tf.float32)
        bent = tf.gather(out, tf.cast(tf.minimum(source, last), tf.int32), axis=2, batch_dims=2)
        swept = self.chosen(9, p)
        return tf.where(tf.reshape(swept, [-1, 1, 1]), tf.where(source <= last, bent, 0.0), out)


def _draw_styles(images, labels, policy: AugmentPolicy):
    """The styled batch before re-framing, and which images got a style.

    A style whose probability is 0 is not even built, so turning one off costs nothing.
    """
    import tensorflow as tf

    s = _Styles(images[..., 0], labels)
    out = s.img
    first = [(1, policy.flag_one, s.flag), (7, policy.cross_seven, s.cross), (4, policy.close_four, s.close),
             (9, policy.curl_nine, s.curl)]
    for strokes in (first, [(1, policy.foot_one, s.foot)]):
        if any(p > 0 for _, p, _ in strokes):
            out = tf.maximum(out, s.stroke(strokes))
    if policy.open_nine > 0:
        out = s.open_nine(out, policy.open_nine)
    if policy.sweep_nine > 0:
        out = s.sweep_nine(out, policy.sweep_nine)
    return out[..., None], s.styled


def _framing(images, which):
    """`affine` scale and shifts that frame the `which` images as canvas_to_mnist does (longest side at
    most TARGET_BOX px, centre of mass at CENTER) and leave the others as they are."""
    import tensorflow as tf

    img = images[..., 0]
    mask = img > INK
    top, bottom = _extent(tf.reduce_any(mask, axis=2))
    left, right = _extent(tf.reduce_any(mask, axis=1))
    # affine() maps output to input: a factor s > 1 shrinks the digit.
    s = tf.where(which, tf.maximum(1.0, (tf.maximum(bottom - top, right - left) + 1.0) / TARGET_BOX), 1.0)
    r = tf.range(tf.shape(img)[1], dtype=tf.float32)
    mass = tf.maximum(tf.reduce_sum(img, axis=[1, 2]), 1e-6)
    my = tf.reduce_sum(tf.reduce_sum(img, axis=2) * r[None], axis=1) / mass
    mx = tf.reduce_sum(tf.reduce_sum(img, axis=1) * r[None], axis=1) / mass
    c = (tf.cast(tf.shape(img)[2], tf.float32) - 1.0) / 2.0
    # Input point m must land on output CENTER: m = s * (CENTER - c) + c - shift.
    shift_x = tf.where(which, s * (CENTER - c) + c - mx, 0.0)
    shift_y = tf.where(which, s * (CENTER - c) + c - my, 0.0)
    return s, shift_x, shift_y


def augment_batch(images, labels=None, policy: AugmentPolicy = DRAWING):
    """Randomly augment a `(B, 28, 28, 1)` float batch in [0, 1]; labels (optional) are never changed.

    With `labels` (`(B,)` ints), some digits are first redrawn in other writers' styles
    (`handwriting_styles`); without them only the class-blind warps apply.
    """
    import tensorflow as tf

    b = tf.shape(images)[0]
    frame, frame_x, frame_y = tf.ones([b]), tf.zeros([b]), tf.zeros([b])
    if labels is not None:
        images, styled = _draw_styles(images, labels, policy)
        frame, frame_x, frame_y = _framing(images, styled)

    def u(limit):
        return tf.random.uniform([b], -limit, limit)

    # Drawn in the order they always were, so a run without labels repeats an older one exactly.
    size, aspect = 1.0 + u(policy.scale), 1.0 + u(policy.aspect)
    angle, slant = u(np.deg2rad(policy.rotation_deg)), u(policy.slant)
    shift_x, shift_y = u(policy.shift_px), u(policy.shift_px)
    # One interpolation for both the framing and the random warp (two blurred the styled digits):
    # output -> framed -> styled image composes to the warp's matrix times `frame`, shifted by
    # frame * shift + the framing's own shift.
    out = affine(
        images,
        angle=angle,
        # The transform maps output to input, so dividing by the size enlarges the digit.
        scale_x=frame / (size * aspect),
        scale_y=frame * aspect / size,
        slant=slant,
        shift_x=frame * shift_x + frame_x,
        shift_y=frame * shift_y + frame_y,
    )
    return tf.clip_by_value(stroke_weight(out, u(policy.stroke)), 0.0, 1.0)
