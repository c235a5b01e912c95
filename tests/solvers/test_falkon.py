import functools
import logging

import pytest
import torch

from nvk.solvers import FalkonOptions, falkon_fit, falkon_predict, krr_fit, krr_predict


def gaussian(a, b, c=0.1):
    return torch.exp(-c * torch.cdist(a, b).pow(2))


def synthetic(n, d=4, seed=0, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    f = torch.sin(X[:, 0]) + 0.5 * torch.cos(2 * X[:, 1]) + 0.3 * X[:, 2] * X[:, 3]
    return X, (f + noise * torch.randn(n, generator=g, dtype=torch.float64))[:, None], f[:, None]


def test_all_centres_equal_exact_krr_with_lambda_times_n():
    X, Y, _ = synthetic(300)
    lam_f = 1e-3
    fit = falkon_fit(gaussian, X, Y, FalkonOptions(centers=300, ridge=lam_f, tol=1e-14,
                                                    maxiter=500, block=64))  # fmt: skip
    Xt, _, _ = synthetic(100, seed=1)
    exact = krr_predict(gaussian(Xt, X), krr_fit(gaussian(X, X), Y, ridge=300 * lam_f))
    got = falkon_predict(gaussian, Xt, fit)
    assert float((got - exact).norm() / exact.norm()) < 1e-6


def test_few_centres_are_nearly_as_good_as_exact_krr():
    """λ picked for exact KRR on a validation set; FALKON with M = n/20 at that λ."""

    def smooth(n, seed, noise=0.5):
        g = torch.Generator().manual_seed(seed)
        X = torch.randn(n, 4, generator=g, dtype=torch.float64)
        f = (torch.sin(X[:, 0]) + 0.5 * torch.cos(X[:, 1]))[:, None]
        return X, f + noise * torch.randn(n, 1, generator=g, dtype=torch.float64), f

    n = 3000
    X, Y, _ = smooth(n, 0)
    Xv, Yv, _ = smooth(500, 1)
    Xt, _, ft = smooth(1000, 2)
    K, Kv = gaussian(X, X), gaussian(Xv, X)
    grid = [1e-6, 1e-5, 1e-4, 1e-3]
    val = [float((krr_predict(Kv, krr_fit(K, Y, ridge=n * r)) - Yv).pow(2).mean()) for r in grid]
    lam = grid[val.index(min(val))]
    exact = krr_predict(gaussian(Xt, X), krr_fit(K, Y, ridge=n * lam))
    fit = falkon_fit(gaussian, X, Y, FalkonOptions(centers=n // 20, ridge=lam, maxiter=100))
    err_f = float((falkon_predict(gaussian, Xt, fit) - ft).pow(2).mean())
    err_k = float((exact - ft).pow(2).mean())
    assert err_f <= 1.05 * err_k


def test_multi_output_columns_are_independent_problems():
    X, Y, _ = synthetic(200)
    Y2 = torch.cat([Y, -2 * Y + 1], dim=1)
    opts = FalkonOptions(centers=50, ridge=1e-3, tol=1e-12, maxiter=300)
    both = falkon_fit(gaussian, X, Y2, opts).alpha
    one = falkon_fit(gaussian, X, Y2[:, 1:], opts).alpha
    torch.testing.assert_close(both[:, 1:], one, rtol=1e-6, atol=1e-8)


def test_float32_runs_and_is_close():
    X, Y, _ = synthetic(300)
    o = dict(centers=60, ridge=1e-2, maxiter=200)
    a = falkon_predict(gaussian, X, falkon_fit(gaussian, X, Y, FalkonOptions(**o)))
    b = falkon_predict(
        gaussian, X, falkon_fit(gaussian, X, Y, FalkonOptions(dtype="float32", tol=1e-5, **o))
    )
    assert b.dtype == torch.float64  # float32 kernel tiles, float64 algebra (PRECISION)
    assert float((a - b).norm() / a.norm()) < 1e-3, float((a - b).norm() / a.norm())


def test_float32_tiles_with_float64_algebra_track_the_float64_solve():
    """float32 kernel tiles with float64 sums, preconditioner and CG stay within ~1e-3 of the
    float64 solve after 10 iterations on an unnormalized kernel with a small ridge; an
    all-float32 solve is 7.3e-3 away here (and stalled at CG residual ~0.1 at n = 2·10⁵)."""
    from nvk.kernels import h_laplace

    g = torch.Generator().manual_seed(0)
    X = torch.randn(4000, 28, generator=g, dtype=torch.float64)
    y = (torch.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).long()
    Y = torch.nn.functional.one_hot(y, 2).double()
    k = functools.partial(h_laplace, c=0.25)
    o = dict(centers=1000, ridge=1e-6, maxiter=10, tol=1e-9, block=512)
    a = falkon_predict(k, X, falkon_fit(k, X, Y, FalkonOptions(**o)))
    fit = falkon_fit(k, X, Y, FalkonOptions(dtype="float32", **o))
    assert fit.centers.dtype == torch.float32 and fit.alpha.dtype == torch.float64
    b = falkon_predict(k, X, fit)
    assert float((a - b).norm() / a.norm()) < 3e-3, float((a - b).norm() / a.norm())
    # algebra_dtype="float32" (all-float32, what this replaced) converges measurably worse
    fit32 = falkon_fit(k, X, Y, FalkonOptions(dtype="float32", algebra_dtype="float32", **o))
    assert fit32.alpha.dtype == torch.float32
    c = falkon_predict(k, X, fit32).double()
    assert float((a - c).norm() / a.norm()) > 2 * float((a - b).norm() / a.norm())


def test_iteration_cap_warns_with_the_residual(caplog):
    X, Y, _ = synthetic(300)
    with caplog.at_level(logging.WARNING, logger="nvk.solvers"):
        fit = falkon_fit(gaussian, X, Y, FalkonOptions(centers=100, ridge=1e-9, maxiter=2))
    assert fit.iterations == 2 and fit.residual > 1e-8
    assert "iteration cap" in caplog.text and "residual" in caplog.text


def test_bad_options_raise():
    X, Y, _ = synthetic(20)
    with pytest.raises(ValueError, match="exceeds"):
        falkon_fit(gaussian, X, Y, FalkonOptions(centers=21))
    with pytest.raises(ValueError, match="ridge"):
        FalkonOptions(ridge=-1)
    with pytest.raises(ValueError, match="NaN"):
        falkon_fit(gaussian, X, Y * float("nan"), FalkonOptions(centers=5))
