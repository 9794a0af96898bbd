"""ganlab's dataset contract and its one on-disk format (sharded TFRecords + manifest)."""

from ganlab.data.base import ImageExample, PrepareReport, SkipExample, TFRecordImageDataset

__all__ = ["ImageExample", "PrepareReport", "SkipExample", "TFRecordImageDataset"]
