"""Parameter plumbing shared by the built-in architectures (DCGAN, SN-GAN, BigGAN).

The architecture modules hold what their papers describe; what every one of
them checks and stores the same way lives here: the dataset's square image
shape, the latent (z plus a conditional GAN's class entries), the per-network
filter counts and the batch-norm settings. A third-party architecture may use
it, or copy it::

    class MyGAN(SquareImageArchitecture):
        family = "MyGAN"
        repr_fields = ("image_shape", "latent_dim")

        def __init__(self, image_shape, *, latent_dim=128, num_classes=0):
            self.image_shape = check_square_image_shape(
                self.family, image_shape, (32, 64), CHANNELS)
            self._set_latent(latent_dim, num_classes)

No TensorFlow or Keras here: registering and checking an architecture stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ganlab import params
from ganlab.contracts import class_count

#: Image channels the built-in networks generate: 1 (gray) or 3 (RGB).
CHANNELS = (1, 3)


def check_square_image_shape(family: str, image_shape: Sequence[int], sizes: Sequence[int],
                             channels: Sequence[int] = CHANNELS) -> tuple[int, int, int]:
    """The dataset's ``(height, width, channels)``, checked against what ``family`` generates.

    Args:
        family: The architecture's name, which starts every message (``"DCGAN"``).
        image_shape: The shape the engine passes from the dataset.
        sizes: The square image sizes the networks are built for.
        channels: The channel counts they support.

    Returns:
        The shape as a tuple of three ints.

    Raises:
        ValueError: Not three integers, not square, an unsupported size or channel count
            (the message names the dataset setting to change).

    """
    try:
        height, width, depth = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"{family} needs image_shape as (height, width, channels), got {image_shape!r}"
        ) from None
    if height != width or height not in sizes:
        raise ValueError(
            f"{family} generates square images of {', '.join(map(str, sizes))} pixels, but "
            f"the dataset gives {height}×{width}; set the dataset's image size to one of those "
            "(for MNIST, 32)")
    if depth not in channels:
        raise ValueError(f"{family} supports 1 (gray) or 3 (RGB) image channels, got {depth}")
    return height, width, depth


class SquareImageArchitecture:
    """Attributes and checks every built-in architecture shares.

    A subclass sets ``image_shape`` (see :func:`check_square_image_shape`) and
    calls the ``_set_*`` helpers from its ``__init__``, whose keyword
    parameters stay its own: they are what ``ganlab list-plugins --components``
    lists and what the experiment file's ``params`` are checked against.

    Attributes:
        family: The name in messages and in ``repr``.
        repr_fields: The attributes ``repr`` shows, in order.

    """

    family: ClassVar[str]
    repr_fields: ClassVar[tuple[str, ...]]
    image_shape: tuple[int, int, int]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.repr_fields)
        return f"{self.family}({fields})"

    @property
    def image_size(self) -> int:
        """Height (= width) of the images."""
        return self.image_shape[0]

    @property
    def channels(self) -> int:
        """Image channels: 1 (gray) or 3 (RGB)."""
        return self.image_shape[2]

    def _set_latent(self, latent_dim: Any, num_classes: Any) -> None:
        """``noise_dim`` (z), ``num_classes`` and ``latent_dim``, the generator's input size.

        A conditional GAN's latent is z followed by one entry per class
        (:func:`ganlab.contracts.latent_class`), so ``latent_dim`` counts both.
        """
        self.noise_dim = params.positive_int("latent_dim", latent_dim)
        self.num_classes = class_count("num_classes", num_classes)
        self.latent_dim = self.noise_dim + self.num_classes

    def _set_filters(self, base_filters: Any, generator_filters: Any,
                     discriminator_filters: Any) -> None:
        """``base_filters`` and each network's own count, which defaults to it."""
        self.base_filters = params.positive_int("base_filters", base_filters)
        self.generator_filters = params.positive_int(
            "generator_filters", base_filters if generator_filters is None else generator_filters)
        self.discriminator_filters = params.positive_int(
            "discriminator_filters",
            base_filters if discriminator_filters is None else discriminator_filters)

    def _set_batch_norm(self, momentum: Any, epsilon: Any, synchronized: Any) -> None:
        """``batchnorm_momentum``, ``batchnorm_epsilon`` and ``synchronized_bn``.

        The momentum is Keras' decay of the moving statistics, in [0, 1)
        (0.9 equals PyTorch's and Torch's 0.1).
        """
        self.batchnorm_momentum = params.fraction("batchnorm_momentum", momentum)
        self.batchnorm_epsilon = params.positive_number("batchnorm_epsilon", epsilon)
        self.synchronized_bn = params.boolean("synchronized_bn", synchronized)
