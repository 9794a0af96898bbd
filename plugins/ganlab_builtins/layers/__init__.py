"""Layers shared by the built-in architectures (import keras: load lazily)."""

from ganlab_builtins.layers.spectral import SpectralNormalization

__all__ = ["SpectralNormalization"]
