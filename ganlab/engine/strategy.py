"""Distribution strategies by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganlab.errors import ConfigError


def make_strategy(name: str, devices: Sequence[str] | None = None) -> Any:
    """The ``tf.distribute.Strategy`` called ``name``.

    Args:
        name: ``default`` (no distribution), ``mirrored`` (all local GPUs, or
            ``devices``), ``multi_worker`` (``TF_CONFIG``; see docs/distributed.md)
            or ``tpu``.
        devices: Devices for ``mirrored``, e.g. ``["/cpu:0", "/cpu:1"]``.

    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices:
            _ensure_logical_cpus(devices)
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if name == "multi_worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise ConfigError(
                f"train.strategy is 'multi_worker' but TensorFlow was already started in this "
                f"process ({exc}): run each worker as its own 'ganlab run' process.") from None
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError) as exc:
            raise ConfigError(f"train.strategy is 'tpu' but no TPU was found: {exc}.") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"Unknown train.strategy {name!r}.")


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the run directory (always true on one machine).

    Under ``multi_worker`` the chief is the ``chief`` task of ``TF_CONFIG``
    or, when the cluster has none, worker 0.
    """
    from ganlab.engine.cluster import Cluster

    return Cluster.of(strategy).is_chief


def _ensure_logical_cpus(devices: Sequence[str]) -> None:
    """Split the host CPU when ``devices`` names more CPUs than exist.

    Lets ``mirrored`` run over e.g. ``["/cpu:0", "/cpu:1"]`` on a machine
    without accelerators, to check multi-replica behaviour on a laptop or CI.
    """
    import tensorflow as tf

    wanted = [int(d.rsplit(":", 1)[1]) for d in devices
              if d.lower().startswith(("/cpu:", "cpu:", "/device:cpu:")) and d[-1].isdigit()]
    cpus = tf.config.list_physical_devices("CPU")
    # Listing *logical* devices would start the runtime and freeze the layout.
    configured = tf.config.get_logical_device_configuration(cpus[0]) or []
    if not wanted or max(wanted) < max(len(cpus), len(configured)):
        return
    try:
        split_logical_cpus(max(wanted) + 1)
    except RuntimeError as exc:
        raise ConfigError(f"train.devices names {max(wanted) + 1} CPU devices but TensorFlow "
                          f"was already initialised with fewer ({exc}).") from None


def split_logical_cpus(count: int) -> list[str]:
    """Split the host CPU into ``count`` logical devices (for multi-replica tests).

    Must run before TensorFlow initialises its devices.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    return [f"/cpu:{i}" for i in range(count)]
