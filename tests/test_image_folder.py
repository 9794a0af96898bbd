"""The built-in ``image_folder`` dataset: folders of images written by Pillow in every format
and mode, exact pixels of each conversion, the resize policies, labels and class names from
sub-folders, folder and seeded splits, bad files skipped and named, the pixel limit, symbolic
link loops and unreadable folders, the source fingerprint, and a conditional GAN trained from
an experiment file with no plugin code."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, write_experiment
from ganlab_builtins.celeba.dataset import read_rgb
from ganlab_builtins.image_folder import ImageFolder, ImageItem
from PIL import Image

from ganlab.data import SkipExample
from ganlab.data.imagefile import MAX_IMAGE_PIXELS, open_image
from ganlab.errors import DataError

SIZE = 32
CLASSES = ("circle", "square")


def save(path: Path, image: Image.Image, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def decoded(root: Path, name: str, image: Image.Image | None = None, *, size: int = 4,
            **params: object) -> np.ndarray:
    """``name`` (written from ``image`` when given) decoded by an ``image_folder`` on ``root``."""
    if image is not None:
        save(root / name, image)
    params = {"resample": "nearest", **params}
    dataset = ImageFolder(source=root, tfrecords=root.parent / "unused", image_size=size,
                          labels="none", **params)
    return dataset.decode(ImageItem(name)).image


def bomb_png(path: Path, side: int = 20_000) -> Path:
    """A 100-byte PNG that declares ``side`` x ``side`` gray pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


# -- every mode and format, exact pixels -------------------------------------------------------
def test_rgba_is_composited_onto_the_background_exactly(tmp_path: Path) -> None:
    half_red = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    # (c * a + b * (255 - a)) / 255: 255 -> 255, 0 -> 127 on white; 128 and 0 on black.
    assert tuple(decoded(tmp_path, "a.png", half_red)[0, 0]) == (255, 127, 127)
    assert tuple(decoded(tmp_path, "a.png", background="black")[0, 0]) == (128, 0, 0)
    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert tuple(decoded(tmp_path, "b.png", clear, background="#336699")[2, 2]) == (51, 102, 153)
    gray = decoded(tmp_path, "a.png", channels=1)  # luma of (255, 127, 127)
    assert gray.shape == (4, 4, 1) and gray[0, 0, 0] == 165


def test_palette_images_with_a_transparent_index_show_the_background(tmp_path: Path) -> None:
    indices = np.zeros((4, 4), np.uint8)
    indices[:, 2:] = 1
    palette = Image.fromarray(indices, mode="P")
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    save(tmp_path / "p.png", palette, transparency=0)
    save(tmp_path / "p.gif", palette, transparency=0)
    for name in ("p.png", "p.gif"):
        pixels = decoded(tmp_path, name)
        assert tuple(pixels[0, 0]) == (255, 255, 255), name  # transparent red -> white
        assert tuple(pixels[0, 3]) == (0, 0, 255), name


def test_sixteen_bit_gray_is_scaled_to_eight_bits_not_clipped(tmp_path: Path) -> None:
    row = np.array([0, 257, 32896, 65535], np.uint16)  # exact multiples of 257
    image = Image.fromarray(np.tile(row, (4, 1)))
    assert image.mode == "I;16"
    save(tmp_path / "g16.png", image)
    save(tmp_path / "g16.tif", image)
    for name in ("g16.png", "g16.tif"):
        assert list(decoded(tmp_path, name, channels=1)[0, :, 0]) == [0, 1, 128, 255], name
    assert list(decoded(tmp_path, "g16.png")[1, 3]) == [255, 255, 255]  # gray to RGB
    wide = Image.fromarray(np.tile(np.array([-5, 70000, 65535, 257], np.int32), (4, 1)))
    assert list(decoded(tmp_path, "i32.tif", wide, channels=1)[0, :, 0]) == [0, 255, 255, 1]


