"""The compare report of a 12-run study, rendered in headless Chromium at 1,400 px: no sideways
scrolling, metrics first and sorted best first, the best run marked, the differing config next
(the rest folded away), each metric's protocol, the EMA generator's scores, real-data and
per-class grids, and each run's config departures.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from compare_support import BASE_CONFIG, png, render, screenshot, write_run
from reliability_support import invoke

LOSSES = ("bce", "hinge", "wasserstein")
RATES = (0.0002, 0.001)
SEEDS = (1, 2)


def evaluation(fid: float, generator: str) -> dict[str, Any]:
    return {"metric": "fid", "scores": {"fid": fid},
            "score_specs": {"fid": {"higher_is_better": False, "minimum": 0.0,
                                    "maximum": None}},
            "protocol": {"metric": "fid", "extractor": "domain", "weights_sha256": "cd" * 32,
                         "num_fake": 10000, "num_real": 10000, "real_split": "test",
                         "image_size": [32, 32, 1], "resize": "none", "seed": 8, "epoch": 3,
                         "samples": "generator", "generator": generator},
            "evaluated_at": "2026-12-01T20:00:00Z"}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("study")
    runs = root / "runs"
    index = 0
    for loss in LOSSES:
        for rate in RATES:
            for seed in SEEDS:
                index += 1
                config = copy.deepcopy(BASE_CONFIG)
                config["loss"]["name"] = loss
                config["optimizers"]["generator"]["learning_rate"] = rate
                config["seed"] = seed
                final = 0.5 + (index * 7 % 12) / 10  # distinct, unordered finals
                evals = [evaluation(10 + index, "raw")]
                if loss == "hinge":
                    config["train"]["ema"] = {"decay": 0.999, "start_step": 0}
                    evals.append(evaluation(8 + index, "ema"))
                run = write_run(runs, f"loss-{loss}_lr-{rate}_seed-{seed}", fid=[3.0, 2.0, final],
                          config=config, evaluations=evals, real=index == 1,
                          classes=3 if index == 1 else 0,
                          sets=[f"loss.name={loss}",
                                f"optimizers.generator.learning_rate={rate}", f"seed={seed}"])
                if index == 1:  # other outputs: the newest picture of each folder is shown
                    for picture in ("arithmetic/epoch_0002.png", "arithmetic/epoch_0003.png",
                                    "my_plugin/pic.png"):
                        png(run / picture, 50)
    out = root / "out"
    result = invoke(["compare", runs, "--out", out])
    assert result.exit_code == 0, result.output
    return out, result.output


def _heads(dom: str, table: str) -> list[str]:
    found = re.search(rf'<table id="{table}"[^>]*>.*?</thead>', dom, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", h).replace(" ↓", "").replace(" ↑", "").strip()
            for h in re.findall(r"<th[^>]*>(.*?)</th>", found, re.S)]


def _body(dom: str, table: str) -> list[list[str]]:
    found = re.search(rf'<table id="{table}"[^>]*>.*?</table>', dom, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", found.split("<tbody>")[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in rows]


def test_the_report_fits_1400_px_without_sideways_scrolling(
        study: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = study
    _, probe = render(out / "report.html", tmp_path, width=1400)
    assert probe["scrollWidth"] <= 1400, probe["scrollWidth"]
    assert probe["title"] == "ganlab compare"
    assert all(width > 0 and height > 0 for _, width, height in probe["images"]), probe
    shot = screenshot(out / "report.html", tmp_path / "shot.png", width=1400)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width == 1400
        # The runs table is on screen, not blank: many grey levels in the top half.
        top = image.convert("L").crop((0, 0, 1400, 1100))
        assert len(top.getcolors(256) or []) > 20


def test_metrics_come_first_then_the_config_that_differs(
        study: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = study
    dom, _ = render(out / "report.html", tmp_path)
    heads = _heads(dom, "runs")
    assert heads[:4] == ["run", "toy_distance/fid final", "toy_distance/fid best", "eval fid"]
    assert heads[4] == "eval fid [ema]"
    assert heads[5:] == ["loss.name", "optimizers.generator.learning_rate", "seed",
                         "train.ema.decay", "train.ema.start_step", "state", "epochs"]
    # The rest is folded away; the shared config too.
    more = _heads(dom, "more")
    assert {"wall_s", "train_s", "images_per_s", "d_loss", "g_loss",
            "toy_distance/fid best epoch", "eval fid protocol"} <= set(more)
    assert "Configuration shared by every run" in dom
    assert re.search(r"<code>architecture\.params\.base_filters</code>: 16", dom)


def test_runs_are_sorted_best_first_and_the_best_is_marked(
        study: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = study
    dom, _ = render(out / "report.html", tmp_path)
    rows = _body(dom, "runs")
    assert len(rows) == 12
    finals = [float(row[1].replace("★ ", "")) for row in rows]
    assert finals == sorted(finals)  # lower is better: best first
    assert rows[0][1].startswith("★ ") and not rows[1][1].startswith("★ ")
    eval_fid = [row[3] for row in rows]
    assert sum(cell.startswith("★ ") for cell in eval_fid) == 1
    assert "★ 11" in eval_fid  # the lowest raw FID (run 1)
    assert 'title="lower is better"' in dom
    assert "<script>" in dom  # the sorting script, the only one


def test_protocols_ema_grids_and_config_departures(
        study: tuple[Path, str], tmp_path: Path) -> None:
    out, printed = study
    dom, probe = render(out / "report.html", tmp_path)
    assert "fid: domain (cdcdcdcd), 10000 fake vs 10000 test, 32x32x1, resize none, seed 8, " \
        "epoch 3, raw generator" in dom
    assert "ema generator" in dom
    assert "toy_distance (during training, metrics.csv, every 1 epoch(s)): its default params" \
        in dom
    alts = [alt for alt, _, _ in probe["images"]]
    first = "loss-bce_lr-0.0002_seed-1"
    assert f"{first}: real" in alts
    assert [a for a in alts if a.startswith(f"{first}: class")] == [
        f"{first}: class class_0", f"{first}: class class_1", f"{first}: class class_2"]
    assert [a for a in alts if "/" in a.split(": ", 1)[-1]] == [
        f"{first}: arithmetic/epoch_0003.png", f"{first}: my_plugin/pic.png"]
    assert "trained with a generator EMA (train.ema)" in dom
    assert "no real-data grid: the run has no samples/real.png" in dom
    departures = re.search(r"<h3>loss-wasserstein_lr-0.001_seed-2</h3>.*?</ul>", dom, re.S)
    assert departures and "<code>loss.name</code>: bce → <strong>wasserstein</strong>" in \
        departures.group(0)
    assert "eval fid [ema]" in printed


def test_a_real_grid_is_read_from_the_runs_tfrecords(tmp_path: Path) -> None:
    import json

    from conftest import run_cli, shared_mnist_tfrecords, tiny_experiment, write_experiment

    experiment = write_experiment(tmp_path / "exp.yaml", tiny_experiment(tmp_path))
    prepared = run_cli(["prepare", str(experiment)])
    assert prepared.exit_code == 0, prepared.output
    data = shared_mnist_tfrecords()
    config = copy.deepcopy(BASE_CONFIG)
    # Relative, as in an experiment file: resolved against the experiment's folder.
    config["dataset"]["params"]["tfrecords"] = data.name
    run = write_run(tmp_path / "runs", "digits", config=config)
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "experiment_dir": str(data.parent)}))
    result = invoke(["compare", tmp_path / "runs", "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    dom, probe = render(tmp_path / "out" / "report.html", tmp_path)
    sizes = {alt: (width, height) for alt, width, height in probe["images"]}
    assert sizes["digits: real"] == (4 * 34 + 2, 4 * 34 + 2)  # 16 digits of 32 px, 2 px apart
    assert "spread over the TFRecords' training split, as stored" in dom


def test_a_hostile_tfrecord_folder_gives_no_grid_and_no_error(tmp_path: Path) -> None:
    import json
    import os

    from ganlab.compare.collect import RunSummary
    from ganlab.compare.real import real_grid_png

    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "secret.tfrecord").write_bytes(b"\x05" + b"\0" * 7 + b"x" * 20)
    os.mkfifo(folder / "fifo.tfrecord")
    (folder / "huge.tfrecord").write_bytes(b"\xff" * 12)  # a record of 2^64 - 1 bytes
    (folder / "cut.tfrecord").write_bytes(b"\x40" + b"\0" * 11 + b"\x89PNG\r\n\x1a\n")
    shards = [{"file": name} for name in ("../secret.tfrecord", "fifo.tfrecord",
                                          "huge.tfrecord", "cut.tfrecord")]
    (folder / "dataset.json").write_text(json.dumps({"splits": {"train": {"shards": shards}}}))
    run = RunSummary("x", tmp_path, config={"dataset.params.tfrecords": str(folder)})
    assert real_grid_png(run) is None


def test_compare_imports_no_tensorflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    from reliability_support import cli_env

    write_run(tmp_path / "runs", "a", real=True)
    code = ("import sys; from ganlab.cli import main; sys.argv = ['ganlab', 'compare', "
            f"{str(tmp_path / 'runs')!r}, '--out', {str(tmp_path / 'out')!r}]\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=cli_env())
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.html").is_file()
