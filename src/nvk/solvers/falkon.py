"""FALKON: Nyström kernel ridge regression solved by preconditioned conjugate gradient.

Rudi, Carratino & Rosasco, "FALKON: An Optimal Large Scale Kernel Method" (NeurIPS 2017).
With M centres C (uniformly sampled rows of X), it solves

    min_α  (1/n)‖K_nM α − Y‖² + λ_F αᵀ K_MM α   ⇔   (K_nMᵀK_nM/n + λ_F K_MM) α = K_nMᵀY/n,

preconditioned by B = n^{−1/2} T⁻¹A⁻¹ with T = chol(K_MM + εMI) (upper), A = chol(TTᵀ/M + λ_F I).
Only (block, M) tiles of K_nM exist at any time: memory is O(M² + block·M), never n².
The K_nM products can be split over several devices and processes (`nvk.solvers.knm`).

Relation to `krr`: with M = n centres = X, α = (K + nλ_F I)⁻¹Y, i.e. λ_krr = n·λ_F.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nvk.solvers.base import Solver, kernel_formula
from nvk.solvers.knm import KnM, rank_rows, resolve_devices, sample_centers
from nvk.solvers.linalg import cholesky_jitter
from nvk.solvers.targets import encode_targets, squared_loss

log = logging.getLogger("nvk.solvers")

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# PRECISION: `dtype` is the precision of the (block, M) kernel tiles, where all the time goes;
# `algebra_dtype` (float64 by default) that of their sums, K_MM, both Cholesky factors, the
# preconditioner and the CG vectors. With M = 10⁴ centres and n = 2·10⁵ rows an all-float32
# solve stalled at CG residual ~0.1 (test AUC 0.71) where float64 algebra on the same float32
# tiles converges like an all-float64 solve (docs/largescale.md). The extra cost is O(M²)
# memory (about 2 M² · 8 bytes: 1.6 GB at M = 10⁴) and O(M²) work per CG iteration, next to
# the O(nM) kernel tiles; `algebra_dtype="float32"` halves that memory, e.g. for M = 10⁵.


@dataclass(frozen=True)
class FalkonOptions:
    """centers: M (≤ n); ridge: λ_F > 0 (λ_krr = n·λ_F); tol: relative residual at which CG
    stops; maxiter: CG cap (a warning reports the residual reached); block: rows of K_nM per
    tile; seed: centre sampling; dtype: ``float64`` or ``float32``, the kernel tiles';
    algebra_dtype: the M-sized sums, factors and CG vectors' (float64; see PRECISION);
    devices: where the K_nM products run (None: the data's device; "all": every visible GPU;
    or a list such as ["cuda:0", "cuda:1"]); distributed: X and Y are this process's rows of
    the training set and the K_nM products are summed over the default torch.distributed
    group (`nvk.solvers.knm`)."""

    centers: int = 1000
    ridge: float = 1e-6
    tol: float = 1e-8
    maxiter: int = 100
    block: int = 4096
    seed: int = 0
    dtype: str = "float64"
    devices: str | tuple[str, ...] | None = None
    distributed: bool = False
    algebra_dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.devices is not None and not isinstance(self.devices, str):
            object.__setattr__(self, "devices", tuple(str(d) for d in self.devices))
        resolve_devices(self.devices, torch.device("cpu"))  # validates the names
        if self.centers < 1:
            raise ValueError(f"FALKON needs centers M >= 1, got {self.centers}")
        if self.ridge < 0:
            raise ValueError(f"FALKON ridge λ must be >= 0, got {self.ridge}")
        if self.maxiter < 1 or self.block < 1:
            raise ValueError(f"maxiter and block must be >= 1, got {self.maxiter}, {self.block}")
        for name in ("dtype", "algebra_dtype"):
            if getattr(self, name) not in ("float32", "float64"):
                raise ValueError(
                    f"{name} must be 'float32' or 'float64', got {getattr(self, name)!r}"
                )


@dataclass
class FalkonFit:
    centers: torch.Tensor  # (M, D)
    alpha: torch.Tensor  # (M, T)
    iterations: int
    residual: float
    setup_s: float = 0.0  # centres, K_MM, both Cholesky factors and K_nMᵀY
    cg_s: float = 0.0  # the CG iterations (one K_nMᵀK_nM product each)


def falkon_fit(
    kernel: Kernel, X: torch.Tensor, Y: torch.Tensor, options: FalkonOptions = FalkonOptions()
) -> FalkonFit:
    """Fit FALKON. kernel(a (b, D), c (M, D)) -> (b, M); X: (n, D); Y: (n, T) or (n,).

    With `options.distributed`, X and Y are this process's rows (see `nvk.solvers.knm`); every
    process returns the same fit.
    """
    t0 = time.perf_counter()
    n = len(X)
    if not options.distributed and options.centers > n:
        raise ValueError(f"FALKON centers M={options.centers} exceeds the n={n} training points")
    if len(Y) != n:
        raise ValueError(f"X has {n} rows but Y has {len(Y)}")
    dtype = getattr(torch, options.dtype)
    X = X.reshape(n, -1).to(dtype)
    Y = Y.reshape(n, -1).to(dtype)
    if not (torch.isfinite(X).all() and torch.isfinite(Y).all()):
        raise ValueError("FALKON inputs contain NaN or inf")
    M, lam = options.centers, options.ridge
    C = sample_centers(X, M, seed=options.seed, distributed=options.distributed)
    # K_nM tiles in `dtype`; their sums and everything M-sized in `algebra_dtype` (PRECISION)
    work = getattr(torch, options.algebra_dtype)
    knm = KnM(kernel, X, C, block=options.block, devices=options.devices,
              distributed=options.distributed, out_dtype=work)  # fmt: skip
    n = knm.n  # all rows of all processes

    Cw = C.to(work)
    Kmm = kernel(Cw, Cw)
    eps = torch.finfo(work).eps
    Lt, _ = cholesky_jitter(Kmm, shift=eps * M, what="K_MM")  # K_MM + εMI = Lt Ltᵀ
    del Kmm
    T = Lt.T  # upper: K_MM ≈ TᵀT
    La, _ = cholesky_jitter(T @ T.T / M, shift=lam, what="TTᵀ/M + λI")
    A = La.T  # upper

    def tri(Mat: torch.Tensor, b: torch.Tensor, *, upper: bool, left_t: bool = False):
        return torch.linalg.solve_triangular(Mat.T if left_t else Mat, b, upper=upper ^ left_t)

    def B(u):  # T⁻¹A⁻¹u
        return tri(T, tri(A, u, upper=True), upper=True)

    def Bt(v):  # A⁻ᵀT⁻ᵀv
        return tri(A, tri(T, v, upper=True, left_t=True), upper=True, left_t=True)

    def BHB(u):  # Bᵀ(K_nMᵀK_nM/n + λK_MM)B u, with K_MM ≈ TᵀT
        Au = tri(A, u, upper=True)
        KtKu = knm.gram_matvec(tri(T, Au, upper=True))
        return Bt(KtKu / n) + lam * tri(A, Au, upper=True, left_t=True)

    r0 = Bt(knm.t_matmul(Y) / n)
    t1 = time.perf_counter()
    log.debug("FALKON n=%d M=%d: setup (centres, K_MM, factors, K_nMᵀY) %.1f s", n, M, t1 - t0)

    def progress(it: int, rel: float) -> None:
        log.debug("FALKON CG iteration %d: relative residual %.3g, %.1f s since setup",
                  it, rel, time.perf_counter() - t1)  # fmt: skip

    beta, iters, resid = conjugate_gradient(
        BHB, r0, tol=options.tol, maxiter=options.maxiter, callback=progress
    )
    t2 = time.perf_counter()
    log.info("FALKON n=%d M=%d: setup %.1f s, %d CG iterations %.1f s (%.2f s each)",
             n, M, t1 - t0, iters, t2 - t1, (t2 - t1) / max(iters, 1))  # fmt: skip
    return FalkonFit(C, B(beta), iters, resid, setup_s=t1 - t0, cg_s=t2 - t1)


def falkon_predict(kernel: Kernel, X: torch.Tensor, fit: FalkonFit, block: int = 4096):
    """k(X, C) α in row blocks, the kernel in the centres' dtype. X: (m, D) -> (m, T)."""
    X = X.reshape(len(X), -1).to(fit.centers.dtype)
    return torch.cat(
        [
            kernel(X[s : s + block], fit.centers).to(fit.alpha.dtype) @ fit.alpha
            for s in range(0, len(X), block)
        ]
    )


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    tol: float = 1e-8,
    maxiter: int = 100,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, int, float]:
    """Solve H x = b for symmetric PD H given as `matvec`, all columns of b: (M, T) at once.

    Stops when every column's ‖r‖/‖b‖ ≤ tol; warns with the reached residual at the cap.
    `callback(iteration, max relative residual)` runs after each iteration.
    Returns (x, iterations, max relative residual).
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    bnorm = b.norm(dim=0).clamp_min(torch.finfo(b.dtype).tiny)
    rs = (r * r).sum(0)
    rel = float((rs.sqrt() / bnorm).max())
    it = 0
    while it < maxiter and rel > tol:
        Hp = matvec(p)
        a = rs / (p * Hp).sum(0).clamp_min(torch.finfo(b.dtype).tiny)
        x += a * p
        r -= a * Hp
        rs_new = (r * r).sum(0)
        p = r + (rs_new / rs.clamp_min(torch.finfo(b.dtype).tiny)) * p
        rs = rs_new
        it += 1
        rel = float((rs.sqrt() / bnorm).max())
        if callback is not None:
            callback(it, rel)
    if rel > tol and not math.isnan(rel):
        log.warning(
            "conjugate gradient stopped at the iteration cap (%d) with relative residual %.3g "
            "> tol %.3g; raise solver.maxiter or the ridge",
            maxiter, rel, tol,
        )  # fmt: skip
    return x, it, rel


class FalkonSolver(Solver):
    """`solver=falkon`: FALKON on encoded targets (one-hot / centered for classification);
    the n x n Gram matrix is never formed. `<split>/loss` is the squared loss. With
    `distributed=true` every process passes the whole training set and keeps its share of rows
    (`nvk.solvers.knm.rank_rows`)."""

    state_keys = ("centers", "alpha")
    stability_hint = "a larger solver.ridge, solver.dtype=float64 and solver.algebra_dtype=float64"

    def __init__(self, targets: str = "onehot", **options) -> None:
        self.targets = targets
        self.options = FalkonOptions(**options)
        self.centers: torch.Tensor | None = None
        self.alpha: torch.Tensor | None = None

    def _Y(self, y: torch.Tensor, info) -> torch.Tensor:
        return encode_targets(y, task=info.task, num_classes=info.num_outputs,
                              encoding=self.targets)  # fmt: skip

    def fit(self, kernel, x, y, info, val=None) -> None:
        X, Y = x.reshape(len(x), -1), self._Y(y, info).to(x.device)
        if self.options.distributed:
            rows = rank_rows(len(X))
            X, Y = X[rows], Y[rows]
        # FALKON works in (block, M) tiles itself, on the data's device, in options.dtype: it
        # takes the formula rather than a model's tiled float64 wrapper (`kernel_formula`)
        fit = falkon_fit(kernel_formula(kernel), X, Y, self.options)
        self.centers, self.alpha = fit.centers, fit.alpha
        self.fit_ = fit
        self.iterations_, self.residual_ = fit.iterations, fit.residual

    def predict(self, kernel: Kernel, x: torch.Tensor) -> torch.Tensor:
        self._require_fitted()
        assert self.centers is not None and self.alpha is not None
        fit = FalkonFit(self.centers, self.alpha, 0, 0.0)
        formula = kernel_formula(kernel)
        return falkon_predict(formula, x.to(self.centers.device), fit, self.options.block)

    def loss(self, scores, y, info) -> float:
        return squared_loss(scores, y, task=info.task, num_classes=info.num_outputs,
                            encoding=self.targets)  # fmt: skip
