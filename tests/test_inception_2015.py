"""The ``inception_2015`` extractor and the paper-protocol metrics, on a tiny stand-in graph.

The real ``classify_image_graph_def.pb`` cannot be fetched here (no network),
so the tests build, in code, a small GraphDef with the same tensor and node
names and the same structure around them: a ``Cast`` placeholder expanded to
a batch of one (``ExpandDims``), the graph's own ``ResizeBilinear`` (to 6×6
instead of 299×299, TF1 semantics), ``Sub``/``Mul`` scaling, a small
convolution, ``pool_3`` average-pooled to ``[N, 1, 1, D]``, ``pool_3/_reshape``
to a batch of one, ``softmax/logits/MatMul`` with a bias added, ``softmax``.
It is written with the shapes recorded for a batch of one, as a frozen graph
exported from a single-image pipeline would be.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli, tiny_experiment, write_experiment
from ganlab_builtins.metrics.inception2015 import (
    ARCHIVE,
    GRAPH_FILE,
    Inception2015Features,
    to_graph_input,
)
from ganlab_builtins.metrics.maths import frechet_distance, split_classifier_scores
from ganlab_builtins.metrics.scorers import FID, KID, InceptionScore

from ganlab.errors import ConfigError
from ganlab.evaluation import EvaluationContext

SIZE, DEPTH, CLASSES = 6, 5, 7


def tiny_graph(seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """The stand-in GraphDef and its constants (kernel, softmax weights and bias)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    consts = {"kernel": rng.normal(size=(3, 3, 3, DEPTH)).astype(np.float32),
              "weights": rng.normal(size=(DEPTH, CLASSES)).astype(np.float32),
              "bias": rng.normal(size=(CLASSES,)).astype(np.float32) * 3}
    graph = tf.Graph()
    with graph.as_default():
        cast = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        expanded = tf.expand_dims(cast, 0, name="ExpandDims")
        resized = tf.raw_ops.ResizeBilinear(
            images=expanded, size=tf.constant([SIZE, SIZE], name="ResizeBilinear/size"),
            align_corners=False, half_pixel_centers=False, name="ResizeBilinear")
        scaled = tf.multiply(tf.subtract(resized, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
        conv = tf.nn.relu(tf.nn.conv2d(scaled, tf.constant(consts["kernel"]), 1, "SAME"))
        pool = tf.nn.avg_pool2d(conv, SIZE, 1, "VALID", name="pool_3")
        flat = tf.reshape(pool, [1, DEPTH], name="pool_3/_reshape")
        matmul = tf.matmul(flat, tf.constant(consts["weights"], name="softmax/weights"),
                           name="softmax/logits/MatMul")
        logits = tf.nn.bias_add(matmul, tf.constant(consts["bias"], name="softmax/biases"),
                                name="softmax/logits")
        tf.nn.softmax(logits, name="softmax")
    return graph.as_graph_def(add_shapes=True), consts


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Any]]:
    graph_def, consts = tiny_graph()
    path = tmp_path_factory.mktemp("inception") / GRAPH_FILE
    path.write_bytes(graph_def.SerializeToString())
    return path, graph_def, consts


@pytest.fixture(scope="module")
def extractor(graph_file: tuple[Path, Any, dict[str, Any]]) -> Inception2015Features:
    return Inception2015Features(image_shape=(8, 8, 1), graph=str(graph_file[0]))


