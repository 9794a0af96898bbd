"""The DCGAN paper's latent-space analysis: vector arithmetic and interpolation.

Radford, Metz & Chintala (2015), section 6 and figure 7: a *concept* ("man
with glasses") is the mean of a few exemplar latents; an expression over
concepts such as ``glasses_man - man + woman`` gives a new latent, shown with
8 jittered neighbours. Exemplars are picked by the user (bank indices,
seeds) or found by the dataset's classifier from a label query such as
``Eyeglasses & Male``, which also scores the result against chance.

This plugin provides:

- the ``latent_arithmetic`` and ``latent_interpolation`` callbacks, which
  render the figures every N epochs into ``arithmetic/`` and
  ``interpolation/`` of the run (and TensorBoard);
- the ``ganlab arithmetic`` and ``ganlab interpolate`` commands, which render
  them from a run's exported generator or any of its checkpoints.

Modules, one job each: :mod:`.bounds` (size limits), :mod:`.exemplars`,
:mod:`.expression` (the arithmetic language), :mod:`.queries` (the label
query language), :mod:`.spec` (validated figure settings),
:mod:`.arithmetic` (vector math), :mod:`.guided` (classifier-chosen exemplars
and the verdict), :mod:`.classifier` (finding the classifier),
:mod:`.layout` and :mod:`.render` (figures), :mod:`.figure` (one figure, end
to end), :mod:`.callbacks` (Keras) and :mod:`.commands` (CLI).

Registering imports no TensorFlow or Keras: the callback factories import
:mod:`.callbacks` when an experiment uses them, and the commands import the
generator machinery when they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ganlab import hookimpl

from .spec import DEFAULT_EXEMPLARS, DEFAULT_POOL_SIZE, ArithmeticSpec


def latent_arithmetic(expression: str, concepts: Mapping[str, Any] | None = None,
                      queries: Mapping[str, str] | None = None, expect: str | None = None,
                      every_n_epochs: int = 1, jitter: float = 0.25, neighbours: int = 8,
                      seed: int | None = None, exemplars: int = DEFAULT_EXEMPLARS,
                      pool_size: int = DEFAULT_POOL_SIZE, pool_seed: int | None = None,
                      classifier: str = "domain") -> Any:
    """The ``latent_arithmetic`` callback: the paper's vector arithmetic every N epochs.

    Args:
        expression: Over the concept names, e.g. ``glasses_man - man + woman``:
            names, numbers, ``+``, ``-``, ``*`` and parentheses.
        concepts: Concepts given by exemplars: bank indices (``12``) or seeds
            (``"s42"``), e.g. ``{glasses_man: [12, 40, 57], man: [3, 8, 21]}``.
        queries: Concepts given by label queries of the dataset's classifier,
            e.g. ``{glasses_man: "Eyeglasses & Male"}`` or ``{seven: "7"}``.
        expect: The query the result should satisfy (default: derived from
            the queries when they are conjunctions of labels).
        every_n_epochs: Period in epochs.
        jitter: Half-width of the uniform noise added for the neighbours.
        neighbours: How many neighbours of the result (8 gives a 3×3 grid).
        seed: Seed of the jitter (default: the experiment's seed).
        exemplars: Exemplars kept per query concept (the paper used three).
        pool_size: Latents generated and classified to find them.
        pool_seed: First seed of the pool (default: the experiment's seed).
        classifier: The feature extractor that judges queries.

    """
    spec = ArithmeticSpec.build(concepts=concepts, queries=queries, expression=expression,
                                expect=expect, neighbours=neighbours, jitter=jitter, seed=seed,
                                exemplars=exemplars, pool_size=pool_size, pool_seed=pool_seed)
    if not isinstance(classifier, str) or not classifier:
        raise ValueError(f"classifier must be a feature extractor name, got {classifier!r}")
    from .callbacks import LatentArithmetic

    return LatentArithmetic(spec, every_n_epochs=every_n_epochs, classifier=classifier)


def latent_interpolation(pairs: Sequence[Any], steps: int = 10, slerp: bool | None = None,
                         every_n_epochs: int = 1) -> Any:
    """The ``latent_interpolation`` callback: paths between exemplar pairs every N epochs.

    Args:
        pairs: ``[from, to]`` exemplars, e.g. ``[[3, 17], [5, "s42"]]``.
        steps: Images per path, both ends included.
        slerp: Spherical interpolation; ``None`` chooses by prior.
        every_n_epochs: Period in epochs.

    """
    from .callbacks import LatentInterpolation

    return LatentInterpolation(pairs, steps=steps, slerp=slerp, every_n_epochs=every_n_epochs)


@hookimpl
def register_callbacks(register: Any) -> None:
    """``latent_arithmetic`` and ``latent_interpolation``."""
    register("latent_arithmetic", latent_arithmetic,
             description="DCGAN latent vector arithmetic figure every N epochs (PNG, "
                         "TensorBoard); exemplars or label queries")
    register("latent_interpolation", latent_interpolation,
             description="Latent interpolation paths between exemplars every N epochs")


@hookimpl
def register_commands(cli: Any) -> None:
    """``ganlab arithmetic`` and ``ganlab interpolate``."""
    from .commands import arithmetic_command, interpolate_command

    cli.add_command(arithmetic_command)
    cli.add_command(interpolate_command)
