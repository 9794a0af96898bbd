"""The ``latent_arithmetic`` and ``latent_interpolation`` callbacks (Keras).

Imported only when an experiment uses one of them: the plugin's registration
(:mod:`ganlab_builtins.latent`) stays free of TensorFlow and Keras.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image

from ganlab.errors import ConfigError, GanlabError
from ganlab.images import save_png
from ganlab.rundir import RunDirectory
from ganlab.sampling import generate

from .arithmetic import default_slerp, interpolation_path
from .bounds import MAX_PAIRS, MAX_STEPS, check_int
from .classifier import describe_failure, open_classifier
from .exemplars import Exemplar, LatentSpecError, parse_pair
from .figure import FigureReport, Judge, LatentSpace, draw_figure, draw_pool
from .layout import InterpolationLayout
from .render import interpolation_figure
from .spec import ArithmeticSpec


def check_bank(name: str, exemplars: Sequence[Exemplar], bank_size: int) -> None:
    """Raise a :class:`ConfigError` before training if an index is outside the bank."""
    outside = sorted({e.index for e in exemplars if e.index is not None and e.index >= bank_size})
    if outside:
        raise ConfigError(
            f"The {name} callback uses latent-bank indices {', '.join(map(str, outside))} but "
            f"the run's bank holds {bank_size} latents (0-{bank_size - 1}): raise "
            "latents.bank_size (a new run) or pick smaller indices or seed exemplars (s42).")


class LatentArithmetic(keras.callbacks.Callback):
    """Every N epochs, the paper's latent vector arithmetic figure.

    Writes ``arithmetic/epoch_XXXX.png`` and a TensorBoard image
    (``latent_arithmetic``), so one watches the arithmetic become meaningful
    as training goes on. Exemplar concepts, the neighbours' jitter and the
    query pool are fixed for the whole run; query concepts choose their
    exemplars from the pool again at every figure, with the generator of the
    moment, and the caption gives the classifier's verdict on the result.

    Args:
        spec: The figure (built by the registered factory from the params).
        every_n_epochs: Period in epochs.
        classifier: The feature extractor that judges queries (``domain``).

    """

    def __init__(self, spec: ArithmeticSpec, every_n_epochs: int = 1,
                 classifier: str = "domain"):
        super().__init__()
        self.spec = spec
        self.every_n_epochs = check_int("every_n_epochs", every_n_epochs)
        self.classifier = classifier
        self.judge: Judge | None = None
        self.space: LatentSpace | None = None
        self.pool = None
        self.disabled = ""
        self.report: FigureReport | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Check bank indices and the figure's size; find the classifier if queries need it."""
        run = self.model.run
        check_bank("latent_arithmetic", self.spec.used_exemplars(), len(run.latent_bank))
        try:
            self.spec.check_figure(run.image_shape)
        except ValueError as exc:
            raise ConfigError(f"The latent_arithmetic callback: {exc}.") from None
        self.space = LatentSpace(run.latent_bank, run.latent_dim, run.latent_distribution,
                                 run.seed)
        if self.spec.needs_classifier:
            self.judge = self._judge(run)
            if self.judge is not None:
                self.pool = draw_pool(self.spec, self.space)

    def _judge(self, run: Any) -> Judge | None:
        """The bound classifier, or ``None`` (and a warning) when it is not available.

        A missing classifier must not stop training: the figure is skipped and
        the warning says how to get it. Labels it does not know are errors.
        """
        metadata = RunDirectory(Path(run.run_dir)).read_metadata()
        base_dir = Path(metadata["experiment_dir"]) if metadata.get("experiment_dir") else None
        try:
            classifier = open_classifier(run.config, run.image_shape, name=self.classifier,
                                         base_dir=base_dir)
        except GanlabError as exc:
            self.disabled = describe_failure(exc)
            print(f"warning: latent_arithmetic figure skipped this run. {self.disabled}",
                  file=sys.stderr)
            return None
        try:
            return Judge.bind(self.spec, classifier)
        except LatentSpecError as exc:
            raise ConfigError(f"The latent_arithmetic callback: {exc}.") from None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Render the figure for epochs that fall on the period."""
        if (epoch + 1) % self.every_n_epochs or self.space is None:
            return
        if self.spec.needs_classifier and self.judge is None:
            return
        # The EMA generator when the run keeps one (train.ema), as ganlab sample draws.
        draw = self.model.sampling_generator
        figure, self.report = draw_figure(self.spec, lambda z: generate(draw, z),
                                self.space, judge_with=self.judge, pool=self.pool,
                                title=f"{self.spec.expression.text}  (epoch {epoch + 1})")
        save_png(figure, self.model.run.arithmetic_dir / f"epoch_{epoch + 1:04d}.png")
        summary_image(self.model.run.summary_writer, "latent_arithmetic", figure, epoch + 1)


class LatentInterpolation(keras.callbacks.Callback):
    """Every N epochs, interpolation paths between pairs of exemplars.

    Writes ``interpolation/epoch_XXXX.png`` (one row per pair) and a
    TensorBoard image (``latent_interpolation``).

    Args:
        pairs: ``[from, to]`` exemplars, e.g. ``[[3, 17], [5, "s42"]]`` (at most 32).
        steps: Images per path, both ends included (2 to 256).
        slerp: Spherical interpolation; ``None`` (default) chooses by prior:
            spherical for ``normal``, linear (as in the paper) for ``uniform``.
        every_n_epochs: Period in epochs.

    """

    def __init__(self, pairs: Sequence[Any], steps: int = 10, slerp: bool | None = None,
                 every_n_epochs: int = 1):
        super().__init__()
        if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not pairs:
            raise ValueError("pairs must be a non-empty list of [from, to] exemplars, e.g. "
                             "[[3, 17], [5, s42]]")
        if len(pairs) > MAX_PAIRS:
            raise ValueError(f"{len(pairs)} pairs; at most {MAX_PAIRS} (one figure row each)")
        self.pairs = [parse_pair(pair) for pair in pairs]
        self.steps = check_int("steps", steps, minimum=2, maximum=MAX_STEPS)
        if slerp is not None and not isinstance(slerp, bool):
            raise ValueError(f"slerp must be true, false or null (by prior), got {slerp!r}")
        self.slerp = slerp
        self.every_n_epochs = check_int("every_n_epochs", every_n_epochs)
        self.paths: list[tuple[str, np.ndarray]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Check bank indices and the figure's size, and fix the paths for the run."""
        run = self.model.run
        check_bank("latent_interpolation", [e for pair in self.pairs for e in pair],
                   len(run.latent_bank))
        labels = [f"{start.label} -> {end.label}" for start, end in self.pairs]
        try:
            InterpolationLayout.plan(labels=labels, steps=self.steps,
                                     image_size=tuple(run.image_shape[:2]), title="x" * 40)
        except ValueError as exc:
            raise ConfigError(f"The latent_interpolation callback: {exc}.") from None
        spherical = default_slerp(run.latent_distribution) if self.slerp is None else self.slerp
        self.paths = [
            (label, interpolation_path(
                start.latent(run.latent_bank, run.latent_dim, run.latent_distribution),
                end.latent(run.latent_bank, run.latent_dim, run.latent_distribution),
                self.steps, spherical))
            for label, (start, end) in zip(labels, self.pairs, strict=True)]
        self.method = "slerp" if spherical else "lerp"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Render the paths for epochs that fall on the period."""
        if (epoch + 1) % self.every_n_epochs or not self.paths:
            return
        figure, _ = interpolation_figure(lambda z: generate(self.model.sampling_generator, z),
                                         self.paths, title=f"{self.method}, {self.steps} steps "
                                                           f"(epoch {epoch + 1})")
        save_png(figure, self.model.run.interpolation_dir / f"epoch_{epoch + 1:04d}.png")
        summary_image(self.model.run.summary_writer, "latent_interpolation", figure, epoch + 1)


def summary_image(writer: Any, tag: str, figure: Image.Image, step: int) -> None:
    """Log ``figure`` to TensorBoard (when the run has a writer)."""
    if writer is None:
        return
    import tensorflow as tf

    with writer.as_default(step=step):
        tf.summary.image(tag, np.asarray(figure)[None, ...], max_outputs=1)
