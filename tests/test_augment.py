"""DiffAugment (``train.augment``): what each transformation does to images, that gradients
flow through it, and that a run with it still resumes bit-identically after a kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from reliability_support import (
    differing_arrays,
    final_state,
    output,
    prepare_tiny_data,
    resumed_run_matches,
    run_cli,
    tiny_config,
    tiny_experiment_file,
)

from ganlab.engine.augment import CUTOUT_RATIO, DiffAugment, color, cutout, translation
from ganlab.errors import ConfigError
from ganlab.experiment import experiment_from_data


def one_bright_pixel(count: int, size: int, row: int, col: int) -> tf.Tensor:
    """``count`` black ([-1, 1] scale) images with one white pixel at (row, col)."""
    images = -np.ones((count, size, size, 1), np.float32)
    images[:, row, col, 0] = 1.0
    return tf.constant(images)


def test_translation_shifts_each_image_by_at_most_an_eighth_and_fills_with_the_edge() -> None:
    rng = tf.random.Generator.from_seed(3)
    moved = translation(one_bright_pixel(64, 32, 16, 16), rng).numpy()
    assert moved.min() == -1.0  # edge fill: the black background, no grey border
    positions = [np.argwhere(image[..., 0] > 0) for image in moved]
    assert all(len(found) == 1 for found in positions)  # the pixel moved, none was lost
    shifts = np.array([found[0] - (16, 16) for found in positions])
    assert np.abs(shifts).max() == 4  # 32 / 8
    assert len({tuple(s) for s in shifts}) > 10  # a draw per image, in both axes


def test_cutout_zeroes_one_square_of_half_the_image_per_image() -> None:
    rng = tf.random.Generator.from_seed(4)
    cut = cutout(tf.ones((64, 32, 32, 3)), rng).numpy()
    side = int(32 * CUTOUT_RATIO)
    for image in cut:
        rows, cols = np.nonzero(image[..., 0] == 0)
        assert rows.size > 0
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert height <= side and width <= side and rows.size == height * width
        assert (image[rows, cols] == 0).all()  # every channel
    assert (cut == 0).mean(axis=(1, 2, 3)).std() > 0  # placed at random: some clipped


def test_color_changes_brightness_and_contrast_per_image() -> None:
    rng = tf.random.Generator.from_seed(5)
    images = tf.tile(tf.linspace(-1.0, 1.0, 16)[tf.newaxis, :, tf.newaxis, tf.newaxis],
                     [8, 1, 16, 1])
    changed = color(images, rng).numpy()
    means = changed.mean(axis=(1, 2, 3))
    spreads = changed.std(axis=(1, 2, 3))
    assert means.std() > 0.05 and spreads.std() > 0.01
    assert np.abs(means).max() <= 0.5 + 1e-6  # brightness moves by at most ±0.5


def test_augmentation_is_differentiable_and_repeatable_from_the_seed() -> None:
    images = tf.Variable(tf.random.stateless_uniform((4, 16, 16, 3), (1, 2), -1, 1))
    policy = ["color", "translation", "cutout"]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(DiffAugment(policy, tf.random.Generator.from_seed(9))(images))
    gradient = tape.gradient(loss, images)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0
    first = DiffAugment(policy, tf.random.Generator.from_seed(9))(images)
    again = DiffAugment(policy, tf.random.Generator.from_seed(9))(images)
    np.testing.assert_array_equal(first.numpy(), again.numpy())


def test_an_unknown_transformation_is_refused_with_its_key_path(tmp_path: Path) -> None:
    data = tiny_config(tmp_path, train={"augment": ["translation", "rotate"]})
    with pytest.raises(ConfigError, match=r"train\.augment\[1\].*'color', 'translation', "
                                          r"'cutout'.*'rotate'"):
        experiment_from_data(data)


def test_a_run_with_augmentation_killed_and_resumed_is_bit_identical(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    augment = {"augment": ["color", "translation", "cutout"]}
    runs = {name: tiny_experiment_file(tmp_path, name, train=augment)
            for name in ("whole", "killed")}
    augmented = resumed_run_matches(runs["whole"], runs["killed"], fault="step:13")
    plain_path, plain_dir = tiny_experiment_file(tmp_path, "plain")
    run = run_cli("run", plain_path)
    assert run.returncode == 0, output(run)
    # Augmentation changed what was learned (it is not silently ignored).
    assert differing_arrays(final_state(plain_dir), augmented)
