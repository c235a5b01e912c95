"""Kernel gradient descent: explicit steps == eigendecomposition closed form == theory."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from nvk.data.base import DataInfo
from nvk.data.sphere import equispaced_circle
from nvk.kernels import fc_ntk, laplace
from nvk.solvers import KernelGDSolver, KRRSolver, kernel_gd_closed_form, kernel_gd_iterate
from nvk.solvers.kernel_gd import KernelGDOptions, gd_decay, largest_eigenvalue, steps_to_fraction


def _problem(n: int = 40, d: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    K = laplace(x, x, c=0.7)
    Y = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return x, K, Y


@pytest.mark.parametrize("steps", [0, 1, 7, 150])
@pytest.mark.parametrize("lr", [0.5, 1.0, 1.9])
def test_iterate_equals_closed_form(steps: int, lr: float) -> None:
    _, K, Y = _problem()
    eta = lr / largest_eigenvalue(K)
    a_it = kernel_gd_iterate(K, Y, eta=eta, steps=steps)
    a_cf = kernel_gd_closed_form(K, Y, eta=eta, steps=steps)
    scale = a_it.abs().max().clamp_min(1.0)
    assert torch.allclose(a_it, a_cf, atol=1e-9 * scale, rtol=1e-8)


def test_residual_follows_eigen_decay_and_gd_decreases_loss() -> None:
    # f_t − Y = −(I − ηK)^t Y, checked with a naive matrix power
    _, K, Y = _problem(seed=1)
    eta = 1.0 / largest_eigenvalue(K)
    t = 25
    alpha = kernel_gd_iterate(K, Y, eta=eta, steps=t)
    M = torch.linalg.matrix_power(torch.eye(len(K), dtype=K.dtype) - eta * K, t)
    assert torch.allclose(K @ alpha - Y, -M @ Y, atol=1e-10)
    losses = [
        (K @ kernel_gd_iterate(K, Y, eta=eta, steps=s) - Y).pow(2).sum() for s in (0, 5, 50, 500)
    ]
    assert all(b < a for a, b in itertools.pairwise(losses))


def test_long_run_reaches_interpolation() -> None:
    # t → ∞ on a positive definite K: α_t → K⁻¹Y (min-norm interpolation = KRR with λ = 0)
    _, K, Y = _problem(n=20, seed=2)
    s = torch.linalg.eigvalsh(K)
    eta = 1.0 / float(s[-1])
    t = float(steps_to_fraction(s[0], eta, 1e-12))  # slowest direction down to 1e-12
    alpha = kernel_gd_closed_form(K, Y, eta=eta, steps=t)
    assert torch.allclose(alpha, torch.linalg.solve(K, Y), rtol=1e-6, atol=1e-6)


def test_gd_decay_and_steps_to_fraction() -> None:
    s = torch.tensor([0.0, 0.1, 1.0, 1.5], dtype=torch.float64)
    for t in (0, 1, 3, 10):
        assert torch.allclose(gd_decay(s, 1.0, t), (1 - s) ** t)
    tt = steps_to_fraction(torch.tensor([0.01, 0.1, 0.5]), 1.0, 0.1)
    for si, ti in zip((0.01, 0.1, 0.5), tt.tolist()):
        assert (1 - si) ** ti <= 0.1 < (1 - si) ** (ti - 1)  # smallest such integer
    assert torch.isinf(steps_to_fraction(0.0, 1.0, 0.1))


def test_equispaced_circle_harmonics_are_eigenvectors() -> None:
    # circulant Gram on equispaced S¹: cos kθ decays exactly like (1 − η λ̂_k)^t, λ̂_k from the FFT
    n, k, t = 32, 3, 40
    x = torch.from_numpy(equispaced_circle(n))
    K = fc_ntk(x, x, depth=3)
    lam = np.real(np.fft.fft(K[0].numpy()))
    eta = 1.0 / float(lam.max())
    y = torch.from_numpy(np.sqrt(2) * np.cos(k * np.arange(n) * 2 * np.pi / n))
    r = K @ kernel_gd_iterate(K, y, eta=eta, steps=t) - y[:, None]
    assert torch.allclose(r[:, 0], -((1 - eta * lam[k]) ** t) * y, atol=1e-10)


def test_solver_predicts_like_krr_after_many_steps_and_like_zero_at_start() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 4, generator=g)
    y = torch.randint(0, 3, (30,), generator=g)
    info = DataInfo(name="t", in_shape=(4,), num_outputs=3, task="classification")

    def kern(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return laplace(a, b, c=1.0)

    krr = KRRSolver()
    krr.fit(kern, x, y, info)
    gd = KernelGDSolver(steps=10**9, lr=1.0)
    gd.fit(kern, x, y, info)
    xt = torch.randn(7, 4, generator=g)
    assert torch.allclose(gd.predict(kern, xt), krr.predict(kern, xt), atol=1e-5)
    zero = KernelGDSolver(steps=0)
    zero.fit(kern, x, y, info)
    assert torch.count_nonzero(zero.predict(kern, xt)) == 0
    it = KernelGDSolver(steps=20, method="iterate")
    cf = KernelGDSolver(steps=20, method="closed_form")
    it.fit(kern, x, y, info)
    cf.fit(kern, x, y, info)
    assert torch.allclose(it.predict(kern, xt), cf.predict(kern, xt), atol=1e-9)
    state = it.state_dict()
    fresh = KernelGDSolver(steps=20)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.predict(kern, xt), it.predict(kern, xt))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"lr": 2.0}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"steps": -1}, "steps"),
        ({"method": "x"}, "closed_form"),
    ],
)
def test_bad_options(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        KernelGDOptions(**kw)


def test_bad_shapes() -> None:
    _, K, Y = _problem()
    with pytest.raises(ValueError, match="rows"):
        kernel_gd_iterate(K, Y[:-1], eta=0.1, steps=1)
    with pytest.raises(ValueError, match="square"):
        kernel_gd_closed_form(K[:-1], Y, eta=0.1, steps=1)


@pytest.mark.slow  # a full train.py run on digits (eigh of the ~1100-row Gram + Lightning)
def test_train_py_runs_kernel_gd_as_a_solver(cfg_train) -> None:
    from nvk.run import train

    cfg = cfg_train("model=laplace", "solver=kernel_gd", "solver.steps=200")
    metrics = train(cfg)
    assert 0.5 < metrics["test/acc"] <= 1.0  # digits, 10 classes: far above chance after 200 steps
