"""`data=digits`: scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from nvk.data.base import DataInfo, FullBatch, NVKDataModule
from nvk.data.splits import stratified_split


class DigitsDataModule(NVKDataModule):
    """Digits as 1×8×8 images (`flatten=False`) or 64-vectors, pixels scaled to [0, 1].

    Split: seeded, stratified train/val/test (`val_fraction`, `test_fraction` of all rows).
    `full_batch()` gives float tensors x: (N, 64) or (N, 1, 8, 8) and int64 labels y: (N,).
    """

    name = "digits"

    def __init__(
        self,
        *,
        flatten: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.25,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.flatten = flatten
        self.val_fraction, self.test_fraction, self.seed = val_fraction, test_fraction, seed
        # validate the split fractions now, not at setup time
        stratified_split(
            np.repeat(np.arange(2), 10),
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )

    @property
    def info(self) -> DataInfo:
        shape = (64,) if self.flatten else (1, 8, 8)
        return DataInfo(name=self.name, in_shape=shape, num_outputs=10, task="classification")

    def _raw(self) -> tuple[np.ndarray, np.ndarray]:
        d = load_digits()
        return d.data.astype(np.float32) / 16.0, d.target.astype(np.int64)

    def _load(self) -> FullBatch:
        x, y = self._raw()
        tr, va, te = stratified_split(
            y, val_fraction=self.val_fraction, test_fraction=self.test_fraction, seed=self.seed
        )
        self.split_indices = {"train": tr, "val": va, "test": te}  # rows of load_digits()
        x_t = torch.from_numpy(x).reshape(-1, *self.info.in_shape)
        y_t = torch.from_numpy(y)
        return FullBatch(x_t[tr], y_t[tr], x_t[va], y_t[va], x_t[te], y_t[te])
