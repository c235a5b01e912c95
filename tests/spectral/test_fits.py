"""Decay fits on exact power laws; exponential-to-profile fits recover known kernels; the
optimal Laplace c grows with the NTK's depth (Figure 4)."""

from __future__ import annotations

import numpy as np
import pytest

from nvk.spectral import KernelProfile, decay_slopes, fit_decay, fit_exponential, local_slopes


def test_fit_decay_recovers_power_law_and_separates_parities():
    k = np.arange(0, 129, dtype=float)
    lam = np.where(k > 0, 3.0 * np.maximum(k, 1) ** -2.5, 1.0)
    f = fit_decay(lam, 16, 128)
    assert f.slope == pytest.approx(-2.5, abs=1e-12)
    assert f.intercept == pytest.approx(np.log(3.0), abs=1e-11)
    assert (f.kmin, f.kmax, f.n_points) == (16, 128, 113)
    lam[1::2] *= 0.1 * k[1::2] ** -1.0  # odd k decay one power faster
    fits = decay_slopes(lam, 16, 128)
    assert fits["even"].slope == pytest.approx(-2.5, abs=1e-12)
    assert fits["odd"].slope == pytest.approx(-3.5, abs=1e-12)
    np.testing.assert_allclose(local_slopes(np.r_[1.0, k[1:] ** -2.0], [1, 3, 7]), -2.0)


def test_fit_decay_rejects_zero_eigenvalues_with_advice():
    lam = np.ones(40)
    lam[3::2] = 0.0  # the bias-free NTK's odd zeros
    with pytest.raises(ValueError, match=r"non-positive at k = \[17, 19"):
        fit_decay(lam, 16, 39)
    assert fit_decay(lam, 16, 39, parity="even").slope == pytest.approx(0.0, abs=1e-12)
    assert set(decay_slopes(lam, 16, 39)) == {"even"}
    with pytest.raises(ValueError, match="parity must be one of"):
        fit_decay(lam, 2, 8, parity="prime")
    with pytest.raises(ValueError, match="kmax=80 beyond"):
        fit_decay(lam, 2, 80)


@pytest.mark.parametrize("gamma", [1.0, 2.0])
@pytest.mark.parametrize("weight", ["uniform", "sphere"])
def test_fit_exponential_recovers_a_known_exponential_kernel(gamma, weight):
    def target(u):
        return 2.0 * np.exp(-0.7 * (2 - 2 * u) ** (gamma / 2)) + 0.3

    f = fit_exponential(target, gamma=gamma, weight=weight, d=3)
    assert (f.a, f.b, f.c) == pytest.approx((2.0, 0.3, 0.7), abs=1e-6)
    assert f.rmse < 1e-8 and not f.at_bound
    np.testing.assert_allclose(f(np.linspace(-1, 1, 9)), target(np.linspace(-1, 1, 9)), atol=1e-7)


def test_fit_exponential_weights_are_normalized_measures():
    # a constant target is fitted exactly by b alone; its rmse is 0 under either weight
    f = fit_exponential(lambda u: np.full_like(u, 1.5), weight="sphere", d=4)
    assert f.rmse < 1e-12
    # the sphere weight of d = 3 is the uniform weight
    ntk = KernelProfile("fc_ntk", d=3, depth=4, bias=1.0)
    a, b = fit_exponential(ntk, weight="uniform"), fit_exponential(ntk, weight="sphere", d=3)
    assert a.c == pytest.approx(b.c, rel=1e-6)


def test_optimal_laplace_c_increases_with_depth():  # Figure 4
    for weight in ("uniform", "sphere"):
        cs = []
        for depth in range(2, 11):
            ntk = KernelProfile("fc_ntk", d=2, depth=depth, bias=1.0)
            cs.append(fit_exponential(ntk, weight=weight, d=2).c)
        assert np.all(np.diff(cs) > 0.05), (weight, cs)
        assert 1.0 < cs[-1] < 3.0  # a Laplace kernel, not a degenerate fit, at L = 10


def test_fit_exponential_bad_inputs():
    with pytest.raises(ValueError, match="weight must be one of"):
        fit_exponential(lambda u: u, weight="gauss")
    with pytest.raises(ValueError, match="gamma must be in"):
        fit_exponential(lambda u: u, gamma=3.0)
    with pytest.raises(ValueError, match="sphere weight needs an integer dimension"):
        fit_exponential(lambda u: u, weight="sphere", d=1)