def test_float_cmyk_bilevel_and_gray_alpha_modes(tmp_path: Path) -> None:
    floats = Image.fromarray(np.tile(np.array([0.4, 127.6, 300.0, -2.0], np.float32), (4, 1)))
    assert list(decoded(tmp_path, "f.tif", floats, channels=1)[0, :, 0]) == [0, 128, 255, 0]
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    cmyk.paste((0, 0, 0, 255), (0, 0, 2, 4))
    pixels = decoded(tmp_path, "c.tif", cmyk)
    assert tuple(pixels[0, 0]) == (0, 0, 0) and tuple(pixels[0, 3]) == (255, 0, 0)
    bits = Image.fromarray(np.tile(np.array([True, False, True, False]), (4, 1)))
    assert bits.mode == "1"
    assert list(decoded(tmp_path, "b.png", bits, channels=1)[0, :, 0]) == [255, 0, 255, 0]
    gray_alpha = Image.new("LA", (4, 4), (100, 255))
    gray_alpha.paste((100, 0), (0, 0, 2, 4))
    assert list(decoded(tmp_path, "la.png", gray_alpha, channels=1)[0, :, 0]) == [255, 255,
                                                                                 100, 100]
    assert tuple(decoded(tmp_path, "l.png", Image.new("L", (4, 4), 77))[0, 0]) == (77, 77, 77)
    red = decoded(tmp_path, "r.bmp", Image.new("RGB", (4, 4), (255, 0, 0)), channels=1)
    assert red[0, 0, 0] == 76  # ITU-R 601-2 luma: 255 * 299 / 1000


def test_webp_bmp_jpeg_and_the_first_frame_of_a_gif(tmp_path: Path) -> None:
    colour = (10, 200, 30)
    save(tmp_path / "w.webp", Image.new("RGB", (4, 4), colour), lossless=True)
    assert tuple(decoded(tmp_path, "w.webp")[1, 1]) == colour
    assert tuple(decoded(tmp_path, "b.bmp", Image.new("RGB", (4, 4), colour))[1, 1]) == colour
    save(tmp_path / "j.jpg", Image.new("RGB", (32, 32), colour), quality=95)
    assert np.abs(decoded(tmp_path, "j.jpg")[1, 1].astype(int) - colour).max() <= 3
    frames = [Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))]
    save(tmp_path / "anim.gif", frames[0], save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "anim.gif").n_frames == 2
    assert tuple(decoded(tmp_path, "anim.gif")[0, 0]) == (255, 0, 0)


