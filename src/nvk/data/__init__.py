"""Data modules: mini-batches for networks, `full_batch()` for kernel solvers."""

from nvk.data.base import DataInfo, FullBatch, NVKDataModule, check_finite
from nvk.data.digits import DigitsDataModule

__all__ = ["DataInfo", "DigitsDataModule", "FullBatch", "NVKDataModule", "check_finite"]
