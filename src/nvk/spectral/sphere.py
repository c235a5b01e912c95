"""Eigenvalues of zonal kernels k(x, y) = κ(<x, y>) on S^{d−1} by the Funk–Hecke formula.

Conventions are those of `nvk.harmonics` (probability surface measure σ̄): with u = cos θ,

    λ_k = c_d ∫_{-1}^{1} κ(u) P_k(u) (1 − u²)^{(d−3)/2} du
        = c_d ∫_0^π κ(cos θ) P_k(cos θ) sin^{d−2} θ dθ,          c_d = |S^{d−2}| / |S^{d−1}|,

P_k = P_k^{(d)} the Legendre polynomial of dimension d (P_k(1) = 1; cos kθ on S¹, where
λ_k = (1/π) ∫_0^π κ(cos θ) cos kθ dθ are Fourier coefficients). Each λ_k has multiplicity
N(d, k) (`nvk.harmonics.multiplicity`) and κ(u) = Σ_k λ_k N(d, k) P_k(u).

Quadrature and error control. The kernels' profiles have a cusp at u = 1 (√(1 − u),
arccos u), which ruins Gauss rules in u, but κ(cos θ) is smooth in θ: for the NTK/NNGP,
Laplace and Gaussian it is analytic on [0, π] (arccos(cos θ) = θ, √(2 − 2u) = 2 sin(θ/2)), and
for the γ-exponential with γ < 1 or 2 it behaves like θ^γ at θ = 0 only. We integrate in θ
with composite Gauss–Legendre on a mesh graded geometrically towards θ = 0 (breakpoints
π σ^j, σ = 0.15, j = 0..J), which converges exponentially both for analytic integrands and
for algebraic end-point singularities (hp-quadrature); panels are cut further so that cos kθ
turns by at most `base_nodes`/4 radians on each (`theta_rule`). The integral is then
recomputed with every panel's node count doubled, and `SphereSpectrum.error` is the difference
|λ_k(n) − λ_k(2n)|, a (pessimistic) estimate of the error of the coarse value; the returned λ_k
are the fine ones; a round-off bound eps·√n·c_d Σ_i |w_i κ_i P_k(cos θ_i) sin^{d−2} θ_i| is
added to the estimate. Floating point limits what any rule can give: an absolute error of
about 1e-15 · λ_0, so λ_k far below that (the Gaussian's at high k) are noise; `resolved()`
marks the k with λ_k > 100 · error (relative error below 1%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from math import pi

import numpy as np
import torch

from nvk.harmonics import legendre_all, legendre_constant, multiplicity
from nvk.kernels.zonal import profile_name, zonal_profile

GRADING = 0.15  # ratio of consecutive breakpoints of the graded mesh


class KernelProfile:
    """κ of an nvk kernel (a key of `nvk.kernels.zonal.PROFILES`) as a float64 numpy function.

    `profile(u)`: κ(u) for u (…) in [−1, 1]; `profile.of_theta(θ)`: κ(cos θ), evaluated for the
    exponential family from the exact chord 2 sin(θ/2) (no cancellation in 2 − 2 cos θ).
    """

    def __init__(self, kernel: str, **params) -> None:
        self.kernel, self.params = profile_name(kernel), dict(params)  # aliases: their name
        zonal_profile(kernel, torch.zeros(1, dtype=torch.float64), **params)  # validate params

    def __call__(self, u: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.asarray(u, dtype=np.float64))
        return zonal_profile(self.kernel, t, **self.params).numpy()

    def of_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float64)
        if self.kernel in ("fc_ntk", "fc_nngp"):
            return self(np.cos(theta))
        gamma = {"laplace": 1.0, "h_laplace": 1.0, "gaussian": 2.0, "h_gaussian": 2.0}.get(
            self.kernel, self.params.get("gamma", 1.0)
        )
        c = float(self.params.get("c", 1.0))
        return np.exp(-c * (2.0 * np.sin(theta / 2)) ** float(gamma))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"KernelProfile({self.kernel!r}{', ' if args else ''}{args})"


def kappa_of_theta(profile: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    """κ(cos θ) for θ (…): `profile.of_theta` when it has one, else profile(cos θ)."""
    f = getattr(profile, "of_theta", None)
    out = f(theta) if f is not None else profile(np.cos(theta))
    out = np.asarray(out, dtype=np.float64)
    if out.shape != np.shape(theta):
        raise ValueError(f"profile returned shape {out.shape} for input shape {np.shape(theta)}")
    return out


def theta_rule(
    kmax: int, *, base_nodes: int = 48, levels: int = 24, refine: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Graded composite Gauss–Legendre rule on [0, π]: nodes θ (n,), weights w (n,).

    Panels [π σ^{j+1}, π σ^j] for j < `levels` plus [0, π σ^levels], each cut into
    ⌈2 kmax h / base_nodes⌉ equal sub-panels (so cos kθ has at most base_nodes / 4 radians of
    phase per sub-panel), each with `refine` · `base_nodes` Gauss nodes. Many short panels
    rather than one long rule: Gauss rules with hundreds of nodes carry ~1e-14 node errors.
    Σ w f(θ) ≈ ∫_0^π f dθ.
    """
    if int(kmax) != kmax or kmax < 0:
        raise ValueError(f"kmax must be an integer >= 0, got {kmax}")
    if base_nodes < 2 or levels < 1 or refine < 1:
        raise ValueError(
            f"need base_nodes >= 2, levels >= 1, refine >= 1; got {base_nodes}, {levels}, {refine}"
        )
    graded = np.concatenate([[0.0], pi * GRADING ** np.arange(levels, -1, -1)])
    pieces = [
        np.linspace(a, b, max(1, int(np.ceil(2 * kmax * (b - a) / base_nodes))) + 1)[:-1]
        for a, b in pairwise(graded)
    ]
    edges = np.concatenate([*pieces, [pi]])
    x, w = np.polynomial.legendre.leggauss(refine * base_nodes)
    half = np.diff(edges)[:, None] / 2  # (panels, 1)
    mid = (edges[:-1] + edges[1:])[:, None] / 2
    return (mid + half * x).ravel(), (half * w).ravel()


