"""Train an experiment given as a dict, in-process, for a few steps (plugin tests)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab.experiment import experiment_from_data
from ganlab.plugins import LoadedPlugins, load_plugins


def quick_config(config: Mapping[str, Any], run_dir: str | Path, *, epochs: int = 1,
                 steps: int = 2, batch_size: int = 8) -> dict[str, Any]:
    """``config`` made small: its run directory, few epochs and steps, quiet, a small bank."""
    data = copy.deepcopy(dict(config))
    data.setdefault("name", "plugin-test")
    data["run_dir"] = str(run_dir)
    train = dict(data.get("train") or {})
    train.setdefault("epochs", epochs)
    train.setdefault("batch_size", batch_size)
    train.setdefault("steps_per_epoch", steps)
    train.setdefault("verbose", 0)
    data["train"] = train
    data.setdefault("latents", {"bank_size": 16})
    return data


def train_experiment(config: Mapping[str, Any], run_dir: str | Path, *, epochs: int = 1,
                     steps: int = 2, batch_size: int = 8, plugins: Sequence[str] = (),
                     loaded: LoadedPlugins | None = None, echo: Any = None) -> Any:
    """Train ``config`` (an experiment as a dict) into ``run_dir`` and return the run result.

    Unset training keys default to a few steps (``epochs``, ``steps``,
    ``batch_size``); set keys are kept. Resuming works as with ``ganlab run``:
    calling it again with more epochs continues the run.

    Args:
        config: The experiment, as the YAML file would hold it.
        run_dir: Where the run goes.
        epochs: ``train.epochs`` unless the config sets it.
        steps: ``train.steps_per_epoch`` unless the config sets it.
        batch_size: ``train.batch_size`` unless the config sets it.
        plugins: One-off plugins (module names or ``.py`` paths) besides the
            experiment's ``plugins:`` and the installed ones.
        loaded: Plugins already loaded (e.g. the ``ganlab_plugins`` fixture's).
        echo: Where messages go (default: nowhere).

    Returns:
        The engine's run result (``run_dir``, ``epochs_completed``, ``logs``).

    """
    from ganlab.engine.runner import run_experiment  # TensorFlow loads only here

    experiment = experiment_from_data(quick_config(config, run_dir, epochs=epochs, steps=steps,
                                                   batch_size=batch_size))
    from ganlab.requirements import check_requirements

    check_requirements(experiment.settings.requires)
    if loaded is None:
        loaded = load_plugins([*plugins, *experiment.settings.plugins], strict=True)
    return run_experiment(experiment, loaded.registry, loaded.provenance(),
                          echo=echo or (lambda message: None))
