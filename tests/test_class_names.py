"""Labels and class names through the one dataset contract: in memory and as TFRecords, in the
manifest (older manifests without names still load), in run.json, in ``sample --class NAME``,
in the domain classifier and in label queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from class_names_plugin import NAMES, ShapeRecords, Shapes
from conftest import run_cli, tiny_experiment, write_experiment
from ganlab_builtins.classifier.training import TrainSettings, train_classifier
from ganlab_builtins.latent.exemplars import LatentSpecError
from ganlab_builtins.latent.queries import bind_query, parse_query
from ganlab_builtins.sample_grid import file_stems
from test_docs_examples import block_defining

from ganlab.contracts import class_index, class_names_of, supports_labels
from ganlab.data.manifest import manifest_classes, read_manifest
from ganlab.errors import DataError, PluginError
from ganlab.plugins import load_plugins
from ganlab.rundir import metadata_problems
from ganlab.testing import check_dataset

PLUGIN = str(Path(__file__).with_name("class_names_plugin.py"))


class Named:
    def __init__(self, num_classes: int, class_names=None):
        self.num_classes, self.class_names = num_classes, class_names


def test_names_default_to_the_indices_and_none_without_classes() -> None:
    assert class_names_of(Named(3)) == ["0", "1", "2"]
    assert class_names_of(Named(0)) == [] and class_names_of(object()) == []
    assert class_names_of(Named(2, ("cat", "dog"))) == ["cat", "dog"]


@pytest.mark.parametrize("names, error, message", [
    ("cat", TypeError, "must be a list of strings"),
    (["cat"], ValueError, "has 1 names but num_classes is 2"),
    (["cat", 3], TypeError, r"class_names\[1\] is 3, not a string"),
    (["cat", " "], ValueError, "not blank"),
    (["cat", "d\nog"], ValueError, "printable"),
    (["cat", "cat"], ValueError, r"class_names\[0\] and class_names\[1\] are both 'cat'"),
    (["cat", "x" * 201], ValueError, "1 to 200 printable characters"),
])
def test_bad_class_names_are_refused(names, error, message) -> None:
    with pytest.raises(error, match=message):
        class_names_of(Named(2, names))


def test_a_class_is_named_or_numbered() -> None:
    names = ["circle", "square", "0"]
    assert class_index(names, "square") == 1 and class_index(names, 1) == 1
    assert class_index(names, "0") == 2  # a name wins over an index
    with pytest.raises(ValueError, match="'sqare' is not one of its classes \\(did you mean "
                                         "'square'\\?\\): give a name or an index 0-2"):
        class_index(names, "sqare")
    with pytest.raises(ValueError, match="not class-conditional"):
        class_index([], "square")


def test_an_in_memory_dataset_gives_image_label_pairs() -> None:
    dataset = Shapes(count=8)
    assert supports_labels(dataset) and class_names_of(dataset) == list(NAMES)
    pairs = list(dataset.load(with_labels=True))
    assert [int(label) for _, label in pairs] == [0, 1] * 4
    assert pairs[0][0].shape == (32, 32, 1) and pairs[0][1].dtype.name == "int32"
    assert len(list(dataset.load())) == 8  # images alone, as before
    with pytest.raises(ValueError, match=r"labels\('train'\)\[3\] is 2, not a class 0..1"):
        Shapes(count=8, bad_label=True).load(with_labels=True)


def test_an_in_memory_dataset_without_labels_cannot_give_them() -> None:
    class Plain(Shapes):
        num_classes = 0

    with pytest.raises(DataError, match="has no class labels"):
        Plain(count=4).load(with_labels=True)


def test_an_in_memory_dataset_trains_a_conditional_gan_and_samples_by_name(
        tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, plugins=[PLUGIN])  # with the sample_grid callback
    config["dataset"] = {"name": "shapes_in_memory", "params": {"count": 24}}
    config["architecture"]["params"]["num_classes"] = 2
    config["train"].update(batch_size=8, steps_per_epoch=2, epochs=1)
    result = run_cli(["run", str(write_experiment(tmp_path / "shapes.yaml", config))])
    assert result.exit_code == 0, result.output
    run_dir = config["run_dir"]
    run = json.loads((Path(run_dir) / "run.json").read_text())
    assert run["num_classes"] == 2 and run["class_names"] == list(NAMES)
    # The sample grid keeps one row per class, named (what compare shows).
    rows = {name: Path(run_dir) / "samples" / "classes" / f"{name}.png" for name in NAMES}
    assert all(path.is_file() for path in rows.values())
    assert rows["circle"].read_bytes() != rows["square"].read_bytes()
    grids = {}
    for label in ("square", "1", "circle"):
        grids[label] = tmp_path / f"{label}.png"
        drawn = run_cli(["sample", run_dir, "--class", label, "--num", "4", "--seed", "3",
                         "--out", str(grids[label])])
        assert drawn.exit_code == 0, drawn.output
    # The name and the index draw the same images; another class draws others.
    assert grids["square"].read_bytes() == grids["1"].read_bytes()
    assert grids["square"].read_bytes() != grids["circle"].read_bytes()
    refused = run_cli(["sample", run_dir, "--class", "sqare", "--num", "4",
                       "--out", str(tmp_path / "no.png")])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "did you mean 'square'" in refused.output and "circle, square" in refused.output


def test_names_travel_in_the_manifest_and_older_manifests_still_load(tmp_path: Path) -> None:
    dataset = ShapeRecords(tmp_path / "tf", count=8)
    dataset.prepare(workers=1)
    manifest = read_manifest(tmp_path / "tf")
    assert manifest["class_names"] == list(NAMES) and manifest["num_classes"] == 2
    # A new object knows its classes from the manifest alone (plan() is not run).
    fresh = ShapeRecords(tmp_path / "tf", count=8, names=["ignored", "too"])
    assert fresh.is_prepared() and fresh.num_classes == 2
    assert class_names_of(fresh) == list(NAMES)
    # A manifest written before class names were recorded: no fields, no classes, still loads.
    path = tmp_path / "tf" / "dataset.json"
    old = {key: value for key, value in manifest.items()
           if key not in ("class_names", "num_classes")}
    path.write_text(json.dumps(old))
    assert fresh.is_prepared() and fresh.num_classes == 0 and manifest_classes(old) == []
    assert len(list(fresh.load())) == 8
    # With num_classes but no names: the indices.
    path.write_text(json.dumps({**old, "num_classes": 2}))
    assert class_names_of(fresh) == ["0", "1"]
    path.write_text(json.dumps({**old, "num_classes": 2, "class_names": ["a", "a"]}))
    with pytest.raises(DataError, match="damaged.*both 'a'"):
        read_manifest(tmp_path / "tf")


def test_the_writer_refuses_labels_outside_the_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="decode\\(\\) gave label 2 .* num_classes 2"):
        ShapeRecords(tmp_path / "tf", count=4, label_offset=1).prepare(workers=1)
    assert not (tmp_path / "tf" / "dataset.json").exists()
    with pytest.raises(ValueError, match="class_names has 3 names but num_classes is 2"):
        bad = ShapeRecords(tmp_path / "tf", count=4)
        bad.plan = lambda: (setattr(bad, "num_classes", 2),  # noqa: B023
                            setattr(bad, "class_names", ["a", "b", "c"]),
                            {"train": [("train", 0)]})[-1]
        bad.prepare(workers=1)


def test_run_json_class_names_are_checked() -> None:
    assert metadata_problems({"num_classes": 2, "class_names": ["a", "b"]}) == []
    assert metadata_problems({"num_classes": 0, "class_names": []}) == []
    problems = metadata_problems({"num_classes": 2, "class_names": ["a"]})
    assert problems and "1 names but num_classes is 2" in problems[0]


def test_the_classifier_and_label_queries_speak_class_names(tmp_path: Path) -> None:
    dataset = ShapeRecords(tmp_path / "tf", side=16, count=64)
    dataset.prepare(workers=1)
    protocol = train_classifier(dataset, TrainSettings(epochs=2, batch_size=16, verbose=0),
                                report=lambda line: None)
    assert protocol.label_names == list(NAMES)
    assert set(protocol.per_label_accuracy) == set(NAMES)
    query = bind_query(parse_query("circle & !square"), protocol.label_names, False)
    assert query.classes() == [0]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
    confidence, matches = bind_query(parse_query("square | circle"), protocol.label_names,
                                     False).evaluate(probabilities)
    assert matches.all() and np.allclose(confidence, 1.0)
    with pytest.raises(LatentSpecError, match="unknown class 'circel'.*did you mean 'circle'"):
        bind_query(parse_query("circel"), protocol.label_names, False)


def test_names_that_are_not_words_are_quoted_in_queries() -> None:
    names = ["golden retriever", "sea-lion", "cat.1"]
    assert bind_query(parse_query("'golden retriever' | sea-lion"), names, False).classes() \
        == [0, 1]
    assert bind_query(parse_query('!"golden retriever" & !cat.1'), names, False).classes() == [1]
    with pytest.raises(LatentSpecError, match="an empty quoted label"):
        parse_query("'' | cat.1")


def test_the_contract_checker_tries_the_labels(tmp_path: Path) -> None:
    assert check_dataset(Shapes(count=8)).class_names == NAMES
    check_dataset(ShapeRecords(tmp_path / "tf", count=8))
    with pytest.raises(PluginError, match=r"raised ValueError: labels\('train'\)\[3\] is 2"):
        check_dataset(Shapes(count=8, bad_label=True))

    class NoLabels(Shapes):
        def load(self, split=None):
            return super().load(split)

    with pytest.raises(PluginError, match="num_classes = 2 but its load\\(\\) takes no "
                                          "with_labels"):
        check_dataset(NoLabels(count=8))

    class BadNames(Shapes):
        class_names = ("circle",)

    with pytest.raises(PluginError, match="class_names has 1 names but num_classes is 2"):
        check_dataset(BadNames(count=8))


def test_the_documented_labelled_dataset_keeps_the_contract(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
    (tmp_path / "blobs.py").write_text(block_defining(doc, "class Blobs"))
    loaded = load_plugins(["blobs.py"], base_dir=tmp_path)
    dataset = check_dataset("blobs", registry=loaded.registry, count=8)
    assert class_names_of(dataset) == ["left", "right"]
    pairs = list(dataset.load(with_labels=True))
    left, right = pairs[0][0].numpy(), pairs[1][0].numpy()
    assert int(pairs[1][1]) == 1 and left[:, :8].max() > left[:, 8:].max()
    assert right[:, 8:].max() > right[:, :8].max()


def test_inspect_names_the_classes(tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, callbacks=[], plugins=[PLUGIN])
    config["dataset"] = {"name": "shapes_in_memory", "params": {"count": 8}}
    path = write_experiment(tmp_path / "shapes.yaml", config)
    result = run_cli(["inspect", str(path), "--num", "8", "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert "labels in the grid: circle: 4, square: 4" in result.output
    config["dataset"] = {"name": "shapes_records", "params": {"tfrecords": str(tmp_path / "tf"),
                                                              "count": 8}}
    path = write_experiment(tmp_path / "records.yaml", config)
    assert run_cli(["prepare", str(path)]).exit_code == 0
    result = run_cli(["inspect", str(path), "--num", "4", "--out", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    assert "classes: 2 (circle, square)" in result.output


def test_class_grid_file_names_are_safe_and_distinct() -> None:
    assert file_stems(["cat", "golden retriever", "../etc", "", "a b", "a_b", ".hidden"]) == [
        "cat", "golden_retriever", "etc", "class_3", "a_b", "a_b_5", "hidden"]


def test_intra_class_fid_scores_each_class_by_name(tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, callbacks=[], plugins=[PLUGIN])
    config["dataset"] = {"name": "shapes_in_memory", "params": {"count": 24}}
    config["architecture"]["params"]["num_classes"] = 2
    config["train"].update(batch_size=8, steps_per_epoch=2, epochs=1)
    config["metrics"] = [{"name": "intra_fid", "params": {"extractor": "quadrants",
                                                          "num_samples": 20}}]
    path = write_experiment(tmp_path / "shapes.yaml", config)
    result = run_cli(["run", str(path)])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in
            (Path(config["run_dir"]) / "metrics.csv").read_text().splitlines()[1:]]
    values = {score: float(value) for _, metric, score, value in rows if metric == "intra_fid"}
    mean, worst, best = (values[key] for key in ("intra_fid", "intra_fid_worst",
                                                 "intra_fid_best"))
    assert 0 <= best <= mean <= worst and worst > 0
    # The real baseline: the training images of each class against the test images.
    baseline = run_cli(["evaluate", config["run_dir"], "--metric", "intra_fid",
                        "--extractor", "quadrants", "--num-samples", "20",
                        "--real-baseline", "train", "--split", "train"])
    assert baseline.exit_code == 0, baseline.output
    assert "intra-class FID, worst classes:" in baseline.output
    record = json.loads((Path(config["run_dir"]) / "metrics.json").read_text())
    entry = next(r for r in record["records"] if r["metric"] == "intra_fid")
    assert set(entry["details"]["per_class"]) == set(NAMES)
    assert all(value < 1e-6 for value in entry["details"]["per_class"].values())


def test_intra_class_fid_needs_a_conditional_run(tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, callbacks=[], plugins=[PLUGIN])
    config["dataset"] = {"name": "shapes_in_memory", "params": {"count": 24}}
    config["train"].update(batch_size=8, steps_per_epoch=2, epochs=1)
    config["metrics"] = [{"name": "intra_fid", "params": {"extractor": "quadrants",
                                                          "num_samples": 20}}]
    result = run_cli(["run", str(write_experiment(tmp_path / "plain.yaml", config))])
    assert result.exit_code != 0 and "needs a class-conditional run" in result.output
