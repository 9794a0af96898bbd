"""Regularizers (``regularizers:``): the maths of each built-in against an independent
computation, lazy intervals inside the compiled step, kill/resume, blame and bad input."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli as invoke_cli
from ganlab_builtins.losses import BCELoss
from ganlab_builtins.regularizers import R1, R2, BalancedConsistency, LeCam
from reliability_support import (
    final_state,
    output,
    prepare_tiny_data,
    resumed_run_matches,
    run_cli,
    tiny_config,
    tiny_experiment_file,
    write_experiment,
)

from ganlab import ConfigError, PluginError, RegularizerInputs
from ganlab.components import check_components
from ganlab.engine.trainer import GAN, Carry, GANTrainer
from ganlab.experiment import experiment_from_data, load_experiment
from ganlab.plugins import load_plugins
from ganlab.testing import check_regularizer

SHAPE = (3, 3, 1)


def tiny_discriminator(seed: int = 0) -> keras.Model:
    """A small non-linear D (so its input gradient depends on the input)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1)])


def numpy_discriminator(model: keras.Model):
    """The same D in float64 numpy: images ``(n, 3, 3, 1)`` → logits ``(n,)``."""
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in model.get_weights())
    return lambda x: (np.tanh(x.reshape(len(x), -1) @ w1 + b1) @ w2 + b2)[:, 0]


def finite_difference_penalty(model: keras.Model, images: np.ndarray,
                              step: float = 1e-6) -> float:
    """``mean ‖∇ₓ D(x)‖²`` from central differences, pixel by pixel, in float64."""
    forward = numpy_discriminator(model)
    images = images.astype(np.float64)
    gradients = np.zeros_like(images)
    for index in np.ndindex(*images.shape[1:]):
        bump = np.zeros_like(images)
        bump[(slice(None), *index)] = step
        gradients[(slice(None), *index)] = (forward(images + bump)
                                            - forward(images - bump)) / (2 * step)
    return float(np.mean(np.sum(gradients.reshape(len(images), -1) ** 2, axis=1)))


def inputs_for(discriminator, real, fake, augment=None) -> RegularizerInputs:
    return RegularizerInputs(real, fake, discriminator(real), discriminator(fake), discriminator,
                             None, fake_discriminator=discriminator,
                             step=tf.constant(0, tf.int64), augment=augment)


def random_images(seed: int, count: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, *SHAPE)).astype(np.float32)


# -- the maths ---------------------------------------------------------------------------------
def test_r1_is_half_gamma_times_the_finite_difference_gradient_norm_on_real_images() -> None:
    model = tiny_discriminator()
    real, fake = random_images(1), 3 * random_images(2)  # fakes saturate tanh more
    r1 = R1(gamma=3.0)
    penalty = float(r1.penalty(inputs_for(model, tf.constant(real), tf.constant(fake))))
    assert penalty == pytest.approx(finite_difference_penalty(model, real), rel=1e-4)
    assert r1.weight == 1.5 and r1.interval == 1 and r1.applies_to == "discriminator"
    assert penalty != pytest.approx(finite_difference_penalty(model, fake), rel=1e-2)


def test_r2_is_the_same_penalty_on_generated_images() -> None:
    model = tiny_discriminator(seed=3)
    real, fake = random_images(4), 3 * random_images(5)  # fakes saturate tanh more
    penalty = float(R2(gamma=1.0).penalty(inputs_for(model, tf.constant(real),
                                                     tf.constant(fake))))
    assert penalty == pytest.approx(finite_difference_penalty(model, fake), rel=1e-4)
    assert penalty != pytest.approx(finite_difference_penalty(model, real), rel=1e-2)


