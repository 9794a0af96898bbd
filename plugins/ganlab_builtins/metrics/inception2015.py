"""The built-in ``inception_2015`` extractor: the TF Inception graph behind published FID and IS.

The graph ``classify_image_graph_def.pb`` from ``inception-2015-12-05.tgz``
is the network behind the reference FID code (TTUR's ``fid.py``, Heusel et
al. 2017), the Inception Score code (openai/improved-gan, Salimans et al.
2016) and the numbers published with them. It is run as that code runs it:

- images enter at the graph's ``ExpandDims:0`` tensor as float RGB in
  0..255 (ganlab's [-1, 1] images are mapped back and rounded to whole
  values, as samples saved to PNG are; grey images are repeated to three
  channels);
- the graph's own ``ResizeBilinear`` node resizes them to 299×299 (TF1
  bilinear: no half-pixel centres, no antialiasing) and its ``Sub``/``Mul``
  nodes scale them to [-1, 1];
- features are ``pool_3:0`` (2048-d), squeezed;
- the graph reshapes ``pool_3`` to a batch of one before its classifier, so
  the logits are computed here as the Inception Score code does:
  ``pool_3 @ W`` with ``W`` the weights input of the ``softmax/logits/MatMul``
  node (that code leaves the bias out, and so does this extractor);
  :meth:`Inception2015Features.probabilities` is their softmax (1,008 classes).

The graph is imported with ``tf.compat.v1.import_graph_def`` inside a
``tf.compat.v1.wrap_function``, the input mapped through ``input_map``, so
shapes downstream of the input are inferred for any batch size (the shapes
recorded in the file, for a batch of one, are dropped first).

The graph runs in full float32: TensorFloat-32, which TensorFlow uses by
default for float32 convolutions and matrix products on NVIDIA GPUs since
Ampere, is switched off for the extractor's calls (and restored after), as
the published numbers predate it.

The file is never downloaded: the ``graph`` param names it. Its sha256 goes
into every protocol and cache key; the ``sha256`` param, when given, must
match it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import ConfigError

GRAPH_FILE = "classify_image_graph_def.pb"
ARCHIVE = "inception-2015-12-05.tgz"
ARCHIVE_URL = "http://download.tensorflow.org/models/image/imagenet/" + ARCHIVE
DOCUMENTED_IN = "docs/evaluation.md, section 'Paper-comparable FID and IS'"
INPUT_TENSOR = "ExpandDims:0"
RESIZE_NODE = "ResizeBilinear"
POOL_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"
#: Images per forward pass (a 299×299 batch of 50 is about 50 MB of input).
INNER_BATCH = 50


def locate_graph(graph: Any) -> Path:
    """The graph file named by the ``graph`` param.

    Raises:
        ConfigError: No path given, a folder, or no such file (the message
            names the file, its archive and where this is documented).

    """
    where = (f"Get {GRAPH_FILE} from {ARCHIVE} ({ARCHIVE_URL}, on a machine with network "
             f"access; ganlab never downloads it), unpack it and name the file: "
             f"extractor_params: {{graph: /path/to/{GRAPH_FILE}}} (on the command line "
             f"--extractor-param graph=/path/to/{GRAPH_FILE}). See {DOCUMENTED_IN}.")
    if graph is None or graph == "":
        raise ConfigError(f"The inception_2015 feature extractor needs the 2015 TensorFlow "
                          f"Inception graph, {GRAPH_FILE}, and no 'graph' param names it. "
                          + where)
    if not isinstance(graph, (str, Path)):
        raise ValueError(f"graph must be the path of {GRAPH_FILE}, got {graph!r}")
    path = Path(graph).expanduser()
    if path.is_dir():
        raise ConfigError(f"The inception_2015 graph path {path} is a folder, not the graph "
                          f"file: name the file itself, e.g. extractor_params: {{graph: "
                          f"{path / GRAPH_FILE}}}. " + where)
    if not path.is_file():
        raise ConfigError(f"The inception_2015 feature extractor needs the 2015 TensorFlow "
                          f"Inception graph, {GRAPH_FILE}, and the file named by "
                          f"extractor_params.graph ({path}) does not exist. " + where)
    return path


def verify_graph(path: Path, expected_sha256: str | None) -> tuple[bytes, str]:
    """The file's bytes and sha256, checked against ``expected_sha256`` when given.

    Raises:
        ConfigError: The hashes differ.

    """
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256.lower():
        raise ConfigError(f"The Inception graph {path} has sha256 {sha256}, not the "
                          f"{expected_sha256} that extractor_params.sha256 expects: the file is "
                          f"damaged or another one. Unpack {GRAPH_FILE} from {ARCHIVE} again, "
                          "or correct the expected hash if the file is right.")
    return data, sha256


def parse_graph(data: bytes, path: Path) -> Any:
    """The ``GraphDef`` in ``data``, with the recorded output shapes dropped.

    The 2015 file may carry ``_output_shapes`` for a batch of one; the
    importer would merge them into the inferred shapes, so they go.

    Raises:
        ConfigError: Not a GraphDef, or one without the tensors used here.

    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except DecodeError as exc:
        raise ConfigError(f"{path} is not a TensorFlow GraphDef ({exc}): extractor_params."
                          f"graph must name {GRAPH_FILE} from {ARCHIVE}.") from None
    names = {node.name for node in graph_def.node}
    needed = [INPUT_TENSOR.split(":")[0], RESIZE_NODE, POOL_TENSOR.split(":")[0], LOGITS_MATMUL]
    missing = [name for name in needed if name not in names]
    if missing:
        raise ConfigError(f"The graph {path} has no node {', '.join(missing)}: it is not the "
                          f"Inception graph {GRAPH_FILE} from {ARCHIVE}.")
    for node in graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return graph_def


