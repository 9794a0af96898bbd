"""Which generator of a run draws the images: the EMA generator or the trained one.

A run trained with ``train.ema`` keeps two generators: the trained one
(``raw``) and a shadow whose weights are an exponential moving average of its
weights (``ema``, see :mod:`ganlab.engine.ema`). Every command that draws
images takes ``--generator ema|raw`` and uses the EMA generator by default
when the run has one; every metric record says which one it scored.
"""

from __future__ import annotations

from typing import Any

import click

from ganlab.latents import MIN_TRUNCATION

#: The EMA generator (``generator_ema.keras``).
EMA = "ema"
#: The trained generator (``generator.keras``).
RAW = "raw"
GENERATOR_KINDS = (EMA, RAW)


def generator_option(function: Any) -> Any:
    """The ``--generator ema|raw`` option of the commands that draw images."""
    return click.option(
        "--generator", "generator", type=click.Choice(GENERATOR_KINDS), default=None,
        help="Which generator draws: 'ema' (the EMA generator of a run trained with "
             "train.ema) or 'raw' (the trained one). Default: ema when the run has one.",
    )(function)


def truncation_option(function: Any) -> Any:
    """The ``--truncation T`` option (the truncation trick, normal latents only)."""
    return click.option(
        "--truncation", type=click.FloatRange(MIN_TRUNCATION, 1e3), default=None, metavar="T",
        help="The truncation trick (Brock et al. 2019): latent entries beyond ±T are drawn "
             "again, trading variety for fidelity. Normal latents only.",
    )(function)
