"""Datasets as `Sample` records: readers for the official layouts, plus the synthetic catalogue."""

from fashionlens.data.readers import READERS, read_dataset
from fashionlens.data.sample import Sample

__all__ = ["READERS", "Sample", "read_dataset"]
