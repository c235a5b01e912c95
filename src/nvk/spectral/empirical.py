"""Spectra and eigenfunctions from Gram matrices: data spectra, Monte Carlo checks, Nyström.

For n samples x_i ~ p, the integral operator (T f)(x) = ∫ k(x, y) f(y) p(y) dy is approximated
by K / n, K_ij = k(x_i, x_j): its eigenvalues μ_j estimate T's, and with K v_j = n μ_j v_j,
‖v_j‖ = 1, the Nyström extension

    φ_j(x) = (1 / (n μ_j)) Σ_i k(x, x_i) v_ij · √n

estimates T's eigenfunctions normalized in L²(p) (φ_j(x_i) = √n v_ij, so mean φ_j(x_i)² = 1).
On S^{d−1} with p uniform, projecting K / n onto the degree-k harmonics gives the Funk–Hecke
eigenvalue λ_k = E[Y(x) k(x, y) Y(y)] (x, y independent, Y a unit-norm degree-k harmonic):
the unbiased U-statistic λ_k ≈ Σ_{i≠j} Σ_m Y_m(x_i) K_ij Y_m(x_j) / (n (n − 1) N(d, k)) with
Y (n, N(d, k)) the orthonormal basis of `nvk.harmonics.harmonic_basis` at the samples
(`projected_eigenvalues`; the diagonal i = j would add a bias κ(1)/n).

Kernels are nvk pure functions `kernel(x1, x2, **params)` on float64 tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from nvk.harmonics import harmonic_basis

Kernel = Callable[..., torch.Tensor]


def _gram(kernel: Kernel, x1: np.ndarray, x2: np.ndarray | None = None, **params) -> np.ndarray:
    a = torch.as_tensor(np.asarray(x1, dtype=np.float64))
    b = a if x2 is None else torch.as_tensor(np.asarray(x2, dtype=np.float64))
    with torch.no_grad():
        return kernel(a, b, **params).numpy()


def gram_spectrum(kernel: Kernel, x: np.ndarray, **params) -> np.ndarray:
    """Eigenvalues of K / n for x: (n, D), in decreasing order (n,)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected data x: (n, D) with n >= 2, got shape {x.shape}")
    k = _gram(kernel, x, **params)
    return np.linalg.eigvalsh(k / len(x))[::-1].copy()


def projected_eigenvalues(k_gram: np.ndarray, x: np.ndarray, kmax: int) -> np.ndarray:
    """Monte Carlo λ_0..λ_kmax (kmax + 1,) from a Gram matrix K (n, n) of points x: (n, d),
    d = 2 or 3, sampled uniformly on the sphere (see module doc)."""
    n = len(x)
    if k_gram.shape != (n, n):
        raise ValueError(f"Gram matrix shape {k_gram.shape} does not match {n} points")
    off = k_gram - np.diag(np.diag(k_gram))  # U-statistic: drop i = j
    out = np.empty(kmax + 1)
    for k in range(kmax + 1):
        y = harmonic_basis(k, x)  # (n, N(d, k))
        out[k] = np.sum(y * (off @ y)) / (n * (n - 1) * y.shape[1])
    return out


def uniform_disk(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform on the unit disk (n, 2): radius √U, angle uniform."""
    r = np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0, 2 * np.pi, size=n)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


@dataclass
class NystromEigen:
    """The top-m eigenpairs of K / n on samples x (n, D); `__call__` evaluates φ_j anywhere."""

    kernel: Kernel
    params: dict
    x: np.ndarray  # (n, D) samples
    eigenvalues: np.ndarray  # μ_j (m,), decreasing
    vectors: np.ndarray  # v_j (n, m), unit norm

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """φ_j(z) for z: (M, D) → (M, m), unit L²(p) norm, sign fixed by `nystrom_eigen`."""
        n = len(self.x)
        kz = _gram(self.kernel, z, self.x, **self.params)  # (M, n)
        return kz @ self.vectors * (np.sqrt(n) / (n * self.eigenvalues))


def nystrom_eigen(kernel: Kernel, x: np.ndarray, m: int, **params) -> NystromEigen:
    """Top-m eigenpairs of K / n for samples x: (n, D). Signs: Σ_i v_ij ≥ 0 (else the first
    nonzero entry of the vector positive), so repeated runs agree up to degenerate rotations."""
    x = np.asarray(x, dtype=np.float64)
    if not 1 <= m <= len(x):
        raise ValueError(f"number of eigenpairs m must be in [1, {len(x)}], got {m}")
    n = len(x)
    k = _gram(kernel, x, **params) / n
    mu, v = scipy.linalg.eigh(k, subset_by_index=[n - m, n - 1])  # top m only: much faster
    mu, v = mu[::-1].copy(), v[:, ::-1].copy()
    s = np.sign(v.sum(0))
    s[s == 0] = 1.0
    return NystromEigen(kernel, dict(params), x, mu, v * s)


def eigen_clusters(eigenvalues: np.ndarray, rtol: float = 0.05) -> list[list[int]]:
    """Group indices of decreasing eigenvalues whose consecutive relative gap is < rtol
    (numerically degenerate eigenspaces, e.g. the cos/sin pairs of a rotation-invariant
    kernel on the disk)."""
    groups: list[list[int]] = [[0]]
    for j in range(1, len(eigenvalues)):
        prev, cur = eigenvalues[j - 1], eigenvalues[j]
        if abs(prev - cur) < rtol * abs(prev):
            groups[-1].append(j)
        else:
            groups.append([j])
    return groups


def common_cuts(*spectra: np.ndarray, rtol: float = 0.25) -> list[int]:
    """Sizes r of leading eigenspaces that are well separated in every spectrum given:
    r such that μ_r < (1 − rtol) μ_{r−1} in each (decreasing) spectrum. Spans of the first r
    eigenfunctions are then comparable across runs even where eigenvalues are degenerate."""
    m = min(len(s) for s in spectra)
    return [
        r
        for r in range(1, m)
        if all(s[r] < (1 - rtol) * s[r - 1] for s in (np.asarray(t) for t in spectra))
    ]


def subspace_agreement(phi: np.ndarray, psi: np.ndarray, weights: np.ndarray) -> float:
    """Cosine of the largest principal angle between span(φ) and span(ψ), φ, ψ: (M, r) sampled
    on points with quadrature weights (M,): 1 when the spaces coincide, ≤ 1 otherwise."""
    if phi.shape != psi.shape:
        raise ValueError(f"eigenfunction blocks differ in shape: {phi.shape} vs {psi.shape}")
    sw = np.sqrt(weights)[:, None]
    qa, _ = np.linalg.qr(phi * sw)
    qb, _ = np.linalg.qr(psi * sw)
    return float(np.linalg.svd(qa.T @ qb, compute_uv=False).min())


def abs_correlation(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """|corr(φ_i, ψ_j)| (m1, m2) of eigenfunction values at common samples, φ: (n, m1),
    ψ: (n, m2) (uncentered: the L²(p) inner product of unit-norm functions)."""
    a = phi / np.linalg.norm(phi, axis=0)
    b = psi / np.linalg.norm(psi, axis=0)
    return np.abs(a.T @ b)
