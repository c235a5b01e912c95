"""Kernel ridge regression and minimum-norm interpolation on precomputed Gram matrices.

Convention: α = (K + λI)⁻¹ Y, f(x) = k(x, X) α. λ = 0 is interpolation (jitter is added only if
K is numerically singular, with a warning). FALKON's λ_F relates to this λ by λ = n·λ_F.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from nvk.data.base import DataInfo
from nvk.solvers.base import Kernel, Solver, flat64, train_gram
from nvk.solvers.linalg import check_finite_matrix, cholesky_jitter
from nvk.solvers.targets import encode_targets, squared_loss


@dataclass(frozen=True)
class KRROptions:
    """ridge: λ ≥ 0 (or the grid searched when `select` is set); jitter: extra diagonal
    tried first before escalation; select: ``None`` (use `ridge`), ``"val"`` (best λ of
    `ridges` on the validation split) or ``"gcv"`` (generalized cross-validation);
    targets: label encoding for classification (``onehot``/``centered``)."""

    ridge: float = 0.0
    jitter: float = 0.0
    select: str | None = None
    ridges: Sequence[float] = field(default=(0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0))
    targets: str = "onehot"

    def __post_init__(self) -> None:
        if self.ridge < 0 or any(r < 0 for r in self.ridges):
            raise ValueError(f"ridge λ must be >= 0, got ridge={self.ridge}, ridges={self.ridges}")
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter}")
        if self.select not in (None, "val", "gcv"):
            raise ValueError(f"select must be None, 'val' or 'gcv', got {self.select!r}")


@dataclass
class KRRFit:
    alpha: torch.Tensor  # (N, T)
    ridge: float
    jitter: float


def krr_fit(K: torch.Tensor, Y: torch.Tensor, *, ridge: float = 0.0, jitter: float = 0.0) -> KRRFit:
    """Solve (K + λI) α = Y by Cholesky. K: (N, N); Y: (N, T) or (N,)."""
    if ridge < 0:
        raise ValueError(f"ridge λ must be >= 0, got {ridge}")
    if Y.shape[0] != K.shape[0]:
        raise ValueError(f"K is {tuple(K.shape)} but Y has {Y.shape[0]} rows; expected equal N")
    Y2 = Y.reshape(len(Y), -1).to(K.dtype)
    L, used = cholesky_jitter(K, shift=ridge, jitter=jitter)
    alpha = torch.cholesky_solve(Y2, L)
    return KRRFit(alpha=alpha, ridge=ridge, jitter=used)


def krr_predict(K_test: torch.Tensor, fit: KRRFit) -> torch.Tensor:
    """Predictions K_test α. K_test: (M, N) = k(X_test, X_train) -> (M, T)."""
    check_finite_matrix(K_test, "test-train kernel matrix")
    return K_test @ fit.alpha.to(K_test.dtype)


def gcv_scores(K: torch.Tensor, Y: torch.Tensor, ridges: Sequence[float]) -> torch.Tensor:
    """Generalized cross-validation GCV(λ) = n‖(I − H_λ)Y‖² / tr(I − H_λ)², H_λ = K(K + λI)⁻¹.

    One eigendecomposition K = U diag(s) Uᵀ serves every λ: (I − H_λ) = U diag(λ/(s+λ)) Uᵀ.
    Returns (len(ridges),) scores; λ = 0 gives +inf (GCV is undefined for interpolation).
    """
    n = K.shape[0]
    s, U = torch.linalg.eigh(K.double())
    s = s.clamp_min(0)
    UtY = U.T @ Y.reshape(n, -1).double()  # (n, T)
    out = []
    for lam in ridges:
        if lam <= 0:
            out.append(float("inf"))
            continue
        shrink = lam / (s + lam)  # (n,)
        resid = (shrink[:, None] * UtY).pow(2).sum()
        out.append(float(n * resid / shrink.sum() ** 2))
    return torch.tensor(out, dtype=torch.float64)


def select_ridge_val(
    K_train: torch.Tensor,
    Y_train: torch.Tensor,
    K_val: torch.Tensor,
    score: Callable[[torch.Tensor], float],
    ridges: Sequence[float],
    *,
    jitter: float = 0.0,
) -> tuple[float, list[float]]:
    """λ with the best `score(predictions on val)` (higher is better; first best wins)."""
    scores = []
    for lam in ridges:
        scores.append(
            score(krr_predict(K_val, krr_fit(K_train, Y_train, ridge=lam, jitter=jitter)))
        )
    best = max(range(len(ridges)), key=lambda i: (scores[i], -i))
    return float(ridges[best]), scores


class KRRSolver(Solver):
    """`solver=krr`: kernel ridge regression / interpolation (options: `KRROptions`).

    Classification regresses encoded labels (one-hot or centered) and predicts the argmax;
    `<split>/loss` is the mean squared error to the encoded targets (KRR's own objective).
    `select="val"` picks λ from `ridges` by validation accuracy (classification) or MSE.
    """

    state_keys = ("x_train", "alpha")
    stability_hint = "a larger solver.ridge (e.g. 1e-6) or solver.jitter"

    def __init__(self, **options) -> None:
        self.options = KRROptions(**options)
        self.x_train: torch.Tensor | None = None
        self.alpha: torch.Tensor | None = None
        self.ridge_: float | None = None

    def _Y(self, y: torch.Tensor, info: DataInfo) -> torch.Tensor:
        return encode_targets(
            y, task=info.task, num_classes=info.num_outputs, encoding=self.options.targets
        )

    def fit(self, kernel, x, y, info, val=None) -> None:
        o = self.options
        X, K = train_gram(kernel, x)
        Y = self._Y(y, info).to(K.device)
        ridge = o.ridge
        if o.select == "gcv":
            scores = gcv_scores(K, Y, o.ridges)
            ridge = float(o.ridges[int(torch.argmin(scores))])
        elif o.select == "val":
            if val is None:
                raise ValueError("KRR select='val' needs a validation split")
            Kv = kernel(flat64(val[0]), X)
            yv = val[1].to(K.device)

            def score(pred: torch.Tensor) -> float:
                if info.task == "classification":
                    return float((pred.argmax(1) == yv).double().mean())
                return -float((pred - yv.reshape(len(yv), -1)).pow(2).mean())

            ridge, _ = select_ridge_val(K, Y, Kv, score, o.ridges, jitter=o.jitter)
        fit = krr_fit(K, Y, ridge=ridge, jitter=o.jitter)
        self.x_train, self.alpha, self.ridge_ = X, fit.alpha, ridge

    def predict(self, kernel: Kernel, x: torch.Tensor) -> torch.Tensor:
        self._require_fitted()
        assert self.x_train is not None and self.alpha is not None
        return kernel(flat64(x).to(self.x_train.device), self.x_train) @ self.alpha

    def loss(self, scores, y, info) -> float:
        return squared_loss(scores, y, task=info.task, num_classes=info.num_outputs,
                            encoding=self.options.targets)  # fmt: skip
