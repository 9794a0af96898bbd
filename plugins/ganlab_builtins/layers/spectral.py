"""Spectral normalization of a layer's weight (Miyato et al. 2018).

"Spectral Normalization for Generative Adversarial Networks",
https://arxiv.org/abs/1802.05957 (Algorithm 1 and Appendix A).

The wrapped layer computes with ``W / σ(W)``, where ``σ(W)`` is the largest
singular value of its weight seen as a matrix of ``d_out`` columns (a
convolution kernel ``(kh, kw, in, out)`` is reshaped to ``(kh·kw·in, out)``,
the transpose of the paper's ``(out, in·kh·kw)``: the same singular values).
``σ`` is estimated by power iteration with a vector ``u`` that persists from
call to call, so one iteration per training step suffices (the paper's
choice):

.. code-block:: text

    v ← normalize(W u),  u ← normalize(Wᵀ v)      (power_iterations times)
    σ ≈ ‖W u‖                                      (u held constant: no gradient)

The gradient flows through ``W`` in ``W / σ`` and in ``σ = ‖W u‖`` (with ``u``
constant, ``∂σ/∂W = v uᵀ`` for ``v = normalize(W u)``: the paper's gradient).

Why this layer and not ``keras.layers.SpectralNormalization`` (Keras 3.15):
that wrapper *overwrites the wrapped layer's trainable kernel* with ``W / σ``
on every training call, so ``σ`` gets no gradient, repeated calls compound
the division, and inference uses whatever the kernel was last overwritten
with; it has no epsilon, keeps ``u`` with no distribution aggregation, and
does not wrap ``Embedding`` cleanly. Here the wrapped layer's own variables
are never written: the normalized weight is substituted for the call only
(``keras.StatelessScope``), and ``u`` is the only state.

State and distribution:

- ``u`` is a non-trainable weight of the wrapper, so it is in the model's
  weights and in every checkpoint of it (a resumed run continues the same
  power iteration).
- ``u`` changes only on calls with ``training=True``. With ``training=False``
  the stored ``u`` is used as is, so inference uses exactly the ``σ`` the last
  training call computed (for the same ``W``).
- Under ``tf.distribute`` every replica computes the same ``u`` from the same
  mirrored ``W``; the variable is aggregated ``only_first_replica`` (the
  aggregation TensorFlow documents for "every replica performing the same
  update"), so replicas never drift apart.
"""

from __future__ import annotations

from typing import Any

import keras

#: Layer attribute holding the weight to normalize, by layer type.
_WEIGHT_ATTRIBUTES = ("kernel", "embeddings")


