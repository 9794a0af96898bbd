"""The built-in ``image_folder`` dataset: any folder of your own images as ganlab TFRecords.

Point ``source`` at a folder; every file under it (sub-folders included,
symbolic links followed, each real folder read once) is tried as an image:
PNG, JPEG, WebP, BMP, TIFF and GIF (its first frame), in any Pillow mode.
Each is turned upright by its EXIF orientation, converted to the ``channels``
asked for (transparency composited onto ``background``, 16-bit gray scaled,
not clipped), cut or padded to a square by ``resize`` and resized with the
``resample`` filter to ``image_size``.

- **Labels** (the torchvision ``ImageFolder`` convention): one sub-folder per
  class, classes sorted by name; their names are the dataset's
  ``class_names`` (written into the manifest). ``labels: auto`` uses them when
  the images sit in two or more sub-folders and none beside them.
- **Splits**: ``train/``, ``valid/`` (or ``val/``) and ``test/`` sub-folders
  when there is a ``train/``; else a seeded hold-out of ``valid_fraction``
  (and ``test_fraction``) of each class.
- **Bad files** (broken, truncated, empty, not images, over the pixel limit
  ``ganlab.data.imagefile.MAX_IMAGE_PIXELS``, FIFOs, broken links) are skipped
  and named in the prepare report and the manifest; unreadable folders and
  symbolic-link loops are reported as notes. Nothing of this stops a prepare.

The walk (:mod:`.scan`), the pixel conversion (:mod:`.convert`) and the
dataset (:mod:`.dataset`) are one module each.
"""

from __future__ import annotations

from typing import Any

from ganlab import hookimpl
from ganlab_builtins.image_folder.convert import composite, parse_colour, scale_wide_gray
from ganlab_builtins.image_folder.dataset import ImageFolder, ImageItem
from ganlab_builtins.image_folder.scan import find_layout, scan_files

__all__ = [
    "ImageFolder",
    "ImageItem",
    "composite",
    "find_layout",
    "parse_colour",
    "register_datasets",
    "scale_wide_gray",
    "scan_files",
]


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the ``image_folder`` dataset."""
    register("image_folder", ImageFolder,
             description="any folder of images (PNG, JPEG, WebP, BMP, TIFF, GIF), recursive; "
                         "labels from class sub-folders, splits from train/valid/test folders "
                         "or a seeded fraction")
