"""The ``dataset.json`` manifest that sits beside the TFRecord shards.

The manifest is written last, after every shard is complete, so its
presence is what makes a TFRecord folder *finished*. It records what was
written (counts and byte sizes per split and shard), with which options
(and their fingerprint), from what source, and what was skipped.

This module does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganlab.atomic import atomic_write
from ganlab.errors import DataError


class ManifestNeedsRewrite(DataError):
    """The manifest is damaged or of another version; the message says to prepare again."""


#: File name of the manifest inside a TFRecord folder.
MANIFEST_NAME = "dataset.json"
#: Value of the manifest's ``format`` field.
FORMAT_NAME = "ganlab-tfrecord"
#: Bumped whenever the bytes written for the same options change meaning.
FORMAT_VERSION = 1
#: The split name that :func:`split_names` expands to every stored split.
ALL_SPLITS = "all"


def shard_name(split: str, index: int, total: int) -> str:
    """``<split>-%05d-of-%05d.tfrecord``, the TF-slim/TFDS shard naming."""
    return f"{split}-{index:05d}-of-{total:05d}.tfrecord"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, the input of fingerprints.

    Raises:
        TypeError: ``value`` holds something JSON cannot represent (paths
            are turned into strings; anything else is a plugin bug).

    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"dataset option value {value!r} ({type(value).__name__}) is not "
                    "JSON-serialisable; options must be plain str/int/float/bool/list/dict")


def options_fingerprint(options: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``options`` plus the format version.

    Two prepares with the same fingerprint write the same records, so a
    finished folder with a matching fingerprint can be reused as it is.
    """
    payload = canonical_json({"format_version": FORMAT_VERSION, "options": dict(options)})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def manifest_path(folder: str | Path) -> Path:
    """Where the manifest of ``folder`` lives."""
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and sanity-check the manifest of a finished TFRecord folder.

    Raises:
        DataError: The folder has no manifest (never prepared, or a prepare
            was interrupted), or the manifest is unreadable or of another
            format version.

    """
    path = manifest_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"No finished TFRecords in {folder}: {MANIFEST_NAME} is missing (the data was "
            "never prepared there, or a prepare was interrupted). Run `ganlab prepare "
            "EXPERIMENT.yaml` to write them.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read the TFRecord manifest {path}: {exc}.") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestNeedsRewrite(
            f"The TFRecord manifest {path} is not valid JSON ({exc}). Prepare the data again "
            "with `ganlab prepare EXPERIMENT.yaml --overwrite`.") from None
    _check_structure(manifest, path)
    return manifest


def _check_structure(manifest: Any, path: Path) -> None:
    """Refuse manifests that are not ours, of another format version, or damaged."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise DataError(f"{path} is not a ganlab TFRecord manifest (no \"format\": "
                        f"\"{FORMAT_NAME}\").")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or not _is_int(version):
        raise ManifestNeedsRewrite(
            f"{path} was written in TFRecord format version {version!r}, this ganlab reads "
            f"version {FORMAT_VERSION}. Prepare the data again with "
            "`ganlab prepare EXPERIMENT.yaml --overwrite`.")
    problems = manifest_problems(manifest)
    if problems:
        raise ManifestNeedsRewrite(
            f"The TFRecord manifest {path} is damaged: {'; '.join(problems[:5])}. "
            "It is written by ganlab only; prepare the data again with `ganlab "
            "prepare EXPERIMENT.yaml --overwrite`.")


