"""The exponential family k(x, z) = exp(−c‖x − z‖^γ), 0 < γ ≤ 2, and its homogeneous forms.

One parameterization everywhere (Geifman et al. 2020, §3 and Table 1):

    gamma_exponential(x, z; c, γ) = exp(−c ‖x − z‖^γ)       (Euclidean norm)
    laplace  = γ = 1,   gaussian = γ = 2.
    homogeneous ("H-") form:  ‖x‖ ‖z‖ · k(x/‖x‖, z/‖z‖) = ‖x‖‖z‖ exp(−c (2 − 2u)^{γ/2}),
    u = x·z / (‖x‖‖z‖)  (the paper's eq. 5 and the "H-Laplace"/"H-Gaussian" rows).

Conversions: on the unit sphere ‖x − z‖² = 2(1 − u), so eq. 5's exp(−c′ √(1 − u)) is the
Laplace kernel with c′ = 2^{1/2} c (in general c′ = 2^{γ/2} c for exp(−c′ (1 − u)^{γ/2})).
scikit-learn's `laplacian_kernel(X, Y, gamma)` = exp(−gamma ‖x − z‖₁) uses the L1 norm and is
*not* this kernel (its `rbf_kernel(gamma=g)` is `gaussian` with c = g). GPyTorch's
`MaternKernel(nu=0.5)` with lengthscale ℓ is `laplace` with c = 1/ℓ; its `RBFKernel` with
lengthscale ℓ is `gaussian` with c = 1/(2ℓ²).

Numerics: ‖x − z‖^γ has a cusp at x = z; its gradient there is the subgradient 0, and
∂/∂γ uses r^γ log r → 0 at r = 0 (γ may be a tensor requiring grad). H-kernels give their limit
0 at zero-norm rows (k ≤ 1), with gradient 0 there. All distances go through ‖x‖² + ‖z‖² −
2x·z (one matrix product); for x2 is x1 the diagonal is exactly 0. Large calls without
gradients run everything after the matrix product as one compiled loop (`nvk.kernels.fused`).

Shapes: x1 (…, N, D), x2 (…, M, D) → (…, N, M).
"""

from __future__ import annotations

import torch
from torch import Tensor

from nvk.kernels import fused
from nvk.kernels._checks import (
    check_gamma,
    check_pair,
    check_positive,
    pow_half,
    safe_norm,
    sqdist,
)


def _fusable(x1: Tensor, x2: Tensor, c: float | Tensor, gamma: float | Tensor) -> bool:
    """Whether everything after the matrix product runs as one compiled loop
    (`nvk.kernels.fused.exp_tail`, the same arithmetic as the in-place path): large no-grad
    (N, D) × (M, D) calls with numeric c and γ."""
    if isinstance(c, Tensor) or isinstance(gamma, Tensor) or x1.ndim != 2 or x2.ndim != 2:
        return False
    return fused.use_fused(x1.shape[0] * x2.shape[0], x1, x2)


def _fused_plain(x1: Tensor, x2: Tensor, c: float, gamma: float) -> Tensor:
    """exp(−c‖x − z‖^γ) through `fused.exp_tail` (for `_fusable` calls)."""
    n1 = (x1 * x1).sum(-1, keepdim=True)
    n2 = (x2 * x2).sum(-1, keepdim=True).T
    g = torch.addmm(n2, x1, x2.T, alpha=-2)  # as `sqdist`: ‖z‖² − 2x·z, then + ‖x‖²
    same = x2 is x1 and x1.shape[0] > 0
    return fused.exp_tail(g, n1, n2, float(c), float(gamma), False, same)


def _exp_neg(c: float | Tensor, r_gamma: Tensor) -> Tensor:
    grad_c = isinstance(c, Tensor) and c.requires_grad
    grows = (
        isinstance(c, Tensor) and torch.broadcast_shapes(c.shape, r_gamma.shape) != r_gamma.shape
    )
    if grows or (torch.is_grad_enabled() and (r_gamma.requires_grad or grad_c)):
        return torch.exp(-c * r_gamma)  # batched c (GPyTorch batch_shape) widens the result
    return r_gamma.mul_(-c).exp_()


def gamma_exponential(
    x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0, gamma: float | Tensor = 1.0
) -> Tensor:
    """γ-exponential kernel exp(−c‖x1 − x2‖^γ), (…, N, D) × (…, M, D) → (…, N, M)."""
    name = "gamma_exponential"
    c = check_positive(c, name=name, what="c")
    check_gamma(gamma, name=name)
    x2 = check_pair(x1, x2, name=name)
    if _fusable(x1, x2, c, gamma):
        return _fused_plain(x1, x2, c, gamma)
    return _exp_neg(c, pow_half(sqdist(x1, x2), gamma, inplace=True, nonneg=True))


