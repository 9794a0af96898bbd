"""CelebA end to end: prepare small trees into TFRecords with the core writer, load them back."""

from __future__ import annotations

import numpy as np
import pytest
from celeba_fixtures import FACES, attributes_of, build_celeba
from ganlab_builtins.celeba import CelebA

from ganlab.errors import DataError

SIZE = 32
pytest.importorskip("tensorflow")

#: Images written per split: 000003 (not an image) and 000004 (truncated) are
#: skipped everywhere; 000006 too with boxes (its box lies outside the image).
EXPECTED = {
    ("img_celeba", True): {"train": 2, "val": 1, "test": 2},
    ("img_celeba", False): {"train": 2, "val": 2, "test": 2},
    ("img_align_celeba", False): {"train": 2, "val": 2, "test": 2},
    ("img_align_celeba_png", False): {"train": 2, "val": 2, "test": 2},
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_celeba(tmp_path_factory.mktemp("celeba") / "CelebA")


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    """Each variant prepared once (in-process), shared by the read-only tests."""
    out = tmp_path_factory.mktemp("tfrecords")
    results = {}
    for variant, bbox in EXPECTED:
        ds = CelebA(source=tree.root, tfrecords=out / f"{variant}-{bbox}", variant=variant,
                    bbox=bbox, image_size=SIZE, workers=1)
        results[variant, bbox] = (ds, ds.prepare())
    return results


def rows(ds: CelebA, split: str | None = None) -> list[dict]:
    data = ds.load(split, with_metadata=True, deterministic=True)
    return [{k: v.numpy() for k, v in row.items()} for row in data]


@pytest.mark.parametrize(("variant", "bbox"), list(EXPECTED))
def test_prepare_and_load_every_variant(prepared, variant, bbox):
    ds, report = prepared[variant, bbox]
    expected = EXPECTED[variant, bbox]
    assert not report.reused and report.counts == expected
    skipped = {name for name, _ in report.skipped}
    suffix = ".png" if variant.endswith("png") else ".jpg"
    assert skipped == {f"00000{n}{suffix}" for n in ((3, 4, 6) if bbox else (3, 4))}
    assert ds.is_prepared()
    for split, count in expected.items():
        assert ds.num_examples(split) == count
        loaded = rows(ds, split)
        assert len(loaded) == count
        for row in loaded:
            number = int(row["filename"].decode()[:6])
            assert row["image"].shape == (SIZE, SIZE, 3) and row["image"].dtype == np.float32
            assert -1.0 <= row["image"].min() and row["image"].max() <= 1.0
            assert row["partition"] == FACES[number - 1].partition
            assert list(row["attributes"]) == attributes_of(number)
            assert row["label"] == -1
    assert len(list(ds.load())) == expected["train"]  # partition: train by default


def test_manifest_reports_boxes_skips_and_attribute_names(prepared):
    ds, report = prepared["img_celeba", True]
    assert report.notes["bbox_clipped"] == 1 and report.notes["bbox_degenerate"] == 1
    assert len(report.notes["attribute_names"]) == 40
    manifest = ds.manifest()
    assert manifest["attributes_length"] == 40 and manifest["skipped_count"] == 3
    assert "img_celeba" in manifest["source"] and manifest["options"]["bbox"] is True
    reasons = {e["filename"]: e["reason"] for e in manifest["skipped"]}
    assert "not an image" in reasons["000003.jpg"]
    assert "truncated or corrupt" in reasons["000004.jpg"]
    assert "degenerate" in reasons["000006.jpg"]


def test_stored_crops_keep_their_colours(tree, tmp_path):
    faces = CelebA(source=tree.root, tfrecords=tmp_path / "faces", variant="img_celeba",
                   bbox=True, bbox_square=False, partition="all", image_size=SIZE, workers=1)
    faces.prepare()
    for row in rows(faces):  # every stored face crop is the red box
        pixels = (row["image"] + 1.0) * 127.5
        assert np.mean(pixels[..., 0] > 200) > 0.95, row["filename"]
    aligned = CelebA(source=tree.root, tfrecords=tmp_path / "aligned", partition="all",
                     image_size=SIZE, workers=1)
    aligned.prepare()
    for row in rows(aligned):  # the central 108 square is green
        pixels = (row["image"] + 1.0) * 127.5
        assert np.mean(pixels[..., 1] > 200) > 0.95, row["filename"]


def test_partitions_share_one_set_of_tfrecords(prepared, tree):
    ds, _ = prepared["img_align_celeba", False]
    for partition, count in (("val", 2), ("test", 2), ("all", 6)):
        other = CelebA(source=tree.root, tfrecords=ds.tfrecords, partition=partition,
                       image_size=SIZE)
        assert other.is_prepared() and other.prepare().reused
        assert other.num_examples() == count and len(list(other.load())) == count


def test_prepare_again_reuses_and_other_options_are_refused(prepared, tree):
    ds, _ = prepared["img_align_celeba", False]
    assert CelebA(source=tree.root, tfrecords=ds.tfrecords, image_size=SIZE).prepare().reused
    other = CelebA(source=tree.root, tfrecords=ds.tfrecords, image_size=SIZE, crop=140)
    with pytest.raises(DataError, match="other options"):
        other.prepare()


def test_on_error_fail_stops_at_the_first_unreadable_image(tree, tmp_path):
    ds = CelebA(source=tree.root, tfrecords=tmp_path / "out", on_error="fail",
                image_size=SIZE, workers=1)
    with pytest.raises(DataError, match="000003.jpg.*not an image"):
        ds.prepare()
    assert not (tmp_path / "out" / "dataset.json").exists()


@pytest.mark.parametrize("layout", ["flat", "flat_images"])
def test_flat_layouts_prepare_too(tmp_path, layout):
    tree = build_celeba(tmp_path / "flat", layout=layout, variants=("img_align_celeba_png",))
    ds = CelebA(source=tree.root, tfrecords=tmp_path / "out", variant="img_align_celeba_png",
                partition="all", image_size=SIZE, workers=1)
    assert ds.prepare().counts == {"train": 2, "val": 2, "test": 2}
    assert len(list(ds.load())) == 6


@pytest.mark.slow
def test_box_counts_from_worker_processes_add_up(tree, tmp_path):
    ds = CelebA(source=tree.root, tfrecords=tmp_path / "out", variant="img_celeba", bbox=True,
                image_size=SIZE, workers=2)
    report = ds.prepare()
    assert report.counts == EXPECTED["img_celeba", True]
    assert report.notes["bbox_clipped"] == 1 and report.notes["bbox_degenerate"] == 1
    assert report.notes["images_missing"] == 0


def test_prepare_command_output_is_terse(tree, tmp_path):
    from conftest import run_cli, write_experiment

    config = {"name": "faces", "run_dir": str(tmp_path / "run"),
              "dataset": {"name": "celeba", "params": {
                  "source": str(tree.root), "tfrecords": str(tmp_path / "tfr"),
                  "variant": "img_align_celeba", "image_size": SIZE, "workers": 1}},
              "architecture": {"name": "dcgan"}, "loss": {"name": "bce"},
              "train": {"epochs": 1, "batch_size": 2}}
    result = run_cli(["prepare", str(write_experiment(tmp_path / "faces.yaml", config))])
    assert result.exit_code == 0, result.output
    assert "attribute_names: 40 (" in result.output
    assert "Young" not in result.output  # the 40th name: listed in the manifest, not printed
    assert len(result.output.splitlines()) < 20  # one line per split and note, no more