@keras.saving.register_keras_serializable(package="ganlab_builtins")
class SpectralNormalization(keras.layers.Wrapper):
    """Wraps a ``Dense``, ``Conv2D``, ``Conv2DTranspose`` or ``Embedding``: weight ``W / σ(W)``.

    Args:
        layer: The layer to normalize; it must have a ``kernel`` or an
            ``embeddings`` weight (any Keras ``Dense``/``Conv*``/``Embedding``).
        power_iterations: Power-iteration steps per training call (1 in the
            paper: ``u`` carries over between steps).
        epsilon: Added to norms before dividing, so a zero weight gives a zero
            output rather than NaN.
        **kwargs: Keras layer arguments (``name``, ...).

    Raises:
        ValueError: ``power_iterations`` below 1, ``epsilon`` not positive, or
            (at build) a layer with no ``kernel``/``embeddings`` weight.

    Example:
        >>> dense = SpectralNormalization(keras.layers.Dense(10))

    """

    def __init__(self, layer: keras.layers.Layer, power_iterations: int = 1,
                 epsilon: float = 1e-12, **kwargs: Any) -> None:
        # Compute in the wrapped layer's precision (a float32 output layer stays float32),
        # but read the weight and u unrounded: the wrapped layer casts W / σ itself.
        kwargs.setdefault("dtype", layer.dtype_policy)
        kwargs.setdefault("autocast", False)
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int) \
                or power_iterations < 1:
            raise ValueError(f"power_iterations must be an integer >= 1, got {power_iterations!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        self.power_iterations = power_iterations
        self.epsilon = float(epsilon)
        self.u: keras.Variable | None = None

    def build(self, input_shape: Any = None) -> None:
        """Build the wrapped layer, then ``u`` (one entry per output unit)."""
        super().build(input_shape)
        weight = self.weight
        self.u = self.add_weight(
            shape=(1, self._output_units(weight)), name="sn_u",
            # A random start, as in the paper; unit length is restored by the first iteration.
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False, autocast=False, dtype=weight.dtype,
            aggregation="only_first_replica")

    @property
    def weight(self) -> keras.Variable:
        """The wrapped layer's weight that is normalized (its kernel or embeddings)."""
        for attribute in _WEIGHT_ATTRIBUTES:
            weight = getattr(self.layer, attribute, None)
            if isinstance(weight, keras.Variable):
                return weight
        raise ValueError(
            f"SpectralNormalization wraps layers with a 'kernel' or 'embeddings' weight; "
            f"{type(self.layer).__name__} {self.layer.name!r} has neither")

    def _output_axis(self) -> int:
        # A transposed convolution's kernel is (kh, kw, out, in): its output axis is -2.
        return -2 if isinstance(self.layer, keras.layers.Conv2DTranspose) else -1

    def _output_units(self, weight: keras.Variable) -> int:
        return int(weight.shape[self._output_axis()])

    def weight_matrix(self, weight: Any = None) -> Any:
        """The weight as a ``(rows, d_out)`` matrix (output units last)."""
        weight = keras.ops.convert_to_tensor(self.weight if weight is None else weight)
        if self._output_axis() == -2:
            weight = keras.ops.swapaxes(weight, -1, -2)
        return keras.ops.reshape(weight, (-1, weight.shape[-1]))

    def _normalize(self, vector: Any) -> Any:
        norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(vector)))
        return vector / (norm + self.epsilon)

    def power_iteration(self, matrix: Any, u: Any, steps: int) -> Any:
        """``u`` after ``steps`` power iterations on ``matrixᵀ matrix`` (no gradient)."""
        for _ in range(steps):
            v = self._normalize(keras.ops.matmul(u, keras.ops.transpose(matrix)))
            u = self._normalize(keras.ops.matmul(v, matrix))
        return keras.ops.stop_gradient(u)

    def sigma(self, matrix: Any, u: Any) -> Any:
        """The estimate ``‖W u‖`` (``u`` of unit length) of the largest singular value.

        Never above the true value, and differentiable in ``W``. ``u`` is
        normalized again so that the random initial ``u`` also gives a lower bound.
        """
        u = self._normalize(u)
        return keras.ops.sqrt(keras.ops.sum(keras.ops.square(
            keras.ops.matmul(u, keras.ops.transpose(matrix))))) + self.epsilon

    def spectral_norm(self) -> Any:
        """The current estimate of ``σ(W)`` from the stored ``u`` (changes nothing)."""
        return self.sigma(self.weight_matrix(), keras.ops.convert_to_tensor(self.u))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The wrapped layer's output computed with ``W / σ(W)``; updates ``u`` when training."""
        weight = self.weight
        # In the variable dtype (float32 under mixed precision): no autocast here.
        kernel = keras.ops.convert_to_tensor(weight)
        matrix = self.weight_matrix(keras.ops.cast(kernel, self.u.dtype))
        u = keras.ops.convert_to_tensor(self.u)
        if training:
            u = self.power_iteration(matrix, u, self.power_iterations)
            self.u.assign(u)
        normalized = kernel / keras.ops.cast(self.sigma(matrix, u), kernel.dtype)
        # The wrapped layer reads `normalized` in place of its weight for this call only.
        with keras.StatelessScope(state_mapping=[(weight, normalized)]):
            return self.layer(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The wrapped layer's output shape."""
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        """The wrapper's config (the wrapped layer's included), for ``.keras`` files."""
        return {**super().get_config(), "power_iterations": self.power_iterations,
                "epsilon": self.epsilon}


def spectral(layer: keras.layers.Layer, enabled: bool) -> keras.layers.Layer:
    """``layer`` wrapped in :class:`SpectralNormalization` when ``enabled``, else ``layer``.

    The wrapper is named ``<layer name>_sn``, so the wrapped layer keeps its
    name and its weights keep their paths.
    """
    if not enabled:
        return layer
    return SpectralNormalization(layer, name=f"{layer.name}_sn")
