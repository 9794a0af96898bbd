"""The hooks a ganlab plugin can implement.

Every hook is a *registration* hook: it is called once with a ``register``
callback and calls it once per component it provides::

    from ganlab import hookimpl

    @hookimpl
    def register_losses(register):
        register("my_loss", MyLoss, description="My paper's loss")

``register(name, factory, *, description=None)`` records the component under
``name`` together with the plugin (and distribution) that provided it. The
factory is only called when an experiment uses the component, with the
``params`` block of the experiment as keyword arguments. A factory given as a
string ``"package.module:Attribute"`` is imported only then, so that loading
the plugin imports no TensorFlow. docs/plugins.md is the full reference.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "ganlab"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback passed to every ``register_*`` hook."""

    def __call__(self, name: str, factory: Any, *, description: str | None = None) -> None:
        """Record ``factory`` (a callable, or ``"module:attribute"``) under ``name``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset factories.

    Contract: ``factory(**params)`` returns a :class:`ganlab.contracts.Dataset`:
    ``image_shape`` ``(height, width, channels)``,
    ``prepare(*, workers=None, overwrite=False)`` (make the data loadable;
    returns a :class:`ganlab.data.PrepareReport` or ``None``),
    ``is_prepared()``, ``num_examples(split=None)`` and ``load(split=None)``:
    an *unbatched* ``tf.data.Dataset`` of float32 images in [-1, 1] with the
    static shape ``image_shape``, in the same order on every call. The core
    batches, shuffles and prefetches, and uses nothing else. Datasets stored
    as TFRecords subclass :class:`ganlab.data.TFRecordImageDataset` and only
    say how to list and decode their raw files; synthetic or in-memory
    datasets subclass :class:`ganlab.data.InMemoryDataset` (no files:
    ``source`` is ``None``). A dataset whose images have class labels
    ``0 .. K-1`` (either kind) says ``num_classes = K``, which conditional
    architectures need, optionally ``class_names`` (``K`` distinct names,
    recorded in the TFRecord manifest), and yields ``(image, label)`` pairs
    from ``load(split, with_labels=True)``.
    """


@hookspec
def register_architectures(register: Register) -> None:
    """Register GAN architectures (generator/discriminator pairs).

    Contract: ``factory(image_shape=(h, w, c), **params)`` returns a
    :class:`ganlab.Architecture`: an object with ``latent_dim``,
    ``latent_distribution`` (``"normal"`` or ``"uniform"``),
    ``build_generator()`` returning a ``keras.Model`` mapping
    ``(batch, latent_dim)`` latents to ``(batch, h, w, c)`` images in
    [-1, 1], and ``build_discriminator()`` returning a ``keras.Model`` mapping
    images to ``(batch, 1)`` logits. The builders are called inside the
    distribution strategy's scope. An experiment may take the generator from
    one architecture and the discriminator from another. A class-conditional
    architecture also has ``num_classes`` ``K``: its generator reads the
    class from the argmax of the latent's last ``K`` entries and its
    discriminator maps ``[images, labels]`` to logits (see
    :class:`ganlab.contracts.Architecture`).
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register paired GAN losses.

    Contract: ``factory(**params)`` returns a :class:`ganlab.GANLoss`: an
    object with ``discriminator_loss(inputs)`` and ``generator_loss(inputs)``,
    each taking a :class:`ganlab.LossInputs` (real and generated images, the
    discriminator's logits on both, the discriminator itself, so gradient
    penalties fit) and returning a scalar: the mean over the replica's batch.
    The engine handles replica scaling and mixed-precision loss scaling.
    """


@hookspec
def register_regularizers(register: Register) -> None:
    """Register regularizers: penalties added to the discriminator's (or generator's) loss.

    Contract: ``factory(**params)`` returns a :class:`ganlab.Regularizer`:
    an object with ``weight`` (a number), ``interval`` (an int >= 1),
    ``applies_to`` (``"discriminator"`` or ``"generator"``) and
    ``penalty(inputs)``, which takes a :class:`ganlab.RegularizerInputs`
    (the step's real and generated images and D's logits on both, the
    discriminator with the real images' labels bound and with the generated
    images' classes bound, the update's ``step``, and ``augment(images,
    transforms=None)``: DiffAugment from the run's checkpointed random
    generator) and returns a scalar: the mean over the replica's batch.
    Inside the compiled train step, on every ``interval``-th update of
    ``applies_to``, the engine adds ``weight * interval * penalty(inputs)``
    to that network's loss (lazy regularization) and logs the term as
    ``reg_<name>``. The factory is called in the distribution strategy's
    scope; state a regularizer keeps (``tf.Variable`` objects listed by its
    ``variables`` attribute) is saved in every checkpoint. Experiments list
    regularizers under ``regularizers:``.
    """


