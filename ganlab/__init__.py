"""ganlab: a plugin-based GAN experimentation framework on TensorFlow 2 / Keras 3.

The public API for plugin authors:

- :data:`hookimpl` marks hook implementations (see :mod:`ganlab.hookspecs`).
- :class:`Architecture`, :class:`GANLoss`, :class:`LossInputs`,
  :class:`RunContext`: the component contracts (:mod:`ganlab.contracts`).
- :mod:`ganlab.data`: the TFRecord format and the dataset base class.
- :mod:`ganlab.images`: image grids, PNG and GIF writing.
- :mod:`ganlab.latents`: latent sampling and interpolation.

Importing ``ganlab`` loads no plugin and no TensorFlow.
"""

from ganlab.contracts import Architecture, GANLoss, LossInputs, Metric, RunContext
from ganlab.errors import ConfigError, DataError, GanlabError, PluginError
from ganlab.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "ConfigError",
    "DataError",
    "GANLoss",
    "GanlabError",
    "LossInputs",
    "Metric",
    "PluginError",
    "RunContext",
    "__version__",
    "hookimpl",
]
