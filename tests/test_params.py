"""ganlab.params: the one set of parameter checks factories share."""

from __future__ import annotations

import pytest
from conftest import run_cli, tiny_experiment, write_experiment

from ganlab import params


@pytest.mark.parametrize(("check", "args", "error", "message"), [
    (params.positive_int, ("n", 0), ValueError, "n must be a positive integer, got 0"),
    (params.positive_int, ("n", True), TypeError, "n must be a positive integer, got True"),
    (params.positive_number, ("eps", -1e-5), ValueError, "eps must be positive, got -1e-05"),
    (params.fraction, ("m", 1.0), ValueError, "m must be in [0, 1), got 1.0"),
    (params.number, ("g", "10"), TypeError, "g must be a number, got '10'"),
    (params.choice, ("k", 3, (4, 5)), ValueError, "k must be one of 4, 5, got 3"),
    (params.choice, ("k", True, (1, 2)), ValueError, "k must be one of 1, 2, got True"),
    (params.boolean, ("flag", "yes"), ValueError, "flag must be true or false, got 'yes'"),
])
def test_checks_reject_with_a_message_naming_the_parameter(check, args, error, message) -> None:
    with pytest.raises(error) as caught:
        check(*args)
    assert str(caught.value) == message


def test_checks_return_the_value() -> None:
    assert params.number("g", 5, minimum=0) == 5.0
    assert params.number("s", 0.9, minimum=0.5, maximum=1, exclusive_minimum=True) == 0.9
    assert params.choice("k", 5, (4, 5)) == 5
    assert params.positive_int("n", 3) == 3
    assert params.boolean("b", False) is False


def test_builtin_params_errors_are_configuration_errors(tmp_path) -> None:
    config = tiny_experiment(tmp_path)
    # A number (the experiment schema's type check passes) that the plugin's own check refuses.
    config["loss"] = {"name": "wasserstein_gp", "params": {"gp_weight": -1.5}}
    result = run_cli(["validate", str(write_experiment(tmp_path / "e.yaml", config))])
    assert result.exit_code == 2, result.output
    assert "gp_weight must be >= 0, got -1.5" in result.output
    assert "plugin 'losses' (ganlab" in result.output
