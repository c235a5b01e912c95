"""The kernel state that flows through a layer list: the infinite-width face of `nvk.layers`.

For a pair of inputs x1 (N, …) and x2 (M, …), after some layers, the state holds the moments of
one feature channel of the infinitely wide network (Neal 1996, Lee et al. 2018, Jacot et al.
2018; the representation follows neural-tangents, Novak et al. 2019):

    nngp  Σ(x1, x2)   covariance of a channel at init (zero mean), cross pairs
    ntk   Θ(x1, x2)   tangent kernel Σ_θ ∂f(x1)/∂θ · ∂f(x2)/∂θ (None: an NNGP-only state,
                      after a kernel-only layer such as `ExpMap`, or when only the NNGP is asked)
    cov1  Σ(x1, x1)   self covariances of each x1 (batch-diagonal), cov2 the same for x2;
                      activations need their variances (the diagonal of Σ(x, x))

Layouts (images C×H×W, positions p = (h, w), P = H·W; entries of the cross tensors):

    "vector"  nngp, ntk (N, M)                 cov1 (N,)            cov2 (M,)
    "full"    nngp, ntk (N, M, H, W, H, W)     cov1 (N, H, W, H, W) cov2 (M, H, W, H, W)
              [n, m, h, w, u, v] = Σ(x1_n at (h, w), x2_m at (u, v))
    "diag"    nngp, ntk (N, M, H, W)           cov1 (N, H, W)       cov2 (M, H, W)
              same-position entries p = p' only (Arora et al. 2019's trace-readout shortcut,
              `nvk.kernels.conv`'s fast path)

The "diag" layout is exact when every spatial layer after the input maps same-position entries
to same-position entries: convolutions of any kernel size, stride and padding (output p reads
input s·p + δ on both sides, with the same δ) and elementwise layers, ending in `Flatten` (the
trace readout reads only p = p'). Pooling (`AvgPool`, `GlobalAvgPool`) mixes p + δ with p + δ',
δ ≠ δ', and needs "full"; `serial`/`kernel_fn` choose "diag" whenever the list allows it.

All spatial maps act on the trailing spatial dimensions, so one function serves the cross
tensors (N, M, …) and the self covariances (N, …).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from nvk.kernels._checks import rsqrt0, snap

LAYOUTS = ("vector", "full", "diag")


@dataclass(frozen=True)
class KernelState:
    """Moments of one channel of the infinite network for the input pair (x1, x2).

    Attributes:
        nngp: cross covariance Σ(x1, x2), (N, M) + spatial dims of the layout.
        ntk: tangent kernel Θ(x1, x2), same shape as `nngp`, or None (NNGP-only).
        cov1: self covariances Σ(x1, x1), (N,) + spatial dims.
        cov2: self covariances Σ(x2, x2), (M,) + spatial dims (the same object as cov1 when
            x2 is x1, `same=True`; layers then compute it once).
        layout: "vector", "full" or "diag" (module docstring).
        shape: the per-input feature shape here: (D,) or (C, H, W). Its channel count C (or D)
            is the fan-in of the next linear layer (used by the standard parameterization).
        same: x2 is x1 (Gram matrix): the diagonal of `nngp` is exactly `cov1`.
        fresh: since the last `FanOut`, this branch went through a zero-mean linear layer
            (Dense/Conv) with its own weights, so it is uncorrelated with the other branches
            (what `FanInSum` needs; activations reset it).
        gaussian: every feature is the same Gaussian process in the limit (the output of a
            Dense/Conv, of pooling, or sums of such): what the activations' closed forms
            assume. Raw inputs, activation outputs and Flatten outputs (whose features have
            position-dependent variances) are not.
    """

    nngp: Tensor
    ntk: Tensor | None
    cov1: Tensor
    cov2: Tensor
    layout: str
    shape: tuple[int, ...]
    same: bool = False
    fresh: bool = False
    gaussian: bool = False

    def replace(self, **changes) -> KernelState:
        """A copy with some fields changed (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)

    @property
    def spatial(self) -> int:
        """Number of trailing spatial dimensions: 0 (vector), 4 (full), 2 (diag)."""
        return {"vector": 0, "full": 4, "diag": 2}[self.layout]

    def variances(self, cov: Tensor) -> Tensor:
        """Per-position variances of a self covariance: (N,) or (N, H, W)."""
        return diag_of(cov) if self.layout == "full" else cov

    def cross_vars(self) -> tuple[Tensor, Tensor]:
        """Variances (q1, q2) of x1 and x2 at each entry of `nngp`, broadcastable to it."""
        d1, d2 = self.variances(self.cov1), self.variances(self.cov2)
        if self.layout == "vector":
            return d1[:, None], d2[None, :]
        if self.layout == "diag":
            return d1[:, None], d2[None]
        return d1[:, None, :, :, None, None], d2[None, :, None, None, :, :]

    def self_vars(self, cov: Tensor) -> tuple[Tensor, Tensor]:
        """Variances (q, q') at each entry of a self covariance (N,) / (N, H, W[, H, W])."""
        if self.layout != "full":
            return cov, cov
        d = diag_of(cov)
        return d[:, :, :, None, None], d[:, None, None]

    def map_all(self, fn, *, ntk: bool = True) -> dict[str, Tensor | None]:
        """{nngp, ntk, cov1, cov2} with the same map of the trailing (spatial) dims applied to
        each (cov2 computed once when `same`); `ntk=False` leaves the tangent kernel out."""
        cov1 = fn(self.cov1)
        return dict(
            nngp=fn(self.nngp),
            ntk=fn(self.ntk) if ntk and self.ntk is not None else self.ntk,
            cov1=cov1,
            cov2=cov1 if self.same else fn(self.cov2),
        )


