"""Seeded train/val/test splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def stratified_split(
    y: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, val, test) of a seeded, optionally stratified three-way split."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < f < 1.0:
            raise ValueError(f"{name} must lie in (0, 1), got {f}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    idx = np.arange(len(y))
    strat = y if stratify else None
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=strat)
    strat_rest = y[rest] if stratify else None
    train, val = train_test_split(
        rest,
        test_size=val_fraction / (1.0 - test_fraction),
        random_state=seed + 1,
        stratify=strat_rest,
    )
    return np.sort(train), np.sort(val), np.sort(test)
