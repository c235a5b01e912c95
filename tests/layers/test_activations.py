"""Closed forms of the activations vs a direct Monte Carlo of E[φ(u)φ(v)] and E[φ'(u)φ'(v)].

(u, v) ~ N(0, [[q1, c], [c, q2]]) with 200 000 samples per case; φ' by autograd (what the
finite twin's gradients use, so Sign/Step give 0). Errors are measured in units of the scale
√(E[φ(u)²] E[φ(v)²]) (and the same for φ'): standard error ~4e-3; measured worst 6.3e-3
(E[φφ]) and 2.2e-3 (E[φ'φ']) over these cases, 8e-3 over three sample seeds; tolerance 2e-2.
"""

from __future__ import annotations

import math

import pytest
import torch

from nvk.layers import Abs, Erf, LeakyReLU, ReLU, Sign, Step

ACTIVATIONS = {
    "relu": ReLU(),
    "leaky": LeakyReLU(0.2),
    "leaky_neg": LeakyReLU(-0.5),
    "abs": Abs(),
    "erf": Erf(1.0),
    "erf_a": Erf(0.4),
    "sign": Sign(),
    "step": Step(),
}
# (q1, q2, ρ): unequal variances, negative, zero and near-one correlations
CASES = [(1.0, 1.0, 0.5), (2.0, 0.5, -0.7), (0.3, 1.7, 0.0), (1.5, 1.5, 0.999), (0.8, 2.5, -1.0)]
SAMPLES = 200_000
TOL = 2e-2


def _mc_moments(act, q1: float, q2: float, rho: float, seed: int = 0) -> tuple[float, float]:
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, SAMPLES, generator=g, dtype=torch.float64)
    u = math.sqrt(q1) * a
    v = math.sqrt(q2) * (rho * a + math.sqrt(max(1 - rho * rho, 0.0)) * b)
    uv = torch.stack([u, v]).requires_grad_(True)
    phi = act.fn(uv)
    (grad,) = torch.autograd.grad(phi.sum(), uv, allow_unused=True, materialize_grads=True)
    phi, grad = phi.detach(), grad.detach()
    return float((phi[0] * phi[1]).mean()), float((grad[0] * grad[1]).mean())


def _closed(act, q1: float, q2: float, rho: float) -> tuple[float, float]:
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    k, kdot = act.moments(t(rho * math.sqrt(q1 * q2)), t(q1), t(q2), deriv=True)
    return float(k), float(kdot)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_closed_forms_match_monte_carlo(name):
    act = ACTIVATIONS[name]
    selfm = {q: _mc_moments(act, q, q, 1.0) for q in {q for c in CASES for q in c[:2]}}
    for q1, q2, rho in CASES:
        k, kdot = _closed(act, q1, q2, rho)
        mk, mkdot = _mc_moments(act, q1, q2, rho)
        # scales: √(E[φ(u)²] E[φ(v)²]) and √(E[φ'(u)²] E[φ'(v)²]) (0 for Sign/Step)
        sk = math.sqrt(selfm[q1][0] * selfm[q2][0])
        sd = math.sqrt(selfm[q1][1] * selfm[q2][1])
        assert abs(k - mk) <= TOL * sk, (name, q1, q2, rho, k, mk)
        assert abs(kdot - mkdot) <= TOL * sd, (name, q1, q2, rho, kdot, mkdot)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_degenerate_channel_takes_the_finite_values_at_zero(name):
    """q1 = 0 (u = 0 exactly, e.g. a zero input row): E[φ(0)φ(v)] = 0 and
    E[φ'(0)φ'(v)] = φ'(0) E[φ'(v)] with φ'(0) the slope autograd uses (ReLU 0, LeakyReLU α,
    Abs 0, Erf 2a/√π, Sign/Step 0)."""
    act = ACTIVATIONS[name]
    zero = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    (slope0,) = torch.autograd.grad(act.fn(zero).sum(), zero, materialize_grads=True)
    g = torch.Generator().manual_seed(1)
    v = (1.3**0.5 * torch.randn(SAMPLES, generator=g, dtype=torch.float64)).requires_grad_(True)
    (dv,) = torch.autograd.grad(act.fn(v).sum(), v, materialize_grads=True)
    k, kdot = _closed(act, 0.0, 1.3, 0.0)
    assert k == 0.0
    assert kdot == pytest.approx(float(slope0) * float(dv.mean()), abs=1e-2)
    k, kdot = _closed(act, 0.0, 0.0, 0.0)
    assert k == 0.0 and kdot == pytest.approx(float(slope0) ** 2, rel=1e-14, abs=1e-15)


def test_relu_uses_the_arc_cosine_helpers_of_fc():
    """ReLU's moments are √(q1q2) J₁(ρ)/2π and J₀(ρ)/2π with nvk.kernels._checks' J₀, J₁."""
    from nvk.kernels._checks import arccos0, arccos1

    rho = torch.linspace(-1, 1, 11, dtype=torch.float64)
    q1, q2 = torch.full_like(rho, 2.0), torch.full_like(rho, 0.5)
    k, kdot = ReLU().moments(rho, q1, q2, deriv=True)  # c = ρ·√(q1 q2) = ρ
    torch.testing.assert_close(k, arccos1(rho) / (2 * math.pi), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(kdot, arccos0(rho) / (2 * math.pi), rtol=1e-14, atol=1e-15)
