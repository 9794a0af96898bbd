"""Layers shared by the built-in architectures.

``from ganlab_builtins.layers import SpectralNormalization`` imports Keras;
the rest of this package (the ``spectral_norm`` parameter's checks) does not,
so an architecture module can validate its params without loading TensorFlow.
"""

from __future__ import annotations

from typing import Any

from ganlab import params

#: Values of the ``spectral_norm`` parameter shared by the built-in architectures.
SPECTRAL_NORM_MODES = ("none", "discriminator", "both")

__all__ = ["SPECTRAL_NORM_MODES", "SpectralNormalization", "spectral_norm_mode"]


def spectral_norm_mode(value: Any) -> str:
    """Check a ``spectral_norm`` parameter: ``none``, ``discriminator`` or ``both``.

    Raises:
        ValueError: Any other value (the message lists the allowed ones).

    """
    return params.choice("spectral_norm", value, SPECTRAL_NORM_MODES)


def __getattr__(name: str) -> Any:
    # Keras is imported only when the layer itself is asked for.
    if name == "SpectralNormalization":
        from ganlab_builtins.layers.spectral import SpectralNormalization

        return SpectralNormalization
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
