"""Analytic FC NNGP/NTK against independent references: Monte Carlo of the Core MLP,
a polar-coordinate Gauss quadrature of the defining expectations, and the paper's theorems."""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import roots_laguerre, roots_legendre

from nvk.arch import ArchSpec
from nvk.kernels import (
    empirical_ntk,
    fc_kernel_grid,
    fc_nngp,
    fc_nngp_from_arch,
    fc_ntk,
    fc_ntk_from_arch,
    gram,
    monte_carlo_kernel,
)
from nvk.nets import MLP
from tests.kernels.conftest import assert_psd, randn, rel_fro

BIASES = [(0.0, "zero"), (0.5, "zero"), (0.5, "gaussian")]
WIDTHS = [256, 1024, 4096]
SEEDS = range(8)


# -- Monte Carlo of the actual network --------------------------------------------------------
def _mc_errors(depth: int, bias: float, bias_init: str) -> dict[str, list[float]]:
    x = randn(32, 8, seed=1)
    errs: dict[str, list[float]] = {"ntk": [], "nngp": []}
    for width in WIDTHS:
        arch = ArchSpec(depth=depth, width=width, bias=bias, bias_init=bias_init)
        for kind, exact in (("ntk", fc_ntk_from_arch(arch)), ("nngp", fc_nngp_from_arch(arch))):
            mc = monte_carlo_kernel(arch, x, seeds=SEEDS, kind=kind, dtype=torch.float32)
            errs[kind].append(rel_fro(mc.double(), exact(x)))
    return errs


def _check_mc(depth: int, bias: float, bias_init: str) -> None:
    for kind, e in _mc_errors(depth, bias, bias_init).items():
        assert e[0] > e[1] > e[2], (kind, e)  # falls with width
        assert e[-1] < 0.05, (kind, e)  # < 5 % at width 4096


@pytest.mark.parametrize(("bias", "bias_init"), BIASES)
def test_monte_carlo_depth2(bias: float, bias_init: str) -> None:
    _check_mc(2, bias, bias_init)


@pytest.mark.slow
@pytest.mark.parametrize(("bias", "bias_init"), BIASES)
@pytest.mark.parametrize("depth", [3, 6])
def test_monte_carlo_deep(depth: int, bias: float, bias_init: str) -> None:
    _check_mc(depth, bias, bias_init)


def test_frozen_layers_match_network_with_frozen_layers() -> None:
    """fc_ntk(frozen_layers=f) = MC of the empirical NTK differentiating only layers > f."""
    x = randn(16, 8, seed=2)
    arch = ArchSpec(depth=3, width=2048, bias=0.5, bias_init="zero")
    for f in (1, 2):
        trainable = [f"layers.{i}.{p}" for i in range(f, 3) for p in ("weight", "bias")]

        def factory(seed: int, _a: ArchSpec = arch) -> MLP:
            return MLP(_a, 8, 1)

        mc = monte_carlo_kernel(
            factory, x, seeds=range(4), kind="ntk", trainable=trainable, dtype=torch.float32
        )
        exact = fc_ntk(x, depth=3, bias=0.5, frozen_layers=f)
        assert rel_fro(mc.double(), exact) < 0.05


def test_zero_norm_row_equals_network_value() -> None:
    """At x = 0 the kernels take the value the network itself has (ReLU'(0) = 0)."""
    x = randn(6, 5, seed=3)
    x[0] = 0.0
    for bias in (0.0, 0.5):
        arch = ArchSpec(depth=3, width=64, bias=bias, bias_init="zero")
        torch.manual_seed(0)
        net = MLP(arch, 5, 1).double()
        emp = empirical_ntk(net, x)
        exact = fc_ntk(x, depth=3, bias=bias)
        assert torch.isfinite(exact).all()
        torch.testing.assert_close(exact[0], emp[0], rtol=0, atol=1e-12)  # β² or 0
        assert fc_nngp(x, depth=3, bias=bias)[0].abs().max() == 0


