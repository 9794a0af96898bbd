"""The BigGAN layers Keras has no equivalent of: self-attention and conditional batch norm.

Both are registered Keras layers (package ``ganlab_builtins``) so that an exported
``generator.keras`` reloads wherever this module has been imported. Their
convolutions and dense projections start orthogonal (Saxe et al. 2014), as
every weight of BigGAN does, and are spectrally normalized when asked.
"""

from __future__ import annotations

from typing import Any

import keras

from ganlab_builtins.layers.spectral import spectral

#: SAGAN's channel reduction for the query and key projections (C / 8).
ATTENTION_REDUCTION = 8
#: BigGAN's value projection keeps half of the channels (C / 2).
VALUE_REDUCTION = 2


def orthogonal() -> keras.initializers.Initializer:
    """A fresh orthogonal initializer (gain 1): BigGAN's initialization of every weight."""
    return keras.initializers.Orthogonal()


def conv(filters: int, kernel_size: int, *, spectral_norm: bool, name: str,
         use_bias: bool = True, **kwargs: Any) -> keras.layers.Layer:
    """A stride-1 'same' convolution, orthogonally initialized, optionally spectrally normalized."""
    layer = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias,
                                kernel_initializer=orthogonal(), name=name, **kwargs)
    return spectral(layer, spectral_norm)


def dense(units: int, *, spectral_norm: bool, name: str, use_bias: bool = True,
          **kwargs: Any) -> keras.layers.Layer:
    """A dense layer, orthogonally initialized, optionally spectrally normalized."""
    layer = keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=orthogonal(),
                               name=name, **kwargs)
    return spectral(layer, spectral_norm)


@keras.saving.register_keras_serializable(package="ganlab_builtins")
class SelfAttention(keras.layers.Layer):
    """The self-attention block of SAGAN (Zhang et al. 2019), as BigGAN uses it.

    For a ``(batch, h, w, C)`` map ``x``: a query ``f(x)`` and a key ``g(x)``
    (1×1 convolutions to ``C / 8`` channels), a value ``h(x)`` (``C / 2``
    channels), keys and values max-pooled 2×2 (BigGAN's saving: a quarter of
    the positions to attend to), ``β = softmax(f gᵀ)`` over the key positions,
    and ``x + γ · v(β h)`` with ``v`` a 1×1 convolution back to ``C``
    channels. The 1×1 convolutions have no bias (as in both papers' code).
    ``γ`` is learned and starts at 0, so the block is the identity at
    initialization and the network first relies on local convolutions.

    Args:
        channels: ``C``, the channels of the input map.
        spectral_norm: Spectrally normalize the four 1×1 convolutions.

    """

    def __init__(self, channels: int, spectral_norm: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = channels
        self.spectral_norm = spectral_norm
        reduced = max(1, channels // ATTENTION_REDUCTION)
        self.value_channels = max(1, channels // VALUE_REDUCTION)
        self.query = conv(reduced, 1, use_bias=False, spectral_norm=spectral_norm, name="query")
        self.key = conv(reduced, 1, use_bias=False, spectral_norm=spectral_norm, name="key")
        self.value = conv(self.value_channels, 1, use_bias=False, spectral_norm=spectral_norm,
                          name="value")
        self.attended = conv(channels, 1, use_bias=False, spectral_norm=spectral_norm,
                             name="attended")
        self.pool = keras.layers.MaxPooling2D(2, name="pool")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``γ`` and the convolutions for a ``(batch, h, w, C)`` input."""
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None or height % 2 or width % 2:
            raise ValueError(f"SelfAttention needs a static, even height and width, got "
                             f"{input_shape}")
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")
        self.query.build(input_shape)
        self.key.build(input_shape)
        self.value.build(input_shape)
        self.attended.build((*input_shape[:3], self.value_channels))

    def call(self, x: Any, training: bool | None = None) -> Any:
        """``x + γ · v(softmax(f gᵀ) h)``, the same shape as ``x``."""
        _, height, width, _ = x.shape
        positions, pooled = height * width, (height // 2) * (width // 2)
        query = self.query(x, training=training)
        queries = keras.ops.reshape(query, (-1, positions, query.shape[-1]))
        keys = keras.ops.reshape(self.pool(self.key(x, training=training)),
                                 (-1, pooled, query.shape[-1]))
        values = keras.ops.reshape(self.pool(self.value(x, training=training)),
                                   (-1, pooled, self.value_channels))
        weights = keras.ops.softmax(
            keras.ops.matmul(queries, keras.ops.transpose(keys, (0, 2, 1))), axis=-1)
        attended = keras.ops.reshape(keras.ops.matmul(weights, values),
                                     (-1, height, width, self.value_channels))
        gamma = keras.ops.cast(self.gamma, x.dtype)
        return x + gamma * self.attended(attended, training=training)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The layer's config, for ``.keras`` files."""
        return {**super().get_config(), "channels": self.channels,
                "spectral_norm": self.spectral_norm}


@keras.saving.register_keras_serializable(package="ganlab_builtins")
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch norm whose per-channel gain and bias are linear functions of a condition.

    Called on ``[x, condition]`` with ``x`` ``(batch, h, w, C)`` and
    ``condition`` ``(batch, d)``: ``x`` is batch-normalized without its own
    scale and offset, then ``x̂ · (1 + W_γ c) + W_β c`` (de Vries et al. 2017;
    Dumoulin et al. 2017; BigGAN conditions on the shared class embedding
    concatenated with a chunk of z). The gain is ``1 +`` a projection, so it
    starts around 1, as in BigGAN's code; the projections have no bias.

    Args:
        channels: ``C``.
        momentum: Decay of the moving statistics (Keras convention).
        epsilon: Variance epsilon.
        synchronized: Batch statistics over all replicas.
        spectral_norm: Spectrally normalize the two projections (BigGAN does).

    """

    def __init__(self, channels: int, momentum: float = 0.9, epsilon: float = 1e-5,
                 synchronized: bool = False, spectral_norm: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        self.synchronized = synchronized
        self.spectral_norm = spectral_norm
        self.norm = keras.layers.BatchNormalization(
            center=False, scale=False, momentum=momentum, epsilon=epsilon,
            synchronized=synchronized, name="norm")
        self.gain = dense(channels, use_bias=False, spectral_norm=spectral_norm, name="gain")
        self.bias = dense(channels, use_bias=False, spectral_norm=spectral_norm, name="bias")

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        """Build the normalization for ``x`` and the projections for the condition."""
        image_shape, condition_shape = input_shape
        self.norm.build(image_shape)
        self.gain.build(condition_shape)
        self.bias.build(condition_shape)

    def call(self, inputs: list[Any], training: bool | None = None) -> Any:
        """``[x, condition]`` → ``BN(x) · (1 + W_γ c) + W_β c``."""
        x, condition = inputs
        normalized = self.norm(x, training=training)
        gain = 1.0 + self.gain(condition, training=training)
        bias = self.bias(condition, training=training)
        return normalized * gain[:, None, None, :] + bias[:, None, None, :]

    def compute_output_shape(self, input_shape: list[tuple[int | None, ...]]
                             ) -> tuple[int | None, ...]:
        """The shape of ``x``."""
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        """The layer's config, for ``.keras`` files."""
        return {**super().get_config(), "channels": self.channels, "momentum": self.momentum,
                "epsilon": self.epsilon, "synchronized": self.synchronized,
                "spectral_norm": self.spectral_norm}
