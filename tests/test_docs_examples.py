"""The plugin examples printed in the README and docs/plugins.md really work."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, run_cli, tiny_experiment, write_experiment
from PIL import Image

from ganlab import LossInputs
from ganlab.plugins import load_plugins


def python_blocks(document: Path) -> list[str]:
    """The ```python fenced blocks of a Markdown file."""
    return re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.S)


def block_defining(document: Path, marker: str) -> str:
    return next(block for block in python_blocks(document) if marker in block)


def test_readme_ten_line_plugin_trains(tmp_path: Path) -> None:
    source = block_defining(REPO / "README.md", "class SoftplusLoss")
    (tmp_path / "my_losses.py").write_text(source)
    config = tiny_experiment(tmp_path, plugins=["my_losses.py"], loss={"name": "softplus"})
    config["train"]["epochs"] = 1
    result = run_cli(["run", str(write_experiment(tmp_path / "exp.yaml", config))])
    assert result.exit_code == 0, result.output
    assert (Path(config["run_dir"]) / "generator.keras").exists()


def test_tutorial_r1_loss_penalises_the_real_gradient(tmp_path: Path) -> None:
    (tmp_path / "ganlab_r1.py").write_text(
        block_defining(REPO / "docs" / "plugins.md", "class R1Loss"))
    loaded = load_plugins(["ganlab_r1.py"], base_dir=tmp_path)
    loss = loaded.registry.create("loss", "r1", {"gamma": 4.0})
    weights = tf.constant([[0.5], [-1.0], [2.0], [0.0]])

    def discriminator(images, training=False):  # linear: grad wrt x is w for every example
        return tf.matmul(tf.reshape(images, [-1, 4]), weights)

    real = tf.ones([3, 2, 2, 1])
    logits = discriminator(real)

    @tf.function  # as in the engine's step: the nested tape must work in a graph
    def d_loss(real, logits):
        return loss.discriminator_loss(LossInputs(real, real, logits, logits, discriminator))

    adversarial = float(tf.reduce_mean(tf.nn.softplus(-logits) + tf.nn.softplus(logits)))
    squared_norm = float(tf.reduce_sum(weights ** 2))
    total = float(d_loss(real, logits))
    assert total == pytest.approx(adversarial + 0.5 * 4.0 * squared_norm, rel=1e-5)
    sys.modules.pop("ganlab_r1", None)


def test_png_folder_dataset_prepares_and_loads(tmp_path: Path) -> None:
    (tmp_path / "png_folder.py").write_text(
        block_defining(REPO / "docs" / "plugins.md", "class PngFolder"))
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for index in range(5):
        colour = np.full((20, 30, 3), index * 50, dtype=np.uint8)
        Image.fromarray(colour).save(pictures / f"{index}.png")
    (pictures / "broken.png").write_bytes(b"not a png")
    loaded = load_plugins(["png_folder.py"], base_dir=tmp_path)
    dataset = loaded.registry.create("dataset", "png_folder", {
        "source": str(pictures), "tfrecords": str(tmp_path / "records"), "image_size": 8})
    report = dataset.prepare(workers=1)
    assert report.counts == {"train": 5}
    assert [name for name, _ in report.skipped] == ["broken.png"]
    images = np.stack([np.asarray(x) for x in dataset.load(deterministic=True)])
    assert images.shape == (5, 8, 8, 3)
    assert sorted(np.round(images[:, 0, 0, 0], 3)) == pytest.approx(
        [round(v * 50 / 127.5 - 1.0, 3) for v in range(5)], abs=1e-3)


def test_readme_experiment_example_is_valid() -> None:
    import yaml

    from ganlab.components import check_components
    from ganlab.experiment import experiment_from_data

    text = next(block for block in re.findall(r"```yaml\n(.*?)```",
                                              (REPO / "README.md").read_text(), flags=re.S)
                if "name: dcgan_mnist" in block)
    experiment = experiment_from_data(yaml.safe_load(text))
    check_components(experiment, load_plugins().registry)
    assert experiment.config["optimizers"]["schedule"]["factors"] == [1.0, 0.5, 0.25, 0.125]
