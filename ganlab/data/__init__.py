"""ganlab's dataset contract and its one on-disk format (sharded TFRecords + manifest)."""

from ganlab.data.base import ImageExample, PrepareReport, SkipExample, TFRecordImageDataset
from ganlab.data.fingerprint import source_fingerprint
from ganlab.data.imagefile import open_image
from ganlab.data.memory import InMemoryDataset

__all__ = ["ImageExample", "InMemoryDataset", "PrepareReport", "SkipExample",
           "TFRecordImageDataset", "open_image", "source_fingerprint"]
