"""Reading ganlab TFRecords with ``tf.data``, and verifying them.

:func:`load_split` is what ``TFRecordImageDataset.load`` returns: shards
interleaved, records parsed and PNG-decoded in parallel, images scaled to
float32 [-1, 1] with a static shape. Batching, shuffling, caching and
prefetching are the training engine's business.

:func:`verify` reads every record of a folder (the CRC of each record is
checked by ``TFRecordDataset``), decodes every image, and compares counts
and shapes with the manifest, naming the shard and record of any problem.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ganlab.data import features
from ganlab.data.manifest import (
    ALL_SPLITS,
    matches,
    option_differences,
    options_fingerprint,
    read_manifest,
    shard_problems,
    shard_records,
)
from ganlab.errors import DataError

#: Shards read at once by the interleave. Fixed (not AUTOTUNE, which follows
#: the core count) so that a deterministic read gives the same order on
#: every machine.
MAX_CYCLE_LENGTH = 16
#: Read buffer per open shard (bytes).
READ_BUFFER_BYTES = 4 * 2**20


def load_split(dataset: Any, split: str, *, with_metadata: bool = False,
               deterministic: bool = False, as_uint8: bool = False) -> tf.data.Dataset:
    """The unbatched ``tf.data.Dataset`` of one split of ``dataset``'s TFRecords.

    Args:
        dataset: A :class:`~ganlab.data.TFRecordImageDataset` (``tfrecords``
            and ``options()`` are used).
        split: A stored split, or ``all`` for every split.
        with_metadata: Yield dicts (``image``, ``label``, ``attributes``,
            ``filename``, ``partition``) instead of bare images.
        deterministic: Keep the record order fixed.
        as_uint8: Yield the decoded ``uint8`` pixels instead of float32 in
            [-1, 1] (a quarter of the bytes, for a cache of decoded images).

    Raises:
        DataError: The TFRecords are missing, were prepared with other
            options, miss a shard or have a truncated one, or have no such
            split (the message lists the available ones).

    """
    manifest = read_manifest(dataset.tfrecords)
    options = dict(dataset.options())
    if not matches(manifest, options_fingerprint(options)):
        differences = option_differences(manifest, options) or ["format version"]
        raise DataError(
            f"The TFRecords in {dataset.tfrecords} were prepared with other options "
            f"({'; '.join(differences)}). Prepare them again with `ganlab prepare "
            "EXPERIMENT.yaml --overwrite`.")
    return read_tfrecords(dataset.tfrecords, split, with_metadata=with_metadata,
                          deterministic=deterministic, manifest=manifest, as_uint8=as_uint8)


def read_tfrecords(folder: str | Path, split: str = ALL_SPLITS, *, with_metadata: bool = False,
                   deterministic: bool = False, manifest: Mapping[str, Any] | None = None,
                   as_uint8: bool = False) -> tf.data.Dataset:
    """Like :func:`load_split` for a TFRecord folder, without checking options.

    Raises:
        DataError: See :func:`load_split`.

    """
    folder = Path(folder)
    manifest = manifest if manifest is not None else read_manifest(folder)
    shards = [shard for shard in shard_records(manifest, split) if shard["count"]]
    problems = shard_problems(manifest, folder)
    if problems:
        raise DataError(f"The TFRecords in {folder} are damaged: {'; '.join(problems[:5])}. "
                        "Prepare them again with `ganlab prepare EXPERIMENT.yaml --overwrite`.")
    files = [str(folder / shard["file"]) for shard in shards]
    shape = tuple(int(n) for n in manifest["image_shape"])
    parse = _record_parser(shape, int(manifest.get("attributes_length", 0)), with_metadata,
                           as_uint8)
    records = tf.data.Dataset.from_tensor_slices(tf.constant(files, dtype=tf.string))
    records = records.interleave(
        lambda path: tf.data.TFRecordDataset(path, buffer_size=READ_BUFFER_BYTES),
        cycle_length=max(1, min(len(files), MAX_CYCLE_LENGTH)), block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    images = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE,
                         deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    return images.with_options(options)


def _record_parser(shape: tuple[int, ...], attributes_length: int, with_metadata: bool,
                   as_uint8: bool = False) -> Any:
    """A function mapping one serialized record to an image (or a dict)."""
    spec = features.parse_spec(attributes_length)

    def parse(record: tf.Tensor) -> Any:
        parsed = tf.io.parse_single_example(record, spec)
        image = tf.io.decode_png(parsed[features.ENCODED], channels=shape[2])
        # ensure_shape both sets the static shape and checks it at run time.
        image = tf.ensure_shape(image, shape)
        if not as_uint8:
            image = to_training_range(image)
        if not with_metadata:
            return image
        attributes = (parsed[features.ATTRIBUTES] if attributes_length
                      else tf.zeros([0], tf.int64))
        return {
            "image": image,
            "label": parsed[features.LABEL],
            "attributes": attributes,
            "filename": parsed[features.FILENAME],
            "partition": parsed[features.PARTITION],
        }

    return parse


def to_training_range(image: tf.Tensor) -> tf.Tensor:
    """Decoded ``uint8`` pixels as the float32 [-1, 1] images training reads."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


