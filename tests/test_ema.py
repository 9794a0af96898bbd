"""The generator EMA (``train.ema``): its arithmetic inside the step, its settings,
checkpoints, export and the commands that draw with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from reliability_support import (
    PLUGIN,
    assert_clean_failure,
    invoke,
    prepare_tiny_data,
    tiny_config,
)

DECAY, START = 0.75, 2
IMAGES = 16


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ema")
    prepare_tiny_data(folder)
    return folder


def build(root: Path, **train: Any) -> Any:
    """The real trainer of the tiny experiment with ``train.ema`` (built as ``ganlab run`` does)."""
    import tensorflow as tf

    return build_in(root, tf.distribute.get_strategy(), **train)


def batches(trainer: Any) -> Any:
    """An endless iterator over the same fixed batches of 8 noise images."""
    import tensorflow as tf

    images = np.random.default_rng(0).uniform(-1, 1, (IMAGES, 8, 8, 1)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True).repeat()
    return iter(trainer.strategy.experimental_distribute_dataset(data))


def weights(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def run_steps(trainer: Any, steps: int, per_execution: int) -> None:
    from ganlab.engine.trainer import Carry

    iterator, done = batches(trainer), 0
    while done < steps:
        count = min(per_execution, steps - done)
        assert trainer.execute(iterator, count, done, Carry()).finite_steps == count
        done += count


def test_ema_update_is_the_numpy_recomputation_step_by_step(root: Path) -> None:
    """shadow_n = G_n while n <= start_step, else G_n + d (shadow_{n-1} - G_n), to the bit;
    BN moving statistics copied."""
    from ganlab.engine.trainer import Carry

    trainer = build(root)
    ema, generator = trainer.ema, trainer.gan.generator
    assert trainer.gan.sampling_generator is ema.shadow and trainer.gan.sampling_kind == "ema"
    expected = weights(generator.trainable_weights)
    assert all(np.array_equal(a, b) for a, b in zip(
        expected, weights(ema.shadow.trainable_weights), strict=True))
    iterator = batches(trainer)

    decay = np.float32(DECAY)
    for step in range(1, 6):
        trainer.execute(iterator, 1, step - 1, Carry())
        current = weights(generator.trainable_weights)
        expected = [g if step <= START else g + decay * (e - g)
                    for g, e in zip(current, expected, strict=True)]
        shadow = weights(ema.shadow.trainable_weights)
        for mine, theirs in zip(shadow, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        if step > START:  # averaging: no longer G itself
            assert not all(np.array_equal(s, g) for s, g in zip(shadow, current, strict=True))
        for mine, theirs in zip(weights(ema.shadow.non_trainable_weights),
                                weights(generator.non_trainable_weights), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    assert int(trainer.g_optimizer.iterations.numpy()) == 5


def test_ema_counts_every_step_whatever_the_steps_per_execution(root: Path) -> None:
    one, three = build(root), build(root)
    run_steps(one, 6, per_execution=1)
    run_steps(three, 6, per_execution=3)
    for a, b in zip(weights(one.ema.shadow.weights), weights(three.ema.shadow.weights),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(weights(one.gan.generator.weights), weights(three.gan.generator.weights),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_ema_updates_only_with_the_generator_when_d_steps_is_2(root: Path) -> None:
    trainer = build(root, d_steps=2)
    run_steps(trainer, 4, per_execution=4)
    assert int(trainer.g_optimizer.iterations.numpy()) == 2
    # Two G updates, both within start_step: the shadow is still an exact copy of G.
    for a, b in zip(weights(trainer.ema.shadow.weights), weights(trainer.gan.generator.weights),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_arrays_round_trip_the_shadow(root: Path, tmp_path: Path) -> None:
    from ganlab.engine.checkpoint import assign_training_arrays, training_arrays

    trainer = build(root)
    run_steps(trainer, 4, per_execution=2)
    arrays = training_arrays(trainer, np.zeros((2, 8), np.float32))
    saved = [k for k in arrays if k.startswith("generator_ema/")]
    assert len(saved) == len(trainer.ema.shadow.weights)
    fresh = build(root)
    assert assign_training_arrays(fresh, arrays, tmp_path / "x.npz") == []
    for a, b in zip(weights(fresh.ema.shadow.weights), weights(trainer.ema.shadow.weights),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # A checkpoint of a run without EMA: the shadow starts as the restored G.
    old = {k: v for k, v in arrays.items() if not k.startswith("generator_ema/")}
    other = build(root)
    notes = assign_training_arrays(other, old, tmp_path / "old.npz")
    assert "starts as a copy of the restored generator" in notes[0]
    for a, b in zip(weights(other.ema.shadow.weights), weights(trainer.gan.generator.weights),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("ema", "fragments"), [
    ({"decay": 1.0}, ["train.ema.decay", "expected a value in (0, 1)", "received 1.0"]),
    ({"decay": 0}, ["train.ema.decay", "expected a value in (0, 1)"]),
    ({"start_step": -1}, ["train.ema.start_step", "received -1"]),
    ({"decay": "high"}, ["train.ema.decay", "expected a number"]),
    ({"every": 3}, ["train.ema.every", "unknown key 'every'"]),
    ("yes", ["train.ema", "expected a mapping"]),
])
def test_bad_ema_settings_name_the_key(root: Path, ema: Any, fragments: list[str]) -> None:
    from reliability_support import write_experiment

    path = write_experiment(root / "bad.yaml", tiny_config(root, "bad", train={"ema": ema}))
    result = invoke(["validate", str(path)])
    assert_clean_failure(result, 2, str(path), *fragments)


def test_settings_are_typed_and_default_to_none(root: Path) -> None:
    from ganlab.experiment import experiment_from_data

    settings = experiment_from_data(tiny_config(root, "s")).settings.train
    assert settings.ema is None
    settings = experiment_from_data(tiny_config(root, "s", train={"ema": {}})).settings.train
    assert (settings.ema.decay, settings.ema.start_step) == (0.999, 0)


MIRRORED_SCRIPT = '''
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, sys.argv[2])
from ganlab.engine.strategy import make_strategy

strategy = make_strategy("mirrored", ["/cpu:0", "/cpu:1"])
import test_ema
from ganlab.engine.trainer import Carry


def replicas(variable):
    copies = [np.array(c.numpy()) for c in variable.value.values]
    assert len(copies) == 2, len(copies)
    assert all(np.array_equal(c, copies[0]) for c in copies), "replicas differ"
    return copies[0]


trainer = test_ema.build_in(Path(sys.argv[1]), strategy)
iterator = test_ema.batches(trainer)
expected = [np.array(v.numpy()) for v in trainer.gan.generator.trainable_weights]
decay = np.float32(test_ema.DECAY)
for step in range(1, 6):
    trainer.execute(iterator, 1, step - 1, Carry())
    current = [replicas(v) for v in trainer.gan.generator.trainable_weights]
    expected = [g if step <= test_ema.START else g + decay * (e - g)
                for g, e in zip(current, expected)]
    for shadow, wanted in zip(trainer.ema.shadow.trainable_weights, expected):
        assert np.array_equal(replicas(shadow), wanted), "not the EMA"
trainer.execute(iterator, 3, 5, Carry())
for shadow in trainer.ema.shadow.trainable_weights:
    replicas(shadow)
# BN statistics are each replica's own (batch norm is not synchronized here): each
# replica's shadow holds its own replica's copy of G's.
pairs = zip(trainer.ema.shadow.non_trainable_weights, trainer.gan.generator.non_trainable_weights)
for shadow, source in pairs:
    for mine, theirs in zip(shadow.value.values, source.value.values):
        assert np.array_equal(mine.numpy(), theirs.numpy()), "statistics not copied"
print("OK", int(trainer.g_optimizer.iterations.numpy()))
'''


def build_in(root: Path, strategy: Any, **train: Any) -> Any:
    """:func:`build` under ``strategy``."""
    import keras

    from ganlab.components import build_dataset
    from ganlab.engine.build import build_trainer
    from ganlab.experiment import experiment_from_data
    from ganlab.plugins import load_plugins

    config = tiny_config(root, "unit", train={"ema": {"decay": DECAY, "start_step": START},
                                              **train})
    experiment = experiment_from_data(config)
    registry = load_plugins([str(PLUGIN)]).registry
    keras.utils.set_random_seed(experiment.settings.seed)
    return build_trainer(experiment, registry, strategy, build_dataset(experiment, registry),
                         steps_per_epoch=8)


def test_mirrored_replicas_hold_the_same_exact_ema(root: Path, tmp_path: Path) -> None:
    """Under MirroredStrategy (two logical CPUs) each replica's shadow is the EMA, to the bit."""
    import subprocess
    import sys

    from reliability_support import REPO, cli_env

    script = tmp_path / "mirrored_ema.py"
    script.write_text(MIRRORED_SCRIPT)
    tests = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, str(script), str(root), str(tests)], cwd=REPO,
                          env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK 8" in done.stdout


