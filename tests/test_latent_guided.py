"""Attribute-guided arithmetic end to end: real runs, a real classifier, the real CLI.

A small CelebA tree in the shipped format whose images show their
attributes (glasses: a dark band across the eyes; men: a darker face), and
the small MNIST run of the other latent tests. The classifier is the
``domain`` feature extractor, trained on the same TFRecords and labels by
``ganlab train-classifier`` (one epoch: what it learns does not matter here,
only that every number reported is the classifier's).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from celeba_fixtures import ALIGNED, ATTRIBUTE_NAMES, CENTER_108, crlf
from latent_support import ganlab, trained_run_fixture  # noqa: F401  (the trained_run fixture)
from PIL import Image

CLASSIFIER = "domain"
EYEGLASSES, MALE = ATTRIBUTE_NAMES.index("Eyeglasses"), ATTRIBUTE_NAMES.index("Male")
PAPER = ("--query", "glasses_man=Eyeglasses & Male", "--query", "man=Male & !Eyeglasses",
         "--query", "woman=!Male & !Eyeglasses", "--expr", "glasses_man - man + woman")
VERDICT = re.compile(r"result matches '(?P<expect>[^']+)': (?P<hit>\d+)/(?P<total>\d+) "
                     r"\((?P<rate>\d+) %\); random latents: (?P<baseline>\d+) %")


# -- a CelebA tree whose pictures show their attributes -----------------------------------------
def face_image(glasses: bool, male: bool, seed: int) -> Image.Image:
    """An aligned 178x218 'face': darker for men, a black band across the eyes for glasses."""
    rng = np.random.default_rng(seed)
    pixels = np.full((ALIGNED[1], ALIGNED[0], 3), 40, np.int16)
    left, top, right, bottom = CENTER_108
    pixels[top:bottom, left:right] = 110 if male else 230
    if glasses:
        pixels[top + 30:top + 50, left:right] = 0
    pixels += rng.integers(-6, 7, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def build_attribute_tree(root: Path, count: int = 32) -> None:
    """``count`` faces cycling through the four glasses/male combinations (3/4 train)."""
    images = root / "Img" / "img_align_celeba_png"
    images.mkdir(parents=True)
    (root / "Anno").mkdir()
    (root / "Eval").mkdir()
    attributes, partitions, boxes = [], [], []
    for number in range(1, count + 1):
        glasses, male = bool(number % 2), bool((number // 2) % 2)
        face_image(glasses, male, number).save(images / f"{number:06d}.png")
        values = [-1] * len(ATTRIBUTE_NAMES)
        values[EYEGLASSES], values[MALE] = (1 if glasses else -1), (1 if male else -1)
        image_id = f"{number:06d}.jpg"
        attributes.append(image_id + " " + " ".join(f"{v:>2}" for v in values))
        partition = 0 if number <= count * 3 // 4 else 2
        partitions.append(f"{image_id} {partition}")
        boxes.append(f"{image_id}    10  10  50  60")
    (root / "Anno" / "list_attr_celeba.txt").write_bytes(
        crlf([str(count), " ".join(ATTRIBUTE_NAMES) + " ", *attributes]))
    (root / "Anno" / "list_bbox_celeba.txt").write_bytes(
        crlf([str(count), "image_id x_1 y_1 width height", *boxes]))
    (root / "Eval" / "list_eval_partition.txt").write_bytes(crlf(partitions))


def train_classifier(capsys, experiment: Path, *options: str) -> None:
    """``ganlab train-classifier EXPERIMENT`` for one epoch, unless it was trained already."""
    config = yaml.safe_load(experiment.read_text())
    tfrecords = Path(config["dataset"]["params"]["tfrecords"])
    if (tfrecords / ".ganlab-classifier" / "domain.json").exists():
        return
    code, output = ganlab(capsys, "train-classifier", experiment, "--epochs", 1, "--quiet",
                          *options)
    assert code == 0, output


def domain_classifier(run_dir: Path):
    """The run's trained classifier, from the registry as the latent plugin gets it."""
    from ganlab.plugins import load_plugins
    from ganlab.restore import read_run_info

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return load_plugins().registry.create(
        "feature_extractor", "domain", {}, data_dir=config["dataset"]["params"]["tfrecords"],
        image_shape=read_run_info(run_dir).image_shape)


