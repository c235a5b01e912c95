"""GPyTorch's own kernel test suite (`gpytorch.test.base_kernel_test_case.BaseKernelTestCase`)
run on every nvk GPyTorch kernel, and a batch-mode GP (one GP per class) with the NTK and NNGP.

The suite checks active_dims, batched inputs against per-slice evaluations, kernels with a
`batch_shape` (evaluation, `kernel[i]`, `expand_batch`), pickling, and `dtype`/`device`. nvk
kernels have no ARD (no lengthscale): `create_kernel_ard` raises `unittest.SkipTest`, so the
suite's two ARD tests are reported as skipped (the suite itself would let them pass silently on
`NotImplementedError`). Everything runs on dense tensors (`keops=False`): no KeOps compilation.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import Any

import gpytorch
import pytest
import torch
from gpytorch.test.base_kernel_test_case import BaseKernelTestCase

from nvk.kernels import fc as F
from nvk.kernels import gpytorch as G

# Parameters away from the defaults (β > 0, c ≠ 1, γ ∉ {1, 2}) so that each term is exercised.
MAKERS: dict[str, Callable[..., G.NVKKernel]] = {
    "NTK": lambda **kw: G.NTKKernel(depth=3, bias=0.5, keops=False, **kw),
    "NNGP": lambda **kw: G.NNGPKernel(depth=3, bias=0.5, bias_init="gaussian", keops=False, **kw),
    "Laplace": lambda **kw: G.LaplaceKernel(c=0.7, keops=False, **kw),
    "Gaussian": lambda **kw: G.GaussianKernel(c=0.3, keops=False, **kw),
    "GammaExponential": lambda **kw: G.GammaExponentialKernel(c=0.6, gamma=1.3, keops=False, **kw),
    "HLaplace": lambda **kw: G.HLaplaceKernel(c=0.7, keops=False, **kw),
    "HGaussian": lambda **kw: G.HGaussianKernel(c=0.3, keops=False, **kw),
    "HGammaExponential": lambda **kw: G.HGammaExponentialKernel(
        c=0.6, gamma=1.3, keops=False, **kw
    ),
}


class _Suite(BaseKernelTestCase):
    """GPyTorch's suite for `MAKERS[name]` (BaseKernelTestCase first: its seeded setUp and
    tensor-aware assertEqual take precedence over unittest.TestCase's)."""

    name: str
    seed = 0

    def create_kernel_no_ard(self, **kwargs: Any) -> G.NVKKernel:
        return MAKERS[self.name](**kwargs)

    def create_kernel_ard(self, num_dims: int, **kwargs: Any) -> G.NVKKernel:
        raise unittest.SkipTest("nvk kernels have no ARD lengthscales (ard_num_dims)")


class TestNTKKernelSuite(_Suite, unittest.TestCase):
    name = "NTK"


class TestNNGPKernelSuite(_Suite, unittest.TestCase):
    name = "NNGP"


class TestLaplaceKernelSuite(_Suite, unittest.TestCase):
    name = "Laplace"


class TestGaussianKernelSuite(_Suite, unittest.TestCase):
    name = "Gaussian"


class TestGammaExponentialKernelSuite(_Suite, unittest.TestCase):
    name = "GammaExponential"


class TestHLaplaceKernelSuite(_Suite, unittest.TestCase):
    name = "HLaplace"


class TestHGaussianKernelSuite(_Suite, unittest.TestCase):
    name = "HGaussian"


class TestHGammaExponentialKernelSuite(_Suite, unittest.TestCase):
    name = "HGammaExponential"


def test_suite_covers_every_wrapper() -> None:
    made = {type(make()) for make in MAKERS.values()}
    assert made == {c for c in G.GPYTORCH_KERNELS.values() if c.__module__ == G.__name__}
    suites = {c.name for c in _Suite.__subclasses__()}
    assert suites == set(MAKERS)


# -- batch-mode GP: one GP per class ---------------------------------------------------------
B = 3  # classes
FC_SETTINGS = {"depth": 3, "bias": 0.5}
FC_CLASSES = {"ntk": (G.NTKKernel, F.fc_ntk), "nngp": (G.NNGPKernel, F.fc_nngp)}
OUTPUTSCALES = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
NOISES = torch.tensor([0.05, 0.1, 0.3], dtype=torch.float64)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class _GP(gpytorch.models.ExactGP):
    def __init__(self, x, y, lik, covar, batch_shape: torch.Size) -> None:
        super().__init__(x, y, lik)
        self.mean_module = gpytorch.means.ZeroMean(batch_shape=batch_shape)
        self.covar_module = covar

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def _model(cls: type[G.NVKKernel], x, y, outputscale, noise, batch_shape=()) -> _GP:
    batch_shape = torch.Size(batch_shape)
    base = cls(batch_shape=batch_shape, keops=False, **FC_SETTINGS)
    covar = gpytorch.kernels.ScaleKernel(base, batch_shape=batch_shape)
    lik = gpytorch.likelihoods.GaussianLikelihood(batch_shape=batch_shape)
    model = _GP(x, y, lik, covar, batch_shape).double()
    covar.outputscale = outputscale
    lik.noise = noise if noise.dim() == 0 else noise[:, None]
    return model