def test_a_shadow_that_is_not_a_second_generator_is_refused(root: Path) -> None:
    import keras

    from ganlab.engine.ema import GeneratorEMA
    from ganlab.errors import PluginError

    generator = build(root).gan.generator
    with pytest.raises(PluginError, match="returned the same model twice"):
        GeneratorEMA(generator, generator, decay=0.9, start_step=0)
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    with pytest.raises(PluginError, match="with other weights"):
        GeneratorEMA(other, generator, decay=0.9, start_step=0)


CACHING_PLUGIN = '''
from ganlab import hookimpl
from reliability_plugin import TinyDense


class CachingDense(TinyDense):
    """Returns one generator, built once: no second network for an EMA."""

    def build_generator(self):
        if not hasattr(self, "_generator"):
            self._generator = super().build_generator()
        return self._generator


@hookimpl
def register_architectures(register):
    register("caching_dense", CachingDense)
'''


def test_an_architecture_that_cannot_build_a_second_generator_is_blamed(
        root: Path, tmp_path: Path) -> None:
    from reliability_support import write_experiment

    (tmp_path / "caching_plugin.py").write_text(CACHING_PLUGIN)
    config = tiny_config(root, "caching", train={"ema": {}},
                         architecture={"name": "caching_dense", "params": {"latent_dim": 8}},
                         run_dir=str(tmp_path / "run"))
    config["plugins"] = [*config["plugins"], str(tmp_path / "caching_plugin.py")]
    path = write_experiment(tmp_path / "caching.yaml", config)
    result = invoke(["run", str(path)])
    assert_clean_failure(result, 3, "The architecture 'caching_dense' from",
                         "caching_plugin", "returned the same model twice")
