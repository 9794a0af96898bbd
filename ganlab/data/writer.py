"""Writing a dataset's raw files as sharded TFRecords plus a manifest.

One writer for every dataset. It is:

- **streaming**: a shard is written example by example; no process holds
  more than the example it is encoding, whatever the dataset's size.
- **parallel**: shards are written by a pool of ``spawn``-ed processes
  (TensorFlow is not fork-safe), each writing whole shards; ``workers=1``
  writes in-process.
- **atomic**: everything goes into a sibling folder
  ``<tfrecords>.partial-<pid>``; the manifest is written last and the folder
  renamed into place only when complete. An interrupted prepare leaves no
  manifest at ``<tfrecords>`` and so is never mistaken for a finished one,
  and finished data being overwritten stays in place until the new data is
  complete.
- **idempotent**: a finished folder whose options fingerprint matches is
  reused as it is; one with another fingerprint is refused unless
  ``overwrite`` is asked for.
- **owning only its own files**: ganlab deletes or replaces only what it
  wrote (shards, the manifest, its temporary files and ``.ganlab*`` caches,
  see :func:`foreign_entries`). A folder holding anything else is never
  replaced, ``overwrite`` or not: the refusal names what is there.

Notes from workers: :meth:`~ganlab.data.TFRecordImageDataset.prepare_notes`
is called in the parent after ``plan()``, and around every shard in the
process that writes it; the increase of every numeric note during a shard is
added to the parent's value. A plugin that counts things in ``decode`` (say,
clipped boxes) just keeps counters on ``self`` and returns them.

Skipped images are named by ``SkipExample.filename`` when the exception has
one, else by the work item (a path or string, or the first element of a
tuple item).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganlab import __version__
from ganlab.contracts import class_names_of, num_classes_of
from ganlab.data import features
from ganlab.data.base import PrepareReport, SkipExample, TFRecordImageDataset
from ganlab.data.fingerprint import current_source_fingerprint, source_changed
from ganlab.data.manifest import (
    ALL_SPLITS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    ManifestNeedsRewrite,
    canonical_json,
    matches,
    option_differences,
    options_fingerprint,
    read_manifest,
    shard_name,
    shard_problems,
    write_manifest,
)
from ganlab.data.ownership import (
    describe_names,
    foreign_entries,
    recover_stale_siblings,
    remove_own_folder,
    sibling,
)
from ganlab.data.pool import run_in_pool, sigterm_stops_prepare
from ganlab.errors import DataError

#: Shards aim at this many bytes (estimated from the raw image size).
TARGET_SHARD_BYTES = 64 * 2**20
#: A split is cut into at least ``workers`` shards only if each gets this many.
MIN_EXAMPLES_PER_SHARD = 1000
#: The default worker count starts a process per this many examples: a
#: worker costs a TensorFlow start-up (seconds), worth it only for large data.
MIN_EXAMPLES_PER_WORKER = 10_000
#: Estimated bytes of record framing and features besides the image.
_RECORD_OVERHEAD = 128

_SPLIT_PATTERN = re.compile(r"[A-Za-z0-9_]+")

#: ``progress(result, shards_done, shards_total)`` after each shard.
Progress = Callable[["ShardResult", int, int], None]


@dataclass(frozen=True)
class ShardJob:
    """One shard to write: a slice of one split's work items."""

    split: str
    index: int
    total: int
    items: Sequence[Any]
    folder: str

    @property
    def file(self) -> str:
        """The shard's file name."""
        return shard_name(self.split, self.index, self.total)


@dataclass
class ShardResult:
    """What writing one shard produced."""

    split: str
    index: int
    file: str
    count: int
    bytes: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    attributes_length: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


# -- public API ---------------------------------------------------------------------------------
def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def is_prepared(dataset: TFRecordImageDataset) -> bool:
    """Finished TFRecords with ``dataset``'s fingerprint and intact shard sizes exist.

    They must also hold the raw files as they are now: TFRecords prepared
    from raw files that have changed since are stale (not prepared).
    """
    try:
        manifest = read_manifest(dataset.tfrecords)
    except DataError:
        return False
    fingerprint = options_fingerprint(dataset.options())
    return (matches(manifest, fingerprint) and not shard_problems(manifest, dataset.tfrecords)
            and not source_changed(manifest.get("source_fingerprint"),
                                   current_source_fingerprint(dataset)))


