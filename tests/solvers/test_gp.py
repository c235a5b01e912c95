import functools

import pytest
import torch

from nvk.data import DataInfo
from nvk.kernels import h_laplace, laplace
from nvk.solvers import GPSolver

REG = DataInfo("gp", (2,), 1, "regression")


def test_fixed_hyperparameters_give_the_closed_form_posterior():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 2, generator=g, dtype=torch.float64)
    Xs = torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = torch.sin(X[:, 0]) + 0.1 * torch.randn(40, generator=g, dtype=torch.float64)
    kern = functools.partial(h_laplace, c=0.7)
    s = GPSolver(iterations=0, noise=0.05, outputscale=2.0)
    s.fit(kern, X, y, REG)
    A = 2.0 * h_laplace(X, c=0.7) + 0.05 * torch.eye(40, dtype=torch.float64)
    Ks = 2.0 * h_laplace(Xs, X, c=0.7)
    mean = Ks @ torch.linalg.solve(A, y)
    var = 2.0 * h_laplace(Xs, c=0.7).diagonal() - (Ks * torch.linalg.solve(A, Ks.T).T).sum(1)
    torch.testing.assert_close(s.predict(kern, Xs)[:, 0], mean, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(s.predict_var(kern, Xs)[:, 0], var + 0.05, rtol=1e-6, atol=1e-8)


def test_state_round_trip_keeps_learned_hyperparameters():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(50, 2, generator=g, dtype=torch.float64)
    y = torch.cos(X[:, 1])
    kern = functools.partial(laplace, c=1.0)
    s = GPSolver(iterations=5)
    s.fit(kern, X, y, REG)
    assert len(s.history) == 5 and s.history[-1] < s.history[0]
    fresh = GPSolver(iterations=5)
    fresh.load_state_dict(s.state_dict())
    torch.testing.assert_close(fresh.predict(kern, X), s.predict(kern, X))


def test_bad_options():
    with pytest.raises(ValueError, match="noise"):
        GPSolver(noise=0.0)


@pytest.mark.slow
def test_marginal_likelihood_recovers_a_known_c():
    """y ~ GP(0, exp(−c‖x−z‖)) + noise with c = 1 on [0, 10]²; learn c, scale and noise from
    c = 0.5. (On a small domain only σ²c is identifiable; this one is large enough.)"""
    g = torch.Generator().manual_seed(0)
    n, c_true = 400, 1.0
    X = torch.rand(n, 2, generator=g, dtype=torch.float64) * 10
    L = torch.linalg.cholesky(laplace(X, c=c_true) + 1e-10 * torch.eye(n, dtype=torch.float64))
    y = L @ torch.randn(n, generator=g, dtype=torch.float64)
    y = y + 0.05 * torch.randn(n, generator=g, dtype=torch.float64)
    s = GPSolver(iterations=150, lr=0.1, noise=0.1)
    s.fit(functools.partial(laplace, c=0.5), X, y, REG)
    c = float(s._model.covar_module.base_kernel.c)
    assert abs(c - c_true) / c_true < 0.2