@pytest.mark.parametrize("inputs", ["shared", "batched"])
@pytest.mark.parametrize("kind", list(FC_CLASSES))
def test_batched_gp_matches_one_gp_per_class(kind: str, inputs: str) -> None:
    """A batch_shape=[3] ExactGP (one GP per class, as `solver=gp` builds) with the NTK/NNGP gives
    [3, n, n] kernels and [3, m] posteriors whose slices equal three separate unbatched GPs
    (each its own output scale, noise and targets); the kernel slices equal the pure function.
    `shared`: unbatched training inputs (n, d), broadcast by the kernel's batch_shape (what
    failed before); `batched`: inputs expanded to (3, n, d), as `GPSolver` passes them."""
    cls, pure = FC_CLASSES[kind]
    n, m, d = 20, 7, 4
    x, xs, y = _randn(n, d, seed=0), _randn(m, d, seed=1), _randn(B, n, seed=2)
    X, XS = (x, xs) if inputs == "shared" else (x.expand(B, n, d), xs.expand(B, m, d))
    model = _model(cls, X, y, OUTPUTSCALES, NOISES, torch.Size([B]))

    base = model.covar_module.base_kernel
    K = base(X).to_dense()
    assert K.shape == (B, n, n)
    assert base(X, diag=True).shape == (B, n)
    assert base(X, XS).to_dense().shape == (B, n, m)
    for b in range(B):
        torch.testing.assert_close(K[b], pure(x, **FC_SETTINGS), rtol=0, atol=0)
    assert (base.dtype, base.device) == (torch.float64, torch.device("cpu"))

    model.train()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
    loss = mll(model(X), y)
    assert loss.shape == (B,)
    model.eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
        post = model(XS)
        pred = model.likelihood(post)
    assert post.mean.shape == (B, m) and post.covariance_matrix.shape == (B, m, m)
    assert pred.variance.shape == (B, m)
    multi = gpytorch.distributions.MultitaskMultivariateNormal.from_batch_mvn(post)
    assert multi.mean.shape == (m, B)  # one column per class, as `GPSolver.predict` returns

    for b in range(B):  # the independent reference: one unbatched GP per class
        ref = _model(cls, x, y[b], OUTPUTSCALES[b], NOISES[b])
        ref.train()
        ref_mll = gpytorch.mlls.ExactMarginalLogLikelihood(ref.likelihood, ref)
        torch.testing.assert_close(loss[b], ref_mll(ref(x), y[b]))
        ref.eval()
        with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
            ref_post = ref(xs)
        torch.testing.assert_close(post.mean[b], ref_post.mean)
        torch.testing.assert_close(post.covariance_matrix[b], ref_post.covariance_matrix)


@pytest.mark.parametrize("kind", list(FC_CLASSES))
def test_batched_keops_path_without_compiling(kind: str, monkeypatch) -> None:
    """The KeOps path (`KernelLinearOperator`) carries the kernel's batch shape: checked with the
    KeOps twin replaced by the dense function (same call, no KeOps compilation)."""
    cls, pure = FC_CLASSES[kind]
    calls: list[tuple[int, ...]] = []

    def twin(x1, x2, **kw):
        calls.append(tuple(x1.shape))
        return pure(x1, x2, **kw)

    monkeypatch.setattr(cls, "twin", staticmethod(twin))
    k = cls(batch_shape=torch.Size([B]), keops=True, **FC_SETTINGS).double()
    x, z = _randn(10, 4, seed=3), _randn(6, 4, seed=4)
    for a, b in ((x, x), (x, z), (x.expand(2, 1, 10, 4), z)):
        out = k.forward(a, b)
        shape = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2], (B,))
        assert out.shape == (*shape, a.size(-2), b.size(-2))
        ref = pure(a, b, **FC_SETTINGS).expand(out.shape)
        torch.testing.assert_close(out.to_dense(), ref)  # to_dense: a product with I
        if a.size(-2) == b.size(-2):  # the diagonal: batched 1 x 1 dense evaluations
            torch.testing.assert_close(out.diagonal(), ref.diagonal(dim1=-2, dim2=-1))
    assert calls and all(c[:-2] for c in calls)  # the twin saw the batch dimensions
