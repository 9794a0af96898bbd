"""The experiment validator: every malformed file names its key path (and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlab.errors import ConfigError
from ganlab.experiment import EXPERIMENT_SCHEMA, apply_override, load_experiment
from ganlab.settings import ComponentSettings, ExperimentSettings

VALID = """\
name: ok
seed: 1
dataset:
  name: mnist
  params: {source: embedded, tfrecords: data/x}
architecture: {name: dcgan, params: {base_filters: 8}}
loss: {name: bce}
optimizers:
  generator: {learning_rate: 2.0e-4, beta_1: 0.5}
  schedule: {boundaries_epochs: [10, 20, 25], factors: [1.0, 0.5, 0.25, 0.125]}
train: {epochs: 3, batch_size: 8}
callbacks:
  - {name: sample_grid, params: {rows: 4}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_valid_file_fills_defaults(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, VALID))
    assert experiment.config["optimizers"]["discriminator"]["learning_rate"] == 2e-4
    assert experiment.config["train"]["precision"] == "float32"
    assert experiment.config["optimizers"]["schedule"]["factors"] == [1.0, 0.5, 0.25, 0.125]
    assert experiment.run_dir() == Path("runs/ok")


def test_validation_produces_frozen_typed_settings(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, VALID), ["train.deterministic=true"])
    settings = experiment.settings
    assert settings.train.deterministic is True and settings.train.epochs == 3
    assert settings.optimizers.discriminator.learning_rate == 2e-4
    assert settings.optimizers.schedule.boundaries_epochs == (10, 20, 25)
    assert settings.checkpoint.every_n_steps is None and settings.latents.bank_size == 64
    assert settings.generator_block == settings.discriminator_block == ComponentSettings(
        "dcgan", settings.architecture.params)
    assert settings.architecture.params["base_filters"] == 8
    assert settings.callbacks[0].as_block() == {"name": "sample_grid", "params": {"rows": 4}}
    with pytest.raises(AttributeError):
        settings.train.epochs = 4  # frozen
    with pytest.raises(TypeError):
        settings.architecture.params["base_filters"] = 16  # read-only


def _schema_keys(schema) -> dict:
    return {key: _schema_keys(field.schema) if field.schema and not field.open_mapping else None
            for key, field in schema.items()}


def _settings_keys(cls) -> dict:
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    keys = {}
    for field in dataclasses.fields(cls):
        inner = [t for t in (typing.get_args(hints[field.name]) or (hints[field.name],))
                 if dataclasses.is_dataclass(t)]
        nested = inner[0] if inner else None
        keys[field.name] = (_settings_keys(nested) if nested and nested is not ComponentSettings
                            and field.name not in ("callbacks", "metrics") else None)
    return keys


def test_settings_mirror_the_schema_key_for_key() -> None:
    schema = {key: value for key, value in _schema_keys(EXPERIMENT_SCHEMA).items()}
    for component in ("dataset", "architecture", "generator", "discriminator", "loss"):
        schema[component] = None
    assert _settings_keys(ExperimentSettings) == schema


# (description, replace-this, with-this, key path the message must name, line or None)
MALFORMED = [
    ("unknown top-level key", "seed: 1", "seed: 1\nsede: 2", "sede", 3),
    ("missing name", "name: ok\n", "", "name", None),
    ("name with a space", "name: ok", "name: o k", "name", 1),
    ("seed not an int", "seed: 1", "seed: one", "seed", 2),
    ("negative seed", "seed: 1", "seed: -1", "seed", 2),
    ("dataset without name", "  name: mnist\n", "", "dataset.name", None),
    ("dataset name wrong type", "  name: mnist", "  name: [mnist]", "dataset.name", 4),
    ("dataset params not a mapping", "  params: {source: embedded, tfrecords: data/x}",
     "  params: [1, 2]", "dataset.params", 5),
    ("unknown key in dataset block", "  name: mnist", "  name: mnist\n  parms: {}",
     "dataset.parms", 5),
    ("missing loss", "loss: {name: bce}\n", "", "loss", None),
    ("learning rate zero", "learning_rate: 2.0e-4", "learning_rate: 0",
     "optimizers.generator.learning_rate", 9),
    ("learning rate string", "learning_rate: 2.0e-4", "learning_rate: fast",
     "optimizers.generator.learning_rate", 9),
    ("beta_1 out of range", "beta_1: 0.5}", "beta_1: 1.5}", "optimizers.generator.beta_1", 9),
    ("unknown optimizer key", "beta_1: 0.5}", "beta_1: 0.5, momentum: 0.9}",
     "optimizers.generator.momentum", 9),
    ("schedule boundaries not increasing", "[10, 20, 25]", "[10, 5, 25]",
     "optimizers.schedule.boundaries_epochs", 10),
    ("schedule factor count", "[1.0, 0.5, 0.25, 0.125]", "[1.0, 0.5]",
     "optimizers.schedule.factors", 10),
    ("batch size zero", "batch_size: 8", "batch_size: 0", "train.batch_size", 11),
    ("negative epochs", "epochs: 3", "epochs: -3", "train.epochs", 11),
    ("epochs float", "epochs: 3", "epochs: 2.5", "train.epochs", 11),
    ("missing epochs", "epochs: 3, ", "", "train.epochs", None),
    ("bad precision", "batch_size: 8}", "batch_size: 8, precision: float8}",
     "train.precision", 11),
    ("bad strategy", "batch_size: 8}", "batch_size: 8, strategy: horovod}",
     "train.strategy", 11),
    ("jit_compile not bool", "batch_size: 8}", "batch_size: 8, jit_compile: maybe}",
     "train.jit_compile", 11),
    ("callbacks not a list", "callbacks:\n  - {name: sample_grid, params: {rows: 4}}",
     "callbacks: sample_grid", "callbacks", 12),
    ("callback without name", "- {name: sample_grid, params: {rows: 4}}",
     "- {params: {rows: 4}}", "callbacks[0].name", None),
    ("unknown key in train", "batch_size: 8}", "batch_size: 8, epoch: 4}", "train.epoch", 11),
    ("no architecture", "architecture: {name: dcgan, params: {base_filters: 8}}\n", "",
     "architecture", None),
    ("bank size zero", "seed: 1", "seed: 1\nlatents: {bank_size: 0}", "latents.bank_size", 3),
    ("plugins not a list of strings", "seed: 1", "seed: 1\nplugins: [1]", "plugins[0]", 3),
]


