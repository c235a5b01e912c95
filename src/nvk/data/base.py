"""Base class and shared containers for nvk data modules.

Every data module is a `LightningDataModule` (mini-batches for networks) that also exposes
`full_batch()` (whole train/val/test tensors for kernel solvers) and `info` (input shape,
number of outputs, task) so models can size themselves without reading the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data.

    in_shape: shape of one input, e.g. (64,) or (1, 8, 8); num_outputs: classes for
    classification, target dimension for regression.
    """

    name: str
    in_shape: tuple[int, ...]
    num_outputs: int
    task: Task

    @property
    def in_features(self) -> int:
        n = 1
        for s in self.in_shape:
            n *= s
        return n


@dataclass
class FullBatch:
    """All splits as tensors: x_*: (N, *in_shape); y_*: (N,) class ids or (N, T) targets."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def check_finite(x: torch.Tensor, *, dataset: str, what: str = "features") -> None:
    """Raise ValueError naming the dataset if `x` holds NaN or ±inf."""
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = torch.nonzero(bad.reshape(len(x), -1).any(dim=1)).flatten()
        raise ValueError(
            f"dataset {dataset!r}: {int(bad.sum())} non-finite value(s) (NaN/inf) in {what}, "
            f"first in row(s) {rows[:5].tolist()}; clean or impute the data before training"
        )


class NVKDataModule(L.LightningDataModule):
    """Tensor-backed data module. Subclasses implement `_load() -> FullBatch` and `info`."""

    name: str = "data"

    def __init__(self, batch_size: int = 64, num_workers: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self._data: FullBatch | None = None

    # -- to implement -------------------------------------------------------------------------
    def _load(self) -> FullBatch:
        raise NotImplementedError

    @property
    def info(self) -> DataInfo:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._data is None:
            data = self._load()
            for split in ("train", "val", "test"):
                check_finite(
                    getattr(data, f"x_{split}"), dataset=self.name, what=f"{split} features"
                )
                check_finite(
                    getattr(data, f"y_{split}"), dataset=self.name, what=f"{split} targets"
                )
            self._data = data

    def full_batch(self) -> FullBatch:
        """The whole train/val/test splits as tensors (for kernel solvers)."""
        self.setup()
        assert self._data is not None
        return self._data

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        d = self.full_batch()
        ds = TensorDataset(getattr(d, f"x_{split}"), getattr(d, f"y_{split}"))
        return DataLoader(
            ds, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
