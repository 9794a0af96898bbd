"""A synthetic dataset held in memory: Gaussian blobs on a dark background."""

import numpy as np

from ganlab import params
from ganlab.data import InMemoryDataset


class Blobs(InMemoryDataset):
    """``count`` images of one soft blob each, at random places (no files: source is None).

    Args:
        image_size: Height and width in pixels.
        channels: 1 (gray) or 3 (RGB).
        count: Number of training images.
        seed: Seed of the blob positions.

    """

    def __init__(self, image_size: int = 16, channels: int = 1, count: int = 256,
                 seed: int = 0):
        self.image_size = params.positive_int("image_size", image_size)
        self.channels = params.choice("channels", channels, (1, 3))
        self.count = params.positive_int("count", count)
        self.seed = seed
        self.image_shape = (self.image_size, self.image_size, self.channels)

    def images(self, split: str) -> np.ndarray:
        """uint8 images; the base class scales them to [-1, 1]."""
        rng = np.random.default_rng(self.seed)
        grid = np.arange(self.image_size)
        centers = rng.uniform(0, self.image_size, size=(self.count, 2))
        rows = (grid[None, :, None] - centers[:, 0, None, None]) ** 2
        cols = (grid[None, None, :] - centers[:, 1, None, None]) ** 2
        blobs = np.exp(-(rows + cols) / (2 * (self.image_size / 6) ** 2))
        pixels = (255 * blobs).astype(np.uint8)[..., None]
        return np.repeat(pixels, self.channels, axis=-1)
