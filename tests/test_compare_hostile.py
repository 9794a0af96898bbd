"""``ganlab compare`` over hostile and damaged run directories (no training: runs written by hand).

Sections follow the red-team classes of docs/reliability.md: injection (a
report that runs no script, a CSV no spreadsheet evaluates), internal
errors from hostile run files (each damage skipped with a warning naming
the file, never exit 70), unbounded input (devices, FIFOs, huge files,
thousands of names) and cosmetics (a closed pipe).
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from compare_support import BASE_CONFIG, png, render, write_run
from reliability_support import cli_env, flat, invoke

HOSTILE_GRID = "epoch_9<img src=x onerror=document.title='PWNED'>.png"
HOSTILE_RUN = "run<svg onload=document.title='PWNED-run'>"
HOSTILE_METRIC = "<script>document.title='PWNED-metric'</script>"


def compare(root: Path, out: Path) -> tuple[int, str, list[dict[str, str]]]:
    result = invoke(["compare", root, "--out", out])
    rows = []
    if (out / "compare.csv").is_file():
        with (out / "compare.csv").open(newline="") as stream:
            rows = list(csv.DictReader(stream))
    return result.exit_code, result.output, rows


# -- injection -----------------------------------------------------------------------------------
@pytest.fixture()
def hostile(tmp_path: Path) -> Path:
    """Two runs whose names, config values, metric names and grid file name are markup."""
    root = tmp_path / "runs"
    write_run(root, "plain", fid=[3.0, 2.0, 1.0], real=True)
    config = copy.deepcopy(BASE_CONFIG)
    config["loss"]["name"] = "=HYPERLINK(\"http://x\",\"<b onmouseover=alert(1)>\")"
    config["description"] = "</title><script>document.title='PWNED-config'</script>"
    run = write_run(root, HOSTILE_RUN, fid=[3.0, 2.5, 2.2], config=config, grid=HOSTILE_GRID,
                    evaluations=[{"metric": HOSTILE_METRIC,
                                  "scores": {"@SUM(1+1)": -0.5, "=1+1": 2.0},
                                  "protocol": {"extractor": "<i>x</i>", "num_fake": 10,
                                               "num_real": 10, "real_split": "test"}}])
    rows = (run / "metrics.csv").read_text() + f"1,{HOSTILE_METRIC},-cmd,0.5\n1,=cmd,x,-0.25\n"
    (run / "metrics.csv").write_text(rows)
    return root


def test_a_report_of_hostile_names_runs_no_script_and_shows_them_as_text(
        hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output, _ = compare(hostile, out)
    assert code == 0, output
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>document" not in report and "<img src=x" not in report
    assert "<svg" not in report and "src=\"http" not in report
    dom, probe = render(out / "report.html", tmp_path)
    assert probe["title"] == "ganlab compare"  # no onerror/onload/script of theirs ran
    text = dom.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    for literal in (HOSTILE_GRID[:-4], HOSTILE_RUN, HOSTILE_METRIC,
                    "</title><script>document.title='PWNED-config'</script>"):
        assert literal in text, literal
    # Every image is one of the report's own (no stranger's <img> was created).
    assert all(alt in ("metric curves", "plain", "plain: real", HOSTILE_RUN)
               for alt, _, _ in probe["images"]), probe["images"]


def test_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised(
        hostile: Path, tmp_path: Path) -> None:
    code, output, rows = compare(hostile, tmp_path / "out")
    assert code == 0, output
    raw = (tmp_path / "out" / "compare.csv").read_text()
    for line in csv.reader(raw.splitlines()):
        for cell in line:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # only real negative numbers start with a minus
    bad = next(r for r in rows if r["run"] == HOSTILE_RUN)
    assert bad["loss.name"] == "'=HYPERLINK(\"http://x\",\"<b onmouseover=alert(1)>\")"
    assert float(bad["eval =1+1"]) == 2.0 and float(bad["eval @SUM(1+1)"]) == -0.5
    assert bad["'=cmd/x final"] == "-0.25"  # the name neutralised, the number kept
    assert bad[f"{HOSTILE_METRIC}/-cmd final"] == "0.5"


def test_metric_names_are_drawn_as_text_not_mathtext(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run = write_run(root, "a")
    (run / "metrics.csv").write_text("epoch,metric,score,value\n1,$\\frac{$,$x^{,1.0\n"
                                     "2,$\\frac{$,$x^{,0.5\n")
    code, output, rows = compare(root, tmp_path / "out")
    assert code == 0, output
    assert rows[0]["$\\frac{$/$x^{ final"] == "0.5"
    assert (tmp_path / "out" / "curves.png").stat().st_size > 1000


# -- damaged or hostile run files: skipped with a warning naming the file ----------------------
def _history(run: Path, *rows: str) -> None:
    (run / "history.csv").write_text("epoch,d_loss,g_loss,seconds\n" + "\n".join(rows) + "\n")


def _symlink(target: str, name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(target)
    return damage


def _huge(name: str, size: int) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        with (run / name).open("wb") as stream:
            stream.truncate(size)  # sparse: no disk used, st_size says it all
    return damage


def _many_metrics(run: Path) -> None:
    rows = ["epoch,metric,score,value"] + [f"1,m{i},s,{i}" for i in range(3000)]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")


def _write(name: str, text: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).write_text(text)
    return damage


def _damaged_sweep(run: Path) -> None:
    (run.parent / "sweep.json").write_text('{"runs": 5}')


DAMAGES: list[tuple[str, Callable[[Path], None], str]] = [
    ("history-nan-epoch", lambda r: _history(r, "1,0.1,1.1,2", "nan,0.2,1.2,2", "inf,0.3,1.3,2"),
     "history.csv: skipped 2 row(s) without a whole epoch number"),
    ("history-extra-fields", lambda r: _history(r, "1,0.1,1.1,2", "2,0.2,1.2,2,9,9"),
     "history.csv: skipped 1 row(s)"),
    ("history-not-csv", _write("history.csv", "epoch\n\"1" + "x" * 200_000 + "\n"),
     "history.csv"),
    ("run-json-epochs-lots", _write("run.json", '{"status": "completed", '
                                                '"epochs_completed": "lots"}'),
     "run.json: epochs_completed 'lots' is not a count of epochs"),
    ("run-json-not-json", _write("run.json", "{not json"), "run.json is not valid JSON"),
    ("run-json-dev-zero", _symlink("/dev/zero", "run.json"),
     "run.json is a character device, not a regular file"),
    ("metrics-json-records-5", _write("metrics.json", '{"records": 5}'),
     "metrics.json: 'records' is not a list"),
    ("metrics-json-protocol-x", _write("metrics.json", json.dumps({"format": 1, "records": [
        {"metric": "fid", "scores": {"fid": 1.0}, "protocol": "x"}]})),
     "metrics.json: skipped 1 record(s)"),
    ("metrics-json-string-score", _write("metrics.json", json.dumps({"format": 1, "records": [
        {"metric": "fid", "scores": {"fid": "low"}, "protocol": {}}]})),
     "metrics.json: skipped 1 record(s)"),
    ("metrics-json-huge", _huge("metrics.json", 40 * 2**20),
     "metrics.json is 41,943,040 bytes, more than the"),
    ("metrics-csv-3000-names", _many_metrics, "metrics.csv: kept the first 100 scores, left out "
                                              "2900 more"),
    ("metrics-csv-nan-value", _write("metrics.csv", "epoch,metric,score,value\n1,toy,fid,nan\n"
                                                    "x,toy,fid,1\n2,toy,fid,0.5\n"),
     "metrics.csv: skipped 2 row(s)"),
    ("score-specs-damaged", _write("score_specs.json", '{"metrics": {"toy_distance": '
                                                       '{"fid": {"higher_is_better": "yes"}}}}'),
     "score_specs.json: the spec of toy_distance/fid is damaged"),
    ("config-not-mapping", _write("config.yaml", "- a\n- b\n"),
     "config.yaml holds a list, not a mapping"),
    ("config-not-utf8", lambda r: (r / "config.yaml").write_bytes(b"name: \xff\xfe\n"),
     "config.yaml is not UTF-8 text"),
    ("grid-not-png", _write("samples/epoch_0003.png", "not an image"),
     "epoch_0003.png is not an image PIL can read"),
    ("grid-is-fifo-dir", lambda r: (r / "samples" / "epoch_0003.png").unlink() or
     (r / "samples" / "epoch_0003.png").mkdir(), ""),
    ("sweep-json-damaged", _damaged_sweep, "sweep.json is damaged"),
]


@pytest.mark.parametrize(("case", "damage", "warning"), DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_run_file_is_skipped_with_a_warning_naming_it(
        tmp_path: Path, case: str, damage: Callable[[Path], None], warning: str) -> None:
    root = tmp_path / "runs"
    write_run(root, "good")
    bad = write_run(root, "bad")
    damage(bad)
    code, output, rows = compare(root, tmp_path / "out")
    assert code == 0, output
    assert "Traceback" not in output and "internal error" not in output
    assert warning in flat(output), output
    assert [row["run"] for row in rows] == ["bad", "good"]
    assert (tmp_path / "out" / "report.html").is_file()
    if warning:
        report = flat((tmp_path / "out" / "report.html").read_text())
        assert "Skipped while reading the runs" in report


def test_a_description_holding_set_does_not_split_the_overrides(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    config = copy.deepcopy(BASE_CONFIG)
    config["description"] = "a --set b=["
    config["seed"] = 7
    write_run(root, "a", config=config, sets=["description=a --set b=[", "seed=7"])
    write_run(root, "b", sets=["seed=1"])
    code, output, rows = compare(root, tmp_path / "out")
    assert code == 0, output
    by_run = {row["run"]: row for row in rows}
    assert (by_run["a"]["description"], by_run["a"]["seed"]) == ("a --set b=[", "7")
    assert "b" not in rows[0]  # "b=[" was part of the description, not an override


def test_a_fifo_as_history_does_not_block(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root, "good")
    bad = write_run(root, "bad")
    (bad / "history.csv").unlink()
    os.mkfifo(bad / "history.csv")
    done = subprocess.run([sys.executable, "-m", "ganlab", "compare", str(root), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env=cli_env())
    assert done.returncode == 0, done.stderr
    assert "history.csv is a FIFO, not a regular file; skipped it." in flat(done.stderr)


def test_a_closed_pipe_ends_compare_quietly(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for name in ("a", "b"):
        write_run(root, name)
    process = subprocess.Popen([sys.executable, "-m", "ganlab", "compare", str(root), "--out",
                                str(tmp_path / "out")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=cli_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # `| head -1`
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=120) == 0, errors
    assert "Broken pipe" not in errors and "Traceback" not in errors
    assert (tmp_path / "out" / "report.html").is_file()


def test_sweep_records_naming_folders_outside_the_sweep_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "study"
    write_run(root, "a")
    secret = write_run(tmp_path, "secret")
    png(secret / "samples" / "epoch_0009.png")
    (root / "sweep.json").write_text(json.dumps({
        "format": 1, "name": "study", "experiment": "x.yaml", "base_overrides": [],
        "axes": {}, "runs": [{"name": "a", "overrides": {"seed": 1}, "state": "finished"},
                             {"name": "../secret", "overrides": {}, "state": "finished"}]}))
    code, output, rows = compare(root, tmp_path / "out")
    assert code == 0, output
    assert [row["run"] for row in rows] == ["study/a"]
    assert "names a run '../secret' that is not a folder name; left it out" in flat(output)


def test_thousands_of_differing_config_keys_are_capped(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_run(root, "a")
    config = copy.deepcopy(BASE_CONFIG)
    config["extra"] = {f"k{i}": i for i in range(2_000)}
    write_run(root, "b", config=config)
    code, output, rows = compare(root, tmp_path / "out")
    assert code == 0, output
    assert len(rows[0]) < 150  # 100 config columns at most, then the run's own
    report = (tmp_path / "out" / "report.html").read_text()
    assert len(report) < 2_000_000


def test_terminal_control_characters_in_names_are_not_printed(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run = write_run(root, "a", evaluations=[{
        "metric": "fid\x1b]0;PWNED\x07", "scores": {"fid\x1b[2J": 1.0},
        "protocol": {"extractor": "x\x1b[31m"}}])
    (run / "metrics.csv").write_text("epoch,metric,score,value\n1,m\x1b[1m,s\r,0.5\n")
    code, output, _ = compare(root, tmp_path / "out")
    assert code == 0, output
    assert "\x1b" not in output and "\x07" not in output
    assert "fid?]0;PWNED?" in output
