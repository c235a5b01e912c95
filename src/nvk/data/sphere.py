"""`data=sphere`: points on S^{d-1} ⊂ R^d with targets built from spherical harmonics.

Target f(x) = Σ_i a_i h_{k_i}(x) for frequencies k_i and amplitudes a_i, where each h_k is a
unit-norm degree-k harmonic under the uniform (probability) measure (`nvk.harmonics`), so
a_i is the L² size of component i and, for distinct frequencies, E_x[f²] = Σ a_i²:

* `target="zonal"`: h_k = sqrt(N(d, k)) P_k(<x, e_d>) (pole e_d = last coordinate axis; on
  S¹ this is √2 cos kθ measured from the x₂ axis);
* `target="random"`: a seeded random unit-norm element of H_k (`harmonics.RandomHarmonic`).

The target function depends on `seed` only, never on `n`. Points: train = `n` points, uniform
random or (`sampling="equispaced"`, S¹ only) at angles 2πi/n; val and test = `n_val`, `n_test`
uniform random points. Regression (default): y = f(x) (+ Gaussian `noise` of that std on the
train targets). Classification: y = 1[f(x) > 0], and `noise` is the fraction of train labels
flipped. `random_labels=true` replaces the train targets by a seeded permutation of themselves.
Val and test targets stay clean, so test metrics measure recovery of f.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import pi

import numpy as np
import torch

from nvk.data.base import DataInfo, FullBatch, NVKDataModule
from nvk.data.normalize import check_mode, normalize
from nvk.harmonics import RandomHarmonic, uniform_sphere, zonal

# independent random streams derived from `seed`
_TARGET, _TRAIN, _VAL, _TEST, _NOISE = range(5)


def equispaced_circle(n: int) -> np.ndarray:
    """n points at angles 2πi/n on S¹: (n, 2)."""
    theta = 2 * pi * np.arange(n) / n
    return np.stack([np.cos(theta), np.sin(theta)], 1)


class SphereDataModule(NVKDataModule):
    """Synthetic harmonic targets on the sphere; see the module docstring."""

    name = "sphere"

    def __init__(
        self,
        *,
        dim: int = 3,
        n: int = 512,
        n_val: int = 256,
        n_test: int = 1024,
        frequencies: Sequence[int] = (1, 2, 4),
        amplitudes: Sequence[float] | None = None,
        target: str = "zonal",
        task: str = "regression",
        noise: float = 0.0,
        random_labels: bool = False,
        sampling: str = "uniform",
        normalize: str = "none",
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if int(dim) != dim or dim < 2:
            raise ValueError(
                f"data.dim (ambient dimension d, points on S^(d-1)) must be >= 2, got {dim}"
            )
        for key, v in (("n", n), ("n_val", n_val), ("n_test", n_test)):
            if v < 1:
                raise ValueError(f"data.{key} must be >= 1, got {v}")
        freqs = [int(k) for k in frequencies]
        if not freqs or any(k < 0 or k != f for k, f in zip(freqs, frequencies)):
            raise ValueError(f"data.frequencies must be non-negative integers, got {frequencies}")
        amps = [1.0] * len(freqs) if amplitudes is None else [float(a) for a in amplitudes]
        if len(amps) != len(freqs):
            raise ValueError(
                f"data.amplitudes has {len(amps)} entries but data.frequencies has {len(freqs)}"
            )
        if target not in ("zonal", "random"):
            raise ValueError(f"unknown data.target={target!r}; valid: zonal, random")
        if task not in ("regression", "classification"):
            raise ValueError(f"unknown data.task={task!r}; valid: regression, classification")
        if sampling not in ("uniform", "equispaced"):
            raise ValueError(f"unknown data.sampling={sampling!r}; valid: uniform, equispaced")
        if sampling == "equispaced" and dim != 2:
            raise ValueError(f"sampling=equispaced is defined on S¹ only (data.dim=2), got {dim}")
        if noise < 0 or (task == "classification" and noise > 1):
            raise ValueError(f"data.noise must be >= 0 (a fraction <= 1 for labels), got {noise}")
        self.dim, self.n, self.n_val, self.n_test = int(dim), n, n_val, n_test
        self.frequencies, self.amplitudes = freqs, amps
        self.target, self.task, self.noise = target, task, noise
        self.random_labels, self.sampling = random_labels, sampling
        self.normalize, self.seed = check_mode(normalize), seed

    @property
    def info(self) -> DataInfo:
        k = 2 if self.task == "classification" else 1
        return DataInfo(name=self.name, in_shape=(self.dim,), num_outputs=k, task=self.task)  # type: ignore[arg-type]

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def target_function(self, x: np.ndarray) -> np.ndarray:
        """f(x) for points x: (m, d) → (m,), float64."""
        x = np.asarray(x, dtype=np.float64)
        rng = self._rng(_TARGET)
        pole = np.eye(self.dim)[-1]
        f = np.zeros(len(x))
        for k, a in zip(self.frequencies, self.amplitudes):
            h = (
                zonal(k, self.dim, x, pole)
                if self.target == "zonal"
                else RandomHarmonic(self.dim, k, rng)(x)
            )
            f += a * h
        return f

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw points (train (n, d), val (n_val, d), test (n_test, d)), before normalization."""
        if self.sampling == "equispaced":
            train = equispaced_circle(self.n)
        else:
            train = uniform_sphere(self.n, self.dim, self._rng(_TRAIN))
        val = uniform_sphere(self.n_val, self.dim, self._rng(_VAL))
        test = uniform_sphere(self.n_test, self.dim, self._rng(_TEST))
        return train, val, test

    def _targets(self, x: np.ndarray, *, train: bool) -> torch.Tensor:
        f = self.target_function(x)
        rng = self._rng(_NOISE)
        if self.task == "classification":
            y = (f > 0).astype(np.int64)
            if train and self.noise > 0:
                flip = rng.random(len(y)) < self.noise
                y[flip] = 1 - y[flip]
        else:
            y = f.astype(np.float32)
            if train and self.noise > 0:
                y = (f + self.noise * rng.standard_normal(len(f))).astype(np.float32)
        if train and self.random_labels:
            y = y[rng.permutation(len(y))]
        return torch.from_numpy(y)

    def _load(self) -> FullBatch:
        train, val, test = self.points()
        ys = [self._targets(train, train=True)]
        ys += [self._targets(val, train=False), self._targets(test, train=False)]
        xs = normalize(train, val, test, mode=self.normalize, dataset=self.name)
        xt = [torch.from_numpy(a).float() for a in xs]
        return FullBatch(xt[0], ys[0], xt[1], ys[1], xt[2], ys[2])
