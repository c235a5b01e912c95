"""Residual per harmonic frequency under gradient descent: kernels (closed form) and networks.

Both start from the zero function and minimize ½ Σ_i (f(x_i) − y_i)² by full-batch GD with
η = lr / λ_max, λ_max the largest eigenvalue of the model's train Gram matrix (the analytic kernel,
or the network's empirical NTK at initialization), so every model takes the same relative step
(Geifman et al. 2020 §5; Basri et al. 2019/2020).

At every step t the training residual r_t = f_t − y (n,) is projected on the harmonics of each
degree k by least squares on the stacked basis of degrees 0..k_max (`HarmonicProjector`); on
equispaced S¹ points that basis is orthogonal on the sample, so the projection is exact Fourier
analysis. The logged value is the relative residual ‖P_k r_t‖ / ‖P_k r_0‖, and the step count
of frequency k is the first t where it falls to `threshold` or below.

Kernels: r_t = −U diag((1 − η s)^t) Uᵀ y (`nvk.solvers.kernel_gd`), equal to the explicit
steps. Counts beyond `max_steps` come from the same closed form by doubling + bisection (the
residual of one frequency is treated as monotone there) and are marked extrapolated.
Networks: actual GD steps on f(x) = net(x) − net₀(x) (net₀ a frozen copy at initialization:
the zero-function start, which leaves the NTK unchanged), at most `max_steps`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from nvk.harmonics import harmonic_basis, multiplicity
from nvk.kernels.empirical import empirical_ntk
from nvk.solvers.kernel_gd import gd_decay


class HarmonicProjector:
    """Least-squares projection of values at x (n, d) on harmonics of degrees 0..kmax (d = 2, 3).

    `norms(r)`: r (n,) or (n, B) → (kmax + 1,) or (kmax + 1, B), the L² norm (under the uniform
    probability measure) of the degree-k part of the fitted expansion.
    """

    def __init__(self, x: np.ndarray | Tensor, kmax: int) -> None:
        x = np.asarray(x, dtype=np.float64)
        blocks = [harmonic_basis(k, x) for k in range(kmax + 1)]
        m = sum(b.shape[1] for b in blocks)
        if m > len(x):
            raise ValueError(
                f"projecting on harmonics up to k={kmax} on S^{x.shape[1] - 1} needs n >= {m} "
                f"points (the basis size), got n={len(x)}; raise data.n or lower the frequencies"
            )
        B = np.concatenate(blocks, 1)  # (n, m)
        self.C = torch.from_numpy(np.linalg.pinv(B))  # (m, n): coefficients = C r
        sizes = [multiplicity(x.shape[1], k) for k in range(kmax + 1)]
        self.degree = torch.repeat_interleave(torch.arange(kmax + 1), torch.tensor(sizes))  # (m,)
        self.kmax = kmax

    def norms_of_coefficients(self, c: Tensor) -> Tensor:
        """c (m,) or (m, B) → per-degree norms (kmax + 1,) or (kmax + 1, B)."""
        out = torch.zeros(self.kmax + 1, *c.shape[1:], dtype=c.dtype)
        out.index_add_(0, self.degree, c.pow(2))
        return out.sqrt()

    def norms(self, r: Tensor) -> Tensor:
        return self.norms_of_coefficients(self.C.to(r) @ r)


@dataclass
class FrequencyCurves:
    """What one model's run produced: residual curves on `steps` and per-frequency counts.

    residual[j, i]: ‖P_k r‖/‖P_k r_0‖ of frequency frequencies[j] at steps[i]; counts[j]: first
    step at or below the threshold (inf: never, None for networks stopped at max_steps);
    extrapolated[j]: count computed from the closed form beyond max_steps.
    """

    frequencies: list[int]
    steps: list[int]
    residual: list[list[float]]
    counts: list[float | None]
    extrapolated: list[bool]
    eta: float
    lambda_max: float
    extra: dict = field(default_factory=dict)


def log_grid(max_steps: int, n_log: int) -> list[int]:
    """0 and ~n_log geometrically spaced integer steps up to max_steps."""
    g = np.unique(np.round(np.geomspace(1, max(max_steps, 1), max(n_log, 2))).astype(int))
    return [0, *g.tolist()]


def first_step(reached: Callable[[float], bool], after: float, limit: float = 1e30) -> float:
    """The first integer step t > `after` with `reached(t)`, for a condition that stays true
    once reached and is false at `after`: doubling from 2·after until it holds, then bisection.
    `math.inf` when it still does not hold at a step ≥ `limit`."""
    lo, hi = float(after), max(2.0 * after, 1.0)  # from step 0: 1, 2, 4, ...
    while not reached(hi):
        if hi >= limit:
            return math.inf
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = math.floor((lo + hi) / 2)
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi


def _check(frequencies: list[int], threshold: float, lr: float) -> None:
    if not 0 < threshold < 1:
        raise ValueError(f"threshold (relative residual) must lie in (0, 1), got {threshold}")
    if not 0 < lr < 2:
        raise ValueError(f"lr (η·λ_max) must lie in (0, 2) for stable GD, got {lr}")
    if not frequencies or min(frequencies) < 1:
        raise ValueError(f"frequencies must be integers >= 1, got {frequencies}")


def kernel_curves(
    K: Tensor,
    y: Tensor,
    projector: HarmonicProjector,
    frequencies: list[int],
    *,
    threshold: float = 0.1,
    lr: float = 1.0,
    max_steps: int = 10_000,
    n_log: int = 60,
    max_count: float = 1e30,
) -> FrequencyCurves:
    """Kernel GD from f = 0 on Gram K (n, n) and targets y (n,), through the closed form."""
    _check(frequencies, threshold, lr)
    s, U = torch.linalg.eigh(K.double())
    s = s.clamp_min(0)
    eta = lr / float(s[-1])
    M = -(projector.C.to(U) @ U) * (U.T @ y.double().reshape(-1))[None, :]  # (m, n): c_t = M a^t
    ks = torch.tensor(frequencies)
    start = projector.norms_of_coefficients(M.sum(1))[ks]  # (F,)
    if (start <= 1e-12 * start.max()).any():
        raise ValueError(
            f"the targets have no component at frequencies {ks[start <= 1e-12].tolist()}; "
            "use data.frequencies equal to the study's frequencies"
        )

    def rel(t: float) -> Tensor:  # (F,) relative residual at step t
        return projector.norms_of_coefficients(M @ gd_decay(s, eta, t))[ks] / start

    grid = log_grid(max_steps, n_log)
    a = 1.0 - eta * s  # (n,)
    t_all = torch.arange(max_steps + 1, dtype=s.dtype)
    dense = torch.exp(t_all[None, :] * torch.log(a.abs())[:, None])  # (n, T + 1) = |a|^t
    dense = torch.where((a < 0)[:, None] & (t_all % 2 == 1)[None, :], -dense, dense)
    dense[:, 0] = 1.0
    every = projector.norms_of_coefficients(M @ dense)[ks] / start[:, None]  # (F, T + 1)
    counts: list[float | None] = []
    extrapolated = []
    for j in range(len(ks)):
        below = torch.nonzero(every[j] <= threshold)
        if len(below):
            counts.append(float(below[0, 0]))
            extrapolated.append(False)
            continue
        counts.append(first_step(lambda t, j=j: bool(rel(t)[j] <= threshold), max_steps, max_count))
        extrapolated.append(True)
    return FrequencyCurves(
        frequencies=list(frequencies),
        steps=grid,
        residual=every[:, grid].tolist(),
        counts=counts,
        extrapolated=extrapolated,
        eta=eta,
        lambda_max=float(s[-1]),
    )


class ZeroStart(nn.Module):
    """f(x) = net(x) − net₀(x) with net₀ a frozen copy of `net` at construction: f ≡ 0 at init,
    same parameter gradients (hence the same NTK) as `net`."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.init = copy.deepcopy(net).requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) - self.init(x)


