"""Harmonic analysis on spheres: Legendre/Gegenbauer polynomials, spherical harmonics, Funk–Hecke.

Convention (used everywhere in nvk): functions on S^{d-1} ⊂ R^d are normalized under the
*probability* surface measure σ̄ = σ / |S^{d-1}|, i.e. ∫ Y² dσ̄ = 1 (so ‖Y‖² = E_x[Y(x)²] for
x uniform on the sphere, which is what a Gram matrix / n estimates). With this convention

* Legendre polynomial of dimension d: P_k = P_k^{(d)}, P_k(1) = 1 (Chebyshev T_k for d = 2,
  classical Legendre for d = 3, C_k^{(d-2)/2}/C_k^{(d-2)/2}(1) in general);
* addition theorem: Σ_j Y_kj(x) Y_kj(y) = N(d, k) P_k(<x, y>) for any orthonormal basis of
  the degree-k harmonics H_k (dimension N(d, k) = `multiplicity(d, k)`);
* zonal harmonic with pole e: Z_k(x) = sqrt(N(d, k)) P_k(<x, e>), unit norm;
* ∫ g(<x, e>) dσ̄(x) = c_d ∫_{-1}^{1} g(t) (1 - t²)^{(d-3)/2} dt with
  c_d = |S^{d-2}| / |S^{d-1}|; `legendre_quadrature` returns nodes/weights of that measure;
* Funk–Hecke: ∫ κ(<x, y>) Y_k(y) dσ̄(y) = λ_k Y_k(x) with
  λ_k = c_d ∫ κ(t) P_k(t) (1 - t²)^{(d-3)/2} dt (`funk_hecke`), so that
  κ(<x, y>) = Σ_k λ_k N(d, k) P_k(<x, y>).

Points are arrays x: (n, d) of unit vectors; results are float64 numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb, gamma, pi, sqrt

import numpy as np
from scipy.special import roots_jacobi, sph_harm_y


def _check_dim(d: int) -> None:
    if int(d) != d or d < 2:
        raise ValueError(f"ambient dimension d must be an integer >= 2, got {d}")


def _check_degree(k: int) -> None:
    if int(k) != k or k < 0:
        raise ValueError(f"degree k must be an integer >= 0, got {k}")


def sphere_area(d: int) -> float:
    """|S^{d-1}| = 2 π^{d/2} / Γ(d/2), surface area of the unit sphere in R^d (d ≥ 1)."""
    if int(d) != d or d < 1:
        raise ValueError(f"dimension d must be an integer >= 1, got {d}")
    return 2.0 * pi ** (d / 2) / gamma(d / 2)


def uniform_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform on S^{d-1}: (n, d) (normalized Gaussians)."""
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def multiplicity(d: int, k: int) -> int:
    """N(d, k): dimension of the degree-k spherical harmonics on S^{d-1}.

    N(d, 0) = 1, N(d, k) = (2k + d - 2)/k · C(k + d - 3, k - 1); 2 on S¹, 2k + 1 on S².
    """
    _check_dim(d)
    _check_degree(k)
    if k == 0:
        return 1
    return (2 * k + d - 2) * comb(k + d - 3, k - 1) // k


def legendre_all(kmax: int, d: int, t: np.ndarray | float) -> np.ndarray:
    """P_0..P_kmax of dimension d at t: (kmax + 1, *t.shape), P_k(1) = 1.

    Three-term recurrence (k + d - 2) P_{k+1} = (2k + d - 2) t P_k - k P_{k-1}.
    """
    _check_dim(d)
    _check_degree(kmax)
    t = np.asarray(t, dtype=np.float64)
    out = np.empty((kmax + 1, *t.shape))
    out[0] = 1.0
    if kmax >= 1:
        out[1] = t
    for k in range(1, kmax):
        out[k + 1] = ((2 * k + d - 2) * t * out[k] - k * out[k - 1]) / (k + d - 2)
    return out


def legendre(k: int, d: int, t: np.ndarray | float) -> np.ndarray:
    """P_k of dimension d at t (same shape as t); see `legendre_all`."""
    return legendre_all(k, d, t)[k]


