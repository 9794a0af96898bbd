"""Metric plugins declare which way each score is better (``score_specs``), and a score that is
not a finite number in its declared range is the plugin's error: in training, in ``ganlab
evaluate`` and in ``ganlab.testing.check_metric``. ``evaluate`` and ``compare`` use the direction.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli, tiny_experiment, write_experiment
from reliability_support import flat

from ganlab import ScoreSpec
from ganlab.errors import PluginError
from ganlab.evaluation.scores import checked_scores, declared_specs
from ganlab.testing import check_metric

#: A plugin with a well-behaved metric (directions declared) and metrics that break the contract.
METRICS = '''
import numpy as np
from ganlab import ScoreSpec, hookimpl


class Brightness:
    """Mean brightness (higher is better, in [-1, 1]) and its spread (no direction)."""

    name = "brightness"
    score_specs = {"mean": ScoreSpec(higher_is_better=True, minimum=-1.0, maximum=1.0),
                   "spread": ScoreSpec(minimum=0.0)}

    def compute(self, generate, dataset):
        images = generate(8)
        return {"mean": float(images.mean()), "spread": float(images.std())}


class Broken:
    """Returns what it is told to (a string, NaN, a value out of its range)."""

    name = "broken"
    score_specs = {"gap": ScoreSpec(higher_is_better=False, minimum=0.0)}

    def __init__(self, value="low"):
        self.value = value

    def compute(self, generate, dataset):
        return {"gap": self.value}


@hookimpl
def register_metrics(register):
    register("brightness", Brightness)
    register("broken", Broken)
'''


def _experiment(tmp_path: Path, metrics: list[dict[str, Any]]) -> Path:
    (tmp_path / "direction_metrics.py").write_text(METRICS)
    config = tiny_experiment(tmp_path, plugins=["direction_metrics.py"], metrics=metrics)
    config["train"].update({"epochs": 1})
    return write_experiment(tmp_path / "m.yaml", config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    path = _experiment(root, [{"name": "brightness"}])
    result = run_cli(["run", str(path)])
    assert result.exit_code == 0, result.output
    return root / "runs" / "tiny"


def test_training_records_what_each_score_means(trained: Path) -> None:
    specs = json.loads((trained / "score_specs.json").read_text())
    assert specs == {"format": 1, "metrics": {"brightness": {
        "mean": {"higher_is_better": True, "minimum": -1.0, "maximum": 1.0},
        "spread": {"higher_is_better": None, "minimum": 0.0, "maximum": None}}}}
    with (trained / "metrics.csv").open() as stream:
        assert {row["score"] for row in csv.DictReader(stream)} == {"mean", "spread"}


@pytest.mark.parametrize(("value", "shown"), [
    ("'low'", "returned 'low' for the score 'gap'"),
    ("float('nan')", "returned nan for the score 'gap'"),
    ("-3.0", "returned -3 for the score 'gap', outside the range it declares ([0, inf))"),
])
def test_a_metric_returning_a_non_number_in_training_is_a_plugin_error(
        tmp_path: Path, value: str, shown: str) -> None:
    path = _experiment(tmp_path, [{"name": "broken"}])
    plugin = tmp_path / "direction_metrics.py"
    plugin.write_text(METRICS.replace('def __init__(self, value="low"):',
                                      f"def __init__(self, value={value}):"))
    result = run_cli(["run", str(path)])
    message = flat(result.output)
    assert result.exit_code == 3, message
    assert "internal error" not in message and "Traceback" not in message
    assert "The metric 'broken' from" in message and "direction_metrics" in message
    assert shown in message


def test_evaluate_names_the_plugin_of_a_bad_score_and_prints_directions(trained: Path) -> None:
    result = run_cli(["evaluate", str(trained), "--metric", "brightness"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line.split() for line in result.stdout.splitlines()[2:]}
    # metric score value better fake real ...: a plain-dict metric reports no sample counts.
    assert lines["mean"][3] == "higher" and lines["spread"][3] == "-"
    assert lines["mean"][4:6] == ["-", "-"]
    records = json.loads((trained / "metrics.json").read_text())["records"]
    assert records[-1]["score_specs"]["mean"]["higher_is_better"] is True
    bad = run_cli(["evaluate", str(trained), "--metric", "broken"])
    message = flat(bad.output)
    assert bad.exit_code == 3, message
    assert "The metric 'broken' from" in message and "returned 'low'" in message
    assert "internal error" not in message


def test_compare_marks_the_best_run_by_the_declared_direction(tmp_path: Path) -> None:
    from compare_support import render, write_run

    root = tmp_path / "runs"
    for name, last in (("a", 1.5), ("b", 0.5), ("c", 2.5)):
        write_run(root, name, fid=[3.0, 2.0, last])
    result = run_cli(["compare", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "compare.csv").open() as stream:
        rows = {row["run"]: row for row in csv.DictReader(stream)}
    assert rows["c"]["toy_distance/fid best"] == "2.0"  # lower is better: epoch 2, not 3
    dom, _ = render(tmp_path / "out" / "report.html", tmp_path)
    table = dom[dom.index('<table id="runs"'):]
    table = table[:table.index("</table>")]
    body = table[table.index("<tbody>"):]
    # Sorted best first by the first ranked score (final fid, lower is better): b, a, c.
    order = [name for name in ("a", "b", "c") if f">{name}</td>" in body]
    assert sorted(order, key=body.index) == ["b", "a", "c"]
    assert body.count("★") == 2  # best final (b) and best over epochs (b)
    assert 'title="lower is better"' in table


def test_check_metric_applies_the_same_checks() -> None:
    class Stringly:
        name = "stringly"

        def compute(self, generate: Any, dataset: Any) -> dict[str, Any]:
            return {"score": "high"}

    class Declared:
        name = "declared"
        score_specs = {"share": ScoreSpec(higher_is_better=True, minimum=0.0, maximum=1.0)}

        def __init__(self, value: float):
            self.value = value

        def compute(self, generate: Any, dataset: Any) -> dict[str, float]:
            return {"share": self.value}

    class Malformed(Declared):
        score_specs = {"share": "higher"}  # type: ignore[dict-item]

    assert check_metric(Declared(0.5)) == {"share": 0.5}
    for metric, fragment in ((Stringly(), "returned 'high' for the score 'score'"),
                             (Declared(1.5), "outside the range it declares ([0, 1])"),
                             (Malformed(0.5), "score_specs is {'share': 'higher'}")):
        with pytest.raises(PluginError, match="The metric") as caught:
            check_metric(metric)
        assert fragment in str(caught.value)


@pytest.mark.parametrize(("returned", "fragment"), [
    ({"a": np.float32(0.5)}, None),
    ({"a": np.array(0.25)}, None),
    ({"a": None}, "returned None for the score 'a'"),
    ({"a": True}, "returned True for the score 'a'"),
    ({"a": float("inf")}, "returned inf"),
    ({"a": [1.0]}, "returned [1.0]"),
    ({}, "returned {} from compute()"),
    ("0.5", "returned '0.5' from compute()"),
    ({1: 0.5}, "a score named 1"),
    ({f"m{i}": 0.0 for i in range(65)}, "returned 65 scores"),
])
def test_checked_scores_table(returned: Any, fragment: str | None) -> None:
    if fragment is None:
        assert list(checked_scores(returned, "The metric 'x' from y")) == ["a"]
        return
    with pytest.raises(PluginError) as caught:
        checked_scores(returned, "The metric 'x' from y")
    assert fragment in str(caught.value) and "The metric 'x' from y" in str(caught.value)


def test_declared_specs_and_the_spec_type() -> None:
    class Metric:
        score_specs = {"fid": ScoreSpec(higher_is_better=False, minimum=0.0)}

    assert declared_specs(Metric(), "m")["fid"].direction == "lower"
    assert declared_specs(object(), "m") == {}
    with pytest.raises(TypeError):
        ScoreSpec(higher_is_better="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ScoreSpec(minimum=1.0, maximum=0.0)


def test_the_built_in_metrics_declare_their_directions() -> None:
    from ganlab.plugins import load_plugins

    registry = load_plugins().registry
    expected = {"fid": {"fid": False}, "kid": {"kid_mean": False, "kid_std": None},
                "precision_recall": {"precision": True, "recall": True},
                "classifier_score": {"classifier_score": True, "confident_share": True}}
    for name, directions in expected.items():
        factory = registry.resolve("metric", name).factory
        specs = getattr(factory, "score_specs", None) or factory.load().score_specs
        assert {k: s.higher_is_better for k, s in specs.items()} == directions