def test_an_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    stored = Image.new("L", (64, 32), 0)  # stored sideways: left half white
    stored.paste(255, (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    save(tmp_path / "photo.jpg", stored, exif=exif.tobytes(), quality=95)
    upright = decoded(tmp_path, "photo.jpg", size=8, resize="stretch", channels=1)[..., 0]
    # Turned clockwise, the stored left half is the top half (a 32 x 64 portrait).
    assert upright[:3].min() > 200 and upright[5:].max() < 50
    dataset = ImageFolder(source=tmp_path, tfrecords=tmp_path / "out", image_size=8)
    dataset.decode(ImageItem("photo.jpg"))
    assert dataset.counts["exif_rotated"] == 1


# -- geometry -----------------------------------------------------------------------------------
def stripes() -> Image.Image:
    """8 x 4: two red columns, four green, two blue."""
    image = Image.new("RGB", (8, 4), (0, 255, 0))
    image.paste((255, 0, 0), (0, 0, 2, 4))
    image.paste((0, 0, 255), (6, 0, 8, 4))
    return image


RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@pytest.mark.parametrize(("resize", "rows"), [
    ("center_crop", [[GREEN] * 4] * 4),  # the centred 4 x 4 square of the short side
    ("stretch", [[RED, GREEN, GREEN, BLUE]] * 4),
    ("pad", [[WHITE] * 4, [RED, GREEN, GREEN, BLUE], [RED, GREEN, GREEN, BLUE], [WHITE] * 4]),
])
def test_resize_policies(tmp_path: Path, resize: str, rows: list) -> None:
    pixels = decoded(tmp_path, "s.png", stripes(), resize=resize)
    assert [[tuple(int(v) for v in pixel) for pixel in row] for row in pixels] == rows


def test_padding_a_gray_image_uses_the_luma_of_the_background(tmp_path: Path) -> None:
    pixels = decoded(tmp_path, "s.png", stripes(), resize="pad", channels=1,
                     background="#ff0000")
    assert pixels[0, 0, 0] == 76 and pixels[1, 1, 0] == 150  # red and green lumas


# -- bad files and the pixel limit --------------------------------------------------------------
def test_an_image_over_the_pixel_limit_is_skipped_before_decoding(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    assert 20_000 ** 2 > MAX_IMAGE_PIXELS and bomb.stat().st_size < 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SkipExample, match=r"image too large: 400,000,000 pixels, more than"):
            decoded(tmp_path, "bomb.png")
        with pytest.raises(SkipExample, match="MAX_IMAGE_PIXELS"):
            read_rgb(bomb)  # CelebA's decoder: the same limit
        with pytest.raises(SkipExample, match="image too large"), \
                open_image(bomb.read_bytes()):  # encoded bytes from an archive or a record
            pass
    assert not [str(warning.message) for warning in caught]  # no DecompressionBombWarning
    save(tmp_path / "ok.png", Image.new("RGB", (3, 2), (1, 2, 3)))
    with open_image((tmp_path / "ok.png").read_bytes()) as image:
        assert image.size == (3, 2) and image.getpixel((2, 1)) == (1, 2, 3)


# -- a labelled tree with split folders and every kind of bad entry -----------------------------
def shape_image(kind: str, index: int) -> Image.Image:
    image = Image.new("RGB", (24 + index, 20), (240, 240, 240))
    pixels = np.asarray(image).copy()
    yy, xx = np.mgrid[:20, :24 + index]
    inside = ((yy - 10) ** 2 + (xx - 12) ** 2 < 49) if kind == "circle" else \
        ((abs(yy - 10) < 6) & (abs(xx - 12) < 6))
    pixels[inside] = (200, 30, 30) if kind == "circle" else (30, 30, 200)
    return Image.fromarray(pixels)


def build_tree(root: Path) -> Path:
    """``train/`` and ``valid/`` with a class folder per shape, plus every bad entry."""
    for split, count in (("train", 4), ("valid", 1)):
        for kind in CLASSES:
            for index in range(count):
                save(root / split / kind / f"{kind}{index}.png", shape_image(kind, index))
    bad = root / "train" / "circle"
    (bad / "empty.png").write_bytes(b"")
    whole = (bad / "circle0.png").read_bytes()
    (bad / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (bad / "notes.txt").write_text("not an image\n")
    bomb_png(bad / "huge.png")
    os.mkfifo(bad / "pipe.png")  # opening it would wait for a writer for ever
    os.symlink(root / "nowhere.png", bad / "gone.png")
    save(root / "train" / "stray.png", shape_image("circle", 0))  # outside the class folders
    os.symlink(root / "train", root / "train" / "square" / "loop")  # back up the tree
    save(root / "extra" / "x.png", shape_image("circle", 1))  # beside the split folders
    (root / "train" / ".hidden.png").write_bytes(b"")
    return root


SKIPPED = {
    "train/circle/empty.png": "empty file (0 bytes)",
    "train/circle/truncated.png": "truncated or corrupt image",
    "train/circle/notes.txt": "not an image file",
    "train/circle/huge.png": "image too large",
    "train/circle/pipe.png": "not a regular file (a FIFO)",
    "train/circle/gone.png": "a broken symbolic link",
    "train/stray.png": "not inside a class folder",
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageFolder, object]:
    root = build_tree(tmp_path_factory.mktemp("shapes") / "shapes")
    # The TFRecords inside the source: never read back as a class or as images.
    # labels: folders, as the stray image would make ``auto`` read the folder as unlabelled.
    dataset = ImageFolder(source=root, tfrecords=root / "tfrecords", image_size=SIZE,
                          labels="folders", workers=1)
    return dataset, dataset.prepare()


def test_labels_and_class_names_come_from_the_class_folders(labelled) -> None:
    dataset, report = labelled
    assert dataset.num_classes == 2 and dataset.class_names == list(CLASSES)
    assert report.counts == {"train": 8, "valid": 2}
    manifest = dataset.manifest()
    assert manifest["class_names"] == list(CLASSES) and manifest["num_classes"] == 2
    rows = list(dataset.load("all", with_metadata=True, deterministic=True))
    assert len(rows) == 10
    for row in rows:
        name = row["filename"].numpy().decode()
        split, kind = name.split("/")[:2]
        assert row["label"].numpy() == CLASSES.index(kind)
        assert row["partition"].numpy() == {"train": 0, "valid": 1}[split]
        assert row["image"].shape == (SIZE, SIZE, 3)
        centre = (row["image"].numpy()[SIZE // 2, SIZE // 2] + 1) * 127.5
        assert (centre[0] > centre[2]) == (kind == "circle")  # red circles, blue squares
    pairs = list(dataset.load(with_labels=True).as_numpy_iterator())
    assert sorted(int(label) for _, label in pairs) == [0] * 4 + [1] * 4


def test_bad_files_are_skipped_counted_and_named_with_their_reason(labelled) -> None:
    dataset, report = labelled
    reasons = dict(report.skipped)
    assert set(reasons) == set(SKIPPED)
    for name, reason in SKIPPED.items():
        assert reason in reasons[name], (name, reasons[name])
    assert dataset.manifest()["skipped_count"] == len(SKIPPED)


def test_the_walk_reports_loops_and_ignores_what_is_outside_the_splits(labelled) -> None:
    dataset, report = labelled
    assert report.notes["folders_not_followed"] == ["train/square/loop"]
    assert report.notes["ignored_outside_splits"] == ["extra"]  # tfrecords/ is ganlab's own
    assert report.notes["hidden_entries"] == 1
    assert report.notes["layout"] == "split folders" and report.notes["labels"] == "class folders"


def test_a_prepared_folder_is_reused_and_knows_its_classes_without_the_source(
        labelled, tmp_path: Path) -> None:
    dataset, _ = labelled
    again = ImageFolder(source=dataset.source, tfrecords=dataset.tfrecords, image_size=SIZE,
                        labels="folders")
    assert again.is_prepared() and again.prepare().reused
    copy = tmp_path / "copy"
    shutil.copytree(dataset.tfrecords, copy)
    gone = ImageFolder(source=tmp_path / "moved-away", tfrecords=copy, image_size=SIZE,
                       labels="folders")
    assert gone.is_prepared() and gone.class_names == list(CLASSES)


def test_the_registered_dataset_passes_the_contract_checks(labelled) -> None:
    from ganlab.testing import check_dataset

    dataset, _ = labelled
    checked = check_dataset("image_folder", source=str(dataset.source),
                            tfrecords=str(dataset.tfrecords), image_size=SIZE, labels="folders")
    assert checked.class_names == list(CLASSES) and checked.is_prepared()


# -- layouts, seeded splits, parameters ---------------------------------------------------------
def flat_classes(root: Path, per_class: int = 10) -> Path:
    for kind in ("a", "b"):
        for index in range(per_class):
            save(root / kind / f"{index:02d}.png", Image.new("L", (4, 4), index))
    return root


def held_out(dataset: ImageFolder) -> dict[str, list[str]]:
    return {split: sorted(item.path for item in items) for split, items in dataset.plan().items()}


def test_the_seeded_split_holds_out_the_stated_fraction_of_each_class(tmp_path: Path) -> None:
    root = flat_classes(tmp_path / "src")

    def split(seed: int) -> dict[str, list[str]]:
        return held_out(ImageFolder(source=root, tfrecords=tmp_path / "out", valid_fraction=0.2,
                                    test_fraction=0.1, seed=seed))

    first = split(0)
    assert {name: len(paths) for name, paths in first.items()} == {"train": 14, "valid": 4,
                                                                   "test": 2}
    for kind in ("a", "b"):
        assert sum(path.startswith(f"{kind}/") for path in first["valid"]) == 2
        assert sum(path.startswith(f"{kind}/") for path in first["test"]) == 1
    assert split(0) == first and split(1)["valid"] != first["valid"]
    everything = sorted(path for paths in first.values() for path in paths)
    assert everything == sorted(f"{k}/{i:02d}.png" for k in "ab" for i in range(10))


def test_a_flat_folder_is_unlabelled_and_val_names_the_valid_split(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    for index in range(3):
        save(flat / "deep" / "er" / f"{index}.jpg", Image.new("RGB", (8, 8), (index, 0, 0)))
    save(flat / "top.png", Image.new("RGB", (8, 8)))
    dataset = ImageFolder(source=flat, tfrecords=tmp_path / "o1", valid_fraction=0.0)
    assert dataset.num_classes == 0 and dataset.class_names is None
    assert held_out(dataset) == {"train": ["deep/er/0.jpg", "deep/er/1.jpg", "deep/er/2.jpg",
                                           "top.png"]}
    classes = flat_classes(tmp_path / "classes", per_class=1)
    assert ImageFolder(source=classes, tfrecords=tmp_path / "o3").class_names == ["a", "b"]
    save(classes / "loose.png", Image.new("RGB", (4, 4)))  # images beside the folders
    assert ImageFolder(source=classes, tfrecords=tmp_path / "o3").num_classes == 0
    split = flat_classes(tmp_path / "split" / "train", per_class=2).parent
    flat_classes(split / "val", per_class=1)
    layout = held_out(ImageFolder(source=split, tfrecords=tmp_path / "o2", partition="valid"))
    assert layout["valid"] == ["val/a/00.png", "val/b/00.png"] and len(layout["train"]) == 4
    shutil.rmtree(split / "val" / "b")  # a small valid/ without every class: still labelled
    os.symlink(split, split / "train" / "up")  # a loop back up: not a class
    assert ImageFolder(source=split, tfrecords=tmp_path / "o2").class_names == ["a", "b"]


@pytest.mark.parametrize(("params", "message"), [
    ({"labels": "folders"}, "labels is 'folders' but .* holds 1 sub-folder"),
    ({"partition": "test"}, "partition is 'test' but .* gives no test images"),
])
def test_layout_problems_are_clear_data_errors(tmp_path: Path, params: dict,
                                               message: str) -> None:
    save(tmp_path / "src" / "only" / "a.png", Image.new("RGB", (4, 4)))
    dataset = ImageFolder(source=tmp_path / "src", tfrecords=tmp_path / "out", **params)
    with pytest.raises(DataError, match=message):
        dataset.plan()


def test_a_missing_source_says_so(tmp_path: Path) -> None:
    dataset = ImageFolder(source=tmp_path / "nothing", tfrecords=tmp_path / "out")
    assert not dataset.source_available() and dataset.source_fingerprint() is None
    with pytest.raises(DataError, match="does not exist"):
        dataset.plan()


@pytest.mark.parametrize(("params", "message"), [
    ({"background": "not-a-colour"}, "background must be a colour"),
    ({"image_size": 3}, "image_size must be from 4"),
    ({"channels": 4}, "channels must be one of 1, 3"),
    ({"resize": "crop"}, "resize must be one of center_crop, pad, stretch"),
    ({"resample": "cubic"}, "resample must be one of lanczos"),
    ({"labels": "yes"}, "labels must be one of auto, folders, none"),
    ({"valid_fraction": 0.6, "test_fraction": 0.5}, "must be below 1"),
])
def test_bad_parameters_are_refused_with_the_parameter_named(tmp_path: Path, params: dict,
                                                             message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        ImageFolder(source=tmp_path, tfrecords=tmp_path / "out", **params)


# -- the source fingerprint ---------------------------------------------------------------------
def test_the_source_fingerprint_follows_names_sizes_and_times(tmp_path: Path) -> None:
    root = flat_classes(tmp_path / "src", per_class=2)

    def fingerprint() -> str | None:
        return ImageFolder(source=root, tfrecords=root / "tfrecords").source_fingerprint()

    first = fingerprint()
    assert first is not None and first.startswith("4 files, ") and fingerprint() == first
    (root / "tfrecords").mkdir()
    (root / "tfrecords" / "dataset.json").write_text("{}")  # ganlab's own output: not source
    assert fingerprint() == first
    os.utime(root / "a" / "00.png", ns=(1, 1))
    touched = fingerprint()
    assert touched != first
    (root / "b" / "01.png").rename(root / "b" / "02.png")
    assert fingerprint() not in (first, touched)


def test_a_changed_folder_is_prepared_again(tmp_path: Path) -> None:
    root = flat_classes(tmp_path / "src", per_class=2)
    dataset = ImageFolder(source=root, tfrecords=tmp_path / "out", image_size=4,
                          valid_fraction=0.0, workers=1)
    assert dataset.prepare().counts == {"train": 4}
    save(root / "a" / "new.png", Image.new("L", (4, 4), 9))
    changed = ImageFolder(source=root, tfrecords=tmp_path / "out", image_size=4,
                          valid_fraction=0.0, workers=1)
    assert not changed.is_prepared()
    assert changed.prepare(overwrite=True).counts == {"train": 5}


# -- unreadable folders -------------------------------------------------------------------------
UNPRIVILEGED_PLAN = """
import json, sys
from ganlab_builtins.image_folder import ImageFolder
dataset = ImageFolder(source=sys.argv[1], tfrecords=sys.argv[2], labels="none")
plan = dataset.plan()
print(json.dumps({"files": sorted(i.path for items in plan.values() for i in items),
                  "notes": dataset.prepare_notes()}))
"""


def test_an_unreadable_folder_is_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    root = tmp_path / "src"
    save(root / "ok" / "a.png", Image.new("RGB", (4, 4)))
    save(root / "locked" / "b.png", Image.new("RGB", (4, 4)))
    (root / "locked").chmod(0)
    command = [sys.executable, "-c", UNPRIVILEGED_PLAN, str(root), str(tmp_path / "out")]
    if os.geteuid() == 0:  # root reads everything: drop the capabilities that let it
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                check=False)
    finally:
        (root / "locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["files"] == ["ok/a.png"]
    assert found["notes"]["unreadable_folders"] == ["locked (Permission denied)"]
    assert "unreadable_folders_count" not in found["notes"]  # only when the list is cut


# -- training from an experiment file -----------------------------------------------------------
def test_a_conditional_gan_trains_on_a_folder_from_an_experiment_file(labelled,
                                                                      tmp_path: Path) -> None:
    dataset, _ = labelled
    config = {
        "name": "shapes",
        "seed": 3,
        "run_dir": str(tmp_path / "runs" / "shapes"),
        "dataset": {"name": "image_folder", "params": {
            "source": str(dataset.source), "tfrecords": str(dataset.tfrecords),
            "image_size": SIZE, "labels": "folders"}},
        "architecture": {"name": "dcgan", "params": {
            "latent_dim": 8, "base_filters": 4, "kernel_size": 4,
            "num_classes": len(CLASSES)}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 2, "verbose": 0},
        "latents": {"bank_size": 4},
        "callbacks": [],
    }
    result = run_cli(["run", str(write_experiment(tmp_path / "shapes.yaml", config))])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "runs" / "shapes" / "run.json").read_text())
    assert run["num_classes"] == len(CLASSES)
    history = (tmp_path / "runs" / "shapes" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "nan" not in history[-1].lower()