def staleness(dataset: Any) -> str | None:
    """Why ``dataset``'s finished TFRecords are stale (raw files changed since), else ``None``."""
    if not isinstance(dataset, TFRecordImageDataset):
        return None
    try:
        manifest = read_manifest(dataset.tfrecords)
    except DataError:
        return None
    current = current_source_fingerprint(dataset)
    if source_changed(manifest.get("source_fingerprint"), current):
        return stale_message(dataset, manifest, current)
    return None


def stale_message(dataset: TFRecordImageDataset, manifest: Mapping[str, Any],
                  current: str | None) -> str:
    """Why TFRecords prepared from raw files that changed since are not used, and the remedy."""
    return (f"The raw data changed since the TFRecords in {dataset.tfrecords} were prepared "
            f"from it ({dataset.describe_source()}): they were written from "
            f"{manifest.get('source_fingerprint')}, the source now holds {current}. ganlab "
            "will not use records of the old files as if they were the new ones: prepare them "
            "again with `ganlab prepare EXPERIMENT.yaml --overwrite` (the old ones stay until "
            "the new ones are complete), or point `tfrecords` at another folder.")


def prepare(dataset: TFRecordImageDataset, *, workers: int | None = None,
            overwrite: bool = False, progress: Progress | None = None,
            shards: int | None = None) -> PrepareReport:
    """Write ``dataset`` as sharded TFRecords (or reuse the finished ones).

    Args:
        dataset: The dataset; its ``tfrecords`` folder is the output.
        workers: Writer processes; default: the dataset's ``workers``
            attribute if set, else one per ``MIN_EXAMPLES_PER_WORKER``
            examples up to the core count. ``1`` writes in-process.
        overwrite: Replace finished TFRecords written with other options.
        progress: Called after each shard is written.
        shards: Write at least this many shards per split (at most one per
            image), e.g. one per worker of a multi-worker cluster, which then
            reads its own shards only. Finished TFRecords with the same
            options but fewer shards are written again.

    Returns:
        What was done; ``reused`` is true when nothing was written.

    Raises:
        DataError: The source is missing or unusable, the output folder holds
            other data, a finished folder has other options (and not
            ``overwrite``), an image failed with ``on_error: fail``, or
            writing failed (disk full): finished data is left as it was.

    """
    started = time.monotonic()
    # The real folder: a symlinked output is replaced on its own filesystem.
    target = Path(dataset.tfrecords).expanduser().resolve()
    options = dict(dataset.options())
    fingerprint = options_fingerprint(options)
    # Before anything is read: a file changed while it is read shows next time.
    source = current_source_fingerprint(dataset)
    recover_stale_siblings(target)
    existing = _existing_manifest(target, overwrite, options)
    if existing is not None and not (matches(existing, fingerprint)
                                     and _too_few_shards(existing, shards)):
        reused = _reuse_or_refuse(dataset, existing, options, fingerprint, overwrite, source)
        if reused is not None:
            reused.seconds = time.monotonic() - started
            return reused
    plan = _checked_plan(dataset)
    class_names_of(dataset)  # a bad num_classes or class_names fails before any writing
    base_notes = dict(dataset.prepare_notes())
    total = sum(len(items) for items in plan.values())
    workers = _resolve_workers(workers if workers is not None
                               else getattr(dataset, "workers", None), total)
    partial = sibling(target, "partial", os.getpid())
    jobs = _make_jobs(plan, dataset.image_shape, workers, str(partial), shards or 1)
    with sigterm_stops_prepare():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.mkdir()
        except OSError as exc:
            raise DataError(f"Cannot create the TFRecord folder {partial}: {exc}.") from None
        try:
            results = _run_jobs(dataset, jobs, workers, progress)
            manifest = _build_manifest(dataset, options, fingerprint, list(plan), results,
                                       base_notes, workers, time.monotonic() - started)
            manifest["source_fingerprint"] = source
            write_manifest(partial, manifest)
            _fsync_dir(partial)
            _swap_into_place(partial, target)
        except OSError as exc:  # e.g. the disk filled while writing the manifest
            _remove_partial(partial)
            raise DataError(f"Writing the TFRecords to {target} failed: {exc}. The prepare "
                            "was abandoned; finished TFRecords (if any) were left as they "
                            "were.") from None
        except BaseException:
            _remove_partial(partial)
            raise
    return PrepareReport(
        reused=False,
        counts={split: info["count"] for split, info in manifest["splits"].items()},
        skipped=[(entry["filename"], entry["reason"]) for entry in manifest["skipped"]],
        notes=manifest["notes"],
        seconds=time.monotonic() - started,
    )


