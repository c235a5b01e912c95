"""Data modules: mini-batches for networks, `full_batch()` for kernel solvers."""

from nvk.data.base import DataInfo, FullBatch, NVKDataModule, check_finite
from nvk.data.cifar10 import CIFAR10DataModule
from nvk.data.digits import DigitsDataModule
from nvk.data.largescale import HIGGSDataModule, MSDDataModule, SUSYDataModule
from nvk.data.normalize import NORMALIZE_MODES, normalize
from nvk.data.sphere import SphereDataModule
from nvk.data.table import TableDataModule
from nvk.data.uci import (
    UCIDataModule,
    UCIDataset,
    UCIIndexSets,
    available_datasets,
    benchmark_datasets,
    load_uci,
)

__all__ = [
    "NORMALIZE_MODES",
    "CIFAR10DataModule",
    "DataInfo",
    "DigitsDataModule",
    "FullBatch",
    "HIGGSDataModule",
    "MSDDataModule",
    "NVKDataModule",
    "SUSYDataModule",
    "SphereDataModule",
    "TableDataModule",
    "UCIDataModule",
    "UCIDataset",
    "UCIIndexSets",
    "available_datasets",
    "benchmark_datasets",
    "check_finite",
    "load_uci",
    "normalize",
]