# -- verification -------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What :func:`verify` checked.

    Attributes:
        records: Records read and decoded.
        shards: Shards read.
        counts: Records per split.
        seconds: Wall time.

    """

    records: int
    shards: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def verify(tfrecords_dir: str | Path) -> VerifyReport:
    """Read every record of a TFRecord folder and decode every image.

    Checks each record's CRC (``TFRecordDataset`` does), that every record
    parses and its PNG decodes to the manifest's image shape, that every
    shard is present with the recorded size, and that the counts match the
    manifest.

    Raises:
        DataError: Any problem; the message names the shard (and the record
            index, counted from 0 within the shard) of each.

    """
    started = time.monotonic()
    folder = Path(tfrecords_dir)
    manifest = read_manifest(folder)
    shape = tuple(int(n) for n in manifest["image_shape"])
    spec = features.parse_spec(int(manifest.get("attributes_length", 0)))
    problems = shard_problems(manifest, folder)
    report = VerifyReport(records=0, shards=0)
    for split, info in manifest["splits"].items():
        report.counts[split] = 0
        for shard in info["shards"]:
            path = folder / shard["file"]
            if not path.exists():
                continue
            count, problem = _scan_shard(path, shape, spec)
            report.shards += 1
            report.records += count
            report.counts[split] += count
            if problem:
                problems.append(problem)
            elif count != shard["count"]:
                problems.append(f"shard {path.name} holds {count} records, the manifest "
                                f"records {shard['count']}")
    if problems:
        shown = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
        raise DataError(f"The TFRecords in {folder} failed verification ({len(problems)} "
                        f"problem{'s' if len(problems) > 1 else ''}): {shown}. Prepare them "
                        "again with `ganlab prepare EXPERIMENT.yaml --overwrite`.")
    report.seconds = time.monotonic() - started
    return report


def _shape_of(spec: Mapping[str, Any]) -> Any:
    def shape_of(record: tf.Tensor) -> tf.Tensor:
        parsed = tf.io.parse_single_example(record, spec)
        return tf.shape(tf.io.decode_png(parsed[features.ENCODED], channels=0))

    return shape_of


def _scan_shard(path: Path, shape: tuple[int, ...],
                spec: Mapping[str, Any]) -> tuple[int, str | None]:
    """``(records read, problem or None)`` for one shard.

    A fast parallel pass first; only when it fails is the shard read again
    record by record, to name the index of the first bad record.
    """
    shape_of = _shape_of(spec)
    records = tf.data.TFRecordDataset(str(path), buffer_size=READ_BUFFER_BYTES)
    shapes = records.map(shape_of, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    count = 0
    try:
        for batch in shapes.batch(1024):
            found = batch.numpy()
            bad = np.flatnonzero((found != np.asarray(shape)).any(axis=1))
            if bad.size:
                index = count + int(bad[0])
                return count + len(found), (f"shard {path.name} record {index}: image is "
                                            f"{tuple(found[bad[0]])}, the manifest says "
                                            f"{shape}")
            count += len(found)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError):
        return _scan_slowly(path, shape_of)
    return count, None


def _scan_slowly(path: Path, shape_of: Any) -> tuple[int, str]:
    """Record-by-record scan of a shard known to be bad."""
    index = 0
    iterator = iter(tf.data.TFRecordDataset(str(path)))
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return index, f"shard {path.name}: unreadable (a problem found on a first pass)"
        except tf.errors.OpError as exc:
            return index, (f"shard {path.name} record {index}: unreadable record "
                           f"({_first_line(exc)}; truncated or corrupted)")
        try:
            shape_of(record)
        except tf.errors.OpError as exc:
            return index, f"shard {path.name} record {index}: cannot decode ({_first_line(exc)})"
        index += 1


def _first_line(exc: tf.errors.OpError) -> str:
    """The readable part of a TensorFlow op error (without its graph-internal wrapping)."""
    text = (exc.message or str(exc)).strip().splitlines()[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text)
    return text.rstrip(". ")


def read_error(tfrecords_dir: str | Path, error: BaseException) -> DataError:
    """A :class:`DataError` explaining a failure while iterating the TFRecords.

    For the training engine: when iterating a dataset from :func:`load_split`
    raises ``tf.errors.DataLossError`` (a bad CRC) or
    ``InvalidArgumentError`` (an undecodable image), call this to get an
    error naming the bad shard and record (it runs :func:`verify`).
    """
    try:
        verify(tfrecords_dir)
    except DataError as found:
        return found
    return DataError(f"Reading the TFRecords in {tfrecords_dir} failed ({error}), yet they "
                     "verify correctly now; check the disk, then run `ganlab prepare "
                     "EXPERIMENT.yaml --verify`.")
