"""A generated CelebA tree in the official layout, at the real size, for the data benchmark.

``Img/img_align_celeba/000001.jpg ...`` at 178×218 (w×h), JPEG quality 90
(about 9 KB a file, as the real ones: 1.4 GB for 202,599), the in-the-wild
``Img/img_celeba/`` at varied sizes with face boxes (about 50 KB a file, as
the real 10 GB), and the annotation files as shipped: CRLF lines, columns
padded with a variable number of spaces, ``list_eval_partition.txt`` with the
real 162,770 / 19,867 / 19,962 proportions.

Generation is not what is measured: a few hundred distinct face-like JPEGs
(smooth background, skin-coloured oval, eyes, mouth, hair, blur and noise)
are encoded once each and their bytes written again and again. Every file
decodes as a real JPEG.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

#: The aligned images' size (w, h) and the real split sizes.
ALIGNED = (178, 218)
REAL_SPLITS = (162_770, 19_867, 19_962)
REAL_COUNT = sum(REAL_SPLITS)
#: Distinct encoded images written in turn.
DISTINCT_ALIGNED = 256
DISTINCT_WILD = 48
#: In-the-wild sizes (w, h): the real ones vary from about 200 to 2,000+ pixels a side.
WILD_SIZES = ((500, 375), (409, 500), (640, 480), (333, 500), (500, 700), (800, 600),
              (300, 400), (1024, 768))
ATTRIBUTES = 40
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses "
    "Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache "
    "Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks "
    "Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick "
    "Wearing_Necklace Wearing_Necktie Young"
).split()


def face(seed: int, size: tuple[int, int], centre: tuple[float, float] | None = None,
         radii: tuple[float, float] | None = None) -> Image.Image:
    """A face-like RGB image: gradient background, oval face, eyes, mouth, hair, noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (x / width * rng.uniform(0.3, 1) + y / height * rng.uniform(0.3, 1))[..., None] / 2
    pixels = rng.uniform(0, 255, 3) * (1 - ramp) + rng.uniform(0, 255, 3) * ramp
    cx, cy = centre or (width / 2 + rng.normal(0, width * .03),
                        height * .55 + rng.normal(0, height * .03))
    rx, ry = radii or (width * rng.uniform(.25, .32), height * rng.uniform(.28, .34))
    inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
    skin = np.array([rng.uniform(150, 240), rng.uniform(100, 190), rng.uniform(80, 160)])
    shade = 1 - 0.25 * ((x - cx) / rx) ** 2
    pixels[inside] = (skin * shade[..., None])[inside]
    for side in (-0.4, 0.4):
        eye = (((x - cx - side * rx) / (rx * .18)) ** 2
               + ((y - cy + .2 * ry) / (ry * .07)) ** 2 < 1)
        pixels[eye] = rng.uniform(20, 80, 3)
    mouth = ((x - cx) / (rx * .35)) ** 2 + ((y - cy - .5 * ry) / (ry * .06)) ** 2 < 1
    pixels[mouth] = [rng.uniform(120, 200), 40, 60]
    hair = (y < cy - ry * .6) & (np.abs(x - cx) < rx * 1.2)
    pixels[hair] = pixels[hair] * 0.2 + rng.uniform(10, 120, 3) * 0.8
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5))).astype(np.float32)
    noisy = blurred + rng.normal(0, 5, blurred.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def wild_face(seed: int) -> tuple[bytes, tuple[int, int, int, int]]:
    """An in-the-wild JPEG and its face box ``(x_1, y_1, width, height)``.

    Every fourth box reaches past the image's edge, as some real ones do (clipped).
    """
    rng = np.random.default_rng(10_000 + seed)
    width, height = WILD_SIZES[seed % len(WILD_SIZES)]
    box_w = int(width * rng.uniform(.25, .45))
    box_h = int(box_w * rng.uniform(1.2, 1.4))
    x_1 = int(rng.uniform(0, width - box_w))
    y_1 = int(rng.uniform(0, max(1, height - box_h)))
    if seed % 4 == 0:
        x_1 = width - box_w // 2
    image = face(seed, (width, height), centre=(x_1 + box_w / 2, y_1 + box_h / 2),
                 radii=(box_w * .45, box_h * .45))
    return jpeg(image), (x_1, y_1, box_w, box_h)


def split_sizes(count: int) -> tuple[int, int, int]:
    """Train/val/test counts of ``count`` images in the real proportions."""
    val = round(count * REAL_SPLITS[1] / REAL_COUNT)
    test = round(count * REAL_SPLITS[2] / REAL_COUNT)
    return count - val - test, val, test


def write_tree(root: Path, count: int, *, aligned: bool = True, wild: bool = False) -> None:
    """Write ``count`` images of each asked variant and the annotation files under ``root``."""
    for folder in ("Anno", "Eval"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    boxes = [(0, 0, 1, 1)] * DISTINCT_WILD
    if aligned:
        blobs = [jpeg(face(seed, ALIGNED)) for seed in range(DISTINCT_ALIGNED)]
        _write_images(root / "Img" / "img_align_celeba", count, blobs)
    if wild:
        made = [wild_face(seed) for seed in range(DISTINCT_WILD)]
        boxes = [box for _, box in made]
        _write_images(root / "Img" / "img_celeba", count, [blob for blob, _ in made])
    _write_annotations(root, count, boxes)


def _write_images(folder: Path, count: int, blobs: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, count + 1):
        with open(folder / f"{number:06d}.jpg", "wb") as out:
            out.write(blobs[number % len(blobs)])


def _crlf(path: Path, lines: list[str]) -> None:
    with open(path, "wb") as out:
        out.write(("\r\n".join(lines) + "\r\n").encode("ascii"))


def _write_annotations(root: Path, count: int, boxes: list[tuple[int, int, int, int]]) -> None:
    train, val, _ = split_sizes(count)
    ids = [f"{number:06d}.jpg" for number in range(1, count + 1)]
    _crlf(root / "Eval" / "list_eval_partition.txt",
          [f"{name} {0 if i < train else 1 if i < train + val else 2}"
           for i, name in enumerate(ids)])
    rows = [str(count), " ".join(ATTRIBUTE_NAMES) + " "]
    rng = np.random.default_rng(1)
    signs = np.where(rng.random((count, ATTRIBUTES)) < .3, " 1", "-1")
    rows += [name + " " + " ".join(row) for name, row in zip(ids, signs.tolist(), strict=True)]
    _crlf(root / "Anno" / "list_attr_celeba.txt", rows)
    lines = [str(count), "image_id x_1 y_1 width height"]
    for number, name in enumerate(ids, start=1):
        x_1, y_1, width, height = boxes[number % len(boxes)]
        lines.append(f"{name} {x_1:>5}{y_1:>4}{width:>4}{height:>4}")
    _crlf(root / "Anno" / "list_bbox_celeba.txt", lines)


def disk_bytes(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (allocated blocks, as ``du``)."""
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            total += os.stat(os.path.join(parent, name)).st_blocks * 512
    return total
