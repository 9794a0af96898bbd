"""The contracts between the core and component plugins.

These are the types a plugin author implements or receives. They import no
TensorFlow so that plugins can be inspected cheaply; tensors are typed ``Any``.

The functions at the end are how the core uses a dataset: only through the
:class:`Dataset` contract, plus the extras of the core's own
:class:`ganlab.data.TFRecordImageDataset` when a dataset is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

LATENT_DISTRIBUTIONS = ("normal", "uniform")
#: Most classes a class-conditional GAN may have (one embedding row each).
MAX_CLASSES = 100_000


@runtime_checkable
class Dataset(Protocol):
    """A dataset, as returned by a dataset factory (``factory(**params)``).

    This is the whole contract the core relies on. Datasets stored as
    TFRecords subclass :class:`ganlab.data.TFRecordImageDataset` (which
    implements all of it); synthetic or in-memory datasets subclass
    :class:`ganlab.data.InMemoryDataset`, or implement these five members
    directly.

    Attributes:
        image_shape: ``(height, width, channels)`` of every image ``load`` yields.

    Classes (all optional; only a dataset with classes trains a
    class-conditional architecture or a single-label domain classifier):

    - ``num_classes = K``: every image has a class label ``0 .. K-1``.
    - ``class_names``: ``K`` distinct names, label ``k`` is ``class_names[k]``
      (``"0" .. "K-1"`` when absent). They are written into the TFRecord
      manifest and spoken by the classifier, label queries, ``ganlab sample
      --class NAME`` and the run's ``run.json``. See :func:`class_names_of`.
    - ``load(split, with_labels=True)`` yields ``(image, label)`` pairs
      (``label``: int32 scalar). :class:`ganlab.data.TFRecordImageDataset`
      (labels from ``image/class/label``) and
      :class:`ganlab.data.InMemoryDataset` (labels from ``labels(split)``)
      implement it.

    """

    image_shape: tuple[int, int, int]

    def prepare(self, *, workers: int | None = None, overwrite: bool = False) -> Any:
        """Make the data loadable (write files, download nothing); a no-op when it is.

        Returns a :class:`ganlab.data.PrepareReport`, or ``None`` when there
        is nothing to report.
        """

    def is_prepared(self) -> bool:
        """Whether ``load`` works now, without ``prepare``."""

    def num_examples(self, split: str | None = None) -> int:
        """Number of images in ``split`` (default: the training split)."""

    def load(self, split: str | None = None) -> Any:
        """An unbatched ``tf.data.Dataset`` of float32 images in [-1, 1].

        Each element has the static shape ``image_shape``. The order must be
        the same on every call (the engine shuffles); ``split=None`` is the
        training split.
        """


def class_count(name: str, value: Any) -> int:
    """``num_classes`` of a component: ``0`` (no classes) or a whole number from 2.

    Raises:
        TypeError: Not a whole number.
        ValueError: 1, negative, or above :data:`MAX_CLASSES`.

    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (0 for none), got {value!r}")
    if not is_class_count(value):
        raise ValueError(f"{name} must be 0 (no classes) or from 2 to {MAX_CLASSES}, got {value}")
    return value


