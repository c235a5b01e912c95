"""Exponential family and homogeneous forms against naive formulas, libraries and theorems."""

from __future__ import annotations

import functools
import math

import gpytorch
import pytest
import torch
from sklearn.metrics.pairwise import laplacian_kernel, rbf_kernel

from nvk.kernels import (
    gamma_exponential,
    gaussian,
    gram,
    h_gamma_exponential,
    h_gaussian,
    h_laplace,
    laplace,
)
from tests.kernels.conftest import assert_psd, randn

GAMMAS = [0.3, 1.0, 1.5, 2.0]


def naive(x: torch.Tensor, z: torch.Tensor, c: float, gamma: float) -> torch.Tensor:
    return torch.exp(-c * torch.cdist(x, z, compute_mode="donot_use_mm_for_euclid_dist") ** gamma)


def naive_h(x: torch.Tensor, z: torch.Tensor, c: float, gamma: float) -> torch.Tensor:
    nx, nz = x.norm(dim=1, keepdim=True), z.norm(dim=1, keepdim=True)
    return nx * nz.T * naive(x / nx, z / nz, c, gamma)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("c", [0.2, 1.7])
def test_matches_naive_cdist(gamma: float, c: float) -> None:
    x, z = randn(9, 6, seed=1), randn(7, 6, seed=2)
    torch.testing.assert_close(gamma_exponential(x, z, c=c, gamma=gamma), naive(x, z, c, gamma))
    torch.testing.assert_close(h_gamma_exponential(x, z, c=c, gamma=gamma), naive_h(x, z, c, gamma))


def test_named_members_are_gamma_one_and_two() -> None:
    x, z = randn(5, 3, seed=3), randn(4, 3, seed=4)
    for named, h_named, gamma in ((laplace, h_laplace, 1.0), (gaussian, h_gaussian, 2.0)):
        torch.testing.assert_close(named(x, z, c=0.6), gamma_exponential(x, z, c=0.6, gamma=gamma))
        torch.testing.assert_close(
            h_named(x, z, c=0.6), h_gamma_exponential(x, z, c=0.6, gamma=gamma)
        )


def test_documented_conversions() -> None:
    x, z = randn(6, 4, seed=5), randn(5, 4, seed=6)
    c = 0.8
    # GPyTorch Matérn-½ with lengthscale 1/c
    matern = gpytorch.kernels.MaternKernel(nu=0.5).double()
    matern.lengthscale = 1 / c
    with torch.no_grad():
        torch.testing.assert_close(laplace(x, z, c=c), matern(x, z).to_dense())
    # scikit-learn: rbf_kernel(gamma=g) is gaussian(c=g); laplacian_kernel is L1 (differs)
    torch.testing.assert_close(
        gaussian(x, z, c=c), torch.from_numpy(rbf_kernel(x.numpy(), z.numpy(), gamma=c))
    )
    l1 = torch.from_numpy(laplacian_kernel(x.numpy(), z.numpy(), gamma=c))
    torch.testing.assert_close(l1, torch.exp(-c * torch.cdist(x, z, p=1)))
    assert (l1 - laplace(x, z, c=c)).abs().max() > 1e-3
    # eq. 5: exp(−c′ √(1 − u)) with c′ = √2 c on the sphere (H-Laplace)
    xs, zs = x / x.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True)
    u = xs @ zs.T
    for gamma in GAMMAS:
        cp = 2 ** (gamma / 2) * c
        torch.testing.assert_close(
            h_gamma_exponential(xs, zs, c=c, gamma=gamma), torch.exp(-cp * (1 - u) ** (gamma / 2))
        )


@pytest.mark.parametrize("gamma", GAMMAS)
def test_homogeneous_forms_scale_and_zero_rows(gamma: float) -> None:
    x, z = randn(5, 3, seed=7), randn(4, 3, seed=8)
    for t in (0.25, 3.0):
        torch.testing.assert_close(
            h_gamma_exponential(t * x, z, gamma=gamma), t * h_gamma_exponential(x, z, gamma=gamma)
        )
    x[2] = 0.0
    k = h_gamma_exponential(x, z, gamma=gamma)
    assert torch.isfinite(k).all() and k[2].abs().max() == 0  # the limit ‖x‖ → 0


@pytest.mark.parametrize("gamma", GAMMAS)
def test_no_nan_gradients_at_cusps(gamma: float) -> None:
    x = randn(4, 3, seed=9)
    x[1] = x[0]  # ‖x − z‖ = 0 off the diagonal too
    x[3] = 0.0  # zero row for the H-forms
    x.requires_grad_(True)
    g = torch.tensor(gamma, dtype=torch.float64, requires_grad=True)
    for fn in (gamma_exponential, h_gamma_exponential):
        k = fn(x, x, c=0.7, gamma=g)
        gx, gg = torch.autograd.grad(k.sum(), (x, g))
        assert torch.isfinite(gx).all() and torch.isfinite(gg).all()
    # away from the cusp the gradients are the true ones (finite differences; γ = 2 is the
    # edge of the domain, so there only x is perturbed)
    y = randn(3, 2, seed=10).requires_grad_(True)
    z = randn(2, 2, seed=11)
    for fn in (gamma_exponential, h_gamma_exponential):
        if gamma < 2:
            torch.autograd.gradcheck(lambda a, b, f=fn: f(a, z, c=0.7, gamma=b), (y, g))
        torch.autograd.gradcheck(lambda a, f=fn: f(a, z, c=0.7, gamma=g.detach()), (y,))


def test_gamma_derivative_at_zero_distance_is_zero() -> None:
    """∂/∂γ exp(−c r^γ) = −c r^γ log r · k → 0 as r → 0."""
    x = randn(1, 3, seed=12)
    g = torch.tensor(1.2, dtype=torch.float64, requires_grad=True)
    (gg,) = torch.autograd.grad(gamma_exponential(x, x.clone(), gamma=g).sum(), g)
    assert gg == 0


def test_gram_psd_and_unit_diagonal() -> None:
    x = randn(80, 4, seed=13)
    x[:5] = x[5:10]  # duplicates
    for gamma in GAMMAS:
        for fn in (gamma_exponential, h_gamma_exponential):
            k = gram(functools.partial(fn, c=0.9, gamma=gamma), x, tile=32)
            assert_psd(k)
        k = gram(functools.partial(gamma_exponential, gamma=gamma), x, tile=32)
        assert torch.equal(k.diagonal(), torch.ones(80, dtype=torch.float64))


@pytest.mark.parametrize("fn", [gamma_exponential, h_gamma_exponential])
def test_bad_parameters(fn) -> None:
    x = randn(3, 2)
    for c in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match=f"c must.*{c}"):
            fn(x, c=c)
    for gamma in (0.0, 2.5, -1.0):
        with pytest.raises(ValueError, match=f"gamma.*{gamma}"):
            fn(x, gamma=gamma)
    with pytest.raises(ValueError, match=r"D=2.*D=3"):
        fn(x, randn(2, 3))
    y = x.clone()
    y[0, 0] = math.nan
    with pytest.raises(ValueError, match="non-finite"):
        fn(y)