def test_lecam_anchors_are_zero_debiased_moving_averages_and_the_penalty_is_one_sided() -> None:
    lecam = LeCam(weight=0.5, decay=0.9)
    rng = np.random.default_rng(0)
    biased = np.zeros(2)
    for t in range(1, 5):
        real, fake = rng.normal(1.0, 1.0, (6, 1)), rng.normal(-1.0, 1.0, (6, 1))
        value = float(lecam.penalty(RegularizerInputs(
            None, None, tf.constant(real, tf.float32), tf.constant(fake, tf.float32), None)))
        biased = 0.9 * biased + 0.1 * np.array([real.mean(), fake.mean()])
        anchor_real, anchor_fake = biased / (1 - 0.9 ** t)
        expected = (np.mean(np.maximum(real - anchor_fake, 0) ** 2)
                    + np.mean(np.maximum(anchor_real - fake, 0) ** 2))
        assert value == pytest.approx(expected, rel=1e-5)
        np.testing.assert_allclose([float(a) for a in lecam.anchors()],
                                   [anchor_real, anchor_fake], rtol=1e-5)
    assert t == 4 and float(lecam.updates) == 4
    first = LeCam(decay=0.99)
    first.penalty(RegularizerInputs(None, None, tf.constant([[2.0], [4.0]]),
                                    tf.constant([[-1.0], [-3.0]]), None))
    # Debiased: after one update the anchors are the first means, not 1 % of them.
    np.testing.assert_allclose([float(a) for a in first.anchors()], [3.0, -2.0], rtol=1e-5)


def test_bcr_is_zero_when_the_transformation_is_the_identity() -> None:
    model = tiny_discriminator(seed=5)
    real, fake = tf.constant(random_images(6)), tf.constant(random_images(7))
    identity = inputs_for(model, real, fake, augment=lambda images, transforms=None: images)
    assert float(BalancedConsistency().penalty(identity)) == 0.0

    def shifted(images, transforms=None):
        return tf.roll(images, shift=1, axis=1)

    shift = inputs_for(model, real, fake, augment=shifted)
    expected = (10.0 * np.mean((model(real).numpy() - model(shifted(real)).numpy()) ** 2)
                + 2.0 * np.mean((model(fake).numpy() - model(shifted(fake)).numpy()) ** 2))
    value = float(BalancedConsistency(lambda_fake=2.0).penalty(shift))
    assert value == pytest.approx(expected, rel=1e-5) and value > 0


@pytest.mark.parametrize(("name", "params"), [
    ("r1", {"gamma": 10.0, "interval": 16}), ("r2", {}), ("lecam", {}),
    ("bcr", {}), ("bcr", {"transforms": ["translation", "cutout"]})])
def test_every_built_in_keeps_the_regularizer_contract(name: str, params: dict) -> None:
    built = check_regularizer(name, **params)
    assert built.applies_to == "discriminator"


# -- in the compiled step -------------------------------------------------------------------
def make_trainer(regularizers, d_steps: int = 1) -> GANTrainer:
    keras.utils.set_random_seed(11)
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(9, activation="tanh"),
                                  keras.layers.Reshape(SHAPE)])
    discriminator = tiny_discriminator(seed=12)
    g_opt, d_opt = keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    return GANTrainer(tf.distribute.get_strategy(), GAN(generator, discriminator), BCELoss(),
                      g_opt, d_opt, latent_dim=2, latent_distribution="normal", seed=3,
                      d_steps=d_steps, regularizers=regularizers)


BATCHES = [random_images(20 + i) for i in range(7)]


def test_a_lazy_penalty_is_applied_on_every_nth_update_scaled_by_n() -> None:
    trainer = make_trainer([("r1", R1(gamma=2.0, interval=3))])
    assert trainer.log_keys[-1] == "reg_r1"
    logged, expected = [], []
    carry = Carry(dict.fromkeys(trainer.log_keys, 0.0))
    for step, batch in enumerate(BATCHES):
        due = step % 3 == 0
        # Before the update: the penalty of D as it is, times gamma/2, times the interval.
        expected.append(3 * 1.0 * finite_difference_penalty(trainer.gan.discriminator, batch)
                        if due else 0.0)
        execution = trainer.execute(iter(tf.data.Dataset.from_tensors(batch)), 1, step, carry)
        carry = Carry(execution.totals, execution.last_logs["g_loss"])
        logged.append(execution.last_logs["reg_r1"])
    assert [value != 0 for value in logged] == [True, False, False, True, False, False, True]
    np.testing.assert_allclose(logged, expected, rtol=1e-4)
    assert int(trainer.d_optimizer.iterations) == 7
    assert carry.totals["reg_r1"] == pytest.approx(sum(logged))


