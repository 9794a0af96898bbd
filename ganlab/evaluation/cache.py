"""The real-data statistics cache, beside the TFRecords.

Real statistics depend only on the data and the feature extractor, so they
are computed once and kept in ``<tfrecords>/.ganlab-eval-cache/`` as ``.npz`` files
(numpy arrays only; read with ``allow_pickle=False``). An entry is keyed by
everything that changes it:

- the dataset's fingerprint (``dataset.json``: the options the TFRecords
  were prepared with) and the fingerprint of the raw files they were
  prepared from (so TFRecords written again from changed files never get
  the statistics of the old ones),
- the real split and the number of samples,
- the extractor's name, weights sha256 and resize method,
- the image size the extractor was given,
- whether the entry holds every feature row (KID, precision/recall) or the
  mean and covariance only (FID).

The file name carries a hash of the whole key and the file stores the key
itself, so a matching entry is reused as it is and an entry of any other key
is never mistaken for it. Entries are written atomically; a damaged one is
computed again. A read-only TFRecord folder only disables the cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.atomic import atomic_write
from ganlab.evaluation.moments import FeatureSummary

#: Folder of the cache inside a TFRecord folder.
CACHE_DIR = ".ganlab-eval-cache"
#: Bumped when the meaning of a cached entry changes (2: a subset of a split is
#: evenly spaced through it, no longer its first images; 3: keyed by the raw
#: files' fingerprint too).
CACHE_FORMAT = 3


@dataclass(frozen=True)
class CacheKey:
    """Everything real-data statistics depend on.

    Attributes:
        dataset_fingerprint: The ``fingerprint`` of the TFRecords' ``dataset.json``.
        split: The real split.
        num_real: Real samples summarised.
        extractor: The extractor's name.
        weights_sha256: sha256 of its weights.
        resize: Its resize method.
        image_size: ``(h, w, c)`` of the images given to it.
        features: The entry keeps every feature row, not only the moments.
        source_fingerprint: The ``source_fingerprint`` of ``dataset.json``
            (the raw files; empty when the manifest records none).

    """

    dataset_fingerprint: str
    split: str
    num_real: int
    extractor: str
    weights_sha256: str
    resize: str
    image_size: tuple[int, int, int]
    features: bool
    source_fingerprint: str = ""

    def as_json(self) -> str:
        """The canonical JSON of the key (stored in the entry, hashed into its name)."""
        data = {"cache_format": CACHE_FORMAT, **self.__dict__,
                "image_size": [int(v) for v in self.image_size]}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def file_name(self) -> str:
        """``<split>-<extractor>-<n>-<moments|features>-<hash>.npz``: readable and unique."""
        digest = hashlib.sha256(self.as_json().encode("utf-8")).hexdigest()[:20]
        kind = "features" if self.features else "moments"
        extractor = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.extractor)
        split = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.split)
        return f"{split}-{extractor}-{self.num_real}-{kind}-{digest}.npz"


class StatisticsCache:
    """Real-data feature summaries stored under ``folder``.

    Args:
        folder: The cache folder (``<tfrecords>/.ganlab-eval-cache``).
        warn: Called with a message when an entry cannot be read or written.

    """

    def __init__(self, folder: str | Path, warn: Any = None):
        self.folder = Path(folder)
        self.warn = warn or (lambda message: None)

    def path(self, key: CacheKey) -> Path:
        """Where the entry of ``key`` lives."""
        return self.folder / key.file_name()

    def load(self, key: CacheKey) -> FeatureSummary | None:
        """The summary stored under ``key``; ``None`` when absent, damaged or of another key."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != key.as_json():
                    return None
                features = data["features"] if key.features else None
                return FeatureSummary(int(data["count"]), data["mean"], data["covariance"],
                                      features)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            self.warn(f"warning: the cached real statistics {path} are unreadable ({exc}); "
                      "computing them again.")
            return None

    def save(self, key: CacheKey, summary: FeatureSummary) -> Path | None:
        """Store ``summary`` under ``key`` atomically; ``None`` when the folder is not writable."""
        path = self.path(key)
        arrays = {"key": np.array(key.as_json()), "count": np.array(summary.count),
                  "mean": summary.mean, "covariance": summary.covariance}
        if key.features:
            if summary.features is None:
                raise ValueError("a features entry needs the feature rows")
            arrays["features"] = summary.features
        try:
            with atomic_write(path, "wb") as stream:
                np.savez(stream, **arrays)
        except OSError as exc:
            self.warn(f"warning: cannot write the real-statistics cache {path} ({exc}); they "
                      "will be computed again next time.")
            return None
        return path
