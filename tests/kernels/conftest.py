"""Helpers shared by the kernel tests."""

from __future__ import annotations

import torch


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def rel_fro(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖_F / ‖b‖_F."""
    return float((a - b).norm() / b.norm())


def assert_psd(k: torch.Tensor) -> None:
    """min eigenvalue ≥ −1e-10 · max eigenvalue (float64), and symmetric."""
    k = k.double()
    torch.testing.assert_close(k, k.T, rtol=0, atol=1e-12 * float(k.abs().max()))
    ev = torch.linalg.eigvalsh(k)
    assert ev.min() >= -1e-10 * ev.max(), (float(ev.min()), float(ev.max()))


def random_rotation(d: int, seed: int = 0) -> torch.Tensor:
    q, r = torch.linalg.qr(randn(d, d, seed=seed))
    return q * torch.sign(torch.diagonal(r))
