"""A public contract test for GPyTorch kernels, in the spirit of GPyTorch's `BaseKernelTestCase`.

Subclass `KernelContract` in a pytest module (the class name must start with `Test`) and give it
`create_kernel()`; every test below then runs on your kernel:

    from nvk.testing import KernelContract

    class TestMyKernel(KernelContract):
        def create_kernel(self):
            return MyKernel(c=0.5)

Checked: output shapes (…, N, M) of `K(x1, x2)` and (…, N) with `diag=True`; the diagonal
equals the full matrix's diagonal; batched inputs (B1, B2, N, D) give the per-slice matrices;
float32 and float64 are preserved; CUDA gives the CPU values (skipped without a GPU); K(x, x) is
symmetric and positive semidefinite (smallest eigenvalue ≥ −`psd_rtol` · largest, float64); the
gradients with respect to every hyperparameter and to the inputs are finite (inputs: at x1 ≠ x2,
and at x1 = x2 unless `grad_on_diagonal = False`).

Matrices are densified with `to_dense()`, so a KeOps kernel (a `KernelLinearOperator`) is
multiplied by an identity here: keep `n` small. Tolerances scale with the dtype's epsilon.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor


def dense(k: Any) -> Tensor:
    """A kernel's output as a dense tensor (LinearOperator, LazyEvaluatedKernelTensor, Tensor)."""
    return k.to_dense() if hasattr(k, "to_dense") else k


