"""A small fully connected GAN: quick to train, any image size."""

import keras
import numpy as np

from ganlab import params


class MLP:
    """Generator and discriminator with one hidden layer each.

    Args:
        image_shape: ``(height, width, channels)``, given by ganlab from the dataset.
        latent_dim: Length of the latent vector.
        hidden: Units of the hidden layers.

    """

    latent_distribution = "normal"

    def __init__(self, image_shape, latent_dim: int = 16, hidden: int = 64):
        self.image_shape = tuple(image_shape)
        self.latent_dim = params.positive_int("latent_dim", latent_dim)
        self.hidden = params.positive_int("hidden", hidden)

    def build_generator(self) -> keras.Model:
        """Latents ``(batch, latent_dim)`` → images in [-1, 1] (tanh), float32 output."""
        pixels = int(np.prod(self.image_shape))
        return keras.Sequential([
            keras.Input((self.latent_dim,)),
            keras.layers.Dense(self.hidden, activation="relu"),
            keras.layers.Dense(pixels, activation="tanh", dtype="float32"),
            keras.layers.Reshape(self.image_shape),
        ], name="generator")

    def build_discriminator(self) -> keras.Model:
        """Images → ``(batch, 1)`` logits (no sigmoid: the loss applies it)."""
        return keras.Sequential([
            keras.Input(self.image_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(self.hidden),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dense(1, dtype="float32"),
        ], name="discriminator")
