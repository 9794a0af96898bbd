"""End to end: an experiment using this plugin trains, and resumes, in-process."""

import numpy as np

from ganlab import hookimpl
from ganlab.data import InMemoryDataset


class RandomBlobs(InMemoryDataset):
    """Random gray images, for the components this plugin does not provide."""

    image_shape = (16, 16, 1)

    def images(self, split):
        return np.random.default_rng(0).integers(0, 256, (32, *self.image_shape), np.uint8)


class ExtraData:
    @staticmethod
    @hookimpl
    def register_datasets(register):
        register("test_blobs", RandomBlobs)


EXPERIMENT = {
    "dataset": {"name": "example_plugin_blobs", "params": {"count": 32, "image_size": 16}
                if "example_plugin_blobs" != "test_blobs" else {}},
    "architecture": {"name": "example_plugin_mlp", "params": {}},
    "loss": {"name": "example_plugin_loss"},
    "callbacks": [{"name": "example_plugin_csv"}],
    "metrics": [{"name": "example_plugin_mean_gap"}],
}


def test_experiment_trains_and_resumes(register_plugin, train_run, tmp_path):
    plugins = register_plugin(ExtraData, name="test_data")
    first = train_run(EXPERIMENT, epochs=1, loaded=plugins)
    assert first.epochs_completed == 1
    resumed = train_run(EXPERIMENT, epochs=2, loaded=plugins)
    assert resumed.epochs_completed == 2
    assert (tmp_path / "run" / "generator.keras").is_file()
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 3
