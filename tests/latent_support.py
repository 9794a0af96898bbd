"""A small trained run shared by the latent tests, and the CLI runner they use."""

from __future__ import annotations

import pytest
import yaml


def ganlab(capsys, *args):
    """Run the ``ganlab`` entry point in-process; exit code and output."""
    from ganlab.cli import main

    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    # Error messages are wrapped at 100 columns: compare them as one line.
    return exited.value.code, " ".join((captured.out + captured.err).split())


@pytest.fixture(scope="session", name="trained_run")
def trained_run_fixture(tmp_path_factory):
    """A 2-epoch, 2-steps-per-epoch DCGAN on the embedded MNIST sample at 32 px."""
    folder = tmp_path_factory.mktemp("latent_e2e")
    experiment = {
        "name": "latent_e2e", "seed": 7, "run_dir": str(folder / "run"),
        "dataset": {"name": "mnist", "params": {"source": "embedded", "image_size": 32,
                                                "tfrecords": str(folder / "tfrecords")}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 16, "base_filters": 8,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 2, "batch_size": 16, "steps_per_epoch": 2, "verbose": 0},
        "latents": {"bank_size": 16},
        "callbacks": [
            {"name": "latent_arithmetic", "params": {
                "concepts": {"a": [0, 1, 2], "b": [3, "s4"], "c": [5]},
                "expression": "a - b + c"}},
            {"name": "latent_interpolation", "params": {"pairs": [[0, 1], [2, "s9"]],
                                                        "steps": 5}},
        ],
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment))
    from ganlab.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["run", str(path)])
    assert exited.value.code == 0
    return folder / "run"