# -- numpy reference of the tiny network -------------------------------------------------------
def tf1_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 ``ResizeBilinear`` (align_corners=False, no half-pixel centres) of one HWC image."""
    in_h, in_w = image.shape[:2]

    def axis(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.arange(out) * (size / out)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size - 1), source - low

    y0, y1, fy = axis(out_h, in_h)
    x0, x1, fx = axis(out_w, in_w)
    top = image[y0][:, x0] * (1 - fx)[None, :, None] + image[y0][:, x1] * fx[None, :, None]
    bottom = image[y1][:, x0] * (1 - fx)[None, :, None] + image[y1][:, x1] * fx[None, :, None]
    return top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]


def reference_pool(pixels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``pool_3`` of one 0..255 HWC image: resize, scale, 3×3 SAME conv, ReLU, mean."""
    x = (tf1_bilinear(pixels.astype(np.float64), SIZE, SIZE) - 128.0) / 128.0
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((SIZE, SIZE, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += padded[dy:dy + SIZE, dx:dx + SIZE] @ kernel[dy, dx]
    return np.maximum(out, 0).mean(axis=(0, 1))


# -- the extractor ----------------------------------------------------------------------------
def test_features_follow_the_graphs_own_resize_and_scaling(
        extractor: Inception2015Features, graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    consts = graph_file[2]
    grey = np.random.default_rng(1).uniform(-1, 1, size=(3, 8, 8, 1)).astype(np.float32)
    pixels = to_graph_input(grey)
    assert pixels.shape == (3, 8, 8, 3) and np.array_equal(pixels[..., 0], pixels[..., 2])
    assert pixels.min() >= 0 and pixels.max() <= 255 and np.array_equal(pixels, np.rint(pixels))
    features = extractor.features(grey)
    assert features.shape == (3, DEPTH) and features.dtype == np.float32
    expected = np.stack([reference_pool(image, consts["kernel"]) for image in pixels])
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    # Half-pixel-centred bilinear (TF2's tf.image.resize) gives other features.
    import tensorflow as tf

    half_pixel = np.asarray(tf.image.resize(pixels[:1], (SIZE, SIZE)))[0]
    assert not np.allclose(half_pixel, tf1_bilinear(pixels[0], SIZE, SIZE), atol=1e-3)


def test_the_same_graph_run_image_by_image_in_a_v1_session_agrees(
        extractor: Inception2015Features, graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    """The reference code's way: feed ``ExpandDims:0`` one image at a time in a session."""
    import tensorflow as tf

    _, graph_def, consts = graph_file
    rgb = np.random.default_rng(2).uniform(-1, 1, size=(4, 10, 7, 3)).astype(np.float32)
    rgb_extractor = Inception2015Features(image_shape=(10, 7, 3), graph=str(graph_file[0]))
    features, probabilities = rgb_extractor.features(rgb), rgb_extractor.probabilities(rgb)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            for i, image in enumerate(to_graph_input(rgb)):
                pool, softmax = session.run(["pool_3:0", "softmax:0"],
                                            {"ExpandDims:0": image[None]})
                np.testing.assert_allclose(features[i], pool.reshape(-1), rtol=1e-5, atol=1e-6)
                # The graph's own softmax adds the bias; the Inception Score code does not.
                with_bias = pool.reshape(-1) @ consts["weights"] + consts["bias"]
                np.testing.assert_allclose(softmax[0], np.exp(with_bias) / np.exp(with_bias).sum(),
                                           rtol=1e-4)
    logits = features.astype(np.float64) @ consts["weights"]
    np.testing.assert_allclose(rgb_extractor.logits(rgb), logits, rtol=1e-4, atol=1e-5)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-7)
    assert probabilities.shape == (4, CLASSES) and np.allclose(probabilities.sum(axis=1), 1)


def test_a_batch_gives_each_images_own_features(extractor: Inception2015Features) -> None:
    images = np.random.default_rng(3).uniform(-1, 1, size=(57, 8, 8, 1)).astype(np.float32)
    together = extractor.features(images)  # 57 > one inner batch of 50
    alone = np.concatenate([extractor.features(images[i:i + 1]) for i in (0, 49, 50, 56)])
    np.testing.assert_allclose(together[[0, 49, 50, 56]], alone, rtol=1e-5, atol=1e-6)
    assert not np.allclose(together[0], together[1])


@pytest.mark.parametrize("tf32", [True, False])
def test_tensor_float_32_is_off_while_extracting_and_restored_after(
        extractor: Inception2015Features, tf32: bool) -> None:
    import tensorflow as tf

    seen: list[bool] = []
    run = extractor._run
    extractor._run = lambda batch: (
        seen.append(tf.config.experimental.tensor_float_32_execution_enabled()) or run(batch))
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    try:
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
        extractor.features(np.zeros((2, 8, 8, 1), np.float32))
        assert seen == [False]
        assert tf.config.experimental.tensor_float_32_execution_enabled() is tf32
    finally:
        extractor._run = run
        tf.config.experimental.enable_tensor_float_32_execution(before)


def test_the_protocol_fields_name_the_graph(extractor: Inception2015Features,
                                            graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    assert extractor.name == "inception_2015"
    assert extractor.weights_sha256 == hashlib.sha256(graph_file[0].read_bytes()).hexdigest()
    assert extractor.resize.startswith(f"graph ResizeBilinear {SIZE}x{SIZE}")
    assert extractor.probabilities is not None and not extractor.multi_label


def test_a_missing_file_a_folder_or_another_hash_is_a_clear_message(
        tmp_path: Path, graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    for graph, says in [(None, "no 'graph' param"), (str(tmp_path / "nope.pb"), "does not exist"),
                        (str(tmp_path), "is a folder")]:
        with pytest.raises(ConfigError) as raised:
            Inception2015Features(image_shape=(8, 8, 3), graph=graph)
        message = str(raised.value)
        assert says in message and GRAPH_FILE in message and ARCHIVE in message
        assert "docs/evaluation.md" in message and "\n" not in message
    with pytest.raises(ConfigError, match="sha256 .* not the 0{64}"):
        Inception2015Features(image_shape=(8, 8, 3), graph=str(graph_file[0]), sha256="0" * 64)
    right = hashlib.sha256(graph_file[0].read_bytes()).hexdigest()
    assert Inception2015Features(image_shape=(8, 8, 3), graph=str(graph_file[0]),
                                 sha256=right.upper()).weights_sha256 == right
    (tmp_path / "damaged.pb").write_bytes(b"\x0a\x03abc")
    with pytest.raises(ConfigError, match="not a TensorFlow GraphDef"):
        Inception2015Features(image_shape=(8, 8, 3), graph=str(tmp_path / "damaged.pb"))
    import tensorflow as tf

    other = tf.compat.v1.GraphDef()
    other.node.add(name="ExpandDims", op="NoOp")
    (tmp_path / "other.pb").write_bytes(other.SerializeToString())
    with pytest.raises(ConfigError, match="no node ResizeBilinear, pool_3, softmax/logits/Mat"):
        Inception2015Features(image_shape=(8, 8, 3), graph=str(tmp_path / "other.pb"))
    with pytest.raises(ConfigError, match="grey or RGB"):
        Inception2015Features(image_shape=(8, 8, 2), graph=str(graph_file[0]))


# -- the maths --------------------------------------------------------------------------------
def test_the_split_inception_score_matches_the_reference_formula() -> None:
    logits = np.random.default_rng(4).normal(size=(103, 9)) * 3
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = []
    for i in range(10):  # openai/improved-gan inception_score.py, written out
        part = p[i * 103 // 10:(i + 1) * 103 // 10]
        kl = part * (np.log(part) - np.log(part.mean(axis=0, keepdims=True)))
        expected.append(np.exp(kl.sum(axis=1).mean()))
    mean, std, parts = split_classifier_scores(p, 10)
    np.testing.assert_allclose(parts, expected, rtol=1e-12)
    assert mean == pytest.approx(np.mean(expected)) and std == pytest.approx(np.std(expected))
    with pytest.raises(ValueError, match="splits"):
        split_classifier_scores(p[:5], 10)


# -- the metrics through an evaluation context -------------------------------------------------
class FakeTFRecords:
    """A dataset with TFRecords' interface and a fingerprinted manifest (enables the cache)."""

    default_split = "train"

    def __init__(self, folder: Path, splits: dict[str, np.ndarray]):
        self.tfrecords, self.splits = folder, splits

    def manifest(self) -> dict[str, Any]:
        return {"fingerprint": "tiny-fp", "splits": {k: len(v) for k, v in self.splits.items()}}

    def num_examples(self, split: str) -> int:
        return len(self.splits[split])

    def load(self, split: str, deterministic: bool = False) -> Any:
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self.splits[split])


def generator(latents: np.ndarray, training: bool = False) -> np.ndarray:
    """A fixed map of 4-d latents to 8×8 grey images in [-1, 1]."""
    basis = np.random.default_rng(9).normal(size=(4, 64))
    return np.tanh(np.asarray(latents) @ basis).reshape(-1, 8, 8, 1).astype(np.float32)


@pytest.fixture
def context(tmp_path: Path, graph_file: tuple[Path, Any, dict[str, Any]]) -> EvaluationContext:
    from ganlab.plugins import load_plugins

    rng = np.random.default_rng(5)
    splits = {"train": rng.uniform(-1, 1, (90, 8, 8, 1)).astype(np.float32),
              "test": rng.uniform(-1, 1, (30, 8, 8, 1)).astype(np.float32)}
    said: list[str] = []
    return EvaluationContext(generator=generator, latent_dim=4, latent_distribution="normal",
                             image_shape=(8, 8, 1), dataset=FakeTFRecords(tmp_path, splits),
                             registry=load_plugins().registry, seed=3, echo=said.append)


def test_the_paper_protocol_is_the_default_with_inception_2015() -> None:
    assert FID(extractor="inception_2015").num_samples == 50_000
    assert KID(extractor="inception_2015").num_samples == 50_000
    assert FID().num_samples == 10_000 and FID(extractor="domain").num_samples == 10_000
    score = InceptionScore()
    assert (score.extractor, score.num_samples, score.splits) == ("inception_2015", 50_000, 10)
    assert InceptionScore(num_samples=300, splits=3).num_samples == 300
    with pytest.raises(ValueError, match="splits"):
        InceptionScore(num_samples=5, splits=10)


def test_fid_compares_with_the_whole_training_split_cached_once(
        context: EvaluationContext, graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    params = {"extractor": "inception_2015", "extractor_params": {"graph": str(graph_file[0])},
              "num_samples": 40, "batch_size": 16}
    result = FID(**params).compute(None, None, context=context)
    protocol = result.protocol.as_dict()
    sha256 = hashlib.sha256(graph_file[0].read_bytes()).hexdigest()
    assert (protocol["extractor"], protocol["weights_sha256"]) == ("inception_2015", sha256)
    assert (protocol["num_fake"], protocol["num_real"], protocol["real_split"]) == (40, 90, "train")
    assert protocol["resize"].startswith(f"graph ResizeBilinear {SIZE}x{SIZE}")
    # The score is the Fréchet distance of the extractor's own features of both sides.
    extractor = context.extractor("inception_2015", params["extractor_params"])
    real = extractor.features(context.dataset.splits["train"]).astype(np.float64)
    fake = extractor.features(np.concatenate(list(context.fake_batches(40, 16)))).astype(
        np.float64)
    expected = frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean(0),
                                np.cov(real, rowvar=False))
    assert result.scores["fid"] == pytest.approx(expected, rel=1e-4)
    # A numpy reference of the Fréchet distance (through the eigenvalues of Σ1Σ2).
    diff = fake.mean(0) - real.mean(0)
    product = np.linalg.eigvals(np.cov(fake, rowvar=False) @ np.cov(real, rowvar=False))
    direct = diff @ diff + np.trace(np.cov(fake, rowvar=False) + np.cov(real, rowvar=False)) \
        - 2 * np.sqrt(np.clip(product.real, 0, None)).sum()
    assert result.scores["fid"] == pytest.approx(direct, rel=1e-4)
    cached = list((context.data_dir / ".ganlab-eval-cache").glob("train-inception_2015-90-*"))
    assert len(cached) == 1
    key = json.loads(str(np.load(cached[0])["key"]))
    assert key["weights_sha256"] == sha256 and key["num_real"] == 90 and key["split"] == "train"
    # Computed once: another metric of the same protocol reads the cache.
    context.shared.real.clear()
    context.echo = (said := []).append
    again = FID(**params, seed=11).compute(None, None, context=context)
    assert any("Reusing cached real statistics" in line for line in said)
    assert again.protocol.num_real == 90
    # num_real and split still override the defaults.
    other = FID(**params, num_real=30, split="test").compute(None, None, context=context)
    assert (other.protocol.num_real, other.protocol.real_split) == (30, "test")


def test_inception_score_on_the_graphs_probabilities(
        context: EvaluationContext, graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    metric = InceptionScore(extractor_params={"graph": str(graph_file[0])}, num_samples=60,
                            splits=3, batch_size=25)
    result = metric.compute(None, None, context=context)
    extractor = context.extractor("inception_2015", {"graph": str(graph_file[0])})
    probabilities = extractor.probabilities(np.concatenate(list(context.fake_batches(60, 25))))
    mean, std, parts = split_classifier_scores(probabilities, 3)
    assert result.scores == pytest.approx({"inception_score": mean, "inception_score_std": std})
    assert 1 <= mean <= CLASSES and result.details["split_scores"] == pytest.approx(parts)
    protocol = result.protocol.as_dict()
    assert (protocol["metric"], protocol["extractor"], protocol["num_fake"]) == (
        "inception_score", "inception_2015", 60)


# -- the command ------------------------------------------------------------------------------
def test_ganlab_evaluate_with_the_graph_file(tmp_path: Path,
                                             graph_file: tuple[Path, Any, dict[str, Any]]) -> None:
    config = tiny_experiment(tmp_path)
    config["train"].update({"epochs": 1, "steps_per_epoch": 2})
    config["callbacks"] = []
    assert run_cli(["run", str(write_experiment(tmp_path / "exp.yaml", config))]).exit_code == 0
    run_dir = config["run_dir"]
    missing = run_cli(["evaluate", run_dir, "--metric", "fid", "--extractor", "inception_2015"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert GRAPH_FILE in missing.output and ARCHIVE in missing.output
    result = run_cli(["evaluate", run_dir, "--metric", "fid", "--metric", "inception_score",
                      "--extractor", "inception_2015", "--extractor-param",
                      f"graph={graph_file[0]}", "--num-samples", "40"])
    assert result.exit_code == 0, result.output
    records = json.loads((Path(run_dir) / "metrics.json").read_text())["records"]
    by_metric = {r["metric"]: r for r in records}
    fid = by_metric["fid"]["protocol"]
    assert fid["extractor"] == "inception_2015" and fid["num_fake"] == 40
    assert fid["real_split"] == "train" and fid["num_real"] > 40
    assert by_metric["inception_score"]["protocol"]["num_fake"] == 40
    assert by_metric["inception_score"]["scores"]["inception_score"] >= 1
