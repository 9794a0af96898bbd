"""The DCGAN architecture of Radford, Metz & Chintala (2015).

"Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks", https://arxiv.org/abs/1511.06434, and the authors'
released Theano code (``Newmu/dcgan_code``, ``faces/train_uncond_dcgan.py``).

Defaults follow the paper and that code:

- No pooling and no hidden fully connected layers: the generator up-samples
  with stride-2 transposed convolutions, the discriminator down-samples with
  stride-2 convolutions.
- Batch normalization in both networks, except on the generator's output
  layer and the discriminator's input layer.
- ReLU in the generator with a tanh output; LeakyReLU(0.2) in the
  discriminator, whose last layer is a single linear unit (a *logit*: the
  loss applies the sigmoid, see the loss plugins).
- Weights drawn from N(0, 0.02); batch-norm scales (gamma) from N(1, 0.02) and
  offsets (beta) zero, as ``gain_ifn``/``bias_ifn`` in the released code.
- z ~ U(-1, 1) with 100 dimensions; 5×5 kernels; no convolution biases (batch
  norm's beta is the only shift, as in the released code: a bias right before
  batch norm is cancelled by its mean subtraction anyway).

Filter progression (``b`` = base filters, ``S`` = image size): a hidden
feature map of resolution ``r`` has ``b · min(8, S / (2r))`` channels, so the
layer just below the output always has ``b`` channels and channels double
each time the resolution halves, capped at ``8b``.

====  =====================================================  ==============
size  generator (after projecting z to 4×4)                  up-samplings
====  =====================================================  ==============
32    4×4×4b → 8×8×2b → 16×16×b → 32×32×c                   3
64    4×4×8b → 8×8×4b → 16×16×2b → 32×32×b → 64×64×c        4 (the paper)
128   4×4×8b → 8×8×8b → 16×16×4b → 32×32×2b → 64×64×b →     5
      128×128×c
====  =====================================================  ==============

The discriminator mirrors this: stride-2 convolutions from ``S/2 × S/2 × b``
down to the same 4×4 map as the generator's projection, then flatten and a
``Dense(1)`` logit.

Documented departures from the released code (both match the common ports,
e.g. ``soumith/dcgan.torch`` and ``carpedm20/DCGAN-tensorflow``):

- The projection of z is normalized per channel of the 4×4 map (the
  projection *is* a 4×4 transposed convolution of a 1×1 input), where the
  Theano code normalized each of the 4·4·8b units separately.
- Keras batch norm keeps moving statistics for inference; its momentum is the
  *decay* of the moving average. The default 0.9 with epsilon 1e-5 matches
  Torch's ``momentum=0.1`` and TF1 DCGAN ports (``decay=0.9``); Keras' own
  default, 0.99, makes the moving statistics lag far behind a fast-changing
  generator, so samples drawn with ``training=False`` look worse early on.

Spectral normalization (``spectral_norm``, Miyato et al. 2018,
https://arxiv.org/abs/1802.05957) divides every weight of the discriminator
(``discriminator``), or of both networks (``both``), by its largest singular
value (see :class:`ganlab_builtins.layers.SpectralNormalization`). With it the
discriminator has no batch norm, as in SN-DCGAN (the paper's "standard CNN"
discriminator has none): ``discriminator_norm`` then defaults to ``none``.
The generator keeps its batch norm under ``both`` (as SAGAN and BigGAN do).
The layout is otherwise this module's DCGAN (the paper's SN-DCGAN used 3×3/4×4
convolutions, LeakyReLU(0.1) and more layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ganlab import hookimpl, params
from ganlab.contracts import LATENT_DISTRIBUTIONS, latent_class
from ganlab_builtins.architecture import SquareImageArchitecture, check_square_image_shape
from ganlab_builtins.layers import spectral_norm_mode

if TYPE_CHECKING:  # keras is imported lazily: loading the plugin must stay cheap.
    import keras

IMAGE_SIZES = (32, 64, 128)
KERNEL_SIZES = (4, 5)
NORMALIZATIONS = ("batch", "layer", "none")
INIT_STDDEV = 0.02
LEAKY_SLOPE = 0.2
PROJECTION_SIZE = 4


def filters_at(resolution: int, image_size: int, base_filters: int) -> int:
    """Channels of a hidden feature map with the given spatial resolution.

    ``base_filters`` at half the image size, doubling each time the resolution
    halves, at most ``8 * base_filters`` (see the module docstring's table).
    """
    return base_filters * min(8, image_size // (2 * resolution))


def hidden_resolutions(image_size: int) -> list[int]:
    """Resolutions of the hidden feature maps, from 4×4 up to ``image_size / 2``."""
    resolutions = [PROJECTION_SIZE]
    while resolutions[-1] * 2 < image_size:
        resolutions.append(resolutions[-1] * 2)
    return resolutions


class DCGAN(SquareImageArchitecture):
    """DCGAN generator and discriminator (Radford et al. 2015), paper defaults.

    Args:
        image_shape: ``(height, width, channels)`` of the training images, given
            by the engine from the dataset: square, 32, 64 or 128 pixels, 1 or
            3 channels.
        latent_dim: Length of z (100 in the paper).
        base_filters: Channels of the generator's last hidden layer and the
            discriminator's first layer (64 in the paper's figure; the released
            face model used 128).
        generator_filters: ``base_filters`` for the generator only.
        discriminator_filters: ``base_filters`` for the discriminator only.
        kernel_size: 5 (the paper's figure and released code) or 4 (the
            PyTorch/Torch ports, which avoids checkerboard-prone uneven overlap).
        latent_distribution: ``"uniform"`` (U(-1, 1), the paper) or
            ``"normal"`` (N(0, 1), most ports).
        batchnorm_momentum: Decay of batch norm's moving statistics (Keras
            convention: 0.9 here equals Torch's 0.1).
        batchnorm_epsilon: Batch norm's variance epsilon.
        synchronized_bn: Compute batch statistics over the global batch of all
            replicas (``BatchNormalization(synchronized=True)``) instead of
            each replica's share; worth it when per-replica batches are small.
        discriminator_norm: ``"batch"`` (the paper), or ``"layer"``/``"none"``
            for critics trained with a gradient penalty, which Gulrajani et al.
            (2017) note is invalid with batch norm's cross-example coupling.
            Default: ``"batch"``, or ``"none"`` with spectral norm (SN-DCGAN).
        spectral_norm: ``"none"`` (the paper), ``"discriminator"`` (every
            discriminator weight spectrally normalized, Miyato et al. 2018;
            its batch norm dropped unless ``discriminator_norm`` says
            otherwise) or ``"both"`` (the generator's weights too).
        num_classes: ``0`` (unconditional, the paper) or the dataset's class
            count ``K`` for a class-conditional GAN: the latent is then z
            followed by ``K`` class entries (``latent_dim + K`` values), the
            generator draws the class their argmax names (fed to its projection
            as a one-hot code, as in Mirza & Osindero 2014), and the
            discriminator takes ``[images, labels]`` and adds the projection
            term ``<embed(label), features>`` to its logit (Miyato & Koyama
            2018, "cGANs with Projection Discriminator").

    Raises:
        ValueError: An unsupported image shape or parameter value.
        TypeError: A parameter of the wrong type.

    """

    family = "DCGAN"
    repr_fields = ("image_shape", "latent_dim", "generator_filters", "discriminator_filters",
                   "kernel_size", "latent_distribution", "num_classes", "spectral_norm")

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        latent_dim: int = 100,
        base_filters: int = 64,
        generator_filters: int | None = None,
        discriminator_filters: int | None = None,
        kernel_size: int = 5,
        latent_distribution: str = "uniform",
        batchnorm_momentum: float = 0.9,
        batchnorm_epsilon: float = 1e-5,
        synchronized_bn: bool = False,
        discriminator_norm: str | None = None,
        num_classes: int = 0,
        spectral_norm: str = "none",
    ) -> None:
        self.image_shape = check_square_image_shape(self.family, image_shape, IMAGE_SIZES)
        self._set_latent(latent_dim, num_classes)
        self._set_filters(base_filters, generator_filters, discriminator_filters)
        self.kernel_size = params.choice(
            "kernel_size", params.positive_int("kernel_size", kernel_size), KERNEL_SIZES)
        self.latent_distribution = params.choice(
            "latent_distribution", latent_distribution, LATENT_DISTRIBUTIONS)
        if not isinstance(synchronized_bn, bool):  # a TypeError in DCGAN, as it always was
            raise TypeError(f"synchronized_bn must be true or false, got {synchronized_bn!r}")
        self._set_batch_norm(batchnorm_momentum, batchnorm_epsilon, synchronized_bn)
        self.spectral_norm = spectral_norm_mode(spectral_norm)
        if discriminator_norm is None:  # SN-DCGAN's discriminator has no batch norm
            discriminator_norm = "batch" if self.spectral_norm == "none" else "none"
        self.discriminator_norm = params.choice(
            "discriminator_norm", discriminator_norm, NORMALIZATIONS)

    def build_generator(self) -> keras.Model:
        """The generator: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1].

        The output layer computes in float32 under a mixed-precision policy,
        so images are never float16.
        """
        import keras

        filters = [filters_at(r, self.image_size, self.generator_filters)
                   for r in hidden_resolutions(self.image_size)]
        latents = keras.Input(shape=(self.latent_dim,), name="latent")
        x = self._generator_sn(keras.layers.Dense(
            PROJECTION_SIZE * PROJECTION_SIZE * filters[0], use_bias=False,
            kernel_initializer=_weights(), name="project"))(self._generator_input(latents))
        x = keras.layers.Reshape((PROJECTION_SIZE, PROJECTION_SIZE, filters[0]),
                                 name="project_reshape")(x)
        x = self._batch_norm("project_bn")(x)
        x = keras.layers.ReLU(name="project_relu")(x)
        for index, width in enumerate(filters[1:], start=1):
            x = self._transposed_conv(width, f"up{index}_deconv")(x)
            x = self._batch_norm(f"up{index}_bn")(x)
            x = keras.layers.ReLU(name=f"up{index}_relu")(x)
        images = self._transposed_conv(self.channels, "output", activation="tanh",
                                       dtype="float32")(x)
        return keras.Model(latents, images, name="dcgan_generator")

    def _generator_input(self, latents: Any) -> Any:
        """The projection's input: z, and for a conditional GAN the one-hot code of its class."""
        import keras

        if not self.num_classes:
            return latents
        classes = latent_class(latents, self.num_classes)
        code = keras.ops.one_hot(classes, self.num_classes)
        return keras.layers.Concatenate(name="class_code")([latents[:, :self.noise_dim], code])

    def build_discriminator(self) -> keras.Model:
        """The discriminator: images (with labels, if conditional) → ``(batch, 1)`` logits."""
        import keras

        resolutions = hidden_resolutions(self.image_size)[::-1]  # S/2 down to 4
        images = keras.Input(shape=self.image_shape, name="image")
        x = images
        for index, resolution in enumerate(resolutions, start=1):
            width = filters_at(resolution, self.image_size, self.discriminator_filters)
            x = self._discriminator_sn(keras.layers.Conv2D(
                width, self.kernel_size, strides=2, padding="same", use_bias=False,
                kernel_initializer=_weights(), name=f"down{index}_conv"))(x)
            if index > 1:  # never normalize the input layer (the paper's rule)
                x = self._discriminator_norm(f"down{index}_norm")(x)
            x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"down{index}_lrelu")(x)
        features = keras.layers.Flatten(name="flatten")(x)
        logits = self._discriminator_sn(keras.layers.Dense(
            1, use_bias=False, kernel_initializer=_weights(), dtype="float32",
            name="logits"))(features)
        if not self.num_classes:
            return keras.Model(images, logits, name="dcgan_discriminator")
        labels = keras.Input(shape=(), dtype="int32", name="label")
        embedded = self._discriminator_sn(keras.layers.Embedding(
            self.num_classes, features.shape[-1], embeddings_initializer=_weights(),
            name="label_embedding"))(labels)
        projection = keras.layers.Dot(axes=1, dtype="float32",
                                      name="projection")([embedded, features])
        logits = keras.layers.Add(dtype="float32", name="conditional_logits")(
            [logits, projection])
        return keras.Model([images, labels], logits, name="dcgan_discriminator")

    def _transposed_conv(self, filters: int, name: str, **kwargs: Any) -> keras.layers.Layer:
        import keras

        return self._generator_sn(keras.layers.Conv2DTranspose(
            filters, self.kernel_size, strides=2, padding="same", use_bias=False,
            kernel_initializer=_weights(), name=name, **kwargs))

    def _generator_sn(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        """``layer``, spectrally normalized when ``spectral_norm`` is ``both``."""
        from ganlab_builtins.layers.spectral import spectral

        return spectral(layer, self.spectral_norm == "both")

    def _discriminator_sn(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        """``layer``, spectrally normalized unless ``spectral_norm`` is ``none``."""
        from ganlab_builtins.layers.spectral import spectral

        return spectral(layer, self.spectral_norm != "none")

    def _batch_norm(self, name: str) -> keras.layers.Layer:
        import keras

        return keras.layers.BatchNormalization(
            momentum=self.batchnorm_momentum, epsilon=self.batchnorm_epsilon,
            gamma_initializer=keras.initializers.RandomNormal(1.0, INIT_STDDEV),
            synchronized=self.synchronized_bn, name=name)

    def _discriminator_norm(self, name: str) -> keras.layers.Layer:
        import keras

        if self.discriminator_norm == "batch":
            return self._batch_norm(name)
        if self.discriminator_norm == "layer":
            # Over height, width and channels per example, as in Gulrajani et
            # al.'s critic; Keras gives it one scale/offset per (h, w, c) entry.
            return keras.layers.LayerNormalization(
                axis=[1, 2, 3], epsilon=self.batchnorm_epsilon,
                gamma_initializer=keras.initializers.RandomNormal(1.0, INIT_STDDEV), name=name)
        return keras.layers.Identity(name=name)


def _weights() -> Any:
    """A fresh N(0, 0.02) initializer (one per layer, so no two layers share draws)."""
    import keras

    return keras.initializers.RandomNormal(0.0, INIT_STDDEV)


@hookimpl
def register_architectures(register: Any) -> None:
    """Register ``dcgan``."""
    register("dcgan", DCGAN,
             description="DCGAN (Radford et al. 2015): strided convs, BN, ReLU/LeakyReLU, "
                         "32/64/128 px, 1 or 3 channels")
