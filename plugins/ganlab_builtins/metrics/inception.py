"""The built-in ``inception_v3`` feature extractor: Keras InceptionV3 pool features.

``keras.applications.InceptionV3(include_top=False, pooling="avg")``: the
2048-d global-average-pool features FID is usually computed on. Images in
[-1, 1] (already the scaling InceptionV3 expects) are resized bilinearly to
299×299, and grey images repeated to three channels.

The ImageNet weights are a local file; ganlab never downloads at run time.
It is taken from the ``weights`` param, else from the Keras cache
(``$KERAS_HOME/models`` or ``~/.keras/models``), and checked before use: by
the ``sha256`` param when given (for one's own weights), else against the
hash Keras publishes for the official file (an md5, the only one Keras
publishes). Its sha256 goes into every protocol and cache key.

Keras' InceptionV3 is not the 2015 TensorFlow graph behind the TTUR and
pytorch-fid numbers in papers: FIDs computed with it compare ganlab runs
with each other, not with published figures.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import ConfigError

#: The official no-top weights file, as Keras names and caches it.
WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
               + WEIGHTS_FILE)
#: The hash Keras publishes for the official file (``keras.applications.inception_v3``).
WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
INPUT_SIZE = 299
FEATURE_DIM = 2048
#: Images per forward pass (a 299×299 batch of 50 is about 50 MB of input).
INNER_BATCH = 50


def keras_cache_path() -> Path:
    """Where Keras keeps the official weights file (``$KERAS_HOME`` or ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(home).expanduser() / "models" / WEIGHTS_FILE


def file_digests(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` of a file, read in 1 MB chunks."""
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(2**20), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def locate_weights(weights: str | os.PathLike | None) -> Path:
    """The weights file: ``weights`` if given, else the Keras cache.

    Raises:
        ConfigError: The file is not there (the message says where to get it
            and where to put it).

    """
    path = Path(weights).expanduser() if weights is not None else keras_cache_path()
    if path.is_file():
        return path
    if path.is_dir():
        raise ConfigError(f"The InceptionV3 weights path {path} is a folder, not the weights "
                          f"file: name the file itself ({WEIGHTS_FILE}), e.g. "
                          f"extractor_params: {{weights: {path / WEIGHTS_FILE}}}.")
    where = (f"the file named by extractor_params.weights ({path}) does not exist"
             if weights is not None else f"it is not in the Keras cache ({path})")
    raise ConfigError(
        "The inception_v3 feature extractor needs the Keras InceptionV3 ImageNet weights "
        f"without the top layer ({WEIGHTS_FILE}, 87.9 MB), and {where}. ganlab never downloads "
        f"at run time: download the file from {WEIGHTS_URL} on a machine with network access, "
        f"then either put it at {keras_cache_path()} (the Keras cache; $KERAS_HOME/models when "
        "KERAS_HOME is set) or name it in the metric's params as extractor_params: {weights: "
        "/path/to/" + WEIGHTS_FILE + "}. Or evaluate with the 'domain' extractor, which "
        "needs no download.")


def verify_weights(path: Path, expected_sha256: str | None) -> str:
    """Check the file's hash; return its sha256.

    Raises:
        ConfigError: The hash differs from ``expected_sha256``, or (without
            one) from the official file's.

    """
    sha256, md5 = file_digests(path)
    if expected_sha256 is not None:
        if sha256 != expected_sha256.lower():
            raise ConfigError(
                f"The InceptionV3 weights {path} have sha256 {sha256}, not the {expected_sha256} "
                "that extractor_params.sha256 expects: the file is damaged or another one. "
                "Fetch it again, or correct the expected hash if the file is right.")
        return sha256
    if md5 != WEIGHTS_MD5:
        raise ConfigError(
            f"The InceptionV3 weights {path} are not the official {WEIGHTS_FILE} (md5 {md5}, "
            f"expected {WEIGHTS_MD5}): the file is damaged or another one. Download it again "
            f"from {WEIGHTS_URL}; for weights of your own, accept them explicitly with "
            f"extractor_params: {{weights: {path}, sha256: {sha256}}}.")
    return sha256


class InceptionV3Features:
    """2048-d InceptionV3 pool features of images resized to 299×299.

    Args:
        data_dir: Unused (the features do not depend on the dataset).
        image_shape: ``(h, w, c)`` of the images to score (``c`` is 1 or 3).
        weights: Path of the weights file; default: the Keras cache.
        sha256: Expected sha256 of the weights (required for weights other
            than the official file).

    Raises:
        ConfigError: Missing or mismatched weights, or images that are
            neither grey nor RGB.

    """

    name = "inception_v3"
    resize = f"bilinear {INPUT_SIZE}x{INPUT_SIZE}"
    label_names: list[str] = []
    multi_label = False

    def __init__(self, *, data_dir: Any = None, image_shape: tuple[int, int, int],
                 weights: str | None = None, sha256: str | None = None):
        if int(image_shape[-1]) not in (1, 3):
            raise ConfigError(f"inception_v3 scores grey or RGB images; these have "
                              f"{image_shape[-1]} channels.")
        if sha256 is not None and (not isinstance(sha256, str) or len(sha256) != 64):
            raise ValueError(f"sha256 must be a 64-character hex digest, got {sha256!r}")
        self.weights_path = locate_weights(weights)
        self.weights_sha256 = verify_weights(self.weights_path, sha256)
        self.model = self._build()

    def _build(self) -> Any:
        import keras

        model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                               input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        try:
            model.load_weights(str(self.weights_path))
        except (ValueError, OSError, KeyError) as exc:
            raise ConfigError(f"The InceptionV3 weights {self.weights_path} do not fit Keras' "
                              f"InceptionV3 without its top ({exc}).") from None
        return model

    def preprocess(self, images: np.ndarray) -> Any:
        """``(n, h, w, c)`` in [-1, 1] → ``(n, 299, 299, 3)`` (bilinear; grey repeated)."""
        import tensorflow as tf

        batch = tf.convert_to_tensor(images, dtype=tf.float32)
        if batch.shape[-1] == 1:
            batch = tf.repeat(batch, 3, axis=-1)
        return tf.image.resize(batch, (INPUT_SIZE, INPUT_SIZE), method="bilinear")

    def features(self, images: np.ndarray) -> np.ndarray:
        """``(n, 2048)`` float32 pool features."""
        outputs = [np.asarray(self.model(self.preprocess(images[i:i + INNER_BATCH]),
                                         training=False))
                   for i in range(0, len(images), INNER_BATCH)]
        return np.concatenate(outputs).astype(np.float32)

    def probabilities(self, images: np.ndarray) -> None:
        """``None``: without its top layer InceptionV3 is no classifier."""
        return None
