"""The contracts between the core and component plugins.

These are the types a plugin author implements or receives. They import no
TensorFlow so that plugins can be inspected cheaply; tensors are typed ``Any``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LATENT_DISTRIBUTIONS = ("normal", "uniform")


@runtime_checkable
class Architecture(Protocol):
    """A generator/discriminator family, as returned by an architecture factory.

    The factory is called as ``factory(image_shape=(h, w, c), **params)``.

    Attributes:
        latent_dim: Length of the generator's latent input.
        latent_distribution: ``"normal"`` (N(0, 1)) or ``"uniform"`` (U(-1, 1)),
            the prior the engine samples latents from.

    """

    latent_dim: int
    latent_distribution: str

    def build_generator(self) -> Any:
        """A ``keras.Model``: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1]."""

    def build_discriminator(self) -> Any:
        """A ``keras.Model``: ``(batch, h, w, c)`` → ``(batch, 1)`` logits."""


@dataclass(frozen=True)
class LossInputs:
    """Everything a paired GAN loss may need for one replica's batch.

    Attributes:
        real_data: Real images, ``(batch, h, w, c)``.
        generated_data: ``generator(latents)``, same shape.
        real_logits: Discriminator logits on ``real_data`` (float32).
        fake_logits: Discriminator logits on ``generated_data`` (float32).
        discriminator: The discriminator model, for gradient penalties.
        latents: The latents ``generated_data`` came from.

    """

    real_data: Any
    generated_data: Any
    real_logits: Any
    fake_logits: Any
    discriminator: Callable[..., Any]
    latents: Any = None


@runtime_checkable
class GANLoss(Protocol):
    """A paired generator/discriminator loss (the TF-GAN convention).

    Both methods return a scalar: the mean over the replica's batch. The
    engine scales by the number of replicas and handles loss scaling.
    """

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """The discriminator's loss for one batch."""

    def generator_loss(self, inputs: LossInputs) -> Any:
        """The generator's loss for one batch."""


@dataclass
class RunContext:
    """What a callback can use about the current run (``self.model.run``).

    Attributes:
        run_dir: The run directory (see DESIGN.md §6).
        name: The experiment name.
        config: The resolved experiment config (plain data).
        image_shape: ``(h, w, c)`` of the training images.
        latent_dim: Generator latent size.
        latent_distribution: ``"normal"`` or ``"uniform"``.
        latent_bank: The fixed, numbered latents (``numpy`` array, ``(n, latent_dim)``);
            the sample grid draws the first cells from it.
        summary_writer: A ``tf.summary`` writer for the run's TensorBoard folder.
        seed: The experiment seed.

    """

    run_dir: Path
    name: str
    config: dict[str, Any]
    image_shape: tuple[int, int, int]
    latent_dim: int
    latent_distribution: str
    latent_bank: Any
    summary_writer: Any = None
    seed: int = 0

    @property
    def samples_dir(self) -> Path:
        """``run_dir/samples``."""
        return self.run_dir / "samples"

    @property
    def arithmetic_dir(self) -> Path:
        """``run_dir/arithmetic``."""
        return self.run_dir / "arithmetic"

    @property
    def interpolation_dir(self) -> Path:
        """``run_dir/interpolation``."""
        return self.run_dir / "interpolation"


@runtime_checkable
class Metric(Protocol):
    """Scores a generator against a dataset split."""

    name: str

    def compute(self, generate: Callable[[int], Any], dataset: Any) -> dict[str, float]:
        """Scores for ``generate(n)`` images against ``dataset``."""