def gegenbauer_weight(d: int, t: np.ndarray) -> np.ndarray:
    """(1 - t²)^{(d-3)/2}: the density of <x, e> for x uniform on S^{d-1} (up to c_d)."""
    _check_dim(d)
    return (1.0 - np.asarray(t, dtype=np.float64) ** 2) ** ((d - 3) / 2)


def legendre_constant(d: int) -> float:
    """c_d = |S^{d-2}| / |S^{d-1}|, so that c_d ∫ (1 - t²)^{(d-3)/2} dt = 1."""
    _check_dim(d)
    return sphere_area(d - 1) / sphere_area(d)


def legendre_quadrature(d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Gegenbauer rule for t = <x, e>, x uniform on S^{d-1}: nodes t (n,), weights w (n,).

    Σ w_i g(t_i) = ∫ g(<x, e>) dσ̄(x) exactly for polynomials g of degree ≤ 2n - 1;
    the weights sum to 1.
    """
    _check_dim(d)
    if n < 1:
        raise ValueError(f"number of nodes must be >= 1, got {n}")
    a = (d - 3) / 2
    t, w = roots_jacobi(n, a, a)
    return t, w / w.sum()


def funk_hecke(
    kernel: Callable[[np.ndarray], np.ndarray], d: int, kmax: int, *, n_quad: int = 1024
) -> np.ndarray:
    """Eigenvalues λ_0..λ_kmax (kmax + 1,) of the dot-product kernel κ(<x, y>) on S^{d-1}
    under σ̄ (each λ_k has multiplicity N(d, k)), by Gauss–Gegenbauer quadrature.

    Exact for polynomial κ of degree < 2 n_quad - kmax; kernels with kinks at t = ±1 (arc-cosine,
    Laplace) converge algebraically in n_quad.
    """
    t, w = legendre_quadrature(d, n_quad)
    return legendre_all(kmax, d, t) @ (w * np.asarray(kernel(t), dtype=np.float64))


def zonal(k: int, d: int, x: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """Unit-norm zonal harmonic sqrt(N(d, k)) P_k(<x, pole>) at points x: (n, d) → (n,)."""
    x = np.asarray(x, dtype=np.float64)
    pole = np.asarray(pole, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != d or pole.shape != (d,):
        raise ValueError(f"expected x: (n, {d}) and pole: ({d},), got {x.shape} and {pole.shape}")
    pole = pole / np.linalg.norm(pole)
    return sqrt(multiplicity(d, k)) * legendre(k, d, np.clip(x @ pole, -1.0, 1.0))


def circle_harmonics(kmax: int, x: np.ndarray) -> np.ndarray:
    """Real Fourier basis on S¹ at x: (n, 2) → (n, 2 kmax + 1), unit norm under σ̄.

    Columns: 1, then for k = 1..kmax: √2 cos kθ, √2 sin kθ with θ = atan2(x₂, x₁).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points x: (n, 2) on S¹, got {x.shape}")
    theta = np.arctan2(x[:, 1], x[:, 0])
    cols = [np.ones_like(theta)]
    for k in range(1, kmax + 1):
        cols += [sqrt(2) * np.cos(k * theta), sqrt(2) * np.sin(k * theta)]
    return np.stack(cols, axis=1)


def real_sph_harm(l: int, m: int, x: np.ndarray) -> np.ndarray:
    """Real spherical harmonic Y_lm on S² at x: (n, 3) → (n,), |m| ≤ l, unit norm under σ̄.

    Y_l0 = √(4π) Y_l^0; m > 0: √2 √(4π) (-1)^m Re Y_l^m ∝ cos mφ; m < 0: ∝ sin |m|φ, where Y_l^m
    is SciPy's complex harmonic (Condon–Shortley phase, cancelled by (-1)^m). Degree 1 is
    (Y_1,-1, Y_10, Y_11) = √3 (x₂, x₃, x₁).
    """
    _check_degree(l)
    if abs(m) > l:
        raise ValueError(f"order m must satisfy |m| <= l, got l={l}, m={m}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"expected points x: (n, 3) on S², got {x.shape}")
    polar = np.arccos(np.clip(x[:, 2], -1.0, 1.0))
    azim = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * pi)
    y = sph_harm_y(l, abs(m), polar, azim) * sqrt(4 * pi)
    if m == 0:
        return y.real
    sign = -1.0 if m % 2 else 1.0
    return sqrt(2) * sign * (y.real if m > 0 else y.imag)


def sphere_harmonics(lmax: int, x: np.ndarray) -> np.ndarray:
    """All real spherical harmonics of degree ≤ lmax on S²: (n, (lmax + 1)²), ordered by l then
    m = -l..l (columns l² .. l² + 2l hold degree l)."""
    return np.stack([real_sph_harm(l, m, x) for l in range(lmax + 1) for m in range(-l, l + 1)], 1)


def harmonic_basis(k: int, x: np.ndarray) -> np.ndarray:
    """An orthonormal basis of H_k at x: (n, d) → (n, N(d, k)) for d = 2 (Fourier) or d = 3."""
    d = x.shape[1]
    if d == 2:
        return circle_harmonics(k, x)[:, max(0, 2 * k - 1) :]
    if d == 3:
        return np.stack([real_sph_harm(k, m, x) for m in range(-k, k + 1)], 1)
    raise ValueError(f"full harmonic bases are implemented for d = 2, 3; got d = {d} (use zonal)")


class RandomHarmonic:
    """A seeded random unit-norm degree-k harmonic f on S^{d-1}, callable on x: (n, d) → (n,).

    d = 2, 3: f = Σ_j a_j Y_kj with a uniform on the unit sphere of R^{N(d,k)} (a rotation-
    invariant draw from H_k). d ≥ 4: f = Σ_i a_i Z_k(·; e_i) over min(N(d, k), max_poles) random
    poles e_i with Gaussian a, rescaled to unit norm exactly via <Z(·;e_i), Z(·;e_j)> =
    P_k(<e_i, e_j>) (reproducing property).
    """

    def __init__(self, d: int, k: int, rng: np.random.Generator, *, max_poles: int = 16) -> None:
        _check_dim(d)
        _check_degree(k)
        self.d, self.k = d, k
        if d <= 3:
            a = rng.standard_normal(multiplicity(d, k))
            self.coef, self.poles = a / np.linalg.norm(a), None
        else:
            m = min(multiplicity(d, k), max_poles)
            e = uniform_sphere(m, d, rng)
            a = rng.standard_normal(m)
            gram = legendre(k, d, np.clip(e @ e.T, -1.0, 1.0))
            self.coef, self.poles = a / sqrt(float(a @ gram @ a)), e

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.poles is None:
            return harmonic_basis(self.k, x) @ self.coef
        return sum(c * zonal(self.k, self.d, x, e) for c, e in zip(self.coef, self.poles))


def sphere_quadrature(d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss rule on S^{d-1}: points (M, d), weights (M,) summing to 1 (σ̄).

    x = (t, √(1 - t²) u) with t ~ `legendre_quadrature(d, n)` and u on S^{d-2} recursively;
    S¹ uses 2n equispaced angles. Exact for polynomials of degree ≤ 2n - 1;
    M = 2n · n^{d-2}, so keep n small for d ≥ 5.
    """
    _check_dim(d)
    if n < 1:
        raise ValueError(f"number of nodes must be >= 1, got {n}")
    if d == 2:
        theta = 2 * pi * np.arange(2 * n) / (2 * n)
        return np.stack([np.cos(theta), np.sin(theta)], 1), np.full(2 * n, 1.0 / (2 * n))
    u, wu = sphere_quadrature(d - 1, n)
    t, wt = legendre_quadrature(d, n)
    s = np.sqrt(1.0 - t**2)
    rest = (s[:, None, None] * u).reshape(-1, d - 1)
    pts = np.concatenate([np.repeat(t, len(u))[:, None], rest], 1)
    return pts, np.outer(wt, wu).ravel()
