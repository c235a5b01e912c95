"""Zonality on S^{d−1}: k(Qx, Qz) = k(x, z) = κ(xᵀz) for random rotations Q."""

from __future__ import annotations

import functools

import pytest
import torch

from nvk.kernels import (
    fc_nngp,
    fc_ntk,
    gamma_exponential,
    gaussian,
    h_gamma_exponential,
    h_gaussian,
    h_laplace,
    laplace,
    zonal_profile,
)
from tests.kernels.conftest import randn, random_rotation

D = 6
CASES = [
    ("fc_ntk", fc_ntk, {"depth": 3, "bias": 0.4}),
    ("fc_ntk", fc_ntk, {"depth": 4, "bias": 0.4, "bias_init": "gaussian", "frozen_layers": 2}),
    ("fc_nngp", fc_nngp, {"depth": 2, "bias": 0.4, "bias_init": "gaussian"}),
    ("laplace", laplace, {"c": 0.7}),
    ("gaussian", gaussian, {"c": 0.7}),
    ("gamma_exponential", gamma_exponential, {"c": 0.7, "gamma": 0.6}),
    ("h_laplace", h_laplace, {"c": 0.7}),
    ("h_gaussian", h_gaussian, {"c": 0.7}),
    ("h_gamma_exponential", h_gamma_exponential, {"c": 0.7, "gamma": 1.4}),
]


@pytest.mark.parametrize(("name", "fn", "params"), CASES)
def test_zonal_on_the_sphere(name: str, fn, params: dict) -> None:
    x, z = randn(7, D, seed=1), randn(5, D, seed=2)
    x, z = x / x.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True)
    k = fn(x, z, **params)
    for seed in range(3):
        q = random_rotation(D, seed=seed)
        torch.testing.assert_close(fn(x @ q.T, z @ q.T, **params), k)
    extra = {"d": D} if name.startswith("fc_") else {}
    torch.testing.assert_close(zonal_profile(name, x @ z.T, **extra, **params), k)


def test_profile_endpoints_and_unknown_name() -> None:
    u = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(
        zonal_profile("laplace", u, c=0.5), torch.exp(-0.5 * torch.tensor([2.0, 0.0]).double())
    )
    prof = functools.partial(zonal_profile, "fc_nngp", d=D, depth=3)
    torch.testing.assert_close(prof(u)[1], torch.tensor(1.0 / D).double())  # 2·1/d·½
    with pytest.raises(ValueError, match=r"no zonal profile.*'cosine'"):
        zonal_profile("cosine", u)
