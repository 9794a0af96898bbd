"""A real 2×2 sweep on the local backend (two ``ganlab run`` processes at once), its
HParams in TensorBoard's event files, a rerun that trains nothing, the refusal of a changed
grid, and ``ganlab compare`` over it: table, CSV, curves, sample grids and an HTML report
that headless Chromium renders.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from reliability_support import flat, invoke, prepare_tiny_data
from sweep_helpers import read_sweep, sweep_experiment

GRID = ["--grid", "loss.name=bce,hinge", "--grid", "seed=1,2"]
RUNS = ["loss-bce_seed-1", "loss-bce_seed-2", "loss-hinge_seed-1", "loss-hinge_seed-2"]

METRICS_JSON = {"format": 1, "records": [
    {"metric": "fid", "scores": {"fid": 12.34}, "details": {},
     "protocol": {"metric": "fid", "extractor": "domain", "weights_sha256": "ab" * 32,
                  "num_fake": 10000, "num_real": 10000, "real_split": "test",
                  "image_size": [8, 8, 1], "resize": "none", "seed": 0, "epoch": 2},
     "evaluated_at": "2026-12-01T20:00:00Z"},
    {"metric": "kid", "scores": {"kid_mean": 0.012, "kid_std": 0.001}, "details": {},
     "protocol": {"metric": "kid", "extractor": "domain", "weights_sha256": "ab" * 32,
                  "num_fake": 10000, "num_real": 10000, "real_split": "test",
                  "image_size": [8, 8, 1], "resize": "none", "seed": 0, "epoch": 2},
     "evaluated_at": "2026-12-01T20:01:00Z"}]}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, ) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    prepare_tiny_data(root)
    experiment = sweep_experiment(root)
    result = invoke(["sweep", experiment, *GRID, "--parallel", "2",
                     "--runs-dir", root / "runs"])
    assert result.exit_code == 0, result.output
    return root


def sweep_dir(root: Path) -> Path:
    return root / "runs" / "study"


def test_sweep_json_lists_every_run_finished_with_its_overrides(sweep: Path) -> None:
    record = read_sweep(sweep_dir(sweep))
    assert [run["name"] for run in record["runs"]] == RUNS
    assert record["axes"]["grid"] == {"loss.name": ["bce", "hinge"], "seed": [1, 2]}
    by_name = {run["name"]: run for run in record["runs"]}
    assert by_name["loss-hinge_seed-2"]["overrides"] == {"loss.name": "hinge", "seed": 2}
    for run in record["runs"]:
        assert (run["state"], run["exit_code"], run["attempts"]) == ("finished", 0, 1)
        assert run["seconds"] > 0
    assert record["counts"]["finished"] == 4


def test_each_run_is_an_ordinary_run_directory_with_its_overrides(sweep: Path) -> None:
    import yaml

    for name in RUNS:
        run_dir = sweep_dir(sweep) / name
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        loss, seed = name.split("_")
        assert config["loss"]["name"] == loss.split("-")[1]
        assert config["seed"] == int(seed.split("-")[1])
        assert config["name"] == name
        assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
        assert (run_dir / "generator.keras").is_file()
        with (run_dir / "history.csv").open() as stream:
            assert [row["epoch"] for row in csv.DictReader(stream)] == ["1", "2"]
    # Runs of the same seed with different losses trained differently.
    histories = {name: (sweep_dir(sweep) / name / "history.csv").read_text() for name in RUNS}
    assert histories["loss-bce_seed-1"] != histories["loss-hinge_seed-1"]


def test_runs_ran_two_at_a_time_with_the_threads_split(sweep: Path) -> None:
    record = read_sweep(sweep_dir(sweep))
    starts = sorted(run["started_at"] for run in record["runs"])
    ends = sorted(run["finished_at"] for run in record["runs"])
    assert starts[1] < ends[0]  # the second run started before the first one ended
    log = (sweep_dir(sweep) / "logs" / "loss-bce_seed-1.log").read_text()
    assert "=== attempt 1" in log and "--set loss.name=bce --set seed=1" in log


def test_hparams_sessions_and_the_sweep_experiment_are_in_the_event_files(sweep: Path) -> None:
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import metadata

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(sweep_dir(sweep)))
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(
        content["hparams"][metadata.EXPERIMENT_TAG])
    infos = {info.name: info for info in experiment.hparam_infos}
    assert list(infos["loss.name"].domain_discrete) == ["bce", "hinge"]
    assert list(infos["seed"].domain_discrete) == [1.0, 2.0]
    tags = [m.name.tag for m in experiment.metric_infos]
    assert "epoch/d_loss" in tags and "epoch/toy_distance/fid" in tags
    for name in RUNS:
        run = f"{name}/tensorboard"
        start = metadata.parse_session_start_info_plugin_data(
            content[run][metadata.SESSION_START_INFO_TAG])
        loss, seed = name.split("_")
        assert start.hparams["loss.name"].string_value == loss.split("-")[1]
        assert start.hparams["seed"].number_value == int(seed.split("-")[1])
        assert start.group_name == name
        # The metrics the dashboard shows are the run's own scalars.
        scalars = multiplexer.Tensors(run, "epoch/toy_distance/fid")
        assert [event.step for event in scalars] == [1, 2]


def test_rerunning_the_finished_sweep_trains_nothing(sweep: Path) -> None:
    checkpoints = {p: p.stat().st_mtime_ns for p in sweep_dir(sweep).rglob("ckpt-*.npz")}
    result = invoke(["sweep", sweep / "study.yaml", *GRID, "--parallel", "2",
                     "--runs-dir", sweep / "runs"])
    assert result.exit_code == 0, result.output
    assert "4 finished already, skipped" in result.output
    assert "started" not in result.output
    assert {p: p.stat().st_mtime_ns for p in sweep_dir(sweep).rglob("ckpt-*.npz")} == checkpoints


def test_a_changed_grid_is_refused_with_its_differences(sweep: Path) -> None:
    before = (sweep_dir(sweep) / "sweep.json").read_text()
    result = invoke(["sweep", sweep / "study.yaml", "--grid", "loss.name=bce,hinge",
                     "--grid", "seed=1,3", "--runs-dir", sweep / "runs"])
    assert result.exit_code == 2
    message = flat(result.output)
    assert "Traceback" not in message
    assert "run loss-bce_seed-2 (loss.name=bce, seed=2) is no longer in the sweep" in message
    assert "run loss-hinge_seed-2 (loss.name=hinge, seed=2) is no longer in the sweep" in message
    result = invoke(["sweep", sweep / "study.yaml", *GRID, "--set", "train.batch_size=4",
                     "--runs-dir", sweep / "runs"])
    assert result.exit_code == 2
    assert "--set train.batch_size: <absent> → 4" in flat(result.output)
    assert (sweep_dir(sweep) / "sweep.json").read_text() == before


# -- ganlab compare ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compared(sweep: Path) -> tuple[Path, str]:
    (sweep_dir(sweep) / RUNS[0] / "metrics.json").write_text(json.dumps(METRICS_JSON))
    out = sweep / "compare"
    result = invoke(["compare", sweep_dir(sweep), "--out", out])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_compare_table_has_every_run_with_overrides_metrics_and_throughput(
        compared: tuple[Path, str], sweep: Path) -> None:
    out, printed = compared
    with (out / "compare.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["run"] for row in rows] == [f"study/{name}" for name in RUNS]
    first = rows[0]
    assert (first["loss.name"], first["seed"], first["state"], first["epochs"]) == \
        ("bce", "1", "finished", "2")
    assert float(first["images_per_s"]) > 0 and float(first["train_s"]) > 0
    assert float(first["wall_s"]) >= float(first["train_s"])
    with (sweep_dir(sweep) / RUNS[1] / "metrics.csv").open() as stream:
        curve = [float(r["value"]) for r in csv.DictReader(stream)]
    second = rows[1]
    assert float(second["toy_distance/fid final"]) == pytest.approx(curve[-1])
    assert float(second["toy_distance/fid best"]) == pytest.approx(min(curve))
    assert second["toy_distance/fid best epoch"] == str(curve.index(min(curve)) + 1)
    assert float(first["eval fid"]) == 12.34 and float(first["eval kid_mean"]) == 0.012
    assert "domain (abababab), 10000 fake vs 10000 test, 8x8x1" in first["eval fid protocol"]
    assert second["eval fid"] == ""
    for name in RUNS:
        assert f"study/{name}" in printed
    assert "fid: domain (abababab), 10000 fake vs 10000 test" in flat(printed)


def test_compare_aggregates_seeds_per_configuration(compared: tuple[Path, str]) -> None:
    out, printed = compared
    with (out / "compare.csv").open() as stream:
        runs = {row["run"]: row for row in csv.DictReader(stream)}
    with (out / "compare_by_config.csv").open() as stream:
        configs = {row["loss.name"]: row for row in csv.DictReader(stream)}
    assert set(configs) == {"bce", "hinge"}
    for loss, row in configs.items():
        values = sorted(float(runs[f"study/loss-{loss}_seed-{s}"]["d_loss"]) for s in (1, 2))
        assert row["seeds"] == "2"
        assert float(row["d_loss median"]) == pytest.approx(sum(values) / 2)
        assert (float(row["d_loss min"]), float(row["d_loss max"])) == \
            pytest.approx((values[0], values[1]))
    assert "Per configuration over seeds: median [min–max]" in printed


def test_compare_draws_curves_and_sample_grids(compared: tuple[Path, str]) -> None:
    from PIL import Image

    out, _ = compared
    with Image.open(out / "curves.png") as curves, Image.open(out / "samples.png") as samples:
        assert curves.width > 600 and curves.height > 300
        assert samples.width > 4 * 150  # four grids side by side
        assert len(curves.convert("L").getcolors(256)) > 10  # not a blank canvas


def test_the_html_report_renders_its_table_and_images_in_chromium(
        compared: tuple[Path, str], tmp_path: Path) -> None:
    from compare_support import render, screenshot

    out, _ = compared
    report = (out / "report.html").read_text()
    assert "src=\"http" not in report and "<link" not in report  # self-contained
    dom, probe = render(out / "report.html", tmp_path, width=1400)
    rows = re.search(r'<table id="runs"[^>]*>.*?</table>', dom, re.S).group(0)
    assert rows.count("<tr>") == 1 + len(RUNS)
    for name in RUNS:
        assert f"study/{name}" in rows
    assert re.search(r'<table id="configurations"', dom)
    # The curves, then each run's last grid beside real digits read from its TFRecords.
    assert [alt for alt, _, _ in probe["images"]] == ["metric curves", *(
        alt for n in RUNS for alt in (f"study/{n}", f"study/{n}: real"))]
    assert all(width > 0 and height > 0 for _, width, height in probe["images"]), probe
    assert probe["scrollWidth"] <= 1400 and probe["title"] == "ganlab compare"
    shot = screenshot(out / "report.html", out / "report-screenshot.png", width=1400)
    assert shot.stat().st_size > 10_000


def test_compare_reads_runs_given_one_by_one_from_their_config_header(
        sweep: Path, tmp_path: Path) -> None:
    runs = [sweep_dir(sweep) / name for name in RUNS[2:]]
    result = invoke(["compare", *runs, "--out", tmp_path])
    assert result.exit_code == 0, result.output
    with (tmp_path / "compare.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["run"], r["loss.name"], r["seed"], r["state"], r["wall_s"]) for r in rows] == \
        [("loss-hinge_seed-1", "hinge", "1", "completed", ""),
         ("loss-hinge_seed-2", "hinge", "2", "completed", "")]
    with (tmp_path / "compare_by_config.csv").open() as stream:
        assert [(r["loss.name"], r["seeds"]) for r in csv.DictReader(stream)] == [("hinge", "2")]
    assert (tmp_path / "report.html").is_file()


def test_compare_of_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke(["compare", tmp_path / "nothing"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "is not a directory: give run directories or sweep directories" in result.output
    result = invoke(["compare", tmp_path])
    assert result.exit_code == 2 and "holds no ganlab run" in result.output