def is_class_count(value: Any) -> bool:
    """Whether ``value`` is a valid ``num_classes``: 0, or a whole number from 2 to the most."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and (value == 0 or 2 <= value <= MAX_CLASSES))


def num_classes_of(component: Any) -> int:
    """A dataset's or architecture's ``num_classes`` (``0`` when it has none).

    Raises:
        TypeError, ValueError: See :func:`class_count`.

    """
    return class_count("num_classes", getattr(component, "num_classes", 0) or 0)


#: Longest class name accepted, in characters.
MAX_CLASS_NAME = 200


def default_class_names(num_classes: int) -> list[str]:
    """``"0" .. "K-1"``: the names of classes nobody named."""
    return [str(index) for index in range(num_classes)]


def check_class_names(names: Any, num_classes: int) -> list[str]:
    """``names`` as a list of ``num_classes`` distinct, printable, non-empty strings.

    Raises:
        TypeError: Not a list or tuple of strings.
        ValueError: Another length, an empty, duplicate, over-long name, or
            one with control characters.

    """
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(f"class_names must be a list of strings, got {names!r}")
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but num_classes is "
                         f"{num_classes}: give one name per class")
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"class_names[{index}] is {name!r}, not a string")
        if not name.strip() or len(name) > MAX_CLASS_NAME or not name.isprintable():
            raise ValueError(f"class_names[{index}] is {name!r}: names must be 1 to "
                             f"{MAX_CLASS_NAME} printable characters, not blank")
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise ValueError(f"class_names[{seen[name]}] and class_names[{index}] are both "
                             f"{name!r}: class names must be distinct")
        seen[name] = index
    return list(names)


def class_names_of(component: Any) -> list[str]:
    """A dataset's class names: its ``class_names``, else ``"0" .. "K-1"`` (``[]``: no classes).

    Raises:
        TypeError, ValueError: An invalid ``num_classes`` or ``class_names``
            (see :func:`class_count` and :func:`check_class_names`).

    """
    count = num_classes_of(component)
    if not count:
        return []
    names = getattr(component, "class_names", None)
    return default_class_names(count) if names is None else check_class_names(names, count)


def class_index(class_names: Any, value: int | str) -> int:
    """The label of a class given by name or by index (``"cat"``, ``3`` or ``"3"``).

    A name wins over an index: with names ``["1", "0"]``, ``"1"`` is label 0.

    Raises:
        ValueError: No such class; the message lists the classes (with a
            did-you-mean for a near name).

    """
    names = [str(name) for name in class_names]
    if not names:
        raise ValueError("it is not class-conditional (it has no classes)")
    text = str(value).strip()
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    import difflib

    # A number out of range is no typo of a name: no suggestion for it.
    close = [] if text.isdigit() else difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    raise ValueError(f"'{text}' is not one of its classes{hint}: give a name or an index "
                     f"0-{len(names) - 1}; the classes are {shown}")


def supports_labels(dataset: Any) -> bool:
    """Whether ``dataset.load(split, with_labels=True)`` is available."""
    import inspect

    load = getattr(dataset, "load", None)
    if not callable(load):
        return False
    try:
        parameters = inspect.signature(load).parameters
    except (TypeError, ValueError):
        return False
    return "with_labels" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def load_labelled(dataset: Any, split: str | None = None, *, fixed_order: bool = False) -> Any:
    """``(image, label)`` pairs of ``split`` (int32 labels), for datasets with classes.

    Args:
        dataset: A :class:`Dataset` with ``num_classes``.
        split: The split; the training split when ``None``.
        fixed_order: As in :func:`load_images`.

    """
    from ganlab.data import TFRecordImageDataset

    if isinstance(dataset, TFRecordImageDataset):
        return dataset.load(split, with_labels=True, deterministic=fixed_order)
    return dataset.load(split, with_labels=True)


def latent_class(latents: Any, num_classes: int) -> Any:
    """The class a conditional generator draws for each latent: its last entries' argmax.

    Works on numpy arrays, tensors and symbolic Keras tensors alike.

    Args:
        latents: ``(batch, latent_dim)`` latents.
        num_classes: ``K``: the last ``K`` entries are the class entries.

    Returns:
        ``(batch,)`` int32 classes in ``0 .. K-1``.

    """
    import keras

    return keras.ops.cast(keras.ops.argmax(latents[:, -num_classes:], axis=-1), "int32")


def conditioned(discriminator: Any, labels: Any) -> Callable[..., Any]:
    """``discriminator`` as an images-to-logits function, ``labels`` bound when given.

    The losses call the discriminator on images alone (gradient penalties);
    a conditional one is called as ``discriminator([images, labels])``.
    """
    if labels is None:
        return discriminator

    def on_images(images: Any, training: bool = False) -> Any:
        return discriminator([images, labels], training=training)

    return on_images


def describe_dataset(dataset: Any) -> str:
    """One line naming where a dataset's images come from, for messages."""
    for method in ("describe", "describe_source"):
        describe = getattr(dataset, method, None)
        if callable(describe):
            return str(describe())
    return f"the {type(dataset).__name__} dataset"


def dataset_location(dataset: Any) -> str:
    """The folder of a TFRecord dataset's files, else its description."""
    folder = getattr(dataset, "tfrecords", None)
    return f"the TFRecords in {folder}" if folder is not None else describe_dataset(dataset)


def source_available(dataset: Any) -> bool:
    """Whether ``prepare`` can find the raw data (datasets that say nothing: yes)."""
    available = getattr(dataset, "source_available", None)
    return bool(available()) if callable(available) else True


def load_images(dataset: Any, split: str | None = None, *, fixed_order: bool = False) -> Any:
    """``dataset.load(split)``; a TFRecord dataset is told to keep its record order fixed.

    Args:
        dataset: A :class:`Dataset`.
        split: The split; the training split when ``None``.
        fixed_order: Ask the core's TFRecord reader for a fixed record order
            (it reads shards in parallel, out of order, otherwise). Other
            datasets always yield a fixed order.

    """
    from ganlab.data import TFRecordImageDataset

    if isinstance(dataset, TFRecordImageDataset):
        return dataset.load(split, deterministic=fixed_order)
    return dataset.load(split)


