"""Testing helpers for plugin authors (importing this imports no TensorFlow).

One-line contract checkers, each taking a registered name plus params, or an
object::

    from ganlab.testing import check_architecture, check_dataset, check_loss

    def test_my_loss():
        check_loss("my_loss", gamma=5.0)

- :func:`check_dataset`, :func:`check_architecture`, :func:`check_loss`,
  :func:`check_regularizer`, :func:`check_callback`, :func:`check_metric`;
- :func:`train_experiment`: train an experiment given as a dict for a few
  steps, in-process;
- pytest fixtures (registered through the ``pytest11`` entry point, so no
  ``conftest.py`` is needed): ``ganlab_plugins``, ``ganlab_registry``,
  ``register_plugin`` and ``train_run`` (see :mod:`ganlab.testing.pytest_plugin`).
"""

from ganlab.testing.checkers import (
    check_architecture,
    check_callback,
    check_dataset,
    check_loss,
    check_metric,
    check_regularizer,
    small_networks,
)
from ganlab.testing.training import quick_config, train_experiment

__all__ = [
    "check_architecture",
    "check_callback",
    "check_dataset",
    "check_loss",
    "check_metric",
    "check_regularizer",
    "quick_config",
    "small_networks",
    "train_experiment",
]