@pytest.mark.parametrize(("description", "old", "new", "key_path", "line"), MALFORMED,
                         ids=[case[0] for case in MALFORMED])
def test_malformed_experiment_names_key_path(tmp_path: Path, description: str, old: str,
                                             new: str, key_path: str, line: int | None) -> None:
    assert old in VALID, description
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"{key_path} (line {line})" in message if line else key_path in message
    assert "expected" in message or "missing" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("batch_size: 8", "batch_size: 0").replace("seed: 1", "seed: x")
    with pytest.raises(ConfigError) as caught:
        load_experiment(write(tmp_path, text))
    assert "2 problems" in str(caught.value)
    assert "train.batch_size" in str(caught.value) and "seed" in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("name: [unclosed", "not valid YAML at line 1"),
    ("name: x\n  bad: indent\n", "not valid YAML"),
    ("!!python/object/apply:os.system ['echo hi']", "unsupported YAML tag"),
    ("name: !!python/name:os.system x", "unsupported YAML tag"),
    ("- a\n- b\n", "must be a YAML mapping"),
])
def test_yaml_that_is_not_a_plain_mapping_is_refused(tmp_path: Path, text: str,
                                                      expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_experiment(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")


def test_overrides_are_typed_and_validated(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    experiment = load_experiment(path, ["train.epochs=7", "train.jit_compile=true",
                                        "callbacks.0.params.rows=2",
                                        "dataset.params.source=/data/mnist"])
    assert experiment.config["train"]["epochs"] == 7
    assert experiment.config["train"]["jit_compile"] is True
    assert experiment.config["callbacks"][0]["params"]["rows"] == 2
    assert experiment.config["dataset"]["params"]["source"] == "/data/mnist"
    with pytest.raises(ConfigError, match=r"train.batch_size \(from --set\)"):
        load_experiment(path, ["train.batch_size=big"])


@pytest.mark.parametrize(("raw", "expected"), [
    ("1e-3", 0.001), ("2.5E+2", 250.0), ("-1e-5", -1e-5), (".5e1", 5.0), ("1.0e-3", 0.001),
    ("3", 3), ("true", True), ("1e", "1e"), ("e5", "e5"), ("[1e-3, 2]", [0.001, 2]),
    ("", ""),
])
def test_set_and_grid_read_numbers_the_same_way(raw: str, expected: object) -> None:
    from ganlab.sweep.spec import parse_value

    data: dict = {"optimizers": {"generator": {}}}
    apply_override(data, f"optimizers.generator.learning_rate={raw}")
    assert data["optimizers"]["generator"]["learning_rate"] == expected
    assert parse_value(raw) == expected


def test_a_learning_rate_written_1e_minus_3_is_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    experiment = load_experiment(path, ["optimizers.generator.learning_rate=1e-3"])
    assert experiment.config["optimizers"]["generator"]["learning_rate"] == 0.001


@pytest.mark.parametrize(("override", "expected"), [
    ("train.epochs", "expected KEY.PATH=VALUE"),
    ("callbacks.5.name=x", "not a valid index"),
    ("name.inner=1", "is not a mapping"),
])
def test_malformed_overrides(override: str, expected: str) -> None:
    data = {"name": "x", "callbacks": [{"name": "a"}]}
    with pytest.raises(ConfigError, match=expected):
        apply_override(data, override)


def test_a_run_saved_before_a_key_existed_resumes_with_that_key_at_its_default(
        tmp_path: Path) -> None:
    from ganlab.rundir import incompatible_changes

    new = load_experiment(write(tmp_path, VALID)).config
    saved = {**new, "train": {k: v for k, v in new["train"].items() if k != "augment"}}
    assert incompatible_changes(saved, new) == []
    augmented = load_experiment(write(tmp_path, VALID), ["train.augment=[cutout]"]).config
    assert incompatible_changes(saved, augmented) == ["train.augment: [] → ['cutout']"]
