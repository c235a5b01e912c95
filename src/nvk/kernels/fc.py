"""Analytic infinite-width kernels of the Core MLP (`nvk.arch`, `nvk.nets.MLP`): NNGP and NTK.

Network (NTK parameterization, φ = ReLU, d inputs, L = `depth` weight layers, scales s_ℓ =
σ_w for ℓ < L and s_L = 1 for the readout; W ~ N(0, 1); b ~ N(0, 1) or 0 at init):

    g¹ = s₁ W¹ x / √d + β b¹,   gʰ = s_h Wʰ φ(gʰ⁻¹) / √n + β bʰ,   f = g^L.

As n → ∞ (Jacot et al. 2018, Arora et al. 2019; Geifman et al. 2020 eq. 3–4 for FC_β), with
β_g = β for Gaussian bias init and 0 for zero init, C⁰(x, z) = x·z / d and

    Σʰ(x, z) = s_h² Cʰ⁻¹(x, z) + β_g²                                  (NNGP of layer h)
    Cʰ(x, z) = E[φ(u) φ(v)] = √(Σʰ(x,x) Σʰ(z,z)) · (sin θ + (π − θ) cos θ) / 2π,
    Ċʰ(x, z) = E[φ'(u) φ'(v)] = (π − θ) / 2π,    θ = arccos(Σʰ(x,z)/√(Σʰ(x,x)Σʰ(z,z))),
    (u, v) ~ N(0, [[Σʰ(x,x), Σʰ(x,z)], [Σʰ(x,z), Σʰ(z,z)]]),   Σ̇ʰ⁺¹ = s_{h+1}² Ċʰ.

So for h = 2..L, Σʰ = (s_h²/2π)·√(…)·(sin θ + (π − θ) cos θ) + β_g² and Σ̇ʰ = (s_h²/2π)(π − θ),
with s_h = σ_w for hidden layers and 1 at the readout h = L. The NNGP is Σ^L. Each trained
layer ℓ contributes (its weights) s_ℓ² Cˡ⁻¹ plus (its bias, trained whatever its init) β²,
carried to the output by the later layers' derivative kernels:

    Θ^L(x, z) = Σ_{ℓ = f+1}^{L} (s_ℓ² Cˡ⁻¹(x, z) + β²) · Π_{h = ℓ+1}^{L} Σ̇ʰ(x, z),

where f = `frozen_layers` drops the first f layers (Arora et al.'s "fix" option). With zero
bias init the β² terms enter Θ but not the NNGP: the paper's FC_β. f = L − 1 trains only the
readout: Θ = C^{L−1} + β², the NNGP of the readout (its bias counted as Gaussian; the hidden
layers keep their own bias init). L = 1 is the linear kernel: NNGP x·z/d + β_g², NTK x·z/d + β².

With σ_w² = 2 and β_g = 0, Σʰ(x, x) = 2‖x‖²/d for all hidden h (variance preserved) and the
readout halves it.

Zero-norm rows (only possible when β_g = 0): every NNGP term is 0 there, which is the limit
x → 0 (Σ is 1-homogeneous). The derivative kernel Σ̇ is taken to be 0 at a zero row, the value
the finite network itself has (ReLU'(0) = 0): with β = 0 this is again the limit (Θ(0, z) = 0);
with zero-init β > 0 no limit exists (the bias part is 0-homogeneous, depends on the
direction of x) and Θ(0, z) = β², the readout bias alone, exactly as in the network.

neural-tangents equivalent of `bias_init="gaussian"`, which reproduces `fc_nngp`/`fc_ntk`
exactly (checked: max difference 3e-14 in float64, neural-tangents 0.6.5 / jax 0.4.30), e.g.
for L = 3 (any hidden width n; the analytic kernel does not depend on it):

    from neural_tangents import stax
    ntk = dict(parameterization="ntk")
    _, _, kernel_fn = stax.serial(
        stax.Dense(n, W_std=σ_w, b_std=β, **ntk), stax.Relu(),
        stax.Dense(n, W_std=σ_w, b_std=β, **ntk), stax.Relu(),
        stax.Dense(1, W_std=1.0, b_std=β, **ntk),        # readout: weight scale 1
    )
    kernel_fn(x1, x2, ("nngp", "ntk"))   # = fc_nngp / fc_ntk(depth=3, bias=β,
                                         #   bias_init="gaussian", sigma_w=σ_w)

(zero-init biases have no stax counterpart: stax draws b ~ N(0, b_std²).)

Shapes: x1 (…, N, D), x2 (…, M, D) → (…, N, M); batch dimensions broadcast.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch import Tensor

from nvk.arch import ArchSpec
from nvk.kernels import fused
from nvk.kernels._checks import (
    TWO_PI,
    arccos0,
    arccos1,
    check_depth,
    check_nonneg,
    check_pair,
    check_positive,
    rsqrt0,
    snap,
)

SQRT2 = math.sqrt(2.0)


def _bias_g(bias: float, bias_init: str, name: str) -> float:
    if bias_init not in ("zero", "gaussian"):
        raise ValueError(f"{name}: bias_init must be 'zero' or 'gaussian', got {bias_init!r}")
    return bias if bias_init == "gaussian" else 0.0


def fc_recursion(
    p1: Tensor,
    p2: Tensor,
    p12: Tensor,
    *,
    depths: Iterable[int],
    frozen: Iterable[int] = (0,),
    sigma_w: float = SQRT2,
    bias: float = 0.0,
    bias_g: float = 0.0,
    ntk: bool = True,
) -> tuple[dict[int, Tensor], dict[tuple[int, int], Tensor]]:
    """The recursion above from input products p1 = ‖x‖²/d (…, N, 1), p2 = ‖z‖²/d (…, 1, M),
    p12 = x·z/d (…, N, M), for several depths and frozen-layer counts in one pass.

    Returns ({L: NNGP}, {(L, f): NTK}) for every L in `depths` and f in `frozen` with f < L
    (the NTK dict is empty when `ntk=False`). Cost: O(max depth · |frozen|) elementwise passes.
    """
    depths = sorted(set(depths))
    frozen = sorted(set(frozen))
    max_depth = depths[-1]
    s2 = sigma_w * sigma_w
    bg2, b2 = bias_g * bias_g, bias * bias
    nngp: dict[int, Tensor] = {}
    ntks: dict[tuple[int, int], Tensor] = {}
    if 1 in depths:
        nngp[1] = p12 + bg2
        if ntk and 0 in frozen:
            ntks[(1, 0)] = p12 + b2
    if max_depth == 1:
        return nngp, ntks
    # layer 1 (hidden, scale σ_w)
    q1, q2 = s2 * p1 + bg2, s2 * p2 + bg2
    c = s2 * p12 + bg2
    acc: dict[int, Tensor] = {}  # f -> Σ_{ℓ=f+1}^{h} term_ℓ Π Σ̇ (hidden layers so far)
    if ntk and 0 in frozen and max_depth > 1:
        acc[0] = s2 * p12 + b2
    # |ρ| within rounding of 1 counts as ±1 (`snap`), scaled in without an extra pass
    inv = snap(p12.dtype)
    fast = not (torch.is_grad_enabled() and any(t.requires_grad for t in (p1, p2, p12)))
    for h in range(2, max_depth + 1):
        last = h == max_depth
        # moments of layer h−1's post-activations (unit scale)
        pos1, pos2 = q1 > 0, q2 > 0
        r1, r2 = rsqrt0(q1), rsqrt0(q2)  # (…, N, 1), (…, 1, M)
        sq1 = pos1 / r1.masked_fill(~pos1, 1.0) / TWO_PI  # √q1 / 2π (0 at zero rows)
        sq2 = pos2 / r2.masked_fill(~pos2, 1.0)
        if fast:
            c = _layer_inplace(
                h, last, c, r1 * inv, r2, sq1, sq2, pos1, pos2, acc, nngp, ntks,
                depths=depths, frozen=frozen, s2=s2, b2=b2, bg2=bg2, ntk=ntk,
            )  # fmt: skip
            if last:
                break
            q1, q2 = s2 * q1 / 2 + bg2, s2 * q2 / 2 + bg2
            continue
        # autograd-safe path (custom gradients at |ρ| = 1, see _checks)
        rho = (c * r1 * inv * r2).clamp(-1.0, 1.0)
        cc = sq1 * sq2 * arccos1(rho)  # C^{h-1}
        dot = arccos0(rho) * (pos1 * pos2) / TWO_PI if ntk else None  # Ċ^{h-1}
        if h in depths:  # readout at layer h (scale 1)
            if ntk:
                for f in frozen:
                    if f < h - 1 and f in acc:
                        ntks[(h, f)] = torch.addcmul(cc, acc[f], dot) + b2
                    elif f == h - 1:
                        ntks[(h, f)] = cc + b2
            nngp[h] = cc + bg2
        if last:
            break
        # layer h as a hidden layer (scale σ_w)
        if ntk:
            for f in list(acc):
                acc[f] = (acc[f] * dot + cc) * s2 + b2
            if h - 1 in frozen:
                acc[h - 1] = cc * s2 + b2
        c = cc * s2 + bg2
        q1, q2 = s2 * q1 / 2 + bg2, s2 * q2 / 2 + bg2
    return nngp, ntks


def _layer_inplace(
    h: int,
    last: bool,
    c: Tensor,
    r1: Tensor,
    r2: Tensor,
    sq1: Tensor,
    sq2: Tensor,
    pos1: Tensor,
    pos2: Tensor,
    acc: dict[int, Tensor],
    nngp: dict[int, Tensor],
    ntks: dict[tuple[int, int], Tensor],
    *,
    depths: list[int],
    frozen: list[int],
    s2: float,
    b2: float,
    bg2: float,
    ntk: bool,
) -> Tensor:
    """One layer of `fc_recursion` without autograd, in place on few (…, N, M) buffers.

    Uses π − arccos ρ = arccos(−ρ) and sin θ = sin(π − θ), so one arccos and one sin per layer,
    and folds the layer scale s_h² and 1/2π into the (…, N, 1) factors. `c` (Σʰ⁻¹(x, z)) is
    consumed; returns Σʰ(x, z) for the next layer (or the consumed buffer when `last`).
    """
    scale = 1.0 if last else s2  # s_h²
    rho = c.mul_(-r1).mul_(r2).clamp_(-1.0, 1.0)  # −ρ
    j0 = torch.arccos(rho)  # π − θ
    cc = torch.sin(j0).addcmul_(j0, rho, value=-1.0)  # J₁ = sin θ + (π − θ) ρ
    cc.mul_(sq1 * scale).mul_(sq2)  # s_h² C^{h-1}  (sq1 carries 1/2π)
    del rho
    if ntk and not (bool(pos1.all()) and bool(pos2.all())):
        j0.mul_(pos1).mul_(pos2)  # Ċ = 0 at zero rows
    if h in depths:  # readout at layer h (scale 1): NTK = Θ·Ċ + C + β², NNGP = C + β_g²
        base = cc if last else cc / scale
        if ntk:
            for f in frozen:
                if f < h - 1 and f in acc:
                    out = acc[f] if last else torch.empty_like(base)
                    torch.addcmul(base, acc[f], j0, value=1 / TWO_PI, out=out)
                    ntks[(h, f)] = out.add_(b2) if b2 else out
                elif f == h - 1:
                    ntks[(h, f)] = base + b2
        nngp[h] = base.add_(bg2) if last else base + bg2
    if last:
        return cc
    if ntk:  # hidden layer h: Θ ← Θ·s_h² Ċ + s_h² C + β²
        for f in acc:
            torch.addcmul(cc, acc[f], j0, value=s2 / TWO_PI, out=acc[f])
            if b2:
                acc[f].add_(b2)
        if h - 1 in frozen:
            acc[h - 1] = cc + b2
    return cc.add_(bg2) if bg2 else cc


def _products(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    d = x1.shape[-1]
    p1 = (x1 * x1).sum(-1, keepdim=True) / d
    p2 = ((x2 * x2).sum(-1, keepdim=True) / d).transpose(-1, -2)
    p12 = (x1 @ x2.transpose(-1, -2)).div_(d)
    if x2 is x1 and p12.shape[-1] > 0:  # exact diagonal: ρ = 1 there
        if torch.is_grad_enabled() and x1.requires_grad:
            eye = torch.eye(p12.shape[-1], dtype=torch.bool, device=p12.device)
            p12 = torch.where(eye, p1.expand(p12.shape), p12)
        else:
            p12.diagonal(dim1=-2, dim2=-1).copy_(p1.squeeze(-1))
    return p1, p2, p12


def _validate(
    name: str, depth: int, frozen_layers: int, bias: float, bias_init: str, sigma_w: float
) -> float:
    check_depth(depth, frozen_layers, name=name)
    check_nonneg(bias, name=name, what="bias")
    check_positive(sigma_w, name=name, what="sigma_w")
    return _bias_g(float(bias), bias_init, name)


def fc_nngp(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    bias: float = 0.0,
    bias_init: Literal["zero", "gaussian"] = "zero",
    sigma_w: float = SQRT2,
    frozen_layers: int = 0,
) -> Tensor:
    """NNGP Σ^L(x1, x2) of the Core MLP (see module docstring), (…, N, D) × (…, M, D) → (…, N, M).
    Without gradients and from `nvk.kernels.fused.FUSED_MIN_ENTRIES` entries on, the compiled
    recursion of `nvk.kernels.fused` computes it (equal to the eager one to 1e-12, float64).

    `frozen_layers` is accepted (and validated) for a signature shared with `fc_ntk`; it does
    not change the NNGP, the output covariance at initialization.
    """
    bg = _validate("fc_nngp", depth, frozen_layers, bias, bias_init, sigma_w)
    x2 = check_pair(x1, x2, name="fc_nngp")
    p = _products(x1, x2)
    if fused.use_fused(p[2].numel(), x1, x2):
        return fused.fc_recursion_fused(*p, depth, 0, sigma_w, bias, bg, out="nngp")[0]
    nngp, _ = fc_recursion(*p, depths=[depth], sigma_w=sigma_w, bias=bias, bias_g=bg, ntk=False)
    return nngp[depth]


def fc_ntk(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    depth: int,
    bias: float = 0.0,
    bias_init: Literal["zero", "gaussian"] = "zero",
    sigma_w: float = SQRT2,
    frozen_layers: int = 0,
) -> Tensor:
    """NTK Θ^L(x1, x2) of the Core MLP with the first `frozen_layers` layers fixed (module
    docstring), (…, N, D) × (…, M, D) → (…, N, M). Geifman et al.'s FC_β(L): bias_init="zero".
    Large calls without gradients run the compiled recursion (as `fc_nngp`).
    """
    bg = _validate("fc_ntk", depth, frozen_layers, bias, bias_init, sigma_w)
    x2 = check_pair(x1, x2, name="fc_ntk")
    p = _products(x1, x2)
    if fused.use_fused(p[2].numel(), x1, x2):
        return fused.fc_recursion_fused(*p, depth, frozen_layers, sigma_w, bias, bg, out="ntk")[1]
    _, ntks = fc_recursion(
        *p,
        depths=[depth],
        frozen=[frozen_layers],
        sigma_w=sigma_w,
        bias=bias,
        bias_g=bg,
    )
    return ntks[(depth, frozen_layers)]


def fc_kernel_grid(
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    max_depth: int,
    bias: float = 0.0,
    bias_init: Literal["zero", "gaussian"] = "zero",
    sigma_w: float = SQRT2,
) -> dict[tuple[str, int, int], Tensor]:
    """Every variant up to `max_depth` in one pass: {("nngp", L, 0), ("ntk", L, f)} for
    1 ≤ L ≤ max_depth and 0 ≤ f < L, each (…, N, M); equal to the separate calls."""
    bg = _validate("fc_kernel_grid", max_depth, 0, bias, bias_init, sigma_w)
    x2 = check_pair(x1, x2, name="fc_kernel_grid")
    nngp, ntks = fc_recursion(
        *_products(x1, x2),
        depths=range(1, max_depth + 1),
        frozen=range(max_depth),
        sigma_w=sigma_w,
        bias=bias,
        bias_g=bg,
    )
    out: dict[tuple[str, int, int], Tensor] = {("nngp", L, 0): k for L, k in nngp.items()}
    out.update({("ntk", L, f): k for (L, f), k in ntks.items()})
    return out


def _from_arch(fn: Callable[..., Tensor], arch: ArchSpec, frozen_layers: int) -> Callable:
    if arch.parameterization != "ntk":
        raise ValueError(
            f"analytic kernels describe the NTK parameterization; got "
            f"parameterization={arch.parameterization!r}"
        )
    return functools.partial(
        fn,
        depth=arch.depth,
        bias=arch.bias,
        bias_init=arch.bias_init,
        sigma_w=arch.sigma_w,
        frozen_layers=frozen_layers,
    )


def fc_ntk_from_arch(arch: ArchSpec, frozen_layers: int = 0) -> Callable[..., Tensor]:
    """`fc_ntk` with every parameter taken from `arch` (so net and kernel cannot drift)."""
    return _from_arch(fc_ntk, arch, frozen_layers)


def fc_nngp_from_arch(arch: ArchSpec) -> Callable[..., Tensor]:
    """`fc_nngp` with every parameter taken from `arch`."""
    return _from_arch(fc_nngp, arch, 0)
