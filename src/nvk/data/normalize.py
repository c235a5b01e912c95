"""Input normalization for tabular and sphere data (`data.normalize`).

Modes (statistics are always fitted on the training rows only, then applied to every split):

| mode                 | effect on a row x                                             |
|----------------------|---------------------------------------------------------------|
| `none`               | unchanged                                                     |
| `standardize`        | (x - mean) / std per feature; constant features: std := 1     |
| `sphere`             | x / ‖x‖, projection onto the unit sphere S^{D-1}              |
| `standardize_sphere` | standardize, then project onto the sphere                     |

Projection matters for dot-product kernels: the NTK and the Laplace kernel restricted to the
sphere depend on <x, x'> only, which is the setting of Geifman et al. (2020), Section 3.4.
A row of norm zero has no direction and is rejected.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NormalizeMode = Literal["none", "standardize", "sphere", "standardize_sphere"]
NORMALIZE_MODES: tuple[str, ...] = ("none", "standardize", "sphere", "standardize_sphere")


def check_mode(mode: str) -> str:
    """Return `mode` if valid, else raise ValueError listing the valid modes."""
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"unknown normalize mode {mode!r}; valid: {', '.join(NORMALIZE_MODES)}")
    return mode


def _to_sphere(x: np.ndarray, *, dataset: str, split: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if len(zero):
        raise ValueError(
            f"dataset {dataset!r}: {len(zero)} {split} row(s) of norm 0 "
            f"(first: {zero[:5].tolist()}) cannot be projected onto the sphere; "
            "use normalize=standardize_sphere or none"
        )
    return x / norms


def normalize(
    train: np.ndarray, *others: np.ndarray, mode: str, dataset: str = "data"
) -> list[np.ndarray]:
    """Normalize features train: (n, D) and others: (m_i, D) with statistics of `train`.

    Returns float64 arrays in the same order: [train, *others].
    """
    check_mode(mode)
    arrays = [np.asarray(a, dtype=np.float64) for a in (train, *others)]
    if mode in ("standardize", "standardize_sphere"):
        mean = arrays[0].mean(axis=0)
        std = arrays[0].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        arrays = [(a - mean) / std for a in arrays]
    if mode in ("sphere", "standardize_sphere"):
        names = ["train"] + [f"split {i + 1}" for i in range(len(others))]
        arrays = [_to_sphere(a, dataset=dataset, split=s) for a, s in zip(arrays, names)]
    return arrays
