"""Checking the devices an experiment names against the machine it runs on.

``train.devices`` lists the devices of the ``mirrored`` strategy. Naming a
GPU on a machine without one must not quietly train on the CPU: the run is
refused with what the machine has. CPU names are always accepted (the
strategy splits the host CPU into as many logical devices as are named).
TensorFlow is imported only when a device list is actually given.
"""

from __future__ import annotations

import re

from ganlab.errors import ConfigError
from ganlab.settings import TrainSettings

_DEVICE = re.compile(r"(?:^|/|:)(cpu|gpu|tpu):(\d+)$", re.IGNORECASE)


def device_key(name: str) -> tuple[str, int] | None:
    """``'/gpu:0'``, ``'GPU:0'``, ``'/device:GPU:0'`` → ``('GPU', 0)``; ``None`` if unrecognised."""
    found = _DEVICE.search(name.strip())
    if not found or not found.group(2).isascii():
        return None
    return found.group(1).upper(), int(found.group(2))


def check_devices(train: TrainSettings) -> None:
    """Refuse ``train.devices`` naming devices this machine does not have.

    Raises:
        ConfigError: A name is not a device name, or the device is missing.

    """
    devices = train.devices
    if not devices:
        return
    wanted = {name: device_key(name) for name in devices}
    unknown = [name for name, key in wanted.items() if key is None]
    if unknown:
        raise ConfigError(f"train.devices: {unknown[0]!r} is not a device name; expected names "
                          "such as /gpu:0, /gpu:1 or /cpu:0.")
    import tensorflow as tf

    # Physical devices only: listing logical ones would start the runtime and
    # freeze the device layout the strategy may still split the CPU into.
    counts = {kind: len(tf.config.list_physical_devices(kind)) for kind in ("GPU", "TPU")}
    missing = [name for name, (kind, index) in wanted.items()
               if kind != "CPU" and index >= counts[kind]]
    if missing:
        have = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        raise ConfigError(
            f"train.devices names {', '.join(missing)}, which this machine does not have (it "
            f"has the CPU and {have}). ganlab will not quietly train elsewhere: remove "
            "train.devices (or --set train.devices=null) to use what is there, or run on a "
            "machine with those devices.")
