"""Plugin discovery and loading through real entry points (dist-info on sys.path)."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from ganlab.components import check_components
from ganlab.errors import PluginError
from ganlab.experiment import experiment_from_data
from ganlab.plugins import load_plugins

GOOD = '''
from ganlab import hookimpl

class ToyLoss:
    """A toy paired loss from a third-party distribution."""
    def __init__(self, scale: float = 1.0):
        self.scale = scale
    def discriminator_loss(self, inputs):
        return inputs.real_logits
    def generator_loss(self, inputs):
        return inputs.fake_logits

@hookimpl
def register_losses(register):
    register("toy_loss", ToyLoss)
'''

DUPLICATE = '''
from ganlab import hookimpl

@hookimpl
def register_losses(register):
    register("bce", lambda: None, description="a clashing bce")
'''

BROKEN = '''
raise RuntimeError("this plugin is broken on purpose")
'''

MISSPELLED = '''
from ganlab import hookimpl

@hookimpl
def register_dataset(register):
    register("never", object)
'''

RAISES_IN_HOOK = '''
from ganlab import hookimpl

@hookimpl
def register_callbacks(register):
    raise ValueError("boom inside the hook")
'''


def install_distribution(site: Path, dist: str, version: str, modules: dict[str, str]) -> None:
    """Write modules and a dist-info with ``ganlab`` entry points, as pip would."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {name}" for name in modules)
    (info / "entry_points.txt").write_text(f"[ganlab]\n{lines}\n")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    install_distribution(directory, "ganlab_toy", "1.2.3", {"toy_plugin": GOOD})
    install_distribution(directory, "ganlab_dupe", "0.1", {"dupe_plugin": DUPLICATE})
    install_distribution(directory, "ganlab_broken", "9.9", {"broken_plugin": BROKEN})
    install_distribution(directory, "ganlab_typo", "0.2", {"typo_plugin": MISSPELLED})
    install_distribution(directory, "ganlab_raiser", "0.3", {"raiser_plugin": RAISES_IN_HOOK})
    monkeypatch.syspath_prepend(str(directory))
    importlib.invalidate_caches()
    yield directory
    for name in ("toy_plugin", "dupe_plugin", "broken_plugin", "typo_plugin", "raiser_plugin"):
        sys.modules.pop(name, None)


def test_builtins_load_through_entry_points() -> None:
    loaded = load_plugins()
    builtins = {r.name: r for r in loaded.records if r.origin == "builtin"}
    assert {"mnist", "celeba", "dcgan", "losses", "callbacks"} <= set(builtins)
    assert all(r.distribution == "ganlab" and r.error is None for r in builtins.values())
    bce = loaded.registry.resolve("loss", "bce")
    assert (bce.plugin, bce.distribution) == ("losses", "ganlab")
    assert loaded.registry.resolve("architecture", "dcgan").plugin == "dcgan"


def test_installed_plugin_records_its_distribution(site: Path) -> None:
    loaded = load_plugins()
    toy = loaded.record("toy_plugin")
    assert (toy.origin, toy.distribution, toy.version) == ("installed", "ganlab_toy", "1.2.3")
    assert toy.hooks == ["register_losses"]
    component = loaded.registry.resolve("loss", "toy_loss")
    assert component.distribution == "ganlab_toy"
    assert component.description == "A toy paired loss from a third-party distribution."


def test_broken_plugin_is_an_error_row_not_a_crash(site: Path) -> None:
    loaded = load_plugins()
    broken = loaded.record("broken_plugin")
    assert "this plugin is broken on purpose" in broken.error
    raiser = loaded.record("raiser_plugin")
    assert "register_callbacks raised ValueError: boom inside the hook" in raiser.error
    with pytest.raises(PluginError, match="broken_plugin"):
        load_plugins(strict=True)


def test_ambiguous_name_names_both_providers_and_accepts_plugin_prefix(site: Path) -> None:
    registry = load_plugins().registry
    with pytest.raises(PluginError) as caught:
        registry.resolve("loss", "bce")
    message = str(caught.value)
    assert "plugin 'losses' (ganlab 0.1.0)" in message
    assert "plugin 'dupe_plugin' (ganlab_dupe 0.1)" in message
    assert "'losses:bce'" in message
    assert registry.resolve("loss", "losses:bce").plugin == "losses"
    assert registry.resolve("loss", "dupe_plugin:bce").description == "a clashing bce"