def _funk_hecke_theta(
    kappa: np.ndarray, theta: np.ndarray, w: np.ndarray, d: int, kmax: int
) -> tuple[np.ndarray, np.ndarray]:
    """(λ_k, round-off bound eps·√n·c_d Σ|w κ P_k sin^{d−2}|), both (kmax + 1,)."""
    if d == 2:  # P_k = T_k, P_k(cos θ) = cos kθ exactly
        basis = np.cos(np.arange(kmax + 1)[:, None] * theta[None, :])
    else:
        basis = legendre_all(kmax, d, np.cos(theta))
    f = legendre_constant(d) * w * kappa * np.sin(theta) ** (d - 2)
    roundoff = np.finfo(np.float64).eps * np.sqrt(len(theta)) * (np.abs(basis) @ np.abs(f))
    return basis @ f, roundoff


@dataclass(frozen=True)
class SphereSpectrum:
    """λ_k, k = 0..kmax (kmax + 1,), of a zonal kernel on S^{d−1}, with error estimates."""

    d: int
    eigenvalues: np.ndarray  # λ_k (each with multiplicity N(d, k))
    error: np.ndarray  # |λ_k(n nodes) − λ_k(2n nodes)| + round-off bound
    nodes: int  # nodes of the fine rule

    @property
    def k(self) -> np.ndarray:
        return np.arange(len(self.eigenvalues))

    @property
    def multiplicities(self) -> np.ndarray:
        return np.array([multiplicity(self.d, int(k)) for k in self.k])

    def resolved(self, factor: float = 100.0) -> np.ndarray:
        """Boolean mask (kmax + 1,): λ_k > factor · error (discretization + round-off)."""
        return np.abs(self.eigenvalues) > factor * self.error


def sphere_eigenvalues(
    profile: Callable[[np.ndarray], np.ndarray],
    d: int,
    kmax: int,
    *,
    base_nodes: int = 48,
    levels: int = 24,
) -> SphereSpectrum:
    """Funk–Hecke eigenvalues λ_0..λ_kmax of κ(<x, y>) on S^{d−1}, d ≥ 2 (see module doc).

    `profile`: κ(u) on u (n,) → (n,) (numpy; e.g. `KernelProfile("laplace", c=1.0)` or any
    callable; an `of_theta(θ)` attribute is used when present).
    """
    if int(d) != d or d < 2:
        raise ValueError(f"ambient dimension d must be an integer >= 2, got {d}")
    coarse = theta_rule(kmax, base_nodes=base_nodes, levels=levels)
    fine = theta_rule(kmax, base_nodes=base_nodes, levels=levels, refine=2)
    (lam0, _), (lam, roundoff) = (
        _funk_hecke_theta(kappa_of_theta(profile, t), t, w, d, kmax) for t, w in (coarse, fine)
    )
    return SphereSpectrum(d, lam, np.abs(lam - lam0) + roundoff, len(fine[0]))
