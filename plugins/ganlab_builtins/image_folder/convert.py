"""Turning any decoded Pillow image into a square training image of 1 or 3 channels.

Three steps, each a function:

1. :func:`to_channels`: every Pillow mode to 8-bit gray (``L``) or ``RGB``:

   - ``1`` (bilevel): 0 / 255; ``L`` as it is; ``P`` through its palette;
   - 16-bit gray (``I;16``, ``I;16B``, ...) and 32-bit ``I`` scaled from
     0..65535 to 0..255 (65535 → 255, 257 → 1, rounded), never clipped
     (Pillow's own ``convert("L")`` clips everything above 255 to white);
     ``I`` values outside 0..65535 are clipped to it;
   - ``F`` (float) on the 0..255 scale Pillow uses for it, rounded and clipped;
   - ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``: Pillow's conversion to RGB;
   - anything with transparency (``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``,
     ``P``/``L``/``RGB`` with a transparent colour) composited onto the
     ``background`` colour, exactly: ``(c·a + b·(255 − a)) / 255``, rounded;
   - then RGB → gray with Pillow's ITU-R 601-2 luma for 1 channel, gray
     repeated for 3.

2. :func:`fit`: to ``size`` × ``size`` by the resize policy:
   ``center_crop`` (the centred square of the short side), ``pad`` (the whole
   image, scaled to fit, centred on the background colour) or ``stretch``.

3. The caller stores the array (``uint8``, ``(size, size, channels)``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor, ImageOps

#: Resample filter names → Pillow filters.
RESAMPLING: dict[str, Image.Resampling] = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
}
RESIZE_POLICIES: tuple[str, ...] = ("center_crop", "pad", "stretch")
#: Modes holding 16-bit (or wider integer) gray values.
_WIDE_GRAY = ("I;16", "I;16L", "I;16B", "I;16N", "I")
#: Modes with an alpha channel.
_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")

RGB = tuple[int, int, int]


def parse_colour(value: str) -> RGB:
    """``white``, ``black``, ``#rrggbb`` (any CSS colour Pillow knows) as an RGB triple.

    Raises:
        ValueError: Not a colour (the message says what is accepted).

    """
    if not isinstance(value, str):
        raise ValueError(f"background must be a colour name or '#rrggbb', got {value!r}")
    try:
        colour = ImageColor.getrgb(value)
    except ValueError:
        raise ValueError(f"background must be a colour such as 'white', 'black' or "
                         f"'#rrggbb', got {value!r}") from None
    return (int(colour[0]), int(colour[1]), int(colour[2]))


def colour_code(colour: RGB) -> str:
    """``#rrggbb`` of ``colour``."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def upright(image: Image.Image) -> bool:
    """Apply the EXIF orientation in place (``ImageOps.exif_transpose``); whether it turned.

    A damaged EXIF block is ignored: the pixels are still good.
    """
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: keep the image as stored
        return False
    if orientation in (None, 1):
        return False
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # noqa: BLE001 - same: an orientation Pillow cannot apply
        return False
    return True


def scale_wide_gray(values: np.ndarray) -> np.ndarray:
    """16-bit gray (0..65535; wider values clipped) to 8-bit, rounded: ``v / 257``."""
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def _eight_bit(image: Image.Image) -> Image.Image:
    """``image`` as ``L``, ``RGB`` or ``RGBA`` (alpha kept for compositing)."""
    mode = image.mode
    if mode in _WIDE_GRAY:
        return Image.fromarray(scale_wide_gray(np.asarray(image)), mode="L")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")
    if mode in _ALPHA or "transparency" in image.info:
        return image.convert("RGBA")
    if mode in ("1", "L"):
        return image.convert("L")
    return image.convert("RGB")


def composite(rgba: np.ndarray, background: RGB) -> np.ndarray:
    """RGBA pixels over an opaque ``background``: ``(c·a + b·(255 − a)) / 255``, rounded."""
    colour = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    under = np.asarray(background, dtype=np.uint32)
    return ((colour * alpha + under * (255 - alpha) + 127) // 255).astype(np.uint8)


def to_channels(image: Image.Image, channels: int, background: RGB) -> Image.Image:
    """``image`` (any mode) as ``L`` (``channels`` 1) or ``RGB`` (3), transparency composited.

    Raises:
        ValueError: A mode Pillow cannot convert to RGB.

    """
    eight = _eight_bit(image)
    if eight.mode == "RGBA":
        eight = Image.fromarray(composite(np.asarray(eight), background), mode="RGB")
    return eight.convert("L" if channels == 1 else "RGB")


def fill_value(mode: str, background: RGB) -> int | RGB:
    """The ``background`` colour in ``mode`` (its luma for ``L``)."""
    if mode == "L":
        return int(Image.new("RGB", (1, 1), background).convert("L").getpixel((0, 0)))
    return background


def fit(image: Image.Image, size: int, policy: str, resample: Image.Resampling,
        background: RGB) -> Image.Image:
    """``image`` (``L`` or ``RGB``) as a ``size`` × ``size`` image by ``policy``."""
    width, height = image.size
    if policy == "stretch":
        return image.resize((size, size), resample)
    if policy == "center_crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return image.resize((size, size), resample, box=(left, top, left + side, top + side))
    scale = size / max(width, height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = Image.new(image.mode, (size, size), fill_value(image.mode, background))
    canvas.paste(image.resize(inner, resample),
                 ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return canvas


def training_array(image: Image.Image, *, size: int, channels: int, policy: str,
                   resample: str, background: RGB) -> np.ndarray:
    """A decoded image as the stored ``uint8`` ``(size, size, channels)`` array.

    Raises:
        ValueError: A mode Pillow cannot convert.

    """
    square = fit(to_channels(image, channels, background), size, policy,
                 RESAMPLING[resample], background)
    array = np.asarray(square, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array