@pytest.fixture(scope="module")
def celeba_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("celeba_queries")
    build_attribute_tree(folder / "CelebA")
    experiment = {
        "name": "celeba_queries", "seed": 11, "run_dir": str(folder / "run"),
        "dataset": {"name": "celeba", "params": {
            "source": str(folder / "CelebA"), "tfrecords": str(folder / "tfrecords"),
            "variant": "img_align_celeba_png", "image_size": 32}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 16, "base_filters": 4,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 2, "verbose": 0},
        "latents": {"bank_size": 16},
        "callbacks": [{"name": "latent_arithmetic", "params": {
            "queries": {"glasses_man": "Eyeglasses & Male", "man": "Male & !Eyeglasses",
                        "woman": "!Male & !Eyeglasses"},
            "expression": "glasses_man - man + woman", "pool_size": 24}}],
    }
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path, folder / "run"


def reported(output: str) -> re.Match:
    match = VERDICT.search(output)
    assert match, output
    return match


def recomputed_baseline(run_dir: Path, expect: str, pool_size: int, first_seed: int,
                        classifier) -> float:
    """The baseline redone by hand: the pool's images, classified, matched to ``expect``."""
    from ganlab_builtins.latent.queries import bind_query, parse_query

    from ganlab.latents import sample_latents
    from ganlab.restore import load_generator, read_run_info

    info = read_run_info(run_dir)
    pool = np.concatenate([sample_latents(1, info.latent_dim, info.latent_distribution,
                                          first_seed + i) for i in range(pool_size)])
    images = np.asarray(load_generator(run_dir)(pool, training=False))
    query = bind_query(parse_query(expect), classifier.label_names, classifier.multi_label)
    return float(query.evaluate(classifier.probabilities(images))[1].mean())


def test_celeba_queries_in_the_callback_and_the_command(celeba_run, capsys, tmp_path):
    experiment, run_dir = celeba_run
    train_classifier(capsys, experiment, "--batch-size", 4)
    code, output = ganlab(capsys, "run", experiment)
    assert code == 0, output
    assert (run_dir / "arithmetic" / "epoch_0001.png").is_file()

    out = tmp_path / "glasses_woman.png"
    code, output = ganlab(capsys, "arithmetic", run_dir, *PAPER, "--classifier", CLASSIFIER,
                          "--pool-size", 40, "--pool-seed", 500, "--out", out)
    assert code == 0, output
    verdict = reported(output)
    assert verdict["expect"] == "Eyeglasses & !Male"  # derived, as in the paper
    assert int(verdict["total"]) == 9  # the result and its 8 neighbours
    assert int(verdict["rate"]) == round(100 * int(verdict["hit"]) / 9)
    for concept in ("glasses_man", "man", "woman"):
        seeds = re.search(rf"{concept} = [^:]+: exemplars (\S+)", output).group(1).split(",")
        assert len(seeds) == 3 and all(500 <= int(s[1:]) < 540 for s in seeds)
    with Image.open(out) as figure:
        assert figure.mode == "RGB" and figure.height > 4 * 64

    baseline = recomputed_baseline(run_dir, "Eyeglasses & !Male", 40, 500,
                                   domain_classifier(run_dir))
    assert int(verdict["baseline"]) == round(100 * baseline)


def test_celeba_query_errors_name_the_labels(celeba_run, capsys, tmp_path):
    experiment, run_dir = celeba_run
    train_classifier(capsys, experiment, "--batch-size", 4)
    code, output = ganlab(capsys, "arithmetic", run_dir, "--query", "a=Eyeglases & Male",
                          "--expr", "a", "--classifier", CLASSIFIER, "--out", tmp_path / "x.png")
    assert code == 2, output
    assert "unknown attribute 'Eyeglases'" in output and "did you mean 'Eyeglasses'" in output
    assert "5_o_Clock_Shadow, Arched_Eyebrows" in output  # the known labels are listed
    assert not (tmp_path / "x.png").exists()


