"""Image grids, PNG and animated GIF writing (numpy + Pillow, no TensorFlow).

Every writer is atomic: it writes a temporary file beside the target and
renames it, so a crash never leaves a half-written image under the real name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ganlab.atomic import atomic_write


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map images in [-1, 1] (float) to ``uint8`` [0, 255]; ``uint8`` passes through."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    scaled = (np.clip(images.astype(np.float32), -1.0, 1.0) + 1.0) * 127.5
    return np.round(scaled).astype(np.uint8)


def tile(images: np.ndarray, rows: int | None = None, padding: int = 2,
         background: int = 0) -> np.ndarray:
    """Tile a batch ``(n, h, w, c)`` into one ``uint8`` grid image.

    Args:
        images: Float images in [-1, 1] or ``uint8`` images.
        rows: Number of rows; a near-square layout when ``None``.
        padding: Pixels between cells.
        background: Gray level of the padding.

    Returns:
        ``(H, W, c)`` uint8 array (``c`` is 1 or 3).

    """
    batch = to_uint8(images)
    if batch.ndim != 4:
        raise ValueError(f"expected a batch (n, h, w, c), got shape {batch.shape}")
    count, height, width, channels = batch.shape
    rows = rows or max(1, int(math.floor(math.sqrt(count))))
    cols = max(1, math.ceil(count / rows))
    grid = np.full((rows * (height + padding) + padding, cols * (width + padding) + padding,
                    channels), background, dtype=np.uint8)
    for index in range(count):
        row, col = divmod(index, cols)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        grid[top:top + height, left:left + width] = batch[index]
    return grid


def to_pil(image: np.ndarray) -> Image.Image:
    """A Pillow image from an ``(h, w, 1|3)`` uint8 or [-1, 1] float array."""
    array = to_uint8(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def label_cells(grid: Image.Image, labels: Sequence[str], cell: tuple[int, int],
                cols: int, padding: int = 2) -> Image.Image:
    """Draw a small text label in the top-left corner of each grid cell."""
    canvas = grid.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    height, width = cell
    for index, text in enumerate(labels):
        row, col = divmod(index, cols)
        x = padding + col * (width + padding) + 1
        y = padding + row * (height + padding)
        box = draw.textbbox((x, y), text)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((x, y), text, fill=(255, 255, 0))
    return canvas


def save_png(image: Image.Image | np.ndarray, path: str | Path) -> Path:
    """Write a PNG atomically; returns the path."""
    path = Path(path)
    picture = image if isinstance(image, Image.Image) else to_pil(image)
    with atomic_write(path) as stream:
        picture.save(stream, format="PNG")
    return path


def save_gif(frames: Sequence[Image.Image | np.ndarray], path: str | Path,
             duration_ms: int = 200, loop: int = 0) -> Path:
    """Write an animated GIF of ``frames`` atomically; returns the path."""
    if not frames:
        raise ValueError("no frames to write")
    path = Path(path)
    pictures = [f if isinstance(f, Image.Image) else to_pil(f) for f in frames]
    pictures = [p.convert("RGB") for p in pictures]
    with atomic_write(path) as stream:
        pictures[0].save(stream, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=duration_ms, loop=loop)
    return path
