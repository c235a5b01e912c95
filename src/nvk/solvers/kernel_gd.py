"""Kernel gradient descent: full-batch GD in function space, exact discrete dynamics + closed form.

Loss ½ Σ_i (f(x_i) − y_i)² over the training set, f = Σ_j α_j k(·, x_j), start f₀ = 0. One GD
step on the training values f_t = K α_t is (the linearized network of Jacot et al. 2018 with
NTK K, and the setting of Geifman et al. 2020 §5):

    α_{t+1} = α_t − η (K α_t − Y),    i.e.   f_{t+1} − Y = (I − η K)(f_t − Y).

With K = U diag(s) Uᵀ the same dynamics in closed form (each eigen-direction decays on its own):

    f_t − Y = −U diag((1 − η s)^t) Uᵀ Y,      α_t = U diag((1 − (1 − η s)^t) / s) Uᵀ Y

((1 − (1 − ηs)^t)/s → η t as s → 0). The step size is set relative to the largest Gram
eigenvalue, η = lr / λ_max(K), so that models are compared fairly; 0 < lr < 2 is stable.
A component along an eigenvector with eigenvalue s falls below a fraction ε of its start after
⌈log ε / log|1 − η s|⌉ steps (`steps_to_fraction`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from nvk.data.base import DataInfo
from nvk.solvers.base import Kernel, Solver, flat64, train_gram
from nvk.solvers.targets import encode_targets, squared_loss

_METHODS = ("closed_form", "iterate")


@dataclass(frozen=True)
class KernelGDOptions:
    """steps: GD steps t ≥ 0; lr: η·λ_max(K) in (0, 2) (η = lr / λ_max, the largest train Gram
    eigenvalue); method: ``closed_form`` (eigendecomposition, any t at once) or ``iterate``
    (t explicit steps); targets: label encoding for classification (``onehot``/``centered``)."""

    steps: int = 1000
    lr: float = 1.0
    method: str = "closed_form"
    targets: str = "onehot"

    def __post_init__(self) -> None:
        if int(self.steps) != self.steps or self.steps < 0:
            raise ValueError(f"kernel_gd steps must be an integer >= 0, got {self.steps}")
        if not 0 < self.lr < 2:
            raise ValueError(f"kernel_gd lr (η·λ_max) must lie in (0, 2) (stable), got {self.lr}")
        if self.method not in _METHODS:
            raise ValueError(
                f"unknown kernel_gd method {self.method!r}; valid: {', '.join(_METHODS)}"
            )


def _check(K: Tensor, Y: Tensor) -> Tensor:
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (N, N) Gram matrix, got {tuple(K.shape)}")
    if Y.shape[0] != K.shape[0]:
        raise ValueError(f"K is {tuple(K.shape)} but Y has {Y.shape[0]} rows; expected equal N")
    return Y.reshape(len(Y), -1).to(K.dtype)


def largest_eigenvalue(K: Tensor) -> float:
    """λ_max of a symmetric K (N, N)."""
    return float(torch.linalg.eigvalsh(K)[-1])


def gd_decay(s: Tensor, eta: float, t: float) -> Tensor:
    """(1 − η s)^t for eigenvalues s (…,) and an integer step count t ≥ 0 (may be huge)."""
    a = 1.0 - eta * s
    if t == 0:
        return torch.ones_like(a)
    mag = torch.exp(t * torch.log(a.abs()))  # log 0 = −inf → 0
    return torch.where(a < 0, mag * (-1.0) ** (int(t) % 2), mag)


def kernel_gd_iterate(K: Tensor, Y: Tensor, *, eta: float, steps: int) -> Tensor:
    """α_t after `steps` explicit steps α ← α − η (K α − Y) from α = 0. K (N, N), Y (N, T) or
    (N,) → α (N, T)."""
    Y2 = _check(K, Y)
    alpha = torch.zeros_like(Y2)
    for _ in range(int(steps)):
        alpha = alpha - eta * (K @ alpha - Y2)
    return alpha


def kernel_gd_closed_form(K: Tensor, Y: Tensor, *, eta: float, steps: float) -> Tensor:
    """α_t = U diag((1 − (1 − η s)^t)/s) Uᵀ Y (the same α_t as `kernel_gd_iterate`).
    K (N, N) symmetric PSD, Y (N, T) or (N,) → α (N, T)."""
    Y2 = _check(K, Y)
    s, U = torch.linalg.eigh(K)
    s = s.clamp_min(0)
    tiny = s <= 1e-12 * max(float(s[-1]), 1e-300)
    gain = torch.where(tiny, torch.full_like(s, eta * steps), (1 - gd_decay(s, eta, steps)) / s)
    return U @ (gain[:, None] * (U.T @ Y2))


def steps_to_fraction(s: Tensor | float, eta: float, eps: float) -> Tensor:
    """Smallest integer t with |1 − η s|^t ≤ ε: ⌈log ε / log|1 − η s|⌉ (inf where η s = 0)."""
    if not 0 < eps < 1:
        raise ValueError(f"fraction ε must lie in (0, 1), got {eps}")
    s = torch.as_tensor(s, dtype=torch.float64)
    a = (1.0 - eta * s).abs()
    t = torch.ceil(math.log(eps) / torch.log(a) - 1e-9).clamp_min(1)
    t = torch.where(a >= 1, torch.full_like(t, math.inf), t)
    return torch.where(a == 0, torch.ones_like(t), t)


class KernelGDSolver(Solver):
    """`solver=kernel_gd`: `steps` steps of full-batch kernel gradient descent from f = 0
    (options: `KernelGDOptions`); predicts f_t(x) = k(x, X) α_t.

    Classification regresses encoded labels (one-hot or centered) and predicts the argmax;
    `<split>/loss` is the mean squared error to the encoded targets. `eta_` and
    `lambda_max_` record the step size used.
    """

    state_keys = ("x_train", "alpha")
    stability_hint = "a smaller solver.lr (it must lie in (0, 2))"

    def __init__(self, **options) -> None:
        self.options = KernelGDOptions(**options)
        self.x_train: Tensor | None = None
        self.alpha: Tensor | None = None
        self.eta_: float | None = None
        self.lambda_max_: float | None = None

    def fit(self, kernel: Kernel, x: Tensor, y: Tensor, info: DataInfo, val=None) -> None:
        o = self.options
        X, K = train_gram(kernel, x)
        Y = encode_targets(y, task=info.task, num_classes=info.num_outputs, encoding=o.targets)
        self.lambda_max_ = largest_eigenvalue(K)
        if self.lambda_max_ <= 0:
            raise ValueError(f"kernel_gd: the train Gram matrix has λ_max={self.lambda_max_} <= 0")
        self.eta_ = o.lr / self.lambda_max_
        run = kernel_gd_closed_form if o.method == "closed_form" else kernel_gd_iterate
        self.alpha = run(K, Y.to(K.device), eta=self.eta_, steps=o.steps)
        self.x_train = X

    def predict(self, kernel: Kernel, x: Tensor) -> Tensor:
        self._require_fitted()
        assert self.x_train is not None and self.alpha is not None
        return kernel(flat64(x).to(self.x_train.device), self.x_train) @ self.alpha

    def loss(self, scores: Tensor, y: Tensor, info: DataInfo) -> float:
        return squared_loss(scores, y, task=info.task, num_classes=info.num_outputs,
                            encoding=self.options.targets)  # fmt: skip