def test_one_execution_of_many_steps_matches_step_by_step_exactly() -> None:
    regularizers = [("r1", R1(gamma=2.0, interval=3)), ("lecam", LeCam(interval=2))]
    stepwise, together = make_trainer(regularizers), None
    carry = Carry(dict.fromkeys(stepwise.log_keys, 0.0))
    for step, batch in enumerate(BATCHES):
        execution = stepwise.execute(iter(tf.data.Dataset.from_tensors(batch)), 1, step, carry)
        carry = Carry(execution.totals, execution.last_logs["g_loss"])
    together = make_trainer([("r1", R1(gamma=2.0, interval=3)), ("lecam", LeCam(interval=2))])
    data = tf.data.Dataset.from_tensor_slices(np.stack(BATCHES))
    whole = together.execute(iter(data), len(BATCHES), 0,
                             Carry(dict.fromkeys(together.log_keys, 0.0)))
    assert whole.finite_steps == len(BATCHES)
    assert whole.totals == carry.totals  # float64 sums, bit for bit
    for mine, theirs in zip(together.gan.discriminator.weights,
                            stepwise.gan.discriminator.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert float(together.penalties.penalties[1].regularizer.updates) == 4  # steps 0, 2, 4, 6


class FakeLogitPenalty:
    """A generator regularizer for the test: E[D(G(z))²], every other G update."""

    applies_to = "generator"
    weight = 0.5
    interval = 2

    def penalty(self, inputs: RegularizerInputs):
        return tf.reduce_mean(tf.square(inputs.fake_logits))


def test_a_generator_regularizer_counts_generator_updates() -> None:
    penalty = FakeLogitPenalty()
    check_regularizer(penalty)
    trainer = make_trainer([("fake_logit", penalty)], d_steps=2)
    logged = []
    carry = Carry(dict.fromkeys(trainer.log_keys, 0.0))
    for step, batch in enumerate(BATCHES[:6]):
        execution = trainer.execute(iter(tf.data.Dataset.from_tensors(batch)), 1, step, carry)
        carry = Carry(execution.totals, execution.last_logs["g_loss"])
        logged.append(execution.last_logs["reg_fake_logit"])
    # G updates on steps 1, 3, 5 (d_steps 2); the penalty counts on G updates 0 and 2.
    assert [value > 0 for value in logged] == [False, True, False, False, False, True]
    assert int(trainer.g_optimizer.iterations) == 3


class NaNAfter:
    """A discriminator regularizer that turns NaN from the third D update on."""

    applies_to = "discriminator"
    weight = 1.0
    interval = 1

    def penalty(self, inputs: RegularizerInputs):
        value = tf.reduce_mean(tf.square(inputs.real_logits))
        return tf.where(inputs.step >= 2, tf.constant(float("nan")), value)


def test_a_non_finite_penalty_stops_the_execution_at_its_step() -> None:
    trainer = make_trainer([("nan_after", NaNAfter())])
    data = tf.data.Dataset.from_tensor_slices(np.stack(BATCHES))
    execution = trainer.execute(iter(data), len(BATCHES), 0,
                                Carry(dict.fromkeys(trainer.log_keys, 0.0)))
    assert execution.finite_steps == 2
    assert np.isnan(execution.bad_logs["reg_nan_after"])
    assert np.isfinite(execution.bad_logs["d_loss"])  # the loss alone was fine
    assert np.isfinite(list(execution.totals.values())).all()


# -- end to end --------------------------------------------------------------------------------
REGULARIZED = [{"name": "r1", "params": {"gamma": 1.0, "interval": 4}}, {"name": "lecam"}]


def test_a_regularized_run_logs_its_terms_and_resumes_bit_identically_after_a_kill(
        tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    runs = {name: tiny_experiment_file(tmp_path, name, regularizers=REGULARIZED,
                                       train={"steps_per_execution": 3})
            for name in ("whole", "killed")}
    state = resumed_run_matches(runs["whole"], runs["killed"], fault="step:13")
    assert [key for key in state if key.startswith("regularizers/")] == [
        "regularizers/0000", "regularizers/0001", "regularizers/0002"]
    assert float(state["regularizers/0002"]) == 24  # LeCam updated on every D update
    for run_dir in (runs["whole"][1], runs["killed"][1]):
        with (run_dir / "history.csv").open() as stream:
            rows = list(csv.DictReader(stream))
        assert len(rows) == 3
        assert list(rows[0])[:7] == ["epoch", "d_loss", "g_loss", "d_real", "d_fake",
                                     "reg_r1", "reg_lecam"]
        assert all(float(row["reg_r1"]) > 0 and float(row["reg_lecam"]) >= 0 for row in rows)
    whole_rows = (runs["whole"][1] / "history.csv").read_text().splitlines()
    killed_rows = (runs["killed"][1] / "history.csv").read_text().splitlines()
    # The epoch means of the loss columns and the penalties match too (timings differ).
    assert [row.split(",")[:7] for row in whole_rows] == \
        [row.split(",")[:7] for row in killed_rows]


BROKEN_PLUGIN = '''
import tensorflow as tf
from ganlab import hookimpl


class Broken:
    applies_to = "discriminator"
    weight = 1.0
    interval = 1

    def __init__(self, when: str = "always"):
        self.when = when

    def penalty(self, inputs):
        if self.when == "always" or tf.inside_function():
            raise ZeroDivisionError("the penalty divided by zero")
        return tf.reduce_mean(tf.square(inputs.real_logits))


@hookimpl
def register_regularizers(register):
    register("broken_reg", Broken)
'''


@pytest.mark.parametrize(("when", "where"), [("always", "penalty()"),
                                             ("traced", "during epoch 1")])
def test_a_regularizer_that_raises_is_blamed_by_name(tmp_path: Path, when: str,
                                                     where: str) -> None:
    prepare_tiny_data(tmp_path)
    plugin = tmp_path / "broken_reg_plugin.py"
    plugin.write_text(BROKEN_PLUGIN)
    config = tiny_config(tmp_path, "broken", train={"epochs": 1},
                         regularizers=[{"name": "broken_reg", "params": {"when": when}}])
    config["plugins"].append(str(plugin))
    result = invoke_cli(["run", str(write_experiment(tmp_path / "broken.yaml", config))])
    message = " ".join(result.output.split())
    assert result.exit_code == PluginError.exit_code, message
    assert "regularizer 'broken_reg'" in message and "broken_reg_plugin" in message
    assert "ZeroDivisionError" in message and where in message
    assert "internal error" not in message and "Traceback" not in message


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("blocks", "fragments"), [
    ({"name": "r1"}, ["regularizers", "expected a list"]),
    ([{"name": "r1", "parms": {}}], ["regularizers[0].parms", "unknown key 'parms'",
                                     "did you mean 'params'"]),
    ([{"params": {"gamma": 1.0}}], ["regularizers[0].name", "missing required key 'name'"]),
    ([{"name": "r1", "params": {"gamma": 1.0}}, {"name": 3}],
     ["regularizers[1].name", "expected a string"]),
])
def test_malformed_regularizer_blocks_name_the_key_path_and_line(tmp_path: Path, blocks,
                                                                 fragments) -> None:
    config = tiny_config(tmp_path, "bad", regularizers=blocks)
    path = write_experiment(tmp_path / "bad.yaml", config)
    with pytest.raises(ConfigError) as raised:
        load_experiment(path)
    message = str(raised.value)
    assert str(path) in message and "(line " in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("block", "error", "fragments"), [
    ({"name": "lecan"}, PluginError, ["Unknown regularizer 'lecan'",
                                      "Did you mean 'lecam'?",
                                      "Known regularizers: bcr, lecam, r1, r2"]),
    ({"name": "r1", "params": {"gama": 1.0}}, ConfigError,
     ["regularizers[1].params.gama (line", "did you mean 'gamma'"]),
    ({"name": "r1", "params": {"gamma": "ten"}}, ConfigError,
     ["regularizers[1].params.gamma (line", "expected a number", "'ten'"]),
])
def test_unknown_regularizers_and_params_are_refused_before_training(
        tmp_path: Path, block, error, fragments) -> None:
    config = tiny_config(tmp_path, "bad", regularizers=[{"name": "r1"}, block])
    path = write_experiment(tmp_path / "bad.yaml", config)
    loaded = load_plugins(local=[str(Path(config["plugins"][0]))])
    with pytest.raises(error) as raised:
        check_components(load_experiment(path), loaded.registry)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("params", "fragment"), [
    ({"gamma": -1.0}, "gamma must be >= 0"),
    ({"interval": 0}, "interval must be a positive integer"),
])
def test_bad_param_values_are_a_config_error_naming_the_regularizer(params, fragment) -> None:
    registry = load_plugins().registry
    with pytest.raises(ConfigError, match=fragment) as raised:
        registry.create("regularizer", "r1", params)
    assert "The regularizer 'r1' from plugin 'regularizers'" in str(raised.value)


