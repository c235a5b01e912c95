"""Input validation and NaN-free elementary pieces shared by the kernels (private)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

TWO_PI = 2.0 * math.pi


def snap(dtype: torch.dtype) -> float:
    """1/(1 − 32 ulp): scaling a correlation ρ by it before clamping to [−1, 1] makes |ρ|
    within rounding of 1 exactly ±1 (arccos turns an ulp of ρ into √ulp of θ, which would make
    Gram matrices of (near-)parallel rows indefinite at the 1e-8 level)."""
    return 1.0 / (1.0 - 32 * torch.finfo(dtype).eps)


def rsqrt0(q: Tensor) -> Tensor:
    """1/√q where q > 0, 0 where q = 0 (zero rows, all-zero patches)."""
    pos = q > 0
    return torch.where(pos, q, 1.0).rsqrt() * pos


def check_pair(x1: Tensor, x2: Tensor | None, *, name: str) -> Tensor:
    """Validate x1: (…, N, D) and x2: (…, M, D) (x2=None means x1); return x2.

    Raises ValueError for non-tensors, fewer than 2 dims, mismatched feature dimensions,
    or NaN/inf values, naming the kernel and the offending value.
    """
    if x2 is None:
        x2 = x1
    for label, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{name}: {label} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"{name}: {label} must have shape (..., N, D), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: {label} must be floating point, got {x.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(
            f"{name}: feature dimensions differ: x1 has D={x1.shape[-1]}, x2 has D={x2.shape[-1]}"
        )
    for label, x in (("x1", x1), ("x2", x2)):
        bad = ~torch.isfinite(x)
        if bad.any():
            raise ValueError(
                f"{name}: {label} holds {int(bad.sum())} non-finite value(s) (NaN/inf)"
            )
    return x2


def check_positive(value: float | Tensor, *, name: str, what: str) -> float | Tensor:
    """A finite value > 0. Tensors (learnable hyperparameters, e.g. GPyTorch's c) are checked
    on their detached values and returned as they are, so gradients flow through them."""
    if isinstance(value, Tensor):
        v = value.detach()
        if not bool(torch.all(torch.isfinite(v) & (v > 0))):
            raise ValueError(f"{name}: {what} must be finite and > 0, got {value!r}")
        return value
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: {what} must be a finite number > 0, got {value!r}")
    return v


def check_nonneg(value: float, *, name: str, what: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}: {what} must be a finite number >= 0, got {value!r}")
    return v


def check_gamma(gamma: float | Tensor, *, name: str) -> float | Tensor:
    """γ ∈ (0, 2] (a float, or a tensor when differentiating with respect to γ)."""
    g = gamma.detach() if isinstance(gamma, Tensor) else torch.tensor(float(gamma))
    if not bool(torch.all(torch.isfinite(g) & (g > 0) & (g <= 2))):
        raise ValueError(f"{name}: gamma must lie in (0, 2], got {gamma!r}")
    return gamma


def check_depth(depth: int, frozen_layers: int, *, name: str) -> None:
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"{name}: depth must be an integer >= 1, got {depth!r}")
    if (
        not isinstance(frozen_layers, int)
        or isinstance(frozen_layers, bool)
        or not 0 <= frozen_layers < depth
    ):
        raise ValueError(
            f"{name}: frozen_layers must be an integer in [0, depth) = [0, {depth}), "
            f"got {frozen_layers!r}"
        )


class _PowHalf(torch.autograd.Function):
    """s ↦ s^(γ/2) for s ≥ 0 (a squared distance), with subgradient 0 at s = 0.

    ∂/∂s = (γ/2) s^(γ/2 − 1) for s > 0, 0 at s = 0 (the cusp of ‖x − z‖^γ at x = z);
    ∂/∂γ = ½ log(s) s^(γ/2) for s > 0, 0 at s = 0 (the limit r^γ log r → 0).
    """

    @staticmethod
    def forward(ctx, s: Tensor, gamma: Tensor) -> Tensor:  # type: ignore[override]
        s = s.clamp_min(0)
        out = s.pow(gamma / 2)
        ctx.save_for_backward(s, gamma, out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        s, gamma, out = ctx.saved_tensors
        pos = s > 0
        safe = torch.where(pos, s, torch.ones_like(s))
        g_s = g_g = None
        if ctx.needs_input_grad[0]:
            g_s = torch.where(pos, grad * (gamma / 2) * out / safe, torch.zeros_like(s))
        if ctx.needs_input_grad[1]:
            full = torch.where(pos, grad * 0.5 * torch.log(safe) * out, torch.zeros_like(s))
            g_g = (
                full.sum().reshape(gamma.shape)
                if gamma.numel() == 1
                else full.sum_to_size(gamma.shape)
            )
        return g_s, g_g


def pow_half(
    s: Tensor, gamma: float | Tensor, *, inplace: bool = False, nonneg: bool = False
) -> Tensor:
    """s^(γ/2) of a squared distance s ≥ 0 without NaN gradients (see `_PowHalf`);
    `inplace=True` may overwrite s when no gradient is needed; `nonneg=True` skips the clamp
    (s is already clamped)."""
    if not isinstance(gamma, Tensor):
        if not torch.is_grad_enabled() or not s.requires_grad:
            if not nonneg:
                s = s.clamp_min_(0) if inplace else s.clamp_min(0)
            if gamma == 2.0:
                return s
            return s.sqrt_() if gamma == 1.0 else s.pow_(gamma / 2)
        gamma = torch.tensor(float(gamma), dtype=s.dtype, device=s.device)
    return _PowHalf.apply(s, gamma.to(s.dtype))


def sqdist(x1: Tensor, x2: Tensor) -> Tensor:
    """Squared Euclidean distances (…, N, M) = ‖x‖² + ‖z‖² − 2 x·z, clamped at 0.

    When x2 is x1 (same object) the diagonal is set to exactly 0, so Gram matrices of
    translation-invariant kernels have an exact unit diagonal despite rounding.
    """
    n1 = (x1 * x1).sum(-1, keepdim=True)  # (…, N, 1)
    n2 = (x2 * x2).sum(-1, keepdim=True).transpose(-1, -2)  # (…, 1, M)
    same = x2 is x1 and x1.shape[-2] > 0
    if torch.is_grad_enabled() and (x1.requires_grad or x2.requires_grad):
        d2 = (n1 + n2 - 2 * (x1 @ x2.transpose(-1, -2))).clamp_min(0)
        if same:
            eye = torch.eye(d2.shape[-1], dtype=torch.bool, device=d2.device)
            d2 = d2.masked_fill(eye, 0.0)
        return d2
    # in place: one (…, N, M) buffer, the matrix product fused with the ‖z‖² term
    if x1.ndim == 2:
        d2 = torch.addmm(n2, x1, x2.T, alpha=-2)
    else:
        d2 = (
            torch.baddbmm(n2, x1, x2.transpose(-1, -2), alpha=-2)
            if x1.ndim == 3
            else (n2 - 2 * (x1 @ x2.transpose(-1, -2)))
        )
    d2 = d2.add_(n1).clamp_min_(0)
    if same:
        d2.diagonal(dim1=-2, dim2=-1).zero_()
    return d2


def safe_norm(x: Tensor) -> Tensor:
    """Row norms ‖x‖ (…, N) with gradient 0 (not NaN) at x = 0."""
    return pow_half((x * x).sum(-1), 1.0)


class _Arccos(torch.autograd.Function):
    """θ = arccos(clamp(ρ, −1, 1)); dθ/dρ = −1/√(1 − ρ²) for |ρ| < 1 and 0 at |ρ| = 1."""

    @staticmethod
    def forward(ctx, rho: Tensor) -> Tensor:  # type: ignore[override]
        rho = rho.clamp(-1.0, 1.0)
        ctx.save_for_backward(rho)
        return torch.arccos(rho)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (rho,) = ctx.saved_tensors
        one_m = 1 - rho * rho
        inner = one_m > 0
        return torch.where(inner, -grad / torch.where(inner, one_m, 1).sqrt(), 0.0)


class _J1(torch.autograd.Function):
    """J₁(ρ) = sin θ + (π − θ) cos θ with θ = arccos ρ; dJ₁/dρ = π − θ (finite everywhere)."""

    @staticmethod
    def forward(ctx, rho: Tensor) -> Tensor:  # type: ignore[override]
        rho = rho.clamp(-1.0, 1.0)
        theta = torch.arccos(rho)
        ctx.save_for_backward(theta)
        return (1 - rho * rho).clamp_min(0).sqrt() + (math.pi - theta) * rho

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (theta,) = ctx.saved_tensors
        return grad * (math.pi - theta)


def arccos0(rho: Tensor) -> Tensor:
    """J₀(ρ) = π − arccos ρ (clamped; subgradient 0 at |ρ| = 1)."""
    if torch.is_grad_enabled() and rho.requires_grad:
        return math.pi - _Arccos.apply(rho)
    return math.pi - torch.arccos(rho.clamp(-1.0, 1.0))


def arccos1(rho: Tensor) -> Tensor:
    """J₁(ρ) = √(1 − ρ²) + (π − arccos ρ) ρ (clamped; exact finite gradient π − θ)."""
    if torch.is_grad_enabled() and rho.requires_grad:
        return _J1.apply(rho)
    rho = rho.clamp(-1.0, 1.0)
    return (1 - rho * rho).clamp_min(0).sqrt() + (math.pi - torch.arccos(rho)) * rho
