"""The features of one stored example (TF-slim / TFDS naming).

Every ganlab dataset stores its examples as ``tf.train.Example`` records with
these features, so other tools (TF-slim readers, TFDS-style parsers, plain
``tf.io.parse_single_example``) can read the files:

====================== ========= ==========================================
feature                type      value
====================== ========= ==========================================
``image/encoded``      bytes     the image as a lossless PNG at training size
``image/format``       bytes     ``b"png"``
``image/height``       int64     height in pixels
``image/width``        int64     width in pixels
``image/channels``     int64     1 (gray) or 3 (RGB)
``image/filename``     bytes     source file name, or ``source#index``
``image/class/label``  int64     class label, ``-1`` when there is none
``image/attributes``   int64[]   per-image attributes (empty when none)
``image/partition``    int64     official partition index, ``-1`` when none
====================== ========= ==========================================

PNG encoding uses Pillow (no TensorFlow); only :func:`serialize_example` and
the parsing helpers need TensorFlow, which they import when called.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ganlab.data.base import ImageExample

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
CHANNELS = "image/channels"
FILENAME = "image/filename"
LABEL = "image/class/label"
ATTRIBUTES = "image/attributes"
PARTITION = "image/partition"

#: Value of ``image/format``.
IMAGE_FORMAT = "png"
#: zlib level of the PNGs: 6 (Pillow's default) balances size and prepare speed.
PNG_COMPRESS_LEVEL = 6

#: Feature name → (type, meaning), for the manifest and docs.
FEATURES: dict[str, tuple[str, str]] = {
    ENCODED: ("bytes", "lossless PNG at the training size"),
    FORMAT: ("bytes", "'png'"),
    HEIGHT: ("int64", "image height"),
    WIDTH: ("int64", "image width"),
    CHANNELS: ("int64", "1 (gray) or 3 (RGB)"),
    FILENAME: ("bytes", "source file name or source#index"),
    LABEL: ("int64", "class label, -1 when none"),
    ATTRIBUTES: ("int64 list", "per-image attributes, empty when none"),
    PARTITION: ("int64", "official partition index, -1 when none"),
}

_PNG_CHANNELS = (1, 3, 4)


def check_image(image: Any, shape: tuple[int, int, int], filename: str) -> np.ndarray:
    """The image as a ``uint8`` ``(h, w, c)`` array, or a clear error.

    Raises:
        ValueError: The dataset's ``decode`` returned the wrong dtype or
            shape (a plugin bug, not a user error).

    """
    array = np.asarray(image)
    if array.ndim == 2 and shape[2] == 1:
        array = array[..., None]
    if array.dtype != np.uint8 or tuple(array.shape) != tuple(shape):
        raise ValueError(f"decode() returned a {array.dtype} image of shape {array.shape} for "
                         f"{filename!r}; the dataset's image_shape is {tuple(shape)} uint8")
    return array


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a ``uint8`` ``(h, w, c)`` image (c in 1, 3, 4)."""
    channels = image.shape[2]
    if channels not in _PNG_CHANNELS:
        raise ValueError(f"cannot store {channels}-channel images as PNG (1, 3 or 4)")
    pixels = image[..., 0] if channels == 1 else image
    buffer = io.BytesIO()
    # Pillow infers L / RGB / RGBA from a uint8 array of 2 dims / 3 / 4 channels.
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def serialize_example(example: ImageExample, encoded: bytes, shape: tuple[int, int, int]) -> bytes:
    """The serialized ``tf.train.Example`` of one image (imports TensorFlow)."""
    import tensorflow as tf

    def ints(*values: int) -> Any:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    def raw(value: bytes) -> Any:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    height, width, channels = shape
    feature = {
        ENCODED: raw(encoded),
        FORMAT: raw(IMAGE_FORMAT.encode()),
        HEIGHT: ints(height),
        WIDTH: ints(width),
        CHANNELS: ints(channels),
        FILENAME: raw(str(example.filename).encode("utf-8")),
        LABEL: ints(example.label),
        ATTRIBUTES: ints(*example.attributes),
        PARTITION: ints(example.partition),
    }
    example_proto = tf.train.Example(features=tf.train.Features(feature=feature))
    # Features is a protobuf map: without deterministic=True its key order may
    # differ between processes, and equal examples would give unequal records.
    return example_proto.SerializeToString(deterministic=True)


def parse_spec(attributes_length: int) -> dict[str, Any]:
    """The ``tf.io.parse_single_example`` spec (imports TensorFlow).

    Args:
        attributes_length: Number of attributes every example stores
            (recorded in the manifest; 0 when the dataset has none).

    """
    import tensorflow as tf

    spec = {
        ENCODED: tf.io.FixedLenFeature([], tf.string),
        FILENAME: tf.io.FixedLenFeature([], tf.string, default_value=""),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        PARTITION: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    }
    if attributes_length:
        spec[ATTRIBUTES] = tf.io.FixedLenFeature([attributes_length], tf.int64)
    return spec
