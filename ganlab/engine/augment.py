"""Differentiable augmentation of every image the discriminator sees (DiffAugment).

Zhao, Liu, Lin, Zhu & Han (2020), "Differentiable Augmentation for
Data-Efficient GAN Training", https://arxiv.org/abs/2006.10738. The same
random transformations are applied to real and generated images, in the D
update and in the G update, and they are differentiable, so the generator
learns through them. The discriminator then cannot memorise a small
training set, which is what makes a GAN on a few thousand images degrade as
it trains. Set it with ``train.augment``, e.g. ``[translation, cutout]`` (the
paper's choice for small datasets) or ``[color, translation, cutout]``.

The transformations follow the authors' TensorFlow code for images in
[-1, 1], with one departure: a translated image is filled with its edge
pixels (the background of a digit or a face's surroundings) instead of
zeros, which in [-1, 1] would be a grey border around an MNIST digit's black
background. Randomness comes from the trainer's checkpointed generator, so
runs with augmentation resume bit-identically too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

#: Share of the image size by which ``translation`` shifts at most.
TRANSLATION_RATIO = 0.125
#: Side of the ``cutout`` square, as a share of the image size.
CUTOUT_RATIO = 0.5


def _share_of(size: Any, ratio: float) -> Any:
    """``round(size * ratio)`` in pixels, as an int32 tensor."""
    return tf.cast(tf.cast(size, tf.float32) * ratio + 0.5, tf.int32)


def _uniform(rng: tf.random.Generator, count: Any, dtype: Any) -> Any:
    """One U(0, 1) draw per image, shaped to broadcast over ``(h, w, c)``."""
    return tf.cast(rng.uniform(tf.stack([count, 1, 1, 1])), dtype)


def color(images: Any, rng: tf.random.Generator) -> Any:
    """Random brightness, saturation (colour images only) and contrast per image."""
    count = tf.shape(images)[0]
    images = images + (_uniform(rng, count, images.dtype) - 0.5)
    if images.shape[-1] != 1:
        mean = tf.reduce_mean(images, axis=3, keepdims=True)
        images = (images - mean) * (_uniform(rng, count, images.dtype) * 2) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * (_uniform(rng, count, images.dtype) + 0.5) + mean


def translation(images: Any, rng: tf.random.Generator) -> Any:
    """Shift each image by up to 1/8 of its size in x and y, filling with its edge pixels."""
    shape = tf.shape(images)
    count = shape[0]
    for axis in (1, 2):
        size = shape[axis]
        reach = _share_of(size, TRANSLATION_RATIO)
        shift = rng.uniform(tf.stack([count, 1]), minval=-reach, maxval=reach + 1,
                            dtype=tf.int32)
        positions = tf.clip_by_value(tf.range(size)[tf.newaxis, :] - shift, 0, size - 1)
        images = tf.gather(images, positions, axis=axis, batch_dims=1)
    return images


def cutout(images: Any, rng: tf.random.Generator) -> Any:
    """Zero a square of half the image size at a random place in each image."""
    shape = tf.shape(images)
    count, height, width = shape[0], shape[1], shape[2]
    inside = []
    for size in (height, width):
        side = _share_of(size, CUTOUT_RATIO)
        offset = rng.uniform(tf.stack([count, 1]), minval=0, maxval=size + (1 - side % 2),
                             dtype=tf.int32)
        start = offset - side // 2
        position = tf.range(size)[tf.newaxis, :]
        inside.append((position >= start) & (position < start + side))
    covered = inside[0][:, :, tf.newaxis] & inside[1][:, tf.newaxis, :]
    keep = tf.cast(tf.logical_not(covered), images.dtype)[..., tf.newaxis]
    return images * keep


TRANSFORMS: dict[str, Callable[[Any, tf.random.Generator], Any]] = {
    "color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """The transformations of ``train.augment``, in the order given.

    Args:
        policy: Names from :data:`TRANSFORMS`.
        rng: Where the randomness comes from (the trainer's generator).

    """

    def __init__(self, policy: Sequence[str], rng: tf.random.Generator):
        self.transforms = [TRANSFORMS[name] for name in policy]
        self.rng = rng

    def __call__(self, images: Any) -> Any:
        """``images`` transformed (a new random draw per image and call)."""
        for transform in self.transforms:
            images = transform(images, self.rng)
        return images