def test_bcr_without_transformations_or_train_augment_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no train\.augment.*transforms"):
        check_regularizer("bcr", augment=())
    with pytest.raises(ConfigError, match="transforms must be one of"):
        load_plugins().registry.create("regularizer", "bcr", {"transforms": ["rotate"]})
    data = tiny_config(tmp_path, regularizers=[{"name": "bcr"}])
    assert experiment_from_data(data).settings.regularizers[0].name == "bcr"


def test_the_documented_regularizer_plugin_matches_the_built_in_r1(tmp_path: Path) -> None:
    from test_docs_examples import block_defining

    doc = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
    (tmp_path / "my_r1.py").write_text(block_defining(doc, "class RealGradientPenalty"))
    loaded = load_plugins(["my_r1.py"], base_dir=tmp_path)
    mine = check_regularizer("my_r1", registry=loaded.registry, gamma=4.0, interval=16)
    assert (mine.weight, mine.interval) == (2.0, 16)
    model = tiny_discriminator(seed=8)
    inputs = inputs_for(model, tf.constant(random_images(9)), tf.constant(random_images(10)))
    assert float(mine.penalty(inputs)) == pytest.approx(float(R1(gamma=4.0).penalty(inputs)),
                                                        rel=1e-6)
    sys.modules.pop("my_r1", None)