#: Largest image side and channel count a manifest may record.
MAX_IMAGE_SIDE = 8192
MAX_CHANNELS = 4
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_]+")
_SHARD_FILE = re.compile(r"[A-Za-z0-9_]+-\d{5,}-of-\d{5,}\.tfrecord")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count_problem(value: Any, where: str) -> list[str]:
    if not _is_int(value) or value < 0:
        return [f"{where} is {value!r}, expected a whole number >= 0"]
    return []


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Every field of a manifest checked for type and range (``[]``: sound)."""
    problems = []
    shape = manifest.get("image_shape")
    if (not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(v) for v in shape)
            or not (1 <= shape[0] <= MAX_IMAGE_SIDE and 1 <= shape[1] <= MAX_IMAGE_SIDE
                    and 1 <= shape[2] <= MAX_CHANNELS)):
        problems.append(f"image_shape is {shape!r}, expected [height, width, channels] with "
                        f"sides 1..{MAX_IMAGE_SIDE} and 1..{MAX_CHANNELS} channels")
    for key, kind in (("fingerprint", str), ("options", dict), ("notes", dict),
                      ("skipped", list)):
        if key in manifest and not isinstance(manifest[key], kind):
            problems.append(f"{key} is {manifest[key]!r}, expected a {kind.__name__}")
    if not isinstance(manifest.get("fingerprint"), str):
        problems.append("fingerprint is missing")
    source = manifest.get("source_fingerprint")
    if source is not None and not isinstance(source, str):
        problems.append(f"source_fingerprint is {source!r}, expected a string or null")
    for key in ("total_count", "skipped_count", "attributes_length"):
        if key in manifest:
            problems += _count_problem(manifest[key], key)
    problems += _class_problems(manifest)
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not splits:
        return problems + [f"splits is {splits!r}, expected a mapping of split names"]
    for name, info in splits.items():
        problems += _split_problems(name, info)
    return problems


def _class_problems(manifest: Mapping[str, Any]) -> list[str]:
    """``num_classes`` and ``class_names`` checked (manifests without them have no classes)."""
    from ganlab.contracts import check_class_names, is_class_count

    count = manifest.get("num_classes", 0)
    if not is_class_count(count):
        return [f"num_classes is {count!r}, expected 0 or a whole number from 2"]
    if "class_names" not in manifest:
        return []
    try:
        check_class_names(manifest["class_names"], count)
    except (TypeError, ValueError) as exc:
        return [str(exc)]
    return []


def manifest_classes(manifest: Mapping[str, Any]) -> list[str]:
    """The class names a manifest records: ``class_names``, else ``"0" .. "K-1"``, else ``[]``.

    Manifests written before class names were recorded have neither field.
    """
    names = manifest.get("class_names")
    if isinstance(names, list):
        return [str(name) for name in names]
    count = manifest.get("num_classes", 0)
    return [str(index) for index in range(count)] if isinstance(count, int) else []


def _split_problems(name: str, info: Any) -> list[str]:
    where = f"splits.{name}"
    if not _SPLIT_NAME.fullmatch(name):
        return [f"split name {name!r} is not letters, digits and '_'"]
    if not isinstance(info, dict) or not isinstance(info.get("shards"), list):
        return [f"{where} has no list of shards"]
    problems = _count_problem(info.get("count"), f"{where}.count")
    for index, shard in enumerate(info["shards"]):
        at = f"{where}.shards[{index}]"
        if not isinstance(shard, dict):
            problems.append(f"{at} is not a mapping")
            continue
        file = shard.get("file")
        if not isinstance(file, str) or not _SHARD_FILE.fullmatch(file):
            problems.append(f"{at}.file is {file!r}, expected a shard name such as "
                            f"{shard_name(name, 0, 1)} (no folders)")
        problems += _count_problem(shard.get("count"), f"{at}.count")
        problems += _count_problem(shard.get("bytes"), f"{at}.bytes")
    return problems


def write_manifest(folder: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest`` into ``folder`` atomically (temporary file, fsync, rename)."""
    path = manifest_path(folder)
    with atomic_write(path, "w", encoding="utf-8") as stream:
        json.dump(manifest, stream, indent=2, sort_keys=False, ensure_ascii=False)
        stream.write("\n")
    return path


def split_names(manifest: Mapping[str, Any], split: str) -> list[str]:
    """The stored splits that ``split`` means (``all`` = every stored split).

    Raises:
        DataError: ``split`` is not stored; the message lists the splits that are.

    """
    stored = list(manifest["splits"])
    if split in stored:
        return [split]
    if split == ALL_SPLITS:
        return stored
    raise DataError(f"The TFRecords have no split '{split}'. Available splits: "
                    f"{', '.join(stored) or 'none'} (or '{ALL_SPLITS}' for every split).")


def split_count(manifest: Mapping[str, Any], split: str) -> int:
    """Number of examples stored in ``split`` (``all`` sums every split).

    Raises:
        DataError: Unknown split (the message lists the available ones).

    """
    return sum(int(manifest["splits"][name]["count"]) for name in split_names(manifest, split))


def shard_records(manifest: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    """The shard entries (``file``, ``count``, ``bytes``) of ``split``, in order."""
    return [shard for name in split_names(manifest, split)
            for shard in manifest["splits"][name]["shards"]]


def shard_problems(manifest: Mapping[str, Any], folder: str | Path) -> list[str]:
    """Shards that are missing or whose size differs from the manifest's record.

    A cheap check (no reading): it catches deleted and truncated shards.
    """
    folder = Path(folder)
    problems = []
    for split in manifest["splits"]:
        for shard in manifest["splits"][split]["shards"]:
            path = folder / shard["file"]
            try:
                size = path.stat().st_size
            except OSError:
                problems.append(f"shard {path.name} is missing")
                continue
            if size != shard["bytes"]:
                problems.append(f"shard {path.name} has {size} bytes, the manifest records "
                                f"{shard['bytes']} (truncated or modified)")
    return problems


def matches(manifest: Mapping[str, Any], fingerprint: str) -> bool:
    """Whether ``manifest`` was written with the options of ``fingerprint``."""
    return manifest.get("fingerprint") == fingerprint


def option_differences(manifest: Mapping[str, Any], options: Mapping[str, Any]) -> list[str]:
    """Human-readable ``key: stored → wanted`` differences, for refusal messages."""
    stored = manifest.get("options") or {}
    wanted = json.loads(canonical_json(dict(options)))
    keys = sorted(set(stored) | set(wanted))
    return [f"{key}: {stored.get(key, '<unset>')!r} → {wanted.get(key, '<unset>')!r}"
            for key in keys if stored.get(key, "<unset>") != wanted.get(key, "<unset>")]
