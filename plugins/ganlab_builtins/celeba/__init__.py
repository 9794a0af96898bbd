"""The built-in ``celeba`` dataset: CelebA's three image folders as ganlab TFRecords.

CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015)
ships 202,599 faces in three image folders and three annotation files:

- ``img_celeba/``: in-the-wild JPEGs of varying sizes, with a face box per
  image in ``list_bbox_celeba.txt`` (in these images' coordinates);
- ``img_align_celeba/``: the faces aligned and cropped to 178×218 (w×h), JPEG;
- ``img_align_celeba_png/``: the same aligned faces as PNG (``000001.png``);
- ``list_attr_celeba.txt``: 40 binary attributes (``1``/``-1``) per image;
- ``list_eval_partition.txt``: the official train/val/test split (0/1/2).

Both the official layout (``Img/<variant>/``, ``Anno/*.txt``,
``Eval/list_eval_partition.txt``) and a flat one (the annotation files and
the image folder, or the images themselves, directly in ``source``) are read.

Every image of every partition is written, each with its 40 attributes and
its partition index, into the splits ``train``/``val``/``test`` that have
images; ``partition`` only chooses what ``load()`` returns by default, so the
four partitions share one set of TFRecords.

How an image becomes a square ``image_size`` image (decoded with Pillow to
RGB, never rotated by EXIF since the boxes are in raw pixel coordinates):

- aligned variants: a centered ``crop``×``crop`` square, default 108 as in the
  widely used DCGAN-tensorflow CelebA port (the face from brows to chin); 140
  keeps the whole head, 178 the full width (background included);
- ``img_celeba`` without ``bbox``: a centered square of the short side (or of
  ``crop`` pixels when given, limited to the short side);
- ``img_celeba`` with ``bbox``: the face box, first clipped to the image
  (boxes reaching outside are counted as *clipped*; boxes with nothing left
  are *degenerate* and their images skipped), then with ``bbox_square`` (the
  default) grown to a square around the box's center (the longer side of the
  box, shifted to stay inside the image and limited to its short side), so
  faces are not stretched; with ``bbox_square: false`` the box is resized as
  is, changing the face's aspect ratio.

The square is then resized with Pillow's antialiased bicubic filter.
"""


from __future__ import annotations

from typing import Any

from ganlab import hookimpl
from ganlab_builtins.celeba.annotations import (
    decode_attributes,
    encode_attributes,
    parse_attr_file,
    parse_bbox_file,
    parse_partition_file,
)
from ganlab_builtins.celeba.dataset import CelebA, CelebAItem
from ganlab_builtins.celeba.geometry import center_square, clip_box, square_around

__all__ = [
    "CelebA",
    "CelebAItem",
    "center_square",
    "clip_box",
    "decode_attributes",
    "encode_attributes",
    "parse_attr_file",
    "parse_bbox_file",
    "parse_partition_file",
    "register_datasets",
    "square_around",
]


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the ``celeba`` dataset."""
    register("celeba", CelebA, description="CelebA faces (in the wild with face boxes, or "
                                           "aligned JPEG/PNG) with 40 attributes and the "
                                           "official partitions")