def test_regularizers_train_under_the_mirrored_strategy(tmp_path: Path) -> None:
    """Two replicas: the lazy cond, the nested tapes and LeCam's averaged anchors."""
    prepare_tiny_data(tmp_path)
    regularizers = [{"name": "r1", "params": {"interval": 2}},
                    {"name": "lecam", "params": {"interval": 2}},
                    {"name": "bcr", "params": {"transforms": ["translation"]}}]
    path, run_dir = tiny_experiment_file(
        tmp_path, "mirrored", regularizers=regularizers,
        train={"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"], "epochs": 1})
    result = run_cli("run", path)
    assert result.returncode == 0, output(result)
    with (run_dir / "history.csv").open() as stream:
        row = next(csv.DictReader(stream))
    assert all(np.isfinite(float(row[key])) and float(row[key]) > 0
               for key in ("reg_r1", "reg_lecam", "reg_bcr"))
    state = final_state(run_dir)
    assert float(state["regularizers/0002"]) == 4  # LeCam: updates 0, 2, 4, 6 of 8


def test_docs_list_every_parameter_of_every_built_in_regularizer() -> None:
    import inspect

    text = (Path(__file__).resolve().parent.parent / "docs" / "models.md").read_text()
    section = text[text.index("## Regularizers"):]
    registry = load_plugins().registry
    for name in ("r1", "r2", "lecam", "bcr"):
        factory = registry.resolve("regularizer", name).factory
        assert f"| `{name}` |" in section
        for parameter in inspect.signature(factory).parameters:
            assert f"`{parameter}`" in section, (name, parameter)


def test_validate_tries_the_regularizers_and_names_a_missing_augmentation(
        tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    good = tiny_config(tmp_path, "good", regularizers=REGULARIZED)
    result = invoke_cli(["validate", str(write_experiment(tmp_path / "good.yaml", good))])
    assert result.exit_code == 0, result.output
    assert "losses, regularizers and their gradients OK" in " ".join(result.output.split())
    bad = tiny_config(tmp_path, "bad", regularizers=[{"name": "bcr"}])
    result = invoke_cli(["validate", str(write_experiment(tmp_path / "bad.yaml", bad))])
    message = " ".join(result.output.split())
    assert result.exit_code == ConfigError.exit_code, message
    assert "no train.augment" in message and "Traceback" not in message


def test_a_branch_may_add_or_drop_a_stateful_regularizer(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    path, run_dir = tiny_experiment_file(tmp_path, "base", train={"epochs": 1})
    assert run_cli("run", path).returncode == 0
    added = ["--set", "train.epochs=2", "--set", f"run_dir={tmp_path / 'added'}",
             "--set", "regularizers=[{name: lecam}]"]
    result = run_cli("run", path, *added, "--from-checkpoint", "epoch=1")
    assert result.returncode == 0, output(result)
    state = final_state(tmp_path / "added")
    assert float(state["regularizers/0002"]) == 8  # fresh at the branch: one epoch of updates
    dropped = ["--set", "train.epochs=3", "--set", f"run_dir={tmp_path / 'dropped'}"]
    result = run_cli("run", path, *dropped, "--from-checkpoint", "epoch=2",
                     "--from-run", str(tmp_path / "added"))
    assert result.returncode == 0, output(result)
    assert not [key for key in final_state(tmp_path / "dropped") if key.startswith("reg")]