@runtime_checkable
class Architecture(Protocol):
    """A generator/discriminator family, as returned by an architecture factory.

    The factory is called as ``factory(image_shape=(h, w, c), **params)``.

    Attributes:
        latent_dim: Length of the generator's latent input.
        latent_distribution: ``"normal"`` (N(0, 1)) or ``"uniform"`` (U(-1, 1)),
            the prior the engine samples latents from.

    A class-conditional architecture also has ``num_classes = K`` (``0`` or
    absent: unconditional). Its generator draws the class that the argmax of
    the latent's last ``K`` entries names (:func:`latent_class`; under either
    prior every class is equally likely), so a latent alone still says what
    to draw and every tool that feeds latents keeps working. Its
    discriminator maps ``[images, labels]`` (``labels``: ``(batch,)`` int32)
    to logits; the engine gives it the dataset's labels for real images and
    :func:`latent_class` of the latents for generated ones.

    """

    latent_dim: int
    latent_distribution: str

    def build_generator(self) -> Any:
        """A ``keras.Model``: ``(batch, latent_dim)`` → ``(batch, h, w, c)`` in [-1, 1]."""

    def build_discriminator(self) -> Any:
        """A ``keras.Model``: ``(batch, h, w, c)`` → ``(batch, 1)`` logits."""


@dataclass(frozen=True)
class LossInputs:
    """Everything a paired GAN loss may need for one replica's batch.

    Attributes:
        real_data: Real images, ``(batch, h, w, c)``.
        generated_data: ``generator(latents)``, same shape.
        real_logits: Discriminator logits on ``real_data`` (float32).
        fake_logits: Discriminator logits on ``generated_data`` (float32).
        discriminator: The discriminator model, for gradient penalties.
        latents: The latents ``generated_data`` came from.

    """

    real_data: Any
    generated_data: Any
    real_logits: Any
    fake_logits: Any
    discriminator: Callable[..., Any]
    latents: Any = None


@runtime_checkable
class GANLoss(Protocol):
    """A paired generator/discriminator loss (the TF-GAN convention).

    Both methods return a scalar: the mean over the replica's batch. The
    engine scales by the number of replicas and handles loss scaling.
    """

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """The discriminator's loss for one batch."""

    def generator_loss(self, inputs: LossInputs) -> Any:
        """The generator's loss for one batch."""


#: The networks a regularizer may apply to (``Regularizer.applies_to``).
REGULARIZED_NETWORKS = ("discriminator", "generator")
#: DiffAugment transformations, by name (``train.augment``, ``RegularizerInputs.augment``).
AUGMENTATIONS = ("color", "translation", "cutout")


@dataclass(frozen=True)
class RegularizerInputs(LossInputs):
    """What a regularizer's penalty may use: the step's :class:`LossInputs` and more.

    Built inside the compiled train step, for one replica's batch, in the
    update of the network the regularizer applies to. ``discriminator`` has
    the real images' labels bound (a conditional D), so a gradient penalty
    on real images is ``discriminator(x)`` under a tape; ``real_logits`` and
    ``fake_logits`` are the step's own, with gradients.

    Attributes:
        fake_discriminator: The discriminator with the generated images'
            classes bound (the same as ``discriminator`` when unconditional):
            for penalties on generated images (R2, consistency).
        step: Updates of the regularized network done before this one (int64
            scalar tensor, 0 on the first update), read from its optimizer's
            checkpointed iteration count.
        augment: ``augment(images, transforms=None)``: ``images`` through
            DiffAugment transformations (names from :data:`AUGMENTATIONS`;
            ``None``: the experiment's ``train.augment``), differentiable, with
            a new random draw per image from the run's checkpointed generator.
            It raises :class:`ganlab.ConfigError` when there is no
            transformation to apply.

    """

    fake_discriminator: Callable[..., Any] | None = None
    step: Any = 0
    augment: Callable[..., Any] | None = None


@runtime_checkable
class Regularizer(Protocol):
    """A penalty added to one network's loss, as returned by a regularizer factory.

    The engine adds ``weight * interval * penalty(inputs)`` to the loss of
    ``applies_to`` on the updates whose ``step`` is a multiple of
    ``interval``, and nothing on the others: lazy regularization (Karras et
    al. 2020, StyleGAN2, section 3.1), exact for any ``steps_per_execution``.
    The term added is logged as ``reg_<name>`` (0 on the updates it skips), so
    an epoch's mean is the penalty's average share of the loss.

    Attributes:
        weight: Multiplies the penalty (e.g. ``gamma / 2`` for R1).
        interval: Apply it every ``interval`` updates (1: every update).
        applies_to: ``"discriminator"`` or ``"generator"``.

    A regularizer with state (running means) keeps it in ``tf.Variable`` objects
    listed by a ``variables`` attribute: the engine creates the regularizer
    in the distribution strategy's scope, saves those variables in every
    checkpoint and restores them on resume. No cross-replica sync may happen
    inside the step, so create them with
    ``synchronization=tf.VariableSynchronization.ON_READ`` and
    ``aggregation=tf.VariableAggregation.MEAN`` (one copy per replica), and
    keep the copies equal: update them from statistics all-reduced over the
    replicas (``tf.distribute.get_replica_context().all_reduce``). Under several
    replicas the engine also calls ``penalty`` on the updates that do not
    count (and discards the term; a sync cannot sit inside a conditional),
    so update state only when ``inputs.step % interval == 0``.

    """

    weight: float
    interval: int
    applies_to: str

    def penalty(self, inputs: RegularizerInputs) -> Any:
        """A scalar: the mean over the replica's batch, before ``weight``."""


