"""Small CelebA trees in the exact shipped format, built in code for the tests.

Images are tiny but the aligned ones keep the real 178×218 size. Each in-the-wild
image is blue with its face box painted pure red; each aligned image is red with
the central 108×108 square (DCGAN-tensorflow's crop) painted pure green, so a
test can tell from the colours which crop was taken.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses "
    "Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache "
    "Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks "
    "Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick "
    "Wearing_Necklace Wearing_Necktie Young"
).split()

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)
ALIGNED = (178, 218)
CENTER_108 = (35, 55, 143, 163)
VARIANTS = ("img_celeba", "img_align_celeba", "img_align_celeba_png")


@dataclass(frozen=True)
class Face:
    """One image of the tree: its id, partition, in-the-wild size and face box."""

    number: int
    partition: int
    wild_size: tuple[int, int]
    box: tuple[int, int, int, int]
    #: ``ok``, ``corrupt`` (non-image bytes), ``truncated`` (cut in half).
    state: str = "ok"

    @property
    def image_id(self) -> str:
        return f"{self.number:06d}.jpg"


#: 4 train, 2 val, 2 test. 000002's box reaches outside its image (clipped);
#: 000006's box lies entirely outside (degenerate); 000003 is not an image;
#: 000004 is truncated in every folder.
FACES: tuple[Face, ...] = (
    Face(1, 0, (160, 200), (40, 50, 60, 80)),
    Face(2, 0, (200, 150), (-20, 10, 100, 200)),
    Face(3, 0, (150, 150), (10, 10, 50, 50), state="corrupt"),
    Face(4, 0, (178, 218), (30, 30, 90, 120), state="truncated"),
    Face(5, 1, (120, 120), (10, 20, 50, 70)),
    Face(6, 1, (100, 140), (150, 10, 30, 30)),
    Face(7, 2, (180, 160), (60, 40, 70, 90)),
    Face(8, 2, (90, 130), (5, 5, 80, 110)),
)


def attributes_of(number: int) -> list[int]:
    """A deterministic, image-dependent pattern of 40 ``1``/``-1`` values."""
    return [1 if (number + j) % 3 == 0 else -1 for j in range(len(ATTRIBUTE_NAMES))]


@dataclass
class CelebATree:
    """Where a built tree put things."""

    root: Path
    image_dirs: dict[str, Path]
    anno: dict[str, Path]
    faces: tuple[Face, ...] = field(default=FACES)

    def image_path(self, variant: str, number: int) -> Path:
        suffix = ".png" if variant == "img_align_celeba_png" else ".jpg"
        return self.image_dirs[variant] / f"{number:06d}{suffix}"


# -- images ---------------------------------------------------------------------------------------
def wild_image(face: Face) -> Image.Image:
    width, height = face.wild_size
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[...] = BLUE
    x, y, w, h = face.box
    pixels[max(0, y):max(0, y + h), max(0, x):max(0, x + w)] = RED
    return Image.fromarray(pixels)


def aligned_image() -> Image.Image:
    pixels = np.zeros((ALIGNED[1], ALIGNED[0], 3), np.uint8)
    pixels[...] = RED
    left, top, right, bottom = CENTER_108
    pixels[top:bottom, left:right] = GREEN
    return Image.fromarray(pixels)


def noisy(image: Image.Image, seed: int) -> Image.Image:
    """Add noise so that a truncated file really loses pixel data."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image).astype(np.int16) + rng.integers(-8, 9, (*image.size[::-1], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_image(path: Path, image: Image.Image, fmt: str, state: str, seed: int) -> None:
    if state == "corrupt":
        path.write_bytes(b"<html>Google Drive quota exceeded</html>\n")
        return
    if state == "truncated":
        data = encoded(noisy(image, seed), fmt)
        path.write_bytes(data[: len(data) // 2])
        return
    path.write_bytes(encoded(image, fmt))


# -- annotation files -----------------------------------------------------------------------------
def crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def bbox_text(faces: tuple[Face, ...]) -> bytes:
    lines = [str(len(faces)), "image_id x_1 y_1 width height"]
    # The shipped file pads columns to a fixed width with a variable number of spaces.
    lines += [f"{f.image_id} {f.box[0]:>5}{f.box[1]:>4}{f.box[2]:>4}{f.box[3]:>4}" for f in faces]
    return crlf(lines)


def attr_text(faces: tuple[Face, ...]) -> bytes:
    lines = [str(len(faces)), " ".join(ATTRIBUTE_NAMES) + " "]
    lines += [f.image_id + " " + " ".join(f"{v:>2}" for v in attributes_of(f.number))
              for f in faces]
    return crlf(lines)


def partition_text(faces: tuple[Face, ...]) -> bytes:
    return crlf([f"{f.image_id} {f.partition}" for f in faces])


# -- trees ----------------------------------------------------------------------------------------
def build_celeba(root: Path, layout: str = "official", variants: tuple[str, ...] = VARIANTS,
                 faces: tuple[Face, ...] = FACES) -> CelebATree:
    """Write a CelebA tree under ``root``.

    Args:
        root: Folder to create.
        layout: ``official`` (``Img/``, ``Anno/``, ``Eval/``), ``flat`` (the
            image folders and the annotation files side by side in ``root``)
            or ``flat_images`` (one variant's images directly in ``root``).
        variants: Image folders to write.
        faces: The images.

    """
    root.mkdir(parents=True, exist_ok=True)
    anno = _write_annotations(root, layout, faces)
    if layout == "flat_images" and len(variants) != 1:
        raise ValueError("flat_images holds exactly one variant")
    image_dirs = {}
    for variant in variants:
        folder = {"official": root / "Img" / variant, "flat": root / variant,
                  "flat_images": root}[layout]
        folder.mkdir(parents=True, exist_ok=True)
        image_dirs[variant] = folder
        _write_variant(folder, variant, faces)
    return CelebATree(root=root, image_dirs=image_dirs, anno=anno, faces=faces)


def _write_annotations(root: Path, layout: str, faces: tuple[Face, ...]) -> dict[str, Path]:
    official = layout == "official"
    anno_dir = root / "Anno" if official else root
    eval_dir = root / "Eval" if official else root
    anno_dir.mkdir(parents=True, exist_ok=True)
    eval_dir.mkdir(parents=True, exist_ok=True)
    paths = {"bbox": anno_dir / "list_bbox_celeba.txt", "attr": anno_dir / "list_attr_celeba.txt",
             "partition": eval_dir / "list_eval_partition.txt"}
    paths["bbox"].write_bytes(bbox_text(faces))
    paths["attr"].write_bytes(attr_text(faces))
    paths["partition"].write_bytes(partition_text(faces))
    return paths


def _write_variant(folder: Path, variant: str, faces: tuple[Face, ...]) -> None:
    for face in faces:
        if variant == "img_celeba":
            write_image(folder / face.image_id, wild_image(face), "JPEG", face.state, face.number)
        elif variant == "img_align_celeba":
            write_image(folder / face.image_id, aligned_image(), "JPEG", face.state, face.number)
        else:
            name = face.image_id.replace(".jpg", ".png")
            write_image(folder / name, aligned_image(), "PNG", face.state, face.number)
