"""Crop geometry: clipping face boxes, squaring them, centered crops."""

from __future__ import annotations

from ganlab_builtins.celeba.facts import Box


# -- geometry ------------------------------------------------------------------------------------
def clip_box(box: Box, size: tuple[int, int]) -> tuple[Box | None, bool]:
    """Clip an ``(x, y, width, height)`` box to an image of ``size`` (width, height).

    Returns:
        ``(left, top, right, bottom)`` inside the image, or ``None`` when nothing
        of the box is left (degenerate); and whether clipping changed the box.

    """
    x, y, width, height = box
    image_width, image_height = size
    left, top = max(0, x), max(0, y)
    right, bottom = min(image_width, x + width), min(image_height, y + height)
    clipped = (left, top, right, bottom) != (x, y, x + width, y + height)
    if right <= left or bottom <= top:
        return None, clipped
    return (left, top, right, bottom), clipped


def square_around(box: Box, size: tuple[int, int]) -> Box:
    """The square around a clipped ``(left, top, right, bottom)`` box, inside the image.

    Its side is the box's longer side, limited to the image's short side; it is
    centered on the box and shifted (not shrunk) to stay inside the image, so
    the whole box is kept whenever the image is large enough.
    """
    left, top, right, bottom = box
    image_width, image_height = size
    side = min(max(right - left, bottom - top), image_width, image_height)
    new_left = min(max((left + right - side) // 2, 0), image_width - side)
    new_top = min(max((top + bottom - side) // 2, 0), image_height - side)
    return (new_left, new_top, new_left + side, new_top + side)


def center_square(size: tuple[int, int], crop: int | None) -> Box:
    """A centered square of ``crop`` pixels (the short side when ``None`` or larger)."""
    width, height = size
    side = min(width, height) if crop is None else min(crop, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


