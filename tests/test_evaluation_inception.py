"""The ``inception_v3`` extractor: weights lookup, hash checks, and a real forward pass.

The official ImageNet file cannot be used here (no network), so the forward
pass uses weights of a randomly initialised Keras InceptionV3 saved by the
test: a user's own weights, accepted through the ``sha256`` param.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from ganlab_builtins.metrics.inception import WEIGHTS_FILE, WEIGHTS_URL, InceptionV3Features

from ganlab.errors import ConfigError


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def test_missing_weights_say_where_to_get_them_and_where_to_put_them(keras_home: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        InceptionV3Features(image_shape=(16, 16, 1))
    message = str(raised.value)
    assert WEIGHTS_URL in message and str(keras_home / "models" / WEIGHTS_FILE) in message
    assert "extractor_params" in message and "\n" not in message
    with pytest.raises(ConfigError, match="does not exist"):
        InceptionV3Features(image_shape=(16, 16, 1), weights=str(keras_home / "mine.h5"))


def test_a_cached_file_that_is_not_the_official_one_is_refused(keras_home: Path) -> None:
    cached = keras_home / "models" / WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"an interrupted download")
    with pytest.raises(ConfigError) as raised:
        InceptionV3Features(image_shape=(16, 16, 3))
    sha256 = hashlib.sha256(b"an interrupted download").hexdigest()
    assert "not the official" in str(raised.value) and sha256 in str(raised.value)


def test_an_expected_sha256_must_match(tmp_path: Path) -> None:
    weights = tmp_path / "mine.weights.h5"
    weights.write_bytes(b"weights")
    with pytest.raises(ConfigError, match="sha256"):
        InceptionV3Features(image_shape=(16, 16, 3), weights=str(weights), sha256="0" * 64)
    with pytest.raises(ValueError, match="64-character"):
        InceptionV3Features(image_shape=(16, 16, 3), weights=str(weights), sha256="abc")
    with pytest.raises(ConfigError, match="grey or RGB"):
        InceptionV3Features(image_shape=(16, 16, 2), weights=str(weights))


def test_own_weights_load_and_give_2048_pool_features(tmp_path: Path) -> None:
    import keras

    # The convolutions do not depend on the input size: weights saved from a small
    # (75×75, InceptionV3's minimum) model load into the 299×299 one.
    source = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                            input_shape=(75, 75, 3))
    weights = tmp_path / "mine.weights.h5"
    source.save_weights(weights)
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    extractor = InceptionV3Features(image_shape=(8, 8, 1), weights=str(weights), sha256=sha256)
    assert extractor.weights_sha256 == sha256 and extractor.resize == "bilinear 299x299"
    for loaded, saved in zip(extractor.model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)
    grey = np.random.default_rng(0).uniform(-1, 1, size=(2, 8, 8, 1)).astype(np.float32)
    resized = np.asarray(extractor.preprocess(grey))
    assert resized.shape == (2, 299, 299, 3)
    assert np.array_equal(resized[..., 0], resized[..., 2]) and np.abs(resized).max() <= 1.0
    features = extractor.features(grey)
    assert features.shape == (2, 2048) and features.dtype == np.float32
    # Average-pooled ReLU outputs: finite, non-negative, and different for different images.
    assert np.all(np.isfinite(features)) and features.min() >= 0
    assert not np.allclose(features[0], features[1])
    assert extractor.probabilities(grey) is None
