"""Latent arithmetic and interpolation: parsing, vector math, figures, callbacks, commands."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from ganlab_builtins.latent import arithmetic as A
from ganlab_builtins.latent import exemplars as X
from ganlab_builtins.latent import expression as E
from ganlab_builtins.latent import latent_arithmetic, latent_interpolation
from ganlab_builtins.latent import layout as Y
from ganlab_builtins.latent import render as R
from latent_support import ganlab, trained_run_fixture  # noqa: F401  (the trained_run fixture)
from PIL import Image

from ganlab import RunContext
from ganlab.errors import ConfigError, RunDirectoryError
from ganlab.images import to_uint8
from ganlab.latents import lerp, sample_latents, slerp

# -- exemplars and concepts -------------------------------------------------------------------


def test_exemplars_parse_as_bank_indices_or_seeds():
    assert X.parse_exemplar(12) == X.Exemplar(index=12)
    assert X.parse_exemplar(" 7 ") == X.Exemplar(index=7)
    assert X.parse_exemplar("s42") == X.Exemplar(seed=42)
    assert [e.label for e in X.parse_exemplars("3, s8,21")] == ["3", "s8", "21"]
    for bad in (-1, "x3", "s", "1.5", True, None, "s-2"):
        with pytest.raises(X.LatentSpecError, match="bad exemplar"):
            X.parse_exemplar(bad)


def test_exemplar_latents_come_from_the_bank_or_the_seed():
    bank = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(X.Exemplar(index=2).latent(bank, 3, "normal"), bank[2])
    np.testing.assert_array_equal(X.Exemplar(seed=5).latent(bank, 3, "uniform"),
                                  sample_latents(1, 3, "uniform", 5)[0])
    with pytest.raises(X.LatentSpecError, match=r"outside the run's latent bank.*4 latents"):
        X.Exemplar(index=4).latent(bank, 3, "normal")


def test_concepts_are_validated():
    parsed = X.parse_concepts({"glasses_man": [12, "s40", 57], "man": "3,8"})
    assert parsed["man"] == (X.Exemplar(index=3), X.Exemplar(index=8))
    with pytest.raises(X.LatentSpecError, match="bad concept name '2man'"):
        X.parse_concepts({"2man": [1]})
    with pytest.raises(X.LatentSpecError, match="concept 'man'.*at least one exemplar"):
        X.parse_concepts({"man": []})
    with pytest.raises(X.LatentSpecError, match="non-empty mapping"):
        X.parse_concepts([1, 2])
    assert X.parse_concept_option("woman=5, 33,s60") == (
        "woman", (X.Exemplar(index=5), X.Exemplar(index=33), X.Exemplar(seed=60)))
    with pytest.raises(X.LatentSpecError, match="expected NAME=E1,E2"):
        X.parse_concept_option("woman:5")


# -- expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "terms"), [
    ("glasses_man - man + woman", [(1, "glasses_man"), (-1, "man"), (1, "woman")]),
    ("-a+b", [(-1, "a"), (1, "b")]),
    ("+ a", [(1, "a")]),
    ("0.5*a - 2 * _b1 + .25*a", [(0.5, "a"), (-2, "_b1"), (0.25, "a")]),
    ("1e-1*a", [(0.1, "a")]),
    ("a * 2", [(2, "a")]),
    ("2*(a - b) + c", [(2, "a"), (-2, "b"), (1, "c")]),
    ("-(a + 0.5*(b - c))", [(-1, "a"), (-0.5, "b"), (0.5, "c")]),
    ("a - - b", [(1, "a"), (1, "b")]),
    ("\ta +\n b", [(1, "a"), (1, "b")]),
])
def test_valid_expressions(text, terms):
    expression = E.parse_expression(text)
    assert [(t.coefficient, t.name) for t in expression.terms] == terms


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("a -", "at character 4: invalid syntax"),
    ("a b", "at character 3: invalid syntax"),
    ("a * b", "at character 3: two concepts cannot be multiplied"),
    ("a + 1", "at character 5: a number on its own cannot be added"),
    ("2", "the expression is a number"),
    ("a / 2", "at character 3: the operator / is not allowed"),
    ("a ** 2", "the operator \\*\\* is not allowed"),
    ("f(a)", "at character 1: a call is not allowed"),
    ("a.b", "an attribute is not allowed"),
    ("a + b!", "at character 6: invalid syntax"),
    ("a + ²", "at character 5: invalid character '²'"),
    ("(a", "never closed"),
    ("a, b", "a tuple"),
    ("a < b", "a comparison"),
    ("'a'", "'a' is not allowed"),
    ("True*a", "True is not allowed"),
    ("2j*a", "2j is not allowed"),
    ("1e999*a", "coefficient inf is outside"),
    ("2000*a", "coefficient 2000 is outside"),
    ("café + a", "bad concept name 'café'"),
    ("a + \x00", "null bytes|not an expression of concept names"),
    ("+".join(["a"] * 33), "33 concept names; an expression has at most 32 terms"),
    ("-" * 600 + "a", "at most"),
    ("(" * 300 + "a" + ")" * 300, "bad expression"),
    ("a" * 1001, "1001 characters long; at most 1000"),
])
def test_invalid_expressions(text, message):
    with pytest.raises(X.LatentSpecError, match=message):
        E.parse_expression(text)


def test_unknown_concepts_are_named_with_a_suggestion():
    with pytest.raises(X.LatentSpecError,
                       match=r"unknown concept 'womn'.*did you mean 'woman'.*man, woman"):
        E.parse_expression("man - womn", known=["man", "woman"])


def test_term_labels():
    expression = E.parse_expression("-a + 0.5*b - c")
    assert [expression.term_label(i) for i in range(3)] == ["- a", "+ 0.5*b", "- c"]
    assert expression.names == ["a", "b", "c"]


# -- vector math ------------------------------------------------------------------------------


def test_arithmetic_is_mean_a_minus_mean_b_plus_mean_c_exactly():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((3, 100)).astype(np.float32) for _ in range(3))
    expression = E.parse_expression("glasses_man - man + woman")
    latents = A.latent_arithmetic(expression, {"glasses_man": a, "man": b, "woman": c},
                                  neighbours=8, jitter=0.25, seed=3)
    np.testing.assert_array_equal(latents.result, a.mean(axis=0) - b.mean(axis=0)
                                  + c.mean(axis=0))
    np.testing.assert_array_equal(latents.means["man"], b.mean(axis=0))
    assert latents.result.dtype == np.float32
    weighted = E.parse_expression("0.5*a - b").evaluate({"a": a[0], "b": a[1]})
    np.testing.assert_allclose(weighted, 0.5 * a[0] - a[1], rtol=1e-6)


def test_batch_and_split_round_trip():
    rng = np.random.default_rng(1)
    expression = E.parse_expression("a - b + a")
    concepts = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((2, 4))}
    latents = A.latent_arithmetic(expression, concepts, neighbours=5, jitter=0.1)
    batch = latents.batch()
    assert batch.shape == (3 + 1 + 2 + 1 + 1 + 5, 4)  # a's, mean a, b's, mean b, result, 5
    per_concept, result, neighbours = latents.split(batch)
    np.testing.assert_array_equal(per_concept["b"][0], latents.exemplars["b"])
    np.testing.assert_array_equal(per_concept["a"][1], latents.means["a"])
    np.testing.assert_array_equal(result, latents.result)
    np.testing.assert_array_equal(neighbours, latents.neighbours)


def test_jitter_is_bounded_reproducible_and_spread():
    center = np.linspace(-1, 1, 100, dtype=np.float32)
    first = A.jitter_neighbours(center, 8, 0.25, seed=11)
    assert first.shape == (8, 100)
    offsets = first - center
    assert np.all(np.abs(offsets) <= 0.25 + 1e-6)
    assert offsets.max() > 0.2 and offsets.min() < -0.2  # uniform over the whole interval
    np.testing.assert_array_equal(first, A.jitter_neighbours(center, 8, 0.25, seed=11))
    assert not np.array_equal(first, A.jitter_neighbours(center, 8, 0.25, seed=12))
    np.testing.assert_array_equal(A.jitter_neighbours(center, 3, 0.0, seed=1)[2], center)


# -- interpolation ----------------------------------------------------------------------------


def test_lerp_and_slerp_hit_both_endpoints():
    rng = np.random.default_rng(2)
    start, end = rng.standard_normal((2, 100)).astype(np.float32)
    for spherical in (False, True):
        path = A.interpolation_path(start, end, 7, spherical)
        assert path.shape == (7, 100) and path.dtype == np.float32
        np.testing.assert_allclose(path[0], start, atol=1e-5)
        np.testing.assert_allclose(path[-1], end, atol=1e-5)


def test_slerp_keeps_the_norm_that_lerp_loses():
    rng = np.random.default_rng(3)
    start, end = rng.standard_normal((2, 512)).astype(np.float32)
    end *= np.linalg.norm(start) / np.linalg.norm(end)  # equal norms: slerp stays on the sphere
    radius = np.linalg.norm(start)
    np.testing.assert_allclose(np.linalg.norm(slerp(start, end, 9), axis=1), radius, rtol=1e-5)
    middle = np.linalg.norm(lerp(start, end, 9)[4])
    assert middle < 0.8 * radius  # near-orthogonal Gaussians: the chord cuts inside (~1/sqrt 2)


def test_default_interpolation_by_prior():
    assert A.default_slerp("normal") is True
    assert A.default_slerp("uniform") is False


# -- figures ----------------------------------------------------------------------------------


def constant_images(values, size=32, channels=3):
    """One flat image per value in [-1, 1]."""
    images = np.ones((len(values), size, size, channels), np.float32)
    return images * np.asarray(values, np.float32)[:, None, None, None]


def figure_rows(channels, columns=(3, 2)):
    return [R.FigureRow(f"row{i}", constant_images([0.1] * k, channels=channels),
                        [str(j) for j in range(k)], constant_images([0.2], channels=channels)[0])
            for i, k in enumerate(columns)]


def expected_arithmetic_size(labels, columns, rows, grid, cell, caption, title):
    line = Y.text_size("Ag")[1]
    label_w = max(Y.text_size(t)[0] for t in labels) + 2 * Y.GAP
    concepts_w = columns * (cell + Y.GAP) + Y.SEPARATION + cell
    body_w = max(concepts_w, grid * (cell + Y.GAP) - Y.GAP, Y.text_size(caption)[0])
    width = Y.MARGIN + label_w + body_w + Y.MARGIN
    height = (Y.MARGIN + (line + Y.GAP if title else 0) + (line + Y.GAP)
              + rows * (cell + Y.GAP) + Y.SEPARATION + (line + Y.GAP)
              + grid * (cell + Y.GAP) - Y.GAP + Y.MARGIN)
    return width, height


@pytest.mark.parametrize("channels", [1, 3])
def test_arithmetic_figure_size_and_content(channels):
    result = constant_images([0.9], channels=channels)[0]
    neighbours = constant_images([-0.5] * 8, channels=channels)
    figure = R.render_arithmetic(figure_rows(channels), result, neighbours, caption="cap",
                                 title="a - b")
    assert figure.mode == "RGB"
    # 32-px images are drawn 2x; 3 exemplar columns, 2 concept rows, a 3x3 result grid.
    assert Y.auto_scale(32, 32) == 2
    assert figure.size == expected_arithmetic_size(
        ["row0", "row1", "= result"], columns=3, rows=2, grid=3, cell=64, caption="cap",
        title="a - b")
    pixels = np.asarray(figure)
    result_value = to_uint8(np.float32(0.9))
    # The result cell is drawn once, whole (its frame lies outside it).
    assert np.all(pixels == result_value, axis=-1).sum() == 64 * 64
    neighbour_value = to_uint8(np.float32(-0.5))
    assert np.all(pixels == neighbour_value, axis=-1).sum() >= 8 * 64 * 64 * 0.99


def test_arithmetic_figure_grows_by_one_cell_per_column_and_row():
    result, neighbours = constant_images([0.0])[0], constant_images([0.0] * 8)
    base = R.render_arithmetic(figure_rows(3, (3, 2)), result, neighbours, scale=1)
    wider = R.render_arithmetic(figure_rows(3, (4, 2)), result, neighbours, scale=1)
    taller = R.render_arithmetic(figure_rows(3, (3, 2, 1)), result, neighbours, scale=1)
    assert wider.size == (base.width + 32 + Y.GAP, base.height)
    assert taller.size == (base.width, base.height + 32 + Y.GAP)
    no_neighbours = R.render_arithmetic(figure_rows(3), result, neighbours[:0], scale=1)
    assert no_neighbours.height == base.height - 2 * (32 + Y.GAP)


@pytest.mark.parametrize("channels", [1, 3])
def test_interpolation_figure_and_gif_frames(channels):
    paths = [("0 -> 1", np.zeros((6, 4), np.float32)), ("2 -> s3", np.ones((6, 4), np.float32))]

    def generate(latents):
        return constant_images(np.tanh(latents[:, 0]), size=28, channels=channels)

    figure, images = R.interpolation_figure(generate, paths)
    assert images.shape == (2, 6, 28, 28, channels)
    cell = 28 * Y.auto_scale(28, 28)  # MNIST's 28 px are drawn 3x
    assert cell == 84
    label_w = max(Y.text_size(label)[0] for label, _ in paths) + 2 * Y.GAP
    assert figure.size == (Y.MARGIN + label_w + 6 * (cell + Y.GAP) - Y.GAP + Y.MARGIN,
                           Y.MARGIN + 2 * (cell + Y.GAP) - Y.GAP + Y.MARGIN)
    frames = R.back_and_forth(images[0])
    assert len(frames) == 6 + 4  # forward, then back without repeating the ends
    assert frames[0].size == (28 * 5, 28 * 5) and frames[0].mode == "RGB"


def test_arithmetic_figure_generates_everything_in_one_batch():
    calls = []

    def generate(latents):
        calls.append(len(latents))
        return constant_images(np.clip(latents[:, 0], -1, 1), channels=1)

    expression = E.parse_expression("a - b")
    latents = A.latent_arithmetic(expression, {"a": np.zeros((3, 2)), "b": np.ones((2, 2))})
    figure = R.arithmetic_figure(generate, latents, {"a": ["0", "1", "2"], "b": ["3", "s4"]},
                                 jitter=0.25)
    assert calls == [3 + 1 + 2 + 1 + 1 + 8]
    assert isinstance(figure, Image.Image)


# -- callbacks with a stand-in model -------------------------------------------------------------


def stand_in_model(run_dir: Path, bank_size=8, latent_dim=4):
    """A GAN stand-in: ``run`` context and a numpy 'generator'."""
    def generator(latents, training=False):
        return constant_images(np.tanh(np.asarray(latents)[:, 0]), size=28, channels=1)

    run = RunContext(run_dir=run_dir, name="t", config={}, image_shape=(28, 28, 1),
                     latent_dim=latent_dim, latent_distribution="uniform",
                     latent_bank=sample_latents(bank_size, latent_dim, "uniform", 0), seed=5)
    # Callbacks draw with sampling_generator (the EMA generator of a run that keeps one).
    return types.SimpleNamespace(run=run, generator=generator, sampling_generator=generator)


def drive(callback, model, epochs):
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_end(epoch, {})


def test_arithmetic_callback_renders_on_its_period(tmp_path):
    callback = latent_arithmetic(concepts={"a": [0, 1, 2], "b": [3, "s4"], "c": [5]},
                                  expression="a - b + c", every_n_epochs=2)
    drive(callback, stand_in_model(tmp_path), epochs=4)
    written = sorted(p.name for p in (tmp_path / "arithmetic").iterdir())
    assert written == ["epoch_0002.png", "epoch_0004.png"]
    # The jitter is seeded by the run's seed when none is given.
    latents = callback.report.arithmetic
    expected = A.jitter_neighbours(latents.result, 8, 0.25, seed=5)
    np.testing.assert_array_equal(latents.neighbours, expected)


@pytest.mark.parametrize(("params", "message"), [
    ({"concepts": {"a": [1]}, "expression": "a - b"}, "unknown concept 'b'"),
    ({"concepts": {"a": [1]}, "expression": "a -"}, "invalid syntax"),
    ({"concepts": {"a": [1]}, "queries": {"a": "Male"}, "expression": "a"}, "both"),
    ({"expression": "a"}, "no concepts"),
    ({"concepts": {"a": ["²"]}, "expression": "a"}, "bad exemplar '²'"),
    ({"concepts": {"a": [1]}, "expression": "a", "seed": 2**32}, "seed"),
    ({"concepts": {"a": [1]}, "expression": "a", "neighbours": 65}, "neighbours"),
    ({"concepts": {"a": list(range(17))}, "expression": "a"}, "at most 16"),
    ({"concepts": {f"c{i}": [1] for i in range(33)}, "expression": "c1"}, "at most 32"),
    ({"concepts": {"a": [1]}, "expression": "a", "jitter": float("nan")}, "jitter"),
    ({"queries": {"a": "Male &"}, "expression": "a"}, "bad query"),
    ({"queries": {"a": "Male"}, "expression": "a", "pool_size": 0}, "pool_size"),
    ({"queries": {"a": "Male"}, "expression": "a", "exemplars": 17}, "exemplars"),
    ({"queries": {"a": "Male"}, "expression": "a", "pool_seed": 2**32 - 5}, "below 2\\*\\*32"),
    ({"concepts": {"a": ["x"]}, "expression": "a"}, "bad exemplar 'x'"),
    ({"concepts": {"a": [1]}, "expression": "a", "every_n_epochs": 0}, "every_n_epochs"),
    ({"concepts": {"a": [1]}, "expression": "a", "jitter": -1}, "jitter"),
    ({"concepts": {"a": [1]}, "expression": "a", "every_n_epochs": "2"}, "every_n_epochs"),
    ({"concepts": {"a": [1]}, "expression": "a", "neighbours": 2.5}, "neighbours"),
])
def test_arithmetic_callback_rejects_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        latent_arithmetic(**params)


def test_callbacks_check_bank_indices_before_training(tmp_path):
    callback = latent_arithmetic(concepts={"a": [0, 9, 30]}, expression="a")
    with pytest.raises(ConfigError, match=r"indices 9, 30.*holds 8 latents.*bank_size"):
        drive(callback, stand_in_model(tmp_path, bank_size=8), epochs=0)
    callback = latent_interpolation(pairs=[[0, 12]])
    with pytest.raises(ConfigError, match="latent_interpolation.*indices 12"):
        drive(callback, stand_in_model(tmp_path, bank_size=8), epochs=0)


def test_interpolation_callback(tmp_path):
    callback = latent_interpolation(pairs=[[0, 1], [2, "s9"]], steps=4)
    drive(callback, stand_in_model(tmp_path), epochs=1)
    assert callback.method == "lerp"  # uniform prior
    assert [label for label, _ in callback.paths] == ["0 -> 1", "2 -> s9"]
    assert (tmp_path / "interpolation" / "epoch_0001.png").is_file()
    for bad, message in (([], "non-empty"), ([[1, 2, 3]], "bad pair"), ("0,1", "non-empty")):
        with pytest.raises(ValueError, match=message):
            latent_interpolation(pairs=bad)
    with pytest.raises(ValueError, match="steps"):
        latent_interpolation(pairs=[[0, 1]], steps=1)
    with pytest.raises(ValueError, match="steps must be an integer from 2 to 256"):
        latent_interpolation(pairs=[[0, 1]], steps=257)
    with pytest.raises(ValueError, match="33 pairs; at most 32"):
        latent_interpolation(pairs=[[0, 1]] * 33)


# -- end to end: a real run, then the commands -------------------------------------------------


def test_callbacks_wrote_their_images_during_training(trained_run):
    for folder in ("arithmetic", "interpolation"):
        names = sorted(p.name for p in (trained_run / folder).iterdir())
        assert names == ["epoch_0001.png", "epoch_0002.png"]
    assert list((trained_run / "tensorboard").iterdir())


def test_load_generator_from_export_and_checkpoints(trained_run):
    from ganlab.restore import available_epochs, load_generator, read_run_info

    info = read_run_info(trained_run)
    assert (info.latent_dim, info.latent_distribution, info.image_shape) == (
        16, "uniform", (32, 32, 1))
    assert info.latent_bank.shape == (16, 16) and info.seed == 7
    assert available_epochs(trained_run) == [1, 2]
    z = info.latent_bank[:4]

    def images(generator):
        return np.asarray(generator(z, training=False))

    exported = images(load_generator(trained_run))
    # The last checkpoint holds the weights that were exported.
    np.testing.assert_allclose(images(load_generator(trained_run, 2)), exported, atol=1e-5)
    np.testing.assert_allclose(images(load_generator(trained_run, "latest")), exported,
                               atol=1e-5)
    assert not np.allclose(images(load_generator(trained_run, 1)), exported, atol=1e-5)
    with pytest.raises(RunDirectoryError, match=r"epoch 7.*available: epoch 1, 2.*not trained"):
        load_generator(trained_run, 7)
    with pytest.raises(RunDirectoryError, match="does not exist"):
        load_generator(trained_run / "nope")


def test_latest_checkpoint_falls_back_past_a_damaged_one_without_moving_it(trained_run,
                                                                          tmp_path):
    import shutil

    from ganlab.restore import restore_generator

    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    damaged = copy / "checkpoints" / "ckpt-e0002-s000000.npz"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    restored = restore_generator(copy, "latest")
    assert restored.epoch == 1 and "end of epoch 1" in restored.description
    assert len(restored.warnings) == 1 and "damaged" in restored.warnings[0]
    assert damaged.exists()  # reading a run never changes it
    with pytest.raises(RunDirectoryError, match="damaged"):
        restore_generator(copy, 2)


def test_arithmetic_command(trained_run, capsys, tmp_path):
    concepts = ["--concept", "glasses_man=0,1,2", "--concept", "man=3,8,s21",
                "--concept", "woman=5,13,s60"]
    args = ["arithmetic", trained_run, *concepts, "--expr", "glasses_man - man + woman"]
    code, output = ganlab(capsys, *args, "--out", tmp_path / "final.png")
    assert code == 0, output
    assert "exported generator" in output
    code, output = ganlab(capsys, *args, "--out", tmp_path / "e1.png", "--epoch", "1",
                          "--seed", "3")
    assert code == 0, output
    assert "end of epoch 1" in output
    for name in ("final.png", "e1.png"):
        with Image.open(tmp_path / name) as picture:
            assert picture.mode == "RGB" and picture.width > 3 * 64 and picture.height > 6 * 64


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--expr", "a - b"], 2, "Unknown concept 'b'"),
    (["--expr", "a +"], 2, "at character 4: invalid syntax"),
    (["--expr", "a", "--concept", "a=1"], 2, "given twice"),
    (["--expr", "a", "--epoch", "9"], 5, "available: epoch 1, 2"),
])
def test_arithmetic_command_errors(trained_run, capsys, tmp_path, extra, code, message):
    exit_code, output = ganlab(capsys, "arithmetic", trained_run, "--concept", "a=0,1",
                               "--out", tmp_path / "x.png", *extra)
    assert exit_code == code and message in output
    assert "Traceback" not in output and not (tmp_path / "x.png").exists()


def test_arithmetic_command_checks_bank_indices(trained_run, capsys, tmp_path):
    code, output = ganlab(capsys, "arithmetic", trained_run, "--concept", "a=0,99",
                          "--expr", "a", "--out", tmp_path / "x.png")
    assert code == 2 and "outside the run's latent bank" in output and "16 latents" in output


def test_interpolate_command(trained_run, capsys, tmp_path):
    out = tmp_path / "grid.png"
    code, output = ganlab(capsys, "interpolate", trained_run, "--from", "0", "--to", "s5",
                          "--steps", "6", "--out", out)
    assert code == 0, output
    assert "lerp" in output  # the DCGAN's uniform prior
    with Image.open(out) as grid:
        assert grid.width > 6 * 64
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 6 + 4
    code, output = ganlab(capsys, "interpolate", trained_run, "--from", "1", "--to", "2",
                          "--slerp", "--epoch", "1", "--out", tmp_path / "e1.png")
    assert code == 0 and "slerp" in output and "end of epoch 1" in output
    assert (tmp_path / "e1.gif").is_file()
    code, output = ganlab(capsys, "interpolate", trained_run, "--from", "x", "--to", "2",
                          "--out", tmp_path / "bad.png")
    assert code == 2 and "Bad exemplar 'x'" in output
