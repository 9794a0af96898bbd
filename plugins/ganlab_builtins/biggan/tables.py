"""BigGAN's architecture tables (Brock et al. 2019, appendix B; the authors' BigGAN-PyTorch).

Channel counts are multiples of ``ch`` (``base_filters``). No TensorFlow here:
the plugin validates its parameters against these tables without importing it.
"""

from __future__ import annotations

from typing import NamedTuple

#: The generator's first feature map is BOTTOM_SIZE × BOTTOM_SIZE.
BOTTOM_SIZE = 4

# Multipliers of ch: generator (in, out) per up-sampling block, from 4×4.
_GENERATOR = {
    32: [(4, 4), (4, 4), (4, 4)],
    64: [(16, 16), (16, 8), (8, 4), (4, 2)],
    128: [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)],
}
# Discriminator: (out multiplier, down-samples?) per block, from the image.
_DISCRIMINATOR = {
    32: [(4, True), (4, True), (4, False), (4, False)],
    64: [(1, True), (2, True), (4, True), (8, True), (16, False)],
    128: [(1, True), (2, True), (4, True), (8, True), (16, True), (16, False)],
}
IMAGE_SIZES = tuple(_GENERATOR)


class GeneratorBlock(NamedTuple):
    """An up-sampling ResBlock: channels in and out, resolution of its output."""

    in_channels: int
    out_channels: int
    resolution: int


class DiscriminatorBlock(NamedTuple):
    """A ResBlock of the discriminator: channels out, down-sampling, resolution of its output."""

    out_channels: int
    downsample: bool
    resolution: int


def generator_blocks(image_size: int, ch: int) -> list[GeneratorBlock]:
    """The generator's up-sampling blocks for ``image_size`` with channel multiplier ``ch``."""
    return [GeneratorBlock(ch * cin, ch * cout, BOTTOM_SIZE * 2 ** index)
            for index, (cin, cout) in enumerate(_GENERATOR[image_size], start=1)]


def discriminator_blocks(image_size: int, ch: int) -> list[DiscriminatorBlock]:
    """The discriminator's blocks for ``image_size`` with channel multiplier ``ch``."""
    blocks, resolution = [], image_size
    for out, downsample in _DISCRIMINATOR[image_size]:
        resolution = resolution // 2 if downsample else resolution
        blocks.append(DiscriminatorBlock(ch * out, downsample, resolution))
    return blocks


def attention_resolutions(image_size: int) -> list[int]:
    """Where a self-attention block may go: a feature map both networks have, 8 × 8 and up."""
    generator = {block.resolution for block in generator_blocks(image_size, 1)}
    discriminator = {block.resolution for block in discriminator_blocks(image_size, 1)}
    return sorted(r for r in generator & discriminator if r >= 2 * BOTTOM_SIZE)
