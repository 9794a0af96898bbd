"""A grid of real training images for the report, read cheaply from a run's TFRecords.

Beside a run's samples the report shows real images of its dataset: the
run's own ``samples/real.png`` when it has one, else images of the training
split of the TFRecord folder its config names (``dataset.params.tfrecords``),
as stored (before the dataset's load-time transforms), spread evenly over
its first shard(s). No TensorFlow: the TFRecord
framing (length, CRC, record, CRC) is read by hand and each record's PNG is
found by its signature and chunk structure, so a comparison stays fast and
imports nothing heavy. The folder is hostile input like the rest of a run:
the manifest and shards are read as regular, bounded files, and any problem
means simply no grid (with a note).
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path

from ganlab.compare.collect import RunSummary
from ganlab.compare.files import MAX_IMAGE_PIXELS, MAX_SMALL_FILE, read_json_object

#: Real images in the grid.
GRID_IMAGES = 16
#: Largest TFRecord record read (bytes).
MAX_RECORD = 16 * 2**20
#: The manifest of a ganlab TFRecord folder.
MANIFEST = "dataset.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Warn = Callable[[str], None]


def tfrecord_folder(run: RunSummary) -> Path | None:
    """The run's TFRecord folder, if its config names one that exists."""
    named = run.config.get("dataset.params.tfrecords")
    if not isinstance(named, str) or not named or "\0" in named:
        return None
    path = Path(named).expanduser()
    candidates = [path] if path.is_absolute() else [
        Path(base) / path for base in (run.experiment_dir, os.getcwd()) if base]
    return next((c for c in candidates if (c / MANIFEST).is_file()), None)


def train_shards(folder: Path, warn: Warn) -> list[Path]:
    """The shard files of the manifest's training split (``train``, else its first split)."""
    manifest = read_json_object(folder / MANIFEST, MAX_SMALL_FILE, warn)
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not splits:
        return []
    split = splits.get("train", next(iter(splits.values())))
    shards = split.get("shards") if isinstance(split, dict) else None
    names = [s.get("file") for s in shards if isinstance(s, dict)] \
        if isinstance(shards, list) else []
    return [folder / n for n in names
            if isinstance(n, str) and n and Path(n).name == n and n not in (".", "..")]


#: Most record headers walked in a shard to spread the grid's images over it.
MAX_WALKED = 200_000


def records(path: Path, most: int) -> list[bytes]:
    """Up to ``most`` records spread evenly over a TFRecord file (CRCs not checked).

    The record headers are walked with seeks (a few bytes read per record),
    then the chosen records read: images from across the shard (a sorted
    dataset would otherwise show one class), at the cost of one small read
    per record.
    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return []
        with os.fdopen(os.dup(handle), "rb") as stream:
            spans = _record_spans(stream)
            step = max(1, len(spans) // max(1, most))
            found = []
            for offset, length in spans[::step][:most]:
                stream.seek(offset)
                data = stream.read(length)
                if len(data) == length:
                    found.append(data)
            return found
    except OSError:
        return []
    finally:
        os.close(handle)


def _record_spans(stream: io.BufferedReader) -> list[tuple[int, int]]:
    """``(offset, length)`` of each record's data, until the file or the framing ends."""
    spans: list[tuple[int, int]] = []
    offset = 0
    while len(spans) < MAX_WALKED:
        stream.seek(offset)
        header = stream.read(12)
        if len(header) < 12:
            break
        (length,) = struct.unpack("<Q", header[:8])
        if length > MAX_RECORD:
            break
        spans.append((offset + 12, length))
        offset += 12 + length + 4
    size = stream.seek(0, os.SEEK_END)
    return [(o, n) for o, n in spans if o + n + 4 <= size]


def embedded_png(record: bytes) -> bytes | None:
    """The PNG inside a serialized example: from its signature to the end of its IEND chunk."""
    start = record.find(PNG_SIGNATURE)
    if start < 0:
        return None
    position = start + len(PNG_SIGNATURE)
    while position + 12 <= len(record):
        (length,) = struct.unpack(">I", record[position:position + 4])
        kind = record[position + 4:position + 8]
        position += 12 + length
        if kind == b"IEND":
            return record[start:position] if position <= len(record) else None
    return None


def real_grid_png(run: RunSummary, count: int = GRID_IMAGES) -> bytes | None:
    """A PNG grid of ``count`` training images of the run's TFRecords, or ``None``."""
    import numpy as np
    from PIL import Image

    from ganlab.images import tile

    folder = tfrecord_folder(run)
    if folder is None:
        return None
    images = []
    for shard in train_shards(folder, lambda message: None)[:4]:
        for record in records(shard, count - len(images)):
            data = embedded_png(record)
            if data is None:
                continue
            try:
                with Image.open(io.BytesIO(data)) as image:
                    if image.width * image.height > MAX_IMAGE_PIXELS // count:
                        return None
                    pixels = np.asarray(image.convert("L" if image.mode in ("L", "1", "I")
                                                      else "RGB"))
            except Exception:  # a damaged record: no grid rather than a failed report
                return None
            images.append(pixels[..., None] if pixels.ndim == 2 else pixels)
        if len(images) >= count:
            break
    if not images or any(i.shape != images[0].shape for i in images):
        return None
    buffer = io.BytesIO()
    grid = tile(np.stack(images))
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(buffer, format="PNG")
    return buffer.getvalue()
