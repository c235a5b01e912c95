"""Funk–Hecke eigenvalues against closed forms, exact polynomial rules, Mercer expansions and
Theorem 1 of Geifman et al. (2020); decay slopes of the issue's acceptance list."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ive

from nvk.harmonics import funk_hecke, legendre_all, multiplicity
from nvk.spectral import KernelProfile, decay_slopes, local_slopes, sphere_eigenvalues


@pytest.mark.parametrize("c", [0.5, 2.0, 10.0])
def test_gaussian_on_circle_matches_bessel_closed_form(c):
    # κ(u) = exp(−c(2 − 2u)) = e^{−2c} e^{2c cos θ}  ⇒  λ_k = e^{−2c} I_k(2c) (Fourier coefficients)
    s = sphere_eigenvalues(KernelProfile("gaussian", c=c), 2, 256)
    ref = ive(np.arange(257), 2 * c)
    err = np.abs(s.eigenvalues - ref)
    big = ref >= 1e-6 * ref[0]
    assert big.sum() >= 6
    assert np.all(err[big] <= 1e-10 * ref[big])  # 1e-10 relative where λ_k ≥ 1e-6 λ_0
    assert np.all(err <= 1e-14 * ref[0])  # round-off level everywhere else
    assert np.all(err <= s.error)  # the error estimate bounds the true error


def test_cusped_arccosine_profile_on_circle_matches_closed_form_to_k_256():
    # κ(u) = 1 − arccos(u)/π (arc-cosine kernel of order 0, cusp at u = ±1) = 1 − θ/π:
    # λ_0 = 1/2, λ_k = 2/(π² k²) for odd k, 0 for even k ≥ 2 (Fourier series of a triangle wave)
    s = sphere_eigenvalues(lambda u: 1 - np.arccos(np.clip(u, -1, 1)) / np.pi, 2, 256)
    k = np.arange(257)
    odd = k % 2 == 1
    ref = np.where(odd, 2 / (np.pi**2 * np.maximum(k, 1) ** 2), 0.0)
    ref[0] = 0.5
    np.testing.assert_allclose(s.eigenvalues[odd], ref[odd], rtol=1e-9, atol=0)  # 3.4e-10 seen
    assert np.all(np.abs(s.eigenvalues[~odd] - ref[~odd]) <= 1e-14)
    assert np.all(np.abs(s.eigenvalues - ref) <= s.error)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_polynomial_profile_matches_exact_gegenbauer_rule(d):
    # For a polynomial κ the Gauss–Gegenbauer rule in u of nvk.harmonics is exact.
    coef = np.array([0.3, -0.2, 0.5, 0.1, 0.7, -0.4, 0.25])

    def kappa(u):
        return np.polynomial.polynomial.polyval(u, coef)

    s = sphere_eigenvalues(kappa, d, 10)
    exact = funk_hecke(kappa, d, 10, n_quad=16)
    np.testing.assert_allclose(s.eigenvalues, exact, rtol=0, atol=1e-14)
    assert np.all(np.abs(s.eigenvalues[7:]) < 1e-14)  # degree 6: nothing above k = 6


@pytest.mark.parametrize("d", [3, 4])
def test_mercer_expansion_reconstructs_profile(d):
    # κ(u) = Σ_k λ_k N(d, k) P_k(u): an independent check of the normalization in any d
    prof = KernelProfile("gaussian", c=1.5)
    s = sphere_eigenvalues(prof, d, 60)
    u = np.linspace(-1, 1, 41)
    n = np.array([multiplicity(d, k) for k in range(61)])
    recon = (s.eigenvalues * n) @ legendre_all(60, d, u)
    np.testing.assert_allclose(recon, prof(u), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s.multiplicities, n)


def test_fc_ntk_of_theta_equals_profile_and_error_estimate_is_small():
    prof = KernelProfile("fc_ntk", d=3, depth=4, bias=0.5)
    theta = np.linspace(0, np.pi, 50)
    np.testing.assert_allclose(prof.of_theta(theta), prof(np.cos(theta)), rtol=1e-13)
    lap = sphere_eigenvalues(KernelProfile("laplace", c=1.0), 3, 128)
    assert np.all(lap.error <= 1e-8 * np.abs(lap.eigenvalues))  # resolved to k = 128
    finer = sphere_eigenvalues(KernelProfile("laplace", c=1.0), 3, 128, base_nodes=96)
    assert np.all(np.abs(finer.eigenvalues - lap.eigenvalues) <= 2 * lap.error)  # round-off


@pytest.mark.parametrize("d, kmax", [(2, 256), (3, 128)])
def test_bias_free_two_layer_ntk_vanishes_at_odd_k(d, kmax):
    s = sphere_eigenvalues(KernelProfile("fc_ntk", d=d, depth=2, bias=0.0), d, kmax)
    lam = s.eigenvalues
    odd = np.arange(3, kmax + 1, 2)
    assert np.all(np.abs(lam[odd]) <= 1e-13 * lam[0])
    assert np.all(lam[[0, 1]] > 0) and np.all(lam[2::2] > 100 * s.error[2::2])
    fits = decay_slopes(np.where(s.resolved(), lam, 0.0), 16, kmax)
    assert set(fits) == {"even"}  # odd k cannot be fitted: their λ_k are 0


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("d, kmax", [(2, 256), (3, 128)])
def test_theorem1_ntk_with_bias_is_strictly_positive(depth, d, kmax):
    # Geifman et al. 2020, Thm 1: FC_β(L) with β > 0 has λ_k > 0 for every k
    s = sphere_eigenvalues(KernelProfile("fc_ntk", d=d, depth=depth, bias=0.5), d, kmax)
    assert np.all(s.eigenvalues > 100 * s.error)


SLOPE_CASES = [  # (name, profile, d, kmax, expected slope over [16, kmax], tolerance)
    ("laplace S1", KernelProfile("laplace", c=1.0), 2, 256, -2.0, 0.1),
    ("ntk L6 S1", KernelProfile("fc_ntk", d=2, depth=6, bias=1.0), 2, 256, -2.0, 0.1),
    ("laplace S2", KernelProfile("laplace", c=1.0), 3, 128, -3.0, 0.1),
    ("ntk L6 S2", KernelProfile("fc_ntk", d=3, depth=6, bias=1.0), 3, 128, -3.0, 0.1),
    ("gexp .5 S1", KernelProfile("gamma_exponential", c=1.0, gamma=0.5), 2, 256, -1.5, 0.12),
    ("gexp 1.5 S1", KernelProfile("gamma_exponential", c=1.0, gamma=1.5), 2, 256, -2.5, 0.12),
    ("gexp .5 S2", KernelProfile("gamma_exponential", c=1.0, gamma=0.5), 3, 128, -2.5, 0.12),
    ("gexp 1.5 S2", KernelProfile("gamma_exponential", c=1.0, gamma=1.5), 3, 128, -3.5, 0.12),
]


@pytest.mark.parametrize(
    "name, prof, d, kmax, expected, tol", SLOPE_CASES, ids=[c[0] for c in SLOPE_CASES]
)
def test_decay_slopes_over_high_range(name, prof, d, kmax, expected, tol):
    s = sphere_eigenvalues(prof, d, kmax)
    fits = decay_slopes(s.eigenvalues, 16, kmax)
    assert set(fits) == {"all", "even", "odd"}
    for f in fits.values():
        assert abs(f.slope - expected) <= tol, (name, f)
    low = decay_slopes(s.eigenvalues, 2, 32)["all"].slope  # the paper's range: shallower
    assert expected - 0.35 <= low <= expected + 0.35


def test_gaussian_falls_faster_than_any_power():
    for d in (2, 3):
        gau = sphere_eigenvalues(KernelProfile("gaussian", c=2.0), d, 64)
        lap = sphere_eigenvalues(KernelProfile("laplace", c=1.0), d, 64)
        ks = [1, 2, 4, 8, 16]  # λ_16 of this Gaussian is still resolved (≈1e-12 λ_0)
        assert gau.resolved()[16]
        g, l_ = local_slopes(gau.eigenvalues, ks), local_slopes(lap.eigenvalues, ks)
        assert np.all(np.diff(g) < -0.5)  # local power keeps steepening
        assert g[-1] < -8 and abs(l_[-1] + d) < 0.25  # vs Laplace already near −d


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="no zonal profile for kernel 'nope'"):
        KernelProfile("nope")
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        sphere_eigenvalues(KernelProfile("laplace"), 1, 4)
    with pytest.raises(ValueError, match="kmax must be an integer >= 0"):
        sphere_eigenvalues(KernelProfile("laplace"), 2, -1)
    with pytest.raises(ValueError, match="returned shape"):
        sphere_eigenvalues(lambda u: np.ones(3), 2, 4)
