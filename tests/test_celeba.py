"""The built-in ``celeba`` dataset plugin: parsing, layouts, planning, crops, skips."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from celeba_fixtures import (
    ATTRIBUTE_NAMES,
    FACES,
    VARIANTS,
    Face,
    attributes_of,
    build_celeba,
)
from ganlab_builtins import celeba
from ganlab_builtins.celeba import CelebA, CelebAItem

from ganlab.data import SkipExample
from ganlab.errors import DataError

SIZE = 32


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """One official-layout tree with all three image folders, shared read-only."""
    return build_celeba(tmp_path_factory.mktemp("celeba") / "CelebA")


def dataset(root, tmp_path=Path("unused"), **params) -> CelebA:
    params.setdefault("image_size", SIZE)
    return CelebA(source=root, tfrecords=tmp_path / "tfrecords", **params)


def item_for(ds: CelebA, number: int) -> CelebAItem:
    name = f"{number:06d}"
    return next(i for items in ds.plan().values() for i in items if i.filename.startswith(name))


def colour_fractions(image: np.ndarray) -> dict[str, float]:
    """Fractions of pixels that are clearly red, green or blue."""
    pixels = image.reshape(-1, 3).astype(int)
    dominant = pixels.argmax(axis=1)
    strong = pixels.max(axis=1) > 150
    return {name: float(np.mean(strong & (dominant == channel)))
            for channel, name in enumerate(("red", "green", "blue"))}


# -- annotation files ---------------------------------------------------------------------------
def test_partition_file_parsed_with_crlf(tree):
    partitions = celeba.parse_partition_file(tree.anno["partition"])
    assert b"\r\n" in tree.anno["partition"].read_bytes()
    assert partitions == {f.image_id: f.partition for f in FACES}


def test_attr_file_header_without_id_column_and_trailing_space(tree):
    header = tree.anno["attr"].read_bytes().split(b"\n")[1]
    assert header == (" ".join(ATTRIBUTE_NAMES) + " \r").encode()
    names, attributes = celeba.parse_attr_file(tree.anno["attr"])
    assert names == tuple(ATTRIBUTE_NAMES)
    assert len(attributes) == len(FACES)
    assert celeba.decode_attributes(attributes["000005.jpg"]) == tuple(attributes_of(5))


def test_bbox_file_header_names_id_column_and_padding(tree):
    text = tree.anno["bbox"].read_text()
    assert "image_id x_1 y_1 width height" in text and "  " in text
    boxes = celeba.parse_bbox_file(tree.anno["bbox"])
    assert list(boxes) == [f.image_id for f in FACES]
    assert boxes["000002.jpg"] == (-20, 10, 100, 200)


def rewrite(path: Path, old: str, new: str) -> Path:
    text = path.read_bytes().decode()
    assert old in text, (old, text[:200])
    path.write_bytes(text.replace(old, new, 1).encode())
    return path


@pytest.mark.parametrize(("which", "old", "new", "message"), [
    ("attr", "8\r\n", "9\r\n", "declares 9 images"),
    ("bbox", "8\r\n", "7\r\n", "declares 7 images"),
    ("attr", "8\r\n", "eight\r\n", "line 1"),
    ("bbox", "image_id x_1", "id x_1", "line 2"),
    ("attr", "000003.jpg  1", "000003.jpg  0", "line 5"),
    ("attr", "000004.jpg", "000004.jpg  1", "line 6"),
    ("bbox", "000002.jpg   -20", "000002.jpg   -2x", "line 4"),
    ("bbox", "000007.jpg", "000007.jpg 3", "line 9"),
    ("partition", "000005.jpg 1", "000005.jpg 3", "line 5"),
    ("partition", "000005.jpg 1", "000005.jpg", "line 5"),
    ("partition", "000006.jpg 1", "000005.jpg 1", "listed twice"),
])
def test_malformed_annotation_files_name_file_and_line(tmp_path, which, old, new, message):
    tree = build_celeba(tmp_path / "c", variants=("img_celeba",))
    rewrite(tree.anno[which], old, new)
    parse = {"attr": celeba.parse_attr_file, "bbox": celeba.parse_bbox_file,
             "partition": celeba.parse_partition_file}[which]
    with pytest.raises(DataError, match=message) as error:
        parse(tree.anno[which])
    assert tree.anno[which].name in str(error.value)


def test_annotation_file_that_is_not_text(tmp_path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_bytes(b"\xff\xd8\xff\xe0 binary")
    with pytest.raises(DataError, match="not text"):
        celeba.parse_attr_file(path)


@pytest.mark.parametrize("bad_id", [
    "../000001.jpg", "../../etc/passwd.jpg", "/etc/000001.jpg", "sub/000001.jpg",
    "..\\000001.jpg", "C:000001.jpg", ".hidden.jpg", "~000001.jpg",
])
def test_image_ids_that_escape_the_source_folder_are_rejected(tmp_path, bad_id):
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",))
    rewrite(tree.anno["partition"], "000001.jpg", bad_id)
    rewrite(tree.anno["attr"], "000001.jpg", bad_id)
    with pytest.raises(DataError, match="not a plain file name"):
        dataset(tree.root).plan()


def test_ids_that_are_not_jpg_names_are_rejected(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",))
    rewrite(tree.anno["partition"], "000001.jpg", "000001.gif")
    with pytest.raises(DataError, match="not a CelebA image name"):
        dataset(tree.root).plan()


def drop_row(path: Path, image_id: str, new_count: str | None = None) -> None:
    lines = path.read_bytes().decode().split("\r\n")
    lines = [line for line in lines if not line.startswith(image_id)]
    if new_count is not None:
        lines[0] = new_count
    path.write_bytes("\r\n".join(lines).encode())


def test_attr_file_missing_a_row(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_celeba",))
    drop_row(tree.anno["attr"], "000008.jpg", new_count="7")
    with pytest.raises(DataError, match="list_attr_celeba.txt has no row for 1 image.*000008"):
        dataset(tree.root, variant="img_celeba").plan()


def test_attr_file_with_an_extra_row(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_celeba",))
    drop_row(tree.anno["partition"], "000008.jpg")
    with pytest.raises(DataError, match="has 1 row\\(s\\) for images not in list_eval"):
        dataset(tree.root, variant="img_celeba").plan()


def test_bbox_file_listing_other_images(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_celeba",))
    rewrite(tree.anno["bbox"], "000008.jpg", "000009.jpg")
    with pytest.raises(DataError, match="list_bbox_celeba.txt has no row.*000008.*000009"):
        dataset(tree.root, variant="img_celeba", bbox=True).plan()


# -- layouts and source checks -------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["official", "flat", "flat_images"])
def test_layouts_give_the_same_plan(tmp_path, layout):
    tree = build_celeba(tmp_path / layout, layout=layout, variants=("img_align_celeba",))
    ds = dataset(tree.root)
    assert ds.source_available()
    plan = ds.plan()
    assert {k: len(v) for k, v in plan.items()} == {"train": 4, "val": 2, "test": 2}
    assert ds.image_dir == tree.image_dirs["img_align_celeba"]
    kind = "official" if layout == "official" else "flat"
    assert f"{kind} layout" in ds.describe_source()


def test_missing_source_says_where_to_get_celeba(tmp_path):
    ds = dataset(tmp_path / "nowhere")
    assert not ds.source_available()
    with pytest.raises(DataError, match="does not exist.*mmlab.ie.cuhk.edu.hk"):
        ds.plan()


def test_no_source_given(tmp_path):
    with pytest.raises(DataError, match="needs a 'source'"):
        CelebA(source=None, tfrecords=tmp_path).plan()


def test_missing_annotation_file_is_named(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_celeba",))
    tree.anno["bbox"].unlink()
    dataset(tree.root, variant="img_celeba").plan()  # boxes only needed with bbox
    with pytest.raises(DataError, match="list_bbox_celeba.txt not found"):
        dataset(tree.root, variant="img_celeba", bbox=True).plan()


def test_unextracted_archive_is_pointed_out(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=())
    (tree.root / "Img").mkdir()
    (tree.root / "Img" / "img_align_celeba.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match="not extracted.*img_align_celeba.zip"):
        dataset(tree.root).plan()


def test_missing_variant_folder(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",))
    with pytest.raises(DataError, match="No CelebA img_align_celeba_png images"):
        dataset(tree.root, variant="img_align_celeba_png").plan()


def test_folder_without_any_listed_image(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",))
    for path in tree.image_dirs["img_align_celeba"].iterdir():
        path.rename(path.with_name("x" + path.name))
    with pytest.raises(DataError, match="None of the 8 images"):
        dataset(tree.root).plan()


def test_missing_and_unlisted_images_are_counted_and_missing_ones_skipped(tmp_path):
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",))
    tree.image_path("img_align_celeba", 8).unlink()
    (tree.image_dirs["img_align_celeba"] / "999999.jpg").write_bytes(b"x")
    ds = dataset(tree.root)
    plan = ds.plan()
    assert len(plan["test"]) == 2  # still planned, so that decode reports it
    notes = ds.prepare_notes()
    assert notes["images_missing"] == 1 and notes["images_missing_examples"] == ["000008.jpg"]
    assert notes["images_not_annotated"] == 1
    with pytest.raises(SkipExample, match="missing image file") as skipped:
        ds.decode(item_for(ds, 8))
    assert skipped.value.filename == "000008.jpg"


# -- params ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["img_align_celeba", "img_align_celeba_png"])
def test_bbox_with_an_aligned_variant_is_refused(variant):
    with pytest.raises(ValueError, match="in-the-wild"):
        CelebA(source="x", tfrecords="y", variant=variant, bbox=True)


@pytest.mark.parametrize(("params", "message"), [
    ({"image_size": 48}, "image_size must be one of 32, 64, 128"),
    ({"image_size": True}, "image_size"),
    ({"variant": "img_align"}, "variant must be one of"),
    ({"partition": "validation"}, "partition must be one of"),
    ({"bbox": "yes"}, "bbox must be true or false"),
    ({"crop": 200}, "at most 178"),
    ({"crop": 0}, "positive"),
    ({"variant": "img_celeba", "bbox": True, "crop": 108}, "crop does not apply"),
    ({"on_error": "ignore"}, "on_error"),
    ({"workers": 0}, "workers"),
])
def test_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        CelebA(source="x", tfrecords="y", **params)


def test_defaults_and_options():
    ds = CelebA(source="x", tfrecords="y")
    assert ds.workers is None and CelebA(source="x", tfrecords="y", workers=3).workers == 3
    assert (ds.variant, ds.bbox, ds.partition, ds.image_size, ds.crop) == (
        "img_align_celeba", False, "train", 64, 108)
    assert ds.image_shape == (64, 64, 3) and ds.default_split == "train"
    assert ds.options()["crop"] == 108 and "partition" not in ds.options()
    wild = CelebA(source="x", tfrecords="y", variant="img_celeba")
    assert wild.options()["crop"] == "short_side"
    boxed = CelebA(source="x", tfrecords="y", variant="img_celeba", bbox=True)
    assert boxed.options()["bbox_square"] is True and "crop" not in boxed.options()
    # Partitions share one set of TFRecords: same fingerprinted options.
    assert CelebA(source="x", tfrecords="y", partition="all").options() == ds.options()
    assert CelebA(source="x", tfrecords="y", partition="all").default_split == "all"


def test_registered_through_the_hook():
    registered = {}
    celeba.register_datasets(lambda name, factory, description=None:
                             registered.update({name: (factory, description)}))
    assert registered["celeba"][0] is CelebA and registered["celeba"][1]


# -- plan ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_plan_per_partition_with_attributes(tree, variant):
    ds = dataset(tree.root, variant=variant)
    plan = ds.plan()
    assert [len(plan[s]) for s in ("train", "val", "test")] == [4, 2, 2]
    suffix = ".png" if variant.endswith("png") else ".jpg"
    for split, partition in (("train", 0), ("val", 1), ("test", 2)):
        for item in plan[split]:
            number = int(item.filename[:6])
            assert item.filename.endswith(suffix) and item.partition == partition
            assert celeba.decode_attributes(item.attributes) == tuple(attributes_of(number))
            assert item.box is None
    assert [i.filename[:6] for i in plan["train"]] == ["000001", "000002", "000003", "000004"]


def test_plan_omits_empty_partitions(tmp_path):
    faces = tuple(Face(f.number, 0, f.wild_size, f.box) for f in FACES[:2])
    tree = build_celeba(tmp_path / "c", variants=("img_align_celeba",), faces=faces)
    assert list(dataset(tree.root).plan()) == ["train"]


def test_worker_copies_leave_the_annotation_cache_behind(tree):
    ds = dataset(tree.root)
    ds.plan()
    assert ds._cache
    state = ds.__getstate__()
    assert state["_cache"] == {} and state["image_dir"] == tree.image_dirs["img_align_celeba"]
    clone = copy.deepcopy(ds)  # uses the same state as the pickling to worker processes
    assert clone._cache == {} and clone.decode(item_for(ds, 1)).filename == "000001.jpg"


# -- decode: crops ---------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["img_align_celeba", "img_align_celeba_png"])
def test_aligned_default_crop_is_the_central_108_square(tree, variant):
    ds = dataset(tree.root, variant=variant)
    example = ds.decode(item_for(ds, 1))
    assert example.image.shape == (SIZE, SIZE, 3) and example.image.dtype == np.uint8
    assert colour_fractions(example.image)["green"] > 0.97
    assert example.filename == ("000001.png" if variant.endswith("png") else "000001.jpg")
    assert tuple(example.attributes) == tuple(attributes_of(1)) and example.partition == 0


def test_aligned_crop_178_keeps_the_full_width(tree):
    ds = dataset(tree.root, crop=178, image_size=64)
    fractions = colour_fractions(ds.decode(item_for(ds, 7)).image)
    # The 108x108 green square covers (108/178)^2 = 37% of a 178x178 crop.
    assert 0.30 < fractions["green"] < 0.45 and fractions["red"] > 0.5


def test_wild_without_bbox_takes_the_short_side_square(tree):
    ds = dataset(tree.root, variant="img_celeba")
    example = ds.decode(item_for(ds, 1))  # 160x200 image, 60x80 red box inside
    assert example.image.shape == (SIZE, SIZE, 3)
    assert 0.12 < colour_fractions(example.image)["red"] < 0.26  # 4800 / 160^2 = 19%


def test_bbox_crop_is_the_face(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True, bbox_square=False)
    for number in (1, 5, 7, 8):
        item = item_for(ds, number)
        assert item.box == FACES[number - 1].box
        assert colour_fractions(ds.decode(item).image)["red"] > 0.95, number


def test_bbox_square_grows_the_box_around_the_face(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True)
    fractions = colour_fractions(ds.decode(item_for(ds, 1)).image)
    # A 60x80 box squared to 80x80: the face is 75% of the crop, the rest background.
    assert 0.65 < fractions["red"] < 0.85 and fractions["blue"] > 0.15


def test_box_partly_outside_is_clipped_and_reported(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True, bbox_square=False)
    assert colour_fractions(ds.decode(item_for(ds, 2)).image)["red"] > 0.95
    assert ds.prepare_notes()["bbox_clipped"] == 1


def test_notes_after_decoding_everything(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True)
    assert ds.prepare_notes() == {"bbox_clipped": 0, "bbox_degenerate": 0}  # before plan()
    skipped = {}
    for item in (i for items in ds.plan().values() for i in items):
        try:
            ds.decode(item)
        except SkipExample as exc:
            skipped[exc.filename] = str(exc)
    assert sorted(skipped) == ["000003.jpg", "000004.jpg", "000006.jpg"]
    notes = ds.prepare_notes()
    assert (notes["bbox_clipped"], notes["bbox_degenerate"]) == (1, 1)
    assert notes["attribute_names"] == ATTRIBUTE_NAMES
    assert notes["annotated_per_split"] == {"train": 4, "val": 2, "test": 2}
    assert notes["images_missing"] == 0 and notes["images_not_annotated"] == 0
    ds.plan()  # a new plan starts new counts
    assert ds.prepare_notes()["bbox_clipped"] == 0


def test_worker_notes_are_only_the_counters(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True)
    ds.plan()
    worker = copy.deepcopy(ds)  # what a worker process receives
    worker.decode(item_for(ds, 2))
    assert worker.prepare_notes() == {"bbox_clipped": 1, "bbox_degenerate": 0}
    assert dataset(tree.root).prepare_notes() == {}  # no boxes: nothing before plan()


def test_degenerate_box_skips_the_image(tree):
    ds = dataset(tree.root, variant="img_celeba", bbox=True)
    with pytest.raises(SkipExample, match="degenerate"):
        ds.decode(item_for(ds, 6))


@pytest.mark.parametrize(("box", "size", "expected", "clipped"), [
    ((10, 20, 30, 40), (100, 100), (10, 20, 40, 60), False),
    ((-5, -5, 20, 20), (100, 100), (0, 0, 15, 15), True),
    ((90, 90, 20, 20), (100, 100), (90, 90, 100, 100), True),
    ((100, 0, 10, 10), (100, 100), None, True),
    ((10, 10, 0, 5), (100, 100), None, False),
    ((10, 10, -5, 5), (100, 100), None, False),  # negative size: nothing to clip
])
def test_clip_box(box, size, expected, clipped):
    assert celeba.clip_box(box, size) == (expected, clipped)


@pytest.mark.parametrize(("box", "size", "expected"), [
    ((40, 50, 100, 130), (160, 200), (30, 50, 110, 130)),  # widened around the center
    ((0, 10, 80, 150), (200, 150), (0, 10, 140, 150)),  # shifted right to stay inside
    ((0, 0, 90, 130), (90, 130), (0, 20, 90, 110)),  # limited to the short side
    ((10, 10, 30, 30), (50, 50), (10, 10, 30, 30)),  # already square
])
def test_square_around(box, size, expected):
    square = celeba.square_around(box, size)
    assert square == expected
    assert square[2] - square[0] == square[3] - square[1]
    assert 0 <= square[0] and 0 <= square[1] and square[2] <= size[0] and square[3] <= size[1]


# -- decode: unreadable images ---------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_non_image_bytes_named_jpg_are_skipped_with_the_reason(tree, variant):
    ds = dataset(tree.root, variant=variant)
    with pytest.raises(SkipExample, match="not an image file"):
        ds.decode(item_for(ds, 3))


@pytest.mark.parametrize("variant", VARIANTS)
def test_truncated_jpeg_and_png_are_skipped_not_padded(tree, variant):
    ds = dataset(tree.root, variant=variant)
    with pytest.raises(SkipExample, match="truncated or corrupt"):
        ds.decode(item_for(ds, 4))