def relative_frobenius(a: Tensor, b: Tensor) -> float:
    """‖a − b‖_F / ‖b‖_F."""
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def network_curves(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    projector: HarmonicProjector,
    frequencies: list[int],
    *,
    threshold: float = 0.1,
    lr: float = 1.0,
    max_steps: int = 10_000,
    n_log: int = 60,
    reference_ntk: Tensor | None = None,
    stop_early: bool = True,
) -> FrequencyCurves:
    """Full-batch GD on the scalar network `net` (B, d) → (B, 1) from the zero function.

    Runs until every frequency is at or below `threshold` (`stop_early`) or `max_steps`, logging
    the residuals on `log_grid(max_steps, n_log)` and the last step. `extra` records the
    empirical NTK Θ̂ on x: ‖Θ̂₀ − reference‖/‖reference‖ (if `reference_ntk` (n, n) is given)
    and its relative change ‖Θ̂_T − Θ̂₀‖/‖Θ̂₀‖ over training.
    """
    _check(frequencies, threshold, lr)
    f = ZeroStart(net)
    x = x.to(next(net.parameters()))
    y = y.to(x).reshape(-1)
    ntk0 = empirical_ntk(net, x).double()
    lam = float(torch.linalg.eigvalsh(ntk0)[-1])
    eta = lr / lam
    opt = torch.optim.SGD(f.net.parameters(), lr=eta)
    ks = torch.tensor(frequencies)
    grid = set(log_grid(max_steps, n_log))
    logged_steps: list[int] = []
    logged: list[Tensor] = []
    counts: list[float | None] = [None] * len(ks)
    start: Tensor | None = None
    for t in range(max_steps + 1):
        out = f(x).reshape(-1)
        r = (out - y).detach().double().cpu()
        norms = projector.norms(r)[ks]
        start = norms if start is None else start
        rel = norms / start
        for j in range(len(ks)):
            if counts[j] is None and rel[j] <= threshold:
                counts[j] = float(t)
        done = stop_early and all(c is not None for c in counts)
        if t in grid or done or t == max_steps:
            logged_steps.append(t)
            logged.append(rel)
        if done or t == max_steps:
            break
        opt.zero_grad(set_to_none=True)
        (0.5 * (out - y).pow(2).sum()).backward()
        opt.step()
    ntk_end = empirical_ntk(net, x).double()
    extra = {"ntk_relative_change": relative_frobenius(ntk_end, ntk0), "steps_run": t}
    if reference_ntk is not None:
        extra["ntk_init_relative_error"] = relative_frobenius(ntk0, reference_ntk.to(ntk0))
    return FrequencyCurves(
        frequencies=list(frequencies),
        steps=logged_steps,
        residual=torch.stack(logged, 1).tolist(),
        counts=counts,
        extrapolated=[False] * len(ks),
        eta=eta,
        lambda_max=lam,
        extra=extra,
    )


