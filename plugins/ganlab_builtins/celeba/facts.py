"""What CelebA is: its image folders, annotation files, sizes and splits."""

from __future__ import annotations

from PIL import Image

#: Image folder name → file extension of its images.
VARIANTS: dict[str, str] = {
    "img_celeba": ".jpg",
    "img_align_celeba": ".jpg",
    "img_align_celeba_png": ".png",
}
#: Official partition index → split name.
SPLITS: tuple[str, ...] = ("train", "val", "test")
PARTITIONS: tuple[str, ...] = (*SPLITS, "all")
IMAGE_SIZES: tuple[int, ...] = (32, 64, 128)
#: Width and height of the aligned images.
ALIGNED_SIZE: tuple[int, int] = (178, 218)
DEFAULT_ALIGNED_CROP = 108
NUM_ATTRIBUTES = 40

BBOX_FILE = "list_bbox_celeba.txt"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
BBOX_HEADER: tuple[str, ...] = ("image_id", "x_1", "y_1", "width", "height")
#: Annotation files live in Anno/ or Eval/ (official layout) or in the root (flat).
ANNOTATION_DIRS: tuple[str, ...] = ("Anno", "Eval", ".")

RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE_NAME = "bicubic"
#: Bumped when the bytes written for the same options change.
FORMAT_VERSION = 1
#: Box statistics kept by ``decode`` and reported by ``prepare_notes``.
BOX_COUNTS: tuple[str, ...] = ("bbox_clipped", "bbox_degenerate")
#: How many example file names a note or message lists.
EXAMPLES_SHOWN = 5

DOWNLOAD_HINT = (
    "CelebA is distributed at https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    "(Google Drive and Baidu Drive links); keep the official layout (Img/<variant>/, "
    "Anno/, Eval/) or put everything in one folder, and point the experiment at it with "
    "--set dataset.params.source=/path/to/CelebA."
)

Box = tuple[int, int, int, int]

