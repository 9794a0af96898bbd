"""The SN-GAN ResNet architecture of Miyato et al. (2018), with Miyato & Koyama's projection.

"Spectral Normalization for Generative Adversarial Networks" (Miyato, Kataoka,
Koyama & Yoshida, ICLR 2018, https://arxiv.org/abs/1802.05957), Appendix B,
Tables 4 and 5 (the ResNet generator and discriminator for CIFAR-10 and
STL-10), and "cGANs with Projection Discriminator" (Miyato & Koyama, ICLR 2018,
https://arxiv.org/abs/1802.05637) for the 128-pixel networks, conditional batch
norm and the projection discriminator; details as in the authors' Chainer code
(``pfnet-research/sngan_projection``).

Generator: z → linear → ``4×4×c₀`` → up blocks → BN, ReLU, 3×3 conv, tanh.
An up block is ``BN → ReLU → 2× nearest up-sampling → 3×3 conv → BN → ReLU →
3×3 conv`` plus the shortcut ``up-sampling → 1×1 conv``.

Discriminator: blocks → ReLU → global *sum* pooling → linear (a logit). A down
block is ``ReLU → 3×3 conv → ReLU → 3×3 conv → 2×2 average pooling`` plus the
shortcut ``1×1 conv → average pooling``; the first block ("optimized") skips
the leading ReLU and pools its shortcut before the 1×1 conv. Blocks without
down-sampling and with as many input as output channels have an identity
shortcut.

Widths, in multiples of ``ch`` (``base_filters``; 64 gives the papers' values):

=====  ==========================================  ======================================
size   generator: projection, up blocks            discriminator blocks (↓ = down)
=====  ==========================================  ======================================
32     4ch at 4×4; 4ch, 4ch, 4ch                   2ch↓ 2ch↓ 2ch 2ch (CIFAR, Table 4)
64     8ch at 4×4; 8ch, 4ch, 2ch, ch               ch↓ 2ch↓ 4ch↓ 8ch↓ 16ch (STL, Table 5)
128    16ch at 4×4; 16ch, 8ch, 4ch, 2ch, ch        ch↓ 2ch↓ 4ch↓ 8ch↓ 16ch↓ 16ch (ImageNet)
=====  ==========================================  ======================================

At 64 pixels the STL-10 networks (48 pixels in the paper, projecting z to 6×6)
start from 4×4 and have one more up block at the top width; the
discriminator is the paper's.

Defaults as in the papers and code: z ~ N(0, 1) with 128 dimensions; spectral
normalization on every discriminator weight (the projection's embedding
included) and none in the generator, which uses batch norm (decay 0.9,
epsilon 2e-5, Chainer's); Glorot-uniform weights with gain √2 in the residual
branches and 1 elsewhere; biases everywhere. The papers train with Adam
(2e-4, β₁ 0, β₂ 0.9), the hinge loss and 5 discriminator steps per generator
step (1 for the conditional 128-pixel model): those are experiment settings.

Class-conditional (``num_classes = K``): the generator's batch norms become
*conditional* batch norms (de Vries et al. 2017; Miyato & Koyama 2018): the
batch statistics are shared by all classes and each class has its own scale
and offset (initialized to 1 and 0), looked up from the class the latent
names (the argmax of its last ``K`` entries, :func:`ganlab.contracts.latent_class`);
z alone feeds the linear projection. The discriminator takes ``[images,
labels]`` and adds ``<embed(label), features>`` to its logit, ``features``
being the sum-pooled activations the linear output reads.
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
PROJECTION_SIZE = 4
#: Generator widths in multiples of ch: (the 4×4 projection, each up block's output).
GENERATOR_WIDTHS: dict[int, tuple[int, tuple[int, ...]]] = {
    32: (4, (4, 4, 4)),
    64: (8, (8, 4, 2, 1)),
    128: (16, (16, 8, 4, 2, 1)),
}
#: Discriminator blocks: (output width in multiples of ch, down-samples).
DISCRIMINATOR_BLOCKS: dict[int, tuple[tuple[int, bool], ...]] = {
    32: ((2, True), (2, True), (2, False), (2, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
}


class SNGAN(SquareImageArchitecture):
    """SN-GAN ResNet generator and discriminator (Miyato et al. 2018), paper defaults.

    Args:
        image_shape: ``(height, width, channels)`` of the training images, given
            by the engine from the dataset: square, 32, 64 or 128 pixels, 1 or
            3 channels.
        latent_dim: Length of z (128 in the papers).
        base_filters: ``ch``, the width unit of both networks (see the module
            docstring's table; 64 gives the papers' widths).
        generator_filters: ``base_filters`` for the generator only.
        discriminator_filters: ``base_filters`` for the discriminator only.
        latent_distribution: ``"normal"`` (N(0, 1), the papers) or
            ``"uniform"`` (U(-1, 1)).
        spectral_norm: ``"discriminator"`` (the paper: every discriminator
            weight), ``"both"`` (the generator's convolutions and projection
            too, as SAGAN/BigGAN do; its batch norm stays) or ``"none"``.
        batchnorm_momentum: Decay of the generator's batch-norm moving
            statistics (0.9, Chainer's default).
        batchnorm_epsilon: Batch norm's variance epsilon (2e-5, Chainer's).
        synchronized_bn: Batch statistics over the global batch of all
            replicas (``BatchNormalization(synchronized=True)``).
        num_classes: ``0`` (unconditional) or the dataset's class count ``K``:
            the latent is z followed by ``K`` class entries (``latent_dim + K``
            values), the generator's batch norms are conditional on the class
            they name, and the discriminator is a projection discriminator
            taking ``[images, labels]`` (Miyato & Koyama 2018).

    Raises:
        ValueError: An unsupported image shape or parameter value.
        TypeError: A parameter of the wrong type.

    """

    family = "SNGAN"
    repr_fields = ("image_shape", "latent_dim", "generator_filters", "discriminator_filters",
                   "latent_distribution", "spectral_norm", "num_classes")

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        latent_dim: int = 128,
        base_filters: int = 64,
        generator_filters: int | None = None,
        discriminator_filters: int | None = None,
        latent_distribution: str = "normal",
        spectral_norm: str = "discriminator",
        batchnorm_momentum: float = 0.9,
        batchnorm_epsilon: float = 2e-5,
        synchronized_bn: bool = False,
        num_classes: int = 0,
    ) -> None:
        self.image_shape = check_square_image_shape(self.family, image_shape, IMAGE_SIZES)
        self._set_latent(latent_dim, num_classes)
        self._set_filters(base_filters, generator_filters, discriminator_filters)
        self.latent_distribution = params.choice(
            "latent_distribution", latent_distribution, LATENT_DISTRIBUTIONS)
        self.spectral_norm = spectral_norm_mode(spectral_norm)
        self._set_batch_norm(batchnorm_momentum, batchnorm_epsilon, synchronized_bn)

    # -- generator ------------------------------------------------------------------------

    def build_generator(self) -> keras.Model:
        """The generator: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1].

        The output layer computes in float32 under a mixed-precision policy.
        """
        import keras

        projection, widths = GENERATOR_WIDTHS[self.image_size]
        ch = self.generator_filters
        latents = keras.Input(shape=(self.latent_dim,), name="latent")
        classes = latent_class(latents, self.num_classes) if self.num_classes else None
        z = latents[:, :self.noise_dim] if self.num_classes else latents
        x = self._generator_sn(keras.layers.Dense(
            PROJECTION_SIZE * PROJECTION_SIZE * projection * ch,
            kernel_initializer=_glorot(1.0), name="project"))(z)
        x = keras.layers.Reshape((PROJECTION_SIZE, PROJECTION_SIZE, projection * ch),
                                 name="project_reshape")(x)
        for index, width in enumerate(widths, start=1):
            x = self._up_block(x, width * ch, classes, f"up{index}")
        x = self._generator_norm(x, classes, "output_bn")
        x = keras.layers.ReLU(name="output_relu")(x)
        images = self._generator_sn(keras.layers.Conv2D(
            self.channels, 3, padding="same", activation="tanh", kernel_initializer=_glorot(1.0),
            dtype="float32", name="output"))(x)
        return keras.Model(latents, images, name="sngan_generator")

    def _up_block(self, x: Any, filters: int, classes: Any, name: str) -> Any:
        """The generator's residual block: BN, ReLU, up-sample, conv, BN, ReLU, conv."""
        import keras

        h = self._generator_norm(x, classes, f"{name}_bn1")
        h = keras.layers.ReLU(name=f"{name}_relu1")(h)
        h = keras.layers.UpSampling2D(2, name=f"{name}_upsample")(h)
        h = self._generator_sn(_conv(filters, 3, 2.0, f"{name}_conv1"))(h)
        h = self._generator_norm(h, classes, f"{name}_bn2")
        h = keras.layers.ReLU(name=f"{name}_relu2")(h)
        h = self._generator_sn(_conv(filters, 3, 2.0, f"{name}_conv2"))(h)
        shortcut = keras.layers.UpSampling2D(2, name=f"{name}_shortcut_upsample")(x)
        shortcut = self._generator_sn(_conv(filters, 1, 1.0, f"{name}_shortcut"))(shortcut)
        return keras.layers.Add(name=f"{name}_add")([h, shortcut])

    def _generator_norm(self, x: Any, classes: Any, name: str) -> Any:
        """Batch norm, conditional on ``classes`` for a class-conditional generator."""
        return conditional_batch_norm(
            x, classes, self.num_classes, name, momentum=self.batchnorm_momentum,
            epsilon=self.batchnorm_epsilon, synchronized=self.synchronized_bn)

    def _generator_sn(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        from ganlab_builtins.layers.spectral import spectral

        return spectral(layer, self.spectral_norm == "both")

    # -- discriminator --------------------------------------------------------------------

    def build_discriminator(self) -> keras.Model:
        """The discriminator: images (with labels, if conditional) → ``(batch, 1)`` logits."""
        import keras

        ch = self.discriminator_filters
        images = keras.Input(shape=self.image_shape, name="image")
        x = images
        for index, (width, down) in enumerate(DISCRIMINATOR_BLOCKS[self.image_size], start=1):
            block = self._optimized_block if index == 1 else self._down_block
            x = block(x, width * ch, down, f"down{index}" if down else f"block{index}")
        x = keras.layers.ReLU(name="features_relu")(x)
        features = keras.ops.sum(x, axis=(1, 2))  # global sum pooling (the papers' head)
        logits = self._discriminator_sn(keras.layers.Dense(
            1, kernel_initializer=_glorot(1.0), dtype="float32", name="logits"))(features)
        if not self.num_classes:
            return keras.Model(images, logits, name="sngan_discriminator")
        labels = keras.Input(shape=(), dtype="int32", name="label")
        embedded = self._discriminator_sn(keras.layers.Embedding(
            self.num_classes, features.shape[-1], embeddings_initializer=_glorot(1.0),
            name="label_embedding"))(labels)
        projection = keras.layers.Dot(axes=1, dtype="float32",
                                      name="projection")([embedded, features])
        logits = keras.layers.Add(dtype="float32", name="conditional_logits")(
            [logits, projection])
        return keras.Model([images, labels], logits, name="sngan_discriminator")

    def _optimized_block(self, x: Any, filters: int, down: bool, name: str) -> Any:
        """The first block: conv, ReLU, conv, pool; shortcut: pool, 1×1 conv (no input ReLU)."""
        import keras

        h = self._discriminator_sn(_conv(filters, 3, 2.0, f"{name}_conv1"))(x)
        h = keras.layers.ReLU(name=f"{name}_relu")(h)
        h = self._discriminator_sn(_conv(filters, 3, 2.0, f"{name}_conv2"))(h)
        shortcut = x
        if down:
            h = keras.layers.AveragePooling2D(2, name=f"{name}_pool")(h)
            shortcut = keras.layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
        shortcut = self._discriminator_sn(_conv(filters, 1, 1.0, f"{name}_shortcut"))(shortcut)
        return keras.layers.Add(name=f"{name}_add")([h, shortcut])

    def _down_block(self, x: Any, filters: int, down: bool, name: str) -> Any:
        """ReLU, conv, ReLU, conv, (pool); shortcut: 1×1 conv, (pool), or identity."""
        import keras

        hidden = x.shape[-1]  # the Chainer code's default: as wide as the input
        h = keras.layers.ReLU(name=f"{name}_relu1")(x)
        h = self._discriminator_sn(_conv(hidden, 3, 2.0, f"{name}_conv1"))(h)
        h = keras.layers.ReLU(name=f"{name}_relu2")(h)
        h = self._discriminator_sn(_conv(filters, 3, 2.0, f"{name}_conv2"))(h)
        shortcut = x
        if down or hidden != filters:  # a learnable shortcut only where shapes change
            shortcut = self._discriminator_sn(_conv(filters, 1, 1.0, f"{name}_shortcut"))(x)
        if down:
            h = keras.layers.AveragePooling2D(2, name=f"{name}_pool")(h)
            shortcut = keras.layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
        return keras.layers.Add(name=f"{name}_add")([h, shortcut])

    def _discriminator_sn(self, layer: keras.layers.Layer) -> keras.layers.Layer:
        from ganlab_builtins.layers.spectral import spectral

        return spectral(layer, self.spectral_norm != "none")


def conditional_batch_norm(x: Any, classes: Any, num_classes: int, name: str, *,
                           momentum: float, epsilon: float, synchronized: bool = False) -> Any:
    """Batch norm whose scale and offset are chosen per example by its class.

    The batch statistics (and the moving statistics used at inference) are
    those of the whole batch, shared by all classes; each class ``k`` has its
    own ``gamma[k]`` (initialized to 1) and ``beta[k]`` (0), looked up as
    embeddings: ``y_i = gamma[c_i] · (x_i - mean) / sqrt(var + eps) + beta[c_i]``
    (de Vries et al. 2017, "Modulating early visual processing by language";
    Miyato & Koyama 2018). Built from stock Keras layers only, so an exported
    generator loads without ganlab.

    Args:
        x: ``(batch, h, w, c)`` features (a symbolic Keras tensor).
        classes: ``(batch,)`` int32 classes, or ``None`` for plain batch norm.
        num_classes: ``K``.
        name: Name of the batch-norm layer; the scale and offset embeddings
            are ``<name>_gamma`` and ``<name>_beta``.
        momentum: Decay of the moving statistics.
        epsilon: Variance epsilon.
        synchronized: Batch statistics over all replicas.

    Returns:
        The normalized features, same shape as ``x``.

    """
    import keras

    conditional = classes is not None
    x = keras.layers.BatchNormalization(
        momentum=momentum, epsilon=epsilon, synchronized=synchronized,
        center=not conditional, scale=not conditional, name=name)(x)
    if not conditional:
        return x
    channels = x.shape[-1]
    gamma = keras.layers.Embedding(num_classes, channels, embeddings_initializer="ones",
                                   name=f"{name}_gamma")(classes)
    beta = keras.layers.Embedding(num_classes, channels, embeddings_initializer="zeros",
                                  name=f"{name}_beta")(classes)
    gamma = keras.layers.Reshape((1, 1, channels), name=f"{name}_gamma_map")(gamma)
    beta = keras.layers.Reshape((1, 1, channels), name=f"{name}_beta_map")(beta)
    x = keras.layers.Multiply(name=f"{name}_scale")([x, gamma])
    return keras.layers.Add(name=f"{name}_shift")([x, beta])


def _glorot(gain_squared: float) -> Any:
    """Glorot-uniform with gain ``√gain_squared`` (Chainer's ``GlorotUniform(scale)``)."""
    import keras

    return keras.initializers.VarianceScaling(gain_squared, mode="fan_avg",
                                              distribution="uniform")


def _conv(filters: int, kernel_size: int, gain_squared: float, name: str) -> keras.layers.Layer:
    import keras

    return keras.layers.Conv2D(filters, kernel_size, padding="same",
                               kernel_initializer=_glorot(gain_squared), name=name)


@hookimpl
def register_architectures(register: Any) -> None:
    """Register ``sngan``."""
    register("sngan", SNGAN,
             description="SN-GAN ResNet (Miyato et al. 2018), spectral norm, optional "
                         "conditional BN + projection D; 32/64/128 px, 1 or 3 channels")
