"""A metric: how far the generated mean pixel value is from the real one."""

import numpy as np


class MeanGap:
    """|mean(generated) - mean(real)| over ``num_images`` images.

    Args:
        num_images: Images drawn from the generator and from the data.

    """

    name = "example_plugin_mean_gap"

    def __init__(self, num_images: int = 64):
        self.num_images = num_images

    def compute(self, generate, dataset) -> dict:
        """``generate(n)`` gives n images in [-1, 1]; ``dataset`` yields real images."""
        fake = np.asarray(generate(self.num_images))
        real = np.stack([np.asarray(image) for image in dataset.take(self.num_images)])
        return {"mean_gap": float(abs(fake.mean() - real.mean()))}
