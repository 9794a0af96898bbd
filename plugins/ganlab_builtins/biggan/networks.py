"""BigGAN's generator and discriminator as Keras functional models (see the package docstring).

Imported only when a network is built: it imports Keras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from ganlab.contracts import latent_class
from ganlab_builtins.biggan.layers import (
    ConditionalBatchNorm,
    SelfAttention,
    conv,
    dense,
    orthogonal,
)
from ganlab_builtins.biggan.tables import BOTTOM_SIZE, discriminator_blocks, generator_blocks
from ganlab_builtins.layers.spectral import spectral

if TYPE_CHECKING:
    from ganlab_builtins.biggan import BigGAN


def build_generator(arch: BigGAN) -> keras.Model:
    """The generator of ``arch``: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1]."""
    sn = arch.spectral_norm == "both"
    blocks = generator_blocks(arch.image_size, arch.generator_filters)
    latents = keras.Input(shape=(arch.latent_dim,), name="latent")
    chunks = _latent_chunks(latents, arch.latent_chunks())
    conditions = _block_conditions(arch, latents, chunks[1:])
    x = dense(BOTTOM_SIZE * BOTTOM_SIZE * blocks[0].in_channels, spectral_norm=sn,
              name="project")(chunks[0])
    x = keras.layers.Reshape((BOTTOM_SIZE, BOTTOM_SIZE, blocks[0].in_channels),
                             name="project_reshape")(x)
    for index, (block, condition) in enumerate(zip(blocks, conditions, strict=True), start=1):
        x = _generator_block(arch, x, condition, block.out_channels, sn, f"up{index}")
        if block.resolution == arch.attention_resolution:
            x = SelfAttention(block.out_channels, spectral_norm=sn, name="attention")(x)
    x = keras.layers.BatchNormalization(momentum=arch.batchnorm_momentum,
                                        epsilon=arch.batchnorm_epsilon,
                                        synchronized=arch.synchronized_bn, name="output_bn")(x)
    x = keras.layers.ReLU(name="output_relu")(x)
    images = conv(arch.channels, 3, spectral_norm=sn, activation="tanh", dtype="float32",
                  name="output")(x)
    return keras.Model(latents, images, name="biggan_generator")


def _latent_chunks(latents: Any, sizes: list[int]) -> list[Any]:
    """The latent's first ``sum(sizes)`` entries (z), cut into consecutive chunks."""
    chunks, start = [], 0
    for size in sizes:
        chunks.append(latents[:, start:start + size])
        start += size
    return chunks


def _block_conditions(arch: BigGAN, latents: Any, chunks: list[Any]) -> list[Any]:
    """Each generator block's condition: its z chunk, after the shared class embedding."""
    if not arch.num_classes:
        return chunks
    shared = keras.layers.Embedding(arch.num_classes, arch.shared_dim,
                                    embeddings_initializer=orthogonal(),
                                    name="shared_embedding")(
        latent_class(latents, arch.num_classes))
    return [keras.layers.Concatenate(name=f"condition{index}")([shared, chunk])
            for index, chunk in enumerate(chunks, start=1)]


def _generator_block(arch: BigGAN, x: Any, condition: Any, out_channels: int, sn: bool,
                     name: str) -> Any:
    """BigGAN's up-sampling ResBlock: CBN, ReLU, up ×2, conv 3×3, CBN, ReLU, conv 3×3."""
    h = _conditional_bn(arch, x.shape[-1], sn, f"{name}_bn1")([x, condition])
    h = keras.layers.ReLU(name=f"{name}_relu1")(h)
    h = keras.layers.UpSampling2D(2, name=f"{name}_up")(h)
    h = conv(out_channels, 3, spectral_norm=sn, name=f"{name}_conv1")(h)
    h = _conditional_bn(arch, out_channels, sn, f"{name}_bn2")([h, condition])
    h = keras.layers.ReLU(name=f"{name}_relu2")(h)
    h = conv(out_channels, 3, spectral_norm=sn, name=f"{name}_conv2")(h)
    # The shortcut always changes resolution, so it is always learned (a 1×1 conv).
    shortcut = keras.layers.UpSampling2D(2, name=f"{name}_shortcut_up")(x)
    shortcut = conv(out_channels, 1, spectral_norm=sn, name=f"{name}_shortcut")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([h, shortcut])