def test_unknown_name_suggests_and_mentions_broken_plugins(site: Path) -> None:
    registry = load_plugins().registry
    with pytest.raises(PluginError) as caught:
        registry.resolve("loss", "hinje")
    message = str(caught.value)
    assert "Did you mean 'hinge'?" in message
    assert "broken_plugin" in message and "failed to load" in message


def test_misspelled_hook_is_reported_with_a_suggestion(site: Path) -> None:
    record = load_plugins().record("typo_plugin")
    assert record.error is None
    assert record.warnings == [
        "hook 'register_dataset' matches no ganlab hook; did you mean 'register_datasets'?"]


def test_disable_by_option_and_environment(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {r.name for r in load_plugins(disabled=["dupe_plugin", "losses"]).records}
    assert "dupe_plugin" not in names and "losses" not in names and "dcgan" in names
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", "ganlab_broken, toy_plugin")
    names = {r.name for r in load_plugins().records}
    assert "broken_plugin" not in names and "toy_plugin" not in names


def test_local_plugin_file(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(GOOD)
    loaded = load_plugins(["mine.py"], base_dir=tmp_path)
    record = loaded.record("mine")
    assert record.origin == "local" and record.error is None
    assert loaded.registry.resolve("loss", "toy_loss").plugin == "mine"
    missing = load_plugins(["nothere.py"], base_dir=tmp_path).record("nothere")
    assert "no such plugin file" in missing.error


def test_component_params_are_checked_against_the_factory(tmp_path: Path) -> None:
    experiment = experiment_from_data({
        "name": "x", "dataset": {"name": "mnist", "params": {"tfrecords": "t", "image_sise": 32}},
        "architecture": {"name": "dcgan", "params": {"base_filter": 8}},
        "loss": {"name": "bce"}, "train": {"epochs": 1, "batch_size": 2}})
    with pytest.raises(Exception) as caught:
        check_components(experiment, load_plugins().registry)
    message = str(caught.value)
    assert "dataset.params.image_sise: unknown parameter 'image_sise' (did you mean " \
           "'image_size'?)" in message
    assert "architecture.params.base_filter" in message and "'base_filters'" in message


def test_list_plugins_cli_shows_error_rows_and_components(site: Path) -> None:
    result = run_cli(["list-plugins", "--components"])
    assert result.exit_code == 0, result.output
    assert "broken_plugin" in result.output and "ERROR: RuntimeError" in result.output
    assert "ganlab_toy" in result.output and "1.2.3" in result.output
    assert "toy_loss" in result.output and "sample_grid" in result.output
    assert "Traceback" not in result.output


def test_list_plugins_json(site: Path) -> None:
    result = run_cli(["list-plugins", "--json", "--components"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["toy_plugin"]["distribution"] == "ganlab_toy"
    assert by_name["broken_plugin"]["error"].startswith("RuntimeError")
    assert {"kind": "loss", "name": "toy_loss"}.items() <= next(
        c for c in data["components"] if c["name"] == "toy_loss").items()


def test_cli_local_plugin_and_disable(tmp_path: Path) -> None:
    plugin = tmp_path / "extra.py"
    plugin.write_text(GOOD)
    result = run_cli(["-p", str(plugin), "--disable-plugin", "celeba", "list-plugins",
                      "--json"])
    assert result.exit_code == 0, result.output
    names = {p["name"]: p["origin"] for p in json.loads(result.stdout)["plugins"]}
    assert names["extra"] == "local" and "celeba" not in names


def test_a_relative_plugin_path_is_relative_to_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import tiny_experiment, write_experiment

    (tmp_path / "mistakes").mkdir()
    (tmp_path / "mistakes" / "plugin.py").write_text(textwrap.dedent('''
        from ganlab import hookimpl

        @hookimpl
        def register_losses(register):
            register("bce_again", lambda: __import__("ganlab_builtins.losses").losses.BCELoss())
    '''))
    (tmp_path / "experiments").mkdir()
    config = tiny_experiment(tmp_path, loss={"name": "bce_again"})
    write_experiment(tmp_path / "experiments" / "x.yaml", config)
    monkeypatch.chdir(tmp_path)
    # As the shell reads it: ./mistakes/plugin.py, not experiments/mistakes/plugin.py.
    result = run_cli(["-p", "mistakes/plugin.py", "validate", "experiments/x.yaml"])
    # The loss is found (it exists only in that plugin) and checked.
    assert result.exit_code == 0, result.output
    assert "experiments/x.yaml: OK" in result.output


def test_core_never_imports_the_builtins() -> None:
    core = Path(__file__).resolve().parent.parent / "ganlab"
    offenders = [p for p in core.rglob("*.py") if "ganlab_builtins" in p.read_text()]
    assert offenders == []
