"""A BigGAN-style architecture (Brock, Donahue & Simonyan 2019), at 32, 64 and 128 pixels.

"Large Scale GAN Training for High Fidelity Natural Image Synthesis",
https://arxiv.org/abs/1809.11096, appendix B, and the authors' released
BigGAN-PyTorch code (``ajbrock/BigGAN-PyTorch``, ``BigGAN.py``), whose
architecture tables these networks follow:

- ResNet blocks. A generator block is CBN, ReLU, nearest-neighbour up-sampling
  ×2, 3×3 conv, CBN, ReLU, 3×3 conv, plus a learned 1×1 shortcut of the
  up-sampled input. A discriminator block is ReLU, 3×3 conv, ReLU, 3×3 conv,
  2×2 average pooling, plus a 1×1 shortcut; the first block has no leading
  ReLU (it sees the image). The generator ends in BN, ReLU, 3×3 conv, tanh;
  the discriminator in ReLU, global *sum* pooling and a linear logit.
- A channel multiplier ``ch`` (``base_filters``; the paper uses 96 at 128 px,
  the code defaults to 64):

  ====  ==============================================  =========================
  size  generator (4×4 → image)                          discriminator (image → )
  ====  ==============================================  =========================
  32    4ch → 4ch → 4ch → 4ch (3 blocks)                 4ch ↓, 4ch ↓, 4ch, 4ch
  64    16ch → 16ch → 8ch → 4ch → 2ch (4 blocks)         ch ↓, 2ch ↓, 4ch ↓, 8ch ↓, 16ch
  128   16ch → 16ch → 8ch → 4ch → 2ch → ch (5 blocks)    ch ↓, 2ch ↓, 4ch ↓, 8ch ↓, 16ch ↓, 16ch
  ====  ==============================================  =========================

- A self-attention block (Zhang et al. 2019, "Self-Attention Generative
  Adversarial Networks") after the generator block, and after the first
  discriminator block, whose output has ``attention_resolution`` pixels (64
  at 128 px, as in the paper).
- Orthogonal initialization of every convolution, dense layer and embedding.
- Spectral normalization (Miyato et al. 2018) in both networks.
- **Hierarchical latent.** z is cut into one chunk per generator block plus
  one: the first chunk is projected to the 4×4 map, and each block's
  conditional batch norm gets its own chunk.
- **Shared class embedding.** A conditional generator embeds its class once
  (``shared_dim`` values); each block's condition is that embedding
  concatenated with the block's z chunk, linearly projected to the gain
  ``1 + W_γ c`` and bias ``W_β c`` of every batch norm in the block.
- **Projection discriminator** (Miyato & Koyama 2018): a conditional
  discriminator adds ``<embed(y), features>`` to its logit.

The latent, with ``latent_dim = d`` and ``num_classes = K``: the generator's
input has ``d + K`` entries (as for every ganlab architecture, ``latent_dim``
counts z only). The first ``d`` are z, split into ``n`` chunks (``n`` = 4, 5,
6 at 32, 64, 128 px) as evenly as possible, the first ``d mod n`` chunks one
entry longer (with the default ``d = 120`` and 128 px: six chunks of 20, as in
the paper). The last ``K`` are the class entries: their argmax is the class
(``ganlab.contracts.latent_class``), which is embedded; they are in no chunk.

Unconditional (``num_classes: 0``): no class embedding; each block's batch
norm is conditioned on its z chunk alone (as compare_gan's unconditional
BigGAN does), so the hierarchical latent still reaches every block.

Documented departures: a single self-attention block in the discriminator
even where several of its blocks share the resolution (at 32 px);
``latent_dim`` need not be divisible by the number of chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ganlab import hookimpl, params
from ganlab.contracts import LATENT_DISTRIBUTIONS
from ganlab_builtins.architecture import SquareImageArchitecture, check_square_image_shape
from ganlab_builtins.biggan.tables import IMAGE_SIZES, attention_resolutions, generator_blocks
from ganlab_builtins.layers import spectral_norm_mode

if TYPE_CHECKING:  # keras is imported lazily: loading the plugin must stay cheap.
    import keras

#: The paper's largest attention resolution (at 128 px); smaller images use half their size.
PAPER_ATTENTION = 64


class BigGAN(SquareImageArchitecture):
    """BigGAN-style generator and discriminator (Brock et al. 2019).

    Args:
        image_shape: ``(height, width, channels)`` of the training images, from
            the dataset: square, 32, 64 or 128 pixels, 1 or 3 channels.
        latent_dim: Length of z, split hierarchically across the generator
            (120 in the paper at 128 px); at least the number of chunks.
        num_classes: ``0`` (unconditional) or the dataset's class count ``K``;
            the generator's input then has ``K`` class entries after z.
        base_filters: The channel multiplier ``ch`` of both networks.
        generator_filters: ``ch`` for the generator only.
        discriminator_filters: ``ch`` for the discriminator only.
        shared_dim: Size of the shared class embedding (128 in the paper).
        attention_resolution: Resolution of the feature maps the self-attention
            block attends over: ``0`` for none, else a power of two from 8 to
            half the image size; ``None`` (the default) picks 64, or half
            the image size when that is smaller.
        spectral_norm: ``"both"`` (the paper), ``"discriminator"`` or ``"none"``.
        latent_distribution: ``"normal"`` (N(0, 1), the paper) or ``"uniform"``.
        batchnorm_momentum: Decay of batch norm's moving statistics (Keras
            convention: 0.9 equals PyTorch's 0.1, BigGAN-PyTorch's default).
        batchnorm_epsilon: Batch norm's variance epsilon.
        synchronized_bn: Batch statistics over all replicas (BigGAN's cross-replica BN).

    Raises:
        ValueError: An unsupported image shape or parameter value.
        TypeError: A parameter of the wrong type.

    """

    family = "BigGAN"
    repr_fields = ("image_shape", "latent_dim", "generator_filters", "discriminator_filters",
                   "attention_resolution", "spectral_norm", "num_classes")

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        latent_dim: int = 120,
        num_classes: int = 0,
        base_filters: int = 64,
        generator_filters: int | None = None,
        discriminator_filters: int | None = None,
        shared_dim: int = 128,
        attention_resolution: int | None = None,
        spectral_norm: str = "both",
        latent_distribution: str = "normal",
        batchnorm_momentum: float = 0.9,
        batchnorm_epsilon: float = 1e-5,
        synchronized_bn: bool = False,
    ) -> None:
        self.image_shape = check_square_image_shape(self.family, image_shape, IMAGE_SIZES)
        self._set_latent(latent_dim, num_classes)
        chunks = len(generator_blocks(self.image_size, 1)) + 1
        if self.noise_dim < chunks:
            raise ValueError(
                f"latent_dim must be at least {chunks} at {self.image_size} px: z is split "
                f"into {chunks} chunks (one for the 4×4 projection, one per generator "
                f"block), got {self.noise_dim}")
        self._set_filters(base_filters, generator_filters, discriminator_filters)
        self.shared_dim = params.positive_int("shared_dim", shared_dim)
        self.attention_resolution = self._check_attention(attention_resolution)
        self.spectral_norm = spectral_norm_mode(spectral_norm)
        self.latent_distribution = params.choice(
            "latent_distribution", latent_distribution, LATENT_DISTRIBUTIONS)
        self._set_batch_norm(batchnorm_momentum, batchnorm_epsilon, synchronized_bn)

    def latent_chunks(self) -> list[int]:
        """Sizes of z's chunks: the 4×4 projection's, then one per generator block."""
        count = len(generator_blocks(self.image_size, 1)) + 1
        size, longer = divmod(self.noise_dim, count)
        return [size + (1 if index < longer else 0) for index in range(count)]

    def build_generator(self) -> keras.Model:
        """The generator: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1]."""
        from ganlab_builtins.biggan.networks import build_generator

        return build_generator(self)

    def build_discriminator(self) -> keras.Model:
        """The discriminator: images (with labels, if conditional) → ``(batch, 1)`` logits."""
        from ganlab_builtins.biggan.networks import build_discriminator

        return build_discriminator(self)

    def _check_attention(self, value: Any) -> int:
        allowed = attention_resolutions(self.image_size)
        if value is None:
            return min(PAPER_ATTENTION, self.image_size // 2)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"attention_resolution must be a whole number (0 for none), "
                            f"got {value!r}")
        if value != 0 and value not in allowed:
            raise ValueError(
                f"attention_resolution must be 0 (no self-attention) or one of "
                f"{', '.join(map(str, allowed))} at {self.image_size} px (a feature-map "
                f"size both networks have), got {value}")
        return value


@hookimpl
def register_architectures(register: Any) -> None:
    """Register ``biggan``."""
    register("biggan", BigGAN,
             description="BigGAN-style (Brock et al. 2019): ResNet blocks, hierarchical z, "
                         "shared-embedding CBN, self-attention, SN, 32/64/128 px")
