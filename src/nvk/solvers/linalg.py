"""Cholesky with jitter escalation: the one place nvk factorizes a Gram matrix."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("nvk.solvers")


def check_finite_matrix(K: torch.Tensor, what: str = "Gram matrix") -> None:
    if not torch.isfinite(K).all():
        raise ValueError(f"{what} has NaN/inf entries; check the inputs and kernel parameters")


def _cholesky_shifted(K: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """`cholesky_ex(K + s·I)` without forming K + s·I: the same values, two N × N buffers."""
    plain = not (K.requires_grad or K.is_inference() or 0 in K.stride())
    if not plain:  # autograd, inference tensors, broadcast views: the out-of-place form
        return torch.linalg.cholesky_ex(
            K + s * torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
        )
    diag = K.diagonal(dim1=-2, dim2=-1)
    saved = diag.clone()
    try:
        diag.add_(s)
        return torch.linalg.cholesky_ex(K)
    finally:
        diag.copy_(saved)


def cholesky_jitter(
    K: torch.Tensor,
    *,
    shift: float = 0.0,
    jitter: float = 0.0,
    max_tries: int = 8,
    what: str = "Gram matrix",
) -> tuple[torch.Tensor, float]:
    """Lower Cholesky factor of K + (shift + jitter)·I, escalating the jitter until PD.

    K: (N, N) symmetric. `shift` is the requested ridge (kept as is); `jitter` an extra diagonal
    term added only if needed: starting from max(jitter, 1e-12·mean diag K) and multiplied by 10
    per failed try, with a logged warning naming the final value.
    Returns (L, jitter_used).

    Memory: K's diagonal is shifted in place for the factorization and restored bit for bit
    afterwards (a saved copy), so the peak is K plus L: two N × N buffers, as
    `nvk.solvers.memory.check_gram_memory` budgets (forming K + s·I would need four). K must
    be writable (not a read-only memory map); tensors that require grad, inference tensors and
    broadcast views take the out-of-place form.
    """
    n = K.shape[-1]
    if K.shape[-2:] != (n, n):
        raise ValueError(f"{what} must be square, got shape {tuple(K.shape)}")
    check_finite_matrix(K, what)
    L, info = _cholesky_shifted(K, shift + jitter)
    if int(info.max()) == 0:
        return L, jitter
    scale = float(K.diagonal(dim1=-2, dim2=-1).abs().mean().clamp_min(1e-30))
    j = max(jitter, 1e-12 * scale)
    for _ in range(max_tries):
        del L  # the failed factor: keep the peak at K plus one factor
        L, info = _cholesky_shifted(K, shift + j)
        if int(info.max()) == 0:
            log.warning(
                "%s is not numerically positive definite (n=%d); added jitter %.3g "
                "(%.2g x mean diagonal) to factorize it",
                what, n, j, j / scale,
            )  # fmt: skip
            return L, j
        j *= 10.0
    raise torch.linalg.LinAlgError(
        f"{what} could not be factorized even with jitter {j / 10:.3g}; "
        "check for NaN inputs or a kernel that is not positive semi-definite"
    )
