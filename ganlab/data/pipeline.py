"""The training input pipeline: prepared TFRecords to the batches of one epoch.

What the engine asks of a dataset before and while it trains: prepare the
TFRecords when they are missing, read the training images (cached in memory
when small), cut one epoch into shuffled, seeded batches, and name the
damaged shard when reading fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ganlab.contracts import (
    dataset_location,
    describe_dataset,
    load_images,
    load_labelled,
    source_available,
)
from ganlab.errors import DataError

#: Cache decoded images in memory below this many bytes when ``train.cache`` is unset.
AUTO_CACHE_BYTES = 2 * 1024**3
#: Batches prepared ahead of the training step.
PREFETCH_BATCHES = 4


def ensure_prepared(dataset: Any, echo: Callable[[str], None]) -> None:
    """Prepare the data if needed and the raw source is there; else say what to do."""
    if dataset.is_prepared():
        return
    where = dataset_location(dataset)
    if not source_available(dataset):
        raise DataError(
            f"No prepared data ({where}) and the raw data is not where the "
            f"experiment says ({describe_dataset(dataset)}). Put the raw files there or point "
            "the experiment at them with --set dataset.params.source=PATH, then run "
            "'ganlab prepare EXPERIMENT.yaml' (or 'ganlab run', which prepares automatically)."
        )
    echo(f"Preparing {where} from {describe_dataset(dataset)} ...")
    report = dataset.prepare()
    if report is None:  # datasets without a prepare step (in memory, synthetic)
        return
    counts = ", ".join(f"{split}: {count}" for split, count in report.counts.items())
    echo(f"Prepared {counts} in {report.seconds:.1f} s"
         + (f"; skipped {len(report.skipped)} unreadable files" if report.skipped else "") + ".")


def training_images(dataset: Any, *, fixed_order: bool, cache: bool | None,
                    labelled: bool = False) -> Any:
    """The unbatched training images, cached in memory when asked (or, unset, when small).

    Args:
        dataset: The experiment's dataset.
        fixed_order: Read the records in a fixed order.
        cache: ``train.cache``; ``None`` caches below :data:`AUTO_CACHE_BYTES`.
        labelled: Yield ``(image, label)`` pairs (int32 class labels, for a
            class-conditional GAN) instead of bare images.

    """
    if labelled:
        images = load_labelled(dataset, fixed_order=fixed_order)
    else:
        images = load_images(dataset, fixed_order=fixed_order)
    if cache is None:
        height, width, channels = dataset.image_shape
        cache = dataset.num_examples() * height * width * channels * 4 <= AUTO_CACHE_BYTES
    return images.cache() if cache else images


def epoch_dataset(base: Any, *, epoch: int, seed: int, batch_size: int, steps: int,
                  skip: int, shuffle_buffer: int, deterministic: bool,
                  shard_policy: Any = None) -> Any:
    """The batches of one epoch: shuffled with a per-epoch seed, ragged tail dropped.

    The per-epoch seed makes the order of every epoch reproducible, so a run
    resumed mid-epoch can skip exactly the batches it already trained on.

    tf.data's autotuner is switched off for this pipeline: its optimisation
    thread sleeps with an exponential back-off (10 ms, 20 ms, ... up to a
    minute) and tearing down an epoch's iterator waited for its next wake-up,
    which stalled about half the epochs by seconds (epochs ended on multiples
    of 10.24 s). Parallel reads then use every core, and a fixed number of
    batches is prefetched.

    Args:
        base: The unbatched images.
        epoch: Completed epochs (seeds this epoch's order).
        seed: The experiment's seed.
        batch_size: Global batch size.
        steps: Steps in a whole epoch.
        skip: Batches already trained on in this epoch (resume).
        shuffle_buffer: Shuffle buffer size (``<= 1``: no shuffle).
        deterministic: Keep the order fixed (``train.deterministic``, clusters).
        shard_policy: ``tf.data.experimental.AutoShardPolicy`` for multi-worker
            input (default ``DATA``: every worker reads every record and keeps
            its share of each batch).

    """
    dataset = base
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=_epoch_seed(seed, epoch),
                                  reshuffle_each_iteration=False)
    # A ragged last batch would recompile under XLA and skew per-replica sizes.
    dataset = dataset.batch(batch_size, drop_remainder=True).take(steps)
    if skip:
        dataset = dataset.skip(skip)
    options = tf.data.Options()
    options.deterministic = deterministic
    options.autotune.enabled = False
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA if shard_policy is None else shard_policy)
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.uint32((seed * 1_000_003 + epoch * 7_919 + 17) % (2**31 - 1)))


def data_read_error(dataset: Any, error: Exception) -> DataError | None:
    """A message naming the bad shard when ``error`` came from damaged TFRecords."""
    from ganlab.data.reader import verify

    if getattr(dataset, "tfrecords", None) is None:
        return None
    try:
        verify(dataset.tfrecords)
    except DataError as found:
        return DataError(f"Training stopped: the training data is damaged. {found}")
    except Exception:  # not our TFRecords: let the original error through
        return None
    return None


def worker_shares(dataset: Any, num_workers: int) -> list[int] | None:
    """Images each worker reads when the training split's shards are divided among them.

    Shard ``i`` goes to worker ``i % num_workers`` (tf.data's FILE
    auto-sharding). ``None`` when there are fewer non-empty shards than
    workers, or the dataset keeps no shard manifest: the workers then all
    read every record and keep their share of each batch (DATA sharding).
    """
    from ganlab.data.manifest import shard_records

    try:
        shards = [s for s in shard_records(dataset.manifest(), dataset.default_split)
                  if s["count"]]
    except (AttributeError, DataError, KeyError, TypeError):
        return None
    if len(shards) < num_workers:
        return None
    shares = [0] * num_workers
    for index, shard in enumerate(shards):
        shares[index % num_workers] += int(shard["count"])
    return shares