# -- the existing output ------------------------------------------------------------------------
def _remove_partial(partial: Path) -> None:
    with contextlib.suppress(OSError):
        remove_own_folder(partial)


def _refuse_foreign(target: Path, foreign: Sequence[str], finished: bool) -> None:
    what = "finished ganlab TFRecords and " if finished else ""
    raise DataError(
        f"The TFRecord folder {target} holds {what}files ganlab did not write: "
        f"{describe_names(foreign)}. ganlab only ever deletes or replaces what it wrote "
        "itself and does not write over folders it did not make: move those files elsewhere, "
        "or point the "
        "dataset's `tfrecords` parameter at a new or empty folder.")


def _existing_manifest(target: Path, overwrite: bool,
                       options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manifest of a finished output at ``target``, ``None`` when it may be written.

    Raises:
        DataError: ``target`` holds something ganlab must not replace.

    """
    if not target.exists():
        return None
    if not target.is_dir():
        raise DataError(f"The TFRecord output {target} is a file, not a folder. Point the "
                        "dataset's `tfrecords` parameter at a folder.")
    try:
        if not any(target.iterdir()):
            return None
        foreign = foreign_entries(target)
    except OSError as exc:
        raise DataError(f"Cannot list the TFRecord folder {target}: {exc.strerror or exc}. "
                        "Check its permissions, or point `tfrecords` elsewhere.") from None
    if not (target / MANIFEST_NAME).exists():
        if foreign:
            _refuse_foreign(target, foreign, finished=False)
        if overwrite:
            return None
        raise DataError(
            f"The TFRecord output folder {target} exists and is not a finished ganlab TFRecord "
            f"folder (it has shard files but no {MANIFEST_NAME}: an interrupted prepare?). "
            "Pass --overwrite to replace them, or point `tfrecords` at a new or empty folder.")
    try:
        manifest = read_manifest(target)
    except DataError as exc:
        if foreign:
            _refuse_foreign(target, foreign, finished=True)
        if overwrite:
            return None
        if isinstance(exc, ManifestNeedsRewrite):  # read_manifest already gave the remedy
            raise
        raise DataError(f"{exc} Pass --overwrite (or overwrite=True) to replace the folder "
                        f"{target}.") from None
    if foreign and not matches(manifest, options_fingerprint(options)):
        _refuse_foreign(target, foreign, finished=True)
    return manifest


def _reuse_or_refuse(dataset: TFRecordImageDataset, manifest: dict[str, Any],
                     options: Mapping[str, Any], fingerprint: str,
                     overwrite: bool, source: str | None = None) -> PrepareReport | None:
    """A reuse report, or ``None`` when the data is to be rewritten.

    ``overwrite`` always rewrites: it is the remedy for data that ganlab
    cannot tell is stale (a dataset without a source fingerprint).

    Raises:
        DataError: The finished data differs, is damaged, or was prepared
            from raw files that have changed since (``source``: the raw
            files' fingerprint now), and ``overwrite`` was not asked for.

    """
    target = Path(dataset.tfrecords).expanduser().resolve()
    if overwrite:
        foreign = foreign_entries(target)
        if foreign:
            _refuse_foreign(target, foreign, finished=True)
        return None
    if matches(manifest, fingerprint):
        if source_changed(manifest.get("source_fingerprint"), source):
            raise DataError(stale_message(dataset, manifest, source))
        problems = shard_problems(manifest, target)
        if not problems:
            return PrepareReport(
                reused=True,
                counts={split: int(info["count"]) for split, info in manifest["splits"].items()},
                skipped=[(e["filename"], e["reason"]) for e in manifest.get("skipped", [])],
                notes=dict(manifest.get("notes", {})),
            )
        if not overwrite:
            raise DataError(
                f"The finished TFRecords in {target} are damaged: {'; '.join(problems[:5])}. "
                "Prepare them again with `ganlab prepare EXPERIMENT.yaml --overwrite`.")
        foreign = foreign_entries(target)
        if foreign:
            _refuse_foreign(target, foreign, finished=True)
        return None
    if overwrite:
        return None
    differences = option_differences(manifest, options)
    if not differences:
        raise DataError(
            f"The manifest of the TFRecords in {target} records the same options as the "
            "experiment but another fingerprint: dataset.json was edited or damaged, so "
            "ganlab cannot trust that the records match. Prepare them again with `ganlab "
            "prepare EXPERIMENT.yaml --overwrite` (or point `tfrecords` at another folder).")
    raise DataError(
        f"The TFRecords in {target} were prepared with other options "
        f"({'; '.join(differences)}). Refusing to replace them: pass --overwrite "
        "(`ganlab prepare EXPERIMENT.yaml --overwrite`, or overwrite=True) to write the new "
        "ones (the old ones stay until the new ones are complete), or point `tfrecords` at "
        "another folder.")


# -- planning -----------------------------------------------------------------------------------
def _checked_plan(dataset: TFRecordImageDataset) -> dict[str, Sequence[Any]]:
    """The dataset's plan without empty splits, with usable split names."""
    plan = dataset.plan()
    checked: dict[str, Sequence[Any]] = {}
    for split, items in plan.items():
        if not _SPLIT_PATTERN.fullmatch(split) or split == ALL_SPLITS:
            raise ValueError(f"split name {split!r} from plan() must be letters, digits or '_' "
                             f"and not '{ALL_SPLITS}'")
        if len(items):
            checked[split] = items
    if not checked:
        raise DataError(f"No images to prepare: {dataset.describe_source()} lists none. "
                        "Check the dataset's `source` parameter.")
    return checked


def max_workers() -> int:
    """The most writer processes a prepare may start: the usable cores, at least 2.

    Each worker is a whole TensorFlow process (hundreds of MB); more of them
    than cores only costs memory.
    """
    return max(2, default_workers())


def _resolve_workers(requested: int | None, total: int) -> int:
    if requested is None:
        return max(1, min(default_workers(), total // MIN_EXAMPLES_PER_WORKER))
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise DataError(f"workers must be a whole number, 1 or more, got {requested!r}.")
    if requested > max_workers():
        raise DataError(f"workers is {requested}, more than the {max_workers()} this machine "
                        f"allows (one per usable CPU core, at least 2): each worker is a whole "
                        f"TensorFlow process of hundreds of MB. Use --workers "
                        f"{max_workers()} or fewer.")
    return requested


def shard_count(examples: int, image_shape: tuple[int, int, int], workers: int) -> int:
    """How many shards a split of ``examples`` images gets.

    Enough shards of about :data:`TARGET_SHARD_BYTES` (estimated from the
    raw image size, an upper bound for PNG), and at least ``workers`` when
    each would still hold :data:`MIN_EXAMPLES_PER_SHARD` examples; small
    splits get one shard.
    """
    height, width, channels = image_shape
    estimate = examples * (height * width * channels + _RECORD_OVERHEAD)
    by_size = math.ceil(estimate / TARGET_SHARD_BYTES)
    by_workers = min(workers, examples // MIN_EXAMPLES_PER_SHARD)
    return max(1, by_size, by_workers)


def _too_few_shards(manifest: Mapping[str, Any], shards: int | None) -> bool:
    """Whether a split of ``manifest`` has fewer shards than ``shards`` asks (and images allow)."""
    return bool(shards) and any(
        len(info["shards"]) < min(int(shards), int(info["count"]))
        for info in manifest["splits"].values())


def _make_jobs(plan: Mapping[str, Sequence[Any]], image_shape: tuple[int, int, int],
               workers: int, folder: str, min_shards: int = 1) -> list[ShardJob]:
    """Contiguous, balanced slices of each split, one job per shard."""
    jobs = []
    for split, items in plan.items():
        total = max(shard_count(len(items), image_shape, workers),
                    min(min_shards, len(items)))
        bounds = [len(items) * i // total for i in range(total + 1)]
        jobs += [ShardJob(split, i, total, items[bounds[i]:bounds[i + 1]], folder)
                 for i in range(total)]
    return jobs


# -- writing ------------------------------------------------------------------------------------
def _item_name(item: Any) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, tuple) and item and isinstance(item[0], (str, os.PathLike)):
        return os.fspath(item[0])
    return repr(item)


def _numeric_increase(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value - before.get(key, 0) for key, value in after.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and value != before.get(key, 0)}


def write_shard(dataset: TFRecordImageDataset, job: ShardJob) -> ShardResult:
    """Write one shard, streaming; runs in a worker or in-process.

    Raises:
        DataError: An image raised ``SkipExample`` under ``on_error: fail``,
            or writing failed (the message names the shard).

    """
    import tensorflow as tf

    notes_before = dict(dataset.prepare_notes())
    path = Path(job.folder) / job.file
    result = ShardResult(job.split, job.index, job.file, 0, 0)
    current = "<opening the shard>"
    classes = num_classes_of(dataset)
    try:
        with tf.io.TFRecordWriter(str(path)) as writer:
            for item in job.items:
                current = _item_name(item)
                record = _encode_item(dataset, item, result, classes)
                if record is not None:
                    writer.write(record)
                    result.count += 1
        _fsync_file(path)
    except (OSError, tf.errors.OpError) as exc:
        message = getattr(exc, "message", None) or str(exc)
        raise DataError(f"Writing shard {job.file} failed at {current}: {message}. The prepare "
                        "was abandoned; finished TFRecords (if any) were left as they "
                        "were.") from None
    result.bytes = path.stat().st_size
    result.notes = _numeric_increase(notes_before, dataset.prepare_notes())
    return result


def _encode_item(dataset: TFRecordImageDataset, item: Any, result: ShardResult,
                 classes: int = 0) -> bytes | None:
    """The record of one item, or ``None`` when it was skipped (``classes``: the dataset's)."""
    try:
        example = dataset.decode(item)
    except SkipExample as exc:
        name = getattr(exc, "filename", None) or _item_name(item)
        if dataset.on_error == "fail":
            raise DataError(f"Cannot use {name}: {exc}. Stopped because on_error is 'fail'; "
                            "set the dataset's on_error to 'skip' to skip unreadable images "
                            "and list them in the manifest.") from None
        result.skipped.append((str(name), str(exc)))
        return None
    image = features.check_image(example.image, dataset.image_shape, example.filename)
    if classes and not 0 <= example.label < classes:
        raise ValueError(f"decode() gave label {example.label} for {example.filename!r}, but "
                         f"the dataset has num_classes {classes}: labels must be 0..{classes - 1}")
    length = len(example.attributes)
    if result.attributes_length is None:
        result.attributes_length = length
    elif length != result.attributes_length:
        raise ValueError(f"decode() gave {length} attributes for {example.filename!r} and "
                         f"{result.attributes_length} for earlier images; every example "
                         "needs the same number")
    return features.serialize_example(example, features.encode_png(image), dataset.image_shape)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as stream:
        os.fsync(stream.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported here (Windows): the rename is still atomic
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# -- running the jobs ---------------------------------------------------------------------------
def _run_jobs(dataset: TFRecordImageDataset, jobs: list[ShardJob], workers: int,
              progress: Progress | None) -> list[ShardResult]:
    results: list[ShardResult] = []

    def done(result: ShardResult) -> None:
        results.append(result)
        if progress:
            progress(result, len(results), len(jobs))

    processes = min(workers, len(jobs))
    if processes > 1:
        run_in_pool(dataset, jobs, processes, write_shard, done)
    else:
        for job in jobs:
            done(write_shard(dataset, job))
    return results


# -- the manifest and the swap ------------------------------------------------------------------
def _build_manifest(dataset: TFRecordImageDataset, options: Mapping[str, Any], fingerprint: str,
                    order: list[str], results: list[ShardResult], base_notes: Mapping[str, Any],
                    workers: int, seconds: float) -> dict[str, Any]:
    """The manifest of the finished shards.

    Raises:
        DataError: Every image was skipped.

    """
    splits: dict[str, dict[str, Any]] = {split: {"count": 0, "shards": []} for split in order}
    results = sorted(results, key=lambda r: (order.index(r.split), r.index))
    skipped = []
    notes = dict(base_notes)
    lengths = set()
    for result in results:
        splits[result.split]["count"] += result.count
        splits[result.split]["shards"].append(
            {"file": result.file, "count": result.count, "bytes": result.bytes})
        skipped += [{"split": result.split, "filename": name, "reason": reason}
                    for name, reason in result.skipped]
        for key, value in result.notes.items():
            notes[key] = notes.get(key, 0) + value
        if result.attributes_length is not None:
            lengths.add(result.attributes_length)
    _raise_if_nothing_written(dataset, splits, skipped)
    if len(lengths) > 1:
        raise ValueError(f"decode() gave different numbers of attributes: {sorted(lengths)}")
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ganlab_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
        "source": dataset.describe_source(),
        "options": _plain(options),
        "fingerprint": fingerprint,
        "image_shape": list(dataset.image_shape),
        "image_format": features.IMAGE_FORMAT,
        "attributes_length": lengths.pop() if lengths else 0,
        **_classes(dataset),
        "features": {name: kind for name, (kind, _) in features.FEATURES.items()},
        "total_count": sum(info["count"] for info in splits.values()),
        "splits": splits,
        "skipped_count": len(skipped),
        "skipped": skipped,
        "notes": _plain(notes),
        "prepared_with": {"workers": workers, "seconds": round(seconds, 3)},
    }


def _classes(dataset: TFRecordImageDataset) -> dict[str, Any]:
    """``num_classes`` and ``class_names`` for the manifest (nothing when the data has no classes).

    Raises:
        ValueError: The dataset's ``num_classes`` or ``class_names`` is invalid.

    """
    names = class_names_of(dataset)
    return {"num_classes": len(names), "class_names": names} if names else {}


def _plain(value: Mapping[str, Any]) -> Any:
    """JSON-ready copy (tuples → lists, paths → strings)."""
    return json.loads(canonical_json(dict(value)))


def _raise_if_nothing_written(dataset: TFRecordImageDataset, splits: Mapping[str, Any],
                              skipped: list[dict[str, str]]) -> None:
    if any(info["count"] for info in splits.values()):
        return
    reasons = "; ".join(f"{e['filename']}: {e['reason']}" for e in skipped[:3])
    raise DataError(f"No image of {dataset.describe_source()} could be read: all "
                    f"{len(skipped)} were skipped (first: {reasons}). Nothing was written.")


def _swap_into_place(partial: Path, target: Path) -> None:
    """Rename the complete ``partial`` folder to ``target``.

    Finished data already at ``target`` is moved aside first and deleted only
    after the new folder is in place; if the process dies in between, the
    next prepare puts it back (see :func:`ganlab.data.ownership.recover_stale_siblings`).
    """
    if target.exists():
        old = sibling(target, "old", os.getpid())
        os.rename(target, old)
        try:
            os.rename(partial, target)
        except BaseException:
            os.rename(old, target)
            raise
        _remove_partial(old)
    else:
        os.rename(partial, target)
    _fsync_dir(target.parent)