def resize_description(graph_def: Any) -> str:
    """The protocol's ``resize``: the graph's own resize, with the size its ``size`` constant holds.

    The size is read, not assumed (299×299 in the 2015 graph); a graph whose
    resize takes its size from anything but a constant says so.
    """
    import tensorflow as tf

    nodes = {node.name: node for node in graph_def.node}
    resize = nodes[RESIZE_NODE]
    source = nodes.get(resize.input[1].split(":")[0]) if len(resize.input) > 1 else None
    size = "(size not constant)"
    if source is not None and source.op == "Const":
        values = tf.make_ndarray(source.attr["value"].tensor).reshape(-1)
        if len(values) == 2:
            size = f"{int(values[0])}x{int(values[1])}"
    return f"graph ResizeBilinear {size} (TF1 bilinear, 0..255 input)"


@contextmanager
def full_float32() -> Iterator[None]:
    """TensorFloat-32 off inside the block, the previous setting restored after."""
    import tensorflow as tf

    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)


def to_graph_input(images: np.ndarray) -> np.ndarray:
    """``(n, h, w, 1|3)`` in [-1, 1] → ``(n, h, w, 3)`` float32 whole values in 0..255."""
    pixels = np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels.astype(np.float32)


class Inception2015Features:
    """``pool_3`` features and 1,008-class probabilities of the 2015 TF Inception graph.

    Args:
        data_dir: Unused (the features do not depend on the dataset).
        image_shape: ``(h, w, c)`` of the images to score (``c`` is 1 or 3).
        graph: Path of ``classify_image_graph_def.pb``.
        sha256: Expected sha256 of the file (checked when given).

    Raises:
        ConfigError: Missing, mismatched or unreadable graph, or images that
            are neither grey nor RGB.

    """

    name = "inception_2015"
    label_names: list[str] = []
    multi_label = False

    def __init__(self, *, data_dir: Any = None, image_shape: tuple[int, int, int],
                 graph: str | None = None, sha256: str | None = None):
        if int(image_shape[-1]) not in (1, 3):
            raise ConfigError(f"inception_2015 scores grey or RGB images; these have "
                              f"{image_shape[-1]} channels.")
        if sha256 is not None and (not isinstance(sha256, str) or len(sha256) != 64):
            raise ValueError(f"sha256 must be a 64-character hex digest, got {sha256!r}")
        self.graph_path = locate_graph(graph)
        data, self.weights_sha256 = verify_graph(self.graph_path, sha256)
        graph_def = parse_graph(data, self.graph_path)
        self.resize = resize_description(graph_def)
        self._run = self._build(graph_def)

    def _build(self, graph_def: Any) -> Any:
        """A function: ``(n, h, w, 3)`` 0..255 → ``(pool_3 squeezed, pool_3 @ W)``."""
        import tensorflow as tf

        def imported(images: Any) -> tuple[Any, Any]:
            pool, matmul = tf.compat.v1.import_graph_def(
                graph_def, input_map={INPUT_TENSOR: images},
                return_elements=[POOL_TENSOR, LOGITS_MATMUL], name="")
            weights = matmul.inputs[1]
            features = tf.squeeze(pool, axis=[1, 2])
            return features, tf.matmul(features, weights)

        try:
            return tf.compat.v1.wrap_function(
                imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        except (ValueError, TypeError, tf.errors.OpError) as exc:
            raise ConfigError(f"The graph {self.graph_path} cannot be imported by this "
                              f"TensorFlow ({type(exc).__name__}: {exc}).") from None

    def _outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels = to_graph_input(images)
        features, logits = [], []
        with full_float32():
            for start in range(0, len(pixels), INNER_BATCH):
                pool, raw = self._run(pixels[start:start + INNER_BATCH])
                features.append(np.asarray(pool))
                logits.append(np.asarray(raw))
        return np.concatenate(features), np.concatenate(logits)

    def features(self, images: np.ndarray) -> np.ndarray:
        """``(n, 2048)`` float32 ``pool_3`` features."""
        return self._outputs(images)[0].astype(np.float32)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """``(n, 1008)`` logits ``pool_3 @ W`` (no bias, as the Inception Score code)."""
        return self._outputs(images)[1].astype(np.float64)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """``(n, 1008)`` softmax of :meth:`logits`, in float64."""
        logits = self.logits(images)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
