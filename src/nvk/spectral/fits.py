"""Decay-rate fits of eigenvalues, and least-squares fits of exponential kernels to a profile.

Decay: the slope s of log λ_k = s log k + b over k ∈ [kmin, kmax] (ordinary least squares),
for all k, or even and odd k separately (`parity`); λ_k ~ k^{−(d−1+γ)} for the γ-exponential
and λ_k ~ k^{−d} for the ReLU NTK with bias on S^{d−1} (Geifman et al. 2020, Thms 1–3;
Bietti & Bach 2021). Even and odd k differ for the bias-free NTK (λ_k = 0 for odd k ≥ 3).

Profile fit (Geifman et al. 2020, Fig. 1 left and Fig. 4): minimize over a, b ∈ R and c > 0

    E(a, b, c) = ∫_{-1}^{1} (a κ_exp(u; c) + b − κ_target(u))² w(u) du / ∫ w(u) du,

w = 1 (`weight="uniform"`) or the sphere measure (1 − u²)^{(d−3)/2} (`weight="sphere"`),
κ_exp(u; c) = exp(−c (2 − 2u)^{γ/2}) in nvk's parameterization (`nvk.kernels.exponential`:
exp(−c‖x − z‖^γ) on the unit sphere). For fixed c, (a, b) is linear least squares; c is
found by a bounded scalar search on log c. The integral is a Gauss–Legendre sum in θ
(u = cos θ) on the graded mesh of `nvk.spectral.sphere.theta_rule`, exact to round-off for
these cusped profiles (the uniform weight becomes sin θ dθ).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.optimize import minimize_scalar

from nvk.spectral.sphere import kappa_of_theta, theta_rule

PARITIES = ("all", "even", "odd")
WEIGHTS = ("uniform", "sphere")


@dataclass(frozen=True)
class DecayFit:
    """log λ_k ≈ slope · log k + intercept over k ∈ [kmin, kmax] with the given parity."""

    slope: float
    intercept: float
    kmin: int
    kmax: int
    parity: str
    n_points: int

    def as_dict(self) -> dict:
        return asdict(self)


def fit_decay(
    eigenvalues: np.ndarray,
    kmin: int,
    kmax: int,
    *,
    parity: Literal["all", "even", "odd"] = "all",
    k: np.ndarray | None = None,
) -> DecayFit:
    """Fit log λ_k = slope · log k + intercept on kmin ≤ k ≤ kmax (k defaults to 0..len − 1).

    Every λ_k in the range (of that parity) must be > 0; a ValueError names the ones that are not.
    """
    if parity not in PARITIES:
        raise ValueError(f"parity must be one of {PARITIES}, got {parity!r}")
    lam = np.asarray(eigenvalues, dtype=np.float64)
    k = np.arange(len(lam)) if k is None else np.asarray(k)
    if not 1 <= kmin < kmax:
        raise ValueError(f"need 1 <= kmin < kmax, got kmin={kmin}, kmax={kmax}")
    if kmax > k.max():
        raise ValueError(f"kmax={kmax} beyond the largest k available ({int(k.max())})")
    sel = (k >= kmin) & (k <= kmax)
    if parity != "all":
        sel &= k % 2 == (0 if parity == "even" else 1)
    if sel.sum() < 2:
        raise ValueError(f"fewer than 2 {parity} k in [{kmin}, {kmax}]")
    bad = sel & ~(lam > 0)
    if bad.any():
        raise ValueError(
            f"log-log fit needs λ_k > 0; non-positive at k = {k[bad][:8].tolist()} "
            f"(fit even/odd k separately with parity=, or choose another range)"
        )
    slope, intercept = np.polyfit(np.log(k[sel]), np.log(lam[sel]), 1)
    return DecayFit(float(slope), float(intercept), kmin, kmax, parity, int(sel.sum()))


def decay_slopes(eigenvalues: np.ndarray, kmin: int, kmax: int) -> dict[str, DecayFit]:
    """{"all", "even", "odd"} fits over [kmin, kmax], each present only where its λ_k are > 0."""
    out = {}
    for p in PARITIES:
        try:
            out[p] = fit_decay(eigenvalues, kmin, kmax, parity=p)
        except ValueError:
            continue
    return out


def local_slopes(eigenvalues: np.ndarray, ks: list[int]) -> np.ndarray:
    """Slopes of log λ between consecutive k in `ks` (len(ks) − 1,): λ_k ~ k^s has all equal
    to s; a decay faster than any power has them decreasing without bound."""
    lam = np.asarray(eigenvalues, dtype=np.float64)[ks]
    return np.diff(np.log(lam)) / np.diff(np.log(ks))


@dataclass(frozen=True)
class ProfileFit:
    """a · exp(−c (2 − 2u)^{γ/2}) + b ≈ κ_target(u); `rmse` = √E at the optimum; `at_bound`:
    c ended at an end of the search interval (no interior optimum there, e.g. the L = 2 NTK,
    best matched as c → 0 by a linear function of √(2 − 2u))."""

    a: float
    b: float
    c: float
    gamma: float
    weight: str
    rmse: float
    at_bound: bool = False

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=np.float64), -1.0, 1.0)
        return self.a * np.exp(-self.c * (2.0 - 2.0 * u) ** (self.gamma / 2)) + self.b

    def as_dict(self) -> dict:
        return asdict(self)


def _u_rule(weight: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    """θ nodes (n,) and weights (n,) with Σ w g(cos θ) = ∫ g(u) w(u) du / ∫ w(u) du."""
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {WEIGHTS}, got {weight!r}")
    if weight == "sphere" and (int(d) != d or d < 2):
        raise ValueError(f"the sphere weight needs an integer dimension d >= 2, got {d}")
    theta, w = theta_rule(0, base_nodes=64)
    w = w * np.sin(theta) ** (1 if weight == "uniform" else d - 2)  # du = sin θ dθ
    return theta, w / w.sum()


def fit_exponential(
    target: Callable[[np.ndarray], np.ndarray],
    *,
    gamma: float = 1.0,
    weight: Literal["uniform", "sphere"] = "uniform",
    d: int = 3,
    c_bounds: tuple[float, float] = (1e-3, 1e3),
) -> ProfileFit:
    """Least-squares fit of a · κ_exp(u; c) + b to the profile `target` (see module doc).

    `target`: κ(u) (numpy, e.g. `KernelProfile("fc_ntk", d=2, depth=2, bias=1.0)`); `d` only
    enters through the sphere weight.
    """
    if not 0 < gamma <= 2:
        raise ValueError(f"gamma must be in (0, 2], got {gamma}")
    if not 0 < c_bounds[0] < c_bounds[1]:
        raise ValueError(f"c_bounds must satisfy 0 < low < high, got {c_bounds}")
    theta, w = _u_rule(weight, d)
    y = kappa_of_theta(target, theta)
    chord = (2.0 * np.sin(theta / 2)) ** gamma  # (2 − 2u)^{γ/2}
    sw = np.sqrt(w)

    def solve(log_c: float) -> tuple[float, np.ndarray]:
        design = np.stack([np.exp(-np.exp(log_c) * chord), np.ones_like(chord)], 1)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
        r = design @ coef - y
        return float(w @ r**2), coef

    lo, hi = np.log(c_bounds[0]), np.log(c_bounds[1])
    grid = np.linspace(lo, hi, 61)  # bracket the global minimum, then refine
    i = int(np.argmin([solve(g)[0] for g in grid]))
    res = minimize_scalar(
        lambda g: solve(g)[0],
        bounds=(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]),
        method="bounded",
        options={"xatol": 1e-10},
    )
    err, (a, b) = solve(res.x)
    at_bound = bool(min(res.x - lo, hi - res.x) < 1e-6)
    c = float(np.exp(res.x))
    return ProfileFit(float(a), float(b), c, gamma, weight, float(np.sqrt(err)), at_bound)