def fit_power(
    frequencies: list[int], counts: list[float | None], *, kmin: int = 1
) -> dict[str, float | list[float] | None]:
    """Least-squares fit log(count) = a + p log k over finite counts with k ≥ kmin.

    Returns exponent p, intercept a, r2 (of the fit in log-log), n (points used) and the local
    exponents Δlog count / Δlog k between consecutive frequencies (all k): a power law keeps
    them flat, faster-than-any-power growth makes them increase without bound.
    """
    pairs = [
        (k, c) for k, c in zip(frequencies, counts) if c is not None and math.isfinite(c) and c > 0
    ]
    local = [
        math.log(c2 / c1) / math.log(k2 / k1) for (k1, c1), (k2, c2) in itertools.pairwise(pairs)
    ]
    fit = [(k, c) for k, c in pairs if k >= kmin]
    if len(fit) < 2:
        return {"exponent": None, "intercept": None, "r2": None, "n": len(fit), "local": local}
    lk = np.log([k for k, _ in fit])
    lc = np.log([c for _, c in fit])
    p, a = np.polyfit(lk, lc, 1)
    res = lc - (a + p * lk)
    tot = ((lc - lc.mean()) ** 2).sum()
    r2 = 1 - float((res**2).sum() / tot) if tot > 0 else 1.0
    return {"exponent": float(p), "intercept": float(a), "r2": r2, "n": len(fit), "local": local}
