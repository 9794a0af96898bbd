"""``ganlab evaluate`` and the built-in metrics end to end, on a real tiny run.

One module-wide run: the real CLI trains a tiny DCGAN for two epochs on the
embedded MNIST sample (TFRecords prepared into the test's own folder, so the
real-statistics cache there is this module's alone), scoring the built-in
metrics every epoch through a small local feature extractor.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_cli, tiny_experiment, write_experiment
from evaluation_support import PLUGIN_SOURCE
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# max_batch: the extractor fails if it is ever given more than a batch of images.
COMMON = {"extractor": "projection", "extractor_params": {"max_batch": 32}, "num_samples": 64,
          "batch_size": 32}
METRICS = [
    {"name": "fid", "params": COMMON},
    {"name": "kid", "params": {**COMMON, "num_subsets": 5, "subset_size": 32}},
    {"name": "precision_recall", "params": COMMON},
    {"name": "classifier_score", "params": COMMON},
]
SCORES = {"fid": ["fid"], "kid": ["kid_mean", "kid_std"],
          "precision_recall": ["precision", "recall"],
          "classifier_score": ["classifier_score", "confident_share"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("evaluation")
    (root / "projection.py").write_text(PLUGIN_SOURCE)
    config = tiny_experiment(root, plugins=["projection.py"], metrics=METRICS)
    config["dataset"]["params"]["tfrecords"] = str(root / "tfrecords")
    config["train"].update({"epochs": 2, "metrics_every_n_epochs": 1})
    result = run_cli(["run", str(write_experiment(root / "exp.yaml", config))])
    assert result.exit_code == 0, result.output
    return {"root": root, "run_dir": Path(config["run_dir"]),
            "cache": root / "tfrecords" / ".ganlab-eval-cache"}


def evaluate(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_cli(["evaluate", str(run_dir), *args], env=env)


def metrics_csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as stream:
        return list(csv.DictReader(stream))


def records(run_dir: Path) -> list[dict[str, Any]]:
    data = json.loads((run_dir / "metrics.json").read_text())
    assert data["format"] == 1
    return data["records"]


def test_training_scores_the_builtin_metrics_every_epoch(trained: dict[str, Any]) -> None:
    rows = metrics_csv(trained["run_dir"])
    expected = [(str(epoch), metric, score) for epoch in (1, 2)
                for metric, scores in SCORES.items() for score in scores]
    assert [(r["epoch"], r["metric"], r["score"]) for r in rows] == expected
    values = {(r["epoch"], r["score"]): float(r["value"]) for r in rows}
    for epoch in ("1", "2"):
        assert values[(epoch, "fid")] > 0
        assert values[(epoch, "kid_std")] >= 0
        assert 0 <= values[(epoch, "precision")] <= 1 and 0 <= values[(epoch, "recall")] <= 1
        assert 1 <= values[(epoch, "classifier_score")] <= 10
    events = EventAccumulator(str(trained["run_dir"] / "tensorboard"),
                              size_guidance={"tensors": 0})
    events.Reload()
    assert [e.step for e in events.Tensors("epoch/fid/fid")] == [1, 2]
    assert "epoch/precision_recall/recall" in events.Tags()["tensors"]


def test_evaluate_writes_metrics_json_with_its_protocol(trained: dict[str, Any]) -> None:
    run_dir = trained["run_dir"]
    result = evaluate(run_dir, "--epoch", "1")
    assert result.exit_code == 0, result.output
    assert re.search(r"^fid\s+fid\s+[0-9.e+-]+\s+lower\s+64\s+64\s+test\s+projection\s+1\s+"
                     r"generator"
                     r"\s+raw$",
                     result.stdout, re.MULTILINE), result.stdout
    by_metric = {r["metric"]: r for r in records(run_dir) if r["protocol"]["epoch"] == 1}
    assert set(by_metric) == set(SCORES)
    fid = by_metric["fid"]
    assert list(fid) == ["metric", "scores", "details", "protocol", "evaluated_at",
                         "score_specs"]
    assert fid["score_specs"] == {"fid": {"higher_is_better": False, "minimum": 0.0,
                                          "maximum": None}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fid["evaluated_at"])
    protocol = fid["protocol"]
    assert list(protocol) == ["metric", "extractor", "weights_sha256", "num_fake", "num_real",
                              "real_split", "image_size", "resize", "seed", "epoch", "samples",
                              "generator", "truncation"]
    assert (protocol["generator"], protocol["truncation"]) == ("raw", None)
    assert protocol["metric"] == "fid" and protocol["extractor"] == "projection"
    assert re.fullmatch(r"[0-9a-f]{64}", protocol["weights_sha256"])
    assert (protocol["num_fake"], protocol["num_real"]) == (64, 64)
    # The embedded sample's held-out test split (1,000 digits) is the default real split.
    assert protocol["real_split"] == "test"
    assert protocol["image_size"] == [32, 32, 1] and protocol["resize"] == "none"
    assert protocol["seed"] == 8  # the experiment seed + 1, as during training
    for metric, scores in SCORES.items():
        assert list(by_metric[metric]["scores"]) == scores
    details = by_metric["classifier_score"]["details"]
    assert details["label_names"] == [f"class{i}" for i in range(10)]
    assert sum(details["class_histogram"]) == 64
    assert by_metric["classifier_score"]["protocol"]["num_real"] == 0


def test_evaluate_reproduces_the_scores_of_training(trained: dict[str, Any]) -> None:
    run_dir = trained["run_dir"]
    result = evaluate(run_dir, "--epoch", "1")
    assert result.exit_code == 0, result.output
    logged = {r["score"]: float(r["value"]) for r in metrics_csv(run_dir) if r["epoch"] == "1"}
    for record in records(run_dir):
        if record["protocol"]["epoch"] != 1:
            continue
        for score, value in record["scores"].items():
            assert value == pytest.approx(logged[score], rel=1e-5, abs=1e-9), score


def test_a_new_record_replaces_only_the_same_protocol(trained: dict[str, Any]) -> None:
    run_dir = trained["run_dir"]
    for args in (["--epoch", "1"], ["--epoch", "1"], ["--epoch", "2"]):
        assert evaluate(run_dir, *args, "--metric", "fid").exit_code == 0
    before = [r for r in records(run_dir) if r["metric"] == "fid"]
    assert sorted(r["protocol"]["epoch"] for r in before) == [1, 2]
    result = evaluate(run_dir, "--metric", "fid", "--num-samples", "48")
    assert result.exit_code == 0, result.output
    after = [r for r in records(run_dir) if r["metric"] == "fid"]
    assert len(after) == 3 and after[:2] == before
    # No --epoch: the exported generator, which reflects both epochs.
    assert (after[2]["protocol"]["epoch"], after[2]["protocol"]["num_fake"]) == (2, 48)
    assert all(r["protocol"]["metric"] == "kid" for r in records(run_dir)
               if r["metric"] == "kid")


def test_the_real_baseline_scores_a_real_split_in_place_of_the_generator(
        trained: dict[str, Any]) -> None:
    run_dir = trained["run_dir"]
    assert evaluate(run_dir, "--epoch", "1", "--metric", "fid").exit_code == 0
    generated = [r for r in records(run_dir) if r["metric"] == "fid"]
    result = evaluate(run_dir, "--real-baseline", "train", "--metric", "fid", "--metric",
                      "classifier_score")
    assert result.exit_code == 0, result.output
    assert "Evaluating the real 'train' split as a baseline." in result.output
    assert re.search(r"^fid\s+fid\s+[0-9.e+-]+\s+lower\s+64\s+64\s+test\s+projection\s+None\s+"
                     r"real:train\s+-$", result.stdout, re.MULTILINE), result.stdout
    baseline = {r["metric"]: r for r in records(run_dir)
                if r["protocol"]["samples"] == "real:train"}
    assert baseline["fid"]["protocol"]["epoch"] is None
    # Real training digits against the held-out ones: far closer than a 2-epoch generator.
    generator_fid = next(r for r in generated if r["protocol"]["epoch"] == 1)["scores"]["fid"]
    assert baseline["fid"]["scores"]["fid"] < generator_fid / 2
    assert sum(baseline["classifier_score"]["details"]["class_histogram"]) == 64
    # The generator's records are kept beside the baseline's.
    assert [r for r in records(run_dir) if r["metric"] == "fid"
            and r["protocol"]["samples"] == "generator"] == generated


@pytest.mark.parametrize(("args", "fragments"), [
    (["--real-baseline", "train", "--num-samples", "5000"],
     ["'train' split, which has only 4000", "--num-samples 4000"]),
    (["--real-baseline", "validation"], ["validation", "train", "test"]),
    (["--real-baseline", "train", "--epoch", "1"], ["give one or the other"]),
])
def test_a_real_baseline_that_cannot_be_scored_says_why(trained: dict[str, Any], args: list[str],
                                                        fragments: list[str]) -> None:
    result = evaluate(trained["run_dir"], "--metric", "fid", *args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_real_statistics_are_cached_and_keyed(trained: dict[str, Any]) -> None:
    run_dir, cache = trained["run_dir"], trained["cache"]
    trained_entries = sorted(p.name for p in cache.glob("test-projection-64-*.npz"))
    # Training cached one entry of moments (fid) and one of feature rows (kid, p/r).
    assert [re.sub(r"-[0-9a-f]{20}\.npz$", "", n) for n in trained_entries] == [
        "test-projection-64-features", "test-projection-64-moments"]
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    result = evaluate(run_dir, "--epoch", "2", "--metric", "fid", "--metric", "kid")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Reusing cached real statistics") == 2
    assert "Computing real statistics" not in result.stderr
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.npz")} == stamps
    # Another sample count, other extractor weights: new entries, the old ones untouched.
    for args in (["--num-samples", "40"], ["--extractor-param", "seed=1"]):
        result = evaluate(run_dir, "--epoch", "2", "--metric", "fid", *args)
        assert result.exit_code == 0, result.output
        assert "Computing real statistics" in result.stderr and "Reusing" not in result.stderr
    new = {p.name for p in cache.glob("*.npz")} - set(stamps)
    assert len(new) == 2 and any(n.startswith("test-projection-40-moments-") for n in new)
    assert {n: cache.joinpath(n).stat().st_mtime_ns for n in stamps} == stamps


def test_a_metric_of_the_first_contract_is_recorded_too(trained: dict[str, Any],
                                                        tmp_path: Path) -> None:
    plugin = tmp_path / "gap.py"
    plugin.write_text(
        "import numpy as np\nfrom ganlab import hookimpl\n\n"
        "class Gap:\n    name = 'gap'\n\n"
        "    def compute(self, generate, dataset):\n"
        "        real = np.stack([np.asarray(x) for x in dataset.take(16)])\n"
        "        return {'mean_gap': float(abs(generate(16).mean() - real.mean()))}\n\n"
        "@hookimpl\ndef register_metrics(register):\n    register('gap', Gap)\n")
    result = run_cli(["-p", str(plugin), "evaluate", str(trained["run_dir"]), "--metric", "gap",
                      "--num-samples", "16"])
    assert result.exit_code == 0, result.output
    assert "has no 'num_samples' param" in result.stderr
    gap = [r for r in records(trained["run_dir"]) if r["metric"] == "gap"]
    assert len(gap) == 1 and 0 <= gap[0]["scores"]["mean_gap"] <= 2
    assert gap[0]["protocol"]["extractor"] == "" and gap[0]["protocol"]["epoch"] == 2


@pytest.mark.parametrize("args,code,words", [
    (["--metric", "fdi"], 3, ["Unknown metric 'fdi'", "Did you mean 'fid'"]),
    (["--epoch", "7"], 5, ["no checkpoint for the end of epoch 7", "epoch 1, 2",
                           "not trained that far"]),
    (["--extractor", "projektion"], 3, ["Unknown feature_extractor 'projektion'",
                                        "'projection'"]),
    (["--split", "validation"], 4, ["no split 'validation'", "Available splits: train, test"]),
    (["--extractor-param", "dim"], 2, ["expected KEY=VALUE"]),
    (["--metric", "kid", "--extractor-param", "dimension=3"], 2,
     ["rejected its params", "dimension"]),
])
def test_bad_requests_are_one_paragraph_errors(trained: dict[str, Any], args: list[str],
                                               code: int, words: list[str]) -> None:
    before = (trained["run_dir"] / "metrics.json").read_bytes() \
        if (trained["run_dir"] / "metrics.json").exists() else None
    result = evaluate(trained["run_dir"], *args)
    assert result.exit_code == code, result.output
    message = result.stderr.strip().splitlines()[-1]  # after progress lines, if any
    assert message.startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in message, message
    after = (trained["run_dir"] / "metrics.json").read_bytes() \
        if (trained["run_dir"] / "metrics.json").exists() else None
    assert after == before


def test_missing_inception_weights_say_where_to_get_them(trained: dict[str, Any],
                                                         tmp_path: Path) -> None:
    result = evaluate(trained["run_dir"], "--metric", "fid", "--extractor", "inception_v3",
                      env={"KERAS_HOME": str(tmp_path / "keras")})
    assert result.exit_code == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: ") and "Traceback" not in result.output
    assert "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" \
           "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras" / "models") in message and "never downloads" in message


def test_not_a_run_directory(tmp_path: Path) -> None:
    result = evaluate(tmp_path)
    assert result.exit_code == 5 and "not a ganlab run directory" in result.stderr


def test_the_metric_plugin_example_in_the_docs_works(trained: dict[str, Any],
                                                     tmp_path: Path) -> None:
    document = (REPO / "docs" / "evaluation.md").read_text()
    source = next(block for block in re.findall(r"```python\n(.*?)```", document, flags=re.S)
                  if "class MeanFeatureGap" in block)
    (tmp_path / "mean_gap.py").write_text(source)
    result = run_cli(["-p", str(tmp_path / "mean_gap.py"), "evaluate", str(trained["run_dir"]),
                      "--metric", "mean_gap", "--extractor", "projection", "--num-samples", "50"])
    assert result.exit_code == 0, result.output
    gap = [r for r in records(trained["run_dir"]) if r["metric"] == "mean_gap"]
    assert len(gap) == 1 and gap[0]["scores"]["gap"] > 0
    assert (gap[0]["protocol"]["extractor"], gap[0]["protocol"]["num_fake"]) == ("projection", 50)


def test_metric_params_are_checked_before_training(tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, metrics=[
        {"name": "kid", "params": {"num_subset": 3}},
        {"name": "classifier_score", "params": {"extractor_param": {}}}])
    result = run_cli(["validate", str(write_experiment(tmp_path / "exp.yaml", config))])
    assert result.exit_code == 2, result.output
    assert "metrics[0].params.num_subset" in result.output
    assert "did you mean 'num_subsets'" in result.output
    assert "did you mean 'extractor_params'" in result.output


def test_a_missing_domain_classifier_is_trained_before_the_run_trains(tmp_path: Path) -> None:
    from test_classifier import write_idx_tree

    write_idx_tree(tmp_path / "raw")
    config = tiny_experiment(tmp_path, metrics=[{"name": "fid", "params": {"num_samples": 16}}])
    config["dataset"]["params"].update(source=str(tmp_path / "raw"),
                                       tfrecords=str(tmp_path / "tfrecords"))
    config["train"].update({"epochs": 2, "metrics_every_n_epochs": 2})
    result = run_cli(["run", str(write_experiment(tmp_path / "exp.yaml", config))])
    assert result.exit_code == 0, result.output
    assert "No domain classifier for" in result.output
    assert (tmp_path / "tfrecords" / ".ganlab-classifier" / "domain.json").is_file()
    with open(Path(config["run_dir"]) / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["epoch"], row["metric"]) for row in rows] == [("2", "fid")]
