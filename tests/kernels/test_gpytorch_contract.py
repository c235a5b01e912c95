"""Every nvk GPyTorch kernel passes the public contract (`nvk.testing.KernelContract`), in its
dense form (fast) and its KeOps form (`slow`: each KeOps formula compiles once, ~10 s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gpytorch
import pytest
import torch

from nvk.kernels import gpytorch as G
from nvk.testing import KernelContract

# Parameters away from the defaults (β > 0, c ≠ 1, γ ∉ {1, 2}) so that each term is exercised.
CASES: dict[str, Callable[..., Any]] = {
    "ntk": lambda **kw: G.NTKKernel(depth=3, bias=0.5, **kw),
    "nngp": lambda **kw: G.NNGPKernel(depth=3, bias=0.5, bias_init="gaussian", **kw),
    "laplace": lambda **kw: G.LaplaceKernel(c=0.7, **kw),
    "gaussian": lambda **kw: G.GaussianKernel(c=0.3, **kw),
    "gamma_exponential": lambda **kw: G.GammaExponentialKernel(c=0.6, gamma=1.3, **kw),
    "h_laplace": lambda **kw: G.HLaplaceKernel(c=0.7, **kw),
    "h_gaussian": lambda **kw: G.HGaussianKernel(c=0.3, **kw),
    "h_gamma_exponential": lambda **kw: G.HGammaExponentialKernel(c=0.6, gamma=1.3, **kw),
}


def test_cases_cover_every_wrapper() -> None:
    made = {type(make(keops=False)) for make in CASES.values()}
    assert made == {c for c in G.GPYTORCH_KERNELS.values() if c.__module__ == G.__name__}


class TestDenseContract(KernelContract):
    @pytest.fixture(autouse=True, params=list(CASES))
    def _case(self, request: pytest.FixtureRequest) -> None:
        self.make = CASES[request.param]

    def create_kernel(self) -> Any:
        return self.make(keops=False)


@pytest.mark.slow
class TestKeOpsContract(TestDenseContract):
    n = m = 12  # one identity width for to_dense(): fewer KeOps formulas to compile

    def create_kernel(self) -> Any:
        return self.make(keops=True)


class _NotPSD(gpytorch.kernels.Kernel):
    """−x·z: symmetric, negative semidefinite."""

    def forward(self, x1, x2, diag=False, **params):
        k = -(x1 @ x2.mT)
        return k.diagonal(dim1=-2, dim2=-1) if diag else k


class _Float64Only(gpytorch.kernels.Kernel):
    """A linear kernel that ignores the input dtype (always float64)."""

    def forward(self, x1, x2, diag=False, **params):
        k = (x1 @ x2.mT).double()
        return k.diagonal(dim1=-2, dim2=-1) if diag else k


class _BadDiag(gpytorch.kernels.Kernel):
    """A linear kernel whose `diag=True` is off by one."""

    def forward(self, x1, x2, diag=False, **params):
        k = x1 @ x2.mT
        return k.diagonal(dim1=-2, dim2=-1) + 1 if diag else k


@pytest.mark.parametrize(
    ("kernel", "test"),
    [(_NotPSD, "test_psd"), (_Float64Only, "test_dtype"), (_BadDiag, "test_diag_matches_full")],
)
def test_contract_catches_broken_kernels(kernel: type, test: str) -> None:
    class Contract(KernelContract):
        def create_kernel(self) -> Any:
            return kernel()

    method = getattr(Contract(), test)
    with pytest.raises(AssertionError):
        method(torch.float32) if test == "test_dtype" else method()