def diag_of(s: Tensor) -> Tensor:
    """(…, H, W, H, W) → (…, H, W): the same-position entries."""
    H, W = s.shape[-4], s.shape[-3]
    flat = s.reshape(*s.shape[:-4], H * W, H * W)
    return flat.diagonal(dim1=-2, dim2=-1).reshape(*s.shape[:-4], H, W)


def correlation(c: Tensor, q1: Tensor, q2: Tensor) -> Tensor:
    """ρ = c/√(q1 q2) clamped to [−1, 1], 0 where a variance is 0; |ρ| within 32 ulp of 1
    counts as ±1 (as `nvk.kernels.fc` and `nvk.kernels.conv` do: arccos turns an ulp of ρ
    into √ulp of θ, and identical inputs must give ρ = 1 whichever way they were rounded)."""
    return (c * (rsqrt0(q1) * snap(c.dtype)) * rsqrt0(q2)).clamp(-1.0, 1.0)


def initial_state(
    x1: Tensor, x2: Tensor, *, layout: str, ntk: bool, same: bool = False
) -> KernelState:
    """The input "layer": per-feature products of x1 (N, D) or (N, C, H, W) and x2 (M, …).

    Vectors: Σ = x1·x2/D. Images: Σ_{pp'} = x1(p)·x2(p')/C (channel dot products over C, as
    the fan-in normalization of the first layer expects; `Flatten` of it is x1·x2/(C·H·W)).
    Θ = 0 (the input has no parameters). With `same` (x2 is x1) the diagonal of Σ is copied
    from the self products, so ρ = 1 exactly there (as `nvk.kernels.fc` does).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if x1.ndim == 2:
        if layout != "vector":
            raise ValueError(f"vector inputs (N, D) use the 'vector' layout, got {layout!r}")
        d = x1.shape[1]
        cov1 = (x1 * x1).sum(-1) / d
        cov2 = cov1 if same else (x2 * x2).sum(-1) / d
        nngp = (x1 @ x2.T) / d
        if same and len(x1):
            nngp.diagonal().copy_(cov1)
    elif x1.ndim == 4:
        c = x1.shape[1]
        if layout == "full":
            cov1 = torch.einsum("nchw,ncuv->nhwuv", x1, x1) / c
            cov2 = cov1 if same else torch.einsum("nchw,ncuv->nhwuv", x2, x2) / c
            nngp = torch.einsum("nchw,mcuv->nmhwuv", x1, x2) / c
        elif layout == "diag":
            cov1 = (x1 * x1).sum(1) / c
            cov2 = cov1 if same else (x2 * x2).sum(1) / c
            nngp = torch.einsum("nchw,mchw->nmhw", x1, x2) / c
        else:
            raise ValueError("image inputs (N, C, H, W) use the 'full' or 'diag' layout")
        if same and len(x1):
            idx = torch.arange(len(x1))
            nngp[idx, idx] = cov1
    else:
        raise ValueError(f"inputs must be (N, D) vectors or (N, C, H, W) images, got {x1.ndim}-d")
    return KernelState(
        nngp=nngp,
        ntk=torch.zeros_like(nngp) if ntk else None,
        cov1=cov1,
        cov2=cov2,
        layout=layout,
        shape=tuple(int(s) for s in x1.shape[1:]),
        same=same,
    )
