"""The training input pipeline: prepared TFRecords to the batches of one epoch.

What the engine asks of a dataset before and while it trains: prepare the
TFRecords when they are missing, read the training images (cached in memory
when small), cut one epoch into shuffled, seeded batches, and name the
damaged shard when reading fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
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
                    labelled: bool = False, cache_file: str | Path | None = None,
                    fill: bool | None = None) -> Any:
    """The unbatched training images, cached when asked (or, unset, when small).

    A cache holds the images decoded once. For the core's TFRecord datasets it
    holds the ``uint8`` pixels (a quarter of float32's bytes: CelebA at 64×64,
    162,770 training images, is 2.0 GB) and scales them to [-1, 1] as they are
    read; other datasets' float32 images are cached as they come. The cache is
    filled here, by one full pass: an epoch stops reading after its last whole
    batch, and ``tf.data`` throws away a cache that was never read to the end,
    so a cache filled by the epochs themselves would be rebuilt every epoch.

    Args:
        dataset: The experiment's dataset.
        fixed_order: Read the records in a fixed order.
        cache: ``train.cache``; ``None`` caches below :data:`AUTO_CACHE_BYTES`
            of float32 images.
        labelled: Yield ``(image, label)`` pairs (int32 class labels, for a
            class-conditional GAN) instead of bare images.
        fill: Fill the cache now. ``None``: with a ``cache_file``, or unless
            ``fixed_order``: a multi-worker run (which reads in fixed order)
            shards the records by file after this call, and a cache filled
            before that would hold every worker's shards; such runs rebuild an
            in-memory cache each epoch as before.
        cache_file: Keep the cache in this file (a ``tf.data`` cache: files
            ``NAME.index`` and ``NAME.data-*``) instead of in memory, for data
            larger than the memory; see :func:`decoded_cache_file` for a name
            tied to the prepared records. An existing complete cache file is
            read, not rebuilt.

    """
    if cache is None:
        height, width, channels = dataset.image_shape
        cache = dataset.num_examples() * height * width * channels * 4 <= AUTO_CACHE_BYTES
    if not cache:
        return _images(dataset, fixed_order=fixed_order, labelled=labelled)
    if fill is None:  # a file cache left half-written would be locked for the next epoch
        fill = cache_file is not None or not fixed_order
    if not _reads_core_tfrecords(dataset):
        images = _images(dataset, fixed_order=fixed_order, labelled=labelled)
        return _filled(images.cache("" if cache_file is None else str(cache_file)), fill)
    from ganlab.data.reader import load_split, to_training_range

    pixels = load_split(dataset, dataset.default_split, with_metadata=labelled,
                        deterministic=fixed_order, as_uint8=True)
    if labelled:
        pixels = pixels.map(lambda record: (record["image"],
                                            tf.cast(record["label"], tf.int32)))
    pixels = _filled(pixels.cache("" if cache_file is None else str(cache_file)), fill)
    scale = ((lambda image, label: (to_training_range(image), label)) if labelled
             else to_training_range)
    return pixels.map(scale, num_parallel_calls=tf.data.AUTOTUNE, deterministic=fixed_order)


def decoded_cache_file(dataset: Any, *, labelled: bool = False) -> Path:
    """A cache file name in the dataset's TFRecord folder, tied to its prepared records.

    The name holds a hash of the manifest, which every prepare rewrites, so a
    cache of older records is never read for new ones (ganlab owns names
    starting with ``.ganlab`` in that folder and removes them with it).
    """
    manifest = Path(dataset.tfrecords) / "dataset.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    kind = "labelled" if labelled else "images"
    return Path(dataset.tfrecords) / f".ganlab-cache-{dataset.default_split}-{kind}-{digest}"


def _images(dataset: Any, *, fixed_order: bool, labelled: bool) -> Any:
    if labelled:
        return load_labelled(dataset, fixed_order=fixed_order)
    return load_images(dataset, fixed_order=fixed_order)


def _reads_core_tfrecords(dataset: Any) -> bool:
    """Whether ``load()`` is the core reader's (so its ``uint8`` pixels can be cached)."""
    from ganlab.data import TFRecordImageDataset

    return (isinstance(dataset, TFRecordImageDataset)
            and type(dataset).load is TFRecordImageDataset.load)


def _filled(cached: Any, fill: bool) -> Any:
    """``cached``, after one pass to its end (which completes a ``tf.data`` cache) if ``fill``."""
    if fill:
        for _ in cached.batch(4096):
            pass
    return cached


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