def test_mnist_digit_queries_mix_with_index_exemplars(trained_run, capsys, tmp_path):
    train_classifier(capsys, trained_run.parent / "experiment.yaml")
    out = tmp_path / "digits.png"
    code, output = ganlab(capsys, "arithmetic", trained_run, "--query", "seven=7",
                          "--query", "one=1", "--concept", "zero=0,1,s5",
                          "--expr", "seven - one + zero", "--expect", "0 | 7",
                          "--classifier", CLASSIFIER, "--pool-size", 50, "--out", out)
    assert code == 0, output
    verdict = reported(output)
    assert verdict["expect"] == "0 | 7"
    assert re.search(r"seven = 7: exemplars s\d+,s\d+,s\d+", output)
    assert "zero =" not in output  # an exemplar concept: nothing was searched
    assert out.is_file()

    from ganlab.restore import read_run_info

    baseline = recomputed_baseline(trained_run, "0 | 7", 50, read_run_info(trained_run).seed,
                                   domain_classifier(trained_run))
    assert int(verdict["baseline"]) == round(100 * baseline)


def test_without_an_expectation_the_result_is_not_scored(trained_run, capsys, tmp_path):
    train_classifier(capsys, trained_run.parent / "experiment.yaml")
    code, output = ganlab(capsys, "arithmetic", trained_run,
                          "--query", "round=0 | 6 | 8", "--query", "one=1",
                          "--expr", "round - one", "--classifier", CLASSIFIER,
                          "--pool-size", 20, "--out", tmp_path / "x.png")
    assert code == 0, output
    assert "result not scored: no expected query (set expect)" in output
    assert not VERDICT.search(output)


def test_a_run_whose_classifier_is_damaged_trains_on_and_says_how_to_fix_it(capsys, tmp_path):
    from conftest import tiny_experiment, write_experiment

    config = tiny_experiment(tmp_path, callbacks=[{"name": "latent_arithmetic", "params": {
        "queries": {"seven": 7, "one": 1}, "expression": "seven - one"}}])
    # Its own TFRecords, with a damaged classifier protocol (a missing classifier would be
    # trained by the run).
    tfrecords = tmp_path / "tfrecords"
    config["dataset"]["params"]["tfrecords"] = str(tfrecords)
    config["train"]["epochs"] = 1
    experiment = write_experiment(tmp_path / "exp.yaml", config)
    assert ganlab(capsys, "prepare", experiment)[0] == 0
    (tfrecords / ".ganlab-classifier").mkdir()
    (tfrecords / ".ganlab-classifier" / "domain.json").write_text("{not json")
    code, output = ganlab(capsys, "run", experiment)
    assert code == 0, output
    assert "warning: latent_arithmetic figure skipped this run" in output
    assert "Label queries need the dataset's classifier" in output
    assert "ganlab train-classifier EXPERIMENT.yaml --overwrite" in output
    assert (Path(config["run_dir"]) / "generator.keras").is_file()
    assert not (Path(config["run_dir"]) / "arithmetic").exists()


def test_a_callback_query_with_an_unknown_label_stops_before_training(celeba_run, capsys,
                                                                      tmp_path):
    experiment, _ = celeba_run
    train_classifier(capsys, experiment, "--batch-size", 4)
    config = yaml.safe_load(experiment.read_text())
    config["run_dir"] = str(tmp_path / "run")
    config["callbacks"][0]["params"]["queries"]["man"] = "Male & !Eyeglases"
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    code, output = ganlab(capsys, "run", path)
    assert code == 2, output
    assert "latent_arithmetic" in output and "unknown attribute 'Eyeglases'" in output
    assert "did you mean 'Eyeglasses'" in output and "internal error" not in output
    assert not list((tmp_path / "run" / "checkpoints").glob("*.npz"))