def _conditional_bn(arch: BigGAN, channels: int, sn: bool, name: str) -> ConditionalBatchNorm:
    return ConditionalBatchNorm(channels, momentum=arch.batchnorm_momentum,
                                epsilon=arch.batchnorm_epsilon,
                                synchronized=arch.synchronized_bn, spectral_norm=sn, name=name)


def build_discriminator(arch: BigGAN) -> keras.Model:
    """The discriminator of ``arch``: images (with labels, if conditional) → logits."""
    sn = arch.spectral_norm in ("discriminator", "both")
    images = keras.Input(shape=arch.image_shape, name="image")
    x, attended = images, False
    for index, block in enumerate(discriminator_blocks(arch.image_size,
                                                       arch.discriminator_filters), start=1):
        x = _discriminator_block(x, block.out_channels, block.downsample, sn, index > 1,
                                 f"down{index}")
        if block.resolution == arch.attention_resolution and not attended:
            x = SelfAttention(block.out_channels, spectral_norm=sn, name="attention")(x)
            attended = True
    x = keras.layers.ReLU(name="features_relu")(x)
    # Global *sum* pooling, as in SN-GAN's and BigGAN's code (not the mean).
    features = _sum_pool(x)
    logits = dense(1, spectral_norm=sn, dtype="float32", name="logits")(features)
    if not arch.num_classes:
        return keras.Model(images, logits, name="biggan_discriminator")
    labels = keras.Input(shape=(), dtype="int32", name="label")
    embedded = spectral(
        keras.layers.Embedding(arch.num_classes, features.shape[-1],
                               embeddings_initializer=orthogonal(), name="label_embedding"),
        sn)(labels)
    projection = keras.layers.Dot(axes=1, dtype="float32", name="projection")(
        [embedded, features])
    logits = keras.layers.Add(dtype="float32", name="conditional_logits")([logits, projection])
    return keras.Model([images, labels], logits, name="biggan_discriminator")


def _sum_pool(x: Any) -> Any:
    """Sum over height and width: ``(batch, h, w, C)`` → ``(batch, C)``."""
    return keras.ops.sum(x, axis=(1, 2))


def _discriminator_block(x: Any, out_channels: int, downsample: bool, sn: bool,
                         preactivation: bool, name: str) -> Any:
    """BigGAN's D ResBlock: [ReLU], conv 3×3, ReLU, conv 3×3, [avg-pool ×2], plus a shortcut.

    The first block takes the image itself, so it starts with no ReLU and its
    shortcut pools before its 1×1 conv; later blocks convolve, then pool.
    """
    h = keras.layers.ReLU(name=f"{name}_relu1")(x) if preactivation else x
    h = conv(out_channels, 3, spectral_norm=sn, name=f"{name}_conv1")(h)
    h = keras.layers.ReLU(name=f"{name}_relu2")(h)
    h = conv(out_channels, 3, spectral_norm=sn, name=f"{name}_conv2")(h)
    if downsample:
        h = keras.layers.AveragePooling2D(2, name=f"{name}_pool")(h)
    shortcut = x
    if not (downsample or x.shape[-1] != out_channels):
        return keras.layers.Add(name=f"{name}_add")([h, shortcut])
    learned = conv(out_channels, 1, spectral_norm=sn, name=f"{name}_shortcut")
    pool = keras.layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")
    if preactivation:
        shortcut = learned(shortcut)
        shortcut = pool(shortcut) if downsample else shortcut
    else:
        shortcut = pool(shortcut) if downsample else shortcut
        shortcut = learned(shortcut)
    return keras.layers.Add(name=f"{name}_add")([h, shortcut])
