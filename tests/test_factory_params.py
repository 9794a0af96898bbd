"""list-plugins --components lists every component's parameters with their defaults."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from conftest import run_cli

from ganlab.factory_params import Parameter, component_parameters
from ganlab.registry import Component, LazyFactory


def test_the_table_lists_every_architecture_parameter_with_its_default() -> None:
    from ganlab_builtins.sngan import SNGAN

    result = run_cli(["list-plugins", "--components"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split("parameters (name=default", 1)[1].split())
    assert "architecture sngan: latent_dim=128, base_filters=64," in text
    assert "spectral_norm='discriminator'" in text and "num_classes=0" in text
    assert "architecture dcgan:" in text and "spectral_norm='none'" in text
    import inspect

    named = [p for p in inspect.signature(SNGAN).parameters if p != "image_shape"]
    listed = text.split("architecture sngan: ")[1].split(" callback ")[0]
    assert [item.split("=")[0] for item in listed.split(", ")] == named


def test_the_json_gives_params_per_component() -> None:
    result = run_cli(["list-plugins", "--json", "--components"])
    assert result.exit_code == 0, result.output
    components = json.loads(result.stdout)["components"]
    sngan = next(c for c in components if c["name"] == "sngan")
    assert {"name": "latent_dim", "default": "128"} in sngan["params"]
    mnist = next(c for c in components if c["name"] == "mnist")
    assert {"name": "tfrecords", "required": True} in mnist["params"]


def test_a_lazy_factory_is_read_from_source_without_importing_it(tmp_path: Path,
                                                                 monkeypatch) -> None:
    package = tmp_path / "lazy_pkg_for_params"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "heavy.py").write_text(textwrap.dedent("""
        raise RuntimeError("imported!")

        class Thing:
            def __init__(self, rate: float = 1e-3, *, mode="a", needed):
                pass

        def kwargs_factory(**anything):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    component = Component("callback", "thing", LazyFactory("lazy_pkg_for_params.heavy:Thing"),
                          None, "test")
    assert component_parameters(component) == [
        Parameter("rate", "0.001"), Parameter("mode", "'a'"), Parameter("needed", None)]
    assert "lazy_pkg_for_params.heavy" not in sys.modules
    for target in ("lazy_pkg_for_params.heavy:kwargs_factory", "lazy_pkg_for_params.heavy:No",
                   "lazy_pkg_for_params.missing:Thing"):
        lazy = Component("callback", "x", LazyFactory(target), None, "test")
        assert component_parameters(lazy) is None


def test_engine_arguments_are_not_listed() -> None:
    def factory(image_shape, *, latent_dim: int = 4):
        return None

    assert component_parameters(Component("architecture", "a", factory, None, "t")) == [
        Parameter("latent_dim", "4")]
    assert component_parameters(Component("loss", "l", factory, None, "t"))[0].name == \
        "image_shape"