def laplace(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0) -> Tensor:
    """Laplace kernel exp(−c‖x1 − x2‖) (γ = 1; = GPyTorch Matérn-½ with ℓ = 1/c)."""
    c = check_positive(c, name="laplace", what="c")
    x2 = check_pair(x1, x2, name="laplace")
    if _fusable(x1, x2, c, 1.0):
        return _fused_plain(x1, x2, c, 1.0)
    return _exp_neg(c, pow_half(sqdist(x1, x2), 1.0, inplace=True, nonneg=True))


def gaussian(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0) -> Tensor:
    """Gaussian kernel exp(−c‖x1 − x2‖²) (γ = 2)."""
    c = check_positive(c, name="gaussian", what="c")
    x2 = check_pair(x1, x2, name="gaussian")
    if _fusable(x1, x2, c, 2.0):
        return _fused_plain(x1, x2, c, 2.0)
    return _exp_neg(c, sqdist(x1, x2))


def _homogeneous(x1: Tensor, x2: Tensor, c: float | Tensor, gamma: float | Tensor) -> Tensor:
    n1, n2 = safe_norm(x1), safe_norm(x2)  # (…, N), (…, M)
    pos1, pos2 = n1 > 0, n2 > 0
    i1 = pos1 / torch.where(pos1, n1, 1.0)
    i2 = pos2 / torch.where(pos2, n2, 1.0)
    same = x2 is x1 and x1.shape[-2] > 0
    grad = torch.is_grad_enabled() and any(
        isinstance(t, Tensor) and t.requires_grad for t in (x1, x2, c, gamma)
    )  # learnable c or γ (GPyTorch) need the out-of-place path too
    if grad:
        u = (x1 @ x2.transpose(-1, -2)) * i1.unsqueeze(-1) * i2.unsqueeze(-2)
        s = 2 - 2 * u.clamp(-1.0, 1.0)  # ‖x̂ − ẑ‖²
        if same:
            eye = torch.eye(s.shape[-1], dtype=torch.bool, device=s.device)
            s = s.masked_fill(eye, 0.0)
        k = torch.exp(-c * pow_half(s, gamma))
        return n1.unsqueeze(-1) * n2.unsqueeze(-2) * k
    # in place on one (…, N, M) buffer
    xn1 = x1 * i1.unsqueeze(-1)
    xn2 = xn1 if same else x2 * i2.unsqueeze(-1)
    u = xn1 @ xn2.transpose(-1, -2)
    if _fusable(x1, x2, c, gamma):  # the lines below as one compiled loop
        a1, a2 = n1.unsqueeze(-1), n2.unsqueeze(-2)
        return fused.exp_tail(u, a1, a2, float(c), float(gamma), True, same)
    s = u.mul_(-2).add_(2).clamp_min_(0)  # ‖x̂ − ẑ‖² = 2 − 2u
    if same:
        s.diagonal(dim1=-2, dim2=-1).zero_()
    k = _exp_neg(c, pow_half(s, gamma, inplace=True, nonneg=True))
    return k.mul_(n1.unsqueeze(-1)).mul_(n2.unsqueeze(-2))


def h_gamma_exponential(
    x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0, gamma: float | Tensor = 1.0
) -> Tensor:
    """Homogeneous γ-exponential ‖x‖‖z‖ exp(−c‖x/‖x‖ − z/‖z‖‖^γ), → (…, N, M)."""
    name = "h_gamma_exponential"
    c = check_positive(c, name=name, what="c")
    check_gamma(gamma, name=name)
    x2 = check_pair(x1, x2, name=name)
    return _homogeneous(x1, x2, c, gamma)


def h_laplace(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0) -> Tensor:
    """H-Laplace ‖x‖‖z‖ exp(−c√(2 − 2u)) = ‖x‖‖z‖ exp(−c′√(1 − u)), c′ = √2 c (eq. 5)."""
    c = check_positive(c, name="h_laplace", what="c")
    x2 = check_pair(x1, x2, name="h_laplace")
    return _homogeneous(x1, x2, c, 1.0)


def h_gaussian(x1: Tensor, x2: Tensor | None = None, *, c: float | Tensor = 1.0) -> Tensor:
    """H-Gaussian ‖x‖‖z‖ exp(−c(2 − 2u)) = ‖x‖‖z‖ exp(−2c(1 − u))."""
    c = check_positive(c, name="h_gaussian", what="c")
    x2 = check_pair(x1, x2, name="h_gaussian")
    return _homogeneous(x1, x2, c, 2.0)