class KernelContract:
    """Mixin of pytest tests every GPyTorch kernel should pass (see the module docstring).

    Override `create_kernel()` (required) and, if your kernel needs other inputs, `create_data`.
    Class attributes: `n`, `m`, `d` (data sizes), `batch_shape` (for the batched-input test),
    `psd_rtol`, `grad_on_diagonal`, `eps_factor` (value comparisons allow eps_factor · eps of
    the dtype, relative to 1 + the largest entry).
    """

    n: int = 12
    m: int = 7
    d: int = 3
    batch_shape: tuple[int, ...] = (2, 3)
    psd_rtol: float = 1e-8
    grad_on_diagonal: bool = True
    eps_factor: float = 1e3

    # -- hooks -------------------------------------------------------------------------------
    def create_kernel(self) -> Any:
        """A fresh kernel (a `gpytorch.kernels.Kernel`), default dtype float32 parameters."""
        raise NotImplementedError("KernelContract subclasses implement create_kernel()")

    def create_data(self, *shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> Tensor:
        """Inputs of shape `shape` (…, N, D): standard normal, seeded."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(*shape, generator=g, dtype=dtype)

    # -- helpers -----------------------------------------------------------------------------
    def kernel(self, dtype: torch.dtype = torch.float64, device: str = "cpu") -> Any:
        return self.create_kernel().to(device=device, dtype=dtype)

    def tol(self, dtype: torch.dtype) -> dict[str, float]:
        e = self.eps_factor * torch.finfo(dtype).eps
        return {"rtol": e, "atol": e}

    def assert_close_scaled(self, a: Tensor, b: Tensor, dtype: torch.dtype) -> None:
        """|a − b| ≤ tol · (1 + max |b|) elementwise."""
        t = self.tol(dtype)
        scale = 1.0 + float(b.detach().abs().max()) if b.numel() else 1.0
        torch.testing.assert_close(a, b, rtol=t["rtol"], atol=t["atol"] * scale)

    # -- the contract ------------------------------------------------------------------------
    def test_shapes(self) -> None:
        k = self.kernel()
        x1, x2 = self.create_data(self.n, self.d), self.create_data(self.m, self.d, seed=1)
        assert dense(k(x1, x2)).shape == (self.n, self.m)
        assert dense(k(x1)).shape == (self.n, self.n)
        assert k(x1, diag=True).shape == (self.n,)
        x3 = self.create_data(self.n, self.d, seed=2)
        assert k(x1, x3, diag=True).shape == (self.n,)

    def test_diag_matches_full(self) -> None:
        k = self.kernel()
        x1 = self.create_data(self.n, self.d)
        x2 = self.create_data(self.n, self.d, seed=1)
        for a, b in ((x1, x1), (x1, x2)):
            full = dense(k(a, b)).diagonal(dim1=-2, dim2=-1)
            self.assert_close_scaled(dense(k(a, b, diag=True)), full, torch.float64)

    def test_batch_inputs(self) -> None:
        k = self.kernel()
        x = self.create_data(*self.batch_shape, self.n, self.d)
        z = self.create_data(*self.batch_shape, self.m, self.d, seed=1)
        for a, b, cols in ((x, x, self.n), (x, z, self.m)):
            out = dense(k(a, b))
            assert out.shape == (*self.batch_shape, self.n, cols)
            flat_a = a.reshape(-1, self.n, self.d)
            flat_b = b.reshape(-1, cols, self.d)
            ref = torch.stack([dense(k(p, q)) for p, q in zip(flat_a, flat_b)])
            self.assert_close_scaled(out, ref.reshape(out.shape), torch.float64)
        diag = k(x, diag=True)
        assert diag.shape == (*self.batch_shape, self.n)
        self.assert_close_scaled(diag, dense(k(x)).diagonal(dim1=-2, dim2=-1), torch.float64)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
    def test_dtype(self, dtype: torch.dtype) -> None:
        k = self.kernel(dtype)
        x1 = self.create_data(self.n, self.d, dtype=dtype)
        x2 = self.create_data(self.m, self.d, dtype=dtype, seed=1)
        out = dense(k(x1, x2))
        assert out.dtype == dtype
        assert k(x1, diag=True).dtype == dtype
        ref = dense(self.kernel(torch.float64)(x1.double(), x2.double()))
        self.assert_close_scaled(out.double(), ref, dtype)

    def test_device(self) -> None:
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        x1, x2 = self.create_data(self.n, self.d), self.create_data(self.m, self.d, seed=1)
        k = self.kernel(device="cuda")
        out = dense(k(x1.cuda(), x2.cuda()))
        assert out.device.type == "cuda"
        assert k(x1.cuda(), diag=True).device.type == "cuda"
        ref = dense(self.kernel()(x1, x2))
        self.assert_close_scaled(out.cpu(), ref, torch.float64)

    def test_symmetric(self) -> None:
        k = self.kernel()
        for dtype in (torch.float32, torch.float64):
            x = self.create_data(self.n, self.d, dtype=dtype)
            K = dense(self.kernel(dtype)(x)) if dtype != torch.float64 else dense(k(x))
            self.assert_close_scaled(K, K.mT, dtype)

    def test_psd(self) -> None:
        k = self.kernel()
        x = self.create_data(self.n, self.d)
        ev = torch.linalg.eigvalsh(dense(k(x)).detach())
        assert ev.max() > 0, f"kernel matrix has no positive eigenvalue: {ev}"
        assert ev.min() >= -self.psd_rtol * ev.max(), (float(ev.min()), float(ev.max()))

    def test_grad_hyperparameters(self) -> None:
        k = self.kernel()
        params = [(n, p) for n, p in k.named_parameters() if p.requires_grad]
        if not params:
            pytest.skip(f"{type(k).__name__} has no trainable hyperparameters")
        x1, x2 = self.create_data(self.n, self.d), self.create_data(self.m, self.d, seed=1)
        for a, b in ((x1, x1), (x1, x2)):
            k.zero_grad()
            dense(k(a, b)).sum().backward()
            for name, p in params:
                assert p.grad is not None, f"no gradient reaches {name}"
                assert torch.isfinite(p.grad).all(), f"non-finite gradient of {name}: {p.grad}"

    def test_grad_inputs(self) -> None:
        k = self.kernel()
        x1 = self.create_data(self.n, self.d).requires_grad_()
        x2 = self.create_data(self.m, self.d, seed=1).requires_grad_()
        g1, g2 = torch.autograd.grad(dense(k(x1, x2)).sum(), (x1, x2))
        assert torch.isfinite(g1).all() and torch.isfinite(g2).all()
        assert g1.abs().sum() > 0 or g2.abs().sum() > 0, "the kernel does not depend on its inputs"
        if self.grad_on_diagonal:
            (g,) = torch.autograd.grad(dense(k(x1)).sum(), (x1,))
            assert torch.isfinite(g).all(), "non-finite input gradient of K(x, x)"
