"""Harmonics: orthonormality by quadrature (S¹, S², S⁴ up to degree 32), conventions, Funk–Hecke."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy.special import eval_chebyt, eval_gegenbauer, eval_legendre

from nvk import harmonics as H

KMAX = 32
TOL = 1e-10


def _random_sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _assert_identity(gram: np.ndarray) -> None:
    err = np.abs(gram - np.eye(len(gram))).max()
    assert err < TOL, f"max |G - I| = {err:.3e}"


@pytest.mark.parametrize("d", [2, 3, 4, 5, 10])
def test_multiplicity_is_dimension_of_harmonic_polynomials(d: int) -> None:
    # H_k = homogeneous polynomials of degree k modulo |x|² × degree k-2
    for k in range(0, 20):
        homog = comb(k + d - 1, d - 1) - (comb(k + d - 3, d - 1) if k >= 2 else 0)
        assert H.multiplicity(d, k) == homog
    assert [H.multiplicity(2, k) for k in range(1, 5)] == [2, 2, 2, 2]
    assert [H.multiplicity(3, k) for k in range(5)] == [1, 3, 5, 7, 9]


def test_legendre_matches_scipy_families() -> None:
    t = np.linspace(-1, 1, 101)
    for k in range(KMAX + 1):
        np.testing.assert_allclose(H.legendre(k, 2, t), eval_chebyt(k, t), atol=1e-12)
        np.testing.assert_allclose(H.legendre(k, 3, t), eval_legendre(k, t), atol=1e-12)
        for d in (4, 5, 8):
            lam = (d - 2) / 2
            ref = eval_gegenbauer(k, lam, t) / eval_gegenbauer(k, lam, 1.0)
            np.testing.assert_allclose(H.legendre(k, d, t), ref, atol=1e-10)
        assert H.legendre(k, 7, 1.0) == pytest.approx(1.0)


def test_sphere_area_and_legendre_constant() -> None:
    assert H.sphere_area(2) == pytest.approx(2 * np.pi)
    assert H.sphere_area(3) == pytest.approx(4 * np.pi)
    assert H.sphere_area(5) == pytest.approx(8 * np.pi**2 / 3)
    for d in (2, 3, 5):  # c_d ∫ w = 1, checked with an independent quadrature
        phi = np.linspace(0, np.pi, 200001)  # t = cos φ: (1 - t²)^{(d-3)/2} dt = sin^{d-2} φ dφ
        integral = np.trapezoid(np.sin(phi) ** (d - 2), phi)
        assert H.legendre_constant(d) * integral == pytest.approx(1.0, rel=1e-8)


def test_fourier_modes_on_s1_orthonormal() -> None:
    n = 2 * KMAX + 1  # equispaced rule exact for trigonometric degree ≤ 2 KMAX
    theta = 2 * np.pi * np.arange(n) / n + 0.3
    x = np.stack([np.cos(theta), np.sin(theta)], 1)
    b = H.circle_harmonics(KMAX, x)
    assert b.shape == (n, 2 * KMAX + 1)
    _assert_identity(b.T @ b / n)


def test_real_spherical_harmonics_on_s2_orthonormal() -> None:
    x, w = H.sphere_quadrature(3, KMAX + 1)  # exact to degree 2 KMAX + 1
    b = H.sphere_harmonics(KMAX, x)
    assert b.shape[1] == (KMAX + 1) ** 2 == sum(H.multiplicity(3, k) for k in range(KMAX + 1))
    _assert_identity(b.T @ (w[:, None] * b))


def test_spherical_harmonics_convention_and_addition_theorem() -> None:
    x = _random_sphere(50, 3, seed=1)
    deg1 = np.stack([H.real_sph_harm(1, m, x) for m in (-1, 0, 1)], 1)
    np.testing.assert_allclose(deg1, np.sqrt(3) * x[:, [1, 2, 0]], atol=1e-12)
    y = _random_sphere(50, 3, seed=2)
    for l in (0, 1, 5, 17, KMAX):
        lhs = (H.harmonic_basis(l, x) * H.harmonic_basis(l, y)).sum(1)
        rhs = (2 * l + 1) * H.legendre(l, 3, (x * y).sum(1))
        np.testing.assert_allclose(lhs, rhs, atol=1e-9)
    for k in (1, 4, 9):  # S¹ addition theorem: 2 cos(k Δθ)
        a, b = _random_sphere(20, 2, 3), _random_sphere(20, 2, 4)
        lhs = (H.harmonic_basis(k, a) * H.harmonic_basis(k, b)).sum(1)
        np.testing.assert_allclose(lhs, 2 * H.legendre(k, 2, (a * b).sum(1)), atol=1e-12)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_zonal_harmonics_orthonormal_gegenbauer_weight(d: int) -> None:
    t, w = H.legendre_quadrature(d, KMAX + 1)
    z = np.sqrt([H.multiplicity(d, k) for k in range(KMAX + 1)])[:, None] * H.legendre_all(
        KMAX, d, t
    )
    _assert_identity(z @ (w[:, None] * z.T))


def test_sphere_quadrature_moments_and_s4_reproducing_property() -> None:
    d = 5
    x, w = H.sphere_quadrature(d, 9)  # exact to degree 17
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0) and w.sum() == pytest.approx(1.0)
    # moments of the uniform distribution on S^{d-1}
    assert w @ x[:, 2] ** 2 == pytest.approx(1 / d, abs=1e-13)
    assert w @ x[:, 0] ** 4 == pytest.approx(3 / (d * (d + 2)), abs=1e-13)
    assert w @ (x[:, 1] ** 2 * x[:, 3] ** 2) == pytest.approx(1 / (d * (d + 2)), abs=1e-13)
    poles = _random_sphere(3, d, seed=5)
    for k in range(9):
        z = np.stack([H.zonal(k, d, x, e) for e in poles])
        gram = z @ (w[:, None] * z.T)  # <Z(e_i), Z(e_j)> = P_k(<e_i, e_j>)
        np.testing.assert_allclose(gram, H.legendre(k, d, poles @ poles.T), atol=TOL)
        other = H.zonal(k + 1, d, x, poles[0])
        assert abs(w @ (z[0] * other)) < TOL


@pytest.mark.parametrize("d", [2, 3, 5])
def test_funk_hecke_diagonalizes_legendre_kernels(d: int) -> None:
    for j in (0, 3, 7):
        lam = H.funk_hecke(lambda t, j=j: H.legendre(j, d, t), d, 10)
        expect = np.zeros(11)
        expect[j] = 1 / H.multiplicity(d, j)
        np.testing.assert_allclose(lam, expect, atol=1e-12)
    # κ(<x,y>) = Σ λ_k N P_k(<x,y>) for a smooth kernel
    t = np.linspace(-1, 1, 9)
    lam = H.funk_hecke(np.exp, d, 40)
    n = np.array([H.multiplicity(d, k) for k in range(41)])
    np.testing.assert_allclose((lam * n) @ H.legendre_all(40, d, t), np.exp(t), atol=1e-10)


@pytest.mark.parametrize("d,k", [(2, 3), (3, 4), (5, 6)])
def test_random_harmonic_unit_norm_and_pure_degree(d: int, k: int) -> None:
    f = H.RandomHarmonic(d, k, np.random.default_rng(0))
    x, w = H.sphere_quadrature(d, k + 2)
    fx = f(x)
    assert w @ fx**2 == pytest.approx(1.0, abs=1e-10)
    for j in range(k + 2):  # orthogonal to every zonal harmonic of another degree
        if j != k:
            assert abs(w @ (fx * H.zonal(j, d, x, np.eye(d)[0]))) < 1e-10
    g = H.RandomHarmonic(d, k, np.random.default_rng(0))
    np.testing.assert_array_equal(g(x), fx)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        H.multiplicity(1, 2)
    with pytest.raises(ValueError, match="degree k"):
        H.legendre(-1, 3, 0.5)
    with pytest.raises(ValueError, match=r"\|m\| <= l"):
        H.real_sph_harm(2, 3, np.eye(3))
    with pytest.raises(ValueError, match="d = 2, 3"):
        H.harmonic_basis(2, np.eye(4))
