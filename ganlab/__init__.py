"""ganlab: a plugin-based GAN experimentation framework on TensorFlow 2 / Keras 3.

The public API for plugin authors:

- :data:`hookimpl` marks hook implementations (see :mod:`ganlab.hookspecs`).
- :class:`Architecture`, :class:`GANLoss`, :class:`LossInputs`,
  :class:`Regularizer`, :class:`RegularizerInputs`,
  :class:`RunContext`, :class:`Dataset`, :class:`Metric` and its
  :class:`ScoreSpec`: the component contracts
  (:mod:`ganlab.contracts`).
- :class:`GAN`: the model callbacks see as ``self.model`` (imported, with
  TensorFlow, on first use).
- :mod:`ganlab.params`: parameter checks for component factories.
- :mod:`ganlab.testing`: contract checkers and pytest fixtures for plugin tests.
- :mod:`ganlab.data`: the TFRecord format and the dataset base class.
- :mod:`ganlab.images`: image grids, PNG and GIF writing.
- :mod:`ganlab.latents`: latent sampling and interpolation.

Importing ``ganlab`` loads no plugin and no TensorFlow.
"""

from typing import Any

from ganlab.contracts import (
    Architecture,
    Dataset,
    GANLoss,
    LossInputs,
    Metric,
    Regularizer,
    RegularizerInputs,
    RunContext,
    ScoreSpec,
)
from ganlab.errors import ConfigError, DataError, GanlabError, PluginError
from ganlab.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "GAN",
    "Architecture",
    "ConfigError",
    "DataError",
    "Dataset",
    "GANLoss",
    "GanlabError",
    "LossInputs",
    "Metric",
    "PluginError",
    "Regularizer",
    "RegularizerInputs",
    "RunContext",
    "ScoreSpec",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    """``ganlab.GAN`` imports the engine (and TensorFlow) only when first used."""
    if name == "GAN":
        from ganlab.engine.trainer import GAN

        return GAN
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