# -- quadrature reference (L = 2) -------------------------------------------------------------
def _relu_moments(q1: Fraction, q2: Fraction, c: Fraction, n: int = 40) -> tuple[float, float]:
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[q1, c], [c, q2]]) by product Gauss
    quadrature of the 2-D Gaussian integral in polar coordinates (z₁, z₂) = r(cos t, sin t):
    radial part by Gauss–Laguerre (t = r²/2), angular part by Gauss–Legendre over the arc where
    u, v > 0, whose end is located by root finding. No arccos formula is used."""
    q1, q2, c = Fraction(q1), Fraction(q2), Fraction(c)  # exact: ρ = ±1 stays exact
    a, b = math.sqrt(q1), math.sqrt(q2)
    s = math.sqrt(max(1 - c * c / (q1 * q2), 0))
    rho = math.copysign(math.sqrt(c * c / (q1 * q2)), c)

    def v(t: float) -> float:  # sign of v along the circle; u > 0 ⇔ |t| < π/2
        return rho * math.cos(t) + s * math.sin(t)

    if v(-math.pi / 2) < 0 < v(math.pi / 2):
        t0 = brentq(v, -math.pi / 2, math.pi / 2, xtol=1e-15)
    else:  # ρ = ±1 (to rounding): v = ±u, the arc is the whole half circle or empty
        t0 = -math.pi / 2 if rho > 0 else math.pi / 2
    xl, wl = roots_legendre(n)
    t = t0 + (math.pi / 2 - t0) * (xl + 1) / 2
    wt = wl * (math.pi / 2 - t0) / 2
    xg, wg = roots_laguerre(n)
    radial3 = float(np.sum(wg * 2 * xg))  # ∫ r³ e^{−r²/2} dr
    radial1 = float(np.sum(wg))  # ∫ r e^{−r²/2} dr
    ang = np.cos(t) * (rho * np.cos(t) + s * np.sin(t))
    e_phi = a * b * float(np.sum(wt * ang)) * radial3 / (2 * math.pi)
    e_dphi = float(np.sum(wt)) * radial1 / (2 * math.pi)
    return e_phi, e_dphi


def _dot(a: torch.Tensor, b: torch.Tensor) -> Fraction:
    return sum((Fraction(float(u)) * Fraction(float(v)) for u, v in zip(a, b)), Fraction(0))


@pytest.mark.parametrize(("bias", "bias_init"), [*BIASES, (1.3, "gaussian")])
@pytest.mark.parametrize("sigma_w", [math.sqrt(2.0), 0.7])
def test_depth2_matches_quadrature(bias: float, bias_init: str, sigma_w: float) -> None:
    x = randn(5, 3, seed=4)
    x[3] = -0.4 * x[1]  # ρ = −1
    x[4] = 2.0 * x[2]  # ρ = +1
    d = x.shape[1]
    bg2 = Fraction(bias) ** 2 if bias_init == "gaussian" else Fraction(0)
    s2 = Fraction(sigma_w) ** 2
    kw = dict(depth=2, bias=bias, bias_init=bias_init, sigma_w=sigma_w)
    nngp, ntk = fc_nngp(x, **kw), fc_ntk(x, **kw)
    for i in range(len(x)):
        for j in range(len(x)):
            lin = _dot(x[i], x[j]) / d
            q1 = s2 * _dot(x[i], x[i]) / d + bg2
            q2 = s2 * _dot(x[j], x[j]) / d + bg2
            e_phi, e_dphi = _relu_moments(q1, q2, s2 * lin + bg2)
            ref_nngp = e_phi + float(bg2)  # readout weight scale 1
            ref_ntk = float(s2 * lin + Fraction(bias) ** 2) * e_dphi + e_phi + bias**2
            assert abs(float(nngp[i, j]) - ref_nngp) < 1e-8
            assert abs(float(ntk[i, j]) - ref_ntk) < 1e-8


def test_depth1_is_linear() -> None:
    x, z = randn(4, 6, seed=5), randn(3, 6, seed=6)
    lin = x @ z.T / 6
    torch.testing.assert_close(fc_nngp(x, z, depth=1, bias=0.5, bias_init="gaussian"), lin + 0.25)
    torch.testing.assert_close(fc_nngp(x, z, depth=1, bias=0.5), lin)
    torch.testing.assert_close(fc_ntk(x, z, depth=1, bias=0.5), lin + 0.25)


def test_variance_preserved_with_sigma_sqrt2() -> None:
    """σ_w² = 2, β = 0: Σʰ(x, x) = Σ¹(x, x) in hidden layers; the readout halves it."""
    x = randn(5, 7, seed=7)
    sq = (x * x).sum(1) / 7
    for depth in (2, 4, 7):
        torch.testing.assert_close(fc_nngp(x, depth=depth).diagonal(), sq)  # 2‖x‖²/d · ½


# -- the paper's theorems ---------------------------------------------------------------------
@pytest.mark.parametrize("depth", [2, 3, 6])
def test_homogeneity_and_bias_part(depth: int) -> None:
    x, z = randn(6, 5, seed=8), randn(4, 5, seed=9)
    for t in (0.3, 2.5):
        for fn in (fc_ntk, fc_nngp):
            torch.testing.assert_close(fn(t * x, z, depth=depth), t * fn(x, z, depth=depth))
        part = fc_ntk(x, z, depth=depth, bias=0.7) - fc_ntk(x, z, depth=depth)
        part_t = fc_ntk(t * x, z, depth=depth, bias=0.7) - fc_ntk(t * x, z, depth=depth)
        torch.testing.assert_close(part_t, part)
        assert part.abs().min() > 0  # the bias really contributes


@pytest.mark.parametrize(("bias", "bias_init"), BIASES)
def test_grid_equals_separate_calls(bias: float, bias_init: str) -> None:
    x, z = randn(5, 4, seed=10), randn(3, 4, seed=11)
    grid = fc_kernel_grid(x, z, max_depth=5, bias=bias, bias_init=bias_init)
    assert len(grid) == 5 + 5 * 6 // 2
    for (kind, depth, f), k in grid.items():
        fn = fc_ntk if kind == "ntk" else fc_nngp
        ref = fn(x, z, depth=depth, bias=bias, bias_init=bias_init, frozen_layers=f)
        torch.testing.assert_close(k, ref, rtol=1e-13, atol=1e-14)


def test_frozen_readout_only_is_readout_nngp() -> None:
    """f = L − 1 trains the readout only: the NNGP, counting the readout bias as Gaussian."""
    x = randn(5, 4, seed=12)
    got = fc_ntk(x, depth=4, bias=0.5, bias_init="gaussian", frozen_layers=3)
    torch.testing.assert_close(got, fc_nngp(x, depth=4, bias=0.5, bias_init="gaussian"))
    got = fc_ntk(x, depth=4, bias=0.5, bias_init="zero", frozen_layers=3)
    torch.testing.assert_close(got, fc_nngp(x, depth=4) + 0.5**2)


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
@pytest.mark.parametrize(("bias", "bias_init"), BIASES)
def test_gram_psd(kind: str, bias: float, bias_init: str) -> None:
    x = randn(60, 5, seed=13)
    x[:10] = x[10:20] * torch.linspace(0.1, 3, 10).unsqueeze(1).double()  # parallel rows
    x[20] = 0.0  # a zero row
    fn = fc_ntk if kind == "ntk" else fc_nngp
    for depth in (1, 2, 6):
        k = gram(functools.partial(fn, depth=depth, bias=bias, bias_init=bias_init), x, tile=16)
        assert_psd(k)


def test_batch_dims_broadcast() -> None:
    x, z = randn(2, 4, 3, seed=14), randn(5, 3, seed=15)
    k = fc_ntk(x, z, depth=3, bias=0.2)
    assert k.shape == (2, 4, 5)
    torch.testing.assert_close(k[1], fc_ntk(x[1], z, depth=3, bias=0.2))


def test_gradients_finite_at_coincident_points() -> None:
    x = randn(4, 3, seed=16)
    x[1] = x[0]
    x[2] = -x[0]
    x[3] = 0.0
    x.requires_grad_(True)
    for bias, init in BIASES:
        for fn in (fc_ntk, fc_nngp):
            (g,) = torch.autograd.grad(fn(x, x, depth=3, bias=bias, bias_init=init).sum(), x)
            assert torch.isfinite(g).all()


def test_arch_helpers_forward_every_field() -> None:
    arch = ArchSpec(depth=4, width=8, bias=0.3, bias_init="gaussian", sigma_w=1.1)
    x = randn(3, 2, seed=17)
    ref = fc_ntk(x, depth=4, bias=0.3, bias_init="gaussian", sigma_w=1.1, frozen_layers=1)
    torch.testing.assert_close(fc_ntk_from_arch(arch, frozen_layers=1)(x), ref)
    with pytest.raises(ValueError, match="standard"):
        fc_ntk_from_arch(ArchSpec(parameterization="standard"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": 0}, "depth.*0"),
        ({"depth": 3, "frozen_layers": 3}, "frozen_layers.*3"),
        ({"depth": 3, "frozen_layers": -1}, "frozen_layers.*-1"),
        ({"depth": 2, "bias": -1.0}, "bias.*-1"),
        ({"depth": 2, "sigma_w": 0.0}, "sigma_w.*0"),
        ({"depth": 2, "bias_init": "uniform"}, "uniform"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    x = randn(3, 2)
    for fn in (fc_ntk, fc_nngp):
        with pytest.raises(ValueError, match=match):
            fn(x, **kwargs)


def test_bad_inputs() -> None:
    x = randn(3, 2)
    with pytest.raises(ValueError, match=r"D=2.*D=3"):
        fc_ntk(x, randn(3, 3), depth=2)
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[1, 1] = bad
        with pytest.raises(ValueError, match="non-finite"):
            fc_ntk(x, y, depth=2)


@pytest.mark.parametrize(("bias", "bias_init"), BIASES)
def test_inplace_and_autograd_paths_agree(bias: float, bias_init: str) -> None:
    x, z = randn(9, 4, seed=18), randn(6, 4, seed=19)
    x[0] = 0.0
    z[1] = 3 * x[2]
    with torch.no_grad():
        fast = fc_kernel_grid(x, z, max_depth=4, bias=bias, bias_init=bias_init)
    slow = fc_kernel_grid(x.requires_grad_(True), z, max_depth=4, bias=bias, bias_init=bias_init)
    assert all(v.requires_grad for (_, depth, _), v in slow.items() if depth > 0)
    for key, k in fast.items():
        torch.testing.assert_close(k, slow[key].detach(), rtol=1e-13, atol=1e-14)