@hookspec
def register_callbacks(register: Register) -> None:
    """Register training callbacks.

    Contract: ``factory(**params)`` returns a ``keras.callbacks.Callback``.
    The engine drives it with the standard Keras hooks; ``self.model`` is a
    :class:`ganlab.GAN` whose ``generator``, ``discriminator`` and ``run``
    (a :class:`ganlab.RunContext`: run directory, fixed latent bank,
    TensorBoard writer, ``initial_epoch``: the epochs a resumed run had
    completed) are available from ``on_train_begin`` on. Keras numbers epochs
    from 0. Epoch logs hold ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``,
    ``lr_g`` and ``lr_d``, and ``reg_<name>`` for each of the experiment's
    regularizers.

    Under ``train.strategy: multi_worker`` callbacks run on the chief
    (worker 0) only, which alone writes the run directory; the other workers
    train in step without them. So a callback must not run collective ops
    (``strategy.reduce``, a distributed step): calling the generator or
    discriminator directly is fine. Setting ``self.model.stop_training``
    stops every worker at the end of the epoch.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register generator metrics.

    Contract: ``factory(**params)`` returns an object with a ``name`` and
    ``compute(generate, dataset)`` where ``generate(n)`` returns ``n`` images
    in [-1, 1] and ``dataset`` is the experiment's unbatched image dataset;
    it returns a ``dict[str, float]`` of scores. Every score must be a finite
    real number: anything else (a string, ``None``, NaN, inf) is the plugin's
    error, named as such in training, ``ganlab evaluate`` and
    ``ganlab.testing.check_metric``.

    A metric should declare what its scores mean in a class attribute
    ``score_specs``: score name → :class:`ganlab.ScoreSpec`
    (``higher_is_better`` True/False/None, optional ``minimum`` and
    ``maximum``). ``ganlab evaluate`` prints the direction, ``ganlab
    compare`` marks and sorts the best run by it, the run records it in
    ``score_specs.json`` and ``metrics.json``, and a score outside its
    declared range is the plugin's error too.

    A metric whose ``compute`` also accepts a ``context`` keyword
    (``compute(generate, dataset, *, context)``) is given a
    :class:`ganlab.evaluation.EvaluationContext`: the generator and its
    latent prior, the dataset component (TFRecord folder, fingerprint,
    splits), the registry's feature extractors (``context.extractor(name,
    params)``), the seed and the epoch, with streamed generated and real
    images and cached real-data summaries (``context.fake_summary``,
    ``context.real_summary``, ``context.fake_probabilities``). Such a metric
    may return a :class:`ganlab.evaluation.MetricResult` instead of a dict:
    its scores plus details and the protocol they were measured under
    (``context.protocol(...)``), which ``ganlab evaluate`` writes into
    ``metrics.json``. The training loop scores the experiment's ``metrics:``
    every ``train.metrics_every_n_epochs`` epochs into ``metrics.csv`` and
    TensorBoard; ``ganlab evaluate`` scores a finished run the same way.
    """


@hookspec
def register_feature_extractors(register: Register) -> None:
    """Register feature extractors for evaluation metrics (FID, KID, precision/recall).

    Contract: ``factory(data_dir=..., image_shape=(h, w, c), **params)``
    returns a feature extractor: an object with

    - ``name`` (str) and ``weights_sha256`` (str): what the features come
      from; both go into every metric record's protocol and into the key of
      cached real-data statistics, so different weights never share a cache;
    - ``resize`` (str): how images are resized before extraction, e.g.
      ``"none"`` or ``"bilinear 299x299"`` (recorded in the protocol);
    - ``features(images)``: a float32 numpy batch ``(n, h, w, c)`` in
      [-1, 1] → a ``(n, d)`` numpy array of features;
    - ``probabilities(images)``: → ``(n, k)`` class probabilities (softmax
      rows for single-label data, per-attribute sigmoids for multi-label
      data), or ``None`` when the extractor is no classifier;
    - ``label_names`` (list of str) and ``multi_label`` (bool) describing
      those probabilities.

    ``data_dir`` is the folder of the experiment's prepared dataset (its
    TFRecords), or ``None``; extractors trained on the data keep their
    weights there. Heavy imports (TensorFlow, Keras) belong in the factory,
    not at module import.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``ganlab`` CLI.

    ``cli`` is the top-level ``click.Group``; add commands with
    ``@cli.command()``.
    """