@dataclass
class RunContext:
    """What a callback can use about the current run (``self.model.run``).

    Attributes:
        run_dir: The run directory (``checkpoints/``, ``samples/``, ``history.csv``,
            ... ; see the README).
        name: The experiment name.
        config: The resolved experiment config (plain data).
        image_shape: ``(h, w, c)`` of the training images.
        latent_dim: Generator latent size.
        latent_distribution: ``"normal"`` or ``"uniform"``.
        latent_bank: The fixed, numbered latents (``numpy`` array, ``(n, latent_dim)``);
            the sample grid draws the first cells from it.
        summary_writer: A ``tf.summary`` writer for the run's TensorBoard folder.
        seed: The experiment seed.
        initial_epoch: Epochs already completed when this ``ganlab run`` started:
            0 for a new run, N when it resumes from the checkpoint of epoch N.
            Rows a callback wrote for later epochs were left by a killed run
            and will be written again.
        num_classes: Classes of a class-conditional generator (``0``:
            unconditional); :func:`ganlab.latents.with_class` makes latents
            draw one.
        class_names: Their names (label ``k`` is ``class_names[k]``).

    """

    run_dir: Path
    name: str
    config: dict[str, Any]
    image_shape: tuple[int, int, int]
    latent_dim: int
    latent_distribution: str
    latent_bank: Any
    summary_writer: Any = None
    seed: int = 0
    initial_epoch: int = 0
    num_classes: int = 0
    class_names: tuple[str, ...] = ()

    @property
    def samples_dir(self) -> Path:
        """``run_dir/samples``."""
        return self.run_dir / "samples"

    @property
    def arithmetic_dir(self) -> Path:
        """``run_dir/arithmetic``."""
        return self.run_dir / "arithmetic"

    @property
    def interpolation_dir(self) -> Path:
        """``run_dir/interpolation``."""
        return self.run_dir / "interpolation"


@runtime_checkable
class Metric(Protocol):
    """Scores a generator against a dataset split.

    ``compute`` returns score name → value (or a
    :class:`ganlab.evaluation.MetricResult` holding them with their
    protocol). Every value must be a finite real number: anything else
    (a string, ``None``, NaN) is the metric's bug, and ganlab stops with a
    plugin error naming it, in training as in ``ganlab evaluate``.

    A metric should also say what its scores mean, in an attribute
    ``score_specs``: score name → :class:`ScoreSpec` (which way is better,
    and the range). ``ganlab evaluate`` prints it, ``ganlab compare`` marks
    the best run with it, and a score outside its declared range is the
    metric's bug too. Scores without a spec are shown unranked.

    Attributes:
        name: The metric's name (the prefix of its scores in ``metrics.csv``).
        score_specs: Optional: score name → :class:`ScoreSpec`.

    """

    name: str

    def compute(self, generate: Callable[[int], Any], dataset: Any) -> dict[str, float]:
        """Scores for ``generate(n)`` images against ``dataset``."""


@dataclass(frozen=True)
class ScoreSpec:
    """What one score of a metric means: which way is better, and the values it takes.

    A metric declares one per score, as a class attribute::

        score_specs = {"fid": ScoreSpec(higher_is_better=False, minimum=0.0)}

    Attributes:
        higher_is_better: ``True`` when a higher value is better, ``False``
            when a lower one is, ``None`` when neither (a spread, a count).
        minimum: The lowest value the score can take (``None``: unbounded).
        maximum: The highest value (``None``: unbounded).

    """

    higher_is_better: bool | None = None
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.higher_is_better not in (True, False, None):
            raise TypeError(f"higher_is_better must be True, False or None, got "
                            f"{self.higher_is_better!r}")
        for name in ("minimum", "maximum"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))
                                      or value != value):  # NaN
                raise TypeError(f"{name} must be a number or None, got {value!r}")
        if self.minimum is not None and self.maximum is not None \
                and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is above maximum {self.maximum}")

    @property
    def direction(self) -> str:
        """``"higher"``, ``"lower"`` or ``""`` (neither): which way is better."""
        return {True: "higher", False: "lower"}.get(self.higher_is_better, "")  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data (written beside the scores in the run directory)."""
        return {"higher_is_better": self.higher_is_better, "minimum": self.minimum,
                "maximum": self.maximum}
